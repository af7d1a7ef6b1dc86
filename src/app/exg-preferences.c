/* exg-preferences.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-preferences.h"

#include "exg-country.h"
#include "exg-exit-dialog.h"
#include "exg-tor-prefs.h"
#include "exg-view-util.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

enum {
  EXIT_COL_NAME,
  EXIT_COL_TYPE,
  EXIT_COL_ADDRESS,
  EXIT_COL_COUNTRY,
};

struct _ExgPreferences
{
  GtkDialog       parent_instance;

  ExgApplication *app;              /* owned */
  GSettings      *settings;         /* owned; delay-apply: applied on close */
  GKeyFile       *keyfile;          /* owned: the exits file as edited */
  GCancellable   *cancellable;      /* owned: the running test */

  GtkEntry       *listen_address_entry;
  GtkSpinButton  *listen_port_spin;
  GtkSwitch      *start_proxy_switch;
  GtkSwitch      *start_hidden_switch;
  GtkSpinButton  *handshake_timeout_spin;
  GtkSpinButton  *max_connections_spin;
  GtkSpinButton  *history_size_spin;
  GtkEntry       *geoip_path_entry;
  GtkFileChooser *geoip_chooser;
  GtkLabel       *geoip_status_label;
  GtkLabel       *config_path_label;
  GtkListStore   *exits_store;
  GtkTreeView    *exits_view;
  GtkWidget      *edit_button;
  GtkWidget      *remove_button;
  GtkWidget      *test_button;
  GtkLabel       *test_label;
  GtkInfoBar     *undo_bar;
  GtkLabel       *undo_label;
  GtkNotebook    *notebook;

  GKeyFile       *removed;          /* owned, nullable: the last exit removed,
                                     * its group alone, for Undo */
  char           *removed_group;    /* owned, nullable */
};

#define UNDO_RESPONSE 1

G_DEFINE_FINAL_TYPE (ExgPreferences, exg_preferences, GTK_TYPE_DIALOG)

static void
load_exits (ExgPreferences *self)
{
  g_auto(GStrv) groups = NULL;
  g_autoptr(GError) error = NULL;
  const char *path = exg_application_get_config_path (self->app);

  g_clear_pointer (&self->keyfile, g_key_file_unref);
  self->keyfile = g_key_file_new ();
  if (g_file_test (path, G_FILE_TEST_EXISTS)
      && !g_key_file_load_from_file (self->keyfile, path,
                                     G_KEY_FILE_KEEP_COMMENTS | G_KEY_FILE_KEEP_TRANSLATIONS, &error))
    {
      gtk_label_set_text (self->test_label, error->message);
    }

  gtk_list_store_clear (self->exits_store);
  groups = g_key_file_get_groups (self->keyfile, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      const char *group = groups[i];
      g_autofree char *type = NULL;
      g_autofree char *address = NULL;
      g_autofree char *country = NULL;
      g_autofree char *where = NULL;
      int port;

      if (!g_str_has_prefix (group, "exit "))
        continue;
      type = g_key_file_get_string (self->keyfile, group, "type", NULL);
      address = g_key_file_get_string (self->keyfile, group, "address", NULL);
      country = g_key_file_get_string (self->keyfile, group, "country", NULL);
      port = g_key_file_get_integer (self->keyfile, group, "port", NULL);
      if (address != NULL && port > 0)
        where = g_strdup_printf ("%s:%d", address, port);
      else
        where = g_key_file_get_string (self->keyfile, group, "source-address",
                                       NULL);
      gtk_list_store_insert_with_values (self->exits_store, NULL, -1,
                                         EXIT_COL_NAME, group + strlen ("exit "),
                                         EXIT_COL_TYPE, type ? type : "",
                                         EXIT_COL_ADDRESS, where ? where : "",
                                         EXIT_COL_COUNTRY, country ? country : "",
                                         -1);
    }
}

static gboolean
save_exits (ExgPreferences *self)
{
  const char *path = exg_application_get_config_path (self->app);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr(GError) error = NULL;

  if (g_mkdir_with_parents (dir, 0700) != 0
      || !g_key_file_save_to_file (self->keyfile, path, &error))
    {
      g_autofree char *message = NULL;

      /* Translators: %s is a file name, then a reason */
      message = g_strdup_printf (_("Cannot save %s: %s"), path,
                                 error ? error->message : g_strerror (errno));
      gtk_label_set_text (self->test_label, message);
      return FALSE;
    }
  /* the daemon's file may hold a password: keep it private */
  g_chmod (path, 0600);
  exg_application_reload_exits (self->app);
  load_exits (self);
  return TRUE;
}

static char *
selected_name (ExgPreferences *self)
{
  GtkTreeSelection *selection = gtk_tree_view_get_selection (self->exits_view);
  GtkTreeModel *model;
  GtkTreeIter iter;
  char *name = NULL;

  if (gtk_tree_selection_get_selected (selection, &model, &iter))
    gtk_tree_model_get (model, &iter, EXIT_COL_NAME, &name, -1);
  return name;
}

static void
on_exits_selection_changed (GtkTreeSelection *selection,
                            ExgPreferences   *self)
{
  gboolean any = gtk_tree_selection_count_selected_rows (selection) > 0;

  gtk_widget_set_sensitive (self->edit_button, any);
  gtk_widget_set_sensitive (self->remove_button, any);
  gtk_widget_set_sensitive (self->test_button, any);
}

static void
exit_dialog_response_cb (GtkDialog      *dialog,
                         int             response,
                         ExgPreferences *self)
{
  if (response == GTK_RESPONSE_OK)
    {
      if (!exg_exit_dialog_save (EXG_EXIT_DIALOG (dialog), self->keyfile, NULL))
        return;                 /* the dialog shows why; let the user fix it */
      save_exits (self);
    }
  gtk_widget_destroy (GTK_WIDGET (dialog));
}

static void
open_exit_dialog (ExgPreferences *self,
                  const char     *name)
{
  GtkWidget *dialog = exg_exit_dialog_new (GTK_WINDOW (self), self->keyfile,
                                           name);

  g_signal_connect_object (dialog, "response",
                           G_CALLBACK (exit_dialog_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
on_add_button_clicked (GtkButton      *button,
                       ExgPreferences *self)
{
  open_exit_dialog (self, NULL);
}

static void
on_edit_button_clicked (GtkButton      *button,
                        ExgPreferences *self)
{
  g_autofree char *name = selected_name (self);

  if (name != NULL)
    open_exit_dialog (self, name);
}

static void
on_exits_view_row_activated (GtkTreeView       *view,
                             GtkTreePath       *path,
                             GtkTreeViewColumn *column,
                             ExgPreferences    *self)
{
  on_edit_button_clicked (NULL, self);
}

/* Every key of @group, as written (raw values, comments included), from
 * @from to @to; for Undo, which must put back exactly what was there. */
static void
copy_group (GKeyFile   *from,
            GKeyFile   *to,
            const char *group)
{
  g_auto(GStrv) keys = g_key_file_get_keys (from, group, NULL, NULL);
  g_autofree char *comment = g_key_file_get_comment (from, group, NULL, NULL);

  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      g_autofree char *value = g_key_file_get_value (from, group, keys[i], NULL);
      g_autofree char *key_comment = g_key_file_get_comment (from, group,
                                                             keys[i], NULL);

      g_key_file_set_value (to, group, keys[i], value);
      if (key_comment != NULL)
        g_key_file_set_comment (to, group, keys[i], key_comment, NULL);
    }
  if (comment != NULL)
    g_key_file_set_comment (to, group, NULL, comment, NULL);
}

static void
on_remove_button_clicked (GtkButton      *button,
                          ExgPreferences *self)
{
  g_autofree char *name = selected_name (self);
  g_autofree char *group = NULL;
  g_autofree char *text = NULL;

  if (name == NULL)
    return;
  group = g_strdup_printf ("exit %s", name);

  g_clear_pointer (&self->removed, g_key_file_unref);
  self->removed = g_key_file_new ();
  copy_group (self->keyfile, self->removed, group);
  g_free (self->removed_group);
  self->removed_group = g_strdup (group);

  g_key_file_remove_group (self->keyfile, group, NULL);
  if (!save_exits (self))
    return;

  /* Translators: %s is an exit's name */
  text = g_strdup_printf (_("Exit “%s” removed."), name);
  gtk_label_set_text (self->undo_label, text);
  gtk_info_bar_set_revealed (self->undo_bar, TRUE);
}

static void
on_undo_bar_response (GtkInfoBar     *bar,
                      int             response,
                      ExgPreferences *self)
{
  gtk_info_bar_set_revealed (bar, FALSE);
  if (response == UNDO_RESPONSE && self->removed != NULL &&
      !g_key_file_has_group (self->keyfile, self->removed_group))
    {
      copy_group (self->removed, self->keyfile, self->removed_group);
      save_exits (self);
    }
  g_clear_pointer (&self->removed, g_key_file_unref);
  g_clear_pointer (&self->removed_group, g_free);
}

typedef struct {
  ExgPreferences *self;     /* owned ref */
  char           *name;
  char           *address;  /* nullable */
  char           *country;  /* configured, nullable */
  gint64          start;
} TestData;

static void
test_data_free (TestData *data)
{
  g_object_unref (data->self);
  g_free (data->name);
  g_free (data->address);
  g_free (data->country);
  g_free (data);
}

static void
check_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  TestData *data = user_data;
  ExgPreferences *self = data->self;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  gint64 latency_us = g_get_monotonic_time () - data->start;
  gint64 latency_ms = latency_us / 1000;
  gboolean ok = exg_backend_check_finish (EXG_BACKEND (source), result, &error);
  ExgRouter *router = exg_router_registry_lookup (exg_application_get_registry (self->app),
                                                  data->name);

  /* what the Test saw is the router's state too: up at once, or suspect
   * and checked again by the health checker right away */
  if (router != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    exg_router_record_connect (router, ok ? latency_us : -1, ok);

  if (!ok)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          /* Translators: exit name, then why it failed */
          text = g_strdup_printf (_("%s does not work: %s"), data->name,
                                  error->message);
          gtk_label_set_text (self->test_label, text);
        }
    }
  else
    {
      char country[3] = "";
      g_autofree char *where = NULL;
      double throughput = router != NULL ? exg_router_get_observed_throughput (router) : 0;

      if (data->country != NULL && data->country[0] != '\0')
        g_strlcpy (country, data->country, sizeof country);
      else if (data->address != NULL)
        exg_geoip_lookup_string (exg_application_get_geoip (self->app),
                                 data->address, country);

      if (country[0] != '\0')
        {
          g_autofree char *flag = exg_country_dup_flag (country);
          where = g_strdup_printf ("%s %s", flag,
                                   exg_country_get_name (country));
        }
      else
        where = g_strdup (_("country unknown"));
      if (throughput > 0)
        {
          g_autofree char *rate = exg_format_bandwidth (throughput);

          /* Translators: exit name, latency in ms, country, then the rate
           * its recent connections carried, e.g. "2.0 MB/s (16 Mbit/s)" */
          text = g_strdup_printf (_("%s works: %d ms, %s; observed %s"),
                                  data->name, (int) MIN (latency_ms, G_MAXINT),
                                  where, rate);
        }
      else
        {
          /* Translators: exit name, latency in ms, country */
          text = g_strdup_printf (_("%s works: %d ms, %s; no traffic observed yet"),
                                  data->name, (int) MIN (latency_ms, G_MAXINT),
                                  where);
        }
      gtk_label_set_text (self->test_label, text);
    }
  gtk_widget_set_sensitive (self->test_button, TRUE);
  test_data_free (data);
}

static void
on_test_button_clicked (GtkButton      *button,
                        ExgPreferences *self)
{
  g_autofree char *name = selected_name (self);
  g_autofree char *group = NULL;
  g_autofree char *type = NULL;
  g_autoptr(ExgBackend) backend = NULL;
  ExgRouterKind kind;
  TestData *data;

  if (name == NULL)
    return;
  group = g_strdup_printf ("exit %s", name);
  type = g_key_file_get_string (self->keyfile, group, "type", NULL);

  data = g_new0 (TestData, 1);
  data->self = g_object_ref (self);
  data->name = g_strdup (name);
  data->country = g_key_file_get_string (self->keyfile, group, "country", NULL);

  if (type == NULL || !exg_router_kind_from_string (type,
                                                    &kind) || kind == EXG_ROUTER_KIND_DIRECT)
    {
      g_autofree char *source = g_key_file_get_string (self->keyfile, group,
                                                       "source-address", NULL);
      g_autoptr(GInetAddress) address = source ? g_inet_address_new_from_string (source) : NULL;

      backend = exg_backend_direct_new (address);
      data->address = g_steal_pointer (&source);
    }
  else
    {
      g_autofree char *user = g_key_file_get_string (self->keyfile, group,
                                                     "username", NULL);
      g_autofree char *password = g_key_file_get_string (self->keyfile, group,
                                                         "password", NULL);

      data->address = g_key_file_get_string (self->keyfile, group, "address",
                                             NULL);
      backend = exg_backend_upstream_new (kind,
                                          data->address ? data->address : "",
                                          (guint16) g_key_file_get_integer (self->keyfile, group, "port", NULL),
                                          user, password);
    }

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  gtk_widget_set_sensitive (self->test_button, FALSE);
  gtk_label_set_text (self->test_label, _("Testing…"));
  data->start = g_get_monotonic_time ();
  exg_backend_check_async (backend, self->cancellable, check_cb, data);
}

/* which database the countries come from now, or that none does */
static void
update_geoip_status (ExgPreferences *self)
{
  ExgGeoip *geoip = exg_application_get_geoip (self->app);
  const char *path = geoip != NULL ? exg_geoip_get_path (geoip) : NULL;
  g_autofree char *text = NULL;

  if (exg_application_get_geoip_progress (self->app) >= 0)
    text = g_strdup (_("In use: being prepared…"));
  else if (path != NULL)
    /* Translators: %s is the file of the GeoIP database in use */
    text = g_strdup_printf (_("In use: %s"), path);
  else
    text = g_strdup (_("In use: none: countries unknown"));
  gtk_label_set_text (self->geoip_status_label, text);
}

/* A port (or an address confirmed with Enter) is worth applying at
 * once: the app restarts a running listener on it.  Keystrokes are not:
 * the rest waits for the dialog to close. */
static void
apply_now (ExgPreferences *self)
{
  g_settings_apply (self->settings);
  update_geoip_status (self);
}

static void
on_apply_now (GtkWidget      *widget,
              ExgPreferences *self)
{
  apply_now (self);
}

static void
on_geoip_file_set (GtkFileChooserButton *button,
                   ExgPreferences       *self)
{
  g_autofree char *path = gtk_file_chooser_get_filename (GTK_FILE_CHOOSER (button));

  if (path == NULL)
    return;
  gtk_entry_set_text (self->geoip_path_entry, path);
  g_settings_apply (self->settings);
  update_geoip_status (self);
}

static void
status_changed_cb (ExgApplication *app,
                   ExgPreferences *self)
{
  update_geoip_status (self);
}

static void
exg_preferences_dispose (GObject *object)
{
  ExgPreferences *self = EXG_PREFERENCES (object);

  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->keyfile, g_key_file_unref);
  g_clear_pointer (&self->removed, g_key_file_unref);
  g_clear_pointer (&self->removed_group, g_free);
  if (self->settings != NULL)
    g_settings_apply (self->settings);
  g_clear_object (&self->settings);
  g_clear_object (&self->app);

  G_OBJECT_CLASS (exg_preferences_parent_class)->dispose (object);
}

static void
exg_preferences_class_init (ExgPreferencesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = exg_preferences_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/exitgate/Exitgate/exg-preferences.ui");
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        listen_address_entry);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        listen_port_spin);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        start_proxy_switch);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        start_hidden_switch);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        handshake_timeout_spin);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        max_connections_spin);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        history_size_spin);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        geoip_path_entry);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        config_path_label);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        exits_store);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        exits_view);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        edit_button);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        remove_button);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        test_button);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        test_label);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        undo_bar);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        undo_label);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        notebook);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        geoip_chooser);
  gtk_widget_class_bind_template_child (widget_class, ExgPreferences,
                                        geoip_status_label);
  gtk_widget_class_bind_template_callback (widget_class, on_apply_now);
  gtk_widget_class_bind_template_callback (widget_class, on_geoip_file_set);
  gtk_widget_class_bind_template_callback (widget_class,
                                           on_undo_bar_response);
  gtk_widget_class_bind_template_callback (widget_class,
                                           on_exits_selection_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_add_button_clicked);
  gtk_widget_class_bind_template_callback (widget_class,
                                           on_edit_button_clicked);
  gtk_widget_class_bind_template_callback (widget_class,
                                           on_remove_button_clicked);
  gtk_widget_class_bind_template_callback (widget_class,
                                           on_test_button_clicked);
  gtk_widget_class_bind_template_callback (widget_class,
                                           on_exits_view_row_activated);
}

static void
response_cb (GtkDialog      *dialog,
             int             response,
             ExgPreferences *self)
{
  g_settings_apply (self->settings);
  if (response == GTK_RESPONSE_DELETE_EVENT || response == GTK_RESPONSE_CLOSE)
    gtk_widget_destroy (GTK_WIDGET (dialog));
}

static gboolean
close_accel_cb (ExgPreferences *self)
{
  gtk_window_close (GTK_WINDOW (self));
  return TRUE;
}

static void
exg_preferences_init (ExgPreferences *self)
{
  g_autoptr(GtkAccelGroup) accels = gtk_accel_group_new ();

  gtk_widget_init_template (GTK_WIDGET (self));
  g_signal_connect (self, "response", G_CALLBACK (response_cb), self);
  /* Ctrl+W closes it, like the main window (Escape does too, as a dialog) */
  gtk_accel_group_connect (accels, GDK_KEY_w, GDK_CONTROL_MASK, 0,
                           g_cclosure_new_swap (G_CALLBACK (close_accel_cb),
                                                self, NULL));
  gtk_window_add_accel_group (GTK_WINDOW (self), accels);
}

GtkWidget *
exg_preferences_new (ExgApplication *app,
                     GtkWindow      *parent)
{
  ExgPreferences *self;
  GSettings *settings;
  g_autofree char *where = NULL;

  g_return_val_if_fail (EXG_IS_APPLICATION (app), NULL);

  self = g_object_new (EXG_TYPE_PREFERENCES,
                       "use-header-bar", TRUE,
                       "transient-for", parent,
                       "application", app,
                       NULL);
  self->app = g_object_ref (app);
  /* changes apply when the dialog closes: the listener would otherwise
   * restart on every keystroke of an address (ExgApplication follows
   * the keys) */
  self->settings = g_settings_new (APPLICATION_ID);
  g_settings_delay (self->settings);
  settings = self->settings;

  g_settings_bind (settings, "listen-address", self->listen_address_entry,
                   "text", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "listen-port", self->listen_port_spin, "value",
                   G_SETTINGS_BIND_DEFAULT);
  /* after the binding has written the new port */
  g_signal_connect_object (self->listen_port_spin, "notify::value",
                           G_CALLBACK (apply_now), self,
                           G_CONNECT_SWAPPED);
  g_settings_bind (settings, "start-proxy", self->start_proxy_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "start-hidden", self->start_hidden_switch,
                   "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "handshake-timeout", self->handshake_timeout_spin,
                   "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "max-connections", self->max_connections_spin,
                   "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "history-size", self->history_size_spin, "value",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "geoip-path", self->geoip_path_entry, "text",
                   G_SETTINGS_BIND_DEFAULT);

  /* Translators: %s is a file name */
  where = g_strdup_printf (_("Exits are kept in %s, the same file the exitgated daemon reads."),
                           exg_application_get_config_path (app));
  gtk_label_set_text (self->config_path_label, where);
  load_exits (self);

  {
    GtkFileFilter *filter = gtk_file_filter_new ();

    gtk_file_filter_set_name (filter, _("GeoIP databases"));
    gtk_file_filter_add_pattern (filter, "*.mmdb");
    gtk_file_filter_add_pattern (filter, "geoip");
    gtk_file_chooser_add_filter (self->geoip_chooser, filter);
  }
  g_signal_connect_object (app, "status-changed",
                           G_CALLBACK (status_changed_cb), self, 0);
  update_geoip_status (self);

  /* Tor has a page of its own: it needs the app, which a template child
   * cannot be handed */
  {
    GtkWidget *tor = exg_tor_prefs_new (app);

    gtk_buildable_set_name (GTK_BUILDABLE (tor), "tor_prefs");
    gtk_notebook_append_page (self->notebook, tor,
                              gtk_label_new (C_("preferences page", "Tor")));
  }

  return GTK_WIDGET (self);
}
