// UDP: datagram sockets, their options, and the datagram I/O calls, single and batched.
//
// Addresses of datagrams travel through `udpMeta`, a Uint32Array of kUdpBatch records of
// kUdpStride numbers that this instance makes on shared memory at load (as ioArgs, bind_io.cc):
// a receive writes each datagram's full length, flags and sender (family, port, the address as
// four host-order words, the IPv6 scope id) into its record; a send reads each datagram's length
// and destination from its record (family 0: none, the socket's connected peer). So no string
// is made or parsed per datagram, and the addon writes into no memory of the caller's but the
// datagram buffers themselves. Shared memory can be written by another thread at any time: each
// field is read once (volatile) into a local and checked there.
//
// The memory rule of the batched calls (recvMany / sendMany): reading the buffer array's
// elements can run JavaScript (a getter), which could detach or shrink a buffer whose pointer
// was already taken, or close the handle. So every element is read first, then the pointers are
// taken with calls that run no JavaScript, then the handle is looked up, then the syscall.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>

#include "args.h"
#include "bindings.h"
#include "socket.h"

namespace polled {

namespace {

// ---- Syscalls (plain POSIX: >= 0 or -errno) -----------------------------------------------------

int Family(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return -errno;
  return ss.ss_family;
}

// ---- Records of udpMeta ---------------------------------------------------------------------------

// The sender `ss` (`len` bytes of it) into record `rec`: family 4 / 6 with port, words and scope,
// or family 0 when the kernel gave no address.
void StoreAddr(volatile uint32_t* rec, const sockaddr_storage& ss, socklen_t len) {
  if (ss.ss_family == AF_INET && len >= sizeof(sockaddr_in)) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
    rec[kUdpFamily] = 4;
    rec[kUdpPort] = ntohs(v4->sin_port);
    rec[kUdpAddr] = ntohl(v4->sin_addr.s_addr);
    rec[kUdpAddr + 1] = 0;
    rec[kUdpAddr + 2] = 0;
    rec[kUdpAddr + 3] = 0;
    rec[kUdpScope] = 0;
  } else if (ss.ss_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    rec[kUdpFamily] = 6;
    rec[kUdpPort] = ntohs(v6->sin6_port);
    for (int i = 0; i < 4; i++) {
      uint32_t w;
      memcpy(&w, v6->sin6_addr.s6_addr + 4 * i, 4);
      rec[kUdpAddr + i] = ntohl(w);
    }
    rec[kUdpScope] = v6->sin6_scope_id;
  } else {
    rec[kUdpFamily] = 0;
    rec[kUdpPort] = 0;
  }
}

// The destination of record `rec` into `ss`: 1 when it names one, 0 for family 0 (the connected
// peer: no address), -EINVAL for another family or a port above 65535. Each field read once.
int LoadAddr(const volatile uint32_t* rec, sockaddr_storage* ss, socklen_t* len) {
  const uint32_t family = rec[kUdpFamily];
  const uint32_t port = rec[kUdpPort];
  if (family == 0) {
    *len = 0;
    return 0;
  }
  if (port > 65535 || (family != 4 && family != 6)) return -EINVAL;
  memset(ss, 0, sizeof *ss);
  if (family == 4) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    v4->sin_addr.s_addr = htonl(rec[kUdpAddr]);
    *len = sizeof *v4;
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    for (int i = 0; i < 4; i++) {
      uint32_t w = htonl(rec[kUdpAddr + i]);
      memcpy(v6->sin6_addr.s6_addr + 4 * i, &w, 4);
    }
    v6->sin6_scope_id = rec[kUdpScope];
    *len = sizeof *v6;
  }
#if defined(SIN6_LEN)
  ss->ss_len = static_cast<uint8_t>(*len);
#endif
  return 1;
}

// Linux reports a datagram's full length when asked with MSG_TRUNC (UDP since 2.6.8); elsewhere
// the flag in msg_flags says it was cut, and the full length is not known.
#if defined(__linux__)
constexpr int kRecvFlags = MSG_TRUNC;
#else
constexpr int kRecvFlags = 0;
#endif

// What one received datagram leaves in its record, from recvmsg's `r` (>= 0) into `cap` bytes.
// Returns the bytes stored in the buffer.
size_t StoreReceived(volatile uint32_t* rec, size_t r, size_t cap, int msg_flags,
                     const sockaddr_storage& ss, socklen_t namelen) {
  bool truncated = (msg_flags & MSG_TRUNC) != 0 || r > cap;
  size_t stored = std::min(r, cap);
  rec[kUdpLength] = static_cast<uint32_t>(r);  // the full length (Linux), else what was stored
  rec[kUdpFlags] = truncated ? kUdpTruncated : 0;
  StoreAddr(rec, ss, namelen);
  return stored;
}

ssize_t RecvOne(int fd, uint8_t* data, size_t len, volatile uint32_t* rec) {
  sockaddr_storage ss;
  iovec iov{data, len};
  msghdr msg{};
  msg.msg_name = &ss;
  msg.msg_namelen = sizeof ss;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t r;
  do r = recvmsg(fd, &msg, kRecvFlags);
  while (r < 0 && errno == EINTR);
  if (r < 0) return -errno;
  return static_cast<ssize_t>(
      StoreReceived(rec, static_cast<size_t>(r), len, msg.msg_flags, ss, msg.msg_namelen));
}

ssize_t SendOne(int fd, const uint8_t* data, size_t len, const sockaddr_storage* ss,
                socklen_t namelen) {
  iovec iov{const_cast<uint8_t*>(data), len};
  msghdr msg{};
  msg.msg_name = namelen > 0 ? const_cast<sockaddr_storage*>(ss) : nullptr;
  msg.msg_namelen = namelen;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t r;
  do r = sendmsg(fd, &msg, kSendFlags);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

// The buffers of a batched call, read in the two passes the memory rule asks for: first every
// element (which can run JavaScript), then their pointers (which runs none). False with an
// exception pending on a bad argument. `count` is checked against the array's length here.
bool GetBatch(napi_env env, napi_value arr, uint32_t start, napi_value count_v, uint8_t** data,
              size_t* len, uint32_t* count) {
  uint32_t length;
  bool is_array = false;
  if (napi_is_array(env, arr, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, arr, &length) != napi_ok) {
    Throw(env, false, "bufs", "an array of Uint8Array");
    return false;
  }
  int64_t n;
  if (!GetInt(env, count_v, "count", 1, kUdpBatch, &n)) return false;
  if (start > length || n > length - start) {
    Throw(env, true, "count", "at most bufs.length - start");
    return false;
  }
  *count = static_cast<uint32_t>(n);
  napi_value items[kUdpBatch];
  for (uint32_t i = 0; i < *count; i++) {
    if (napi_get_element(env, arr, start + i, &items[i]) != napi_ok) return false;
  }
  for (uint32_t i = 0; i < *count; i++) {
    char name[32];
    snprintf(name, sizeof name, "bufs[%u]", start + i);
    if (!GetTyped(env, items[i], name, napi_uint8_array, "a Uint8Array", &data[i], &len[i]) ||
        !CheckAttached(env, items[i], name, len[i])) {
      return false;
    }
  }
  return true;
}

}  // namespace

// ---- Sockets ------------------------------------------------------------------------------------

napi_value JsUdpBind(napi_env env, napi_callback_info info) {
  Args<3> a(env, info);
  char host[64];
  int err;
  int64_t port, flags;
  if (!GetString(env, a.argv[0], "host", host, &err) ||
      !GetInt(env, a.argv[1], "port", 0, 65535, &port) ||
      !GetInt(env, a.argv[2], "flags", 0, kReuseAddr | kReusePort | kV6Only, &flags)) {
    return nullptr;
  }
  if (err < 0) return Int(env, -EINVAL);
  sockaddr_storage ss;
  socklen_t len;
  Fd fd;
  int rc = IpAddr(host, static_cast<int>(port), &ss, &len);
  if (rc == 0) rc = OpenSocket(ss.ss_family, SOCK_DGRAM, &fd);
  if (rc == 0 && (flags & kReuseAddr)) rc = SetOpt(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1);
#if defined(SO_REUSEPORT)
  if (rc == 0 && (flags & kReusePort)) rc = SetOpt(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1);
#else
  if (rc == 0 && (flags & kReusePort)) rc = -ENOTSUP;
#endif
  if (rc == 0 && ss.ss_family == AF_INET6) {
    rc = SetOpt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, (flags & kV6Only) ? 1 : 0);
  }
  if (rc == 0 && bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) < 0) rc = -errno;
  if (rc < 0) return Int(env, rc);
  return Number(env, a.inst->handles.Open(Kind::kSocket, std::move(fd)));
}

napi_value JsUdpConnect(napi_env env, napi_callback_info info) {
  Args<3> a(env, info);
  bool threw;
  char host[64];
  int err;
  int64_t port;
  int fd = GetFd(env, a.inst, a.argv[0], &threw);
  if (threw || !GetString(env, a.argv[1], "host", host, &err) ||
      !GetInt(env, a.argv[2], "port", 0, 65535, &port)) {
    return nullptr;
  }
  if (fd < 0) return Int(env, fd);
  if (err < 0) return Int(env, -EINVAL);
  sockaddr_storage ss;
  socklen_t len;
  int rc = IpAddr(host, static_cast<int>(port), &ss, &len);
  if (rc == 0 && connect(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) rc = -errno;
  return Int(env, rc);
}

napi_value JsUdpSetOption(napi_env env, napi_callback_info info) {
  Args<3> a(env, info);
  bool threw;
  int64_t opt, value;
  int fd = GetFd(env, a.inst, a.argv[0], &threw);
  if (threw || !GetInt(env, a.argv[1], "option", kUdpOptBroadcast, kUdpOptMulticastTtl, &opt) ||
      !GetInt(env, a.argv[2], "value", 0, 255, &value)) {
    return nullptr;
  }
  if (fd < 0) return Int(env, fd);
  int v = static_cast<int>(value);
  if (opt == kUdpOptBroadcast) return Int(env, SetOpt(fd, SOL_SOCKET, SO_BROADCAST, v != 0));
  int family = Family(fd);
  if (family < 0) return Int(env, family);
  if (family == AF_INET6) {
    int name = opt == kUdpOptTtl             ? IPV6_UNICAST_HOPS
               : opt == kUdpOptMulticastTtl ? IPV6_MULTICAST_HOPS
                                             : IPV6_MULTICAST_LOOP;
    if (opt == kUdpOptMulticastLoop) v = v != 0;
    return Int(env, SetOpt(fd, IPPROTO_IPV6, name, v));
  }
  if (family != AF_INET) return Int(env, -EAFNOSUPPORT);
  if (opt == kUdpOptTtl) {
    if (v == 0) return Int(env, -EINVAL);  // IP_TTL takes 1..255
    return Int(env, SetOpt(fd, IPPROTO_IP, IP_TTL, v));
  }
  // The BSDs take the IPv4 multicast options as a byte; Linux takes either.
  unsigned char byte = static_cast<unsigned char>(opt == kUdpOptMulticastLoop ? v != 0 : v);
  int name = opt == kUdpOptMulticastTtl ? IP_MULTICAST_TTL : IP_MULTICAST_LOOP;
  return Int(env, setsockopt(fd, IPPROTO_IP, name, &byte, sizeof byte) < 0 ? -errno : 0);
}

napi_value JsUdpMembership(napi_env env, napi_callback_info info) {
  Args<4> a(env, info);
  bool threw, join;
  char group[64], iface[64];
  int gerr, ierr;
  int fd = GetFd(env, a.inst, a.argv[0], &threw);
  if (threw || !GetBool(env, a.argv[1], "join", &join) ||
      !GetString(env, a.argv[2], "group", group, &gerr) ||
      !GetString(env, a.argv[3], "iface", iface, &ierr)) {
    return nullptr;
  }
  if (fd < 0) return Int(env, fd);
  if (gerr < 0 || ierr < 0) return Int(env, -EINVAL);
  ip_mreq m4{};
  if (inet_pton(AF_INET, group, &m4.imr_multiaddr) == 1) {
    m4.imr_interface.s_addr = htonl(INADDR_ANY);
    if (iface[0] != '\0' && inet_pton(AF_INET, iface, &m4.imr_interface) != 1) return Int(env, -EINVAL);
    int name = join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP;
    return Int(env, setsockopt(fd, IPPROTO_IP, name, &m4, sizeof m4) < 0 ? -errno : 0);
  }
  ipv6_mreq m6{};
  if (inet_pton(AF_INET6, group, &m6.ipv6mr_multiaddr) != 1) return Int(env, -EINVAL);
  // The interface: '' for the default, an index ('2') or a name ('lo').
  if (iface[0] != '\0') {
    char* end;
    unsigned long idx = strtoul(iface, &end, 10);
    if (*end != '\0') idx = if_nametoindex(iface);
    if (idx == 0 || idx > UINT_MAX) return Int(env, -ENODEV);
    m6.ipv6mr_interface = static_cast<unsigned>(idx);
  }
  int name = join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP;
  return Int(env, setsockopt(fd, IPPROTO_IPV6, name, &m6, sizeof m6) < 0 ? -errno : 0);
}

// ---- Datagram I/O ---------------------------------------------------------------------------------

// udpRecvFrom(handle, buf, offset, length): one datagram into buf[offset, offset + length), its
// length, flags and sender into udpMeta's record 0. The bytes stored, or -errno. A length of 0 is
// allowed (a datagram may be empty, and 0 is no end of stream here).
napi_value JsUdpRecvFrom(napi_env env, napi_callback_info info) {
  Args<4> a(env, info);
  bool threw;
  uint8_t* data;
  size_t len;
  int fd = GetFd(env, a.inst, a.argv[0], &threw);
  if (threw || !GetBytes(env, a.argv + 1, false, &data, &len)) return nullptr;
  return Int(env, fd < 0 ? fd : RecvOne(fd, data, len, a.inst->udp_meta));
}

// udpSendTo(handle, buf, offset, length): one datagram of buf[offset, offset + length) to the
// destination in udpMeta's record 0 (family 0: the connected peer). Bytes or -errno.
napi_value JsUdpSendTo(napi_env env, napi_callback_info info) {
  Args<4> a(env, info);
  bool threw;
  uint8_t* data;
  size_t len;
  int fd = GetFd(env, a.inst, a.argv[0], &threw);
  if (threw || !GetBytes(env, a.argv + 1, false, &data, &len)) return nullptr;
  if (fd < 0) return Int(env, fd);
  sockaddr_storage ss;
  socklen_t namelen;
  int rc = LoadAddr(a.inst->udp_meta, &ss, &namelen);
  if (rc < 0) return Int(env, rc);
  return Int(env, SendOne(fd, data, len, &ss, namelen));
}

// udpRecvMany(handle, bufs, count): up to `count` (1..kUdpBatch, at most bufs.length) datagrams,
// datagram i into the whole of bufs[i] with its record i of udpMeta: one recvmmsg on Linux, a
// loop of recvmsg until EAGAIN elsewhere. The number received (>= 1), or -errno when none was.
napi_value JsUdpRecvMany(napi_env env, napi_callback_info info) {
  Args<3> a(env, info);
  double h;
  uint8_t* data[kUdpBatch];
  size_t len[kUdpBatch];
  uint32_t count;
  if (!GetNumber(env, a.argv[0], "handle", &h) ||
      !GetBatch(env, a.argv[1], 0, a.argv[2], data, len, &count)) {
    return nullptr;
  }
  Entry* e = a.inst->handles.Get(h);  // after the elements: a getter may have closed it
  if (e == nullptr) return Int(env, -EBADF);
  const int fd = e->raw_fd();
  volatile uint32_t* meta = a.inst->udp_meta;
#if defined(__linux__)
  mmsghdr msgs[kUdpBatch];
  iovec iov[kUdpBatch];
  sockaddr_storage names[kUdpBatch];
  memset(msgs, 0, sizeof(mmsghdr) * count);
  for (uint32_t i = 0; i < count; i++) {
    iov[i] = {data[i], len[i]};
    msgs[i].msg_hdr.msg_name = &names[i];
    msgs[i].msg_hdr.msg_namelen = sizeof names[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int r;
  do r = recvmmsg(fd, msgs, count, kRecvFlags, nullptr);
  while (r < 0 && errno == EINTR);
  if (r < 0) return Int(env, -errno);
  for (int i = 0; i < r; i++) {
    StoreReceived(meta + i * kUdpStride, msgs[i].msg_len, len[i], msgs[i].msg_hdr.msg_flags,
                  names[i], msgs[i].msg_hdr.msg_namelen);
  }
  return Int(env, r);
#else
  uint32_t got = 0;
  for (; got < count; got++) {
    ssize_t r = RecvOne(fd, data[got], len[got], meta + got * kUdpStride);
    if (r < 0) {
      if (got == 0) return Int(env, r);
      break;  // EAGAIN (or an error the next call reports): what was received is the answer
    }
  }
  return Int(env, got);
#endif
}

// udpSendMany(handle, bufs, start, count): datagram i (0 <= i < count) of the first bytes of
// bufs[start + i] (record i's length) to record i's destination: one sendmmsg on Linux, a loop of sendmsg elsewhere. The number sent
// (>= 1; fewer than `count` when the socket buffer filled), or -errno when none was.
napi_value JsUdpSendMany(napi_env env, napi_callback_info info) {
  Args<4> a(env, info);
  double h;
  int64_t start;
  uint8_t* data[kUdpBatch];
  size_t len[kUdpBatch];
  uint32_t count;
  if (!GetNumber(env, a.argv[0], "handle", &h) ||
      !GetInt(env, a.argv[2], "start", 0, UINT32_MAX, &start) ||
      !GetBatch(env, a.argv[1], static_cast<uint32_t>(start), a.argv[3], data, len, &count)) {
    return nullptr;
  }
  Entry* e = a.inst->handles.Get(h);
  if (e == nullptr) return Int(env, -EBADF);
  const int fd = e->raw_fd();
  const volatile uint32_t* meta = a.inst->udp_meta;
  sockaddr_storage names[kUdpBatch];
  socklen_t namelens[kUdpBatch];
  size_t lengths[kUdpBatch];
  for (uint32_t i = 0; i < count; i++) {
    const volatile uint32_t* rec = meta + i * kUdpStride;
    const size_t n = rec[kUdpLength];
    if (n > len[i]) return Int(env, -EINVAL);  // a record longer than its buffer
    lengths[i] = n;
    int rc = LoadAddr(rec, &names[i], &namelens[i]);
    if (rc < 0) return Int(env, rc);
  }
#if defined(__linux__)
  mmsghdr msgs[kUdpBatch];
  iovec iov[kUdpBatch];
  memset(msgs, 0, sizeof(mmsghdr) * count);
  for (uint32_t i = 0; i < count; i++) {
    iov[i] = {data[i], lengths[i]};
    msgs[i].msg_hdr.msg_name = namelens[i] > 0 ? &names[i] : nullptr;
    msgs[i].msg_hdr.msg_namelen = namelens[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int r;
  do r = sendmmsg(fd, msgs, count, kSendFlags);
  while (r < 0 && errno == EINTR);
  return Int(env, r < 0 ? -errno : r);
#else
  uint32_t sent = 0;
  for (; sent < count; sent++) {
    ssize_t r = SendOne(fd, data[sent], lengths[sent], &names[sent], namelens[sent]);
    if (r < 0) {
      if (sent == 0) return Int(env, r);
      break;
    }
  }
  return Int(env, sent);
#endif
}

// ---- The bound path: udpRecvBound / udpSendBound ------------------------------------------------
// As readBound / writeBound (bind_io.cc): no JS arguments; handle, offset and length come from
// ioArgs, the buffer is the one bound to the handle (bindBuffer: kReadBuffer for receives,
// kWriteBuffer for sends), looked up from its ArrayBuffer at each call, and the result and status
// go back through ioArgs. A range of 0 bytes is allowed (an empty datagram). Not bound, not
// covered, detached or shrunk: kStatusNotBound and no syscall (the caller takes udpRecvFrom /
// udpSendTo). The datagram's record is udpMeta's record 0, as for the general calls.

template <BufferSlot kSlot>
napi_value UdpBound(napi_env env, napi_callback_info info) {
  Instance* inst = InstanceOf(env, info);
  Entry* e;
  uint8_t* data;
  size_t len;
  if (!TakeBound(env, inst, kSlot, 0, &e, &data, &len)) return nullptr;  // 0 bytes: an empty datagram
  volatile double* args = inst->io_args;
  if constexpr (kSlot == kReadBuffer) {
    args[kArgResult] = static_cast<double>(RecvOne(e->raw_fd(), data, len, inst->udp_meta));
  } else {
    sockaddr_storage ss;
    socklen_t namelen;
    int rc = LoadAddr(inst->udp_meta, &ss, &namelen);
    args[kArgResult] = static_cast<double>(rc < 0 ? rc : SendOne(e->raw_fd(), data, len, &ss, namelen));
  }
  args[kArgStatus] = kStatusDone;
  return nullptr;
}

napi_value JsUdpRecvBound(napi_env env, napi_callback_info info) { return UdpBound<kReadBuffer>(env, info); }
napi_value JsUdpSendBound(napi_env env, napi_callback_info info) { return UdpBound<kWriteBuffer>(env, info); }

// The udpMeta Uint32Array (kUdpBatch records of kUdpStride) on shared memory; sets inst->udp_meta.
napi_value MakeUdpMeta(napi_env env, Instance* inst) {
  napi_value arr;
  void* data;
  if (!SharedView(env, "Uint32Array", napi_uint32_array, kUdpBatch * kUdpStride, &arr, &data) ||
      napi_create_reference(env, arr, 1, &inst->udp_meta_ref) != napi_ok) {
    return nullptr;
  }
  inst->udp_meta = static_cast<volatile uint32_t*>(data);
  return arr;
}

}  // namespace polled
