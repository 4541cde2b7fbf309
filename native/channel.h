// Thread channels: a bounded mpsc queue whose ends live in different threads (lib/thread-channel.ts).
//
// A Channel is process-wide and refcounted (std::shared_ptr): every end holds a reference, and so
// does every message that carries a sender end. No thread ever holds a pointer into another
// thread's state: waiting ends are recorded as (mailbox id, key) pairs and woken with
// PostToMailbox (mailbox.h), which is a no-op for a runtime that is gone.
//
// A message is bytes the channel owns (copied in at send, copied out at receive: never a pointer
// into JavaScript memory) plus the file descriptors of the streams that travel with it, each
// owned by an RAII Fd, and the sender ends that travel with it (SenderRef). So a message that is
// never received closes its fds and lets go of its senders when it is destroyed: when the
// receiver is dropped (the queue is cleared then) or the channel is.
//
// Ends of a thread are handles in that thread's ChannelTable (the env's Instance), so env
// teardown (worker exit, terminate()) drops them: the other side sees the channel closed.
// An end can also be *parked* in the process-wide registry (Share: a number that any thread can
// Claim once), which is how an end is handed to another thread through workerData / postMessage.
//
// Locking: each Channel has one mutex, held only for queue and counter updates. Nothing that can
// lock a channel (destroying a message drops SenderRefs) and no PostToMailbox runs under it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "contract.h"
#include "mailbox.h"
#include "poller.h"  // Fd

namespace polled {

class Channel;

// A counted sender reference: constructing one counts a sender, destroying it (or Reset) uncounts
// it and, for the last one, wakes a waiting receiver. Move-only.
class SenderRef {
 public:
  SenderRef() = default;
  explicit SenderRef(std::shared_ptr<Channel> ch);
  SenderRef(SenderRef&& o) noexcept : ch_(std::move(o.ch_)) {}
  SenderRef& operator=(SenderRef&& o) noexcept;
  SenderRef(const SenderRef&) = delete;
  SenderRef& operator=(const SenderRef&) = delete;
  ~SenderRef() { Reset(); }
  void Reset();
  Channel* get() const { return ch_.get(); }
  const std::shared_ptr<Channel>& shared() const { return ch_; }

 private:
  std::shared_ptr<Channel> ch_;
};

// The one receiver reference of a channel. Destroying it clears the queue (closing the fds in
// it) and fails every later send.
class ReceiverRef {
 public:
  ReceiverRef() = default;
  explicit ReceiverRef(std::shared_ptr<Channel> ch) : ch_(std::move(ch)) {}
  ReceiverRef(ReceiverRef&& o) noexcept : ch_(std::move(o.ch_)) {}
  ReceiverRef& operator=(ReceiverRef&& o) noexcept;
  ReceiverRef(const ReceiverRef&) = delete;
  ReceiverRef& operator=(const ReceiverRef&) = delete;
  ~ReceiverRef() { Reset(); }
  void Reset();
  Channel* get() const { return ch_.get(); }

 private:
  std::shared_ptr<Channel> ch_;
};

struct Message {
  std::unique_ptr<uint8_t[]> bytes;
  size_t len = 0;
  std::vector<Fd> fds;              // streams, in the order they were given
  std::vector<SenderRef> senders;   // sender ends, in order
};

// Who waits: an end (by its process-unique id) and where to post its key.
struct Waiter {
  uint64_t end = 0;
  uint32_t mailbox = 0;
  uint32_t key = 0;
};

// Results of Channel::TrySend / TryRecv (also what JavaScript gets, negated errnos).
enum class ChanResult { kOk, kFull, kEmpty, kClosed };

class Channel {
 public:
  explicit Channel(size_t capacity);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Queue `*msg` if there is room and the receiver is there. kFull: nothing taken, and when
  // `w.key` != 0 the waiter is recorded (replacing this end's earlier one) in the same locked
  // step, so a slot freed right after is never missed. kClosed: the receiver is closed or gone.
  // `take` runs under the lock once the message is accepted, before it is queued: it moves the
  // streams' fds out of the sender's handle table (it must not lock a channel or run JavaScript).
  // `permit`: the message takes a slot reserved earlier (TryReserve) instead of a free one; the
  // reservation is used up whatever the result.
  template <typename Take>
  ChanResult TrySend(Message* msg, const Waiter& w, bool permit, Take take);
  // Reserve a slot (a permit: a later TrySend with `permit` cannot be full). kOk, kFull (waiter
  // recorded as for TrySend), kClosed.
  ChanResult TryReserve(const Waiter& w);
  // Give `n` reserved slots back unused (waiting senders try again).
  void ReleasePermits(size_t n);
  // The oldest message, or kEmpty (recording `w` if its key != 0) / kClosed (no sender is left
  // and nothing is queued, or the receiver was closed and the queue is drained).
  ChanResult TryRecv(Message* out, const Waiter& w);
  // Forget the waiter of end `end` (its future was dropped or the end is going away).
  void Unwait(uint64_t end);
  // The receiver refuses further messages (waiting senders are woken and fail); queued ones stay.
  void CloseRx();

  void AddSender();
  void DropSender();
  void DropReceiver();

  // [queued, capacity, flags]: kChannelRxGone (sends fail), kChannelEnded (a recv would say
  // closed), from contract.h.
  void Info(size_t* queued, uint32_t* flags);
  size_t capacity() const { return capacity_; }

 private:
  std::mutex mu_;
  const size_t capacity_;
  std::deque<Message> queue_;
  size_t senders_ = 0;
  size_t reserved_ = 0;     // slots held by permits: count as taken
  bool rx_gone_ = false;    // receiver dropped: queue cleared, sends fail
  bool rx_closed_ = false;  // receiver closed: sends fail, queue drains
  Waiter rx_waiter_;
  std::vector<Waiter> tx_waiters_;

  // Under mu_: record (or replace) the waiter of end `w.end`, if it has a key.
  void AddTxWaiter(const Waiter& w) {
    if (w.key == 0) return;
    for (Waiter& t : tx_waiters_) {
      if (t.end == w.end) {
        t = w;
        return;
      }
    }
    tx_waiters_.push_back(w);
  }
};

template <typename Take>
ChanResult Channel::TrySend(Message* msg, const Waiter& w, bool permit, Take take) {
  Waiter wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (permit && reserved_ > 0) reserved_--;
    if (rx_gone_ || rx_closed_) return ChanResult::kClosed;
    if (!permit && queue_.size() + reserved_ >= capacity_) {
      AddTxWaiter(w);
      return ChanResult::kFull;
    }
    take(msg);
    queue_.push_back(std::move(*msg));
    if (rx_waiter_.key != 0) {
      wake = rx_waiter_;
      rx_waiter_ = Waiter{};
    }
  }
  if (wake.key != 0) PostToMailbox(wake.mailbox, wake.key);
  return ChanResult::kOk;
}

// ---- Ends of one thread -----------------------------------------------------------------------

// A thread's channel ends, by handle: generation * 2^22 + slot as in HandleTable, with
// generations from 2^30 up, so that an end's handle is never also a live socket's handle number.
class ChannelTable {
 public:
  ChannelTable() = default;
  ChannelTable(const ChannelTable&) = delete;
  ChannelTable& operator=(const ChannelTable&) = delete;
  ~ChannelTable() { CloseAll(); }

  struct End {
    uint32_t gen = 0;
    bool used = false;
    uint64_t id = 0;   // process-unique, names this end's waiter in its channel
    size_t permits = 0;  // slots this sender end has reserved and not used: given back on close
    SenderRef tx;      // exactly one of tx / rx is set while used
    ReceiverRef rx;
    uint32_t next_free = 0;
    Channel* channel() const { return tx.get() != nullptr ? tx.get() : rx.get(); }
  };

  double OpenSender(SenderRef tx);
  double OpenReceiver(ReceiverRef rx);
  End* Get(double handle);
  // Drops the end (unwaiting it first). 0 or -EBADF.
  int Close(double handle);
  // Moves the end out: its handle is retired, the refs are handed to the caller. `unwait`: forget
  // its waiter first (which locks its channel; false when the caller holds a channel's lock and
  // the end is known not to wait).
  int Take(double handle, SenderRef* tx, ReceiverRef* rx, bool unwait = true);
  void CloseAll();
  size_t live() const { return live_; }

 private:
  End* Claim(double* handle);
  void Retire(End* e, double handle);
  std::vector<std::unique_ptr<End>> slots_;
  uint32_t free_ = UINT32_MAX;
  size_t live_ = 0;
};

// ---- Parked ends (descriptors) ----------------------------------------------------------------
// Share moves an end into the process-wide registry under a fresh id (> 0, < 2^53); Claim takes
// it out again in any thread, once. A parked end stays alive (a parked sender keeps the channel
// open) until claimed: that is documented, see lib/thread-channel.ts.
uint64_t ParkEnd(SenderRef tx, ReceiverRef rx);
// -ENOENT: no such id (never was, or claimed already). -EINVAL: it is the other kind of end (it
// stays parked).
int ClaimEnd(uint64_t id, bool want_sender, SenderRef* tx, ReceiverRef* rx);

// Process-wide counts, for leak tests: channels alive, ends parked.
size_t LiveChannels();
size_t ParkedEnds();

uint64_t NextEndId();

}  // namespace polled
