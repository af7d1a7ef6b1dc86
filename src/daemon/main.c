/* exitgated: the headless Exitgate daemon.
 *
 * Reads the key file, lets flags win over it, listens, prints one
 * "listening ADDR:PORT" line per listener on stdout and serves until
 * SIGINT or SIGTERM.  Any problem at start is one line on stderr and
 * exit status 1, with nothing left half-started.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-core.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

typedef struct {
  char      *config_path;
  char     **listen;
  int        handshake_timeout;   /* -1: not given */
  gint64     max_connections;     /* -1: not given */
  char     **allow;
  char     **allow_targets;
  char     **deny_targets;
  char      *country;
  char      *ip_range;
  gint64     min_bandwidth;       /* -1: not given */
  char      *geoip;
  char      *tor_control;
  gboolean   tor_managed;
  char      *tor_torrc;
  gboolean   list_exits;
  gboolean   verbose;
  gboolean   unsafe_logging;
  gboolean   version;
} Options;

static void
options_clear (Options *o)
{
  g_free (o->config_path);
  g_strfreev (o->listen);
  g_strfreev (o->allow);
  g_strfreev (o->allow_targets);
  g_strfreev (o->deny_targets);
  g_free (o->country);
  g_free (o->ip_range);
  g_free (o->geoip);
  g_free (o->tor_control);
  g_free (o->tor_torrc);
}

/* --list-exits waits this long for tor's consensus */
#define TOR_LIST_TIMEOUT 60

static int
fail (const char *format,
      ...) G_GNUC_PRINTF (1, 2);

static int
fail (const char *format,
      ...)
{
  va_list args;

  fputs ("exitgated: ", stderr);
  va_start (args, format);
  vfprintf (stderr, format, args);
  va_end (args);
  fputc ('\n', stderr);
  return 1;
}

/* As many descriptors as allowed: every relayed connection holds two. */
static void
raise_fd_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
    return;
  if (limit.rlim_cur == limit.rlim_max)
    return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit (RLIMIT_NOFILE, &limit) != 0)
    g_debug ("Could not raise the descriptor limit: %s", g_strerror (errno));
}

static gboolean
quit_cb (gpointer user_data)
{
  GMainLoop *loop = user_data;

  g_message ("Stopping");
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static char *
format_address (GSocketAddress *address)
{
  GInetSocketAddress *isa = G_INET_SOCKET_ADDRESS (address);
  GInetAddress *inet = g_inet_socket_address_get_address (isa);
  g_autofree char *host = g_inet_address_to_string (inet);

  if (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", host,
                            g_inet_socket_address_get_port (isa));
  return g_strdup_printf ("%s:%u", host, g_inet_socket_address_get_port (isa));
}

static char *
format_bandwidth (guint64 bw)
{
  if (bw == 0)
    return g_strdup ("-");
  return g_strdup_printf ("%" G_GUINT64_FORMAT, bw);
}

static void
set_true (gboolean *flag)
{
  *flag = TRUE;
}

static gboolean
set_true_cb (gpointer user_data)
{
  set_true (user_data);
  return G_SOURCE_REMOVE;
}

static void
print_exits (ExgRouterRegistry *registry)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (registry));

  printf ("%-20s %-13s %-39s %-7s %-12s %s\n",
          "NAME", "KIND", "ADDRESS", "COUNTRY", "BANDWIDTH", "STATE");
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(ExgRouter) router = g_list_model_get_item (G_LIST_MODEL (registry), i);
      g_autofree char *bw = format_bandwidth (exg_router_get_bandwidth (router));
      const char *address = exg_router_get_address (router);
      const char *country = exg_router_get_country (router);

      printf ("%-20s %-13s %-39s %-7s %-12s %s\n",
              exg_router_get_name (router),
              exg_router_kind_to_string (exg_router_get_kind (router)),
              address[0] != '\0' ? address : "-",
              country[0] != '\0' ? country : "-",
              bw,
              exg_router_state_to_string (exg_router_get_state (router)));
    }
  fflush (stdout);
}

/* Converting tor-geoipdb takes a moment on first use: say so on stderr, a
 * line every tenth (stderr is often a journal, not a terminal). */
static void
geoip_progress_cb (double   fraction,
                   gpointer user_data)
{
  int *last_tenth = user_data;
  int tenth = (int) (fraction * 10);

  /* a database found ready reports only its end: nothing to say */
  if (tenth == *last_tenth || (*last_tenth < 0 && tenth >= 10))
    return;
  if (*last_tenth < 0)
    fprintf (stderr, "exitgated: %s\n",
             _("building the country database from tor-geoipdb (once)…"));
  *last_tenth = tenth;
  fprintf (stderr, "exitgated: ");
  /* Translators: progress of building the country database */
  fprintf (stderr, _("country database %d%%"), tenth * 10);
  fputc ('\n', stderr);
}

/* GeoIP is only needed for exits whose country is not configured. */
static gboolean
config_needs_geoip (ExgConfig *config)
{
  g_auto(GStrv) groups = g_key_file_get_groups (config->keyfile, NULL);

  for (guint i = 0; groups[i] != NULL; i++)
    {
      g_autofree char *type = NULL;

      if (!g_str_has_prefix (groups[i], "exit "))
        continue;
      if (g_key_file_has_key (config->keyfile, groups[i], "country", NULL))
        continue;
      type = g_key_file_get_string (config->keyfile, groups[i], "type", NULL);
      if (type != NULL &&
          g_ascii_strcasecmp (g_strstrip (type), "direct") == 0 &&
          !g_key_file_has_key (config->keyfile, groups[i], "source-address",
                               NULL))
        continue;
      return TRUE;
    }
  return FALSE;
}

/* Flags replace the key file's list, as --allow does. */
static gboolean
apply_target_rules (const char   *flag,
                    char        **rules,
                    char       ***out,
                    GError      **error)
{
  g_autoptr(GError) local_error = NULL;

  if (rules == NULL || rules[0] == NULL)
    return TRUE;
  for (guint i = 0; rules[i] != NULL; i++)
    if (!exg_dest_rule_validate (rules[i], &local_error))
      {
        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                     "%s: %s", flag, local_error->message);
        return FALSE;
      }
  g_strfreev (*out);
  *out = g_strdupv (rules);
  return TRUE;
}

static gboolean
apply_options (ExgConfig  *config,
               Options    *o,
               GError    **error)
{
  if (o->listen != NULL && o->listen[0] != NULL)
    {
      g_strfreev (config->listen);
      config->listen = g_strdupv (o->listen);
    }
  if (o->handshake_timeout >= 0)
    config->handshake_timeout = (guint) o->handshake_timeout;
  if (o->max_connections >= 0)
    {
      if (o->max_connections > G_MAXUINT)
        {
          g_autofree char *number = g_strdup_printf ("%" G_GINT64_FORMAT,
                                                     o->max_connections);

          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       /* Translators: %s is a number */
                       _("--max-connections: %s is too large"), number);
          return FALSE;
        }
      config->max_connections = (guint) o->max_connections;
    }
  if (o->allow != NULL && o->allow[0] != NULL)
    {
      g_strfreev (config->allow);
      config->allow = g_strdupv (o->allow);
    }
  if (!apply_target_rules ("--allow-targets", o->allow_targets,
                           &config->allow_targets, error) ||
      !apply_target_rules ("--deny-targets", o->deny_targets,
                           &config->deny_targets, error))
    return FALSE;
  /* the default country of every client: a code that names no country
   * would refuse them all, so only ISO 3166-1 codes (a client's own
   * country= may still ask for anything) */
  if (o->country != NULL &&
      (!exg_iso3166_is_assigned (o->country) ||
       !exg_selection_set_country (&config->selection, o->country)))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--country: “%s” is not an ISO 3166-1 country code "
                     "(two letters, like SE or DE)"), o->country);
      return FALSE;
    }
  if (o->ip_range != NULL &&
      !exg_selection_parse_range (o->ip_range, &config->selection.range_start,
                                  &config->selection.range_end))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--ip-range: “%s” is not an IPv4 range (A.B.C.D-E.F.G.H or A.B.C.D/N)"),
                   o->ip_range);
      return FALSE;
    }
  if (o->min_bandwidth >= 0)
    config->selection.min_bandwidth = (guint64) o->min_bandwidth;
  if (o->geoip != NULL)
    {
      g_free (config->geoip_path);
      config->geoip_path = g_strdup (o->geoip);
    }
  if (o->unsafe_logging)
    config->unsafe_logging = TRUE;
  if (o->tor_control != NULL)
    {
      g_free (config->tor_control);
      config->tor_control = g_strdup (o->tor_control);
      config->tor_managed = FALSE;
    }
  if (o->tor_managed)
    {
      g_clear_pointer (&config->tor_control, g_free);
      config->tor_managed = TRUE;
    }
  if (o->tor_torrc != NULL)
    {
      g_free (config->tor_torrc);
      config->tor_torrc = g_strdup (o->tor_torrc);
    }
  return TRUE;
}

/* Before anything starts: a bad address says where it came from, and an
 * open proxy says which option would make it safe. */
static gboolean
check_listen (ExgConfig  *config,
              gboolean    from_flags,
              GError    **error)
{
  gboolean has_allow = config->allow != NULL && config->allow[0] != NULL;

  for (guint i = 0; config->listen[i] != NULL; i++)
    {
      g_autoptr(GSocketAddress) address = NULL;
      g_autoptr(GError) local_error = NULL;
      GInetAddress *inet;

      address = exg_server_parse_listen_address (config->listen[i],
                                                 &local_error);
      if (address == NULL)
        {
          if (from_flags)
            g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                         "--listen: %s", local_error->message);
          else
            /* as ExgConfig names a bad key: "FILE: [group] key: why" */
            g_set_error (error, EXG_ERROR, EXG_ERROR_CONFIG,
                         "%s: [server] listen: %s",
                         config->path != NULL ? config->path : "(config)",
                         local_error->message);
          return FALSE;
        }

      inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
      if (!has_allow && !g_inet_address_get_is_loopback (inet))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                       /* Translators: %s is an address like 0.0.0.0:1080 */
                       _("Refusing to listen on %s, which is not a loopback "
                         "address, without an allow-list: name the client "
                         "networks with --allow CIDR (or allow= in the key "
                         "file’s [server] group)"),
                       config->listen[i]);
          return FALSE;
        }
    }
  return TRUE;
}

static void
tor_bootstrap_cb (ExgTorClient *client,
                  int           progress,
                  const char   *summary,
                  gpointer      user_data)
{
  fprintf (stderr, "tor: bootstrapped %d%% (%s)\n", progress, summary);
  fflush (stderr);
}

int
main (int    argc,
      char **argv)
{
  Options o = { .handshake_timeout = -1, .max_connections = -1, .min_bandwidth = -1 };
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &o.config_path,
      N_("Read this key file (default: $XDG_CONFIG_HOME/exitgate/exitgate.conf if present)"), N_("FILE") },
    { "listen", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &o.listen,
      N_("Listen on ADDR:PORT, [IPV6]:PORT or PORT (repeatable; default 127.0.0.1:1080; port 0 picks one)"),
      "ADDR:PORT" },
    { "handshake-timeout", 0, 0, G_OPTION_ARG_INT, &o.handshake_timeout,
      N_("Close clients that have not sent their request after S seconds (default 30)"), "S" },
    { "max-connections", 0, 0, G_OPTION_ARG_INT64, &o.max_connections,
      N_("Close new connections beyond N at once (default 0: no limit)"), "N" },
    { "allow", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.allow,
      N_("Accept clients from this network only (repeatable; default: loopback only)"), "CIDR" },
    { "allow-targets", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.allow_targets,
      N_("Let clients reach these targets on this host even when listening beyond loopback (repeatable)"),
      "CIDR[:PORTS]" },
    { "deny-targets", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.deny_targets,
      N_("Never connect to these targets (repeatable)"), "CIDR[:PORTS]" },
    { "country", 0, 0, G_OPTION_ARG_STRING, &o.country,
      N_("Default exit country for clients that choose none"), "CC" },
    { "ip-range", 0, 0, G_OPTION_ARG_STRING, &o.ip_range,
      N_("Default exit IPv4 range"), "A-B" },
    { "min-bandwidth", 0, 0, G_OPTION_ARG_INT64, &o.min_bandwidth,
      N_("Default minimum exit bandwidth, bytes/s"), "N" },
    { "geoip", 0, 0, G_OPTION_ARG_FILENAME, &o.geoip,
      N_("GeoIP country database (.mmdb)"), N_("FILE") },
    { "tor-control", 0, 0, G_OPTION_ARG_STRING, &o.tor_control,
      N_("Use the exits of the tor running with this control port or socket"), "HOST:PORT|PATH" },
    { "tor-managed", 0, 0, G_OPTION_ARG_NONE, &o.tor_managed,
      N_("Run tor and use its exits"), NULL },
    { "tor-torrc", 0, 0, G_OPTION_ARG_FILENAME, &o.tor_torrc,
      N_("Lines for the managed tor (bridges, a private network)"), N_("FILE") },
    { "list-exits", 0, 0, G_OPTION_ARG_NONE, &o.list_exits,
      N_("Print the configured exits and exit"), NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &o.verbose,
      N_("Log debug messages"), NULL },
    { "unsafe-logging", 0, 0, G_OPTION_ARG_NONE, &o.unsafe_logging,
      N_("Allow target hosts and addresses in logs"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &o.version,
      N_("Print the version and exit"), NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(ExgConfig) config = NULL;
  g_autoptr(ExgGeoip) geoip = NULL;
  g_autoptr(ExgEngine) engine = NULL;
  ExgServer *server;
  ExgTorClient *tor;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GPtrArray) bound = NULL;
  g_autofree char *default_path = NULL;
  int status = 0;

  /* stdout carries only the "listening" lines; logs go to stderr */
  g_log_writer_default_set_use_stderr (TRUE);
  signal (SIGPIPE, SIG_IGN);

  /* --help and every message in the user's language */
  setlocale (LC_ALL, "");
  exg_i18n_bind_textdomain ();

  context = g_option_context_new (N_("- Exitgate SOCKS proxy daemon"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_help_enabled (context, TRUE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      /* Translators: %s is what is wrong with the command line */
      status = fail (_("%s (see --help)"), error->message);
      goto out;
    }
  if (argc > 1)
    {
      status = fail (_("unexpected argument “%s” (see --help)"), argv[1]);
      goto out;
    }
  if (o.version)
    {
      printf ("exitgated %s\n", PACKAGE_VERSION);
      goto out;
    }
  if (o.handshake_timeout < -1 || o.max_connections < -1 ||
      o.min_bandwidth < -1)
    {
      /* Translators: %s is an option, like --max-connections */
      status = fail (_("%s: must not be negative"),
                     o.handshake_timeout < -1 ? "--handshake-timeout"
                     : o.max_connections < -1 ? "--max-connections"
                     : "--min-bandwidth");
      goto out;
    }

  /* our own debug output only: GIO's is noise here */
  if (o.verbose)
    g_setenv ("G_MESSAGES_DEBUG",
              "exitgate-core exitgate-daemon exitgate-proto", TRUE);

  raise_fd_limit ();

  /* the config: the one named, else the default one if it exists */
  if (o.config_path != NULL)
    config = exg_config_load (o.config_path, &error);
  else
    {
      default_path = exg_config_default_path ();
      if (g_file_test (default_path, G_FILE_TEST_EXISTS))
        config = exg_config_load (default_path, &error);
      else
        config = exg_config_new ();
    }
  if (config == NULL)
    {
      status = fail ("%s", error->message);
      goto out;
    }
  if (!apply_options (config, &o, &error) ||
      (!o.list_exits &&
       !check_listen (config, o.listen != NULL && o.listen[0] != NULL,
                      &error)))
    {
      status = fail ("%s", error->message);
      goto out;
    }

  /* converting tor's database can take seconds: only when needed */
  if (config_needs_geoip (config) || config->geoip_path != NULL ||
      exg_config_uses_tor (config))
    {
      int last_tenth = -1;

      geoip = exg_geoip_load (config->geoip_path, geoip_progress_cb,
                              &last_tenth);
    }

  engine = exg_engine_new (NULL);
  exg_engine_set_geoip (engine, geoip);
  if (!exg_engine_load_exits (engine, config, &error) ||
      !exg_engine_configure_server (engine, config, &error))
    {
      status = fail ("%s", error->message);
      goto out;
    }
  server = exg_engine_get_server (engine);
  tor = exg_engine_get_tor (engine);
  if (tor != NULL)
    g_signal_connect (tor, "bootstrap", G_CALLBACK (tor_bootstrap_cb), NULL);

  if (o.list_exits)
    {
      gboolean checked = FALSE;

      /* STATE says what was observed: one round of checks first, each
       * bounded by the backend's check timeout */
      exg_engine_start (engine, 0);
      g_signal_connect_swapped (exg_engine_get_health (engine), "checked",
                                G_CALLBACK (set_true), &checked);
      while (!checked)
        g_main_context_iteration (NULL, TRUE);

      /* tor's exits come with its consensus: wait for it, bounded */
      if (tor != NULL)
        {
          gboolean timed_out = FALSE;
          guint id;

          id = g_timeout_add_seconds (TOR_LIST_TIMEOUT, set_true_cb, &timed_out);
          while (!exg_tor_client_get_ready (tor) && !timed_out)
            g_main_context_iteration (NULL, TRUE);
          if (!timed_out)
            g_source_remove (id);
          else
            fprintf (stderr, "exitgated: %s\n",
                     _("tor’s exits are not known yet"));
        }
      print_exits (exg_engine_get_registry (engine));
      exg_engine_stop (engine);
      goto out;
    }

  /* before the "listening" lines: whoever reads them may signal at once */
  loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGINT, quit_cb, loop);
  g_unix_signal_add (SIGTERM, quit_cb, loop);

  bound = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; config->listen[i] != NULL; i++)
    {
      GSocketAddress *address = NULL;

      if (!exg_server_listen_string (server, config->listen[i], &address,
                                     &error))
        {
          exg_server_stop (server);
          status = fail ("%s", error->message);
          goto out;
        }
      g_ptr_array_add (bound, address);
    }

  for (guint i = 0; i < bound->len; i++)
    {
      g_autofree char *text = format_address (g_ptr_array_index (bound, i));

      printf ("listening %s\n", text);
    }
  fflush (stdout);

  exg_engine_start (engine, EXG_HEALTH_DEFAULT_INTERVAL);
  g_main_loop_run (loop);
  exg_engine_stop (engine);

out:
  options_clear (&o);
  return status;
}
