// Wakes from other threads. A poller belongs to one thread's handle table, and its Poller dies
// with that thread, so another thread must never hold a pointer to it. What other threads hold is
// a mailbox *id*: a process-wide number that a registry maps to a refcounted Mailbox. Posting a
// key to an id whose runtime has gone finds nothing (or a closed mailbox) and is a no-op, so a
// wake can never reach a freed poller or an fd the kernel has reused.
//
// A key is a 32-bit number the owning runtime chose (lib/remote.ts): the runtime maps it to the
// waker of one future. Posting queues the key and notifies the poller (its NOTIFY_TOKEN) when the
// queue was empty; the runtime drains the keys when it sees that token and wakes each waker. So
// one wait-and-drain serves any number of posts, and a wake carries whom it is for.
//
// Used by the blocking pool (a finished job posts its key), thread channels (a send posts the
// waiting receiver's key) and worker lifecycles (stop requests).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace polled {

class Poller;

class Mailbox {
 public:
  explicit Mailbox(Poller* poller) : poller_(poller) {}
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Any thread. Queues `key` and notifies the poller if nothing was queued. False once closed.
  bool Post(uint32_t key);
  // The owning JS thread. Moves up to `max` keys into `out` and returns how many; if some are left,
  // notifies again so that the next wait drains them too.
  size_t Drain(uint32_t* out, size_t max);
  // The owning thread, before its poller closes: later posts are dropped.
  void Close();

  uint32_t id = 0;  // set once by Register, before any other thread can know it

 private:
  std::mutex mu_;
  Poller* poller_;  // null once closed; only used under mu_, so Close() cannot race a Notify()
  std::vector<uint32_t> keys_;
};

// The registry. Ids start at 1 and are not reused before 2^32 registrations.
uint32_t RegisterMailbox(const std::shared_ptr<Mailbox>& box);
void UnregisterMailbox(uint32_t id);
// 0, or -ESRCH when no live runtime has this id (it closed, its thread exited, or it never was).
int PostToMailbox(uint32_t id, uint32_t key);

}  // namespace polled
