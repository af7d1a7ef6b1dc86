/* exg-backend-upstream.c: traffic leaves from an upstream proxy.
 *
 * SOCKS5 CONNECT goes through GIO's own client (GProxy), which passes the
 * destination hostname to the upstream untouched.  SOCKS4a CONNECT and
 * HTTP CONNECT are small clients of our own (GIO's SOCKS4a leaks; HTTP
 * CONNECT is not in GIO).  RESOLVE and RESOLVE_PTR
 * use Tor's F0/F1 extension (socks-extensions.txt §2), spoken here with
 * the client encoders of src/proto; an upstream that does not speak it
 * makes the request fail with EXG_ERROR_UNSUPPORTED (→ 07): a name is
 * never looked up on this machine on behalf of a non-direct exit.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-backend-upstream.h"

#include "exg-error.h"
#include "exg-socks-encode.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

/* HTTP CONNECT response headers larger than this are a broken proxy. */
#define HTTP_HEADERS_MAX 16384

/* Health checks give up after this long. */
#define CHECK_TIMEOUT_SECONDS 5

struct _ExgBackendUpstream
{
  ExgBackend     parent_instance;

  ExgRouterKind  kind;
  char          *host;       /* owned: the upstream proxy's address */
  guint16        port;
  char          *username;   /* owned, nullable */
  char          *password;   /* owned, nullable */
  GSocketClient *client;     /* owned: enable-proxy FALSE */
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

/* GIO's SOCKS5 client folds some codes into G_IO_ERROR_PROXY_*: turn the
 * one that carries meaning for the client back into ours. */
static GError *
fix_proxy_error (GError *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PROXY_NOT_ALLOWED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PROXY_AUTH_FAILED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PROXY_NEED_AUTH))
    {
      GError *fixed = g_error_new_literal (EXG_ERROR, EXG_ERROR_NOT_ALLOWED,
                                           error->message);
      g_error_free (error);
      return fixed;
    }

  return error;
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
proxy_connect_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ConnectData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GIOStream) stream = NULL;

  stream = g_proxy_connect_finish (G_PROXY (source), result, &error);
  if (stream == NULL)
    {
      g_task_return_error (task, fix_proxy_error (g_steal_pointer (&error)));
      return;
    }

  /* GIO's SOCKS5 client reads exactly the reply and hands back the stream
   * they were given: the raw connection, nothing buffered above it.  The
   * relay works on the file descriptor, so anything else is unusable. */
  if ((gpointer) stream != (gpointer) data->conn)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                               "The SOCKS client wrapped the connection");
      return;
    }
  g_task_return_pointer (task, g_steal_pointer (&data->conn), g_object_unref);
}

static void
upstream_connected_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ExgBackendUpstream *self = g_task_get_source_object (task);
  ConnectData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  g_autoptr(GSocketAddress) proxy_address = NULL;
  g_autoptr(GProxy) proxy = NULL;
  GCancellable *cancellable;
  GInetAddress *inet;

  data->conn = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result,
                                               &error);
  if (data->conn == NULL)
    {
      g_task_return_error (task, upstream_unreachable_error (self, error));
      return;
    }
  set_nodelay (data->conn);

  if (self->kind == EXG_ROUTER_KIND_HTTP_CONNECT)
    {
      http_connect_start (g_steal_pointer (&task));
      return;
    }

  proxy = g_proxy_get_default_for_protocol ("socks5");
  if (proxy == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                               "GIO has no SOCKS client here");
      return;
    }

  remote = g_socket_connection_get_remote_address (data->conn, &error);
  if (remote == NULL)
    {
      g_task_return_error (task, upstream_unreachable_error (self, error));
      return;
    }
  inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote));

  /* The destination travels as a hostname: GProxyAddress never resolves
   * it, and GIO's SOCKS5 client sends it as ATYP 3. */
  proxy_address = g_proxy_address_new (inet, self->port,
                                       "socks5",
                                       data->host, data->port,
                                       self->username, self->password);
  cancellable = g_task_get_cancellable (task);
  g_proxy_connect_async (proxy, G_IO_STREAM (data->conn),
                         G_PROXY_ADDRESS (proxy_address),
                         cancellable, proxy_connect_cb,
                         g_steal_pointer (&task));
}

static void socks4a_connect (ExgBackendUpstream *self,
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

  if (self->kind == EXG_ROUTER_KIND_SOCKS4A)
    {
      socks4a_connect (self, g_steal_pointer (&task), host, port, cancellable);
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

static GSocketConnection *
upstream_connect_finish (ExgBackend    *backend,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, backend), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
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
  EXCHANGE_CONNECT,      /* SOCKS4a CONNECT */
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
      g_task_return_error (task, socks5_reply_to_error (code, TRUE));
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
  /* A SOCKS4 reply has a fixed size: never read past it, the bytes after
   * it belong to the tunnel. */
  if (ex->step == STEP_REPLY4)
    want = 8 - ex->in_len;
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

/* SOCKS4a CONNECT.  GIO has a SOCKS4a client, but GLib 2.74's leaks its
 * 8-byte reply buffer on every connection, which a long-running daemon
 * cannot afford; the exchange here reads exactly those 8 bytes. */
static void
socks4a_connect (ExgBackendUpstream *self,
                 GTask              *task,
                 const char         *host,
                 guint16             port,
                 GCancellable       *cancellable)
{
  ExgSocksAddr target = { 0 };
  gsize len = strlen (host);

  if (g_hostname_is_ip_address (host))
    {
      g_autoptr(GInetAddress) addr = g_inet_address_new_from_string (host);

      if (addr == NULL ||
          g_inet_address_get_family (addr) != G_SOCKET_FAMILY_IPV4)
        {
          g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                                   "SOCKS4a cannot carry an IPv6 address");
          g_object_unref (task);
          return;
        }
      target.type = EXG_SOCKS_ATYP_IPV4;
      memcpy (target.ip, g_inet_address_to_bytes (addr), 4);
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
  exchange_start (self, task, EXCHANGE_CONNECT, &target, cancellable, 0);
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
  exchange_start (self, task, EXCHANGE_RESOLVE, &target, cancellable, 0);
}

static GList *
upstream_resolve_finish (ExgBackend    *backend,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, backend), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
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
  exchange_start (self, task, EXCHANGE_RESOLVE_PTR, &target, cancellable, 0);
}

static char *
upstream_resolve_ptr_finish (ExgBackend    *backend,
                             GAsyncResult  *result,
                             GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, backend), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
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

static gboolean
upstream_check_finish (ExgBackend    *backend,
                       GAsyncResult  *result,
                       GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, backend), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
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

  G_OBJECT_CLASS (exg_backend_upstream_parent_class)->finalize (object);
}

static void
exg_backend_upstream_class_init (ExgBackendUpstreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  ExgBackendClass *backend_class = EXG_BACKEND_CLASS (klass);

  object_class->finalize = exg_backend_upstream_finalize;

  backend_class->connect_async = upstream_connect_async;
  backend_class->connect_finish = upstream_connect_finish;
  backend_class->resolve_async = upstream_resolve_async;
  backend_class->resolve_finish = upstream_resolve_finish;
  backend_class->resolve_ptr_async = upstream_resolve_ptr_async;
  backend_class->resolve_ptr_finish = upstream_resolve_ptr_finish;
  backend_class->check_async = upstream_check_async;
  backend_class->check_finish = upstream_check_finish;
}

static void
exg_backend_upstream_init (ExgBackendUpstream *self)
{
  self->client = g_socket_client_new ();
  /* Never loop through the desktop's proxy settings, which may be us. */
  g_socket_client_set_enable_proxy (self->client, FALSE);
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
  /* GIO's SOCKS5 client offers 02 when either is set and needs both */
  if (username != NULL || password != NULL)
    {
      self->username = g_strdup (username ? username : "");
      self->password = g_strdup (password ? password : "");
    }

  return EXG_BACKEND (self);
}
