/* exg-window-private.h: what exg-window.c and exg-window-picker.c share:
 * the window's fields and the picker's entry points.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-window.h"

#include "exg-connections-view.h"
#include "exg-lookups-view.h"
#include "exg-routers-view.h"
#include "exg-tor-connect.h"
#include "exg-traffic-graph.h"

G_BEGIN_DECLS

enum {
  COUNTRY_COL_CODE,
  COUNTRY_COL_LABEL,
  COUNTRY_COL_NAME,
  COUNTRY_COL_COUNT,
  COUNTRY_COL_SENSITIVE,
};

struct _ExgWindow
{
  GtkApplicationWindow parent_instance;

  ExgApplication     *app;               /* unowned: the app outlives its windows */

  /* template children */
  GtkSwitch          *proxy_switch;
  GtkLabel           *address_label;
  GtkLabel           *status_label;
  GtkImage           *status_icon;
  GtkInfoBar         *info_bar;
  GtkLabel           *info_label;
  GtkListStore       *country_store;
  GtkComboBox        *country_combo;
  GtkEntry           *country_entry;
  GtkEntry           *range_from_entry;
  GtkEntry           *range_to_entry;
  GtkLabel           *range_error_label;
  GtkSpinButton      *bandwidth_spin;
  GtkComboBoxText    *bandwidth_units_combo;
  GtkLabel           *result_label;
  GtkStack           *stack;
  GtkBox             *connections_page;
  GtkBox             *lookups_page;
  GtkBox             *traffic_page;
  GtkBox             *routers_page;
  /* the pages' contents: custom widgets, made here and not in the .ui so
   * that gtk-builder-tool can validate it */
  ExgConnectionsView *connections_view;
  ExgLookupsView     *lookups_view;
  ExgRoutersView     *routers_view;
  ExgTrafficGraph    *traffic_graph;
  GtkStack           *main_stack;        /* the content, or "Connect to Tor" */
  ExgTorConnect      *tor_connect;
  GtkInfoBar         *tor_country_bar;   /* nullable: made when first needed */

  guint               tick_id;
  guint               updating;          /* > 0 while we set widgets ourselves */
  int                 width;
  int                 height;
  gboolean            maximized;
};

/* exg-window-picker.c */
void     exg_window_picker_init_         (ExgWindow          *self);
/* "Any country", the chosen one, then the countries with exits */
void     exg_window_rebuild_countries_   (ExgWindow          *self);
/* the line under the picker: the exit in force, or why none */
void     exg_window_update_result_       (ExgWindow          *self);
char    *exg_window_describe_no_match_   (ExgWindow          *self,
                                          const ExgSelection *sel);
/* "🇸🇪 Sweden"; "unknown country" for "" */
char    *exg_window_country_label_       (const char         *iso);
void     exg_window_explain_tor_country_ (ExgWindow          *self,
                                          const ExgSelection *sel);
/* range and bandwidth from the settings into their boxes */
void     exg_window_load_filters_        (ExgWindow          *self);
/* template callbacks */
void     exg_window_on_country_combo_changed_    (GtkComboBox *combo,
                                                  ExgWindow   *self);
void     exg_window_on_country_entry_activate_   (GtkEntry    *entry,
                                                  ExgWindow   *self);
gboolean exg_window_on_country_entry_key_press_  (GtkWidget   *entry,
                                                  GdkEventKey *event,
                                                  ExgWindow   *self);
void     exg_window_on_range_entry_changed_      (GtkEntry    *entry,
                                                  ExgWindow   *self);
void     exg_window_on_bandwidth_changed_        (GtkWidget   *widget,
                                                  ExgWindow   *self);

G_END_DECLS
