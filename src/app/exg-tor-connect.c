/* exg-tor-connect.c: the "Connect to Tor" page.
 *
 * The page is needed while a managed tor waits off the network
 * (DisableNetwork 1) for the user's word, and, once the user has pressed
 * Connect here, until tor is ready: the progress bar then shows tor's own
 * bootstrap summary.  When tor warns of a failed step, or bootstrap makes
 * no progress for EXG_TOR_CONNECT_STALL_SECONDS, the page says that the
 * network cannot be reached, with tor's last warning.
 *
 * The tor client is replaced whenever the [tor] group changes: the page
 * follows ExgApplication::tor-changed and watches the client of the
 * moment only.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-tor-connect.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

struct _ExgTorConnect
{
  GtkBox          parent_instance;

  ExgApplication *app;             /* unowned: the app outlives its windows */
  ExgTorClient   *tor;             /* owned, nullable: the one watched */
  gulong          bootstrap_id;
  gulong          ready_id;
  gboolean        connecting;      /* Connect pressed, tor not ready yet */
  gboolean        needed;
  guint           stall_seconds;
  guint           stall_id;
  char           *system_control;  /* owned, nullable: a usable system tor */

  /* template children */
  GtkSwitch      *auto_switch;
  GtkProgressBar *progress_bar;
  GtkLabel       *error_label;
  GtkButton      *connect_button;
  GtkButton      *system_button;
  GtkButton      *without_button;
};

enum {
  PROP_0,
  PROP_NEEDED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (ExgTorConnect, exg_tor_connect, GTK_TYPE_BOX)

/**
 * exg_tor_find_system_control:
 *
 * Debian's tor service has a control socket that members of the
 * debian-tor group may use.  $EXITGATE_TOR_SYSTEM_CONTROL names another
 * socket (for tests).
 *
 * Returns: (transfer full) (nullable): the socket's path, if this user
 *   can connect to it
 */
char *
exg_tor_find_system_control (void)
{
  const char *path = g_getenv ("EXITGATE_TOR_SYSTEM_CONTROL");
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  GStatBuf st;

  if (path == NULL || path[0] == '\0')
    path = EXG_TOR_SYSTEM_CONTROL;
  if (g_stat (path, &st) < 0 || !S_ISSOCK (st.st_mode)
      || g_access (path, R_OK | W_OK) < 0)
    return NULL;

  /* readable is not enough: the service may be down, its socket left */
  socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_DEFAULT, NULL);
  if (socket == NULL)
    return NULL;
  address = g_unix_socket_address_new (path);
  if (!g_socket_connect (socket, address, NULL, NULL))
    return NULL;
  g_socket_close (socket, NULL);
  return g_strdup (path);
}

static void
show_error (ExgTorConnect *self,
            const char    *text)
{
  gtk_label_set_text (self->error_label, text != NULL ? text : "");
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->error_label), text);
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), text != NULL);
}

static void
show_unreachable (ExgTorConnect *self)
{
  const char *warning = self->tor != NULL
                        ? exg_tor_client_get_bootstrap_warning (self->tor) : NULL;
  g_autofree char *text = NULL;

  if (warning != NULL)
    /* Translators: %s is tor's own warning, e.g. "Connection refused" */
    text = g_strdup_printf (_("Tor cannot reach the network. Tor says: %s"), warning);
  else
    text = g_strdup (_("Tor cannot reach the network. Check that this computer is online, "
                       "and that no firewall blocks Tor."));
  show_error (self, text);
}

static gboolean
stall_cb (gpointer user_data)
{
  ExgTorConnect *self = user_data;

  self->stall_id = 0;
  show_unreachable (self);
  return G_SOURCE_REMOVE;
}

static void
restart_stall_timer (ExgTorConnect *self)
{
  g_clear_handle_id (&self->stall_id, g_source_remove);
  if (self->connecting)
    self->stall_id = g_timeout_add_seconds (self->stall_seconds, stall_cb, self);
}

static void
update (ExgTorConnect *self)
{
  gboolean waiting = exg_application_get_tor_waiting (self->app);
  gboolean ready = self->tor != NULL && exg_tor_client_get_ready (self->tor);
  gboolean needed;
  int progress = self->tor != NULL ? exg_tor_client_get_bootstrap_progress (self->tor) : -1;
  const char *summary = self->tor != NULL ? exg_tor_client_get_bootstrap_summary (self->tor) : NULL;

  if (ready || self->tor == NULL)
    {
      self->connecting = FALSE;
      g_clear_handle_id (&self->stall_id, g_source_remove);
    }

  gtk_widget_set_sensitive (GTK_WIDGET (self->connect_button), waiting);
  gtk_widget_set_visible (GTK_WIDGET (self->system_button),
                          self->system_control != NULL && waiting);
  gtk_widget_set_visible (GTK_WIDGET (self->progress_bar), self->connecting);
  if (self->connecting)
    {
      g_autofree char *text = NULL;

      if (progress < 0)
        text = g_strdup (_("Starting Tor…"));
      else
        /* Translators: tor's bootstrap progress: "40 %: Loading authority key certs" */
        text = g_strdup_printf (_("%d %%: %s"), progress, summary != NULL ? summary : "");
      gtk_progress_bar_set_fraction (self->progress_bar, MAX (progress, 0) / 100.0);
      gtk_progress_bar_set_text (self->progress_bar, text);
    }

  needed = self->tor != NULL && (waiting || self->connecting);
  if (needed != self->needed)
    {
      self->needed = needed;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NEEDED]);
    }
}

static void
bootstrap_cb (ExgTorClient *tor,
              int           progress,
              const char   *summary,
              gpointer      user_data)
{
  ExgTorConnect *self = user_data;

  if (exg_tor_client_get_bootstrap_warning (tor) != NULL && self->connecting)
    show_unreachable (self);
  else
    show_error (self, NULL);
  restart_stall_timer (self);
  update (self);
}

static void
ready_cb (ExgTorClient *tor,
          GParamSpec   *pspec,
          gpointer      user_data)
{
  update (user_data);
}

static void
tor_changed_cb (ExgApplication *app,
                gpointer        user_data)
{
  ExgTorConnect *self = user_data;
  ExgTorClient *tor = exg_application_get_tor (app);

  if (tor != self->tor)
    {
      if (self->tor != NULL)
        {
          g_clear_signal_handler (&self->bootstrap_id, self->tor);
          g_clear_signal_handler (&self->ready_id, self->tor);
        }
      g_set_object (&self->tor, tor);
      if (tor != NULL)
        {
          self->bootstrap_id = g_signal_connect (tor, "bootstrap",
                                                 G_CALLBACK (bootstrap_cb), self);
          self->ready_id = g_signal_connect (tor, "notify::ready",
                                             G_CALLBACK (ready_cb), self);
        }
    }
  update (self);
}

static void
start_connecting (ExgTorConnect *self)
{
  self->connecting = TRUE;
  show_error (self, NULL);
  restart_stall_timer (self);
}

static void
connect_clicked_cb (ExgTorConnect *self)
{
  g_autoptr(GError) error = NULL;

  start_connecting (self);
  if (!exg_application_connect_tor (self->app, &error))
    {
      g_autofree char *text = g_strdup_printf (_("Your choice could not be saved: %s"),
                                               error->message);
      show_error (self, text);
    }
  update (self);
}

static void
system_clicked_cb (ExgTorConnect *self)
{
  g_autoptr(GError) error = NULL;

  start_connecting (self);
  if (!exg_application_use_tor (self->app, "control", self->system_control, &error))
    {
      g_autofree char *text = g_strdup_printf (_("Your choice could not be saved: %s"),
                                               error->message);
      self->connecting = FALSE;
      show_error (self, text);
    }
  update (self);
}

static void
without_clicked_cb (ExgTorConnect *self)
{
  g_autoptr(GError) error = NULL;

  self->connecting = FALSE;
  if (!exg_application_use_tor (self->app, "off", NULL, &error))
    {
      g_autofree char *text = g_strdup_printf (_("Your choice could not be saved: %s"),
                                               error->message);
      show_error (self, text);
    }
  update (self);
}

static void
exg_tor_connect_dispose (GObject *object)
{
  ExgTorConnect *self = EXG_TOR_CONNECT (object);

  g_clear_handle_id (&self->stall_id, g_source_remove);
  if (self->tor != NULL)
    {
      g_clear_signal_handler (&self->bootstrap_id, self->tor);
      g_clear_signal_handler (&self->ready_id, self->tor);
      g_clear_object (&self->tor);
    }
  g_clear_pointer (&self->system_control, g_free);

  G_OBJECT_CLASS (exg_tor_connect_parent_class)->dispose (object);
}

static void
exg_tor_connect_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  ExgTorConnect *self = EXG_TOR_CONNECT (object);

  switch (prop_id)
    {
    case PROP_NEEDED:
      g_value_set_boolean (value, self->needed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
exg_tor_connect_class_init (ExgTorConnectClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = exg_tor_connect_dispose;
  object_class->get_property = exg_tor_connect_get_property;

  /**
   * ExgTorConnect:needed:
   *
   * Whether the page has something to say: tor waits for Connect, or is
   * connecting because the user said so here.
   */
  properties[PROP_NEEDED] =
    g_param_spec_boolean ("needed", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/exitgate/Exitgate/exg-tor-connect.ui");
  gtk_widget_class_bind_template_child (widget_class, ExgTorConnect, auto_switch);
  gtk_widget_class_bind_template_child (widget_class, ExgTorConnect, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, ExgTorConnect, error_label);
  gtk_widget_class_bind_template_child (widget_class, ExgTorConnect, connect_button);
  gtk_widget_class_bind_template_child (widget_class, ExgTorConnect, system_button);
  gtk_widget_class_bind_template_child (widget_class, ExgTorConnect, without_button);
  gtk_widget_class_bind_template_callback (widget_class, connect_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, system_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, without_clicked_cb);
}

static void
exg_tor_connect_init (ExgTorConnect *self)
{
  self->stall_seconds = EXG_TOR_CONNECT_STALL_SECONDS;
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * exg_tor_connect_new:
 * @app: the application
 *
 * Returns: (transfer floating): the page
 */
GtkWidget *
exg_tor_connect_new (ExgApplication *app)
{
  ExgTorConnect *self;

  g_return_val_if_fail (EXG_IS_APPLICATION (app), NULL);

  self = g_object_new (EXG_TYPE_TOR_CONNECT, NULL);
  self->app = app;
  self->system_control = exg_tor_find_system_control ();
  g_settings_bind (exg_application_get_settings (app), "tor-connect-automatically",
                   self->auto_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_signal_connect_object (app, "tor-changed", G_CALLBACK (tor_changed_cb), self, 0);
  tor_changed_cb (app, self);
  return GTK_WIDGET (self);
}

/**
 * exg_tor_connect_get_needed:
 * @self: the page
 *
 * Returns: whether the window should show the page
 */
gboolean
exg_tor_connect_get_needed (ExgTorConnect *self)
{
  g_return_val_if_fail (EXG_IS_TOR_CONNECT (self), FALSE);
  return self->needed;
}

/**
 * exg_tor_connect_set_stall_timeout:
 * @self: the page
 * @seconds: how long bootstrap may make no progress before the page says
 *   that the network cannot be reached
 */
void
exg_tor_connect_set_stall_timeout (ExgTorConnect *self,
                                   guint          seconds)
{
  g_return_if_fail (EXG_IS_TOR_CONNECT (self));
  g_return_if_fail (seconds > 0);

  self->stall_seconds = seconds;
  if (self->stall_id != 0)
    restart_stall_timer (self);
}
