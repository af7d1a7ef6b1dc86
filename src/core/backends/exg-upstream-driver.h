/* exg-upstream-driver.h: one handshake with an upstream proxy (SOCKS5,
 * SOCKS4a or HTTP CONNECT), run on the context's poller by the codecs of
 * src/proto: for a GTask (every request), or as a dial (a CONNECT for
 * the server's sessions, without GIO objects).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-backend.h"
#include "exg-router.h"
#include "exg-socks-types.h"

#include <gio/gio.h>
#include <sys/socket.h>

G_BEGIN_DECLS

/* The upstream proxy, as the backend knows it.  Borrowed for the call. */
typedef struct {
  ExgRouterKind                  kind;
  const char                    *host;
  guint16                        port;
  const struct sockaddr_storage *sa;        /* when host is an IP literal */
  socklen_t                      sa_len;    /* 0: host is a name */
  GSocketClient                 *client;    /* connects to a named host */
  const char                    *username;  /* nullable */
  const char                    *password;  /* nullable */
  char                         **local;     /* nullable: set to our end's
                                             * "IP:PORT" ("[IPv6]:PORT") as
                                             * soon as connect(2) started (a
                                             * numeric proxy only), before a
                                             * byte is sent: tor's SOURCE_ADDR */
} ExgUpstreamProxy;

typedef enum {
  EXG_UPSTREAM_CHECK,         /* connect (and greet, for SOCKS5): boolean */
  EXG_UPSTREAM_CONNECT,       /* a GSocketConnection to the target */
  EXG_UPSTREAM_RESOLVE,       /* a GList of one GInetAddress */
  EXG_UPSTREAM_RESOLVE_PTR,   /* a name (char *) */
} ExgUpstreamOp;

gboolean exg_upstream_target_from_host (ExgSocksAddr  *target,
                                        const char    *host,
                                        guint16        port,
                                        GError       **error);

void exg_upstream_handshake_start (const ExgUpstreamProxy *proxy,
                                   ExgUpstreamOp           op,
                                   const ExgSocksAddr     *target,
                                   guint                   timeout_seconds,
                                   GTask                  *task);

ExgBackendDial *exg_upstream_dial_start (const ExgUpstreamProxy *proxy,
                                         const ExgSocksAddr     *target,
                                         guint                   timeout_seconds,
                                         ExgBackendDialFunc      func,
                                         gpointer                user_data);

G_END_DECLS
