/*
 * loadgen — native TCP echo load generator for the polled benchmarks.
 *
 * Single thread, edge-triggered epoll, non-blocking sockets, closed loop:
 * every connection keeps `--pipeline` messages of `--size` bytes in flight and
 * sends a new one each time an echo completes.
 *
 * Payload: a pool of pseudo-random bytes (splitmix64, seeded by --seed) is made
 * once; each connection owns a PRNG (seeded from --seed and its index) that
 * picks, for every message, the offset in the pool where that message's bytes
 * start.  A per-connection ring keeps the offset and send timestamp of every
 * message in flight, so each echoed byte is compared against exactly what was
 * sent on that connection, in order (memcmp against the pool, no copy, no
 * allocation per message).  Any mismatch, extra byte or premature close fails
 * the run (non-zero exit, message on stderr, and {"ok":false,...} with --json).
 *
 * Latency: from the moment a message is handed to the socket (queued for
 * write) to the read() that delivers its last echoed byte.  Recorded in a
 * log-linear histogram (HDR style, 128 sub-buckets per power of two, < 0.8 %
 * relative error); only messages completing inside the measured window count.
 *
 * Throughput: msgs/s = echoed messages completed in the window / window length;
 * MB/s = msgs/s * size / 1e6, payload of ONE direction (the echoed bytes);
 * JSON also carries both-direction figures.
 *
 * With --server-pid PID, the server's CPU time (utime+stime from /proc/PID/stat,
 * all threads) is sampled exactly at the start and the end of the measured
 * window (warm-up excluded), and VmHWM / VmRSS are read at the end.
 *
 * Before anything is measured, every connection is primed with one verified
 * echo (proof that the server accepted and serves it); --no-prime skips that.
 *
 * --idle: connect N connections, prime them, print "ready N" (or a JSON line)
 * and hold them open until SIGTERM/SIGINT or --hold-timeout seconds (a close
 * by the server meanwhile fails).  Used by memory.js.
 *
 * Build: cc -O2 -Wall -Wextra -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ options */

static const char *opt_host = "127.0.0.1";
static int opt_port = 0;
static int opt_conns = 1;
static int opt_size = 64;
static int opt_pipeline = 1;
static double opt_duration = 5.0;
static double opt_warmup = 1.0;
static int opt_json = 0;
static int opt_markers = 0;
static int opt_connect_batch = 64;
static double opt_connect_timeout = 30.0;
static uint64_t opt_seed = 0x5eed1234abcdULL;
static int opt_server_pid = 0;
static int opt_idle = 0;
static int opt_prime = 1;
static double opt_hold_timeout = 120.0;

/* ------------------------------------------------------------------- utils */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static void json_escape(FILE *f, const char *s) {
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
    else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
    else fputc(ch, f);
  }
}

/* Fatal error: message on stderr; with --json also a one-line JSON on stdout. */
static void fail(int code, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
static void fail(int code, const char *kind, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "loadgen: FAILED (%s): %s\n", kind, msg);
  if (opt_json) {
    printf("{\"ok\":false,\"error_kind\":\"%s\",\"error\":\"", kind);
    json_escape(stdout, msg);
    printf("\"}\n");
  }
  fflush(stdout);
  exit(code);
}

enum { EXIT_VERIFY = 2, EXIT_CLOSED = 3, EXIT_CONNECT = 4, EXIT_IO = 5, EXIT_USAGE = 64 };

/* --------------------------------------------------------------- histogram */

#define SUB_BITS 7
#define SUB_COUNT (1u << SUB_BITS)
#define HIST_BUCKETS (64u * SUB_COUNT)

static uint64_t hist[HIST_BUCKETS];
static uint64_t hist_n, hist_min = UINT64_MAX, hist_max;
static long double hist_sum;

static inline unsigned hist_index(uint64_t v) {
  if (v < SUB_COUNT) return (unsigned)v;
  unsigned msb = 63u - (unsigned)__builtin_clzll(v);
  unsigned shift = msb - SUB_BITS;
  return (shift + 1) * SUB_COUNT + (unsigned)((v >> shift) - SUB_COUNT);
}

/* highest value that maps to bucket idx (HdrHistogram's "highest equivalent") */
static uint64_t hist_upper(unsigned idx) {
  if (idx < SUB_COUNT) return idx;
  unsigned shift = idx / SUB_COUNT - 1;
  uint64_t top = (uint64_t)(idx % SUB_COUNT) + SUB_COUNT;
  return ((top + 1) << shift) - 1;
}

static inline void hist_record(uint64_t v) {
  hist[hist_index(v)]++;
  hist_n++;
  hist_sum += v;
  if (v < hist_min) hist_min = v;
  if (v > hist_max) hist_max = v;
}

static void hist_reset(void) {
  memset(hist, 0, sizeof hist);
  hist_n = 0;
  hist_min = UINT64_MAX;
  hist_max = 0;
  hist_sum = 0;
}

static uint64_t hist_pct(double q) {
  if (hist_n == 0) return 0;
  uint64_t rank = (uint64_t)(q * (double)hist_n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > hist_n) rank = hist_n;
  uint64_t acc = 0;
  for (unsigned i = 0; i < HIST_BUCKETS; i++) {
    acc += hist[i];
    if (acc >= rank) {
      uint64_t u = hist_upper(i);
      return u > hist_max ? hist_max : u;
    }
  }
  return hist_max;
}

/* ------------------------------------------------------------ server /proc */

typedef struct {
  int ok;
  uint64_t ticks; /* utime + stime, clock ticks */
  uint64_t user;  /* utime alone: the server's own code, not the kernel's work for it */
} proc_cpu_t;

static proc_cpu_t read_proc_cpu(int pid) {
  proc_cpu_t r = {0, 0, 0};
  if (pid <= 0) return r;
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return r;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return r;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return r;
  p++;
  /* after ')': field 3 (state) ... utime is field 14, stime field 15 */
  unsigned long long ut = 0, st = 0;
  int field = 2;
  char *save = NULL;
  for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    field++;
    if (field == 14) ut = strtoull(tok, NULL, 10);
    else if (field == 15) { st = strtoull(tok, NULL, 10); break; }
  }
  if (field < 15) return r;
  r.ok = 1;
  r.ticks = ut + st;
  r.user = ut;
  return r;
}

/* whole-machine CPU time from /proc/stat, clock ticks */
typedef struct {
  int ok;
  uint64_t busy, softirq, steal;
} machine_cpu_t;

static machine_cpu_t read_machine_cpu(void) {
  machine_cpu_t m = {0, 0, 0, 0};
  FILE *f = fopen("/proc/stat", "re");
  if (!f) return m;
  unsigned long long v[10] = {0};
  int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                 &v[7]);
  fclose(f);
  if (n < 8) return m;
  /* user nice system idle iowait irq softirq steal */
  m.ok = 1;
  m.busy = v[0] + v[1] + v[2] + v[5] + v[6];
  m.softirq = v[6];
  m.steal = v[7];
  return m;
}

/* returns kB, or -1 */
static long read_proc_status_kb(int pid, const char *key) {
  if (pid <= 0) return -1;
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  long v = -1;
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
      v = strtol(line + kl + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------- connections */

enum { C_IDLE = 0, C_CONNECTING, C_WAITING_RETRY, C_CONNECTED };

typedef struct {
  int fd;
  int state;
  int attempts;
  int pending_in;     /* readiness seen before the run started */
  uint32_t idx;
  uint32_t head;      /* ring slot of the oldest message in flight */
  uint32_t inflight;  /* messages queued and not yet fully echoed */
  uint32_t unsent;    /* trailing messages of inflight not yet fully written */
  uint32_t spos;      /* bytes already written of the first unsent message */
  uint32_t rpos;      /* bytes already received of the oldest message */
  uint64_t rng;
  uint64_t retry_at;
  uint64_t msgs;      /* completed echoes, whole run */
  uint64_t msgs_at_start; /* msgs when the measured window began */
  uint64_t *ts;       /* ring[pipeline]: send timestamp */
  uint32_t *off;      /* ring[pipeline]: pool offset of the message bytes */
} conn_t;

#define POOL_SPAN (1u << 20)
static unsigned char *pool;
static unsigned char *rbuf;
#define RBUF_SIZE (256 * 1024)

static conn_t *conns;
static int epfd;
static struct sockaddr_storage addr;
static socklen_t addrlen;

static int measuring;
static int running;       /* refill after a completed echo */
static uint64_t win_msgs;
static uint64_t total_msgs;

static inline uint32_t next_offset(conn_t *c) {
  return (uint32_t)(splitmix64(&c->rng) % POOL_SPAN);
}

static inline void queue_msg(conn_t *c, uint64_t now) {
  uint32_t pos = (c->head + c->inflight) % (uint32_t)opt_pipeline;
  c->off[pos] = next_offset(c);
  c->ts[pos] = now;
  c->inflight++;
  c->unsent++;
}

/* Write as much of the unsent messages as the socket takes. */
static void flush_conn(conn_t *c) {
  const uint32_t size = (uint32_t)opt_size, P = (uint32_t)opt_pipeline;
  while (c->unsent > 0) {
    struct iovec iov[64];
    uint32_t first = (c->head + c->inflight - c->unsent) % P;
    uint32_t k, n_iov = c->unsent < 64 ? c->unsent : 64;
    size_t want = 0;
    for (k = 0; k < n_iov; k++) {
      uint32_t pos = (first + k) % P;
      uint32_t skip = k == 0 ? c->spos : 0;
      iov[k].iov_base = pool + c->off[pos] + skip;
      iov[k].iov_len = size - skip;
      want += size - skip;
    }
    ssize_t n;
    if (n_iov == 1) n = send(c->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    else {
      struct msghdr mh;
      memset(&mh, 0, sizeof mh);
      mh.msg_iov = iov;
      mh.msg_iovlen = n_iov;
      n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return; /* EPOLLOUT edge will come */
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET)
        fail(EXIT_CLOSED, "closed", "connection %u: write failed: %s (server closed the connection after %" PRIu64 " echoes)",
             c->idx, strerror(errno), c->msgs);
      fail(EXIT_IO, "io", "connection %u: write failed: %s", c->idx, strerror(errno));
    }
    size_t left = (size_t)n;
    while (left > 0) {
      uint32_t rem = size - c->spos;
      if (left >= rem) { left -= rem; c->spos = 0; c->unsent--; }
      else { c->spos += (uint32_t)left; left = 0; }
    }
    if ((size_t)n < want) return; /* socket buffer full */
  }
}

static void report_mismatch(conn_t *c, const unsigned char *got, uint32_t take) {
  const unsigned char *exp = pool + c->off[c->head] + c->rpos;
  uint32_t i = 0;
  while (i < take && got[i] == exp[i]) i++;
  fail(EXIT_VERIFY, "verify",
       "connection %u, message #%" PRIu64 " (size %d), byte %u: expected 0x%02x, got 0x%02x",
       c->idx, c->msgs + 1, opt_size, c->rpos + i, exp[i], got[i]);
}

static void consume(conn_t *c, const unsigned char *buf, size_t n, uint64_t now) {
  const uint32_t size = (uint32_t)opt_size, P = (uint32_t)opt_pipeline;
  while (n > 0) {
    if (c->inflight == 0)
      fail(EXIT_VERIFY, "verify", "connection %u: server sent %zu byte(s) more than were sent (after %" PRIu64 " echoes)",
           c->idx, n, c->msgs);
    /* bytes of the head message that were actually written so far */
    uint32_t limit = (c->unsent == c->inflight) ? c->spos : size;
    uint32_t take = size - c->rpos;
    if (take > n) take = (uint32_t)n;
    if (c->rpos + take > limit)
      fail(EXIT_VERIFY, "verify", "connection %u, message #%" PRIu64 ": server echoed bytes that were not sent yet",
           c->idx, c->msgs + 1);
    if (memcmp(buf, pool + c->off[c->head] + c->rpos, take) != 0) report_mismatch(c, buf, take);
    c->rpos += take;
    buf += take;
    n -= take;
    if (c->rpos == size) {
      if (measuring) {
        hist_record(now - c->ts[c->head]);
        win_msgs++;
      }
      total_msgs++;
      c->msgs++;
      c->rpos = 0;
      c->head = (c->head + 1) % P;
      c->inflight--;
    }
  }
}

static void on_readable(conn_t *c) {
  for (;;) {
    ssize_t n = read(c->fd, rbuf, RBUF_SIZE);
    if (n > 0) {
      consume(c, rbuf, (size_t)n, now_ns());
      if (n < RBUF_SIZE) break; /* short read: the socket is drained */
      continue;
    }
    if (n == 0)
      fail(EXIT_CLOSED, "closed", "connection %u closed by the server (EOF) after %" PRIu64 " echoes, %u message(s) in flight",
           c->idx, c->msgs, c->inflight);
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == EINTR) continue;
    fail(errno == ECONNRESET ? EXIT_CLOSED : EXIT_IO, errno == ECONNRESET ? "closed" : "io",
         "connection %u: read failed: %s after %" PRIu64 " echoes", c->idx, strerror(errno), c->msgs);
  }
  if (running) {
    uint64_t t = 0;
    while (c->inflight < (uint32_t)opt_pipeline) {
      if (!t) t = now_ns();
      queue_msg(c, t);
    }
  }
  flush_conn(c);
}

/* ------------------------------------------------------------- connect phase */

static void start_connect(conn_t *c) {
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(EXIT_CONNECT, "connect", "socket(): %s (connection %u)", strerror(errno), c->idx);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  c->attempts++;
  int r = connect(fd, (struct sockaddr *)&addr, addrlen);
  if (r == 0 || errno == EINPROGRESS) {
    struct epoll_event ev;
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
      fail(EXIT_CONNECT, "connect", "epoll_ctl: %s", strerror(errno));
    c->state = r == 0 ? C_CONNECTED : C_CONNECTING;
    return;
  }
  int e = errno;
  close(fd);
  c->fd = -1;
  if (e == EAGAIN || e == ECONNREFUSED || e == EADDRNOTAVAIL || e == ETIMEDOUT || e == EINTR) {
    c->state = C_WAITING_RETRY;
    c->retry_at = now_ns() + 10000000ULL * (uint64_t)(c->attempts < 10 ? c->attempts : 10);
    return;
  }
  fail(EXIT_CONNECT, "connect", "connect() to %s:%d: %s (connection %u)", opt_host, opt_port, strerror(e), c->idx);
}

static void connect_all(void) {
  int connected = 0, connecting = 0, next = 0;
  uint64_t deadline = now_ns() + (uint64_t)(opt_connect_timeout * 1e9);
  struct epoll_event evs[512];
  while (connected < opt_conns) {
    uint64_t now = now_ns();
    if (now > deadline)
      fail(EXIT_CONNECT, "connect", "timed out connecting: %d of %d connections established", connected, opt_conns);
    /* retries first, then new sockets, while the number in progress stays under the batch */
    for (int i = 0; i < next && connecting < opt_connect_batch; i++) {
      conn_t *c = &conns[i];
      if (c->state == C_WAITING_RETRY && c->retry_at <= now) {
        if (c->attempts >= 50)
          fail(EXIT_CONNECT, "connect", "connection %d: gave up after %d attempts", i, c->attempts);
        start_connect(c);
        if (c->state == C_CONNECTING) connecting++;
        else if (c->state == C_CONNECTED) connected++;
      }
    }
    while (next < opt_conns && connecting < opt_connect_batch) {
      conn_t *c = &conns[next++];
      start_connect(c);
      if (c->state == C_CONNECTING) connecting++;
      else if (c->state == C_CONNECTED) connected++;
    }
    if (connected >= opt_conns) break;
    int n = epoll_wait(epfd, evs, 512, 10);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(EXIT_IO, "io", "epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0 && (evs[i].events & EPOLLOUT)) {
          c->state = C_CONNECTED;
          connecting--;
          connected++;
          if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->pending_in = 1;
        } else if (err != 0 || (evs[i].events & (EPOLLERR | EPOLLHUP))) {
          epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
          close(c->fd);
          c->fd = -1;
          connecting--;
          if (err == 0) err = ECONNREFUSED;
          if (err == ECONNREFUSED || err == ETIMEDOUT || err == EAGAIN || err == ECONNRESET) {
            c->state = C_WAITING_RETRY;
            c->retry_at = now_ns() + 10000000ULL * (uint64_t)(c->attempts < 10 ? c->attempts : 10);
          } else {
            fail(EXIT_CONNECT, "connect", "connection %u: %s", c->idx, strerror(err));
          }
        }
      } else if (c->state == C_CONNECTED) {
        if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->pending_in = 1;
      }
    }
  }
}

/* One verified echo on every connection before anything is measured: proves the
 * server has accepted (and serves) every connection.  A busy server may leave
 * connections in its accept queue for a long time; without this, a run would
 * measure accept starvation instead of echo throughput. */
static void prime_all(void) {
  running = 0;
  uint64_t t = now_ns();
  for (int i = 0; i < opt_conns; i++) {
    conn_t *c = &conns[i];
    queue_msg(c, t);
    flush_conn(c);
    if (c->pending_in) { c->pending_in = 0; on_readable(c); }
  }
  uint64_t deadline = now_ns() + (uint64_t)(opt_connect_timeout * 1e9);
  struct epoll_event evs[512];
  while (total_msgs < (uint64_t)opt_conns) {
    if (now_ns() > deadline) {
      int waiting = 0;
      for (int i = 0; i < opt_conns; i++) waiting += conns[i].inflight > 0;
      fail(EXIT_CONNECT, "connect", "timed out waiting for the first echo on %d of %d connections "
           "(not accepted or not served by the server)", waiting, opt_conns);
    }
    int n = epoll_wait(epfd, evs, 512, 100);
    if (n < 0 && errno != EINTR) fail(EXIT_IO, "io", "epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(c);
      else if (evs[i].events & EPOLLOUT) flush_conn(c);
    }
  }
  total_msgs = 0;
}

/* ------------------------------------------------------------------- usage */

static void usage(int code) {
  fprintf(code ? stderr : stdout,
          "usage: loadgen --port P [options]\n"
          "  --host H            server address (default 127.0.0.1; IPv6 literals work)\n"
          "  --port P            server port (required)\n"
          "  --connections N     concurrent connections (default 1)\n"
          "  --size BYTES        message size (default 64)\n"
          "  --pipeline D        messages in flight per connection (default 1)\n"
          "  --duration S        measured seconds (default 5)\n"
          "  --warmup S          seconds run before measuring (default 1)\n"
          "  --json              print one JSON line instead of text\n"
          "  --markers           print '# connected' (all connected and primed), '# warmup_end' and\n"
          "                      '# measure_end' lines on stdout\n"
          "  --server-pid PID    sample the server's CPU time / RSS from /proc at the window edges\n"
          "  --connect-batch N   max connects in progress at once (default 64)\n"
          "  --connect-timeout S give up connecting after S seconds (default 30)\n"
          "  --seed N            payload seed\n"
"  --no-prime          skip the one verified echo per connection done before the run\n"
          "  --idle              connect, echo one message per connection, print 'ready N', hold\n"
          "  --hold-timeout S    with --idle: exit after S seconds (default 120)\n"
          "exit codes: 0 ok, 2 verification failed, 3 premature close, 4 connect failed, 5 I/O error, 64 usage\n");
  exit(code);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = NULL;
    char *eq = strchr(a, '=');
    char name[64];
    if (eq && eq - a < (long)sizeof name) {
      memcpy(name, a, (size_t)(eq - a));
      name[eq - a] = 0;
      v = eq + 1;
      a = name;
    }
#define NEEDV() do { if (!v) { if (i + 1 >= argc) { fprintf(stderr, "loadgen: %s needs a value\n", a); usage(EXIT_USAGE); } v = argv[++i]; } } while (0)
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) usage(0);
    else if (!strcmp(a, "--json")) opt_json = 1;
    else if (!strcmp(a, "--markers")) opt_markers = 1;
    else if (!strcmp(a, "--idle")) opt_idle = 1;
    else if (!strcmp(a, "--no-prime")) opt_prime = 0;
    else if (!strcmp(a, "--host")) { NEEDV(); opt_host = v; }
    else if (!strcmp(a, "--port")) { NEEDV(); opt_port = atoi(v); }
    else if (!strcmp(a, "--connections") || !strcmp(a, "-c")) { NEEDV(); opt_conns = atoi(v); }
    else if (!strcmp(a, "--size")) { NEEDV(); opt_size = atoi(v); }
    else if (!strcmp(a, "--pipeline")) { NEEDV(); opt_pipeline = atoi(v); }
    else if (!strcmp(a, "--duration")) { NEEDV(); opt_duration = atof(v); }
    else if (!strcmp(a, "--warmup")) { NEEDV(); opt_warmup = atof(v); }
    else if (!strcmp(a, "--server-pid")) { NEEDV(); opt_server_pid = atoi(v); }
    else if (!strcmp(a, "--connect-batch")) { NEEDV(); opt_connect_batch = atoi(v); }
    else if (!strcmp(a, "--connect-timeout")) { NEEDV(); opt_connect_timeout = atof(v); }
    else if (!strcmp(a, "--seed")) { NEEDV(); opt_seed = strtoull(v, NULL, 0); }
    else if (!strcmp(a, "--hold-timeout")) { NEEDV(); opt_hold_timeout = atof(v); }
    else { fprintf(stderr, "loadgen: unknown option %s\n", argv[i]); usage(EXIT_USAGE); }
#undef NEEDV
  }
  if (opt_port <= 0 || opt_port > 65535) { fprintf(stderr, "loadgen: --port is required\n"); usage(EXIT_USAGE); }
  if (opt_conns < 1 || opt_size < 1 || opt_size > (1 << 24) || opt_pipeline < 1 || opt_pipeline > (1 << 16) ||
      opt_duration <= 0 || opt_warmup < 0 || opt_connect_batch < 1) {
    fprintf(stderr, "loadgen: invalid option value\n");
    usage(EXIT_USAGE);
  }
}

/* -------------------------------------------------------------------- main */

static void setup(void) {
  memset(&addr, 0, sizeof addr);
  struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
  if (inet_pton(AF_INET, opt_host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)opt_port);
    addrlen = sizeof *a4;
  } else if (inet_pton(AF_INET6, opt_host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)opt_port);
    addrlen = sizeof *a6;
  } else {
    fprintf(stderr, "loadgen: --host must be a numeric IPv4/IPv6 address\n");
    exit(EXIT_USAGE);
  }

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)opt_conns + 16 > rl.rlim_cur) {
    fprintf(stderr, "loadgen: %d connections need more than the fd limit %llu\n", opt_conns,
            (unsigned long long)rl.rlim_cur);
    exit(EXIT_USAGE);
  }
  signal(SIGPIPE, SIG_IGN);

  size_t pool_len = POOL_SPAN + (size_t)opt_size;
  pool = malloc(pool_len);
  rbuf = malloc(RBUF_SIZE);
  conns = calloc((size_t)opt_conns, sizeof *conns);
  uint64_t *ts = calloc((size_t)opt_conns * (size_t)opt_pipeline, sizeof *ts);
  uint32_t *off = calloc((size_t)opt_conns * (size_t)opt_pipeline, sizeof *off);
  if (!pool || !rbuf || !conns || !ts || !off) { fprintf(stderr, "loadgen: out of memory\n"); exit(EXIT_IO); }
  uint64_t s = opt_seed;
  for (size_t i = 0; i < pool_len; i += 8) {
    uint64_t r = splitmix64(&s);
    size_t k = pool_len - i < 8 ? pool_len - i : 8;
    memcpy(pool + i, &r, k);
  }
  for (int i = 0; i < opt_conns; i++) {
    conn_t *c = &conns[i];
    c->fd = -1;
    c->idx = (uint32_t)i;
    uint64_t cs = opt_seed ^ (0xA24BAED4963EE407ULL * (uint64_t)(i + 1));
    c->rng = splitmix64(&cs);
    c->ts = ts + (size_t)i * (size_t)opt_pipeline;
    c->off = off + (size_t)i * (size_t)opt_pipeline;
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) { perror("epoll_create1"); exit(EXIT_IO); }
}

static int run_idle(void) {
  /* one echo per connection, then hold */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);

  uint64_t t0 = now_ns();
  connect_all();
  uint64_t t_conn = now_ns();
  prime_all();
  uint64_t t_ready = now_ns();
  if (opt_json)
    printf("{\"ok\":true,\"ready\":%d,\"connect_s\":%.3f,\"echo_s\":%.3f}\n", opt_conns, (t_conn - t0) / 1e9,
           (t_ready - t_conn) / 1e9);
  else
    printf("ready %d\n", opt_conns);
  fflush(stdout);

  /* hold until SIGTERM/SIGINT or timeout; a close by the server fails the run */
  uint64_t end = now_ns() + (uint64_t)(opt_hold_timeout * 1e9);
  struct epoll_event evs[512];
  for (;;) {
    struct timespec zero = {0, 0};
    if (sigtimedwait(&set, NULL, &zero) > 0) break;
    if (now_ns() >= end) break;
    int n = epoll_wait(epfd, evs, 512, 50);
    for (int i = 0; i < n; i++) on_readable(evs[i].data.ptr); /* EOF/RST -> fail */
  }
  return 0;
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  setup();
  if (opt_idle) return run_idle();

  uint64_t t_c0 = now_ns();
  connect_all();
  uint64_t t_c1 = now_ns();
  if (opt_prime) prime_all();
  uint64_t t_c2 = now_ns();
  if (opt_markers) { printf("# connected\n"); fflush(stdout); }

  /* ---- run ---- */
  const uint64_t t0 = now_ns();
  const uint64_t warm_end = t0 + (uint64_t)(opt_warmup * 1e9);
  const uint64_t end_at = warm_end + (uint64_t)(opt_duration * 1e9);
  uint64_t win_start = 0, win_end = 0;
  proc_cpu_t cpu0 = {0, 0, 0}, cpu1 = {0, 0, 0};
  machine_cpu_t mach0 = {0, 0, 0, 0}, mach1 = {0, 0, 0, 0};
  double self0 = 0, self1 = 0;

  running = 1;
  measuring = 0;
  if (opt_warmup <= 0) {
    measuring = 1;
    for (int i = 0; i < opt_conns; i++) conns[i].msgs_at_start = conns[i].msgs;
    cpu0 = read_proc_cpu(opt_server_pid);
    mach0 = read_machine_cpu();
    self0 = self_cpu_s();
    win_start = now_ns();
  }
  for (int i = 0; i < opt_conns; i++) {
    conn_t *c = &conns[i];
    uint64_t t = now_ns();
    while (c->inflight < (uint32_t)opt_pipeline) queue_msg(c, t);
    flush_conn(c);
    if (c->pending_in) on_readable(c);
  }

  struct epoll_event evs[1024];
  for (;;) {
    uint64_t now = now_ns();
    if (!measuring && now >= warm_end) {
      cpu0 = read_proc_cpu(opt_server_pid);
      mach0 = read_machine_cpu();
      self0 = self_cpu_s();
      hist_reset();
      win_msgs = 0;
      for (int i = 0; i < opt_conns; i++) conns[i].msgs_at_start = conns[i].msgs;
      measuring = 1;
      win_start = now_ns();
      if (opt_markers) { printf("# warmup_end\n"); fflush(stdout); }
    }
    if (now >= end_at) break;
    uint64_t next = measuring ? end_at : warm_end;
    int timeout_ms = (int)((next - now + 999999) / 1000000);
    int n = epoll_wait(epfd, evs, 1024, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(EXIT_IO, "io", "epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      uint32_t e = evs[i].events;
      if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(c);
      else if (e & EPOLLOUT) flush_conn(c);
    }
  }
  win_end = now_ns();
  measuring = 0;
  cpu1 = read_proc_cpu(opt_server_pid);
  mach1 = read_machine_cpu();
  self1 = self_cpu_s();
  long hwm_kb = read_proc_status_kb(opt_server_pid, "VmHWM");
  long rss_kb = read_proc_status_kb(opt_server_pid, "VmRSS");
  if (opt_markers) { printf("# measure_end\n"); fflush(stdout); }

  double win_s = (win_end - win_start) / 1e9;
  double mps = win_msgs / win_s;
  double mbs = mps * opt_size / 1e6;
  double p50 = hist_pct(0.50) / 1e3, p90 = hist_pct(0.90) / 1e3, p99 = hist_pct(0.99) / 1e3,
         p999 = hist_pct(0.999) / 1e3, pmax = hist_max / 1e3, pmin = hist_n ? hist_min / 1e3 : 0,
         pmean = hist_n ? (double)(hist_sum / hist_n) / 1e3 : 0;
  long tck = sysconf(_SC_CLK_TCK);
  int have_cpu = opt_server_pid > 0 && cpu0.ok && cpu1.ok;
  double srv_cpu_s = have_cpu ? (double)(cpu1.ticks - cpu0.ticks) / (double)tck : -1;
  double lg_cpu_s = self1 - self0;

  /* fairness: spread of completed echoes per connection over the window */
  uint64_t cmin = UINT64_MAX, cmax = 0;
  int starved = 0;
  for (int i = 0; i < opt_conns; i++) {
    uint64_t m = conns[i].msgs - conns[i].msgs_at_start;
    if (m < cmin) cmin = m;
    if (m > cmax) cmax = m;
    if (m == 0) starved++;
  }

  if (win_msgs == 0)
    fail(EXIT_IO, "io", "no echo completed in the %.2f s window (server stalled?)", win_s);

  if (opt_json) {
    printf("{\"ok\":true,\"connections\":%d,\"size\":%d,\"pipeline\":%d,\"warmup_s\":%.3f,\"window_s\":%.6f,"
           "\"connect_s\":%.3f,\"prime_s\":%.3f,\"msgs\":%" PRIu64 ",\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f,\"mb_per_s_both\":%.3f,"
           "\"lat_us\":{\"min\":%.2f,\"mean\":%.2f,\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,\"p999\":%.2f,\"max\":%.2f},"
           "\"conn_msgs\":{\"min\":%" PRIu64 ",\"max\":%" PRIu64 ",\"starved\":%d},"
           "\"loadgen_cpu_s\":%.4f,\"loadgen_cpu_pct\":%.1f",
           opt_conns, opt_size, opt_pipeline, opt_warmup, win_s, (t_c1 - t_c0) / 1e9, (t_c2 - t_c1) / 1e9, win_msgs, mps, mbs, 2 * mbs,
           pmin, pmean, p50, p90, p99, p999, pmax, cmin, cmax, starved, lg_cpu_s, 100.0 * lg_cpu_s / win_s);
    if (mach0.ok && mach1.ok)
      printf(",\"machine\":{\"busy_pct\":%.1f,\"softirq_pct\":%.1f,\"steal_pct\":%.1f}",
             100.0 * (double)(mach1.busy - mach0.busy) / (double)tck / win_s,
             100.0 * (double)(mach1.softirq - mach0.softirq) / (double)tck / win_s,
             100.0 * (double)(mach1.steal - mach0.steal) / (double)tck / win_s);
    if (opt_server_pid > 0) {
      printf(",\"server\":{\"pid\":%d", opt_server_pid);
      if (have_cpu)
        printf(",\"cpu_ticks\":%" PRIu64 ",\"clk_tck\":%ld,\"cpu_s\":%.4f,\"cpu_pct\":%.1f,\"cpu_us_per_msg\":%.4f,"
               "\"msgs_per_cpu_s\":%.1f,\"user_cpu_s\":%.4f,\"user_us_per_msg\":%.4f",
               cpu1.ticks - cpu0.ticks, tck, srv_cpu_s, 100.0 * srv_cpu_s / win_s, srv_cpu_s * 1e6 / (double)win_msgs,
               srv_cpu_s > 0 ? (double)win_msgs / srv_cpu_s : 0.0, (double)(cpu1.user - cpu0.user) / (double)tck,
               (double)(cpu1.user - cpu0.user) / (double)tck * 1e6 / (double)win_msgs);
      printf(",\"vmhwm_kb\":%ld,\"vmrss_kb\":%ld}", hwm_kb, rss_kb);
    }
    printf("}\n");
  } else {
    printf("connections %d, size %d B, pipeline %d, window %.3f s (warm-up %.2f s excluded), connect %.3f s, "
           "prime %.3f s\n", opt_conns, opt_size, opt_pipeline, win_s, opt_warmup, (t_c1 - t_c0) / 1e9,
           (t_c2 - t_c1) / 1e9);
    printf("  %" PRIu64 " echoes verified, %.0f msgs/s, %.2f MB/s one direction (%.2f both)\n", win_msgs, mps, mbs,
           2 * mbs);
    printf("  latency us: min %.1f  mean %.1f  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", pmin, pmean, p50,
           p90, p99, p999, pmax);
    printf("  per-connection echoes in the window: min %" PRIu64 ", max %" PRIu64 " (%d connection(s) got none)\n",
           cmin, cmax, starved);
    printf("  loadgen CPU %.1f %%\n", 100.0 * lg_cpu_s / win_s);
    if (mach0.ok && mach1.ok)
      printf("  machine: %.1f %% of one CPU busy (all CPUs, all processes), softirq %.1f %%, steal %.1f %%\n",
             100.0 * (double)(mach1.busy - mach0.busy) / (double)tck / win_s,
             100.0 * (double)(mach1.softirq - mach0.softirq) / (double)tck / win_s,
             100.0 * (double)(mach1.steal - mach0.steal) / (double)tck / win_s);
    if (have_cpu)
      printf("  server pid %d: CPU %.3f s (%.1f %%), %.3f us/msg, %.0f msgs per CPU-s, VmHWM %.1f MB\n", opt_server_pid,
             srv_cpu_s, 100.0 * srv_cpu_s / win_s, srv_cpu_s * 1e6 / (double)win_msgs,
             srv_cpu_s > 0 ? win_msgs / srv_cpu_s : 0.0, hwm_kb / 1024.0);
  }
  fflush(stdout);
  return 0;
}
