/* exg-country-list.c
 *
 * The rows are recounted from the registry on each refresh and compared
 * with the last ones: ::changed is said only when a picker would show
 * something else, so the views rebuild their menus rarely, not on every
 * tick (a tor consensus has thousands of routers, in some eighty
 * countries).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-country-list.h"

#include "exg-country.h"
#include <string.h>

struct _ExgCountryList
{
  GObject            parent_instance;

  ExgRouterRegistry *registry;   /* owned */
  GPtrArray         *rows;       /* owned: ExgCountryRow, sorted by name */
  guint              n_up;
  guint              idle_id;
  guint              tick_id;
};

enum {
  SIGNAL_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (ExgCountryList, exg_country_list, G_TYPE_OBJECT)

static void
country_row_free (ExgCountryRow *row)
{
  g_free (row->code);
  g_free (row->name);
  g_free (row);
}

static int
country_row_compare (gconstpointer a,
                     gconstpointer b)
{
  const ExgCountryRow *ra = *(ExgCountryRow * const *) a;
  const ExgCountryRow *rb = *(ExgCountryRow * const *) b;
  int by_name = g_utf8_collate (ra->name, rb->name);

  return by_name != 0 ? by_name : strcmp (ra->code, rb->code);
}

/* code (upper case) → row, one walk over the routers */
static GPtrArray *
count_rows (ExgRouterRegistry *registry,
            guint             *n_up)
{
  GListModel *model = G_LIST_MODEL (registry);
  guint n = g_list_model_get_n_items (model);
  g_autoptr(GHashTable) by_code = g_hash_table_new (g_str_hash, g_str_equal);
  GPtrArray *rows = g_ptr_array_new_with_free_func ((GDestroyNotify) country_row_free);

  *n_up = 0;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(ExgRouter) router = g_list_model_get_item (model, i);
      const char *country = exg_router_get_country (router);
      gboolean up = exg_router_get_up (router);
      g_autofree char *code = NULL;
      ExgCountryRow *row;

      if (up)
        (*n_up)++;
      if (country == NULL || country[0] == '\0')
        continue;               /* only "Any country" gets these */
      code = g_ascii_strup (country, -1);
      row = g_hash_table_lookup (by_code, code);
      if (row == NULL)
        {
          row = g_new0 (ExgCountryRow, 1);
          row->code = g_steal_pointer (&code);
          row->name = g_strdup (exg_country_get_name (row->code));
          g_hash_table_insert (by_code, row->code, row);
          g_ptr_array_add (rows, row);
        }
      row->n_exits++;
      if (up)
        row->n_up++;
    }
  g_ptr_array_sort (rows, country_row_compare);
  return rows;
}

static gboolean
rows_equal (GPtrArray *a,
            GPtrArray *b)
{
  if (a == NULL || b == NULL || a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++)
    {
      const ExgCountryRow *ra = g_ptr_array_index (a, i);
      const ExgCountryRow *rb = g_ptr_array_index (b, i);

      if (!g_str_equal (ra->code, rb->code) || ra->n_exits != rb->n_exits
          || ra->n_up != rb->n_up)
        return FALSE;
    }
  return TRUE;
}

/* @list_changed: the registry's list changed, so pickers pick again
 * even when the counts stay the same */
static gboolean
recount (ExgCountryList *self,
         gboolean        list_changed)
{
  g_autoptr(GPtrArray) rows = NULL;
  guint n_up;

  rows = count_rows (self->registry, &n_up);
  if (!list_changed && n_up == self->n_up && rows_equal (rows, self->rows))
    return FALSE;
  g_clear_pointer (&self->rows, g_ptr_array_unref);
  self->rows = g_steal_pointer (&rows);
  self->n_up = n_up;
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
  return TRUE;
}

gboolean
exg_country_list_refresh (ExgCountryList *self)
{
  g_return_val_if_fail (EXG_IS_COUNTRY_LIST (self), FALSE);
  return recount (self, FALSE);
}

static gboolean
refresh_idle (gpointer user_data)
{
  ExgCountryList *self = user_data;

  self->idle_id = 0;
  recount (self, TRUE);
  return G_SOURCE_REMOVE;
}

/* a reload replaces every router, one items-changed each (thousands for
 * tor): count once, afterwards */
static void
registry_changed_cb (GListModel     *model,
                     guint           position,
                     guint           removed,
                     guint           added,
                     ExgCountryList *self)
{
  if (self->idle_id == 0)
    self->idle_id = g_idle_add (refresh_idle, self);
}

static gboolean
tick_cb (gpointer user_data)
{
  exg_country_list_refresh (user_data);
  return G_SOURCE_CONTINUE;
}

guint
exg_country_list_get_n_rows (ExgCountryList *self)
{
  g_return_val_if_fail (EXG_IS_COUNTRY_LIST (self), 0);
  return self->rows->len;
}

const ExgCountryRow *
exg_country_list_get_row (ExgCountryList *self,
                          guint           position)
{
  g_return_val_if_fail (EXG_IS_COUNTRY_LIST (self), NULL);
  g_return_val_if_fail (position < self->rows->len, NULL);
  return g_ptr_array_index (self->rows, position);
}

const ExgCountryRow *
exg_country_list_lookup (ExgCountryList *self,
                         const char     *code)
{
  g_return_val_if_fail (EXG_IS_COUNTRY_LIST (self), NULL);

  if (code == NULL)
    return NULL;
  for (guint i = 0; i < self->rows->len; i++)
    {
      const ExgCountryRow *row = g_ptr_array_index (self->rows, i);

      if (g_ascii_strcasecmp (row->code, code) == 0)
        return row;
    }
  return NULL;
}

guint
exg_country_list_get_n_up (ExgCountryList *self)
{
  g_return_val_if_fail (EXG_IS_COUNTRY_LIST (self), 0);
  return self->n_up;
}

static void
exg_country_list_dispose (GObject *object)
{
  ExgCountryList *self = EXG_COUNTRY_LIST (object);

  g_clear_handle_id (&self->idle_id, g_source_remove);
  g_clear_handle_id (&self->tick_id, g_source_remove);
  if (self->registry != NULL)
    g_signal_handlers_disconnect_by_data (self->registry, self);
  g_clear_object (&self->registry);

  G_OBJECT_CLASS (exg_country_list_parent_class)->dispose (object);
}

static void
exg_country_list_finalize (GObject *object)
{
  ExgCountryList *self = EXG_COUNTRY_LIST (object);

  g_clear_pointer (&self->rows, g_ptr_array_unref);

  G_OBJECT_CLASS (exg_country_list_parent_class)->finalize (object);
}

static void
exg_country_list_class_init (ExgCountryListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = exg_country_list_dispose;
  object_class->finalize = exg_country_list_finalize;

  /**
   * ExgCountryList::changed:
   *
   * The rows or the number of routers up differ from what they were, or
   * the registry's list changed (routers added or removed, said once,
   * when idle): pickers then pick again.
   */
  signals[SIGNAL_CHANGED] =
    g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
exg_country_list_init (ExgCountryList *self)
{
}

ExgCountryList *
exg_country_list_new (ExgRouterRegistry *registry,
                      guint              interval_ms)
{
  ExgCountryList *self;

  g_return_val_if_fail (EXG_IS_ROUTER_REGISTRY (registry), NULL);

  self = g_object_new (EXG_TYPE_COUNTRY_LIST, NULL);
  self->registry = g_object_ref (registry);
  self->rows = count_rows (registry, &self->n_up);
  g_signal_connect (registry, "items-changed",
                    G_CALLBACK (registry_changed_cb), self);
  if (interval_ms > 0)
    self->tick_id = g_timeout_add (interval_ms, tick_cb, self);
  return self;
}
