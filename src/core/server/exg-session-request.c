/* exg-session-request.c: a session's request: the exit is chosen (the
 * last E0 selection, the username's, or the default), asked to connect or
 * resolve, and on success the relay takes the connection over.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-session-private.h"

#include "exg-error.h"
#include "exg-socket-util.h"
#include "exg-socks-encode.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

static void
addr_from_inet (ExgSocksAddr *addr,
                GInetAddress *inet,
                guint16       port)
{
  memset (addr, 0, sizeof *addr);
  addr->port = port;
  if (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV4)
    {
      addr->type = EXG_SOCKS_ATYP_IPV4;
      memcpy (addr->ip, g_inet_address_to_bytes (inet), 4);
    }
  else
    {
      addr->type = EXG_SOCKS_ATYP_IPV6;
      memcpy (addr->ip, g_inet_address_to_bytes (inet), 16);
    }
}

/* (transfer full) the host to hand to the exit: the name as sent, or the
 * IP literal */
char *
exg_session_target_host_ (const ExgSocksAddr *target)
{
  char text[INET6_ADDRSTRLEN];

  /* as g_inet_address_to_string () would, without the two GObjects (an
   * address and its string) per call, nor inet_ntop's sprintf for IPv4 */
  switch (target->type)
    {
    case EXG_SOCKS_ATYP_IPV4:
      exg_ipv4_to_string (target->ip, text);
      return g_strdup (text);
    case EXG_SOCKS_ATYP_IPV6:
      return g_strdup (inet_ntop (AF_INET6, target->ip, text, sizeof text));
    case EXG_SOCKS_ATYP_DOMAIN:
    case EXG_SOCKS_ATYP_NONE:
    default:
      return g_strdup (target->host);
    }
}

static char *
format_target (const ExgSocksAddr *target,
               const char         *host)
{
  char port[EXG_PORT_STRLEN];

  /* once per connection: printf would cost more than the rest of the
   * request's bookkeeping */
  exg_port_to_string (target->port, port);
  if (target->type == EXG_SOCKS_ATYP_IPV6)
    return g_strconcat ("[", host, "]:", port, NULL);
  return g_strconcat (host, ":", port, NULL);
}

/* The exit for this request: the router of the last E0 selection, or
 * NULL and the selection (the username's, else the server default) for
 * the registry to pick from. */
static gboolean
choose_exit (ExgSession   *self,
             ExgRouter   **out_router,
             ExgSelection *out_sel,
             GError      **error)
{
  g_autoptr(GError) local_error = NULL;

  *out_router = NULL;

  if (self->has_selection)
    {
      /* socks-extensions.txt §5: the last selection decides; after an FF
       * the request is refused, never silently sent elsewhere */
      if (self->selected == NULL)
        {
          g_set_error_literal (error, EXG_ERROR, EXG_ERROR_NO_ROUTER,
                               "The last router selection matched no exit");
          return FALSE;
        }
      *out_router = g_object_ref (self->selected);
      return TRUE;
    }

  if (self->version == 5 && self->info->username != NULL &&
      exg_selection_parse_username (self->info->username, out_sel,
                                    &local_error))
    return TRUE;

  if (local_error != NULL)
    {
      g_message ("Connection %" G_GUINT64_FORMAT ": refused: %s",
                 self->info->id, local_error->message);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  *out_sel = self->host->default_selection;
  return TRUE;
}

/* (transfer full) what keeps this request off the tor circuits of other
 * clients: the client's address and its username without selection keys
 * (the address has no space, so the two stay apart) */
static char *
request_isolation (ExgSession *self)
{
  g_autofree char *client = NULL;
  g_autofree char *user = NULL;
  const char *name = self->info->username;

  /* Most clients send no username: one allocation, "ADDRESS " */
  if (name == NULL)
    {
      gsize len = exg_conn_info_client_host_len (self->info);
      char *key = g_malloc (len + 2);

      if (len > 0)
        memcpy (key, self->info->client, len);
      key[len] = ' ';
      key[len + 1] = '\0';
      return key;
    }

  client = exg_conn_info_get_client_host (self->info);
  user = exg_selection_strip_username (name);
  return g_strconcat (client, " ", user, NULL);
}

static void
log_no_router (ExgSession         *self,
               const ExgSelection *sel,
               const GError       *error)
{
  g_autofree char *text = NULL;

  if (!g_error_matches (error, EXG_ERROR, EXG_ERROR_NO_ROUTER))
    return;
  /* the selection (a country, a range) is no target: safe to log */
  if (self->has_selection)
    text = g_strdup ("the last E0 selection");
  else if (sel != NULL)
    text = exg_selection_to_string (sel);
  else
    text = g_strdup ("any");
  g_message ("Connection %" G_GUINT64_FORMAT ": refused: no exit matches the selection (%s)",
             self->info->id, text);
}

/* Once per connection, at g_message: someone may be probing what this
 * proxy reaches.  The target stays out unless logging is unsafe. */
static void
log_target_refused (ExgSession   *self,
                    const GError *error)
{
  if (!g_error_matches (error, EXG_ERROR, EXG_ERROR_TARGET_REFUSED))
    return;
  g_message ("Connection %" G_GUINT64_FORMAT ": refused the target %s: %s",
             self->info->id, exg_session_safe_target_ (self), error->message);
}

/* The exit starts working: its deadline.  The client is still watched
 * meanwhile (exg-session.c): data it sends is kept for the relay; EOF or
 * an error means it went away. */
void
exg_session_start_exit_wait_ (ExgSession *self)
{
  if (!self->watching)
    return;   /* closed already, by a signal handler */
  if (self->busy_since == 0)
    {
      self->busy_since = g_get_monotonic_time ();
      /* with no handshake deadline there is none to reuse */
      if (exg_deadline_get (&self->deadline) == -1)
        exg_session_deadline_set_ (self, self->busy_since + EXIT_TIMEOUT_SECONDS * G_USEC_PER_SEC);
    }
  /* the handshake deadline stays set: when it fires now, it becomes the
   * exit's deadline, rather than a wakeup paid on every request */
}

static void
relay_progress_cb (gpointer user_data,
                   gsize    up,
                   gsize    down)
{
  ExgSession *self = user_data;

  exg_activity_add_bytes (self->host->activity, self->info,
                          up, down);
  if (self->router != NULL)
    exg_router_record_bytes (self->router, up + down);
}

static void
relay_done_cb (gpointer      user_data,
               const GError *error)
{
  ExgSession *self = user_data;
  ExgRelay *relay;

  if (self->closed)
    return;

  /* a clean end: both sides sent EOF and the relay read up to it, so
   * there is nothing left to drain before closing */
  if (error == NULL)
    self->client_eof = TRUE;

  if (error != NULL &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_free (self->info->error);
      self->info->error = g_strdup (error->message);
      self->info->state = EXG_CONN_STATE_FAILED;
    }

  if (self->in_relay_start)
    {
      /* never free the relay under its own exg_relay_start */
      self->relay_done_early = TRUE;
      return;
    }

  relay = g_steal_pointer (&self->relay);
  exg_relay_free (relay);
  exg_session_close (self);
}

static void
start_relay (ExgSession *self)
{
  g_autoptr(GSocketConnection) exit_conn = g_steal_pointer (&self->exit_conn);

  exg_session_watch_hand_over_ (self);
  exg_session_set_state_ (self, EXG_CONN_STATE_OPEN);

  self->relay = exg_relay_new (self->fd, self->exit_fd, exit_conn,
                               self->buf, self->len,
                               relay_progress_cb, relay_done_cb, self);
  self->fd = -1;
  self->exit_fd = -1;
  /* the relay copied the pending bytes; an idle session holds no buffer */
  g_clear_pointer (&self->buf, g_free);
  self->len = self->cap = 0;

  self->in_relay_start = TRUE;
  exg_relay_start (self->relay);
  self->in_relay_start = FALSE;

  if (self->relay_done_early)
    {
      ExgRelay *relay = g_steal_pointer (&self->relay);

      exg_relay_free (relay);
      exg_session_close (self);
    }
}

static void
connected (ExgSession *self)
{
  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  guint8 out[EXG_SOCKS5_REPLY_MAX];
  ExgSocksAddr bound;
  gsize n;

  /* BND: the real local address and port of the outgoing connection,
   * straight from getsockname(2) (GIO would wrap it in two GObjects) */
  memset (&bound, 0, sizeof bound);
  bound.type = EXG_SOCKS_ATYP_IPV4;
  if (getsockname (self->exit_fd, (struct sockaddr *) &local, &local_len) == 0)
    {
      if (local.ss_family == AF_INET)
        {
          const struct sockaddr_in *sin = (const struct sockaddr_in *) &local;

          memcpy (bound.ip, &sin->sin_addr, 4);
          bound.port = g_ntohs (sin->sin_port);
        }
      else if (local.ss_family == AF_INET6)
        {
          const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) &local;

          bound.type = EXG_SOCKS_ATYP_IPV6;
          memcpy (bound.ip, &sin6->sin6_addr, 16);
          bound.port = g_ntohs (sin6->sin6_port);
        }
    }

  if (self->version == 4)
    n = exg_socks4_reply_encode (out, sizeof out, EXG_SOCKS4_REPLY_GRANTED,
                                 bound.port,
                                 bound.type == EXG_SOCKS_ATYP_IPV4 ? bound.ip : NULL);
  else
    n = exg_socks5_reply_encode (out, sizeof out, EXG_SOCKS5_REPLY_SUCCEEDED,
                                 &bound);

  if (!exg_session_send_bytes_ (self, out, n))
    {
      exg_session_client_went_away_ (self);
      return;
    }

  /* structured logging formats the message before it filters: not for
   * every connection when nobody reads debug messages */
  if (self->host->log_debug)
    g_debug ("Connection %" G_GUINT64_FORMAT ": open to %s through %s",
             self->info->id, exg_session_safe_target_ (self),
             self->router != NULL ? exg_router_get_name (self->router) : "?");
  start_relay (self);
}

static void
dial_cb (gpointer           user_data,
         int                fd,
         GSocketConnection *connection,
         const char        *circuit,
         ExgRouter         *router,
         GError            *error)
{
  ExgSession *self = user_data;
  g_autoptr(ExgRouter) exit_router = router;
  g_autoptr(GError) dial_error = error;

  /* a session that closed cancelled its dial: this one is still open */
  self->dial = NULL;

  /* observers hear of the exit with the state change that follows (open,
   * or failed), in one signal: a failed row names the exit that failed */
  if (router != NULL)
    exg_session_set_exit_ (self, router);
  /* names would have been resolved at the exit: this client may have
   * asked its own resolver */
  if (router != NULL &&
      exg_router_get_kind (router) != EXG_ROUTER_KIND_DIRECT &&
      (self->target.type == EXG_SOCKS_ATYP_IPV4 ||
       self->target.type == EXG_SOCKS_ATYP_IPV6))
    exg_activity_note_ip_literal_through_proxy (self->host->activity,
                                                self->info);
  if (fd < 0)
    {
      log_no_router (self, self->has_selection ? NULL : &self->sel, error);
      log_target_refused (self, error);
      exg_session_fail_request_ (self, error, 0);
      return;
    }
  self->exit_fd = fd;
  self->exit_conn = connection;
  /* observers hear of it with the state change to open */
  if (circuit != NULL)
    {
      g_free (self->info->circuit);
      self->info->circuit = g_strdup (circuit);
    }
  connected (self);
}

/* The destination policy, before any exit is asked: IP literals of every
 * exit kind, and port 0 of names.  The addresses of names are judged
 * where they are resolved, by the direct exit.  FALSE: refused, and the
 * session is closed. */
static gboolean
target_allowed (ExgSession *self)
{
  static const guint8 none[16] = { 0 };
  g_autoptr(GError) error = NULL;
  ExgDestPolicy *policy = self->host->dest_policy;
  gboolean allowed;

  switch (self->target.type)
    {
    case EXG_SOCKS_ATYP_IPV4:
      allowed = exg_dest_policy_judge (policy, G_SOCKET_FAMILY_IPV4,
                                       self->target.ip, self->target.port,
                                       &error);
      break;
    case EXG_SOCKS_ATYP_IPV6:
      allowed = exg_dest_policy_judge (policy, G_SOCKET_FAMILY_IPV6,
                                       self->target.ip, self->target.port,
                                       &error);
      break;
    case EXG_SOCKS_ATYP_DOMAIN:
    case EXG_SOCKS_ATYP_NONE:
    default:
      /* a name with port 0: the zero rule, whatever it resolves to */
      allowed = self->target.port != 0 ||
                exg_dest_policy_judge (policy, G_SOCKET_FAMILY_IPV4, none, 0,
                                       &error);
      break;
    }
  if (allowed)
    return TRUE;

  log_target_refused (self, error);
  exg_session_fail_request_ (self, error, 0);
  return FALSE;
}

static void
start_connect (ExgSession *self,
               const char *host)
{
  g_autoptr(ExgRouter) router = NULL;
  g_autoptr(GError) error = NULL;
  ExgSelection sel;

  exg_selection_init_any (&sel);
  if (!target_allowed (self))
    return;

  if (!choose_exit (self, &router, &sel, &error))
    {
      log_no_router (self, NULL, error);
      exg_session_fail_request_ (self, error, 0);
      return;
    }

  exg_session_set_state_ (self, EXG_CONN_STATE_CONNECTING);
  exg_session_start_exit_wait_ (self);

  /* an E0 selection fixed the router: observers see it while it connects */
  if (router != NULL)
    {
      exg_session_set_exit_ (self, router);
      exg_activity_connection_changed (self->host->activity, self->info);
    }
  sel.port = self->target.port;   /* exits whose policy rejects it don't match */
  self->sel = sel;
  g_free (self->info->isolation);
  self->info->isolation = request_isolation (self);
  self->dial = exg_dialer_dial (self->host->dialer, router, &sel, host,
                                self->target.port, self->info->isolation,
                                dial_cb, self);
}

/* RESOLVE (socks-extensions.txt §2) */

static void
finish_resolved (ExgSession   *self,
                 GInetAddress *answer)
{
  guint8 out[EXG_SOCKS5_REPLY_MAX];
  gsize n;

  if (self->version == 4)
    {
      if (g_inet_address_get_family (answer) != G_SOCKET_FAMILY_IPV4)
        {
          /* SOCKS4 has room for IPv4 only */
          exg_session_fail_request_ (self, NULL, EXG_SOCKS5_REPLY_HOST_UNREACHABLE);
          return;
        }
      n = exg_socks4_reply_encode (out, sizeof out, EXG_SOCKS4_REPLY_GRANTED, 0,
                                   g_inet_address_to_bytes (answer));
    }
  else
    {
      ExgSocksAddr bound;

      addr_from_inet (&bound, answer, 0);
      n = exg_socks5_reply_encode (out, sizeof out, EXG_SOCKS5_REPLY_SUCCEEDED,
                                   &bound);
    }

  exg_session_send_bytes_ (self, out, n);
  exg_session_close (self);
}

static void
resolve_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(ExgSession) self = user_data;
  g_autoptr(GError) error = NULL;
  GList *addresses;
  GInetAddress *first_v4 = NULL;
  GInetAddress *first_v6 = NULL;
  g_autoptr(GString) answer = NULL;
  g_autofree char *query = NULL;

  addresses = exg_backend_resolve_finish (EXG_BACKEND (source), result, &error);
  if (self->closed)
    {
      g_resolver_free_addresses (addresses);
      return;
    }

  query = exg_session_target_host_ (&self->target);
  if (addresses == NULL)
    {
      exg_activity_add_lookup (self->host->activity,
                               EXG_LOOKUP_FORWARD,
                               query, NULL, error->message, self->router);
      exg_session_fail_request_ (self, error, 0);
      return;
    }

  answer = g_string_new (NULL);
  for (GList *l = addresses; l != NULL; l = l->next)
    {
      GInetAddress *inet = l->data;
      g_autofree char *text = g_inet_address_to_string (inet);

      if (answer->len > 0)
        g_string_append (answer, ", ");
      g_string_append (answer, text);
      if (first_v4 == NULL &&
          g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV4)
        first_v4 = inet;
      if (first_v6 == NULL &&
          g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6)
        first_v6 = inet;
    }
  exg_activity_add_lookup (self->host->activity,
                           EXG_LOOKUP_FORWARD,
                           query, answer->str, NULL, self->router);

  finish_resolved (self, first_v4 != NULL ? first_v4 : first_v6);
  g_resolver_free_addresses (addresses);
}

static void
resolve_ptr_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(ExgSession) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *query = NULL;
  guint8 out[EXG_SOCKS5_REPLY_MAX];
  ExgSocksAddr bound;
  gsize n;

  name = exg_backend_resolve_ptr_finish (EXG_BACKEND (source), result, &error);
  if (self->closed)
    return;

  query = exg_session_target_host_ (&self->target);
  exg_activity_add_lookup (self->host->activity,
                           EXG_LOOKUP_REVERSE,
                           query, name, error != NULL ? error->message : NULL, self->router);
  if (name == NULL)
    {
      exg_session_fail_request_ (self, error, 0);
      return;
    }

  memset (&bound, 0, sizeof bound);
  bound.type = EXG_SOCKS_ATYP_DOMAIN;
  /* a DNS name is at most 253 bytes; the wire has room for 255 */
  g_strlcpy (bound.host, name, sizeof bound.host);
  n = exg_socks5_reply_encode (out, sizeof out, EXG_SOCKS5_REPLY_SUCCEEDED,
                               &bound);
  exg_session_send_bytes_ (self, out, n);
  exg_session_close (self);
}

static void
start_resolve (ExgSession *self,
               const char *host)
{
  g_autoptr(ExgRouter) router = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) literal = NULL;
  g_autofree char *isolation = NULL;
  ExgActivity *activity = self->host->activity;
  ExgSelection sel;
  gboolean reverse = self->command == EXG_SOCKS_CMD_RESOLVE_PTR;

  if (reverse)
    {
      /* socks-extensions.txt §2: RESOLVE_PTR is SOCKS5 only, of an IP */
      if (self->version != 5)
        {
          exg_session_fail_request_ (self, NULL, EXG_SOCKS5_REPLY_CMD_NOT_SUPPORTED);
          return;
        }
      if (self->target.type != EXG_SOCKS_ATYP_IPV4 &&
          self->target.type != EXG_SOCKS_ATYP_IPV6)
        {
          exg_session_fail_request_ (self, NULL, EXG_SOCKS5_REPLY_ATYP_NOT_SUPPORTED);
          return;
        }
    }
  else
    {
      /* an IP literal is its own answer: nothing to ask anyone */
      literal = g_inet_address_new_from_string (host);
      if (literal != NULL)
        {
          exg_activity_add_lookup (activity, EXG_LOOKUP_FORWARD, host, host,
                                   NULL, NULL);
          finish_resolved (self, literal);
          return;
        }
    }

  if (!choose_exit (self, &router, &sel, &error))
    {
      exg_activity_add_lookup (activity,
                               reverse ? EXG_LOOKUP_REVERSE : EXG_LOOKUP_FORWARD,
                               host, NULL, error->message, NULL);
      log_no_router (self, NULL, error);
      exg_session_fail_request_ (self, error, 0);
      return;
    }
  if (router == NULL)
    {
      router = exg_dialer_pick (self->host->dialer, &sel, &error);
      if (router == NULL)
        {
          exg_activity_add_lookup (activity,
                                   reverse ? EXG_LOOKUP_REVERSE : EXG_LOOKUP_FORWARD,
                                   host, NULL, error->message, NULL);
          log_no_router (self, &sel, error);
          exg_session_fail_request_ (self, error, 0);
          return;
        }
    }

  exg_session_set_exit_ (self, router);
  exg_session_set_state_ (self, EXG_CONN_STATE_RESOLVING);
  exg_session_start_exit_wait_ (self);

  isolation = request_isolation (self);
  if (reverse)
    {
      g_autoptr(GInetAddress) inet =
        g_inet_address_new_from_bytes (self->target.ip,
                                       self->target.type == EXG_SOCKS_ATYP_IPV4
                                         ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6);

      exg_backend_resolve_ptr_async (exg_router_get_backend (router), inet,
                                     isolation,
                                     exg_session_get_cancellable_ (self),
                                     resolve_ptr_cb, g_object_ref (self));
    }
  else
    exg_backend_resolve_async (exg_router_get_backend (router), host,
                               isolation,
                               exg_session_get_cancellable_ (self),
                               resolve_cb, g_object_ref (self));
}

/* A name that is an IP literal (curl --socks4a sends an IP URL's host as
 * SOCKS4a's hostname; SOCKS5 clients may send it as ATYP 3) is an
 * address: the backends hand it to the exit as one, and nothing resolves
 * it.  So it is one here too, for the destination policy and the DNS-leak
 * mark, which would otherwise let it by as a name.  inet_pton, as the
 * backends: what they send as a name stays a name. */
static void
name_to_address_if_literal (ExgSocksAddr *target)
{
  guint8 ip[16];

  if (target->type != EXG_SOCKS_ATYP_DOMAIN)
    return;
  if (inet_pton (AF_INET, target->host, ip) == 1)
    {
      target->type = EXG_SOCKS_ATYP_IPV4;
      memcpy (target->ip, ip, 4);
    }
  else if (inet_pton (AF_INET6, target->host, ip) == 1)
    {
      target->type = EXG_SOCKS_ATYP_IPV6;
      memcpy (target->ip, ip, 16);
    }
  else
    return;
  target->host[0] = '\0';
}

void
exg_session_handle_request_ (ExgSession        *self,
                const ExgSocksMsg *msg)
{
  g_autofree char *host = NULL;

  self->version = msg->version;
  self->command = msg->command;
  self->target = msg->target;
  name_to_address_if_literal (&self->target);
  host = exg_session_target_host_ (&self->target);

  self->info->command = msg->command;
  g_free (self->info->target);
  self->info->target = format_target (&self->target, host);
  exg_activity_connection_changed (self->host->activity,
                                   self->info);

  switch (msg->command)
    {
    case EXG_SOCKS_CMD_CONNECT:
      start_connect (self, host);
      break;
    case EXG_SOCKS_CMD_RESOLVE:
    case EXG_SOCKS_CMD_RESOLVE_PTR:
      start_resolve (self, host);
      break;
    case EXG_SOCKS_CMD_BIND:
    case EXG_SOCKS_CMD_UDP_ASSOCIATE:
    case EXG_SOCKS_CMD_CONNECT_DIR:
    default:
      exg_session_fail_request_ (self, NULL, EXG_SOCKS5_REPLY_CMD_NOT_SUPPORTED);
      break;
    }
}

