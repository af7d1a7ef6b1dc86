/* test-socket-util.c: the address and port formatting of exg-socket-util,
 * against inet_ntop and printf.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-socket-util.h"

#include <arpa/inet.h>

/* Every value of every octet, in each position, beside inet_ntop */
static void
test_ipv4_to_string (void)
{
  for (int pos = 0; pos < 4; pos++)
    for (guint v = 0; v < 256; v++)
      {
        guint8 ip[4] = { 10, 0, 100, 255 };
        char ours[EXG_IPV4_STRLEN], theirs[INET_ADDRSTRLEN];
        gsize len;

        ip[pos] = (guint8) v;
        len = exg_ipv4_to_string (ip, ours);
        g_assert_nonnull (inet_ntop (AF_INET, ip, theirs, sizeof theirs));
        g_assert_cmpstr (ours, ==, theirs);
        g_assert_cmpuint (len, ==, strlen (theirs));
      }
}

static void
test_ipv4_to_string_longest (void)
{
  static const guint8 ip[4] = { 255, 255, 255, 255 };
  char out[EXG_IPV4_STRLEN];

  g_assert_cmpuint (exg_ipv4_to_string (ip, out), ==, EXG_IPV4_STRLEN - 1);
  g_assert_cmpstr (out, ==, "255.255.255.255");
}

static void
test_port_to_string (void)
{
  for (guint port = 0; port <= G_MAXUINT16; port++)
    {
      char ours[EXG_PORT_STRLEN];
      g_autofree char *theirs = g_strdup_printf ("%u", port);

      g_assert_cmpuint (exg_port_to_string ((guint16) port, ours), ==, strlen (theirs));
      g_assert_cmpstr (ours, ==, theirs);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/socket-util/ipv4-to-string", test_ipv4_to_string);
  g_test_add_func ("/socket-util/ipv4-to-string/longest", test_ipv4_to_string_longest);
  g_test_add_func ("/socket-util/port-to-string", test_port_to_string);

  return g_test_run ();
}
