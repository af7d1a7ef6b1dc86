/* exg-socks-encode.h: SOCKS messages to bytes, both directions.
 *
 * Server side: method choice, RFC 1929 status, v4 and v5 replies, the 14-byte
 * router selection response.  Client side (used to speak to upstream
 * proxies, and by tests): greeting, auth, request, 18-byte selection, and
 * an incremental parser of v5 replies that also accepts tor's ATYP 0.
 *
 * Every encoder returns the number of bytes written, or 0 when avail is too
 * small.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-socks-parser.h"

G_BEGIN_DECLS

/* Largest reply: 4 + 1 + 255 + 2 */
#define EXG_SOCKS5_REPLY_MAX 262

gsize exg_socks5_method_encode      (guint8 *out, gsize avail, guint8 method);
gsize exg_socks5_auth_status_encode (guint8 *out, gsize avail, gboolean ok);

/* bound NULL means ATYP 1, 0.0.0.0:0 */
gsize exg_socks5_reply_encode       (guint8             *out,
                                     gsize               avail,
                                     guint8              code,
                                     const ExgSocksAddr *bound);

/* 00 CD PORT IPV4; ipv4 NULL means zeros */
gsize exg_socks4_reply_encode       (guint8             *out,
                                     gsize               avail,
                                     guint8              code,
                                     guint16             port,
                                     const guint8       *ipv4);

/* socks-extensions.txt §5: success 00 or FF, scope FF, circuit_pos,
 * country (two bytes, "" → 0x0000), ipv4 and bandwidth in host order */
gsize exg_socks_select_reply_encode (guint8             *out,
                                     gsize               avail,
                                     gboolean            ok,
                                     guint8              circuit_pos,
                                     const char         *country,
                                     guint32             ipv4,
                                     guint32             bandwidth);

/* Client side */
gsize exg_socks5_greeting_encode    (guint8 *out, gsize avail,
                                     const guint8 *methods, gsize n_methods);
gsize exg_socks5_auth_encode        (guint8 *out, gsize avail,
                                     const char *username, const char *password);
gsize exg_socks5_request_encode     (guint8 *out, gsize avail,
                                     guint8 command, const ExgSocksAddr *target);
gsize exg_socks4a_request_encode    (guint8 *out, gsize avail, guint8 command,
                                     const ExgSocksAddr *target, const char *userid);
gsize exg_socks_select_request_encode (guint8 *out, gsize avail,
                                       const char *country,   /* "" = any */
                                       guint32 range_start, guint32 range_end,
                                       guint32 min_bw);

/* Parses a v5 reply (05 CODE 00 ATYP ADDR PORT).  ATYP 0 (tor) is taken as
 * an empty address of 4 zero bytes.  Returns NEED_MORE, OK (with *code and
 * *bound set, *consumed bytes used) or REJECT for garbage. */
ExgParseResult exg_socks5_reply_parse (const guint8 *data, gsize len,
                                       gsize *consumed, guint8 *code,
                                       ExgSocksAddr *bound);

/* Parses a 14-byte selection response; same conventions. */
ExgParseResult exg_socks_select_reply_parse (const guint8 *data, gsize len,
                                             gsize *consumed, gboolean *ok,
                                             guint8 *circuit_pos, char country[3],
                                             guint32 *ipv4, guint32 *bandwidth);

G_END_DECLS
