/* exg-tor-circuits.c: circuits and stream attachment.  Our streams (known
 * by the local address of our socket to the SocksPort) are attached to a
 * circuit that ends at the exit chosen for them, built with EXTENDCIRCUIT
 * through one of tor's guards and a Fast middle relay (in neither's /16
 * nor family); other clients' streams are handed back to tor at once.
 * The backends of our exits reach this through ExgTorStreams.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-tor-client-private.h"


#include <string.h>

/* ------------------------------------------------------------------------
 * Circuits and streams
 * ------------------------------------------------------------------------ */

/* Paths tried for the streams waiting on a circuit before they fail */
#define CIRCUIT_BUILDS 3

static gboolean
same_16 (const Relay *a,
         const Relay *b)
{
  return a != NULL && b != NULL && (a->ipv4 >> 16) == (b->ipv4 >> 16);
}

static gboolean
same_family (const Relay *a,
             const Relay *b)
{
  return a != NULL && b != NULL &&
         exg_tor_family_same (a->fingerprint, a->nickname, &a->family,
                              b->fingerprint, b->nickname, &b->family);
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
      if (relay != NULL && relay != exit && (relay->flags & RELAY_RUNNING) &&
          !same_family (relay, exit))
        g_ptr_array_add (candidates, relay);
    }
  if (candidates->len == 0)
    {
      g_hash_table_iter_init (&iter, self->relays);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &relay))
        if (relay != exit && !same_family (relay, exit) &&
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

  /* Never in the /16 or the family of another hop, as tor's own paths.
   * A network in one /16 (the loopback test network: every relay is
   * 127.0.0.x) would then have no middle at all; there the /16 rule is
   * dropped, as tor's own EnforceDistinctSubnets is under
   * TestingTorNetwork.  The family rule never is: relays that say they
   * are one operator's are never two hops of one path. */
  for (int strict = 1; strict >= 0 && candidates->len == 0; strict--)
    {
      g_hash_table_iter_init (&iter, self->relays);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &relay))
        {
          if (relay == guard || relay == exit ||
              (relay->flags & (RELAY_RUNNING | RELAY_FAST)) != (RELAY_RUNNING | RELAY_FAST))
            continue;
          if (same_family (relay, guard) || same_family (relay, exit))
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
attach_stream (ExgTorClient  *self,
               const char    *stream,
               const Circuit *c)
{
  /* the path is relays only, no target: safe at debug level */
  g_debug ("tor: stream %s on circuit %s: %s", stream, c->id, c->path);
  g_hash_table_replace (self->ours, g_strdup (stream), g_strdup (c->path));
  exg_tor_client_send_ignored_ (self, "ATTACHSTREAM %s %s", stream, c->id);
}

static void circuit_build (ExgTorClient *self,
                           Circuit      *c);

/* The circuit is gone or never was.  If streams wait for it, another is
 * built on a new path, as tor itself would try again for a waiting
 * stream: one build in five or so fails on the public network, and tor
 * gives up on any that take longer than it has learned to expect (it
 * closes those at the end as measurements).  After CIRCUIT_BUILDS the
 * waiting streams fail (06 to the SOCKS client), and it takes no more. */
static void
circuit_failed (ExgTorClient *self,
                Circuit      *c)
{
  /* the ready circuit that tor closed unused is built anew; one that
   * could not be built waits for the next occasion, not to loop */
  gboolean rebuild = c->built && g_strcmp0 (c->key, self->ready_exit) == 0;

  if (!c->built && c->waiting->len > 0 && c->builds < CIRCUIT_BUILDS)
    {
      g_debug ("tor: a circuit to exit %s failed; building another (%u of %u)",
               c->exit_fingerprint, c->builds + 1, CIRCUIT_BUILDS);
      if (c->id != NULL)
        g_hash_table_remove (self->circuit_ids, c->id);
      g_clear_pointer (&c->id, g_free);
      circuit_build (self, c);
      return;
    }

  for (guint i = 0; i < c->waiting->len; i++)
    exg_tor_client_send_ignored_ (self, "CLOSESTREAM %s " REASON_TIMEOUT,
                  (const char *) g_ptr_array_index (c->waiting, i));
  g_ptr_array_set_size (c->waiting, 0);
  if (c->id != NULL)
    g_hash_table_remove (self->circuit_ids, c->id);
  g_hash_table_remove (self->circuits, c->key);   /* frees c */
  if (rebuild)
    exg_tor_client_ready_circuit_build_ (self);
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
    attach_stream (self, g_ptr_array_index (c->waiting, i), c);
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
  c = exg_tor_client_call_current_ (call) ? g_hash_table_lookup (self->circuits, call->stream) : NULL;
  if (c == NULL && exg_tor_client_call_current_ (call) &&
      g_hash_table_find (self->circuits, is_circuit, call->circuit) != NULL)
    c = call->circuit;
  if (c == NULL || c != call->circuit || c->id != NULL)
    {
      exg_tor_client_call_free_ (call);
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
      exg_tor_client_call_free_ (call);
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
  exg_tor_client_call_free_ (call);
}

/* "nick (CC)", or the nickname alone where GeoIP has no country */
static void
append_hop (ExgTorClient *self,
            GString      *text,
            const Relay  *relay)
{
  char country[3];

  exg_tor_client_relay_country_ (self, relay, country);
  g_string_append (text, relay->nickname);
  if (country[0] != '\0')
    g_string_append_printf (text, " (%s)", country);
}

/* (transfer full) the hops for people: "a (DE) → b (SE) → c (US)" */
static char *
describe_path (ExgTorClient *self,
               const Relay  *guard,
               const Relay  *middle,
               const Relay  *exit)
{
  GString *text = g_string_new (NULL);

  append_hop (self, text, guard);
  g_string_append (text, " → ");
  append_hop (self, text, middle);
  g_string_append (text, " → ");
  append_hop (self, text, exit);
  return g_string_free (text, FALSE);
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

  c->builds++;
  if (middle == NULL)
    {
      g_debug ("tor: no path to exit %s", c->exit_fingerprint);
      circuit_failed (self, c);
      return;
    }
  g_free (c->path);
  c->path = describe_path (self, guard, middle, exit);
  command = g_strdup_printf ("EXTENDCIRCUIT 0 $%s,$%s,$%s", guard->fingerprint,
                             middle->fingerprint, exit->fingerprint);
  call = exg_tor_client_call_new_ (self);
  call->stream = g_strdup (c->key);
  call->circuit = c;
  exg_tor_control_send_async (self->control, command, NULL, extendcircuit_cb, call);
}

/* Builds the circuit kept ready, unless it is there or tor is not. */
void
exg_tor_client_ready_circuit_build_ (ExgTorClient *self)
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
      attach_stream (self, stream, c);
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
      exg_tor_client_ready_circuit_build_ (self);
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
void
exg_tor_client_stream_event_ (ExgTorClient        *self,
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
          exg_tor_client_send_ignored_ (self, "ATTACHSTREAM %s 0", id);
          return;
        }
      g_free (e->stream);
      e->stream = g_strdup (id);
      stream_for_exit (self, id, e);
    }
  else if (g_str_equal (status, "DETACHED"))
    {
      /* tor gave it back (its circuit broke).  Ours stay pinned: rather a
       * failure the client sees than another exit; others go to tor. */
      if (g_hash_table_contains (self->ours, id))
        exg_tor_client_send_ignored_ (self, "CLOSESTREAM %s " REASON_MISC, id);
      else
        exg_tor_client_send_ignored_ (self, "ATTACHSTREAM %s 0", id);
    }
  else if (g_str_equal (status, "CLOSED") || g_str_equal (status, "FAILED"))
    g_hash_table_remove (self->ours, id);
}

/* "CIRC 21 BUILT $…~a,$…~b,$…~c PURPOSE=GENERAL …" */
void
exg_tor_client_circ_event_ (ExgTorClient        *self,
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
 * ExgTorStreams: what the backends of our exits ask (documented there)
 * ------------------------------------------------------------------------ */

static gboolean
streams_get_ready (ExgTorStreams *streams)
{
  return exg_tor_client_get_ready (EXG_TOR_CLIENT (streams));
}

static GSocketAddress *
streams_get_socks_address (ExgTorStreams *streams)
{
  return exg_tor_client_get_socks_address (EXG_TOR_CLIENT (streams));
}

/* The stream tor reports with this SOURCE_ADDR is ours and is attached
 * to a circuit ending at that exit. */
static void
streams_expect_stream (ExgTorStreams *streams,
                       const char    *source_addr,
                       const char    *exit_fingerprint,
                       const char    *isolation)
{
  ExgTorClient *self = EXG_TOR_CLIENT (streams);
  Expected *e = g_new0 (Expected, 1);

  e->exit_fingerprint = g_strdup (exit_fingerprint);
  e->isolation = g_strdup (isolation != NULL ? isolation : "");
  g_hash_table_replace (self->expected, g_strdup (source_addr), e);
}

static void
streams_forget_stream (ExgTorStreams *streams,
                       const char    *source_addr)
{
  g_hash_table_remove (EXG_TOR_CLIENT (streams)->expected, source_addr);
}

/* Keeps one circuit to that exit built, from when tor is ready on: the
 * first stream that needs a new circuit to the exit takes it, whatever
 * its isolation key, and another is built.  A circuit kept ready for
 * another exit is closed. */
static void
streams_keep_circuit_ready (ExgTorStreams *streams,
                            const char    *exit_fingerprint)
{
  ExgTorClient *self = EXG_TOR_CLIENT (streams);
  Circuit *c;

  if (g_strcmp0 (exit_fingerprint, self->ready_exit) != 0)
    {
      c = self->ready_exit != NULL
            ? g_hash_table_lookup (self->circuits, self->ready_exit) : NULL;
      if (c != NULL)
        {
          /* no stream of ours is on it: tor may close it */
          if (c->id != NULL)
            {
              exg_tor_client_send_ignored_ (self, "CLOSECIRCUIT %s", c->id);
              g_hash_table_remove (self->circuit_ids, c->id);
            }
          g_hash_table_remove (self->circuits, c->key);
        }
      g_free (self->ready_exit);
      self->ready_exit = g_strdup (exit_fingerprint);
    }
  exg_tor_client_ready_circuit_build_ (self);
}

/* The circuit the stream was attached to, for people, guard first:
 * known once tor has answered the stream's request, until it is
 * forgotten. */
static char *
streams_dup_stream_circuit (ExgTorStreams *streams,
                            const char    *source_addr)
{
  ExgTorClient *self = EXG_TOR_CLIENT (streams);
  Expected *e = g_hash_table_lookup (self->expected, source_addr);

  if (e == NULL || e->stream == NULL)
    return NULL;
  return g_strdup (g_hash_table_lookup (self->ours, e->stream));
}

void
exg_tor_client_streams_init_ (ExgTorStreamsInterface *iface)
{
  iface->get_ready = streams_get_ready;
  iface->get_socks_address = streams_get_socks_address;
  iface->expect_stream = streams_expect_stream;
  iface->forget_stream = streams_forget_stream;
  iface->dup_stream_circuit = streams_dup_stream_circuit;
  iface->keep_circuit_ready = streams_keep_circuit_ready;
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

/**
 * exg_tor_client_new_circuit:
 * @self: a client
 * @exit_fingerprint: the exit relay, 40 hex digits
 * @isolation: (nullable): the isolation key ("" and %NULL being the same)
 *
 * Closes the circuit that streams to that exit with that isolation key
 * are put on (CLOSECIRCUIT), so that the next such stream gets a fresh
 * circuit, through another guard or middle relay where there is one.
 * The streams still on the old circuit end with it.  A circuit still
 * being built is left alone: streams are waiting for it.
 *
 * Returns: %TRUE if a circuit was closed
 */
gboolean
exg_tor_client_new_circuit (ExgTorClient *self,
                            const char   *exit_fingerprint,
                            const char   *isolation)
{
  g_autofree char *key = NULL;
  Circuit *c;

  g_return_val_if_fail (EXG_IS_TOR_CLIENT (self), FALSE);
  g_return_val_if_fail (exit_fingerprint != NULL, FALSE);

  key = g_strconcat (exit_fingerprint, "|", isolation != NULL ? isolation : "", NULL);
  c = g_hash_table_lookup (self->circuits, key);
  if (c == NULL || !c->built || c->id == NULL)
    return FALSE;

  g_debug ("tor: closing circuit %s for a new one", c->id);
  exg_tor_client_send_ignored_ (self, "CLOSECIRCUIT %s", c->id);
  /* forgotten now, not when tor reports it CLOSED: a stream that comes
   * in between must not be attached to it */
  g_hash_table_remove (self->circuit_ids, c->id);
  g_hash_table_remove (self->circuits, key);
  return TRUE;
}
