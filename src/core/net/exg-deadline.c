/* exg-deadline.c: one coarse timer per main context for every deadline.
 *
 * Armed deadlines sit in a queue in no particular order; the source's ready
 * time is at or after the earliest one, rounded up to SLACK so that
 * deadlines close together fire in one dispatch.  Arming a deadline later
 * than the ready time (the usual case: every new one is later than those
 * before it) and disarming touch only the queue; the ready time changes
 * (a context wakeup) only when a deadline comes earlier than it, and from
 * the dispatch itself (no wakeup then).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-deadline.h"

#define SLACK (G_USEC_PER_SEC / 4)

typedef struct {
  GSource source;
  GQueue  armed;    /* (element-type ExgDeadline) not owned */
  GQueue  firing;   /* expired, their callbacks not run yet */
} Timer;

static gint64
round_up (gint64 t)
{
  return (t + SLACK - 1) / SLACK * SLACK;
}

static gboolean
timer_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  Timer *timer = (Timer *) source;
  gint64 now = g_get_monotonic_time ();
  gint64 next = G_MAXINT64;
  GList *l = timer->armed.head;

  /* expired ones move to the firing queue first: a callback may disarm
   * (or free the owner of) another expired deadline, which then leaves
   * that queue and is never called */
  while (l != NULL)
    {
      GList *following = l->next;
      ExgDeadline *d = l->data;

      if (d->when <= now)
        {
          g_queue_unlink (&timer->armed, l);
          g_queue_push_tail_link (&timer->firing, l);
          d->queue = &timer->firing;
        }
      else
        next = MIN (next, d->when);
      l = following;
    }
  /* blocked while it dispatches: no wakeup */
  g_source_set_ready_time (source, next == G_MAXINT64 ? -1 : round_up (next));

  while ((l = g_queue_pop_head_link (&timer->firing)) != NULL)
    {
      ExgDeadline *d = l->data;

      g_list_free_1 (l);
      d->link = NULL;
      d->queue = NULL;
      d->when = -1;
      d->func (d->user_data);
    }
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_funcs = {
  NULL, NULL, timer_dispatch, NULL, NULL, NULL,
};

G_LOCK_DEFINE_STATIC (timers);
static GHashTable *timers;   /* GMainContext (ref'd) → Timer (never freed) */

/* The timer of the thread-default main context, created on first use; it
 * stays attached for the life of the process, as the poller does. */
static Timer *
timer_get_default (void)
{
  GMainContext *context = g_main_context_get_thread_default ();
  Timer *timer;

  if (context == NULL)
    context = g_main_context_default ();

  G_LOCK (timers);
  if (timers == NULL)
    timers = g_hash_table_new (NULL, NULL);
  timer = g_hash_table_lookup (timers, context);
  if (timer == NULL)
    {
      timer = (Timer *) g_source_new (&timer_funcs, sizeof (Timer));
      g_queue_init (&timer->armed);
      g_queue_init (&timer->firing);
      g_source_set_static_name (&timer->source, "[exitgate] deadlines");
      g_source_attach (&timer->source, context);
      g_hash_table_insert (timers, g_main_context_ref (context), timer);
    }
  G_UNLOCK (timers);

  return timer;
}

void
exg_deadline_init (ExgDeadline     *self,
                   ExgDeadlineFunc  func,
                   gpointer         user_data)
{
  self->when = -1;
  self->link = NULL;
  self->queue = NULL;
  self->timer = NULL;
  self->func = func;
  self->user_data = user_data;
}

void
exg_deadline_clear (ExgDeadline *self)
{
  if (self->link != NULL)
    g_queue_delete_link (self->queue, self->link);
  self->link = NULL;
  self->queue = NULL;
  self->when = -1;
}

void
exg_deadline_set (ExgDeadline *self,
                  gint64       when)
{
  Timer *timer;
  gint64 ready;

  if (when < 0)
    {
      exg_deadline_clear (self);
      return;
    }

  /* the context of the first arming, for the owner's whole life (and one
   * lookup per owner, not one per deadline) */
  if (self->timer == NULL)
    self->timer = timer_get_default ();
  timer = self->timer;

  if (self->link != NULL && self->queue != &timer->armed)
    exg_deadline_clear (self);   /* firing: re-armed from its own callback */
  self->when = when;
  if (self->link == NULL)
    {
      g_queue_push_tail (&timer->armed, self);
      self->link = timer->armed.tail;
      self->queue = &timer->armed;
    }
  ready = g_source_get_ready_time (&timer->source);
  if (ready < 0 || when < ready)
    g_source_set_ready_time (&timer->source, round_up (when));
}

gint64
exg_deadline_get (const ExgDeadline *self)
{
  return self->when;
}
