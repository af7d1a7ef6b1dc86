/* exg-socket-util.h: the socket steps shared by the exits that reach an
 * IP literal on their own (the direct exit, an upstream proxy given by
 * address), without GSocketClient or GInetAddress objects.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <sys/socket.h>

G_BEGIN_DECLS

gboolean  exg_sockaddr_from_literal (const char              *host,
                                     guint16                  port,
                                     struct sockaddr_storage *sa,
                                     socklen_t               *len);

GSocket  *exg_socket_connect_start  (const struct sockaddr_storage *sa,
                                     socklen_t                      len,
                                     GInetAddress                  *source,
                                     gboolean                      *in_progress,
                                     GError                       **error);

G_END_DECLS
