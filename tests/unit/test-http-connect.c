/* test-http-connect.c: the HTTP CONNECT request and the incremental parser
 * of the response head, every response split at every byte.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-http-connect.h"

#include <string.h>

/* ---- the request ---- */

static void
test_request_plain (void)
{
  static const char expected[] =
    "CONNECT example.org:443 HTTP/1.1\r\n"
    "Host: example.org:443\r\n"
    "\r\n";
  gsize len = 0;
  g_autofree char *req = exg_http_connect_request_new ("example.org", 443,
                                                       NULL, NULL, &len);

  g_assert_cmpstr (req, ==, expected);
  g_assert_cmpuint (len, ==, strlen (expected));
}

static void
test_request_ipv6 (void)
{
  g_autofree char *req = exg_http_connect_request_new ("2001:db8::1", 80,
                                                       NULL, NULL, NULL);

  g_assert_cmpstr (req, ==,
                   "CONNECT [2001:db8::1]:80 HTTP/1.1\r\n"
                   "Host: [2001:db8::1]:80\r\n"
                   "\r\n");
}

static void
test_request_credentials (void)
{
  g_autofree char *req = exg_http_connect_request_new ("10.0.0.1", 8080,
                                                       "Aladdin",
                                                       "open sesame", NULL);
  g_autofree char *user_only = exg_http_connect_request_new ("h", 1, "u",
                                                             NULL, NULL);

  /* RFC 7617 §2's example */
  g_assert_cmpstr (req, ==,
                   "CONNECT 10.0.0.1:8080 HTTP/1.1\r\n"
                   "Host: 10.0.0.1:8080\r\n"
                   "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"
                   "\r\n");
  /* "u:" */
  g_assert_cmpstr (user_only, ==,
                   "CONNECT h:1 HTTP/1.1\r\n"
                   "Host: h:1\r\n"
                   "Proxy-Authorization: Basic dTo=\r\n"
                   "\r\n");
}

static void
test_request_unsafe_host (void)
{
  static const char *hosts[] = {
    "", "a b", "a\r\nX-Injected: 1", "a\n", "a\t", "user@host", "a/b", "\x7f",
    "caf\xc3\xa9",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (hosts); i++)
    {
      gsize len = 42;

      g_assert_null (exg_http_connect_request_new (hosts[i], 80, NULL, NULL, &len));
      g_assert_cmpuint (len, ==, 42);
    }
}

/* ---- the response head ---- */

typedef struct {
  const char            *path;
  const char            *response;   /* the head, then the tunnel's bytes */
  ExgHttpConnectResult   end;
  ExgHttpConnectFailure  failure;
  guint                  status;
  gsize                  decided;    /* bytes up to the one that decides */
} Response;

#define TUNNEL "\x16\x03\x01 hello"

static const Response responses[] = {
  { "/proto/http-connect/response/ok",
    "HTTP/1.1 200 Connection established\r\n\r\n" TUNNEL,
    EXG_HTTP_CONNECT_DONE, EXG_HTTP_CONNECT_FAILURE_NONE, 200, 39 },
  { "/proto/http-connect/response/ok-http10-headers",
    "HTTP/1.0 200 OK\r\nProxy-Agent: test\r\nVia: 1.1 p\r\n\r\n" TUNNEL,
    EXG_HTTP_CONNECT_DONE, EXG_HTTP_CONNECT_FAILURE_NONE, 200, 50 },
  { "/proto/http-connect/response/ok-no-reason",
    "HTTP/1.1 204\r\n\r\n" TUNNEL,
    EXG_HTTP_CONNECT_DONE, EXG_HTTP_CONNECT_FAILURE_NONE, 204, 16 },
  { "/proto/http-connect/response/forbidden",
    "HTTP/1.1 403 Forbidden\r\n\r\n",
    EXG_HTTP_CONNECT_FAILED, EXG_HTTP_CONNECT_FAILURE_REFUSED, 403, 13 },
  { "/proto/http-connect/response/proxy-auth-required",
    "HTTP/1.1 407 Proxy Authentication Required\r\n"
    "Proxy-Authenticate: Basic\r\n\r\n",
    EXG_HTTP_CONNECT_FAILED, EXG_HTTP_CONNECT_FAILURE_REFUSED, 407, 13 },
  { "/proto/http-connect/response/informational",
    "HTTP/1.1 100 Continue\r\n\r\n",
    EXG_HTTP_CONNECT_FAILED, EXG_HTTP_CONNECT_FAILURE_REFUSED, 100, 13 },
  { "/proto/http-connect/response/bad-gateway",
    "HTTP/1.1 502\r\n",
    EXG_HTTP_CONNECT_FAILED, EXG_HTTP_CONNECT_FAILURE_REFUSED, 502, 13 },
  { "/proto/http-connect/response/not-http",
    "\x05\x00",
    EXG_HTTP_CONNECT_FAILED, EXG_HTTP_CONNECT_FAILURE_MALFORMED, 0, 1 },
  { "/proto/http-connect/response/http2",
    "HTTP/2 200\r\n\r\n",
    EXG_HTTP_CONNECT_FAILED, EXG_HTTP_CONNECT_FAILURE_MALFORMED, 0, 6 },
  { "/proto/http-connect/response/minor-version",
    "HTTP/1.2 200 OK\r\n\r\n",
    EXG_HTTP_CONNECT_FAILED, EXG_HTTP_CONNECT_FAILURE_MALFORMED, 0, 8 },
  { "/proto/http-connect/response/lowercase",
    "http/1.1 200 OK\r\n\r\n",
    EXG_HTTP_CONNECT_FAILED, EXG_HTTP_CONNECT_FAILURE_MALFORMED, 0, 1 },
  { "/proto/http-connect/response/two-digit-status",
    "HTTP/1.1 20 OK\r\n\r\n",
    EXG_HTTP_CONNECT_FAILED, EXG_HTTP_CONNECT_FAILURE_MALFORMED, 20, 12 },
  { "/proto/http-connect/response/four-digit-status",
    "HTTP/1.1 2000 OK\r\n\r\n",
    EXG_HTTP_CONNECT_FAILED, EXG_HTTP_CONNECT_FAILURE_MALFORMED, 200, 13 },
  { "/proto/http-connect/response/no-space",
    "HTTP/1.1200 OK\r\n\r\n",
    EXG_HTTP_CONNECT_FAILED, EXG_HTTP_CONNECT_FAILURE_MALFORMED, 0, 9 },
  { "/proto/http-connect/response/nul-in-header",
    "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n",
    EXG_HTTP_CONNECT_FAILED, EXG_HTTP_CONNECT_FAILURE_MALFORMED, 200, 22 },
  { "/proto/http-connect/response/bare-lf-is-not-the-end",
    "HTTP/1.1 200 OK\n\n\r\n\r\n" TUNNEL,
    EXG_HTTP_CONNECT_DONE, EXG_HTTP_CONNECT_FAILURE_NONE, 200, 21 },
  { "/proto/http-connect/response/cr-cr-lf",
    "HTTP/1.1 200 OK\r\r\n\r\n" TUNNEL,
    EXG_HTTP_CONNECT_DONE, EXG_HTTP_CONNECT_FAILURE_NONE, 200, 20 },
  { "/proto/http-connect/response/short",
    "HTTP/1.1 200 OK\r\n\r",
    EXG_HTTP_CONNECT_NEED_MORE, EXG_HTTP_CONNECT_FAILURE_NONE, 200, 18 },
};

static gsize
response_len (const Response *r)
{
  /* the vectors may hold a NUL: the head is measured by its end */
  const char *tunnel = r->end == EXG_HTTP_CONNECT_DONE ? TUNNEL : "";

  return r->decided + (r->end == EXG_HTTP_CONNECT_DONE ? strlen (tunnel) : 0) +
         (r->end == EXG_HTTP_CONNECT_FAILED ? strlen (r->response + r->decided) : 0);
}

/* Feeds @r in pieces ending at @cuts. */
static void
play (const Response *r,
      const gsize    *cuts,
      guint           n_cuts)
{
  const guint8 *data = (const guint8 *) r->response;
  ExgHttpConnectParser parser;
  ExgHttpConnectResult res = EXG_HTTP_CONNECT_NEED_MORE;
  gsize start = 0, used = 0;
  guint i;

  exg_http_connect_parser_init (&parser);
  for (i = 0; i < n_cuts && res == EXG_HTTP_CONNECT_NEED_MORE; i++)
    {
      gsize consumed = G_MAXSIZE;

      res = exg_http_connect_parser_feed (&parser, data + start,
                                          cuts[i] - start, &consumed);
      if (res == EXG_HTTP_CONNECT_NEED_MORE)
        g_assert_cmpuint (consumed, ==, cuts[i] - start);
      else
        g_assert_cmpuint (consumed, <=, cuts[i] - start);
      used += consumed;
      start = cuts[i];
    }

  g_assert_cmpint (res, ==, r->end);
  g_assert_cmpuint (used, ==, r->decided);
  g_assert_cmpuint (parser.head_len, ==, r->decided);
  g_assert_cmpint (parser.failure, ==, r->failure);
  g_assert_cmpuint (parser.status, ==, r->status);

  /* the verdict stays, and takes nothing more */
  if (res != EXG_HTTP_CONNECT_NEED_MORE)
    {
      gsize consumed = G_MAXSIZE;

      g_assert_cmpint (exg_http_connect_parser_feed (&parser,
                                                     (const guint8 *) "\r\n", 2,
                                                     &consumed),
                       ==, r->end);
      g_assert_cmpuint (consumed, ==, 0);
    }
}

static void
test_response (gconstpointer user_data)
{
  const Response *r = user_data;
  gsize len = response_len (r), cut;
  gsize cuts[512];
  guint n = 0;

  g_assert_cmpuint (len, <, G_N_ELEMENTS (cuts));

  cuts[0] = len;
  play (r, cuts, 1);
  for (cut = 1; cut < len; cut++)
    {
      cuts[0] = cut;
      cuts[1] = len;
      play (r, cuts, 2);
    }
  for (cut = 1; cut <= len; cut++)
    cuts[n++] = cut;
  play (r, cuts, n);
}

/* A head may be EXG_HTTP_CONNECT_HEAD_MAX bytes long, and not one more. */
static void
test_response_limit (void)
{
  const char *status = "HTTP/1.1 200 OK\r\n";
  gsize max = EXG_HTTP_CONNECT_HEAD_MAX;
  GString *head = g_string_new (status);
  g_autofree char *exact = NULL;
  ExgHttpConnectParser parser;
  gsize consumed = 0;

  /* "X: aaa…\r\n" filling up to max - 2, then the blank line */
  g_string_append (head, "X: ");
  while (head->len < max - 4)
    g_string_append_c (head, 'a');
  g_string_append (head, "\r\n\r\n");
  g_assert_cmpuint (head->len, ==, max);
  exact = g_strdup (head->str);

  exg_http_connect_parser_init (&parser);
  g_assert_cmpint (exg_http_connect_parser_feed (&parser, (const guint8 *) exact,
                                                 max, &consumed),
                   ==, EXG_HTTP_CONNECT_DONE);
  g_assert_cmpuint (consumed, ==, max);

  /* one header byte more: the blank line would end at max + 1 */
  g_string_insert_c (head, 20, 'a');
  exg_http_connect_parser_init (&parser);
  g_assert_cmpint (exg_http_connect_parser_feed (&parser,
                                                 (const guint8 *) head->str,
                                                 head->len, &consumed),
                   ==, EXG_HTTP_CONNECT_FAILED);
  g_assert_cmpint (parser.failure, ==, EXG_HTTP_CONNECT_FAILURE_TOO_LONG);
  g_assert_cmpuint (consumed, ==, max);
  g_assert_cmpuint (parser.status, ==, 200);
  g_string_free (head, TRUE);
}

int
main (int    argc,
      char **argv)
{
  guint i;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/proto/http-connect/request/plain", test_request_plain);
  g_test_add_func ("/proto/http-connect/request/ipv6", test_request_ipv6);
  g_test_add_func ("/proto/http-connect/request/credentials", test_request_credentials);
  g_test_add_func ("/proto/http-connect/request/unsafe-host", test_request_unsafe_host);
  for (i = 0; i < G_N_ELEMENTS (responses); i++)
    g_test_add_data_func (responses[i].path, &responses[i], test_response);
  g_test_add_func ("/proto/http-connect/response/limit", test_response_limit);

  return g_test_run ();
}
