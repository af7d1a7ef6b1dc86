/* test-geoip.c: our MMDB writer read back by libmaxminddb and mmdblookup,
 * the tor-geoipdb converter and its cache, the search order, and a missing
 * database.  Every database is made by the test itself.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-geoip.h"
#include "exg-mmdb-writer.h"

#include <glib/gstdio.h>
#include <maxminddb.h>
#include <string.h>

#define CORE_LOG_DOMAIN "exitgate-core"

/* g_test_expect_message() does not see structured logging (the project
 * builds with G_LOG_USE_STRUCTURED), so a writer of our own takes the
 * expected warning out and counts it; anything else goes on to the default
 * writer, where a warning is fatal as usual. */
static struct
{
  const char *pattern;   /* NULL: nothing expected */
  guint       seen;
} expected_warning;

static GLogWriterOutput
log_writer_cb (GLogLevelFlags   log_level,
               const GLogField *fields,
               gsize            n_fields,
               gpointer         user_data)
{
  if (expected_warning.pattern != NULL && (log_level & G_LOG_LEVEL_WARNING))
    {
      const char *domain = NULL;
      const char *message = NULL;

      for (gsize i = 0; i < n_fields; i++)
        {
          if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
            domain = fields[i].value;
          else if (g_str_equal (fields[i].key, "MESSAGE"))
            message = fields[i].value;
        }

      if (g_strcmp0 (domain, CORE_LOG_DOMAIN) == 0 && message != NULL
          && g_pattern_match_simple (expected_warning.pattern, message))
        {
          g_test_message ("expected warning: %s", message);
          expected_warning.seen++;
          return G_LOG_WRITER_HANDLED;
        }
    }

  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

static void
expect_warning (const char *pattern)
{
  expected_warning.pattern = pattern;
  expected_warning.seen = 0;
}

static void
assert_warned_once (void)
{
  g_assert_cmpuint (expected_warning.seen, ==, 1);
  expected_warning.pattern = NULL;
}

/* a file in the test's private data directory (removed after each test) */
static char *
test_path (const char *name)
{
  g_assert_cmpint (g_mkdir_with_parents (g_get_user_data_dir (), 0700), ==, 0);
  return g_build_filename (g_get_user_data_dir (), name, NULL);
}

static GInetAddress *
v4_address (guint32 host_order)
{
  guint32 be = g_htonl (host_order);

  return g_inet_address_new_from_bytes ((const guint8 *) &be,
                                        G_SOCKET_FAMILY_IPV4);
}

static void
write_file (const char *path,
            const char *contents)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

static void
write_db (ExgMmdbWriter *writer,
          const char    *path)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (exg_mmdb_writer_write (writer, path, &error));
  g_assert_no_error (error);
}

/* country.iso_code of @address straight through libmaxminddb; NULL when
 * there is no entry */
static char *
mmdb_country (MMDB_s     *mmdb,
              const char *address)
{
  MMDB_lookup_result_s result;
  MMDB_entry_data_s data;
  int gai_error = 0, mmdb_error = 0;

  result = MMDB_lookup_string (mmdb, address, &gai_error, &mmdb_error);
  g_assert_cmpint (gai_error, ==, 0);
  g_assert_cmpint (mmdb_error, ==, MMDB_SUCCESS);
  if (!result.found_entry)
    return NULL;

  g_assert_cmpint (MMDB_get_value (&result.entry, &data,
                                   "country", "iso_code", NULL),
                   ==, MMDB_SUCCESS);
  g_assert_true (data.has_data);
  g_assert_cmpint (data.type, ==, MMDB_DATA_TYPE_UTF8_STRING);
  return g_strndup (data.utf8_string, data.data_size);
}

#define assert_mmdb_country(mmdb, address, expected) \
  G_STMT_START { \
    g_autofree char *got_ = mmdb_country ((mmdb), (address)); \
    g_assert_cmpstr (got_, ==, (expected)); \
  } G_STMT_END

#define assert_geoip_country(geoip, address, expected) \
  G_STMT_START { \
    char cc_[3] = "xx"; \
    gboolean found_ = exg_geoip_lookup_string ((geoip), (address), cc_); \
    g_assert_cmpstr (cc_, ==, \
                     (expected) != NULL ? (const char *) (expected) : ""); \
    g_assert_true (found_ == ((expected) != NULL)); \
  } G_STMT_END

static void
test_writer_v4_round_trip (void)
{
  g_autoptr(ExgMmdbWriter) writer = exg_mmdb_writer_new ("Test-Country");
  g_autofree char *path = test_path ("v4.mmdb");
  MMDB_s mmdb;

  g_assert_true (exg_mmdb_writer_add_network (writer, "127.0.0.2", "SE"));
  g_assert_true (exg_mmdb_writer_add_network (writer, "127.0.0.3/32", "de"));
  g_assert_true (exg_mmdb_writer_add_network (writer, "10.0.0.0/8", "NO"));
  g_assert_true (exg_mmdb_writer_add_network (writer, "10.1.0.0/16", "FI"));
  write_db (writer, path);

  g_assert_cmpint (MMDB_open (path, MMDB_MODE_MMAP, &mmdb), ==, MMDB_SUCCESS);
  g_assert_cmpuint (mmdb.metadata.ip_version, ==, 6);
  g_assert_cmpuint (mmdb.metadata.binary_format_major_version, ==, 2);
  g_assert_cmpuint (mmdb.metadata.binary_format_minor_version, ==, 0);
  g_assert_cmpuint (mmdb.metadata.record_size, ==, 24);
  g_assert_cmpuint (mmdb.metadata.node_count, >, 96);
  g_assert_cmpuint (mmdb.metadata.build_epoch, >, 1600000000);
  g_assert_cmpstr (mmdb.metadata.database_type, ==, "Test-Country");
  g_assert_cmpuint (mmdb.metadata.languages.count, ==, 1);
  g_assert_cmpstr (mmdb.metadata.languages.names[0], ==, "en");
  g_assert_cmpuint (mmdb.metadata.description.count, ==, 1);

  assert_mmdb_country (&mmdb, "127.0.0.2", "SE");
  assert_mmdb_country (&mmdb, "127.0.0.3", "DE");
  assert_mmdb_country (&mmdb, "127.0.0.1", NULL);
  assert_mmdb_country (&mmdb, "127.0.0.4", NULL);
  assert_mmdb_country (&mmdb, "10.0.0.0", "NO");
  assert_mmdb_country (&mmdb, "10.0.255.255", "NO");
  /* a later, more specific network wins inside an earlier one */
  assert_mmdb_country (&mmdb, "10.1.0.0", "FI");
  assert_mmdb_country (&mmdb, "10.1.255.255", "FI");
  assert_mmdb_country (&mmdb, "10.2.0.0", "NO");
  assert_mmdb_country (&mmdb, "10.255.255.255", "NO");
  assert_mmdb_country (&mmdb, "11.0.0.0", NULL);
  assert_mmdb_country (&mmdb, "9.255.255.255", NULL);
  /* the aliases: IPv4-mapped and 6to4 */
  assert_mmdb_country (&mmdb, "::ffff:127.0.0.2", "SE");
  assert_mmdb_country (&mmdb, "2002:7f00:3::1", "DE");
  assert_mmdb_country (&mmdb, "::1", NULL);
  MMDB_close (&mmdb);
}

static void
test_writer_v6_round_trip (void)
{
  g_autoptr(ExgMmdbWriter) writer = exg_mmdb_writer_new ("Test-Country");
  g_autofree char *path = test_path ("v6.mmdb");
  static const guint8 start[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 5 };
  static const guint8 end[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 9 };
  MMDB_s mmdb;

  g_assert_true (exg_mmdb_writer_add_network (writer, "::1", "US"));
  g_assert_true (exg_mmdb_writer_add_network (writer, "2001:db8::/32", "FI"));
  g_assert_true (exg_mmdb_writer_add_range_v6 (writer, start, end, "DK"));
  write_db (writer, path);

  g_assert_cmpint (MMDB_open (path, MMDB_MODE_MMAP, &mmdb), ==, MMDB_SUCCESS);
  assert_mmdb_country (&mmdb, "::1", "US");
  assert_mmdb_country (&mmdb, "::2", NULL);
  assert_mmdb_country (&mmdb, "::", NULL);
  assert_mmdb_country (&mmdb, "2001:db8::", "FI");
  assert_mmdb_country (&mmdb, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "FI");
  assert_mmdb_country (&mmdb, "2001:db8:1::4", "FI");
  assert_mmdb_country (&mmdb, "2001:db8:1::5", "DK");
  assert_mmdb_country (&mmdb, "2001:db8:1::7", "DK");
  assert_mmdb_country (&mmdb, "2001:db8:1::9", "DK");
  assert_mmdb_country (&mmdb, "2001:db8:1::a", "FI");
  assert_mmdb_country (&mmdb, "2001:db9::", NULL);
  assert_mmdb_country (&mmdb, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", NULL);
  /* no IPv4 data: v4 addresses are unknown, not an error */
  assert_mmdb_country (&mmdb, "127.0.0.1", NULL);
  MMDB_close (&mmdb);
}

/* Ranges that start and end off CIDR boundaries, side by side, each
 * address checked against the plain definition. */
static void
test_writer_ranges (void)
{
  g_autoptr(ExgMmdbWriter) writer = exg_mmdb_writer_new ("Test-Country");
  g_autofree char *path = test_path ("ranges.mmdb");
  g_autoptr(ExgGeoip) geoip = NULL;
  g_autoptr(GError) error = NULL;
  /* 10.0.0.5 … 10.0.0.20 SE, 10.0.0.21 … 10.0.1.3 DE, 10.0.1.4 NO */
  const guint32 base = (10u << 24);
  static const guint8 v6_start[16] = { 0x20, 0x01, 0x0d, 0xb8,
                                        [13] = 0xff, [14] = 0xff, [15] = 0xfe };
  static const guint8 v6_end[16] = { 0x20, 0x01, 0x0d, 0xb8,
                                      [11] = 1, [15] = 1 };

  g_assert_true (exg_mmdb_writer_add_range_v4 (writer, base + 5, base + 20,
                                               "SE"));
  g_assert_true (exg_mmdb_writer_add_range_v4 (writer, base + 21, base + 259,
                                               "DE"));
  g_assert_true (exg_mmdb_writer_add_range_v4 (writer, base + 260, base + 260,
                                               "NO"));
  /* the very last IPv4 address, and the very first */
  g_assert_true (exg_mmdb_writer_add_range_v4 (writer, 0xfffffffe, 0xffffffff,
                                               "IS"));
  g_assert_true (exg_mmdb_writer_add_range_v4 (writer, 0, 0, "EE"));
  /* 2001:db8::ff:fffe … 2001:db8::1:0:1 crosses a 2^32 boundary */
  g_assert_true (exg_mmdb_writer_add_range_v6 (writer, v6_start, v6_end, "LT"));
  write_db (writer, path);

  geoip = exg_geoip_new_from_file (path, &error);
  g_assert_no_error (error);

  for (guint32 a = base; a < base + 300; a++)
    {
      g_autoptr(GInetAddress) address = NULL;
      const char *expected = NULL;
      char cc[3];

      if (a >= base + 5 && a <= base + 20)
        expected = "SE";
      else if (a >= base + 21 && a <= base + 259)
        expected = "DE";
      else if (a == base + 260)
        expected = "NO";

      address = v4_address (a);
      g_assert_true (exg_geoip_lookup (geoip, address, cc)
                     == (expected != NULL));
      g_assert_cmpstr (cc, ==, expected != NULL ? expected : "");
    }

  assert_geoip_country (geoip, "255.255.255.255", "IS");
  assert_geoip_country (geoip, "255.255.255.254", "IS");
  assert_geoip_country (geoip, "255.255.255.253", NULL);
  assert_geoip_country (geoip, "0.0.0.0", "EE");
  assert_geoip_country (geoip, "0.0.0.1", NULL);
  assert_geoip_country (geoip, "2001:db8::ff:fffd", NULL);
  assert_geoip_country (geoip, "2001:db8::ff:fffe", "LT");
  assert_geoip_country (geoip, "2001:db8::ff:ffff", "LT");
  assert_geoip_country (geoip, "2001:db8::1:0:0", "LT");
  assert_geoip_country (geoip, "2001:db8::1:0:1", "LT");
  assert_geoip_country (geoip, "2001:db8::1:0:2", NULL);
}

/* Random disjoint IPv4 ranges, random probes, compared with a linear
 * search over the ranges. */
static void
test_writer_random_ranges (void)
{
  static const char *const countries[] = {
    "SE", "DE", "NO", "FI", "DK", "IS", "EE",
  };
  g_autoptr(ExgMmdbWriter) writer = exg_mmdb_writer_new ("Test-Country");
  g_autofree char *path = test_path ("random.mmdb");
  g_autoptr(ExgGeoip) geoip = NULL;
  g_autoptr(GError) error = NULL;
  struct { guint32 start, end; const char *cc; } ranges[200];
  guint32 next = g_test_rand_int_range (0, 1 << 20);

  for (guint i = 0; i < G_N_ELEMENTS (ranges); i++)
    {
      guint which = g_test_rand_int_range (0, G_N_ELEMENTS (countries));

      ranges[i].start = next + g_test_rand_int_range (0, 1000);
      ranges[i].end = ranges[i].start + g_test_rand_int_range (0, 5000);
      ranges[i].cc = countries[which];
      next = ranges[i].end + 1;
      g_assert_true (exg_mmdb_writer_add_range_v4 (writer, ranges[i].start,
                                                   ranges[i].end,
                                                   ranges[i].cc));
    }
  write_db (writer, path);
  geoip = exg_geoip_new_from_file (path, &error);
  g_assert_no_error (error);

  for (guint probe = 0; probe < 20000; probe++)
    {
      guint32 a = g_test_rand_int_range (0, next + 100);
      g_autoptr(GInetAddress) address = v4_address (a);
      const char *expected = NULL;
      char cc[3];

      for (guint i = 0; i < G_N_ELEMENTS (ranges); i++)
        if (a >= ranges[i].start && a <= ranges[i].end)
          expected = ranges[i].cc;

      g_assert_true (exg_geoip_lookup (geoip, address, cc)
                     == (expected != NULL));
      g_assert_cmpstr (cc, ==, expected != NULL ? expected : "");
    }
}

static void
test_writer_rejects_bad_input (void)
{
  g_autoptr(ExgMmdbWriter) writer = exg_mmdb_writer_new ("Test-Country");
  static const guint8 lo[16] = { 0x20, 0x01, [15] = 1 };
  static const guint8 hi[16] = { 0x20, 0x01, [15] = 2 };

  g_assert_false (exg_mmdb_writer_add_network (writer, "300.1.1.1", "SE"));
  g_assert_false (exg_mmdb_writer_add_network (writer, "10.0.0.1/8", "SE"));
  g_assert_false (exg_mmdb_writer_add_network (writer, "example.org", "SE"));
  g_assert_false (exg_mmdb_writer_add_network (writer, "10.0.0.0/8", "S"));
  g_assert_false (exg_mmdb_writer_add_network (writer, "10.0.0.0/8", "SWE"));
  g_assert_false (exg_mmdb_writer_add_network (writer, "10.0.0.0/8", "??"));
  g_assert_false (exg_mmdb_writer_add_network (writer, "10.0.0.0/8", NULL));
  g_assert_false (exg_mmdb_writer_add_range_v4 (writer, 10, 9, "SE"));
  g_assert_false (exg_mmdb_writer_add_range_v6 (writer, hi, lo, "SE"));
  g_assert_true (exg_mmdb_writer_add_range_v6 (writer, lo, hi, "SE"));
}

/* Looking up through ExgGeoip: upper case, v4-mapped, unknown, garbage. */
static void
test_geoip_lookup (void)
{
  g_autoptr(ExgMmdbWriter) writer = exg_mmdb_writer_new ("Test-Country");
  g_autofree char *path = test_path ("lookup.mmdb");
  g_autoptr(ExgGeoip) geoip = NULL;
  g_autoptr(GInetAddress) mapped = NULL;
  g_autoptr(GError) error = NULL;
  char cc[3];

  g_assert_true (exg_mmdb_writer_add_network (writer, "127.0.0.2", "se"));
  g_assert_true (exg_mmdb_writer_add_network (writer, "::1", "us"));
  write_db (writer, path);

  geoip = exg_geoip_new_from_file (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (exg_geoip_get_path (geoip), ==, path);

  assert_geoip_country (geoip, "127.0.0.2", "SE");
  assert_geoip_country (geoip, "::ffff:127.0.0.2", "SE");
  assert_geoip_country (geoip, "::1", "US");
  assert_geoip_country (geoip, "127.0.0.1", NULL);
  assert_geoip_country (geoip, "8.8.8.8", NULL);
  assert_geoip_country (geoip, "2001:db8::1", NULL);
  assert_geoip_country (geoip, "not-an-address", NULL);
  assert_geoip_country (geoip, "localhost", NULL);

  mapped = g_inet_address_new_from_string ("::ffff:127.0.0.2");
  g_assert_true (exg_geoip_lookup (geoip, mapped, cc));
  g_assert_cmpstr (cc, ==, "SE");
}

static void
test_geoip_open_errors (void)
{
  g_autofree char *missing = test_path ("missing.mmdb");
  g_autofree char *garbage = test_path ("garbage.mmdb");
  g_autoptr(GError) error = NULL;
  ExgGeoip *geoip;

  geoip = exg_geoip_new_from_file (missing, &error);
  g_assert_null (geoip);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  write_file (garbage, "this is not a MaxMind DB\n");
  geoip = exg_geoip_new_from_file (garbage, &error);
  g_assert_null (geoip);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

static void
test_geoip_database_less (void)
{
  g_autoptr(ExgGeoip) geoip = exg_geoip_new ();

  g_assert_null (exg_geoip_get_path (geoip));
  assert_geoip_country (geoip, "127.0.0.2", NULL);
  assert_geoip_country (geoip, "::1", NULL);
}

/* The same file read by MaxMind's own command-line tool. */
static void
test_mmdblookup_reads_our_file (void)
{
  g_autofree char *mmdblookup = g_find_program_in_path ("mmdblookup");
  g_autoptr(ExgMmdbWriter) writer = exg_mmdb_writer_new ("Test-Country");
  g_autofree char *path = test_path ("tool.mmdb");
  struct { const char *address; const char *expected; } cases[] = {
    { "127.0.0.2", "\"SE\"" },
    { "::1", "\"US\"" },
    { "2001:db8::42", "\"FI\"" },
    { "::ffff:127.0.0.2", "\"SE\"" },
  };

  if (mmdblookup == NULL)
    {
      g_test_skip ("mmdblookup (package mmdb-bin) is not installed");
      return;
    }

  g_assert_true (exg_mmdb_writer_add_network (writer, "127.0.0.2", "SE"));
  g_assert_true (exg_mmdb_writer_add_network (writer, "::1", "US"));
  g_assert_true (exg_mmdb_writer_add_network (writer, "2001:db8::/32", "FI"));
  write_db (writer, path);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *argv[] = { mmdblookup, "--file", path,
                             "--ip", cases[i].address,
                             "country", "iso_code", NULL };
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;
      g_autoptr(GError) error = NULL;
      int status = -1;

      g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                    &out, &err, &status, &error);
      g_assert_no_error (error);
      g_assert_true (g_spawn_check_wait_status (status, NULL));
      g_assert_nonnull (strstr (out, cases[i].expected));
      g_assert_nonnull (strstr (out, "<utf8_string>"));
    }

  /* and an address outside every network */
  {
    const char *argv[] = { mmdblookup, "--file", path, "--ip", "8.8.8.8",
                           NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    int status = -1;

    g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                  &out, &err, &status, &error);
    g_assert_no_error (error);
    /* mmdblookup says so on stderr */
    g_assert_nonnull (strstr (err, "Could not find an entry"));
    g_assert_null (strstr (out, "iso_code"));
  }
}

/* The helper other tests use: exg-make-mmdb OUT NETWORK=CC … */
static void
test_make_mmdb_tool (void)
{
  const char *tool = g_getenv ("EXG_MAKE_MMDB");
  g_autofree char *path = test_path ("made.mmdb");
  g_autoptr(ExgGeoip) geoip = NULL;
  g_autoptr(GError) error = NULL;
  int status = -1;

  if (tool == NULL)
    {
      g_test_skip ("EXG_MAKE_MMDB is not set (run through meson test)");
      return;
    }

  {
    const char *argv[] = { tool, path, "127.0.0.2=SE", "127.0.0.3/32=DE",
                           "::1=US", "10.0.0.5-10.0.0.20=NO", NULL };

    g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                  NULL, NULL, &status, &error);
    g_assert_no_error (error);
    g_assert_true (g_spawn_check_wait_status (status, NULL));
  }

  geoip = exg_geoip_new_from_file (path, &error);
  g_assert_no_error (error);
  assert_geoip_country (geoip, "127.0.0.2", "SE");
  assert_geoip_country (geoip, "127.0.0.3", "DE");
  assert_geoip_country (geoip, "::1", "US");
  assert_geoip_country (geoip, "10.0.0.4", NULL);
  assert_geoip_country (geoip, "10.0.0.5", "NO");
  assert_geoip_country (geoip, "10.0.0.20", "NO");
  assert_geoip_country (geoip, "10.0.0.21", NULL);

  /* a bad argument is refused with status 2, and no file */
  {
    g_autofree char *bad_path = test_path ("bad.mmdb");
    const char *argv[] = { tool, bad_path, "127.0.0.2=SWE", NULL };

    g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL,
                  NULL, NULL, NULL, NULL, &status, &error);
    g_assert_no_error (error);
    g_assert_true (WIFEXITED (status));
    g_assert_cmpint (WEXITSTATUS (status), ==, 2);
    g_assert_false (g_file_test (bad_path, G_FILE_TEST_EXISTS));
  }
}

/* tor-format sources */

static const char tor_geoip[] =
  "# comment, like the real file's header\n"
  "#\n"
  "\n"
  "2130706434,2130706434,SE\n"          /* 127.0.0.2 */
  "2130706435,2130706436,de\n"          /* 127.0.0.3-4, lower case */
  "2130706437,2130706437,??\n"          /* 127.0.0.5 unknown */
  "2130706438,2130706438,EU\n"          /* 127.0.0.6 not a country */
  "2130706439,2130706439,A1\n"          /* 127.0.0.7 anonymous proxy */
  "167772165,167772180,NO\r\n"          /* 10.0.0.5-10.0.0.20, CRLF */
  "garbage line\n"
  "1,2\n"
  "5,4,SE\n"                            /* start > end */
  "99999999999,99999999999,SE\n"        /* out of range */
  "-1,3,SE\n"
  "167772200,167772210,SWE\n"
  "167772380,167772390,FI";             /* 10.0.0.220-230, no final newline */

static const char tor_geoip6[] =
  "# IPv6\n"
  "::1,::1,US\n"
  "2001:db8::,2001:db8:0:ffff:ffff:ffff:ffff:ffff,FI\n"
  "2001:db8:1::5,2001:db8:1::9,DK\n"
  "2001:db8:2::,2001:db8:2::ffff,??\n"
  "2001:db8:3::,nonsense,SE\n"
  "2001:db8:4::\n";

typedef struct
{
  guint   calls;
  double  last;
  gboolean monotonic;
  GThread *thread;      /* where the calls must come from */
  gboolean right_thread;
} ProgressLog;

static void
progress_log_init (ProgressLog *log)
{
  log->calls = 0;
  log->last = 0.0;
  log->monotonic = TRUE;
  log->thread = g_thread_self ();
  log->right_thread = TRUE;
}

static void
progress_cb (double   fraction,
             gpointer user_data)
{
  ProgressLog *log = user_data;

  g_assert_cmpfloat (fraction, >=, 0.0);
  g_assert_cmpfloat (fraction, <=, 1.0);
  if (fraction < log->last)
    log->monotonic = FALSE;
  if (g_thread_self () != log->thread)
    log->right_thread = FALSE;
  log->last = fraction;
  log->calls++;
}

static void
assert_tor_sample_countries (ExgGeoip *geoip)
{
  assert_geoip_country (geoip, "127.0.0.1", NULL);
  assert_geoip_country (geoip, "127.0.0.2", "SE");
  assert_geoip_country (geoip, "127.0.0.3", "DE");
  assert_geoip_country (geoip, "127.0.0.4", "DE");
  assert_geoip_country (geoip, "127.0.0.5", NULL);
  assert_geoip_country (geoip, "127.0.0.6", NULL);
  assert_geoip_country (geoip, "127.0.0.7", NULL);
  assert_geoip_country (geoip, "10.0.0.4", NULL);
  assert_geoip_country (geoip, "10.0.0.5", "NO");
  assert_geoip_country (geoip, "10.0.0.20", "NO");
  assert_geoip_country (geoip, "10.0.0.21", NULL);
  assert_geoip_country (geoip, "10.0.0.40", NULL);
  assert_geoip_country (geoip, "10.0.0.225", "FI");
  assert_geoip_country (geoip, "::1", "US");
  assert_geoip_country (geoip, "2001:db8::1", "FI");
  assert_geoip_country (geoip, "2001:db8:1::4", NULL);
  assert_geoip_country (geoip, "2001:db8:1::5", "DK");
  assert_geoip_country (geoip, "2001:db8:1::9", "DK");
  assert_geoip_country (geoip, "2001:db8:2::1", NULL);
  assert_geoip_country (geoip, "2001:db8:3::1", NULL);
}

static void
test_convert_tor (void)
{
  g_autofree char *geoip_path = test_path ("geoip");
  g_autofree char *geoip6_path = test_path ("geoip6");
  g_autofree char *mmdb_path = test_path ("tor.mmdb");
  g_autoptr(ExgGeoip) geoip = NULL;
  g_autoptr(GError) error = NULL;
  ProgressLog log;

  write_file (geoip_path, tor_geoip);
  write_file (geoip6_path, tor_geoip6);
  progress_log_init (&log);

  g_assert_true (exg_geoip_convert_tor (geoip_path, geoip6_path, mmdb_path,
                                        progress_cb, &log, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (log.calls, >=, 2);
  g_assert_true (log.monotonic);
  g_assert_cmpfloat (log.last, ==, 1.0);

  geoip = exg_geoip_new_from_file (mmdb_path, &error);
  g_assert_no_error (error);
  assert_tor_sample_countries (geoip);
}

static void
test_convert_tor_one_family (void)
{
  g_autofree char *geoip6_path = test_path ("geoip6");
  g_autofree char *mmdb_path = test_path ("tor6.mmdb");
  g_autoptr(ExgGeoip) geoip = NULL;
  g_autoptr(GError) error = NULL;

  write_file (geoip6_path, tor_geoip6);
  g_assert_true (exg_geoip_convert_tor (NULL, geoip6_path, mmdb_path,
                                        NULL, NULL, &error));
  g_assert_no_error (error);

  geoip = exg_geoip_new_from_file (mmdb_path, &error);
  g_assert_no_error (error);
  assert_geoip_country (geoip, "::1", "US");
  assert_geoip_country (geoip, "127.0.0.2", NULL);
}

static void
test_convert_tor_errors (void)
{
  g_autofree char *missing = test_path ("no-such-geoip");
  g_autofree char *useless = test_path ("useless-geoip");
  g_autofree char *mmdb_path = test_path ("never.mmdb");
  g_autoptr(GError) error = NULL;

  g_assert_false (exg_geoip_convert_tor (missing, NULL, mmdb_path,
                                         NULL, NULL, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_clear_error (&error);

  write_file (useless, "# only\n1,2,??\nnonsense\n");
  g_assert_false (exg_geoip_convert_tor (useless, NULL, mmdb_path,
                                         NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);

  g_assert_false (g_file_test (mmdb_path, G_FILE_TEST_EXISTS));
}

static gboolean
is_pseudo_country (const char *cc)
{
  static const char *const pseudo[] = { "??", "EU", "AP", "A1", "A2", "O1" };

  return g_strv_contains (pseudo, cc);
}

/* Cuts @contents into lines in place (g_strsplit is quadratic under
 * AddressSanitizer, whose strstr measures the rest of the string). */
static GPtrArray *
split_lines (char *contents)
{
  GPtrArray *lines = g_ptr_array_new ();

  for (char *line = contents; line != NULL && *line != '\0';)
    {
      char *nl = strchr (line, '\n');

      if (nl != NULL)
        *nl = '\0';
      g_ptr_array_add (lines, line);
      line = nl != NULL ? nl + 1 : NULL;
    }
  return lines;
}

/* The installed tor-geoipdb, converted, must give every range's first
 * and last address (and the middle of IPv4 ranges) the country of its
 * line: the writer on some 660 000 real ranges (every 16th of them
 * unless -m slow). */
static void
test_convert_real_tor_geoipdb (void)
{
  const char *geoip_path = "/usr/share/tor/geoip";
  const char *geoip6_path = "/usr/share/tor/geoip6";
  g_autofree char *mmdb_path = test_path ("real.mmdb");
  g_autoptr(ExgGeoip) geoip = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *v4 = NULL;
  g_autofree char *v6 = NULL;
  g_autoptr(GPtrArray) v4_lines = NULL;
  g_autoptr(GPtrArray) v6_lines = NULL;
  guint probes = 0;
  guint stride = g_test_slow () ? 1 : 16;
  gint64 started;

  if (!g_file_test (geoip_path, G_FILE_TEST_EXISTS)
      || !g_file_test (geoip6_path, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("tor-geoipdb is not installed");
      return;
    }

  started = g_get_monotonic_time ();
  g_assert_true (exg_geoip_convert_tor (geoip_path, geoip6_path, mmdb_path,
                                        NULL, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("converted tor-geoipdb in %.2f s",
                  (g_get_monotonic_time () - started)
                  / (double) G_USEC_PER_SEC);
  geoip = exg_geoip_new_from_file (mmdb_path, &error);
  g_assert_no_error (error);

  g_assert_true (g_file_get_contents (geoip_path, &v4, NULL, NULL));
  v4_lines = split_lines (v4);
  for (guint i = 0; i < v4_lines->len; i++)
    {
      g_auto(GStrv) f = NULL;
      guint64 start, end;

      const char *line = g_ptr_array_index (v4_lines, i);

      if (line[0] == '#' || line[0] == '\0' || i % stride != 0)
        continue;
      f = g_strsplit (line, ",", 3);
      g_assert_cmpuint (g_strv_length (f), ==, 3);
      g_assert_true (g_ascii_string_to_unsigned (f[0], 10, 0, G_MAXUINT32,
                                                 &start, NULL));
      g_assert_true (g_ascii_string_to_unsigned (f[1], 10, 0, G_MAXUINT32,
                                                 &end, NULL));

      for (guint k = 0; k < 3; k++)
        {
          guint32 a = k == 0 ? start : k == 1 ? end : start + (end - start) / 2;
          g_autoptr(GInetAddress) address = v4_address (a);
          char cc[3];
          gboolean found = exg_geoip_lookup (geoip, address, cc);

          if (is_pseudo_country (f[2]))
            g_assert_false (found);
          else
            g_assert_cmpstr (cc, ==, f[2]);
          probes++;
        }
    }

  g_assert_true (g_file_get_contents (geoip6_path, &v6, NULL, NULL));
  v6_lines = split_lines (v6);
  for (guint i = 0; i < v6_lines->len; i++)
    {
      g_auto(GStrv) f = NULL;

      const char *line = g_ptr_array_index (v6_lines, i);

      if (line[0] == '#' || line[0] == '\0' || i % stride != 0)
        continue;
      f = g_strsplit (line, ",", 3);
      g_assert_cmpuint (g_strv_length (f), ==, 3);
      for (guint k = 0; k < 2; k++)
        {
          char cc[3];
          gboolean found = exg_geoip_lookup_string (geoip, f[k], cc);

          if (is_pseudo_country (f[2]))
            g_assert_false (found);
          else
            g_assert_cmpstr (cc, ==, f[2]);
          probes++;
        }
    }

  g_test_message ("%u addresses checked", probes);
  g_assert_cmpuint (probes, >, 1000);
}

/* Points exg_geoip_load at the test's own directories; tor's files go
 * into $EXG_TOR_GEOIP_DIR. */
static void
setup_sources (gboolean with_tor_files)
{
  g_autofree char *tor_dir = test_path ("tor");

  g_assert_cmpint (g_mkdir_with_parents (tor_dir, 0700), ==, 0);
  if (with_tor_files)
    {
      g_autofree char *geoip = g_build_filename (tor_dir, "geoip", NULL);
      g_autofree char *geoip6 = g_build_filename (tor_dir, "geoip6", NULL);

      write_file (geoip, tor_geoip);
      write_file (geoip6, tor_geoip6);
    }

  g_setenv ("EXG_GEOIP_DIRS", "", TRUE);
  g_setenv ("EXG_TOR_GEOIP_DIR", tor_dir, TRUE);
}

static void
assert_stat (const char *path,
             GStatBuf   *st)
{
  g_assert_cmpint (g_stat (path, st), ==, 0);
}

static void
test_load_tor_cache (void)
{
  g_autofree char *geoip = NULL;
  g_autofree char *expected_path = g_build_filename (g_get_user_cache_dir (),
                                                     "exitgate",
                                                     "tor-geoip.mmdb", NULL);
  g_autoptr(ExgGeoip) first = NULL;
  g_autoptr(ExgGeoip) second = NULL;
  g_autoptr(ExgGeoip) third = NULL;
  g_autoptr(ExgGeoip) fourth = NULL;
  g_autofree char *geoip6 = NULL;
  g_autofree char *changed = NULL;
  GStatBuf st1, st2, st3;
  ProgressLog log;

  setup_sources (TRUE);
  geoip = g_build_filename (g_getenv ("EXG_TOR_GEOIP_DIR"), "geoip", NULL);
  geoip6 = g_build_filename (g_getenv ("EXG_TOR_GEOIP_DIR"), "geoip6", NULL);

  /* first start: converts, with progress */
  progress_log_init (&log);
  first = exg_geoip_load (NULL, progress_cb, &log);
  g_assert_cmpstr (exg_geoip_get_path (first), ==, expected_path);
  g_assert_cmpuint (log.calls, >=, 2);
  g_assert_true (log.monotonic);
  g_assert_cmpfloat (log.last, ==, 1.0);
  assert_tor_sample_countries (first);
  assert_stat (expected_path, &st1);

  /* second start, nothing changed: the cache is used as it is */
  progress_log_init (&log);
  second = exg_geoip_load (NULL, progress_cb, &log);
  g_assert_cmpstr (exg_geoip_get_path (second), ==, expected_path);
  g_assert_cmpuint (log.calls, ==, 1);
  g_assert_cmpfloat (log.last, ==, 1.0);
  assert_stat (expected_path, &st2);
  g_assert_cmpuint (st2.st_ino, ==, st1.st_ino);
  assert_tor_sample_countries (second);

  /* the package was upgraded: a rebuild, with the new data */
  changed = g_strconcat (tor_geoip, "\n2130706440,2130706440,IS\n", NULL);
  write_file (geoip, changed);
  progress_log_init (&log);
  third = exg_geoip_load (NULL, progress_cb, &log);
  g_assert_cmpstr (exg_geoip_get_path (third), ==, expected_path);
  g_assert_cmpuint (log.calls, >=, 2);
  g_assert_cmpfloat (log.last, ==, 1.0);
  assert_stat (expected_path, &st3);
  g_assert_cmpuint (st3.st_ino, !=, st1.st_ino);
  assert_geoip_country (third, "127.0.0.8", "IS");
  assert_tor_sample_countries (third);

  /* the old instance still reads its own (replaced) file */
  assert_geoip_country (first, "127.0.0.8", NULL);
  assert_geoip_country (first, "127.0.0.2", "SE");

  /* sources that no longer convert: the previous conversion, quietly */
  write_file (geoip, "# nothing usable\n1,2,??\n");
  g_assert_cmpint (g_unlink (geoip6), ==, 0);
  progress_log_init (&log);
  fourth = exg_geoip_load (NULL, progress_cb, &log);
  g_assert_cmpstr (exg_geoip_get_path (fourth), ==, expected_path);
  g_assert_cmpfloat (log.last, ==, 1.0);
  assert_geoip_country (fourth, "127.0.0.8", "IS");
}

static void
test_load_missing (void)
{
  g_autoptr(ExgGeoip) geoip = NULL;
  ProgressLog log;

  setup_sources (FALSE);
  progress_log_init (&log);
  expect_warning ("No GeoIP database was found, so the countries of exits "
                  "are unknown. Looked for *geoip or geoip6*tor-geoipdb*");
  geoip = exg_geoip_load (NULL, progress_cb, &log);
  assert_warned_once ();

  g_assert_nonnull (geoip);
  g_assert_null (exg_geoip_get_path (geoip));
  g_assert_cmpfloat (log.last, ==, 1.0);
  assert_geoip_country (geoip, "127.0.0.2", NULL);
  assert_geoip_country (geoip, "::1", NULL);
}

static void
test_load_configured (void)
{
  g_autofree char *path = test_path ("configured.mmdb");
  g_autofree char *missing = test_path ("missing.mmdb");
  g_autofree char *cache = g_build_filename (g_get_user_cache_dir (),
                                             "exitgate", "tor-geoip.mmdb",
                                             NULL);
  g_autoptr(ExgMmdbWriter) writer = exg_mmdb_writer_new ("Test-Country");
  g_autoptr(ExgGeoip) geoip = NULL;
  g_autoptr(ExgGeoip) fallback = NULL;

  setup_sources (TRUE);
  g_assert_true (exg_mmdb_writer_add_network (writer, "127.0.0.2", "JP"));
  write_db (writer, path);

  /* the configured file wins over everything, quietly */
  geoip = exg_geoip_load (path, NULL, NULL);
  g_assert_cmpstr (exg_geoip_get_path (geoip), ==, path);
  assert_geoip_country (geoip, "127.0.0.2", "JP");
  g_assert_false (g_file_test (cache, G_FILE_TEST_EXISTS));

  /* a configured file that is not there: one warning, then the defaults */
  expect_warning ("Could not open the GeoIP database*missing.mmdb*"
                  "Using*instead.");
  fallback = exg_geoip_load (missing, NULL, NULL);
  assert_warned_once ();
  g_assert_cmpstr (exg_geoip_get_path (fallback), ==, cache);
  assert_geoip_country (fallback, "127.0.0.2", "SE");
}

static void
test_load_search_dirs (void)
{
  g_autofree char *dir_a = test_path ("a");
  g_autofree char *dir_b = test_path ("b");
  g_autofree char *dirs = g_strconcat (dir_a, ":", dir_b, NULL);
  g_autofree char *old = g_build_filename (dir_b,
                                          "dbip-country-lite-2024-01.mmdb",
                                          NULL);
  g_autofree char *new = g_build_filename (dir_b,
                                          "dbip-country-lite-2024-05.mmdb",
                                          NULL);
  g_autofree char *geolite = g_build_filename (dir_b, "GeoLite2-Country.mmdb",
                                              NULL);
  g_autoptr(ExgGeoip) geoip = NULL;
  g_autoptr(ExgGeoip) geoip2 = NULL;

  setup_sources (TRUE);
  g_assert_cmpint (g_mkdir_with_parents (dir_a, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (dir_b, 0700), ==, 0);
  g_setenv ("EXG_GEOIP_DIRS", dirs, TRUE);

  {
    g_autoptr(ExgMmdbWriter) w_old = exg_mmdb_writer_new ("DBIP-Country-Lite");
    g_autoptr(ExgMmdbWriter) w_new = exg_mmdb_writer_new ("DBIP-Country-Lite");

    g_assert_true (exg_mmdb_writer_add_network (w_old, "127.0.0.2", "AT"));
    g_assert_true (exg_mmdb_writer_add_network (w_new, "127.0.0.2", "BE"));
    write_db (w_old, old);
    write_db (w_new, new);
  }

  /* dir a is empty; in dir b, the newest DB-IP file */
  geoip = exg_geoip_load (NULL, NULL, NULL);
  g_assert_cmpstr (exg_geoip_get_path (geoip), ==, new);
  assert_geoip_country (geoip, "127.0.0.2", "BE");

  /* GeoLite2 comes first */
  {
    g_autoptr(ExgMmdbWriter) w = exg_mmdb_writer_new ("GeoLite2-Country");

    g_assert_true (exg_mmdb_writer_add_network (w, "127.0.0.2", "CH"));
    write_db (w, geolite);
  }
  geoip2 = exg_geoip_load (NULL, NULL, NULL);
  g_assert_cmpstr (exg_geoip_get_path (geoip2), ==, geolite);
  assert_geoip_country (geoip2, "127.0.0.2", "CH");
}

typedef struct
{
  ProgressLog  log;
  ExgGeoip    *geoip;
  GError      *error;
  guint        callbacks;
  double       progress_at_callback;
} AsyncState;

static void
async_progress_cb (double   fraction,
                   gpointer user_data)
{
  AsyncState *state = user_data;

  /* never after the callback */
  g_assert_cmpuint (state->callbacks, ==, 0);
  progress_cb (fraction, &state->log);
}

static void
load_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  AsyncState *state = user_data;

  g_assert_null (source);
  state->progress_at_callback = state->log.last;
  state->geoip = exg_geoip_load_finish (result, &state->error);
  state->callbacks++;
}

static gboolean
timed_out_cb (gpointer user_data)
{
  gboolean *timed_out = user_data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

/* iterate until the callback ran, never longer than a minute */
static void
wait_for_callback (AsyncState *state)
{
  gboolean timed_out = FALSE;
  guint timeout_id = g_timeout_add_seconds (60, timed_out_cb, &timed_out);

  while (state->callbacks == 0 && !timed_out)
    g_main_context_iteration (NULL, TRUE);

  g_assert_false (timed_out);
  g_source_remove (timeout_id);
}

static void
test_load_async (void)
{
  AsyncState state = { 0 };

  setup_sources (TRUE);
  progress_log_init (&state.log);
  exg_geoip_load_async (NULL, async_progress_cb, &state, NULL, load_cb, &state);
  g_assert_cmpuint (state.callbacks, ==, 0);
  wait_for_callback (&state);

  g_assert_cmpuint (state.callbacks, ==, 1);
  g_assert_no_error (state.error);
  g_assert_nonnull (state.geoip);
  /* progress came to the main context, in order, and finished first */
  g_assert_true (state.log.right_thread);
  g_assert_true (state.log.monotonic);
  g_assert_cmpuint (state.log.calls, >=, 2);
  g_assert_cmpfloat (state.progress_at_callback, ==, 1.0);
  assert_tor_sample_countries (state.geoip);

  /* drain whatever is left: nothing may arrive after the callback */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (state.callbacks, ==, 1);
  g_object_unref (state.geoip);
}

static void
test_load_async_cancelled (void)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  AsyncState state = { 0 };

  setup_sources (TRUE);
  progress_log_init (&state.log);
  g_cancellable_cancel (cancellable);
  exg_geoip_load_async (NULL, async_progress_cb, &state, cancellable,
                        load_cb, &state);
  wait_for_callback (&state);

  g_assert_cmpuint (state.callbacks, ==, 1);
  g_assert_error (state.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (state.geoip);
  g_clear_error (&state.error);
}

int
main (int    argc,
      char **argv)
{
  g_log_set_writer_func (log_writer_cb, NULL, NULL);
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/geoip/writer/v4-round-trip", test_writer_v4_round_trip);
  g_test_add_func ("/geoip/writer/v6-round-trip", test_writer_v6_round_trip);
  g_test_add_func ("/geoip/writer/ranges-off-cidr-boundaries",
                   test_writer_ranges);
  g_test_add_func ("/geoip/writer/random-ranges", test_writer_random_ranges);
  g_test_add_func ("/geoip/writer/rejects-bad-input",
                   test_writer_rejects_bad_input);
  g_test_add_func ("/geoip/writer/read-by-mmdblookup",
                   test_mmdblookup_reads_our_file);
  g_test_add_func ("/geoip/writer/make-mmdb-tool", test_make_mmdb_tool);
  g_test_add_func ("/geoip/lookup/countries", test_geoip_lookup);
  g_test_add_func ("/geoip/lookup/database-less", test_geoip_database_less);
  g_test_add_func ("/geoip/open/errors", test_geoip_open_errors);
  g_test_add_func ("/geoip/convert-tor/both-families", test_convert_tor);
  g_test_add_func ("/geoip/convert-tor/ipv6-only", test_convert_tor_one_family);
  g_test_add_func ("/geoip/convert-tor/errors", test_convert_tor_errors);
  g_test_add_func ("/geoip/convert-tor/real-tor-geoipdb",
                   test_convert_real_tor_geoipdb);
  g_test_add_func ("/geoip/load/tor-cache-rebuilt-on-change",
                   test_load_tor_cache);
  g_test_add_func ("/geoip/load/missing-database", test_load_missing);
  g_test_add_func ("/geoip/load/configured-path", test_load_configured);
  g_test_add_func ("/geoip/load/search-dirs", test_load_search_dirs);
  g_test_add_func ("/geoip/load/async", test_load_async);
  g_test_add_func ("/geoip/load/async-cancelled", test_load_async_cancelled);

  return g_test_run ();
}
