/* exg-routers-view.h: every router of the registry with its state and the
 * figures observed, a search over them, and a button to add an exit.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "exg-core.h"

G_BEGIN_DECLS

enum {
  EXG_ROUTER_COL_ID,          /* string */
  EXG_ROUTER_COL_NAME,        /* string */
  EXG_ROUTER_COL_KIND,        /* string */
  EXG_ROUTER_COL_ADDRESS,     /* string */
  EXG_ROUTER_COL_COUNTRY,     /* string: flag + name */
  EXG_ROUTER_COL_BANDWIDTH,   /* guint64 advertised bytes/s */
  EXG_ROUTER_COL_OBSERVED,    /* double observed bytes/s */
  EXG_ROUTER_COL_LATENCY,     /* gint64 µs, -1 unknown */
  EXG_ROUTER_COL_UP,          /* boolean: not down (the row is not greyed) */
  EXG_ROUTER_COL_STATE,       /* int: ExgRouterState */
  EXG_ROUTER_COL_FINGERPRINT, /* string: a tor relay's, "" for our exits */
  EXG_ROUTER_COL_DETAILS,     /* string: the row's tooltip, all of it */
  EXG_ROUTER_N_COLUMNS
};

#define EXG_TYPE_ROUTERS_VIEW (exg_routers_view_get_type ())
G_DECLARE_FINAL_TYPE (ExgRoutersView, exg_routers_view, EXG, ROUTERS_VIEW, GtkBox)

void          exg_routers_view_set_registry (ExgRoutersView    *self,
                                             ExgRouterRegistry *registry);
GtkListStore *exg_routers_view_get_store    (ExgRoutersView    *self);
GtkEntry     *exg_routers_view_get_search_entry (ExgRoutersView *self);
/* What the view shows: the store, or a filter over it while searching */
GtkTreeView  *exg_routers_view_get_tree_view (ExgRoutersView   *self);

G_END_DECLS
