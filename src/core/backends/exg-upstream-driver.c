/* exg-upstream-driver.c: one handshake with an upstream proxy.
 *
 * Every kind of upstream and every request goes the same way: a
 * non-blocking socket registered once, edge-triggered, with the context's
 * epoll poller; the codec of src/proto (exg-socks-client, exg-http-connect)
 * says what to send and how much to read; send(2) and recv(2) on the
 * descriptor do it.  GSocketClient, the streams' async calls and their
 * GTasks and GSources would cost tens of thousands of instructions and a
 * dozen system calls per connection, more than the rest of the session.
 *
 * Not one byte past the proxy's answer is read: SOCKS replies are read
 * exactly (the codec says how many bytes are missing), and an HTTP head is
 * peeked at, parsed, and then received up to its blank line only.  After
 * a CONNECT the socket is left parked on the poller for the relay, which
 * takes it over with one EPOLL_CTL_MOD.
 *
 * Each handshake, TCP connect included, has a deadline (ExgDeadline) on
 * the context the task runs in: one timer per context serves them and the
 * sessions, so a deadline costs no GSource and no wakeup.
 *
 * Nagle is turned off only once the tunnel is up: each message goes out
 * after the proxy's answer to the one before, which acknowledged it.
 *
 * A handshake ends in one of two ways.  Started for a GTask, it returns
 * what the task's caller expects: a CONNECT a GSocketConnection, made on
 * the next iteration of the context.  Started as a dial (the server's
 * sessions), a CONNECT ends in the dial's function with the bare socket,
 * held on the poller for the relay: no GSocket, no task, no idle.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-upstream-driver.h"

#include "exg-deadline.h"
#include "exg-error.h"
#include "exg-http-connect.h"
#include "exg-poller.h"
#include "exg-socket-util.h"
#include "exg-socks-client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* An HTTP head is peeked at in pieces of this size. */
#define HTTP_PEEK_SIZE 2048

typedef struct
{
  ExgBackendDial        dial;           /* first: a dial's (func NULL when
                                         * the handshake is a task's) */
  GTask                *task;           /* owned; NULL once returned, and
                                         * for a dial */
  gboolean              ended;          /* stopped: reports nothing more */
  gboolean              starting;       /* a dial inside its start */
  GError               *error;          /* owned, nullable: a dial's failure
                                         * while starting */
  ExgUpstreamOp         op;
  ExgRouterKind         kind;
  char                 *proxy_name;     /* owned: for error messages */
  GSocketConnection    *conn;           /* owned, nullable: a named proxy's */
  GSocket              *socket;         /* owned, nullable: a task's, or
                                         * the named proxy's connection's */
  int                   fd;             /* owned when neither socket nor
                                         * conn is (a dial's), else theirs */
  ExgPoller            *poller;         /* not owned; NULL until watched */
  GSource              *cancel_source;  /* owned, nullable */
  ExgDeadline           deadline;       /* the whole handshake's */
  GCancellable         *connecting;     /* owned, nullable: a named connect */
  gboolean              connect_pending;
  gboolean              tcp_pending;    /* connect(2) in progress */
  const guint8         *out;            /* into socks or http_request */
  gsize                 out_len;
  gsize                 out_sent;
  char                 *http_request;   /* owned, nullable */
  ExgHttpConnectParser  http;
  ExgSocksClient        socks;
} Handshake;

/* Protocol trouble during a RESOLVE means "this upstream cannot do it":
 * the client hears 07, never an answer from a local lookup. */
static GError *
protocol_error (const Handshake *h,
                const char      *what)
{
  if (h->op == EXG_UPSTREAM_RESOLVE || h->op == EXG_UPSTREAM_RESOLVE_PTR)
    return g_error_new (EXG_ERROR, EXG_ERROR_UNSUPPORTED,
                        "The upstream cannot resolve names: %s", what);
  return g_error_new (G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                      "The upstream proxy broke the protocol: %s", what);
}

static GError *
socks_failure_to_error (const Handshake *h)
{
  const ExgSocksClient *c = &h->socks;
  gboolean resolving = h->op != EXG_UPSTREAM_CONNECT;

  switch (c->failure)
    {
    case EXG_SOCKS_CLIENT_FAILURE_INVALID_REQUEST:
      return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                  "The request does not fit in a SOCKS message");
    case EXG_SOCKS_CLIENT_FAILURE_NO_METHOD:
      return g_error_new_literal (h->op == EXG_UPSTREAM_CHECK ? G_IO_ERROR : EXG_ERROR,
                                  h->op == EXG_UPSTREAM_CHECK ? G_IO_ERROR_PROXY_FAILED
                                                              : EXG_ERROR_NOT_ALLOWED,
                                  "The upstream accepts none of our methods");
    case EXG_SOCKS_CLIENT_FAILURE_AUTH_REJECTED:
      return g_error_new_literal (EXG_ERROR, EXG_ERROR_NOT_ALLOWED,
                                  "The upstream refused our credentials");
    case EXG_SOCKS_CLIENT_FAILURE_REFUSED:
      if (c->version == 5)
        return exg_error_from_socks5_reply (c->reply_code, resolving);
      /* SOCKS4 says only "rejected": for a RESOLVE that means "not found",
       * else a general failure */
      if (resolving)
        return g_error_new_literal (G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND,
                                    "Name not found by the upstream proxy");
      return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                                  "The SOCKS4a upstream refused");
    case EXG_SOCKS_CLIENT_FAILURE_MALFORMED:
    case EXG_SOCKS_CLIENT_FAILURE_NO_ANSWER:
    case EXG_SOCKS_CLIENT_FAILURE_NONE:
    default:
      return protocol_error (h, exg_socks_client_failure_to_string (c->failure));
    }
}

static GError *
http_failure_to_error (const Handshake *h)
{
  switch (h->http.failure)
    {
    case EXG_HTTP_CONNECT_FAILURE_REFUSED:
      return exg_error_from_http_status (h->http.status);
    case EXG_HTTP_CONNECT_FAILURE_TOO_LONG:
      return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                                  "The HTTP proxy sent oversized headers");
    case EXG_HTTP_CONNECT_FAILURE_MALFORMED:
    case EXG_HTTP_CONNECT_FAILURE_NONE:
    default:
      return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                                  "The upstream is not an HTTP proxy");
    }
}

/* A failure to reach the proxy: it is the proxy that failed, not the
 * target that refused, so the client hears 01 rather than 05 (and the
 * registry tries another router). */
static GError *
unreachable_error (const Handshake *h,
                   const GError    *cause)
{
  if (g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return g_error_copy (cause);
  return g_error_new (G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                      "Cannot reach the upstream proxy %s: %s",
                      h->proxy_name, cause->message);
}

/* ------------------------------------------------------------------------
 * Ending a handshake
 * ------------------------------------------------------------------------ */

static void
handshake_free (Handshake *h)
{
  if (h->socket == NULL && h->conn == NULL && h->fd >= 0)
    close (h->fd);
  g_clear_object (&h->connecting);
  g_clear_object (&h->conn);
  g_clear_object (&h->socket);
  g_clear_error (&h->error);
  g_free (h->http_request);
  g_free (h->proxy_name);
  g_free (h);
}

/* Stops @h: no more events, deadline or cancellation.  Returns its task
 * (NULL for a dial).  The socket stays registered when @keep_socket. */
static GTask *
handshake_stop (Handshake *h,
                gboolean   keep_socket)
{
  GTask *task = g_steal_pointer (&h->task);

  h->ended = TRUE;
  if (h->cancel_source != NULL)
    {
      g_source_destroy (h->cancel_source);
      g_clear_pointer (&h->cancel_source, g_source_unref);
    }
  exg_deadline_clear (&h->deadline);
  if (!keep_socket && h->poller != NULL)
    exg_poller_remove (h->poller, h->fd);
  h->poller = NULL;
  return task;
}

/* Takes @h apart; returns its task, for the caller to return (after
 * that its callback may start anything).  The socket stays registered
 * (parked) and owned by @h's fields when @keep_socket. */
static GTask *
handshake_release (Handshake *h,
                   gboolean   keep_socket)
{
  GTask *task = handshake_stop (h, keep_socket);

  if (h->connect_pending)
    g_cancellable_cancel (h->connecting);   /* its callback frees @h */
  else if (!keep_socket)
    handshake_free (h);
  return task;
}

static void
handshake_fail (Handshake *h,
                GError    *error)
{
  ExgBackendDial dial = h->dial;
  GTask *task;

  if (dial.func != NULL && h->starting)
    {
      /* never from inside exg_upstream_dial_start (), which reports it
       * from the main loop */
      handshake_stop (h, FALSE);
      if (h->error == NULL)
        h->error = error;
      else
        g_error_free (error);
      return;
    }

  task = handshake_release (h, FALSE);
  if (dial.func != NULL)
    {
      dial.func (dial.user_data, -1, NULL, NULL, error);
      return;
    }
  g_task_return_error (task, error);
  g_object_unref (task);
}

static void
handshake_fail_errno (Handshake *h,
                      int        errsv)
{
  handshake_fail (h, g_error_new (G_IO_ERROR, g_io_error_from_errno (errsv),
                                  "Error talking to the upstream proxy: %s",
                                  g_strerror (errsv)));
}

static gboolean
return_connection_cb (gpointer user_data)
{
  GTask *task = user_data;

  g_task_return_pointer (task, g_object_ref (g_task_get_task_data (task)),
                         g_object_unref);
  /* the caller owns the connection now; the task (a GAsyncResult the
   * caller may keep) does not need to */
  g_task_set_task_data (task, NULL, NULL);
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

/* A dial's tunnel is up: the socket goes to the dial's function as it
 * is, registered with the poller for the relay to take over. */
static void
dial_connected (Handshake *h)
{
  ExgBackendDial dial = h->dial;
  GSocketConnection *connection = g_steal_pointer (&h->conn);
  int fd = h->fd;
  int one = 1;

  /* edge-triggered: nothing more comes until the relay takes it over.
   * A socket of ours is held (known open until then); a named proxy's
   * connection closes its own, so it is only parked. */
  if (connection == NULL)
    exg_poller_hold (h->poller, fd);
  else
    exg_poller_park (h->poller, fd);
  (void) setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  h->fd = -1;
  handshake_release (h, TRUE);
  handshake_free (h);
  dial.func (dial.user_data, fd, connection, NULL, NULL);
}

static void
handshake_connected (Handshake *h)
{
  GMainContext *context;
  GSocketConnection *connection;
  GSource *idle;
  GTask *task;

  if (h->dial.func != NULL)
    {
      dial_connected (h);
      return;
    }

  context = g_task_get_context (h->task);
  /* edge-triggered: nothing more comes until the relay takes it over */
  exg_poller_park (h->poller, h->fd);
  /* the tunnel's first bytes may be small writes that wait for an answer
   * (a TLS hello); failure is harmless */
  g_socket_set_option (h->socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  g_socket_set_blocking (h->socket, TRUE);
  if (h->conn != NULL)
    connection = g_steal_pointer (&h->conn);
  else
    connection = g_socket_connection_factory_create_connection (h->socket);
  task = handshake_release (h, TRUE);
  handshake_free (h);
  g_task_set_task_data (task, connection, g_object_unref);

  /* Return on the next iteration of the context rather than from inside
   * this dispatch: a caller that then blocks on the tunnel (the tests do)
   * must not keep a server on the same context from accepting what the
   * upstream just connected.  An idle from the owner thread wakes
   * nothing. */
  idle = g_idle_source_new ();
  g_source_set_callback (idle, return_connection_cb, task, NULL);
  g_source_set_static_name (idle, "[exitgate] upstream connected");
  g_source_attach (idle, context);
  g_source_unref (idle);
}

static void
handshake_succeed (Handshake *h)
{
  const ExgSocksAddr *bound = &h->socks.bound;
  GTask *task;

  switch (h->op)
    {
    case EXG_UPSTREAM_CONNECT:
      handshake_connected (h);
      return;

    case EXG_UPSTREAM_RESOLVE:
      {
        GSocketFamily family = bound->type == EXG_SOCKS_ATYP_IPV6
                               ? G_SOCKET_FAMILY_IPV6 : G_SOCKET_FAMILY_IPV4;
        GInetAddress *addr = g_inet_address_new_from_bytes (bound->ip, family);

        task = handshake_release (h, FALSE);
        g_task_return_pointer (task, g_list_prepend (NULL, addr),
                               (GDestroyNotify) g_resolver_free_addresses);
      }
      break;

    case EXG_UPSTREAM_RESOLVE_PTR:
      {
        char *name = g_strdup (bound->host);

        task = handshake_release (h, FALSE);
        g_task_return_pointer (task, name, g_free);
      }
      break;

    case EXG_UPSTREAM_CHECK:
    default:
      task = handshake_release (h, FALSE);
      g_task_return_boolean (task, TRUE);
      break;
    }
  g_object_unref (task);
}

/* ------------------------------------------------------------------------
 * The exchange
 * ------------------------------------------------------------------------ */

/* The SOCKS machine moved on: queues its next message, or ends.  Returns
 * FALSE when the handshake ended (@h is gone). */
static gboolean
socks_advance (Handshake            *h,
               ExgSocksClientStatus  st)
{
  switch (st)
    {
    case EXG_SOCKS_CLIENT_SEND:
      /* a check asks only whether the proxy speaks SOCKS5 and takes us */
      if (h->op == EXG_UPSTREAM_CHECK && h->out != NULL)
        {
          handshake_succeed (h);
          return FALSE;
        }
      h->out = exg_socks_client_take_output (&h->socks, &h->out_len);
      h->out_sent = 0;
      return TRUE;
    case EXG_SOCKS_CLIENT_READ:
      return TRUE;
    case EXG_SOCKS_CLIENT_DONE:
      handshake_succeed (h);
      return FALSE;
    case EXG_SOCKS_CLIENT_FAILED:
    default:
      handshake_fail (h, socks_failure_to_error (h));
      return FALSE;
    }
}

/* Reads what the SOCKS machine waits for.  Returns FALSE when there is
 * nothing more to read now or the handshake ended. */
static gboolean
socks_read (Handshake *h)
{
  guint8 in[sizeof h->socks.in];
  gsize consumed = 0;
  ssize_t n;

  n = recv (h->fd, in, exg_socks_client_get_wanted (&h->socks), 0);
  if (n < 0)
    {
      if (errno == EINTR)
        return TRUE;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        handshake_fail_errno (h, errno);
      return FALSE;
    }
  if (n == 0)
    {
      handshake_fail (h, protocol_error (h, "connection closed"));
      return FALSE;
    }
  return socks_advance (h, exg_socks_client_feed (&h->socks, in, (gsize) n,
                                                  &consumed));
}

/* Peeks at the HTTP head, and takes from the socket only what belongs to
 * it.  Returns FALSE when there is nothing more to read now or the
 * handshake ended. */
static gboolean
http_read (Handshake *h)
{
  guint8 peek[HTTP_PEEK_SIZE];
  gsize consumed = 0;
  ExgHttpConnectResult r;
  ssize_t n;

  n = recv (h->fd, peek, sizeof peek, MSG_PEEK);
  if (n < 0)
    {
      if (errno == EINTR)
        return TRUE;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        handshake_fail_errno (h, errno);
      return FALSE;
    }
  if (n == 0)
    {
      handshake_fail (h, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                                              "The HTTP proxy closed the connection"));
      return FALSE;
    }

  r = exg_http_connect_parser_feed (&h->http, peek, (gsize) n, &consumed);
  /* the peeked bytes are there: this takes exactly them, or fails */
  n = recv (h->fd, peek, consumed, 0);
  if (n < 0 || (gsize) n != consumed)
    {
      handshake_fail_errno (h, n < 0 ? errno : EIO);
      return FALSE;
    }

  switch (r)
    {
    case EXG_HTTP_CONNECT_NEED_MORE:
      return TRUE;
    case EXG_HTTP_CONNECT_DONE:
      handshake_succeed (h);
      return FALSE;
    case EXG_HTTP_CONNECT_FAILED:
    default:
      handshake_fail (h, http_failure_to_error (h));
      return FALSE;
    }
}

/* Sends what is queued, then reads the answer, until the socket has
 * nothing more to give (edge-triggered: the next event comes when
 * something changes) or the handshake ends. */
static void
handshake_pump (Handshake *h)
{
  for (;;)
    {
      if (h->out_sent < h->out_len)
        {
          ssize_t n = send (h->fd, h->out + h->out_sent,
                            h->out_len - h->out_sent, MSG_NOSIGNAL);

          if (n < 0)
            {
              if (errno == EINTR)
                continue;
              if (errno != EAGAIN && errno != EWOULDBLOCK)
                handshake_fail_errno (h, errno);
              return;
            }
          h->out_sent += (gsize) n;
          if (h->out_sent < h->out_len)
            continue;
          /* The answer cannot be there yet, and when it comes it raises
           * an edge of its own: a recv(2) now would mostly be EAGAIN. */
          return;
        }

      if (h->kind == EXG_ROUTER_KIND_HTTP_CONNECT ? !http_read (h)
                                                  : !socks_read (h))
        return;
    }
}

/* TCP is up: the first message, or for a check that needs none, done. */
static void
handshake_tcp_up (Handshake *h)
{
  if (h->op == EXG_UPSTREAM_CHECK && h->kind != EXG_ROUTER_KIND_SOCKS5)
    {
      handshake_succeed (h);
      return;
    }
  if (h->kind == EXG_ROUTER_KIND_HTTP_CONNECT)
    {
      h->out = (const guint8 *) h->http_request;
      h->out_len = strlen (h->http_request);
      h->out_sent = 0;
    }
  else
    {
      h->out = exg_socks_client_take_output (&h->socks, &h->out_len);
      h->out_sent = 0;
    }
  handshake_pump (h);
}

static void
handshake_event_cb (gpointer user_data,
                    guint32  events)
{
  Handshake *h = user_data;

  if (h->tcp_pending)
    {
      GError *error = NULL;

      h->tcp_pending = FALSE;
      /* a task's GSocket learns it is connected; a bare socket is asked
       * only when the event says something went wrong */
      if (h->socket != NULL ? !g_socket_check_connect_result (h->socket, &error)
                            : (events & (EPOLLERR | EPOLLHUP)) != 0 &&
                              !exg_socket_connect_result (h->fd, &error))
        {
          GError *wrapped = unreachable_error (h, error);

          g_error_free (error);
          handshake_fail (h, wrapped);
          return;
        }
      handshake_tcp_up (h);
      return;
    }
  handshake_pump (h);
}

/* Watches the socket: once, for the whole exchange: EPOLLOUT when
 * connected (EPOLLERR if that failed), EPOLLIN as answers come, EPOLLRDHUP
 * if the proxy hangs up.  FALSE when the handshake ended. */
static gboolean
handshake_watch (Handshake *h)
{
  ExgPoller *poller = exg_poller_get_default ();

  if (!exg_poller_add_new (poller, h->fd,
                           EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                           handshake_event_cb, h))
    {
      handshake_fail_errno (h, errno);
      return FALSE;
    }
  h->poller = poller;
  return TRUE;
}

static void
named_connected_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Handshake *h = user_data;
  g_autoptr(GError) error = NULL;
  GSocketConnection *conn;

  conn = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  h->connect_pending = FALSE;
  if (h->ended)
    {
      /* ended meanwhile (cancelled, timed out) */
      g_clear_object (&conn);
      handshake_free (h);
      return;
    }
  if (conn == NULL)
    {
      handshake_fail (h, unreachable_error (h, error));
      return;
    }
  h->conn = conn;
  h->socket = g_object_ref (g_socket_connection_get_socket (conn));
  h->fd = g_socket_get_fd (h->socket);
  if (handshake_watch (h))
    handshake_tcp_up (h);
}

/* ------------------------------------------------------------------------
 * Deadlines
 * ------------------------------------------------------------------------ */

static void
handshake_deadline_cb (gpointer user_data)
{
  handshake_fail (user_data,
                  g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                       "The upstream proxy did not answer in time"));
}

static gboolean
handshake_cancelled_cb (GCancellable *cancellable,
                        gpointer      user_data)
{
  GError *error = NULL;

  g_cancellable_set_error_if_cancelled (cancellable, &error);
  handshake_fail (user_data, error);
  return G_SOURCE_REMOVE;
}

/* Bounds @h by @seconds on the thread-default context (a task's was just
 * made there), on the context's one deadline timer; and a task's by its
 * cancellable. */
static void
handshake_arm (Handshake *h,
               guint      seconds)
{
  GCancellable *cancellable = h->task != NULL ? g_task_get_cancellable (h->task)
                                              : NULL;

  exg_deadline_init (&h->deadline, handshake_deadline_cb, h);
  exg_deadline_set (&h->deadline,
                    g_get_monotonic_time () + (gint64) seconds * G_USEC_PER_SEC);

  if (cancellable != NULL)
    {
      /* no descriptor: attaching and destroying it wakes nothing */
      h->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (h->cancel_source,
                             (GSourceFunc) (void (*) (void)) handshake_cancelled_cb,
                             h, NULL);
      g_source_set_static_name (h->cancel_source, "[exitgate] upstream handshake");
      g_source_attach (h->cancel_source, g_task_get_context (h->task));
    }
}

/* ------------------------------------------------------------------------ */

/* The target as an HTTP CONNECT authority's host. */
static char *
target_host (const ExgSocksAddr *target)
{
  char buf[INET6_ADDRSTRLEN];

  if (target->type == EXG_SOCKS_ATYP_DOMAIN)
    return g_strdup (target->host);
  if (inet_ntop (target->type == EXG_SOCKS_ATYP_IPV6 ? AF_INET6 : AF_INET,
                 target->ip, buf, sizeof buf) == NULL)
    return NULL;
  return g_strdup (buf);
}

/* "IP:PORT" of our end, as tor writes a SOURCE_ADDR; NULL if unknown. */
static char *
local_address_string (int fd)
{
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  char ip[INET6_ADDRSTRLEN];

  if (getsockname (fd, (struct sockaddr *) &local, &len) != 0)
    return NULL;
  if (local.ss_family == AF_INET)
    {
      const struct sockaddr_in *sin = (const struct sockaddr_in *) &local;

      if (inet_ntop (AF_INET, &sin->sin_addr, ip, sizeof ip) == NULL)
        return NULL;
      return g_strdup_printf ("%s:%u", ip, g_ntohs (sin->sin_port));
    }
  if (local.ss_family == AF_INET6)
    {
      const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) &local;

      if (inet_ntop (AF_INET6, &sin6->sin6_addr, ip, sizeof ip) == NULL)
        return NULL;
      return g_strdup_printf ("[%s]:%u", ip, g_ntohs (sin6->sin6_port));
    }
  return NULL;
}

/**
 * exg_upstream_target_from_host:
 * @target: (out): filled in
 * @host: an IP literal, which goes as an address, or anything else, which
 *   goes as a name for the upstream to resolve
 * @port: the target's port
 *
 * Returns: %FALSE (@error set) when @host does not fit in a SOCKS message
 */
gboolean
exg_upstream_target_from_host (ExgSocksAddr  *target,
                               const char    *host,
                               guint16        port,
                               GError       **error)
{
  gsize len = strlen (host);

  memset (target, 0, sizeof *target);
  if (inet_pton (AF_INET, host, target->ip) == 1)
    target->type = EXG_SOCKS_ATYP_IPV4;
  else if (inet_pton (AF_INET6, host, target->ip) == 1)
    target->type = EXG_SOCKS_ATYP_IPV6;
  else if (len == 0 || len >= sizeof target->host)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "Invalid host name");
      return FALSE;
    }
  else
    {
      target->type = EXG_SOCKS_ATYP_DOMAIN;
      memcpy (target->host, host, len + 1);
    }
  target->port = port;
  return TRUE;
}

/* A handshake for @op with @proxy, not started. */
static Handshake *
handshake_new (const ExgUpstreamProxy *proxy,
               ExgUpstreamOp           op)
{
  Handshake *h = g_new0 (Handshake, 1);

  h->op = op;
  h->kind = proxy->kind;
  h->fd = -1;
  h->proxy_name = g_strdup_printf ("%s:%u", proxy->host, proxy->port);
  return h;
}

/* Prepares the first message, then connects to @proxy: a task's or a
 * dial's handshake alike. */
static void
handshake_begin (Handshake              *h,
                 const ExgUpstreamProxy *proxy,
                 const ExgSocksAddr     *target,
                 guint                   timeout_seconds)
{
  static const guint8 commands[] = {
    [EXG_UPSTREAM_CHECK] = EXG_SOCKS_CMD_CONNECT,
    [EXG_UPSTREAM_CONNECT] = EXG_SOCKS_CMD_CONNECT,
    [EXG_UPSTREAM_RESOLVE] = EXG_SOCKS_CMD_RESOLVE,
    [EXG_UPSTREAM_RESOLVE_PTR] = EXG_SOCKS_CMD_RESOLVE_PTR,
  };
  /* a check greets, and never sends its request */
  static const ExgSocksAddr nowhere = { .type = EXG_SOCKS_ATYP_IPV4 };
  gboolean in_progress = FALSE;
  GError *error = NULL;
  int fd;

  if (proxy->kind == EXG_ROUTER_KIND_HTTP_CONNECT)
    {
      g_autofree char *host = NULL;

      if (h->op == EXG_UPSTREAM_CONNECT)
        {
          host = target_host (target);
          h->http_request = host == NULL ? NULL
            : exg_http_connect_request_new (host, target->port, proxy->username,
                                            proxy->password, NULL);
          if (h->http_request == NULL)
            {
              handshake_fail (h, g_error_new_literal (G_IO_ERROR,
                                                      G_IO_ERROR_INVALID_ARGUMENT,
                                                      "Invalid host name"));
              return;
            }
        }
      exg_http_connect_parser_init (&h->http);
    }
  else
    {
      exg_socks_client_init (&h->socks,
                             proxy->kind == EXG_ROUTER_KIND_SOCKS4A ? 4 : 5,
                             commands[h->op], target != NULL ? target : &nowhere,
                             proxy->username, proxy->password);
      if (exg_socks_client_get_status (&h->socks) == EXG_SOCKS_CLIENT_FAILED)
        {
          handshake_fail (h, socks_failure_to_error (h));
          return;
        }
    }

  if (h->task != NULL && g_task_return_error_if_cancelled (h->task))
    {
      g_object_unref (handshake_release (h, FALSE));
      return;
    }
  handshake_arm (h, timeout_seconds);

  if (proxy->sa_len == 0)
    {
      /* a named proxy: GIO resolves and connects (the proxy's own name,
       * never a target's) */
      h->connecting = g_cancellable_new ();
      h->connect_pending = TRUE;
      g_socket_client_connect_to_host_async (proxy->client, proxy->host,
                                             proxy->port, h->connecting,
                                             named_connected_cb, h);
      return;
    }

  fd = exg_socket_connect_start (proxy->sa, proxy->sa_len, NULL,
                                 &in_progress, &error);
  if (fd >= 0 && h->task != NULL)
    {
      /* a task's tunnel ends as a GSocketConnection: wrapped at once */
      h->socket = g_socket_new_from_fd (fd, &error);
      if (h->socket == NULL)
        {
          close (fd);
          fd = -1;
        }
    }
  if (fd < 0)
    {
      GError *wrapped = unreachable_error (h, error);

      g_error_free (error);
      handshake_fail (h, wrapped);
      return;
    }
  h->fd = fd;
  if (proxy->local != NULL)
    *proxy->local = local_address_string (fd);
  if (!handshake_watch (h))
    return;
  h->tcp_pending = in_progress;
  if (!in_progress)
    handshake_tcp_up (h);
}

/**
 * exg_upstream_handshake_start:
 * @proxy: the upstream proxy
 * @op: what to do
 * @target: (nullable): the target (CONNECT), the name (RESOLVE) or the
 *   address (RESOLVE_PTR); %NULL for a check
 * @timeout_seconds: the bound on the whole handshake, TCP connect included
 * @task: (transfer full): returns as @op says
 *
 * Connects to @proxy and runs the handshake for @op on the poller of the
 * thread-default context, which must be @task's.
 */
void
exg_upstream_handshake_start (const ExgUpstreamProxy *proxy,
                              ExgUpstreamOp           op,
                              const ExgSocksAddr     *target,
                              guint                   timeout_seconds,
                              GTask                  *task)
{
  Handshake *h;

  g_return_if_fail (op == EXG_UPSTREAM_CHECK || target != NULL);

  h = handshake_new (proxy, op);
  h->task = task;
  handshake_begin (h, proxy, target, timeout_seconds);
}

/* Stops a dial whose function has not been called: nothing is reported */
static void
dial_cancel (ExgBackendDial *dial)
{
  Handshake *h = (Handshake *) dial;

  /* a named connect still pending frees @h from its callback */
  handshake_release (h, FALSE);
}

/**
 * exg_upstream_dial_start:
 * @proxy: the upstream proxy
 * @target: where to CONNECT
 * @timeout_seconds: the bound on the whole handshake, TCP connect included
 * @func: called once, as #ExgBackendDialFunc says, never from inside
 * @user_data: for @func
 *
 * A CONNECT through @proxy, on the poller of the thread-default context,
 * for a caller that relays bytes: the tunnel's socket reaches @func held
 * on the poller (exg_poller_hold ()), with the connection that owns it
 * when @proxy is a name GIO connected to.
 *
 * Returns: (transfer none): the dial, valid until @func is called or it
 *   is cancelled (exg_backend_dial_cancel ())
 */
ExgBackendDial *
exg_upstream_dial_start (const ExgUpstreamProxy *proxy,
                         const ExgSocksAddr     *target,
                         guint                   timeout_seconds,
                         ExgBackendDialFunc      func,
                         gpointer                user_data)
{
  Handshake *h;
  GError *error;

  g_return_val_if_fail (target != NULL, NULL);
  g_return_val_if_fail (func != NULL, NULL);

  h = handshake_new (proxy, EXG_UPSTREAM_CONNECT);
  exg_backend_dial_init (&h->dial, func, user_data, dial_cancel);
  h->starting = TRUE;
  handshake_begin (h, proxy, target, timeout_seconds);
  h->starting = FALSE;
  if (h->error == NULL)
    return &h->dial;

  /* it failed at once: the handshake is stopped, and the failure is
   * reported from the main loop */
  error = g_steal_pointer (&h->error);
  handshake_free (h);
  return exg_backend_dial_fail_later (error, func, user_data);
}
