/* exg-backend-direct.c: traffic leaves from this machine.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-backend-direct.h"

#include "exg-error.h"
#include "exg-poller.h"
#include "exg-socket-util.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

struct _ExgBackendDirect
{
  ExgBackend     parent_instance;

  GInetAddress  *source;   /* owned, nullable */
  ExgDestPolicy *policy;   /* owned ref, nullable */
};

G_DEFINE_FINAL_TYPE (ExgBackendDirect, exg_backend_direct, EXG_TYPE_BACKEND)

/* IP literals, the common case of a SOCKS request: one socket, one
 * non-blocking connect, watched through the context's epoll poller.
 * GSocketClient would cost an enumeration, several tasks and idles and a
 * resolver check per connection, which shows at tens of thousands of
 * connections a second.  A GSource on the socket would cost two writes of
 * the main context's wakeup eventfd (attach, destroy); the poller costs
 * one epoll_ctl, and the registration is left parked for the relay, which
 * takes it over with one EPOLL_CTL_MOD.  Names take the same way once
 * resolved (see NameConnect below).
 *
 * Nagle is not turned off here: the relay does it on both of its ends. */
typedef struct {
  GTask     *task;           /* owned */
  GSocket   *socket;         /* owned */
  ExgPoller *poller;         /* not owned: lives with the context */
  GSource   *cancel_source;  /* owned, nullable */
} LiteralConnect;

static void
literal_free (LiteralConnect *lc)
{
  if (lc->cancel_source != NULL)
    {
      g_source_destroy (lc->cancel_source);
      g_source_unref (lc->cancel_source);
    }
  g_object_unref (lc->socket);
  g_object_unref (lc->task);
  g_free (lc);
}

static void
literal_connected (GTask   *task,
                   GSocket *socket)
{
  GSocketConnection *connection;

  g_socket_set_blocking (socket, TRUE);
  connection = g_socket_connection_factory_create_connection (socket);
  g_task_return_pointer (task, connection, g_object_unref);
}

static void
literal_event_cb (gpointer user_data,
                  guint32  events)
{
  LiteralConnect *lc = user_data;
  int fd = g_socket_get_fd (lc->socket);
  GError *error = NULL;

  if (!g_socket_check_connect_result (lc->socket, &error))
    {
      exg_poller_remove (lc->poller, fd);
      g_task_return_error (lc->task, error);
    }
  else
    {
      /* edge-triggered: nothing more comes unless someone takes it over */
      exg_poller_park (lc->poller, fd);
      literal_connected (lc->task, lc->socket);
    }
  literal_free (lc);
}

static gboolean
literal_cancelled_cb (GCancellable *cancellable,
                      gpointer      user_data)
{
  LiteralConnect *lc = user_data;

  exg_poller_remove (lc->poller, g_socket_get_fd (lc->socket));
  g_task_return_error_if_cancelled (lc->task);
  literal_free (lc);
  return G_SOURCE_REMOVE;
}

static void
connect_literal (ExgBackendDirect              *self,
                 GTask                         *task,
                 const struct sockaddr_storage *sa,
                 socklen_t                      sa_len)
{
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autoptr(GSocket) socket = NULL;
  LiteralConnect *lc;
  GError *error = NULL;
  gboolean in_progress;
  int fd, errsv;

  if (g_task_return_error_if_cancelled (task))
    return;

  socket = exg_socket_connect_start (sa, sa_len, self->source, &in_progress,
                                     &error);
  if (socket == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (!in_progress)
    {
      literal_connected (task, socket);
      return;
    }

  fd = g_socket_get_fd (socket);
  lc = g_new0 (LiteralConnect, 1);
  lc->task = g_object_ref (task);
  lc->socket = g_steal_pointer (&socket);
  lc->poller = exg_poller_get_default ();
  /* EPOLLOUT once connected, EPOLLERR | EPOLLHUP if that failed */
  if (!exg_poller_add_new (lc->poller, fd, EPOLLOUT | EPOLLET, literal_event_cb, lc))
    {
      errsv = errno;
      g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (errsv),
                               "epoll_ctl: %s", g_strerror (errsv));
      literal_free (lc);
      return;
    }
  if (cancellable != NULL)
    {
      /* no descriptor: attaching and destroying it wakes nothing */
      lc->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (lc->cancel_source,
                             (GSourceFunc) (void (*) (void)) literal_cancelled_cb,
                             lc, NULL);
      g_source_set_static_name (lc->cancel_source, "[exitgate] direct connect");
      g_source_attach (lc->cancel_source, g_task_get_context (task));
    }
}

/* Names: one GResolver lookup for both families, then the connects of
 * literals, raced as GSocketClient races them (happy eyeballs, RFC 8305
 * §5): the addresses alternate between the families, starting with the
 * family of the resolver's first answer; an attempt starts when the one
 * before it fails, or HAPPY_EYEBALLS_DELAY_MS after it started if it is
 * still pending; the first connection made wins, and the attempts still
 * pending are closed.  GSocketClient over GNetworkAddress costs two
 * lookups (one per family), an enumerator, a GSource per attempt and
 * several tasks and idles per connection; this costs one lookup, one
 * epoll registration per attempt, and one timer while a second address
 * waits its turn.
 *
 * The name is resolved here, and only here is it known which addresses it
 * stands for: "localhost", or any name an attacker points at 127.0.0.1,
 * must not reach what a literal 127.0.0.1 may not.  So every address is
 * judged by the destination policy before any connect, and a refused one
 * is dropped from the list.  When every address is refused, the request
 * fails with the first refusal (EXG_ERROR_TARGET_REFUSED, reply 02). */
#define HAPPY_EYEBALLS_DELAY_MS 250   /* GIO's connection attempt delay */

typedef struct _NameConnect NameConnect;

typedef struct {
  NameConnect *nc;       /* not owned: the race this attempt is part of */
  GSocket     *socket;   /* owned; registered with nc->poller */
} Attempt;

struct _NameConnect {
  GTask     *task;           /* owned */
  ExgPoller *poller;         /* not owned: lives with the context */
  guint16    port;
  GArray    *addresses;      /* owned: struct sockaddr_storage, allowed, in
                              * the order to try */
  guint      next;           /* index in addresses of the next attempt */
  GPtrArray *attempts;       /* owned: Attempt, the connects in flight */
  GSource   *stagger;        /* owned, nullable: starts the next attempt */
  GSource   *cancel_source;  /* owned, nullable */
  GError    *error;          /* owned, nullable: the latest failure */
};

static void
attempt_free (Attempt *attempt)
{
  /* NULL: the winner, taken over with its registration parked */
  if (attempt->socket != NULL)
    {
      exg_poller_remove (attempt->nc->poller,
                         g_socket_get_fd (attempt->socket));
      g_object_unref (attempt->socket);
    }
  g_free (attempt);
}

static void
name_clear_stagger (NameConnect *nc)
{
  if (nc->stagger != NULL)
    {
      g_source_destroy (nc->stagger);
      g_clear_pointer (&nc->stagger, g_source_unref);
    }
}

static void
name_free (NameConnect *nc)
{
  name_clear_stagger (nc);
  if (nc->cancel_source != NULL)
    {
      g_source_destroy (nc->cancel_source);
      g_source_unref (nc->cancel_source);
    }
  /* the attempts still pending lost: closed here */
  g_clear_pointer (&nc->attempts, g_ptr_array_unref);
  g_clear_pointer (&nc->addresses, g_array_unref);
  g_clear_error (&nc->error);
  g_object_unref (nc->task);
  g_free (nc);
}

/* Keeps @error (owned) as the one to report if no attempt succeeds: the
 * latest, as GSocketClient reports it. */
static void
name_fail (NameConnect *nc,
           GError      *error)
{
  g_clear_error (&nc->error);
  nc->error = error;
}

static void name_try_next (NameConnect *nc);

static gboolean
name_stagger_cb (gpointer user_data)
{
  NameConnect *nc = user_data;

  g_clear_pointer (&nc->stagger, g_source_unref);
  name_try_next (nc);
  return G_SOURCE_REMOVE;
}

static void
attempt_event_cb (gpointer user_data,
                  guint32  events)
{
  Attempt *attempt = user_data;
  NameConnect *nc = attempt->nc;
  int fd = g_socket_get_fd (attempt->socket);
  GError *error = NULL;

  if (g_socket_check_connect_result (attempt->socket, &error))
    {
      g_autoptr(GSocket) socket = g_steal_pointer (&attempt->socket);

      /* edge-triggered: nothing more comes unless someone takes it over */
      exg_poller_park (nc->poller, fd);
      g_ptr_array_remove_fast (nc->attempts, attempt);
      literal_connected (nc->task, socket);
      name_free (nc);
      return;
    }

  name_fail (nc, error);
  g_ptr_array_remove_fast (nc->attempts, attempt);   /* frees it */
  if (nc->next < nc->addresses->len)
    {
      /* RFC 8305 §5: a failure starts the next attempt at once */
      name_clear_stagger (nc);
      name_try_next (nc);
    }
  else if (nc->attempts->len == 0)
    {
      g_task_return_error (nc->task, g_steal_pointer (&nc->error));
      name_free (nc);
    }
}

/* Starts attempts until one is in flight, or none is left to start. */
static void
name_try_next (NameConnect *nc)
{
  ExgBackendDirect *self = g_task_get_source_object (nc->task);

  /* bounded: each turn consumes an address */
  while (nc->next < nc->addresses->len)
    {
      const struct sockaddr_storage *sa =
        &g_array_index (nc->addresses, struct sockaddr_storage, nc->next);
      socklen_t sa_len = sa->ss_family == AF_INET ? sizeof (struct sockaddr_in)
                                                  : sizeof (struct sockaddr_in6);
      g_autoptr(GSocket) socket = NULL;
      GError *error = NULL;
      gboolean in_progress;
      Attempt *attempt;
      int errsv;

      nc->next++;
      socket = exg_socket_connect_start (sa, sa_len, self->source,
                                         &in_progress, &error);
      if (socket == NULL)
        {
          /* no route for this family, say: the next one at once */
          name_fail (nc, error);
          continue;
        }
      if (!in_progress)
        {
          literal_connected (nc->task, socket);
          name_free (nc);
          return;
        }

      attempt = g_new0 (Attempt, 1);
      attempt->nc = nc;
      attempt->socket = g_steal_pointer (&socket);
      if (!exg_poller_add_new (nc->poller, g_socket_get_fd (attempt->socket),
                               EPOLLOUT | EPOLLET, attempt_event_cb, attempt))
        {
          errsv = errno;
          g_object_unref (attempt->socket);
          g_free (attempt);
          name_fail (nc, g_error_new (G_IO_ERROR, g_io_error_from_errno (errsv),
                                      "epoll_ctl: %s", g_strerror (errsv)));
          continue;
        }
      g_ptr_array_add (nc->attempts, attempt);

      if (nc->next < nc->addresses->len)
        {
          nc->stagger = g_timeout_source_new (HAPPY_EYEBALLS_DELAY_MS);
          g_source_set_callback (nc->stagger, name_stagger_cb, nc, NULL);
          g_source_set_static_name (nc->stagger, "[exitgate] happy eyeballs");
          g_source_attach (nc->stagger, g_task_get_context (nc->task));
        }
      return;
    }

  if (nc->attempts->len == 0)
    {
      g_task_return_error (nc->task, g_steal_pointer (&nc->error));
      name_free (nc);
    }
}

static gboolean
name_cancelled_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  NameConnect *nc = user_data;

  g_task_return_error_if_cancelled (nc->task);
  name_free (nc);
  return G_SOURCE_REMOVE;
}

/* RFC 8305 §4: alternate the families, the resolver's first one first;
 * within a family, the resolver's order (RFC 6724). */
static GPtrArray *
interleave_families (GList *addresses)
{
  GPtrArray *ordered = g_ptr_array_new ();
  GSocketFamily first = g_inet_address_get_family (addresses->data);
  GList *same = addresses, *other = addresses;

  /* bounded: each turn moves one of the two cursors on */
  for (;;)
    {
      while (same != NULL && g_inet_address_get_family (same->data) != first)
        same = same->next;
      while (other != NULL && g_inet_address_get_family (other->data) == first)
        other = other->next;
      if (same == NULL && other == NULL)
        break;
      if (same != NULL)
        {
          g_ptr_array_add (ordered, same->data);
          same = same->next;
        }
      if (other != NULL)
        {
          g_ptr_array_add (ordered, other->data);
          other = other->next;
        }
    }
  return ordered;
}

static void
sockaddr_from_inet (GInetAddress            *inet,
                    guint16                  port,
                    struct sockaddr_storage *sa)
{
  struct sockaddr_in *sin = (struct sockaddr_in *) sa;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) sa;

  memset (sa, 0, sizeof *sa);
  if (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV4)
    {
      sin->sin_family = AF_INET;
      sin->sin_port = g_htons (port);
      memcpy (&sin->sin_addr, g_inet_address_to_bytes (inet), 4);
    }
  else
    {
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = g_htons (port);
      memcpy (&sin6->sin6_addr, g_inet_address_to_bytes (inet), 16);
    }
}

/* Fills nc->addresses with the allowed ones, in the order to try them;
 * FALSE with the first refusal if none is allowed. */
static gboolean
name_judge_addresses (NameConnect  *nc,
                      GList        *addresses,
                      GError      **error)
{
  ExgBackendDirect *self = g_task_get_source_object (nc->task);
  g_autoptr(GPtrArray) ordered = interleave_families (addresses);
  g_autoptr(GError) refusal = NULL;

  nc->addresses = g_array_sized_new (FALSE, FALSE,
                                     sizeof (struct sockaddr_storage),
                                     ordered->len);
  for (guint i = 0; i < ordered->len; i++)
    {
      GInetAddress *inet = ordered->pdata[i];
      struct sockaddr_storage sa;
      GError *local_error = NULL;

      if (self->policy != NULL
          && !exg_dest_policy_judge (self->policy,
                                     g_inet_address_get_family (inet),
                                     g_inet_address_to_bytes (inet),
                                     nc->port, &local_error))
        {
          if (refusal == NULL)
            refusal = local_error;
          else
            g_error_free (local_error);
          continue;
        }
      sockaddr_from_inet (inet, nc->port, &sa);
      g_array_append_val (nc->addresses, sa);
    }

  if (nc->addresses->len == 0)
    {
      if (refusal != NULL)
        g_propagate_error (error, g_steal_pointer (&refusal));
      else
        g_set_error_literal (error, G_RESOLVER_ERROR,
                             G_RESOLVER_ERROR_NOT_FOUND,
                             "No address to connect to");
      return FALSE;
    }
  return TRUE;
}

static void
name_resolved_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  NameConnect *nc = user_data;
  GCancellable *cancellable = g_task_get_cancellable (nc->task);
  GError *error = NULL;
  GList *addresses;

  addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result,
                                                &error);
  if (addresses == NULL
      || !name_judge_addresses (nc, addresses, &error))
    {
      g_resolver_free_addresses (addresses);
      g_task_return_error (nc->task, error);
      name_free (nc);
      return;
    }
  g_resolver_free_addresses (addresses);

  if (g_task_return_error_if_cancelled (nc->task))
    {
      name_free (nc);
      return;
    }
  if (cancellable != NULL)
    {
      /* no descriptor: attaching and destroying it wakes nothing */
      nc->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (nc->cancel_source,
                             (GSourceFunc) (void (*) (void)) name_cancelled_cb,
                             nc, NULL);
      g_source_set_static_name (nc->cancel_source, "[exitgate] direct connect");
      g_source_attach (nc->cancel_source, g_task_get_context (nc->task));
    }
  name_try_next (nc);
}

static void
connect_name (GTask      *task,
              const char *host,
              guint16     port)
{
  g_autoptr(GResolver) resolver = g_resolver_get_default ();
  NameConnect *nc;

  nc = g_new0 (NameConnect, 1);
  nc->task = g_object_ref (task);
  nc->poller = exg_poller_get_default ();
  nc->port = port;
  nc->attempts = g_ptr_array_new_with_free_func ((GDestroyNotify) attempt_free);
  /* both families in one lookup: GThreadedResolver makes it one
   * getaddrinfo (AF_UNSPEC), and cancelling it returns at once */
  g_resolver_lookup_by_name_async (resolver, host,
                                   g_task_get_cancellable (task),
                                   name_resolved_cb, nc);
}

static void
direct_connect_async (ExgBackend          *backend,
                      const char          *host,
                      guint16              port,
                      const char          *isolation,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  ExgBackendDirect *self = EXG_BACKEND_DIRECT (backend);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  struct sockaddr_storage sa;
  socklen_t sa_len;

  g_task_set_source_tag (task, direct_connect_async);

  if (exg_sockaddr_from_literal (host, port, &sa, &sa_len))
    connect_literal (self, task, &sa, sa_len);
  else
    connect_name (task, host, port);
}

static void
resolve_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  GList *addresses;

  addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result,
                                                &error);
  if (addresses == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, addresses,
                           (GDestroyNotify) g_resolver_free_addresses);
}

static void
direct_resolve_async (ExgBackend          *backend,
                      const char          *host,
                      const char          *isolation,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (backend, cancellable, callback,
                                      user_data);
  g_autoptr(GResolver) resolver = g_resolver_get_default ();

  g_task_set_source_tag (task, direct_resolve_async);
  g_resolver_lookup_by_name_async (resolver, host, cancellable,
                                   resolve_cb, g_steal_pointer (&task));
}

static void
resolve_ptr_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  char *name;

  name = g_resolver_lookup_by_address_finish (G_RESOLVER (source), result,
                                              &error);
  if (name == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, name, g_free);
}

static void
direct_resolve_ptr_async (ExgBackend          *backend,
                          GInetAddress        *address,
                          const char          *isolation,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (backend, cancellable, callback,
                                      user_data);
  g_autoptr(GResolver) resolver = g_resolver_get_default ();

  g_task_set_source_tag (task, direct_resolve_ptr_async);
  g_resolver_lookup_by_address_async (resolver, address, cancellable,
                                      resolve_ptr_cb, g_steal_pointer (&task));
}

static void
exg_backend_direct_finalize (GObject *object)
{
  ExgBackendDirect *self = EXG_BACKEND_DIRECT (object);

  g_clear_object (&self->source);
  g_clear_pointer (&self->policy, exg_dest_policy_unref);

  G_OBJECT_CLASS (exg_backend_direct_parent_class)->finalize (object);
}

static void
exg_backend_direct_class_init (ExgBackendDirectClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  ExgBackendClass *backend_class = EXG_BACKEND_CLASS (klass);

  object_class->finalize = exg_backend_direct_finalize;

  backend_class->connect_async = direct_connect_async;
  backend_class->resolve_async = direct_resolve_async;
  backend_class->resolve_ptr_async = direct_resolve_ptr_async;
}

static void
exg_backend_direct_init (ExgBackendDirect *self)
{
}

/**
 * exg_backend_direct_new:
 * @source: (nullable): local address for outgoing connections
 *
 * Returns: (transfer full): a direct exit
 */
ExgBackend *
exg_backend_direct_new (GInetAddress *source)
{
  ExgBackendDirect *self;

  g_return_val_if_fail (source == NULL || G_IS_INET_ADDRESS (source), NULL);

  self = g_object_new (EXG_TYPE_BACKEND_DIRECT, NULL);
  /* bound with port 0 before each connect: the kernel picks the port */
  if (source != NULL)
    self->source = g_object_ref (source);
  return EXG_BACKEND (self);
}

/**
 * exg_backend_direct_set_dest_policy:
 * @policy: (nullable): judges the addresses of hostnames; NULL for none
 *
 * IP literals are judged by the session before any exit is asked; names
 * are resolved by the direct exit alone, so only it can judge what they
 * resolve to.  The server sets its policy on the direct exits it serves.
 */
void
exg_backend_direct_set_dest_policy (ExgBackendDirect *self,
                                    ExgDestPolicy    *policy)
{
  g_return_if_fail (EXG_IS_BACKEND_DIRECT (self));

  if (policy != NULL)
    exg_dest_policy_ref (policy);
  g_clear_pointer (&self->policy, exg_dest_policy_unref);
  self->policy = policy;
}

/**
 * exg_backend_direct_get_dest_policy:
 *
 * Returns: (transfer none) (nullable): the policy names are judged by
 */
ExgDestPolicy *
exg_backend_direct_get_dest_policy (ExgBackendDirect *self)
{
  g_return_val_if_fail (EXG_IS_BACKEND_DIRECT (self), NULL);
  return self->policy;
}
