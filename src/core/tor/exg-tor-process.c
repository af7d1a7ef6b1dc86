/* exg-tor-process.c: a tor that Exitgate starts, owns and stops.
 *
 * tor runs with a private DataDirectory, "SocksPort auto", "ControlPort
 * auto" and ControlPortWriteToFile, cookie authentication and
 * __OwningControllerProcess; the user's torrc is %include'd.  Our options
 * go on the command line, which overrides the torrc, so a user file cannot
 * turn DisableNetwork back on behind our back.
 *
 * Start-up waits for the port file, woken by a directory monitor and by
 * each line tor prints, within START_TIMEOUT seconds; then it connects,
 * authenticates, sends TAKEOWNERSHIP (control-spec §3.23: tor exits when
 * this connection closes) and subscribes to STATUS_CLIENT for bootstrap
 * progress.
 *
 * tor's own output goes to g_debug only; with its default SafeLogging it
 * does not name targets, but it is still not ours to put in the journal.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-tor-process.h"

#include "exg-error.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define START_TIMEOUT   60     /* seconds until the control port is up */
#define PORT_FILE       "control-port"
#define TORRC_FILE      "exitgate-torrc"
#define LAST_LINES      8

struct _ExgTorProcess
{
  GObject          parent_instance;

  char            *data_dir;
  char            *tor_path;
  char            *torrc_file;
  GPtrArray       *torrc_lines;   /* of char*, owned */
  gboolean         disable_network;

  GSubprocess     *process;       /* owned; NULL until started */
  GCancellable    *cancellable;   /* owned; ends our waits at dispose */
  GDataInputStream *output;       /* owned; tor's stdout and stderr */
  GQueue           last_lines;    /* of char*, owned: for error messages */
  GFileMonitor    *monitor;       /* owned, while waiting for the port */
  guint            timeout_id;
  GTask           *start_task;    /* owned, while starting */
  ExgTorControl   *control;       /* owned; NULL until the port is up */
  gboolean         running;
  gboolean         stopping;

  int              progress;
  char            *summary;
};

enum {
  SIGNAL_BOOTSTRAP,
  SIGNAL_EXITED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (ExgTorProcess, exg_tor_process, G_TYPE_OBJECT)

static void
start_fail (ExgTorProcess *self,
            GError        *error)
{
  GTask *task = g_steal_pointer (&self->start_task);

  g_clear_handle_id (&self->timeout_id, g_source_remove);
  if (self->monitor != NULL)
    {
      g_file_monitor_cancel (self->monitor);
      g_clear_object (&self->monitor);
    }
  if (task == NULL)
    {
      g_error_free (error);
      return;
    }
  /* a tor that did not come up is of no use: don't leave it running */
  if (self->running && self->process != NULL)
    {
      self->stopping = TRUE;
      g_subprocess_force_exit (self->process);
    }
  g_task_return_error (task, error);
  g_object_unref (task);
}

static char *
last_output (ExgTorProcess *self)
{
  const char *line = g_queue_peek_tail (&self->last_lines);

  return g_strdup (line != NULL ? line : "no output");
}

static void
set_bootstrap (ExgTorProcess *self,
               const char    *status_text)
{
  g_auto(ExgTorctlBootstrap) status = { 0, };

  if (!exg_torctl_bootstrap_parse (status_text, &status))
    return;
  self->progress = (int) status.progress;
  g_free (self->summary);
  self->summary = g_strdup (status.summary);
  g_signal_emit (self, signals[SIGNAL_BOOTSTRAP], 0, self->progress,
                 status.tag, self->summary);
}

static void
status_client_cb (ExgTorControl  *control,
                  const char     *keyword,
                  ExgTorctlReply *reply,
                  ExgTorProcess  *self)
{
  /* "STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=… TAG=… SUMMARY=…" */
  set_bootstrap (self, reply->lines[0].text);
}

static void
bootstrap_phase_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(ExgTorProcess) self = user_data;
  g_autofree char *value = NULL;
  GError *error = NULL;
  GTask *task;

  value = exg_tor_control_getinfo_finish (EXG_TOR_CONTROL (source), result, &error);
  if (value == NULL)
    {
      start_fail (self, error);
      return;
    }
  /* "NOTICE BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting"" */
  set_bootstrap (self, value);

  task = g_steal_pointer (&self->start_task);
  if (task != NULL)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
    }
}

static void
setevents_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(ExgTorProcess) self = user_data;
  g_autoptr(ExgTorctlReply) reply = NULL;
  GError *error = NULL;

  reply = exg_tor_control_send_finish (EXG_TOR_CONTROL (source), result, &error);
  if (reply == NULL)
    {
      start_fail (self, error);
      return;
    }
  exg_tor_control_getinfo_async (EXG_TOR_CONTROL (source), "status/bootstrap-phase", NULL,
                                 bootstrap_phase_cb, g_steal_pointer (&self));
}

static void
takeownership_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(ExgTorProcess) self = user_data;
  g_autoptr(ExgTorctlReply) reply = NULL;
  GError *error = NULL;

  reply = exg_tor_control_send_finish (EXG_TOR_CONTROL (source), result, &error);
  if (reply == NULL)
    {
      start_fail (self, error);
      return;
    }
  g_signal_connect_object (source, "event::STATUS_CLIENT",
                           G_CALLBACK (status_client_cb), self, 0);
  exg_tor_control_send_async (EXG_TOR_CONTROL (source), "SETEVENTS STATUS_CLIENT", NULL,
                              setevents_cb, g_steal_pointer (&self));
}

static void
control_connected_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(ExgTorProcess) self = user_data;
  GError *error = NULL;

  if (!exg_tor_control_connect_finish (EXG_TOR_CONTROL (source), result, &error))
    {
      g_prefix_error (&error, "Cannot use tor's control port: ");
      start_fail (self, error);
      return;
    }
  exg_tor_control_send_async (EXG_TOR_CONTROL (source), "TAKEOWNERSHIP", NULL,
                              takeownership_cb, g_steal_pointer (&self));
}

/* Reads "PORT=127.0.0.1:NNNN" once tor has written it; starts the
 * connection.  Called on every hint that it may be there. */
static void
try_port_file (ExgTorProcess *self)
{
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  char *address;

  if (self->start_task == NULL || self->control != NULL)
    return;
  path = g_build_filename (self->data_dir, PORT_FILE, NULL);
  /* a few bytes from a local file the child just wrote */
  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return;
  if (!g_str_has_prefix (contents, "PORT=") || strchr (contents, '\n') == NULL)
    return;   /* tor writes it whole (to a temp file, then renames) */
  address = contents + 5;
  *strchr (address, '\n') = '\0';

  g_clear_handle_id (&self->timeout_id, g_source_remove);
  if (self->monitor != NULL)
    {
      g_file_monitor_cancel (self->monitor);
      g_clear_object (&self->monitor);
    }

  self->control = exg_tor_control_new ();
  exg_tor_control_connect_async (self->control, address, NULL, self->cancellable,
                                 control_connected_cb, g_object_ref (self));
}

static void
monitor_changed_cb (GFileMonitor      *monitor,
                    GFile             *file,
                    GFile             *other,
                    GFileMonitorEvent  event,
                    ExgTorProcess     *self)
{
  try_port_file (self);
}

static gboolean
start_timeout_cb (gpointer user_data)
{
  ExgTorProcess *self = user_data;
  g_autofree char *last = last_output (self);

  self->timeout_id = 0;
  start_fail (self, g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                 "tor did not open its control port within %d s (%s)",
                                 START_TIMEOUT, last));
  return G_SOURCE_REMOVE;
}

static void
read_line_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(ExgTorProcess) self = user_data;
  g_autofree char *line = NULL;
  GCancellable *cancellable;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source),
                                                   result, NULL, NULL);
  if (line == NULL)
    return;   /* EOF, an error, or cancelled: tor is going */

  g_debug ("tor: %s", line);
  g_queue_push_tail (&self->last_lines, g_strdup (line));
  while (g_queue_get_length (&self->last_lines) > LAST_LINES)
    g_free (g_queue_pop_head (&self->last_lines));

  try_port_file (self);
  cancellable = self->cancellable;
  g_data_input_stream_read_line_async (G_DATA_INPUT_STREAM (source), G_PRIORITY_DEFAULT,
                                       cancellable, read_line_cb,
                                       g_steal_pointer (&self));
}

static void
wait_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(ExgTorProcess) self = user_data;
  GSubprocess *process = G_SUBPROCESS (source);
  g_autoptr(GError) error = NULL;

  if (!g_subprocess_wait_finish (process, result, NULL))
    return;   /* only when cancelled at dispose */

  self->running = FALSE;
  if (!self->stopping)
    {
      g_autofree char *last = last_output (self);

      if (g_subprocess_get_if_signaled (process))
        error = g_error_new (G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE,
                             "tor was killed by signal %d (%s)",
                             g_subprocess_get_term_sig (process), last);
      else
        error = g_error_new (G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE,
                             "tor exited with status %d (%s)",
                             g_subprocess_get_exit_status (process), last);
    }

  if (self->start_task != NULL)
    start_fail (self, error != NULL
                      ? g_error_copy (error)
                      : g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "tor was stopped"));
  if (self->control != NULL)
    exg_tor_control_close (self->control);
  g_signal_emit (self, signals[SIGNAL_EXITED], 0, error);
}

static void
child_setup (gpointer user_data)
{
  /* between fork and exec: tor dies with us even if we die by SIGKILL */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static void
exg_tor_process_dispose (GObject *object)
{
  ExgTorProcess *self = EXG_TOR_PROCESS (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->timeout_id, g_source_remove);
  if (self->monitor != NULL)
    {
      g_file_monitor_cancel (self->monitor);
      g_clear_object (&self->monitor);
    }
  if (self->control != NULL)
    exg_tor_control_close (self->control);
  g_clear_object (&self->control);
  if (self->process != NULL && self->running)
    g_subprocess_force_exit (self->process);
  g_clear_object (&self->process);
  g_clear_object (&self->output);

  G_OBJECT_CLASS (exg_tor_process_parent_class)->dispose (object);
}

static void
exg_tor_process_finalize (GObject *object)
{
  ExgTorProcess *self = EXG_TOR_PROCESS (object);

  g_clear_object (&self->cancellable);
  g_queue_clear_full (&self->last_lines, g_free);
  g_ptr_array_unref (self->torrc_lines);
  g_free (self->data_dir);
  g_free (self->tor_path);
  g_free (self->torrc_file);
  g_free (self->summary);

  G_OBJECT_CLASS (exg_tor_process_parent_class)->finalize (object);
}

static void
exg_tor_process_class_init (ExgTorProcessClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = exg_tor_process_dispose;
  object_class->finalize = exg_tor_process_finalize;

  /**
   * ExgTorProcess::bootstrap:
   * @self: the process
   * @progress: percent, 0 … 100
   * @tag: tor's tag for the phase ("starting", "done" …)
   * @summary: tor's words for it ("Starting", "Done" …)
   *
   * tor's bootstrap progress: once with the value at start-up, then at
   * every STATUS_CLIENT BOOTSTRAP event.
   */
  signals[SIGNAL_BOOTSTRAP] =
    g_signal_new ("bootstrap", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, G_TYPE_INT, G_TYPE_STRING, G_TYPE_STRING);

  /**
   * ExgTorProcess::exited:
   * @self: the process
   * @error: (nullable): why tor went, or %NULL after exg_tor_process_stop()
   *
   * tor is gone; its control connection has been closed.
   */
  signals[SIGNAL_EXITED] =
    g_signal_new ("exited", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
exg_tor_process_init (ExgTorProcess *self)
{
  self->tor_path = g_strdup (EXG_TOR_PROCESS_DEFAULT_TOR);
  self->torrc_lines = g_ptr_array_new_with_free_func (g_free);
  self->cancellable = g_cancellable_new ();
  self->progress = -1;
  g_queue_init (&self->last_lines);
}

/**
 * exg_tor_process_new:
 * @data_dir: tor's private DataDirectory; created (mode 0700) if missing
 *
 * Returns: (transfer full): a process, not started
 */
ExgTorProcess *
exg_tor_process_new (const char *data_dir)
{
  ExgTorProcess *self;

  g_return_val_if_fail (data_dir != NULL, NULL);

  self = g_object_new (EXG_TYPE_TOR_PROCESS, NULL);
  self->data_dir = g_strdup (data_dir);
  return self;
}

/**
 * exg_tor_process_set_tor_path:
 * @self: a process, not started
 * @path: the tor binary (default %EXG_TOR_PROCESS_DEFAULT_TOR)
 */
void
exg_tor_process_set_tor_path (ExgTorProcess *self,
                              const char    *path)
{
  g_return_if_fail (EXG_IS_TOR_PROCESS (self));
  g_return_if_fail (path != NULL);

  g_free (self->tor_path);
  self->tor_path = g_strdup (path);
}

/**
 * exg_tor_process_set_torrc_file:
 * @self: a process, not started
 * @path: (nullable): the user's torrc, %include'd (bridges, or a private
 *   test network's DirAuthority lines)
 */
void
exg_tor_process_set_torrc_file (ExgTorProcess *self,
                                const char    *path)
{
  g_return_if_fail (EXG_IS_TOR_PROCESS (self));

  g_free (self->torrc_file);
  self->torrc_file = g_strdup (path);
}

/**
 * exg_tor_process_add_torrc_line:
 * @self: a process, not started
 * @line: one torrc line, e.g. "ConfluxEnabled 0"
 *
 * Adds a line after the %include; our own options still win.
 */
void
exg_tor_process_add_torrc_line (ExgTorProcess *self,
                                const char    *line)
{
  g_return_if_fail (EXG_IS_TOR_PROCESS (self));
  g_return_if_fail (line != NULL && strpbrk (line, "\r\n") == NULL);

  g_ptr_array_add (self->torrc_lines, g_strdup (line));
}

/**
 * exg_tor_process_set_disable_network:
 * @self: a process, not started
 * @disable: whether tor starts with "DisableNetwork 1"
 *
 * A tor started so opens no connection at all until
 * exg_tor_process_set_network_enabled_async() says so.
 */
void
exg_tor_process_set_disable_network (ExgTorProcess *self,
                                     gboolean       disable)
{
  g_return_if_fail (EXG_IS_TOR_PROCESS (self));

  self->disable_network = disable;
}

static gboolean
write_torrc (ExgTorProcess  *self,
             const char     *path,
             GError        **error)
{
  g_autoptr(GString) text = g_string_new ("# Written by Exitgate at each start; "
                                          "options on tor's command line win.\n");
  guint i;

  if (self->torrc_file != NULL)
    g_string_append_printf (text, "%%include %s\n", self->torrc_file);
  for (i = 0; i < self->torrc_lines->len; i++)
    g_string_append_printf (text, "%s\n", (const char *) g_ptr_array_index (self->torrc_lines, i));
  return g_file_set_contents_full (path, text->str, (gssize) text->len,
                                   G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

/**
 * exg_tor_process_start_async:
 * @self: a process, not started
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when tor is up, authenticated and owned, or failed
 * @user_data: for @callback
 *
 * Starts tor, waits (at most a minute) for its control port, connects,
 * authenticates, sends TAKEOWNERSHIP and subscribes to bootstrap
 * progress; ::bootstrap fires with the starting value before @callback.
 * On failure tor is killed.
 */
void
exg_tor_process_start_async (ExgTorProcess       *self,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = NULL;
  g_autoptr(GFile) dir = NULL;
  g_autofree char *torrc = NULL;
  g_autofree char *port_file = NULL;
  g_autofree char *pid = NULL;
  GDataInputStream *output;
  GError *error = NULL;

  g_return_if_fail (EXG_IS_TOR_PROCESS (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, exg_tor_process_start_async);

  if (self->process != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_BUSY, "tor was already started");
      return;
    }

  if (g_mkdir_with_parents (self->data_dir, 0700) != 0)
    {
      int saved = errno;

      g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved),
                               "Cannot create tor's data directory: %s", g_strerror (saved));
      return;
    }

  /* a port file left by an earlier run names a port that is gone */
  port_file = g_build_filename (self->data_dir, PORT_FILE, NULL);
  if (unlink (port_file) != 0 && errno != ENOENT)
    {
      int saved = errno;

      g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved),
                               "Cannot remove tor's old port file: %s", g_strerror (saved));
      return;
    }

  torrc = g_build_filename (self->data_dir, TORRC_FILE, NULL);
  if (!write_torrc (self, torrc, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  /* watch before tor can write, so the file cannot slip by unseen */
  dir = g_file_new_for_path (self->data_dir);
  self->monitor = g_file_monitor_directory (dir, G_FILE_MONITOR_WATCH_MOVES,
                                            self->cancellable, NULL);
  if (self->monitor != NULL)
    g_signal_connect (self->monitor, "changed", G_CALLBACK (monitor_changed_cb), self);

  pid = g_strdup_printf ("%d", (int) getpid ());
  argv = g_ptr_array_new ();
  g_ptr_array_add (argv, self->tor_path);
  g_ptr_array_add (argv, "--defaults-torrc");
  g_ptr_array_add (argv, "/dev/null");
  g_ptr_array_add (argv, "-f");
  g_ptr_array_add (argv, torrc);
  g_ptr_array_add (argv, "--DataDirectory");
  g_ptr_array_add (argv, self->data_dir);
  g_ptr_array_add (argv, "--SocksPort");
  g_ptr_array_add (argv, "auto");
  g_ptr_array_add (argv, "--ControlPort");
  g_ptr_array_add (argv, "auto");
  g_ptr_array_add (argv, "--ControlPortWriteToFile");
  g_ptr_array_add (argv, port_file);
  g_ptr_array_add (argv, "--CookieAuthentication");
  g_ptr_array_add (argv, "1");
  g_ptr_array_add (argv, "--__OwningControllerProcess");
  g_ptr_array_add (argv, pid);
  g_ptr_array_add (argv, "--RunAsDaemon");
  g_ptr_array_add (argv, "0");
  g_ptr_array_add (argv, "--Log");
  g_ptr_array_add (argv, "notice stdout");
  if (self->disable_network)
    {
      g_ptr_array_add (argv, "--DisableNetwork");
      g_ptr_array_add (argv, "1");
    }
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_MERGE |
                                        G_SUBPROCESS_FLAGS_STDIN_INHERIT);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  self->process = g_subprocess_launcher_spawnv (launcher,
                                                (const char * const *) argv->pdata,
                                                &error);
  if (self->process == NULL)
    {
      g_clear_object (&self->monitor);
      g_prefix_error (&error, "Cannot start tor: ");
      g_task_return_error (task, error);
      return;
    }
  self->running = TRUE;
  self->start_task = g_object_ref (task);
  g_debug ("tor: started as pid %s", g_subprocess_get_identifier (self->process));

  output = g_data_input_stream_new (g_subprocess_get_stdout_pipe (self->process));
  self->output = output;
  g_data_input_stream_read_line_async (output, G_PRIORITY_DEFAULT,
                                       self->cancellable, read_line_cb,
                                       g_object_ref (self));
  g_subprocess_wait_async (self->process, self->cancellable, wait_cb, g_object_ref (self));
  self->timeout_id = g_timeout_add_seconds (START_TIMEOUT, start_timeout_cb, self);
  try_port_file (self);
}

/**
 * exg_tor_process_start_finish:
 * @self: a process
 * @result: the result
 * @error: return location for an error
 *
 * Returns: %TRUE when tor is up and exg_tor_process_get_control() is
 *   connected
 */
gboolean
exg_tor_process_start_finish (ExgTorProcess  *self,
                              GAsyncResult   *result,
                              GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * exg_tor_process_get_control:
 * @self: a process
 *
 * Returns: (transfer none) (nullable): the owning control connection,
 *   once start-up has connected it
 */
ExgTorControl *
exg_tor_process_get_control (ExgTorProcess *self)
{
  g_return_val_if_fail (EXG_IS_TOR_PROCESS (self), NULL);

  return self->control;
}

/**
 * exg_tor_process_get_identifier:
 * @self: a process
 *
 * Returns: (nullable): tor's pid as a string, while it runs
 */
const char *
exg_tor_process_get_identifier (ExgTorProcess *self)
{
  g_return_val_if_fail (EXG_IS_TOR_PROCESS (self), NULL);

  return self->process != NULL ? g_subprocess_get_identifier (self->process) : NULL;
}

/**
 * exg_tor_process_is_running:
 * @self: a process
 *
 * Returns: whether tor was started and has not exited
 */
gboolean
exg_tor_process_is_running (ExgTorProcess *self)
{
  g_return_val_if_fail (EXG_IS_TOR_PROCESS (self), FALSE);

  return self->running;
}

/**
 * exg_tor_process_get_bootstrap_progress:
 * @self: a process
 *
 * Returns: the last bootstrap percent, or -1 before the first
 */
int
exg_tor_process_get_bootstrap_progress (ExgTorProcess *self)
{
  g_return_val_if_fail (EXG_IS_TOR_PROCESS (self), -1);

  return self->progress;
}

/**
 * exg_tor_process_get_bootstrap_summary:
 * @self: a process
 *
 * Returns: (nullable): tor's summary of the last bootstrap phase
 */
const char *
exg_tor_process_get_bootstrap_summary (ExgTorProcess *self)
{
  g_return_val_if_fail (EXG_IS_TOR_PROCESS (self), NULL);

  return self->summary;
}

static void
setconf_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(ExgTorctlReply) reply = NULL;
  GError *error = NULL;

  reply = exg_tor_control_send_finish (EXG_TOR_CONTROL (source), result, &error);
  if (reply == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * exg_tor_process_set_network_enabled_async:
 * @self: a started process
 * @enabled: %FALSE for "DisableNetwork 1"
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when tor has taken the setting
 * @user_data: for @callback
 *
 * Sends "SETCONF DisableNetwork=0|1".
 */
void
exg_tor_process_set_network_enabled_async (ExgTorProcess       *self,
                                           gboolean             enabled,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (EXG_IS_TOR_PROCESS (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, exg_tor_process_set_network_enabled_async);
  if (self->control == NULL || !exg_tor_control_is_connected (self->control))
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                               "tor is not running");
      return;
    }
  exg_tor_control_send_async (self->control,
                              enabled ? "SETCONF DisableNetwork=0" : "SETCONF DisableNetwork=1",
                              cancellable, setconf_cb, g_steal_pointer (&task));
}

/**
 * exg_tor_process_set_network_enabled_finish:
 * @self: a process
 * @result: the result
 * @error: return location for an error
 *
 * Returns: %TRUE when tor accepted the setting
 */
gboolean
exg_tor_process_set_network_enabled_finish (ExgTorProcess  *self,
                                            GAsyncResult   *result,
                                            GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * exg_tor_process_stop:
 * @self: a process
 *
 * Asks tor to exit (SIGTERM: a client exits at once).  ::exited follows
 * with a %NULL error.  Does nothing if tor is not running.
 */
void
exg_tor_process_stop (ExgTorProcess *self)
{
  g_return_if_fail (EXG_IS_TOR_PROCESS (self));

  if (self->process == NULL || !self->running)
    return;
  self->stopping = TRUE;
  g_subprocess_send_signal (self->process, SIGTERM);
}
