/* test-privacy.c: with a non-direct exit, no hostname is ever resolved on
 * this machine.
 *
 * The front proxy is an ExgServer in this process whose default resolver
 * records and fails every lookup.  Its exits are upstream proxies in other
 * processes (an exitgated that speaks F0/F1, and microsocks), so their own
 * lookups are not counted: every count is a lookup the front made.  A
 * direct exit in the same process shows that the recording resolver is
 * really the one in use.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-core.h"
#include "exg-test-util.h"

#include <glib/gstdio.h>

#include <stdlib.h>
#include <string.h>

#define WAIT_SECONDS 10
/* A name GResolver passes on to the resolver class (unlike "localhost"),
 * and which no upstream can find either, without asking any DNS server:
 * glibc refuses a label over 63 bytes before it sends a query. */
#define NXNAME "privacy-test-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.invalid"

/* Lookups this process made, counted by the default resolver (atomic). */
static guint lookups;

/* ------------------------------------------------------------------------
 * A SOCKS client; it runs in a thread so the in-process server keeps being
 * served meanwhile.
 * ------------------------------------------------------------------------ */

typedef struct {
  guint16  port;         /* the front proxy */
  guint8   request[300]; /* after greeting 05 01 00 */
  gsize    request_len;
  guint8   reply[300];
  gssize   reply_len;    /* bytes read, up to the first pause or close */
  char     peer[64];     /* CONNECT: the echo server's first line */
  gint     done;
} Client;

static gboolean
recv_some (GSocket *socket, guint8 *buf, gsize len)
{
  gsize got = 0;

  while (got < len)
    {
      gssize n = g_socket_receive (socket, (char *) buf + got, len - got, NULL,
                                   NULL);

      if (n <= 0)
        return FALSE;
      got += (gsize) n;
    }
  return TRUE;
}

/* Greeting, request, the reply (by its own length), and for a successful
 * CONNECT the target's first line. */
static gpointer
client_thread (gpointer data)
{
  Client *c = data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;
  GSocket *socket;
  guint8 method[2];

  g_socket_client_set_enable_proxy (client, FALSE);
  g_socket_client_set_timeout (client, WAIT_SECONDS);
  conn = g_socket_client_connect_to_host (client, "127.0.0.1", c->port, NULL,
                                          NULL);
  if (conn == NULL)
    goto out;
  socket = g_socket_connection_get_socket (conn);
  g_socket_set_timeout (socket, WAIT_SECONDS);
  if (g_socket_send (socket, "\x05\x01\x00", 3, NULL, NULL) != 3 ||
      !recv_some (socket, method, 2) || method[1] != 0x00)
    goto out;
  if (g_socket_send (socket, (const char *) c->request, c->request_len, NULL,
                     NULL) !=
      (gssize) c->request_len)
    goto out;

  /* 05 REP 00 ATYP ... */
  if (!recv_some (socket, c->reply, 4))
    goto out;
  c->reply_len = 4;
  {
    gsize rest = c->reply[3] == 0x01 ? 6 : c->reply[3] == 0x04 ? 18 : 0;

    if (c->reply[3] == 0x03)
      {
        if (!recv_some (socket, c->reply + 4, 1))
          goto out;
        c->reply_len = 5;
        rest = c->reply[4] + 2u;
      }
    if (!recv_some (socket, c->reply + c->reply_len, rest))
      goto out;
    c->reply_len += (gssize) rest;
  }

  if (c->request[1] == 0x01 && c->reply[1] == 0x00)
    {
      gsize i = 0;

      while (i < sizeof c->peer - 1)
        {
          char ch;

          if (g_socket_receive (socket, &ch, 1, NULL, NULL) != 1 || ch == '\n')
            break;
          c->peer[i++] = ch;
        }
      c->peer[i] = '\0';
    }

out:
  g_atomic_int_set (&c->done, 1);
  /* the main thread may be asleep in g_main_context_iteration () */
  g_main_context_wakeup (NULL);
  return NULL;
}

static void
run_client (Client *c)
{
  GThread *thread = g_thread_new ("socks-client", client_thread, c);

  exg_test_wait_flag (&c->done, WAIT_SECONDS * 2);
  g_thread_join (thread);
}

static gsize
request_name (guint8 *out, guint8 cmd, const char *name, guint16 port)
{
  gsize n = strlen (name);

  out[0] = 0x05;
  out[1] = cmd;
  out[2] = 0x00;
  out[3] = 0x03;
  out[4] = (guint8) n;
  memcpy (out + 5, name, n);
  out[5 + n] = (guint8) (port >> 8);
  out[6 + n] = (guint8) port;
  return 7 + n;
}

/* ------------------------------------------------------------------------
 * Processes and servers
 * ------------------------------------------------------------------------ */

/* exitgated on 127.0.0.2 with a direct exit: an upstream that speaks F0/F1
 * and resolves with its own resolver, in its own process. */
static GSubprocess *
start_exitgated (const char *tmpdir, guint16 *port)
{
  g_autofree char *conf = g_build_filename (tmpdir, "upstream.conf", NULL);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (conf,
                       "[server]\nlisten=127.0.0.2:0\n\n[exit out]\ntype=direct\n", -1, &error);
  g_assert_no_error (error);
  return exg_test_spawn_exitgated (conf, "127.0.0.2", port, WAIT_SECONDS);
}

static GSubprocess *
start_microsocks (guint16 *port)
{
  g_autoptr(GSocketListener) probe = g_socket_listener_new ();
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *port_text = NULL;
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string ("127.0.0.3");
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (inet, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  GSubprocess *process;

  g_socket_listener_add_address (probe, any, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP,
                                 NULL, &bound, &error);
  g_assert_no_error (error);
  *port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_socket_listener_close (probe);
  port_text = g_strdup_printf ("%u", *port);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_set_child_setup (launcher, exg_test_die_with_parent,
                                        NULL, NULL);
  process = g_subprocess_launcher_spawn (launcher, &error, "microsocks", "-i",
                                         "127.0.0.3",
                                         "-p", port_text, NULL);
  g_assert_no_error (error);

  /* microsocks says nothing when ready */
  exg_test_wait_listening ("127.0.0.3", *port, WAIT_SECONDS);
  return process;
}

static gboolean
echo_run_cb (GThreadedSocketService *service, GSocketConnection *conn,
             GObject *source_object, gpointer user_data)
{
  g_autoptr(GSocketAddress) peer = g_socket_connection_get_remote_address (conn,
                                                                           NULL);
  g_autofree char *ip = g_inet_address_to_string (
    g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (peer)));
  g_autofree char *line = g_strdup_printf ("peer=%s\n", ip);

  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                             line, strlen (line), NULL, NULL, NULL);
  return TRUE;
}

/* The echo server saw a loopback peer: which family depends on how the
 * machine's /etc/hosts orders "localhost". */
static void
assert_loopback_peer (const char *peer)
{
  if (g_strcmp0 (peer, "peer=::1") != 0)
    g_assert_cmpstr (peer, ==, "peer=127.0.0.1");
}

/* ------------------------------------------------------------------------ */

typedef struct {
  char              *tmpdir;
  GSubprocess       *exitgated;
  GSubprocess       *microsocks;
  GSocketService    *echo;
  guint16            echo_port;
  ExgRouterRegistry *registry;
  ExgServer         *server;
  guint16            port;
} Fixture;

static ExgServer *
start_front (ExgRouterRegistry *registry, guint16 *port)
{
  ExgServer *server = exg_server_new (registry, NULL);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  exg_server_listen (server, any, &bound, &error);
  g_assert_no_error (error);
  *port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  return server;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  guint16 up_port, ms_port;

  f->tmpdir = g_dir_make_tmp ("exg-privacy-XXXXXX", &error);
  g_assert_no_error (error);
  f->exitgated = start_exitgated (f->tmpdir, &up_port);
  f->microsocks = start_microsocks (&ms_port);

  f->echo = g_threaded_socket_service_new (4);
  g_socket_listener_add_address (G_SOCKET_LISTENER (f->echo), any,
                                 G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error);
  g_assert_no_error (error);
  f->echo_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  /* "localhost" is ::1 first on a stock Debian (/etc/hosts has both), so
   * an upstream that resolves it may try ::1 first: the echo server holds
   * its port there too (where the machine has IPv6 at all) */
  {
    g_autoptr(GInetAddress) lo6 = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV6);
    g_autoptr(GSocketAddress) any6 = g_inet_socket_address_new (lo6, f->echo_port);

    g_socket_listener_add_address (G_SOCKET_LISTENER (f->echo), any6,
                                   G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                   NULL, NULL, NULL);
  }
  g_signal_connect (f->echo, "run", G_CALLBACK (echo_run_cb), NULL);
  g_socket_service_start (f->echo);

  f->registry = exg_router_registry_new ();
  {
    g_autoptr(ExgBackend) b1 = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5,
                                                         "127.0.0.2",
                                                         up_port, NULL, NULL);
    g_autoptr(ExgBackend) b2 = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5,
                                                         "127.0.0.3",
                                                         ms_port, NULL, NULL);
    g_autoptr(ExgRouter) r1 = exg_router_new ("se-1", "se-1",
                                              EXG_ROUTER_KIND_SOCKS5,
                                              "127.0.0.2", "SE", 1000, 2, b1);
    g_autoptr(ExgRouter) r2 = exg_router_new ("de-1", "de-1",
                                              EXG_ROUTER_KIND_SOCKS5,
                                              "127.0.0.3", "DE", 1000, 2, b2);

    exg_router_registry_add (f->registry, r1);
    exg_router_registry_add (f->registry, r2);
  }
  f->server = start_front (f->registry, &f->port);
  g_atomic_int_set (&lookups, 0);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  exg_server_stop (f->server);
  g_clear_object (&f->server);
  g_clear_object (&f->registry);
  g_socket_service_stop (f->echo);
  g_socket_listener_close (G_SOCKET_LISTENER (f->echo));
  g_clear_object (&f->echo);
  exg_test_stop_process (f->exitgated, WAIT_SECONDS * 2);
  exg_test_stop_process (f->microsocks, WAIT_SECONDS * 2);
  g_clear_object (&f->exitgated);
  g_clear_object (&f->microsocks);
  {
    g_autofree char *conf = g_build_filename (f->tmpdir, "upstream.conf", NULL);

    g_remove (conf);
    g_rmdir (f->tmpdir);
  }
  g_free (f->tmpdir);
}

/* The exit is the server's default selection: SE → the exitgated
 * upstream, DE → microsocks. */
static void
run_selected (Fixture *f, Client *c)
{
  c->port = f->port;
  run_client (c);
}

static void
test_connect_hostname_upstream (Fixture *f, gconstpointer data)
{
  Client c = { 0 };
  ExgSelection sel;

  exg_selection_init_any (&sel);
  exg_selection_set_country (&sel, "SE");
  exg_server_set_default_selection (f->server, &sel);

  c.request_len = request_name (c.request, 0x01, "localhost", f->echo_port);
  run_selected (f, &c);
  g_assert_cmpint (c.reply_len, >=, 10);
  g_assert_cmpuint (c.reply[1], ==, 0x00);
  /* the exitgated upstream resolved "localhost" and connected */
  assert_loopback_peer (c.peer);

  /* GResolver answers "localhost" itself without asking the resolver
   * class, so the count above proves little: a name it does pass on
   * (which the upstream cannot resolve either) is the real test */
  {
    Client other = { 0 };

    other.request_len = request_name (other.request, 0x01, NXNAME,
                                      f->echo_port);
    run_selected (f, &other);
    g_assert_cmpint (other.reply_len, >=, 10);
    g_assert_cmpuint (other.reply[1], ==, 0x04);
  }
  g_assert_cmpuint (g_atomic_int_get (&lookups), ==, 0);
}

static void
test_resolve_upstream (Fixture *f, gconstpointer data)
{
  Client c = { 0 };
  Client ptr = { 0 };
  ExgSelection sel;
  static const guint8 ptr_req[] = { 0x05, 0xF1, 0x00, 0x01, 127, 0, 0, 1, 0,
                                   0 };

  exg_selection_init_any (&sel);
  exg_selection_set_country (&sel, "SE");
  exg_server_set_default_selection (f->server, &sel);

  c.request_len = request_name (c.request, 0xF0, "localhost", 0);
  run_selected (f, &c);
  g_assert_cmpint (c.reply_len, ==, 10);
  g_assert_cmpuint (c.reply[1], ==, 0x00);
  g_assert_cmpuint (c.reply[3], ==, 0x01);
  g_assert_cmpmem (c.reply + 4, 4, "\x7f\x00\x00\x01", 4);

  memcpy (ptr.request, ptr_req, sizeof ptr_req);
  ptr.request_len = sizeof ptr_req;
  run_selected (f, &ptr);
  g_assert_cmpuint (ptr.reply[1], ==, 0x00);
  g_assert_cmpuint (ptr.reply[3], ==, 0x03);
  g_assert_cmpuint (ptr.reply[4], >, 0);

  /* a name GResolver would pass to the resolver class: not found at the
   * upstream, and never asked here */
  {
    Client other = { 0 };

    other.request_len = request_name (other.request, 0xF0, NXNAME, 0);
    run_selected (f, &other);
    g_assert_cmpuint (other.reply[1], ==, 0x04);
  }

  g_assert_cmpuint (g_atomic_int_get (&lookups), ==, 0);
}

static void
test_resolve_unsupported_upstream (Fixture *f, gconstpointer data)
{
  Client c = { 0 };
  Client conn = { 0 };
  ExgSelection sel;

  /* microsocks cannot RESOLVE: 07, and no local lookup in its place */
  exg_selection_init_any (&sel);
  exg_selection_set_country (&sel, "DE");
  exg_server_set_default_selection (f->server, &sel);

  c.request_len = request_name (c.request, 0xF0, "localhost", 0);
  run_selected (f, &c);
  g_assert_cmpint (c.reply_len, >=, 2);
  g_assert_cmpuint (c.reply[1], ==, 0x07);
  {
    Client other = { 0 };

    other.request_len = request_name (other.request, 0xF0, NXNAME, 0);
    run_selected (f, &other);
    g_assert_cmpuint (other.reply[1], ==, 0x07);
  }

  /* and a CONNECT by name goes through it, resolved at microsocks */
  conn.request_len = request_name (conn.request, 0x01, "localhost",
                                   f->echo_port);
  run_selected (f, &conn);
  g_assert_cmpuint (conn.reply[1], ==, 0x00);
  assert_loopback_peer (conn.peer);

  g_assert_cmpuint (g_atomic_int_get (&lookups), ==, 0);
}

/* The control: a direct exit in this process does use the recording
 * resolver, so the zeros above mean something. */
static void
test_direct_control (Fixture *f, gconstpointer data)
{
  g_autoptr(ExgRouterRegistry) registry = exg_router_registry_new ();
  g_autoptr(ExgBackend) direct = exg_backend_direct_new (NULL);
  g_autoptr(ExgRouter) router = exg_router_new ("direct", "direct",
                                                EXG_ROUTER_KIND_DIRECT,
                                                "", "", 0, 1, direct);
  g_autoptr(ExgServer) server = NULL;
  Client c = { 0 };
  guint16 port;

  exg_router_registry_add (registry, router);
  server = start_front (registry, &port);
  c.port = port;
  c.request_len = request_name (c.request, 0xF0, NXNAME, 0);
  run_client (&c);
  g_assert_cmpuint (c.reply[1], ==, 0x04);
  g_assert_cmpuint (g_atomic_int_get (&lookups), >, 0);
  exg_server_stop (server);
}

int
main (int argc, char **argv)
{
  g_autoptr(GResolver) resolver = NULL;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  resolver = exg_test_resolver_new (&lookups);
  g_resolver_set_default (resolver);

  g_test_add ("/privacy/upstream/connect-by-name", Fixture, NULL,
              fixture_setup, test_connect_hostname_upstream, fixture_teardown);
  g_test_add ("/privacy/upstream/resolve-and-resolve-ptr", Fixture, NULL,
              fixture_setup, test_resolve_upstream, fixture_teardown);
  g_test_add ("/privacy/upstream/resolve-unsupported-is-07", Fixture, NULL,
              fixture_setup, test_resolve_unsupported_upstream, fixture_teardown);
  g_test_add ("/privacy/direct/uses-the-recording-resolver", Fixture, NULL,
              fixture_setup, test_direct_control, fixture_teardown);

  return g_test_run ();
}
