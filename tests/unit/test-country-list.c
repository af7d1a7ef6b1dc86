/* test-country-list.c: ExgCountryList, the countries window and tray list,
 * counted from a real router registry.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-country-list.h"

#include "exg-country.h"
#include "exg-test-util.h"

#include <locale.h>

#define WAIT_MS 5000

static ExgRouter *
add_router (ExgRouterRegistry *registry,
            const char        *id,
            const char        *country,
            gboolean           up)
{
  g_autoptr(ExgBackend) backend = exg_backend_direct_new (NULL);
  ExgRouter *router = exg_router_new (id, id, EXG_ROUTER_KIND_DIRECT, "",
                                      country, 0, 1, backend);

  exg_router_set_up (router, up);
  exg_router_registry_add (registry, router);
  g_object_unref (router);
  return router;                /* the registry's */
}

static void
changed_cb (ExgCountryList *list,
            guint          *n_changed)
{
  (*n_changed)++;
}

typedef struct {
  guint *counter;
  guint  above;
} Change;

static gboolean
changed_since (gpointer data)
{
  Change *c = data;

  return *c->counter > c->above;
}

/* Spins the default context until *@counter passes @above or @ms pass. */
static gboolean
wait_for_change (guint *counter,
                 guint  above,
                 guint  ms)
{
  Change c = { counter, above };

  return exg_test_poll_until (changed_since, &c, ms);
}

static void
assert_row (const ExgCountryRow *row,
            const char          *code,
            const char          *name,
            guint                n_exits,
            guint                n_up)
{
  g_assert_nonnull (row);
  g_assert_cmpstr (row->code, ==, code);
  g_assert_cmpstr (row->name, ==, name);
  g_assert_cmpuint (row->n_exits, ==, n_exits);
  g_assert_cmpuint (row->n_up, ==, n_up);
}

static void
test_rows (void)
{
  g_autoptr(ExgRouterRegistry) registry = exg_router_registry_new ();
  g_autoptr(ExgCountryList) list = NULL;
  ExgRouter *de;
  guint n_changed = 0;

  add_router (registry, "se-1", "SE", TRUE);
  add_router (registry, "se-2", "se", FALSE);
  de = add_router (registry, "de-1", "DE", FALSE);
  add_router (registry, "fr-1", "fr", TRUE);
  add_router (registry, "nowhere", "", TRUE);

  list = exg_country_list_new (registry, 0);
  g_signal_connect (list, "changed", G_CALLBACK (changed_cb), &n_changed);

  /* by name, codes in upper case, unknown country in no row */
  g_assert_cmpuint (exg_country_list_get_n_rows (list), ==, 3);
  assert_row (exg_country_list_get_row (list, 0), "FR", "France", 1, 1);
  assert_row (exg_country_list_get_row (list, 1), "DE", "Germany", 1, 0);
  assert_row (exg_country_list_get_row (list, 2), "SE", "Sweden", 2, 1);
  g_assert_true (exg_country_row_all_down (exg_country_list_lookup (list, "de")));
  g_assert_false (exg_country_row_all_down (exg_country_list_lookup (list, "SE")));
  g_assert_null (exg_country_list_lookup (list, "NL"));
  g_assert_null (exg_country_list_lookup (list, ""));
  /* "Any country": every router up, of unknown country too */
  g_assert_cmpuint (exg_country_list_get_n_up (list), ==, 3);

  /* nothing new: no signal */
  g_assert_false (exg_country_list_refresh (list));
  g_assert_cmpuint (n_changed, ==, 0);

  /* a router comes up without changing the registry's list */
  exg_router_set_up (de, TRUE);
  g_assert_true (exg_country_list_refresh (list));
  g_assert_cmpuint (n_changed, ==, 1);
  assert_row (exg_country_list_lookup (list, "DE"), "DE", "Germany", 1, 1);
  g_assert_cmpuint (exg_country_list_get_n_up (list), ==, 4);

  /* a checked router that goes down again: the country stays, greyed */
  exg_router_set_up (de, FALSE);
  g_assert_true (exg_country_list_refresh (list));
  g_assert_true (exg_country_row_all_down (exg_country_list_lookup (list, "DE")));
  g_assert_cmpuint (exg_country_list_get_n_rows (list), ==, 3);
}

static void
test_follows_registry (void)
{
  g_autoptr(ExgRouterRegistry) registry = exg_router_registry_new ();
  g_autoptr(ExgCountryList) list = NULL;
  guint n_changed = 0;

  add_router (registry, "se-1", "SE", TRUE);
  list = exg_country_list_new (registry, 0);
  g_signal_connect (list, "changed", G_CALLBACK (changed_cb), &n_changed);

  /* many additions, one recount when idle */
  for (guint i = 0; i < 50; i++)
    {
      g_autofree char *id = g_strdup_printf ("nl-%u", i);

      add_router (registry, id, "NL", i % 2 == 0);
    }
  g_assert_cmpuint (n_changed, ==, 0);
  g_assert_true (wait_for_change (&n_changed, 0, WAIT_MS));
  g_assert_cmpuint (n_changed, ==, 1);
  assert_row (exg_country_list_lookup (list, "NL"), "NL", "Netherlands", 50, 25);

  /* a router replaced by another of the same country and state: the
   * counts stay, but pickers are told to pick again */
  exg_router_registry_remove (registry, "nl-0");
  add_router (registry, "nl-new", "NL", TRUE);
  g_assert_true (wait_for_change (&n_changed, 1, WAIT_MS));
  g_assert_cmpuint (n_changed, ==, 2);
  assert_row (exg_country_list_lookup (list, "NL"), "NL", "Netherlands", 50, 25);

  /* a country whose last router goes is gone */
  exg_router_registry_remove (registry, "se-1");
  g_assert_true (wait_for_change (&n_changed, 2, WAIT_MS));
  g_assert_null (exg_country_list_lookup (list, "SE"));
  g_assert_cmpuint (exg_country_list_get_n_rows (list), ==, 1);
}

/* with an interval, state changes are seen without anyone asking */
static void
test_interval (void)
{
  g_autoptr(ExgRouterRegistry) registry = exg_router_registry_new ();
  g_autoptr(ExgCountryList) list = NULL;
  ExgRouter *se;
  guint n_changed = 0;

  se = add_router (registry, "se-1", "SE", FALSE);
  list = exg_country_list_new (registry, 20);
  g_signal_connect (list, "changed", G_CALLBACK (changed_cb), &n_changed);
  g_assert_true (exg_country_row_all_down (exg_country_list_lookup (list, "SE")));

  exg_router_set_up (se, TRUE);
  g_assert_true (wait_for_change (&n_changed, 0, WAIT_MS));
  g_assert_false (exg_country_row_all_down (exg_country_list_lookup (list, "SE")));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  setlocale (LC_ALL, "C");

  g_test_add_func ("/country-list/rows", test_rows);
  g_test_add_func ("/country-list/follows-registry", test_follows_registry);
  g_test_add_func ("/country-list/interval", test_interval);

  return g_test_run ();
}
