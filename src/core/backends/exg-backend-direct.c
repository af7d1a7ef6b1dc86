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
#include <sys/epoll.h>
#include <sys/socket.h>

struct _ExgBackendDirect
{
  ExgBackend     parent_instance;

  GSocketClient *client;   /* owned; enable-proxy FALSE */
  GInetAddress  *source;   /* owned, nullable */
  ExgDestPolicy *policy;   /* owned ref, nullable */
};

G_DEFINE_FINAL_TYPE (ExgBackendDirect, exg_backend_direct, EXG_TYPE_BACKEND)

/* The addresses of a name, less those the destination policy refuses.
 *
 * The name is resolved here, and only here is it known which addresses it
 * stands for: "localhost", or any name an attacker points at 127.0.0.1,
 * must not reach what a literal 127.0.0.1 may not.  The enumerator skips
 * refused addresses before GSocketClient sees them, so nothing is ever
 * connected to them.  When every address is refused, the first call
 * fails with the refusal (EXG_ERROR_TARGET_REFUSED, reply 02): that is
 * the call whose error GSocketClient reports. */
#define EXG_TYPE_POLICY_ENUMERATOR (exg_policy_enumerator_get_type ())
G_DECLARE_FINAL_TYPE (ExgPolicyEnumerator, exg_policy_enumerator, EXG,
                      POLICY_ENUMERATOR, GSocketAddressEnumerator)

struct _ExgPolicyEnumerator
{
  GSocketAddressEnumerator  parent_instance;

  GSocketAddressEnumerator *inner;     /* owned */
  ExgDestPolicy            *policy;    /* owned ref */
  gboolean                  yielded;   /* an allowed address was returned */
  GError                   *refusal;   /* owned, nullable: the first one */
};

G_DEFINE_FINAL_TYPE (ExgPolicyEnumerator, exg_policy_enumerator,
                     G_TYPE_SOCKET_ADDRESS_ENUMERATOR)

/* (transfer full) the address when allowed, else NULL (and it is kept
 * as the refusal to report if no address is allowed) */
static GSocketAddress *
policy_filter (ExgPolicyEnumerator *self,
               GSocketAddress      *address)
{
  g_autoptr(GSocketAddress) owned = address;
  g_autoptr(GError) error = NULL;
  GInetSocketAddress *isa;
  GInetAddress *inet;

  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return g_steal_pointer (&owned);
  isa = G_INET_SOCKET_ADDRESS (address);
  inet = g_inet_socket_address_get_address (isa);
  if (exg_dest_policy_judge (self->policy, g_inet_address_get_family (inet),
                             g_inet_address_to_bytes (inet),
                             g_inet_socket_address_get_port (isa), &error))
    {
      self->yielded = TRUE;
      return g_steal_pointer (&owned);
    }
  if (self->refusal == NULL)
    self->refusal = g_steal_pointer (&error);
  return NULL;
}

/* At the end: the refusal, if nothing was allowed. */
static GSocketAddress *
policy_end (ExgPolicyEnumerator  *self,
            GError              **error)
{
  if (!self->yielded && self->refusal != NULL)
    g_propagate_error (error, g_steal_pointer (&self->refusal));
  return NULL;
}

static GSocketAddress *
policy_enumerator_next (GSocketAddressEnumerator  *enumerator,
                        GCancellable              *cancellable,
                        GError                   **error)
{
  ExgPolicyEnumerator *self = EXG_POLICY_ENUMERATOR (enumerator);

  /* bounded: a name resolves to a finite list */
  for (;;)
    {
      GError *local_error = NULL;
      GSocketAddress *address;

      address = g_socket_address_enumerator_next (self->inner, cancellable,
                                                  &local_error);
      if (address == NULL)
        {
          if (local_error != NULL)
            {
              g_propagate_error (error, local_error);
              return NULL;
            }
          return policy_end (self, error);
        }
      address = policy_filter (self, address);
      if (address != NULL)
        return address;
    }
}

static void
policy_next_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ExgPolicyEnumerator *self = g_task_get_source_object (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  GError *error = NULL;
  GSocketAddress *address;

  address = g_socket_address_enumerator_next_finish (self->inner, result,
                                                     &error);
  if (address == NULL)
    {
      if (error == NULL)
        policy_end (self, &error);
      if (error != NULL)
        g_task_return_error (task, error);
      else
        g_task_return_pointer (task, NULL, NULL);
      return;
    }

  address = policy_filter (self, address);
  if (address != NULL)
    {
      g_task_return_pointer (task, address, g_object_unref);
      return;
    }
  /* refused: the next one */
  g_socket_address_enumerator_next_async (self->inner, cancellable,
                                          policy_next_cb,
                                          g_steal_pointer (&task));
}

static void
policy_enumerator_next_async (GSocketAddressEnumerator *enumerator,
                              GCancellable             *cancellable,
                              GAsyncReadyCallback       callback,
                              gpointer                  user_data)
{
  ExgPolicyEnumerator *self = EXG_POLICY_ENUMERATOR (enumerator);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, policy_enumerator_next_async);
  g_socket_address_enumerator_next_async (self->inner, cancellable,
                                          policy_next_cb, task);
}

static GSocketAddress *
policy_enumerator_next_finish (GSocketAddressEnumerator  *enumerator,
                               GAsyncResult              *result,
                               GError                   **error)
{
  g_return_val_if_fail (g_task_is_valid (result, enumerator), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
exg_policy_enumerator_finalize (GObject *object)
{
  ExgPolicyEnumerator *self = EXG_POLICY_ENUMERATOR (object);

  g_clear_object (&self->inner);
  g_clear_pointer (&self->policy, exg_dest_policy_unref);
  g_clear_error (&self->refusal);

  G_OBJECT_CLASS (exg_policy_enumerator_parent_class)->finalize (object);
}

static void
exg_policy_enumerator_class_init (ExgPolicyEnumeratorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GSocketAddressEnumeratorClass *enumerator_class =
    G_SOCKET_ADDRESS_ENUMERATOR_CLASS (klass);

  object_class->finalize = exg_policy_enumerator_finalize;
  enumerator_class->next = policy_enumerator_next;
  enumerator_class->next_async = policy_enumerator_next_async;
  enumerator_class->next_finish = policy_enumerator_next_finish;
}

static void
exg_policy_enumerator_init (ExgPolicyEnumerator *self)
{
}

#define EXG_TYPE_POLICY_CONNECTABLE (exg_policy_connectable_get_type ())
G_DECLARE_FINAL_TYPE (ExgPolicyConnectable, exg_policy_connectable, EXG,
                      POLICY_CONNECTABLE, GObject)

struct _ExgPolicyConnectable
{
  GObject             parent_instance;

  GSocketConnectable *inner;    /* owned */
  ExgDestPolicy      *policy;   /* owned ref */
};

static void exg_policy_connectable_iface_init (GSocketConnectableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (ExgPolicyConnectable, exg_policy_connectable,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_SOCKET_CONNECTABLE,
                                                      exg_policy_connectable_iface_init))

static GSocketAddressEnumerator *
policy_connectable_enumerate (GSocketConnectable *connectable)
{
  ExgPolicyConnectable *self = EXG_POLICY_CONNECTABLE (connectable);
  ExgPolicyEnumerator *enumerator;

  enumerator = g_object_new (EXG_TYPE_POLICY_ENUMERATOR, NULL);
  enumerator->inner = g_socket_connectable_enumerate (self->inner);
  enumerator->policy = exg_dest_policy_ref (self->policy);
  return G_SOCKET_ADDRESS_ENUMERATOR (enumerator);
}

static char *
policy_connectable_to_string (GSocketConnectable *connectable)
{
  ExgPolicyConnectable *self = EXG_POLICY_CONNECTABLE (connectable);

  return g_socket_connectable_to_string (self->inner);
}

static void
exg_policy_connectable_iface_init (GSocketConnectableIface *iface)
{
  iface->enumerate = policy_connectable_enumerate;
  /* the direct exit never goes through a proxy: no proxy_enumerate */
  iface->to_string = policy_connectable_to_string;
}

static void
exg_policy_connectable_finalize (GObject *object)
{
  ExgPolicyConnectable *self = EXG_POLICY_CONNECTABLE (object);

  g_clear_object (&self->inner);
  g_clear_pointer (&self->policy, exg_dest_policy_unref);

  G_OBJECT_CLASS (exg_policy_connectable_parent_class)->finalize (object);
}

static void
exg_policy_connectable_class_init (ExgPolicyConnectableClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = exg_policy_connectable_finalize;
}

static void
exg_policy_connectable_init (ExgPolicyConnectable *self)
{
}

/* (transfer full) */
static GSocketConnectable *
policy_connectable_new (GSocketConnectable *inner,
                        ExgDestPolicy      *policy)
{
  ExgPolicyConnectable *self = g_object_new (EXG_TYPE_POLICY_CONNECTABLE, NULL);

  self->inner = g_object_ref (inner);
  self->policy = exg_dest_policy_ref (policy);
  return G_SOCKET_CONNECTABLE (self);
}

static void
connect_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  GSocketConnection *connection;

  connection = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result,
                                               &error);
  if (connection == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_pointer (task, connection, g_object_unref);
}

/* The fast path for IP literals, the common case of a SOCKS request:
 * one socket, one non-blocking connect, watched through the context's
 * epoll poller.  GSocketClient costs an enumeration, several tasks and
 * idles and a resolver check per connection, which shows at tens of
 * thousands of connections a second; it stays in charge of hostnames
 * (resolution, happy eyeballs).  A GSource on the socket would cost two
 * writes of the main context's wakeup eventfd (attach, destroy); the
 * poller costs one epoll_ctl, and the registration is left parked for the
 * relay, which takes it over with one EPOLL_CTL_MOD.
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
  g_autoptr(GSocketConnectable) connectable = NULL;
  struct sockaddr_storage sa;
  socklen_t sa_len;

  g_task_set_source_tag (task, direct_connect_async);

  if (exg_sockaddr_from_literal (host, port, &sa, &sa_len))
    {
      connect_literal (self, task, &sa, sa_len);
      return;
    }

  /* GNetworkAddress takes the host as is (no "host:port" parsing, so IPv6
   * literals are fine) and resolves with g_resolver_get_default () when
   * enumerated; GSocketClient then races the addresses (happy eyeballs).
   * self->client has enable-proxy FALSE: never loop through the desktop's
   * proxy, which may be us. */
  connectable = g_network_address_new (host, port);
  if (self->policy != NULL)
    {
      GSocketConnectable *filtered = policy_connectable_new (connectable,
                                                             self->policy);

      g_object_unref (connectable);
      connectable = filtered;
    }
  g_socket_client_connect_async (self->client, connectable, cancellable,
                                 connect_cb, g_steal_pointer (&task));
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

  g_clear_object (&self->client);
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
  self->client = g_socket_client_new ();
  g_socket_client_set_enable_proxy (self->client, FALSE);
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
  if (source != NULL)
    {
      g_autoptr(GSocketAddress) local = g_inet_socket_address_new (source, 0);

      self->source = g_object_ref (source);
      /* port 0: the kernel picks one per connection */
      g_socket_client_set_local_address (self->client, local);
    }
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
