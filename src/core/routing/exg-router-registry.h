/* exg-router-registry.h: the set of routers, a GListModel of ExgRouter, and
 * router selection over it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-router.h"
#include "exg-selection.h"

G_BEGIN_DECLS

#define EXG_TYPE_ROUTER_REGISTRY (exg_router_registry_get_type ())
G_DECLARE_FINAL_TYPE (ExgRouterRegistry, exg_router_registry, EXG, ROUTER_REGISTRY, GObject)

ExgRouterRegistry *exg_router_registry_new         (void);

void        exg_router_registry_add                (ExgRouterRegistry  *self,
                                                    ExgRouter          *router);
gboolean    exg_router_registry_remove             (ExgRouterRegistry  *self,
                                                    const char         *id);
void        exg_router_registry_remove_all         (ExgRouterRegistry  *self);
/* A router source's whole set: @routers (element-type ExgRouter) become
 * the routers whose ids are in @previous (element-type utf8, updated to
 * the new ids); a router whose id and digest stay keeps its identity,
 * state and observed figures.  Routers of other sources are untouched. */
void        exg_router_registry_sync               (ExgRouterRegistry  *self,
                                                    GHashTable         *previous,
                                                    GPtrArray          *routers);
ExgRouter  *exg_router_registry_lookup             (ExgRouterRegistry  *self,
                                                    const char         *id);

/* Random among the matching up routers, weighted by bandwidth (a router
 * advertising 0 gets weight 1).  Routers in @exclude (nullable array of
 * ExgRouter*) are skipped.  No match: NULL and EXG_ERROR_NO_ROUTER, never
 * a silent fallback.  (transfer full) */
ExgRouter  *exg_router_registry_pick               (ExgRouterRegistry  *self,
                                                    const ExgSelection *sel,
                                                    GPtrArray          *exclude,
                                                    GError            **error);

/* ISO code → number of routers up, for country pickers.  (transfer full) */
GHashTable *exg_router_registry_count_countries    (ExgRouterRegistry  *self);
guint       exg_router_registry_count_up           (ExgRouterRegistry  *self);

G_END_DECLS
