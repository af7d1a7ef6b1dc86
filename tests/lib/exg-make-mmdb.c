/* exg-make-mmdb: writes a small country MaxMind DB for tests.
 *
 *   exg-make-mmdb OUT.mmdb 127.0.0.2=SE 127.0.0.3/32=DE ::1=US \
 *                 10.0.0.5-10.0.0.20=NO
 *
 * Each argument after the file maps a network (an address, a CIDR network
 * or an inclusive "first-last" range of one family) to a country code.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-mmdb-writer.h"

#include <gio/gio.h>
#include <string.h>

static gboolean
add_range (ExgMmdbWriter *writer,
           const char    *range,
           const char    *iso)
{
  g_auto(GStrv) ends = g_strsplit (range, "-", 2);
  g_autoptr(GInetAddress) first = NULL;
  g_autoptr(GInetAddress) last = NULL;

  if (g_strv_length (ends) != 2)
    return FALSE;
  first = g_inet_address_new_from_string (ends[0]);
  last = g_inet_address_new_from_string (ends[1]);
  if (first == NULL || last == NULL
      || g_inet_address_get_family (first) != g_inet_address_get_family (last))
    return FALSE;

  if (g_inet_address_get_family (first) == G_SOCKET_FAMILY_IPV4)
    {
      guint32 s, e;

      memcpy (&s, g_inet_address_to_bytes (first), 4);
      memcpy (&e, g_inet_address_to_bytes (last), 4);
      return exg_mmdb_writer_add_range_v4 (writer, g_ntohl (s), g_ntohl (e),
                                           iso);
    }

  return exg_mmdb_writer_add_range_v6 (writer,
                                       g_inet_address_to_bytes (first),
                                       g_inet_address_to_bytes (last),
                                       iso);
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(ExgMmdbWriter) writer = NULL;
  g_autoptr(GError) error = NULL;

  if (argc < 2)
    {
      g_printerr ("Usage: %s OUT.mmdb NETWORK=CC…\n"
                  "NETWORK: 127.0.0.2, 10.0.0.0/8, ::1, 2001:db8::/32 or "
                  "FIRST-LAST\n", argv[0]);
      return 2;
    }

  writer = exg_mmdb_writer_new ("Exitgate-Test-Country");
  for (int i = 2; i < argc; i++)
    {
      const char *eq = strrchr (argv[i], '=');
      g_autofree char *network = NULL;
      gboolean ok;

      if (eq == NULL)
        {
          g_printerr ("%s: expected NETWORK=CC, got “%s”\n", argv[0], argv[i]);
          return 2;
        }
      network = g_strndup (argv[i], eq - argv[i]);
      if (strchr (network, '-') != NULL)
        ok = add_range (writer, network, eq + 1);
      else
        ok = exg_mmdb_writer_add_network (writer, network, eq + 1);
      if (!ok)
        {
          g_printerr ("%s: cannot add “%s”\n", argv[0], argv[i]);
          return 2;
        }
    }

  if (!exg_mmdb_writer_write (writer, argv[1], &error))
    {
      g_printerr ("%s: %s\n", argv[0], error->message);
      return 1;
    }

  return 0;
}
