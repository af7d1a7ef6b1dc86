/* test-window.c: the real window, built from the GResource, driving the
 * in-process core: the exit picker, a connection through the proxy, a
 * RESOLVE, the proxy switch.
 *
 * The routers are two direct exits with their own loopback source
 * addresses (127.0.0.2 and 127.0.0.3), so the echo target sees which exit
 * really carried a connection; their countries come from a test MMDB
 * (exg-make-mmdb) or, without it, from the exits file.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-test"
#include "config.h"

#include "exg-test-util.h"
#include "exg-ui-util.h"

#include "exg-application.h"
#include "exg-connections-view.h"
#include "exg-country.h"
#include "exg-exit-dialog.h"
#include "exg-lookups-view.h"
#include "exg-preferences.h"
#include "exg-routers-view.h"
#include "exg-tor-prefs.h"
#include "exg-traffic-graph.h"
#include "exg-view-util.h"
#include "exg-window.h"

#include <glib/gstdio.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <libintl.h>
#include <string.h>

#define WAIT_MS 5000

static ExgApplication *app;
static ExgWindow *window;
static char *tmpdir;

/* helpers */

static GtkWidget *
find_in_titlebar (const char *name)
{
  return exg_ui_find_widget (gtk_window_get_titlebar (GTK_WINDOW (window)), name);
}

static char *
action_string_state (const char *name)
{
  g_autoptr(GVariant) state = g_action_group_get_action_state (G_ACTION_GROUP (app), name);

  return g_variant_dup_string (state, NULL);
}

static gboolean
action_bool_state (const char *name)
{
  g_autoptr(GVariant) state = g_action_group_get_action_state (G_ACTION_GROUP (app), name);

  return g_variant_get_boolean (state);
}

static guint16
bound_port (void)
{
  const char *bound = exg_application_get_bound_address (app);
  const char *colon;

  g_assert_nonnull (bound);
  colon = strrchr (bound, ':');
  g_assert_nonnull (colon);
  return (guint16) g_ascii_strtoull (colon + 1, NULL, 10);
}

/* a blocking SOCKS client in a thread: the proxy runs in this thread's
 * main loop, which the test keeps spinning */

typedef struct {
  guint16             proxy_port;
  guint16             target_port;   /* CONNECT when nonzero, else RESOLVE */
  const char         *name;          /* RESOLVE query */
  GSocketConnection  *conn;          /* out: left open for the test */
  guint8              reply[10];
  char                echo[5];
  gboolean            ok;
  gint                done;
} Client;

static gboolean
client_done (gpointer data)
{
  return g_atomic_int_get (&((Client *) data)->done);
}

static gpointer
client_thread (gpointer data)
{
  Client *c = data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  GInputStream *in;
  GOutputStream *out;
  guint8 buf[300];
  gsize n = 0, len = 0;

  g_socket_client_set_enable_proxy (client, FALSE);
  c->conn = g_socket_client_connect_to_host (client, "127.0.0.1", c->proxy_port,
                                             NULL, &error);
  if (c->conn == NULL)
    goto out;
  in = g_io_stream_get_input_stream (G_IO_STREAM (c->conn));
  out = g_io_stream_get_output_stream (G_IO_STREAM (c->conn));

  if (!g_output_stream_write_all (out, "\x05\x01\x00", 3, NULL, NULL, &error)
      || !g_input_stream_read_all (in, buf, 2, &n, NULL, &error) || n != 2
      || buf[0] != 5 || buf[1] != 0)
    goto out;

  if (c->target_port != 0)
    {
      static const guint8 head[] = { 0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1 };

      memcpy (buf, head, sizeof head);
      buf[8] = c->target_port >> 8;
      buf[9] = c->target_port & 0xff;
      len = 10;
    }
  else
    {
      /* socks-extensions.txt §2: RESOLVE is command F0, a name, port 0 */
      buf[0] = 0x05; buf[1] = 0xF0; buf[2] = 0x00; buf[3] = 0x03;
      buf[4] = (guint8) strlen (c->name);
      memcpy (buf + 5, c->name, buf[4]);
      len = 5 + buf[4];
      buf[len++] = 0;
      buf[len++] = 0;
    }
  if (!g_output_stream_write_all (out, buf, len, NULL, NULL, &error)
      || !g_input_stream_read_all (in, c->reply, 10, &n, NULL,
                                   &error) || n != 10)
    goto out;

  if (c->target_port != 0 && c->reply[1] == 0)
    {
      if (!g_output_stream_write_all (out, "ping", 4, NULL, NULL, &error)
          || !g_input_stream_read_all (in, c->echo, 4, &n, NULL,
                                       &error) || n != 4)
        goto out;
    }
  c->ok = TRUE;

out:
  if (error != NULL)
    g_printerr ("# client: %s\n", error->message);
  g_atomic_int_set (&c->done, TRUE);
  return NULL;
}

static void
run_client (Client *c)
{
  GThread *thread = g_thread_new ("socks-client", client_thread, c);

  g_assert_true (exg_test_poll_until (client_done, c, WAIT_MS));
  g_thread_join (thread);
}

/* an echo target that records where connections come from */

static GMutex peer_lock;
static char *last_peer;

static gboolean
echo_run_cb (GThreadedSocketService *service,
             GSocketConnection      *connection,
             GObject                *source_object,
             gpointer                user_data)
{
  g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address (connection, NULL);
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  char buf[4096];
  gssize n;

  if (remote != NULL)
    {
      GInetAddress *ip = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote));

      g_mutex_lock (&peer_lock);
      g_free (last_peer);
      last_peer = g_inet_address_to_string (ip);
      g_mutex_unlock (&peer_lock);
    }
  while ((n = g_input_stream_read (in, buf, sizeof buf, NULL, NULL)) > 0)
    if (!g_output_stream_write_all (out, buf, n, NULL, NULL, NULL))
      break;
  return TRUE;
}

static guint16
start_echo (GSocketService **out_service)
{
  GSocketService *service = g_threaded_socket_service_new (4);
  guint16 port;
  g_autoptr(GError) error = NULL;

  port = g_socket_listener_add_any_inet_port (G_SOCKET_LISTENER (service), NULL,
                                              &error);
  g_assert_no_error (error);
  g_signal_connect (service, "run", G_CALLBACK (echo_run_cb), NULL);
  g_socket_service_start (service);
  *out_service = service;
  return port;
}

/* Chooses @country and makes a CONNECT through the proxy to a new echo
 * target (*@echo), left open in @c */
static void
connect_through (const char      *country,
                 Client          *c,
                 GSocketService **echo)
{
  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string (country));
  exg_test_flush ();
  memset (c, 0, sizeof *c);
  c->proxy_port = bound_port ();
  c->target_port = start_echo (echo);
  run_client (c);
  g_assert_true (c->ok);
  g_assert_cmpuint (c->reply[1], ==, 0);
  g_assert_cmpmem (c->echo, 4, "ping", 4);
}

/* model lookups */

static gboolean
find_row (GtkTreeModel *model,
          int           column,
          const char   *value,
          GtkTreeIter  *iter)
{
  gboolean valid;

  for (valid = gtk_tree_model_get_iter_first (model, iter); valid;
       valid = gtk_tree_model_iter_next (model, iter))
    {
      g_autofree char *text = NULL;

      gtk_tree_model_get (model, iter, column, &text, -1);
      if (g_strcmp0 (text, value) == 0)
        return TRUE;
    }
  return FALSE;
}

static gboolean
routers_up (gpointer data)
{
  return exg_router_registry_count_up (exg_application_get_registry (app)) == 2;
}

static gboolean
country_list_has_three (gpointer model)
{
  return gtk_tree_model_iter_n_children (model, NULL) == 3;
}

static gboolean
country_list_has_four (gpointer model)
{
  return gtk_tree_model_iter_n_children (model, NULL) == 4;
}

/* tests */

static void
test_builds_from_resources (void)
{
  GtkWidget *combo = exg_ui_find_widget (GTK_WIDGET (window), "country_combo");
  GtkWidget *proxy_switch = find_in_titlebar ("proxy_switch");
  AtkObject *accessible;

  g_assert_true (GTK_IS_COMBO_BOX (combo));
  g_assert_true (GTK_IS_SWITCH (proxy_switch));
  accessible = gtk_widget_get_accessible (combo);
  g_assert_cmpstr (atk_object_get_name (accessible), ==, "Exit country");
  g_assert_cmpstr (atk_object_get_name (gtk_widget_get_accessible (proxy_switch)), ==, "Proxy enabled");
  g_assert_true (gtk_switch_get_active (GTK_SWITCH (proxy_switch)));
  g_assert_true (action_bool_state ("proxy-enabled"));
  g_assert_true (exg_test_poll_until (routers_up, NULL, WAIT_MS));
}

static void
test_country_list (void)
{
  GtkComboBox *combo = exg_ui_find_widget (GTK_WIDGET (window), "country_combo");
  GtkTreeModel *model = gtk_combo_box_get_model (combo);
  GtkTreeIter iter;
  g_autofree char *code0 = NULL;
  g_autofree char *code1 = NULL;
  g_autofree char *code2 = NULL;
  g_autofree char *label = NULL;

  /* routers come up as their first checks answer; the list follows on the
   * window's next tick */
  g_assert_true (exg_test_poll_until (country_list_has_three, model, WAIT_MS));
  /* "Any country" first, then by name: Germany before Sweden */
  g_assert_cmpint (gtk_tree_model_iter_n_children (model, NULL), ==, 3);
  gtk_tree_model_iter_nth_child (model, &iter, NULL, 0);
  gtk_tree_model_get (model, &iter, 0, &code0, -1);
  gtk_tree_model_iter_nth_child (model, &iter, NULL, 1);
  gtk_tree_model_get (model, &iter, 0, &code1, -1);
  gtk_tree_model_iter_nth_child (model, &iter, NULL, 2);
  gtk_tree_model_get (model, &iter, 0, &code2, 1, &label, -1);
  g_assert_cmpstr (code0, ==, "");
  g_assert_cmpstr (code1, ==, "DE");
  g_assert_cmpstr (code2, ==, "SE");
  g_assert_true (g_str_has_suffix (label, "Sweden"));
  g_assert_true (g_str_has_prefix (label,
                                   "\xf0\x9f\x87\xb8\xf0\x9f\x87\xaa"));   /* 🇸🇪 */

  /* a country whose exits are all down stays listed, greyed out (the
   * application's country list, which the tray shows too) */
  {
    ExgRouterRegistry *registry = exg_application_get_registry (app);
    g_autoptr(ExgBackend) backend = exg_backend_direct_new (NULL);
    g_autoptr(ExgRouter) down = exg_router_new ("fr-down", "fr-down",
                                                EXG_ROUTER_KIND_DIRECT, "", "FR",
                                                0, 1, backend);
    g_autofree char *count = NULL;
    gboolean sensitive = TRUE;

    exg_router_set_up (down, FALSE);
    exg_router_registry_add (registry, down);
    g_assert_true (exg_test_poll_until (country_list_has_four, model, WAIT_MS));
    g_assert_true (find_row (model, 0, "FR", &iter));
    gtk_tree_model_get (model, &iter, 3, &count, 4, &sensitive, -1);
    g_assert_false (sensitive);
    g_assert_cmpstr (count, ==, "no router up");
    g_assert_true (exg_country_row_all_down (exg_country_list_lookup (exg_application_get_country_list (app),
                                                                       "FR")));
    g_assert_true (exg_router_registry_remove (registry, "fr-down"));
    g_assert_true (exg_test_poll_until (country_list_has_three, model, WAIT_MS));
  }
}

static void
test_pick_country (void)
{
  GtkComboBox *combo = exg_ui_find_widget (GTK_WIDGET (window), "country_combo");
  GtkLabel *result = exg_ui_find_widget (GTK_WIDGET (window), "result_label");
  g_autoptr(GSettings) settings = g_settings_new (APPLICATION_ID);
  g_autofree char *state = NULL;
  g_autofree char *key = NULL;
  ExgSelection sel;

  g_assert_true (gtk_combo_box_set_active_id (combo, "SE"));
  exg_test_flush ();

  state = action_string_state ("exit-country");
  g_assert_cmpstr (state, ==, "SE");
  key = g_settings_get_string (settings, "exit-country");
  g_assert_cmpstr (key, ==, "SE");
  exg_server_get_default_selection (exg_application_get_server (app), &sel);
  g_assert_cmpstr (sel.country, ==, "SE");
  /* the only router in Sweden is the one shown */
  g_assert_nonnull (strstr (gtk_label_get_text (result), "se-exit"));
  g_assert_nonnull (strstr (gtk_label_get_text (result), "127.0.0.2"));
  g_assert_nonnull (strstr (gtk_label_get_text (result), "Sweden"));

  /* and the other way: the action (tray, D-Bus) moves the combo */
  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string ("DE"));
  exg_test_flush ();
  g_assert_cmpstr (gtk_combo_box_get_active_id (combo), ==, "DE");
  g_assert_nonnull (strstr (gtk_label_get_text (result), "de-exit"));

  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string (""));
  exg_test_flush ();
  g_assert_cmpstr (gtk_combo_box_get_active_id (combo), ==, "");
}

static void
test_type_to_search (void)
{
  GtkComboBox *combo = exg_ui_find_widget (GTK_WIDGET (window), "country_combo");
  GtkEntry *entry = GTK_ENTRY (gtk_bin_get_child (GTK_BIN (combo)));
  g_autofree char *state = NULL;

  gtk_entry_set_text (entry, "swe");
  g_signal_emit_by_name (entry, "activate");
  exg_test_flush ();
  state = action_string_state ("exit-country");
  g_assert_cmpstr (state, ==, "SE");
  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string (""));
  exg_test_flush ();
}

static void
send_key (GtkWidget *widget,
          guint      keyval)
{
  GdkEvent *event = gdk_event_new (GDK_KEY_PRESS);
  GdkSeat *seat = gdk_display_get_default_seat (gtk_widget_get_display (widget));
  GdkKeymapKey *keys = NULL;
  int n_keys = 0;

  event->key.window = g_object_ref (gtk_widget_get_window (widget));
  event->key.keyval = keyval;
  event->key.time = GDK_CURRENT_TIME;
  /* key bindings (GtkSearchEntry's Escape) match the hardware keycode */
  if (gdk_keymap_get_entries_for_keyval (gdk_keymap_get_for_display (gtk_widget_get_display (widget)),
                                         keyval, &keys, &n_keys) && n_keys > 0)
    event->key.hardware_keycode = keys[0].keycode;
  g_free (keys);
  gdk_event_set_device (event, gdk_seat_get_keyboard (seat));
  gtk_widget_event (widget, event);
  gdk_event_free (event);
}

/* State 4: the box shows the country in force, whatever was typed */
static void
test_country_box_reverts (void)
{
  GtkComboBox *combo = exg_ui_find_widget (GTK_WIDGET (window), "country_combo");
  GtkEntry *entry = GTK_ENTRY (gtk_bin_get_child (GTK_BIN (combo)));
  GtkWidget *from = exg_ui_find_widget (GTK_WIDGET (window), "range_from_entry");
  g_autofree char *state = NULL;

  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string ("DE"));
  exg_test_flush ();
  g_assert_true (g_str_has_suffix (gtk_entry_get_text (entry), "Germany"));

  /* typed, then Escape: back to Germany, nothing chosen */
  gtk_widget_grab_focus (GTK_WIDGET (entry));
  gtk_entry_set_text (entry, "Swe");
  exg_test_flush ();
  g_assert_null (gtk_combo_box_get_active_id (combo));
  send_key (GTK_WIDGET (entry), GDK_KEY_Escape);
  exg_test_flush ();
  g_assert_true (g_str_has_suffix (gtk_entry_get_text (entry), "Germany"));
  g_assert_cmpstr (gtk_combo_box_get_active_id (combo), ==, "DE");
  state = action_string_state ("exit-country");
  g_assert_cmpstr (state, ==, "DE");

  /* typed, then focus leaves for another field: back to Germany */
  gtk_entry_set_text (entry, "Swe");
  exg_test_flush ();
  gtk_widget_grab_focus (from);
  exg_test_flush ();
  g_assert_true (g_str_has_suffix (gtk_entry_get_text (entry), "Germany"));
  g_assert_cmpstr (gtk_combo_box_get_active_id (combo), ==, "DE");
  g_clear_pointer (&state, g_free);
  state = action_string_state ("exit-country");
  g_assert_cmpstr (state, ==, "DE");

  /* Enter picks the first match, also inside a name ("wed" → Sweden) */
  gtk_widget_grab_focus (GTK_WIDGET (entry));
  gtk_entry_set_text (entry, "wed");
  g_signal_emit_by_name (entry, "activate");
  exg_test_flush ();
  g_clear_pointer (&state, g_free);
  state = action_string_state ("exit-country");
  g_assert_cmpstr (state, ==, "SE");
  g_assert_true (g_str_has_suffix (gtk_entry_get_text (entry), "Sweden"));

  /* Enter on text that matches nothing: the country in force stays */
  gtk_entry_set_text (entry, "Atlantis");
  g_signal_emit_by_name (entry, "activate");
  exg_test_flush ();
  g_clear_pointer (&state, g_free);
  state = action_string_state ("exit-country");
  g_assert_cmpstr (state, ==, "SE");
  g_assert_true (g_str_has_suffix (gtk_entry_get_text (entry), "Sweden"));

  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string (""));
  exg_test_flush ();
  g_assert_cmpstr (gtk_entry_get_text (entry), ==, "Any country");
}

static void
test_range_and_no_match (void)
{
  GtkEntry *from = exg_ui_find_widget (GTK_WIDGET (window), "range_from_entry");
  GtkEntry *to = exg_ui_find_widget (GTK_WIDGET (window), "range_to_entry");
  GtkLabel *error_label = exg_ui_find_widget (GTK_WIDGET (window),
                                       "range_error_label");
  GtkLabel *result = exg_ui_find_widget (GTK_WIDGET (window), "result_label");
  g_autoptr(GSettings) settings = g_settings_new (APPLICATION_ID);
  g_autofree char *range = NULL;
  g_autofree char *tooltip = NULL;
  GtkLabel *status;
  ExgSelection sel;

  /* invalid: marked, explained, not applied */
  gtk_entry_set_text (from, "127.0.0.300");
  exg_test_flush ();
  g_assert_true (gtk_style_context_has_class (gtk_widget_get_style_context (GTK_WIDGET (from)), "error"));
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (error_label)));
  range = g_settings_get_string (settings, "ip-range");
  g_assert_cmpstr (range, ==, "");

  gtk_entry_set_text (from, "127.0.0.3");
  gtk_entry_set_text (to, "127.0.0.3");
  exg_test_flush ();
  g_assert_false (gtk_style_context_has_class (gtk_widget_get_style_context (GTK_WIDGET (from)), "error"));
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (error_label)));
  g_clear_pointer (&range, g_free);
  range = g_settings_get_string (settings, "ip-range");
  g_assert_cmpstr (range, ==, "127.0.0.3-127.0.0.3");
  exg_server_get_default_selection (exg_application_get_server (app), &sel);
  g_assert_cmpuint (sel.range_start, ==, 0x7f000003);
  g_assert_cmpuint (sel.range_end, ==, 0x7f000003);
  g_assert_nonnull (strstr (gtk_label_get_text (result), "de-exit"));

  /* Sweden's only exit is outside the range: said in plain words */
  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string ("SE"));
  exg_test_flush ();
  g_assert_cmpstr (gtk_label_get_text (result), ==,
                   "No exit in Sweden has an address in the range.");
  /* and the header warns: nothing can connect, and why, in the tooltip */
  status = GTK_LABEL (find_in_titlebar ("status_label"));
  g_assert_true (g_str_has_prefix (gtk_label_get_text (status),
                                   "Nothing can connect · 2 routers up"));
  g_assert_true (gtk_style_context_has_class (gtk_widget_get_style_context (GTK_WIDGET (status)),
                                              "exg-warning"));
  g_assert_true (gtk_widget_get_visible (find_in_titlebar ("status_icon")));
  tooltip = gtk_widget_get_tooltip_text (GTK_WIDGET (status));
  g_assert_nonnull (strstr (tooltip,
                            "No exit in Sweden has an address in the range."));

  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string (""));
  gtk_entry_set_text (from, "");
  gtk_entry_set_text (to, "");
  exg_test_flush ();
  g_clear_pointer (&range, g_free);
  range = g_settings_get_string (settings, "ip-range");
  g_assert_cmpstr (range, ==, "");
  g_assert_false (gtk_style_context_has_class (gtk_widget_get_style_context (GTK_WIDGET (status)),
                                               "exg-warning"));
  g_assert_false (gtk_widget_get_visible (find_in_titlebar ("status_icon")));
  g_assert_nonnull (strstr (gtk_label_get_text (status), "exit: any country"));
}

typedef struct {
  GtkTreeModel *model;
  const char   *target;
  gboolean      want_alive;   /* wait for alive, or for greyed */
} RowWait;

static gboolean
row_state (gpointer data)
{
  RowWait *w = data;
  GtkTreeIter iter;
  gboolean alive;
  g_autofree char *exit = NULL;

  if (!find_row (w->model, EXG_CONN_COL_TARGET, w->target, &iter))
    return FALSE;
  gtk_tree_model_get (w->model, &iter, EXG_CONN_COL_ALIVE, &alive,
                      EXG_CONN_COL_EXIT, &exit, -1);
  return alive == w->want_alive && exit != NULL && exit[0] != '\0';
}

static gboolean
row_gone (gpointer data)
{
  RowWait *w = data;
  GtkTreeIter iter;

  return !find_row (w->model, EXG_CONN_COL_TARGET, w->target, &iter);
}

static void
test_connection_appears (void)
{
  ExgConnectionsView *view = exg_ui_find_widget (GTK_WIDGET (window),
                                          "connections_view");
  GtkTreeModel *model = GTK_TREE_MODEL (exg_connections_view_get_store (view));
  g_autoptr(GSocketService) echo = NULL;
  g_autofree char *target = NULL;
  g_autofree char *exit = NULL;
  g_autofree char *state = NULL;
  Client c = { 0, };
  RowWait w;
  GtkTreeIter iter;
  guint64 up, down;

  exg_connections_view_set_linger (view, 300);
  connect_through ("DE", &c, &echo);
  /* the German exit really carried it */
  g_mutex_lock (&peer_lock);
  g_assert_cmpstr (last_peer, ==, "127.0.0.3");
  g_mutex_unlock (&peer_lock);

  target = g_strdup_printf ("127.0.0.1:%u", c.target_port);
  w = (RowWait) { model, target, TRUE };
  g_assert_true (exg_test_poll_until (row_state, &w, WAIT_MS));
  exg_connections_view_refresh (view);
  g_assert_true (find_row (model, EXG_CONN_COL_TARGET, target, &iter));
  gtk_tree_model_get (model, &iter, EXG_CONN_COL_EXIT, &exit,
                      EXG_CONN_COL_STATE, &state,
                      EXG_CONN_COL_UP, &up, EXG_CONN_COL_DOWN, &down, -1);
  g_assert_nonnull (strstr (exit, "de-exit"));
  g_assert_nonnull (strstr (exit, "Germany"));
  g_assert_cmpstr (state, ==, "Open");
  g_assert_cmpuint (up, ==, 4);
  g_assert_cmpuint (down, ==, 4);

  /* the traffic graph's next sample sees those bytes */
  {
    ExgTrafficGraph *graph = exg_ui_find_widget (GTK_WIDGET (window), "traffic_graph");
    guint64 total_up = 0, total_down = 0;
    double rate_up = 0, rate_down = 0;

    exg_activity_get_totals (exg_application_get_activity (app), &total_up,
                             &total_down);
    g_assert_cmpuint (total_up, >=, 4);
    g_assert_cmpuint (total_down, >=, 4);
    /* the graph's own timer may have taken that sample already */
    exg_traffic_graph_sample (graph);
    exg_traffic_graph_get_peaks (graph, &rate_up, &rate_down);
    g_assert_cmpfloat (rate_up, >, 0);
    g_assert_cmpfloat (rate_down, >, 0);
  }

  /* closed by the client: greyed, then gone */
  g_io_stream_close (G_IO_STREAM (c.conn), NULL, NULL);
  g_clear_object (&c.conn);
  w.want_alive = FALSE;
  g_assert_true (exg_test_poll_until (row_state, &w, WAIT_MS));
  g_assert_true (exg_test_poll_until (row_gone, &w, WAIT_MS));

  g_socket_service_stop (echo);
  g_socket_listener_close (G_SOCKET_LISTENER (echo));
  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string (""));
  exg_test_flush ();
}

/* rows of @target that leak names / that do not */
typedef struct {
  GtkTreeModel *model;
  const char   *target;
  guint         n_leak;
  guint         n_clean;
} LeakWait;

static gboolean
leak_rows_seen (gpointer data)
{
  LeakWait *w = data;
  GtkTreeIter iter;
  gboolean valid;

  exg_connections_view_refresh (exg_ui_find_widget (GTK_WIDGET (window), "connections_view"));
  w->n_leak = w->n_clean = 0;
  for (valid = gtk_tree_model_get_iter_first (w->model, &iter); valid;
       valid = gtk_tree_model_iter_next (w->model, &iter))
    {
      g_autofree char *target = NULL;
      gboolean leak, alive;

      gtk_tree_model_get (w->model, &iter, EXG_CONN_COL_TARGET, &target,
                          EXG_CONN_COL_LEAK, &leak, EXG_CONN_COL_ALIVE, &alive, -1);
      if (alive && g_strcmp0 (target, w->target) == 0)
        {
          if (leak)
            w->n_leak++;
          else
            w->n_clean++;
        }
    }
  return w->n_leak == 1 && w->n_clean == 1;
}

/* The width the Target column gives its warning sign in the first row of
 * the tree view's model that is marked as leaking names: what is drawn,
 * not just the model's flag. */
static int
drawn_leak_sign_width (GtkTreeView *tree)
{
  GtkTreeModel *model = gtk_tree_view_get_model (tree);
  GtkTreeIter iter;
  gboolean valid;

  for (valid = gtk_tree_model_get_iter_first (model, &iter); valid;
       valid = gtk_tree_model_iter_next (model, &iter))
    {
      gboolean leak;

      gtk_tree_model_get (model, &iter, EXG_CONN_COL_LEAK, &leak, -1);
      if (leak)
        break;
    }
  g_assert_true (valid);

  for (guint i = 0; i < gtk_tree_view_get_n_columns (tree); i++)
    {
      GtkTreeViewColumn *column = gtk_tree_view_get_column (tree, i);
      g_autoptr(GList) cells = gtk_cell_layout_get_cells (GTK_CELL_LAYOUT (column));

      for (GList *l = cells; l != NULL; l = l->next)
        {
          int x = 0, width = 0;

          if (!GTK_IS_CELL_RENDERER_PIXBUF (l->data))
            continue;
          gtk_tree_view_column_cell_set_cell_data (column, model, &iter, FALSE, FALSE);
          g_assert_true (gtk_cell_renderer_get_visible (l->data));
          g_assert_true (gtk_tree_view_column_cell_get_position (column, l->data,
                                                                 &x, &width));
          return width;
        }
    }
  g_assert_not_reached ();
}

/* A CONNECT by IP address through a proxy exit: the client resolved the
 * name itself.  The exit is a SOCKS5 upstream that is this very proxy,
 * asked with the username "country=SE", so the connection really goes
 * through (proxy exit → the Swedish direct exit → the echo target) and
 * the core marks it as it would any other. */
static void
test_dns_leak_hint (void)
{
  ExgConnectionsView *view = exg_ui_find_widget (GTK_WIDGET (window), "connections_view");
  GtkTreeModel *model = GTK_TREE_MODEL (exg_connections_view_get_store (view));
  GtkWidget *bar = exg_ui_find_widget (GTK_WIDGET (view), "leak_bar");
  ExgRouterRegistry *registry = exg_application_get_registry (app);
  g_autoptr(ExgBackend) backend = exg_backend_upstream_new (EXG_ROUTER_KIND_SOCKS5,
                                                            "127.0.0.1", bound_port (),
                                                            "country=SE", "x");
  g_autoptr(ExgRouter) loop = exg_router_new ("fr-loop", "fr-loop", EXG_ROUTER_KIND_SOCKS5,
                                              "127.0.0.1", "FR", 0, 1, backend);
  g_autoptr(GSocketService) echo = NULL;
  g_autofree char *target = NULL;
  g_autofree char *detail = NULL;
  GtkLabel *label = NULL;
  Client c = { 0, };
  LeakWait w;
  GtkTreeIter iter;
  gboolean valid;

  g_assert_false (gtk_widget_get_visible (bar));
  exg_router_set_up (loop, TRUE);
  exg_router_registry_add (registry, loop);
  connect_through ("FR", &c, &echo);
  g_mutex_lock (&peer_lock);
  g_assert_cmpstr (last_peer, ==, "127.0.0.2");     /* through the Swedish exit */
  g_mutex_unlock (&peer_lock);

  /* the client's connection is marked, the proxy's own hop is not */
  target = g_strdup_printf ("127.0.0.1:%u", c.target_port);
  w = (LeakWait) { model, target, 0, 0 };
  g_assert_true (exg_test_poll_until (leak_rows_seen, &w, WAIT_MS));
  for (valid = gtk_tree_model_get_iter_first (model, &iter); valid;
       valid = gtk_tree_model_iter_next (model, &iter))
    {
      gboolean leak;

      gtk_tree_model_get (model, &iter, EXG_CONN_COL_LEAK, &leak, -1);
      if (leak)
        break;
    }
  g_assert_true (valid);
  gtk_tree_model_get (model, &iter, EXG_CONN_COL_DETAIL, &detail, -1);
  g_assert_nonnull (strstr (detail, "Connected by IP address through a Tor or proxy exit"));
  g_assert_nonnull (strstr (detail, "socks5h://"));
  g_assert_nonnull (strstr (detail, "curl --socks5-hostname"));
  /* and its sign is drawn, with room for the icon: the tree view sizes
   * its cells from the first rows, which carry no sign */
  exg_test_flush ();
  g_assert_cmpint (drawn_leak_sign_width (exg_connections_view_get_tree_view (view)), >=, 16);

  /* said once, plainly, over the list */
  g_assert_true (gtk_widget_get_visible (bar));
  {
    g_autoptr(GList) children = gtk_container_get_children (GTK_CONTAINER (gtk_info_bar_get_content_area (GTK_INFO_BAR (bar))));

    label = children->data;
  }
  g_assert_true (g_str_has_prefix (gtk_label_get_text (label),
                                   "A program at 127.0.0.1 connects by IP address"));
  g_assert_nonnull (strstr (gtk_label_get_text (label), "Proxy DNS when using SOCKS v5"));
  gtk_info_bar_response (GTK_INFO_BAR (bar), GTK_RESPONSE_CLOSE);
  g_assert_false (gtk_widget_get_visible (bar));

  /* a second one is marked too, but the bar does not come back */
  g_io_stream_close (G_IO_STREAM (c.conn), NULL, NULL);
  g_clear_object (&c.conn);
  memset (&c, 0, sizeof c);
  c.proxy_port = bound_port ();
  c.target_port = g_socket_listener_add_any_inet_port (G_SOCKET_LISTENER (echo), NULL, NULL);
  g_assert_cmpuint (c.target_port, !=, 0);
  run_client (&c);
  g_assert_true (c.ok);
  g_free (target);
  target = g_strdup_printf ("127.0.0.1:%u", c.target_port);
  w = (LeakWait) { model, target, 0, 0 };
  g_assert_true (exg_test_poll_until (leak_rows_seen, &w, WAIT_MS));
  g_assert_false (gtk_widget_get_visible (bar));

  g_io_stream_close (G_IO_STREAM (c.conn), NULL, NULL);
  g_clear_object (&c.conn);
  g_socket_service_stop (echo);
  g_socket_listener_close (G_SOCKET_LISTENER (echo));
  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string (""));
  g_assert_true (exg_router_registry_remove (registry, "fr-loop"));
  exg_test_flush ();
}

/* ended, whether or not an exit was known when it failed */
static gboolean
row_ended (gpointer data)
{
  RowWait *w = data;
  GtkTreeIter iter;
  gboolean alive;

  if (!find_row (w->model, EXG_CONN_COL_TARGET, w->target, &iter))
    return FALSE;
  gtk_tree_model_get (w->model, &iter, EXG_CONN_COL_ALIVE, &alive, -1);
  return !alive;
}

static gboolean
row_refreshed_gone (gpointer data)
{
  RowWait *w = data;
  ExgConnectionsView *view = exg_ui_find_widget (GTK_WIDGET (window),
                                          "connections_view");

  exg_connections_view_refresh (view);
  return row_gone (w);
}

/* State 3: a failed connection says why (the reply in words, the exit,
 * the exit's own reason) and stays until dismissed or its time is up,
 * while a closed one goes after the short linger */
static void
test_connection_failed (void)
{
  ExgConnectionsView *view = exg_ui_find_widget (GTK_WIDGET (window),
                                          "connections_view");
  GtkTreeView *tree = exg_connections_view_get_tree_view (view);
  GtkTreeModel *model = GTK_TREE_MODEL (exg_connections_view_get_store (view));
  g_autoptr(GSocketListener) gone = g_socket_listener_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *target = NULL;
  g_autofree char *state = NULL;
  g_autofree char *detail = NULL;
  g_autoptr(GtkTreePath) path = NULL;
  Client c = { 0, };
  RowWait w;
  GtkTreeIter iter;
  gboolean alive = TRUE;

  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string ("SE"));
  exg_test_flush ();
  /* closed rows would go at once: the failed one must not */
  exg_connections_view_set_linger (view, 0);

  /* a port nobody listens on any more: the connect is refused */
  c.target_port = g_socket_listener_add_any_inet_port (gone, NULL, &error);
  g_assert_no_error (error);
  g_socket_listener_close (gone);
  c.proxy_port = bound_port ();
  run_client (&c);
  g_assert_true (c.ok);
  g_assert_cmpuint (c.reply[1], ==, 0x05);   /* connection refused */

  target = g_strdup_printf ("127.0.0.1:%u", c.target_port);
  w = (RowWait) { model, target, FALSE };
  g_assert_true (exg_test_poll_until (row_ended, &w, WAIT_MS));
  exg_connections_view_refresh (view);
  exg_connections_view_refresh (view);
  g_assert_true (find_row (model, EXG_CONN_COL_TARGET, target, &iter));
  gtk_tree_model_get (model, &iter, EXG_CONN_COL_STATE, &state,
                      EXG_CONN_COL_DETAIL, &detail,
                      EXG_CONN_COL_ALIVE, &alive, -1);
  g_assert_false (alive);
  g_assert_cmpstr (state, ==, "Failed: connection refused");
  g_assert_nonnull (strstr (detail, "The client was told: connection refused (SOCKS reply 5)"));
  /* the backend's own reason; the exit too when the model knows it (a
   * connect the registry retried over several routers names none) */
  g_assert_nonnull (strstr (detail, "\nReason: Connection refused"));

  /* the tooltip shows the whole of it */
  {
    GtkTooltip *tooltip = g_object_new (GTK_TYPE_TOOLTIP, NULL);
    gboolean shown = FALSE;

    path = gtk_tree_model_get_path (model, &iter);
    gtk_tree_view_set_cursor (tree, path, NULL, FALSE);
    g_signal_emit_by_name (tree, "query-tooltip", 0, 0, TRUE, tooltip, &shown);
    g_assert_true (shown);
    g_object_unref (tooltip);
  }

  /* dismissed: gone at once */
  gtk_tree_selection_select_iter (gtk_tree_view_get_selection (tree), &iter);
  g_action_group_activate_action (G_ACTION_GROUP (gtk_widget_get_action_group (GTK_WIDGET (view), "conn")),
                                  "dismiss", NULL);
  g_assert_false (find_row (model, EXG_CONN_COL_TARGET, target, &iter));

  /* not dismissed: it goes when its own (here short) time is up */
  exg_connections_view_set_failed_linger (view, 200);
  memset (&c, 0, sizeof c);
  c.proxy_port = bound_port ();
  {
    g_autoptr(GSocketListener) gone2 = g_socket_listener_new ();

    c.target_port = g_socket_listener_add_any_inet_port (gone2, NULL, &error);
    g_assert_no_error (error);
    g_socket_listener_close (gone2);
  }
  run_client (&c);
  g_assert_true (c.ok);
  g_assert_cmpuint (c.reply[1], ==, 0x05);
  g_clear_pointer (&target, g_free);
  target = g_strdup_printf ("127.0.0.1:%u", c.target_port);
  w = (RowWait) { model, target, FALSE };
  g_assert_true (exg_test_poll_until (row_ended, &w, WAIT_MS));
  g_assert_true (exg_test_poll_until (row_refreshed_gone, &w, WAIT_MS));
  exg_connections_view_set_failed_linger (view, 30000);
  exg_connections_view_set_linger (view, 3000);

  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string (""));
  exg_test_flush ();
}

static void
test_close_from_menu (void)
{
  ExgConnectionsView *view = exg_ui_find_widget (GTK_WIDGET (window),
                                          "connections_view");
  GtkTreeModel *model = GTK_TREE_MODEL (exg_connections_view_get_store (view));
  g_autoptr(GSocketService) echo = NULL;
  g_autofree char *target = NULL;
  Client c = { 0, };
  RowWait w;
  GtkTreeIter iter;
  guint64 id;
  char buf[4];
  gssize n;

  c.proxy_port = bound_port ();
  c.target_port = start_echo (&echo);
  run_client (&c);
  g_assert_true (c.ok);
  target = g_strdup_printf ("127.0.0.1:%u", c.target_port);
  w = (RowWait) { model, target, TRUE };
  g_assert_true (exg_test_poll_until (row_state, &w, WAIT_MS));
  g_assert_true (find_row (model, EXG_CONN_COL_TARGET, target, &iter));
  gtk_tree_model_get (model, &iter, EXG_CONN_COL_ID, &id, -1);

  /* the context menu's items: on the selected row */
  {
    GtkTreeView *tree = exg_connections_view_get_tree_view (view);
    GActionGroup *conn = gtk_widget_get_action_group (GTK_WIDGET (view), "conn");
    GtkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (view),
                                                        GDK_SELECTION_CLIPBOARD);
    g_autofree char *copied = NULL;

    g_assert_nonnull (conn);
    g_assert_true (gtk_tree_view_get_model (tree) == model);
    gtk_tree_selection_select_iter (gtk_tree_view_get_selection (tree), &iter);
    g_action_group_activate_action (conn, "copy-target", NULL);
    copied = gtk_clipboard_wait_for_text (clipboard);
    g_assert_cmpstr (copied, ==, target);
    g_action_group_activate_action (conn, "close", NULL);
    g_assert_cmpuint (id, >, 0);
  }
  w.want_alive = FALSE;
  g_assert_true (exg_test_poll_until (row_state, &w, WAIT_MS));
  /* the client sees the end (EOF or reset) */
  n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (c.conn)),
                           buf, sizeof buf, NULL, NULL);
  g_assert_cmpint (n, <=, 0);
  g_assert_true (exg_test_poll_until (row_gone, &w, WAIT_MS));
  g_clear_object (&c.conn);
  g_socket_service_stop (echo);
  g_socket_listener_close (G_SOCKET_LISTENER (echo));
}

static gboolean
lookup_listed (gpointer data)
{
  ExgLookupsView *view = data;
  GtkTreeIter iter;

  return find_row (GTK_TREE_MODEL (exg_lookups_view_get_store (view)),
                   EXG_LOOKUP_COL_QUERY,
                   "localhost", &iter);
}

static void
test_resolve_in_history (void)
{
  ExgLookupsView *view = exg_ui_find_widget (GTK_WIDGET (window), "lookups_view");
  GtkTreeModel *model = GTK_TREE_MODEL (exg_lookups_view_get_store (view));
  g_autofree char *answer = NULL;
  g_autofree char *exit = NULL;
  g_autofree char *kind = NULL;
  Client c = { 0, };
  GtkTreeIter iter;

  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string ("SE"));
  exg_test_flush ();
  c.proxy_port = bound_port ();
  c.name = "localhost";
  run_client (&c);
  g_assert_true (c.ok);
  g_assert_cmpuint (c.reply[1], ==, 0);
  g_clear_object (&c.conn);

  g_assert_true (exg_test_poll_until (lookup_listed, view, WAIT_MS));
  g_assert_true (find_row (model, EXG_LOOKUP_COL_QUERY, "localhost", &iter));
  gtk_tree_model_get (model, &iter, EXG_LOOKUP_COL_ANSWER, &answer,
                      EXG_LOOKUP_COL_EXIT, &exit,
                      EXG_LOOKUP_COL_KIND, &kind, -1);
  g_assert_true (strstr (answer,
                         "127.0.0.1") != NULL || strstr (answer,
                                                         "::1") != NULL);
  g_assert_nonnull (strstr (exit, "se-exit"));
  g_assert_cmpstr (kind, ==, "Name → address");

  /* Clear empties it, in the core as in the view */
  exg_activity_clear_lookups (exg_application_get_activity (app));
  exg_test_flush ();
  g_assert_cmpint (gtk_tree_model_iter_n_children (model, NULL), ==, 0);
  g_assert_cmpuint (exg_activity_get_lookups (exg_application_get_activity (app))->length, ==, 0);

  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string (""));
  exg_test_flush ();
}

static gboolean
can_connect (guint16 port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;

  g_socket_client_set_enable_proxy (client, FALSE);
  /* a refused or accepted connect needs no main loop: the kernel answers */
  conn = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL,
                                          NULL);
  return conn != NULL;
}

static void
test_switch_closes_port (void)
{
  GtkSwitch *proxy_switch = GTK_SWITCH (find_in_titlebar ("proxy_switch"));
  GtkLabel *address = GTK_LABEL (find_in_titlebar ("address_label"));
  guint16 port = bound_port ();

  g_assert_true (can_connect (port));

  gtk_switch_set_active (proxy_switch, FALSE);
  exg_test_flush ();
  g_assert_false (action_bool_state ("proxy-enabled"));
  g_assert_false (exg_server_get_listening (exg_application_get_server (app)));
  g_assert_null (exg_application_get_bound_address (app));
  g_assert_cmpstr (gtk_label_get_text (address), ==, "Proxy off");
  g_assert_false (can_connect (port));

  /* the same port again: listen-port holds it (see main) */
  gtk_switch_set_active (proxy_switch, TRUE);
  exg_test_flush ();
  g_assert_true (action_bool_state ("proxy-enabled"));
  g_assert_cmpuint (bound_port (), ==, port);
  g_assert_true (can_connect (port));
  g_assert_nonnull (strstr (gtk_label_get_text (address),
                            "Listening on 127.0.0.1:"));
}

static void
test_port_in_use (void)
{
  GtkInfoBar *info_bar = exg_ui_find_widget (GTK_WIDGET (window), "info_bar");
  GtkLabel *info_label = exg_ui_find_widget (GTK_WIDGET (window), "info_label");
  g_autoptr(GSettings) settings = g_settings_new (APPLICATION_ID);
  g_autoptr(GSocketListener) squatter = g_socket_listener_new ();
  g_autoptr(GError) error = NULL;
  guint16 old_port;
  guint16 taken;

  g_settings_get (settings, "listen-port", "q", &old_port);
  taken = g_socket_listener_add_any_inet_port (squatter, NULL, &error);
  g_assert_no_error (error);

  /* the app follows the setting, fails, and says so in the window */
  g_settings_set (settings, "listen-port", "q", (guint16) (taken));
  exg_test_flush ();
  g_assert_false (action_bool_state ("proxy-enabled"));
  g_assert_true (gtk_info_bar_get_revealed (info_bar));
  g_assert_nonnull (strstr (gtk_label_get_text (info_label),
                            "another program uses this port"));

  /* a free port clears it */
  g_settings_set (settings, "listen-port", "q", (guint16) (old_port));
  exg_test_flush ();
  g_assert_true (action_bool_state ("proxy-enabled"));
  g_assert_false (gtk_info_bar_get_revealed (info_bar));
  g_assert_cmpuint (bound_port (), ==, old_port);
}

/* State 1: with the port busy, turning the switch on must leave it off
 * beside "Proxy off" (GtkSwitch turns itself on before the action runs,
 * and a failed start leaves the action's state unchanged) */
static void
test_switch_busy_port (void)
{
  GtkSwitch *proxy_switch = GTK_SWITCH (find_in_titlebar ("proxy_switch"));
  GtkLabel *address = GTK_LABEL (find_in_titlebar ("address_label"));
  GtkInfoBar *info_bar = exg_ui_find_widget (GTK_WIDGET (window), "info_bar");
  g_autoptr(GSettings) settings = g_settings_new (APPLICATION_ID);
  g_autoptr(GSocketListener) squatter = g_socket_listener_new ();
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) taken_address = NULL;
  g_autoptr(GError) error = NULL;
  guint16 old_port;
  guint16 taken;

  g_settings_get (settings, "listen-port", "q", &old_port);
  /* a real listener on 127.0.0.1, where the app listens */
  g_socket_listener_add_address (squatter, any_port, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &taken_address,
                                 &error);
  g_assert_no_error (error);
  taken = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (taken_address));

  /* off first, then the busy port: nothing retries by itself */
  gtk_switch_set_active (proxy_switch, FALSE);
  exg_test_flush ();
  g_assert_false (action_bool_state ("proxy-enabled"));
  g_settings_set (settings, "listen-port", "q", taken);
  exg_test_flush ();
  g_assert_false (action_bool_state ("proxy-enabled"));

  /* a click, as the user does it (the switch's own activate) */
  gtk_widget_activate (GTK_WIDGET (proxy_switch));
  exg_test_flush ();
  g_assert_false (action_bool_state ("proxy-enabled"));
  g_assert_false (gtk_switch_get_active (proxy_switch));
  g_assert_false (gtk_switch_get_state (proxy_switch));
  g_assert_cmpstr (gtk_label_get_text (address), ==, "Proxy off");
  g_assert_true (gtk_info_bar_get_revealed (info_bar));

  /* and again: still off, never on for a moment afterwards */
  gtk_widget_activate (GTK_WIDGET (proxy_switch));
  exg_test_flush ();
  g_assert_false (gtk_switch_get_active (proxy_switch));

  /* the port freed, the switch works and follows */
  g_socket_listener_close (squatter);
  g_settings_set (settings, "listen-port", "q", old_port);
  exg_test_flush ();
  g_assert_true (action_bool_state ("proxy-enabled"));
  g_assert_true (gtk_switch_get_active (proxy_switch));
  g_assert_true (gtk_switch_get_state (proxy_switch));
  g_assert_cmpuint (bound_port (), ==, old_port);
  g_assert_false (gtk_info_bar_get_revealed (info_bar));
}

/* State 5: a message names its context once, and nothing is cut off
 * without its whole text somewhere (wrapping, or a tooltip) */
static void
test_messages_whole (void)
{
  g_autoptr(GSocketListener) squatter = g_socket_listener_new ();
  g_autoptr(ExgRouterRegistry) registry = exg_router_registry_new ();
  g_autoptr(ExgServer) server = exg_server_new (registry, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *address = NULL;
  g_autofree char *reason = NULL;
  g_autofree char *text = NULL;
  g_autofree char *long_error = NULL;
  ExgLookupsView *view = exg_ui_find_widget (GTK_WIDGET (window), "lookups_view");
  GtkTreeView *tree = exg_lookups_view_get_tree_view (view);
  GtkTreeModel *model;
  GtkTooltip *tooltip;
  GtkWidget *prefs;
  GtkLabel *test_label;
  gboolean shown = FALSE;
  guint16 taken;
  const char *p;
  guint count = 0;

  /* the core's real message for a busy port */
  taken = g_socket_listener_add_any_inet_port (squatter, NULL, &error);
  g_assert_no_error (error);
  address = g_strdup_printf ("127.0.0.1:%u", taken);
  g_assert_false (exg_server_listen_string (server, address, NULL, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, address));
  reason = exg_error_dup_reason (error->message);
  g_assert_null (strstr (reason, address));
  g_assert_cmpstr (reason, !=, "");
  text = g_strdup_printf ("Cannot listen on %s: %s", address, reason);
  for (p = strstr (text, address); p != NULL; p = strstr (p + 1, address))
    count++;
  g_assert_cmpuint (count, ==, 1);
  g_assert_true (g_str_has_suffix (error->message, reason));
  g_clear_pointer (&reason, g_free);
  reason = exg_error_dup_reason ("Refusing to listen on 0.0.0.0:1080, which is not a loopback address");
  g_assert_cmpstr (reason, ==, "Refusing to listen on 0.0.0.0:1080, which is not a loopback address");

  /* a lookup error far longer than its cell: the tooltip has all of it */
  long_error = g_strnfill (300, 'x');
  memcpy (long_error, "Name lookup failed: ", 20);
  exg_activity_add_lookup (exg_application_get_activity (app),
                           EXG_LOOKUP_FORWARD, "long.example", NULL,
                           long_error, NULL);
  exg_test_flush ();
  model = gtk_tree_view_get_model (tree);
  g_assert_cmpint (gtk_tree_model_iter_n_children (model, NULL), >, 0);
  {
    GtkTreeIter iter;
    g_autoptr(GtkTreePath) path = NULL;

    g_assert_true (find_row (model, EXG_LOOKUP_COL_QUERY, "long.example", &iter));
    path = gtk_tree_model_get_path (model, &iter);
    gtk_tree_view_set_cursor (tree, path, NULL, FALSE);
  }
  g_assert_true (gtk_widget_get_has_tooltip (GTK_WIDGET (tree)));
  tooltip = g_object_new (GTK_TYPE_TOOLTIP, NULL);
  g_signal_emit_by_name (tree, "query-tooltip", 0, 0, TRUE, tooltip, &shown);
  g_assert_true (shown);
  g_object_unref (tooltip);
  exg_activity_clear_lookups (exg_application_get_activity (app));
  exg_test_flush ();

  /* the status line is ellipsized: its tooltip holds the whole line */
  {
    GtkLabel *status = GTK_LABEL (find_in_titlebar ("status_label"));
    g_autofree char *tip = gtk_widget_get_tooltip_text (GTK_WIDGET (status));

    g_assert_nonnull (tip);
    g_assert_true (g_str_has_prefix (tip, gtk_label_get_text (status)));
  }

  /* the Test result wraps instead of being cut */
  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  exg_test_flush ();
  prefs = NULL;
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (app)); l != NULL; l = l->next)
    if (EXG_IS_PREFERENCES (l->data))
      prefs = l->data;
  g_assert_nonnull (prefs);
  test_label = exg_ui_find_widget (prefs, "test_label");
  g_assert_true (gtk_label_get_line_wrap (test_label));
  g_assert_cmpint (gtk_label_get_ellipsize (test_label), ==, PANGO_ELLIPSIZE_NONE);
  gtk_widget_destroy (prefs);
  exg_test_flush ();
}

static void
find_tree_cb (GtkWidget *widget,
              gpointer   user_data)
{
  GtkTreeView **out = user_data;

  if (*out != NULL)
    return;
  if (GTK_IS_TREE_VIEW (widget))
    *out = GTK_TREE_VIEW (widget);
  else if (GTK_IS_CONTAINER (widget))
    gtk_container_forall (GTK_CONTAINER (widget), find_tree_cb, out);
}

static GtkTreeView *
find_tree_view (GtkWidget *root)
{
  GtkTreeView *tree = NULL;

  gtk_container_forall (GTK_CONTAINER (root), find_tree_cb, &tree);
  g_assert_nonnull (tree);
  return tree;
}

static char *
cell_text (GtkTreeView  *tree,
           const char   *title,
           GtkTreeModel *model,
           GtkTreeIter  *iter)
{
  for (guint i = 0; i < gtk_tree_view_get_n_columns (tree); i++)
    {
      GtkTreeViewColumn *column = gtk_tree_view_get_column (tree, i);
      g_autoptr(GList) cells = NULL;
      char *text = NULL;

      if (g_strcmp0 (gtk_tree_view_column_get_title (column), title) != 0)
        continue;
      cells = gtk_cell_layout_get_cells (GTK_CELL_LAYOUT (column));
      gtk_tree_view_column_cell_set_cell_data (column, model, iter, FALSE, FALSE);
      g_object_get (cells->data, "text", &text, NULL);
      return text;
    }
  g_assert_not_reached ();
}

/* State 6: one family of bandwidth units, bytes and bits, everywhere; and
 * the line under the picker says what a minimum leaves out */
static void
test_bandwidth_units (void)
{
  GtkLabel *result = exg_ui_find_widget (GTK_WIDGET (window), "result_label");
  ExgRoutersView *routers = exg_ui_find_widget (GTK_WIDGET (window), "routers_view");
  GtkTreeModel *model = GTK_TREE_MODEL (exg_routers_view_get_store (routers));
  GtkTreeView *tree = find_tree_view (GTK_WIDGET (routers));
  g_autoptr(GSettings) settings = g_settings_new (APPLICATION_ID);
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  g_autofree char *text = NULL;
  g_autofree char *advertised = NULL;
  GtkWidget *dialog;
  GtkSpinButton *spin;
  GtkLabel *label;
  GtkTreeIter iter;

  text = exg_format_bandwidth (5e6);
  g_assert_cmpstr (text, ==, "5.0 MB/s (40 Mbit/s)");
  g_clear_pointer (&text, g_free);
  text = exg_format_bandwidth (125000);
  g_assert_cmpstr (text, ==, "125.0 kB/s (1 Mbit/s)");
  g_clear_pointer (&text, g_free);
  text = exg_format_bandwidth (1.5e9);
  g_assert_cmpstr (text, ==, "1.5 GB/s (12 Gbit/s)");

  /* the picker: 2 MB/s leaves the German exit (1 MB/s) out, and says so */
  g_settings_set_uint64 (settings, "min-bandwidth", 2000000);
  exg_test_flush ();
  g_assert_nonnull (strstr (gtk_label_get_text (result), "se-exit"));
  g_assert_nonnull (strstr (gtk_label_get_text (result), "5.0 MB/s (40 Mbit/s)"));
  g_assert_nonnull (strstr (gtk_label_get_text (result),
                            "\n1 router left out: it advertises less than 2.0 MB/s (16 Mbit/s), or nothing."));
  g_settings_set_uint64 (settings, "min-bandwidth", 0);
  exg_test_flush ();
  g_assert_null (strstr (gtk_label_get_text (result), "left out"));

  /* the Routers page */
  g_assert_true (find_row (model, EXG_ROUTER_COL_NAME, "de-exit", &iter));
  advertised = cell_text (tree, "Advertised", model, &iter);
  g_assert_cmpstr (advertised, ==, "1.0 MB/s");
  /* the bits too, where there is room: the row's tooltip */
  {
    g_autofree char *details = NULL;

    gtk_tree_model_get (model, &iter, EXG_ROUTER_COL_DETAILS, &details, -1);
    g_assert_nonnull (strstr (details, "\nAdvertised: 1.0 MB/s (8 Mbit/s)"));
  }

  /* the exit dialog: MB/s, with Mbit/s beside; a direct exit's address
   * is the source address */
  dialog = exg_exit_dialog_new (GTK_WINDOW (window), keyfile, NULL);
  spin = exg_ui_find_widget (dialog, "bandwidth_spin");
  label = exg_ui_find_widget (dialog, "bandwidth_label");
  gtk_spin_button_set_value (spin, 12.5);
  g_assert_cmpstr (gtk_label_get_text (label), ==, "12.5 MB/s (100 Mbit/s)");
  gtk_combo_box_set_active_id (GTK_COMBO_BOX (exg_ui_find_widget (dialog, "type_combo")),
                               "direct");
  g_assert_cmpstr (atk_object_get_name (gtk_widget_get_accessible (exg_ui_find_widget (dialog, "address_entry"))),
                   ==, "Source address");
  gtk_entry_set_text (GTK_ENTRY (exg_ui_find_widget (dialog, "name_entry")), "fast");
  {
    g_autoptr(GError) error = NULL;

    g_assert_true (exg_exit_dialog_save (EXG_EXIT_DIALOG (dialog), keyfile, &error));
    g_assert_no_error (error);
  }
  g_assert_cmpuint (g_key_file_get_uint64 (keyfile, "exit fast", "bandwidth", NULL),
                    ==, 12500000);
  gtk_widget_destroy (dialog);
}

/* Smaller things: Escape clears a filter, an empty table says why,
 * Ctrl+W closes, and the build tree's catalogues are found */
static void
test_keys_and_empty_states (void)
{
  ExgConnectionsView *conns = exg_ui_find_widget (GTK_WIDGET (window), "connections_view");
  ExgLookupsView *lookups = exg_ui_find_widget (GTK_WIDGET (window), "lookups_view");
  GtkEntry *search = exg_connections_view_get_search_entry (conns);
  GtkLabel *lookups_empty = exg_ui_find_widget (GTK_WIDGET (lookups), "lookups_empty_label");
  g_auto(GStrv) close = gtk_application_get_accels_for_action (GTK_APPLICATION (app),
                                                               "win.close");
  GtkLabel *conns_empty = NULL;
  GtkWidget *prefs = NULL;
  const char *old_language = g_getenv ("LANGUAGE");
  g_autofree char *saved_language = g_strdup (old_language);
  g_autofree char *saved_locale = g_strdup (setlocale (LC_MESSAGES, NULL));

  /* a filter that matches nothing says so; Escape clears it */
  gtk_stack_set_visible_child_name (GTK_STACK (exg_ui_find_widget (GTK_WIDGET (window), "stack")),
                                    "connections");
  gtk_widget_grab_focus (GTK_WIDGET (search));
  gtk_entry_set_text (search, "no-such-connection-at-all");
  g_signal_emit_by_name (search, "search-changed");
  exg_test_flush ();
  {
    /* the overlay's label: the only GtkLabel in the view besides headers */
    GtkWidget *overlay = gtk_widget_get_parent (gtk_widget_get_parent (GTK_WIDGET (exg_connections_view_get_tree_view (conns))));
    g_autoptr(GList) children = gtk_container_get_children (GTK_CONTAINER (overlay));

    for (GList *l = children; l != NULL; l = l->next)
      if (GTK_IS_LABEL (l->data))
        conns_empty = l->data;
  }
  g_assert_nonnull (conns_empty);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (conns_empty)));
  g_assert_cmpstr (gtk_label_get_text (conns_empty), ==,
                   "Nothing matches “no-such-connection-at-all”. Press Escape to show everything.");
  send_key (GTK_WIDGET (search), GDK_KEY_Escape);
  exg_test_flush ();
  g_assert_cmpstr (gtk_entry_get_text (search), ==, "");

  /* no lookups: said, not a blank table */
  exg_activity_clear_lookups (exg_application_get_activity (app));
  exg_test_flush ();
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (lookups_empty)));
  g_assert_true (g_str_has_prefix (gtk_label_get_text (lookups_empty),
                                   "No name lookups yet."));
  exg_activity_add_lookup (exg_application_get_activity (app),
                           EXG_LOOKUP_FORWARD, "one.example", "127.0.0.1",
                           NULL, NULL);
  exg_test_flush ();
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (lookups_empty)));
  exg_activity_clear_lookups (exg_application_get_activity (app));
  exg_test_flush ();

  /* Ctrl+W: the window's close action, and the Preferences dialog */
  g_assert_nonnull (close);
  g_assert_cmpstr (close[0], ==, "<Primary>w");
  g_assert_true (g_action_group_has_action (G_ACTION_GROUP (window), "close"));
  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  exg_test_flush ();
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (app)); l != NULL; l = l->next)
    if (EXG_IS_PREFERENCES (l->data))
      prefs = l->data;
  g_assert_nonnull (prefs);
  g_assert_true (gtk_accel_groups_activate (G_OBJECT (prefs), GDK_KEY_w,
                                            GDK_CONTROL_MASK));
  exg_test_flush ();
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (app)); l != NULL; l = l->next)
    g_assert_false (EXG_IS_PREFERENCES (l->data));

  /* run from the build tree, the catalogues built there are used */
  g_assert_nonnull (setlocale (LC_MESSAGES, "C.UTF-8"));
  g_setenv ("LANGUAGE", "sv", TRUE);
  g_assert_cmpstr (g_dgettext (GETTEXT_PACKAGE, "Exit country"), ==, "Utgångsland");
  g_setenv ("LANGUAGE", "de", TRUE);
  g_assert_cmpstr (g_dgettext (GETTEXT_PACKAGE, "Up"), ==, "Gesendet");
  if (saved_language != NULL)
    g_setenv ("LANGUAGE", saved_language, TRUE);
  else
    g_unsetenv ("LANGUAGE");
  setlocale (LC_MESSAGES, saved_locale);
}

/* Layout at 800×600 */

static gboolean
allocated_width_is (gpointer data)
{
  gpointer *args = data;

  return gtk_widget_get_allocated_width (args[0]) == GPOINTER_TO_INT (args[1]);
}

/* The text @column's first text cell needs for the row at @iter */
static int
cell_text_width (GtkTreeView       *tree_view,
                 GtkTreeViewColumn *column,
                 GtkTreeIter       *iter)
{
  g_autoptr(GList) cells = gtk_cell_layout_get_cells (GTK_CELL_LAYOUT (column));
  int width = 0;

  gtk_tree_view_column_cell_set_cell_data (column, gtk_tree_view_get_model (tree_view),
                                           iter, FALSE, FALSE);
  for (GList *l = cells; l != NULL; l = l->next)
    if (GTK_IS_CELL_RENDERER_TEXT (l->data))
      {
        g_object_set (l->data, "ellipsize", PANGO_ELLIPSIZE_NONE, NULL);
        gtk_cell_renderer_get_preferred_width (l->data, GTK_WIDGET (tree_view), NULL, &width);
        g_object_set (l->data, "ellipsize", PANGO_ELLIPSIZE_END, NULL);
        break;
      }
  return width;
}

/* Every column of @tree_view shows its whole title, and together they fit
 * the view: nothing is scrolled out of sight sideways */
static void
assert_columns_fit (GtkTreeView *tree_view,
                    const char  *what)
{
  g_autoptr(GList) columns = gtk_tree_view_get_columns (tree_view);
  int view_width = gtk_widget_get_allocated_width (GTK_WIDGET (tree_view));
  int sum = 0;

  g_assert_cmpint (view_width, >, 0);
  for (GList *l = columns; l != NULL; l = l->next)
    {
      GtkTreeViewColumn *column = l->data;
      GtkWidget *button = gtk_tree_view_column_get_button (column);
      int title = 0;

      if (!gtk_tree_view_column_get_visible (column))
        continue;
      gtk_widget_get_preferred_width (button, NULL, &title);
      if (title > gtk_tree_view_column_get_width (column))
        g_error ("%s: the title “%s” needs %d px, its column has %d", what,
                 gtk_tree_view_column_get_title (column), title,
                 gtk_tree_view_column_get_width (column));
      sum += gtk_tree_view_column_get_width (column);
      g_test_message ("%s: “%s” %d px (title %d)", what,
                      gtk_tree_view_column_get_title (column),
                      gtk_tree_view_column_get_width (column), title);
    }
  g_test_message ("%s: %d of %d px", what, sum, view_width);
  if (sum > view_width)
    g_error ("%s: the columns need %d px, the view has %d", what, sum, view_width);
}

/* @column's cells of every row show their whole text */
static void
assert_cells_whole (GtkTreeView *tree_view,
                    int          column_index,
                    const char  *what)
{
  GtkTreeViewColumn *column = gtk_tree_view_get_column (tree_view, column_index);
  GtkTreeModel *model = gtk_tree_view_get_model (tree_view);
  GtkTreeIter iter;
  gboolean valid;
  guint n = 0;

  for (valid = gtk_tree_model_get_iter_first (model, &iter); valid;
       valid = gtk_tree_model_iter_next (model, &iter), n++)
    {
      int need = cell_text_width (tree_view, column, &iter);

      if (need > gtk_tree_view_column_get_width (column))
        g_error ("%s: a “%s” cell needs %d px, its column has %d", what,
                 gtk_tree_view_column_get_title (column), need,
                 gtk_tree_view_column_get_width (column));
    }
  g_assert_cmpuint (n, >, 0);
}

/* Whether hovering @column's cell in the row of @target shows a tooltip */
static gboolean
tooltip_at (GtkTreeView *tree_view,
            int          column_index,
            const char  *target)
{
  GtkTreeModel *model = gtk_tree_view_get_model (tree_view);
  g_autoptr(GtkTreePath) path = NULL;
  GtkTooltip *tooltip = g_object_new (GTK_TYPE_TOOLTIP, NULL);
  GdkRectangle area;
  GtkTreeIter iter;
  gboolean shown = FALSE;
  int x, y;

  g_assert_true (find_row (model, EXG_CONN_COL_TARGET, target, &iter));
  path = gtk_tree_model_get_path (model, &iter);
  gtk_tree_view_get_cell_area (tree_view, path, gtk_tree_view_get_column (tree_view, column_index),
                               &area);
  gtk_tree_view_convert_bin_window_to_widget_coords (tree_view, area.x + area.width / 2,
                                                     area.y + area.height / 2, &x, &y);
  g_signal_emit_by_name (tree_view, "query-tooltip", x, y, FALSE, tooltip, &shown);
  g_object_unref (tooltip);
  return shown;
}

/* A cell cut with "…" shows its whole text in a tooltip; a whole one, in
 * a row with nothing more to say, shows none */
static void
check_cut_cell_tooltip (ExgConnectionsView *view)
{
  ExgActivity *activity = exg_application_get_activity (app);
  GtkTreeView *tree_view = exg_connections_view_get_tree_view (view);
  const char *target = "a-rather-long-host-name-that-no-column-shows-whole.example.org:443";
  ExgConnInfo *info = exg_activity_add_connection (activity, "127.0.0.1:41002");

  info->target = g_strdup (target);
  info->state = EXG_CONN_STATE_OPEN;
  exg_activity_connection_changed (activity, info);
  exg_connections_view_refresh (view);
  gtk_test_widget_wait_for_draw (GTK_WIDGET (tree_view));
  g_assert_true (tooltip_at (tree_view, 1, target));      /* Target: cut */
  g_assert_false (tooltip_at (tree_view, 0, target));     /* Client: whole */
  exg_activity_remove_connection (activity, info);
  exg_connections_view_refresh (view);
}

static void
show_page (ExgWindow  *win,
           const char *page)
{
  GtkWidget *view;

  gtk_stack_set_visible_child_name (GTK_STACK (exg_ui_find_widget (GTK_WIDGET (win), "stack")), page);
  view = exg_ui_find_widget (GTK_WIDGET (win), g_str_equal (page, "connections") ? "connections_view"
                                        : g_str_equal (page, "lookups") ? "lookups_view"
                                        : "routers_view");
  g_assert_true (exg_test_poll_until ((gboolean (*) (gpointer)) gtk_widget_get_mapped, view, WAIT_MS));
  gtk_test_widget_wait_for_draw (GTK_WIDGET (win));
  exg_test_flush ();
}

static gboolean
proxy_listening (gpointer data)
{
  return exg_application_get_bound_address (app) != NULL;
}

/* A new window in @language at 800×600, with a live connection, a lookup
 * and the routers: no column cut, every title whole, the client and exit
 * of the connection whole, and the window and Preferences fit. */
static void
check_800x600 (const char *language)
{
  g_autoptr(GSocketService) echo = NULL;
  ExgWindow *win;
  ExgConnectionsView *conns;
  GtkWidget *prefs;
  gpointer args[2];
  Client c = { 0, };
  RowWait w;
  g_autofree char *target = NULL;
  int min_width, min_height;

  g_setenv ("LANGUAGE", language, TRUE);
  /* gettext caches what it found: setting the domain again drops that */
  textdomain (textdomain (NULL));
  if (g_str_equal (language, "en"))
    g_assert_cmpstr (g_dgettext (GETTEXT_PACKAGE, "Exit country"), ==, "Exit country");
  else
    g_assert_cmpstr (g_dgettext (GETTEXT_PACKAGE, "Exit country"), !=, "Exit country");

  win = exg_window_new (app);
  gtk_window_resize (GTK_WINDOW (win), 800, 600);
  gtk_widget_show (GTK_WIDGET (win));
  args[0] = win;
  args[1] = GINT_TO_POINTER (800);
  g_assert_true (exg_test_poll_until ((gboolean (*) (gpointer)) gtk_widget_get_mapped, win, WAIT_MS));
  exg_test_flush ();
  {
    /* 800×600 on the screen, the header bar and the decoration's borders
     * included (the size asked for is the content's) */
    int width, height;

    gtk_window_get_size (GTK_WINDOW (win), &width, &height);
    gtk_window_resize (GTK_WINDOW (win),
                       800 - (gtk_widget_get_allocated_width (GTK_WIDGET (win)) - width),
                       600 - (gtk_widget_get_allocated_height (GTK_WIDGET (win)) - height));
  }
  /* the window fits: it can be made that small, and is */
  gtk_widget_get_preferred_width (GTK_WIDGET (win), &min_width, NULL);
  gtk_widget_get_preferred_height_for_width (GTK_WIDGET (win), 800, &min_height, NULL);
  g_assert_cmpint (min_width, <=, 800);
  g_assert_cmpint (min_height, <=, 600);
  g_assert_true (exg_test_poll_until (allocated_width_is, args, WAIT_MS));
  g_assert_cmpint (gtk_widget_get_allocated_height (GTK_WIDGET (win)), ==, 600);

  /* a live connection through the German exit, and a lookup (the proxy
   * may still be coming back from an earlier test's port change) */
  g_assert_true (exg_test_poll_until (proxy_listening, NULL, WAIT_MS));
  connect_through ("DE", &c, &echo);
  exg_activity_add_lookup (exg_application_get_activity (app), EXG_LOOKUP_FORWARD,
                           "www.example.org", "192.0.2.1", NULL, NULL);

  show_page (win, "connections");
  conns = exg_ui_find_widget (GTK_WIDGET (win), "connections_view");
  target = g_strdup_printf ("127.0.0.1:%u", c.target_port);
  w = (RowWait) { GTK_TREE_MODEL (exg_connections_view_get_store (conns)), target, TRUE };
  g_assert_true (exg_test_poll_until (row_state, &w, WAIT_MS));
  exg_connections_view_refresh (conns);
  exg_test_flush ();
  assert_columns_fit (exg_connections_view_get_tree_view (conns), "Connections");
  assert_cells_whole (exg_connections_view_get_tree_view (conns), 0, "Connections");
  assert_cells_whole (exg_connections_view_get_tree_view (conns), 2, "Connections");
  if (g_str_equal (language, "sv"))
    check_cut_cell_tooltip (conns);

  show_page (win, "lookups");
  assert_columns_fit (exg_lookups_view_get_tree_view (exg_ui_find_widget (GTK_WIDGET (win), "lookups_view")),
                      "Name Lookups");
  show_page (win, "routers");
  {
    GtkTreeView *routers = exg_routers_view_get_tree_view (exg_ui_find_widget (GTK_WIDGET (win),
                                                                               "routers_view"));

    assert_columns_fit (routers, "Routers");
    assert_cells_whole (routers, 0, "Routers");     /* name */
    assert_cells_whole (routers, 8, "Routers");     /* state */
  }

  /* Preferences fit in 800×600 too */
  prefs = exg_preferences_new (app, GTK_WINDOW (win));
  gtk_widget_show (prefs);
  exg_test_flush ();
  gtk_widget_get_preferred_width (prefs, &min_width, NULL);
  gtk_widget_get_preferred_height (prefs, &min_height, NULL);
  g_assert_cmpint (min_width, <=, 800);
  g_assert_cmpint (min_height, <=, 600);
  gtk_widget_destroy (prefs);

  g_io_stream_close (G_IO_STREAM (c.conn), NULL, NULL);
  g_clear_object (&c.conn);
  g_socket_service_stop (echo);
  g_socket_listener_close (G_SOCKET_LISTENER (echo));
  exg_activity_clear_lookups (exg_application_get_activity (app));
  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string (""));
  gtk_widget_destroy (GTK_WIDGET (win));
  exg_test_flush ();
}

static void
test_800x600_translated (void)
{
  g_autofree char *saved_language = g_strdup (g_getenv ("LANGUAGE"));
  g_autofree char *saved_locale = g_strdup (setlocale (LC_MESSAGES, NULL));

  g_assert_nonnull (setlocale (LC_MESSAGES, "C.UTF-8"));
  check_800x600 ("sv");
  check_800x600 ("de");
  check_800x600 ("en");

  if (saved_language != NULL)
    g_setenv ("LANGUAGE", saved_language, TRUE);
  else
    g_unsetenv ("LANGUAGE");
  setlocale (LC_MESSAGES, saved_locale);
  textdomain (textdomain (NULL));
}

static gboolean
store_empty (gpointer data)
{
  ExgConnectionsView *view = data;

  exg_connections_view_refresh (view);
  return gtk_tree_model_iter_n_children (GTK_TREE_MODEL (exg_connections_view_get_store (view)), NULL) == 0;
}

static void
count_cb (GtkTreeModel *model,
          GtkTreePath  *path,
          GtkTreeIter  *iter,
          guint        *count)
{
  (*count)++;
}

static gboolean
view_filtered (gpointer data)
{
  return GTK_IS_TREE_MODEL_FILTER (gtk_tree_view_get_model (data));
}

static gboolean
view_unfiltered (gpointer data)
{
  return GTK_IS_LIST_STORE (gtk_tree_view_get_model (data));
}

static gboolean
one_row_shown (gpointer data)
{
  return gtk_tree_model_iter_n_children (gtk_tree_view_get_model (data),
                                         NULL) == 1;
}

static void
new_circuit_cb (ExgConnectionsView *view,
                const char         *fingerprint,
                const char         *isolation,
                GStrv              *got)
{
  g_strfreev (*got);
  *got = g_strdupv ((char *[]) { (char *) fingerprint, (char *) isolation, NULL });
}

/* A tor connection: its circuit in the tooltip, each hop with its flag,
 * and "New Circuit" for its exit and isolation key; another exit's row
 * has no such item */
static void
test_connection_circuit (void)
{
  static const char fp[] = "0123456789ABCDEF0123456789ABCDEF01234567";
  ExgConnectionsView *view = exg_ui_find_widget (GTK_WIDGET (window),
                                          "connections_view");
  GtkTreeView *tree = exg_connections_view_get_tree_view (view);
  GtkTreeModel *model = GTK_TREE_MODEL (exg_connections_view_get_store (view));
  GActionGroup *actions = gtk_widget_get_action_group (GTK_WIDGET (view), "conn");
  ExgActivity *activity = exg_application_get_activity (app);
  g_autofree char *de = exg_country_dup_flag ("DE");
  g_autofree char *se = exg_country_dup_flag ("SE");
  g_autofree char *want = NULL;
  g_autofree char *detail = NULL;
  g_auto(GStrv) got = NULL;
  ExgConnInfo *tor_info, *direct_info;
  GtkTreeIter iter;
  gulong handler;

  exg_connections_view_set_linger (view, 0);
  g_assert_true (exg_test_poll_until (store_empty, view, WAIT_MS));

  tor_info = exg_activity_add_connection (activity, "127.0.0.1:41000");
  tor_info->target = g_strdup ("circuit.example:443");
  tor_info->exit_id = g_strconcat ("tor:", fp, NULL);
  tor_info->exit_name = g_strdup ("exit3");
  tor_info->circuit = g_strdup ("guard1 (DE) → middle2 (SE) → exit3");
  tor_info->isolation = g_strdup ("127.0.0.1 alice");
  tor_info->state = EXG_CONN_STATE_OPEN;
  exg_activity_connection_changed (activity, tor_info);
  direct_info = exg_activity_add_connection (activity, "127.0.0.1:41001");
  direct_info->target = g_strdup ("direct.example:443");
  direct_info->exit_id = g_strdup ("direct");
  direct_info->exit_name = g_strdup ("Direct");
  direct_info->state = EXG_CONN_STATE_OPEN;
  exg_activity_connection_changed (activity, direct_info);
  exg_test_flush ();
  exg_connections_view_refresh (view);

  g_assert_true (find_row (model, EXG_CONN_COL_TARGET, "circuit.example:443", &iter));
  gtk_tree_model_get (model, &iter, EXG_CONN_COL_DETAIL, &detail, -1);
  want = g_strdup_printf ("Circuit: guard1 (%s DE) → middle2 (%s SE) → exit3", de, se);
  g_assert_cmpstr (detail, ==, want);

  handler = g_signal_connect (view, "new-circuit", G_CALLBACK (new_circuit_cb), &got);
  gtk_tree_selection_select_iter (gtk_tree_view_get_selection (tree), &iter);
  g_assert_true (g_action_group_get_action_enabled (actions, "new-circuit"));
  g_action_group_activate_action (actions, "new-circuit", NULL);
  g_assert_nonnull (got);
  g_assert_cmpstr (got[0], ==, fp);
  g_assert_cmpstr (got[1], ==, "127.0.0.1 alice");

  g_assert_true (find_row (model, EXG_CONN_COL_TARGET, "direct.example:443", &iter));
  g_clear_pointer (&detail, g_free);
  gtk_tree_model_get (model, &iter, EXG_CONN_COL_DETAIL, &detail, -1);
  g_assert_null (detail);
  gtk_tree_selection_select_iter (gtk_tree_view_get_selection (tree), &iter);
  g_assert_false (g_action_group_get_action_enabled (actions, "new-circuit"));
  g_signal_handler_disconnect (view, handler);

  exg_activity_remove_connection (activity, tor_info);
  exg_activity_remove_connection (activity, direct_info);
  exg_test_flush ();
  g_assert_true (exg_test_poll_until (store_empty, view, WAIT_MS));
  exg_connections_view_set_linger (view, 3000);
}

/* 10,000 connections with traffic on every one: a tick, drawing included,
 * must end within its one-second period, on a loaded 2-core machine too
 * (typically 30-100 ms here); the view sets only changed cells */
static void
test_ten_thousand_connections (void)
{
  ExgConnectionsView *view = exg_ui_find_widget (GTK_WIDGET (window),
                                          "connections_view");
  GtkTreeModel *model = GTK_TREE_MODEL (exg_connections_view_get_store (view));
  ExgActivity *activity = exg_application_get_activity (app);
  g_autoptr(GPtrArray) infos = g_ptr_array_new ();
  gint64 start, add_us, tick_us, idle_tick_us;
  const guint n = 10000;
  guint row_changes = 0;
  gulong changed_id;

  exg_connections_view_set_linger (view, 0);
  /* earlier tests' connections (the switch test's probes) go first */
  g_assert_true (exg_test_poll_until (store_empty, view, WAIT_MS));
  gtk_stack_set_visible_child_name (GTK_STACK (exg_ui_find_widget (GTK_WIDGET (window),
                                                            "stack")), "connections");

  start = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *client = g_strdup_printf ("127.0.0.1:%u", 10000 + i);
      ExgConnInfo *info = exg_activity_add_connection (activity, client);

      info->target = g_strdup_printf ("host%u.example:443", i);
      info->state = EXG_CONN_STATE_OPEN;
      exg_activity_connection_changed (activity, info);
      g_ptr_array_add (infos, info);
    }
  exg_test_flush ();
  gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
  add_us = g_get_monotonic_time () - start;
  g_assert_cmpint (gtk_tree_model_iter_n_children (model, NULL), ==, n);

  for (guint i = 0; i < n; i++)
    exg_activity_add_bytes (activity, g_ptr_array_index (infos, i), 1000 + i,
                            2000 + i);
  changed_id = g_signal_connect (model, "row-changed", G_CALLBACK (count_cb),
                                 &row_changes);
  start = g_get_monotonic_time ();
  exg_connections_view_refresh (view);
  /* counted before drawing: the view's own once-a-second tick may come
   * while the frame is drawn, and update every rate again */
  g_signal_handler_disconnect (model, changed_id);
  gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
  tick_us = g_get_monotonic_time () - start;
  /* one store update per row, all changed cells at once */
  g_assert_cmpuint (row_changes, ==, n);

  /* nothing changed: nearly free */
  start = g_get_monotonic_time ();
  exg_connections_view_refresh (view);
  idle_tick_us = g_get_monotonic_time () - start;

  g_test_message ("10000 connections: added and drawn in %" G_GINT64_FORMAT " ms, "
                  "tick with traffic on all %" G_GINT64_FORMAT " ms, idle tick %" G_GINT64_FORMAT " ms",
                  add_us / 1000, tick_us / 1000, idle_tick_us / 1000);
  g_assert_cmpint (tick_us, <, G_USEC_PER_SEC);

  /* sorted by a column that changes on every tick, and filtered */
  {
    GtkTreeView *tree = exg_connections_view_get_tree_view (view);
    GtkTreeViewColumn *rate = gtk_tree_view_get_column (tree, 6);
    GtkTreeModel *shown;
    GtkTreeIter first;
    double top_rate = 0;
    int sort_column;
    GtkSortType order;

    g_assert_cmpstr (gtk_tree_view_column_get_title (rate), ==, "Rate");
    gtk_tree_view_column_clicked (rate);
    gtk_tree_view_column_clicked (rate);       /* descending */
    g_assert_true (gtk_tree_sortable_get_sort_column_id (GTK_TREE_SORTABLE (model), &sort_column, &order));
    g_assert_cmpint (sort_column, ==, EXG_CONN_COL_RATE);
    g_assert_cmpint (order, ==, GTK_SORT_DESCENDING);

    /* GtkSearchEntry reports a change after a short pause */
    gtk_entry_set_text (exg_connections_view_get_search_entry (view),
                        "example");
    g_assert_true (exg_test_poll_until (view_filtered, tree, WAIT_MS));
    for (guint i = 0; i < n; i++)
      exg_activity_add_bytes (activity, g_ptr_array_index (infos, i), i, i);
    start = g_get_monotonic_time ();
    exg_connections_view_refresh (view);

    /* the view shows the filter, in the store's (rate) order; checked
     * before the loop runs again (the view's own tick may come in the
     * draw, and a second tick with no traffic shows rate 0) */
    shown = gtk_tree_view_get_model (tree);
    g_assert_true (shown != model);
    g_assert_cmpint (gtk_tree_model_iter_n_children (shown, NULL), ==, n);
    g_assert_true (gtk_tree_model_get_iter_first (shown, &first));
    gtk_tree_model_get (shown, &first, EXG_CONN_COL_RATE, &top_rate, -1);
    g_assert_cmpfloat (top_rate, >, 0);
    {
      g_autofree char *client = NULL;

      /* the last connection moved the most bytes this tick */
      gtk_tree_model_get (shown, &first, EXG_CONN_COL_CLIENT, &client, -1);
      g_assert_cmpstr (client, ==, "127.0.0.1:19999");
    }

    gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
    tick_us = g_get_monotonic_time () - start;
    g_test_message ("sorted by rate and filtered: tick %" G_GINT64_FORMAT " ms",
                    tick_us / 1000);
    g_assert_cmpint (tick_us, <, G_USEC_PER_SEC);

    gtk_entry_set_text (exg_connections_view_get_search_entry (view),
                        "host42.example");
    g_assert_true (exg_test_poll_until (one_row_shown, tree, WAIT_MS));
    gtk_entry_set_text (exg_connections_view_get_search_entry (view), "");
    g_assert_true (exg_test_poll_until (view_unfiltered, tree, WAIT_MS));
  }

  for (guint i = 0; i < n; i++)
    exg_activity_remove_connection (activity, g_ptr_array_index (infos, i));
  exg_test_flush ();
  exg_connections_view_refresh (view);
  g_assert_cmpint (gtk_tree_model_iter_n_children (model, NULL), ==, 0);
  exg_connections_view_set_linger (view, 3000);
}

static void
test_shortcuts (void)
{
  GtkApplication *gapp = GTK_APPLICATION (app);
  g_auto(GStrv) quit = gtk_application_get_accels_for_action (gapp, "app.quit");
  g_auto(GStrv) prefs = gtk_application_get_accels_for_action (gapp, "app.preferences");
  g_auto(GStrv) search = gtk_application_get_accels_for_action (gapp, "win.search");
  GtkWidget *entry;

  g_assert_cmpstr (quit[0], ==, "<Primary>q");
  g_assert_cmpstr (prefs[0], ==, "<Primary>comma");
  g_assert_cmpstr (search[0], ==, "<Primary>f");
  /* the shortcuts window from gtk/help-overlay.ui */
  g_assert_true (g_action_group_has_action (G_ACTION_GROUP (window),
                                            "show-help-overlay"));
  g_assert_nonnull (gtk_application_window_get_help_overlay (GTK_APPLICATION_WINDOW (window)));

  /* Ctrl+F: the current table's search entry */
  gtk_window_present (GTK_WINDOW (window));
  g_action_group_activate_action (G_ACTION_GROUP (window), "search", NULL);
  exg_test_flush ();
  entry = GTK_WIDGET (exg_connections_view_get_search_entry (exg_ui_find_widget (GTK_WIDGET (window), "connections_view")));
  g_assert_true (gtk_widget_is_focus (entry));
}

static gpointer
find_toplevel (GType type)
{
  g_autoptr(GList) toplevels = gtk_window_list_toplevels ();

  for (GList *l = toplevels; l != NULL; l = l->next)
    if (G_TYPE_CHECK_INSTANCE_TYPE (l->data,
                                    type) && gtk_widget_get_visible (l->data))
      return l->data;
  return NULL;
}

static gboolean
select_exit (GtkTreeView *view,
             const char  *name)
{
  GtkTreeIter iter;

  if (!find_row (gtk_tree_view_get_model (view), 0, name, &iter))
    return FALSE;
  gtk_tree_selection_select_iter (gtk_tree_view_get_selection (view), &iter);
  return TRUE;
}

static gboolean
test_label_done (gpointer data)
{
  return strstr (gtk_label_get_text (data), "works") != NULL
         || strstr (gtk_label_get_text (data), "does not work") != NULL;
}

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
test_preferences_exits (void)
{
  ExgRouterRegistry *registry = exg_application_get_registry (app);
  g_autoptr(GKeyFile) written = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *type = NULL;
  g_autofree char *source = NULL;
  GtkWidget *prefs, *dialog;
  GtkTreeView *exits_view;
  GtkLabel *test_label;

  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  exg_test_flush ();
  prefs = find_toplevel (EXG_TYPE_PREFERENCES);
  g_assert_nonnull (prefs);
  exits_view = exg_ui_find_widget (prefs, "exits_view");
  g_assert_cmpint (gtk_tree_model_iter_n_children (gtk_tree_view_get_model (exits_view), NULL), ==, 2);

  /* add a third exit in France */
  gtk_button_clicked (exg_ui_find_widget (prefs, "add_button"));
  exg_test_flush ();
  dialog = find_toplevel (EXG_TYPE_EXIT_DIALOG);
  g_assert_nonnull (dialog);
  gtk_entry_set_text (exg_ui_find_widget (dialog, "name_entry"), "fr-exit");
  gtk_combo_box_set_active_id (exg_ui_find_widget (dialog, "type_combo"), "direct");
  gtk_entry_set_text (exg_ui_find_widget (dialog, "address_entry"), "127.0.0.4");
  /* a country by its name: a name no country has is refused first */
  gtk_entry_set_text (exg_ui_find_widget (dialog, "country_entry"), "Narnia");
  gtk_dialog_response (GTK_DIALOG (dialog), GTK_RESPONSE_OK);
  exg_test_flush ();
  g_assert_true (find_toplevel (EXG_TYPE_EXIT_DIALOG) == dialog);
  gtk_entry_set_text (exg_ui_find_widget (dialog, "country_entry"), " France ");
  gtk_dialog_response (GTK_DIALOG (dialog), GTK_RESPONSE_OK);
  exg_test_flush ();
  g_assert_null (find_toplevel (EXG_TYPE_EXIT_DIALOG));

  /* written to the daemon's key file, and live */
  g_key_file_load_from_file (written, exg_application_get_config_path (app), 0,
                             &error);
  g_assert_no_error (error);
  type = g_key_file_get_string (written, "exit fr-exit", "type", NULL);
  source = g_key_file_get_string (written, "exit fr-exit", "source-address",
                                  NULL);
  g_assert_cmpstr (type, ==, "direct");
  g_assert_cmpstr (source, ==, "127.0.0.4");
  {
    g_autofree char *country = g_key_file_get_string (written, "exit fr-exit",
                                                      "country", NULL);

    /* kept as the code the daemon reads */
    g_assert_cmpstr (country, ==, "FR");
  }
  g_assert_nonnull (exg_router_registry_lookup (registry, "fr-exit"));
  g_assert_cmpstr (exg_router_get_country (exg_router_registry_lookup (registry, "fr-exit")), ==, "FR");
  g_assert_cmpint (gtk_tree_model_iter_n_children (gtk_tree_view_get_model (exits_view), NULL), ==, 3);
  g_assert_true (gtk_combo_box_set_active_id (exg_ui_find_widget (GTK_WIDGET (window),
                                                           "country_combo"), "FR"));
  exg_test_flush ();

  /* a bad entry is refused, with the reason in the dialog */
  gtk_button_clicked (exg_ui_find_widget (prefs, "add_button"));
  exg_test_flush ();
  dialog = find_toplevel (EXG_TYPE_EXIT_DIALOG);
  gtk_entry_set_text (exg_ui_find_widget (dialog, "name_entry"), "se-exit");
  gtk_dialog_response (GTK_DIALOG (dialog), GTK_RESPONSE_OK);
  exg_test_flush ();
  g_assert_true (find_toplevel (EXG_TYPE_EXIT_DIALOG) == dialog);
  gtk_dialog_response (GTK_DIALOG (dialog), GTK_RESPONSE_CANCEL);
  exg_test_flush ();
  g_assert_null (find_toplevel (EXG_TYPE_EXIT_DIALOG));

  /* test an exit: it works, with a latency and its country */
  test_label = exg_ui_find_widget (prefs, "test_label");
  g_assert_true (select_exit (exits_view, "fr-exit"));
  gtk_button_clicked (exg_ui_find_widget (prefs, "test_button"));
  g_assert_true (exg_test_poll_until (test_label_done, test_label, WAIT_MS));
  g_assert_nonnull (strstr (gtk_label_get_text (test_label),
                            "fr-exit works: "));
  g_assert_nonnull (strstr (gtk_label_get_text (test_label), " ms, "));
  g_assert_nonnull (strstr (gtk_label_get_text (test_label), "France"));
  g_assert_nonnull (strstr (gtk_label_get_text (test_label),
                            "no traffic observed yet"));

  /* and the throughput its connections were seen to carry: the router
   * folds bytes into its rate once a second has passed */
  {
    ExgRouter *fr = exg_router_registry_lookup (registry, "fr-exit");
    g_autofree char *rate = NULL;
    gboolean passed = FALSE;

    exg_router_record_bytes (fr, 2000000);
    g_timeout_add (1050, set_flag_cb, &passed);
    while (!passed)
      g_main_context_iteration (NULL, TRUE);
    exg_router_record_bytes (fr, 2000000);
    g_assert_cmpfloat (exg_router_get_observed_throughput (fr), >, 0);
    rate = exg_format_bandwidth (exg_router_get_observed_throughput (fr));

    gtk_label_set_text (test_label, "");
    gtk_button_clicked (exg_ui_find_widget (prefs, "test_button"));
    g_assert_true (exg_test_poll_until (test_label_done, test_label, WAIT_MS));
    g_assert_nonnull (strstr (gtk_label_get_text (test_label), "fr-exit works: "));
    g_assert_nonnull (strstr (gtk_label_get_text (test_label), "; observed "));
    g_assert_nonnull (strstr (gtk_label_get_text (test_label), "Mbit/s"));
  }

  /* remove it: gone from the file and the registry at once ... */
  {
    GtkInfoBar *undo_bar = exg_ui_find_widget (prefs, "undo_bar");
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    gsize len;

    /* something only a byte-exact restore keeps */
    g_key_file_set_comment (written, "exit fr-exit", "type", " added by hand",
                            NULL);
    g_key_file_set_value (written, "exit fr-exit", "note", "a \\s b");
    g_key_file_save_to_file (written, exg_application_get_config_path (app),
                             &error);
    g_assert_no_error (error);
    exg_application_reload_exits (app);
    /* a new dialog reads the file as it is now */
    gtk_widget_destroy (prefs);
    exg_test_flush ();
    g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
    exg_test_flush ();
    prefs = find_toplevel (EXG_TYPE_PREFERENCES);
    g_assert_nonnull (prefs);
    exits_view = exg_ui_find_widget (prefs, "exits_view");
    undo_bar = exg_ui_find_widget (prefs, "undo_bar");
    g_file_get_contents (exg_application_get_config_path (app), &before, &len,
                         &error);
    g_assert_no_error (error);

    g_assert_false (gtk_info_bar_get_revealed (undo_bar));
    g_assert_true (select_exit (exits_view, "fr-exit"));
    gtk_button_clicked (exg_ui_find_widget (prefs, "remove_button"));
    exg_test_flush ();
    g_assert_null (exg_router_registry_lookup (registry, "fr-exit"));
    g_assert_cmpint (gtk_tree_model_iter_n_children (gtk_tree_view_get_model (exits_view), NULL), ==, 2);
    g_key_file_load_from_file (written, exg_application_get_config_path (app), 0,
                               &error);
    g_assert_no_error (error);
    g_assert_false (g_key_file_has_group (written, "exit fr-exit"));

    /* ... with an in-app notification offering Undo */
    g_assert_true (gtk_info_bar_get_revealed (undo_bar));
    g_assert_nonnull (strstr (gtk_label_get_text (exg_ui_find_widget (prefs, "undo_label")),
                              "fr-exit"));
    gtk_info_bar_response (undo_bar, 1);
    exg_test_flush ();
    g_assert_false (gtk_info_bar_get_revealed (undo_bar));
    g_file_get_contents (exg_application_get_config_path (app), &after, &len,
                         &error);
    g_assert_no_error (error);
    /* the group comes back as it was written, comment and raw values
     * included (GKeyFile may leave an extra blank line before it) */
    g_assert_nonnull (strstr (before, "[exit fr-exit]"));
    g_assert_nonnull (strstr (after, "[exit fr-exit]"));
    g_assert_cmpstr (strstr (after, "[exit fr-exit]"), ==,
                     strstr (before, "[exit fr-exit]"));
    g_assert_nonnull (strstr (after, "# added by hand\ntype=direct\n"));
    g_assert_nonnull (strstr (after, "\nnote=a \\s b\n"));
    g_assert_nonnull (exg_router_registry_lookup (registry, "fr-exit"));
    g_assert_cmpint (gtk_tree_model_iter_n_children (gtk_tree_view_get_model (exits_view), NULL), ==, 3);

    /* removed for good: closing the notification forgets it */
    g_assert_true (select_exit (exits_view, "fr-exit"));
    gtk_button_clicked (exg_ui_find_widget (prefs, "remove_button"));
    exg_test_flush ();
    g_assert_true (gtk_info_bar_get_revealed (undo_bar));
    gtk_info_bar_response (undo_bar, GTK_RESPONSE_CLOSE);
    exg_test_flush ();
    g_assert_false (gtk_info_bar_get_revealed (undo_bar));
    g_assert_null (exg_router_registry_lookup (registry, "fr-exit"));
    g_key_file_load_from_file (written, exg_application_get_config_path (app), 0,
                               &error);
    g_assert_no_error (error);
    g_assert_false (g_key_file_has_group (written, "exit fr-exit"));
  }

  gtk_widget_destroy (prefs);
  g_action_group_change_action_state (G_ACTION_GROUP (app), "exit-country",
                                      g_variant_new_string (""));
  exg_test_flush ();
}

/* app.system-proxy points GNOME's proxy settings at the listener and
 * puts the previous ones back */
static void
test_system_proxy_action (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = g_settings_schema_source_lookup (source, "org.gnome.system.proxy", TRUE);
  g_autoptr(GSettings) proxy = NULL;
  g_autoptr(GSettings) socks = NULL;
  g_autofree char *mode = NULL;
  g_autofree char *host = NULL;

  if (schema == NULL)
    {
      g_test_skip ("org.gnome.system.proxy is not installed");
      return;
    }
  proxy = g_settings_new ("org.gnome.system.proxy");
  socks = g_settings_new ("org.gnome.system.proxy.socks");
  g_settings_set_string (proxy, "mode", "none");
  g_settings_set_string (socks, "host", "");
  g_settings_set_int (socks, "port", 0);

  g_action_group_change_action_state (G_ACTION_GROUP (app), "system-proxy",
                                      g_variant_new_boolean (TRUE));
  exg_test_flush ();
  g_assert_true (action_bool_state ("system-proxy"));
  mode = g_settings_get_string (proxy, "mode");
  host = g_settings_get_string (socks, "host");
  g_assert_cmpstr (mode, ==, "manual");
  g_assert_cmpstr (host, ==, "127.0.0.1");
  g_assert_cmpint (g_settings_get_int (socks, "port"), ==, bound_port ());

  /* the proxy off: the desktop no longer points at a closed port */
  g_action_group_change_action_state (G_ACTION_GROUP (app), "proxy-enabled",
                                      g_variant_new_boolean (FALSE));
  exg_test_flush ();
  g_clear_pointer (&mode, g_free);
  mode = g_settings_get_string (proxy, "mode");
  g_assert_cmpstr (mode, ==, "none");
  g_action_group_change_action_state (G_ACTION_GROUP (app), "proxy-enabled",
                                      g_variant_new_boolean (TRUE));
  exg_test_flush ();
  g_clear_pointer (&mode, g_free);
  mode = g_settings_get_string (proxy, "mode");
  g_assert_cmpstr (mode, ==, "manual");

  g_action_group_change_action_state (G_ACTION_GROUP (app), "system-proxy",
                                      g_variant_new_boolean (FALSE));
  exg_test_flush ();
  g_clear_pointer (&mode, g_free);
  g_clear_pointer (&host, g_free);
  mode = g_settings_get_string (proxy, "mode");
  host = g_settings_get_string (socks, "host");
  g_assert_cmpstr (mode, ==, "none");
  g_assert_cmpstr (host, ==, "");
  g_assert_cmpint (g_settings_get_int (socks, "port"), ==, 0);
}

/* A broken exits file is reported in the window, with the way out; the
 * routers in use stay */
static void
test_bad_exits_file (void)
{
  GtkInfoBar *info_bar = exg_ui_find_widget (GTK_WIDGET (window), "info_bar");
  GtkLabel *info_label = exg_ui_find_widget (GTK_WIDGET (window), "info_label");
  ExgRouterRegistry *registry = exg_application_get_registry (app);
  g_autoptr(GSettings) settings = g_settings_new (APPLICATION_ID);
  g_autofree char *good = g_settings_get_string (settings, "config-path");
  g_autofree char *bad = g_build_filename (tmpdir, "bad.conf", NULL);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (bad, "[exit broken]\ntype=socks4\naddress=127.0.0.9\nport=1\n", -1, &error);
  g_assert_no_error (error);
  g_settings_set_string (settings, "config-path", bad);
  exg_test_flush ();
  g_assert_true (gtk_info_bar_get_revealed (info_bar));
  g_assert_nonnull (strstr (gtk_label_get_text (info_label), "The exits file cannot be used"));
  g_assert_nonnull (strstr (gtk_label_get_text (info_label), "socks4a"));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (registry)), ==, 2);

  g_settings_set_string (settings, "config-path", good);
  exg_test_flush ();
  g_assert_false (gtk_info_bar_get_revealed (info_bar));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (registry)), ==, 2);
  g_unlink (bad);
}

static gboolean
row_listed (gpointer data)
{
  ExgRoutersView *view = exg_ui_find_widget (GTK_WIDGET (window), "routers_view");
  GtkTreeIter iter;

  return find_row (GTK_TREE_MODEL (exg_routers_view_get_store (view)),
                   EXG_ROUTER_COL_NAME, data, &iter);
}

static int
count_rows (GtkTreeModel *model)
{
  return model != NULL ? gtk_tree_model_iter_n_children (model, NULL) : 0;
}

/* The Routers page: a tor relay's fingerprint and exit ports, a search
 * that Escape clears, and Add Exit writing the exits file */
static void
test_routers_page (void)
{
  static const char fp[] = "0123456789ABCDEF0123456789ABCDEF01234567";
  ExgRouterRegistry *registry = exg_application_get_registry (app);
  ExgRoutersView *view = exg_ui_find_widget (GTK_WIDGET (window), "routers_view");
  GtkTreeModel *store = GTK_TREE_MODEL (exg_routers_view_get_store (view));
  GtkTreeView *tree = exg_routers_view_get_tree_view (view);
  GtkEntry *search = exg_routers_view_get_search_entry (view);
  GtkStack *stack = exg_ui_find_widget (GTK_WIDGET (window), "stack");
  g_autoptr(ExgBackend) backend = exg_backend_direct_new (NULL);
  g_autoptr(ExgRouter) relay = NULL;
  g_autofree char *id = g_strconcat ("tor:", fp, NULL);
  g_autofree char *text = NULL;
  g_autofree char *details = NULL;
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  ExgExitDialog *dialog;
  GtkTreeIter iter;

  gtk_stack_set_visible_child_name (stack, "routers");
  relay = exg_router_new (id, "SomeRelay", EXG_ROUTER_KIND_TOR, "127.0.0.9",
                          "NL", 3000000, 3, backend);
  exg_router_set_exit_policy (relay, "accept 80,443");
  exg_router_set_up (relay, TRUE);
  exg_router_registry_add (registry, relay);
  g_assert_true (exg_test_poll_until (row_listed, "SomeRelay", WAIT_MS));

  /* the relay: short fingerprint, kind and ports, one unit of bandwidth */
  g_assert_true (find_row (store, EXG_ROUTER_COL_NAME, "SomeRelay", &iter));
  text = cell_text (tree, "Fingerprint", store, &iter);
  g_assert_cmpstr (text, ==, "01234567");
  g_clear_pointer (&text, g_free);
  text = cell_text (tree, "Kind", store, &iter);
  g_assert_cmpstr (text, ==, "Tor · ports 80,443");
  g_clear_pointer (&text, g_free);
  text = cell_text (tree, "Advertised", store, &iter);
  g_assert_cmpstr (text, ==, "3.0 MB/s");
  g_clear_pointer (&text, g_free);
  text = cell_text (tree, "State", store, &iter);
  g_assert_cmpstr (text, ==, "Up");
  gtk_tree_model_get (store, &iter, EXG_ROUTER_COL_DETAILS, &details, -1);
  g_assert_cmpstr (details, ==,
                   "SomeRelay\n"
                   "Tor · ports 80,443\n"
                   "127.0.0.9 · Netherlands\n"
                   "Fingerprint: 0123 4567 89AB CDEF 0123 4567 89AB CDEF 0123 4567\n"
                   "Advertised: 3.0 MB/s (24 Mbit/s)");
  /* our own exits have none */
  g_assert_true (find_row (store, EXG_ROUTER_COL_NAME, "se-exit", &iter));
  g_clear_pointer (&text, g_free);
  text = cell_text (tree, "Fingerprint", store, &iter);
  g_assert_cmpstr (text, ==, "");
  g_clear_pointer (&text, g_free);
  text = cell_text (tree, "Kind", store, &iter);
  g_assert_cmpstr (text, ==, "Direct");

  /* the search: by fingerprint, by name; Escape shows all again */
  g_assert_cmpint (count_rows (gtk_tree_view_get_model (tree)), ==, 3);
  gtk_entry_set_text (search, "89abcdef");
  g_signal_emit_by_name (search, "search-changed");
  exg_test_flush ();
  g_assert_cmpint (count_rows (gtk_tree_view_get_model (tree)), ==, 1);
  gtk_entry_set_text (search, "de-ex");
  g_signal_emit_by_name (search, "search-changed");
  exg_test_flush ();
  g_assert_cmpint (count_rows (gtk_tree_view_get_model (tree)), ==, 1);
  g_assert_true (find_row (gtk_tree_view_get_model (tree), EXG_ROUTER_COL_NAME,
                           "de-exit", &iter));
  gtk_entry_set_text (search, "nothing like it");
  g_signal_emit_by_name (search, "search-changed");
  exg_test_flush ();
  g_assert_cmpint (count_rows (gtk_tree_view_get_model (tree)), ==, 0);
  g_assert_true (gtk_widget_get_visible (exg_ui_find_widget (GTK_WIDGET (view),
                                                      "routers_empty_label")));
  gtk_widget_grab_focus (GTK_WIDGET (search));
  send_key (GTK_WIDGET (search), GDK_KEY_Escape);
  exg_test_flush ();
  g_assert_cmpstr (gtk_entry_get_text (search), ==, "");
  g_signal_emit_by_name (search, "search-changed");
  exg_test_flush ();
  g_assert_cmpint (count_rows (gtk_tree_view_get_model (tree)), ==, 3);
  /* Ctrl+F on this page searches the routers */
  g_action_group_activate_action (G_ACTION_GROUP (window), "search", NULL);
  g_assert_true (gtk_widget_is_focus (GTK_WIDGET (search)));

  g_assert_true (exg_router_registry_remove (registry, id));
  exg_test_flush ();

  /* Add Exit: the dialog of Preferences, saved into the exits file */
  gtk_button_clicked (GTK_BUTTON (exg_ui_find_widget (GTK_WIDGET (view),
                                               "routers_add_button")));
  dialog = find_toplevel (EXG_TYPE_EXIT_DIALOG);
  g_assert_nonnull (dialog);
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (dialog)), ==, "Add Exit");
  gtk_entry_set_text (GTK_ENTRY (exg_ui_find_widget (GTK_WIDGET (dialog), "name_entry")),
                      "third-exit");
  gtk_combo_box_set_active_id (GTK_COMBO_BOX (exg_ui_find_widget (GTK_WIDGET (dialog), "type_combo")),
                               "direct");
  gtk_entry_set_text (GTK_ENTRY (exg_ui_find_widget (GTK_WIDGET (dialog), "address_entry")),
                      "127.0.0.4");
  gtk_dialog_response (GTK_DIALOG (dialog), GTK_RESPONSE_OK);
  exg_test_flush ();
  g_assert_null (find_toplevel (EXG_TYPE_EXIT_DIALOG));
  g_assert_true (exg_test_poll_until (row_listed, "third-exit", WAIT_MS));

  /* written beside the others, which are kept as they were */
  g_assert_true (g_key_file_load_from_file (keyfile,
                                            exg_application_get_config_path (app),
                                            G_KEY_FILE_NONE, &error));
  g_assert_no_error (error);
  g_assert_true (g_key_file_has_group (keyfile, "exit se-exit"));
  g_assert_true (g_key_file_has_group (keyfile, "exit de-exit"));
  g_assert_false (g_key_file_get_boolean (keyfile, "tor", "managed", NULL));
  g_clear_pointer (&text, g_free);
  text = g_key_file_get_string (keyfile, "exit third-exit", "source-address",
                                NULL);
  g_assert_cmpstr (text, ==, "127.0.0.4");
  {
    GStatBuf st;

    g_assert_cmpint (g_stat (exg_application_get_config_path (app), &st), ==, 0);
    g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  }

  /* a name taken already: the dialog stays and says so */
  gtk_button_clicked (GTK_BUTTON (exg_ui_find_widget (GTK_WIDGET (view),
                                               "routers_add_button")));
  dialog = find_toplevel (EXG_TYPE_EXIT_DIALOG);
  g_assert_nonnull (dialog);
  gtk_entry_set_text (GTK_ENTRY (exg_ui_find_widget (GTK_WIDGET (dialog), "name_entry")),
                      "se-exit");
  gtk_entry_set_text (GTK_ENTRY (exg_ui_find_widget (GTK_WIDGET (dialog), "address_entry")),
                      "127.0.0.5");
  gtk_dialog_response (GTK_DIALOG (dialog), GTK_RESPONSE_OK);
  exg_test_flush ();
  g_assert_true (find_toplevel (EXG_TYPE_EXIT_DIALOG) == dialog);
  gtk_dialog_response (GTK_DIALOG (dialog), GTK_RESPONSE_CANCEL);
  exg_test_flush ();
  g_assert_null (find_toplevel (EXG_TYPE_EXIT_DIALOG));

  /* back to the two exits the other tests expect */
  g_key_file_remove_group (keyfile, "exit third-exit", NULL);
  g_assert_true (exg_exits_file_save (keyfile,
                                      exg_application_get_config_path (app),
                                      &error));
  g_assert_no_error (error);
  exg_application_reload_exits (app);
  exg_test_flush ();
  g_assert_false (row_listed ("third-exit"));
  gtk_stack_set_visible_child_name (stack, "connections");
}

static char *
tor_key (const char *key)
{
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (g_key_file_load_from_file (keyfile,
                                            exg_application_get_config_path (app),
                                            G_KEY_FILE_NONE, &error));
  g_assert_no_error (error);
  return g_key_file_get_value (keyfile, "tor", key, NULL);
}

/* Preferences, Tor: the exits file's choice shown, a running tor's
 * control address written by Apply, and back to none.  No tor is
 * started: the control port named is a closed one on loopback. */
static void
test_tor_prefs (void)
{
  GtkWidget *prefs, *tor;
  GtkToggleButton *managed, *control, *off;
  GtkEntry *entry;
  GtkLabel *status;
  GtkWidget *apply;
  g_autofree char *value = NULL;
  g_autofree char *saved = NULL;
  gsize length;

  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  exg_test_flush ();
  prefs = find_toplevel (EXG_TYPE_PREFERENCES);
  g_assert_nonnull (prefs);
  tor = exg_ui_find_widget (prefs, "tor_prefs");
  managed = exg_ui_find_widget (tor, "managed_radio");
  control = exg_ui_find_widget (tor, "control_radio");
  off = exg_ui_find_widget (tor, "off_radio");
  entry = exg_ui_find_widget (tor, "control_entry");
  status = exg_ui_find_widget (tor, "status_label");
  apply = exg_ui_find_widget (tor, "apply_button");

  /* the test's file says managed=false: no Tor exits */
  g_assert_true (gtk_toggle_button_get_active (off));
  g_assert_false (gtk_toggle_button_get_active (managed));
  g_assert_cmpstr (gtk_label_get_text (status), ==, "In use: no Tor exits.");
  g_assert_false (gtk_widget_get_sensitive (apply));
  g_assert_false (gtk_widget_get_sensitive (GTK_WIDGET (entry)));

  /* a running tor needs its address before Apply is offered */
  gtk_toggle_button_set_active (control, TRUE);
  g_assert_true (gtk_widget_get_sensitive (GTK_WIDGET (entry)));
  g_assert_false (gtk_widget_get_sensitive (apply));
  gtk_entry_set_text (entry, " 127.0.0.1:1 ");
  g_assert_true (gtk_widget_get_sensitive (apply));
  gtk_widget_activate (GTK_WIDGET (entry));
  exg_test_flush ();
  value = tor_key ("control");
  g_assert_cmpstr (value, ==, "127.0.0.1:1");
  g_clear_pointer (&value, g_free);
  value = tor_key ("managed");
  g_assert_cmpstr (value, ==, "false");
  g_clear_pointer (&value, g_free);
  g_assert_cmpstr (gtk_label_get_text (status), ==,
                   "In use: the tor at the control address below.");
  g_assert_false (gtk_widget_get_sensitive (apply));
  /* the other exits are still there */
  g_assert_nonnull (exg_router_registry_lookup (exg_application_get_registry (app),
                                                "se-exit"));

  /* back to none: control= goes */
  gtk_toggle_button_set_active (off, TRUE);
  g_assert_true (gtk_widget_get_sensitive (apply));
  gtk_button_clicked (GTK_BUTTON (apply));
  exg_test_flush ();
  value = tor_key ("control");
  g_assert_null (value);
  value = tor_key ("managed");
  g_assert_cmpstr (value, ==, "false");
  g_clear_pointer (&value, g_free);
  g_assert_cmpstr (gtk_label_get_text (status), ==, "In use: no Tor exits.");
  gtk_widget_destroy (prefs);
  exg_test_flush ();

  /* a file that says managed=true is shown so (the file alone: nothing
   * is reloaded, no tor starts) */
  g_assert_true (g_file_get_contents (exg_application_get_config_path (app),
                                      &saved, &length, NULL));
  {
    g_autoptr(GKeyFile) keyfile = g_key_file_new ();

    g_assert_true (g_key_file_load_from_data (keyfile, saved, length,
                                              G_KEY_FILE_KEEP_COMMENTS, NULL));
    g_key_file_set_boolean (keyfile, "tor", "managed", TRUE);
    g_assert_true (g_key_file_save_to_file (keyfile,
                                            exg_application_get_config_path (app),
                                            NULL));
  }
  tor = g_object_ref_sink (exg_tor_prefs_new (app));
  g_assert_true (gtk_toggle_button_get_active (exg_ui_find_widget (tor, "managed_radio")));
  g_assert_cmpstr (gtk_label_get_text (exg_ui_find_widget (tor, "status_label")), ==,
                   "In use: a tor that Exitgate runs.");
  g_assert_false (gtk_widget_get_sensitive (exg_ui_find_widget (tor, "apply_button")));
  gtk_widget_destroy (tor);
  g_object_unref (tor);
  g_assert_true (g_file_set_contents (exg_application_get_config_path (app),
                                      saved, length, NULL));
}

static guint16
free_port (void)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4,
                                            G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static gboolean
label_has (gpointer data)
{
  gpointer *args = data;

  return strstr (gtk_label_get_text (args[0]), args[1]) != NULL;
}

/* Preferences, Proxy: a new port moves the running proxy at once, with
 * the dialog still open; the GeoIP database has a chooser and the page
 * says which database is in use, or that none is */
static void
test_preferences_port_and_geoip (void)
{
  g_autoptr(GSettings) settings = g_settings_new (APPLICATION_ID);
  g_autofree char *old_path = g_settings_get_string (settings, "geoip-path");
  guint16 old_port = bound_port ();
  guint16 port = free_port ();
  GtkWidget *prefs;
  GtkLabel *status;
  GtkEntry *entry;
  GtkFileChooser *chooser;
  gpointer args[2];

  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  exg_test_flush ();
  prefs = find_toplevel (EXG_TYPE_PREFERENCES);
  g_assert_nonnull (prefs);

  gtk_spin_button_set_value (exg_ui_find_widget (prefs, "listen_port_spin"), port);
  exg_test_flush ();
  g_assert_cmpuint (bound_port (), ==, port);
  g_assert_true (can_connect (port));
  g_assert_false (can_connect (old_port));

  status = exg_ui_find_widget (prefs, "geoip_status_label");
  entry = exg_ui_find_widget (prefs, "geoip_path_entry");
  chooser = exg_ui_find_widget (prefs, "geoip_chooser");
  if (old_path[0] != '\0')
    {
      g_autofree char *expected = g_strdup_printf ("In use: %s", old_path);

      g_assert_cmpstr (gtk_label_get_text (status), ==, expected);
    }

  /* a file that is no database: countries unknown, and said so */
  gtk_entry_set_text (entry, "/nonexistent/countries.mmdb");
  gtk_widget_activate (GTK_WIDGET (entry));
  args[0] = status;
  args[1] = "In use: none: countries unknown";
  g_assert_true (exg_test_poll_until (label_has, args, WAIT_MS));

  /* the chooser puts its file in the field and applies it */
  if (old_path[0] != '\0')
    {
      g_assert_true (gtk_file_chooser_set_filename (chooser, old_path));
      g_signal_emit_by_name (chooser, "file-set");
      exg_test_flush ();
      g_assert_cmpstr (gtk_entry_get_text (entry), ==, old_path);
      g_clear_object (&settings);
      settings = g_settings_new (APPLICATION_ID);
      {
        g_autofree char *now = g_settings_get_string (settings, "geoip-path");

        g_assert_cmpstr (now, ==, old_path);
      }
      args[1] = old_path;
      g_assert_true (exg_test_poll_until (label_has, args, WAIT_MS));
    }
  else
    {
      gtk_entry_set_text (entry, "");
      gtk_widget_activate (GTK_WIDGET (entry));
    }

  gtk_spin_button_set_value (exg_ui_find_widget (prefs, "listen_port_spin"), old_port);
  exg_test_flush ();
  g_assert_cmpuint (bound_port (), ==, old_port);
  gtk_widget_destroy (prefs);
  exg_test_flush ();
}

/* Thousands of routers (a tor consensus) arrive one items-changed each:
 * the window, the routers page and the tray redo their lists once */
static void
test_many_routers (void)
{
  static const char *countries[] = {
    "SE", "DE", "NL", "FR", "US", "JP", "CA", "CH",
  };
  ExgRouterRegistry *registry = exg_application_get_registry (app);
  ExgRoutersView *routers_view = exg_ui_find_widget (GTK_WIDGET (window),
                                              "routers_view");
  GtkComboBox *combo = exg_ui_find_widget (GTK_WIDGET (window), "country_combo");
  GtkTreeModel *routers = GTK_TREE_MODEL (
    exg_routers_view_get_store (routers_view));
  g_autoptr(ExgBackend) backend = exg_backend_direct_new (NULL);
  const guint n = 5000;
  gint64 start, elapsed;

  start = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *id = g_strdup_printf ("relay-%u", i);
      g_autofree char *address = g_strdup_printf ("10.%u.%u.%u", i >> 16,
                                                  (i >> 8) & 0xff, i & 0xff);
      const char *country = countries[i % G_N_ELEMENTS (countries)];
      g_autoptr(ExgRouter) router = exg_router_new (id, id,
                                                    EXG_ROUTER_KIND_TOR,
                                                    address, country,
                                                    1000 * i, 3, backend);

      /* a tor exit's state comes from tor (the consensus), not from
       * checks of our own: up, as a consensus would bring it */
      exg_router_set_up (router, TRUE);
      exg_router_registry_add (registry, router);
    }
  exg_test_flush ();
  elapsed = g_get_monotonic_time () - start;
  /* a figure, not a verdict: speed is for benchmarks */
  g_test_message ("%u routers added and listed in %" G_GINT64_FORMAT " ms",
                  n, elapsed / 1000);

  g_assert_cmpint (gtk_tree_model_iter_n_children (routers, NULL), ==, n + 2);
  /* Any + the eight countries (SE and DE have an exit of ours too) */
  g_assert_cmpint (gtk_tree_model_iter_n_children (gtk_combo_box_get_model (combo),
                                                   NULL), ==, 9);

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *id = g_strdup_printf ("relay-%u", i);

      g_assert_true (exg_router_registry_remove (registry, id));
    }
  exg_test_flush ();
  g_assert_cmpint (gtk_tree_model_iter_n_children (routers, NULL), ==, 2);
  g_assert_cmpint (gtk_tree_model_iter_n_children (gtk_combo_box_get_model (combo),
                                                   NULL), ==, 3);
}

/* The history keeps history-size entries, dropping the oldest even when
 * the table is sorted another way */
static void
test_lookups_capped (void)
{
  ExgLookupsView *view = exg_ui_find_widget (GTK_WIDGET (window), "lookups_view");
  GtkTreeModel *model = GTK_TREE_MODEL (exg_lookups_view_get_store (view));
  ExgActivity *activity = exg_application_get_activity (app);
  g_autoptr(GSettings) settings = g_settings_new (APPLICATION_ID);
  guint old_size = g_settings_get_uint (settings, "history-size");
  GtkTreeViewColumn *query_column;
  GtkTreeView *tree;
  GtkTreeIter iter;
  static const char *names[] = { "e.example", "b.example", "d.example",
                                 "a.example", "c.example" };

  exg_activity_clear_lookups (activity);
  g_settings_set_uint (settings, "history-size", 3);
  exg_test_flush ();

  /* sorted by query, ascending */
  tree = exg_lookups_view_get_tree_view (view);
  query_column = gtk_tree_view_get_column (tree, 1);
  g_assert_cmpstr (gtk_tree_view_column_get_title (query_column), ==, "Query");
  gtk_tree_view_column_clicked (query_column);

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    exg_activity_add_lookup (activity, EXG_LOOKUP_FORWARD, names[i],
                             "192.0.2.1", NULL, NULL);
  exg_test_flush ();

  /* the three newest: d, a, c, shown sorted */
  g_assert_cmpint (gtk_tree_model_iter_n_children (model, NULL), ==, 3);
  g_assert_false (find_row (model, EXG_LOOKUP_COL_QUERY, "e.example", &iter));
  g_assert_false (find_row (model, EXG_LOOKUP_COL_QUERY, "b.example", &iter));
  g_assert_true (gtk_tree_model_get_iter_first (model, &iter));
  {
    g_autofree char *first = NULL;

    gtk_tree_model_get (model, &iter, EXG_LOOKUP_COL_QUERY, &first, -1);
    g_assert_cmpstr (first, ==, "a.example");
  }

  exg_activity_clear_lookups (activity);
  exg_test_flush ();
  g_assert_cmpint (gtk_tree_model_iter_n_children (model, NULL), ==, 0);
  gtk_tree_sortable_set_sort_column_id (GTK_TREE_SORTABLE (model),
                                        GTK_TREE_SORTABLE_UNSORTED_SORT_COLUMN_ID,
                                        GTK_SORT_ASCENDING);
  g_settings_set_uint (settings, "history-size", old_size);
  exg_test_flush ();
}

static char *
write_exits (const char *mmdb)
{
  g_autofree char *path = g_build_filename (tmpdir, "exitgate.conf", NULL);
  /* with a test MMDB the countries come from it; without, from here */
  g_autofree char *text = g_strdup_printf (
    "[exit se-exit]\ntype=direct\nsource-address=127.0.0.2\nbandwidth=5000000\n%s"
    "[exit de-exit]\ntype=direct\nsource-address=127.0.0.3\nbandwidth=1000000\n%s"
    /* no tor here: the first-run test has it */
    "[tor]\nmanaged=false\n",
    mmdb ? "" : "country=SE\n", mmdb ? "" : "country=DE\n");
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&path);
}

static char *
make_mmdb (void)
{
  const char *tool = g_getenv ("EXG_MAKE_MMDB");
  g_autofree char *path = g_build_filename (tmpdir, "test.mmdb", NULL);
  const char *argv[] = { tool, path, "127.0.0.2=SE", "127.0.0.3=DE", NULL };
  g_autoptr(GError) error = NULL;
  int status = 0;

  if (tool == NULL)
    return NULL;
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL,
                NULL, &status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  return g_steal_pointer (&path);
}

static void
rm_rf (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR)
          && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        rm_rf (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

/* A fresh cache and no GeoIP path: tor-geoipdb is converted, and the
 * status line says how far it is until the database is there. */
static void
status_seen_cb (ExgApplication *application,
                gpointer        user_data)
{
  GPtrArray *seen = user_data;
  GtkLabel *label = GTK_LABEL (find_in_titlebar ("status_label"));

  g_ptr_array_add (seen, g_strdup (gtk_label_get_text (label)));
}

static gboolean
geoip_ready (gpointer data)
{
  return exg_application_get_geoip_progress (app) < 0
         && exg_geoip_get_path (exg_application_get_geoip (app)) != NULL;
}

static void
test_geoip_progress (void)
{
  g_autoptr(GSettings) settings = g_settings_new (APPLICATION_ID);
  g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *mmdb = g_settings_get_string (settings, "geoip-path");
  gboolean progress_shown = FALSE;
  gulong id;

  if (!g_file_test ("/usr/share/tor/geoip", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("tor-geoipdb is not installed");
      return;
    }

  id = g_signal_connect (app, "status-changed", G_CALLBACK (status_seen_cb),
                         seen);
  g_settings_set_string (settings, "geoip-path", "");
  g_assert_true (exg_test_poll_until (geoip_ready, NULL, 30000));
  g_signal_handler_disconnect (app, id);

  for (guint i = 0; i < seen->len; i++)
    if (strstr (g_ptr_array_index (seen, i), "preparing country data") != NULL)
      progress_shown = TRUE;
  g_assert_true (progress_shown);
  g_assert_null (strstr (gtk_label_get_text (GTK_LABEL (find_in_titlebar ("status_label"))),
                         "preparing"));
  g_assert_true (g_str_has_suffix (exg_geoip_get_path (exg_application_get_geoip (app)),
                                   "tor-geoip.mmdb"));

  /* back to the test database: the exits get their made-up countries */
  g_settings_set_string (settings, "geoip-path", mmdb);
  exg_test_flush ();
  g_assert_cmpstr (exg_geoip_get_path (exg_application_get_geoip (app)), ==,
                   mmdb);
}

/* a pixel of this colour somewhere in the rectangle */
static gboolean
surface_has_colour (cairo_surface_t *surface,
                    int x, int y, int width, int height,
                    const GdkRGBA *colour)
{
  const guint8 *data = cairo_image_surface_get_data (surface);
  int stride = cairo_image_surface_get_stride (surface);
  guint8 r = (guint8) (colour->red * 255 + 0.5);
  guint8 g = (guint8) (colour->green * 255 + 0.5);
  guint8 b = (guint8) (colour->blue * 255 + 0.5);

  for (int j = y; j < y + height; j++)
    for (int i = x; i < x + width; i++)
      {
        guint32 pixel = *(const guint32 *) (data + j * stride + i * 4);

        /* cairo rounds through 16 bits: one off either way */
        if (ABS ((int) ((pixel >> 16) & 0xff) - r) <= 1 &&
            ABS ((int) ((pixel >> 8) & 0xff) - g) <= 1 &&
            ABS ((int) (pixel & 0xff) - b) <= 1)
          return TRUE;
      }
  return FALSE;
}

/* how many pixels in the rectangle differ from the one at (bx, by) */
static guint
surface_count_ink (cairo_surface_t *surface,
                   int x, int y, int width, int height,
                   int bx, int by)
{
  const guint8 *data = cairo_image_surface_get_data (surface);
  int stride = cairo_image_surface_get_stride (surface);
  guint32 background = *(const guint32 *) (data + by * stride + bx * 4);
  guint n = 0;

  for (int j = y; j < y + height; j++)
    for (int i = x; i < x + width; i++)
      n += *(const guint32 *) (data + j * stride + i * 4) != background;
  return n;
}

static void
test_traffic_legend_and_scale (void)
{
  static const GdkRGBA blue = { 0.21, 0.52, 0.89, 1.0 };
  static const GdkRGBA orange = { 0.90, 0.38, 0.0, 1.0 };
  GtkWidget *offscreen = gtk_offscreen_window_new ();
  ExgTrafficGraph *graph = g_object_new (EXG_TYPE_TRAFFIC_GRAPH, NULL);
  AtkObject *accessible = gtk_widget_get_accessible (GTK_WIDGET (graph));
  g_autofree char *down_text = exg_format_bandwidth (3e6);
  g_autofree char *top_text = exg_format_bandwidth (4e6);
  cairo_surface_t *surface;
  cairo_t *cr;
  const char *description;
  double step = 0;

  /* round steps in the app's units: 1, 2, 2.5 or 5 times a power of ten,
   * four of them reaching the peak; an idle graph reads up to 1 kB/s */
  g_assert_cmpfloat (exg_traffic_graph_scale_step (0), ==, 250);
  g_assert_cmpfloat (exg_traffic_graph_scale_step (1000), ==, 250);
  g_assert_cmpfloat (exg_traffic_graph_scale_step (1001), ==, 500);
  g_assert_cmpfloat (exg_traffic_graph_scale_step (4e6), ==, 1e6);
  g_assert_cmpfloat (exg_traffic_graph_scale_step (4.1e6), ==, 2e6);
  g_assert_cmpfloat (exg_traffic_graph_scale_step (9e6), ==, 2.5e6);
  g_assert_cmpfloat (exg_traffic_graph_scale_step (1.2e9), ==, 5e8);

  g_assert_cmpuint (exg_traffic_graph_get_scale (graph, &step), ==, 4);
  g_assert_cmpfloat (step, ==, 250);

  /* 3 MB/s down, 1.5 MB/s up: gridlines at 1, 2, 3 and 4 MB/s */
  exg_traffic_graph_add_rates (graph, 1.5e6, 3e6);
  g_assert_cmpuint (exg_traffic_graph_get_scale (graph, &step), ==, 4);
  g_assert_cmpfloat (step, ==, 1e6);

  /* the legend in words for screen readers, in the app's units */
  description = atk_object_get_description (accessible);
  g_assert_nonnull (description);
  g_assert_nonnull (strstr (description, down_text));
  g_assert_nonnull (strstr (description, top_text));
  g_assert_nonnull (strstr (description, "Mbit/s"));

  /* drawn: the legend's swatches in the series' colours, above the plot,
   * and a label under the top gridline */
  gtk_container_add (GTK_CONTAINER (offscreen), GTK_WIDGET (graph));
  gtk_window_set_default_size (GTK_WINDOW (offscreen), 600, 200);
  gtk_widget_show_all (offscreen);
  gtk_test_widget_wait_for_draw (offscreen);
  g_assert_cmpint (gtk_widget_get_allocated_width (GTK_WIDGET (graph)), ==, 600);
  surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 600, 200);
  cr = cairo_create (surface);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  gtk_widget_draw (GTK_WIDGET (graph), cr);
  cairo_destroy (cr);
  cairo_surface_flush (surface);
  if (g_getenv ("EXG_TEST_GRAPH_PNG") != NULL)
    cairo_surface_write_to_png (surface, g_getenv ("EXG_TEST_GRAPH_PNG"));

  g_assert_true (surface_has_colour (surface, 0, 0, 600, 34, &blue));
  g_assert_true (surface_has_colour (surface, 0, 0, 600, 34, &orange));
  /* the down swatch comes first, at the left */
  g_assert_true (surface_has_colour (surface, 12, 0, 16, 34, &blue));
  g_assert_false (surface_has_colour (surface, 12, 0, 16, 34, &orange));
  /* text beside it, and the top gridline's label in the plot */
  g_assert_cmpuint (surface_count_ink (surface, 34, 4, 100, 28, 599, 199), >, 20);
  g_assert_cmpuint (surface_count_ink (surface, 16, 38, 100, 14, 599, 199), >, 20);

  cairo_surface_destroy (surface);
  gtk_widget_destroy (offscreen);
}

int
main (int argc, char **argv)
{
  g_autoptr(GSettings) settings = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *mmdb = NULL;
  g_autofree char *exits = NULL;
  int ret;

  /* gtk_test_init () has no G_TEST_OPTION_ISOLATE_DIRS: keep the user's
   * cache (a converted GeoIP database) and config out of it by hand */
  tmpdir = g_dir_make_tmp ("exitgate-test-window-XXXXXX", &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 3; i++)
    {
      static const char *vars[] = {
        "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
      };
      g_autofree char *dir = g_build_filename (tmpdir, vars[i], NULL);

      g_mkdir (dir, 0700);
      g_setenv (vars[i], dir, TRUE);
    }

  gtk_test_init (&argc, &argv, NULL);
  exg_i18n_bind_textdomain ();
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE,
                NULL);

  mmdb = make_mmdb ();
  exits = write_exits (mmdb);

  /* the memory backend is shared within the process: set before startup */
  settings = g_settings_new (APPLICATION_ID);
  g_settings_set_string (settings, "listen-address", "127.0.0.1");
  g_settings_set (settings, "listen-port", "q", (guint16) (0));
  g_settings_set_string (settings, "config-path", exits);
  g_settings_set_string (settings, "geoip-path", mmdb ? mmdb : "");

  app = exg_application_new ();
  g_application_register (G_APPLICATION (app), NULL, &error);
  g_assert_no_error (error);
  /* Port 0 can fail on a machine whose ephemeral ports are all taken
   * (someone's benchmark); try a few times before giving up */
  for (guint i = 0; i < 20 && exg_application_get_bound_address (app) == NULL; i++)
    g_action_group_change_action_state (G_ACTION_GROUP (app), "proxy-enabled",
                                        g_variant_new_boolean (TRUE));
  /* reopen on the same port later: pin the one it got */
  g_settings_set (settings, "listen-port", "q", (guint16) (bound_port ()));

  window = exg_window_new (app);
  gtk_widget_show (GTK_WIDGET (window));
  exg_test_flush ();

  g_test_add_func ("/window/builds-from-resources", test_builds_from_resources);
  g_test_add_func ("/window/country-list", test_country_list);
  g_test_add_func ("/window/pick-country", test_pick_country);
  g_test_add_func ("/window/type-to-search", test_type_to_search);
  g_test_add_func ("/window/country-box-reverts", test_country_box_reverts);
  g_test_add_func ("/window/range-and-no-match", test_range_and_no_match);
  g_test_add_func ("/window/connection-appears", test_connection_appears);
  g_test_add_func ("/window/connection-failed", test_connection_failed);
  g_test_add_func ("/window/connection-circuit", test_connection_circuit);
  g_test_add_func ("/window/dns-leak-hint", test_dns_leak_hint);
  g_test_add_func ("/window/context-menu-close-and-copy", test_close_from_menu);
  g_test_add_func ("/window/resolve-in-history", test_resolve_in_history);
  g_test_add_func ("/window/lookups-capped", test_lookups_capped);
  g_test_add_func ("/window/switch-closes-port", test_switch_closes_port);
  g_test_add_func ("/window/port-in-use", test_port_in_use);
  g_test_add_func ("/window/switch-busy-port", test_switch_busy_port);
  g_test_add_func ("/window/messages-whole", test_messages_whole);
  g_test_add_func ("/window/ten-thousand-connections",
                   test_ten_thousand_connections);
  g_test_add_func ("/window/bandwidth-units", test_bandwidth_units);
  g_test_add_func ("/window/traffic-legend-and-scale",
                   test_traffic_legend_and_scale);
  g_test_add_func ("/window/many-routers", test_many_routers);
  g_test_add_func ("/window/routers-page", test_routers_page);
  g_test_add_func ("/window/tor-prefs", test_tor_prefs);
  g_test_add_func ("/window/preferences-port-and-geoip",
                   test_preferences_port_and_geoip);
  g_test_add_func ("/window/shortcuts", test_shortcuts);
  g_test_add_func ("/window/keys-and-empty-states", test_keys_and_empty_states);
  g_test_add_func ("/window/800x600-translated", test_800x600_translated);
  g_test_add_func ("/window/bad-exits-file", test_bad_exits_file);
  g_test_add_func ("/window/system-proxy-action", test_system_proxy_action);
  g_test_add_func ("/window/preferences-exits", test_preferences_exits);
  g_test_add_func ("/window/geoip-progress", test_geoip_progress);
  ret = g_test_run ();

  gtk_widget_destroy (GTK_WIDGET (window));
  g_application_quit (G_APPLICATION (app));
  g_clear_object (&app);
  if (exits != NULL)
    g_unlink (exits);
  if (mmdb != NULL)
    g_unlink (mmdb);
  rm_rf (tmpdir);
  g_free (tmpdir);
  return ret;
}
