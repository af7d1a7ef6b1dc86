/* exg-server.h: the SOCKS server.  Owns the listening sockets and the live
 * sessions; picks exits from a router registry; reports to an activity
 * model.
 *
 * Each listening socket has one persistent source in the main loop that
 * accepts everything queued at each wakeup.  GSocketService is not used:
 * in GLib 2.74 it logs a warning and re-arms at once on every failed
 * accept (a busy loop at the descriptor limit, which a proxy holding
 * thousands of connections reaches), adding an address to a running
 * service cancels its pending accept and can drop a connection already
 * taken, and it costs a GTask and a fresh source per connection.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-activity.h"
#include "exg-dest-policy.h"
#include "exg-router-registry.h"
#include "exg-selection.h"

G_BEGIN_DECLS

#define EXG_TYPE_SERVER (exg_server_get_type ())
G_DECLARE_FINAL_TYPE (ExgServer, exg_server, EXG, SERVER, GObject)

ExgServer *exg_server_new                   (ExgRouterRegistry *registry,
                                             ExgActivity       *activity);

/* Adds a listener.  Port 0 picks a free port; *out_bound (transfer full,
 * nullable) is the address actually bound.  A non-loopback address needs
 * an allow-list first (G_IO_ERROR_PERMISSION_DENIED otherwise). */
gboolean   exg_server_listen                (ExgServer         *self,
                                             GSocketAddress    *address,
                                             GSocketAddress   **out_bound,
                                             GError           **error);
GSocketAddress *exg_server_parse_listen_address (const char  *text,
                                                 GError     **error);
/* Parses "ADDR:PORT", "[V6]:PORT" or "PORT" and listens. */
gboolean   exg_server_listen_string         (ExgServer         *self,
                                             const char        *address,
                                             GSocketAddress   **out_bound,
                                             GError           **error);
/* Stops listening and closes every session.  listen may be called again. */
void       exg_server_stop                  (ExgServer         *self);
gboolean   exg_server_get_listening         (ExgServer         *self);
/* (element-type GSocketAddress) (transfer none) */
GPtrArray *exg_server_get_listen_addresses  (ExgServer         *self);

/* Closes a live connection by its ExgConnInfo id; FALSE if unknown. */
gboolean   exg_server_close_connection      (ExgServer         *self,
                                             guint64            id);

void       exg_server_set_handshake_timeout (ExgServer *self, guint seconds);  /* default 30 */
guint      exg_server_get_handshake_timeout (ExgServer *self);
void       exg_server_set_max_connections   (ExgServer *self, guint max);      /* 0 = no limit */
guint      exg_server_get_max_connections   (ExgServer *self);
/* CIDRs ("10.0.0.0/8", "::1/128"); clients outside are closed at once.
 * NULL or empty: loopback clients only. */
gboolean   exg_server_set_allow_list        (ExgServer          *self,
                                             const char * const *cidrs,
                                             GError            **error);
/* With a password set only method 02 is accepted and credentials must
 * match; NULL (the default) accepts any credentials. */
void       exg_server_set_credentials       (ExgServer  *self,
                                             const char *username,
                                             const char *password);
void       exg_server_set_default_selection (ExgServer          *self,
                                             const ExgSelection *sel);
void       exg_server_get_default_selection (ExgServer          *self,
                                             ExgSelection       *sel);
/* CIDR[:PORT[-PORT]] entries (see exg-dest-policy.h); NULL or empty:
 * none.  Listening beyond loopback refuses this host's addresses as
 * targets unless allow-targets names them; deny-targets refuse anywhere. */
gboolean   exg_server_set_allow_targets     (ExgServer          *self,
                                             const char * const *rules,
                                             GError            **error);
gboolean   exg_server_set_deny_targets      (ExgServer          *self,
                                             const char * const *rules,
                                             GError            **error);
/* (transfer none): judges every CONNECT target */
ExgDestPolicy *exg_server_get_dest_policy   (ExgServer *self);
void       exg_server_set_unsafe_logging    (ExgServer *self, gboolean unsafe);
gboolean   exg_server_get_unsafe_logging    (ExgServer *self);

ExgRouterRegistry *exg_server_get_registry  (ExgServer *self);
ExgActivity       *exg_server_get_activity  (ExgServer *self);

G_END_DECLS
