/* exg-window-picker.c: the window's exit picker: the country box (from
 * the application's ExgCountryList, searchable as you type, the chosen
 * country on top), the address range and minimum bandwidth, and the line
 * under them that names the exit in force or says why none matches.
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

char *
exg_window_country_label_ (const char *iso)
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
  g_autofree char *label = exg_window_country_label_ (code);
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
void
exg_window_rebuild_countries_ (ExgWindow *self)
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
char *
exg_window_describe_no_match_ (ExgWindow          *self,
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

void
exg_window_update_result_ (ExgWindow *self)
{
  ExgRouterRegistry *registry = exg_application_get_registry (self->app);
  g_autoptr(ExgRouter) router = NULL;
  g_autoptr(GError) error = NULL;
  ExgSelection sel;

  exg_application_get_selection (self->app, &sel);
  router = exg_router_registry_pick (registry, &sel, NULL, &error);
  if (router == NULL)
    {
      g_autofree char *why = exg_window_describe_no_match_ (self, &sel);

      gtk_label_set_text (self->result_label, why);
      gtk_style_context_add_class (gtk_widget_get_style_context (GTK_WIDGET (self->result_label)),
                                   "exg-no-match");
    }
  else
    {
      g_autofree char *country = exg_window_country_label_ (exg_router_get_country (router));
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
tor_country_bar_response_cb (GtkInfoBar *bar,
                             int         response,
                             ExgWindow  *self)
{
  gtk_widget_hide (GTK_WIDGET (bar));
}

/* Said once, the first time a country is chosen with tor in use: the
 * Tor Project advises against choosing exits, since a user who does
 * stands out among those who do not. */
void
exg_window_explain_tor_country_ (ExgWindow          *self,
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

void
exg_window_on_country_combo_changed_ (GtkComboBox *combo,
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

void
exg_window_on_country_entry_activate_ (GtkEntry  *entry,
                                       ExgWindow *self)
{
  g_autofree char *text = g_strstrip (g_strdup (gtk_entry_get_text (entry)));

  if (!select_country_by_text (self, text))
    revert_country_entry (self);
}

gboolean
exg_window_on_country_entry_key_press_ (GtkWidget   *entry,
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

void
exg_window_on_range_entry_changed_ (GtkEntry  *entry,
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

void
exg_window_on_bandwidth_changed_ (GtkWidget *widget,
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

void
exg_window_load_filters_ (ExgWindow *self)
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

/* The drop-down's cells, type-to-search, and dropping typed text when
 * focus leaves the box */
void
exg_window_picker_init_ (ExgWindow *self)
{
  g_autoptr(GtkEntryCompletion) completion = gtk_entry_completion_new ();
  GtkCellRenderer *count_cell;

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
