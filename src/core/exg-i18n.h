/* exg-i18n.h: the message catalogue, for the app and the daemon alike.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void exg_i18n_bind_textdomain (void);

G_END_DECLS
