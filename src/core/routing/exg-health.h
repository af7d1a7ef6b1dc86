/* exg-health.h: the state of every router of a registry follows what is
 * observed (exg_backend_check_async: for SOCKS5 upstreams, connect +
 * greeting; for SOCKS4a and HTTP CONNECT, a TCP connect).  New and suspect
 * routers are checked at once, down ones again after 1 s, 2 s, 4 s … up to
 * the interval, and all of them every interval.
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
/* Checks one router now (e.g. after a failed Test). */
void       exg_health_check_router (ExgHealth      *self,
                                    ExgRouter      *router);

G_END_DECLS
