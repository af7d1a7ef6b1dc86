/* exg-iso3166.h: whether two letters are an ISO 3166-1 alpha-2 country.
 *
 * A small static table, so that the daemon can check a country code
 * without the app's iso-codes JSON (and its json-glib).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean exg_iso3166_is_assigned (const char *code);

G_END_DECLS
