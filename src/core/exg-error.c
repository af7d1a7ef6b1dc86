/* exg-error.c: the EXG_ERROR domain and the GError → SOCKS reply mapping.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-error.h"

#include "exg-socks-types.h"

G_DEFINE_QUARK (exg-error-quark, exg_error)

/**
 * exg_error_to_socks5_reply:
 * @error: (nullable): why a connect or resolve failed
 *
 * The one place where errors become wire codes.  The table follows tor's
 * (connection_edge.c, END_STREAM_REASON_* → SOCKS5): refused → 05, host
 * unreachable or name not found → 04, network unreachable → 03, timeout →
 * 06, forbidden by policy → 02, unsupported → 07, anything else → 01.
 *
 * Returns: an RFC 1928 reply code, never 00
 */
guint8
exg_error_to_socks5_reply (const GError *error)
{
  if (error == NULL)
    return EXG_SOCKS5_REPLY_GENERAL_FAILURE;

  if (error->domain == EXG_ERROR)
    {
      switch ((ExgError) error->code)
        {
        case EXG_ERROR_NO_ROUTER:
        case EXG_ERROR_NOT_ALLOWED:
        case EXG_ERROR_TARGET_REFUSED:
          return EXG_SOCKS5_REPLY_NOT_ALLOWED;
        case EXG_ERROR_UNSUPPORTED:
          return EXG_SOCKS5_REPLY_CMD_NOT_SUPPORTED;
        case EXG_ERROR_ADDRESS_TYPE:
          return EXG_SOCKS5_REPLY_ATYP_NOT_SUPPORTED;
        case EXG_ERROR_CONFIG:
        case EXG_ERROR_GEOIP:
        case EXG_ERROR_TOR_CONTROL:
        case EXG_ERROR_UPSTREAM:
        default:
          return EXG_SOCKS5_REPLY_GENERAL_FAILURE;
        }
    }

  if (error->domain == G_RESOLVER_ERROR)
    {
      /* tor answers a failed name lookup with "host unreachable" */
      switch ((GResolverError) error->code)
        {
        case G_RESOLVER_ERROR_NOT_FOUND:
        case G_RESOLVER_ERROR_TEMPORARY_FAILURE:
          return EXG_SOCKS5_REPLY_HOST_UNREACHABLE;
        case G_RESOLVER_ERROR_INTERNAL:
        default:
          return EXG_SOCKS5_REPLY_GENERAL_FAILURE;
        }
    }

  if (error->domain == G_IO_ERROR)
    {
      switch ((GIOErrorEnum) error->code)
        {
        case G_IO_ERROR_CONNECTION_REFUSED:
          return EXG_SOCKS5_REPLY_CONN_REFUSED;
        case G_IO_ERROR_HOST_UNREACHABLE:
        case G_IO_ERROR_HOST_NOT_FOUND:
          return EXG_SOCKS5_REPLY_HOST_UNREACHABLE;
        case G_IO_ERROR_NETWORK_UNREACHABLE:
          return EXG_SOCKS5_REPLY_NET_UNREACHABLE;
        case G_IO_ERROR_TIMED_OUT:
          return EXG_SOCKS5_REPLY_TTL_EXPIRED;
        case G_IO_ERROR_PERMISSION_DENIED:   /* EACCES/EPERM: a local firewall */
        case G_IO_ERROR_PROXY_NOT_ALLOWED:   /* an upstream said 02 */
          return EXG_SOCKS5_REPLY_NOT_ALLOWED;
        case G_IO_ERROR_NOT_SUPPORTED:
          return EXG_SOCKS5_REPLY_CMD_NOT_SUPPORTED;
        default:
          return EXG_SOCKS5_REPLY_GENERAL_FAILURE;
        }
    }

  return EXG_SOCKS5_REPLY_GENERAL_FAILURE;
}

const char *
exg_socks5_reply_describe (guint8 code)
{
  switch (code)
    {
    case EXG_SOCKS5_REPLY_SUCCEEDED:
      return "succeeded";
    case EXG_SOCKS5_REPLY_NOT_ALLOWED:
      return "not allowed by the rules";
    case EXG_SOCKS5_REPLY_NET_UNREACHABLE:
      return "network unreachable";
    case EXG_SOCKS5_REPLY_HOST_UNREACHABLE:
      return "host unreachable";
    case EXG_SOCKS5_REPLY_CONN_REFUSED:
      return "connection refused";
    case EXG_SOCKS5_REPLY_TTL_EXPIRED:
      return "timed out";
    case EXG_SOCKS5_REPLY_CMD_NOT_SUPPORTED:
      return "command not supported";
    case EXG_SOCKS5_REPLY_ATYP_NOT_SUPPORTED:
      return "address type not supported";
    case EXG_SOCKS5_REPLY_GENERAL_FAILURE:
    default:
      return "general failure";
    }
}

/**
 * exg_error_describe:
 * @error: (nullable): why a connect or lookup failed
 *
 * A description of @error that is safe to log: it depends only on the
 * error's domain and code, never on its message.
 *
 * Returns: (transfer none): a static string
 */
const char *
exg_error_describe (const GError *error)
{
  if (error == NULL)
    return "refused";
  if (g_error_matches (error, EXG_ERROR, EXG_ERROR_NO_ROUTER))
    return "no exit matches the selection";
  if (g_error_matches (error, EXG_ERROR, EXG_ERROR_TARGET_REFUSED))
    return "the destination policy refuses the target";
  if (g_error_matches (error, EXG_ERROR, EXG_ERROR_UPSTREAM))
    return "the upstream proxy broke its protocol";
  if (g_error_matches (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND))
    return "name not found";
  if (g_error_matches (error, G_RESOLVER_ERROR,
                       G_RESOLVER_ERROR_TEMPORARY_FAILURE))
    return "name lookup failed for now";
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return "cancelled";
  return exg_socks5_reply_describe (exg_error_to_socks5_reply (error));
}

/**
 * exg_error_from_socks5_reply:
 * @code: what an upstream proxy (or tor) answered, not 00
 * @resolving: the request was a RESOLVE: 04 means the name was not found
 *
 * The other direction of exg_error_to_socks5_reply(): the GError that it
 * turns back into the same reply for our client.
 *
 * Returns: (transfer full): the error
 */
GError *
exg_error_from_socks5_reply (guint8   code,
                             gboolean resolving)
{
  switch (code)
    {
    case EXG_SOCKS5_REPLY_NOT_ALLOWED:
      return g_error_new_literal (EXG_ERROR, EXG_ERROR_NOT_ALLOWED,
                                  "Not allowed by the upstream proxy");
    case EXG_SOCKS5_REPLY_NET_UNREACHABLE:
      return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE,
                                  "Network unreachable upstream");
    case EXG_SOCKS5_REPLY_HOST_UNREACHABLE:
      if (resolving)
        return g_error_new_literal (G_RESOLVER_ERROR,
                                    G_RESOLVER_ERROR_NOT_FOUND,
                                    "Name not found by the upstream proxy");
      return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE,
                                  "Host unreachable upstream");
    case EXG_SOCKS5_REPLY_CONN_REFUSED:
      return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
                                  "Connection refused upstream");
    case EXG_SOCKS5_REPLY_TTL_EXPIRED:
      return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                  "Timed out at the upstream proxy");
    case EXG_SOCKS5_REPLY_CMD_NOT_SUPPORTED:
      return g_error_new_literal (EXG_ERROR, EXG_ERROR_UNSUPPORTED,
                                  "The upstream proxy cannot do this");
    case EXG_SOCKS5_REPLY_ATYP_NOT_SUPPORTED:
      return g_error_new_literal (EXG_ERROR, EXG_ERROR_ADDRESS_TYPE,
                                  "The upstream proxy does not take this address type");
    default:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                          "The upstream proxy failed (reply %u)", code);
    }
}

/**
 * exg_error_from_http_status:
 * @status: an HTTP proxy's answer to CONNECT, not 2xx
 *
 * Returns: (transfer full): the error a SOCKS client hears as tor would
 *   say it
 */
GError *
exg_error_from_http_status (guint status)
{
  switch (status)
    {
    case 403:
    case 407:
      return g_error_new (EXG_ERROR, EXG_ERROR_NOT_ALLOWED,
                          "The HTTP proxy refused the tunnel (%u)", status);
    case 404:
    case 502:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE,
                          "Host unreachable upstream (HTTP %u)", status);
    case 503:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
                          "Connection refused upstream (HTTP %u)", status);
    case 504:
    case 408:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                          "Timed out at the upstream HTTP proxy (%u)", status);
    default:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_PROXY_FAILED,
                          "The upstream HTTP proxy answered %u", status);
    }
}
