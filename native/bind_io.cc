// The N-API functions that move bytes: the general read / write / writev, which take any
// Uint8Array on every call, and the bound-buffer path (bindBuffer, readBound, writeBound) that a
// stream switches to when it uses the same buffer again, with its argument block ioArgs. This is
// the per-message code: every helper it calls is inline (args.h, HandleTable::Get in handles.h,
// socket.h), and each call makes the N-API calls listed at its function and no more.
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <sys/uio.h>

#include <algorithm>

#include "args.h"
#include "bindings.h"
#include "ring.h"
#include "socket.h"

namespace polled {

// ---- The general path ---------------------------------------------------------------------------
// One napi_get_cb_info, a few number reads, one typed-array lookup, one syscall, one int32. Any
// Uint8Array, any call.

napi_value JsRead(napi_env env, napi_callback_info info) {
  Args<4> a(env, info);
  double h;
  uint8_t* data;
  size_t len;
  if (!GetNumber(env, a.argv[0], "handle", &h) || !GetBytes(env, a.argv + 1, true, &data, &len)) {
    return nullptr;
  }
  Entry* e = a.inst->handles.Get(h);
  if (e == nullptr) return Int(env, -EBADF);
  // A ring stream (ring.h): a copy out of its receive queue.
  if (e->ring_io != nullptr) return Int(env, RingRead(e->ring_io, data, len));
  return Int(env, Read(e->raw_fd(), data, len));
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
  // A ring stream: a copy into its send buffer, which an IORING_OP_SEND then sends.
  if (e->ring_io != nullptr) return Int(env, RingWrite(e->ring_io, data, len));
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
  if (e->ring_io != nullptr) return Int(env, RingWritev(e->ring_io, iov, static_cast<int>(count)));
  return Int(env, Writev(e->raw_fd(), iov, static_cast<int>(count), e->is_socket()));
}

// ---- Bound buffers: the hot path ----------------------------------------------------------------
// Measured (callgrind, echo 64 B), the general path above costs about 900 instructions per call
// before the syscall: reading four arguments through napi_get_cb_info and napi_get_value_double,
// range checks, and above all napi_get_typedarray_info. An echo loop or a stream reads into the
// same buffer every time, so lib/io.ts binds that buffer to the handle once (`bindBuffer`) and
// then calls `readBound()` / `writeBound()` with no JS arguments at all: the handle, offset and
// length are numbers it has just stored into `ioArgs`, a Float64Array this instance shares with
// JS (the way the poller shares its event array), and the status and result come back the same
// way (slots in contract.h). Safe because calls are synchronous: nothing runs between JS filling
// the block and reading it back.
//
// The bound buffer's data pointer is looked up at each call from the ArrayBuffer it belongs to
// (a reference and napi_get_arraybuffer_info, cheap next to a typed-array lookup), so a buffer
// detached (transferred) after binding is never written through. A view on a SharedArrayBuffer
// needs no lookup: that memory cannot be detached, moved or shrunk, so its pointer is taken once,
// at bind (BoundBuffer::shared). Such a call, or one whose
// range the bound view does not cover, sets kStatusNotBound and makes no syscall: the caller
// unbinds and takes the general path, which reports argument errors as it always did.

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
  if (length == 0) return Int(env, -EINVAL);  // nothing to bind (or detached): the general path says which
  // A view's buffer is an ArrayBuffer or else a SharedArrayBuffer. Shared memory cannot be
  // detached, moved or shrunk, so its pointer is kept (BoundBuffer::shared) and bound calls on it
  // skip the per-call lookup; an ArrayBuffer's is looked up at every call.
  bool is_ab = false;
  if (napi_is_arraybuffer(env, ab, &is_ab) != napi_ok) return Int(env, -EINVAL);
  uint8_t* shared = is_ab ? nullptr : static_cast<uint8_t*>(data);
  if (!is_ab && shared == nullptr) return Int(env, -EINVAL);
  return Int(env, a.inst->handles.Bind(h, static_cast<BufferSlot>(slot), ab, offset, length, shared));
}

namespace {

// readBound (kSlot = kReadBuffer) and writeBound (kWriteBuffer): one napi_get_cb_info for the
// Instance, then for a bound buffer napi_get_reference_value and napi_get_arraybuffer_info, then
// the syscall. Returns undefined: status and result are in ioArgs, which spares making a JS number
// per call (about 60 instructions of the N-API call's 450).
template <BufferSlot kSlot>
napi_value BoundIo(napi_env env, napi_callback_info info) {
  Instance* inst = InstanceOf(env, info);
  Entry* e;
  uint8_t* data;
  size_t len;
  // A read of 0 bytes is never made here either (it would return 0, which means end of stream):
  // it goes to the general path, whose RangeError says so.
  if (!TakeBound(env, inst, kSlot, kSlot == kReadBuffer ? 1 : 0, &e, &data, &len)) return nullptr;
  volatile double* args = inst->io_args;
  // The bytes are copied at this call (ring streams: from / into the addon's own buffers), so no
  // pointer into the bound buffer outlives it.
  if constexpr (kSlot == kReadBuffer) {
    args[kArgResult] = static_cast<double>(e->ring_io != nullptr ? RingRead(e->ring_io, data, len)
                                                                 : Read(e->raw_fd(), data, len));
  } else {
    args[kArgResult] = static_cast<double>(e->ring_io != nullptr ? RingWrite(e->ring_io, data, len)
                                                                 : Write(e->raw_fd(), data, len, e->is_socket()));
  }
  args[kArgStatus] = kStatusDone;
  return nullptr;
}

}  // namespace

napi_value JsReadBound(napi_env env, napi_callback_info info) {
  return BoundIo<kReadBuffer>(env, info);
}

napi_value JsWriteBound(napi_env env, napi_callback_info info) {
  return BoundIo<kWriteBuffer>(env, info);
}

// echoBound: readBound, then the bytes just read written back to the same handle from the same
// memory, before returning: a copy loop (echo) crosses N-API once per message, not twice (which
// saved about 340 of 1,770 user-space instructions per echoed message, callgrind). The pointer
// is the one TakeBound resolved for the read, used within this call with no JavaScript between.
napi_value JsEchoBound(napi_env env, napi_callback_info info) {
  Instance* inst = InstanceOf(env, info);
  Entry* e;
  uint8_t* data;
  size_t len;
  volatile double* args = inst->io_args;
  args[kArgWritten] = NAN;
  if (!TakeBound(env, inst, kReadBuffer, 1, &e, &data, &len)) return nullptr;
  // Taken before the read: the bound view may be on any shared memory, ioArgs' own included, so
  // the bytes read may land on these slots; what JS asked for is what it stored before the call.
  const bool write_back = args[kArgWriteBack] != 0;
  const ssize_t n = e->ring_io != nullptr ? RingRead(e->ring_io, data, len) : Read(e->raw_fd(), data, len);
  double written = NAN;
  if (n > 0 && write_back) {
    const size_t k = static_cast<size_t>(n);
    written = static_cast<double>(e->ring_io != nullptr ? RingWrite(e->ring_io, data, k) : Write(e->raw_fd(), data, k, e->is_socket()));
  }
  args[kArgResult] = static_cast<double>(n);
  args[kArgWritten] = written;
  args[kArgStatus] = kStatusDone;
  return nullptr;
}

// The Float64Array of kIoArgCount numbers that JS fills before readBound / writeBound, on shared
// memory (see SharedView): it cannot be transferred or shrunk, so `io_args` stays valid for as
// long as the reference holds it.
napi_value MakeIoArgs(napi_env env, Instance* inst) {
  napi_value arr;
  void* data;
  if (!SharedView(env, "Float64Array", napi_float64_array, kIoArgCount, &arr, &data) ||
      napi_create_reference(env, arr, 1, &inst->io_args_ref) != napi_ok) {
    return nullptr;
  }
  inst->io_args = static_cast<volatile double*>(data);
  return arr;
}

}  // namespace polled
