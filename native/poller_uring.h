// The io_uring backend (Linux, liburing): readiness emulated over completions, so that the
// reactor, its (token, bits) batches and every TypeScript future stay as they are.
//
// - The notifier (eventfd), the timer (timerfd), the loop watch and every handle the ring has no
//   better path for (pipes, UDP sockets) are multishot IORING_OP_POLL_ADDs: their CQEs are the
//   readiness epoll would report, and the existing syscall paths serve them.
// - Streams (connected TCP / Unix): one multishot recv per stream into a provided-buffer ring
//   the ring's streams share, capped per stream (BufCap). The first CQE since read() drained the
//   stream reports READABLE; read() then copies from those buffers (no syscall). The fallback,
//   when that ring runs dry (ENOBUFS), and the mode with POLLED_URING_RECV=single (pollerCreate's
//   `recv`) or on Linux before 6.0: a single-shot recv into a buffer the stream owns, armed when a
//   read finds nothing queued. A stream whose multishot stops at its cap reads as on epoll
//   (RingSource::direct_rd): recv(2) into the caller's memory within the call, a one-shot POLLIN.
//   write() copies into an addon-owned send buffer and queues an IORING_OP_SEND; past kSendCap
//   bytes in flight it says EAGAIN, and the send CQE that frees room reports WRITABLE. A large
//   write with nothing queued is a send(2) within the call instead (kDirectSend).
// - Listeners: multishot accept; accepted fds queue in the source until accept() pops one.
//
// No op in flight ever points at memory this file does not own, and a source's memory is freed
// only when the final CQE of each of its ops has arrived (RingSource::ops): a dropped future, a
// closed handle or a transferred JS buffer can never be written by the kernel. (The direct
// recv(2) / send(2) use the caller's pointer within the call only, as every epoll syscall does.)
#pragma once

#include <liburing.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <string.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "poller.h"

namespace polled {

// Bytes a stream has written that the kernel has yet to send: a plain growable array that keeps
// its capacity from one message to the next. A write is one memcpy (std::vector's range insert
// cost about 40 instructions more per echoed message), and running out of memory is an answer
// (Append says false: the write says ENOMEM), not an abort.
class SendBuf {
 public:
  SendBuf() = default;
  SendBuf(const SendBuf&) = delete;
  SendBuf& operator=(const SendBuf&) = delete;

  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }
  bool Append(const void* p, size_t n) {
    if (cap_ - size_ < n && !Grow(n)) return false;
    memcpy(data_.get() + size_, p, n);
    size_ += n;
    return true;
  }
  void swap(SendBuf& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(cap_, o.cap_);
  }

 private:
  bool Grow(size_t n);  // room for n more bytes, keeping the ones held

  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0, cap_ = 0;
};

// One registered handle. user_data of its ops is the source's address with the op in the low
// 3 bits; a source lives (retired, if its handle is closed) until `ops` is 0, so a late CQE
// always finds it, and never a handle or fd that reused its number.
class RingSource {
 public:
  enum class Mode : uint8_t { kPoll, kStream, kListener };
  RingSource(Ring* r, Mode m, int f, uint32_t t, RingSource** s) : ring(r), mode(m), fd(f), token(t), slot(s) {}

  Ring* const ring;
  const Mode mode;
  const int fd;
  const uint32_t token;
  RingSource** slot;  // the Entry's pointer to this source; cleared when it stops using it
  uint32_t ops = 0;   // ops submitted whose final CQE has not come
  bool retired = false;
  Fd owned;  // after the handle closed: the fd, closed with the source (never reused meanwhile)

  bool poll_armed = false;   // kPoll: the multishot poll
  bool wpoll_armed = false;  // kStream, connecting: a one-shot POLLOUT (connect's WRITABLE)

  // kStream, receiving: rbuf[rhead, rtail) is queued for read(); recv writes at rtail.
  std::unique_ptr<uint8_t[]> rbuf;
  uint32_t rhead = 0, rtail = 0;
  bool recv_armed = false, eof = false;
  int rerr = 0;
  uint32_t recv_stale = 0;  // recvs taken back by Busy() whose -ECANCELED CQE is still to come

  // kStream, multishot recv (the default; not with POLLED_URING_RECV=single): the CQEs' provided buffers, queued in
  // arrival order for read() and given back to the ring once their bytes are copied out. They
  // are older than anything in rbuf, which only a single-shot recv fills (the fallback when the
  // shared ring ran dry: ENOBUFS).
  struct Chunk {
    uint32_t bid, off, len;
    uint32_t unused;  // 16 bytes: counting chunks (held(), size()) is a shift, not a division by 12
  };
  std::vector<Chunk> chunks;
  size_t chead = 0;
  uint8_t recv_op = 0;       // the armed recv's op (kOpRecv, kOpRecvMulti, kOpRecvPoll)
  bool recv_cancel = false;  // it is being cancelled: this stream holds its BufCap() of buffers
  bool starved = false;      // its multishot ended with ENOBUFS: the next recv is single-shot
  // A bulk stream (its multishot was stopped at the cap) reads its socket with recv(2) straight
  // into the caller's memory, within the call, as on epoll, after the bytes it still holds:
  // one syscall per read, where the provided buffers cost a copy of every byte and a CQE per
  // 4 KiB. What it arms is a one-shot POLLIN; a read that drains some bytes, but less than a
  // cap's worth, goes back to the multishot recv (an empty one says nothing of the stream).
  bool direct_rd = false;
  size_t held() const { return chunks.size() - chead; }

  // kStream, sending: `sending[sent..]` is in the kernel's hands (one SEND at a time, so bytes go
  // out in order); `staged` collects writes meanwhile and is swapped in when the send is done.
  SendBuf sending, staged;
  size_t sent = 0;
  bool send_armed = false, want_writable = false, shut_wr = false;
  bool wr_shut = false;  // shutdown(SHUT_WR) was asked (done, or waiting in shut_wr): writes say EPIPE
  int serr = 0;  // a send's error, returned by every later write (as SO_ERROR would be)
  size_t queued_send() const { return sending.size() - sent + staged.size(); }

  // kListener: accepted[ahead..] wait for accept().
  std::vector<Fd> accepted;
  size_t ahead = 0;
  bool accept_armed = false;
  int aerr = 0;

  RingSource* prev = nullptr;
  RingSource* next = nullptr;
};

// What a ring's streams did that a readiness poller has no word for: counted for the tests and
// for anyone asking why a stream costs what it does (pollerRingStats).
struct RingStats {
  double cap_stops = 0;     // multishot recvs stopped at a stream's buffer cap
  double direct_reads = 0;  // recv(2) calls of direct readers (bulk streams)
  double direct_sends = 0;  // send(2) calls of large writes with nothing queued
  double back_to_multishot = 0;  // direct readers that went back to the shared buffers
};

class Ring {
 public:
  // Recv buffer per stream: also the cap on bytes queued for a reader that does not read.
  static constexpr uint32_t kRecvBuf = 16 * 1024;
  // Bytes a stream may have written and not yet sent before write() says EAGAIN.
  static constexpr size_t kSendCap = 64 * 1024;
  // Accepted connections held for accept(); beyond, the multishot accept is cancelled and the
  // kernel's backlog holds the rest, as it does for a readiness listener.
  static constexpr size_t kAcceptCap = 1024;
  // The provided-buffer ring of the multishot recv, shared by every stream of this ring: kBufCount
  // buffers of kBufSize bytes. A stream holding BufCap() of them (its reader does not keep up) has
  // its multishot cancelled, so that it cannot drain the ring for the others; its next read
  // re-arms. The cap is a share of the buffers still free (1 / kBufShare of them, between
  // kBufCap and kBufCapMax): with the ring mostly free, a bulk stream takes in up to 128 KiB
  // between two of its reads (at a fixed 16 KiB, every turn of a bulk echo ended in a cancel and
  // a re-arm, and the ring path cost 2.3x the C server's CPU per MB); as streams that do not
  // read hold more of the ring, each one's cap falls back to kBufCap.
  static constexpr uint32_t kBufCount = 1024;  // a power of two
  static constexpr uint32_t kBufSize = 4096;
  static constexpr size_t kBufCap = 4;
  static constexpr size_t kBufCapMax = 32;
  static constexpr uint32_t kBufShare = 16;
  static constexpr uint16_t kBufGroup = 0;
  // A write of at least this many bytes with nothing queued before it is sent at once, with a
  // send(2) from the caller's memory within the call (as on epoll), and only what the socket does
  // not take is copied into the send buffer. At this size the copy into the send buffer costs
  // more than the syscall it would save; the small writes, where the syscall is the cost, still
  // go out together at the turn's one enter.
  static constexpr size_t kDirectSend = 16 * 1024;

  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring();

  int Open(uint32_t recv);  // recv: kUringRecv* (contract.h)
  int fd() const { return ring_.ring_fd; }
  const RingStats& stats() const { return stats_; }

  int Wait(double timeout_ms, uint32_t* out, size_t batch);
  void Flush();
  int Notify();
  int ArmTimer(double delay_ms);
  int DisarmTimer();
  int WatchLoop(int fd);
  int UnwatchLoop();

  // A source for `fd` under `token`: a stream or a listener (stored in *io_slot), or a polled
  // fd (*poll_slot).
  int Add(int fd, bool is_socket, uint32_t token, RingSource** io_slot, RingSource** poll_slot);
  // The handle stops using `s`: its ops are cancelled and it is freed once their CQEs are in.
  // `fd`, when given (the handle is closing), moves into the source and is closed with it.
  void Remove(RingSource* s, Fd* fd);

  ssize_t Read(RingSource* s, uint8_t* data, size_t len);
  ssize_t Write(RingSource* s, const iovec* iov, int count);
  int Accept(RingSource* s, Fd* out);
  int Shutdown(RingSource* s, int how);
  // Whether the source holds bytes or ops that would be lost if its fd moved to another thread.
  // Tries to take back a recv a dropped read left armed (a synchronous cancel).
  bool Busy(RingSource* s);

 private:
  io_uring_sqe* Sqe();
  void Submit(RingSource* s, io_uring_sqe* sqe, uint64_t op);
  void Cancel(uint64_t user_data);
  bool ArmPoll(RingSource* s);
  bool ArmRecv(RingSource* s);
  // Whether a stream with nothing armed should have a recv: its reader can take more.
  bool WantRecv(const RingSource* s) const;
  __attribute__((noinline)) void ReadDrained(RingSource* s);
  // A direct reader's recv(2) into data[*n, len), after the queued bytes: true if it filled the
  // read (the socket may hold more); false when drained, at the end, or failed (eof / rerr set).
  __attribute__((noinline)) bool ReadDirect(RingSource* s, uint8_t* data, size_t len, size_t* n);
  int CompleteRecvMulti(RingSource* s, int32_t res, uint32_t flags, bool more, uint32_t* out);
  int SetupBufRing();
  __attribute__((always_inline)) void ReturnBuf(uint32_t bid);
  // Provided buffers a stream may hold before its multishot recv is cancelled (see kBufShare).
  size_t BufCap() const {
    const size_t share = (kBufCount - bufs_out_) / kBufShare;
    return share < kBufCap ? kBufCap : share > kBufCapMax ? kBufCapMax : share;
  }
  void ReleaseChunks(RingSource* s);
  void StartSend(RingSource* s);
  __attribute__((noinline)) ssize_t WriteDirect(RingSource* s, const iovec* iov, int count, size_t want);
  __attribute__((always_inline)) ssize_t WriteQueued(RingSource* s, const iovec* iov, int count, size_t queued,
                                                     size_t skip);
  bool ArmAccept(RingSource* s);
  bool ArmFdPoll(int fd, uint64_t user_data, unsigned mask);
  int Reap(uint32_t* out, size_t batch);
  // CQEs copied out of the CQ at a time by Reap (on its stack).
  static constexpr size_t kReapChunk = 64;
  // One CQE: writes at most one (token, bits) pair at `out`; returns how many.
  int Complete(uint64_t user_data, int32_t res, uint32_t flags, uint32_t* out);
  // Kept out of line, as ReadDrained is: inlined, their rare paths would cost the hot caller's
  // prologue registers at every CQE / read.
  __attribute__((noinline)) int CompleteReserved(uint64_t user_data, int32_t res, uint32_t flags, uint32_t* out);
  int CompleteSource(RingSource* s, uint64_t op, int32_t res, bool more, uint32_t* out);
  void MaybeFree(RingSource* s);

  // The provided buffers' memory: the ring of descriptors (page-aligned, mmap'd) and the buffers.
  // Members, so freed after ~Ring's io_uring_queue_exit: the kernel is done with them by then.
  struct BufMem {
    void* ring = nullptr;
    size_t ring_len = 0;
    std::unique_ptr<uint8_t[]> data;
    ~BufMem();
  };
  BufMem bufmem_;
  io_uring_buf_ring* br_ = nullptr;  // non-null: multishot recv is on
  uint8_t* bufs_ = nullptr;
  uint32_t bufs_out_ = 0;  // provided buffers the kernel has filled and the ring has not got back
  RingStats stats_;

  io_uring ring_{};
  bool open_ = false;
  bool closing_ = false;
  Fd notify_fd_;
  Fd timer_fd_;
  int loop_fd_ = -1;
  RingSource* sources_ = nullptr;  // every live source, retired ones included
};

}  // namespace polled
