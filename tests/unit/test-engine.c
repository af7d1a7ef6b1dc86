/* test-engine.c: ExgEngine and the config as a router source.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-core.h"
#include "exg-mmdb-writer.h"

#include <glib/gstdio.h>
#include <unistd.h>

static ExgConfig *
config_from (const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("exg-engine-XXXXXX.conf", &path, &error);
  ExgConfig *config;

  g_assert_no_error (error);
  close (fd);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  config = exg_config_load (path, &error);
  g_assert_no_error (error);
  g_unlink (path);
  return config;
}

static const char *two_exits =
  "[exit se-1]\ntype=socks5\naddress=127.0.0.2\nport=1080\ncountry=SE\n\n"
  "[exit de-1]\ntype=socks5\naddress=127.0.0.3\nport=1080\ncountry=DE\n";

/* A router that stays keeps its identity, state and figures; one that
 * changed is replaced; one that went is removed. */
static void
test_engine_config_source_keeps_identity (void)
{
  g_autoptr(ExgEngine) engine = exg_engine_new (NULL);
  ExgRouterRegistry *registry = exg_engine_get_registry (engine);
  g_autoptr(ExgConfig) first = config_from (two_exits);
  g_autoptr(ExgConfig) again = config_from (two_exits);
  g_autoptr(ExgConfig) moved = NULL;
  g_autoptr(ExgConfig) fewer = NULL;
  g_autoptr(GError) error = NULL;
  ExgRouter *se, *de;

  g_assert_true (exg_engine_load_exits (engine, first, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (registry)), ==, 2);
  se = exg_router_registry_lookup (registry, "se-1");
  de = exg_router_registry_lookup (registry, "de-1");
  g_assert_nonnull (se);
  g_assert_nonnull (de);
  exg_router_record_connect (se, 1500, TRUE);
  g_assert_null (exg_engine_get_tor (engine));

  /* the same file read again: nothing changes */
  g_assert_true (exg_engine_load_exits (engine, again, &error));
  g_assert_true (exg_router_registry_lookup (registry, "se-1") == se);
  g_assert_true (exg_router_registry_lookup (registry, "de-1") == de);
  g_assert_true (exg_router_get_up (se));
  g_assert_cmpint (exg_router_get_observed_latency (se), ==, 1500);

  /* de-1 moves to another port: a new router; se-1 stays */
  moved = config_from ("[exit se-1]\ntype=socks5\naddress=127.0.0.2\nport=1080\ncountry=SE\n\n"
                       "[exit de-1]\ntype=socks5\naddress=127.0.0.3\nport=1081\ncountry=DE\n");
  g_assert_true (exg_engine_load_exits (engine, moved, &error));
  g_assert_true (exg_router_registry_lookup (registry, "se-1") == se);
  g_assert_false (exg_router_registry_lookup (registry, "de-1") == de);
  g_assert_cmpint (exg_router_get_state (exg_router_registry_lookup (registry, "de-1")),
                   ==, EXG_ROUTER_STATE_CHECKING);

  /* de-1 goes */
  fewer = config_from ("[exit se-1]\ntype=socks5\naddress=127.0.0.2\nport=1080\ncountry=SE\n");
  g_assert_true (exg_engine_load_exits (engine, fewer, &error));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (registry)), ==, 1);
  g_assert_null (exg_router_registry_lookup (registry, "de-1"));
  g_assert_true (exg_router_registry_lookup (registry, "se-1") == se);
}

/* A malformed exit changes nothing. */
static void
test_engine_bad_exit_changes_nothing (void)
{
  g_autoptr(ExgEngine) engine = exg_engine_new (NULL);
  ExgRouterRegistry *registry = exg_engine_get_registry (engine);
  g_autoptr(ExgConfig) good = config_from (two_exits);
  g_autoptr(ExgConfig) bad = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (exg_engine_load_exits (engine, good, &error));
  bad = exg_config_new ();
  g_key_file_set_string (bad->keyfile, "exit x", "type", "carrier-pigeon");
  g_assert_false (exg_engine_load_exits (engine, bad, &error));
  g_assert_nonnull (error);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (registry)), ==, 2);
}

/* No exit and no tor: this machine is the one exit. */
static void
test_engine_default_direct (void)
{
  g_autoptr(ExgEngine) engine = exg_engine_new (NULL);
  g_autoptr(ExgConfig) none = exg_config_new ();
  g_autoptr(GError) error = NULL;
  ExgRouter *direct;

  g_assert_true (exg_engine_load_exits (engine, none, &error));
  direct = exg_router_registry_lookup (exg_engine_get_registry (engine), "direct");
  g_assert_nonnull (direct);
  g_assert_cmpint (exg_router_get_kind (direct), ==, EXG_ROUTER_KIND_DIRECT);
  g_assert_nonnull (exg_engine_get_server (engine));
  g_assert_nonnull (exg_engine_get_activity (engine));
}

/* A GeoIP database that comes after the routers (the app finds one in
 * the background) gives exits without a configured country theirs; one
 * configured keeps its own.  The engine hands the same database to its
 * tor client (checked with real tor exits in tests/tor/test-tor-exits.py). */
static void
test_engine_late_geoip (void)
{
  g_autoptr(ExgEngine) engine = exg_engine_new (NULL);
  ExgRouterRegistry *registry = exg_engine_get_registry (engine);
  g_autoptr(ExgConfig) config = config_from (
    "[exit found]\ntype=socks5\naddress=127.0.0.2\nport=1080\n\n"
    "[exit fixed]\ntype=socks5\naddress=127.0.0.3\nport=1080\ncountry=DE\n");
  g_autoptr(ExgMmdbWriter) writer = exg_mmdb_writer_new ("Test-Country");
  g_autoptr(ExgGeoip) geoip = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (g_get_tmp_dir (), "late.mmdb", NULL);

  g_assert_true (exg_engine_load_exits (engine, config, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (exg_router_get_country (exg_router_registry_lookup (registry, "found")), ==, "");
  g_assert_cmpstr (exg_router_get_country (exg_router_registry_lookup (registry, "fixed")), ==, "DE");

  g_assert_true (exg_mmdb_writer_add_network (writer, "127.0.0.2", "SE"));
  g_assert_true (exg_mmdb_writer_add_network (writer, "127.0.0.3", "US"));
  g_assert_true (exg_mmdb_writer_write (writer, path, &error));
  g_assert_no_error (error);
  geoip = exg_geoip_new_from_file (path, &error);
  g_assert_no_error (error);

  exg_engine_set_geoip (engine, geoip);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (registry)), ==, 2);
  g_assert_cmpstr (exg_router_get_country (exg_router_registry_lookup (registry, "found")), ==, "SE");
  g_assert_cmpstr (exg_router_get_country (exg_router_registry_lookup (registry, "fixed")), ==, "DE");
  g_assert_true (exg_engine_get_geoip (engine) == geoip);

  /* the database gone: the country it gave goes with it */
  exg_engine_set_geoip (engine, NULL);
  g_assert_cmpstr (exg_router_get_country (exg_router_registry_lookup (registry, "found")), ==, "");
  g_unlink (path);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/engine/config-source/keeps-identity",
                   test_engine_config_source_keeps_identity);
  g_test_add_func ("/engine/config-source/bad-exit-changes-nothing",
                   test_engine_bad_exit_changes_nothing);
  g_test_add_func ("/engine/config-source/default-direct",
                   test_engine_default_direct);
  g_test_add_func ("/engine/config-source/late-geoip",
                   test_engine_late_geoip);

  return g_test_run ();
}
