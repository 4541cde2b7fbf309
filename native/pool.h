// The blocking pool: tokio's `spawn_blocking` for the native calls that block (getaddrinfo, file
// I/O). pthreads of the addon's own, not libuv's threadpool, so that a job runs and completes
// while `blockOn` holds the JS thread and Node's loop does not turn.
//
// One Pool per runtime, owned by its poller entry (handles.h), so whatever closes the poller
// (Runtime.close, env teardown, worker.terminate()) closes the pool: jobs still queued are
// dropped without running, and each thread finishes the job it is running and is joined. So a
// running job (a slow getaddrinfo, a read from a hung NFS mount) delays that close until it
// returns: no thread is ever cancelled or left running in an unloaded addon.
//
// Threads start lazily, on a submit that finds none idle, up to the configured number.
//
// A job is shared (std::shared_ptr) between the JS thread's job table and the thread that runs it.
// Its inputs are copied into it at submit (paths, bytes to write) and its outputs are native
// memory it owns until the JS thread takes them, so no pool thread ever touches JS memory. When
// it is done the thread posts the job's key to the runtime's mailbox (mailbox.h), which wakes the
// future waiting for it; a post to a runtime that has gone is a no-op. A job whose future was
// dropped (Forget) still runs to its end; its result is freed with it, and a file it opened is
// closed then: nothing leaks.
//
// Files: a File handle holds its fd through a std::shared_ptr<Fd> that each of its jobs shares,
// so closing the handle while a job reads from it never lets the pool touch an fd number the
// kernel has handed out again: the real close(2) happens when the last holder lets go.
#pragma once

#include <pthread.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "poller.h"  // Fd

namespace polled {

enum class JobOp : uint8_t {
  kLookup,     // getaddrinfo(host) → addresses
  kOpen,       // open(path, flags, mode) → an fd (a new File handle when taken)
  kReadFile,   // open + fstat + read to the end + close → the bytes
  kWriteFile,  // open(O_WRONLY | O_CREAT | O_TRUNC) + write all + close → bytes written
  kRead,       // read / pread on a File → bytes (copied into the caller's buffer when taken)
  kWrite,      // write / pwrite on a File of bytes copied at submit → bytes written
  kSync,       // fsync
  kFstat,      // fstat on a File
  kStat,       // stat(path)
  kRemove,     // unlink(path), or rmdir(path) when it is a directory
  kRename,     // rename(path, path2)
  kReadDir,    // opendir / readdir → names (without . and ..)
};

// Memory from malloc, freed with free() unless released (to an external ArrayBuffer).
struct Bytes {
  Bytes() = default;
  Bytes(const Bytes&) = delete;
  Bytes& operator=(const Bytes&) = delete;
  ~Bytes() { std::free(data); }
  bool Alloc(size_t n);  // false on ENOMEM; any earlier bytes are freed
  uint8_t* Release() {
    uint8_t* p = data;
    data = nullptr;
    size = 0;
    return p;
  }
  uint8_t* data = nullptr;
  size_t size = 0;  // allocated
};

struct Job {
  JobOp op;
  uint32_t key = 0;  // posted to the runtime's mailbox when done
  // ---- In (set at submit, read by the pool thread) ----
  std::string path, path2;  // path / host; rename's target
  int flags = 0;            // open flags; lookup family (AF_*)
  int mode = 0;
  int64_t position = -1;    // read / write: -1 = at the file offset
  size_t length = 0;        // read: bytes wanted
  std::shared_ptr<Fd> file; // File jobs; released by the pool thread as soon as the call returns
  Bytes data;               // write / writeFile: the bytes (copied); read / readFile: what was read
  // ---- Out (written by the pool thread before `done`, read by the JS thread after) ----
  int64_t result = 0;       // >= 0, or -(step * kPoolStep + errno), or a UV_EAI_* code (lookup)
  Fd opened;                // kOpen: the new fd, until taken (closed with the job otherwise)
  struct stat st {};        // kStat / kFstat
  std::vector<std::string> names;  // kReadDir; kLookup: numeric addresses
  std::vector<int> families;       // kLookup: 4 or 6, one per address
  std::atomic<bool> done{false};
};

class Pool {
 public:
  // `mailbox` is the runtime's mailbox id: where finished jobs post their keys.
  Pool(uint32_t mailbox, size_t max_threads) : mailbox_(mailbox), max_threads_(max_threads) {}
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  // Drops queued jobs, lets running ones finish and joins every thread (see the top of the file).
  ~Pool();

  // The JS thread. The number of threads (1..kMaxThreads), until the first one has started:
  // -EBUSY after.
  static constexpr size_t kMaxThreads = 256;
  int SetMaxThreads(size_t n);

  // The JS thread. Queues `job` and lists it in the job table: its id (> 0), or -errno (-EAGAIN
  // when no thread could be started, -ENOMEM).
  double Submit(std::shared_ptr<Job> job);
  // The JS thread. The job `id` names (queued, running or done: see Job::done), or null.
  std::shared_ptr<Job> Find(double id);
  // The JS thread. Takes a job out of the table (once its result has been taken).
  void Erase(double id);
  // The JS thread. Its future was dropped: the job leaves the table and runs on to its end, its
  // result discarded. 0, or -ENOENT for an unknown id.
  int Forget(double id);
  size_t jobs() const { return table_.size(); }
  size_t threads() const { return threads_.size(); }

 private:
  static void* Main(void* arg);
  static void Run(Job* job);
  int StartThread();  // under mu_

  const uint32_t mailbox_;
  size_t max_threads_;
  // The job table: touched by the JS thread only.
  std::unordered_map<double, std::shared_ptr<Job>> table_;
  double next_id_ = 1;
  // The queue and the threads: under mu_.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<pthread_t> threads_;
  size_t idle_ = 0;
  bool closing_ = false;
};

}  // namespace polled
