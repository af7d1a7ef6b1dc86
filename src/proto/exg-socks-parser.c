/* exg-socks-parser.c: incremental server-side SOCKS4/4a/5 parser.
 *
 * Every function here looks only at data[0 .. len) and decides one of:
 * not enough bytes yet (NEED_MORE, nothing consumed), one whole message
 * (OK), or a reason to give up (REJECT, with the reply to send, or HTTP).
 * Nothing is copied out until a message is complete, so a caller may feed
 * the same growing buffer again and again.
 *
 * Decisions the protocol texts leave open, taken here:
 *
 * - Replies to a rejected SOCKS5 request are always ten bytes,
 *   05 CODE 00 01 0.0.0.0:0; a rejected SOCKS4/4a request gets
 *   00 5B 0000 00000000.  A rejected RFC 1929 sub-negotiation gets 01 01.
 *   Anything that is not the protocol we expect at all (a bad version byte,
 *   junk as the first byte, a malformed 18-byte selection) is closed
 *   without a reply: there is no reply format the peer would understand.
 * - A request whose length is known is read whole before it is judged, so
 *   its reply does not race with unread bytes in the server's receive
 *   buffer.  Only an unknown ATYP stops early (the length cannot be known):
 *   08, whatever the command.
 * - The command is judged before the address: an unknown command, BIND,
 *   UDP ASSOCIATE and CONNECT_DIR get 07; RESOLVE_PTR to a hostname gets 08;
 *   a hostname of length 0 or containing a NUL byte gets 01 (general
 *   failure, as tor answers malformed hostnames).
 * - The RSV byte of a SOCKS5 request is not checked.
 * - The 512-byte handshake limit counts greeting + auth + request (see
 *   exg-socks-types.h).  It is enforced as soon as a message is known to
 *   cross it, with the failure reply of that message (v4: 5B, v5 request:
 *   01, auth: 01 01).  A SOCKS4a hostname also has to fit the 256-byte
 *   field of ExgSocksMsg (at most 255 bytes), else 5B.  A SOCKS4 userid is
 *   read and ignored: any length within the limit is accepted, and only its
 *   first 255 bytes are kept in msg->username.
 * - A v5 greeting with zero methods is a valid greeting: the method choice
 *   is then FF.
 * - RFC 1929 credentials may be empty; a NUL byte inside them is refused
 *   with 01 01 (they are handed on as C strings).
 * - After method E0, the byte after 05 tells a selection (E0) from the
 *   connection request, which follows the same rules as without E0.  A
 *   selection whose country is neither 0x0000 nor two printable ASCII
 *   characters is malformed: close.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-socks-parser.h"

#include "exg-http-page.h"

#include <string.h>

#define SOCKS5_REJECT_LEN 10
#define SOCKS4_REJECT_LEN 8

static ExgParseResult
reject_close (ExgSocksMsg *msg)
{
  msg->reply_len = 0;
  return EXG_PARSE_REJECT;
}

static ExgParseResult
reject_v5 (ExgSocksMsg *msg,
           guint8       code)
{
  memset (msg->reply, 0, sizeof msg->reply);
  msg->reply[0] = 0x05;
  msg->reply[1] = code;
  msg->reply[3] = EXG_SOCKS_ATYP_IPV4;
  msg->reply_len = SOCKS5_REJECT_LEN;
  return EXG_PARSE_REJECT;
}

static ExgParseResult
reject_v4 (ExgSocksMsg *msg)
{
  memset (msg->reply, 0, sizeof msg->reply);
  msg->reply[1] = EXG_SOCKS4_REPLY_REJECTED;
  msg->reply_len = SOCKS4_REJECT_LEN;
  return EXG_PARSE_REJECT;
}

static ExgParseResult
reject_auth (ExgSocksMsg *msg)
{
  msg->reply[0] = 0x01;
  msg->reply[1] = 0x01;
  msg->reply_len = 2;
  return EXG_PARSE_REJECT;
}

/* TRUE when a message of total_len bytes would take the handshake over
 * EXG_SOCKS_MAX_HANDSHAKE. */
static gboolean
over_limit (const ExgSocksParser *parser,
            gsize                 total_len)
{
  return parser->handshake_len + total_len > EXG_SOCKS_MAX_HANDSHAKE;
}

static ExgParseResult
accept_message (ExgSocksParser *parser,
                gsize           total_len,
                gboolean        counted,
                gsize          *consumed)
{
  if (counted)
    parser->handshake_len += total_len;
  *consumed = total_len;
  return EXG_PARSE_OK;
}

static guint16
read_u16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static guint32
read_u32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) |
         ((guint32) p[2] << 8) | (guint32) p[3];
}

/* Looks for the NUL that ends a SOCKS4 string starting at data[start].
 * The string may be at most max_len bytes and must end before the
 * handshake limit.  Returns NEED_MORE, OK with *end = index of the NUL, or
 * REJECT. */
static ExgParseResult
find_v4_string (const ExgSocksParser *parser,
                const guint8         *data,
                gsize                 len,
                gsize                 start,
                gsize                 max_len,
                gsize                *end)
{
  gsize limit = EXG_SOCKS_MAX_HANDSHAKE - parser->handshake_len;
  gsize field_end = start + max_len + 1;   /* just past the longest string's NUL */
  gsize search_end = MIN (MIN (len, limit), field_end);
  const guint8 *nul = NULL;

  if (search_end > start)
    nul = memchr (data + start, 0, search_end - start);
  if (nul != NULL)
    {
      *end = (gsize) (nul - data);
      return EXG_PARSE_OK;
    }
  /* Every byte the string could still use has been looked at. */
  if (search_end == limit || search_end == field_end)
    return EXG_PARSE_REJECT;
  return EXG_PARSE_NEED_MORE;
}

/* 04 CMD PORT[2] IP[4] USERID 00 [HOSTNAME 00] */
static ExgParseResult
parse_v4_request (ExgSocksParser *parser,
                  const guint8   *data,
                  gsize           len,
                  gsize          *consumed,
                  ExgSocksMsg    *msg)
{
  const guint8 *ip = data + 4;
  gboolean is_4a;
  gsize userid_end, host_end = 0, total;
  ExgParseResult r;

  if (len < 8)
    return EXG_PARSE_NEED_MORE;

  /* SOCKS4a: 0.0.0.x with x != 0 means "a hostname follows the userid" */
  is_4a = ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0;

  /* the userid is ignored: only the handshake limit bounds it */
  r = find_v4_string (parser, data, len, 8, EXG_SOCKS_MAX_HANDSHAKE,
                      &userid_end);
  if (r == EXG_PARSE_REJECT)
    return reject_v4 (msg);
  if (r == EXG_PARSE_NEED_MORE)
    return r;
  total = userid_end + 1;

  if (is_4a)
    {
      r = find_v4_string (parser, data, len, userid_end + 1, 255,
                          &host_end);
      if (r == EXG_PARSE_REJECT)
        return reject_v4 (msg);
      if (r == EXG_PARSE_NEED_MORE)
        return r;
      total = host_end + 1;
    }

  switch (data[1])
    {
    case EXG_SOCKS_CMD_CONNECT:
    case EXG_SOCKS_CMD_RESOLVE:
      break;
    default:
      /* BIND, RESOLVE_PTR (SOCKS5 only) and everything else */
      return reject_v4 (msg);
    }

  if (is_4a && host_end == userid_end + 1)
    return reject_v4 (msg);   /* empty hostname */

  msg->kind = EXG_SOCKS_MSG_REQUEST;
  msg->version = 4;
  msg->command = data[1];
  {
    gsize kept = MIN (userid_end - 8, sizeof msg->username - 1);

    memcpy (msg->username, data + 8, kept);
    msg->username[kept] = '\0';
  }
  msg->target.port = read_u16 (data + 2);
  if (is_4a)
    {
      gsize host_len = host_end - (userid_end + 1);

      msg->target.type = EXG_SOCKS_ATYP_DOMAIN;
      memcpy (msg->target.host, data + userid_end + 1, host_len);
      msg->target.host[host_len] = '\0';
    }
  else
    {
      msg->target.type = EXG_SOCKS_ATYP_IPV4;
      memcpy (msg->target.ip, ip, 4);
    }

  parser->phase = EXG_SOCKS_PHASE_DONE;
  return accept_message (parser, total, TRUE, consumed);
}

/* 05 NMETHODS METHODS[NMETHODS] */
static ExgParseResult
parse_greeting (ExgSocksParser *parser,
                const guint8   *data,
                gsize           len,
                gsize          *consumed,
                ExgSocksMsg    *msg)
{
  gsize total;

  if (len < 2)
    return EXG_PARSE_NEED_MORE;
  total = 2 + (gsize) data[1];
  /* at most 257 bytes, and it is the first message: never over the limit */
  if (len < total)
    return EXG_PARSE_NEED_MORE;

  msg->kind = EXG_SOCKS_MSG_GREETING;
  msg->version = 5;
  msg->n_methods = data[1];
  memcpy (msg->methods, data + 2, data[1]);

  /* Nothing to parse until the caller has chosen a method. */
  parser->phase = EXG_SOCKS_PHASE_DONE;
  return accept_message (parser, total, TRUE, consumed);
}

/* RFC 1929: 01 ULEN UNAME[ULEN] PLEN PASSWD[PLEN] */
static ExgParseResult
parse_auth (ExgSocksParser *parser,
            const guint8   *data,
            gsize           len,
            gsize          *consumed,
            ExgSocksMsg    *msg)
{
  gsize ulen, plen, total;

  if (len < 1)
    return EXG_PARSE_NEED_MORE;
  if (data[0] != 0x01)
    return reject_close (msg);
  if (len < 2)
    return EXG_PARSE_NEED_MORE;
  ulen = data[1];
  if (over_limit (parser, 3 + ulen))
    return reject_auth (msg);
  if (len < 3 + ulen)
    return EXG_PARSE_NEED_MORE;
  plen = data[2 + ulen];
  total = 3 + ulen + plen;
  if (over_limit (parser, total))
    return reject_auth (msg);
  if (len < total)
    return EXG_PARSE_NEED_MORE;

  if (memchr (data + 2, 0, ulen) != NULL ||
      memchr (data + 3 + ulen, 0, plen) != NULL)
    return reject_auth (msg);

  msg->kind = EXG_SOCKS_MSG_AUTH;
  msg->version = 5;
  memcpy (msg->username, data + 2, ulen);
  msg->username[ulen] = '\0';
  memcpy (msg->password, data + 3 + ulen, plen);
  msg->password[plen] = '\0';

  parser->phase = EXG_SOCKS_PHASE_REQUEST;
  return accept_message (parser, total, TRUE, consumed);
}

/* 05 CMD RSV ATYP DST.ADDR DST.PORT[2] */
static ExgParseResult
parse_v5_request (ExgSocksParser *parser,
                  const guint8   *data,
                  gsize           len,
                  gsize          *consumed,
                  ExgSocksMsg    *msg)
{
  guint8 command, atyp;
  gsize addr_len, total;

  if (len < 1)
    return EXG_PARSE_NEED_MORE;
  if (data[0] != 0x05)
    return reject_close (msg);
  if (len < 4)
    return EXG_PARSE_NEED_MORE;

  command = data[1];
  atyp = data[3];
  switch (atyp)
    {
    case EXG_SOCKS_ATYP_IPV4:
      addr_len = 4;
      break;
    case EXG_SOCKS_ATYP_IPV6:
      addr_len = 16;
      break;
    case EXG_SOCKS_ATYP_DOMAIN:
      if (len < 5)
        return EXG_PARSE_NEED_MORE;
      addr_len = 1 + (gsize) data[4];
      break;
    default:
      /* The end of the message cannot be known: answer at once. */
      return reject_v5 (msg, EXG_SOCKS5_REPLY_ATYP_NOT_SUPPORTED);
    }

  total = 4 + addr_len + 2;
  if (over_limit (parser, total))
    return reject_v5 (msg, EXG_SOCKS5_REPLY_GENERAL_FAILURE);
  if (len < total)
    return EXG_PARSE_NEED_MORE;

  switch (command)
    {
    case EXG_SOCKS_CMD_CONNECT:
    case EXG_SOCKS_CMD_RESOLVE:
      break;
    case EXG_SOCKS_CMD_RESOLVE_PTR:
      if (atyp == EXG_SOCKS_ATYP_DOMAIN)
        return reject_v5 (msg, EXG_SOCKS5_REPLY_ATYP_NOT_SUPPORTED);
      break;
    default:
      /* BIND, UDP ASSOCIATE, CONNECT_DIR and unknown commands */
      return reject_v5 (msg, EXG_SOCKS5_REPLY_CMD_NOT_SUPPORTED);
    }

  msg->kind = EXG_SOCKS_MSG_REQUEST;
  msg->version = 5;
  msg->command = command;
  msg->target.type = atyp;
  if (atyp == EXG_SOCKS_ATYP_DOMAIN)
    {
      gsize host_len = data[4];

      if (host_len == 0 || memchr (data + 5, 0, host_len) != NULL)
        return reject_v5 (msg, EXG_SOCKS5_REPLY_GENERAL_FAILURE);
      memcpy (msg->target.host, data + 5, host_len);
      msg->target.host[host_len] = '\0';
    }
  else
    {
      memcpy (msg->target.ip, data + 4, addr_len);
    }
  msg->target.port = read_u16 (data + 4 + addr_len);

  parser->phase = EXG_SOCKS_PHASE_DONE;
  return accept_message (parser, total, TRUE, consumed);
}

static gboolean
is_country_char (guint8 c)
{
  return c > 0x20 && c < 0x7f;
}

/* socks-extensions.txt §5: 05 E0 SCOPE CIRC COUNTRY[2] START[4] END[4]
 * MIN_BW[4], or the connection request that ends the phase. */
static ExgParseResult
parse_select (ExgSocksParser *parser,
              const guint8   *data,
              gsize           len,
              gsize          *consumed,
              ExgSocksMsg    *msg)
{
  guint8 c0, c1;

  if (len < 1)
    return EXG_PARSE_NEED_MORE;
  if (data[0] != 0x05)
    return reject_close (msg);
  if (len < 2)
    return EXG_PARSE_NEED_MORE;
  if (data[1] != EXG_SOCKS_METHOD_SELECT)
    return parse_v5_request (parser, data, len, consumed, msg);
  if (len < EXG_SOCKS_SELECT_REQUEST_LEN)
    return EXG_PARSE_NEED_MORE;

  c0 = data[4];
  c1 = data[5];
  if (!((c0 == 0 && c1 == 0) || (is_country_char (c0) && is_country_char (c1))))
    return reject_close (msg);

  msg->kind = EXG_SOCKS_MSG_SELECT;
  msg->version = 5;
  msg->scope_id = data[2];
  msg->circuit_pos = data[3];
  msg->country[0] = (char) c0;
  msg->country[1] = (char) c1;
  msg->country[2] = '\0';
  msg->range_start = read_u32 (data + 6);
  msg->range_end = read_u32 (data + 10);
  msg->min_bw = read_u32 (data + 14);

  /* The phase stays: more selections or the request may follow. */
  return accept_message (parser, EXG_SOCKS_SELECT_REQUEST_LEN, FALSE, consumed);
}

void
exg_socks_parser_init (ExgSocksParser *parser)
{
  g_return_if_fail (parser != NULL);

  memset (parser, 0, sizeof *parser);
  parser->phase = EXG_SOCKS_PHASE_START;
}

void
exg_socks_parser_set_method (ExgSocksParser *parser,
                             guint8          method)
{
  g_return_if_fail (parser != NULL);

  switch (method)
    {
    case EXG_SOCKS_METHOD_NO_AUTH:
      parser->phase = EXG_SOCKS_PHASE_REQUEST;
      break;
    case EXG_SOCKS_METHOD_USERPASS:
      parser->phase = EXG_SOCKS_PHASE_AUTH;
      break;
    case EXG_SOCKS_METHOD_SELECT:
      parser->phase = EXG_SOCKS_PHASE_SELECT;
      break;
    default:
      /* FF: the server sends 05 FF and closes */
      parser->phase = EXG_SOCKS_PHASE_DONE;
      break;
    }
}

ExgParseResult
exg_socks_parser_feed (ExgSocksParser *parser,
                       const guint8   *data,
                       gsize           len,
                       gsize          *consumed,
                       ExgSocksMsg    *msg)
{
  g_return_val_if_fail (parser != NULL, EXG_PARSE_REJECT);
  g_return_val_if_fail (data != NULL || len == 0, EXG_PARSE_REJECT);
  g_return_val_if_fail (consumed != NULL, EXG_PARSE_REJECT);
  g_return_val_if_fail (msg != NULL, EXG_PARSE_REJECT);

  *consumed = 0;
  /* No stale field of an earlier message can leak into this one. */
  memset (msg, 0, sizeof *msg);
  msg->version = parser->version;

  switch (parser->phase)
    {
    case EXG_SOCKS_PHASE_START:
      if (len < 1)
        return EXG_PARSE_NEED_MORE;
      if (data[0] == 0x04)
        {
          parser->version = msg->version = 4;
          return parse_v4_request (parser, data, len, consumed, msg);
        }
      if (data[0] == 0x05)
        {
          parser->version = msg->version = 5;
          return parse_greeting (parser, data, len, consumed, msg);
        }
      if (exg_http_looks_like_http (data[0]))
        return EXG_PARSE_HTTP;
      return reject_close (msg);

    case EXG_SOCKS_PHASE_AUTH:
      return parse_auth (parser, data, len, consumed, msg);

    case EXG_SOCKS_PHASE_REQUEST:
      return parse_v5_request (parser, data, len, consumed, msg);

    case EXG_SOCKS_PHASE_SELECT:
      return parse_select (parser, data, len, consumed, msg);

    case EXG_SOCKS_PHASE_DONE:
    default:
      /* Nothing more belongs to the handshake. */
      return reject_close (msg);
    }
}

guint8
exg_socks5_choose_method (const guint8 *methods,
                          gsize         n_methods,
                          gboolean      password_required,
                          gboolean      allow_select)
{
  gboolean has_no_auth = FALSE, has_userpass = FALSE, has_select = FALSE;
  gsize i;

  g_return_val_if_fail (methods != NULL || n_methods == 0,
                        EXG_SOCKS_METHOD_NO_ACCEPTABLE);

  for (i = 0; i < n_methods; i++)
    {
      switch (methods[i])
        {
        case EXG_SOCKS_METHOD_NO_AUTH:
          has_no_auth = TRUE;
          break;
        case EXG_SOCKS_METHOD_USERPASS:
          has_userpass = TRUE;
          break;
        case EXG_SOCKS_METHOD_SELECT:
          has_select = TRUE;
          break;
        default:
          break;
        }
    }

  /* E0 carries no credentials: it must never bypass a configured password. */
  if (has_select && allow_select && !password_required)
    return EXG_SOCKS_METHOD_SELECT;
  if (has_userpass)
    return EXG_SOCKS_METHOD_USERPASS;
  if (has_no_auth && !password_required)
    return EXG_SOCKS_METHOD_NO_AUTH;
  return EXG_SOCKS_METHOD_NO_ACCEPTABLE;
}
