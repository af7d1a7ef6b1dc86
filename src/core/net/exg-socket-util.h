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

/* "a.b.c.d" and a NUL, at most */
#define EXG_IPV4_STRLEN 16

gsize     exg_ipv4_to_string        (const guint8             ip[4],
                                     char                     out[EXG_IPV4_STRLEN]);

/* a port in decimal and a NUL, at most */
#define EXG_PORT_STRLEN 6

gsize     exg_port_to_string        (guint16                  port,
                                     char                     out[EXG_PORT_STRLEN]);

gboolean  exg_sockaddr_from_literal (const char              *host,
                                     guint16                  port,
                                     struct sockaddr_storage *sa,
                                     socklen_t               *len);

int       exg_socket_connect_start  (const struct sockaddr_storage *sa,
                                     socklen_t                      len,
                                     GInetAddress                  *source,
                                     gboolean                      *in_progress,
                                     GError                       **error);
gboolean  exg_socket_connect_result (int                            fd,
                                     GError                       **error);

G_END_DECLS
