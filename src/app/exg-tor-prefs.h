/* exg-tor-prefs.h: where Tor exits come from, in Preferences: a tor the
 * app runs, a tor that runs already (its control port or socket), or
 * none.  The choice is the [tor] group of the exits file.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "exg-application.h"

G_BEGIN_DECLS

#define EXG_TYPE_TOR_PREFS (exg_tor_prefs_get_type ())
G_DECLARE_FINAL_TYPE (ExgTorPrefs, exg_tor_prefs, EXG, TOR_PREFS, GtkBox)

GtkWidget *exg_tor_prefs_new (ExgApplication *app);

G_END_DECLS
