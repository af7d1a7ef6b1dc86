/* exg-connections-view-private.h: what exg-connections-view.c and
 * exg-connections-menu.c share: a row's bookkeeping, the view's fields
 * and a few entry points.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-connections-view.h"

G_BEGIN_DECLS

typedef struct {
  GtkTreeIter  iter;         /* valid while in_store */
  ExgConnInfo *info;         /* owned ref */
  gboolean     in_store;
  gboolean     dirty;        /* state/target/exit may have changed */
  gint64       closed_at;    /* monotonic µs; 0 while alive */
  /* what the row shows, to set only what changed */
  ExgConnState shown_state;
  gboolean     shown_leak;
  char        *shown_target;
  char        *shown_exit_id;
  guint64      shown_up;
  guint64      shown_down;
  double       shown_rate;
  gint64       shown_duration;
  /* for the rate */
  guint64      sample_bytes;
  gint64       sample_time;
} Row;

struct _ExgConnectionsView
{
  GtkBox              parent_instance;

  ExgServer          *server;        /* owned */
  GtkSearchEntry     *search_entry;
  GtkTreeView        *tree_view;
  GtkListStore       *store;         /* owned */
  GtkTreeModel       *filter;        /* owned; the view's model while filtering */
  GtkMenu            *menu;          /* owned (ref_sink) */
  GSimpleActionGroup *actions;       /* owned: "conn" */
  GtkLabel           *empty_label;
  GtkInfoBar         *leak_bar;      /* said once a run, on the first leak */
  GtkLabel           *leak_label;
  gboolean            leak_said;

  GHashTable         *rows;          /* owned: &info->id → Row* (owns Row) */
  GPtrArray          *pending;       /* owned: Row* not in the store yet */
  char               *filter_text;   /* owned, casefolded; NULL: show all */
  guint               flush_id;
  guint               tick_id;
  guint               linger_ms;
  guint               failed_linger_ms;
};

/* exg-connections-view.c */
void exg_connections_view_update_empty_ (ExgConnectionsView *self);
/* emits ::new-circuit */
void exg_connections_view_new_circuit_  (ExgConnectionsView *self,
                                         const char         *exit_fingerprint,
                                         const char         *isolation);

/* exg-connections-menu.c */
void exg_connections_view_menu_init_    (ExgConnectionsView *self);

G_END_DECLS
