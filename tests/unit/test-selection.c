/* test-selection.c: selection matching, username parsing and the weighted
 * pick of the router registry.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-core.h"

static ExgRouter *
make_router (const char *id,
             const char *address,
             const char *country,
             guint64     bandwidth)
{
  g_autoptr(ExgBackend) backend = exg_backend_direct_new (NULL);

  return exg_router_new (id, id, EXG_ROUTER_KIND_DIRECT, address, country,
                         bandwidth, 1, backend);
}

static void
test_selection_any (void)
{
  ExgSelection sel;
  g_autoptr(ExgRouter) r = make_router ("a", "", "", 0);
  g_autofree char *text = NULL;

  exg_selection_init_any (&sel);
  g_assert_true (exg_selection_is_any (&sel));
  g_assert_cmpstr (sel.country, ==, "");
  g_assert_cmpuint (sel.range_start, ==, 0);
  g_assert_cmpuint (sel.range_end, ==, G_MAXUINT32);
  g_assert_cmpuint (sel.min_bandwidth, ==, 0);
  /* any matches even a router with no address, country or bandwidth */
  g_assert_true (exg_selection_matches (&sel, r));
  text = exg_selection_to_string (&sel);
  g_assert_cmpstr (text, ==, "any");
}

static void
test_selection_country (void)
{
  ExgSelection sel;
  g_autoptr(ExgRouter) se = make_router ("se", "203.0.113.5", "se", 100);
  g_autoptr(ExgRouter) de = make_router ("de", "198.51.100.7", "DE", 100);

  g_assert_cmpstr (exg_router_get_country (se), ==, "SE");

  exg_selection_init_any (&sel);
  g_assert_true (exg_selection_set_country (&sel, "se"));
  g_assert_cmpstr (sel.country, ==, "SE");
  g_assert_true (exg_selection_matches (&sel, se));
  g_assert_false (exg_selection_matches (&sel, de));

  /* case-insensitive, also when set by hand */
  sel.country[0] = 's';
  sel.country[1] = 'E';
  g_assert_true (exg_selection_matches (&sel, se));

  g_assert_false (exg_selection_set_country (&sel, "SWE"));
  g_assert_false (exg_selection_set_country (&sel, "1E"));
  g_assert_false (exg_selection_set_country (&sel, "S"));
  g_assert_true (exg_selection_set_country (&sel, ""));
  g_assert_cmpstr (sel.country, ==, "");
  g_assert_true (exg_selection_set_country (&sel, NULL));
  g_assert_true (exg_selection_matches (&sel, de));
}

static void
test_selection_range (void)
{
  ExgSelection sel;
  g_autoptr(ExgRouter) low = make_router ("low", "203.0.113.0", "SE", 1);
  g_autoptr(ExgRouter) high = make_router ("high", "203.0.113.255", "SE", 1);
  g_autoptr(ExgRouter) out = make_router ("out", "203.0.114.0", "SE", 1);
  g_autoptr(ExgRouter) none = make_router ("none", "", "SE", 1);
  g_autoptr(ExgRouter) v6 = make_router ("v6", "2001:db8::1", "SE", 1);
  guint32 start, end;

  g_assert_cmpuint (exg_router_get_ipv4 (low), ==, 0xCB007100);
  g_assert_cmpuint (exg_router_get_ipv4 (none), ==, 0);
  g_assert_cmpuint (exg_router_get_ipv4 (v6), ==, 0);

  g_assert_true (exg_selection_parse_range ("203.0.113.0-203.0.113.255", &start,
                                            &end));
  g_assert_cmpuint (start, ==, 0xCB007100);
  g_assert_cmpuint (end, ==, 0xCB0071FF);
  g_assert_true (exg_selection_parse_range ("203.0.113.7/24", &start, &end));
  g_assert_cmpuint (start, ==, 0xCB007100);
  g_assert_cmpuint (end, ==, 0xCB0071FF);
  g_assert_true (exg_selection_parse_range ("0.0.0.0/0", &start, &end));
  g_assert_cmpuint (start, ==, 0);
  g_assert_cmpuint (end, ==, G_MAXUINT32);
  g_assert_true (exg_selection_parse_range ("1.2.3.4/32", &start, &end));
  g_assert_cmpuint (start, ==, 0x01020304);
  g_assert_cmpuint (end, ==, 0x01020304);

  /* malformed, or start above end */
  g_assert_false (exg_selection_parse_range ("203.0.113.255-203.0.113.0",
                                             &start, &end));
  g_assert_false (exg_selection_parse_range ("203.0.113-203.0.113.9", &start,
                                             &end));
  g_assert_false (exg_selection_parse_range ("256.0.0.0-256.0.0.1", &start,
                                             &end));
  g_assert_false (exg_selection_parse_range ("1.2.3.4/33", &start, &end));
  g_assert_false (exg_selection_parse_range ("1.2.3.4", &start, &end));
  g_assert_false (exg_selection_parse_range ("", &start, &end));
  g_assert_false (exg_selection_parse_range ("1.2.3.4-", &start, &end));
  g_assert_false (exg_selection_parse_range ("1.2.3.4-1.2.3.5x", &start, &end));

  exg_selection_init_any (&sel);
  g_assert_true (exg_selection_parse_range ("203.0.113.0-203.0.113.255",
                                            &sel.range_start, &sel.range_end));
  /* inclusive at both ends */
  g_assert_true (exg_selection_matches (&sel, low));
  g_assert_true (exg_selection_matches (&sel, high));
  g_assert_false (exg_selection_matches (&sel, out));
  /* no known IPv4: cannot be in a range */
  g_assert_false (exg_selection_matches (&sel, none));
  g_assert_false (exg_selection_matches (&sel, v6));

  /* start above end (as E0 may send) matches nothing */
  sel.range_start = 0xCB0071FF;
  sel.range_end = 0xCB007100;
  g_assert_false (exg_selection_matches (&sel, low));
  g_assert_false (exg_selection_matches (&sel, high));
}

static void
test_selection_bandwidth_and_up (void)
{
  ExgSelection sel;
  g_autoptr(ExgRouter) slow = make_router ("slow", "192.0.2.1", "SE", 999999);
  g_autoptr(ExgRouter) fast = make_router ("fast", "192.0.2.2", "SE", 1000000);

  exg_selection_init_any (&sel);
  sel.min_bandwidth = 1000000;
  g_assert_false (exg_selection_matches (&sel, slow));
  g_assert_true (exg_selection_matches (&sel, fast));

  /* matching is about the router, not its state: a router believed down
   * still matches (the registry tries it last) */
  exg_router_set_up (fast, FALSE);
  g_assert_true (exg_selection_matches (&sel, fast));
  g_assert_false (exg_selection_matches (&sel, slow));
}

static gboolean
time_passed_cb (gpointer user_data)
{
  gboolean *passed = user_data;

  *passed = TRUE;
  return G_SOURCE_REMOVE;
}

static void
test_selection_bandwidth_observed (void)
{
  ExgSelection sel;
  g_autoptr(ExgRouter) unadvertised = make_router ("u", "192.0.2.3", "SE", 0);
  g_autoptr(ExgRouter) advertised = make_router ("a", "192.0.2.4", "SE", 1000);
  gboolean passed = FALSE;
  double observed;

  exg_selection_init_any (&sel);
  sel.min_bandwidth = 1000000;

  /* never used: nothing observed, so no bandwidth to judge by */
  g_assert_cmpfloat (exg_router_get_observed_throughput (unadvertised), ==, 0);
  g_assert_false (exg_selection_matches (&sel, unadvertised));

  /* the router folds bytes into its rate once a second of its clock has
   * passed; 20 MB over just over a second is well above 1 MB/s */
  exg_router_record_bytes (unadvertised, 10000000);
  exg_router_record_bytes (advertised, 10000000);
  g_timeout_add (1050, time_passed_cb, &passed);
  while (!passed)
    g_main_context_iteration (NULL, TRUE);
  exg_router_record_bytes (unadvertised, 10000000);
  exg_router_record_bytes (advertised, 10000000);

  observed = exg_router_get_observed_throughput (unadvertised);
  g_assert_cmpfloat (observed, >, 1000000);
  g_assert_cmpfloat (observed, <=, 20000000 / 1.05);
  g_assert_true (exg_selection_matches (&sel, unadvertised));

  /* above what it carried, it is left out again */
  sel.min_bandwidth = (guint64) observed + 1;
  g_assert_false (exg_selection_matches (&sel, unadvertised));

  /* an advertised bandwidth wins over the observed one */
  sel.min_bandwidth = 1000000;
  g_assert_cmpfloat (exg_router_get_observed_throughput (advertised), >,
                     1000000);
  g_assert_false (exg_selection_matches (&sel, advertised));
  sel.min_bandwidth = 1000;
  g_assert_true (exg_selection_matches (&sel, advertised));
}

static void
test_selection_all_three (void)
{
  ExgSelection sel;
  g_autoptr(ExgRouter) r = make_router ("r", "203.0.113.9", "SE", 5000);
  g_autofree char *text = NULL;
  ExgSelection other;

  exg_selection_init_any (&sel);
  exg_selection_set_country (&sel, "SE");
  exg_selection_parse_range ("203.0.113.0/24", &sel.range_start,
                             &sel.range_end);
  sel.min_bandwidth = 5000;
  g_assert_false (exg_selection_is_any (&sel));
  g_assert_true (exg_selection_matches (&sel, r));

  text = exg_selection_to_string (&sel);
  g_assert_cmpstr (text, ==,
                   "country=SE range=203.0.113.0-203.0.113.255 min-bw=5000");

  other = sel;
  g_assert_true (exg_selection_equal (&sel, &other));
  other.min_bandwidth++;
  g_assert_false (exg_selection_equal (&sel, &other));

  sel.min_bandwidth = 5001;
  g_assert_false (exg_selection_matches (&sel, r));
  sel.min_bandwidth = 0;
  exg_selection_set_country (&sel, "DE");
  g_assert_false (exg_selection_matches (&sel, r));
}

static void
test_username_selection (void)
{
  ExgSelection sel;
  GError *error = NULL;

  g_assert_true (exg_selection_parse_username ("country=se", &sel, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (sel.country, ==, "SE");
  g_assert_cmpuint (sel.range_start, ==, 0);
  g_assert_cmpuint (sel.range_end, ==, G_MAXUINT32);
  g_assert_cmpuint (sel.min_bandwidth, ==, 0);

  g_assert_true (exg_selection_parse_username ("country=se,min-bw=1000000",
                                               &sel, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (sel.country, ==, "SE");
  g_assert_cmpuint (sel.min_bandwidth, ==, 1000000);

  g_assert_true (exg_selection_parse_username ("range=203.0.113.0-203.0.113.255", &sel, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (sel.country, ==, "");
  g_assert_cmpuint (sel.range_start, ==, 0xCB007100);
  g_assert_cmpuint (sel.range_end, ==, 0xCB0071FF);

  g_assert_true (exg_selection_parse_username ("Country=DE, range=10.0.0.0/8 ,MIN-BW=5",
                                               &sel, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (sel.country, ==, "DE");
  g_assert_cmpuint (sel.range_start, ==, 0x0A000000);
  g_assert_cmpuint (sel.range_end, ==, 0x0AFFFFFF);
  g_assert_cmpuint (sel.min_bandwidth, ==, 5);

  /* isolation keys: not a selection, no error */
  g_assert_false (exg_selection_parse_username ("alice", &sel, &error));
  g_assert_no_error (error);
  g_assert_false (exg_selection_parse_username ("", &sel, &error));
  g_assert_no_error (error);
  g_assert_false (exg_selection_parse_username (NULL, &sel, &error));
  g_assert_no_error (error);
  g_assert_false (exg_selection_parse_username ("tab=1,session=2", &sel,
                                                &error));
  g_assert_no_error (error);

  /* the keys with bad values: refused, never guessed */
  g_assert_false (exg_selection_parse_username ("country=sweden", &sel,
                                                &error));
  g_assert_error (error, EXG_ERROR, EXG_ERROR_NOT_ALLOWED);
  g_clear_error (&error);
  g_assert_false (exg_selection_parse_username ("country=", &sel, &error));
  g_assert_error (error, EXG_ERROR, EXG_ERROR_NOT_ALLOWED);
  g_clear_error (&error);
  g_assert_false (exg_selection_parse_username ("min-bw=lots", &sel, &error));
  g_assert_error (error, EXG_ERROR, EXG_ERROR_NOT_ALLOWED);
  g_clear_error (&error);
  g_assert_false (exg_selection_parse_username ("range=10.0.0.9-10.0.0.1", &sel,
                                                &error));
  g_assert_error (error, EXG_ERROR, EXG_ERROR_NOT_ALLOWED);
  g_clear_error (&error);
  g_assert_false (exg_selection_parse_username ("country=se,colour=blue", &sel,
                                                &error));
  g_assert_error (error, EXG_ERROR, EXG_ERROR_NOT_ALLOWED);
  g_clear_error (&error);
  g_assert_false (exg_selection_parse_username ("contry=se,min-bw=5", &sel,
                                                &error));
  g_assert_error (error, EXG_ERROR, EXG_ERROR_NOT_ALLOWED);
  g_clear_error (&error);

  /* words without "=" beside the keys select nothing: they are the
   * isolation key's (test_username_strip) */
  g_assert_true (exg_selection_parse_username ("country=se,work", &sel, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (sel.country, ==, "SE");
  g_assert_cmpuint (sel.min_bandwidth, ==, 0);
  g_assert_true (exg_selection_parse_username ("home,via=tor,,tab 2", &sel, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sel.via, ==, EXG_SELECTION_VIA_TOR);
  g_assert_cmpstr (sel.country, ==, "");
}

static void
test_registry_pick_weighted (void)
{
  g_autoptr(ExgRouterRegistry) registry = exg_router_registry_new ();
  g_autoptr(ExgRouter) a = make_router ("a", "192.0.2.1", "SE", 1000);
  g_autoptr(ExgRouter) b = make_router ("b", "192.0.2.2", "SE", 3000);
  g_autoptr(ExgRouter) c = make_router ("c", "192.0.2.3", "DE", 1000000);
  ExgSelection sel;
  guint counts[2] = { 0, 0 };
  const guint n = 20000;

  exg_router_registry_add (registry, a);
  exg_router_registry_add (registry, b);
  exg_router_registry_add (registry, c);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (registry)), ==, 3);

  exg_selection_init_any (&sel);
  exg_selection_set_country (&sel, "se");

  /* a fixed seed: the same draws on every run */
  g_random_set_seed (20260101);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(ExgRouter) r = exg_router_registry_pick (registry, &sel, NULL,
                                                         &error);

      g_assert_no_error (error);
      g_assert_nonnull (r);
      if (r == a)
        counts[0]++;
      else if (r == b)
        counts[1]++;
      else
        g_assert_not_reached ();
    }
  /* expected 1:3, i.e. 25 % for a; ±3 points is >10 standard deviations */
  g_assert_cmpfloat ((double) counts[0] / n, >, 0.22);
  g_assert_cmpfloat ((double) counts[0] / n, <, 0.28);
  g_assert_cmpuint (counts[0] + counts[1], ==, n);
}

static void
test_registry_pick_no_match (void)
{
  g_autoptr(ExgRouterRegistry) registry = exg_router_registry_new ();
  g_autoptr(ExgRouter) a = make_router ("a", "192.0.2.1", "SE", 0);
  g_autoptr(ExgRouter) b = make_router ("b", "192.0.2.2", "DE", 0);
  g_autoptr(GPtrArray) exclude = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) countries = NULL;
  ExgRouter *r;
  ExgSelection sel;

  exg_router_registry_add (registry, a);
  exg_router_registry_add (registry, b);
  exg_selection_init_any (&sel);

  /* no router with that country: an error, never another country */
  exg_selection_set_country (&sel, "FR");
  r = exg_router_registry_pick (registry, &sel, NULL, &error);
  g_assert_null (r);
  g_assert_error (error, EXG_ERROR, EXG_ERROR_NO_ROUTER);
  g_clear_error (&error);

  /* bandwidth 0 still gets picked (weight 1) */
  exg_selection_set_country (&sel, "SE");
  r = exg_router_registry_pick (registry, &sel, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (r == a);
  g_object_unref (r);

  /* new routers are being checked: usable, but not counted as up */
  g_assert_cmpint (exg_router_get_state (a), ==, EXG_ROUTER_STATE_CHECKING);
  g_assert_cmpuint (exg_router_registry_count_up (registry), ==, 0);

  /* a down router is still picked when nothing else matches: a down mark
   * never turns a working exit into a refusal */
  exg_router_set_up (a, FALSE);
  exg_router_set_up (b, TRUE);
  r = exg_router_registry_pick (registry, &sel, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (r == a);
  g_object_unref (r);
  g_assert_cmpuint (exg_router_registry_count_up (registry), ==, 1);
  countries = exg_router_registry_count_countries (registry);
  g_assert_cmpuint (g_hash_table_size (countries), ==, 1);
  g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (countries, "DE")),
                    ==, 1);

  /* ... but never while a router that is not down matches */
  exg_selection_init_any (&sel);
  for (int i = 0; i < 20; i++)
    {
      r = exg_router_registry_pick (registry, &sel, NULL, &error);
      g_assert_no_error (error);
      g_assert_true (r == b);
      g_object_unref (r);
    }

  /* excluded routers are skipped */
  exg_router_set_up (a, TRUE);
  exg_router_set_up (b, FALSE);
  g_ptr_array_add (exclude, a);
  for (int i = 0; i < 20; i++)
    {
      r = exg_router_registry_pick (registry, &sel, exclude, &error);
      g_assert_no_error (error);
      g_assert_true (r == b);
      g_object_unref (r);
    }
  g_ptr_array_add (exclude, b);
  r = exg_router_registry_pick (registry, &sel, exclude, &error);
  g_assert_null (r);
  g_assert_error (error, EXG_ERROR, EXG_ERROR_NO_ROUTER);
  g_clear_error (&error);

  /* lookup, replace, remove */
  g_assert_true (exg_router_registry_lookup (registry, "a") == a);
  g_assert_null (exg_router_registry_lookup (registry, "zz"));
  g_assert_true (exg_router_registry_remove (registry, "a"));
  g_assert_false (exg_router_registry_remove (registry, "a"));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (registry)), ==, 1);
  exg_router_registry_remove_all (registry);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (registry)), ==, 0);
}

/* Only routers believed down match: they are tried heaviest first, each
 * once, then the selection is refused. */
static void
test_registry_pick_down_in_weight_order (void)
{
  g_autoptr(ExgRouterRegistry) registry = exg_router_registry_new ();
  g_autoptr(ExgRouter) light = make_router ("light", "192.0.2.1", "SE", 10);
  g_autoptr(ExgRouter) heavy = make_router ("heavy", "192.0.2.2", "SE", 3000);
  g_autoptr(ExgRouter) middle = make_router ("middle", "192.0.2.3", "SE", 200);
  g_autoptr(GPtrArray) tried = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  ExgRouter *expected[] = { heavy, middle, light };
  ExgSelection sel;

  exg_router_registry_add (registry, light);
  exg_router_registry_add (registry, heavy);
  exg_router_registry_add (registry, middle);
  exg_router_set_up (light, FALSE);
  exg_router_set_up (heavy, FALSE);
  exg_router_set_up (middle, FALSE);
  exg_selection_init_any (&sel);
  exg_selection_set_country (&sel, "SE");

  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      ExgRouter *r = exg_router_registry_pick (registry, &sel, tried, &error);

      g_assert_no_error (error);
      g_assert_true (r == expected[i]);
      g_ptr_array_add (tried, r);
    }
  g_assert_null (exg_router_registry_pick (registry, &sel, tried, &error));
  g_assert_error (error, EXG_ERROR, EXG_ERROR_NO_ROUTER);
}

/* What is observed sets the state: success is up at once, a failure makes
 * an up upstream suspect (checking), never this machine. */
static void
test_router_state_follows_connects (void)
{
  g_autoptr(ExgBackend) backend = exg_backend_direct_new (NULL);
  g_autoptr(ExgRouter) up = exg_router_new ("u", "u", EXG_ROUTER_KIND_SOCKS5,
                                            "192.0.2.1", "SE", 1, 2, backend);
  g_autoptr(ExgRouter) direct = make_router ("d", "", "", 0);

  g_assert_cmpint (exg_router_get_state (up), ==, EXG_ROUTER_STATE_CHECKING);
  exg_router_record_connect (up, 1000, TRUE);
  g_assert_cmpint (exg_router_get_state (up), ==, EXG_ROUTER_STATE_UP);
  g_assert_true (exg_router_get_up (up));
  exg_router_record_connect (up, -1, FALSE);
  g_assert_cmpint (exg_router_get_state (up), ==, EXG_ROUTER_STATE_CHECKING);
  exg_router_set_up (up, FALSE);
  exg_router_record_connect (up, -1, FALSE);
  g_assert_cmpint (exg_router_get_state (up), ==, EXG_ROUTER_STATE_DOWN);
  exg_router_record_connect (up, 500, TRUE);
  g_assert_cmpint (exg_router_get_state (up), ==, EXG_ROUTER_STATE_UP);

  exg_router_set_up (direct, TRUE);
  exg_router_record_connect (direct, -1, FALSE);
  g_assert_cmpint (exg_router_get_state (direct), ==, EXG_ROUTER_STATE_UP);
}

static void
count_notify (GObject *object, GParamSpec *pspec, guint *n)
{
  (*n)++;
}

/* observed-latency is told whenever what the window shows of it ("%.0f ms"
 * of µs / 1000) changes, and not on every connect */
static void
test_router_latency_notify (void)
{
  g_autoptr(ExgRouter) r = make_router ("l", "", "", 0);
  /* samples whose running average crosses and lands on half milliseconds */
  const gint64 samples[] = { 2500, 2500, 2900, 2400, 2500, 2500, 1500, 1500,
                             1500, 3500, 3500, 3500, 3500, 3520, 3490, 3501 };
  g_autofree char *shown = g_strdup ("");
  guint n = 0, changes = 0;

  g_signal_connect (r, "notify::observed-latency", G_CALLBACK (count_notify), &n);
  for (gsize i = 0; i < G_N_ELEMENTS (samples); i++)
    {
      guint before = n;
      g_autofree char *now = NULL;

      exg_router_record_connect (r, samples[i], TRUE);
      now = g_strdup_printf ("%.0f", exg_router_get_observed_latency (r) / 1000.0);
      /* told exactly when the text changes */
      g_assert_cmpuint (n - before, ==, g_strcmp0 (now, shown) != 0 ? 1 : 0);
      if (g_strcmp0 (now, shown) != 0)
        changes++;
      g_free (shown);
      shown = g_steal_pointer (&now);
    }
  g_assert_cmpuint (n, ==, changes);
  g_assert_cmpuint (n, <, G_N_ELEMENTS (samples));
}

static void
test_exit_policy_summary (void)
{
  g_assert_true (exg_exit_policy_allows_port (NULL, 25));
  g_assert_true (exg_exit_policy_allows_port ("accept 1-65535", 1));
  g_assert_true (exg_exit_policy_allows_port ("accept 1-65535", 65535));
  g_assert_true (exg_exit_policy_allows_port ("accept 80,443,1000-2000", 80));
  g_assert_true (exg_exit_policy_allows_port ("accept 80,443,1000-2000", 1000));
  g_assert_true (exg_exit_policy_allows_port ("accept 80,443,1000-2000", 2000));
  g_assert_false (exg_exit_policy_allows_port ("accept 80,443,1000-2000", 25));
  g_assert_false (exg_exit_policy_allows_port ("accept 80,443,1000-2000", 2001));
  g_assert_false (exg_exit_policy_allows_port ("reject 25,119,135-139", 25));
  g_assert_false (exg_exit_policy_allows_port ("reject 25,119,135-139", 137));
  g_assert_true (exg_exit_policy_allows_port ("reject 25,119,135-139", 80));
  /* what cannot be read lets nothing out */
  g_assert_false (exg_exit_policy_allows_port ("allow 80", 80));
  g_assert_false (exg_exit_policy_allows_port ("accept 80;443", 443));
  g_assert_false (exg_exit_policy_allows_port ("accept 70000", 80));
}

static void
test_selection_via_and_port (void)
{
  g_autoptr(ExgRouter) direct = make_router ("d", "127.0.0.1", "SE", 0);
  g_autoptr(ExgBackend) backend = exg_backend_direct_new (NULL);
  g_autoptr(ExgRouter) tor = exg_router_new ("t", "t", EXG_ROUTER_KIND_TOR, "127.0.0.9",
                                             "US", 4000000, 3, backend);
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  ExgSelection sel;

  exg_router_set_exit_policy (tor, "accept 80,443");

  g_assert_true (exg_selection_parse_username ("via=tor", &sel, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sel.via, ==, EXG_SELECTION_VIA_TOR);
  g_assert_false (exg_selection_is_any (&sel));
  g_assert_true (exg_selection_matches (&sel, tor));
  g_assert_false (exg_selection_matches (&sel, direct));
  text = exg_selection_to_string (&sel);
  g_assert_cmpstr (text, ==, "via=tor");

  g_assert_true (exg_selection_parse_username ("country=se,via=direct", &sel, &error));
  g_assert_cmpint (sel.via, ==, EXG_SELECTION_VIA_DIRECT);
  g_assert_true (exg_selection_matches (&sel, direct));
  g_assert_true (exg_selection_parse_username ("via=proxy", &sel, &error));
  g_assert_false (exg_selection_matches (&sel, direct));
  g_assert_false (exg_selection_matches (&sel, tor));
  g_assert_false (exg_selection_parse_username ("via=carrier-pigeon", &sel, &error));
  g_assert_error (error, EXG_ERROR, EXG_ERROR_NOT_ALLOWED);

  /* the port: an exit whose policy rejects it does not match */
  exg_selection_init_any (&sel);
  sel.port = 443;
  g_assert_true (exg_selection_matches (&sel, tor));
  sel.port = 25;
  g_assert_false (exg_selection_matches (&sel, tor));
  g_assert_true (exg_selection_matches (&sel, direct));
  g_assert_true (exg_selection_is_any (&sel));
}

static void
test_username_strip (void)
{
  g_autofree char *a = exg_selection_strip_username (NULL);
  g_autofree char *b = exg_selection_strip_username ("alice");
  g_autofree char *c = exg_selection_strip_username ("country=de,via=tor");
  g_autofree char *d = exg_selection_strip_username ("Country=de,work=1");
  g_autofree char *work = exg_selection_strip_username ("country=de,work");
  g_autofree char *home = exg_selection_strip_username ("country=de,home");
  g_autofree char *home2 = exg_selection_strip_username ("home,country=se,via=tor");

  g_assert_cmpstr (a, ==, "");
  g_assert_cmpstr (b, ==, "alice");
  g_assert_cmpstr (c, ==, "");
  g_assert_cmpstr (d, ==, "work=1");
  /* the same selection, two isolation keys */
  g_assert_cmpstr (work, ==, "work");
  g_assert_cmpstr (home, ==, "home");
  g_assert_cmpstr (home2, ==, "home");
}

/* The core says which filter left nothing, and how many a minimum
 * bandwidth leaves out. */
static void
test_selection_explain (void)
{
  g_autoptr(ExgRouterRegistry) registry = exg_router_registry_new ();
  g_autoptr(ExgRouter) se_fast = make_router ("a", "203.0.113.1", "SE", 5000);
  g_autoptr(ExgRouter) se_slow = make_router ("b", "203.0.113.2", "SE", 100);
  g_autoptr(ExgRouter) se_down = make_router ("c", "203.0.113.3", "SE", 9000);
  g_autoptr(ExgRouter) de = make_router ("d", "198.51.100.1", "DE", 5000);
  ExgMatchReport r;
  ExgSelection sel;

  exg_selection_init_any (&sel);
  exg_selection_explain (&sel, G_LIST_MODEL (registry), &r);
  g_assert_cmpuint (r.n_routers, ==, 0);

  exg_router_registry_add (registry, se_fast);
  exg_router_registry_add (registry, se_slow);
  exg_router_registry_add (registry, se_down);
  exg_router_registry_add (registry, de);
  exg_router_set_up (se_fast, TRUE);
  exg_router_set_up (se_slow, TRUE);
  exg_router_set_up (se_down, FALSE);
  exg_router_set_up (de, TRUE);

  exg_selection_set_country (&sel, "SE");
  sel.range_start = 0xCB007100;   /* 203.0.113.0/24 */
  sel.range_end = 0xCB0071FF;
  sel.min_bandwidth = 1000;
  exg_selection_explain (&sel, G_LIST_MODEL (registry), &r);
  g_assert_cmpuint (r.n_routers, ==, 4);
  g_assert_cmpuint (r.n_up, ==, 3);
  g_assert_cmpuint (r.n_in_country, ==, 2);
  g_assert_cmpuint (r.n_in_range, ==, 2);
  g_assert_cmpuint (r.n_matching, ==, 1);
  g_assert_cmpuint (r.n_below_bandwidth, ==, 1);

  /* a range with no SE exit in it */
  sel.range_start = sel.range_end = 0xC6336401;   /* 198.51.100.1 */
  exg_selection_explain (&sel, G_LIST_MODEL (registry), &r);
  g_assert_cmpuint (r.n_in_country, ==, 2);
  g_assert_cmpuint (r.n_in_range, ==, 0);
  g_assert_cmpuint (r.n_matching, ==, 0);

  /* a country with no exit up */
  exg_selection_init_any (&sel);
  exg_selection_set_country (&sel, "FR");
  exg_selection_explain (&sel, G_LIST_MODEL (registry), &r);
  g_assert_cmpuint (r.n_up, ==, 3);
  g_assert_cmpuint (r.n_in_country, ==, 0);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/selection/any", test_selection_any);
  g_test_add_func ("/selection/country/case-insensitive",
                   test_selection_country);
  g_test_add_func ("/selection/range/inclusive", test_selection_range);
  g_test_add_func ("/selection/bandwidth-and-up",
                   test_selection_bandwidth_and_up);
  g_test_add_func ("/selection/bandwidth/observed-when-not-advertised",
                   test_selection_bandwidth_observed);
  g_test_add_func ("/selection/all-three", test_selection_all_three);
  g_test_add_func ("/selection/username", test_username_selection);
  g_test_add_func ("/selection/exit-policy-summary", test_exit_policy_summary);
  g_test_add_func ("/selection/via-and-port", test_selection_via_and_port);
  g_test_add_func ("/selection/username-strip", test_username_strip);
  g_test_add_func ("/registry/pick/weighted-by-bandwidth",
                   test_registry_pick_weighted);
  g_test_add_func ("/registry/pick/no-silent-fallback",
                   test_registry_pick_no_match);
  g_test_add_func ("/selection/explain", test_selection_explain);
  g_test_add_func ("/registry/pick/down-in-weight-order",
                   test_registry_pick_down_in_weight_order);
  g_test_add_func ("/router/latency/notify-when-shown-changes",
                   test_router_latency_notify);
  g_test_add_func ("/router/state/follows-connects",
                   test_router_state_follows_connects);

  return g_test_run ();
}
