/* test-socks-parser.c: the server-side SOCKS parser, byte by byte.
 *
 * Every valid message is checked field by field, then fed as every prefix
 * (NEED_MORE, nothing consumed) and with bytes after it (left unconsumed).
 * Every malformed message is checked for its exact reply bytes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-http-page.h"
#include "exg-socks-parser.h"
#include "exg-test-util.h"

#include <string.h>

static void
append_hex (GByteArray *ba,
            const char *s)
{
  g_autoptr(GByteArray) more = exg_test_hex (s);

  g_byte_array_append (ba, more->data, more->len);
}

static void
append_fill (GByteArray *ba,
             guint8      byte,
             gsize       n)
{
  gsize i;

  for (i = 0; i < n; i++)
    g_byte_array_append (ba, &byte, 1);
}

/* The phase a vector is fed in, reached through real messages. */
typedef enum {
  SETUP_START,
  SETUP_AUTH,      /* after 05 01 02, method 02 */
  SETUP_REQUEST,   /* after 05 01 00, method 00 */
  SETUP_SELECT,    /* after 05 01 E0, method E0 */
} Setup;

static void
parser_setup (ExgSocksParser *parser,
              Setup           setup)
{
  static const char *greetings[] = { NULL, "05 01 02", "05 01 00", "05 01 e0" };
  static const guint8 methods[] = { 0, 0x02, 0x00, 0xE0 };
  g_autoptr(GByteArray) greeting = NULL;
  ExgSocksMsg msg;
  gsize consumed = 99;

  exg_socks_parser_init (parser);
  g_assert_cmpint (parser->phase, ==, EXG_SOCKS_PHASE_START);
  if (setup == SETUP_START)
    return;

  greeting = exg_test_hex (greetings[setup]);
  g_assert_cmpint (exg_socks_parser_feed (parser, greeting->data, greeting->len,
                                          &consumed, &msg), ==, EXG_PARSE_OK);
  g_assert_cmpuint (consumed, ==, greeting->len);
  g_assert_cmpint (msg.kind, ==, EXG_SOCKS_MSG_GREETING);
  exg_socks_parser_set_method (parser, methods[setup]);
}

/* Feeds data[0..len) as one buffer to a parser in the given phase. */
static ExgParseResult
feed_once (Setup         setup,
           const guint8 *data,
           gsize         len,
           gsize        *consumed,
           ExgSocksMsg  *msg)
{
  ExgSocksParser parser;

  parser_setup (&parser, setup);
  return exg_socks_parser_feed (&parser, data, len, consumed, msg);
}

/* Every prefix → NEED_MORE with 0 consumed; the whole → OK consuming
 * exactly len; the whole followed by more bytes → OK, the same message and
 * the extra bytes left.  Also feeds one parser a buffer that grows a byte at
 * a time, as a session does.  Returns the message. */
static void
check_ok_everywhere (Setup         setup,
                     const guint8 *data,
                     gsize         len,
                     ExgSocksMsg  *out)
{
  g_autoptr(GByteArray) longer = g_byte_array_new ();
  ExgSocksParser parser;
  ExgSocksMsg msg, msg2;
  gsize consumed, k;

  for (k = 0; k < len; k++)
    {
      consumed = 12345;
      g_assert_cmpint (feed_once (setup, data, k, &consumed, &msg), ==,
                       EXG_PARSE_NEED_MORE);
      g_assert_cmpuint (consumed, ==, 0);
    }

  consumed = 0;
  g_assert_cmpint (feed_once (setup, data, len, &consumed, &msg), ==, EXG_PARSE_OK);
  g_assert_cmpuint (consumed, ==, len);

  /* pipelined: anything after the message is not consumed */
  g_byte_array_append (longer, data, len);
  append_hex (longer, "47 45 54 20 00 05 04 ff");
  g_assert_cmpint (feed_once (setup, longer->data, longer->len, &consumed, &msg2),
                   ==, EXG_PARSE_OK);
  g_assert_cmpuint (consumed, ==, len);
  g_assert_true (memcmp (&msg, &msg2, sizeof msg) == 0);

  /* one parser, a growing buffer */
  parser_setup (&parser, setup);
  for (k = 0; k <= len; k++)
    {
      ExgParseResult r = exg_socks_parser_feed (&parser, data, k, &consumed, &msg2);

      if (k < len)
        {
          g_assert_cmpint (r, ==, EXG_PARSE_NEED_MORE);
          g_assert_cmpuint (consumed, ==, 0);
        }
      else
        {
          g_assert_cmpint (r, ==, EXG_PARSE_OK);
          g_assert_cmpuint (consumed, ==, len);
        }
    }
  g_assert_true (memcmp (&msg, &msg2, sizeof msg) == 0);

  if (out != NULL)
    *out = msg;
}

/* The whole message → REJECT with exactly the expected reply; every prefix
 * → NEED_MORE (nothing consumed) or that same REJECT, and once rejected
 * every longer prefix is rejected too. */
static void
check_reject (Setup       setup,
              GByteArray *data,
              const char *reply_hex)
{
  g_autoptr(GByteArray) reply = exg_test_hex (reply_hex);
  gboolean rejected = FALSE;
  gsize k;

  for (k = 0; k <= data->len; k++)
    {
      ExgSocksMsg msg;
      gsize consumed = 12345;
      ExgParseResult r = feed_once (setup, data->data, k, &consumed, &msg);

      g_assert_cmpuint (consumed, ==, 0);
      if (r == EXG_PARSE_NEED_MORE && !rejected && k < data->len)
        continue;
      g_assert_cmpint (r, ==, EXG_PARSE_REJECT);
      g_assert_cmpmem (msg.reply, msg.reply_len, reply->data, reply->len);
      rejected = TRUE;
    }
  g_assert_true (rejected);
}

static void
check_reject_hex (Setup       setup,
                  const char *msg_hex,
                  const char *reply_hex)
{
  g_autoptr(GByteArray) data = exg_test_hex (msg_hex);

  check_reject (setup, data, reply_hex);
}

#define V5_REPLY(code) "05 " code " 00 01 00000000 0000"
#define V4_REJECT "00 5b 0000 00000000"
#define CLOSE ""

/* ---- tables of valid messages ---- */

typedef struct {
  const char *path;
  Setup       setup;
  const char *hex;
} OkVector;

static const OkVector ok_vectors[] = {
  { "/proto/socks4/connect", SETUP_START, "04 01 0050 7f000001 75736572 00" },
  { "/proto/socks4/connect/empty-userid", SETUP_START, "04 01 0050 c0a80001 00" },
  { "/proto/socks4/resolve", SETUP_START, "04 f0 0000 7f000001 00" },
  { "/proto/socks4a/connect", SETUP_START,
    "04 01 01bb 00000001 00 6578616d706c652e6f7267 00" },
  { "/proto/socks4a/resolve", SETUP_START,
    "04 f0 0000 000000ff 7475 00 6578616d706c652e6f7267 00" },
  { "/proto/socks5/greeting", SETUP_START, "05 02 00 02" },
  { "/proto/socks5/greeting/no-methods", SETUP_START, "05 00" },
  { "/proto/socks5/auth", SETUP_AUTH, "01 05 616c696365 06 736563726574" },
  { "/proto/socks5/auth/empty", SETUP_AUTH, "01 00 00" },
  { "/proto/socks5/connect/ipv4", SETUP_REQUEST, "05 01 00 01 7f000001 1f90" },
  { "/proto/socks5/connect/ipv6", SETUP_REQUEST,
    "05 01 00 04 20010db8000000000000000000000001 01bb" },
  { "/proto/socks5/connect/domain", SETUP_REQUEST,
    "05 01 00 03 0b 6578616d706c652e6f7267 0050" },
  { "/proto/socks5/connect/rsv-ignored", SETUP_REQUEST, "05 01 7a 01 7f000001 1f90" },
  { "/proto/socks5/resolve/domain", SETUP_REQUEST,
    "05 f0 00 03 0b 6578616d706c652e6f7267 0000" },
  { "/proto/socks5/resolve/ipv4", SETUP_REQUEST, "05 f0 00 01 7f000001 0000" },
  { "/proto/socks5/resolve-ptr/ipv4", SETUP_REQUEST, "05 f1 00 01 c0000201 0000" },
  { "/proto/socks5/resolve-ptr/ipv6", SETUP_REQUEST,
    "05 f1 00 04 20010db8000000000000000000000001 0000" },
  { "/proto/e0/select", SETUP_SELECT,
    "05 e0 ff ff 5345 01020304 0a0b0c0d 00112233" },
  { "/proto/e0/select/any", SETUP_SELECT,
    "05 e0 ff ff 0000 00000000 ffffffff 00000000" },
  { "/proto/e0/connect", SETUP_SELECT, "05 01 00 01 7f000001 1f90" },
  { "/proto/e0/resolve", SETUP_SELECT, "05 f0 00 03 01 61 0000" },
};

static void
test_ok_split_anywhere (gconstpointer user_data)
{
  const OkVector *v = user_data;
  g_autoptr(GByteArray) data = exg_test_hex (v->hex);

  check_ok_everywhere (v->setup, data->data, data->len, NULL);
}

/* ---- tables of malformed messages ---- */

typedef struct {
  const char *path;
  Setup       setup;
  const char *hex;
  const char *reply;
} RejectVector;

static const RejectVector reject_vectors[] = {
  /* SOCKS4: every failure is 00 5B */
  { "/proto/socks4/reject/bind", SETUP_START, "04 02 0050 7f000001 00", V4_REJECT },
  { "/proto/socks4/reject/resolve-ptr", SETUP_START, "04 f1 0000 7f000001 00", V4_REJECT },
  { "/proto/socks4/reject/connect-dir", SETUP_START, "04 f2 0050 7f000001 00", V4_REJECT },
  { "/proto/socks4/reject/unknown-command", SETUP_START, "04 09 0050 7f000001 00", V4_REJECT },
  { "/proto/socks4a/reject/bind", SETUP_START, "04 02 0050 00000001 00 61 00", V4_REJECT },
  { "/proto/socks4a/reject/empty-hostname", SETUP_START, "04 01 0050 00000001 00 00",
    V4_REJECT },
  { "/proto/socks4a/reject/resolve-ptr", SETUP_START, "04 f1 0000 00000001 00 61 00",
    V4_REJECT },

  /* SOCKS5 requests */
  { "/proto/socks5/reject/bind", SETUP_REQUEST, "05 02 00 01 7f000001 0050", V5_REPLY ("07") },
  { "/proto/socks5/reject/udp-associate", SETUP_REQUEST, "05 03 00 01 00000000 0000",
    V5_REPLY ("07") },
  { "/proto/socks5/reject/connect-dir", SETUP_REQUEST, "05 f2 00 01 7f000001 2329",
    V5_REPLY ("07") },
  { "/proto/socks5/reject/unknown-command", SETUP_REQUEST, "05 00 00 01 7f000001 0050",
    V5_REPLY ("07") },
  { "/proto/socks5/reject/unknown-command-domain", SETUP_REQUEST,
    "05 7f 00 03 01 61 0050", V5_REPLY ("07") },
  { "/proto/socks5/reject/unknown-atyp", SETUP_REQUEST, "05 01 00 02", V5_REPLY ("08") },
  { "/proto/socks5/reject/unknown-atyp-long", SETUP_REQUEST,
    "05 01 00 05 7f000001 0050 00000000", V5_REPLY ("08") },
  { "/proto/socks5/reject/unknown-atyp-zero", SETUP_REQUEST, "05 f0 00 00", V5_REPLY ("08") },
  { "/proto/socks5/reject/unknown-atyp-bind", SETUP_REQUEST, "05 02 00 09", V5_REPLY ("08") },
  { "/proto/socks5/reject/resolve-ptr-domain", SETUP_REQUEST,
    "05 f1 00 03 0b 6578616d706c652e6f7267 0000", V5_REPLY ("08") },
  { "/proto/socks5/reject/empty-hostname", SETUP_REQUEST, "05 01 00 03 00 0050",
    V5_REPLY ("01") },
  { "/proto/socks5/reject/nul-in-hostname", SETUP_REQUEST, "05 01 00 03 03 610062 0050",
    V5_REPLY ("01") },
  { "/proto/socks5/reject/nul-ending-hostname", SETUP_REQUEST, "05 01 00 03 02 6100 0050",
    V5_REPLY ("01") },
  { "/proto/socks5/reject/bad-version", SETUP_REQUEST, "04 01 00 01 7f000001 0050", CLOSE },
  { "/proto/socks5/reject/version-zero", SETUP_REQUEST, "00", CLOSE },

  /* RFC 1929 */
  { "/proto/socks5/auth/reject/bad-version", SETUP_AUTH, "05 01 61 01 62", CLOSE },
  { "/proto/socks5/auth/reject/nul-in-username", SETUP_AUTH, "01 02 6100 01 62", "01 01" },
  { "/proto/socks5/auth/reject/nul-in-password", SETUP_AUTH, "01 01 61 02 0062", "01 01" },

  /* first bytes that are neither SOCKS nor HTTP */
  { "/proto/start/reject/zero", SETUP_START, "00 01 02", CLOSE },
  { "/proto/start/reject/socks6", SETUP_START, "06 01 00", CLOSE },
  { "/proto/start/reject/ff", SETUP_START, "ff", CLOSE },
  { "/proto/start/reject/tls", SETUP_START, "16 03 01 00 a5 01", CLOSE },
  { "/proto/start/reject/lowercase-get", SETUP_START, "67 65 74 20", CLOSE },

  /* E0 phase: a malformed selection closes; the request keeps its replies */
  { "/proto/e0/reject/bad-version", SETUP_SELECT,
    "04 e0 ff ff 5345 01020304 0a0b0c0d 00112233", CLOSE },
  { "/proto/e0/reject/half-country", SETUP_SELECT,
    "05 e0 ff ff 0045 00000000 ffffffff 00000000", CLOSE },
  { "/proto/e0/reject/half-country-2", SETUP_SELECT,
    "05 e0 ff ff 5300 00000000 ffffffff 00000000", CLOSE },
  { "/proto/e0/reject/control-country", SETUP_SELECT,
    "05 e0 ff ff 0102 00000000 ffffffff 00000000", CLOSE },
  { "/proto/e0/reject/space-country", SETUP_SELECT,
    "05 e0 ff ff 5320 00000000 ffffffff 00000000", CLOSE },
  { "/proto/e0/reject/high-country", SETUP_SELECT,
    "05 e0 ff ff c3a9 00000000 ffffffff 00000000", CLOSE },
  { "/proto/e0/reject/bind", SETUP_SELECT, "05 02 00 01 7f000001 0050", V5_REPLY ("07") },
  { "/proto/e0/reject/unknown-atyp", SETUP_SELECT, "05 01 00 07", V5_REPLY ("08") },
};

static void
test_reject (gconstpointer user_data)
{
  const RejectVector *v = user_data;

  check_reject_hex (v->setup, v->hex, v->reply);
}

/* ---- field-by-field checks ---- */

static ExgSocksMsg *
parse_ok (Setup       setup,
          const char *msg_hex)
{
  g_autoptr(GByteArray) data = exg_test_hex (msg_hex);
  ExgSocksMsg *msg = g_new0 (ExgSocksMsg, 1);

  check_ok_everywhere (setup, data->data, data->len, msg);
  return msg;
}

static void
test_socks4_connect_fields (void)
{
  g_autofree ExgSocksMsg *msg = parse_ok (SETUP_START, "04 01 1f90 c0a80102 75736572 00");

  g_assert_cmpint (msg->kind, ==, EXG_SOCKS_MSG_REQUEST);
  g_assert_cmpint (msg->version, ==, 4);
  g_assert_cmpint (msg->command, ==, EXG_SOCKS_CMD_CONNECT);
  g_assert_cmpint (msg->target.type, ==, EXG_SOCKS_ATYP_IPV4);
  g_assert_cmpmem (msg->target.ip, 4, "\xc0\xa8\x01\x02", 4);
  g_assert_cmpuint (msg->target.port, ==, 8080);
  g_assert_cmpstr (msg->username, ==, "user");
}

static void
test_socks4_state (void)
{
  g_autoptr(GByteArray) data = exg_test_hex ("04 01 0050 7f000001 00 1122");
  ExgSocksParser parser;
  ExgSocksMsg msg;
  gsize consumed;

  exg_socks_parser_init (&parser);
  g_assert_cmpint (exg_socks_parser_feed (&parser, data->data, data->len, &consumed, &msg),
                   ==, EXG_PARSE_OK);
  g_assert_cmpuint (consumed, ==, 9);
  g_assert_cmpint (parser.version, ==, 4);
  g_assert_cmpint (parser.phase, ==, EXG_SOCKS_PHASE_DONE);

  /* nothing more is parsed after the request: the rest is data */
  g_assert_cmpint (exg_socks_parser_feed (&parser, data->data + 9, 2, &consumed, &msg),
                   ==, EXG_PARSE_REJECT);
  g_assert_cmpuint (msg.reply_len, ==, 0);
}

static void
test_socks4a_fields (void)
{
  g_autofree ExgSocksMsg *msg =
    parse_ok (SETUP_START, "04 01 01bb 00000007 6964 00 6578616d706c652e6f7267 00");

  g_assert_cmpint (msg->version, ==, 4);
  g_assert_cmpint (msg->command, ==, EXG_SOCKS_CMD_CONNECT);
  g_assert_cmpint (msg->target.type, ==, EXG_SOCKS_ATYP_DOMAIN);
  g_assert_cmpstr (msg->target.host, ==, "example.org");
  g_assert_cmpuint (msg->target.port, ==, 443);
  g_assert_cmpstr (msg->username, ==, "id");
}

static void
test_socks4_resolve_fields (void)
{
  g_autofree ExgSocksMsg *a = parse_ok (SETUP_START, "04 f0 0000 00000001 00 61 00");
  g_autofree ExgSocksMsg *b = parse_ok (SETUP_START, "04 f0 0000 0a000001 00");

  g_assert_cmpint (a->command, ==, EXG_SOCKS_CMD_RESOLVE);
  g_assert_cmpint (a->target.type, ==, EXG_SOCKS_ATYP_DOMAIN);
  g_assert_cmpstr (a->target.host, ==, "a");
  g_assert_cmpint (b->command, ==, EXG_SOCKS_CMD_RESOLVE);
  g_assert_cmpint (b->target.type, ==, EXG_SOCKS_ATYP_IPV4);
  g_assert_cmpmem (b->target.ip, 4, "\x0a\x00\x00\x01", 4);
}

static void
test_greeting_fields (void)
{
  g_autoptr(GByteArray) data = exg_test_hex ("05 03 00 02 e0");
  ExgSocksParser parser;
  ExgSocksMsg msg;
  gsize consumed;

  exg_socks_parser_init (&parser);
  g_assert_cmpint (exg_socks_parser_feed (&parser, data->data, data->len, &consumed, &msg),
                   ==, EXG_PARSE_OK);
  g_assert_cmpint (msg.kind, ==, EXG_SOCKS_MSG_GREETING);
  g_assert_cmpint (msg.version, ==, 5);
  g_assert_cmpuint (msg.n_methods, ==, 3);
  g_assert_cmpmem (msg.methods, 3, "\x00\x02\xe0", 3);
  g_assert_cmpint (parser.version, ==, 5);
  g_assert_cmpuint (parser.handshake_len, ==, 5);
  /* waits for the method choice */
  g_assert_cmpint (parser.phase, ==, EXG_SOCKS_PHASE_DONE);
}

static void
test_greeting_all_methods (void)
{
  g_autoptr(GByteArray) data = exg_test_hex ("05 ff");
  ExgSocksMsg msg;
  guint i;

  for (i = 0; i < 255; i++)
    {
      guint8 b = (guint8) i;
      g_byte_array_append (data, &b, 1);
    }
  check_ok_everywhere (SETUP_START, data->data, data->len, &msg);
  g_assert_cmpuint (msg.n_methods, ==, 255);
  g_assert_cmpmem (msg.methods, 255, data->data + 2, 255);
}

static void
test_auth_fields (void)
{
  g_autofree ExgSocksMsg *msg =
    parse_ok (SETUP_AUTH, "01 0a 636f756e7472793d7365 06 736563726574");
  g_autofree ExgSocksMsg *empty = parse_ok (SETUP_AUTH, "01 00 00");

  g_assert_cmpint (msg->kind, ==, EXG_SOCKS_MSG_AUTH);
  g_assert_cmpstr (msg->username, ==, "country=se");
  g_assert_cmpstr (msg->password, ==, "secret");
  g_assert_cmpstr (empty->username, ==, "");
  g_assert_cmpstr (empty->password, ==, "");
}

static void
test_auth_then_request (void)
{
  g_autoptr(GByteArray) data =
    exg_test_hex ("05 01 02  01 01 61 01 62  05 01 00 01 7f000001 0050  ab");
  ExgSocksParser parser;
  ExgSocksMsg msg;
  gsize consumed, off = 0;

  exg_socks_parser_init (&parser);
  g_assert_cmpint (exg_socks_parser_feed (&parser, data->data, data->len, &consumed, &msg),
                   ==, EXG_PARSE_OK);
  g_assert_cmpint (exg_socks5_choose_method (msg.methods, msg.n_methods, FALSE, TRUE), ==, 0x02);
  exg_socks_parser_set_method (&parser, 0x02);
  g_assert_cmpint (parser.phase, ==, EXG_SOCKS_PHASE_AUTH);
  off += consumed;

  g_assert_cmpint (exg_socks_parser_feed (&parser, data->data + off, data->len - off,
                                          &consumed, &msg), ==, EXG_PARSE_OK);
  g_assert_cmpint (msg.kind, ==, EXG_SOCKS_MSG_AUTH);
  g_assert_cmpstr (msg.username, ==, "a");
  g_assert_cmpint (parser.phase, ==, EXG_SOCKS_PHASE_REQUEST);
  off += consumed;

  g_assert_cmpint (exg_socks_parser_feed (&parser, data->data + off, data->len - off,
                                          &consumed, &msg), ==, EXG_PARSE_OK);
  g_assert_cmpint (msg.kind, ==, EXG_SOCKS_MSG_REQUEST);
  g_assert_cmpstr (msg.username, ==, "");
  off += consumed;
  g_assert_cmpuint (off, ==, data->len - 1);
  g_assert_cmpuint (parser.handshake_len, ==, data->len - 1);
  g_assert_cmpint (parser.phase, ==, EXG_SOCKS_PHASE_DONE);
}

static void
test_socks5_connect_fields (void)
{
  g_autofree ExgSocksMsg *v4 = parse_ok (SETUP_REQUEST, "05 01 00 01 c0000201 1f90");
  g_autofree ExgSocksMsg *v6 =
    parse_ok (SETUP_REQUEST, "05 01 00 04 20010db8000000000000000000000102 0102");
  g_autofree ExgSocksMsg *dn = parse_ok (SETUP_REQUEST, "05 01 00 03 03 613262 ffff");

  g_assert_cmpint (v4->kind, ==, EXG_SOCKS_MSG_REQUEST);
  g_assert_cmpint (v4->version, ==, 5);
  g_assert_cmpint (v4->command, ==, EXG_SOCKS_CMD_CONNECT);
  g_assert_cmpint (v4->target.type, ==, EXG_SOCKS_ATYP_IPV4);
  g_assert_cmpmem (v4->target.ip, 4, "\xc0\x00\x02\x01", 4);
  g_assert_cmpuint (v4->target.port, ==, 0x1f90);

  g_assert_cmpint (v6->target.type, ==, EXG_SOCKS_ATYP_IPV6);
  g_assert_cmpmem (v6->target.ip, 16,
                   "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x02", 16);
  g_assert_cmpuint (v6->target.port, ==, 0x0102);   /* network order */

  g_assert_cmpint (dn->target.type, ==, EXG_SOCKS_ATYP_DOMAIN);
  g_assert_cmpstr (dn->target.host, ==, "a2b");
  g_assert_cmpuint (dn->target.port, ==, 65535);
}

static void
test_socks5_hostname_255 (void)
{
  g_autoptr(GByteArray) data = exg_test_hex ("05 01 00 03 ff");
  ExgSocksMsg msg;

  append_fill (data, 'h', 255);
  append_hex (data, "0050");
  check_ok_everywhere (SETUP_REQUEST, data->data, data->len, &msg);
  g_assert_cmpuint (strlen (msg.target.host), ==, 255);
  g_assert_cmpint (msg.target.host[254], ==, 'h');
}

static void
test_socks5_resolve_fields (void)
{
  g_autofree ExgSocksMsg *f0 = parse_ok (SETUP_REQUEST, "05 f0 00 03 03 613262 0000");
  g_autofree ExgSocksMsg *f1 = parse_ok (SETUP_REQUEST, "05 f1 00 01 7f000001 0000");
  g_autofree ExgSocksMsg *f16 =
    parse_ok (SETUP_REQUEST, "05 f1 00 04 00000000000000000000000000000001 0000");

  g_assert_cmpint (f0->command, ==, EXG_SOCKS_CMD_RESOLVE);
  g_assert_cmpstr (f0->target.host, ==, "a2b");
  g_assert_cmpint (f1->command, ==, EXG_SOCKS_CMD_RESOLVE_PTR);
  g_assert_cmpint (f1->target.type, ==, EXG_SOCKS_ATYP_IPV4);
  g_assert_cmpint (f16->command, ==, EXG_SOCKS_CMD_RESOLVE_PTR);
  g_assert_cmpint (f16->target.type, ==, EXG_SOCKS_ATYP_IPV6);
  g_assert_cmpint (f16->target.ip[15], ==, 1);
}

/* A whole session in one buffer: greeting, request and data. */
static void
test_socks5_pipelined (void)
{
  g_autoptr(GByteArray) data =
    exg_test_hex ("05 01 00  05 01 00 03 01 61 0050  474554202f20485454502f312e300d0a");
  ExgSocksParser parser;
  ExgSocksMsg msg;
  gsize consumed;

  exg_socks_parser_init (&parser);
  g_assert_cmpint (exg_socks_parser_feed (&parser, data->data, data->len, &consumed, &msg),
                   ==, EXG_PARSE_OK);
  g_assert_cmpuint (consumed, ==, 3);
  exg_socks_parser_set_method (&parser, exg_socks5_choose_method (msg.methods, msg.n_methods,
                                                                   FALSE, TRUE));
  g_assert_cmpint (exg_socks_parser_feed (&parser, data->data + 3, data->len - 3,
                                          &consumed, &msg), ==, EXG_PARSE_OK);
  g_assert_cmpuint (consumed, ==, 8);
  g_assert_cmpstr (msg.target.host, ==, "a");
  /* 16 bytes of "GET / HTTP/1.0\r\n" remain for the core to forward */
  g_assert_cmpuint (data->len - 3 - 8, ==, 16);
}

static void
test_http (void)
{
  static const char *starts[] = { "GET / HTTP/1.1\r\n", "HEAD /", "POST /", "PUT /",
                                  "CONNECT example.org:443 HTTP/1.1\r\n", "G", "H", "P", "C" };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (starts); i++)
    {
      ExgSocksParser parser;
      ExgSocksMsg msg;
      gsize consumed = 77;

      exg_socks_parser_init (&parser);
      g_assert_cmpint (exg_socks_parser_feed (&parser, (const guint8 *) starts[i],
                                              strlen (starts[i]), &consumed, &msg),
                       ==, EXG_PARSE_HTTP);
      g_assert_cmpuint (consumed, ==, 0);
    }

  /* HTTP is only looked for in the first byte of the connection */
  check_reject_hex (SETUP_REQUEST, "47 45 54 20", CLOSE);
  check_reject_hex (SETUP_AUTH, "47 45 54 20", CLOSE);
  check_reject_hex (SETUP_SELECT, "47 45 54 20", CLOSE);
}

static void
test_empty_feed (void)
{
  static const Setup setups[] = { SETUP_START, SETUP_AUTH, SETUP_REQUEST, SETUP_SELECT };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (setups); i++)
    {
      ExgSocksMsg msg;
      gsize consumed = 5;

      g_assert_cmpint (feed_once (setups[i], NULL, 0, &consumed, &msg), ==,
                       EXG_PARSE_NEED_MORE);
      g_assert_cmpuint (consumed, ==, 0);
    }
}

/* ---- E0 ---- */

static void
test_e0_sequence (void)
{
  g_autoptr(GByteArray) data = exg_test_hex (
    "05 02 00 e0"
    "05 e0 ff ff 5345 c0000200 c00002ff 000f4240"      /* SE, 192.0.2.0/24, 1e6 */
    "05 e0 01 02 0000 00000000 ffffffff 00000000"      /* any */
    "05 e0 ff ff 6465 7f000001 7f0000ff fffffffe"      /* de */
    "05 f0 00 03 01 61 0000"                          /* RESOLVE a */
    "0102");
  ExgSocksParser parser;
  ExgSocksMsg msg;
  gsize consumed, off = 0;
  guint8 method;

  exg_socks_parser_init (&parser);
  g_assert_cmpint (exg_socks_parser_feed (&parser, data->data, data->len, &consumed, &msg),
                   ==, EXG_PARSE_OK);
  method = exg_socks5_choose_method (msg.methods, msg.n_methods, FALSE, TRUE);
  g_assert_cmpint (method, ==, EXG_SOCKS_METHOD_SELECT);
  exg_socks_parser_set_method (&parser, method);
  g_assert_cmpint (parser.phase, ==, EXG_SOCKS_PHASE_SELECT);
  off = consumed;

  g_assert_cmpint (exg_socks_parser_feed (&parser, data->data + off, data->len - off,
                                          &consumed, &msg), ==, EXG_PARSE_OK);
  g_assert_cmpuint (consumed, ==, 18);
  g_assert_cmpint (msg.kind, ==, EXG_SOCKS_MSG_SELECT);
  g_assert_cmpuint (msg.scope_id, ==, 0xff);
  g_assert_cmpuint (msg.circuit_pos, ==, 0xff);
  g_assert_cmpstr (msg.country, ==, "SE");
  g_assert_cmphex (msg.range_start, ==, 0xc0000200);
  g_assert_cmphex (msg.range_end, ==, 0xc00002ff);
  g_assert_cmpuint (msg.min_bw, ==, 1000000);
  off += consumed;

  g_assert_cmpint (exg_socks_parser_feed (&parser, data->data + off, data->len - off,
                                          &consumed, &msg), ==, EXG_PARSE_OK);
  g_assert_cmpint (msg.kind, ==, EXG_SOCKS_MSG_SELECT);
  g_assert_cmpuint (msg.scope_id, ==, 1);
  g_assert_cmpuint (msg.circuit_pos, ==, 2);
  g_assert_cmpstr (msg.country, ==, "");     /* 0x0000: any country */
  g_assert_cmphex (msg.range_start, ==, 0);
  g_assert_cmphex (msg.range_end, ==, 0xffffffff);
  g_assert_cmpuint (msg.min_bw, ==, 0);
  off += consumed;

  g_assert_cmpint (exg_socks_parser_feed (&parser, data->data + off, data->len - off,
                                          &consumed, &msg), ==, EXG_PARSE_OK);
  g_assert_cmpstr (msg.country, ==, "de");   /* as sent: case is the core's business */
  g_assert_cmphex (msg.range_start, ==, 0x7f000001);
  g_assert_cmphex (msg.range_end, ==, 0x7f0000ff);
  g_assert_cmphex (msg.min_bw, ==, 0xfffffffe);
  g_assert_cmpint (parser.phase, ==, EXG_SOCKS_PHASE_SELECT);
  off += consumed;

  g_assert_cmpint (exg_socks_parser_feed (&parser, data->data + off, data->len - off,
                                          &consumed, &msg), ==, EXG_PARSE_OK);
  g_assert_cmpint (msg.kind, ==, EXG_SOCKS_MSG_REQUEST);
  g_assert_cmpint (msg.command, ==, EXG_SOCKS_CMD_RESOLVE);
  g_assert_cmpstr (msg.target.host, ==, "a");
  g_assert_cmpint (parser.phase, ==, EXG_SOCKS_PHASE_DONE);
  off += consumed;
  g_assert_cmpuint (data->len - off, ==, 2);   /* the data stays */
}

/* Each field lands where the spec puts it, in network order. */
static void
test_e0_byte_order (void)
{
  g_autofree ExgSocksMsg *msg =
    parse_ok (SETUP_SELECT, "05 e0 12 34 4142 01020304 05060708 090a0b0c");

  g_assert_cmphex (msg->scope_id, ==, 0x12);
  g_assert_cmphex (msg->circuit_pos, ==, 0x34);
  g_assert_cmpstr (msg->country, ==, "AB");
  g_assert_cmphex (msg->range_start, ==, 0x01020304);
  g_assert_cmphex (msg->range_end, ==, 0x05060708);
  g_assert_cmphex (msg->min_bw, ==, 0x090a0b0c);
}

/* Selections are answered one by one and do not count against the
 * handshake limit: a client may send any number of them. */
static void
test_e0_many (void)
{
  g_autoptr(GByteArray) sel =
    exg_test_hex ("05 e0 ff ff 5345 00000000 ffffffff 00000000");
  ExgSocksParser parser;
  ExgSocksMsg msg;
  gsize consumed;
  guint i;

  parser_setup (&parser, SETUP_SELECT);
  for (i = 0; i < 1000; i++)
    {
      g_assert_cmpint (exg_socks_parser_feed (&parser, sel->data, sel->len, &consumed, &msg),
                       ==, EXG_PARSE_OK);
      g_assert_cmpuint (consumed, ==, 18);
    }
  g_assert_cmpuint (parser.handshake_len, ==, 3);
}

static void
test_e0_only_with_choice (void)
{
  /* without E0 chosen, 05 E0 … is a request with an unknown command */
  check_reject_hex (SETUP_REQUEST, "05 e0 ff ff 5345 01020304 0a0b0c0d 00112233",
                    V5_REPLY ("08"));
  check_reject_hex (SETUP_REQUEST, "05 e0 ff 01 53454142 0a0b", V5_REPLY ("07"));
}

/* ---- the 512-byte limit ---- */

static void
test_limit_socks4 (void)
{
  g_autoptr(GByteArray) exact = exg_test_hex ("04 01 0050 00000001");
  g_autoptr(GByteArray) over = NULL;
  g_autoptr(GByteArray) endless = exg_test_hex ("04 01 0050 00000001");
  g_autoptr(GByteArray) long_userid = exg_test_hex ("04 01 0050 7f000001");
  g_autoptr(GByteArray) endless_userid = exg_test_hex ("04 01 0050 7f000001");
  ExgSocksMsg msg;
  gsize consumed;

  /* 8 + 255 + 1 + 247 + 1 = 512: accepted */
  append_fill (exact, 'u', 255);
  append_fill (exact, 0, 1);
  append_fill (exact, 'h', 247);
  append_fill (exact, 0, 1);
  g_assert_cmpuint (exact->len, ==, EXG_SOCKS_MAX_HANDSHAKE);
  check_ok_everywhere (SETUP_START, exact->data, exact->len, &msg);
  g_assert_cmpuint (strlen (msg.username), ==, 255);
  g_assert_cmpuint (strlen (msg.target.host), ==, 247);

  /* one more byte of hostname: 513 */
  over = exg_test_hex ("04 01 0050 00000001");
  append_fill (over, 'u', 255);
  append_fill (over, 0, 1);
  append_fill (over, 'h', 248);
  append_fill (over, 0, 1);
  check_reject (SETUP_START, over, V4_REJECT);

  /* a hostname that never ends: rejected at the limit, not before */
  append_fill (endless, 'u', 255);
  append_fill (endless, 0, 1);
  append_fill (endless, 'h', 2000);
  g_assert_cmpint (feed_once (SETUP_START, endless->data, 511, &consumed, &msg), ==,
                   EXG_PARSE_NEED_MORE);
  check_reject (SETUP_START, endless, V4_REJECT);

  /* a userid is read and ignored: 300 bytes are fine (309 in all), and
   * only its first 255 bytes are kept */
  append_fill (long_userid, 'u', 300);
  append_fill (long_userid, 0, 1);
  check_ok_everywhere (SETUP_START, long_userid->data, long_userid->len, &msg);
  g_assert_cmpuint (strlen (msg.username), ==, 255);
  g_assert_cmpuint (msg.target.port, ==, 80);

  /* a userid that never ends is rejected at the handshake limit */
  append_fill (endless_userid, 'u', 1000);
  check_reject (SETUP_START, endless_userid, V4_REJECT);

  /* and so has a 4a hostname */
  {
    g_autoptr(GByteArray) long_host = exg_test_hex ("04 01 0050 00000001 00");

    append_fill (long_host, 'h', 256);
    append_fill (long_host, 0, 1);
    check_reject (SETUP_START, long_host, V4_REJECT);
  }
}

/* Builds 05 03 00 01 02, auth with ulen/plen, and a request to a 255-byte
 * hostname: 5 + 3 + ulen + plen + 262 bytes. */
static GByteArray *
v5_handshake (gsize ulen,
              gsize plen)
{
  GByteArray *data = exg_test_hex ("05 03 00 01 02  01");
  guint8 b;

  b = (guint8) ulen;
  g_byte_array_append (data, &b, 1);
  append_fill (data, 'u', ulen);
  b = (guint8) plen;
  g_byte_array_append (data, &b, 1);
  append_fill (data, 'p', plen);
  append_hex (data, "05 01 00 03 ff");
  append_fill (data, 'h', 255);
  append_hex (data, "0050");
  return data;
}

/* Runs a whole v5 handshake; returns the result of the request. */
static ExgParseResult
run_v5_handshake (GByteArray  *data,
                  ExgSocksMsg *msg)
{
  ExgSocksParser parser;
  gsize consumed, off = 0;
  ExgParseResult r;

  exg_socks_parser_init (&parser);
  g_assert_cmpint (exg_socks_parser_feed (&parser, data->data, data->len, &consumed, msg),
                   ==, EXG_PARSE_OK);
  exg_socks_parser_set_method (&parser, 0x02);
  off += consumed;
  r = exg_socks_parser_feed (&parser, data->data + off, data->len - off, &consumed, msg);
  if (r != EXG_PARSE_OK)
    return r;
  off += consumed;
  r = exg_socks_parser_feed (&parser, data->data + off, data->len - off, &consumed, msg);
  if (r == EXG_PARSE_OK)
    g_assert_cmpuint (parser.handshake_len, ==, data->len);
  return r;
}

static void
test_limit_socks5 (void)
{
  g_autoptr(GByteArray) exact = v5_handshake (121, 121);
  g_autoptr(GByteArray) over = v5_handshake (121, 122);
  g_autoptr(GByteArray) big_auth = v5_handshake (255, 255);
  g_autoptr(GByteArray) auth_ok = v5_handshake (255, 249);
  g_autoptr(GByteArray) auth_over = v5_handshake (255, 250);
  ExgSocksMsg msg;

  g_assert_cmpuint (exact->len, ==, EXG_SOCKS_MAX_HANDSHAKE);
  g_assert_cmpint (run_v5_handshake (exact, &msg), ==, EXG_PARSE_OK);
  g_assert_cmpuint (strlen (msg.target.host), ==, 255);

  g_assert_cmpuint (over->len, ==, EXG_SOCKS_MAX_HANDSHAKE + 1);
  g_assert_cmpint (run_v5_handshake (over, &msg), ==, EXG_PARSE_REJECT);
  g_assert_cmpmem (msg.reply, msg.reply_len, "\x05\x01\x00\x01\0\0\0\0\0\0", 10);

  /* 5 + 3 + 255 + 249 = 512: the auth fits, the request does not */
  g_assert_cmpint (run_v5_handshake (auth_ok, &msg), ==, EXG_PARSE_REJECT);
  g_assert_cmpuint (msg.reply_len, ==, 10);
  g_assert_cmpint (msg.reply[1], ==, 0x01);

  /* the auth alone goes over: RFC 1929 failure */
  g_assert_cmpint (run_v5_handshake (auth_over, &msg), ==, EXG_PARSE_REJECT);
  g_assert_cmpmem (msg.reply, msg.reply_len, "\x01\x01", 2);
  g_assert_cmpint (run_v5_handshake (big_auth, &msg), ==, EXG_PARSE_REJECT);
  g_assert_cmpmem (msg.reply, msg.reply_len, "\x01\x01", 2);
}

/* ---- method choice and phases ---- */

static void
test_choose_method (void)
{
  static const struct {
    const char *methods;
    gboolean    password_required;
    gboolean    allow_select;
    guint8      expected;
  } cases[] = {
    { "00", FALSE, TRUE, 0x00 },
    { "00", TRUE, TRUE, 0xff },
    { "02", FALSE, TRUE, 0x02 },
    { "02", TRUE, TRUE, 0x02 },
    { "00 02", FALSE, TRUE, 0x02 },
    { "02 00", FALSE, FALSE, 0x02 },
    { "00 02 e0", FALSE, TRUE, 0xe0 },
    { "e0 00", FALSE, TRUE, 0xe0 },
    { "e0", FALSE, TRUE, 0xe0 },
    { "00 e0", FALSE, FALSE, 0x00 },
    { "e0", FALSE, FALSE, 0xff },
    { "e0 02", TRUE, TRUE, 0x02 },     /* E0 never bypasses a password */
    { "e0 00", TRUE, TRUE, 0xff },
    { "01", FALSE, TRUE, 0xff },      /* GSSAPI */
    { "01 03 80 fe", FALSE, TRUE, 0xff },
    { "", FALSE, TRUE, 0xff },
    { "ff", FALSE, TRUE, 0xff },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GByteArray) m = exg_test_hex (cases[i].methods);

      g_assert_cmphex (exg_socks5_choose_method (m->data, m->len,
                                                 cases[i].password_required,
                                                 cases[i].allow_select),
                       ==, cases[i].expected);
    }
}

static void
test_set_method (void)
{
  static const struct {
    guint8        method;
    ExgSocksPhase phase;
  } cases[] = {
    { 0x00, EXG_SOCKS_PHASE_REQUEST },
    { 0x02, EXG_SOCKS_PHASE_AUTH },
    { 0xe0, EXG_SOCKS_PHASE_SELECT },
    { 0xff, EXG_SOCKS_PHASE_DONE },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      ExgSocksParser parser;
      ExgSocksMsg msg;
      gsize consumed;

      exg_socks_parser_init (&parser);
      exg_socks_parser_set_method (&parser, cases[i].method);
      g_assert_cmpint (parser.phase, ==, cases[i].phase);
      if (cases[i].phase == EXG_SOCKS_PHASE_DONE)
        {
          g_assert_cmpint (exg_socks_parser_feed (&parser, (const guint8 *) "\x05", 1,
                                                  &consumed, &msg), ==, EXG_PARSE_REJECT);
          g_assert_cmpuint (msg.reply_len, ==, 0);
        }
    }
}

int
main (int    argc,
      char **argv)
{
  guint i;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  for (i = 0; i < G_N_ELEMENTS (ok_vectors); i++)
    {
      g_autofree char *path = g_strconcat (ok_vectors[i].path, "/split-anywhere", NULL);

      g_test_add_data_func (path, &ok_vectors[i], test_ok_split_anywhere);
    }
  for (i = 0; i < G_N_ELEMENTS (reject_vectors); i++)
    g_test_add_data_func (reject_vectors[i].path, &reject_vectors[i], test_reject);

  g_test_add_func ("/proto/socks4/connect/fields", test_socks4_connect_fields);
  g_test_add_func ("/proto/socks4/connect/state", test_socks4_state);
  g_test_add_func ("/proto/socks4a/connect/fields", test_socks4a_fields);
  g_test_add_func ("/proto/socks4/resolve/fields", test_socks4_resolve_fields);
  g_test_add_func ("/proto/socks5/greeting/fields", test_greeting_fields);
  g_test_add_func ("/proto/socks5/greeting/all-methods", test_greeting_all_methods);
  g_test_add_func ("/proto/socks5/auth/fields", test_auth_fields);
  g_test_add_func ("/proto/socks5/auth/then-request", test_auth_then_request);
  g_test_add_func ("/proto/socks5/connect/fields", test_socks5_connect_fields);
  g_test_add_func ("/proto/socks5/connect/hostname-255", test_socks5_hostname_255);
  g_test_add_func ("/proto/socks5/resolve/fields", test_socks5_resolve_fields);
  g_test_add_func ("/proto/socks5/pipelined", test_socks5_pipelined);
  g_test_add_func ("/proto/http", test_http);
  g_test_add_func ("/proto/empty-feed", test_empty_feed);
  g_test_add_func ("/proto/e0/sequence", test_e0_sequence);
  g_test_add_func ("/proto/e0/byte-order", test_e0_byte_order);
  g_test_add_func ("/proto/e0/many-selections", test_e0_many);
  g_test_add_func ("/proto/e0/only-when-chosen", test_e0_only_with_choice);
  g_test_add_func ("/proto/limit/socks4", test_limit_socks4);
  g_test_add_func ("/proto/limit/socks5", test_limit_socks5);
  g_test_add_func ("/proto/choose-method", test_choose_method);
  g_test_add_func ("/proto/set-method", test_set_method);

  return g_test_run ();
}
