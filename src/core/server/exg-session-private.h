/* exg-session-private.h: what the two halves of a session share.
 * exg-session.c has the client side (watching the socket, the handshake,
 * the deadlines); exg-session-request.c the request (choosing the exit,
 * connecting, resolving, handing over to the relay).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-session.h"

#include "exg-deadline.h"
#include "exg-poller.h"
#include "exg-relay.h"
#include "exg-socks-parser.h"

G_BEGIN_DECLS

/* Data a client may send while its exit connects; past this we stop
 * reading (TCP back-pressure) until the relay takes over. */
#define PENDING_MAX (64 * 1024)

/* The most a connect or a lookup through an exit may take before the
 * client hears "timed out" (06); the kernel alone would wait two minutes
 * for a silent host. */
#ifndef EXIT_TIMEOUT_SECONDS
#define EXIT_TIMEOUT_SECONDS 60
#endif

struct _ExgSession
{
  GObject            parent_instance;

  const ExgSessionHost *host;       /* borrowed: outlives its sessions */
  int                fd;            /* the client's socket: owned until
                                     * the relay takes it, then -1 */
  ExgConnInfo       *info;          /* owned ref; also in the activity model */
  GCancellable      *cancellable;   /* owned, nullable: made for the exit's
                                     * GIO work (lookups); cancelled on close */
  ExgDialerDial     *dial;          /* nullable: the connect under way */

  ExgPoller         *poller;        /* not owned: lives with the context */
  gboolean           watching;      /* the client fd is ours in the poller */
  gboolean           client_readable; /* data or EOF may be waiting */
  gboolean           client_fin;    /* … the client's FIN among it */
  ExgDeadline        deadline;      /* the handshake's, then the exit's */

  ExgSocksParser     parser;
  guint8            *buf;           /* owned: handshake bytes, then pending data */
  gsize              len;
  gsize              cap;
  guint              n_selections;
  gboolean           client_eof;

  /* socks-extensions.txt §5: only the last selection before the request
   * counts, and its router (not a new pick) carries the connection. */
  gboolean           has_selection;
  ExgRouter         *selected;      /* owned, nullable: the last E0 pick */

  guint8             version;
  guint8             command;
  ExgSocksAddr       target;

  ExgSelection       sel;           /* the request's, when no E0 fixed the exit */
  ExgRouter         *router;        /* owned, nullable: the exit in use */
  int                exit_fd;       /* owned, -1: until the relay has it */
  GSocketConnection *exit_conn;     /* owned, nullable: owns exit_fd when GIO
                                     * made it */
  ExgRelay          *relay;         /* owned, nullable */
  gint64             busy_since;        /* monotonic µs: the request went to the exit */
  gboolean           in_relay_start;
  gboolean           relay_done_early;

  gboolean           closed;
};

/* Shared by exg-session.c and exg-session-request.c only. */
void         exg_session_client_went_away_ (ExgSession *self);
GCancellable *exg_session_get_cancellable_ (ExgSession *self);
void         exg_session_stop_exit_work_ (ExgSession *self);
void         exg_session_deadline_set_ (ExgSession *self,
                                        gint64 deadline);
void         exg_session_fail_request_ (ExgSession *self,
                                        const GError *error,
                                        guint8 v5_code);
void         exg_session_handle_request_ (ExgSession *self,
                                          const ExgSocksMsg *msg);
const char * exg_session_safe_target_ (ExgSession *self);
gboolean     exg_session_send_bytes_ (ExgSession *self,
                                      const guint8 *data,
                                      gsize len);
void         exg_session_set_exit_ (ExgSession *self,
                                    ExgRouter *router);
void         exg_session_set_state_ (ExgSession *self,
                                     ExgConnState state);
char *       exg_session_target_host_ (const ExgSocksAddr *target);
void         exg_session_start_exit_wait_ (ExgSession *self);
void         exg_session_watch_hand_over_ (ExgSession *self);

G_END_DECLS
