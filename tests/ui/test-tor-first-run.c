/* test-tor-first-run.c: the app's first run with tor at hand, against the
 * private Tor network of tests/tor/tornet.py (tor-first-run.py starts it
 * and passes its torrc and GeoIP database in EXG_TEST_TORRC and
 * EXG_TEST_MMDB).
 *
 * The key file has no exits and a [tor] group with torrc= only (the
 * network's DirAuthority lines): no choice made.  So the window offers
 * "Connect to Tor", and the managed tor runs with DisableNetwork 1, which
 * the test reads through tor's control port before it presses Connect.
 * Then bootstrap, seen step by step, and the network's three exits in the
 * country list: DE, SE and US, one each.
 *
 * The tests run in order and build on each other.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-test"
#include "config.h"

#include "exg-test-util.h"
#include "exg-ui-util.h"

#include "exg-application.h"
#include "exg-tor-connect.h"
#include "exg-tor-control.h"
#include "exg-window.h"

#include <glib/gstdio.h>
#include <string.h>

/* tor's own start, then a bootstrap on the private network */
#define START_MS     30000
#define BOOTSTRAP_MS 120000
#define SHORT_MS     5000

static ExgApplication *app;
static ExgWindow *window;
static char *tmpdir;
static char *config_path;
static GArray *progress_seen;     /* of int: each bootstrap step after Connect */
static gboolean bar_shown;        /* the progress bar was up during bootstrap */

static const char *
visible_page (void)
{
  GtkStack *stack = exg_ui_find_widget (GTK_WIDGET (window), "main_stack");

  return gtk_stack_get_visible_child_name (stack);
}

/* tor's control port, from the file the managed tor writes
 * ("PORT=127.0.0.1:N") in its DataDirectory */
static char *
managed_control_address (void)
{
  g_autofree char *path = g_build_filename (tmpdir, "XDG_DATA_HOME", "exitgate", "tor",
                                            "control-port", NULL);
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  g_strstrip (text);
  if (!g_str_has_prefix (text, "PORT="))
    return NULL;
  return g_strdup (text + strlen ("PORT="));
}

static void
async_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static gboolean
have_result (gpointer data)
{
  return *(GAsyncResult **) data != NULL;
}

/* "GETCONF DisableNetwork" through a control connection of our own */
static char *
getconf_disable_network (void)
{
  g_autofree char *address = managed_control_address ();
  g_autoptr(ExgTorControl) control = exg_tor_control_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(ExgTorctlReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (address);
  exg_tor_control_connect_async (control, address, NULL, NULL, async_cb, &result);
  g_assert_true (exg_test_poll_until (have_result, &result, SHORT_MS));
  g_assert_true (exg_tor_control_connect_finish (control, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);

  exg_tor_control_send_async (control, "GETCONF DisableNetwork", NULL, async_cb, &result);
  g_assert_true (exg_test_poll_until (have_result, &result, SHORT_MS));
  reply = exg_tor_control_send_finish (control, result, &error);
  g_assert_no_error (error);
  g_assert_nonnull (reply);
  exg_tor_control_close (control);
  return g_strdup (reply->lines[0].text);
}

static gboolean
tor_attached (gpointer data)
{
  ExgTorClient *tor = exg_application_get_tor (app);

  return tor != NULL && exg_tor_client_get_bootstrap_progress (tor) >= 0;
}

static gboolean
tor_ready (gpointer data)
{
  ExgTorClient *tor = exg_application_get_tor (app);

  return tor != NULL && exg_tor_client_get_ready (tor);
}

static void
bootstrap_cb (ExgTorClient *tor,
              int           progress,
              const char   *summary,
              gpointer      user_data)
{
  GtkProgressBar *bar = exg_ui_find_widget (GTK_WIDGET (window), "progress_bar");
  g_autofree char *expected = g_strdup_printf ("%d %%", progress);

  g_array_append_val (progress_seen, progress);
  /* the page shows tor's own words as they come (it was told first) */
  if (gtk_widget_get_visible (GTK_WIDGET (bar))
      && g_str_has_prefix (gtk_progress_bar_get_text (bar), expected)
      && strstr (gtk_progress_bar_get_text (bar), summary) != NULL)
    bar_shown = TRUE;
}

/* tests */

static void
test_connect_screen (void)
{
  GtkWidget *connect_button = exg_ui_find_widget (GTK_WIDGET (window), "connect_button");
  GtkWidget *system_button = exg_ui_find_widget (GTK_WIDGET (window), "system_button");
  GtkWidget *auto_switch = exg_ui_find_widget (GTK_WIDGET (window), "auto_switch");
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  g_autofree char *disable = NULL;

  g_assert_true (exg_application_get_tor_undecided (app));
  g_assert_true (exg_application_get_tor_waiting (app));
  g_assert_nonnull (exg_application_get_tor (app));
  g_assert_false (exg_tor_client_get_network_enabled (exg_application_get_tor (app)));
  g_assert_cmpstr (visible_page (), ==, "tor");
  g_assert_true (gtk_widget_get_sensitive (connect_button));
  g_assert_false (gtk_widget_get_visible (system_button));
  g_assert_false (gtk_switch_get_active (GTK_SWITCH (auto_switch)));

  /* tor runs, off the network */
  g_assert_true (exg_test_poll_until (tor_attached, NULL, START_MS));
  disable = getconf_disable_network ();
  g_assert_cmpstr (disable, ==, "DisableNetwork=1");
  g_assert_false (exg_tor_client_get_ready (exg_application_get_tor (app)));

  /* nothing written before the user chose */
  g_assert_true (g_key_file_load_from_file (keyfile, config_path, G_KEY_FILE_NONE, NULL));
  g_assert_false (g_key_file_has_key (keyfile, "tor", "managed", NULL));
  g_assert_false (g_key_file_has_key (keyfile, "tor", "control", NULL));
}

static void
test_connect_bootstraps (void)
{
  ExgTorClient *tor = exg_application_get_tor (app);
  GtkWidget *connect_button = exg_ui_find_widget (GTK_WIDGET (window), "connect_button");
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *torrc = NULL;
  g_autofree char *disable = NULL;
  gulong id;
  int steps_between = 0;

  progress_seen = g_array_new (FALSE, FALSE, sizeof (int));
  id = g_signal_connect (tor, "bootstrap", G_CALLBACK (bootstrap_cb), NULL);
  gtk_button_clicked (GTK_BUTTON (connect_button));

  /* the same tor goes on the network: the choice matched what ran */
  g_assert_true (exg_application_get_tor (app) == tor);
  g_assert_true (exg_tor_client_get_network_enabled (tor));
  g_assert_cmpstr (visible_page (), ==, "tor");
  if (!exg_test_poll_until (tor_ready, NULL, BOOTSTRAP_MS))
    g_test_message ("not ready: bootstrap %d%% (%s), warning: %s",
                    exg_tor_client_get_bootstrap_progress (tor),
                    exg_tor_client_get_bootstrap_summary (tor),
                    exg_tor_client_get_bootstrap_warning (tor));
  g_assert_true (exg_tor_client_get_ready (tor));
  g_signal_handler_disconnect (tor, id);

  for (guint i = 0; i < progress_seen->len; i++)
    if (g_array_index (progress_seen, int, i) > 0 && g_array_index (progress_seen, int, i) < 100)
      steps_between++;
  g_assert_cmpint (steps_between, >=, 2);
  g_assert_cmpint (g_array_index (progress_seen, int, progress_seen->len - 1), ==, 100);
  g_assert_true (bar_shown);
  g_array_unref (progress_seen);

  /* streams can go through it: the SocksPort opened with the network */
  g_assert_nonnull (exg_tor_client_get_socks_address (tor));

  /* ready: the window's content */
  g_assert_cmpstr (visible_page (), ==, "main");
  disable = getconf_disable_network ();
  g_assert_cmpstr (disable, ==, "DisableNetwork=0");

  /* the choice is in the key file, for the daemon too; torrc= stays */
  g_assert_true (g_key_file_load_from_file (keyfile, config_path, G_KEY_FILE_NONE, &error));
  g_assert_true (g_key_file_get_boolean (keyfile, "tor", "managed", &error));
  g_assert_no_error (error);
  torrc = g_key_file_get_string (keyfile, "tor", "torrc", &error);
  g_assert_cmpstr (torrc, ==, g_getenv ("EXG_TEST_TORRC"));
  g_assert_false (exg_application_get_tor_undecided (app));
}

static gboolean
three_countries (gpointer data)
{
  GtkTreeModel *model = data;

  return gtk_tree_model_iter_n_children (model, NULL) == 4;
}

static void
test_countries (void)
{
  GtkComboBox *combo = exg_ui_find_widget (GTK_WIDGET (window), "country_combo");
  GtkTreeModel *model = gtk_combo_box_get_model (combo);
  static const char *codes[] = { "", "DE", "SE", "US" };
  static const char *names[] = { "Any country", "Germany", "Sweden", "United States" };

  g_assert_cmpuint (exg_tor_client_get_n_exits (exg_application_get_tor (app)), ==, 3);
  g_assert_true (exg_test_poll_until (three_countries, model, SHORT_MS));
  for (guint i = 0; i < G_N_ELEMENTS (codes); i++)
    {
      GtkTreeIter iter;
      g_autofree char *code = NULL;
      g_autofree char *label = NULL;
      g_autofree char *count = NULL;

      g_assert_true (gtk_tree_model_iter_nth_child (model, &iter, NULL, (int) i));
      gtk_tree_model_get (model, &iter, 0, &code, 1, &label, 3, &count, -1);
      g_assert_cmpstr (code, ==, codes[i]);
      g_assert_true (g_str_has_suffix (label, names[i]));
      g_assert_cmpstr (count, ==, i == 0 ? "3 routers" : "1 router");
    }
}

/* Choosing a country with tor says once what it costs */
static void
test_country_explained (void)
{
  GtkComboBox *combo = exg_ui_find_widget (GTK_WIDGET (window), "country_combo");
  GSettings *settings = exg_application_get_settings (app);
  GtkWidget *bar, *label;

  g_assert_false (g_settings_get_boolean (settings, "tor-country-explained"));
  g_assert_true (gtk_combo_box_set_active_id (combo, "SE"));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  bar = exg_ui_find_widget (GTK_WIDGET (window), "tor_country_bar");
  label = exg_ui_find_widget (bar, "tor_country_label");
  g_assert_true (gtk_widget_get_visible (bar));
  g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (label)), "easier to tell apart"));
  g_assert_true (g_settings_get_boolean (settings, "tor-country-explained"));

  /* the chosen country on top, under "Any country"; all three exits up */
  {
    GtkTreeModel *model = gtk_combo_box_get_model (combo);
    static const char *codes[] = { "", "SE", "DE", "US" };

    for (guint i = 0; i < G_N_ELEMENTS (codes); i++)
      {
        GtkTreeIter iter;
        g_autofree char *code = NULL;
        gboolean sensitive = FALSE;

        g_assert_true (gtk_tree_model_iter_nth_child (model, &iter, NULL, (int) i));
        gtk_tree_model_get (model, &iter, 0, &code, 4, &sensitive, -1);
        g_assert_cmpstr (code, ==, codes[i]);
        g_assert_true (sensitive);
      }
    g_assert_cmpstr (gtk_combo_box_get_active_id (combo), ==, "SE");
  }

  /* dismissed, and not said again */
  gtk_info_bar_response (GTK_INFO_BAR (bar), GTK_RESPONSE_CLOSE);
  g_assert_true (gtk_combo_box_set_active_id (combo, "DE"));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_false (gtk_widget_get_visible (bar));
  g_assert_true (gtk_combo_box_set_active_id (combo, ""));
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

static void
skip_test (void)
{
  g_test_skip ("no private Tor network: run through tor-first-run.py");
}

int
main (int argc, char **argv)
{
  g_autoptr(GSettings) settings = NULL;
  g_autoptr(GError) error = NULL;
  const char *torrc = g_getenv ("EXG_TEST_TORRC");
  const char *mmdb = g_getenv ("EXG_TEST_MMDB");
  g_autofree char *text = NULL;
  int ret;

  /* the driver's directory: it looks for a tor left running there */
  tmpdir = g_strdup (g_getenv ("EXG_TEST_TMPDIR"));
  if (tmpdir == NULL)
    tmpdir = g_dir_make_tmp ("exitgate-test-tor-first-run-XXXXXX", &error);
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
  /* no system tor to offer here, whatever this machine has */
  g_setenv ("EXITGATE_TOR_SYSTEM_CONTROL", "/nonexistent/tor/control", TRUE);

  gtk_test_init (&argc, &argv, NULL);
  exg_i18n_bind_textdomain ();
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  /* only ever on the private network: without its torrc, no tor at all */
  if (torrc == NULL || mmdb == NULL)
    {
      g_test_add_func ("/tor-first-run/connect-screen", skip_test);
      ret = g_test_run ();
      rm_rf (tmpdir);
      return ret;
    }

  config_path = g_build_filename (tmpdir, "exitgate.conf", NULL);
  text = g_strdup_printf ("[tor]\ntorrc=%s\n", torrc);
  g_file_set_contents (config_path, text, -1, &error);
  g_assert_no_error (error);

  settings = g_settings_new (APPLICATION_ID);
  g_settings_set_string (settings, "listen-address", "127.0.0.1");
  g_settings_set (settings, "listen-port", "q", (guint16) (0));
  g_settings_set_string (settings, "config-path", config_path);
  g_settings_set_string (settings, "geoip-path", mmdb);
  g_settings_set_boolean (settings, "start-proxy", FALSE);

  app = exg_application_new ();
  g_application_register (G_APPLICATION (app), NULL, &error);
  g_assert_no_error (error);
  window = exg_window_new (app);
  gtk_widget_show (GTK_WIDGET (window));

  g_test_add_func ("/tor-first-run/connect-screen", test_connect_screen);
  g_test_add_func ("/tor-first-run/connect-bootstraps", test_connect_bootstraps);
  g_test_add_func ("/tor-first-run/countries", test_countries);
  g_test_add_func ("/tor-first-run/country-explained", test_country_explained);
  ret = g_test_run ();

  gtk_widget_destroy (GTK_WIDGET (window));
  g_application_quit (G_APPLICATION (app));
  /* the engine stops tor (SIGTERM; TAKEOWNERSHIP would too); the driver
   * checks that it exited, then removes the directory */
  g_clear_object (&app);
  g_free (tmpdir);
  g_free (config_path);
  return ret;
}
