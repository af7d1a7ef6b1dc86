/* exg-socks-encode.c: SOCKS messages to bytes, both directions.
 *
 * Every multi-byte field goes out in network byte order.  An encoder that
 * is given an address it cannot express (a hostname longer than 255 bytes,
 * an IPv6 target for SOCKS4a, a country that is not two characters) writes
 * nothing and returns 0, like an encoder given too small a buffer.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-socks-encode.h"

#include <string.h>

static void
write_u16 (guint8  *p,
           guint16  v)
{
  p[0] = (guint8) (v >> 8);
  p[1] = (guint8) v;
}

static void
write_u32 (guint8  *p,
           guint32  v)
{
  p[0] = (guint8) (v >> 24);
  p[1] = (guint8) (v >> 16);
  p[2] = (guint8) (v >> 8);
  p[3] = (guint8) v;
}

static guint32
read_u32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) |
         ((guint32) p[2] << 8) | (guint32) p[3];
}

/* Length of a host name that fits a one-byte length field, or 0. */
static gsize
host_len (const ExgSocksAddr *addr)
{
  gsize n = strnlen (addr->host, sizeof addr->host);

  return n <= 255 ? n : 0;
}

/* A two-character country code as two wire bytes; NULL or "" is 0x0000. */
static gboolean
country_bytes (const char *country,
               guint8      out[2])
{
  if (country == NULL || country[0] == '\0')
    {
      out[0] = out[1] = 0;
      return TRUE;
    }
  if (country[1] == '\0' || country[2] != '\0')
    return FALSE;
  out[0] = (guint8) country[0];
  out[1] = (guint8) country[1];
  return TRUE;
}

/* ATYP ADDR PORT, as in v5 requests and replies.  Returns the bytes written
 * or 0. */
static gsize
addr_encode (guint8             *out,
             gsize               avail,
             const ExgSocksAddr *addr)
{
  static const ExgSocksAddr any = { .type = EXG_SOCKS_ATYP_IPV4 };
  gsize n;

  if (addr == NULL || addr->type == EXG_SOCKS_ATYP_NONE)
    addr = &any;

  switch (addr->type)
    {
    case EXG_SOCKS_ATYP_IPV4:
      if (avail < 1 + 4 + 2)
        return 0;
      out[0] = EXG_SOCKS_ATYP_IPV4;
      memcpy (out + 1, addr->ip, 4);
      write_u16 (out + 5, addr->port);
      return 1 + 4 + 2;

    case EXG_SOCKS_ATYP_IPV6:
      if (avail < 1 + 16 + 2)
        return 0;
      out[0] = EXG_SOCKS_ATYP_IPV6;
      memcpy (out + 1, addr->ip, 16);
      write_u16 (out + 17, addr->port);
      return 1 + 16 + 2;

    case EXG_SOCKS_ATYP_DOMAIN:
      n = host_len (addr);
      if (n == 0 || avail < 1 + 1 + n + 2)
        return 0;
      out[0] = EXG_SOCKS_ATYP_DOMAIN;
      out[1] = (guint8) n;
      memcpy (out + 2, addr->host, n);
      write_u16 (out + 2 + n, addr->port);
      return 1 + 1 + n + 2;

    case EXG_SOCKS_ATYP_NONE:
    default:
      return 0;
    }
}

/* 05 CODE 00 ATYP ADDR PORT: a v5 request (CODE the command) or reply
 * (CODE the reply code) alike.  Returns the bytes written or 0. */
static gsize
v5_message_encode (guint8             *out,
                   gsize               avail,
                   guint8              code,
                   const ExgSocksAddr *addr)
{
  gsize n;

  if (avail < 3)
    return 0;
  n = addr_encode (out + 3, avail - 3, addr);
  if (n == 0)
    return 0;
  out[0] = 0x05;
  out[1] = code;
  out[2] = 0x00;
  return 3 + n;
}

gsize
exg_socks5_method_encode (guint8 *out,
                          gsize   avail,
                          guint8  method)
{
  g_return_val_if_fail (out != NULL || avail == 0, 0);

  if (avail < 2)
    return 0;
  out[0] = 0x05;
  out[1] = method;
  return 2;
}

gsize
exg_socks5_auth_status_encode (guint8   *out,
                               gsize     avail,
                               gboolean  ok)
{
  g_return_val_if_fail (out != NULL || avail == 0, 0);

  if (avail < 2)
    return 0;
  out[0] = 0x01;                 /* RFC 1929 sub-negotiation version */
  out[1] = ok ? 0x00 : 0x01;
  return 2;
}

gsize
exg_socks5_reply_encode (guint8             *out,
                         gsize               avail,
                         guint8              code,
                         const ExgSocksAddr *bound)
{
  g_return_val_if_fail (out != NULL || avail == 0, 0);

  return v5_message_encode (out, avail, code, bound);
}

gsize
exg_socks4_reply_encode (guint8       *out,
                         gsize         avail,
                         guint8        code,
                         guint16       port,
                         const guint8 *ipv4)
{
  g_return_val_if_fail (out != NULL || avail == 0, 0);

  if (avail < 8)
    return 0;
  out[0] = 0x00;                 /* reply version, always 0 */
  out[1] = code;
  write_u16 (out + 2, port);
  if (ipv4 != NULL)
    memcpy (out + 4, ipv4, 4);
  else
    memset (out + 4, 0, 4);
  return 8;
}

gsize
exg_socks_select_reply_encode (guint8     *out,
                               gsize       avail,
                               gboolean    ok,
                               guint8      circuit_pos,
                               const char *country,
                               guint32     ipv4,
                               guint32     bandwidth)
{
  guint8 cc[2];

  g_return_val_if_fail (out != NULL || avail == 0, 0);

  if (avail < EXG_SOCKS_SELECT_RESPONSE_LEN || !country_bytes (country, cc))
    return 0;
  out[0] = 0x05;
  out[1] = ok ? 0x00 : 0xFF;
  out[2] = 0xFF;                 /* scope: exit selection only */
  out[3] = circuit_pos;
  out[4] = cc[0];
  out[5] = cc[1];
  write_u32 (out + 6, ipv4);
  write_u32 (out + 10, bandwidth);
  return EXG_SOCKS_SELECT_RESPONSE_LEN;
}

gsize
exg_socks5_greeting_encode (guint8       *out,
                            gsize         avail,
                            const guint8 *methods,
                            gsize         n_methods)
{
  g_return_val_if_fail (out != NULL || avail == 0, 0);
  g_return_val_if_fail (methods != NULL || n_methods == 0, 0);

  /* RFC 1928 §3: one to 255 methods */
  if (n_methods == 0 || n_methods > 255 || avail < 2 + n_methods)
    return 0;
  out[0] = 0x05;
  out[1] = (guint8) n_methods;
  memcpy (out + 2, methods, n_methods);
  return 2 + n_methods;
}

gsize
exg_socks5_auth_encode (guint8     *out,
                        gsize       avail,
                        const char *username,
                        const char *password)
{
  gsize ulen, plen;

  g_return_val_if_fail (out != NULL || avail == 0, 0);

  if (username == NULL)
    username = "";
  if (password == NULL)
    password = "";
  ulen = strlen (username);
  plen = strlen (password);
  if (ulen > 255 || plen > 255 || avail < 3 + ulen + plen)
    return 0;
  out[0] = 0x01;
  out[1] = (guint8) ulen;
  memcpy (out + 2, username, ulen);
  out[2 + ulen] = (guint8) plen;
  memcpy (out + 3 + ulen, password, plen);
  return 3 + ulen + plen;
}

gsize
exg_socks5_request_encode (guint8             *out,
                           gsize               avail,
                           guint8              command,
                           const ExgSocksAddr *target)
{
  g_return_val_if_fail (out != NULL || avail == 0, 0);
  g_return_val_if_fail (target != NULL, 0);

  if (target->type == EXG_SOCKS_ATYP_NONE)
    return 0;
  return v5_message_encode (out, avail, command, target);
}

gsize
exg_socks4a_request_encode (guint8             *out,
                            gsize               avail,
                            guint8              command,
                            const ExgSocksAddr *target,
                            const char         *userid)
{
  gsize ulen, hlen = 0, total;

  g_return_val_if_fail (out != NULL || avail == 0, 0);
  g_return_val_if_fail (target != NULL, 0);

  if (userid == NULL)
    userid = "";
  ulen = strlen (userid);
  if (ulen > 255)
    return 0;

  switch (target->type)
    {
    case EXG_SOCKS_ATYP_IPV4:
      total = 8 + ulen + 1;
      break;
    case EXG_SOCKS_ATYP_DOMAIN:
      hlen = host_len (target);
      if (hlen == 0)
        return 0;
      total = 8 + ulen + 1 + hlen + 1;
      break;
    case EXG_SOCKS_ATYP_IPV6:
    case EXG_SOCKS_ATYP_NONE:
    default:
      return 0;
    }
  if (avail < total)
    return 0;

  out[0] = 0x04;
  out[1] = command;
  write_u16 (out + 2, target->port);
  if (target->type == EXG_SOCKS_ATYP_IPV4)
    {
      memcpy (out + 4, target->ip, 4);
    }
  else
    {
      /* SOCKS4a: 0.0.0.1 says "the hostname follows the userid" */
      out[4] = out[5] = out[6] = 0;
      out[7] = 1;
    }
  memcpy (out + 8, userid, ulen);
  out[8 + ulen] = 0;
  if (hlen > 0)
    {
      memcpy (out + 9 + ulen, target->host, hlen);
      out[9 + ulen + hlen] = 0;
    }
  return total;
}

gsize
exg_socks_select_request_encode (guint8     *out,
                                 gsize       avail,
                                 const char *country,
                                 guint32     range_start,
                                 guint32     range_end,
                                 guint32     min_bw)
{
  guint8 cc[2];

  g_return_val_if_fail (out != NULL || avail == 0, 0);

  if (avail < EXG_SOCKS_SELECT_REQUEST_LEN || !country_bytes (country, cc))
    return 0;
  out[0] = 0x05;
  out[1] = EXG_SOCKS_METHOD_SELECT;
  out[2] = 0xFF;                 /* scope_id, reserved */
  out[3] = 0xFF;                 /* circuit_pos, reserved */
  out[4] = cc[0];
  out[5] = cc[1];
  write_u32 (out + 6, range_start);
  write_u32 (out + 10, range_end);
  write_u32 (out + 14, min_bw);
  return EXG_SOCKS_SELECT_REQUEST_LEN;
}

ExgParseResult
exg_socks5_reply_parse (const guint8 *data,
                        gsize         len,
                        gsize        *consumed,
                        guint8       *code,
                        ExgSocksAddr *bound)
{
  gsize addr_len, total;
  guint8 atyp;

  g_return_val_if_fail (data != NULL || len == 0, EXG_PARSE_REJECT);
  g_return_val_if_fail (consumed != NULL, EXG_PARSE_REJECT);
  g_return_val_if_fail (code != NULL, EXG_PARSE_REJECT);
  g_return_val_if_fail (bound != NULL, EXG_PARSE_REJECT);

  *consumed = 0;
  if (len < 1)
    return EXG_PARSE_NEED_MORE;
  if (data[0] != 0x05)
    return EXG_PARSE_REJECT;
  if (len < 4)
    return EXG_PARSE_NEED_MORE;

  atyp = data[3];
  switch (atyp)
    {
    case EXG_SOCKS_ATYP_NONE:   /* tor's error replies: 4 zero bytes */
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
      return EXG_PARSE_REJECT;
    }
  total = 4 + addr_len + 2;
  if (len < total)
    return EXG_PARSE_NEED_MORE;

  memset (bound, 0, sizeof *bound);
  bound->type = atyp;
  if (atyp == EXG_SOCKS_ATYP_DOMAIN)
    {
      gsize n = data[4];

      if (memchr (data + 5, 0, n) != NULL)
        return EXG_PARSE_REJECT;
      memcpy (bound->host, data + 5, n);
      bound->host[n] = '\0';
    }
  else if (atyp != EXG_SOCKS_ATYP_NONE)
    {
      memcpy (bound->ip, data + 4, addr_len);
    }
  bound->port = (guint16) ((data[4 + addr_len] << 8) | data[5 + addr_len]);
  *code = data[1];
  *consumed = total;
  return EXG_PARSE_OK;
}

ExgParseResult
exg_socks_select_reply_parse (const guint8 *data,
                              gsize         len,
                              gsize        *consumed,
                              gboolean     *ok,
                              guint8       *circuit_pos,
                              char          country[3],
                              guint32      *ipv4,
                              guint32      *bandwidth)
{
  guint8 c0, c1;

  g_return_val_if_fail (data != NULL || len == 0, EXG_PARSE_REJECT);
  g_return_val_if_fail (consumed != NULL, EXG_PARSE_REJECT);

  *consumed = 0;
  if (len < 1)
    return EXG_PARSE_NEED_MORE;
  if (data[0] != 0x05)
    return EXG_PARSE_REJECT;
  if (len < 2)
    return EXG_PARSE_NEED_MORE;
  if (data[1] != 0x00 && data[1] != 0xFF)
    return EXG_PARSE_REJECT;
  if (len < EXG_SOCKS_SELECT_RESPONSE_LEN)
    return EXG_PARSE_NEED_MORE;

  c0 = data[4];
  c1 = data[5];
  if (!((c0 == 0 && c1 == 0) ||
        (c0 > 0x20 && c0 < 0x7f && c1 > 0x20 && c1 < 0x7f)))
    return EXG_PARSE_REJECT;

  if (ok != NULL)
    *ok = data[1] == 0x00;
  if (circuit_pos != NULL)
    *circuit_pos = data[3];
  if (country != NULL)
    {
      country[0] = (char) c0;
      country[1] = (char) c1;
      country[2] = '\0';
    }
  if (ipv4 != NULL)
    *ipv4 = read_u32 (data + 6);
  if (bandwidth != NULL)
    *bandwidth = read_u32 (data + 10);
  *consumed = EXG_SOCKS_SELECT_RESPONSE_LEN;
  return EXG_PARSE_OK;
}
