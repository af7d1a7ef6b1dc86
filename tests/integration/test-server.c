/* test-server.c: a real ExgServer on 127.0.0.1:0 in this process, a local
 * echo target, and raw SOCKS bytes from a plain socket.
 *
 * The server, the target and the client share the main context; the
 * client's waits iterate it with a bound (no sleeps).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-core.h"
#include "exg-socks-encode.h"
#include "exg-test-util.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#define WAIT_SECONDS 10

/* ---------------------------------------------------------------------- */
/* A backend whose connects never finish until cancelled                   */

#define TEST_TYPE_HANG_BACKEND (test_hang_backend_get_type ())
G_DECLARE_FINAL_TYPE (TestHangBackend, test_hang_backend, TEST, HANG_BACKEND,
                      ExgBackend)

struct _TestHangBackend
{
  ExgBackend parent_instance;
  guint      started;
  guint      cancelled;
};

G_DEFINE_FINAL_TYPE (TestHangBackend, test_hang_backend, EXG_TYPE_BACKEND)

static void
hang_cancelled_cb (GCancellable *cancellable,
                   GTask        *task)
{
  TestHangBackend *self = g_task_get_source_object (task);

  self->cancelled++;
}

static gboolean
hang_return_cancelled (gpointer user_data)
{
  GTask *task = user_data;

  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Cancelled");
  return G_SOURCE_REMOVE;
}

static void
hang_cancel_cb (GCancellable *cancellable,
                gpointer      user_data)
{
  GTask *task = user_data;

  hang_cancelled_cb (cancellable, task);
  g_idle_add_full (G_PRIORITY_DEFAULT, hang_return_cancelled,
                   g_object_ref (task), g_object_unref);
}

static void
hang_connect_async (ExgBackend          *backend,
                    const char          *host,
                    guint16              port,
                    const char          *isolation,
                    GCancellable        *cancellable,
                    GAsyncReadyCallback  callback,
                    gpointer             user_data)
{
  TestHangBackend *self = TEST_HANG_BACKEND (backend);
  GTask *task = g_task_new (backend, cancellable, callback, user_data);

  self->started++;
  g_assert_nonnull (cancellable);
  g_cancellable_connect (cancellable, G_CALLBACK (hang_cancel_cb), task,
                         g_object_unref);
}

static GSocketConnection *
hang_connect_finish (ExgBackend    *backend,
                     GAsyncResult  *result,
                     GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
test_hang_backend_class_init (TestHangBackendClass *klass)
{
  EXG_BACKEND_CLASS (klass)->connect_async = hang_connect_async;
  EXG_BACKEND_CLASS (klass)->connect_finish = hang_connect_finish;
}

static void
test_hang_backend_init (TestHangBackend *self)
{
}

/* ---------------------------------------------------------------------- */
/* Waiting, bounded                                                        */

static gboolean
source_noop_cb (GSocket *socket, GIOCondition condition, gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Receives at least one byte (or EOF: returns 0; reset: -1), iterating
 * the main context while nothing is there. */
static gssize
recv_some (GSocket *socket,
           guint8  *buf,
           gsize    len)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add_seconds (WAIT_SECONDS, exg_test_timeout_cb,
                                    &expired);
  GSource *source = g_socket_create_source (socket,
                                            G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  gssize n;

  g_source_set_callback (source, (GSourceFunc) (void (*) (void)) source_noop_cb,
                         NULL, NULL);
  g_source_attach (source, NULL);

  for (;;)
    {
      g_autoptr(GError) error = NULL;

      n = g_socket_receive_with_blocking (socket, (char *) buf, len, FALSE,
                                          NULL, &error);
      if (n >= 0)
        break;
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          n = -1;
          break;
        }
      g_assert_false (expired);
      g_main_context_iteration (NULL, TRUE);
    }

  g_source_destroy (source);
  g_source_unref (source);
  if (!expired)
    g_source_remove (id);
  return n;
}

static void
recv_exact (GSocket *socket,
            guint8  *buf,
            gsize    len)
{
  gsize got = 0;

  while (got < len)
    {
      gssize n = recv_some (socket, buf + got, len - got);

      g_assert_cmpint (n, >, 0);
      got += (gsize) n;
    }
}

/* The server closed: EOF or a reset, and nothing before it. */
static void
expect_closed (GSocket *socket)
{
  guint8 byte;
  gssize n = recv_some (socket, &byte, 1);

  g_assert_cmpint (n, <=, 0);
}

static void
send_all (GSocket      *socket,
          const guint8 *data,
          gsize         len)
{
  gsize sent = 0;

  while (sent < len)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_send (socket, (const char *) data + sent, len - sent,
                                NULL, &error);

      g_assert_no_error (error);
      sent += (gsize) n;
    }
}

/* ---------------------------------------------------------------------- */
/* The echo target                                                         */

typedef struct {
  GSocketConnection *conn;
  guint8             buf[4096];
} EchoConn;

typedef struct {
  GSocketService *service;
  guint16         port_v4;
  guint16         port_v6;     /* 0 if ::1 is unavailable */
  GPtrArray      *peers;       /* (element-type GSocketAddress): who connected */
  GPtrArray      *conns;       /* (element-type GSocketConnection) */
} Echo;

static void echo_read (EchoConn *ec);

static void
echo_written_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EchoConn *ec = user_data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL,
                                         NULL))
    {
      g_object_unref (ec->conn);
      g_free (ec);
      return;
    }
  echo_read (ec);
}

static void
echo_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EchoConn *ec = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n <= 0)
    {
      /* half-close: EOF from the client, shut our side too */
      g_socket_shutdown (g_socket_connection_get_socket (ec->conn), FALSE, TRUE,
                         NULL);
      g_object_unref (ec->conn);
      g_free (ec);
      return;
    }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (ec->conn)),
                                   ec->buf, (gsize) n, G_PRIORITY_DEFAULT, NULL,
                                   echo_written_cb, ec);
}

static void
echo_read (EchoConn *ec)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (ec->conn)),
                             ec->buf, sizeof ec->buf, G_PRIORITY_DEFAULT, NULL,
                             echo_read_cb, ec);
}

static gboolean
echo_incoming_cb (GSocketService    *service,
                  GSocketConnection *connection,
                  GObject           *source_object,
                  gpointer           user_data)
{
  Echo *echo = user_data;
  EchoConn *ec = g_new0 (EchoConn, 1);

  g_ptr_array_add (echo->peers,
                   g_socket_connection_get_remote_address (connection, NULL));
  g_ptr_array_add (echo->conns, g_object_ref (connection));
  ec->conn = g_object_ref (connection);
  echo_read (ec);
  return TRUE;
}

static guint16
listen_any_port (GSocketListener *listener,
                 const char      *host,
                 GError         **error)
{
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (host);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (inet, 0);
  g_autoptr(GSocketAddress) effective = NULL;

  if (!g_socket_listener_add_address (listener, address, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, NULL, &effective, error))
    return 0;
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
}

static void
echo_start (Echo *echo)
{
  g_autoptr(GError) error = NULL;

  echo->service = g_socket_service_new ();
  /* inactive while adding addresses: adding one to an active service
   * cancels its pending accept, which may lose a connection (GLib 2.74) */
  g_socket_service_stop (echo->service);
  echo->peers = g_ptr_array_new_with_free_func (g_object_unref);
  echo->conns = g_ptr_array_new_with_free_func (g_object_unref);
  echo->port_v4 = listen_any_port (G_SOCKET_LISTENER (echo->service),
                                   "127.0.0.1", &error);
  g_assert_no_error (error);
  echo->port_v6 = listen_any_port (G_SOCKET_LISTENER (echo->service), "::1",
                                   NULL);
  g_signal_connect (echo->service, "incoming", G_CALLBACK (echo_incoming_cb),
                    echo);
  g_socket_service_start (echo->service);
}

static void
echo_stop (Echo *echo)
{
  g_socket_service_stop (echo->service);
  g_socket_listener_close (G_SOCKET_LISTENER (echo->service));
  for (guint i = 0; i < echo->conns->len; i++)
    g_io_stream_close (g_ptr_array_index (echo->conns, i), NULL, NULL);
  g_clear_object (&echo->service);
  g_clear_pointer (&echo->peers, g_ptr_array_unref);
  g_clear_pointer (&echo->conns, g_ptr_array_unref);
}

/* ---------------------------------------------------------------------- */
/* The fixture: registry, activity, server, echo target                    */

typedef struct {
  ExgRouterRegistry *registry;
  ExgActivity       *activity;
  ExgServer         *server;
  guint16            port;
  Echo               echo;
  GResolver         *resolver;
  guint              lookups;    /* counted by resolver (atomic) */
  GResolver         *old_resolver;
  GPtrArray         *clients;    /* (element-type GSocketConnection) */
} Fixture;

static void
add_direct_router (Fixture    *f,
                   const char *id,
                   const char *address,
                   const char *country,
                   guint64     bandwidth,
                   guint       path_length)
{
  /* made-up exit address, country and bandwidth; traffic goes to loopback */
  g_autoptr(ExgBackend) backend = exg_backend_direct_new (NULL);
  g_autoptr(ExgRouter) router = exg_router_new (id, id, EXG_ROUTER_KIND_DIRECT,
                                                address,
                                                country, bandwidth, path_length, backend);

  exg_router_registry_add (f->registry, router);
}

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) bound = NULL;

  f->old_resolver = g_resolver_get_default ();
  /* deterministic answers; every other name is not found */
  f->resolver = exg_test_resolver_new (&f->lookups);
  exg_test_resolver_add_name (f->resolver, "dual.test", "2001:db8::7",
                              "192.0.2.7", NULL);
  exg_test_resolver_add_name (f->resolver, "v6only.test", "2001:db8::6",
                              NULL);
  exg_test_resolver_add_ptr (f->resolver, "192.0.2.7", "dual.test");
  exg_test_resolver_add_ptr (f->resolver, "2001:db8::6", "v6only.test");

  f->registry = exg_router_registry_new ();
  f->activity = exg_activity_new (0);
  f->server = exg_server_new (f->registry, f->activity);
  f->clients = g_ptr_array_new_with_free_func (g_object_unref);

  add_direct_router (f, "se-1", "203.0.113.10", "SE", 5000000, 1);
  add_direct_router (f, "de-1", "198.51.100.20", "DE", 7000000000ULL, 3);

  g_assert_true (exg_server_listen_string (f->server, "127.0.0.1:0", &bound,
                                           &error));
  g_assert_no_error (error);
  f->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_assert_cmpuint (f->port, !=, 0);
  g_assert_true (exg_server_get_listening (f->server));

  echo_start (&f->echo);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  exg_server_stop (f->server);
  g_assert_false (exg_server_get_listening (f->server));
  g_assert_cmpuint (exg_activity_get_n_connections (f->activity), ==, 0);
  echo_stop (&f->echo);
  g_clear_pointer (&f->clients, g_ptr_array_unref);
  g_clear_object (&f->server);
  g_clear_object (&f->activity);
  g_clear_object (&f->registry);
  g_resolver_set_default (f->old_resolver);
  g_clear_object (&f->old_resolver);
  g_clear_object (&f->resolver);
}

static void
use_test_resolver (Fixture *f)
{
  g_resolver_set_default (f->resolver);
}

static GSocket *
client_connect (Fixture *f)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  GSocketConnection *conn;

  g_socket_client_set_enable_proxy (client, FALSE);
  /* a connect to a listening loopback socket completes in the kernel:
   * blocking here does not need the server's main loop */
  conn = g_socket_client_connect_to_host (client, "127.0.0.1", f->port, NULL,
                                          &error);
  g_assert_no_error (error);
  g_ptr_array_add (f->clients, conn);
  return g_socket_connection_get_socket (conn);
}

static void
v5_greet (GSocket *s,
          guint8   method)
{
  guint8 greeting[] = { 0x05, 0x01, method };
  guint8 reply[2];

  send_all (s, greeting, sizeof greeting);
  recv_exact (s, reply, 2);
  g_assert_cmphex (reply[0], ==, 0x05);
  g_assert_cmphex (reply[1], ==, method);
}

static void
v5_request_ipv4 (GSocket *s,
                 guint8   command,
                 const guint8 ip[4],
                 guint16  port)
{
  guint8 req[] = { 0x05, command, 0x00, 0x01, ip[0], ip[1], ip[2], ip[3], port >> 8, port & 0xff };

  send_all (s, req, sizeof req);
}

static void
v5_request_name (GSocket    *s,
                 guint8      command,
                 const char *name,
                 guint16     port)
{
  guint8 req[300];
  gsize len = strlen (name);

  req[0] = 0x05;
  req[1] = command;
  req[2] = 0x00;
  req[3] = 0x03;
  req[4] = (guint8) len;
  memcpy (req + 5, name, len);
  req[5 + len] = port >> 8;
  req[6 + len] = port & 0xff;
  send_all (s, req, 7 + len);
}

/* Reads a whole v5 reply; returns the code and fills *bound. */
static guint8
v5_read_reply (GSocket      *s,
               ExgSocksAddr *bound)
{
  guint8 buf[EXG_SOCKS5_REPLY_MAX];
  gsize have = 0;

  for (;;)
    {
      gsize used = 0;
      guint8 code = 0xff;
      ExgParseResult r;

      r = exg_socks5_reply_parse (buf, have, &used, &code, bound);
      if (r == EXG_PARSE_OK)
        {
          g_assert_cmpuint (used, ==, have);
          return code;
        }
      g_assert_cmpint (r, ==, EXG_PARSE_NEED_MORE);
      /* one byte at a time: never read past the reply */
      recv_exact (s, buf + have, 1);
      have++;
      g_assert_cmpuint (have, <, sizeof buf);
    }
}

static void
assert_echo (GSocket    *s,
             const char *text)
{
  gsize len = strlen (text);
  g_autofree guint8 *back = g_malloc (len);

  send_all (s, (const guint8 *) text, len);
  recv_exact (s, back, len);
  g_assert_cmpmem (back, len, text, len);
}

static const guint8 loopback4[4] = { 127, 0, 0, 1 };

static void G_GNUC_PRINTF (2, 3)
assert_text (const char *actual,
             const char *format,
             ...)
{
  g_autofree char *expected = NULL;
  va_list args;

  va_start (args, format);
  expected = g_strdup_vprintf (format, args);
  va_end (args);
  g_assert_cmpstr (actual, ==, expected);
}

/* The target saw the peer the server said it bound (BND = real local
 * address and port of the outgoing connection). */
static void
assert_bound_is_last_peer (Fixture            *f,
                           const ExgSocksAddr *bound)
{
  GInetSocketAddress *peer;
  g_autofree char *peer_host = NULL;
  g_autoptr(GInetAddress) bound_inet = NULL;
  g_autofree char *bound_host = NULL;

  g_assert_cmpuint (f->echo.peers->len, >, 0);
  peer = g_ptr_array_index (f->echo.peers, f->echo.peers->len - 1);
  peer_host = g_inet_address_to_string (g_inet_socket_address_get_address (peer));
  g_assert_cmpuint (bound->port, ==, g_inet_socket_address_get_port (peer));
  g_assert_cmpuint (bound->port, !=, 0);
  bound_inet = g_inet_address_new_from_bytes (bound->ip,
                                              bound->type == EXG_SOCKS_ATYP_IPV4
                                                ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6);
  bound_host = g_inet_address_to_string (bound_inet);
  g_assert_cmpstr (bound_host, ==, peer_host);
}

static gboolean
peers_at_least_one (gpointer data)
{
  Fixture *f = data;
  return f->echo.peers->len > 0;
}

static ExgConnInfo *
only_connection (Fixture *f)
{
  g_autoptr(GPtrArray) list = exg_activity_list_connections (f->activity);

  g_assert_cmpuint (list->len, ==, 1);
  return g_ptr_array_index (list, 0);
}

typedef struct {
  Fixture *f;
  guint    n;
} CountWait;

static gboolean
n_connections_is (gpointer data)
{
  CountWait *w = data;
  return exg_activity_get_n_connections (w->f->activity) == w->n;
}

static void
wait_n_connections (Fixture *f,
                    guint    n)
{
  CountWait w = { f, n };

  exg_test_wait_until (n_connections_is, &w, WAIT_SECONDS);
}

/* ---------------------------------------------------------------------- */
/* CONNECT                                                                 */

static void
test_v5_connect_ipv4 (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  ExgSocksAddr bound;
  ExgConnInfo *info;

  v5_greet (s, 0x00);
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  g_assert_cmpint (bound.type, ==, EXG_SOCKS_ATYP_IPV4);
  exg_test_wait_until (peers_at_least_one, f, WAIT_SECONDS);
  assert_bound_is_last_peer (f, &bound);

  assert_echo (s, "hello through the exit");
  assert_echo (s, "and again");

  info = only_connection (f);
  g_assert_cmpint (info->state, ==, EXG_CONN_STATE_OPEN);
  g_assert_cmpuint (info->command, ==, 0x01);
  assert_text (info->target, "127.0.0.1:%u", f->echo.port_v4);
  g_assert_nonnull (info->exit_id);
  g_assert_true (g_str_equal (info->exit_id, "se-1") ||
                 g_str_equal (info->exit_id, "de-1"));
  g_assert_cmpstr (info->exit_name, ==, info->exit_id);
  g_assert_cmpstr (info->exit_country, ==,
                   g_str_equal (info->exit_id, "se-1") ? "SE" : "DE");
  g_assert_null (info->username);
  g_assert_true (g_str_has_prefix (info->client, "127.0.0.1:"));
  /* the isolation key: the client's address and an empty username */
  g_assert_cmpstr (info->isolation, ==, "127.0.0.1 ");
}

static void
test_v5_connect_ipv6 (Fixture *f, gconstpointer data)
{
  GSocket *s;
  ExgSocksAddr bound;
  guint8 req[22] = { 0x05, 0x01, 0x00, 0x04 };

  if (f->echo.port_v6 == 0)
    {
      g_test_skip ("no IPv6 loopback");
      return;
    }

  s = client_connect (f);
  v5_greet (s, 0x00);
  req[4 + 15] = 1;   /* ::1 */
  req[20] = f->echo.port_v6 >> 8;
  req[21] = f->echo.port_v6 & 0xff;
  send_all (s, req, sizeof req);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  /* the outgoing connection is IPv6: BND is ATYP 4 */
  g_assert_cmpint (bound.type, ==, EXG_SOCKS_ATYP_IPV6);
  exg_test_wait_until (peers_at_least_one, f, WAIT_SECONDS);
  assert_bound_is_last_peer (f, &bound);
  assert_echo (s, "over IPv6");
  assert_text (only_connection (f)->target, "[::1]:%u", f->echo.port_v6);
}

static void
test_v5_connect_hostname (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  ExgSocksAddr bound;

  v5_greet (s, 0x00);
  v5_request_name (s, 0x01, "localhost", f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  exg_test_wait_until (peers_at_least_one, f, WAIT_SECONDS);
  assert_bound_is_last_peer (f, &bound);
  assert_echo (s, "by name");
  assert_text (only_connection (f)->target, "localhost:%u", f->echo.port_v4);
}

static void
test_v4_connect (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  guint8 req[] = { 0x04, 0x01, f->echo.port_v4 >> 8, f->echo.port_v4 & 0xff,
                   127, 0, 0, 1, 'u', 's', 'e', 'r', 0 };
  guint8 reply[8];
  GInetSocketAddress *peer;

  send_all (s, req, sizeof req);
  recv_exact (s, reply, 8);
  g_assert_cmphex (reply[0], ==, 0x00);
  g_assert_cmphex (reply[1], ==, 0x5A);
  exg_test_wait_until (peers_at_least_one, f, WAIT_SECONDS);
  peer = g_ptr_array_index (f->echo.peers, 0);
  /* 00 5A port ip: the real local end of the outgoing connection */
  g_assert_cmpuint ((reply[2] << 8) | reply[3], ==,
                    g_inet_socket_address_get_port (peer));
  g_assert_cmpmem (reply + 4, 4, loopback4, 4);
  assert_echo (s, "socks4");
  /* SOCKS4 userids are ignored (tor) */
  g_assert_null (only_connection (f)->username);
}

static void
test_v4a_connect (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  guint8 req[] = { 0x04, 0x01, f->echo.port_v4 >> 8, f->echo.port_v4 & 0xff,
                   0, 0, 0, 1, 0, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', 0 };
  guint8 reply[8];

  send_all (s, req, sizeof req);
  recv_exact (s, reply, 8);
  g_assert_cmphex (reply[0], ==, 0x00);
  g_assert_cmphex (reply[1], ==, 0x5A);
  assert_echo (s, "socks4a");
  assert_text (only_connection (f)->target, "localhost:%u", f->echo.port_v4);
}

static void
test_v5_auth_any_credentials (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  guint8 greeting[] = { 0x05, 0x02, 0x00, 0x02 };
  guint8 auth[] = { 0x01, 5, 'a', 'l', 'i', 'c', 'e', 3, 'p', 'w', 'd' };
  guint8 reply[2];
  ExgSocksAddr bound;
  ExgConnInfo *info;

  send_all (s, greeting, sizeof greeting);
  recv_exact (s, reply, 2);
  /* 02 is preferred when offered */
  g_assert_cmphex (reply[0], ==, 0x05);
  g_assert_cmphex (reply[1], ==, 0x02);
  send_all (s, auth, sizeof auth);
  recv_exact (s, reply, 2);
  g_assert_cmphex (reply[0], ==, 0x01);
  g_assert_cmphex (reply[1], ==, 0x00);
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  assert_echo (s, "authenticated");

  info = only_connection (f);
  /* not a selection: just an isolation key, kept */
  g_assert_cmpstr (info->username, ==, "alice");
  g_assert_cmpstr (info->isolation, ==, "127.0.0.1 alice");
}

static void
test_v5_auth_required (Fixture *f, gconstpointer data)
{
  GSocket *s;
  guint8 greeting_noauth[] = { 0x05, 0x02, 0x00, 0xE0 };
  guint8 greeting[] = { 0x05, 0x01, 0x02 };
  guint8 bad[] = { 0x01, 1, 'u', 1, 'x' };
  guint8 good[] = { 0x01, 1, 'u', 2, 'p', 'w' };
  guint8 reply[2];
  ExgSocksAddr bound;

  exg_server_set_credentials (f->server, "u", "pw");

  /* no 02 offered (not even E0 may bypass the password): FF and close */
  s = client_connect (f);
  send_all (s, greeting_noauth, sizeof greeting_noauth);
  recv_exact (s, reply, 2);
  g_assert_cmphex (reply[1], ==, 0xFF);
  expect_closed (s);

  s = client_connect (f);
  send_all (s, greeting, sizeof greeting);
  recv_exact (s, reply, 2);
  g_assert_cmphex (reply[1], ==, 0x02);
  send_all (s, bad, sizeof bad);
  recv_exact (s, reply, 2);
  g_assert_cmphex (reply[0], ==, 0x01);
  g_assert_cmphex (reply[1], !=, 0x00);
  expect_closed (s);

  s = client_connect (f);
  send_all (s, greeting, sizeof greeting);
  recv_exact (s, reply, 2);
  send_all (s, good, sizeof good);
  recv_exact (s, reply, 2);
  g_assert_cmphex (reply[1], ==, 0x00);
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  assert_echo (s, "with the right password");
}

static void
test_v5_no_acceptable_method (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  guint8 greeting[] = { 0x05, 0x01, 0x01 };   /* GSSAPI only */
  guint8 reply[2];

  send_all (s, greeting, sizeof greeting);
  recv_exact (s, reply, 2);
  g_assert_cmphex (reply[0], ==, 0x05);
  g_assert_cmphex (reply[1], ==, 0xFF);
  expect_closed (s);
}

static void
test_pipelined (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  /* greeting, request and data in one write, before any reply */
  guint8 all[3 + 10 + 9] = { 0x05, 0x01, 0x00,
                             0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1,
                             f->echo.port_v4 >> 8, f->echo.port_v4 & 0xff };
  guint8 reply[2];
  guint8 back[9];
  ExgSocksAddr bound;

  memcpy (all + 13, "pipelined", 9);
  send_all (s, all, sizeof all);
  recv_exact (s, reply, 2);
  g_assert_cmphex (reply[1], ==, 0x00);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  /* the early data was kept and forwarded once connected */
  recv_exact (s, back, 9);
  g_assert_cmpmem (back, 9, "pipelined", 9);
  assert_echo (s, "and after");
}

typedef struct {
  int           fd;
  const guint8 *data;
  gsize         len;
  gboolean      ok;
} SendJob;

/* Sends it all from a thread, while the test's thread runs the server */
static gpointer
send_thread (gpointer user_data)
{
  SendJob *job = user_data;
  gsize off = 0;

  while (off < job->len)
    {
      struct pollfd pfd = { .fd = job->fd, .events = POLLOUT };
      ssize_t n = send (job->fd, job->data + off, job->len - off, MSG_NOSIGNAL);

      if (n > 0)
        off += (gsize) n;
      else if (n < 0 && errno == EAGAIN && poll (&pfd, 1, WAIT_SECONDS * 1000) == 1)
        continue;
      else
        return NULL;
    }
  job->ok = TRUE;
  return NULL;
}

/* More after the request than the handshake buffer, and than a session
 * keeps while the exit connects, all in one go before any reply: the
 * session keeps what it may, the relay reads the rest, in order. */
static void
test_pipelined_large (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  const gsize head = 3 + 10, body = 200 * 1024;
  g_autofree guint8 *all = g_malloc (head + body);
  g_autofree guint8 *back = g_malloc (body);
  const guint8 request[] = { 0x05, 0x01, 0x00,
                             0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1,
                             f->echo.port_v4 >> 8, f->echo.port_v4 & 0xff };
  SendJob job = { g_socket_get_fd (s), all, head + body, FALSE };
  ExgSocksAddr bound;
  guint8 reply[2];
  GThread *sender;

  memcpy (all, request, head);
  for (gsize i = 0; i < body; i++)
    all[head + i] = (guint8) (i * 131 + (i >> 9));
  sender = g_thread_new ("pipelined sender", send_thread, &job);

  recv_exact (s, reply, 2);
  g_assert_cmphex (reply[1], ==, 0x00);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  recv_exact (s, back, body);
  g_thread_join (sender);
  g_assert_true (job.ok);
  g_assert_cmpmem (back, body, all + head, body);
  assert_echo (s, "and after");
}

static void
test_half_close (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  ExgSocksAddr bound;
  guint8 back[6];

  v5_greet (s, 0x00);
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  send_all (s, (const guint8 *) "last!!", 6);
  g_assert_true (g_socket_shutdown (s, FALSE, TRUE, NULL));
  /* the other direction keeps flowing, then the target's EOF arrives */
  recv_exact (s, back, 6);
  g_assert_cmpmem (back, 6, "last!!", 6);
  expect_closed (s);
  wait_n_connections (f, 0);
}

static gboolean
bytes_counted (gpointer data)
{
  Fixture *f = data;
  g_autoptr(GPtrArray) list = exg_activity_list_connections (f->activity);
  ExgConnInfo *info;

  if (list->len != 1)
    return FALSE;
  info = g_ptr_array_index (list, 0);
  return info->bytes_up == 1000 && info->bytes_down == 1000;
}

typedef struct {
  guint added, changed, removed;
  ExgConnInfo *last_removed;
} ActivitySignals;

static void
on_added (ExgActivity *a, ExgConnInfo *info, ActivitySignals *sig)
{
  sig->added++;
}

static void
on_changed (ExgActivity *a, ExgConnInfo *info, ActivitySignals *sig)
{
  sig->changed++;
}

static void
on_removed (ExgActivity *a, ExgConnInfo *info, ActivitySignals *sig)
{
  sig->removed++;
  g_clear_pointer (&sig->last_removed, exg_conn_info_unref);
  sig->last_removed = exg_conn_info_ref (info);
}

static void
test_activity_records (Fixture *f, gconstpointer data)
{
  ActivitySignals sig = { 0 };
  GSocket *s;
  ExgSocksAddr bound;
  guint8 block[1000];
  guint64 up, down;

  g_signal_connect (f->activity, "connection-added", G_CALLBACK (on_added),
                    &sig);
  g_signal_connect (f->activity, "connection-changed", G_CALLBACK (on_changed),
                    &sig);
  g_signal_connect (f->activity, "connection-removed", G_CALLBACK (on_removed),
                    &sig);

  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  g_assert_cmpuint (sig.added, ==, 1);
  g_assert_cmpuint (sig.changed, >=, 2);   /* request, connecting, open */

  memset (block, 'x', sizeof block);
  send_all (s, block, sizeof block);
  recv_exact (s, block, sizeof block);
  exg_test_wait_until (bytes_counted, f, WAIT_SECONDS);
  exg_activity_get_totals (f->activity, &up, &down);
  g_assert_cmpuint (up, ==, 1000);
  g_assert_cmpuint (down, ==, 1000);

  /* the client closes: the record goes, with its end time and bytes */
  g_socket_close (s, NULL);
  wait_n_connections (f, 0);
  g_assert_cmpuint (sig.removed, ==, 1);
  g_assert_nonnull (sig.last_removed);
  g_assert_cmpint (sig.last_removed->state, ==, EXG_CONN_STATE_CLOSED);
  g_assert_cmpint (sig.last_removed->end_time, >=,
                   sig.last_removed->start_time);
  g_assert_cmpuint (sig.last_removed->bytes_up, ==, 1000);
  g_assert_nonnull (sig.last_removed->exit_id);
  g_clear_pointer (&sig.last_removed, exg_conn_info_unref);
  g_signal_handlers_disconnect_by_data (f->activity, &sig);
}

static void
test_close_connection_by_id (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  ExgSocksAddr bound;
  guint64 id;

  v5_greet (s, 0x00);
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  id = only_connection (f)->id;
  g_assert_false (exg_server_close_connection (f->server, id + 100));
  g_assert_true (exg_server_close_connection (f->server, id));
  expect_closed (s);
  g_assert_cmpuint (exg_activity_get_n_connections (f->activity), ==, 0);
}

/* ---------------------------------------------------------------------- */
/* Reply codes                                                             */

static guint16
closed_port (void)
{
  /* bind, learn the port, close: nothing listens there now */
  g_autoptr(GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4,
                                          G_SOCKET_TYPE_STREAM,
                                          G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) local = NULL;

  g_assert_true (g_socket_bind (sock, addr, FALSE, NULL));
  local = g_socket_get_local_address (sock, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
}

static void
test_reply_refused (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  ExgSocksAddr bound;
  ExgConnInfo *removed = NULL;

  v5_greet (s, 0x00);
  v5_request_ipv4 (s, 0x01, loopback4, closed_port ());
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x05);
  g_assert_cmpint (bound.type, ==, EXG_SOCKS_ATYP_IPV4);
  expect_closed (s);
  wait_n_connections (f, 0);
  (void) removed;
}

static void
test_reply_v4_failure (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  guint16 port = closed_port ();
  guint8 req[] = { 0x04, 0x01, port >> 8, port & 0xff, 127, 0, 0, 1, 0 };
  guint8 reply[8];
  static const guint8 expected[8] = { 0x00, 0x5B, 0, 0, 0, 0, 0, 0 };

  send_all (s, req, sizeof req);
  recv_exact (s, reply, 8);
  g_assert_cmpmem (reply, 8, expected, 8);
  expect_closed (s);
}

static void
test_reply_name_not_found (Fixture *f, gconstpointer data)
{
  GSocket *s;
  ExgSocksAddr bound;

  use_test_resolver (f);
  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_name (s, 0x01, "nx.test", 80);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x04);
  expect_closed (s);
  g_assert_cmpuint (g_atomic_int_get (&f->lookups), >=, 1);
}

static void
test_reply_unsupported_commands (Fixture *f, gconstpointer data)
{
  static const guint8 commands[] = { 0x02, 0x03, 0xF2, 0x7F };

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      GSocket *s = client_connect (f);
      ExgSocksAddr bound;

      v5_greet (s, 0x00);
      v5_request_ipv4 (s, commands[i], loopback4, f->echo.port_v4);
      g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x07);
      expect_closed (s);
    }
}

static void
test_reply_bad_address_type (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  guint8 req[] = { 0x05, 0x01, 0x00, 0x09, 1, 2, 3, 4, 0, 80 };
  ExgSocksAddr bound;

  v5_greet (s, 0x00);
  send_all (s, req, sizeof req);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x08);
  expect_closed (s);
}

static void
test_reply_no_router (Fixture *f, gconstpointer data)
{
  GSocket *s;
  ExgSocksAddr bound;
  ExgSelection sel;

  /* a default selection no router matches: 02, never another country */
  exg_selection_init_any (&sel);
  exg_selection_set_country (&sel, "FR");
  exg_server_set_default_selection (f->server, &sel);

  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x02);
  expect_closed (s);
  g_assert_cmpuint (f->echo.peers->len, ==, 0);

  /* a default selection that matches is used */
  exg_selection_set_country (&sel, "de");
  exg_server_set_default_selection (f->server, &sel);
  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  g_assert_cmpstr (only_connection (f)->exit_id, ==, "de-1");
}

static void
test_malformed_then_serving (Fixture *f, gconstpointer data)
{
  static const guint8 junk[] = { 0x17, 0x03, 0x03 };   /* a TLS record */
  static const guint8 zero_methods[] = { 0x05, 0x00 };
  GSocket *s;
  ExgSocksAddr bound;

  s = client_connect (f);
  send_all (s, junk, sizeof junk);
  expect_closed (s);

  /* no method at all: nothing acceptable */
  s = client_connect (f);
  send_all (s, zero_methods, sizeof zero_methods);
  {
    guint8 reply[2];

    recv_exact (s, reply, 2);
    g_assert_cmphex (reply[0], ==, 0x05);
    g_assert_cmphex (reply[1], ==, 0xFF);
  }
  expect_closed (s);

  /* over 512 bytes of handshake: rejected */
  s = client_connect (f);
  {
    guint8 big[600] = { 0x04, 0x01, 0x00, 0x50, 0, 0, 0, 1 };

    guint8 reply[8];

    memset (big + 8, 'a', sizeof big - 8);
    send_all (s, big, sizeof big);
    recv_exact (s, reply, 8);
    g_assert_cmphex (reply[0], ==, 0x00);
    g_assert_cmphex (reply[1], ==, 0x5B);
    expect_closed (s);
  }

  /* and the server still serves */
  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  assert_echo (s, "still here");
}

static void
test_http_page (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  const char *req = "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n";
  g_autoptr(GString) page = g_string_new (NULL);

  send_all (s, (const guint8 *) req, strlen (req));
  for (;;)
    {
      guint8 buf[1024];
      gssize n = recv_some (s, buf, sizeof buf);

      if (n <= 0)
        break;
      g_string_append_len (page, (const char *) buf, n);
    }
  g_assert_true (g_str_has_prefix (page->str, "HTTP/1.0 501"));
  g_assert_nonnull (strstr (page->str, "Content-Type: text/html"));
  g_assert_nonnull (strstr (page->str, "SOCKS"));
}

/* ---------------------------------------------------------------------- */
/* E0 router selection (socks-extensions.txt §5)                           */

static void
e0_select (GSocket    *s,
           const char *country,
           guint32     start,
           guint32     end,
           guint32     min_bw,
           guint8      reply[14])
{
  guint8 req[18];

  g_assert_cmpuint (exg_socks_select_request_encode (req, sizeof req, country,
                                                     start, end, min_bw),
                    ==, 18);
  send_all (s, req, 18);
  recv_exact (s, reply, 14);
}

static void
test_e0_last_selection_wins (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  guint8 reply[14];
  ExgSocksAddr bound;
  ExgConnInfo *info;
  static const guint8 se_reply[14] = { 0x05, 0x00, 0xFF, 0x01, 'S', 'E',
                                       203, 0, 113, 10, 0x00, 0x4C, 0x4B, 0x40 };
  /* DE advertises 7 GB/s: capped at 0xFFFFFFFF; circuit_pos = path length 3 */
  static const guint8 de_reply[14] = { 0x05, 0x00, 0xFF, 0x03, 'D', 'E',
                                       198, 51, 100, 20, 0xFF, 0xFF, 0xFF, 0xFF };

  v5_greet (s, 0xE0);
  e0_select (s, "SE", 0, G_MAXUINT32, 0, reply);
  g_assert_cmpmem (reply, 14, se_reply, 14);
  /* lower case works too */
  e0_select (s, "de", 0, G_MAXUINT32, 0, reply);
  g_assert_cmpmem (reply, 14, de_reply, 14);
  e0_select (s, "se", 0xCB007100, 0xCB0071FF, 5000000, reply);
  g_assert_cmpmem (reply, 14, se_reply, 14);
  /* the last one before the request decides */
  e0_select (s, "", 0xC6336400, 0xC63364FF, 0, reply);
  g_assert_cmpmem (reply, 14, de_reply, 14);

  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  assert_echo (s, "through DE");
  info = only_connection (f);
  g_assert_cmpstr (info->exit_id, ==, "de-1");
  g_assert_cmpstr (info->exit_country, ==, "DE");
}

static void
test_e0_no_match (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  guint8 reply[14];
  ExgSocksAddr bound;
  static const guint8 ff_reply[14] = { 0x05, 0xFF, 0xFF, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

  v5_greet (s, 0xE0);
  /* no such country */
  e0_select (s, "FR", 0, G_MAXUINT32, 0, reply);
  g_assert_cmpmem (reply, 14, ff_reply, 14);
  /* too much bandwidth */
  e0_select (s, "SE", 0, G_MAXUINT32, 5000001, reply);
  g_assert_cmpmem (reply, 14, ff_reply, 14);
  /* a range with start above end */
  e0_select (s, "", 0xCB0071FF, 0xCB007100, 0, reply);
  g_assert_cmpmem (reply, 14, ff_reply, 14);
  /* the connection stays usable; after a failed last selection the
   * request is refused with 02, never sent elsewhere */
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x02);
  expect_closed (s);
  g_assert_cmpuint (f->echo.peers->len, ==, 0);
}

static void
test_e0_ff_then_success (Fixture *f, gconstpointer data)
{
  GSocket *s = client_connect (f);
  guint8 reply[14];
  ExgSocksAddr bound;

  v5_greet (s, 0xE0);
  e0_select (s, "FR", 0, G_MAXUINT32, 0, reply);
  g_assert_cmphex (reply[1], ==, 0xFF);
  e0_select (s, "SE", 0, G_MAXUINT32, 0, reply);
  g_assert_cmphex (reply[1], ==, 0x00);
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  assert_echo (s, "SE after FF");
  g_assert_cmpstr (only_connection (f)->exit_id, ==, "se-1");
}

static void
test_e0_router_not_repicked (Fixture *f, gconstpointer data)
{
  GSocket *s;
  guint8 reply[14];
  ExgSocksAddr bound;

  /* two SE routers: the connection must use the one the reply named */
  add_direct_router (f, "se-2", "203.0.113.99", "SE", 5000000, 1);
  for (int round = 0; round < 8; round++)
    {
      g_autofree char *expected = NULL;
      ExgConnInfo *info;

      s = client_connect (f);
      v5_greet (s, 0xE0);
      e0_select (s, "SE", 0, G_MAXUINT32, 0, reply);
      g_assert_cmphex (reply[1], ==, 0x00);
      expected = g_strdup (reply[9] == 10 ? "se-1" : "se-2");
      v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
      g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
      info = only_connection (f);
      g_assert_cmpstr (info->exit_id, ==, expected);
      g_socket_close (s, NULL);
      wait_n_connections (f, 0);
    }
}

static void
test_e0_resolve_uses_selection (Fixture *f, gconstpointer data)
{
  GSocket *s;
  guint8 reply[14];
  ExgSocksAddr bound;
  const GQueue *lookups;
  ExgLookup *last;

  use_test_resolver (f);
  s = client_connect (f);
  v5_greet (s, 0xE0);
  e0_select (s, "DE", 0, G_MAXUINT32, 0, reply);
  g_assert_cmphex (reply[1], ==, 0x00);
  v5_request_name (s, 0xF0, "dual.test", 0);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  lookups = exg_activity_get_lookups (f->activity);
  last = g_queue_peek_tail ((GQueue *) lookups);
  g_assert_cmpstr (last->query, ==, "dual.test");
  g_assert_cmpstr (last->exit_name, ==, "de-1");
  g_assert_cmpstr (last->exit_country, ==, "DE");
}

/* ---------------------------------------------------------------------- */
/* Username selection                                                      */

static GSocket *
v5_login (Fixture    *f,
          const char *username)
{
  GSocket *s = client_connect (f);
  guint8 auth[600];
  gsize ulen = strlen (username);
  guint8 reply[2];

  v5_greet (s, 0x02);
  auth[0] = 0x01;
  auth[1] = (guint8) ulen;
  memcpy (auth + 2, username, ulen);
  auth[2 + ulen] = 1;
  auth[3 + ulen] = 'x';
  send_all (s, auth, 4 + ulen);
  recv_exact (s, reply, 2);
  g_assert_cmphex (reply[1], ==, 0x00);
  return s;
}

static void
test_username_selection (Fixture *f, gconstpointer data)
{
  GSocket *s;
  ExgSocksAddr bound;
  ExgConnInfo *info;
  ExgSelection sel;

  /* the username overrides the server's default selection */
  exg_selection_init_any (&sel);
  exg_selection_set_country (&sel, "SE");
  exg_server_set_default_selection (f->server, &sel);

  s = v5_login (f, "country=de");
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  info = only_connection (f);
  g_assert_cmpstr (info->exit_id, ==, "de-1");
  g_assert_cmpstr (info->username, ==, "country=de");
  /* selection keys are no part of the isolation key */
  g_assert_cmpstr (info->isolation, ==, "127.0.0.1 ");
  g_socket_close (s, NULL);
  wait_n_connections (f, 0);

  s = v5_login (f, "range=203.0.113.0-203.0.113.255");
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  g_assert_cmpstr (only_connection (f)->exit_id, ==, "se-1");
  g_socket_close (s, NULL);
  wait_n_connections (f, 0);

  s = v5_login (f, "country=se,min-bw=6000000");
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x02);
  expect_closed (s);

  /* a country nobody has: 02 */
  s = v5_login (f, "country=fr");
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x02);
  expect_closed (s);

  /* a bad value: 02 */
  s = v5_login (f, "country=sweden");
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x02);
  expect_closed (s);
  g_assert_cmpuint (f->echo.peers->len, ==, 2);

  /* any other username is an isolation key: the default applies */
  s = v5_login (f, "tab-42");
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  g_assert_cmpstr (only_connection (f)->exit_id, ==, "se-1");
}

/* ---------------------------------------------------------------------- */
/* RESOLVE and RESOLVE_PTR (socks-extensions.txt §2)                       */

static ExgLookup *
last_lookup (Fixture *f)
{
  return g_queue_peek_tail ((GQueue *) exg_activity_get_lookups (f->activity));
}

static void
test_resolve_v5 (Fixture *f, gconstpointer data)
{
  GSocket *s;
  ExgSocksAddr bound;
  static const guint8 ip7[4] = { 192, 0, 2, 7 };
  guint8 v6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
  guint8 fail[10];
  static const guint8 expected_fail[10] = { 0x05, 0x04, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
  guint n_before;

  /* the real resolver: localhost */
  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_name (s, 0xF0, "localhost", 0);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  g_assert_cmpuint (bound.port, ==, 0);
  if (bound.type == EXG_SOCKS_ATYP_IPV4)
    g_assert_cmpmem (bound.ip, 4, loopback4, 4);
  else
    g_assert_cmpint (bound.type, ==, EXG_SOCKS_ATYP_IPV6);
  expect_closed (s);
  g_assert_cmpstr (last_lookup (f)->query, ==, "localhost");
  g_assert_nonnull (last_lookup (f)->answer);
  g_assert_nonnull (last_lookup (f)->exit_name);

  use_test_resolver (f);

  /* the first IPv4 of the answer, even when an IPv6 comes first */
  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_name (s, 0xF0, "dual.test", 0);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  g_assert_cmpint (bound.type, ==, EXG_SOCKS_ATYP_IPV4);
  g_assert_cmpmem (bound.ip, 4, ip7, 4);
  g_assert_cmpuint (bound.port, ==, 0);
  expect_closed (s);
  g_assert_cmpint (last_lookup (f)->kind, ==, EXG_LOOKUP_FORWARD);
  g_assert_cmpstr (last_lookup (f)->answer, ==, "2001:db8::7, 192.0.2.7");
  g_assert_null (last_lookup (f)->error);

  /* only IPv6: ATYP 4 */
  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_name (s, 0xF0, "v6only.test", 0);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  g_assert_cmpint (bound.type, ==, EXG_SOCKS_ATYP_IPV6);
  v6[15] = 6;
  g_assert_cmpmem (bound.ip, 16, v6, 16);
  expect_closed (s);

  /* failure: 05 04 00 01 00000000 0000, exactly */
  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_name (s, 0xF0, "nx.test", 0);
  recv_exact (s, fail, 10);
  g_assert_cmpmem (fail, 10, expected_fail, 10);
  expect_closed (s);
  g_assert_cmpstr (last_lookup (f)->query, ==, "nx.test");
  g_assert_null (last_lookup (f)->answer);
  g_assert_nonnull (last_lookup (f)->error);

  /* an IP literal is answered at once, nobody asked */
  n_before = g_atomic_int_get (&f->lookups);
  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_ipv4 (s, 0xF0, loopback4, 0);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  g_assert_cmpmem (bound.ip, 4, loopback4, 4);
  expect_closed (s);

  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_name (s, 0xF0, "::1", 0);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  g_assert_cmpint (bound.type, ==, EXG_SOCKS_ATYP_IPV6);
  g_assert_cmphex (bound.ip[15], ==, 1);
  expect_closed (s);
  g_assert_cmpuint (g_atomic_int_get (&f->lookups), ==, n_before);
  g_assert_cmpstr (last_lookup (f)->query, ==, "::1");
  wait_n_connections (f, 0);
}

static void
test_resolve_v4 (Fixture *f, gconstpointer data)
{
  GSocket *s;
  guint8 reply[8];
  static const guint8 ok[8] = { 0x00, 0x5A, 0, 0, 192, 0, 2, 7 };
  static const guint8 rejected[8] = { 0x00, 0x5B, 0, 0, 0, 0, 0, 0 };
  const char *names[] = { "dual.test", "v6only.test", "nx.test" };

  use_test_resolver (f);
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      guint8 req[64] = { 0x04, 0xF0, 0, 0, 0, 0, 0, 1, 0 };
      gsize len = 9;

      memcpy (req + len, names[i], strlen (names[i]) + 1);
      len += strlen (names[i]) + 1;
      s = client_connect (f);
      send_all (s, req, len);
      recv_exact (s, reply, 8);
      /* IPv6-only and failures: 5B */
      g_assert_cmpmem (reply, 8, i == 0 ? ok : rejected, 8);
      expect_closed (s);
    }
}

static void
test_resolve_ptr (Fixture *f, gconstpointer data)
{
  GSocket *s;
  ExgSocksAddr bound;
  static const guint8 ip7[4] = { 192, 0, 2, 7 };
  guint8 req6[22] = { 0x05, 0xF1, 0x00, 0x04, 0x20, 0x01, 0x0d, 0xb8 };

  /* the real resolver: 127.0.0.1 has some name (localhost, usually) */
  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_ipv4 (s, 0xF1, loopback4, 0);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  g_assert_cmpint (bound.type, ==, EXG_SOCKS_ATYP_DOMAIN);
  g_assert_cmpuint (strlen (bound.host), >, 0);
  expect_closed (s);
  g_assert_cmpint (last_lookup (f)->kind, ==, EXG_LOOKUP_REVERSE);
  g_assert_cmpstr (last_lookup (f)->query, ==, "127.0.0.1");

  use_test_resolver (f);

  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_ipv4 (s, 0xF1, ip7, 0);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  g_assert_cmpint (bound.type, ==, EXG_SOCKS_ATYP_DOMAIN);
  g_assert_cmpstr (bound.host, ==, "dual.test");
  expect_closed (s);
  g_assert_cmpstr (last_lookup (f)->answer, ==, "dual.test");

  s = client_connect (f);
  v5_greet (s, 0x00);
  req6[19] = 6;
  send_all (s, req6, sizeof req6);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  g_assert_cmpstr (bound.host, ==, "v6only.test");
  expect_closed (s);

  /* no PTR: 04 */
  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_ipv4 (s, 0xF1, loopback4, 0);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x04);
  expect_closed (s);
  g_assert_nonnull (last_lookup (f)->error);

  /* a hostname target: 08 */
  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_name (s, 0xF1, "dual.test", 0);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x08);
  expect_closed (s);
}

static void
test_resolve_unsupported_exit (Fixture *f, gconstpointer data)
{
  g_autoptr(ExgBackend) hang = g_object_new (TEST_TYPE_HANG_BACKEND, NULL);
  g_autoptr(ExgRouter) router = exg_router_new ("xx-1", "xx-1",
                                                EXG_ROUTER_KIND_SOCKS5,
                                                "192.0.2.200", "XX", 1, 2, hang);
  GSocket *s;
  ExgSocksAddr bound;

  /* an exit that cannot resolve answers 07, never resolves locally */
  exg_router_registry_add (f->registry, router);
  s = v5_login (f, "country=xx");
  v5_request_name (s, 0xF0, "dual.test", 0);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x07);
  expect_closed (s);
  g_assert_cmpstr (last_lookup (f)->exit_name, ==, "xx-1");
}

/* ---------------------------------------------------------------------- */
/* Limits                                                                  */

static void
test_handshake_timeout (Fixture *f, gconstpointer data)
{
  GSocket *idle, *partial;
  gint64 start = g_get_monotonic_time ();
  static const guint8 half[] = { 0x05, 0x01 };

  exg_server_set_handshake_timeout (f->server, 1);
  g_assert_cmpuint (exg_server_get_handshake_timeout (f->server), ==, 1);
  idle = client_connect (f);
  partial = client_connect (f);
  send_all (partial, half, sizeof half);
  expect_closed (idle);
  expect_closed (partial);
  /* not before the second */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC - 10000);
  wait_n_connections (f, 0);
}

static void
test_timeout_spares_open (Fixture *f, gconstpointer data)
{
  GSocket *s;
  ExgSocksAddr bound;
  gboolean expired = FALSE;

  /* the handshake deadline does not apply once the request is in */
  exg_server_set_handshake_timeout (f->server, 1);
  s = client_connect (f);
  v5_greet (s, 0x00);
  v5_request_ipv4 (s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (s, &bound), ==, 0x00);
  g_timeout_add (1500, exg_test_timeout_cb, &expired);
  while (!expired)
    g_main_context_iteration (NULL, TRUE);
  assert_echo (s, "still open");
}

static void
test_max_connections (Fixture *f, gconstpointer data)
{
  GSocket *a, *b, *c, *d;
  ExgSocksAddr bound;

  exg_server_set_max_connections (f->server, 2);
  g_assert_cmpuint (exg_server_get_max_connections (f->server), ==, 2);
  a = client_connect (f);
  v5_greet (a, 0x00);
  b = client_connect (f);
  v5_greet (b, 0x00);
  wait_n_connections (f, 2);

  /* over the limit: closed at once */
  c = client_connect (f);
  expect_closed (c);
  g_assert_cmpuint (exg_activity_get_n_connections (f->activity), ==, 2);

  /* once one ends, new ones are served again */
  g_socket_close (a, NULL);
  wait_n_connections (f, 1);
  d = client_connect (f);
  v5_greet (d, 0x00);
  v5_request_ipv4 (d, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (d, &bound), ==, 0x00);
  assert_echo (d, "under the limit again");
}

static void
test_allow_list (Fixture *f, gconstpointer data)
{
  const char *elsewhere[] = { "10.0.0.0/8", NULL };
  const char *loopback[] = { "10.0.0.0/8", "127.0.0.0/8", NULL };
  const char *bad[] = { "not-a-network", NULL };
  g_autoptr(GError) error = NULL;
  GSocket *s;

  g_assert_false (exg_server_set_allow_list (f->server, bad, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* a client outside the list is closed at once, before any byte */
  g_assert_true (exg_server_set_allow_list (f->server, elsewhere, &error));
  s = client_connect (f);
  expect_closed (s);

  g_assert_true (exg_server_set_allow_list (f->server, loopback, &error));
  s = client_connect (f);
  v5_greet (s, 0x00);
  g_socket_close (s, NULL);
  wait_n_connections (f, 0);
}

static void
test_listen_needs_allow_list (void)
{
  g_autoptr(ExgRouterRegistry) registry = exg_router_registry_new ();
  g_autoptr(ExgServer) server = exg_server_new (registry, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  const char *allow[] = { "192.0.2.0/24", NULL };

  /* an open proxy is refused */
  g_assert_false (exg_server_listen_string (server, "0.0.0.0:0", &bound,
                                            &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, "allow-list"));
  g_assert_null (bound);
  g_assert_false (exg_server_get_listening (server));
  g_clear_error (&error);

  /* malformed */
  g_assert_false (exg_server_listen_string (server, "127.0.0.1", &bound,
                                            &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (exg_server_listen_string (server, "::1:80", &bound, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (exg_server_listen_string (server, "127.0.0.1:70000", &bound,
                                            &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* with an allow-list it may */
  g_assert_true (exg_server_set_allow_list (server, allow, &error));
  g_assert_true (exg_server_listen_string (server, "0.0.0.0:0", &bound,
                                           &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)), !=, 0);
  g_assert_cmpuint (exg_server_get_listen_addresses (server)->len, ==, 1);
  exg_server_stop (server);
  g_assert_cmpuint (exg_server_get_listen_addresses (server)->len, ==, 0);
}

static void
test_listen_busy_port (Fixture *f, gconstpointer data)
{
  g_autoptr(ExgServer) other = exg_server_new (f->registry, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *address = g_strdup_printf ("127.0.0.1:%u", f->port);

  g_assert_false (exg_server_listen_string (other, address, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
}

static gboolean
hang_started (gpointer data)
{
  return TEST_HANG_BACKEND (data)->started > 0;
}

static gboolean
hang_cancelled (gpointer data)
{
  return TEST_HANG_BACKEND (data)->cancelled > 0;
}

static void
test_disconnect_cancels_connect (Fixture *f, gconstpointer data)
{
  g_autoptr(ExgBackend) hang = g_object_new (TEST_TYPE_HANG_BACKEND, NULL);
  g_autoptr(ExgRouter) router = exg_router_new ("slow-1", "slow-1",
                                                EXG_ROUTER_KIND_SOCKS5,
                                                "192.0.2.100", "NO", 1, 2, hang);
  GSocket *s;
  guint8 reply[14];

  /* privacy: with a non-direct exit no name is resolved here */
  use_test_resolver (f);
  exg_router_registry_add (f->registry, router);
  s = client_connect (f);
  v5_greet (s, 0xE0);
  e0_select (s, "NO", 0, G_MAXUINT32, 0, reply);
  g_assert_cmphex (reply[1], ==, 0x00);
  v5_request_name (s, 0x01, "far.away.test", 443);
  exg_test_wait_until (hang_started, hang, WAIT_SECONDS);
  g_assert_cmpint (only_connection (f)->state, ==, EXG_CONN_STATE_CONNECTING);

  /* data while connecting is fine; going away cancels the attempt */
  send_all (s, (const guint8 *) "early", 5);
  g_socket_close (s, NULL);
  exg_test_wait_until (hang_cancelled, hang, WAIT_SECONDS);
  wait_n_connections (f, 0);
  g_assert_cmpuint (g_atomic_int_get (&f->lookups), ==, 0);
}

static void
test_stop_closes_everything (Fixture *f, gconstpointer data)
{
  GSocket *open_s, *hs;
  ExgSocksAddr bound;

  open_s = client_connect (f);
  v5_greet (open_s, 0x00);
  v5_request_ipv4 (open_s, 0x01, loopback4, f->echo.port_v4);
  g_assert_cmphex (v5_read_reply (open_s, &bound), ==, 0x00);
  hs = client_connect (f);
  wait_n_connections (f, 2);

  exg_server_stop (f->server);
  g_assert_false (exg_server_get_listening (f->server));
  g_assert_cmpuint (exg_activity_get_n_connections (f->activity), ==, 0);
  expect_closed (open_s);
  expect_closed (hs);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("/server/connect/v5-ipv4", test_v5_connect_ipv4);
  ADD ("/server/connect/v5-ipv6", test_v5_connect_ipv6);
  ADD ("/server/connect/v5-hostname", test_v5_connect_hostname);
  ADD ("/server/connect/v4", test_v4_connect);
  ADD ("/server/connect/v4a", test_v4a_connect);
  ADD ("/server/connect/pipelined", test_pipelined);
  ADD ("/server/connect/pipelined-large", test_pipelined_large);
  ADD ("/server/connect/half-close", test_half_close);
  ADD ("/server/auth/any-credentials", test_v5_auth_any_credentials);
  ADD ("/server/auth/required", test_v5_auth_required);
  ADD ("/server/auth/no-acceptable-method", test_v5_no_acceptable_method);
  ADD ("/server/reply/refused", test_reply_refused);
  ADD ("/server/reply/v4-failure", test_reply_v4_failure);
  ADD ("/server/reply/name-not-found", test_reply_name_not_found);
  ADD ("/server/reply/unsupported-commands", test_reply_unsupported_commands);
  ADD ("/server/reply/bad-address-type", test_reply_bad_address_type);
  ADD ("/server/reply/no-router", test_reply_no_router);
  ADD ("/server/malformed-then-serving", test_malformed_then_serving);
  ADD ("/server/http-page", test_http_page);
  ADD ("/server/e0/last-selection-wins", test_e0_last_selection_wins);
  ADD ("/server/e0/no-match", test_e0_no_match);
  ADD ("/server/e0/ff-then-success", test_e0_ff_then_success);
  ADD ("/server/e0/router-not-repicked", test_e0_router_not_repicked);
  ADD ("/server/e0/resolve-uses-selection", test_e0_resolve_uses_selection);
  ADD ("/server/username-selection", test_username_selection);
  ADD ("/server/resolve/v5", test_resolve_v5);
  ADD ("/server/resolve/v4", test_resolve_v4);
  ADD ("/server/resolve/ptr", test_resolve_ptr);
  ADD ("/server/resolve/unsupported-exit", test_resolve_unsupported_exit);
  ADD ("/server/activity/records", test_activity_records);
  ADD ("/server/close-connection-by-id", test_close_connection_by_id);
  ADD ("/server/limits/handshake-timeout", test_handshake_timeout);
  ADD ("/server/limits/timeout-spares-open", test_timeout_spares_open);
  ADD ("/server/limits/max-connections", test_max_connections);
  ADD ("/server/limits/allow-list", test_allow_list);
  ADD ("/server/listen/busy-port", test_listen_busy_port);
  ADD ("/server/disconnect-cancels-connect", test_disconnect_cancels_connect);
  ADD ("/server/stop-closes-everything", test_stop_closes_everything);
  g_test_add_func ("/server/listen/needs-allow-list",
                   test_listen_needs_allow_list);

  return g_test_run ();
}
