/* exg-connections-view.h: the live connections table.  Rows are added and
 * updated in batches, at most once a second, never per packet.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "exg-core.h"

G_BEGIN_DECLS

enum {
  EXG_CONN_COL_ID,          /* guint64 */
  EXG_CONN_COL_CLIENT,      /* string */
  EXG_CONN_COL_TARGET,      /* string, as requested; "" before the request */
  EXG_CONN_COL_EXIT,        /* string: flag + router name + country */
  EXG_CONN_COL_EXIT_ID,     /* string: router id */
  EXG_CONN_COL_STATE,       /* string, for people */
  EXG_CONN_COL_UP,          /* guint64 bytes */
  EXG_CONN_COL_DOWN,        /* guint64 bytes */
  EXG_CONN_COL_RATE,        /* double bytes/s, up + down */
  EXG_CONN_COL_DURATION,    /* gint64 seconds */
  EXG_CONN_COL_ALIVE,       /* boolean; FALSE: greyed, removed soon */
  EXG_CONN_COL_DETAIL,      /* string: why it failed, in full; the tooltip */
  EXG_CONN_COL_LEAK,        /* boolean: a CONNECT by IP address through a tor
                             * or proxy exit (the client resolves names) */
  EXG_CONN_N_COLUMNS
};

#define EXG_TYPE_CONNECTIONS_VIEW (exg_connections_view_get_type ())
G_DECLARE_FINAL_TYPE (ExgConnectionsView, exg_connections_view, EXG, CONNECTIONS_VIEW, GtkBox)

void          exg_connections_view_set_server   (ExgConnectionsView *self,
                                                 ExgServer          *server);
/* The unfiltered store.  (transfer none) */
GtkListStore *exg_connections_view_get_store    (ExgConnectionsView *self);
GtkTreeView  *exg_connections_view_get_tree_view (ExgConnectionsView *self);
GtkEntry     *exg_connections_view_get_search_entry (ExgConnectionsView *self);
/* Runs the once-a-second update now (tests, and after a user action). */
void          exg_connections_view_refresh      (ExgConnectionsView *self);
/* How long a closed connection stays (greyed) before it goes; default 3 s */
void          exg_connections_view_set_linger   (ExgConnectionsView *self,
                                                 guint               milliseconds);
/* How long a failed one stays, with its reason, unless dismissed; 30 s */
void          exg_connections_view_set_failed_linger (ExgConnectionsView *self,
                                                 guint               milliseconds);

G_END_DECLS
