/*
 * udpgen — the UDP load generator of the UDP echo cell (bench/udp.js).
 *
 *   udpgen --host 127.0.0.1 --port P [--flows 16] [--window 4] [--size 64]
 *          [--duration 3] [--warmup 1] [--timeout-ms 50] [--server-pid PID] [--json]
 *
 * Closed loop: `flows` sockets, each connected to the server, each keeping `window` datagrams in
 * flight; every echo that comes back is checked (length, flow, and every byte against the
 * pattern of its sequence number) and answered with the next datagram. A flow that hears nothing
 * for `timeout-ms` counts what it had in flight as lost and sends a fresh window (UDP may drop
 * under load; the loss is reported, never hidden). Receives and sends are batched
 * (recvmmsg / sendmmsg), so that the generator costs less per datagram than the servers it drives.
 *
 * Measured over the window after the warm-up: echoed datagrams per second, the server's CPU
 * (utime + stime of --server-pid from /proc/<pid>/stat at the window's edges) and so its CPU per
 * datagram, and this process's own CPU. With --json, one line:
 *   {"ok":true,"size":64,"dgrams_per_s":...,"sent":...,"received":...,"lost":...,
 *    "verify_errors":0,"loadgen_cpu_pct":...,"server":{"clk_tck":100,"cpu_s":...,"cpu_pct":...,
 *    "cpu_us_per_dgram":...,"dgrams_per_cpu_s":...}}
 * ok is false (exit 1) when any echo had a wrong byte, or nothing came back.
 *
 * Build: cc -O2 -Wall -Wextra -o udpgen udpgen.c   (Linux)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_SIZE 65507
#define HDR 8 /* flow (u32), seq (u32) */

typedef struct flow {
  int fd;
  uint32_t id;
  uint32_t next_seq;
  int inflight;
  double last_rx;
} flow_t;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of `pid` in clock ticks, or -1. */
static int64_t proc_ticks(int pid) {
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  p += 2; /* state */
  unsigned long long ut = 0, st = 0;
  /* fields after ')' : state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
  if (sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
  return (int64_t)(ut + st);
}

static inline uint8_t pattern(uint32_t seq, size_t k) { return (uint8_t)(seq * 131u + k * 7u); }

static void fill(uint8_t *b, size_t size, uint32_t flow, uint32_t seq) {
  memcpy(b, &flow, 4);
  memcpy(b + 4, &seq, 4);
  for (size_t k = HDR; k < size; k++) b[k] = pattern(seq, k);
}

/* 1 when `b` (len bytes) is exactly the datagram `flow` would have sent with its sequence number. */
static int check(const uint8_t *b, size_t len, size_t size, uint32_t flow) {
  if (len != size) return 0;
  uint32_t f, seq;
  memcpy(&f, b, 4);
  memcpy(&seq, b + 4, 4);
  if (f != flow) return 0;
  for (size_t k = HDR; k < size; k++)
    if (b[k] != pattern(seq, k)) return 0;
  return 1;
}

static uint8_t *sbuf[BATCH], *rbuf[BATCH];

/* Send `count` new datagrams on flow `fl`; returns how many the kernel took. */
static int send_n(flow_t *fl, int count, size_t size) {
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  int total = 0;
  while (count > 0) {
    int n = count < BATCH ? count : BATCH;
    memset(msgs, 0, sizeof(msgs[0]) * n);
    for (int i = 0; i < n; i++) {
      fill(sbuf[i], size, fl->id, fl->next_seq + i);
      iov[i].iov_base = sbuf[i];
      iov[i].iov_len = size;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int r = sendmmsg(fl->fd, msgs, n, 0);
    if (r <= 0) break; /* EAGAIN or a refused port: the flow's timeout resends */
    fl->next_seq += r;
    fl->inflight += r;
    total += r;
    count -= r;
    if (r < n) break;
  }
  return total;
}

static const char *arg(int argc, char **argv, const char *name, const char *def) {
  for (int i = 1; i < argc - 1; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return def;
}

static int flag(int argc, char **argv, const char *name) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0) return 1;
  return 0;
}

int main(int argc, char **argv) {
  const char *host = arg(argc, argv, "--host", "127.0.0.1");
  int port = atoi(arg(argc, argv, "--port", "0"));
  int nflows = atoi(arg(argc, argv, "--flows", "16"));
  int window = atoi(arg(argc, argv, "--window", "4"));
  size_t size = (size_t)atol(arg(argc, argv, "--size", "64"));
  double duration = atof(arg(argc, argv, "--duration", "3"));
  double warmup = atof(arg(argc, argv, "--warmup", "1"));
  double tmo = atof(arg(argc, argv, "--timeout-ms", "50")) / 1000;
  int server_pid = atoi(arg(argc, argv, "--server-pid", "0"));
  int json = flag(argc, argv, "--json");
  if (port <= 0 || nflows <= 0 || window <= 0 || size < HDR || size > MAX_SIZE || duration <= 0) {
    fprintf(stderr, "udpgen: bad arguments (need --port, flows/window > 0, %d <= size <= %d)\n", HDR, MAX_SIZE);
    return 2;
  }
  for (int i = 0; i < BATCH; i++) {
    sbuf[i] = malloc(MAX_SIZE + 1);
    rbuf[i] = malloc(MAX_SIZE + 1);
  }
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    fprintf(stderr, "udpgen: --host must be a numeric IPv4 address\n");
    return 2;
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  flow_t *flows = calloc(nflows, sizeof *flows);
  for (int i = 0; i < nflows; i++) {
    flows[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int big = 4 << 20;
    setsockopt(flows[i].fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (flows[i].fd < 0 || connect(flows[i].fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
      perror("udpgen: socket/connect");
      return 1;
    }
    flows[i].id = (uint32_t)i;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, flows[i].fd, &ev);
  }
  double t0 = now_s();
  for (int i = 0; i < nflows; i++) {
    flows[i].last_rx = t0;
    send_n(&flows[i], window, size);
  }
  uint64_t received = 0, sent_total = 0, lost = 0, bad = 0;
  uint64_t win_rx = 0, win_lost = 0;
  int measuring = 0;
  double m0 = 0, c0 = 0;
  int64_t s0 = -1;
  const double t_start = t0 + warmup, t_end = t_start + duration;
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct epoll_event evs[256];
  double last_check = t0;
  for (;;) {
    double t = now_s();
    if (!measuring && t >= t_start) {
      measuring = 1;
      m0 = t;
      c0 = self_cpu_s();
      s0 = server_pid > 0 ? proc_ticks(server_pid) : -1;
      win_rx = 0;
      win_lost = 0;
    }
    if (measuring && t >= t_end) break;
    if (t - last_check >= 0.01) {
      last_check = t;
      for (int i = 0; i < nflows; i++) {
        flow_t *fl = &flows[i];
        if (t - fl->last_rx >= tmo) {
          lost += fl->inflight;
          if (measuring) win_lost += fl->inflight;
          fl->inflight = 0;
          fl->last_rx = t;
          sent_total += send_n(fl, window, size);
        }
      }
    }
    int n = epoll_wait(ep, evs, 256, 10);
    for (int e = 0; e < n; e++) {
      flow_t *fl = &flows[evs[e].data.u32];
      for (;;) {
        memset(msgs, 0, sizeof msgs);
        for (int i = 0; i < BATCH; i++) {
          iov[i].iov_base = rbuf[i];
          iov[i].iov_len = MAX_SIZE + 1;
          msgs[i].msg_hdr.msg_iov = &iov[i];
          msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int r = recvmmsg(fl->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (r <= 0) break;
        int good = 0;
        for (int i = 0; i < r; i++) {
          if (check(rbuf[i], msgs[i].msg_len, size, fl->id)) good++;
          else bad++;
        }
        received += good;
        if (measuring) win_rx += good;
        fl->inflight -= r;
        if (fl->inflight < 0) fl->inflight = 0; /* a late echo of a datagram counted lost */
        fl->last_rx = now_s();
        int want = window - fl->inflight;
        if (want > 0) sent_total += send_n(fl, want, size);
        if (r < BATCH) break;
      }
    }
  }
  double m1 = now_s(), c1 = self_cpu_s();
  int64_t s1 = server_pid > 0 ? proc_ticks(server_pid) : -1;
  double span = m1 - m0;
  double rate = win_rx / span;
  long hz = sysconf(_SC_CLK_TCK);
  int ok = bad == 0 && win_rx > 0;
  if (json) {
    printf("{\"ok\":%s,\"size\":%zu,\"flows\":%d,\"window\":%d,\"duration_s\":%.3f,\"dgrams_per_s\":%.1f,"
           "\"received\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"lost_in_window\":%" PRIu64 ",\"verify_errors\":%" PRIu64 ","
           "\"loadgen_cpu_pct\":%.1f",
           ok ? "true" : "false", size, nflows, window, span, rate, received, sent_total + (uint64_t)nflows * window, lost, win_lost, bad,
           (c1 - c0) / span * 100);
    if (s0 >= 0 && s1 >= 0) {
      double cpu = (double)(s1 - s0) / hz;
      printf(",\"server\":{\"clk_tck\":%ld,\"cpu_s\":%.4f,\"cpu_pct\":%.1f,\"cpu_us_per_dgram\":%.4f,\"dgrams_per_cpu_s\":%.1f}",
             hz, cpu, cpu / span * 100, win_rx ? cpu / win_rx * 1e6 : 0, cpu > 0 ? win_rx / cpu : 0);
    }
    printf("}\n");
  } else {
    printf("%.0f datagrams/s of %zu B (%" PRIu64 " echoed in %.2f s), lost %" PRIu64 ", bad %" PRIu64 "\n", rate, size, win_rx, span, win_lost, bad);
    if (s0 >= 0 && s1 >= 0) {
      double cpu = (double)(s1 - s0) / hz;
      printf("server CPU %.1f %%, %.3f us per datagram\n", cpu / span * 100, win_rx ? cpu / win_rx * 1e6 : 0);
    }
  }
  if (bad) fprintf(stderr, "udpgen: %" PRIu64 " echoes had wrong bytes\n", bad);
  return ok ? 0 : 1;
}
