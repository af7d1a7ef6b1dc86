/* exg-test-util.h: helpers shared by the C tests: bounded waits on the
 * default main context, a resolver that counts lookups and answers only
 * what a test told it, child processes that die with the test, and hex
 * test vectors.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef gboolean (*ExgTestCond) (gpointer data);

/* A GSourceFunc that sets the gboolean at @user_data and removes itself. */
gboolean       exg_test_timeout_cb      (gpointer      user_data);

/* Iterates the default main context until @cond holds; fails the test
 * after @seconds. */
void           exg_test_wait_until      (ExgTestCond   cond,
                                         gpointer      data,
                                         guint         seconds);

/* Iterates the default main context until @cond holds or @ms pass;
 * returns whether it holds (the caller asserts, with its own words). */
gboolean       exg_test_poll_until      (ExgTestCond   cond,
                                         gpointer      data,
                                         guint         ms);

/* Runs what is ready on the default main context, without blocking. */
void           exg_test_flush           (void);

/* Likewise until the flag at @flag (read atomically: another thread may
 * set it) is non-zero. */
void           exg_test_wait_flag       (gint         *flag,
                                         guint         seconds);

/* A GAsyncReadyCallback that stores a reference to the result in the
 * GAsyncResult * at @user_data; exg_test_wait_result () waits for it and
 * returns it (still owned by the slot). */
void           exg_test_result_cb       (GObject      *source,
                                         GAsyncResult *result,
                                         gpointer      user_data);
GAsyncResult  *exg_test_wait_result     (GAsyncResult **slot,
                                         guint         seconds);

/* A resolver whose every lookup adds one to @counter (nullable; atomically:
 * lookups may come from any thread) and fails with
 * G_RESOLVER_ERROR_NOT_FOUND, unless an answer was added below. */
GResolver     *exg_test_resolver_new    (guint        *counter);

/* @name answers with the NULL-terminated list of address literals that
 * follows, in that order. */
void           exg_test_resolver_add_name (GResolver  *resolver,
                                           const char *name,
                                           ...) G_GNUC_NULL_TERMINATED;

/* The reverse lookup of the literal @address answers @name. */
void           exg_test_resolver_add_ptr  (GResolver  *resolver,
                                           const char *address,
                                           const char *name);

/* A GSpawnChildSetupFunc: the child gets SIGTERM when the test dies. */
void           exg_test_die_with_parent (gpointer      user_data);

/* Waits until something accepts on @address:@port (a process starting
 * up), retrying every 20 ms; fails the test after @seconds. */
void           exg_test_wait_listening  (const char   *address,
                                         guint16       port,
                                         guint         seconds);

/* Starts $EXITGATED --config @conf (dying with the test) and waits, at
 * most @seconds, for its first line "listening @address:PORT"; stores
 * PORT at @port. */
GSubprocess   *exg_test_spawn_exitgated (const char   *conf,
                                         const char   *address,
                                         guint16      *port,
                                         guint         seconds);

/* Sends SIGTERM to @process (one the test started) and waits for it to
 * exit, at most @seconds. */
void           exg_test_stop_process    (GSubprocess  *process,
                                         guint         seconds);

/* "05 01 00" -> bytes; spaces are ignored. */
GByteArray    *exg_test_hex             (const char   *s);

G_END_DECLS
