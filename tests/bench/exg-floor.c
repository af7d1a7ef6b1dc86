/* exg-floor.c: the least a SOCKS5 proxy can do, as the benchmark's floor.
 *
 *   exg-floor      prints "listening PORT" (127.0.0.1, a free port) and
 *                  relays until SIGTERM
 *
 * Not a proxy to use: no-auth SOCKS5 CONNECT to IPv4 literals only, no
 * limits, no timeouts, no logging.  It does what any correct relay must
 * do for a connection and nothing else: one thread, edge-triggered epoll,
 * each descriptor registered once, Nagle off (inherited from the listener),
 * half-close passed on with the last data riding on the FIN, the last FIN
 * sent by close.  Its CPU per connection is what the kernel's TCP work
 * costs on this machine; the benchmark prints it beside the real proxies
 * so that their figures can be read against it.
 *
 * Where a connection's CPU goes (measured on a 2-core VM shared with other
 * builds, load average 1.7-2.0; 32 clients, floor on its own core):
 *
 *  - About 20 syscalls per connection (perf's syscall tracepoints):
 *    accept4, 2 epoll_ctl, 5 recv (6 when the client closes first: each
 *    FIN then comes alone and needs its own recv of 0), 4 send, socket,
 *    setsockopt, connect, shutdown, 2 close, about one epoll_wait.  There
 *    were 22: the handshake read until EAGAIN (a second recv each for the
 *    greeting and the request) and the reply carried getsockname's address.
 *    A short read now ends the handshake read, and the reply carries
 *    0.0.0.0:0 as tor's and microsocks' do.
 *  - 97 % of it is kernel time (perf record): send 27 %, connect 22 %,
 *    close 22 %, shutdown 6 %, recv 5 %, socket and accept 4 % each,
 *    epoll 4 %.  On loopback a sender also runs the receiver's side in its
 *    own softirq: connect pays for the whole handshake, the target's
 *    accept queue and the wake-up of the target, and every send pays for
 *    waking its reader.
 *  - That wake-up is where the load generator's pattern landed on the
 *    proxy.  The target used to be a second process on the generator's
 *    core; waking whichever of the two was not running preempted the
 *    other, at a rescheduling IPI to that core from the proxy's softirq
 *    (0.42 per connection; 0.01 once the target is served in the
 *    generator's own loop, `exg-loadgen conn --target self`).  The floor
 *    went from 79-85 to 67-74 us per connection (target closes first) and
 *    woke up less often (epoll_wait 1.40 -> 1.15 per connection).
 *  - Closing order: each order leaves one TIME_WAIT on the proxy, on the
 *    side where it sends the first FIN (to the client when the target
 *    closes first, to the target when the client does), and one on the
 *    generator's side.  Passing the FIN on makes that unavoidable;
 *    SO_LINGER 0 would send RSTs and lose data, which no relay may.
 *  - connect's ephemeral port search (__inet_hash_connect) is 1.2 % and
 *    TIME_WAIT recycling (TWRecycled) stays near 0: the ports are not
 *    crowded, so IP_BIND_ADDRESS_NO_PORT with a spread of 127.0.0.x source
 *    addresses would add a bind per connection to save less than it costs.
 *
 * What is left is kernel TCP work any relay pays.  On this busy machine
 * it does not reach the 40 us an independent minimal relay measured on a
 * quieter one; compare columns within one run.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE   (256 * 1024)
#define MAX_EVENTS 512
#define EVENTS     (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

enum { GREETING, REQUEST, CONNECTING, RELAY };
enum { UP, DOWN };   /* UP: client → target */

typedef struct Conn Conn;

typedef struct
{
  Conn *conn;
  int   fd;
  bool  readable, writable, fin;
} End;

typedef struct
{
  End     *src, *dst;
  uint8_t *held;        /* what dst could not take yet */
  size_t   held_off, held_len;
  bool     eof, shut;
} Dir;

struct Conn
{
  End     ends[2];      /* client, target */
  Dir     dirs[2];
  int     state;
  uint8_t hs[64];       /* the handshake read so far */
  size_t  hs_len;
  bool    dead;         /* closed; freed after the current batch of events */
  Conn   *next_dead;
};

static int ep;
static uint8_t buf[BUF_SIZE];
static volatile sig_atomic_t stop;
static Conn *graveyard;   /* closed during this batch: later events may name them */

static void
on_term (int sig)
{
  (void) sig;
  stop = 1;
}

static void
conn_free (Conn *c)
{
  for (int e = 0; e < 2; e++)
    if (c->ends[e].fd >= 0)
      close (c->ends[e].fd);   /* also leaves the epoll set */
  for (int d = 0; d < 2; d++)
    free (c->dirs[d].held);
  c->dead = true;
  c->next_dead = graveyard;
  graveyard = c;
}

static bool
watch (End *end)
{
  struct epoll_event ev = { .events = EVENTS, .data.ptr = end };

  return epoll_ctl (ep, EPOLL_CTL_ADD, end->fd, &ev) == 0;
}

static bool
hold (Dir *d, const uint8_t *data, size_t len)
{
  d->held = malloc (len);
  if (d->held == NULL)
    return false;
  memcpy (d->held, data, len);
  d->held_off = 0;
  d->held_len = len;
  return true;
}

/* One direction as far as it goes; false on an error */
static bool
pump_dir (Conn *c, Dir *d)
{
  for (;;)
    {
      int flags;
      ssize_t n, w;

      if (d->held != NULL)
        {
          if (!d->dst->writable)
            return true;
          w = send (d->dst->fd, d->held + d->held_off,
                    d->held_len - d->held_off,
                    MSG_NOSIGNAL | (d->eof ? MSG_MORE : 0));
          if (w < 0)
            {
              if (errno != EAGAIN)
                return false;
              d->dst->writable = false;
              return true;
            }
          d->held_off += w;
          if (d->held_off < d->held_len)
            {
              d->dst->writable = false;
              return true;
            }
          free (d->held);
          d->held = NULL;
          continue;
        }
      if (d->eof)
        {
          if (!d->shut)
            {
              d->shut = true;
              /* the other way done too: close will send this FIN */
              if (!(c->dirs[UP].shut && c->dirs[DOWN].shut)
                  && shutdown (d->dst->fd, SHUT_WR) < 0)
                return false;
            }
          return true;
        }
      if (!d->src->readable)
        return true;
      n = recv (d->src->fd, buf, sizeof buf, 0);
      if (n < 0)
        {
          if (errno != EAGAIN)
            return false;
          d->src->readable = false;
          return true;
        }
      if (n == 0)
        {
          d->eof = true;
          continue;
        }
      if ((size_t) n < sizeof buf)
        {
          if (d->src->fin)
            d->eof = true;      /* the FIN came with this data */
          else
            d->src->readable = false;
        }
      flags = MSG_NOSIGNAL | (d->eof ? MSG_MORE : 0);
      w = d->dst->writable ? send (d->dst->fd, buf, n, flags) : 0;
      if (w < 0)
        {
          if (errno != EAGAIN)
            return false;
          w = 0;
        }
      if (w < n)
        {
          d->dst->writable = false;
          if (!hold (d, buf + w, n - w))
            return false;
          return true;
        }
    }
}

static void
pump (Conn *c)
{
  for (int d = 0; d < 2; d++)
    if (!pump_dir (c, &c->dirs[d]))
      {
        conn_free (c);
        return;
      }
  if (c->dirs[UP].shut && c->dirs[DOWN].shut)
    conn_free (c);
}

static void
fail (Conn *c, uint8_t rep)
{
  uint8_t r[10] = { 5, rep, 0, 1 };

  (void) send (c->ends[0].fd, r, sizeof r, MSG_NOSIGNAL);
  conn_free (c);
}

/* The client's handshake, as far as it has come */
static void
handshake (Conn *c)
{
  size_t room = sizeof c->hs - c->hs_len;
  ssize_t n = recv (c->ends[0].fd, c->hs + c->hs_len, room, 0);

  if (n == 0 || (n < 0 && errno != EAGAIN))
    {
      conn_free (c);
      return;
    }
  if (n > 0)
    c->hs_len += n;
  /* A short read took all there was: no second recv for its EAGAIN.  A
   * full buffer is more than a SOCKS5 greeting and request can be. */
  c->ends[0].readable = false;

  if (c->state == GREETING)
    {
      size_t len;

      if (c->hs_len < 2 || c->hs_len < (size_t) 2 + c->hs[1])
        return;
      if (c->hs[0] != 5 || memchr (c->hs + 2, 0, c->hs[1]) == NULL)
        {
          conn_free (c);
          return;
        }
      if (send (c->ends[0].fd, "\5\0", 2, MSG_NOSIGNAL) != 2)
        {
          conn_free (c);
          return;
        }
      len = 2 + c->hs[1];
      memmove (c->hs, c->hs + len, c->hs_len - len);
      c->hs_len -= len;
      c->state = REQUEST;
    }

  if (c->state == REQUEST && c->hs_len >= 10)
    {
      struct sockaddr_in sin = { .sin_family = AF_INET };
      int one = 1, fd;

      if (c->hs[0] != 5 || c->hs[1] != 1 || c->hs[3] != 1)
        {
          fail (c, c->hs[1] != 1 ? 7 : 8);
          return;
        }
      memcpy (&sin.sin_addr, c->hs + 4, 4);
      memcpy (&sin.sin_port, c->hs + 8, 2);
      fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0)
        {
          fail (c, 1);
          return;
        }
      c->ends[1].fd = fd;
      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if ((connect (fd, (struct sockaddr *) &sin, sizeof sin) < 0
           && errno != EINPROGRESS)
          || !watch (&c->ends[1]))
        {
          fail (c, errno == ECONNREFUSED ? 5 : 1);
          return;
        }
      /* anything after the request goes to the target first */
      if (c->hs_len > 10 && !hold (&c->dirs[UP], c->hs + 10, c->hs_len - 10))
        {
          conn_free (c);
          return;
        }
      c->state = CONNECTING;
    }
}

static void
connected (Conn *c, uint32_t events)
{
  /* BND.ADDR 0.0.0.0:0, as tor and microsocks answer: the client has no
   * use for the relay's own address, and a getsockname is not free */
  static const uint8_t r[10] = { 5, 0, 0, 1 };

  if (events & (EPOLLERR | EPOLLHUP))
    {
      int err = 0;
      socklen_t len = sizeof err;

      getsockopt (c->ends[1].fd, SOL_SOCKET, SO_ERROR, &err, &len);
      fail (c, err == ECONNREFUSED ? 5 : 1);
      return;
    }
  if (send (c->ends[0].fd, r, sizeof r, MSG_NOSIGNAL) != sizeof r)
    {
      conn_free (c);
      return;
    }
  c->state = RELAY;
  pump (c);
}

static void
on_event (End *end, uint32_t events)
{
  Conn *c = end->conn;

  if (c->dead)
    return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
    end->readable = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
    end->writable = true;
  if ((events & (EPOLLRDHUP | EPOLLHUP)) && !(events & EPOLLERR))
    end->fin = true;

  switch (c->state)
    {
    case GREETING:
    case REQUEST:
      if (end == &c->ends[0] && end->readable)
        handshake (c);
      break;
    case CONNECTING:
      if (end == &c->ends[1] && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        connected (c, events);
      break;
    default:
      pump (c);
    }
}

static void
accept_all (int lfd)
{
  for (int i = 0; i < 64; i++)
    {
      int fd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      Conn *c;

      if (fd < 0)
        return;
      c = calloc (1, sizeof *c);
      if (c == NULL)
        {
          close (fd);
          continue;
        }
      c->ends[0] = (End) { .conn = c, .fd = fd };
      c->ends[1] = (End) { .conn = c, .fd = -1 };
      c->dirs[UP] = (Dir) { .src = &c->ends[0], .dst = &c->ends[1] };
      c->dirs[DOWN] = (Dir) { .src = &c->ends[1], .dst = &c->ends[0] };
      if (!watch (&c->ends[0]))
        conn_free (c);
      /* the greeting comes as an event: registering reports it */
    }
}

int
main (void)
{
  struct sockaddr_in sin = { .sin_family = AF_INET };
  socklen_t len = sizeof sin;
  struct epoll_event events[MAX_EVENTS];
  struct epoll_event lev = { .events = EPOLLIN };
  struct sigaction sa = { .sa_handler = on_term };
  struct rlimit rl;
  int lfd, one = 1;

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);

  lfd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  setsockopt (lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (lfd < 0 || bind (lfd, (struct sockaddr *) &sin, sizeof sin) < 0
      || listen (lfd, 4096) < 0
      || getsockname (lfd, (struct sockaddr *) &sin, &len) < 0)
    {
      perror ("exg-floor: listen");
      return 2;
    }
  ep = epoll_create1 (EPOLL_CLOEXEC);
  lev.data.ptr = NULL;
  epoll_ctl (ep, EPOLL_CTL_ADD, lfd, &lev);
  printf ("listening %u\n", ntohs (sin.sin_port));
  fflush (stdout);

  while (!stop)
    {
      int n = epoll_wait (ep, events, MAX_EVENTS, -1);

      for (int i = 0; i < n; i++)
        {
          if (events[i].data.ptr == NULL)
            accept_all (lfd);
          else
            on_event (events[i].data.ptr, events[i].events);
        }
      while (graveyard != NULL)
        {
          Conn *c = graveyard;

          graveyard = c->next_dead;
          free (c);
        }
    }
  return 0;
}
