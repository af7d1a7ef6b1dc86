/* exg-router-registry.c: the routers, as a GListModel, and selection.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-router-registry.h"

#include "exg-error.h"

struct _ExgRouterRegistry
{
  GObject    parent_instance;

  GPtrArray *routers;     /* (element-type ExgRouter) owned, in insertion order */
};

static void exg_router_registry_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (ExgRouterRegistry, exg_router_registry,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      exg_router_registry_list_model_init))

static GType
exg_router_registry_get_item_type (GListModel *model)
{
  return EXG_TYPE_ROUTER;
}

static guint
exg_router_registry_get_n_items (GListModel *model)
{
  return EXG_ROUTER_REGISTRY (model)->routers->len;
}

static gpointer
exg_router_registry_get_item (GListModel *model,
                              guint       position)
{
  ExgRouterRegistry *self = EXG_ROUTER_REGISTRY (model);

  if (position >= self->routers->len)
    return NULL;
  return g_object_ref (g_ptr_array_index (self->routers, position));
}

static void
exg_router_registry_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = exg_router_registry_get_item_type;
  iface->get_n_items = exg_router_registry_get_n_items;
  iface->get_item = exg_router_registry_get_item;
}

static void
exg_router_registry_finalize (GObject *object)
{
  ExgRouterRegistry *self = EXG_ROUTER_REGISTRY (object);

  g_clear_pointer (&self->routers, g_ptr_array_unref);

  G_OBJECT_CLASS (exg_router_registry_parent_class)->finalize (object);
}

static void
exg_router_registry_class_init (ExgRouterRegistryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = exg_router_registry_finalize;
}

static void
exg_router_registry_init (ExgRouterRegistry *self)
{
  self->routers = g_ptr_array_new_with_free_func (g_object_unref);
}

ExgRouterRegistry *
exg_router_registry_new (void)
{
  return g_object_new (EXG_TYPE_ROUTER_REGISTRY, NULL);
}

static gboolean
find_router (ExgRouterRegistry *self,
             const char        *id,
             guint             *index)
{
  for (guint i = 0; i < self->routers->len; i++)
    {
      ExgRouter *router = g_ptr_array_index (self->routers, i);

      if (g_str_equal (exg_router_get_id (router), id))
        {
          *index = i;
          return TRUE;
        }
    }
  return FALSE;
}

/**
 * exg_router_registry_add:
 * @router: (transfer none): a router; one with the same id is replaced
 */
void
exg_router_registry_add (ExgRouterRegistry *self,
                         ExgRouter         *router)
{
  guint index;

  g_return_if_fail (EXG_IS_ROUTER_REGISTRY (self));
  g_return_if_fail (EXG_IS_ROUTER (router));

  if (find_router (self, exg_router_get_id (router), &index))
    {
      ExgRouter *old = g_ptr_array_index (self->routers, index);

      /* a plain store does not run the free func: drop the old ref here */
      g_ptr_array_index (self->routers, index) = g_object_ref (router);
      g_object_unref (old);
      g_list_model_items_changed (G_LIST_MODEL (self), index, 1, 1);
      return;
    }

  g_ptr_array_add (self->routers, g_object_ref (router));
  g_list_model_items_changed (G_LIST_MODEL (self), self->routers->len - 1, 0,
                              1);
}

gboolean
exg_router_registry_remove (ExgRouterRegistry *self,
                            const char        *id)
{
  guint index;

  g_return_val_if_fail (EXG_IS_ROUTER_REGISTRY (self), FALSE);
  g_return_val_if_fail (id != NULL, FALSE);

  if (!find_router (self, id, &index))
    return FALSE;
  g_ptr_array_remove_index (self->routers, index);
  g_list_model_items_changed (G_LIST_MODEL (self), index, 1, 0);
  return TRUE;
}

void
exg_router_registry_remove_all (ExgRouterRegistry *self)
{
  guint n;

  g_return_if_fail (EXG_IS_ROUTER_REGISTRY (self));

  n = self->routers->len;
  if (n == 0)
    return;
  g_ptr_array_set_size (self->routers, 0);
  g_list_model_items_changed (G_LIST_MODEL (self), 0, n, 0);
}

/**
 * exg_router_registry_sync:
 * @previous: (element-type utf8 utf8): the ids the source added before;
 *   updated
 * @routers: (element-type ExgRouter): the source's routers now
 *
 * One interface for every router source (the config's exits, tor's
 * consensus): what is new is added, what went is removed, what changed is
 * replaced, and what stayed is left alone.
 */
void
exg_router_registry_sync (ExgRouterRegistry *self,
                          GHashTable        *previous,
                          GPtrArray         *routers)
{
  g_autoptr(GHashTable) now = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  const char *id;

  g_return_if_fail (EXG_IS_ROUTER_REGISTRY (self));
  g_return_if_fail (previous != NULL && routers != NULL);

  for (guint i = 0; i < routers->len; i++)
    g_hash_table_add (now, (gpointer) exg_router_get_id (g_ptr_array_index (routers, i)));

  g_hash_table_iter_init (&iter, previous);
  while (g_hash_table_iter_next (&iter, (gpointer *) &id, NULL))
    if (!g_hash_table_contains (now, id))
      {
        exg_router_registry_remove (self, id);
        g_hash_table_iter_remove (&iter);
      }

  for (guint i = 0; i < routers->len; i++)
    {
      ExgRouter *router = g_ptr_array_index (routers, i);
      ExgRouter *old = exg_router_registry_lookup (self, exg_router_get_id (router));

      if (old != NULL && exg_router_get_digest (router) != NULL &&
          g_strcmp0 (exg_router_get_digest (old), exg_router_get_digest (router)) == 0)
        continue;
      exg_router_registry_add (self, router);
      g_hash_table_add (previous, g_strdup (exg_router_get_id (router)));
    }
}

/**
 * exg_router_registry_lookup:
 *
 * Returns: (transfer none) (nullable): the router with @id
 */
ExgRouter *
exg_router_registry_lookup (ExgRouterRegistry *self,
                            const char        *id)
{
  guint index;

  g_return_val_if_fail (EXG_IS_ROUTER_REGISTRY (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  if (!find_router (self, id, &index))
    return NULL;
  return g_ptr_array_index (self->routers, index);
}

static gboolean
is_excluded (GPtrArray *exclude,
             ExgRouter *router)
{
  if (exclude == NULL)
    return FALSE;
  for (guint i = 0; i < exclude->len; i++)
    if (g_ptr_array_index (exclude, i) == router)
      return TRUE;
  return FALSE;
}

/* Not believed down: UP, or CHECKING (new or suspect, worth a try). */
static gboolean
is_usable (ExgRouter *router)
{
  return exg_router_get_state (router) != EXG_ROUTER_STATE_DOWN;
}

ExgRouter *
exg_router_registry_pick (ExgRouterRegistry  *self,
                          const ExgSelection *sel,
                          GPtrArray          *exclude,
                          GError            **error)
{
  ExgSelection any;
  ExgRouter *heaviest_down = NULL;
  guint64 total = 0;
  guint64 ticket;

  g_return_val_if_fail (EXG_IS_ROUTER_REGISTRY (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (sel == NULL)
    {
      exg_selection_init_any (&any);
      sel = &any;
    }

  for (guint i = 0; i < self->routers->len; i++)
    {
      ExgRouter *router = g_ptr_array_index (self->routers, i);

      if (!exg_selection_matches (sel, router) || is_excluded (exclude, router))
        continue;
      if (is_usable (router))
        total += MAX (exg_router_get_bandwidth (router), 1);
      else if (heaviest_down == NULL ||
               exg_router_get_bandwidth (router) >
               exg_router_get_bandwidth (heaviest_down))
        heaviest_down = router;
    }

  if (total == 0)
    {
      g_autofree char *text = NULL;

      /* a down mark must never turn a working exit into a refusal: when
       * only routers believed down match, they are tried, in weight order
       * (the caller excludes each one it tried) */
      if (heaviest_down != NULL)
        return g_object_ref (heaviest_down);

      text = exg_selection_to_string (sel);
      g_set_error (error, EXG_ERROR, EXG_ERROR_NO_ROUTER,
                   "No exit matches the selection (%s)", text);
      return NULL;
    }

  /* weighted by bandwidth: draw a ticket in [0, total) and walk the
   * matching routers until their cumulative weight passes it */
  ticket = (guint64) (g_random_double () * (double) total);
  if (ticket >= total)
    ticket = total - 1;

  for (guint i = 0; i < self->routers->len; i++)
    {
      ExgRouter *router = g_ptr_array_index (self->routers, i);
      guint64 weight;

      if (!exg_selection_matches (sel, router) ||
          is_excluded (exclude, router) || !is_usable (router))
        continue;
      weight = MAX (exg_router_get_bandwidth (router), 1);
      if (ticket < weight)
        return g_object_ref (router);
      ticket -= weight;
    }

  g_assert_not_reached ();
  return NULL;
}

GHashTable *
exg_router_registry_count_countries (ExgRouterRegistry *self)
{
  GHashTable *counts;

  g_return_val_if_fail (EXG_IS_ROUTER_REGISTRY (self), NULL);

  counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < self->routers->len; i++)
    {
      ExgRouter *router = g_ptr_array_index (self->routers, i);
      const char *country = exg_router_get_country (router);
      guint n;

      if (!exg_router_get_up (router) || country[0] == '\0')
        continue;
      n = GPOINTER_TO_UINT (g_hash_table_lookup (counts, country));
      g_hash_table_replace (counts, g_strdup (country),
                            GUINT_TO_POINTER (n + 1));
    }
  return counts;
}

guint
exg_router_registry_count_up (ExgRouterRegistry *self)
{
  guint n = 0;

  g_return_val_if_fail (EXG_IS_ROUTER_REGISTRY (self), 0);

  for (guint i = 0; i < self->routers->len; i++)
    if (exg_router_get_up (g_ptr_array_index (self->routers, i)))
      n++;
  return n;
}
