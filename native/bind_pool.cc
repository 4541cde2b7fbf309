// The N-API functions of the blocking pool (pool.h): submit a job (its inputs copied into native
// memory first), take its result once its key has been posted, or forget it when its future is
// dropped. Every submit takes the runtime's poller handle (the pool hangs off its entry) and the
// mailbox key the job posts when it is done; it returns the job's id or -errno. lib/pool.ts is
// the future that drives them; lib/fs.ts and lib/net/dns.ts are what users call.
//
// Memory: nothing here keeps a pointer into JS memory past the call that gave it, and no JS runs
// between taking such a pointer and its last use. Bytes to write are copied at submit; bytes read
// are native memory until taken: readFile's become an external ArrayBuffer (zero-copy, freed by
// its finalizer), a File read's are copied into the caller's Uint8Array in the take call.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <memory>
#include <new>
#include <string>

#include "args.h"
#include "bindings.h"
#include "pool.h"

namespace polled {

namespace {

constexpr size_t kDefaultThreads = 4;
constexpr double kMaxPosition = 9007199254740991.0;  // 2^53 - 1
constexpr double kMaxLength = 2147483647.0;          // one read(2) of at most 2^31 - 1 bytes

// The pool of the poller `v` names, made (without threads) on first use. Null with *threw when
// `v` is not a number, else with *err = -EBADF / -EINVAL (not a poller) / -ENOMEM.
Pool* GetPool(napi_env env, Instance* inst, napi_value v, bool create, int* err, bool* threw) {
  double h;
  *threw = !GetNumber(env, v, "poller", &h);
  if (*threw) return nullptr;
  PollerEntry* p = inst->handles.PollerOf(h, err);
  if (p == nullptr) return nullptr;
  if (p->pool == nullptr && create) {
    p->pool.reset(new (std::nothrow) Pool(p->mailbox->id, kDefaultThreads));
    if (p->pool == nullptr) *err = -ENOMEM;
  }
  if (p->pool == nullptr && !create) *err = -ENOENT;
  return p->pool.get();
}

bool GetKey(napi_env env, napi_value v, uint32_t* key) {
  int64_t k;
  if (!GetInt(env, v, "key", 1, 4294967295.0, &k)) return false;
  *key = static_cast<uint32_t>(k);
  return true;
}

// A path (or host) into `out`. *err = -ENAMETOOLONG / -EINVAL (a NUL inside) when it is no path.
template <size_t N>
bool GetPath(napi_env env, napi_value v, const char* name, std::string* out, int* err) {
  char buf[N];
  if (!GetString(env, v, name, buf, err)) return false;
  if (*err == 0) out->assign(buf);
  return true;
}

// The file a File handle names, shared: null with *err = -EBADF when it names none.
bool GetFile(napi_env env, Instance* inst, napi_value v, std::shared_ptr<Fd>* out, int* err) {
  double h;
  if (!GetNumber(env, v, "file", &h)) return false;
  Entry* e = inst->handles.Get(h);
  *err = e == nullptr || e->kind != Kind::kFile ? -EBADF : 0;
  if (*err == 0) *out = e->file;
  return true;
}

std::shared_ptr<Job> NewJob(JobOp op, uint32_t key) {
  Job* j = new (std::nothrow) Job();
  if (j == nullptr) return nullptr;
  j->op = op;
  j->key = key;
  return std::shared_ptr<Job>(j);
}

// Submits `job` (null: -ENOMEM) to the pool of `poller`, unless an argument check failed (`err`).
napi_value Submit(napi_env env, Instance* inst, napi_value poller, std::shared_ptr<Job> job, int err) {
  if (err < 0) return Int(env, err);
  if (job == nullptr) return Int(env, -ENOMEM);
  bool threw;
  Pool* pool = GetPool(env, inst, poller, true, &err, &threw);
  if (pool == nullptr) return threw ? nullptr : Int(env, err);
  return Number(env, pool->Submit(std::move(job)));
}

// The jobs that take one path: stat, remove, readDir, readFile.
napi_value SubmitPath(napi_env env, napi_callback_info info, JobOp op) {
  Args<3> a(env, info);
  uint32_t key;
  std::string path;
  int err;
  if (!GetPath<4096>(env, a.argv[1], "path", &path, &err) || !GetKey(env, a.argv[2], &key)) return nullptr;
  std::shared_ptr<Job> job = NewJob(op, key);
  if (job != nullptr) job->path = std::move(path);
  return Submit(env, a.inst, a.argv[0], std::move(job), err);
}

// The jobs on a File that take nothing else: sync, stat.
napi_value SubmitFile(napi_env env, napi_callback_info info, JobOp op) {
  Args<3> a(env, info);
  uint32_t key;
  std::shared_ptr<Fd> file;
  int err;
  if (!GetFile(env, a.inst, a.argv[1], &file, &err) || !GetKey(env, a.argv[2], &key)) return nullptr;
  std::shared_ptr<Job> job = NewJob(op, key);
  if (job != nullptr) job->file = std::move(file);
  return Submit(env, a.inst, a.argv[0], std::move(job), err);
}

double Ms(const struct timespec& t) {
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

napi_value StatArray(napi_env env, const struct stat& st) {
#if defined(__APPLE__)
  const double times[] = {Ms(st.st_atimespec), Ms(st.st_mtimespec), Ms(st.st_ctimespec)};
#else
  const double times[] = {Ms(st.st_atim), Ms(st.st_mtim), Ms(st.st_ctim)};
#endif
  const double v[] = {static_cast<double>(st.st_dev),   static_cast<double>(st.st_ino),
                      static_cast<double>(st.st_mode),  static_cast<double>(st.st_nlink),
                      static_cast<double>(st.st_uid),   static_cast<double>(st.st_gid),
                      static_cast<double>(st.st_rdev),  static_cast<double>(st.st_size),
                      static_cast<double>(st.st_blksize), static_cast<double>(st.st_blocks),
                      times[0], times[1], times[2]};
  napi_value arr;
  napi_create_array_with_length(env, sizeof v / sizeof v[0], &arr);
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) napi_set_element(env, arr, static_cast<uint32_t>(i), Number(env, v[i]));
  return arr;
}

napi_value Strings(napi_env env, const Job& job, bool with_families) {
  napi_value arr, s;
  size_t per = with_families ? 2 : 1;
  napi_create_array_with_length(env, job.names.size() * per, &arr);
  for (size_t i = 0; i < job.names.size(); i++) {
    napi_create_string_utf8(env, job.names[i].data(), job.names[i].size(), &s);
    napi_set_element(env, arr, static_cast<uint32_t>(i * per), s);
    if (with_families) napi_set_element(env, arr, static_cast<uint32_t>(i * per + 1), Int(env, job.families[i]));
  }
  return arr;
}

// readFile's bytes as a Uint8Array on an external ArrayBuffer that now owns them (freed by its
// finalizer); a copy where external buffers are not allowed.
napi_value BytesView(napi_env env, Job* job) {
  size_t n = static_cast<size_t>(job->result);
  napi_value ab, view;
  void* dst;
  if (n == 0 || napi_create_external_arraybuffer(
                    env, job->data.data, n, [](napi_env, void* data, void*) { std::free(data); },
                    nullptr, &ab) != napi_ok) {
    if (napi_create_arraybuffer(env, n, &dst, &ab) != napi_ok) return Int(env, -ENOMEM);
    if (n > 0) memcpy(dst, job->data.data, n);
  } else {
    job->data.Release();  // the ArrayBuffer's now
  }
  if (napi_create_typedarray(env, napi_uint8_array, n, ab, 0, &view) != napi_ok) return Int(env, -ENOMEM);
  return view;
}

// The result of a job that is done, as lib/native.ts describes it; nullptr with an exception
// pending when `buf` (a File read's destination) is not a usable Uint8Array.
napi_value Result(napi_env env, Instance* inst, Job* job, napi_value buf) {
  if (job->op == JobOp::kRead) {
    uint8_t* dst;
    size_t len;
    if (!GetTyped(env, buf, "buf", napi_uint8_array, "a Uint8Array", &dst, &len) ||
        !CheckAttached(env, buf, "buf", len)) {
      return nullptr;
    }
    if (job->result <= 0) return Number(env, static_cast<double>(job->result));
    // A buffer that shrank since the submit (a resizable one) gets what fits.
    size_t n = static_cast<size_t>(job->result) < len ? static_cast<size_t>(job->result) : len;
    memcpy(dst, job->data.data, n);
    return Number(env, static_cast<double>(n));
  }
  if (job->result < 0) return Number(env, static_cast<double>(job->result));
  switch (job->op) {
    case JobOp::kLookup:
      return Strings(env, *job, true);
    case JobOp::kReadDir:
      return Strings(env, *job, false);
    case JobOp::kReadFile:
      return BytesView(env, job);
    case JobOp::kStat:
    case JobOp::kFstat:
      return StatArray(env, job->st);
    case JobOp::kOpen: {
      Fd* fd = new (std::nothrow) Fd();
      if (fd == nullptr) return Int(env, -ENOMEM);  // the job still owns the fd: closed with it
      *fd = std::move(job->opened);
      return Number(env, inst->handles.OpenFile(std::shared_ptr<Fd>(fd)));
    }
    default:
      return Number(env, static_cast<double>(job->result));
  }
}

}  // namespace

napi_value JsPoolConfigure(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  int64_t n;
  if (!GetInt(env, a.argv[1], "threads", 1, static_cast<double>(Pool::kMaxThreads), &n)) return nullptr;
  int err;
  bool threw;
  Pool* pool = GetPool(env, a.inst, a.argv[0], true, &err, &threw);
  if (pool == nullptr) return threw ? nullptr : Int(env, err);
  return Int(env, pool->SetMaxThreads(static_cast<size_t>(n)));
}

napi_value JsPoolLookup(napi_env env, napi_callback_info info) {
  Args<4> a(env, info);
  uint32_t key;
  int64_t family;
  std::string host;
  int err;
  if (!GetPath<1025>(env, a.argv[1], "host", &host, &err) ||
      !GetInt(env, a.argv[2], "family", 0, 6, &family) || !GetKey(env, a.argv[3], &key)) {
    return nullptr;
  }
  if (family != 0 && family != 4 && family != 6) {
    Throw(env, true, "family", "0, 4 or 6");
    return nullptr;
  }
  std::shared_ptr<Job> job = NewJob(JobOp::kLookup, key);
  if (job != nullptr) {
    job->path = std::move(host);
    job->flags = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
  }
  return Submit(env, a.inst, a.argv[0], std::move(job), err);
}

napi_value JsPoolOpen(napi_env env, napi_callback_info info) {
  Args<5> a(env, info);
  uint32_t key;
  int64_t flags, mode;
  std::string path;
  int err;
  if (!GetPath<4096>(env, a.argv[1], "path", &path, &err) ||
      !GetInt(env, a.argv[2], "flags", 0, 2147483647.0, &flags) ||
      !GetInt(env, a.argv[3], "mode", 0, 07777, &mode) || !GetKey(env, a.argv[4], &key)) {
    return nullptr;
  }
  std::shared_ptr<Job> job = NewJob(JobOp::kOpen, key);
  if (job != nullptr) {
    job->path = std::move(path);
    job->flags = static_cast<int>(flags);
    job->mode = static_cast<int>(mode);
  }
  return Submit(env, a.inst, a.argv[0], std::move(job), err);
}

napi_value JsPoolReadFile(napi_env env, napi_callback_info info) {
  return SubmitPath(env, info, JobOp::kReadFile);
}

napi_value JsPoolWriteFile(napi_env env, napi_callback_info info) {
  Args<4> a(env, info);
  uint32_t key;
  std::string path;
  uint8_t* data;
  size_t len;
  int err;
  if (!GetPath<4096>(env, a.argv[1], "path", &path, &err) ||
      !GetTyped(env, a.argv[2], "data", napi_uint8_array, "a Uint8Array", &data, &len) ||
      !CheckAttached(env, a.argv[2], "data", len) || !GetKey(env, a.argv[3], &key)) {
    return nullptr;
  }
  std::shared_ptr<Job> job = NewJob(JobOp::kWriteFile, key);
  if (job != nullptr) {
    job->path = std::move(path);
    if (!job->data.Alloc(len)) return Int(env, -ENOMEM);
    if (len > 0) memcpy(job->data.data, data, len);  // copied: the pool never sees JS memory
    job->length = len;
  }
  return Submit(env, a.inst, a.argv[0], std::move(job), err);
}

napi_value JsPoolRead(napi_env env, napi_callback_info info) {
  Args<5> a(env, info);
  uint32_t key;
  std::shared_ptr<Fd> file;
  int64_t length, position;
  int err;
  if (!GetFile(env, a.inst, a.argv[1], &file, &err) ||
      !GetInt(env, a.argv[2], "length", 1, kMaxLength, &length) ||
      !GetInt(env, a.argv[3], "position", -1, kMaxPosition, &position) || !GetKey(env, a.argv[4], &key)) {
    return nullptr;
  }
  std::shared_ptr<Job> job = err < 0 ? nullptr : NewJob(JobOp::kRead, key);
  if (job != nullptr) {
    job->file = std::move(file);
    job->length = static_cast<size_t>(length);
    job->position = position;
    if (!job->data.Alloc(job->length)) return Int(env, -ENOMEM);
  }
  return Submit(env, a.inst, a.argv[0], std::move(job), err);
}

napi_value JsPoolWrite(napi_env env, napi_callback_info info) {
  Args<5> a(env, info);
  uint32_t key;
  std::shared_ptr<Fd> file;
  int64_t position;
  uint8_t* data;
  size_t len;
  int err;
  if (!GetFile(env, a.inst, a.argv[1], &file, &err) ||
      !GetTyped(env, a.argv[2], "buf", napi_uint8_array, "a Uint8Array", &data, &len) ||
      !CheckAttached(env, a.argv[2], "buf", len) ||
      !GetInt(env, a.argv[3], "position", -1, kMaxPosition, &position) || !GetKey(env, a.argv[4], &key)) {
    return nullptr;
  }
  std::shared_ptr<Job> job = err < 0 ? nullptr : NewJob(JobOp::kWrite, key);
  if (job != nullptr) {
    job->file = std::move(file);
    job->position = position;
    if (!job->data.Alloc(len)) return Int(env, -ENOMEM);
    if (len > 0) memcpy(job->data.data, data, len);  // (an empty view may have no data pointer)
    job->length = len;
  }
  return Submit(env, a.inst, a.argv[0], std::move(job), err);
}

napi_value JsPoolSync(napi_env env, napi_callback_info info) { return SubmitFile(env, info, JobOp::kSync); }
napi_value JsPoolFstat(napi_env env, napi_callback_info info) { return SubmitFile(env, info, JobOp::kFstat); }
napi_value JsPoolStat(napi_env env, napi_callback_info info) { return SubmitPath(env, info, JobOp::kStat); }
napi_value JsPoolRemove(napi_env env, napi_callback_info info) { return SubmitPath(env, info, JobOp::kRemove); }
napi_value JsPoolReadDir(napi_env env, napi_callback_info info) { return SubmitPath(env, info, JobOp::kReadDir); }

napi_value JsPoolRename(napi_env env, napi_callback_info info) {
  Args<4> a(env, info);
  uint32_t key;
  std::string from, to;
  int err, err2;
  if (!GetPath<4096>(env, a.argv[1], "from", &from, &err) || !GetPath<4096>(env, a.argv[2], "to", &to, &err2) ||
      !GetKey(env, a.argv[3], &key)) {
    return nullptr;
  }
  std::shared_ptr<Job> job = NewJob(JobOp::kRename, key);
  if (job != nullptr) {
    job->path = std::move(from);
    job->path2 = std::move(to);
  }
  return Submit(env, a.inst, a.argv[0], std::move(job), err < 0 ? err : err2);
}

napi_value JsPoolTake(napi_env env, napi_callback_info info) {
  Args<3> a(env, info);
  double id;
  int err;
  bool threw;
  if (!GetNumber(env, a.argv[1], "job", &id)) return nullptr;
  Pool* pool = GetPool(env, a.inst, a.argv[0], false, &err, &threw);
  if (pool == nullptr) return threw ? nullptr : Int(env, err);
  std::shared_ptr<Job> job = pool->Find(id);
  if (job == nullptr) return Int(env, -ENOENT);
  napi_value out;
  if (!job->done.load(std::memory_order_acquire)) {
    napi_get_null(env, &out);
    return out;
  }
  out = Result(env, a.inst, job.get(), a.argv[2]);
  if (out != nullptr) pool->Erase(id);  // a bad `buf` leaves the job for a retry or a forget
  return out;
}

napi_value JsPoolForget(napi_env env, napi_callback_info info) {
  Args<2> a(env, info);
  double id;
  int err;
  bool threw;
  if (!GetNumber(env, a.argv[1], "job", &id)) return nullptr;
  Pool* pool = GetPool(env, a.inst, a.argv[0], false, &err, &threw);
  if (pool == nullptr) return threw ? nullptr : Int(env, err);
  return Int(env, pool->Forget(id));
}

napi_value JsPoolStats(napi_env env, napi_callback_info info) {
  Args<1> a(env, info);
  int err;
  bool threw;
  Pool* pool = GetPool(env, a.inst, a.argv[0], true, &err, &threw);
  if (pool == nullptr) return threw ? nullptr : Int(env, err);
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, Number(env, static_cast<double>(pool->jobs())));
  napi_set_element(env, arr, 1, Number(env, static_cast<double>(pool->threads())));
  return arr;
}

}  // namespace polled
