/* exg-i18n.c: the message catalogue, for the app and the daemon alike.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-i18n.h"

#include <gio/gio.h>
#include <glib/gi18n.h>

/**
 * exg_i18n_bind_textdomain:
 *
 * Binds Exitgate's message catalogue: the installed one, or, for a binary
 * run from the build tree (the app, the daemon, their tests), the .mo
 * files built there, so that a translation can be tried and tested before
 * installing.
 */
void
exg_i18n_bind_textdomain (void)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  const char *dir = LOCALEDIR;

  if (exe != NULL
      && g_str_has_prefix (exe, EXG_UNINSTALLED_BUILD_ROOT G_DIR_SEPARATOR_S)
      && g_file_test (EXG_UNINSTALLED_LOCALE_DIR, G_FILE_TEST_IS_DIR))
    dir = EXG_UNINSTALLED_LOCALE_DIR;
  bindtextdomain (GETTEXT_PACKAGE, dir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
}
