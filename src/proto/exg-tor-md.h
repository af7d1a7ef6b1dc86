/* exg-tor-md.h: what Exitgate reads from a tor microdescriptor (dir-spec
 * §3.3): the exit-policy summary and the relay's family, and tor's rule
 * for when two relays are one family.
 *
 * Pure: text in, values out.  No I/O, no logging.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A relay's declared family.  @members are in the canonical form of
 * proposal 298: "$" and 40 upper-case hex digits (any "=nick" or "~nick"
 * dropped), or a lower-case nickname; @ids are the "family-ids" of
 * happy families (proposal 321), as written. */
typedef struct {
  char **members;   /* nullable */
  char **ids;       /* nullable */
} ExgTorFamily;

typedef struct {
  char         *policy;   /* the "p" line: "accept 80,443"; NULL if none */
  ExgTorFamily  family;
} ExgTorMd;

void      exg_tor_md_parse           (const char          *text,
                                      ExgTorMd            *out);
void      exg_tor_md_clear           (ExgTorMd            *md);

void      exg_tor_family_clear       (ExgTorFamily        *family);
gboolean  exg_tor_family_lists       (const ExgTorFamily  *family,
                                      const char          *fingerprint,
                                      const char          *nickname);
gboolean  exg_tor_family_same        (const char          *fingerprint_a,
                                      const char          *nickname_a,
                                      const ExgTorFamily  *family_a,
                                      const char          *fingerprint_b,
                                      const char          *nickname_b,
                                      const ExgTorFamily  *family_b);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ExgTorMd, exg_tor_md_clear)

G_END_DECLS
