/* exg-backend.h: how a router carries traffic.  Abstract; implementations
 * are the direct exit, upstream proxies and tor.
 *
 * An implementation completes each _async with a GTask whose source object
 * is the backend, returning a pointer (connect, resolve, resolve_ptr) or a
 * boolean (check): the base class's _finish functions propagate it, so
 * implementations override only the _async functions.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define EXG_TYPE_BACKEND (exg_backend_get_type ())
G_DECLARE_DERIVABLE_TYPE (ExgBackend, exg_backend, EXG, BACKEND, GObject)

struct _ExgBackendClass
{
  GObjectClass parent_class;

  /* host: a hostname (resolved at the exit) or an IP literal */
  void               (*connect_async)     (ExgBackend          *self,
                                           const char          *host,
                                           guint16              port,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
  GSocketConnection *(*connect_finish)    (ExgBackend          *self,
                                           GAsyncResult        *result,
                                           GError             **error);

  void               (*resolve_async)     (ExgBackend          *self,
                                           const char          *host,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
  /* element-type GInetAddress, transfer full */
  GList             *(*resolve_finish)    (ExgBackend          *self,
                                           GAsyncResult        *result,
                                           GError             **error);

  void               (*resolve_ptr_async) (ExgBackend          *self,
                                           GInetAddress        *address,
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

  gpointer padding[8];
};

void               exg_backend_connect_async     (ExgBackend *self, const char *host, guint16 port,
                                                  GCancellable *cancellable,
                                                  GAsyncReadyCallback callback, gpointer user_data);
GSocketConnection *exg_backend_connect_finish    (ExgBackend *self, GAsyncResult *result, GError **error);
void               exg_backend_resolve_async     (ExgBackend *self, const char *host,
                                                  GCancellable *cancellable,
                                                  GAsyncReadyCallback callback, gpointer user_data);
GList             *exg_backend_resolve_finish    (ExgBackend *self, GAsyncResult *result, GError **error);
void               exg_backend_resolve_ptr_async (ExgBackend *self, GInetAddress *address,
                                                  GCancellable *cancellable,
                                                  GAsyncReadyCallback callback, gpointer user_data);
char              *exg_backend_resolve_ptr_finish (ExgBackend *self, GAsyncResult *result, GError **error);
void               exg_backend_check_async       (ExgBackend *self, GCancellable *cancellable,
                                                  GAsyncReadyCallback callback, gpointer user_data);
gboolean           exg_backend_check_finish      (ExgBackend *self, GAsyncResult *result, GError **error);

G_END_DECLS
