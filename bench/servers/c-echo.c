/*
 * c-echo — the reference ceiling for the polled echo benchmarks.
 *
 * Plain C, one thread, edge-triggered epoll.  Non-blocking accept4 loop; per
 * connection: read (64 KiB buffer) until a short read or EAGAIN, write each
 * chunk straight back; what the socket does not take goes into a per-connection
 * pending buffer, flushed on EPOLLOUT (reading pauses while it is large).
 *
 *   c-echo [--host 127.0.0.1] [--port 0]
 *
 * Prints exactly one line "listening <host> <port>" on stdout when ready.
 * Exits 0 on SIGTERM / SIGINT.
 *
 * Build: cc -O2 -Wall -Wextra -o c-echo c-echo.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define RBUF (64 * 1024)
#define PENDING_PAUSE (64 * 1024) /* stop reading while this much is unsent */

typedef struct conn {
  int fd;
  int want_out;    /* EPOLLOUT currently registered */
  int read_paused; /* readable, but we stopped because pending is large */
  char *pend;      /* unsent bytes (allocated only when a write is partial) */
  size_t plen, pcap, poff;
} conn_t;

static int epfd;
static char rbuf[RBUF];
static const int TAG_LISTEN = -1, TAG_SIGNAL = -2;
static int listen_fd, sig_fd;

static void conn_close(conn_t *c) {
  close(c->fd); /* also removes it from the epoll set */
  free(c->pend);
  free(c);
}

static int set_out(conn_t *c, int on) {
  if (c->want_out == on) return 0;
  struct epoll_event ev;
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (on ? EPOLLOUT : 0);
  ev.data.ptr = c;
  c->want_out = on;
  return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static int pend_append(conn_t *c, const char *p, size_t n) {
  if (c->poff > 0 && c->poff == c->plen) c->poff = c->plen = 0;
  if (c->plen + n > c->pcap) {
    if (c->poff > 0) { /* compact first */
      memmove(c->pend, c->pend + c->poff, c->plen - c->poff);
      c->plen -= c->poff;
      c->poff = 0;
    }
    if (c->plen + n > c->pcap) {
      size_t cap = c->pcap ? c->pcap : RBUF;
      while (cap < c->plen + n) cap *= 2;
      char *np = realloc(c->pend, cap);
      if (!np) return -1;
      c->pend = np;
      c->pcap = cap;
    }
  }
  memcpy(c->pend + c->plen, p, n);
  c->plen += n;
  return 0;
}

/* 0 = all flushed, 1 = still pending, -1 = error */
static int flush_pending(conn_t *c) {
  while (c->poff < c->plen) {
    ssize_t w = send(c->fd, c->pend + c->poff, c->plen - c->poff, MSG_NOSIGNAL);
    if (w > 0) { c->poff += (size_t)w; continue; }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 1;
    return -1;
  }
  c->poff = c->plen = 0;
  if (c->pcap > 4 * RBUF) { free(c->pend); c->pend = NULL; c->pcap = 0; }
  return 0;
}

/* echo n bytes: write directly when nothing is pending, else queue */
static int echo(conn_t *c, const char *p, size_t n) {
  if (c->plen == c->poff) {
    while (n > 0) {
      ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
      if (w > 0) { p += w; n -= (size_t)w; continue; }
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return -1;
    }
    if (n == 0) return 0;
  }
  if (pend_append(c, p, n) < 0) return -1;
  return set_out(c, 1) < 0 ? -1 : 0;
}

/* returns -1 when the connection must be closed */
static int on_readable(conn_t *c) {
  for (;;) {
    if (c->plen - c->poff >= PENDING_PAUSE) { c->read_paused = 1; return 0; }
    ssize_t n = read(c->fd, rbuf, RBUF);
    if (n > 0) {
      if (echo(c, rbuf, (size_t)n) < 0) return -1;
      if (n < RBUF) return 0; /* short read: drained */
      continue;
    }
    if (n == 0) return -1;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -1;
  }
}

static int on_writable(conn_t *c) {
  int r = flush_pending(c);
  if (r < 0) return -1;
  if (r == 1) return 0;
  if (set_out(c, 0) < 0) return -1;
  if (c->read_paused) {
    c->read_paused = 0;
    return on_readable(c);
  }
  return 0;
}

static void accept_all(void) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EMFILE || errno == ENFILE) { perror("c-echo: accept4"); return; }
      perror("c-echo: accept4");
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn_t *c = calloc(1, sizeof *c);
    if (!c) { close(fd); continue; }
    c->fd = fd;
    struct epoll_event ev;
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) { close(fd); free(c); continue; }
    /* data may already be there: ET reports the current state on ADD, so no read needed now */
  }
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--host") && i + 1 < argc) host = argv[++i];
    else if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
    else if (!strncmp(argv[i], "--host=", 7)) host = argv[i] + 7;
    else if (!strncmp(argv[i], "--port=", 7)) port = atoi(argv[i] + 7);
    else { fprintf(stderr, "usage: c-echo [--host ADDR] [--port N]\n"); return 64; }
  }

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_PDEATHSIG, SIGTERM); /* do not outlive the runner */

  /* a shell may start background jobs with SIGINT ignored: ignored signals never reach signalfd */
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);

  struct sockaddr_storage ss;
  socklen_t sl;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((unsigned short)port);
    sl = sizeof *a4;
  } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((unsigned short)port);
    sl = sizeof *a6;
  } else {
    fprintf(stderr, "c-echo: --host must be a numeric address\n");
    return 64;
  }
  listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&ss, sl) < 0 || listen(listen_fd, 4096) < 0) {
    perror("c-echo: listen");
    return 1;
  }
  sl = sizeof ss;
  getsockname(listen_fd, (struct sockaddr *)&ss, &sl);
  int actual = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);

  epfd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev;
  ev.events = EPOLLIN | EPOLLET;
  ev.data.ptr = (void *)&TAG_LISTEN;
  epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev);
  ev.events = EPOLLIN;
  ev.data.ptr = (void *)&TAG_SIGNAL;
  epoll_ctl(epfd, EPOLL_CTL_ADD, sig_fd, &ev);

  printf("listening %s %d\n", host, actual);
  fflush(stdout);

  struct epoll_event evs[512];
  for (;;) {
    int n = epoll_wait(epfd, evs, 512, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("c-echo: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      void *p = evs[i].data.ptr;
      if (p == (void *)&TAG_LISTEN) { accept_all(); continue; }
      if (p == (void *)&TAG_SIGNAL) { close(listen_fd); return 0; }
      conn_t *c = p;
      uint32_t e = evs[i].events;
      int dead = 0;
      if (e & EPOLLOUT) dead = on_writable(c) < 0;
      if (!dead && (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        if (c->read_paused) dead = (e & (EPOLLHUP | EPOLLERR)) != 0; /* resume after EPOLLOUT */
        else dead = on_readable(c) < 0;
      }
      if (dead) conn_close(c);
    }
  }
}
