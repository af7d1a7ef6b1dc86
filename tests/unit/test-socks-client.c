/* test-socks-client.c: the client-side SOCKS5 / SOCKS4a state machine,
 * byte by byte.
 *
 * Each case is a script: the request the machine is set up for, and the
 * exchange as it must go (what the machine sends, what the proxy answers).
 * Every script is played with every answer split at every byte and byte
 * by byte, with tunnel bytes after the last answer, and must end the same
 * way each time.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-socks-client.h"
#include "exg-test-util.h"

#include <string.h>

#define MAX_STEPS 3

typedef struct {
  const char *send;      /* hex: what the machine must send */
  const char *answer;    /* hex: what the proxy answers */
} Step;

typedef struct {
  const char           *path;
  guint8                version;
  guint8                command;
  ExgSocksAtyp          atyp;
  const char           *target;     /* a name, or 4 / 16 raw bytes */
  guint16               port;
  const char           *username;
  const char           *password;
  Step                  steps[MAX_STEPS];
  ExgSocksClientStatus  end;
  ExgSocksClientFailure failure;
  guint8                reply_code;
  ExgSocksAtyp          bound_type;
  const char           *bound;      /* a name, or 4 / 16 raw bytes */
  guint16               bound_port;
  gsize                 last_used;  /* bytes of the last answer up to the
                                     * one that decides */
} Script;

#define V6_DOC "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
#define REQ_V4_CONNECT "05 01 00 01 7f000001 0050"
#define REPLY_V4_OK "05 00 00 01 0a000001 1f90"

static const Script scripts[] = {
  /* ---- SOCKS5 CONNECT ---- */
  { "/proto/socks-client/socks5/connect/ipv4", 5, EXG_SOCKS_CMD_CONNECT,
    EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, NULL, NULL,
    { { "05 01 00", "05 00" }, { REQ_V4_CONNECT, REPLY_V4_OK } },
    EXG_SOCKS_CLIENT_DONE, EXG_SOCKS_CLIENT_FAILURE_NONE, 0x00,
    EXG_SOCKS_ATYP_IPV4, "\x0a\0\0\x01", 8080, 10 },
  { "/proto/socks-client/socks5/connect/ipv6", 5, EXG_SOCKS_CMD_CONNECT,
    EXG_SOCKS_ATYP_IPV6, V6_DOC, 443, NULL, NULL,
    { { "05 01 00", "05 00" },
      { "05 01 00 04 20010db8000000000000000000000001 01bb",
        "05 00 00 04 20010db8000000000000000000000001 c000" } },
    EXG_SOCKS_CLIENT_DONE, EXG_SOCKS_CLIENT_FAILURE_NONE, 0x00,
    EXG_SOCKS_ATYP_IPV6, V6_DOC, 0xc000, 22 },
  { "/proto/socks-client/socks5/connect/hostname", 5, EXG_SOCKS_CMD_CONNECT,
    EXG_SOCKS_ATYP_DOMAIN, "example.org", 443, NULL, NULL,
    { { "05 01 00", "05 00" },
      { "05 01 00 03 0b 6578616d706c652e6f7267 01bb",
        "05 00 00 03 03 616263 0016" } },
    EXG_SOCKS_CLIENT_DONE, EXG_SOCKS_CLIENT_FAILURE_NONE, 0x00,
    EXG_SOCKS_ATYP_DOMAIN, "abc", 22, 10 },
  { "/proto/socks-client/socks5/connect/bound-empty-name", 5,
    EXG_SOCKS_CMD_CONNECT, EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, NULL, NULL,
    { { "05 01 00", "05 00" }, { REQ_V4_CONNECT, "05 00 00 03 00 0000" } },
    EXG_SOCKS_CLIENT_DONE, EXG_SOCKS_CLIENT_FAILURE_NONE, 0x00,
    EXG_SOCKS_ATYP_DOMAIN, "", 0, 7 },
  { "/proto/socks-client/socks5/connect/userpass", 5, EXG_SOCKS_CMD_CONNECT,
    EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, "user", "pass",
    { { "05 02 00 02", "05 02" },
      { "01 04 75736572 04 70617373", "01 00" },
      { REQ_V4_CONNECT, REPLY_V4_OK } },
    EXG_SOCKS_CLIENT_DONE, EXG_SOCKS_CLIENT_FAILURE_NONE, 0x00,
    EXG_SOCKS_ATYP_IPV4, "\x0a\0\0\x01", 8080, 10 },
  { "/proto/socks-client/socks5/connect/userpass-empty-password", 5,
    EXG_SOCKS_CMD_CONNECT, EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, "u", NULL,
    { { "05 02 00 02", "05 02" },
      { "01 01 75 00", "05 00" },        /* a status with VER 05 is taken */
      { REQ_V4_CONNECT, REPLY_V4_OK } },
    EXG_SOCKS_CLIENT_DONE, EXG_SOCKS_CLIENT_FAILURE_NONE, 0x00,
    EXG_SOCKS_ATYP_IPV4, "\x0a\0\0\x01", 8080, 10 },
  { "/proto/socks-client/socks5/connect/userpass-not-asked", 5,
    EXG_SOCKS_CMD_CONNECT, EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, "user", "pass",
    { { "05 02 00 02", "05 00" }, { REQ_V4_CONNECT, REPLY_V4_OK } },
    EXG_SOCKS_CLIENT_DONE, EXG_SOCKS_CLIENT_FAILURE_NONE, 0x00,
    EXG_SOCKS_ATYP_IPV4, "\x0a\0\0\x01", 8080, 10 },

  /* ---- SOCKS5 failures ---- */
  { "/proto/socks-client/socks5/method/none-acceptable", 5,
    EXG_SOCKS_CMD_CONNECT, EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, NULL, NULL,
    { { "05 01 00", "05 ff" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_NO_METHOD, 0, 0, NULL, 0, 2 },
  { "/proto/socks-client/socks5/method/password-not-offered", 5,
    EXG_SOCKS_CMD_CONNECT, EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, NULL, NULL,
    { { "05 01 00", "05 02" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_NO_METHOD, 0, 0, NULL, 0, 2 },
  { "/proto/socks-client/socks5/method/e0-not-offered", 5,
    EXG_SOCKS_CMD_CONNECT, EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, "u", "p",
    { { "05 02 00 02", "05 e0" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_NO_METHOD, 0, 0, NULL, 0, 2 },
  { "/proto/socks-client/socks5/method/bad-version", 5,
    EXG_SOCKS_CMD_CONNECT, EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, NULL, NULL,
    { { "05 01 00", "04 00" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_MALFORMED, 0, 0, NULL, 0, 2 },
  { "/proto/socks-client/socks5/auth/rejected", 5, EXG_SOCKS_CMD_CONNECT,
    EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, "user", "pass",
    { { "05 02 00 02", "05 02" }, { "01 04 75736572 04 70617373", "01 01" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_AUTH_REJECTED, 0x01,
    0, NULL, 0, 2 },
  { "/proto/socks-client/socks5/reply/refused", 5, EXG_SOCKS_CMD_CONNECT,
    EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, NULL, NULL,
    { { "05 01 00", "05 00" }, { REQ_V4_CONNECT, "05 05 00 01 00000000 0000" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_REFUSED, 0x05,
    EXG_SOCKS_ATYP_IPV4, "\0\0\0\0", 0, 10 },
  { "/proto/socks-client/socks5/reply/tor-atyp0", 5, EXG_SOCKS_CMD_CONNECT,
    EXG_SOCKS_ATYP_DOMAIN, "nowhere.invalid", 80, NULL, NULL,
    { { "05 01 00", "05 00" },
      { "05 01 00 03 0f 6e6f77686572652e696e76616c6964 0050",
        "05 04 00 00 00000000 0000" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_REFUSED, 0x04,
    EXG_SOCKS_ATYP_NONE, "\0\0\0\0", 0, 10 },
  { "/proto/socks-client/socks5/reply/bad-version", 5, EXG_SOCKS_CMD_CONNECT,
    EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, NULL, NULL,
    { { "05 01 00", "05 00" }, { REQ_V4_CONNECT, "04 00 00 01 00000000 0000" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_MALFORMED, 0, 0, NULL, 0, 1 },
  { "/proto/socks-client/socks5/reply/unknown-atyp", 5, EXG_SOCKS_CMD_CONNECT,
    EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, NULL, NULL,
    { { "05 01 00", "05 00" }, { REQ_V4_CONNECT, "05 00 00 02 00000000 0000" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_MALFORMED, 0, 0, NULL, 0, 4 },
  { "/proto/socks-client/socks5/reply/nul-in-name", 5, EXG_SOCKS_CMD_CONNECT,
    EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, NULL, NULL,
    { { "05 01 00", "05 00" }, { REQ_V4_CONNECT, "05 00 00 03 03 610062 0000" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_MALFORMED, 0, 0, NULL, 0, 10 },

  /* ---- tor's RESOLVE (F0) and RESOLVE_PTR (F1) over SOCKS5 ---- */
  { "/proto/socks-client/socks5/resolve/ipv4", 5, EXG_SOCKS_CMD_RESOLVE,
    EXG_SOCKS_ATYP_DOMAIN, "example.org", 0, NULL, NULL,
    { { "05 01 00", "05 00" },
      { "05 f0 00 03 0b 6578616d706c652e6f7267 0000",
        "05 00 00 01 5db8d822 0000" } },
    EXG_SOCKS_CLIENT_DONE, EXG_SOCKS_CLIENT_FAILURE_NONE, 0x00,
    EXG_SOCKS_ATYP_IPV4, "\x5d\xb8\xd8\x22", 0, 10 },
  { "/proto/socks-client/socks5/resolve/ipv6", 5, EXG_SOCKS_CMD_RESOLVE,
    EXG_SOCKS_ATYP_DOMAIN, "v6.example", 0, NULL, NULL,
    { { "05 01 00", "05 00" },
      { "05 f0 00 03 0a 76362e6578616d706c65 0000",
        "05 00 00 04 20010db8000000000000000000000001 0000" } },
    EXG_SOCKS_CLIENT_DONE, EXG_SOCKS_CLIENT_FAILURE_NONE, 0x00,
    EXG_SOCKS_ATYP_IPV6, V6_DOC, 0, 22 },
  { "/proto/socks-client/socks5/resolve/tor-not-found", 5, EXG_SOCKS_CMD_RESOLVE,
    EXG_SOCKS_ATYP_DOMAIN, "example.org", 0, NULL, NULL,
    { { "05 01 00", "05 00" },
      { "05 f0 00 03 0b 6578616d706c652e6f7267 0000",
        "05 04 00 00 00000000 0000" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_REFUSED, 0x04,
    EXG_SOCKS_ATYP_NONE, "\0\0\0\0", 0, 10 },
  { "/proto/socks-client/socks5/resolve/name-instead", 5, EXG_SOCKS_CMD_RESOLVE,
    EXG_SOCKS_ATYP_DOMAIN, "example.org", 0, NULL, NULL,
    { { "05 01 00", "05 00" },
      { "05 f0 00 03 0b 6578616d706c652e6f7267 0000",
        "05 00 00 03 01 61 0000" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_NO_ANSWER, 0x00,
    EXG_SOCKS_ATYP_DOMAIN, "a", 0, 8 },
  { "/proto/socks-client/socks5/resolve-ptr/ipv4", 5, EXG_SOCKS_CMD_RESOLVE_PTR,
    EXG_SOCKS_ATYP_IPV4, "\x5d\xb8\xd8\x22", 0, NULL, NULL,
    { { "05 01 00", "05 00" },
      { "05 f1 00 01 5db8d822 0000",
        "05 00 00 03 0b 6578616d706c652e6f7267 0000" } },
    EXG_SOCKS_CLIENT_DONE, EXG_SOCKS_CLIENT_FAILURE_NONE, 0x00,
    EXG_SOCKS_ATYP_DOMAIN, "example.org", 0, 18 },
  { "/proto/socks-client/socks5/resolve-ptr/ipv6", 5, EXG_SOCKS_CMD_RESOLVE_PTR,
    EXG_SOCKS_ATYP_IPV6, V6_DOC, 0, "u", "p",
    { { "05 02 00 02", "05 00" },
      { "05 f1 00 04 20010db8000000000000000000000001 0000",
        "05 00 00 03 02 6836 0000" } },
    EXG_SOCKS_CLIENT_DONE, EXG_SOCKS_CLIENT_FAILURE_NONE, 0x00,
    EXG_SOCKS_ATYP_DOMAIN, "h6", 0, 9 },
  { "/proto/socks-client/socks5/resolve-ptr/address-instead", 5,
    EXG_SOCKS_CMD_RESOLVE_PTR, EXG_SOCKS_ATYP_IPV4, "\x5d\xb8\xd8\x22", 0,
    NULL, NULL,
    { { "05 01 00", "05 00" },
      { "05 f1 00 01 5db8d822 0000", "05 00 00 01 5db8d822 0000" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_NO_ANSWER, 0x00,
    EXG_SOCKS_ATYP_IPV4, "\x5d\xb8\xd8\x22", 0, 10 },
  { "/proto/socks-client/socks5/resolve-ptr/empty-name", 5,
    EXG_SOCKS_CMD_RESOLVE_PTR, EXG_SOCKS_ATYP_IPV4, "\x5d\xb8\xd8\x22", 0,
    NULL, NULL,
    { { "05 01 00", "05 00" },
      { "05 f1 00 01 5db8d822 0000", "05 00 00 03 00 0000" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_NO_ANSWER, 0x00,
    EXG_SOCKS_ATYP_DOMAIN, "", 0, 7 },

  /* ---- SOCKS4a and SOCKS4 ---- */
  { "/proto/socks-client/socks4a/connect/hostname", 4, EXG_SOCKS_CMD_CONNECT,
    EXG_SOCKS_ATYP_DOMAIN, "example.org", 443, "id", "ignored",
    { { "04 01 01bb 00000001 6964 00 6578616d706c652e6f7267 00",
        "00 5a 0000 00000000" } },
    EXG_SOCKS_CLIENT_DONE, EXG_SOCKS_CLIENT_FAILURE_NONE, 0x5a,
    EXG_SOCKS_ATYP_IPV4, "\0\0\0\0", 0, 8 },
  { "/proto/socks-client/socks4a/connect/ipv4", 4, EXG_SOCKS_CMD_CONNECT,
    EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, NULL, NULL,
    { { "04 01 0050 7f000001 00", "00 5a 1f90 0a000001" } },
    EXG_SOCKS_CLIENT_DONE, EXG_SOCKS_CLIENT_FAILURE_NONE, 0x5a,
    EXG_SOCKS_ATYP_IPV4, "\x0a\0\0\x01", 8080, 8 },
  { "/proto/socks-client/socks4a/resolve", 4, EXG_SOCKS_CMD_RESOLVE,
    EXG_SOCKS_ATYP_DOMAIN, "example.org", 0, NULL, NULL,
    { { "04 f0 0000 00000001 00 6578616d706c652e6f7267 00",
        "00 5a 0000 5db8d822" } },
    EXG_SOCKS_CLIENT_DONE, EXG_SOCKS_CLIENT_FAILURE_NONE, 0x5a,
    EXG_SOCKS_ATYP_IPV4, "\x5d\xb8\xd8\x22", 0, 8 },
  { "/proto/socks-client/socks4a/rejected", 4, EXG_SOCKS_CMD_CONNECT,
    EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, NULL, NULL,
    { { "04 01 0050 7f000001 00", "00 5b 0000 00000000" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_REFUSED, 0x5b,
    EXG_SOCKS_ATYP_IPV4, "\0\0\0\0", 0, 8 },
  { "/proto/socks-client/socks4a/bad-version", 4, EXG_SOCKS_CMD_CONNECT,
    EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, NULL, NULL,
    { { "04 01 0050 7f000001 00", "04 5a 0000 00000000" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_MALFORMED, 0, 0, NULL, 0, 8 },
  { "/proto/socks-client/socks4a/unknown-code", 4, EXG_SOCKS_CMD_CONNECT,
    EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80, NULL, NULL,
    { { "04 01 0050 7f000001 00", "00 00 0000 00000000" } },
    EXG_SOCKS_CLIENT_FAILED, EXG_SOCKS_CLIENT_FAILURE_MALFORMED, 0, 0, NULL, 0, 8 },
};

static void
fill_addr (ExgSocksAddr *addr,
           ExgSocksAtyp  type,
           const char   *value,
           guint16       port)
{
  memset (addr, 0, sizeof *addr);
  addr->type = type;
  addr->port = port;
  if (type == EXG_SOCKS_ATYP_DOMAIN)
    g_strlcpy (addr->host, value, sizeof addr->host);
  else if (type == EXG_SOCKS_ATYP_IPV6)
    memcpy (addr->ip, value, 16);
  else if (value != NULL)
    memcpy (addr->ip, value, 4);
}

static guint
n_steps (const Script *s)
{
  guint n = 0;

  while (n < MAX_STEPS && s->steps[n].send != NULL)
    n++;
  return n;
}

/* Feeds @answer to @client in pieces ending at @cuts (ascending, the last
 * one the answer's length), checking each piece is taken whole until the
 * machine decides.  Returns the status after the last piece. */
static ExgSocksClientStatus
feed_pieces (ExgSocksClient *client,
             const guint8   *answer,
             gsize           answer_len,
             const gsize    *cuts,
             guint           n_cuts,
             gsize          *used)
{
  ExgSocksClientStatus st = EXG_SOCKS_CLIENT_READ;
  gsize start = 0;
  guint i;

  *used = 0;
  for (i = 0; i < n_cuts && st == EXG_SOCKS_CLIENT_READ; i++)
    {
      gsize wanted = exg_socks_client_get_wanted (client);
      gsize consumed = G_MAXSIZE;

      g_assert_cmpuint (wanted, >, 0);
      st = exg_socks_client_feed (client, answer + start, cuts[i] - start,
                                  &consumed);
      g_assert_cmpuint (consumed, <=, cuts[i] - start);
      if (st == EXG_SOCKS_CLIENT_READ)
        {
          /* short: all taken, and the machine asks for the rest (a v5
           * reply knows how long it is once it has five bytes) */
          g_assert_cmpuint (consumed, ==, cuts[i] - start);
          g_assert_cmpuint (exg_socks_client_get_wanted (client), >, 0);
          if (consumed < wanted)
            g_assert_cmpuint (exg_socks_client_get_wanted (client), ==,
                              wanted - consumed);
        }
      else
        {
          g_assert_cmpuint (exg_socks_client_get_wanted (client), ==, 0);
        }
      *used += consumed;
      start = cuts[i];
    }
  g_assert_cmpint (st, ==, exg_socks_client_get_status (client));
  return st;
}

/* Plays @s; @cut_step's answer arrives in two pieces split at @cut, or one
 * byte at a time when @cut is G_MAXSIZE.  The last answer is followed by
 * tunnel bytes, which must stay unconsumed. */
static void
play (const Script *s,
      guint         cut_step,
      gsize         cut)
{
  ExgSocksClient client;
  ExgSocksAddr target;
  guint steps = n_steps (s), i;

  fill_addr (&target, s->atyp, s->target, s->port);
  exg_socks_client_init (&client, s->version, s->command, &target,
                         s->username, s->password);

  for (i = 0; i < steps; i++)
    {
      g_autoptr(GByteArray) expected = exg_test_hex (s->steps[i].send);
      g_autoptr(GByteArray) answer = exg_test_hex (s->steps[i].answer);
      gboolean last = i + 1 == steps;
      gsize cuts[300];
      guint n_cuts = 0;
      const guint8 *out;
      gsize out_len = 0, used, take;
      ExgSocksClientStatus st;

      g_assert_cmpint (exg_socks_client_get_status (&client), ==,
                       EXG_SOCKS_CLIENT_SEND);
      g_assert_cmpuint (exg_socks_client_get_wanted (&client), ==, 0);
      out = exg_socks_client_take_output (&client, &out_len);
      g_assert_cmpmem (out, out_len, expected->data, expected->len);
      g_assert_cmpint (exg_socks_client_get_status (&client), ==,
                       EXG_SOCKS_CLIENT_READ);

      if (last)
        g_byte_array_append (answer, (const guint8 *) "tunnel", 6);
      take = last ? answer->len - 6 : answer->len;
      if (i == cut_step && cut == G_MAXSIZE)
        for (gsize k = 1; k <= answer->len; k++)
          cuts[n_cuts++] = k;
      else if (i == cut_step && cut > 0 && cut < take)
        {
          cuts[n_cuts++] = cut;
          cuts[n_cuts++] = answer->len;
        }
      else
        cuts[n_cuts++] = answer->len;

      st = feed_pieces (&client, answer->data, answer->len, cuts, n_cuts, &used);
      if (!last)
        {
          g_assert_cmpint (st, ==, EXG_SOCKS_CLIENT_SEND);
          g_assert_cmpuint (used, ==, answer->len);
          continue;
        }
      g_assert_cmpint (st, ==, s->end);
      /* a success takes exactly the answer; a failure at least up to the
       * byte that decided, and never a tunnel byte */
      if (st == EXG_SOCKS_CLIENT_DONE)
        g_assert_cmpuint (used, ==, s->last_used);
      else
        g_assert_cmpuint (used, >=, s->last_used);
      g_assert_cmpuint (used, <=, take);
    }

  g_assert_cmpint (exg_socks_client_get_status (&client), ==, s->end);
  g_assert_cmpuint (exg_socks_client_get_wanted (&client), ==, 0);
  g_assert_cmpint (client.failure, ==, s->failure);
  g_assert_cmpuint (client.version, ==, s->version);
  g_assert_cmpuint (client.command, ==, s->command);
  g_assert_cmpuint (client.reply_code, ==, s->reply_code);
  if (s->bound != NULL)
    {
      ExgSocksAddr bound;

      fill_addr (&bound, s->bound_type, s->bound, s->bound_port);
      g_assert_cmpint (client.bound.type, ==, bound.type);
      g_assert_cmpuint (client.bound.port, ==, bound.port);
      if (bound.type == EXG_SOCKS_ATYP_DOMAIN)
        g_assert_cmpstr (client.bound.host, ==, bound.host);
      else
        g_assert_cmpmem (client.bound.ip, 16, bound.ip, 16);
    }
}

static void
test_script (gconstpointer data)
{
  const Script *s = data;
  guint steps = n_steps (s), i;

  play (s, G_MAXUINT, 0);
  for (i = 0; i < steps; i++)
    {
      g_autoptr(GByteArray) answer = exg_test_hex (s->steps[i].answer);
      gsize cut;

      for (cut = 1; cut < answer->len; cut++)
        play (s, i, cut);
      play (s, i, G_MAXSIZE);
    }
}

/* ---- requests that cannot be said ---- */

static void
assert_invalid (guint8        version,
                guint8        command,
                ExgSocksAtyp  atyp,
                const char   *target,
                const char   *username,
                const char   *password)
{
  ExgSocksClient client;
  ExgSocksAddr addr;
  gsize consumed = 1;

  fill_addr (&addr, atyp, target, 80);
  exg_socks_client_init (&client, version, command, &addr, username, password);
  g_assert_cmpint (exg_socks_client_get_status (&client), ==,
                   EXG_SOCKS_CLIENT_FAILED);
  g_assert_cmpint (client.failure, ==, EXG_SOCKS_CLIENT_FAILURE_INVALID_REQUEST);
  g_assert_cmpuint (exg_socks_client_get_wanted (&client), ==, 0);

  g_test_expect_message ("exitgate-proto", G_LOG_LEVEL_CRITICAL, "*READ*");
  g_assert_cmpint (exg_socks_client_feed (&client, (const guint8 *) "\x05\x00",
                                          2, &consumed),
                   ==, EXG_SOCKS_CLIENT_FAILED);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (consumed, ==, 0);
}

static void
test_invalid_requests (void)
{
  g_autofree char *long_user = g_strnfill (256, 'u');
  char long_name[256];

  assert_invalid (4, EXG_SOCKS_CMD_CONNECT, EXG_SOCKS_ATYP_IPV6, V6_DOC, NULL, NULL);
  assert_invalid (4, EXG_SOCKS_CMD_RESOLVE_PTR, EXG_SOCKS_ATYP_IPV4,
                  "\x7f\0\0\x01", NULL, NULL);
  assert_invalid (5, EXG_SOCKS_CMD_RESOLVE, EXG_SOCKS_ATYP_IPV4,
                  "\x7f\0\0\x01", NULL, NULL);
  assert_invalid (5, EXG_SOCKS_CMD_RESOLVE_PTR, EXG_SOCKS_ATYP_DOMAIN,
                  "example.org", NULL, NULL);
  assert_invalid (5, EXG_SOCKS_CMD_BIND, EXG_SOCKS_ATYP_IPV4,
                  "\x7f\0\0\x01", NULL, NULL);
  assert_invalid (5, EXG_SOCKS_CMD_CONNECT, EXG_SOCKS_ATYP_NONE,
                  "\0\0\0\0", NULL, NULL);
  assert_invalid (5, EXG_SOCKS_CMD_CONNECT, EXG_SOCKS_ATYP_DOMAIN, "", NULL, NULL);
  assert_invalid (5, EXG_SOCKS_CMD_CONNECT, EXG_SOCKS_ATYP_IPV4,
                  "\x7f\0\0\x01", long_user, "p");
  assert_invalid (5, EXG_SOCKS_CMD_CONNECT, EXG_SOCKS_ATYP_IPV4,
                  "\x7f\0\0\x01", "u", long_user);
  assert_invalid (4, EXG_SOCKS_CMD_CONNECT, EXG_SOCKS_ATYP_IPV4,
                  "\x7f\0\0\x01", long_user, NULL);

  /* the longest name a SOCKS5 request carries is 255 bytes: it goes */
  memset (long_name, 'a', 255);
  long_name[255] = '\0';
  {
    ExgSocksClient client;
    ExgSocksAddr addr;
    const guint8 *out;
    gsize len = 0, consumed = 0;

    fill_addr (&addr, EXG_SOCKS_ATYP_DOMAIN, long_name, 80);
    exg_socks_client_init (&client, 5, EXG_SOCKS_CMD_CONNECT, &addr, NULL, NULL);
    exg_socks_client_take_output (&client, &len);
    g_assert_cmpint (exg_socks_client_feed (&client, (const guint8 *) "\x05\x00",
                                            2, &consumed),
                     ==, EXG_SOCKS_CLIENT_SEND);
    out = exg_socks_client_take_output (&client, &len);
    g_assert_cmpuint (len, ==, 4 + 1 + 255 + 2);
    g_assert_cmpuint (out[4], ==, 255);
    g_assert_cmpmem (out + 5, 255, long_name, 255);
  }
}

/* A v5 reply asks for five bytes, then exactly what its ATYP announces. */
static void
test_wanted (void)
{
  static const struct {
    const char *reply;
    gsize       after_five;
  } cases[] = {
    { "05 00 00 01 00", 5 },
    { "05 00 00 00 00", 5 },
    { "05 00 00 04 00", 17 },
    { "05 00 00 03 00", 2 },
    { "05 00 00 03 ff", 257 },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GByteArray) reply = exg_test_hex (cases[i].reply);
      ExgSocksClient client;
      ExgSocksAddr addr;
      gsize len, consumed = 0;

      fill_addr (&addr, EXG_SOCKS_ATYP_IPV4, "\x7f\0\0\x01", 80);
      exg_socks_client_init (&client, 5, EXG_SOCKS_CMD_CONNECT, &addr, NULL, NULL);
      exg_socks_client_take_output (&client, &len);
      g_assert_cmpuint (exg_socks_client_get_wanted (&client), ==, 2);
      exg_socks_client_feed (&client, (const guint8 *) "\x05\x00", 2, &consumed);
      exg_socks_client_take_output (&client, &len);
      g_assert_cmpuint (exg_socks_client_get_wanted (&client), ==, 5);
      g_assert_cmpint (exg_socks_client_feed (&client, reply->data, reply->len,
                                              &consumed),
                       ==, EXG_SOCKS_CLIENT_READ);
      g_assert_cmpuint (consumed, ==, reply->len);
      g_assert_cmpuint (exg_socks_client_get_wanted (&client), ==,
                        cases[i].after_five);
    }
}

static void
test_failure_strings (void)
{
  ExgSocksClientFailure f;

  for (f = EXG_SOCKS_CLIENT_FAILURE_NONE; f <= EXG_SOCKS_CLIENT_FAILURE_NO_ANSWER; f++)
    g_assert_cmpstr (exg_socks_client_failure_to_string (f), !=, "unknown failure");
  g_assert_cmpstr (exg_socks_client_failure_to_string (99), ==, "unknown failure");
}

int
main (int    argc,
      char **argv)
{
  guint i;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  for (i = 0; i < G_N_ELEMENTS (scripts); i++)
    g_test_add_data_func (scripts[i].path, &scripts[i], test_script);
  g_test_add_func ("/proto/socks-client/invalid-requests", test_invalid_requests);
  g_test_add_func ("/proto/socks-client/socks5/reply/wanted", test_wanted);
  g_test_add_func ("/proto/socks-client/failure-strings", test_failure_strings);

  return g_test_run ();
}
