/* driver.c: replays fuzz inputs without libFuzzer.
 *
 * Usage: fuzz-socks-parser FILE|DIR...  Every regular file named (directly
 * or inside a directory, not recursively) is passed once to
 * LLVMFuzzerTestOneInput, in name order.  Fails when there is nothing to
 * replay, so an empty or misplaced corpus cannot pass silently.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "fuzz-util.h"

static gboolean
replay_file (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len;

  if (!g_file_get_contents (path, &contents, &len, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      return FALSE;
    }
  /* an exact-size copy, so that an over-read is a heap overflow */
  {
    g_autofree guint8 *copy = g_memdup2 (contents, len);

    LLVMFuzzerTestOneInput (copy, len);
  }
  return TRUE;
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return g_strcmp0 (*(char * const *) a, *(char * const *) b);
}

int
main (int    argc,
      char **argv)
{
  guint n_files = 0;
  int i;

  for (i = 1; i < argc; i++)
    {
      g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
      guint j;

      if (g_file_test (argv[i], G_FILE_TEST_IS_DIR))
        {
          g_autoptr(GError) error = NULL;
          g_autoptr(GDir) dir = g_dir_open (argv[i], 0, &error);
          const char *name;

          if (dir == NULL)
            {
              fprintf (stderr, "%s\n", error->message);
              return 1;
            }
          while ((name = g_dir_read_name (dir)) != NULL)
            {
              char *path = g_build_filename (argv[i], name, NULL);

              if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
                g_ptr_array_add (paths, path);
              else
                g_free (path);
            }
          g_ptr_array_sort (paths, compare_names);
        }
      else
        {
          g_ptr_array_add (paths, g_strdup (argv[i]));
        }

      for (j = 0; j < paths->len; j++)
        {
          const char *path = g_ptr_array_index (paths, j);

          if (!replay_file (path))
            return 1;
          printf ("ok %s\n", path);
          n_files++;
        }
    }

  if (n_files == 0)
    {
      fprintf (stderr, "no input files\n");
      return 1;
    }
  printf ("replayed %u inputs\n", n_files);
  return 0;
}
