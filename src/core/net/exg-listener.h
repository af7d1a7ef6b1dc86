/* exg-listener.h: a listening socket and the one source that accepts on
 * it; at the descriptor limit it pauses instead of spinning.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <sys/socket.h>

G_BEGIN_DECLS

typedef struct _ExgListener ExgListener;

/* A connection was accepted: @fd is its socket, non-blocking and
 * close-on-exec, which the callback owns from now on; @remote is the
 * client's address as accept(2) gave it.  The callback may free the
 * listener. */
typedef void (*ExgListenerFunc) (int                            fd,
                                 const struct sockaddr_storage *remote,
                                 gpointer                       user_data);

/* Binds and listens on @address, accepting on the thread-default
 * context.  (transfer full) *out_bound: the address bound (port 0
 * resolved).  NULL with @error when it cannot listen. */
ExgListener *exg_listener_new  (GSocketAddress   *address,
                                int               backlog,
                                ExgListenerFunc   func,
                                gpointer          user_data,
                                GSocketAddress  **out_bound,
                                GError          **error);
/* Stops accepting and closes the socket. */
void         exg_listener_free (ExgListener      *self);

G_END_DECLS
