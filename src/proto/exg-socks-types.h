/* exg-socks-types.h: SOCKS constants shared by the parser, the encoders and
 * the core.  One source of truth for every byte value on the wire.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Handshakes (greeting + auth + request) larger than this are rejected
 * (issue 2).  18-byte router selections are each answered on their own and
 * are not counted, so a client may send any number of them (issue 3). */
#define EXG_SOCKS_MAX_HANDSHAKE 512

/* RFC 1928 §4 and socks-extensions.txt §2, §3 */
typedef enum {
  EXG_SOCKS_CMD_CONNECT       = 0x01,
  EXG_SOCKS_CMD_BIND          = 0x02,
  EXG_SOCKS_CMD_UDP_ASSOCIATE = 0x03,
  EXG_SOCKS_CMD_RESOLVE       = 0xF0,
  EXG_SOCKS_CMD_RESOLVE_PTR   = 0xF1,
  EXG_SOCKS_CMD_CONNECT_DIR   = 0xF2,  /* removed in tor 0.2.0.10: answered 07 */
} ExgSocksCommand;

typedef enum {
  EXG_SOCKS_ATYP_NONE   = 0x00,  /* tor's failure replies; only ever parsed */
  EXG_SOCKS_ATYP_IPV4   = 0x01,
  EXG_SOCKS_ATYP_DOMAIN = 0x03,
  EXG_SOCKS_ATYP_IPV6   = 0x04,
} ExgSocksAtyp;

/* RFC 1928 §3 plus socks-extensions.txt §5 */
typedef enum {
  EXG_SOCKS_METHOD_NO_AUTH      = 0x00,
  EXG_SOCKS_METHOD_USERPASS     = 0x02,
  EXG_SOCKS_METHOD_SELECT       = 0xE0,
  EXG_SOCKS_METHOD_NO_ACCEPTABLE = 0xFF,
} ExgSocksMethod;

/* RFC 1928 §6 */
typedef enum {
  EXG_SOCKS5_REPLY_SUCCEEDED          = 0x00,
  EXG_SOCKS5_REPLY_GENERAL_FAILURE    = 0x01,
  EXG_SOCKS5_REPLY_NOT_ALLOWED        = 0x02,
  EXG_SOCKS5_REPLY_NET_UNREACHABLE    = 0x03,
  EXG_SOCKS5_REPLY_HOST_UNREACHABLE   = 0x04,
  EXG_SOCKS5_REPLY_CONN_REFUSED       = 0x05,
  EXG_SOCKS5_REPLY_TTL_EXPIRED        = 0x06,
  EXG_SOCKS5_REPLY_CMD_NOT_SUPPORTED  = 0x07,
  EXG_SOCKS5_REPLY_ATYP_NOT_SUPPORTED = 0x08,
} ExgSocks5Reply;

/* SOCKS4 CD field */
typedef enum {
  EXG_SOCKS4_REPLY_GRANTED  = 0x5A,
  EXG_SOCKS4_REPLY_REJECTED = 0x5B,
} ExgSocks4Reply;

/* socks-extensions.txt §5: sizes of the router selection messages */
#define EXG_SOCKS_SELECT_REQUEST_LEN  18
#define EXG_SOCKS_SELECT_RESPONSE_LEN 14

/* A target or bound address as it appears on the wire. */
typedef struct {
  ExgSocksAtyp type;
  guint8       ip[16];      /* 4 bytes used for IPV4, 16 for IPV6 */
  char         host[256];   /* NUL-terminated when type == DOMAIN */
  guint16      port;        /* host byte order */
} ExgSocksAddr;

G_END_DECLS
