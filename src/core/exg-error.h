/* exg-error.h: the EXG_ERROR domain and the one place GErrors become SOCKS
 * reply codes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define EXG_ERROR (exg_error_quark ())

typedef enum {
  EXG_ERROR_NO_ROUTER,      /* the selection matched no (up) exit → 02 */
  EXG_ERROR_NOT_ALLOWED,    /* forbidden by policy → 02 */
  EXG_ERROR_UNSUPPORTED,    /* the exit cannot do this (e.g. RESOLVE upstream) → 07 */
  EXG_ERROR_CONFIG,         /* bad configuration */
  EXG_ERROR_GEOIP,          /* GeoIP database unreadable or malformed */
  EXG_ERROR_TOR_CONTROL,    /* tor refused a controller command */
  EXG_ERROR_UPSTREAM,       /* an upstream proxy broke its protocol → 01 */
  EXG_ERROR_TARGET_REFUSED, /* the destination policy refuses the target → 02 */
  EXG_ERROR_ADDRESS_TYPE,   /* an upstream cannot take the address type → 08 */
} ExgError;

GQuark exg_error_quark            (void);

/* Maps like tor: refused → 05, host unreachable or name not found → 04,
 * network unreachable → 03, timeout → 06, forbidden by policy → 02,
 * unsupported → 07, anything else → 01. */
guint8 exg_error_to_socks5_reply  (const GError *error);
/* The other direction: what an upstream answered, as the GError that maps
 * back to the same reply; and an HTTP proxy's CONNECT status. */
GError *exg_error_from_socks5_reply (guint8        code,
                                     gboolean      resolving);
GError *exg_error_from_http_status  (guint         status);

/* What went wrong, in words that never name a target: GIO puts host names
 * and addresses into its messages, and logs must not carry them (tor's
 * SafeLogging).  (transfer none) */
const char *exg_error_describe    (const GError *error);
/* An RFC 1928 / Tor reply code in words ("connection refused").
 * (transfer none) */
const char *exg_socks5_reply_describe (guint8 code);

G_END_DECLS
