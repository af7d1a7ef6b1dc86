/* exg-dest-policy.h: which targets the proxy may connect to.
 *
 * The rules, first match wins:
 *   1. an address of 0.0.0.0 or ::, or port 0, is refused (tor: "Port or
 *      DestIP is zero");
 *   2. one of the proxy's own listeners is refused (a proxy that connects
 *      to itself nests a session per request, without end);
 *   3. a target in deny-targets is refused;
 *   4. a target in allow-targets is allowed;
 *   5. while any listener is beyond loopback, loopback and this host's own
 *      addresses are refused: remote clients must not reach services that
 *      trust local connections.  Everything else is allowed.
 *
 * A rule list entry is CIDR[:PORT[-PORT]]: "10.0.0.0/8", "10.1.2.3:443",
 * "192.168.0.0/16:8000-8090", "::1/128", "[::1]/128:8080-8090" (IPv6 in
 * brackets when a port follows).  An address without a prefix length is
 * one host; no port means every port.
 *
 * exg_dest_policy_check () looks only at the state held here, so tests
 * can set every part of it; exg_dest_policy_judge () first re-reads the
 * host's addresses when they may be stale.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
  EXG_DEST_ALLOWED,
  EXG_DEST_REFUSED_ZERO,          /* 0.0.0.0, :: or port 0 */
  EXG_DEST_REFUSED_OWN_LISTENER,  /* one of the proxy's listening addresses */
  EXG_DEST_REFUSED_DENIED,        /* matched deny-targets */
  EXG_DEST_REFUSED_LOCAL,         /* this host, while listening beyond loopback */
} ExgDestVerdict;

typedef struct _ExgDestPolicy ExgDestPolicy;

ExgDestPolicy *exg_dest_policy_new                (void);
ExgDestPolicy *exg_dest_policy_ref                (ExgDestPolicy      *self);
void           exg_dest_policy_unref              (ExgDestPolicy      *self);

gboolean       exg_dest_policy_set_allow_targets  (ExgDestPolicy      *self,
                                                   const char * const *rules,
                                                   GError            **error);
gboolean       exg_dest_policy_set_deny_targets   (ExgDestPolicy      *self,
                                                   const char * const *rules,
                                                   GError            **error);
/* Checks one CIDR[:PORT[-PORT]] entry; the error says what is wrong with
 * it (the caller names the file or flag). */
gboolean       exg_dest_rule_validate             (const char         *rule,
                                                   GError            **error);

void           exg_dest_policy_add_listener       (ExgDestPolicy      *self,
                                                   GInetAddress       *address,
                                                   guint16             port);
void           exg_dest_policy_clear_listeners    (ExgDestPolicy      *self);
gboolean       exg_dest_policy_get_beyond_loopback (ExgDestPolicy     *self);

void           exg_dest_policy_add_host_address   (ExgDestPolicy      *self,
                                                   GInetAddress       *address);
void           exg_dest_policy_clear_host_addresses (ExgDestPolicy    *self);
/* Re-reads the host's addresses (getifaddrs) when some listener is beyond
 * loopback and the last reading is more than a second old. */
void           exg_dest_policy_update_host_addresses (ExgDestPolicy   *self);

/* @bytes: 4 bytes for IPV4, 16 for IPV6 (a v4-mapped one counts as IPv4) */
ExgDestVerdict exg_dest_policy_check              (ExgDestPolicy      *self,
                                                   GSocketFamily       family,
                                                   const guint8       *bytes,
                                                   guint16             port);
/* exg_dest_policy_update_host_addresses (), then exg_dest_policy_check ();
 * a refusal sets EXG_ERROR_TARGET_REFUSED, whose message names the rule
 * and never the target. */
gboolean       exg_dest_policy_judge              (ExgDestPolicy      *self,
                                                   GSocketFamily       family,
                                                   const guint8       *bytes,
                                                   guint16             port,
                                                   GError            **error);

const char    *exg_dest_verdict_to_string         (ExgDestVerdict      verdict);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ExgDestPolicy, exg_dest_policy_unref)

G_END_DECLS
