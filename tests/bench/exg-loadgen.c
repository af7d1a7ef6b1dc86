/* exg-loadgen.c: load generator and target server for the proxy benchmark.
 *
 * Plain C on epoll (no GLib), so that its own overhead is small and the
 * same for every proxy measured.  One binary, several modes:
 *
 *   exg-loadgen serve
 *       the target: prints "listening PORT", serves until SIGTERM.
 *       The first byte a client sends picks the service:
 *         'E' + 63 bytes   echo those 64 bytes, then close (the target
 *                          closes first: its TIME_WAIT costs no ephemeral
 *                          port)
 *         'C' + 63 bytes   echo those 64 bytes, then close when the
 *                          client's FIN comes (the client closes first)
 *         'H' …            echo until a 'Z' comes, then close (held
 *                          connections; the server closing first keeps
 *                          TIME_WAIT off the ports later runs need)
 *         'U' id[8]        sink: verify every byte against the pattern,
 *                          record count and first/last arrival times
 *         'D' ms[4]        source: send the pattern for ms, then close
 *         'Q' id[8]        answer (bytes[8] ok[1] first_ns[8] last_ns[8])
 *                          for upload id, once that upload has ended
 *   exg-loadgen conn --proxy HOST:PORT|direct --target PORT --clients N --seconds S|--count N
 *                    [--close target|client] [--name HOST] [--socks 5|4a] [--request connect|resolve]
 *       N clients in a loop: connect, SOCKS5 greeting, CONNECT, 64-byte
 *       echo, then the closing order asked for: "target" (the default):
 *       the target closes, the proxy passes its FIN on, the client sees
 *       EOF and closes; "client": the client sends its FIN first
 *       (shutdown), the proxy passes it on, the target closes, and the
 *       client closes on EOF.  Either way a cycle ends at the client's
 *       EOF, so that 32 clients are 32 whole connections in flight.
 *       --name CONNECTs to HOST (SOCKS5 domain name) instead of
 *       127.0.0.1; --socks 4a sends a SOCKS4a request for it instead (no
 *       greeting).  --request resolve (SOCKS5, with --name) sends a
 *       RESOLVE (F0, Tor's socks-extensions.txt) for HOST instead of a
 *       CONNECT: a cycle is connect, greeting, RESOLVE, the answer, then
 *       the client closes.  --target self serves the target in this
 *       process, in the same epoll loop as the clients (see exg-floor.c
 *       for why).
 *       Prints conn/s and latency percentiles.
 *   exg-loadgen bulk … --streams K --dir up|down --seconds S
 *       K streams, every byte verified, each sending (or the target
 *       sending it) for S seconds from its first byte; prints aggregate
 *       Mbit/s and setup_ms_max, the slowest stream's connect and
 *       handshake (about 1000 ms more when a SYN had to be sent again:
 *       loopback ports crowded with TIME_WAIT, as after connection runs
 *       through a chain).
 *   exg-loadgen hold … --max N
 *       opens relayed connections (each proven by an echo) until N, a
 *       failure or a 2 s stall; prints "held N", waits for a line on
 *       stdin, then closes them.
 *
 * Results are printed as key=value lines for run-bench.sh.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#include <time.h>
#include <unistd.h>

/* The verification pattern: pseudo-random bytes with a prime period, kept
 * twice over so that any window up to PAT_PERIOD long is contiguous. */
#define PAT_PERIOD 1048573u
#define IO_CHUNK   (256 * 1024)
#define MAX_EVENTS 512

static uint8_t *pat;

static void
pat_init (void)
{
  uint64_t x = 0x9E3779B97F4A7C15ull;

  pat = malloc (2 * (size_t) PAT_PERIOD);
  for (size_t i = 0; i < PAT_PERIOD; i++)
    {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      pat[i] = pat[i + PAT_PERIOD] = (uint8_t) (x >> 24);
    }
}

static const uint8_t *
pat_at (uint64_t off)
{
  return pat + off % PAT_PERIOD;
}

static bool
pat_check (uint64_t off, const uint8_t *buf, size_t n)
{
  while (n > 0)
    {
      size_t k = n < PAT_PERIOD ? n : PAT_PERIOD;

      if (memcmp (buf, pat_at (off), k) != 0)
        return false;
      buf += k;
      off += k;
      n -= k;
    }
  return true;
}

static uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void
die (const char *what)
{
  fprintf (stderr, "exg-loadgen: %s: %s\n", what, strerror (errno));
  exit (2);
}

static void
raise_fd_limit (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
}

static void
put_u64 (uint8_t *p, uint64_t v)
{
  memcpy (p, &v, 8);
}

static uint64_t
get_u64 (const uint8_t *p)
{
  uint64_t v;

  memcpy (&v, p, 8);
  return v;
}

static void
set_nodelay (int fd)
{
  int one = 1;

  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ------------------------------------------------------------------ */
/* serve                                                               */

typedef struct
{
  uint64_t id;
  uint64_t bytes;
  uint64_t first_ns;
  uint64_t last_ns;
  bool     ok;
} Record;

#define MAX_RECORDS 256
static Record records[MAX_RECORDS];
static int n_records;

typedef struct
{
  int      fd;
  char     mode;        /* 0 until the first byte */
  uint8_t  hdr[16];
  size_t   hdr_len;
  uint64_t id;
  uint64_t off;         /* pattern offset (U, D) or bytes echoed (E) */
  uint64_t first_ns;
  uint64_t last_ns;
  uint64_t deadline_ns; /* D */
  bool     ok;
  bool     waiting;     /* Q parked until its record exists */
} SConn;

static SConn **sconns;   /* by fd */
static int sconns_len;

static size_t
hdr_size (char mode)
{
  switch (mode)
    {
    case 'U': case 'Q': return 9;
    case 'D': return 5;
    default: return 1;
    }
}

static void
s_close (int ep, SConn *c)
{
  epoll_ctl (ep, EPOLL_CTL_DEL, c->fd, NULL);
  close (c->fd);
  sconns[c->fd] = NULL;
  free (c);
}

static Record *
find_record (uint64_t id)
{
  for (int i = 0; i < n_records; i++)
    if (records[i].id == id)
      return &records[i];
  return NULL;
}

static void
s_answer (int ep, SConn *c, Record *r)
{
  uint8_t out[25];
  ssize_t n;

  put_u64 (out, r->bytes);
  out[8] = r->ok;
  put_u64 (out + 9, r->first_ns);
  put_u64 (out + 17, r->last_ns);
  n = send (c->fd, out, sizeof out, MSG_NOSIGNAL);
  (void) n;
  s_close (ep, c);
}

static void
s_record (int ep, SConn *c)
{
  Record *r;

  if (n_records == MAX_RECORDS)
    n_records = 0;   /* old results are of no interest any more */
  r = &records[n_records++];
  r->id = c->id;
  r->bytes = c->off;
  r->ok = c->ok;
  r->first_ns = c->first_ns;
  r->last_ns = c->last_ns;

  for (int fd = 0; fd < sconns_len; fd++)
    if (sconns[fd] != NULL && sconns[fd]->waiting && sconns[fd]->id == r->id)
      s_answer (ep, sconns[fd], r);
}

/* After the header: start the service */
static void
s_begin (int ep, SConn *c)
{
  struct epoll_event ev = { .events = EPOLLOUT, .data.fd = c->fd };
  uint32_t ms;

  switch (c->mode)
    {
    case 'U':
      c->id = get_u64 (c->hdr + 1);
      c->ok = true;
      break;
    case 'D':
      memcpy (&ms, c->hdr + 1, 4);
      c->deadline_ns = now_ns () + (uint64_t) ms * 1000000ull;
      epoll_ctl (ep, EPOLL_CTL_MOD, c->fd, &ev);
      break;
    case 'Q':
      {
        Record *r;

        c->id = get_u64 (c->hdr + 1);
        r = find_record (c->id);
        if (r != NULL)
          s_answer (ep, c, r);
        else
          c->waiting = true;
      }
      break;
    default:
      break;
    }
}

static void
s_readable (int ep, SConn *c, uint8_t *buf)
{
  int fd = c->fd;
  ssize_t n = recv (fd, buf, IO_CHUNK, 0);
  uint8_t *p = buf;

  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0)
    {
      if (c->mode == 'U')
        {
          c->ok = c->ok && n == 0;
          s_record (ep, c);
        }
      s_close (ep, c);
      return;
    }

  if (c->mode == 0)
    c->mode = (char) buf[0];

  if (c->mode == 'H' && memchr (buf, 'Z', n) != NULL)
    {
      s_close (ep, c);
      return;
    }
  if (c->mode == 'E' || c->mode == 'C' || c->mode == 'H')
    {
      /* Small messages: the send buffer always has room */
      if (send (c->fd, buf, n, MSG_NOSIGNAL) != n)
        {
          s_close (ep, c);
          return;
        }
      c->off += n;
      if (c->mode == 'E' && c->off >= 64)
        s_close (ep, c);
      else if (c->mode == 'C' && c->off > 64)
        s_close (ep, c);   /* more than the message: not our client */
      return;
    }

  if (c->hdr_len < hdr_size (c->mode))
    {
      size_t take = hdr_size (c->mode) - c->hdr_len;

      if (take > (size_t) n)
        take = n;
      memcpy (c->hdr + c->hdr_len, p, take);
      c->hdr_len += take;
      p += take;
      n -= take;
      if (c->hdr_len < hdr_size (c->mode))
        return;
      s_begin (ep, c);
      if (sconns[fd] != c)
        return;   /* answered and closed */
    }

  if (c->mode == 'U' && n > 0)
    {
      uint64_t t = now_ns ();

      if (c->off == 0)
        c->first_ns = t;
      c->last_ns = t;
      if (c->ok && !pat_check (c->off, p, n))
        c->ok = false;
      c->off += n;
    }
  else if (n > 0 && c->mode != 'D')
    {
      s_close (ep, c);   /* unexpected bytes */
    }
}

static void
s_writable (int ep, SConn *c)
{
  if (c->mode != 'D')
    return;

  for (int i = 0; i < 8; i++)
    {
      ssize_t n;

      if (now_ns () >= c->deadline_ns)
        {
          s_close (ep, c);
          return;
        }
      n = send (c->fd, pat_at (c->off), IO_CHUNK, MSG_NOSIGNAL);
      if (n < 0)
        {
          if (errno != EAGAIN && errno != EINTR)
            s_close (ep, c);
          return;
        }
      c->off += n;
      if (n < IO_CHUNK)
        return;
    }
}

static volatile sig_atomic_t stop_flag;

static void
on_signal (int sig)
{
  stop_flag = 1;
}

static int
listen_on (const struct sockaddr *sa, socklen_t len)
{
  int fd, one = 1;

  fd = socket (sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (sa->sa_family == AF_INET6)
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind (fd, sa, len) < 0 || listen (fd, 4096) < 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

/* The target listens on 127.0.0.1 and on ::1, on the same port, so that
 * a CONNECT to "localhost" reaches it whichever address the proxy's
 * resolver gives first (::1, on a stock Debian).  Without IPv6 on
 * loopback it serves IPv4 only and says so on stderr.  Returns the port;
 * lfds[] gets the listeners (-1 for none), added to ep. */
static uint16_t
serve_listen (int ep, uint16_t want, int lfds[2])
{
  struct sockaddr_in sin = { .sin_family = AF_INET };
  struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
  socklen_t len;

  if (sconns == NULL)
    {
      struct rlimit rl;

      getrlimit (RLIMIT_NOFILE, &rl);
      sconns_len = (int) rl.rlim_cur + 16;
      sconns = calloc (sconns_len, sizeof *sconns);
    }

  lfds[0] = lfds[1] = -1;
  /* A free IPv4 port that is also free on ::1: at most 64 tries */
  for (int attempt = 0; attempt < 64 && lfds[1] < 0; attempt++)
    {
      if (lfds[0] >= 0)
        close (lfds[0]);
      sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      sin.sin_port = htons (want);
      lfds[0] = listen_on ((struct sockaddr *) &sin, sizeof sin);
      if (lfds[0] < 0)
        die ("bind 127.0.0.1");
      len = sizeof sin;
      getsockname (lfds[0], (struct sockaddr *) &sin, &len);
      sin6.sin6_port = sin.sin_port;
      lfds[1] = listen_on ((struct sockaddr *) &sin6, sizeof sin6);
      if (lfds[1] < 0 && (errno != EADDRINUSE || want != 0))
        {
          fprintf (stderr, "exg-loadgen: not serving on ::1: %s\n", strerror (errno));
          break;
        }
    }

  for (int i = 0; i < 2; i++)
    if (lfds[i] >= 0)
      {
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfds[i] };

        epoll_ctl (ep, EPOLL_CTL_ADD, lfds[i], &ev);
      }
  return ntohs (sin.sin_port);
}

static void
serve_accept (int ep, int lfd)
{
  for (int k = 0; k < 64; k++)
    {
      int cfd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      struct epoll_event ev = { .events = EPOLLIN };
      SConn *c;

      if (cfd < 0)
        break;
      if (cfd >= sconns_len)
        {
          close (cfd);
          continue;
        }
      set_nodelay (cfd);
      c = calloc (1, sizeof *c);
      c->fd = cfd;
      sconns[cfd] = c;
      ev.data.fd = cfd;
      epoll_ctl (ep, EPOLL_CTL_ADD, cfd, &ev);
    }
}

/* One event for a served connection; false if fd is not one */
static bool
serve_event (int ep, int fd, uint32_t events, uint8_t *buf)
{
  if (fd >= sconns_len || sconns[fd] == NULL)
    return false;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
    s_readable (ep, sconns[fd], buf);
  if (sconns[fd] != NULL && (events & EPOLLOUT))
    s_writable (ep, sconns[fd]);
  return true;
}

static int
mode_serve (int argc, char **argv)
{
  struct epoll_event evs[MAX_EVENTS];
  uint8_t *buf = malloc (IO_CHUNK);
  int lfds[2], ep;
  uint16_t port;

  ep = epoll_create1 (EPOLL_CLOEXEC);
  port = serve_listen (ep, argc > 0 ? (uint16_t) atoi (argv[0]) : 0, lfds);
  signal (SIGTERM, on_signal);
  signal (SIGINT, on_signal);
  signal (SIGPIPE, SIG_IGN);

  printf ("listening %u\n", port);
  fflush (stdout);

  while (!stop_flag)
    {
      int n = epoll_wait (ep, evs, MAX_EVENTS, 1000);

      for (int i = 0; i < n; i++)
        {
          int fd = evs[i].data.fd;

          if (fd == lfds[0] || fd == lfds[1])
            serve_accept (ep, fd);
          else
            serve_event (ep, fd, evs[i].events, buf);
        }
    }
  return 0;
}

/* ------------------------------------------------------------------ */
/* clients                                                             */

typedef enum
{
  C_CONNECTING,
  C_GREETING,     /* sent 05 01 00, awaiting 05 00 */
  C_REPLY,        /* sent CONNECT, awaiting the reply */
  C_REPLY4,       /* sent a SOCKS4a request, awaiting the 8-byte reply */
  C_ECHO,         /* sent the message, awaiting its echo */
  C_EOF,          /* echo verified, awaiting the server's close */
  C_HELD,
  C_UPLOAD,
  C_DOWNLOAD,
} CState;

typedef struct
{
  int      fd;
  CState   state;
  uint8_t  buf[96];
  size_t   have;
  uint64_t t0;
  uint64_t end_ns;  /* upload: stop sending (the target's clock stops a
                     * download): each stream runs for --seconds from its
                     * first byte, however long its connect took */
  uint64_t id;
  uint64_t off;
  uint64_t first_ns;
  uint64_t last_ns;
  bool     ok;
} CConn;

typedef enum { RUN_CONN, RUN_HOLD, RUN_UP, RUN_DOWN } RunKind;

static struct
{
  RunKind            kind;
  bool               direct;
  bool               client_closes; /* conn: the client sends the first FIN */
  bool               socks4a;       /* conn: SOCKS4a by name, no greeting */
  bool               resolve;       /* conn: RESOLVE (F0) the name, no CONNECT */
  const char        *name;          /* conn: CONNECT to this name */
  struct sockaddr_in proxy;
  struct sockaddr_in target;
  int                ep;
  uint64_t           deadline_ns;
  uint32_t           seconds_ms;
  /* results */
  uint64_t           completed;
  uint64_t           errors;
  uint32_t          *lat_us;
  size_t             n_lat;
  size_t             cap_lat;
  uint64_t           held;
  uint64_t           last_progress_ns;
  uint64_t           setup_max_ns;  /* bulk: the slowest stream's connect
                                     * to its first byte of payload */
  bool               hold_failed;
  uint64_t           bulk_first_ns;
  uint64_t           bulk_last_ns;
  uint64_t          *up_ids;      /* ids of the finished uploads */
  int                n_up_ids;
  uint8_t           *iobuf;
  char               why[96];     /* why a hold run stopped */
} run;

static CConn **conns;   /* by fd */
static int conns_len;

static bool
parse_addr (const char *s, struct sockaddr_in *out)
{
  const char *colon = strrchr (s, ':');
  char host[64];

  memset (out, 0, sizeof *out);
  out->sin_family = AF_INET;
  if (colon == NULL)
    {
      out->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      out->sin_port = htons (atoi (s));
      return true;
    }
  if ((size_t) (colon - s) >= sizeof host)
    return false;
  memcpy (host, s, colon - s);
  host[colon - s] = 0;
  out->sin_port = htons (atoi (colon + 1));
  return inet_pton (AF_INET, host, &out->sin_addr) == 1;
}

static void
c_free (CConn *c)
{
  /* close() drops it from the epoll set */
  close (c->fd);
  conns[c->fd] = NULL;
  free (c);
}

static void
c_send (CConn *c, const void *data, size_t len, bool *failed)
{
  ssize_t n = send (c->fd, data, len, MSG_NOSIGNAL);

  if (n != (ssize_t) len)
    *failed = true;
}

static void
c_want (CConn *c, uint32_t events)
{
  struct epoll_event ev = { .events = events, .data.fd = c->fd };

  epoll_ctl (run.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static CConn *
c_start (void)
{
  const struct sockaddr_in *to = run.direct ? &run.target : &run.proxy;
  struct epoll_event ev = { .events = EPOLLOUT };
  CConn *c;
  int fd;

  fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return NULL;
  if (fd >= conns_len)
    {
      close (fd);
      errno = EMFILE;
      return NULL;
    }
  set_nodelay (fd);
  if (connect (fd, (const struct sockaddr *) to, sizeof *to) < 0
      && errno != EINPROGRESS)
    {
      close (fd);
      return NULL;
    }
  c = calloc (1, sizeof *c);
  c->fd = fd;
  c->state = C_CONNECTING;
  c->t0 = now_ns ();
  c->ok = true;
  conns[fd] = c;
  ev.data.fd = fd;
  epoll_ctl (run.ep, EPOLL_CTL_ADD, fd, &ev);
  return c;
}

static uint64_t next_stream_id;

/* The application phase, after CONNECT (or at once, direct) */
static void
c_begin_app (CConn *c, bool *failed)
{
  uint8_t msg[64];

  c->have = 0;
  if ((run.kind == RUN_UP || run.kind == RUN_DOWN)
      && now_ns () - c->t0 > run.setup_max_ns)
    run.setup_max_ns = now_ns () - c->t0;
  switch (run.kind)
    {
    case RUN_CONN:
      msg[0] = run.client_closes ? 'C' : 'E';
      memcpy (msg + 1, pat_at (c->fd), 63);
      c_send (c, msg, 64, failed);
      c->state = C_ECHO;
      break;
    case RUN_HOLD:
      memcpy (msg, "H012345", 8);
      c_send (c, msg, 8, failed);
      c->state = C_ECHO;
      break;
    case RUN_UP:
      c->id = ((uint64_t) getpid () << 32) | next_stream_id++;
      c->end_ns = now_ns () + (uint64_t) run.seconds_ms * 1000000ull;
      msg[0] = 'U';
      put_u64 (msg + 1, c->id);
      c_send (c, msg, 9, failed);
      c->state = C_UPLOAD;
      c_want (c, EPOLLOUT);
      break;
    case RUN_DOWN:
      msg[0] = 'D';
      memcpy (msg + 1, &run.seconds_ms, 4);
      c_send (c, msg, 5, failed);
      c->state = C_DOWNLOAD;
      break;
    }
}

static void
lat_add (uint64_t ns)
{
  if (run.n_lat == run.cap_lat)
    {
      run.cap_lat = run.cap_lat ? run.cap_lat * 2 : 65536;
      run.lat_us = realloc (run.lat_us, run.cap_lat * sizeof *run.lat_us);
    }
  run.lat_us[run.n_lat++] = (uint32_t) (ns / 1000);
}

/* Returns false when the connection is finished (freed). */
static bool
c_event (CConn *c, uint32_t events)
{
  bool failed = false;
  ssize_t n = -1;

  if (c->state == C_CONNECTING)
    {
      int err = 0;
      socklen_t len = sizeof err;

      getsockopt (c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0)
        {
          errno = err;
          goto fail;
        }
      c_want (c, EPOLLIN);
      if (run.direct)
        c_begin_app (c, &failed);
      else if (run.socks4a)
        {
          /* 04 01 port 0.0.0.1 "" name: the target by name, SOCKS4a */
          uint8_t req[8 + 1 + 256] = { 4, 1 };
          size_t nlen = strlen (run.name);

          memcpy (req + 2, &run.target.sin_port, 2);
          req[7] = 1;
          req[8] = 0;
          memcpy (req + 9, run.name, nlen + 1);
          c_send (c, req, 9 + nlen + 1, &failed);
          c->state = C_REPLY4;
        }
      else
        {
          static const uint8_t greeting[] = { 5, 1, 0 };

          c_send (c, greeting, sizeof greeting, &failed);
          c->state = C_GREETING;
        }
      if (failed)
        goto fail;
      return true;
    }

  if (c->state == C_UPLOAD)
    {
      if (!(events & EPOLLOUT))
        goto fail;   /* the sink never talks: HUP or ERR */
      for (int i = 0; i < 4; i++)
        {
          uint64_t t = now_ns ();

          if (t >= c->end_ns)
            {
              /* close(): what is queued still goes out, then FIN */
              run.up_ids[run.n_up_ids++] = c->id;
              c_free (c);
              return false;
            }
          n = send (c->fd, pat_at (c->off), IO_CHUNK, MSG_NOSIGNAL);
          if (n < 0)
            {
              if (errno == EAGAIN || errno == EINTR)
                return true;
              goto fail;
            }
          c->off += n;
          if (n < IO_CHUNK)
            return true;
        }
      return true;
    }

  if (c->state == C_DOWNLOAD)
    {
      n = recv (c->fd, run.iobuf, IO_CHUNK, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
      if (n < 0)
        goto fail;
      if (n == 0)
        {
          run.completed += c->off;
          if (!c->ok || c->off == 0)
            run.errors++;
          if (c->first_ns != 0 && c->first_ns < run.bulk_first_ns)
            run.bulk_first_ns = c->first_ns;
          if (c->last_ns > run.bulk_last_ns)
            run.bulk_last_ns = c->last_ns;
          c_free (c);
          return false;
        }
      {
        uint64_t t = now_ns ();

        if (c->off == 0)
          c->first_ns = t;
        c->last_ns = t;
      }
      if (c->ok && !pat_check (c->off, run.iobuf, n))
        c->ok = false;
      c->off += n;
      return true;
    }

  n = recv (c->fd, c->buf + c->have, sizeof c->buf - c->have, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return true;
  if (n < 0)
    goto fail;
  if (n == 0)
    {
      if (c->state == C_EOF)
        {
          uint64_t t = now_ns ();

          lat_add (t - c->t0);
          run.completed++;
          run.last_progress_ns = t;
          c_free (c);
          return false;
        }
      goto fail;
    }
  c->have += n;

  switch (c->state)
    {
    case C_GREETING:
      if (c->have < 2)
        return true;
      if (c->have != 2 || c->buf[0] != 5 || c->buf[1] != 0)
        goto fail;
      if (run.name != NULL)
        {
          uint8_t req[4 + 1 + 255 + 2] = { 5, run.resolve ? 0xF0 : 1, 0, 3 };
          size_t nlen = strlen (run.name);

          req[4] = (uint8_t) nlen;
          memcpy (req + 5, run.name, nlen);
          memcpy (req + 5 + nlen, &run.target.sin_port, 2);
          c_send (c, req, 7 + nlen, &failed);
        }
      else
        {
          uint8_t req[10] = { 5, 1, 0, 1 };

          memcpy (req + 4, &run.target.sin_addr, 4);
          memcpy (req + 8, &run.target.sin_port, 2);
          c_send (c, req, sizeof req, &failed);
        }
      c->have = 0;
      c->state = C_REPLY;
      break;

    case C_REPLY:
      {
        size_t need;

        if (c->have < 5)
          return true;
        if (c->buf[0] != 5 || c->buf[1] != 0)
          {
            if (run.kind == RUN_HOLD && !run.hold_failed)
              {
                snprintf (run.why, sizeof run.why,
                          "the proxy answered CONNECT with SOCKS5 reply %u",
                          c->buf[1]);
                run.hold_failed = true;
              }
            goto fail;
          }
        switch (c->buf[3])
          {
          case 1: need = 10; break;
          case 4: need = 22; break;
          case 3: need = 7 + c->buf[4]; break;
          default: goto fail;
          }
        if (c->have < need)
          return true;
        if (c->have > need)
          goto fail;
        if (run.resolve)
          {
            /* answered: that is the whole cycle; the client closes */
            uint64_t t = now_ns ();

            lat_add (t - c->t0);
            run.completed++;
            run.last_progress_ns = t;
            c_free (c);
            return false;
          }
        c_begin_app (c, &failed);
      }
      break;

    case C_REPLY4:
      if (c->have < 8)
        return true;
      if (c->have > 8 || c->buf[0] != 0 || c->buf[1] != 0x5a)
        goto fail;
      c_begin_app (c, &failed);
      break;

    case C_ECHO:
      {
        size_t want = run.kind == RUN_CONN ? 64 : 8;
        const char mode = run.kind != RUN_CONN ? 'H' : run.client_closes ? 'C' : 'E';

        if (c->have < want)
          return true;
        if (c->have > want || c->buf[0] != (uint8_t) mode
            || memcmp (c->buf + 1,
                       run.kind == RUN_CONN ? pat_at (c->fd) : (const uint8_t *) "012345",
                       want - 1) != 0)
          goto fail;
        c->have = 0;
        if (run.kind == RUN_CONN)
          {
            /* the client's FIN first; the target answers it with its own */
            if (run.client_closes && shutdown (c->fd, SHUT_WR) < 0)
              goto fail;
            c->state = C_EOF;
          }
        else
          {
            c->state = C_HELD;
            run.held++;
            run.last_progress_ns = now_ns ();
          }
      }
      break;

    case C_EOF:
    case C_HELD:
    default:
      goto fail;   /* nothing more may come */
    }

  if (failed)
    goto fail;
  return true;

fail:
  if (c->state == C_HELD)
    run.held--;
  run.errors++;
  if (run.kind == RUN_HOLD && !run.hold_failed)
    {
      static const char *names[] = { "connect", "greeting", "reply", "reply4",
                                     "echo", "eof", "held", "upload", "download" };

      snprintf (run.why, sizeof run.why, "%s failed (%s)", names[c->state],
                n < 0 ? strerror (errno) : n == 0 ? "closed" : "bad data");
      run.hold_failed = true;
    }
  c_free (c);
  return false;
}

/* Asks the server to close each held connection, and waits (at most
 * 10 s) for the closes to come through the proxy. */
static void
release_held (void)
{
  struct epoll_event evs[MAX_EVENTS];
  uint64_t left = 0, deadline = now_ns () + 10000000000ull;

  for (int fd = 0; fd < conns_len; fd++)
    if (conns[fd] != NULL)
      {
        if (conns[fd]->state == C_HELD
            && send (fd, "Z", 1, MSG_NOSIGNAL) == 1)
          left++;
        else
          c_free (conns[fd]);
      }

  while (left > 0 && now_ns () < deadline)
    {
      int n = epoll_wait (run.ep, evs, MAX_EVENTS, 100);

      for (int i = 0; i < n; i++)
        {
          CConn *c = conns[evs[i].data.fd];
          ssize_t r;

          if (c == NULL)
            continue;
          r = recv (c->fd, run.iobuf, IO_CHUNK, 0);
          if (r > 0 || (r < 0 && errno == EAGAIN))
            continue;
          c_free (c);
          left--;
        }
    }
}

static int
cmp_u32 (const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

  return x < y ? -1 : x > y;
}

static uint32_t
percentile (double p)
{
  size_t i;

  if (run.n_lat == 0)
    return 0;
  i = (size_t) (p * (run.n_lat - 1) + 0.5);
  return run.lat_us[i];
}

static void
usage (void)
{
  fprintf (stderr,
           "usage: exg-loadgen serve [PORT]\n"
           "       exg-loadgen conn|bulk|hold --proxy HOST:PORT|direct --target PORT\n"
           "                   [--clients N] [--seconds S | --count N] [--streams K] [--dir up|down] [--max N]\n"
           "                   [--close target|client] [--name HOST] [--socks 5|4a]\n"
           "                   [--request connect|resolve]\n");
  exit (2);
}

/* Ask the target, directly, how upload id went. */
static bool
query_upload (uint64_t id, Record *r)
{
  uint8_t q[9] = { 'Q' }, a[25];
  struct timeval tv = { .tv_sec = 10 };
  size_t got = 0;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  put_u64 (q + 1, id);
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect (fd, (struct sockaddr *) &run.target, sizeof run.target) < 0
      || send (fd, q, sizeof q, MSG_NOSIGNAL) != sizeof q)
    {
      close (fd);
      return false;
    }
  while (got < sizeof a)
    {
      ssize_t n = recv (fd, a + got, sizeof a - got, 0);

      if (n <= 0)
        break;
      got += n;
    }
  close (fd);
  if (got != sizeof a)
    return false;
  r->bytes = get_u64 (a);
  r->ok = a[8];
  r->first_ns = get_u64 (a + 9);
  r->last_ns = get_u64 (a + 17);
  return true;
}

static int
mode_client (const char *mode, int argc, char **argv)
{
  struct epoll_event evs[MAX_EVENTS];
  int clients = 32, streams = 1, max_hold = 1000;
  long count = 0;   /* conn: stop after this many connections (0: use --seconds) */
  double seconds = 2.0;
  const char *dir = "up";
  uint64_t start_ns, end_ns;
  int active = 0, started = 0, target_active;
  bool have_target = false, serve_self = false;
  int lfds[2] = { -1, -1 };
  struct rlimit rl;

  memset (&run, 0, sizeof run);
  for (int i = 0; i + 1 < argc; i += 2)
    {
      const char *k = argv[i], *v = argv[i + 1];

      if (strcmp (k, "--proxy") == 0)
        {
          if (strcmp (v, "direct") == 0)
            run.direct = true;
          else if (!parse_addr (v, &run.proxy))
            usage ();
        }
      else if (strcmp (k, "--target") == 0)
        {
          serve_self = strcmp (v, "self") == 0;
          have_target = serve_self || parse_addr (v, &run.target);
        }
      else if (strcmp (k, "--clients") == 0)
        clients = atoi (v);
      else if (strcmp (k, "--streams") == 0)
        streams = atoi (v);
      else if (strcmp (k, "--seconds") == 0)
        seconds = atof (v);
      else if (strcmp (k, "--dir") == 0)
        dir = v;
      else if (strcmp (k, "--max") == 0)
        max_hold = atoi (v);
      else if (strcmp (k, "--count") == 0)
        count = atol (v);
      else if (strcmp (k, "--close") == 0)
        {
          if (strcmp (v, "client") == 0)
            run.client_closes = true;
          else if (strcmp (v, "target") != 0)
            usage ();
        }
      else if (strcmp (k, "--name") == 0)
        {
          if (strlen (v) == 0 || strlen (v) > 255)
            usage ();
          run.name = v;
        }
      else if (strcmp (k, "--request") == 0)
        {
          if (strcmp (v, "resolve") == 0)
            run.resolve = true;
          else if (strcmp (v, "connect") != 0)
            usage ();
        }
      else if (strcmp (k, "--socks") == 0)
        {
          if (strcmp (v, "4a") == 0)
            run.socks4a = true;
          else if (strcmp (v, "5") != 0)
            usage ();
        }
      else
        usage ();
    }
  if (!have_target || (run.socks4a && run.name == NULL)
      || (run.resolve && (run.name == NULL || run.socks4a)))
    usage ();

  if (strcmp (mode, "conn") == 0)
    {
      run.kind = RUN_CONN;
      target_active = clients;
    }
  else if (strcmp (mode, "hold") == 0)
    {
      run.kind = RUN_HOLD;
      target_active = 256;   /* handshakes in flight */
    }
  else if (strcmp (mode, "bulk") == 0)
    {
      run.kind = strcmp (dir, "down") == 0 ? RUN_DOWN : RUN_UP;
      target_active = streams;
    }
  else
    usage ();

  getrlimit (RLIMIT_NOFILE, &rl);
  conns_len = (int) rl.rlim_cur + 16;
  conns = calloc (conns_len, sizeof *conns);
  run.iobuf = malloc (IO_CHUNK);
  run.ep = epoll_create1 (EPOLL_CLOEXEC);
  if (serve_self)
    {
      if (run.kind != RUN_CONN)
        usage ();
      run.target.sin_family = AF_INET;
      run.target.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      run.target.sin_port = htons (serve_listen (run.ep, 0, lfds));
    }
  run.seconds_ms = (uint32_t) (seconds * 1000);
  signal (SIGPIPE, SIG_IGN);

  start_ns = now_ns ();
  run.deadline_ns = start_ns + (uint64_t) (seconds * 1e9);
  run.last_progress_ns = start_ns;

  run.up_ids = calloc (streams, sizeof *run.up_ids);
  run.bulk_first_ns = UINT64_MAX;

  for (;;)
    {
      uint64_t t = now_ns ();
      int n;

      switch (run.kind)
        {
        case RUN_CONN:
          if (count > 0 ? started >= count && active == 0
                        : t >= run.deadline_ns)
            goto out;
          break;
        case RUN_HOLD:
          if (run.held >= (uint64_t) max_hold
              || (run.hold_failed && active == 0)
              || t - run.last_progress_ns > 2000000000ull)
            goto out;
          break;
        case RUN_UP:
        case RUN_DOWN:
          if (started == streams && active == 0)
            goto out;
          /* a safety net for a stuck proxy */
          if (t > run.deadline_ns + 20000000000ull)
            {
              fprintf (stderr, "exg-loadgen: bulk run stuck\n");
              run.errors++;
              goto out;
            }
          break;
        }

      /* conn keeps `clients` in flight; hold keeps 256 handshakes in
       * flight; bulk starts its streams once */
      while (active < target_active)
        {
          if (run.kind == RUN_HOLD
              && (run.hold_failed
                  || run.held + (uint64_t) active >= (uint64_t) max_hold))
            break;
          if ((run.kind == RUN_UP || run.kind == RUN_DOWN) && started == streams)
            break;
          if (run.kind == RUN_CONN && count > 0 && started >= count)
            break;
          if (c_start () == NULL)
            {
              run.errors++;
              if (run.kind == RUN_HOLD && !run.hold_failed)
                {
                  snprintf (run.why, sizeof run.why, "socket/connect: %s",
                            strerror (errno));
                  run.hold_failed = true;
                }
              if (run.kind == RUN_UP || run.kind == RUN_DOWN)
                started++;
              break;
            }
          active++;
          started++;
        }

      n = epoll_wait (run.ep, evs, MAX_EVENTS, 100);
      for (int i = 0; i < n; i++)
        {
          int fd = evs[i].data.fd;
          CConn *c;

          if (fd == lfds[0] || fd == lfds[1])
            {
              serve_accept (run.ep, fd);
              continue;
            }
          if (serve_self && serve_event (run.ep, fd, evs[i].events, run.iobuf))
            continue;
          c = conns[fd];
          if (c == NULL)
            continue;
          if (c->state == C_HELD)
            {
              /* a held connection said something: it was dropped */
              run.held--;
              run.hold_failed = true;
              run.errors++;
              c_free (c);
              continue;
            }
          if (!c_event (c, evs[i].events))
            active--;
          else if (c->state == C_HELD)
            active--;   /* held: no longer in flight */
        }
    }
out:
  end_ns = now_ns ();

  switch (run.kind)
    {
    case RUN_CONN:
      {
        double secs = (end_ns - start_ns) / 1e9;

        qsort (run.lat_us, run.n_lat, sizeof *run.lat_us, cmp_u32);
        printf ("conns=%" PRIu64 "\nerrors=%" PRIu64 "\nseconds=%.3f\n"
                "rate=%.0f\np50_us=%u\np99_us=%u\n",
                run.completed, run.errors, secs, run.completed / secs,
                percentile (0.50), percentile (0.99));
      }
      break;

    case RUN_HOLD:
      {
        char line[16];

        if (run.why[0] == 0)
          strcpy (run.why, run.held >= (uint64_t) max_hold ? "reached --max"
                                                           : "stalled for 2 s");
        printf ("held=%" PRIu64 "\nstopped=%s\nerrors=%" PRIu64 "\n",
                run.held, run.why, run.errors);
        fflush (stdout);
        /* Hold them until told to let go (a line, or EOF) */
        (void) !fgets (line, sizeof line, stdin);
        release_held ();
      }
      break;

    case RUN_UP:
      {
        uint64_t bytes = 0, first = UINT64_MAX, last = 0;
        bool ok = run.errors == 0;
        int got = 0;

        for (int s = 0; s < streams; s++)
          {
            Record r;

            if (s >= run.n_up_ids || !query_upload (run.up_ids[s], &r))
              {
                fprintf (stderr, "exg-loadgen: no result for upload %d\n", s);
                ok = false;
                continue;
              }
            if (!r.ok || r.bytes == 0)
              fprintf (stderr, "exg-loadgen: upload %d: %" PRIu64 " bytes, %s\n",
                       s, r.bytes, r.ok ? "intact" : "CORRUPT or cut");
            got++;
            ok = ok && r.ok && r.bytes > 0;
            bytes += r.bytes;
            if (r.first_ns < first)
              first = r.first_ns;
            if (r.last_ns > last)
              last = r.last_ns;
          }
        ok = ok && got == streams;
        printf ("bytes=%" PRIu64 "\nverified=%s\nseconds=%.3f\nmbps=%.1f\n"
                "setup_ms_max=%.1f\n",
                bytes, ok ? "yes" : "no",
                last > first ? (last - first) / 1e9 : 0.0,
                last > first ? bytes * 8 / ((last - first) / 1e9) / 1e6 : 0.0,
                run.setup_max_ns / 1e6);
      }
      break;

    case RUN_DOWN:
      {
        uint64_t first = run.bulk_first_ns, last = run.bulk_last_ns;
        bool ok = run.errors == 0 && started == streams;

        printf ("bytes=%" PRIu64 "\nverified=%s\nseconds=%.3f\nmbps=%.1f\n"
                "setup_ms_max=%.1f\n",
                run.completed, ok ? "yes" : "no",
                last > first ? (last - first) / 1e9 : 0.0,
                last > first ? run.completed * 8 / ((last - first) / 1e9) / 1e6 : 0.0,
                run.setup_max_ns / 1e6);
      }
      break;
    }
  fflush (stdout);
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    usage ();
  raise_fd_limit ();
  pat_init ();
  setvbuf (stdout, NULL, _IOLBF, 0);

  if (strcmp (argv[1], "serve") == 0)
    return mode_serve (argc - 2, argv + 2);
  if (strcmp (argv[1], "waitport") == 0 && argc == 3)
    {
      struct sockaddr_in sin;

      /* Until something accepts on the port: at most 10 s */
      parse_addr (argv[2], &sin);
      for (int i = 0; i < 1000; i++)
        {
          int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
          struct timespec ts = { 0, 10000000 };

          if (connect (fd, (struct sockaddr *) &sin, sizeof sin) == 0)
            {
              close (fd);
              return 0;
            }
          close (fd);
          nanosleep (&ts, NULL);
        }
      return 1;
    }
  if (strcmp (argv[1], "freeport") == 0)
    {
      struct sockaddr_in sin = { .sin_family = AF_INET };
      socklen_t len = sizeof sin;
      int fd = socket (AF_INET, SOCK_STREAM, 0);

      sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      if (bind (fd, (struct sockaddr *) &sin, sizeof sin) < 0)
        die ("bind");
      getsockname (fd, (struct sockaddr *) &sin, &len);
      printf ("%u\n", ntohs (sin.sin_port));
      return 0;
    }
  return mode_client (argv[1], argc - 2, argv + 2);
}
