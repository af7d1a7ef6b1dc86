/* exg-selection.c: router selection values (socks-extensions.txt §5).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-selection.h"

#include "exg-error.h"
#include "exg-router.h"

#include <errno.h>
#include <string.h>

void
exg_selection_init_any (ExgSelection *sel)
{
  g_return_if_fail (sel != NULL);

  /* socks-extensions.txt §5: country 0x0000, range 0.0.0.0-255.255.255.255
   * and min_bw 0 each mean "any" */
  memset (sel, 0, sizeof *sel);
  sel->range_start = 0;
  sel->range_end = G_MAXUINT32;
  sel->min_bandwidth = 0;
}

gboolean
exg_selection_is_any (const ExgSelection *sel)
{
  g_return_val_if_fail (sel != NULL, TRUE);

  return sel->country[0] == '\0' &&
         sel->range_start == 0 && sel->range_end == G_MAXUINT32 &&
         sel->min_bandwidth == 0 && sel->via == EXG_SELECTION_VIA_ANY;
}

gboolean
exg_selection_equal (const ExgSelection *a,
                     const ExgSelection *b)
{
  g_return_val_if_fail (a != NULL && b != NULL, FALSE);

  return g_ascii_strcasecmp (a->country, b->country) == 0 &&
         a->range_start == b->range_start &&
         a->range_end == b->range_end &&
         a->min_bandwidth == b->min_bandwidth &&
         a->via == b->via && a->port == b->port;
}

gboolean
exg_selection_set_country (ExgSelection *sel,
                           const char   *country)
{
  g_return_val_if_fail (sel != NULL, FALSE);

  if (country == NULL || country[0] == '\0')
    {
      sel->country[0] = '\0';
      return TRUE;
    }

  if (!g_ascii_isalpha (country[0]) || !g_ascii_isalpha (country[1]) ||
      country[2] != '\0')
    return FALSE;

  sel->country[0] = g_ascii_toupper (country[0]);
  sel->country[1] = g_ascii_toupper (country[1]);
  sel->country[2] = '\0';
  return TRUE;
}

static gboolean
parse_ipv4 (const char *text,
            gsize       len,
            guint32    *out)
{
  char buf[16];
  guint32 value = 0;
  const char *p;
  int parts = 0;

  if (len == 0 || len >= sizeof buf)
    return FALSE;
  memcpy (buf, text, len);
  buf[len] = '\0';

  /* strict dotted quad: four decimal parts 0..255, nothing else */
  p = buf;
  while (parts < 4)
    {
      guint part = 0;
      int digits = 0;

      while (g_ascii_isdigit (*p) && digits < 4)
        {
          part = part * 10 + (guint) (*p - '0');
          p++;
          digits++;
        }
      if (digits == 0 || digits > 3 || part > 255)
        return FALSE;
      value = (value << 8) | part;
      parts++;
      if (parts < 4)
        {
          if (*p != '.')
            return FALSE;
          p++;
        }
    }
  if (*p != '\0')
    return FALSE;

  *out = value;
  return TRUE;
}

gboolean
exg_selection_parse_range (const char *text,
                           guint32    *start,
                           guint32    *end)
{
  const char *sep;
  guint32 a, b;

  g_return_val_if_fail (start != NULL && end != NULL, FALSE);

  if (text == NULL)
    return FALSE;

  if ((sep = strchr (text, '/')) != NULL)
    {
      guint64 bits;
      char *endp = NULL;
      guint32 mask;

      if (!parse_ipv4 (text, (gsize) (sep - text), &a))
        return FALSE;
      if (!g_ascii_isdigit (sep[1]))
        return FALSE;
      bits = g_ascii_strtoull (sep + 1, &endp, 10);
      if (*endp != '\0' || bits > 32)
        return FALSE;
      mask = bits == 0 ? 0 : G_MAXUINT32 << (32 - bits);
      *start = a & mask;
      *end = (a & mask) | ~mask;
      return TRUE;
    }

  if ((sep = strchr (text, '-')) == NULL)
    return FALSE;
  if (!parse_ipv4 (text, (gsize) (sep - text), &a) ||
      !parse_ipv4 (sep + 1, strlen (sep + 1), &b))
    return FALSE;
  if (a > b)
    return FALSE;

  *start = a;
  *end = b;
  return TRUE;
}

static gboolean
is_selection_key (const char *key)
{
  return g_str_equal (key, "country") || g_str_equal (key, "min-bw") ||
         g_str_equal (key, "range") || g_str_equal (key, "via");
}

static gboolean
parse_via (const char      *text,
           ExgSelectionVia *out)
{
  if (g_ascii_strcasecmp (text, "tor") == 0)
    *out = EXG_SELECTION_VIA_TOR;
  else if (g_ascii_strcasecmp (text, "proxy") == 0)
    *out = EXG_SELECTION_VIA_PROXY;
  else if (g_ascii_strcasecmp (text, "direct") == 0)
    *out = EXG_SELECTION_VIA_DIRECT;
  else
    return FALSE;
  return TRUE;
}

static gboolean
parse_bandwidth (const char *text,
                 guint64    *out)
{
  char *endp = NULL;
  guint64 value;

  if (!g_ascii_isdigit (text[0]))
    return FALSE;
  errno = 0;
  value = g_ascii_strtoull (text, &endp, 10);
  if (errno != 0 || *endp != '\0')
    return FALSE;
  *out = value;
  return TRUE;
}

/**
 * exg_selection_parse_username:
 * @username: (nullable): a SOCKS5 username
 * @sel: (out): the selection it spells
 * @error: set when the username uses the keys with a bad value
 *
 * Standard clients cannot send E0, so the username may carry the same
 * selection: comma-separated `country=CC`, `min-bw=BYTES`,
 * `range=A.B.C.D-E.F.G.H` (or a CIDR), and `via=tor|proxy|direct` for
 * the kind of exit.  A username in which no part is one of these keys is
 * an isolation key and not a selection.  Beside the keys, words without
 * "=" ("country=de,work") are allowed: they select nothing and keep the
 * client's circuits apart.  Any other key=value beside the keys is
 * refused rather than ignored: it is most likely a key misspelt.
 *
 * Returns: TRUE when @username is a valid selection
 */
gboolean
exg_selection_parse_username (const char    *username,
                              ExgSelection  *sel,
                              GError       **error)
{
  g_auto(GStrv) parts = NULL;
  ExgSelection tmp;
  gboolean uses_keys = FALSE;

  g_return_val_if_fail (sel != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (username == NULL || strchr (username, '=') == NULL)
    return FALSE;

  parts = g_strsplit (username, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      const char *eq = strchr (parts[i], '=');
      g_autofree char *key = NULL;
      g_autofree char *value = NULL;

      if (eq == NULL)
        continue;
      key = g_strstrip (g_ascii_strdown (parts[i], eq - parts[i]));
      if (is_selection_key (key))
        uses_keys = TRUE;
    }
  if (!uses_keys)
    return FALSE;

  exg_selection_init_any (&tmp);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      const char *eq = strchr (parts[i], '=');
      g_autofree char *key = NULL;
      g_autofree char *value = NULL;
      gboolean ok;

      /* "country=de,work": a word without "=" is no key; it stays in the
       * isolation key (exg_selection_strip_username), so "country=de,work"
       * and "country=de,home" select alike on circuits of their own */
      if (eq == NULL)
        continue;
      key = g_strstrip (g_ascii_strdown (parts[i], eq - parts[i]));
      value = g_strstrip (g_strdup (eq + 1));

      if (g_str_equal (key, "country"))
        ok = value[0] != '\0' && exg_selection_set_country (&tmp, value);
      else if (g_str_equal (key, "min-bw"))
        ok = parse_bandwidth (value, &tmp.min_bandwidth);
      else if (g_str_equal (key, "range"))
        ok = exg_selection_parse_range (value, &tmp.range_start,
                                        &tmp.range_end);
      else if (g_str_equal (key, "via"))
        ok = parse_via (value, &tmp.via);
      else
        {
          /* refuse rather than silently ignore a key the client meant */
          g_set_error (error, EXG_ERROR, EXG_ERROR_NOT_ALLOWED,
                       "Selection username: unknown key “%s” (known: country, min-bw, range, via)",
                       key);
          return FALSE;
        }

      if (!ok)
        {
          g_set_error (error, EXG_ERROR, EXG_ERROR_NOT_ALLOWED,
                       "Selection username: bad value for “%s”", key);
          return FALSE;
        }
    }

  *sel = tmp;
  return TRUE;
}

/**
 * exg_selection_strip_username:
 * @username: (nullable): a SOCKS5 username
 *
 * A selection username may carry more than the keys ("country=de,work"):
 * what is left still says which client wants its own circuits.
 *
 * Returns: (transfer full): @username without its selection keys
 */
char *
exg_selection_strip_username (const char *username)
{
  g_auto(GStrv) parts = NULL;
  GString *rest;

  if (username == NULL)
    return g_strdup ("");
  if (strchr (username, '=') == NULL)
    return g_strdup (username);

  rest = g_string_new (NULL);
  parts = g_strsplit (username, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      const char *eq = strchr (parts[i], '=');

      if (eq != NULL)
        {
          g_autofree char *key = g_strstrip (g_ascii_strdown (parts[i], eq - parts[i]));

          if (is_selection_key (key))
            continue;
        }
      if (rest->len > 0)
        g_string_append_c (rest, ',');
      g_string_append (rest, parts[i]);
    }
  return g_string_free (rest, FALSE);
}

static gboolean
via_matches (ExgSelectionVia via,
             ExgRouterKind   kind)
{
  switch (via)
    {
    case EXG_SELECTION_VIA_TOR:
      return kind == EXG_ROUTER_KIND_TOR;
    case EXG_SELECTION_VIA_DIRECT:
      return kind == EXG_ROUTER_KIND_DIRECT;
    case EXG_SELECTION_VIA_PROXY:
      return kind == EXG_ROUTER_KIND_SOCKS5 || kind == EXG_ROUTER_KIND_SOCKS4A ||
             kind == EXG_ROUTER_KIND_HTTP_CONNECT;
    case EXG_SELECTION_VIA_ANY:
    default:
      return TRUE;
    }
}

/* An exit that advertises no bandwidth (a proxy, the direct exit) is judged
 * by what it has carried: without this, a minimum bandwidth would leave out
 * every such exit however fast it is.  One never used stays at 0. */
static guint64
router_bandwidth (ExgRouter *router)
{
  guint64 advertised = exg_router_get_bandwidth (router);

  if (advertised != 0)
    return advertised;

  return (guint64) exg_router_get_observed_throughput (router);
}

gboolean
exg_selection_matches (const ExgSelection *sel,
                       ExgRouter          *router)
{
  guint32 ipv4;

  g_return_val_if_fail (sel != NULL, FALSE);
  g_return_val_if_fail (EXG_IS_ROUTER (router), FALSE);

  if (!via_matches (sel->via, exg_router_get_kind (router)))
    return FALSE;

  if (sel->port != 0 && !exg_router_allows_port (router, sel->port))
    return FALSE;

  if (sel->country[0] != '\0' &&
      g_ascii_strcasecmp (sel->country, exg_router_get_country (router)) != 0)
    return FALSE;

  /* a range that is not "any" needs a router with a known IPv4 in it */
  if (sel->range_start != 0 || sel->range_end != G_MAXUINT32)
    {
      ipv4 = exg_router_get_ipv4 (router);
      if (ipv4 == 0 || ipv4 < sel->range_start || ipv4 > sel->range_end)
        return FALSE;
    }

  if (router_bandwidth (router) < sel->min_bandwidth)
    return FALSE;

  return TRUE;
}

/**
 * exg_selection_explain:
 * @sel: a selection
 * @routers: (element-type ExgRouter): the routers to judge
 * @report: (out caller-allocates): how many pass each filter
 *
 * The matching of exg_selection_matches(), one filter at a time, so that
 * "nothing matches" can say which filter left nothing (and how many
 * routers a minimum bandwidth leaves out) without re-deriving the rules.
 */
void
exg_selection_explain (const ExgSelection *sel,
                       GListModel         *routers,
                       ExgMatchReport     *report)
{
  guint n;

  g_return_if_fail (sel != NULL);
  g_return_if_fail (G_IS_LIST_MODEL (routers));
  g_return_if_fail (report != NULL);

  memset (report, 0, sizeof *report);
  n = g_list_model_get_n_items (routers);
  report->n_routers = n;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(ExgRouter) router = g_list_model_get_item (routers, i);
      ExgSelection without_bandwidth = *sel;

      if (!exg_router_get_up (router))
        continue;
      report->n_up++;
      if (!via_matches (sel->via, exg_router_get_kind (router)) ||
          (sel->port != 0 && !exg_router_allows_port (router, sel->port)) ||
          (sel->country[0] != '\0' &&
           g_ascii_strcasecmp (sel->country, exg_router_get_country (router)) != 0))
        continue;
      report->n_in_country++;
      without_bandwidth.min_bandwidth = 0;
      if (!exg_selection_matches (&without_bandwidth, router))
        continue;
      report->n_in_range++;
      if (exg_selection_matches (sel, router))
        report->n_matching++;
      else
        report->n_below_bandwidth++;
    }
}

static void
append_ipv4 (GString *s,
             guint32  v)
{
  g_string_append_printf (s, "%u.%u.%u.%u",
                          (v >> 24) & 0xff, (v >> 16) & 0xff,
                          (v >> 8) & 0xff, v & 0xff);
}

char *
exg_selection_to_string (const ExgSelection *sel)
{
  GString *s;

  g_return_val_if_fail (sel != NULL, NULL);

  if (exg_selection_is_any (sel))
    return g_strdup ("any");

  s = g_string_new (NULL);
  if (sel->country[0] != '\0')
    g_string_append_printf (s, "country=%s", sel->country);
  if (sel->range_start != 0 || sel->range_end != G_MAXUINT32)
    {
      if (s->len > 0)
        g_string_append_c (s, ' ');
      g_string_append (s, "range=");
      append_ipv4 (s, sel->range_start);
      g_string_append_c (s, '-');
      append_ipv4 (s, sel->range_end);
    }
  if (sel->min_bandwidth != 0)
    {
      if (s->len > 0)
        g_string_append_c (s, ' ');
      g_string_append_printf (s, "min-bw=%" G_GUINT64_FORMAT,
                              sel->min_bandwidth);
    }
  if (sel->via != EXG_SELECTION_VIA_ANY)
    {
      static const char *const names[] = { "any", "tor", "proxy", "direct" };

      if (s->len > 0)
        g_string_append_c (s, ' ');
      g_string_append_printf (s, "via=%s", names[sel->via]);
    }
  return g_string_free (s, FALSE);
}
