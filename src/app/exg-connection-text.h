/* exg-connection-text.h: what the connections view says about one
 * connection, for people: its state (with why, for a failure), its exit,
 * and the tooltip's detail (a tor circuit, all of why it failed).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-core.h"

G_BEGIN_DECLS

/* The State cell: "Open", or "Failed: connection refused".
 * (transfer full) */
char *exg_connection_state_text  (ExgConnInfo  *info,
                                  ExgConnState  state);
/* The Exit cell: "🇸🇪 exit-1 (Sweden)"; "" before an exit is chosen.
 * (transfer full) */
char *exg_connection_exit_label  (ExgConnInfo  *info);
/* What the Exit cell of a short-named exit looks like, to size the
 * column.  (transfer full) */
char *exg_connection_exit_sample (void);
/* The row's tooltip: a tor connection's circuit; for a failure, also all
 * of why; for a CONNECT by address through a tor or proxy exit, that the
 * client resolves names itself and how to stop it; NULL when there is
 * nothing to add.  (transfer full) */
char *exg_connection_detail_text (ExgConnInfo  *info,
                                  ExgConnState  state);
/* How to make a client send names rather than addresses (socks5h,
 * "proxy DNS", curl --socks5-hostname), in one sentence.  (transfer none) */
const char *exg_connection_leak_advice (void);

G_END_DECLS
