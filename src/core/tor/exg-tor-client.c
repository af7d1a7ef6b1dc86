/* exg-tor-client.c: Exitgate's side of one tor.
 *
 * The connection (exg-tor-connection.c).  To a tor that runs already, or
 * to one we start; lost, it is tried again with backoff, and every tor
 * router goes down meanwhile.  Bootstrap progress is read here.
 *
 * The routers.  Once tor is bootstrapped, and again on every NEWCONSENSUS:
 * ns/all (r, s and w lines) gives every relay; those with Exit, Running
 * and Valid and without BadExit become routers of kind tor, their exit
 * policy summaries read from their microdescriptors (md/id/FP: ns/all has
 * no "p" lines).  A relay that stays keeps its ExgRouter: the app's rows,
 * the observed figures and an E0 selection that holds it stay valid.
 *
 * The streams.  ExgBackendTor tells us the local address of each of its
 * sockets to tor's SocksPort before the request can reach tor, and which
 * exit that stream is for.  A STREAM NEW or NEWRESOLVE event whose
 * SOURCE_ADDR is one of those is attached to a circuit ending at that exit:
 * an open one of the same exit and isolation key, younger than tor's
 * dirtiness bound, or a new one built with EXTENDCIRCUIT.  The isolation
 * key (the client's address and its username without selection keys)
 * keeps two clients off one circuit, where the exit could link them.
 *
 * One circuit is kept ready: for the exit the default selection picks
 * (exg_tor_streams_keep_circuit_ready), built as soon as tor is ready and
 * again whenever a stream has taken it, so that the first stream to that
 * exit, of whatever isolation key, does not wait for a circuit.  Every other
 * stream (another client of a shared tor) is handed back to tor at once
 * with ATTACHSTREAM <id> 0.  A circuit that fails closes its waiting
 * streams with reason TIMEOUT, which tor's SOCKS reply says as 06 (what
 * tor itself says when it cannot build a circuit in time); the registry
 * then tries another exit.
 *
 * Events arrive in tor's order, and ExgTorControl holds back the events
 * that follow a reply until the reply's callback has run.  So "CIRC 21
 * BUILT" cannot overtake "250 EXTENDED 21" here; still, the last status of
 * a few unknown circuit ids is kept, in case a circuit is reported before
 * its id is known to us.
 *
 * Nothing here logs a target: event and command texts carry them.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-tor-client-private.h"

#include <string.h>

enum {
  PROP_0,
  PROP_READY,
  N_PROPS
};

enum {
  SIGNAL_BOOTSTRAP,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE_WITH_CODE (ExgTorClient, exg_tor_client, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (EXG_TYPE_TOR_STREAMS,
                                                      exg_tor_client_streams_init_))

/* ------------------------------------------------------------------------
 * Small things
 * ------------------------------------------------------------------------ */

void
exg_tor_client_relay_free_ (Relay *relay)
{
  g_free (relay->fingerprint);
  g_free (relay->nickname);
  g_free (relay->address);
  g_free (relay->policy);
  exg_tor_family_clear (&relay->family);
  g_free (relay);
}

static void
expected_free (Expected *e)
{
  g_free (e->exit_fingerprint);
  g_free (e->isolation);
  g_free (e->stream);
  g_free (e);
}

static void
circuit_free (Circuit *c)
{
  g_free (c->key);
  g_free (c->exit_fingerprint);
  g_free (c->id);
  g_free (c->path);
  g_ptr_array_unref (c->waiting);
  g_free (c);
}


Call *
exg_tor_client_call_new_ (ExgTorClient *self)
{
  Call *call = g_new0 (Call, 1);

  call->self = g_object_ref (self);
  call->generation = self->generation;
  return call;
}

void
exg_tor_client_call_free_ (Call *call)
{
  g_object_unref (call->self);
  g_free (call->stream);
  g_free (call);
}

gboolean
exg_tor_client_call_current_ (Call *call)
{
  return call->generation == call->self->generation &&
         call->self->control != NULL;
}

static void
ignore_reply_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(ExgTorctlReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = exg_tor_control_send_finish (EXG_TOR_CONTROL (source), result, &error);
  if (reply == NULL)
    g_debug ("tor: a command failed: %s", error->message);
}

void
exg_tor_client_send_ignored_ (ExgTorClient *self,
              const char   *format,
              ...) G_GNUC_PRINTF (2, 3);

void
exg_tor_client_send_ignored_ (ExgTorClient *self,
              const char   *format,
              ...)
{
  g_autofree char *command = NULL;
  va_list args;

  if (self->control == NULL)
    return;
  va_start (args, format);
  command = g_strdup_vprintf (format, args);
  va_end (args);
  exg_tor_control_send_async (self->control, command, NULL, ignore_reply_cb, NULL);
}

void
exg_tor_client_set_ready_ (ExgTorClient *self,
           gboolean      ready)
{
  GHashTableIter iter;
  ExgRouter *router;

  if (self->ready == ready)
    return;
  self->ready = ready;

  /* tor decides for its relays: they are up exactly while tor is */
  g_hash_table_iter_init (&iter, self->routers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &router))
    exg_router_set_state (router, ready ? EXG_ROUTER_STATE_UP
                                        : EXG_ROUTER_STATE_DOWN);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_READY]);
  if (ready)
    exg_tor_client_ready_circuit_build_ (self);
}

/* ------------------------------------------------------------------------
 * Bootstrap and events
 * ------------------------------------------------------------------------ */

/* A STATUS_CLIENT BOOTSTRAP event or status/bootstrap-phase: progress,
 * and what tor warned of when a step failed. */
void
exg_tor_client_bootstrap_status_ (ExgTorClient *self,
                                  const char   *text)
{
  g_auto(ExgTorctlBootstrap) status = { 0, };

  if (!exg_torctl_bootstrap_parse (text, &status))
    return;
  if ((int) status.progress == self->progress &&
      g_strcmp0 (status.summary, self->summary) == 0 &&
      (status.warning == NULL || g_strcmp0 (status.warning, self->warning) == 0))
    return;
  /* a step further: the last step's trouble is over */
  if ((int) status.progress > self->progress)
    g_clear_pointer (&self->warning, g_free);
  if (status.warning != NULL)
    {
      g_free (self->warning);
      self->warning = g_steal_pointer (&status.warning);
    }
  self->progress = (int) status.progress;
  g_free (self->summary);
  self->summary = g_steal_pointer (&status.summary);
  g_signal_emit (self, signals[SIGNAL_BOOTSTRAP], 0, self->progress, self->summary);

  /* exits become routers once tor can build circuits */
  if (self->progress >= 100 && !self->ready && !self->loading)
    exg_tor_client_load_consensus_ (self);
}

/* ------------------------------------------------------------------------
 * GObject
 * ------------------------------------------------------------------------ */

static void
exg_tor_client_dispose (GObject *object)
{
  ExgTorClient *self = EXG_TOR_CLIENT (object);
  GHashTableIter iter;
  ExgRouter *router;

  self->stopping = TRUE;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  if (self->control != NULL || self->process != NULL)
    exg_tor_client_drop_connection_ (self);

  if (self->registry != NULL)
    {
      g_hash_table_iter_init (&iter, self->routers);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &router))
        exg_router_registry_remove (self->registry, exg_router_get_id (router));
    }
  g_hash_table_remove_all (self->routers);
  g_clear_object (&self->registry);
  g_clear_object (&self->geoip);

  G_OBJECT_CLASS (exg_tor_client_parent_class)->dispose (object);
}

static void
exg_tor_client_finalize (GObject *object)
{
  ExgTorClient *self = EXG_TOR_CLIENT (object);

  g_free (self->control_address);
  g_free (self->password);
  g_free (self->data_dir);
  g_free (self->torrc);
  g_free (self->ready_exit);
  g_free (self->tor_path);
  g_free (self->summary);
  g_free (self->warning);
  g_hash_table_unref (self->relays);
  g_ptr_array_unref (self->guards);
  g_hash_table_unref (self->routers);
  g_hash_table_unref (self->expected);
  g_hash_table_unref (self->ours);
  g_hash_table_unref (self->circuit_ids);
  g_hash_table_unref (self->circuits);
  g_hash_table_unref (self->early);

  G_OBJECT_CLASS (exg_tor_client_parent_class)->finalize (object);
}

static void
exg_tor_client_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  ExgTorClient *self = EXG_TOR_CLIENT (object);

  switch (prop_id)
    {
    case PROP_READY:
      g_value_set_boolean (value, self->ready);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
exg_tor_client_class_init (ExgTorClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = exg_tor_client_dispose;
  object_class->finalize = exg_tor_client_finalize;
  object_class->get_property = exg_tor_client_get_property;

  /**
   * ExgTorClient:ready:
   *
   * Connected, bootstrapped, and the exits are routers (up).
   */
  properties[PROP_READY] =
    g_param_spec_boolean ("ready", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * ExgTorClient::bootstrap:
   * @self: the client
   * @progress: percent
   * @summary: tor's words for the phase
   *
   * tor's bootstrap progress changed, or tor warned of a failed step
   * (exg_tor_client_get_bootstrap_warning() has it by then).
   */
  signals[SIGNAL_BOOTSTRAP] =
    g_signal_new ("bootstrap", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_STRING);
}

static void
exg_tor_client_init (ExgTorClient *self)
{
  self->progress = -1;
  self->relays = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify) exg_tor_client_relay_free_);
  self->guards = g_ptr_array_new_with_free_func (g_free);
  self->routers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->expected = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) expected_free);
  self->ours = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->circuits = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify) circuit_free);
  self->circuit_ids = g_hash_table_new (g_str_hash, g_str_equal);
  self->early = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

/**
 * exg_tor_client_new:
 * @registry: where tor's exits become routers
 * @geoip: (nullable): the database that gives every router its country
 *
 * Returns: (transfer full): a client, not started
 */
ExgTorClient *
exg_tor_client_new (ExgRouterRegistry *registry,
                    ExgGeoip          *geoip)
{
  ExgTorClient *self;

  g_return_val_if_fail (EXG_IS_ROUTER_REGISTRY (registry), NULL);

  self = g_object_new (EXG_TYPE_TOR_CLIENT, NULL);
  self->registry = g_object_ref (registry);
  self->geoip = geoip != NULL ? g_object_ref (geoip) : NULL;
  return self;
}

/**
 * exg_tor_client_set_geoip:
 * @geoip: (nullable): the database that gives every router its country
 *
 * A database that arrives late (the app searches for one in the
 * background) gives the exits already known their countries.
 */
void
exg_tor_client_set_geoip (ExgTorClient *self,
                          ExgGeoip     *geoip)
{
  g_return_if_fail (EXG_IS_TOR_CLIENT (self));

  if (!g_set_object (&self->geoip, geoip))
    return;
  if (g_hash_table_size (self->relays) > 0)
    exg_tor_client_sync_routers_ (self, self->ready ? EXG_ROUTER_STATE_UP
                                                    : EXG_ROUTER_STATE_DOWN);
}

/**
 * exg_tor_client_set_control:
 * @self: a client
 * @address: a running tor's control port, "HOST:PORT", or socket path
 * @password: (nullable): for HASHEDPASSWORD authentication
 */
void
exg_tor_client_set_control (ExgTorClient *self,
                            const char   *address,
                            const char   *password)
{
  g_return_if_fail (EXG_IS_TOR_CLIENT (self));
  g_return_if_fail (!self->started);

  g_free (self->control_address);
  self->control_address = g_strdup (address);
  g_free (self->password);
  self->password = g_strdup (password);
  self->managed = FALSE;
}

/**
 * exg_tor_client_set_managed:
 * @self: a client
 * @data_dir: tor's private DataDirectory, kept between runs
 * @torrc_file: (nullable): the user's own torrc lines, included
 *
 * Exitgate runs tor itself, and restarts it when it exits.
 */
void
exg_tor_client_set_managed (ExgTorClient *self,
                            const char   *data_dir,
                            const char   *torrc_file)
{
  g_return_if_fail (EXG_IS_TOR_CLIENT (self));
  g_return_if_fail (data_dir != NULL);
  g_return_if_fail (!self->started);

  self->managed = TRUE;
  g_free (self->data_dir);
  self->data_dir = g_strdup (data_dir);
  g_free (self->torrc);
  self->torrc = g_strdup (torrc_file);
}

/**
 * exg_tor_client_set_tor_path:
 * @self: a client
 * @path: (nullable): the tor binary of a managed tor
 */
void
exg_tor_client_set_tor_path (ExgTorClient *self,
                             const char   *path)
{
  g_return_if_fail (EXG_IS_TOR_CLIENT (self));
  g_free (self->tor_path);
  self->tor_path = g_strdup (path);
}

/**
 * exg_tor_client_start:
 * @self: a client
 *
 * Connects (or starts tor) and keeps doing so whenever tor is lost.
 */
void
exg_tor_client_start (ExgTorClient *self)
{
  g_return_if_fail (EXG_IS_TOR_CLIENT (self));
  g_return_if_fail (self->managed || self->control_address != NULL);

  if (self->started)
    return;
  self->started = TRUE;
  exg_tor_client_connect_ (self);
}

static void
leave_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ExgTorClient *self = g_task_get_source_object (task);
  g_autoptr(ExgTorctlReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = exg_tor_control_send_finish (EXG_TOR_CONTROL (source), result, &error);
  exg_tor_client_drop_connection_ (self);
  if (reply == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * exg_tor_client_stop_async:
 * @self: a client
 * @cancellable: (nullable): a cancellable
 * @callback: called when done
 * @user_data: for @callback
 *
 * Gives stream attachment back to tor (__LeaveStreamsUnattached=0: tor
 * keeps the option after its controller leaves, and would hold every
 * stream of its other clients), disconnects, stops a managed tor, and
 * removes the tor routers from the registry.
 */
void
exg_tor_client_stop_async (ExgTorClient        *self,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  GTask *task;
  GHashTableIter iter;
  ExgRouter *router;

  g_return_if_fail (EXG_IS_TOR_CLIENT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, exg_tor_client_stop_async);
  self->stopping = TRUE;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);

  g_hash_table_iter_init (&iter, self->routers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &router))
    exg_router_registry_remove (self->registry, exg_router_get_id (router));
  g_hash_table_remove_all (self->routers);

  if (self->control == NULL)
    {
      exg_tor_client_drop_connection_ (self);
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  exg_tor_control_send_async (self->control, "SETCONF __LeaveStreamsUnattached=0",
                              cancellable, leave_cb, task);
}

/**
 * exg_tor_client_stop_finish:
 * @self: a client
 * @result: the result
 * @error: set when tor could not be told
 *
 * Returns: whether tor took attachment back
 */
gboolean
exg_tor_client_stop_finish (ExgTorClient  *self,
                            GAsyncResult  *result,
                            GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * exg_tor_client_set_network_enabled:
 * @self: a client
 * @enabled: %FALSE: a managed tor runs with "DisableNetwork 1"
 *
 * A managed tor started while the network is disabled opens no
 * connection at all: it waits, with its control port up, until this is
 * called with %TRUE (the app's "Connect").  Bootstrap then goes on, and
 * ExgTorClient::bootstrap reports each step.  A tor restarted after it was
 * lost keeps the setting.  It has no effect on a tor Exitgate does not
 * run (control=): that tor's network is its owner's business.
 *
 * Call it before exg_tor_client_start() to have tor start that way.
 */
void
exg_tor_client_set_network_enabled (ExgTorClient *self,
                                    gboolean      enabled)
{
  g_return_if_fail (EXG_IS_TOR_CLIENT (self));

  enabled = !!enabled;
  if (self->network_disabled == !enabled)
    return;
  self->network_disabled = !enabled;
  if (self->managed && self->process != NULL && self->control != NULL)
    exg_tor_client_send_network_enabled_ (self);
  /* otherwise tor is starting: process_started_cb sends it, or not yet
   * started: exg_tor_client_connect_() starts it so */
}

/**
 * exg_tor_client_get_network_enabled:
 * @self: a client
 *
 * Returns: %FALSE while a managed tor is kept off the network
 */
gboolean
exg_tor_client_get_network_enabled (ExgTorClient *self)
{
  g_return_val_if_fail (EXG_IS_TOR_CLIENT (self), FALSE);
  return !self->network_disabled;
}

/**
 * exg_tor_client_get_managed:
 * @self: a client
 *
 * Returns: whether Exitgate runs this tor itself
 */
gboolean
exg_tor_client_get_managed (ExgTorClient *self)
{
  g_return_val_if_fail (EXG_IS_TOR_CLIENT (self), FALSE);
  return self->managed;
}

/**
 * exg_tor_client_get_bootstrap_progress:
 * @self: a client
 *
 * Returns: tor's bootstrap percent, or -1 while not connected
 */
int
exg_tor_client_get_bootstrap_progress (ExgTorClient *self)
{
  g_return_val_if_fail (EXG_IS_TOR_CLIENT (self), -1);
  return self->progress;
}

/**
 * exg_tor_client_get_bootstrap_summary:
 * @self: a client
 *
 * Returns: (nullable): tor's own words for the bootstrap phase
 */
const char *
exg_tor_client_get_bootstrap_summary (ExgTorClient *self)
{
  g_return_val_if_fail (EXG_IS_TOR_CLIENT (self), NULL);
  return self->summary;
}

/**
 * exg_tor_client_get_bootstrap_warning:
 * @self: a client
 *
 * What tor last warned of while bootstrapping ("Connection refused",
 * "No route to host" …); cleared when bootstrap gets a step further.
 *
 * Returns: (nullable): tor's WARNING text
 */
const char *
exg_tor_client_get_bootstrap_warning (ExgTorClient *self)
{
  g_return_val_if_fail (EXG_IS_TOR_CLIENT (self), NULL);
  return self->warning;
}

/**
 * exg_tor_client_get_ready:
 * @self: a client
 *
 * Returns: whether tor is connected and bootstrapped and its exits are
 *   routers
 */
gboolean
exg_tor_client_get_ready (ExgTorClient *self)
{
  g_return_val_if_fail (EXG_IS_TOR_CLIENT (self), FALSE);
  return self->ready;
}

/**
 * exg_tor_client_get_n_exits:
 * @self: a client
 *
 * Returns: how many exit relays are routers
 */
guint
exg_tor_client_get_n_exits (ExgTorClient *self)
{
  g_return_val_if_fail (EXG_IS_TOR_CLIENT (self), 0);
  return g_hash_table_size (self->routers);
}

/**
 * exg_tor_client_get_socks_address:
 * @self: a client
 *
 * Returns: (nullable) (transfer none): tor's SocksPort, %NULL while tor
 *   is not connected
 */
GSocketAddress *
exg_tor_client_get_socks_address (ExgTorClient *self)
{
  g_return_val_if_fail (EXG_IS_TOR_CLIENT (self), NULL);
  return self->control != NULL ? self->socks : NULL;
}

