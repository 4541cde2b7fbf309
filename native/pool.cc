#include "pool.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>  // UV_EAI_*: resolver errors as Node numbers them (lib/errors.ts names them)

#include <algorithm>
#include <new>

#include "contract.h"
#include "mailbox.h"

namespace polled {

bool Bytes::Alloc(size_t n) {
  std::free(data);
  data = static_cast<uint8_t*>(std::malloc(n > 0 ? n : 1));
  size = data != nullptr ? n : 0;
  return data != nullptr;
}

namespace {

int64_t Fail(int step, int err) { return -(static_cast<int64_t>(step) * kPoolStep + err); }

// getaddrinfo's codes (platform values) → libuv's UV_EAI_* (the same on every platform).
int64_t ResolverError(int rc, int saved_errno) {
  switch (rc) {
#if defined(EAI_ADDRFAMILY)
    case EAI_ADDRFAMILY: return UV_EAI_ADDRFAMILY;
#endif
    case EAI_AGAIN: return UV_EAI_AGAIN;
    case EAI_BADFLAGS: return UV_EAI_BADFLAGS;
    case EAI_FAIL: return UV_EAI_FAIL;
    case EAI_FAMILY: return UV_EAI_FAMILY;
    case EAI_MEMORY: return UV_EAI_MEMORY;
#if defined(EAI_NODATA) && EAI_NODATA != EAI_NONAME
    case EAI_NODATA: return UV_EAI_NODATA;
#endif
    case EAI_NONAME: return UV_EAI_NONAME;
#if defined(EAI_OVERFLOW)
    case EAI_OVERFLOW: return UV_EAI_OVERFLOW;
#endif
    case EAI_SERVICE: return UV_EAI_SERVICE;
    case EAI_SOCKTYPE: return UV_EAI_SOCKTYPE;
    case EAI_SYSTEM: return saved_errno != 0 ? -saved_errno : UV_EAI_FAIL;
    default: return UV_EAI_FAIL;
  }
}

void Lookup(Job* job) {
  addrinfo hints{};
  hints.ai_family = job->flags;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address, not one per socket type
  addrinfo* res = nullptr;
  errno = 0;
  int rc = getaddrinfo(job->path.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    job->result = ResolverError(rc, errno);
    return;
  }
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    char host[NI_MAXHOST];
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) {
      continue;
    }
    if (std::find(job->names.begin(), job->names.end(), host) != job->names.end()) continue;
    job->names.emplace_back(host);
    job->families.push_back(ai->ai_family == AF_INET6 ? 6 : 4);
  }
  freeaddrinfo(res);
  job->result = static_cast<int64_t>(job->names.size());
  if (job->names.empty()) job->result = UV_EAI_NODATA;
}

int OpenRetry(const char* path, int flags, int mode) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// Reads to the end: exactly st_size bytes for a regular file (less if it shrank), else (procfs,
// pipes: size 0) in a growing buffer.
void ReadFile(Job* job) {
  Fd fd(OpenRetry(job->path.c_str(), O_RDONLY, 0));
  if (fd.get() < 0) {
    job->result = Fail(0, errno);
    return;
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    job->result = Fail(1, errno);
    return;
  }
  bool known = S_ISREG(st.st_mode) && st.st_size > 0;
  size_t cap = known ? static_cast<size_t>(st.st_size) : 64 * 1024;
  if (!job->data.Alloc(cap)) {
    job->result = Fail(2, ENOMEM);
    return;
  }
  size_t used = 0;
  for (;;) {
    if (used == cap) {
      if (known) break;
      size_t grown = cap * 2;
      auto* p = static_cast<uint8_t*>(std::realloc(job->data.data, grown));
      if (p == nullptr) {
        job->result = Fail(2, ENOMEM);
        return;
      }
      job->data.data = p;
      job->data.size = cap = grown;
    }
    ssize_t n = ::read(fd.get(), job->data.data + used, cap - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      job->result = Fail(2, errno);
      return;
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  job->result = static_cast<int64_t>(used);
}

void WriteFile(Job* job) {
  Fd fd(OpenRetry(job->path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666));
  if (fd.get() < 0) {
    job->result = Fail(0, errno);
    return;
  }
  size_t off = 0;
  while (off < job->length) {
    ssize_t n = ::write(fd.get(), job->data.data + off, job->length - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      job->result = Fail(1, errno);
      return;
    }
    off += static_cast<size_t>(n);
  }
  job->result = static_cast<int64_t>(off);
}

void ReadDir(Job* job) {
  DIR* dir = opendir(job->path.c_str());
  if (dir == nullptr) {
    job->result = Fail(0, errno);
    return;
  }
  for (;;) {
    errno = 0;
    dirent* d = readdir(dir);
    if (d == nullptr) {
      if (errno != 0) job->result = Fail(1, errno);
      break;
    }
    if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0) continue;
    job->names.emplace_back(d->d_name);
  }
  closedir(dir);
  if (job->result == 0) job->result = static_cast<int64_t>(job->names.size());
}

}  // namespace

void Pool::Run(Job* job) {
  const char* path = job->path.c_str();
  ssize_t n;
  switch (job->op) {
    case JobOp::kLookup:
      Lookup(job);
      return;
    case JobOp::kOpen: {
      int fd = OpenRetry(path, job->flags, job->mode);
      job->result = fd < 0 ? Fail(0, errno) : 0;
      job->opened.Reset(fd);
      return;
    }
    case JobOp::kReadFile:
      ReadFile(job);
      return;
    case JobOp::kWriteFile:
      WriteFile(job);
      return;
    case JobOp::kRead:
      do {
        n = job->position < 0 ? ::read(job->file->get(), job->data.data, job->length)
                              : ::pread(job->file->get(), job->data.data, job->length, job->position);
      } while (n < 0 && errno == EINTR);
      job->result = n < 0 ? Fail(0, errno) : n;
      return;
    case JobOp::kWrite:
      do {
        n = job->position < 0 ? ::write(job->file->get(), job->data.data, job->length)
                              : ::pwrite(job->file->get(), job->data.data, job->length, job->position);
      } while (n < 0 && errno == EINTR);
      job->result = n < 0 ? Fail(0, errno) : n;
      return;
    case JobOp::kSync:
      job->result = fsync(job->file->get()) != 0 ? Fail(0, errno) : 0;
      return;
    case JobOp::kFstat:
      job->result = fstat(job->file->get(), &job->st) != 0 ? Fail(0, errno) : 0;
      return;
    case JobOp::kStat:
      job->result = stat(path, &job->st) != 0 ? Fail(0, errno) : 0;
      return;
    case JobOp::kRemove: {
      if (unlink(path) == 0) return;
      int err = errno;
      // Linux says EISDIR for a directory, macOS and the BSDs EPERM: then it is rmdir's turn.
      struct stat st;
      if ((err == EISDIR || err == EPERM) && lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        job->result = rmdir(path) != 0 ? Fail(1, errno) : 0;
        return;
      }
      job->result = Fail(0, err);
      return;
    }
    case JobOp::kRename:
      job->result = rename(path, job->path2.c_str()) != 0 ? Fail(0, errno) : 0;
      return;
    case JobOp::kReadDir:
      ReadDir(job);
      return;
  }
}

Pool::~Pool() {
  std::deque<std::shared_ptr<Job>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
    dropped.swap(queue_);  // never run; freed (and their File refs released) below, on this thread
  }
  cv_.notify_all();
  for (pthread_t t : threads_) pthread_join(t, nullptr);  // each finishes its current job first
}

int Pool::SetMaxThreads(size_t n) {
  if (n < 1 || n > kMaxThreads) return -EINVAL;
  std::lock_guard<std::mutex> lock(mu_);
  if (!threads_.empty()) return -EBUSY;
  max_threads_ = n;
  return 0;
}

int Pool::StartThread() {
  // pthreads rather than std::thread: built without exceptions, a failure must be an errno. All
  // signals blocked, so that the process's signals keep going to the threads that handle them.
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 1024 * 1024);  // getaddrinfo's NSS modules want some stack
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  int rc = pthread_create(&t, &attr, Main, this);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  if (rc != 0) return -rc;
  threads_.push_back(t);
  return 0;
}

double Pool::Submit(std::shared_ptr<Job> job) {
  double id = next_id_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(job);
    if (idle_ < queue_.size() && threads_.size() < max_threads_) {
      int rc = StartThread();
      if (rc < 0 && threads_.empty()) {
        queue_.pop_back();
        return rc;
      }
    }
  }
  cv_.notify_one();
  next_id_ = next_id_ + 1 > 9007199254740991.0 ? 1 : next_id_ + 1;
  table_[id] = std::move(job);
  return id;
}

std::shared_ptr<Job> Pool::Find(double id) {
  auto it = table_.find(id);
  return it == table_.end() ? nullptr : it->second;
}

void Pool::Erase(double id) { table_.erase(id); }

int Pool::Forget(double id) {
  return table_.erase(id) > 0 ? 0 : -ENOENT;
}

void* Pool::Main(void* arg) {
  Pool* self = static_cast<Pool*>(arg);
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(self->mu_);
      self->idle_++;
      self->cv_.wait(lock, [self] { return self->closing_ || !self->queue_.empty(); });
      self->idle_--;
      if (self->closing_) return nullptr;
      job = std::move(self->queue_.front());
      self->queue_.pop_front();
    }
    Run(job.get());
    job->file.reset();  // a File closed meanwhile is really closed now (on this thread)
    job->done.store(true, std::memory_order_release);
    PostToMailbox(self->mailbox_, job->key);  // -ESRCH when the runtime is closing: fine
    // Our reference goes here: for a forgotten job the last, so its result (and an fd it
    // opened) is freed now, on this thread.
  }
}

}  // namespace polled
