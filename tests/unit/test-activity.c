/* test-activity.c: the in-memory activity model: connections, signals,
 * byte counters and the bounded lookup history.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-core.h"

typedef struct {
  guint added;
  guint changed;
  guint removed;
  guint lookups;
  guint cleared;
  guint64 last_id;
} Counts;

static void
added_cb (ExgActivity *activity, ExgConnInfo *info, Counts *c)
{
  c->added++;
  c->last_id = info->id;
}

static void
changed_cb (ExgActivity *activity, ExgConnInfo *info, Counts *c)
{
  c->changed++;
  c->last_id = info->id;
}

static void
removed_cb (ExgActivity *activity, ExgConnInfo *info, Counts *c)
{
  c->removed++;
  c->last_id = info->id;
  /* end_time is set before the signal */
  g_assert_cmpint (info->end_time, >=, info->start_time);
}

static void
lookup_cb (ExgActivity *activity, ExgLookup *lookup, Counts *c)
{
  c->lookups++;
}

static void
cleared_cb (ExgActivity *activity, Counts *c)
{
  c->cleared++;
}

static void
connect_counts (ExgActivity *activity,
                Counts      *c)
{
  g_signal_connect (activity, "connection-added", G_CALLBACK (added_cb), c);
  g_signal_connect (activity, "connection-changed", G_CALLBACK (changed_cb), c);
  g_signal_connect (activity, "connection-removed", G_CALLBACK (removed_cb), c);
  g_signal_connect (activity, "lookup-added", G_CALLBACK (lookup_cb), c);
  g_signal_connect (activity, "lookups-cleared", G_CALLBACK (cleared_cb), c);
}

static void
test_activity_connections (void)
{
  g_autoptr(ExgActivity) activity = exg_activity_new (0);
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(ExgConnInfo) kept = NULL;
  Counts c = { 0 };
  ExgConnInfo *a, *b;
  guint64 up = 1, down = 1;

  connect_counts (activity, &c);

  a = exg_activity_add_connection (activity, "127.0.0.1:40000");
  b = exg_activity_add_connection (activity, "[::1]:40001");
  g_assert_cmpuint (c.added, ==, 2);
  g_assert_cmpuint (a->id, ==, 1);
  g_assert_cmpuint (b->id, ==, 2);
  g_assert_cmpstr (a->client, ==, "127.0.0.1:40000");
  g_assert_cmpint (a->state, ==, EXG_CONN_STATE_HANDSHAKE);
  g_assert_cmpint (a->start_time, >, 0);
  g_assert_cmpint (a->end_time, ==, 0);
  g_assert_null (a->target);
  g_assert_cmpuint (exg_activity_get_n_connections (activity), ==, 2);
  g_assert_true (exg_activity_lookup_connection (activity, 2) == b);
  g_assert_null (exg_activity_lookup_connection (activity, 3));

  /* bytes: no signal, counted per connection and in the totals */
  exg_activity_add_bytes (activity, a, 100, 2000);
  exg_activity_add_bytes (activity, b, 5, 7);
  g_assert_cmpuint (c.changed, ==, 0);
  g_assert_cmpuint (a->bytes_up, ==, 100);
  g_assert_cmpuint (a->bytes_down, ==, 2000);
  exg_activity_get_totals (activity, &up, &down);
  g_assert_cmpuint (up, ==, 105);
  g_assert_cmpuint (down, ==, 2007);

  a->state = EXG_CONN_STATE_OPEN;
  exg_activity_connection_changed (activity, a);
  g_assert_cmpuint (c.changed, ==, 1);
  g_assert_cmpuint (c.last_id, ==, 1);

  list = exg_activity_list_connections (activity);
  g_assert_cmpuint (list->len, ==, 2);
  g_assert_true (g_ptr_array_index (list, 0) == a);
  g_assert_true (g_ptr_array_index (list, 1) == b);

  /* a view may keep a record past its removal */
  kept = exg_conn_info_ref (a);
  exg_activity_remove_connection (activity, a);
  g_assert_cmpuint (c.removed, ==, 1);
  g_assert_cmpuint (exg_activity_get_n_connections (activity), ==, 1);
  g_assert_cmpint (kept->end_time, >, 0);
  g_assert_cmpuint (kept->bytes_down, ==, 2000);
  /* removing twice is harmless and silent */
  exg_activity_remove_connection (activity, kept);
  g_assert_cmpuint (c.removed, ==, 1);

  /* totals outlive the connections */
  exg_activity_remove_connection (activity, b);
  exg_activity_get_totals (activity, &up, &down);
  g_assert_cmpuint (up, ==, 105);
  g_assert_cmpuint (exg_activity_get_n_connections (activity), ==, 0);
  g_assert_cmpstr (exg_conn_state_to_string (EXG_CONN_STATE_OPEN), ==, "open");
}

static void
test_activity_history_bound (void)
{
  g_autoptr(ExgActivity) activity = exg_activity_new (5);
  g_autoptr(ExgBackend) backend = exg_backend_direct_new (NULL);
  g_autoptr(ExgRouter) router = exg_router_new ("se-1", "Sweden 1",
                                                EXG_ROUTER_KIND_SOCKS5,
                                                "192.0.2.1", "SE", 1, 2, backend);
  const GQueue *lookups;
  ExgLookup *first, *last;
  Counts c = { 0 };

  connect_counts (activity, &c);
  g_assert_cmpuint (exg_activity_get_history_size (activity), ==, 5);

  for (int i = 0; i < 12; i++)
    {
      g_autofree char *q = g_strdup_printf ("host%d.example", i);

      exg_activity_add_lookup (activity, EXG_LOOKUP_FORWARD, q,
                               i % 2 ? "192.0.2.9, 2001:db8::9" : NULL,
                               i % 2 ? NULL : "Name not found",
                               i % 3 ? router : NULL);
    }
  g_assert_cmpuint (c.lookups, ==, 12);

  lookups = exg_activity_get_lookups (activity);
  g_assert_cmpuint (g_queue_get_length ((GQueue *) lookups), ==, 5);
  /* newest last; the oldest went first */
  first = g_queue_peek_head ((GQueue *) lookups);
  last = g_queue_peek_tail ((GQueue *) lookups);
  g_assert_cmpstr (first->query, ==, "host7.example");
  g_assert_cmpstr (last->query, ==, "host11.example");
  g_assert_cmpint (last->kind, ==, EXG_LOOKUP_FORWARD);
  g_assert_cmpstr (last->answer, ==, "192.0.2.9, 2001:db8::9");
  g_assert_null (last->error);
  g_assert_cmpstr (last->exit_name, ==, "Sweden 1");
  g_assert_cmpstr (last->exit_country, ==, "SE");
  g_assert_cmpint (last->time, >, 0);
  /* host9: i % 3 == 0, no exit */
  g_assert_null (((ExgLookup *) g_queue_peek_nth ((GQueue *) lookups,
                                                  2))->exit_name);

  exg_activity_add_lookup (activity, EXG_LOOKUP_REVERSE, "192.0.2.1", NULL,
                           "failed", router);
  last = g_queue_peek_tail ((GQueue *) lookups);
  g_assert_cmpint (last->kind, ==, EXG_LOOKUP_REVERSE);
  g_assert_cmpstr (last->error, ==, "failed");

  /* shrinking drops the oldest at once */
  exg_activity_set_history_size (activity, 2);
  g_assert_cmpuint (g_queue_get_length ((GQueue *) lookups), ==, 2);
  first = g_queue_peek_head ((GQueue *) lookups);
  g_assert_cmpstr (first->query, ==, "host11.example");

  exg_activity_clear_lookups (activity);
  g_assert_cmpuint (c.cleared, ==, 1);
  g_assert_cmpuint (g_queue_get_length ((GQueue *) exg_activity_get_lookups (activity)), ==, 0);

  /* size 0 keeps nothing */
  exg_activity_set_history_size (activity, 0);
  exg_activity_add_lookup (activity, EXG_LOOKUP_FORWARD, "x", "1.2.3.4", NULL,
                           NULL);
  g_assert_cmpuint (g_queue_get_length ((GQueue *) exg_activity_get_lookups (activity)), ==, 0);
}

static void
test_activity_default_size (void)
{
  g_autoptr(ExgActivity) activity = exg_activity_new (0);

  g_assert_cmpuint (exg_activity_get_history_size (activity), ==, 1000);
  for (int i = 0; i < 1200; i++)
    exg_activity_add_lookup (activity, EXG_LOOKUP_FORWARD, "a.example",
                             "192.0.2.1", NULL, NULL);
  g_assert_cmpuint (g_queue_get_length ((GQueue *) exg_activity_get_lookups (activity)), ==, 1000);
}

/* The client's address without its port, as the isolation key and the
 * unsafe-CONNECT note use it */
static void
test_activity_client_host (void)
{
  g_autoptr(ExgActivity) activity = exg_activity_new (0);
  const struct { const char *client, *host; } cases[] = {
    { "127.0.0.1:4242", "127.0.0.1" },
    { "[::1]:4242", "[::1]" },
    { "[::1]", "[::1]" },          /* no port: all of it */
    { "192.0.2.7", "192.0.2.7" },
    { "", "" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      ExgConnInfo *info = exg_activity_add_connection (activity, cases[i].client);
      g_autofree char *host = exg_conn_info_get_client_host (info);

      g_assert_cmpstr (host, ==, cases[i].host);
      g_assert_cmpuint (exg_conn_info_client_host_len (info), ==, strlen (cases[i].host));
      exg_activity_remove_connection (activity, info);
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/activity/connections", test_activity_connections);
  g_test_add_func ("/activity/client-host", test_activity_client_host);
  g_test_add_func ("/activity/history/bounded", test_activity_history_bound);
  g_test_add_func ("/activity/history/default-size",
                   test_activity_default_size);

  return g_test_run ();
}
