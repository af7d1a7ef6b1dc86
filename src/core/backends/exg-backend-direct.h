/* exg-backend-direct.h: traffic leaves from this machine.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-backend.h"
#include "exg-dest-policy.h"

G_BEGIN_DECLS

#define EXG_TYPE_BACKEND_DIRECT (exg_backend_direct_get_type ())
G_DECLARE_FINAL_TYPE (ExgBackendDirect, exg_backend_direct, EXG, BACKEND_DIRECT, ExgBackend)

/* source: local address to bind outgoing connections to (nullable);
 * resolution uses g_resolver_get_default () at the time of each lookup. */
ExgBackend *exg_backend_direct_new (GInetAddress *source);

/* Names are resolved here only for the direct exit: the policy (nullable)
 * judges each address a name resolves to, before any connect. */
void           exg_backend_direct_set_dest_policy (ExgBackendDirect *self,
                                                   ExgDestPolicy    *policy);
ExgDestPolicy *exg_backend_direct_get_dest_policy (ExgBackendDirect *self);

G_END_DECLS
