/* exg-server.c: the SOCKS server: listeners, admission, live sessions.
 *
 * Admission happens before any byte is read: a client outside the
 * allow-list (loopback only by default) or over the connection limit is
 * closed at once.  Everything after that is the session's business; the
 * server keeps it alive until it says it is closed, as libsoup's server
 * does with its connections.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-server.h"

#include "exg-backend-direct.h"
#include "exg-error.h"
#include "exg-listener.h"
#include "exg-session.h"
#include "exg-socket-util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define DEFAULT_HANDSHAKE_TIMEOUT 30
/* the kernel caps it at net.core.somaxconn; GIO's default of 10 drops
 * connections at the rates a local proxy sees */
#define LISTEN_BACKLOG 4096

struct _ExgServer
{
  GObject             parent_instance;

  ExgRouterRegistry  *registry;          /* owned */
  /* what sessions need of us; owns refs to host.dialer, host.activity
   * and host.dest_policy, and host.username and host.password */
  ExgSessionHost      host;

  GPtrArray          *listeners;         /* (element-type ExgListener) owned */
  GPtrArray          *listen_addresses;  /* (element-type GSocketAddress) owned */
  GHashTable         *sessions;          /* guint64* id → ExgSession, owned */

  guint               max_connections;
  gboolean            limit_logged;      /* "over the limit" said once per episode */
  GPtrArray          *allow;             /* (element-type GInetAddressMask) owned */
  gulong              items_changed_id;  /* on registry */
};

G_DEFINE_FINAL_TYPE (ExgServer, exg_server, G_TYPE_OBJECT)

static void session_closed (ExgSession *session, gpointer user_data);

/* Names are resolved only by direct exits: they judge the addresses a
 * name stands for with our policy (our listeners, our lists). */
static void
set_policy_on_routers (ExgServer     *self,
                       guint          position,
                       guint          n_items,
                       ExgDestPolicy *policy)
{
  for (guint i = position; i < position + n_items; i++)
    {
      g_autoptr(ExgRouter) router =
        g_list_model_get_item (G_LIST_MODEL (self->registry), i);
      ExgBackend *backend = exg_router_get_backend (router);

      if (!EXG_IS_BACKEND_DIRECT (backend))
        continue;
      /* another server's, on a shared registry, is left alone when
       * clearing ours */
      if (policy == NULL &&
          exg_backend_direct_get_dest_policy (EXG_BACKEND_DIRECT (backend)) != self->host.dest_policy)
        continue;
      exg_backend_direct_set_dest_policy (EXG_BACKEND_DIRECT (backend), policy);
    }
}

static void
registry_items_changed_cb (GListModel *model,
                           guint       position,
                           guint       removed,
                           guint       added,
                           gpointer    user_data)
{
  ExgServer *self = user_data;

  set_policy_on_routers (self, position, added, self->host.dest_policy);
}

static void
exg_server_dispose (GObject *object)
{
  ExgServer *self = EXG_SERVER (object);

  exg_server_stop (self);
  if (self->registry != NULL)
    {
      g_clear_signal_handler (&self->items_changed_id, self->registry);
      set_policy_on_routers (self, 0,
                             g_list_model_get_n_items (G_LIST_MODEL (self->registry)),
                             NULL);
    }

  G_OBJECT_CLASS (exg_server_parent_class)->dispose (object);
}

static void
exg_server_finalize (GObject *object)
{
  ExgServer *self = EXG_SERVER (object);

  g_clear_pointer (&self->sessions, g_hash_table_unref);
  g_clear_pointer (&self->listen_addresses, g_ptr_array_unref);
  g_clear_pointer (&self->listeners, g_ptr_array_unref);
  g_clear_pointer (&self->allow, g_ptr_array_unref);
  g_clear_pointer (&self->host.dest_policy, exg_dest_policy_unref);
  g_clear_object (&self->registry);
  g_clear_object (&self->host.dialer);
  g_clear_object (&self->host.activity);
  g_free (self->host.username);
  g_free (self->host.password);

  G_OBJECT_CLASS (exg_server_parent_class)->finalize (object);
}

static void
exg_server_class_init (ExgServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = exg_server_dispose;
  object_class->finalize = exg_server_finalize;
}

static void
exg_server_init (ExgServer *self)
{
  self->host.handshake_timeout = DEFAULT_HANDSHAKE_TIMEOUT;
  self->listen_addresses = g_ptr_array_new_with_free_func (g_object_unref);
  self->listeners = g_ptr_array_new_with_free_func ((GDestroyNotify) exg_listener_free);
  self->sessions = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                          g_object_unref);
  self->allow = g_ptr_array_new_with_free_func (g_object_unref);
  self->host.dest_policy = exg_dest_policy_new ();
  exg_selection_init_any (&self->host.default_selection);
  self->host.closed = session_closed;
  self->host.user_data = self;
}

/**
 * exg_server_new:
 * @registry: (transfer none): where exits come from
 * @activity: (transfer none) (nullable): where connections are reported;
 *   a private one when NULL
 *
 * Returns: (transfer full): a server, not listening yet
 */
ExgServer *
exg_server_new (ExgRouterRegistry *registry,
                ExgActivity       *activity)
{
  ExgServer *self;

  g_return_val_if_fail (EXG_IS_ROUTER_REGISTRY (registry), NULL);
  g_return_val_if_fail (activity == NULL || EXG_IS_ACTIVITY (activity), NULL);

  self = g_object_new (EXG_TYPE_SERVER, NULL);
  self->registry = g_object_ref (registry);
  self->host.dialer = exg_dialer_new (registry);
  self->host.activity = activity != NULL ? g_object_ref (activity) : exg_activity_new (0);
  set_policy_on_routers (self, 0,
                         g_list_model_get_n_items (G_LIST_MODEL (registry)),
                         self->host.dest_policy);
  self->items_changed_id =
    g_signal_connect (registry, "items-changed",
                      G_CALLBACK (registry_items_changed_cb), self);
  return self;
}

static char *
format_socket_address (GSocketAddress *address)
{
  GInetSocketAddress *isa;
  g_autofree char *host = NULL;

  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return g_strdup ("?");
  isa = G_INET_SOCKET_ADDRESS (address);
  host = g_inet_address_to_string (g_inet_socket_address_get_address (isa));
  if (g_inet_address_get_family (g_inet_socket_address_get_address (isa)) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", host,
                            g_inet_socket_address_get_port (isa));
  return g_strdup_printf ("%s:%u", host, g_inet_socket_address_get_port (isa));
}

/* ExgSessionHost.closed: the session is done; drop it */
static void
session_closed (ExgSession *session,
                gpointer    user_data)
{
  ExgServer *self = user_data;
  guint64 id = exg_session_get_id (session);

  g_hash_table_remove (self->sessions, &id);

  if (self->limit_logged &&
      (self->max_connections == 0 ||
       g_hash_table_size (self->sessions) < self->max_connections))
    self->limit_logged = FALSE;
}

/* A client's address as accept(2) gave it, judged and formatted without
 * a GInetSocketAddress and a GInetAddress per connection. */
typedef struct {
  const guint8   *bytes;     /* the address; a v4-mapped one's IPv4 part */
  GSocketFamily   family;    /* of bytes */
  char            text[INET6_ADDRSTRLEN + 8];   /* "a.b.c.d:p" / "[v6]:p" */
} ClientAddress;

static gboolean
client_address_init (ClientAddress                 *ca,
                     const struct sockaddr_storage *sa)
{
  static const guint8 v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
  char host[INET6_ADDRSTRLEN];
  gsize len;

  if (sa->ss_family == AF_INET)
    {
      const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;

      ca->bytes = (const guint8 *) &sin->sin_addr;
      ca->family = G_SOCKET_FAMILY_IPV4;
      /* by hand: inet_ntop and printf would cost more than the rest of
       * the accept path together */
      len = exg_ipv4_to_string (ca->bytes, ca->text);
      ca->text[len++] = ':';
      exg_port_to_string (g_ntohs (sin->sin_port), ca->text + len);
      return TRUE;
    }
  if (sa->ss_family == AF_INET6)
    {
      const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;

      ca->bytes = (const guint8 *) &sin6->sin6_addr;
      ca->family = G_SOCKET_FAMILY_IPV6;
      /* a dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; judge
       * them by their IPv4 address, which is what allow-lists name */
      if (memcmp (ca->bytes, v4_mapped, sizeof v4_mapped) == 0)
        {
          ca->bytes += sizeof v4_mapped;
          ca->family = G_SOCKET_FAMILY_IPV4;
        }
      inet_ntop (AF_INET6, &sin6->sin6_addr, host, sizeof host);
      g_snprintf (ca->text, sizeof ca->text, "[%s]:%u", host, g_ntohs (sin6->sin6_port));
      return TRUE;
    }
  return FALSE;
}

static gboolean
client_allowed (ExgServer           *self,
                const ClientAddress *ca)
{
  g_autoptr(GInetAddress) inet = NULL;

  /* loopback as g_inet_address_get_is_loopback () has it */
  if (self->allow->len == 0)
    return ca->family == G_SOCKET_FAMILY_IPV4
           ? ca->bytes[0] == 127
           : IN6_IS_ADDR_LOOPBACK ((const struct in6_addr *) ca->bytes);

  inet = g_inet_address_new_from_bytes (ca->bytes, ca->family);
  for (guint i = 0; i < self->allow->len; i++)
    {
      GInetAddressMask *mask = g_ptr_array_index (self->allow, i);

      if (g_inet_address_mask_get_family (mask) == ca->family &&
          g_inet_address_mask_matches (mask, inet))
        return TRUE;
    }
  return FALSE;
}

/* @remote: the client's address, as accept(2) gave it */
static void
handle_connection (ExgServer                     *self,
                   int                            fd,
                   const struct sockaddr_storage *remote)
{
  ClientAddress ca;
  ExgSession *session;
  guint64 *key;

  if (!client_address_init (&ca, remote))
    {
      close (fd);
      return;
    }

  if (!client_allowed (self, &ca))
    {
      /* a client address is not a target: fine to log */
      g_debug ("Refused a client outside the allow-list: %s", ca.text);
      close (fd);
      return;
    }

  if (self->max_connections > 0 &&
      g_hash_table_size (self->sessions) >= self->max_connections)
    {
      if (!self->limit_logged)
        {
          g_message ("Over the limit of %u connections: closing new ones until some end",
                     self->max_connections);
          self->limit_logged = TRUE;
        }
      close (fd);
      return;
    }

  session = exg_session_new (&self->host, fd, ca.text);
  key = g_new (guint64, 1);
  *key = exg_session_get_id (session);
  g_hash_table_insert (self->sessions, key, session);
  exg_session_start (session);
}

/* ExgListenerFunc */
static void
accepted_cb (int                            fd,
             const struct sockaddr_storage *remote,
             gpointer                       user_data)
{
  handle_connection (user_data, fd, remote);
}

static gboolean
address_is_loopback (GSocketAddress *address)
{
  return G_IS_INET_SOCKET_ADDRESS (address) &&
         g_inet_address_get_is_loopback (
           g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address)));
}

gboolean
exg_server_listen (ExgServer       *self,
                   GSocketAddress  *address,
                   GSocketAddress **out_bound,
                   GError         **error)
{
  g_autoptr(GSocketAddress) effective = NULL;
  g_autofree char *text = NULL;
  ExgListener *listener;

  g_return_val_if_fail (EXG_IS_SERVER (self), FALSE);
  g_return_val_if_fail (G_IS_SOCKET_ADDRESS (address), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (out_bound != NULL)
    *out_bound = NULL;

  /* an open proxy is everybody's exit: off loopback, only the networks
   * the user named may connect */
  if (!address_is_loopback (address) && self->allow->len == 0)
    {
      text = format_socket_address (address);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   "Refusing to listen on %s, which is not a loopback address, "
                   "without an allow-list of client networks",
                   text);
      return FALSE;
    }

  listener = exg_listener_new (address, LISTEN_BACKLOG, accepted_cb, self,
                               &effective, error);
  if (listener == NULL)
    {
      text = format_socket_address (address);
      g_prefix_error (error, "Cannot listen on %s: ", text);
      return FALSE;
    }
  g_ptr_array_add (self->listeners, listener);
  self->host.log_debug = !g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG,
                                                           G_LOG_DOMAIN);
  g_ptr_array_add (self->listen_addresses, g_object_ref (effective));
  /* a CONNECT back to this address would nest sessions without end */
  if (G_IS_INET_SOCKET_ADDRESS (effective))
    exg_dest_policy_add_listener (self->host.dest_policy,
                                  g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (effective)),
                                  g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective)));

  if (out_bound != NULL)
    *out_bound = g_steal_pointer (&effective);
  return TRUE;
}

/**
 * exg_server_parse_listen_address:
 * @text: "ADDR:PORT", "[V6]:PORT" or "PORT" (then on 127.0.0.1)
 * @error: return location for a %G_IO_ERROR_INVALID_ARGUMENT
 *
 * Parses a listen address as exg_server_listen_string() does, so that a
 * caller can check its configuration before listening.
 *
 * Returns: (transfer full) (nullable): the address, or NULL with @error
 */
GSocketAddress *
exg_server_parse_listen_address (const char  *text,
                                 GError     **error)
{
  g_autofree char *host = NULL;
  g_autoptr(GInetAddress) inet = NULL;
  const char *port_text;
  guint64 port;
  char *end = NULL;

  g_return_val_if_fail (text != NULL, NULL);

  if (text[0] == '[')
    {
      const char *close = strchr (text, ']');

      if (close == NULL || close[1] != ':')
        goto bad;
      host = g_strndup (text + 1, (gsize) (close - text - 1));
      port_text = close + 2;
    }
  else
    {
      const char *colon = strrchr (text, ':');

      if (colon == NULL)
        {
          host = g_strdup ("127.0.0.1");
          port_text = text;
        }
      else
        {
          if (strchr (text, ':') != colon)
            goto bad;   /* a bare IPv6 address needs brackets */
          host = g_strndup (text, (gsize) (colon - text));
          port_text = colon + 1;
        }
    }

  if (!g_ascii_isdigit (port_text[0]))
    goto bad;
  port = g_ascii_strtoull (port_text, &end, 10);
  if (*end != '\0' || port > 65535)
    goto bad;

  if (g_str_equal (host, "localhost"))
    {
      g_free (host);
      host = g_strdup ("127.0.0.1");
    }
  inet = g_inet_address_new_from_string (host);
  if (inet == NULL)
    goto bad;

  return g_inet_socket_address_new (inet, (guint16) port);

bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "Invalid listen address “%s” (expected ADDR:PORT, [IPV6]:PORT or PORT)",
               text);
  return NULL;
}

gboolean
exg_server_listen_string (ExgServer       *self,
                          const char      *address,
                          GSocketAddress **out_bound,
                          GError         **error)
{
  g_autoptr(GSocketAddress) parsed = NULL;

  g_return_val_if_fail (EXG_IS_SERVER (self), FALSE);
  g_return_val_if_fail (address != NULL, FALSE);

  parsed = exg_server_parse_listen_address (address, error);
  if (parsed == NULL)
    return FALSE;
  return exg_server_listen (self, parsed, out_bound, error);
}

void
exg_server_stop (ExgServer *self)
{
  g_autoptr(GPtrArray) sessions = NULL;
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (EXG_IS_SERVER (self));

  if (self->listeners != NULL)
    g_ptr_array_set_size (self->listeners, 0);
  if (self->listen_addresses != NULL)
    g_ptr_array_set_size (self->listen_addresses, 0);
  if (self->host.dest_policy != NULL)
    exg_dest_policy_clear_listeners (self->host.dest_policy);

  if (self->sessions == NULL)
    return;

  /* a session that closes leaves the table: walk a copy */
  sessions = g_ptr_array_new_with_free_func (g_object_unref);
  g_hash_table_iter_init (&iter, self->sessions);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (sessions, g_object_ref (value));
  for (guint i = 0; i < sessions->len; i++)
    exg_session_close (g_ptr_array_index (sessions, i));
}

gboolean
exg_server_get_listening (ExgServer *self)
{
  g_return_val_if_fail (EXG_IS_SERVER (self), FALSE);
  return self->listeners->len > 0;
}

/**
 * exg_server_get_listen_addresses:
 *
 * Returns: (element-type GSocketAddress) (transfer none): the bound addresses
 */
GPtrArray *
exg_server_get_listen_addresses (ExgServer *self)
{
  g_return_val_if_fail (EXG_IS_SERVER (self), NULL);
  return self->listen_addresses;
}

gboolean
exg_server_close_connection (ExgServer *self,
                             guint64    id)
{
  ExgSession *session;

  g_return_val_if_fail (EXG_IS_SERVER (self), FALSE);

  session = g_hash_table_lookup (self->sessions, &id);
  if (session == NULL)
    return FALSE;
  exg_session_close (session);
  return TRUE;
}

void
exg_server_set_handshake_timeout (ExgServer *self,
                                  guint      seconds)
{
  g_return_if_fail (EXG_IS_SERVER (self));
  self->host.handshake_timeout = seconds;
}

guint
exg_server_get_handshake_timeout (ExgServer *self)
{
  g_return_val_if_fail (EXG_IS_SERVER (self), 0);
  return self->host.handshake_timeout;
}

void
exg_server_set_max_connections (ExgServer *self,
                                guint      max)
{
  g_return_if_fail (EXG_IS_SERVER (self));
  self->max_connections = max;
  self->limit_logged = FALSE;
}

guint
exg_server_get_max_connections (ExgServer *self)
{
  g_return_val_if_fail (EXG_IS_SERVER (self), 0);
  return self->max_connections;
}

gboolean
exg_server_set_allow_list (ExgServer          *self,
                           const char * const *cidrs,
                           GError            **error)
{
  g_autoptr(GPtrArray) masks = NULL;

  g_return_val_if_fail (EXG_IS_SERVER (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  masks = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; cidrs != NULL && cidrs[i] != NULL; i++)
    {
      g_autoptr(GError) local_error = NULL;
      GInetAddressMask *mask = g_inet_address_mask_new_from_string (cidrs[i], &local_error);

      if (mask == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "Invalid network “%s” in the allow-list: %s",
                       cidrs[i], local_error->message);
          return FALSE;
        }
      g_ptr_array_add (masks, mask);
    }

  g_ptr_array_unref (self->allow);
  self->allow = g_steal_pointer (&masks);
  return TRUE;
}

/**
 * exg_server_set_allow_targets:
 * @rules: (nullable) (array zero-terminated=1): CIDR[:PORT[-PORT]] entries
 *
 * Targets on this host that clients may reach even while the server
 * listens beyond loopback.
 *
 * Returns: FALSE with @error (naming the entry) on a bad entry
 */
gboolean
exg_server_set_allow_targets (ExgServer          *self,
                              const char * const *rules,
                              GError            **error)
{
  g_return_val_if_fail (EXG_IS_SERVER (self), FALSE);
  return exg_dest_policy_set_allow_targets (self->host.dest_policy, rules, error);
}

/**
 * exg_server_set_deny_targets:
 * @rules: (nullable) (array zero-terminated=1): CIDR[:PORT[-PORT]] entries
 *
 * Targets no client may reach, whatever allow-targets say.
 *
 * Returns: FALSE with @error (naming the entry) on a bad entry
 */
gboolean
exg_server_set_deny_targets (ExgServer          *self,
                             const char * const *rules,
                             GError            **error)
{
  g_return_val_if_fail (EXG_IS_SERVER (self), FALSE);
  return exg_dest_policy_set_deny_targets (self->host.dest_policy, rules, error);
}

/**
 * exg_server_get_dest_policy:
 *
 * Returns: (transfer none): the destination policy of this server
 */
ExgDestPolicy *
exg_server_get_dest_policy (ExgServer *self)
{
  g_return_val_if_fail (EXG_IS_SERVER (self), NULL);
  return self->host.dest_policy;
}

void
exg_server_set_credentials (ExgServer  *self,
                            const char *username,
                            const char *password)
{
  g_return_if_fail (EXG_IS_SERVER (self));

  g_free (self->host.username);
  self->host.username = g_strdup (username);
  g_free (self->host.password);
  self->host.password = g_strdup (password);
}

void
exg_server_set_default_selection (ExgServer          *self,
                                  const ExgSelection *sel)
{
  g_return_if_fail (EXG_IS_SERVER (self));

  if (sel == NULL)
    exg_selection_init_any (&self->host.default_selection);
  else
    self->host.default_selection = *sel;

  /* a default chosen by the user is where the next connection goes:
   * its first request should not wait for a tor circuit */
  if (exg_selection_is_any (&self->host.default_selection))
    exg_dialer_keep_ready (self->host.dialer, NULL);
  else
    exg_dialer_keep_ready (self->host.dialer, &self->host.default_selection);
}

void
exg_server_get_default_selection (ExgServer    *self,
                                  ExgSelection *sel)
{
  g_return_if_fail (EXG_IS_SERVER (self));
  g_return_if_fail (sel != NULL);

  *sel = self->host.default_selection;
}

void
exg_server_set_unsafe_logging (ExgServer *self,
                               gboolean   unsafe)
{
  g_return_if_fail (EXG_IS_SERVER (self));
  self->host.unsafe_logging = !!unsafe;
}

gboolean
exg_server_get_unsafe_logging (ExgServer *self)
{
  g_return_val_if_fail (EXG_IS_SERVER (self), FALSE);
  return self->host.unsafe_logging;
}

/**
 * exg_server_get_registry:
 *
 * Returns: (transfer none): the routers
 */
ExgRouterRegistry *
exg_server_get_registry (ExgServer *self)
{
  g_return_val_if_fail (EXG_IS_SERVER (self), NULL);
  return self->registry;
}

/**
 * exg_server_get_activity:
 *
 * Returns: (transfer none): the activity model
 */
ExgActivity *
exg_server_get_activity (ExgServer *self)
{
  g_return_val_if_fail (EXG_IS_SERVER (self), NULL);
  return self->host.activity;
}
