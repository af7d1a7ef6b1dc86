/* exg-deadline.h: deadlines for many objects, one GSource per main context.
 *
 * A session's handshake, an exit's connect, an upstream's handshake: each
 * owner embeds an ExgDeadline and arms it.  Arming and disarming touch a
 * queue only; the context wakes up only when a deadline is earlier than
 * the one it waits for.  A deadline fires late by at most a quarter of a
 * second, never early, in the context that was thread-default when it was
 * first armed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef void (*ExgDeadlineFunc) (gpointer user_data);

typedef struct {
  /*< private >*/
  gint64           when;     /* monotonic µs; -1 when not armed */
  GList           *link;     /* in the timer's armed or firing queue */
  GQueue          *queue;    /* the queue link is in */
  gpointer         timer;    /* the context's timer, from the first arming */
  ExgDeadlineFunc  func;
  gpointer         user_data;
} ExgDeadline;

void     exg_deadline_init  (ExgDeadline     *self,
                             ExgDeadlineFunc  func,
                             gpointer         user_data);
/* @when: monotonic µs; -1 disarms.  Re-arming moves the deadline. */
void     exg_deadline_set   (ExgDeadline     *self,
                             gint64           when);
/* Disarms; call before the owner goes. */
void     exg_deadline_clear (ExgDeadline     *self);
gint64   exg_deadline_get   (const ExgDeadline *self);

G_END_DECLS
