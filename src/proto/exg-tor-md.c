/* exg-tor-md.c: the exit-policy summary and the family of a tor
 * microdescriptor, and tor's family rule.
 *
 * Two relays are one family when each lists the other (a relay cannot
 * claim another alone: nodes_in_same_family() in tor's nodelist.c), or
 * when they share a happy-family id, which only the family's key holder
 * can give (proposal 321).  An entry lists a relay by its identity
 * fingerprint or, in older descriptors, by its nickname, case-insensitive
 * (nodefamily_contains_node() in tor's nodefamily.c).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-tor-md.h"

#include <string.h>

#define FINGERPRINT_LEN 40
#define MAX_NICKNAME_LEN 19

static gboolean
is_hex_fingerprint (const char *text,
                    gsize       len)
{
  if (len != FINGERPRINT_LEN)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isxdigit (text[i]))
      return FALSE;
  return TRUE;
}

static gboolean
is_nickname (const char *text)
{
  gsize len = strlen (text);

  if (len == 0 || len > MAX_NICKNAME_LEN)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (text[i]))
      return FALSE;
  return TRUE;
}

/* (transfer full) (nullable): an entry in canonical form, or NULL for
 * one that names no relay */
static char *
canonical_member (const char *entry)
{
  if (entry[0] == '$')
    {
      /* "$FP", "$FP=nick" or "$FP~nick": the fingerprint is what counts */
      gsize len = strcspn (entry + 1, "=~");
      g_autofree char *hex = NULL;

      if (!is_hex_fingerprint (entry + 1, len))
        return NULL;
      hex = g_ascii_strup (entry + 1, len);
      return g_strconcat ("$", hex, NULL);
    }
  if (is_nickname (entry))
    return g_ascii_strdown (entry, -1);
  return NULL;
}

static char **
parse_members (const char *list)
{
  g_auto(GStrv) words = g_strsplit (list, " ", -1);
  g_autoptr(GPtrArray) members = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; words[i] != NULL; i++)
    {
      char *member = canonical_member (words[i]);

      if (member != NULL)
        g_ptr_array_add (members, member);
    }
  if (members->len == 0)
    return NULL;
  g_ptr_array_add (members, NULL);
  return (char **) g_ptr_array_steal (members, NULL);
}

static char **
parse_ids (const char *list)
{
  g_auto(GStrv) words = g_strsplit (list, " ", -1);
  g_autoptr(GStrvBuilder) ids = g_strv_builder_new ();
  guint n = 0;

  for (guint i = 0; words[i] != NULL; i++)
    if (words[i][0] != '\0')
      {
        g_strv_builder_add (ids, words[i]);
        n++;
      }
  return n > 0 ? g_strv_builder_end (ids) : NULL;
}

/**
 * exg_tor_md_parse:
 * @text: one microdescriptor, as GETINFO md/id/FP gives it
 * @out: (out caller-allocates): filled in; clear it with exg_tor_md_clear()
 *
 * Reads the "p", "family" and "family-ids" lines; every other line, and
 * any family entry that names no relay, is passed over.  The last of a
 * repeated line counts.
 */
void
exg_tor_md_parse (const char *text,
                  ExgTorMd   *out)
{
  g_auto(GStrv) lines = NULL;

  g_return_if_fail (text != NULL);
  g_return_if_fail (out != NULL);

  memset (out, 0, sizeof *out);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = g_strchomp (lines[i]);

      if (g_str_has_prefix (line, "p "))
        {
          g_free (out->policy);
          out->policy = g_strdup (line + 2);
        }
      else if (g_str_has_prefix (line, "family "))
        {
          g_strfreev (out->family.members);
          out->family.members = parse_members (line + strlen ("family "));
        }
      else if (g_str_has_prefix (line, "family-ids "))
        {
          g_strfreev (out->family.ids);
          out->family.ids = parse_ids (line + strlen ("family-ids "));
        }
    }
}

/**
 * exg_tor_md_clear:
 * @md: as filled in by exg_tor_md_parse(), or zeroed
 */
void
exg_tor_md_clear (ExgTorMd *md)
{
  g_clear_pointer (&md->policy, g_free);
  exg_tor_family_clear (&md->family);
}

/**
 * exg_tor_family_clear:
 * @family: a family, or zeroed
 */
void
exg_tor_family_clear (ExgTorFamily *family)
{
  g_clear_pointer (&family->members, g_strfreev);
  g_clear_pointer (&family->ids, g_strfreev);
}

/**
 * exg_tor_family_lists:
 * @family: (nullable): one relay's declared family
 * @fingerprint: another relay's identity, 40 hex digits
 * @nickname: (nullable): its nickname
 *
 * Returns: whether @family names that relay
 */
gboolean
exg_tor_family_lists (const ExgTorFamily *family,
                      const char         *fingerprint,
                      const char         *nickname)
{
  g_return_val_if_fail (fingerprint != NULL, FALSE);

  if (family == NULL || family->members == NULL)
    return FALSE;
  for (guint i = 0; family->members[i] != NULL; i++)
    {
      const char *member = family->members[i];

      if (member[0] == '$')
        {
          if (g_ascii_strcasecmp (member + 1, fingerprint) == 0)
            return TRUE;
        }
      else if (nickname != NULL && g_ascii_strcasecmp (member, nickname) == 0)
        return TRUE;
    }
  return FALSE;
}

static gboolean
share_an_id (const ExgTorFamily *a,
             const ExgTorFamily *b)
{
  if (a == NULL || b == NULL || a->ids == NULL || b->ids == NULL)
    return FALSE;
  for (guint i = 0; a->ids[i] != NULL; i++)
    if (g_strv_contains ((const char * const *) b->ids, a->ids[i]))
      return TRUE;
  return FALSE;
}

/**
 * exg_tor_family_same:
 * @fingerprint_a: one relay's identity, 40 hex digits
 * @nickname_a: (nullable): its nickname
 * @family_a: (nullable): its declared family
 * @fingerprint_b: another relay's identity
 * @nickname_b: (nullable): its nickname
 * @family_b: (nullable): its declared family
 *
 * tor's rule: one family if each lists the other, or if they share a
 * happy-family id.  A relay is no family of itself here: the caller
 * keeps a path's hops distinct anyway.
 *
 * Returns: whether the two relays are one family
 */
gboolean
exg_tor_family_same (const char         *fingerprint_a,
                     const char         *nickname_a,
                     const ExgTorFamily *family_a,
                     const char         *fingerprint_b,
                     const char         *nickname_b,
                     const ExgTorFamily *family_b)
{
  g_return_val_if_fail (fingerprint_a != NULL, FALSE);
  g_return_val_if_fail (fingerprint_b != NULL, FALSE);

  if (share_an_id (family_a, family_b))
    return TRUE;
  return exg_tor_family_lists (family_a, fingerprint_b, nickname_b) &&
         exg_tor_family_lists (family_b, fingerprint_a, nickname_a);
}
