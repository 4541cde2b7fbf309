#include "mailbox.h"

#include <errno.h>

#include <new>
#include <unordered_map>

#include "poller.h"

namespace polled {

bool Mailbox::Post(uint32_t key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (poller_ == nullptr) return false;
  bool was_empty = keys_.empty();
  keys_.push_back(key);
  if (was_empty) poller_->Notify();
  return true;
}

size_t Mailbox::Drain(uint32_t* out, size_t max) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = keys_.size() < max ? keys_.size() : max;
  for (size_t i = 0; i < n; i++) out[i] = keys_[i];
  keys_.erase(keys_.begin(), keys_.begin() + static_cast<std::ptrdiff_t>(n));
  if (!keys_.empty() && poller_ != nullptr) poller_->Notify();
  return n;
}

void Mailbox::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  poller_ = nullptr;
  keys_.clear();
  keys_.shrink_to_fit();
}

namespace {

// Never destroyed: a worker may still post while the process runs its static destructors.
struct Registry {
  std::mutex mu;
  uint32_t next = 1;
  std::unordered_map<uint32_t, std::shared_ptr<Mailbox>> boxes;
};

Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

}  // namespace

uint32_t RegisterMailbox(const std::shared_ptr<Mailbox>& box) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  uint32_t id = r.next == 0 ? 1 : r.next;
  r.next = id + 1;
  box->id = id;
  r.boxes.emplace(id, box);
  return id;
}

void UnregisterMailbox(uint32_t id) {
  Registry& r = registry();
  std::shared_ptr<Mailbox> box;  // released after the registry's lock
  {
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.boxes.find(id);
    if (it == r.boxes.end()) return;
    box = std::move(it->second);
    r.boxes.erase(it);
  }
}

int PostToMailbox(uint32_t id, uint32_t key) {
  std::shared_ptr<Mailbox> box;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.boxes.find(id);
    if (it == r.boxes.end()) return -ESRCH;
    box = it->second;
  }
  return box->Post(key) ? 0 : -ESRCH;
}

}  // namespace polled
