/* exg-window.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-window.h"

#include "exg-connections-view.h"
#include "exg-country.h"
#include "exg-lookups-view.h"
#include "exg-routers-view.h"
#include "exg-tor-connect.h"
#include "exg-traffic-graph.h"
#include "exg-view-util.h"

#include <glib/gi18n.h>
#include <string.h>

enum {
  COUNTRY_COL_CODE,
  COUNTRY_COL_LABEL,
  COUNTRY_COL_NAME,
  COUNTRY_COL_COUNT,
  COUNTRY_COL_SENSITIVE,
};

struct _ExgWindow
{
  GtkApplicationWindow parent_instance;

  ExgApplication     *app;               /* unowned: the app outlives its windows */

  /* template children */
  GtkSwitch          *proxy_switch;
  GtkLabel           *address_label;
  GtkLabel           *status_label;
  GtkImage           *status_icon;
  GtkInfoBar         *info_bar;
  GtkLabel           *info_label;
  GtkListStore       *country_store;
  GtkComboBox        *country_combo;
  GtkEntry           *country_entry;
  GtkEntry           *range_from_entry;
  GtkEntry           *range_to_entry;
  GtkLabel           *range_error_label;
  GtkSpinButton      *bandwidth_spin;
  GtkComboBoxText    *bandwidth_units_combo;
  GtkLabel           *result_label;
  GtkStack           *stack;
  GtkBox             *connections_page;
  GtkBox             *lookups_page;
  GtkBox             *traffic_page;
  GtkBox             *routers_page;
  /* the pages' contents: custom widgets, made here and not in the .ui so
   * that gtk-builder-tool can validate it */
  ExgConnectionsView *connections_view;
  ExgLookupsView     *lookups_view;
  ExgRoutersView     *routers_view;
  ExgTrafficGraph    *traffic_graph;
  GtkStack           *main_stack;        /* the content, or "Connect to Tor" */
  ExgTorConnect      *tor_connect;
  GtkInfoBar         *tor_country_bar;   /* nullable: made when first needed */

  guint               tick_id;
  guint               registry_idle_id;
  guint               updating;          /* > 0 while we set widgets ourselves */
  int                 width;
  int                 height;
  gboolean            maximized;
};

G_DEFINE_FINAL_TYPE (ExgWindow, exg_window, GTK_TYPE_APPLICATION_WINDOW)

static char *
country_label (const char *iso)
{
  g_autofree char *flag = NULL;

  if (iso == NULL || iso[0] == '\0')
    return g_strdup (_("unknown country"));
  flag = exg_country_dup_flag (iso);
  if (flag[0] == '\0')
    return g_strdup (exg_country_get_name (iso));
  return g_strdup_printf ("%s %s", flag, exg_country_get_name (iso));
}

static void
append_country (ExgWindow  *self,
                const char *code,
                const char *name,
                guint       n_up)
{
  g_autofree char *label = country_label (code);
  g_autofree char *count = NULL;

  if (n_up == 0)
    count = g_strdup (_("no router up"));
  else
    count = g_strdup_printf (ngettext ("%u router", "%u routers", n_up), n_up);
  gtk_list_store_insert_with_values (self->country_store, NULL, -1,
                                     COUNTRY_COL_CODE, code,
                                     COUNTRY_COL_LABEL, label,
                                     COUNTRY_COL_NAME, name,
                                     COUNTRY_COL_COUNT, count,
                                     COUNTRY_COL_SENSITIVE, n_up > 0,
                                     -1);
}

/* "Any country" first, then the chosen country, then every country that
 * has routers (the application's ExgCountryList, which the tray lists
 * too); those with none up are greyed out, and the chosen one stays
 * listed even with no router at all */
static void
rebuild_countries (ExgWindow *self)
{
  ExgCountryList *countries = exg_application_get_country_list (self->app);
  guint n_rows = exg_country_list_get_n_rows (countries);
  guint total = exg_country_list_get_n_up (countries);
  const ExgCountryRow *chosen;
  g_autofree char *chosen_code = NULL;
  ExgSelection sel;

  exg_application_get_selection (self->app, &sel);
  chosen = exg_country_list_lookup (countries, sel.country);
  chosen_code = g_ascii_strup (sel.country, -1);

  self->updating++;
  gtk_list_store_clear (self->country_store);
  {
    /* Translators: number of exits (routers) that are up */
    g_autofree char *count = g_strdup_printf (ngettext ("%u router",
                                                        "%u routers", total), total);

    gtk_list_store_insert_with_values (self->country_store, NULL, -1,
                                       COUNTRY_COL_CODE, "",
                                       COUNTRY_COL_LABEL, _("Any country"),
                                       COUNTRY_COL_NAME, _("Any country"),
                                       COUNTRY_COL_COUNT, count,
                                       COUNTRY_COL_SENSITIVE, TRUE,
                                       -1);
  }
  if (chosen_code[0] != '\0')
    append_country (self, chosen_code, exg_country_get_name (chosen_code),
                    chosen != NULL ? chosen->n_up : 0);
  for (guint i = 0; i < n_rows; i++)
    {
      const ExgCountryRow *row = exg_country_list_get_row (countries, i);

      if (row != chosen)
        append_country (self, row->code, row->name, row->n_up);
    }
  gtk_combo_box_set_active_id (self->country_combo, chosen_code);
  self->updating--;
}

/* Why nothing matches, in words: the core says which filter left nothing
 * (exg_selection_explain), the window only words it. */
static char *
describe_no_match (ExgWindow          *self,
                   const ExgSelection *sel)
{
  ExgRouterRegistry *registry = exg_application_get_registry (self->app);
  const char *where = sel->country[0] != '\0' ? exg_country_get_name (sel->country)
                                               : NULL;
  ExgMatchReport report;

  exg_selection_explain (sel, G_LIST_MODEL (registry), &report);

  if (report.n_routers == 0)
    return g_strdup (_("No exit is configured. Add one in Preferences."));
  if (report.n_up == 0)
    return g_strdup (_("No exit is up at the moment."));
  if (report.n_in_country == 0)
    {
      if (where != NULL)
        /* Translators: %s is a country name */
        return g_strdup_printf (_("No exit in %s is up."), where);
      return g_strdup (_("No exit is up at the moment."));
    }
  if (report.n_in_range == 0)
    {
      if (where != NULL)
        /* Translators: %s is a country name */
        return g_strdup_printf (_("No exit in %s has an address in the range."),
                                where);
      return g_strdup (_("No exit has an address in the range."));
    }
  {
    g_autofree char *bw = exg_format_bandwidth ((double) sel->min_bandwidth);

    /* Translators: %s is a bandwidth such as "5.0 MB/s (40 Mbit/s)" */
    return g_strdup_printf (_("No matching exit advertises at least %s."), bw);
  }
}

/* How many routers up, in the chosen country and range, the minimum
 * bandwidth leaves out */
static guint
count_below_bandwidth (ExgWindow          *self,
                       const ExgSelection *sel)
{
  ExgMatchReport report;

  exg_selection_explain (sel, G_LIST_MODEL (exg_application_get_registry (self->app)),
                         &report);
  return report.n_below_bandwidth;
}

static void
update_result (ExgWindow *self)
{
  ExgRouterRegistry *registry = exg_application_get_registry (self->app);
  g_autoptr(ExgRouter) router = NULL;
  g_autoptr(GError) error = NULL;
  ExgSelection sel;

  exg_application_get_selection (self->app, &sel);
  router = exg_router_registry_pick (registry, &sel, NULL, &error);
  if (router == NULL)
    {
      g_autofree char *why = describe_no_match (self, &sel);

      gtk_label_set_text (self->result_label, why);
      gtk_style_context_add_class (gtk_widget_get_style_context (GTK_WIDGET (self->result_label)),
                                   "exg-no-match");
    }
  else
    {
      g_autofree char *country = country_label (exg_router_get_country (router));
      g_autofree char *bw = exg_router_get_bandwidth (router) > 0
                              ? exg_format_bandwidth ((double) exg_router_get_bandwidth (router))
                              : g_strdup (_("bandwidth unknown"));
      const char *address = exg_router_get_address (router);
      guint hops = exg_router_get_path_length (router);
      g_autofree char *text = NULL;
      guint below;

      text = g_strdup_printf (/* Translators: exit name, address, country, bandwidth, hops */
                              ngettext ("Exit: %s · %s · %s · %s · %u hop",
                                        "Exit: %s · %s · %s · %s · %u hops", hops),
                              exg_router_get_name (router),
                              address[0] != '\0' ? address : _("address unknown"),
                              country, bw, hops);
      below = count_below_bandwidth (self, &sel);
      if (below > 0)
        {
          g_autofree char *min = exg_format_bandwidth ((double) sel.min_bandwidth);
          g_autofree char *exit_line = g_steal_pointer (&text);
          g_autofree char *left_out = NULL;

          /* Translators: %u routers, %s a bandwidth such as "5.0 MB/s (40 Mbit/s)" */
          left_out = g_strdup_printf (ngettext ("%u router left out: it advertises less than %s, or nothing.",
                                                "%u routers left out: they advertise less than %s, or nothing.",
                                                below),
                                      below, min);
          text = g_strdup_printf ("%s\n%s", exit_line, left_out);
        }
      gtk_label_set_text (self->result_label, text);
      gtk_style_context_remove_class (gtk_widget_get_style_context (GTK_WIDGET (self->result_label)),
                                      "exg-no-match");
    }
}

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
    exit = country_label (sel.country);
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
      g_autofree char *why = describe_no_match (self, &sel);
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
tor_country_bar_response_cb (GtkInfoBar *bar,
                             int         response,
                             ExgWindow  *self)
{
  gtk_widget_hide (GTK_WIDGET (bar));
}

/* Said once, the first time a country is chosen with tor in use: the
 * Tor Project advises against choosing exits, since a user who does
 * stands out among those who do not. */
static void
explain_tor_country (ExgWindow          *self,
                     const ExgSelection *sel)
{
  GSettings *settings = exg_application_get_settings (self->app);
  GtkWidget *label, *content;

  if (sel->country[0] == '\0' || exg_application_get_tor (self->app) == NULL
      || g_settings_get_boolean (settings, "tor-country-explained"))
    return;
  g_settings_set_boolean (settings, "tor-country-explained", TRUE);

  self->tor_country_bar = GTK_INFO_BAR (gtk_info_bar_new ());
  gtk_buildable_set_name (GTK_BUILDABLE (self->tor_country_bar), "tor_country_bar");
  gtk_info_bar_set_message_type (self->tor_country_bar, GTK_MESSAGE_INFO);
  gtk_info_bar_set_show_close_button (self->tor_country_bar, TRUE);
  label = gtk_label_new (_("Choosing a Tor exit country has a cost: with fewer exits to "
                           "choose from, your connections are easier to tell apart from "
                           "other Tor users'. The Tor Project advises leaving the choice "
                           "to Tor unless you need a country."));
  gtk_label_set_line_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_xalign (GTK_LABEL (label), 0.0);
  gtk_buildable_set_name (GTK_BUILDABLE (label), "tor_country_label");
  content = gtk_info_bar_get_content_area (self->tor_country_bar);
  gtk_container_add (GTK_CONTAINER (content), label);
  g_signal_connect (self->tor_country_bar, "response",
                    G_CALLBACK (tor_country_bar_response_cb), self);
  gtk_box_pack_start (GTK_BOX (gtk_stack_get_child_by_name (self->main_stack, "main")),
                      GTK_WIDGET (self->tor_country_bar), FALSE, FALSE, 0);
  gtk_box_reorder_child (GTK_BOX (gtk_stack_get_child_by_name (self->main_stack, "main")),
                         GTK_WIDGET (self->tor_country_bar), 0);
  gtk_widget_show_all (GTK_WIDGET (self->tor_country_bar));
}

static void
selection_changed_cb (ExgApplication *app,
                      ExgWindow      *self)
{
  ExgSelection sel;

  exg_application_get_selection (app, &sel);
  explain_tor_country (self, &sel);
  /* the chosen country moves to the top of the list */
  rebuild_countries (self);
  update_result (self);
  update_status (self);
}

static void
countries_changed_cb (ExgCountryList *countries,
                      ExgWindow      *self)
{
  rebuild_countries (self);
  update_result (self);
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
registry_changed_idle (gpointer user_data)
{
  ExgWindow *self = user_data;

  self->registry_idle_id = 0;
  update_result (self);
  update_status (self);
  return G_SOURCE_REMOVE;
}

/* A reload replaces every router, one items-changed each (thousands for
 * tor): pick again once, afterwards (the country list follows by itself) */
static void
registry_changed_cb (GListModel *model,
                     guint       position,
                     guint       removed,
                     guint       added,
                     ExgWindow  *self)
{
  if (self->registry_idle_id == 0)
    self->registry_idle_id = g_idle_add (registry_changed_idle, self);
}

static gboolean
tick_cb (gpointer user_data)
{
  /* the connections count; router states come with the country list */
  update_status (user_data);
  return G_SOURCE_CONTINUE;
}

static void
on_country_combo_changed (GtkComboBox *combo,
                          ExgWindow   *self)
{
  const char *code;

  if (self->updating > 0 || self->app == NULL)
    return;
  /* typing into the entry unselects: wait for a real choice */
  code = gtk_combo_box_get_active_id (combo);
  if (code == NULL)
    return;
  g_action_group_change_action_state (G_ACTION_GROUP (self->app),
                                      "exit-country",
                                      g_variant_new_string (code));
}

/* Puts the country in force back into the box: typed text that was not
 * chosen must not look like the exit */
static void
revert_country_entry (ExgWindow *self)
{
  ExgSelection sel;

  exg_application_get_selection (self->app, &sel);
  self->updating++;
  /* unset first: set_active_id does nothing (and leaves the typed text)
   * when the row is still active */
  gtk_combo_box_set_active (self->country_combo, -1);
  if (!gtk_combo_box_set_active_id (self->country_combo, sel.country))
    gtk_entry_set_text (self->country_entry, "");
  self->updating--;
}

static gboolean
country_matches (GtkTreeModel *model,
                 GtkTreeIter  *iter,
                 const char   *text,
                 gboolean      substring)
{
  g_autofree char *needle = g_utf8_casefold (text, -1);
  g_autofree char *name = NULL;
  g_autofree char *label = NULL;
  g_autofree char *code = NULL;
  g_autofree char *folded = NULL;

  gtk_tree_model_get (model, iter, COUNTRY_COL_NAME, &name,
                      COUNTRY_COL_LABEL, &label, COUNTRY_COL_CODE, &code, -1);
  folded = g_utf8_casefold (name, -1);
  if (substring)
    return strstr (folded, needle) != NULL;
  return g_str_equal (folded, needle) || g_strcmp0 (label, text) == 0
         || (code[0] != '\0' && g_ascii_strcasecmp (code, text) == 0);
}

/* Selects the row that @text names exactly (name, label or ISO code),
 * else the first row whose name contains it, in the order the completion
 * lists them */
static gboolean
select_country_by_text (ExgWindow  *self,
                        const char *text)
{
  GtkTreeModel *model = GTK_TREE_MODEL (self->country_store);
  GtkTreeIter iter;

  if (text[0] == '\0')
    return FALSE;
  for (guint pass = 0; pass < 2; pass++)
    {
      gboolean valid;

      for (valid = gtk_tree_model_get_iter_first (model, &iter); valid;
           valid = gtk_tree_model_iter_next (model, &iter))
        if (country_matches (model, &iter, text, pass == 1))
          {
            gtk_combo_box_set_active_iter (self->country_combo, &iter);
            return TRUE;
          }
    }
  return FALSE;
}

static void
on_country_entry_activate (GtkEntry  *entry,
                           ExgWindow *self)
{
  g_autofree char *text = g_strstrip (g_strdup (gtk_entry_get_text (entry)));

  if (!select_country_by_text (self, text))
    revert_country_entry (self);
}

static gboolean
on_country_entry_key_press (GtkWidget   *entry,
                            GdkEventKey *event,
                            ExgWindow   *self)
{
  if (event->keyval != GDK_KEY_Escape || self->app == NULL)
    return GDK_EVENT_PROPAGATE;
  revert_country_entry (self);
  return GDK_EVENT_PROPAGATE;     /* the completion closes its popup too */
}

/* Focus moved on inside the window, away from the country box: drop what
 * was typed there (the window's own focus, not the desktop's, so the
 * completion popup or another window does not count as leaving) */
static void
set_focus_cb (GtkWindow *window,
              GtkWidget *focus,
              ExgWindow *self)
{
  if (self->app == NULL || focus == GTK_WIDGET (self->country_entry))
    return;
  if (gtk_combo_box_get_active_id (self->country_combo) == NULL)
    revert_country_entry (self);
}

static gboolean
completion_match_func (GtkEntryCompletion *completion,
                       const char         *key,
                       GtkTreeIter        *iter,
                       gpointer            user_data)
{
  GtkTreeModel *model = gtk_entry_completion_get_model (completion);
  g_autofree char *name = NULL;
  g_autofree char *folded = NULL;
  g_autofree char *needle = g_utf8_casefold (key, -1);

  gtk_tree_model_get (model, iter, COUNTRY_COL_NAME, &name, -1);
  if (name == NULL)
    return FALSE;
  folded = g_utf8_casefold (name, -1);
  return strstr (folded, needle) != NULL;
}

static gboolean
completion_match_selected_cb (GtkEntryCompletion *completion,
                              GtkTreeModel       *model,
                              GtkTreeIter        *iter,
                              ExgWindow          *self)
{
  gtk_combo_box_set_active_iter (self->country_combo, iter);
  return TRUE;
}

static gboolean
parse_ipv4 (const char *text,
            guint32    *out)
{
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string (text);
  const guint8 *bytes;

  if (address == NULL || g_inet_address_get_family (address) != G_SOCKET_FAMILY_IPV4)
    return FALSE;
  bytes = g_inet_address_to_bytes (address);
  *out = ((guint32) bytes[0] << 24) | ((guint32) bytes[1] << 16) | ((guint32) bytes[2] << 8) | bytes[3];
  return TRUE;
}

static void
set_entry_error (GtkEntry *entry,
                 gboolean  error)
{
  GtkStyleContext *context = gtk_widget_get_style_context (GTK_WIDGET (entry));

  if (error)
    gtk_style_context_add_class (context, GTK_STYLE_CLASS_ERROR);
  else
    gtk_style_context_remove_class (context, GTK_STYLE_CLASS_ERROR);
}

static void
on_range_entry_changed (GtkEntry  *entry,
                        ExgWindow *self)
{
  g_autofree char *from = g_strstrip (g_strdup (gtk_entry_get_text (self->range_from_entry)));
  g_autofree char *to = g_strstrip (g_strdup (gtk_entry_get_text (self->range_to_entry)));
  g_autofree char *range = NULL;
  const char *message = NULL;
  guint32 start = 0, end = G_MAXUINT32;
  gboolean from_ok = TRUE, to_ok = TRUE;

  if (self->updating > 0 || self->app == NULL)
    return;

  if (from[0] != '\0')
    from_ok = parse_ipv4 (from, &start);
  if (to[0] != '\0')
    to_ok = parse_ipv4 (to, &end);
  else if (from[0] != '\0' && from_ok)
    end = start;             /* a single address */

  if (!from_ok || !to_ok)
    message = _("Enter IPv4 addresses such as 10.0.0.1.");
  else if (start > end)
    {
      message = _("The first address of the range is after the last.");
      from_ok = to_ok = FALSE;
    }

  set_entry_error (self->range_from_entry, !from_ok);
  set_entry_error (self->range_to_entry, !to_ok);
  gtk_label_set_text (self->range_error_label, message ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->range_error_label),
                          message != NULL);
  if (message != NULL)
    return;                  /* keep the last valid range until this one is */

  if (from[0] != '\0' || to[0] != '\0')
    range = g_strdup_printf ("%u.%u.%u.%u-%u.%u.%u.%u",
                             start >> 24, (start >> 16) & 0xff, (start >> 8) & 0xff, start & 0xff,
                             end >> 24, (end >> 16) & 0xff, (end >> 8) & 0xff, end & 0xff);
  g_settings_set_string (exg_application_get_settings (self->app), "ip-range",
                         range ? range : "");
}

static void
on_bandwidth_changed (GtkWidget *widget,
                      ExgWindow *self)
{
  const char *unit_id;
  guint64 unit, value;

  if (self->updating > 0 || self->app == NULL)
    return;

  unit_id = gtk_combo_box_get_active_id (GTK_COMBO_BOX (self->bandwidth_units_combo));
  unit = unit_id != NULL ? g_ascii_strtoull (unit_id, NULL, 10) : 1;
  value = (guint64) gtk_spin_button_get_value_as_int (self->bandwidth_spin) * unit;
  g_settings_set_uint64 (exg_application_get_settings (self->app),
                         "min-bandwidth", value);
}

static void
load_filters (ExgWindow *self)
{
  GSettings *settings = exg_application_get_settings (self->app);
  g_autofree char *range = g_settings_get_string (settings, "ip-range");
  guint64 bw = g_settings_get_uint64 (settings, "min-bandwidth");
  guint32 start, end;

  self->updating++;
  if (range[0] != '\0' && exg_selection_parse_range (range, &start, &end))
    {
      g_autofree char *from = g_strdup_printf ("%u.%u.%u.%u", start >> 24,
                                               (start >> 16) & 0xff,
                                               (start >> 8) & 0xff, start & 0xff);
      g_autofree char *to = g_strdup_printf ("%u.%u.%u.%u", end >> 24,
                                             (end >> 16) & 0xff,
                                             (end >> 8) & 0xff, end & 0xff);
      gtk_entry_set_text (self->range_from_entry, from);
      gtk_entry_set_text (self->range_to_entry, to);
    }
  /* the largest unit that shows the value exactly, bytes before bits */
  if (bw != 0)
    {
      static const guint64 units[] = { 1000000, 125000, 1000, 125 };
      guint64 unit = 1000;

      for (guint i = 0; i < G_N_ELEMENTS (units); i++)
        if (bw % units[i] == 0)
          {
            unit = units[i];
            break;
          }
      {
        char id[24];

        g_snprintf (id, sizeof id, "%" G_GUINT64_FORMAT, unit);
        gtk_combo_box_set_active_id (GTK_COMBO_BOX (self->bandwidth_units_combo),
                                     id);
      }
      /* not a whole number of any unit: rounded up to whole kB/s */
      gtk_spin_button_set_value (self->bandwidth_spin,
                                 (double) MIN ((bw + unit - 1) / unit, 1000000));
    }
  self->updating--;
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
  g_clear_handle_id (&self->registry_idle_id, g_source_remove);

  GTK_WIDGET_CLASS (exg_window_parent_class)->destroy (widget);
}

static void
exg_window_finalize (GObject *object)
{
  ExgWindow *self = EXG_WINDOW (object);

  g_clear_handle_id (&self->tick_id, g_source_remove);
  g_clear_handle_id (&self->registry_idle_id, g_source_remove);

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
  gtk_widget_class_bind_template_callback (widget_class,
                                           on_country_combo_changed);
  gtk_widget_class_bind_template_callback (widget_class,
                                           on_country_entry_activate);
  gtk_widget_class_bind_template_callback (widget_class,
                                           on_country_entry_key_press);
  gtk_widget_class_bind_template_callback (widget_class,
                                           on_range_entry_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_bandwidth_changed);
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
  g_autoptr(GtkEntryCompletion) completion = gtk_entry_completion_new ();
  GtkCellRenderer *count_cell;

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

  /* the router count after the name, dimmed, in the drop-down list */
  count_cell = gtk_cell_renderer_text_new ();
  g_object_set (count_cell, "xalign", 1.0, "foreground", "gray", NULL);
  gtk_cell_layout_pack_end (GTK_CELL_LAYOUT (self->country_combo), count_cell,
                            FALSE);
  gtk_cell_layout_add_attribute (GTK_CELL_LAYOUT (self->country_combo),
                                 count_cell,
                                 "text", COUNTRY_COL_COUNT);
  /* a country with no exit up is greyed out, its count and its name */
  {
    g_autoptr(GList) cells = gtk_cell_layout_get_cells (GTK_CELL_LAYOUT (self->country_combo));

    for (GList *l = cells; l != NULL; l = l->next)
      gtk_cell_layout_add_attribute (GTK_CELL_LAYOUT (self->country_combo), l->data,
                                     "sensitive", COUNTRY_COL_SENSITIVE);
  }

  /* type-to-search: any part of the name, in the user's language */
  gtk_entry_completion_set_model (completion,
                                  GTK_TREE_MODEL (self->country_store));
  gtk_entry_completion_set_text_column (completion, COUNTRY_COL_LABEL);
  gtk_entry_completion_set_match_func (completion, completion_match_func, NULL,
                                       NULL);
  gtk_entry_completion_set_minimum_key_length (completion, 1);
  g_signal_connect_object (completion, "match-selected",
                           G_CALLBACK (completion_match_selected_cb), self, 0);
  gtk_entry_set_completion (self->country_entry, completion);

  g_signal_connect_after (self, "set-focus", G_CALLBACK (set_focus_cb), self);
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
  g_signal_connect_object (exg_application_get_registry (app), "items-changed",
                           G_CALLBACK (registry_changed_cb), self, 0);
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

  load_filters (self);
  sync_proxy_switch (self);
  rebuild_countries (self);
  update_result (self);
  update_status (self);
  update_info_bar (self);
  self->tick_id = g_timeout_add_seconds (1, tick_cb, self);

  return self;
}
