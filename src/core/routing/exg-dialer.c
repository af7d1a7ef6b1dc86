/* exg-dialer.c: pick, connect, fail over.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-dialer.h"

#include "exg-error.h"

/* a connect that fails through one router is retried through another
 * matching one, at most this many routers in all */
#define MAX_CONNECT_ATTEMPTS 3

struct _ExgDialer
{
  GObject            parent_instance;

  ExgRouterRegistry *registry;     /* owned */
  gulong             items_changed_id;

  gboolean           keep_ready;
  ExgSelection       ready_sel;
  ExgRouter         *ready;        /* owned, nullable: the exit kept ready */
};

G_DEFINE_FINAL_TYPE (ExgDialer, exg_dialer, G_TYPE_OBJECT)

typedef struct {
  ExgSelection  sel;
  gboolean      fixed;        /* one router, named beforehand: no failover */
  char         *host;
  guint16       port;
  char         *isolation;
  GPtrArray    *tried;        /* (element-type ExgRouter) owned refs */
  gint64        started;      /* monotonic µs of the attempt under way */
  GError       *last_error;   /* owned; of the previous attempt */
} ConnectData;

static void
connect_data_free (gpointer data)
{
  ConnectData *cd = data;

  g_free (cd->host);
  g_free (cd->isolation);
  g_ptr_array_unref (cd->tried);
  g_clear_error (&cd->last_error);
  g_free (cd);
}

static ExgRouter *
current_router (ConnectData *cd)
{
  return g_ptr_array_index (cd->tried, cd->tried->len - 1);
}

static void attempt (GTask *task);

static void
attempt_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ConnectData *cd = g_task_get_task_data (task);
  ExgRouter *router = current_router (cd);
  g_autoptr(GError) error = NULL;
  GSocketConnection *connection;
  gboolean not_the_exit;

  connection = exg_backend_connect_finish (EXG_BACKEND (source), result,
                                           &error);
  if (connection != NULL)
    {
      exg_router_record_connect (router, g_get_monotonic_time () - cd->started,
                                 TRUE);
      g_task_return_pointer (task, connection, g_object_unref);
      return;
    }

  /* a client that left, or a target our own policy refused, says nothing
   * about the exit; nor would another exit change the policy's answer */
  not_the_exit = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
                 g_error_matches (error, EXG_ERROR, EXG_ERROR_TARGET_REFUSED);
  if (!not_the_exit)
    exg_router_record_connect (router, -1, FALSE);

  if (not_the_exit || cd->fixed || cd->tried->len >= MAX_CONNECT_ATTEMPTS)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* GIO's messages name the target: only the kind of failure here */
  g_debug ("Connect through exit “%s” failed (%s); trying another",
           exg_router_get_name (router), exg_error_describe (error));
  g_clear_error (&cd->last_error);
  cd->last_error = g_steal_pointer (&error);
  attempt (g_steal_pointer (&task));
}

static void
start_attempt (GTask     *task,
               ExgRouter *router)
{
  ConnectData *cd = g_task_get_task_data (task);

  g_ptr_array_add (cd->tried, g_object_ref (router));
  cd->started = g_get_monotonic_time ();
  exg_backend_connect_async (exg_router_get_backend (router), cd->host,
                             cd->port, cd->isolation,
                             g_task_get_cancellable (task), attempt_cb, task);
}

/* Takes @task's ref. */
static void
attempt (GTask *task)
{
  ExgDialer *self = g_task_get_source_object (task);
  ConnectData *cd = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(ExgRouter) router = NULL;

  router = exg_router_registry_pick (self->registry, &cd->sel, cd->tried,
                                     &error);
  if (router == NULL)
    {
      /* after a failed attempt, the client hears why that one failed,
       * not that no other router was left */
      if (cd->last_error != NULL)
        g_task_return_error (task, g_steal_pointer (&cd->last_error));
      else
        g_task_return_error (task, g_steal_pointer (&error));
      g_object_unref (task);
      return;
    }
  start_attempt (task, router);
}

void
exg_dialer_connect_async (ExgDialer           *self,
                          ExgRouter           *router,
                          const ExgSelection  *sel,
                          const char          *host,
                          guint16              port,
                          const char          *isolation,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  GTask *task;
  ConnectData *cd;

  g_return_if_fail (EXG_IS_DIALER (self));
  g_return_if_fail (router == NULL || EXG_IS_ROUTER (router));
  g_return_if_fail (host != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, exg_dialer_connect_async);

  cd = g_new0 (ConnectData, 1);
  if (sel != NULL)
    cd->sel = *sel;
  else
    exg_selection_init_any (&cd->sel);
  cd->fixed = router != NULL;
  cd->host = g_strdup (host);
  cd->port = port;
  cd->isolation = g_strdup (isolation);
  cd->tried = g_ptr_array_new_with_free_func (g_object_unref);
  g_task_set_task_data (task, cd, connect_data_free);

  if (router != NULL)
    start_attempt (task, router);
  else
    attempt (task);
}

GSocketConnection *
exg_dialer_connect_finish (ExgDialer     *self,
                           GAsyncResult  *result,
                           ExgRouter    **out_router,
                           GError       **error)
{
  ConnectData *cd;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  cd = g_task_get_task_data (G_TASK (result));
  if (out_router != NULL)
    *out_router = cd->tried->len > 0 ? g_object_ref (current_router (cd))
                                     : NULL;
  return g_task_propagate_pointer (G_TASK (result), error);
}

ExgRouter *
exg_dialer_pick (ExgDialer           *self,
                 const ExgSelection  *sel,
                 GError             **error)
{
  g_return_val_if_fail (EXG_IS_DIALER (self), NULL);

  return exg_router_registry_pick (self->registry, sel, NULL, error);
}

/**
 * exg_dialer_get_registry:
 *
 * Returns: (transfer none): the routers it picks from
 */
ExgRouterRegistry *
exg_dialer_get_registry (ExgDialer *self)
{
  g_return_val_if_fail (EXG_IS_DIALER (self), NULL);
  return self->registry;
}

static void
keep_ready (ExgDialer *self)
{
  g_autoptr(ExgRouter) router = NULL;

  if (!self->keep_ready)
    return;

  /* the exit kept ready stays while it matches: a new pick on every
   * change of the list (each consensus) would build circuits for
   * nothing */
  if (self->ready != NULL &&
      exg_router_registry_lookup (self->registry,
                                  exg_router_get_id (self->ready)) == self->ready &&
      exg_selection_matches (&self->ready_sel, self->ready))
    router = g_object_ref (self->ready);
  else
    router = exg_router_registry_pick (self->registry, &self->ready_sel, NULL,
                                       NULL);
  g_set_object (&self->ready, router);
  if (router != NULL)
    exg_backend_prepare (exg_router_get_backend (router));
}

static void
registry_items_changed_cb (GListModel *model,
                           guint       position,
                           guint       removed,
                           guint       added,
                           gpointer    user_data)
{
  keep_ready (user_data);
}

/**
 * exg_dialer_keep_ready:
 * @self: a dialer
 * @sel: (nullable): the selection whose first request must not wait, or
 *   %NULL for none
 *
 * Picks an exit that @sel matches and has its backend get ready for a
 * request (exg_backend_prepare()): a tor exit keeps a circuit built.
 * When the routers change, the exit is kept while it still matches, and
 * another is picked when it does not.
 */
void
exg_dialer_keep_ready (ExgDialer          *self,
                       const ExgSelection *sel)
{
  g_return_if_fail (EXG_IS_DIALER (self));

  if (sel == NULL || !self->keep_ready ||
      !exg_selection_equal (sel, &self->ready_sel))
    g_clear_object (&self->ready);
  self->keep_ready = sel != NULL;
  if (sel != NULL)
    self->ready_sel = *sel;
  keep_ready (self);
}

static void
exg_dialer_finalize (GObject *object)
{
  ExgDialer *self = EXG_DIALER (object);

  g_clear_signal_handler (&self->items_changed_id, self->registry);
  g_clear_object (&self->ready);
  g_clear_object (&self->registry);

  G_OBJECT_CLASS (exg_dialer_parent_class)->finalize (object);
}

static void
exg_dialer_class_init (ExgDialerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = exg_dialer_finalize;
}

static void
exg_dialer_init (ExgDialer *self)
{
}

/**
 * exg_dialer_new:
 * @registry: the routers to pick from
 *
 * Returns: (transfer full): a new dialer
 */
ExgDialer *
exg_dialer_new (ExgRouterRegistry *registry)
{
  ExgDialer *self;

  g_return_val_if_fail (EXG_IS_ROUTER_REGISTRY (registry), NULL);

  self = g_object_new (EXG_TYPE_DIALER, NULL);
  self->registry = g_object_ref (registry);
  self->items_changed_id =
    g_signal_connect (registry, "items-changed",
                      G_CALLBACK (registry_items_changed_cb), self);
  return self;
}
