/* exg-application.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-application-private.h"

#include "exg-country-list.h"
#include "exg-view-util.h"

#include <glib/gi18n.h>
#include <glib-unix.h>

static guint signals[N_SIGNALS];

void
exg_application_emit_ (ExgApplication *self,
                       guint           signal)
{
  g_signal_emit (self, signals[signal], 0);
}

G_DEFINE_FINAL_TYPE (ExgApplication, exg_application, GTK_TYPE_APPLICATION)

/* EXITGATE_TRACE=1: one line per state change on stdout, for
 * out-of-process tests; off by default (stdout is a GTest's TAP stream) */
void
exg_application_trace_ (ExgApplication *self,
                        const char     *format,
                        ...)
{
  va_list args;
  g_autofree char *line = NULL;

  if (!self->trace)
    return;

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);
  g_print ("EXITGATE-EVENT %s\n", line);
}

static char *
format_socket_address (GSocketAddress *address)
{
  GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS (address);
  GInetAddress *ip = g_inet_socket_address_get_address (inet);
  g_autofree char *host = g_inet_address_to_string (ip);
  guint16 port = g_inet_socket_address_get_port (inet);

  if (g_inet_address_get_family (ip) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", host, port);
  return g_strdup_printf ("%s:%u", host, port);
}

char *
exg_application_dup_listen_address (ExgApplication *self)
{
  g_autofree char *host = NULL;
  guint16 port;

  g_return_val_if_fail (EXG_IS_APPLICATION (self), NULL);

  if (self->opt_listen != NULL)
    return g_strdup (self->opt_listen);

  host = g_settings_get_string (self->settings, "listen-address");
  g_settings_get (self->settings, "listen-port", "q", &port);
  if (strchr (host, ':') != NULL && host[0] != '[')
    return g_strdup_printf ("[%s]:%u", host, port);
  return g_strdup_printf ("%s:%u", host, port);
}

static void
update_system_proxy (ExgApplication *self)
{
  gboolean want = g_settings_get_boolean (self->settings, "system-proxy");
  g_autoptr(GError) error = NULL;

  if (want && self->bound_address != NULL)
    {
      GPtrArray *addresses = exg_server_get_listen_addresses (exg_engine_get_server (self->engine));
      GInetSocketAddress *inet;
      g_autofree char *host = NULL;
      GInetAddress *ip;

      if (addresses == NULL || addresses->len == 0)
        return;
      inet = G_INET_SOCKET_ADDRESS (g_ptr_array_index (addresses, 0));
      ip = g_inet_socket_address_get_address (inet);
      /* a wildcard listener is reachable on loopback */
      if (g_inet_address_get_is_any (ip))
        host = g_strdup (g_inet_address_get_family (ip) == G_SOCKET_FAMILY_IPV6 ? "::1" : "127.0.0.1");
      else
        host = g_inet_address_to_string (ip);

      if (!exg_system_proxy_enable (self->system_proxy, host,
                                    g_inet_socket_address_get_port (inet), &error))
        {
          g_message ("Cannot set the system proxy: %s", error->message);
          g_settings_set_boolean (self->settings, "system-proxy", FALSE);
          return;
        }
    }
  else
    {
      /* also when the proxy is off: never leave the desktop pointing at
       * a port nobody listens on */
      exg_system_proxy_restore (self->system_proxy);
    }
}

static void
set_proxy_state (ExgApplication *self,
                 gboolean        enabled)
{
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self),
                                                "proxy-enabled");

  g_simple_action_set_state (G_SIMPLE_ACTION (action),
                             g_variant_new_boolean (enabled));
  exg_application_trace_ (self, "proxy-enabled %s %s", enabled ? "true" : "false",
         self->bound_address ? self->bound_address : "-");
  update_system_proxy (self);
  g_signal_emit (self, signals[STATUS_CHANGED], 0);
}

static gboolean
start_listening (ExgApplication *self)
{
  g_autofree char *address = exg_application_dup_listen_address (self);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  g_clear_error (&self->listen_error);
  g_clear_pointer (&self->bound_address, g_free);

  if (exg_server_get_listening (exg_engine_get_server (self->engine)))
    exg_server_stop (exg_engine_get_server (self->engine));

  if (!exg_server_listen_string (exg_engine_get_server (self->engine), address, &bound, &error))
    {
      g_message ("%s", error->message);
      self->listen_error = g_steal_pointer (&error);
      set_proxy_state (self, FALSE);
      return FALSE;
    }

  self->bound_address = bound != NULL ? format_socket_address (bound) : g_strdup (address);
  set_proxy_state (self, TRUE);
  return TRUE;
}

static void
stop_listening (ExgApplication *self)
{
  exg_server_stop (exg_engine_get_server (self->engine));
  g_clear_pointer (&self->bound_address, g_free);
  g_clear_error (&self->listen_error);
  set_proxy_state (self, FALSE);
}

static void
proxy_enabled_change_state (GSimpleAction *action,
                            GVariant      *value,
                            gpointer       user_data)
{
  ExgApplication *self = user_data;

  if (g_variant_get_boolean (value))
    start_listening (self);
  else
    stop_listening (self);
}

static void
update_selection (ExgApplication *self)
{
  g_autofree char *country = g_settings_get_string (self->settings,
                                                    "exit-country");
  g_autofree char *range = g_settings_get_string (self->settings, "ip-range");
  ExgSelection sel;

  exg_selection_init_any (&sel);
  if (!exg_selection_set_country (&sel, country))
    exg_selection_set_country (&sel, NULL);
  if (range[0] != '\0'
      && !exg_selection_parse_range (range, &sel.range_start, &sel.range_end))
    {
      ExgSelection any;

      exg_selection_init_any (&any);
      sel.range_start = any.range_start;
      sel.range_end = any.range_end;
    }
  sel.min_bandwidth = g_settings_get_uint64 (self->settings, "min-bandwidth");

  self->selection = sel;
  exg_server_set_default_selection (exg_engine_get_server (self->engine), &sel);
  exg_application_trace_ (self, "exit-country %s", sel.country);
  g_signal_emit (self, signals[SELECTION_CHANGED], 0);
}

/* Converting tor-geoipdb takes a moment on first use: the window shows
 * how far it is.  A database found ready reports only its end. */
static void
geoip_progress_cb (double   fraction,
                   gpointer user_data)
{
  ExgApplication *self = user_data;
  int percent = (int) (fraction * 100);

  if (percent == self->geoip_percent
      || (self->geoip_percent < 0 && percent >= 100))
    return;
  self->geoip_percent = percent;
  exg_application_trace_ (self, "geoip-progress %d", percent);
  g_signal_emit (self, signals[STATUS_CHANGED], 0);
}

static void
geoip_loaded_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(ExgApplication) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(ExgGeoip) geoip = exg_geoip_load_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;   /* shut down, or replaced by a newer search */
  g_clear_object (&self->geoip_load);
  self->geoip_percent = -1;
  g_signal_emit (self, signals[STATUS_CHANGED], 0);
  if (geoip == NULL)
    {
      g_message ("GeoIP: %s", error->message);
      return;
    }

  g_set_object (&self->geoip, geoip);
  exg_application_trace_ (self, "geoip-loaded %s", exg_geoip_get_path (geoip) ?: "none");
  /* exits without a configured country get theirs from the database */
  if (exg_geoip_get_path (geoip) != NULL)
    exg_application_reload_exits (self);
}

static void
load_geoip (ExgApplication *self)
{
  g_autofree char *path = g_strdup (self->opt_geoip);

  if (self->geoip_load != NULL)
    g_cancellable_cancel (self->geoip_load);
  g_clear_object (&self->geoip_load);
  self->geoip_percent = -1;
  g_clear_object (&self->geoip);

  if (path == NULL)
    path = g_settings_get_string (self->settings, "geoip-path");

  if (path[0] != '\0')
    {
      g_autoptr(GError) error = NULL;

      self->geoip = exg_geoip_new_from_file (path, &error);
      if (self->geoip == NULL)
        {
          g_message ("GeoIP database %s: %s; countries of exits are unknown",
                     path, error->message);
          self->geoip = exg_geoip_new ();
        }
      return;
    }

  /* searching (and maybe converting tor's geoip) takes a while: start
   * with unknown countries, fill them in when it is done */
  self->geoip = exg_geoip_new ();
  self->geoip_load = g_cancellable_new ();
  g_signal_connect_object (self->cancellable, "cancelled",
                           G_CALLBACK (g_cancellable_cancel),
                           self->geoip_load, G_CONNECT_SWAPPED);
  exg_geoip_load_async (NULL, geoip_progress_cb, self, self->geoip_load,
                        geoip_loaded_cb, g_object_ref (self));
}

static void
settings_changed_cb (GSettings      *settings,
                     const char     *key,
                     ExgApplication *self)
{
  if (g_str_equal (key, "exit-country") || g_str_equal (key, "ip-range")
      || g_str_equal (key, "min-bandwidth"))
    update_selection (self);
  else if (g_str_equal (key, "listen-address")
           || g_str_equal (key, "listen-port"))
    {
      /* follow the preferences now; also retry after a failure (port in
       * use: the info bar sent the user there to pick another) */
      if (self->opt_listen == NULL
          && (exg_server_get_listening (exg_engine_get_server (self->engine)) || self->listen_error != NULL))
        start_listening (self);
    }
  else if (g_str_equal (key, "handshake-timeout"))
    exg_server_set_handshake_timeout (exg_engine_get_server (self->engine),
                                      g_settings_get_uint (settings, key));
  else if (g_str_equal (key, "max-connections"))
    exg_server_set_max_connections (exg_engine_get_server (self->engine),
                                    g_settings_get_uint (settings, key));
  else if (g_str_equal (key, "geoip-path") && self->opt_geoip == NULL)
    {
      load_geoip (self);
      exg_application_reload_exits (self);
    }
  else if (g_str_equal (key, "history-size"))
    exg_activity_set_history_size (exg_engine_get_activity (self->engine),
                                   g_settings_get_uint (settings, key));
  else if (g_str_equal (key, "system-proxy"))
    {
      exg_application_trace_ (self, "system-proxy %s",
             g_settings_get_boolean (settings, key) ? "true" : "false");
      update_system_proxy (self);
    }
  else if (g_str_equal (key, "config-path") && self->opt_config == NULL)
    {
      g_autofree char *path = g_settings_get_string (settings, key);

      g_free (self->config_path);
      self->config_path = path[0] != '\0' ? g_steal_pointer (&path) : exg_config_default_path ();
      exg_application_reload_exits (self);
    }
}

static void
quit_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  ExgApplication *self = user_data;
  GList *windows = gtk_application_get_windows (GTK_APPLICATION (self));

  exg_application_trace_ (self, "quit");
  /* destroying the windows lets gtk_application run out and return */
  while (windows != NULL)
    {
      GList *next = windows->next;

      gtk_widget_destroy (GTK_WIDGET (windows->data));
      windows = next;
    }
  g_application_quit (G_APPLICATION (self));
}

/* SIGTERM (logout) or SIGINT: quit properly, so the desktop's proxy
 * settings are put back */
static gboolean
quit_signal_cb (gpointer user_data)
{
  g_action_group_activate_action (G_ACTION_GROUP (user_data), "quit", NULL);
  return G_SOURCE_CONTINUE;
}

static const GActionEntry app_actions[] = {
  { "proxy-enabled", NULL, NULL, "false", proxy_enabled_change_state },
  { "quit", quit_activated },
};

static void
exg_application_startup (GApplication *application)
{
  ExgApplication *self = EXG_APPLICATION (application);
  g_autoptr(GAction) country_action = NULL;
  g_autoptr(GAction) system_proxy_action = NULL;
  g_autoptr(GtkCssProvider) css = NULL;
  g_autofree char *config_path = NULL;
  static const char *quit_accels[] = { "<Primary>q", NULL };
  static const char *prefs_accels[] = { "<Primary>comma", NULL };
  static const char *search_accels[] = { "<Primary>f", NULL };
  static const char *close_accels[] = { "<Primary>w", NULL };

  G_APPLICATION_CLASS (exg_application_parent_class)->startup (application);

  self->trace = g_strcmp0 (g_getenv ("EXITGATE_TRACE"), "1") == 0;
  self->settings = g_settings_new (APPLICATION_ID);
  self->cancellable = g_cancellable_new ();
  {
    g_autoptr(ExgActivity) activity =
      exg_activity_new (g_settings_get_uint (self->settings, "history-size"));

    self->engine = exg_engine_new (activity);
  }
  exg_server_set_handshake_timeout (exg_engine_get_server (self->engine),
                                    g_settings_get_uint (self->settings,
                                                         "handshake-timeout"));
  exg_server_set_max_connections (exg_engine_get_server (self->engine),
                                  g_settings_get_uint (self->settings,
                                                       "max-connections"));

  load_geoip (self);

  config_path = self->opt_config ? g_strdup (self->opt_config)
                                 : g_settings_get_string (self->settings,
                                                          "config-path");
  self->config_path = config_path[0] != '\0' ? g_steal_pointer (&config_path)
                                             : exg_config_default_path ();
  exg_application_reload_exits (self);
  exg_engine_start (self->engine, EXG_HEALTH_DEFAULT_INTERVAL);
  /* routers go up and down without changing the registry's list:
   * recounted every second, "changed" only when a count differs */
  self->countries = exg_country_list_new (exg_engine_get_registry (self->engine),
                                          1000);

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions,
                                   G_N_ELEMENTS (app_actions), self);
  /* the GSettings key is the state: window, tray and D-Bus see one value */
  country_action = g_settings_create_action (self->settings, "exit-country");
  g_action_map_add_action (G_ACTION_MAP (self), country_action);
  system_proxy_action = g_settings_create_action (self->settings,
                                                  "system-proxy");
  g_action_map_add_action (G_ACTION_MAP (self), system_proxy_action);

  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit",
                                         quit_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self),
                                         "app.preferences", prefs_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.search",
                                         search_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.close",
                                         close_accels);

  css = gtk_css_provider_new ();
  gtk_css_provider_load_from_resource (css, "/org/exitgate/Exitgate/style.css");
  gtk_style_context_add_provider_for_screen (gdk_screen_get_default (),
                                             GTK_STYLE_PROVIDER (css),
                                             GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);

  self->system_proxy = exg_system_proxy_new (self->settings);
  update_selection (self);
  g_signal_connect_object (self->settings, "changed",
                           G_CALLBACK (settings_changed_cb), self, 0);

  if (g_settings_get_boolean (self->settings, "start-proxy"))
    start_listening (self);

  /* the windows' actions, and the tray */
  exg_application_ui_startup_ (self);

  self->sigterm_id = g_unix_signal_add (SIGTERM, quit_signal_cb, self);
  self->sigint_id = g_unix_signal_add (SIGINT, quit_signal_cb, self);
}

static void
exg_application_activate (GApplication *application)
{
  exg_application_ui_activate_ (EXG_APPLICATION (application));
}

static void
exg_application_shutdown (GApplication *application)
{
  ExgApplication *self = EXG_APPLICATION (application);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->sigterm_id, g_source_remove);
  g_clear_handle_id (&self->sigint_id, g_source_remove);
  g_clear_handle_id (&self->no_tray_id, g_source_remove);
  /* put the user's proxy settings back; the key stays set, so the next
   * launch makes us the system proxy again */
  if (self->system_proxy != NULL)
    exg_system_proxy_restore (self->system_proxy);
  /* closes connections, and hands stream attachment back to a tor */
  if (self->engine != NULL)
    exg_engine_stop (self->engine);

  G_APPLICATION_CLASS (exg_application_parent_class)->shutdown (application);
}

static int
exg_application_handle_local_options (GApplication *application,
                                      GVariantDict *options)
{
  ExgApplication *self = EXG_APPLICATION (application);

  g_variant_dict_lookup (options, "hidden", "b", &self->opt_hidden);
  g_variant_dict_lookup (options, "config", "^ay", &self->opt_config);
  g_variant_dict_lookup (options, "geoip", "^ay", &self->opt_geoip);
  g_variant_dict_lookup (options, "listen", "s", &self->opt_listen);

  return -1;
}

static void
exg_application_dispose (GObject *object)
{
  ExgApplication *self = EXG_APPLICATION (object);

  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->tray);
  g_clear_object (&self->countries);
  g_clear_object (&self->system_proxy);
  g_clear_object (&self->engine);
  g_clear_object (&self->geoip_load);
  g_clear_object (&self->geoip);
  g_clear_object (&self->settings);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (exg_application_parent_class)->dispose (object);
}

static void
exg_application_finalize (GObject *object)
{
  ExgApplication *self = EXG_APPLICATION (object);

  g_free (self->opt_config);
  g_free (self->opt_geoip);
  g_free (self->opt_listen);
  g_free (self->config_path);
  g_free (self->bound_address);
  g_clear_error (&self->listen_error);
  g_clear_error (&self->exits_error);

  G_OBJECT_CLASS (exg_application_parent_class)->finalize (object);
}

static void
exg_application_class_init (ExgApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = exg_application_dispose;
  object_class->finalize = exg_application_finalize;
  app_class->startup = exg_application_startup;
  app_class->activate = exg_application_activate;
  app_class->shutdown = exg_application_shutdown;
  app_class->handle_local_options = exg_application_handle_local_options;

  /* listening state, bound address or an error changed */
  signals[STATUS_CHANGED] = g_signal_new ("status-changed",
                                          G_TYPE_FROM_CLASS (klass),
                                          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                          G_TYPE_NONE, 0);
  signals[SELECTION_CHANGED] = g_signal_new ("selection-changed",
                                             G_TYPE_FROM_CLASS (klass),
                                             G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                             G_TYPE_NONE, 0);
  /* the tor client was replaced, or its network switched on */
  signals[TOR_CHANGED] = g_signal_new ("tor-changed",
                                       G_TYPE_FROM_CLASS (klass),
                                       G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                       G_TYPE_NONE, 0);
}

static void
exg_application_init (ExgApplication *self)
{
  static const GOptionEntry entries[] = {
    { "hidden", 0, 0, G_OPTION_ARG_NONE, NULL,
      N_("Start in the tray, without showing the window"), NULL },
    { "config", 0, 0, G_OPTION_ARG_FILENAME, NULL,
      N_("Read the exits from FILE (for this run)"), N_("FILE") },
    { "geoip", 0, 0, G_OPTION_ARG_FILENAME, NULL,
      N_("Use the GeoIP database FILE (for this run)"), N_("FILE") },
    { "listen", 0, 0, G_OPTION_ARG_STRING, NULL,
      N_("Listen on ADDR:PORT (for this run)"), N_("ADDR:PORT") },
    { NULL }
  };

  self->geoip_percent = -1;

  exg_selection_init_any (&self->selection);
  g_application_add_main_option_entries (G_APPLICATION (self), entries);
}

ExgApplication *
exg_application_new (void)
{
  return g_object_new (EXG_TYPE_APPLICATION,
                       "application-id", APPLICATION_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       NULL);
}

GSettings *
exg_application_get_settings (ExgApplication *self)
{
  g_return_val_if_fail (EXG_IS_APPLICATION (self), NULL);
  return self->settings;
}

ExgServer *
exg_application_get_server (ExgApplication *self)
{
  g_return_val_if_fail (EXG_IS_APPLICATION (self), NULL);
  return exg_engine_get_server (self->engine);
}

ExgRouterRegistry *
exg_application_get_registry (ExgApplication *self)
{
  g_return_val_if_fail (EXG_IS_APPLICATION (self), NULL);
  return exg_engine_get_registry (self->engine);
}

ExgCountryList *
exg_application_get_country_list (ExgApplication *self)
{
  g_return_val_if_fail (EXG_IS_APPLICATION (self), NULL);
  return self->countries;
}

ExgActivity *
exg_application_get_activity (ExgApplication *self)
{
  g_return_val_if_fail (EXG_IS_APPLICATION (self), NULL);
  return exg_engine_get_activity (self->engine);
}

/**
 * exg_application_get_geoip_progress:
 *
 * Returns: how far the conversion of tor-geoipdb is, in percent, or -1
 * when no conversion is under way
 */
int
exg_application_get_geoip_progress (ExgApplication *self)
{
  g_return_val_if_fail (EXG_IS_APPLICATION (self), -1);

  return self->geoip_percent;
}

ExgGeoip *
exg_application_get_geoip (ExgApplication *self)
{
  g_return_val_if_fail (EXG_IS_APPLICATION (self), NULL);
  return self->geoip;
}

const char *
exg_application_get_config_path (ExgApplication *self)
{
  g_return_val_if_fail (EXG_IS_APPLICATION (self), NULL);
  return self->config_path;
}

const char *
exg_application_get_bound_address (ExgApplication *self)
{
  g_return_val_if_fail (EXG_IS_APPLICATION (self), NULL);
  return self->bound_address;
}

const GError *
exg_application_get_listen_error (ExgApplication *self)
{
  g_return_val_if_fail (EXG_IS_APPLICATION (self), NULL);
  return self->listen_error;
}

const GError *
exg_application_get_exits_error (ExgApplication *self)
{
  g_return_val_if_fail (EXG_IS_APPLICATION (self), NULL);
  return self->exits_error;
}

void
exg_application_get_selection (ExgApplication *self,
                               ExgSelection   *sel)
{
  g_return_if_fail (EXG_IS_APPLICATION (self));
  *sel = self->selection;
}
