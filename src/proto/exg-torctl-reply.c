/* exg-torctl-reply.c: tor control-port replies, parsed incrementally.
 *
 * control-spec.txt §2.3 and §2.4:
 *
 *   Reply         = *(MidReplyLine / DataReplyLine) EndReplyLine
 *   MidReplyLine  = StatusCode "-" ReplyLine        "250-VERSION Tor=…"
 *   DataReplyLine = StatusCode "+" ReplyLine CmdData "250+ns/all="
 *   EndReplyLine  = StatusCode SP ReplyLine         "250 OK"
 *   ReplyLine     = [ReplyText] CRLF
 *   StatusCode    = 3DIGIT
 *   CmdData       = *DataLine "." CRLF              (leading "." doubled)
 *
 * tor never sends a bare LF (§2.1: "Tor … MUST NOT generate LF instead of
 * CRLF"), so a line that ends without CR is malformed.  NUL bytes are
 * refused too: every text here is handed on as a C string.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-torctl-reply.h"

#include <string.h>

struct _ExgTorctlParser {
  GString    *line;        /* the partial line, raw, CR included */
  GArray     *lines;       /* of ExgTorctlLine: the reply being read */
  GString    *data;        /* non-NULL while inside a data block */
  gsize       reply_bytes; /* raw bytes of the reply so far */
  gsize       max_line;
  gsize       max_reply;
  const char *error;       /* set once; static string */
};

struct _ExgTorctlArgs {
  GPtrArray *positional;   /* of char*, owned */
  GPtrArray *keys;         /* of char*, owned; parallel to values */
  GPtrArray *values;
};

static void
line_clear (gpointer p)
{
  ExgTorctlLine *line = p;

  g_clear_pointer (&line->text, g_free);
  g_clear_pointer (&line->data, g_free);
}

/**
 * exg_torctl_parser_new:
 *
 * Creates a parser for one control connection, with the default bounds
 * %EXG_TORCTL_MAX_LINE and %EXG_TORCTL_MAX_REPLY.
 *
 * Returns: (transfer full): a new parser
 */
ExgTorctlParser *
exg_torctl_parser_new (void)
{
  ExgTorctlParser *parser = g_new0 (ExgTorctlParser, 1);

  parser->line = g_string_new (NULL);
  parser->lines = g_array_new (FALSE, TRUE, sizeof (ExgTorctlLine));
  g_array_set_clear_func (parser->lines, line_clear);
  parser->max_line = EXG_TORCTL_MAX_LINE;
  parser->max_reply = EXG_TORCTL_MAX_REPLY;
  return parser;
}

/**
 * exg_torctl_parser_free:
 * @parser: (transfer full) (nullable): a parser
 *
 * Frees @parser and any partial reply it holds.
 */
void
exg_torctl_parser_free (ExgTorctlParser *parser)
{
  if (parser == NULL)
    return;
  g_string_free (parser->line, TRUE);
  g_array_unref (parser->lines);
  if (parser->data != NULL)
    g_string_free (parser->data, TRUE);
  g_free (parser);
}

/**
 * exg_torctl_parser_set_limits:
 * @parser: a parser
 * @max_line: the longest line accepted, CRLF included
 * @max_reply: the most raw bytes one reply may span
 *
 * Changes the bounds; a line or reply over them is a parse error.
 */
void
exg_torctl_parser_set_limits (ExgTorctlParser *parser,
                              gsize            max_line,
                              gsize            max_reply)
{
  g_return_if_fail (parser != NULL);
  g_return_if_fail (max_line >= 6 && max_reply >= max_line);

  parser->max_line = max_line;
  parser->max_reply = max_reply;
}

/**
 * exg_torctl_parser_get_error:
 * @parser: a parser
 *
 * Returns: (nullable): why the last feed returned
 *   %EXG_TORCTL_PARSE_ERROR, as an untranslated sentence, or %NULL
 */
const char *
exg_torctl_parser_get_error (ExgTorctlParser *parser)
{
  g_return_val_if_fail (parser != NULL, NULL);

  return parser->error;
}

static ExgTorctlParseResult
fail (ExgTorctlParser *parser,
      const char      *why)
{
  parser->error = why;
  g_array_set_size (parser->lines, 0);
  if (parser->data != NULL)
    {
      g_string_free (parser->data, TRUE);
      parser->data = NULL;
    }
  g_string_truncate (parser->line, 0);
  return EXG_TORCTL_PARSE_ERROR;
}

static void
reply_clear (ExgTorctlReply *reply)
{
  guint i;

  for (i = 0; i < reply->n_lines; i++)
    line_clear (&reply->lines[i]);
  g_free (reply->lines);
  g_free (reply->event);
}

/* The first word of @text: an event's keyword ("CIRC", "CONF_CHANGED",
 * "NS" of "650+NS"). */
static char *
first_word (const char *text)
{
  gsize n = strcspn (text, " ");

  return g_strndup (text, n);
}

static ExgTorctlReply *
take_reply (ExgTorctlParser *parser)
{
  ExgTorctlReply *reply = g_atomic_rc_box_new0 (ExgTorctlReply);
  ExgTorctlLine *end;

  reply->n_lines = parser->lines->len;
  reply->lines = (ExgTorctlLine *) g_array_free (parser->lines, FALSE);
  parser->lines = g_array_new (FALSE, TRUE, sizeof (ExgTorctlLine));
  g_array_set_clear_func (parser->lines, line_clear);
  parser->reply_bytes = 0;

  end = &reply->lines[reply->n_lines - 1];
  reply->status = end->status;
  reply->is_event = end->status / 100 == 6;
  if (reply->is_event)
    reply->event = first_word (reply->lines[0].text);
  return reply;
}

/* One complete line, CRLF stripped, len bytes without NUL.  Returns
 * REPLY when it ended a reply, ERROR, or NEED_MORE. */
static ExgTorctlParseResult
handle_line (ExgTorctlParser *parser,
             const char      *text,
             gsize            len)
{
  ExgTorctlLine line = { 0, };
  char sep;

  if (parser->data != NULL)
    {
      ExgTorctlLine *owner;

      if (len == 1 && text[0] == '.')
        {
          owner = &g_array_index (parser->lines, ExgTorctlLine,
                                  parser->lines->len - 1);
          owner->data_len = parser->data->len;
          owner->data = g_string_free (parser->data, FALSE);
          parser->data = NULL;
          return EXG_TORCTL_PARSE_NEED_MORE;
        }
      /* RFC 2821 §4.5.2: a leading period was doubled by the sender */
      if (len > 0 && text[0] == '.')
        {
          text++;
          len--;
        }
      g_string_append_len (parser->data, text, len);
      g_string_append_c (parser->data, '\n');
      return EXG_TORCTL_PARSE_NEED_MORE;
    }

  if (len < 4 ||
      !g_ascii_isdigit (text[0]) || !g_ascii_isdigit (text[1]) ||
      !g_ascii_isdigit (text[2]))
    return fail (parser, "a reply line does not start with a status code");

  line.status = (guint) ((text[0] - '0') * 100 + (text[1] - '0') * 10 +
                         (text[2] - '0'));
  sep = text[3];
  switch (sep)
    {
    case '-':
      line.kind = EXG_TORCTL_LINE_MID;
      break;
    case '+':
      line.kind = EXG_TORCTL_LINE_DATA;
      break;
    case ' ':
      line.kind = EXG_TORCTL_LINE_END;
      break;
    default:
      return fail (parser, "a reply line has no '-', '+' or ' ' after its status");
    }

  /* tor writes each reply whole, so an event never sits inside a reply:
   * a reply mixing 6xx and other lines is malformed. */
  if (parser->lines->len > 0)
    {
      const ExgTorctlLine *first = &g_array_index (parser->lines, ExgTorctlLine, 0);

      if ((first->status / 100 == 6) != (line.status / 100 == 6))
        return fail (parser, "a reply mixes event and command status codes");
    }

  line.text = g_strndup (text + 4, len - 4);
  g_array_append_val (parser->lines, line);

  if (line.kind == EXG_TORCTL_LINE_DATA)
    parser->data = g_string_new (NULL);
  else if (line.kind == EXG_TORCTL_LINE_END)
    return EXG_TORCTL_PARSE_REPLY;
  return EXG_TORCTL_PARSE_NEED_MORE;
}

/**
 * exg_torctl_parser_feed:
 * @parser: a parser
 * @data: (array length=len): bytes as they arrived from tor
 * @len: how many
 * @consumed: (out): how many bytes of @data were used
 * @reply: (out) (transfer full) (optional): the complete reply, when
 *   the result is %EXG_TORCTL_PARSE_REPLY
 *
 * Parses bytes incrementally; partial lines are kept inside @parser.  On
 * %EXG_TORCTL_PARSE_NEED_MORE all @len bytes were used.  On
 * %EXG_TORCTL_PARSE_REPLY, *@consumed bytes were used up to the end of the
 * reply, and the rest must be fed again.  Hostile input gives
 * %EXG_TORCTL_PARSE_ERROR (see exg_torctl_parser_get_error()), which is
 * final.
 *
 * Returns: the result
 */
ExgTorctlParseResult
exg_torctl_parser_feed (ExgTorctlParser  *parser,
                        const guint8     *data,
                        gsize             len,
                        gsize            *consumed,
                        ExgTorctlReply  **reply)
{
  gsize pos = 0;

  g_return_val_if_fail (parser != NULL, EXG_TORCTL_PARSE_ERROR);
  g_return_val_if_fail (data != NULL || len == 0, EXG_TORCTL_PARSE_ERROR);
  g_return_val_if_fail (consumed != NULL, EXG_TORCTL_PARSE_ERROR);

  *consumed = 0;
  if (reply != NULL)
    *reply = NULL;
  if (parser->error != NULL)
    return EXG_TORCTL_PARSE_ERROR;

  while (pos < len)
    {
      const guint8 *lf = memchr (data + pos, '\n', len - pos);
      gsize chunk = (lf != NULL ? (gsize) (lf - (data + pos)) + 1 : len - pos);
      ExgTorctlParseResult r;
      gsize text_len;

      if (memchr (data + pos, '\0', chunk) != NULL)
        return fail (parser, "tor sent a NUL byte");
      if (parser->line->len + chunk > parser->max_line)
        return fail (parser, "a reply line is too long");
      parser->reply_bytes += chunk;
      if (parser->reply_bytes > parser->max_reply)
        return fail (parser, "a reply is too long");

      g_string_append_len (parser->line, (const char *) data + pos, chunk);
      pos += chunk;
      if (lf == NULL)
        break;

      /* a complete line: it must end in CRLF */
      text_len = parser->line->len - 1;
      if (text_len == 0 || parser->line->str[text_len - 1] != '\r')
        return fail (parser, "a reply line does not end in CRLF");
      text_len--;

      r = handle_line (parser, parser->line->str, text_len);
      g_string_truncate (parser->line, 0);
      if (r == EXG_TORCTL_PARSE_ERROR)
        return r;
      if (r == EXG_TORCTL_PARSE_REPLY)
        {
          ExgTorctlReply *done = take_reply (parser);

          *consumed = pos;
          if (reply != NULL)
            *reply = done;
          else
            exg_torctl_reply_unref (done);
          return EXG_TORCTL_PARSE_REPLY;
        }
    }

  *consumed = pos;
  return EXG_TORCTL_PARSE_NEED_MORE;
}

/**
 * exg_torctl_reply_ref:
 * @reply: a reply
 *
 * Returns: (transfer full): @reply
 */
ExgTorctlReply *
exg_torctl_reply_ref (ExgTorctlReply *reply)
{
  g_return_val_if_fail (reply != NULL, NULL);

  return g_atomic_rc_box_acquire (reply);
}

/**
 * exg_torctl_reply_unref:
 * @reply: (transfer full) (nullable): a reply
 *
 * Drops a reference; the last one frees the reply.
 */
void
exg_torctl_reply_unref (ExgTorctlReply *reply)
{
  if (reply != NULL)
    g_atomic_rc_box_release_full (reply, (GDestroyNotify) reply_clear);
}

/**
 * exg_torctl_reply_is_success:
 * @reply: a reply
 *
 * Returns: whether the status is 2xx (or 6xx, for an event)
 */
gboolean
exg_torctl_reply_is_success (const ExgTorctlReply *reply)
{
  g_return_val_if_fail (reply != NULL, FALSE);

  return reply->status / 100 == 2 || reply->status / 100 == 6;
}

/**
 * exg_torctl_reply_get_message:
 * @reply: a reply
 *
 * Returns: the end line's text: "OK", or tor's reason for a 4xx/5xx
 */
const char *
exg_torctl_reply_get_message (const ExgTorctlReply *reply)
{
  g_return_val_if_fail (reply != NULL, NULL);

  return reply->lines[reply->n_lines - 1].text;
}

/**
 * exg_torctl_reply_lookup:
 * @reply: a reply to GETINFO or GETCONF, or a CONF_CHANGED event
 * @key: a key such as "version" or "net/listeners/socks"
 *
 * Finds the "@key=value" line.  The value is returned raw, as tor wrote
 * it (quoted or not); for a data line ("250+ns/all=") it is the data
 * block.  A bare "@key" line (GETCONF of an unset option) gives "".
 *
 * Returns: (nullable): the value, owned by @reply, or %NULL
 */
const char *
exg_torctl_reply_lookup (const ExgTorctlReply *reply,
                         const char           *key)
{
  gsize key_len;
  guint i;

  g_return_val_if_fail (reply != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);

  key_len = strlen (key);
  for (i = 0; i < reply->n_lines; i++)
    {
      const ExgTorctlLine *line = &reply->lines[i];

      if (strncmp (line->text, key, key_len) != 0)
        continue;
      if (line->text[key_len] == '\0')
        return line->kind == EXG_TORCTL_LINE_DATA ? line->data : "";
      if (line->text[key_len] != '=')
        continue;
      if (line->kind == EXG_TORCTL_LINE_DATA)
        return line->data;
      return line->text + key_len + 1;
    }
  return NULL;
}

/**
 * exg_torctl_unquote:
 * @text: text starting with a double quote
 * @used: (out) (optional): bytes of @text up to and including the
 *   closing quote
 *
 * Decodes one quoted string as control-spec §2.1.1 advises for strings tor
 * writes: "\n", "\t", "\r" and three-digit octal escapes as in C, and a
 * backslash before any other character stands for that character.  An
 * escape that would give a NUL byte is refused.
 *
 * Returns: (transfer full) (nullable): the value, or %NULL when @text is
 *   not a well-formed quoted string
 */
char *
exg_torctl_unquote (const char *text,
                    gsize      *used)
{
  g_autoptr(GString) out = NULL;
  const char *p;

  g_return_val_if_fail (text != NULL, NULL);

  if (text[0] != '"')
    return NULL;
  out = g_string_new (NULL);
  for (p = text + 1; *p != '\0'; p++)
    {
      if (*p == '"')
        {
          if (used != NULL)
            *used = (gsize) (p + 1 - text);
          return g_string_free (g_steal_pointer (&out), FALSE);
        }
      if (*p != '\\')
        {
          g_string_append_c (out, *p);
          continue;
        }
      p++;
      switch (*p)
        {
        case '\0':
          return NULL;
        case 'n':
          g_string_append_c (out, '\n');
          break;
        case 't':
          g_string_append_c (out, '\t');
          break;
        case 'r':
          g_string_append_c (out, '\r');
          break;
        case '0': case '1': case '2': case '3':
          {
            int v;

            if (p[1] < '0' || p[1] > '7' || p[2] < '0' || p[2] > '7')
              return NULL;
            v = ((p[0] - '0') << 6) | ((p[1] - '0') << 3) | (p[2] - '0');
            if (v == 0)
              return NULL;
            g_string_append_c (out, (char) v);
            p += 2;
          }
          break;
        case '4': case '5': case '6': case '7':
          return NULL;   /* over \377 */
        default:
          g_string_append_c (out, *p);
          break;
        }
    }
  return NULL;   /* no closing quote */
}

/**
 * exg_torctl_quote:
 * @value: a string
 *
 * Quotes @value for a command: backslash and double quote are escaped, as
 * are CR, LF, tab and other control bytes (as octal), so that tor reads
 * the same string whether it decodes the argument as a QuotedString or a
 * CString.
 *
 * Returns: (transfer full): the quoted string
 */
char *
exg_torctl_quote (const char *value)
{
  GString *out;
  const guchar *p;

  g_return_val_if_fail (value != NULL, NULL);

  out = g_string_new ("\"");
  for (p = (const guchar *) value; *p != '\0'; p++)
    {
      switch (*p)
        {
        case '"':
        case '\\':
          g_string_append_c (out, '\\');
          g_string_append_c (out, (char) *p);
          break;
        case '\n':
          g_string_append (out, "\\n");
          break;
        case '\r':
          g_string_append (out, "\\r");
          break;
        case '\t':
          g_string_append (out, "\\t");
          break;
        default:
          if (*p < 0x20 || *p == 0x7f)
            g_string_append_printf (out, "\\%03o", *p);
          else
            g_string_append_c (out, (char) *p);
          break;
        }
    }
  g_string_append_c (out, '"');
  return g_string_free (out, FALSE);
}

/* A keyword argument's key: control-spec writes them as 1*(ALPHA / "_"),
 * and tor uses digits too (e.g. "CONFLUX_RTT").  Anything else before an
 * "=" (a "$FP=nick" LongName, "a=b" in a value) keeps the word positional. */
static gsize
key_length (const char *p)
{
  gsize n = 0;

  if (!g_ascii_isalpha (p[0]))
    return 0;
  while (g_ascii_isalnum (p[n]) || p[n] == '_' || p[n] == '-' || p[n] == '/')
    n++;
  return p[n] == '=' ? n : 0;
}

/* A word: a quoted string or bytes up to the next space. */
static char *
take_value (const char **pp)
{
  const char *p = *pp;
  gsize n;

  if (*p == '"')
    {
      char *value = exg_torctl_unquote (p, &n);

      if (value == NULL)
        return NULL;
      /* a quoted string ends its word */
      if (p[n] != '\0' && p[n] != ' ')
        {
          g_free (value);
          return NULL;
        }
      *pp = p + n;
      return value;
    }
  n = strcspn (p, " ");
  *pp = p + n;
  return g_strndup (p, n);
}

/**
 * exg_torctl_args_parse:
 * @text: a reply line's text, e.g. "AUTH METHODS=COOKIE COOKIEFILE=\"/x\""
 *
 * Splits @text at spaces into positional words and KEY=VALUE pairs.
 * Values and positional words may be quoted strings, decoded as by
 * exg_torctl_unquote().
 *
 * Returns: (transfer full) (nullable): the arguments, or %NULL when a
 *   quoted string is malformed
 */
ExgTorctlArgs *
exg_torctl_args_parse (const char *text)
{
  g_autoptr(ExgTorctlArgs) args = NULL;
  const char *p = text;

  g_return_val_if_fail (text != NULL, NULL);

  args = g_new0 (ExgTorctlArgs, 1);
  args->positional = g_ptr_array_new_with_free_func (g_free);
  args->keys = g_ptr_array_new_with_free_func (g_free);
  args->values = g_ptr_array_new_with_free_func (g_free);

  for (;;)
    {
      gsize klen;
      char *value;

      while (*p == ' ')
        p++;
      if (*p == '\0')
        break;

      klen = key_length (p);
      if (klen > 0)
        {
          char *key = g_strndup (p, klen);

          p += klen + 1;
          value = take_value (&p);
          if (value == NULL)
            {
              g_free (key);
              return NULL;
            }
          g_ptr_array_add (args->keys, key);
          g_ptr_array_add (args->values, value);
        }
      else
        {
          value = take_value (&p);
          if (value == NULL)
            return NULL;
          g_ptr_array_add (args->positional, value);
        }
    }
  return g_steal_pointer (&args);
}

/**
 * exg_torctl_args_free:
 * @args: (transfer full) (nullable): arguments
 */
void
exg_torctl_args_free (ExgTorctlArgs *args)
{
  if (args == NULL)
    return;
  g_ptr_array_unref (args->positional);
  g_ptr_array_unref (args->keys);
  g_ptr_array_unref (args->values);
  g_free (args);
}

/**
 * exg_torctl_args_get_n_positional:
 * @args: arguments
 *
 * Returns: how many positional words there are
 */
guint
exg_torctl_args_get_n_positional (const ExgTorctlArgs *args)
{
  g_return_val_if_fail (args != NULL, 0);

  return args->positional->len;
}

/**
 * exg_torctl_args_get_positional:
 * @args: arguments
 * @index: 0 for the first word
 *
 * Returns: (nullable): the word, unquoted, or %NULL past the last one
 */
const char *
exg_torctl_args_get_positional (const ExgTorctlArgs *args,
                                guint                index)
{
  g_return_val_if_fail (args != NULL, NULL);

  if (index >= args->positional->len)
    return NULL;
  return g_ptr_array_index (args->positional, index);
}

/**
 * exg_torctl_args_lookup:
 * @args: arguments
 * @key: a key, case-sensitive ("PROGRESS")
 *
 * Returns: (nullable): the first value given for @key, unquoted, or %NULL
 */
const char *
exg_torctl_args_lookup (const ExgTorctlArgs *args,
                        const char          *key)
{
  guint i;

  g_return_val_if_fail (args != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);

  for (i = 0; i < args->keys->len; i++)
    if (strcmp (g_ptr_array_index (args->keys, i), key) == 0)
      return g_ptr_array_index (args->values, i);
  return NULL;
}

/**
 * exg_torctl_bootstrap_parse:
 * @text: "NOTICE BOOTSTRAP PROGRESS=85 TAG=ap_conn SUMMARY=\"…\"", with or
 *   without the leading "STATUS_CLIENT" of the event
 * @out: (out caller-allocates): filled in on success; clear it with
 *   exg_torctl_bootstrap_clear()
 *
 * Reads a bootstrap status.  tor says "WARN BOOTSTRAP … WARNING=\"…\""
 * when a step fails ("Connection refused", "No route to host"): that is
 * what a user needs to hear when bootstrap stalls, so it is kept.
 *
 * Returns: %FALSE (and @out untouched) when @text is not a bootstrap
 *   status with a PROGRESS of 0 to 100
 */
gboolean
exg_torctl_bootstrap_parse (const char         *text,
                            ExgTorctlBootstrap *out)
{
  g_autoptr(ExgTorctlArgs) args = NULL;
  const char *progress, *tag, *summary, *warning = NULL;
  gboolean is_bootstrap = FALSE;
  gboolean is_warn = FALSE;
  guint64 value;
  char *end = NULL;

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);

  args = exg_torctl_args_parse (text);
  if (args == NULL)
    return FALSE;
  for (guint i = 0; i < args->positional->len; i++)
    {
      const char *word = g_ptr_array_index (args->positional, i);

      if (strcmp (word, "BOOTSTRAP") == 0)
        is_bootstrap = TRUE;
      else if (strcmp (word, "WARN") == 0 || strcmp (word, "ERR") == 0)
        is_warn = TRUE;
    }
  progress = exg_torctl_args_lookup (args, "PROGRESS");
  if (!is_bootstrap || progress == NULL || !g_ascii_isdigit (progress[0]))
    return FALSE;
  value = g_ascii_strtoull (progress, &end, 10);
  if (*end != '\0' || value > 100)
    return FALSE;

  tag = exg_torctl_args_lookup (args, "TAG");
  summary = exg_torctl_args_lookup (args, "SUMMARY");
  if (is_warn)
    warning = exg_torctl_args_lookup (args, "WARNING");
  out->progress = (guint) value;
  out->tag = g_strdup (tag != NULL ? tag : "");
  out->summary = g_strdup (summary != NULL ? summary : "");
  out->warning = g_strdup (warning);
  return TRUE;
}

/**
 * exg_torctl_bootstrap_clear:
 * @bootstrap: as filled in by exg_torctl_bootstrap_parse(), or zeroed
 */
void
exg_torctl_bootstrap_clear (ExgTorctlBootstrap *bootstrap)
{
  g_clear_pointer (&bootstrap->tag, g_free);
  g_clear_pointer (&bootstrap->summary, g_free);
  g_clear_pointer (&bootstrap->warning, g_free);
}
