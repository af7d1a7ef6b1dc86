/* exg-country.h: country names for people, from Debian's iso-codes
 * (translated through its "iso_3166-1" gettext domain), and flag emoji.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The name in the user's language; the code itself when unknown.
 * (transfer none): valid for the life of the process. */
const char *exg_country_get_name (const char *iso);
/* Regional-indicator emoji for a two-letter code; "" for unknown.
 * (transfer full) */
char       *exg_country_dup_flag (const char *iso);
/* TRUE when iso-codes knows the code (any case). */
gboolean    exg_country_is_known (const char *iso);
/* "se", "Sweden" or (in Swedish) "Sverige" → "SE"; NULL when no country.
 * (transfer none) */
const char *exg_country_code_from_text (const char *text);

G_END_DECLS
