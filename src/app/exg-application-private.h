/* exg-application-private.h: what exg-application.c,
 * exg-application-tor.c and exg-application-ui.c share: the application's
 * fields, its signals, its trace and the windows' entry points.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-application.h"
#include "exg-system-proxy.h"

G_BEGIN_DECLS

struct _ExgApplication
{
  GtkApplication     parent_instance;

  GSettings         *settings;       /* owned */
  ExgEngine         *engine;         /* owned: routers, health, tor, server */
  ExgGeoip          *geoip;          /* owned; database-less until loaded */
  ExgSystemProxy    *system_proxy;   /* owned */
  GObject           *tray;           /* owned: the ExgTray */
  ExgCountryList    *countries;      /* owned: what window and tray list */
  GCancellable      *cancellable;    /* owned; cancelled on shutdown */
  GCancellable      *geoip_load;     /* owned; the GeoIP search under way */
  int                geoip_percent;  /* converting tor-geoipdb; -1 if not */

  /* command-line overrides for this run (nullable, owned) */
  char              *opt_config;
  char              *opt_geoip;
  char              *opt_listen;
  gboolean           opt_hidden;

  char              *config_path;    /* owned */
  char              *bound_address;  /* owned; NULL when not listening */
  GError            *listen_error;   /* owned; nullable */
  GError            *exits_error;    /* owned; nullable */
  ExgSelection       selection;
  gboolean           tor_undecided;  /* first run: tor offered, not chosen */
  gboolean           tor_connected;  /* the user said Connect this run */
  gboolean           trace;
  gboolean           activated;
  guint              sigterm_id;
  guint              sigint_id;
  guint              no_tray_id;
};

enum {
  STATUS_CHANGED,
  SELECTION_CHANGED,
  TOR_CHANGED,
  N_SIGNALS
};

void exg_application_emit_  (ExgApplication *self,
                             guint           signal);
/* EXITGATE_TRACE=1: one line per state change on stdout */
void exg_application_trace_ (ExgApplication *self,
                             const char     *format,
                             ...) G_GNUC_PRINTF (2, 3);

/* exg-application-ui.c: the windows' actions and the tray, at startup;
 * the main window on activate */
void exg_application_ui_startup_  (ExgApplication *self);
void exg_application_ui_activate_ (ExgApplication *self);

G_END_DECLS
