/* test-system-proxy.c: "Use as system proxy" against the memory GSettings
 * backend: switched on, GNOME's proxy settings point at us; switched off
 * (or on quit), the user's own come back.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-test"
#include "config.h"

#include "exg-system-proxy.h"

typedef struct {
  GSettings      *app;
  GSettings      *proxy;
  GSettings      *socks;
  ExgSystemProxy *system_proxy;
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
  f->app = g_settings_new (APPLICATION_ID);
  f->proxy = g_settings_new ("org.gnome.system.proxy");
  f->socks = g_settings_new ("org.gnome.system.proxy.socks");
  g_settings_reset (f->app, "saved-proxy");

  /* the user's own settings */
  g_settings_set_string (f->proxy, "mode", "auto");
  g_settings_set_string (f->socks, "host", "socks.example.org");
  g_settings_set_int (f->socks, "port", 9050);

  f->system_proxy = exg_system_proxy_new (f->app);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->system_proxy);
  g_clear_object (&f->socks);
  g_clear_object (&f->proxy);
  g_clear_object (&f->app);
}

static void
assert_settings (Fixture    *f,
                 const char *mode,
                 const char *host,
                 int         port)
{
  g_autofree char *m = g_settings_get_string (f->proxy, "mode");
  g_autofree char *h = g_settings_get_string (f->socks, "host");

  g_assert_cmpstr (m, ==, mode);
  g_assert_cmpstr (h, ==, host);
  g_assert_cmpint (g_settings_get_int (f->socks, "port"), ==, port);
}

static void
test_set_and_restore (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *saved = NULL;

  g_assert_true (exg_system_proxy_is_supported (f->system_proxy));
  g_assert_true (exg_system_proxy_enable (f->system_proxy, "127.0.0.1", 1080,
                                          &error));
  g_assert_no_error (error);
  assert_settings (f, "manual", "127.0.0.1", 1080);
  saved = g_settings_get_string (f->app, "saved-proxy");
  g_assert_cmpstr (saved, !=, "");

  exg_system_proxy_restore (f->system_proxy);
  assert_settings (f, "auto", "socks.example.org", 9050);
  g_clear_pointer (&saved, g_free);
  saved = g_settings_get_string (f->app, "saved-proxy");
  g_assert_cmpstr (saved, ==, "");

  /* restoring twice changes nothing */
  g_settings_set_string (f->proxy, "mode", "none");
  exg_system_proxy_restore (f->system_proxy);
  assert_settings (f, "none", "socks.example.org", 9050);
}

/* A second enable (new port, or a restart after a crash) must not save
 * our own settings over the user's. */
static void
test_enable_twice_keeps_users (Fixture *f, gconstpointer data)
{
  g_assert_true (exg_system_proxy_enable (f->system_proxy, "127.0.0.1", 1080,
                                          NULL));
  g_assert_true (exg_system_proxy_enable (f->system_proxy, "::1", 2080, NULL));
  assert_settings (f, "manual", "::1", 2080);

  /* a new instance (the next launch) still restores the user's */
  g_clear_object (&f->system_proxy);
  f->system_proxy = exg_system_proxy_new (f->app);
  exg_system_proxy_restore (f->system_proxy);
  assert_settings (f, "auto", "socks.example.org", 9050);
}

static void
test_unreadable_saved_value (Fixture *f, gconstpointer data)
{
  g_assert_true (exg_system_proxy_enable (f->system_proxy, "127.0.0.1", 1080,
                                          NULL));
  g_settings_set_string (f->app, "saved-proxy",
                         "{'mode': <'bogus'>, 'socks-port': <'x'>}");
  exg_system_proxy_restore (f->system_proxy);
  /* never left pointing at us: falls back to no proxy */
  assert_settings (f, "none", "", 0);
}

int
main (int argc, char **argv)
{
  GSettingsSchemaSource *source;
  g_autoptr(GSettingsSchema) schema = NULL;

  /* no G_TEST_OPTION_ISOLATE_DIRS: it hides the system's schemas
   * (XDG_DATA_DIRS), and GNOME's proxy schema is one of them.  The memory
   * backend (GSETTINGS_BACKEND=memory) keeps every write in the process. */
  g_test_init (&argc, &argv, NULL);
  if (g_strcmp0 (g_getenv ("GSETTINGS_BACKEND"), "memory") != 0)
    {
      g_test_message ("refusing to touch the real proxy settings without GSETTINGS_BACKEND=memory");
      return 77;
    }
  source = g_settings_schema_source_get_default ();
  schema = source ? g_settings_schema_source_lookup (source,
                                                     "org.gnome.system.proxy", TRUE) : NULL;
  if (schema == NULL)
    {
      g_test_message ("org.gnome.system.proxy is not installed (gsettings-desktop-schemas)");
      return 77;
    }

  g_test_add ("/system-proxy/set-and-restore", Fixture, NULL, setup,
              test_set_and_restore, teardown);
  g_test_add ("/system-proxy/enable-twice-keeps-users", Fixture, NULL, setup,
              test_enable_twice_keeps_users, teardown);
  g_test_add ("/system-proxy/unreadable-saved-value", Fixture, NULL, setup,
              test_unreadable_saved_value, teardown);
  return g_test_run ();
}
