/* exg-session.h: one client connection, from the first byte to the close.
 * Internal to the core: only ExgServer creates sessions.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "exg-activity.h"
#include "exg-dest-policy.h"
#include "exg-dialer.h"
#include "exg-selection.h"

G_BEGIN_DECLS

#define EXG_TYPE_SESSION (exg_session_get_type ())
G_DECLARE_FINAL_TYPE (ExgSession, exg_session, EXG, SESSION, GObject)

/* What a session needs of whoever accepted it, handed over as one struct
 * (the way ExgRelay takes callbacks) so that a session never knows the
 * server.  The host owns it and outlives its sessions; sessions read the
 * fields when they need them, so a change applies to the next request. */
typedef struct {
  ExgDialer     *dialer;             /* picks routers and connects */
  ExgActivity   *activity;           /* where connections are reported */
  ExgDestPolicy *dest_policy;        /* judges every target */
  ExgSelection   default_selection;  /* for clients that choose none */
  guint          handshake_timeout;  /* seconds; 0: none */
  gboolean       unsafe_logging;     /* targets may appear in logs */
  gboolean       log_debug;          /* someone reads debug messages (GLib's
                                      * check reads the environment each
                                      * time: once per listen is enough) */
  char          *username;           /* nullable: any username */
  char          *password;           /* nullable: no password required */
  /* the session is done; called once (a direct call, not a signal: a
   * handler connected per session cost more than the rest of the
   * bookkeeping of a connection) */
  void         (*closed)            (ExgSession *session,
                                     gpointer    user_data);
  gpointer       user_data;
} ExgSessionHost;

/* The session calls its host's closed () once, when it is done. */
ExgSession *exg_session_new    (const ExgSessionHost *host,
                                int                   fd,
                                const char           *client);
void        exg_session_start  (ExgSession        *self);
void        exg_session_close  (ExgSession        *self);
guint64     exg_session_get_id (ExgSession        *self);

G_END_DECLS
