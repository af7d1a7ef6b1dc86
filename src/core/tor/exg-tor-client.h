/* exg-tor-client.h: Exitgate's side of one tor: the control connection
 * (to a running tor, or a managed one), its exit relays as routers, and
 * every stream of ours pinned to the exit chosen for it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-geoip.h"
#include "exg-router-registry.h"

#include <gio/gio.h>

G_BEGIN_DECLS

/* tor's dirtiness: a circuit takes new streams for this long */
#define EXG_TOR_CIRCUIT_REUSE_SECONDS (10 * 60)

/* Reconnecting after tor was lost: 1 s, doubled each time, at most this */
#define EXG_TOR_BACKOFF_MAX_SECONDS 30

#define EXG_TYPE_TOR_CLIENT (exg_tor_client_get_type ())
G_DECLARE_FINAL_TYPE (ExgTorClient, exg_tor_client, EXG, TOR_CLIENT, GObject)

ExgTorClient   *exg_tor_client_new                (ExgRouterRegistry    *registry,
                                                   ExgGeoip             *geoip);
void            exg_tor_client_set_geoip          (ExgTorClient         *self,
                                                   ExgGeoip             *geoip);

void            exg_tor_client_set_control        (ExgTorClient         *self,
                                                   const char           *address,
                                                   const char           *password);
void            exg_tor_client_set_managed        (ExgTorClient         *self,
                                                   const char           *data_dir,
                                                   const char           *torrc_file);
void            exg_tor_client_set_tor_path       (ExgTorClient         *self,
                                                   const char           *path);

void            exg_tor_client_start              (ExgTorClient         *self);
void            exg_tor_client_stop_async         (ExgTorClient         *self,
                                                   GCancellable         *cancellable,
                                                   GAsyncReadyCallback   callback,
                                                   gpointer              user_data);
gboolean        exg_tor_client_stop_finish        (ExgTorClient         *self,
                                                   GAsyncResult         *result,
                                                   GError              **error);

void            exg_tor_client_set_network_enabled (ExgTorClient        *self,
                                                   gboolean              enabled);
gboolean        exg_tor_client_get_network_enabled (ExgTorClient        *self);
gboolean        exg_tor_client_get_managed        (ExgTorClient         *self);
int             exg_tor_client_get_bootstrap_progress (ExgTorClient     *self);
const char     *exg_tor_client_get_bootstrap_summary  (ExgTorClient     *self);
const char     *exg_tor_client_get_bootstrap_warning  (ExgTorClient     *self);

gboolean        exg_tor_client_get_ready          (ExgTorClient         *self);
guint           exg_tor_client_get_n_exits        (ExgTorClient         *self);

/* tor's SocksPort, %NULL while not connected.  ExgBackendTor asks
 * through ExgTorStreams, which the client implements. */
GSocketAddress *exg_tor_client_get_socks_address  (ExgTorClient         *self);

gboolean        exg_tor_client_new_circuit        (ExgTorClient         *self,
                                                   const char           *exit_fingerprint,
                                                   const char           *isolation);

G_END_DECLS
