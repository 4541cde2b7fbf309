// What every binding file (bind_*.cc) shares: reading JS arguments, making JS results, throwing
// for a bad argument, and making shared memory. Raw node_api.h, no node-addon-api: the hot calls
// (read, write, writev, accept, pollerWait) must be raw, measured at half the wrappers' cost.
//
// Errors: a wrong argument type, or an offset / length / range no caller should pass, throws a
// TypeError / RangeError naming the argument. Everything else returns a number: >= 0, or -errno
// (see lib/native.ts for the rule on results of more than one value).
//
// The getters the byte-I/O paths call on every message are inline here, as they were when the
// whole surface was one file: splitting the files must not add a call per message. What only runs
// on a failure (building a message, throwing) or once per poller or instance is in args.cc.
#pragma once

#include <errno.h>
#include <node_api.h>
#include <string.h>

#include <cmath>
#include <cstdint>

#include "instance.h"

namespace polled {

// The callback's arguments and its Instance (the data pointer every export is defined with).
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

// The Instance of this thread's env when it has exactly one (addon.cc keeps it), else null. A
// thread runs one Node env (the main thread, or one worker), so this is the common case; the
// count guards the odd one (the addon initialised twice in one env), where the callback's data
// pointer must decide.
//
// (Not the initial-exec TLS model, which would spare a __tls_get_addr call of about a dozen
// instructions per bound call: it makes the whole object's TLS segment static, and the kqueue
// build, which links libkqueue's 13 KiB of thread-locals in, then fails to load with "cannot
// allocate memory in static TLS block"; every other addon in the process competes for that space.)
extern thread_local Instance* t_sole_instance;
extern thread_local int t_instances;

// Only the Instance, for calls that take no JS arguments (readBound / writeBound): from the
// thread-local when it is the only one, which spares a napi_get_cb_info (about 35 of the ~450
// user-space instructions of such a call).
inline Instance* InstanceOf(napi_env env, napi_callback_info info) {
  if (Instance* sole = t_sole_instance) return sole;
  void* data = nullptr;
  napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data);
  return static_cast<Instance*>(data);
}

// ---- Throwing -------------------------------------------------------------------------------------
// Every Get* below throws and returns false on a bad argument; the caller then returns nullptr,
// which N-API turns into undefined with the exception pending.

// `polled: "<name>" must be <what>`, a RangeError when `range`, else a TypeError.
void Throw(napi_env env, bool range, const char* name, const char* what);
// RangeError: "<name>" must be an integer in [lo, hi].
void ThrowNotInt(napi_env env, const char* name, double lo, double hi);
// TypeError (ERR_INVALID_STATE) when the view's ArrayBuffer is detached; true when it is not.
bool CheckNotDetached(napi_env env, napi_value view, const char* name);

// ---- Arguments ------------------------------------------------------------------------------------

// A number. Handles are numbers too: one that is not a live handle gets -EBADF later.
inline bool GetNumber(napi_env env, napi_value v, const char* name, double* out) {
  if (napi_get_value_double(env, v, out) == napi_ok) return true;
  Throw(env, false, name, "a number");
  return false;
}

inline bool GetInt(napi_env env, napi_value v, const char* name, double lo, double hi,
                   int64_t* out) {
  double d;
  if (!GetNumber(env, v, name, &d)) return false;
  if (!(d >= lo && d <= hi && d == std::trunc(d))) {
    ThrowNotInt(env, name, lo, hi);
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

// A duration in ms: any number but NaN (negative means "now", or "forever" for a wait).
inline bool GetMs(napi_env env, napi_value v, const char* name, double* out) {
  if (!GetNumber(env, v, name, out)) return false;
  if (!std::isnan(*out)) return true;
  Throw(env, true, name, "a number of milliseconds, not NaN");
  return false;
}

inline bool GetBool(napi_env env, napi_value v, const char* name, bool* out) {
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
inline bool CheckAttached(napi_env env, napi_value view, const char* name, size_t size) {
  return size > 0 || CheckNotDetached(env, view, name);
}

// argv[0..2] = buf, offset, length: a Uint8Array (a Buffer is one) and a range inside it, which
// for a read must not be empty: read(2) into 0 bytes returns 0, and 0 means end of stream.
inline bool GetBytes(napi_env env, const napi_value* argv, bool for_read, uint8_t** data,
                     size_t* len) {
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

// The fd behind the handle `v`, or -EBADF for one that is not live; *threw when `v` is not even
// a number.
inline int GetFd(napi_env env, Instance* inst, napi_value v, bool* threw) {
  double h;
  *threw = !GetNumber(env, v, "handle", &h);
  Entry* e = *threw ? nullptr : inst->handles.Get(h);
  return e != nullptr ? e->raw_fd() : -EBADF;
}

// ---- Results --------------------------------------------------------------------------------------

inline napi_value Int(napi_env env, int64_t v) {
  napi_value r;
  if (v >= INT32_MIN && v <= INT32_MAX) {
    napi_create_int32(env, static_cast<int32_t>(v), &r);
  } else {
    napi_create_double(env, static_cast<double>(v), &r);
  }
  return r;
}

// Handles go up to 2^53: always a double.
inline napi_value Number(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

// ---- The bound-buffer hot path (bind_io.cc's readBound / writeBound, bind_udp.cc's udpRecvBound /
// udpSendBound) ----------------------------------------------------------------------------------
// Resolves the range ioArgs names: [handle, offset, length] of the buffer bound to the handle in
// `slot`, `length` at least `min_length`. On success *e, *data and *len are set and no JavaScript
// has run (only napi_get_reference_value and napi_get_arraybuffer_info). Otherwise the answer is
// already in ioArgs: -EBADF / kStatusDone for a dead handle; kStatusNotBound (no syscall) when
// nothing is bound, the range is not integers inside the bound view, or the ArrayBuffer was
// detached or shrunk since. Integers with off + n inside the view (a NaN fails every comparison);
// once in range the casts are exact for integers, so comparing back catches a fraction; then the
// ArrayBuffer must still hold the whole view (a detached one has length 0, a shrunk one less).
// Always inlined into its four callers: a call, its prologue and six register spills are a
// fifth of its cost on the hot path.
[[gnu::always_inline]] inline bool TakeBound(napi_env env, Instance* inst, BufferSlot slot, double min_length, Entry** e,
                      uint8_t** data, size_t* len) {
  volatile double* args = inst->io_args;
  *e = inst->handles.Get(args[kArgHandle]);
  if (*e == nullptr) {
    args[kArgResult] = -EBADF;  // a dead handle is an answer, as in the general path
    args[kArgStatus] = kStatusDone;
    return false;
  }
  const BoundBuffer& b = (*e)->bound[slot];
  const double off = args[kArgOffset], n = args[kArgLength];
  napi_value ab;
  void* base;
  size_t ab_length;
  int64_t o = 0, k = 0;
  bool usable = b.buffer != nullptr && off >= 0 && n >= min_length && off + n <= static_cast<double>(b.length);
  if (usable) {
    o = static_cast<int64_t>(off);
    k = static_cast<int64_t>(n);
    usable = static_cast<double>(o) == off && static_cast<double>(k) == n;
  }
  // Shared memory was resolved once, at bind (BoundBuffer::shared); an ArrayBuffer now.
  if (usable && b.shared == nullptr) {
    usable = napi_get_reference_value(env, b.buffer, &ab) == napi_ok && ab != nullptr &&
             napi_get_arraybuffer_info(env, ab, &base, &ab_length) == napi_ok &&
             b.offset + b.length <= ab_length;
  }
  if (!usable) {
    args[kArgResult] = NAN;  // meaningless: no syscall ran
    args[kArgStatus] = kStatusNotBound;
    return false;
  }
  *data = b.shared != nullptr ? b.shared + o : static_cast<uint8_t*>(base) + b.offset + o;
  *len = static_cast<size_t>(k);
  return true;
}

// ---- Memory the addon writes across calls -------------------------------------------------------
// A new `ctor_name` view (Uint32Array or Float64Array, `want`) of `length` elements on a fresh
// SharedArrayBuffer, and its data pointer, which stays valid for as long as the view is alive.
// False with an exception pending when that cannot be made. See args.cc for why shared memory.
bool SharedView(napi_env env, const char* ctor_name, napi_typedarray_type want, size_t length,
                napi_value* out, void** data);

}  // namespace polled
