/* exg-http-page.c: the answer to a browser that takes us for an HTTP proxy.
 *
 * Like tor (socks-extensions.txt §4) we look at the first byte only.  The
 * page is our own text: it says what went wrong and how to point a browser
 * at a SOCKS proxy, with remote DNS so that names do not leak.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-http-page.h"

#include <string.h>

#define PAGE_STATUS "HTTP/1.0 501 Exitgate is not an HTTP Proxy\r\n"

static const char page_body[] =
  "<!DOCTYPE html>\n"
  "<html lang=\"en\">\n"
  "<head>\n"
  "<meta charset=\"utf-8\">\n"
  "<title>This is a SOCKS proxy, not an HTTP proxy</title>\n"
  "</head>\n"
  "<body>\n"
  "<h1>This is a SOCKS proxy, not an HTTP proxy</h1>\n"
  "<p>Your browser sent an HTTP request to Exitgate, which speaks only\n"
  "SOCKS (versions 4, 4a and 5). It does not act as an HTTP proxy.</p>\n"
  "<p>To use it, open your browser's network or proxy settings and:</p>\n"
  "<ul>\n"
  "<li>choose <em>Manual proxy configuration</em>;</li>\n"
  "<li>leave the HTTP, HTTPS and FTP proxy fields empty;</li>\n"
  "<li>enter this address and port as the <em>SOCKS Host</em>, and pick\n"
  "<em>SOCKS v5</em>;</li>\n"
  "<li>turn on <em>Proxy DNS when using SOCKS v5</em>, so that host\n"
  "names are resolved at the exit and not on this computer.</li>\n"
  "</ul>\n"
  "<p>Command-line tools: "
  "<code>curl --socks5-hostname HOST:PORT URL</code>.</p>\n"
  "</body>\n"
  "</html>\n";

/* Headers + body, made once: the Content-Length is the body's real size. */
static char page[sizeof PAGE_STATUS + sizeof page_body + 128];
static gsize page_len;

gboolean
exg_http_looks_like_http (guint8 first_byte)
{
  /* GET, HEAD, POST/PUT, CONNECT */
  return first_byte == 'G' || first_byte == 'H' ||
         first_byte == 'P' || first_byte == 'C';
}

const guint8 *
exg_http_page_get (gsize *len)
{
  static gsize initialized = 0;

  g_return_val_if_fail (len != NULL, NULL);

  if (g_once_init_enter (&initialized))
    {
      int n = g_snprintf (page, sizeof page,
                          PAGE_STATUS
                          "Content-Type: text/html; charset=utf-8\r\n"
                          "Content-Length: %" G_GSIZE_FORMAT "\r\n"
                          "Connection: close\r\n"
                          "\r\n"
                          "%s",
                          strlen (page_body), page_body);

      g_assert (n > 0 && (gsize) n < sizeof page);
      page_len = (gsize) n;
      g_once_init_leave (&initialized, 1);
    }

  *len = page_len;
  return (const guint8 *) page;
}
