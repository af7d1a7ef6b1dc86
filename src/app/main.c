/* main.c: exitgate, the desktop app.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"

#include "exg-application.h"

#include <locale.h>

int
main (int argc, char **argv)
{
  g_autoptr(ExgApplication) app = NULL;

  setlocale (LC_ALL, "");
  exg_i18n_bind_textdomain ();

  app = exg_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
