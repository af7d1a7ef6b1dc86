/* exg-traffic-graph.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-traffic-graph.h"

#include "exg-application.h"

#include <glib/gi18n.h>
#include <string.h>

#define N_SAMPLES 300          /* five minutes, one a second */

struct _ExgTrafficGraph
{
  GtkDrawingArea parent_instance;

  ExgActivity   *activity;     /* owned */
  double         up[N_SAMPLES];   /* ring buffers of bytes/s */
  double         down[N_SAMPLES];
  guint          head;         /* index of the next sample */
  guint          count;        /* samples taken, ≤ N_SAMPLES */
  guint64        last_up;
  guint64        last_down;
  gint64         last_time;    /* monotonic µs; 0 before the first sample */
  guint          tick_id;
};

G_DEFINE_FINAL_TYPE (ExgTrafficGraph, exg_traffic_graph, GTK_TYPE_DRAWING_AREA)

void
exg_traffic_graph_sample (ExgTrafficGraph *self)
{
  guint64 up = 0, down = 0;
  gint64 now = g_get_monotonic_time ();

  g_return_if_fail (EXG_IS_TRAFFIC_GRAPH (self));

  if (self->activity == NULL)
    return;
  exg_activity_get_totals (self->activity, &up, &down);
  if (self->last_time > 0 && now > self->last_time)
    {
      double seconds = (now - self->last_time) / (double) G_USEC_PER_SEC;

      self->up[self->head] = (up - self->last_up) / seconds;
      self->down[self->head] = (down - self->last_down) / seconds;
      self->head = (self->head + 1) % N_SAMPLES;
      self->count = MIN (self->count + 1, N_SAMPLES);
      gtk_widget_queue_draw (GTK_WIDGET (self));
    }
  self->last_up = up;
  self->last_down = down;
  self->last_time = now;
}

void
exg_traffic_graph_get_rates (ExgTrafficGraph *self,
                             double          *up,
                             double          *down)
{
  guint last = (self->head + N_SAMPLES - 1) % N_SAMPLES;

  g_return_if_fail (EXG_IS_TRAFFIC_GRAPH (self));
  *up = self->count > 0 ? self->up[last] : 0;
  *down = self->count > 0 ? self->down[last] : 0;
}

void
exg_traffic_graph_get_peaks (ExgTrafficGraph *self,
                             double          *up,
                             double          *down)
{
  g_return_if_fail (EXG_IS_TRAFFIC_GRAPH (self));

  *up = *down = 0;
  /* unused slots are zero */
  for (guint i = 0; i < N_SAMPLES; i++)
    {
      *up = MAX (*up, self->up[i]);
      *down = MAX (*down, self->down[i]);
    }
}

static gboolean
tick_cb (gpointer user_data)
{
  exg_traffic_graph_sample (user_data);
  return G_SOURCE_CONTINUE;
}

void
exg_traffic_graph_set_activity (ExgTrafficGraph *self,
                                ExgActivity     *activity)
{
  g_return_if_fail (EXG_IS_TRAFFIC_GRAPH (self));

  g_set_object (&self->activity, activity);
  self->count = self->head = 0;
  self->last_time = 0;
  memset (self->up, 0, sizeof self->up);
  memset (self->down, 0, sizeof self->down);
  exg_traffic_graph_sample (self);
}

static void
draw_series (cairo_t      *cr,
             const double *values,
             guint         head,
             guint         count,
             double        max,
             double        x0,
             double        y0,
             double        width,
             double        height)
{
  double step = width / (N_SAMPLES - 1);

  for (guint i = 0; i < count; i++)
    {
      /* oldest on the left, newest at the right edge */
      guint index = (head + N_SAMPLES - count + i) % N_SAMPLES;
      double x = x0 + width - (count - 1 - i) * step;
      double y = y0 + height - values[index] / max * height;

      if (i == 0)
        cairo_move_to (cr, x, y);
      else
        cairo_line_to (cr, x, y);
    }
  cairo_stroke (cr);
}

static gboolean
exg_traffic_graph_draw (GtkWidget *widget,
                        cairo_t   *cr)
{
  ExgTrafficGraph *self = EXG_TRAFFIC_GRAPH (widget);
  GtkStyleContext *context = gtk_widget_get_style_context (widget);
  int width = gtk_widget_get_allocated_width (widget);
  int height = gtk_widget_get_allocated_height (widget);
  double x0 = 12, y0 = 36, w = width - 24, h = height - 60;
  double max = 1024;
  double up = 0, down = 0, peak_up = 0, peak_down = 0;
  g_autofree char *max_text = NULL;
  g_autofree char *up_text = NULL;
  g_autofree char *down_text = NULL;
  g_autofree char *legend = NULL;
  PangoLayout *layout;
  GdkRGBA fg;

  gtk_render_background (context, cr, 0, 0, width, height);
  if (w < 10 || h < 10)
    return GDK_EVENT_PROPAGATE;

  gtk_style_context_get_color (context, gtk_style_context_get_state (context),
                               &fg);
  exg_traffic_graph_get_peaks (self, &peak_up, &peak_down);
  max = MAX (max, MAX (peak_up, peak_down)) * 1.1;

  /* frame and grid */
  cairo_set_line_width (cr, 1);
  gdk_cairo_set_source_rgba (cr, &fg);
  cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.2);
  for (int i = 0; i <= 4; i++)
    {
      cairo_move_to (cr, x0, y0 + 0.5 + (int) (h * i / 4));
      cairo_line_to (cr, x0 + w, y0 + 0.5 + (int) (h * i / 4));
    }
  cairo_stroke (cr);

  cairo_set_line_width (cr, 2);
  cairo_set_source_rgb (cr, 0.21, 0.52, 0.89);      /* down: blue */
  draw_series (cr, self->down, self->head, self->count, max, x0, y0, w, h);
  cairo_set_source_rgb (cr, 0.90, 0.38, 0.0);       /* up: orange */
  draw_series (cr, self->up, self->head, self->count, max, x0, y0, w, h);

  exg_traffic_graph_get_rates (self, &up, &down);
  max_text = exg_format_rate (max);
  up_text = exg_format_rate (up);
  down_text = exg_format_rate (down);
  /* Translators: the graph's legend: current download and upload rates
   * and the scale; the graph shows the last five minutes */
  legend = g_strdup_printf (_("Down %s   Up %s   (last 5 minutes, top %s)"),
                            down_text, up_text, max_text);
  layout = gtk_widget_create_pango_layout (widget, legend);
  gdk_cairo_set_source_rgba (cr, &fg);
  cairo_move_to (cr, x0, 8);
  pango_cairo_show_layout (cr, layout);
  g_object_unref (layout);

  return GDK_EVENT_PROPAGATE;
}

static void
exg_traffic_graph_dispose (GObject *object)
{
  ExgTrafficGraph *self = EXG_TRAFFIC_GRAPH (object);

  g_clear_handle_id (&self->tick_id, g_source_remove);
  g_clear_object (&self->activity);

  G_OBJECT_CLASS (exg_traffic_graph_parent_class)->dispose (object);
}

static void
exg_traffic_graph_class_init (ExgTrafficGraphClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = exg_traffic_graph_dispose;
  GTK_WIDGET_CLASS (klass)->draw = exg_traffic_graph_draw;
  gtk_widget_class_set_css_name (GTK_WIDGET_CLASS (klass), "exg-traffic-graph");
}

static void
exg_traffic_graph_init (ExgTrafficGraph *self)
{
  gtk_widget_set_size_request (GTK_WIDGET (self), 300, 160);
  atk_object_set_name (gtk_widget_get_accessible (GTK_WIDGET (self)),
                       _("Traffic graph"));
  self->tick_id = g_timeout_add_seconds (1, tick_cb, self);
}
