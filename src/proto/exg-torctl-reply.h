/* exg-torctl-reply.h: tor control-port replies, parsed incrementally.
 *
 * Pure: bytes in, complete replies out.  No I/O, no clock, no logging.
 * control-spec.txt §2.3: a reply is any number of "NNN-" mid lines and
 * "NNN+" data lines (each followed by a dot-stuffed data block ending in
 * "." CRLF), then one "NNN " end line.  Asynchronous events are replies
 * whose status is 650.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Defaults for the bounds: a reply line (or data line) is at most
 * EXG_TORCTL_MAX_LINE bytes, a whole reply (ns/all and md/all of the
 * public network are a few MB) at most EXG_TORCTL_MAX_REPLY. */
#define EXG_TORCTL_MAX_LINE   (64 * 1024)
#define EXG_TORCTL_MAX_REPLY  (64 * 1024 * 1024)

typedef enum {
  EXG_TORCTL_LINE_MID,   /* "250-text" */
  EXG_TORCTL_LINE_DATA,  /* "250+text" and its data block */
  EXG_TORCTL_LINE_END,   /* "250 text", the last line of every reply */
} ExgTorctlLineKind;

typedef struct {
  ExgTorctlLineKind  kind;
  guint              status;     /* 3 digits, 000 … 999 */
  char              *text;       /* after the separator, without CRLF */
  char              *data;       /* DATA only: the block, dot-unstuffed, each
                                  * line ended by "\n"; NULL otherwise */
  gsize              data_len;   /* strlen (data) */
} ExgTorctlLine;

/* A complete reply.  Reference counted; the fields are read-only. */
typedef struct {
  guint          status;      /* the end line's status */
  gboolean       is_event;    /* status 6xx: an asynchronous event */
  char          *event;       /* is_event: the event keyword ("CIRC",
                               * "STATUS_CLIENT" …), else NULL */
  guint          n_lines;     /* >= 1; lines[n_lines - 1] is the end line */
  ExgTorctlLine *lines;
} ExgTorctlReply;

typedef enum {
  EXG_TORCTL_PARSE_NEED_MORE,  /* all bytes consumed, no reply complete yet */
  EXG_TORCTL_PARSE_REPLY,      /* one reply in *reply; feed the rest again */
  EXG_TORCTL_PARSE_ERROR,      /* malformed or over a bound; the stream is
                                * unusable and every later feed fails too */
} ExgTorctlParseResult;

typedef struct _ExgTorctlParser ExgTorctlParser;

ExgTorctlParser      *exg_torctl_parser_new         (void);
void                  exg_torctl_parser_free        (ExgTorctlParser  *parser);
void                  exg_torctl_parser_set_limits  (ExgTorctlParser  *parser,
                                                     gsize             max_line,
                                                     gsize             max_reply);
ExgTorctlParseResult  exg_torctl_parser_feed        (ExgTorctlParser  *parser,
                                                     const guint8     *data,
                                                     gsize             len,
                                                     gsize            *consumed,
                                                     ExgTorctlReply  **reply);
const char           *exg_torctl_parser_get_error   (ExgTorctlParser  *parser);

ExgTorctlReply       *exg_torctl_reply_ref          (ExgTorctlReply   *reply);
void                  exg_torctl_reply_unref        (ExgTorctlReply   *reply);
gboolean              exg_torctl_reply_is_success   (const ExgTorctlReply *reply);
const char           *exg_torctl_reply_get_message  (const ExgTorctlReply *reply);
const char           *exg_torctl_reply_lookup       (const ExgTorctlReply *reply,
                                                     const char           *key);

/* Arguments of one line: positional words and KEY=VALUE pairs, in order. */
typedef struct _ExgTorctlArgs ExgTorctlArgs;

ExgTorctlArgs        *exg_torctl_args_parse         (const char       *text);
void                  exg_torctl_args_free          (ExgTorctlArgs    *args);
guint                 exg_torctl_args_get_n_positional (const ExgTorctlArgs *args);
const char           *exg_torctl_args_get_positional   (const ExgTorctlArgs *args,
                                                        guint                index);
const char           *exg_torctl_args_lookup           (const ExgTorctlArgs *args,
                                                        const char          *key);

/* A STATUS_CLIENT BOOTSTRAP status (control-spec §4.1.10), from the
 * event or from GETINFO status/bootstrap-phase. */
typedef struct {
  guint  progress;   /* 0 … 100 */
  char  *tag;        /* "" when tor gave none */
  char  *summary;    /* "" when tor gave none */
  char  *warning;    /* WARN or ERR severity only: WARNING=, else NULL */
} ExgTorctlBootstrap;

gboolean              exg_torctl_bootstrap_parse    (const char          *text,
                                                     ExgTorctlBootstrap  *out);
void                  exg_torctl_bootstrap_clear    (ExgTorctlBootstrap  *bootstrap);

char                 *exg_torctl_unquote            (const char       *text,
                                                     gsize            *used);
char                 *exg_torctl_quote              (const char       *value);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ExgTorctlParser, exg_torctl_parser_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ExgTorctlReply, exg_torctl_reply_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ExgTorctlArgs, exg_torctl_args_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ExgTorctlBootstrap, exg_torctl_bootstrap_clear)

G_END_DECLS
