/* exg-tor-control-auth.c: connecting to tor's control port and
 * authenticating as PROTOCOLINFO offers: SAFECOOKIE (the server's hash
 * checked in constant time), COOKIE, HASHEDPASSWORD, NULL.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-tor-control-private.h"

#include "exg-error.h"

#include <gio/gunixsocketaddress.h>
#include <string.h>
#include <sys/random.h>

static char *
hex_encode (const guint8 *data,
            gsize         len)
{
  static const char digits[] = "0123456789ABCDEF";
  char *out = g_malloc (len * 2 + 1);
  gsize i;

  for (i = 0; i < len; i++)
    {
      out[2 * i] = digits[data[i] >> 4];
      out[2 * i + 1] = digits[data[i] & 0xf];
    }
  out[2 * len] = '\0';
  return out;
}

static gboolean
hex_decode (const char *hex,
            guint8     *out,
            gsize       len)
{
  gsize i;

  if (hex == NULL || strlen (hex) != len * 2)
    return FALSE;
  for (i = 0; i < len; i++)
    {
      int hi = g_ascii_xdigit_value (hex[2 * i]);
      int lo = g_ascii_xdigit_value (hex[2 * i + 1]);

      if (hi < 0 || lo < 0)
        return FALSE;
      out[i] = (guint8) (hi << 4 | lo);
    }
  return TRUE;
}

/* ---- connecting and authenticating ------------------------------------ */

static void
connect_fail (ExgTorControl *self,
              GError        *error)
{
  g_autoptr(GError) owned = error;

  exg_tor_control_close_internal_ (self, owned, FALSE);
}

static void
authenticate_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  ExgTorControl *self = EXG_TOR_CONTROL (source);
  ExgTorAuthMethod method = GPOINTER_TO_UINT (user_data);
  g_autoptr(ExgTorctlReply) reply = NULL;
  GError *error = NULL;
  GTask *task;

  reply = exg_tor_control_send_finish (self, result, &error);
  if (reply == NULL)
    {
      connect_fail (self, error);
      return;
    }

  self->state = STATE_CONNECTED;
  self->used = method;
  g_clear_pointer (&self->password, g_free);
  g_clear_pointer (&self->cookie, g_bytes_unref);
  exg_tor_control_disconnect_cancellable_ (self);
  task = g_steal_pointer (&self->connect_task);
  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void
send_internal (ExgTorControl       *self,
               const char          *command,
               GAsyncReadyCallback  callback,
               gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);

  g_task_set_source_tag (task, exg_tor_control_send_async);
  exg_tor_control_enqueue_ (self, command, task);
}

static void
authenticate (ExgTorControl    *self,
              ExgTorAuthMethod  method,
              const char       *token)
{
  g_autofree char *command = NULL;

  if (token != NULL)
    command = g_strconcat ("AUTHENTICATE ", token, NULL);
  else
    command = g_strdup ("AUTHENTICATE");
  send_internal (self, command, authenticate_cb, GUINT_TO_POINTER (method));
}

static void
safecookie_hmac (const char   *key,
                 GBytes       *cookie,
                 const guint8 *client_nonce,
                 const guint8 *server_nonce,
                 guint8        out[32])
{
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, (const guchar *) key, strlen (key));
  gsize len = 32;

  g_hmac_update (hmac, g_bytes_get_data (cookie, NULL), g_bytes_get_size (cookie));
  g_hmac_update (hmac, client_nonce, NONCE_LEN);
  g_hmac_update (hmac, server_nonce, NONCE_LEN);
  g_hmac_get_digest (hmac, out, &len);
}

static void
authchallenge_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  ExgTorControl *self = EXG_TOR_CONTROL (source);
  g_autoptr(ExgTorctlReply) reply = NULL;
  g_autoptr(ExgTorctlArgs) args = NULL;
  GError *error = NULL;
  guint8 server_hash[32], server_nonce[NONCE_LEN], expected[32], client_hash[32];
  g_autofree char *hex = NULL;
  guint8 diff = 0;
  gsize i;

  reply = exg_tor_control_send_finish (self, result, &error);
  if (reply == NULL)
    {
      connect_fail (self, error);
      return;
    }

  args = exg_torctl_args_parse (exg_torctl_reply_get_message (reply));
  if (args == NULL ||
      g_strcmp0 (exg_torctl_args_get_positional (args, 0), "AUTHCHALLENGE") != 0 ||
      !hex_decode (exg_torctl_args_lookup (args, "SERVERHASH"), server_hash, 32) ||
      !hex_decode (exg_torctl_args_lookup (args, "SERVERNONCE"), server_nonce, NONCE_LEN))
    {
      connect_fail (self, g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                       "tor sent a malformed AUTHCHALLENGE reply"));
      return;
    }

  /* control-spec §3.24: the server proves it knows the cookie too, so a
   * process squatting on the port learns nothing from our answer */
  safecookie_hmac (SAFECOOKIE_SERVER_KEY, self->cookie, self->client_nonce,
                   server_nonce, expected);
  for (i = 0; i < 32; i++)
    diff |= expected[i] ^ server_hash[i];
  if (diff != 0)
    {
      connect_fail (self, g_error_new (EXG_ERROR, EXG_ERROR_TOR_CONTROL,
                                       "The control port did not prove it knows "
                                       "tor's authentication cookie"));
      return;
    }

  safecookie_hmac (SAFECOOKIE_CLIENT_KEY, self->cookie, self->client_nonce,
                   server_nonce, client_hash);
  hex = hex_encode (client_hash, 32);
  authenticate (self, EXG_TOR_AUTH_SAFECOOKIE, hex);
}

/* Picks the first method offered, allowed and usable, in the order of
 * ExgTorAuthMethod, and starts it. */
static void
choose_auth (ExgTorControl *self,
             GError        *cookie_error)
{
  ExgTorAuthMethod usable = self->offered & self->allowed;
  g_autoptr(GError) owned = cookie_error;

  if (self->cookie == NULL)
    usable &= ~(EXG_TOR_AUTH_SAFECOOKIE | EXG_TOR_AUTH_COOKIE);
  if (self->password == NULL)
    usable &= ~EXG_TOR_AUTH_HASHEDPASSWORD;

  if (usable & EXG_TOR_AUTH_SAFECOOKIE)
    {
      g_autofree char *hex = NULL;
      g_autofree char *command = NULL;

      if (getrandom (self->client_nonce, NONCE_LEN, 0) != NONCE_LEN)
        {
          connect_fail (self, g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED,
                                           "No random bytes for the SAFECOOKIE nonce"));
          return;
        }
      hex = hex_encode (self->client_nonce, NONCE_LEN);
      command = g_strconcat ("AUTHCHALLENGE SAFECOOKIE ", hex, NULL);
      send_internal (self, command, authchallenge_cb, NULL);
    }
  else if (usable & EXG_TOR_AUTH_COOKIE)
    {
      g_autofree char *hex = hex_encode (g_bytes_get_data (self->cookie, NULL), COOKIE_LEN);

      authenticate (self, EXG_TOR_AUTH_COOKIE, hex);
    }
  else if (usable & EXG_TOR_AUTH_HASHEDPASSWORD)
    {
      /* hex, so that no character of the password needs escaping (§3.5) */
      g_autofree char *hex = hex_encode ((const guint8 *) self->password,
                                         strlen (self->password));

      authenticate (self, EXG_TOR_AUTH_HASHEDPASSWORD, hex);
    }
  else if (usable & EXG_TOR_AUTH_NULL)
    {
      authenticate (self, EXG_TOR_AUTH_NULL, NULL);
    }
  else if (owned != NULL)
    {
      connect_fail (self, g_steal_pointer (&owned));
    }
  else
    {
      connect_fail (self, g_error_new (EXG_ERROR, EXG_ERROR_TOR_CONTROL,
                                       (self->offered & EXG_TOR_AUTH_HASHEDPASSWORD) &&
                                       self->password == NULL
                                       ? "tor wants a control password"
                                       : "tor offers no authentication method we may use"));
    }
}

static void
cookie_loaded_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(ExgTorControl) self = user_data;
  g_autofree char *contents = NULL;
  gsize len = 0;
  GError *error = NULL;

  if (self->state == STATE_CLOSED)
    return;
  if (!g_file_load_contents_finish (G_FILE (source), result, &contents, &len, NULL, &error))
    {
      g_prefix_error (&error, "Cannot read tor's authentication cookie: ");
      choose_auth (self, error);
      return;
    }
  /* control-spec §3.21: never use a cookie file that is not 32 bytes */
  if (len != COOKIE_LEN)
    {
      choose_auth (self, g_error_new (EXG_ERROR, EXG_ERROR_TOR_CONTROL,
                                      "tor's authentication cookie is not 32 bytes long"));
      return;
    }
  self->cookie = g_bytes_new_take (g_steal_pointer (&contents), len);
  choose_auth (self, NULL);
}

static void
protocolinfo_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  ExgTorControl *self = EXG_TOR_CONTROL (source);
  g_autoptr(ExgTorctlReply) reply = NULL;
  GError *error = NULL;
  guint i;

  reply = exg_tor_control_send_finish (self, result, &error);
  if (reply == NULL)
    {
      connect_fail (self, error);
      return;
    }

  for (i = 0; i < reply->n_lines; i++)
    {
      g_autoptr(ExgTorctlArgs) args = exg_torctl_args_parse (reply->lines[i].text);
      const char *word = args ? exg_torctl_args_get_positional (args, 0) : NULL;

      /* §3.21: controllers MUST ignore lines they do not recognize */
      if (g_strcmp0 (word, "AUTH") == 0)
        {
          const char *methods = exg_torctl_args_lookup (args, "METHODS");
          g_auto(GStrv) names = g_strsplit (methods ? methods : "", ",", -1);
          guint j;

          for (j = 0; names[j] != NULL; j++)
            {
              if (strcmp (names[j], "SAFECOOKIE") == 0)
                self->offered |= EXG_TOR_AUTH_SAFECOOKIE;
              else if (strcmp (names[j], "COOKIE") == 0)
                self->offered |= EXG_TOR_AUTH_COOKIE;
              else if (strcmp (names[j], "HASHEDPASSWORD") == 0)
                self->offered |= EXG_TOR_AUTH_HASHEDPASSWORD;
              else if (strcmp (names[j], "NULL") == 0)
                self->offered |= EXG_TOR_AUTH_NULL;
            }
          g_free (self->cookie_file);
          self->cookie_file = g_strdup (exg_torctl_args_lookup (args, "COOKIEFILE"));
        }
      else if (g_strcmp0 (word, "VERSION") == 0)
        {
          g_free (self->tor_version);
          self->tor_version = g_strdup (exg_torctl_args_lookup (args, "Tor"));
        }
    }

  if ((self->offered & self->allowed & (EXG_TOR_AUTH_SAFECOOKIE | EXG_TOR_AUTH_COOKIE)) &&
      self->cookie_file != NULL && g_path_is_absolute (self->cookie_file))
    {
      g_autoptr(GFile) file = g_file_new_for_path (self->cookie_file);

      g_file_load_contents_async (file, self->cancellable, cookie_loaded_cb,
                                  g_object_ref (self));
      return;
    }
  choose_auth (self, NULL);
}

static void
socket_connected_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(ExgTorControl) self = user_data;
  GError *error = NULL;
  GSocketConnection *conn;

  conn = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  if (self->state == STATE_CLOSED)
    {
      g_clear_object (&conn);
      g_clear_error (&error);
      return;
    }
  if (conn == NULL)
    {
      connect_fail (self, error);
      return;
    }
  /* the client's timeout is for connecting; a control connection is
   * quiet for as long as tor has nothing to say (a tor waiting with
   * DisableNetwork 1, a bootstrapped tor between consensuses) */
  g_socket_set_timeout (g_socket_connection_get_socket (conn), 0);
  self->stream = G_IO_STREAM (conn);
  exg_tor_control_start_read_ (self);
  send_internal (self, "PROTOCOLINFO 1", protocolinfo_cb, NULL);
}

static void
connect_cancelled_cb (GCancellable  *cancellable,
                      ExgTorControl *self)
{
  /* runs in the thread that cancelled; the close happens on ours */
  g_cancellable_cancel (self->cancellable);
}

/**
 * exg_tor_control_connect_async:
 * @self: a client that has not connected yet
 * @address: "HOST:PORT" or the absolute path of a unix socket
 * @password: (nullable): the control password, for HASHEDPASSWORD
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when connected and authenticated, or failed
 * @user_data: for @callback
 *
 * Connects and authenticates as PROTOCOLINFO offers: SAFECOOKIE (checking
 * tor's own proof of the cookie), then COOKIE, then HASHEDPASSWORD when
 * @password is given, then NULL.  A client connects once; make a new one
 * to reconnect.
 */
void
exg_tor_control_connect_async (ExgTorControl       *self,
                               const char          *address,
                               const char          *password,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GSocketClient) client = NULL;
  g_autoptr(GSocketConnectable) connectable = NULL;
  GError *error = NULL;

  g_return_if_fail (EXG_IS_TOR_CONTROL (self));
  g_return_if_fail (address != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, exg_tor_control_connect_async);

  if (self->state != STATE_NEW)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_BUSY,
                               "This tor control client was already used");
      return;
    }

  if (address[0] == '/')
    connectable = G_SOCKET_CONNECTABLE (g_unix_socket_address_new (address));
  else
    connectable = g_network_address_parse (address, 9051, &error);
  if (connectable == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  self->state = STATE_AUTHENTICATING;
  self->password = g_strdup (password);
  self->connect_task = g_object_ref (task);
  if (cancellable != NULL)
    {
      self->connect_cancellable = g_object_ref (cancellable);
      self->connect_cancel_id = g_cancellable_connect (cancellable,
                                                       G_CALLBACK (connect_cancelled_cb),
                                                       self, NULL);
    }

  client = g_socket_client_new ();
  /* never through the desktop's proxy, which may be us */
  g_socket_client_set_enable_proxy (client, FALSE);
  g_socket_client_set_timeout (client, 30);
  g_socket_client_connect_async (client, connectable, self->cancellable,
                                 socket_connected_cb, g_object_ref (self));
}

/**
 * exg_tor_control_connect_finish:
 * @self: a client
 * @result: the result
 * @error: return location for an error
 *
 * Returns: %TRUE when connected and authenticated
 */
gboolean
exg_tor_control_connect_finish (ExgTorControl  *self,
                                GAsyncResult   *result,
                                GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * exg_tor_control_is_connected:
 * @self: a client
 *
 * Returns: whether commands can be sent: authenticated and not closed
 */
gboolean
exg_tor_control_is_connected (ExgTorControl *self)
{
  g_return_val_if_fail (EXG_IS_TOR_CONTROL (self), FALSE);

  return self->state == STATE_CONNECTED;
}

/**
 * exg_tor_control_get_auth_offered:
 * @self: a client
 *
 * Returns: the methods tor's PROTOCOLINFO listed
 */
ExgTorAuthMethod
exg_tor_control_get_auth_offered (ExgTorControl *self)
{
  g_return_val_if_fail (EXG_IS_TOR_CONTROL (self), EXG_TOR_AUTH_NONE);

  return self->offered;
}

/**
 * exg_tor_control_get_auth_used:
 * @self: a client
 *
 * Returns: the method that authenticated, or %EXG_TOR_AUTH_NONE
 */
ExgTorAuthMethod
exg_tor_control_get_auth_used (ExgTorControl *self)
{
  g_return_val_if_fail (EXG_IS_TOR_CONTROL (self), EXG_TOR_AUTH_NONE);

  return self->used;
}

/**
 * exg_tor_control_get_tor_version:
 * @self: a client
 *
 * Returns: (nullable): tor's version from PROTOCOLINFO
 */
const char *
exg_tor_control_get_tor_version (ExgTorControl *self)
{
  g_return_val_if_fail (EXG_IS_TOR_CONTROL (self), NULL);

  return self->tor_version;
}

