/* exg-tor-connect.h: the "Connect to Tor" page: nothing leaves the machine
 * until the user presses Connect; then tor's own bootstrap progress, and
 * plain words when the network cannot be reached.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "exg-application.h"

G_BEGIN_DECLS

/* Without a step of bootstrap progress for this long after Connect, the
 * page says that tor cannot reach the network */
#define EXG_TOR_CONNECT_STALL_SECONDS 30

/* Debian's tor service (tor@default) */
#define EXG_TOR_SYSTEM_CONTROL "/run/tor/control"

#define EXG_TYPE_TOR_CONNECT (exg_tor_connect_get_type ())
G_DECLARE_FINAL_TYPE (ExgTorConnect, exg_tor_connect, EXG, TOR_CONNECT, GtkBox)

GtkWidget  *exg_tor_connect_new                  (ExgApplication *app);

gboolean    exg_tor_connect_get_needed           (ExgTorConnect  *self);
void        exg_tor_connect_set_stall_timeout    (ExgTorConnect  *self,
                                                  guint           seconds);

char       *exg_tor_find_system_control          (void);

G_END_DECLS
