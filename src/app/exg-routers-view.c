/* exg-routers-view.c
 *
 * Routers are few (tens, or a few thousand tor relays): the list is
 * rebuilt when the registry changes and the figures are refreshed every
 * few seconds.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-routers-view.h"

#include "exg-application.h"
#include "exg-country.h"
#include "exg-view-util.h"

#include <glib/gi18n.h>

struct _ExgRoutersView
{
  GtkBox             parent_instance;

  ExgRouterRegistry *registry;    /* owned */
  GtkTreeView       *tree_view;
  GtkListStore      *store;       /* owned */
  guint              tick_id;
  guint              rebuild_id;
};

G_DEFINE_FINAL_TYPE (ExgRoutersView, exg_routers_view, GTK_TYPE_BOX)

static const char *
kind_label (ExgRouterKind kind)
{
  switch (kind)
    {
    case EXG_ROUTER_KIND_DIRECT:       return C_("router kind", "Direct");
    case EXG_ROUTER_KIND_SOCKS5:       return C_("router kind", "SOCKS5");
    case EXG_ROUTER_KIND_SOCKS4A:      return C_("router kind", "SOCKS4a");
    case EXG_ROUTER_KIND_HTTP_CONNECT: return C_("router kind", "HTTP CONNECT");
    case EXG_ROUTER_KIND_TOR:          return C_("router kind", "Tor");
    default:                           return "";
    }
}

static void
set_row (ExgRoutersView *self,
         GtkTreeIter    *iter,
         ExgRouter      *router,
         gboolean        all)
{
  if (all)
    {
      const char *country = exg_router_get_country (router);
      g_autofree char *flag = exg_country_dup_flag (country);
      g_autofree char *country_text = country[0] != '\0'
        ? g_strdup_printf ("%s %s", flag, exg_country_get_name (country))
        : g_strdup (_("Unknown"));

      gtk_list_store_set (self->store, iter,
                          EXG_ROUTER_COL_ID, exg_router_get_id (router),
                          EXG_ROUTER_COL_NAME, exg_router_get_name (router),
                          EXG_ROUTER_COL_KIND, kind_label (exg_router_get_kind (router)),
                          EXG_ROUTER_COL_ADDRESS, exg_router_get_address (router),
                          EXG_ROUTER_COL_COUNTRY, country_text,
                          EXG_ROUTER_COL_BANDWIDTH, exg_router_get_bandwidth (router),
                          -1);
    }
  gtk_list_store_set (self->store, iter,
                      EXG_ROUTER_COL_OBSERVED, exg_router_get_observed_throughput (router),
                      EXG_ROUTER_COL_LATENCY, exg_router_get_observed_latency (router),
                      EXG_ROUTER_COL_UP,
                      exg_router_get_state (router) != EXG_ROUTER_STATE_DOWN,
                      EXG_ROUTER_COL_STATE, exg_router_get_state (router),
                      -1);
}

static void
rebuild (ExgRoutersView *self)
{
  GListModel *model = G_LIST_MODEL (self->registry);
  guint n = g_list_model_get_n_items (model);

  gtk_list_store_clear (self->store);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(ExgRouter) router = g_list_model_get_item (model, i);
      GtkTreeIter iter;

      gtk_list_store_append (self->store, &iter);
      set_row (self, &iter, router, TRUE);
    }
}

static gboolean
tick_cb (gpointer user_data)
{
  ExgRoutersView *self = user_data;
  GtkTreeModel *model = GTK_TREE_MODEL (self->store);
  GtkTreeIter iter;
  gboolean valid;

  if (self->registry == NULL || !gtk_widget_get_mapped (GTK_WIDGET (self)))
    return G_SOURCE_CONTINUE;

  for (valid = gtk_tree_model_get_iter_first (model, &iter); valid;
       valid = gtk_tree_model_iter_next (model, &iter))
    {
      g_autofree char *id = NULL;
      ExgRouter *router;

      gtk_tree_model_get (model, &iter, EXG_ROUTER_COL_ID, &id, -1);
      router = exg_router_registry_lookup (self->registry, id);
      if (router != NULL)
        set_row (self, &iter, router, FALSE);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
rebuild_idle (gpointer user_data)
{
  ExgRoutersView *self = user_data;

  self->rebuild_id = 0;
  rebuild (self);
  return G_SOURCE_REMOVE;
}

/* a reload changes every router, one signal each: rebuild once */
static void
items_changed_cb (GListModel     *model,
                  guint           position,
                  guint           removed,
                  guint           added,
                  ExgRoutersView *self)
{
  if (self->rebuild_id == 0)
    self->rebuild_id = g_idle_add (rebuild_idle, self);
}

void
exg_routers_view_set_registry (ExgRoutersView    *self,
                               ExgRouterRegistry *registry)
{
  g_return_if_fail (EXG_IS_ROUTERS_VIEW (self));
  g_return_if_fail (EXG_IS_ROUTER_REGISTRY (registry));

  if (self->registry != NULL)
    g_signal_handlers_disconnect_by_data (self->registry, self);
  g_set_object (&self->registry, registry);
  g_signal_connect_object (registry, "items-changed",
                           G_CALLBACK (items_changed_cb), self, 0);
  rebuild (self);
}

GtkListStore *
exg_routers_view_get_store (ExgRoutersView *self)
{
  g_return_val_if_fail (EXG_IS_ROUTERS_VIEW (self), NULL);
  return self->store;
}

static void
bandwidth_cell_func (GtkTreeViewColumn *column,
                     GtkCellRenderer   *cell,
                     GtkTreeModel      *model,
                     GtkTreeIter       *iter,
                     gpointer           user_data)
{
  g_autofree char *text = NULL;

  if (GPOINTER_TO_INT (user_data) == EXG_ROUTER_COL_BANDWIDTH)
    {
      guint64 bw;

      gtk_tree_model_get (model, iter, EXG_ROUTER_COL_BANDWIDTH, &bw, -1);
      text = bw > 0 ? exg_format_bandwidth ((double) bw) : g_strdup (_("Unknown"));
    }
  else
    {
      double bw;

      gtk_tree_model_get (model, iter, EXG_ROUTER_COL_OBSERVED, &bw, -1);
      text = bw > 0 ? exg_format_bandwidth (bw) : g_strdup ("");
    }
  g_object_set (cell, "text", text, NULL);
}

static void
latency_cell_func (GtkTreeViewColumn *column,
                   GtkCellRenderer   *cell,
                   GtkTreeModel      *model,
                   GtkTreeIter       *iter,
                   gpointer           user_data)
{
  g_autofree char *text = NULL;
  gint64 us;

  gtk_tree_model_get (model, iter, EXG_ROUTER_COL_LATENCY, &us, -1);
  /* Translators: a latency in milliseconds */
  text = us >= 0 ? g_strdup_printf (_("%.0f ms"), us / 1000.0) : g_strdup ("");
  g_object_set (cell, "text", text, NULL);
}

static void
up_cell_func (GtkTreeViewColumn *column,
              GtkCellRenderer   *cell,
              GtkTreeModel      *model,
              GtkTreeIter       *iter,
              gpointer           user_data)
{
  int state;
  const char *text;

  /* what was last observed: a router just added or edited, or one whose
   * connect just failed, is being checked, not "Up" */
  gtk_tree_model_get (model, iter, EXG_ROUTER_COL_STATE, &state, -1);
  switch (state)
    {
    case EXG_ROUTER_STATE_UP:
      text = C_("router state", "Up");
      break;
    case EXG_ROUTER_STATE_CHECKING:
      text = C_("router state", "Checking…");
      break;
    case EXG_ROUTER_STATE_DOWN:
    default:
      text = C_("router state", "Down");
      break;
    }
  g_object_set (cell, "text", text, NULL);
}

static void
add_column (ExgRoutersView      *self,
            const char          *title,
            int                  model_column,
            GtkTreeCellDataFunc  func)
{
  GtkCellRenderer *cell;
  GtkTreeViewColumn *column = exg_view_text_column_new (title, model_column,
                                                        func, &cell);

  gtk_tree_view_column_add_attribute (column, cell, "sensitive",
                                      EXG_ROUTER_COL_UP);
  gtk_tree_view_column_set_sort_column_id (column, model_column);
  gtk_tree_view_append_column (self->tree_view, column);
}

static void
exg_routers_view_dispose (GObject *object)
{
  ExgRoutersView *self = EXG_ROUTERS_VIEW (object);

  g_clear_handle_id (&self->tick_id, g_source_remove);
  g_clear_handle_id (&self->rebuild_id, g_source_remove);
  g_clear_object (&self->store);
  g_clear_object (&self->registry);

  G_OBJECT_CLASS (exg_routers_view_parent_class)->dispose (object);
}

static void
exg_routers_view_class_init (ExgRoutersViewClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = exg_routers_view_dispose;
}

static void
exg_routers_view_init (ExgRoutersView *self)
{
  GtkWidget *scrolled;

  gtk_orientable_set_orientation (GTK_ORIENTABLE (self),
                                  GTK_ORIENTATION_VERTICAL);

  self->store = gtk_list_store_new (EXG_ROUTER_N_COLUMNS, G_TYPE_STRING,
                                    G_TYPE_STRING,
                                    G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_UINT64,
                                    G_TYPE_DOUBLE, G_TYPE_INT64, G_TYPE_BOOLEAN,
                                    G_TYPE_INT);
  self->tree_view = GTK_TREE_VIEW (gtk_tree_view_new_with_model (GTK_TREE_MODEL (self->store)));
  atk_object_set_name (gtk_widget_get_accessible (GTK_WIDGET (self->tree_view)),
                       _("Routers"));
  add_column (self, _("Name"), EXG_ROUTER_COL_NAME, NULL);
  add_column (self, _("Kind"), EXG_ROUTER_COL_KIND, NULL);
  add_column (self, _("Address"), EXG_ROUTER_COL_ADDRESS, NULL);
  add_column (self, _("Country"), EXG_ROUTER_COL_COUNTRY, NULL);
  add_column (self, _("Advertised"), EXG_ROUTER_COL_BANDWIDTH,
              bandwidth_cell_func);
  add_column (self, _("Observed"), EXG_ROUTER_COL_OBSERVED,
              bandwidth_cell_func);
  add_column (self, _("Latency"), EXG_ROUTER_COL_LATENCY, latency_cell_func);
  add_column (self, _("State"), EXG_ROUTER_COL_STATE, up_cell_func);

  scrolled = gtk_scrolled_window_new (NULL, NULL);
  gtk_container_add (GTK_CONTAINER (scrolled), GTK_WIDGET (self->tree_view));
  gtk_box_pack_start (GTK_BOX (self), scrolled, TRUE, TRUE, 0);
  gtk_widget_show_all (GTK_WIDGET (self));

  self->tick_id = g_timeout_add_seconds (2, tick_cb, self);
}
