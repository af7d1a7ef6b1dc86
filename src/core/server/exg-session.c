/* exg-session.c: one SOCKS client, from the first byte to the close.
 *
 *   accept → HANDSHAKE: read into a small buffer, feed the parser
 *              (greeting → [auth] → [E0 selections] → request)
 *          → CONNECTING / RESOLVING: the exit works; the client socket is
 *              still watched, so a client that goes away cancels it
 *          → OPEN: ExgRelay pumps bytes both ways
 *          → closed: "closed" is emitted once and the server drops us.
 *
 * No GSource per session: the client descriptor is watched through the
 * context's shared epoll poller (ExgPoller) from the first byte, and the
 * relay takes that registration over in place; the deadlines (the
 * handshake's, then the exit's) sit in one coarse timer per context.
 * Attaching or destroying a GSource that watches a descriptor writes the
 * main context's wakeup eventfd and makes it rebuild its poll set, which
 * cost four eventfd writes per connection; an epoll_ctl costs one syscall
 * and nothing else, and a deadline costs none.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-session.h"

#include "exg-dest-policy.h"
#include "exg-error.h"
#include "exg-http-page.h"
#include "exg-poller.h"
#include "exg-relay.h"
#include "exg-socks-encode.h"
#include "exg-socks-parser.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/* Room for the largest handshake plus what a client pipelines with it. */
#define HANDSHAKE_BUFFER 2048
/* Data a client may send while its exit connects; past this we stop
 * reading (TCP back-pressure) until the relay takes over. */
#define PENDING_MAX (64 * 1024)
/* E0 selections are answered one by one; a client that keeps sending
 * them without ever asking for a connection is dropped. */
#define MAX_SELECTIONS 256
/* The most a connect or a lookup through an exit may take before the
 * client hears "timed out" (06); the kernel alone would wait two minutes
 * for a silent host. */
#ifndef EXIT_TIMEOUT_SECONDS
#define EXIT_TIMEOUT_SECONDS 60
#endif

struct _ExgSession
{
  GObject            parent_instance;

  ExgServer         *server;        /* borrowed: outlives its sessions */
  GSocketConnection *connection;    /* owned: the client */
  GSocket           *socket;        /* borrowed from connection */
  ExgConnInfo       *info;          /* owned ref; also in the activity model */
  GCancellable      *cancellable;   /* owned: cancels the exit's work on close */

  ExgPoller         *poller;        /* not owned: lives with the context */
  gboolean           watching;      /* the client fd is ours in the poller */
  GIOCondition       watch_events;
  gint64             deadline;      /* monotonic µs, -1 for none */
  GList             *deadline_link; /* owned link in the timer's queue */
  gpointer           timer;         /* DeadlineTimer of the context, once armed */

  ExgSocksParser     parser;
  guint8            *buf;           /* owned: handshake bytes, then pending data */
  gsize              len;
  gsize              cap;
  gsize              handshake_bytes;   /* consumed so far (E0 selections aside) */
  guint              n_selections;
  gboolean           client_eof;

  /* socks-extensions.txt §5: only the last selection before the request
   * counts, and its router (not a new pick) carries the connection. */
  gboolean           has_selection;
  ExgRouter         *selected;      /* owned, nullable: the last E0 pick */

  guint8             version;
  guint8             command;
  ExgSocksAddr       target;

  ExgRouter         *router;        /* owned, nullable: the exit in use */
  GSocketConnection *exit_conn;     /* owned, nullable: until the relay has it */
  ExgRelay          *relay;         /* owned, nullable */
  gint64             connect_started;   /* monotonic µs, for the router's latency */
  gint64             busy_since;        /* monotonic µs: the request went to the exit */
  gboolean           in_relay_start;
  gboolean           relay_done_early;

  gboolean           closed;
};

G_DEFINE_FINAL_TYPE (ExgSession, exg_session, G_TYPE_OBJECT)

enum {
  CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void process_buffer (ExgSession *self);

/* Deadlines: one GSource per main context for all its sessions.
 *
 * Armed sessions sit in a queue in no particular order; the source's ready
 * time is at or after the earliest deadline, rounded up to DEADLINE_SLACK
 * so that deadlines close together fire in one dispatch.  Arming a
 * deadline later than the ready time (the usual case: every new session's
 * deadline is later than those before it) and disarming touch only the
 * queue; the ready time changes (a context wakeup) only when a deadline
 * comes earlier than it, and from the dispatch itself (no wakeup then).
 * A deadline fires late by at most DEADLINE_SLACK, never early. */
#define DEADLINE_SLACK (G_USEC_PER_SEC / 4)

typedef struct {
  GSource source;
  GQueue  armed;   /* (element-type ExgSession) not owned */
} DeadlineTimer;

static void on_deadline (ExgSession *self);

static gint64
deadline_round_up (gint64 t)
{
  return (t + DEADLINE_SLACK - 1) / DEADLINE_SLACK * DEADLINE_SLACK;
}

static gboolean
timer_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  DeadlineTimer *timer = (DeadlineTimer *) source;
  g_autoptr(GPtrArray) expired = g_ptr_array_new_with_free_func (g_object_unref);
  gint64 now = g_get_monotonic_time ();
  gint64 next = G_MAXINT64;
  GList *l = timer->armed.head;

  while (l != NULL)
    {
      GList *following = l->next;
      ExgSession *session = l->data;

      if (session->deadline <= now)
        {
          g_queue_delete_link (&timer->armed, l);
          session->deadline_link = NULL;
          session->deadline = -1;
          g_ptr_array_add (expired, g_object_ref (session));
        }
      else
        next = MIN (next, session->deadline);
      l = following;
    }
  /* blocked while it dispatches: no wakeup */
  g_source_set_ready_time (source,
                           next == G_MAXINT64 ? -1 : deadline_round_up (next));

  for (guint i = 0; i < expired->len; i++)
    on_deadline (g_ptr_array_index (expired, i));
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_funcs = {
  NULL, NULL, timer_dispatch, NULL, NULL, NULL,
};

G_LOCK_DEFINE_STATIC (timers);
static GHashTable *timers;   /* GMainContext (ref'd) → DeadlineTimer (never freed) */

/* The timer of the thread-default main context, created on first use;
 * it stays attached for the life of the process, as the poller does. */
static DeadlineTimer *
timer_get_default (void)
{
  GMainContext *context = g_main_context_get_thread_default ();
  DeadlineTimer *timer;

  if (context == NULL)
    context = g_main_context_default ();

  G_LOCK (timers);
  if (timers == NULL)
    timers = g_hash_table_new (NULL, NULL);
  timer = g_hash_table_lookup (timers, context);
  if (timer == NULL)
    {
      timer = (DeadlineTimer *) g_source_new (&timer_funcs,
                                              sizeof (DeadlineTimer));
      g_queue_init (&timer->armed);
      g_source_set_static_name (&timer->source, "[exitgate] session deadlines");
      g_source_attach (&timer->source, context);
      g_hash_table_insert (timers, g_main_context_ref (context), timer);
    }
  G_UNLOCK (timers);

  return timer;
}

/* @deadline: monotonic µs, or -1 for none */
static void
deadline_set (ExgSession *self,
              gint64      deadline)
{
  DeadlineTimer *timer;
  gint64 ready;

  if (deadline < 0)
    {
      if (self->deadline_link != NULL)
        {
          timer = self->timer;
          g_queue_delete_link (&timer->armed, self->deadline_link);
          self->deadline_link = NULL;
        }
      self->deadline = -1;
      return;
    }

  /* the context the session started in, for its whole life (and one
   * lookup per session, not one per deadline) */
  if (self->timer == NULL)
    self->timer = timer_get_default ();
  timer = self->timer;
  self->deadline = deadline;
  if (self->deadline_link == NULL)
    {
      g_queue_push_tail (&timer->armed, self);
      self->deadline_link = timer->armed.tail;
    }
  ready = g_source_get_ready_time (&timer->source);
  if (ready < 0 || deadline < ready)
    g_source_set_ready_time (&timer->source, deadline_round_up (deadline));
}

/* The client descriptor in the poller: level-triggered, as a GSource
 * would watch it.  EPOLLRDHUP comes with EPOLLIN at EOF anyway; asking
 * for it only when reading keeps a half-closed client from being reported
 * over and over while the session does not read. */
static guint32
epoll_events (GIOCondition events)
{
  return (events & G_IO_IN) ? EPOLLIN | EPOLLRDHUP : 0;
}

static void on_client_event (ExgSession *self, GIOCondition revents);

static void
on_client_poll (gpointer user_data,
                guint32  events)
{
  ExgSession *self = user_data;
  GIOCondition revents = 0;

  if (events & (EPOLLIN | EPOLLRDHUP))
    revents |= G_IO_IN;
  if (events & EPOLLHUP)
    revents |= G_IO_HUP;
  if (events & EPOLLERR)
    revents |= G_IO_ERR;
  if (revents != 0)
    on_client_event (self, revents);
}

static gboolean
watch_start (ExgSession   *self,
             GIOCondition  events,
             gint64        deadline)
{
  g_assert (!self->watching);

  self->poller = exg_poller_get_default ();
  /* the descriptor accept(2) just gave */
  if (!exg_poller_add_new (self->poller, g_socket_get_fd (self->socket),
                           epoll_events (events), on_client_poll, self))
    return FALSE;
  self->watching = TRUE;
  self->watch_events = events;
  deadline_set (self, deadline);
  return TRUE;
}

static void
watch_modify (ExgSession   *self,
              GIOCondition  events)
{
  if (!self->watching || self->watch_events == events)
    return;
  self->watch_events = events;
  exg_poller_modify (self->poller, g_socket_get_fd (self->socket),
                     epoll_events (events));
}

static void
watch_stop (ExgSession *self)
{
  deadline_set (self, -1);
  if (!self->watching)
    return;
  self->watching = FALSE;
  exg_poller_remove (self->poller, g_socket_get_fd (self->socket));
}

/* Leaves the descriptor registered for the relay, which takes it over
 * right away (one EPOLL_CTL_MOD, not a DEL and an ADD). */
static void
watch_hand_over (ExgSession *self)
{
  deadline_set (self, -1);
  if (!self->watching)
    return;
  self->watching = FALSE;
  exg_poller_park (self->poller, g_socket_get_fd (self->socket));
}

static gboolean
unsafe_logging (ExgSession *self)
{
  return exg_server_get_unsafe_logging (self->server);
}

/* Privacy: a target appears in logs only with unsafe logging on. */
static const char *
safe_target (ExgSession *self)
{
  if (unsafe_logging (self) && self->info->target != NULL)
    return self->info->target;
  return "[scrubbed]";
}

/* GIO names the host in its messages ("Error resolving “name”…"): with
 * SafeLogging, only what kind of failure it was. */
static const char *
safe_error (ExgSession   *self,
            const GError *error)
{
  if (unsafe_logging (self) && error != NULL)
    return error->message;
  return exg_error_describe (error);
}

static void
exg_session_dispose (GObject *object)
{
  ExgSession *self = EXG_SESSION (object);

  if (!self->closed)
    exg_session_close (self);

  G_OBJECT_CLASS (exg_session_parent_class)->dispose (object);
}

static void
exg_session_finalize (GObject *object)
{
  ExgSession *self = EXG_SESSION (object);

  g_assert (self->relay == NULL);
  g_assert (!self->watching);
  g_assert (self->deadline_link == NULL);

  g_clear_object (&self->exit_conn);
  g_clear_object (&self->router);
  g_clear_object (&self->selected);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->connection);
  g_clear_pointer (&self->info, exg_conn_info_unref);
  g_free (self->buf);

  G_OBJECT_CLASS (exg_session_parent_class)->finalize (object);
}

static void
exg_session_class_init (ExgSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = exg_session_dispose;
  object_class->finalize = exg_session_finalize;

  signals[CLOSED] =
    g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
exg_session_init (ExgSession *self)
{
  exg_socks_parser_init (&self->parser);
  self->deadline = -1;
}

ExgSession *
exg_session_new (ExgServer         *server,
                 GSocketConnection *connection,
                 const char        *client)
{
  ExgSession *self;
  ExgActivity *activity;

  g_return_val_if_fail (EXG_IS_SERVER (server), NULL);
  g_return_val_if_fail (G_IS_SOCKET_CONNECTION (connection), NULL);

  self = g_object_new (EXG_TYPE_SESSION, NULL);
  self->server = server;
  self->connection = g_object_ref (connection);
  self->socket = g_socket_connection_get_socket (connection);
  self->cancellable = g_cancellable_new ();

  activity = exg_server_get_activity (server);
  self->info = exg_conn_info_ref (exg_activity_add_connection (activity,
                                                               client));
  return self;
}

guint64
exg_session_get_id (ExgSession *self)
{
  g_return_val_if_fail (EXG_IS_SESSION (self), 0);
  return self->info->id;
}

static void
set_state (ExgSession   *self,
           ExgConnState  state)
{
  if (self->info->state == state)
    return;
  self->info->state = state;
  exg_activity_connection_changed (exg_server_get_activity (self->server),
                                   self->info);
}

static void
set_exit (ExgSession *self,
          ExgRouter  *router)
{
  if (router != self->router)
    {
      g_clear_object (&self->router);
      self->router = router != NULL ? g_object_ref (router) : NULL;
    }
  if (router == NULL)
    return;

  g_free (self->info->exit_id);
  self->info->exit_id = g_strdup (exg_router_get_id (router));
  g_free (self->info->exit_name);
  self->info->exit_name = g_strdup (exg_router_get_name (router));
  g_strlcpy (self->info->exit_country, exg_router_get_country (router),
             sizeof self->info->exit_country);
}

/* Handshake replies are a few bytes on a fresh socket whose send buffer
 * is empty, so a non-blocking send takes them whole. */
static gboolean
send_bytes (ExgSession   *self,
            const guint8 *data,
            gsize         len)
{
  gssize n;

  if (len == 0)
    return TRUE;
  n = g_socket_send_with_blocking (self->socket, (const char *) data, len,
                                   FALSE, NULL, NULL);
  return n == (gssize) len;
}

/* Bytes left unread at close(2) make the kernel answer with a reset,
 * which can destroy a reply just sent before the client reads it: take
 * what has arrived (bounded) before closing. */
static void
drain_client (ExgSession *self)
{
  guint8 sink[4096];

  for (int i = 0; i < 16; i++)
    {
      gssize n = g_socket_receive_with_blocking (self->socket, (char *) sink,
                                                 sizeof sink,
                                                 FALSE, NULL, NULL);
      if (n <= 0)
        break;
    }
}

void
exg_session_close (ExgSession *self)
{
  g_autoptr(ExgSession) keep = NULL;
  ExgActivity *activity;
  ExgRelay *relay;

  g_return_if_fail (EXG_IS_SESSION (self));

  if (self->closed)
    return;
  self->closed = TRUE;
  keep = g_object_ref (self);

  g_cancellable_cancel (self->cancellable);
  watch_stop (self);

  relay = g_steal_pointer (&self->relay);
  if (relay != NULL)
    {
      /* closes both sockets; its done callback sees closed and returns */
      exg_relay_close (relay);
      exg_relay_free (relay);
    }
  else
    {
      if (self->exit_conn != NULL)
        g_io_stream_close (G_IO_STREAM (self->exit_conn), NULL, NULL);
      if (!self->client_eof)
        drain_client (self);
      g_io_stream_close (G_IO_STREAM (self->connection), NULL, NULL);
    }
  g_clear_pointer (&self->buf, g_free);
  self->len = self->cap = 0;

  if (self->info->state != EXG_CONN_STATE_FAILED)
    self->info->state = EXG_CONN_STATE_CLOSED;
  self->info->end_time = g_get_real_time ();

  activity = exg_server_get_activity (self->server);
  exg_activity_connection_changed (activity, self->info);
  exg_activity_remove_connection (activity, self->info);

  exg_server_session_closed_ (self->server, self);
  g_signal_emit (self, signals[CLOSED], 0);
}

static void
fail (ExgSession *self,
      const char *why)
{
  if (why != NULL)
    {
      g_free (self->info->error);
      self->info->error = g_strdup (why);
    }
  self->info->state = EXG_CONN_STATE_FAILED;
  exg_session_close (self);
}

/* The client hung up first: its own choice, not a failure of the exit or
 * of ours, so the connection ends "closed" */
static void
client_went_away (ExgSession *self)
{
  exg_session_close (self);
}

/* A failed request: the reply tor would give, then close. */
static void
fail_request (ExgSession   *self,
              const GError *error,
              guint8        v5_code)
{
  guint8 out[EXG_SOCKS5_REPLY_MAX];
  gsize n;

  if (error != NULL)
    v5_code = exg_error_to_socks5_reply (error);

  if (self->version == 4)
    n = exg_socks4_reply_encode (out, sizeof out, EXG_SOCKS4_REPLY_REJECTED, 0,
                                 NULL);
  else
    n = exg_socks5_reply_encode (out, sizeof out, v5_code, NULL);
  send_bytes (self, out, n);

  g_debug ("Connection %" G_GUINT64_FORMAT ": request for %s failed (reply %02x): %s",
           self->info->id, safe_target (self),
           self->version == 4 ? EXG_SOCKS4_REPLY_REJECTED : v5_code,
           safe_error (self, error));
  self->info->socks_reply = v5_code;
  fail (self, error != NULL ? error->message : NULL);
}

static void
addr_from_inet (ExgSocksAddr *addr,
                GInetAddress *inet,
                guint16       port)
{
  memset (addr, 0, sizeof *addr);
  addr->port = port;
  if (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV4)
    {
      addr->type = EXG_SOCKS_ATYP_IPV4;
      memcpy (addr->ip, g_inet_address_to_bytes (inet), 4);
    }
  else
    {
      addr->type = EXG_SOCKS_ATYP_IPV6;
      memcpy (addr->ip, g_inet_address_to_bytes (inet), 16);
    }
}

/* (transfer full) the host to hand to the exit: the name as sent, or the
 * IP literal */
static char *
target_host (const ExgSocksAddr *target)
{
  char text[INET6_ADDRSTRLEN];

  /* inet_ntop, as g_inet_address_to_string () uses, without the two
   * GObjects (an address and its string) per call */
  switch (target->type)
    {
    case EXG_SOCKS_ATYP_IPV4:
      return g_strdup (inet_ntop (AF_INET, target->ip, text, sizeof text));
    case EXG_SOCKS_ATYP_IPV6:
      return g_strdup (inet_ntop (AF_INET6, target->ip, text, sizeof text));
    case EXG_SOCKS_ATYP_DOMAIN:
    case EXG_SOCKS_ATYP_NONE:
    default:
      return g_strdup (target->host);
    }
}

static char *
format_target (const ExgSocksAddr *target,
               const char         *host)
{
  if (target->type == EXG_SOCKS_ATYP_IPV6)
    return g_strdup_printf ("[%s]:%u", host, target->port);
  return g_strdup_printf ("%s:%u", host, target->port);
}

/* The exit for this request: the router of the last E0 selection, or
 * NULL and the selection (the username's, else the server default) for
 * the registry to pick from. */
static gboolean
choose_exit (ExgSession   *self,
             ExgRouter   **out_router,
             ExgSelection *out_sel,
             GError      **error)
{
  g_autoptr(GError) local_error = NULL;

  *out_router = NULL;

  if (self->has_selection)
    {
      /* socks-extensions.txt §5: the last selection decides; after an FF
       * the request is refused, never silently sent elsewhere */
      if (self->selected == NULL)
        {
          g_set_error_literal (error, EXG_ERROR, EXG_ERROR_NO_ROUTER,
                               "The last router selection matched no exit");
          return FALSE;
        }
      *out_router = g_object_ref (self->selected);
      return TRUE;
    }

  if (self->version == 5 && self->info->username != NULL &&
      exg_selection_parse_username (self->info->username, out_sel,
                                    &local_error))
    return TRUE;

  if (local_error != NULL)
    {
      g_message ("Connection %" G_GUINT64_FORMAT ": refused: %s",
                 self->info->id, local_error->message);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  exg_server_get_default_selection (self->server, out_sel);
  return TRUE;
}

static void
log_no_router (ExgSession         *self,
               const ExgSelection *sel,
               const GError       *error)
{
  g_autofree char *text = NULL;

  if (!g_error_matches (error, EXG_ERROR, EXG_ERROR_NO_ROUTER))
    return;
  /* the selection (a country, a range) is no target: safe to log */
  if (self->has_selection)
    text = g_strdup ("the last E0 selection");
  else if (sel != NULL)
    text = exg_selection_to_string (sel);
  else
    text = g_strdup ("any");
  g_message ("Connection %" G_GUINT64_FORMAT ": refused: no exit matches the selection (%s)",
             self->info->id, text);
}

/* Once per connection, at g_message: someone may be probing what this
 * proxy reaches.  The target stays out unless logging is unsafe. */
static void
log_target_refused (ExgSession   *self,
                    const GError *error)
{
  if (!g_error_matches (error, EXG_ERROR, EXG_ERROR_TARGET_REFUSED))
    return;
  g_message ("Connection %" G_GUINT64_FORMAT ": refused the target %s: %s",
             self->info->id, safe_target (self), error->message);
}

/* While the exit works, keep watching the client: data it sends is kept
 * for the relay; EOF or an error means it went away. */
static void
watch_client_while_busy (ExgSession *self)
{
  GIOCondition events = G_IO_HUP | G_IO_ERR;

  if (!self->watching)
    return;   /* closed already, by a signal handler */
  if (self->busy_since == 0)
    {
      self->busy_since = g_get_monotonic_time ();
      /* with no handshake deadline there is none to reuse */
      if (self->deadline == -1)
        deadline_set (self, self->busy_since + EXIT_TIMEOUT_SECONDS * G_USEC_PER_SEC);
    }
  if (self->len < PENDING_MAX && !self->client_eof)
    events |= G_IO_IN;
  /* the handshake deadline stays set: when it fires now, it becomes the
   * exit's deadline, rather than a wakeup paid on every request */
  watch_modify (self, events);
}

static void
relay_progress_cb (gpointer user_data,
                   gsize    up,
                   gsize    down)
{
  ExgSession *self = user_data;

  exg_activity_add_bytes (exg_server_get_activity (self->server), self->info,
                          up, down);
  if (self->router != NULL)
    exg_router_record_bytes (self->router, up + down);
}

static void
relay_done_cb (gpointer      user_data,
               const GError *error)
{
  ExgSession *self = user_data;
  ExgRelay *relay;

  if (self->closed)
    return;

  /* a clean end: both sides sent EOF and the relay read up to it, so
   * there is nothing left to drain before closing */
  if (error == NULL)
    self->client_eof = TRUE;

  if (error != NULL &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_free (self->info->error);
      self->info->error = g_strdup (error->message);
      self->info->state = EXG_CONN_STATE_FAILED;
    }

  if (self->in_relay_start)
    {
      /* never free the relay under its own exg_relay_start */
      self->relay_done_early = TRUE;
      return;
    }

  relay = g_steal_pointer (&self->relay);
  exg_relay_free (relay);
  exg_session_close (self);
}

static void
start_relay (ExgSession *self)
{
  GSocketConnection *exit_conn = g_steal_pointer (&self->exit_conn);

  watch_hand_over (self);
  set_state (self, EXG_CONN_STATE_OPEN);

  self->relay = exg_relay_new (self->connection, exit_conn, self->buf,
                               self->len,
                               relay_progress_cb, relay_done_cb, self);
  g_object_unref (exit_conn);
  /* the relay copied the pending bytes; an idle session holds no buffer */
  g_clear_pointer (&self->buf, g_free);
  self->len = self->cap = 0;

  self->in_relay_start = TRUE;
  exg_relay_start (self->relay);
  self->in_relay_start = FALSE;

  if (self->relay_done_early)
    {
      ExgRelay *relay = g_steal_pointer (&self->relay);

      exg_relay_free (relay);
      exg_session_close (self);
    }
}

static void
connected (ExgSession        *self,
           GSocketConnection *exit_conn)
{
  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  guint8 out[EXG_SOCKS5_REPLY_MAX];
  ExgSocksAddr bound;
  gsize n;

  self->exit_conn = exit_conn;

  /* BND: the real local address and port of the outgoing connection,
   * straight from getsockname(2) (GIO would wrap it in two GObjects) */
  memset (&bound, 0, sizeof bound);
  bound.type = EXG_SOCKS_ATYP_IPV4;
  if (getsockname (g_socket_get_fd (g_socket_connection_get_socket (exit_conn)),
                   (struct sockaddr *) &local, &local_len) == 0)
    {
      if (local.ss_family == AF_INET)
        {
          const struct sockaddr_in *sin = (const struct sockaddr_in *) &local;

          memcpy (bound.ip, &sin->sin_addr, 4);
          bound.port = g_ntohs (sin->sin_port);
        }
      else if (local.ss_family == AF_INET6)
        {
          const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) &local;

          bound.type = EXG_SOCKS_ATYP_IPV6;
          memcpy (bound.ip, &sin6->sin6_addr, 16);
          bound.port = g_ntohs (sin6->sin6_port);
        }
    }

  if (self->version == 4)
    n = exg_socks4_reply_encode (out, sizeof out, EXG_SOCKS4_REPLY_GRANTED,
                                 bound.port,
                                 bound.type == EXG_SOCKS_ATYP_IPV4 ? bound.ip : NULL);
  else
    n = exg_socks5_reply_encode (out, sizeof out, EXG_SOCKS5_REPLY_SUCCEEDED,
                                 &bound);

  if (!send_bytes (self, out, n))
    {
      client_went_away (self);
      return;
    }

  /* structured logging formats the message before it filters: not for
   * every connection when nobody reads debug messages */
  if (!g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN))
    g_debug ("Connection %" G_GUINT64_FORMAT ": open to %s through %s",
             self->info->id, safe_target (self),
             self->router != NULL ? exg_router_get_name (self->router) : "?");
  start_relay (self);
}

static void
connect_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(ExgSession) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(ExgRouter) router = NULL;
  GSocketConnection *exit_conn;

  if (EXG_IS_ROUTER_REGISTRY (source))
    exit_conn = exg_router_registry_connect_finish (EXG_ROUTER_REGISTRY (source), result,
                                                    &router, &error);
  else
    {
      exit_conn = exg_backend_connect_finish (EXG_BACKEND (source), result,
                                              &error);
      if (self->router != NULL)
        {
          router = g_object_ref (self->router);
          /* a client that left, or a target our policy refused, says
           * nothing about the exit */
          if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
              !g_error_matches (error, EXG_ERROR, EXG_ERROR_TARGET_REFUSED))
            exg_router_record_connect (router,
                                       g_get_monotonic_time () - self->connect_started,
                                       exit_conn != NULL);
        }
    }

  if (self->closed)
    {
      if (exit_conn != NULL)
        {
          g_io_stream_close (G_IO_STREAM (exit_conn), NULL, NULL);
          g_object_unref (exit_conn);
        }
      return;
    }

  /* observers hear of the exit with the state change that follows (open,
   * or failed), in one signal: a failed row names the exit that failed */
  if (exit_conn == NULL)
    {
      if (router != NULL)
        set_exit (self, router);
      log_no_router (self, NULL, error);
      log_target_refused (self, error);
      fail_request (self, error, 0);
      return;
    }

  if (router != NULL)
    set_exit (self, router);
  connected (self, exit_conn);
}

/* The destination policy, before any exit is asked: IP literals of every
 * exit kind, and port 0 of names.  The addresses of names are judged
 * where they are resolved, by the direct exit.  FALSE: refused, and the
 * session is closed. */
static gboolean
target_allowed (ExgSession *self)
{
  static const guint8 none[16] = { 0 };
  g_autoptr(GError) error = NULL;
  ExgDestPolicy *policy = exg_server_get_dest_policy (self->server);
  gboolean allowed;

  switch (self->target.type)
    {
    case EXG_SOCKS_ATYP_IPV4:
      allowed = exg_dest_policy_judge (policy, G_SOCKET_FAMILY_IPV4,
                                       self->target.ip, self->target.port,
                                       &error);
      break;
    case EXG_SOCKS_ATYP_IPV6:
      allowed = exg_dest_policy_judge (policy, G_SOCKET_FAMILY_IPV6,
                                       self->target.ip, self->target.port,
                                       &error);
      break;
    case EXG_SOCKS_ATYP_DOMAIN:
    case EXG_SOCKS_ATYP_NONE:
    default:
      /* a name with port 0: the zero rule, whatever it resolves to */
      allowed = self->target.port != 0 ||
                exg_dest_policy_judge (policy, G_SOCKET_FAMILY_IPV4, none, 0,
                                       &error);
      break;
    }
  if (allowed)
    return TRUE;

  log_target_refused (self, error);
  fail_request (self, error, 0);
  return FALSE;
}

static void
start_connect (ExgSession *self,
               const char *host)
{
  g_autoptr(ExgRouter) router = NULL;
  g_autoptr(GError) error = NULL;
  ExgSelection sel;

  if (!target_allowed (self))
    return;

  if (!choose_exit (self, &router, &sel, &error))
    {
      log_no_router (self, NULL, error);
      fail_request (self, error, 0);
      return;
    }

  set_state (self, EXG_CONN_STATE_CONNECTING);
  watch_client_while_busy (self);

  if (router != NULL)
    {
      set_exit (self, router);
      exg_activity_connection_changed (exg_server_get_activity (self->server),
                                       self->info);
      self->connect_started = g_get_monotonic_time ();
      exg_backend_connect_async (exg_router_get_backend (router), host,
                                 self->target.port,
                                 self->cancellable, connect_cb, g_object_ref (self));
    }
  else
    {
      /* the registry retries through other matching routers */
      ExgRouterRegistry *registry = exg_server_get_registry (self->server);

      sel.port = self->target.port;   /* exits whose policy rejects it don't match */

      if (!exg_selection_is_any (&sel))
        {
          g_autoptr(ExgRouter) probe = exg_router_registry_pick (registry, &sel,
                                                                 NULL, &error);

          if (probe == NULL)
            {
              log_no_router (self, &sel, error);
              fail_request (self, error, 0);
              return;
            }
        }
      exg_router_registry_connect_async (registry, &sel, host,
                                         self->target.port,
                                         self->cancellable, connect_cb, g_object_ref (self));
    }
}

/* RESOLVE (socks-extensions.txt §2) */

static void
finish_resolved (ExgSession   *self,
                 GInetAddress *answer)
{
  guint8 out[EXG_SOCKS5_REPLY_MAX];
  gsize n;

  if (self->version == 4)
    {
      if (g_inet_address_get_family (answer) != G_SOCKET_FAMILY_IPV4)
        {
          /* SOCKS4 has room for IPv4 only */
          fail_request (self, NULL, EXG_SOCKS5_REPLY_HOST_UNREACHABLE);
          return;
        }
      n = exg_socks4_reply_encode (out, sizeof out, EXG_SOCKS4_REPLY_GRANTED, 0,
                                   g_inet_address_to_bytes (answer));
    }
  else
    {
      ExgSocksAddr bound;

      addr_from_inet (&bound, answer, 0);
      n = exg_socks5_reply_encode (out, sizeof out, EXG_SOCKS5_REPLY_SUCCEEDED,
                                   &bound);
    }

  send_bytes (self, out, n);
  exg_session_close (self);
}

static void
resolve_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(ExgSession) self = user_data;
  g_autoptr(GError) error = NULL;
  GList *addresses;
  GInetAddress *first_v4 = NULL;
  GInetAddress *first_v6 = NULL;
  g_autoptr(GString) answer = NULL;
  g_autofree char *query = NULL;

  addresses = exg_backend_resolve_finish (EXG_BACKEND (source), result, &error);
  if (self->closed)
    {
      g_resolver_free_addresses (addresses);
      return;
    }

  query = target_host (&self->target);
  if (addresses == NULL)
    {
      exg_activity_add_lookup (exg_server_get_activity (self->server),
                               EXG_LOOKUP_FORWARD,
                               query, NULL, error->message, self->router);
      fail_request (self, error, 0);
      return;
    }

  answer = g_string_new (NULL);
  for (GList *l = addresses; l != NULL; l = l->next)
    {
      GInetAddress *inet = l->data;
      g_autofree char *text = g_inet_address_to_string (inet);

      if (answer->len > 0)
        g_string_append (answer, ", ");
      g_string_append (answer, text);
      if (first_v4 == NULL &&
          g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV4)
        first_v4 = inet;
      if (first_v6 == NULL &&
          g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6)
        first_v6 = inet;
    }
  exg_activity_add_lookup (exg_server_get_activity (self->server),
                           EXG_LOOKUP_FORWARD,
                           query, answer->str, NULL, self->router);

  finish_resolved (self, first_v4 != NULL ? first_v4 : first_v6);
  g_resolver_free_addresses (addresses);
}

static void
resolve_ptr_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(ExgSession) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *query = NULL;
  guint8 out[EXG_SOCKS5_REPLY_MAX];
  ExgSocksAddr bound;
  gsize n;

  name = exg_backend_resolve_ptr_finish (EXG_BACKEND (source), result, &error);
  if (self->closed)
    return;

  query = target_host (&self->target);
  exg_activity_add_lookup (exg_server_get_activity (self->server),
                           EXG_LOOKUP_REVERSE,
                           query, name, error != NULL ? error->message : NULL, self->router);
  if (name == NULL)
    {
      fail_request (self, error, 0);
      return;
    }

  memset (&bound, 0, sizeof bound);
  bound.type = EXG_SOCKS_ATYP_DOMAIN;
  /* a DNS name is at most 253 bytes; the wire has room for 255 */
  g_strlcpy (bound.host, name, sizeof bound.host);
  n = exg_socks5_reply_encode (out, sizeof out, EXG_SOCKS5_REPLY_SUCCEEDED,
                               &bound);
  send_bytes (self, out, n);
  exg_session_close (self);
}

static void
start_resolve (ExgSession *self,
               const char *host)
{
  g_autoptr(ExgRouter) router = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) literal = NULL;
  ExgActivity *activity = exg_server_get_activity (self->server);
  ExgSelection sel;
  gboolean reverse = self->command == EXG_SOCKS_CMD_RESOLVE_PTR;

  if (reverse)
    {
      /* socks-extensions.txt §2: RESOLVE_PTR is SOCKS5 only, of an IP */
      if (self->version != 5)
        {
          fail_request (self, NULL, EXG_SOCKS5_REPLY_CMD_NOT_SUPPORTED);
          return;
        }
      if (self->target.type != EXG_SOCKS_ATYP_IPV4 &&
          self->target.type != EXG_SOCKS_ATYP_IPV6)
        {
          fail_request (self, NULL, EXG_SOCKS5_REPLY_ATYP_NOT_SUPPORTED);
          return;
        }
    }
  else
    {
      /* an IP literal is its own answer: nothing to ask anyone */
      literal = g_inet_address_new_from_string (host);
      if (literal != NULL)
        {
          exg_activity_add_lookup (activity, EXG_LOOKUP_FORWARD, host, host,
                                   NULL, NULL);
          finish_resolved (self, literal);
          return;
        }
    }

  if (!choose_exit (self, &router, &sel, &error))
    {
      exg_activity_add_lookup (activity,
                               reverse ? EXG_LOOKUP_REVERSE : EXG_LOOKUP_FORWARD,
                               host, NULL, error->message, NULL);
      log_no_router (self, NULL, error);
      fail_request (self, error, 0);
      return;
    }
  if (router == NULL)
    {
      router = exg_router_registry_pick (exg_server_get_registry (self->server),
                                         &sel, NULL, &error);
      if (router == NULL)
        {
          exg_activity_add_lookup (activity,
                                   reverse ? EXG_LOOKUP_REVERSE : EXG_LOOKUP_FORWARD,
                                   host, NULL, error->message, NULL);
          log_no_router (self, &sel, error);
          fail_request (self, error, 0);
          return;
        }
    }

  set_exit (self, router);
  set_state (self, EXG_CONN_STATE_RESOLVING);
  watch_client_while_busy (self);

  if (reverse)
    {
      g_autoptr(GInetAddress) inet =
        g_inet_address_new_from_bytes (self->target.ip,
                                       self->target.type == EXG_SOCKS_ATYP_IPV4
                                         ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6);

      exg_backend_resolve_ptr_async (exg_router_get_backend (router), inet,
                                     self->cancellable,
                                     resolve_ptr_cb, g_object_ref (self));
    }
  else
    exg_backend_resolve_async (exg_router_get_backend (router), host,
                               self->cancellable,
                               resolve_cb, g_object_ref (self));
}

static void
handle_request (ExgSession        *self,
                const ExgSocksMsg *msg)
{
  g_autofree char *host = NULL;

  self->version = msg->version;
  self->command = msg->command;
  self->target = msg->target;
  host = target_host (&self->target);

  self->info->command = msg->command;
  g_free (self->info->target);
  self->info->target = format_target (&self->target, host);
  exg_activity_connection_changed (exg_server_get_activity (self->server),
                                   self->info);

  switch (msg->command)
    {
    case EXG_SOCKS_CMD_CONNECT:
      start_connect (self, host);
      break;
    case EXG_SOCKS_CMD_RESOLVE:
    case EXG_SOCKS_CMD_RESOLVE_PTR:
      start_resolve (self, host);
      break;
    case EXG_SOCKS_CMD_BIND:
    case EXG_SOCKS_CMD_UDP_ASSOCIATE:
    case EXG_SOCKS_CMD_CONNECT_DIR:
    default:
      fail_request (self, NULL, EXG_SOCKS5_REPLY_CMD_NOT_SUPPORTED);
      break;
    }
}

static void
handle_greeting (ExgSession        *self,
                 const ExgSocksMsg *msg)
{
  gboolean password_required = exg_server_password_required_ (self->server);
  guint8 out[2];
  guint8 method;
  gsize n;

  self->version = 5;
  method = exg_socks5_choose_method (msg->methods, msg->n_methods,
                                     password_required, !password_required);
  n = exg_socks5_method_encode (out, sizeof out, method);
  if (!send_bytes (self, out, n) || method == EXG_SOCKS_METHOD_NO_ACCEPTABLE)
    {
      fail (self, "No acceptable authentication method");
      return;
    }
  exg_socks_parser_set_method (&self->parser, method);
}

static void
handle_auth (ExgSession        *self,
             const ExgSocksMsg *msg)
{
  guint8 out[2];
  gboolean ok;
  gsize n;

  /* RFC 1929; with no password configured any credentials will do, and
   * the username is kept (an isolation key, or a selection) */
  ok = !exg_server_password_required_ (self->server) ||
       exg_server_check_credentials_ (self->server, msg->username,
                                      msg->password);

  g_free (self->info->username);
  self->info->username = g_strdup (msg->username);

  n = exg_socks5_auth_status_encode (out, sizeof out, ok);
  if (!send_bytes (self, out, n) || !ok)
    {
      fail (self, "Authentication failed");
      return;
    }
  exg_activity_connection_changed (exg_server_get_activity (self->server),
                                   self->info);
  if (self->parser.phase == EXG_SOCKS_PHASE_AUTH)
    self->parser.phase = EXG_SOCKS_PHASE_REQUEST;
}

static void
handle_select (ExgSession        *self,
               const ExgSocksMsg *msg)
{
  g_autoptr(GError) error = NULL;
  guint8 out[EXG_SOCKS_SELECT_RESPONSE_LEN];
  ExgSelection sel;
  ExgRouter *router = NULL;
  gsize n;

  self->has_selection = TRUE;
  g_clear_object (&self->selected);

  exg_selection_init_any (&sel);
  sel.range_start = msg->range_start;
  sel.range_end = msg->range_end;
  sel.min_bandwidth = msg->min_bw;

  /* §5: a range whose start is above its end, or a country that is not
   * two letters, selects nothing */
  if (msg->range_start <= msg->range_end &&
      exg_selection_set_country (&sel, msg->country))
    router = exg_router_registry_pick (exg_server_get_registry (self->server),
                                       &sel, NULL, &error);

  if (router != NULL)
    {
      guint64 bw = exg_router_get_bandwidth (router);

      self->selected = router;
      n = exg_socks_select_reply_encode (out, sizeof out, TRUE,
                                         (guint8) MIN (exg_router_get_path_length (router), 255),
                                         exg_router_get_country (router),
                                         exg_router_get_ipv4 (router),
                                         (guint32) MIN (bw, G_MAXUINT32));
    }
  else
    {
      g_autofree char *text = exg_selection_to_string (&sel);

      g_message ("Connection %" G_GUINT64_FORMAT ": router selection (%s) matched no exit",
                 self->info->id, text);
      n = exg_socks_select_reply_encode (out, sizeof out, FALSE, 0, "", 0, 0);
    }

  if (!send_bytes (self, out, n))
    client_went_away (self);
}

static void
consume (ExgSession *self,
         gsize       used)
{
  g_assert (used <= self->len);
  memmove (self->buf, self->buf + used, self->len - used);
  self->len -= used;
}

static void
process_buffer (ExgSession *self)
{
  while (!self->closed && self->parser.phase != EXG_SOCKS_PHASE_DONE)
    {
      ExgSocksMsg msg;
      ExgParseResult result;
      gsize used = 0;
      gsize page_len = 0;
      const guint8 *page;

      if (self->len == 0)
        return;

      result = exg_socks_parser_feed (&self->parser, self->buf, self->len,
                                      &used, &msg);
      switch (result)
        {
        case EXG_PARSE_NEED_MORE:
          if (self->handshake_bytes + self->len > EXG_SOCKS_MAX_HANDSHAKE ||
              self->len >= self->cap)
            fail (self, "Handshake too large");
          return;

        case EXG_PARSE_HTTP:
          page = exg_http_page_get (&page_len);
          send_bytes (self, page, page_len);
          fail (self, "Not SOCKS: an HTTP request");
          return;

        case EXG_PARSE_REJECT:
          send_bytes (self, msg.reply, msg.reply_len);
          fail (self, "Malformed handshake");
          return;

        case EXG_PARSE_OK:
        default:
          break;
        }

      consume (self, used);
      if (msg.kind == EXG_SOCKS_MSG_SELECT)
        {
          if (++self->n_selections > MAX_SELECTIONS)
            {
              fail (self, "Too many router selections");
              return;
            }
        }
      else
        {
          self->handshake_bytes += used;
          if (self->handshake_bytes > EXG_SOCKS_MAX_HANDSHAKE)
            {
              fail (self, "Handshake too large");
              return;
            }
        }

      switch (msg.kind)
        {
        case EXG_SOCKS_MSG_GREETING:
          handle_greeting (self, &msg);
          break;
        case EXG_SOCKS_MSG_AUTH:
          handle_auth (self, &msg);
          break;
        case EXG_SOCKS_MSG_SELECT:
          handle_select (self, &msg);
          break;
        case EXG_SOCKS_MSG_REQUEST:
        default:
          handle_request (self, &msg);
          return;
        }
    }
}

/* Reads what the client has.  Returns FALSE when the session closed. */
static gboolean
read_client (ExgSession *self)
{
  g_autoptr(GError) error = NULL;
  gssize n;

  if (self->buf == NULL)
    {
      self->cap = HANDSHAKE_BUFFER;
      self->buf = g_malloc (self->cap);
      self->len = 0;
    }
  else if (self->len == self->cap)
    {
      if (self->info->state == EXG_CONN_STATE_HANDSHAKE ||
          self->cap >= PENDING_MAX)
        return TRUE;
      self->cap = MIN (self->cap * 2, PENDING_MAX);
      self->buf = g_realloc (self->buf, self->cap);
    }

  n = g_socket_receive_with_blocking (self->socket,
                                      (char *) self->buf + self->len,
                                      self->cap - self->len, FALSE, NULL, &error);
  if (n < 0)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return TRUE;
      fail (self, error->message);
      return FALSE;
    }
  if (n == 0)
    {
      self->client_eof = TRUE;
      /* like tor: a client that closes before its request is answered
       * gives it up; any exit work under way is cancelled */
      if (self->info->state == EXG_CONN_STATE_HANDSHAKE)
        exg_session_close (self);
      else
        client_went_away (self);
      return FALSE;
    }
  self->len += (gsize) n;
  return TRUE;
}

/* The deadline passed: the handshake's, or the exit's */
static void
on_deadline (ExgSession *self)
{
  g_autoptr(ExgSession) keep = g_object_ref (self);

  if (self->closed)
    return;
  if (self->info->state == EXG_CONN_STATE_HANDSHAKE)
    {
      g_debug ("Connection %" G_GUINT64_FORMAT ": handshake timed out",
               self->info->id);
      fail (self, "Handshake timed out");
    }
  else if (self->busy_since != 0)
    {
      gint64 deadline = self->busy_since + EXIT_TIMEOUT_SECONDS * G_USEC_PER_SEC;

      /* the handshake deadline left in place: now the exit's */
      if (g_get_monotonic_time () < deadline)
        deadline_set (self, deadline);
      else
        {
          g_autoptr(GError) error =
            g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                         "The exit did not answer within %d seconds", EXIT_TIMEOUT_SECONDS);

          g_cancellable_cancel (self->cancellable);
          if (self->command == EXG_SOCKS_CMD_RESOLVE ||
              self->command == EXG_SOCKS_CMD_RESOLVE_PTR)
            {
              g_autofree char *query = target_host (&self->target);

              exg_activity_add_lookup (exg_server_get_activity (self->server),
                                       self->command == EXG_SOCKS_CMD_RESOLVE
                                         ? EXG_LOOKUP_FORWARD : EXG_LOOKUP_REVERSE,
                                       query, NULL, error->message, self->router);
            }
          fail_request (self, error, 0);
        }
    }
}

static void
on_client_event (ExgSession   *self,
                 GIOCondition  revents)
{
  g_autoptr(ExgSession) keep = g_object_ref (self);

  if (self->info->state == EXG_CONN_STATE_HANDSHAKE)
    {
      if (read_client (self))
        process_buffer (self);
      return;
    }

  /* connecting or resolving */
  if (revents & G_IO_IN)
    {
      if (read_client (self) && !self->closed)
        watch_client_while_busy (self);
      return;
    }
  if (revents & (G_IO_HUP | G_IO_ERR))
    client_went_away (self);
}

void
exg_session_start (ExgSession *self)
{
  g_autoptr(ExgSession) keep = NULL;
  guint timeout;
  gint64 deadline = -1;

  g_return_if_fail (EXG_IS_SESSION (self));

  timeout = exg_server_get_handshake_timeout (self->server);
  if (timeout > 0)
    deadline = g_get_monotonic_time () + (gint64) timeout * G_USEC_PER_SEC;
  keep = g_object_ref (self);
  if (!watch_start (self, G_IO_IN | G_IO_HUP | G_IO_ERR, deadline))
    {
      int errsv = errno;

      g_message ("Connection %" G_GUINT64_FORMAT ": cannot watch the client: %s",
                 self->info->id, g_strerror (errsv));
      fail (self, g_strerror (errsv));
      return;
    }

  /* Clients send their greeting right after connecting, so under load it
   * is usually here by the time the connection is accepted: read it now
   * rather than one main-loop iteration later. */
  if (read_client (self))
    process_buffer (self);
}
