/* exg-config.c: the key file shared by the daemon and the app.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-config.h"

#include "exg-backend-direct.h"
#include "exg-backend-upstream.h"
#include "exg-dest-policy.h"
#include "exg-error.h"

#include <errno.h>
#include <string.h>

#define EXIT_GROUP_PREFIX "exit "

/**
 * exg_config_new:
 *
 * Returns: (transfer full): the defaults: listen on 127.0.0.1:1080, a 30 s
 *   handshake timeout, no limits, no credentials, any selection
 */
ExgConfig *
exg_config_new (void)
{
  ExgConfig *config = g_new0 (ExgConfig, 1);
  const char *listen[] = { "127.0.0.1:1080", NULL };

  config->listen = g_strdupv ((char **) listen);
  config->handshake_timeout = 30;
  exg_selection_init_any (&config->selection);
  config->keyfile = g_key_file_new ();
  return config;
}

void
exg_config_free (ExgConfig *config)
{
  if (config == NULL)
    return;

  g_free (config->path);
  g_strfreev (config->listen);
  g_strfreev (config->allow);
  g_strfreev (config->allow_targets);
  g_strfreev (config->deny_targets);
  g_free (config->username);
  g_free (config->password);
  g_free (config->geoip_path);
  g_free (config->tor_control);
  g_free (config->tor_torrc);
  g_free (config->tor_password);
  g_clear_pointer (&config->keyfile, g_key_file_unref);
  g_free (config);
}

/**
 * exg_config_copy:
 *
 * Returns: (transfer full): a copy of @config (its key file shared: a
 *   key file is only read once loaded)
 */
ExgConfig *
exg_config_copy (const ExgConfig *config)
{
  ExgConfig *copy = g_new0 (ExgConfig, 1);

  *copy = *config;
  copy->path = g_strdup (config->path);
  copy->listen = g_strdupv (config->listen);
  copy->allow = g_strdupv (config->allow);
  copy->allow_targets = g_strdupv (config->allow_targets);
  copy->deny_targets = g_strdupv (config->deny_targets);
  copy->username = g_strdup (config->username);
  copy->password = g_strdup (config->password);
  copy->geoip_path = g_strdup (config->geoip_path);
  copy->tor_control = g_strdup (config->tor_control);
  copy->tor_torrc = g_strdup (config->tor_torrc);
  copy->tor_password = g_strdup (config->tor_password);
  copy->keyfile = g_key_file_ref (config->keyfile);
  return copy;
}

static gboolean G_GNUC_PRINTF (5, 6)
config_error (GError    **error,
              const char *path,
              const char *group,
              const char *key,
              const char *format,
              ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  g_set_error (error, EXG_ERROR, EXG_ERROR_CONFIG, "%s: [%s] %s: %s",
               path != NULL ? path : "(config)", group, key, message);
  return FALSE;
}

/* An unsigned integer key; absent leaves *out as it is. */
static gboolean
get_uint64 (GKeyFile   *keyfile,
            const char *path,
            const char *group,
            const char *key,
            guint64     max,
            guint64    *out,
            GError    **error)
{
  g_autofree char *text = NULL;
  char *end = NULL;
  guint64 value;

  if (!g_key_file_has_key (keyfile, group, key, NULL))
    return TRUE;

  text = g_key_file_get_value (keyfile, group, key, NULL);
  g_strstrip (text);
  errno = 0;
  value = g_ascii_strtoull (text, &end, 10);
  if (text[0] == '\0' || !g_ascii_isdigit (text[0]) || *end != '\0' ||
      errno != 0 || value > max)
    return config_error (error, path, group, key,
                         "“%s” is not a whole number between 0 and %" G_GUINT64_FORMAT,
                         text, max);
  *out = value;
  return TRUE;
}

static char *
get_string (GKeyFile   *keyfile,
            const char *group,
            const char *key)
{
  char *value = g_key_file_get_string (keyfile, group, key, NULL);

  if (value != NULL)
    g_strstrip (value);
  if (value != NULL && value[0] == '\0')
    g_clear_pointer (&value, g_free);
  return value;
}

static char **
get_list (GKeyFile   *keyfile,
          const char *group,
          const char *key)
{
  g_auto(GStrv) raw = g_key_file_get_string_list (keyfile, group, key, NULL,
                                                  NULL);
  g_autoptr(GPtrArray) list = NULL;

  if (raw == NULL)
    return NULL;
  list = g_ptr_array_new ();
  for (guint i = 0; raw[i] != NULL; i++)
    {
      char *item = g_strstrip (g_strdup (raw[i]));

      if (item[0] == '\0')
        g_free (item);
      else
        g_ptr_array_add (list, item);
    }
  g_ptr_array_add (list, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&list), FALSE);
}

/* A list of CIDR[:PORT[-PORT]]; absent leaves *out as it is. */
static gboolean
get_target_rules (GKeyFile    *keyfile,
                  const char  *path,
                  const char  *group,
                  const char  *key,
                  char      ***out,
                  GError     **error)
{
  g_auto(GStrv) rules = NULL;

  if (!g_key_file_has_key (keyfile, group, key, NULL))
    return TRUE;

  rules = get_list (keyfile, group, key);
  for (guint i = 0; rules != NULL && rules[i] != NULL; i++)
    {
      g_autoptr(GError) local_error = NULL;

      if (!exg_dest_rule_validate (rules[i], &local_error))
        return config_error (error, path, group, key, "%s",
                             local_error->message);
    }
  g_strfreev (*out);
  *out = g_steal_pointer (&rules);
  return TRUE;
}

static gboolean
load_server (ExgConfig  *config,
             GError    **error)
{
  GKeyFile *kf = config->keyfile;
  const char *g = "server";
  guint64 value;
  g_autoptr(GError) local_error = NULL;

  if (!g_key_file_has_group (kf, g))
    return TRUE;

  if (g_key_file_has_key (kf, g, "listen", NULL))
    {
      char **listen = get_list (kf, g, "listen");

      if (listen == NULL || listen[0] == NULL)
        {
          g_strfreev (listen);
          return config_error (error, config->path, g, "listen",
                               "no address given");
        }
      g_strfreev (config->listen);
      config->listen = listen;
    }

  value = config->handshake_timeout;
  if (!get_uint64 (kf, config->path, g, "handshake-timeout", 24 * 3600, &value,
                   error))
    return FALSE;
  config->handshake_timeout = (guint) value;

  value = config->max_connections;
  if (!get_uint64 (kf, config->path, g, "max-connections", G_MAXUINT, &value,
                   error))
    return FALSE;
  config->max_connections = (guint) value;

  if (g_key_file_has_key (kf, g, "allow", NULL))
    {
      g_strfreev (config->allow);
      config->allow = get_list (kf, g, "allow");
      for (guint i = 0; config->allow != NULL && config->allow[i] != NULL; i++)
        {
          g_autoptr(GInetAddressMask) mask =
            g_inet_address_mask_new_from_string (config->allow[i], NULL);

          if (mask == NULL)
            return config_error (error, config->path, g, "allow",
                                 "“%s” is not a network (CIDR, e.g. 10.0.0.0/8)",
                                 config->allow[i]);
        }
    }

  if (!get_target_rules (kf, config->path, g, "allow-targets",
                         &config->allow_targets, error) ||
      !get_target_rules (kf, config->path, g, "deny-targets",
                         &config->deny_targets, error))
    return FALSE;

  if (g_key_file_has_key (kf, g, "unsafe-logging", NULL))
    {
      config->unsafe_logging = g_key_file_get_boolean (kf, g, "unsafe-logging",
                                                       &local_error);
      if (local_error != NULL)
        return config_error (error, config->path, g, "unsafe-logging",
                             "expected true or false");
    }

  g_free (config->username);
  config->username = get_string (kf, g, "username");
  g_free (config->password);
  config->password = get_string (kf, g, "password");
  g_free (config->geoip_path);
  config->geoip_path = get_string (kf, g, "geoip");
  return TRUE;
}

static gboolean
load_selection (ExgConfig  *config,
                GError    **error)
{
  GKeyFile *kf = config->keyfile;
  const char *g = "selection";
  g_autofree char *country = NULL;
  g_autofree char *range = NULL;
  guint64 min_bw = 0;

  if (!g_key_file_has_group (kf, g))
    return TRUE;

  country = get_string (kf, g, "country");
  if (country != NULL &&
      !exg_selection_set_country (&config->selection, country))
    return config_error (error, config->path, g, "country",
                         "“%s” is not a two-letter country code", country);

  range = get_string (kf, g, "ip-range");
  if (range != NULL &&
      !exg_selection_parse_range (range, &config->selection.range_start,
                                  &config->selection.range_end))
    return config_error (error, config->path, g, "ip-range",
                         "“%s” is not an IPv4 range (A.B.C.D-E.F.G.H or A.B.C.D/N)",
                         range);

  if (!get_uint64 (kf, config->path, g, "min-bandwidth", G_MAXUINT64, &min_bw,
                   error))
    return FALSE;
  config->selection.min_bandwidth = min_bw;
  return TRUE;
}

static gboolean
load_tor (ExgConfig  *config,
          GError    **error)
{
  GKeyFile *kf = config->keyfile;
  const char *g = "tor";
  g_autoptr(GError) local_error = NULL;

  if (!g_key_file_has_group (kf, g))
    return TRUE;

  g_free (config->tor_control);
  config->tor_control = get_string (kf, g, "control");
  g_free (config->tor_torrc);
  config->tor_torrc = get_string (kf, g, "torrc");
  g_free (config->tor_password);
  config->tor_password = get_string (kf, g, "password");
  if (g_key_file_has_key (kf, g, "managed", NULL))
    {
      config->tor_managed = g_key_file_get_boolean (kf, g, "managed", &local_error);
      if (local_error != NULL)
        return config_error (error, config->path, g, "managed",
                             "expected true or false");
    }
  if (config->tor_managed && config->tor_control != NULL)
    return config_error (error, config->path, g, "control",
                         "give either control= or managed=true, not both");
  return TRUE;
}

/**
 * exg_config_uses_tor:
 * @config: a configuration
 *
 * Tor is used only when asked for: a control address, or a managed tor.
 *
 * Returns: whether tor exits are used
 */
gboolean
exg_config_uses_tor (ExgConfig *config)
{
  g_return_val_if_fail (config != NULL, FALSE);
  return config->tor_managed || config->tor_control != NULL;
}

/**
 * exg_config_load:
 * @path: a key file
 *
 * Returns: (transfer full) (nullable): the configuration, or NULL with
 *   @error naming the file, the group and the key at fault
 */
ExgConfig *
exg_config_load (const char  *path,
                 GError     **error)
{
  g_autoptr(ExgConfig) config = NULL;
  g_autoptr(GError) local_error = NULL;
  g_auto(GStrv) groups = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  config = exg_config_new ();
  config->path = g_strdup (path);

  if (!g_key_file_load_from_file (config->keyfile, path, G_KEY_FILE_NONE,
                                  &local_error))
    {
      g_set_error (error, EXG_ERROR, EXG_ERROR_CONFIG, "%s: %s", path,
                   local_error->message);
      return NULL;
    }

  if (!load_server (config, error) || !load_selection (config, error) ||
      !load_tor (config, error))
    return NULL;

  /* check the exits now, so a typo fails at start and not on first use */
  groups = g_key_file_get_groups (config->keyfile, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      const char *group = groups[i];

      if (g_str_has_prefix (group, EXIT_GROUP_PREFIX))
        {
          g_autoptr(GPtrArray) routers = exg_config_build_routers (config, NULL,
                                                                   error);

          if (routers == NULL)
            return NULL;
          break;
        }
      else if (!g_str_equal (group, "server") &&
               !g_str_equal (group, "selection") &&
               !g_str_equal (group, "tor"))
        g_message ("%s: ignoring unknown group [%s]", path, group);
    }

  return g_steal_pointer (&config);
}

static char *
group_digest (ExgConfig  *config,
              const char *group,
              const char *country)
{
  g_auto(GStrv) keys = g_key_file_get_keys (config->keyfile, group, NULL, NULL);
  g_autoptr(GString) text = g_string_new (country);

  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      g_autofree char *value = g_key_file_get_value (config->keyfile, group,
                                                     keys[i], NULL);

      g_string_append_printf (text, "\n%s=%s", keys[i], value);
    }
  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, text->str, -1);
}

static ExgRouter *
build_router (ExgConfig  *config,
              const char *group,
              ExgGeoip   *geoip,
              GError    **error)
{
  GKeyFile *kf = config->keyfile;
  const char *name = group + strlen (EXIT_GROUP_PREFIX);
  g_autofree char *type = get_string (kf, group, "type");
  g_autofree char *address = get_string (kf, group, "address");
  g_autofree char *country = get_string (kf, group, "country");
  g_autofree char *username = get_string (kf, group, "username");
  g_autofree char *password = get_string (kf, group, "password");
  g_autofree char *source = get_string (kf, group, "source-address");
  g_autoptr(ExgBackend) backend = NULL;
  char country_code[3] = "";
  guint64 bandwidth = 0;
  guint64 port = 0;
  ExgRouterKind kind;
  const char *exit_address;
  guint path_length;

  while (*name == ' ')
    name++;
  if (*name == '\0')
    return config_error (error, config->path, group, "",
                         "an exit needs a name"), NULL;

  if (type == NULL)
    return config_error (error, config->path, group, "type",
                         "missing (direct, socks5, socks4a or http-connect)"), NULL;
  if (g_ascii_strcasecmp (type, "socks4") == 0)
    return config_error (error, config->path, group, "type",
                         "socks4 would resolve names on this machine: use socks4a"), NULL;
  if (!exg_router_kind_from_string (type, &kind) || kind == EXG_ROUTER_KIND_TOR)
    return config_error (error, config->path, group, "type",
                         "“%s” is not one of direct, socks5, socks4a, http-connect",
                         type), NULL;

  if (!get_uint64 (kf, config->path, group, "bandwidth", G_MAXUINT64,
                   &bandwidth, error))
    return NULL;

  if (country != NULL)
    {
      if (strlen (country) != 2 || !g_ascii_isalpha (country[0]) ||
          !g_ascii_isalpha (country[1]))
        return config_error (error, config->path, group, "country",
                             "“%s” is not a two-letter country code", country), NULL;
      country_code[0] = g_ascii_toupper (country[0]);
      country_code[1] = g_ascii_toupper (country[1]);
    }

  if (kind == EXG_ROUTER_KIND_DIRECT)
    {
      g_autoptr(GInetAddress) inet = NULL;

      if (source != NULL)
        {
          inet = g_inet_address_new_from_string (source);
          if (inet == NULL)
            return config_error (error, config->path, group, "source-address",
                                 "“%s” is not an IP address", source), NULL;
        }
      backend = exg_backend_direct_new (inet);
      exit_address = source != NULL ? source : "";
      path_length = 1;
    }
  else
    {
      if (address == NULL)
        return config_error (error, config->path, group, "address",
                             "missing: the upstream proxy's address"), NULL;
      if (!g_key_file_has_key (kf, group, "port", NULL))
        return config_error (error, config->path, group, "port",
                             "missing: the upstream proxy's port"), NULL;
      if (!get_uint64 (kf, config->path, group, "port", 65535, &port, error))
        return NULL;
      if (port == 0)
        return config_error (error, config->path, group, "port",
                             "must not be 0"), NULL;
      backend = exg_backend_upstream_new (kind, address, (guint16) port,
                                          username, password);
      exit_address = address;
      path_length = 2;
    }

  if (country_code[0] == '\0' && geoip != NULL && exit_address[0] != '\0')
    exg_geoip_lookup_string (geoip, exit_address, country_code);

  return exg_router_new (name, name, kind, exit_address, country_code,
                         bandwidth,
                         path_length, backend);
}

/**
 * exg_config_build_routers:
 * @geoip: (nullable): for exits without a configured country
 *
 * Returns: (element-type ExgRouter) (transfer full) (nullable): one router
 *   per [exit NAME] group, or a single direct one when there is none
 */
GPtrArray *
exg_config_build_routers (ExgConfig  *config,
                          ExgGeoip   *geoip,
                          GError    **error)
{
  g_autoptr(GPtrArray) routers = NULL;
  g_auto(GStrv) groups = NULL;

  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  routers = g_ptr_array_new_with_free_func (g_object_unref);
  groups = g_key_file_get_groups (config->keyfile, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      g_autofree char *digest = NULL;
      ExgRouter *router;

      if (!g_str_has_prefix (groups[i], EXIT_GROUP_PREFIX))
        continue;

      router = build_router (config, groups[i], geoip, error);
      if (router == NULL)
        return NULL;
      /* the group as written, and the country GeoIP gave: the same
       * digest means the same router, which keeps its figures */
      digest = group_digest (config, groups[i], exg_router_get_country (router));
      exg_router_set_digest (router, digest);
      g_ptr_array_add (routers, router);
    }

  /* with tor, the exits are tor's: this machine is one only when asked */
  if (routers->len == 0 && !exg_config_uses_tor (config))
    {
      g_autoptr(ExgBackend) backend = exg_backend_direct_new (NULL);

      ExgRouter *direct = exg_router_new ("direct", "direct",
                                          EXG_ROUTER_KIND_DIRECT,
                                          "", "", 0, 1, backend);

      exg_router_set_digest (direct, "direct");
      g_ptr_array_add (routers, direct);
    }

  return g_steal_pointer (&routers);
}

/**
 * exg_config_default_path:
 *
 * Returns: (transfer full): $XDG_CONFIG_HOME/exitgate/exitgate.conf
 */
char *
exg_config_default_path (void)
{
  return g_build_filename (g_get_user_config_dir (), "exitgate",
                           "exitgate.conf", NULL);
}
