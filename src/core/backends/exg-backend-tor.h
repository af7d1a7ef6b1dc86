/* exg-backend-tor.h: traffic leaves from one tor exit relay.  Each stream
 * goes to tor's SocksPort and is pinned by the tor's controller
 * (ExgTorStreams, which ExgTorClient implements) to a circuit that ends at
 * this relay.  Names are resolved at the exit, never here.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-backend.h"
#include "exg-tor-streams.h"

G_BEGIN_DECLS

#define EXG_TYPE_BACKEND_TOR (exg_backend_tor_get_type ())
G_DECLARE_FINAL_TYPE (ExgBackendTor, exg_backend_tor, EXG, BACKEND_TOR, ExgBackend)

/* @tor is not kept alive by the backend: streams fail once it is gone */
ExgBackend *exg_backend_tor_new              (ExgTorStreams *tor,
                                              const char    *fingerprint);
const char *exg_backend_tor_get_fingerprint  (ExgBackendTor *self);
void        exg_backend_tor_set_exit_policy  (ExgBackendTor *self,
                                              const char    *summary);

G_END_DECLS
