/* exg-connections-view.c
 *
 * The store is fed in two ways, both batched: connections that appear,
 * change state or end are queued and applied together in one idle; byte
 * counters, rates and durations are read on a one-second tick, and only
 * the cells whose value changed are set (Transmission's update_foreach
 * idea).  Nothing here runs per packet, so 10,000 busy connections cost
 * one pass over 10,000 rows a second.
 *
 * No GtkTreeModelSort: it finds a changed row by a linear search, which
 * makes a tick over 10,000 changed rows quadratic (seconds).  The store
 * sorts itself instead, and during a tick sorting is suspended and
 * redone once at the end (one reorder instead of one per moved row).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-connections-view-private.h"

#include "exg-connection-text.h"
#include "exg-view-util.h"

#include <glib/gi18n.h>

/* above this many rows added at once, detach the model from the view so
 * the view does not redo its layout once per row */
#define BULK_ADD_THRESHOLD 200

G_DEFINE_FINAL_TYPE (ExgConnectionsView, exg_connections_view, GTK_TYPE_BOX)

enum {
  NEW_CIRCUIT,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

void
exg_connections_view_new_circuit_ (ExgConnectionsView *self,
                                   const char         *exit_fingerprint,
                                   const char         *isolation)
{
  g_signal_emit (self, signals[NEW_CIRCUIT], 0, exit_fingerprint, isolation);
}

void
exg_connections_view_update_empty_ (ExgConnectionsView *self)
{
  exg_view_update_empty (self->empty_label, self->tree_view,
                         gtk_entry_get_text (GTK_ENTRY (self->search_entry)),
                         _("No connections. Point an application at the proxy's address to see its traffic here."));
}

/* The first client seen resolving names itself, with a tor or proxy exit:
 * said once a run, in words, over the list; each such row keeps its
 * marker and the advice in its tooltip */
static void
say_leak (ExgConnectionsView *self,
          ExgConnInfo        *info)
{
  g_autofree char *host = NULL;
  g_autofree char *what = NULL;
  g_autofree char *text = NULL;

  if (self->leak_said)
    return;
  self->leak_said = TRUE;
  host = exg_conn_info_get_client_host (info);
  what = g_strdup_printf (/* Translators: %s is a client's address, then advice follows */
                          _("A program at %s connects by IP address through a Tor or proxy "
                            "exit: if it looked the name up itself, that lookup went outside "
                            "the proxy and may show where it goes."),
                          host);
  text = g_strdup_printf ("%s %s", what, exg_connection_leak_advice ());
  gtk_label_set_text (self->leak_label, text);
  gtk_widget_show (GTK_WIDGET (self->leak_bar));
}

static void
leak_bar_response_cb (GtkInfoBar         *bar,
                      int                 response,
                      ExgConnectionsView *self)
{
  gtk_widget_hide (GTK_WIDGET (bar));
}

static void
row_free (Row *row)
{
  exg_conn_info_unref (row->info);
  g_free (row->shown_target);
  g_free (row->shown_exit_id);
  g_free (row);
}

/* Sets the columns of @row that differ from what it shows.  @now_real
 * for the duration; @rate_now (monotonic) > 0 also recomputes the rate. */
static void
update_row (ExgConnectionsView *self,
            Row                *row,
            gint64              now_real,
            gint64              rate_now)
{
  ExgConnInfo *info = row->info;
  int columns[EXG_CONN_N_COLUMNS];
  GValue values[EXG_CONN_N_COLUMNS] = { G_VALUE_INIT, };
  guint n = 0;
  g_autofree char *exit = NULL;
  gboolean alive = row->closed_at == 0;
  gint64 end = info->end_time != 0 ? info->end_time : now_real;
  gint64 duration = MAX (0, (end - info->start_time) / G_USEC_PER_SEC);
  ExgConnState state = info->state;

  /* a connection removed while still "open" ended normally */
  if (!alive && state != EXG_CONN_STATE_FAILED)
    state = EXG_CONN_STATE_CLOSED;

#define SET(col, type, setter, v)               \
  G_STMT_START {                                \
    columns[n] = (col);                         \
    g_value_init (&values[n], (type));          \
    setter (&values[n], (v));                   \
    n++;                                        \
  } G_STMT_END

  if (row->dirty)
    {
      gboolean leak = info->ip_literal_through_proxy;

      if (state != row->shown_state || leak != row->shown_leak)
        SET (EXG_CONN_COL_DETAIL, G_TYPE_STRING, g_value_take_string,
             exg_connection_detail_text (info, state));
      if (state != row->shown_state)
        {
          row->shown_state = state;
          SET (EXG_CONN_COL_STATE, G_TYPE_STRING, g_value_take_string,
               exg_connection_state_text (info, state));
        }
      if (leak != row->shown_leak)
        {
          row->shown_leak = leak;
          SET (EXG_CONN_COL_LEAK, G_TYPE_BOOLEAN, g_value_set_boolean, leak);
          if (leak)
            say_leak (self, info);
        }
      if (g_strcmp0 (info->target, row->shown_target) != 0)
        {
          g_free (row->shown_target);
          row->shown_target = g_strdup (info->target);
          SET (EXG_CONN_COL_TARGET, G_TYPE_STRING, g_value_set_string,
               info->target ? info->target : "");
        }
      if (g_strcmp0 (info->exit_id, row->shown_exit_id) != 0)
        {
          g_free (row->shown_exit_id);
          row->shown_exit_id = g_strdup (info->exit_id);
          exit = exg_connection_exit_label (info);
          SET (EXG_CONN_COL_EXIT, G_TYPE_STRING, g_value_set_string, exit);
          SET (EXG_CONN_COL_EXIT_ID, G_TYPE_STRING, g_value_set_string,
               info->exit_id);
        }
      if (!alive)
        SET (EXG_CONN_COL_ALIVE, G_TYPE_BOOLEAN, g_value_set_boolean, FALSE);
      row->dirty = FALSE;
    }

  if (info->bytes_up != row->shown_up)
    {
      row->shown_up = info->bytes_up;
      SET (EXG_CONN_COL_UP, G_TYPE_UINT64, g_value_set_uint64, info->bytes_up);
    }
  if (info->bytes_down != row->shown_down)
    {
      row->shown_down = info->bytes_down;
      SET (EXG_CONN_COL_DOWN, G_TYPE_UINT64, g_value_set_uint64,
           info->bytes_down);
    }
  if (rate_now > 0)
    {
      guint64 bytes = info->bytes_up + info->bytes_down;
      double rate = 0;

      if (alive && row->sample_time > 0 && rate_now > row->sample_time)
        rate = (double) (bytes - row->sample_bytes) * G_USEC_PER_SEC / (double) (rate_now - row->sample_time);
      row->sample_bytes = bytes;
      row->sample_time = rate_now;
      if (rate != row->shown_rate)
        {
          row->shown_rate = rate;
          SET (EXG_CONN_COL_RATE, G_TYPE_DOUBLE, g_value_set_double, rate);
        }
    }
  if (duration != row->shown_duration)
    {
      row->shown_duration = duration;
      SET (EXG_CONN_COL_DURATION, G_TYPE_INT64, g_value_set_int64, duration);
    }
#undef SET

  if (n > 0)
    gtk_list_store_set_valuesv (self->store, &row->iter, columns, values, n);
  for (guint i = 0; i < n; i++)
    g_value_unset (&values[i]);
}

static void
insert_row (ExgConnectionsView *self,
            Row                *row,
            gint64              now_real)
{
  ExgConnInfo *info = row->info;
  g_autofree char *state = exg_connection_state_text (info, info->state);
  g_autofree char *detail = exg_connection_detail_text (info, info->state);

  gtk_list_store_insert_with_values (self->store, &row->iter, -1,
                                     EXG_CONN_COL_ID, info->id,
                                     EXG_CONN_COL_CLIENT, info->client,
                                     EXG_CONN_COL_TARGET, "",
                                     EXG_CONN_COL_EXIT, "",
                                     EXG_CONN_COL_STATE, state,
                                     EXG_CONN_COL_ALIVE, TRUE,
                                     EXG_CONN_COL_DETAIL, detail,
                                     -1);
  row->in_store = TRUE;
  row->shown_state = info->state;
  row->dirty = TRUE;
  row->sample_bytes = info->bytes_up + info->bytes_down;
  row->sample_time = g_get_monotonic_time ();
  update_row (self, row, now_real, 0);
}

static gboolean
flush_cb (gpointer user_data)
{
  ExgConnectionsView *self = user_data;
  gint64 now_real = g_get_real_time ();
  GHashTableIter iter;
  Row *row;

  self->flush_id = 0;

  if (self->pending->len > 0)
    {
      gboolean bulk = self->pending->len > BULK_ADD_THRESHOLD;

      GtkTreeModel *model = gtk_tree_view_get_model (self->tree_view);

      if (bulk)
        gtk_tree_view_set_model (self->tree_view, NULL);
      for (guint i = 0; i < self->pending->len; i++)
        insert_row (self, g_ptr_array_index (self->pending, i), now_real);
      g_ptr_array_set_size (self->pending, 0);
      if (bulk)
        gtk_tree_view_set_model (self->tree_view, model);
    }

  g_hash_table_iter_init (&iter, self->rows);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &row))
    if (row->dirty && row->in_store)
      update_row (self, row, now_real, 0);

  exg_connections_view_update_empty_ (self);
  return G_SOURCE_REMOVE;
}

static void
queue_flush (ExgConnectionsView *self)
{
  if (self->flush_id == 0)
    self->flush_id = g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, flush_cb, self,
                                      NULL);
}

static void
connection_added_cb (ExgActivity        *activity,
                     ExgConnInfo        *info,
                     ExgConnectionsView *self)
{
  Row *row;

  if (g_hash_table_contains (self->rows, &info->id))
    return;
  row = g_new0 (Row, 1);
  row->info = exg_conn_info_ref (info);
  g_hash_table_insert (self->rows, &row->info->id, row);
  g_ptr_array_add (self->pending, row);
  queue_flush (self);
}

static void
connection_changed_cb (ExgActivity        *activity,
                       ExgConnInfo        *info,
                       ExgConnectionsView *self)
{
  Row *row = g_hash_table_lookup (self->rows, &info->id);

  if (row == NULL)
    return;
  row->dirty = TRUE;
  queue_flush (self);
}

static void
connection_removed_cb (ExgActivity        *activity,
                       ExgConnInfo        *info,
                       ExgConnectionsView *self)
{
  Row *row = g_hash_table_lookup (self->rows, &info->id);

  if (row == NULL)
    return;
  row->closed_at = g_get_monotonic_time ();
  row->dirty = TRUE;
  queue_flush (self);
}

void
exg_connections_view_refresh (ExgConnectionsView *self)
{
  gint64 now_real = g_get_real_time ();
  gint64 now = g_get_monotonic_time ();
  GtkTreeSortable *sortable = GTK_TREE_SORTABLE (self->store);
  gboolean mapped = gtk_widget_get_mapped (GTK_WIDGET (self));
  GtkSortType order = GTK_SORT_ASCENDING;
  gboolean sorted;
  int sort_column = 0;
  GHashTableIter iter;
  Row *row;

  g_return_if_fail (EXG_IS_CONNECTIONS_VIEW (self));

  /* new rows first, so every row below has an iter */
  if (self->flush_id != 0)
    {
      g_clear_handle_id (&self->flush_id, g_source_remove);
      flush_cb (self);
    }

  /* hidden, the counters wait: no sorting to suspend either */
  sorted = mapped
           && gtk_tree_sortable_get_sort_column_id (sortable, &sort_column,
                                                    &order);
  if (sorted)
    gtk_tree_sortable_set_sort_column_id (sortable,
                                          GTK_TREE_SORTABLE_UNSORTED_SORT_COLUMN_ID, order);

  g_hash_table_iter_init (&iter, self->rows);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &row))
    {
      if (!row->in_store)
        continue;
      if (row->closed_at != 0
          && now - row->closed_at >= (gint64) (row->shown_state == EXG_CONN_STATE_FAILED
                                               ? self->failed_linger_ms
                                               : self->linger_ms) * 1000)
        {
          gtk_list_store_remove (self->store, &row->iter);
          g_hash_table_iter_remove (&iter);
          continue;
        }
      /* hidden (in the tray, another page): only what must not wait */
      if (!mapped && !row->dirty)
        continue;
      update_row (self, row, now_real, now);
    }

  if (sorted)
    gtk_tree_sortable_set_sort_column_id (sortable, sort_column, order);
  exg_connections_view_update_empty_ (self);
}

static gboolean
tick_cb (gpointer user_data)
{
  exg_connections_view_refresh (user_data);
  return G_SOURCE_CONTINUE;
}

static void
clear_rows (ExgConnectionsView *self)
{
  g_ptr_array_set_size (self->pending, 0);
  g_hash_table_remove_all (self->rows);
  gtk_list_store_clear (self->store);
}

void
exg_connections_view_set_server (ExgConnectionsView *self,
                                 ExgServer          *server)
{
  ExgActivity *activity;
  g_autoptr(GPtrArray) live = NULL;

  g_return_if_fail (EXG_IS_CONNECTIONS_VIEW (self));
  g_return_if_fail (EXG_IS_SERVER (server));

  if (self->server != NULL)
    g_signal_handlers_disconnect_by_data (exg_server_get_activity (self->server), self);
  clear_rows (self);
  g_set_object (&self->server, server);

  activity = exg_server_get_activity (server);
  g_signal_connect_object (activity, "connection-added",
                           G_CALLBACK (connection_added_cb), self, 0);
  g_signal_connect_object (activity, "connection-changed",
                           G_CALLBACK (connection_changed_cb), self, 0);
  g_signal_connect_object (activity, "connection-removed",
                           G_CALLBACK (connection_removed_cb), self, 0);

  live = exg_activity_list_connections (activity);
  for (guint i = 0; live != NULL && i < live->len; i++)
    connection_added_cb (activity, g_ptr_array_index (live, i), self);
  queue_flush (self);
}

GtkListStore *
exg_connections_view_get_store (ExgConnectionsView *self)
{
  g_return_val_if_fail (EXG_IS_CONNECTIONS_VIEW (self), NULL);
  return self->store;
}

GtkTreeView *
exg_connections_view_get_tree_view (ExgConnectionsView *self)
{
  g_return_val_if_fail (EXG_IS_CONNECTIONS_VIEW (self), NULL);
  return self->tree_view;
}

GtkEntry *
exg_connections_view_get_search_entry (ExgConnectionsView *self)
{
  g_return_val_if_fail (EXG_IS_CONNECTIONS_VIEW (self), NULL);
  return GTK_ENTRY (self->search_entry);
}

void
exg_connections_view_set_linger (ExgConnectionsView *self,
                                 guint               milliseconds)
{
  g_return_if_fail (EXG_IS_CONNECTIONS_VIEW (self));
  self->linger_ms = milliseconds;
}

void
exg_connections_view_set_failed_linger (ExgConnectionsView *self,
                                        guint               milliseconds)
{
  g_return_if_fail (EXG_IS_CONNECTIONS_VIEW (self));
  self->failed_linger_ms = milliseconds;
}

/* filtering */

static gboolean
visible_func (GtkTreeModel *model,
              GtkTreeIter  *iter,
              gpointer      user_data)
{
  ExgConnectionsView *self = user_data;
  static const int text_columns[] = {
    EXG_CONN_COL_CLIENT, EXG_CONN_COL_TARGET, EXG_CONN_COL_EXIT, EXG_CONN_COL_STATE,
  };

  return exg_view_row_contains (model, iter, text_columns,
                                G_N_ELEMENTS (text_columns), self->filter_text);
}

static void
search_changed_cb (GtkSearchEntry     *entry,
                   ExgConnectionsView *self)
{
  exg_view_apply_search (entry, self->tree_view, self->filter,
                         GTK_TREE_MODEL (self->store), &self->filter_text);
  exg_connections_view_update_empty_ (self);
}

/* cells */

static void
bytes_cell_func (GtkTreeViewColumn *column,
                 GtkCellRenderer   *cell,
                 GtkTreeModel      *model,
                 GtkTreeIter       *iter,
                 gpointer           user_data)
{
  int model_column = GPOINTER_TO_INT (user_data);
  g_autofree char *text = NULL;
  guint64 bytes;

  gtk_tree_model_get (model, iter, model_column, &bytes, -1);
  text = g_format_size (bytes);
  g_object_set (cell, "text", text, NULL);
}

static void
rate_cell_func (GtkTreeViewColumn *column,
                GtkCellRenderer   *cell,
                GtkTreeModel      *model,
                GtkTreeIter       *iter,
                gpointer           user_data)
{
  g_autofree char *text = NULL;
  double rate;

  gtk_tree_model_get (model, iter, EXG_CONN_COL_RATE, &rate, -1);
  text = rate > 0 ? exg_format_rate (rate) : g_strdup ("");
  g_object_set (cell, "text", text, NULL);
}

static void
duration_cell_func (GtkTreeViewColumn *column,
                    GtkCellRenderer   *cell,
                    GtkTreeModel      *model,
                    GtkTreeIter       *iter,
                    gpointer           user_data)
{
  char text[32];
  gint64 s;

  gtk_tree_model_get (model, iter, EXG_CONN_COL_DURATION, &s, -1);
  if (s >= 3600)
    g_snprintf (text, sizeof text, "%" G_GINT64_FORMAT ":%02d:%02d", s / 3600,
                (int) (s / 60 % 60), (int) (s % 60));
  else
    g_snprintf (text, sizeof text, "%d:%02d", (int) (s / 60), (int) (s % 60));
  g_object_set (cell, "text", text, NULL);
}

/* Fixed sizing, so that the view need not measure 10,000 rows: each
 * column as wide as its title and @sample need in this language; Target
 * and Exit take what is left over. */
static GtkTreeViewColumn *
add_column (ExgConnectionsView   *self,
            const char           *title,
            int                   model_column,
            GtkTreeCellDataFunc   func,
            gboolean              numeric,
            const char           *sample)
{
  GtkCellRenderer *cell;
  GtkTreeViewColumn *column = exg_view_text_column_new (title, model_column,
                                                        func, &cell);

  /* closed connections are drawn greyed until they go */
  gtk_tree_view_column_add_attribute (column, cell, "sensitive",
                                      EXG_CONN_COL_ALIVE);
  if (numeric)
    g_object_set (cell, "xalign", 1.0, NULL);
  else
    g_object_set (cell, "ellipsize", PANGO_ELLIPSIZE_END, NULL);
  exg_view_sort_on_click (column, GTK_TREE_SORTABLE (self->store),
                          model_column);
  gtk_tree_view_column_set_expand (column, model_column == EXG_CONN_COL_TARGET
                                           || model_column == EXG_CONN_COL_EXIT);
  /* fixed-height mode takes fixed-width columns only */
  gtk_tree_view_column_set_sizing (column, GTK_TREE_VIEW_COLUMN_FIXED);
  gtk_tree_view_append_column (self->tree_view, column);
  exg_view_fit_column (self->tree_view, column, cell, sample);
  return column;
}

static void
leak_sign_data_func (GtkTreeViewColumn *column,
                     GtkCellRenderer   *cell,
                     GtkTreeModel      *model,
                     GtkTreeIter       *iter,
                     gpointer           user_data)
{
  gboolean leak;

  gtk_tree_model_get (model, iter, EXG_CONN_COL_LEAK, &leak, -1);
  g_object_set (cell, "icon-name", leak ? "dialog-warning-symbolic" : NULL, NULL);
}

/* A warning sign before the target of a connection that leaks names
 * (the row's tooltip says why, and what to do).  The sign's room is
 * there in every row, empty in most: in fixed-height mode the tree view
 * sizes its cells from the first rows, and a cell hidden there (or
 * without an icon) would get no room in the rows that have one. */
static void
add_leak_marker (GtkTreeViewColumn *column)
{
  GtkCellRenderer *icon = gtk_cell_renderer_pixbuf_new ();
  int xpad, width;

  gtk_cell_renderer_get_padding (icon, &xpad, NULL);
  if (!gtk_icon_size_lookup (GTK_ICON_SIZE_MENU, &width, NULL))
    width = 16;
  gtk_cell_renderer_set_fixed_size (icon, width + 2 * xpad, -1);
  gtk_tree_view_column_pack_start (column, icon, FALSE);
  gtk_cell_layout_reorder (GTK_CELL_LAYOUT (column), icon, 0);
  gtk_tree_view_column_set_cell_data_func (column, icon, leak_sign_data_func,
                                           NULL, NULL);
}

static void
exg_connections_view_dispose (GObject *object)
{
  ExgConnectionsView *self = EXG_CONNECTIONS_VIEW (object);

  g_clear_handle_id (&self->flush_id, g_source_remove);
  g_clear_handle_id (&self->tick_id, g_source_remove);
  if (self->menu != NULL)
    {
      if (gtk_menu_get_attach_widget (self->menu) != NULL)
        gtk_menu_detach (self->menu);
      gtk_widget_destroy (GTK_WIDGET (self->menu));
      g_clear_object (&self->menu);
    }
  g_clear_pointer (&self->pending, g_ptr_array_unref);
  g_clear_pointer (&self->rows, g_hash_table_unref);
  g_clear_object (&self->filter);
  g_clear_object (&self->store);
  g_clear_object (&self->server);
  g_clear_object (&self->actions);

  G_OBJECT_CLASS (exg_connections_view_parent_class)->dispose (object);
}

static void
exg_connections_view_finalize (GObject *object)
{
  ExgConnectionsView *self = EXG_CONNECTIONS_VIEW (object);

  g_free (self->filter_text);

  G_OBJECT_CLASS (exg_connections_view_parent_class)->finalize (object);
}

/* shown again: bring the counters up to date at once */
static void
exg_connections_view_map (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (exg_connections_view_parent_class)->map (widget);
  exg_connections_view_refresh (EXG_CONNECTIONS_VIEW (widget));
}

static void
exg_connections_view_class_init (ExgConnectionsViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  GTK_WIDGET_CLASS (klass)->map = exg_connections_view_map;

  object_class->dispose = exg_connections_view_dispose;
  object_class->finalize = exg_connections_view_finalize;

  /**
   * ExgConnectionsView::new-circuit:
   * @self: the view
   * @exit_fingerprint: the tor exit relay of the selected connection
   * @isolation: the connection's isolation key
   *
   * "New Circuit" was chosen on a connection through a tor exit: the
   * owner knows the tor (exg_tor_client_new_circuit()).
   */
  signals[NEW_CIRCUIT] =
    g_signal_new ("new-circuit", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING,
                  G_TYPE_STRING);
}

static void
exg_connections_view_init (ExgConnectionsView *self)
{
  GtkWidget *overlay;

  gtk_orientable_set_orientation (GTK_ORIENTABLE (self),
                                  GTK_ORIENTATION_VERTICAL);
  gtk_box_set_spacing (GTK_BOX (self), 6);

  self->linger_ms = 3000;
  self->failed_linger_ms = 30000;
  self->rows = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL,
                                      (GDestroyNotify) row_free);
  self->pending = g_ptr_array_new ();
  self->store = gtk_list_store_new (EXG_CONN_N_COLUMNS,
                                    G_TYPE_UINT64, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING,
                                    G_TYPE_STRING, G_TYPE_STRING, G_TYPE_UINT64, G_TYPE_UINT64,
                                    G_TYPE_DOUBLE, G_TYPE_INT64, G_TYPE_BOOLEAN,
                                    G_TYPE_STRING, G_TYPE_BOOLEAN);
  self->filter = gtk_tree_model_filter_new (GTK_TREE_MODEL (self->store), NULL);
  gtk_tree_model_filter_set_visible_func (GTK_TREE_MODEL_FILTER (self->filter),
                                          visible_func, self, NULL);

  self->search_entry = exg_view_search_entry_new (_("Filter connections"),
                                                  G_CALLBACK (search_changed_cb),
                                                  self);
  g_object_set (self->search_entry, "margin-start", 12, "margin-end", 12, NULL);
  gtk_box_pack_start (GTK_BOX (self), GTK_WIDGET (self->search_entry), FALSE,
                      FALSE, 0);

  self->leak_bar = GTK_INFO_BAR (gtk_info_bar_new ());
  gtk_buildable_set_name (GTK_BUILDABLE (self->leak_bar), "leak_bar");
  gtk_info_bar_set_message_type (self->leak_bar, GTK_MESSAGE_WARNING);
  gtk_info_bar_set_show_close_button (self->leak_bar, TRUE);
  self->leak_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_line_wrap (self->leak_label, TRUE);
  gtk_label_set_xalign (self->leak_label, 0.0);
  gtk_label_set_selectable (self->leak_label, TRUE);   /* the advice can be copied */
  gtk_container_add (GTK_CONTAINER (gtk_info_bar_get_content_area (self->leak_bar)),
                     GTK_WIDGET (self->leak_label));
  g_signal_connect_object (self->leak_bar, "response",
                           G_CALLBACK (leak_bar_response_cb), self, 0);
  gtk_box_pack_start (GTK_BOX (self), GTK_WIDGET (self->leak_bar), FALSE, FALSE, 0);

  self->tree_view = GTK_TREE_VIEW (gtk_tree_view_new_with_model (GTK_TREE_MODEL (self->store)));
  gtk_tree_view_set_fixed_height_mode (self->tree_view, TRUE);
  gtk_tree_view_set_enable_search (self->tree_view, FALSE);
  atk_object_set_name (gtk_widget_get_accessible (GTK_WIDGET (self->tree_view)),
                       _("Connections"));
  /* together no wider than an 800-pixel window, in English, Swedish or
   * German: the cells that may be long (target, exit, a failure) are cut
   * with "…", and the row's tooltip holds the whole text */
  {
    g_autofree char *size = g_format_size (999900000);
    g_autofree char *rate = exg_format_rate (999.9e6);
    /* an exit as the cell shows it, with a short name */
    g_autofree char *exit = exg_connection_exit_sample ();

    add_column (self, _("Client"), EXG_CONN_COL_CLIENT, NULL, FALSE, "127.0.0.1:65535");
    add_leak_marker (add_column (self, _("Target"), EXG_CONN_COL_TARGET, NULL, FALSE,
                                 "example.org:80"));
    add_column (self, _("Exit"), EXG_CONN_COL_EXIT, NULL, FALSE, exit);
    add_column (self, _("State"), EXG_CONN_COL_STATE, NULL, FALSE,
                C_("connection state", "Connecting"));
    add_column (self, _("Up"), EXG_CONN_COL_UP, bytes_cell_func, TRUE, size);
    add_column (self, _("Down"), EXG_CONN_COL_DOWN, bytes_cell_func, TRUE, size);
    add_column (self, _("Rate"), EXG_CONN_COL_RATE, rate_cell_func, TRUE, rate);
    add_column (self, _("Duration"), EXG_CONN_COL_DURATION, duration_cell_func,
                TRUE, "0:00:00");
  }
  exg_view_set_tooltip_column (self->tree_view, EXG_CONN_COL_DETAIL);

  overlay = exg_view_overlay_new (self->tree_view, "connections_empty_label",
                                  &self->empty_label);
  gtk_box_pack_start (GTK_BOX (self), overlay, TRUE, TRUE, 0);
  gtk_widget_show_all (GTK_WIDGET (self));
  gtk_widget_hide (GTK_WIDGET (self->leak_bar));
  exg_connections_view_update_empty_ (self);

  exg_connections_view_menu_init_ (self);

  self->tick_id = g_timeout_add_seconds (1, tick_cb, self);
}
