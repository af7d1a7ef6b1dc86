/* exg-tor-control.h: an asynchronous client of tor's control port.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "exg-torctl-reply.h"

G_BEGIN_DECLS

/* The authentication methods of control-spec §3.21, as PROTOCOLINFO lists
 * them; the client tries them in the order of this enum. */
typedef enum {
  EXG_TOR_AUTH_NONE           = 0,
  EXG_TOR_AUTH_SAFECOOKIE     = 1 << 0,
  EXG_TOR_AUTH_COOKIE         = 1 << 1,
  EXG_TOR_AUTH_HASHEDPASSWORD = 1 << 2,
  EXG_TOR_AUTH_NULL           = 1 << 3,
  EXG_TOR_AUTH_ALL            = 0xf,
} ExgTorAuthMethod;

#define EXG_TYPE_TOR_CONTROL (exg_tor_control_get_type ())
G_DECLARE_FINAL_TYPE (ExgTorControl, exg_tor_control, EXG, TOR_CONTROL, GObject)

ExgTorControl    *exg_tor_control_new                   (void);

void              exg_tor_control_set_allowed_auth      (ExgTorControl        *self,
                                                         ExgTorAuthMethod      methods);

void              exg_tor_control_connect_async         (ExgTorControl        *self,
                                                         const char           *address,
                                                         const char           *password,
                                                         GCancellable         *cancellable,
                                                         GAsyncReadyCallback   callback,
                                                         gpointer              user_data);
gboolean          exg_tor_control_connect_finish        (ExgTorControl        *self,
                                                         GAsyncResult         *result,
                                                         GError              **error);

gboolean          exg_tor_control_is_connected          (ExgTorControl        *self);
ExgTorAuthMethod  exg_tor_control_get_auth_offered      (ExgTorControl        *self);
ExgTorAuthMethod  exg_tor_control_get_auth_used         (ExgTorControl        *self);
const char       *exg_tor_control_get_tor_version       (ExgTorControl        *self);

void              exg_tor_control_send_async            (ExgTorControl        *self,
                                                         const char           *command,
                                                         GCancellable         *cancellable,
                                                         GAsyncReadyCallback   callback,
                                                         gpointer              user_data);
ExgTorctlReply   *exg_tor_control_send_finish           (ExgTorControl        *self,
                                                         GAsyncResult         *result,
                                                         GError              **error);

void              exg_tor_control_getinfo_async         (ExgTorControl        *self,
                                                         const char           *key,
                                                         GCancellable         *cancellable,
                                                         GAsyncReadyCallback   callback,
                                                         gpointer              user_data);
char             *exg_tor_control_getinfo_finish        (ExgTorControl        *self,
                                                         GAsyncResult         *result,
                                                         GError              **error);

void              exg_tor_control_get_socks_address_async  (ExgTorControl        *self,
                                                            GCancellable         *cancellable,
                                                            GAsyncReadyCallback   callback,
                                                            gpointer              user_data);
GSocketAddress   *exg_tor_control_get_socks_address_finish (ExgTorControl        *self,
                                                            GAsyncResult         *result,
                                                            GError              **error);

void              exg_tor_control_close                 (ExgTorControl        *self);

G_END_DECLS
