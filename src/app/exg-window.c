/* exg-window.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-window-private.h"

#include "exg-country.h"
#include "exg-view-util.h"

#include <glib/gi18n.h>
#include <string.h>

G_DEFINE_FINAL_TYPE (ExgWindow, exg_window, GTK_TYPE_APPLICATION_WINDOW)

static void
update_status (ExgWindow *self)
{
  ExgRouterRegistry *registry = exg_application_get_registry (self->app);
  ExgActivity *activity = exg_application_get_activity (self->app);
  const char *bound = exg_application_get_bound_address (self->app);
  guint up = exg_router_registry_count_up (registry);
  guint conns = exg_activity_get_n_connections (activity);
  g_autofree char *routers = NULL;
  g_autofree char *connections = NULL;
  g_autofree char *exit = NULL;
  g_autofree char *status = NULL;
  g_autoptr(ExgRouter) pick = NULL;
  GtkStyleContext *context = gtk_widget_get_style_context (GTK_WIDGET (self->status_label));
  ExgSelection sel;

  exg_application_get_selection (self->app, &sel);
  pick = exg_router_registry_pick (registry, &sel, NULL, NULL);

  if (bound != NULL)
    {
      /* Translators: %s is an address:port */
      g_autofree char *text = g_strdup_printf (_("Listening on %s"), bound);
      gtk_label_set_text (self->address_label, text);
    }
  else
    gtk_label_set_text (self->address_label, _("Proxy off"));

  routers = g_strdup_printf (ngettext ("%u router up", "%u routers up", up),
                             up);
  connections = g_strdup_printf (ngettext ("%u connection", "%u connections",
                                           conns), conns);
  if (sel.country[0] != '\0')
    exit = exg_window_country_label_ (sel.country);
  else
    exit = g_strdup (_("any country"));
  if (pick == NULL)
    {
      /* Translators: routers up · connections; said when no exit fits
       * the choice, so nothing can connect */
      status = g_strdup_printf (_("Nothing can connect · %s · %s"), routers,
                                connections);
    }
  else if (exg_application_get_geoip_progress (self->app) >= 0)
    {
      /* Translators: shown while tor's GeoIP data is converted (once) */
      g_autofree char *text = g_strdup_printf (_("preparing country data, %d%%"),
                                               exg_application_get_geoip_progress (self->app));

      /* Translators: routers up · connections · progress */
      status = g_strdup_printf (_("%s · %s · %s"), routers, connections, text);
    }
  else
    {
      /* Translators: routers up · connections · exit: country */
      status = g_strdup_printf (_("%s · %s · exit: %s"), routers, connections,
                                exit);
    }
  gtk_label_set_text (self->status_label, status);
  if (pick == NULL)
    {
      g_autofree char *why = exg_window_describe_no_match_ (self, &sel);
      g_autofree char *tooltip = g_strdup_printf ("%s\n%s", status, why);

      gtk_style_context_add_class (context, "exg-warning");
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->status_label), tooltip);
    }
  else
    {
      gtk_style_context_remove_class (context, "exg-warning");
      /* the label may be ellipsized: the tooltip holds all of it */
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->status_label), status);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->status_icon), pick == NULL);
}

static void
update_info_bar (ExgWindow *self)
{
  const GError *listen_error = exg_application_get_listen_error (self->app);
  const GError *exits_error = exg_application_get_exits_error (self->app);
  g_autofree char *text = NULL;

  if (listen_error != NULL)
    {
      g_autofree char *address = exg_application_dup_listen_address (self->app);

      if (g_error_matches (listen_error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
        /* Translators: %s is an address:port */
        text = g_strdup_printf (_("Cannot listen on %s: another program uses this port. Choose another port in Preferences."),
                                address);
      else
        {
          /* the core's message already says "Cannot listen on X: Error
           * binding to address X: …": say it once */
          g_autofree char *reason = exg_error_dup_reason (listen_error->message);

          /* Translators: %s is an address:port, then why (from the system) */
          text = g_strdup_printf (_("Cannot listen on %s: %s"), address, reason);
        }
    }
  else if (exits_error != NULL)
    /* Translators: %s is an error message */
    text = g_strdup_printf (_("The exits file cannot be used: %s"),
                            exits_error->message);

  if (text != NULL)
    gtk_label_set_text (self->info_label, text);
  gtk_info_bar_set_revealed (self->info_bar, text != NULL);
}

/* The switch shows the proxy's real state.  It is not bound with
 * action-name: GtkSwitch turns itself on before the action runs, and
 * when listening fails the action's state stays off, so no state-changed
 * would come back to turn the switch off again beside "Proxy off". */
static void
sync_proxy_switch (ExgWindow *self)
{
  g_autoptr(GVariant) state = g_action_group_get_action_state (G_ACTION_GROUP (self->app),
                                                               "proxy-enabled");
  gboolean enabled = state != NULL && g_variant_get_boolean (state);

  self->updating++;
  gtk_switch_set_active (self->proxy_switch, enabled);
  gtk_switch_set_state (self->proxy_switch, enabled);
  self->updating--;
}

static gboolean
on_proxy_switch_state_set (GtkSwitch *proxy_switch,
                           gboolean   state,
                           ExgWindow *self)
{
  if (self->app == NULL)
    return GDK_EVENT_PROPAGATE;
  if (self->updating == 0)
    g_action_group_change_action_state (G_ACTION_GROUP (self->app),
                                        "proxy-enabled",
                                        g_variant_new_boolean (state));
  sync_proxy_switch (self);
  return GDK_EVENT_STOP;
}

static void
status_changed_cb (ExgApplication *app,
                   ExgWindow      *self)
{
  sync_proxy_switch (self);
  update_status (self);
  update_info_bar (self);
}

static void
selection_changed_cb (ExgApplication *app,
                      ExgWindow      *self)
{
  ExgSelection sel;

  exg_application_get_selection (app, &sel);
  exg_window_explain_tor_country_ (self, &sel);
  /* the chosen country moves to the top of the list */
  exg_window_rebuild_countries_ (self);
  exg_window_update_result_ (self);
  update_status (self);
}

static void
countries_changed_cb (ExgCountryList *countries,
                      ExgWindow      *self)
{
  exg_window_rebuild_countries_ (self);
  exg_window_update_result_ (self);
  update_status (self);
}

static void
tor_needed_cb (ExgTorConnect *page,
               GParamSpec    *pspec,
               ExgWindow     *self)
{
  gtk_stack_set_visible_child_name (self->main_stack,
                                    exg_tor_connect_get_needed (page) ? "tor" : "main");
}

static gboolean
tick_cb (gpointer user_data)
{
  /* the connections count; router states come with the country list */
  update_status (user_data);
  return G_SOURCE_CONTINUE;
}

static void
on_info_bar_response (GtkInfoBar *info_bar,
                      int         response,
                      ExgWindow  *self)
{
  if (response == 1)
    g_action_group_activate_action (G_ACTION_GROUP (self->app), "preferences",
                                    NULL);
  gtk_info_bar_set_revealed (info_bar, FALSE);
}

static void
search_activated (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  ExgWindow *self = user_data;
  const char *page = gtk_stack_get_visible_child_name (self->stack);
  GtkEntry *entry = NULL;

  if (g_strcmp0 (page, "lookups") == 0)
    entry = exg_lookups_view_get_search_entry (self->lookups_view);
  else if (g_strcmp0 (page, "routers") == 0)
    entry = exg_routers_view_get_search_entry (self->routers_view);
  else
    {
      gtk_stack_set_visible_child_name (self->stack, "connections");
      entry = exg_connections_view_get_search_entry (self->connections_view);
    }
  gtk_widget_grab_focus (GTK_WIDGET (entry));
}

static gboolean
exg_window_delete_event (GtkWidget   *widget,
                         GdkEventAny *event)
{
  ExgWindow *self = EXG_WINDOW (widget);

  /* with a tray the app lives on there; without one closing means quit */
  if (self->app != NULL && exg_application_get_tray_available (self->app))
    {
      gtk_widget_hide (widget);
      return GDK_EVENT_STOP;
    }
  return GDK_EVENT_PROPAGATE;
}

static void
exg_window_size_allocate (GtkWidget     *widget,
                          GtkAllocation *allocation)
{
  ExgWindow *self = EXG_WINDOW (widget);

  GTK_WIDGET_CLASS (exg_window_parent_class)->size_allocate (widget, allocation);
  if (!self->maximized)
    gtk_window_get_size (GTK_WINDOW (widget), &self->width, &self->height);
}

static gboolean
exg_window_window_state_event (GtkWidget           *widget,
                               GdkEventWindowState *event)
{
  ExgWindow *self = EXG_WINDOW (widget);

  self->maximized = (event->new_window_state & GDK_WINDOW_STATE_MAXIMIZED) != 0;
  return GTK_WIDGET_CLASS (exg_window_parent_class)->window_state_event (widget, event);
}

static void
exg_window_destroy (GtkWidget *widget)
{
  ExgWindow *self = EXG_WINDOW (widget);

  if (self->app != NULL && self->width > 0)
    {
      GSettings *settings = exg_application_get_settings (self->app);

      g_settings_set_int (settings, "window-width", self->width);
      g_settings_set_int (settings, "window-height", self->height);
      g_settings_set_boolean (settings, "window-maximized", self->maximized);
    }
  g_clear_handle_id (&self->tick_id, g_source_remove);

  GTK_WIDGET_CLASS (exg_window_parent_class)->destroy (widget);
}

static void
exg_window_finalize (GObject *object)
{
  ExgWindow *self = EXG_WINDOW (object);

  g_clear_handle_id (&self->tick_id, g_source_remove);

  G_OBJECT_CLASS (exg_window_parent_class)->finalize (object);
}

static void
exg_window_class_init (ExgWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = exg_window_finalize;
  widget_class->delete_event = exg_window_delete_event;
  widget_class->destroy = exg_window_destroy;
  widget_class->size_allocate = exg_window_size_allocate;
  widget_class->window_state_event = exg_window_window_state_event;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/exitgate/Exitgate/exg-window.ui");
  gtk_widget_class_bind_template_child (widget_class, ExgWindow, proxy_switch);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow, address_label);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow, status_label);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow, status_icon);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow, info_bar);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow, info_label);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow, country_store);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow, country_combo);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow, country_entry);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow,
                                        range_from_entry);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow,
                                        range_to_entry);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow,
                                        range_error_label);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow,
                                        bandwidth_spin);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow,
                                        bandwidth_units_combo);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow, result_label);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow,
                                        connections_page);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow, lookups_page);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow, traffic_page);
  gtk_widget_class_bind_template_child (widget_class, ExgWindow, routers_page);
  gtk_widget_class_bind_template_callback_full (widget_class, "on_country_combo_changed",
                                                G_CALLBACK (exg_window_on_country_combo_changed_));
  gtk_widget_class_bind_template_callback_full (widget_class, "on_country_entry_activate",
                                                G_CALLBACK (exg_window_on_country_entry_activate_));
  gtk_widget_class_bind_template_callback_full (widget_class, "on_country_entry_key_press",
                                                G_CALLBACK (exg_window_on_country_entry_key_press_));
  gtk_widget_class_bind_template_callback_full (widget_class, "on_range_entry_changed",
                                                G_CALLBACK (exg_window_on_range_entry_changed_));
  gtk_widget_class_bind_template_callback_full (widget_class, "on_bandwidth_changed",
                                                G_CALLBACK (exg_window_on_bandwidth_changed_));
  gtk_widget_class_bind_template_callback (widget_class, on_info_bar_response);
  gtk_widget_class_bind_template_callback (widget_class,
                                           on_proxy_switch_state_set);
}

static gpointer
add_page (GtkBox     *page,
          GType       type,
          const char *name)
{
  GtkWidget *widget = g_object_new (type, "visible", TRUE, NULL);

  gtk_buildable_set_name (GTK_BUILDABLE (widget), name);
  gtk_box_pack_start (page, widget, TRUE, TRUE, 0);
  return widget;
}

static void
close_activated (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  gtk_window_close (GTK_WINDOW (user_data));
}

static const GActionEntry win_actions[] = {
  { "search", search_activated },
  { "close", close_activated },
};

static void
exg_window_init (ExgWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  /* the title is in a custom header-bar child, which ATK does not see */
  atk_object_set_name (gtk_widget_get_accessible (GTK_WIDGET (self)),
                       _("Exitgate"));

  g_action_map_add_action_entries (G_ACTION_MAP (self), win_actions,
                                   G_N_ELEMENTS (win_actions), self);

  self->connections_view = add_page (self->connections_page,
                                     EXG_TYPE_CONNECTIONS_VIEW, "connections_view");
  self->lookups_view = add_page (self->lookups_page, EXG_TYPE_LOOKUPS_VIEW,
                                 "lookups_view");
  self->traffic_graph = add_page (self->traffic_page, EXG_TYPE_TRAFFIC_GRAPH,
                                  "traffic_graph");
  self->routers_view = add_page (self->routers_page, EXG_TYPE_ROUTERS_VIEW,
                                 "routers_view");

  exg_window_picker_init_ (self);
}

/* The tor is asked when the user asks: it is replaced when the [tor]
 * settings change */
static void
new_circuit_cb (ExgConnectionsView *view,
                const char         *exit_fingerprint,
                const char         *isolation,
                ExgWindow          *self)
{
  ExgTorClient *tor = exg_application_get_tor (self->app);

  if (tor != NULL)
    exg_tor_client_new_circuit (tor, exit_fingerprint, isolation);
}

ExgWindow *
exg_window_new (ExgApplication *app)
{
  ExgWindow *self;
  GSettings *settings;

  g_return_val_if_fail (EXG_IS_APPLICATION (app), NULL);

  self = g_object_new (EXG_TYPE_WINDOW, "application", app, NULL);
  /* "application" is no construct property: wire up here, not in
   * constructed () */
  self->app = app;
  settings = exg_application_get_settings (app);
  gtk_window_set_default_size (GTK_WINDOW (self),
                               g_settings_get_int (settings, "window-width"),
                               g_settings_get_int (settings, "window-height"));
  if (g_settings_get_boolean (settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));

  exg_connections_view_set_server (self->connections_view,
                                   exg_application_get_server (app));
  g_signal_connect_object (self->connections_view, "new-circuit",
                           G_CALLBACK (new_circuit_cb), self, 0);
  exg_lookups_view_set_activity (self->lookups_view,
                                 exg_application_get_activity (app));
  exg_routers_view_set_registry (self->routers_view,
                                 exg_application_get_registry (app));
  exg_traffic_graph_set_activity (self->traffic_graph,
                                  exg_application_get_activity (app));

  g_signal_connect_object (app, "status-changed",
                           G_CALLBACK (status_changed_cb), self, 0);
  g_signal_connect_object (app, "selection-changed",
                           G_CALLBACK (selection_changed_cb), self, 0);
  g_signal_connect_object (exg_application_get_country_list (app), "changed",
                           G_CALLBACK (countries_changed_cb), self, 0);

  /* "Connect to Tor" beside the content, shown while tor waits for the
   * user's word or bootstraps because of it */
  {
    GtkWidget *content = g_object_ref (gtk_bin_get_child (GTK_BIN (self)));

    gtk_container_remove (GTK_CONTAINER (self), content);
    self->main_stack = GTK_STACK (gtk_stack_new ());
    gtk_buildable_set_name (GTK_BUILDABLE (self->main_stack), "main_stack");
    gtk_stack_add_named (self->main_stack, content, "main");
    g_object_unref (content);
    self->tor_connect = EXG_TOR_CONNECT (exg_tor_connect_new (app));
    gtk_buildable_set_name (GTK_BUILDABLE (self->tor_connect), "tor_connect");
    gtk_stack_add_named (self->main_stack, GTK_WIDGET (self->tor_connect), "tor");
    gtk_widget_show (GTK_WIDGET (self->main_stack));
    gtk_container_add (GTK_CONTAINER (self), GTK_WIDGET (self->main_stack));
    g_signal_connect_object (self->tor_connect, "notify::needed",
                             G_CALLBACK (tor_needed_cb), self, 0);
    tor_needed_cb (self->tor_connect, NULL, self);
  }

  exg_window_load_filters_ (self);
  sync_proxy_switch (self);
  exg_window_rebuild_countries_ (self);
  exg_window_update_result_ (self);
  update_status (self);
  update_info_bar (self);
  self->tick_id = g_timeout_add_seconds (1, tick_cb, self);

  return self;
}
