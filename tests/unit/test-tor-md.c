/* test-tor-md.c: a microdescriptor's exit policy and family, and tor's
 * rule for when two relays are one family (the middle hop is never of
 * the guard's or the exit's family).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "exg-tor-md.h"

#define FP_A "86794C9C49C0104FEDC0C29D5E0204E2BE78B484"
#define FP_B "1A4A7C2F0A9F2B1C3D4E5F60718293A4B5C6D7E8"
#define FP_C "FFEEDDCCBBAA99887766554433221100FFEEDDCC"

/* as tor 0.4.9 gives it for an exit of the private network */
static const char *md_exit =
  "onion-key\n"
  "ntor-onion-key q0JXTEAQE0VP0hRfvLWFdskuU17ro8jBwjHSz8D9MGs\n"
  "family $" FP_A " $" FP_B "\n"
  "p accept 1-65535\n"
  "id ed25519 QbHAOVlz8WZoSilH8WtS7Iy3cdnY7yB64WU06z1DGAs\n";

static void
test_parse (void)
{
  g_auto(ExgTorMd) md = { 0, };

  exg_tor_md_parse (md_exit, &md);
  g_assert_cmpstr (md.policy, ==, "accept 1-65535");
  g_assert_nonnull (md.family.members);
  g_assert_cmpuint (g_strv_length (md.family.members), ==, 2);
  g_assert_cmpstr (md.family.members[0], ==, "$" FP_A);
  g_assert_cmpstr (md.family.members[1], ==, "$" FP_B);
  g_assert_null (md.family.ids);
}

static void
test_parse_none (void)
{
  g_auto(ExgTorMd) md = { 0, };

  /* a relay without a family, and one whose family names nobody */
  exg_tor_md_parse ("onion-key\np reject 1-65535\n", &md);
  g_assert_cmpstr (md.policy, ==, "reject 1-65535");
  g_assert_null (md.family.members);
  exg_tor_md_clear (&md);

  exg_tor_md_parse ("family $ABC not-a-nickname-because-it-is-too-long $" FP_A "xx\n", &md);
  g_assert_null (md.policy);
  g_assert_null (md.family.members);
  exg_tor_md_clear (&md);

  exg_tor_md_parse ("", &md);
  g_assert_null (md.policy);
  g_assert_null (md.family.members);
  g_assert_null (md.family.ids);
}

/* proposal 298's canonical form: "=nick" and "~nick" dropped, hex upper
 * case, nicknames lower case, entries that name no relay left out */
static void
test_parse_canonical (void)
{
  g_auto(ExgTorMd) md = { 0, };
  g_autofree char *lower = g_ascii_strdown (FP_B, -1);
  g_autofree char *text = g_strdup_printf ("family $%s=Alpha $%s~beta TheirRelay $12 x!y\r\n"
                                           "family-ids ed25519:AbCd ed25519:EfGh\n",
                                           FP_A, lower);

  exg_tor_md_parse (text, &md);
  g_assert_cmpuint (g_strv_length (md.family.members), ==, 3);
  g_assert_cmpstr (md.family.members[0], ==, "$" FP_A);
  g_assert_cmpstr (md.family.members[1], ==, "$" FP_B);
  g_assert_cmpstr (md.family.members[2], ==, "theirrelay");
  g_assert_cmpuint (g_strv_length (md.family.ids), ==, 2);
  g_assert_cmpstr (md.family.ids[0], ==, "ed25519:AbCd");
}

static ExgTorFamily
family_of (const char *line)
{
  ExgTorMd md;

  exg_tor_md_parse (line, &md);
  g_free (md.policy);
  return md.family;
}

/* Each lists the other: one family.  One listing the other alone is not
 * (anyone can name any relay), nor is listing oneself. */
static void
test_same_family (void)
{
  static const struct {
    const char *family_a;   /* A is FP_A, "alpha" */
    const char *family_b;   /* B is FP_B, "beta" */
    gboolean    same;
  } cases[] = {
    { "family $" FP_A " $" FP_B, "family $" FP_A " $" FP_B, TRUE },
    { "family $" FP_B "~beta", "family $" FP_A "=alpha", TRUE },
    /* by nickname, case-insensitive, as tor's nodefamily_contains_node() */
    { "family Beta", "family ALPHA", TRUE },
    { "family beta", "family $" FP_A, TRUE },
    /* one-sided */
    { "family $" FP_B, "", FALSE },
    { "", "family $" FP_A, FALSE },
    { "family $" FP_B, "family $" FP_C, FALSE },
    /* another relay of the same nickname's fingerprint is not B */
    { "family $" FP_C, "family $" FP_A, FALSE },
    { "", "", FALSE },
    /* happy families: a shared id is enough, it is signed by the family */
    { "family-ids ed25519:x ed25519:y", "family-ids ed25519:y", TRUE },
    { "family-ids ed25519:x", "family-ids ed25519:z", FALSE },
    { "family-ids ed25519:x", "", FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      ExgTorFamily a = family_of (cases[i].family_a);
      ExgTorFamily b = family_of (cases[i].family_b);

      g_test_message ("A: %s; B: %s", cases[i].family_a, cases[i].family_b);
      g_assert_cmpint (exg_tor_family_same (FP_A, "alpha", &a, FP_B, "beta", &b),
                       ==, cases[i].same);
      /* the rule is symmetric */
      g_assert_cmpint (exg_tor_family_same (FP_B, "beta", &b, FP_A, "alpha", &a),
                       ==, cases[i].same);
      exg_tor_family_clear (&a);
      exg_tor_family_clear (&b);
    }

  /* families not yet read (NULL) are no family */
  g_assert_false (exg_tor_family_same (FP_A, "alpha", NULL, FP_B, "beta", NULL));
}

static void
test_lists (void)
{
  ExgTorFamily f = family_of ("family $" FP_A " gamma");

  g_assert_true (exg_tor_family_lists (&f, FP_A, NULL));
  g_assert_true (exg_tor_family_lists (&f, "86794c9c49c0104fedc0c29d5e0204e2be78b484", "x"));
  g_assert_true (exg_tor_family_lists (&f, FP_C, "Gamma"));
  g_assert_false (exg_tor_family_lists (&f, FP_C, NULL));
  g_assert_false (exg_tor_family_lists (&f, FP_B, "beta"));
  g_assert_false (exg_tor_family_lists (NULL, FP_A, "gamma"));
  exg_tor_family_clear (&f);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/proto/tor-md/parse", test_parse);
  g_test_add_func ("/proto/tor-md/parse/none", test_parse_none);
  g_test_add_func ("/proto/tor-md/parse/canonical", test_parse_canonical);
  g_test_add_func ("/proto/tor-md/family/lists", test_lists);
  g_test_add_func ("/proto/tor-md/family/same", test_same_family);

  return g_test_run ();
}
