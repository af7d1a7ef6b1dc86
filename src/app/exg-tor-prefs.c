/* exg-tor-prefs.c
 *
 * The choice is read back from the exits file, not remembered here: the
 * daemon reads the same [tor] group, and the first-run screen or a hand
 * edit may have changed it.  Apply writes it through
 * exg_application_use_tor (), which restarts tor as needed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-tor-prefs.h"

#include <glib/gi18n.h>

struct _ExgTorPrefs
{
  GtkBox          parent_instance;

  ExgApplication *app;            /* owned */
  char           *mode;           /* owned: "managed", "control" or "off", as written */
  char           *control;        /* owned, nullable: as written */

  GtkToggleButton *managed_radio;
  GtkToggleButton *control_radio;
  GtkToggleButton *off_radio;
  GtkEntry        *control_entry;
  GtkLabel        *status_label;
  GtkWidget       *apply_button;
};

G_DEFINE_FINAL_TYPE (ExgTorPrefs, exg_tor_prefs, GTK_TYPE_BOX)

static const char *
chosen_mode (ExgTorPrefs *self)
{
  if (gtk_toggle_button_get_active (self->managed_radio))
    return "managed";
  if (gtk_toggle_button_get_active (self->control_radio))
    return "control";
  return "off";
}

static char *
chosen_control (ExgTorPrefs *self)
{
  return g_strstrip (g_strdup (gtk_entry_get_text (self->control_entry)));
}

static void
show_status (ExgTorPrefs *self)
{
  const char *text;

  if (g_str_equal (self->mode, "managed"))
    text = _("In use: a tor that Exitgate runs.");
  else if (g_str_equal (self->mode, "control"))
    text = _("In use: the tor at the control address below.");
  else
    text = _("In use: no Tor exits.");
  gtk_label_set_text (self->status_label, text);
}

/* from the [tor] group: control= names a running tor; managed=true a tor
 * of our own; neither (or no group, a first run not decided yet) none */
static void
read_choice (ExgTorPrefs *self)
{
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  const char *path = exg_application_get_config_path (self->app);

  g_clear_pointer (&self->mode, g_free);
  g_clear_pointer (&self->control, g_free);
  if (g_key_file_load_from_file (keyfile, path, G_KEY_FILE_NONE, NULL))
    {
      self->control = g_key_file_get_string (keyfile, "tor", "control", NULL);
      if (self->control != NULL)
        self->mode = g_strdup ("control");
      else if (g_key_file_get_boolean (keyfile, "tor", "managed", NULL))
        self->mode = g_strdup ("managed");
    }
  if (self->mode == NULL)
    self->mode = g_strdup ("off");
}

static void
show_choice (ExgTorPrefs *self)
{
  GtkToggleButton *radio = self->off_radio;

  if (g_str_equal (self->mode, "managed"))
    radio = self->managed_radio;
  else if (g_str_equal (self->mode, "control"))
    radio = self->control_radio;
  gtk_toggle_button_set_active (radio, TRUE);
  gtk_entry_set_text (self->control_entry,
                      self->control != NULL ? self->control : "");
  show_status (self);
}

/* Apply is offered only for a choice that differs from the file's and
 * that can work: a running tor needs its address */
static void
choice_changed_cb (ExgTorPrefs *self)
{
  const char *mode = chosen_mode (self);
  g_autofree char *control = chosen_control (self);
  gboolean is_control = g_str_equal (mode, "control");
  gboolean changed;

  gtk_widget_set_sensitive (GTK_WIDGET (self->control_entry), is_control);
  if (is_control)
    changed = control[0] != '\0' && g_strcmp0 (control, self->control) != 0;
  else
    changed = !g_str_equal (mode, self->mode);
  gtk_widget_set_sensitive (self->apply_button, changed);
}

static void
apply_clicked_cb (ExgTorPrefs *self)
{
  const char *mode = chosen_mode (self);
  g_autofree char *control = chosen_control (self);
  g_autoptr(GError) error = NULL;

  if (!gtk_widget_get_sensitive (self->apply_button))
    return;                     /* Enter in the entry with nothing new */
  if (!exg_application_use_tor (self->app, mode, control, &error))
    {
      /* Translators: %s says why the choice could not be saved */
      g_autofree char *text = g_strdup_printf (_("Not changed: %s"),
                                               error->message);

      gtk_label_set_text (self->status_label, text);
      return;
    }
  read_choice (self);
  show_choice (self);
  choice_changed_cb (self);
}

static void
exg_tor_prefs_dispose (GObject *object)
{
  ExgTorPrefs *self = EXG_TOR_PREFS (object);

  g_clear_object (&self->app);

  G_OBJECT_CLASS (exg_tor_prefs_parent_class)->dispose (object);
}

static void
exg_tor_prefs_finalize (GObject *object)
{
  ExgTorPrefs *self = EXG_TOR_PREFS (object);

  g_free (self->mode);
  g_free (self->control);

  G_OBJECT_CLASS (exg_tor_prefs_parent_class)->finalize (object);
}

static void
exg_tor_prefs_class_init (ExgTorPrefsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = exg_tor_prefs_dispose;
  object_class->finalize = exg_tor_prefs_finalize;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/exitgate/Exitgate/exg-tor-prefs.ui");
  gtk_widget_class_bind_template_child (widget_class, ExgTorPrefs, managed_radio);
  gtk_widget_class_bind_template_child (widget_class, ExgTorPrefs, control_radio);
  gtk_widget_class_bind_template_child (widget_class, ExgTorPrefs, off_radio);
  gtk_widget_class_bind_template_child (widget_class, ExgTorPrefs, control_entry);
  gtk_widget_class_bind_template_child (widget_class, ExgTorPrefs, status_label);
  gtk_widget_class_bind_template_child (widget_class, ExgTorPrefs, apply_button);
  gtk_widget_class_bind_template_callback (widget_class, choice_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, apply_clicked_cb);
}

static void
exg_tor_prefs_init (ExgTorPrefs *self)
{
  self->mode = g_strdup ("off");
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * exg_tor_prefs_new:
 * @app: the application whose exits file holds the choice
 *
 * Returns: (transfer floating): the Tor section of Preferences, showing
 *   the choice in the exits file now
 */
GtkWidget *
exg_tor_prefs_new (ExgApplication *app)
{
  ExgTorPrefs *self;

  g_return_val_if_fail (EXG_IS_APPLICATION (app), NULL);

  self = g_object_new (EXG_TYPE_TOR_PREFS, NULL);
  self->app = g_object_ref (app);
  read_choice (self);
  show_choice (self);
  choice_changed_cb (self);
  return GTK_WIDGET (self);
}
