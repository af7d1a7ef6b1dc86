/* exg-poller.c: one epoll descriptor per GMainContext.
 *
 * GLib's main loop hands every watched descriptor to poll(2) on every
 * iteration, so its cost grows with the number of connections.  Here the
 * main loop watches a single descriptor, the epoll one; when it is readable
 * our dispatch asks the kernel which of the (possibly thousands of) relayed
 * sockets are ready, without waiting, and calls their handlers in a batch.
 *
 * Handlers may remove any descriptor, including ones whose events are later
 * in the same batch.  Each epoll event carries a pointer to its Watch, not
 * the descriptor number: a removed Watch becomes a tombstone (func = NULL)
 * kept alive until the batch ends, so a stale event finds the tombstone and
 * is skipped, even if the descriptor number has meanwhile been reused by a
 * new Watch.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-poller.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Events taken from the kernel per epoll_wait.  The epoll descriptor stays
 * readable while more are ready, so the rest come on the next iteration,
 * after the other sources of the context had their turn. */
#define EXG_POLLER_BATCH 256

typedef struct
{
  ExgPollerFunc func;   /* NULL once removed (a tombstone) or parked */
  gpointer      user_data;
  int           fd;
  guint32       events; /* as registered with the kernel */
  gboolean      held;   /* parked for exg_poller_take_over: still open */
  guint32       ready;  /* every event reported so far, less what owners
                         * said they used up (exg_poller_clear_ready) */
} Watch;

struct _ExgPoller
{
  GSource       source;
  int           epfd;        /* owned */
  GPtrArray    *watches;     /* indexed by fd; owned Watch or NULL */
  GPtrArray    *tombstones;  /* Watches removed during a batch; owned */
  guint         dispatching; /* depth of batches in progress (nested
                              * iterations may re-enter) */
};

G_LOCK_DEFINE_STATIC (pollers);
static GHashTable *pollers; /* GMainContext (ref'd) → ExgPoller (never freed) */

static gboolean
poller_dispatch (GSource     *source,
                 GSourceFunc  callback,
                 gpointer     user_data)
{
  ExgPoller *self = (ExgPoller *) source;
  struct epoll_event events[EXG_POLLER_BATCH];
  int n;

  /* Timeout 0: GLib's poll has already told us the epoll fd is readable */
  do
    n = epoll_wait (self->epfd, events, G_N_ELEMENTS (events), 0);
  while (n < 0 && errno == EINTR);

  if (n < 0)
    {
      g_critical ("epoll_wait: %s", g_strerror (errno));
      return G_SOURCE_CONTINUE;
    }

  self->dispatching++;
  for (int i = 0; i < n; i++)
    {
      Watch *w = events[i].data.ptr;

      /* remembered while parked too: the next owner must not miss it */
      w->ready |= events[i].events;
      if (w->func != NULL)
        w->func (w->user_data, events[i].events);
    }
  self->dispatching--;

  if (self->dispatching == 0 && self->tombstones->len > 0)
    g_ptr_array_set_size (self->tombstones, 0);

  return G_SOURCE_CONTINUE;
}

static void
poller_finalize (GSource *source)
{
  ExgPoller *self = (ExgPoller *) source;

  g_clear_pointer (&self->watches, g_ptr_array_unref);
  g_clear_pointer (&self->tombstones, g_ptr_array_unref);
  if (self->epfd >= 0)
    close (self->epfd);
}

static GSourceFuncs poller_funcs = {
  .dispatch = poller_dispatch,
  .finalize = poller_finalize,
};

static ExgPoller *
exg_poller_new (GMainContext *context)
{
  ExgPoller *self;
  int epfd;

  epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (epfd < 0)
    g_error ("epoll_create1: %s", g_strerror (errno));

  self = (ExgPoller *) g_source_new (&poller_funcs, sizeof (ExgPoller));
  self->epfd = epfd;
  self->watches = g_ptr_array_new_with_free_func (g_free);
  self->tombstones = g_ptr_array_new_with_free_func (g_free);
  g_source_set_static_name (&self->source, "ExgPoller");
  /* GLib 2.74 "blocks" a non-recursive source around each dispatch by
   * taking its descriptor out of the poll set and putting it back, and each
   * of those writes the context's wakeup eventfd: two syscalls and one
   * spurious poll per dispatch.  Recursion is harmless here (a batch is
   * local to its dispatch and removal works at any depth), as long as
   * handlers do not themselves iterate the context, which they must not. */
  g_source_set_can_recurse (&self->source, TRUE);
  g_source_add_unix_fd (&self->source, epfd, G_IO_IN);
  g_source_attach (&self->source, context);

  return self;
}

/**
 * exg_poller_get_default:
 *
 * Returns the poller of the thread-default main context, creating it on
 * first use.  It lives as long as the process: its source stays attached.
 *
 * Returns: (transfer none): the poller
 */
ExgPoller *
exg_poller_get_default (void)
{
  /* The last answer of this thread: asked several times per connection,
   * nearly always for the same context.  Pollers are never freed, so the
   * pointer stays good. */
  static _Thread_local GMainContext *last_context;
  static _Thread_local ExgPoller *last_poller;
  GMainContext *context = g_main_context_get_thread_default ();
  ExgPoller *self;

  if (context == NULL)
    context = g_main_context_default ();
  if (context == last_context)
    return last_poller;

  G_LOCK (pollers);
  if (pollers == NULL)
    pollers = g_hash_table_new (NULL, NULL);
  self = g_hash_table_lookup (pollers, context);
  if (self == NULL)
    {
      self = exg_poller_new (context);
      g_hash_table_insert (pollers, g_main_context_ref (context), self);
    }
  G_UNLOCK (pollers);

  last_context = context;
  last_poller = self;
  return self;
}

static Watch *
lookup (ExgPoller *self,
        int        fd)
{
  if (fd < 0 || (guint) fd >= self->watches->len)
    return NULL;
  return g_ptr_array_index (self->watches, fd);
}

/* Drops @w from the table; a batch in progress may still hold events
 * pointing at it, so then it lives on as a tombstone until the batch ends. */
static void
forget (ExgPoller *self,
        Watch     *w)
{
  self->watches->pdata[w->fd] = NULL;
  if (self->dispatching > 0)
    {
      w->func = NULL;
      g_ptr_array_add (self->tombstones, w);
    }
  else
    g_free (w);
}

static gboolean
add_watch (ExgPoller     *self,
           int            fd,
           guint32        events,
           ExgPollerFunc  func,
           gpointer       user_data)
{
  struct epoll_event ev = { .events = events };
  Watch *w;
  int res;

  w = g_new (Watch, 1);
  w->func = func;
  w->user_data = user_data;
  w->fd = fd;
  w->events = events;
  w->ready = 0;
  w->held = FALSE;
  ev.data.ptr = w;

  res = epoll_ctl (self->epfd, EPOLL_CTL_ADD, fd, &ev);
  /* still registered after all (a caller of exg_poller_add_new () that
   * was wrong about the descriptor being new): take it over */
  if (res < 0 && errno == EEXIST)
    res = epoll_ctl (self->epfd, EPOLL_CTL_MOD, fd, &ev);
  if (res < 0)
    {
      int saved = errno;

      g_free (w);
      errno = saved;
      return FALSE;
    }

  if ((guint) fd >= self->watches->len)
    g_ptr_array_set_size (self->watches, fd + 1);
  self->watches->pdata[fd] = w;

  return TRUE;
}

/**
 * exg_poller_add:
 * @events: EPOLLIN / EPOLLOUT / EPOLLRDHUP / EPOLLET … as for epoll_ctl
 *
 * Watches @fd, which must not be watched already (a parked descriptor is
 * taken over, see exg_poller_park()).  @func runs from the main context
 * with the ready events.
 *
 * Returns: FALSE (with errno set) if the kernel refused the descriptor
 */
gboolean
exg_poller_add (ExgPoller     *self,
                int            fd,
                guint32        events,
                ExgPollerFunc  func,
                gpointer       user_data)
{
  struct epoll_event ev = { .events = events };
  Watch *w;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (fd >= 0, FALSE);
  g_return_val_if_fail (func != NULL, FALSE);

  /* watched already, and not parked: a caller's bug */
  g_return_val_if_fail (lookup (self, fd) == NULL || lookup (self, fd)->func == NULL,
                        FALSE);

  w = lookup (self, fd);
  if (w != NULL)
    {
      /* Parked: still registered with the kernel, unless the descriptor
       * was closed since (the number may now be another socket's) */
      ev.data.ptr = w;
      if (epoll_ctl (self->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
        {
          w->func = func;
          w->user_data = user_data;
          w->events = events;
          w->held = FALSE;
          return TRUE;
        }
      forget (self, w);
    }

  return add_watch (self, fd, events, func, user_data);
}

/**
 * exg_poller_add_new:
 *
 * As exg_poller_add(), for a descriptor that socket(2) or accept(2) has
 * just returned: whatever is parked under its number belonged to a file
 * closed since, which took its registration with it, so this goes
 * straight to EPOLL_CTL_ADD (exg_poller_add() would first try a MOD,
 * which would fail).
 */
gboolean
exg_poller_add_new (ExgPoller     *self,
                    int            fd,
                    guint32        events,
                    ExgPollerFunc  func,
                    gpointer       user_data)
{
  Watch *w;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (fd >= 0, FALSE);
  g_return_val_if_fail (func != NULL, FALSE);
  /* watched already, and not parked: a caller's bug */
  g_return_val_if_fail (lookup (self, fd) == NULL || lookup (self, fd)->func == NULL,
                        FALSE);

  w = lookup (self, fd);
  if (w != NULL)
    forget (self, w);
  return add_watch (self, fd, events, func, user_data);
}

/**
 * exg_poller_modify:
 *
 * Replaces the event mask of a watched @fd.  With EPOLLET this also re-arms
 * the descriptor: if it is ready now, an event comes on the next dispatch.
 */
void
exg_poller_modify (ExgPoller *self,
                   int        fd,
                   guint32    events)
{
  Watch *w;
  struct epoll_event ev = { .events = events };

  g_return_if_fail (self != NULL);
  w = lookup (self, fd);
  g_return_if_fail (w != NULL);

  ev.data.ptr = w;
  if (epoll_ctl (self->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
    g_warning ("epoll_ctl (MOD, %d): %s", fd, g_strerror (errno));
  else
    w->events = events;
}

/**
 * exg_poller_remove:
 *
 * Stops watching @fd (do it before closing it).  Safe from inside any
 * handler: events already taken for @fd are not delivered.  Unknown
 * descriptors are ignored.
 */
void
exg_poller_remove (ExgPoller *self,
                   int        fd)
{
  Watch *w;

  g_return_if_fail (self != NULL);
  w = lookup (self, fd);
  if (w == NULL)
    return;

  /* EBADF/ENOENT only if the caller closed the fd first: the kernel has
   * then dropped it already, which is what we wanted */
  if (epoll_ctl (self->epfd, EPOLL_CTL_DEL, fd, NULL) < 0
      && errno != EBADF && errno != ENOENT)
    g_warning ("epoll_ctl (DEL, %d): %s", fd, g_strerror (errno));

  forget (self, w);
}

/**
 * exg_poller_park:
 *
 * Stops delivering events for @fd but leaves it registered with the
 * kernel, for a socket about to change hands: the next exg_poller_add()
 * of @fd (the relay taking over the socket a session or a backend watched)
 * then costs one EPOLL_CTL_MOD rather than a DEL now and an ADD then.
 * Events that come meanwhile are not delivered, only remembered for
 * exg_poller_take_over(), so park only a descriptor that is registered
 * edge-triggered or taken over at once: a ready level-triggered one would
 * keep the epoll descriptor readable.  A parked
 * descriptor may simply be closed; closing it unregisters it.
 */
static void
park (ExgPoller *self,
      int        fd,
      gboolean   held)
{
  Watch *w = lookup (self, fd);

  if (w == NULL)
    return;
  w->func = NULL;
  w->user_data = NULL;
  w->held = held;
}

void
exg_poller_park (ExgPoller *self,
                 int        fd)
{
  g_return_if_fail (self != NULL);
  park (self, fd, FALSE);
}

/**
 * exg_poller_hold:
 *
 * Parks @fd (exg_poller_park()) for its next owner, who takes it over
 * with exg_poller_take_over() before it is closed: a held descriptor is
 * known to be open.  One that is closed instead must be removed first
 * (exg_poller_remove()).
 */
void
exg_poller_hold (ExgPoller *self,
                 int        fd)
{
  g_return_if_fail (self != NULL);
  park (self, fd, TRUE);
}

/**
 * exg_poller_take_over:
 * @fd: a descriptor registered with @events and held (exg_poller_hold())
 *
 * Hands @fd's registration to @func without a syscall, when nothing but
 * room to write is known to be ready on it: every event reported so far
 * has been used up (see exg_poller_clear_ready()), so nothing is owed to
 * the new owner, and the next edge goes to it.  A socket registered once
 * with #EXG_POLLER_STREAM_EVENTS, from accept or connect to close, passes
 * from a session or a dial to the relay this way.
 *
 * Returns: %FALSE when @fd is not held so, or something may be waiting
 *   to be read on it: then nothing changed, and exg_poller_add() re-arms
 *   it (its first events are reported again)
 */
gboolean
exg_poller_take_over (ExgPoller     *self,
                      int            fd,
                      guint32        events,
                      ExgPollerFunc  func,
                      gpointer       user_data)
{
  Watch *w;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (func != NULL, FALSE);

  /* only a held registration is known to be the open socket's: a parked
   * one may be left from a socket closed since, under the same number */
  w = lookup (self, fd);
  if (w == NULL || !w->held || w->events != events ||
      (w->ready & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0)
    return FALSE;
  w->func = func;
  w->user_data = user_data;
  w->held = FALSE;
  return TRUE;
}

/**
 * exg_poller_clear_ready:
 * @bits: events the owner of @fd has used up: it read until a short read
 *   (EPOLLIN), say
 *
 * For exg_poller_take_over(), which hands on only a registration with
 * nothing owed.
 */
void
exg_poller_clear_ready (ExgPoller *self,
                        int        fd,
                        guint32    bits)
{
  Watch *w;

  g_return_if_fail (self != NULL);
  w = lookup (self, fd);
  if (w != NULL)
    w->ready &= ~bits;
}
