/* exg-router.h: one exit, a place traffic can leave from: this machine, an
 * upstream proxy or a tor exit relay.
 *
 * Description fields (id, name, kind, address, country, bandwidth, path
 * length, backend) are fixed at construction; the state (checking, up,
 * down) and the observed figures change and are notified as properties
 * ("state", "up", "observed-throughput", "observed-latency").
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-backend.h"

G_BEGIN_DECLS

typedef enum {
  EXG_ROUTER_KIND_DIRECT,
  EXG_ROUTER_KIND_SOCKS5,
  EXG_ROUTER_KIND_SOCKS4A,
  EXG_ROUTER_KIND_HTTP_CONNECT,
  EXG_ROUTER_KIND_TOR,
} ExgRouterKind;

/* What was last observed of a router.  CHECKING: new, or suspect after a
 * failed connect, and being checked now; it is still picked, like UP.
 * DOWN: the last check failed; picked only when nothing else matches. */
typedef enum {
  EXG_ROUTER_STATE_CHECKING,
  EXG_ROUTER_STATE_UP,
  EXG_ROUTER_STATE_DOWN,
} ExgRouterState;

#define EXG_TYPE_ROUTER_STATE (exg_router_state_get_type ())
GType exg_router_state_get_type (void) G_GNUC_CONST;

#define EXG_TYPE_ROUTER (exg_router_get_type ())
G_DECLARE_FINAL_TYPE (ExgRouter, exg_router, EXG, ROUTER, GObject)

/* address: the exit's IP as text ("" when unknown, e.g. direct without a
 * source address); country: ISO code or NULL/"" for unknown. */
ExgRouter    *exg_router_new                 (const char    *id,
                                              const char    *name,
                                              ExgRouterKind  kind,
                                              const char    *address,
                                              const char    *country,
                                              guint64        bandwidth,
                                              guint          path_length,
                                              ExgBackend    *backend);

const char   *exg_router_get_id              (ExgRouter *self);
const char   *exg_router_get_name            (ExgRouter *self);
ExgRouterKind exg_router_get_kind            (ExgRouter *self);
const char   *exg_router_get_address         (ExgRouter *self);
guint32       exg_router_get_ipv4            (ExgRouter *self); /* host order; 0 if none */
const char   *exg_router_get_country         (ExgRouter *self); /* "" if unknown */
guint64       exg_router_get_bandwidth       (ExgRouter *self);
guint         exg_router_get_path_length     (ExgRouter *self);
ExgBackend   *exg_router_get_backend         (ExgRouter *self);
/* What the router was built from (a config group, a consensus entry):
 * a router source replacing a router with one of the same id and digest
 * keeps the one it has, with its state and observed figures. */
const char   *exg_router_get_digest          (ExgRouter  *self);
void          exg_router_set_digest          (ExgRouter  *self,
                                              const char *digest);

/* What a new consensus may change of a tor relay that stays. */
void          exg_router_set_bandwidth       (ExgRouter     *self,
                                              guint64        bandwidth);
void          exg_router_set_exit_policy     (ExgRouter     *self,
                                              const char    *summary);
const char   *exg_router_get_exit_policy     (ExgRouter     *self);
gboolean      exg_router_allows_port         (ExgRouter     *self,
                                              guint16        port);
gboolean      exg_exit_policy_allows_port    (const char    *summary,
                                              guint16        port);

ExgRouterState exg_router_get_state         (ExgRouter      *self);
void          exg_router_set_state           (ExgRouter      *self,
                                              ExgRouterState  state);
/* state == UP; set_up (TRUE/FALSE) sets UP or DOWN */
gboolean      exg_router_get_up              (ExgRouter *self);
void          exg_router_set_up              (ExgRouter *self,
                                              gboolean   up);

/* A connect through the router ended: @ok marks it UP; a failure makes
 * an UP router suspect (CHECKING), and whoever watches the state (ExgHealth)
 * checks it at once.  Also feeds the observed latency. */
void          exg_router_record_connect      (ExgRouter *self,
                                              gint64     latency_us,
                                              gboolean   ok);
void          exg_router_record_bytes        (ExgRouter *self,
                                              guint64    bytes);
double        exg_router_get_observed_throughput (ExgRouter *self); /* bytes/s, recent */
gint64        exg_router_get_observed_latency    (ExgRouter *self); /* µs, -1 unknown */

const char   *exg_router_state_to_string     (ExgRouterState state);
const char   *exg_router_kind_to_string      (ExgRouterKind  kind);
gboolean      exg_router_kind_from_string    (const char    *text,
                                              ExgRouterKind *kind);

G_END_DECLS
