/* exg-backend-tor.c: traffic leaves from one tor exit relay.
 *
 * On the wire a tor exit is a SOCKS5 upstream: tor's SocksPort.  So the
 * upstream driver runs the handshake, CONNECT, RESOLVE (F0) or
 * RESOLVE_PTR (F1) as the client asked, with the target as the client
 * gave it: a name goes to tor as a name and is resolved at the exit.
 *
 * What makes it this relay's stream is the controller.  tor holds every
 * new stream unattached (__LeaveStreamsUnattached), and reports it with
 * the local address of our socket as SOURCE_ADDR.  The driver tells us
 * that address as soon as connect(2) has started, before the request can
 * have reached tor, and ExgTorClient, told which exit the address stands
 * for, attaches the stream to a circuit ending there.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-backend-tor.h"

#include "exg-error.h"
#include "exg-upstream-driver.h"

#include <string.h>
#include <sys/socket.h>

/* Circuit building is included: a cold circuit on the public network
 * takes seconds, and tor gives up on its own after 120 s. */
#define HANDSHAKE_TIMEOUT_SECONDS 60

struct _ExgBackendTor
{
  ExgBackend            parent_instance;

  GWeakRef              tor;           /* ExgTorStreams */
  char                 *fingerprint;   /* owned, 40 hex digits */
  char                 *exit_policy;   /* owned, nullable */
};

G_DEFINE_FINAL_TYPE (ExgBackendTor, exg_backend_tor, EXG_TYPE_BACKEND)

typedef struct {
  GTask         *outer;      /* owned: the caller's */
  ExgTorStreams *tor;        /* owned */
  char          *local;      /* owned, nullable: our SOURCE_ADDR */
  ExgUpstreamOp  op;
} Stream;

static void
stream_free (Stream *stream)
{
  if (stream->local != NULL)
    exg_tor_streams_forget_stream (stream->tor, stream->local);
  g_clear_object (&stream->outer);
  g_clear_object (&stream->tor);
  g_free (stream->local);
  g_free (stream);
}

static void
stream_done_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Stream *stream = user_data;
  GError *error = NULL;
  gpointer value;

  value = g_task_propagate_pointer (G_TASK (result), &error);
  if (value == NULL)
    g_task_return_error (stream->outer, error);
  else if (stream->op == EXG_UPSTREAM_CONNECT)
    {
      g_autofree char *circuit = NULL;

      /* tor answered, so the stream is attached: its circuit is known */
      if (stream->local != NULL)
        circuit = exg_tor_streams_dup_stream_circuit (stream->tor, stream->local);
      exg_backend_set_connection_circuit (value, circuit);
      g_task_return_pointer (stream->outer, value, g_object_unref);
    }
  else if (stream->op == EXG_UPSTREAM_RESOLVE)
    g_task_return_pointer (stream->outer, value,
                           (GDestroyNotify) g_resolver_free_addresses);
  else
    g_task_return_pointer (stream->outer, value, g_free);
  stream_free (stream);
}

/* tor's SocksPort, as the driver's upstream (@sa holds its address);
 * FALSE when tor is not there.  @proxy's local is left to the caller. */
static gboolean
socks_port (ExgTorStreams            *tor,
            struct sockaddr_storage  *sa,
            ExgUpstreamProxy         *proxy,
            GError                  **error)
{
  GSocketAddress *socks = tor != NULL ? exg_tor_streams_get_socks_address (tor) : NULL;

  if (socks == NULL ||
      !g_socket_address_to_native (socks, sa, sizeof *sa, NULL))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                           "tor is not connected");
      return FALSE;
    }
  *proxy = (ExgUpstreamProxy) {
    .kind = EXG_ROUTER_KIND_SOCKS5,
    .host = "tor",
    .port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (socks)),
    .sa = sa,
    .sa_len = g_socket_address_get_native_size (socks),
  };
  return TRUE;
}

/* Runs @op through tor's SocksPort, the stream pinned to this exit. */
static void
run (ExgBackendTor      *self,
     ExgUpstreamOp       op,
     const ExgSocksAddr *target,
     const char         *isolation,
     GTask              *outer)
{
  g_autoptr(ExgTorStreams) tor = g_weak_ref_get (&self->tor);
  struct sockaddr_storage sa;
  ExgUpstreamProxy proxy;
  GError *error = NULL;
  Stream *stream;
  GTask *inner;

  if (!socks_port (tor, &sa, &proxy, &error))
    {
      g_task_return_error (outer, error);
      g_object_unref (outer);
      return;
    }

  stream = g_new0 (Stream, 1);
  stream->outer = outer;
  stream->tor = g_object_ref (tor);
  stream->op = op;
  proxy.local = &stream->local;

  inner = g_task_new (self, g_task_get_cancellable (outer), stream_done_cb, stream);
  g_task_set_source_tag (inner, run);
  exg_upstream_handshake_start (&proxy, op, target,
                                HANDSHAKE_TIMEOUT_SECONDS, inner);

  /* The request goes out only after tor's answer to our greeting, which
   * the poller reads on a later iteration: tor cannot have reported the
   * stream yet. */
  if (stream->local != NULL)
    exg_tor_streams_expect_stream (tor, stream->local, self->fingerprint,
                                   isolation != NULL ? isolation : "");
}

/* The target of a CONNECT through this exit, if its policy allows the
 * port.  An exit chosen by E0 is fixed: a port it rejects is refused
 * (02), never sent elsewhere.  Selections by username or default never
 * choose it (exg_selection_matches). */
static gboolean
connect_target (ExgBackendTor  *self,
                const char     *host,
                guint16         port,
                ExgSocksAddr   *target,
                GError        **error)
{
  if (!exg_exit_policy_allows_port (self->exit_policy, port))
    {
      g_set_error (error, EXG_ERROR, EXG_ERROR_NOT_ALLOWED,
                   "The exit's policy rejects port %u", port);
      return FALSE;
    }
  return exg_upstream_target_from_host (target, host, port, error);
}

static void
tor_connect_async (ExgBackend          *backend,
                   const char          *host,
                   guint16              port,
                   const char          *isolation,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             user_data)
{
  ExgBackendTor *self = EXG_BACKEND_TOR (backend);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;
  ExgSocksAddr target;

  g_task_set_source_tag (task, tor_connect_async);
  if (!connect_target (self, host, port, &target, &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  run (self, EXG_UPSTREAM_CONNECT, &target, isolation, task);
}

/* The same CONNECT for the server's sessions, as a dial: tor's socket
 * bare, the circuit told to the dial's function. */
typedef struct {
  ExgBackendDial  dial;
  ExgBackendDial *inner;     /* the driver's, until it ends */
  ExgTorStreams  *tor;       /* owned */
  char           *local;     /* owned, nullable: our SOURCE_ADDR */
} TorDial;

static void
tor_dial_free (TorDial *td)
{
  if (td->local != NULL)
    exg_tor_streams_forget_stream (td->tor, td->local);
  g_object_unref (td->tor);
  g_free (td->local);
  g_free (td);
}

static void
tor_dial_cb (gpointer           user_data,
             int                fd,
             GSocketConnection *connection,
             const char        *circuit,
             GError            *error)
{
  TorDial *td = user_data;
  ExgBackendDial dial = td->dial;
  g_autofree char *stream_circuit = NULL;

  /* tor answered, so the stream is attached: its circuit is known */
  if (fd >= 0 && td->local != NULL)
    stream_circuit = exg_tor_streams_dup_stream_circuit (td->tor, td->local);
  tor_dial_free (td);
  dial.func (dial.user_data, fd, connection, stream_circuit, error);
}

static void
tor_dial_cancel (ExgBackendDial *dial)
{
  TorDial *td = (TorDial *) dial;

  exg_backend_dial_cancel (td->inner);
  tor_dial_free (td);
}

static ExgBackendDial *
tor_dial (ExgBackend         *backend,
          const char         *host,
          guint16             port,
          const char         *isolation,
          ExgBackendDialFunc  func,
          gpointer            user_data)
{
  ExgBackendTor *self = EXG_BACKEND_TOR (backend);
  g_autoptr(ExgTorStreams) tor = g_weak_ref_get (&self->tor);
  struct sockaddr_storage sa;
  ExgUpstreamProxy proxy;
  ExgSocksAddr target;
  GError *error = NULL;
  TorDial *td;

  if (!connect_target (self, host, port, &target, &error) ||
      !socks_port (tor, &sa, &proxy, &error))
    return exg_backend_dial_fail_later (error, func, user_data);

  td = g_new0 (TorDial, 1);
  exg_backend_dial_init (&td->dial, func, user_data, tor_dial_cancel);
  td->tor = g_steal_pointer (&tor);
  proxy.local = &td->local;
  td->inner = exg_upstream_dial_start (&proxy, &target, HANDSHAKE_TIMEOUT_SECONDS,
                                       tor_dial_cb, td);

  /* as in run (): tor cannot have reported the stream yet */
  if (td->local != NULL)
    exg_tor_streams_expect_stream (td->tor, td->local, self->fingerprint,
                                   isolation != NULL ? isolation : "");
  return &td->dial;
}

static void
tor_resolve_async (ExgBackend          *backend,
                   const char          *host,
                   const char          *isolation,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             user_data)
{
  ExgBackendTor *self = EXG_BACKEND_TOR (backend);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;
  ExgSocksAddr target;

  g_task_set_source_tag (task, tor_resolve_async);
  if (!exg_upstream_target_from_host (&target, host, 0, &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  run (self, EXG_UPSTREAM_RESOLVE, &target, isolation, task);
}

static void
tor_resolve_ptr_async (ExgBackend          *backend,
                       GInetAddress        *address,
                       const char          *isolation,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  ExgBackendTor *self = EXG_BACKEND_TOR (backend);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  ExgSocksAddr target = { 0 };

  g_task_set_source_tag (task, tor_resolve_ptr_async);
  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4)
    target.type = EXG_SOCKS_ATYP_IPV4;
  else
    target.type = EXG_SOCKS_ATYP_IPV6;
  memcpy (target.ip, g_inet_address_to_bytes (address),
          g_inet_address_get_native_size (address));
  run (self, EXG_UPSTREAM_RESOLVE_PTR, &target, isolation, task);
}

/* The relay's state is tor's (ExgTorClient sets it); a check builds
 * nothing, it says whether tor is there. */
static void
tor_check_async (ExgBackend          *backend,
                 GCancellable        *cancellable,
                 GAsyncReadyCallback  callback,
                 gpointer             user_data)
{
  ExgBackendTor *self = EXG_BACKEND_TOR (backend);
  g_autoptr(ExgTorStreams) tor = g_weak_ref_get (&self->tor);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, tor_check_async);
  if (tor != NULL && exg_tor_streams_get_ready (tor))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                             "tor is not connected");
  g_object_unref (task);
}

/* A circuit to this relay, built before any stream needs it */
static void
tor_prepare (ExgBackend *backend)
{
  ExgBackendTor *self = EXG_BACKEND_TOR (backend);
  g_autoptr(ExgTorStreams) tor = g_weak_ref_get (&self->tor);

  if (tor != NULL)
    exg_tor_streams_keep_circuit_ready (tor, self->fingerprint);
}

static void
exg_backend_tor_finalize (GObject *object)
{
  ExgBackendTor *self = EXG_BACKEND_TOR (object);

  g_weak_ref_clear (&self->tor);
  g_free (self->fingerprint);
  g_free (self->exit_policy);

  G_OBJECT_CLASS (exg_backend_tor_parent_class)->finalize (object);
}

static void
exg_backend_tor_class_init (ExgBackendTorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  ExgBackendClass *backend_class = EXG_BACKEND_CLASS (klass);

  object_class->finalize = exg_backend_tor_finalize;
  backend_class->connect_async = tor_connect_async;
  backend_class->dial = tor_dial;
  backend_class->resolve_async = tor_resolve_async;
  backend_class->resolve_ptr_async = tor_resolve_ptr_async;
  backend_class->check_async = tor_check_async;
  backend_class->prepare = tor_prepare;
}

static void
exg_backend_tor_init (ExgBackendTor *self)
{
  g_weak_ref_init (&self->tor, NULL);
}

/**
 * exg_backend_tor_new:
 * @tor: the tor that carries the streams (not kept alive: streams fail
 *   once it is gone)
 * @fingerprint: the exit relay's identity, 40 hex digits
 *
 * Returns: (transfer full): a backend whose streams leave from that relay
 */
ExgBackend *
exg_backend_tor_new (ExgTorStreams *tor,
                     const char    *fingerprint)
{
  ExgBackendTor *self;

  g_return_val_if_fail (EXG_IS_TOR_STREAMS (tor), NULL);
  g_return_val_if_fail (fingerprint != NULL, NULL);

  self = g_object_new (EXG_TYPE_BACKEND_TOR, NULL);
  g_weak_ref_set (&self->tor, tor);
  self->fingerprint = g_strdup (fingerprint);
  return EXG_BACKEND (self);
}

/**
 * exg_backend_tor_get_fingerprint:
 * @self: a tor backend
 *
 * Returns: the exit relay's fingerprint
 */
const char *
exg_backend_tor_get_fingerprint (ExgBackendTor *self)
{
  g_return_val_if_fail (EXG_IS_BACKEND_TOR (self), NULL);
  return self->fingerprint;
}

/**
 * exg_backend_tor_set_exit_policy:
 * @self: a tor backend
 * @summary: (nullable): the relay's exit-policy summary
 *
 * A connect to a port the policy rejects fails with
 * %EXG_ERROR_NOT_ALLOWED without reaching tor.
 */
void
exg_backend_tor_set_exit_policy (ExgBackendTor *self,
                                 const char    *summary)
{
  g_return_if_fail (EXG_IS_BACKEND_TOR (self));
  g_free (self->exit_policy);
  self->exit_policy = g_strdup (summary);
}
