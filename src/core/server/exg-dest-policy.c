/* exg-dest-policy.c: which targets the proxy may connect to.
 *
 * Addresses are kept as bytes: a check runs for every CONNECT, and costs
 * no allocation.  A v4-mapped IPv6 address (::ffff:a.b.c.d) is judged as
 * the IPv4 address it is, for targets and listeners alike, so that a rule
 * or listener written for one form covers the other.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-dest-policy.h"

#include "exg-error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* How long a reading of the host's addresses is trusted: an address that
 * appears (DHCP, a VPN) is refused within this. */
#define HOST_ADDRESSES_MAX_AGE G_USEC_PER_SEC

typedef struct {
  GSocketFamily family;      /* IPV4 or IPV6, never a v4-mapped IPV6 */
  guint8        bytes[16];   /* 4 used for IPV4 */
} Addr;

typedef struct {
  Addr     addr;
  guint    prefix;           /* bits of addr that must match */
  guint16  port_min;         /* 1 … 65535; 1-65535 when none was given */
  guint16  port_max;
} Rule;

typedef struct {
  Addr     addr;             /* 0.0.0.0 or :: for a wildcard listener */
  guint16  port;
} Listener;

struct _ExgDestPolicy
{
  gatomicrefcount ref_count;

  GArray  *allow;            /* (element-type Rule) owned */
  GArray  *deny;             /* (element-type Rule) owned */
  GArray  *listeners;        /* (element-type Listener) owned */
  GArray  *host_addresses;   /* (element-type Addr) owned */
  gint64   host_addresses_read;   /* monotonic µs of the last reading, 0: never */
  gboolean beyond_loopback;  /* some listener is not on loopback */
};

static const guint8 v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void
addr_init (Addr          *addr,
           GSocketFamily  family,
           const guint8  *bytes)
{
  memset (addr, 0, sizeof *addr);
  if (family == G_SOCKET_FAMILY_IPV6 &&
      memcmp (bytes, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0)
    {
      addr->family = G_SOCKET_FAMILY_IPV4;
      memcpy (addr->bytes, bytes + sizeof v4_mapped_prefix, 4);
      return;
    }
  addr->family = family;
  memcpy (addr->bytes, bytes, family == G_SOCKET_FAMILY_IPV4 ? 4 : 16);
}

static void
addr_init_inet (Addr         *addr,
                GInetAddress *inet)
{
  addr_init (addr, g_inet_address_get_family (inet),
             g_inet_address_to_bytes (inet));
}

static gsize
addr_len (const Addr *addr)
{
  return addr->family == G_SOCKET_FAMILY_IPV4 ? 4 : 16;
}

static gboolean
addr_equal (const Addr *a,
            const Addr *b)
{
  return a->family == b->family &&
         memcmp (a->bytes, b->bytes, addr_len (a)) == 0;
}

static gboolean
addr_is_any (const Addr *addr)
{
  static const guint8 zeros[16] = { 0 };

  return memcmp (addr->bytes, zeros, addr_len (addr)) == 0;
}

/* 127.0.0.0/8 and ::1, as g_inet_address_get_is_loopback () has them */
static gboolean
addr_is_loopback (const Addr *addr)
{
  if (addr->family == G_SOCKET_FAMILY_IPV4)
    return addr->bytes[0] == 127;
  return IN6_IS_ADDR_LOOPBACK ((const struct in6_addr *) addr->bytes);
}

static gboolean
prefix_matches (const Addr *network,
                guint       prefix,
                const Addr *addr)
{
  guint whole = prefix / 8;
  guint rest = prefix % 8;

  if (network->family != addr->family)
    return FALSE;
  if (memcmp (network->bytes, addr->bytes, whole) != 0)
    return FALSE;
  if (rest == 0)
    return TRUE;
  return ((network->bytes[whole] ^ addr->bytes[whole]) &
          (guint8) (0xff << (8 - rest))) == 0;
}

static gboolean
rule_matches (const Rule *rule,
              const Addr *addr,
              guint16     port)
{
  return port >= rule->port_min && port <= rule->port_max &&
         prefix_matches (&rule->addr, rule->prefix, addr);
}

static gboolean
rules_match (GArray     *rules,
             const Addr *addr,
             guint16     port)
{
  for (guint i = 0; i < rules->len; i++)
    if (rule_matches (&g_array_index (rules, Rule, i), addr, port))
      return TRUE;
  return FALSE;
}

/* A whole decimal number in [min, max], nothing else. */
static gboolean
parse_number (const char *text,
              gsize       len,
              guint       min,
              guint       max,
              guint      *out)
{
  guint value = 0;

  if (len == 0 || len > 5)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isdigit (text[i]))
        return FALSE;
      value = value * 10 + (guint) (text[i] - '0');
    }
  if (value < min || value > max)
    return FALSE;
  *out = value;
  return TRUE;
}

static gboolean
parse_ports (const char *text,
             Rule       *rule,
             GError    **error)
{
  const char *dash = strchr (text, '-');
  guint lo, hi;

  if (dash == NULL)
    {
      if (!parse_number (text, strlen (text), 1, 65535, &lo))
        goto bad;
      hi = lo;
    }
  else if (!parse_number (text, (gsize) (dash - text), 1, 65535, &lo) ||
           !parse_number (dash + 1, strlen (dash + 1), 1, 65535, &hi))
    goto bad;

  if (lo > hi)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "the port range “%s” ends before it starts", text);
      return FALSE;
    }
  rule->port_min = (guint16) lo;
  rule->port_max = (guint16) hi;
  return TRUE;

bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "“%s” is not a port (1-65535) or a range of ports", text);
  return FALSE;
}

/* CIDR[:PORT[-PORT]]; see the header for the forms. */
static gboolean
parse_rule (const char  *text,
            Rule        *rule,
            GError     **error)
{
  g_autofree char *head = NULL;   /* ADDR[/N] */
  const char *ports = NULL;
  char *slash;
  int family;
  guint max_prefix;

  memset (rule, 0, sizeof *rule);
  rule->port_min = 1;
  rule->port_max = 65535;

  if (text[0] == '[')
    {
      /* [V6][/N][:PORTS] */
      const char *close = strchr (text, ']');
      const char *after;
      const char *colon;

      if (close == NULL)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "an opening “[” without its “]”");
          return FALSE;
        }
      family = AF_INET6;
      after = close + 1;
      colon = strchr (after, ':');
      if (after[0] != '\0' && after[0] != '/' && after[0] != ':')
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "“%s” after the “]”", after);
          return FALSE;
        }
      /* the address and the prefix that follows the bracket */
      head = g_strdup_printf ("%.*s%.*s", (int) (close - text - 1), text + 1,
                              (int) (colon != NULL ? (gsize) (colon - after)
                                                   : strlen (after)),
                              after);
      if (colon != NULL)
        ports = colon + 1;
    }
  else
    {
      const char *first_colon = strchr (text, ':');

      if (first_colon != NULL && first_colon == strrchr (text, ':'))
        {
          /* exactly one colon: IPv4 and a port */
          family = AF_INET;
          head = g_strndup (text, (gsize) (first_colon - text));
          ports = first_colon + 1;
        }
      else
        {
          /* IPv4 without a port, or IPv6 without brackets (no port) */
          family = first_colon != NULL ? AF_INET6 : AF_INET;
          head = g_strdup (text);
        }
    }

  max_prefix = family == AF_INET ? 32 : 128;
  rule->prefix = max_prefix;
  slash = strchr (head, '/');
  if (slash != NULL)
    {
      *slash = '\0';
      if (!parse_number (slash + 1, strlen (slash + 1), 0, max_prefix,
                         &rule->prefix))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "the prefix length is not a number from 0 to %u",
                       max_prefix);
          return FALSE;
        }
    }

  if (inet_pton (family, head, rule->addr.bytes) != 1)
    {
      if (family == AF_INET)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                     "“%s” is not an IPv4 address (an IPv6 one goes in "
                     "brackets when a port follows)", head);
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                     "“%s” is not an IPv6 address", head);
      return FALSE;
    }
  rule->addr.family = family == AF_INET ? G_SOCKET_FAMILY_IPV4
                                        : G_SOCKET_FAMILY_IPV6;

  /* as GInetAddressMask has it: "10.0.0.1/8" is a typo, not a network */
  for (guint bit = rule->prefix; bit < max_prefix; bit++)
    if (rule->addr.bytes[bit / 8] & (0x80 >> (bit % 8)))
      {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                     "the address has bits set beyond the prefix length %u",
                     rule->prefix);
        return FALSE;
      }

  /* a v4-mapped network is the IPv4 one it names */
  if (rule->addr.family == G_SOCKET_FAMILY_IPV6 && rule->prefix >= 96 &&
      memcmp (rule->addr.bytes, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0)
    {
      guint8 mapped[16];

      memcpy (mapped, rule->addr.bytes, sizeof mapped);
      addr_init (&rule->addr, G_SOCKET_FAMILY_IPV6, mapped);
      rule->prefix -= 96;
    }

  if (ports != NULL)
    return parse_ports (ports, rule, error);
  return TRUE;
}

/**
 * exg_dest_rule_validate:
 * @rule: an entry of allow-targets or deny-targets
 *
 * Returns: whether @rule is CIDR[:PORT[-PORT]]; if not, @error says why,
 *   without naming where the entry came from
 */
gboolean
exg_dest_rule_validate (const char  *rule,
                        GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  Rule parsed;

  g_return_val_if_fail (rule != NULL, FALSE);

  if (parse_rule (rule, &parsed, &local_error))
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "“%s” is not CIDR[:PORT[-PORT]] (%s)", rule,
               local_error->message);
  return FALSE;
}

/**
 * exg_dest_policy_new:
 *
 * Returns: (transfer full): a policy with no lists, no listeners and no
 *   host addresses: it refuses only zero addresses and ports
 */
ExgDestPolicy *
exg_dest_policy_new (void)
{
  ExgDestPolicy *self = g_new0 (ExgDestPolicy, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->allow = g_array_new (FALSE, FALSE, sizeof (Rule));
  self->deny = g_array_new (FALSE, FALSE, sizeof (Rule));
  self->listeners = g_array_new (FALSE, FALSE, sizeof (Listener));
  self->host_addresses = g_array_new (FALSE, FALSE, sizeof (Addr));
  return self;
}

ExgDestPolicy *
exg_dest_policy_ref (ExgDestPolicy *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
exg_dest_policy_unref (ExgDestPolicy *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  g_array_unref (self->allow);
  g_array_unref (self->deny);
  g_array_unref (self->listeners);
  g_array_unref (self->host_addresses);
  g_free (self);
}

/* All or nothing: a bad entry leaves the list as it was. */
static gboolean
set_rules (GArray             *array,
           const char * const *rules,
           GError            **error)
{
  g_autoptr(GArray) parsed = g_array_new (FALSE, FALSE, sizeof (Rule));

  for (guint i = 0; rules != NULL && rules[i] != NULL; i++)
    {
      Rule rule;

      if (!exg_dest_rule_validate (rules[i], error))
        return FALSE;
      parse_rule (rules[i], &rule, NULL);
      g_array_append_val (parsed, rule);
    }
  g_array_set_size (array, 0);
  g_array_append_vals (array, parsed->data, parsed->len);
  return TRUE;
}

/**
 * exg_dest_policy_set_allow_targets:
 * @rules: (nullable) (array zero-terminated=1): CIDR[:PORT[-PORT]] entries
 *
 * Targets allowed even on this host while listening beyond loopback.
 * Neither a zero address or port nor the proxy's own listeners can be
 * allowed.
 *
 * Returns: FALSE with @error on the first bad entry, the list unchanged
 */
gboolean
exg_dest_policy_set_allow_targets (ExgDestPolicy      *self,
                                   const char * const *rules,
                                   GError            **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return set_rules (self->allow, rules, error);
}

/**
 * exg_dest_policy_set_deny_targets:
 * @rules: (nullable) (array zero-terminated=1): CIDR[:PORT[-PORT]] entries
 *
 * Targets always refused; deny-targets win over allow-targets.
 *
 * Returns: FALSE with @error on the first bad entry, the list unchanged
 */
gboolean
exg_dest_policy_set_deny_targets (ExgDestPolicy      *self,
                                  const char * const *rules,
                                  GError            **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return set_rules (self->deny, rules, error);
}

/**
 * exg_dest_policy_add_listener:
 * @address: where the proxy listens; 0.0.0.0 or :: for every address
 * @port: the bound port
 */
void
exg_dest_policy_add_listener (ExgDestPolicy *self,
                              GInetAddress  *address,
                              guint16        port)
{
  Listener l;

  g_return_if_fail (self != NULL);
  g_return_if_fail (G_IS_INET_ADDRESS (address));

  addr_init_inet (&l.addr, address);
  l.port = port;
  g_array_append_val (self->listeners, l);
  if (!addr_is_loopback (&l.addr))
    self->beyond_loopback = TRUE;
}

void
exg_dest_policy_clear_listeners (ExgDestPolicy *self)
{
  g_return_if_fail (self != NULL);
  g_array_set_size (self->listeners, 0);
  self->beyond_loopback = FALSE;
}

/**
 * exg_dest_policy_get_beyond_loopback:
 *
 * Returns: whether some listener takes clients from beyond loopback, which
 *   turns on the refusal of targets on this host
 */
gboolean
exg_dest_policy_get_beyond_loopback (ExgDestPolicy *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->beyond_loopback;
}

void
exg_dest_policy_add_host_address (ExgDestPolicy *self,
                                  GInetAddress  *address)
{
  Addr addr;

  g_return_if_fail (self != NULL);
  g_return_if_fail (G_IS_INET_ADDRESS (address));

  addr_init_inet (&addr, address);
  g_array_append_val (self->host_addresses, addr);
}

void
exg_dest_policy_clear_host_addresses (ExgDestPolicy *self)
{
  g_return_if_fail (self != NULL);
  g_array_set_size (self->host_addresses, 0);
  self->host_addresses_read = 0;
}

/**
 * exg_dest_policy_update_host_addresses:
 *
 * Only a policy listening beyond loopback needs the host's addresses
 * (the default rule, and wildcard listeners); a loopback-only one never
 * pays for getifaddrs (3).  A failed reading keeps the previous one.
 */
void
exg_dest_policy_update_host_addresses (ExgDestPolicy *self)
{
  struct ifaddrs *list = NULL;
  gint64 now;

  g_return_if_fail (self != NULL);

  if (!self->beyond_loopback)
    return;
  now = g_get_monotonic_time ();
  if (self->host_addresses_read != 0 &&
      now - self->host_addresses_read < HOST_ADDRESSES_MAX_AGE)
    return;

  if (getifaddrs (&list) != 0)
    {
      int errsv = errno;

      g_debug ("Cannot read this host's addresses: %s", g_strerror (errsv));
      return;
    }

  g_array_set_size (self->host_addresses, 0);
  for (struct ifaddrs *ifa = list; ifa != NULL; ifa = ifa->ifa_next)
    {
      Addr addr;

      if (ifa->ifa_addr == NULL)
        continue;
      if (ifa->ifa_addr->sa_family == AF_INET)
        addr_init (&addr, G_SOCKET_FAMILY_IPV4,
                   (const guint8 *) &((const struct sockaddr_in *) ifa->ifa_addr)->sin_addr);
      else if (ifa->ifa_addr->sa_family == AF_INET6)
        addr_init (&addr, G_SOCKET_FAMILY_IPV6,
                   (const guint8 *) &((const struct sockaddr_in6 *) ifa->ifa_addr)->sin6_addr);
      else
        continue;
      g_array_append_val (self->host_addresses, addr);
    }
  freeifaddrs (list);
  self->host_addresses_read = now;
}

static gboolean
is_host_address (ExgDestPolicy *self,
                 const Addr    *addr)
{
  if (addr_is_loopback (addr))
    return TRUE;
  for (guint i = 0; i < self->host_addresses->len; i++)
    if (addr_equal (&g_array_index (self->host_addresses, Addr, i), addr))
      return TRUE;
  return FALSE;
}

static gboolean
is_own_listener (ExgDestPolicy *self,
                 const Addr    *addr,
                 guint16        port)
{
  for (guint i = 0; i < self->listeners->len; i++)
    {
      const Listener *l = &g_array_index (self->listeners, Listener, i);

      if (l->port != port)
        continue;
      if (addr_equal (&l->addr, addr))
        return TRUE;
      /* 0.0.0.0 takes every local IPv4 address; :: every local address
       * (GLib's IPv6 sockets are dual-stack) */
      if (addr_is_any (&l->addr) &&
          (l->addr.family == G_SOCKET_FAMILY_IPV6 ||
           addr->family == G_SOCKET_FAMILY_IPV4) &&
          is_host_address (self, addr))
        return TRUE;
    }
  return FALSE;
}

/**
 * exg_dest_policy_check:
 * @family: G_SOCKET_FAMILY_IPV4 or G_SOCKET_FAMILY_IPV6
 * @bytes: the address, 4 or 16 bytes
 * @port: the target port
 *
 * The rules in the order of the header: zero, own listener, deny-targets,
 * allow-targets, then this host while listening beyond loopback.  Uses
 * the host addresses as they are; see exg_dest_policy_judge ().
 *
 * Returns: %EXG_DEST_ALLOWED, or why the target is refused
 */
ExgDestVerdict
exg_dest_policy_check (ExgDestPolicy *self,
                       GSocketFamily  family,
                       const guint8  *bytes,
                       guint16        port)
{
  Addr addr;

  g_return_val_if_fail (self != NULL, EXG_DEST_REFUSED_ZERO);
  g_return_val_if_fail (family == G_SOCKET_FAMILY_IPV4 ||
                        family == G_SOCKET_FAMILY_IPV6, EXG_DEST_REFUSED_ZERO);
  g_return_val_if_fail (bytes != NULL, EXG_DEST_REFUSED_ZERO);

  addr_init (&addr, family, bytes);

  if (port == 0 || addr_is_any (&addr))
    return EXG_DEST_REFUSED_ZERO;
  if (is_own_listener (self, &addr, port))
    return EXG_DEST_REFUSED_OWN_LISTENER;
  if (rules_match (self->deny, &addr, port))
    return EXG_DEST_REFUSED_DENIED;
  if (rules_match (self->allow, &addr, port))
    return EXG_DEST_ALLOWED;
  if (self->beyond_loopback && is_host_address (self, &addr))
    return EXG_DEST_REFUSED_LOCAL;
  return EXG_DEST_ALLOWED;
}

/**
 * exg_dest_policy_judge:
 * @family: G_SOCKET_FAMILY_IPV4 or G_SOCKET_FAMILY_IPV6
 * @bytes: the address, 4 or 16 bytes
 * @port: the target port
 *
 * exg_dest_policy_check () on fresh host addresses.
 *
 * Returns: TRUE when allowed; otherwise FALSE with %EXG_ERROR_TARGET_REFUSED
 *   in @error, whose message names the rule and not the target (it may be
 *   logged)
 */
gboolean
exg_dest_policy_judge (ExgDestPolicy *self,
                       GSocketFamily  family,
                       const guint8  *bytes,
                       guint16        port,
                       GError       **error)
{
  ExgDestVerdict verdict;

  g_return_val_if_fail (self != NULL, FALSE);

  exg_dest_policy_update_host_addresses (self);
  verdict = exg_dest_policy_check (self, family, bytes, port);
  if (verdict == EXG_DEST_ALLOWED)
    return TRUE;
  g_set_error (error, EXG_ERROR, EXG_ERROR_TARGET_REFUSED,
               "Refused by the destination policy: %s",
               exg_dest_verdict_to_string (verdict));
  return FALSE;
}

/**
 * exg_dest_verdict_to_string:
 *
 * Returns: (transfer none): the rule behind @verdict, in words that never
 *   include the target
 */
const char *
exg_dest_verdict_to_string (ExgDestVerdict verdict)
{
  switch (verdict)
    {
    case EXG_DEST_ALLOWED:
      return "allowed";
    case EXG_DEST_REFUSED_ZERO:
      return "the target address or port is zero";
    case EXG_DEST_REFUSED_OWN_LISTENER:
      return "the target is one of this proxy's own listeners";
    case EXG_DEST_REFUSED_DENIED:
      return "the target is in deny-targets";
    case EXG_DEST_REFUSED_LOCAL:
      return "the target is on this host, and the proxy listens beyond loopback "
             "(see allow-targets)";
    default:
      return "unknown";
    }
}
