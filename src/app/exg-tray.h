/* exg-tray.h: the status icon (libayatana-appindicator3).  It mirrors the
 * application's actions and owns no state; without ayatana at build time
 * it is an inert object.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define EXG_TYPE_TRAY (exg_tray_get_type ())
G_DECLARE_FINAL_TYPE (ExgTray, exg_tray, EXG, TRAY, GObject)

typedef struct _ExgApplication ExgApplication;

ExgTray  *exg_tray_new           (ExgApplication *app);
/* TRUE while a tray host shows the icon ("notify::available") */
gboolean  exg_tray_get_available (ExgTray        *self);

G_END_DECLS
