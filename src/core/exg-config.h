/* exg-config.h: the key file shared by the daemon and the app.
 *
 *   [server]     listen=127.0.0.1:1080;[::1]:1080   handshake-timeout=30
 *                max-connections=0  allow=10.0.0.0/8;  unsafe-logging=false
 *                allow-targets=CIDR[:PORTS];  deny-targets=CIDR[:PORTS];
 *                username= password=  geoip=/path.mmdb
 *   [selection]  country=SE  ip-range=A-B  min-bandwidth=N
 *   [exit NAME]  type=direct|socks5|socks4a|http-connect  address= port=
 *                bandwidth=  country=  username=  password=  source-address=
 *   [tor]        control=HOST:PORT|/path/to/socket  managed=false
 *                torrc=FILE  password=
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-selection.h"
#include "exg-router.h"
#include "exg-geoip.h"

G_BEGIN_DECLS

typedef struct {
  char        *path;               /* nullable: where it was read from */
  char       **listen;             /* NULL-terminated; default { "127.0.0.1:1080" } */
  guint        handshake_timeout;  /* seconds, default 30 */
  guint        max_connections;    /* 0 = no limit (default) */
  char       **allow;              /* CIDRs, may be NULL */
  char       **allow_targets;      /* CIDR[:PORT[-PORT]], may be NULL */
  char       **deny_targets;       /* CIDR[:PORT[-PORT]], may be NULL */
  gboolean     unsafe_logging;
  char        *username;           /* nullable */
  char        *password;           /* nullable */
  char        *geoip_path;         /* nullable */
  ExgSelection selection;          /* default selection; any by default */
  char        *tor_control;        /* nullable: a running tor's control port */
  gboolean     tor_managed;        /* run tor ourselves */
  char        *tor_torrc;          /* nullable: lines for a managed tor */
  char        *tor_password;       /* nullable: HASHEDPASSWORD */
  GKeyFile    *keyfile;            /* the file as read (exit groups included) */
} ExgConfig;

ExgConfig *exg_config_new       (void);             /* defaults */
/* Reads and validates; errors name the file and the key. */
ExgConfig *exg_config_load      (const char *path,
                                 GError    **error);
void       exg_config_free      (ExgConfig *config);
ExgConfig *exg_config_copy      (const ExgConfig *config);

/* Whether tor exits are used: [tor] control= or managed=true. */
gboolean   exg_config_uses_tor  (ExgConfig *config);

/* Builds routers from the [exit NAME] groups (one direct router when
 * there are none and tor is not used); the country of each is config's
 * or GeoIP's.
 * (element-type ExgRouter) (transfer full) */
GPtrArray *exg_config_build_routers (ExgConfig *config,
                                     ExgGeoip  *geoip,
                                     GError   **error);

/* The default path: $XDG_CONFIG_HOME/exitgate/exitgate.conf */
char      *exg_config_default_path (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ExgConfig, exg_config_free)

G_END_DECLS
