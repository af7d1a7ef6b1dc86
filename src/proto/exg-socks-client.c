/* exg-socks-client.c: the client side of SOCKS5 and SOCKS4a.
 *
 * SOCKS5 (RFC 1928, RFC 1929, socks-extensions.txt §2):
 *
 *   Greeting (client → proxy):          Method choice (proxy → client):
 *   +----+----------+----------+        +----+--------+
 *   |VER | NMETHODS | METHODS  |        |VER | METHOD |
 *   +----+----------+----------+        +----+--------+
 *   | 05 |    1     | 00       |        | 05 | 00, 02 |   FF: none of them
 *   | 05 |    2     | 00 02    |        +----+--------+
 *   +----+----------+----------+
 *
 *   RFC 1929, after METHOD 02:          Status:
 *   +----+------+----------+------+----------+     +----+--------+
 *   |VER | ULEN |  UNAME   | PLEN |  PASSWD  |     |VER | STATUS |
 *   +----+------+----------+------+----------+     +----+--------+
 *   | 01 |  1   | 0 to 255 |  1   | 0 to 255 |     | 01 |   00   |  else refused
 *   +----+------+----------+------+----------+     +----+--------+
 *
 *   Request:
 *   +----+-----+-------+------+----------+----------+
 *   |VER | CMD |  RSV  | ATYP | DST.ADDR | DST.PORT |
 *   +----+-----+-------+------+----------+----------+
 *   | 05 | 01  |  00   |  01  | 4 bytes  |    2     |   CONNECT to IPv4
 *   | 05 | 01  |  00   |  04  | 16 bytes |    2     |   CONNECT to IPv6
 *   | 05 | 01  |  00   |  03  | LEN NAME |    2     |   CONNECT to a name
 *   | 05 | F0  |  00   |  03  | LEN NAME |  00 00   |   RESOLVE (tor)
 *   | 05 | F1  |  00   | 01/04| address  |  00 00   |   RESOLVE_PTR (tor)
 *   +----+-----+-------+------+----------+----------+
 *
 *   Reply:
 *   +----+-----+-------+------+----------+----------+
 *   |VER | REP |  RSV  | ATYP | BND.ADDR | BND.PORT |
 *   +----+-----+-------+------+----------+----------+
 *   | 05 | 00  |  00   | 01/04| address  |    2     |   CONNECT, RESOLVE
 *   | 05 | 00  |  00   |  03  | LEN NAME |    2     |   RESOLVE_PTR
 *   | 05 | 04  |  00   |  00  | 4 zeros  |  00 00   |   tor's failures
 *   +----+-----+-------+------+----------+----------+
 *
 * SOCKS4a (tor's socks4a.protocol):
 *
 *   Request:
 *   +----+----+----------+-------------+--------+----+----------+----+
 *   | VN | CD | DST.PORT |   DST.IP    | USERID | 00 | HOSTNAME | 00 |
 *   +----+----+----------+-------------+--------+----+----------+----+
 *   | 04 | 01 |    2     |   4 bytes   |   …    | 00 |          |    |  SOCKS4
 *   | 04 | 01 |    2     | 00 00 00 01 |   …    | 00 |   name   | 00 |  4a
 *   | 04 | F0 |  00 00   | 00 00 00 01 |   …    | 00 |   name   | 00 |  RESOLVE
 *   +----+----+----------+-------------+--------+----+----------+----+
 *
 *   Reply:
 *   +----+----+----------+---------+
 *   | VN | CD | DST.PORT | DST.IP  |    CD: 5A granted; 5B, 5C, 5D refused
 *   +----+----+----------+---------+
 *   | 00 | 5A |    2     | 4 bytes |    RESOLVE: DST.IP is the answer
 *   +----+----+----------+---------+
 *
 * Every reply is read exactly: the machine never asks for a byte past the
 * message it waits for, so that after a CONNECT the caller holds nothing
 * that belongs to the tunnel.
 *
 * Decisions the protocol texts leave open, taken here:
 * - The version byte of the RFC 1929 status is not checked (servers answer
 *   01 or 05); only STATUS 00 is success.
 * - The RSV byte of a reply is not checked.  ATYP 0 is taken with four
 *   address bytes, as tor sends it on failures; a CONNECT that succeeds
 *   with it is done, with bound of type NONE (nobody uses BND here).
 * - A v5 reply is judged as soon as its first byte (not 05) or its ATYP
 *   (unknown) show it is not one, without waiting for more.
 * - A SOCKS4 reply whose VN is not 00, or whose CD is none of 5A to 5D, is
 *   not a SOCKS4 reply.
 * - Credentials are offered (method 02 next to 00) when either the user
 *   name or the password is given; the other one is then empty.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-socks-client.h"

#include "exg-socks-encode.h"

#include <string.h>

/* The least every v5 reply has: VER REP RSV ATYP and one more byte (the
 * name's length, or the first address byte). */
#define SOCKS5_REPLY_MIN 5
#define SOCKS4_REPLY_LEN 8

enum {
  STATE_SEND_GREETING,
  STATE_READ_METHOD,
  STATE_SEND_AUTH,
  STATE_READ_AUTH,
  STATE_SEND_REQUEST,
  STATE_READ_REPLY,      /* v5 */
  STATE_READ_REPLY4,
  STATE_DONE,
  STATE_FAILED,
};

static ExgSocksClientStatus
fail (ExgSocksClient        *client,
      ExgSocksClientFailure  failure)
{
  client->state = STATE_FAILED;
  client->failure = failure;
  client->out_len = 0;
  return EXG_SOCKS_CLIENT_FAILED;
}

static gboolean
request_is_valid (guint8              version,
                  guint8              command,
                  const ExgSocksAddr *target)
{
  switch (command)
    {
    case EXG_SOCKS_CMD_CONNECT:
      return target->type == EXG_SOCKS_ATYP_IPV4 ||
             target->type == EXG_SOCKS_ATYP_DOMAIN ||
             (target->type == EXG_SOCKS_ATYP_IPV6 && version == 5);
    case EXG_SOCKS_CMD_RESOLVE:
      return target->type == EXG_SOCKS_ATYP_DOMAIN;
    case EXG_SOCKS_CMD_RESOLVE_PTR:
      /* socks-extensions.txt §2: RESOLVE_PTR is SOCKS5 only */
      return version == 5 &&
             (target->type == EXG_SOCKS_ATYP_IPV4 ||
              target->type == EXG_SOCKS_ATYP_IPV6);
    default:
      return FALSE;
    }
}

/* Encodes the request into client->out; FALSE if it cannot be said. */
static gboolean
encode_request (ExgSocksClient *client)
{
  if (client->version == 4)
    client->out_len = exg_socks4a_request_encode (client->out,
                                                  sizeof client->out,
                                                  client->command,
                                                  &client->target,
                                                  client->username);
  else
    client->out_len = exg_socks5_request_encode (client->out,
                                                 sizeof client->out,
                                                 client->command,
                                                 &client->target);
  return client->out_len > 0;
}

/**
 * exg_socks_client_init:
 * @client: the machine to (re)initialise
 * @version: 5 (SOCKS5) or 4 (SOCKS4a; SOCKS4 when @target is IPv4)
 * @command: %EXG_SOCKS_CMD_CONNECT, %EXG_SOCKS_CMD_RESOLVE (a name) or
 *   %EXG_SOCKS_CMD_RESOLVE_PTR (an address; SOCKS5 only)
 * @target: where to connect, or what to resolve; the port is sent as given
 *   (0 for the resolve commands)
 * @username: (nullable): SOCKS5: the RFC 1929 user name; SOCKS4a: the userid
 * @password: (nullable): SOCKS5: the RFC 1929 password; SOCKS4a: ignored
 *
 * Prepares the first message.  A request that cannot be said in @version
 * (see %EXG_SOCKS_CLIENT_FAILURE_INVALID_REQUEST) leaves the machine
 * FAILED at once, so that the caller has one way to learn of failures.
 */
void
exg_socks_client_init (ExgSocksClient     *client,
                       guint8              version,
                       guint8              command,
                       const ExgSocksAddr *target,
                       const char         *username,
                       const char         *password)
{
  static const guint8 methods[] = {
    EXG_SOCKS_METHOD_NO_AUTH, EXG_SOCKS_METHOD_USERPASS
  };

  g_return_if_fail (client != NULL);
  g_return_if_fail (version == 4 || version == 5);
  g_return_if_fail (target != NULL);

  memset (client, 0, sizeof *client);
  client->version = version;
  client->command = command;
  client->target = *target;
  client->offer_password = version == 5 &&
                           (username != NULL || password != NULL);

  if (!request_is_valid (version, command, target) ||
      (username != NULL &&
       g_strlcpy (client->username, username,
                  sizeof client->username) >= sizeof client->username) ||
      (password != NULL &&
       g_strlcpy (client->password, password,
                  sizeof client->password) >= sizeof client->password) ||
      !encode_request (client))
    {
      fail (client, EXG_SOCKS_CLIENT_FAILURE_INVALID_REQUEST);
      return;
    }

  if (version == 4)
    {
      /* no greeting: the request is the first message */
      client->state = STATE_SEND_REQUEST;
      return;
    }
  client->out_len = exg_socks5_greeting_encode (client->out, sizeof client->out,
                                                methods,
                                                client->offer_password ? 2 : 1);
  client->state = STATE_SEND_GREETING;
}

/**
 * exg_socks_client_get_status:
 * @client: a machine
 *
 * Returns: what the caller is to do next (see exg-socks-client.h)
 */
ExgSocksClientStatus
exg_socks_client_get_status (const ExgSocksClient *client)
{
  g_return_val_if_fail (client != NULL, EXG_SOCKS_CLIENT_FAILED);

  switch (client->state)
    {
    case STATE_SEND_GREETING:
    case STATE_SEND_AUTH:
    case STATE_SEND_REQUEST:
      return EXG_SOCKS_CLIENT_SEND;
    case STATE_READ_METHOD:
    case STATE_READ_AUTH:
    case STATE_READ_REPLY:
    case STATE_READ_REPLY4:
      return EXG_SOCKS_CLIENT_READ;
    case STATE_DONE:
      return EXG_SOCKS_CLIENT_DONE;
    case STATE_FAILED:
    default:
      return EXG_SOCKS_CLIENT_FAILED;
    }
}

/**
 * exg_socks_client_take_output:
 * @client: a machine whose status is SEND
 * @len: (out): the number of bytes to send
 *
 * Takes the message to send; the machine then waits for its answer
 * (status READ).  The caller sends every byte before it reads.
 *
 * Returns: (transfer none): the bytes, valid until the next call on @client
 */
const guint8 *
exg_socks_client_take_output (ExgSocksClient *client,
                              gsize          *len)
{
  g_return_val_if_fail (client != NULL, NULL);
  g_return_val_if_fail (len != NULL, NULL);
  g_return_val_if_fail (exg_socks_client_get_status (client) ==
                        EXG_SOCKS_CLIENT_SEND, NULL);

  switch (client->state)
    {
    case STATE_SEND_GREETING:
      client->state = STATE_READ_METHOD;
      break;
    case STATE_SEND_AUTH:
      client->state = STATE_READ_AUTH;
      break;
    case STATE_SEND_REQUEST:
    default:
      client->state = client->version == 4 ? STATE_READ_REPLY4
                                            : STATE_READ_REPLY;
      break;
    }
  client->in_len = 0;
  *len = client->out_len;
  return client->out;
}

/* Bytes still missing from the v5 reply in client->in, which the reply
 * parser did not reject: at least SOCKS5_REPLY_MIN, then the rest of the
 * address its ATYP announces, then the port. */
static gsize
socks5_reply_missing (const ExgSocksClient *client)
{
  const guint8 *in = client->in;
  gsize total;

  if (client->in_len < SOCKS5_REPLY_MIN)
    return SOCKS5_REPLY_MIN - client->in_len;
  if (in[3] == EXG_SOCKS_ATYP_IPV6)
    total = 4 + 16 + 2;
  else if (in[3] == EXG_SOCKS_ATYP_DOMAIN)
    total = 4 + 1 + (gsize) in[4] + 2;
  else
    total = 4 + 4 + 2;    /* IPV4, and tor's ATYP 0 */
  return total - client->in_len;
}

/**
 * exg_socks_client_get_wanted:
 * @client: a machine
 *
 * Returns: while the status is READ, the number of bytes the answer still
 *   lacks (at least 1): read no more than that.  0 otherwise.
 */
gsize
exg_socks_client_get_wanted (const ExgSocksClient *client)
{
  g_return_val_if_fail (client != NULL, 0);

  switch (client->state)
    {
    case STATE_READ_METHOD:
    case STATE_READ_AUTH:
      return 2 - client->in_len;
    case STATE_READ_REPLY4:
      return SOCKS4_REPLY_LEN - client->in_len;
    case STATE_READ_REPLY:
      return socks5_reply_missing (client);
    default:
      return 0;
    }
}

static ExgSocksClientStatus
send_request (ExgSocksClient *client)
{
  /* checked by exg_socks_client_init () */
  if (!encode_request (client))
    return fail (client, EXG_SOCKS_CLIENT_FAILURE_INVALID_REQUEST);
  client->state = STATE_SEND_REQUEST;
  return EXG_SOCKS_CLIENT_SEND;
}

static ExgSocksClientStatus
handle_method (ExgSocksClient *client)
{
  if (client->in[0] != 0x05)
    return fail (client, EXG_SOCKS_CLIENT_FAILURE_MALFORMED);

  switch (client->in[1])
    {
    case EXG_SOCKS_METHOD_NO_AUTH:
      return send_request (client);

    case EXG_SOCKS_METHOD_USERPASS:
      if (!client->offer_password)
        break;
      /* fits: both were checked to be at most 255 bytes */
      client->out_len = exg_socks5_auth_encode (client->out, sizeof client->out,
                                                client->username,
                                                client->password);
      client->state = STATE_SEND_AUTH;
      return EXG_SOCKS_CLIENT_SEND;

    default:
      break;
    }
  return fail (client, EXG_SOCKS_CLIENT_FAILURE_NO_METHOD);
}

static ExgSocksClientStatus
handle_auth (ExgSocksClient *client)
{
  if (client->in[1] != 0x00)
    {
      client->reply_code = client->in[1];
      return fail (client, EXG_SOCKS_CLIENT_FAILURE_AUTH_REJECTED);
    }
  return send_request (client);
}

/* The v5 reply so far: NEED_MORE, or the verdict on a whole one. */
static ExgSocksClientStatus
handle_reply (ExgSocksClient *client)
{
  ExgSocksAddr bound;
  gsize consumed = 0;
  guint8 code = 0;

  switch (exg_socks5_reply_parse (client->in, client->in_len, &consumed,
                                  &code, &bound))
    {
    case EXG_PARSE_NEED_MORE:
      return EXG_SOCKS_CLIENT_READ;
    case EXG_PARSE_OK:
      break;
    case EXG_PARSE_REJECT:
    case EXG_PARSE_HTTP:
    default:
      return fail (client, EXG_SOCKS_CLIENT_FAILURE_MALFORMED);
    }

  client->reply_code = code;
  client->bound = bound;
  if (code != EXG_SOCKS5_REPLY_SUCCEEDED)
    return fail (client, EXG_SOCKS_CLIENT_FAILURE_REFUSED);

  switch (client->command)
    {
    case EXG_SOCKS_CMD_RESOLVE:
      if (bound.type != EXG_SOCKS_ATYP_IPV4 && bound.type != EXG_SOCKS_ATYP_IPV6)
        return fail (client, EXG_SOCKS_CLIENT_FAILURE_NO_ANSWER);
      break;
    case EXG_SOCKS_CMD_RESOLVE_PTR:
      if (bound.type != EXG_SOCKS_ATYP_DOMAIN || bound.host[0] == '\0')
        return fail (client, EXG_SOCKS_CLIENT_FAILURE_NO_ANSWER);
      break;
    default:
      break;
    }
  client->state = STATE_DONE;
  return EXG_SOCKS_CLIENT_DONE;
}

static ExgSocksClientStatus
handle_reply4 (ExgSocksClient *client)
{
  const guint8 *in = client->in;
  guint8 code = in[1];

  if (in[0] != 0x00 || code < EXG_SOCKS4_REPLY_GRANTED || code > 0x5D)
    return fail (client, EXG_SOCKS_CLIENT_FAILURE_MALFORMED);

  client->reply_code = code;
  client->bound.type = EXG_SOCKS_ATYP_IPV4;
  client->bound.port = (guint16) ((in[2] << 8) | in[3]);
  memcpy (client->bound.ip, in + 4, 4);
  if (code != EXG_SOCKS4_REPLY_GRANTED)
    return fail (client, EXG_SOCKS_CLIENT_FAILURE_REFUSED);

  client->state = STATE_DONE;
  return EXG_SOCKS_CLIENT_DONE;
}

/* The answer so far: still short (READ), or the verdict on a whole one. */
static ExgSocksClientStatus
judge (ExgSocksClient *client)
{
  switch (client->state)
    {
    case STATE_READ_METHOD:
      return client->in_len < 2 ? EXG_SOCKS_CLIENT_READ : handle_method (client);
    case STATE_READ_AUTH:
      return client->in_len < 2 ? EXG_SOCKS_CLIENT_READ : handle_auth (client);
    case STATE_READ_REPLY4:
      return client->in_len < SOCKS4_REPLY_LEN ? EXG_SOCKS_CLIENT_READ
                                               : handle_reply4 (client);
    case STATE_READ_REPLY:
    default:
      return handle_reply (client);
    }
}

/**
 * exg_socks_client_feed:
 * @client: a machine whose status is READ
 * @data: (array length=len): bytes from the proxy
 * @len: how many
 * @consumed: (out): how many of @data the machine took
 *
 * Takes the bytes of @data that belong to the answer awaited, and judges
 * the answer once it is whole.  Bytes past it are not taken: after a
 * CONNECT they are the tunnel's.  A caller reading from a socket asks for
 * exg_socks_client_get_wanted () bytes, and so never reads past it.
 *
 * Returns: the new status: READ (still short), SEND (the next message is
 *   ready), DONE or FAILED
 */
ExgSocksClientStatus
exg_socks_client_feed (ExgSocksClient *client,
                       const guint8   *data,
                       gsize           len,
                       gsize          *consumed)
{
  ExgSocksClientStatus st = EXG_SOCKS_CLIENT_READ;

  g_return_val_if_fail (client != NULL, EXG_SOCKS_CLIENT_FAILED);
  g_return_val_if_fail (data != NULL || len == 0, EXG_SOCKS_CLIENT_FAILED);
  g_return_val_if_fail (consumed != NULL, EXG_SOCKS_CLIENT_FAILED);

  *consumed = 0;
  g_return_val_if_fail (exg_socks_client_get_status (client) ==
                        EXG_SOCKS_CLIENT_READ,
                        exg_socks_client_get_status (client));

  /* a v5 reply learns its length on the way: take in rounds */
  while (st == EXG_SOCKS_CLIENT_READ && *consumed < len)
    {
      gsize take = MIN (len - *consumed, exg_socks_client_get_wanted (client));

      memcpy (client->in + client->in_len, data + *consumed, take);
      client->in_len += take;
      *consumed += take;
      st = judge (client);
    }
  return st;
}

/**
 * exg_socks_client_failure_to_string:
 * @failure: a reason
 *
 * Returns: (transfer none): an untranslated phrase for logs and errors
 */
const char *
exg_socks_client_failure_to_string (ExgSocksClientFailure failure)
{
  switch (failure)
    {
    case EXG_SOCKS_CLIENT_FAILURE_NONE:
      return "no failure";
    case EXG_SOCKS_CLIENT_FAILURE_INVALID_REQUEST:
      return "the request cannot be expressed in this SOCKS version";
    case EXG_SOCKS_CLIENT_FAILURE_NO_METHOD:
      return "the proxy accepts none of our methods";
    case EXG_SOCKS_CLIENT_FAILURE_AUTH_REJECTED:
      return "the proxy refused our credentials";
    case EXG_SOCKS_CLIENT_FAILURE_REFUSED:
      return "the proxy refused the request";
    case EXG_SOCKS_CLIENT_FAILURE_MALFORMED:
      return "malformed reply";
    case EXG_SOCKS_CLIENT_FAILURE_NO_ANSWER:
      return "the reply carries no answer";
    default:
      return "unknown failure";
    }
}
