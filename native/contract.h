// The numbers JavaScript and the addon must agree on, in one place.
//
// This header is the source of truth; lib/native.ts states the same constants under the same
// names in SCREAMING_SNAKE_CASE (kReadable = READABLE, kArgHandle = ARG_HANDLE, kV6Only =
// V6_ONLY), and test/contract.test.ts parses both files and fails on any difference in names or
// values. So the format is strict: one `constexpr <type> k<Name> = <decimal or hex literal>;` per
// line, nothing computed, and no other constexpr here. No other native file defines these names.
#pragma once

#include <cstdint>

namespace polled {

// ---- Readiness and interest bits ----------------------------------------------------------------
// In the events batch's (token, bits) pairs, and in pollerAdd / pollerModify's interest.
constexpr uint32_t kReadable = 1;
constexpr uint32_t kWritable = 2;
// Reported, never requested: the peer hung up (EPOLLHUP / EPOLLRDHUP, EV_EOF), an error is pending.
constexpr uint32_t kHangup = 4;
constexpr uint32_t kError = 8;

// ---- Tokens the poller reports for itself -----------------------------------------------------
// User registrations stay below kReservedTokens (pollerAdd refuses the rest).
constexpr uint32_t kNotifyToken = 0xffffffff;
constexpr uint32_t kTimerToken = 0xfffffffe;
// The thread's own libuv loop has work: reported while Poller::WatchLoop is on (blockOn).
constexpr uint32_t kLoopToken = 0xfffffffd;
constexpr uint32_t kReservedTokens = 0xfffffff0;

// ---- pollerCreate(kind) ---------------------------------------------------------------------------
// Readiness is the build's epoll or kqueue; uring is io_uring (poller_uring.h), where built.
constexpr uint32_t kPollerReadiness = 0;
constexpr uint32_t kPollerUring = 1;
// pollerCreate(kPollerUring, recv): how the ring reads streams. Default: multishot recv into
// provided buffers where the kernel has it (6.0+), else single-shot; Multishot: that or fail.
// (lib/io-backend.ts maps POLLED_URING_RECV to these: JS reads the environment, so that a
// process.env set in JS, which need not reach the C environment, means what it says.)
constexpr uint32_t kUringRecvDefault = 0;
constexpr uint32_t kUringRecvSingle = 1;
constexpr uint32_t kUringRecvMultishot = 2;

// ---- tcpListen flags ------------------------------------------------------------------------------
constexpr uint32_t kReuseAddr = 1;  // SO_REUSEADDR
constexpr uint32_t kReusePort = 2;  // SO_REUSEPORT
constexpr uint32_t kV6Only = 4;     // IPV6_V6ONLY

// ---- shutdown(handle, how) ------------------------------------------------------------------------
// The addon maps them to the platform's SHUT_* (socket.cc), whatever values those have.
constexpr uint32_t kShutRd = 0;
constexpr uint32_t kShutWr = 1;
constexpr uint32_t kShutRdwr = 2;

// ---- Bound buffers: which of a handle's two (bindBuffer's `slot`) -------------------------------
using BufferSlot = uint32_t;
constexpr BufferSlot kReadBuffer = 0;
constexpr BufferSlot kWriteBuffer = 1;

// ---- ioArgs: the argument block of readBound / writeBound / echoBound -----------------------------
// A Float64Array of kIoArgCount numbers the addon makes on shared memory (bind_io.cc). JS stores
// handle, offset and length, calls readBound() / writeBound(), then reads status and result.
// echoBound also reads kArgWriteBack and, after a read that got bytes, writes kArgWritten.
constexpr uint32_t kArgHandle = 0;  // in: the handle
constexpr uint32_t kArgOffset = 1;  // in: where in the bound view the range starts
constexpr uint32_t kArgLength = 2;  // in: how many bytes
constexpr uint32_t kArgResult = 3;  // out: bytes (0 = end of stream for a read) or -errno; NaN unless done
constexpr uint32_t kArgStatus = 4;  // out: one of the kStatus* values below
constexpr uint32_t kArgWriteBack = 5;  // in (echoBound): nonzero to send the bytes read back at once
constexpr uint32_t kArgWritten = 6;  // out (echoBound): bytes sent back or -errno; NaN when none was tried
constexpr uint32_t kIoArgCount = 7;

// ioArgs[kArgStatus]. A status of its own rather than a sentinel errno in the result: any errno
// (-EFAULT included) can be a real answer of the syscall, while "not bound" never is.
// Done: the call ran; the result is the syscall's bytes or -errno (-EBADF for a dead handle).
constexpr uint32_t kStatusDone = 0;
// Nothing is bound in that slot, the range (offset, length) is not integers inside the bound view,
// or the bound ArrayBuffer was detached or shrunk since: no syscall was made. The caller unbinds and
// takes the general read / write path, which reports what is wrong with the buffer.
constexpr uint32_t kStatusNotBound = 1;

// ---- The blocking pool (pool.h): where a job that makes several syscalls failed ------------------
// A failed job's result is -(step * kPoolStep + errno): step 0 is its first syscall (readFile's
// open), 1 the next (its fstat), and so on; lib/fs.ts names the syscall from the step.
constexpr uint32_t kPoolStep = 65536;
// ---- channelInfo's flags (thread channels, channel.h) ---------------------------------------------
// The receiver is closed or gone: every send fails.
constexpr uint32_t kChannelRxGone = 1;
// Nothing is queued and nothing more can come: a recv says closed.
constexpr uint32_t kChannelEnded = 2;

// ---- UDP (bind_udp.cc; lib/net/udp.ts) ----------------------------------------------------------
// udpMeta: a Uint32Array of kUdpBatch records of kUdpStride numbers, on shared memory. A receive
// writes datagram i's full length, flags and sender into record i; a send reads datagram i's
// length and destination from record i (family 0: the connected peer). Record 0 serves the
// single calls. The address is four host-order words (IPv4: the first only), then the scope id.
constexpr uint32_t kUdpLength = 0;
constexpr uint32_t kUdpFlags = 1;
constexpr uint32_t kUdpFamily = 2;
constexpr uint32_t kUdpPort = 3;
constexpr uint32_t kUdpAddr = 4;
constexpr uint32_t kUdpScope = 8;
constexpr uint32_t kUdpStride = 9;
// The most datagrams one udpRecvMany / udpSendMany moves.
constexpr uint32_t kUdpBatch = 64;
// Record flags: the datagram was longer than its buffer (MSG_TRUNC).
constexpr uint32_t kUdpTruncated = 1;
// udpSetOption's options.
constexpr uint32_t kUdpOptBroadcast = 0;
constexpr uint32_t kUdpOptTtl = 1;
constexpr uint32_t kUdpOptMulticastLoop = 2;
constexpr uint32_t kUdpOptMulticastTtl = 3;

}  // namespace polled
