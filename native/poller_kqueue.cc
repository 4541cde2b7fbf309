// kqueue backend (macOS, BSD; Linux through libkqueue), after smol-rs/polling's kqueue.rs:
// EVFILT_READ / EVFILT_WRITE with EV_CLEAR for user fds, EVFILT_USER for the notifier and a
// one-shot EVFILT_TIMER for the timer. The token travels in udata.
#include <errno.h>
#include <fcntl.h>
#include <time.h>

#include <algorithm>
#include <utility>

#include "poller.h"

namespace polled {

namespace {

// udata is void* on most systems and intptr_t on older NetBSD: a C-style cast serves both.
using UData = decltype(std::declval<struct kevent>().udata);
UData ToUData(uint32_t token) { return (UData)(uintptr_t)token; }
uint32_t FromUData(UData udata) { return static_cast<uint32_t>((uintptr_t)udata); }

// Idents of the notifier and the timer. Each filter has its own ident space, so they cannot
// collide with an fd registered for EVFILT_READ / EVFILT_WRITE.
constexpr uintptr_t kNotifyIdent = 0;
constexpr uintptr_t kTimerIdent = 0;

// Applies up to two changes. EV_RECEIPT makes kevent() answer every change with an EV_ERROR
// entry (data = 0 or the errno) instead of dequeuing pending events, so a change can neither
// fail silently nor steal an event from the next wait.
int Apply(int kq, struct kevent* changes, int n) {
  struct kevent results[2];
  for (int i = 0; i < n; i++) changes[i].flags |= EV_RECEIPT;
  int r = kevent(kq, changes, n, results, n, nullptr);
  if (r < 0) return -errno;
  for (int i = 0; i < r; i++) {
    intptr_t err = (results[i].flags & EV_ERROR) ? results[i].data : 0;
    // ENOENT: deleting a filter that was never added. EPIPE: macOS refuses EVFILT_WRITE on a
    // pipe whose reader is gone, which the next write reports anyway.
    if (err != 0 && err != ENOENT && err != EPIPE) return static_cast<int>(-err);
  }
  return 0;
}

// Adds the filters in `interest` and deletes the others, so Add and Modify are one operation.
// EVFILT_WRITE goes first for libkqueue (Linux): it keeps one epoll registration per fd, and
// when a second filter joins it ORs only EPOLLIN / EPOLLOUT of the first into the new mask. With
// READ applied last the mask keeps READ's EPOLLRDHUP, so a FIN that arrives with the last bytes
// is reported as EV_EOF; without it, the short read of those bytes would clear readiness and the
// end of stream would never be heard. Native kqueue does not care about the order.
int Register(int kq, int fd, uint32_t token, uint32_t interest) {
  struct kevent changes[2];
  uint16_t on_read = (interest & kReadable) ? EV_ADD | EV_CLEAR : EV_DELETE;
  uint16_t on_write = (interest & kWritable) ? EV_ADD | EV_CLEAR : EV_DELETE;
  EV_SET(&changes[0], fd, EVFILT_WRITE, on_write, 0, 0, ToUData(token));
  EV_SET(&changes[1], fd, EVFILT_READ, on_read, 0, 0, ToUData(token));
  return Apply(kq, changes, 2);
}

uint32_t Bits(const struct kevent& ev) {
  uint32_t bits = ev.filter == EVFILT_WRITE ? kWritable : kReadable;  // READ, USER, TIMER
  if (ev.flags & EV_EOF) bits |= kHangup;
  // On EV_EOF, fflags carries the socket's pending error, if any.
  if ((ev.flags & EV_ERROR) || ((ev.flags & EV_EOF) && ev.fflags != 0)) bits |= kError;
  return bits;
}

}  // namespace

int Poller::Open() {
  fd_.Reset(kqueue());
  if (fd_.get() < 0) return -errno;
  if (fcntl(fd_.get(), F_SETFD, FD_CLOEXEC) < 0) return -errno;
  // EV_CLEAR: the user event resets once it has been reported, like a drained eventfd.
  struct kevent change;
  EV_SET(&change, kNotifyIdent, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, ToUData(kNotifyToken));
  return Apply(fd_.get(), &change, 1);
}

int Poller::pollable_fd() const {
#if defined(POLLED_LIBKQUEUE)
  // libkqueue hands out the write end of a pipe as the kqueue fd: it never becomes readable.
  return -1;
#else
  return fd_.get();
#endif
}

int Poller::Add(int fd, uint32_t token, uint32_t interest) {
  int rc = Register(fd_.get(), fd, token, interest);
#if defined(POLLED_LIBKQUEUE)
  if (rc == 0) registered_[fd] = {token, interest};
#endif
  return rc;
}

int Poller::Modify(int fd, uint32_t token, uint32_t interest) {
#if defined(POLLED_LIBKQUEUE)
  // libkqueue rebuilds the epoll mask from EPOLLIN / EPOLLOUT alone when one of two filters is
  // deleted, so EPOLLET and EPOLLRDHUP would be lost: drop both, then register afresh.
  int rc = Register(fd_.get(), fd, 0, 0);
  if (rc < 0) return rc;
  rc = Register(fd_.get(), fd, token, interest);
  if (rc == 0) registered_[fd] = {token, interest};
  else registered_.erase(fd);
  return rc;
#else
  return Register(fd_.get(), fd, token, interest);
#endif
}

int Poller::Delete(int fd) {
#if defined(POLLED_LIBKQUEUE)
  registered_.erase(fd);
#endif
  return Register(fd_.get(), fd, 0, 0);
}

int Poller::WatchLoop(int fd) {
  struct kevent change;
  EV_SET(&change, fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, ToUData(kLoopToken));
  int rc = Apply(fd_.get(), &change, 1);
#if defined(POLLED_LIBKQUEUE)
  if (rc == 0) registered_[fd] = {kLoopToken, kReadable};  // Register() makes the same change
#endif
  return rc;
}

int Poller::UnwatchLoop(int fd) {
#if defined(POLLED_LIBKQUEUE)
  registered_.erase(fd);
#endif
  struct kevent change;
  EV_SET(&change, fd, EVFILT_READ, EV_DELETE, 0, 0, ToUData(kLoopToken));
  return Apply(fd_.get(), &change, 1);
}

#if defined(POLLED_LIBKQUEUE)
// libkqueue clamps the event list to MAX_KEVENT (512) and asks epoll for as many events as the
// list has slots; an fd with both filters makes one epoll event into two kevents, and what does
// not fit is dropped. For EV_CLEAR (EPOLLET) registrations the edge is then gone for good. Only a
// full list can have lost something: register everything afresh, so that epoll looks at each fd
// again and queues what is ready (a spurious event costs the reader an EAGAIN, nothing more).
constexpr size_t kLibkqueueMaxEvents = 512;

void Poller::Rearm() {
  for (const auto& [fd, reg] : registered_) {
    Register(fd_.get(), fd, 0, 0);
    Register(fd_.get(), fd, reg.first, reg.second);
  }
}
#endif

int Poller::Wait(double timeout_ms) {
  timespec ts{};
  if (timeout_ms >= 0) {
    int64_t ns = CeilNs(timeout_ms);
    ts.tv_sec = static_cast<time_t>(ns / 1000000000);
    ts.tv_nsec = static_cast<long>(ns % 1000000000);
  }
  int n = kevent(fd_.get(), nullptr, 0, buf_.data(), static_cast<int>(batch_),
                 timeout_ms < 0 ? nullptr : &ts);
  if (n < 0) return errno == EINTR ? 0 : -errno;
#if defined(POLLED_LIBKQUEUE)
  if (static_cast<size_t>(n) >= std::min(batch_, kLibkqueueMaxEvents)) Rearm();
#endif
  // A socket ready both ways arrives as two events, usually side by side: merge neighbours
  // with the same token (JS ORs the bits of separate pairs anyway).
  int count = 0;
  for (int i = 0; i < n; i++) {
    uint32_t token = FromUData(buf_[i].udata);
    uint32_t bits = Bits(buf_[i]);
    if (count > 0 && out_[2 * (count - 1)] == token) {
      out_[2 * (count - 1) + 1] |= bits;
    } else {
      out_[2 * count] = token;
      out_[2 * count + 1] = bits;
      count++;
    }
  }
  return count;
}

int Poller::Notify() {
  struct kevent change;
  EV_SET(&change, kNotifyIdent, EVFILT_USER, 0, NOTE_TRIGGER, 0, ToUData(kNotifyToken));
  return kevent(fd_.get(), &change, 1, nullptr, 0, nullptr) < 0 ? -errno : 0;
}

int Poller::ArmTimer(double delay_ms) {
  // EV_ADD on an armed timer replaces it; EV_ONESHOT deletes it once it has fired.
  int64_t ns = std::max<int64_t>(CeilNs(delay_ms), 1);
#if defined(NOTE_NSECONDS)
  uint32_t unit = NOTE_NSECONDS;
  int64_t amount = ns;
#elif defined(NOTE_USECONDS)
  uint32_t unit = NOTE_USECONDS;
  int64_t amount = (ns + 999) / 1000;
#else
  uint32_t unit = 0;  // milliseconds
  int64_t amount = (ns + 999999) / 1000000;
#endif
  struct kevent change;
  EV_SET(&change, kTimerIdent, EVFILT_TIMER, EV_ADD | EV_ONESHOT, unit,
         static_cast<intptr_t>(amount), ToUData(kTimerToken));
  return Apply(fd_.get(), &change, 1);
}

int Poller::DisarmTimer() {
  // Deleting the knote also drops an expiry not yet reported.
  struct kevent change;
  EV_SET(&change, kTimerIdent, EVFILT_TIMER, EV_DELETE, 0, 0, ToUData(kTimerToken));
  return Apply(fd_.get(), &change, 1);
}

int Poller::OpenRing(uint32_t) { return -ENOSYS; }  // io_uring is Linux-only

}  // namespace polled
