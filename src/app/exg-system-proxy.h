/* exg-system-proxy.h: "Use as system proxy": points GNOME's proxy settings
 * (org.gnome.system.proxy) at our listener and puts the user's own back
 * afterwards.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define EXG_TYPE_SYSTEM_PROXY (exg_system_proxy_get_type ())
G_DECLARE_FINAL_TYPE (ExgSystemProxy, exg_system_proxy, EXG, SYSTEM_PROXY, GObject)

/* @app_settings: org.exitgate.Exitgate, where the previous values are
 * kept (saved-proxy) so they survive a crash. */
ExgSystemProxy *exg_system_proxy_new          (GSettings      *app_settings);

/* FALSE when org.gnome.system.proxy is not installed. */
gboolean        exg_system_proxy_is_supported (ExgSystemProxy *self);

/* Saves the current settings (unless already saved) and sets manual mode
 * with SOCKS @host:@port.  FALSE with @error when unsupported. */
gboolean        exg_system_proxy_enable       (ExgSystemProxy *self,
                                               const char     *host,
                                               guint16         port,
                                               GError        **error);
/* Restores the saved settings, if any, and forgets them. */
void            exg_system_proxy_restore      (ExgSystemProxy *self);

G_END_DECLS
