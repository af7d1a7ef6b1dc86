/* exg-mmdb-writer.h: a small MaxMind DB writer for country databases
 * (IPv6 tree with IPv4 at ::/96), enough for libmaxminddb to read
 * country.iso_code.  Used by the tor-geoipdb converter and by the tests.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _ExgMmdbWriter ExgMmdbWriter;

ExgMmdbWriter *exg_mmdb_writer_new         (const char *database_type);
void           exg_mmdb_writer_free        (ExgMmdbWriter *self);

/* Inclusive ranges, split into networks internally; iso: two letters */
gboolean       exg_mmdb_writer_add_range_v4 (ExgMmdbWriter *self,
                                             guint32        start,
                                             guint32        end,
                                             const char    *iso);
gboolean       exg_mmdb_writer_add_range_v6 (ExgMmdbWriter *self,
                                             const guint8   start[16],
                                             const guint8   end[16],
                                             const char    *iso);
/* "127.0.0.2" or "2001:db8::/32" style, v4 or v6 */
gboolean       exg_mmdb_writer_add_network  (ExgMmdbWriter *self,
                                             const char    *cidr,
                                             const char    *iso);

gboolean       exg_mmdb_writer_write       (ExgMmdbWriter *self,
                                            const char    *path,
                                            GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ExgMmdbWriter, exg_mmdb_writer_free)

G_END_DECLS
