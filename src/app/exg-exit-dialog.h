/* exg-exit-dialog.h: add or edit one exit ([exit NAME] group of the key
 * file the daemon reads).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define EXG_TYPE_EXIT_DIALOG (exg_exit_dialog_get_type ())
G_DECLARE_FINAL_TYPE (ExgExitDialog, exg_exit_dialog, EXG, EXIT_DIALOG, GtkDialog)

/* @name: the exit to edit in @keyfile, or NULL to add one */
GtkWidget *exg_exit_dialog_new  (GtkWindow     *parent,
                                 GKeyFile      *keyfile,
                                 const char    *name);
/* Validates and writes the exit into @keyfile (renaming its group when
 * the name changed).  FALSE with a message for people otherwise. */
gboolean   exg_exit_dialog_save (ExgExitDialog *self,
                                 GKeyFile      *keyfile,
                                 GError       **error);
/* Shows @message (why the exit could not be added) under the fields */
void       exg_exit_dialog_set_error (ExgExitDialog *self,
                                      const char    *message);

/* Writes @keyfile to @path, the exits file, readable by its owner
 * only: an exit's password may be in it. */
gboolean   exg_exits_file_save  (GKeyFile      *keyfile,
                                 const char    *path,
                                 GError       **error);

G_END_DECLS
