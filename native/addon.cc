// The N-API surface of lib/native.ts (`NativeBinding`).
//
// Raw node_api.h throughout, not node-addon-api: the hot calls (read, write, writev, accept,
// pollerWait) must be raw, measured at half the wrappers' cost, and one style keeps the file
// plain. Each function gets its Instance as the callback's data pointer: no lookup per call.
//
// Errors: a wrong argument type, or an offset / length / range no caller should pass, throws a
// TypeError / RangeError naming the argument. Everything else returns a number: >= 0, or -errno.
#include <errno.h>
#include <limits.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>

#include "handles.h"
#include "poller.h"
#include "socket.h"
#include "uv_driver.h"

namespace polled {

namespace {

// Everything one load of the addon owns: one per env (the main thread, each worker).
struct Instance {
  explicit Instance(napi_env env) : handles(env) {}
  HandleTable handles;
  DriverCounter drivers;
  // The argument block of readBound / writeBound (see "Byte I/O through bound buffers").
  // Shared memory: another thread that was handed the buffer may write it at any time, so the
  // addon reads each argument once (volatile) and validates what it read.
  volatile double* io_args = nullptr;
  napi_ref io_args_ref = nullptr;
};

// ---- Arguments --------------------------------------------------------------------------------

template <size_t N>
struct Args {
  Args(napi_env env, napi_callback_info info) {
    size_t argc = N;  // missing arguments read as undefined
    void* data = nullptr;
    napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
    inst = static_cast<Instance*>(data);
  }
  napi_value argv[N > 0 ? N : 1];
  Instance* inst;
};

// Every Get* below throws and returns false on a bad argument; the caller then returns
// nullptr, which N-API turns into undefined with the exception pending.
void Throw(napi_env env, bool range, const char* name, const char* what) {
  char msg[160];
  snprintf(msg, sizeof msg, "polled: \"%s\" must be %s", name, what);
  if (range) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  } else {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  }
}

// A number. Handles are numbers too: one that is not a live handle gets -EBADF later.
bool GetNumber(napi_env env, napi_value v, const char* name, double* out) {
  if (napi_get_value_double(env, v, out) == napi_ok) return true;
  Throw(env, false, name, "a number");
  return false;
}

bool GetInt(napi_env env, napi_value v, const char* name, double lo, double hi, int64_t* out) {
  double d;
  if (!GetNumber(env, v, name, &d)) return false;
  if (!(d >= lo && d <= hi && d == std::trunc(d))) {
    char what[96];
    snprintf(what, sizeof what, "an integer in [%.0f, %.0f]", lo, hi);
    Throw(env, true, name, what);
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

// A duration in ms: any number but NaN (negative means "now", or "forever" for a wait).
bool GetMs(napi_env env, napi_value v, const char* name, double* out) {
  if (!GetNumber(env, v, name, out)) return false;
  if (!std::isnan(*out)) return true;
  Throw(env, true, name, "a number of milliseconds, not NaN");
  return false;
}

bool GetBool(napi_env env, napi_value v, const char* name, bool* out) {
  if (napi_get_value_bool(env, v, out) == napi_ok) return true;
  Throw(env, false, name, "a boolean");
  return false;
}

template <typename T>
bool GetTyped(napi_env env, napi_value v, const char* name, napi_typedarray_type want,
              const char* what, T** data, size_t* length) {
  napi_typedarray_type type;
  void* p;
  if (napi_get_typedarray_info(env, v, &type, length, &p, nullptr, nullptr) != napi_ok ||
      type != want) {
    Throw(env, false, name, what);
    return false;
  }
  *data = static_cast<T*>(p);
  return true;
}

// A view with no bytes may be on a detached ArrayBuffer (transferred): say so, as a TypeError,
// rather than reading 0 bytes into it, which a caller would take for end of stream. Node 20 cannot
// tell a detached buffer from an empty one in JavaScript, so it is decided here. A view whose
// resizable buffer shrank under it also has no bytes; a read refuses it (see GetBytes).
bool CheckAttached(napi_env env, napi_value view, const char* name, size_t size) {
  if (size > 0) return true;
  napi_value ab;
  bool detached = false;
  if (napi_get_typedarray_info(env, view, nullptr, nullptr, nullptr, &ab, nullptr) == napi_ok &&
      napi_is_detached_arraybuffer(env, ab, &detached) == napi_ok && !detached) {
    return true;
  }
  char msg[160];
  snprintf(msg, sizeof msg, "polled: \"%s\" is detached (its ArrayBuffer was transferred)", name);
  napi_throw_type_error(env, "ERR_INVALID_STATE", msg);
  return false;
}

// argv[0..2] = buf, offset, length: a Uint8Array (a Buffer is one) and a range inside it, which
// for a read must not be empty: read(2) into 0 bytes returns 0, and 0 means end of stream.
bool GetBytes(napi_env env, const napi_value* argv, bool for_read, uint8_t** data, size_t* len) {
  size_t size;
  int64_t off, n;
  if (!GetTyped(env, argv[0], "buf", napi_uint8_array, "a Uint8Array", data, &size) ||
      !CheckAttached(env, argv[0], "buf", size) ||
      !GetInt(env, argv[1], "offset", 0, static_cast<double>(size), &off) ||
      !GetInt(env, argv[2], "length", 0, static_cast<double>(size - off), &n)) {
    return false;
  }
  if (for_read && n == 0) {
    Throw(env, true, "length", "at least 1 for a read (0 bytes read means end of stream)");
    return false;
  }
  *data += off;
  *len = static_cast<size_t>(n);
  return true;
}

// A Float64Array of at least `min` elements that receives results.
bool GetOut(napi_env env, napi_value v, size_t min, double** out) {
  size_t n;
  if (!GetTyped(env, v, "out", napi_float64_array, "a Float64Array", out, &n)) return false;
  if (n >= min) return true;
  Throw(env, true, "out", min == 1 ? "a Float64Array of length >= 1" : "a Float64Array of length >= 2");
  return false;
}

// A string, NUL-terminated into `buf`. *err: -ENAMETOOLONG when it does not fit, -EINVAL when it
// holds a NUL (a path or address that would silently be cut short).
template <size_t N>
bool GetString(napi_env env, napi_value v, const char* name, char (&buf)[N], int* err) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) {
    Throw(env, false, name, "a string");
    return false;
  }
  *err = len >= N ? -ENAMETOOLONG : 0;
  if (*err == 0) {
    napi_get_value_string_utf8(env, v, buf, N, &len);
    if (strlen(buf) != len) *err = -EINVAL;
  }
  return true;
}

// ---- Memory the addon writes across calls -------------------------------------------------------
// The events batch and the ioArgs block are written (or read) by the addon in one call and by JS
// in the next, so the addon keeps their data pointer. That is only sound for memory JavaScript can
// neither free nor move nor resize while the addon holds a reference: an ordinary ArrayBuffer (or
// an external one) can be transferred (structuredClone / postMessage with a transfer list
// detaches it and hands its memory to someone else) and a resizable one can shrink. A
// SharedArrayBuffer can do neither: a transfer throws at the attempt ("Found invalid object in
// transferList"), it cannot be detached, and a fixed-length one never changes size. Node-API (v8)
// has no call that makes one, so the global constructors do it, and the result is then checked
// with calls that run no JavaScript: a patched `globalThis.SharedArrayBuffer` yields an error,
// never an unsafe array. No JavaScript runs after the pointer is taken.
bool SharedView(napi_env env, const char* ctor_name, napi_typedarray_type want, size_t length,
                napi_value* out, void** data) {
  napi_value global, sab_ctor, view_ctor, bytes, sab, view, ab;
  size_t elem = want == napi_float64_array ? 8 : 4;
  napi_typedarray_type type;
  size_t got;
  bool is_plain = true;
  if (napi_get_global(env, &global) != napi_ok ||
      napi_get_named_property(env, global, "SharedArrayBuffer", &sab_ctor) != napi_ok ||
      napi_get_named_property(env, global, ctor_name, &view_ctor) != napi_ok ||
      napi_create_double(env, static_cast<double>(length * elem), &bytes) != napi_ok ||
      napi_new_instance(env, sab_ctor, 1, &bytes, &sab) != napi_ok ||
      napi_new_instance(env, view_ctor, 1, &sab, &view) != napi_ok) {
    return false;  // an exception is pending (or the env is going away)
  }
  // A real typed array of the right type and length whose buffer is not an ArrayBuffer: shared.
  if (napi_get_typedarray_info(env, view, &type, &got, data, &ab, nullptr) != napi_ok ||
      type != want || got != length || napi_is_arraybuffer(env, ab, &is_plain) != napi_ok ||
      is_plain) {
    napi_throw_error(env, "ERR_POLLED_SHARED_MEMORY",
                     "polled: SharedArrayBuffer did not make shared memory (is the global patched?)");
    return false;
  }
  *out = view;
  return true;
}

// ---- Results ----------------------------------------------------------------------------------

napi_value Int(napi_env env, int64_t v) {
  napi_value r;
  if (v >= INT32_MIN && v <= INT32_MAX) {
    napi_create_int32(env, static_cast<int32_t>(v), &r);
  } else {
    napi_create_double(env, static_cast<double>(v), &r);
  }
  return r;
}

// Handles go up to 2^53: always a double.
napi_value Number(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

napi_value AddrResult(napi_env env, int rc, const Addr& addr) {
  if (rc < 0) return Int(env, rc);
  napi_value arr, host;
  napi_create_array_with_length(env, 3, &arr);
  napi_create_string_utf8(env, addr.host, NAPI_AUTO_LENGTH, &host);
  napi_set_element(env, arr, 0, host);
  napi_set_element(env, arr, 1, Int(env, addr.port));
  napi_set_element(env, arr, 2, Int(env, addr.family));
  return arr;
}

// ---- errno ------------------------------------------------------------------------------------

struct ErrnoName {
  const char* name;
  int value;
};

// Where two names share a value (EAGAIN / EWOULDBLOCK, ENOTSUP / EOPNOTSUPP on Linux), the
// first one is what errnoName() answers, as libuv names them.
#define POLLED_ERRNO(e) {#e, e}
constexpr ErrnoName kErrnos[] = {
    POLLED_ERRNO(EPERM),           POLLED_ERRNO(ENOENT),        POLLED_ERRNO(EINTR),
    POLLED_ERRNO(EIO),             POLLED_ERRNO(EBADF),         POLLED_ERRNO(EAGAIN),
    POLLED_ERRNO(EWOULDBLOCK),     POLLED_ERRNO(ENOMEM),        POLLED_ERRNO(EACCES),
    POLLED_ERRNO(EFAULT),          POLLED_ERRNO(EBUSY),         POLLED_ERRNO(EEXIST),
    POLLED_ERRNO(ENOTDIR),         POLLED_ERRNO(EISDIR),        POLLED_ERRNO(EINVAL),
    POLLED_ERRNO(ENFILE),          POLLED_ERRNO(EMFILE),        POLLED_ERRNO(ENOSPC),
    POLLED_ERRNO(ESPIPE),          POLLED_ERRNO(EROFS),         POLLED_ERRNO(EPIPE),
    POLLED_ERRNO(ERANGE),          POLLED_ERRNO(ENAMETOOLONG),  POLLED_ERRNO(ENOSYS),
    POLLED_ERRNO(ENOTEMPTY),       POLLED_ERRNO(ELOOP),         POLLED_ERRNO(ENOTSOCK),
    POLLED_ERRNO(EDESTADDRREQ),    POLLED_ERRNO(EMSGSIZE),      POLLED_ERRNO(EPROTOTYPE),
    POLLED_ERRNO(ENOPROTOOPT),     POLLED_ERRNO(EPROTONOSUPPORT), POLLED_ERRNO(ENOTSUP),
    POLLED_ERRNO(EOPNOTSUPP),      POLLED_ERRNO(EAFNOSUPPORT),  POLLED_ERRNO(EADDRINUSE),
    POLLED_ERRNO(EADDRNOTAVAIL),   POLLED_ERRNO(ENETDOWN),      POLLED_ERRNO(ENETUNREACH),
    POLLED_ERRNO(ECONNABORTED),    POLLED_ERRNO(ECONNRESET),    POLLED_ERRNO(ENOBUFS),
    POLLED_ERRNO(EISCONN),         POLLED_ERRNO(ENOTCONN),      POLLED_ERRNO(ESHUTDOWN),
    POLLED_ERRNO(ETIMEDOUT),       POLLED_ERRNO(ECONNREFUSED),  POLLED_ERRNO(EHOSTDOWN),
    POLLED_ERRNO(EHOSTUNREACH),    POLLED_ERRNO(EALREADY),      POLLED_ERRNO(EINPROGRESS),
    POLLED_ERRNO(ECANCELED),       POLLED_ERRNO(EPROTO),
};
#undef POLLED_ERRNO

// strerror_r returns an int (XSI) or a char* (GNU) depending on libc and feature macros; one
// overload per result type takes whichever this libc has.
[[maybe_unused]] const char* StrerrorResult(int rc, const char* buf) {
  return rc == 0 ? buf : "Unknown error";
}
[[maybe_unused]] const char* StrerrorResult(const char* msg, const char*) { return msg; }

bool GetErrno(napi_env env, napi_value v, int* out) {
  int64_t n;
  if (!GetInt(env, v, "errno", -INT_MAX, INT_MAX, &n)) return false;
  *out = static_cast<int>(std::llabs(n));  // -EBADF reads as EBADF
  return true;
}

napi_value JsErrnoName(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  int n;
  if (!GetErrno(env, a.argv[0], &n)) return nullptr;
  const char* name = "UNKNOWN";
  for (const ErrnoName& e : kErrnos) {
    if (e.value == n) {
      name = e.name;
      break;
    }
  }
  napi_value r;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &r);
  return r;
}

napi_value JsErrorMessage(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  int n;
  if (!GetErrno(env, a.argv[0], &n)) return nullptr;
  char buf[256];
  napi_value r;
  napi_create_string_utf8(env, StrerrorResult(strerror_r(n, buf, sizeof buf), buf),
                          NAPI_AUTO_LENGTH, &r);
  return r;
}

napi_value ErrnoObject(napi_env env) {
  napi_value obj;
  napi_create_object(env, &obj);
  for (const ErrnoName& e : kErrnos) napi_set_named_property(env, obj, e.name, Int(env, e.value));
  napi_object_freeze(env, obj);
  return obj;
}

// ---- Poller -----------------------------------------------------------------------------------

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

napi_value JsPollerCreate(napi_env env, napi_callback_info info) {
  Args<0> a(env, info);
  std::unique_ptr<PollerEntry> p(new (std::nothrow) PollerEntry(env));
  if (p == nullptr) return Int(env, -ENOMEM);
  int rc = p->poller.Open();
  return Number(env, rc < 0 ? rc : a.inst->handles.OpenPoller(std::move(p)));
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

enum class Op { kAdd, kModify, kDelete };

template <Op op>
napi_value JsPollerRegister(napi_env env, napi_callback_info info) {
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

// ---- Embedded driver --------------------------------------------------------------------------

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

// ---- Handles ----------------------------------------------------------------------------------

napi_value JsClose(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  double h;
  if (!GetNumber(env, a.argv[0], "handle", &h)) return nullptr;
  return Int(env, a.inst->handles.Close(h));
}

napi_value JsHandleCount(napi_env env, napi_callback_info info) {
  Args<0> a(env, info);
  return Number(env, static_cast<double>(a.inst->handles.live()));
}

napi_value JsFdOf(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  double h;
  if (!GetNumber(env, a.argv[0], "handle", &h)) return nullptr;
  Entry* e = a.inst->handles.Get(h);
  return Int(env, e != nullptr ? e->raw_fd() : -EBADF);
}

// The handle of a freshly opened fd, or -errno: `rc` from the syscall, -EMFILE from the table.
napi_value Opened(napi_env env, Instance* inst, int rc, Kind kind, Fd fd) {
  return Number(env, rc < 0 ? rc : inst->handles.Open(kind, std::move(fd)));
}

napi_value JsPipe(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  double* out;
  if (!GetOut(env, a.argv[0], 2, &out)) return nullptr;
  Fd r, w;
  int rc = Pipe(&r, &w);
  if (rc < 0) return Int(env, rc);
  double rh = a.inst->handles.Open(Kind::kPipe, std::move(r));
  if (rh < 0) return Number(env, rh);
  double wh = a.inst->handles.Open(Kind::kPipe, std::move(w));
  if (wh < 0) {
    a.inst->handles.Close(rh);
    return Number(env, wh);
  }
  out[0] = rh;
  out[1] = wh;
  return Int(env, 0);
}

// ---- Sockets ----------------------------------------------------------------------------------

napi_value JsTcpListen(napi_env env, napi_callback_info info) {
  Args<4> a(env, info);
  char host[64];
  int err;
  int64_t port, backlog, flags;
  if (!GetString(env, a.argv[0], "host", host, &err) ||
      !GetInt(env, a.argv[1], "port", 0, 65535, &port) ||
      !GetInt(env, a.argv[2], "backlog", 0, INT_MAX, &backlog) ||
      !GetInt(env, a.argv[3], "flags", 0, kReuseAddr | kReusePort | kV6Only, &flags)) {
    return nullptr;
  }
  if (err < 0) return Int(env, -EINVAL);  // too long or cut by a NUL: not a numeric address
  Fd fd;
  int rc = TcpListen(host, static_cast<int>(port), static_cast<int>(backlog),
                     static_cast<int>(flags), &fd);
  return Opened(env, a.inst, rc, Kind::kListener, std::move(fd));
}

napi_value JsTcpConnect(napi_env env, napi_callback_info info) {
  Args<3> a(env, info);
  char host[64];
  int err;
  int64_t port;
  double* out;
  if (!GetString(env, a.argv[0], "host", host, &err) ||
      !GetInt(env, a.argv[1], "port", 0, 65535, &port) || !GetOut(env, a.argv[2], 1, &out)) {
    return nullptr;
  }
  if (err < 0) return Int(env, -EINVAL);
  Fd fd;
  bool in_progress;
  int rc = TcpConnect(host, static_cast<int>(port), &fd, &in_progress);
  out[0] = rc == 0 && in_progress ? 1 : 0;
  return Opened(env, a.inst, rc, Kind::kSocket, std::move(fd));
}

napi_value JsUnixListen(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  char path[sizeof(sockaddr_un::sun_path)];
  int err;
  int64_t backlog;
  if (!GetString(env, a.argv[0], "path", path, &err) ||
      !GetInt(env, a.argv[1], "backlog", 0, INT_MAX, &backlog)) {
    return nullptr;
  }
  if (err < 0) return Int(env, err);
  Fd fd;
  int rc = UnixListen(path, static_cast<int>(backlog), &fd);
  return Opened(env, a.inst, rc, Kind::kListener, std::move(fd));
}

napi_value JsUnixConnect(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  char path[sizeof(sockaddr_un::sun_path)];
  int err;
  double* out;
  if (!GetString(env, a.argv[0], "path", path, &err) || !GetOut(env, a.argv[1], 1, &out)) {
    return nullptr;
  }
  if (err < 0) return Int(env, err);
  Fd fd;
  bool in_progress;
  int rc = UnixConnect(path, &fd, &in_progress);
  out[0] = rc == 0 && in_progress ? 1 : 0;
  return Opened(env, a.inst, rc, Kind::kSocket, std::move(fd));
}

napi_value JsAccept(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  double h;
  if (!GetNumber(env, a.argv[0], "listener", &h)) return nullptr;
  Entry* e = a.inst->handles.Get(h);
  if (e == nullptr) return Int(env, -EBADF);
  Fd fd;
  int rc = Accept(e->raw_fd(), &fd);
  return Opened(env, a.inst, rc, Kind::kSocket, std::move(fd));
}

// The fd of argv[0], or -EBADF; *threw when argv[0] is not a number.
int GetFd(napi_env env, Instance* inst, napi_value v, bool* threw) {
  double h;
  *threw = !GetNumber(env, v, "handle", &h);
  Entry* e = *threw ? nullptr : inst->handles.Get(h);
  return e != nullptr ? e->raw_fd() : -EBADF;
}

napi_value JsSocketError(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  bool threw;
  int fd = GetFd(env, a.inst, a.argv[0], &threw);
  if (threw) return nullptr;
  return Int(env, fd < 0 ? fd : SocketError(fd));
}

template <bool peer>
napi_value JsAddr(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  bool threw;
  int fd = GetFd(env, a.inst, a.argv[0], &threw);
  if (threw) return nullptr;
  Addr addr;
  int rc = fd < 0 ? fd : peer ? PeerAddr(fd, &addr) : LocalAddr(fd, &addr);
  return AddrResult(env, rc, addr);
}

napi_value JsSetNoDelay(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  bool threw, on;
  int fd = GetFd(env, a.inst, a.argv[0], &threw);
  if (threw || !GetBool(env, a.argv[1], "on", &on)) return nullptr;
  return Int(env, fd < 0 ? fd : SetNoDelay(fd, on));
}

napi_value JsSetKeepAlive(napi_env env, napi_callback_info info) {
  Args<3> a(env, info);
  bool threw, on;
  int64_t delay;
  int fd = GetFd(env, a.inst, a.argv[0], &threw);
  if (threw || !GetBool(env, a.argv[1], "on", &on) ||
      !GetInt(env, a.argv[2], "delaySec", 0, INT_MAX, &delay)) {
    return nullptr;
  }
  return Int(env, fd < 0 ? fd : SetKeepAlive(fd, on, static_cast<int>(delay)));
}

napi_value JsShutdown(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  bool threw;
  int64_t how;
  int fd = GetFd(env, a.inst, a.argv[0], &threw);
  if (threw || !GetInt(env, a.argv[1], "how", 0, 2, &how)) return nullptr;
  return Int(env, fd < 0 ? fd : Shutdown(fd, static_cast<int>(how)));
}

// ---- Byte I/O --------------------------------------------------------------------------------
// The general path: one napi_get_cb_info, a few number reads, one typed-array lookup, one
// syscall, one int32. Any Uint8Array, any call.

napi_value JsRead(napi_env env, napi_callback_info info) {
  Args<4> a(env, info);
  bool threw;
  uint8_t* data;
  size_t len;
  int fd = GetFd(env, a.inst, a.argv[0], &threw);
  if (threw || !GetBytes(env, a.argv + 1, true, &data, &len)) return nullptr;
  return Int(env, fd < 0 ? fd : Read(fd, data, len));
}

napi_value JsWrite(napi_env env, napi_callback_info info) {
  Args<4> a(env, info);
  double h;
  uint8_t* data;
  size_t len;
  if (!GetNumber(env, a.argv[0], "handle", &h) || !GetBytes(env, a.argv + 1, false, &data, &len)) {
    return nullptr;
  }
  Entry* e = a.inst->handles.Get(h);
  if (e == nullptr) return Int(env, -EBADF);
  return Int(env, Write(e->raw_fd(), data, len, e->is_socket()));
}

napi_value JsWritev(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  double h;
  uint32_t count;
  if (!GetNumber(env, a.argv[0], "handle", &h)) return nullptr;
  if (napi_get_array_length(env, a.argv[1], &count) != napi_ok) {
    Throw(env, false, "bufs", "an array of Uint8Array");
    return nullptr;
  }
  // One syscall takes at most IOV_MAX buffers; the byte count tells the caller where it stopped.
  count = std::min<uint32_t>(count, IOV_MAX);
  // Two passes. Reading an element can run JavaScript (a getter on the array, or on its
  // prototype for a hole), and that JavaScript could detach or shrink a buffer whose pointer was
  // already taken. So first every element is read (the handle scope keeps them alive), then the
  // pointers are taken with calls that run no JavaScript, and used at once.
  napi_value bufs[IOV_MAX];
  for (uint32_t i = 0; i < count; i++) {
    if (napi_get_element(env, a.argv[1], i, &bufs[i]) != napi_ok) return nullptr;
  }
  iovec iov[IOV_MAX];
  for (uint32_t i = 0; i < count; i++) {
    char name[32];
    snprintf(name, sizeof name, "bufs[%u]", i);
    uint8_t* data;
    if (!GetTyped(env, bufs[i], name, napi_uint8_array, "a Uint8Array", &data, &iov[i].iov_len) ||
        !CheckAttached(env, bufs[i], name, iov[i].iov_len)) {
      return nullptr;
    }
    iov[i].iov_base = data;
  }
  Entry* e = a.inst->handles.Get(h);
  if (e == nullptr) return Int(env, -EBADF);
  return Int(env, Writev(e->raw_fd(), iov, static_cast<int>(count), e->is_socket()));
}

// ---- Byte I/O through bound buffers: the hot path ----------------------------------------------
// Measured (callgrind, echo 64 B), the general path above costs about 900 instructions per call
// before the syscall: reading four arguments through napi_get_cb_info and napi_get_value_double,
// range checks, and above all napi_get_typedarray_info. An echo loop or a stream reads into the
// same buffer every time, so lib/io.ts binds that buffer to the handle once (`bindBuffer`) and
// then calls `readBound()` / `writeBound()` with no JS arguments at all: the handle, offset and
// length are numbers it has just stored into `ioArgs`, a Float64Array this instance shares with
// JS (the way the poller shares its event array), and the result comes back the same way. Safe
// because calls are synchronous: nothing runs between JS filling the block and reading it back.
//
// The bound buffer's data pointer is looked up at each call from the ArrayBuffer it belongs to
// (a reference and napi_get_arraybuffer_info, cheap next to a typed-array lookup), so a buffer
// detached (transferred) after binding is never written through. Such a call, or one whose
// range the bound view does not cover, returns -EFAULT ("not my buffer"): the caller unbinds
// and takes the general path, which reports argument errors as it always did.

// [handle, offset, length] in, [result] out: the result is stored rather than returned, which
// spares making a JS number per call (about 60 instructions of the N-API call's 450).
enum IoArg { kArgHandle, kArgOffset, kArgLength, kArgResult, kIoArgCount };

napi_value JsBindBuffer(napi_env env, napi_callback_info info) {
  Args<3> a(env, info);
  double h;
  int64_t slot;
  napi_typedarray_type type;
  size_t length, offset;
  napi_value ab;
  void* data;
  if (!GetNumber(env, a.argv[0], "handle", &h) ||
      !GetInt(env, a.argv[1], "slot", kReadBuffer, kWriteBuffer, &slot)) {
    return nullptr;
  }
  if (napi_get_typedarray_info(env, a.argv[2], &type, &length, &data, &ab, &offset) != napi_ok ||
      type != napi_uint8_array) {
    Throw(env, false, "buf", "a Uint8Array");
    return nullptr;
  }
  // A view on a SharedArrayBuffer cannot be bound (it has no ArrayBuffer info): general path.
  void* ab_data;
  size_t ab_length;
  if (napi_get_arraybuffer_info(env, ab, &ab_data, &ab_length) != napi_ok) return Int(env, -EINVAL);
  if (length == 0) return Int(env, -EINVAL);  // nothing to bind (or detached): the general path says which
  return Int(env, a.inst->handles.Bind(h, static_cast<BufferSlot>(slot), ab, offset, length));
}

// The bound buffer `slot` of the handle in `args`, as a pointer and a length; -EBADF for a handle
// that is not live, -EFAULT when nothing is bound or the buffer no longer covers the range.
int BoundRange(napi_env env, Instance* inst, BufferSlot slot, Entry** entry, uint8_t** data,
               size_t* len) {
  const volatile double* args = inst->io_args;
  Entry* e = inst->handles.Get(args[kArgHandle]);
  if (e == nullptr) return -EBADF;
  const BoundBuffer& b = e->bound[slot];
  const double off = args[kArgOffset], n = args[kArgLength];
  // Integers with off + n inside the view (a NaN fails every comparison). Once in range, the
  // casts are exact for integers, so comparing back catches a fraction.
  if (b.buffer == nullptr || !(off >= 0 && n >= 0 && off + n <= static_cast<double>(b.length))) {
    return -EFAULT;
  }
  auto o = static_cast<int64_t>(off), k = static_cast<int64_t>(n);
  if (static_cast<double>(o) != off || static_cast<double>(k) != n) return -EFAULT;
  napi_value ab;
  void* base;
  size_t ab_length;
  if (napi_get_reference_value(env, b.buffer, &ab) != napi_ok || ab == nullptr ||
      napi_get_arraybuffer_info(env, ab, &base, &ab_length) != napi_ok ||
      b.offset + b.length > ab_length) {
    return -EFAULT;  // detached (length 0) or gone
  }
  *entry = e;
  *data = static_cast<uint8_t*>(base) + b.offset + o;
  *len = static_cast<size_t>(k);
  return 0;
}

Instance* InstanceOf(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data);
  return static_cast<Instance*>(data);
}

// Both return undefined; the bytes (or -errno) are in ioArgs[kArgResult].
napi_value JsReadBound(napi_env env, napi_callback_info info) {
  Instance* inst = InstanceOf(env, info);
  Entry* e;
  uint8_t* data;
  size_t len;
  int rc = BoundRange(env, inst, kReadBuffer, &e, &data, &len);
  inst->io_args[kArgResult] = rc < 0 ? rc : Read(e->raw_fd(), data, len);
  return nullptr;
}

napi_value JsWriteBound(napi_env env, napi_callback_info info) {
  Instance* inst = InstanceOf(env, info);
  Entry* e;
  uint8_t* data;
  size_t len;
  int rc = BoundRange(env, inst, kWriteBuffer, &e, &data, &len);
  inst->io_args[kArgResult] = rc < 0 ? rc : Write(e->raw_fd(), data, len, e->is_socket());
  return nullptr;
}

// The Float64Array of kIoArgCount numbers that JS fills before readBound / writeBound, on shared
// memory (see SharedView): it cannot be transferred or shrunk, so `io_args` stays valid for as
// long as the reference holds it.
napi_value IoArgsArray(napi_env env, Instance* inst) {
  napi_value arr;
  void* data;
  if (!SharedView(env, "Float64Array", napi_float64_array, kIoArgCount, &arr, &data) ||
      napi_create_reference(env, arr, 1, &inst->io_args_ref) != napi_ok) {
    return nullptr;
  }
  inst->io_args = static_cast<volatile double*>(data);
  return arr;
}

// ---- Instance lifecycle -----------------------------------------------------------------------

// Env teardown (process exit, worker exit): close every handle, which stops the uv drivers.
// An *async* cleanup hook, because a uv handle is only gone once its close callback has run:
// Node keeps turning the loop until the hook is removed, by DriverCounter::Closed() when the
// last driver's callback has run, so a worker's loop is never closed with our handle in it.
void Teardown(napi_async_cleanup_hook_handle hook, void* arg) {
  Instance* inst = static_cast<Instance*>(arg);
  inst->handles.CloseAll();
  if (inst->drivers.open == 0) {
    napi_remove_async_cleanup_hook(hook);
  } else {
    inst->drivers.teardown = hook;
  }
}

#if defined(POLLED_BACKEND_EPOLL)
constexpr char kBackend[] = "epoll";
#else
constexpr char kBackend[] = "kqueue";
#endif

napi_value Init(napi_env env, napi_value exports) {
  auto* inst = new Instance(env);
  napi_set_instance_data(
      env, inst,
      [](napi_env env, void* data, void*) {
        auto* inst = static_cast<Instance*>(data);
        if (inst->io_args_ref != nullptr) napi_delete_reference(env, inst->io_args_ref);
        delete inst;
      },
      nullptr);
  napi_add_async_cleanup_hook(env, Teardown, inst, nullptr);

  napi_value backend;
  napi_create_string_utf8(env, kBackend, NAPI_AUTO_LENGTH, &backend);
  napi_value io_args = IoArgsArray(env, inst);
  if (io_args == nullptr) return nullptr;
#define POLLED_METHOD(name, fn) {name, nullptr, fn, nullptr, nullptr, nullptr, napi_enumerable, inst}
  const napi_property_descriptor props[] = {
      {"backend", nullptr, nullptr, nullptr, nullptr, backend, napi_enumerable, nullptr},
      {"errno", nullptr, nullptr, nullptr, nullptr, ErrnoObject(env), napi_enumerable, nullptr},
      {"ioArgs", nullptr, nullptr, nullptr, nullptr, io_args, napi_enumerable, nullptr},
      POLLED_METHOD("errnoName", JsErrnoName),
      POLLED_METHOD("errorMessage", JsErrorMessage),
      POLLED_METHOD("pollerCreate", JsPollerCreate),
      POLLED_METHOD("pollerEvents", JsPollerEvents),
      POLLED_METHOD("pollerAdd", JsPollerRegister<Op::kAdd>),
      POLLED_METHOD("pollerModify", JsPollerRegister<Op::kModify>),
      POLLED_METHOD("pollerDelete", JsPollerRegister<Op::kDelete>),
      POLLED_METHOD("pollerWait", JsPollerWait),
      POLLED_METHOD("pollerNotify", JsPollerNotify),
      POLLED_METHOD("pollerWatchLoop", JsPollerWatchLoop),
      POLLED_METHOD("pollerTimerArm", JsPollerTimerArm),
      POLLED_METHOD("pollerTimerDisarm", JsPollerTimerDisarm),
      POLLED_METHOD("pollerNotifyFromThread", JsPollerNotifyFromThread),
      POLLED_METHOD("driverStart", JsDriverStart),
      POLLED_METHOD("driverRef", JsDriverRef),
      POLLED_METHOD("driverStop", JsDriverStop),
      POLLED_METHOD("close", JsClose),
      POLLED_METHOD("handleCount", JsHandleCount),
      POLLED_METHOD("fdOf", JsFdOf),
      POLLED_METHOD("pipe", JsPipe),
      POLLED_METHOD("tcpListen", JsTcpListen),
      POLLED_METHOD("tcpConnect", JsTcpConnect),
      POLLED_METHOD("unixListen", JsUnixListen),
      POLLED_METHOD("unixConnect", JsUnixConnect),
      POLLED_METHOD("accept", JsAccept),
      POLLED_METHOD("socketError", JsSocketError),
      POLLED_METHOD("localAddr", JsAddr<false>),
      POLLED_METHOD("peerAddr", JsAddr<true>),
      POLLED_METHOD("setNoDelay", JsSetNoDelay),
      POLLED_METHOD("setKeepAlive", JsSetKeepAlive),
      POLLED_METHOD("shutdown", JsShutdown),
      POLLED_METHOD("read", JsRead),
      POLLED_METHOD("write", JsWrite),
      POLLED_METHOD("writev", JsWritev),
      POLLED_METHOD("bindBuffer", JsBindBuffer),
      POLLED_METHOD("readBound", JsReadBound),
      POLLED_METHOD("writeBound", JsWriteBound),
  };
#undef POLLED_METHOD
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

}  // namespace polled

// Context-aware: Node calls this once per env that loads the addon (main thread, each worker).
NAPI_MODULE_INIT() { return polled::Init(env, exports); }
