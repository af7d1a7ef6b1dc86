/* fuzz-util.h: what every fuzz target shares: the libFuzzer entry point,
 * the invariant check, and how an input is cut into the chunks that
 * arrive one read at a time (whole, byte by byte, or pseudo-random sizes
 * drawn from the input itself, so that a crash replays the same way).
 * driver.c replays a corpus through LLVMFuzzerTestOneInput() where
 * libFuzzer is not at hand.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* abort (), which libFuzzer and the replay driver both report as a crash,
 * naming the invariant */
#define check(cond)                                                     \
  G_STMT_START                                                          \
    {                                                                   \
      if (!(cond))                                                      \
        {                                                               \
          fprintf (stderr, "%s:%d: invariant failed: %s\n",             \
                   __FILE__, __LINE__, #cond);                          \
          abort ();                                                     \
        }                                                               \
    }                                                                   \
  G_STMT_END

typedef enum {
  CHUNK_WHOLE,    /* all that is left (or all that is wanted) */
  CHUNK_BYTES,    /* one byte at a time */
  CHUNK_RANDOM,   /* 1 to max_random bytes, from fuzz_chunk_seed () */
} Chunking;

/* FNV-1a of the input: the pseudo-random chunk sizes depend on it */
static inline guint32
fuzz_chunk_seed (const guint8 *data,
                 gsize         size)
{
  guint32 state = 2166136261u;

  for (gsize i = 0; i < size; i++)
    state = (state ^ data[i]) * 16777619u;
  return state;
}

/* The size of the next chunk: at most @remaining, and at least 1 unless
 * nothing remains. */
static inline gsize
fuzz_next_chunk (Chunking  chunking,
                 guint32  *state,
                 gsize     remaining,
                 guint     max_random)
{
  gsize n;

  switch (chunking)
    {
    case CHUNK_BYTES:
      n = 1;
      break;
    case CHUNK_RANDOM:
      *state = *state * 1103515245u + 12345u;
      n = 1 + ((*state >> 16) % max_random);
      break;
    case CHUNK_WHOLE:
    default:
      n = remaining;
      break;
    }
  return MIN (n, remaining);
}
