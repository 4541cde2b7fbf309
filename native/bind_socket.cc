// The N-API functions of handles and sockets: closing and inspecting handles, pipes, TCP and Unix
// listen / connect / accept, addresses, socket options and shutdown. The syscalls are socket.cc's;
// this file converts arguments, opens handles for new fds, and shapes results. None of it is on
// the per-message path (that is bind_io.cc).
#include <errno.h>
#include <limits.h>

#include "args.h"
#include "bindings.h"
#include "ring.h"
#include "socket.h"

namespace polled {

namespace {

// A result of more than one value: a fresh array of `items` (lib/native.ts, "Results", says why
// returned arrays rather than out-parameters). Null with an exception pending if it could not be
// made (setting an element can run a setter that a script put on Array.prototype).
template <size_t N>
napi_value Tuple(napi_env env, const napi_value (&items)[N]) {
  napi_value arr;
  if (napi_create_array_with_length(env, N, &arr) != napi_ok) return nullptr;
  for (size_t i = 0; i < N; i++) {
    if (napi_set_element(env, arr, static_cast<uint32_t>(i), items[i]) != napi_ok) return nullptr;
  }
  return arr;
}

napi_value Bool(napi_env env, bool v) {
  napi_value r;
  napi_get_boolean(env, v, &r);
  return r;
}

// The handle of a freshly opened fd, or -errno: `rc` from the syscall, -EMFILE from the table.
napi_value Opened(napi_env env, Instance* inst, int rc, Kind kind, Fd fd) {
  return Number(env, rc < 0 ? rc : inst->handles.Open(kind, std::move(fd)));
}

// A connect's result: [handle, inProgress], or -errno. The handle is closed again if the array
// cannot be made, so that no handle exists that JavaScript was never given.
napi_value Connected(napi_env env, Instance* inst, int rc, bool in_progress, Fd fd) {
  if (rc < 0) return Int(env, rc);
  double h = inst->handles.Open(Kind::kSocket, std::move(fd));
  if (h < 0) return Number(env, h);
  napi_value r = Tuple(env, {Number(env, h), Bool(env, in_progress)});
  if (r == nullptr) inst->handles.Close(h);
  return r;
}

template <bool peer>
napi_value AddrOf(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  bool threw;
  int fd = GetFd(env, a.inst, a.argv[0], &threw);
  if (threw) return nullptr;
  Addr addr;
  int rc = fd < 0 ? fd : peer ? PeerAddr(fd, &addr) : LocalAddr(fd, &addr);
  if (rc < 0) return Int(env, rc);
  napi_value host;
  napi_create_string_utf8(env, addr.host, NAPI_AUTO_LENGTH, &host);
  return Tuple(env, {host, Int(env, addr.port), Int(env, addr.family)});
}

}  // namespace

// ---- Handles ------------------------------------------------------------------------------------

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

// [readHandle, writeHandle], or -errno. Neither handle outlives a failure to return both.
napi_value JsPipe(napi_env env, napi_callback_info info) {
  Args<0> a(env, info);
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
  napi_value result = Tuple(env, {Number(env, rh), Number(env, wh)});
  if (result == nullptr) {
    a.inst->handles.Close(rh);
    a.inst->handles.Close(wh);
  }
  return result;
}

// ---- Sockets ------------------------------------------------------------------------------------

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
  return Opened(env, a.inst, rc, Kind::kSocket, std::move(fd));
}

napi_value JsTcpConnect(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  char host[64];
  int err;
  int64_t port;
  if (!GetString(env, a.argv[0], "host", host, &err) ||
      !GetInt(env, a.argv[1], "port", 0, 65535, &port)) {
    return nullptr;
  }
  if (err < 0) return Int(env, -EINVAL);
  Fd fd;
  bool in_progress = false;
  int rc = TcpConnect(host, static_cast<int>(port), &fd, &in_progress);
  return Connected(env, a.inst, rc, in_progress, std::move(fd));
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
  return Opened(env, a.inst, rc, Kind::kSocket, std::move(fd));
}

napi_value JsUnixConnect(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  char path[sizeof(sockaddr_un::sun_path)];
  int err;
  if (!GetString(env, a.argv[0], "path", path, &err)) return nullptr;
  if (err < 0) return Int(env, err);
  Fd fd;
  bool in_progress = false;
  int rc = UnixConnect(path, &fd, &in_progress);
  return Connected(env, a.inst, rc, in_progress, std::move(fd));
}

napi_value JsAccept(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  double h;
  if (!GetNumber(env, a.argv[0], "listener", &h)) return nullptr;
  Entry* e = a.inst->handles.Get(h);
  if (e == nullptr) return Int(env, -EBADF);
  Fd fd;
  // A ring listener: the next fd its multishot accept queued.
  int rc = e->ring_io != nullptr ? RingAccept(e->ring_io, &fd) : Accept(e->raw_fd(), &fd);
  return Opened(env, a.inst, rc, Kind::kSocket, std::move(fd));
}

napi_value JsSocketError(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  bool threw;
  int fd = GetFd(env, a.inst, a.argv[0], &threw);
  if (threw) return nullptr;
  return Int(env, fd < 0 ? fd : SocketError(fd));
}

napi_value JsAcceptQueueLength(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  bool threw;
  int fd = GetFd(env, a.inst, a.argv[0], &threw);
  if (threw) return nullptr;
  return Int(env, fd < 0 ? fd : AcceptQueueLength(fd));
}

napi_value JsLocalAddr(napi_env env, napi_callback_info info) { return AddrOf<false>(env, info); }
napi_value JsPeerAddr(napi_env env, napi_callback_info info) { return AddrOf<true>(env, info); }

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
  double h;
  int64_t how;
  if (!GetNumber(env, a.argv[0], "handle", &h) ||
      !GetInt(env, a.argv[1], "how", kShutRd, kShutRdwr, &how)) {
    return nullptr;
  }
  Entry* e = a.inst->handles.Get(h);
  if (e == nullptr) return Int(env, -EBADF);
  // A ring stream's write side waits for the bytes still in its send buffer (kShut* are SHUT_*'s
  // values on Linux, the only platform with a ring).
  if (e->ring_io != nullptr) return Int(env, RingShutdown(e->ring_io, static_cast<int>(how)));
  return Int(env, Shutdown(e->raw_fd(), static_cast<int>(how)));
}

}  // namespace polled
