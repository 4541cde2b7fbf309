/*
 * c-udp-echo — the reference ceiling of the UDP echo cell (bench/udp.js).
 *
 * Plain C, one thread, one edge-triggered epoll socket: on readable, recvmmsg up to 64 datagrams
 * at a time until EAGAIN, each batch sent straight back to its senders with one sendmmsg (what the
 * kernel refuses when the send buffer is full is dropped, as UDP may).
 *
 *   c-udp-echo [--host 127.0.0.1] [--port 0]
 *
 * Prints exactly one line "listening <host> <port>" on stdout when ready. Exits 0 on SIGTERM /
 * SIGINT.
 *
 * Build: cc -O2 -Wall -Wextra -o c-udp-echo c-udp-echo.c   (Linux)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define BUF 65536

static const char *arg(int argc, char **argv, const char *name, const char *def) {
  for (int i = 1; i < argc - 1; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return def;
}

int main(int argc, char **argv) {
  const char *host = arg(argc, argv, "--host", "127.0.0.1");
  int port = atoi(arg(argc, argv, "--port", "0"));
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    fprintf(stderr, "c-udp-echo: --host must be a numeric IPv4 address\n");
    return 2;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    perror("c-udp-echo: bind");
    return 1;
  }
  socklen_t len = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &len);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  struct epoll_event sev = {.events = EPOLLIN, .data.fd = sfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &sev);
  printf("listening %s %d\n", host, ntohs(sa.sin_port));
  fflush(stdout);

  static char bufs[BATCH][BUF];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_storage names[BATCH];
  for (;;) {
    struct epoll_event evs[4];
    int n = epoll_wait(ep, evs, 4, -1);
    if (n < 0 && errno == EINTR) continue;
    for (int e = 0; e < n; e++) {
      if (evs[e].data.fd == sfd) return 0;
      for (;;) {
        for (int i = 0; i < BATCH; i++) {
          iov[i].iov_base = bufs[i];
          iov[i].iov_len = BUF;
          memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
          msgs[i].msg_hdr.msg_name = &names[i];
          msgs[i].msg_hdr.msg_namelen = sizeof names[i];
          msgs[i].msg_hdr.msg_iov = &iov[i];
          msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int r = recvmmsg(fd, msgs, BATCH, 0, NULL);
        if (r <= 0) break; /* EAGAIN: drained */
        for (int i = 0; i < r; i++) iov[i].iov_len = msgs[i].msg_len;
        for (int sent = 0; sent < r;) {
          int s = sendmmsg(fd, msgs + sent, r - sent, 0);
          if (s <= 0) break;
          sent += s;
        }
      }
    }
  }
}
