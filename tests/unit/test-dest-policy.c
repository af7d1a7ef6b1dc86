/* test-dest-policy.c: the destination policy's rules, their order, and
 * the parsing of CIDR[:PORT[-PORT]] entries.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-dest-policy.h"
#include "exg-error.h"

#include <string.h>

/* Checks a target given as text ("1.2.3.4" or "::1"). */
static ExgDestVerdict
check (ExgDestPolicy *policy,
       const char    *address,
       guint16        port)
{
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (address);

  g_assert_nonnull (inet);
  return exg_dest_policy_check (policy, g_inet_address_get_family (inet),
                                g_inet_address_to_bytes (inet), port);
}

static void
add_listener (ExgDestPolicy *policy,
              const char    *address,
              guint16        port)
{
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (address);

  g_assert_nonnull (inet);
  exg_dest_policy_add_listener (policy, inet, port);
}

static void
add_host (ExgDestPolicy *policy,
          const char    *address)
{
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (address);

  g_assert_nonnull (inet);
  exg_dest_policy_add_host_address (policy, inet);
}

static void
set_list (ExgDestPolicy *policy,
          gboolean       deny,
          const char    *first,
          ...)
{
  g_autoptr(GPtrArray) rules = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  va_list args;

  va_start (args, first);
  for (const char *r = first; r != NULL; r = va_arg (args, const char *))
    g_ptr_array_add (rules, (gpointer) r);
  va_end (args);
  g_ptr_array_add (rules, NULL);

  if (deny)
    exg_dest_policy_set_deny_targets (policy, (const char * const *) rules->pdata,
                                      &error);
  else
    exg_dest_policy_set_allow_targets (policy, (const char * const *) rules->pdata,
                                       &error);
  g_assert_no_error (error);
}

static void
test_zero (void)
{
  g_autoptr(ExgDestPolicy) policy = exg_dest_policy_new ();

  /* tor: "Port or DestIP is zero" */
  g_assert_cmpint (check (policy, "0.0.0.0", 80), ==, EXG_DEST_REFUSED_ZERO);
  g_assert_cmpint (check (policy, "::", 80), ==, EXG_DEST_REFUSED_ZERO);
  g_assert_cmpint (check (policy, "::ffff:0.0.0.0", 80), ==, EXG_DEST_REFUSED_ZERO);
  g_assert_cmpint (check (policy, "192.0.2.1", 0), ==, EXG_DEST_REFUSED_ZERO);
  g_assert_cmpint (check (policy, "2001:db8::1", 0), ==, EXG_DEST_REFUSED_ZERO);
  /* the SOCKS4a markers are no zero address, as a target they are allowed */
  g_assert_cmpint (check (policy, "0.0.0.1", 80), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "192.0.2.1", 1), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "2001:db8::1", 65535), ==, EXG_DEST_ALLOWED);

  /* no allow-targets entry can let a zero through */
  set_list (policy, FALSE, "0.0.0.0/0", "::/0", NULL);
  g_assert_cmpint (check (policy, "0.0.0.0", 80), ==, EXG_DEST_REFUSED_ZERO);
  g_assert_cmpint (check (policy, "::", 80), ==, EXG_DEST_REFUSED_ZERO);
  g_assert_cmpint (check (policy, "192.0.2.1", 0), ==, EXG_DEST_REFUSED_ZERO);
}

static void
test_own_listener (void)
{
  g_autoptr(ExgDestPolicy) policy = exg_dest_policy_new ();

  add_listener (policy, "127.0.0.1", 1080);
  add_listener (policy, "::1", 1081);
  g_assert_false (exg_dest_policy_get_beyond_loopback (policy));

  g_assert_cmpint (check (policy, "127.0.0.1", 1080), ==, EXG_DEST_REFUSED_OWN_LISTENER);
  g_assert_cmpint (check (policy, "::ffff:127.0.0.1", 1080), ==, EXG_DEST_REFUSED_OWN_LISTENER);
  g_assert_cmpint (check (policy, "::1", 1081), ==, EXG_DEST_REFUSED_OWN_LISTENER);
  /* another port or another address is someone else */
  g_assert_cmpint (check (policy, "127.0.0.1", 1081), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "127.0.0.2", 1080), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "::1", 1080), ==, EXG_DEST_ALLOWED);
  /* on loopback only, loopback targets are fine */
  g_assert_cmpint (check (policy, "127.0.0.1", 80), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "::1", 80), ==, EXG_DEST_ALLOWED);

  /* allow-targets cannot open the loop */
  set_list (policy, FALSE, "127.0.0.0/8", "::1", NULL);
  g_assert_cmpint (check (policy, "127.0.0.1", 1080), ==, EXG_DEST_REFUSED_OWN_LISTENER);
  g_assert_cmpint (check (policy, "::1", 1081), ==, EXG_DEST_REFUSED_OWN_LISTENER);

  exg_dest_policy_clear_listeners (policy);
  g_assert_cmpint (check (policy, "127.0.0.1", 1080), ==, EXG_DEST_ALLOWED);
}

static void
test_wildcard_listener (void)
{
  g_autoptr(ExgDestPolicy) policy = exg_dest_policy_new ();

  add_host (policy, "192.0.2.7");
  add_host (policy, "2001:db8::7");

  /* 0.0.0.0 takes every local IPv4 address at its port */
  add_listener (policy, "0.0.0.0", 1080);
  g_assert_true (exg_dest_policy_get_beyond_loopback (policy));
  g_assert_cmpint (check (policy, "127.0.0.1", 1080), ==, EXG_DEST_REFUSED_OWN_LISTENER);
  g_assert_cmpint (check (policy, "127.3.2.1", 1080), ==, EXG_DEST_REFUSED_OWN_LISTENER);
  g_assert_cmpint (check (policy, "192.0.2.7", 1080), ==, EXG_DEST_REFUSED_OWN_LISTENER);
  /* not IPv6, and not another host */
  g_assert_cmpint (check (policy, "2001:db8::7", 1080), ==, EXG_DEST_REFUSED_LOCAL);
  g_assert_cmpint (check (policy, "192.0.2.8", 1080), ==, EXG_DEST_ALLOWED);

  /* :: is dual-stack: every local address of both families */
  exg_dest_policy_clear_listeners (policy);
  add_listener (policy, "::", 2080);
  g_assert_cmpint (check (policy, "::1", 2080), ==, EXG_DEST_REFUSED_OWN_LISTENER);
  g_assert_cmpint (check (policy, "2001:db8::7", 2080), ==, EXG_DEST_REFUSED_OWN_LISTENER);
  g_assert_cmpint (check (policy, "127.0.0.1", 2080), ==, EXG_DEST_REFUSED_OWN_LISTENER);
  g_assert_cmpint (check (policy, "192.0.2.7", 2080), ==, EXG_DEST_REFUSED_OWN_LISTENER);
  g_assert_cmpint (check (policy, "2001:db8::8", 2080), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "192.0.2.8", 2080), ==, EXG_DEST_ALLOWED);
}

static void
test_beyond_loopback (void)
{
  g_autoptr(ExgDestPolicy) policy = exg_dest_policy_new ();

  add_host (policy, "192.0.2.7");
  add_host (policy, "2001:db8::7");

  /* on loopback: this host's services are the user's own to reach */
  add_listener (policy, "127.0.0.1", 1080);
  g_assert_cmpint (check (policy, "127.0.0.1", 22), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "192.0.2.7", 22), ==, EXG_DEST_ALLOWED);

  /* one listener on a LAN address turns the default rule on */
  add_listener (policy, "192.0.2.7", 1080);
  g_assert_true (exg_dest_policy_get_beyond_loopback (policy));
  g_assert_cmpint (check (policy, "127.0.0.1", 22), ==, EXG_DEST_REFUSED_LOCAL);
  g_assert_cmpint (check (policy, "127.255.255.254", 22), ==, EXG_DEST_REFUSED_LOCAL);
  g_assert_cmpint (check (policy, "::1", 22), ==, EXG_DEST_REFUSED_LOCAL);
  g_assert_cmpint (check (policy, "::ffff:127.0.0.1", 22), ==, EXG_DEST_REFUSED_LOCAL);
  g_assert_cmpint (check (policy, "192.0.2.7", 22), ==, EXG_DEST_REFUSED_LOCAL);
  g_assert_cmpint (check (policy, "2001:db8::7", 22), ==, EXG_DEST_REFUSED_LOCAL);
  g_assert_cmpint (check (policy, "192.0.2.7", 1080), ==, EXG_DEST_REFUSED_OWN_LISTENER);
  /* other hosts are what the proxy is for */
  g_assert_cmpint (check (policy, "192.0.2.8", 22), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "2001:db8::8", 22), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "198.51.100.1", 443), ==, EXG_DEST_ALLOWED);

  /* host addresses read afresh */
  exg_dest_policy_clear_host_addresses (policy);
  g_assert_cmpint (check (policy, "2001:db8::7", 22), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "127.0.0.1", 22), ==, EXG_DEST_REFUSED_LOCAL);

  /* back on loopback only */
  exg_dest_policy_clear_listeners (policy);
  g_assert_false (exg_dest_policy_get_beyond_loopback (policy));
  g_assert_cmpint (check (policy, "127.0.0.1", 22), ==, EXG_DEST_ALLOWED);
}

static void
test_allow_targets (void)
{
  g_autoptr(ExgDestPolicy) policy = exg_dest_policy_new ();

  add_listener (policy, "0.0.0.0", 1080);
  add_host (policy, "192.0.2.7");
  set_list (policy, FALSE, "127.0.0.1/32:8080", "192.0.2.7:8000-8010",
            "[::1]/128:5432", NULL);

  g_assert_cmpint (check (policy, "127.0.0.1", 8080), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "127.0.0.1", 8081), ==, EXG_DEST_REFUSED_LOCAL);
  g_assert_cmpint (check (policy, "127.0.0.2", 8080), ==, EXG_DEST_REFUSED_LOCAL);
  g_assert_cmpint (check (policy, "192.0.2.7", 7999), ==, EXG_DEST_REFUSED_LOCAL);
  g_assert_cmpint (check (policy, "192.0.2.7", 8000), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "192.0.2.7", 8010), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "192.0.2.7", 8011), ==, EXG_DEST_REFUSED_LOCAL);
  g_assert_cmpint (check (policy, "::1", 5432), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "::1", 5433), ==, EXG_DEST_REFUSED_LOCAL);
  /* a v4-mapped target matches the IPv4 entry */
  g_assert_cmpint (check (policy, "::ffff:127.0.0.1", 8080), ==, EXG_DEST_ALLOWED);

  /* an empty list restores the default */
  g_assert_true (exg_dest_policy_set_allow_targets (policy, NULL, NULL));
  g_assert_cmpint (check (policy, "127.0.0.1", 8080), ==, EXG_DEST_REFUSED_LOCAL);
}

static void
test_deny_targets (void)
{
  g_autoptr(ExgDestPolicy) policy = exg_dest_policy_new ();

  /* deny-targets refuse even on loopback only, and anywhere */
  add_listener (policy, "127.0.0.1", 1080);
  set_list (policy, TRUE, "127.0.0.1/32:6379", "10.0.0.0/8", "[2001:db8::]/32:25",
            "::ffff:198.51.100.0/120", NULL);

  g_assert_cmpint (check (policy, "127.0.0.1", 6379), ==, EXG_DEST_REFUSED_DENIED);
  g_assert_cmpint (check (policy, "127.0.0.1", 6380), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "10.0.0.1", 1), ==, EXG_DEST_REFUSED_DENIED);
  g_assert_cmpint (check (policy, "10.255.255.255", 65535), ==, EXG_DEST_REFUSED_DENIED);
  g_assert_cmpint (check (policy, "11.0.0.0", 80), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "2001:db8:ffff::1", 25), ==, EXG_DEST_REFUSED_DENIED);
  g_assert_cmpint (check (policy, "2001:db8:ffff::1", 26), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "2001:db9::1", 25), ==, EXG_DEST_ALLOWED);
  /* a v4-mapped entry is its IPv4 network, for both forms of target */
  g_assert_cmpint (check (policy, "198.51.100.9", 80), ==, EXG_DEST_REFUSED_DENIED);
  g_assert_cmpint (check (policy, "::ffff:198.51.100.9", 80), ==, EXG_DEST_REFUSED_DENIED);
  g_assert_cmpint (check (policy, "198.51.101.9", 80), ==, EXG_DEST_ALLOWED);
  /* IPv4 entries never match IPv6 targets */
  g_assert_cmpint (check (policy, "::a00:1", 80), ==, EXG_DEST_ALLOWED);
}

static void
test_precedence (void)
{
  g_autoptr(ExgDestPolicy) policy = exg_dest_policy_new ();

  add_listener (policy, "0.0.0.0", 1080);
  add_host (policy, "192.0.2.7");
  set_list (policy, FALSE, "0.0.0.0/0", "::/0", NULL);
  set_list (policy, TRUE, "127.0.0.1/32:22", "192.0.2.0/24:25", NULL);

  /* 1. zero, before everything */
  g_assert_cmpint (check (policy, "0.0.0.0", 1080), ==, EXG_DEST_REFUSED_ZERO);
  g_assert_cmpint (check (policy, "127.0.0.1", 0), ==, EXG_DEST_REFUSED_ZERO);
  /* 2. own listener, before deny and allow */
  g_assert_cmpint (check (policy, "127.0.0.1", 1080), ==, EXG_DEST_REFUSED_OWN_LISTENER);
  /* 3. deny, before allow */
  g_assert_cmpint (check (policy, "127.0.0.1", 22), ==, EXG_DEST_REFUSED_DENIED);
  g_assert_cmpint (check (policy, "192.0.2.9", 25), ==, EXG_DEST_REFUSED_DENIED);
  /* 4. allow, before the default rule */
  g_assert_cmpint (check (policy, "127.0.0.1", 23), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "192.0.2.7", 80), ==, EXG_DEST_ALLOWED);
  g_assert_cmpint (check (policy, "::1", 80), ==, EXG_DEST_ALLOWED);

  /* 5. without the allow-list, the default */
  g_assert_true (exg_dest_policy_set_allow_targets (policy, NULL, NULL));
  g_assert_cmpint (check (policy, "127.0.0.1", 23), ==, EXG_DEST_REFUSED_LOCAL);
  g_assert_cmpint (check (policy, "127.0.0.1", 22), ==, EXG_DEST_REFUSED_DENIED);
}

static void
test_judge (void)
{
  g_autoptr(ExgDestPolicy) policy = exg_dest_policy_new ();
  g_autoptr(GError) error = NULL;
  static const guint8 loopback[4] = { 127, 0, 0, 1 };
  static const guint8 other[4] = { 192, 0, 2, 1 };

  add_listener (policy, "127.0.0.1", 1080);
  g_assert_true (exg_dest_policy_judge (policy, G_SOCKET_FAMILY_IPV4, other,
                                        80, &error));
  g_assert_no_error (error);
  g_assert_false (exg_dest_policy_judge (policy, G_SOCKET_FAMILY_IPV4, loopback,
                                         1080, &error));
  g_assert_error (error, EXG_ERROR, EXG_ERROR_TARGET_REFUSED);
  /* the message names the rule, never the target */
  g_assert_nonnull (strstr (error->message, "own listeners"));
  g_assert_null (strstr (error->message, "127.0.0.1"));
  g_assert_null (strstr (error->message, "1080"));

  g_assert_cmpstr (exg_dest_verdict_to_string (EXG_DEST_ALLOWED), ==, "allowed");
  for (int v = EXG_DEST_REFUSED_ZERO; v <= EXG_DEST_REFUSED_LOCAL; v++)
    g_assert_cmpuint (strlen (exg_dest_verdict_to_string (v)), >, 10);
}

/* The host's real addresses: loopback is always among them, and a
 * listener beyond loopback reads them. */
static void
test_host_addresses_read (void)
{
  g_autoptr(ExgDestPolicy) policy = exg_dest_policy_new ();
  g_autoptr(GError) error = NULL;
  static const guint8 loopback[4] = { 127, 0, 0, 1 };

  add_listener (policy, "0.0.0.0", 1080);
  g_assert_false (exg_dest_policy_judge (policy, G_SOCKET_FAMILY_IPV4,
                                         loopback, 22, &error));
  g_assert_error (error, EXG_ERROR, EXG_ERROR_TARGET_REFUSED);
}

typedef struct {
  const char *rule;
  const char *target;   /* NULL: the rule is bad */
  guint16     port;
  gboolean    matches;
} ParseCase;

static const ParseCase parse_cases[] = {
  /* good: each form, a target inside and one outside */
  { "10.0.0.0/8", "10.1.2.3", 1, TRUE },
  { "10.0.0.0/8", "11.0.0.0", 1, FALSE },
  { "10.1.2.3", "10.1.2.3", 65535, TRUE },
  { "10.1.2.3", "10.1.2.4", 80, FALSE },
  { "10.1.2.3:443", "10.1.2.3", 443, TRUE },
  { "10.1.2.3:443", "10.1.2.3", 444, FALSE },
  { "192.168.0.0/16:8000-8090", "192.168.200.1", 8090, TRUE },
  { "192.168.0.0/16:8000-8090", "192.168.200.1", 8091, FALSE },
  { "0.0.0.0/0", "198.51.100.1", 9, TRUE },
  { "0.0.0.0/0", "2001:db8::1", 9, FALSE },
  { "203.0.113.128/25", "203.0.113.200", 9, TRUE },
  { "203.0.113.128/25", "203.0.113.100", 9, FALSE },
  { "::1", "::1", 22, TRUE },
  { "::1/128", "::2", 22, FALSE },
  { "2001:db8::/32", "2001:db8:1::", 22, TRUE },
  { "[::1]/128:8080-8090", "::1", 8085, TRUE },
  { "[::1]/128:8080-8090", "::1", 8079, FALSE },
  { "[2001:db8::]/48", "2001:db8:0:1::", 22, TRUE },
  { "[2001:db8::5]:25", "2001:db8::5", 25, TRUE },
  { "[2001:db8::5]:25", "2001:db8::5", 26, FALSE },
  { "[::]/0:53", "2001:db8::5", 53, TRUE },
  { "[::ffff:10.0.0.0]/104", "10.9.9.9", 80, TRUE },
  /* bad */
  { "", NULL, 0, FALSE },
  { "nonsense", NULL, 0, FALSE },
  { "localhost:80", NULL, 0, FALSE },
  { "10.0.0.0/33", NULL, 0, FALSE },
  { "10.0.0.0/", NULL, 0, FALSE },
  { "10.0.0.0/x", NULL, 0, FALSE },
  { "10.0.0.1/8", NULL, 0, FALSE },
  { "10.0.0.0/8:", NULL, 0, FALSE },
  { "10.0.0.0/8:0", NULL, 0, FALSE },
  { "10.0.0.0/8:65536", NULL, 0, FALSE },
  { "10.0.0.0/8:80-", NULL, 0, FALSE },
  { "10.0.0.0/8:-80", NULL, 0, FALSE },
  { "10.0.0.0/8:90-80", NULL, 0, FALSE },
  { "10.0.0.0/8:http", NULL, 0, FALSE },
  { "10.0.0.0/8:80-90-100", NULL, 0, FALSE },
  { "256.0.0.0/8", NULL, 0, FALSE },
  { "::1/129", NULL, 0, FALSE },
  { "::1:80", "::1:80", 22, TRUE },   /* no brackets: all of it is the address */
  { "[::1", NULL, 0, FALSE },
  { "[::1]x", NULL, 0, FALSE },
  { "[::1]:", NULL, 0, FALSE },
  { "[10.0.0.1]:80", NULL, 0, FALSE },
  { "[::1]/129:80", NULL, 0, FALSE },
  { "2001:db8::1/32", NULL, 0, FALSE },
  { "fe80::1%eth0", NULL, 0, FALSE },
  { " 10.0.0.0/8", NULL, 0, FALSE },
};

static void
test_parse (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (parse_cases); i++)
    {
      const ParseCase *c = &parse_cases[i];
      g_autoptr(ExgDestPolicy) policy = exg_dest_policy_new ();
      g_autoptr(GError) error = NULL;
      const char *rules[] = { "192.0.2.99", c->rule, NULL };

      g_test_message ("rule “%s”", c->rule);
      if (c->target == NULL)
        {
          g_assert_false (exg_dest_rule_validate (c->rule, &error));
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
          /* the message quotes the entry, so the user finds it */
          g_assert_nonnull (strstr (error->message, c->rule));
          g_clear_error (&error);

          /* all or nothing: the good entry before it is not kept */
          g_assert_false (exg_dest_policy_set_deny_targets (policy, rules, &error));
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
          g_assert_cmpint (check (policy, "192.0.2.99", 80), ==, EXG_DEST_ALLOWED);
          continue;
        }

      g_assert_true (exg_dest_rule_validate (c->rule, &error));
      g_assert_no_error (error);
      g_assert_true (exg_dest_policy_set_deny_targets (policy, rules, &error));
      g_assert_no_error (error);
      g_assert_cmpint (check (policy, "192.0.2.99", 80), ==, EXG_DEST_REFUSED_DENIED);
      g_assert_cmpint (check (policy, c->target, c->port), ==,
                       c->matches ? EXG_DEST_REFUSED_DENIED : EXG_DEST_ALLOWED);
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/core/dest-policy/zero", test_zero);
  g_test_add_func ("/core/dest-policy/own-listener", test_own_listener);
  g_test_add_func ("/core/dest-policy/wildcard-listener", test_wildcard_listener);
  g_test_add_func ("/core/dest-policy/beyond-loopback", test_beyond_loopback);
  g_test_add_func ("/core/dest-policy/allow-targets", test_allow_targets);
  g_test_add_func ("/core/dest-policy/deny-targets", test_deny_targets);
  g_test_add_func ("/core/dest-policy/precedence", test_precedence);
  g_test_add_func ("/core/dest-policy/judge", test_judge);
  g_test_add_func ("/core/dest-policy/host-addresses-read", test_host_addresses_read);
  g_test_add_func ("/core/dest-policy/parse", test_parse);

  return g_test_run ();
}
