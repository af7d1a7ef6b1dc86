/* exg-traffic-graph.h: total up/down rate over the last five minutes,
 * sampled once a second from the activity totals.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "exg-core.h"

G_BEGIN_DECLS

#define EXG_TYPE_TRAFFIC_GRAPH (exg_traffic_graph_get_type ())
G_DECLARE_FINAL_TYPE (ExgTrafficGraph, exg_traffic_graph, EXG, TRAFFIC_GRAPH, GtkDrawingArea)

void     exg_traffic_graph_set_activity (ExgTrafficGraph *self,
                                         ExgActivity     *activity);
/* Takes one sample now (the timer calls it every second). */
void     exg_traffic_graph_sample       (ExgTrafficGraph *self);
/* The latest rates, bytes/s */
void     exg_traffic_graph_add_rates    (ExgTrafficGraph *self,
                                         double           up,
                                         double           down);
/* The gridlines: returns how many steps of *step bytes/s reach the top */
guint    exg_traffic_graph_get_scale    (ExgTrafficGraph *self,
                                         double          *step);
double   exg_traffic_graph_scale_step   (double           peak);
void     exg_traffic_graph_get_rates    (ExgTrafficGraph *self,
                                         double          *up,
                                         double          *down);
/* The highest rates over the window shown (the graph's scale) */
void     exg_traffic_graph_get_peaks    (ExgTrafficGraph *self,
                                         double          *up,
                                         double          *down);

G_END_DECLS
