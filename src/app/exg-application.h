/* exg-application.h: the GtkApplication.  Runs the core in-process (the
 * SOCKS server in the GLib main loop) and owns the actions the window,
 * the tray and D-Bus share.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "exg-core.h"
#include "exg-country-list.h"

G_BEGIN_DECLS

#define EXG_TYPE_APPLICATION (exg_application_get_type ())
G_DECLARE_FINAL_TYPE (ExgApplication, exg_application, EXG, APPLICATION, GtkApplication)

ExgApplication    *exg_application_new                (void);

GSettings         *exg_application_get_settings       (ExgApplication *self);
ExgServer         *exg_application_get_server         (ExgApplication *self);
ExgRouterRegistry *exg_application_get_registry       (ExgApplication *self);
ExgActivity       *exg_application_get_activity       (ExgApplication *self);
/* The countries that have exits, shared by window and tray. */
ExgCountryList    *exg_application_get_country_list   (ExgApplication *self);
ExgGeoip          *exg_application_get_geoip          (ExgApplication *self);
int                exg_application_get_geoip_progress (ExgApplication *self);

/* The exits file in use (--config or the config-path setting or the
 * default).  (transfer none) */
const char        *exg_application_get_config_path    (ExgApplication *self);
/* Re-reads the exits file and replaces the routers. */
void               exg_application_reload_exits       (ExgApplication *self);

/* Tor: the client (nullable, replaced on ::tor-changed); the first run's
 * offer; a managed tor kept off the network until Connect. */
ExgTorClient      *exg_application_get_tor            (ExgApplication *self);
gboolean           exg_application_get_tor_undecided  (ExgApplication *self);
gboolean           exg_application_get_tor_waiting    (ExgApplication *self);
gboolean           exg_application_connect_tor        (ExgApplication *self,
                                                       GError        **error);
/* @mode: "managed", "control" (@control: port or socket) or "off" */
gboolean           exg_application_use_tor            (ExgApplication *self,
                                                       const char     *mode,
                                                       const char     *control,
                                                       GError        **error);

/* "ADDR:PORT" being listened on, or NULL when off.  (transfer none) */
const char        *exg_application_get_bound_address  (ExgApplication *self);
/* What was asked for: "127.0.0.1:1080".  (transfer full) */
char              *exg_application_dup_listen_address (ExgApplication *self);
/* Why the last attempt to listen failed; NULL after a success. */
const GError      *exg_application_get_listen_error   (ExgApplication *self);
/* Why the exits file could not be used; NULL when it could. */
const GError      *exg_application_get_exits_error    (ExgApplication *self);

/* The selection the window shows and the server uses. */
void               exg_application_get_selection      (ExgApplication *self,
                                                       ExgSelection   *sel);

gboolean           exg_application_get_tray_available (ExgApplication *self);


G_END_DECLS
