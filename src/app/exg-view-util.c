/* exg-view-util.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-view-util.h"

#include <glib/gi18n.h>

#include <string.h>

GtkTreeViewColumn *
exg_view_text_column_new (const char          *title,
                          int                  model_column,
                          GtkTreeCellDataFunc  func,
                          GtkCellRenderer    **cell)
{
  GtkTreeViewColumn *column = gtk_tree_view_column_new ();

  *cell = gtk_cell_renderer_text_new ();
  gtk_tree_view_column_set_title (column, title);
  gtk_tree_view_column_pack_start (column, *cell, TRUE);
  if (func != NULL)
    gtk_tree_view_column_set_cell_data_func (column, *cell, func,
                                             GINT_TO_POINTER (model_column),
                                             NULL);
  else
    gtk_tree_view_column_add_attribute (column, *cell, "text", model_column);
  gtk_tree_view_column_set_resizable (column, TRUE);
  return column;
}

/* Sorting by hand, not with a GtkTreeModelSort: that looks rows up
 * linearly, and a filter over the store is not sortable itself. */
static void
column_clicked_cb (GtkTreeViewColumn *column,
                   GtkTreeSortable   *sortable)
{
  int model_column = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (column),
                                                         "exg-model-column"));
  GtkWidget *tree_view = gtk_tree_view_column_get_tree_view (column);
  GtkSortType order = GTK_SORT_ASCENDING;
  g_autoptr(GList) columns = NULL;
  int current;

  if (gtk_tree_sortable_get_sort_column_id (sortable, &current, &order)
      && current == model_column)
    order = order == GTK_SORT_ASCENDING ? GTK_SORT_DESCENDING
                                        : GTK_SORT_ASCENDING;
  else
    order = GTK_SORT_ASCENDING;
  gtk_tree_sortable_set_sort_column_id (sortable, model_column, order);

  if (tree_view != NULL)
    columns = gtk_tree_view_get_columns (GTK_TREE_VIEW (tree_view));
  for (GList *l = columns; l != NULL; l = l->next)
    gtk_tree_view_column_set_sort_indicator (l->data,
                                             l->data == (gpointer) column);
  gtk_tree_view_column_set_sort_order (column, order);
}

void
exg_view_sort_on_click (GtkTreeViewColumn *column,
                        GtkTreeSortable   *store,
                        int                model_column)
{
  g_object_set_data (G_OBJECT (column), "exg-model-column",
                     GINT_TO_POINTER (model_column));
  gtk_tree_view_column_set_clickable (column, TRUE);
  g_signal_connect_object (column, "clicked", G_CALLBACK (column_clicked_cb),
                           store, 0);
}

gboolean
exg_view_row_contains (GtkTreeModel *model,
                       GtkTreeIter  *iter,
                       const int    *columns,
                       gsize         n_columns,
                       const char   *folded)
{
  if (folded == NULL)
    return TRUE;
  for (gsize i = 0; i < n_columns; i++)
    {
      g_autofree char *text = NULL;
      g_autofree char *text_folded = NULL;

      gtk_tree_model_get (model, iter, columns[i], &text, -1);
      if (text == NULL)
        continue;
      text_folded = g_utf8_casefold (text, -1);
      if (strstr (text_folded, folded) != NULL)
        return TRUE;
    }
  return FALSE;
}

void
exg_view_apply_search (GtkSearchEntry *entry,
                       GtkTreeView    *tree_view,
                       GtkTreeModel   *filter,
                       GtkTreeModel   *store,
                       char          **filter_text)
{
  const char *text = gtk_entry_get_text (GTK_ENTRY (entry));
  GtkTreeModel *model;

  g_clear_pointer (filter_text, g_free);
  if (text[0] != '\0')
    *filter_text = g_utf8_casefold (text, -1);
  gtk_tree_model_filter_refilter (GTK_TREE_MODEL_FILTER (filter));
  model = *filter_text != NULL ? filter : store;
  if (gtk_tree_view_get_model (tree_view) != model)
    gtk_tree_view_set_model (tree_view, model);
}

static gboolean
query_tooltip_cb (GtkWidget  *widget,
                  int         x,
                  int         y,
                  gboolean    keyboard_mode,
                  GtkTooltip *tooltip,
                  gpointer    user_data)
{
  GtkTreeView *tree_view = GTK_TREE_VIEW (widget);
  int model_column = GPOINTER_TO_INT (user_data);
  g_autoptr(GtkTreePath) path = NULL;
  g_autofree char *text = NULL;
  GtkTreeModel *model;
  GtkTreeIter iter;

  if (!gtk_tree_view_get_tooltip_context (tree_view, &x, &y, keyboard_mode,
                                          &model, &path, &iter))
    return FALSE;
  gtk_tree_model_get (model, &iter, model_column, &text, -1);
  if (text == NULL || text[0] == '\0')
    return FALSE;
  gtk_tooltip_set_text (tooltip, text);
  gtk_tree_view_set_tooltip_row (tree_view, tooltip, path);
  return TRUE;
}

void
exg_view_set_tooltip_column (GtkTreeView *tree_view,
                             int          model_column)
{
  g_return_if_fail (GTK_IS_TREE_VIEW (tree_view));

  gtk_widget_set_has_tooltip (GTK_WIDGET (tree_view), TRUE);
  g_signal_connect (tree_view, "query-tooltip", G_CALLBACK (query_tooltip_cb),
                    GINT_TO_POINTER (model_column));
}

char *
exg_error_dup_reason (const char *message)
{
  const char *last;

  g_return_val_if_fail (message != NULL, NULL);

  last = g_strrstr (message, ": ");
  if (last == NULL || last[2] == '\0')
    return g_strdup (message);
  return g_strdup (last + 2);
}

static void
stop_search_cb (GtkSearchEntry *entry,
                gpointer        user_data)
{
  gtk_entry_set_text (GTK_ENTRY (entry), "");
}

void
exg_view_clear_on_escape (GtkSearchEntry *entry)
{
  g_return_if_fail (GTK_IS_SEARCH_ENTRY (entry));

  g_signal_connect (entry, "stop-search", G_CALLBACK (stop_search_cb), NULL);
}

void
exg_view_update_empty (GtkLabel    *label,
                       GtkTreeView *tree_view,
                       const char  *search,
                       const char  *empty_text)
{
  GtkTreeModel *model = gtk_tree_view_get_model (tree_view);
  GtkTreeIter iter;

  g_return_if_fail (GTK_IS_LABEL (label));

  if (model != NULL && gtk_tree_model_get_iter_first (model, &iter))
    {
      gtk_widget_hide (GTK_WIDGET (label));
      return;
    }
  if (search != NULL && search[0] != '\0')
    {
      /* Translators: %s is what the user searched for */
      g_autofree char *text = g_strdup_printf (_("Nothing matches “%s”. Press Escape to show everything."),
                                               search);

      gtk_label_set_text (label, text);
    }
  else
    gtk_label_set_text (label, empty_text);
  gtk_widget_show (GTK_WIDGET (label));
}

char *
exg_format_rate (double bytes_per_second)
{
  g_autofree char *size = g_format_size ((guint64) MAX (bytes_per_second, 0));

  /* Translators: a transfer rate, e.g. "1.2 MB/s" */
  return g_strdup_printf (_("%s/s"), size);
}

/**
 * exg_format_bandwidth_bytes:
 * @bytes_per_second: a bandwidth
 *
 * The first half of exg_format_bandwidth (), in bytes only, for cells
 * too narrow for both; the same units and rounding.
 *
 * Returns: (transfer full): e.g. "12.5 MB/s"
 */
char *
exg_format_bandwidth_bytes (double bytes_per_second)
{
  double bytes = MAX (bytes_per_second, 0);

  if (bytes >= 1e9)
    /* Translators: gigabytes per second */
    return g_strdup_printf (_("%.1f GB/s"), bytes / 1e9);
  else if (bytes >= 1e6)
    /* Translators: megabytes per second */
    return g_strdup_printf (_("%.1f MB/s"), bytes / 1e6);
  else if (bytes >= 1e3)
    /* Translators: kilobytes per second */
    return g_strdup_printf (_("%.1f kB/s"), bytes / 1e3);
  /* Translators: bytes per second */
  return g_strdup_printf (_("%.0f B/s"), bytes);
}

/**
 * exg_format_bandwidth:
 * @bytes_per_second: a bandwidth
 *
 * Formats a bandwidth in decimal (SI) units, in bytes and in bits per
 * second, so that the picker, the exit dialog and the routers page say
 * it one way: ISPs sell Mbit/s, browsers show MB/s.
 *
 * Returns: (transfer full): e.g. "12.5 MB/s (100 Mbit/s)"
 */
char *
exg_format_bandwidth (double bytes_per_second)
{
  double bits = MAX (bytes_per_second, 0) * 8;
  g_autofree char *in_bytes = exg_format_bandwidth_bytes (bytes_per_second);
  g_autofree char *in_bits = NULL;

  if (bits >= 1e9)
    /* Translators: gigabits per second */
    in_bits = g_strdup_printf (_("%.3g Gbit/s"), bits / 1e9);
  else if (bits >= 1e6)
    /* Translators: megabits per second */
    in_bits = g_strdup_printf (_("%.3g Mbit/s"), bits / 1e6);
  else if (bits >= 1e3)
    /* Translators: kilobits per second */
    in_bits = g_strdup_printf (_("%.3g kbit/s"), bits / 1e3);
  else
    /* Translators: bits per second */
    in_bits = g_strdup_printf (_("%.0f bit/s"), bits);

  /* Translators: a bandwidth in bytes, then in bits: "12.5 MB/s (100 Mbit/s)" */
  return g_strdup_printf (_("%s (%s)"), in_bytes, in_bits);
}
