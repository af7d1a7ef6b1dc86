/* fuzz-torctl-reply.c: the control-port reply parser against arbitrary bytes.
 *
 * Each input is one control connection's byte stream from tor.  It is
 * played whole, byte by byte and in pseudo-random chunks, with small
 * bounds (so the limits are reached) and with the defaults.  Checked:
 *   - consumed <= len; NEED_MORE consumes everything; REPLY consumes
 *     something; ERROR is final;
 *   - every reply is well formed: at least one line, the last one an end
 *     line and no other, data only on data lines, is_event and event
 *     agree with the status, the lines fit the bounds;
 *   - the chunking changes nothing: the same replies, then the same
 *     verdict (an error's reason may differ: a chunk with both a NUL and
 *     too many bytes trips whichever check runs first);
 *   - the argument and quoted-string helpers accept or refuse every line
 *     without reading past it, and quote () round-trips through unquote ();
 *   - a bootstrap status read from any line is in range and complete;
 *   - a microdescriptor read from any data block has its family in
 *     canonical form, and the family rule is symmetric.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "fuzz-util.h"
#include "exg-tor-md.h"
#include "exg-torctl-reply.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
check_helpers (const char *text)
{
  g_autoptr(ExgTorctlArgs) args = exg_torctl_args_parse (text);

  if (args != NULL)
    {
      guint i, n = exg_torctl_args_get_n_positional (args);

      for (i = 0; i < n; i++)
        check (exg_torctl_args_get_positional (args, i) != NULL);
      check (exg_torctl_args_get_positional (args, n) == NULL);
      exg_torctl_args_lookup (args, "PROGRESS");
    }
  if (text[0] == '"')
    {
      gsize used = 0;
      g_autofree char *v = exg_torctl_unquote (text, &used);

      if (v != NULL)
        {
          g_autofree char *q = exg_torctl_quote (v);
          g_autofree char *back = exg_torctl_unquote (q, NULL);

          check (used >= 2 && used <= strlen (text));
          check (back != NULL && strcmp (back, v) == 0);
        }
    }
}

static void
check_bootstrap (const char *text)
{
  ExgTorctlBootstrap b = { 0, };

  if (!exg_torctl_bootstrap_parse (text, &b))
    {
      check (b.tag == NULL && b.summary == NULL && b.warning == NULL);
      return;
    }
  check (b.progress <= 100);
  check (b.tag != NULL && b.summary != NULL);
  exg_torctl_bootstrap_clear (&b);
}

static void
check_member (const char *member)
{
  gsize len = strlen (member);

  if (member[0] == '$')
    {
      check (len == 41);
      for (gsize i = 1; i < len; i++)
        check (g_ascii_isdigit (member[i]) || (member[i] >= 'A' && member[i] <= 'F'));
      return;
    }
  check (len >= 1 && len <= 19);
  for (gsize i = 0; i < len; i++)
    check (g_ascii_isdigit (member[i]) || g_ascii_islower (member[i]));
}

static void
check_md (const char *data)
{
  static const char *fp_a = "0000000000000000000000000000000000000001";
  static const char *fp_b = "0000000000000000000000000000000000000002";
  ExgTorMd md;

  exg_tor_md_parse (data, &md);
  for (guint i = 0; md.family.members != NULL && md.family.members[i] != NULL; i++)
    check_member (md.family.members[i]);
  check (exg_tor_family_same (fp_a, "a", &md.family, fp_b, "b", &md.family) ==
         exg_tor_family_same (fp_b, "b", &md.family, fp_a, "a", &md.family));
  exg_tor_md_clear (&md);
  check (md.policy == NULL && md.family.members == NULL && md.family.ids == NULL);
}

static void
check_reply (const ExgTorctlReply *reply,
             gsize                 max_line)
{
  guint i;

  check (reply->n_lines >= 1);
  for (i = 0; i < reply->n_lines; i++)
    {
      const ExgTorctlLine *line = &reply->lines[i];

      check (line->status <= 999);
      check (line->text != NULL);
      check (strlen (line->text) + 6 <= max_line);
      check ((line->kind == EXG_TORCTL_LINE_END) == (i == reply->n_lines - 1));
      if (line->kind == EXG_TORCTL_LINE_DATA)
        {
          check (line->data != NULL && strlen (line->data) == line->data_len);
          check_md (line->data);
        }
      else
        check (line->data == NULL && line->data_len == 0);
      check ((line->status / 100 == 6) == reply->is_event);
      check_helpers (line->text);
      check_bootstrap (line->text);
    }
  check (reply->status == reply->lines[reply->n_lines - 1].status);
  check (reply->is_event == (reply->status / 100 == 6));
  check ((reply->event != NULL) == reply->is_event);
  check (exg_torctl_reply_get_message (reply) != NULL);
  exg_torctl_reply_lookup (reply, "ns/all");
}

/* A flat record of the replies and the verdict, to compare chunkings. */
static void
append_record (GString              *rec,
               const ExgTorctlReply *reply)
{
  guint i;

  g_string_append_printf (rec, "R%u,%u:", reply->status, reply->n_lines);
  for (i = 0; i < reply->n_lines; i++)
    {
      const ExgTorctlLine *line = &reply->lines[i];

      g_string_append_printf (rec, "%d/%u/%s", line->kind, line->status, line->text);
      if (line->data != NULL)
        g_string_append_printf (rec, "/%s", line->data);
      g_string_append_c (rec, '\n');
    }
}

static void
play (const guint8 *data,
      gsize         size,
      Chunking      chunking,
      gsize         max_line,
      gsize         max_reply,
      GString      *rec)
{
  g_autoptr(ExgTorctlParser) parser = exg_torctl_parser_new ();
  guint32 state = fuzz_chunk_seed (data, size);
  gsize arrived = 0;
  gboolean failed = FALSE;

  exg_torctl_parser_set_limits (parser, max_line, max_reply);

  while (!failed && arrived < size)
    {
      gsize n = fuzz_next_chunk (chunking, &state, size - arrived, 97);
      /* exactly n bytes: reading past them is a heap overflow */
      guint8 *copy = g_memdup2 (data + arrived, n);
      gsize off = 0;

      arrived += n;
      while (off < n || n == 0)
        {
          ExgTorctlReply *reply = NULL;
          gsize used = G_MAXSIZE;
          ExgTorctlParseResult r = exg_torctl_parser_feed (parser, copy + off, n - off,
                                                           &used, &reply);

          check (used <= n - off);
          if (r == EXG_TORCTL_PARSE_ERROR)
            {
              check (reply == NULL);
              check (exg_torctl_parser_get_error (parser) != NULL);
              /* which bound or rule trips first may depend on the
               * chunking (a NUL and an overlong line); that it fails
               * may not */
              g_string_append (rec, "E\n");
              failed = TRUE;
              break;
            }
          if (r == EXG_TORCTL_PARSE_NEED_MORE)
            {
              check (used == n - off);
              check (reply == NULL);
              break;
            }
          check (r == EXG_TORCTL_PARSE_REPLY);
          check (reply != NULL && used > 0);
          check_reply (reply, max_line);
          append_record (rec, reply);
          exg_torctl_reply_unref (reply);
          off += used;
        }
      g_free (copy);
    }

  if (failed)
    {
      gsize used;

      check (exg_torctl_parser_feed (parser, (const guint8 *) "250 OK\r\n", 8, &used, NULL)
             == EXG_TORCTL_PARSE_ERROR);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  static const Chunking chunkings[] = { CHUNK_WHOLE, CHUNK_BYTES, CHUNK_RANDOM };
  static const gsize bounds[][2] = { { 64, 256 }, { EXG_TORCTL_MAX_LINE, EXG_TORCTL_MAX_REPLY } };
  guint b, c;

  if (size > 16384)
    return 0;

  for (b = 0; b < G_N_ELEMENTS (bounds); b++)
    {
      g_autoptr(GString) reference = g_string_new (NULL);

      play (data, size, CHUNK_WHOLE, bounds[b][0], bounds[b][1], reference);
      for (c = 1; c < G_N_ELEMENTS (chunkings); c++)
        {
          g_autoptr(GString) rec = g_string_new (NULL);

          play (data, size, chunkings[c], bounds[b][0], bounds[b][1], rec);
          check (g_string_equal (rec, reference));
        }
    }
  return 0;
}
