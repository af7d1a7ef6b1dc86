/* exg-tor-connection.c: ExgTorClient's connection to tor.
 *
 * Either a tor that runs already (its control port or socket) or one we
 * start (ExgTorProcess, which owns its control connection).  Once
 * connected: SETEVENTS for bootstrap, streams, circuits and consensuses;
 * __LeaveStreamsUnattached=1, so that tor leaves every new stream to us;
 * the bootstrap phase; tor's SocksPort from net/listeners/socks.  Lost
 * (the connection closed, tor exited): every tor router goes down at once,
 * and we try again after 1 s, 2 s, 4 s … 30 s, starting a managed tor
 * anew.  Each connection has a generation number, so that answers to an
 * older one are ignored.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-tor-client-private.h"

static void client_lost (ExgTorClient *self,
                         const char   *why);

/* ------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------ */

static void
event_cb (ExgTorControl  *control,
          const char     *keyword,
          ExgTorctlReply *reply,
          gpointer        user_data)
{
  ExgTorClient *self = user_data;
  g_autoptr(ExgTorctlArgs) args = NULL;

  if (g_str_equal (keyword, "STATUS_CLIENT"))
    {
      exg_tor_client_bootstrap_status_ (self, reply->lines[0].text);
      return;
    }
  if (g_str_equal (keyword, "NEWCONSENSUS"))
    {
      if (self->progress >= 100)
        exg_tor_client_load_consensus_ (self);
      return;
    }

  args = exg_torctl_args_parse (reply->lines[0].text);
  if (args == NULL)
    return;
  if (g_str_equal (keyword, "STREAM"))
    exg_tor_client_stream_event_ (self, args);
  else if (g_str_equal (keyword, "CIRC"))
    exg_tor_client_circ_event_ (self, args);
}

/* ------------------------------------------------------------------------
 * Connecting, losing, reconnecting
 * ------------------------------------------------------------------------ */

static gboolean
reconnect_cb (gpointer user_data)
{
  ExgTorClient *self = user_data;

  self->reconnect_id = 0;
  exg_tor_client_connect_ (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (ExgTorClient *self)
{
  if (self->stopping || self->reconnect_id != 0)
    return;
  self->backoff = self->backoff == 0 ? 1
                  : MIN (self->backoff * 2, EXG_TOR_BACKOFF_MAX_SECONDS);
  g_message ("tor: trying again in %u s", self->backoff);
  self->reconnect_id = g_timeout_add_seconds (self->backoff, reconnect_cb, self);
}

void
exg_tor_client_drop_connection_ (ExgTorClient *self)
{
  g_autoptr(ExgTorControl) control = g_steal_pointer (&self->control);
  g_autoptr(ExgTorProcess) process = g_steal_pointer (&self->process);

  self->generation++;
  if (control != NULL)
    {
      g_clear_signal_handler (&self->event_id, control);
      g_clear_signal_handler (&self->closed_id, control);
      if (process == NULL)
        exg_tor_control_close (control);
    }
  if (process != NULL)
    {
      g_clear_signal_handler (&self->exited_id, process);
      exg_tor_process_stop (process);
    }
  g_clear_object (&self->socks);
  self->loading = FALSE;
  self->reload = FALSE;
  self->progress = -1;
  g_clear_pointer (&self->summary, g_free);
  g_clear_pointer (&self->warning, g_free);
  g_hash_table_remove_all (self->circuit_ids);
  g_hash_table_remove_all (self->circuits);
  g_hash_table_remove_all (self->early);
  g_hash_table_remove_all (self->ours);
  exg_tor_client_set_ready_ (self, FALSE);
}

static void
client_lost (ExgTorClient *self,
             const char   *why)
{
  g_message ("tor: lost (%s)", why);
  exg_tor_client_drop_connection_ (self);
  schedule_reconnect (self);
}

static void
closed_cb (ExgTorControl *control,
           GError        *error,
           gpointer       user_data)
{
  ExgTorClient *self = user_data;

  client_lost (self, error != NULL ? error->message : "the control connection closed");
}

static void
exited_cb (ExgTorProcess *process,
           GError        *error,
           gpointer       user_data)
{
  ExgTorClient *self = user_data;

  client_lost (self, error != NULL ? error->message : "tor exited");
}

static void
socks_address_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Call *call = user_data;
  ExgTorClient *self = call->self;
  g_autoptr(GError) error = NULL;
  GSocketAddress *socks;

  socks = exg_tor_control_get_socks_address_finish (EXG_TOR_CONTROL (source), result, &error);
  if (!exg_tor_client_call_current_ (call))
    {
      g_clear_object (&socks);
      exg_tor_client_call_free_ (call);
      return;
    }
  if (socks == NULL)
    {
      /* DisableNetwork 1: tor has no SocksPort open; asked again when
       * the network is enabled */
      if (self->network_disabled)
        g_debug ("tor: no SocksPort while the network is disabled");
      else
        g_message ("tor: no SocksPort: %s", error->message);
      exg_tor_client_call_free_ (call);
      return;
    }
  g_clear_object (&self->socks);
  self->socks = socks;
  if (self->progress >= 100 && !self->ready && !self->loading)
    exg_tor_client_load_consensus_ (self);
  exg_tor_client_call_free_ (call);
}

static void
bootstrap_phase_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Call *call = user_data;
  ExgTorClient *self = call->self;
  g_autofree char *value = NULL;
  g_autoptr(GError) error = NULL;

  value = exg_tor_control_getinfo_finish (EXG_TOR_CONTROL (source), result, &error);
  if (!exg_tor_client_call_current_ (call))
    {
      exg_tor_client_call_free_ (call);
      return;
    }
  if (value != NULL)
    exg_tor_client_bootstrap_status_ (self, value);
  exg_tor_control_get_socks_address_async (self->control, NULL, socks_address_cb, call);
}

static void
setup_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Call *call = user_data;
  g_autoptr(ExgTorctlReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = exg_tor_control_send_finish (EXG_TOR_CONTROL (source), result, &error);
  if (!exg_tor_client_call_current_ (call))
    {
      exg_tor_client_call_free_ (call);
      return;
    }
  if (reply == NULL)
    {
      g_autoptr(ExgTorClient) self = g_object_ref (call->self);

      exg_tor_client_call_free_ (call);
      /* a tor that refuses what we need is as good as lost */
      g_message ("tor: setting up the controller failed");
      client_lost (self, error->message);
      return;
    }
  exg_tor_client_call_free_ (call);
}

/* Connected and authenticated: subscribe, take over stream attachment,
 * learn the bootstrap state and the SocksPort. */
static void
client_attach (ExgTorClient  *self,
               ExgTorControl *control)
{
  self->control = g_object_ref (control);
  self->event_id = g_signal_connect (control, "event", G_CALLBACK (event_cb), self);
  self->closed_id = g_signal_connect (control, "closed", G_CALLBACK (closed_cb), self);
  g_message ("tor: connected (tor %s)",
             exg_tor_control_get_tor_version (control) != NULL
               ? exg_tor_control_get_tor_version (control) : "?");

  /* events first: no stream can be left unattached unseen */
  exg_tor_control_send_async (control, "SETEVENTS STATUS_CLIENT STREAM CIRC NEWCONSENSUS",
                              NULL, setup_cb, exg_tor_client_call_new_ (self));
  exg_tor_control_send_async (control, "SETCONF __LeaveStreamsUnattached=1",
                              NULL, setup_cb, exg_tor_client_call_new_ (self));
  exg_tor_control_getinfo_async (control, "status/bootstrap-phase", NULL,
                                 bootstrap_phase_cb, exg_tor_client_call_new_ (self));
}

static void
control_connected_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  Call *call = user_data;
  ExgTorClient *self = call->self;
  g_autoptr(GError) error = NULL;

  if (!exg_tor_control_connect_finish (EXG_TOR_CONTROL (source), result, &error))
    {
      if (call->generation == self->generation)
        {
          g_message ("tor: cannot connect to the control port: %s", error->message);
          schedule_reconnect (self);
        }
      exg_tor_client_call_free_ (call);
      return;
    }
  if (call->generation != self->generation || self->stopping)
    {
      exg_tor_control_close (EXG_TOR_CONTROL (source));
      exg_tor_client_call_free_ (call);
      return;
    }
  client_attach (self, EXG_TOR_CONTROL (source));
  exg_tor_client_call_free_ (call);
}

static void
network_enabled_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;

  if (!exg_tor_process_set_network_enabled_finish (EXG_TOR_PROCESS (source), result, &error))
    {
      if (exg_tor_client_call_current_ (call))
        g_message ("tor: cannot change DisableNetwork: %s", error->message);
      exg_tor_client_call_free_ (call);
      return;
    }
  if (!exg_tor_client_call_current_ (call) || call->self->network_disabled)
    {
      exg_tor_client_call_free_ (call);
      return;
    }
  /* tor opens its SocksPort only once it may use the network */
  exg_tor_control_get_socks_address_async (call->self->control, NULL, socks_address_cb, call);
}

void
exg_tor_client_send_network_enabled_ (ExgTorClient *self)
{
  exg_tor_process_set_network_enabled_async (self->process, !self->network_disabled, NULL,
                                             network_enabled_cb, exg_tor_client_call_new_ (self));
  self->spawned_disabled = self->network_disabled;
}

static void
process_started_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Call *call = user_data;
  ExgTorClient *self = call->self;
  g_autoptr(GError) error = NULL;

  if (!exg_tor_process_start_finish (EXG_TOR_PROCESS (source), result, &error))
    {
      if (call->generation == self->generation && !self->stopping)
        {
          g_message ("tor: cannot start tor: %s", error->message);
          g_clear_object (&self->process);
          schedule_reconnect (self);
        }
      exg_tor_client_call_free_ (call);
      return;
    }
  if (call->generation != self->generation || self->stopping)
    {
      exg_tor_client_call_free_ (call);
      return;
    }
  self->exited_id = g_signal_connect (self->process, "exited", G_CALLBACK (exited_cb), self);
  client_attach (self, exg_tor_process_get_control (self->process));
  /* the user said Connect (or changed their mind) while tor started */
  if (self->spawned_disabled != self->network_disabled)
    exg_tor_client_send_network_enabled_ (self);
  exg_tor_client_call_free_ (call);
}

void
exg_tor_client_connect_ (ExgTorClient *self)
{
  if (self->stopping)
    return;

  if (self->managed)
    {
      self->process = exg_tor_process_new (self->data_dir);
      if (self->tor_path != NULL)
        exg_tor_process_set_tor_path (self->process, self->tor_path);
      if (self->torrc != NULL)
        exg_tor_process_set_torrc_file (self->process, self->torrc);
      /* a restarted tor keeps the user's choice */
      exg_tor_process_set_disable_network (self->process, self->network_disabled);
      self->spawned_disabled = self->network_disabled;
      exg_tor_process_start_async (self->process, NULL, process_started_cb, exg_tor_client_call_new_ (self));
      return;
    }

  {
    g_autoptr(ExgTorControl) control = exg_tor_control_new ();

    exg_tor_control_connect_async (control, self->control_address, self->password,
                                   NULL, control_connected_cb, exg_tor_client_call_new_ (self));
  }
}
