/* exg-session.c: one SOCKS client, from the first byte to the close.
 *
 *   accept → HANDSHAKE: read into a small buffer, feed the parser
 *              (greeting → [auth] → [E0 selections] → request)
 *          → CONNECTING / RESOLVING: the exit works; the client socket is
 *              still watched, so a client that goes away cancels it
 *          → OPEN: ExgRelay pumps bytes both ways
 *          → closed: the host's closed () is called once and the server
 *              drops us.
 *
 * No GSource per session: the client descriptor is watched through the
 * context's shared epoll poller (ExgPoller) from the first byte, and the
 * relay takes that registration over in place; the deadlines (the
 * handshake's, then the exit's) sit in one coarse timer per context
 * (ExgDeadline).
 * Attaching or destroying a GSource that watches a descriptor writes the
 * main context's wakeup eventfd and makes it rebuild its poll set, which
 * cost four eventfd writes per connection; an epoll_ctl costs one syscall
 * and nothing else, and a deadline costs none.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-session-private.h"

#include "exg-deadline.h"
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
#include <unistd.h>

/* Room for the largest handshake message (EXG_SOCKS_MAX_HANDSHAKE) twice
 * over, and what a client pipelines with it (the buffer grows for data
 * after the request).  1 KiB stays within glibc's per-thread cache, where
 * 2 KiB cost 2,000 instructions more per connection in malloc and free. */
#define HANDSHAKE_BUFFER 1024
/* E0 selections are answered one by one; a client that keeps sending
 * them without ever asking for a connection is dropped. */
#define MAX_SELECTIONS 256


G_DEFINE_FINAL_TYPE (ExgSession, exg_session, G_TYPE_OBJECT)

static void process_buffer (ExgSession *self);

static void on_deadline (gpointer user_data);

/* Made on first use: most sessions connect, and a dial needs none */
GCancellable *
exg_session_get_cancellable_ (ExgSession *self)
{
  if (self->cancellable == NULL)
    self->cancellable = g_cancellable_new ();
  return self->cancellable;
}

/* Stops what the exit was asked to do: the connect, a lookup */
void
exg_session_stop_exit_work_ (ExgSession *self)
{
  if (self->dial != NULL)
    exg_dialer_dial_cancel (g_steal_pointer (&self->dial));
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
}

/* @deadline: monotonic µs, or -1 for none */
void
exg_session_deadline_set_ (ExgSession *self,
              gint64      deadline)
{
  exg_deadline_set (&self->deadline, deadline);
}

/* The client descriptor in the poller: edge-triggered, registered once
 * for everything (EXG_POLLER_STREAM_EVENTS), as the relay keeps it.  So
 * the session remembers whether data (or EOF) may be waiting: set by an
 * event, cleared by a short read or EAGAIN; and it reads until then
 * whenever it reads at all. */
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
  if (revents == 0)
    return;   /* room to write: the session's writes are small */
  self->client_readable = TRUE;
  /* a FIN: a short read no longer means there is nothing left to read */
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
    self->client_fin = TRUE;
  on_client_event (self, revents);
}

static gboolean
watch_start (ExgSession *self,
             gint64      deadline)
{
  g_assert (!self->watching);

  self->poller = exg_poller_get_default ();
  /* the descriptor accept(2) just gave */
  if (!exg_poller_add_new (self->poller, self->fd, EXG_POLLER_STREAM_EVENTS,
                           on_client_poll, self))
    return FALSE;
  self->watching = TRUE;
  exg_session_deadline_set_ (self, deadline);
  return TRUE;
}

static void
watch_stop (ExgSession *self)
{
  exg_session_deadline_set_ (self, -1);
  if (!self->watching)
    return;
  self->watching = FALSE;
  exg_poller_remove (self->poller, self->fd);
}

/* Leaves the descriptor registered for the relay, which takes it over
 * right away: as it is when nothing waits to be read (no syscall), else
 * with one EPOLL_CTL_MOD (not a DEL and an ADD). */
void
exg_session_watch_hand_over_ (ExgSession *self)
{
  exg_session_deadline_set_ (self, -1);
  if (!self->watching)
    return;
  self->watching = FALSE;
  exg_poller_hold (self->poller, self->fd);
}

static gboolean
unsafe_logging (ExgSession *self)
{
  return self->host->unsafe_logging;
}

/* Privacy: a target appears in logs only with unsafe logging on. */
const char *
exg_session_safe_target_ (ExgSession *self)
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
  g_assert (exg_deadline_get (&self->deadline) == -1);

  g_assert (self->dial == NULL);
  g_assert (self->exit_fd < 0 && self->exit_conn == NULL);

  g_clear_object (&self->router);
  g_clear_object (&self->selected);
  g_clear_object (&self->cancellable);
  if (self->fd >= 0)
    close (self->fd);
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
}

static void
exg_session_init (ExgSession *self)
{
  self->fd = -1;
  exg_socks_parser_init (&self->parser);
  exg_deadline_init (&self->deadline, on_deadline, self);
}

ExgSession *
exg_session_new (const ExgSessionHost *host,
                 int                   fd,
                 const char           *client)
{
  ExgSession *self;

  g_return_val_if_fail (host != NULL && EXG_IS_DIALER (host->dialer), NULL);
  g_return_val_if_fail (EXG_IS_ACTIVITY (host->activity), NULL);
  g_return_val_if_fail (fd >= 0, NULL);

  self = g_object_new (EXG_TYPE_SESSION, NULL);
  self->host = host;
  self->fd = fd;
  self->exit_fd = -1;

  self->info = exg_conn_info_ref (exg_activity_add_connection (host->activity,
                                                               client));
  return self;
}

guint64
exg_session_get_id (ExgSession *self)
{
  g_return_val_if_fail (EXG_IS_SESSION (self), 0);
  return self->info->id;
}

void
exg_session_set_state_ (ExgSession   *self,
           ExgConnState  state)
{
  if (self->info->state == state)
    return;
  self->info->state = state;
  exg_activity_connection_changed (self->host->activity,
                                   self->info);
}

void
exg_session_set_exit_ (ExgSession *self,
          ExgRouter  *router)
{
  if (router == self->router && (router == NULL || self->info->exit_id != NULL))
    return;   /* the same exit again (chosen, then connected): nothing new */
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
gboolean
exg_session_send_bytes_ (ExgSession   *self,
            const guint8 *data,
            gsize         len)
{
  gssize n;

  if (len == 0)
    return TRUE;
  do
    n = send (self->fd, data, len, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
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
      gssize n = recv (self->fd, sink, sizeof sink, 0);

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

  exg_session_stop_exit_work_ (self);
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
      else if (self->exit_fd >= 0)
        {
          /* held by its dial for the relay: not taken over after all */
          exg_poller_remove (exg_poller_get_default (), self->exit_fd);
          close (self->exit_fd);
        }
      g_clear_object (&self->exit_conn);
      self->exit_fd = -1;
      /* -1 once a relay took it over: the relay has closed it */
      if (self->fd >= 0)
        {
          if (!self->client_eof)
            drain_client (self);
          close (self->fd);
          self->fd = -1;
        }
    }
  g_clear_pointer (&self->buf, g_free);
  self->len = self->cap = 0;

  if (self->info->state != EXG_CONN_STATE_FAILED)
    self->info->state = EXG_CONN_STATE_CLOSED;
  self->info->end_time = g_get_real_time ();

  activity = self->host->activity;
  exg_activity_connection_changed (activity, self->info);
  exg_activity_remove_connection (activity, self->info);

  self->host->closed (self, self->host->user_data);
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
void
exg_session_client_went_away_ (ExgSession *self)
{
  exg_session_close (self);
}

/* A failed request: the reply tor would give, then close. */
void
exg_session_fail_request_ (ExgSession   *self,
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
  exg_session_send_bytes_ (self, out, n);

  g_debug ("Connection %" G_GUINT64_FORMAT ": request for %s failed (reply %02x): %s",
           self->info->id, exg_session_safe_target_ (self),
           self->version == 4 ? EXG_SOCKS4_REPLY_REJECTED : v5_code,
           safe_error (self, error));
  self->info->socks_reply = v5_code;
  fail (self, error != NULL ? error->message : NULL);
}

static gboolean
equal_in_constant_time (const char *a,
                        const char *b)
{
  gsize la = strlen (a);
  gsize lb = strlen (b);
  guint8 diff = la != lb;

  for (gsize i = 0; i < MAX (la, lb); i++)
    diff |= (guint8) (a[MIN (i, la)] ^ b[MIN (i, lb)]);
  return diff == 0;
}

/* RFC 1929: with no password configured any credentials will do */
static gboolean
check_credentials (const ExgSessionHost *host,
                   const char           *username,
                   const char           *password)
{
  if (host->password == NULL)
    return TRUE;
  if (host->username != NULL &&
      !equal_in_constant_time (host->username, username))
    return FALSE;
  return equal_in_constant_time (host->password, password);
}

static void
handle_greeting (ExgSession        *self,
                 const ExgSocksMsg *msg)
{
  gboolean password_required = self->host->password != NULL;
  guint8 out[2];
  guint8 method;
  gsize n;

  self->version = 5;
  method = exg_socks5_choose_method (msg->methods, msg->n_methods,
                                     password_required, !password_required);
  n = exg_socks5_method_encode (out, sizeof out, method);
  if (!exg_session_send_bytes_ (self, out, n) || method == EXG_SOCKS_METHOD_NO_ACCEPTABLE)
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
  ok = check_credentials (self->host, msg->username, msg->password);

  g_free (self->info->username);
  self->info->username = g_strdup (msg->username);

  n = exg_socks5_auth_status_encode (out, sizeof out, ok);
  if (!exg_session_send_bytes_ (self, out, n) || !ok)
    {
      fail (self, "Authentication failed");
      return;
    }
  /* the parser has moved on to the request by itself */
  exg_activity_connection_changed (self->host->activity,
                                   self->info);
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
    router = exg_dialer_pick (self->host->dialer, &sel, &error);

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

  if (!exg_session_send_bytes_ (self, out, n))
    exg_session_client_went_away_ (self);
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
          /* the parser rejects a handshake over EXG_SOCKS_MAX_HANDSHAKE
           * itself; a full buffer is only our own bound */
          if (self->len >= self->cap)
            fail (self, "Handshake too large");
          return;

        case EXG_PARSE_HTTP:
          page = exg_http_page_get (&page_len);
          exg_session_send_bytes_ (self, page, page_len);
          fail (self, "Not SOCKS: an HTTP request");
          return;

        case EXG_PARSE_REJECT:
          exg_session_send_bytes_ (self, msg.reply, msg.reply_len);
          fail (self, "Malformed handshake");
          return;

        case EXG_PARSE_OK:
        default:
          break;
        }

      consume (self, used);
      /* selections are not part of the handshake the parser bounds */
      if (msg.kind == EXG_SOCKS_MSG_SELECT &&
          ++self->n_selections > MAX_SELECTIONS)
        {
          fail (self, "Too many router selections");
          return;
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
          exg_session_handle_request_ (self, &msg);
          return;
        }
    }
}

/* Nothing waits to be read: until the next event, and for the relay */
static void
client_drained (ExgSession *self)
{
  self->client_readable = FALSE;
  exg_poller_clear_ready (self->poller, self->fd, EPOLLIN | EPOLLRDHUP);
}

/* One read.  Returns the bytes read, 0 if none (nothing waiting, or no
 * room), -1 if the session failed or closed. */
static gssize
read_client (ExgSession *self)
{
  gsize room;
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
        return 0;
      self->cap = MIN (self->cap * 2, PENDING_MAX);
      self->buf = g_realloc (self->buf, self->cap);
    }

  room = self->cap - self->len;
  do
    n = recv (self->fd, self->buf + self->len, room, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      int errsv = errno;

      if (errsv == EAGAIN || errsv == EWOULDBLOCK)
        {
          client_drained (self);
          return 0;
        }
      fail (self, g_strerror (errsv));
      return -1;
    }
  if (n == 0)
    {
      self->client_eof = TRUE;
      /* like tor: a client that closes before its request is answered
       * gives it up; any exit work under way is cancelled */
      if (self->info->state == EXG_CONN_STATE_HANDSHAKE)
        exg_session_close (self);
      else
        exg_session_client_went_away_ (self);
      return -1;
    }
  /* a short read took all there was: no second recv for its EAGAIN */
  if ((gsize) n < room && !self->client_fin)
    client_drained (self);
  self->len += (gsize) n;
  return n;
}

/* Reads while something may be waiting, feeding the handshake parser;
 * what comes after the request stays in the buffer for the relay (up to
 * PENDING_MAX: past that the relay reads it).  Bounded: every turn reads
 * bytes into a buffer of bounded size, or ends. */
static void
read_and_process (ExgSession *self)
{
  while (self->client_readable && !self->closed)
    {
      gssize n = read_client (self);

      if (n < 0)
        return;
      if (self->info->state == EXG_CONN_STATE_HANDSHAKE)
        process_buffer (self);
      if (n == 0)
        return;
    }
}

/* The deadline passed: the handshake's, or the exit's */
static void
on_deadline (gpointer user_data)
{
  ExgSession *self = user_data;
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
        exg_session_deadline_set_ (self, deadline);
      else
        {
          g_autoptr(GError) error =
            g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                         "The exit did not answer within %d seconds", EXIT_TIMEOUT_SECONDS);

          exg_session_stop_exit_work_ (self);
          if (self->command == EXG_SOCKS_CMD_RESOLVE ||
              self->command == EXG_SOCKS_CMD_RESOLVE_PTR)
            {
              g_autofree char *query = exg_session_target_host_ (&self->target);

              exg_activity_add_lookup (self->host->activity,
                                       self->command == EXG_SOCKS_CMD_RESOLVE
                                         ? EXG_LOOKUP_FORWARD : EXG_LOOKUP_REVERSE,
                                       query, NULL, error->message, self->router);
            }
          exg_session_fail_request_ (self, error, 0);
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
      read_and_process (self);
      return;
    }

  /* connecting or resolving: data is kept for the relay; EOF or an error
   * means the client went away */
  read_and_process (self);
  if (!self->closed && (revents & (G_IO_HUP | G_IO_ERR)))
    exg_session_client_went_away_ (self);
}

void
exg_session_start (ExgSession *self)
{
  g_autoptr(ExgSession) keep = NULL;
  guint timeout;
  gint64 deadline = -1;

  g_return_if_fail (EXG_IS_SESSION (self));

  timeout = self->host->handshake_timeout;
  if (timeout > 0)
    deadline = g_get_monotonic_time () + (gint64) timeout * G_USEC_PER_SEC;
  keep = g_object_ref (self);
  if (!watch_start (self, deadline))
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
  self->client_readable = TRUE;
  read_and_process (self);
}
