/* exg-lookups-view.h: the name-lookup history (RESOLVE / RESOLVE_PTR),
 * held in memory only.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "exg-core.h"

G_BEGIN_DECLS

enum {
  EXG_LOOKUP_COL_TIME,      /* gint64, g_get_real_time () */
  EXG_LOOKUP_COL_QUERY,     /* string */
  EXG_LOOKUP_COL_KIND,      /* string, for people */
  EXG_LOOKUP_COL_ANSWER,    /* string: the answer, or the error */
  EXG_LOOKUP_COL_FAILED,    /* boolean */
  EXG_LOOKUP_COL_EXIT,      /* string: flag + router name + country */
  EXG_LOOKUP_N_COLUMNS
};

#define EXG_TYPE_LOOKUPS_VIEW (exg_lookups_view_get_type ())
G_DECLARE_FINAL_TYPE (ExgLookupsView, exg_lookups_view, EXG, LOOKUPS_VIEW, GtkBox)

void          exg_lookups_view_set_activity     (ExgLookupsView *self,
                                                 ExgActivity    *activity);
GtkListStore *exg_lookups_view_get_store        (ExgLookupsView *self);
GtkEntry     *exg_lookups_view_get_search_entry (ExgLookupsView *self);
GtkTreeView  *exg_lookups_view_get_tree_view    (ExgLookupsView *self);

G_END_DECLS
