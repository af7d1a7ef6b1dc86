/* exg-engine.c: registry, router sources, health, server, in order.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-engine.h"


/* how long stop waits for tor to take stream attachment back */
#define TOR_STOP_TIMEOUT 5

struct _ExgEngine
{
  GObject            parent_instance;

  ExgRouterRegistry *registry;     /* owned */
  ExgActivity       *activity;     /* owned */
  ExgServer         *server;       /* owned */
  ExgGeoip          *geoip;        /* owned, nullable */
  ExgHealth         *health;       /* owned, nullable until started */
  ExgTorClient      *tor;          /* owned, nullable: no tor configured */
  ExgConfig         *config;       /* owned, nullable: the exits' source */
  GHashTable        *config_ids;   /* ids of the routers the config added */
  gboolean           started;
  gboolean           tor_offline;  /* a managed tor waits for Connect */
};

G_DEFINE_FINAL_TYPE (ExgEngine, exg_engine, G_TYPE_OBJECT)

static void
exg_engine_dispose (GObject *object)
{
  ExgEngine *self = EXG_ENGINE (object);

  if (self->server != NULL)
    exg_server_stop (self->server);
  g_clear_object (&self->health);
  g_clear_object (&self->tor);

  G_OBJECT_CLASS (exg_engine_parent_class)->dispose (object);
}

static void
exg_engine_finalize (GObject *object)
{
  ExgEngine *self = EXG_ENGINE (object);

  g_clear_object (&self->server);
  g_clear_object (&self->activity);
  g_clear_object (&self->geoip);
  g_clear_object (&self->registry);
  g_clear_pointer (&self->config, exg_config_free);
  g_clear_pointer (&self->config_ids, g_hash_table_unref);

  G_OBJECT_CLASS (exg_engine_parent_class)->finalize (object);
}

static void
exg_engine_class_init (ExgEngineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = exg_engine_dispose;
  object_class->finalize = exg_engine_finalize;
}

static void
exg_engine_init (ExgEngine *self)
{
  self->registry = exg_router_registry_new ();
  self->config_ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                            NULL);
}

/**
 * exg_engine_new:
 * @activity: (nullable) (transfer none): where connections and lookups
 *   are recorded; a private one when %NULL
 *
 * Returns: (transfer full): an engine with no routers, not started
 */
ExgEngine *
exg_engine_new (ExgActivity *activity)
{
  ExgEngine *self = g_object_new (EXG_TYPE_ENGINE, NULL);

  self->activity = activity != NULL ? g_object_ref (activity)
                                    : exg_activity_new (0);
  self->server = exg_server_new (self->registry, self->activity);
  return self;
}

/**
 * exg_engine_get_registry:
 *
 * Returns: (transfer none): every router, of every source
 */
ExgRouterRegistry *
exg_engine_get_registry (ExgEngine *self)
{
  g_return_val_if_fail (EXG_IS_ENGINE (self), NULL);
  return self->registry;
}

/**
 * exg_engine_get_server:
 *
 * Returns: (transfer none): the SOCKS server
 */
ExgServer *
exg_engine_get_server (ExgEngine *self)
{
  g_return_val_if_fail (EXG_IS_ENGINE (self), NULL);
  return self->server;
}

/**
 * exg_engine_get_activity:
 *
 * Returns: (transfer none): live connections and the lookup history
 */
ExgActivity *
exg_engine_get_activity (ExgEngine *self)
{
  g_return_val_if_fail (EXG_IS_ENGINE (self), NULL);
  return self->activity;
}

/**
 * exg_engine_get_geoip:
 *
 * Returns: (transfer none) (nullable): the country database
 */
ExgGeoip *
exg_engine_get_geoip (ExgEngine *self)
{
  g_return_val_if_fail (EXG_IS_ENGINE (self), NULL);
  return self->geoip;
}

/**
 * exg_engine_get_tor:
 *
 * Returns: (transfer none) (nullable): the tor whose exits are routers
 */
ExgTorClient *
exg_engine_get_tor (ExgEngine *self)
{
  g_return_val_if_fail (EXG_IS_ENGINE (self), NULL);
  return self->tor;
}

/**
 * exg_engine_get_health:
 *
 * Returns: (transfer none) (nullable): the health checker, once started
 */
ExgHealth *
exg_engine_get_health (ExgEngine *self)
{
  g_return_val_if_fail (EXG_IS_ENGINE (self), NULL);
  return self->health;
}

/* The config's exits into the registry, through the one interface every
 * router source uses. */
static gboolean
sync_config_exits (ExgEngine  *self,
                   ExgConfig  *config,
                   GError    **error)
{
  g_autoptr(GPtrArray) routers = exg_config_build_routers (config, self->geoip,
                                                           error);

  if (routers == NULL)
    return FALSE;
  exg_router_registry_sync (self->registry, self->config_ids, routers);
  return TRUE;
}

static ExgTorClient *
tor_client_new (ExgEngine *self,
                ExgConfig *config)
{
  ExgTorClient *client = exg_tor_client_new (self->registry, self->geoip);

  if (config->tor_managed)
    {
      /* kept between runs: a restart bootstraps from what tor cached */
      g_autofree char *data_dir = g_build_filename (g_get_user_data_dir (),
                                                    "exitgate", "tor", NULL);

      exg_tor_client_set_managed (client, data_dir, config->tor_torrc);
    }
  else
    exg_tor_client_set_control (client, config->tor_control,
                                config->tor_password);
  exg_tor_client_set_network_enabled (client, !self->tor_offline);
  return client;
}

static gboolean
same_tor (ExgConfig *a,
          ExgConfig *b)
{
  return a != NULL && b != NULL &&
         a->tor_managed == b->tor_managed &&
         g_strcmp0 (a->tor_control, b->tor_control) == 0 &&
         g_strcmp0 (a->tor_torrc, b->tor_torrc) == 0 &&
         g_strcmp0 (a->tor_password, b->tor_password) == 0;
}

/**
 * exg_engine_set_tor_network_enabled:
 * @self: an engine
 * @enabled: %FALSE: a managed tor starts, and stays, with "DisableNetwork 1"
 *
 * The app's "nothing leaves until Connect": applies to the tor client of
 * now and to the one every later [tor] group makes.  See
 * exg_tor_client_set_network_enabled().
 */
void
exg_engine_set_tor_network_enabled (ExgEngine *self,
                                    gboolean   enabled)
{
  g_return_if_fail (EXG_IS_ENGINE (self));

  self->tor_offline = !enabled;
  if (self->tor != NULL)
    exg_tor_client_set_network_enabled (self->tor, enabled);
}

/**
 * exg_engine_load_exits:
 * @config: (transfer none): the key file's exits and [tor] group
 *
 * Makes the registry hold @config's exits; those that did not change keep
 * their state and figures.  A changed [tor] group replaces the tor client
 * (its routers go with the old one).
 *
 * Returns: %FALSE with @error when an exit is malformed; nothing changed
 */
gboolean
exg_engine_load_exits (ExgEngine  *self,
                       ExgConfig  *config,
                       GError    **error)
{
  g_return_val_if_fail (EXG_IS_ENGINE (self), FALSE);
  g_return_val_if_fail (config != NULL, FALSE);

  if (!sync_config_exits (self, config, error))
    return FALSE;

  if (!same_tor (self->config, config))
    {
      g_clear_object (&self->tor);
      if (exg_config_uses_tor (config))
        {
          self->tor = tor_client_new (self, config);
          if (self->started)
            exg_tor_client_start (self->tor);
        }
    }

  g_clear_pointer (&self->config, exg_config_free);
  self->config = exg_config_copy (config);
  return TRUE;
}

/**
 * exg_engine_set_geoip:
 * @geoip: (nullable) (transfer none): the country database
 */
void
exg_engine_set_geoip (ExgEngine *self,
                      ExgGeoip  *geoip)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (EXG_IS_ENGINE (self));

  if (!g_set_object (&self->geoip, geoip))
    return;
  if (self->tor != NULL)
    exg_tor_client_set_geoip (self->tor, geoip);
  /* countries from the new database: changed digests, new routers */
  if (self->config != NULL && !sync_config_exits (self, self->config, &error))
    g_message ("%s", error->message);
}

/**
 * exg_engine_configure_server:
 *
 * Returns: %FALSE with @error when a list in @config is malformed
 */
gboolean
exg_engine_configure_server (ExgEngine  *self,
                             ExgConfig  *config,
                             GError    **error)
{
  ExgServer *server;

  g_return_val_if_fail (EXG_IS_ENGINE (self), FALSE);
  g_return_val_if_fail (config != NULL, FALSE);

  server = self->server;
  exg_server_set_handshake_timeout (server, config->handshake_timeout);
  exg_server_set_max_connections (server, config->max_connections);
  exg_server_set_unsafe_logging (server, config->unsafe_logging);
  exg_server_set_default_selection (server, &config->selection);
  if (config->password != NULL)
    exg_server_set_credentials (server, config->username, config->password);
  return exg_server_set_allow_list (server, (const char * const *) config->allow,
                                    error) &&
         exg_server_set_allow_targets (server,
                                       (const char * const *) config->allow_targets,
                                       error) &&
         exg_server_set_deny_targets (server,
                                      (const char * const *) config->deny_targets,
                                      error);
}

void
exg_engine_start (ExgEngine *self,
                  guint      health_interval)
{
  g_return_if_fail (EXG_IS_ENGINE (self));
  g_return_if_fail (!self->started);

  self->started = TRUE;
  self->health = exg_health_new (self->registry, health_interval);
  if (self->tor != NULL)
    exg_tor_client_start (self->tor);
}

static void
tor_stopped_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  if (!exg_tor_client_stop_finish (EXG_TOR_CLIENT (source), result, &error))
    g_message ("tor: could not hand stream attachment back: %s", error->message);
  *done = TRUE;
}

static gboolean
set_true_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
exg_engine_stop (ExgEngine *self)
{
  g_return_if_fail (EXG_IS_ENGINE (self));

  exg_server_stop (self->server);
  g_clear_object (&self->health);

  if (self->tor != NULL)
    {
      gboolean done = FALSE, timed_out = FALSE;
      guint id;

      exg_tor_client_stop_async (self->tor, NULL, tor_stopped_cb, &done);
      id = g_timeout_add_seconds (TOR_STOP_TIMEOUT, set_true_cb, &timed_out);
      while (!done && !timed_out)
        g_main_context_iteration (NULL, TRUE);
      if (!timed_out)
        g_source_remove (id);
    }
  self->started = FALSE;
}
