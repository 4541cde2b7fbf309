// Syscalls on sockets and pipes. Plain POSIX, no N-API: every function returns >= 0 or -errno,
// and every fd it creates is non-blocking, close-on-exec and handed over in an Fd.
#pragma once

#include <errno.h>
#include <sys/socket.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>

#include "contract.h"
#include "poller.h"

namespace polled {

// A socket address as JS sees it: family 4 or 6 with a numeric host, or 0 (unix) with the path.
struct Addr {
  char host[sizeof(sockaddr_un::sun_path) + 1];
  int port;
  int family;
};

// `flags`: kReuseAddr | kReusePort | kV6Only (contract.h).
// A non-blocking, close-on-exec socket of `type` (SOCK_STREAM, SOCK_DGRAM) in `*out`: 0 or -errno.
int OpenSocket(int domain, int type, Fd* out);
int SetOpt(int fd, int level, int name, int value);
// A numeric IPv4 or IPv6 address and a port; -EINVAL for anything else (names are resolved in JS).
int IpAddr(const char* host, int port, sockaddr_storage* ss, socklen_t* len);

int TcpListen(const char* host, int port, int backlog, int flags, Fd* out);
// `*in_progress` is set when the connect goes on in the background (wait for WRITABLE).
int TcpConnect(const char* host, int port, Fd* out, bool* in_progress);
int UnixListen(const char* path, int backlog, Fd* out);
int UnixConnect(const char* path, Fd* out, bool* in_progress);
int Accept(int listener, Fd* out);
int SocketError(int fd);
// Connections waiting in a listening TCP socket's accept queue (Linux: TCP_INFO's tcpi_unacked on
// a listener); -ENOTSUP where the platform does not say.
int AcceptQueueLength(int fd);
int LocalAddr(int fd, Addr* out);
int PeerAddr(int fd, Addr* out);
int SetNoDelay(int fd, bool on);
int SetKeepAlive(int fd, bool on, int delay_sec);
// `how`: kShutRd, kShutWr or kShutRdwr (contract.h), mapped to the platform's SHUT_*.
int Shutdown(int fd, int how);
int Pipe(Fd* read_end, Fd* write_end);

// The hot path: inline, one syscall each. EINTR is retried here so that JS never sees it.
#if defined(MSG_NOSIGNAL)
constexpr int kSendFlags = MSG_NOSIGNAL;  // EPIPE instead of SIGPIPE
#else
constexpr int kSendFlags = 0;  // macOS: the socket has SO_NOSIGPIPE instead
#endif

// The byte path's two syscalls. On Linux through syscall(2), not glibc's read() / send(): those
// are pthread cancellation points and switch asynchronous cancellation on and off around every
// call (about 60 of the ~2,400 user-space instructions of an echoed message); no thread of ours
// is ever cancelled, so that work buys nothing.
#if defined(__linux__)
inline ssize_t SysRead(int fd, void* buf, size_t len) { return ::syscall(SYS_read, fd, buf, len); }
inline ssize_t SysSend(int fd, const void* buf, size_t len) {
  return ::syscall(SYS_sendto, fd, buf, len, kSendFlags, nullptr, 0);
}
inline ssize_t SysWrite(int fd, const void* buf, size_t len) { return ::syscall(SYS_write, fd, buf, len); }
#else
inline ssize_t SysRead(int fd, void* buf, size_t len) { return ::read(fd, buf, len); }
inline ssize_t SysSend(int fd, const void* buf, size_t len) { return ::send(fd, buf, len, kSendFlags); }
inline ssize_t SysWrite(int fd, const void* buf, size_t len) { return ::write(fd, buf, len); }
#endif

inline ssize_t Read(int fd, void* buf, size_t len) {
  ssize_t r;
  do r = SysRead(fd, buf, len);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

inline ssize_t Write(int fd, const void* buf, size_t len, bool is_socket) {
  ssize_t r;
  do r = is_socket ? SysSend(fd, buf, len) : SysWrite(fd, buf, len);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

inline ssize_t Writev(int fd, const iovec* iov, int count, bool is_socket) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = count;
  ssize_t r;
  do r = is_socket ? ::sendmsg(fd, &msg, kSendFlags) : ::writev(fd, iov, count);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

}  // namespace polled
