/* exg-http-page.h: the "this is a SOCKS proxy, not an HTTP proxy" response
 * (socks-extensions.txt §4).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* TRUE when the first byte of a connection looks like HTTP: G, H, P or C
 * (GET, HEAD, POST/PUT, CONNECT), as tor checks. */
gboolean      exg_http_looks_like_http (guint8 first_byte);

/* The complete HTTP/1.0 501 response with headers and an HTML body. */
const guint8 *exg_http_page_get        (gsize *len);

G_END_DECLS
