/* test-socks-encode.c: reply and request encodings, the client-side reply
 * parsers, round trips through the server parser, and the HTTP page.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-http-page.h"
#include "exg-socks-encode.h"
#include "exg-socks-parser.h"
#include "exg-test-util.h"

#include <string.h>

/* out[0..n) equals the hex string */
static void
assert_bytes (const guint8 *out,
              gsize         n,
              const char   *expected_hex)
{
  g_autoptr(GByteArray) expected = exg_test_hex (expected_hex);

  g_assert_cmpmem (out, n, expected->data, expected->len);
}

static ExgSocksAddr
addr_ipv4 (const char *ip4,
           guint16     port)
{
  ExgSocksAddr a = { .type = EXG_SOCKS_ATYP_IPV4, .port = port };

  memcpy (a.ip, ip4, 4);
  return a;
}

static ExgSocksAddr
addr_ipv6 (const char *ip6,
           guint16     port)
{
  ExgSocksAddr a = { .type = EXG_SOCKS_ATYP_IPV6, .port = port };

  memcpy (a.ip, ip6, 16);
  return a;
}

static ExgSocksAddr
addr_domain (const char *host,
             guint16     port)
{
  ExgSocksAddr a = { .type = EXG_SOCKS_ATYP_DOMAIN, .port = port };

  g_strlcpy (a.host, host, sizeof a.host);
  return a;
}

#define V6_DOC "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"

/* ---- server side ---- */

static void
test_method (void)
{
  guint8 out[4];

  g_assert_cmpuint (exg_socks5_method_encode (out, sizeof out, 0x00), ==, 2);
  assert_bytes (out, 2, "05 00");
  g_assert_cmpuint (exg_socks5_method_encode (out, sizeof out, 0x02), ==, 2);
  assert_bytes (out, 2, "05 02");
  g_assert_cmpuint (exg_socks5_method_encode (out, sizeof out, 0xe0), ==, 2);
  assert_bytes (out, 2, "05 e0");
  g_assert_cmpuint (exg_socks5_method_encode (out, sizeof out, 0xff), ==, 2);
  assert_bytes (out, 2, "05 ff");
  g_assert_cmpuint (exg_socks5_method_encode (out, 1, 0x00), ==, 0);
}

static void
test_auth_status (void)
{
  guint8 out[2];

  g_assert_cmpuint (exg_socks5_auth_status_encode (out, sizeof out, TRUE), ==, 2);
  assert_bytes (out, 2, "01 00");
  g_assert_cmpuint (exg_socks5_auth_status_encode (out, sizeof out, FALSE), ==, 2);
  assert_bytes (out, 2, "01 01");
  g_assert_cmpuint (exg_socks5_auth_status_encode (out, 1, TRUE), ==, 0);
}

static void
test_v5_reply (void)
{
  guint8 out[EXG_SOCKS5_REPLY_MAX];
  ExgSocksAddr v4 = addr_ipv4 ("\x7f\x00\x00\x01", 0xa1b2);
  ExgSocksAddr v6 = addr_ipv6 (V6_DOC, 443);
  ExgSocksAddr dn = addr_domain ("localhost", 0);
  ExgSocksAddr none = { .type = EXG_SOCKS_ATYP_NONE };
  ExgSocksAddr longest = { .type = EXG_SOCKS_ATYP_DOMAIN };
  gsize n;

  g_assert_cmpuint (exg_socks5_reply_encode (out, sizeof out, 0x00, &v4), ==, 10);
  assert_bytes (out, 10, "05 00 00 01 7f000001 a1b2");
  g_assert_cmpuint (exg_socks5_reply_encode (out, sizeof out, 0x00, &v6), ==, 22);
  assert_bytes (out, 22, "05 00 00 04 20010db8000000000000000000000001 01bb");
  g_assert_cmpuint (exg_socks5_reply_encode (out, sizeof out, 0x00, &dn), ==, 16);
  assert_bytes (out, 16, "05 00 00 03 09 6c6f63616c686f7374 0000");

  /* NULL (and NONE) mean 0.0.0.0:0, ATYP 1: every failure reply */
  g_assert_cmpuint (exg_socks5_reply_encode (out, sizeof out, 0x04, NULL), ==, 10);
  assert_bytes (out, 10, "05 04 00 01 00000000 0000");
  g_assert_cmpuint (exg_socks5_reply_encode (out, sizeof out, 0x07, &none), ==, 10);
  assert_bytes (out, 10, "05 07 00 01 00000000 0000");

  /* the largest reply fits EXG_SOCKS5_REPLY_MAX exactly */
  memset (longest.host, 'n', 255);
  g_assert_cmpuint (exg_socks5_reply_encode (out, sizeof out, 0x00, &longest), ==,
                    EXG_SOCKS5_REPLY_MAX);
  g_assert_cmpuint (out[4], ==, 255);

  /* too small a buffer, an empty or unterminated hostname: nothing */
  g_assert_cmpuint (exg_socks5_reply_encode (out, 9, 0x00, &v4), ==, 0);
  g_assert_cmpuint (exg_socks5_reply_encode (out, 21, 0x00, &v6), ==, 0);
  g_assert_cmpuint (exg_socks5_reply_encode (out, EXG_SOCKS5_REPLY_MAX - 1, 0x00,
                                             &longest), ==, 0);
  dn.host[0] = '\0';
  g_assert_cmpuint (exg_socks5_reply_encode (out, sizeof out, 0x00, &dn), ==, 0);
  memset (longest.host, 'n', sizeof longest.host);
  g_assert_cmpuint (exg_socks5_reply_encode (out, sizeof out, 0x00, &longest), ==, 0);

  n = exg_socks5_reply_encode (out, sizeof out, 0x05, NULL);
  g_assert_cmpuint (n, ==, 10);
  g_assert_cmpuint (out[1], ==, 0x05);
}

static void
test_v4_reply (void)
{
  guint8 out[8];

  g_assert_cmpuint (exg_socks4_reply_encode (out, sizeof out, 0x5a, 0x1234,
                                             (const guint8 *) "\xc0\x00\x02\x01"), ==, 8);
  assert_bytes (out, 8, "00 5a 1234 c0000201");
  g_assert_cmpuint (exg_socks4_reply_encode (out, sizeof out, 0x5b, 0, NULL), ==, 8);
  assert_bytes (out, 8, "00 5b 0000 00000000");
  g_assert_cmpuint (exg_socks4_reply_encode (out, 7, 0x5a, 0, NULL), ==, 0);
}

static void
test_select_reply (void)
{
  guint8 out[EXG_SOCKS_SELECT_RESPONSE_LEN];

  g_assert_cmpuint (exg_socks_select_reply_encode (out, sizeof out, TRUE, 3, "SE",
                                                   0xc0000201, 5000000), ==, 14);
  assert_bytes (out, 14, "05 00 ff 03 5345 c0000201 004c4b40");

  /* failure: FF, zero address and bandwidth, country "" = 0x0000 */
  g_assert_cmpuint (exg_socks_select_reply_encode (out, sizeof out, FALSE, 1, "",
                                                   0, 0), ==, 14);
  assert_bytes (out, 14, "05 ff ff 01 0000 00000000 00000000");
  g_assert_cmpuint (exg_socks_select_reply_encode (out, sizeof out, FALSE, 1, NULL,
                                                   0, 0), ==, 14);
  assert_bytes (out, 14, "05 ff ff 01 0000 00000000 00000000");

  /* byte order of every field */
  g_assert_cmpuint (exg_socks_select_reply_encode (out, sizeof out, TRUE, 0x7f, "de",
                                                   0x01020304, 0xfffffffe), ==, 14);
  assert_bytes (out, 14, "05 00 ff 7f 6465 01020304 fffffffe");

  g_assert_cmpuint (exg_socks_select_reply_encode (out, 13, TRUE, 1, "SE", 0, 0), ==, 0);
  g_assert_cmpuint (exg_socks_select_reply_encode (out, sizeof out, TRUE, 1, "S", 0, 0), ==, 0);
  g_assert_cmpuint (exg_socks_select_reply_encode (out, sizeof out, TRUE, 1, "SWE", 0, 0), ==, 0);
}

/* ---- client side ---- */

static void
test_client_encoders (void)
{
  guint8 out[600];
  ExgSocksAddr v4 = addr_ipv4 ("\x0a\x00\x00\x02", 80);
  ExgSocksAddr v6 = addr_ipv6 (V6_DOC, 8080);
  ExgSocksAddr dn = addr_domain ("example.org", 443);
  char long_name[300];

  g_assert_cmpuint (exg_socks5_greeting_encode (out, sizeof out,
                                                (const guint8 *) "\x00\x02", 2), ==, 4);
  assert_bytes (out, 4, "05 02 00 02");
  g_assert_cmpuint (exg_socks5_greeting_encode (out, sizeof out, NULL, 0), ==, 0);
  g_assert_cmpuint (exg_socks5_greeting_encode (out, 3, (const guint8 *) "\x00\x02", 2), ==, 0);

  g_assert_cmpuint (exg_socks5_auth_encode (out, sizeof out, "alice", "pw"), ==, 10);
  assert_bytes (out, 10, "01 05 616c696365 02 7077");
  g_assert_cmpuint (exg_socks5_auth_encode (out, sizeof out, NULL, NULL), ==, 3);
  assert_bytes (out, 3, "01 00 00");
  memset (long_name, 'x', 256);
  long_name[256] = '\0';
  g_assert_cmpuint (exg_socks5_auth_encode (out, sizeof out, long_name, ""), ==, 0);
  g_assert_cmpuint (exg_socks5_auth_encode (out, sizeof out, "", long_name), ==, 0);
  g_assert_cmpuint (exg_socks5_auth_encode (out, 9, "alice", "pw"), ==, 0);

  g_assert_cmpuint (exg_socks5_request_encode (out, sizeof out, 0x01, &v4), ==, 10);
  assert_bytes (out, 10, "05 01 00 01 0a000002 0050");
  g_assert_cmpuint (exg_socks5_request_encode (out, sizeof out, 0xf1, &v6), ==, 22);
  assert_bytes (out, 22, "05 f1 00 04 20010db8000000000000000000000001 1f90");
  g_assert_cmpuint (exg_socks5_request_encode (out, sizeof out, 0xf0, &dn), ==, 18);
  assert_bytes (out, 18, "05 f0 00 03 0b 6578616d706c652e6f7267 01bb");
  g_assert_cmpuint (exg_socks5_request_encode (out, 17, 0xf0, &dn), ==, 0);

  g_assert_cmpuint (exg_socks4a_request_encode (out, sizeof out, 0x01, &v4, "me"), ==, 11);
  assert_bytes (out, 11, "04 01 0050 0a000002 6d65 00");
  g_assert_cmpuint (exg_socks4a_request_encode (out, sizeof out, 0x01, &dn, NULL), ==, 21);
  assert_bytes (out, 21, "04 01 01bb 00000001 00 6578616d706c652e6f7267 00");
  g_assert_cmpuint (exg_socks4a_request_encode (out, sizeof out, 0xf0, &dn, "u"), ==, 22);
  assert_bytes (out, 22, "04 f0 01bb 00000001 75 00 6578616d706c652e6f7267 00");
  g_assert_cmpuint (exg_socks4a_request_encode (out, sizeof out, 0x01, &v6, NULL), ==, 0);
  g_assert_cmpuint (exg_socks4a_request_encode (out, 20, 0x01, &dn, NULL), ==, 0);

  g_assert_cmpuint (exg_socks_select_request_encode (out, sizeof out, "SE", 0xc0000200,
                                                     0xc00002ff, 1000000), ==, 18);
  assert_bytes (out, 18, "05 e0 ff ff 5345 c0000200 c00002ff 000f4240");
  g_assert_cmpuint (exg_socks_select_request_encode (out, sizeof out, "", 0, 0xffffffff, 0),
                    ==, 18);
  assert_bytes (out, 18, "05 e0 ff ff 0000 00000000 ffffffff 00000000");
  g_assert_cmpuint (exg_socks_select_request_encode (out, 17, "", 0, 0, 0), ==, 0);
  g_assert_cmpuint (exg_socks_select_request_encode (out, sizeof out, "X", 0, 0, 0), ==, 0);
}

typedef struct {
  const char     *hex;
  ExgParseResult  result;
  guint8          code;
  ExgSocksAtyp    type;
} ReplyVector;

static void
test_v5_reply_parse (void)
{
  static const ReplyVector vectors[] = {
    { "05 00 00 01 7f000001 1f90", EXG_PARSE_OK, 0x00, EXG_SOCKS_ATYP_IPV4 },
    { "05 00 00 04 20010db8000000000000000000000001 01bb", EXG_PARSE_OK, 0x00,
      EXG_SOCKS_ATYP_IPV6 },
    { "05 00 00 03 09 6c6f63616c686f7374 0000", EXG_PARSE_OK, 0x00, EXG_SOCKS_ATYP_DOMAIN },
    /* tor's failure reply has ATYP 0 and four zero bytes */
    { "05 04 00 00 00000000 0000", EXG_PARSE_OK, 0x04, EXG_SOCKS_ATYP_NONE },
    { "05 01 07 01 00000000 0000", EXG_PARSE_OK, 0x01, EXG_SOCKS_ATYP_IPV4 },
    { "04 00 00 01 7f000001 1f90", EXG_PARSE_REJECT, 0, 0 },
    { "05 00 00 02 7f000001 1f90", EXG_PARSE_REJECT, 0, 0 },
    { "05 00 00 03 02 0061 0000", EXG_PARSE_REJECT, 0, 0 },
    { "48 54 54 50", EXG_PARSE_REJECT, 0, 0 },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      g_autoptr(GByteArray) data = exg_test_hex (vectors[i].hex);
      gsize k;

      /* every prefix of a valid reply needs more */
      for (k = 0; k < data->len && vectors[i].result == EXG_PARSE_OK; k++)
        {
          ExgSocksAddr bound;
          gsize consumed = 7;
          guint8 code;

          g_assert_cmpint (exg_socks5_reply_parse (data->data, k, &consumed, &code, &bound),
                           ==, EXG_PARSE_NEED_MORE);
          g_assert_cmpuint (consumed, ==, 0);
        }

      /* the whole reply, followed by relayed data */
      {
        ExgSocksAddr bound;
        gsize consumed;
        guint8 code = 0xee;
        guint8 extra = 0x42;
        gsize len = data->len;

        g_byte_array_append (data, &extra, 1);
        g_assert_cmpint (exg_socks5_reply_parse (data->data, data->len, &consumed, &code,
                                                 &bound), ==, vectors[i].result);
        if (vectors[i].result != EXG_PARSE_OK)
          continue;
        g_assert_cmpuint (consumed, ==, len);
        g_assert_cmpuint (code, ==, vectors[i].code);
        g_assert_cmpint (bound.type, ==, vectors[i].type);
      }
    }
}

static void
test_v5_reply_parse_fields (void)
{
  g_autoptr(GByteArray) v6 =
    exg_test_hex ("05 00 00 04 20010db8000000000000000000000001 01bb");
  g_autoptr(GByteArray) dn =
    exg_test_hex ("05 00 00 03 09 6c6f63616c686f7374 1234");
  g_autoptr(GByteArray) none = exg_test_hex ("05 04 00 00 00000000 0000");
  ExgSocksAddr bound;
  gsize consumed;
  guint8 code;

  g_assert_cmpint (exg_socks5_reply_parse (v6->data, v6->len, &consumed, &code, &bound),
                   ==, EXG_PARSE_OK);
  g_assert_cmpmem (bound.ip, 16, V6_DOC, 16);
  g_assert_cmpuint (bound.port, ==, 443);

  g_assert_cmpint (exg_socks5_reply_parse (dn->data, dn->len, &consumed, &code, &bound),
                   ==, EXG_PARSE_OK);
  g_assert_cmpstr (bound.host, ==, "localhost");
  g_assert_cmpuint (bound.port, ==, 0x1234);

  g_assert_cmpint (exg_socks5_reply_parse (none->data, none->len, &consumed, &code, &bound),
                   ==, EXG_PARSE_OK);
  g_assert_cmpuint (consumed, ==, 10);
  g_assert_cmpuint (code, ==, 0x04);
  g_assert_cmpmem (bound.ip, 4, "\0\0\0\0", 4);
}

static void
test_select_reply_parse (void)
{
  g_autoptr(GByteArray) ok =
    exg_test_hex ("05 00 ff 03 5345 c0000201 004c4b40 99");
  g_autoptr(GByteArray) fail =
    exg_test_hex ("05 ff ff 01 0000 00000000 00000000");
  gboolean success;
  guint8 circ;
  char country[3];
  guint32 ip, bw;
  gsize consumed, k;

  for (k = 0; k < 14; k++)
    {
      g_assert_cmpint (exg_socks_select_reply_parse (ok->data, k, &consumed, &success, &circ,
                                                     country, &ip, &bw),
                       ==, EXG_PARSE_NEED_MORE);
      g_assert_cmpuint (consumed, ==, 0);
    }
  g_assert_cmpint (exg_socks_select_reply_parse (ok->data, ok->len, &consumed, &success, &circ,
                                                 country, &ip, &bw), ==, EXG_PARSE_OK);
  g_assert_cmpuint (consumed, ==, 14);
  g_assert_true (success);
  g_assert_cmpuint (circ, ==, 3);
  g_assert_cmpstr (country, ==, "SE");
  g_assert_cmphex (ip, ==, 0xc0000201);
  g_assert_cmpuint (bw, ==, 5000000);

  g_assert_cmpint (exg_socks_select_reply_parse (fail->data, fail->len, &consumed, &success,
                                                 &circ, country, &ip, &bw), ==, EXG_PARSE_OK);
  g_assert_false (success);
  g_assert_cmpstr (country, ==, "");
  g_assert_cmpuint (ip, ==, 0);

  fail->data[1] = 0x01;   /* neither 00 nor FF */
  g_assert_cmpint (exg_socks_select_reply_parse (fail->data, fail->len, &consumed, &success,
                                                 &circ, country, &ip, &bw), ==,
                   EXG_PARSE_REJECT);
  fail->data[1] = 0xff;
  fail->data[0] = 0x04;
  g_assert_cmpint (exg_socks_select_reply_parse (fail->data, fail->len, &consumed, &success,
                                                 &circ, country, &ip, &bw), ==,
                   EXG_PARSE_REJECT);
  fail->data[0] = 0x05;
  fail->data[4] = 0x53;   /* half a country */
  g_assert_cmpint (exg_socks_select_reply_parse (fail->data, fail->len, &consumed, &success,
                                                 &circ, country, &ip, &bw), ==,
                   EXG_PARSE_REJECT);
}

/* ---- round trips: client encoder → server parser ---- */

/* Feeds a message to a parser in the phase the greeting and method lead
 * to; the message must come back whole. */
static void
parse_as_server (const char   *greeting_hex,
                 guint8        method,
                 const guint8 *data,
                 gsize         len,
                 ExgSocksMsg  *msg)
{
  ExgSocksParser parser;
  gsize consumed;

  exg_socks_parser_init (&parser);
  if (greeting_hex != NULL)
    {
      g_autoptr(GByteArray) greeting = exg_test_hex (greeting_hex);

      g_assert_cmpint (exg_socks_parser_feed (&parser, greeting->data, greeting->len,
                                              &consumed, msg), ==, EXG_PARSE_OK);
      exg_socks_parser_set_method (&parser, method);
    }
  g_assert_cmpint (exg_socks_parser_feed (&parser, data, len, &consumed, msg), ==,
                   EXG_PARSE_OK);
  g_assert_cmpuint (consumed, ==, len);
}

static void
assert_same_addr (const ExgSocksAddr *a,
                  const ExgSocksAddr *b)
{
  g_assert_cmpint (a->type, ==, b->type);
  g_assert_cmpuint (a->port, ==, b->port);
  if (a->type == EXG_SOCKS_ATYP_DOMAIN)
    g_assert_cmpstr (a->host, ==, b->host);
  else
    g_assert_cmpmem (a->ip, a->type == EXG_SOCKS_ATYP_IPV6 ? 16 : 4,
                     b->ip, b->type == EXG_SOCKS_ATYP_IPV6 ? 16 : 4);
}

static void
test_round_trip (void)
{
  static const guint8 commands[] = { 0x01, 0xf0, 0xf1 };
  ExgSocksAddr targets[4];
  guint8 out[600];
  ExgSocksMsg msg;
  gsize n;
  guint i, j;

  targets[0] = addr_ipv4 ("\x01\x02\x03\x04", 1);
  targets[1] = addr_ipv6 (V6_DOC, 65535);
  targets[2] = addr_domain ("example.org", 443);
  targets[3] = (ExgSocksAddr) { .type = EXG_SOCKS_ATYP_DOMAIN, .port = 0x0102 };
  memset (targets[3].host, 'z', 255);

  /* greeting */
  n = exg_socks5_greeting_encode (out, sizeof out, (const guint8 *) "\x00\x02\xe0", 3);
  parse_as_server (NULL, 0, out, n, &msg);
  g_assert_cmpint (msg.kind, ==, EXG_SOCKS_MSG_GREETING);
  g_assert_cmpmem (msg.methods, msg.n_methods, "\x00\x02\xe0", 3);

  /* auth */
  n = exg_socks5_auth_encode (out, sizeof out, "country=se,min-bw=1000000", "pässword");
  parse_as_server ("05 01 02", 0x02, out, n, &msg);
  g_assert_cmpint (msg.kind, ==, EXG_SOCKS_MSG_AUTH);
  g_assert_cmpstr (msg.username, ==, "country=se,min-bw=1000000");
  g_assert_cmpstr (msg.password, ==, "pässword");

  /* v5 requests: every command the server accepts, every address type */
  for (i = 0; i < G_N_ELEMENTS (commands); i++)
    for (j = 0; j < G_N_ELEMENTS (targets); j++)
      {
        if (commands[i] == 0xf1 && targets[j].type == EXG_SOCKS_ATYP_DOMAIN)
          continue;
        n = exg_socks5_request_encode (out, sizeof out, commands[i], &targets[j]);
        g_assert_cmpuint (n, >, 0);
        parse_as_server ("05 01 00", 0x00, out, n, &msg);
        g_assert_cmpint (msg.kind, ==, EXG_SOCKS_MSG_REQUEST);
        g_assert_cmpint (msg.version, ==, 5);
        g_assert_cmpuint (msg.command, ==, commands[i]);
        assert_same_addr (&msg.target, &targets[j]);

        /* the same after E0 */
        parse_as_server ("05 01 e0", 0xe0, out, n, &msg);
        assert_same_addr (&msg.target, &targets[j]);
      }

  /* SOCKS4 and 4a */
  for (i = 0; i < 2; i++)
    for (j = 0; j < G_N_ELEMENTS (targets); j++)
      {
        if (targets[j].type == EXG_SOCKS_ATYP_IPV6)
          continue;
        n = exg_socks4a_request_encode (out, sizeof out, commands[i], &targets[j], "userid");
        g_assert_cmpuint (n, >, 0);
        parse_as_server (NULL, 0, out, n, &msg);
        g_assert_cmpint (msg.version, ==, 4);
        g_assert_cmpuint (msg.command, ==, commands[i]);
        g_assert_cmpstr (msg.username, ==, "userid");
        assert_same_addr (&msg.target, &targets[j]);
      }

  /* E0 selection */
  n = exg_socks_select_request_encode (out, sizeof out, "SE", 0x01020304, 0x05060708,
                                       0x090a0b0c);
  parse_as_server ("05 01 e0", 0xe0, out, n, &msg);
  g_assert_cmpint (msg.kind, ==, EXG_SOCKS_MSG_SELECT);
  g_assert_cmpstr (msg.country, ==, "SE");
  g_assert_cmphex (msg.range_start, ==, 0x01020304);
  g_assert_cmphex (msg.range_end, ==, 0x05060708);
  g_assert_cmphex (msg.min_bw, ==, 0x090a0b0c);
  n = exg_socks_select_request_encode (out, sizeof out, "", 0, 0xffffffff, 0);
  parse_as_server ("05 01 e0", 0xe0, out, n, &msg);
  g_assert_cmpstr (msg.country, ==, "");
}

/* server encoder → client parser */
static void
test_round_trip_replies (void)
{
  ExgSocksAddr bounds[3];
  guint8 out[EXG_SOCKS5_REPLY_MAX];
  gsize n, consumed;
  guint i;

  bounds[0] = addr_ipv4 ("\xc0\x00\x02\x01", 40000);
  bounds[1] = addr_ipv6 (V6_DOC, 1);
  bounds[2] = (ExgSocksAddr) { .type = EXG_SOCKS_ATYP_DOMAIN, .port = 0 };
  memset (bounds[2].host, 'q', 255);

  for (i = 0; i < G_N_ELEMENTS (bounds); i++)
    {
      ExgSocksAddr parsed;
      guint8 code;

      n = exg_socks5_reply_encode (out, sizeof out, 0x00, &bounds[i]);
      g_assert_cmpint (exg_socks5_reply_parse (out, n, &consumed, &code, &parsed), ==,
                       EXG_PARSE_OK);
      g_assert_cmpuint (consumed, ==, n);
      g_assert_cmpuint (code, ==, 0);
      assert_same_addr (&parsed, &bounds[i]);
    }

  {
    gboolean ok;
    guint8 circ;
    char country[3];
    guint32 ip, bw;

    n = exg_socks_select_reply_encode (out, sizeof out, TRUE, 3, "NL", 0x7f000002,
                                       G_MAXUINT32);
    g_assert_cmpint (exg_socks_select_reply_parse (out, n, &consumed, &ok, &circ, country,
                                                   &ip, &bw), ==, EXG_PARSE_OK);
    g_assert_true (ok);
    g_assert_cmpuint (circ, ==, 3);
    g_assert_cmpstr (country, ==, "NL");
    g_assert_cmphex (ip, ==, 0x7f000002);
    g_assert_cmphex (bw, ==, G_MAXUINT32);
  }
}

/* ---- the HTTP page ---- */

static void
test_http_page (void)
{
  gsize len, body_len;
  const guint8 *page = exg_http_page_get (&len);
  g_autofree char *text = g_strndup ((const char *) page, len);
  const char *body, *cl;
  g_autofree char *expected_cl = NULL;

  g_assert_true (g_str_has_prefix (text, "HTTP/1.0 501 "));
  g_assert_nonnull (strstr (text, "\r\nContent-Type: text/html"));
  body = strstr (text, "\r\n\r\n");
  g_assert_nonnull (body);
  body += 4;
  body_len = len - (gsize) (body - text);
  expected_cl = g_strdup_printf ("\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n", body_len);
  cl = strstr (text, expected_cl);
  g_assert_nonnull (cl);
  g_assert_true (cl < body);
  g_assert_nonnull (strstr (body, "SOCKS"));
  g_assert_nonnull (strstr (body, "Proxy DNS when using SOCKS v5"));
  g_assert_nonnull (strstr (body, "</html>"));
  g_assert_true (g_utf8_validate (text, (gssize) len, NULL));

  /* the same bytes every time */
  g_assert_true (exg_http_page_get (&body_len) == page);
  g_assert_cmpuint (body_len, ==, len);
}

static void
test_http_first_byte (void)
{
  guint b;

  for (b = 0; b < 256; b++)
    g_assert_cmpint (exg_http_looks_like_http ((guint8) b), ==,
                     b == 'G' || b == 'H' || b == 'P' || b == 'C');
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/proto/encode/method", test_method);
  g_test_add_func ("/proto/encode/auth-status", test_auth_status);
  g_test_add_func ("/proto/encode/socks5-reply", test_v5_reply);
  g_test_add_func ("/proto/encode/socks4-reply", test_v4_reply);
  g_test_add_func ("/proto/encode/select-reply", test_select_reply);
  g_test_add_func ("/proto/encode/client", test_client_encoders);
  g_test_add_func ("/proto/encode/socks5-reply-parse", test_v5_reply_parse);
  g_test_add_func ("/proto/encode/socks5-reply-parse/fields", test_v5_reply_parse_fields);
  g_test_add_func ("/proto/encode/select-reply-parse", test_select_reply_parse);
  g_test_add_func ("/proto/encode/round-trip/requests", test_round_trip);
  g_test_add_func ("/proto/encode/round-trip/replies", test_round_trip_replies);
  g_test_add_func ("/proto/http/page", test_http_page);
  g_test_add_func ("/proto/http/first-byte", test_http_first_byte);

  return g_test_run ();
}
