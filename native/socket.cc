#include "socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <cstring>

namespace polled {

namespace {

// Where SOCK_NONBLOCK / accept4 / pipe2 are missing (macOS), the flags are set after the fact:
// nothing here forks, so the window before FD_CLOEXEC lands is harmless.
[[maybe_unused]] int SetNonblockCloexec(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return -errno;
  return 0;
}

// macOS has no MSG_NOSIGNAL: a socket that must never raise SIGPIPE says so itself.
int NoSigpipe([[maybe_unused]] int fd) {
#if defined(SO_NOSIGPIPE)
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) < 0) return -errno;
#endif
  return 0;
}

}  // namespace

// ---- Shared with bind_udp.cc (declared in socket.h) ----------------------------------------------

int OpenSocket(int domain, int type, Fd* out) {
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
  out->Reset(socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (out->get() < 0) return -errno;
#else
  out->Reset(socket(domain, type, 0));
  if (out->get() < 0) return -errno;
  if (int rc = SetNonblockCloexec(out->get())) return rc;
#endif
  return 0;
}

int SetOpt(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
}

// A numeric IPv4 or IPv6 address; anything else is -EINVAL (names are resolved in JS).
int IpAddr(const char* host, int port, sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof *ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof *v4;
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) != 1) return -EINVAL;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof *v6;
  }
#if defined(SIN6_LEN)  // BSD sockaddrs carry their own length
  ss->ss_len = static_cast<uint8_t>(*len);
#endif
  return 0;
}

namespace {

// A stream socket: non-blocking, close-on-exec, and never raising SIGPIPE.
int NewSocket(int domain, Fd* out) {
  if (int rc = OpenSocket(domain, SOCK_STREAM, out)) return rc;
  return NoSigpipe(out->get());
}

int UnixAddr(const char* path, sockaddr_un* sun, socklen_t* len) {
  size_t n = strlen(path);
  if (n == 0) return -EINVAL;
  if (n >= sizeof sun->sun_path) return -ENAMETOOLONG;  // room for the NUL
  memset(sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  memcpy(sun->sun_path, path, n);
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n + 1);
  return 0;
}

int Listen(Fd fd, const sockaddr* sa, socklen_t len, int backlog, Fd* out) {
  if (bind(fd.get(), sa, len) < 0 || listen(fd.get(), backlog) < 0) return -errno;
  *out = std::move(fd);
  return 0;
}

int Connect(Fd fd, const sockaddr* sa, socklen_t len, Fd* out, bool* in_progress) {
  *in_progress = false;
  if (connect(fd.get(), sa, len) < 0) {
    // EINTR: POSIX has the connect carry on in the background, as EINPROGRESS does.
    if (errno != EINPROGRESS && errno != EINTR) return -errno;
    *in_progress = true;
  }
  *out = std::move(fd);
  return 0;
}

int Name(int fd, bool peer, Addr* out) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  if ((peer ? getpeername(fd, sa, &len) : getsockname(fd, sa, &len)) < 0) return -errno;
  out->host[0] = '\0';
  out->port = 0;
  switch (ss.ss_family) {
    case AF_INET: {
      auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
      inet_ntop(AF_INET, &v4->sin_addr, out->host, sizeof out->host);
      out->port = ntohs(v4->sin_port);
      out->family = 4;
      return 0;
    }
    case AF_INET6: {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &v6->sin6_addr, out->host, sizeof out->host);
      out->port = ntohs(v6->sin6_port);
      out->family = 6;
      return 0;
    }
    case AF_UNIX: {
      // An unnamed socket (the connecting end) has an empty path.
      auto* sun = reinterpret_cast<sockaddr_un*>(&ss);
      size_t max = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
      size_t n = strnlen(sun->sun_path, std::min(max, sizeof sun->sun_path));
      memcpy(out->host, sun->sun_path, n);
      out->host[n] = '\0';
      out->family = 0;
      return 0;
    }
    default:
      return -EAFNOSUPPORT;
  }
}

}  // namespace

int TcpListen(const char* host, int port, int backlog, int flags, Fd* out) {
  sockaddr_storage ss;
  socklen_t len;
  Fd fd;
  int rc = IpAddr(host, port, &ss, &len);
  if (rc == 0) rc = NewSocket(ss.ss_family, &fd);
  if (rc == 0 && (flags & kReuseAddr)) rc = SetOpt(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1);
#if defined(SO_REUSEPORT)
  if (rc == 0 && (flags & kReusePort)) rc = SetOpt(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1);
#else
  if (rc == 0 && (flags & kReusePort)) rc = -ENOTSUP;
#endif
  if (rc == 0 && (flags & kV6Only) && ss.ss_family == AF_INET6) {
    rc = SetOpt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1);
  }
  if (rc < 0) return rc;
  return Listen(std::move(fd), reinterpret_cast<sockaddr*>(&ss), len, backlog, out);
}

int TcpConnect(const char* host, int port, Fd* out, bool* in_progress) {
  sockaddr_storage ss;
  socklen_t len;
  Fd fd;
  int rc = IpAddr(host, port, &ss, &len);
  if (rc == 0) rc = NewSocket(ss.ss_family, &fd);
  if (rc < 0) return rc;
  return Connect(std::move(fd), reinterpret_cast<sockaddr*>(&ss), len, out, in_progress);
}

int UnixListen(const char* path, int backlog, Fd* out) {
  sockaddr_un sun;
  socklen_t len;
  Fd fd;
  int rc = UnixAddr(path, &sun, &len);
  if (rc == 0) rc = NewSocket(AF_UNIX, &fd);
  if (rc < 0) return rc;
  return Listen(std::move(fd), reinterpret_cast<sockaddr*>(&sun), len, backlog, out);
}

int UnixConnect(const char* path, Fd* out, bool* in_progress) {
  sockaddr_un sun;
  socklen_t len;
  Fd fd;
  int rc = UnixAddr(path, &sun, &len);
  if (rc == 0) rc = NewSocket(AF_UNIX, &fd);
  if (rc < 0) return rc;
  return Connect(std::move(fd), reinterpret_cast<sockaddr*>(&sun), len, out, in_progress);
}

int Accept(int listener, Fd* out) {
  int fd;
#if defined(__APPLE__)
  do fd = accept(listener, nullptr, nullptr);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return -errno;
  out->Reset(fd);
  if (int rc = SetNonblockCloexec(fd)) return rc;
  return NoSigpipe(fd);
#else
  do fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return -errno;
  out->Reset(fd);
  return 0;
#endif
}

int SocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
  return -err;
}

int AcceptQueueLength(int fd) {
#if defined(__linux__)
  // For a socket in LISTEN state the kernel reports the accept queue in tcpi_unacked (and the
  // backlog limit in tcpi_sacked): what close() is about to reset.
  struct tcp_info info;
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0) return -errno;
  if (info.tcpi_state != TCP_LISTEN) return -EINVAL;
  return static_cast<int>(info.tcpi_unacked);
#else
  (void)fd;
  return -ENOTSUP;
#endif
}

int LocalAddr(int fd, Addr* out) { return Name(fd, false, out); }
int PeerAddr(int fd, Addr* out) { return Name(fd, true, out); }

int SetNoDelay(int fd, bool on) { return SetOpt(fd, IPPROTO_TCP, TCP_NODELAY, on); }

int SetKeepAlive(int fd, bool on, int delay_sec) {
  int rc = SetOpt(fd, SOL_SOCKET, SO_KEEPALIVE, on);
  if (rc < 0 || !on || delay_sec <= 0) return rc;
#if defined(TCP_KEEPIDLE)
  return SetOpt(fd, IPPROTO_TCP, TCP_KEEPIDLE, delay_sec);
#else
  return SetOpt(fd, IPPROTO_TCP, TCP_KEEPALIVE, delay_sec);  // macOS spelling
#endif
}

int Shutdown(int fd, int how) {
  // Indexed by contract.h's kShutRd, kShutWr, kShutRdwr: the platform's values need not match.
  static constexpr int kHow[] = {SHUT_RD, SHUT_WR, SHUT_RDWR};
  static_assert(kShutRd == 0 && kShutWr == 1 && kShutRdwr == 2, "kHow is indexed by the contract's values");
  return shutdown(fd, kHow[how]) < 0 ? -errno : 0;
}

int Pipe(Fd* read_end, Fd* write_end) {
  int fds[2];
#if defined(__APPLE__)
  if (pipe(fds) < 0) return -errno;
  read_end->Reset(fds[0]);
  write_end->Reset(fds[1]);
  if (int rc = SetNonblockCloexec(fds[0])) return rc;
  return SetNonblockCloexec(fds[1]);
#else
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return -errno;
  read_end->Reset(fds[0]);
  write_end->Reset(fds[1]);
  return 0;
#endif
}

}  // namespace polled
