/* exg-listener.c: accept everything queued at each wakeup, from one
 * persistent source.
 *
 * Not a GSocketService: that takes one main-loop iteration, a GTask and a
 * fresh source per accepted connection, and adding an address to a
 * running one cancels its pending accept, which in GLib 2.74 can drop a
 * connection the cancelled accept had already taken.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define _GNU_SOURCE   /* accept4 */
#include "config.h"
#include "exg-listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

/* connections accepted per wakeup at most, so other work gets its turn */
#define ACCEPT_BATCH 64
/* how long to wait at the descriptor limit before trying again */
#define PAUSE_MS 100

struct _ExgListener
{
  GSocket         *socket;      /* owned: listening */
  GSource         *source;      /* owned, nullable: NULL while paused */
  guint            resume_id;   /* the pause after EMFILE */
  ExgListenerFunc  func;
  gpointer         user_data;
};

/* Descriptors are the process's: one episode for every listener, said
 * once when it starts and once when it ends. */
static struct {
  gint64 since;    /* monotonic µs; 0: descriptors to spare */
  guint  pauses;   /* accept pauses in this episode */
} exhausted;

static void listener_watch (ExgListener *self);

static gboolean
resume_cb (gpointer user_data)
{
  ExgListener *self = user_data;

  self->resume_id = 0;
  listener_watch (self);
  return G_SOURCE_REMOVE;
}

/* accept4(2) straight on the descriptor: it returns the client's address
 * and sets O_NONBLOCK and FD_CLOEXEC in the same call.  The socket stays a
 * bare descriptor: a GSocket would ask the kernel again for its type,
 * both addresses, SO_KEEPALIVE and its flags (six syscalls a connection),
 * and nothing downstream needs one. */
static int
accept_one (ExgListener             *self,
            struct sockaddr_storage *remote,
            int                     *out_errno)
{
  socklen_t len = sizeof *remote;
  int fd;

  memset (remote, 0, sizeof *remote);
  do
    fd = accept4 (g_socket_get_fd (self->socket), (struct sockaddr *) remote,
                  &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    *out_errno = errno;
  return fd;
}

/* The listening socket stays readable at the limit: without a pause this
 * would spin until a descriptor is freed.  One line when the limit is
 * reached, one when it recovers; the pauses in between are only counted. */
static void
pause_accepting (ExgListener *self)
{
  if (exhausted.since == 0)
    {
      exhausted.since = g_get_monotonic_time ();
      exhausted.pauses = 0;
      g_message ("Out of file descriptors: pausing new connections until some are freed");
    }
  exhausted.pauses++;
  g_source_destroy (self->source);
  g_clear_pointer (&self->source, g_source_unref);
  self->resume_id = g_timeout_add (PAUSE_MS, resume_cb, self);
}

static gboolean
accept_cb (GSocket      *listening,
           GIOCondition  condition,
           gpointer      user_data)
{
  ExgListener *self = user_data;
  g_autoptr(GSocket) socket = g_object_ref (listening);

  for (int i = 0; i < ACCEPT_BATCH; i++)
    {
      struct sockaddr_storage remote;
      int errsv = 0;
      int fd;

      fd = accept_one (self, &remote, &errsv);
      if (fd < 0)
        {
          if (errsv == EMFILE || errsv == ENFILE)
            {
              pause_accepting (self);
              return G_SOURCE_REMOVE;
            }
          if (errsv != EAGAIN && errsv != EWOULDBLOCK)
            g_debug ("accept: %s", g_strerror (errsv));
          break;
        }

      if (exhausted.since != 0)
        {
          gint64 ms = (g_get_monotonic_time () - exhausted.since) / 1000;

          g_message ("File descriptors free again: accepting connections "
                     "(paused %u times over %" G_GINT64_FORMAT " ms)",
                     exhausted.pauses, ms);
          exhausted.since = 0;
        }
      self->func (fd, &remote, self->user_data);
      /* the callback may have freed the listener */
      if (g_source_is_destroyed (g_main_current_source ()))
        return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
listener_watch (ExgListener *self)
{
  self->source = g_socket_create_source (self->socket, G_IO_IN, NULL);
  g_source_set_callback (self->source,
                         (GSourceFunc) (void (*) (void)) accept_cb, self, NULL);
  g_source_set_static_name (self->source, "[exitgate] listener");
  /* nothing nested runs from accept_cb; spares GLib's two wakeups per
   * dispatch for non-recursive sources */
  g_source_set_can_recurse (self->source, TRUE);
  g_source_attach (self->source, g_main_context_get_thread_default ());
}

ExgListener *
exg_listener_new (GSocketAddress   *address,
                  int               backlog,
                  ExgListenerFunc   func,
                  gpointer          user_data,
                  GSocketAddress  **out_bound,
                  GError          **error)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  ExgListener *self;

  g_return_val_if_fail (G_IS_SOCKET_ADDRESS (address), NULL);
  g_return_val_if_fail (func != NULL, NULL);

  socket = g_socket_new (g_socket_address_get_family (address),
                         G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);
  if (socket == NULL)
    return NULL;
  g_socket_set_blocking (socket, FALSE);
  g_socket_set_listen_backlog (socket, backlog);
  /* Accepted sockets inherit Nagle's setting: off here, it is off on every
   * client's socket without a setsockopt each (exg-relay.h) */
  g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  if (!g_socket_bind (socket, address, TRUE, error) ||
      !g_socket_listen (socket, error) ||
      (bound = g_socket_get_local_address (socket, error)) == NULL)
    {
      g_socket_close (socket, NULL);
      return NULL;
    }

  self = g_new0 (ExgListener, 1);
  self->socket = g_steal_pointer (&socket);
  self->func = func;
  self->user_data = user_data;
  listener_watch (self);
  if (out_bound != NULL)
    *out_bound = g_steal_pointer (&bound);
  return self;
}

void
exg_listener_free (ExgListener *self)
{
  if (self == NULL)
    return;
  if (self->source != NULL)
    {
      g_source_destroy (self->source);
      g_source_unref (self->source);
    }
  g_clear_handle_id (&self->resume_id, g_source_remove);
  g_socket_close (self->socket, NULL);
  g_object_unref (self->socket);
  g_free (self);
}
