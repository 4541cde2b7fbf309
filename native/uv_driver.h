// Embedded mode: the poller's own fd watched by one uv_poll_t in Node's loop, so that the
// runtime lives inside the event loop instead of blocking in pollerWait.
#pragma once

#include <node_api.h>
#include <uv.h>

#include "poller.h"

namespace polled {

// uv handles whose close callback has not run yet. libuv frees nothing until that callback, and
// Node aborts if a worker's loop is closed with a handle still in it, so env teardown (an async
// cleanup hook) may only finish once this count is back to zero.
struct DriverCounter {
  size_t open = 0;
  napi_async_cleanup_hook_handle teardown = nullptr;  // set once the env is tearing down
  void Closed();
};

class UvDriver {
 public:
  // Watches `poller` in this env's loop and calls `callback(count)` once per drained batch.
  // 0 or -errno; -ENOTSUP when the backend has no pollable fd (libkqueue on Linux).
  static int Start(napi_env env, Poller* poller, napi_value callback, DriverCounter* counter,
                   UvDriver** out);
  // Stop / start watching without closing: while the poller watches the loop's own fd
  // (Poller::WatchLoop), the loop must not watch the poller's, or the two epoll sets would
  // contain each other (ELOOP, which libuv treats as fatal). uv_poll_stop removes the fd from
  // libuv's set at once.
  void Pause();
  int Resume();
  // uv_ref / uv_unref: whether this driver keeps the process alive.
  void Ref(bool ref);
  // Stops watching and closes the uv handle. The driver is freed by the close callback, later in
  // the loop; the poller may be closed as soon as this returns.
  void Stop();

 private:
  UvDriver(napi_env env, Poller* poller, DriverCounter* counter)
      : env_(env), poller_(poller), counter_(counter) {}
  static void OnPoll(uv_poll_t* handle, int status, int events);
  void Drain();
  void ReleaseJs();

  static void OnPrepare(uv_prepare_t* handle);
  static void OnClosed(uv_handle_t* handle);

  uv_poll_t poll_;
  // Before libuv blocks: submit what the turn queued (a ring's SQEs; Poller::Flush). Unref'd: it
  // keeps nothing alive. Only for a ring poller.
  uv_prepare_t prepare_;
  bool has_prepare_ = false;
  int closing_ = 0;  // uv handles whose close callback has not run
  napi_env env_;
  Poller* poller_;  // null once stopped
  DriverCounter* counter_;
  napi_ref callback_ = nullptr;
  napi_async_context async_ = nullptr;
  bool in_callback_ = false;  // Stop() from inside the callback defers ReleaseJs() to Drain()
};

}  // namespace polled
