/* exg-http-connect.c: the client side of an HTTP CONNECT tunnel.
 *
 *   Request (client → proxy):
 *   +---------------------------------------------------------+
 *   | CONNECT host:port HTTP/1.1 CR LF                        |  [v6]:port for
 *   | Host: host:port CR LF                                   |  an IPv6 literal
 *   | Proxy-Authorization: Basic base64(user ":" pass) CR LF  |  with credentials
 *   | CR LF                                                   |
 *   +---------------------------------------------------------+
 *
 *   Response head (proxy → client), then the tunnel's bytes:
 *   +---------------------------------------------------------+
 *   | HTTP/1.0 or HTTP/1.1, SP, three digits, SP or CR        |  status line
 *   | … CR LF                                                 |
 *   | *( header CR LF )                                       |
 *   | CR LF                                                   |  end of the head
 *   +---------------------------------------------------------+
 *
 * The parser keeps its state between calls and takes every byte it is fed
 * up to the blank line, and not one past it: a caller that peeks at the
 * socket, feeds what it saw and then receives exactly the bytes consumed
 * leaves the tunnel's first bytes in the socket for the relay.
 *
 * Decisions the RFC leaves open, taken here:
 * - A status other than 2xx fails as soon as its three digits are read:
 *   the rest of the head (and any body) is not waited for.
 * - Only CR LF ends a line; a NUL byte anywhere in the head is malformed.
 * - A head may be EXG_HTTP_CONNECT_HEAD_MAX bytes long, blank line
 *   included; one that has not ended by then is TOO_LONG.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-http-connect.h"

#include <string.h>

/* "HTTP/1.x SSS" and the byte after it */
#define STATUS_PREFIX     "HTTP/1."
#define STATUS_PREFIX_LEN 7
#define STATUS_LINE_LEN   13

enum {
  STATE_STATUS,
  STATE_HEAD,
  STATE_DONE,
  STATE_FAILED,
};

/* A host in an authority: no controls, no spaces, nothing that could end
 * the request line or start a header. */
static gboolean
host_is_safe (const char *host)
{
  const guchar *p;

  if (*host == '\0')
    return FALSE;
  for (p = (const guchar *) host; *p != '\0'; p++)
    if (*p <= 0x20 || *p >= 0x7f || *p == '/' || *p == '@')
      return FALSE;
  return TRUE;
}

/**
 * exg_http_connect_request_new:
 * @host: the target: a name, or an IPv4 or IPv6 literal (bracketed here)
 * @port: the target's port
 * @username: (nullable): for Proxy-Authorization
 * @password: (nullable): for Proxy-Authorization
 * @len: (out) (optional): the request's length
 *
 * Builds the CONNECT request.  Credentials go out as Basic when either is
 * given; the other one is then empty.
 *
 * Returns: (transfer full) (nullable): the request, or %NULL if @host
 *   holds bytes that have no place in a request line
 */
char *
exg_http_connect_request_new (const char *host,
                              guint16     port,
                              const char *username,
                              const char *password,
                              gsize      *len)
{
  GString *request;
  gboolean bracket;

  g_return_val_if_fail (host != NULL, NULL);

  if (!host_is_safe (host))
    return NULL;

  bracket = strchr (host, ':') != NULL;
  request = g_string_sized_new (128);
  g_string_append_printf (request,
                          "CONNECT %s%s%s:%u HTTP/1.1\r\n"
                          "Host: %s%s%s:%u\r\n",
                          bracket ? "[" : "", host, bracket ? "]" : "", port,
                          bracket ? "[" : "", host, bracket ? "]" : "", port);
  if (username != NULL || password != NULL)
    {
      g_autofree char *pair = g_strconcat (username ? username : "", ":",
                                           password ? password : "", NULL);
      g_autofree char *b64 = g_base64_encode ((const guchar *) pair,
                                              strlen (pair));

      g_string_append_printf (request, "Proxy-Authorization: Basic %s\r\n",
                              b64);
    }
  g_string_append (request, "\r\n");

  if (len != NULL)
    *len = request->len;
  return g_string_free (request, FALSE);
}

/**
 * exg_http_connect_parser_init:
 * @parser: the parser to (re)initialise
 *
 * Prepares @parser for a response head.
 */
void
exg_http_connect_parser_init (ExgHttpConnectParser *parser)
{
  g_return_if_fail (parser != NULL);

  memset (parser, 0, sizeof *parser);
  parser->state = STATE_STATUS;
}

static ExgHttpConnectResult
fail (ExgHttpConnectParser  *parser,
      ExgHttpConnectFailure  failure)
{
  parser->state = STATE_FAILED;
  parser->failure = failure;
  return EXG_HTTP_CONNECT_FAILED;
}

/* One byte of "HTTP/1.x SSS" and the SP or CR after it. */
static gboolean
status_byte (ExgHttpConnectParser *parser,
             guint8                c)
{
  guint i = parser->line_len;

  if (i < STATUS_PREFIX_LEN)
    return c == (guint8) STATUS_PREFIX[i];
  if (i == 7)
    return c == '0' || c == '1';
  if (i == 8)
    return c == ' ';
  if (i <= 11)
    {
      if (!g_ascii_isdigit (c))
        return FALSE;
      parser->status = parser->status * 10 + (guint) (c - '0');
      return TRUE;
    }
  return c == ' ' || c == '\r';
}

/* Matches CR LF CR LF across calls. */
static void
crlf_byte (ExgHttpConnectParser *parser,
           guint8                c)
{
  if (c == '\r')
    parser->crlf = parser->crlf == 2 ? 3 : 1;
  else if (c == '\n' && (parser->crlf == 1 || parser->crlf == 3))
    parser->crlf++;
  else
    parser->crlf = 0;
}

/**
 * exg_http_connect_parser_feed:
 * @parser: a parser
 * @data: (array length=len): bytes from the proxy
 * @len: how many
 * @consumed: (out): how many of @data belong to the head
 *
 * Takes bytes of the response head.  With NEED_MORE every byte was taken
 * (*consumed is @len); with DONE, the bytes up to the blank line and none
 * after it; with FAILED, up to the byte that decided.
 *
 * Returns: NEED_MORE, DONE (2xx; status set) or FAILED (failure set, and
 *   status for REFUSED)
 */
ExgHttpConnectResult
exg_http_connect_parser_feed (ExgHttpConnectParser *parser,
                              const guint8         *data,
                              gsize                 len,
                              gsize                *consumed)
{
  gsize i;

  g_return_val_if_fail (parser != NULL, EXG_HTTP_CONNECT_FAILED);
  g_return_val_if_fail (data != NULL || len == 0, EXG_HTTP_CONNECT_FAILED);
  g_return_val_if_fail (consumed != NULL, EXG_HTTP_CONNECT_FAILED);

  *consumed = 0;
  if (parser->state == STATE_DONE)
    return EXG_HTTP_CONNECT_DONE;
  if (parser->state == STATE_FAILED)
    return EXG_HTTP_CONNECT_FAILED;

  for (i = 0; i < len; i++)
    {
      guint8 c = data[i];

      *consumed = i + 1;
      parser->head_len++;
      if (c == '\0')
        return fail (parser, EXG_HTTP_CONNECT_FAILURE_MALFORMED);

      if (parser->state == STATE_STATUS)
        {
          if (!status_byte (parser, c))
            return fail (parser, EXG_HTTP_CONNECT_FAILURE_MALFORMED);
          parser->line_len++;
          if (parser->line_len == STATUS_LINE_LEN)
            {
              if (parser->status < 200 || parser->status > 299)
                return fail (parser, EXG_HTTP_CONNECT_FAILURE_REFUSED);
              parser->state = STATE_HEAD;
            }
        }
      crlf_byte (parser, c);
      if (parser->crlf == 4)
        {
          parser->state = STATE_DONE;
          return EXG_HTTP_CONNECT_DONE;
        }
      if (parser->head_len >= EXG_HTTP_CONNECT_HEAD_MAX)
        return fail (parser, EXG_HTTP_CONNECT_FAILURE_TOO_LONG);
    }

  return EXG_HTTP_CONNECT_NEED_MORE;
}
