/* exg-backend-upstream.c: traffic leaves from an upstream proxy.
 *
 * The destination always travels as the client gave it: a hostname goes
 * to the upstream as a hostname (SOCKS5 ATYP 3, the SOCKS4a name, the
 * CONNECT authority) and is never resolved here.
 *
 * The SOCKS5 and SOCKS4a clients are our own, built on the encoders and
 * the reply parser of src/proto, rather than GIO's GProxy ones: GLib 2.74's
 * SOCKS5 client folds replies 06, 07 and 08 into other errors (the client
 * would hear 04 or 01 instead of what the upstream said) and misreads a
 * reply whose address arrives in pieces; its SOCKS4a client leaks its
 * reply buffer on every connection.  HTTP CONNECT is not in GIO at all.
 * Every client reads exactly the reply and not one byte more, so the
 * connection handed to the relay has nothing buffered above its socket.
 *
 * RESOLVE and RESOLVE_PTR use Tor's F0/F1 extension (socks-extensions.txt
 * §2); an upstream that does not speak it makes the request fail with
 * EXG_ERROR_UNSUPPORTED (→ 07): a name is never looked up on this machine
 * on behalf of a non-direct exit.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-backend-upstream.h"

#include "exg-error.h"
#include "exg-poller.h"
#include "exg-socket-util.h"
#include "exg-socks-encode.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/* HTTP CONNECT response headers larger than this are a broken proxy. */
#define HTTP_HEADERS_MAX 16384

/* Health checks give up after this long. */
#define CHECK_TIMEOUT_SECONDS 5

/* A SOCKS handshake (TCP connect included) that takes longer than this is
 * a dead upstream: fail with a timeout (06) so that the registry can try
 * another router, rather than wait for the kernel's connect timeout. */
#define HANDSHAKE_TIMEOUT_SECONDS 30

struct _ExgBackendUpstream
{
  ExgBackend     parent_instance;

  ExgRouterKind  kind;
  char          *host;       /* owned: the upstream proxy's address */
  guint16        port;
  char          *username;   /* owned, nullable */
  char          *password;   /* owned, nullable */
  GSocketClient *client;     /* owned: enable-proxy FALSE */

  /* the upstream's address when given as an IP literal (sa_len 0
   * otherwise): SOCKS5 CONNECTs to it take the fast path */
  struct sockaddr_storage sa;
  socklen_t      sa_len;

  /* the fast path's handshake deadlines, oldest first: they all last
   * HANDSHAKE_TIMEOUT_SECONDS, so appending keeps the order */
  GQueue         deadlines;  /* of FastConnect */
  GSource       *timer;      /* owned, nullable: fires at the oldest */
};

G_DEFINE_FINAL_TYPE (ExgBackendUpstream, exg_backend_upstream, EXG_TYPE_BACKEND)

/* ------------------------------------------------------------------------
 * Reaching the upstream itself
 * ------------------------------------------------------------------------ */

static void
set_nodelay (GSocketConnection *conn)
{
  GSocket *socket = g_socket_connection_get_socket (conn);

  /* Handshakes are small writes that wait for an answer: Nagle would only
   * add round trips.  Failure is harmless. */
  g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
}

/* Wraps a failure to reach the upstream proxy: it is the proxy that
 * failed, not the target that refused, so the client hears 01 rather
 * than 05 (and the registry tries another router). */
static GError *
upstream_unreachable_error (ExgBackendUpstream *self,
                            const GError       *cause)
{
  if (g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return g_error_copy (cause);

  return g_error_new (G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                      "Cannot reach the upstream proxy %s:%u: %s",
                      self->host, self->port, cause->message);
}

/* Maps a SOCKS5 reply code from the upstream to the GError that
 * exg_error_to_socks5_reply turns back into the same code. */
static GError *
socks5_reply_to_error (guint8   code,
                       gboolean resolving)
{
  switch (code)
    {
    case EXG_SOCKS5_REPLY_NOT_ALLOWED:
      return g_error_new_literal (EXG_ERROR, EXG_ERROR_NOT_ALLOWED,
                                  "Not allowed by the upstream proxy");
    case EXG_SOCKS5_REPLY_NET_UNREACHABLE:
      return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE,
                                  "Network unreachable upstream");
    case EXG_SOCKS5_REPLY_HOST_UNREACHABLE:
      if (resolving)
        return g_error_new_literal (G_RESOLVER_ERROR,
                                    G_RESOLVER_ERROR_NOT_FOUND,
                                    "Name not found by the upstream proxy");
      return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE,
                                  "Host unreachable upstream");
    case EXG_SOCKS5_REPLY_CONN_REFUSED:
      return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
                                  "Connection refused upstream");
    case EXG_SOCKS5_REPLY_TTL_EXPIRED:
      return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                  "Timed out at the upstream proxy");
    case EXG_SOCKS5_REPLY_CMD_NOT_SUPPORTED:
    case EXG_SOCKS5_REPLY_ATYP_NOT_SUPPORTED:
      return g_error_new_literal (EXG_ERROR, EXG_ERROR_UNSUPPORTED,
                                  "The upstream proxy cannot do this");
    default:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                          "The upstream proxy failed (reply %u)", code);
    }
}

/* Bytes still missing from a SOCKS5 reply (05 CODE 00 ATYP, then 4 or 16
 * address bytes (tor: ATYP 0 and 4 bytes) or a length byte and a name,
 * then the port), so that not one byte past it is read: after a CONNECT
 * reply the bytes belong to the tunnel. */
static gsize
socks5_reply_missing (const guint8 *in,
                      gsize         in_len)
{
  gsize total;

  if (in_len < 5)
    return 5 - in_len;
  if (in[3] == EXG_SOCKS_ATYP_IPV6)
    total = 22;
  else if (in[3] == EXG_SOCKS_ATYP_DOMAIN)
    total = 7 + (gsize) in[4];
  else
    total = 10;
  return total > in_len ? total - in_len : 0;
}

/* ------------------------------------------------------------------------
 * CONNECT
 * ------------------------------------------------------------------------ */

typedef struct {
  char              *host;       /* the destination, passed on untouched */
  guint16            port;
  GSocketConnection *conn;       /* owned: to the upstream, once connected */
  GString           *headers;    /* HTTP CONNECT: response bytes consumed */
  GSource           *source;     /* owned: HTTP CONNECT readable watch */
} ConnectData;

static void
connect_data_free (ConnectData *data)
{
  g_free (data->host);
  g_clear_object (&data->conn);
  if (data->headers != NULL)
    g_string_free (data->headers, TRUE);
  if (data->source != NULL)
    {
      g_source_destroy (data->source);
      g_source_unref (data->source);
    }
  g_free (data);
}

static void http_connect_start (GTask *task);

static void
upstream_connected_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ExgBackendUpstream *self = g_task_get_source_object (task);
  ConnectData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  data->conn = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result,
                                               &error);
  if (data->conn == NULL)
    {
      g_task_return_error (task, upstream_unreachable_error (self, error));
      return;
    }
  set_nodelay (data->conn);
  http_connect_start (g_steal_pointer (&task));
}

static void socks_connect (ExgBackendUpstream *self,
                           GTask              *task,
                           const char         *host,
                           guint16             port,
                           GCancellable       *cancellable);

static void
upstream_connect_async (ExgBackend          *backend,
                        const char          *host,
                        guint16              port,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  ExgBackendUpstream *self = EXG_BACKEND_UPSTREAM (backend);
  g_autoptr(GTask) task = NULL;
  ConnectData *data;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, upstream_connect_async);

  if (self->kind != EXG_ROUTER_KIND_HTTP_CONNECT)
    {
      socks_connect (self, g_steal_pointer (&task), host, port, cancellable);
      return;
    }

  data = g_new0 (ConnectData, 1);
  data->host = g_strdup (host);
  data->port = port;
  g_task_set_task_data (task, data, (GDestroyNotify) connect_data_free);

  g_socket_client_connect_to_host_async (self->client, self->host, self->port,
                                         cancellable, upstream_connected_cb,
                                         g_steal_pointer (&task));
}

/* ------------------------------------------------------------------------
 * HTTP CONNECT (RFC 9110 §9.3.6)
 *
 *   → CONNECT host:port HTTP/1.1 CRLF Host: host:port CRLF
 *     [Proxy-Authorization: Basic base64(user:pass) CRLF] CRLF
 *   ← HTTP/1.x SSS reason CRLF *(header CRLF) CRLF, then the tunnel
 *
 * The response is read with MSG_PEEK first so that not one byte past the
 * blank line is taken from the socket: whatever the target sends first
 * belongs to the relay, which works on the file descriptor.
 * ------------------------------------------------------------------------ */

static char *
http_authority (const char *host,
                guint16     port)
{
  if (strchr (host, ':') != NULL)
    return g_strdup_printf ("[%s]:%u", host, port);
  return g_strdup_printf ("%s:%u", host, port);
}

static GError *
http_status_to_error (guint status)
{
  switch (status)
    {
    case 403:
    case 407:
      return g_error_new (EXG_ERROR, EXG_ERROR_NOT_ALLOWED,
                          "The HTTP proxy refused the tunnel (%u)",
                          status);
    case 404:
    case 502:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE,
                          "Host unreachable upstream (HTTP %u)",
                          status);
    case 503:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
                          "Connection refused upstream (HTTP %u)",
                          status);
    case 504:
    case 408:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                          "Timed out at the upstream HTTP proxy (%u)", status);
    default:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                          "The upstream HTTP proxy answered %u", status);
    }
}

/* Parses "HTTP/1.x SSS ..." at the start of @headers. */
static gboolean
http_parse_status (const char *headers,
                   guint      *status)
{
  if (!g_str_has_prefix (headers, "HTTP/1.0 ") &&
      !g_str_has_prefix (headers, "HTTP/1.1 "))
    return FALSE;
  if (!g_ascii_isdigit (headers[9]) || !g_ascii_isdigit (headers[10]) ||
      !g_ascii_isdigit (headers[11]) ||
      (headers[12] != ' ' && headers[12] != '\r'))
    return FALSE;

  *status = (guint) ((headers[9] - '0') * 100 +
                     (headers[10] - '0') * 10 +
                     (headers[11] - '0'));
  return TRUE;
}

static gboolean http_readable_cb (GSocket *socket, GIOCondition condition,
                                  gpointer user_data);

static void
http_wait_readable (GTask *task)
{
  ConnectData *data = g_task_get_task_data (task);
  GSocket *socket = g_socket_connection_get_socket (data->conn);

  g_clear_pointer (&data->source, g_source_unref);
  data->source = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                         g_task_get_cancellable (task));
  g_source_set_callback (data->source, G_SOURCE_FUNC (http_readable_cb), task,
                         NULL);
  g_source_attach (data->source, g_task_get_context (task));
}

static void
http_finish_headers (GTask *task)
{
  ConnectData *data = g_task_get_task_data (task);
  guint status = 0;

  if (!http_parse_status (data->headers->str, &status))
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                               "The upstream is not an HTTP proxy");
      g_object_unref (task);
      return;
    }
  if (status < 200 || status > 299)
    {
      g_task_return_error (task, http_status_to_error (status));
      g_object_unref (task);
      return;
    }

  g_task_return_pointer (task, g_steal_pointer (&data->conn), g_object_unref);
  g_object_unref (task);
}

/* Owns one ref on the task while the source is attached. */
static gboolean
http_readable_cb (GSocket      *socket,
                  GIOCondition  condition,
                  gpointer      user_data)
{
  GTask *task = user_data;
  ConnectData *data = g_task_get_task_data (task);
  guint8 peek[2048];
  g_autoptr(GError) error = NULL;
  ssize_t n;
  gsize take;
  gboolean complete = FALSE;

  if (g_task_return_error_if_cancelled (task))
    {
      g_object_unref (task);
      return G_SOURCE_REMOVE;
    }

  n = recv (g_socket_get_fd (socket), peek, sizeof peek,
            MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;
  if (n <= 0)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                               n == 0 ? "The HTTP proxy closed the connection"
                                      : "Reading from the HTTP proxy failed");
      g_object_unref (task);
      return G_SOURCE_REMOVE;
    }

  /* Find the end of the headers, which may straddle the bytes taken
   * before: look at the last three of those plus the peeked ones. */
  take = (gsize) n;
  for (gsize i = 0; i < (gsize) n; i++)
    {
      gsize have = data->headers->len + i + 1;
      char tail[4];

      if (have < 4)
        continue;
      for (gsize k = 0; k < 4; k++)
        {
          gsize pos = have - 4 + k;  /* index in headers ++ peek */
          if (pos < data->headers->len)
            tail[k] = data->headers->str[pos];
          else
            tail[k] = (char) peek[pos - data->headers->len];
        }
      if (memcmp (tail, "\r\n\r\n", 4) == 0)
        {
          take = i + 1;
          complete = TRUE;
          break;
        }
    }

  if (!g_socket_receive_with_blocking (socket, (char *) peek, take, FALSE, NULL,
                                       &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      g_object_unref (task);
      return G_SOURCE_REMOVE;
    }
  g_string_append_len (data->headers, (const char *) peek, (gssize) take);

  if (complete)
    {
      g_clear_pointer (&data->source, g_source_unref);
      http_finish_headers (task);
      return G_SOURCE_REMOVE;
    }

  if (data->headers->len > HTTP_HEADERS_MAX)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                               "The HTTP proxy sent oversized headers");
      g_object_unref (task);
      return G_SOURCE_REMOVE;
    }

  return G_SOURCE_CONTINUE;
}

static void
http_request_written_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  GTask *task = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL,
                                         &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      g_object_unref (task);
      return;
    }

  http_wait_readable (task);  /* keeps the ref */
}

static void
http_connect_start (GTask *task)
{
  ExgBackendUpstream *self = g_task_get_source_object (task);
  ConnectData *data = g_task_get_task_data (task);
  g_autofree char *authority = http_authority (data->host, data->port);
  GString *request = g_string_new (NULL);
  GOutputStream *out;
  GBytes *bytes;
  gsize len;
  gconstpointer raw;

  g_string_append_printf (request, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n",
                          authority, authority);
  if (self->username != NULL || self->password != NULL)
    {
      const char *user = self->username ? self->username : "";
      const char *pass = self->password ? self->password : "";
      g_autofree char *pair = g_strdup_printf ("%s:%s", user, pass);
      g_autofree char *b64 = g_base64_encode ((const guchar *) pair,
                                              strlen (pair));

      g_string_append_printf (request, "Proxy-Authorization: Basic %s\r\n",
                              b64);
    }
  g_string_append (request, "\r\n");

  data->headers = g_string_new (NULL);
  bytes = g_string_free_to_bytes (request);
  raw = g_bytes_get_data (bytes, &len);
  /* The bytes stay alive with the task until the write is done. */
  g_object_set_data_full (G_OBJECT (task), "request", bytes,
                          (GDestroyNotify) g_bytes_unref);

  out = g_io_stream_get_output_stream (G_IO_STREAM (data->conn));
  g_output_stream_write_all_async (out, raw, len, G_PRIORITY_DEFAULT,
                                   g_task_get_cancellable (task),
                                   http_request_written_cb, task);
}

/* ------------------------------------------------------------------------
 * SOCKS exchanges of our own: RESOLVE (F0), RESOLVE_PTR (F1), and the
 * greeting of a health check.
 *
 *   SOCKS5:  → 05 N METHODS          ← 05 M        (M = 00 or 02, FF: no)
 *            → 01 ULEN U PLEN P      ← 01 00       (only when M = 02)
 *            → 05 F0 00 03 LEN NAME 00 00
 *            → 05 F1 00 01|04 ADDR 00 00
 *            ← 05 CODE 00 ATYP ADDR PORT          (tor: ATYP 0 on failure)
 *   SOCKS4a: → 04 F0 00 00 00 00 00 01 USERID 00 NAME 00
 *            ← 00 5A|5B PORT IPV4
 * ------------------------------------------------------------------------ */

typedef enum {
  EXCHANGE_CHECK,        /* greeting only */
  EXCHANGE_CONNECT,
  EXCHANGE_RESOLVE,
  EXCHANGE_RESOLVE_PTR,
} ExchangeKind;

typedef enum {
  STEP_METHOD,           /* reading 05 M */
  STEP_AUTH,             /* reading 01 00 */
  STEP_REPLY,            /* reading the v5 reply */
  STEP_REPLY4,           /* reading the 8-byte v4 reply */
} ExchangeStep;

typedef struct {
  ExchangeKind       kind;
  ExchangeStep       step;
  ExgSocksAddr       target;
  GSocketConnection *conn;       /* owned, once connected */
  guint8             out[600];
  gsize              out_len;
  guint8             in[600];
  gsize              in_len;
  GCancellable      *cancellable;  /* owned: ours; follows the caller's */
  gulong             cancelled_id;
  GCancellable      *caller_cancellable;  /* owned, nullable */
  guint              timeout_id;
  gboolean           timed_out;
} Exchange;

static void
exchange_free (Exchange *ex)
{
  g_clear_handle_id (&ex->timeout_id, g_source_remove);
  if (ex->caller_cancellable != NULL)
    g_cancellable_disconnect (ex->caller_cancellable, ex->cancelled_id);
  g_clear_object (&ex->caller_cancellable);
  g_clear_object (&ex->cancellable);
  if (ex->conn != NULL)
    g_io_stream_close (G_IO_STREAM (ex->conn), NULL, NULL);
  g_clear_object (&ex->conn);
  g_free (ex);
}

static void exchange_write (GTask *task);
static void exchange_read (GTask *task);

/* Protocol trouble during a RESOLVE means "this upstream cannot do it":
 * the client hears 07, never an answer from a local lookup. */
static void
exchange_fail_protocol (GTask      *task,
                        const char *what)
{
  Exchange *ex = g_task_get_task_data (task);

  if (ex->kind == EXCHANGE_CHECK || ex->kind == EXCHANGE_CONNECT)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                             "The upstream proxy broke the protocol: %s", what);
  else
    g_task_return_new_error (task, EXG_ERROR, EXG_ERROR_UNSUPPORTED,
                             "The upstream cannot resolve names: %s",
                             what);
  g_object_unref (task);
}

static void
exchange_fail (GTask  *task,
               GError *error)
{
  Exchange *ex = g_task_get_task_data (task);

  if (ex->timed_out && g_error_matches (error, G_IO_ERROR,
                                        G_IO_ERROR_CANCELLED))
    {
      g_error_free (error);
      error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                   "The upstream proxy did not answer in time");
    }
  g_task_return_error (task, error);
  g_object_unref (task);
}

static void
exchange_send_request (GTask *task)
{
  ExgBackendUpstream *self = g_task_get_source_object (task);
  Exchange *ex = g_task_get_task_data (task);
  guint8 cmd = ex->kind == EXCHANGE_CONNECT ? EXG_SOCKS_CMD_CONNECT
             : ex->kind == EXCHANGE_RESOLVE ? EXG_SOCKS_CMD_RESOLVE
             : EXG_SOCKS_CMD_RESOLVE_PTR;

  if (self->kind == EXG_ROUTER_KIND_SOCKS4A)
    {
      ex->out_len = exg_socks4a_request_encode (ex->out, sizeof ex->out, cmd,
                                                &ex->target,
                                                self->username);
      ex->step = STEP_REPLY4;
    }
  else
    {
      ex->out_len = exg_socks5_request_encode (ex->out, sizeof ex->out, cmd,
                                               &ex->target);
      ex->step = STEP_REPLY;
    }

  if (ex->out_len == 0)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "The request does not fit in a SOCKS message");
      g_object_unref (task);
      return;
    }
  exchange_write (task);
}

static void
exchange_handle_v5_reply (GTask *task)
{
  Exchange *ex = g_task_get_task_data (task);
  ExgSocksAddr bound;
  gsize consumed = 0;
  guint8 code = 0;

  switch (exg_socks5_reply_parse (ex->in, ex->in_len, &consumed, &code, &bound))
    {
    case EXG_PARSE_NEED_MORE:
      exchange_read (task);
      return;
    case EXG_PARSE_OK:
      break;
    default:
      exchange_fail_protocol (task, "malformed reply");
      return;
    }

  if (code != EXG_SOCKS5_REPLY_SUCCEEDED)
    {
      gboolean resolving = ex->kind != EXCHANGE_CONNECT;

      g_task_return_error (task, socks5_reply_to_error (code, resolving));
      g_object_unref (task);
      return;
    }

  if (ex->kind == EXCHANGE_CONNECT)
    {
      /* exactly the reply was read (see exchange_read) */
      g_task_return_pointer (task, g_steal_pointer (&ex->conn), g_object_unref);
      g_object_unref (task);
      return;
    }

  if (ex->kind == EXCHANGE_RESOLVE)
    {
      GInetAddress *addr;

      if (bound.type == EXG_SOCKS_ATYP_IPV4)
        addr = g_inet_address_new_from_bytes (bound.ip, G_SOCKET_FAMILY_IPV4);
      else if (bound.type == EXG_SOCKS_ATYP_IPV6)
        addr = g_inet_address_new_from_bytes (bound.ip, G_SOCKET_FAMILY_IPV6);
      else
        {
          exchange_fail_protocol (task, "RESOLVE answered without an address");
          return;
        }
      g_task_return_pointer (task, g_list_prepend (NULL, addr),
                             (GDestroyNotify) g_resolver_free_addresses);
    }
  else
    {
      if (bound.type != EXG_SOCKS_ATYP_DOMAIN || bound.host[0] == '\0')
        {
          exchange_fail_protocol (task, "RESOLVE_PTR answered without a name");
          return;
        }
      g_task_return_pointer (task, g_strdup (bound.host), g_free);
    }
  g_object_unref (task);
}

static void
exchange_handle_v4_reply (GTask *task)
{
  Exchange *ex = g_task_get_task_data (task);
  GInetAddress *addr;

  if (ex->in_len < 8)
    {
      exchange_read (task);
      return;
    }
  if (ex->in[0] != 0x00)
    {
      exchange_fail_protocol (task, "not a SOCKS4 reply");
      return;
    }
  if (ex->kind == EXCHANGE_CONNECT)
    {
      if (ex->in[1] != EXG_SOCKS4_REPLY_GRANTED)
        {
          /* SOCKS4 gives no reason: a general failure */
          g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                                   "The SOCKS4a upstream refused");
          g_object_unref (task);
          return;
        }
      /* exactly the 8 reply bytes were read: nothing of the target's is
       * buffered here */
      g_task_return_pointer (task, g_steal_pointer (&ex->conn), g_object_unref);
      g_object_unref (task);
      return;
    }
  if (ex->in[1] != EXG_SOCKS4_REPLY_GRANTED)
    {
      /* SOCKS4 says only "rejected"; for a RESOLVE that means "not found" */
      g_task_return_new_error (task, G_RESOLVER_ERROR,
                               G_RESOLVER_ERROR_NOT_FOUND,
                               "Name not found by the upstream proxy");
      g_object_unref (task);
      return;
    }

  addr = g_inet_address_new_from_bytes (ex->in + 4, G_SOCKET_FAMILY_IPV4);
  g_task_return_pointer (task, g_list_prepend (NULL, addr),
                         (GDestroyNotify) g_resolver_free_addresses);
  g_object_unref (task);
}

static void
exchange_handle_input (GTask *task)
{
  ExgBackendUpstream *self = g_task_get_source_object (task);
  Exchange *ex = g_task_get_task_data (task);

  switch (ex->step)
    {
    case STEP_METHOD:
      if (ex->in_len < 2)
        {
          exchange_read (task);
          return;
        }
      if (ex->in[0] != 0x05 || ex->in[1] == EXG_SOCKS_METHOD_NO_ACCEPTABLE ||
          (ex->in[1] != EXG_SOCKS_METHOD_NO_AUTH &&
           ex->in[1] != EXG_SOCKS_METHOD_USERPASS) ||
          (ex->in[1] == EXG_SOCKS_METHOD_USERPASS && self->username == NULL &&
           self->password == NULL))
        {
          const char *msg = "The upstream accepts none of our methods";

          if (ex->kind == EXCHANGE_CHECK)
            g_task_return_new_error (task, G_IO_ERROR,
                                     G_IO_ERROR_PROXY_FAILED, "%s", msg);
          else
            g_task_return_new_error (task, EXG_ERROR,
                                     EXG_ERROR_NOT_ALLOWED, "%s", msg);
          g_object_unref (task);
          return;
        }
      if (ex->kind == EXCHANGE_CHECK)
        {
          g_task_return_boolean (task, TRUE);
          g_object_unref (task);
          return;
        }
      ex->in_len = 0;
      if (ex->in[1] == EXG_SOCKS_METHOD_USERPASS)
        {
          ex->out_len = exg_socks5_auth_encode (ex->out, sizeof ex->out,
                                                self->username,
                                                self->password);
          ex->step = STEP_AUTH;
          if (ex->out_len == 0)
            {
              g_task_return_new_error (task, G_IO_ERROR,
                                       G_IO_ERROR_INVALID_ARGUMENT,
                                       "Upstream credentials too long");
              g_object_unref (task);
              return;
            }
          exchange_write (task);
        }
      else
        exchange_send_request (task);
      return;

    case STEP_AUTH:
      if (ex->in_len < 2)
        {
          exchange_read (task);
          return;
        }
      if (ex->in[1] != 0x00)
        {
          g_task_return_new_error (task, EXG_ERROR, EXG_ERROR_NOT_ALLOWED,
                                   "The upstream refused our credentials");
          g_object_unref (task);
          return;
        }
      ex->in_len = 0;
      exchange_send_request (task);
      return;

    case STEP_REPLY:
      exchange_handle_v5_reply (task);
      return;

    case STEP_REPLY4:
      exchange_handle_v4_reply (task);
      return;

    default:
      g_assert_not_reached ();
    }
}

static void
exchange_read_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  GTask *task = user_data;
  Exchange *ex = g_task_get_task_data (task);
  GError *error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n < 0)
    {
      exchange_fail (task, error);
      return;
    }
  if (n == 0)
    {
      exchange_fail_protocol (task, "connection closed");
      return;
    }

  ex->in_len += (gsize) n;
  exchange_handle_input (task);
}

static void
exchange_read (GTask *task)
{
  Exchange *ex = g_task_get_task_data (task);
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (ex->conn));
  gsize want = sizeof ex->in - ex->in_len;

  if (ex->in_len >= sizeof ex->in)
    {
      exchange_fail_protocol (task, "oversized reply");
      return;
    }
  /* Never read past the message we wait for: after a CONNECT reply the
   * bytes belong to the tunnel. */
  switch (ex->step)
    {
    case STEP_METHOD:
    case STEP_AUTH:
      want = 2 - ex->in_len;
      break;
    case STEP_REPLY4:
      want = 8 - ex->in_len;
      break;
    case STEP_REPLY:
      want = socks5_reply_missing (ex->in, ex->in_len);
      break;
    default:
      g_assert_not_reached ();
    }
  g_input_stream_read_async (in, ex->in + ex->in_len, want,
                             G_PRIORITY_DEFAULT, ex->cancellable,
                             exchange_read_cb, task);
}

static void
exchange_write_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  GTask *task = user_data;
  GError *error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL,
                                         &error))
    {
      exchange_fail (task, error);
      return;
    }
  exchange_read (task);
}

static void
exchange_write (GTask *task)
{
  Exchange *ex = g_task_get_task_data (task);
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (ex->conn));

  g_output_stream_write_all_async (out, ex->out, ex->out_len,
                                   G_PRIORITY_DEFAULT,
                                   ex->cancellable, exchange_write_cb, task);
}

static void
exchange_connected_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  GTask *task = user_data;
  ExgBackendUpstream *self = g_task_get_source_object (task);
  Exchange *ex = g_task_get_task_data (task);
  GError *error = NULL;

  ex->conn = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result,
                                             &error);
  if (ex->conn == NULL)
    {
      GError *wrapped;

      if (ex->timed_out)
        {
          exchange_fail (task, error);
          return;
        }
      wrapped = upstream_unreachable_error (self, error);
      g_error_free (error);
      exchange_fail (task, wrapped);
      return;
    }
  set_nodelay (ex->conn);

  if (self->kind == EXG_ROUTER_KIND_SOCKS4A)
    {
      /* SOCKS4a has no greeting: a check is the TCP connect, a RESOLVE
       * goes out at once. */
      if (ex->kind == EXCHANGE_CHECK)
        {
          g_task_return_boolean (task, TRUE);
          g_object_unref (task);
          return;
        }
      exchange_send_request (task);
      return;
    }

  if (self->kind == EXG_ROUTER_KIND_HTTP_CONNECT)
    {
      g_task_return_boolean (task, TRUE);  /* only checks get here */
      g_object_unref (task);
      return;
    }

    {
      guint8 methods[2] = {
        EXG_SOCKS_METHOD_NO_AUTH, EXG_SOCKS_METHOD_USERPASS
      };
      gsize n_methods = (self->username != NULL ||
                         self->password != NULL) ? 2 : 1;

      ex->out_len = exg_socks5_greeting_encode (ex->out, sizeof ex->out,
                                                methods, n_methods);
      ex->step = STEP_METHOD;
      exchange_write (task);
    }
}

static void
exchange_cancelled_cb (GCancellable *caller,
                       GCancellable *ours)
{
  g_cancellable_cancel (ours);
}

static gboolean
exchange_timeout_cb (gpointer user_data)
{
  Exchange *ex = user_data;

  ex->timeout_id = 0;
  ex->timed_out = TRUE;
  g_cancellable_cancel (ex->cancellable);
  return G_SOURCE_REMOVE;
}

/* Starts an exchange; the task's data is an Exchange whose target the
 * caller has filled. */
static void
exchange_start (ExgBackendUpstream *self,
                GTask              *task,
                ExchangeKind        kind,
                const ExgSocksAddr *target,
                GCancellable       *cancellable,
                guint               timeout_seconds)
{
  Exchange *ex = g_new0 (Exchange, 1);

  ex->kind = kind;
  if (target != NULL)
    ex->target = *target;
  /* A cancellable of our own, so a timeout can stop the exchange without
   * cancelling the caller's. */
  ex->cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    {
      ex->caller_cancellable = g_object_ref (cancellable);
      ex->cancelled_id =
        g_cancellable_connect (cancellable,
                               G_CALLBACK (exchange_cancelled_cb),
                               g_object_ref (ex->cancellable),
                               g_object_unref);
    }
  g_task_set_task_data (task, ex, (GDestroyNotify) exchange_free);
  if (timeout_seconds > 0)
    ex->timeout_id = g_timeout_add_seconds (timeout_seconds,
                                            exchange_timeout_cb, ex);

  g_socket_client_connect_to_host_async (self->client, self->host, self->port,
                                         ex->cancellable,
                                         exchange_connected_cb, task);
}

/* ------------------------------------------------------------------------
 * The fast path: SOCKS5 CONNECT to an upstream given as an IP literal,
 * the common case (a chain of exitgated, a local tor).
 *
 * As the direct exit does for its targets: one non-blocking socket, one
 * connect(2), and the exchange (greeting, credentials, request, reply)
 * driven by the context's epoll poller with send(2) and recv(2) on the
 * descriptor.  GSocketClient, the streams' async calls and their GTasks
 * and GSources cost tens of thousands of instructions and a dozen system
 * calls per connection, more than the rest of the session.  The socket
 * is registered once, edge-triggered, and left parked for the relay,
 * which takes it over with one EPOLL_CTL_MOD.  The handshake deadlines
 * share one timer per backend, so a deadline costs no GSource and no
 * wakeup.
 *
 * Nagle is turned off only once the tunnel is up: each message of the
 * exchange goes out after the upstream's answer to the one before, which
 * acknowledged it, so nothing waits for an ACK meanwhile.
 * ------------------------------------------------------------------------ */

typedef enum {
  FAST_CONNECTING,
  FAST_METHOD,           /* reading 05 M */
  FAST_AUTH,             /* reading 01 00 */
  FAST_REPLY,            /* reading 05 CODE 00 ATYP ADDR PORT */
} FastStep;

typedef struct {
  GTask              *task;           /* owned */
  ExgBackendUpstream *self;           /* not owned: the task's source */
  GSocket            *socket;         /* owned */
  int                 fd;
  ExgPoller          *poller;         /* not owned: lives with the context */
  GSource            *cancel_source;  /* owned, nullable */
  gint64              deadline;       /* monotonic µs */
  GList              *deadline_link;  /* in self->deadlines, nullable */
  FastStep            step;
  ExgSocksAddr        target;         /* sent once the greeting is done */
  gsize               out_len;
  gsize               out_sent;
  gsize               in_len;
  guint8              out[520];       /* the longest: credentials */
  guint8              in[262];        /* the longest: a reply with a name */
} FastConnect;

typedef struct {
  GSource             source;
  ExgBackendUpstream *self;           /* not owned: it owns the source */
} FastTimer;

/* Takes @fc apart and frees it; returns its task, for the caller to
 * return (after this: the task's callback may start anything). */
static GTask *
fast_release (FastConnect *fc,
              gboolean     keep_socket)
{
  GTask *task = fc->task;

  if (fc->cancel_source != NULL)
    {
      g_source_destroy (fc->cancel_source);
      g_source_unref (fc->cancel_source);
    }
  if (fc->deadline_link != NULL)
    g_queue_delete_link (&fc->self->deadlines, fc->deadline_link);
  if (!keep_socket && fc->poller != NULL)
    exg_poller_remove (fc->poller, fc->fd);
  g_object_unref (fc->socket);
  g_free (fc);
  return task;
}

static void
fast_fail (FastConnect *fc,
           GError      *error)
{
  GTask *task = fast_release (fc, FALSE);

  g_task_return_error (task, error);
  g_object_unref (task);
}

static void
fast_fail_protocol (FastConnect *fc,
                    const char  *what)
{
  fast_fail (fc, g_error_new (G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                              "The upstream proxy broke the protocol: %s",
                              what));
}

static gboolean
fast_return_cb (gpointer user_data)
{
  GTask *task = user_data;
  GSocketConnection *connection;

  connection = g_socket_connection_factory_create_connection (g_task_get_task_data (task));
  /* the connection holds the socket now: the task (a GAsyncResult the
   * caller may keep) does not need to */
  g_task_set_task_data (task, NULL, NULL);
  g_task_return_pointer (task, connection, g_object_unref);
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

static void
fast_succeed (FastConnect *fc)
{
  GSocket *socket = g_object_ref (fc->socket);
  GMainContext *context = g_task_get_context (fc->task);
  GSource *idle;
  GTask *task;

  /* edge-triggered: nothing more comes until the relay takes it over */
  exg_poller_park (fc->poller, fc->fd);
  task = fast_release (fc, TRUE);
  /* the tunnel's first bytes may be small writes that wait for an answer
   * (a TLS hello); failure is harmless */
  g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  g_socket_set_blocking (socket, TRUE);
  g_task_set_task_data (task, socket, g_object_unref);

  /* Return on the next iteration of the context, as the streams' async
   * calls did, rather than from inside this dispatch: a caller that
   * then blocks on the tunnel (the tests do) must not keep a server on
   * the same context from accepting what the upstream just connected.
   * An idle from the owner thread wakes nothing. */
  idle = g_idle_source_new ();
  g_source_set_callback (idle, fast_return_cb, task, NULL);
  g_source_set_static_name (idle, "[exitgate] upstream connected");
  g_source_attach (idle, context);
  g_source_unref (idle);
}

static void
fast_queue (FastConnect *fc,
            gsize        len)
{
  fc->out_len = len;
  fc->out_sent = 0;
  fc->in_len = 0;
}

/* A whole message for the current step is in fc->in: acts on it.
 * Returns FALSE when the attempt ended (@fc is gone). */
static gboolean
fast_handle (FastConnect *fc)
{
  ExgBackendUpstream *self = fc->self;
  ExgSocksAddr bound;
  gsize consumed = 0;
  guint8 code = 0;
  gsize len;

  switch (fc->step)
    {
    case FAST_METHOD:
      if (fc->in[0] != 0x05 || fc->in[1] == EXG_SOCKS_METHOD_NO_ACCEPTABLE ||
          (fc->in[1] != EXG_SOCKS_METHOD_NO_AUTH &&
           fc->in[1] != EXG_SOCKS_METHOD_USERPASS) ||
          (fc->in[1] == EXG_SOCKS_METHOD_USERPASS && self->username == NULL &&
           self->password == NULL))
        {
          fast_fail (fc, g_error_new_literal (EXG_ERROR, EXG_ERROR_NOT_ALLOWED,
                                              "The upstream accepts none of our methods"));
          return FALSE;
        }
      if (fc->in[1] == EXG_SOCKS_METHOD_USERPASS)
        {
          len = exg_socks5_auth_encode (fc->out, sizeof fc->out,
                                        self->username, self->password);
          if (len == 0)
            {
              fast_fail (fc, g_error_new_literal (G_IO_ERROR,
                                                  G_IO_ERROR_INVALID_ARGUMENT,
                                                  "Upstream credentials too long"));
              return FALSE;
            }
          fc->step = FAST_AUTH;
          fast_queue (fc, len);
          return TRUE;
        }
      break;

    case FAST_AUTH:
      if (fc->in[1] != 0x00)
        {
          fast_fail (fc, g_error_new_literal (EXG_ERROR, EXG_ERROR_NOT_ALLOWED,
                                              "The upstream refused our credentials"));
          return FALSE;
        }
      break;

    case FAST_REPLY:
      if (exg_socks5_reply_parse (fc->in, fc->in_len, &consumed, &code,
                                  &bound) != EXG_PARSE_OK)
        {
          fast_fail_protocol (fc, "malformed reply");
          return FALSE;
        }
      if (code != EXG_SOCKS5_REPLY_SUCCEEDED)
        fast_fail (fc, socks5_reply_to_error (code, FALSE));
      else
        fast_succeed (fc);  /* exactly the reply was read */
      return FALSE;

    case FAST_CONNECTING:
    default:
      g_assert_not_reached ();
    }

  /* method 00 chosen, or the credentials accepted: the request */
  len = exg_socks5_request_encode (fc->out, sizeof fc->out,
                                   EXG_SOCKS_CMD_CONNECT, &fc->target);
  if (len == 0)
    {
      fast_fail (fc, g_error_new_literal (G_IO_ERROR,
                                          G_IO_ERROR_INVALID_ARGUMENT,
                                          "The request does not fit in a SOCKS message"));
      return FALSE;
    }
  fc->step = FAST_REPLY;
  fast_queue (fc, len);
  return TRUE;
}

static void
fast_fail_errno (FastConnect *fc,
                 int          errsv)
{
  fast_fail (fc, g_error_new (G_IO_ERROR, g_io_error_from_errno (errsv),
                              "Error talking to the upstream proxy: %s",
                              g_strerror (errsv)));
}

/* Sends what is queued and then waits for the answer, or reads what the
 * step waits for, until the socket has nothing more to give
 * (edge-triggered: the next event comes when something changes) or the
 * attempt ends. */
static void
fast_pump (FastConnect *fc)
{
  for (;;)
    {
      ssize_t n;
      gsize missing;

      if (fc->out_sent < fc->out_len)
        {
          n = send (fc->fd, fc->out + fc->out_sent, fc->out_len - fc->out_sent,
                    MSG_NOSIGNAL);
          if (n < 0)
            {
              if (errno == EINTR)
                continue;
              if (errno != EAGAIN && errno != EWOULDBLOCK)
                fast_fail_errno (fc, errno);
              return;
            }
          fc->out_sent += (gsize) n;
          if (fc->out_sent < fc->out_len)
            continue;
          /* The answer cannot be there yet, and when it comes it raises
           * an edge of its own: a recv(2) now would mostly be EAGAIN. */
          return;
        }

      if (fc->step == FAST_REPLY)
        missing = socks5_reply_missing (fc->in, fc->in_len);
      else
        missing = 2 - fc->in_len;   /* 05 M, or 01 00 */
      if (missing == 0)
        {
          if (!fast_handle (fc))
            return;
          continue;
        }

      n = recv (fc->fd, fc->in + fc->in_len, missing, 0);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            fast_fail_errno (fc, errno);
          return;
        }
      if (n == 0)
        {
          fast_fail_protocol (fc, "connection closed");
          return;
        }
      fc->in_len += (gsize) n;
    }
}

static void
fast_greet (FastConnect *fc)
{
  guint8 methods[2] = { EXG_SOCKS_METHOD_NO_AUTH, EXG_SOCKS_METHOD_USERPASS };
  gsize n_methods = (fc->self->username != NULL ||
                     fc->self->password != NULL) ? 2 : 1;

  fc->step = FAST_METHOD;
  fast_queue (fc, exg_socks5_greeting_encode (fc->out, sizeof fc->out,
                                              methods, n_methods));
  fast_pump (fc);
}

static void
fast_event_cb (gpointer user_data,
               guint32  events)
{
  FastConnect *fc = user_data;

  if (fc->step == FAST_CONNECTING)
    {
      GError *error = NULL;
      GError *wrapped;

      if (!g_socket_check_connect_result (fc->socket, &error))
        {
          wrapped = upstream_unreachable_error (fc->self, error);
          g_error_free (error);
          fast_fail (fc, wrapped);
          return;
        }
      fast_greet (fc);
      return;
    }
  fast_pump (fc);
}

static gboolean
fast_cancelled_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  FastConnect *fc = user_data;
  GError *error = NULL;

  g_cancellable_set_error_if_cancelled (cancellable, &error);
  fast_fail (fc, error);
  return G_SOURCE_REMOVE;
}

static gint64
deadline_round_up (gint64 t)
{
  return (t + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC * G_USEC_PER_SEC;
}

/* Fails the attempts whose deadline passed, then waits for the oldest
 * left.  The ready time is never moved earlier nor cleared when an
 * attempt ends (that would wake the context): a dispatch with nothing
 * expired only re-aims it. */
static gboolean
fast_timer_dispatch (GSource     *source,
                     GSourceFunc  callback,
                     gpointer     user_data)
{
  ExgBackendUpstream *self = ((FastTimer *) source)->self;
  gint64 now = g_source_get_time (source);
  FastConnect *fc;

  while ((fc = g_queue_peek_head (&self->deadlines)) != NULL &&
         fc->deadline <= now)
    fast_fail (fc, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                        "The upstream proxy did not answer in time"));

  g_source_set_ready_time (source, fc != NULL ? deadline_round_up (fc->deadline)
                                              : -1);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs fast_timer_funcs = {
  NULL, NULL, fast_timer_dispatch, NULL, NULL, NULL,
};

/* Returns FALSE if the fast path cannot serve @task (it is on another
 * context than the timer), having done nothing. */
static gboolean
fast_connect (ExgBackendUpstream *self,
              GTask              *task,
              const ExgSocksAddr *target)
{
  GMainContext *context = g_task_get_context (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autoptr(GSocket) socket = NULL;
  GError *error = NULL;
  GError *wrapped;
  FastConnect *fc;
  gboolean in_progress;

  if (self->timer == NULL)
    {
      self->timer = g_source_new (&fast_timer_funcs, sizeof (FastTimer));
      ((FastTimer *) self->timer)->self = self;
      g_source_set_static_name (self->timer, "[exitgate] upstream deadlines");
      g_source_attach (self->timer, context);
    }
  else if (g_source_get_context (self->timer) != context)
    return FALSE;

  if (g_task_return_error_if_cancelled (task))
    return TRUE;

  socket = exg_socket_connect_start (&self->sa, self->sa_len, NULL,
                                     &in_progress, &error);
  if (socket == NULL)
    {
      wrapped = upstream_unreachable_error (self, error);
      g_error_free (error);
      g_task_return_error (task, wrapped);
      return TRUE;
    }

  fc = g_new0 (FastConnect, 1);
  fc->task = g_object_ref (task);
  fc->self = self;
  fc->socket = g_steal_pointer (&socket);
  fc->fd = g_socket_get_fd (fc->socket);
  fc->target = *target;
  fc->step = FAST_CONNECTING;
  fc->poller = exg_poller_get_default ();
  /* once, for the whole exchange: EPOLLOUT when connected (EPOLLERR if
   * that failed), EPOLLIN as answers come, EPOLLRDHUP if the upstream
   * hangs up */
  if (!exg_poller_add_new (fc->poller, fc->fd,
                           EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                           fast_event_cb, fc))
    {
      int errsv = errno;

      fc->poller = NULL;
      fast_fail (fc, g_error_new (G_IO_ERROR, g_io_error_from_errno (errsv),
                                  "epoll_ctl: %s", g_strerror (errsv)));
      return TRUE;
    }

  fc->deadline = g_get_monotonic_time () +
                 HANDSHAKE_TIMEOUT_SECONDS * G_USEC_PER_SEC;
  g_queue_push_tail (&self->deadlines, fc);
  fc->deadline_link = self->deadlines.tail;
  if (g_source_get_ready_time (self->timer) < 0)
    g_source_set_ready_time (self->timer, deadline_round_up (fc->deadline));

  if (cancellable != NULL)
    {
      /* no descriptor: attaching and destroying it wakes nothing */
      fc->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (fc->cancel_source,
                             (GSourceFunc) (void (*) (void)) fast_cancelled_cb,
                             fc, NULL);
      g_source_set_static_name (fc->cancel_source, "[exitgate] upstream connect");
      g_source_attach (fc->cancel_source, context);
    }

  if (!in_progress)
    fast_greet (fc);
  return TRUE;
}

/* SOCKS5 / SOCKS4a CONNECT: an IP literal goes as an address, anything
 * else as a name for the upstream to resolve. */
static void
socks_connect (ExgBackendUpstream *self,
               GTask              *task,
               const char         *host,
               guint16             port,
               GCancellable       *cancellable)
{
  ExgSocksAddr target = { 0 };
  gsize len = strlen (host);

  if (inet_pton (AF_INET, host, target.ip) == 1)
    target.type = EXG_SOCKS_ATYP_IPV4;
  else if (inet_pton (AF_INET6, host, target.ip) == 1)
    {
      if (self->kind == EXG_ROUTER_KIND_SOCKS4A)
        {
          g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                                   "SOCKS4a cannot carry an IPv6 address");
          g_object_unref (task);
          return;
        }
      target.type = EXG_SOCKS_ATYP_IPV6;
    }
  else
    {
      if (len == 0 || len >= sizeof target.host)
        {
          g_task_return_new_error (task, G_IO_ERROR,
                                   G_IO_ERROR_INVALID_ARGUMENT,
                                   "Invalid host name");
          g_object_unref (task);
          return;
        }
      target.type = EXG_SOCKS_ATYP_DOMAIN;
      memcpy (target.host, host, len + 1);
    }
  target.port = port;
  if (self->kind == EXG_ROUTER_KIND_SOCKS5 && self->sa_len != 0 &&
      fast_connect (self, task, &target))
    {
      g_object_unref (task);
      return;
    }
  exchange_start (self, task, EXCHANGE_CONNECT, &target, cancellable,
                  HANDSHAKE_TIMEOUT_SECONDS);
}

/* ------------------------------------------------------------------------
 * RESOLVE / RESOLVE_PTR
 * ------------------------------------------------------------------------ */

static void
upstream_resolve_async (ExgBackend          *backend,
                        const char          *host,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  ExgBackendUpstream *self = EXG_BACKEND_UPSTREAM (backend);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  ExgSocksAddr target = { 0 };
  gsize len = strlen (host);

  g_task_set_source_tag (task, upstream_resolve_async);

  if (self->kind == EXG_ROUTER_KIND_HTTP_CONNECT)
    {
      g_task_return_new_error (task, EXG_ERROR, EXG_ERROR_UNSUPPORTED,
                               "An HTTP proxy cannot resolve names");
      g_object_unref (task);
      return;
    }
  if (len == 0 || len >= sizeof target.host)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "Invalid name to resolve");
      g_object_unref (task);
      return;
    }

  target.type = EXG_SOCKS_ATYP_DOMAIN;
  memcpy (target.host, host, len + 1);
  target.port = 0;
  exchange_start (self, task, EXCHANGE_RESOLVE, &target, cancellable,
                  HANDSHAKE_TIMEOUT_SECONDS);
}

static void
upstream_resolve_ptr_async (ExgBackend          *backend,
                            GInetAddress        *address,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  ExgBackendUpstream *self = EXG_BACKEND_UPSTREAM (backend);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  ExgSocksAddr target = { 0 };

  g_task_set_source_tag (task, upstream_resolve_ptr_async);

  /* socks-extensions.txt §2: RESOLVE_PTR is SOCKS5 only */
  if (self->kind != EXG_ROUTER_KIND_SOCKS5)
    {
      g_task_return_new_error (task, EXG_ERROR, EXG_ERROR_UNSUPPORTED,
                               "Only a SOCKS5 upstream can resolve addresses");
      g_object_unref (task);
      return;
    }

  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4)
    {
      target.type = EXG_SOCKS_ATYP_IPV4;
      memcpy (target.ip, g_inet_address_to_bytes (address), 4);
    }
  else
    {
      target.type = EXG_SOCKS_ATYP_IPV6;
      memcpy (target.ip, g_inet_address_to_bytes (address), 16);
    }
  target.port = 0;
  exchange_start (self, task, EXCHANGE_RESOLVE_PTR, &target, cancellable,
                  HANDSHAKE_TIMEOUT_SECONDS);
}

/* ------------------------------------------------------------------------
 * Health check: connect, and for SOCKS5 the greeting (a proxy that
 * accepts TCP but answers no SOCKS is down too)
 * ------------------------------------------------------------------------ */

static void
upstream_check_async (ExgBackend          *backend,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  ExgBackendUpstream *self = EXG_BACKEND_UPSTREAM (backend);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, upstream_check_async);
  exchange_start (self, task, EXCHANGE_CHECK, NULL, cancellable,
                  CHECK_TIMEOUT_SECONDS);
}

/* ------------------------------------------------------------------------ */

static void
exg_backend_upstream_finalize (GObject *object)
{
  ExgBackendUpstream *self = EXG_BACKEND_UPSTREAM (object);

  g_free (self->host);
  g_free (self->username);
  g_free (self->password);
  g_clear_object (&self->client);
  /* no attempt is left: each holds its task, which holds us */
  if (self->timer != NULL)
    {
      g_source_destroy (self->timer);
      g_source_unref (self->timer);
    }

  G_OBJECT_CLASS (exg_backend_upstream_parent_class)->finalize (object);
}

static void
exg_backend_upstream_class_init (ExgBackendUpstreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  ExgBackendClass *backend_class = EXG_BACKEND_CLASS (klass);

  object_class->finalize = exg_backend_upstream_finalize;

  backend_class->connect_async = upstream_connect_async;
  backend_class->resolve_async = upstream_resolve_async;
  backend_class->resolve_ptr_async = upstream_resolve_ptr_async;
  backend_class->check_async = upstream_check_async;
}

static void
exg_backend_upstream_init (ExgBackendUpstream *self)
{
  self->client = g_socket_client_new ();
  /* Never loop through the desktop's proxy settings, which may be us. */
  g_socket_client_set_enable_proxy (self->client, FALSE);
  g_queue_init (&self->deadlines);
}

/**
 * exg_backend_upstream_new:
 * @kind: %EXG_ROUTER_KIND_SOCKS5, %EXG_ROUTER_KIND_SOCKS4A or
 *   %EXG_ROUTER_KIND_HTTP_CONNECT
 * @host: the upstream proxy's address (an IP literal, ideally: a name here
 *   is looked up locally, though only the proxy's own, never a target)
 * @port: the upstream proxy's port
 * @username: (nullable): credentials for the upstream
 * @password: (nullable): credentials for the upstream
 *
 * Plain SOCKS4 is not offered: it would make us resolve names locally.
 *
 * Returns: (transfer full): a new backend
 */
ExgBackend *
exg_backend_upstream_new (ExgRouterKind  kind,
                          const char    *host,
                          guint16        port,
                          const char    *username,
                          const char    *password)
{
  ExgBackendUpstream *self;

  g_return_val_if_fail (kind == EXG_ROUTER_KIND_SOCKS5 ||
                        kind == EXG_ROUTER_KIND_SOCKS4A ||
                        kind == EXG_ROUTER_KIND_HTTP_CONNECT, NULL);
  g_return_val_if_fail (host != NULL, NULL);

  self = g_object_new (EXG_TYPE_BACKEND_UPSTREAM, NULL);
  self->kind = kind;
  self->host = g_strdup (host);
  self->port = port;
  if (!exg_sockaddr_from_literal (host, port, &self->sa, &self->sa_len))
    self->sa_len = 0;
  /* GIO's SOCKS5 client offers 02 when either is set and needs both */
  if (username != NULL || password != NULL)
    {
      self->username = g_strdup (username ? username : "");
      self->password = g_strdup (password ? password : "");
    }

  return EXG_BACKEND (self);
}
