/* exg-activity.h: what the proxy is doing, in memory only: the live
 * connections and a bounded history of name lookups.  Nothing of it ever
 * goes to disk.
 *
 * Byte counters are plain fields that sessions bump on every read; signals
 * fire only when a connection appears, changes state or goes away, so a
 * view polls the counters on its own clock (once a second) instead of
 * hearing of every packet.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-router.h"

G_BEGIN_DECLS

typedef enum {
  EXG_CONN_STATE_HANDSHAKE,   /* reading the SOCKS handshake */
  EXG_CONN_STATE_CONNECTING,  /* connecting through the exit */
  EXG_CONN_STATE_RESOLVING,   /* RESOLVE / RESOLVE_PTR under way */
  EXG_CONN_STATE_OPEN,        /* relaying */
  EXG_CONN_STATE_CLOSED,      /* ended normally */
  EXG_CONN_STATE_FAILED,      /* ended with an error (see ->error) */
} ExgConnState;

typedef struct {
  guint64      id;            /* unique for the life of the process, from 1 */
  char        *client;        /* "127.0.0.1:40000" */
  char        *username;      /* SOCKS username, nullable */
  guint8       command;       /* ExgSocksCommand; 0 before the request */
  char        *target;        /* as requested, "host:port"; NULL before the request */
  char        *exit_id;       /* router used, NULL until chosen */
  char        *exit_name;
  char         exit_country[3];
  char        *circuit;       /* nullable: a tor exit's circuit, for people:
                               * "a (DE) → b (SE) → c (US)", set when open */
  char        *isolation;     /* nullable: the request's isolation key, as
                               * given to the backend (exg_tor_client_new_circuit) */
  ExgConnState state;
  guint64      bytes_up;      /* client → target */
  guint64      bytes_down;    /* target → client */
  gint64       start_time;    /* g_get_real_time () */
  gint64       end_time;      /* 0 while alive */
  char        *error;         /* nullable: why it failed, for people */
  guint8       socks_reply;   /* a failed request: the SOCKS5 reply code
                               * (ExgSocks5Reply) it was refused with, in
                               * SOCKS5 terms for SOCKS4 clients too; 0 else */
  gboolean     ip_literal_through_proxy;  /* a CONNECT by IP address through a
                                           * tor or proxy exit: the client may
                                           * resolve names itself (a DNS leak) */
  gint         ref_count;
} ExgConnInfo;

ExgConnInfo *exg_conn_info_ref   (ExgConnInfo *info);
void         exg_conn_info_unref (ExgConnInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ExgConnInfo, exg_conn_info_unref)
/* The client's address without its port: "127.0.0.1", "[::1]".
 * (transfer full) */
char        *exg_conn_info_get_client_host (const ExgConnInfo *info);
gsize        exg_conn_info_client_host_len (const ExgConnInfo *info);

typedef enum {
  EXG_LOOKUP_FORWARD,         /* name → address (RESOLVE) */
  EXG_LOOKUP_REVERSE,         /* address → name (RESOLVE_PTR) */
} ExgLookupKind;

typedef struct {
  gint64        time;         /* g_get_real_time () */
  char         *query;
  ExgLookupKind kind;
  char         *answer;       /* nullable; addresses joined by ", " */
  char         *error;        /* nullable */
  char         *exit_name;    /* nullable */
  char          exit_country[3];
} ExgLookup;

#define EXG_TYPE_ACTIVITY (exg_activity_get_type ())
G_DECLARE_FINAL_TYPE (ExgActivity, exg_activity, EXG, ACTIVITY, GObject)

ExgActivity *exg_activity_new              (guint        history_size);

void         exg_activity_set_history_size (ExgActivity *self,
                                            guint        history_size);
guint        exg_activity_get_history_size (ExgActivity *self);

/* Live connections.  add → "connection-added" (info); state/target/exit
 * changes → exg_activity_connection_changed → "connection-changed" (info);
 * remove (sets end_time) → "connection-removed" (info).  Signal arguments
 * are ExgConnInfo* (G_TYPE_POINTER), valid during emission; ref to keep. */
ExgConnInfo *exg_activity_add_connection   (ExgActivity *self,
                                            const char  *client);
void         exg_activity_connection_changed (ExgActivity *self,
                                            ExgConnInfo *info);
void         exg_activity_remove_connection (ExgActivity *self,
                                            ExgConnInfo *info);
ExgConnInfo *exg_activity_lookup_connection (ExgActivity *self,
                                            guint64      id);
guint        exg_activity_get_n_connections (ExgActivity *self);
/* @info's CONNECT by IP address went through a tor or proxy exit: marks
 * it (ip_literal_through_proxy, "connection-changed") and tells the log
 * once per client address. */
void         exg_activity_note_ip_literal_through_proxy (ExgActivity *self,
                                            ExgConnInfo *info);
/* (element-type ExgConnInfo) (transfer container): the live connections */
GPtrArray   *exg_activity_list_connections  (ExgActivity *self);

/* Counts bytes on @info and in the totals (cheap; no signal). */
static inline void exg_activity_add_bytes  (ExgActivity *self, ExgConnInfo *info,
                                            guint64 up, guint64 down);

/* Total bytes relayed since start, for the traffic graph */
void         exg_activity_get_totals       (ExgActivity *self,
                                            guint64     *up,
                                            guint64     *down);

/* Lookup history, newest last, at most history-size entries.  add →
 * "lookup-added" (ExgLookup*); clear → "lookups-cleared". */
void         exg_activity_add_lookup       (ExgActivity   *self,
                                            ExgLookupKind  kind,
                                            const char    *query,
                                            const char    *answer,
                                            const char    *error,
                                            ExgRouter     *exit);
/* (element-type ExgLookup) (transfer none) */
const GQueue *exg_activity_get_lookups     (ExgActivity *self);
void         exg_activity_clear_lookups    (ExgActivity *self);

/* implementation detail of the inline below */
guint64     *exg_activity_totals_ (ExgActivity *self);

static inline void
exg_activity_add_bytes (ExgActivity *self, ExgConnInfo *info, guint64 up, guint64 down)
{
  guint64 *totals = exg_activity_totals_ (self);

  info->bytes_up += up;
  info->bytes_down += down;
  totals[0] += up;
  totals[1] += down;
}

const char  *exg_conn_state_to_string      (ExgConnState state);

G_END_DECLS
