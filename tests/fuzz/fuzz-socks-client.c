/* fuzz-socks-client.c: the client-side SOCKS machine against arbitrary
 * proxies.
 *
 * The first byte of an input picks the request (bit 0: SOCKS5 or SOCKS4a;
 * bits 1-2: CONNECT, RESOLVE, RESOLVE_PTR; bits 3-4: an IPv4, IPv6 or name
 * target; bit 5: credentials); the rest is what the proxy sends.  It is
 * played the way a driver plays it: send every message, then read at most
 * exg_socks_client_get_wanted () bytes at a time, in three chunkings (as
 * much as wanted, byte by byte, pseudo-random).  Checked:
 *   - consumed <= what was fed; READ takes everything; wanted is at least
 *     1 while reading and 0 otherwise, and never over a v5 reply's length;
 *   - the machine never reads past what it was fed (each feed gets a fresh
 *     heap copy of exactly that many bytes, for AddressSanitizer);
 *   - DONE and FAILED are final and well formed (names terminated, the
 *     answer's type fits the command, a failure has a reason);
 *   - the chunking changes nothing: the same messages, the same end, and
 *     (but for a failure, which may be seen before a chunk's end) the
 *     same bytes taken.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "fuzz-util.h"
#include "exg-socks-client.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  ExgSocksClientStatus  status;
  ExgSocksClientFailure failure;
  guint8                reply_code;
  ExgSocksAddr          bound;
  gsize                 taken;     /* bytes of the proxy's stream consumed */
  guint32               sent;      /* FNV-1a of every message sent */
  guint                 n_sent;
} Outcome;

static void
setup (ExgSocksClient *client,
       guint8          config)
{
  static const guint8 commands[] = {
    EXG_SOCKS_CMD_CONNECT, EXG_SOCKS_CMD_RESOLVE, EXG_SOCKS_CMD_RESOLVE_PTR,
    EXG_SOCKS_CMD_BIND,
  };
  ExgSocksAddr target = { 0 };
  gboolean creds = (config & 0x20) != 0;

  switch ((config >> 3) & 3)
    {
    case 0:
      target.type = EXG_SOCKS_ATYP_IPV4;
      memcpy (target.ip, "\x7f\0\0\x01", 4);
      break;
    case 1:
      target.type = EXG_SOCKS_ATYP_IPV6;
      target.ip[15] = 1;
      break;
    default:
      target.type = EXG_SOCKS_ATYP_DOMAIN;
      strcpy (target.host, "example.org");
      break;
    }
  target.port = 443;
  exg_socks_client_init (client, (config & 1) ? 4 : 5,
                         commands[(config >> 1) & 3], &target,
                         creds ? "user" : NULL, creds ? "pass" : NULL);
}

static void
check_final (const ExgSocksClient *client,
             ExgSocksClientStatus  st)
{
  check (exg_socks_client_get_wanted (client) == 0);
  if (client->bound.type == EXG_SOCKS_ATYP_DOMAIN)
    check (memchr (client->bound.host, '\0', sizeof client->bound.host) != NULL);

  if (st == EXG_SOCKS_CLIENT_FAILED)
    {
      check (client->failure != EXG_SOCKS_CLIENT_FAILURE_NONE);
      return;
    }
  check (client->failure == EXG_SOCKS_CLIENT_FAILURE_NONE);
  if (client->version == 4)
    {
      check (client->reply_code == 0x5A);
      check (client->bound.type == EXG_SOCKS_ATYP_IPV4);
      return;
    }
  check (client->reply_code == 0x00);
  switch (client->command)
    {
    case EXG_SOCKS_CMD_RESOLVE:
      check (client->bound.type == EXG_SOCKS_ATYP_IPV4 ||
             client->bound.type == EXG_SOCKS_ATYP_IPV6);
      break;
    case EXG_SOCKS_CMD_RESOLVE_PTR:
      check (client->bound.type == EXG_SOCKS_ATYP_DOMAIN);
      check (client->bound.host[0] != '\0');
      break;
    case EXG_SOCKS_CMD_CONNECT:
      /* any type, tor's ATYP 0 included: the bound address is unused */
      check (client->bound.type == EXG_SOCKS_ATYP_NONE ||
             client->bound.type == EXG_SOCKS_ATYP_IPV4 ||
             client->bound.type == EXG_SOCKS_ATYP_IPV6 ||
             client->bound.type == EXG_SOCKS_ATYP_DOMAIN);
      break;
    default:
      check (FALSE);
    }
}

static void
play (guint8        config,
      const guint8 *data,
      gsize         size,
      Chunking      chunking,
      Outcome      *outcome)
{
  ExgSocksClient client;
  ExgSocksClientStatus st;
  guint32 state = fuzz_chunk_seed (data, size);
  gsize pos = 0, i;

  memset (outcome, 0, sizeof *outcome);
  outcome->sent = 2166136261u;
  setup (&client, config);
  st = exg_socks_client_get_status (&client);

  /* every round sends or reads: bounded by the stream's length plus the
   * three messages a machine sends at most */
  for (guint round = 0; round < size + 4; round++)
    {
      if (st == EXG_SOCKS_CLIENT_SEND)
        {
          const guint8 *out;
          gsize len = 0;

          check (exg_socks_client_get_wanted (&client) == 0);
          out = exg_socks_client_take_output (&client, &len);
          check (len > 0 && len <= sizeof client.out);
          for (i = 0; i < len; i++)
            outcome->sent = (outcome->sent ^ out[i]) * 16777619u;
          outcome->n_sent++;
          check (outcome->n_sent <= 3);
          st = exg_socks_client_get_status (&client);
          check (st == EXG_SOCKS_CLIENT_READ);
          continue;
        }
      if (st != EXG_SOCKS_CLIENT_READ || pos == size)
        break;

      {
        gsize wanted = exg_socks_client_get_wanted (&client);
        gsize n = fuzz_next_chunk (chunking, &state, MIN (wanted, size - pos), 8);
        gsize consumed = G_MAXSIZE;
        guint8 *copy;

        check (wanted >= 1 && wanted <= 4 + 1 + 255 + 2);
        copy = g_malloc (n);
        memcpy (copy, data + pos, n);
        st = exg_socks_client_feed (&client, copy, n, &consumed);
        g_free (copy);

        check (consumed <= n);
        check (st == exg_socks_client_get_status (&client));
        if (st == EXG_SOCKS_CLIENT_READ)
          check (consumed == n && exg_socks_client_get_wanted (&client) >= 1);
        pos += consumed;
      }
    }

  if (st == EXG_SOCKS_CLIENT_DONE || st == EXG_SOCKS_CLIENT_FAILED)
    check_final (&client, st);
  else
    check (pos == size);

  outcome->status = st;
  outcome->failure = client.failure;
  outcome->reply_code = client.reply_code;
  outcome->bound = client.bound;
  /* a failure may be seen in fewer bytes than a chunk held: how many
   * were taken then depends on the chunking */
  outcome->taken = st == EXG_SOCKS_CLIENT_FAILED ? 0 : pos;
}

static void
check_same (const Outcome *a,
            const Outcome *b)
{
  check (a->status == b->status);
  check (a->failure == b->failure);
  check (a->reply_code == b->reply_code);
  check (a->bound.type == b->bound.type);
  check (a->bound.port == b->bound.port);
  check (memcmp (a->bound.ip, b->bound.ip, sizeof a->bound.ip) == 0);
  check (strcmp (a->bound.host, b->bound.host) == 0);
  check (a->taken == b->taken);
  check (a->sent == b->sent);
  check (a->n_sent == b->n_sent);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  Outcome reference, other;

  if (size < 1 || size > 4096)
    return 0;

  play (data[0], data + 1, size - 1, CHUNK_WHOLE, &reference);
  play (data[0], data + 1, size - 1, CHUNK_BYTES, &other);
  check_same (&reference, &other);
  play (data[0], data + 1, size - 1, CHUNK_RANDOM, &other);
  check_same (&reference, &other);
  return 0;
}
