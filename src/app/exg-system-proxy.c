/* exg-system-proxy.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-system-proxy.h"

#include <glib/gi18n.h>

#define PROXY_SCHEMA "org.gnome.system.proxy"
#define SOCKS_SCHEMA "org.gnome.system.proxy.socks"

struct _ExgSystemProxy
{
  GObject    parent_instance;

  GSettings *app_settings;   /* owned */
  GSettings *proxy;          /* owned; NULL when the schema is missing */
  GSettings *socks;          /* owned; NULL when the schema is missing */
};

G_DEFINE_FINAL_TYPE (ExgSystemProxy, exg_system_proxy, G_TYPE_OBJECT)

static void
exg_system_proxy_dispose (GObject *object)
{
  ExgSystemProxy *self = EXG_SYSTEM_PROXY (object);

  g_clear_object (&self->app_settings);
  g_clear_object (&self->proxy);
  g_clear_object (&self->socks);

  G_OBJECT_CLASS (exg_system_proxy_parent_class)->dispose (object);
}

static void
exg_system_proxy_class_init (ExgSystemProxyClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = exg_system_proxy_dispose;
}

static void
exg_system_proxy_init (ExgSystemProxy *self)
{
}

ExgSystemProxy *
exg_system_proxy_new (GSettings *app_settings)
{
  ExgSystemProxy *self = g_object_new (EXG_TYPE_SYSTEM_PROXY, NULL);
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) proxy_schema = NULL;
  g_autoptr(GSettingsSchema) socks_schema = NULL;

  self->app_settings = g_object_ref (app_settings);

  /* g_settings_new () aborts on a missing schema; GNOME's is optional */
  if (source != NULL)
    {
      proxy_schema = g_settings_schema_source_lookup (source, PROXY_SCHEMA,
                                                      TRUE);
      socks_schema = g_settings_schema_source_lookup (source, SOCKS_SCHEMA,
                                                      TRUE);
    }
  if (proxy_schema != NULL && socks_schema != NULL)
    {
      self->proxy = g_settings_new_full (proxy_schema, NULL, NULL);
      self->socks = g_settings_new_full (socks_schema, NULL, NULL);
    }

  return self;
}

gboolean
exg_system_proxy_is_supported (ExgSystemProxy *self)
{
  g_return_val_if_fail (EXG_IS_SYSTEM_PROXY (self), FALSE);

  return self->proxy != NULL;
}

static void
save_current (ExgSystemProxy *self)
{
  g_autoptr(GVariantDict) dict = g_variant_dict_new (NULL);
  g_autofree char *mode = g_settings_get_string (self->proxy, "mode");
  g_autofree char *host = g_settings_get_string (self->socks, "host");
  int port = g_settings_get_int (self->socks, "port");
  g_autoptr(GVariant) value = NULL;
  g_autofree char *text = NULL;

  g_variant_dict_insert (dict, "mode", "s", mode);
  g_variant_dict_insert (dict, "socks-host", "s", host);
  g_variant_dict_insert (dict, "socks-port", "i", port);
  value = g_variant_ref_sink (g_variant_dict_end (dict));
  text = g_variant_print (value, TRUE);
  g_settings_set_string (self->app_settings, "saved-proxy", text);
}

gboolean
exg_system_proxy_enable (ExgSystemProxy *self,
                         const char     *host,
                         guint16         port,
                         GError        **error)
{
  g_autofree char *saved = NULL;

  g_return_val_if_fail (EXG_IS_SYSTEM_PROXY (self), FALSE);
  g_return_val_if_fail (host != NULL, FALSE);

  if (self->proxy == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                           _("The desktop's proxy settings (org.gnome.system.proxy) are not installed."));
      return FALSE;
    }

  /* A value already saved means we are (or were, before a crash) the
   * system proxy: the current settings are ours, not the user's. */
  saved = g_settings_get_string (self->app_settings, "saved-proxy");
  if (saved[0] == '\0')
    save_current (self);

  g_settings_delay (self->proxy);
  g_settings_delay (self->socks);
  g_settings_set_string (self->socks, "host", host);
  g_settings_set_int (self->socks, "port", port);
  g_settings_set_string (self->proxy, "mode", "manual");
  g_settings_apply (self->socks);
  g_settings_apply (self->proxy);

  return TRUE;
}

/* "mode" is an enum: setting a value outside it is a programmer error
 * (a critical), and the saved text is only data */
static gboolean
mode_is_valid (ExgSystemProxy *self,
               const char     *mode)
{
  g_autoptr(GSettingsSchema) schema = NULL;
  g_autoptr(GSettingsSchemaKey) key = NULL;
  g_autoptr(GVariant) value = g_variant_ref_sink (g_variant_new_string (mode));

  g_object_get (self->proxy, "settings-schema", &schema, NULL);
  key = g_settings_schema_get_key (schema, "mode");
  return g_settings_schema_key_range_check (key, value);
}

void
exg_system_proxy_restore (ExgSystemProxy *self)
{
  g_autofree char *saved = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  const char *mode = "none";
  const char *host = "";
  int port = 0;

  g_return_if_fail (EXG_IS_SYSTEM_PROXY (self));

  saved = g_settings_get_string (self->app_settings, "saved-proxy");
  if (saved[0] == '\0' || self->proxy == NULL)
    return;

  value = g_variant_parse (G_VARIANT_TYPE_VARDICT, saved, NULL, NULL, &error);
  if (value == NULL)
    g_message ("Saved proxy settings are unreadable (%s); resetting to no proxy", error->message);
  else
    {
      g_variant_lookup (value, "mode", "&s", &mode);
      g_variant_lookup (value, "socks-host", "&s", &host);
      g_variant_lookup (value, "socks-port", "i", &port);
    }

  if (!mode_is_valid (self, mode))
    mode = "none";

  g_settings_delay (self->proxy);
  g_settings_delay (self->socks);
  g_settings_set_string (self->proxy, "mode", mode);
  g_settings_set_string (self->socks, "host", host);
  g_settings_set_int (self->socks, "port", CLAMP (port, 0, 65535));
  g_settings_apply (self->socks);
  g_settings_apply (self->proxy);

  g_settings_set_string (self->app_settings, "saved-proxy", "");
}
