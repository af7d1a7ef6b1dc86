/* exg-tor-control-private.h: what the two halves of ExgTorControl share:
 * the connection and commands (exg-tor-control.c) and connecting and
 * authenticating (exg-tor-control-auth.c).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-tor-control.h"

G_BEGIN_DECLS

#define READ_SIZE         16384
#define COOKIE_LEN        32
#define NONCE_LEN         32

/* control-spec §3.24 */
#define SAFECOOKIE_SERVER_KEY "Tor safe cookie authentication server-to-controller hash"
#define SAFECOOKIE_CLIENT_KEY "Tor safe cookie authentication controller-to-server hash"

typedef enum {
  STATE_NEW,
  STATE_AUTHENTICATING,
  STATE_CONNECTED,
  STATE_CLOSED,
} State;

typedef struct {
  GTask *task;   /* owned */
  char  *line;   /* the command with its CRLF */
} Command;

struct _ExgTorControl
{
  GObject           parent_instance;

  State             state;
  ExgTorAuthMethod  allowed;
  ExgTorAuthMethod  offered;
  ExgTorAuthMethod  used;
  char             *tor_version;
  char             *cookie_file;
  char             *password;        /* only while authenticating */
  GTask            *connect_task;    /* owned; NULL once connected or failed */
  guint8            client_nonce[NONCE_LEN];
  GBytes           *cookie;          /* owned, while authenticating */
  GCancellable     *connect_cancellable;  /* owned; the caller's, while connecting */
  gulong            connect_cancel_id;

  GIOStream        *stream;          /* owned; NULL until connected */
  GCancellable     *cancellable;     /* owned; cancels our reads and writes */
  ExgTorctlParser  *parser;          /* owned */
  guint8           *buf;             /* owned, READ_SIZE bytes */
  gboolean          reading;
  gboolean          writing;         /* a write is outstanding: its reply
                                      * may be read before its callback */

  GQueue            commands;        /* of Command*, owned, not yet written */
  Command          *in_flight;       /* owned; written, awaiting its reply */
  GQueue            deliveries;      /* of ExgTorctlReply*, owned */
  GTask            *blocking;        /* owned; a returned task whose callback
                                      * has not run: deliveries wait for it */
  gulong            blocking_id;
  gboolean          delivering;
  gboolean          eof;
};

/* Shared by the two halves only. */
void          exg_tor_control_close_internal_ (ExgTorControl *self,
                                               const GError *error,
                                               gboolean emit);
void          exg_tor_control_disconnect_cancellable_ (ExgTorControl *self);
void          exg_tor_control_enqueue_ (ExgTorControl *self,
                                        const char *command,
                                        GTask *task);
void          exg_tor_control_start_read_ (ExgTorControl *self);

G_END_DECLS
