/* bindshim.c: an LD_PRELOAD library for the private Tor network's exits.
 *
 * tor never applies OutboundBindAddress* to a loopback destination (see
 * connection_connect() in tor's connection.c), so the kernel picks
 * 127.0.0.1 as the source of every exit connection to 127.0.0.1, and a
 * target server cannot tell the exits apart.  This shim binds an unbound
 * IPv4 TCP socket to the address in TORNET_BIND_ADDR before it connects
 * to 127.0.0.0/8, so the target sees the exit's own 127.0.0.x address.
 *
 * Anything else (other families, UDP, sockets already bound, other
 * destinations, no or a bad TORNET_BIND_ADDR) goes to connect() as is.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*ConnectFunc) (int, const struct sockaddr *, socklen_t);

static int
is_unbound_ipv4_tcp (int fd)
{
  struct sockaddr_in local;
  socklen_t len = sizeof local;
  int type = 0;
  socklen_t type_len = sizeof type;

  if (getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0
      || type != SOCK_STREAM)
    return 0;
  memset (&local, 0, sizeof local);
  if (getsockname (fd, (struct sockaddr *) &local, &len) != 0
      || local.sin_family != AF_INET)
    return 0;

  return local.sin_addr.s_addr == htonl (INADDR_ANY) && local.sin_port == 0;
}

static void
bind_to_own_address (int                    fd,
                     const struct sockaddr *addr,
                     socklen_t              addr_len)
{
  const struct sockaddr_in *dest = (const struct sockaddr_in *) addr;
  const char *own = getenv ("TORNET_BIND_ADDR");
  struct sockaddr_in local;
  int saved_errno = errno;

  if (own == NULL || addr == NULL || addr_len < sizeof *dest
      || dest->sin_family != AF_INET
      || (ntohl (dest->sin_addr.s_addr) >> 24) != 127)
    return;

  memset (&local, 0, sizeof local);
  local.sin_family = AF_INET;
  if (inet_pton (AF_INET, own, &local.sin_addr) != 1)
    return;

  /* A failed bind leaves the socket unbound, and connect() then behaves
   * as it would have without the shim: the test sees 127.0.0.1 and falls
   * back to asking /proc which process owns the connection. */
  if (is_unbound_ipv4_tcp (fd))
    bind (fd, (struct sockaddr *) &local, sizeof local);
  errno = saved_errno;
}

int
connect (int                    fd,
         const struct sockaddr *addr,
         socklen_t              addr_len)
{
  static ConnectFunc real_connect = NULL;

  if (real_connect == NULL)
    real_connect = (ConnectFunc) dlsym (RTLD_NEXT, "connect");
  if (real_connect == NULL)
    {
      errno = ENOSYS;
      return -1;
    }

  bind_to_own_address (fd, addr, addr_len);

  return real_connect (fd, addr, addr_len);
}
