/* exg-dialer.h: one entry point from "this selection" (or "this router")
 * to a connection: picks, connects, records what it saw on the router,
 * fails over.  The registry is only the list.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-router-registry.h"

G_BEGIN_DECLS

#define EXG_TYPE_DIALER (exg_dialer_get_type ())
G_DECLARE_FINAL_TYPE (ExgDialer, exg_dialer, EXG, DIALER, GObject)

ExgDialer         *exg_dialer_new            (ExgRouterRegistry   *registry);
ExgRouterRegistry *exg_dialer_get_registry   (ExgDialer           *self);

/* The router for @sel (nullable: any), as exg_router_registry_pick
 * chooses it.  (transfer full) */
ExgRouter         *exg_dialer_pick           (ExgDialer           *self,
                                              const ExgSelection  *sel,
                                              GError             **error);

typedef struct _ExgDialerDial ExgDialerDial;

/* How a dial ends: @fd, @connection, @circuit and @error as for
 * ExgBackendDialFunc; @router (transfer full, nullable): the router that
 * carried it or, on failure, the last one that failed. */
typedef void (*ExgDialerFunc) (gpointer           user_data,
                               int                fd,
                               GSocketConnection *connection,
                               const char        *circuit,
                               ExgRouter         *router,
                               GError            *error);

ExgDialerDial     *exg_dialer_dial           (ExgDialer           *self,
                                              ExgRouter           *router,
                                              const ExgSelection  *sel,
                                              const char          *host,
                                              guint16              port,
                                              const char          *isolation,
                                              ExgDialerFunc        func,
                                              gpointer             user_data);
void               exg_dialer_dial_cancel    (ExgDialerDial       *dial);

/* Keeps an exit that @sel (nullable: none) would pick ready for its
 * first request (exg_backend_prepare), picked again when the routers
 * change and it no longer matches. */
void               exg_dialer_keep_ready     (ExgDialer           *self,
                                              const ExgSelection  *sel);

G_END_DECLS
