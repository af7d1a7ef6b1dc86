/* test-error-map.c: GError → SOCKS5 reply code, like tor.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-core.h"

static const struct {
  const char *name;
  GQuark    (*domain) (void);
  int         code;
  guint8      reply;
} table[] = {
  { "refused", g_io_error_quark, G_IO_ERROR_CONNECTION_REFUSED, 0x05 },
  { "host-unreachable", g_io_error_quark, G_IO_ERROR_HOST_UNREACHABLE, 0x04 },
  { "host-not-found", g_io_error_quark, G_IO_ERROR_HOST_NOT_FOUND, 0x04 },
  { "name-not-found", g_resolver_error_quark, G_RESOLVER_ERROR_NOT_FOUND, 0x04 },
  { "name-temporary-failure", g_resolver_error_quark, G_RESOLVER_ERROR_TEMPORARY_FAILURE, 0x04 },
  { "resolver-internal", g_resolver_error_quark, G_RESOLVER_ERROR_INTERNAL, 0x01 },
  { "network-unreachable", g_io_error_quark, G_IO_ERROR_NETWORK_UNREACHABLE, 0x03 },
  { "timeout", g_io_error_quark, G_IO_ERROR_TIMED_OUT, 0x06 },
  { "permission-denied", g_io_error_quark, G_IO_ERROR_PERMISSION_DENIED, 0x02 },
  { "proxy-not-allowed", g_io_error_quark, G_IO_ERROR_PROXY_NOT_ALLOWED, 0x02 },
  { "not-supported", g_io_error_quark, G_IO_ERROR_NOT_SUPPORTED, 0x07 },
  { "io-failed", g_io_error_quark, G_IO_ERROR_FAILED, 0x01 },
  { "broken-pipe", g_io_error_quark, G_IO_ERROR_BROKEN_PIPE, 0x01 },
  { "proxy-failed", g_io_error_quark, G_IO_ERROR_PROXY_FAILED, 0x01 },
  { "cancelled", g_io_error_quark, G_IO_ERROR_CANCELLED, 0x01 },
  { "no-router", exg_error_quark, EXG_ERROR_NO_ROUTER, 0x02 },
  { "not-allowed", exg_error_quark, EXG_ERROR_NOT_ALLOWED, 0x02 },
  { "target-refused", exg_error_quark, EXG_ERROR_TARGET_REFUSED, 0x02 },
  { "unsupported", exg_error_quark, EXG_ERROR_UNSUPPORTED, 0x07 },
  { "upstream", exg_error_quark, EXG_ERROR_UPSTREAM, 0x01 },
  { "config", exg_error_quark, EXG_ERROR_CONFIG, 0x01 },
  { "tor-control", exg_error_quark, EXG_ERROR_TOR_CONTROL, 0x01 },
  { "other-domain", g_file_error_quark, G_FILE_ERROR_NOENT, 0x01 },
};

static void
test_error_map_table (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    {
      g_autoptr(GError) error = g_error_new_literal (table[i].domain (),
                                                     table[i].code, "x");

      g_test_message ("%s", table[i].name);
      g_assert_cmphex (exg_error_to_socks5_reply (error), ==, table[i].reply);
    }
}

static void
test_error_map_null (void)
{
  /* no error is still a failure: never 00 */
  g_assert_cmphex (exg_error_to_socks5_reply (NULL), ==, 0x01);
}

static void
test_error_map_from_errno (void)
{
  /* what a real failed connect(2) turns into through GIO */
  static const struct { int errsv; guint8 reply; } errnos[] = {
    { ECONNREFUSED, 0x05 },
    { EHOSTUNREACH, 0x04 },
    { ENETUNREACH, 0x03 },
    { ETIMEDOUT, 0x06 },
    { EACCES, 0x02 },
    { EPERM, 0x02 },
    { EIO, 0x01 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (errnos); i++)
    {
      g_autoptr(GError) error =
        g_error_new_literal (G_IO_ERROR,
                             g_io_error_from_errno (errnos[i].errsv), "x");

      g_assert_cmphex (exg_error_to_socks5_reply (error), ==, errnos[i].reply);
    }
}

/* Both directions: what an upstream answers comes back to our client as
 * the same reply (tor's codes pass through unchanged). */
static void
test_error_map_round_trip (void)
{
  for (guint8 code = 0x01; code <= 0x08; code++)
    {
      g_autoptr(GError) connecting = exg_error_from_socks5_reply (code, FALSE);
      g_autoptr(GError) resolving = exg_error_from_socks5_reply (code, TRUE);

      g_assert_cmpuint (exg_error_to_socks5_reply (connecting), ==, code);
      g_assert_cmpuint (exg_error_to_socks5_reply (resolving), ==, code);
    }
  /* a RESOLVE answered 04 is a name not found, in the resolver's words */
  {
    g_autoptr(GError) error = exg_error_from_socks5_reply (0x04, TRUE);

    g_assert_error (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND);
  }
  /* an unknown code is a general failure */
  {
    g_autoptr(GError) error = exg_error_from_socks5_reply (0x42, FALSE);

    g_assert_cmpuint (exg_error_to_socks5_reply (error), ==, 0x01);
  }
}

/* An HTTP proxy's CONNECT status, as tor would say it. */
static void
test_error_map_http_status (void)
{
  static const struct { guint status; guint8 reply; } statuses[] = {
    { 403, 0x02 }, { 407, 0x02 }, { 404, 0x04 }, { 502, 0x04 },
    { 503, 0x05 }, { 504, 0x06 }, { 408, 0x06 }, { 500, 0x01 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (statuses); i++)
    {
      g_autoptr(GError) error = exg_error_from_http_status (statuses[i].status);

      g_assert_cmpuint (exg_error_to_socks5_reply (error), ==, statuses[i].reply);
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/error-map/table", test_error_map_table);
  g_test_add_func ("/error-map/null", test_error_map_null);
  g_test_add_func ("/error-map/from-errno", test_error_map_from_errno);
  g_test_add_func ("/error-map/round-trip", test_error_map_round_trip);
  g_test_add_func ("/error-map/http-status", test_error_map_http_status);

  return g_test_run ();
}
