/* exg-socket-util.c: see exg-socket-util.h.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-socket-util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

/**
 * exg_sockaddr_from_literal:
 * @host: an IPv4 or IPv6 literal, or anything else
 * @port: the port to put in @sa
 * @sa: (out caller-allocates): the address connect(2) takes
 * @len: (out): its length
 *
 * inet_pton, as g_inet_address_new_from_string () uses, into a sockaddr:
 * no GInetAddress, no GInetSocketAddress.
 *
 * Returns: %TRUE if @host is an IP literal
 */
/**
 * exg_ipv4_to_string:
 * @ip: an IPv4 address, in network order
 * @out: where the text goes, NUL-terminated
 *
 * Writes @ip in dotted-quad form, as inet_ntop (AF_INET, …) does, which
 * goes through sprintf: a few thousand instructions, twice per connection
 * (the client's address and the target's).
 *
 * Returns: the length of the text, without the NUL
 */
gsize
exg_ipv4_to_string (const guint8 ip[4],
                    char         out[EXG_IPV4_STRLEN])
{
  char *p = out;

  for (int i = 0; i < 4; i++)
    {
      guint v = ip[i];

      if (i > 0)
        *p++ = '.';
      if (v >= 100)
        *p++ = (char) ('0' + v / 100);
      if (v >= 10)
        *p++ = (char) ('0' + v / 10 % 10);
      *p++ = (char) ('0' + v % 10);
    }
  *p = '\0';
  return (gsize) (p - out);
}

/**
 * exg_port_to_string:
 * @port: a port, in host order
 * @out: where the text goes, NUL-terminated
 *
 * Returns: the length of the text, without the NUL
 */
gsize
exg_port_to_string (guint16 port,
                    char    out[EXG_PORT_STRLEN])
{
  char digits[EXG_PORT_STRLEN];
  gsize n = 0, len;

  do
    {
      digits[n++] = (char) ('0' + port % 10);
      port /= 10;
    }
  while (port > 0);
  for (len = 0; len < n; len++)
    out[len] = digits[n - 1 - len];
  out[len] = '\0';
  return len;
}

gboolean
exg_sockaddr_from_literal (const char              *host,
                           guint16                  port,
                           struct sockaddr_storage *sa,
                           socklen_t               *len)
{
  struct sockaddr_in *sin = (struct sockaddr_in *) sa;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) sa;

  memset (sa, 0, sizeof *sa);
  if (inet_pton (AF_INET, host, &sin->sin_addr) == 1)
    {
      sin->sin_family = AF_INET;
      sin->sin_port = g_htons (port);
      *len = sizeof *sin;
      return TRUE;
    }
  if (inet_pton (AF_INET6, host, &sin6->sin6_addr) == 1)
    {
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = g_htons (port);
      *len = sizeof *sin6;
      return TRUE;
    }
  return FALSE;
}

/**
 * exg_socket_connect_start:
 * @sa: where to connect
 * @len: the length of @sa
 * @source: (nullable): local address to bind to first (port 0)
 * @in_progress: (out): %TRUE if the connect goes on in the background;
 *   wait for the socket to be writable, then exg_socket_connect_result ()
 * @error: return location for a #GError
 *
 * A non-blocking TCP socket and one connect(2) on it, as a bare
 * descriptor: a GSocket costs two fcntl(2) and two GObjects per
 * connection, which callers that only relay bytes never use.
 *
 * Returns: the socket (close-on-exec, non-blocking), or -1
 */
int
exg_socket_connect_start (const struct sockaddr_storage  *sa,
                          socklen_t                       len,
                          GInetAddress                   *source,
                          gboolean                       *in_progress,
                          GError                        **error)
{
  int fd, res, errsv;

  fd = socket (sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
               IPPROTO_TCP);
  if (fd < 0)
    {
      errsv = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "Unable to create socket: %s", g_strerror (errsv));
      return -1;
    }

  if (source != NULL)
    {
      g_autoptr(GSocketAddress) local = g_inet_socket_address_new (source, 0);
      struct sockaddr_storage local_sa;

      if (!g_socket_address_to_native (local, &local_sa, sizeof local_sa, error))
        {
          close (fd);
          return -1;
        }
      if (bind (fd, (const struct sockaddr *) &local_sa,
                g_socket_address_get_native_size (local)) < 0)
        {
          errsv = errno;
          close (fd);
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                       "Error binding to address: %s", g_strerror (errsv));
          return -1;
        }
    }

  do
    res = connect (fd, (const struct sockaddr *) sa, len);
  while (res < 0 && errno == EINTR);
  if (res == 0)
    {
      *in_progress = FALSE;
      return fd;
    }
  errsv = errno;
  if (errsv != EINPROGRESS)
    {
      close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "Error connecting: %s", g_strerror (errsv));
      return -1;
    }
  *in_progress = TRUE;
  return fd;
}

/**
 * exg_socket_connect_result:
 * @fd: a socket whose connect went on in the background
 * @error: return location for a #GError
 *
 * The outcome of that connect, once the socket is writable (or in
 * error), as g_socket_check_connect_result () tells it of a GSocket.
 *
 * Returns: %TRUE if the socket is connected
 */
gboolean
exg_socket_connect_result (int      fd,
                           GError **error)
{
  int err = 0;
  socklen_t len = sizeof err;

  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    err = errno;
  if (err == 0)
    return TRUE;
  /* worded as GIO words it: the reason alone */
  g_set_error_literal (error, G_IO_ERROR, g_io_error_from_errno (err),
                       g_strerror (err));
  return FALSE;
}
