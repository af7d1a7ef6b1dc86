/* exg-geoip.c: the country of an address, from a MaxMind DB.
 *
 * Where the database comes from, in order:
 *   1. the path in the configuration;
 *   2. GeoLite2-Country.mmdb or dbip-country-lite*.mmdb in /usr/share/GeoIP
 *      or /var/lib/GeoIP (geoipupdate and friends);
 *   3. Debian's tor-geoipdb (/usr/share/tor/geoip and geoip6), converted by
 *      our own writer into $XDG_CACHE_HOME/exitgate/tor-geoip.mmdb, with a
 *      stamp beside it naming the sources' size, mtime and inode so that a
 *      package upgrade triggers one rebuild.
 * Nothing found means every lookup is "unknown", with one warning.
 *
 * An ExgGeoip never changes once made (libmaxminddb reads a read-only
 * mapping), so lookups may run in any thread.
 *
 * For tests, EXG_GEOIP_DIRS (a colon-separated list, may be empty) replaces
 * the directories of step 2 and EXG_TOR_GEOIP_DIR replaces /usr/share/tor.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-geoip.h"

#include "exg-mmdb-writer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <maxminddb.h>
#include <string.h>

#define DEFAULT_GEOIP_DIRS   "/usr/share/GeoIP:/var/lib/GeoIP"
#define DEFAULT_TOR_DIR      "/usr/share/tor"
#define CACHE_BASENAME       "tor-geoip.mmdb"
#define STAMP_BASENAME       "tor-geoip.stamp"
/* bump when the converter's output changes, to force a rebuild */
#define STAMP_FORMAT         "exitgate-tor-geoip 1"

struct _ExgGeoip
{
  GObject  parent_instance;

  char    *path;   /* NULL when database-less */
  MMDB_s   mmdb;   /* open when path != NULL */
};

G_DEFINE_FINAL_TYPE (ExgGeoip, exg_geoip, G_TYPE_OBJECT)

static void
exg_geoip_finalize (GObject *object)
{
  ExgGeoip *self = EXG_GEOIP (object);

  if (self->path != NULL)
    MMDB_close (&self->mmdb);
  g_clear_pointer (&self->path, g_free);

  G_OBJECT_CLASS (exg_geoip_parent_class)->finalize (object);
}

static void
exg_geoip_class_init (ExgGeoipClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = exg_geoip_finalize;
}

static void
exg_geoip_init (ExgGeoip *self)
{
}

/**
 * exg_geoip_new:
 *
 * Returns: (transfer full): a database-less instance: every lookup is
 *   unknown
 */
ExgGeoip *
exg_geoip_new (void)
{
  return g_object_new (EXG_TYPE_GEOIP, NULL);
}

/**
 * exg_geoip_new_from_file:
 * @path: an .mmdb file
 *
 * Returns: (transfer full) (nullable): the database, or %NULL with @error
 *   set when @path cannot be opened as a MaxMind DB
 */
ExgGeoip *
exg_geoip_new_from_file (const char *path,
                         GError    **error)
{
  g_autoptr(ExgGeoip) self = NULL;
  int status;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = exg_geoip_new ();
  errno = 0;
  status = MMDB_open (path, MMDB_MODE_MMAP, &self->mmdb);
  if (status != MMDB_SUCCESS)
    {
      int saved_errno = errno;
      int code = G_IO_ERROR_INVALID_DATA;
      const char *reason = MMDB_strerror (status);

      if (status == MMDB_FILE_OPEN_ERROR && saved_errno != 0)
        {
          code = g_io_error_from_errno (saved_errno);
          reason = g_strerror (saved_errno);
        }
      else if (status == MMDB_IO_ERROR)
        {
          code = G_IO_ERROR_FAILED;
        }

      g_set_error (error, G_IO_ERROR, code,
                   /* Translators: the first %s is a file, the second why */
                   _("Could not open the GeoIP database “%s”: %s"),
                   path, reason);
      return NULL;
    }

  self->path = g_strdup (path);
  return g_steal_pointer (&self);
}

/**
 * exg_geoip_get_path:
 *
 * Returns: (nullable): the database file, %NULL when database-less
 */
const char *
exg_geoip_get_path (ExgGeoip *self)
{
  g_return_val_if_fail (EXG_IS_GEOIP (self), NULL);

  return self->path;
}

/**
 * exg_geoip_lookup:
 * @address: IPv4 or IPv6; IPv4-mapped IPv6 addresses count as IPv4
 * @country: (out caller-allocates): the upper-case ISO 3166-1 code, or ""
 *
 * Returns: TRUE when the database knows the country of @address
 */
gboolean
exg_geoip_lookup (ExgGeoip     *self,
                  GInetAddress *address,
                  char          country[3])
{
  struct sockaddr_storage storage = { 0 };
  const guint8 *bytes;
  MMDB_lookup_result_s result;
  MMDB_entry_data_s data;
  int mmdb_error = MMDB_SUCCESS;
  int status;

  g_return_val_if_fail (country != NULL, FALSE);
  country[0] = '\0';
  g_return_val_if_fail (EXG_IS_GEOIP (self), FALSE);
  g_return_val_if_fail (G_IS_INET_ADDRESS (address), FALSE);

  if (self->path == NULL)
    return FALSE;

  bytes = g_inet_address_to_bytes (address);
  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4
      || (bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0 && bytes[3] == 0
          && bytes[4] == 0 && bytes[5] == 0 && bytes[6] == 0 && bytes[7] == 0
          && bytes[8] == 0 && bytes[9] == 0 && bytes[10] == 0xff
          && bytes[11] == 0xff))
    {
      /* an IPv4-mapped address is looked up as the IPv4 address it is:
       * databases keep IPv4 at ::/96, and v4-only databases exist */
      struct sockaddr_in *sin = (struct sockaddr_in *) &storage;

      sin->sin_family = AF_INET;
      memcpy (&sin->sin_addr,
              g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4
              ? bytes : bytes + 12, 4);
    }
  else
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &storage;

      sin6->sin6_family = AF_INET6;
      memcpy (&sin6->sin6_addr, bytes, 16);
    }

  result = MMDB_lookup_sockaddr (&self->mmdb, (struct sockaddr *) &storage,
                                 &mmdb_error);
  if (mmdb_error != MMDB_SUCCESS || !result.found_entry)
    return FALSE;

  status = MMDB_get_value (&result.entry, &data, "country", "iso_code", NULL);
  if (status != MMDB_SUCCESS || !data.has_data
      || data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size != 2
      || !g_ascii_isalpha (data.utf8_string[0])
      || !g_ascii_isalpha (data.utf8_string[1]))
    return FALSE;

  country[0] = g_ascii_toupper (data.utf8_string[0]);
  country[1] = g_ascii_toupper (data.utf8_string[1]);
  country[2] = '\0';
  return TRUE;
}

/**
 * exg_geoip_lookup_string:
 * @address: a numeric IPv4 or IPv6 address (never resolved)
 * @country: (out caller-allocates): the upper-case ISO 3166-1 code, or ""
 *
 * Returns: TRUE when @address parses and the database knows its country
 */
gboolean
exg_geoip_lookup_string (ExgGeoip   *self,
                         const char *address,
                         char        country[3])
{
  g_autoptr(GInetAddress) inet = NULL;

  g_return_val_if_fail (country != NULL, FALSE);
  country[0] = '\0';
  g_return_val_if_fail (EXG_IS_GEOIP (self), FALSE);
  g_return_val_if_fail (address != NULL, FALSE);

  inet = g_inet_address_new_from_string (address);
  if (inet == NULL)
    return FALSE;

  return exg_geoip_lookup (self, inet, country);
}

/* tor-geoipdb conversion */

typedef struct
{
  ExgGeoipProgressFunc func;
  gpointer             user_data;
  gsize                total;       /* bytes of all sources */
  gsize                done;        /* bytes of sources already parsed */
  double               last;        /* last fraction reported */
} Progress;

/* Parsing is the slow part: it takes the first 90 %. */
#define PARSE_SHARE 0.9

static void
progress_report (Progress *progress,
                 double    fraction)
{
  if (progress->func == NULL)
    return;
  fraction = CLAMP (fraction, 0.0, 1.0);
  /* about a hundred calls in all, not one per line */
  if (fraction < 1.0 && fraction - progress->last < 0.01)
    return;
  progress->last = fraction;
  progress->func (fraction, progress->user_data);
}

/* Two letters naming a country.  Skips tor's "??" (unknown), the old
 * GeoIP pseudo codes (A1 anonymous proxy, A2 satellite, O1 other) and the
 * continent-level EU and AP, none of which is a country a user can choose. */
static gboolean
is_country_code (const char *cc)
{
  static const char *const pseudo[] = { "A1", "A2", "A3", "O1", "EU", "AP" };

  if (!g_ascii_isalpha (cc[0]) || !g_ascii_isalpha (cc[1]) || cc[2] != '\0')
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (pseudo); i++)
    if (g_ascii_strcasecmp (cc, pseudo[i]) == 0)
      return FALSE;
  return TRUE;
}

/* "16777216,16777471,AU" */
static gboolean
add_v4_line (ExgMmdbWriter *writer,
             char          *line)
{
  char *fields[3];
  guint64 start, end;

  fields[0] = line;
  fields[1] = strchr (line, ',');
  if (fields[1] == NULL)
    return FALSE;
  *fields[1]++ = '\0';
  fields[2] = strchr (fields[1], ',');
  if (fields[2] == NULL)
    return FALSE;
  *fields[2]++ = '\0';

  if (!g_ascii_string_to_unsigned (fields[0], 10, 0, G_MAXUINT32, &start, NULL)
      || !g_ascii_string_to_unsigned (fields[1], 10, 0, G_MAXUINT32, &end, NULL)
      || !is_country_code (fields[2]))
    return FALSE;

  return exg_mmdb_writer_add_range_v4 (writer, start, end, fields[2]);
}

/* "2001:2::,2001:2:0:ffff:ffff:ffff:ffff:ffff,JP" */
static gboolean
add_v6_line (ExgMmdbWriter *writer,
             char          *line)
{
  char *fields[3];
  guint8 start[16], end[16];

  fields[0] = line;
  fields[1] = strchr (line, ',');
  if (fields[1] == NULL)
    return FALSE;
  *fields[1]++ = '\0';
  fields[2] = strchr (fields[1], ',');
  if (fields[2] == NULL)
    return FALSE;
  *fields[2]++ = '\0';

  if (inet_pton (AF_INET6, fields[0], start) != 1
      || inet_pton (AF_INET6, fields[1], end) != 1
      || !is_country_code (fields[2]))
    return FALSE;

  return exg_mmdb_writer_add_range_v6 (writer, start, end, fields[2]);
}

static gboolean
add_tor_file (ExgMmdbWriter *writer,
              const char    *path,
              gboolean       v6,
              Progress      *progress,
              guint         *n_ranges,
              GError       **error)
{
  g_autofree char *contents = NULL;
  gsize length = 0;
  gsize pos = 0;
  guint skipped = 0;

  if (!g_file_get_contents (path, &contents, &length, error))
    return FALSE;

  while (pos < length)
    {
      const char *start = contents + pos;
      const char *nl = memchr (start, '\n', length - pos);
      gsize line_len = nl != NULL ? (gsize) (nl - start) : length - pos;
      char line[128];

      pos += line_len + (nl != NULL ? 1 : 0);

      if (line_len > 0 && start[line_len - 1] == '\r')
        line_len--;
      if (line_len == 0 || start[0] == '#')
        continue;

      if (line_len >= sizeof line)
        {
          skipped++;
          continue;
        }
      memcpy (line, start, line_len);
      line[line_len] = '\0';

      if (v6 ? add_v6_line (writer, line) : add_v4_line (writer, line))
        (*n_ranges)++;
      else
        skipped++;

      progress_report (progress, PARSE_SHARE * (progress->done + pos)
                                 / MAX (progress->total, 1));
    }

  progress->done += length;
  /* the "??" lines alone are hundreds: not worth more than a debug line */
  g_debug ("%s: %u ranges, %u lines skipped (unknown or malformed)",
           path, *n_ranges, skipped);
  return TRUE;
}

static gsize
file_size (const char *path)
{
  GStatBuf st;

  if (path == NULL || g_stat (path, &st) != 0)
    return 0;
  return st.st_size;
}

/**
 * exg_geoip_convert_tor:
 * @geoip_path: (nullable): tor's IPv4 file, lines "INTSTART,INTEND,CC"
 * @geoip6_path: (nullable): tor's IPv6 file, lines "V6START,V6END,CC"
 * @mmdb_path: the database to write (replaced atomically)
 * @progress: (nullable) (scope call): called with fractions up to 1.0
 *
 * Lines starting with '#' are comments; malformed lines and unknown or
 * pseudo countries ("??", A1, A2, O1, EU, AP) are skipped.
 *
 * Returns: FALSE with @error set when a file cannot be read or written,
 *   or when the sources hold no country at all
 */
gboolean
exg_geoip_convert_tor (const char          *geoip_path,
                       const char          *geoip6_path,
                       const char          *mmdb_path,
                       ExgGeoipProgressFunc progress,
                       gpointer             user_data,
                       GError             **error)
{
  g_autoptr(ExgMmdbWriter) writer = NULL;
  Progress state = { progress, user_data, 0, 0, 0.0 };
  guint n_ranges = 0;

  g_return_val_if_fail (geoip_path != NULL || geoip6_path != NULL, FALSE);
  g_return_val_if_fail (mmdb_path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  state.total = file_size (geoip_path) + file_size (geoip6_path);
  writer = exg_mmdb_writer_new ("Exitgate-Tor-GeoIP-Country");

  if (geoip_path != NULL
      && !add_tor_file (writer, geoip_path, FALSE, &state, &n_ranges, error))
    return FALSE;
  if (geoip6_path != NULL
      && !add_tor_file (writer, geoip6_path, TRUE, &state, &n_ranges, error))
    return FALSE;

  if (n_ranges == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("Tor’s GeoIP files hold no country ranges"));
      return FALSE;
    }

  progress_report (&state, PARSE_SHARE);
  if (!exg_mmdb_writer_write (writer, mmdb_path, error))
    return FALSE;
  progress_report (&state, 1.0);

  return TRUE;
}

/* One line per source: what a package upgrade changes. */
static void
append_stamp (GString    *stamp,
              const char *path)
{
  GStatBuf st;

  if (g_stat (path, &st) != 0)
    {
      g_string_append_printf (stamp, "%s absent\n", path);
      return;
    }
  g_string_append_printf (stamp, "%s %" G_GUINT64_FORMAT " %" G_GINT64_FORMAT
                          ".%09ld %" G_GUINT64_FORMAT "\n",
                          path, (guint64) st.st_size,
                          (gint64) st.st_mtim.tv_sec,
                          (long) st.st_mtim.tv_nsec, (guint64) st.st_ino);
}

static ExgGeoip *
load_tor_cache (ExgGeoipProgressFunc progress,
                gpointer             user_data,
                GError             **error)
{
  const char *tor_dir = g_getenv ("EXG_TOR_GEOIP_DIR");
  g_autofree char *geoip = NULL;
  g_autofree char *geoip6 = NULL;
  g_autofree char *cache_dir = NULL;
  g_autofree char *mmdb_path = NULL;
  g_autofree char *stamp_path = NULL;
  g_autofree char *old_stamp = NULL;
  g_autoptr(GString) stamp = g_string_new (STAMP_FORMAT "\n");
  g_autoptr(GError) local_error = NULL;
  gboolean have_v4, have_v6;
  gint64 started;

  if (tor_dir == NULL)
    tor_dir = DEFAULT_TOR_DIR;
  geoip = g_build_filename (tor_dir, "geoip", NULL);
  geoip6 = g_build_filename (tor_dir, "geoip6", NULL);
  have_v4 = g_file_test (geoip, G_FILE_TEST_IS_REGULAR);
  have_v6 = g_file_test (geoip6, G_FILE_TEST_IS_REGULAR);
  if (!have_v4 && !have_v6)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("%s has no geoip or geoip6 file (package tor-geoipdb)"),
                   tor_dir);
      return NULL;
    }

  append_stamp (stamp, geoip);
  append_stamp (stamp, geoip6);

  cache_dir = g_build_filename (g_get_user_cache_dir (), "exitgate", NULL);
  mmdb_path = g_build_filename (cache_dir, CACHE_BASENAME, NULL);
  stamp_path = g_build_filename (cache_dir, STAMP_BASENAME, NULL);

  if (g_file_get_contents (stamp_path, &old_stamp, NULL, NULL)
      && g_str_equal (old_stamp, stamp->str))
    {
      ExgGeoip *self = exg_geoip_new_from_file (mmdb_path, &local_error);

      if (self != NULL)
        return self;
      g_debug ("Rebuilding the converted tor GeoIP database: %s",
               local_error->message);
      g_clear_error (&local_error);
    }

  if (g_mkdir_with_parents (cache_dir, 0700) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   _("Could not create the directory “%s”: %s"),
                   cache_dir, g_strerror (saved_errno));
      return NULL;
    }

  started = g_get_monotonic_time ();
  if (!exg_geoip_convert_tor (have_v4 ? geoip : NULL, have_v6 ? geoip6 : NULL,
                              mmdb_path, progress, user_data, &local_error))
    {
      /* an older conversion beats none at all */
      ExgGeoip *stale = exg_geoip_new_from_file (mmdb_path, NULL);

      if (stale != NULL)
        g_debug ("Using the previous conversion of tor's GeoIP files: %s",
                 local_error->message);
      else
        g_propagate_error (error, g_steal_pointer (&local_error));
      return stale;
    }
  g_debug ("Converted tor's GeoIP files into %s in %.2f s", mmdb_path,
           (g_get_monotonic_time () - started) / (double) G_USEC_PER_SEC);

  /* the stamp last: if we stop before it, the next start converts again */
  if (!g_file_set_contents (stamp_path, stamp->str, stamp->len, &local_error))
    g_debug ("Could not write %s: %s", stamp_path, local_error->message);

  return exg_geoip_new_from_file (mmdb_path, error);
}

static int
compare_names_descending (gconstpointer a,
                          gconstpointer b)
{
  return -g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

/* GeoLite2-Country.mmdb, else the newest-named dbip-country-lite*.mmdb. */
static ExgGeoip *
load_from_dir (const char *dir)
{
  g_autofree char *geolite = g_build_filename (dir, "GeoLite2-Country.mmdb",
                                              NULL);
  g_autoptr(GPtrArray) dbip = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDir) gdir = NULL;
  ExgGeoip *self;
  const char *name;

  if ((self = exg_geoip_new_from_file (geolite, NULL)) != NULL)
    return self;

  gdir = g_dir_open (dir, 0, NULL);
  if (gdir == NULL)
    return NULL;
  while ((name = g_dir_read_name (gdir)) != NULL)
    if (g_str_has_prefix (name, "dbip-country-lite")
        && g_str_has_suffix (name, ".mmdb"))
      g_ptr_array_add (dbip, g_strdup (name));

  /* names carry the month: dbip-country-lite-2024-05.mmdb */
  g_ptr_array_sort (dbip, compare_names_descending);
  for (guint i = 0; i < dbip->len; i++)
    {
      g_autofree char *path = g_build_filename (dir,
                                                g_ptr_array_index (dbip, i),
                                                NULL);

      if ((self = exg_geoip_new_from_file (path, NULL)) != NULL)
        return self;
    }

  return NULL;
}

typedef struct
{
  ExgGeoipProgressFunc func;
  gpointer             user_data;
  double               last;
} LoadProgress;

static void
load_progress_cb (double   fraction,
                  gpointer user_data)
{
  LoadProgress *progress = user_data;

  progress->last = fraction;
  progress->func (fraction, progress->user_data);
}

/**
 * exg_geoip_load:
 * @configured_path: (nullable): the database named in the configuration
 * @progress: (nullable) (scope call): conversion progress; called with 1.0
 *   at the end in every case
 *
 * Finds a database, converting tor-geoipdb when nothing else is there.
 * Blocking: from a main loop, use exg_geoip_load_async().
 *
 * Returns: (transfer full): never %NULL; database-less (with one warning)
 *   when there is no usable database at all
 */
ExgGeoip *
exg_geoip_load (const char          *configured_path,
                ExgGeoipProgressFunc progress,
                gpointer             user_data)
{
  g_autoptr(GError) configured_error = NULL;
  g_autoptr(GError) tor_error = NULL;
  g_auto(GStrv) dirs = NULL;
  const char *dirs_env;
  ExgGeoip *self = NULL;
  LoadProgress load_progress = { progress, user_data, 0.0 };

  if (configured_path != NULL && configured_path[0] != '\0')
    self = exg_geoip_new_from_file (configured_path, &configured_error);

  dirs_env = g_getenv ("EXG_GEOIP_DIRS");
  dirs = g_strsplit (dirs_env != NULL ? dirs_env : DEFAULT_GEOIP_DIRS, ":", -1);
  for (guint i = 0; self == NULL && dirs[i] != NULL; i++)
    if (dirs[i][0] != '\0')
      self = load_from_dir (dirs[i]);

  if (self == NULL)
    self = load_tor_cache (progress != NULL ? load_progress_cb : NULL,
                           &load_progress, &tor_error);

  if (progress != NULL && load_progress.last < 1.0)
    progress (1.0, user_data);

  if (self != NULL)
    {
      if (configured_error != NULL)
        g_warning (_("%s. Using “%s” instead."), configured_error->message,
                   self->path);
      else
        g_debug ("GeoIP database: %s", self->path);
      return self;
    }

  /* the one warning: say what was tried and what it means */
  {
    g_autofree char *searched = g_strjoinv (" and ", dirs);

    if (configured_error != NULL)
      g_warning (_("%s. No other GeoIP database was found either, so the "
                   "countries of exits are unknown. Looked for "
                   "GeoLite2-Country and DB-IP country lite in %s, and for "
                   "tor’s GeoIP files: %s."),
                 configured_error->message, searched, tor_error->message);
    else
      g_warning (_("No GeoIP database was found, so the countries of exits "
                   "are unknown. Looked for GeoLite2-Country and DB-IP country "
                   "lite in %s, and for tor’s GeoIP files: %s."),
                 searched, tor_error->message);
  }

  return exg_geoip_new ();
}

/* exg_geoip_load_async */

typedef struct
{
  char                *configured_path;
  ExgGeoipProgressFunc progress;
  gpointer             progress_data;
} LoadData;

static void
load_data_free (LoadData *data)
{
  g_free (data->configured_path);
  g_free (data);
}

typedef struct
{
  GTask  *task;     /* owned */
  double  fraction;
} ProgressCall;

static gboolean
progress_call_cb (gpointer user_data)
{
  ProgressCall *call = user_data;
  LoadData *data = g_task_get_task_data (call->task);

  /* after the callback (cancelled with return-on-cancel), stay quiet: the
   * caller's progress_data may be gone */
  if (!g_task_get_completed (call->task))
    data->progress (call->fraction, data->progress_data);
  return G_SOURCE_REMOVE;
}

static void
progress_call_free (gpointer user_data)
{
  ProgressCall *call = user_data;

  g_object_unref (call->task);
  g_free (call);
}

/* in the worker thread: hand the fraction to the caller's main context */
static void
thread_progress_cb (double   fraction,
                    gpointer user_data)
{
  GTask *task = user_data;
  ProgressCall *call = g_new (ProgressCall, 1);
  g_autoptr(GSource) source = g_idle_source_new ();

  call->task = g_object_ref (task);
  call->fraction = fraction;

  /* always through a source: g_main_context_invoke() would run the
   * callback right here, in the worker, whenever the caller's context is
   * the global default one and happens to be free */
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, progress_call_cb, call, progress_call_free);
  g_source_set_static_name (source, "[exitgate] geoip load progress");
  g_source_attach (source, g_task_get_context (task));
}

static void
load_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  LoadData *data = task_data;
  ExgGeoip *self;

  /* cancelled before the thread ran: touch nothing */
  if (g_task_return_error_if_cancelled (task))
    return;

  self = exg_geoip_load (data->configured_path,
                         data->progress != NULL ? thread_progress_cb : NULL,
                         task);
  g_task_return_pointer (task, self, g_object_unref);
}

/**
 * exg_geoip_load_async:
 * @configured_path: (nullable): as for exg_geoip_load()
 * @progress: (nullable): called in the thread-default main context of the
 *   caller, never after @callback
 * @cancellable: (nullable): cancelling returns at once; a conversion under
 *   way still finishes in the background (and fills the cache)
 *
 * Runs exg_geoip_load() in a worker thread.
 */
void
exg_geoip_load_async (const char          *configured_path,
                      ExgGeoipProgressFunc progress,
                      gpointer             progress_data,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  LoadData *data;

  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, exg_geoip_load_async);
  g_task_set_name (task, "[exitgate] exg_geoip_load_async");

  data = g_new0 (LoadData, 1);
  data->configured_path = g_strdup (configured_path);
  data->progress = progress;
  data->progress_data = progress_data;
  g_task_set_task_data (task, data, (GDestroyNotify) load_data_free);

  g_task_set_return_on_cancel (task, TRUE);
  g_task_run_in_thread (task, load_thread);
}

/**
 * exg_geoip_load_finish:
 *
 * Returns: (transfer full): the instance (never %NULL unless cancelled)
 */
ExgGeoip *
exg_geoip_load_finish (GAsyncResult *result,
                       GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result))
                        == exg_geoip_load_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
