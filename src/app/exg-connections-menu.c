/* exg-connections-menu.c: the connections view's context menu and its
 * "conn" actions on the selected row: Close Connection, Copy Target, New
 * Circuit (a tor connection's exit) and Dismiss (an ended row, at once).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-connections-view-private.h"

#include <glib/gi18n.h>
#include <string.h>

static gboolean
get_selected (ExgConnectionsView *self,
              guint64            *id,
              char              **target)
{
  GtkTreeSelection *selection = gtk_tree_view_get_selection (self->tree_view);
  GtkTreeModel *model;
  GtkTreeIter iter;

  if (!gtk_tree_selection_get_selected (selection, &model, &iter))
    return FALSE;
  gtk_tree_model_get (model, &iter, EXG_CONN_COL_ID, id, EXG_CONN_COL_TARGET,
                      target, -1);
  return TRUE;
}

/* "conn.close" and "conn.copy-target": the context menu's items, on the
 * selected row */
static void
close_activated (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  ExgConnectionsView *self = user_data;
  g_autofree char *target = NULL;
  guint64 id;

  if (self->server != NULL && get_selected (self, &id, &target))
    exg_server_close_connection (self->server, id);
}

static void
copy_target_activated (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  ExgConnectionsView *self = user_data;
  g_autofree char *target = NULL;
  guint64 id;

  if (get_selected (self, &id, &target) && target != NULL)
    gtk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (self),
                                                      GDK_SELECTION_CLIPBOARD),
                            target, -1);
}

/* an ended row goes now, without waiting for its time */
static void
dismiss_activated (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  ExgConnectionsView *self = user_data;
  g_autofree char *target = NULL;
  guint64 id;
  Row *row;

  if (!get_selected (self, &id, &target))
    return;
  row = g_hash_table_lookup (self->rows, &id);
  if (row == NULL || row->closed_at == 0 || !row->in_store)
    return;
  gtk_list_store_remove (self->store, &row->iter);
  g_hash_table_remove (self->rows, &id);
  exg_connections_view_update_empty_ (self);
}

/* The selected row's connection, if it went through a tor exit:
 * (transfer none) its info, and the exit's fingerprint */
static ExgConnInfo *
selected_tor_connection (ExgConnectionsView  *self,
                         const char         **fingerprint)
{
  g_autofree char *target = NULL;
  guint64 id;
  Row *row;

  if (!get_selected (self, &id, &target))
    return NULL;
  row = g_hash_table_lookup (self->rows, &id);
  if (row == NULL || row->info->exit_id == NULL ||
      !g_str_has_prefix (row->info->exit_id, "tor:"))
    return NULL;
  *fingerprint = row->info->exit_id + strlen ("tor:");
  return row->info;
}

/* "conn.new-circuit": the selected tor connection's exit, for its
 * isolation key, gets a new circuit */
static void
new_circuit_activated (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  ExgConnectionsView *self = user_data;
  const char *fingerprint = NULL;
  ExgConnInfo *info = selected_tor_connection (self, &fingerprint);

  if (info != NULL)
    exg_connections_view_new_circuit_ (self, fingerprint,
                                       info->isolation != NULL ? info->isolation : "");
}

static gboolean
key_press_cb (GtkWidget          *widget,
              GdkEventKey        *event,
              ExgConnectionsView *self)
{
  if (event->keyval != GDK_KEY_Delete && event->keyval != GDK_KEY_KP_Delete)
    return GDK_EVENT_PROPAGATE;
  dismiss_activated (NULL, NULL, self);
  return GDK_EVENT_STOP;
}

static const GActionEntry conn_actions[] = {
  { "dismiss", dismiss_activated },
  { "close", close_activated },
  { "copy-target", copy_target_activated },
  { "new-circuit", new_circuit_activated },
};

/* "New Circuit" only for a tor connection */
static void
update_actions (ExgConnectionsView *self)
{
  const char *fingerprint = NULL;
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self->actions),
                                                "new-circuit");

  g_simple_action_set_enabled (G_SIMPLE_ACTION (action),
                               selected_tor_connection (self, &fingerprint) != NULL);
}

static gboolean
button_press_cb (GtkWidget          *widget,
                 GdkEventButton     *event,
                 ExgConnectionsView *self)
{
  g_autoptr(GtkTreePath) path = NULL;

  if (!gdk_event_triggers_context_menu ((GdkEvent *) event))
    return GDK_EVENT_PROPAGATE;
  if (!gtk_tree_view_get_path_at_pos (self->tree_view, (int) event->x,
                                      (int) event->y,
                                      &path, NULL, NULL, NULL))
    return GDK_EVENT_PROPAGATE;
  gtk_tree_selection_select_path (gtk_tree_view_get_selection (self->tree_view),
                                  path);
  update_actions (self);
  gtk_menu_popup_at_pointer (self->menu, (GdkEvent *) event);
  return GDK_EVENT_STOP;
}

static gboolean
popup_menu_cb (GtkWidget          *widget,
               ExgConnectionsView *self)
{
  if (gtk_tree_selection_count_selected_rows (gtk_tree_view_get_selection (self->tree_view)) == 0)
    return FALSE;
  update_actions (self);
  gtk_menu_popup_at_widget (self->menu, widget, GDK_GRAVITY_CENTER,
                            GDK_GRAVITY_NORTH_WEST, NULL);
  return TRUE;
}

/* The "conn" actions and the menu that offers them on a row (right
 * click, the menu key), and Delete for Dismiss */
void
exg_connections_view_menu_init_ (ExgConnectionsView *self)
{
  g_autoptr(GMenu) menu_model = NULL;

  g_signal_connect_object (self->tree_view, "button-press-event",
                           G_CALLBACK (button_press_cb), self, 0);
  g_signal_connect_object (self->tree_view, "popup-menu",
                           G_CALLBACK (popup_menu_cb), self, 0);
  g_signal_connect_object (self->tree_view, "key-press-event",
                           G_CALLBACK (key_press_cb), self, 0);
  self->actions = g_simple_action_group_new ();
  g_action_map_add_action_entries (G_ACTION_MAP (self->actions), conn_actions,
                                   G_N_ELEMENTS (conn_actions), self);
  gtk_widget_insert_action_group (GTK_WIDGET (self), "conn",
                                  G_ACTION_GROUP (self->actions));
  g_signal_connect_object (gtk_tree_view_get_selection (self->tree_view),
                           "changed", G_CALLBACK (update_actions), self,
                           G_CONNECT_SWAPPED);
  update_actions (self);
  menu_model = g_menu_new ();
  g_menu_append (menu_model, _("_Close Connection"), "conn.close");
  g_menu_append (menu_model, _("Copy _Target"), "conn.copy-target");
  g_menu_append (menu_model, _("_New Circuit"), "conn.new-circuit");
  g_menu_append (menu_model, _("_Dismiss"), "conn.dismiss");
  self->menu = GTK_MENU (g_object_ref_sink (
    gtk_menu_new_from_model (G_MENU_MODEL (menu_model))));
  /* attached, so the items find the "conn" actions up the widget tree */
  gtk_menu_attach_to_widget (self->menu, GTK_WIDGET (self->tree_view), NULL);
}
