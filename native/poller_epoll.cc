// epoll backend (Linux), after smol-rs/polling's epoll.rs: the notifier is an eventfd and the
// timer a timerfd, both registered in the epoll set under the reserved tokens.
#include <errno.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <climits>
#include <cmath>

#include "poller.h"

namespace polled {

namespace {

// User registrations are edge-triggered: an event is reported once per edge, and JS keeps its
// own readiness until a syscall says EAGAIN. EPOLLRDHUP reports a peer's shutdown even when
// only writes are of interest.
uint32_t EpollFlags(uint32_t interest) {
  uint32_t flags = EPOLLET | EPOLLRDHUP;
  if (interest & kReadable) flags |= EPOLLIN | EPOLLPRI;
  if (interest & kWritable) flags |= EPOLLOUT;
  return flags;
}

uint32_t Bits(uint32_t events) {
  uint32_t bits = 0;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLPRI)) bits |= kReadable;
  if (events & EPOLLOUT) bits |= kWritable;
  if (events & (EPOLLHUP | EPOLLRDHUP)) bits |= kHangup;
  if (events & EPOLLERR) bits |= kError;
  return bits;
}

int Ctl(int epfd, int op, int fd, uint32_t flags, uint32_t token) {
  epoll_event ev{};
  ev.events = flags;
  ev.data.u32 = token;
  return epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0;
}

// Reads an eventfd / timerfd counter back to zero. EAGAIN only means another wait (or a
// re-arm of the timer) got there first.
void Drain(int fd) {
  uint64_t n;
  ssize_t r;
  do r = read(fd, &n, sizeof n);
  while (r < 0 && errno == EINTR);
}

}  // namespace

int Poller::Open() {
  fd_.Reset(epoll_create1(EPOLL_CLOEXEC));
  if (fd_.get() < 0) return -errno;
  notify_fd_.Reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (notify_fd_.get() < 0) return -errno;
  timer_fd_.Reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (timer_fd_.get() < 0) return -errno;
  // Level-triggered, unlike user fds: reading the counter is what clears them, so a wake that
  // lands between epoll_wait and that read is reported again rather than lost.
  int rc = Ctl(fd_.get(), EPOLL_CTL_ADD, notify_fd_.get(), EPOLLIN, kNotifyToken);
  if (rc < 0) return rc;
  return Ctl(fd_.get(), EPOLL_CTL_ADD, timer_fd_.get(), EPOLLIN, kTimerToken);
}

// A Poller opened with OpenRing() has no epoll set: the calls below that it answers differently
// are forwarded to poller_uring.cc (the rest are never called on it: handles.cc registers ring
// handles through the Ring itself).
#if defined(POLLED_URING)
#define POLLED_ON_RING(call) \
  if (ring_ != nullptr) return call
#else
#define POLLED_ON_RING(call)
#endif

int Poller::pollable_fd() const { return fd(); }

int Poller::Add(int fd, uint32_t token, uint32_t interest) {
  return Ctl(fd_.get(), EPOLL_CTL_ADD, fd, EpollFlags(interest), token);
}

int Poller::Modify(int fd, uint32_t token, uint32_t interest) {
  return Ctl(fd_.get(), EPOLL_CTL_MOD, fd, EpollFlags(interest), token);
}

int Poller::Delete(int fd) { return Ctl(fd_.get(), EPOLL_CTL_DEL, fd, 0, 0); }

int Poller::WatchLoop(int fd) {
  POLLED_ON_RING(RingWatchLoop(fd));
  return Ctl(fd_.get(), EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLET, kLoopToken);
}

int Poller::UnwatchLoop(int fd) {
  POLLED_ON_RING(RingUnwatchLoop());
  return Delete(fd);
}

int Poller::Wait(double timeout_ms) {
  POLLED_ON_RING(RingWait(timeout_ms));
  // epoll_wait counts whole ms: round a fraction up so that a deadline is never early.
  int ms = timeout_ms < 0 ? -1 : static_cast<int>(std::min(std::ceil(timeout_ms), double{INT_MAX}));
  int n = epoll_wait(fd_.get(), buf_.data(), static_cast<int>(batch_), ms);
  if (n < 0) return errno == EINTR ? 0 : -errno;
  for (int i = 0; i < n; i++) {
    uint32_t token = buf_[i].data.u32;
    if (token == kNotifyToken) Drain(notify_fd_.get());
    if (token == kTimerToken) Drain(timer_fd_.get());
    out_[2 * i] = token;
    out_[2 * i + 1] = Bits(buf_[i].events);
  }
  return n;
}

int Poller::Notify() {
  POLLED_ON_RING(RingNotify());
  // Adding 1 to the counter makes the eventfd readable; it saturates only after 2^64 - 2
  // un-drained notifies, so EAGAIN here would still leave it readable.
  uint64_t one = 1;
  ssize_t r;
  do r = write(notify_fd_.get(), &one, sizeof one);
  while (r < 0 && errno == EINTR);
  return r < 0 && errno != EAGAIN ? -errno : 0;
}

int Poller::ArmTimer(double delay_ms) {
  POLLED_ON_RING(RingArmTimer(delay_ms));
  // A zero it_value would disarm the timer: "now" is 1 ns from now.
  int64_t ns = std::max<int64_t>(CeilNs(delay_ms), 1);
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(ns / 1000000000);
  spec.it_value.tv_nsec = static_cast<long>(ns % 1000000000);
  // timerfd_settime also zeroes an expiry not yet read, so a replaced arming never fires.
  return timerfd_settime(timer_fd_.get(), 0, &spec, nullptr) < 0 ? -errno : 0;
}

int Poller::DisarmTimer() {
  POLLED_ON_RING(RingDisarmTimer());
  itimerspec spec{};
  return timerfd_settime(timer_fd_.get(), 0, &spec, nullptr) < 0 ? -errno : 0;
}

#if !defined(POLLED_URING)
int Poller::OpenRing(uint32_t) { return -ENOSYS; }  // this build has no io_uring
#endif

}  // namespace polled
