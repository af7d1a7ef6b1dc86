/* exg-activity.c: live connections and the name-lookup history, in memory.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-activity.h"

#include <string.h>

#define DEFAULT_HISTORY_SIZE 1000

struct _ExgActivity
{
  GObject     parent_instance;

  GHashTable *connections;   /* guint64* id → ExgConnInfo*, both owned by the info */
  guint64     next_id;
  guint64     totals[2];     /* up, down: all bytes relayed since start */

  GQueue      lookups;       /* (element-type ExgLookup) owned, newest last */
  guint       history_size;

  GHashTable *leak_hinted;   /* client hosts told of the DNS-leak hint */
};

/* Client addresses remembered as told of the DNS-leak hint; past this the
 * set starts again, so a flood of clients costs bounded memory and, at
 * worst, a repeated line. */
#define MAX_LEAK_HINTED 1024

G_DEFINE_FINAL_TYPE (ExgActivity, exg_activity, G_TYPE_OBJECT)

enum {
  CONNECTION_ADDED,
  CONNECTION_CHANGED,
  CONNECTION_REMOVED,
  LOOKUP_ADDED,
  LOOKUPS_CLEARED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

ExgConnInfo *
exg_conn_info_ref (ExgConnInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  g_return_val_if_fail (info->ref_count > 0, NULL);

  g_atomic_int_inc (&info->ref_count);
  return info;
}

void
exg_conn_info_unref (ExgConnInfo *info)
{
  g_return_if_fail (info != NULL);
  g_return_if_fail (info->ref_count > 0);

  if (!g_atomic_int_dec_and_test (&info->ref_count))
    return;

  g_free (info->client);
  g_free (info->username);
  g_free (info->target);
  g_free (info->exit_id);
  g_free (info->exit_name);
  g_free (info->circuit);
  g_free (info->isolation);
  g_free (info->error);
  g_free (info);
}

static void
lookup_free (gpointer data)
{
  ExgLookup *lookup = data;

  g_free (lookup->query);
  g_free (lookup->answer);
  g_free (lookup->error);
  g_free (lookup->exit_name);
  g_free (lookup);
}

static void
exg_activity_finalize (GObject *object)
{
  ExgActivity *self = EXG_ACTIVITY (object);

  g_clear_pointer (&self->connections, g_hash_table_unref);
  g_clear_pointer (&self->leak_hinted, g_hash_table_unref);
  g_queue_clear_full (&self->lookups, lookup_free);

  G_OBJECT_CLASS (exg_activity_parent_class)->finalize (object);
}

static void
exg_activity_class_init (ExgActivityClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = exg_activity_finalize;

  /**
   * ExgActivity::connection-added:
   * @info: (type gpointer): the ExgConnInfo, valid during emission
   */
  signals[CONNECTION_ADDED] =
    g_signal_new ("connection-added", G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[CONNECTION_CHANGED] =
    g_signal_new ("connection-changed", G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[CONNECTION_REMOVED] =
    g_signal_new ("connection-removed", G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  /**
   * ExgActivity::lookup-added:
   * @lookup: (type gpointer): the ExgLookup, owned by the history
   */
  signals[LOOKUP_ADDED] =
    g_signal_new ("lookup-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[LOOKUPS_CLEARED] =
    g_signal_new ("lookups-cleared", G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
exg_activity_init (ExgActivity *self)
{
  self->connections = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL,
                                             (GDestroyNotify) exg_conn_info_unref);
  self->next_id = 1;
  self->history_size = DEFAULT_HISTORY_SIZE;
  g_queue_init (&self->lookups);
  self->leak_hinted = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                             NULL);
}

/**
 * exg_activity_new:
 * @history_size: most lookups kept; 0 for the default (1000)
 */
ExgActivity *
exg_activity_new (guint history_size)
{
  ExgActivity *self = g_object_new (EXG_TYPE_ACTIVITY, NULL);

  if (history_size > 0)
    self->history_size = history_size;
  return self;
}

static void
trim_lookups (ExgActivity *self)
{
  while (self->lookups.length > self->history_size)
    lookup_free (g_queue_pop_head (&self->lookups));
}

void
exg_activity_set_history_size (ExgActivity *self,
                               guint        history_size)
{
  g_return_if_fail (EXG_IS_ACTIVITY (self));

  self->history_size = history_size;
  trim_lookups (self);
}

guint
exg_activity_get_history_size (ExgActivity *self)
{
  g_return_val_if_fail (EXG_IS_ACTIVITY (self), 0);
  return self->history_size;
}

/**
 * exg_activity_add_connection:
 * @client: the client's address, "127.0.0.1:40000"
 *
 * Returns: (transfer none): the new record, owned by @self until removed
 */
ExgConnInfo *
exg_activity_add_connection (ExgActivity *self,
                             const char  *client)
{
  ExgConnInfo *info;

  g_return_val_if_fail (EXG_IS_ACTIVITY (self), NULL);

  info = g_new0 (ExgConnInfo, 1);
  info->ref_count = 1;
  info->id = self->next_id++;
  info->client = g_strdup (client);
  info->state = EXG_CONN_STATE_HANDSHAKE;
  info->start_time = g_get_real_time ();

  g_hash_table_insert (self->connections, &info->id, info);
  g_signal_emit (self, signals[CONNECTION_ADDED], 0, info);
  return info;
}

/**
 * exg_conn_info_get_client_host:
 * @info: a connection
 *
 * Returns: (transfer full): the client's address without its port,
 *   "127.0.0.1" or "[::1]"
 */
char *
exg_conn_info_get_client_host (const ExgConnInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);

  if (info->client == NULL)
    return g_strdup ("");
  return g_strndup (info->client, exg_conn_info_client_host_len (info));
}

/**
 * exg_conn_info_client_host_len:
 * @info: a connection
 *
 * Returns: how many bytes of @info's client text are its address, the
 *   part exg_conn_info_get_client_host () copies
 */
gsize
exg_conn_info_client_host_len (const ExgConnInfo *info)
{
  const char *colon;

  g_return_val_if_fail (info != NULL, 0);

  if (info->client == NULL)
    return 0;
  colon = strrchr (info->client, ':');
  if (colon == NULL || (info->client[0] == '[' && colon[-1] != ']'))
    return strlen (info->client);
  return colon - info->client;
}

/**
 * exg_activity_note_ip_literal_through_proxy:
 * @self: the activity model
 * @info: a connection whose CONNECT named an IP address and went through a
 *   tor or proxy exit
 *
 * Like tor's WarnUnsafeSocks: a client that sends addresses rather than
 * names to a proxy that would resolve them at the exit may have asked its
 * own resolver first, which tells the local network what it visits.
 * Marks @info, and logs one line per client address (never the target).
 */
void
exg_activity_note_ip_literal_through_proxy (ExgActivity *self,
                                            ExgConnInfo *info)
{
  g_autofree char *host = NULL;

  g_return_if_fail (EXG_IS_ACTIVITY (self));
  g_return_if_fail (info != NULL);

  if (info->ip_literal_through_proxy)
    return;
  info->ip_literal_through_proxy = TRUE;
  exg_activity_connection_changed (self, info);

  host = exg_conn_info_get_client_host (info);
  if (g_hash_table_contains (self->leak_hinted, host))
    return;
  if (g_hash_table_size (self->leak_hinted) >= MAX_LEAK_HINTED)
    g_hash_table_remove_all (self->leak_hinted);
  g_message ("Client %s connects by IP address through a proxy or tor exit: "
             "it may resolve names itself (use socks5h / proxy DNS)", host);
  g_hash_table_add (self->leak_hinted, g_steal_pointer (&host));
}

void
exg_activity_connection_changed (ExgActivity *self,
                                 ExgConnInfo *info)
{
  g_return_if_fail (EXG_IS_ACTIVITY (self));
  g_return_if_fail (info != NULL);

  g_signal_emit (self, signals[CONNECTION_CHANGED], 0, info);
}

void
exg_activity_remove_connection (ExgActivity *self,
                                ExgConnInfo *info)
{
  g_autoptr(ExgConnInfo) keep = NULL;

  g_return_if_fail (EXG_IS_ACTIVITY (self));
  g_return_if_fail (info != NULL);

  if (g_hash_table_lookup (self->connections, &info->id) != info)
    return;

  keep = exg_conn_info_ref (info);
  if (info->end_time == 0)
    info->end_time = g_get_real_time ();
  g_hash_table_remove (self->connections, &info->id);
  g_signal_emit (self, signals[CONNECTION_REMOVED], 0, info);
}

/**
 * exg_activity_lookup_connection:
 *
 * Returns: (transfer none) (nullable): the live connection with @id
 */
ExgConnInfo *
exg_activity_lookup_connection (ExgActivity *self,
                                guint64      id)
{
  g_return_val_if_fail (EXG_IS_ACTIVITY (self), NULL);
  return g_hash_table_lookup (self->connections, &id);
}

guint
exg_activity_get_n_connections (ExgActivity *self)
{
  g_return_val_if_fail (EXG_IS_ACTIVITY (self), 0);
  return g_hash_table_size (self->connections);
}

static int
compare_by_id (gconstpointer a,
               gconstpointer b)
{
  const ExgConnInfo *ia = *(ExgConnInfo * const *) a;
  const ExgConnInfo *ib = *(ExgConnInfo * const *) b;

  return ia->id < ib->id ? -1 : ia->id > ib->id;
}

/**
 * exg_activity_list_connections:
 *
 * Returns: (element-type ExgConnInfo) (transfer container): the live
 *   connections, oldest first
 */
GPtrArray *
exg_activity_list_connections (ExgActivity *self)
{
  GPtrArray *list;
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (EXG_IS_ACTIVITY (self), NULL);

  list = g_ptr_array_sized_new (g_hash_table_size (self->connections));
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (list, value);
  g_ptr_array_sort (list, compare_by_id);
  return list;
}

guint64 *
exg_activity_totals_ (ExgActivity *self)
{
  return self->totals;
}

void
exg_activity_get_totals (ExgActivity *self,
                         guint64     *up,
                         guint64     *down)
{
  g_return_if_fail (EXG_IS_ACTIVITY (self));

  if (up != NULL)
    *up = self->totals[0];
  if (down != NULL)
    *down = self->totals[1];
}

/**
 * exg_activity_add_lookup:
 * @kind: forward or reverse
 * @query: what was asked
 * @answer: (nullable): addresses joined by ", ", or the name
 * @error: (nullable): why it failed
 * @exit: (nullable): the router that answered
 */
void
exg_activity_add_lookup (ExgActivity   *self,
                         ExgLookupKind  kind,
                         const char    *query,
                         const char    *answer,
                         const char    *error,
                         ExgRouter     *exit)
{
  ExgLookup *lookup;

  g_return_if_fail (EXG_IS_ACTIVITY (self));

  if (self->history_size == 0)
    return;

  lookup = g_new0 (ExgLookup, 1);
  lookup->time = g_get_real_time ();
  lookup->kind = kind;
  lookup->query = g_strdup (query);
  lookup->answer = g_strdup (answer);
  lookup->error = g_strdup (error);
  if (exit != NULL)
    {
      lookup->exit_name = g_strdup (exg_router_get_name (exit));
      g_strlcpy (lookup->exit_country, exg_router_get_country (exit),
                 sizeof lookup->exit_country);
    }

  g_queue_push_tail (&self->lookups, lookup);
  trim_lookups (self);
  g_signal_emit (self, signals[LOOKUP_ADDED], 0, lookup);
}

/**
 * exg_activity_get_lookups:
 *
 * Returns: (transfer none): the history, newest last
 */
const GQueue *
exg_activity_get_lookups (ExgActivity *self)
{
  g_return_val_if_fail (EXG_IS_ACTIVITY (self), NULL);
  return &self->lookups;
}

void
exg_activity_clear_lookups (ExgActivity *self)
{
  g_return_if_fail (EXG_IS_ACTIVITY (self));

  g_queue_clear_full (&self->lookups, lookup_free);
  g_queue_init (&self->lookups);
  g_signal_emit (self, signals[LOOKUPS_CLEARED], 0);
}

const char *
exg_conn_state_to_string (ExgConnState state)
{
  switch (state)
    {
    case EXG_CONN_STATE_HANDSHAKE:
      return "handshake";
    case EXG_CONN_STATE_CONNECTING:
      return "connecting";
    case EXG_CONN_STATE_RESOLVING:
      return "resolving";
    case EXG_CONN_STATE_OPEN:
      return "open";
    case EXG_CONN_STATE_CLOSED:
      return "closed";
    case EXG_CONN_STATE_FAILED:
      return "failed";
    default:
      return "unknown";
    }
}
