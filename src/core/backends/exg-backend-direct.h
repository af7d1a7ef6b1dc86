/* exg-backend-direct.h: traffic leaves from this machine.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-backend.h"

G_BEGIN_DECLS

#define EXG_TYPE_BACKEND_DIRECT (exg_backend_direct_get_type ())
G_DECLARE_FINAL_TYPE (ExgBackendDirect, exg_backend_direct, EXG, BACKEND_DIRECT, ExgBackend)

/* source: local address to bind outgoing connections to (nullable);
 * resolution uses g_resolver_get_default () at the time of each lookup. */
ExgBackend *exg_backend_direct_new (GInetAddress *source);

G_END_DECLS
