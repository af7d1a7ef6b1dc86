/* fuzz-socks-parser.c: the SOCKS parser against arbitrary bytes.
 *
 * Each input is one client's byte stream.  It is played the way a session
 * plays it: bytes arrive in chunks, everything unconsumed is fed again, a
 * greeting is answered with exg_socks5_choose_method () and the parser is
 * told the method, and parsing stops at the request, a reject or HTTP.
 *
 * Every input is played with four server configurations (password
 * required or not, E0 allowed or not) and three chunkings (all at once,
 * byte by byte, and pseudo-random chunks derived from the input).  Checked:
 *   - consumed <= len; NEED_MORE, REJECT and HTTP consume nothing; OK
 *     consumes something;
 *   - the parser never reads past len: each feed gets a fresh heap copy of
 *     exactly len bytes, so AddressSanitizer sees any over-read;
 *   - every message is well formed (strings terminated, lengths that add
 *     up, only the commands and address types the parser accepts);
 *   - every reject reply is one of the four exact forms;
 *   - the handshake never goes over EXG_SOCKS_MAX_HANDSHAKE;
 *   - the chunking changes nothing: the same messages, results and
 *     replies come out in the same order.
 * The client-side reply parsers get the same input, prefix by prefix.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "fuzz-util.h"
#include "exg-socks-encode.h"
#include "exg-socks-parser.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One outcome that is not NEED_MORE, recorded to compare chunkings. */
typedef struct {
  ExgParseResult result;
  gsize          consumed;
  guint8         method;       /* chosen after a greeting, else 0 */
  ExgSocksMsg    msg;
} Event;

static gboolean
terminated (const char *s,
            gsize       size)
{
  return memchr (s, '\0', size) != NULL;
}


/* A SOCKS4 request is 8 bytes, the userid and its NUL, then @rest.  The
 * userid is ignored and only its first 255 bytes are kept, so a kept
 * userid of 255 bytes may stand for a longer one. */
static gboolean
v4_consumed_ok (const ExgSocksMsg *msg,
                gsize              consumed,
                gsize              rest)
{
  gsize ulen = strlen (msg->username);

  if (ulen < sizeof msg->username - 1)
    return consumed == 8 + ulen + 1 + rest;
  return consumed >= 8 + ulen + 1 + rest &&
         consumed <= EXG_SOCKS_MAX_HANDSHAKE;
}

static void
check_message (const ExgSocksParser *parser,
               ExgSocksPhase         phase,
               const ExgSocksMsg    *msg,
               gsize                 consumed)
{
  gsize ulen, plen, hlen;

  check (consumed > 0);
  check (parser->handshake_len <= EXG_SOCKS_MAX_HANDSHAKE);

  switch (msg->kind)
    {
    case EXG_SOCKS_MSG_GREETING:
      check (phase == EXG_SOCKS_PHASE_START);
      check (msg->version == 5);
      check (consumed == 2 + (gsize) msg->n_methods);
      break;

    case EXG_SOCKS_MSG_AUTH:
      check (phase == EXG_SOCKS_PHASE_AUTH);
      check (terminated (msg->username, sizeof msg->username));
      check (terminated (msg->password, sizeof msg->password));
      ulen = strlen (msg->username);
      plen = strlen (msg->password);
      check (consumed == 3 + ulen + plen);
      break;

    case EXG_SOCKS_MSG_SELECT:
      check (phase == EXG_SOCKS_PHASE_SELECT);
      check (consumed == EXG_SOCKS_SELECT_REQUEST_LEN);
      check (terminated (msg->country, sizeof msg->country));
      check (strlen (msg->country) == 0 || strlen (msg->country) == 2);
      break;

    case EXG_SOCKS_MSG_REQUEST:
      check (parser->phase == EXG_SOCKS_PHASE_DONE);
      check (msg->version == 4 || msg->version == 5);
      check (msg->command == EXG_SOCKS_CMD_CONNECT ||
             msg->command == EXG_SOCKS_CMD_RESOLVE ||
             msg->command == EXG_SOCKS_CMD_RESOLVE_PTR);
      check (terminated (msg->username, sizeof msg->username));
      switch (msg->target.type)
        {
        case EXG_SOCKS_ATYP_DOMAIN:
          check (terminated (msg->target.host, sizeof msg->target.host));
          hlen = strlen (msg->target.host);
          check (hlen >= 1 && hlen <= 255);
          check (msg->command != EXG_SOCKS_CMD_RESOLVE_PTR);
          if (msg->version == 5)
            check (consumed == 4 + 1 + hlen + 2);
          else
            check (v4_consumed_ok (msg, consumed, hlen + 1));
          break;
        case EXG_SOCKS_ATYP_IPV4:
          if (msg->version == 5)
            check (consumed == 10);
          else
            check (v4_consumed_ok (msg, consumed, 0));
          break;
        case EXG_SOCKS_ATYP_IPV6:
          check (msg->version == 5);
          check (consumed == 22);
          break;
        case EXG_SOCKS_ATYP_NONE:
        default:
          check (FALSE);
        }
      if (msg->version == 4)
        check (msg->command != EXG_SOCKS_CMD_RESOLVE_PTR);
      break;

    default:
      check (FALSE);
    }
}

static void
check_reject (const ExgSocksMsg *msg)
{
  switch (msg->reply_len)
    {
    case 0:
      break;
    case 2:       /* RFC 1929 failure */
      check (msg->reply[0] == 0x01 && msg->reply[1] == 0x01);
      break;
    case 8:       /* SOCKS4 */
      check (memcmp (msg->reply, "\x00\x5b\0\0\0\0\0\0", 8) == 0);
      break;
    case 10:      /* SOCKS5 */
      check (msg->reply[0] == 0x05);
      check (msg->reply[1] == EXG_SOCKS5_REPLY_GENERAL_FAILURE ||
             msg->reply[1] == EXG_SOCKS5_REPLY_CMD_NOT_SUPPORTED ||
             msg->reply[1] == EXG_SOCKS5_REPLY_ATYP_NOT_SUPPORTED);
      check (memcmp (msg->reply + 2, "\x00\x01\0\0\0\0\0\0", 8) == 0);
      break;
    default:
      check (FALSE);
    }
}

/* Plays one stream; appends every outcome other than NEED_MORE to events,
 * and a final NEED_MORE if the stream ended mid-message. */
static void
play (const guint8 *data,
      gsize         size,
      Chunking      chunking,
      gboolean      password_required,
      gboolean      allow_select,
      GArray       *events)
{
  ExgSocksParser parser;
  guint32 state = fuzz_chunk_seed (data, size);
  gsize arrived = 0, start = 0;
  gboolean finished = FALSE;

  exg_socks_parser_init (&parser);

  while (!finished && arrived < size)
    {
      arrived += fuzz_next_chunk (chunking, &state, size - arrived, 64);

      while (!finished)
        {
          gsize len = arrived - start;
          /* exactly len bytes: reading past them is a heap overflow */
          guint8 *copy = g_malloc (MAX (len, 1));
          ExgSocksPhase phase = parser.phase;
          gsize consumed = G_MAXSIZE;
          Event ev;
          ExgParseResult r;

          memcpy (copy, data + start, len);
          memset (&ev, 0, sizeof ev);
          r = exg_socks_parser_feed (&parser, copy, len, &consumed, &ev.msg);
          g_free (copy);

          check (consumed <= len);
          if (r == EXG_PARSE_NEED_MORE)
            {
              check (consumed == 0);
              check (parser.phase == phase);
              break;
            }

          ev.result = r;
          ev.consumed = consumed;
          switch (r)
            {
            case EXG_PARSE_OK:
              check_message (&parser, phase, &ev.msg, consumed);
              start += consumed;
              if (ev.msg.kind == EXG_SOCKS_MSG_GREETING)
                {
                  ev.method = exg_socks5_choose_method (ev.msg.methods,
                                                        ev.msg.n_methods,
                                                        password_required,
                                                        allow_select);
                  exg_socks_parser_set_method (&parser, ev.method);
                  if (ev.method == EXG_SOCKS_METHOD_NO_ACCEPTABLE)
                    finished = TRUE;
                }
              else if (ev.msg.kind == EXG_SOCKS_MSG_REQUEST)
                {
                  /* the rest of the stream is data for the target */
                  finished = TRUE;
                }
              break;
            case EXG_PARSE_REJECT:
              check (consumed == 0);
              check_reject (&ev.msg);
              finished = TRUE;
              break;
            case EXG_PARSE_HTTP:
              check (consumed == 0);
              check (phase == EXG_SOCKS_PHASE_START && start == 0);
              finished = TRUE;
              break;
            case EXG_PARSE_NEED_MORE:
            default:
              check (FALSE);
            }
          g_array_append_val (events, ev);
        }
    }

  if (!finished)
    {
      Event ev;

      memset (&ev, 0, sizeof ev);
      ev.result = EXG_PARSE_NEED_MORE;
      g_array_append_val (events, ev);
    }
}

/* The client-side parsers: each prefix needs more or gives a verdict that
 * does not change as bytes are added. */
static void
fuzz_client_parsers (const guint8 *data,
                     gsize         size)
{
  gsize len, limit = MIN (size, 300);
  ExgParseResult first = EXG_PARSE_NEED_MORE, first_select = EXG_PARSE_NEED_MORE;

  for (len = 0; len <= limit; len++)
    {
      guint8 *copy = g_malloc (MAX (len, 1));
      ExgSocksAddr bound;
      gsize consumed = G_MAXSIZE;
      guint8 code;
      gboolean ok;
      guint8 circ;
      char country[3];
      guint32 ip, bw;
      ExgParseResult r;

      memcpy (copy, data, len);

      r = exg_socks5_reply_parse (copy, len, &consumed, &code, &bound);
      check (consumed <= len);
      if (r == EXG_PARSE_OK)
        {
          check (consumed >= 7);   /* 05 CODE 00 03 00 PORT */
          if (bound.type == EXG_SOCKS_ATYP_DOMAIN)
            check (terminated (bound.host, sizeof bound.host));
        }
      else
        {
          check (r == EXG_PARSE_NEED_MORE || r == EXG_PARSE_REJECT);
          check (consumed == 0);
        }
      if (first != EXG_PARSE_NEED_MORE)
        check (r == first);
      first = r;

      consumed = G_MAXSIZE;
      r = exg_socks_select_reply_parse (copy, len, &consumed, &ok, &circ, country, &ip, &bw);
      check (consumed == (r == EXG_PARSE_OK ? (gsize) EXG_SOCKS_SELECT_RESPONSE_LEN : 0));
      if (r == EXG_PARSE_OK)
        check (strlen (country) == 0 || strlen (country) == 2);
      if (first_select != EXG_PARSE_NEED_MORE)
        check (r == first_select);
      first_select = r;

      g_free (copy);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  static const Chunking chunkings[] = { CHUNK_WHOLE, CHUNK_BYTES, CHUNK_RANDOM };
  guint config, c;

  /* A handshake is at most a few hundred bytes plus selections; longer
   * inputs only make byte-by-byte play slow. */
  if (size > 8192)
    return 0;

  for (config = 0; config < 4; config++)
    {
      gboolean password_required = (config & 1) != 0;
      gboolean allow_select = (config & 2) != 0;
      g_autoptr(GArray) reference = g_array_new (FALSE, TRUE, sizeof (Event));

      play (data, size, CHUNK_WHOLE, password_required, allow_select, reference);
      for (c = 1; c < G_N_ELEMENTS (chunkings); c++)
        {
          g_autoptr(GArray) events = g_array_new (FALSE, TRUE, sizeof (Event));

          play (data, size, chunkings[c], password_required, allow_select, events);
          check (events->len == reference->len);
          check (memcmp (events->data, reference->data,
                         sizeof (Event) * events->len) == 0);
        }
    }

  fuzz_client_parsers (data, size);
  return 0;
}
