/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"
#include "exg-backend.h"

/* Temporary stub: the minimum of the abstract backend the upstream
 * backend and its tests need; replaced by the real one at merge. */

G_DEFINE_ABSTRACT_TYPE (ExgBackend, exg_backend, G_TYPE_OBJECT)

static void
default_check_async (ExgBackend *self, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static gboolean
default_check_finish (ExgBackend *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
exg_backend_class_init (ExgBackendClass *klass)
{
  klass->check_async = default_check_async;
  klass->check_finish = default_check_finish;
}

static void
exg_backend_init (ExgBackend *self)
{
}

void
exg_backend_connect_async (ExgBackend *self, const char *host, guint16 port,
                           GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  EXG_BACKEND_GET_CLASS (self)->connect_async (self, host, port, cancellable, callback, user_data);
}

GSocketConnection *
exg_backend_connect_finish (ExgBackend *self, GAsyncResult *result, GError **error)
{
  return EXG_BACKEND_GET_CLASS (self)->connect_finish (self, result, error);
}

void
exg_backend_resolve_async (ExgBackend *self, const char *host, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  EXG_BACKEND_GET_CLASS (self)->resolve_async (self, host, cancellable, callback, user_data);
}

GList *
exg_backend_resolve_finish (ExgBackend *self, GAsyncResult *result, GError **error)
{
  return EXG_BACKEND_GET_CLASS (self)->resolve_finish (self, result, error);
}

void
exg_backend_resolve_ptr_async (ExgBackend *self, GInetAddress *address, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  EXG_BACKEND_GET_CLASS (self)->resolve_ptr_async (self, address, cancellable, callback, user_data);
}

char *
exg_backend_resolve_ptr_finish (ExgBackend *self, GAsyncResult *result, GError **error)
{
  return EXG_BACKEND_GET_CLASS (self)->resolve_ptr_finish (self, result, error);
}

void
exg_backend_check_async (ExgBackend *self, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  EXG_BACKEND_GET_CLASS (self)->check_async (self, cancellable, callback, user_data);
}

gboolean
exg_backend_check_finish (ExgBackend *self, GAsyncResult *result, GError **error)
{
  return EXG_BACKEND_GET_CLASS (self)->check_finish (self, result, error);
}
