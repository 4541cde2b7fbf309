#include "channel.h"

#include <errno.h>

#include <atomic>
#include <new>
#include <unordered_map>

namespace polled {

namespace {

std::atomic<size_t> g_live_channels{0};
std::atomic<uint64_t> g_next_end_id{1};

void PostAll(const std::vector<Waiter>& ws) {
  for (const Waiter& w : ws) PostToMailbox(w.mailbox, w.key);
}

}  // namespace

uint64_t NextEndId() { return g_next_end_id.fetch_add(1, std::memory_order_relaxed); }
size_t LiveChannels() { return g_live_channels.load(); }

// ---- Refs -------------------------------------------------------------------------------------

SenderRef::SenderRef(std::shared_ptr<Channel> ch) : ch_(std::move(ch)) {
  if (ch_ != nullptr) ch_->AddSender();
}

SenderRef& SenderRef::operator=(SenderRef&& o) noexcept {
  if (this != &o) {
    Reset();
    ch_ = std::move(o.ch_);
  }
  return *this;
}

void SenderRef::Reset() {
  std::shared_ptr<Channel> ch = std::move(ch_);
  if (ch != nullptr) ch->DropSender();
}

ReceiverRef& ReceiverRef::operator=(ReceiverRef&& o) noexcept {
  if (this != &o) {
    Reset();
    ch_ = std::move(o.ch_);
  }
  return *this;
}

void ReceiverRef::Reset() {
  std::shared_ptr<Channel> ch = std::move(ch_);
  if (ch != nullptr) ch->DropReceiver();
}

// ---- Channel ----------------------------------------------------------------------------------

Channel::Channel(size_t capacity) : capacity_(capacity) { g_live_channels.fetch_add(1); }
Channel::~Channel() { g_live_channels.fetch_sub(1); }

ChanResult Channel::TryRecv(Message* out, const Waiter& w) {
  std::vector<Waiter> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.empty()) {
      if (senders_ == 0 || rx_closed_ || rx_gone_) return ChanResult::kClosed;
      if (w.key != 0) rx_waiter_ = w;
      return ChanResult::kEmpty;
    }
    *out = std::move(queue_.front());
    queue_.pop_front();
    // A slot is free: every waiting sender tries again (each end waits once, so this is at most
    // one post per sending thread and wait).
    if (!tx_waiters_.empty()) wake.swap(tx_waiters_);
  }
  PostAll(wake);
  return ChanResult::kOk;
}

ChanResult Channel::TryReserve(const Waiter& w) {
  std::lock_guard<std::mutex> lock(mu_);
  if (rx_gone_ || rx_closed_) return ChanResult::kClosed;
  if (queue_.size() + reserved_ >= capacity_) {
    AddTxWaiter(w);
    return ChanResult::kFull;
  }
  reserved_++;
  return ChanResult::kOk;
}

void Channel::ReleasePermits(size_t n) {
  if (n == 0) return;
  std::vector<Waiter> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reserved_ = reserved_ > n ? reserved_ - n : 0;
    wake.swap(tx_waiters_);
  }
  PostAll(wake);
}

void Channel::Unwait(uint64_t end) {
  std::lock_guard<std::mutex> lock(mu_);
  if (rx_waiter_.end == end) rx_waiter_ = Waiter{};
  for (auto it = tx_waiters_.begin(); it != tx_waiters_.end(); ++it) {
    if (it->end == end) {
      tx_waiters_.erase(it);
      break;
    }
  }
}

void Channel::CloseRx() {
  std::vector<Waiter> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rx_closed_ = true;
    wake.swap(tx_waiters_);
  }
  PostAll(wake);
}

void Channel::AddSender() {
  std::lock_guard<std::mutex> lock(mu_);
  senders_++;
}

void Channel::DropSender() {
  Waiter wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (--senders_ == 0 && rx_waiter_.key != 0) {
      wake = rx_waiter_;
      rx_waiter_ = Waiter{};
    }
  }
  if (wake.key != 0) PostToMailbox(wake.mailbox, wake.key);
}

void Channel::DropReceiver() {
  std::deque<Message> dropped;  // destroyed after the lock: closes fds, drops sender refs
  std::vector<Waiter> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rx_gone_ = true;
    rx_waiter_ = Waiter{};
    dropped.swap(queue_);
    wake.swap(tx_waiters_);
  }
  PostAll(wake);
}

void Channel::Info(size_t* queued, uint32_t* flags) {
  std::lock_guard<std::mutex> lock(mu_);
  *queued = queue_.size();
  *flags = (rx_gone_ || rx_closed_ ? kChannelRxGone : 0) |
           (queue_.empty() && (senders_ == 0 || rx_gone_ || rx_closed_) ? kChannelEnded : 0);
}

// ---- ChannelTable -----------------------------------------------------------------------------

namespace {

constexpr uint32_t kSlotBits = 22;
constexpr uint64_t kSlots = uint64_t{1} << kSlotBits;
constexpr uint32_t kFirstGen = uint32_t{1} << 30;
constexpr uint32_t kLastGen = (uint32_t{1} << 31) - 1;

double HandleOf(uint64_t gen, uint64_t slot) { return static_cast<double>(gen * kSlots + slot); }

}  // namespace

ChannelTable::End* ChannelTable::Claim(double* handle) {
  uint32_t slot;
  if (free_ != UINT32_MAX) {
    slot = free_;
    free_ = slots_[slot]->next_free;
  } else if (slots_.size() < kSlots) {
    std::unique_ptr<End> fresh(new (std::nothrow) End());
    if (fresh == nullptr) return nullptr;
    fresh->gen = kFirstGen;
    slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back(std::move(fresh));
  } else {
    return nullptr;
  }
  End& e = *slots_[slot];
  e.used = true;
  e.id = NextEndId();
  live_++;
  *handle = HandleOf(e.gen, slot);
  return &e;
}

double ChannelTable::OpenSender(SenderRef tx) {
  double h;
  End* e = Claim(&h);
  if (e == nullptr) return -EMFILE;  // `tx` is dropped on return
  e->tx = std::move(tx);
  return h;
}

double ChannelTable::OpenReceiver(ReceiverRef rx) {
  double h;
  End* e = Claim(&h);
  if (e == nullptr) return -EMFILE;
  e->rx = std::move(rx);
  return h;
}

ChannelTable::End* ChannelTable::Get(double handle) {
  if (!(handle >= 0 && handle < static_cast<double>(uint64_t{1} << 53))) return nullptr;
  uint64_t bits = static_cast<uint64_t>(handle);
  if (static_cast<double>(bits) != handle) return nullptr;
  uint64_t slot = bits & (kSlots - 1);
  if (slot >= slots_.size()) return nullptr;
  End* e = slots_[slot].get();
  return e->used && e->gen == (bits >> kSlotBits) ? e : nullptr;
}

void ChannelTable::Retire(End* e, double handle) {
  e->used = false;
  e->gen = e->gen == kLastGen ? kFirstGen : e->gen + 1;
  e->next_free = free_;
  free_ = static_cast<uint32_t>(static_cast<uint64_t>(handle) & (kSlots - 1));
  live_--;
}

int ChannelTable::Take(double handle, SenderRef* tx, ReceiverRef* rx, bool unwait) {
  End* e = Get(handle);
  if (e == nullptr) return -EBADF;
  if (unwait) e->channel()->Unwait(e->id);
  if (e->permits > 0) e->channel()->ReleasePermits(e->permits);
  e->permits = 0;
  *tx = std::move(e->tx);
  *rx = std::move(e->rx);
  Retire(e, handle);
  return 0;
}

int ChannelTable::Close(double handle) {
  SenderRef tx;
  ReceiverRef rx;
  return Take(handle, &tx, &rx);  // the refs drop here, with the table consistent again
}

void ChannelTable::CloseAll() {
  for (uint64_t slot = 0; slot < slots_.size(); slot++) {
    const End& e = *slots_[slot];
    if (e.used) Close(HandleOf(e.gen, slot));
  }
}

// ---- Parked ends ------------------------------------------------------------------------------

namespace {

struct Parked {
  SenderRef tx;
  ReceiverRef rx;
};

// Never destroyed: a worker may still share or claim while the process runs static destructors.
struct ParkRegistry {
  std::mutex mu;
  uint64_t next = 1;
  std::unordered_map<uint64_t, Parked> ends;
};

ParkRegistry& park() {
  static ParkRegistry* r = new ParkRegistry();
  return *r;
}

}  // namespace

uint64_t ParkEnd(SenderRef tx, ReceiverRef rx) {
  ParkRegistry& r = park();
  std::lock_guard<std::mutex> lock(r.mu);
  uint64_t id = r.next++;
  r.ends.emplace(id, Parked{std::move(tx), std::move(rx)});
  return id;
}

int ClaimEnd(uint64_t id, bool want_sender, SenderRef* tx, ReceiverRef* rx) {
  ParkRegistry& r = park();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.ends.find(id);
  if (it == r.ends.end()) return -ENOENT;
  if ((it->second.tx.get() != nullptr) != want_sender) return -EINVAL;
  // Moved out under the lock; nothing is dropped here (the entry is empty when erased).
  *tx = std::move(it->second.tx);
  *rx = std::move(it->second.rx);
  r.ends.erase(it);
  return 0;
}

size_t ParkedEnds() {
  ParkRegistry& r = park();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.ends.size();
}

}  // namespace polled
