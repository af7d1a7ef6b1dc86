/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"
#include "exg-error.h"

/* Temporary stub: only the quark and the mapping the upstream tests
 * need; replaced by the real one at merge. */

G_DEFINE_QUARK (exg-error-quark, exg_error)

guint8
exg_error_to_socks5_reply (const GError *error)
{
  if (error->domain == EXG_ERROR)
    {
      switch (error->code)
        {
        case EXG_ERROR_NO_ROUTER:
        case EXG_ERROR_NOT_ALLOWED:
          return 0x02;
        case EXG_ERROR_UNSUPPORTED:
          return 0x07;
        default:
          return 0x01;
        }
    }
  if (error->domain == G_RESOLVER_ERROR)
    return error->code == G_RESOLVER_ERROR_NOT_FOUND ? 0x04 : 0x01;
  if (error->domain == G_IO_ERROR)
    {
      switch (error->code)
        {
        case G_IO_ERROR_CONNECTION_REFUSED: return 0x05;
        case G_IO_ERROR_HOST_UNREACHABLE: case G_IO_ERROR_HOST_NOT_FOUND: return 0x04;
        case G_IO_ERROR_NETWORK_UNREACHABLE: return 0x03;
        case G_IO_ERROR_TIMED_OUT: return 0x06;
        case G_IO_ERROR_PERMISSION_DENIED: case G_IO_ERROR_PROXY_NOT_ALLOWED: return 0x02;
        default: return 0x01;
        }
    }
  return 0x01;
}
