/* exg-session.h: one client connection, from the first byte to the close.
 * Internal to the core: only ExgServer creates sessions.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "exg-server.h"

G_BEGIN_DECLS

#define EXG_TYPE_SESSION (exg_session_get_type ())
G_DECLARE_FINAL_TYPE (ExgSession, exg_session, EXG, SESSION, GObject)

/* @server is borrowed: it outlives its sessions (it closes them all
 * before it goes).  The session emits "closed" once, when it is done;
 * just before, it tells the server, which then drops it. */
ExgSession *exg_session_new    (ExgServer         *server,
                                GSocketConnection *connection,
                                const char        *client);
void        exg_session_start  (ExgSession        *self);
void        exg_session_close  (ExgSession        *self);
guint64     exg_session_get_id (ExgSession        *self);

/* Implemented by ExgServer, for its sessions only. */
gboolean    exg_server_password_required_ (ExgServer  *server);
gboolean    exg_server_check_credentials_ (ExgServer  *server,
                                           const char *username,
                                           const char *password);
/* A direct call rather than a "closed" handler: connecting one costs
 * more than the rest of the bookkeeping of a connection. */
void        exg_server_session_closed_    (ExgServer  *server,
                                           ExgSession *session);

G_END_DECLS
