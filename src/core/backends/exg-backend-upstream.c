/* exg-backend-upstream.c: traffic leaves from an upstream proxy.
 *
 * The destination always travels as the client gave it: a hostname goes
 * to the upstream as a hostname (SOCKS5 ATYP 3, the SOCKS4a name, the
 * CONNECT authority) and is never resolved here.
 *
 * The SOCKS5, SOCKS4a and HTTP CONNECT clients are the codecs of src/proto
 * run by one driver (exg-upstream-driver.c), rather than GIO's GProxy
 * ones: GLib 2.74's SOCKS5 client folds replies 06, 07 and 08 into other
 * errors (the client would hear 04 or 01 instead of what the upstream
 * said) and misreads a reply whose address arrives in pieces; its SOCKS4a
 * client leaks its reply buffer on every connection.  HTTP CONNECT is not
 * in GIO at all.  The driver reads exactly the answer and not one byte
 * more, so the connection handed to the relay has nothing buffered above
 * its socket.
 *
 * RESOLVE and RESOLVE_PTR use Tor's F0/F1 extension (socks-extensions.txt
 * §2); an upstream that does not speak it makes the request fail with
 * EXG_ERROR_UNSUPPORTED (→ 07): a name is never looked up on this machine
 * on behalf of a non-direct exit.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-backend-upstream.h"

#include "exg-error.h"
#include "exg-socket-util.h"
#include "exg-upstream-driver.h"

#include <string.h>
#include <sys/socket.h>

/* Health checks give up after this long. */
#define CHECK_TIMEOUT_SECONDS 5

/* A handshake (TCP connect included) that takes longer than this is a
 * dead upstream: fail with a timeout (06) so that the registry can try
 * another router, rather than wait for the kernel's connect timeout. */
#define HANDSHAKE_TIMEOUT_SECONDS 30

struct _ExgBackendUpstream
{
  ExgBackend            parent_instance;

  ExgRouterKind         kind;
  char                 *host;       /* owned: the upstream proxy's address */
  guint16               port;
  char                 *username;   /* owned, nullable */
  char                 *password;   /* owned, nullable */
  GSocketClient        *client;     /* owned: enable-proxy FALSE; connects
                                     * to an upstream given by name */

  /* the upstream's address when given as an IP literal (sa_len 0
   * otherwise) */
  struct sockaddr_storage sa;
  socklen_t             sa_len;

  guint                 handshake_timeout;  /* seconds */
};

G_DEFINE_FINAL_TYPE (ExgBackendUpstream, exg_backend_upstream, EXG_TYPE_BACKEND)

/* The upstream, as the driver takes it (borrowed) */
static ExgUpstreamProxy
proxy_of (ExgBackendUpstream *self)
{
  return (ExgUpstreamProxy) {
    .kind = self->kind,
    .host = self->host,
    .port = self->port,
    .sa = &self->sa,
    .sa_len = self->sa_len,
    .client = self->client,
    .username = self->username,
    .password = self->password,
  };
}

static void
run (ExgBackendUpstream *self,
     ExgUpstreamOp       op,
     const ExgSocksAddr *target,
     guint               timeout_seconds,
     GTask              *task)
{
  ExgUpstreamProxy proxy = proxy_of (self);

  exg_upstream_handshake_start (&proxy, op, target,
                                timeout_seconds, task);
}

/* ------------------------------------------------------------------------
 * CONNECT
 * ------------------------------------------------------------------------ */

/* The target of a CONNECT, as exg_upstream_target_from_host () makes
 * it, if this upstream can carry it. */
static gboolean
connect_target (ExgBackendUpstream  *self,
                const char          *host,
                guint16              port,
                ExgSocksAddr        *target,
                GError             **error)
{
  if (!exg_upstream_target_from_host (target, host, port, error))
    return FALSE;
  if (target->type == EXG_SOCKS_ATYP_IPV6 && self->kind == EXG_ROUTER_KIND_SOCKS4A)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                           "SOCKS4a cannot carry an IPv6 address");
      return FALSE;
    }
  return TRUE;
}

/* SOCKS5 / SOCKS4a / HTTP CONNECT.  @isolation is not sent: the username
 * an upstream gets is its configuration's. */
static void
upstream_connect_async (ExgBackend          *backend,
                        const char          *host,
                        guint16              port,
                        const char          *isolation,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  ExgBackendUpstream *self = EXG_BACKEND_UPSTREAM (backend);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  ExgSocksAddr target;
  GError *error = NULL;

  g_task_set_source_tag (task, upstream_connect_async);

  if (!connect_target (self, host, port, &target, &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  run (self, EXG_UPSTREAM_CONNECT, &target, self->handshake_timeout, task);
}

/* The same CONNECT for the server's sessions: the tunnel's bare socket,
 * without a GSocket, a task or an idle per connection. */
static ExgBackendDial *
upstream_dial (ExgBackend         *backend,
               const char         *host,
               guint16             port,
               const char         *isolation,
               ExgBackendDialFunc  func,
               gpointer            user_data)
{
  ExgBackendUpstream *self = EXG_BACKEND_UPSTREAM (backend);
  ExgUpstreamProxy proxy = proxy_of (self);
  ExgSocksAddr target;
  GError *error = NULL;

  if (!connect_target (self, host, port, &target, &error))
    return exg_backend_dial_fail_later (error, func, user_data);
  return exg_upstream_dial_start (&proxy, &target, self->handshake_timeout,
                                  func, user_data);
}

/* ------------------------------------------------------------------------
 * RESOLVE / RESOLVE_PTR
 * ------------------------------------------------------------------------ */

static void
upstream_resolve_async (ExgBackend          *backend,
                        const char          *host,
                        const char          *isolation,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  ExgBackendUpstream *self = EXG_BACKEND_UPSTREAM (backend);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  ExgSocksAddr target = { 0 };
  gsize len = strlen (host);

  g_task_set_source_tag (task, upstream_resolve_async);

  if (self->kind == EXG_ROUTER_KIND_HTTP_CONNECT)
    {
      g_task_return_new_error (task, EXG_ERROR, EXG_ERROR_UNSUPPORTED,
                               "An HTTP proxy cannot resolve names");
      g_object_unref (task);
      return;
    }
  if (len == 0 || len >= sizeof target.host)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "Invalid name to resolve");
      g_object_unref (task);
      return;
    }

  target.type = EXG_SOCKS_ATYP_DOMAIN;
  memcpy (target.host, host, len + 1);
  target.port = 0;
  run (self, EXG_UPSTREAM_RESOLVE, &target, self->handshake_timeout, task);
}

static void
upstream_resolve_ptr_async (ExgBackend          *backend,
                            GInetAddress        *address,
                            const char          *isolation,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  ExgBackendUpstream *self = EXG_BACKEND_UPSTREAM (backend);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  ExgSocksAddr target = { 0 };

  g_task_set_source_tag (task, upstream_resolve_ptr_async);

  /* socks-extensions.txt §2: RESOLVE_PTR is SOCKS5 only */
  if (self->kind != EXG_ROUTER_KIND_SOCKS5)
    {
      g_task_return_new_error (task, EXG_ERROR, EXG_ERROR_UNSUPPORTED,
                               "Only a SOCKS5 upstream can resolve addresses");
      g_object_unref (task);
      return;
    }

  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4)
    {
      target.type = EXG_SOCKS_ATYP_IPV4;
      memcpy (target.ip, g_inet_address_to_bytes (address), 4);
    }
  else
    {
      target.type = EXG_SOCKS_ATYP_IPV6;
      memcpy (target.ip, g_inet_address_to_bytes (address), 16);
    }
  target.port = 0;
  run (self, EXG_UPSTREAM_RESOLVE_PTR, &target, self->handshake_timeout,
       task);
}

/* ------------------------------------------------------------------------
 * Health check: connect, and for SOCKS5 the greeting (a proxy that
 * accepts TCP but answers no SOCKS is down too)
 * ------------------------------------------------------------------------ */

static void
upstream_check_async (ExgBackend          *backend,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  ExgBackendUpstream *self = EXG_BACKEND_UPSTREAM (backend);
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, upstream_check_async);
  run (self, EXG_UPSTREAM_CHECK, NULL, CHECK_TIMEOUT_SECONDS, task);
}

/* ------------------------------------------------------------------------ */

static void
exg_backend_upstream_finalize (GObject *object)
{
  ExgBackendUpstream *self = EXG_BACKEND_UPSTREAM (object);

  g_free (self->host);
  g_free (self->username);
  g_free (self->password);
  g_clear_object (&self->client);
  /* no handshake is left: each holds its task, which holds us, or is
   * a dial, which borrows nothing of ours once started */

  G_OBJECT_CLASS (exg_backend_upstream_parent_class)->finalize (object);
}

static void
exg_backend_upstream_class_init (ExgBackendUpstreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  ExgBackendClass *backend_class = EXG_BACKEND_CLASS (klass);

  object_class->finalize = exg_backend_upstream_finalize;

  backend_class->connect_async = upstream_connect_async;
  backend_class->dial = upstream_dial;
  backend_class->resolve_async = upstream_resolve_async;
  backend_class->resolve_ptr_async = upstream_resolve_ptr_async;
  backend_class->check_async = upstream_check_async;
}

static void
exg_backend_upstream_init (ExgBackendUpstream *self)
{
  self->client = g_socket_client_new ();
  /* Never loop through the desktop's proxy settings, which may be us. */
  g_socket_client_set_enable_proxy (self->client, FALSE);
  self->handshake_timeout = HANDSHAKE_TIMEOUT_SECONDS;
}

/**
 * exg_backend_upstream_new:
 * @kind: %EXG_ROUTER_KIND_SOCKS5, %EXG_ROUTER_KIND_SOCKS4A or
 *   %EXG_ROUTER_KIND_HTTP_CONNECT
 * @host: the upstream proxy's address (an IP literal, ideally: a name here
 *   is looked up locally, though only the proxy's own, never a target)
 * @port: the upstream proxy's port
 * @username: (nullable): credentials for the upstream
 * @password: (nullable): credentials for the upstream
 *
 * Plain SOCKS4 is not offered: it would make us resolve names locally.
 *
 * Returns: (transfer full): a new backend
 */
ExgBackend *
exg_backend_upstream_new (ExgRouterKind  kind,
                          const char    *host,
                          guint16        port,
                          const char    *username,
                          const char    *password)
{
  ExgBackendUpstream *self;

  g_return_val_if_fail (kind == EXG_ROUTER_KIND_SOCKS5 ||
                        kind == EXG_ROUTER_KIND_SOCKS4A ||
                        kind == EXG_ROUTER_KIND_HTTP_CONNECT, NULL);
  g_return_val_if_fail (host != NULL, NULL);

  self = g_object_new (EXG_TYPE_BACKEND_UPSTREAM, NULL);
  self->kind = kind;
  self->host = g_strdup (host);
  self->port = port;
  if (!exg_sockaddr_from_literal (host, port, &self->sa, &self->sa_len))
    self->sa_len = 0;
  /* GIO's SOCKS5 client offers 02 when either is set and needs both */
  if (username != NULL || password != NULL)
    {
      self->username = g_strdup (username ? username : "");
      self->password = g_strdup (password ? password : "");
    }

  return EXG_BACKEND (self);
}

/**
 * exg_backend_upstream_set_handshake_timeout:
 * @self: an upstream backend
 * @seconds: the bound on each handshake, TCP connect included; not 0
 *
 * Handshakes started from now on give up after @seconds with
 * %G_IO_ERROR_TIMED_OUT.  A bound other than the usual 30 s costs each
 * handshake a timeout source of its own: for tests.
 */
void
exg_backend_upstream_set_handshake_timeout (ExgBackendUpstream *self,
                                            guint               seconds)
{
  g_return_if_fail (EXG_IS_BACKEND_UPSTREAM (self));
  g_return_if_fail (seconds > 0);

  self->handshake_timeout = seconds;
}
