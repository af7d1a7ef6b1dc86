/* exg-country.c: country names for people, from Debian's iso-codes.
 *
 * The list comes from iso-codes' JSON (the XML files are deprecated
 * upstream) and the names are translated through its own gettext domain,
 * so every language iso-codes knows comes for free.  Where iso-codes has a
 * "common_name" ("Bolivia" for "Bolivia, Plurinational State of", "South
 * Korea" for "Korea, Republic of") we use it, as gnome-desktop does: a
 * country list is read by people, not diplomats.  Translations exist for
 * those msgids too.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-country.h"

#include <json-glib/json-glib.h>
#include <libintl.h>
#include <string.h>

/* Debian's iso-codes; the project targets Debian packages only */
#define ISO_CODES_JSON      "/usr/share/iso-codes/json/iso_3166-1.json"
#define ISO_CODES_LOCALEDIR "/usr/share/locale"
#define ISO_3166_DOMAIN     "iso_3166-1"

static const char *
get_string_member (JsonObject *object,
                   const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static GHashTable *
load_countries (void)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) error = NULL;
  GHashTable *countries = g_hash_table_new_full (g_str_hash, g_str_equal,
                                                 g_free, g_free);
  JsonNode *root;
  JsonNode *list;

  bindtextdomain (ISO_3166_DOMAIN, ISO_CODES_LOCALEDIR);
  bind_textdomain_codeset (ISO_3166_DOMAIN, "UTF-8");

  if (!json_parser_load_from_mapped_file (parser, ISO_CODES_JSON, &error))
    {
      g_warning ("Could not read country names from %s: %s", ISO_CODES_JSON,
                 error->message);
      return countries;
    }

  root = json_parser_get_root (parser);
  list = JSON_NODE_HOLDS_OBJECT (root)
         ? json_object_get_member (json_node_get_object (root), "3166-1")
         : NULL;
  if (list == NULL || !JSON_NODE_HOLDS_ARRAY (list))
    {
      g_warning ("Could not read country names from %s: no “3166-1” list",
                 ISO_CODES_JSON);
      return countries;
    }

  for (guint i = 0; i < json_array_get_length (json_node_get_array (list)); i++)
    {
      JsonNode *element;
      JsonObject *country;
      const char *alpha_2, *name;

      element = json_array_get_element (json_node_get_array (list), i);
      if (!JSON_NODE_HOLDS_OBJECT (element))
        continue;
      country = json_node_get_object (element);
      alpha_2 = get_string_member (country, "alpha_2");
      name = get_string_member (country, "common_name");
      if (name == NULL)
        name = get_string_member (country, "name");
      if (alpha_2 == NULL || strlen (alpha_2) != 2 || name == NULL)
        continue;

      g_hash_table_insert (countries, g_ascii_strup (alpha_2, -1),
                           g_strdup (name));
    }

  g_debug ("%u countries from %s", g_hash_table_size (countries),
           ISO_CODES_JSON);
  return countries;
}

/* "SE" → the English name; loaded on first use, kept for the process */
static GHashTable *
get_countries (void)
{
  static GHashTable *countries;

  if (g_once_init_enter (&countries))
    g_once_init_leave (&countries, load_countries ());

  return countries;
}

static gboolean
to_upper_code (const char *iso,
               char        code[3])
{
  if (iso == NULL || !g_ascii_isalpha (iso[0]) || !g_ascii_isalpha (iso[1])
      || iso[2] != '\0')
    return FALSE;

  code[0] = g_ascii_toupper (iso[0]);
  code[1] = g_ascii_toupper (iso[1]);
  code[2] = '\0';
  return TRUE;
}

/**
 * exg_country_get_name:
 * @iso: a two-letter ISO 3166-1 code, any case
 *
 * Returns: (transfer none): the country's name in the user's language
 *   (LC_MESSAGES), the upper-case code when iso-codes does not know it, or
 *   "" when @iso is not two letters
 */
const char *
exg_country_get_name (const char *iso)
{
  const char *name;
  char code[3];

  if (!to_upper_code (iso, code))
    return "";

  name = g_hash_table_lookup (get_countries (), code);
  if (name == NULL)
    {
      /* interned: at most 26 × 26 of them, and they live as long as the
       * process, as promised */
      return g_intern_string (code);
    }

  /* the translation lives in the mapped catalog, the name in our table:
   * both for the life of the process */
  return dgettext (ISO_3166_DOMAIN, name);
}

/**
 * exg_country_dup_flag:
 * @iso: a two-letter ISO 3166-1 code, any case
 *
 * Returns: (transfer full): the flag emoji (the two regional indicator
 *   symbols of the code), or "" when iso-codes does not know @iso
 */
char *
exg_country_dup_flag (const char *iso)
{
  gunichar flag[2];
  char code[3];

  if (!to_upper_code (iso, code)
      || !g_hash_table_contains (get_countries (), code))
    return g_strdup ("");

  /* U+1F1E6 REGIONAL INDICATOR SYMBOL LETTER A … Z */
  flag[0] = 0x1F1E6 + (code[0] - 'A');
  flag[1] = 0x1F1E6 + (code[1] - 'A');
  return g_ucs4_to_utf8 (flag, 2, NULL, NULL, NULL);
}

/**
 * exg_country_is_known:
 * @iso: (nullable): a code, any case
 *
 * Returns: TRUE when iso-codes lists @iso as an ISO 3166-1 alpha-2 code
 */
gboolean
exg_country_is_known (const char *iso)
{
  char code[3];

  return to_upper_code (iso, code)
         && g_hash_table_contains (get_countries (), code);
}

/* for comparing what people type with a name: case and composition aside */
static char *
fold (const char *text)
{
  g_autofree char *normal = g_utf8_normalize (text, -1, G_NORMALIZE_ALL);

  return normal != NULL ? g_utf8_casefold (normal, -1) : NULL;
}

/**
 * exg_country_code_from_text:
 * @text: (nullable): what someone typed: a code ("se", "SE") or a
 *   country's name, in English or in the user's language ("Sweden",
 *   "sverige"), with surrounding blanks
 *
 * Returns: (nullable): the upper-case code, or %NULL when @text names no
 *   country iso-codes knows ("" is %NULL too)
 */
const char *
exg_country_code_from_text (const char *text)
{
  g_autofree char *stripped = NULL;
  g_autofree char *wanted = NULL;
  GHashTableIter iter;
  gpointer key, value;
  char code[3];

  if (text == NULL)
    return NULL;
  stripped = g_strstrip (g_strdup (text));
  if (to_upper_code (stripped, code))
    return exg_country_is_known (code) ? g_intern_string (code) : NULL;

  wanted = fold (stripped);
  if (wanted == NULL || wanted[0] == '\0')
    return NULL;

  g_hash_table_iter_init (&iter, get_countries ());
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      g_autofree char *english = fold (value);
      g_autofree char *translated = fold (dgettext (ISO_3166_DOMAIN, value));

      if (g_strcmp0 (wanted, english) == 0
          || g_strcmp0 (wanted, translated) == 0)
        return g_intern_string (key);
    }
  return NULL;
}
