/* tor-circuit-client.c: ExgTorClient and the tor backend alone, driven
 * line by line on stdin by test-tor-exits.py, for what exitgated has no
 * switch for: a new circuit on request.
 *
 *   tor-circuit-client CONTROL_ADDRESS MMDB
 *
 * prints "ready" once tor is, then answers each command:
 *
 *   connect FINGERPRINT PORT ISOLATION  → "open LOCAL_PORT CIRCUIT" | "error MESSAGE"
 *   dial FINGERPRINT PORT ISOLATION     → the same, through exg_backend_dial (), as
 *                                         the server's sessions connect
 *   new FINGERPRINT ISOLATION           → "new 1" (a circuit closed) | "new 0"
 *   geoip MMDB|none                     → "geoip N": a database now (one that
 *                                         arrives late), N tor routers
 *   exits                               → "exits NICK:CC:STATE …" by nickname,
 *                                         CC "-" where unknown
 *
 * ISOLATION is one word.  Connections stay open until stdin ends.  The
 * client tor is the private test network's.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-backend.h"
#include "exg-geoip.h"
#include "exg-router-registry.h"
#include "exg-tor-client.h"

#include "exg-poller.h"

#include <gio/gunixinputstream.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
  ExgRouterRegistry *registry;
  ExgTorClient      *client;
  GDataInputStream  *input;
  GPtrArray         *connections;   /* of GSocketConnection, kept open */
  GArray            *fds;           /* of int: dialed sockets, kept open */
  GMainLoop         *loop;
  gboolean           ready_told;
} Helper;

static void read_next (Helper *h);

static void
say (const char *format,
     ...)
{
  va_list args;

  va_start (args, format);
  vprintf (format, args);
  va_end (args);
  putchar ('\n');
  fflush (stdout);
}

static void
connect_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Helper *h = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  GSocketConnection *connection;

  connection = exg_backend_connect_finish (EXG_BACKEND (source), result, &error);
  if (connection == NULL)
    say ("error %s", error->message);
  else
    {
      const char *circuit = exg_backend_get_connection_circuit (connection);

      local = g_socket_connection_get_local_address (connection, NULL);
      say ("open %u %s",
           local != NULL ? g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)) : 0,
           circuit != NULL ? circuit : "(none)");
      g_ptr_array_add (h->connections, connection);
    }
  read_next (h);
}

static void
dial_cb (gpointer           user_data,
         int                fd,
         GSocketConnection *connection,
         const char        *circuit,
         GError            *error)
{
  Helper *h = user_data;
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  guint port = 0;

  if (fd < 0)
    {
      say ("error %s", error->message);
      g_error_free (error);
      read_next (h);
      return;
    }
  if (getsockname (fd, (struct sockaddr *) &local, &len) == 0 &&
      local.ss_family == AF_INET)
    port = g_ntohs (((struct sockaddr_in *) &local)->sin_port);
  say ("open %u %s", port, circuit != NULL ? circuit : "(none)");
  if (connection != NULL)
    g_ptr_array_add (h->connections, connection);
  else
    {
      /* held for a relay that will not come: ours now */
      exg_poller_remove (exg_poller_get_default (), fd);
      g_array_append_val (h->fds, fd);
    }
  read_next (h);
}

static gint
by_nickname (gconstpointer a,
             gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

static void
say_exits (Helper *h)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (h->registry));
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) line = g_string_new ("exits");

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(ExgRouter) router = g_list_model_get_item (G_LIST_MODEL (h->registry), i);
      const char *country = exg_router_get_country (router);

      g_ptr_array_add (rows, g_strdup_printf ("%s:%s:%s", exg_router_get_name (router),
                                              country[0] != '\0' ? country : "-",
                                              exg_router_state_to_string (exg_router_get_state (router))));
    }
  g_ptr_array_sort (rows, by_nickname);
  for (guint i = 0; i < rows->len; i++)
    g_string_append_printf (line, " %s", (const char *) g_ptr_array_index (rows, i));
  say ("%s", line->str);
}

static void
set_geoip (Helper     *h,
           const char *path)
{
  g_autoptr(ExgGeoip) geoip = NULL;
  g_autoptr(GError) error = NULL;

  if (!g_str_equal (path, "none"))
    {
      geoip = exg_geoip_new_from_file (path, &error);
      if (geoip == NULL)
        {
          say ("error %s", error->message);
          return;
        }
    }
  exg_tor_client_set_geoip (h->client, geoip);
  say ("geoip %u", exg_tor_client_get_n_exits (h->client));
}

static void
line_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Helper *h = user_data;
  g_autofree char *line = NULL;
  g_auto(GStrv) words = NULL;
  g_autofree char *id = NULL;
  ExgRouter *router;

  line = g_data_input_stream_read_line_finish_utf8 (h->input, result, NULL, NULL);
  if (line == NULL)
    {
      g_main_loop_quit (h->loop);
      return;
    }
  words = g_strsplit (line, " ", -1);
  if (g_strv_length (words) == 4 &&
      (g_str_equal (words[0], "connect") || g_str_equal (words[0], "dial")))
    {
      id = g_strconcat ("tor:", words[1], NULL);
      router = exg_router_registry_lookup (h->registry, id);
      if (router == NULL)
        {
          say ("error no router %s", id);
          read_next (h);
          return;
        }
      if (g_str_equal (words[0], "dial"))
        exg_backend_dial (exg_router_get_backend (router), "127.0.0.1",
                          (guint16) atoi (words[2]), words[3], dial_cb, h);
      else
        exg_backend_connect_async (exg_router_get_backend (router), "127.0.0.1",
                                   (guint16) atoi (words[2]), words[3], NULL,
                                   connect_cb, h);
      return;
    }
  if (g_strv_length (words) == 3 && g_str_equal (words[0], "new"))
    say ("new %d", exg_tor_client_new_circuit (h->client, words[1], words[2]));
  else if (g_strv_length (words) == 2 && g_str_equal (words[0], "geoip"))
    set_geoip (h, words[1]);
  else if (g_strv_length (words) == 1 && g_str_equal (words[0], "exits"))
    say_exits (h);
  else
    say ("error unknown command");
  read_next (h);
}

static void
read_next (Helper *h)
{
  g_data_input_stream_read_line_async (h->input, G_PRIORITY_DEFAULT, NULL,
                                       line_cb, h);
}

static void
ready_cb (ExgTorClient *client,
          GParamSpec   *pspec,
          Helper       *h)
{
  if (h->ready_told || !exg_tor_client_get_ready (client))
    return;
  h->ready_told = TRUE;
  say ("ready");
  read_next (h);
}

static void
stopped_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  exg_tor_client_stop_finish (EXG_TOR_CLIENT (source), result, NULL);
  g_main_loop_quit (user_data);
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ExgGeoip) geoip = NULL;
  g_autoptr(GInputStream) in = NULL;
  Helper h = { 0 };

  if (argc != 3)
    {
      g_printerr ("usage: %s CONTROL_ADDRESS MMDB\n", argv[0]);
      return 2;
    }
  geoip = exg_geoip_new_from_file (argv[2], &error);
  if (geoip == NULL)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }

  h.registry = exg_router_registry_new ();
  h.client = exg_tor_client_new (h.registry, geoip);
  h.connections = g_ptr_array_new_with_free_func (g_object_unref);
  h.fds = g_array_new (FALSE, FALSE, sizeof (int));
  h.loop = g_main_loop_new (NULL, FALSE);
  in = g_unix_input_stream_new (0, FALSE);
  h.input = g_data_input_stream_new (in);

  g_signal_connect (h.client, "notify::ready", G_CALLBACK (ready_cb), &h);
  exg_tor_client_set_control (h.client, argv[1], NULL);
  exg_tor_client_start (h.client);
  g_main_loop_run (h.loop);

  g_ptr_array_unref (h.connections);
  for (guint i = 0; i < h.fds->len; i++)
    close (g_array_index (h.fds, int, i));
  g_array_unref (h.fds);
  g_object_unref (h.input);
  /* like exitgated leaving: tor gets its streams back
   * (__LeaveStreamsUnattached 0) before we go */
  exg_tor_client_stop_async (h.client, NULL, stopped_cb, h.loop);
  g_main_loop_run (h.loop);
  g_object_unref (h.client);
  g_object_unref (h.registry);
  g_main_loop_unref (h.loop);
  return 0;
}
