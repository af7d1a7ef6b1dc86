/* test-relay.c: ExgPoller and ExgRelay over real loopback TCP connections.
 *
 * Each relay sits between two TCP pairs: client peer ↔ [client | relay |
 * exit] ↔ exit peer.  The peers are plain descriptors the tests drive
 * directly; every wait is on a real event, bounded by a deadline.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define _GNU_SOURCE   /* POLLRDHUP */
#include "config.h"

#include "exg-poller.h"
#include "exg-relay.h"
#include "exg-test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <linux/tcp.h>   /* tcp_info.tcpi_segs_in, which glibc's lacks */
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEADLINE_S 30
#define MAX_HELD   (256 * 1024)

static int listen_fd = -1;

/* --- helpers -------------------------------------------------------- */

static void
make_tcp_pair (int *a,
               int *b)
{
  struct sockaddr_in sin = { 0 };
  socklen_t len = sizeof sin;

  if (listen_fd < 0)
    {
      listen_fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      g_assert_cmpint (listen_fd, >=, 0);
      sin.sin_family = AF_INET;
      sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      g_assert_no_errno (bind (listen_fd, (struct sockaddr *) &sin, sizeof sin));
      g_assert_no_errno (listen (listen_fd, 512));
    }

  g_assert_no_errno (getsockname (listen_fd, (struct sockaddr *) &sin, &len));
  *a = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (*a, >=, 0);
  g_assert_no_errno (connect (*a, (struct sockaddr *) &sin, len));
  *b = accept (listen_fd, NULL, NULL);
  g_assert_cmpint (*b, >=, 0);
}

static GSocketConnection *
wrap (int fd)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new_from_fd (fd, &error);

  g_assert_no_error (error);
  return g_socket_connection_factory_create_connection (socket);
}

static void
set_io_timeouts (int fd)
{
  struct timeval tv = { .tv_sec = DEADLINE_S };

  g_assert_no_errno (setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
  g_assert_no_errno (setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
}

/* Dispatches until nothing is ready: loopback delivery is synchronous, so
 * this is the steady state. */
static void
run_until_quiet (void)
{
  guint i;

  for (i = 0; i < 1000000 && g_main_context_iteration (NULL, FALSE); i++)
    ;
  g_assert_cmpuint (i, <, 1000000);
}

static guint
count_open_fds (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

static guint8
pattern (guint64 i,
         guint8  seed)
{
  return (guint8) (i * 131 + (i >> 13) + seed);
}

/* --- a relay with its peers ----------------------------------------- */

typedef struct
{
  int       client_peer;
  int       exit_peer;
  ExgRelay *relay;
  guint     done_count;
  GError   *error;
  guint64   up;
  guint64   down;
  gsize     max_held_up;
  gsize     max_held_down;
  gboolean  free_in_done;
  int       client_fd;          /* the relay's client end: owned until
                                 * the relay takes it, then -1 */
  int       client_fd_given;    /* … its number, to look at in done */
  int       exit_fd;            /* the relay's exit end: as client_fd */
  int       exit_fd_given;
  GSocketConnection *exit_conn; /* nullable: the exit end as GIO made it
                                 * (--exit-connection), owning exit_fd */
  gboolean  closed_at_done;     /* both sockets were closed by then */
} Fixture;

/* --exit-connection: the exit end as an upstream proxy given by name gives it */
static gboolean exit_as_connection;

static gboolean
fd_closed (int fd)
{
  return fcntl (fd, F_GETFD) == -1 && errno == EBADF;
}

static void
progress_cb (gpointer user_data,
             gsize    up,
             gsize    down)
{
  Fixture *f = user_data;
  gsize held_up, held_down;

  g_assert_cmpuint (f->done_count, ==, 0);
  f->up += up;
  f->down += down;
  exg_relay_get_buffered (f->relay, &held_up, &held_down);
  f->max_held_up = MAX (f->max_held_up, held_up);
  f->max_held_down = MAX (f->max_held_down, held_down);
}

static void
done_cb (gpointer      user_data,
         const GError *error)
{
  Fixture *f = user_data;

  f->done_count++;
  if (error != NULL)
    f->error = g_error_copy (error);
  /* nothing opens a descriptor between the relay's close and this call */
  f->closed_at_done = fd_closed (f->client_fd_given)
    && (f->exit_conn != NULL
          ? g_socket_is_closed (g_socket_connection_get_socket (f->exit_conn))
          : fd_closed (f->exit_fd_given));
  if (f->free_in_done)
    g_clear_pointer (&f->relay, exg_relay_free);
}

static gboolean
is_done (gpointer data)
{
  Fixture *f = data;

  return f->done_count > 0;
}

static void
fixture_connect (Fixture *f)
{
  int client_side, exit_side;

  make_tcp_pair (&f->client_peer, &client_side);
  make_tcp_pair (&exit_side, &f->exit_peer);
  /* as ExgListener's sockets come: non-blocking, Nagle off */
  g_assert_no_errno (fcntl (client_side, F_SETFL,
                            fcntl (client_side, F_GETFL) | O_NONBLOCK));
  g_assert_no_errno (setsockopt (client_side, IPPROTO_TCP, TCP_NODELAY,
                                 &(int) { 1 }, sizeof (int)));
  f->client_fd = client_side;
  f->exit_fd = exit_side;
  if (exit_as_connection)
    f->exit_conn = wrap (exit_side);
  else
    g_assert_no_errno (fcntl (exit_side, F_SETFL,
                              fcntl (exit_side, F_GETFL) | O_NONBLOCK));
}

/* The relay for a connected fixture */
static void
fixture_relay (Fixture      *f,
               const guint8 *pending,
               gsize         pending_len)
{
  f->client_fd_given = f->client_fd;
  f->exit_fd_given = f->exit_fd;
  f->relay = exg_relay_new (f->client_fd, f->exit_fd, f->exit_conn,
                            pending, pending_len, progress_cb, done_cb, f);
  f->client_fd = f->exit_fd = -1;
  exg_relay_start (f->relay);
}

static void
fixture_start (Fixture      *f,
               const guint8 *pending,
               gsize         pending_len)
{
  fixture_connect (f);
  fixture_relay (f, pending, pending_len);
}

static void
fixture_clear (Fixture *f)
{
  g_clear_pointer (&f->relay, exg_relay_free);
  g_clear_error (&f->error);
  if (f->client_fd >= 0)
    close (f->client_fd);
  f->client_fd = -1;
  if (f->exit_conn == NULL && f->exit_fd >= 0)
    close (f->exit_fd);
  f->exit_fd = -1;
  g_clear_object (&f->exit_conn);
  if (f->client_peer >= 0)
    close (f->client_peer);
  if (f->exit_peer >= 0)
    close (f->exit_peer);
  f->client_peer = f->exit_peer = -1;
}

/* Reads exactly len bytes from a nonblocking fd, running the main context
 * while it waits. */
typedef struct
{
  int     fd;
  guint8 *buf;
  gsize   len;
  gsize   got;
  int     eof;
} ReadWait;

static gboolean
read_step (gpointer data)
{
  ReadWait *r = data;

  while (r->got < r->len || r->eof == 0)
    {
      guint8 scratch[1];
      gboolean want_eof = r->got == r->len;
      ssize_t n = recv (r->fd, want_eof ? scratch : r->buf + r->got,
                        want_eof ? 1 : r->len - r->got, MSG_DONTWAIT);

      if (n < 0)
        {
          g_assert_true (errno == EAGAIN || errno == EWOULDBLOCK);
          return FALSE;
        }
      if (n == 0)
        {
          g_assert_cmpint (r->eof, ==, 0);   /* EOF only when expected */
          r->eof = 1;
          break;
        }
      g_assert_false (want_eof);   /* no more than expected */
      r->got += n;
      if (r->eof == -1 && r->got == r->len)
        return TRUE;
    }
  return r->got == r->len;
}

static void
expect_bytes (int         fd,
              const char *expected,
              gboolean    then_eof)
{
  gsize len = strlen (expected);
  g_autofree guint8 *buf = g_malloc0 (len + 1);
  ReadWait r = { fd, buf, len, 0, then_eof ? 0 : -1 };

  exg_test_wait_until (read_step, &r, DEADLINE_S);
  g_assert_cmpmem (buf, len, expected, len);
  g_assert_cmpint (r.eof, ==, then_eof ? 1 : -1);
}

static void
send_all (int         fd,
          const char *data)
{
  gsize len = strlen (data);

  g_assert_cmpint (send (fd, data, len, MSG_NOSIGNAL), ==, (ssize_t) len);
}

/* --- poller --------------------------------------------------------- */

typedef struct
{
  ExgPoller *poller;
  int        fds[2];      /* read ends of two socketpairs */
  guint      calls[2];
  int        victim;      /* index whose fd the first callback removes, or -1 */
  int        replacement; /* new socket reusing the victim's number */
  guint      replacement_calls;
} PollerFixture;

static void
replacement_cb (gpointer user_data,
                guint32  events)
{
  PollerFixture *p = user_data;

  p->replacement_calls++;
}

typedef struct
{
  PollerFixture *p;
  int            index;
} PollerTag;

static void
poller_tag_cb (gpointer user_data,
               guint32  events)
{
  PollerTag *tag = user_data;
  PollerFixture *p = tag->p;
  int other = 1 - tag->index;

  g_assert_true (events & EPOLLIN);
  p->calls[tag->index]++;

  if (p->victim == other && p->fds[other] >= 0)
    {
      int pair[2];

      /* Remove the other fd, whose event is in this same batch, close it,
       * and make the number be reused at once by a new watched socket
       * that is readable too */
      exg_poller_remove (p->poller, p->fds[other]);
      close (p->fds[other]);
      g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair));
      g_assert_cmpint (pair[0], ==, p->fds[other]);
      p->fds[other] = -1;
      p->replacement = pair[0];
      g_assert_cmpint (send (pair[1], "x", 1, 0), ==, 1);
      close (pair[1]);
      g_assert_true (exg_poller_add (p->poller, p->replacement, EPOLLIN,
                                     replacement_cb, p));
    }
}

static gboolean
poller_any_call (gpointer data)
{
  PollerFixture *p = data;

  return p->calls[0] + p->calls[1] > 0;
}

static gboolean
poller_replacement_called (gpointer data)
{
  PollerFixture *p = data;

  return p->replacement_calls > 0;
}

/* The first callback to run removes the other descriptor, whose event is
 * in the same batch, and a new socket takes its number at once. */
static void
first_removes_other_cb (gpointer user_data,
                        guint32  events)
{
  PollerTag *tag = user_data;
  PollerFixture *p = tag->p;

  if (p->victim == -1)
    p->victim = 1 - tag->index;
  poller_tag_cb (user_data, events);
}

static void
test_poller_stale_event (void)
{
  PollerFixture p = { .victim = -1, .replacement = -1 };
  PollerTag tags[2] = { { &p, 0 }, { &p, 1 } };
  int writers[2];
  char c;

  p.poller = exg_poller_get_default ();
  for (int i = 0; i < 2; i++)
    {
      int pair[2];

      g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair));
      p.fds[i] = pair[0];
      writers[i] = pair[1];
      g_assert_true (exg_poller_add (p.poller, p.fds[i], EPOLLIN,
                                     first_removes_other_cb, &tags[i]));
    }
  /* Adding a watched fd again is a programmer error */
  g_test_expect_message ("exitgate-core", G_LOG_LEVEL_CRITICAL, "*lookup*");
  g_assert_false (exg_poller_add (p.poller, p.fds[0], EPOLLIN,
                                  first_removes_other_cb, &tags[0]));
  g_test_assert_expected_messages ();

  g_assert_cmpint (send (writers[0], "a", 1, 0), ==, 1);
  g_assert_cmpint (send (writers[1], "b", 1, 0), ==, 1);

  exg_test_wait_until (poller_any_call, &p, DEADLINE_S);
  g_assert_cmpint (p.victim, >=, 0);
  /* The victim's event was in the same batch and was not delivered */
  g_assert_cmpuint (p.calls[p.victim], ==, 0);
  g_assert_cmpuint (p.calls[1 - p.victim], ==, 1);
  g_assert_cmpuint (p.replacement_calls, ==, 0);

  /* The new watch on the reused number gets its own event later */
  exg_test_wait_until (poller_replacement_called, &p, DEADLINE_S);
  g_assert_cmpuint (p.calls[p.victim], ==, 0);

  /* Level-triggered survivors keep reporting until read: drain, remove */
  g_assert_cmpint (recv (p.fds[1 - p.victim], &c, 1, 0), ==, 1);
  g_assert_cmpint (recv (p.replacement, &c, 1, 0), ==, 1);
  exg_poller_remove (p.poller, p.fds[1 - p.victim]);
  exg_poller_remove (p.poller, p.replacement);
  /* Unknown descriptors are ignored */
  exg_poller_remove (p.poller, p.replacement);
  run_until_quiet ();

  close (p.fds[1 - p.victim]);
  close (p.replacement);
  close (writers[0]);
  close (writers[1]);
}

/* --- poller: handing a registration on ----------------------------- */

typedef struct
{
  guint    calls;
  guint32  events;   /* of the last call */
} Owner;

static void
owner_cb (gpointer user_data,
          guint32  events)
{
  Owner *owner = user_data;

  owner->calls++;
  owner->events = events;
}

/* A socket registered as sessions and dials register it, its first
 * edge (room to write) delivered */
static int
registered_pair (ExgPoller *poller,
                 Owner     *first,
                 int       *peer)
{
  int pair[2];

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                                 0, pair));
  g_assert_true (exg_poller_add_new (poller, pair[0], EXG_POLLER_STREAM_EVENTS,
                                     owner_cb, first));
  run_until_quiet ();
  g_assert_cmpuint (first->calls, ==, 1);
  g_assert_true (first->events & EPOLLOUT);
  *peer = pair[1];
  return pair[0];
}

/* Nothing owed: taken over in place, and the next edge goes to the new
 * owner only */
static void
test_poller_take_over_idle (void)
{
  ExgPoller *poller = exg_poller_get_default ();
  Owner first = { 0 }, second = { 0 };
  int peer, fd = registered_pair (poller, &first, &peer);

  exg_poller_hold (poller, fd);
  g_assert_true (exg_poller_take_over (poller, fd, EXG_POLLER_STREAM_EVENTS,
                                       owner_cb, &second));
  g_assert_cmpint (send (peer, "x", 1, 0), ==, 1);
  run_until_quiet ();
  g_assert_cmpuint (first.calls, ==, 1);
  g_assert_cmpuint (second.calls, ==, 1);
  g_assert_true (second.events & EPOLLIN);

  exg_poller_remove (poller, fd);
  close (fd);
  close (peer);
}

/* Data reported and not read, or come while held: the take-over is
 * refused (the caller re-arms), until the owner says it read it all */
static void
test_poller_take_over_owed (gconstpointer data)
{
  gboolean while_held = GPOINTER_TO_INT (data);
  ExgPoller *poller = exg_poller_get_default ();
  Owner first = { 0 }, second = { 0 };
  int peer, fd = registered_pair (poller, &first, &peer);

  if (while_held)
    exg_poller_hold (poller, fd);
  g_assert_cmpint (send (peer, "x", 1, 0), ==, 1);
  run_until_quiet ();
  g_assert_cmpuint (first.calls, ==, while_held ? 1 : 2);
  if (!while_held)
    exg_poller_hold (poller, fd);

  g_assert_false (exg_poller_take_over (poller, fd, EXG_POLLER_STREAM_EVENTS,
                                        owner_cb, &second));
  exg_poller_clear_ready (poller, fd, EPOLLIN);
  g_assert_true (exg_poller_take_over (poller, fd, EXG_POLLER_STREAM_EVENTS,
                                       owner_cb, &second));
  g_assert_cmpuint (second.calls, ==, 0);

  exg_poller_remove (poller, fd);
  close (fd);
  close (peer);
}

/* Only a held registration is handed on: a parked one may be a closed
 * socket's, another kind of registration is not what the new owner
 * wants, and an unknown descriptor has none */
static void
test_poller_take_over_refused (void)
{
  ExgPoller *poller = exg_poller_get_default ();
  Owner first = { 0 }, second = { 0 };
  int peer, fd = registered_pair (poller, &first, &peer);
  int pair[2];

  exg_poller_park (poller, fd);
  g_assert_false (exg_poller_take_over (poller, fd, EXG_POLLER_STREAM_EVENTS,
                                        owner_cb, &second));
  exg_poller_hold (poller, fd);
  g_assert_false (exg_poller_take_over (poller, fd, EPOLLIN | EPOLLET,
                                        owner_cb, &second));

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair));
  g_assert_false (exg_poller_take_over (poller, pair[0], EXG_POLLER_STREAM_EVENTS,
                                        owner_cb, &second));
  g_assert_cmpuint (second.calls, ==, 0);

  exg_poller_remove (poller, fd);
  for (int i = 0; i < 2; i++)
    close (pair[i]);
  close (fd);
  close (peer);
}

/* --- relay: bulk both ways with threads as peers -------------------- */

#define BULK_SIZE (8 * 1024 * 1024)

typedef struct
{
  int     fd;
  guint8  seed;
  guint64 count;
  gboolean ok;
} PeerJob;

static gpointer
writer_thread (gpointer data)
{
  PeerJob *job = data;
  g_autofree guint8 *buf = g_malloc (64 * 1024 + 7);
  guint64 off = 0;

  while (off < BULK_SIZE)
    {
      /* odd chunk sizes, so reads and writes never line up */
      gsize chunk = MIN ((guint64) 64 * 1024 + 7, BULK_SIZE - off);
      ssize_t n;

      for (gsize i = 0; i < chunk; i++)
        buf[i] = pattern (off + i, job->seed);
      n = send (job->fd, buf, chunk, MSG_NOSIGNAL);
      if (n <= 0)
        return NULL;
      off += n;   /* a short send: the next chunk starts where it stopped */
    }
  job->count = off;
  job->ok = shutdown (job->fd, SHUT_WR) == 0;
  return NULL;
}

static gpointer
reader_thread (gpointer data)
{
  PeerJob *job = data;
  g_autofree guint8 *buf = g_malloc (100 * 1000);
  guint64 off = 0;

  for (;;)
    {
      ssize_t n = recv (job->fd, buf, 100 * 1000, 0);

      if (n < 0)
        return NULL;
      if (n == 0)
        break;
      for (ssize_t i = 0; i < n; i++)
        if (buf[i] != pattern (off + i, job->seed))
          return NULL;
      off += n;
    }
  job->count = off;
  job->ok = TRUE;
  return NULL;
}

static void
test_relay_bulk_both_ways (void)
{
  Fixture f = { .free_in_done = TRUE };
  PeerJob jobs[4];
  GThread *threads[4];
  guint fds_before;

  /* Long enough for both directions to switch to splice(2) */
  /* what is made once: the listener, the main context, the poller */
  make_tcp_pair (&f.client_peer, &f.exit_peer);
  close (f.client_peer);
  close (f.exit_peer);
  g_main_context_iteration (NULL, FALSE);
  exg_poller_get_default ();
  fds_before = count_open_fds ();

  fixture_start (&f, NULL, 0);
  set_io_timeouts (f.client_peer);
  set_io_timeouts (f.exit_peer);

  jobs[0] = (PeerJob) { f.client_peer, 1, 0, FALSE };  /* client writes up */
  jobs[1] = (PeerJob) { f.exit_peer, 1, 0, FALSE };    /* exit reads up */
  jobs[2] = (PeerJob) { f.exit_peer, 2, 0, FALSE };    /* exit writes down */
  jobs[3] = (PeerJob) { f.client_peer, 2, 0, FALSE };  /* client reads down */
  threads[0] = g_thread_new ("w-up", writer_thread, &jobs[0]);
  threads[1] = g_thread_new ("r-up", reader_thread, &jobs[1]);
  threads[2] = g_thread_new ("w-down", writer_thread, &jobs[2]);
  threads[3] = g_thread_new ("r-down", reader_thread, &jobs[3]);

  exg_test_wait_until (is_done, &f, DEADLINE_S);
  for (int i = 0; i < 4; i++)
    g_thread_join (threads[i]);

  g_assert_no_error (f.error);
  g_assert_cmpuint (f.done_count, ==, 1);
  g_assert_null (f.relay);
  for (int i = 0; i < 4; i++)
    {
      g_assert_true (jobs[i].ok);
      g_assert_cmpuint (jobs[i].count, ==, BULK_SIZE);
    }
  g_assert_cmpuint (f.up, ==, BULK_SIZE);
  g_assert_cmpuint (f.down, ==, BULK_SIZE);
  g_assert_cmpuint (f.max_held_up, <=, MAX_HELD);
  g_assert_cmpuint (f.max_held_down, <=, MAX_HELD);

  run_until_quiet ();
  g_assert_cmpuint (f.done_count, ==, 1);
  fixture_clear (&f);
  /* the sockets and the splicing pipes are all gone */
  g_assert_cmpuint (count_open_fds (), ==, fds_before);
}

/* --- relay: back-pressure ------------------------------------------- */

#define PRESSURE_SIZE (48 * 1024 * 1024)

typedef struct
{
  int      fd;
  guint64  off;
  guint64  total;
  gboolean finished;  /* writer: all sent + shut; reader: EOF seen */
  gboolean bad;
} Stream;

static gboolean
stream_write_cb (int          fd,
                 GIOCondition condition,
                 gpointer     user_data)
{
  Stream *s = user_data;
  guint8 buf[16384];

  while (s->off < s->total)
    {
      gsize chunk = MIN (sizeof buf, s->total - s->off);
      ssize_t n;

      for (gsize i = 0; i < chunk; i++)
        buf[i] = pattern (s->off + i, 3);
      n = send (fd, buf, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0)
        {
          s->bad = errno != EAGAIN;
          return s->bad ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
        }
      s->off += n;
    }
  shutdown (fd, SHUT_WR);
  s->finished = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
stream_read_cb (int          fd,
                GIOCondition condition,
                gpointer     user_data)
{
  Stream *s = user_data;
  guint8 buf[65536];

  for (;;)
    {
      ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);

      if (n < 0)
        {
          s->bad = errno != EAGAIN;
          return s->bad ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
        }
      if (n == 0)
        {
          s->finished = TRUE;
          return G_SOURCE_REMOVE;
        }
      for (ssize_t i = 0; i < n; i++)
        if (buf[i] != pattern (s->off + i, 3))
          {
            s->bad = TRUE;
            return G_SOURCE_REMOVE;
          }
      s->off += n;
    }
}

static gboolean
stream_finished (gpointer data)
{
  Stream *s = data;

  return s->finished || s->bad;
}

static void
test_relay_back_pressure (void)
{
  Fixture f = { 0 };
  Stream writer = { .total = PRESSURE_SIZE };
  Stream reader = { 0 };
  gsize held_up = 0;
  guint wid;

  fixture_start (&f, NULL, 0);
  writer.fd = f.client_peer;
  reader.fd = f.exit_peer;

  /* Phase 1: the exit does not read.  Once everything is quiet, the
   * client must be stuck (its data piled up in the kernel, not in us) */
  wid = g_unix_fd_add (f.client_peer, G_IO_OUT, stream_write_cb, &writer);
  run_until_quiet ();
  g_assert_false (writer.bad);
  g_assert_false (writer.finished);
  g_assert_cmpuint (writer.off, <, PRESSURE_SIZE);
  exg_relay_get_buffered (f.relay, &held_up, NULL);
  g_assert_cmpuint (held_up, <=, MAX_HELD);
  g_assert_cmpuint (f.max_held_up, <=, MAX_HELD);
  g_assert_cmpuint (f.up + held_up, <, writer.off);
  g_test_message ("stalled after %" G_GUINT64_FORMAT " bytes sent, %"
                  G_GUINT64_FORMAT " relayed, %" G_GSIZE_FORMAT " held",
                  writer.off, f.up, held_up);

  /* Phase 2: the exit reads; everything arrives, in order */
  g_unix_fd_add (f.exit_peer, G_IO_IN, stream_read_cb, &reader);
  exg_test_wait_until (stream_finished, &reader, DEADLINE_S);
  g_assert_false (reader.bad);
  g_assert_false (writer.bad);
  g_assert_true (writer.finished);
  g_assert_cmpuint (reader.off, ==, PRESSURE_SIZE);
  g_assert_cmpuint (f.up, ==, PRESSURE_SIZE);
  g_assert_cmpuint (f.max_held_up, <=, MAX_HELD);
  exg_relay_get_buffered (f.relay, &held_up, NULL);
  g_assert_cmpuint (held_up, ==, 0);
  g_assert_cmpuint (f.done_count, ==, 0);   /* the other way is still open */

  (void) wid;
  shutdown (f.exit_peer, SHUT_WR);
  exg_test_wait_until (is_done, &f, DEADLINE_S);
  g_assert_no_error (f.error);
  expect_bytes (f.client_peer, "", TRUE);
  fixture_clear (&f);
}

/* --- relay: half-close ---------------------------------------------- */

static void
test_relay_half_close_client_first (void)
{
  Fixture f = { .free_in_done = TRUE };

  fixture_start (&f, NULL, 0);

  send_all (f.client_peer, "ping");
  g_assert_no_errno (shutdown (f.client_peer, SHUT_WR));
  /* the exit gets the data, then EOF … */
  expect_bytes (f.exit_peer, "ping", TRUE);
  /* … and can still answer, more than once */
  send_all (f.exit_peer, "pong");
  expect_bytes (f.client_peer, "pong", FALSE);
  send_all (f.exit_peer, "pong again");
  expect_bytes (f.client_peer, "pong again", FALSE);
  g_assert_cmpuint (f.done_count, ==, 0);

  g_assert_no_errno (shutdown (f.exit_peer, SHUT_WR));
  expect_bytes (f.client_peer, "", TRUE);
  exg_test_wait_until (is_done, &f, DEADLINE_S);
  g_assert_no_error (f.error);
  g_assert_cmpuint (f.up, ==, 4);
  g_assert_cmpuint (f.down, ==, 14);
  g_assert_true (f.closed_at_done);
  fixture_clear (&f);
}

static void
test_relay_half_close_exit_first (void)
{
  Fixture f = { .free_in_done = TRUE };

  fixture_start (&f, NULL, 0);

  send_all (f.exit_peer, "banner");
  g_assert_no_errno (shutdown (f.exit_peer, SHUT_WR));
  expect_bytes (f.client_peer, "banner", TRUE);
  send_all (f.client_peer, "late request");
  expect_bytes (f.exit_peer, "late request", FALSE);
  g_assert_cmpuint (f.done_count, ==, 0);

  g_assert_no_errno (shutdown (f.client_peer, SHUT_WR));
  expect_bytes (f.exit_peer, "", TRUE);
  exg_test_wait_until (is_done, &f, DEADLINE_S);
  g_assert_no_error (f.error);
  g_assert_cmpuint (f.up, ==, 12);
  g_assert_cmpuint (f.down, ==, 6);
  g_assert_true (f.closed_at_done);
  fixture_clear (&f);
}

static guint32
segments_in (int fd)
{
  struct tcp_info ti = { 0 };
  socklen_t len = sizeof ti;

  g_assert_no_errno (getsockopt (fd, IPPROTO_TCP, TCP_INFO, &ti, &len));
  return ti.tcpi_segs_in;
}

/* An exit that answers and closes before the relay looks: the answer
 * reaches the client in one segment that carries the FIN too, not in two. */
static void
test_relay_half_close_fin_rides_on_data (void)
{
  Fixture f = { .free_in_done = TRUE };
  struct pollfd pfd = { .events = POLLRDHUP };
  guint32 before;

  fixture_connect (&f);
  send_all (f.exit_peer, "banner");
  g_assert_no_errno (shutdown (f.exit_peer, SHUT_WR));
  /* the FIN has reached the relay's side of the exit connection */
  pfd.fd = f.exit_fd;
  g_assert_cmpint (poll (&pfd, 1, DEADLINE_S * 1000), ==, 1);
  before = segments_in (f.client_peer);

  fixture_relay (&f, NULL, 0);
  expect_bytes (f.client_peer, "banner", TRUE);
  g_assert_cmpuint (segments_in (f.client_peer) - before, ==, 1);

  g_assert_no_errno (shutdown (f.client_peer, SHUT_WR));
  expect_bytes (f.exit_peer, "", TRUE);
  exg_test_wait_until (is_done, &f, DEADLINE_S);
  g_assert_no_error (f.error);
  g_assert_true (f.closed_at_done);
  fixture_clear (&f);
}

/* --- relay: pending bytes ------------------------------------------- */

static void
test_relay_pending_first (void)
{
  Fixture f = { 0 };
  static const guint8 pending[] = "GET / HTTP/1.0\r\n";

  /* The client's later bytes are already waiting when the relay starts */
  fixture_connect (&f);
  send_all (f.client_peer, "Host: x\r\n\r\n");
  fixture_relay (&f, pending, sizeof pending - 1);
  g_assert_cmpuint (f.done_count, ==, 0);

  expect_bytes (f.exit_peer, "GET / HTTP/1.0\r\nHost: x\r\n\r\n", FALSE);
  send_all (f.exit_peer, "HTTP/1.0 200 OK\r\n");
  expect_bytes (f.client_peer, "HTTP/1.0 200 OK\r\n", FALSE);
  g_assert_cmpuint (f.up, ==, sizeof pending - 1 + 11);
  g_assert_cmpuint (f.down, ==, 17);

  exg_relay_close (f.relay);
  g_assert_cmpuint (f.done_count, ==, 1);
  g_assert_error (f.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  fixture_clear (&f);
}

/* --- relay: reset, close -------------------------------------------- */

static void
reset (int fd)
{
  struct linger lg = { .l_onoff = 1, .l_linger = 0 };

  g_assert_no_errno (setsockopt (fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
  close (fd);
}

static void
test_relay_reset (gconstpointer data)
{
  gboolean exit_resets = GPOINTER_TO_INT (data);
  Fixture f = { .free_in_done = TRUE };

  fixture_start (&f, NULL, 0);
  send_all (f.client_peer, "hello");
  expect_bytes (f.exit_peer, "hello", FALSE);

  if (exit_resets)
    {
      reset (f.exit_peer);
      f.exit_peer = -1;
    }
  else
    {
      reset (f.client_peer);
      f.client_peer = -1;
    }

  exg_test_wait_until (is_done, &f, DEADLINE_S);
  g_assert_nonnull (f.error);
  g_assert_true (f.error->domain == G_IO_ERROR);
  g_assert_false (g_error_matches (f.error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  g_test_message ("reset: %s", f.error->message);
  run_until_quiet ();
  g_assert_cmpuint (f.done_count, ==, 1);
  fixture_clear (&f);
}

static void
test_relay_close (void)
{
  Fixture f = { 0 };

  fixture_start (&f, NULL, 0);
  send_all (f.client_peer, "x");
  expect_bytes (f.exit_peer, "x", FALSE);

  exg_relay_close (f.relay);
  g_assert_cmpuint (f.done_count, ==, 1);
  g_assert_error (f.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  /* Both sockets are closed: the peers see EOF */
  expect_bytes (f.client_peer, "", TRUE);
  expect_bytes (f.exit_peer, "", TRUE);

  /* Closing again, or traffic racing with the close, calls nothing more */
  exg_relay_close (f.relay);
  send (f.client_peer, "y", 1, MSG_NOSIGNAL);
  run_until_quiet ();
  g_assert_cmpuint (f.done_count, ==, 1);
  fixture_clear (&f);
}

static void
close_in_progress_cb (gpointer user_data,
                      gsize    up,
                      gsize    down)
{
  Fixture *f = user_data;

  f->up += up;
  exg_relay_close (f->relay);
}

static void
test_relay_close_from_progress (void)
{
  Fixture f = { .free_in_done = TRUE };

  fixture_connect (&f);
  f.client_fd_given = f.client_fd;
  f.exit_fd_given = f.exit_fd;
  f.relay = exg_relay_new (f.client_fd, f.exit_fd, f.exit_conn, NULL, 0,
                           close_in_progress_cb, done_cb, &f);
  f.client_fd = f.exit_fd = -1;
  exg_relay_start (f.relay);

  send_all (f.client_peer, "x");
  exg_test_wait_until (is_done, &f, DEADLINE_S);
  g_assert_null (f.relay);   /* freed inside done, inside progress */
  g_assert_error (f.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (f.up, ==, 1);
  expect_bytes (f.exit_peer, "x", TRUE);
  run_until_quiet ();
  g_assert_cmpuint (f.done_count, ==, 1);
  fixture_clear (&f);
}

static void
test_relay_free_running (void)
{
  Fixture f = { 0 };

  /* Freeing a running relay stops it without a done call */
  fixture_start (&f, NULL, 0);
  send_all (f.client_peer, "x");
  expect_bytes (f.exit_peer, "x", FALSE);
  g_clear_pointer (&f.relay, exg_relay_free);
  (void) send (f.client_peer, "y", 1, MSG_NOSIGNAL);
  run_until_quiet ();
  g_assert_cmpuint (f.done_count, ==, 0);
  fixture_clear (&f);
}

/* --- relay: many at once -------------------------------------------- */

#define MANY 200

static gboolean
all_done (gpointer data)
{
  Fixture *fs = data;

  for (int i = 0; i < MANY; i++)
    if (fs[i].done_count == 0)
      return FALSE;
  return TRUE;
}

static void
test_relay_many (void)
{
  g_autofree Fixture *fs = g_new0 (Fixture, MANY);

  for (int i = 0; i < MANY; i++)
    {
      g_autofree char *up = g_strdup_printf ("request %d", i);
      g_autofree char *down = g_strdup_printf ("reply %d", i * 7);

      fs[i].free_in_done = TRUE;
      fixture_start (&fs[i], NULL, 0);
      send_all (fs[i].client_peer, up);
      g_assert_no_errno (shutdown (fs[i].client_peer, SHUT_WR));
      send_all (fs[i].exit_peer, down);
      g_assert_no_errno (shutdown (fs[i].exit_peer, SHUT_WR));
    }

  exg_test_wait_until (all_done, fs, DEADLINE_S);

  for (int i = 0; i < MANY; i++)
    {
      g_autofree char *up = g_strdup_printf ("request %d", i);
      g_autofree char *down = g_strdup_printf ("reply %d", i * 7);

      g_assert_cmpuint (fs[i].done_count, ==, 1);
      g_assert_no_error (fs[i].error);
      expect_bytes (fs[i].exit_peer, up, TRUE);
      expect_bytes (fs[i].client_peer, down, TRUE);
      fixture_clear (&fs[i]);
    }
}

int
main (int    argc,
      char **argv)
{
  struct rlimit rl;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  /* --splice-after=BYTES|never: every test again with that threshold
   * (meson runs them splicing from the first byte, and copying only) */
  for (int i = 1; i < argc; i++)
    if (g_str_has_prefix (argv[i], "--splice-after="))
      g_setenv ("EXITGATE_SPLICE_AFTER", argv[i] + strlen ("--splice-after="), TRUE);
    else if (g_str_equal (argv[i], "--exit-connection"))
      exit_as_connection = TRUE;

  /* 200 relays are 800 descriptors */
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }

  g_test_add_func ("/poller/stale-event-after-remove", test_poller_stale_event);
  g_test_add_func ("/poller/take-over/idle", test_poller_take_over_idle);
  g_test_add_data_func ("/poller/take-over/owed", GINT_TO_POINTER (FALSE),
                        test_poller_take_over_owed);
  g_test_add_data_func ("/poller/take-over/owed-while-held", GINT_TO_POINTER (TRUE),
                        test_poller_take_over_owed);
  g_test_add_func ("/poller/take-over/refused", test_poller_take_over_refused);
  g_test_add_func ("/relay/bulk/both-ways", test_relay_bulk_both_ways);
  g_test_add_func ("/relay/back-pressure", test_relay_back_pressure);
  g_test_add_func ("/relay/half-close/client-first", test_relay_half_close_client_first);
  g_test_add_func ("/relay/half-close/exit-first", test_relay_half_close_exit_first);
  g_test_add_func ("/relay/half-close/fin-rides-on-data", test_relay_half_close_fin_rides_on_data);
  g_test_add_func ("/relay/pending-first", test_relay_pending_first);
  g_test_add_data_func ("/relay/reset/by-exit", GINT_TO_POINTER (TRUE), test_relay_reset);
  g_test_add_data_func ("/relay/reset/by-client", GINT_TO_POINTER (FALSE), test_relay_reset);
  g_test_add_func ("/relay/close", test_relay_close);
  g_test_add_func ("/relay/close-from-progress", test_relay_close_from_progress);
  g_test_add_func ("/relay/free-running", test_relay_free_running);
  g_test_add_func ("/relay/many", test_relay_many);

  return g_test_run ();
}
