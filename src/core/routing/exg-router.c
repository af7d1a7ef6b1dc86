/* exg-router.c: one exit.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-router.h"

#include <string.h>

struct _ExgRouter
{
  GObject        parent_instance;

  char          *id;
  char          *name;
  ExgRouterKind  kind;
  char          *address;
  guint32        ipv4;            /* host order, 0 when address is not IPv4 */
  char           country[3];
  guint64        bandwidth;
  guint          path_length;
  ExgBackend    *backend;         /* owned */
  char          *digest;          /* nullable */
  char          *exit_policy;     /* owned, nullable: "accept|reject PORTS" */

  ExgRouterState state;

  /* observed figures: exponentially weighted, so recent behaviour counts */
  gint64         latency_us;      /* -1 until a connect succeeded */
  double         throughput;      /* bytes/s */
  gint64         bytes_window_start;
  guint64        bytes_window;
};

G_DEFINE_ENUM_TYPE (ExgRouterState, exg_router_state,
  G_DEFINE_ENUM_VALUE (EXG_ROUTER_STATE_CHECKING, "checking"),
  G_DEFINE_ENUM_VALUE (EXG_ROUTER_STATE_UP, "up"),
  G_DEFINE_ENUM_VALUE (EXG_ROUTER_STATE_DOWN, "down"))

G_DEFINE_FINAL_TYPE (ExgRouter, exg_router, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_STATE,
  PROP_UP,
  PROP_OBSERVED_THROUGHPUT,
  PROP_OBSERVED_LATENCY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
exg_router_finalize (GObject *object)
{
  ExgRouter *self = EXG_ROUTER (object);

  g_free (self->id);
  g_free (self->name);
  g_free (self->address);
  g_free (self->exit_policy);
  g_free (self->digest);
  g_clear_object (&self->backend);

  G_OBJECT_CLASS (exg_router_parent_class)->finalize (object);
}

static void
exg_router_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  ExgRouter *self = EXG_ROUTER (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_UP:
      g_value_set_boolean (value, self->state == EXG_ROUTER_STATE_UP);
      break;
    case PROP_OBSERVED_THROUGHPUT:
      g_value_set_double (value, self->throughput);
      break;
    case PROP_OBSERVED_LATENCY:
      g_value_set_int64 (value, self->latency_us);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
exg_router_set_property (GObject      *object,
                         guint         prop_id,
                         const GValue *value,
                         GParamSpec   *pspec)
{
  ExgRouter *self = EXG_ROUTER (object);

  switch (prop_id)
    {
    case PROP_STATE:
      exg_router_set_state (self, g_value_get_enum (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
exg_router_class_init (ExgRouterClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = exg_router_finalize;
  object_class->get_property = exg_router_get_property;
  object_class->set_property = exg_router_set_property;

  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL, EXG_TYPE_ROUTER_STATE,
                       EXG_ROUTER_STATE_CHECKING,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_UP] =
    g_param_spec_boolean ("up", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_OBSERVED_THROUGHPUT] =
    g_param_spec_double ("observed-throughput", NULL, NULL, 0, G_MAXDOUBLE, 0,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_OBSERVED_LATENCY] =
    g_param_spec_int64 ("observed-latency", NULL, NULL, -1, G_MAXINT64, -1,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
exg_router_init (ExgRouter *self)
{
  self->state = EXG_ROUTER_STATE_CHECKING;
  self->latency_us = -1;
}

/**
 * exg_router_new:
 * @id: unique among the routers of a registry
 * @name: for people
 * @kind: how traffic leaves
 * @address: (nullable): the exit's IP as text, "" or NULL when unknown
 * @country: (nullable): ISO code, NULL or "" when unknown
 * @bandwidth: advertised, bytes/s
 * @path_length: hops between this machine and the exit (1 = direct)
 * @backend: (transfer none): carries the traffic
 *
 * Returns: (transfer full): a new router, in state CHECKING until a check
 *   or a connect through it says more
 */
ExgRouter *
exg_router_new (const char    *id,
                const char    *name,
                ExgRouterKind  kind,
                const char    *address,
                const char    *country,
                guint64        bandwidth,
                guint          path_length,
                ExgBackend    *backend)
{
  ExgRouter *self;
  g_autoptr(GInetAddress) inet = NULL;

  g_return_val_if_fail (id != NULL, NULL);
  g_return_val_if_fail (EXG_IS_BACKEND (backend), NULL);

  self = g_object_new (EXG_TYPE_ROUTER, NULL);
  self->id = g_strdup (id);
  self->name = g_strdup (name != NULL ? name : id);
  self->kind = kind;
  self->address = g_strdup (address != NULL ? address : "");
  self->bandwidth = bandwidth;
  self->path_length = path_length;
  self->backend = g_object_ref (backend);

  if (country != NULL && strlen (country) == 2)
    {
      self->country[0] = g_ascii_toupper (country[0]);
      self->country[1] = g_ascii_toupper (country[1]);
    }

  inet = g_inet_address_new_from_string (self->address);
  if (inet != NULL && g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV4)
    {
      const guint8 *b = g_inet_address_to_bytes (inet);

      self->ipv4 = ((guint32) b[0] << 24) | ((guint32) b[1] << 16) |
                   ((guint32) b[2] << 8) | b[3];
    }

  return self;
}

const char *
exg_router_get_id (ExgRouter *self)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), NULL);
  return self->id;
}

const char *
exg_router_get_name (ExgRouter *self)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), NULL);
  return self->name;
}

ExgRouterKind
exg_router_get_kind (ExgRouter *self)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), EXG_ROUTER_KIND_DIRECT);
  return self->kind;
}

const char *
exg_router_get_address (ExgRouter *self)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), NULL);
  return self->address;
}

guint32
exg_router_get_ipv4 (ExgRouter *self)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), 0);
  return self->ipv4;
}

const char *
exg_router_get_country (ExgRouter *self)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), "");
  return self->country;
}

guint64
exg_router_get_bandwidth (ExgRouter *self)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), 0);
  return self->bandwidth;
}

/**
 * exg_router_set_bandwidth:
 * @self: a router
 * @bandwidth: bytes/s
 *
 * A tor relay's bandwidth changes with each consensus; the relay stays
 * the same router.
 */
void
exg_router_set_bandwidth (ExgRouter *self,
                          guint64    bandwidth)
{
  g_return_if_fail (EXG_IS_ROUTER (self));
  self->bandwidth = bandwidth;
}

/**
 * exg_router_set_exit_policy:
 * @self: a router
 * @summary: (nullable): a tor exit-policy summary, "accept PORTS" or
 *   "reject PORTS" (dir-spec, the microdescriptor's "p" line), or %NULL
 *   when every port is allowed
 */
void
exg_router_set_exit_policy (ExgRouter  *self,
                            const char *summary)
{
  g_return_if_fail (EXG_IS_ROUTER (self));
  g_free (self->exit_policy);
  self->exit_policy = g_strdup (summary);
}

/**
 * exg_router_get_exit_policy:
 * @self: a router
 *
 * Returns: (nullable): the exit-policy summary, %NULL when there is none
 */
const char *
exg_router_get_exit_policy (ExgRouter *self)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), NULL);
  return self->exit_policy;
}

/**
 * exg_exit_policy_allows_port:
 * @summary: (nullable): "accept PORTS" or "reject PORTS", PORTS a comma
 *   list of ports and ranges ("80,443,1000-2000")
 * @port: a port
 *
 * Returns: whether the policy lets @port out; %NULL allows everything,
 *   and a summary that cannot be read allows nothing
 */
gboolean
exg_exit_policy_allows_port (const char *summary,
                             guint16     port)
{
  gboolean accept;
  const char *p;

  if (summary == NULL)
    return TRUE;
  if (g_str_has_prefix (summary, "accept "))
    accept = TRUE;
  else if (g_str_has_prefix (summary, "reject "))
    accept = FALSE;
  else
    return FALSE;

  p = summary + strlen ("accept ");
  while (*p != '\0')
    {
      char *end = NULL;
      guint64 lo, hi;

      lo = g_ascii_strtoull (p, &end, 10);
      if (end == p || lo > G_MAXUINT16)
        return FALSE;
      hi = lo;
      p = end;
      if (*p == '-')
        {
          p++;
          hi = g_ascii_strtoull (p, &end, 10);
          if (end == p || hi > G_MAXUINT16)
            return FALSE;
          p = end;
        }
      if (port >= lo && port <= hi)
        return accept;
      if (*p == ',')
        p++;
      else if (*p != '\0')
        return FALSE;
    }
  return !accept;
}

/**
 * exg_router_allows_port:
 * @self: a router
 * @port: a target port
 *
 * Returns: whether the router's exit policy lets @port out
 */
gboolean
exg_router_allows_port (ExgRouter *self,
                        guint16    port)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), FALSE);
  return exg_exit_policy_allows_port (self->exit_policy, port);
}

guint
exg_router_get_path_length (ExgRouter *self)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), 0);
  return self->path_length;
}

/**
 * exg_router_get_backend:
 *
 * Returns: (transfer none): the backend that carries this router's traffic
 */
ExgBackend *
exg_router_get_backend (ExgRouter *self)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), NULL);
  return self->backend;
}

ExgRouterState
exg_router_get_state (ExgRouter *self)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), EXG_ROUTER_STATE_DOWN);
  return self->state;
}

void
exg_router_set_state (ExgRouter      *self,
                      ExgRouterState  state)
{
  gboolean was_up;

  g_return_if_fail (EXG_IS_ROUTER (self));

  if (self->state == state)
    return;
  was_up = self->state == EXG_ROUTER_STATE_UP;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  if (was_up != (state == EXG_ROUTER_STATE_UP))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UP]);
}

const char *
exg_router_get_digest (ExgRouter *self)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), NULL);
  return self->digest;
}

void
exg_router_set_digest (ExgRouter  *self,
                       const char *digest)
{
  g_return_if_fail (EXG_IS_ROUTER (self));
  g_free (self->digest);
  self->digest = g_strdup (digest);
}

gboolean
exg_router_get_up (ExgRouter *self)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), FALSE);
  return self->state == EXG_ROUTER_STATE_UP;
}

void
exg_router_set_up (ExgRouter *self,
                   gboolean   up)
{
  exg_router_set_state (self, up ? EXG_ROUTER_STATE_UP : EXG_ROUTER_STATE_DOWN);
}

/* A latency in whole milliseconds as the window shows it ("%.0f" of
 * µs / 1000, which rounds a half to the even neighbour); -1 unknown */
static gint64
shown_ms (gint64 us)
{
  gint64 ms, rest;

  if (us < 0)
    return -1;
  ms = us / 1000;
  rest = us % 1000;
  if (rest > 500 || (rest == 500 && (ms & 1)))
    ms++;
  return ms;
}

void
exg_router_record_connect (ExgRouter *self,
                           gint64     latency_us,
                           gboolean   ok)
{
  gint64 old_ms;

  g_return_if_fail (EXG_IS_ROUTER (self));

  /* what was observed wins over what was last checked: a working exit is
   * up at once; a failure makes an up exit suspect, to be checked now (the
   * failure may have been the target's, not the exit's).  A down exit stays
   * down until something succeeds through it. */
  if (ok)
    exg_router_set_state (self, EXG_ROUTER_STATE_UP);
  else if (self->state == EXG_ROUTER_STATE_UP &&
           self->kind != EXG_ROUTER_KIND_DIRECT &&
           self->kind != EXG_ROUTER_KIND_TOR)   /* tor says, in its consensus */
    exg_router_set_state (self, EXG_ROUTER_STATE_CHECKING);

  if (!ok || latency_us < 0)
    return;

  old_ms = shown_ms (self->latency_us);
  /* EWMA with weight 1/4 for the newest sample */
  if (self->latency_us < 0)
    self->latency_us = latency_us;
  else
    self->latency_us = (3 * self->latency_us + latency_us) / 4;
  /* told when it changes as shown (whole milliseconds): a notification
   * per connection would cost more than the rest of this bookkeeping */
  if (shown_ms (self->latency_us) != old_ms)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_OBSERVED_LATENCY]);
}

void
exg_router_record_bytes (ExgRouter *self,
                         guint64    bytes)
{
  gint64 now;
  gint64 elapsed;

  g_return_if_fail (EXG_IS_ROUTER (self));

  now = g_get_monotonic_time ();
  if (self->bytes_window_start == 0)
    self->bytes_window_start = now;
  self->bytes_window += bytes;

  /* fold into the average once a second, not on every read */
  elapsed = now - self->bytes_window_start;
  if (elapsed >= G_USEC_PER_SEC)
    {
      double rate = (double) self->bytes_window * G_USEC_PER_SEC / (double) elapsed;

      self->throughput = self->throughput == 0 ? rate : 0.7 * self->throughput + 0.3 * rate;
      self->bytes_window = 0;
      self->bytes_window_start = now;
      g_object_notify_by_pspec (G_OBJECT (self),
                                properties[PROP_OBSERVED_THROUGHPUT]);
    }
}

double
exg_router_get_observed_throughput (ExgRouter *self)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), 0);
  return self->throughput;
}

gint64
exg_router_get_observed_latency (ExgRouter *self)
{
  g_return_val_if_fail (EXG_IS_ROUTER (self), -1);
  return self->latency_us;
}

const char *
exg_router_state_to_string (ExgRouterState state)
{
  switch (state)
    {
    case EXG_ROUTER_STATE_CHECKING:
      return "checking";
    case EXG_ROUTER_STATE_UP:
      return "up";
    case EXG_ROUTER_STATE_DOWN:
    default:
      return "down";
    }
}

static const char * const kind_names[] = {
  [EXG_ROUTER_KIND_DIRECT] = "direct",
  [EXG_ROUTER_KIND_SOCKS5] = "socks5",
  [EXG_ROUTER_KIND_SOCKS4A] = "socks4a",
  [EXG_ROUTER_KIND_HTTP_CONNECT] = "http-connect",
  [EXG_ROUTER_KIND_TOR] = "tor",
};

const char *
exg_router_kind_to_string (ExgRouterKind kind)
{
  if ((guint) kind < G_N_ELEMENTS (kind_names))
    return kind_names[kind];
  return "unknown";
}

gboolean
exg_router_kind_from_string (const char    *text,
                             ExgRouterKind *kind)
{
  if (text == NULL)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (kind_names); i++)
    if (g_ascii_strcasecmp (text, kind_names[i]) == 0)
      {
        if (kind != NULL)
          *kind = (ExgRouterKind) i;
        return TRUE;
      }
  return FALSE;
}
