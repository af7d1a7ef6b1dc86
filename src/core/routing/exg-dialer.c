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

struct _ExgDialerDial
{
  ExgDialer      *dialer;       /* owned ref */
  ExgDialerFunc   func;
  gpointer        user_data;
  ExgSelection    sel;
  gboolean        fixed;        /* one router, named beforehand: no failover */
  char           *host;
  guint16         port;
  char           *isolation;
  ExgRouter      *tried[MAX_CONNECT_ATTEMPTS];  /* owned refs */
  guint           n_tried;
  ExgBackendDial *attempt;      /* the backend's dial under way */
  gint64          started;      /* monotonic µs of that attempt */
  GError         *last_error;   /* owned; of the previous attempt */
  GSource        *failed;       /* owned, nullable: reports that no router
                                 * could be picked, from the main loop */
};

static void
dial_free (ExgDialerDial *dd)
{
  if (dd->failed != NULL)
    {
      g_source_destroy (dd->failed);
      g_source_unref (dd->failed);
    }
  for (guint i = 0; i < dd->n_tried; i++)
    g_object_unref (dd->tried[i]);
  g_free (dd->host);
  g_free (dd->isolation);
  g_clear_error (&dd->last_error);
  g_object_unref (dd->dialer);
  g_free (dd);
}

static ExgRouter *
current_router (ExgDialerDial *dd)
{
  return dd->n_tried > 0 ? dd->tried[dd->n_tried - 1] : NULL;
}

/* Ends the dial: func is told, with a ref on the router (nullable) */
static void
dial_finish (ExgDialerDial     *dd,
             int                fd,
             GSocketConnection *connection,
             const char        *circuit,
             GError            *error)
{
  ExgDialerFunc func = dd->func;
  gpointer user_data = dd->user_data;
  ExgRouter *router = current_router (dd);

  if (router != NULL)
    g_object_ref (router);
  dial_free (dd);
  func (user_data, fd, connection, circuit, router, error);
}

static gboolean attempt (ExgDialerDial *dd);

static void
attempt_cb (gpointer           user_data,
            int                fd,
            GSocketConnection *connection,
            const char        *circuit,
            GError            *error)
{
  ExgDialerDial *dd = user_data;
  ExgRouter *router = current_router (dd);
  gboolean not_the_exit;

  dd->attempt = NULL;
  if (fd >= 0)
    {
      exg_router_record_connect (router, g_get_monotonic_time () - dd->started,
                                 TRUE);
      dial_finish (dd, fd, connection, circuit, NULL);
      return;
    }

  /* a target our own policy refused says nothing about the exit; nor
   * would another exit change the policy's answer */
  not_the_exit = g_error_matches (error, EXG_ERROR, EXG_ERROR_TARGET_REFUSED);
  if (!not_the_exit)
    exg_router_record_connect (router, -1, FALSE);

  if (not_the_exit || dd->fixed || dd->n_tried >= MAX_CONNECT_ATTEMPTS)
    {
      dial_finish (dd, -1, NULL, NULL, error);
      return;
    }

  /* GIO's messages name the target: only the kind of failure here */
  g_debug ("Connect through exit “%s” failed (%s); trying another",
           exg_router_get_name (router), exg_error_describe (error));
  g_clear_error (&dd->last_error);
  dd->last_error = error;
  if (!attempt (dd))
    dial_finish (dd, -1, NULL, NULL, g_steal_pointer (&dd->last_error));
}

static void
start_attempt (ExgDialerDial *dd,
               ExgRouter     *router)
{
  dd->tried[dd->n_tried++] = g_object_ref (router);
  dd->started = g_get_monotonic_time ();
  dd->attempt = exg_backend_dial (exg_router_get_backend (router), dd->host,
                                  dd->port, dd->isolation, attempt_cb, dd);
}

/* Picks a router not tried yet and dials through it; FALSE when there is
 * none, with dd->last_error set to why. */
static gboolean
attempt (ExgDialerDial *dd)
{
  g_autoptr(GPtrArray) tried = NULL;
  g_autoptr(ExgRouter) router = NULL;
  GError *error = NULL;

  if (dd->n_tried > 0)
    {
      tried = g_ptr_array_sized_new (dd->n_tried);
      for (guint i = 0; i < dd->n_tried; i++)
        g_ptr_array_add (tried, dd->tried[i]);
    }
  router = exg_router_registry_pick (dd->dialer->registry, &dd->sel, tried,
                                     &error);
  if (router == NULL)
    {
      /* after a failed attempt, the client hears why that one failed,
       * not that no other router was left */
      if (dd->last_error == NULL)
        dd->last_error = error;
      else
        g_error_free (error);
      return FALSE;
    }
  start_attempt (dd, router);
  return TRUE;
}

static gboolean
failed_cb (gpointer user_data)
{
  ExgDialerDial *dd = user_data;

  g_clear_pointer (&dd->failed, g_source_unref);
  dial_finish (dd, -1, NULL, NULL, g_steal_pointer (&dd->last_error));
  return G_SOURCE_REMOVE;
}

/**
 * exg_dialer_dial:
 * @self: a dialer
 * @router: (nullable): a router fixed beforehand (an E0 selection named
 *   it): that one only, no failover
 * @sel: (nullable): what the router must match, when none is fixed
 * @host: a hostname (resolved at the exit) or an IP literal
 * @port: the target port
 * @isolation: (nullable): goes to every backend tried
 * @func: told of the outcome, once, never from inside this call
 * @user_data: data for @func
 *
 * Opens a stream to @host:@port: through @router, or through a router
 * matching @sel and, when a connect through it fails, another (at most 3
 * in all).  Each attempt's outcome is recorded on its router.
 *
 * Returns: (transfer none): the dial, valid until @func is called or it
 *   is cancelled (exg_dialer_dial_cancel())
 */
ExgDialerDial *
exg_dialer_dial (ExgDialer          *self,
                 ExgRouter          *router,
                 const ExgSelection *sel,
                 const char         *host,
                 guint16             port,
                 const char         *isolation,
                 ExgDialerFunc       func,
                 gpointer            user_data)
{
  ExgDialerDial *dd;

  g_return_val_if_fail (EXG_IS_DIALER (self), NULL);
  g_return_val_if_fail (router == NULL || EXG_IS_ROUTER (router), NULL);
  g_return_val_if_fail (host != NULL, NULL);
  g_return_val_if_fail (func != NULL, NULL);

  dd = g_new0 (ExgDialerDial, 1);
  dd->dialer = g_object_ref (self);
  dd->func = func;
  dd->user_data = user_data;
  if (sel != NULL)
    dd->sel = *sel;
  else
    exg_selection_init_any (&dd->sel);
  dd->fixed = router != NULL;
  dd->host = g_strdup (host);
  dd->port = port;
  dd->isolation = g_strdup (isolation);

  if (router != NULL)
    start_attempt (dd, router);
  else if (!attempt (dd))
    {
      dd->failed = g_idle_source_new ();
      g_source_set_callback (dd->failed, failed_cb, dd, NULL);
      g_source_set_static_name (dd->failed, "[exitgate] dial");
      g_source_attach (dd->failed, g_main_context_get_thread_default ());
    }
  return dd;
}

/**
 * exg_dialer_dial_cancel:
 * @dial: a dial whose function has not been called yet
 *
 * Stops @dial: its function is not called, and what it opened is closed.
 * Cancelled, it says nothing about its router.
 */
void
exg_dialer_dial_cancel (ExgDialerDial *dial)
{
  g_return_if_fail (dial != NULL);

  if (dial->attempt != NULL)
    exg_backend_dial_cancel (dial->attempt);
  dial_free (dial);
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
