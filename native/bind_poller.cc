// The N-API functions of the poller: create, the events batch, registering handles, waiting, the
// notifier and the timer; the embedded driver (a uv_poll_t in Node's loop) on top of it; and
// pollerWatchLoop, blockOn's watch on that same loop. One file because all of them are "run this
// on the poller a handle names" (WithPoller), and the driver and the loop watch exclude each other.
#include <errno.h>

#include <memory>
#include <new>

#include "args.h"
#include "bindings.h"
#if defined(POLLED_URING)
#include "poller_uring.h"
#endif

namespace polled {

namespace {

// `v` as a poller: null with *err = -EBADF (stale) or -EINVAL (not a poller) when it is not
// one, null with *threw when `v` is not even a number.
PollerEntry* GetPoller(napi_env env, Instance* inst, napi_value v, int* err, bool* threw) {
  double h;
  *threw = !GetNumber(env, v, "poller", &h);
  return *threw ? nullptr : inst->handles.PollerOf(h, err);
}

// Runs `f` on the poller that `v` names. A `v` that is not a number has thrown (nullptr); a
// handle that is closed, stale or not a poller gives its errno, and `f` is not called.
template <typename F>
napi_value WithPoller(napi_env env, Instance* inst, napi_value v, F f) {
  int err;
  bool threw;
  PollerEntry* p = GetPoller(env, inst, v, &err, &threw);
  if (p == nullptr) return threw ? nullptr : Int(env, err);
  return f(p);
}

enum class Op { kAdd, kModify, kDelete };

template <Op op>
napi_value PollerRegister(napi_env env, napi_callback_info info) {
  Args<4> a(env, info);
  double poller, handle;
  int64_t token = 0, interest = 0;
  if (!GetNumber(env, a.argv[0], "poller", &poller) ||
      !GetNumber(env, a.argv[1], "handle", &handle)) {
    return nullptr;
  }
  if (op == Op::kDelete) return Int(env, a.inst->handles.Deregister(poller, handle));
  if (!GetInt(env, a.argv[2], "token", 0, kReservedTokens - 1, &token) ||
      !GetInt(env, a.argv[3], "interest", 0, kReadable | kWritable, &interest)) {
    return nullptr;
  }
  auto t = static_cast<uint32_t>(token);
  auto i = static_cast<uint32_t>(interest);
  return Int(env, op == Op::kAdd ? a.inst->handles.Register(poller, handle, t, i)
                                 : a.inst->handles.Reregister(poller, handle, t, i));
}

}  // namespace

// ---- Poller -------------------------------------------------------------------------------------

// pollerCreate(kind = kPollerReadiness): the handle, or -errno (kPollerUring: io_uring's setup
// error, -ENOSYS in a build without it).
napi_value JsPollerCreate(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  int64_t kind = kPollerReadiness, recv = kUringRecvDefault;
  napi_valuetype type, rtype;
  if (napi_typeof(env, a.argv[0], &type) != napi_ok || napi_typeof(env, a.argv[1], &rtype) != napi_ok) return nullptr;
  if (type != napi_undefined && !GetInt(env, a.argv[0], "kind", kPollerReadiness, kPollerUring, &kind)) {
    return nullptr;
  }
  if (rtype != napi_undefined && !GetInt(env, a.argv[1], "recv", kUringRecvDefault, kUringRecvMultishot, &recv)) {
    return nullptr;
  }
  std::unique_ptr<PollerEntry> p(new (std::nothrow) PollerEntry(env));
  if (p == nullptr) return Int(env, -ENOMEM);
  int rc = kind == kPollerUring ? p->poller.OpenRing(static_cast<uint32_t>(recv)) : p->poller.Open();
  if (rc < 0) return Int(env, rc);
  p->mailbox = std::shared_ptr<Mailbox>(new (std::nothrow) Mailbox(&p->poller));
  if (p->mailbox == nullptr) return Int(env, -ENOMEM);
  RegisterMailbox(p->mailbox);
  return Number(env, a.inst->handles.OpenPoller(std::move(p)));
}

// The events batch: a Uint32Array of 2 * capacity (token, bits) pairs, made by the addon on
// shared memory (see SharedView) so that Poller::Wait and the uv driver may keep writing into it.
// Replaces the poller's earlier array. The array, or -errno.
napi_value JsPollerEvents(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  int64_t capacity;
  if (!GetInt(env, a.argv[1], "capacity", 1, Poller::kMaxBatch * 64, &capacity)) return nullptr;
  return WithPoller(env, a.inst, a.argv[0], [&](PollerEntry* p) -> napi_value {
    napi_value view;
    void* data;
    napi_ref ref;
    if (!SharedView(env, "Uint32Array", napi_uint32_array, static_cast<size_t>(capacity) * 2, &view,
                    &data)) {
      return nullptr;
    }
    // Looked up again: the constructors ran JavaScript, which may have closed this poller.
    int err;
    bool threw;
    if (GetPoller(env, a.inst, a.argv[0], &err, &threw) != p) return Int(env, -EBADF);
    if (napi_create_reference(env, view, 1, &ref) != napi_ok) return Int(env, -ENOMEM);
    if (p->events != nullptr) napi_delete_reference(env, p->events);
    p->events = ref;  // keeps the shared memory (and so `data`) alive
    p->poller.SetEvents(static_cast<uint32_t*>(data), static_cast<size_t>(capacity));
    return view;
  });
}

napi_value JsPollerAdd(napi_env env, napi_callback_info info) {
  return PollerRegister<Op::kAdd>(env, info);
}

napi_value JsPollerModify(napi_env env, napi_callback_info info) {
  return PollerRegister<Op::kModify>(env, info);
}

napi_value JsPollerDelete(napi_env env, napi_callback_info info) {
  return PollerRegister<Op::kDelete>(env, info);
}

napi_value JsPollerWait(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  double timeout;
  if (!GetMs(env, a.argv[1], "timeoutMs", &timeout)) return nullptr;
  return WithPoller(env, a.inst, a.argv[0], [&](PollerEntry* p) -> napi_value {
    if (!p->poller.has_events()) return Int(env, -EINVAL);  // pollerEvents first
    return Int(env, p->poller.Wait(timeout));
  });
}

napi_value JsPollerNotify(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  return WithPoller(env, a.inst, a.argv[0], [&](PollerEntry* p) -> napi_value {
    return Int(env, p->poller.Notify());
  });
}

// [capStops, directReads, directSends, backToMultishot] of an io_uring poller (RingStats); [] for
// a readiness one.
napi_value JsPollerRingStats(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  return WithPoller(env, a.inst, a.argv[0], [&](PollerEntry* p) -> napi_value {
    double v[4];
    uint32_t n = 0;
#if defined(POLLED_URING)
    if (p->poller.is_ring()) {
      const RingStats& st = p->poller.ring()->stats();
      v[0] = st.cap_stops;
      v[1] = st.direct_reads;
      v[2] = st.direct_sends;
      v[3] = st.back_to_multishot;
      n = 4;
    }
#else
    (void)p;
#endif
    napi_value r;
    if (napi_create_array_with_length(env, n, &r) != napi_ok) return nullptr;
    for (uint32_t i = 0; i < n; i++) {
      napi_value x;
      if (napi_create_double(env, v[i], &x) != napi_ok || napi_set_element(env, r, i, x) != napi_ok) return nullptr;
    }
    return r;
  });
}

napi_value JsPollerTimerArm(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  double delay;
  if (!GetMs(env, a.argv[1], "delayMs", &delay)) return nullptr;
  return WithPoller(env, a.inst, a.argv[0], [&](PollerEntry* p) -> napi_value {
    return Int(env, p->poller.ArmTimer(delay));
  });
}

napi_value JsPollerTimerDisarm(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  return WithPoller(env, a.inst, a.argv[0], [&](PollerEntry* p) -> napi_value {
    return Int(env, p->poller.DisarmTimer());
  });
}

// A test aid (PollerEntry::NotifyAfter): finished threads are reaped at the next call, and closing
// the poller cuts every sleeping one short and joins it.
napi_value JsPollerNotifyFromThread(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  double delay;
  if (!GetMs(env, a.argv[1], "delayMs", &delay)) return nullptr;
  return WithPoller(env, a.inst, a.argv[0], [&](PollerEntry* p) -> napi_value {
    return Int(env, p->NotifyAfter(delay));
  });
}

// blockOn's watch on this thread's libuv loop (Poller::WatchLoop): on while blockOn owns the
// thread, so that a parked wait wakes when Node asks the thread to stop; off otherwise, when the
// embedded driver's uv_poll watches the poller instead (the two cannot both be on). 0 or -errno.
napi_value JsPollerWatchLoop(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  bool on;
  if (!GetBool(env, a.argv[1], "on", &on)) return nullptr;
  return WithPoller(env, a.inst, a.argv[0], [&](PollerEntry* p) -> napi_value {
    if (on == (p->loop_fd >= 0)) return Int(env, 0);
    if (!on) {
      int rc = p->poller.UnwatchLoop(p->loop_fd);
      p->loop_fd = -1;
      int resumed = p->driver != nullptr ? p->driver->Resume() : 0;
      return Int(env, rc < 0 ? rc : resumed);
    }
    uv_loop_t* loop;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) return Int(env, -EINVAL);
    int fd = uv_backend_fd(loop);
    if (fd < 0) return Int(env, -ENOTSUP);
    if (p->driver != nullptr) p->driver->Pause();
    int rc = p->poller.WatchLoop(fd);
    if (rc < 0) {
      if (p->driver != nullptr) p->driver->Resume();
      return Int(env, rc);
    }
    p->loop_fd = fd;
    return Int(env, 0);
  });
}

// ---- Wakes from other threads (mailbox.h) ----------------------------------------------------

// [id, keys]: the poller's process-wide mailbox id, and a new shared Uint32Array of `capacity`
// that mailboxDrain writes keys into (replacing an earlier one). Or -errno.
napi_value JsPollerMailbox(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  int64_t capacity;
  if (!GetInt(env, a.argv[1], "capacity", 1, 1 << 20, &capacity)) return nullptr;
  return WithPoller(env, a.inst, a.argv[0], [&](PollerEntry* p) -> napi_value {
    napi_value view, pair, id;
    void* data;
    napi_ref ref;
    if (!SharedView(env, "Uint32Array", napi_uint32_array, static_cast<size_t>(capacity), &view, &data)) {
      return nullptr;
    }
    int err;
    bool threw;
    if (GetPoller(env, a.inst, a.argv[0], &err, &threw) != p) return Int(env, -EBADF);  // JS ran
    if (napi_create_reference(env, view, 1, &ref) != napi_ok) return Int(env, -ENOMEM);
    if (p->keys_ref != nullptr) napi_delete_reference(env, p->keys_ref);
    p->keys_ref = ref;
    p->keys = static_cast<uint32_t*>(data);
    p->keys_cap = static_cast<size_t>(capacity);
    napi_create_array_with_length(env, 2, &pair);
    napi_create_uint32(env, p->mailbox->id, &id);
    napi_set_element(env, pair, 0, id);
    napi_set_element(env, pair, 1, view);
    return pair;
  });
}

// Moves the keys posted to the poller's mailbox into its keys array: the count, or -errno
// (-EINVAL before pollerMailbox).
napi_value JsMailboxDrain(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  return WithPoller(env, a.inst, a.argv[0], [&](PollerEntry* p) -> napi_value {
    if (p->keys == nullptr) return Int(env, -EINVAL);
    return Int(env, static_cast<int64_t>(p->mailbox->Drain(p->keys, p->keys_cap)));
  });
}

// Posts `key` to the mailbox `id` (any runtime in the process, any thread): 0, or -ESRCH when
// that runtime is gone.
napi_value JsMailboxPost(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  int64_t id, key;
  if (!GetInt(env, a.argv[0], "mailbox", 0, UINT32_MAX, &id) ||
      !GetInt(env, a.argv[1], "key", 0, UINT32_MAX, &key)) {
    return nullptr;
  }
  return Int(env, PostToMailbox(static_cast<uint32_t>(id), static_cast<uint32_t>(key)));
}

// ---- Embedded driver ----------------------------------------------------------------------------

napi_value JsDriverStart(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  napi_valuetype type;
  if (napi_typeof(env, a.argv[1], &type) != napi_ok || type != napi_function) {
    Throw(env, false, "onEvents", "a function");
    return nullptr;
  }
  return WithPoller(env, a.inst, a.argv[0], [&](PollerEntry* p) -> napi_value {
    if (p->driver != nullptr) return Int(env, -EALREADY);
    if (!p->poller.has_events()) return Int(env, -EINVAL);  // pollerEvents first
    if (p->loop_fd >= 0) return Int(env, -EBUSY);            // pollerWatchLoop(p, false) first
    return Int(env, UvDriver::Start(env, &p->poller, a.argv[1], &a.inst->drivers, &p->driver));
  });
}

napi_value JsDriverRef(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  bool ref;
  if (!GetBool(env, a.argv[1], "ref", &ref)) return nullptr;
  return WithPoller(env, a.inst, a.argv[0], [&](PollerEntry* p) -> napi_value {
    if (p->driver == nullptr) return Int(env, -EINVAL);  // no driver running
    p->driver->Ref(ref);
    return Int(env, 0);
  });
}

// Stopping a poller that has no driver is a no-op, so that shutdown paths need not know.
napi_value JsDriverStop(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  return WithPoller(env, a.inst, a.argv[0], [&](PollerEntry* p) -> napi_value {
    if (p->driver != nullptr) p->driver->Stop();
    p->driver = nullptr;
    return Int(env, 0);
  });
}

}  // namespace polled
