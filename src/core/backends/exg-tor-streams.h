/* exg-tor-streams.h: what ExgBackendTor needs of the tor that carries its
 * streams: the SocksPort, and the controller that pins each stream of ours
 * to the exit chosen for it.  ExgTorClient implements it; the backend knows
 * no more of it, so that the tor client may make the backends of its exits
 * without the two depending on each other.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define EXG_TYPE_TOR_STREAMS (exg_tor_streams_get_type ())
G_DECLARE_INTERFACE (ExgTorStreams, exg_tor_streams, EXG, TOR_STREAMS, GObject)

struct _ExgTorStreamsInterface
{
  GTypeInterface parent_iface;

  gboolean         (*get_ready)           (ExgTorStreams *self);
  GSocketAddress  *(*get_socks_address)   (ExgTorStreams *self);
  void             (*expect_stream)       (ExgTorStreams *self,
                                           const char    *source_addr,
                                           const char    *exit_fingerprint,
                                           const char    *isolation);
  void             (*forget_stream)       (ExgTorStreams *self,
                                           const char    *source_addr);
  char            *(*dup_stream_circuit)  (ExgTorStreams *self,
                                           const char    *source_addr);
  void             (*keep_circuit_ready)  (ExgTorStreams *self,
                                           const char    *exit_fingerprint);
};

gboolean        exg_tor_streams_get_ready          (ExgTorStreams *self);
GSocketAddress *exg_tor_streams_get_socks_address  (ExgTorStreams *self);
void            exg_tor_streams_expect_stream      (ExgTorStreams *self,
                                                    const char    *source_addr,
                                                    const char    *exit_fingerprint,
                                                    const char    *isolation);
void            exg_tor_streams_forget_stream      (ExgTorStreams *self,
                                                    const char    *source_addr);
char           *exg_tor_streams_dup_stream_circuit (ExgTorStreams *self,
                                                    const char    *source_addr);
void            exg_tor_streams_keep_circuit_ready (ExgTorStreams *self,
                                                    const char    *exit_fingerprint);

G_END_DECLS
