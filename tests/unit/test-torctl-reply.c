/* test-torctl-reply.c: the control-port reply parser, byte by byte.
 *
 * Vectors are real tor 0.4.9 output (../shared/docs/tor-test-network.md)
 * where we have it.  Every stream is parsed whole, then split at every
 * byte into two feeds, then fed one byte at a time; the replies must come
 * out the same each time.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-torctl-reply.h"

#include <string.h>

/* Feeds @len bytes in pieces cut at @cuts (sorted, NULL-free offsets);
 * returns every reply, fails the test on a parse error unless
 * @expect_error, in which case it returns NULL at the error. */
static GPtrArray *
parse_cut (const char   *bytes,
           gsize         len,
           const gsize  *cuts,
           gsize         n_cuts,
           gboolean     *out_error)
{
  g_autoptr(ExgTorctlParser) parser = exg_torctl_parser_new ();
  GPtrArray *replies = g_ptr_array_new_with_free_func ((GDestroyNotify) exg_torctl_reply_unref);
  gsize start = 0, i;

  *out_error = FALSE;
  for (i = 0; i <= n_cuts; i++)
    {
      gsize end = i < n_cuts ? cuts[i] : len;
      const guint8 *p = (const guint8 *) bytes + start;
      gsize left = end - start;
      guint guard = 0;

      while (guard++ < 100000)
        {
          ExgTorctlReply *reply = NULL;
          gsize used = G_MAXSIZE;
          ExgTorctlParseResult r = exg_torctl_parser_feed (parser, p, left, &used, &reply);

          g_assert_cmpuint (used, <=, left);
          if (r == EXG_TORCTL_PARSE_ERROR)
            {
              g_assert_null (reply);
              g_assert_nonnull (exg_torctl_parser_get_error (parser));
              *out_error = TRUE;
              return replies;
            }
          if (r == EXG_TORCTL_PARSE_NEED_MORE)
            {
              g_assert_cmpuint (used, ==, left);
              g_assert_null (reply);
              break;
            }
          g_assert_nonnull (reply);
          g_assert_cmpuint (used, >, 0);
          g_ptr_array_add (replies, reply);
          p += used;
          left -= used;
          if (left == 0)
            break;
        }
      g_assert_cmpuint (guard, <, 100000);
      start = end;
    }
  return replies;
}

static void
assert_same_replies (GPtrArray *a,
                     GPtrArray *b)
{
  guint i, j;

  g_assert_cmpuint (a->len, ==, b->len);
  for (i = 0; i < a->len; i++)
    {
      const ExgTorctlReply *x = g_ptr_array_index (a, i);
      const ExgTorctlReply *y = g_ptr_array_index (b, i);

      g_assert_cmpuint (x->status, ==, y->status);
      g_assert_cmpint (x->is_event, ==, y->is_event);
      g_assert_cmpstr (x->event, ==, y->event);
      g_assert_cmpuint (x->n_lines, ==, y->n_lines);
      for (j = 0; j < x->n_lines; j++)
        {
          g_assert_cmpint (x->lines[j].kind, ==, y->lines[j].kind);
          g_assert_cmpuint (x->lines[j].status, ==, y->lines[j].status);
          g_assert_cmpstr (x->lines[j].text, ==, y->lines[j].text);
          g_assert_cmpstr (x->lines[j].data, ==, y->lines[j].data);
          g_assert_cmpuint (x->lines[j].data_len, ==, y->lines[j].data_len);
        }
    }
}

/* Parses @bytes whole, at every two-piece split and byte by byte; checks
 * all agree and returns the whole parse. */
static GPtrArray *
parse_every_way (const char *bytes,
                 gsize       len,
                 gboolean   *out_error)
{
  GPtrArray *whole = parse_cut (bytes, len, NULL, 0, out_error);
  g_autofree gsize *every = g_new (gsize, len + 1);
  gsize cut, i;

  for (cut = 0; cut <= len; cut++)
    {
      gboolean error;
      g_autoptr(GPtrArray) split = parse_cut (bytes, len, &cut, 1, &error);

      g_assert_cmpint (error, ==, *out_error);
      assert_same_replies (whole, split);
    }

  for (i = 0; i < len; i++)
    every[i] = i;
  {
    gboolean error;
    g_autoptr(GPtrArray) bytewise = parse_cut (bytes, len, every, len, &error);

    g_assert_cmpint (error, ==, *out_error);
    assert_same_replies (whole, bytewise);
  }
  return whole;
}

static GPtrArray *
parse_ok (const char *bytes)
{
  gboolean error;
  GPtrArray *replies = parse_every_way (bytes, strlen (bytes), &error);

  g_assert_false (error);
  return replies;
}

static void
assert_line (const ExgTorctlReply *reply,
             guint                 i,
             ExgTorctlLineKind     kind,
             guint                 status,
             const char           *text,
             const char           *data)
{
  g_assert_cmpuint (i, <, reply->n_lines);
  g_assert_cmpint (reply->lines[i].kind, ==, kind);
  g_assert_cmpuint (reply->lines[i].status, ==, status);
  g_assert_cmpstr (reply->lines[i].text, ==, text);
  g_assert_cmpstr (reply->lines[i].data, ==, data);
  g_assert_cmpuint (reply->lines[i].data_len, ==, data ? strlen (data) : 0);
}

static const char protocolinfo[] =
  "250-PROTOCOLINFO 1\r\n"
  "250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE=\"/tmp/tn/nodes/tnclient/control_auth_cookie\"\r\n"
  "250-VERSION Tor=\"0.4.9.11\"\r\n"
  "250 OK\r\n";

static void
test_protocolinfo_split_anywhere (void)
{
  g_autoptr(GPtrArray) replies = parse_ok (protocolinfo);
  const ExgTorctlReply *r;
  g_autoptr(ExgTorctlArgs) auth = NULL;
  g_autoptr(ExgTorctlArgs) version = NULL;

  g_assert_cmpuint (replies->len, ==, 1);
  r = g_ptr_array_index (replies, 0);
  g_assert_cmpuint (r->status, ==, 250);
  g_assert_false (r->is_event);
  g_assert_null (r->event);
  g_assert_true (exg_torctl_reply_is_success (r));
  g_assert_cmpstr (exg_torctl_reply_get_message (r), ==, "OK");
  g_assert_cmpuint (r->n_lines, ==, 4);
  assert_line (r, 0, EXG_TORCTL_LINE_MID, 250, "PROTOCOLINFO 1", NULL);
  assert_line (r, 1, EXG_TORCTL_LINE_MID, 250,
               "AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE=\"/tmp/tn/nodes/tnclient/control_auth_cookie\"",
               NULL);
  assert_line (r, 2, EXG_TORCTL_LINE_MID, 250, "VERSION Tor=\"0.4.9.11\"", NULL);
  assert_line (r, 3, EXG_TORCTL_LINE_END, 250, "OK", NULL);

  auth = exg_torctl_args_parse (r->lines[1].text);
  g_assert_nonnull (auth);
  g_assert_cmpuint (exg_torctl_args_get_n_positional (auth), ==, 1);
  g_assert_cmpstr (exg_torctl_args_get_positional (auth, 0), ==, "AUTH");
  g_assert_null (exg_torctl_args_get_positional (auth, 1));
  g_assert_cmpstr (exg_torctl_args_lookup (auth, "METHODS"), ==, "COOKIE,SAFECOOKIE");
  g_assert_cmpstr (exg_torctl_args_lookup (auth, "COOKIEFILE"), ==,
                   "/tmp/tn/nodes/tnclient/control_auth_cookie");
  g_assert_null (exg_torctl_args_lookup (auth, "AUTH"));

  version = exg_torctl_args_parse (r->lines[2].text);
  g_assert_nonnull (version);
  g_assert_cmpstr (exg_torctl_args_get_positional (version, 0), ==, "VERSION");
  g_assert_cmpstr (exg_torctl_args_lookup (version, "Tor"), ==, "0.4.9.11");
}

static const char ns_all[] =
  "250+ns/all=\r\n"
  "r tnrelay1 EWGYVdr+LRhOSr0bz77ijeGBD0g pR6db4qzuHmOGCUV+o3FWWUaYvI 2038-01-01 00:00:00 127.0.0.5 20005 0\r\n"
  "s Fast Guard HSDir Running Valid\r\n"
  "w Bandwidth=900\r\n"
  "r tnexit3 00HZ5cdWZ41JX1dVcKANnKAyZTE qfDRQKc4JUa7c3ex6VQbQu+GGmU 2038-01-01 00:00:00 127.0.0.9 20009 0\r\n"
  "s Exit Fast Guard HSDir Running Stable Valid\r\n"
  "w Bandwidth=4000\r\n"
  ".\r\n"
  "250 OK\r\n";

static void
test_data_block_split_anywhere (void)
{
  g_autoptr(GPtrArray) replies = parse_ok (ns_all);
  const ExgTorctlReply *r;

  g_assert_cmpuint (replies->len, ==, 1);
  r = g_ptr_array_index (replies, 0);
  g_assert_cmpuint (r->status, ==, 250);
  g_assert_cmpuint (r->n_lines, ==, 2);
  assert_line (r, 0, EXG_TORCTL_LINE_DATA, 250, "ns/all=",
               "r tnrelay1 EWGYVdr+LRhOSr0bz77ijeGBD0g pR6db4qzuHmOGCUV+o3FWWUaYvI 2038-01-01 00:00:00 127.0.0.5 20005 0\n"
               "s Fast Guard HSDir Running Valid\n"
               "w Bandwidth=900\n"
               "r tnexit3 00HZ5cdWZ41JX1dVcKANnKAyZTE qfDRQKc4JUa7c3ex6VQbQu+GGmU 2038-01-01 00:00:00 127.0.0.9 20009 0\n"
               "s Exit Fast Guard HSDir Running Stable Valid\n"
               "w Bandwidth=4000\n");
  assert_line (r, 1, EXG_TORCTL_LINE_END, 250, "OK", NULL);
  g_assert_true (exg_torctl_reply_lookup (r, "ns/all") == r->lines[0].data);
  g_assert_null (exg_torctl_reply_lookup (r, "ns"));
}

static void
test_data_block_dot_stuffing (void)
{
  /* a data line "..x" stands for ".x", ".." for ".", and a line "." alone
   * ends the block; an empty line stays an empty line */
  static const char bytes[] =
    "250+config-text=\r\n"
    "..hidden\r\n"
    "..\r\n"
    "\r\n"
    "a.b\r\n"
    "...\r\n"
    ".\r\n"
    "250-version=0.4.9.11\r\n"
    "250+empty=\r\n"
    ".\r\n"
    "250 OK\r\n";
  g_autoptr(GPtrArray) replies = parse_ok (bytes);
  const ExgTorctlReply *r;

  g_assert_cmpuint (replies->len, ==, 1);
  r = g_ptr_array_index (replies, 0);
  g_assert_cmpuint (r->n_lines, ==, 4);
  assert_line (r, 0, EXG_TORCTL_LINE_DATA, 250, "config-text=", ".hidden\n.\n\na.b\n..\n");
  assert_line (r, 1, EXG_TORCTL_LINE_MID, 250, "version=0.4.9.11", NULL);
  assert_line (r, 2, EXG_TORCTL_LINE_DATA, 250, "empty=", "");
  assert_line (r, 3, EXG_TORCTL_LINE_END, 250, "OK", NULL);
  g_assert_cmpstr (exg_torctl_reply_lookup (r, "version"), ==, "0.4.9.11");
  g_assert_cmpstr (exg_torctl_reply_lookup (r, "empty"), ==, "");
  g_assert_cmpstr (exg_torctl_reply_lookup (r, "config-text"), ==, ".hidden\n.\n\na.b\n..\n");
}

static void
test_data_block_lone_cr (void)
{
  /* control-spec §2.4: LineItem = NonCR / 1*CR NonCRLF: a CR not before
   * LF is data */
  static const char bytes[] = "250+x=\r\na\rb\r\n.\r\n250 OK\r\n";
  g_autoptr(GPtrArray) replies = parse_ok (bytes);
  const ExgTorctlReply *r = g_ptr_array_index (replies, 0);

  assert_line (r, 0, EXG_TORCTL_LINE_DATA, 250, "x=", "a\rb\n");
}

/* Real events with a command's reply between them, as a controller reads
 * them after EXTENDCIRCUIT. */
static const char interleaved[] =
  "650 CIRC 21 LAUNCHED PURPOSE=GENERAL TIME_CREATED=2026-11-26T16:07:35.116616\r\n"
  "250 EXTENDED 21\r\n"
  "650 CIRC 21 BUILT $3C059E5215B75AD4CE698DE83D2B8F9BDBFD1B0D~tnauth3,$6C85A8C7846578D772E5D95DDF2330AE1F447C89~tnauth1,$158B1894234C4A3A165F672329ACCC28D1046BBE~tnexit3 PURPOSE=GENERAL TIME_CREATED=2026-11-26T16:07:35.116616\r\n"
  "650 STREAM 75 NEW 0 127.0.0.1:32781 SOURCE_ADDR=127.0.0.1:53012 PURPOSE=USER CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=0 SESSION_GROUP=-4 ISO_FIELDS=SOCKS_USERNAME,SOCKS_PASSWORD,CLIENTADDR,SESSION_GROUP,NYM_EPOCH\r\n"
  "650-CONF_CHANGED\r\n"
  "650-__LeaveStreamsUnattached=1\r\n"
  "650 OK\r\n"
  "552 Unrecognized key \"nosuch\"\r\n"
  "650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY=\"Connecting to a relay\"\r\n";

static void
test_events_interleaved_split_anywhere (void)
{
  g_autoptr(GPtrArray) replies = parse_ok (interleaved);
  const ExgTorctlReply *r;
  g_autoptr(ExgTorctlArgs) a = NULL;
  g_autoptr(ExgTorctlArgs) s = NULL;
  g_autoptr(ExgTorctlArgs) b = NULL;

  g_assert_cmpuint (replies->len, ==, 7);

  r = g_ptr_array_index (replies, 0);
  g_assert_true (r->is_event);
  g_assert_cmpuint (r->status, ==, 650);
  g_assert_cmpstr (r->event, ==, "CIRC");
  g_assert_cmpuint (r->n_lines, ==, 1);
  assert_line (r, 0, EXG_TORCTL_LINE_END, 650,
               "CIRC 21 LAUNCHED PURPOSE=GENERAL TIME_CREATED=2026-11-26T16:07:35.116616", NULL);

  r = g_ptr_array_index (replies, 1);
  g_assert_false (r->is_event);
  g_assert_null (r->event);
  g_assert_cmpuint (r->status, ==, 250);
  assert_line (r, 0, EXG_TORCTL_LINE_END, 250, "EXTENDED 21", NULL);

  r = g_ptr_array_index (replies, 2);
  g_assert_cmpstr (r->event, ==, "CIRC");
  a = exg_torctl_args_parse (r->lines[0].text);
  g_assert_cmpuint (exg_torctl_args_get_n_positional (a), ==, 4);
  g_assert_cmpstr (exg_torctl_args_get_positional (a, 1), ==, "21");
  g_assert_cmpstr (exg_torctl_args_get_positional (a, 2), ==, "BUILT");
  g_assert_cmpstr (exg_torctl_args_get_positional (a, 3), ==,
                   "$3C059E5215B75AD4CE698DE83D2B8F9BDBFD1B0D~tnauth3,$6C85A8C7846578D772E5D95DDF2330AE1F447C89~tnauth1,$158B1894234C4A3A165F672329ACCC28D1046BBE~tnexit3");
  g_assert_cmpstr (exg_torctl_args_lookup (a, "PURPOSE"), ==, "GENERAL");

  r = g_ptr_array_index (replies, 3);
  g_assert_cmpstr (r->event, ==, "STREAM");
  s = exg_torctl_args_parse (r->lines[0].text);
  g_assert_cmpuint (exg_torctl_args_get_n_positional (s), ==, 5);
  g_assert_cmpstr (exg_torctl_args_get_positional (s, 4), ==, "127.0.0.1:32781");
  g_assert_cmpstr (exg_torctl_args_lookup (s, "SOURCE_ADDR"), ==, "127.0.0.1:53012");
  g_assert_cmpstr (exg_torctl_args_lookup (s, "SESSION_GROUP"), ==, "-4");
  g_assert_cmpstr (exg_torctl_args_lookup (s, "ISO_FIELDS"), ==,
                   "SOCKS_USERNAME,SOCKS_PASSWORD,CLIENTADDR,SESSION_GROUP,NYM_EPOCH");

  r = g_ptr_array_index (replies, 4);
  g_assert_true (r->is_event);
  g_assert_cmpstr (r->event, ==, "CONF_CHANGED");
  g_assert_cmpuint (r->n_lines, ==, 3);
  assert_line (r, 0, EXG_TORCTL_LINE_MID, 650, "CONF_CHANGED", NULL);
  assert_line (r, 1, EXG_TORCTL_LINE_MID, 650, "__LeaveStreamsUnattached=1", NULL);
  assert_line (r, 2, EXG_TORCTL_LINE_END, 650, "OK", NULL);
  g_assert_cmpstr (exg_torctl_reply_lookup (r, "__LeaveStreamsUnattached"), ==, "1");

  r = g_ptr_array_index (replies, 5);
  g_assert_false (r->is_event);
  g_assert_cmpuint (r->status, ==, 552);
  g_assert_false (exg_torctl_reply_is_success (r));
  g_assert_cmpstr (exg_torctl_reply_get_message (r), ==, "Unrecognized key \"nosuch\"");

  r = g_ptr_array_index (replies, 6);
  g_assert_cmpstr (r->event, ==, "STATUS_CLIENT");
  b = exg_torctl_args_parse (r->lines[0].text);
  g_assert_cmpuint (exg_torctl_args_get_n_positional (b), ==, 3);
  g_assert_cmpstr (exg_torctl_args_get_positional (b, 1), ==, "NOTICE");
  g_assert_cmpstr (exg_torctl_args_get_positional (b, 2), ==, "BOOTSTRAP");
  g_assert_cmpstr (exg_torctl_args_lookup (b, "PROGRESS"), ==, "5");
  g_assert_cmpstr (exg_torctl_args_lookup (b, "TAG"), ==, "conn");
  g_assert_cmpstr (exg_torctl_args_lookup (b, "SUMMARY"), ==, "Connecting to a relay");
}

static void
test_event_data_line (void)
{
  /* a multi-line event with a data block ("650+NS") */
  static const char bytes[] =
    "650+NS\r\n"
    "r tnexit1 cnDHmNazU9nLsbF5keS0xLMKcNI x 2038-01-01 00:00:00 127.0.0.7 20007 0\r\n"
    "s Exit Fast Running Valid\r\n"
    ".\r\n"
    "650 OK\r\n";
  g_autoptr(GPtrArray) replies = parse_ok (bytes);
  const ExgTorctlReply *r = g_ptr_array_index (replies, 0);

  g_assert_cmpuint (replies->len, ==, 1);
  g_assert_true (r->is_event);
  g_assert_cmpstr (r->event, ==, "NS");
  g_assert_cmpuint (r->n_lines, ==, 2);
  assert_line (r, 0, EXG_TORCTL_LINE_DATA, 650, "NS",
               "r tnexit1 cnDHmNazU9nLsbF5keS0xLMKcNI x 2038-01-01 00:00:00 127.0.0.7 20007 0\n"
               "s Exit Fast Running Valid\n");
  assert_line (r, 1, EXG_TORCTL_LINE_END, 650, "OK", NULL);
}

static void
test_quoted_strings (void)
{
  static const struct {
    const char *in;
    const char *out;     /* NULL: malformed */
    gsize       used;
  } cases[] = {
    { "\"\"", "", 2 },
    { "\"plain\" rest", "plain", 7 },
    { "\"a \\\"quoted\\\" string\"", "a \"quoted\" string", 21 },
    { "\"back\\\\slash\"", "back\\slash", 13 },
    { "\"\\n\\t\\r\"", "\n\t\r", 8 },
    { "\"\\101\\302\\251\"", "A\302\251", 14 },
    { "\"\\q\"", "q", 4 },                     /* any other char stands for itself */
    { "\"/home/u/.tor/control_auth_cookie\"", "/home/u/.tor/control_auth_cookie", 34 },
    { "\"unterminated", NULL, 0 },
    { "\"ends in backslash\\", NULL, 0 },
    { "\"\\000\"", NULL, 0 },                   /* no NUL */
    { "\"\\400\"", NULL, 0 },                   /* over \377 */
    { "\"\\12\"", NULL, 0 },                    /* three digits */
    { "noquote", NULL, 0 },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gsize used = 0;
      g_autofree char *v = exg_torctl_unquote (cases[i].in, &used);

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, cases[i].in);
      g_assert_cmpstr (v, ==, cases[i].out);
      if (v != NULL)
        g_assert_cmpuint (used, ==, cases[i].used);
    }
}

static void
test_quote_round_trip (void)
{
  static const char *values[] = {
    "", "plain", "a \"quoted\" string", "back\\slash", "line\nfeed\r\t",
    "\001\037\177 controls", "/tmp/dir with spaces/cookie", "UTF-8 \303\251",
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (values); i++)
    {
      g_autofree char *q = exg_torctl_quote (values[i]);
      g_autofree char *back = NULL;
      gsize used = 0;

      g_assert_null (strpbrk (q, "\r\n"));
      back = exg_torctl_unquote (q, &used);
      g_assert_cmpstr (back, ==, values[i]);
      g_assert_cmpuint (used, ==, strlen (q));
    }
  {
    g_autofree char *q = exg_torctl_quote ("a\"b\\c\nd");

    g_assert_cmpstr (q, ==, "\"a\\\"b\\\\c\\nd\"");
  }
}

static void
test_args (void)
{
  g_autoptr(ExgTorctlArgs) a =
    exg_torctl_args_parse ("NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done \\\"ok\\\"\" \"quoted word\"  EMPTY= $FP=nick");
  g_autoptr(ExgTorctlArgs) l =
    exg_torctl_args_parse ("net/listeners/socks=\"127.0.0.1:9050\" \"[::1]:9050\"");
  g_autoptr(ExgTorctlArgs) empty = exg_torctl_args_parse ("");

  g_assert_nonnull (a);
  g_assert_cmpuint (exg_torctl_args_get_n_positional (a), ==, 4);
  g_assert_cmpstr (exg_torctl_args_get_positional (a, 0), ==, "NOTICE");
  g_assert_cmpstr (exg_torctl_args_get_positional (a, 1), ==, "BOOTSTRAP");
  g_assert_cmpstr (exg_torctl_args_get_positional (a, 2), ==, "quoted word");
  g_assert_cmpstr (exg_torctl_args_get_positional (a, 3), ==, "$FP=nick");
  g_assert_cmpstr (exg_torctl_args_lookup (a, "PROGRESS"), ==, "100");
  g_assert_cmpstr (exg_torctl_args_lookup (a, "TAG"), ==, "done");
  g_assert_cmpstr (exg_torctl_args_lookup (a, "SUMMARY"), ==, "Done \"ok\"");
  g_assert_cmpstr (exg_torctl_args_lookup (a, "EMPTY"), ==, "");
  g_assert_null (exg_torctl_args_lookup (a, "progress"));

  g_assert_nonnull (l);
  g_assert_cmpstr (exg_torctl_args_lookup (l, "net/listeners/socks"), ==, "127.0.0.1:9050");
  g_assert_cmpuint (exg_torctl_args_get_n_positional (l), ==, 1);
  g_assert_cmpstr (exg_torctl_args_get_positional (l, 0), ==, "[::1]:9050");

  g_assert_nonnull (empty);
  g_assert_cmpuint (exg_torctl_args_get_n_positional (empty), ==, 0);

  g_assert_null (exg_torctl_args_parse ("KEY=\"unterminated"));
  g_assert_null (exg_torctl_args_parse ("KEY=\"a\"b"));
  g_assert_null (exg_torctl_args_parse ("\"a\\"));
}

static void
test_malformed (void)
{
  static const char *bad[] = {
    "25 OK\r\n",                 /* two digits */
    "2x0 OK\r\n",
    "250\r\n",                   /* no separator */
    "250*OK\r\n",                /* bad separator */
    "250 OK\n",                  /* bare LF */
    "\n",
    "250-a\r\n650 OK\r\n",       /* an event inside a reply */
    "650-CONF_CHANGED\r\n250 OK\r\n",
    "250 O\0K\r\n",              /* NUL (length given below) */
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      gsize len = strlen (bad[i]);
      gboolean error;
      g_autoptr(GPtrArray) replies = NULL;

      if (i == G_N_ELEMENTS (bad) - 1)
        len = 9;
      g_test_message ("case %" G_GSIZE_FORMAT, i);
      replies = parse_every_way (bad[i], len, &error);
      g_assert_true (error);
      g_assert_cmpuint (replies->len, ==, 0);
    }
}

static void
test_error_is_final (void)
{
  g_autoptr(ExgTorctlParser) parser = exg_torctl_parser_new ();
  ExgTorctlReply *reply = NULL;
  gsize used;

  g_assert_cmpint (exg_torctl_parser_feed (parser, (const guint8 *) "xyz\r\n", 5, &used, &reply),
                   ==, EXG_TORCTL_PARSE_ERROR);
  g_assert_cmpint (exg_torctl_parser_feed (parser, (const guint8 *) "250 OK\r\n", 8, &used, &reply),
                   ==, EXG_TORCTL_PARSE_ERROR);
  g_assert_cmpuint (used, ==, 0);
  g_assert_null (reply);
}

static void
test_limits (void)
{
  g_autoptr(ExgTorctlParser) parser = exg_torctl_parser_new ();
  g_autoptr(ExgTorctlParser) parser2 = exg_torctl_parser_new ();
  g_autoptr(ExgTorctlReply) reply = NULL;
  g_autoptr(GString) s = g_string_new ("250 ");
  gsize used, i;

  /* a line of exactly max_line bytes, CRLF included, is fine; one more is not */
  exg_torctl_parser_set_limits (parser, 16, 64);
  g_assert_cmpint (exg_torctl_parser_feed (parser, (const guint8 *) "250 0123456789\r\n", 16, &used, &reply),
                   ==, EXG_TORCTL_PARSE_REPLY);
  g_assert_cmpuint (used, ==, 16);
  g_assert_cmpstr (reply->lines[0].text, ==, "0123456789");
  g_clear_pointer (&reply, exg_torctl_reply_unref);

  /* no LF at all: refused as soon as the line outgrows the bound, before
   * any end of line is seen */
  for (i = 0; i < 14; i++)
    g_assert_cmpint (exg_torctl_parser_feed (parser, (const guint8 *) "x", 1, &used, &reply),
                     ==, EXG_TORCTL_PARSE_NEED_MORE);
  g_assert_cmpint (exg_torctl_parser_feed (parser, (const guint8 *) "xx", 2, &used, &reply),
                   ==, EXG_TORCTL_PARSE_NEED_MORE);
  g_assert_cmpint (exg_torctl_parser_feed (parser, (const guint8 *) "x", 1, &used, &reply),
                   ==, EXG_TORCTL_PARSE_ERROR);
  g_assert_cmpstr (exg_torctl_parser_get_error (parser), ==, "a reply line is too long");

  /* many short lines: the reply bound */
  exg_torctl_parser_set_limits (parser2, 16, 64);
  for (i = 0; i < 7; i++)
    g_assert_cmpint (exg_torctl_parser_feed (parser2, (const guint8 *) "250-abc\r\n", 9, &used, &reply),
                     ==, EXG_TORCTL_PARSE_NEED_MORE);
  g_assert_cmpint (exg_torctl_parser_feed (parser2, (const guint8 *) "250 OK\r\n", 8, &used, &reply),
                   ==, EXG_TORCTL_PARSE_ERROR);
  g_assert_cmpstr (exg_torctl_parser_get_error (parser2), ==, "a reply is too long");
  g_assert_null (reply);

  /* the default line bound */
  {
    g_autoptr(ExgTorctlParser) p3 = exg_torctl_parser_new ();

    for (i = 0; i < EXG_TORCTL_MAX_LINE; i++)
      g_string_append_c (s, 'a');
    g_assert_cmpint (exg_torctl_parser_feed (p3, (const guint8 *) s->str, s->len, &used, &reply),
                     ==, EXG_TORCTL_PARSE_ERROR);
  }
}

/* STATUS_CLIENT BOOTSTRAP, as the event and as status/bootstrap-phase
 * say it; the one parser ExgTorProcess and ExgTorClient both use. */
static void
test_bootstrap (void)
{
  static const struct {
    const char *text;
    gboolean    ok;
    guint       progress;
    const char *tag;
    const char *summary;
    const char *warning;
  } cases[] = {
    { "STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=85 TAG=ap_conn SUMMARY=\"Connecting to a relay to build circuits\"",
      TRUE, 85, "ap_conn", "Connecting to a relay to build circuits", NULL },
    { "NOTICE BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY=\"Starting\"",
      TRUE, 0, "starting", "Starting", NULL },
    { "NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\"",
      TRUE, 100, "done", "Done", NULL },
    /* a failed step: the warning is what the user needs */
    { "STATUS_CLIENT WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY=\"Connecting to a relay\" WARNING=\"Connection refused\" REASON=CONNECTREFUSED COUNT=1 RECOMMENDATION=ignore",
      TRUE, 5, "conn", "Connecting to a relay", "Connection refused" },
    { "ERR BOOTSTRAP PROGRESS=10 WARNING=\"No route to host\"",
      TRUE, 10, "", "", "No route to host" },
    /* a WARNING= at NOTICE severity is not a failed step */
    { "NOTICE BOOTSTRAP PROGRESS=10 TAG=conn_done WARNING=\"x\"",
      TRUE, 10, "conn_done", "", NULL },
    /* not a bootstrap status, or a progress out of range */
    { "STATUS_CLIENT NOTICE CIRCUIT_ESTABLISHED", FALSE, 0, NULL, NULL, NULL },
    { "NOTICE ENOUGH_DIR_INFO PROGRESS=10", FALSE, 0, NULL, NULL, NULL },
    { "NOTICE BOOTSTRAP TAG=conn", FALSE, 0, NULL, NULL, NULL },
    { "NOTICE BOOTSTRAP PROGRESS=101", FALSE, 0, NULL, NULL, NULL },
    { "NOTICE BOOTSTRAP PROGRESS=-1", FALSE, 0, NULL, NULL, NULL },
    { "NOTICE BOOTSTRAP PROGRESS=5x", FALSE, 0, NULL, NULL, NULL },
    { "NOTICE BOOTSTRAP PROGRESS=", FALSE, 0, NULL, NULL, NULL },
    { "NOTICE BOOTSTRAP PROGRESS=5 SUMMARY=\"unterminated", FALSE, 0, NULL, NULL, NULL },
    { "", FALSE, 0, NULL, NULL, NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto(ExgTorctlBootstrap) b = { 0, };
      gboolean ok = exg_torctl_bootstrap_parse (cases[i].text, &b);

      g_test_message ("%s", cases[i].text);
      g_assert_cmpint (ok, ==, cases[i].ok);
      if (!ok)
        {
          g_assert_null (b.tag);
          continue;
        }
      g_assert_cmpuint (b.progress, ==, cases[i].progress);
      g_assert_cmpstr (b.tag, ==, cases[i].tag);
      g_assert_cmpstr (b.summary, ==, cases[i].summary);
      g_assert_cmpstr (b.warning, ==, cases[i].warning);
    }
}

/* Recorded by the private-network harness: each file is a whole stream
 * of tor's control output.  Parsed whole and split at every byte. */
static void
test_recorded (gconstpointer data)
{
  const char *path = data;
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) replies = NULL;
  gsize len;
  gboolean failed;

  g_assert_true (g_file_get_contents (path, &contents, &len, &error));
  g_assert_no_error (error);
  replies = parse_every_way (contents, len, &failed);
  g_assert_false (failed);
  g_assert_cmpuint (replies->len, >, 0);

  /* a few recordings say something we can check exactly */
  if (g_str_has_suffix (path, "/protocolinfo.raw"))
    {
      const ExgTorctlReply *r = g_ptr_array_index (replies, 0);
      g_autoptr(ExgTorctlArgs) auth = exg_torctl_args_parse (r->lines[1].text);

      g_assert_cmpuint (replies->len, ==, 1);
      g_assert_cmpstr (exg_torctl_args_get_positional (auth, 0), ==, "AUTH");
      g_assert_cmpstr (exg_torctl_args_lookup (auth, "METHODS"), ==, "COOKIE,SAFECOOKIE");
      g_assert_true (g_str_has_suffix (exg_torctl_args_lookup (auth, "COOKIEFILE"), "/control_auth_cookie"));
    }
  else if (g_str_has_suffix (path, "/getinfo-net-listeners-socks.raw"))
    {
      const ExgTorctlReply *r = g_ptr_array_index (replies, 0);
      g_autoptr(ExgTorctlArgs) l = exg_torctl_args_parse (exg_torctl_reply_lookup (r, "net/listeners/socks"));

      g_assert_true (g_str_has_prefix (exg_torctl_args_get_positional (l, 0), "127.0.0.1:"));
    }
  else if (g_str_has_suffix (path, "/events-status-client-bootstrap.raw"))
    {
      gboolean saw_100 = FALSE;
      guint i;

      for (i = 0; i < replies->len; i++)
        {
          const ExgTorctlReply *r = g_ptr_array_index (replies, i);
          g_auto(ExgTorctlBootstrap) b = { 0, };

          /* STATUS_CLIENT also says CIRCUIT_ESTABLISHED and the like */
          if (!r->is_event || strstr (r->lines[0].text, " BOOTSTRAP ") == NULL)
            continue;
          g_assert_true (exg_torctl_bootstrap_parse (r->lines[0].text, &b));
          g_assert_cmpstr (b.tag, !=, "");
          g_assert_null (b.warning);
          if (b.progress == 100)
            saw_100 = TRUE;
        }
      g_assert_true (saw_100);
    }
  else if (g_str_has_suffix (path, "/events-newconsensus.raw"))
    {
      gboolean saw = FALSE;
      guint i;

      for (i = 0; i < replies->len; i++)
        {
          const ExgTorctlReply *r = g_ptr_array_index (replies, i);

          if (g_strcmp0 (r->event, "NEWCONSENSUS") == 0)
            {
              g_assert_cmpint (r->lines[0].kind, ==, EXG_TORCTL_LINE_DATA);
              g_assert_true (g_str_has_prefix (r->lines[0].data, "r "));
              saw = TRUE;
            }
        }
      g_assert_true (saw);
    }
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return g_strcmp0 (*(char * const *) a, *(char * const *) b);
}

static void
add_recorded_tests (void)
{
  const char *srcdir = g_getenv ("EXG_SOURCE_ROOT");
  g_autofree char *dir = NULL;
  g_autoptr(GDir) d = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  guint i;

  if (srcdir == NULL)
    return;
  dir = g_build_filename (srcdir, "tests", "unit", "data", "torctl", NULL);
  d = g_dir_open (dir, 0, NULL);
  if (d == NULL)
    return;
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".raw"))
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  for (i = 0; i < names->len; i++)
    {
      const char *n = g_ptr_array_index (names, i);
      g_autofree char *test_path = g_strdup_printf ("/proto/torctl-reply/recorded/%s", n);

      /* the path string lives as long as the test program */
      g_test_add_data_func_full (test_path, g_build_filename (dir, n, NULL),
                                 test_recorded, g_free);
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/proto/torctl-reply/protocolinfo/split-anywhere", test_protocolinfo_split_anywhere);
  g_test_add_func ("/proto/torctl-reply/data-block/split-anywhere", test_data_block_split_anywhere);
  g_test_add_func ("/proto/torctl-reply/data-block/dot-stuffing", test_data_block_dot_stuffing);
  g_test_add_func ("/proto/torctl-reply/data-block/lone-cr", test_data_block_lone_cr);
  g_test_add_func ("/proto/torctl-reply/events/interleaved-split-anywhere", test_events_interleaved_split_anywhere);
  g_test_add_func ("/proto/torctl-reply/events/data-line", test_event_data_line);
  g_test_add_func ("/proto/torctl-reply/quoted/unquote", test_quoted_strings);
  g_test_add_func ("/proto/torctl-reply/quoted/round-trip", test_quote_round_trip);
  g_test_add_func ("/proto/torctl-reply/args", test_args);
  g_test_add_func ("/proto/torctl-reply/bootstrap", test_bootstrap);
  g_test_add_func ("/proto/torctl-reply/malformed", test_malformed);
  g_test_add_func ("/proto/torctl-reply/error-is-final", test_error_is_final);
  g_test_add_func ("/proto/torctl-reply/limits", test_limits);
  add_recorded_tests ();

  return g_test_run ();
}
