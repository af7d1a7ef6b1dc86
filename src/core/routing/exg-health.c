/* exg-health.c: periodic health checks of the routers of a registry.
 *
 * A round checks every router of the registry, a few at a time, marks each
 * up or down by the result and records how long the check took; "checked"
 * is emitted when every router of the round has answered.  The next round
 * starts @interval seconds after the end of the previous one, so rounds
 * never overlap and a slow upstream cannot make them pile up.
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

struct _ExgHealth
{
  GObject            parent_instance;

  ExgRouterRegistry *registry;      /* owned */
  guint              interval;      /* seconds; 0: no periodic rounds */
  guint              timeout_id;    /* next round */
  GCancellable      *cancellable;   /* owned: cancelled on dispose */

  /* owned, element-type ExgRouter (owned): still to check this round */
  GPtrArray         *queue;
  guint              in_flight;
  gboolean           running;       /* a round is under way */
  gboolean           again;         /* check_now during a round: one more */
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

static void
check_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Check *check = user_data;
  ExgHealth *self = check->self;
  g_autoptr(GError) error = NULL;
  gboolean ok;
  gint64 latency;

  ok = exg_backend_check_finish (EXG_BACKEND (source), result, &error);
  latency = g_get_monotonic_time () - check->start;

  /* Cancelled means disposed: neither self nor the verdict matter now. */
  if (!g_cancellable_is_cancelled (check->cancellable))
    {
      if (!ok)
        g_debug ("Exit %s is down: %s", exg_router_get_name (check->router),
                 error->message);
      exg_router_record_connect (check->router, ok ? latency : -1, ok);
      exg_router_set_up (check->router, ok);

      self->in_flight--;
      health_pump (self);
    }

  g_object_unref (check->router);
  g_object_unref (check->cancellable);
  g_free (check);
}

/* Starts checks until MAX_CONCURRENT_CHECKS are in flight or the round's
 * queue is empty; ends the round when nothing is left at all. */
static void
health_pump (ExgHealth *self)
{
  while (self->in_flight < MAX_CONCURRENT_CHECKS && self->queue->len > 0)
    {
      ExgRouter *router = g_ptr_array_steal_index (self->queue,
                                                   self->queue->len - 1);
      ExgBackend *backend = exg_router_get_backend (router);
      Check *check;

      /* This machine is always there to exit from. */
      if (exg_router_get_kind (router) == EXG_ROUTER_KIND_DIRECT ||
          backend == NULL)
        {
          exg_router_set_up (router, TRUE);
          g_object_unref (router);
          continue;
        }

      check = g_new0 (Check, 1);
      check->self = self;
      check->router = router;
      check->cancellable = g_object_ref (self->cancellable);
      check->start = g_get_monotonic_time ();
      self->in_flight++;
      exg_backend_check_async (backend, self->cancellable, check_cb, check);
    }

  if (self->in_flight == 0 && self->queue->len == 0 && self->running)
    health_end_round (self);
}

static void
health_start_round (ExgHealth *self)
{
  GListModel *model = G_LIST_MODEL (self->registry);
  guint n = g_list_model_get_n_items (model);

  g_clear_handle_id (&self->timeout_id, g_source_remove);
  self->running = TRUE;

  /* A snapshot: routers added during the round wait for the next one. */
  for (guint i = n; i > 0; i--)
    g_ptr_array_add (self->queue, g_list_model_get_item (model, i - 1));

  health_pump (self);
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

static void
exg_health_dispose (GObject *object)
{
  ExgHealth *self = EXG_HEALTH (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->timeout_id, g_source_remove);
  if (self->queue != NULL)
    g_ptr_array_set_size (self->queue, 0);
  g_clear_object (&self->registry);

  G_OBJECT_CLASS (exg_health_parent_class)->dispose (object);
}

static void
exg_health_finalize (GObject *object)
{
  ExgHealth *self = EXG_HEALTH (object);

  g_clear_pointer (&self->queue, g_ptr_array_unref);
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
  self->queue = g_ptr_array_new_with_free_func (g_object_unref);
}

/**
 * exg_health_new:
 * @registry: the routers to check
 * @interval: seconds between the end of a round and the next; 0: only one
 *   round, now
 *
 * Checks every router now, then every @interval seconds.  The first round
 * starts from the main loop, so "checked" can be connected to first.
 *
 * Returns: (transfer full): a new #ExgHealth
 */
ExgHealth *
exg_health_new (ExgRouterRegistry *registry,
                guint              interval)
{
  ExgHealth *self;

  g_return_val_if_fail (EXG_IS_ROUTER_REGISTRY (registry), NULL);

  self = g_object_new (EXG_TYPE_HEALTH, NULL);
  self->registry = g_object_ref (registry);
  self->interval = interval;
  self->timeout_id = g_idle_add (round_timeout_cb, self);

  return self;
}
