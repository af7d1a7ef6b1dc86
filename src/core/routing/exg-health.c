/* exg-health.c: a router's state follows what is observed.
 *
 * Every router of the registry is watched.  A router that is new, or that
 * a failed connect made suspect (state CHECKING), is checked at once.  A
 * router whose check fails is DOWN and re-checked with backoff: 1 s, 2 s,
 * 4 s … up to the round interval, so an exit that comes back is seen in
 * seconds while a long-dead one costs one connect a minute.  Besides, a
 * round checks every router every @interval seconds; "checked" is emitted
 * when every router of a round has answered.  The next round starts
 * @interval seconds after the end of the previous one, so rounds never
 * overlap and a slow upstream cannot make them pile up.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-health.h"

#include "exg-backend.h"
#include "exg-router.h"

/* Checks in flight at once: enough to get through a few hundred upstreams
 * within a round, few enough not to look like a port scan. */
#define MAX_CONCURRENT_CHECKS 8

/* The first re-check of a router found down, in ms; it doubles from there */
#define FIRST_BACKOFF_MS 1000

typedef struct _Watch Watch;

struct _ExgHealth
{
  GObject            parent_instance;

  ExgRouterRegistry *registry;      /* owned */
  gulong             items_id;      /* registry::items-changed */
  guint              interval;      /* seconds; 0: no periodic rounds */
  guint              timeout_id;    /* next round */
  GCancellable      *cancellable;   /* owned: cancelled on dispose */

  /* (element-type ExgRouter Watch) owned: every router of the registry */
  GHashTable        *watches;
  GPtrArray         *order;         /* Watch*, borrowed: in registry order */
  GQueue             queue;         /* Watch*, borrowed: to check */
  guint              in_flight;
  gboolean           running;       /* a round is under way */
  guint              round_left;    /* routers of the round not answered */
  gboolean           again;         /* check_now during a round: one more */
};

struct _Watch
{
  ExgHealth     *health;      /* borrowed: owns this */
  ExgRouter     *router;      /* owned */
  gulong         notify_id;
  ExgRouterState last_state;  /* to tell "up again" from "up" */
  guint          backoff_ms;  /* 0 until a check found the router down */
  guint          recheck_id;  /* the next backoff re-check */
  gboolean       queued;
  gboolean       in_flight;
  gboolean       in_round;    /* counted in round_left */
};

enum {
  SIGNAL_CHECKED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (ExgHealth, exg_health, G_TYPE_OBJECT)

typedef struct {
  ExgHealth    *self;         /* not owned: valid until cancellable is */
  ExgRouter    *router;       /* owned */
  GCancellable *cancellable;  /* owned: self's, to know whether self is gone */
  gint64        start;        /* monotonic µs */
} Check;

static void health_pump (ExgHealth *self);
static void health_start_round (ExgHealth *self);

static gboolean
round_timeout_cb (gpointer user_data)
{
  ExgHealth *self = user_data;

  self->timeout_id = 0;
  health_start_round (self);
  return G_SOURCE_REMOVE;
}

static void
health_end_round (ExgHealth *self)
{
  /* A "checked" handler may drop the last outside ref. */
  g_object_ref (self);

  self->running = FALSE;
  g_signal_emit (self, signals[SIGNAL_CHECKED], 0);

  /* Disposed meanwhile: no more rounds. */
  if (!g_cancellable_is_cancelled (self->cancellable))
    {
      g_clear_handle_id (&self->timeout_id, g_source_remove);
      if (self->again)
        {
          self->again = FALSE;
          health_start_round (self);
        }
      else if (self->interval > 0)
        self->timeout_id = g_timeout_add_seconds (self->interval,
                                                  round_timeout_cb, self);
    }

  g_object_unref (self);
}

/* A router of the round has answered, or left the registry. */
static void
round_done_one (ExgHealth *self,
                Watch     *w)
{
  if (!w->in_round)
    return;
  w->in_round = FALSE;
  g_assert (self->round_left > 0);
  if (--self->round_left == 0 && self->running)
    health_end_round (self);
}

static gboolean
recheck_cb (gpointer user_data)
{
  Watch *w = user_data;

  w->recheck_id = 0;
  if (!w->queued && !w->in_flight)
    {
      w->queued = TRUE;
      g_queue_push_tail (&w->health->queue, w);
      health_pump (w->health);
    }
  return G_SOURCE_REMOVE;
}

static void
request_check (Watch *w)
{
  if (w->queued || w->in_flight)
    return;
  g_clear_handle_id (&w->recheck_id, g_source_remove);
  w->queued = TRUE;
  /* a suspect router goes first: clients may be waiting on it */
  g_queue_push_head (&w->health->queue, w);
  health_pump (w->health);
}

static void
verdict (ExgHealth    *self,
         Watch        *w,
         gint64        latency,
         const GError *error)
{
  if (error == NULL)
    {
      w->backoff_ms = 0;
      g_clear_handle_id (&w->recheck_id, g_source_remove);
      exg_router_record_connect (w->router, latency, TRUE);
      return;
    }

  /* the upstream's own address is configuration, not a target: safe */
  if (exg_router_get_state (w->router) != EXG_ROUTER_STATE_DOWN)
    g_message ("Exit “%s” is down: %s", exg_router_get_name (w->router),
               error->message);
  exg_router_set_state (w->router, EXG_ROUTER_STATE_DOWN);

  w->backoff_ms = w->backoff_ms == 0 ? FIRST_BACKOFF_MS : w->backoff_ms * 2;
  w->backoff_ms = MIN (w->backoff_ms,
                       MAX (self->interval, 1) * 1000u);
  g_clear_handle_id (&w->recheck_id, g_source_remove);
  w->recheck_id = g_timeout_add (w->backoff_ms, recheck_cb, w);
}

static void
check_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Check *check = user_data;
  ExgHealth *self = check->self;
  g_autoptr(GError) error = NULL;
  gint64 latency;

  exg_backend_check_finish (EXG_BACKEND (source), result, &error);
  latency = g_get_monotonic_time () - check->start;

  /* Cancelled means disposed: neither self nor the verdict matter now. */
  if (!g_cancellable_is_cancelled (check->cancellable))
    {
      Watch *w = g_hash_table_lookup (self->watches, check->router);

      self->in_flight--;
      /* a router removed meanwhile has no watch: its verdict is moot */
      if (w != NULL)
        {
          w->in_flight = FALSE;
          verdict (self, w, latency, error);
          round_done_one (self, w);
        }
      health_pump (self);
    }

  g_object_unref (check->router);
  g_object_unref (check->cancellable);
  g_free (check);
}

/* Starts checks until MAX_CONCURRENT_CHECKS are in flight or the queue is
 * empty. */
static void
health_pump (ExgHealth *self)
{
  g_object_ref (self);

  while (self->in_flight < MAX_CONCURRENT_CHECKS &&
         !g_queue_is_empty (&self->queue) &&
         !g_cancellable_is_cancelled (self->cancellable))
    {
      Watch *w = g_queue_pop_head (&self->queue);
      ExgBackend *backend = exg_router_get_backend (w->router);
      Check *check;

      w->queued = FALSE;

      /* A tor exit's state is tor's: ExgTorClient sets it from the
       * consensus and the control connection.  Checking thousands of
       * relays one by one would only build circuits for nothing. */
      if (exg_router_get_kind (w->router) == EXG_ROUTER_KIND_TOR)
        {
          round_done_one (self, w);
          continue;
        }

      /* This machine is always there to exit from. */
      if (exg_router_get_kind (w->router) == EXG_ROUTER_KIND_DIRECT ||
          backend == NULL)
        {
          exg_router_set_state (w->router, EXG_ROUTER_STATE_UP);
          round_done_one (self, w);
          continue;
        }

      check = g_new0 (Check, 1);
      check->self = self;
      check->router = g_object_ref (w->router);
      check->cancellable = g_object_ref (self->cancellable);
      check->start = g_get_monotonic_time ();
      w->in_flight = TRUE;
      self->in_flight++;
      exg_backend_check_async (backend, self->cancellable, check_cb, check);
    }

  g_object_unref (self);
}

static void
health_start_round (ExgHealth *self)
{
  GHashTableIter iter;
  Watch *w;

  g_clear_handle_id (&self->timeout_id, g_source_remove);
  self->running = TRUE;

  /* A snapshot: routers added during the round are checked on their own
   * and wait for the next round to be counted in one. */
  g_hash_table_iter_init (&iter, self->watches);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &w))
    {
      w->in_round = TRUE;
      self->round_left++;
    }
  if (self->round_left == 0)
    {
      health_end_round (self);
      return;
    }

  g_hash_table_iter_init (&iter, self->watches);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &w))
    if (!w->queued && !w->in_flight)
      {
        w->queued = TRUE;
        g_queue_push_tail (&self->queue, w);
      }
  health_pump (self);
}

static void
state_notify_cb (ExgRouter  *router,
                 GParamSpec *pspec,
                 gpointer    user_data)
{
  Watch *w = user_data;
  ExgRouterState state = exg_router_get_state (router);

  if (w->last_state == EXG_ROUTER_STATE_DOWN && state == EXG_ROUTER_STATE_UP)
    {
      g_message ("Exit “%s” is up again", exg_router_get_name (router));
      w->backoff_ms = 0;
      g_clear_handle_id (&w->recheck_id, g_source_remove);
    }
  w->last_state = state;

  /* suspect: a connect through it failed */
  if (state == EXG_ROUTER_STATE_CHECKING)
    request_check (w);
}

static void
watch_free (gpointer data)
{
  Watch *w = data;
  ExgHealth *self = w->health;

  g_clear_signal_handler (&w->notify_id, w->router);
  g_clear_handle_id (&w->recheck_id, g_source_remove);
  if (w->queued)
    g_queue_remove (&self->queue, w);
  if (w->in_round)
    {
      w->in_round = FALSE;
      self->round_left--;
    }
  g_object_unref (w->router);
  g_free (w);
}

static Watch *
watch_router (ExgHealth *self,
              ExgRouter *router,
              gboolean   check_new)
{
  Watch *w;

  w = g_new0 (Watch, 1);
  w->health = self;
  w->router = g_object_ref (router);
  w->last_state = exg_router_get_state (router);
  w->notify_id = g_signal_connect (router, "notify::state",
                                   G_CALLBACK (state_notify_cb), w);
  g_hash_table_insert (self->watches, router, w);

  if (check_new && w->last_state == EXG_ROUTER_STATE_CHECKING)
    request_check (w);
  return w;
}

/* Watches exactly the routers of the registry: @order mirrors its list,
 * so a change costs what it changed, not the whole list (a tor consensus
 * brings thousands of routers, one items-changed each). */
static void
items_changed_cb (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  gpointer    user_data)
{
  ExgHealth *self = user_data;
  gboolean round_was_open = self->running && self->round_left > 0;

  for (guint i = position; i < position + removed; i++)
    {
      Watch *w = g_ptr_array_index (self->order, i);

      g_hash_table_remove (self->watches, w->router);
    }
  g_ptr_array_remove_range (self->order, position, removed);

  for (guint i = position; i < position + added; i++)
    {
      g_autoptr(ExgRouter) item = g_list_model_get_item (model, i);

      g_ptr_array_insert (self->order, i, watch_router (self, item, TRUE));
    }

  /* the routers a round waited for may all have gone */
  if (round_was_open && self->round_left == 0)
    health_end_round (self);
}

/**
 * exg_health_check_now:
 * @self: an #ExgHealth
 *
 * Checks every router now.  "checked" is emitted when all have answered;
 * during a round, another one follows it.
 */
void
exg_health_check_now (ExgHealth *self)
{
  g_return_if_fail (EXG_IS_HEALTH (self));

  if (self->running)
    {
      self->again = TRUE;
      return;
    }
  health_start_round (self);
}

/**
 * exg_health_check_router:
 * @self: an #ExgHealth
 * @router: a router of the registry
 *
 * Checks @router now (unless a check of it is under way), as after a
 * failed Test.  Its state is CHECKING until the check answers.
 */
void
exg_health_check_router (ExgHealth *self,
                         ExgRouter *router)
{
  Watch *w;

  g_return_if_fail (EXG_IS_HEALTH (self));
  g_return_if_fail (EXG_IS_ROUTER (router));

  w = g_hash_table_lookup (self->watches, router);
  if (w == NULL)
    return;
  exg_router_set_state (router, EXG_ROUTER_STATE_CHECKING);
  request_check (w);
}

static void
exg_health_dispose (GObject *object)
{
  ExgHealth *self = EXG_HEALTH (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->timeout_id, g_source_remove);
  if (self->registry != NULL)
    g_clear_signal_handler (&self->items_id, self->registry);
  if (self->order != NULL)
    g_ptr_array_set_size (self->order, 0);
  if (self->watches != NULL)
    g_hash_table_remove_all (self->watches);
  g_clear_object (&self->registry);

  G_OBJECT_CLASS (exg_health_parent_class)->dispose (object);
}

static void
exg_health_finalize (GObject *object)
{
  ExgHealth *self = EXG_HEALTH (object);

  g_clear_pointer (&self->order, g_ptr_array_unref);
  g_clear_pointer (&self->watches, g_hash_table_unref);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (exg_health_parent_class)->finalize (object);
}

static void
exg_health_class_init (ExgHealthClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = exg_health_dispose;
  object_class->finalize = exg_health_finalize;

  /**
   * ExgHealth::checked:
   *
   * Every router of a round has been checked (and marked up or down).
   */
  signals[SIGNAL_CHECKED] =
    g_signal_new ("checked", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
exg_health_init (ExgHealth *self)
{
  self->cancellable = g_cancellable_new ();
  self->watches = g_hash_table_new_full (NULL, NULL, NULL, watch_free);
  self->order = g_ptr_array_new ();
  g_queue_init (&self->queue);
}

/**
 * exg_health_new:
 * @registry: the routers to check
 * @interval: seconds between the end of a round and the next, and the
 *   longest backoff between re-checks of a router that is down; 0: only
 *   one round, now
 *
 * Watches every router of @registry (new and suspect ones are checked at
 * once, down ones again with backoff), and checks all of them now, then
 * every @interval seconds.  The first round starts from the main loop, so
 * "checked" can be connected to first.
 *
 * Returns: (transfer full): a new #ExgHealth
 */
ExgHealth *
exg_health_new (ExgRouterRegistry *registry,
                guint              interval)
{
  ExgHealth *self;
  guint n;

  g_return_val_if_fail (EXG_IS_ROUTER_REGISTRY (registry), NULL);

  self = g_object_new (EXG_TYPE_HEALTH, NULL);
  self->registry = g_object_ref (registry);
  self->interval = interval;
  self->items_id = g_signal_connect (registry, "items-changed",
                                     G_CALLBACK (items_changed_cb), self);
  /* the first round checks them all: no need to check them twice */
  n = g_list_model_get_n_items (G_LIST_MODEL (registry));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(ExgRouter) router = g_list_model_get_item (G_LIST_MODEL (registry), i);

      g_ptr_array_add (self->order, watch_router (self, router, FALSE));
    }
  self->timeout_id = g_idle_add (round_timeout_cb, self);

  return self;
}
