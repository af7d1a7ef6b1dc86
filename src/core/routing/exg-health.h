/* exg-health.h: periodic health checks of the routers of a registry
 * (exg_backend_check_async: for upstreams, connect + SOCKS greeting).  A
 * router that fails is marked down and not selected until a check
 * succeeds again.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-router-registry.h"

G_BEGIN_DECLS

/* Seconds between rounds: often enough that a dead upstream stops being
 * picked within a minute, rare enough to cost nothing. */
#define EXG_HEALTH_DEFAULT_INTERVAL 60

#define EXG_TYPE_HEALTH (exg_health_get_type ())
G_DECLARE_FINAL_TYPE (ExgHealth, exg_health, EXG, HEALTH, GObject)

/* Checks every router now, then every @interval seconds (0: only now). */
ExgHealth *exg_health_new       (ExgRouterRegistry *registry,
                                 guint              interval);
/* Checks every router now; "checked" is emitted when all have answered. */
void       exg_health_check_now (ExgHealth         *self);

G_END_DECLS
