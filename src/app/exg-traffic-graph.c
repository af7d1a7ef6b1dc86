/* exg-traffic-graph.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-traffic-graph.h"

#include "exg-view-util.h"

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

#define N_GRID 4                /* intervals between the gridlines */
#define MIN_TOP 1000.0          /* an idle graph still reads 0 to 1 kB/s */

/* the series' colours, which the legend shows too */
static const GdkRGBA down_colour = { 0.21, 0.52, 0.89, 1.0 };   /* blue */
static const GdkRGBA up_colour = { 0.90, 0.38, 0.0, 1.0 };      /* orange */

/**
 * exg_traffic_graph_scale_step:
 * @peak: the highest rate to show, bytes/s
 *
 * The distance between two gridlines: the smallest 1, 2, 2.5 or 5 times
 * a power of ten such that %N_GRID steps reach @peak, so every label is
 * a round number in the units the rest of the app uses.
 *
 * Returns: bytes/s between gridlines
 */
double
exg_traffic_graph_scale_step (double peak)
{
  static const double mantissas[] = { 1, 2, 2.5, 5 };
  double need = MAX (peak, MIN_TOP) / N_GRID;
  double power = 1;

  /* the power of ten at or just below need (need ≥ 250 B/s) */
  while (power * 10 <= need)
    power *= 10;

  for (guint i = 0; i < G_N_ELEMENTS (mantissas); i++)
    if (mantissas[i] * power >= need)
      return mantissas[i] * power;
  return 10 * power;
}

/**
 * exg_traffic_graph_get_scale:
 * @self: a graph
 * @step: (out): bytes/s between two gridlines
 *
 * Returns: the number of intervals; the top gridline is at that times @step
 */
guint
exg_traffic_graph_get_scale (ExgTrafficGraph *self,
                             double          *step)
{
  double peak_up, peak_down;

  g_return_val_if_fail (EXG_IS_TRAFFIC_GRAPH (self), 0);

  exg_traffic_graph_get_peaks (self, &peak_up, &peak_down);
  *step = exg_traffic_graph_scale_step (MAX (peak_up, peak_down));
  return N_GRID;
}

/* The legend in words, for screen readers (the drawing is only pixels). */
static void
update_description (ExgTrafficGraph *self)
{
  g_autofree char *up_text = NULL;
  g_autofree char *down_text = NULL;
  g_autofree char *top_text = NULL;
  g_autofree char *text = NULL;
  double up, down, step;
  guint n = exg_traffic_graph_get_scale (self, &step);

  exg_traffic_graph_get_rates (self, &up, &down);
  down_text = exg_format_bandwidth (down);
  up_text = exg_format_bandwidth (up);
  top_text = exg_format_bandwidth (n * step);
  /* Translators: the traffic graph described for screen readers: the
   * current download and upload rates, and the top of its scale */
  text = g_strdup_printf (_("Down %s, up %s; the last 5 minutes, scale up to %s"),
                          down_text, up_text, top_text);
  atk_object_set_description (gtk_widget_get_accessible (GTK_WIDGET (self)),
                              text);
}

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

      exg_traffic_graph_add_rates (self, (up - self->last_up) / seconds,
                                   (down - self->last_down) / seconds);
    }
  self->last_up = up;
  self->last_down = down;
  self->last_time = now;
}

/**
 * exg_traffic_graph_add_rates:
 * @self: a graph
 * @up: bytes/s sent in the last second
 * @down: bytes/s received in the last second
 *
 * Appends one second to the graph; exg_traffic_graph_sample() does it
 * from the activity's totals.
 */
void
exg_traffic_graph_add_rates (ExgTrafficGraph *self,
                             double           up,
                             double           down)
{
  g_return_if_fail (EXG_IS_TRAFFIC_GRAPH (self));

  self->up[self->head] = MAX (up, 0);
  self->down[self->head] = MAX (down, 0);
  self->head = (self->head + 1) % N_SAMPLES;
  self->count = MIN (self->count + 1, N_SAMPLES);
  update_description (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
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
  update_description (self);
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

/* A short line in the series' colour, then its text; returns the x after it */
static double
draw_legend_entry (GtkWidget     *widget,
                   cairo_t       *cr,
                   double         x,
                   double         y,
                   const GdkRGBA *colour,
                   const GdkRGBA *fg,
                   const char    *text)
{
  PangoLayout *layout = gtk_widget_create_pango_layout (widget, text);
  int text_width, text_height;

  pango_layout_get_pixel_size (layout, &text_width, &text_height);
  gdk_cairo_set_source_rgba (cr, colour);
  cairo_rectangle (cr, x, y + text_height / 2 - 2, 16, 4);
  cairo_fill (cr);
  gdk_cairo_set_source_rgba (cr, fg);
  cairo_move_to (cr, x + 22, y);
  pango_cairo_show_layout (cr, layout);
  g_object_unref (layout);
  return x + 22 + text_width + 18;
}

static gboolean
exg_traffic_graph_draw (GtkWidget *widget,
                        cairo_t   *cr)
{
  ExgTrafficGraph *self = EXG_TRAFFIC_GRAPH (widget);
  GtkStyleContext *context = gtk_widget_get_style_context (widget);
  int width = gtk_widget_get_allocated_width (widget);
  int height = gtk_widget_get_allocated_height (widget);
  double x0 = 12, y0 = 36, w = width - 24, h = height - 48;
  double up = 0, down = 0, step, top, x;
  guint n_grid;
  g_autofree char *up_rate = NULL;
  g_autofree char *down_rate = NULL;
  g_autofree char *up_text = NULL;
  g_autofree char *down_text = NULL;
  PangoLayout *layout;
  GdkRGBA fg;
  int text_width, text_height;

  gtk_render_background (context, cr, 0, 0, width, height);
  if (w < 10 || h < 10)
    return GDK_EVENT_PROPAGATE;

  gtk_style_context_get_color (context, gtk_style_context_get_state (context),
                               &fg);
  n_grid = exg_traffic_graph_get_scale (self, &step);
  top = n_grid * step;

  /* the scale: a labelled gridline every step, 0 at the bottom; the
   * labels hang just below their lines, inside the plot, so a long unit
   * ("2.5 MB/s (20 Mbit/s)") takes no width from the curves */
  cairo_set_line_width (cr, 1);
  for (guint i = 0; i <= n_grid; i++)
    {
      double y = y0 + 0.5 + (int) (h * (n_grid - i) / n_grid);
      g_autofree char *label = exg_format_bandwidth (step * i);

      cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.2);
      cairo_move_to (cr, x0, y);
      cairo_line_to (cr, x0 + w, y);
      cairo_stroke (cr);

      if (i == 0)
        continue;
      layout = gtk_widget_create_pango_layout (widget, label);
      pango_layout_get_pixel_size (layout, &text_width, &text_height);
      cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.6);
      cairo_move_to (cr, x0 + 4, y + 1);
      pango_cairo_show_layout (cr, layout);
      g_object_unref (layout);
    }

  cairo_set_line_width (cr, 2);
  gdk_cairo_set_source_rgba (cr, &down_colour);
  draw_series (cr, self->down, self->head, self->count, top, x0, y0, w, h);
  gdk_cairo_set_source_rgba (cr, &up_colour);
  draw_series (cr, self->up, self->head, self->count, top, x0, y0, w, h);

  /* the legend: each series' colour and its current rate */
  exg_traffic_graph_get_rates (self, &up, &down);
  down_rate = exg_format_bandwidth (down);
  up_rate = exg_format_bandwidth (up);
  /* Translators: the traffic graph's legend: the download rate now */
  down_text = g_strdup_printf (_("Down %s"), down_rate);
  /* Translators: the traffic graph's legend: the upload rate now */
  up_text = g_strdup_printf (_("Up %s"), up_rate);
  x = draw_legend_entry (widget, cr, x0, 8, &down_colour, &fg, down_text);
  x = draw_legend_entry (widget, cr, x, 8, &up_colour, &fg, up_text);

  /* what the x axis spans, at the right when there is room */
  layout = gtk_widget_create_pango_layout (widget, _("Last 5 minutes"));
  pango_layout_get_pixel_size (layout, &text_width, &text_height);
  if (x + text_width <= x0 + w)
    {
      cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.6);
      cairo_move_to (cr, x0 + w - text_width, 8);
      pango_cairo_show_layout (cr, layout);
    }
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
  update_description (self);
  self->tick_id = g_timeout_add_seconds (1, tick_cb, self);
}
