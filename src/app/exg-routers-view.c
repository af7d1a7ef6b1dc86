/* exg-routers-view.c
 *
 * Routers are few (tens, or a few thousand tor relays): the list is
 * rebuilt when the registry changes and the figures are refreshed every
 * few seconds.  A tor relay shows its fingerprint and the ports its exit
 * policy allows; the cells are kept narrow (one unit, an ellipsis) so
 * that every column fits a small window, and the row's tooltip says all
 * of it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-routers-view.h"

#include "exg-application.h"
#include "exg-country.h"
#include "exg-exit-dialog.h"
#include "exg-view-util.h"

#include <glib/gi18n.h>

#include <string.h>

struct _ExgRoutersView
{
  GtkBox             parent_instance;

  ExgRouterRegistry *registry;    /* owned */
  GtkSearchEntry    *search_entry;
  GtkTreeView       *tree_view;
  GtkListStore      *store;       /* owned */
  GtkTreeModel      *filter;      /* owned; the view's model while searching */
  char              *filter_text; /* owned, casefolded; NULL: all */
  GtkLabel          *empty_label;
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

/* A tor relay's fingerprint, from its backend or else from its id
 * ("tor:FINGERPRINT"); NULL for the exits of the exits file. */
static const char *
router_fingerprint (ExgRouter *router)
{
  ExgBackend *backend = exg_router_get_backend (router);
  const char *id = exg_router_get_id (router);

  if (backend != NULL && EXG_IS_BACKEND_TOR (backend))
    return exg_backend_tor_get_fingerprint (EXG_BACKEND_TOR (backend));
  if (exg_router_get_kind (router) == EXG_ROUTER_KIND_TOR
      && g_str_has_prefix (id, "tor:"))
    return id + strlen ("tor:");
  return NULL;
}

/* "Tor · ports 80,443": the kind, and which ports a tor exit's policy
 * lets out, since that decides which connections it may carry */
static char *
kind_text (ExgRouter *router)
{
  const char *kind = kind_label (exg_router_get_kind (router));
  const char *policy = exg_router_get_exit_policy (router);

  if (policy == NULL)
    return g_strdup (kind);
  if (g_str_has_prefix (policy, "accept "))
    /* Translators: a router kind, then the ports its exit policy allows */
    return g_strdup_printf (_("%s · ports %s"), kind,
                            policy + strlen ("accept "));
  if (g_str_has_prefix (policy, "reject "))
    /* Translators: a router kind, then the ports its exit policy refuses */
    return g_strdup_printf (_("%s · all ports but %s"), kind,
                            policy + strlen ("reject "));
  return g_strdup (kind);
}

/* The fingerprint in groups of four, as tor's tools print it */
static char *
group_fingerprint (const char *fingerprint)
{
  GString *text = g_string_new (NULL);

  for (gsize i = 0; fingerprint[i] != '\0'; i++)
    {
      if (i > 0 && i % 4 == 0)
        g_string_append_c (text, ' ');
      g_string_append_c (text, fingerprint[i]);
    }
  return g_string_free (text, FALSE);
}

/* What the narrow cells may cut, whole: kind and ports, where, the
 * fingerprint, and both bandwidths in bytes and in bits */
static char *
details_text (ExgRouter *router)
{
  const char *fingerprint = router_fingerprint (router);
  const char *address = exg_router_get_address (router);
  const char *country = exg_router_get_country (router);
  guint64 advertised = exg_router_get_bandwidth (router);
  double observed = exg_router_get_observed_throughput (router);
  g_autofree char *kind = kind_text (router);
  GString *text = g_string_new (exg_router_get_name (router));

  g_string_append_printf (text, "\n%s", kind);
  if (address[0] != '\0' && country[0] != '\0')
    g_string_append_printf (text, "\n%s · %s", address,
                            exg_country_get_name (country));
  else if (address[0] != '\0' || country[0] != '\0')
    g_string_append_printf (text, "\n%s",
                            address[0] != '\0' ? address : exg_country_get_name (country));
  if (fingerprint != NULL)
    {
      g_autofree char *grouped = group_fingerprint (fingerprint);

      /* Translators: a tor relay's fingerprint */
      g_string_append_printf (text, _("\nFingerprint: %s"), grouped);
    }
  if (advertised > 0)
    {
      g_autofree char *bw = exg_format_bandwidth ((double) advertised);

      /* Translators: the bandwidth a router advertises */
      g_string_append_printf (text, _("\nAdvertised: %s"), bw);
    }
  if (observed > 0)
    {
      g_autofree char *bw = exg_format_bandwidth (observed);

      /* Translators: the throughput seen through a router lately */
      g_string_append_printf (text, _("\nObserved: %s"), bw);
    }
  return g_string_free (text, FALSE);
}

static void
set_row (ExgRoutersView *self,
         GtkTreeIter    *iter,
         ExgRouter      *router,
         gboolean        all)
{
  g_autofree char *kind = kind_text (router);
  g_autofree char *details = details_text (router);

  if (all)
    {
      const char *country = exg_router_get_country (router);
      const char *fingerprint = router_fingerprint (router);
      g_autofree char *flag = exg_country_dup_flag (country);
      g_autofree char *country_text = country[0] != '\0'
        ? g_strdup_printf ("%s %s", flag, exg_country_get_name (country))
        : g_strdup (_("Unknown"));

      gtk_list_store_set (self->store, iter,
                          EXG_ROUTER_COL_ID, exg_router_get_id (router),
                          EXG_ROUTER_COL_NAME, exg_router_get_name (router),
                          EXG_ROUTER_COL_FINGERPRINT,
                          fingerprint != NULL ? fingerprint : "",
                          EXG_ROUTER_COL_ADDRESS, exg_router_get_address (router),
                          EXG_ROUTER_COL_COUNTRY, country_text,
                          -1);
    }
  /* a new consensus may change a relay's bandwidth and policy in place */
  gtk_list_store_set (self->store, iter,
                      EXG_ROUTER_COL_KIND, kind,
                      EXG_ROUTER_COL_BANDWIDTH, exg_router_get_bandwidth (router),
                      EXG_ROUTER_COL_OBSERVED, exg_router_get_observed_throughput (router),
                      EXG_ROUTER_COL_LATENCY, exg_router_get_observed_latency (router),
                      EXG_ROUTER_COL_UP,
                      exg_router_get_state (router) != EXG_ROUTER_STATE_DOWN,
                      EXG_ROUTER_COL_STATE, exg_router_get_state (router),
                      EXG_ROUTER_COL_DETAILS, details,
                      -1);
}

static void
update_empty (ExgRoutersView *self)
{
  exg_view_update_empty (self->empty_label, self->tree_view,
                         gtk_entry_get_text (GTK_ENTRY (self->search_entry)),
                         _("No exits yet. Add one, or connect to Tor in Preferences."));
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
  update_empty (self);
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

GtkEntry *
exg_routers_view_get_search_entry (ExgRoutersView *self)
{
  g_return_val_if_fail (EXG_IS_ROUTERS_VIEW (self), NULL);
  return GTK_ENTRY (self->search_entry);
}

GtkTreeView *
exg_routers_view_get_tree_view (ExgRoutersView *self)
{
  g_return_val_if_fail (EXG_IS_ROUTERS_VIEW (self), NULL);
  return self->tree_view;
}

static gboolean
visible_func (GtkTreeModel *model,
              GtkTreeIter  *iter,
              gpointer      user_data)
{
  ExgRoutersView *self = user_data;
  static const int columns[] = {
    EXG_ROUTER_COL_NAME, EXG_ROUTER_COL_FINGERPRINT, EXG_ROUTER_COL_KIND,
    EXG_ROUTER_COL_ADDRESS, EXG_ROUTER_COL_COUNTRY,
  };

  return exg_view_row_contains (model, iter, columns, G_N_ELEMENTS (columns),
                                self->filter_text);
}

static void
search_changed_cb (GtkSearchEntry *entry,
                   ExgRoutersView *self)
{
  exg_view_apply_search (entry, self->tree_view, self->filter,
                         GTK_TREE_MODEL (self->store), &self->filter_text);
  update_empty (self);
}

static ExgApplication *
find_application (ExgRoutersView *self)
{
  GtkWidget *toplevel = gtk_widget_get_toplevel (GTK_WIDGET (self));
  GtkApplication *app = NULL;

  if (GTK_IS_WINDOW (toplevel))
    app = gtk_window_get_application (GTK_WINDOW (toplevel));
  return EXG_IS_APPLICATION (app) ? EXG_APPLICATION (app) : NULL;
}

static void
add_exit_response_cb (GtkDialog      *dialog,
                      int             response,
                      ExgRoutersView *self)
{
  ExgApplication *app = find_application (self);
  GKeyFile *keyfile = g_object_get_data (G_OBJECT (dialog), "exg-keyfile");

  if (response == GTK_RESPONSE_OK && app != NULL)
    {
      const char *path = exg_application_get_config_path (app);
      g_autoptr(GError) error = NULL;

      if (!exg_exit_dialog_save (EXG_EXIT_DIALOG (dialog), keyfile, NULL))
        return;                 /* the dialog shows why; let the user fix it */
      if (!exg_exits_file_save (keyfile, path, &error))
        {
          /* Translators: %s is a file name, then a reason */
          g_autofree char *message = g_strdup_printf (_("Cannot save %s: %s"),
                                                      path, error->message);

          exg_exit_dialog_set_error (EXG_EXIT_DIALOG (dialog), message);
          return;
        }
      exg_application_reload_exits (app);
    }
  gtk_widget_destroy (GTK_WIDGET (dialog));
}

static void
add_clicked_cb (GtkButton      *button,
                ExgRoutersView *self)
{
  ExgApplication *app = find_application (self);
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  const char *path;
  GtkWidget *dialog;

  if (app == NULL)
    return;
  path = exg_application_get_config_path (app);
  dialog = exg_exit_dialog_new (GTK_WINDOW (gtk_widget_get_toplevel (GTK_WIDGET (self))),
                                NULL, NULL);
  /* the other exits are kept as written, comments and all */
  if (g_file_test (path, G_FILE_TEST_EXISTS)
      && !g_key_file_load_from_file (keyfile, path,
                                     G_KEY_FILE_KEEP_COMMENTS | G_KEY_FILE_KEEP_TRANSLATIONS,
                                     &error))
    {
      /* saving would put one exit in place of a file we could not read */
      exg_exit_dialog_set_error (EXG_EXIT_DIALOG (dialog), error->message);
      gtk_dialog_set_response_sensitive (GTK_DIALOG (dialog), GTK_RESPONSE_OK,
                                         FALSE);
    }
  g_object_set_data_full (G_OBJECT (dialog), "exg-keyfile",
                          g_steal_pointer (&keyfile),
                          (GDestroyNotify) g_key_file_unref);
  g_signal_connect_object (dialog, "response",
                           G_CALLBACK (add_exit_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
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
      text = bw > 0 ? exg_format_bandwidth_bytes ((double) bw) : g_strdup (_("Unknown"));
    }
  else
    {
      double bw;

      gtk_tree_model_get (model, iter, EXG_ROUTER_COL_OBSERVED, &bw, -1);
      text = bw > 0 ? exg_format_bandwidth_bytes (bw) : g_strdup ("");
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

/* the first eight hex digits tell relays apart; the tooltip has all */
static void
fingerprint_cell_func (GtkTreeViewColumn *column,
                       GtkCellRenderer   *cell,
                       GtkTreeModel      *model,
                       GtkTreeIter       *iter,
                       gpointer           user_data)
{
  g_autofree char *fingerprint = NULL;
  g_autofree char *text = NULL;

  gtk_tree_model_get (model, iter, EXG_ROUTER_COL_FINGERPRINT, &fingerprint,
                      -1);
  text = g_strndup (fingerprint != NULL ? fingerprint : "", 8);
  g_object_set (cell, "text", text, NULL);
}

/* Fixed widths: thousands of tor relays need not be measured.  Each
 * column is as wide as its title and @sample need in this language, the
 * name takes what is left, and the State column stays in
 * a window 800 pixels wide; what does not fit is ellipsized and whole in
 * the tooltip. */
static void
add_column (ExgRoutersView      *self,
            const char          *title,
            int                  model_column,
            GtkTreeCellDataFunc  func,
            const char          *sample)
{
  GtkCellRenderer *cell;
  GtkTreeViewColumn *column = exg_view_text_column_new (title, model_column,
                                                        func, &cell);

  gtk_tree_view_column_add_attribute (column, cell, "sensitive",
                                      EXG_ROUTER_COL_UP);
  g_object_set (cell, "ellipsize", PANGO_ELLIPSIZE_END, NULL);
  exg_view_sort_on_click (column, GTK_TREE_SORTABLE (self->store),
                          model_column);
  /* the samples fit 800 pixels; longer kinds ("HTTP CONNECT", a tor
   * exit's with its ports) and countries ("Netherlands") take a share of
   * any spare width, and their tooltip otherwise */
  gtk_tree_view_column_set_expand (column, model_column == EXG_ROUTER_COL_NAME
                                           || model_column == EXG_ROUTER_COL_KIND
                                           || model_column == EXG_ROUTER_COL_COUNTRY);
  gtk_tree_view_append_column (self->tree_view, column);
  exg_view_fit_column (self->tree_view, column, cell, sample);
}

static void
exg_routers_view_dispose (GObject *object)
{
  ExgRoutersView *self = EXG_ROUTERS_VIEW (object);

  g_clear_handle_id (&self->tick_id, g_source_remove);
  g_clear_handle_id (&self->rebuild_id, g_source_remove);
  g_clear_object (&self->filter);
  g_clear_object (&self->store);
  g_clear_object (&self->registry);

  G_OBJECT_CLASS (exg_routers_view_parent_class)->dispose (object);
}

static void
exg_routers_view_finalize (GObject *object)
{
  g_free (EXG_ROUTERS_VIEW (object)->filter_text);

  G_OBJECT_CLASS (exg_routers_view_parent_class)->finalize (object);
}

static void
exg_routers_view_class_init (ExgRoutersViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = exg_routers_view_dispose;
  object_class->finalize = exg_routers_view_finalize;
}

static void
exg_routers_view_init (ExgRoutersView *self)
{
  GtkWidget *bar, *add, *overlay;

  gtk_orientable_set_orientation (GTK_ORIENTABLE (self),
                                  GTK_ORIENTATION_VERTICAL);
  gtk_box_set_spacing (GTK_BOX (self), 6);

  self->store = gtk_list_store_new (EXG_ROUTER_N_COLUMNS, G_TYPE_STRING,
                                    G_TYPE_STRING,
                                    G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_UINT64,
                                    G_TYPE_DOUBLE, G_TYPE_INT64, G_TYPE_BOOLEAN,
                                    G_TYPE_INT, G_TYPE_STRING, G_TYPE_STRING);
  self->filter = gtk_tree_model_filter_new (GTK_TREE_MODEL (self->store), NULL);
  gtk_tree_model_filter_set_visible_func (GTK_TREE_MODEL_FILTER (self->filter),
                                          visible_func, self, NULL);

  bar = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  g_object_set (bar, "margin-start", 12, "margin-end", 12, NULL);
  self->search_entry = exg_view_search_entry_new (_("Search routers"),
                                                  G_CALLBACK (search_changed_cb),
                                                  self);
  gtk_buildable_set_name (GTK_BUILDABLE (self->search_entry),
                          "routers_search_entry");
  gtk_box_pack_start (GTK_BOX (bar), GTK_WIDGET (self->search_entry), TRUE,
                      TRUE, 0);
  add = gtk_button_new_with_mnemonic (_("_Add Exit…"));
  gtk_buildable_set_name (GTK_BUILDABLE (add), "routers_add_button");
  gtk_widget_set_tooltip_text (add, _("Add a proxy or this machine as an exit"));
  g_signal_connect_object (add, "clicked", G_CALLBACK (add_clicked_cb), self,
                           0);
  gtk_box_pack_end (GTK_BOX (bar), add, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (self), bar, FALSE, FALSE, 0);

  self->tree_view = GTK_TREE_VIEW (gtk_tree_view_new_with_model (GTK_TREE_MODEL (self->store)));
  gtk_tree_view_set_enable_search (self->tree_view, FALSE);
  atk_object_set_name (gtk_widget_get_accessible (GTK_WIDGET (self->tree_view)),
                       _("Routers"));
  {
    g_autofree char *bandwidth = exg_format_bandwidth_bytes (99.9e6);
    g_autofree char *latency = g_strdup_printf (_("%.0f ms"), 999.0);
    g_autofree char *flag = exg_country_dup_flag ("SE");
    g_autofree char *country = g_strdup_printf ("%s %s", flag, exg_country_get_name ("SE"));
    /* the longest of the states, in this language */
    const char *states[] = { C_("router state", "Up"), C_("router state", "Checking…"),
                             C_("router state", "Down") };
    const char *state = states[0];

    for (guint i = 1; i < G_N_ELEMENTS (states); i++)
      if (g_utf8_strlen (states[i], -1) > g_utf8_strlen (state, -1))
        state = states[i];

    add_column (self, _("Name"), EXG_ROUTER_COL_NAME, NULL, "stockholm-1");
    add_column (self, _("Fingerprint"), EXG_ROUTER_COL_FINGERPRINT,
                fingerprint_cell_func, "DDDDDDDD");
    add_column (self, _("Kind"), EXG_ROUTER_COL_KIND, NULL, C_("router kind", "SOCKS5"));
    add_column (self, _("Address"), EXG_ROUTER_COL_ADDRESS, NULL, "127.0.0.10");
    add_column (self, _("Country"), EXG_ROUTER_COL_COUNTRY, NULL, country);
    add_column (self, _("Advertised"), EXG_ROUTER_COL_BANDWIDTH,
                bandwidth_cell_func, bandwidth);
    add_column (self, _("Observed"), EXG_ROUTER_COL_OBSERVED,
                bandwidth_cell_func, bandwidth);
    add_column (self, _("Latency"), EXG_ROUTER_COL_LATENCY, latency_cell_func,
                latency);
    add_column (self, _("State"), EXG_ROUTER_COL_STATE, up_cell_func, state);
  }
  exg_view_set_tooltip_column (self->tree_view, EXG_ROUTER_COL_DETAILS);

  overlay = exg_view_overlay_new (self->tree_view, "routers_empty_label",
                                  &self->empty_label);
  gtk_box_pack_start (GTK_BOX (self), overlay, TRUE, TRUE, 0);
  gtk_widget_show_all (GTK_WIDGET (self));
  update_empty (self);

  self->tick_id = g_timeout_add_seconds (2, tick_cb, self);
}
