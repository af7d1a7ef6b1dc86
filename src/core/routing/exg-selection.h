/* exg-selection.h: a router selection (socks-extensions.txt §5): country,
 * inclusive IPv4 range and minimum bandwidth.  A plain value type.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _ExgRouter ExgRouter;

/* Which kind of exit (the username key via=). */
typedef enum {
  EXG_SELECTION_VIA_ANY,
  EXG_SELECTION_VIA_TOR,
  EXG_SELECTION_VIA_PROXY,    /* SOCKS5, SOCKS4a or HTTP CONNECT upstreams */
  EXG_SELECTION_VIA_DIRECT,
} ExgSelectionVia;

typedef struct {
  char            country[3];     /* upper-case ISO 3166-1 alpha-2; "" = any */
  guint32         range_start;    /* inclusive, host byte order */
  guint32         range_end;      /* inclusive, host byte order */
  guint64         min_bandwidth;  /* bytes/s; 0 = any */
  ExgSelectionVia via;
  guint16         port;           /* the target port when known, else 0: an
                                   * exit whose policy rejects it does not
                                   * match.  Not part of "any". */
} ExgSelection;

void     exg_selection_init_any       (ExgSelection       *sel);
gboolean exg_selection_is_any         (const ExgSelection *sel);
gboolean exg_selection_equal          (const ExgSelection *a,
                                       const ExgSelection *b);

/* country: two letters (any case) or "" / NULL for any; FALSE if invalid */
gboolean exg_selection_set_country    (ExgSelection       *sel,
                                       const char         *country);

/* "A.B.C.D-E.F.G.H" (inclusive) or a CIDR "A.B.C.D/N"; FALSE if malformed
 * or start > end. */
gboolean exg_selection_parse_range    (const char         *text,
                                       guint32            *start,
                                       guint32            *end);

/* The SOCKS5 username form: comma-separated keys country=, min-bw=,
 * range=, via=tor|proxy|direct.  Returns TRUE and fills *sel (starting from any) when the
 * username is a selection; FALSE when it is just an isolation key.  A
 * username that uses the keys but has a bad value sets @error
 * (EXG_ERROR_NOT_ALLOWED) and returns FALSE. */
gboolean exg_selection_parse_username (const char         *username,
                                       ExgSelection       *sel,
                                       GError            **error);

/* The username without its selection keys (what is left isolates
 * circuits); "" when nothing is left.  (transfer full) */
char    *exg_selection_strip_username (const char         *username);

/* Every condition holds (country, range, bandwidth, kind of exit, and
 * the exit policy allows the port when it is known).  A router that
 * advertises no bandwidth is judged by its observed throughput. */
gboolean exg_selection_matches        (const ExgSelection *sel,
                                       ExgRouter          *router);

/* "country=SE range=… min-bw=…" or "any", for logs and the UI. */
/* Why a selection matches what it matches, among the routers that are up:
 * each count is of the routers that pass every filter before it. */
typedef struct {
  guint n_routers;          /* all of them */
  guint n_up;               /* up */
  guint n_in_country;       /* … of the kind (via=), port and country */
  guint n_in_range;         /* … with an address in the range */
  guint n_matching;         /* … with the minimum bandwidth: the matches */
  guint n_below_bandwidth;  /* n_in_range - n_matching */
} ExgMatchReport;

/* @routers: a GListModel of ExgRouter (the registry) */
void     exg_selection_explain        (const ExgSelection *sel,
                                       GListModel         *routers,
                                       ExgMatchReport     *report);

char    *exg_selection_to_string      (const ExgSelection *sel);

G_END_DECLS
