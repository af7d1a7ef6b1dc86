/* exg-application-tor.c: the application's tor: what the key file's
 * [tor] group chose (the first run's offer when it chose nothing), the
 * exits reloaded with it, and the user's Connect and choice written back.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-application-private.h"

#include "exg-tor-process.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

/* Whether the key file has made a choice about tor: a [tor] group that
 * says managed= or control= (torrc= alone, say for bridges, is not one),
 * and whether it has exits of its own. */
static void
read_tor_choice (ExgConfig *config,
                 gboolean  *chosen,
                 gboolean  *has_exits)
{
  g_auto(GStrv) groups = NULL;

  *chosen = FALSE;
  *has_exits = FALSE;
  if (config->keyfile == NULL)
    return;
  *chosen = g_key_file_has_key (config->keyfile, "tor", "managed", NULL)
            || g_key_file_has_key (config->keyfile, "tor", "control", NULL);
  groups = g_key_file_get_groups (config->keyfile, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    if (g_str_has_prefix (groups[i], "exit "))
      *has_exits = TRUE;
}

static gboolean
tor_installed (void)
{
  g_autofree char *tor = g_find_program_in_path ("tor");

  return tor != NULL || g_file_test (EXG_TOR_PROCESS_DEFAULT_TOR, G_FILE_TEST_IS_EXECUTABLE);
}

void
exg_application_reload_exits (ExgApplication *self)
{
  g_autoptr(ExgConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  ExgTorClient *tor_before;
  gboolean chosen = FALSE, has_exits = FALSE, offline;

  g_return_if_fail (EXG_IS_APPLICATION (self));

  g_clear_error (&self->exits_error);

  if (g_file_test (self->config_path, G_FILE_TEST_EXISTS))
    config = exg_config_load (self->config_path, &error);
  else
    config = exg_config_new ();

  /* The first run with tor at hand and nothing else to exit through: tor
   * runs, managed, but off the network until the user says Connect (or
   * picks a tor that runs already).  Nothing is written until then. */
  if (config != NULL)
    {
      read_tor_choice (config, &chosen, &has_exits);
      self->tor_undecided = !chosen && !has_exits && tor_installed ();
      if (self->tor_undecided)
        config->tor_managed = TRUE;
    }
  offline = config != NULL && config->tor_managed && !self->tor_connected
            && (self->tor_undecided
                || !g_settings_get_boolean (self->settings, "tor-connect-automatically"));
  exg_engine_set_tor_network_enabled (self->engine, !offline);

  tor_before = exg_engine_get_tor (self->engine);
  /* routers that did not change keep their state and figures */
  exg_engine_set_geoip (self->engine, self->geoip);
  if (config == NULL || !exg_engine_load_exits (self->engine, config, &error))
    {
      g_message ("%s", error->message);
      self->exits_error = g_steal_pointer (&error);
    }

  exg_application_emit_ (self, STATUS_CHANGED);
  if (exg_engine_get_tor (self->engine) != tor_before)
    exg_application_trace_ (self, "tor %s", exg_engine_get_tor (self->engine) == NULL ? "off"
           : offline ? "waiting" : "connecting");
  exg_application_emit_ (self, TOR_CHANGED);
}

/* Writes the user's choice into the key file's [tor] group, the one the
 * daemon reads too; the rest of the file, comments included, stays. */
static gboolean
write_tor_choice (ExgApplication  *self,
                  gboolean         managed,
                  const char      *control,
                  GError         **error)
{
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  g_autofree char *dir = NULL;

  if (g_file_test (self->config_path, G_FILE_TEST_EXISTS)
      && !g_key_file_load_from_file (keyfile, self->config_path,
                                     G_KEY_FILE_KEEP_COMMENTS
                                     | G_KEY_FILE_KEEP_TRANSLATIONS, error))
    return FALSE;

  g_key_file_remove_key (keyfile, "tor", "control", NULL);
  g_key_file_set_boolean (keyfile, "tor", "managed", managed);
  if (control != NULL)
    g_key_file_set_string (keyfile, "tor", "control", control);

  dir = g_path_get_dirname (self->config_path);
  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   _("Cannot create %s: %s"), dir, g_strerror (saved_errno));
      return FALSE;
    }
  return g_key_file_save_to_file (keyfile, self->config_path, error);
}

/**
 * exg_application_get_tor:
 * @self: the application
 *
 * Returns: (transfer none) (nullable): the tor whose exits are routers; it
 *   is replaced when the [tor] group changes (ExgApplication::tor-changed)
 */
ExgTorClient *
exg_application_get_tor (ExgApplication *self)
{
  g_return_val_if_fail (EXG_IS_APPLICATION (self), NULL);
  return exg_engine_get_tor (self->engine);
}

/**
 * exg_application_get_tor_undecided:
 * @self: the application
 *
 * Returns: whether this is the first run's offer of tor: a managed tor
 *   waits, off the network, and the key file says nothing yet
 */
gboolean
exg_application_get_tor_undecided (ExgApplication *self)
{
  g_return_val_if_fail (EXG_IS_APPLICATION (self), FALSE);
  return self->tor_undecided;
}

/**
 * exg_application_get_tor_waiting:
 * @self: the application
 *
 * Returns: whether a managed tor is kept off the network until Connect
 */
gboolean
exg_application_get_tor_waiting (ExgApplication *self)
{
  ExgTorClient *tor;

  g_return_val_if_fail (EXG_IS_APPLICATION (self), FALSE);
  tor = exg_engine_get_tor (self->engine);
  return tor != NULL && exg_tor_client_get_managed (tor)
         && !exg_tor_client_get_network_enabled (tor);
}

/**
 * exg_application_connect_tor:
 * @self: the application
 * @error: return location for an error
 *
 * The user's "Connect": the managed tor goes on the network.  On the
 * first run this also writes "[tor] managed=true" to the key file.
 *
 * Returns: %FALSE if the key file could not be written (tor connects
 *   anyway, for this run)
 */
gboolean
exg_application_connect_tor (ExgApplication  *self,
                             GError         **error)
{
  gboolean ok = TRUE;

  g_return_val_if_fail (EXG_IS_APPLICATION (self), FALSE);

  self->tor_connected = TRUE;
  exg_application_trace_ (self, "tor connect");
  if (self->tor_undecided)
    ok = write_tor_choice (self, TRUE, NULL, error);
  exg_engine_set_tor_network_enabled (self->engine, TRUE);
  exg_application_reload_exits (self);
  return ok;
}

/**
 * exg_application_use_tor:
 * @self: the application
 * @mode: "managed", "control" or "off"
 * @control: (nullable): with "control": the control port or socket
 * @error: return location for an error
 *
 * Writes the choice to the key file's [tor] group and applies it.
 *
 * Returns: %FALSE with @error if the key file could not be written
 */
gboolean
exg_application_use_tor (ExgApplication  *self,
                         const char      *mode,
                         const char      *control,
                         GError         **error)
{
  g_return_val_if_fail (EXG_IS_APPLICATION (self), FALSE);
  g_return_val_if_fail (mode != NULL, FALSE);

  if (!write_tor_choice (self, g_str_equal (mode, "managed"),
                         g_str_equal (mode, "control") ? control : NULL, error))
    return FALSE;
  exg_application_reload_exits (self);
  return TRUE;
}
