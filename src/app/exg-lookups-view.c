/* exg-lookups-view.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-lookups-view.h"
#include "exg-country.h"
#include "exg-view-util.h"

#include <glib/gi18n.h>

struct _ExgLookupsView
{
  GtkBox          parent_instance;

  ExgActivity    *activity;      /* owned */
  GtkSearchEntry *search_entry;
  GtkTreeView    *tree_view;
  GtkListStore   *store;         /* owned; newest first */
  GtkTreeModel   *filter;        /* owned; the view's model while searching */
  GQueue          rows;          /* GtkTreeIter* (owned copies), oldest first */
  char           *filter_text;   /* owned, casefolded; NULL: all */
  GtkLabel       *empty_label;
};

G_DEFINE_FINAL_TYPE (ExgLookupsView, exg_lookups_view, GTK_TYPE_BOX)

static void
update_empty (ExgLookupsView *self)
{
  exg_view_update_empty (self->empty_label, self->tree_view,
                         gtk_entry_get_text (GTK_ENTRY (self->search_entry)),
                         _("No name lookups yet. They appear here when an application asks the proxy to resolve a name."));
}

static char *
exit_label (const ExgLookup *lookup)
{
  g_autofree char *flag = NULL;

  if (lookup->exit_name == NULL)
    return g_strdup ("");
  if (lookup->exit_country[0] == '\0')
    return g_strdup (lookup->exit_name);
  flag = exg_country_dup_flag (lookup->exit_country);
  return g_strdup_printf (_("%s %s (%s)"), flag, lookup->exit_name,
                          exg_country_get_name (lookup->exit_country));
}

static void
add_lookup (ExgLookupsView  *self,
            const ExgLookup *lookup)
{
  g_autofree char *exit = exit_label (lookup);
  guint cap = exg_activity_get_history_size (self->activity);
  GtkTreeIter iter;

  /* newest first, unless the user sorted by a column */
  gtk_list_store_insert_with_values (self->store, &iter, 0,
                                     EXG_LOOKUP_COL_TIME, lookup->time,
                                     EXG_LOOKUP_COL_QUERY, lookup->query,
                                     EXG_LOOKUP_COL_KIND,
                                     lookup->kind == EXG_LOOKUP_REVERSE ? _("Address → name")
                                                                        : _("Name → address"),
                                     EXG_LOOKUP_COL_ANSWER,
                                     lookup->error != NULL ? lookup->error
                                                           : (lookup->answer ? lookup->answer : ""),
                                     EXG_LOOKUP_COL_FAILED, lookup->error != NULL,
                                     EXG_LOOKUP_COL_EXIT, exit,
                                     -1);

  /* same cap as the core's history: drop the oldest rows, wherever a
   * sort put them (GtkListStore iters persist) */
  g_queue_push_tail (&self->rows, gtk_tree_iter_copy (&iter));
  while (cap > 0 && self->rows.length > cap)
    {
      GtkTreeIter *oldest = g_queue_pop_head (&self->rows);

      gtk_list_store_remove (self->store, oldest);
      gtk_tree_iter_free (oldest);
    }
  update_empty (self);
}

static void
lookup_added_cb (ExgActivity    *activity,
                 ExgLookup      *lookup,
                 ExgLookupsView *self)
{
  add_lookup (self, lookup);
}

static void
lookups_cleared_cb (ExgActivity    *activity,
                    ExgLookupsView *self)
{
  g_queue_clear_full (&self->rows, (GDestroyNotify) gtk_tree_iter_free);
  gtk_list_store_clear (self->store);
  update_empty (self);
}

void
exg_lookups_view_set_activity (ExgLookupsView *self,
                               ExgActivity    *activity)
{
  const GQueue *lookups;

  g_return_if_fail (EXG_IS_LOOKUPS_VIEW (self));
  g_return_if_fail (EXG_IS_ACTIVITY (activity));

  if (self->activity != NULL)
    g_signal_handlers_disconnect_by_data (self->activity, self);
  lookups_cleared_cb (NULL, self);
  g_set_object (&self->activity, activity);

  g_signal_connect_object (activity, "lookup-added",
                           G_CALLBACK (lookup_added_cb), self, 0);
  g_signal_connect_object (activity, "lookups-cleared",
                           G_CALLBACK (lookups_cleared_cb), self, 0);

  lookups = exg_activity_get_lookups (activity);
  for (GList *l = lookups ? lookups->head : NULL; l != NULL; l = l->next)
    add_lookup (self, l->data);
}

GtkListStore *
exg_lookups_view_get_store (ExgLookupsView *self)
{
  g_return_val_if_fail (EXG_IS_LOOKUPS_VIEW (self), NULL);
  return self->store;
}

GtkEntry *
exg_lookups_view_get_search_entry (ExgLookupsView *self)
{
  g_return_val_if_fail (EXG_IS_LOOKUPS_VIEW (self), NULL);
  return GTK_ENTRY (self->search_entry);
}

GtkTreeView *
exg_lookups_view_get_tree_view (ExgLookupsView *self)
{
  g_return_val_if_fail (EXG_IS_LOOKUPS_VIEW (self), NULL);
  return self->tree_view;
}

static gboolean
visible_func (GtkTreeModel *model,
              GtkTreeIter  *iter,
              gpointer      user_data)
{
  ExgLookupsView *self = user_data;
  static const int columns[] = { EXG_LOOKUP_COL_QUERY, EXG_LOOKUP_COL_ANSWER,
                                EXG_LOOKUP_COL_EXIT };

  return exg_view_row_contains (model, iter, columns, G_N_ELEMENTS (columns),
                                self->filter_text);
}

static void
search_changed_cb (GtkSearchEntry *entry,
                   ExgLookupsView *self)
{
  exg_view_apply_search (entry, self->tree_view, self->filter,
                         GTK_TREE_MODEL (self->store), &self->filter_text);
  update_empty (self);
}

static void
clear_clicked_cb (GtkButton      *button,
                  ExgLookupsView *self)
{
  if (self->activity != NULL)
    exg_activity_clear_lookups (self->activity);
}

static void
time_cell_func (GtkTreeViewColumn *column,
                GtkCellRenderer   *cell,
                GtkTreeModel      *model,
                GtkTreeIter       *iter,
                gpointer           user_data)
{
  g_autoptr(GDateTime) dt = NULL;
  g_autofree char *text = NULL;
  gint64 t;

  gtk_tree_model_get (model, iter, EXG_LOOKUP_COL_TIME, &t, -1);
  dt = g_date_time_new_from_unix_local (t / G_USEC_PER_SEC);
  text = dt != NULL ? g_date_time_format (dt, "%X") : g_strdup ("");
  g_object_set (cell, "text", text, NULL);
}

/* Fixed widths, as wide as the title and @sample need in this language:
 * a long name or answer is cut with "…" (the tooltip holds it), never
 * pushes the last column out of the window */
static void
add_column (ExgLookupsView      *self,
            const char          *title,
            int                  model_column,
            GtkTreeCellDataFunc  func,
            const char          *sample)
{
  GtkCellRenderer *cell;
  GtkTreeViewColumn *column = exg_view_text_column_new (title, model_column,
                                                        func, &cell);

  if (model_column == EXG_LOOKUP_COL_ANSWER)
    {
      /* errors in the error colour */
      g_object_set (cell, "foreground", "#c01c28", NULL);
      gtk_tree_view_column_add_attribute (column, cell, "foreground-set",
                                          EXG_LOOKUP_COL_FAILED);
    }
  /* the time is short and must stay whole; the rest may be cut */
  if (model_column != EXG_LOOKUP_COL_TIME)
    g_object_set (cell, "ellipsize", PANGO_ELLIPSIZE_END, NULL);
  exg_view_sort_on_click (column, GTK_TREE_SORTABLE (self->store),
                          model_column);
  gtk_tree_view_column_set_expand (column, model_column != EXG_LOOKUP_COL_TIME
                                           && model_column != EXG_LOOKUP_COL_KIND);
  gtk_tree_view_append_column (self->tree_view, column);
  exg_view_fit_column (self->tree_view, column, cell, sample);
}

static void
exg_lookups_view_dispose (GObject *object)
{
  ExgLookupsView *self = EXG_LOOKUPS_VIEW (object);

  g_queue_clear_full (&self->rows, (GDestroyNotify) gtk_tree_iter_free);
  g_clear_object (&self->filter);
  g_clear_object (&self->store);
  g_clear_object (&self->activity);

  G_OBJECT_CLASS (exg_lookups_view_parent_class)->dispose (object);
}

static void
exg_lookups_view_finalize (GObject *object)
{
  g_free (EXG_LOOKUPS_VIEW (object)->filter_text);

  G_OBJECT_CLASS (exg_lookups_view_parent_class)->finalize (object);
}

static void
exg_lookups_view_class_init (ExgLookupsViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = exg_lookups_view_dispose;
  object_class->finalize = exg_lookups_view_finalize;
}

static void
exg_lookups_view_init (ExgLookupsView *self)
{
  GtkWidget *bar, *clear, *note, *overlay;

  gtk_orientable_set_orientation (GTK_ORIENTABLE (self),
                                  GTK_ORIENTATION_VERTICAL);
  gtk_box_set_spacing (GTK_BOX (self), 6);

  self->store = gtk_list_store_new (EXG_LOOKUP_N_COLUMNS, G_TYPE_INT64,
                                    G_TYPE_STRING,
                                    G_TYPE_STRING, G_TYPE_STRING, G_TYPE_BOOLEAN, G_TYPE_STRING);
  self->filter = gtk_tree_model_filter_new (GTK_TREE_MODEL (self->store), NULL);
  gtk_tree_model_filter_set_visible_func (GTK_TREE_MODEL_FILTER (self->filter),
                                          visible_func, self, NULL);

  bar = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  g_object_set (bar, "margin-start", 12, "margin-end", 12, NULL);
  self->search_entry = exg_view_search_entry_new (_("Search name lookups"),
                                                  G_CALLBACK (search_changed_cb),
                                                  self);
  gtk_box_pack_start (GTK_BOX (bar), GTK_WIDGET (self->search_entry), TRUE,
                      TRUE, 0);
  clear = gtk_button_new_with_mnemonic (_("C_lear"));
  gtk_widget_set_tooltip_text (clear, _("Forget every name lookup"));
  gtk_widget_set_name (clear, "lookups-clear-button");
  g_signal_connect_object (clear, "clicked", G_CALLBACK (clear_clicked_cb),
                           self, 0);
  gtk_box_pack_end (GTK_BOX (bar), clear, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (self), bar, FALSE, FALSE, 0);

  self->tree_view = GTK_TREE_VIEW (gtk_tree_view_new_with_model (
    GTK_TREE_MODEL (self->store)));
  gtk_tree_view_set_enable_search (self->tree_view, FALSE);
  atk_object_set_name (gtk_widget_get_accessible (GTK_WIDGET (self->tree_view)),
                       _("Name lookups"));
  add_column (self, _("Time"), EXG_LOOKUP_COL_TIME, time_cell_func, "00:00:00");
  add_column (self, _("Query"), EXG_LOOKUP_COL_QUERY, NULL, "www.example.org");
  /* the longer of the two kinds, in this language */
  add_column (self, _("Kind"), EXG_LOOKUP_COL_KIND, NULL,
              g_utf8_strlen (_("Address → name"), -1) > g_utf8_strlen (_("Name → address"), -1)
              ? _("Address → name") : _("Name → address"));
  add_column (self, _("Answer"), EXG_LOOKUP_COL_ANSWER, NULL, "192.0.2.1");
  add_column (self, _("Exit"), EXG_LOOKUP_COL_EXIT, NULL, "exit-1");
  exg_view_set_tooltip_column (self->tree_view, EXG_LOOKUP_COL_ANSWER);
  overlay = exg_view_overlay_new (self->tree_view, "lookups_empty_label",
                                  &self->empty_label);
  gtk_box_pack_start (GTK_BOX (self), overlay, TRUE, TRUE, 0);

  note = gtk_label_new (_("Name lookups are kept in memory only and are forgotten when Exitgate quits."));
  gtk_label_set_line_wrap (GTK_LABEL (note), TRUE);
  gtk_label_set_xalign (GTK_LABEL (note), 0);
  g_object_set (note, "margin-start", 12, "margin-end", 12, "margin-bottom", 6,
                NULL);
  gtk_style_context_add_class (gtk_widget_get_style_context (note),
                               "dim-label");
  gtk_box_pack_end (GTK_BOX (self), note, FALSE, FALSE, 0);

  gtk_widget_show_all (GTK_WIDGET (self));
  update_empty (self);
}
