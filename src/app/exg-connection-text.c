/* exg-connection-text.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "exitgate-app"
#include "config.h"
#include "exg-connection-text.h"

#include "exg-country.h"

#include <glib/gi18n.h>
#include <string.h>

static const char *
state_label (ExgConnState state)
{
  switch (state)
    {
    case EXG_CONN_STATE_HANDSHAKE:  return C_("connection state", "Handshake");
    case EXG_CONN_STATE_CONNECTING: return C_("connection state", "Connecting");
    case EXG_CONN_STATE_RESOLVING:  return C_("connection state", "Resolving");
    case EXG_CONN_STATE_OPEN:       return C_("connection state", "Open");
    case EXG_CONN_STATE_CLOSED:     return C_("connection state", "Closed");
    case EXG_CONN_STATE_FAILED:     return C_("connection state", "Failed");
    default:                        return "";
    }
}

/* The SOCKS5 reply a refused request got, in words (RFC 1928 §6) */
static const char *
reply_label (guint8 reply)
{
  switch (reply)
    {
    case EXG_SOCKS5_REPLY_GENERAL_FAILURE:    return C_("socks reply", "general failure");
    case EXG_SOCKS5_REPLY_NOT_ALLOWED:        return C_("socks reply", "not allowed");
    case EXG_SOCKS5_REPLY_NET_UNREACHABLE:    return C_("socks reply", "network unreachable");
    case EXG_SOCKS5_REPLY_HOST_UNREACHABLE:   return C_("socks reply", "host unreachable");
    case EXG_SOCKS5_REPLY_CONN_REFUSED:       return C_("socks reply", "connection refused");
    case EXG_SOCKS5_REPLY_TTL_EXPIRED:        return C_("socks reply", "timed out");
    case EXG_SOCKS5_REPLY_CMD_NOT_SUPPORTED:  return C_("socks reply", "command not supported");
    case EXG_SOCKS5_REPLY_ATYP_NOT_SUPPORTED: return C_("socks reply", "address type not supported");
    default:                                  return NULL;
    }
}

/* What the State cell says: for a failure, also why in a few words */
char *
exg_connection_state_text (ExgConnInfo  *info,
                           ExgConnState  state)
{
  const char *why;

  if (state != EXG_CONN_STATE_FAILED)
    return g_strdup (state_label (state));
  why = reply_label (info->socks_reply);
  if (why == NULL)
    why = info->error;
  if (why == NULL)
    return g_strdup (state_label (state));
  /* Translators: a connection's state, then why: "Failed: connection refused" */
  return g_strdup_printf (_("Failed: %s"), why);
}

/* The core's "a (DE) → b (SE) → c (US)", each hop with its flag:
 * "a (🇩🇪 DE) → …" */
static char *
circuit_label (const char *circuit)
{
  g_auto(GStrv) hops = g_strsplit (circuit, " → ", -1);
  GString *text = g_string_new (NULL);

  for (guint i = 0; hops[i] != NULL; i++)
    {
      const char *hop = hops[i];
      gsize len = strlen (hop);

      if (i > 0)
        g_string_append (text, " → ");
      /* " (CC)" at the end: a country GeoIP knew */
      if (len > 5 && g_str_has_suffix (hop, ")") && hop[len - 5] == ' ' &&
          hop[len - 4] == '(')
        {
          g_autofree char *cc = g_strndup (hop + len - 3, 2);
          g_autofree char *flag = exg_country_dup_flag (cc);

          g_string_append_len (text, hop, len - 4);
          g_string_append_printf (text, "(%s %s)", flag, cc);
        }
      else
        g_string_append (text, hop);
    }
  return g_string_free (text, FALSE);
}

const char *
exg_connection_leak_advice (void)
{
  return _("Make it send names instead: socks5h:// rather than socks5:// in "
           "its proxy setting, “Proxy DNS when using SOCKS v5” in Firefox, "
           "curl --socks5-hostname.");
}

/* @detail (nullable, taken), and after it why a CONNECT by address
 * through a tor or proxy exit leaks, and what to do */
static char *
leak_text (ExgConnInfo *info,
           char        *detail)
{
  g_autofree char *taken = detail;

  if (!info->ip_literal_through_proxy)
    return g_steal_pointer (&taken);
  return g_strdup_printf ("%s%s%s\n%s", taken != NULL ? taken : "",
                          taken != NULL ? "\n" : "",
                          _("Connected by IP address through a Tor or proxy exit: the "
                            "program looked up the name itself, outside the proxy "
                            "(a DNS leak)."),
                          exg_connection_leak_advice ());
}

/* The row's tooltip: a tor connection's circuit; for a failure, also all
 * of why: the reply the client got, the exit it went through, and the
 * reason the exit gave */
char *
exg_connection_detail_text (ExgConnInfo  *info,
                            ExgConnState  state)
{
  GString *text;
  const char *reply;

  if (state != EXG_CONN_STATE_FAILED)
    {
      g_autofree char *circuit = NULL;

      if (info->circuit == NULL)
        return leak_text (info, NULL);
      circuit = circuit_label (info->circuit);
      /* Translators: a tor circuit: guard → middle → exit relays */
      return leak_text (info, g_strdup_printf (_("Circuit: %s"), circuit));
    }
  text = g_string_new (C_("connection state", "Failed"));
  reply = reply_label (info->socks_reply);
  if (reply != NULL)
    {
      g_string_append_c (text, '\n');
      /* Translators: the SOCKS reply in words, then its code */
      g_string_append_printf (text, _("The client was told: %s (SOCKS reply %u)"),
                              reply, info->socks_reply);
    }
  if (info->exit_name != NULL)
    {
      g_autofree char *exit = exg_connection_exit_label (info);

      g_string_append_c (text, '\n');
      /* Translators: %s is an exit: flag, name, country */
      g_string_append_printf (text, _("Exit: %s"), exit);
    }
  if (info->circuit != NULL)
    {
      g_autofree char *circuit = circuit_label (info->circuit);

      g_string_append_c (text, '\n');
      g_string_append_printf (text, _("Circuit: %s"), circuit);
    }
  if (info->error != NULL)
    {
      g_string_append_c (text, '\n');
      /* Translators: %s is the reason the proxy or the exit gave */
      g_string_append_printf (text, _("Reason: %s"), info->error);
    }
  return leak_text (info, g_string_free (text, FALSE));
}

char *
exg_connection_exit_label (ExgConnInfo *info)
{
  g_autofree char *flag = NULL;

  if (info->exit_name == NULL)
    return g_strdup ("");
  if (info->exit_country[0] == '\0')
    return g_strdup (info->exit_name);
  flag = exg_country_dup_flag (info->exit_country);
  /* Translators: flag, exit name, country name: "🇸🇪 exit-1 (Sweden)" */
  return g_strdup_printf (_("%s %s (%s)"), flag, info->exit_name,
                          exg_country_get_name (info->exit_country));
}

char *
exg_connection_exit_sample (void)
{
  g_autofree char *flag = exg_country_dup_flag ("SE");

  return g_strdup_printf (_("%s %s (%s)"), flag, "exit-1",
                          exg_country_get_name ("SE"));
}
