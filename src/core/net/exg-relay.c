/* exg-relay.c: the two-way pump between a client and its exit.
 *
 * Both sockets are driven through their raw descriptors by the thread's
 * ExgPoller.  Data is read into one large buffer shared by every relay of
 * the thread and written straight on; only what the receiving side cannot
 * take at once is copied into a private buffer of the direction, and that
 * direction stops reading until it is flushed.  So a relay holds at most one
 * read's worth per direction, and an idle relay holds no buffer at all.
 *
 * Edge-triggered epoll.  Each descriptor is registered once, for
 * IN | OUT | RDHUP, and never modified: the relay remembers per descriptor
 * whether it may be readable / writable (set by events, cleared by EAGAIN or
 * a short read / short write).  Level-triggered would need an epoll_ctl
 * every time a direction blocks or unblocks (input off, output on, and back),
 * and, worse, reports EPOLLHUP on every iteration while a half-finished
 * socket waits for the other side to drain, since HUP cannot be masked.
 * The price of edge-triggering is that a readiness must never be forgotten:
 * the flags carry it until it is used, and a direction that stops reading
 * because of its per-event budget (fairness between relays) re-arms its
 * descriptor, which makes epoll report it again on the next dispatch.
 *
 * Long transfers splice.  Once a direction has moved RELAY_SPLICE_AFTER
 * bytes it gets a pipe and moves data socket → pipe → socket with
 * splice(2): the pages change hands inside the kernel instead of being
 * copied out and back in.  When to start is a rent-or-buy choice, made by
 * what was measured here (tests/bench/run-bench.sh prints both figures
 * and their ratio): a pipe costs 10-35 µs of proxy CPU (pipe2, growing it,
 * two closes, a splice more per wake-up), and splicing saves 0.17-0.37 ns
 * per byte (about 700 → 400 ms/GB on loopback), so a pipe pays for
 * itself after 26-109 KiB.  Starting at about that much costs at most
 * twice what the best choice in hindsight would: short exchanges (the
 * common case, and what the connection rate is made of) never pay for a
 * pipe, and a long transfer copies no more than its first 128 KiB.  A
 * direction keeps its pipe until the relay ends, and simply goes on
 * copying if no pipe can be had.
 * The pipe's content is that direction's held data: back-pressure works
 * the same (nothing more is read until it is written out).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define _GNU_SOURCE   /* splice, pipe2, F_SETPIPE_SZ */
#include "config.h"
#include "exg-relay.h"

#include "exg-poller.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* The shared read buffer.  Larger reads mean fewer syscalls per byte on
 * long transfers (1 KiB reads cap near 4 Gbit/s on loopback); this is also
 * the most a direction ever holds privately. */
#define RELAY_BUFFER_SIZE (256 * 1024)

/* Reads per direction per event before yielding to other relays */
#define RELAY_READ_BUDGET 4

/* A direction that has moved this much is a long transfer: it splices
 * (the break-even above, rounded up to a power of two).
 * $EXITGATE_SPLICE_AFTER overrides it (bytes, or "never"), for the
 * benchmark's trade-off table and for tuning on other kernels. */
#define RELAY_SPLICE_AFTER (128 * 1024)
/* Asked of the kernel for each splicing pipe (the default is 64 KiB) */
#define RELAY_PIPE_SIZE (256 * 1024)

#define RELAY_EVENTS EXG_POLLER_STREAM_EVENTS

enum { UP, DOWN };   /* UP = client → exit, DOWN = exit → client */

typedef struct _RelayEnd RelayEnd;

struct _RelayEnd
{
  ExgRelay          *relay;       /* back pointer, not a ref */
  GSocketConnection *conn;        /* owned, nullable: the exit's, when
                                   * GIO made it (it owns fd then) */
  int                fd;          /* owned unless conn owns it */
  guint              readable : 1; /* data or EOF may be waiting */
  guint              writable : 1; /* the send buffer may have room */
  guint              rdhup    : 1; /* the peer's FIN arrived: read to 0 */
  guint              fin      : 1; /* … reported without an error */
  guint              watched  : 1; /* registered with the poller */
};

typedef struct
{
  RelayEnd *src;
  RelayEnd *dst;
  guint8   *held;       /* owned; NULL unless dst refused part of a read */
  gsize     held_off;
  gsize     held_len;
  gsize     moved;      /* bytes written to dst since the last progress */
  guint64   total;      /* bytes written to dst so far */
  int       pipe[2];    /* owned; -1 until the direction splices */
  gsize     in_pipe;    /* bytes read into the pipe, not yet written */
  guint64   splice_after; /* splice once total reaches this */
  guint     eof  : 1;   /* src said EOF */
  guint     shut : 1;   /* … and dst has been shut down for writing */
} RelayDir;

struct _ExgRelay
{
  int                   ref_count;  /* the owner's ref + one per running pump */
  RelayEnd              ends[2];    /* [0] client, [1] exit */
  RelayDir              dirs[2];    /* [UP], [DOWN] */
  ExgPoller            *poller;     /* not owned: lives with the context */
  ExgRelayProgressFunc  progress;
  ExgRelayDoneFunc      done;
  gpointer              user_data;
  guint                 started  : 1;
  guint                 finished : 1; /* done has been called, or must not be */
  guint                 closed   : 1; /* both sockets closed */
};

static GPrivate shared_buffer = G_PRIVATE_INIT (g_free);

static guint8 *
get_shared_buffer (void)
{
  guint8 *buf = g_private_get (&shared_buffer);

  if (G_UNLIKELY (buf == NULL))
    {
      buf = g_malloc (RELAY_BUFFER_SIZE);
      g_private_set (&shared_buffer, buf);
    }
  return buf;
}

static guint64
splice_after (void)
{
  static gsize once;
  static guint64 value;

  if (g_once_init_enter (&once))
    {
      const char *env = g_getenv ("EXITGATE_SPLICE_AFTER");
      guint64 bytes;

      value = RELAY_SPLICE_AFTER;
      if (g_strcmp0 (env, "never") == 0)
        value = G_MAXUINT64;
      else if (env != NULL &&
               g_ascii_string_to_unsigned (env, 10, 0, G_MAXUINT64, &bytes, NULL))
        value = bytes;
      else if (env != NULL)
        g_warning ("EXITGATE_SPLICE_AFTER=%s: not a number of bytes or “never”", env);
      g_once_init_leave (&once, 1);
    }
  return value;
}

static void
dir_close_pipe (RelayDir *dir)
{
  if (dir->pipe[0] >= 0)
    {
      close (dir->pipe[0]);
      close (dir->pipe[1]);
    }
  dir->pipe[0] = dir->pipe[1] = -1;
  dir->in_pipe = 0;
}

static ExgRelay *
relay_ref (ExgRelay *self)
{
  self->ref_count++;
  return self;
}

static void
relay_unref (ExgRelay *self)
{
  if (--self->ref_count > 0)
    return;

  for (int d = 0; d < 2; d++)
    {
      g_free (self->dirs[d].held);
      dir_close_pipe (&self->dirs[d]);
    }
  if (!self->closed)
    for (int e = 0; e < 2; e++)
      if (self->ends[e].conn == NULL && self->ends[e].fd >= 0)
        close (self->ends[e].fd);
  for (int e = 0; e < 2; e++)
    g_clear_object (&self->ends[e].conn);
  g_free (self);
}

static void
end_init (ExgRelay          *self,
          RelayEnd          *end,
          int                fd,
          GSocketConnection *conn)
{
  end->relay = self;
  end->conn = conn != NULL ? g_object_ref (conn) : NULL;
  end->fd = fd;
}

/**
 * exg_relay_new:
 * @client_fd: the client's socket, non-blocking; the relay owns it from
 *   now on and closes it
 * @exit_fd: the socket connected to the target, non-blocking; the
 *   relay's from now on, unless @exit_conn owns it
 * @exit_conn: (nullable): the connection @exit_fd belongs to, when GIO
 *   made it; a ref is taken
 * @pending: (nullable) (array length=pending_len): bytes the client sent
 *   after its request, written to @exit before anything else
 * @progress: (nullable): told of bytes moved, as deltas
 * @done: called exactly once (see exg-relay.h)
 *
 * Returns: (transfer full): a relay; nothing moves until exg_relay_start()
 */
ExgRelay *
exg_relay_new (int                  client_fd,
               int                  exit_fd,
               GSocketConnection   *exit_conn,
               const guint8        *pending,
               gsize                pending_len,
               ExgRelayProgressFunc progress,
               ExgRelayDoneFunc     done,
               gpointer             user_data)
{
  ExgRelay *self;

  g_return_val_if_fail (client_fd >= 0, NULL);
  g_return_val_if_fail (exit_fd >= 0, NULL);
  g_return_val_if_fail (exit_conn == NULL || G_IS_SOCKET_CONNECTION (exit_conn), NULL);
  g_return_val_if_fail (pending != NULL || pending_len == 0, NULL);
  g_return_val_if_fail (done != NULL, NULL);

  self = g_new0 (ExgRelay, 1);
  self->ref_count = 1;
  end_init (self, &self->ends[0], client_fd, NULL);
  end_init (self, &self->ends[1], exit_fd, exit_conn);
  self->dirs[UP].src = &self->ends[0];
  self->dirs[UP].dst = &self->ends[1];
  self->dirs[DOWN].src = &self->ends[1];
  self->dirs[DOWN].dst = &self->ends[0];
  for (int d = 0; d < 2; d++)
    {
      self->dirs[d].pipe[0] = self->dirs[d].pipe[1] = -1;
      self->dirs[d].splice_after = splice_after ();
    }
  self->progress = progress;
  self->done = done;
  self->user_data = user_data;

  if (pending_len > 0)
    {
      self->dirs[UP].held = g_memdup2 (pending, pending_len);
      self->dirs[UP].held_len = pending_len;
    }

  return self;
}

/* Stops the events.  Parking (no syscall) rather than removing (an
 * EPOLL_CTL_DEL each): the sockets are closed right after the relay ends,
 * which unregisters them, and while they stay open an edge-triggered
 * registration whose events are dropped costs nothing.  Two syscalls per
 * connection; the next socket under the same number is added with
 * exg_poller_add_new (), which knows the parked entry is stale. */
static void
unwatch (ExgRelay *self)
{
  for (int e = 0; e < 2; e++)
    {
      if (self->ends[e].watched)
        exg_poller_park (self->poller, self->ends[e].fd);
      self->ends[e].watched = FALSE;
    }
}

/* Ends the relay: no more events, buffers dropped, done called once. */
static void
finish (ExgRelay     *self,
        const GError *error)
{
  if (self->finished)
    return;
  self->finished = TRUE;

  unwatch (self);
  for (int d = 0; d < 2; d++)
    {
      g_clear_pointer (&self->dirs[d].held, g_free);
      self->dirs[d].held_off = self->dirs[d].held_len = 0;
      dir_close_pipe (&self->dirs[d]);
    }

  relay_ref (self);
  self->done (self->user_data, error);
  relay_unref (self);
}

/* Both sockets, not their streams: a stream refuses to close while an
 * operation is pending on it */
static void
close_sockets (ExgRelay *self)
{
  if (self->closed)
    return;
  self->closed = TRUE;
  close (self->ends[0].fd);
  if (self->ends[1].conn != NULL)
    g_socket_close (g_socket_connection_get_socket (self->ends[1].conn), NULL);
  else
    close (self->ends[1].fd);
}

static void
fail_errno (ExgRelay   *self,
            int         errsv,
            const char *what)
{
  g_autoptr(GError) error = NULL;

  error = g_error_new (G_IO_ERROR, g_io_error_from_errno (errsv),
                       "%s: %s", what, g_strerror (errsv));
  g_debug ("relay %p: %s", self, error->message);
  finish (self, error);
}

static void
hold (RelayDir     *dir,
      const guint8 *data,
      gsize         len)
{
  g_assert (dir->held == NULL);
  dir->held = g_memdup2 (data, len);
  dir->held_off = 0;
  dir->held_len = len;
}

/* All that was read went out and the source said EOF: pass it on, once.
 * The last direction to end needs no shutdown: the relay is over, and the
 * close that follows at once (close_sockets) sends that FIN.  Returns FALSE
 * (errno set, *what naming the operation) if the shutdown fails. */
static gboolean
dir_pass_eof (ExgRelay    *self,
              RelayDir    *dir,
              const char **what)
{
  if (dir->shut)
    return TRUE;
  dir->shut = TRUE;
  if (self->dirs[UP].shut && self->dirs[DOWN].shut)
    return TRUE;
  if (shutdown (dir->dst->fd, SHUT_WR) < 0)
    {
      *what = "shutdown";
      return FALSE;
    }
  return TRUE;
}

/* Flags for sending what was read.  When the source's EOF is known
 * already, this is the direction's last data: MSG_MORE holds the tail
 * segment back for the shutdown that follows, which then leaves with the
 * FIN on it — one segment (and one wake-up of the peer) instead of two,
 * as in the common "answer, then close" exchange. */
static inline int
send_flags (const RelayDir *dir)
{
  return MSG_NOSIGNAL | (dir->eof ? MSG_MORE : 0);
}

/* Counts a read; once RELAY_READ_BUDGET have been made, lets the other
 * relays have their turn: re-arming makes epoll report this descriptor
 * again on the next dispatch. */
static inline gboolean
read_budget_spent (ExgRelay *self,
                   RelayEnd *src,
                   guint    *reads)
{
  if ((*reads)++ < RELAY_READ_BUDGET)
    return FALSE;
  exg_poller_modify (self->poller, src->fd, RELAY_EVENTS);
  return TRUE;
}

/* The splice variant of dir_pump: socket → pipe → socket, no copy
 * through user space.  The pipe's content plays the held buffer. */
static gboolean
dir_pump_splice (ExgRelay    *self,
                 RelayDir    *dir,
                 const char **what)
{
  RelayEnd *src = dir->src;
  RelayEnd *dst = dir->dst;
  guint reads = 0;

  for (;;)
    {
      ssize_t n;

      if (dir->in_pipe > 0)
        {
          if (!dst->writable)
            return TRUE;
          /* The source's FIN has come: this is the tail, held back
           * (as MSG_MORE does in dir_pump) for the FIN to ride on; the
           * shutdown or close that follows pushes it */
          n = splice (dir->pipe[0], NULL, dst->fd, NULL, dir->in_pipe,
                      SPLICE_F_MOVE | SPLICE_F_NONBLOCK |
                      (src->fin ? SPLICE_F_MORE : 0));
          if (n < 0)
            {
              if (errno == EINTR)
                continue;
              if (errno == EAGAIN)
                {
                  dst->writable = FALSE;
                  return TRUE;
                }
              *what = "splice";
              return FALSE;
            }
          dir->moved += n;
          dir->total += n;
          dir->in_pipe -= n;
          if (dir->in_pipe > 0)
            {
              dst->writable = FALSE;
              return TRUE;
            }
          continue;
        }

      if (dir->eof)
        return dir_pass_eof (self, dir, what);

      if (!src->readable)
        return TRUE;

      if (read_budget_spent (self, src, &reads))
        return TRUE;

      /* The pipe is empty here, so EAGAIN can only mean no data */
      n = splice (src->fd, NULL, dir->pipe[1], NULL, RELAY_PIPE_SIZE,
                  SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            {
              src->readable = FALSE;
              return TRUE;
            }
          *what = "splice";
          return FALSE;
        }
      if (n == 0)
        dir->eof = TRUE;
      dir->in_pipe = n;
    }
}

/* Moves what it can in one direction.  Returns FALSE (errno set, *what
 * naming the operation) on a socket error. */
static gboolean
dir_pump (ExgRelay    *self,
          RelayDir    *dir,
          const char **what)
{
  RelayEnd *src = dir->src;
  RelayEnd *dst = dir->dst;
  guint reads = 0;

  if (dir->pipe[0] >= 0)
    return dir_pump_splice (self, dir, what);

  for (;;)
    {
      guint8 *buf;
      ssize_t n, w;

      /* A long transfer: from now on splice, if a pipe can be had */
      if (G_UNLIKELY (dir->total >= dir->splice_after) && dir->held == NULL
          && !dir->eof && pipe2 (dir->pipe, O_NONBLOCK | O_CLOEXEC) == 0)
        {
          (void) fcntl (dir->pipe[0], F_SETPIPE_SZ, RELAY_PIPE_SIZE);
          return dir_pump_splice (self, dir, what);
        }

      if (dir->held != NULL)
        {
          if (!dst->writable)
            return TRUE;
          w = send (dst->fd, dir->held + dir->held_off,
                    dir->held_len - dir->held_off, send_flags (dir));
          if (w < 0)
            {
              if (errno == EINTR)
                continue;
              if (errno == EAGAIN || errno == EWOULDBLOCK)
                {
                  dst->writable = FALSE;
                  return TRUE;
                }
              *what = "send";
              return FALSE;
            }
          dir->moved += w;
          dir->total += w;
          dir->held_off += w;
          if (dir->held_off < dir->held_len)
            {
              /* A short write means the send buffer is full; the kernel
               * signals EPOLLOUT once it drains */
              dst->writable = FALSE;
              return TRUE;
            }
          g_clear_pointer (&dir->held, g_free);
          dir->held_off = dir->held_len = 0;
          continue;
        }

      if (dir->eof)
        return dir_pass_eof (self, dir, what);

      if (!src->readable)
        return TRUE;

      if (read_budget_spent (self, src, &reads))
        return TRUE;

      buf = get_shared_buffer ();
      n = recv (src->fd, buf, RELAY_BUFFER_SIZE, 0);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            {
              src->readable = FALSE;
              return TRUE;
            }
          *what = "recv";
          return FALSE;
        }
      if (n == 0)
        {
          dir->eof = TRUE;
          continue;
        }
      /* A short read emptied the receive queue: new data brings a new edge.
       * Not so for a FIN that arrived with the data, hence rdhup.  And a
       * FIN seen before this read (no error with it) means the queue ends
       * here: the next read would only return 0, so EOF is taken without
       * it (one recv per direction, two per connection, saved). */
      if (n < RELAY_BUFFER_SIZE)
        {
          if (src->fin)
            dir->eof = TRUE;
          else if (!src->rdhup)
            src->readable = FALSE;
        }

      w = 0;
      if (dst->writable)
        {
          do
            w = send (dst->fd, buf, n, send_flags (dir));
          while (w < 0 && errno == EINTR);
          if (w < 0)
            {
              if (errno != EAGAIN && errno != EWOULDBLOCK)
                {
                  *what = "send";
                  return FALSE;
                }
              w = 0;
            }
        }
      dir->moved += w;
      dir->total += w;
      if (w < n)
        {
          dst->writable = FALSE;
          hold (dir, buf + w, n - w);
          return TRUE;
        }
    }
}

static void
pump (ExgRelay *self)
{
  const char *what = NULL;
  int errsv = 0;

  relay_ref (self);

  for (int d = 0; d < 2 && !self->finished; d++)
    if (!dir_pump (self, &self->dirs[d], &what))
      {
        errsv = errno;
        break;
      }

  if (self->progress != NULL && !self->finished
      && (self->dirs[UP].moved > 0 || self->dirs[DOWN].moved > 0))
    {
      gsize up = self->dirs[UP].moved;
      gsize down = self->dirs[DOWN].moved;

      self->dirs[UP].moved = self->dirs[DOWN].moved = 0;
      self->progress (self->user_data, up, down);
    }

  if (!self->finished)
    {
      if (what != NULL)
        fail_errno (self, errsv, what);
      else if (self->dirs[UP].shut && self->dirs[DOWN].shut)
        {
          close_sockets (self);
          finish (self, NULL);
        }
    }

  relay_unref (self);
}

static void
end_event_cb (gpointer user_data,
              guint32  events)
{
  RelayEnd *end = user_data;
  ExgRelay *self = end->relay;

  if (events & EPOLLERR)
    {
      int err = 0;
      socklen_t len = sizeof err;

      /* Reported once (edge-triggered), and the direction that would hit
       * it in recv/send may be blocked on the other socket: act now */
      if (getsockopt (end->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0
          && err != 0)
        {
          fail_errno (self, err, "socket");
          return;
        }
    }

  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
    end->readable = TRUE;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
    end->writable = TRUE;
  if (events & (EPOLLRDHUP | EPOLLHUP))
    end->rdhup = TRUE;
  if ((events & (EPOLLRDHUP | EPOLLHUP)) && !(events & EPOLLERR))
    end->fin = TRUE;

  pump (self);
}

static void
set_nodelay (int fd)
{
  int one = 1;

  /* Relayed writes are already as large as the data allows; Nagle would
   * only delay the small request/reply exchanges. Fails harmlessly on
   * non-TCP sockets. */
  (void) setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

typedef struct
{
  ExgRelay *relay;  /* owned ref */
  int       errsv;
} StartFailure;

static gboolean
start_failed_cb (gpointer user_data)
{
  StartFailure *failure = user_data;

  if (!failure->relay->finished)
    fail_errno (failure->relay, failure->errsv, "epoll_ctl");
  relay_unref (failure->relay);
  g_free (failure);

  return G_SOURCE_REMOVE;
}

/**
 * exg_relay_start:
 *
 * Starts moving data, the pending bytes first.  Never calls done from
 * inside: even a failure to watch the sockets (out of descriptors or
 * memory) is reported from an idle callback.
 */
void
exg_relay_start (ExgRelay *self)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (!self->started);

  self->started = TRUE;
  if (self->finished)
    return;

  self->poller = exg_poller_get_default ();

  for (int e = 0; e < 2; e++)
    {
      RelayEnd *end = &self->ends[e];

      /* the client's socket comes with Nagle off (exg-relay.h) */
      if (e == 1)
        set_nodelay (end->fd);
      /* No I/O here.  A socket registered for RELAY_EVENTS all along with
       * nothing to read yet is taken over as it is: room to write is
       * assumed (a send that finds none waits for the edge), and the next
       * edge comes here.  Otherwise (data waits, or bytes pending for the
       * exit) re-arming it reports what is ready, so the first pump runs
       * from the poller, never inside this call. */
      if (!(e == 1 && self->dirs[UP].held_len > 0) &&
          exg_poller_take_over (self->poller, end->fd, RELAY_EVENTS,
                                end_event_cb, end))
        {
          end->writable = TRUE;
          end->watched = TRUE;
          continue;
        }
      if (!exg_poller_add (self->poller, end->fd, RELAY_EVENTS,
                           end_event_cb, end))
        {
          StartFailure *failure = g_new (StartFailure, 1);

          failure->relay = relay_ref (self);
          failure->errsv = errno;
          for (int i = 0; i < e; i++)
            exg_poller_remove (self->poller, self->ends[i].fd);
          for (int i = 0; i < 2; i++)
            self->ends[i].watched = FALSE;
          g_idle_add (start_failed_cb, failure);
          return;
        }
      end->watched = TRUE;
    }
}

/**
 * exg_relay_close:
 *
 * Aborts both directions and closes both sockets.  If done has not been
 * called yet, it is called before this returns, with G_IO_ERROR_CANCELLED.
 */
void
exg_relay_close (ExgRelay *self)
{
  g_return_if_fail (self != NULL);

  relay_ref (self);

  unwatch (self);
  close_sockets (self);

  if (!self->finished)
    {
      g_autoptr(GError) error = NULL;

      error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                   "Relay closed");
      finish (self, error);
    }

  relay_unref (self);
}

/**
 * exg_relay_free:
 *
 * Drops the relay (allowed from inside done).  If it is still running, it
 * stops at once without calling done, and its sockets are closed with its
 * last reference.
 */
void
exg_relay_free (ExgRelay *self)
{
  if (self == NULL)
    return;

  if (!self->finished)
    {
      self->finished = TRUE;
      unwatch (self);
    }
  relay_unref (self);
}

/**
 * exg_relay_get_buffered:
 * @up: (out) (optional): bytes held for the exit
 * @down: (out) (optional): bytes held for the client
 *
 * The private buffering, at most one read (256 KiB) per direction.
 */
void
exg_relay_get_buffered (ExgRelay *self,
                        gsize    *up,
                        gsize    *down)
{
  g_return_if_fail (self != NULL);

  if (up != NULL)
    *up = self->dirs[UP].held_len - self->dirs[UP].held_off
          + self->dirs[UP].in_pipe;
  if (down != NULL)
    *down = self->dirs[DOWN].held_len - self->dirs[DOWN].held_off
            + self->dirs[DOWN].in_pipe;
}
