/* exg-preferences.h: the preferences dialog (GSettings) and the exits
 * editor (the key file the daemon reads too).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-application.h"

G_BEGIN_DECLS

#define EXG_TYPE_PREFERENCES (exg_preferences_get_type ())
G_DECLARE_FINAL_TYPE (ExgPreferences, exg_preferences, EXG, PREFERENCES, GtkDialog)

GtkWidget *exg_preferences_new (ExgApplication *app,
                                GtkWindow      *parent);

G_END_DECLS
