/* test-country.c: country names from iso-codes, translated, and flags.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-country.h"
#include "exg-iso3166.h"

#include <locale.h>

static void
test_names_c_locale (void)
{
  g_assert_nonnull (setlocale (LC_ALL, "C"));

  g_assert_cmpstr (exg_country_get_name ("SE"), ==, "Sweden");
  g_assert_cmpstr (exg_country_get_name ("se"), ==, "Sweden");
  g_assert_cmpstr (exg_country_get_name ("De"), ==, "Germany");
  g_assert_cmpstr (exg_country_get_name ("US"), ==, "United States");
  /* common_name where iso-codes has one */
  g_assert_cmpstr (exg_country_get_name ("KR"), ==, "South Korea");
  g_assert_cmpstr (exg_country_get_name ("BO"), ==, "Bolivia");
  /* unknown: the code itself, upper case, and stable */
  g_assert_cmpstr (exg_country_get_name ("zz"), ==, "ZZ");
  g_assert_true (exg_country_get_name ("zz") == exg_country_get_name ("ZZ"));
  /* not a code at all */
  g_assert_cmpstr (exg_country_get_name (""), ==, "");
  g_assert_cmpstr (exg_country_get_name ("SWE"), ==, "");
  g_assert_cmpstr (exg_country_get_name ("S"), ==, "");
  g_assert_cmpstr (exg_country_get_name ("??"), ==, "");
  g_assert_cmpstr (exg_country_get_name (NULL), ==, "");
}

/* Swedish through iso-codes' own catalog.  Uses sv_SE.UTF-8 when the
 * system has it; otherwise C.UTF-8 with LANGUAGE=sv, which glibc honours
 * for any locale but plain "C"/"POSIX". */
static void
test_names_swedish (void)
{
  g_autofree char *old_language = g_strdup (g_getenv ("LANGUAGE"));
  const char *how;

  if (setlocale (LC_ALL, "sv_SE.UTF-8") != NULL)
    {
      g_unsetenv ("LANGUAGE");
      how = "sv_SE.UTF-8";
    }
  else if (setlocale (LC_ALL, "C.UTF-8") != NULL)
    {
      g_setenv ("LANGUAGE", "sv", TRUE);
      /* setlocale again so that gettext drops what it has cached */
      setlocale (LC_ALL, "C.UTF-8");
      how = "C.UTF-8 with LANGUAGE=sv";
    }
  else
    {
      g_test_skip ("Neither sv_SE.UTF-8 nor C.UTF-8 is available");
      return;
    }
  g_test_message ("Swedish through %s", how);

  if (!g_file_test ("/usr/share/locale/sv/LC_MESSAGES/iso_3166-1.mo",
                    G_FILE_TEST_EXISTS))
    {
      g_test_skip ("iso-codes has no Swedish catalog here");
    }
  else
    {
      g_assert_cmpstr (exg_country_get_name ("SE"), ==, "Sverige");
      g_assert_cmpstr (exg_country_get_name ("de"), ==, "Tyskland");
      g_assert_cmpstr (exg_country_get_name ("KR"), ==, "Sydkorea");
      g_assert_cmpstr (exg_country_get_name ("ZZ"), ==, "ZZ");
      /* typed names: the Swedish one, and the English one still */
      g_assert_cmpstr (exg_country_code_from_text ("Sverige"), ==, "SE");
      g_assert_cmpstr (exg_country_code_from_text ("tyskland"), ==, "DE");
      g_assert_cmpstr (exg_country_code_from_text ("Sweden"), ==, "SE");
    }

  if (old_language != NULL)
    g_setenv ("LANGUAGE", old_language, TRUE);
  else
    g_unsetenv ("LANGUAGE");
  setlocale (LC_ALL, "C");
  g_assert_cmpstr (exg_country_get_name ("SE"), ==, "Sweden");
}

static void
test_code_from_text (void)
{
  g_assert_nonnull (setlocale (LC_ALL, "C"));
  g_assert_cmpstr (exg_country_code_from_text ("SE"), ==, "SE");
  g_assert_cmpstr (exg_country_code_from_text ("se"), ==, "SE");
  g_assert_cmpstr (exg_country_code_from_text (" se "), ==, "SE");
  g_assert_cmpstr (exg_country_code_from_text ("Sweden"), ==, "SE");
  g_assert_cmpstr (exg_country_code_from_text ("SWEDEN"), ==, "SE");
  g_assert_cmpstr (exg_country_code_from_text ("  germany\t"), ==, "DE");
  /* iso-codes' common names, as the lists show them */
  g_assert_cmpstr (exg_country_code_from_text ("South Korea"), ==, "KR");
  g_assert_cmpstr (exg_country_code_from_text ("Bolivia"), ==, "BO");
  g_assert_cmpstr (exg_country_code_from_text ("Åland Islands"), ==, "AX");
  /* a composed and a decomposed Å are the same letter */
  g_assert_cmpstr (exg_country_code_from_text ("A\xcc\x8aland islands"), ==, "AX");

  g_assert_null (exg_country_code_from_text ("ZZ"));
  g_assert_null (exg_country_code_from_text ("Swed"));
  g_assert_null (exg_country_code_from_text ("SWE"));
  g_assert_null (exg_country_code_from_text (""));
  g_assert_null (exg_country_code_from_text ("   "));
  g_assert_null (exg_country_code_from_text (NULL));
}

static void
test_flags (void)
{
  g_autofree char *se = exg_country_dup_flag ("SE");
  g_autofree char *se_lower = exg_country_dup_flag ("se");
  g_autofree char *us = exg_country_dup_flag ("US");
  g_autofree char *unknown = exg_country_dup_flag ("ZZ");
  g_autofree char *bad = exg_country_dup_flag ("S");
  g_autofree char *null = exg_country_dup_flag (NULL);

  /* U+1F1F8 U+1F1EA */
  g_assert_cmpstr (se, ==, "\xf0\x9f\x87\xb8\xf0\x9f\x87\xaa");
  g_assert_cmpstr (se, ==, "🇸🇪");
  g_assert_cmpstr (se_lower, ==, "🇸🇪");
  g_assert_cmpstr (us, ==, "🇺🇸");
  g_assert_cmpstr (unknown, ==, "");
  g_assert_cmpstr (bad, ==, "");
  g_assert_cmpstr (null, ==, "");
}

static void
test_known (void)
{
  g_assert_true (exg_country_is_known ("SE"));
  g_assert_true (exg_country_is_known ("se"));
  g_assert_true (exg_country_is_known ("AX"));
  g_assert_false (exg_country_is_known ("ZZ"));
  g_assert_false (exg_country_is_known ("EU"));
  g_assert_false (exg_country_is_known ("??"));
  g_assert_false (exg_country_is_known ("SWE"));
  g_assert_false (exg_country_is_known (""));
  g_assert_false (exg_country_is_known (NULL));
}

/* every code iso-codes has gets a name of its own and a flag */
static void
test_all_codes (void)
{
  guint known = 0;

  g_assert_nonnull (setlocale (LC_ALL, "C"));
  for (char a = 'A'; a <= 'Z'; a++)
    for (char b = 'A'; b <= 'Z'; b++)
      {
        char code[3] = { a, b, '\0' };
        g_autofree char *flag = exg_country_dup_flag (code);

        if (!exg_country_is_known (code))
          {
            g_assert_cmpstr (flag, ==, "");
            continue;
          }
        known++;
        g_assert_cmpstr (exg_country_get_name (code), !=, code);
        g_assert_true (g_utf8_validate (exg_country_get_name (code), -1, NULL));
        g_assert_cmpuint (g_utf8_strlen (flag, -1), ==, 2);
      }

  /* ISO 3166-1 has 249 codes */
  g_assert_cmpuint (known, >=, 240);
  g_assert_cmpuint (known, <=, 260);
}

/* the daemon's static table (core, no json-glib) says what iso-codes says */
static void
test_static_table_matches_iso_codes (void)
{
  guint assigned = 0;

  for (char a = 'A'; a <= 'Z'; a++)
    for (char b = 'A'; b <= 'Z'; b++)
      {
        char code[3] = { a, b, '\0' };
        char lower[3] = { g_ascii_tolower (a), g_ascii_tolower (b), '\0' };

        g_assert_cmpint (exg_iso3166_is_assigned (code), ==,
                         exg_country_is_known (code));
        g_assert_cmpint (exg_iso3166_is_assigned (lower), ==,
                         exg_country_is_known (code));
        assigned += exg_iso3166_is_assigned (code);
      }
  g_assert_cmpuint (assigned, ==, 249);

  g_assert_true (exg_iso3166_is_assigned ("SE"));
  g_assert_false (exg_iso3166_is_assigned ("ZZ"));
  g_assert_false (exg_iso3166_is_assigned ("EU"));
  g_assert_false (exg_iso3166_is_assigned ("SWE"));
  g_assert_false (exg_iso3166_is_assigned ("S"));
  g_assert_false (exg_iso3166_is_assigned ("S1"));
  g_assert_false (exg_iso3166_is_assigned (""));
  g_assert_false (exg_iso3166_is_assigned (NULL));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/country/name/c-locale", test_names_c_locale);
  g_test_add_func ("/country/name/swedish", test_names_swedish);
  g_test_add_func ("/country/flag", test_flags);
  g_test_add_func ("/country/known", test_known);
  g_test_add_func ("/country/code-from-text", test_code_from_text);
  g_test_add_func ("/country/all-codes", test_all_codes);
  g_test_add_func ("/country/static-table-matches-iso-codes",
                   test_static_table_matches_iso_codes);

  return g_test_run ();
}
