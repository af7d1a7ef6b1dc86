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
#include <unistd.h>

struct _ExgBackendDirect
{
  ExgBackend     parent_instance;

  GInetAddress  *source;   /* owned, nullable */
  ExgDestPolicy *policy;   /* owned ref, nullable */
};

G_DEFINE_FINAL_TYPE (ExgBackendDirect, exg_backend_direct, EXG_TYPE_BACKEND)

/* Dials (exg_backend_dial) end with the exit's socket as a bare
 * descriptor, completed by a plain callback: GSocketClient, or even a
 * GTask, a GSocket and a GSocketConnection per connection, show at tens of
 * thousands of connections a second.  connect_async, for GIO callers,
 * wraps a dial.
 *
 * IP literals, the common case of a SOCKS request: one socket, one
 * non-blocking connect, watched through the context's epoll poller (a
 * GSource on the socket would cost two writes of the main context's
 * wakeup eventfd: attach, destroy).  The registration, made once for
 * what the relay watches (EXG_POLLER_STREAM_EVENTS), is held for the
 * relay, which takes it over.  Names take the same way once resolved
 * (see NameDial below).
 *
 * Nagle is not turned off here: the relay does it on both of its ends. */

/* Once a connect's socket is writable or in error: connected?  EPOLLOUT
 * alone says so without asking the kernel again; an error or a hang-up
 * is read from SO_ERROR. */
static gboolean
dial_connected (int       fd,
                guint32   events,
                GError  **error)
{
  if (!(events & (EPOLLERR | EPOLLHUP)))
    return TRUE;
  return exg_socket_connect_result (fd, error);
}

typedef struct {
  ExgBackendDial  dial;
  ExgPoller      *poller;   /* not owned: lives with the context */
  int             fd;       /* owned */
} LiteralDial;

static void
literal_event_cb (gpointer user_data,
                  guint32  events)
{
  LiteralDial *ld = user_data;
  ExgBackendDial dial = ld->dial;
  int fd = ld->fd;
  GError *error = NULL;

  if (dial_connected (fd, events, &error))
    {
      /* edge-triggered: nothing more comes until the relay takes it over */
      exg_poller_hold (ld->poller, fd);
      g_free (ld);
      dial.func (dial.user_data, fd, NULL, NULL, NULL);
      return;
    }
  exg_poller_remove (ld->poller, fd);
  close (fd);
  g_free (ld);
  dial.func (dial.user_data, -1, NULL, NULL, error);
}

static void
literal_cancel (ExgBackendDial *dial)
{
  LiteralDial *ld = (LiteralDial *) dial;

  exg_poller_remove (ld->poller, ld->fd);
  close (ld->fd);
  g_free (ld);
}

static ExgBackendDial *
dial_literal (ExgBackendDirect              *self,
              const struct sockaddr_storage *sa,
              socklen_t                      sa_len,
              ExgBackendDialFunc             func,
              gpointer                       user_data)
{
  ExgPoller *poller = exg_poller_get_default ();
  GError *error = NULL;
  gboolean in_progress;
  LiteralDial *ld;
  int fd;

  fd = exg_socket_connect_start (sa, sa_len, self->source, &in_progress, &error);
  if (fd < 0)
    return exg_backend_dial_fail_later (error, func, user_data);

  ld = g_new0 (LiteralDial, 1);
  exg_backend_dial_init (&ld->dial, func, user_data, literal_cancel);
  ld->poller = poller;
  ld->fd = fd;
  /* connected at once or not: EPOLLOUT tells, from the poller, never
   * from inside this call */
  if (!exg_poller_add_new (poller, fd, EXG_POLLER_STREAM_EVENTS,
                           literal_event_cb, ld))
    {
      int errsv = errno;

      close (fd);
      g_free (ld);
      return exg_backend_dial_fail_later (g_error_new (G_IO_ERROR,
                                                       g_io_error_from_errno (errsv),
                                                       "epoll_ctl: %s", g_strerror (errsv)),
                                          func, user_data);
    }
  return &ld->dial;
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

typedef struct _NameDial NameDial;

typedef struct {
  NameDial *nd;       /* not owned: the race this attempt is part of */
  int       fd;       /* owned; registered with nd->poller */
} Attempt;

struct _NameDial {
  ExgBackendDial    dial;
  ExgBackendDirect *self;           /* owned ref */
  ExgPoller        *poller;         /* not owned: lives with the context */
  guint16           port;
  GCancellable     *resolving;      /* owned, nullable: while the lookup
                                     * runs; cancelled with the dial */
  GArray           *addresses;      /* owned: struct sockaddr_storage,
                                     * allowed, in the order to try */
  guint             next;           /* index in addresses of the next attempt */
  GPtrArray        *attempts;       /* owned: Attempt, the connects in flight */
  GSource          *stagger;        /* owned, nullable: starts the next attempt */
  GError           *error;          /* owned, nullable: the latest failure */
};

static void
attempt_free (Attempt *attempt)
{
  /* -1: the winner, handed on with its registration held */
  if (attempt->fd >= 0)
    {
      exg_poller_remove (attempt->nd->poller, attempt->fd);
      close (attempt->fd);
    }
  g_free (attempt);
}

static void
name_clear_stagger (NameDial *nd)
{
  if (nd->stagger != NULL)
    {
      g_source_destroy (nd->stagger);
      g_clear_pointer (&nd->stagger, g_source_unref);
    }
}

static void
name_free (NameDial *nd)
{
  name_clear_stagger (nd);
  /* the attempts still pending lost: closed here */
  g_clear_pointer (&nd->attempts, g_ptr_array_unref);
  g_clear_pointer (&nd->addresses, g_array_unref);
  g_clear_object (&nd->resolving);
  g_clear_error (&nd->error);
  g_object_unref (nd->self);
  g_free (nd);
}

/* Ends the dial: @fd connected, or -1 with @error (owned) */
static void
name_finish (NameDial *nd,
             int       fd,
             GError   *error)
{
  ExgBackendDial dial = nd->dial;

  name_free (nd);
  dial.func (dial.user_data, fd, NULL, NULL, error);
}

/* Keeps @error (owned) as the one to report if no attempt succeeds: the
 * latest, as GSocketClient reports it. */
static void
name_fail (NameDial *nd,
           GError   *error)
{
  g_clear_error (&nd->error);
  nd->error = error;
}

static void name_try_next (NameDial *nd);

static gboolean
name_stagger_cb (gpointer user_data)
{
  NameDial *nd = user_data;

  g_clear_pointer (&nd->stagger, g_source_unref);
  name_try_next (nd);
  return G_SOURCE_REMOVE;
}

static void
attempt_event_cb (gpointer user_data,
                  guint32  events)
{
  Attempt *attempt = user_data;
  NameDial *nd = attempt->nd;
  GError *error = NULL;

  if (dial_connected (attempt->fd, events, &error))
    {
      int fd = attempt->fd;

      /* edge-triggered: nothing more comes until the relay takes it over */
      exg_poller_hold (nd->poller, fd);
      attempt->fd = -1;
      name_finish (nd, fd, NULL);
      return;
    }

  name_fail (nd, error);
  g_ptr_array_remove_fast (nd->attempts, attempt);   /* frees it */
  if (nd->next < nd->addresses->len)
    {
      /* RFC 8305 §5: a failure starts the next attempt at once */
      name_clear_stagger (nd);
      name_try_next (nd);
    }
  else if (nd->attempts->len == 0)
    name_finish (nd, -1, g_steal_pointer (&nd->error));
}

/* Starts attempts until one is in flight, or none is left to start.
 * Runs from the main loop only (a lookup's answer, a timer, an event):
 * the dial may end inside. */
static void
name_try_next (NameDial *nd)
{
  /* bounded: each turn consumes an address */
  while (nd->next < nd->addresses->len)
    {
      const struct sockaddr_storage *sa =
        &g_array_index (nd->addresses, struct sockaddr_storage, nd->next);
      socklen_t sa_len = sa->ss_family == AF_INET ? sizeof (struct sockaddr_in)
                                                  : sizeof (struct sockaddr_in6);
      GError *error = NULL;
      gboolean in_progress;
      Attempt *attempt;
      int fd;

      nd->next++;
      fd = exg_socket_connect_start (sa, sa_len, nd->self->source,
                                     &in_progress, &error);
      if (fd < 0)
        {
          /* no route for this family, say: the next one at once */
          name_fail (nd, error);
          continue;
        }

      attempt = g_new0 (Attempt, 1);
      attempt->nd = nd;
      attempt->fd = fd;
      /* connected at once or not: EPOLLOUT tells */
      if (!exg_poller_add_new (nd->poller, fd, EXG_POLLER_STREAM_EVENTS, attempt_event_cb,
                               attempt))
        {
          int errsv = errno;

          close (fd);
          g_free (attempt);
          name_fail (nd, g_error_new (G_IO_ERROR, g_io_error_from_errno (errsv),
                                      "epoll_ctl: %s", g_strerror (errsv)));
          continue;
        }
      g_ptr_array_add (nd->attempts, attempt);

      if (nd->next < nd->addresses->len)
        {
          nd->stagger = g_timeout_source_new (HAPPY_EYEBALLS_DELAY_MS);
          g_source_set_callback (nd->stagger, name_stagger_cb, nd, NULL);
          g_source_set_static_name (nd->stagger, "[exitgate] happy eyeballs");
          g_source_attach (nd->stagger, g_main_context_get_thread_default ());
        }
      return;
    }

  if (nd->attempts->len == 0)
    name_finish (nd, -1, g_steal_pointer (&nd->error));
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

/* Fills nd->addresses with the allowed ones, in the order to try them;
 * FALSE with the first refusal if none is allowed. */
static gboolean
name_judge_addresses (NameDial  *nd,
                      GList     *addresses,
                      GError   **error)
{
  ExgDestPolicy *policy = nd->self->policy;
  g_autoptr(GPtrArray) ordered = interleave_families (addresses);
  g_autoptr(GError) refusal = NULL;

  nd->addresses = g_array_sized_new (FALSE, FALSE,
                                     sizeof (struct sockaddr_storage),
                                     ordered->len);
  for (guint i = 0; i < ordered->len; i++)
    {
      GInetAddress *inet = ordered->pdata[i];
      struct sockaddr_storage sa;
      GError *local_error = NULL;

      if (policy != NULL
          && !exg_dest_policy_judge (policy, g_inet_address_get_family (inet),
                                     g_inet_address_to_bytes (inet),
                                     nd->port, &local_error))
        {
          if (refusal == NULL)
            refusal = local_error;
          else
            g_error_free (local_error);
          continue;
        }
      sockaddr_from_inet (inet, nd->port, &sa);
      g_array_append_val (nd->addresses, sa);
    }

  if (nd->addresses->len == 0)
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
  NameDial *nd = user_data;
  GError *error = NULL;
  GList *addresses;

  addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result,
                                                &error);
  if (g_cancellable_is_cancelled (nd->resolving))
    {
      /* nobody waits for the answer */
      g_resolver_free_addresses (addresses);
      g_clear_error (&error);
      name_free (nd);
      return;
    }
  g_clear_object (&nd->resolving);
  if (addresses == NULL
      || !name_judge_addresses (nd, addresses, &error))
    {
      g_resolver_free_addresses (addresses);
      name_finish (nd, -1, error);
      return;
    }
  g_resolver_free_addresses (addresses);
  name_try_next (nd);
}

static void
name_cancel (ExgBackendDial *dial)
{
  NameDial *nd = (NameDial *) dial;

  if (nd->resolving != NULL)
    {
      /* freed when the lookup answers, at once (GThreadedResolver) */
      g_cancellable_cancel (nd->resolving);
      return;
    }
  name_free (nd);
}

static ExgBackendDial *
dial_name (ExgBackendDirect   *self,
           const char         *host,
           guint16             port,
           ExgBackendDialFunc  func,
           gpointer            user_data)
{
  g_autoptr(GResolver) resolver = g_resolver_get_default ();
  NameDial *nd;

  nd = g_new0 (NameDial, 1);
  exg_backend_dial_init (&nd->dial, func, user_data, name_cancel);
  nd->self = g_object_ref (self);
  nd->poller = exg_poller_get_default ();
  nd->port = port;
  nd->attempts = g_ptr_array_new_with_free_func ((GDestroyNotify) attempt_free);
  nd->resolving = g_cancellable_new ();
  /* both families in one lookup: GThreadedResolver makes it one
   * getaddrinfo (AF_UNSPEC), and cancelling it returns at once */
  g_resolver_lookup_by_name_async (resolver, host, nd->resolving,
                                   name_resolved_cb, nd);
  return &nd->dial;
}

static ExgBackendDial *
direct_dial (ExgBackend         *backend,
             const char         *host,
             guint16             port,
             const char         *isolation,
             ExgBackendDialFunc  func,
             gpointer            user_data)
{
  ExgBackendDirect *self = EXG_BACKEND_DIRECT (backend);
  struct sockaddr_storage sa;
  socklen_t sa_len;

  if (exg_sockaddr_from_literal (host, port, &sa, &sa_len))
    return dial_literal (self, &sa, sa_len, func, user_data);
  return dial_name (self, host, port, func, user_data);
}

/* connect_async, for GIO callers: a dial, its socket wrapped */
typedef struct {
  GTask          *task;            /* owned */
  ExgBackendDial *dial;            /* until it ends */
  GSource        *cancel_source;   /* owned, nullable */
} AsyncConnect;

static void
async_connect_free (AsyncConnect *ac)
{
  if (ac->cancel_source != NULL)
    {
      g_source_destroy (ac->cancel_source);
      g_source_unref (ac->cancel_source);
    }
  g_object_unref (ac->task);
  g_free (ac);
}

static void
async_dial_cb (gpointer           user_data,
               int                fd,
               GSocketConnection *connection,
               const char        *circuit,
               GError            *error)
{
  AsyncConnect *ac = user_data;
  g_autoptr(GSocket) socket = NULL;

  if (fd >= 0)
    {
      /* GIO closes it when it likes: no longer held for a take-over */
      exg_poller_park (exg_poller_get_default (), fd);
      socket = g_socket_new_from_fd (fd, &error);
      if (socket == NULL)
        close (fd);
    }
  if (socket == NULL)
    g_task_return_error (ac->task, error);
  else
    {
      g_socket_set_blocking (socket, TRUE);
      g_task_return_pointer (ac->task,
                             g_socket_connection_factory_create_connection (socket),
                             g_object_unref);
    }
  async_connect_free (ac);
}

static gboolean
async_cancelled_cb (GCancellable *cancellable,
                    gpointer      user_data)
{
  AsyncConnect *ac = user_data;

  exg_backend_dial_cancel (ac->dial);
  g_task_return_error_if_cancelled (ac->task);
  async_connect_free (ac);
  return G_SOURCE_REMOVE;
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
  g_autoptr(GTask) task = g_task_new (backend, cancellable, callback, user_data);
  AsyncConnect *ac;

  g_task_set_source_tag (task, direct_connect_async);
  if (g_task_return_error_if_cancelled (task))
    return;

  ac = g_new0 (AsyncConnect, 1);
  ac->task = g_steal_pointer (&task);
  ac->dial = direct_dial (backend, host, port, NULL, async_dial_cb, ac);
  if (cancellable != NULL)
    {
      /* no descriptor: attaching and destroying it wakes nothing */
      ac->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (ac->cancel_source,
                             (GSourceFunc) (void (*) (void)) async_cancelled_cb,
                             ac, NULL);
      g_source_set_static_name (ac->cancel_source, "[exitgate] direct connect");
      g_source_attach (ac->cancel_source, g_task_get_context (ac->task));
    }
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
  backend_class->dial = direct_dial;
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
