/* exg-tor-client.c: Exitgate's side of one tor.
 *
 * The connection.  Either a tor that runs already (its control port or
 * socket) or one we start (ExgTorProcess, which owns its control
 * connection).  Once connected: SETEVENTS for bootstrap, streams,
 * circuits and consensuses; __LeaveStreamsUnattached=1, so that tor
 * leaves every new stream to us; tor's SocksPort from net/listeners/socks.
 * Lost (the connection closed, tor exited): every tor router goes down at
 * once, and we try again after 1 s, 2 s, 4 s … 30 s, starting a managed tor
 * anew.  Each connection has a generation number, so that answers to an
 * older one are ignored.
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
 * (exg_tor_client_keep_circuit_ready), built as soon as tor is ready and
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
#include "exg-tor-client.h"

#include "exg-backend-tor.h"
#include "exg-error.h"
#include "exg-tor-control.h"
#include "exg-tor-process.h"

#include <string.h>

/* END reason TIMEOUT (tor-spec §6.3): tor answers the SOCKS client 06 */
#define REASON_TIMEOUT "7"
#define REASON_MISC    "1"

/* How many unknown circuit ids' last status are remembered */
#define MAX_EARLY_CIRCUITS 64

#define CIRCUIT_PATH_LENGTH 3

enum {
  RELAY_EXIT    = 1 << 0,
  RELAY_RUNNING = 1 << 1,
  RELAY_VALID   = 1 << 2,
  RELAY_BADEXIT = 1 << 3,
  RELAY_GUARD   = 1 << 4,
  RELAY_FAST    = 1 << 5,
};

typedef struct {
  char    *fingerprint;   /* 40 upper-case hex digits */
  char    *nickname;
  char    *address;       /* IPv4, as text */
  guint32  ipv4;          /* host order */
  guint64  bandwidth;     /* bytes/s */
  guint    flags;
  char    *policy;        /* exits: the microdescriptor's "p" summary */
} Relay;

typedef struct {
  char *exit_fingerprint;
  char *isolation;
} Expected;

typedef struct {
  char      *key;          /* "FP|isolation"; the circuit kept ready: "FP" */
  char      *exit_fingerprint;
  char      *id;           /* tor's id; NULL until EXTENDED */
  gboolean   built;
  gint64     built_at;     /* monotonic µs */
  GPtrArray *waiting;      /* of char *, stream ids */
} Circuit;

struct _ExgTorClient
{
  GObject             parent_instance;

  ExgRouterRegistry  *registry;        /* owned */
  ExgGeoip           *geoip;           /* owned, nullable */

  char               *control_address; /* owned, nullable */
  char               *password;        /* owned, nullable */
  gboolean            managed;
  char               *data_dir;        /* owned, nullable */
  char               *torrc;           /* owned, nullable */
  char               *tor_path;        /* owned, nullable */

  ExgTorProcess      *process;         /* owned, nullable */
  ExgTorControl      *control;         /* owned, nullable: connected */
  gulong              event_id;
  gulong              closed_id;
  gulong              exited_id;
  guint               generation;
  gboolean            started;
  gboolean            stopping;
  guint               backoff;         /* seconds; 0: none yet */
  guint               reconnect_id;

  int                 progress;        /* -1 unknown */
  char               *summary;
  char               *warning;         /* owned, nullable: tor's last
                                        * bootstrap WARNING= */
  gboolean            network_disabled; /* a managed tor: DisableNetwork 1 */
  gboolean            spawned_disabled; /* the current tor started so */
  gboolean            ready;
  gboolean            loading;
  gboolean            reload;          /* a consensus came while loading */
  GSocketAddress     *socks;           /* owned, nullable */

  GHashTable         *relays;          /* fp → Relay */
  GPtrArray          *guards;          /* of char *, tor's entry guards that are up */
  GHashTable         *routers;         /* fp → ExgRouter, those in the registry */
  GHashTable         *expected;        /* SOURCE_ADDR → Expected */
  GHashTable         *ours;            /* stream id → NULL: attached by us */
  GHashTable         *circuits;        /* key → Circuit (owned) */
  GHashTable         *circuit_ids;     /* tor's id → Circuit */
  GHashTable         *early;           /* tor's id → last status */
  char               *ready_exit;      /* owned, nullable: keep a circuit
                                        * to it ready, keyed by its fp */
};

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

G_DEFINE_FINAL_TYPE (ExgTorClient, exg_tor_client, G_TYPE_OBJECT)

static void client_connect     (ExgTorClient *self);
static void client_lost        (ExgTorClient *self,
                                const char   *why);
static void load_consensus     (ExgTorClient *self);
static void ready_circuit_build (ExgTorClient *self);

/* ------------------------------------------------------------------------
 * Small things
 * ------------------------------------------------------------------------ */

static void
relay_free (Relay *relay)
{
  g_free (relay->fingerprint);
  g_free (relay->nickname);
  g_free (relay->address);
  g_free (relay->policy);
  g_free (relay);
}

static void
expected_free (Expected *e)
{
  g_free (e->exit_fingerprint);
  g_free (e->isolation);
  g_free (e);
}

static void
circuit_free (Circuit *c)
{
  g_free (c->key);
  g_free (c->exit_fingerprint);
  g_free (c->id);
  g_ptr_array_unref (c->waiting);
  g_free (c);
}

/* A callback's context: answers to an older connection are dropped. */
typedef struct {
  ExgTorClient *self;     /* owned */
  guint         generation;
  char         *stream;   /* owned, nullable */
  Circuit      *circuit;  /* checked against the tables before use */
} Call;

static Call *
call_new (ExgTorClient *self)
{
  Call *call = g_new0 (Call, 1);

  call->self = g_object_ref (self);
  call->generation = self->generation;
  return call;
}

static void
call_free (Call *call)
{
  g_object_unref (call->self);
  g_free (call->stream);
  g_free (call);
}

static gboolean
call_current (Call *call)
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

static void
send_ignored (ExgTorClient *self,
              const char   *format,
              ...) G_GNUC_PRINTF (2, 3);

static void
send_ignored (ExgTorClient *self,
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

static void
set_ready (ExgTorClient *self,
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
    ready_circuit_build (self);
}

/* ------------------------------------------------------------------------
 * The consensus
 * ------------------------------------------------------------------------ */

static char *
fingerprint_from_base64 (const char *b64)
{
  g_autofree char *padded = NULL;
  g_autofree guchar *raw = NULL;
  gsize len = 0;
  GString *hex;

  /* identities are 20 bytes, 27 base64 digits without their padding */
  padded = g_strconcat (b64, "=", NULL);
  raw = g_base64_decode (padded, &len);
  if (len != 20)
    return NULL;
  hex = g_string_sized_new (40);
  for (gsize i = 0; i < len; i++)
    g_string_append_printf (hex, "%02X", raw[i]);
  return g_string_free (hex, FALSE);
}

/* "r nick identity [digest] date time IP ORPort DirPort": the microdesc
 * flavour has no digest, so the address is read from the end. */
static Relay *
relay_from_r_line (const char *line)
{
  g_auto(GStrv) words = g_strsplit (line, " ", -1);
  guint n = g_strv_length (words);
  g_autoptr(GInetAddress) inet = NULL;
  Relay *relay;
  char *fp;

  if (n < 8)
    return NULL;
  inet = g_inet_address_new_from_string (words[n - 3]);
  if (inet == NULL || g_inet_address_get_family (inet) != G_SOCKET_FAMILY_IPV4)
    return NULL;
  fp = fingerprint_from_base64 (words[2]);
  if (fp == NULL)
    return NULL;

  relay = g_new0 (Relay, 1);
  relay->fingerprint = fp;
  relay->nickname = g_strdup (words[1]);
  relay->address = g_strdup (words[n - 3]);
  {
    const guint8 *b = g_inet_address_to_bytes (inet);

    relay->ipv4 = ((guint32) b[0] << 24) | ((guint32) b[1] << 16) |
                  ((guint32) b[2] << 8) | b[3];
  }
  return relay;
}

static guint
flags_from_s_line (const char *line)
{
  g_auto(GStrv) words = g_strsplit (line, " ", -1);
  guint flags = 0;

  for (guint i = 1; words[i] != NULL; i++)
    {
      if (g_str_equal (words[i], "Exit"))
        flags |= RELAY_EXIT;
      else if (g_str_equal (words[i], "Running"))
        flags |= RELAY_RUNNING;
      else if (g_str_equal (words[i], "Valid"))
        flags |= RELAY_VALID;
      else if (g_str_equal (words[i], "BadExit"))
        flags |= RELAY_BADEXIT;
      else if (g_str_equal (words[i], "Guard"))
        flags |= RELAY_GUARD;
      else if (g_str_equal (words[i], "Fast"))
        flags |= RELAY_FAST;
    }
  return flags;
}

/* ns/all → fp → Relay.  (transfer full) */
static GHashTable *
parse_ns_all (const char *text)
{
  GHashTable *relays = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                              (GDestroyNotify) relay_free);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  Relay *current = NULL;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = g_strchomp (lines[i]);

      if (g_str_has_prefix (line, "r "))
        {
          current = relay_from_r_line (line);
          if (current == NULL)
            continue;
          if (g_hash_table_contains (relays, current->fingerprint))
            {
              relay_free (current);
              current = NULL;
              continue;
            }
          g_hash_table_insert (relays, current->fingerprint, current);
        }
      else if (current != NULL && g_str_has_prefix (line, "s "))
        current->flags = flags_from_s_line (line);
      else if (current != NULL && g_str_has_prefix (line, "w "))
        {
          const char *bw = strstr (line, "Bandwidth=");

          /* kilobytes/s in the consensus; min_bw and router_bw are bytes/s */
          if (bw != NULL)
            current->bandwidth = g_ascii_strtoull (bw + strlen ("Bandwidth="), NULL, 10) * 1000;
        }
    }
  return relays;
}

static gboolean
relay_is_exit (const Relay *relay)
{
  return (relay->flags & (RELAY_EXIT | RELAY_RUNNING | RELAY_VALID)) ==
           (RELAY_EXIT | RELAY_RUNNING | RELAY_VALID) &&
         (relay->flags & RELAY_BADEXIT) == 0;
}

/* The relays that are exits become routers; those that stay keep theirs. */
static void
sync_routers (ExgTorClient   *self,
              ExgRouterState  state)
{
  g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  const char *fp;
  Relay *relay;
  ExgRouter *router;

  g_hash_table_iter_init (&iter, self->routers);
  while (g_hash_table_iter_next (&iter, (gpointer *) &fp, (gpointer *) &router))
    {
      relay = g_hash_table_lookup (self->relays, fp);
      if (relay == NULL || !relay_is_exit (relay) ||
          g_strcmp0 (relay->address, exg_router_get_address (router)) != 0 ||
          g_strcmp0 (relay->nickname, exg_router_get_name (router)) != 0)
        g_ptr_array_add (gone, g_strdup (fp));
    }
  for (guint i = 0; i < gone->len; i++)
    {
      router = g_hash_table_lookup (self->routers, g_ptr_array_index (gone, i));
      exg_router_registry_remove (self->registry, exg_router_get_id (router));
      g_hash_table_remove (self->routers, g_ptr_array_index (gone, i));
    }

  g_hash_table_iter_init (&iter, self->relays);
  while (g_hash_table_iter_next (&iter, (gpointer *) &fp, (gpointer *) &relay))
    {
      g_autoptr(ExgBackend) backend = NULL;
      g_autofree char *id = NULL;
      char country[3] = "";

      if (!relay_is_exit (relay))
        continue;
      router = g_hash_table_lookup (self->routers, fp);
      if (router != NULL)
        {
          exg_router_set_bandwidth (router, relay->bandwidth);
          exg_router_set_exit_policy (router, relay->policy);
          exg_backend_tor_set_exit_policy (EXG_BACKEND_TOR (exg_router_get_backend (router)),
                                           relay->policy);
          continue;
        }

      /* the country every other router gets: our GeoIP database's */
      if (self->geoip != NULL)
        exg_geoip_lookup_string (self->geoip, relay->address, country);
      backend = exg_backend_tor_new (self, relay->fingerprint);
      exg_backend_tor_set_exit_policy (EXG_BACKEND_TOR (backend), relay->policy);
      id = g_strconcat ("tor:", relay->fingerprint, NULL);
      router = exg_router_new (id, relay->nickname, EXG_ROUTER_KIND_TOR,
                               relay->address, country, relay->bandwidth,
                               CIRCUIT_PATH_LENGTH, backend);
      exg_router_set_exit_policy (router, relay->policy);
      exg_router_set_state (router, state);
      g_hash_table_insert (self->routers, g_strdup (relay->fingerprint), router);
      exg_router_registry_add (self->registry, router);
    }
}

typedef struct {
  Call       *call;
  GHashTable *relays;     /* owned until installed */
  guint       pending;    /* md/id answers still to come */
} Load;

static void
load_free (Load *load)
{
  call_free (load->call);
  g_clear_pointer (&load->relays, g_hash_table_unref);
  g_free (load);
}

static void
load_done (Load *load)
{
  ExgTorClient *self = load->call->self;

  if (call_current (load->call))
    {
      g_hash_table_unref (self->relays);
      self->relays = g_steal_pointer (&load->relays);
      self->loading = FALSE;
      /* new routers come up with the others, not "up again" after */
      sync_routers (self, self->ready || self->progress >= 100
                            ? EXG_ROUTER_STATE_UP : EXG_ROUTER_STATE_DOWN);
      g_message ("tor: %u exit relays", g_hash_table_size (self->routers));
      if (self->progress >= 100)
        {
          self->backoff = 0;
          set_ready (self, TRUE);
        }
      if (self->reload)
        {
          self->reload = FALSE;
          load_consensus (self);
        }
    }
  load_free (load);
}

typedef struct {
  Load *load;
  char *fingerprint;
} MdCall;

static void
md_cb (GObject      *source,
       GAsyncResult *result,
       gpointer      user_data)
{
  MdCall *md = user_data;
  Load *load = md->load;
  g_autofree char *value = NULL;
  g_autoptr(GError) error = NULL;

  value = exg_tor_control_getinfo_finish (EXG_TOR_CONTROL (source), result, &error);
  if (value != NULL && load->relays != NULL)
    {
      Relay *relay = g_hash_table_lookup (load->relays, md->fingerprint);
      g_auto(GStrv) lines = g_strsplit (value, "\n", -1);

      for (guint i = 0; relay != NULL && lines[i] != NULL; i++)
        if (g_str_has_prefix (lines[i], "p "))
          {
            g_free (relay->policy);
            relay->policy = g_strdup (g_strchomp (lines[i] + 2));
          }
    }
  g_free (md->fingerprint);
  g_free (md);
  if (--load->pending == 0)
    load_done (load);
}

static void
entry_guards_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Load *load = user_data;
  ExgTorClient *self = load->call->self;
  g_autofree char *value = NULL;
  g_autoptr(GError) error = NULL;
  GHashTableIter iter;
  Relay *relay;

  value = exg_tor_control_getinfo_finish (EXG_TOR_CONTROL (source), result, &error);
  if (!call_current (load->call))
    {
      load_free (load);
      return;
    }

  /* "$FP~nick up" (or "=nick"), one a line */
  g_ptr_array_set_size (self->guards, 0);
  if (value != NULL)
    {
      g_auto(GStrv) lines = g_strsplit (value, "\n", -1);

      for (guint i = 0; lines[i] != NULL; i++)
        {
          const char *line = g_strstrip (lines[i]);

          if (line[0] == '$' && strlen (line) > 41 && strstr (line, " up") != NULL)
            g_ptr_array_add (self->guards, g_ascii_strup (line + 1, 40));
        }
    }

  /* ns/all has no exit policies: each exit's microdescriptor has it */
  load->pending = 1;
  g_hash_table_iter_init (&iter, load->relays);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &relay))
    {
      g_autofree char *key = NULL;
      MdCall *md;

      if (!relay_is_exit (relay))
        continue;
      md = g_new0 (MdCall, 1);
      md->load = load;
      md->fingerprint = g_strdup (relay->fingerprint);
      key = g_strconcat ("md/id/", relay->fingerprint, NULL);
      load->pending++;
      exg_tor_control_getinfo_async (self->control, key, NULL, md_cb, md);
    }
  if (--load->pending == 0)
    load_done (load);
}

static void
ns_all_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Load *load = user_data;
  ExgTorClient *self = load->call->self;
  g_autofree char *value = NULL;
  g_autoptr(GError) error = NULL;

  value = exg_tor_control_getinfo_finish (EXG_TOR_CONTROL (source), result, &error);
  if (!call_current (load->call) || value == NULL)
    {
      if (value == NULL)
        g_message ("tor: cannot read the consensus: %s", error->message);
      if (call_current (load->call))
        self->loading = FALSE;
      load_free (load);
      return;
    }
  load->relays = parse_ns_all (value);
  exg_tor_control_getinfo_async (self->control, "entry-guards", NULL,
                                 entry_guards_cb, load);
}

static void
load_consensus (ExgTorClient *self)
{
  Load *load;

  if (self->control == NULL)
    return;
  if (self->loading)
    {
      self->reload = TRUE;
      return;
    }
  self->loading = TRUE;
  load = g_new0 (Load, 1);
  load->call = call_new (self);
  exg_tor_control_getinfo_async (self->control, "ns/all", NULL, ns_all_cb, load);
}

/* ------------------------------------------------------------------------
 * Circuits and streams
 * ------------------------------------------------------------------------ */

static gboolean
same_16 (const Relay *a,
         const Relay *b)
{
  return a != NULL && b != NULL && (a->ipv4 >> 16) == (b->ipv4 >> 16);
}

static const Relay *
pick_guard (ExgTorClient *self,
            const Relay  *exit)
{
  g_autoptr(GPtrArray) candidates = g_ptr_array_new ();
  GHashTableIter iter;
  Relay *relay;

  /* tor's own entry guards: a circuit of ours looks like tor's own */
  for (guint i = 0; i < self->guards->len; i++)
    {
      relay = g_hash_table_lookup (self->relays, g_ptr_array_index (self->guards, i));
      if (relay != NULL && relay != exit && (relay->flags & RELAY_RUNNING))
        g_ptr_array_add (candidates, relay);
    }
  if (candidates->len == 0)
    {
      g_hash_table_iter_init (&iter, self->relays);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &relay))
        if (relay != exit &&
            (relay->flags & (RELAY_GUARD | RELAY_RUNNING)) == (RELAY_GUARD | RELAY_RUNNING))
          g_ptr_array_add (candidates, relay);
    }
  if (candidates->len == 0)
    return NULL;
  return g_ptr_array_index (candidates, g_random_int_range (0, candidates->len));
}

static const Relay *
pick_middle (ExgTorClient *self,
             const Relay  *guard,
             const Relay  *exit)
{
  g_autoptr(GPtrArray) candidates = g_ptr_array_new ();
  GHashTableIter iter;
  Relay *relay;
  guint64 total = 0, point;

  /* Never in the /16 of another hop, as tor's own paths.  A network in
   * one /16 (the loopback test network: every relay is 127.0.0.x) would
   * then have no middle at all; there the rule is dropped, as tor's own
   * EnforceDistinctSubnets is under TestingTorNetwork.  Families are not
   * in ns/all, so they are not checked. */
  for (int strict = 1; strict >= 0 && candidates->len == 0; strict--)
    {
      g_hash_table_iter_init (&iter, self->relays);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &relay))
        {
          if (relay == guard || relay == exit ||
              (relay->flags & (RELAY_RUNNING | RELAY_FAST)) != (RELAY_RUNNING | RELAY_FAST))
            continue;
          if (strict && (same_16 (relay, guard) || same_16 (relay, exit)))
            continue;
          g_ptr_array_add (candidates, relay);
        }
    }
  if (candidates->len == 0)
    return NULL;

  /* weighted by bandwidth, a relay of 0 weighing 1 */
  for (guint i = 0; i < candidates->len; i++)
    total += MAX (((Relay *) g_ptr_array_index (candidates, i))->bandwidth, 1);
  point = (guint64) (g_random_double () * (double) total);
  for (guint i = 0; i < candidates->len; i++)
    {
      guint64 w = MAX (((Relay *) g_ptr_array_index (candidates, i))->bandwidth, 1);

      if (point < w)
        return g_ptr_array_index (candidates, i);
      point -= w;
    }
  return g_ptr_array_index (candidates, candidates->len - 1);
}

static void
attach_stream (ExgTorClient *self,
               const char   *stream,
               const char   *circuit)
{
  g_hash_table_add (self->ours, g_strdup (stream));
  send_ignored (self, "ATTACHSTREAM %s %s", stream, circuit);
}

/* The circuit is gone or never was: its waiting streams fail (06 to the
 * SOCKS client), and it takes no more. */
static void
circuit_failed (ExgTorClient *self,
                Circuit      *c)
{
  /* the ready circuit that tor closed unused is built anew; one that
   * could not be built waits for the next occasion, not to loop */
  gboolean rebuild = c->built && g_strcmp0 (c->key, self->ready_exit) == 0;

  for (guint i = 0; i < c->waiting->len; i++)
    send_ignored (self, "CLOSESTREAM %s " REASON_TIMEOUT,
                  (const char *) g_ptr_array_index (c->waiting, i));
  g_ptr_array_set_size (c->waiting, 0);
  if (c->id != NULL)
    g_hash_table_remove (self->circuit_ids, c->id);
  g_hash_table_remove (self->circuits, c->key);   /* frees c */
  if (rebuild)
    ready_circuit_build (self);
}

static void
circuit_built (ExgTorClient *self,
               Circuit      *c)
{
  c->built = TRUE;
  c->built_at = g_get_monotonic_time ();
  if (g_strcmp0 (c->key, self->ready_exit) == 0)
    g_debug ("tor: circuit %s to exit %s is ready", c->id, c->exit_fingerprint);
  for (guint i = 0; i < c->waiting->len; i++)
    attach_stream (self, g_ptr_array_index (c->waiting, i), c->id);
  g_ptr_array_set_size (c->waiting, 0);
}

static void
circuit_status (ExgTorClient *self,
                Circuit      *c,
                const char   *status)
{
  if (g_str_equal (status, "BUILT"))
    circuit_built (self, c);
  else if (g_str_equal (status, "FAILED") || g_str_equal (status, "CLOSED"))
    circuit_failed (self, c);
}

static gboolean
is_circuit (gpointer key,
            gpointer value,
            gpointer user_data)
{
  return value == user_data;
}

static void
extendcircuit_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Call *call = user_data;
  ExgTorClient *self = call->self;
  g_autoptr(ExgTorctlReply) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) words = NULL;
  Circuit *c;
  const char *early;

  reply = exg_tor_control_send_finish (EXG_TOR_CONTROL (source), result, &error);
  /* a ready circuit taken by a stream is under another key by now */
  c = call_current (call) ? g_hash_table_lookup (self->circuits, call->stream) : NULL;
  if (c == NULL && call_current (call) &&
      g_hash_table_find (self->circuits, is_circuit, call->circuit) != NULL)
    c = call->circuit;
  if (c == NULL || c != call->circuit || c->id != NULL)
    {
      call_free (call);
      return;
    }
  /* "250 EXTENDED 21" */
  if (reply != NULL)
    words = g_strsplit (exg_torctl_reply_get_message (reply), " ", 3);
  if (words == NULL || g_strv_length (words) < 2 ||
      !g_str_equal (words[0], "EXTENDED"))
    {
      g_debug ("tor: EXTENDCIRCUIT failed: %s",
               error != NULL ? error->message : "unexpected reply");
      circuit_failed (self, c);
      call_free (call);
      return;
    }
  c->id = g_strdup (words[1]);
  g_hash_table_insert (self->circuit_ids, c->id, c);
  early = g_hash_table_lookup (self->early, c->id);
  if (early != NULL)
    {
      g_autofree char *status = g_strdup (early);

      g_hash_table_remove (self->early, c->id);
      circuit_status (self, c, status);
    }
  call_free (call);
}

static void
circuit_build (ExgTorClient *self,
               Circuit      *c)
{
  const Relay *exit = g_hash_table_lookup (self->relays, c->exit_fingerprint);
  const Relay *guard = exit != NULL ? pick_guard (self, exit) : NULL;
  const Relay *middle = guard != NULL ? pick_middle (self, guard, exit) : NULL;
  g_autofree char *command = NULL;
  Call *call;

  if (middle == NULL)
    {
      g_debug ("tor: no path to exit %s", c->exit_fingerprint);
      circuit_failed (self, c);
      return;
    }
  command = g_strdup_printf ("EXTENDCIRCUIT 0 $%s,$%s,$%s", guard->fingerprint,
                             middle->fingerprint, exit->fingerprint);
  call = call_new (self);
  call->stream = g_strdup (c->key);
  call->circuit = c;
  exg_tor_control_send_async (self->control, command, NULL, extendcircuit_cb, call);
}

/* Builds the circuit kept ready, unless it is there or tor is not. */
static void
ready_circuit_build (ExgTorClient *self)
{
  Circuit *c;

  if (!self->ready || self->control == NULL || self->ready_exit == NULL ||
      g_hash_table_contains (self->circuits, self->ready_exit) ||
      !g_hash_table_contains (self->relays, self->ready_exit))
    return;

  c = g_new0 (Circuit, 1);
  c->key = g_strdup (self->ready_exit);
  c->exit_fingerprint = g_strdup (self->ready_exit);
  c->waiting = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_insert (self->circuits, c->key, c);
  circuit_build (self, c);
}

/* The ready circuit to @exit_fingerprint, if there is one, becomes the
 * circuit of @key.  Its ten minutes start now: tor counts a circuit's
 * dirtiness from its first stream. */
static gboolean
take_ready_circuit (ExgTorClient *self,
                    const char   *exit_fingerprint,
                    const char   *key)
{
  Circuit *c = g_hash_table_lookup (self->circuits, exit_fingerprint);

  if (c == NULL)
    return FALSE;
  g_hash_table_steal (self->circuits, c->key);
  g_free (c->key);
  c->key = g_strdup (key);
  if (c->built)
    c->built_at = g_get_monotonic_time ();
  g_hash_table_insert (self->circuits, c->key, c);
  return TRUE;
}

/* One of our streams, for @e's exit: onto a circuit that ends there. */
static void
stream_for_exit (ExgTorClient   *self,
                 const char     *stream,
                 const Expected *e)
{
  g_autofree char *key = g_strconcat (e->exit_fingerprint, "|", e->isolation, NULL);
  Circuit *c = g_hash_table_lookup (self->circuits, key);

  /* tor's dirtiness: an old circuit takes no new streams, and tor closes
   * it once its streams are done */
  if (c != NULL && c->built &&
      g_get_monotonic_time () - c->built_at > EXG_TOR_CIRCUIT_REUSE_SECONDS * G_USEC_PER_SEC)
    {
      if (c->id != NULL)
        g_hash_table_remove (self->circuit_ids, c->id);
      g_hash_table_remove (self->circuits, key);
      c = NULL;
    }

  if (c != NULL && c->built)
    {
      attach_stream (self, stream, c->id);
      return;
    }
  if (c != NULL)
    {
      g_ptr_array_add (c->waiting, g_strdup (stream));
      return;
    }

  if (take_ready_circuit (self, e->exit_fingerprint, key))
    {
      stream_for_exit (self, stream, e);
      ready_circuit_build (self);
      return;
    }

  c = g_new0 (Circuit, 1);
  c->key = g_steal_pointer (&key);
  c->exit_fingerprint = g_strdup (e->exit_fingerprint);
  c->waiting = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (c->waiting, g_strdup (stream));
  g_hash_table_insert (self->circuits, c->key, c);
  circuit_build (self, c);
}

/* "STREAM 75 NEW 0 target:port SOURCE_ADDR=127.0.0.1:53012 …" */
static void
stream_event (ExgTorClient        *self,
              const ExgTorctlArgs *args)
{
  const char *id, *status, *source;
  Expected *e;

  if (exg_torctl_args_get_n_positional (args) < 4)
    return;
  id = exg_torctl_args_get_positional (args, 1);
  status = exg_torctl_args_get_positional (args, 2);

  if (g_str_equal (status, "NEW") || g_str_equal (status, "NEWRESOLVE"))
    {
      source = exg_torctl_args_lookup (args, "SOURCE_ADDR");
      e = source != NULL ? g_hash_table_lookup (self->expected, source) : NULL;
      if (e == NULL)
        {
          /* not ours: tor chooses, as it would without us */
          send_ignored (self, "ATTACHSTREAM %s 0", id);
          return;
        }
      stream_for_exit (self, id, e);
    }
  else if (g_str_equal (status, "DETACHED"))
    {
      /* tor gave it back (its circuit broke).  Ours stay pinned: rather a
       * failure the client sees than another exit; others go to tor. */
      if (g_hash_table_contains (self->ours, id))
        send_ignored (self, "CLOSESTREAM %s " REASON_MISC, id);
      else
        send_ignored (self, "ATTACHSTREAM %s 0", id);
    }
  else if (g_str_equal (status, "CLOSED") || g_str_equal (status, "FAILED"))
    g_hash_table_remove (self->ours, id);
}

/* "CIRC 21 BUILT $…~a,$…~b,$…~c PURPOSE=GENERAL …" */
static void
circ_event (ExgTorClient        *self,
            const ExgTorctlArgs *args)
{
  const char *id, *status;
  Circuit *c;

  if (exg_torctl_args_get_n_positional (args) < 3)
    return;
  id = exg_torctl_args_get_positional (args, 1);
  status = exg_torctl_args_get_positional (args, 2);
  if (!g_str_equal (status, "BUILT") && !g_str_equal (status, "FAILED") &&
      !g_str_equal (status, "CLOSED"))
    return;

  c = g_hash_table_lookup (self->circuit_ids, id);
  if (c != NULL)
    {
      circuit_status (self, c, status);
      return;
    }
  /* most are tor's own circuits; keep a few, bounded */
  if (g_hash_table_size (self->early) >= MAX_EARLY_CIRCUITS)
    g_hash_table_remove_all (self->early);
  g_hash_table_replace (self->early, g_strdup (id), g_strdup (status));
}

/* ------------------------------------------------------------------------
 * Bootstrap and events
 * ------------------------------------------------------------------------ */

/* "NOTICE BOOTSTRAP PROGRESS=85 TAG=ap_conn SUMMARY="…"" (with or without
 * the leading "STATUS_CLIENT"); tor says "WARN BOOTSTRAP … WARNING="…""
 * when a step fails, which is what a user needs to hear when bootstrap
 * stalls (e.g. "Connection refused", "No route to host"). */
static void
bootstrap_status (ExgTorClient *self,
                  const char   *text)
{
  g_autoptr(ExgTorctlArgs) args = exg_torctl_args_parse (text);
  const char *progress, *summary, *warning = NULL;
  gboolean is_bootstrap = FALSE;
  gboolean is_warn = FALSE;
  guint64 value;
  char *end = NULL;

  if (args == NULL)
    return;
  for (guint i = 0; i < exg_torctl_args_get_n_positional (args); i++)
    {
      const char *word = exg_torctl_args_get_positional (args, i);

      if (g_strcmp0 (word, "BOOTSTRAP") == 0)
        is_bootstrap = TRUE;
      else if (g_strcmp0 (word, "WARN") == 0 || g_strcmp0 (word, "ERR") == 0)
        is_warn = TRUE;
    }
  progress = exg_torctl_args_lookup (args, "PROGRESS");
  if (!is_bootstrap || progress == NULL)
    return;
  value = g_ascii_strtoull (progress, &end, 10);
  if (end == progress || *end != '\0' || value > 100)
    return;
  summary = exg_torctl_args_lookup (args, "SUMMARY");
  if (summary == NULL)
    summary = "";
  if (is_warn)
    warning = exg_torctl_args_lookup (args, "WARNING");

  if ((int) value == self->progress && g_strcmp0 (summary, self->summary) == 0
      && (warning == NULL || g_strcmp0 (warning, self->warning) == 0))
    return;
  /* a step further: the last step's trouble is over */
  if ((int) value > self->progress)
    g_clear_pointer (&self->warning, g_free);
  if (warning != NULL)
    {
      g_free (self->warning);
      self->warning = g_strdup (warning);
    }
  self->progress = (int) value;
  g_free (self->summary);
  self->summary = g_strdup (summary);
  g_signal_emit (self, signals[SIGNAL_BOOTSTRAP], 0, self->progress, self->summary);

  /* exits become routers once tor can build circuits */
  if (self->progress >= 100 && !self->ready && !self->loading)
    load_consensus (self);
}

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
      bootstrap_status (self, reply->lines[0].text);
      return;
    }
  if (g_str_equal (keyword, "NEWCONSENSUS"))
    {
      if (self->progress >= 100)
        load_consensus (self);
      return;
    }

  args = exg_torctl_args_parse (reply->lines[0].text);
  if (args == NULL)
    return;
  if (g_str_equal (keyword, "STREAM"))
    stream_event (self, args);
  else if (g_str_equal (keyword, "CIRC"))
    circ_event (self, args);
}

/* ------------------------------------------------------------------------
 * Connecting, losing, reconnecting
 * ------------------------------------------------------------------------ */

static gboolean
reconnect_cb (gpointer user_data)
{
  ExgTorClient *self = user_data;

  self->reconnect_id = 0;
  client_connect (self);
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

static void
drop_connection (ExgTorClient *self)
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
  set_ready (self, FALSE);
}

static void
client_lost (ExgTorClient *self,
             const char   *why)
{
  g_message ("tor: lost (%s)", why);
  drop_connection (self);
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
  if (!call_current (call))
    {
      g_clear_object (&socks);
      call_free (call);
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
      call_free (call);
      return;
    }
  g_clear_object (&self->socks);
  self->socks = socks;
  if (self->progress >= 100 && !self->ready && !self->loading)
    load_consensus (self);
  call_free (call);
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
  if (!call_current (call))
    {
      call_free (call);
      return;
    }
  if (value != NULL)
    bootstrap_status (self, value);
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
  if (!call_current (call))
    {
      call_free (call);
      return;
    }
  if (reply == NULL)
    {
      g_autoptr(ExgTorClient) self = g_object_ref (call->self);

      call_free (call);
      /* a tor that refuses what we need is as good as lost */
      g_message ("tor: setting up the controller failed");
      client_lost (self, error->message);
      return;
    }
  call_free (call);
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
                              NULL, setup_cb, call_new (self));
  exg_tor_control_send_async (control, "SETCONF __LeaveStreamsUnattached=1",
                              NULL, setup_cb, call_new (self));
  exg_tor_control_getinfo_async (control, "status/bootstrap-phase", NULL,
                                 bootstrap_phase_cb, call_new (self));
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
      call_free (call);
      return;
    }
  if (call->generation != self->generation || self->stopping)
    {
      exg_tor_control_close (EXG_TOR_CONTROL (source));
      call_free (call);
      return;
    }
  client_attach (self, EXG_TOR_CONTROL (source));
  call_free (call);
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
      if (call_current (call))
        g_message ("tor: cannot change DisableNetwork: %s", error->message);
      call_free (call);
      return;
    }
  if (!call_current (call) || call->self->network_disabled)
    {
      call_free (call);
      return;
    }
  /* tor opens its SocksPort only once it may use the network */
  exg_tor_control_get_socks_address_async (call->self->control, NULL, socks_address_cb, call);
}

static void
send_network_enabled (ExgTorClient *self)
{
  exg_tor_process_set_network_enabled_async (self->process, !self->network_disabled, NULL,
                                             network_enabled_cb, call_new (self));
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
      call_free (call);
      return;
    }
  if (call->generation != self->generation || self->stopping)
    {
      call_free (call);
      return;
    }
  self->exited_id = g_signal_connect (self->process, "exited", G_CALLBACK (exited_cb), self);
  client_attach (self, exg_tor_process_get_control (self->process));
  /* the user said Connect (or changed their mind) while tor started */
  if (self->spawned_disabled != self->network_disabled)
    send_network_enabled (self);
  call_free (call);
}

static void
client_connect (ExgTorClient *self)
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
      exg_tor_process_start_async (self->process, NULL, process_started_cb, call_new (self));
      return;
    }

  {
    g_autoptr(ExgTorControl) control = exg_tor_control_new ();

    exg_tor_control_connect_async (control, self->control_address, self->password,
                                   NULL, control_connected_cb, call_new (self));
  }
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
    drop_connection (self);

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
                                        (GDestroyNotify) relay_free);
  self->guards = g_ptr_array_new_with_free_func (g_free);
  self->routers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->expected = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) expected_free);
  self->ours = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
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
  client_connect (self);
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
  drop_connection (self);
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
      drop_connection (self);
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
    send_network_enabled (self);
  /* otherwise tor is starting: process_started_cb sends it, or not yet
   * started: client_connect starts it so */
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

/**
 * exg_tor_client_expect_stream:
 * @self: a client
 * @source_addr: our end of a connection to tor's SocksPort, "IP:PORT"
 * @exit_fingerprint: the exit the stream must leave from
 * @isolation: what keeps circuits apart ("" for none)
 *
 * The stream tor reports with this SOURCE_ADDR is ours and is attached
 * to a circuit ending at that exit.
 */
void
exg_tor_client_expect_stream (ExgTorClient *self,
                              const char   *source_addr,
                              const char   *exit_fingerprint,
                              const char   *isolation)
{
  Expected *e;

  g_return_if_fail (EXG_IS_TOR_CLIENT (self));

  e = g_new0 (Expected, 1);
  e->exit_fingerprint = g_strdup (exit_fingerprint);
  e->isolation = g_strdup (isolation != NULL ? isolation : "");
  g_hash_table_replace (self->expected, g_strdup (source_addr), e);
}

/**
 * exg_tor_client_forget_stream:
 * @self: a client
 * @source_addr: as given to exg_tor_client_expect_stream()
 */
void
exg_tor_client_forget_stream (ExgTorClient *self,
                              const char   *source_addr)
{
  g_return_if_fail (EXG_IS_TOR_CLIENT (self));
  g_hash_table_remove (self->expected, source_addr);
}

/**
 * exg_tor_client_keep_circuit_ready:
 * @self: a client
 * @exit_fingerprint: (nullable): the exit relay, or %NULL for none
 *
 * Keeps one circuit to that exit built, from when tor is ready on, so
 * that the next stream there does not wait for one: the first stream
 * that needs a new circuit to the exit takes it, whatever its isolation
 * key, and another is built.  A circuit kept ready for another exit is
 * closed.
 */
void
exg_tor_client_keep_circuit_ready (ExgTorClient *self,
                                   const char   *exit_fingerprint)
{
  Circuit *c;

  g_return_if_fail (EXG_IS_TOR_CLIENT (self));

  if (g_strcmp0 (exit_fingerprint, self->ready_exit) != 0)
    {
      c = self->ready_exit != NULL
            ? g_hash_table_lookup (self->circuits, self->ready_exit) : NULL;
      if (c != NULL)
        {
          /* no stream of ours is on it: tor may close it */
          if (c->id != NULL)
            {
              send_ignored (self, "CLOSECIRCUIT %s", c->id);
              g_hash_table_remove (self->circuit_ids, c->id);
            }
          g_hash_table_remove (self->circuits, c->key);
        }
      g_free (self->ready_exit);
      self->ready_exit = g_strdup (exit_fingerprint);
    }
  ready_circuit_build (self);
}
