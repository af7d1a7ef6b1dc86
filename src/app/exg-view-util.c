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

typedef struct {
  GtkCellRenderer *cell;     /* unowned: the column owns it */
  char            *sample;   /* nullable */
} FitData;

static void
fit_data_free (FitData *fit)
{
  g_free (fit->sample);
  g_free (fit);
}

static void
fit_one (GtkTreeView       *tree_view,
         GtkTreeViewColumn *column,
         FitData           *fit)
{
  GtkWidget *button = gtk_tree_view_column_get_button (column);
  int header = 0, text = 0;

  /* the header's natural width is its whole title */
  if (button != NULL)
    gtk_widget_get_preferred_width (button, NULL, &header);
  if (fit->sample != NULL && fit->cell != NULL)
    {
      g_autofree char *old = NULL;

      g_object_get (fit->cell, "text", &old, NULL);
      g_object_set (fit->cell, "text", fit->sample, NULL);
      gtk_cell_renderer_get_preferred_width (fit->cell, GTK_WIDGET (tree_view), NULL, &text);
      g_object_set (fit->cell, "text", old, NULL);
    }
  /* the view puts a few pixels between cells ("horizontal-separator") */
  gtk_tree_view_column_set_fixed_width (column, MAX (header, text + 4));
}

/* Fonts and padding are known for sure once the view is styled in its
 * window: measured again then, and on a theme or font change */
static void
refit_cb (GtkWidget *widget,
          gpointer   user_data)
{
  GtkTreeView *tree_view = GTK_TREE_VIEW (widget);
  g_autoptr(GList) columns = gtk_tree_view_get_columns (tree_view);

  for (GList *l = columns; l != NULL; l = l->next)
    {
      FitData *fit = g_object_get_data (l->data, "exg-fit");

      if (fit != NULL)
        fit_one (tree_view, l->data, fit);
    }
}

void
exg_view_fit_column (GtkTreeView       *tree_view,
                     GtkTreeViewColumn *column,
                     GtkCellRenderer   *cell,
                     const char        *sample)
{
  FitData *fit;

  g_return_if_fail (GTK_IS_TREE_VIEW (tree_view));
  g_return_if_fail (gtk_tree_view_column_get_tree_view (column) == GTK_WIDGET (tree_view));

  fit = g_new0 (FitData, 1);
  fit->cell = cell;
  fit->sample = g_strdup (sample);
  g_object_set_data_full (G_OBJECT (column), "exg-fit", fit,
                          (GDestroyNotify) fit_data_free);
  gtk_tree_view_column_set_sizing (column, GTK_TREE_VIEW_COLUMN_FIXED);
  fit_one (tree_view, column, fit);
  if (g_object_get_data (G_OBJECT (tree_view), "exg-fit-connected") == NULL)
    {
      g_object_set_data (G_OBJECT (tree_view), "exg-fit-connected", GINT_TO_POINTER (1));
      g_signal_connect_after (tree_view, "map", G_CALLBACK (refit_cb), NULL);
      g_signal_connect_after (tree_view, "style-updated", G_CALLBACK (refit_cb), NULL);
    }
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

/* The text of @column's cell at @iter when the column is too narrow to
 * show it whole, else NULL.  (transfer full) */
static char *
dup_cut_text (GtkTreeView       *tree_view,
              GtkTreeViewColumn *column,
              GtkTreeModel      *model,
              GtkTreeIter       *iter)
{
  g_autoptr(GList) cells = gtk_cell_layout_get_cells (GTK_CELL_LAYOUT (column));
  int width = 0;

  gtk_tree_view_column_cell_set_cell_data (column, model, iter, FALSE, FALSE);
  for (GList *l = cells; l != NULL; l = l->next)
    {
      g_autofree char *text = NULL;

      if (!GTK_IS_CELL_RENDERER_TEXT (l->data))
        continue;
      g_object_get (l->data, "text", &text, NULL);
      if (text == NULL || text[0] == '\0')
        return NULL;
      /* the natural width of an ellipsizing cell is its whole text */
      gtk_cell_renderer_get_preferred_width (l->data, GTK_WIDGET (tree_view), NULL, &width);
      return width > gtk_tree_view_column_get_width (column) ? g_steal_pointer (&text) : NULL;
    }
  return NULL;
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
  g_autofree char *cut = NULL;
  GtkTreeViewColumn *column = NULL;
  GtkTreeModel *model;
  GtkTreeIter iter;
  int bin_x = 0, bin_y = 0;

  if (!keyboard_mode)
    gtk_tree_view_convert_widget_to_bin_window_coords (tree_view, x, y, &bin_x, &bin_y);
  if (!gtk_tree_view_get_tooltip_context (tree_view, &x, &y, keyboard_mode,
                                          &model, &path, &iter))
    return FALSE;
  gtk_tree_model_get (model, &iter, model_column, &text, -1);
  /* a cell cut with "…" under the pointer: its whole text first */
  if (!keyboard_mode
      && gtk_tree_view_get_path_at_pos (tree_view, bin_x, bin_y, NULL, &column, NULL, NULL))
    cut = dup_cut_text (tree_view, column, model, &iter);
  if (cut != NULL && text != NULL && text[0] != '\0' && strstr (text, cut) == NULL)
    {
      g_autofree char *both = g_strdup_printf ("%s\n\n%s", cut, text);

      g_free (text);
      text = g_steal_pointer (&both);
    }
  else if (cut != NULL && (text == NULL || text[0] == '\0'))
    {
      g_free (text);
      text = g_steal_pointer (&cut);
    }
  if (text == NULL || text[0] == '\0')
    return FALSE;
  gtk_tooltip_set_text (tooltip, text);
  if (column != NULL && cut != NULL)
    gtk_tree_view_set_tooltip_cell (tree_view, tooltip, path, column, NULL);
  else
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

GtkSearchEntry *
exg_view_search_entry_new (const char *placeholder,
                           GCallback   changed,
                           gpointer    view)
{
  GtkSearchEntry *entry = GTK_SEARCH_ENTRY (gtk_search_entry_new ());

  gtk_entry_set_placeholder_text (GTK_ENTRY (entry), placeholder);
  atk_object_set_name (gtk_widget_get_accessible (GTK_WIDGET (entry)), placeholder);
  exg_view_clear_on_escape (entry);
  g_signal_connect_object (entry, "search-changed", changed, view, 0);
  return entry;
}

GtkWidget *
exg_view_overlay_new (GtkTreeView  *tree_view,
                      const char   *label_name,
                      GtkLabel    **out_label)
{
  GtkWidget *scrolled, *overlay;
  GtkLabel *label;

  scrolled = gtk_scrolled_window_new (NULL, NULL);
  gtk_container_add (GTK_CONTAINER (scrolled), GTK_WIDGET (tree_view));
  overlay = gtk_overlay_new ();
  gtk_container_add (GTK_CONTAINER (overlay), scrolled);

  label = GTK_LABEL (gtk_label_new (NULL));
  gtk_buildable_set_name (GTK_BUILDABLE (label), label_name);
  gtk_label_set_line_wrap (label, TRUE);
  gtk_label_set_justify (label, GTK_JUSTIFY_CENTER);
  g_object_set (label, "margin", 24, NULL);
  gtk_widget_set_halign (GTK_WIDGET (label), GTK_ALIGN_CENTER);
  gtk_widget_set_valign (GTK_WIDGET (label), GTK_ALIGN_CENTER);
  gtk_style_context_add_class (gtk_widget_get_style_context (GTK_WIDGET (label)),
                               "dim-label");
  gtk_overlay_add_overlay (GTK_OVERLAY (overlay), GTK_WIDGET (label));
  gtk_overlay_set_overlay_pass_through (GTK_OVERLAY (overlay), GTK_WIDGET (label),
                                        TRUE);
  *out_label = label;
  return overlay;
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
