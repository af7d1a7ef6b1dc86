/* fuzz-http-connect.c: the HTTP CONNECT response parser against arbitrary
 * proxies, and the request builder against arbitrary targets.
 *
 * The input is what the proxy sends.  It is fed whole, byte by byte and in
 * pseudo-random chunks.  Checked:
 *   - NEED_MORE takes every byte fed; DONE and FAILED take no byte past
 *     the one that decided, and are final;
 *   - the parser never reads past what it was fed (fresh heap copies of
 *     exactly that many bytes, for AddressSanitizer);
 *   - head_len counts the bytes taken and never passes
 *     EXG_HTTP_CONNECT_HEAD_MAX; DONE means a 2xx status and a head that
 *     ends in CR LF CR LF; REFUSED means a status outside 2xx;
 *   - the chunking changes nothing.
 * The input's first line, taken as a host name, either builds a request
 * with exactly one CR LF CR LF, at its end, or is refused.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "fuzz-util.h"
#include "exg-http-connect.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  ExgHttpConnectResult  result;
  ExgHttpConnectFailure failure;
  guint                 status;
  gsize                 taken;
} Outcome;

static void
play (const guint8 *data,
      gsize         size,
      Chunking      chunking,
      Outcome      *outcome)
{
  ExgHttpConnectParser parser;
  ExgHttpConnectResult r = EXG_HTTP_CONNECT_NEED_MORE;
  guint32 state = 2166136261u;
  gsize pos = 0;

  exg_http_connect_parser_init (&parser);
  while (r == EXG_HTTP_CONNECT_NEED_MORE && pos < size)
    {
      gsize n = fuzz_next_chunk (chunking, &state, size - pos, 64);
      gsize consumed = G_MAXSIZE;
      guint8 *copy;

      copy = g_malloc (n);
      memcpy (copy, data + pos, n);
      r = exg_http_connect_parser_feed (&parser, copy, n, &consumed);
      g_free (copy);

      check (consumed <= n);
      if (r == EXG_HTTP_CONNECT_NEED_MORE)
        check (consumed == n);
      pos += consumed;
      check (parser.head_len == pos);
      check (parser.head_len <= EXG_HTTP_CONNECT_HEAD_MAX);
    }

  switch (r)
    {
    case EXG_HTTP_CONNECT_DONE:
      check (parser.failure == EXG_HTTP_CONNECT_FAILURE_NONE);
      check (parser.status >= 200 && parser.status <= 299);
      check (pos >= 13 + 3 && memcmp (data + pos - 4, "\r\n\r\n", 4) == 0);
      check (memcmp (data, "HTTP/1.", 7) == 0);
      break;
    case EXG_HTTP_CONNECT_FAILED:
      check (parser.failure != EXG_HTTP_CONNECT_FAILURE_NONE);
      if (parser.failure == EXG_HTTP_CONNECT_FAILURE_REFUSED)
        check (parser.status < 200 || parser.status > 299);
      if (parser.failure == EXG_HTTP_CONNECT_FAILURE_TOO_LONG)
        check (pos == EXG_HTTP_CONNECT_HEAD_MAX);
      break;
    case EXG_HTTP_CONNECT_NEED_MORE:
    default:
      check (pos == size);
      break;
    }

  if (r != EXG_HTTP_CONNECT_NEED_MORE)
    {
      gsize consumed = G_MAXSIZE;

      check (exg_http_connect_parser_feed (&parser, (const guint8 *) "x", 1,
                                           &consumed) == r);
      check (consumed == 0);
    }

  outcome->result = r;
  outcome->failure = parser.failure;
  outcome->status = parser.status;
  outcome->taken = pos;
}

static void
fuzz_request (const guint8 *data,
              gsize         size)
{
  const guint8 *eol = memchr (data, '\n', MIN (size, 300));
  gsize n = eol != NULL ? (gsize) (eol - data) : MIN (size, 300);
  g_autofree char *host = g_strndup ((const char *) data, n);
  g_autofree char *req = NULL;
  gsize len = 0;
  const char *end;

  req = exg_http_connect_request_new (host, 443, host, NULL, &len);
  if (req == NULL)
    return;
  check (len == strlen (req));
  end = strstr (req, "\r\n\r\n");
  check (end != NULL && end + 4 == req + len);
  check (g_str_has_prefix (req, "CONNECT "));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  static const Chunking others[] = { CHUNK_BYTES, CHUNK_RANDOM };
  Outcome reference, other;

  if (size > 2 * EXG_HTTP_CONNECT_HEAD_MAX)
    return 0;

  memset (&reference, 0, sizeof reference);
  play (data, size, CHUNK_WHOLE, &reference);
  for (guint c = 0; c < G_N_ELEMENTS (others); c++)
    {
      memset (&other, 0, sizeof other);
      play (data, size, others[c], &other);
      check (other.result == reference.result);
      check (other.failure == reference.failure);
      check (other.status == reference.status);
      check (other.taken == reference.taken);
    }

  fuzz_request (data, size);
  return 0;
}
