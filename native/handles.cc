#include "handles.h"

#include <errno.h>

#include <chrono>
#include <new>

#include "ring.h"

namespace polled {

namespace {

double HandleOf(uint64_t gen, uint64_t slot) {
  return static_cast<double>(gen * kSlots + slot);
}

}  // namespace

PollerEntry::~PollerEntry() {
  if (mailbox != nullptr) {
    UnregisterMailbox(mailbox->id);
    mailbox->Close();  // a Post() racing this one has finished its Notify() when Close() returns
  }
  if (keys_ref != nullptr) napi_delete_reference(env_, keys_ref);
  if (driver != nullptr) driver->Stop();
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  JoinFinished(true);
  if (events != nullptr) napi_delete_reference(env_, events);
}

// Joins the threads that are done (every thread when `all`). Only the JS thread calls this.
void PollerEntry::JoinFinished(bool all) {
  std::vector<std::unique_ptr<NotifyJob>> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      if (all || (*it)->done) {
        finished.push_back(std::move(*it));
        it = jobs_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& job : finished) pthread_join(job->thread, nullptr);
}

int PollerEntry::NotifyAfter(double delay_ms) {
  JoinFinished(false);
  if (jobs_.size() >= kMaxNotifyThreads) return -EAGAIN;
  std::unique_ptr<NotifyJob> job(new (std::nothrow) NotifyJob{this, CeilNs(delay_ms), {}, false});
  if (job == nullptr) return -ENOMEM;
  // pthread rather than std::thread: built without exceptions, a failure must be an errno. A
  // small stack: the thread only waits and writes 8 bytes.
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  std::lock_guard<std::mutex> lock(mu_);  // the thread's first act waits until `job` is listed
  int rc = pthread_create(&job->thread, &attr, NotifyThread, job.get());
  pthread_attr_destroy(&attr);
  if (rc != 0) return -rc;
  jobs_.push_back(std::move(job));
  return 0;
}

void* PollerEntry::NotifyThread(void* arg) {
  NotifyJob* job = static_cast<NotifyJob*>(arg);
  PollerEntry* self = job->entry;
  // A condition variable rather than a sleep, so that closing the poller cuts the wait short.
  std::unique_lock<std::mutex> lock(self->mu_);
  if (!self->cv_.wait_for(lock, std::chrono::nanoseconds(job->ns),
                          [self] { return self->closing_; })) {
    self->poller.Notify();
  }
  job->done = true;  // the job (owned by jobs_) is freed only after pthread_join
  return nullptr;
}

Entry* HandleTable::Claim(Kind kind, double* handle) {
  uint32_t slot;
  if (free_ != UINT32_MAX) {
    slot = free_;
    free_ = slots_[slot]->next_free;
  } else if (slots_.size() < kSlots) {
    std::unique_ptr<Entry> fresh(new (std::nothrow) Entry());
    if (fresh == nullptr) return nullptr;
    slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back(std::move(fresh));
  } else {
    return nullptr;
  }
  Entry& e = *slots_[slot];
  e.kind = kind;
  live_++;
  *handle = HandleOf(e.gen, slot);
  return &e;
}

double HandleTable::Open(Kind kind, Fd fd) {
  double handle;
  Entry* e = Claim(kind, &handle);
  if (e == nullptr) return -EMFILE;
  e->fd = std::move(fd);
  return handle;
}

double HandleTable::OpenFile(std::shared_ptr<Fd> fd) {
  double handle;
  Entry* e = Claim(Kind::kFile, &handle);
  if (e == nullptr) return -EMFILE;
  e->file = std::move(fd);
  return handle;
}

double HandleTable::OpenPoller(std::unique_ptr<PollerEntry> poller) {
  double handle;
  Entry* e = Claim(Kind::kPoller, &handle);
  if (e == nullptr) return -EMFILE;
  e->poller = std::move(poller);
  return handle;
}

int HandleTable::Close(double handle) {
  Entry* e = Get(handle);
  if (e == nullptr) return -EBADF;
  // kqueue wants EV_DELETE before close() (libkqueue keeps its own epoll registration), and
  // with epoll it is free. A poller closed earlier has already forgotten the fd.
  if (e->registered_in >= 0) Deregister(e->registered_in, handle, &e->fd);
  e->registered_in = -1;
  e->ring_io = e->ring_poll = nullptr;  // the ring let go of them (or is gone)
  Unbind(e);
  e->poller.reset();
  e->fd.Reset();
  e->file.reset();  // the fd closes here, or when the last pool job using it is done
  e->kind = Kind::kFree;
  e->gen = e->gen == kMaxGen ? 1 : e->gen + 1;
  e->next_free = free_;
  free_ = static_cast<uint32_t>(static_cast<uint64_t>(handle) & (kSlots - 1));
  live_--;
  return 0;
}

int HandleTable::Take(double handle, Fd* out) {
  Entry* e = Get(handle);
  if (e == nullptr || e->kind == Kind::kPoller) return e == nullptr ? -EBADF : -EINVAL;
  // Received bytes, unsent bytes or an op in flight on a ring stream cannot follow the fd.
  if (e->ring_io != nullptr && RingBusy(e->ring_io)) return -EBUSY;
  // Out of its poller while the fd is still the entry's (epoll keeps an fd registered for as long
  // as the file is open anywhere, and the fd lives on in the message).
  if (e->registered_in >= 0) Deregister(e->registered_in, handle);
  e->registered_in = -1;
  *out = std::move(e->fd);  // e->fd is empty now: Close() below retires the entry, closes nothing
  return Close(handle);
}

void HandleTable::CloseAll() {
  // Pollers last, so that every fd is deregistered while its poller is still there.
  for (bool pollers : {false, true}) {
    for (uint64_t slot = 0; slot < slots_.size(); slot++) {
      const Entry& e = *slots_[slot];
      if (e.kind != Kind::kFree && (e.kind == Kind::kPoller) == pollers) {
        Close(HandleOf(e.gen, slot));
      }
    }
  }
}

int HandleTable::Bind(double handle, BufferSlot slot, napi_value buf, size_t offset, size_t length, uint8_t* shared) {
  Entry* e = Get(handle);
  if (e == nullptr) return -EBADF;
  napi_ref ref;
  if (napi_create_reference(env_, buf, 1, &ref) != napi_ok) return -ENOMEM;
  BoundBuffer& b = e->bound[slot];
  if (b.buffer != nullptr) napi_delete_reference(env_, b.buffer);
  b = BoundBuffer{ref, offset, length, shared};
  return 0;
}

void HandleTable::Unbind(Entry* e) {
  for (BoundBuffer& b : e->bound) {
    if (b.buffer != nullptr) napi_delete_reference(env_, b.buffer);
    b = BoundBuffer{};
  }
}

PollerEntry* HandleTable::PollerOf(double handle, int* err) {
  Entry* e = Get(handle);
  *err = e == nullptr ? -EBADF : e->kind != Kind::kPoller ? -EINVAL : 0;
  return *err == 0 ? e->poller.get() : nullptr;
}

int HandleTable::Register(double poller, double handle, uint32_t token, uint32_t interest) {
  int err;
  PollerEntry* p = PollerOf(poller, &err);
  if (p == nullptr) return err;
  Entry* e = Get(handle);
  if (e == nullptr) return -EBADF;
  // A poller inside a poller is refused: once one of them is also watched by libuv's epoll set
  // (the embedded driver) or watches it (blockOn's pollerWatchLoop), a chain of them can close
  // a loop or pass the kernel's nesting limit, and libuv aborts the process when its own
  // epoll_ctl then fails (ELOOP / EINVAL). Nothing in polled nests pollers.
  if (e->kind == Kind::kPoller) return -EINVAL;
  if (e->registered_in >= 0 && Get(e->registered_in) != nullptr) return -EEXIST;
  e->ring_io = e->ring_poll = nullptr;  // an earlier poller's ring, closed since
  int rc;
  if (p->poller.is_ring()) {
    // Interest is always both directions here (lib/reactor.ts registers READABLE | WRITABLE).
    rc = RingAdd(p->poller.ring(), e->raw_fd(), e->is_socket(), token, &e->ring_io, &e->ring_poll);
  } else {
    rc = p->poller.Add(e->raw_fd(), token, interest);
  }
  if (rc == 0) e->registered_in = poller;
  return rc;
}

int HandleTable::Reregister(double poller, double handle, uint32_t token, uint32_t interest) {
  int err;
  PollerEntry* p = PollerOf(poller, &err);
  if (p == nullptr) return err;
  Entry* e = Get(handle);
  if (e == nullptr) return -EBADF;
  if (e->registered_in != poller) return -ENOENT;
  if (p->poller.is_ring()) return 0;  // a ring reports both directions whatever the interest
  return p->poller.Modify(e->raw_fd(), token, interest);
}

int HandleTable::Deregister(double poller, double handle, Fd* closing_fd) {
  int err;
  PollerEntry* p = PollerOf(poller, &err);
  if (p == nullptr) return err;
  Entry* e = Get(handle);
  if (e == nullptr) return -EBADF;
  if (e->registered_in != poller) return -ENOENT;
  e->registered_in = -1;
  RingSource* s = e->ring_io != nullptr ? e->ring_io : e->ring_poll;
  if (s != nullptr) {
    RingRemove(s, closing_fd);  // clears e->ring_io / e->ring_poll
    return 0;
  }
  return p->poller.Delete(e->raw_fd());
}

}  // namespace polled
