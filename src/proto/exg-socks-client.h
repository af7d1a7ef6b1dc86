/* exg-socks-client.h: the client side of SOCKS5 (with RFC 1929) and
 * SOCKS4a, as an incremental state machine.
 *
 * Pure: no I/O, no allocation, no clock.  The machine says what to do next
 * and the caller does it:
 *
 *   SEND   take the message with exg_socks_client_take_output (), send
 *          it whole, then read
 *   READ   read at most exg_socks_client_get_wanted () bytes (never more:
 *          after the last reply the bytes belong to the tunnel) and feed
 *          whatever arrived to exg_socks_client_feed ()
 *   DONE   the proxy said yes: see reply_code and bound
 *   FAILED see failure (and reply_code when it is REFUSED)
 *
 * The shape is tor's parse_socks_client () (src/core/proto/proto_socks.c).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-socks-types.h"

G_BEGIN_DECLS

typedef enum {
  EXG_SOCKS_CLIENT_SEND,
  EXG_SOCKS_CLIENT_READ,
  EXG_SOCKS_CLIENT_DONE,
  EXG_SOCKS_CLIENT_FAILED,
} ExgSocksClientStatus;

typedef enum {
  EXG_SOCKS_CLIENT_FAILURE_NONE,
  EXG_SOCKS_CLIENT_FAILURE_INVALID_REQUEST,  /* cannot be said in this version:
                                              * IPv6 or F1 over SOCKS4a, a name
                                              * over 255 bytes, long credentials */
  EXG_SOCKS_CLIENT_FAILURE_NO_METHOD,        /* 05 FF, or a method not offered */
  EXG_SOCKS_CLIENT_FAILURE_AUTH_REJECTED,    /* RFC 1929 status other than 00 */
  EXG_SOCKS_CLIENT_FAILURE_REFUSED,          /* reply_code is not a success */
  EXG_SOCKS_CLIENT_FAILURE_MALFORMED,        /* not a SOCKS answer */
  EXG_SOCKS_CLIENT_FAILURE_NO_ANSWER,        /* RESOLVE(_PTR) succeeded without
                                              * an address (a name) */
} ExgSocksClientFailure;

typedef struct {
  /* results: meaningful once DONE, or FAILED with REFUSED */
  guint8                version;      /* 4 or 5, as initialised */
  guint8                command;      /* CONNECT, RESOLVE or RESOLVE_PTR */
  guint8                reply_code;   /* v5: REP; v4: CD (5A granted) */
  ExgSocksAddr          bound;        /* v5: BND address and port; v4: the
                                       * 8-byte reply's address (IPV4);
                                       * RESOLVE: the address, RESOLVE_PTR:
                                       * the name (DOMAIN) */
  ExgSocksClientFailure failure;

  /* private */
  guint8                state;
  gboolean              offer_password;
  ExgSocksAddr          target;
  char                  username[256];
  char                  password[256];
  guint8                out[520];     /* the longest: RFC 1929 credentials
                                       * or a 4a request with a userid */
  gsize                 out_len;
  guint8                in[262];      /* the longest: a v5 reply with a name */
  gsize                 in_len;
} ExgSocksClient;

void                 exg_socks_client_init       (ExgSocksClient     *client,
                                                  guint8              version,
                                                  guint8              command,
                                                  const ExgSocksAddr *target,
                                                  const char         *username,
                                                  const char         *password);

ExgSocksClientStatus exg_socks_client_get_status (const ExgSocksClient *client);

const guint8        *exg_socks_client_take_output (ExgSocksClient    *client,
                                                   gsize             *len);

gsize                exg_socks_client_get_wanted (const ExgSocksClient *client);

ExgSocksClientStatus exg_socks_client_feed       (ExgSocksClient     *client,
                                                  const guint8       *data,
                                                  gsize               len,
                                                  gsize              *consumed);

const char          *exg_socks_client_failure_to_string (ExgSocksClientFailure failure);

G_END_DECLS
