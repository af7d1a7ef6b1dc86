/* exg-session.h: one client connection, from the first byte to the close.
 * Internal to the core: only ExgServer creates sessions.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

G_END_DECLS
