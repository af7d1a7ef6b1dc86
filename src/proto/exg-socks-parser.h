/* exg-socks-parser.h: incremental server-side SOCKS4/4a/5 parser.
 *
 * Pure: bytes in, one message out.  No I/O, no allocation, no clock, no
 * logging.  The caller owns the buffer; it feeds everything it has buffered
 * and drops *consumed bytes after each EXG_PARSE_OK.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-socks-types.h"

G_BEGIN_DECLS

typedef enum {
  EXG_PARSE_NEED_MORE,  /* incomplete: nothing consumed, call again with more */
  EXG_PARSE_OK,         /* one message in *msg; drop *consumed bytes */
  EXG_PARSE_HTTP,       /* first byte looks like HTTP: send the page, close */
  EXG_PARSE_REJECT,     /* malformed or over a limit: if msg->reply_len > 0
                         * send msg->reply[0 .. reply_len) then close */
} ExgParseResult;

typedef enum {
  EXG_SOCKS_PHASE_START,      /* the first byte decides: 4, 5, HTTP or junk */
  EXG_SOCKS_PHASE_AUTH,       /* v5, method 02 chosen: RFC 1929 sub-negotiation */
  EXG_SOCKS_PHASE_REQUEST,    /* v5, method 00 chosen (or auth done) */
  EXG_SOCKS_PHASE_SELECT,     /* v5, method E0 chosen: 18-byte selections or the request */
  EXG_SOCKS_PHASE_DONE,       /* request parsed: nothing more to parse (also
                               * after a GREETING, until set_method) */
} ExgSocksPhase;

typedef enum {
  EXG_SOCKS_MSG_GREETING,     /* v5 method list */
  EXG_SOCKS_MSG_AUTH,         /* RFC 1929 username/password */
  EXG_SOCKS_MSG_SELECT,       /* socks-extensions.txt §5 router selection */
  EXG_SOCKS_MSG_REQUEST,      /* v4/4a/5 request: command + target */
} ExgSocksMsgKind;

typedef struct {
  ExgSocksMsgKind kind;
  guint8          version;          /* 4 or 5 */

  /* GREETING */
  guint8          n_methods;
  guint8          methods[255];

  /* AUTH (username also holds the SOCKS4 userid of a REQUEST) */
  char            username[256];    /* NUL-terminated */
  char            password[256];    /* NUL-terminated */

  /* SELECT: all fields converted to host byte order */
  guint8          scope_id;
  guint8          circuit_pos;
  char            country[3];       /* two ASCII bytes as sent, NUL-terminated;
                                     * "" when the wire had 0x0000 (any) */
  guint32         range_start;
  guint32         range_end;
  guint32         min_bw;

  /* REQUEST */
  guint8          command;          /* ExgSocksCommand, or any value the client sent */
  ExgSocksAddr    target;

  /* REJECT: the bytes to send before closing (a SOCKS4 5B or v5 error
   * reply), or reply_len 0 to close silently */
  guint8          reply[10];
  gsize           reply_len;
} ExgSocksMsg;

typedef struct {
  ExgSocksPhase phase;
  guint8        version;            /* 0 until the first byte is seen */
  gsize         handshake_len;      /* bytes of greeting, auth and request
                                     * consumed so far (not selections) */
} ExgSocksParser;

void           exg_socks_parser_init       (ExgSocksParser *parser);

/* After a v5 GREETING the server picks a method (exg_socks5_choose_method)
 * and tells the parser, which moves to AUTH, REQUEST or SELECT. */
void           exg_socks_parser_set_method (ExgSocksParser *parser,
                                            guint8          method);

/* *consumed is 0 for every result but OK.  *msg is cleared first; only the
 * fields of msg->kind (or reply/reply_len after a REJECT) mean anything. */
ExgParseResult exg_socks_parser_feed       (ExgSocksParser *parser,
                                            const guint8   *data,
                                            gsize           len,
                                            gsize          *consumed,
                                            ExgSocksMsg    *msg);

/* The method choice of issue 2/3: E0 when offered and allow_select (no
 * password required), else 02 when offered, else 00 when offered and no
 * password is required, else FF. */
guint8         exg_socks5_choose_method    (const guint8   *methods,
                                            gsize           n_methods,
                                            gboolean        password_required,
                                            gboolean        allow_select);

G_END_DECLS
