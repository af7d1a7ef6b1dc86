/* exg-ui-util.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "exg-ui-util.h"

static void
find_cb (GtkWidget *widget,
         gpointer   user_data)
{
  gpointer *args = user_data;

  if (args[1] != NULL)
    return;
  if (g_strcmp0 (gtk_buildable_get_name (GTK_BUILDABLE (widget)), args[0]) == 0)
    args[1] = widget;
  else if (GTK_IS_CONTAINER (widget))
    gtk_container_forall (GTK_CONTAINER (widget), find_cb, args);
}

gpointer
exg_ui_find_widget (GtkWidget  *root,
                    const char *name)
{
  gpointer args[2] = { (gpointer) name, NULL };

  gtk_container_forall (GTK_CONTAINER (root), find_cb, args);
  g_assert_nonnull (args[1]);
  return args[1];
}
