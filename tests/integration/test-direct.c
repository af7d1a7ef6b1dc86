/* test-direct.c: the direct exit connecting by name, on loopback.
 *
 * Names are answered by a test resolver set as the default, so that each
 * test knows which addresses a name stands for (this machine's
 * /etc/hosts may or may not give "localhost" an IPv6 address).  Targets
 * are real listeners on 127.0.0.1, 127.0.0.2 and ::1; an address that
 * "does not answer" is a listener whose accept queue is full: the kernel
 * drops every SYN it gets, so a connect to it stays pending.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-core.h"
#include "exg-test-util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_SECONDS 10
#define STAGGER_MS   250   /* GIO's happy eyeballs delay, which we keep */

/* ------------------------------------------------------------------------
 * A resolver that holds every lookup until it is cancelled
 * ------------------------------------------------------------------------ */

#define TEST_TYPE_HELD_RESOLVER (test_held_resolver_get_type ())
G_DECLARE_FINAL_TYPE (TestHeldResolver, test_held_resolver, TEST,
                      HELD_RESOLVER, GResolver)

struct _TestHeldResolver
{
  GResolver  parent_instance;
  GTask     *pending;     /* owned, nullable: the lookup held */
  gulong     handler;     /* on the pending lookup's cancellable */
  gboolean   cancelled;   /* the held lookup's cancellable was cancelled */
};

G_DEFINE_FINAL_TYPE (TestHeldResolver, test_held_resolver, G_TYPE_RESOLVER)

static void
held_cancelled_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  TestHeldResolver *self = user_data;

  self->cancelled = TRUE;
}

static gboolean
held_return_cb (gpointer user_data)
{
  TestHeldResolver *self = user_data;
  g_autoptr(GTask) task = g_steal_pointer (&self->pending);

  g_cancellable_disconnect (g_task_get_cancellable (task), self->handler);
  g_assert_true (g_task_return_error_if_cancelled (task));
  return G_SOURCE_REMOVE;
}

static void
held_lookup_by_name_async (GResolver          *resolver,
                           const char         *hostname,
                           GCancellable       *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer            user_data)
{
  TestHeldResolver *self = TEST_HELD_RESOLVER (resolver);

  g_assert_null (self->pending);
  g_assert_nonnull (cancellable);
  self->pending = g_task_new (resolver, cancellable, callback, user_data);
  /* the lookup ends only when its cancellable is cancelled: returned
   * from an idle, as a real resolver returns from its thread */
  self->handler = g_cancellable_connect (cancellable,
                                        G_CALLBACK (held_cancelled_cb),
                                        self, NULL);
}

static GList *
held_lookup_by_name_finish (GResolver     *resolver,
                            GAsyncResult  *result,
                            GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
test_held_resolver_finalize (GObject *object)
{
  TestHeldResolver *self = TEST_HELD_RESOLVER (object);

  g_assert_null (self->pending);
  G_OBJECT_CLASS (test_held_resolver_parent_class)->finalize (object);
}

static void
test_held_resolver_class_init (TestHeldResolverClass *klass)
{
  GResolverClass *resolver_class = G_RESOLVER_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = test_held_resolver_finalize;
  resolver_class->lookup_by_name_async = held_lookup_by_name_async;
  resolver_class->lookup_by_name_finish = held_lookup_by_name_finish;
}

static void
test_held_resolver_init (TestHeldResolver *self)
{
}

/* ------------------------------------------------------------------------
 * Listeners
 * ------------------------------------------------------------------------ */

/* A listening socket on @literal:@port (0: any), non-blocking. */
static GSocket *
listen_on (const char *literal,
           guint16     port,
           int         backlog)
{
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (literal);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (inet, port);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;

  socket = g_socket_new (g_inet_address_get_family (inet),
                         G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  if (socket == NULL)
    return NULL;
  g_socket_set_listen_backlog (socket, backlog);
  if (!g_socket_bind (socket, address, FALSE, &error)
      || !g_socket_listen (socket, &error))
    return NULL;
  g_socket_set_blocking (socket, FALSE);
  return g_steal_pointer (&socket);
}

/* FALSE where the kernel has no IPv6 (then the IPv6 tests skip) */
static gboolean
have_ipv6_loopback (void)
{
  g_autoptr(GSocket) probe = listen_on ("::1", 0, 1);

  return probe != NULL;
}

#define SKIP_WITHOUT_IPV6() \
  G_STMT_START { \
    if (!have_ipv6_loopback ()) \
      { \
        g_test_skip ("no IPv6 on loopback"); \
        return; \
      } \
  } G_STMT_END

static guint16
local_port (GSocket *socket)
{
  g_autoptr(GSocketAddress) address = g_socket_get_local_address (socket,
                                                                  NULL);

  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
}

/* Two listeners on one port, one per literal; FALSE if that port was
 * taken on the second address every time we tried. */
static gboolean
listen_pair (const char *first,
             int         first_backlog,
             const char *second,
             int         second_backlog,
             GSocket   **out_first,
             GSocket   **out_second)
{
  for (guint i = 0; i < 20; i++)
    {
      g_autoptr(GSocket) a = listen_on (first, 0, first_backlog);
      GSocket *b;

      g_assert_nonnull (a);
      b = listen_on (second, local_port (a), second_backlog);
      if (b != NULL)
        {
          *out_first = g_steal_pointer (&a);
          *out_second = b;
          return TRUE;
        }
    }
  return FALSE;
}

/* The connection waiting in @listener's accept queue, or NULL. */
static GSocket *
try_accept (GSocket *listener)
{
  g_autoptr(GError) error = NULL;
  GSocket *accepted = g_socket_accept (listener, NULL, &error);

  if (accepted == NULL)
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
  return accepted;
}

/* Fills the accept queue of @listener (made with backlog 1): from then
 * on it drops every SYN, and a connect to it stays pending.  Returns the
 * clients that fill it.  Linux queues backlog + 1 connections; a
 * backlog of 0 would do with one, but only with SYN cookies on. */
static GPtrArray *
make_silent (GSocket *listener)
{
  g_autoptr(GSocketAddress) address = g_socket_get_local_address (listener,
                                                                  NULL);
  GPtrArray *clients = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;
      GSocket *client;

      client = g_socket_new (g_socket_get_family (listener),
                             G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                             &error);
      g_assert_no_error (error);
      /* the queue has room: this completes at once */
      g_socket_connect (client, address, NULL, &error);
      g_assert_no_error (error);
      g_ptr_array_add (clients, client);
    }
  return clients;
}

/* How many TCP sockets of this process's network namespace are in
 * SYN_SENT towards @port over IPv6 (/proc/net/tcp6, state 02). */
static guint
syn_sent_to (guint16 port)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;
  guint n = 0;

  if (!g_file_get_contents ("/proc/net/tcp6", &text, NULL, NULL))
    return 0;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 1; lines[i] != NULL; i++)
    {
      char local[64], remote[64];
      unsigned int state;

      if (sscanf (lines[i], " %*d: %63s %63s %x", local, remote, &state) != 3)
        continue;
      if (state == 0x02 && strchr (remote, ':') != NULL
          && strtoul (strrchr (remote, ':') + 1, NULL, 16) == port)
        n++;
    }
  return n;
}

/* ------------------------------------------------------------------------
 * Fixture
 * ------------------------------------------------------------------------ */

typedef struct {
  GResolver    *old_resolver;  /* owned: restored at teardown */
  GResolver    *resolver;      /* owned: the default during the test */
  guint         lookups;
  ExgBackend   *direct;        /* owned */
  GCancellable *cancellable;   /* owned */
  GAsyncResult *result;        /* owned, nullable: of connect */
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  f->old_resolver = g_resolver_get_default ();
  f->resolver = exg_test_resolver_new (&f->lookups);
  g_resolver_set_default (f->resolver);
  f->direct = exg_backend_direct_new (NULL);
  f->cancellable = g_cancellable_new ();
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->result);
  g_clear_object (&f->cancellable);
  g_clear_object (&f->direct);
  g_resolver_set_default (f->old_resolver);
  g_clear_object (&f->old_resolver);
  g_clear_object (&f->resolver);
}

static void
start_connect (Fixture    *f,
               const char *host,
               guint16     port)
{
  g_clear_object (&f->result);
  exg_backend_connect_async (f->direct, host, port, NULL, f->cancellable,
                             exg_test_result_cb, &f->result);
}

/* (transfer full) the connection, or NULL with @error */
static GSocketConnection *
finish_connect (Fixture  *f,
                GError  **error)
{
  exg_test_wait_result (&f->result, WAIT_SECONDS);
  return exg_backend_connect_finish (f->direct, f->result, error);
}

/* The remote address of @stream as "literal" and port. */
static char *
remote_of (GSocketConnection *stream,
           guint16   *port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  GInetSocketAddress *isa;

  remote = g_socket_connection_get_remote_address (stream, &error);
  g_assert_no_error (error);
  isa = G_INET_SOCKET_ADDRESS (remote);
  *port = g_inet_socket_address_get_port (isa);
  return g_inet_address_to_string (g_inet_socket_address_get_address (isa));
}

/* Connects by @name to a listener on @literal and checks that the
 * listener got exactly that connection. */
static void
assert_name_reaches (Fixture    *f,
                     const char *name,
                     const char *literal)
{
  g_autoptr(GSocket) listener = listen_on (literal, 0, 16);
  g_autoptr(GSocketConnection) stream = NULL;
  g_autoptr(GSocket) accepted = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *remote = NULL;
  guint16 port = local_port (listener), remote_port;

  start_connect (f, name, port);
  stream = finish_connect (f, &error);
  g_assert_no_error (error);
  remote = remote_of (stream, &remote_port);
  g_assert_cmpstr (remote, ==, literal);
  g_assert_cmpuint (remote_port, ==, port);
  accepted = try_accept (listener);
  g_assert_nonnull (accepted);
  g_clear_object (&accepted);
  accepted = try_accept (listener);
  g_assert_null (accepted);
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

static void
test_name_ipv4 (Fixture       *f,
                gconstpointer  data)
{
  exg_test_resolver_add_name (f->resolver, "v4.test", "127.0.0.1", NULL);
  assert_name_reaches (f, "v4.test", "127.0.0.1");
  g_assert_cmpuint (g_atomic_int_get (&f->lookups), ==, 1);
}

static void
test_name_ipv6 (Fixture       *f,
                gconstpointer  data)
{
  SKIP_WITHOUT_IPV6 ();
  exg_test_resolver_add_name (f->resolver, "v6.test", "::1", NULL);
  assert_name_reaches (f, "v6.test", "::1");
  g_assert_cmpuint (g_atomic_int_get (&f->lookups), ==, 1);
}

/* RFC 8305: IPv6 first; it does not answer, so IPv4 starts after the
 * stagger and wins; the pending IPv6 attempt is then closed. */
static void
test_name_ipv6_silent (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(GSocket) v4 = NULL;
  g_autoptr(GSocket) v6 = NULL;
  g_autoptr(GPtrArray) fillers = NULL;
  g_autoptr(GSocketConnection) stream = NULL;
  g_autoptr(GSocket) accepted = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *remote = NULL;
  guint16 port, remote_port;
  gint64 start, elapsed_ms;

  SKIP_WITHOUT_IPV6 ();
  g_assert_true (listen_pair ("127.0.0.1", 16, "::1", 1, &v4, &v6));
  port = local_port (v4);
  fillers = make_silent (v6);
  g_assert_cmpuint (syn_sent_to (port), ==, 0);
  exg_test_resolver_add_name (f->resolver, "dual.test", "::1", "127.0.0.1",
                              NULL);

  start = g_get_monotonic_time ();
  start_connect (f, "dual.test", port);
  stream = finish_connect (f, &error);
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  g_assert_no_error (error);
  remote = remote_of (stream, &remote_port);
  g_assert_cmpstr (remote, ==, "127.0.0.1");
  g_assert_cmpuint (remote_port, ==, port);
  /* IPv4 waited for the stagger: timers never fire early */
  g_assert_cmpint (elapsed_ms, >=, STAGGER_MS);
  accepted = try_accept (v4);
  g_assert_nonnull (accepted);
  /* the IPv6 attempt that lost is gone, not left pending */
  g_assert_cmpuint (syn_sent_to (port), ==, 0);
}

/* IPv6 first, refused at once: IPv4 need not wait for the stagger. */
static void
test_name_ipv6_refused (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(GSocket) v4 = NULL;
  g_autoptr(GSocket) v6 = NULL;
  g_autoptr(GSocketConnection) stream = NULL;
  g_autoptr(GSocket) accepted = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *remote = NULL;
  guint16 port, remote_port;

  SKIP_WITHOUT_IPV6 ();
  /* a port free on ::1 (nothing listens there) and in use on 127.0.0.1 */
  g_assert_true (listen_pair ("127.0.0.1", 16, "::1", 0, &v4, &v6));
  port = local_port (v4);
  g_clear_object (&v6);
  exg_test_resolver_add_name (f->resolver, "dual.test", "::1", "127.0.0.1",
                              NULL);

  start_connect (f, "dual.test", port);
  stream = finish_connect (f, &error);
  g_assert_no_error (error);
  remote = remote_of (stream, &remote_port);
  g_assert_cmpstr (remote, ==, "127.0.0.1");
  accepted = try_accept (v4);
  g_assert_nonnull (accepted);
}

/* Every address refuses: the connect fails with the refusal. */
static void
test_name_all_refused (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(GSocket) v4 = NULL;
  g_autoptr(GSocket) v6 = NULL;
  g_autoptr(GSocketConnection) stream = NULL;
  g_autoptr(GError) error = NULL;
  guint16 port;

  SKIP_WITHOUT_IPV6 ();
  g_assert_true (listen_pair ("127.0.0.1", 16, "::1", 16, &v4, &v6));
  port = local_port (v4);
  g_clear_object (&v4);
  g_clear_object (&v6);
  exg_test_resolver_add_name (f->resolver, "dual.test", "127.0.0.1", "::1",
                              NULL);

  start_connect (f, "dual.test", port);
  stream = finish_connect (f, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_null (stream);
}

static void
test_name_not_found (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(GSocketConnection) stream = NULL;
  g_autoptr(GError) error = NULL;

  start_connect (f, "nx.test", 80);
  stream = finish_connect (f, &error);
  g_assert_error (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND);
  g_assert_null (stream);
}

/* The policy judges every address a name stands for, before any connect:
 * a refused one is skipped, never connected to; a name whose addresses
 * are all refused fails with the refusal (reply 02). */
static void
test_name_policy (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(ExgDestPolicy) policy = exg_dest_policy_new ();
  g_autoptr(GSocket) denied = NULL;
  g_autoptr(GSocket) allowed = NULL;
  g_autoptr(GSocketConnection) stream = NULL;
  g_autoptr(GSocket) accepted = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *remote = NULL;
  const char *deny[] = { "127.0.0.1/32", NULL };
  guint16 port, remote_port;

  g_assert_true (exg_dest_policy_set_deny_targets (policy, deny, &error));
  g_assert_no_error (error);
  exg_backend_direct_set_dest_policy (EXG_BACKEND_DIRECT (f->direct), policy);
  g_assert_true (listen_pair ("127.0.0.1", 16, "127.0.0.2", 16,
                              &denied, &allowed));
  port = local_port (denied);
  /* the refused address first: it would win if it were tried */
  exg_test_resolver_add_name (f->resolver, "mixed.test",
                              "127.0.0.1", "127.0.0.2", NULL);
  exg_test_resolver_add_name (f->resolver, "denied.test", "127.0.0.1", NULL);

  start_connect (f, "mixed.test", port);
  stream = finish_connect (f, &error);
  g_assert_no_error (error);
  remote = remote_of (stream, &remote_port);
  g_assert_cmpstr (remote, ==, "127.0.0.2");
  accepted = try_accept (allowed);
  g_assert_nonnull (accepted);
  g_clear_object (&stream);

  start_connect (f, "denied.test", port);
  stream = finish_connect (f, &error);
  g_assert_error (error, EXG_ERROR, EXG_ERROR_TARGET_REFUSED);
  g_assert_null (stream);

  /* neither connect reached the refused address */
  g_assert_null (try_accept (denied));
}

static gboolean
lookup_held (gpointer data)
{
  TestHeldResolver *held = data;

  return held->pending != NULL;
}

static gboolean
lookup_returned (gpointer data)
{
  TestHeldResolver *held = data;

  return held->pending == NULL;
}

static gboolean
lookup_cancelled (gpointer data)
{
  TestHeldResolver *held = data;

  return held->cancelled;
}

/* Cancelled while the name is being resolved: the lookup is cancelled
 * with it, the connect fails with CANCELLED and nothing is connected. */
static void
test_name_cancel_resolve (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(TestHeldResolver) held = g_object_new (TEST_TYPE_HELD_RESOLVER,
                                                   NULL);
  g_autoptr(GSocketConnection) stream = NULL;
  g_autoptr(GError) error = NULL;

  g_resolver_set_default (G_RESOLVER (held));
  start_connect (f, "held.test", 80);
  exg_test_wait_until (lookup_held, held, WAIT_SECONDS);
  g_assert_null (f->result);

  g_cancellable_cancel (f->cancellable);
  /* the caller's cancel reaches the lookup from the main loop */
  exg_test_wait_until (lookup_cancelled, held, WAIT_SECONDS);
  g_idle_add (held_return_cb, held);
  stream = finish_connect (f, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (stream);
  /* the held lookup answers (cancelled), and nothing waits for it */
  exg_test_wait_until (lookup_returned, held, WAIT_SECONDS);
}

static gboolean
syn_pending (gpointer data)
{
  return syn_sent_to (GPOINTER_TO_UINT (data)) > 0;
}

/* Cancelled while a connect to a silent address is pending: the attempt
 * is closed and the connect fails with CANCELLED. */
static void
test_name_cancel_connect (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(GSocket) v6 = NULL;
  g_autoptr(GPtrArray) fillers = NULL;
  g_autoptr(GSocketConnection) stream = NULL;
  g_autoptr(GError) error = NULL;
  guint16 port;

  SKIP_WITHOUT_IPV6 ();
  v6 = listen_on ("::1", 0, 1);
  fillers = make_silent (v6);
  port = local_port (v6);
  exg_test_resolver_add_name (f->resolver, "silent.test", "::1", NULL);
  start_connect (f, "silent.test", port);
  exg_test_wait_until (syn_pending, GUINT_TO_POINTER (port), WAIT_SECONDS);
  g_assert_null (f->result);

  g_cancellable_cancel (f->cancellable);
  stream = finish_connect (f, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (stream);
  g_assert_cmpuint (syn_sent_to (port), ==, 0);
}

typedef struct {
  gint    done;
  int     fd;
  GError *error;
} DialResult;

static void
dial_result_cb (gpointer           user_data,
                int                fd,
                GSocketConnection *connection,
                const char        *circuit,
                GError            *error)
{
  DialResult *r = user_data;

  g_assert_null (connection);
  g_assert_null (circuit);
  r->fd = fd;
  r->error = error;
  g_atomic_int_set (&r->done, 1);
}

/* A connect to a literal that fails before it starts (a source address
 * of the other family cannot be bound; nothing is sent) is reported from
 * the main loop, never inside the dial; cancelled first, never. */
static void
test_literal_fails_at_once (void)
{
  g_autoptr(GInetAddress) v6 = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV6);
  g_autoptr(ExgBackend) direct = exg_backend_direct_new (v6);
  DialResult r = { .fd = -1 };
  ExgBackendDial *dial;

  exg_backend_dial (direct, "127.0.0.1", 9, NULL, dial_result_cb, &r);
  g_assert_cmpint (g_atomic_int_get (&r.done), ==, 0);
  exg_test_wait_flag (&r.done, WAIT_SECONDS);
  g_assert_cmpint (r.fd, ==, -1);
  g_assert_nonnull (r.error);
  g_clear_error (&r.error);

  r.done = 0;
  dial = exg_backend_dial (direct, "127.0.0.1", 9, NULL, dial_result_cb, &r);
  exg_backend_dial_cancel (dial);
  exg_test_flush ();
  g_assert_cmpint (g_atomic_int_get (&r.done), ==, 0);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/direct/name/ipv4", test_name_ipv4);
  ADD ("/direct/name/ipv6", test_name_ipv6);
  ADD ("/direct/name/ipv6-silent-ipv4-wins-after-stagger",
       test_name_ipv6_silent);
  ADD ("/direct/name/ipv6-refused-ipv4-wins", test_name_ipv6_refused);
  ADD ("/direct/name/all-refused", test_name_all_refused);
  ADD ("/direct/name/not-found", test_name_not_found);
  ADD ("/direct/name/policy-refused-never-connected", test_name_policy);
  ADD ("/direct/name/cancel-while-resolving", test_name_cancel_resolve);
  ADD ("/direct/name/cancel-while-connecting", test_name_cancel_connect);
#undef ADD
  g_test_add_func ("/direct/literal/fails-at-once-from-the-main-loop",
                   test_literal_fails_at_once);

  return g_test_run ();
}
