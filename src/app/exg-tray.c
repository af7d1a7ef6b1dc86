/* exg-tray.c
 *
 * The indicator's GtkMenu lives outside any window, so "app.*" action
 * names would not resolve: the application is inserted as the menu's
 * "app" group, and the menu is shown before it is handed to the
 * indicator (dbusmenu exports visible items only).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-tray.h"

#include "exg-application.h"
#include "exg-country.h"

#include <glib/gi18n.h>

#if HAVE_AYATANA
#include <libayatana-appindicator/app-indicator.h>
#endif

struct _ExgTray
{
  GObject         parent_instance;

  ExgApplication *app;          /* unowned: the app owns the tray */
#if HAVE_AYATANA
  AppIndicator   *indicator;    /* owned */
  GtkMenu        *menu;         /* owned */
  GtkCheckMenuItem *proxy_item; /* owned by menu */
  GtkMenuShell   *country_menu; /* owned by menu */
  guint           rebuild_id;
  guint           updating;     /* > 0 while the tray sets proxy_item */
#endif
  gboolean        available;
};

enum {
  PROP_0,
  PROP_AVAILABLE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (ExgTray, exg_tray, G_TYPE_OBJECT)

#if HAVE_AYATANA
static void
update_icon (ExgTray *self)
{
  g_autoptr(GVariant) state = g_action_group_get_action_state (G_ACTION_GROUP (self->app),
                                                               "proxy-enabled");
  gboolean on = state != NULL && g_variant_get_boolean (state);

  app_indicator_set_icon_full (self->indicator,
                               on ? "exitgate-on-symbolic" : "exitgate-off-symbolic",
                               on ? _("Proxy on") : _("Proxy off"));
}

/* "Proxy enabled" shows the proxy's real state.  It is not bound with
 * action-name: a GtkCheckMenuItem toggles itself before its action runs,
 * and when listening fails the action's state stays off, so no
 * state-changed would come back to uncheck it.  The item is set from the
 * action's state after every attempt instead, as the window's switch is. */
static void
sync_proxy_item (ExgTray *self)
{
  g_autoptr(GVariant) state = g_action_group_get_action_state (G_ACTION_GROUP (self->app),
                                                               "proxy-enabled");
  gboolean on = state != NULL && g_variant_get_boolean (state);

  self->updating++;
  gtk_check_menu_item_set_active (self->proxy_item, on);
  self->updating--;
}

static void
proxy_item_toggled_cb (GtkCheckMenuItem *item,
                       ExgTray          *self)
{
  if (self->updating > 0)
    return;

  g_action_group_change_action_state (G_ACTION_GROUP (self->app),
                                      "proxy-enabled",
                                      g_variant_new_boolean (gtk_check_menu_item_get_active (item)));
  sync_proxy_item (self);
}

static gboolean rebuild_idle (gpointer user_data);

static void
action_state_changed_cb (GActionGroup *group,
                         const char   *name,
                         GVariant     *value,
                         ExgTray      *self)
{
  if (g_str_equal (name, "proxy-enabled"))
    {
      sync_proxy_item (self);
      update_icon (self);
    }
  else if (g_str_equal (name, "exit-country") && self->rebuild_id == 0)
    /* not from here: the item clicked may be the one that says so */
    self->rebuild_id = g_idle_add (rebuild_idle, self);
}

/* also when a start failed and the state did not change */
static void
status_changed_cb (ExgApplication *app,
                   ExgTray        *self)
{
  sync_proxy_item (self);
  update_icon (self);
}

/* A greyed-out item gets no action: an actionable item takes its
 * sensitivity from the action, which is enabled.  It shows whether it is
 * the country in force by hand, and the menu is rebuilt when that
 * changes. */
static void
add_country_item (ExgTray    *self,
                  const char *code,
                  const char *label,
                  gboolean    sensitive,
                  const char *chosen)
{
  GtkWidget *item = gtk_check_menu_item_new_with_label (label);

  gtk_check_menu_item_set_draw_as_radio (GTK_CHECK_MENU_ITEM (item), TRUE);
  if (sensitive)
    {
      gtk_actionable_set_action_name (GTK_ACTIONABLE (item), "app.exit-country");
      gtk_actionable_set_action_target (GTK_ACTIONABLE (item), "s", code);
    }
  else
    {
      gtk_check_menu_item_set_active (GTK_CHECK_MENU_ITEM (item),
                                      g_ascii_strcasecmp (code, chosen) == 0);
      gtk_widget_set_sensitive (item, FALSE);
    }
  gtk_widget_show (item);
  gtk_menu_shell_append (self->country_menu, item);
}

/* "Any country", then every country that has exits, by name (the
 * application's ExgCountryList, which the window lists too); those whose
 * exits are all down stay listed, greyed out, as in the window */
static void
rebuild_countries (ExgTray *self)
{
  ExgCountryList *countries = exg_application_get_country_list (self->app);
  guint n_rows = exg_country_list_get_n_rows (countries);
  g_autoptr(GList) children = NULL;
  g_autoptr(GVariant) state = g_action_group_get_action_state (G_ACTION_GROUP (self->app),
                                                               "exit-country");
  const char *chosen = state != NULL ? g_variant_get_string (state, NULL) : "";

  children = gtk_container_get_children (GTK_CONTAINER (self->country_menu));
  for (GList *l = children; l != NULL; l = l->next)
    gtk_widget_destroy (l->data);

  add_country_item (self, "", _("Any country"), TRUE, chosen);
  for (guint i = 0; i < n_rows; i++)
    {
      const ExgCountryRow *row = exg_country_list_get_row (countries, i);
      g_autofree char *flag = exg_country_dup_flag (row->code);
      g_autofree char *label = g_strdup_printf ("%s %s", flag, row->name);

      add_country_item (self, row->code, g_strstrip (label),
                        !exg_country_row_all_down (row), chosen);
    }
}

static gboolean
rebuild_idle (gpointer user_data)
{
  ExgTray *self = user_data;

  self->rebuild_id = 0;
  rebuild_countries (self);
  return G_SOURCE_REMOVE;
}

static void
countries_changed_cb (ExgCountryList *countries,
                      ExgTray        *self)
{
  rebuild_countries (self);
}

static void
connection_changed_cb (AppIndicator *indicator,
                       gboolean      connected,
                       ExgTray      *self)
{
  if (self->available == connected)
    return;
  self->available = connected;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_AVAILABLE]);
}

/* The GtkStatusIcon fallback of libayatana-appindicator3 (0.5.92) looks
 * for the indicator's theme path in the default icon theme's search path
 * with "for (i = 0; i < n || path[i] == NULL; i++)": when the path is not
 * there yet, that loop reads past the end of the array (one word under
 * glibc malloc, on to an unmapped page under AddressSanitizer).  With the
 * path already in the search path it stops at the match, and the status
 * icon finds our icons all the same. */
static void
add_to_default_icon_theme (const char *dir)
{
  GtkIconTheme *theme = gtk_icon_theme_get_default ();
  g_auto(GStrv) path = NULL;

  gtk_icon_theme_get_search_path (theme, &path, NULL);
  if (!g_strv_contains ((const char * const *) path, dir))
    gtk_icon_theme_append_search_path (theme, dir);
}

/* Running from the build tree (or its tests): the symbolic icons are in
 * the source tree, not installed */
static void
set_icon_theme_path (ExgTray *self)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *exe_dir = exe ? g_path_get_dirname (exe) : NULL;
  const char *build_root = g_getenv ("EXG_BUILD_ROOT");

  if (g_strcmp0 (exe_dir, EXG_UNINSTALLED_EXE_DIR) == 0
      || (build_root != NULL && g_str_has_prefix (exe_dir ? exe_dir : "",
                                                  build_root)))
    {
      if (g_file_test (EXG_UNINSTALLED_ICONS_DIR, G_FILE_TEST_IS_DIR))
        {
          add_to_default_icon_theme (EXG_UNINSTALLED_ICONS_DIR);
          app_indicator_set_icon_theme_path (self->indicator,
                                             EXG_UNINSTALLED_ICONS_DIR);
        }
    }
}
#endif /* HAVE_AYATANA */

gboolean
exg_tray_get_available (ExgTray *self)
{
  g_return_val_if_fail (EXG_IS_TRAY (self), FALSE);
  return self->available;
}

static void
exg_tray_get_property (GObject    *object,
                       guint       prop_id,
                       GValue     *value,
                       GParamSpec *pspec)
{
  ExgTray *self = EXG_TRAY (object);

  switch (prop_id)
    {
    case PROP_AVAILABLE:
      g_value_set_boolean (value, self->available);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
exg_tray_dispose (GObject *object)
{
#if HAVE_AYATANA
  ExgTray *self = EXG_TRAY (object);

  g_clear_handle_id (&self->rebuild_id, g_source_remove);
  g_clear_object (&self->indicator);
  if (self->menu != NULL)
    {
      gtk_widget_destroy (GTK_WIDGET (self->menu));
      g_clear_object (&self->menu);
    }
#endif

  G_OBJECT_CLASS (exg_tray_parent_class)->dispose (object);
}

static void
exg_tray_class_init (ExgTrayClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = exg_tray_get_property;
  object_class->dispose = exg_tray_dispose;

  properties[PROP_AVAILABLE] =
    g_param_spec_boolean ("available", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
exg_tray_init (ExgTray *self)
{
}

ExgTray *
exg_tray_new (ExgApplication *app)
{
  ExgTray *self = g_object_new (EXG_TYPE_TRAY, NULL);
#if HAVE_AYATANA
  g_autoptr(GtkBuilder) builder = NULL;

  self->app = app;
  builder = gtk_builder_new_from_resource ("/org/exitgate/Exitgate/exg-tray-menu.ui");
  self->menu = GTK_MENU (g_object_ref_sink (gtk_builder_get_object (builder, "tray_menu")));
  self->country_menu = GTK_MENU_SHELL (gtk_builder_get_object (builder, "country_menu"));
  self->proxy_item = GTK_CHECK_MENU_ITEM (gtk_builder_get_object (builder, "proxy_item"));
  g_signal_connect_object (self->proxy_item, "toggled",
                           G_CALLBACK (proxy_item_toggled_cb), self, 0);
  gtk_widget_insert_action_group (GTK_WIDGET (self->menu), "app",
                                  G_ACTION_GROUP (app));

  self->indicator = app_indicator_new ("exitgate", "exitgate-off-symbolic",
                                       APP_INDICATOR_CATEGORY_APPLICATION_STATUS);
  app_indicator_set_title (self->indicator, _("Exitgate"));
  set_icon_theme_path (self);
  g_signal_connect_object (self->indicator, "connection-changed",
                           G_CALLBACK (connection_changed_cb), self, 0);

  rebuild_countries (self);
  g_signal_connect_object (exg_application_get_country_list (app), "changed",
                           G_CALLBACK (countries_changed_cb), self, 0);

  gtk_widget_show_all (GTK_WIDGET (self->menu));
  app_indicator_set_menu (self->indicator, self->menu);
  app_indicator_set_status (self->indicator, APP_INDICATOR_STATUS_ACTIVE);

  g_signal_connect_object (app, "action-state-changed",
                           G_CALLBACK (action_state_changed_cb), self, 0);
  g_signal_connect_object (app, "status-changed",
                           G_CALLBACK (status_changed_cb), self, 0);
  sync_proxy_item (self);
  update_icon (self);
#else
  self->app = app;
#endif
  return self;
}
