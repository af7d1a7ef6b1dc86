/* exg-application-ui.c: the application's windows and tray: the main
 * window (shown on activate, or kept in the tray with --hidden),
 * Preferences, About, and the indicator.  exg-application.c runs the
 * proxy; this file is all it knows of the views, which know the
 * application, not the other way round.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-application-private.h"

#include "exg-preferences.h"
#include "exg-tray.h"
#include "exg-window.h"

#include <glib/gi18n.h>

/* how long a hidden start waits for a tray host before showing the window */
#define NO_TRAY_GRACE_SECONDS 3

/* The main window (not a dialog that happens to be focused), or NULL */
static GtkWindow *
find_main_window (ExgApplication *self)
{
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (self)); l != NULL; l = l->next)
    if (EXG_IS_WINDOW (l->data))
      return l->data;
  return NULL;
}

static void
show_window_activated (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  ExgApplication *self = user_data;
  GtkWindow *window = find_main_window (self);

  if (window == NULL)
    window = GTK_WINDOW (exg_window_new (self));
  gtk_window_present (window);
  exg_application_trace_ (self, "show-window");
}

static void
preferences_activated (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  ExgApplication *self = user_data;
  GtkWindow *parent = find_main_window (self);
  GtkWidget *prefs = NULL;

  /* one preferences dialog at a time */
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (self)); l != NULL; l = l->next)
    if (EXG_IS_PREFERENCES (l->data))
      prefs = l->data;
  if (prefs == NULL)
    prefs = exg_preferences_new (self,
                                 parent && gtk_widget_get_visible (GTK_WIDGET (parent)) ? parent : NULL);
  gtk_window_present (GTK_WINDOW (prefs));
}

static void
about_activated (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  ExgApplication *self = user_data;
  GtkWindow *parent = find_main_window (self);
  static const char *authors[] = { "The Exitgate authors", NULL };

  gtk_show_about_dialog (parent,
                         "program-name", _("Exitgate"),
                         "logo-icon-name", APPLICATION_ID,
                         "version", PACKAGE_VERSION,
                         "comments", _("A local SOCKS proxy that lets you choose where your traffic leaves from"),
                         "license-type", GTK_LICENSE_GPL_3_0,
                         "authors", authors,
                         /* Translators: your names, one per line */
                         "translator-credits", _("translator-credits"),
                         NULL);
}

static const GActionEntry ui_actions[] = {
  { "show-window", show_window_activated },
  { "preferences", preferences_activated },
  { "about", about_activated },
};

void
exg_application_ui_startup_ (ExgApplication *self)
{
  g_action_map_add_action_entries (G_ACTION_MAP (self), ui_actions,
                                   G_N_ELEMENTS (ui_actions), self);
  self->tray = G_OBJECT (exg_tray_new (self));
}

static gboolean
show_if_no_tray_cb (gpointer user_data)
{
  ExgApplication *self = user_data;
  GtkWindow *window = find_main_window (self);

  self->no_tray_id = 0;
  if (!exg_application_get_tray_available (self) && window != NULL)
    gtk_window_present (window);
  return G_SOURCE_REMOVE;
}

void
exg_application_ui_activate_ (ExgApplication *self)
{
  GtkWindow *window = find_main_window (self);
  gboolean first = !self->activated;

  self->activated = TRUE;
  if (window == NULL)
    window = GTK_WINDOW (exg_window_new (self));

  /* --hidden (or start-hidden) applies to the first launch only; a
   * second launch brings the window up */
  if (first
      && (self->opt_hidden
          || g_settings_get_boolean (self->settings, "start-hidden")))
    {
      /* hidden means "in the tray": with no tray host (GNOME without the
       * extension) the window would be unreachable, so it shows after
       * all once the indicator has had time to find one */
      if (!exg_application_get_tray_available (self))
        self->no_tray_id = g_timeout_add_seconds (NO_TRAY_GRACE_SECONDS,
                                                  show_if_no_tray_cb, self);
      return;
    }
  gtk_window_present (window);
}

gboolean
exg_application_get_tray_available (ExgApplication *self)
{
  g_return_val_if_fail (EXG_IS_APPLICATION (self), FALSE);
  return self->tray != NULL && exg_tray_get_available (EXG_TRAY (self->tray));
}
