// The addon owns every fd; JavaScript holds handles. A handle is generation * 2^22 + slot, one
// non-negative integer that fits a double exactly. Closing a handle retires its generation, so
// a stale copy can never reach the fd the kernel hands out next under the same number.
#pragma once

#include <node_api.h>
#include <pthread.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "contract.h"  // BufferSlot
#include "mailbox.h"
#include "poller.h"
#include "pool.h"
#include "uv_driver.h"

namespace polled {

// Handle layout: generation * 2^22 + slot.
constexpr uint32_t kSlotBits = 22;
constexpr uint64_t kSlots = uint64_t{1} << kSlotBits;
// Generations stay below 2^31, so handles stay below 2^53: exact as JS numbers.
constexpr uint32_t kMaxGen = (uint32_t{1} << 31) - 1;
constexpr double kMaxHandle = static_cast<double>((kMaxGen + uint64_t{1}) * kSlots);

// What an entry holds. Listening and connected sockets are one kind: the kernel tells them apart
// (accept on a connected socket is EINVAL, read on a listener ENOTCONN), and what the addon must
// know, send(MSG_NOSIGNAL) rather than write, is the same for both.
// A file (pool.h) holds its fd through a shared_ptr its in-flight pool jobs share.
enum class Kind : uint8_t { kFree, kPoller, kSocket, kPipe, kFile };

// A poller handle: the Poller and what hangs off it. The destructor stops the uv driver,
// cancels and joins the notify threads and lets go of the events array, all before the
// Poller member closes its fds.
class PollerEntry {
 public:
  explicit PollerEntry(napi_env env) : env_(env) {}
  PollerEntry(const PollerEntry&) = delete;
  PollerEntry& operator=(const PollerEntry&) = delete;
  ~PollerEntry();

  // Test aid: a thread that sleeps `delay_ms`, then notifies, unless the poller closes first.
  // Threads that have finished are joined at the next call, so they never pile up; at most
  // kMaxNotifyThreads sleep at once (-EAGAIN beyond).
  static constexpr size_t kMaxNotifyThreads = 64;
  int NotifyAfter(double delay_ms);

  Poller poller;                // declared first: destroyed last
  napi_ref events = nullptr;    // keeps the Uint32Array that poller.SetEvents points into alive
  // Wakes from other threads (mailbox.h): registered when the poller opens, closed and
  // unregistered first thing in the destructor. `keys` is the shared Uint32Array mailboxDrain
  // writes into (kept alive by keys_ref), `keys_cap` its length.
  std::shared_ptr<Mailbox> mailbox;
  napi_ref keys_ref = nullptr;
  uint32_t* keys = nullptr;
  size_t keys_cap = 0;
  UvDriver* driver = nullptr;
  int loop_fd = -1;             // the libuv backend fd while Poller::WatchLoop is on
  // The blocking pool (pool.h), made by poolConfigure or the first submit. Declared after the
  // members above, so destroyed before them and after the destructor's body (which unregisters
  // the mailbox): queued jobs are dropped, running ones finish (their completions then post to a
  // mailbox that is gone: a no-op) and the threads are joined. It uses nothing of this entry.
  std::unique_ptr<Pool> pool;

 private:
  struct NotifyJob {
    PollerEntry* entry;
    int64_t ns;
    pthread_t thread;
    bool done;  // set by the thread (under mu_) as its last act
  };
  static void* NotifyThread(void* arg);
  void JoinFinished(bool all);

  napi_env env_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool closing_ = false;
  std::vector<std::unique_ptr<NotifyJob>> jobs_;
};

// A buffer bound to a handle for the fast byte path (bind_io.cc, "bound buffers"): a strong
// reference to the ArrayBuffer, and where in it the bound Uint8Array lies. The data pointer is
// not kept: it is looked up at each call, so a buffer detached since binding is never touched.
struct BoundBuffer {
  napi_ref buffer = nullptr;
  size_t offset = 0;
  size_t length = 0;
  // The view's first byte when it is on a SharedArrayBuffer, else null. Shared memory cannot be
  // detached (postMessage shares it, never transfers it), moved or shrunk (a growable one only
  // grows, in place), and `buffer` keeps it alive: so this pointer stays valid for as long as the
  // binding does, and a bound call on it needs no lookup (args.h TakeBound).
  uint8_t* shared = nullptr;
};

// One cache line holds what every bound byte call reads (HandleTable::Get, TakeBound, raw_fd,
// is_socket, the ring check): a thousand connections' entries do not stay in the first cache
// levels, so each line an echo touches here is a miss (npm run bench:instructions -- --cache).
// The rest of the entry is for registration, files, pollers and close.
struct alignas(64) Entry {
  uint32_t gen = 1;  // starts at 1: no handle is ever 0
  Kind kind = Kind::kFree;
  Fd fd;                                // sockets, listeners, pipes
  // Registered in an io_uring poller (poller_uring.h): a stream or listener's bytes and accepts go
  // through `ring_io` (ring.h) instead of syscalls; any other fd is watched by `ring_poll`. Set by
  // the ring, which clears them when the handle stops using it (or the ring closes first).
  RingSource* ring_io = nullptr;
  BoundBuffer bound[2];                 // [kReadBuffer], [kWriteBuffer]; released on close
  RingSource* ring_poll = nullptr;
  std::shared_ptr<Fd> file;             // files: shared with their in-flight pool jobs
  std::unique_ptr<PollerEntry> poller;  // pollers own their fds themselves
  double registered_in = -1;            // handle of the poller this fd is registered in
  uint32_t next_free = 0;

  // By kind, not by which member is set: the test reads only the first line (see above).
  int raw_fd() const { return kind == Kind::kPoller ? poller->poller.fd() : kind == Kind::kFile ? file->get() : fd.get(); }
  // Sockets are written with send / sendmsg (MSG_NOSIGNAL), pipes with write / writev.
  bool is_socket() const { return kind == Kind::kSocket; }
};

class HandleTable {
 public:
  explicit HandleTable(napi_env env) : env_(env) {}

  // A new handle owning `fd`, or -EMFILE when every slot is taken (then `fd` is closed).
  double Open(Kind kind, Fd fd);
  double OpenPoller(std::unique_ptr<PollerEntry> poller);
  // A new Kind::kFile handle sharing `fd` (pool.h), or -EMFILE (then this reference is dropped).
  double OpenFile(std::shared_ptr<Fd> fd);
  // The live entry behind `handle`; null for anything this table did not hand out or has
  // closed since. Each entry is its own allocation: pointers stay valid while others are opened.
  // Inline: both byte-I/O calls start here.
  Entry* Get(double handle) {
    // Only an integer this table could have made: a fraction or a negative is nobody's handle.
    if (!(handle >= 0 && handle < kMaxHandle)) return nullptr;
    uint64_t bits = static_cast<uint64_t>(handle);
    if (static_cast<double>(bits) != handle) return nullptr;
    uint64_t slot = bits & (kSlots - 1);
    if (slot >= slots_.size()) return nullptr;
    Entry* e = slots_[slot].get();
    return e->kind != Kind::kFree && e->gen == (bits >> kSlotBits) ? e : nullptr;
  }
  // Binds `buf` (an ArrayBuffer; the view is [offset, offset + length) of it) as `handle`'s
  // read or write buffer, replacing any earlier one. 0, -EBADF or -ENOMEM.
  int Bind(double handle, BufferSlot slot, napi_value buf, size_t offset, size_t length, uint8_t* shared);
  // Deregisters from its poller, closes, retires the generation. 0 or -EBADF.
  int Close(double handle);
  // As Close, but the fd is moved into `*out` instead of closed (a stream sent to another thread,
  // channel.h): deregistered, bound buffers released, generation retired. 0 or -EBADF.
  int Take(double handle, Fd* out);
  void CloseAll();
  size_t live() const { return live_; }
  // The poller behind `handle`; null with *err = -EBADF (stale) or -EINVAL (not a poller).
  PollerEntry* PollerOf(double handle, int* err);

  // Interest of `handle` in `poller`, under `token`. One registration per handle: a second
  // one while the first poller is alive is -EEXIST; modify / delete elsewhere is -ENOENT.
  int Register(double poller, double handle, uint32_t token, uint32_t interest);
  int Reregister(double poller, double handle, uint32_t token, uint32_t interest);
  // `closing_fd`: the handle is closing, and a ring source takes its fd (closed once the kernel's
  // ops on it are done, so the number is not reused under them).
  int Deregister(double poller, double handle, Fd* closing_fd = nullptr);

 private:
  Entry* Claim(Kind kind, double* handle);
  void Unbind(Entry* e);

  napi_env env_;
  std::vector<std::unique_ptr<Entry>> slots_;
  uint32_t free_ = UINT32_MAX;  // head of the free list, most recently closed first
  size_t live_ = 0;
};

}  // namespace polled
