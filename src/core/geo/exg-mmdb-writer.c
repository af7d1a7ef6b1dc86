/* exg-mmdb-writer.c: a small MaxMind DB writer for country databases.
 *
 * The file has three parts (MaxMind DB File Format Specification 2.0):
 *
 *   +--------------------------+  node_count nodes of two records each;
 *   | binary search tree       |  a record is a node number (< node_count),
 *   |                          |  "no data" (== node_count) or a data
 *   |                          |  pointer (node_count + 16 + offset)
 *   +--------------------------+
 *   | 16 zero bytes            |  the data section separator
 *   +--------------------------+
 *   | data section             |  one map per country:
 *   |                          |  {"country": {"iso_code": "SE"}}
 *   +--------------------------+
 *   | "\xab\xcd\xefMaxMind.com"|  metadata marker
 *   | metadata map             |  node_count, record_size, ip_version …
 *   +--------------------------+
 *
 * The tree is an IPv6 tree; IPv4 lives at ::/96, where libmaxminddb looks
 * for IPv4 addresses (it walks 96 left branches from the root to find its
 * "ipv4_start_node").  ::ffff:0:0/96 (IPv4-mapped) and 2002::/16 (6to4) are
 * made to point at that same subtree, as MaxMind's own databases do, so
 * readers that do not unmap addresses still find the country.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "exg-mmdb-writer.h"

#include <gio/gio.h>
#include <string.h>

/* In-memory records: 0 is "empty", a value with the top bit set is a data
 * id, anything else a node index (node 0 is the root and is never a child,
 * except through the aliases, which are added when nodes are final). */
#define REC_EMPTY      ((guint32) 0)
#define REC_DATA_FLAG  ((guint32) 0x80000000u)
#define REC_IS_DATA(r) (((r) & REC_DATA_FLAG) != 0)
#define REC_IS_NODE(r) ((r) != REC_EMPTY && !REC_IS_DATA (r))

#define DATA_SECTION_SEPARATOR 16

typedef struct
{
  guint32 rec[2];
} Node;

typedef struct
{
  guint64 hi;
  guint64 lo;
} U128;

struct _ExgMmdbWriter
{
  char       *database_type;
  GArray     *nodes;     /* Node; index 0 is the root */
  GHashTable *data_ids;  /* owned "SE" → GUINT_TO_POINTER (id + 1) */
  GPtrArray  *isos;      /* id → "SE" (borrowed from data_ids' keys) */
  gboolean    written;   /* the tree now shares subtrees: no more adding */
};

/* MaxMind DB data types */
enum
{
  TYPE_POINTER = 1,
  TYPE_UTF8_STRING = 2,
  TYPE_UINT16 = 5,
  TYPE_UINT32 = 6,
  TYPE_MAP = 7,
  TYPE_UINT64 = 9,
  TYPE_ARRAY = 11,
};

#define NODE(self, i) (g_array_index ((self)->nodes, Node, (i)))

ExgMmdbWriter *
exg_mmdb_writer_new (const char *database_type)
{
  ExgMmdbWriter *self = g_new0 (ExgMmdbWriter, 1);
  Node root = { { REC_EMPTY, REC_EMPTY } };

  g_return_val_if_fail (database_type != NULL, NULL);

  self->database_type = g_strdup (database_type);
  self->nodes = g_array_new (FALSE, FALSE, sizeof (Node));
  g_array_append_val (self->nodes, root);
  self->data_ids = g_hash_table_new_full (g_str_hash, g_str_equal,
                                          g_free, NULL);
  self->isos = g_ptr_array_new ();

  return self;
}

void
exg_mmdb_writer_free (ExgMmdbWriter *self)
{
  if (self == NULL)
    return;

  g_free (self->database_type);
  g_array_unref (self->nodes);
  g_ptr_array_unref (self->isos);
  g_hash_table_unref (self->data_ids);
  g_free (self);
}

/* Returns the record value of the data for @iso, or REC_EMPTY when @iso is
 * not two ASCII letters.  Equal countries share one data entry. */
static guint32
data_record_for_iso (ExgMmdbWriter *self,
                     const char    *iso)
{
  char key[3];
  gpointer value;

  if (iso == NULL || !g_ascii_isalpha (iso[0]) || !g_ascii_isalpha (iso[1])
      || iso[2] != '\0')
    return REC_EMPTY;

  key[0] = g_ascii_toupper (iso[0]);
  key[1] = g_ascii_toupper (iso[1]);
  key[2] = '\0';

  value = g_hash_table_lookup (self->data_ids, key);
  if (value == NULL)
    {
      char *owned = g_strdup (key);

      g_ptr_array_add (self->isos, owned);
      value = GUINT_TO_POINTER (self->isos->len);
      g_hash_table_insert (self->data_ids, owned, value);
    }

  return REC_DATA_FLAG | (GPOINTER_TO_UINT (value) - 1);
}

static guint32
new_node (ExgMmdbWriter *self,
          guint32        left,
          guint32        right)
{
  Node node = { { left, right } };

  g_array_append_val (self->nodes, node);
  return self->nodes->len - 1;
}

static inline guint
u128_bit (const U128 *a,
          guint       depth)
{
  if (depth < 64)
    return (a->hi >> (63 - depth)) & 1;
  return (a->lo >> (127 - depth)) & 1;
}

/* Sets the record for the network @addr/@prefix_len (1 … 128) to @value,
 * splitting the leaves it passes through; a later network wins over an
 * earlier one where they overlap.  Subtrees it replaces become unreachable
 * and are dropped when writing. */
static void
insert_network (ExgMmdbWriter *self,
                const U128    *addr,
                guint          prefix_len,
                guint32        value)
{
  guint32 node = 0;

  g_assert (prefix_len >= 1 && prefix_len <= 128);

  for (guint depth = 0; depth < prefix_len; depth++)
    {
      guint bit = u128_bit (addr, depth);
      guint32 rec = NODE (self, node).rec[bit];

      if (depth + 1 == prefix_len)
        {
          NODE (self, node).rec[bit] = value;
          return;
        }

      if (REC_IS_NODE (rec))
        {
          node = rec;
        }
      else
        {
          /* both halves keep what the whole had */
          guint32 child = new_node (self, rec, rec);

          NODE (self, node).rec[bit] = child;
          node = child;
        }
    }
}

/* low @bits bits set */
static U128
u128_low_mask (guint bits)
{
  U128 m = { 0, 0 };

  if (bits >= 128)
    return (U128) { G_MAXUINT64, G_MAXUINT64 };
  if (bits >= 64)
    {
      m.lo = G_MAXUINT64;
      m.hi = bits == 64 ? 0 : (G_MAXUINT64 >> (128 - bits));
    }
  else if (bits > 0)
    {
      m.lo = G_MAXUINT64 >> (64 - bits);
    }
  return m;
}

static inline gboolean
u128_le (const U128 *a,
         const U128 *b)
{
  return a->hi < b->hi || (a->hi == b->hi && a->lo <= b->lo);
}

static guint
u128_trailing_zeros (const U128 *a)
{
  if (a->lo != 0)
    return __builtin_ctzll (a->lo);
  if (a->hi != 0)
    return 64 + __builtin_ctzll (a->hi);
  return 128;
}

/* Splits the inclusive range [@start, @end] into the fewest CIDR networks
 * and inserts each. */
static void
insert_range (ExgMmdbWriter *self,
              U128           start,
              const U128    *end,
              guint32        value)
{
  for (;;)
    {
      guint bits = u128_trailing_zeros (&start);
      U128 mask, last;

      /* the largest aligned block at start that stays within end */
      for (;; bits--)
        {
          mask = u128_low_mask (bits);
          last = (U128) { start.hi | mask.hi, start.lo | mask.lo };
          if (u128_le (&last, end))
            break;
          g_assert (bits > 0);
        }

      if (bits == 128)
        {
          /* ::/0: the root itself */
          NODE (self, 0).rec[0] = value;
          NODE (self, 0).rec[1] = value;
        }
      else
        {
          insert_network (self, &start, 128 - bits, value);
        }

      if (last.hi == end->hi && last.lo == end->lo)
        return;

      /* last < end, so this cannot overflow */
      start.lo = last.lo + 1;
      start.hi = last.hi + (start.lo == 0 ? 1 : 0);
    }
}

static U128
u128_from_bytes (const guint8 b[16])
{
  U128 a = { 0, 0 };

  for (guint i = 0; i < 8; i++)
    {
      a.hi = (a.hi << 8) | b[i];
      a.lo = (a.lo << 8) | b[i + 8];
    }
  return a;
}

/**
 * exg_mmdb_writer_add_range_v4:
 * @start: first address, host byte order
 * @end: last address (inclusive), host byte order
 * @iso: two-letter country code, any case
 *
 * Returns: FALSE (and adds nothing) when @start > @end or @iso is not two
 *   letters
 */
gboolean
exg_mmdb_writer_add_range_v4 (ExgMmdbWriter *self,
                              guint32        start,
                              guint32        end,
                              const char    *iso)
{
  guint32 value;
  U128 s, e;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (!self->written, FALSE);

  value = data_record_for_iso (self, iso);
  if (value == REC_EMPTY || start > end)
    return FALSE;

  /* IPv4 lives at ::a.b.c.d */
  s = (U128) { 0, start };
  e = (U128) { 0, end };
  insert_range (self, s, &e, value);
  return TRUE;
}

/**
 * exg_mmdb_writer_add_range_v6:
 * @start: first address, network byte order
 * @end: last address (inclusive), network byte order
 * @iso: two-letter country code, any case
 *
 * Returns: FALSE (and adds nothing) when @start > @end or @iso is not two
 *   letters
 */
gboolean
exg_mmdb_writer_add_range_v6 (ExgMmdbWriter *self,
                              const guint8   start[16],
                              const guint8   end[16],
                              const char    *iso)
{
  guint32 value;
  U128 s, e;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (start != NULL && end != NULL, FALSE);
  g_return_val_if_fail (!self->written, FALSE);

  value = data_record_for_iso (self, iso);
  s = u128_from_bytes (start);
  e = u128_from_bytes (end);
  if (value == REC_EMPTY || !u128_le (&s, &e))
    return FALSE;

  insert_range (self, s, &e, value);
  return TRUE;
}

/**
 * exg_mmdb_writer_add_network:
 * @cidr: "127.0.0.2", "10.0.0.0/8", "::1" or "2001:db8::/32"
 * @iso: two-letter country code, any case
 *
 * Returns: FALSE when @cidr does not parse (host bits set after the prefix
 *   count as not parsing) or @iso is not two letters
 */
gboolean
exg_mmdb_writer_add_network (ExgMmdbWriter *self,
                             const char    *cidr,
                             const char    *iso)
{
  g_autoptr(GInetAddressMask) mask = NULL;
  GInetAddress *address;
  const guint8 *bytes;
  guint8 buf[16] = { 0 };
  guint length;
  guint32 value;
  U128 s;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (cidr != NULL, FALSE);
  g_return_val_if_fail (!self->written, FALSE);

  value = data_record_for_iso (self, iso);
  if (value == REC_EMPTY)
    return FALSE;

  mask = g_inet_address_mask_new_from_string (cidr, NULL);
  if (mask == NULL)
    return FALSE;

  address = g_inet_address_mask_get_address (mask);
  length = g_inet_address_mask_get_length (mask);
  bytes = g_inet_address_to_bytes (address);

  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4)
    {
      memcpy (buf + 12, bytes, 4);
      length += 96;
    }
  else
    {
      memcpy (buf, bytes, 16);
    }

  s = u128_from_bytes (buf);
  if (length == 0)
    {
      NODE (self, 0).rec[0] = value;
      NODE (self, 0).rec[1] = value;
    }
  else
    {
      insert_network (self, &s, length, value);
    }

  return TRUE;
}

/* Merges sibling leaves with equal values bottom-up, so that ranges split
 * into many networks take as few nodes as they need.  Returns the record
 * that should replace @node in its parent. */
static guint32
simplify (ExgMmdbWriter *self,
          guint32        node,
          guint          depth)
{
  for (guint i = 0; i < 2; i++)
    {
      guint32 rec = NODE (self, node).rec[i];

      if (REC_IS_NODE (rec))
        NODE (self, node).rec[i] = simplify (self, rec, depth + 1);
    }

  if (depth > 0
      && NODE (self, node).rec[0] == NODE (self, node).rec[1]
      && !REC_IS_NODE (NODE (self, node).rec[0]))
    return NODE (self, node).rec[0];

  return node;
}

/* Points the empty network @addr/@prefix_len at @target (a record).  Does
 * nothing when part of that network already has data of its own. */
static void
add_alias (ExgMmdbWriter *self,
           const U128    *addr,
           guint          prefix_len,
           guint32        target)
{
  guint32 node = 0;
  guint depth;

  /* only where the whole network is empty: find the empty record on the
   * path, or give up at anything else */
  for (depth = 0; depth < prefix_len; depth++)
    {
      guint32 rec = NODE (self, node).rec[u128_bit (addr, depth)];

      if (rec == REC_EMPTY)
        break;
      if (!REC_IS_NODE (rec) || depth + 1 == prefix_len)
        return;
      node = rec;
    }
  if (depth == prefix_len)
    return;

  insert_network (self, addr, prefix_len, target);
}

/* The record standing for ::/96, i.e. all of IPv4. */
static guint32
ipv4_root_record (ExgMmdbWriter *self)
{
  guint32 rec = 0;

  for (guint depth = 0; depth < 96; depth++)
    {
      rec = NODE (self, rec).rec[0];
      if (!REC_IS_NODE (rec))
        break;
    }
  return rec;
}

/* Data section encoding (spec: "Output Data Section"): a control byte with
 * the type in its top three bits (0 = extended: the type minus 7 follows in
 * the next byte) and the size in the low five (29, 30, 31: 1, 2 or 3 more
 * bytes of size follow, after any extended type byte). */
static void
put_control (GByteArray *out,
             guint       type,
             gsize       size)
{
  guint8 bytes[5];
  gsize n = 0;
  guint8 ctrl = type <= 7 ? (guint8) (type << 5) : 0;

  g_assert (size < 65821 + (1u << 24));

  bytes[n++] = 0;  /* control byte, filled in below */
  if (type > 7)
    bytes[n++] = (guint8) (type - 7);

  if (size < 29)
    {
      ctrl |= (guint8) size;
    }
  else if (size < 285)
    {
      ctrl |= 29;
      bytes[n++] = (guint8) (size - 29);
    }
  else if (size < 65821)
    {
      ctrl |= 30;
      bytes[n++] = (guint8) ((size - 285) >> 8);
      bytes[n++] = (guint8) (size - 285);
    }
  else
    {
      ctrl |= 31;
      bytes[n++] = (guint8) ((size - 65821) >> 16);
      bytes[n++] = (guint8) ((size - 65821) >> 8);
      bytes[n++] = (guint8) (size - 65821);
    }

  bytes[0] = ctrl;
  g_byte_array_append (out, bytes, n);
}

static void
put_string (GByteArray *out,
            const char *s)
{
  gsize len = strlen (s);

  put_control (out, TYPE_UTF8_STRING, len);
  g_byte_array_append (out, (const guint8 *) s, len);
}

/* unsigned integers: big-endian, no leading zero bytes */
static void
put_uint (GByteArray *out,
          guint       type,
          guint64     value)
{
  guint8 bytes[8];
  gsize n = 0;

  for (int shift = 56; shift >= 0; shift -= 8)
    {
      guint8 b = (guint8) (value >> shift);

      if (n > 0 || b != 0)
        bytes[n++] = b;
    }

  put_control (out, type, n);
  g_byte_array_append (out, bytes, n);
}

static void
put_country (GByteArray *out,
             const char *iso)
{
  put_control (out, TYPE_MAP, 1);
  put_string (out, "country");
  put_control (out, TYPE_MAP, 1);
  put_string (out, "iso_code");
  put_string (out, iso);
}

static void
put_record (guint8  *p,
            guint    record_size,
            guint32  left,
            guint32  right)
{
  switch (record_size)
    {
    case 24:
      p[0] = left >> 16; p[1] = left >> 8; p[2] = left;
      p[3] = right >> 16; p[4] = right >> 8; p[5] = right;
      break;
    case 28:
      /* the middle byte holds the top nibbles: left's high, right's low */
      p[0] = left >> 16; p[1] = left >> 8; p[2] = left;
      p[3] = ((left >> 20) & 0xf0) | ((right >> 24) & 0x0f);
      p[4] = right >> 16; p[5] = right >> 8; p[6] = right;
      break;
    case 32:
      p[0] = left >> 24; p[1] = left >> 16; p[2] = left >> 8; p[3] = left;
      p[4] = right >> 24; p[5] = right >> 16; p[6] = right >> 8; p[7] = right;
      break;
    default:
      g_assert_not_reached ();
    }
}

/**
 * exg_mmdb_writer_write:
 * @path: the file to write; replaced atomically
 *
 * Writes the database.  Call it once: afterwards nothing more can be added
 * (the aliases onto IPv4 make the tree share subtrees).
 */
gboolean
exg_mmdb_writer_write (ExgMmdbWriter *self,
                       const char    *path,
                       GError       **error)
{
  g_autoptr(GByteArray) data = g_byte_array_new ();
  g_autoptr(GByteArray) out = NULL;
  g_autoptr(GArray) order = NULL;      /* new index → old index */
  g_autofree guint32 *new_index = NULL; /* old index → new index */
  g_autofree guint32 *data_offset = NULL;
  g_autoptr(GArray) stack = NULL;
  guint32 v4_root;
  guint64 node_count, max_record;
  guint record_size, node_bytes;
  static const guint8 marker[] = "\xab\xcd\xef" "MaxMind.com";
  static const guint8 separator[DATA_SECTION_SEPARATOR] = { 0 };

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_return_val_if_fail (!self->written, FALSE);

  self->written = TRUE;
  simplify (self, 0, 0);

  /* aliases onto IPv4: IPv4-mapped (::ffff:0:0/96) and 6to4 (2002::/16,
   * where bits 16 … 47 hold the IPv4 address) */
  v4_root = ipv4_root_record (self);
  if (v4_root != REC_EMPTY)
    {
      U128 mapped = { 0, G_GUINT64_CONSTANT (0xffff) << 32 };
      U128 six_to_four = { G_GUINT64_CONSTANT (0x2002) << 48, 0 };

      add_alias (self, &mapped, 96, v4_root);
      add_alias (self, &six_to_four, 16, v4_root);
    }

  /* number the reachable nodes depth-first, root first; aliased subtrees
   * are shared, so each node is numbered once */
  new_index = g_new (guint32, self->nodes->len);
  memset (new_index, 0xff, sizeof (guint32) * self->nodes->len);
  order = g_array_new (FALSE, FALSE, sizeof (guint32));
  stack = g_array_new (FALSE, FALSE, sizeof (guint32));
  {
    guint32 root = 0;

    g_array_append_val (stack, root);
  }
  while (stack->len > 0)
    {
      guint32 node = g_array_index (stack, guint32, stack->len - 1);

      g_array_set_size (stack, stack->len - 1);
      if (new_index[node] != G_MAXUINT32)
        continue;
      new_index[node] = order->len;
      g_array_append_val (order, node);

      /* right pushed first so that left is numbered next */
      for (int i = 1; i >= 0; i--)
        {
          guint32 rec = NODE (self, node).rec[i];

          if (REC_IS_NODE (rec) && new_index[rec] == G_MAXUINT32)
            g_array_append_val (stack, rec);
        }
    }
  node_count = order->len;

  data_offset = g_new (guint32, MAX (self->isos->len, 1));
  for (guint i = 0; i < self->isos->len; i++)
    {
      data_offset[i] = data->len;
      put_country (data, g_ptr_array_index (self->isos, i));
    }

  max_record = node_count + DATA_SECTION_SEPARATOR + data->len;
  if (max_record < (G_GUINT64_CONSTANT (1) << 24))
    record_size = 24;
  else if (max_record < (G_GUINT64_CONSTANT (1) << 28))
    record_size = 28;
  else if (max_record <= G_MAXUINT32)
    record_size = 32;
  else
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                   "Too many networks for one MaxMind DB file");
      return FALSE;
    }
  node_bytes = record_size / 4;

  out = g_byte_array_sized_new (node_count * node_bytes + 1024);
  g_byte_array_set_size (out, node_count * node_bytes);
  for (guint i = 0; i < node_count; i++)
    {
      const Node *node = &NODE (self, g_array_index (order, guint32, i));
      guint32 rec[2];

      for (guint j = 0; j < 2; j++)
        {
          guint32 r = node->rec[j];

          if (r == REC_EMPTY)
            rec[j] = node_count;
          else if (REC_IS_DATA (r))
            rec[j] = node_count + DATA_SECTION_SEPARATOR
                     + data_offset[r & ~REC_DATA_FLAG];
          else
            rec[j] = new_index[r];
        }
      put_record (out->data + (gsize) i * node_bytes, record_size,
                  rec[0], rec[1]);
    }

  g_byte_array_append (out, separator, sizeof separator);
  g_byte_array_append (out, data->data, data->len);
  g_byte_array_append (out, marker, sizeof marker - 1);

  /* metadata (spec: "Database Metadata"); libmaxminddb insists on the
   * exact integer types */
  put_control (out, TYPE_MAP, 9);
  put_string (out, "binary_format_major_version");
  put_uint (out, TYPE_UINT16, 2);
  put_string (out, "binary_format_minor_version");
  put_uint (out, TYPE_UINT16, 0);
  put_string (out, "build_epoch");
  put_uint (out, TYPE_UINT64,
            (guint64) MAX (g_get_real_time () / G_USEC_PER_SEC, 1));
  put_string (out, "database_type");
  put_string (out, self->database_type);
  put_string (out, "description");
  put_control (out, TYPE_MAP, 1);
  put_string (out, "en");
  put_string (out, "Country database written by Exitgate");
  put_string (out, "ip_version");
  put_uint (out, TYPE_UINT16, 6);
  put_string (out, "languages");
  put_control (out, TYPE_ARRAY, 1);
  put_string (out, "en");
  put_string (out, "node_count");
  put_uint (out, TYPE_UINT32, node_count);
  put_string (out, "record_size");
  put_uint (out, TYPE_UINT16, record_size);

  /* a temporary file renamed over @path: a reader never sees half a file */
  return g_file_set_contents_full (path, (const char *) out->data, out->len,
                                   G_FILE_SET_CONTENTS_CONSISTENT, 0644,
                                   error);
}
