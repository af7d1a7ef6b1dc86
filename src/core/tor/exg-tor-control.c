/* exg-tor-control.c: an asynchronous client of tor's control port.
 *
 * One connection, one command in flight (control-spec §2.3: replies come
 * in the order of the commands), the rest queued.  Bytes go through the
 * pure parser in src/proto; complete replies are delivered in the order
 * tor wrote them: a command's reply completes its task, a 650 reply is
 * emitted as ::event.
 *
 * The order matters more than it seems.  On loopback, "650 CIRC 21 BUILT"
 * can arrive in the same read as "250 EXTENDED 21", and a caller learns
 * the id 21 only in its callback for the reply.  So after completing a
 * command's task, delivery stops until that task's callback has run
 * (GTask's notify::completed), and only then is the next event emitted.
 * Reading stops meanwhile too, so nothing piles up unbounded.
 *
 * Command text is never logged: commands such as RESOLVE carry target
 * names.  Only the keyword goes to g_debug.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-tor-control.h"

#include "exg-error.h"

#include <gio/gunixsocketaddress.h>
#include <string.h>
#include <sys/random.h>

#define READ_SIZE         16384
#define COOKIE_LEN        32
#define NONCE_LEN         32

/* control-spec §3.24 */
#define SAFECOOKIE_SERVER_KEY "Tor safe cookie authentication server-to-controller hash"
#define SAFECOOKIE_CLIENT_KEY "Tor safe cookie authentication controller-to-server hash"

typedef enum {
  STATE_NEW,
  STATE_AUTHENTICATING,
  STATE_CONNECTED,
  STATE_CLOSED,
} State;

typedef struct {
  GTask *task;   /* owned */
  char  *line;   /* the command with its CRLF */
} Command;

struct _ExgTorControl
{
  GObject           parent_instance;

  State             state;
  ExgTorAuthMethod  allowed;
  ExgTorAuthMethod  offered;
  ExgTorAuthMethod  used;
  char             *tor_version;
  char             *cookie_file;
  char             *password;        /* only while authenticating */
  GTask            *connect_task;    /* owned; NULL once connected or failed */
  guint8            client_nonce[NONCE_LEN];
  GBytes           *cookie;          /* owned, while authenticating */
  GCancellable     *connect_cancellable;  /* owned; the caller's, while connecting */
  gulong            connect_cancel_id;

  GIOStream        *stream;          /* owned; NULL until connected */
  GCancellable     *cancellable;     /* owned; cancels our reads and writes */
  ExgTorctlParser  *parser;          /* owned */
  guint8           *buf;             /* owned, READ_SIZE bytes */
  gboolean          reading;
  gboolean          writing;         /* a write is outstanding: its reply
                                      * may be read before its callback */

  GQueue            commands;        /* of Command*, owned, not yet written */
  Command          *in_flight;       /* owned; written, awaiting its reply */
  GQueue            deliveries;      /* of ExgTorctlReply*, owned */
  GTask            *blocking;        /* owned; a returned task whose callback
                                      * has not run: deliveries wait for it */
  gulong            blocking_id;
  gboolean          delivering;
  gboolean          eof;
};

enum {
  SIGNAL_EVENT,
  SIGNAL_CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (ExgTorControl, exg_tor_control, G_TYPE_OBJECT)

static void start_read         (ExgTorControl *self);
static void maybe_write        (ExgTorControl *self);
static void process_deliveries (ExgTorControl *self);

static void
command_free (Command *cmd)
{
  g_clear_object (&cmd->task);
  g_free (cmd->line);
  g_free (cmd);
}

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

static void
disconnect_cancellable (ExgTorControl *self)
{
  if (self->connect_cancellable != NULL)
    {
      g_cancellable_disconnect (self->connect_cancellable, self->connect_cancel_id);
      self->connect_cancel_id = 0;
      g_clear_object (&self->connect_cancellable);
    }
}

/* Fails every command, queued or in flight, and drops what was not
 * delivered.  Emits ::closed when the connection had been up and @emit. */
static void
close_internal (ExgTorControl *self,
                const GError  *error,
                gboolean       emit)
{
  gboolean was_connected = self->state == STATE_CONNECTED;
  Command *cmd;
  ExgTorctlReply *reply;
  const char *why;

  if (self->state == STATE_CLOSED)
    return;
  self->state = STATE_CLOSED;
  g_cancellable_cancel (self->cancellable);
  why = error != NULL ? error->message : "The tor control connection was closed";

  g_object_ref (self);

  if (self->in_flight != NULL)
    {
      cmd = g_steal_pointer (&self->in_flight);
      g_task_return_new_error (cmd->task, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "%s", why);
      command_free (cmd);
    }
  while ((cmd = g_queue_pop_head (&self->commands)) != NULL)
    {
      g_task_return_new_error (cmd->task, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "%s", why);
      command_free (cmd);
    }
  while ((reply = g_queue_pop_head (&self->deliveries)) != NULL)
    exg_torctl_reply_unref (reply);

  if (self->stream != NULL)
    g_io_stream_close (self->stream, NULL, NULL);

  g_clear_pointer (&self->password, g_free);
  g_clear_pointer (&self->cookie, g_bytes_unref);
  disconnect_cancellable (self);

  if (self->connect_task != NULL)
    {
      GTask *task = g_steal_pointer (&self->connect_task);

      if (error != NULL)
        g_task_return_error (task, g_error_copy (error));
      else
        g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "%s", why);
      g_object_unref (task);
    }

  if (was_connected && emit)
    g_signal_emit (self, signals[SIGNAL_CLOSED], 0, error);

  g_object_unref (self);
}

static void
fail_connection (ExgTorControl *self,
                 GIOErrorEnum   code,
                 const char    *message)
{
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, code, message);

  close_internal (self, error, TRUE);
}

static void
write_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(ExgTorControl) self = user_data;
  g_autoptr(GError) error = NULL;

  self->writing = FALSE;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      if (self->state != STATE_CLOSED)
        close_internal (self, error, TRUE);
      return;
    }
  maybe_write (self);
}

static void
maybe_write (ExgTorControl *self)
{
  GOutputStream *out;

  if (self->in_flight != NULL || self->writing ||
      self->state == STATE_CLOSED || self->stream == NULL)
    return;
  self->in_flight = g_queue_pop_head (&self->commands);
  if (self->in_flight == NULL)
    return;

  out = g_io_stream_get_output_stream (self->stream);
  self->writing = TRUE;
  g_output_stream_write_all_async (out, self->in_flight->line,
                                   strlen (self->in_flight->line),
                                   G_PRIORITY_DEFAULT, self->cancellable,
                                   write_cb, g_object_ref (self));
}

/* Queues @command (no CRLF) with its @task. */
static void
enqueue (ExgTorControl *self,
         const char    *command,
         GTask         *task)
{
  Command *cmd = g_new0 (Command, 1);

  g_debug ("tor control: sending %.*s", (int) strcspn (command, " "), command);
  cmd->task = g_object_ref (task);
  cmd->line = g_strconcat (command, "\r\n", NULL);
  g_queue_push_tail (&self->commands, cmd);
  maybe_write (self);
}

static void
blocking_done_cb (GObject    *object,
                  GParamSpec *pspec,
                  gpointer    user_data)
{
  ExgTorControl *self = user_data;

  if (object != (GObject *) self->blocking)
    return;
  g_clear_signal_handler (&self->blocking_id, self->blocking);
  g_clear_object (&self->blocking);
  if (!self->delivering)
    process_deliveries (self);
}

static void
deliver (ExgTorControl  *self,
         ExgTorctlReply *reply)
{
  Command *cmd;
  GTask *task;

  if (reply->is_event)
    {
      GQuark detail = g_quark_try_string (reply->event);

      /* g_quark_try_string: no quark is made from tor's bytes, so hostile
       * keywords cannot grow the quark table */
      g_signal_emit (self, signals[SIGNAL_EVENT], detail, reply->event, reply);
      exg_torctl_reply_unref (reply);
      return;
    }

  cmd = g_steal_pointer (&self->in_flight);
  if (cmd == NULL)
    {
      exg_torctl_reply_unref (reply);
      fail_connection (self, G_IO_ERROR_INVALID_DATA,
                       "tor sent a reply to no command");
      return;
    }

  task = g_steal_pointer (&cmd->task);
  command_free (cmd);

  self->blocking = g_object_ref (task);
  self->blocking_id = g_signal_connect (task, "notify::completed",
                                        G_CALLBACK (blocking_done_cb), self);
  if (exg_torctl_reply_is_success (reply))
    g_task_return_pointer (task, reply, (GDestroyNotify) exg_torctl_reply_unref);
  else
    {
      g_task_return_new_error (task, EXG_ERROR, EXG_ERROR_TOR_CONTROL,
                               "tor refused the command: %u %s", reply->status,
                               exg_torctl_reply_get_message (reply));
      exg_torctl_reply_unref (reply);
    }
  g_object_unref (task);

  maybe_write (self);
}

static void
process_deliveries (ExgTorControl *self)
{
  ExgTorctlReply *reply;

  g_object_ref (self);
  self->delivering = TRUE;
  while (self->blocking == NULL && self->state != STATE_CLOSED &&
         (reply = g_queue_pop_head (&self->deliveries)) != NULL)
    deliver (self, reply);
  self->delivering = FALSE;

  if (self->state != STATE_CLOSED && self->blocking == NULL &&
      g_queue_is_empty (&self->deliveries))
    {
      if (self->eof)
        fail_connection (self, G_IO_ERROR_CONNECTION_CLOSED,
                         "tor closed the control connection");
      else
        start_read (self);
    }
  g_object_unref (self);
}

static void
read_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(ExgTorControl) self = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  gsize off = 0;

  self->reading = FALSE;
  if (self->state == STATE_CLOSED)
    return;
  if (n < 0)
    {
      close_internal (self, error, TRUE);
      return;
    }
  if (n == 0)
    self->eof = TRUE;

  while (off < (gsize) n)
    {
      ExgTorctlReply *reply = NULL;
      gsize used = 0;

      switch (exg_torctl_parser_feed (self->parser, self->buf + off, (gsize) n - off,
                                      &used, &reply))
        {
        case EXG_TORCTL_PARSE_REPLY:
          g_queue_push_tail (&self->deliveries, reply);
          break;
        case EXG_TORCTL_PARSE_NEED_MORE:
          break;
        case EXG_TORCTL_PARSE_ERROR:
        default:
          g_warning ("tor control: %s", exg_torctl_parser_get_error (self->parser));
          fail_connection (self, G_IO_ERROR_INVALID_DATA,
                           "tor sent a malformed control reply");
          return;
        }
      off += used;
    }

  process_deliveries (self);
}

static void
start_read (ExgTorControl *self)
{
  if (self->reading || self->eof || self->state == STATE_CLOSED ||
      self->stream == NULL || self->blocking != NULL)
    return;
  self->reading = TRUE;
  g_input_stream_read_async (g_io_stream_get_input_stream (self->stream),
                             self->buf, READ_SIZE, G_PRIORITY_DEFAULT,
                             self->cancellable, read_cb, g_object_ref (self));
}

static void
exg_tor_control_dispose (GObject *object)
{
  ExgTorControl *self = EXG_TOR_CONTROL (object);

  close_internal (self, NULL, FALSE);
  if (self->blocking != NULL)
    {
      g_clear_signal_handler (&self->blocking_id, self->blocking);
      g_clear_object (&self->blocking);
    }
  g_clear_object (&self->stream);

  G_OBJECT_CLASS (exg_tor_control_parent_class)->dispose (object);
}

static void
exg_tor_control_finalize (GObject *object)
{
  ExgTorControl *self = EXG_TOR_CONTROL (object);

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->parser, exg_torctl_parser_free);
  g_free (self->buf);
  g_free (self->tor_version);
  g_free (self->cookie_file);

  G_OBJECT_CLASS (exg_tor_control_parent_class)->finalize (object);
}

static void
exg_tor_control_class_init (ExgTorControlClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = exg_tor_control_dispose;
  object_class->finalize = exg_tor_control_finalize;

  /**
   * ExgTorControl::event:
   * @self: the client
   * @keyword: the event keyword, e.g. "CIRC"
   * @reply: (type ExgTorctlReply): the whole 650 reply, valid during
   *   the emission (take a ref to keep it)
   *
   * An asynchronous event, in the order tor sent it.  Detailed by the
   * keyword: connect to "event::CIRC" for circuit events only.
   */
  signals[SIGNAL_EVENT] =
    g_signal_new ("event", G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_POINTER);

  /**
   * ExgTorControl::closed:
   * @self: the client
   * @error: (nullable): why, or %NULL after exg_tor_control_close()
   *
   * The connection is gone: tor closed it or went away, it broke, or it
   * was closed here.  Every command still pending has failed with
   * %G_IO_ERROR_CONNECTION_CLOSED before this is emitted.  Emitted once,
   * and only after a successful connect.
   */
  signals[SIGNAL_CLOSED] =
    g_signal_new ("closed", G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
exg_tor_control_init (ExgTorControl *self)
{
  self->allowed = EXG_TOR_AUTH_ALL;
  self->cancellable = g_cancellable_new ();
  self->parser = exg_torctl_parser_new ();
  self->buf = g_malloc (READ_SIZE);
  g_queue_init (&self->commands);
  g_queue_init (&self->deliveries);
}

/**
 * exg_tor_control_new:
 *
 * Returns: (transfer full): a client, not yet connected
 */
ExgTorControl *
exg_tor_control_new (void)
{
  return g_object_new (EXG_TYPE_TOR_CONTROL, NULL);
}

/**
 * exg_tor_control_set_allowed_auth:
 * @self: a client
 * @methods: the methods that may be used
 *
 * Restricts authentication to @methods (all by default), e.g. to refuse
 * the deprecated COOKIE method.  Takes effect at the next connect.
 */
void
exg_tor_control_set_allowed_auth (ExgTorControl    *self,
                                  ExgTorAuthMethod  methods)
{
  g_return_if_fail (EXG_IS_TOR_CONTROL (self));

  self->allowed = methods;
}

/* ---- connecting and authenticating ------------------------------------ */

static void
connect_fail (ExgTorControl *self,
              GError        *error)
{
  g_autoptr(GError) owned = error;

  close_internal (self, owned, FALSE);
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
  disconnect_cancellable (self);
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
  enqueue (self, command, task);
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
  start_read (self);
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

/* ---- commands ---------------------------------------------------------- */

/**
 * exg_tor_control_send_async:
 * @self: a connected client
 * @command: one command line, without CRLF, e.g. "GETINFO version"
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with tor's reply
 * @user_data: for @callback
 *
 * Queues @command; it is written when the commands before it have been
 * answered.  Events that tor sends after the reply are emitted only after
 * @callback has returned, so the callback can start waiting for them.
 * Cancelling does not withdraw a written command: its reply is still read,
 * and the task then fails with %G_IO_ERROR_CANCELLED.
 */
void
exg_tor_control_send_async (ExgTorControl       *self,
                            const char          *command,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (EXG_IS_TOR_CONTROL (self));
  g_return_if_fail (command != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, exg_tor_control_send_async);

  if (strpbrk (command, "\r\n") != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "A control command must be one line");
      return;
    }
  if (self->state != STATE_CONNECTED)
    {
      g_task_return_new_error (task, G_IO_ERROR,
                               self->state == STATE_CLOSED
                               ? G_IO_ERROR_CONNECTION_CLOSED
                               : G_IO_ERROR_NOT_CONNECTED,
                               "Not connected to tor's control port");
      return;
    }
  enqueue (self, command, task);
}

/**
 * exg_tor_control_send_finish:
 * @self: a client
 * @result: the result
 * @error: return location for an error: %EXG_ERROR_TOR_CONTROL when tor
 *   answered 4xx/5xx (the message holds the status and tor's text),
 *   %G_IO_ERROR_CONNECTION_CLOSED when the connection went away first
 *
 * Returns: (transfer full) (nullable): tor's 2xx reply
 */
ExgTorctlReply *
exg_tor_control_send_finish (ExgTorControl  *self,
                             GAsyncResult   *result,
                             GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
getinfo_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(ExgTorctlReply) reply = NULL;
  GError *error = NULL;
  const char *key = g_task_get_task_data (task);
  const char *value;

  reply = exg_tor_control_send_finish (EXG_TOR_CONTROL (source), result, &error);
  if (reply == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  value = exg_torctl_reply_lookup (reply, key);
  if (value == NULL)
    g_task_return_new_error (task, EXG_ERROR, EXG_ERROR_TOR_CONTROL,
                             "tor's GETINFO reply has no value for %s", key);
  else
    g_task_return_pointer (task, g_strdup (value), g_free);
}

/**
 * exg_tor_control_getinfo_async:
 * @self: a connected client
 * @key: one GETINFO key, e.g. "status/bootstrap-phase"
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the value
 * @user_data: for @callback
 *
 * Sends "GETINFO @key" and picks out its value.
 */
void
exg_tor_control_getinfo_async (ExgTorControl       *self,
                               const char          *key,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *command = NULL;

  g_return_if_fail (EXG_IS_TOR_CONTROL (self));
  g_return_if_fail (key != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, exg_tor_control_getinfo_async);
  g_task_set_task_data (task, g_strdup (key), g_free);
  command = g_strconcat ("GETINFO ", key, NULL);
  exg_tor_control_send_async (self, command, cancellable, getinfo_cb,
                              g_steal_pointer (&task));
}

/**
 * exg_tor_control_getinfo_finish:
 * @self: a client
 * @result: the result
 * @error: return location for an error
 *
 * Returns: (transfer full) (nullable): the value as tor wrote it (still
 *   quoted where tor quotes it); a data block for multi-line values
 */
char *
exg_tor_control_getinfo_finish (ExgTorControl  *self,
                                GAsyncResult   *result,
                                GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* "127.0.0.1:9050", "[::1]:9050" or "unix:/path" */
static GSocketAddress *
parse_listener (const char *text)
{
  g_autoptr(GInetAddress) inet = NULL;
  g_autofree char *host = NULL;
  const char *colon;
  guint64 port;
  char *end = NULL;

  if (g_str_has_prefix (text, "unix:"))
    return g_unix_socket_address_new (text + 5);

  colon = strrchr (text, ':');
  if (colon == NULL)
    return NULL;
  port = g_ascii_strtoull (colon + 1, &end, 10);
  if (end == colon + 1 || *end != '\0' || port == 0 || port > 65535)
    return NULL;
  if (text[0] == '[' && colon > text + 1 && colon[-1] == ']')
    host = g_strndup (text + 1, (gsize) (colon - text) - 2);
  else
    host = g_strndup (text, (gsize) (colon - text));
  inet = g_inet_address_new_from_string (host);
  if (inet == NULL)
    return NULL;
  return g_inet_socket_address_new (inet, (guint16) port);
}

static void
socks_listeners_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autofree char *value = NULL;
  g_autoptr(ExgTorctlArgs) args = NULL;
  GError *error = NULL;
  guint i, n;

  value = exg_tor_control_getinfo_finish (EXG_TOR_CONTROL (source), result, &error);
  if (value == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  /* control-spec §3.9: a space-separated list of quoted addresses */
  args = exg_torctl_args_parse (value);
  n = args != NULL ? exg_torctl_args_get_n_positional (args) : 0;
  for (i = 0; i < n; i++)
    {
      GSocketAddress *address = parse_listener (exg_torctl_args_get_positional (args, i));

      if (address != NULL)
        {
          g_task_return_pointer (task, address, g_object_unref);
          return;
        }
    }
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                           "tor has no SocksPort open");
}

/**
 * exg_tor_control_get_socks_address_async:
 * @self: a connected client
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the address
 * @user_data: for @callback
 *
 * Asks tor where its SocksPort listens ("GETINFO net/listeners/socks").
 */
void
exg_tor_control_get_socks_address_async (ExgTorControl       *self,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (EXG_IS_TOR_CONTROL (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, exg_tor_control_get_socks_address_async);
  exg_tor_control_getinfo_async (self, "net/listeners/socks", cancellable,
                                 socks_listeners_cb, g_steal_pointer (&task));
}

/**
 * exg_tor_control_get_socks_address_finish:
 * @self: a client
 * @result: the result
 * @error: return location for an error; %G_IO_ERROR_NOT_FOUND when tor
 *   has no SocksPort
 *
 * Returns: (transfer full) (nullable): the first SocksPort listener: a
 *   #GInetSocketAddress, or a #GUnixSocketAddress for "unix:" listeners
 */
GSocketAddress *
exg_tor_control_get_socks_address_finish (ExgTorControl  *self,
                                          GAsyncResult   *result,
                                          GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * exg_tor_control_close:
 * @self: a client
 *
 * Closes the connection.  Pending commands fail with
 * %G_IO_ERROR_CONNECTION_CLOSED, then ::closed is emitted with a %NULL
 * error (if the client was connected).  Safe to call more than once.
 */
void
exg_tor_control_close (ExgTorControl *self)
{
  g_return_if_fail (EXG_IS_TOR_CONTROL (self));

  close_internal (self, NULL, TRUE);
}
