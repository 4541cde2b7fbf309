// The io_uring backend (poller_uring.h): setup, the one submit-and-wait per turn, and turning
// CQEs back into the (token, bits) pairs the reactor reads.
#include "poller_uring.h"

#include "ring.h"
#include "socket.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>

#include <algorithm>
#include <climits>
#include <new>

namespace polled {

namespace {

// user_data: a RingSource's address | op, or one of the reserved values below 8 (never an address).
constexpr uint64_t kUdIgnore = 0;  // cancels (and their results, when CQE_SKIP_SUCCESS is absent)
constexpr uint64_t kUdNotify = 1;
constexpr uint64_t kUdTimer = 2;
constexpr uint64_t kUdLoop = 3;
constexpr uint64_t kOpMask = 7;
// kOpRecvPoll is 0: a source's address alone (never one of the reserved values, all below 8).
constexpr uint64_t kOpRecvPoll = 0, kOpPoll = 1, kOpWritePoll = 2, kOpRecv = 3, kOpSend = 4, kOpAccept = 5,
                   kOpRecvMulti = 6, kOpNop = 7;

constexpr unsigned kPollMask = POLLIN | POLLOUT | POLLPRI | POLLRDHUP;

uint32_t PollBits(uint32_t events) {
  uint32_t bits = 0;
  if (events & (POLLIN | POLLRDHUP | POLLPRI)) bits |= kReadable;
  if (events & POLLOUT) bits |= kWritable;
  if (events & (POLLHUP | POLLRDHUP)) bits |= kHangup;
  if (events & POLLERR) bits |= kError;
  return bits;
}

void Drain(int fd) {
  uint64_t n;
  ssize_t r;
  do r = read(fd, &n, sizeof n);
  while (r < 0 && errno == EINTR);
}

int Emit(uint32_t* out, uint32_t token, uint32_t bits) {
  out[0] = token;
  out[1] = bits;
  return 1;
}

// POLLED_URING_FAIL=<errno name or number>: make setup fail with it. For tests only (the
// fallback of io: 'auto' and the IoError of io: 'uring' where the kernel has io_uring).
int ForcedFailure() {
  const char* v = getenv("POLLED_URING_FAIL");
  if (v == nullptr || *v == '\0') return 0;
  if (strcmp(v, "ENOSYS") == 0) return ENOSYS;
  if (strcmp(v, "EPERM") == 0) return EPERM;
  if (strcmp(v, "EOPNOTSUPP") == 0) return EOPNOTSUPP;
  int n = atoi(v);
  return n > 0 ? n : EINVAL;
}

// How streams are read (pollerCreate's `recv`, from POLLED_URING_RECV: lib/io-backend.ts): one
// multishot recv per stream into the ring's provided buffers (kUringRecvDefault where the kernel
// has it, kUringRecvMultishot), or a single-shot recv per read into the stream's own buffer
// (kUringRecvSingle). Multishot measured 7-17 % less server CPU per echoed message (bench/uring-recv.js).
// It needs Linux 6.0 (IORING_RECV_MULTISHOT; the probe cannot tell, the op is as old as 5.6): on
// an older kernel the default is single-shot, and an explicit "multishot" fails the setup.
enum class RecvMode { kSingle, kMultishot, kMultishotAsked };

bool KernelAtLeast(int major, int minor) {
  utsname u{};
  int ma = 0, mi = 0;
  if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

RecvMode StreamRecvMode(uint32_t recv) {
  if (recv == kUringRecvSingle) return RecvMode::kSingle;
  if (recv == kUringRecvMultishot) return RecvMode::kMultishotAsked;
  return KernelAtLeast(6, 0) ? RecvMode::kMultishot : RecvMode::kSingle;
}

}  // namespace

// ---- Setup and teardown -----------------------------------------------------------------------

int Ring::Open(uint32_t recv) {
  if (int forced = ForcedFailure()) return -forced;
  // SUBMIT_ALL: one bad SQE does not hold back the rest of the turn's. A CQ 8 times the SQ:
  // multishot ops post many CQEs per SQE.
  //
  // COOP_TASKRUN: a recv's data arriving (or any op's readiness) queues task work for this
  // thread. Without the flag the kernel delivers it with an IPI whenever the thread is running,
  // interrupting it once per arrival (measured: 0.1 IPIs per echoed message, and 1.2-1.5x C on
  // epoll's CPU per message at 100 x 64 B, 1.0-1.1x with the flag); with it the work waits for
  // the thread's next kernel entry or exit.
  // A thread asleep is still woken (TWA_SIGNAL_NO_IPI wakes a sleeper, it only skips the kick of
  // a running task), so the ring's fd still turns readable while libuv sleeps in epoll_wait: the
  // wait returns EINTR, the task work posts the CQE, and libuv's retry sees the fd readable.
  // Not DEFER_TASKRUN: there the CQE is posted only when this thread enters the ring with
  // GETEVENTS, and on this project's kernel (6.18) an epoll wait on the ring's fd then sleeps
  // through the completion; the embedded driver would hang.
  unsigned base = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
  int rc = -EINVAL;
  uint32_t features = 0;
  for (unsigned flags : {base | IORING_SETUP_COOP_TASKRUN, base}) {  // without it on EINVAL
    io_uring_params params{};
    params.flags = flags;
    params.cq_entries = 8192;
    rc = io_uring_queue_init_params(1024, &ring_, &params);
    features = params.features;
    if (rc != -EINVAL) break;
  }
  if (rc < 0) return rc;
  open_ = true;
  // Multishot accept and poll, EXT_ARG (a wait's timeout without an SQE): Linux 5.19 and later.
  // IORING_OP_SOCKET came in the same release and is what the probe can see.
  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  bool ok = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_SOCKET) &&
            (features & IORING_FEAT_EXT_ARG) != 0;
  if (probe != nullptr) io_uring_free_probe(probe);
  if (!ok) return -EOPNOTSUPP;
  notify_fd_.Reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (notify_fd_.get() < 0) return -errno;
  timer_fd_.Reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (timer_fd_.get() < 0) return -errno;
  if (!ArmFdPoll(notify_fd_.get(), kUdNotify, POLLIN) || !ArmFdPoll(timer_fd_.get(), kUdTimer, POLLIN)) {
    return -ENOMEM;
  }
  // Multishot asked for and not possible: the setup fails saying why, rather than a measurement
  // of multishot that silently measured single-shot. By default, single-shot instead.
  const RecvMode mode = StreamRecvMode(recv);
  if (mode == RecvMode::kMultishotAsked && !KernelAtLeast(6, 0)) return -EOPNOTSUPP;
  if (mode != RecvMode::kSingle && (rc = SetupBufRing()) < 0) {
    if (mode == RecvMode::kMultishotAsked) return rc;
    // The default: single-shot reads it is (br_ stays null), without the buffers' 4 MiB.
    bufmem_.data.reset();
  }
  rc = io_uring_submit(&ring_);
  return rc < 0 ? rc : 0;
}

// The provided-buffer ring, set up by hand (liburing 2.3 has io_uring_register_buf_ring, not
// io_uring_setup_buf_ring): descriptor memory page-aligned, registered under kBufGroup, then
// every buffer added.
int Ring::SetupBufRing() {
  size_t len = kBufCount * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return -errno;
  bufmem_.ring = mem;
  bufmem_.ring_len = len;
  bufmem_.data.reset(new (std::nothrow) uint8_t[static_cast<size_t>(kBufCount) * kBufSize]);
  if (bufmem_.data == nullptr) return -ENOMEM;
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(mem);
  reg.ring_entries = kBufCount;
  reg.bgid = kBufGroup;
  int rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc < 0) return rc;
  br_ = static_cast<io_uring_buf_ring*>(mem);
  bufs_ = bufmem_.data.get();
  io_uring_buf_ring_init(br_);
  int mask = io_uring_buf_ring_mask(kBufCount);
  for (uint32_t i = 0; i < kBufCount; i++) {
    io_uring_buf_ring_add(br_, bufs_ + static_cast<size_t>(i) * kBufSize, kBufSize, static_cast<unsigned short>(i), mask,
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(br_, static_cast<int>(kBufCount));
  return 0;
}

Ring::BufMem::~BufMem() {
  if (ring != nullptr) munmap(ring, ring_len);
}

bool SendBuf::Grow(size_t n) {
  size_t cap = std::max<size_t>({size_ + n, cap_ * 2, 256});
  std::unique_ptr<uint8_t[]> grown(new (std::nothrow) uint8_t[cap]);
  if (grown == nullptr) return false;
  if (size_ > 0) memcpy(grown.get(), data_.get(), size_);
  data_ = std::move(grown);
  cap_ = cap;
  return true;
}

inline void Ring::ReturnBuf(uint32_t bid) {
  io_uring_buf_ring_add(br_, bufs_ + static_cast<size_t>(bid) * kBufSize, kBufSize, static_cast<unsigned short>(bid),
                        io_uring_buf_ring_mask(kBufCount), 0);
  io_uring_buf_ring_advance(br_, 1);
  bufs_out_--;
}

void Ring::ReleaseChunks(RingSource* s) {
  for (size_t i = s->chead; i < s->chunks.size(); i++) ReturnBuf(s->chunks[i].bid);
  s->chunks.clear();
  s->chead = 0;
}

Ring::~Ring() {
  if (!open_) return;
  closing_ = true;  // nothing re-arms from here on
  // Cancel every op, then wait (bounded) for their final CQEs: a source's memory may be freed
  // only once the kernel is done with it. What is still in flight after that is leaked, never
  // freed under the kernel's hands.
  if (io_uring_sqe* sqe = Sqe()) {
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, kUdIgnore);
  }
  uint32_t scratch[2];
  for (int i = 0; i < 100; i++) {
    bool busy = false;
    for (RingSource* s = sources_; s != nullptr; s = s->next) busy |= s->ops > 0;
    if (!busy) break;
    __kernel_timespec ts{0, 10 * 1000 * 1000};
    io_uring_cqe* cqe;
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    while (Reap(scratch, 1) > 0) {
    }
  }
  for (RingSource* s = sources_; s != nullptr;) {
    RingSource* next = s->next;
    if (s->slot != nullptr) *s->slot = nullptr;  // its handle falls back to plain syscalls
    if (s->ops == 0) delete s;
    s = next;
  }
  sources_ = nullptr;
  io_uring_queue_exit(&ring_);
}

int Poller::OpenRing(uint32_t recv) {
  Ring* r = new (std::nothrow) Ring();
  if (r == nullptr) return -ENOMEM;
  int rc = r->Open(recv);
  if (rc < 0) {
    delete r;
    return rc;
  }
  ring_ = r;
  ring_fd_ = r->fd();
  return 0;
}

void Poller::CloseRing() {
  delete ring_;
  ring_ = nullptr;
  ring_fd_ = -1;
}

int Poller::RingWait(double timeout_ms) { return ring_->Wait(timeout_ms, out_, batch_); }
int Poller::RingNotify() { return ring_->Notify(); }
int Poller::RingWatchLoop(int fd) { return ring_->WatchLoop(fd); }
int Poller::RingUnwatchLoop() { return ring_->UnwatchLoop(); }
int Poller::RingArmTimer(double delay_ms) { return ring_->ArmTimer(delay_ms); }
int Poller::RingDisarmTimer() { return ring_->DisarmTimer(); }
void Poller::RingFlush() { ring_->Flush(); }

// ---- Submission -------------------------------------------------------------------------------

io_uring_sqe* Ring::Sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    // The SQ is full mid-turn: submit what is there (one extra enter) and take a fresh one.
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void Ring::Submit(RingSource* s, io_uring_sqe* sqe, uint64_t op) {
  io_uring_sqe_set_data64(sqe, reinterpret_cast<uint64_t>(s) | op);
  s->ops++;
}

void Ring::Cancel(uint64_t user_data) {
  io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) return;  // the op ends with the ring at the latest
  io_uring_prep_cancel64(sqe, user_data, 0);
  io_uring_sqe_set_data64(sqe, kUdIgnore);
  io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
}

bool Ring::ArmFdPoll(int fd, uint64_t user_data, unsigned mask) {
  io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_poll_multishot(sqe, fd, mask);
  io_uring_sqe_set_data64(sqe, user_data);
  return true;
}

bool Ring::ArmPoll(RingSource* s) {
  if (closing_ || s->retired) return false;
  io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_poll_multishot(sqe, s->fd, kPollMask);
  Submit(s, sqe, kOpPoll);
  s->poll_armed = true;
  return true;
}

bool Ring::WantRecv(const RingSource* s) const {
  // A direct reader takes the socket's bytes itself once the queued ones are read: until then
  // it needs no event.
  return !closing_ && !s->retired && !s->recv_armed && !s->eof && s->rerr == 0 && s->rtail == s->rhead &&
         (s->direct_rd ? s->held() == 0 : s->held() < BufCap());
}

bool Ring::ArmRecv(RingSource* s) {
  if (closing_ || s->retired) return false;
  if (s->direct_rd) {
    // A bulk stream reads the socket itself (Read): what it waits for is readiness, one POLLIN.
    io_uring_sqe* sqe = Sqe();
    if (sqe == nullptr) return false;
    io_uring_prep_poll_add(sqe, s->fd, POLLIN);
    Submit(s, sqe, kOpRecvPoll);
    s->recv_armed = true;
    s->recv_op = kOpRecvPoll;
    return true;
  }
  if (br_ != nullptr && !s->starved) {
    // One multishot recv for as long as the reader keeps up: each arrival is a CQE with the
    // bytes in a provided buffer, and nothing to re-arm.
    io_uring_sqe* sqe = Sqe();
    if (sqe == nullptr) return false;
    io_uring_prep_recv_multishot(sqe, s->fd, nullptr, 0, 0);
    io_uring_sqe_set_flags(sqe, IOSQE_BUFFER_SELECT);
    sqe->buf_group = kBufGroup;
    Submit(s, sqe, kOpRecvMulti);
    s->recv_armed = true;
    s->recv_op = kOpRecvMulti;
    s->recv_cancel = false;
    return true;
  }
  if (s->rbuf == nullptr) {
    // Once per stream, on its first read: a stream nobody reads costs no buffer.
    s->rbuf.reset(new (std::nothrow) uint8_t[kRecvBuf]);
    if (s->rbuf == nullptr) return false;
  }
  io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_recv(sqe, s->fd, s->rbuf.get() + s->rtail, kRecvBuf - s->rtail, 0);
  Submit(s, sqe, kOpRecv);
  s->recv_armed = true;
  s->recv_op = kOpRecv;
  return true;
}

void Ring::StartSend(RingSource* s) {
  if (closing_ || s->send_armed || s->serr != 0) return;
  if (s->sent == s->sending.size()) {
    if (s->staged.empty()) return;
    // The kernel is done with `sending`: reuse its capacity for the next writes (no allocation
    // per message once both vectors have grown to the stream's usual size).
    s->sending.swap(s->staged);
    s->staged.clear();
    s->sent = 0;
  }
  io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) return;
  io_uring_prep_send(sqe, s->fd, s->sending.data() + s->sent, s->sending.size() - s->sent, MSG_NOSIGNAL);
  Submit(s, sqe, kOpSend);
  s->send_armed = true;
}

bool Ring::ArmAccept(RingSource* s) {
  if (closing_ || s->retired) return false;
  io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_multishot_accept(sqe, s->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  Submit(s, sqe, kOpAccept);
  s->accept_armed = true;
  return true;
}

void Ring::Flush() {
  if (io_uring_sq_ready(&ring_) > 0) io_uring_submit(&ring_);
}

// ---- Waiting ----------------------------------------------------------------------------------

int Ring::Wait(double timeout_ms, uint32_t* out, size_t batch) {
  // One enter per turn: it submits every SQE the turn queued and, when nothing is ready yet,
  // waits. With completions already posted, or a zero timeout and nothing to submit, no syscall.
  if (io_uring_cq_ready(&ring_) > 0 || timeout_ms == 0) {
    Flush();
  } else {
    io_uring_cqe* cqe;
    int rc;
    if (timeout_ms < 0) {
      rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, nullptr, nullptr);
    } else {
      int64_t ns = std::max<int64_t>(CeilNs(timeout_ms), 1);
      __kernel_timespec ts{ns / 1000000000, ns % 1000000000};
      rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) return rc;
  }
  return Reap(out, batch);
}

int Ring::Reap(uint32_t* out, size_t batch) {
  // Each CQE brings at most one event. Up to kReapChunk of them are copied out and the CQ head
  // advanced past them, in one store, before any is handled: Complete may need SQ room (and
  // submit), never CQ room; and liburing's peek-then-seen per CQE cost twice the instructions.
  struct Got {
    uint64_t ud;
    int32_t res;
    uint32_t flags;
  } got[kReapChunk];
  size_t n = 0;
  while (n < batch) {
    // The CQ read by hand: one acquire load of the tail per chunk (io_uring_for_each_cqe loads it
    // per CQE). 16-byte CQEs: the ring is never set up with IORING_SETUP_CQE32 (Open).
    const unsigned head = *ring_.cq.khead;
    const unsigned ready = io_uring_smp_load_acquire(ring_.cq.ktail) - head;
    if (ready == 0) {
      // None in the CQ: one peek, which also flushes completions the kernel holds in overflow.
      io_uring_cqe* cqe;
      if (io_uring_peek_cqe(&ring_, &cqe) == 0) continue;
      break;
    }
    const size_t k = std::min<size_t>({batch - n, kReapChunk, ready});
    const io_uring_cqe* cqes = ring_.cq.cqes;
    const unsigned mask = ring_.cq.ring_mask;
    for (size_t i = 0; i < k; i++) {
      const io_uring_cqe& c = cqes[(head + i) & mask];
      got[i] = {c.user_data, c.res, c.flags};
    }
    io_uring_cq_advance(&ring_, static_cast<unsigned>(k));
    for (size_t i = 0; i < k; i++) n += static_cast<size_t>(Complete(got[i].ud, got[i].res, got[i].flags, out + 2 * n));
  }
  return static_cast<int>(n);
}

int Ring::Complete(uint64_t ud, int32_t res, uint32_t flags, uint32_t* out) {
  if (ud <= kOpMask || ud == LIBURING_UDATA_TIMEOUT) return CompleteReserved(ud, res, flags, out);
  const bool more = (flags & IORING_CQE_F_MORE) != 0;
  RingSource* s = reinterpret_cast<RingSource*>(ud & ~kOpMask);
  if (!more) s->ops--;
  int n = (ud & kOpMask) == kOpRecvMulti ? CompleteRecvMulti(s, res, flags, more, out)
                                         : CompleteSource(s, ud & kOpMask, res, more, out);
  if (s->retired) {
    n = 0;        // nobody listens for a closed handle's token
    MaybeFree(s);  // may free `s`
  }
  return closing_ ? 0 : n;
}

// The notifier's, the timer's and the loop watch's CQEs, and those nobody waits for: out of the
// streams' path, which then saves no registers for them.
int Ring::CompleteReserved(uint64_t ud, int32_t res, uint32_t flags, uint32_t* out) {
  const bool more = (flags & IORING_CQE_F_MORE) != 0;
  switch (ud) {
    case kUdNotify:
      Drain(notify_fd_.get());
      if (!more && !closing_) ArmFdPoll(notify_fd_.get(), kUdNotify, POLLIN);
      return closing_ ? 0 : Emit(out, kNotifyToken, kReadable);
    case kUdTimer:
      Drain(timer_fd_.get());
      if (!more && !closing_) ArmFdPoll(timer_fd_.get(), kUdTimer, POLLIN);
      return closing_ ? 0 : Emit(out, kTimerToken, kReadable);
    case kUdLoop:
      if (res == -ECANCELED || loop_fd_ < 0 || closing_) return 0;
      if (!more) ArmFdPoll(loop_fd_, kUdLoop, POLLIN);
      return Emit(out, kLoopToken, kReadable);
    default:  // kUdIgnore (cancels), liburing's own wait timeout on kernels without EXT_ARG
      return 0;
  }
}

int Ring::CompleteSource(RingSource* s, uint64_t op, int32_t res, bool more, uint32_t* out) {
  switch (op) {
    case kOpPoll:
      if (!more) {
        s->poll_armed = false;
        if (res != -ECANCELED) ArmPoll(s);  // a multishot poll the kernel ended (CQ overflow)
      }
      return res > 0 ? Emit(out, s->token, PollBits(static_cast<uint32_t>(res))) : 0;
    // A stream's events carry kReadable / kWritable only, never kHangup / kError: the reactor
    // keeps those bits, and counts them as "ready" in both directions, so a write that then says
    // EAGAIN (its send buffer full, as it is by design here) would be retried at once, forever.
    // The end of stream and errors are what the next read / write / SO_ERROR return.
    case kOpWritePoll:
      s->wpoll_armed = false;
      return res == -ECANCELED ? 0 : Emit(out, s->token, kWritable);
    case kOpRecvPoll:  // a direct reader's POLLIN: Read takes the bytes
      if (res == -ECANCELED && s->recv_stale > 0) {
        s->recv_stale--;
        return 0;
      }
      s->recv_armed = false;
      if (res == -ECANCELED) return 0;
      if (res < 0) s->rerr = -res;
      return Emit(out, s->token, kReadable);
    case kOpRecv:
      if (res == -ECANCELED && s->recv_stale > 0) {
        s->recv_stale--;  // taken back by Busy(): a later recv may be armed by now
        return 0;
      }
      s->recv_armed = false;
      if (res > 0) {
        s->rtail += static_cast<uint32_t>(res);
        s->starved = false;  // the next recv tries the provided buffers again
        return Emit(out, s->token, kReadable);
      }
      if (res == 0) {
        s->eof = true;
        return Emit(out, s->token, kReadable);
      }
      if (res == -ECANCELED) return 0;
      if (res == -EAGAIN || res == -EINTR) {
        ArmRecv(s);
        return 0;
      }
      s->rerr = -res;
      return Emit(out, s->token, kReadable);
    case kOpSend: {
      s->send_armed = false;
      if (res < 0) {
        if (res == -EAGAIN || res == -EINTR) {
          StartSend(s);
          return 0;
        }
        // The peer is gone (EPIPE, ECONNRESET) or the op was cancelled with the ring: nothing
        // queued can be delivered any more. Kept for the next write, as SO_ERROR would be.
        s->serr = res == -ECANCELED ? EPIPE : -res;
        s->sending.clear();
        s->staged.clear();
        s->sent = 0;
        s->want_writable = false;
        return Emit(out, s->token, kWritable);
      }
      s->sent += static_cast<size_t>(res);
      StartSend(s);  // the rest of a short send, or what was staged meanwhile
      if (!s->send_armed && s->shut_wr) {
        // shutdown(SHUT_WR) waited for the bytes written before it.
        ::shutdown(s->fd, SHUT_WR);
        s->shut_wr = false;
      }
      if (s->want_writable && s->queued_send() < kSendCap) {
        s->want_writable = false;
        return Emit(out, s->token, kWritable);
      }
      return 0;
    }
    case kOpAccept:
      if (!more) s->accept_armed = false;
      if (res >= 0) {
        Fd fd(res);
        if (s->retired || closing_) return 0;  // closes it
        s->accepted.push_back(std::move(fd));
        if (s->accepted.size() - s->ahead >= kAcceptCap && s->accept_armed) {
          Cancel(reinterpret_cast<uint64_t>(s) | kOpAccept);
        } else if (!more && !s->accept_armed) {
          ArmAccept(s);  // the kernel ended the multishot (CQ overflow): go on
        }
        return Emit(out, s->token, kReadable);
      }
      if (res == -ECANCELED) return 0;
      // EMFILE and the like: accept() returns it once, the listener backs off, and its next
      // accept() re-arms. The multishot has ended (no F_MORE) on such an error.
      s->aerr = -res;
      return Emit(out, s->token, kReadable);
    case kOpNop:  // Read(): an end of stream already queued, reported again
      return Emit(out, s->token, kReadable);
    default:
      return 0;
  }
}

// A multishot recv's CQE: F_MORE while it goes on; without, it has ended (cancelled at the cap or
// with the handle, ENOBUFS, end of stream, an error, or the kernel's own reasons) and the stream
// re-arms when its reader can take more.
int Ring::CompleteRecvMulti(RingSource* s, int32_t res, uint32_t flags, bool more, uint32_t* out) {
  bool has_buf = (flags & IORING_CQE_F_BUFFER) != 0;
  uint32_t bid = flags >> IORING_CQE_BUFFER_SHIFT;
  if (has_buf) bufs_out_++;  // every path below gives it back (ReturnBuf) or queues it for read()
  if (!more) {
    if (res == -ECANCELED && s->recv_stale > 0) {
      s->recv_stale--;  // taken back by Busy(): a later recv may be armed by now
      if (has_buf) ReturnBuf(bid);
      return 0;
    }
    s->recv_armed = false;
    s->recv_cancel = false;
  }
  if (res > 0 && has_buf) {
    if (s->retired || closing_) {
      ReturnBuf(bid);  // nobody will read it
      return 0;
    }
    // Only the first bytes queued since read() last drained the stream are news: with bytes
    // already queued, the reader has had its READABLE and has not yet read short (a read that
    // takes less than it asked for drains everything queued), so it reads again without one. A
    // bulk stream's 4 KiB chunks would otherwise be an event each for the reactor to dispatch.
    // (Bytes in rbuf, from a single-shot fallback, are older still: at worst one event too many.)
    const bool news = s->held() == 0;
    s->chunks.push_back({bid, 0, static_cast<uint32_t>(res), 0});
    // (held() >= kBufCap first: BufCap() is never below it, and most CQEs stop at that compare.)
    if (more && s->held() >= kBufCap && s->held() >= BufCap() && !s->recv_cancel) {
      // The reader is not keeping up: stop taking shared buffers for it. CQEs already on their
      // way still queue here; its next read re-arms (Read, WantRecv).
      Cancel(reinterpret_cast<uint64_t>(s) | kOpRecvMulti);
      s->recv_cancel = true;
      // Reading or not, this stream is not one the shared buffers suit: once what it holds is
      // read, it reads the socket itself (direct_rd), holding none of them.
      s->direct_rd = true;
      stats_.cap_stops++;
    } else if (!more && WantRecv(s)) {
      ArmRecv(s);
    }
    return news ? Emit(out, s->token, kReadable) : 0;
  }
  if (has_buf) ReturnBuf(bid);
  if (more) return 0;
  if (res > 0) {  // bytes without a buffer: not something the kernel posts; go on
    if (WantRecv(s)) ArmRecv(s);
    return 0;
  }
  if (res == 0) {
    s->eof = true;
    return Emit(out, s->token, kReadable);
  }
  if (res == -ECANCELED) {
    // Cancelled at the cap: if the reader drained meanwhile, its read found the recv still armed
    // and did not re-arm; do it now. (A closed handle's or a closing ring's: WantRecv says no.)
    if (WantRecv(s)) ArmRecv(s);
    return 0;
  }
  if (res == -ENOBUFS) {
    // The shared ring ran dry. This stream goes on with a single-shot recv into its own buffer
    // (so no stream waits on buffers that readers elsewhere may never give back), and back to
    // the provided buffers once that recv has brought data.
    s->starved = true;
    if (WantRecv(s)) ArmRecv(s);
    return 0;
  }
  if (res == -EAGAIN || res == -EINTR) {
    if (WantRecv(s)) ArmRecv(s);
    return 0;
  }
  s->rerr = -res;
  return Emit(out, s->token, kReadable);
}

void Ring::MaybeFree(RingSource* s) {
  if (!s->retired) return;
  if (s->ops > 0) return;
  if (s->queued_send() > 0 && s->serr == 0 && s->owned.get() >= 0 && !closing_) {
    StartSend(s);  // bytes written before close() still go out, then the fd closes
    if (s->ops > 0) return;
  }
  if (s->prev != nullptr) s->prev->next = s->next;
  else sources_ = s->next;
  if (s->next != nullptr) s->next->prev = s->prev;
  delete s;  // closes `owned`
}

// ---- Notifier, timer, loop watch --------------------------------------------------------------

int Ring::Notify() {
  uint64_t one = 1;
  ssize_t r;
  do r = write(notify_fd_.get(), &one, sizeof one);
  while (r < 0 && errno == EINTR);
  return r < 0 && errno != EAGAIN ? -errno : 0;
}

int Ring::ArmTimer(double delay_ms) {
  int64_t ns = std::max<int64_t>(CeilNs(delay_ms), 1);
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(ns / 1000000000);
  spec.it_value.tv_nsec = static_cast<long>(ns % 1000000000);
  return timerfd_settime(timer_fd_.get(), 0, &spec, nullptr) < 0 ? -errno : 0;
}

int Ring::DisarmTimer() {
  itimerspec spec{};
  return timerfd_settime(timer_fd_.get(), 0, &spec, nullptr) < 0 ? -errno : 0;
}

int Ring::WatchLoop(int fd) {
  if (!ArmFdPoll(fd, kUdLoop, POLLIN)) return -ENOMEM;
  loop_fd_ = fd;
  return 0;
}

int Ring::UnwatchLoop() {
  loop_fd_ = -1;
  Cancel(kUdLoop);
  // At once, not at the next turn: the embedded driver's uv_poll is about to watch this ring from
  // the loop's epoll set, and a ring still polling that set would make the two wake each other.
  int rc = io_uring_submit(&ring_);
  return rc < 0 ? rc : 0;
}

// ---- Sources ------------------------------------------------------------------------------------

int Ring::Add(int fd, bool is_socket, uint32_t token, RingSource** io_slot, RingSource** poll_slot) {
  RingSource::Mode mode = RingSource::Mode::kPoll;
  if (is_socket) {
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return -errno;
    if (type == SOCK_STREAM) {
      len = sizeof listening;
      if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) return -errno;
      mode = listening ? RingSource::Mode::kListener : RingSource::Mode::kStream;
    }
  }
  RingSource** slot = mode == RingSource::Mode::kPoll ? poll_slot : io_slot;
  RingSource* s = new (std::nothrow) RingSource(this, mode, fd, token, slot);
  if (s == nullptr) return -ENOMEM;
  s->next = sources_;
  if (sources_ != nullptr) sources_->prev = s;
  sources_ = s;
  *slot = s;
  if (mode == RingSource::Mode::kPoll) {
    if (!ArmPoll(s)) {
      Remove(s, nullptr);
      return -ENOMEM;
    }
  } else if (mode == RingSource::Mode::kStream) {
    // A connect in progress waits for WRITABLE (then reads SO_ERROR): a one-shot poll gives it.
    // Armed for every stream (getpeername cannot tell: on loopback it succeeds while connect
    // still says EINPROGRESS); on a connected one it completes at once, one CQE.
    io_uring_sqe* sqe = Sqe();
    if (sqe != nullptr) {
      io_uring_prep_poll_add(sqe, fd, POLLOUT);
      Submit(s, sqe, kOpWritePoll);
      s->wpoll_armed = true;
    }
  }
  // Streams arm their recv, listeners their accept, at the first read / accept: until then
  // nothing is in flight, and a stream that is only handed to another thread can still move.
  return 0;
}

void Ring::Remove(RingSource* s, Fd* fd) {
  s->retired = true;
  if (s->slot != nullptr) *s->slot = nullptr;
  s->slot = nullptr;
  uint64_t base = reinterpret_cast<uint64_t>(s);
  bool cancelled = s->poll_armed || s->wpoll_armed || s->recv_armed || s->accept_armed;
  if (s->poll_armed) Cancel(base | kOpPoll);
  if (s->wpoll_armed) Cancel(base | kOpWritePoll);
  if (s->recv_armed) Cancel(base | s->recv_op);
  if (s->accept_armed) Cancel(base | kOpAccept);
  ReleaseChunks(s);  // bytes nobody will read: their buffers go back to the ring now
  s->accepted.clear();  // connections nobody took: closed (the peer sees a reset)
  if (fd == nullptr) {
    // Deregistered, not closed: the fd stays with its handle, which now uses plain syscalls.
    // Bytes not yet sent cannot follow it (Busy() refuses moves that would lose them).
    s->staged.clear();
  } else if (s->queued_send() > 0 && s->serr == 0) {
    // Bytes written before close() still go out: the source keeps the fd until they have.
    s->owned = std::move(*fd);
  }
  // Otherwise the handle closes its fd as soon as this returns, as with epoll: the kernel's ops
  // hold the file, not the number, so a reused number is never touched; their late CQEs touch
  // only this source, which lives until the last of them. The cancels go in now rather than at
  // the next turn, so that the socket is released (a listener's port, a UDP port) at close().
  if (cancelled) io_uring_submit(&ring_);
  MaybeFree(s);
}

bool Ring::Busy(RingSource* s) {
  if (s->rtail > s->rhead || s->held() > 0 || s->send_armed || s->queued_send() > 0 || s->accept_armed ||
      s->accepted.size() > s->ahead) {
    return true;
  }
  if (!s->recv_armed) return false;
  // A recv armed by a read that was dropped: take it back synchronously. If the kernel had
  // already delivered bytes (its CQE, not yet reaped, says so), they would be lost with the move.
  uint64_t ud = reinterpret_cast<uint64_t>(s) | s->recv_op;
  Flush();  // an SQE still in the SQ is not yet a request the kernel could cancel
  io_uring_sync_cancel_reg reg{};
  reg.addr = ud;
  reg.fd = -1;
  reg.timeout.tv_sec = 0;
  reg.timeout.tv_nsec = 50 * 1000 * 1000;  // a bound; past it, the stream just stays (EBUSY)
  int rc = io_uring_register_sync_cancel(&ring_, &reg);
  unsigned head;
  io_uring_cqe* cqe;
  bool seen = false, data = false;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    if (cqe->user_data == ud) {
      seen = true;
      data |= cqe->res != -ECANCELED;  // a multishot's data CQEs come before its final one
    }
  }
  if (data || (!seen && rc != 0)) return true;
  // Cancelled: its CQE (reaped later) finds the source retired or re-armed state cleared.
  s->recv_armed = false;
  s->recv_stale++;
  return false;
}

// Read() copied out the last bytes queued, with no multishot recv armed or with the stream's end
// already in: re-arm, or report that end again. Out of Read's path, which then saves no
// registers for it.
void Ring::ReadDrained(RingSource* s) {
  if (WantRecv(s)) {
    ArmRecv(s);
  } else if (s->held() == 0 && (s->eof || s->rerr != 0) && !s->retired && !closing_) {
    // A multishot's end of stream (or error) came in the same batch as its last bytes: this
    // short read looks like "drained" to the reactor, which now waits for a READABLE that no
    // recv will bring. A NOP's CQE brings it, and the next read returns the end.
    if (io_uring_sqe* sqe = Sqe()) {
      io_uring_prep_nop(sqe);
      Submit(s, sqe, kOpNop);
    }
  }
}

bool Ring::ReadDirect(RingSource* s, uint8_t* data, size_t len, size_t* n) {
  // No recv is armed or still to complete (recv_armed, recv_stale), so no CQE can bring bytes
  // older than these; the pointer is the caller's, used within this call only.
  stats_.direct_reads++;
  const ssize_t r = polled::Read(s->fd, data + *n, len - *n);  // socket.h's (Ring::Read hides it)
  if (r > 0) {
    *n += static_cast<size_t>(r);
    if (*n == len) return true;
  } else if (r == 0) {
    s->eof = true;
  } else if (r != -EAGAIN && r != -EWOULDBLOCK) {
    s->rerr = static_cast<int>(-r);
  }
  // The socket is drained. A stream that no longer brings bulk (some bytes, but less than a
  // cap's worth in this read) goes back to the multishot recv; the caller arms whichever recv it
  // now wants. A read that found nothing at all says nothing of the stream's size: it only met
  // the socket between two bursts (a bulk stream drained exactly at the end of the last read),
  // so the stream stays a direct reader and waits for POLLIN.
  if (*n > 0 && *n < kBufCap * kBufSize) {
    s->direct_rd = false;
    stats_.back_to_multishot++;
  }
  return false;
}

ssize_t Ring::Read(RingSource* s, uint8_t* data, size_t len) {
  size_t n = 0;
  // The provided buffers first (they are older than rbuf's bytes), each given back to the ring
  // once copied out; a part of one left over stays queued for the next read.
  while (n < len && s->chead < s->chunks.size()) {
    RingSource::Chunk& c = s->chunks[s->chead];
    size_t k = std::min<size_t>(len - n, c.len);
    memcpy(data + n, bufs_ + static_cast<size_t>(c.bid) * kBufSize + c.off, k);
    n += k;
    c.off += static_cast<uint32_t>(k);
    c.len -= static_cast<uint32_t>(k);
    if (c.len == 0) {
      ReturnBuf(c.bid);
      s->chead++;
    }
  }
  if (s->chead == s->chunks.size() && s->chead > 0) {
    s->chunks.clear();
    s->chead = 0;
  }
  if (n < len && s->rtail > s->rhead) {
    size_t k = std::min<size_t>(len - n, s->rtail - s->rhead);
    memcpy(data + n, s->rbuf.get() + s->rhead, k);
    s->rhead += static_cast<uint32_t>(k);
    n += k;
  }
  if (n < len && s->direct_rd && !s->recv_armed && s->recv_stale == 0 && !s->eof && s->rerr == 0 &&
      s->rtail == s->rhead && ReadDirect(s, data, len, &n)) {
    return static_cast<ssize_t>(n);  // it filled the read: the socket may hold more, nothing to arm
  }
  if (n > 0) {
    if (s->rhead == s->rtail) {
      // Drained: the next recv starts at the front, armed now (it goes out with this turn's
      // enter). Not at the next read: the reactor takes a short read for "drained" and waits for
      // READABLE without reading again, so only an armed recv can bring that event. (A stream
      // moved to another thread takes this recv back first: Busy().) A multishot recv stays
      // armed; one cancelled at the cap is re-armed once the reader is below it.
      s->rhead = s->rtail = 0;
      // A multishot recv still armed (every message but the last): nothing to do.
      if (!s->recv_armed || s->eof || s->rerr != 0) ReadDrained(s);
    }
    return static_cast<ssize_t>(n);
  }
  if (s->rerr != 0) {
    int e = s->rerr;
    s->rerr = 0;
    s->eof = true;  // reported once; then end of stream, as a reset socket reads after the error
    return -e;
  }
  if (s->eof) return 0;
  if (!s->recv_armed && !ArmRecv(s)) return -ENOMEM;
  return -EAGAIN;
}

// The bytes of iov past its first `skip` (those already sent), as many as fit under kSendCap,
// copied into the send buffer for a SEND; returns `skip` + the bytes taken.
inline ssize_t Ring::WriteQueued(RingSource* s, const iovec* iov, int count, size_t queued, size_t skip) {
  const size_t direct = skip;
  size_t room = kSendCap - queued, want = 0, n = 0;
  // Into `staged` unless nothing is in flight: `sending` must not move while the kernel reads it.
  SendBuf& buf = s->send_armed ? s->staged : s->sending;
  if (!s->send_armed && s->sent == s->sending.size()) {
    s->sending.clear();
    s->sent = 0;
  }
  for (int i = 0; i < count; i++) {
    const uint8_t* base = static_cast<const uint8_t*>(iov[i].iov_base);
    size_t len = iov[i].iov_len;
    want += len;
    if (skip >= len) {  // sent directly
      skip -= len;
      continue;
    }
    base += skip;
    len -= skip;
    skip = 0;
    size_t take = std::min(room - n, len);
    if (take > 0 && !buf.Append(base, take)) {
      if (n == 0 && direct == 0) return -ENOMEM;
      break;  // what was taken goes out; the caller writes the rest again
    }
    n += take;
  }
  n += direct;
  if (n < want) s->want_writable = true;  // a short write: WRITABLE when a send frees room
  StartSend(s);
  return static_cast<ssize_t>(n);
}

ssize_t Ring::Write(RingSource* s, const iovec* iov, int count) {
  if (s->serr != 0) return -s->serr;
  if (s->wr_shut) return -EPIPE;  // as the kernel says after SHUT_WR, deferred (shut_wr) or done
  size_t queued = s->queued_send();
  if (queued >= kSendCap) {
    s->want_writable = true;
    return -EAGAIN;
  }
  if (queued == 0 && !s->send_armed && (count != 1 || iov[0].iov_len >= kDirectSend)) {
    size_t want = 0;
    for (int i = 0; i < count; i++) want += iov[i].iov_len;
    if (want >= kDirectSend) return WriteDirect(s, iov, count, want);
  }
  return WriteQueued(s, iov, count, queued, 0);
}

ssize_t Ring::WriteDirect(RingSource* s, const iovec* iov, int count, size_t want) {
  // Nothing of this stream's is queued, so these bytes are next on the wire either way. The
  // iovecs point into the caller's memory, used only within this call.
  stats_.direct_sends++;
  const ssize_t r = polled::Writev(s->fd, iov, count, true);  // socket.h's, as the readiness path writes
  if (r < 0 && r != -EAGAIN && r != -EWOULDBLOCK) return r;
  const size_t direct = r > 0 ? static_cast<size_t>(r) : 0;
  if (direct == want) return static_cast<ssize_t>(want);
  return WriteQueued(s, iov, count, 0, direct);  // the rest, as any write
}

int Ring::Accept(RingSource* s, Fd* out) {
  if (s->accepted.size() > s->ahead) {
    *out = std::move(s->accepted[s->ahead++]);
    if (s->ahead == s->accepted.size()) {
      s->accepted.clear();
      s->ahead = 0;
      if (!s->accept_armed && s->aerr == 0) ArmAccept(s);  // was stopped at the cap
    }
    return 0;
  }
  if (s->aerr != 0) {
    int e = s->aerr;
    s->aerr = 0;
    return -e;
  }
  if (!s->accept_armed && !ArmAccept(s)) return -ENOMEM;
  return -EAGAIN;
}

int Ring::Shutdown(RingSource* s, int how) {
  // The write side waits for the bytes already written (they are still in the send buffer);
  // the read side goes now.
  bool wr = how == SHUT_WR || how == SHUT_RDWR;
  if (wr && (s->send_armed || s->queued_send() > 0)) {
    s->shut_wr = true;
    s->wr_shut = true;
    if (how == SHUT_RDWR && ::shutdown(s->fd, SHUT_RD) < 0) return -errno;
    return 0;
  }
  if (::shutdown(s->fd, how) < 0) return -errno;
  // A write after this is never queued (it would only fail at its SEND, after returning bytes
  // written): it says EPIPE at once, as on epoll. (Before large writes went out directly, the
  // bytes still queued at shutdown always took the branch above, which hid this.)
  if (wr) s->wr_shut = true;
  return 0;
}

// ---- The byte paths' entry points (ring.h) ------------------------------------------------------

ssize_t RingRead(RingSource* s, uint8_t* data, size_t len) { return s->ring->Read(s, data, len); }
ssize_t RingWritev(RingSource* s, const iovec* iov, int count) { return s->ring->Write(s, iov, count); }
int RingAccept(RingSource* s, Fd* out) { return s->ring->Accept(s, out); }
int RingShutdown(RingSource* s, int how) { return s->ring->Shutdown(s, how); }
bool RingBusy(RingSource* s) { return s->ring->Busy(s); }
int RingAdd(Ring* r, int fd, bool is_socket, uint32_t token, RingSource** io_slot, RingSource** poll_slot) {
  return r->Add(fd, is_socket, token, io_slot, poll_slot);
}
void RingRemove(RingSource* s, Fd* fd) { s->ring->Remove(s, fd); }

}  // namespace polled
