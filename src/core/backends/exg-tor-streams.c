/* exg-tor-streams.c: the interface between ExgBackendTor and the tor
 * that carries its streams.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-tor-streams.h"

G_DEFINE_INTERFACE (ExgTorStreams, exg_tor_streams, G_TYPE_OBJECT)

static void
exg_tor_streams_default_init (ExgTorStreamsInterface *iface)
{
}

/**
 * exg_tor_streams_get_ready:
 * @self: a tor
 *
 * Returns: whether tor is connected and bootstrapped
 */
gboolean
exg_tor_streams_get_ready (ExgTorStreams *self)
{
  g_return_val_if_fail (EXG_IS_TOR_STREAMS (self), FALSE);
  return EXG_TOR_STREAMS_GET_IFACE (self)->get_ready (self);
}

/**
 * exg_tor_streams_get_socks_address:
 * @self: a tor
 *
 * Returns: (nullable) (transfer none): tor's SocksPort, %NULL while tor
 *   is not connected
 */
GSocketAddress *
exg_tor_streams_get_socks_address (ExgTorStreams *self)
{
  g_return_val_if_fail (EXG_IS_TOR_STREAMS (self), NULL);
  return EXG_TOR_STREAMS_GET_IFACE (self)->get_socks_address (self);
}

/**
 * exg_tor_streams_expect_stream:
 * @self: a tor
 * @source_addr: our end of a connection to tor's SocksPort, "IP:PORT"
 * @exit_fingerprint: the exit the stream must leave from
 * @isolation: what keeps circuits apart ("" for none)
 *
 * Called before the request can reach tor: the stream tor reports with
 * this SOURCE_ADDR is ours, and leaves from that exit.
 */
void
exg_tor_streams_expect_stream (ExgTorStreams *self,
                               const char    *source_addr,
                               const char    *exit_fingerprint,
                               const char    *isolation)
{
  g_return_if_fail (EXG_IS_TOR_STREAMS (self));
  EXG_TOR_STREAMS_GET_IFACE (self)->expect_stream (self, source_addr, exit_fingerprint,
                                                   isolation);
}

/**
 * exg_tor_streams_forget_stream:
 * @self: a tor
 * @source_addr: as given to exg_tor_streams_expect_stream()
 */
void
exg_tor_streams_forget_stream (ExgTorStreams *self,
                               const char    *source_addr)
{
  g_return_if_fail (EXG_IS_TOR_STREAMS (self));
  EXG_TOR_STREAMS_GET_IFACE (self)->forget_stream (self, source_addr);
}

/**
 * exg_tor_streams_dup_stream_circuit:
 * @self: a tor
 * @source_addr: as given to exg_tor_streams_expect_stream()
 *
 * Returns: (transfer full) (nullable): the stream's circuit, for people
 *   ("a (DE) → b (SE) → c (US)"), or %NULL if it is not attached
 */
char *
exg_tor_streams_dup_stream_circuit (ExgTorStreams *self,
                                    const char    *source_addr)
{
  g_return_val_if_fail (EXG_IS_TOR_STREAMS (self), NULL);
  return EXG_TOR_STREAMS_GET_IFACE (self)->dup_stream_circuit (self, source_addr);
}

/**
 * exg_tor_streams_keep_circuit_ready:
 * @self: a tor
 * @exit_fingerprint: (nullable): the exit relay, or %NULL for none
 *
 * Keeps one circuit to that exit built, so that the next stream there
 * does not wait for one.
 */
void
exg_tor_streams_keep_circuit_ready (ExgTorStreams *self,
                                    const char    *exit_fingerprint)
{
  g_return_if_fail (EXG_IS_TOR_STREAMS (self));
  EXG_TOR_STREAMS_GET_IFACE (self)->keep_circuit_ready (self, exit_fingerprint);
}
