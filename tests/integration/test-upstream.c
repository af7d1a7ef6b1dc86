/* test-upstream.c: ExgBackendUpstream against real upstreams on loopback:
 * microsocks (SOCKS5, with and without credentials), a scripted SOCKS5
 * server for the F0/F1 extension, a small HTTP CONNECT proxy, and exitgated
 * processes (SOCKS5 with F0/F1, SOCKS4a).
 *
 * Every lookup made by this process goes to a resolver that records and
 * fails it: a hostname must reach the upstream untouched.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-backend-direct.h"
#include "exg-backend-upstream.h"
#include "exg-error.h"
#include "exg-health.h"
#include "exg-poller.h"
#include "exg-router-registry.h"
#include "exg-socks-types.h"
#include "exg-test-util.h"

#include <glib/gstdio.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define WAIT_SECONDS 10
/* not found without asking any DNS server: glibc refuses a label over 63
 * bytes before it sends a query, so nothing leaves loopback */
#define NXNAME "no-such-name-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.invalid"

/* Lookups this process made, counted by the default resolver (atomic:
 * lookups may come from any thread). */
static guint lookups;

/* ------------------------------------------------------------------------
 * Waiting, bounded
 * ------------------------------------------------------------------------ */

/* TRUE while a test registered under /upstream/dial/ runs: its connects
 * go through exg_backend_dial (), as the server's sessions make them. */
static gboolean via_dial;

typedef struct {
  gint               done;
  int                fd;
  GSocketConnection *connection;
  GError            *error;
} DialResult;

static void
dial_result_cb (gpointer           user_data,
                int                fd,
                GSocketConnection *connection,
                const char        *circuit,
                GError            *error)
{
  DialResult *r = user_data;

  g_assert_true ((fd >= 0) == (error == NULL));
  g_assert_null (circuit);    /* an upstream has none to tell */
  r->fd = fd;
  r->connection = connection;
  r->error = error;
  g_atomic_int_set (&r->done, 1);
}

/* A dial, its socket made into a connection for the test to talk over:
 * the one that owns it, or a new one around the bare descriptor, which
 * the poller held for a relay and now lets go. */
static GSocketConnection *
backend_dial (ExgBackend *backend, const char *host, guint16 port,
              GError **error)
{
  DialResult r = { .fd = -1 };
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) local_error = NULL;

  exg_backend_dial (backend, host, port, NULL, dial_result_cb, &r);
  /* never from inside the dial, even when it fails at once */
  g_assert_cmpint (g_atomic_int_get (&r.done), ==, 0);
  exg_test_wait_flag (&r.done, WAIT_SECONDS);
  if (r.fd < 0)
    {
      g_propagate_error (error, r.error);
      return NULL;
    }
  if (r.connection != NULL)
    {
      g_assert_cmpint (g_socket_get_fd (g_socket_connection_get_socket (r.connection)),
                       ==, r.fd);
      return r.connection;
    }
  /* held for its taker: one that closes it instead removes it first */
  exg_poller_remove (exg_poller_get_default (), r.fd);
  socket = g_socket_new_from_fd (r.fd, &local_error);
  g_assert_no_error (local_error);
  return g_socket_connection_factory_create_connection (socket);
}

static GSocketConnection *
backend_connect (ExgBackend *backend, const char *host, guint16 port,
                 GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  if (via_dial)
    return backend_dial (backend, host, port, error);
  exg_backend_connect_async (backend, host, port, NULL, NULL,
                             exg_test_result_cb, &result);
  exg_test_wait_result (&result, WAIT_SECONDS);
  return exg_backend_connect_finish (backend, result, error);
}

static GList *
backend_resolve (ExgBackend *backend, const char *host, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  exg_backend_resolve_async (backend, host, NULL, NULL,
                             exg_test_result_cb, &result);
  exg_test_wait_result (&result, WAIT_SECONDS);
  return exg_backend_resolve_finish (backend, result, error);
}

static char *
backend_resolve_ptr (ExgBackend *backend, const char *address, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string (address);

  exg_backend_resolve_ptr_async (backend, addr, NULL, NULL,
                                 exg_test_result_cb, &result);
  exg_test_wait_result (&result, WAIT_SECONDS);
  return exg_backend_resolve_ptr_finish (backend, result, error);
}

static gboolean
backend_check (ExgBackend *backend, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  exg_backend_check_async (backend, NULL,
                           exg_test_result_cb, &result);
  exg_test_wait_result (&result, WAIT_SECONDS);
  return exg_backend_check_finish (backend, result, error);
}

/* A port that was free a moment ago on @address. */
static guint16
free_port (const char *address)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (address);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (inet, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (socket, any, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* ------------------------------------------------------------------------
 * Servers on loopback
 * ------------------------------------------------------------------------ */

/* Echo target: first a line "peer=ADDR\n" with the address it saw, then
 * echoes until EOF. */
static gboolean
echo_run_cb (GThreadedSocketService *service, GSocketConnection *conn,
             GObject *source_object, gpointer user_data)
{
  g_autoptr(GSocketAddress) peer = g_socket_connection_get_remote_address (conn,
                                                                           NULL);
  g_autoptr(GInetAddress) inet = NULL;
  g_autofree char *ip = NULL;
  g_autofree char *line = NULL;
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (conn));
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (conn));
  char buf[4096];
  gssize n;

  inet = g_object_ref (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (peer)));
  ip = g_inet_address_to_string (inet);
  line = g_strdup_printf ("peer=%s\n", ip);
  if (!g_output_stream_write_all (out, line, strlen (line), NULL, NULL, NULL))
    return TRUE;
  while ((n = g_input_stream_read (in, buf, sizeof buf, NULL, NULL)) > 0)
    if (!g_output_stream_write_all (out, buf, (gsize) n, NULL, NULL, NULL))
      break;
  return TRUE;
}

static GSocketService *
start_threaded_service (const char *address, guint16 *port, GCallback run,
                        gpointer data)
{
  GSocketService *service = g_threaded_socket_service_new (8);
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (address);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (inet, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  g_socket_listener_add_address (G_SOCKET_LISTENER (service), any,
                                 G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error);
  g_assert_no_error (error);
  *port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_signal_connect (service, "run", run, data);
  g_socket_service_start (service);
  return service;
}

static void
stop_service (GSocketService *service)
{
  g_socket_service_stop (service);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
  g_object_unref (service);
}

/* Reads one line (up to \n) from @conn's raw socket, bounded. */
static char *
read_line (GSocketConnection *conn)
{
  GSocket *socket = g_socket_connection_get_socket (conn);
  GString *line = g_string_new (NULL);

  g_socket_set_timeout (socket, WAIT_SECONDS);
  while (line->len < 1024)
    {
      char c;
      gssize n = g_socket_receive (socket, &c, 1, NULL, NULL);

      if (n <= 0)
        break;
      if (c == '\n')
        break;
      g_string_append_c (line, c);
    }
  return g_string_free (line, FALSE);
}

/* Sends @text and reads it back through @conn (the echo server). */
static void
assert_echo (GSocketConnection *conn, const char *text)
{
  GSocket *socket = g_socket_connection_get_socket (conn);
  g_autofree char *line = NULL;
  g_autofree char *with_nl = g_strconcat (text, "\n", NULL);
  g_autoptr(GError) error = NULL;

  g_socket_send (socket, with_nl, strlen (with_nl), NULL, &error);
  g_assert_no_error (error);
  line = read_line (conn);
  g_assert_cmpstr (line, ==, text);
}

typedef struct {
  GSocketService *echo;
  guint16         echo_port;
  GSubprocess    *upstream;     /* microsocks / exitgated, nullable */
  guint16         upstream_port;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->echo = start_threaded_service ("127.0.0.1", &f->echo_port,
                                    G_CALLBACK (echo_run_cb), NULL);
  g_atomic_int_set (&lookups, 0);
  via_dial = FALSE;
}

static void
fixture_setup_dial (Fixture *f, gconstpointer data)
{
  fixture_setup (f, data);
  via_dial = TRUE;
}

/* Stops the upstream process we started, by its pid, and waits for it. */
static void
kill_upstream (Fixture *f)
{
  if (f->upstream == NULL)
    return;
  exg_test_stop_process (f->upstream, WAIT_SECONDS);
  g_clear_object (&f->upstream);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  kill_upstream (f);
  stop_service (f->echo);
}

static GSubprocess *
spawn (const char * const *argv, GSubprocessFlags flags)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);
  g_autoptr(GError) error = NULL;
  GSubprocess *process;

  g_subprocess_launcher_set_child_setup (launcher, exg_test_die_with_parent,
                                         NULL, NULL);
  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  return process;
}

static void
start_microsocks (Fixture *f, const char *user, const char *pass)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *port = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();

  f->upstream_port = free_port ("127.0.0.2");
  port = g_strdup_printf ("%u", f->upstream_port);
  g_ptr_array_add (argv, (char *) "microsocks");
  g_ptr_array_add (argv, (char *) "-i");
  g_ptr_array_add (argv, (char *) "127.0.0.2");
  g_ptr_array_add (argv, (char *) "-p");
  g_ptr_array_add (argv, port);
  g_ptr_array_add (argv, (char *) "-b");
  g_ptr_array_add (argv, (char *) "127.0.0.2");
  if (user != NULL)
    {
      g_ptr_array_add (argv, (char *) "-u");
      g_ptr_array_add (argv, (char *) user);
      g_ptr_array_add (argv, (char *) "-P");
      g_ptr_array_add (argv, (char *) pass);
    }
  g_ptr_array_add (argv, NULL);
  /* microsocks logs every connection on stderr: keep it off the test log */
  f->upstream = spawn ((const char * const *) argv->pdata,
                       G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_assert_no_error (error);
  exg_test_wait_listening ("127.0.0.2", f->upstream_port, WAIT_SECONDS);
}

/* ------------------------------------------------------------------------
 * SOCKS5 through microsocks
 * ------------------------------------------------------------------------ */

/* One CONNECT through microsocks, which connects from 127.0.0.2: the echo
 * server says so, and no lookup happened here (a name is resolved by
 * microsocks). */
typedef struct {
  const char *path;
  const char *username;   /* microsocks's and ours; NULL: none */
  const char *password;
  const char *target;
} Socks5Connect;

static const Socks5Connect socks5_connects[] = {
  { "/upstream/socks5/connect/hostname-passed-through", NULL, NULL, "localhost" },
  { "/upstream/socks5/connect/ip-literal", NULL, NULL, "127.0.0.1" },
  { "/upstream/socks5/connect/with-credentials", "alice", "s3cret", "localhost" },
};

static void
test_socks5_connect (Fixture *f, gconstpointer data)
{
  const Socks5Connect *row = data;
  g_autoptr(ExgBackend) backend = NULL;
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *peer = NULL;
  int nodelay = 0;

  start_microsocks (f, row->username, row->password);
  backend = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5, "127.0.0.2",
                                      f->upstream_port, row->username,
                                      row->password);
  conn = backend_connect (backend, row->target, f->echo_port, &error);
  g_assert_no_error (error);
  g_assert_true (G_IS_TCP_CONNECTION (conn));
  peer = read_line (conn);
  g_assert_cmpstr (peer, ==, "peer=127.0.0.2");
  assert_echo (conn, row->path);
  g_assert_cmpuint (g_atomic_int_get (&lookups), ==, 0);

  g_assert_true (g_socket_get_option (g_socket_connection_get_socket (conn),
                                      IPPROTO_TCP, TCP_NODELAY, &nodelay, NULL));
  g_assert_cmpint (nodelay, !=, 0);
}

static void
test_socks5_refused (Fixture *f, gconstpointer data)
{
  g_autoptr(ExgBackend) backend = NULL;
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GError) error = NULL;
  guint16 closed = free_port ("127.0.0.1");

  start_microsocks (f, NULL, NULL);
  backend = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5, "127.0.0.2",
                                      f->upstream_port, NULL, NULL);
  conn = backend_connect (backend, "127.0.0.1", closed, &error);
  g_assert_null (conn);
  /* microsocks answers 05; it must reach the client as 05 */
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_cmpuint (exg_error_to_socks5_reply (error), ==, 0x05);
}

static void
test_socks5_credentials (Fixture *f, gconstpointer data)
{
  g_autoptr(ExgBackend) good = NULL;
  g_autoptr(ExgBackend) bad = NULL;
  g_autoptr(ExgBackend) none = NULL;
  g_autoptr(GSocketConnection) conn2 = NULL;
  g_autoptr(GSocketConnection) conn3 = NULL;
  g_autoptr(GError) error = NULL;

  /* the right credentials connect: /upstream/socks5/connect/with-credentials */
  start_microsocks (f, "alice", "s3cret");

  good = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5, "127.0.0.2",
                                   f->upstream_port, "alice", "s3cret");
  g_assert_true (backend_check (good, &error));
  g_assert_no_error (error);

  bad = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5, "127.0.0.2",
                                  f->upstream_port, "alice", "wrong");
  conn2 = backend_connect (bad, "localhost", f->echo_port, &error);
  g_assert_null (conn2);
  g_assert_error (error, EXG_ERROR, EXG_ERROR_NOT_ALLOWED);
  g_assert_cmpuint (exg_error_to_socks5_reply (error), ==, 0x02);
  g_clear_error (&error);

  none = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5, "127.0.0.2",
                                   f->upstream_port, NULL, NULL);
  conn3 = backend_connect (none, "localhost", f->echo_port, &error);
  g_assert_null (conn3);
  g_assert_error (error, EXG_ERROR, EXG_ERROR_NOT_ALLOWED);
  g_clear_error (&error);
  /* an upstream that wants credentials we lack is not usable: down */
  g_assert_false (backend_check (none, &error));
  g_assert_nonnull (error);
  g_assert_cmpuint (g_atomic_int_get (&lookups), ==, 0);
}

static void
test_socks5_resolve_unsupported (Fixture *f, gconstpointer data)
{
  g_autoptr(ExgBackend) backend = NULL;
  g_autoptr(GError) error = NULL;
  GList *addrs;
  char *name;

  start_microsocks (f, NULL, NULL);
  backend = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5, "127.0.0.2",
                                      f->upstream_port, NULL, NULL);

  /* microsocks answers F0/F1 with 07: refused with 07, never resolved here */
  addrs = backend_resolve (backend, "localhost", &error);
  g_assert_null (addrs);
  g_assert_error (error, EXG_ERROR, EXG_ERROR_UNSUPPORTED);
  g_assert_cmpuint (exg_error_to_socks5_reply (error), ==, 0x07);
  g_clear_error (&error);

  name = backend_resolve_ptr (backend, "127.0.0.1", &error);
  g_assert_null (name);
  g_assert_error (error, EXG_ERROR, EXG_ERROR_UNSUPPORTED);
  g_assert_cmpuint (g_atomic_int_get (&lookups), ==, 0);
}

static void
test_unreachable (Fixture *f, gconstpointer data)
{
  guint16 closed = free_port ("127.0.0.2");
  const ExgRouterKind kinds[] = { EXG_ROUTER_KIND_SOCKS5,
                                 EXG_ROUTER_KIND_SOCKS4A,
                                  EXG_ROUTER_KIND_HTTP_CONNECT };

  for (gsize i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      g_autoptr(ExgBackend) backend = exg_backend_upstream_new (kinds[i],
                                                                "127.0.0.2", closed, NULL, NULL);
      g_autoptr(GSocketConnection) conn = NULL;
      g_autoptr(GError) error = NULL;

      /* the proxy failed, not the target: 01, and the health check says down */
      conn = backend_connect (backend, "localhost", f->echo_port, &error);
      g_assert_null (conn);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PROXY_FAILED);
      g_assert_cmpuint (exg_error_to_socks5_reply (error), ==, 0x01);
      g_clear_error (&error);
      g_assert_false (backend_check (backend, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PROXY_FAILED);
    }
}

static void
test_check_up_down (Fixture *f, gconstpointer data)
{
  g_autoptr(ExgBackend) backend = NULL;
  g_autoptr(GError) error = NULL;

  start_microsocks (f, NULL, NULL);
  backend = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5, "127.0.0.2",
                                      f->upstream_port, NULL, NULL);
  g_assert_true (backend_check (backend, &error));
  g_assert_no_error (error);

  kill_upstream (f);
  g_assert_false (backend_check (backend, &error));
  g_assert_nonnull (error);
}

/* An upstream that accepts and never says a word: the check gives up
 * within its bound and says why. */
static gboolean
silent_run_cb (GThreadedSocketService *service, GSocketConnection *conn,
               GObject *source_object, gpointer user_data)
{
  char buf[64];

  g_socket_set_timeout (g_socket_connection_get_socket (conn), WAIT_SECONDS);
  while (g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)),
                              buf, sizeof buf, NULL, NULL) > 0)
    ;
  return TRUE;
}

/* An upstream that notes the greeting and the close of the connection. */
typedef struct {
  gint greeted;
  gint closed;    /* 1: EOF, -1: no EOF within WAIT_SECONDS */
} Witness;

static gboolean
witness_run_cb (GThreadedSocketService *service, GSocketConnection *conn,
                GObject *source_object, gpointer user_data)
{
  Witness *w = user_data;
  char buf[64];
  gssize n;

  g_socket_set_timeout (g_socket_connection_get_socket (conn), WAIT_SECONDS);
  while ((n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)),
                                   buf, sizeof buf, NULL, NULL)) > 0)
    {
      g_atomic_int_set (&w->greeted, 1);
      g_main_context_wakeup (NULL);   /* the test waits on it */
    }
  /* 1: closed by the other end; -1: the read failed or timed out */
  g_atomic_int_set (&w->closed, n == 0 ? 1 : -1);
  g_main_context_wakeup (NULL);
  return TRUE;
}

/* A dial cancelled while the upstream has yet to answer closes its
 * socket and reports nothing; one that cannot even begin (an IPv6
 * target for SOCKS4a) fails from the main loop, also if cancelled. */
static void
test_dial_cancel (Fixture *f, gconstpointer data)
{
  Witness witness = { 0 };
  guint16 port;
  GSocketService *upstream = start_threaded_service ("127.0.0.1", &port,
                                                     G_CALLBACK (witness_run_cb),
                                                     &witness);
  g_autoptr(ExgBackend) socks5 = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5,
                                                           "127.0.0.1", port,
                                                           NULL, NULL);
  g_autoptr(ExgBackend) socks4a = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS4A,
                                                            "127.0.0.1", port,
                                                            NULL, NULL);
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GError) error = NULL;
  DialResult r = { .fd = -1 };
  ExgBackendDial *dial;

  dial = exg_backend_dial (socks5, "target.example", 443, NULL,
                           dial_result_cb, &r);
  exg_test_wait_flag (&witness.greeted, WAIT_SECONDS);
  exg_backend_dial_cancel (dial);
  exg_test_wait_flag (&witness.closed, WAIT_SECONDS);
  g_assert_cmpint (g_atomic_int_get (&witness.closed), ==, 1);
  exg_test_flush ();
  g_assert_cmpint (g_atomic_int_get (&r.done), ==, 0);

  conn = backend_dial (socks4a, "2001:db8::1", 80, &error);
  g_assert_null (conn);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);

  dial = exg_backend_dial (socks4a, "2001:db8::1", 80, NULL,
                           dial_result_cb, &r);
  exg_backend_dial_cancel (dial);
  exg_test_flush ();
  g_assert_cmpint (g_atomic_int_get (&r.done), ==, 0);

  stop_service (upstream);
}

static void
test_check_timeout (Fixture *f, gconstpointer data)
{
  guint16 port;
  GSocketService *silent = start_threaded_service ("127.0.0.1", &port,
                                                   G_CALLBACK (silent_run_cb), NULL);
  g_autoptr(ExgBackend) backend = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5, "127.0.0.1",
                                                            port, NULL, NULL);
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  g_assert_false (backend_check (backend, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 8 * G_USEC_PER_SEC);
  g_clear_object (&backend);
  stop_service (silent);
}

/* An HTTP CONNECT upstream that accepts and never answers: the handshake
 * gives up within its bound, on the context the task runs in. */
static void
test_http_connect_timeout (Fixture *f, gconstpointer data)
{
  guint16 port;
  GSocketService *silent = start_threaded_service ("127.0.0.1", &port,
                                                   G_CALLBACK (silent_run_cb), NULL);
  g_autoptr(ExgBackend) backend = exg_backend_upstream_new (EXG_ROUTER_KIND_HTTP_CONNECT,
                                                            "127.0.0.1", port,
                                                            NULL, NULL);
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  exg_backend_upstream_set_handshake_timeout (EXG_BACKEND_UPSTREAM (backend), 1);
  conn = backend_connect (backend, "target.example", 443, &error);
  g_assert_null (conn);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpuint (exg_error_to_socks5_reply (error), ==, 0x06);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_clear_object (&backend);
  stop_service (silent);
}

/* ------------------------------------------------------------------------
 * A scripted SOCKS5 upstream for F0/F1: records what it was asked and
 * answers with canned bytes (including tor's ATYP 0 failures).
 * ------------------------------------------------------------------------ */

typedef struct {
  GMutex  lock;
  gboolean want_auth;
  GBytes *reply;      /* what to answer to the request */
  GByteArray *got;    /* everything read after the greeting (auth + request) */
} Script;

static gboolean
read_exact (GInputStream *in, guint8 *buf, gsize len)
{
  gsize got = 0;

  return g_input_stream_read_all (in, buf, len, &got, NULL, NULL) && got == len;
}

static gboolean
script_run_cb (GThreadedSocketService *service, GSocketConnection *conn,
               GObject *source_object, gpointer user_data)
{
  Script *script = user_data;
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (conn));
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (conn));
  guint8 buf[600];
  guint8 method;
  g_autoptr(GBytes) reply = NULL;
  gsize len;

  g_socket_set_timeout (g_socket_connection_get_socket (conn), WAIT_SECONDS);
  if (!read_exact (in, buf, 2) || buf[0] != 5 || !read_exact (in, buf + 2,
                                                              buf[1]))
    return TRUE;
  method = script->want_auth ? 0x02 : 0x00;
  if (memchr (buf + 2, method, buf[1]) == NULL)
    method = 0xFF;
  {
    guint8 choice[2] = { 5, method };
    g_output_stream_write_all (out, choice, 2, NULL, NULL, NULL);
  }
  if (method == 0xFF)
    return TRUE;

  g_mutex_lock (&script->lock);
  g_byte_array_set_size (script->got, 0);
  g_mutex_unlock (&script->lock);

  if (method == 0x02)
    {
      guint8 ok[2] = { 1, 0 };

      if (!read_exact (in, buf, 2) || !read_exact (in, buf + 2, buf[1] + 1u))
        return TRUE;
      len = 2 + buf[1] + 1;
      if (!read_exact (in, buf + len, buf[len - 1]))
        return TRUE;
      len += buf[len - 1];
      g_mutex_lock (&script->lock);
      g_byte_array_append (script->got, buf, (guint) len);
      g_mutex_unlock (&script->lock);
      g_output_stream_write_all (out, ok, 2, NULL, NULL, NULL);
    }

  /* request: 05 CMD 00 ATYP ADDR PORT */
  if (!read_exact (in, buf, 4))
    return TRUE;
  switch (buf[3])
    {
    case 1: len = 4 + 4 + 2; break;
    case 4: len = 4 + 16 + 2; break;
    case 3:
      if (!read_exact (in, buf + 4, 1))
        return TRUE;
      len = 5 + buf[4] + 2;
      break;
    default:
      return TRUE;
    }
  if (!read_exact (in, buf + (buf[3] == 3 ? 5 : 4),
                   len - (buf[3] == 3 ? 5 : 4)))
    return TRUE;
  g_mutex_lock (&script->lock);
  g_byte_array_append (script->got, buf, (guint) len);
  /* our own ref: the test may stop the script, and drop its reply, while
   * send(2) is still returning here */
  reply = g_bytes_ref (script->reply);
  g_mutex_unlock (&script->lock);

  g_output_stream_write_all (out, g_bytes_get_data (reply, NULL),
                             g_bytes_get_size (reply), NULL, NULL, NULL);
  return TRUE;
}

typedef struct {
  Script          script;
  GSocketService *service;
  guint16         port;
} ScriptServer;

static void
script_start (ScriptServer *s, gboolean want_auth)
{
  g_mutex_init (&s->script.lock);
  s->script.want_auth = want_auth;
  s->script.got = g_byte_array_new ();
  s->service = start_threaded_service ("127.0.0.1", &s->port,
                                       G_CALLBACK (script_run_cb), &s->script);
}

static void
script_set_reply (ScriptServer *s, const guint8 *bytes, gsize len)
{
  g_mutex_lock (&s->script.lock);
  g_clear_pointer (&s->script.reply, g_bytes_unref);
  s->script.reply = g_bytes_new (bytes, len);
  g_mutex_unlock (&s->script.lock);
}

static void
script_assert_got (ScriptServer *s, const guint8 *bytes, gsize len)
{
  g_mutex_lock (&s->script.lock);
  g_assert_cmpmem (s->script.got->data, s->script.got->len, bytes, len);
  g_mutex_unlock (&s->script.lock);
}

static void
script_stop (ScriptServer *s)
{
  stop_service (s->service);
  g_clear_pointer (&s->script.reply, g_bytes_unref);
  g_byte_array_unref (s->script.got);
  g_mutex_clear (&s->script.lock);
}

/* F0 and F1 through the scripted upstream: what we send, and what each
 * answer becomes.  A NULL request is not checked (the same as the row
 * before). */
typedef struct {
  const char   *what;
  gboolean      ptr;          /* F1 (RESOLVE_PTR) of @query, else F0 */
  const char   *query;
  const guint8 *reply;
  gsize         reply_len;
  const guint8 *request;      /* nullable */
  gsize         request_len;
  const char   *answer;       /* the address or name; NULL: a failure */
  GQuark        (*domain) (void);
  int           code;
  guint8        socks_reply;  /* 0: not checked */
} ResolveStep;

#define BYTES(a) a, sizeof a

static const guint8 req_f0[] = { 5, 0xF0, 0, 3, 11,
                                 'e','x','a','m','p','l','e','.','c','o','m', 0, 0 };
static const guint8 req_f1[] = { 5, 0xF1, 0, 1, 192, 0, 2, 7, 0, 0 };
static const guint8 ok_v4[] = { 5, 0, 0, 1, 192, 0, 2, 7, 0, 0 };
static const guint8 ok_v6[] = { 5, 0, 0, 4, 0x20,0x01,0x0d,0xb8, 0,0,0,0,
                                0,0,0,0, 0,0,0,9, 0, 0 };
/* tor's failure reply: ATYP 0 */
static const guint8 tor_fail[] = { 5, 4, 0, 0, 0, 0, 0, 0, 0, 0 };
static const guint8 ok_name[] = { 5, 0, 0, 3, 9,
                                  'h','o','s','t','.','t','e','s','t', 0, 0 };
static const guint8 cmd_unsup[] = { 5, 7, 0, 1, 0, 0, 0, 0, 0, 0 };
static const guint8 garbage[] = { 'H', 'T', 'T', 'P', '/', '1', '.', '0', ' ', '4' };

static const ResolveStep resolve_steps[] = {
  { "F0, an IPv4 answer", FALSE, "example.com", BYTES (ok_v4), BYTES (req_f0),
    "192.0.2.7", NULL, 0, 0 },
  { "F0, an IPv6 answer", FALSE, "example.com", BYTES (ok_v6), BYTES (req_f0),
    "2001:db8::9", NULL, 0, 0 },
  /* a failure with its code, 04 */
  { "F0, tor's failure", FALSE, "example.com", BYTES (tor_fail), NULL, 0,
    NULL, g_resolver_error_quark, G_RESOLVER_ERROR_NOT_FOUND, 0x04 },
  { "F1, a name", TRUE, "192.0.2.7", BYTES (ok_name), BYTES (req_f1),
    "host.test", NULL, 0, 0 },
  { "F1, not supported", TRUE, "192.0.2.7", BYTES (cmd_unsup), NULL, 0,
    NULL, exg_error_quark, EXG_ERROR_UNSUPPORTED, 0x07 },
  /* an upstream that breaks the protocol: 07 too, and no local answer */
  { "F0, not SOCKS", FALSE, "example.com", BYTES (garbage), NULL, 0,
    NULL, exg_error_quark, EXG_ERROR_UNSUPPORTED, 0x07 },
};

/* (transfer full) (nullable): the step's answer as text */
static char *
resolve_step (ExgBackend        *backend,
              const ResolveStep *step,
              GError           **error)
{
  GList *addrs;
  char *text;

  if (step->ptr)
    return backend_resolve_ptr (backend, step->query, error);
  addrs = backend_resolve (backend, step->query, error);
  if (addrs == NULL)
    return NULL;
  g_assert_cmpuint (g_list_length (addrs), ==, 1);
  text = g_inet_address_to_string (addrs->data);
  g_resolver_free_addresses (addrs);
  return text;
}

static void
test_socks5_resolve_scripted (Fixture *f, gconstpointer data)
{
  ScriptServer s = { 0 };
  g_autoptr(ExgBackend) backend = NULL;

  script_start (&s, FALSE);
  backend = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5, "127.0.0.1",
                                      s.port, NULL, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (resolve_steps); i++)
    {
      const ResolveStep *step = &resolve_steps[i];
      g_autoptr(GError) error = NULL;
      g_autofree char *answer = NULL;

      g_test_message ("%s", step->what);
      script_set_reply (&s, step->reply, step->reply_len);
      answer = resolve_step (backend, step, &error);
      if (step->request != NULL)
        script_assert_got (&s, step->request, step->request_len);
      g_assert_cmpstr (answer, ==, step->answer);
      if (step->answer != NULL)
        {
          g_assert_no_error (error);
          continue;
        }
      g_assert_error (error, step->domain (), step->code);
      g_assert_cmpuint (exg_error_to_socks5_reply (error), ==, step->socks_reply);
    }

  g_assert_cmpuint (g_atomic_int_get (&lookups), ==, 0);
  g_clear_object (&backend);
  script_stop (&s);
}

/* An upstream given by name ("localhost", which GIO answers without a
 * lookup) carrying a CONNECT to a hostname: the name goes to the upstream
 * as ATYP 3, and the tunnel's first bytes stay on the socket. */
static void
test_socks5_connect_named_upstream (Fixture *f, gconstpointer data)
{
  ScriptServer s = { 0 };
  g_autoptr(ExgBackend) backend = NULL;
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *early = NULL;
  static const guint8 req_name[] = { 5, 1, 0, 3, 10,
                                     'e','x','a','m','p','l','e','.','s','e',
                                     0x01, 0xBB };
  static const guint8 ok_early[] = { 5, 0, 0, 1, 127, 0, 0, 1, 0x12, 0x34,
                                     'e','a','r','l','y','\n' };

  script_start (&s, FALSE);
  backend = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5, "localhost",
                                      s.port, NULL, NULL);
  script_set_reply (&s, ok_early, sizeof ok_early);
  conn = backend_connect (backend, "example.se", 443, &error);
  g_assert_no_error (error);
  g_assert_true (G_IS_TCP_CONNECTION (conn));
  script_assert_got (&s, req_name, sizeof req_name);
  early = read_line (conn);
  g_assert_cmpstr (early, ==, "early");
  g_assert_cmpuint (g_atomic_int_get (&lookups), ==, 0);

  g_clear_object (&conn);
  g_clear_object (&backend);
  script_stop (&s);
}

static void
test_socks5_resolve_scripted_auth (Fixture *f, gconstpointer data)
{
  ScriptServer s = { 0 };
  g_autoptr(ExgBackend) backend = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *answer = NULL;
  static const guint8 expect[] = { 1, 3, 'b','o','b', 2, 'p','w',
                                   5, 0xF0, 0, 3, 11,
                                   'e','x','a','m','p','l','e','.','c','o','m', 0, 0 };

  script_start (&s, TRUE);
  script_set_reply (&s, ok_v4, sizeof ok_v4);
  backend = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5, "127.0.0.1",
                                      s.port, "bob", "pw");
  /* the first row, with RFC 1929 credentials before it */
  answer = resolve_step (backend, &resolve_steps[0], &error);
  g_assert_no_error (error);
  script_assert_got (&s, expect, sizeof expect);
  g_assert_cmpstr (answer, ==, resolve_steps[0].answer);
  g_clear_object (&backend);
  script_stop (&s);
}

/* CONNECT through the scripted upstream: every reply code reaches the
 * client as the upstream said it, and the bytes that follow a success
 * reply in the same packet stay on the socket for the relay. */
static void
test_socks5_connect_scripted (Fixture *f, gconstpointer data)
{
  ScriptServer s = { 0 };
  g_autoptr(ExgBackend) backend = NULL;
  static const guint8 req_name[] = { 5, 1, 0, 3, 10,
                                     'e','x','a','m','p','l','e','.','s','e',
                                     0x01, 0xBB };
  static const guint8 req_v6[] = { 5, 1, 0, 4,
                                   0x20,0x01,0x0d,0xb8, 0,0,0,0,
                                   0,0,0,0, 0,0,0,1, 0, 80 };
  static const guint8 ok_name_early[] = { 5, 0, 0, 3, 4, 'b','n','d','x',
                                          0x12, 0x34, 'e','a','r','l','y',
                                          '\n' };
  static const guint8 ok_v6_early[] = { 5, 0, 0, 4, 0,0,0,0, 0,0,0,0,
                                        0,0,0,0, 0,0,0,1, 0, 1,
                                        'v','6','\n' };
  const struct {
    const guint8 *reply;
    gsize         reply_len;
    const char   *host;
    guint16       port;
    const guint8 *request;
    gsize         request_len;
    const char   *early;
  } successes[] = {
    { BYTES (ok_name_early), "example.se", 443, BYTES (req_name), "early" },
    { BYTES (ok_v6_early), "2001:db8::1", 80, BYTES (req_v6), "v6" },
  };
  struct {
    guint8 code;
    GQuark domain;
    int    error;
  } codes[] = {
    { 0x01, 0, G_IO_ERROR_PROXY_FAILED },
    { 0x02, 0, EXG_ERROR_NOT_ALLOWED },
    { 0x03, 0, G_IO_ERROR_NETWORK_UNREACHABLE },
    { 0x04, 0, G_IO_ERROR_HOST_UNREACHABLE },
    { 0x05, 0, G_IO_ERROR_CONNECTION_REFUSED },
    { 0x06, 0, G_IO_ERROR_TIMED_OUT },
    { 0x07, 0, EXG_ERROR_UNSUPPORTED },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (codes); i++)
    codes[i].domain = codes[i].code == 0x02 || codes[i].code == 0x07
                      ? EXG_ERROR : G_IO_ERROR;

  script_start (&s, FALSE);
  backend = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5, "127.0.0.1",
                                      s.port, NULL, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (codes); i++)
    {
      guint8 reply[10] = { 5, codes[i].code, 0, 1, 0, 0, 0, 0, 0, 0 };
      g_autoptr(GSocketConnection) conn = NULL;
      g_autoptr(GError) error = NULL;

      script_set_reply (&s, reply, sizeof reply);
      conn = backend_connect (backend, "example.se", 443, &error);
      g_assert_null (conn);
      script_assert_got (&s, req_name, sizeof req_name);
      g_assert_error (error, codes[i].domain, codes[i].error);
      g_assert_cmpuint (exg_error_to_socks5_reply (error), ==, codes[i].code);
    }

  /* success: the bound address is read whole whatever its type, and the
   * bytes after it are the tunnel's */
  for (gsize i = 0; i < G_N_ELEMENTS (successes); i++)
    {
      g_autoptr(GSocketConnection) conn = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *early = NULL;

      script_set_reply (&s, successes[i].reply, successes[i].reply_len);
      conn = backend_connect (backend, successes[i].host, successes[i].port, &error);
      g_assert_no_error (error);
      script_assert_got (&s, successes[i].request, successes[i].request_len);
      early = read_line (conn);
      g_assert_cmpstr (early, ==, successes[i].early);
    }

  g_assert_cmpuint (g_atomic_int_get (&lookups), ==, 0);
  g_clear_object (&backend);
  script_stop (&s);
}

/* ------------------------------------------------------------------------
 * HTTP CONNECT: a small proxy that records the request, answers with a
 * configured status and, on success, puts the first bytes of the tunnel
 * in the same write as the headers, then echoes.
 * ------------------------------------------------------------------------ */

typedef struct {
  GMutex  lock;
  char   *response;  /* the status line + headers + blank line (+ early bytes) */
  char   *request;   /* the request headers received */
} HttpProxy;

static gboolean
http_run_cb (GThreadedSocketService *service, GSocketConnection *conn,
             GObject *source_object, gpointer user_data)
{
  HttpProxy *proxy = user_data;
  GSocket *socket = g_socket_connection_get_socket (conn);
  GString *req = g_string_new (NULL);
  g_autofree char *response = NULL;
  char buf[4096];
  gssize n;

  g_socket_set_timeout (socket, WAIT_SECONDS);
  while (strstr (req->str, "\r\n\r\n") == NULL && req->len < 8192)
    {
      char c;

      if (g_socket_receive (socket, &c, 1, NULL, NULL) != 1)
        {
          g_string_free (req, TRUE);
          return TRUE;
        }
      g_string_append_c (req, c);
    }
  g_mutex_lock (&proxy->lock);
  g_free (proxy->request);
  proxy->request = g_string_free (req, FALSE);
  response = g_strdup (proxy->response);
  g_mutex_unlock (&proxy->lock);

  if (!g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                                  response, strlen (response), NULL, NULL, NULL))
    return TRUE;
  if (strlen (response) < 10 || response[9] != '2')
    return TRUE;
  while ((n = g_socket_receive (socket, buf, sizeof buf, NULL, NULL)) > 0)
    if (g_socket_send (socket, buf, (gsize) n, NULL, NULL) != n)
      break;
  return TRUE;
}

static void
http_set_response (HttpProxy *proxy, const char *response)
{
  g_mutex_lock (&proxy->lock);
  g_free (proxy->response);
  proxy->response = g_strdup (response);
  g_mutex_unlock (&proxy->lock);
}

static char *
http_dup_request (HttpProxy *proxy)
{
  char *request;

  g_mutex_lock (&proxy->lock);
  request = g_strdup (proxy->request);
  g_mutex_unlock (&proxy->lock);
  return request;
}

static void
test_http_connect (Fixture *f, gconstpointer data)
{
  HttpProxy proxy = { 0 };
  guint16 port;
  GSocketService *service;
  g_autoptr(ExgBackend) backend = NULL;
  g_autoptr(ExgBackend) authed = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) conn = NULL;
  g_autofree char *request = NULL;
  g_autofree char *early = NULL;
  struct {
    const char *response;
    GQuark      domain;
    int         code;
    guint8      reply;
  } failures[] = {
    { "HTTP/1.1 403 Forbidden\r\n\r\n", 0, EXG_ERROR_NOT_ALLOWED, 0x02 },
    { "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
      0, EXG_ERROR_NOT_ALLOWED, 0x02 },
    { "HTTP/1.1 502 Bad Gateway\r\n\r\n", 0, G_IO_ERROR_HOST_UNREACHABLE,
     0x04 },
    { "HTTP/1.0 503 Service Unavailable\r\n\r\n", 0,
     G_IO_ERROR_CONNECTION_REFUSED, 0x05 },
    { "HTTP/1.1 504 Gateway Timeout\r\n\r\n", 0, G_IO_ERROR_TIMED_OUT, 0x06 },
    { "SSH-2.0-OpenSSH\r\n\r\n", 0, G_IO_ERROR_PROXY_FAILED, 0x01 },
  };

  failures[0].domain = failures[1].domain = EXG_ERROR;
  for (gsize i = 2; i < G_N_ELEMENTS (failures); i++)
    failures[i].domain = G_IO_ERROR;

  g_mutex_init (&proxy.lock);
  service = start_threaded_service ("127.0.0.1", &port,
                                    G_CALLBACK (http_run_cb), &proxy);
  backend = exg_backend_upstream_new (EXG_ROUTER_KIND_HTTP_CONNECT, "127.0.0.1",
                                      port, NULL, NULL);

  /* the first tunnel bytes arrive with the headers: they must stay on the
   * socket for the relay, not be swallowed by the header reader */
  http_set_response (&proxy,
                     "HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\nearly bird\n");
  conn = backend_connect (backend, "target.example", 443, &error);
  g_assert_no_error (error);
  request = http_dup_request (&proxy);
  g_assert_cmpstr (request, ==,
                   "CONNECT target.example:443 HTTP/1.1\r\nHost: target.example:443\r\n\r\n");
  early = read_line (conn);
  g_assert_cmpstr (early, ==, "early bird");
  assert_echo (conn, "through the tunnel");
  g_clear_object (&conn);
  g_clear_pointer (&request, g_free);

  authed = exg_backend_upstream_new (EXG_ROUTER_KIND_HTTP_CONNECT, "127.0.0.1",
                                     port, "user", "pa:ss");
  http_set_response (&proxy, "HTTP/1.0 200 OK\r\n\r\n");
  conn = backend_connect (authed, "2001:db8::1", 80, &error);
  g_assert_no_error (error);
  request = http_dup_request (&proxy);
  /* base64 ("user:pa:ss") */
  g_assert_cmpstr (request, ==,
                   "CONNECT [2001:db8::1]:80 HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n"
                   "Proxy-Authorization: Basic dXNlcjpwYTpzcw==\r\n\r\n");
  assert_echo (conn, "v6 literal target");
  g_clear_object (&conn);

  for (gsize i = 0; i < G_N_ELEMENTS (failures); i++)
    {
      g_autoptr(GSocketConnection) failed = NULL;

      http_set_response (&proxy, failures[i].response);
      failed = backend_connect (backend, "target.example", 443, &error);
      g_assert_null (failed);
      g_assert_error (error, failures[i].domain, failures[i].code);
      g_assert_cmpuint (exg_error_to_socks5_reply (error), ==,
                        failures[i].reply);
      g_clear_error (&error);
    }

  /* no name service over HTTP: refused, never resolved here */
  g_assert_null (backend_resolve (backend, "target.example", &error));
  g_assert_error (error, EXG_ERROR, EXG_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  g_assert_null (backend_resolve_ptr (backend, "192.0.2.1", &error));
  g_assert_error (error, EXG_ERROR, EXG_ERROR_UNSUPPORTED);
  g_clear_error (&error);

  g_assert_true (backend_check (backend, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_atomic_int_get (&lookups), ==, 0);

  g_clear_object (&backend);
  g_clear_object (&authed);
  stop_service (service);
  g_free (proxy.response);
  g_free (proxy.request);
  g_mutex_clear (&proxy.lock);
}

/* ------------------------------------------------------------------------
 * exitgated as the upstream: SOCKS5 with F0/F1, and SOCKS4a
 * ------------------------------------------------------------------------ */

/* exitgated on 127.0.0.2 with a direct exit bound to 127.0.0.2 */
static void
start_exitgated (Fixture *f)
{
  g_autofree char *conf = g_build_filename (g_get_user_config_dir (),
                                            "upstream.conf", NULL);
  g_autoptr(GError) error = NULL;

  g_mkdir_with_parents (g_get_user_config_dir (), 0700);
  g_file_set_contents (conf, "[server]\nlisten=127.0.0.2:0\n\n"
                       "[exit out]\ntype=direct\nsource-address=127.0.0.2\n", -1, &error);
  g_assert_no_error (error);
  f->upstream = exg_test_spawn_exitgated (conf, "127.0.0.2", &f->upstream_port,
                                          WAIT_SECONDS);
}

/* What each kind of client gets from another Exitgate: a CONNECT by name
 * (4a: the name after 0.0.0.1 and the userid), RESOLVE (tor's F0, which
 * 4a carries too), RESOLVE_PTR (F1, SOCKS5 only), and a refused target's
 * reason (SOCKS4 carries none: a general failure). */
typedef struct {
  const char    *path;
  ExgRouterKind  kind;
  gboolean       has_ptr;
  guint8         refused_reply;
} ExitgatedUpstream;

static const ExitgatedUpstream exitgated_upstreams[] = {
  { "/upstream/exitgated/socks5-f0-f1", EXG_ROUTER_KIND_SOCKS5, TRUE, 0x05 },
  { "/upstream/exitgated/socks4a", EXG_ROUTER_KIND_SOCKS4A, FALSE, 0x01 },
};

static void
test_exitgated (Fixture *f, gconstpointer data)
{
  const ExitgatedUpstream *row = data;
  g_autoptr(ExgBackend) backend = NULL;
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *peer = NULL;
  g_autofree char *name = NULL;
  g_autofree char *text = NULL;
  GList *addrs;

  start_exitgated (f);
  backend = exg_backend_upstream_new (row->kind, "127.0.0.2",
                                      f->upstream_port, NULL, NULL);

  conn = backend_connect (backend, "localhost", f->echo_port, &error);
  g_assert_no_error (error);
  peer = read_line (conn);
  g_assert_cmpstr (peer, ==, "peer=127.0.0.2");
  assert_echo (conn, row->path);
  g_clear_object (&conn);

  /* another Exitgate resolves, not us */
  addrs = backend_resolve (backend, "localhost", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_length (addrs), ==, 1);
  text = g_inet_address_to_string (addrs->data);
  g_assert_cmpstr (text, ==, "127.0.0.1");
  g_resolver_free_addresses (addrs);

  /* its failure (RFC-valid 05 04 00 01 …, or 4a's 5B) is ours */
  addrs = backend_resolve (backend, NXNAME, &error);
  g_assert_null (addrs);
  g_assert_error (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND);
  g_clear_error (&error);

  name = backend_resolve_ptr (backend, "127.0.0.1", &error);
  if (row->has_ptr)
    {
      g_assert_no_error (error);
      g_assert_nonnull (name);
      g_assert_cmpstr (name, !=, "");
    }
  else
    {
      g_assert_null (name);
      g_assert_error (error, EXG_ERROR, EXG_ERROR_UNSUPPORTED);
      g_clear_error (&error);
    }

  conn = backend_connect (backend, "127.0.0.1", free_port ("127.0.0.1"), &error);
  g_assert_null (conn);
  g_assert_cmpuint (exg_error_to_socks5_reply (error), ==, row->refused_reply);
  g_clear_error (&error);

  g_assert_true (backend_check (backend, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_atomic_int_get (&lookups), ==, 0);
}

/* ------------------------------------------------------------------------
 * ExgHealth over a registry
 * ------------------------------------------------------------------------ */

static void
checked_cb (ExgHealth *health, gpointer user_data)
{
  guint *rounds = user_data;

  (*rounds)++;
}

static void
wait_rounds (guint *rounds, guint n)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add_seconds (WAIT_SECONDS, exg_test_timeout_cb,
                                    &expired);

  while (*rounds < n && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  g_assert_cmpuint (*rounds, ==, n);
}

static void
test_health (Fixture *f, gconstpointer data)
{
  g_autoptr(ExgRouterRegistry) registry = exg_router_registry_new ();
  g_autoptr(ExgHealth) health = NULL;
  g_autoptr(ExgBackend) direct_backend = NULL;
  g_autoptr(ExgBackend) up_backend = NULL;
  g_autoptr(ExgBackend) dead_backend = NULL;
  g_autoptr(ExgRouter) direct = NULL;
  g_autoptr(ExgRouter) up = NULL;
  g_autoptr(ExgRouter) dead = NULL;
  g_autoptr(GPtrArray) spare = g_ptr_array_new_with_free_func (g_object_unref);
  guint rounds = 0;
  guint16 closed = free_port ("127.0.0.3");

  start_microsocks (f, NULL, NULL);

  direct_backend = exg_backend_direct_new (NULL);
  up_backend = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5, "127.0.0.2",
                                         f->upstream_port, NULL, NULL);
  dead_backend = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5, "127.0.0.3",
                                           closed, NULL, NULL);
  direct = exg_router_new ("direct", "direct", EXG_ROUTER_KIND_DIRECT, "", "",
                           0, 1, direct_backend);
  up = exg_router_new ("se-1", "se-1", EXG_ROUTER_KIND_SOCKS5, "127.0.0.2",
                       "SE", 1000, 2, up_backend);
  dead = exg_router_new ("de-1", "de-1", EXG_ROUTER_KIND_SOCKS5, "127.0.0.3",
                         "DE", 1000, 2, dead_backend);
  exg_router_set_up (direct, FALSE);
  exg_router_registry_add (registry, direct);
  exg_router_registry_add (registry, up);
  exg_router_registry_add (registry, dead);
  /* more routers than checks in flight at once: the round still ends
   * once, after all of them */
  for (guint i = 0; i < 12; i++)
    {
      g_autofree char *id = g_strdup_printf ("spare-%u", i);
      ExgRouter *router = exg_router_new (id, id, EXG_ROUTER_KIND_SOCKS5,
                                          "127.0.0.2", "SE",
                                          1000, 2, up_backend);

      exg_router_set_up (router, FALSE);
      exg_router_registry_add (registry, router);
      g_ptr_array_add (spare, router);
    }

  health = exg_health_new (registry, 0);
  g_signal_connect (health, "checked", G_CALLBACK (checked_cb), &rounds);
  wait_rounds (&rounds, 1);

  g_assert_true (exg_router_get_up (direct));     /* always up */
  g_assert_true (exg_router_get_up (up));
  g_assert_false (exg_router_get_up (dead));
  g_assert_cmpint (exg_router_get_observed_latency (up), >=, 0);
  for (guint i = 0; i < spare->len; i++)
    g_assert_true (exg_router_get_up (g_ptr_array_index (spare, i)));
  g_assert_cmpuint (exg_router_registry_count_up (registry), ==,
                    2 + spare->len);

  /* the upstream goes away: the next round marks it down */
  kill_upstream (f);
  exg_health_check_now (health);
  wait_rounds (&rounds, 2);
  g_assert_false (exg_router_get_up (up));
  g_assert_true (exg_router_get_up (direct));
  g_assert_cmpuint (exg_router_registry_count_up (registry), ==, 1);

  /* two requests during one round: one more round after it, not two */
  exg_health_check_now (health);
  exg_health_check_now (health);
  exg_health_check_now (health);
  wait_rounds (&rounds, 4);
  g_assert_cmpuint (rounds, ==, 4);
}

static void
test_health_periodic (Fixture *f, gconstpointer data)
{
  g_autoptr(ExgRouterRegistry) registry = exg_router_registry_new ();
  g_autoptr(ExgBackend) backend = NULL;
  g_autoptr(ExgRouter) router = NULL;
  ExgHealth *health;
  guint rounds = 0;
  gboolean tick = FALSE;

  start_microsocks (f, NULL, NULL);
  backend = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5, "127.0.0.2",
                                      f->upstream_port, NULL, NULL);
  router = exg_router_new ("se-1", "se-1", EXG_ROUTER_KIND_SOCKS5,
                           "127.0.0.2", "SE", 1000, 2, backend);
  exg_router_registry_add (registry, router);

  /* every second, with no one asking */
  health = exg_health_new (registry, 1);
  g_signal_connect (health, "checked", G_CALLBACK (checked_cb), &rounds);
  wait_rounds (&rounds, 3);
  g_assert_true (exg_router_get_up (router));

  /* dropped in the middle of a round: the check in flight ends quietly
   * and leaves the router alone */
  exg_health_check_now (health);
  exg_router_set_up (router, FALSE);
  g_object_unref (health);
  g_timeout_add (200, exg_test_timeout_cb, &tick);
  while (!tick)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (exg_router_get_up (router));
  g_assert_cmpuint (rounds, ==, 3);
}

/* @fn again as /upstream/dial/…, its connects made by exg_backend_dial () */
static void
add_dial (const char *path, gconstpointer data,
          void (*fn) (Fixture *, gconstpointer))
{
  g_autofree char *dial_path = g_strconcat ("/upstream/dial",
                                            path + strlen ("/upstream"), NULL);

  g_test_add (dial_path, Fixture, data, fixture_setup_dial, fn, fixture_teardown);
}

int
main (int argc, char **argv)
{
  g_autoptr(GResolver) resolver = NULL;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  resolver = exg_test_resolver_new (&lookups);
  g_resolver_set_default (resolver);

#define ADD(path, fn) \
  g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)

  for (gsize i = 0; i < G_N_ELEMENTS (socks5_connects); i++)
    g_test_add (socks5_connects[i].path, Fixture, &socks5_connects[i],
                fixture_setup, test_socks5_connect, fixture_teardown);
  ADD ("/upstream/socks5/connect/refused-keeps-code", test_socks5_refused);
  ADD ("/upstream/socks5/credentials", test_socks5_credentials);
  ADD ("/upstream/socks5/resolve/unsupported-is-07",
       test_socks5_resolve_unsupported);
  ADD ("/upstream/socks5/resolve/scripted", test_socks5_resolve_scripted);
  ADD ("/upstream/socks5/connect/scripted-codes", test_socks5_connect_scripted);
  ADD ("/upstream/socks5/resolve/scripted-auth",
       test_socks5_resolve_scripted_auth);
  ADD ("/upstream/socks5/connect/named-upstream-hostname",
       test_socks5_connect_named_upstream);
  ADD ("/upstream/http-connect", test_http_connect);
  ADD ("/upstream/http-connect/timeout", test_http_connect_timeout);
  ADD ("/upstream/unreachable", test_unreachable);
  ADD ("/upstream/check/up-then-down", test_check_up_down);
  ADD ("/upstream/check/timeout", test_check_timeout);
  for (gsize i = 0; i < G_N_ELEMENTS (exitgated_upstreams); i++)
    g_test_add (exitgated_upstreams[i].path, Fixture, &exitgated_upstreams[i],
                fixture_setup, test_exitgated, fixture_teardown);
  ADD ("/upstream/health/rounds", test_health);
  ADD ("/upstream/health/periodic", test_health_periodic);

  /* the connects again, as the server's sessions make them */
  for (gsize i = 0; i < G_N_ELEMENTS (socks5_connects); i++)
    add_dial (socks5_connects[i].path, &socks5_connects[i], test_socks5_connect);
  add_dial ("/upstream/socks5/connect/refused-keeps-code", NULL, test_socks5_refused);
  add_dial ("/upstream/socks5/credentials", NULL, test_socks5_credentials);
  add_dial ("/upstream/socks5/connect/scripted-codes", NULL,
            test_socks5_connect_scripted);
  add_dial ("/upstream/socks5/connect/named-upstream-hostname", NULL,
            test_socks5_connect_named_upstream);
  add_dial ("/upstream/http-connect", NULL, test_http_connect);
  add_dial ("/upstream/http-connect/timeout", NULL, test_http_connect_timeout);
  add_dial ("/upstream/unreachable", NULL, test_unreachable);
  for (gsize i = 0; i < G_N_ELEMENTS (exitgated_upstreams); i++)
    add_dial (exitgated_upstreams[i].path, &exitgated_upstreams[i], test_exitgated);
  add_dial ("/upstream/cancel", NULL, test_dial_cancel);

  return g_test_run ();
}
