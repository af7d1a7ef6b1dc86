/* test-tor-control.c: ExgTorControl and ExgTorProcess against a real tor.
 *
 * Every tor started here has "DisableNetwork 1", a temporary
 * DataDirectory and loopback ports chosen by tor ("auto"), and is killed
 * by its pid when the test ends.  The control port works fully offline.
 * One test uses a scripted fake tor on loopback instead, to send an event
 * in the same segment as a reply.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-error.h"
#include "exg-test-util.h"
#include "exg-tor-control.h"
#include "exg-tor-process.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOR       EXG_TOR_PROCESS_DEFAULT_TOR
#define WAIT_SECS 30

typedef struct {
  char         *dir;
  GSubprocess  *tor;
  GFileMonitor *monitor;
  char         *address;
  ExgTorControl *control;
} Fixture;

typedef enum {
  AUTH_COOKIE,      /* CookieAuthentication 1 */
  AUTH_PASSWORD,    /* HashedControlPassword */
  AUTH_NONE,
} AuthSetup;

static const char password[] = "correct \"horse\" battery";

/* tor validates a whole config even to hash: it needs a DataDirectory
 * (the default is under $HOME, which the test isolates away). */
static char *
hash_password (const char *pw,
               const char *data_dir)
{
  const char *argv[] = { TOR, "--quiet", "--DataDirectory", data_dir,
                         "--hash-password", pw, NULL };
  g_autofree char *out = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) lines = NULL;
  int status;
  int i;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  lines = g_strsplit (out, "\n", -1);
  for (i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "16:"))
      return g_strdup (lines[i]);
  g_assert_not_reached ();
}

static gboolean
port_file_ready (gpointer data)
{
  Fixture *f = data;
  g_autofree char *path = g_build_filename (f->dir, "control-port", NULL);
  g_autofree char *contents = NULL;
  char *nl;

  if (!g_file_get_contents (path, &contents, NULL, NULL) ||
      !g_str_has_prefix (contents, "PORT=") || (nl = strchr (contents, '\n')) == NULL)
    return FALSE;
  *nl = '\0';
  /* the waiter asks once more after the first yes */
  g_free (f->address);
  f->address = g_strdup (contents + 5);
  return TRUE;
}

static void
start_tor (Fixture   *f,
           AuthSetup  auth)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GFile) dir = NULL;
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("exg-tor-XXXXXX", &error);
  g_assert_no_error (error);
  dir = g_file_new_for_path (f->dir);
  f->monitor = g_file_monitor_directory (dir, G_FILE_MONITOR_WATCH_MOVES, NULL, &error);
  g_assert_no_error (error);

#define ARG(s) g_ptr_array_add (argv, g_strdup (s))
  ARG (TOR);
  ARG ("--defaults-torrc"); ARG ("/dev/null");
  /* tor refuses "-f /dev/null": an empty torrc of our own */
  ARG ("-f"); g_ptr_array_add (argv, g_build_filename (f->dir, "torrc", NULL));
  g_assert_true (g_file_set_contents (g_ptr_array_index (argv, argv->len - 1), "", 0, NULL));
  ARG ("--DataDirectory"); ARG (f->dir);
  ARG ("--DisableNetwork"); ARG ("1");          /* never the public network */
  ARG ("--SocksPort"); ARG ("auto");
  ARG ("--ControlPort"); ARG ("auto");
  ARG ("--ControlPortWriteToFile");
  g_ptr_array_add (argv, g_build_filename (f->dir, "control-port", NULL));
  ARG ("--Log"); g_ptr_array_add (argv, g_strdup_printf ("notice file %s/notice.log", f->dir));
  ARG ("--RunAsDaemon"); ARG ("0");
  switch (auth)
    {
    case AUTH_COOKIE:
      ARG ("--CookieAuthentication"); ARG ("1");
      break;
    case AUTH_PASSWORD:
      ARG ("--HashedControlPassword");
      g_ptr_array_add (argv, hash_password (password, f->dir));
      break;
    case AUTH_NONE:
    default:
      break;
    }
#undef ARG
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_child_setup (launcher, exg_test_die_with_parent, NULL, NULL);
  f->tor = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);

  exg_test_wait_until (port_file_ready, f, WAIT_SECS);
  g_assert_true (g_str_has_prefix (f->address, "127.0.0.1:"));
}

static void
kill_tor (Fixture *f)
{
  g_autoptr(GAsyncResult) result = NULL;

  if (f->tor == NULL)
    return;
  /* by its pid, through the GSubprocess that started it */
  g_subprocess_force_exit (f->tor);
  g_subprocess_wait_async (f->tor, NULL, exg_test_result_cb, &result);
  exg_test_wait_result (&result, WAIT_SECS);
  g_clear_object (&f->tor);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  if (f->control != NULL)
    exg_tor_control_close (f->control);
  g_clear_object (&f->control);
  kill_tor (f);
  g_clear_object (&f->monitor);
  if (f->dir != NULL)
    {
      /* tor's files: a flat directory plus keys/ */
      const char *argv[] = { "rm", "-rf", f->dir, NULL };

      g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                    NULL, NULL, NULL, NULL);
    }
  g_free (f->dir);
  g_free (f->address);
}

static ExgTorControl *
connect_control (Fixture          *f,
                 ExgTorAuthMethod  allowed,
                 const char       *pw,
                 GError          **error)
{
  g_autoptr(ExgTorControl) control = exg_tor_control_new ();
  g_autoptr(GAsyncResult) result = NULL;

  exg_tor_control_set_allowed_auth (control, allowed);
  exg_tor_control_connect_async (control, f->address, pw, NULL, exg_test_result_cb, &result);
  exg_test_wait_result (&result, WAIT_SECS);
  if (!exg_tor_control_connect_finish (control, result, error))
    return NULL;
  return g_steal_pointer (&control);
}

static ExgTorctlReply *
send_sync (ExgTorControl  *control,
           const char     *command,
           GError        **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  exg_tor_control_send_async (control, command, NULL, exg_test_result_cb, &result);
  exg_test_wait_result (&result, WAIT_SECS);
  return exg_tor_control_send_finish (control, result, error);
}

static void
test_auth_safecookie (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  start_tor (f, AUTH_COOKIE);
  f->control = connect_control (f, EXG_TOR_AUTH_ALL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (exg_tor_control_is_connected (f->control));
  /* PROTOCOLINFO: "250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE=…" */
  g_assert_cmpint (exg_tor_control_get_auth_offered (f->control), ==,
                   EXG_TOR_AUTH_COOKIE | EXG_TOR_AUTH_SAFECOOKIE);
  g_assert_cmpint (exg_tor_control_get_auth_used (f->control), ==, EXG_TOR_AUTH_SAFECOOKIE);
  g_assert_nonnull (exg_tor_control_get_tor_version (f->control));
  g_assert_true (g_str_has_prefix (exg_tor_control_get_tor_version (f->control), "0."));
}

static void
test_auth_cookie (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  start_tor (f, AUTH_COOKIE);
  f->control = connect_control (f, EXG_TOR_AUTH_COOKIE, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (exg_tor_control_get_auth_used (f->control), ==, EXG_TOR_AUTH_COOKIE);
}

static void
test_auth_hashedpassword (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ExgTorControl) wrong = NULL;
  g_autoptr(ExgTorControl) none = NULL;

  start_tor (f, AUTH_PASSWORD);

  wrong = connect_control (f, EXG_TOR_AUTH_ALL, "wrong password", &error);
  g_assert_null (wrong);
  g_assert_error (error, EXG_ERROR, EXG_ERROR_TOR_CONTROL);
  g_assert_nonnull (strstr (error->message, "515"));
  g_clear_error (&error);

  none = connect_control (f, EXG_TOR_AUTH_ALL, NULL, &error);
  g_assert_null (none);
  g_assert_error (error, EXG_ERROR, EXG_ERROR_TOR_CONTROL);
  g_clear_error (&error);

  f->control = connect_control (f, EXG_TOR_AUTH_ALL, password, &error);
  g_assert_no_error (error);
  g_assert_cmpint (exg_tor_control_get_auth_offered (f->control), ==, EXG_TOR_AUTH_HASHEDPASSWORD);
  g_assert_cmpint (exg_tor_control_get_auth_used (f->control), ==, EXG_TOR_AUTH_HASHEDPASSWORD);
}

static void
test_auth_null (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ExgTorctlReply) reply = NULL;

  start_tor (f, AUTH_NONE);
  f->control = connect_control (f, EXG_TOR_AUTH_ALL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (exg_tor_control_get_auth_offered (f->control), ==, EXG_TOR_AUTH_NULL);
  g_assert_cmpint (exg_tor_control_get_auth_used (f->control), ==, EXG_TOR_AUTH_NULL);
  reply = send_sync (f->control, "GETINFO version", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (reply->status, ==, 250);
}

static void
test_getinfo_and_error (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(ExgTorctlReply) bad = NULL;
  g_autoptr(ExgTorctlReply) conf = NULL;
  g_autofree char *version = NULL;

  start_tor (f, AUTH_COOKIE);
  f->control = connect_control (f, EXG_TOR_AUTH_ALL, NULL, &error);
  g_assert_no_error (error);

  exg_tor_control_getinfo_async (f->control, "version", NULL, exg_test_result_cb, &result);
  exg_test_wait_result (&result, WAIT_SECS);
  version = exg_tor_control_getinfo_finish (f->control, result, &error);
  g_assert_no_error (error);
  /* "0.4.9.11" from PROTOCOLINFO; GETINFO may add " (git-…)" */
  g_assert_true (g_str_has_prefix (version, exg_tor_control_get_tor_version (f->control)));

  bad = send_sync (f->control, "GETINFO no/such/key", &error);
  g_assert_null (bad);
  g_assert_error (error, EXG_ERROR, EXG_ERROR_TOR_CONTROL);
  g_assert_true (g_str_has_prefix (error->message, "tor refused the command: 552 "));
  g_clear_error (&error);

  /* still usable after an error; DisableNetwork as we started it */
  conf = send_sync (f->control, "GETCONF DisableNetwork", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (exg_torctl_reply_lookup (conf, "DisableNetwork"), ==, "1");
}

typedef struct {
  GPtrArray *order;   /* of char*: what completed, in order */
} Order;

static void
ordered_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  GPtrArray *order = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(ExgTorctlReply) reply = exg_tor_control_send_finish (EXG_TOR_CONTROL (source),
                                                                 result, &error);

  if (reply == NULL)
    g_ptr_array_add (order, g_strdup_printf ("error %d", error->code));
  else
    g_ptr_array_add (order, g_strdup (reply->lines[0].text));
}

static gboolean
has_n (gpointer data)
{
  GPtrArray *a = data;

  return a->len >= 5;
}

static void
test_queued_in_order (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) order = g_ptr_array_new_with_free_func (g_free);

  start_tor (f, AUTH_COOKIE);
  f->control = connect_control (f, EXG_TOR_AUTH_ALL, NULL, &error);
  g_assert_no_error (error);

  /* all five queued before the first is written */
  exg_tor_control_send_async (f->control, "GETCONF DisableNetwork", NULL, ordered_cb, order);
  exg_tor_control_send_async (f->control, "GETCONF SocksPort", NULL, ordered_cb, order);
  exg_tor_control_send_async (f->control, "GETINFO no/such/key", NULL, ordered_cb, order);
  exg_tor_control_send_async (f->control, "GETCONF ControlPort", NULL, ordered_cb, order);
  exg_tor_control_send_async (f->control, "GETINFO net/listeners/control", NULL, ordered_cb, order);
  exg_test_wait_until (has_n, order, WAIT_SECS);

  g_assert_cmpuint (order->len, ==, 5);
  g_assert_cmpstr (g_ptr_array_index (order, 0), ==, "DisableNetwork=1");
  g_assert_cmpstr (g_ptr_array_index (order, 1), ==, "SocksPort=auto");
  g_assert_cmpstr (g_ptr_array_index (order, 2), ==, "error 5");   /* EXG_ERROR_TOR_CONTROL */
  g_assert_cmpstr (g_ptr_array_index (order, 3), ==, "ControlPort=auto");
  {
    g_autofree char *control = g_strdup_printf ("net/listeners/control=\"%s\"", f->address);

    g_assert_cmpstr (g_ptr_array_index (order, 4), ==, control);
  }
  g_assert_cmpint (EXG_ERROR_TOR_CONTROL, ==, 5);
}

typedef struct {
  GPtrArray *log;
  char      *value;
} Events;

static void
conf_changed_cb (ExgTorControl  *control,
                 const char     *keyword,
                 ExgTorctlReply *reply,
                 Events         *ev)
{
  g_assert_cmpstr (keyword, ==, "CONF_CHANGED");
  g_assert_true (reply->is_event);
  g_ptr_array_add (ev->log, g_strdup ("event"));
  g_free (ev->value);
  ev->value = g_strdup (exg_torctl_reply_lookup (reply, "MaxCircuitDirtiness"));
}

static void
any_event_cb (ExgTorControl  *control,
              const char     *keyword,
              ExgTorctlReply *reply,
              Events         *ev)
{
  g_ptr_array_add (ev->log, g_strdup_printf ("any %s", keyword));
}

static gboolean
has_value (gpointer data)
{
  return ((Events *) data)->value != NULL;
}

static void
test_events (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ExgTorctlReply) r1 = NULL;
  g_autoptr(ExgTorctlReply) r2 = NULL;
  Events ev = { g_ptr_array_new_with_free_func (g_free), NULL };

  start_tor (f, AUTH_COOKIE);
  f->control = connect_control (f, EXG_TOR_AUTH_ALL, NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (f->control, "event::CONF_CHANGED", G_CALLBACK (conf_changed_cb), &ev);
  g_signal_connect (f->control, "event", G_CALLBACK (any_event_cb), &ev);

  r1 = send_sync (f->control, "SETEVENTS CONF_CHANGED", &error);
  g_assert_no_error (error);
  r2 = send_sync (f->control, "SETCONF MaxCircuitDirtiness=777", &error);
  g_assert_no_error (error);
  exg_test_wait_until (has_value, &ev, WAIT_SECS);

  g_assert_cmpstr (ev.value, ==, "777");
  /* the detailed handler and the generic one, once each */
  g_assert_cmpuint (ev.log->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (ev.log, 0), ==, "event");
  g_assert_cmpstr (g_ptr_array_index (ev.log, 1), ==, "any CONF_CHANGED");

  g_ptr_array_unref (ev.log);
  g_free (ev.value);
}

static void
test_socks_address (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autofree char *host = NULL;

  start_tor (f, AUTH_COOKIE);
  f->control = connect_control (f, EXG_TOR_AUTH_ALL, NULL, &error);
  g_assert_no_error (error);

  /* "DisableNetwork 1" opens no SocksPort ("Tor will not make or accept
   * non-control network connections"): tor answers an empty list.  The
   * parsing of real listener lists is tested against the fake tor. */
  exg_tor_control_get_socks_address_async (f->control, NULL, exg_test_result_cb, &result);
  exg_test_wait_result (&result, WAIT_SECS);
  address = exg_tor_control_get_socks_address_finish (f->control, result, &error);
  g_assert_null (address);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_null (host);
}

typedef struct {
  gboolean  closed;
  GError   *error;
  guint     failed;
  guint     failed_closed;
} Closing;

static void
closed_cb (ExgTorControl *control,
           const GError  *error,
           Closing       *c)
{
  g_assert_false (c->closed);
  c->closed = TRUE;
  c->error = error ? g_error_copy (error) : NULL;
  /* every pending command has failed before ::closed */
  g_assert_cmpuint (c->failed, ==, 3);
}

static void
pending_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Closing *c = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(ExgTorctlReply) reply = exg_tor_control_send_finish (EXG_TOR_CONTROL (source),
                                                                 result, &error);

  g_assert_null (reply);
  c->failed++;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
    c->failed_closed++;
}

static gboolean
is_closed (gpointer data)
{
  Closing *c = data;

  return c->closed && c->failed == 3;
}

static void
test_tor_killed (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(ExgTorctlReply) after = NULL;
  Closing c = { 0, };
  int pid, status = 0;

  start_tor (f, AUTH_COOKIE);
  f->control = connect_control (f, EXG_TOR_AUTH_ALL, NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (f->control, "closed", G_CALLBACK (closed_cb), &c);

  /* stop tor first, so that the commands stay unanswered: the first is
   * written at once, and a running tor would answer it */
  pid = atoi (g_subprocess_get_identifier (f->tor));
  g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
  g_assert_cmpint (waitpid (pid, &status, WUNTRACED), ==, pid);
  g_assert_true (WIFSTOPPED (status));

  exg_tor_control_send_async (f->control, "GETINFO version", NULL, pending_cb, &c);
  exg_tor_control_send_async (f->control, "GETINFO version", NULL, pending_cb, &c);
  exg_tor_control_send_async (f->control, "GETINFO version", NULL, pending_cb, &c);
  kill_tor (f);
  exg_test_wait_until (is_closed, &c, WAIT_SECS);

  g_assert_cmpuint (c.failed_closed, ==, 3);
  g_assert_nonnull (c.error);
  g_assert_false (exg_tor_control_is_connected (f->control));

  /* later commands fail at once */
  exg_tor_control_send_async (f->control, "GETINFO version", NULL, exg_test_result_cb, &result);
  exg_test_wait_result (&result, WAIT_SECS);
  after = exg_tor_control_send_finish (f->control, result, &error);
  g_assert_null (after);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_clear_error (&c.error);
}

/* ---- a scripted fake tor: the event right behind the reply -------------- */

typedef struct {
  GSocketService *service;
  guint16         port;
  GSocketConnection *conn;   /* the one client */
  GDataInputStream  *in;
} Fake;

static void fake_read_line (Fake *fake);

static void
fake_line_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Fake *fake = user_data;
  g_autofree char *line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source),
                                                                result, NULL, NULL);
  GOutputStream *out;
  const char *answer;

  if (line == NULL)
    return;
  g_strchomp (line);
  if (strcmp (line, "PROTOCOLINFO 1") == 0)
    answer = "250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n"
             "250-VERSION Tor=\"0.4.9.11\"\r\n250 OK\r\n";
  else if (strcmp (line, "GETINFO net/listeners/socks") == 0)
    answer = "250-net/listeners/socks=\"[::1]:9150\" \"127.0.0.1:9050\"\r\n250 OK\r\n";
  else if (strcmp (line, "GETINFO net/listeners/control") == 0)
    answer = "250-net/listeners/control=\"unix:/run/tor/control\"\r\n250 OK\r\n";
  else if (strcmp (line, "EXTENDCIRCUIT 0") == 0)
    /* one write, so one segment on loopback: the reply and the event
     * that a waiter can only ask for once it has read the reply */
    answer = "250 EXTENDED 21\r\n"
             "650 CIRC 21 BUILT $3C059E5215B75AD4CE698DE83D2B8F9BDBFD1B0D~tnauth3 PURPOSE=GENERAL\r\n"
             "650 CIRC 22 LAUNCHED PURPOSE=GENERAL\r\n";
  else
    answer = "250 OK\r\n";

  out = g_io_stream_get_output_stream (G_IO_STREAM (fake->conn));
  g_assert_true (g_output_stream_write_all (out, answer, strlen (answer), NULL, NULL, NULL));
  fake_read_line (fake);
}

static void
fake_read_line (Fake *fake)
{
  g_data_input_stream_read_line_async (fake->in, G_PRIORITY_DEFAULT, NULL, fake_line_cb, fake);
}

static gboolean
fake_incoming_cb (GSocketService    *service,
                  GSocketConnection *conn,
                  GObject           *source,
                  gpointer           user_data)
{
  Fake *fake = user_data;

  g_assert_null (fake->conn);
  fake->conn = g_object_ref (conn);
  fake->in = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (conn)));
  fake_read_line (fake);
  return TRUE;
}

typedef struct {
  char      *waiting_for;   /* the circuit id the reply named */
  GPtrArray *seen;          /* CIRC events for that id, and others */
  ExgTorControl *control;
} Waiter;

static void
circ_cb (ExgTorControl  *control,
         const char     *keyword,
         ExgTorctlReply *reply,
         Waiter         *w)
{
  g_autoptr(ExgTorctlArgs) args = exg_torctl_args_parse (reply->lines[0].text);
  const char *id = exg_torctl_args_get_positional (args, 1);

  if (w->waiting_for != NULL && g_strcmp0 (id, w->waiting_for) == 0)
    g_ptr_array_add (w->seen, g_strdup_printf ("mine %s", exg_torctl_args_get_positional (args, 2)));
  else
    g_ptr_array_add (w->seen, g_strdup_printf ("other %s", id));
}

static void
extended_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Waiter *w = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(ExgTorctlReply) reply = exg_tor_control_send_finish (EXG_TOR_CONTROL (source),
                                                                 result, &error);
  g_autoptr(ExgTorctlArgs) args = NULL;

  g_assert_no_error (error);
  /* no event has been emitted yet, though tor sent it with the reply */
  g_assert_cmpuint (w->seen->len, ==, 0);
  args = exg_torctl_args_parse (exg_torctl_reply_get_message (reply));
  g_assert_cmpstr (exg_torctl_args_get_positional (args, 0), ==, "EXTENDED");
  w->waiting_for = g_strdup (exg_torctl_args_get_positional (args, 1));
  g_signal_connect (w->control, "event::CIRC", G_CALLBACK (circ_cb), w);
}

static gboolean
seen_two (gpointer data)
{
  return ((Waiter *) data)->seen->len >= 2;
}

static void
test_event_after_reply (void)
{
  Fake fake = { 0, };
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autofree char *address = NULL;
  g_autoptr(ExgTorControl) control = exg_tor_control_new ();
  g_autoptr(ExgTorctlReply) setevents = NULL;
  Waiter w = { NULL, g_ptr_array_new_with_free_func (g_free), control };

  fake.service = g_socket_service_new ();
  g_assert_true (g_socket_listener_add_address (G_SOCKET_LISTENER (fake.service), any,
                                                G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                                NULL, &bound, &error));
  g_assert_no_error (error);
  fake.port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_signal_connect (fake.service, "incoming", G_CALLBACK (fake_incoming_cb), &fake);
  g_socket_service_start (fake.service);

  address = g_strdup_printf ("127.0.0.1:%u", fake.port);
  exg_tor_control_connect_async (control, address, NULL, NULL, exg_test_result_cb, &result);
  exg_test_wait_result (&result, WAIT_SECS);
  g_assert_true (exg_tor_control_connect_finish (control, result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (exg_tor_control_get_auth_used (control), ==, EXG_TOR_AUTH_NULL);

  setevents = send_sync (control, "SETEVENTS CIRC", &error);
  g_assert_no_error (error);
  exg_tor_control_send_async (control, "EXTENDCIRCUIT 0", NULL, extended_cb, &w);
  exg_test_wait_until (seen_two, &w, WAIT_SECS);

  g_assert_cmpuint (w.seen->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (w.seen, 0), ==, "mine BUILT");
  g_assert_cmpstr (g_ptr_array_index (w.seen, 1), ==, "other 22");

  /* a listener list as tor writes it: the first one is taken */
  {
    g_autoptr(GAsyncResult) r = NULL;
    g_autoptr(GSocketAddress) socks = NULL;
    g_autofree char *host = NULL;

    exg_tor_control_get_socks_address_async (control, NULL, exg_test_result_cb, &r);
    exg_test_wait_result (&r, WAIT_SECS);
    socks = exg_tor_control_get_socks_address_finish (control, r, &error);
    g_assert_no_error (error);
    g_assert_true (G_IS_INET_SOCKET_ADDRESS (socks));
    host = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (socks)));
    g_assert_cmpstr (host, ==, "::1");
    g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (socks)), ==, 9150);
  }

  exg_tor_control_close (control);
  g_socket_service_stop (fake.service);
  g_socket_listener_close (G_SOCKET_LISTENER (fake.service));
  g_clear_object (&fake.in);
  g_clear_object (&fake.conn);
  g_clear_object (&fake.service);
  g_ptr_array_unref (w.seen);
  g_free (w.waiting_for);
}

/* ---- the managed process ------------------------------------------------ */

typedef struct {
  int       first_progress;
  int       n_bootstrap;
  gboolean  exited;
  GError   *exit_error;
} Managed;

static void
bootstrap_cb (ExgTorProcess *process,
              int            progress,
              const char    *tag,
              const char    *summary,
              Managed       *m)
{
  g_assert_cmpint (progress, >=, 0);
  g_assert_cmpint (progress, <=, 100);
  g_assert_nonnull (summary);
  if (m->n_bootstrap++ == 0)
    m->first_progress = progress;
}

static void
exited_cb (ExgTorProcess *process,
           const GError  *error,
           Managed       *m)
{
  m->exited = TRUE;
  m->exit_error = error ? g_error_copy (error) : NULL;
}

static gboolean
has_exited (gpointer data)
{
  return ((Managed *) data)->exited;
}

static void
test_process (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("exg-tor-managed-XXXXXX", &error);
  g_autofree char *data_dir = g_build_filename (dir, "tor", NULL);
  g_autofree char *torrc = g_build_filename (dir, "user-torrc", NULL);
  g_autoptr(ExgTorProcess) process = exg_tor_process_new (data_dir);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) result2 = NULL;
  g_autoptr(GAsyncResult) result3 = NULL;
  g_autoptr(ExgTorctlReply) conf = NULL;
  g_autoptr(ExgTorctlReply) owner = NULL;
  g_autoptr(GSocketAddress) socks = NULL;
  g_autofree char *pid = NULL;
  const char *rm[] = { "rm", "-rf", dir, NULL };
  Managed m = { -1, 0, FALSE, NULL };

  g_assert_no_error (error);
  /* a user torrc that would turn the network on: our command line wins */
  g_assert_true (g_file_set_contents (torrc, "DisableNetwork 0\nMaxCircuitDirtiness 601\n", -1, NULL));
  exg_tor_process_set_torrc_file (process, torrc);
  exg_tor_process_add_torrc_line (process, "ConfluxEnabled 0");
  exg_tor_process_set_disable_network (process, TRUE);
  g_signal_connect (process, "bootstrap", G_CALLBACK (bootstrap_cb), &m);
  g_signal_connect (process, "exited", G_CALLBACK (exited_cb), &m);

  exg_tor_process_start_async (process, NULL, exg_test_result_cb, &result);
  exg_test_wait_result (&result, WAIT_SECS * 2);
  g_assert_true (exg_tor_process_start_finish (process, result, &error));
  g_assert_no_error (error);
  pid = g_strdup (exg_tor_process_get_identifier (process));
  g_assert_nonnull (pid);
  g_assert_true (exg_tor_process_is_running (process));

  /* the starting value, from GETINFO status/bootstrap-phase */
  g_assert_cmpint (m.n_bootstrap, >=, 1);
  g_assert_cmpint (m.first_progress, ==, exg_tor_process_get_bootstrap_progress (process));
  g_assert_nonnull (exg_tor_process_get_bootstrap_summary (process));

  conf = send_sync (exg_tor_process_get_control (process),
                    "GETCONF DisableNetwork MaxCircuitDirtiness ConfluxEnabled", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (exg_torctl_reply_lookup (conf, "DisableNetwork"), ==, "1");
  g_assert_cmpstr (exg_torctl_reply_lookup (conf, "MaxCircuitDirtiness"), ==, "601");
  g_assert_cmpstr (exg_torctl_reply_lookup (conf, "ConfluxEnabled"), ==, "0");
  owner = send_sync (exg_tor_process_get_control (process),
                     "GETCONF __OwningControllerProcess", &error);
  g_assert_no_error (error);
  {
    g_autofree char *me = g_strdup_printf ("%d", (int) getpid ());

    g_assert_cmpstr (exg_torctl_reply_lookup (owner, "__OwningControllerProcess"), ==, me);
  }

  /* SocksPort auto is configured, but DisableNetwork keeps it closed */
  exg_tor_control_get_socks_address_async (exg_tor_process_get_control (process), NULL,
                                           exg_test_result_cb, &result2);
  exg_test_wait_result (&result2, WAIT_SECS);
  socks = exg_tor_control_get_socks_address_finish (exg_tor_process_get_control (process),
                                                    result2, &error);
  g_assert_null (socks);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* only ever to 1 here: 0 would reach for the public network */
  exg_tor_process_set_network_enabled_async (process, FALSE, NULL, exg_test_result_cb, &result3);
  exg_test_wait_result (&result3, WAIT_SECS);
  g_assert_true (exg_tor_process_set_network_enabled_finish (process, result3, &error));
  g_assert_no_error (error);

  exg_tor_process_stop (process);
  exg_test_wait_until (has_exited, &m, WAIT_SECS);
  g_assert_null (m.exit_error);
  g_assert_false (exg_tor_process_is_running (process));
  g_assert_false (exg_tor_control_is_connected (exg_tor_process_get_control (process)));

  g_spawn_sync (NULL, (char **) rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
}

static void
test_process_dies (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("exg-tor-managed-XXXXXX", &error);
  g_autoptr(ExgTorProcess) process = exg_tor_process_new (dir);
  g_autoptr(GAsyncResult) result = NULL;
  const char *rm[] = { "rm", "-rf", dir, NULL };
  Managed m = { -1, 0, FALSE, NULL };
  int pid;

  exg_tor_process_set_disable_network (process, TRUE);
  g_signal_connect (process, "exited", G_CALLBACK (exited_cb), &m);
  exg_tor_process_start_async (process, NULL, exg_test_result_cb, &result);
  exg_test_wait_result (&result, WAIT_SECS * 2);
  g_assert_true (exg_tor_process_start_finish (process, result, &error));
  g_assert_no_error (error);

  /* killed from outside, by the pid we started */
  pid = atoi (exg_tor_process_get_identifier (process));
  g_assert_cmpint (pid, >, 0);
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  exg_test_wait_until (has_exited, &m, WAIT_SECS);
  g_assert_error (m.exit_error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
  g_assert_false (exg_tor_control_is_connected (exg_tor_process_get_control (process)));
  g_clear_error (&m.exit_error);

  g_spawn_sync (NULL, (char **) rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
}

static void
test_no_tor (void)
{
  g_test_skip ("no " TOR);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/tor/control/event-after-reply", test_event_after_reply);
  if (!g_file_test (TOR, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_add_func ("/tor/control/real-tor", test_no_tor);
      return g_test_run ();
    }

#define ADD(path, fn) g_test_add (path, Fixture, NULL, NULL, fn, fixture_tear_down)
  ADD ("/tor/control/auth/safecookie", test_auth_safecookie);
  ADD ("/tor/control/auth/cookie", test_auth_cookie);
  ADD ("/tor/control/auth/hashedpassword", test_auth_hashedpassword);
  ADD ("/tor/control/auth/null", test_auth_null);
  ADD ("/tor/control/getinfo-and-error", test_getinfo_and_error);
  ADD ("/tor/control/queued-in-order", test_queued_in_order);
  ADD ("/tor/control/events", test_events);
  ADD ("/tor/control/socks-address", test_socks_address);
  ADD ("/tor/control/tor-killed", test_tor_killed);
#undef ADD
  g_test_add_func ("/tor/process/start-stop", test_process);
  g_test_add_func ("/tor/process/dies", test_process_dies);

  return g_test_run ();
}
