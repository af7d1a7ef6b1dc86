/* exg-backend.h: how a router carries traffic.  Abstract; implementations
 * are the direct exit, upstream proxies and tor.
 *
 * An implementation completes each _async with a GTask whose source object
 * is the backend, returning a pointer (connect, resolve, resolve_ptr) or a
 * boolean (check): the base class's _finish functions propagate it, so
 * implementations override only the _async functions.
 *
 * Every request carries its isolation key: requests with different keys
 * must not share what an exit could link them by (a tor circuit).  A
 * backend that has nothing of the kind ignores it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A dial: a connect for a caller that relays bytes and wants no GIO
 * objects (the server's sessions).  It ends in one call of @func:
 * @fd: the exit's socket (the callee's from then on) or -1 on failure;
 * @connection (transfer full, nullable): when the backend made the
 * stream with GIO, the connection that owns @fd (close that, not @fd);
 * @circuit (nullable): the way the stream went, for people, as
 * exg_backend_get_connection_circuit () says (tor);
 * @error (transfer full): why, when @fd is -1.  @func is never called
 * from inside exg_backend_dial (). */
typedef void (*ExgBackendDialFunc) (gpointer           user_data,
                                    int                fd,
                                    GSocketConnection *connection,
                                    const char        *circuit,
                                    GError            *error);

typedef struct _ExgBackendDial ExgBackendDial;

/* For implementations: the first member of a dial's state, filled by
 * exg_backend_dial_init ().  cancel stops the dial and frees it without
 * calling func. */
struct _ExgBackendDial
{
  ExgBackendDialFunc func;
  gpointer           user_data;
  void             (*cancel) (ExgBackendDial *dial);
};

#define EXG_TYPE_BACKEND (exg_backend_get_type ())
G_DECLARE_DERIVABLE_TYPE (ExgBackend, exg_backend, EXG, BACKEND, GObject)

struct _ExgBackendClass
{
  GObjectClass parent_class;

  /* host: a hostname (resolved at the exit) or an IP literal;
   * isolation: nullable, "" and NULL being the same key */
  void               (*connect_async)     (ExgBackend          *self,
                                           const char          *host,
                                           guint16              port,
                                           const char          *isolation,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
  GSocketConnection *(*connect_finish)    (ExgBackend          *self,
                                           GAsyncResult        *result,
                                           GError             **error);

  void               (*resolve_async)     (ExgBackend          *self,
                                           const char          *host,
                                           const char          *isolation,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
  /* element-type GInetAddress, transfer full */
  GList             *(*resolve_finish)    (ExgBackend          *self,
                                           GAsyncResult        *result,
                                           GError             **error);

  void               (*resolve_ptr_async) (ExgBackend          *self,
                                           GInetAddress        *address,
                                           const char          *isolation,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
  char              *(*resolve_ptr_finish)(ExgBackend          *self,
                                           GAsyncResult        *result,
                                           GError             **error);

  /* Health check: is this exit usable now?  Default: TRUE at once. */
  void               (*check_async)       (ExgBackend          *self,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
  gboolean           (*check_finish)      (ExgBackend          *self,
                                           GAsyncResult        *result,
                                           GError             **error);

  /* Make the next request through this exit quick (a tor circuit built
   * in advance).  Default: nothing. */
  void               (*prepare)           (ExgBackend          *self);

  /* Connect, as exg_backend_dial () says.  Default: connect_async, the
   * connection handed on whole. */
  ExgBackendDial    *(*dial)              (ExgBackend          *self,
                                           const char          *host,
                                           guint16              port,
                                           const char          *isolation,
                                           ExgBackendDialFunc   func,
                                           gpointer             user_data);

  gpointer padding[6];
};

void               exg_backend_connect_async     (ExgBackend *self, const char *host, guint16 port,
                                                  const char *isolation, GCancellable *cancellable,
                                                  GAsyncReadyCallback callback, gpointer user_data);
GSocketConnection *exg_backend_connect_finish    (ExgBackend *self, GAsyncResult *result, GError **error);
void               exg_backend_resolve_async     (ExgBackend *self, const char *host,
                                                  const char *isolation, GCancellable *cancellable,
                                                  GAsyncReadyCallback callback, gpointer user_data);
GList             *exg_backend_resolve_finish    (ExgBackend *self, GAsyncResult *result, GError **error);
void               exg_backend_resolve_ptr_async (ExgBackend *self, GInetAddress *address,
                                                  const char *isolation, GCancellable *cancellable,
                                                  GAsyncReadyCallback callback, gpointer user_data);
char              *exg_backend_resolve_ptr_finish (ExgBackend *self, GAsyncResult *result, GError **error);
void               exg_backend_check_async       (ExgBackend *self, GCancellable *cancellable,
                                                  GAsyncReadyCallback callback, gpointer user_data);
gboolean           exg_backend_check_finish      (ExgBackend *self, GAsyncResult *result, GError **error);
void               exg_backend_prepare           (ExgBackend *self);

ExgBackendDial    *exg_backend_dial              (ExgBackend *self, const char *host, guint16 port,
                                                  const char *isolation, ExgBackendDialFunc func,
                                                  gpointer user_data);
void               exg_backend_dial_cancel       (ExgBackendDial *dial);
void               exg_backend_dial_init         (ExgBackendDial *dial, ExgBackendDialFunc func,
                                                  gpointer user_data,
                                                  void (*cancel) (ExgBackendDial *dial));
ExgBackendDial    *exg_backend_dial_fail_later   (GError *error, ExgBackendDialFunc func,
                                                  gpointer user_data);

/* The way a connection went, for people ("a (DE) → b (SE) → c (US)"):
 * backends that have one (tor) set it on the connections they return. */
void               exg_backend_set_connection_circuit (GSocketConnection *connection,
                                                       const char        *circuit);
const char        *exg_backend_get_connection_circuit (GSocketConnection *connection);

G_END_DECLS
