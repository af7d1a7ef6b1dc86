/* exg-view-util.h: what the views do alike.  The lists (connections,
 * lookups, routers): a text column, sorting the store by header clicks,
 * and a search that filters the rows.  Rates and bandwidths, the same
 * way in every view.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* A resizable column with one text cell, showing @model_column, or drawn
 * by @func (which gets GINT_TO_POINTER (@model_column)).  The cell, owned
 * by the column, is stored at @cell. */
GtkTreeViewColumn *exg_view_text_column_new (const char          *title,
                                             int                  model_column,
                                             GtkTreeCellDataFunc  func,
                                             GtkCellRenderer    **cell);

/* Gives @column (appended to @tree_view) a fixed width that shows its
 * whole title and @sample (nullable) in @cell, measured in the view's
 * font and language: no header cut at any window size the views fit. */
void               exg_view_fit_column      (GtkTreeView         *tree_view,
                                             GtkTreeViewColumn   *column,
                                             GtkCellRenderer     *cell,
                                             const char          *sample);
/* Clicks on @column's header sort @store by @model_column (again:
 * reversed), whether the view shows @store or a filter over it. */
void               exg_view_sort_on_click   (GtkTreeViewColumn   *column,
                                             GtkTreeSortable     *store,
                                             int                  model_column);

/* Whether any of the string @columns of the row contains @folded (a
 * g_utf8_casefold () needle); a NULL @folded matches every row. */
gboolean           exg_view_row_contains    (GtkTreeModel        *model,
                                             GtkTreeIter         *iter,
                                             const int           *columns,
                                             gsize                n_columns,
                                             const char          *folded);

/* Takes @entry's text as the new search (*@filter_text: casefolded, NULL
 * when empty), refilters @filter, and shows in @tree_view the filter while
 * searching, else @store itself: one model less to update on every
 * change. */
void               exg_view_apply_search    (GtkSearchEntry      *entry,
                                             GtkTreeView         *tree_view,
                                             GtkTreeModel        *filter,
                                             GtkTreeModel        *store,
                                             char               **filter_text);

/* Shows @label over an empty @tree_view: @empty_text when there are no
 * rows at all, or that nothing matches @search (the entry's text) when a
 * search hides every row; hides it otherwise. */
void               exg_view_update_empty    (GtkLabel            *label,
                                             GtkTreeView         *tree_view,
                                             const char          *search,
                                             const char          *empty_text);

/* Escape in @entry clears the search (GtkSearchEntry only stops it) */
void               exg_view_clear_on_escape (GtkSearchEntry      *entry);

/* A search entry for a view's filter bar: @placeholder is also its
 * accessible name, Escape clears it, and "search-changed" calls @changed
 * with @view (a GObject the handler lives as long as). */
GtkSearchEntry    *exg_view_search_entry_new (const char         *placeholder,
                                              GCallback           changed,
                                              gpointer            view);

/* @tree_view in a scrolled window, under an overlay whose centred, dimmed
 * label (named @label_name for tests) says why the list is empty (see
 * exg_view_update_empty).  Returns the overlay; *out_label the label. */
GtkWidget         *exg_view_overlay_new     (GtkTreeView         *tree_view,
                                             const char          *label_name,
                                             GtkLabel           **out_label);

/* Hovering a row of @tree_view shows the whole text of its string
 * @model_column in a tooltip (as text, not markup): the cells may be
 * ellipsized, the tooltip never is. */
void               exg_view_set_tooltip_column (GtkTreeView      *tree_view,
                                                int               model_column);

/* The reason at the end of an error message built as "context: context:
 * reason" (GIO's "Error binding to address X: …" inside "Cannot listen on
 * X: …"), so that a message that names its own context once does not
 * repeat it; a message without such a prefix comes back whole. */
char              *exg_error_dup_reason     (const char          *message);

/* Human-readable byte rate, e.g. "1.2 MB/s" */
char              *exg_format_rate          (double               bytes_per_second);
/* An exit's bandwidth, the same way everywhere: "12.5 MB/s (100 Mbit/s)" */
char              *exg_format_bandwidth     (double               bytes_per_second);
/* The same in bytes only, for narrow cells: "12.5 MB/s" */
char              *exg_format_bandwidth_bytes (double             bytes_per_second);

G_END_DECLS
