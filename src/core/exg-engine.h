/* exg-engine.h: the one object the app and the daemon create (the idea of
 * Transmission's tr_session): it owns the router registry, its sources
 * (the config's exits, tor's consensus), the health checker, the server
 * and the activity model, and starts and stops them in order.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-activity.h"
#include "exg-config.h"
#include "exg-geoip.h"
#include "exg-health.h"
#include "exg-router-registry.h"
#include "exg-server.h"
#include "exg-tor-client.h"

G_BEGIN_DECLS

#define EXG_TYPE_ENGINE (exg_engine_get_type ())
G_DECLARE_FINAL_TYPE (ExgEngine, exg_engine, EXG, ENGINE, GObject)

ExgEngine         *exg_engine_new            (ExgActivity  *activity);

ExgRouterRegistry *exg_engine_get_registry   (ExgEngine    *self);
ExgServer         *exg_engine_get_server     (ExgEngine    *self);
ExgActivity       *exg_engine_get_activity   (ExgEngine    *self);
ExgGeoip          *exg_engine_get_geoip      (ExgEngine    *self);
ExgTorClient      *exg_engine_get_tor        (ExgEngine    *self);
ExgHealth         *exg_engine_get_health     (ExgEngine    *self);

/* The database every router's country comes from; the config's exits are
 * built again with it (those that stay the same keep their figures). */
void               exg_engine_set_geoip      (ExgEngine    *self,
                                              ExgGeoip     *geoip);
/* The server's part of @config: limits, credentials, client and target
 * lists, logging, the default selection. */
gboolean           exg_engine_configure_server (ExgEngine  *self,
                                              ExgConfig    *config,
                                              GError      **error);
/* The config's exits and its [tor] group.  On error nothing changes. */
gboolean           exg_engine_load_exits     (ExgEngine    *self,
                                              ExgConfig    *config,
                                              GError      **error);

/* FALSE: a managed tor is kept off the network (DisableNetwork 1), now
 * and after every reload, until this says TRUE. */
void               exg_engine_set_tor_network_enabled (ExgEngine *self,
                                              gboolean      enabled);

/* Health checks every @health_interval seconds (0: one round only), and
 * tor when the config asks for it.  Listening is the caller's: the
 * server is there to listen on. */
void               exg_engine_start          (ExgEngine    *self,
                                              guint         health_interval);
/* Stops listening and closes connections, then gives stream attachment
 * back to tor (waiting a few seconds at most: a shared tor must not be
 * left holding streams for a controller that left). */
void               exg_engine_stop           (ExgEngine    *self);

G_END_DECLS
