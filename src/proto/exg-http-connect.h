/* exg-http-connect.h: the client side of an HTTP CONNECT tunnel (RFC 9110
 * §9.3.6): the request, and an incremental parser of the response head
 * that never takes a byte past the blank line.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A response head longer than this is a broken proxy. */
#define EXG_HTTP_CONNECT_HEAD_MAX 16384

typedef enum {
  EXG_HTTP_CONNECT_NEED_MORE,   /* the head is not over: feed more */
  EXG_HTTP_CONNECT_DONE,        /* 2xx: the tunnel is up */
  EXG_HTTP_CONNECT_FAILED,      /* see failure */
} ExgHttpConnectResult;

typedef enum {
  EXG_HTTP_CONNECT_FAILURE_NONE,
  EXG_HTTP_CONNECT_FAILURE_REFUSED,    /* a status other than 2xx */
  EXG_HTTP_CONNECT_FAILURE_MALFORMED,  /* not an HTTP/1.x response */
  EXG_HTTP_CONNECT_FAILURE_TOO_LONG,   /* over EXG_HTTP_CONNECT_HEAD_MAX */
} ExgHttpConnectFailure;

typedef struct {
  /* results */
  guint                 status;      /* once the status line is read */
  gsize                 head_len;    /* bytes of the head taken so far */
  ExgHttpConnectFailure failure;

  /* private */
  guint8                state;
  guint8                line_len;    /* bytes of "HTTP/1.x SSS " matched */
  guint8                crlf;        /* bytes of CR LF CR LF matched */
} ExgHttpConnectParser;

char                 *exg_http_connect_request_new (const char *host,
                                                    guint16     port,
                                                    const char *username,
                                                    const char *password,
                                                    gsize      *len);

void                  exg_http_connect_parser_init (ExgHttpConnectParser *parser);

ExgHttpConnectResult  exg_http_connect_parser_feed (ExgHttpConnectParser *parser,
                                                    const guint8         *data,
                                                    gsize                 len,
                                                    gsize                *consumed);

G_END_DECLS
