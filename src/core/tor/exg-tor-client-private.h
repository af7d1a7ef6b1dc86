/* exg-tor-client-private.h: what the parts of ExgTorClient share: the
 * object and its state (exg-tor-client.c), the connection to tor
 * (exg-tor-connection.c), the consensus (exg-tor-consensus.c), circuits
 * and streams (exg-tor-circuits.c).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "exg-tor-client.h"

#include "exg-tor-md.h"
#include "exg-torctl-reply.h"
#include "exg-tor-control.h"
#include "exg-tor-process.h"
#include "exg-tor-streams.h"

G_BEGIN_DECLS

/* END reason TIMEOUT (tor-spec §6.3): tor answers the SOCKS client 06 */
#define REASON_TIMEOUT "7"
#define REASON_MISC    "1"

/* How many unknown circuit ids' last status are remembered */
#define MAX_EARLY_CIRCUITS 64

#define CIRCUIT_PATH_LENGTH 3

enum {
  RELAY_EXIT    = 1 << 0,
  RELAY_RUNNING = 1 << 1,
  RELAY_VALID   = 1 << 2,
  RELAY_BADEXIT = 1 << 3,
  RELAY_GUARD   = 1 << 4,
  RELAY_FAST    = 1 << 5,
};

typedef struct {
  char    *fingerprint;   /* 40 upper-case hex digits */
  char    *nickname;
  char    *address;       /* IPv4, as text */
  guint32  ipv4;          /* host order */
  guint64  bandwidth;     /* bytes/s */
  guint    flags;
  char    *policy;        /* exits: the microdescriptor's "p" summary */
  ExgTorFamily family;    /* the microdescriptor's; empty until read */
} Relay;

typedef struct {
  char *exit_fingerprint;
  char *isolation;
  char *stream;            /* tor's stream id; NULL until NEW */
} Expected;

typedef struct {
  char      *key;          /* "FP|isolation"; the circuit kept ready: "FP" */
  char      *exit_fingerprint;
  char      *id;           /* tor's id; NULL until EXTENDED */
  char      *path;         /* "nick (CC) → nick (CC) → nick (CC)", for people */
  gboolean   built;
  gint64     built_at;     /* monotonic µs */
  guint      builds;       /* EXTENDCIRCUITs tried for it */
  GPtrArray *waiting;      /* of char *, stream ids */
} Circuit;

struct _ExgTorClient
{
  GObject             parent_instance;

  ExgRouterRegistry  *registry;        /* owned */
  ExgGeoip           *geoip;           /* owned, nullable */

  char               *control_address; /* owned, nullable */
  char               *password;        /* owned, nullable */
  gboolean            managed;
  char               *data_dir;        /* owned, nullable */
  char               *torrc;           /* owned, nullable */
  char               *tor_path;        /* owned, nullable */

  ExgTorProcess      *process;         /* owned, nullable */
  ExgTorControl      *control;         /* owned, nullable: connected */
  gulong              event_id;
  gulong              closed_id;
  gulong              exited_id;
  guint               generation;
  gboolean            started;
  gboolean            stopping;
  guint               backoff;         /* seconds; 0: none yet */
  guint               reconnect_id;

  int                 progress;        /* -1 unknown */
  char               *summary;
  char               *warning;         /* owned, nullable: tor's last
                                        * bootstrap WARNING= */
  gboolean            network_disabled; /* a managed tor: DisableNetwork 1 */
  gboolean            spawned_disabled; /* the current tor started so */
  gboolean            ready;
  gboolean            loading;
  gboolean            reload;          /* a consensus came while loading */
  GSocketAddress     *socks;           /* owned, nullable */

  GHashTable         *relays;          /* fp → Relay */
  GPtrArray          *guards;          /* of char *, tor's entry guards that are up */
  GHashTable         *routers;         /* fp → ExgRouter, those in the registry */
  GHashTable         *expected;        /* SOURCE_ADDR → Expected */
  GHashTable         *ours;            /* stream id → its circuit's path
                                        * (char *): attached by us */
  GHashTable         *circuits;        /* key → Circuit (owned) */
  GHashTable         *circuit_ids;     /* tor's id → Circuit */
  GHashTable         *early;           /* tor's id → last status */
  char               *ready_exit;      /* owned, nullable: keep a circuit
                                        * to it ready, keyed by its fp */
};

/* A callback's context: answers to an older connection are dropped. */
typedef struct {
  ExgTorClient *self;     /* owned */
  guint         generation;
  char         *stream;   /* owned, nullable */
  Circuit      *circuit;  /* checked against the tables before use */
} Call;

/* Shared by the parts of ExgTorClient only. */
gboolean      exg_tor_client_call_current_ (Call *call);
void          exg_tor_client_call_free_ (Call *call);
Call *        exg_tor_client_call_new_ (ExgTorClient *self);
void          exg_tor_client_bootstrap_status_ (ExgTorClient *self,
                                                const char   *text);
void          exg_tor_client_connect_ (ExgTorClient *self);
void          exg_tor_client_drop_connection_ (ExgTorClient *self);
void          exg_tor_client_send_network_enabled_ (ExgTorClient *self);
void          exg_tor_client_circ_event_ (ExgTorClient *self,
                                          const ExgTorctlArgs *args);
void          exg_tor_client_load_consensus_ (ExgTorClient *self);
void          exg_tor_client_ready_circuit_build_ (ExgTorClient *self);
void          exg_tor_client_relay_country_ (ExgTorClient *self,
                                            const Relay  *relay,
                                            char          country[3]);
void          exg_tor_client_relay_free_ (Relay *relay);
void          exg_tor_client_send_ignored_ (ExgTorClient *self,
                                            const char *format,
                                            ...) G_GNUC_PRINTF (2, 3);
void          exg_tor_client_set_ready_ (ExgTorClient *self,
                                         gboolean ready);
void          exg_tor_client_sync_routers_ (ExgTorClient *self,
                                            ExgRouterState state);
void          exg_tor_client_streams_init_ (ExgTorStreamsInterface *iface);
void          exg_tor_client_stream_event_ (ExgTorClient *self,
                                            const ExgTorctlArgs *args);

G_END_DECLS
