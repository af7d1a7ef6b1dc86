/* exg-ui-util.h: what the in-process window tests share besides
 * tests/lib's bounded waits: finding a widget by its buildable name.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* The widget below @root whose buildable name is @name (internal
 * children too); fails the test when there is none. */
gpointer exg_ui_find_widget (GtkWidget  *root,
                             const char *name);

G_END_DECLS
