/* exg-backend-upstream.h: traffic leaves from an upstream proxy (SOCKS5,
 * SOCKS4a or HTTP CONNECT).  A hostname is always passed to the upstream,
 * never resolved here.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-backend.h"
#include "exg-router.h"

G_BEGIN_DECLS

#define EXG_TYPE_BACKEND_UPSTREAM (exg_backend_upstream_get_type ())
G_DECLARE_FINAL_TYPE (ExgBackendUpstream, exg_backend_upstream, EXG, BACKEND_UPSTREAM, ExgBackend)

/* kind: SOCKS5, SOCKS4A or HTTP_CONNECT; username/password nullable */
ExgBackend *exg_backend_upstream_new (ExgRouterKind  kind,
                                      const char    *host,
                                      guint16        port,
                                      const char    *username,
                                      const char    *password);

/* The bound on each handshake, TCP connect included (30 s unless set);
 * for tests. */
void        exg_backend_upstream_set_handshake_timeout (ExgBackendUpstream *self,
                                                        guint               seconds);

G_END_DECLS
