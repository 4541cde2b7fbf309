#include "uv_driver.h"

#include <errno.h>

#include <new>

namespace polled {

namespace {

// Full batches drained per wake-up before yielding back to the loop, so that one busy poller
// cannot hold it forever. Whatever is left keeps the poller's fd readable: libuv calls again.
constexpr int kMaxBatches = 64;

}  // namespace

void DriverCounter::Closed() {
  if (--open == 0 && teardown != nullptr) {
    napi_remove_async_cleanup_hook(teardown);
    teardown = nullptr;
  }
}

int UvDriver::Start(napi_env env, Poller* poller, napi_value callback, DriverCounter* counter,
                    UvDriver** out) {
  if (poller->pollable_fd() < 0) return -ENOTSUP;
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return -EINVAL;
  UvDriver* driver = new (std::nothrow) UvDriver(env, poller, counter);
  if (driver == nullptr) return -ENOMEM;
  // uv_poll_init fails before it links the handle into the loop, so a plain delete is right.
  // libuv's errors are negative errnos on Unix.
  int rc = uv_poll_init(loop, &driver->poll_, poller->pollable_fd());
  if (rc < 0) {
    delete driver;
    return rc;
  }
  driver->poll_.data = driver;
  counter->open++;
  if (poller->is_ring() && uv_prepare_init(loop, &driver->prepare_) == 0) {
    driver->prepare_.data = driver;
    driver->has_prepare_ = true;
    counter->open++;
    uv_prepare_start(&driver->prepare_, OnPrepare);
    uv_unref(reinterpret_cast<uv_handle_t*>(&driver->prepare_));
  }
  // The async context gives each callback a proper async_hooks identity, and MakeCallback runs
  // the microtask queue when the callback returns: promise continuations run per batch.
  napi_value resource, name;
  if (napi_create_object(env, &resource) != napi_ok ||
      napi_create_string_utf8(env, "polled.driver", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &driver->async_) != napi_ok ||
      napi_create_reference(env, callback, 1, &driver->callback_) != napi_ok) {
    rc = -ENOMEM;
  } else {
    rc = uv_poll_start(&driver->poll_, UV_READABLE, OnPoll);
  }
  if (rc < 0) {
    driver->Stop();
    return rc;
  }
  *out = driver;
  return 0;
}

void UvDriver::Ref(bool ref) {
  if (ref) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&poll_));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  }
}

void UvDriver::Pause() { uv_poll_stop(&poll_); }

int UvDriver::Resume() { return uv_poll_start(&poll_, UV_READABLE, OnPoll); }

void UvDriver::Stop() {
  poller_ = nullptr;
  if (!in_callback_) ReleaseJs();
  closing_ = has_prepare_ ? 2 : 1;
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnClosed);
  if (has_prepare_) uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), OnClosed);
}

// The driver is freed with the last of its handles.
void UvDriver::OnClosed(uv_handle_t* handle) {
  UvDriver* driver = static_cast<UvDriver*>(handle->data);
  DriverCounter* counter = driver->counter_;
  if (--driver->closing_ == 0) delete driver;
  counter->Closed();
}

void UvDriver::OnPrepare(uv_prepare_t* handle) {
  UvDriver* driver = static_cast<UvDriver*>(handle->data);
  if (driver->poller_ != nullptr) driver->poller_->Flush();
}

// `status` is ignored: on an error libuv stops the handle itself, and the wait reports it.
void UvDriver::OnPoll(uv_poll_t* handle, int, int) {
  static_cast<UvDriver*>(handle->data)->Drain();
}

void UvDriver::Drain() {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  in_callback_ = true;
  for (int i = 0; i < kMaxBatches && poller_ != nullptr; i++) {
    int n = poller_->Wait(0);
    if (n <= 0) break;
    napi_value fn, recv, count;
    napi_get_reference_value(env_, callback_, &fn);
    napi_get_global(env_, &recv);
    napi_create_uint32(env_, static_cast<uint32_t>(n), &count);
    if (napi_make_callback(env_, async_, recv, fn, 1, &count, nullptr) != napi_ok) {
      // The exception is left pending on the env, where it would resurface from some unrelated
      // later call. Hand it to process 'uncaughtException', as a throw in any other callback
      // would be: a handler may recover, and without one Node prints it and exits with 1.
      // Nothing is pending when the env is terminating (worker.terminate()).
      bool pending = false;
      napi_value error;
      if (napi_is_exception_pending(env_, &pending) == napi_ok && pending &&
          napi_get_and_clear_last_exception(env_, &error) == napi_ok) {
        napi_fatal_exception(env_, error);
      }
      break;
    }
    // The callback may have stopped the driver or closed the poller.
    if (poller_ == nullptr || static_cast<size_t>(n) < poller_->batch()) break;
  }
  in_callback_ = false;
  if (poller_ == nullptr) ReleaseJs();  // Stop() was called from inside the callback
  napi_close_handle_scope(env_, scope);
}

void UvDriver::ReleaseJs() {
  if (callback_ != nullptr) napi_delete_reference(env_, callback_);
  if (async_ != nullptr) napi_async_destroy(env_, async_);
  callback_ = nullptr;
  async_ = nullptr;
}

}  // namespace polled
