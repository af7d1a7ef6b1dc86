/* exg-exit-dialog.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-exit-dialog.h"

#include "exg-application.h"
#include "exg-core.h"
#include "exg-country.h"
#include "exg-view-util.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include <errno.h>

struct _ExgExitDialog
{
  GtkDialog        parent_instance;

  char            *original_name;   /* owned; NULL when adding */
  GtkEntry        *name_entry;
  GtkComboBoxText *type_combo;
  GtkEntry        *address_entry;
  GtkSpinButton   *port_spin;
  GtkEntry        *username_entry;
  GtkEntry        *password_entry;
  GtkEntry        *country_entry;
  GtkSpinButton   *bandwidth_spin;
  GtkLabel        *bandwidth_label;
  GtkLabel        *address_title;
  GtkLabel        *error_label;
};

G_DEFINE_FINAL_TYPE (ExgExitDialog, exg_exit_dialog, GTK_TYPE_DIALOG)

static void
exg_exit_dialog_finalize (GObject *object)
{
  g_free (EXG_EXIT_DIALOG (object)->original_name);

  G_OBJECT_CLASS (exg_exit_dialog_parent_class)->finalize (object);
}

static void
exg_exit_dialog_class_init (ExgExitDialogClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = exg_exit_dialog_finalize;
}

static void
type_changed_cb (GtkComboBox   *combo,
                 ExgExitDialog *self)
{
  gboolean upstream = g_strcmp0 (gtk_combo_box_get_active_id (combo),
                                 "direct") != 0;

  /* a direct exit has no proxy address: what it takes is the local
   * address to send from */
  gtk_label_set_text_with_mnemonic (self->address_title,
                                    upstream ? _("_Address") : _("_Source address"));
  atk_object_set_name (gtk_widget_get_accessible (GTK_WIDGET (self->address_entry)),
                       gtk_label_get_text (self->address_title));
  gtk_widget_set_sensitive (GTK_WIDGET (self->port_spin), upstream);
  gtk_widget_set_sensitive (GTK_WIDGET (self->username_entry), upstream);
  gtk_widget_set_sensitive (GTK_WIDGET (self->password_entry), upstream);
}

static guint64
bandwidth_value (ExgExitDialog *self)
{
  /* MB/s with one decimal: whole kB/s, never a float's 99999 */
  return (guint64) (gtk_spin_button_get_value (self->bandwidth_spin) * 10 + 0.5) * 100000;
}

static void
bandwidth_changed_cb (GtkSpinButton *spin,
                      ExgExitDialog *self)
{
  guint64 bw = bandwidth_value (self);
  g_autofree char *text = bw > 0 ? exg_format_bandwidth ((double) bw)
                                 : g_strdup (_("Not given: a minimum bandwidth leaves this exit out"));

  gtk_label_set_text (self->bandwidth_label, text);
}

static GtkWidget *
add_row (ExgExitDialog *self,
         GtkGrid       *grid,
         int            row,
         const char    *label,
         const char    *id,
         GtkWidget     *widget)
{
  GtkWidget *title = gtk_label_new_with_mnemonic (label);
  g_autofree char *name = NULL;

  gtk_label_set_xalign (GTK_LABEL (title), 1);
  gtk_label_set_mnemonic_widget (GTK_LABEL (title), widget);
  gtk_widget_set_hexpand (widget, TRUE);
  /* as if built from .ui: tests (and the inspector) find it by name */
  gtk_buildable_set_name (GTK_BUILDABLE (widget), id);
  gtk_grid_attach (grid, title, 0, row, 1, 1);
  gtk_grid_attach (grid, widget, 1, row, 1, 1);
  /* the label names the control for screen readers too */
  name = g_strdup (gtk_label_get_text (GTK_LABEL (title)));
  atk_object_set_name (gtk_widget_get_accessible (widget), name);
  return widget;
}

static void
exg_exit_dialog_init (ExgExitDialog *self)
{
  GtkGrid *grid = GTK_GRID (gtk_grid_new ());
  GtkWidget *content = gtk_dialog_get_content_area (GTK_DIALOG (self));

  gtk_grid_set_row_spacing (grid, 6);
  gtk_grid_set_column_spacing (grid, 12);
  g_object_set (grid, "margin", 12, NULL);

  self->name_entry = GTK_ENTRY (add_row (self, grid, 0, _("_Name"),
                                         "name_entry", gtk_entry_new ()));
  self->type_combo = GTK_COMBO_BOX_TEXT (add_row (self, grid, 1, _("_Type"),
                                                  "type_combo", gtk_combo_box_text_new ()));
  gtk_combo_box_text_append (self->type_combo, "socks5", _("SOCKS5 proxy"));
  gtk_combo_box_text_append (self->type_combo, "socks4a", _("SOCKS4a proxy"));
  gtk_combo_box_text_append (self->type_combo, "http-connect",
                             _("HTTP CONNECT proxy"));
  gtk_combo_box_text_append (self->type_combo, "direct",
                             _("Direct (this machine)"));
  gtk_combo_box_set_active_id (GTK_COMBO_BOX (self->type_combo), "socks5");
  g_signal_connect_object (self->type_combo, "changed",
                           G_CALLBACK (type_changed_cb), self, 0);
  self->address_entry = GTK_ENTRY (add_row (self, grid, 2, _("_Address"),
                                            "address_entry", gtk_entry_new ()));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->address_entry),
                               _("The proxy's host name or IP address; for a direct exit, the local address to send from (may be empty)"));
  self->port_spin = GTK_SPIN_BUTTON (add_row (self, grid, 3, _("_Port"),
                                              "port_spin",
                                              gtk_spin_button_new_with_range (1, 65535, 1)));
  gtk_spin_button_set_value (self->port_spin, 1080);
  self->username_entry = GTK_ENTRY (add_row (self, grid, 4, _("_User name"),
                                             "username_entry", gtk_entry_new ()));
  self->password_entry = GTK_ENTRY (add_row (self, grid, 5, _("Pass_word"),
                                             "password_entry", gtk_entry_new ()));
  gtk_entry_set_visibility (self->password_entry, FALSE);
  gtk_entry_set_input_purpose (self->password_entry,
                               GTK_INPUT_PURPOSE_PASSWORD);
  self->country_entry = GTK_ENTRY (add_row (self, grid, 6, _("_Country"),
                                            "country_entry", gtk_entry_new ()));
  gtk_entry_set_placeholder_text (self->country_entry, _("From GeoIP"));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->country_entry),
                               _("The country’s name or two-letter code, e.g. Sweden or SE; empty to look it up"));
  self->address_title = GTK_LABEL (gtk_grid_get_child_at (grid, 0, 2));
  self->bandwidth_spin = GTK_SPIN_BUTTON (add_row (self, grid, 7,
                                                   _("_Bandwidth (MB/s)"), "bandwidth_spin",
                                                   gtk_spin_button_new_with_range (0, 100000, 0.1)));
  gtk_spin_button_set_digits (self->bandwidth_spin, 1);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->bandwidth_spin),
                               _("What the exit can carry, in megabytes per second; 0 if unknown"));
  g_signal_connect_object (self->bandwidth_spin, "value-changed",
                           G_CALLBACK (bandwidth_changed_cb), self, 0);
  /* the same value in the other units, under the field */
  self->bandwidth_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_xalign (self->bandwidth_label, 0);
  gtk_buildable_set_name (GTK_BUILDABLE (self->bandwidth_label), "bandwidth_label");
  gtk_style_context_add_class (gtk_widget_get_style_context (GTK_WIDGET (self->bandwidth_label)),
                               "dim-label");
  gtk_grid_attach (grid, GTK_WIDGET (self->bandwidth_label), 1, 8, 1, 1);
  bandwidth_changed_cb (self->bandwidth_spin, self);
  self->error_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_xalign (self->error_label, 0);
  gtk_label_set_line_wrap (self->error_label, TRUE);
  gtk_style_context_add_class (gtk_widget_get_style_context (GTK_WIDGET (self->error_label)), "exg-error-label");
  gtk_grid_attach (grid, GTK_WIDGET (self->error_label), 0, 9, 2, 1);

  gtk_container_add (GTK_CONTAINER (content), GTK_WIDGET (grid));
  gtk_widget_show_all (GTK_WIDGET (grid));
  gtk_widget_hide (GTK_WIDGET (self->error_label));
}

GtkWidget *
exg_exit_dialog_new (GtkWindow  *parent,
                     GKeyFile   *keyfile,
                     const char *name)
{
  ExgExitDialog *self = g_object_new (EXG_TYPE_EXIT_DIALOG,
                                      "use-header-bar", TRUE,
                                      "modal", TRUE,
                                      "transient-for", parent,
                                      "title", name ? _("Edit Exit") : _("Add Exit"),
                                      NULL);

  gtk_dialog_add_buttons (GTK_DIALOG (self),
                          _("_Cancel"), GTK_RESPONSE_CANCEL,
                          name ? _("_Save") : _("_Add"), GTK_RESPONSE_OK,
                          NULL);
  gtk_dialog_set_default_response (GTK_DIALOG (self), GTK_RESPONSE_OK);

  if (name != NULL && keyfile != NULL)
    {
      g_autofree char *group = g_strdup_printf ("exit %s", name);
      g_autofree char *type = g_key_file_get_string (keyfile, group, "type",
                                                     NULL);
      g_autofree char *address = g_key_file_get_string (keyfile, group,
                                                        "address", NULL);
      g_autofree char *username = g_key_file_get_string (keyfile, group,
                                                         "username", NULL);
      g_autofree char *password = g_key_file_get_string (keyfile, group,
                                                         "password", NULL);
      g_autofree char *country = g_key_file_get_string (keyfile, group,
                                                        "country", NULL);
      g_autofree char *source = g_key_file_get_string (keyfile, group,
                                                       "source-address", NULL);
      int port = g_key_file_get_integer (keyfile, group, "port", NULL);
      guint64 bw = g_key_file_get_uint64 (keyfile, group, "bandwidth", NULL);

      self->original_name = g_strdup (name);
      gtk_entry_set_text (self->name_entry, name);
      if (type != NULL)
        gtk_combo_box_set_active_id (GTK_COMBO_BOX (self->type_combo), type);
      if (g_strcmp0 (type, "direct") == 0 && source != NULL)
        gtk_entry_set_text (self->address_entry, source);
      else if (address != NULL)
        gtk_entry_set_text (self->address_entry, address);
      if (port > 0)
        gtk_spin_button_set_value (self->port_spin, port);
      gtk_entry_set_text (self->username_entry, username ? username : "");
      gtk_entry_set_text (self->password_entry, password ? password : "");
      gtk_entry_set_text (self->country_entry, country ? country : "");
      gtk_spin_button_set_value (self->bandwidth_spin, (double) bw / 1e6);
    }
  type_changed_cb (GTK_COMBO_BOX (self->type_combo), self);

  return GTK_WIDGET (self);
}

static void
set_or_remove (GKeyFile   *keyfile,
               const char *group,
               const char *key,
               const char *value)
{
  if (value != NULL && value[0] != '\0')
    g_key_file_set_string (keyfile, group, key, value);
  else
    g_key_file_remove_key (keyfile, group, key, NULL);
}

static gboolean
is_blank (const char *text)
{
  for (; *text != '\0'; text++)
    if (!g_ascii_isspace (*text))
      return FALSE;
  return TRUE;
}

gboolean
exg_exit_dialog_save (ExgExitDialog *self,
                      GKeyFile      *keyfile,
                      GError       **error)
{
  g_autofree char *name = g_strstrip (g_strdup (gtk_entry_get_text (self->name_entry)));
  g_autofree char *address = g_strstrip (g_strdup (gtk_entry_get_text (self->address_entry)));
  const char *country_text = gtk_entry_get_text (self->country_entry);
  /* a code or a name ("SE", "Sweden", "Sverige"); kept as the code */
  const char *country = exg_country_code_from_text (country_text);
  const char *type = gtk_combo_box_get_active_id (GTK_COMBO_BOX (self->type_combo));
  gboolean direct = g_strcmp0 (type, "direct") == 0;
  g_autofree char *group = NULL;
  const char *message = NULL;

  g_return_val_if_fail (EXG_IS_EXIT_DIALOG (self), FALSE);

  group = g_strdup_printf ("exit %s", name);
  if (name[0] == '\0' || strpbrk (name, "[]\n") != NULL)
    message = _("Give the exit a name (without brackets).");
  else if (g_strcmp0 (name,
                      self->original_name) != 0 && g_key_file_has_group (keyfile, group))
    message = _("Another exit already has this name.");
  else if (!direct && address[0] == '\0')
    message = _("Enter the proxy's address.");
  else if (direct && address[0] != '\0' && !g_hostname_is_ip_address (address))
    message = _("A direct exit's address must be a local IP address.");
  else if (country == NULL && !is_blank (country_text))
    message = _("Enter a country, by its name or a two-letter code such as SE, or leave it empty.");

  if (message != NULL)
    {
      exg_exit_dialog_set_error (self, message);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           message);
      return FALSE;
    }

  if (self->original_name != NULL)
    {
      g_autofree char *old_group = g_strdup_printf ("exit %s",
                                                    self->original_name);

      g_key_file_remove_group (keyfile, old_group, NULL);
    }

  g_key_file_set_string (keyfile, group, "type", type);
  if (direct)
    {
      set_or_remove (keyfile, group, "source-address", address);
    }
  else
    {
      g_key_file_set_string (keyfile, group, "address", address);
      g_key_file_set_integer (keyfile, group, "port",
                              gtk_spin_button_get_value_as_int (self->port_spin));
      set_or_remove (keyfile, group, "username",
                     gtk_entry_get_text (self->username_entry));
      set_or_remove (keyfile, group, "password",
                     gtk_entry_get_text (self->password_entry));
    }
  set_or_remove (keyfile, group, "country", country);
  if (bandwidth_value (self) > 0)
    g_key_file_set_uint64 (keyfile, group, "bandwidth", bandwidth_value (self));
  else
    g_key_file_remove_key (keyfile, group, "bandwidth", NULL);

  return TRUE;
}

void
exg_exit_dialog_set_error (ExgExitDialog *self,
                           const char    *message)
{
  g_return_if_fail (EXG_IS_EXIT_DIALOG (self));

  gtk_label_set_text (self->error_label, message);
  gtk_widget_show (GTK_WIDGET (self->error_label));
}

gboolean
exg_exits_file_save (GKeyFile    *keyfile,
                     const char  *path,
                     GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *data = NULL;
  gsize length;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved_errno = errno;

      g_set_error_literal (error, G_FILE_ERROR,
                           g_file_error_from_errno (saved_errno),
                           g_strerror (saved_errno));
      return FALSE;
    }
  data = g_key_file_to_data (keyfile, &length, NULL);
  /* created private, not made private after being written */
  return g_file_set_contents_full (path, data, length,
                                   G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                   error);
}
