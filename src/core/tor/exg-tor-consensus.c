/* exg-tor-consensus.c: tor's consensus → routers.  Once tor is
 * bootstrapped, and again on every NEWCONSENSUS, the relays of ns/all, the
 * exit policies and families of their microdescriptors and tor's entry
 * guards are read, and the exits become routers of kind TOR through the
 * registry.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-tor-client-private.h"

#include "exg-backend-tor.h"
#include "exg-error.h"

#include <string.h>

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
                                              (GDestroyNotify) exg_tor_client_relay_free_);
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
              exg_tor_client_relay_free_ (current);
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

void
exg_tor_client_relay_country_ (ExgTorClient *self,
                               const Relay  *relay,
                               char          country[3])
{
  country[0] = '\0';
  /* the country every other router gets: our GeoIP database's */
  if (self->geoip != NULL)
    exg_geoip_lookup_string (self->geoip, relay->address, country);
}

/* The relays that are exits become routers; those that stay keep theirs
 * (a new GeoIP database that gives one another country replaces it). */
void
exg_tor_client_sync_routers_ (ExgTorClient   *self,
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
      char country[3];

      relay = g_hash_table_lookup (self->relays, fp);
      if (relay != NULL)
        exg_tor_client_relay_country_ (self, relay, country);
      if (relay == NULL || !relay_is_exit (relay) ||
          g_strcmp0 (relay->address, exg_router_get_address (router)) != 0 ||
          g_strcmp0 (relay->nickname, exg_router_get_name (router)) != 0 ||
          g_ascii_strcasecmp (country, exg_router_get_country (router)) != 0)
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

      exg_tor_client_relay_country_ (self, relay, country);
      backend = exg_backend_tor_new (EXG_TOR_STREAMS (self), relay->fingerprint);
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
  exg_tor_client_call_free_ (load->call);
  g_clear_pointer (&load->relays, g_hash_table_unref);
  g_free (load);
}

static void
load_done (Load *load)
{
  ExgTorClient *self = load->call->self;

  if (exg_tor_client_call_current_ (load->call))
    {
      g_hash_table_unref (self->relays);
      self->relays = g_steal_pointer (&load->relays);
      self->loading = FALSE;
      /* new routers come up with the others, not "up again" after */
      exg_tor_client_sync_routers_ (self, self->ready || self->progress >= 100
                            ? EXG_ROUTER_STATE_UP : EXG_ROUTER_STATE_DOWN);
      g_message ("tor: %u exit relays", g_hash_table_size (self->routers));
      if (self->progress >= 100)
        {
          self->backoff = 0;
          exg_tor_client_set_ready_ (self, TRUE);
        }
      if (self->reload)
        {
          self->reload = FALSE;
          exg_tor_client_load_consensus_ (self);
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
      g_auto(ExgTorMd) parsed = { 0, };

      exg_tor_md_parse (value, &parsed);
      if (relay != NULL)
        {
          g_free (relay->policy);
          relay->policy = g_steal_pointer (&parsed.policy);
          exg_tor_family_clear (&relay->family);
          relay->family = parsed.family;
          memset (&parsed.family, 0, sizeof parsed.family);
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
  if (!exg_tor_client_call_current_ (load->call))
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

  /* ns/all has no exit policies and no families: each relay's
   * microdescriptor has them, for the exits and for every relay that may
   * be a hop of our paths (its family keeps the middle apart) */
  load->pending = 1;
  g_hash_table_iter_init (&iter, load->relays);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &relay))
    {
      g_autofree char *key = NULL;
      MdCall *md;

      if (!relay_is_exit (relay) && (relay->flags & RELAY_RUNNING) == 0)
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
  if (!exg_tor_client_call_current_ (load->call) || value == NULL)
    {
      if (value == NULL)
        g_message ("tor: cannot read the consensus: %s", error->message);
      if (exg_tor_client_call_current_ (load->call))
        self->loading = FALSE;
      load_free (load);
      return;
    }
  load->relays = parse_ns_all (value);
  exg_tor_control_getinfo_async (self->control, "entry-guards", NULL,
                                 entry_guards_cb, load);
}

void
exg_tor_client_load_consensus_ (ExgTorClient *self)
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
  load->call = exg_tor_client_call_new_ (self);
  exg_tor_control_getinfo_async (self->control, "ns/all", NULL, ns_all_cb, load);
}

