/* exg-country-list.h: the countries that have exits, as the window's
 * country box and the tray's country menu both show them.  One object,
 * owned by the application, recounts the registry and says "changed"
 * when what a picker shows would change.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-core.h"

G_BEGIN_DECLS

typedef struct {
  char  *code;      /* ISO 3166 alpha-2, upper case */
  char  *name;      /* in the user's language */
  guint  n_exits;   /* routers in the country */
  guint  n_up;      /* of which up */
} ExgCountryRow;

/* No exit of the country is up (down, or still being checked): pickers
 * list it greyed out, so that it does not vanish while it is checked. */
#define exg_country_row_all_down(row) ((row)->n_up == 0)

#define EXG_TYPE_COUNTRY_LIST (exg_country_list_get_type ())
G_DECLARE_FINAL_TYPE (ExgCountryList, exg_country_list, EXG, COUNTRY_LIST, GObject)

/* Follows @registry: its changes (a reload is many, counted once, when
 * idle, and always said with ::changed) and, every @interval_ms when
 * nonzero, its routers' states, which change without changing the list
 * (said when a count differs).  0: only exg_country_list_refresh (). */
ExgCountryList      *exg_country_list_new             (ExgRouterRegistry *registry,
                                                       guint              interval_ms);
/* Every country with at least one router, by name in the user's
 * language; routers of unknown country are in no row. */
guint                exg_country_list_get_n_rows      (ExgCountryList    *self);
const ExgCountryRow *exg_country_list_get_row         (ExgCountryList    *self,
                                                       guint              position);
/* The row of @code (any case), or NULL. */
const ExgCountryRow *exg_country_list_lookup          (ExgCountryList    *self,
                                                       const char        *code);
/* Routers up in all, those of unknown country too ("Any country"). */
guint                exg_country_list_get_n_up        (ExgCountryList    *self);
/* Recounts now; emits ::changed and returns TRUE when anything differs. */
gboolean             exg_country_list_refresh         (ExgCountryList    *self);

G_END_DECLS
