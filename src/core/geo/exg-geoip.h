/* exg-geoip.h: the country of an address, from a MaxMind DB.
 *
 * A missing database means "unknown country", with one clear warning —
 * never a crash.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define EXG_TYPE_GEOIP (exg_geoip_get_type ())
G_DECLARE_FINAL_TYPE (ExgGeoip, exg_geoip, EXG, GEOIP, GObject)

/* fraction in [0, 1]; called from the thread doing the work */
typedef void (*ExgGeoipProgressFunc) (double   fraction,
                                      gpointer user_data);

/* A database-less instance: every lookup is unknown. */
ExgGeoip   *exg_geoip_new            (void);
/* Opens one .mmdb file. */
ExgGeoip   *exg_geoip_new_from_file  (const char *path,
                                      GError    **error);

/* Finds a database: @configured_path if set, else the usual places
 * (/usr/share/GeoIP, /var/lib/GeoIP: GeoLite2-Country, DB-IP country
 * lite), else tor-geoipdb converted once into
 * $XDG_CACHE_HOME/exitgate/tor-geoip.mmdb (rebuilt when the source
 * changes).  Blocking; may take seconds when converting: run it in a
 * thread (exg_geoip_load_async) from a main loop.  Never fails: with no
 * database at all it returns a database-less instance and logs one
 * warning. */
ExgGeoip   *exg_geoip_load           (const char          *configured_path,
                                      ExgGeoipProgressFunc progress,
                                      gpointer             user_data);
void        exg_geoip_load_async     (const char          *configured_path,
                                      ExgGeoipProgressFunc progress,   /* called in the main context */
                                      gpointer             progress_data,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data);
ExgGeoip   *exg_geoip_load_finish    (GAsyncResult        *result,
                                      GError             **error);

/* Upper-case ISO code into country (3 bytes); FALSE and "" when unknown. */
gboolean    exg_geoip_lookup         (ExgGeoip     *self,
                                      GInetAddress *address,
                                      char          country[3]);
gboolean    exg_geoip_lookup_string  (ExgGeoip     *self,
                                      const char   *address,
                                      char          country[3]);
/* NULL when database-less */
const char *exg_geoip_get_path       (ExgGeoip     *self);

/* Converts tor's geoip (IPv4, "INTSTART,INTEND,CC") and geoip6
 * ("V6START,V6END,CC") files (either may be NULL) into an .mmdb. */
gboolean    exg_geoip_convert_tor    (const char          *geoip_path,
                                      const char          *geoip6_path,
                                      const char          *mmdb_path,
                                      ExgGeoipProgressFunc progress,
                                      gpointer             user_data,
                                      GError             **error);

G_END_DECLS
