// The kernel reactor behind one small interface, in the style of smol-rs/polling and mio's
// selectors: one Poller class, one .cc per backend (poller_epoll.cc, poller_kqueue.cc), chosen
// at build time by binding.gyp. Nothing here knows about N-API, handles or JavaScript.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>
#if defined(POLLED_LIBKQUEUE)
#include <unordered_map>
#include <utility>
#endif

#if defined(POLLED_BACKEND_EPOLL)
#include <sys/epoll.h>
#elif defined(POLLED_BACKEND_KQUEUE)
#include <sys/types.h>
#include <sys/event.h>
#else
#error "define POLLED_BACKEND_EPOLL or POLLED_BACKEND_KQUEUE (binding.gyp does)"
#endif

#include "contract.h"  // readiness bits and the reserved tokens

namespace polled {

// The io_uring backend (poller_uring.h), chosen at run time by pollerCreate(kPollerUring) in a
// build that has it (POLLED_URING). A Poller opened with OpenRing() forwards its waits, notifier,
// timer and loop watch to the Ring; handles registered in it get a RingSource (handles.cc).
class Ring;
class RingSource;

// A duration in ms as whole ns, rounded up so that a deadline is never early; clamped to a
// century so that the arithmetic of every backend stays in range.
inline int64_t CeilNs(double ms) {
  constexpr double kMaxNs = 100.0 * 365 * 24 * 3600 * 1e9;
  if (!(ms > 0)) return 0;
  double ns = std::ceil(ms * 1e6);
  return ns < kMaxNs ? static_cast<int64_t>(ns) : static_cast<int64_t>(kMaxNs);
}

// Owns one file descriptor and closes it when dropped. Every fd the addon opens lives in one
// of these from the moment the syscall returns it, so no error path can leak it.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.Release()) {}
  Fd& operator=(Fd&& other) noexcept {
    Reset(other.Release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }

  int get() const { return fd_; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // close(2)'s own errors are ignored: on Linux the fd is gone whatever it returns, and
  // retrying after EINTR could close an fd another thread has just been given.
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// A kernel event queue with a notifier and one timer. Every method returns >= 0 or -errno.
// Only Notify() may be called from another thread; everything else belongs to the JS thread.
class Poller {
 public:
  // Most events one wait hands over, whatever the size of the JS array: bounds the native
  // buffer; anything left stays queued in the kernel for the next wait.
  static constexpr size_t kMaxBatch = 1024;

  Poller() = default;
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;
  ~Poller() {
    if (ring_ != nullptr) CloseRing();
  }

  // Opens the queue and registers the notifier and the timer in it.
  int Open();
  // Opens an io_uring instead (poller_uring.cc): -ENOSYS in a build without it, else the setup's
  // errno (ENOSYS, EPERM under seccomp, EOPNOTSUPP without multishot accept).
  // `recv`: kUringRecv* (contract.h).
  int OpenRing(uint32_t recv);
  bool is_ring() const { return ring_ != nullptr; }
  Ring* ring() const { return ring_; }
  int fd() const { return ring_fd_ >= 0 ? ring_fd_ : fd_.get(); }
  // The fd that becomes readable while events are pending (what the uv driver watches), or -1
  // when the backend has none that another poller could watch (libkqueue on Linux).
  int pollable_fd() const;

  // Where Wait() writes (token, bits) pairs. The caller keeps `pairs` alive. Allocates the
  // native buffer once here, so that Wait() never does. The same for both backends: only the
  // element type of buf_ differs.
  void SetEvents(uint32_t* pairs, size_t capacity) {
    batch_ = std::min(capacity, kMaxBatch);
    buf_.resize(batch_);
    out_ = pairs;
  }
  bool has_events() const { return out_ != nullptr; }
  // The most pairs one Wait() can return: a full batch means more may be waiting.
  size_t batch() const { return batch_; }

  // Edge-triggered interest (kReadable | kWritable) in `fd` under `token`.
  int Add(int fd, uint32_t token, uint32_t interest);
  int Modify(int fd, uint32_t token, uint32_t interest);
  int Delete(int fd);

  // Waits up to `timeout_ms` (< 0: forever; fractions round up, so never early) and writes the
  // ready pairs into the registered array. Returns the count; EINTR counts as 0 events.
  int Wait(double timeout_ms);

  // Wakes a Wait() in progress or the next one; reported once as kNotifyToken. Thread-safe.
  int Notify();
  // Edge-triggered read interest in `fd` (the thread's libuv backend fd) under kLoopToken: a
  // Wait() parked while Node's loop cannot run (blockOn) then wakes when that loop gets work:
  // worker.terminate() and process.exit() signal it, and so does a signal libuv catches. Edge-
  // triggered because libuv's own registrations are level-triggered: nobody drains them while
  // blockOn holds the thread, so a level watch would report the same work on every wait.
  int WatchLoop(int fd);
  int UnwatchLoop(int fd);

  // One-shot timer `delay_ms` from now, reported as kTimerToken; re-arming replaces it.
  int ArmTimer(double delay_ms);
  int DisarmTimer();

  // Submits what this turn queued (the ring's SQEs); nothing for a readiness poller. The embedded
  // driver calls it before libuv blocks, so that an op armed by JS outside pollerWait still starts.
  void Flush() {
    if (ring_ != nullptr) RingFlush();
  }

 private:
  // The ring's side of the methods above (poller_uring.cc), which poller_epoll.cc forwards to.
#if defined(POLLED_URING)
  void CloseRing();
  int RingWait(double timeout_ms);
  int RingNotify();
  int RingWatchLoop(int fd);
  int RingUnwatchLoop();
  int RingArmTimer(double delay_ms);
  int RingDisarmTimer();
  void RingFlush();
#else
  void CloseRing() {}
  void RingFlush() {}
#endif
  Ring* ring_ = nullptr;  // owned: closed by CloseRing()
  int ring_fd_ = -1;

  Fd fd_;  // the epoll / kqueue instance
#if defined(POLLED_BACKEND_EPOLL)
  Fd notify_fd_;  // eventfd
  Fd timer_fd_;   // timerfd
  std::vector<epoll_event> buf_;
#else
  std::vector<struct kevent> buf_;
#endif
#if defined(POLLED_LIBKQUEUE)
  // fd -> (token, interest) of every registration, the loop watch included: what Rearm() redoes
  // after a full batch, where libkqueue may have dropped edge-triggered events (see Wait()).
  std::unordered_map<int, std::pair<uint32_t, uint32_t>> registered_;
  void Rearm();
#endif
  uint32_t* out_ = nullptr;
  size_t batch_ = 0;
};

}  // namespace polled
