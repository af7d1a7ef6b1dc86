/* exg-window.h: the main window: proxy switch, exit picker and the pages
 * (connections, name lookups, traffic, routers).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-application.h"

G_BEGIN_DECLS

#define EXG_TYPE_WINDOW (exg_window_get_type ())
G_DECLARE_FINAL_TYPE (ExgWindow, exg_window, EXG, WINDOW, GtkApplicationWindow)

ExgWindow *exg_window_new (ExgApplication *app);

G_END_DECLS
