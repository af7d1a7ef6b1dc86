/* exg-relay.h: the two-way pump between a client and its exit.
 *
 * Works on the sockets' descriptors through the shared ExgPoller: reads
 * into one large shared buffer, writes straight on, and holds a private
 * buffer only for what the other side could not take yet (then stops
 * reading that way: back-pressure).  An idle relay holds no buffer.
 * Half-close: EOF one way shuts down writing on the other side while the
 * other direction keeps flowing.  Nagle is off on both legs (see
 * exg_relay_new).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _ExgRelay ExgRelay;

/* Bytes moved since the last call: up = client → exit, down = exit → client */
typedef void (*ExgRelayProgressFunc) (gpointer user_data,
                                      gsize    up,
                                      gsize    down);
/* Called exactly once, when both directions are finished (error NULL: the
 * relay has closed both sockets, the last FIN going out with the close) or
 * on the first error, or after exg_relay_close (G_IO_ERROR_CANCELLED).
 * The relay may be freed from inside it. */
typedef void (*ExgRelayDoneFunc)     (gpointer      user_data,
                                      const GError *error);

/* Takes the client's descriptor and the exit's (the relay closes them),
 * or, when GIO made the exit's stream, a ref on its connection, which
 * owns exit_fd.  The client's socket must have Nagle off already, as
 * sockets accepted from ExgListener have (inherited from the listening
 * socket); the relay turns it off on the exit's.  pending/pending_len:
 * bytes the client sent after its request, already read, to be forwarded
 * first. */
ExgRelay *exg_relay_new   (int                  client_fd,
                           int                  exit_fd,
                           GSocketConnection   *exit_conn,
                           const guint8        *pending,
                           gsize                pending_len,
                           ExgRelayProgressFunc progress,
                           ExgRelayDoneFunc     done,
                           gpointer             user_data);
void      exg_relay_start (ExgRelay *self);
/* Aborts both directions and closes both sockets. */
void      exg_relay_close (ExgRelay *self);
void      exg_relay_free  (ExgRelay *self);
/* Bytes held privately because the receiving side could not take them yet
 * (at most one read, 256 KiB, per direction); for tests and diagnostics. */
void      exg_relay_get_buffered (ExgRelay *self,
                                  gsize    *up,
                                  gsize    *down);

G_END_DECLS
