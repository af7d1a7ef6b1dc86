/* exg-test-util.c: helpers shared by the C tests.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "exg-test-util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

gboolean
exg_test_timeout_cb (gpointer user_data)
{
  gboolean *expired = user_data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
exg_test_poll_until (ExgTestCond cond,
                     gpointer    data,
                     guint       ms)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (ms, exg_test_timeout_cb, &expired);

  while (!cond (data) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  return cond (data);
}

void
exg_test_wait_until (ExgTestCond cond,
                     gpointer    data,
                     guint       seconds)
{
  g_assert_true (exg_test_poll_until (cond, data, seconds * 1000));
}

void
exg_test_flush (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static gboolean
flag_is_set (gpointer data)
{
  return g_atomic_int_get ((gint *) data) != 0;
}

void
exg_test_wait_flag (gint  *flag,
                    guint  seconds)
{
  exg_test_wait_until (flag_is_set, flag, seconds);
}

void
exg_test_result_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static gboolean
slot_is_filled (gpointer data)
{
  return *(GAsyncResult **) data != NULL;
}

GAsyncResult *
exg_test_wait_result (GAsyncResult **slot,
                      guint          seconds)
{
  exg_test_wait_until (slot_is_filled, slot, seconds);
  return *slot;
}

/* ------------------------------------------------------------------------
 * A resolver that counts every lookup and answers only what it was told
 * ------------------------------------------------------------------------ */

#define EXG_TYPE_TEST_RESOLVER (exg_test_resolver_get_type ())
G_DECLARE_FINAL_TYPE (ExgTestResolver, exg_test_resolver, EXG, TEST_RESOLVER,
                      GResolver)

struct _ExgTestResolver
{
  GResolver   parent_instance;
  guint      *counter;  /* atomic, nullable */
  GHashTable *names;    /* name -> GStrv of address literals */
  GHashTable *ptrs;     /* address literal -> name */
};

G_DEFINE_FINAL_TYPE (ExgTestResolver, exg_test_resolver, G_TYPE_RESOLVER)

static void
count (ExgTestResolver *self)
{
  if (self->counter != NULL)
    g_atomic_int_inc (self->counter);
}

static GList *
answer_name (GResolver  *resolver,
             const char *hostname,
             GError    **error)
{
  ExgTestResolver *self = EXG_TEST_RESOLVER (resolver);
  GStrv addresses;
  GList *list = NULL;

  count (self);
  addresses = g_hash_table_lookup (self->names, hostname);
  if (addresses == NULL)
    {
      g_set_error_literal (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND,
                           "no lookups here");
      return NULL;
    }
  for (guint i = 0; addresses[i] != NULL; i++)
    list = g_list_append (list, g_inet_address_new_from_string (addresses[i]));
  return list;
}

static char *
answer_address (GResolver    *resolver,
                GInetAddress *address,
                GError      **error)
{
  ExgTestResolver *self = EXG_TEST_RESOLVER (resolver);
  g_autofree char *text = g_inet_address_to_string (address);
  const char *name;

  count (self);
  name = g_hash_table_lookup (self->ptrs, text);
  if (name == NULL)
    {
      g_set_error_literal (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND,
                           "no lookups here");
      return NULL;
    }
  return g_strdup (name);
}

static GList *
lookup_by_name (GResolver    *resolver,
                const char   *hostname,
                GCancellable *cancellable,
                GError      **error)
{
  return answer_name (resolver, hostname, error);
}

static void
lookup_by_name_async (GResolver          *resolver,
                      const char         *hostname,
                      GCancellable       *cancellable,
                      GAsyncReadyCallback callback,
                      gpointer            user_data)
{
  g_autoptr(GTask) task = g_task_new (resolver, cancellable, callback,
                                      user_data);
  GError *error = NULL;
  GList *list = answer_name (resolver, hostname, &error);

  if (list == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, list,
                           (GDestroyNotify) g_resolver_free_addresses);
}

static void
lookup_by_name_with_flags_async (GResolver               *resolver,
                                 const char              *hostname,
                                 GResolverNameLookupFlags flags,
                                 GCancellable            *cancellable,
                                 GAsyncReadyCallback      callback,
                                 gpointer                 user_data)
{
  lookup_by_name_async (resolver, hostname, cancellable, callback, user_data);
}

static char *
lookup_by_address (GResolver    *resolver,
                   GInetAddress *address,
                   GCancellable *cancellable,
                   GError      **error)
{
  return answer_address (resolver, address, error);
}

static void
lookup_by_address_async (GResolver          *resolver,
                         GInetAddress       *address,
                         GCancellable       *cancellable,
                         GAsyncReadyCallback callback,
                         gpointer            user_data)
{
  g_autoptr(GTask) task = g_task_new (resolver, cancellable, callback,
                                      user_data);
  GError *error = NULL;
  char *name = answer_address (resolver, address, &error);

  if (name == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, name, g_free);
}

static GList *
lookup_by_name_finish (GResolver    *resolver,
                       GAsyncResult *result,
                       GError      **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static char *
lookup_by_address_finish (GResolver    *resolver,
                          GAsyncResult *result,
                          GError      **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
exg_test_resolver_finalize (GObject *object)
{
  ExgTestResolver *self = EXG_TEST_RESOLVER (object);

  g_hash_table_unref (self->names);
  g_hash_table_unref (self->ptrs);
  G_OBJECT_CLASS (exg_test_resolver_parent_class)->finalize (object);
}

static void
exg_test_resolver_class_init (ExgTestResolverClass *klass)
{
  GResolverClass *resolver_class = G_RESOLVER_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = exg_test_resolver_finalize;
  resolver_class->lookup_by_name = lookup_by_name;
  resolver_class->lookup_by_name_async = lookup_by_name_async;
  resolver_class->lookup_by_name_finish = lookup_by_name_finish;
  resolver_class->lookup_by_name_with_flags_async = lookup_by_name_with_flags_async;
  resolver_class->lookup_by_name_with_flags_finish = lookup_by_name_finish;
  resolver_class->lookup_by_address = lookup_by_address;
  resolver_class->lookup_by_address_async = lookup_by_address_async;
  resolver_class->lookup_by_address_finish = lookup_by_address_finish;
}

static void
exg_test_resolver_init (ExgTestResolver *self)
{
  self->names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) g_strfreev);
  self->ptrs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

GResolver *
exg_test_resolver_new (guint *counter)
{
  ExgTestResolver *self = g_object_new (EXG_TYPE_TEST_RESOLVER, NULL);

  self->counter = counter;
  return G_RESOLVER (self);
}

void
exg_test_resolver_add_name (GResolver  *resolver,
                            const char *name,
                            ...)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  const char *address;
  va_list args;

  va_start (args, name);
  while ((address = va_arg (args, const char *)) != NULL)
    g_strv_builder_add (builder, address);
  va_end (args);
  g_hash_table_replace (EXG_TEST_RESOLVER (resolver)->names, g_strdup (name),
                        g_strv_builder_end (builder));
}

void
exg_test_resolver_add_ptr (GResolver  *resolver,
                           const char *address,
                           const char *name)
{
  g_hash_table_replace (EXG_TEST_RESOLVER (resolver)->ptrs, g_strdup (address),
                        g_strdup (name));
}

/* ------------------------------------------------------------------------
 * Child processes
 * ------------------------------------------------------------------------ */

void
exg_test_die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

void
exg_test_wait_listening (const char *address,
                         guint16     port,
                         guint       seconds)
{
  gint64 deadline = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < deadline)
    {
      g_autoptr(GSocketClient) client = g_socket_client_new ();
      g_autoptr(GSocketConnection) conn = NULL;
      gboolean tick = FALSE;

      conn = g_socket_client_connect_to_host (client, address, port, NULL,
                                              NULL);
      if (conn != NULL)
        return;
      g_timeout_add (20, exg_test_timeout_cb, &tick);
      while (!tick)
        g_main_context_iteration (NULL, TRUE);
    }
  g_error ("nothing listens on %s:%u", address, port);
}

GSubprocess *
exg_test_spawn_exitgated (const char *conf,
                          const char *address,
                          guint16    *port,
                          guint       seconds)
{
  const char *exitgated = g_getenv ("EXITGATED");
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  g_autofree char *prefix = g_strdup_printf ("listening %s:", address);
  GSubprocess *process;

  g_assert_nonnull (exitgated);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, exg_test_die_with_parent,
                                         NULL, NULL);
  process = g_subprocess_launcher_spawn (launcher, &error, exitgated,
                                         "--config", conf, NULL);
  g_assert_no_error (error);

  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (process));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, NULL,
                                       exg_test_result_cb, &result);
  exg_test_wait_result (&result, seconds);
  line = g_data_input_stream_read_line_finish_utf8 (out, result, NULL,
                                                    &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (line, prefix));
  *port = (guint16) atoi (line + strlen (prefix));
  return process;
}

static void
waited_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  gint *done = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  g_atomic_int_set (done, 1);
}

void
exg_test_stop_process (GSubprocess *process,
                       guint        seconds)
{
  gint done = 0;

  g_subprocess_send_signal (process, SIGTERM);
  g_subprocess_wait_async (process, NULL, waited_cb, &done);
  exg_test_wait_flag (&done, seconds);
}

/* ------------------------------------------------------------------------ */

GByteArray *
exg_test_hex (const char *s)
{
  GByteArray *out = g_byte_array_new ();

  while (*s != '\0')
    {
      guint8 b;

      if (*s == ' ')
        {
          s++;
          continue;
        }
      g_assert_true (g_ascii_isxdigit (s[0]) && g_ascii_isxdigit (s[1]));
      b = (guint8) ((g_ascii_xdigit_value (s[0]) << 4) |
                    g_ascii_xdigit_value (s[1]));
      g_byte_array_append (out, &b, 1);
      s += 2;
    }
  return out;
}
