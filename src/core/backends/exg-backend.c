/* exg-backend.c: the abstract exit backend.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-backend.h"

#include "exg-error.h"

G_DEFINE_ABSTRACT_TYPE (ExgBackend, exg_backend, G_TYPE_OBJECT)

static void
unsupported_async (ExgBackend          *self,
                   gpointer             source_tag,
                   const char          *what,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_task_return_new_error (task, EXG_ERROR, EXG_ERROR_UNSUPPORTED,
                           "This exit cannot %s", what);
}

static void
exg_backend_real_connect_async (ExgBackend          *self,
                                const char          *host,
                                guint16              port,
                                const char          *isolation,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  unsupported_async (self, exg_backend_real_connect_async, "connect",
                     cancellable, callback, user_data);
}

static GSocketConnection *
exg_backend_real_connect_finish (ExgBackend    *self,
                                 GAsyncResult  *result,
                                 GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
exg_backend_real_resolve_async (ExgBackend          *self,
                                const char          *host,
                                const char          *isolation,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  unsupported_async (self, exg_backend_real_resolve_async, "resolve names",
                     cancellable, callback, user_data);
}

static GList *
exg_backend_real_resolve_finish (ExgBackend    *self,
                                 GAsyncResult  *result,
                                 GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
exg_backend_real_resolve_ptr_async (ExgBackend          *self,
                                    GInetAddress        *address,
                                    const char          *isolation,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  unsupported_async (self, exg_backend_real_resolve_ptr_async,
                     "resolve addresses",
                     cancellable, callback, user_data);
}

static char *
exg_backend_real_resolve_ptr_finish (ExgBackend    *self,
                                     GAsyncResult  *result,
                                     GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
exg_backend_real_check_async (ExgBackend          *self,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, exg_backend_real_check_async);
  g_task_return_boolean (task, TRUE);
}

static gboolean
exg_backend_real_check_finish (ExgBackend    *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
exg_backend_real_prepare (ExgBackend *self)
{
}

/* A dial that failed before it began: the failure comes from the main
 * loop, since a dial's function is never called from inside the dial. */
typedef struct {
  ExgBackendDial  dial;
  GError         *error;    /* owned */
  GSource        *idle;     /* owned */
} FailedDial;

static void
failed_dial_free (FailedDial *fd)
{
  g_source_destroy (fd->idle);
  g_source_unref (fd->idle);
  g_clear_error (&fd->error);
  g_free (fd);
}

static gboolean
failed_dial_cb (gpointer user_data)
{
  FailedDial *fd = user_data;
  ExgBackendDial dial = fd->dial;
  GError *error = g_steal_pointer (&fd->error);

  failed_dial_free (fd);
  dial.func (dial.user_data, -1, NULL, NULL, error);
  return G_SOURCE_REMOVE;
}

static void
failed_dial_cancel (ExgBackendDial *dial)
{
  failed_dial_free ((FailedDial *) dial);
}

/**
 * exg_backend_dial_fail_later:
 * @error: (transfer full): why the dial failed
 * @func: the dial's function
 * @user_data: for @func
 *
 * For implementations of #ExgBackendClass.dial that know at once that
 * they cannot connect.
 *
 * Returns: (transfer none): a dial that calls @func with @error from the
 *   thread-default main context, unless it is cancelled first
 */
ExgBackendDial *
exg_backend_dial_fail_later (GError             *error,
                             ExgBackendDialFunc  func,
                             gpointer            user_data)
{
  FailedDial *fd;

  g_return_val_if_fail (error != NULL, NULL);

  fd = g_new0 (FailedDial, 1);
  exg_backend_dial_init (&fd->dial, func, user_data, failed_dial_cancel);
  fd->error = error;
  fd->idle = g_idle_source_new ();
  g_source_set_callback (fd->idle, failed_dial_cb, fd, NULL);
  g_source_set_static_name (fd->idle, "[exitgate] dial failed");
  g_source_attach (fd->idle, g_main_context_get_thread_default ());
  return &fd->dial;
}

/* The default dial, for a backend without one of its own: connect_async,
 * its connection handed on whole. */
typedef struct {
  ExgBackendDial  dial;
  GCancellable   *cancellable;   /* owned */
} GioDial;

static void
gio_dial_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  GioDial *gd = user_data;
  ExgBackendDial dial = gd->dial;
  GError *error = NULL;
  GSocketConnection *connection;
  gboolean cancelled;

  connection = exg_backend_connect_finish (EXG_BACKEND (source), result,
                                           &error);
  /* cancelled before the answer came: nobody waits for it */
  cancelled = g_cancellable_is_cancelled (gd->cancellable);
  g_object_unref (gd->cancellable);
  g_free (gd);
  if (cancelled)
    {
      if (connection != NULL)
        {
          g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
          g_object_unref (connection);
        }
      g_clear_error (&error);
      return;
    }

  if (connection == NULL)
    dial.func (dial.user_data, -1, NULL, NULL, error);
  else
    dial.func (dial.user_data,
               g_socket_get_fd (g_socket_connection_get_socket (connection)),
               connection, exg_backend_get_connection_circuit (connection),
               NULL);
}

/* Freed when the backend answers, cancelled */
static void
gio_dial_cancel (ExgBackendDial *dial)
{
  g_cancellable_cancel (((GioDial *) dial)->cancellable);
}

static ExgBackendDial *
exg_backend_real_dial (ExgBackend         *self,
                       const char         *host,
                       guint16             port,
                       const char         *isolation,
                       ExgBackendDialFunc  func,
                       gpointer            user_data)
{
  GioDial *gd = g_new0 (GioDial, 1);

  exg_backend_dial_init (&gd->dial, func, user_data, gio_dial_cancel);
  gd->cancellable = g_cancellable_new ();
  exg_backend_connect_async (self, host, port, isolation, gd->cancellable,
                             gio_dial_cb, gd);
  return &gd->dial;
}

static void
exg_backend_class_init (ExgBackendClass *klass)
{
  klass->connect_async = exg_backend_real_connect_async;
  klass->connect_finish = exg_backend_real_connect_finish;
  klass->resolve_async = exg_backend_real_resolve_async;
  klass->resolve_finish = exg_backend_real_resolve_finish;
  klass->resolve_ptr_async = exg_backend_real_resolve_ptr_async;
  klass->resolve_ptr_finish = exg_backend_real_resolve_ptr_finish;
  klass->check_async = exg_backend_real_check_async;
  klass->check_finish = exg_backend_real_check_finish;
  klass->prepare = exg_backend_real_prepare;
  klass->dial = exg_backend_real_dial;
}

static void
exg_backend_init (ExgBackend *self)
{
}

/**
 * exg_backend_connect_async:
 * @self: an exit backend
 * @host: a hostname (resolved at the exit) or an IP literal
 * @port: the target port
 * @isolation: (nullable): the request's isolation key; requests whose
 *   keys differ never share a tor circuit (%NULL is the same as "")
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the stream is open or has failed
 * @user_data: data for @callback
 *
 * Opens a TCP stream to @host:@port through this exit.
 */
void
exg_backend_connect_async (ExgBackend          *self,
                           const char          *host,
                           guint16              port,
                           const char          *isolation,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_return_if_fail (EXG_IS_BACKEND (self));
  g_return_if_fail (host != NULL);

  EXG_BACKEND_GET_CLASS (self)->connect_async (self, host, port, isolation,
                                               cancellable, callback, user_data);
}

/**
 * exg_backend_connect_finish:
 *
 * Returns: (transfer full): the connection to the target
 */
GSocketConnection *
exg_backend_connect_finish (ExgBackend    *self,
                            GAsyncResult  *result,
                            GError       **error)
{
  g_return_val_if_fail (EXG_IS_BACKEND (self), NULL);

  return EXG_BACKEND_GET_CLASS (self)->connect_finish (self, result, error);
}

/**
 * exg_backend_resolve_async:
 * @self: an exit backend
 * @host: the name to resolve (at the exit)
 * @isolation: (nullable): the request's isolation key, as for
 *   exg_backend_connect_async()
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: data for @callback
 *
 * Resolves @host to its addresses through this exit.
 */
void
exg_backend_resolve_async (ExgBackend          *self,
                           const char          *host,
                           const char          *isolation,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_return_if_fail (EXG_IS_BACKEND (self));
  g_return_if_fail (host != NULL);

  EXG_BACKEND_GET_CLASS (self)->resolve_async (self, host, isolation,
                                               cancellable, callback, user_data);
}

/**
 * exg_backend_resolve_finish:
 *
 * Returns: (element-type GInetAddress) (transfer full): the addresses
 */
GList *
exg_backend_resolve_finish (ExgBackend    *self,
                            GAsyncResult  *result,
                            GError       **error)
{
  g_return_val_if_fail (EXG_IS_BACKEND (self), NULL);

  return EXG_BACKEND_GET_CLASS (self)->resolve_finish (self, result, error);
}

/**
 * exg_backend_resolve_ptr_async:
 * @self: an exit backend
 * @address: the address to look up (at the exit)
 * @isolation: (nullable): the request's isolation key, as for
 *   exg_backend_connect_async()
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: data for @callback
 *
 * Looks up the name of @address through this exit.
 */
void
exg_backend_resolve_ptr_async (ExgBackend          *self,
                               GInetAddress        *address,
                               const char          *isolation,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_return_if_fail (EXG_IS_BACKEND (self));
  g_return_if_fail (G_IS_INET_ADDRESS (address));

  EXG_BACKEND_GET_CLASS (self)->resolve_ptr_async (self, address, isolation,
                                                   cancellable, callback,
                                                   user_data);
}

/**
 * exg_backend_resolve_ptr_finish:
 *
 * Returns: (transfer full): the name
 */
char *
exg_backend_resolve_ptr_finish (ExgBackend    *self,
                                GAsyncResult  *result,
                                GError       **error)
{
  g_return_val_if_fail (EXG_IS_BACKEND (self), NULL);

  return EXG_BACKEND_GET_CLASS (self)->resolve_ptr_finish (self, result, error);
}

void
exg_backend_check_async (ExgBackend          *self,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_return_if_fail (EXG_IS_BACKEND (self));

  EXG_BACKEND_GET_CLASS (self)->check_async (self, cancellable, callback,
                                             user_data);
}

gboolean
exg_backend_check_finish (ExgBackend    *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (EXG_IS_BACKEND (self), FALSE);

  return EXG_BACKEND_GET_CLASS (self)->check_finish (self, result, error);
}

/**
 * exg_backend_prepare:
 * @self: an exit backend
 *
 * Gets ready for a request through this exit that may come soon, so that
 * it does not wait (a tor exit keeps a circuit built).  Cheap to call
 * again; most backends have nothing to do.
 */
void
exg_backend_prepare (ExgBackend *self)
{
  g_return_if_fail (EXG_IS_BACKEND (self));

  EXG_BACKEND_GET_CLASS (self)->prepare (self);
}

/**
 * exg_backend_dial:
 * @self: an exit backend
 * @host: a hostname (resolved at the exit) or an IP literal
 * @port: the target port
 * @isolation: (nullable): as for exg_backend_connect_async()
 * @func: told of the outcome, once, never from inside this call
 * @user_data: data for @func
 *
 * Opens a TCP stream to @host:@port through this exit, as
 * exg_backend_connect_async() does, for a caller that wants the socket's
 * descriptor and no GTask or GCancellable per connection (see
 * #ExgBackendDialFunc).
 *
 * Returns: (transfer none): the dial, valid until @func is called or it
 *   is cancelled
 */
ExgBackendDial *
exg_backend_dial (ExgBackend         *self,
                  const char         *host,
                  guint16             port,
                  const char         *isolation,
                  ExgBackendDialFunc  func,
                  gpointer            user_data)
{
  g_return_val_if_fail (EXG_IS_BACKEND (self), NULL);
  g_return_val_if_fail (host != NULL, NULL);
  g_return_val_if_fail (func != NULL, NULL);

  return EXG_BACKEND_GET_CLASS (self)->dial (self, host, port, isolation,
                                             func, user_data);
}

/**
 * exg_backend_dial_cancel:
 * @dial: a dial whose function has not been called yet
 *
 * Stops @dial: its function is not called, and what it opened is closed.
 */
void
exg_backend_dial_cancel (ExgBackendDial *dial)
{
  g_return_if_fail (dial != NULL);

  dial->cancel (dial);
}

/**
 * exg_backend_dial_init:
 * @dial: the first member of an implementation's dial state
 *
 * For implementations of #ExgBackendClass.dial.
 */
void
exg_backend_dial_init (ExgBackendDial      *dial,
                       ExgBackendDialFunc   func,
                       gpointer             user_data,
                       void               (*cancel) (ExgBackendDial *dial))
{
  dial->func = func;
  dial->user_data = user_data;
  dial->cancel = cancel;
}

static GQuark
circuit_quark (void)
{
  return g_quark_from_static_string ("exg-backend-circuit");
}

/**
 * exg_backend_set_connection_circuit:
 * @connection: a connection a backend returned
 * @circuit: (nullable): the way it went, for people
 *
 * For backends whose connections go a way worth showing (a tor
 * circuit's relays); set before the connect completes.
 */
void
exg_backend_set_connection_circuit (GSocketConnection *connection,
                                    const char        *circuit)
{
  g_return_if_fail (G_IS_SOCKET_CONNECTION (connection));

  g_object_set_qdata_full (G_OBJECT (connection), circuit_quark (),
                           g_strdup (circuit), g_free);
}

/**
 * exg_backend_get_connection_circuit:
 * @connection: a connection a backend returned
 *
 * Returns: (nullable): the circuit its backend set, or %NULL
 */
const char *
exg_backend_get_connection_circuit (GSocketConnection *connection)
{
  g_return_val_if_fail (G_IS_SOCKET_CONNECTION (connection), NULL);

  return g_object_get_qdata (G_OBJECT (connection), circuit_quark ());
}
