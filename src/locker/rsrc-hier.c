/* rsrc-hier.c: hierarchical resources ("/seg1/seg2/...").
 *
 * Every path with the same first segment belongs to one resource (the
 * locker's identity_of()), whose state is a tree of path segments.  A
 * hold sits on the node of its exact path.  A request for path P in mode
 * M is grantable when M is compatible (VMS matrix, spec/resources.md §3)
 * with every holder on a proper ancestor of P, on P itself and anywhere
 * below P; siblings and cousins do not matter (§5).
 *
 * Each node counts its own holders by mode and, for the below-P test, the
 * holders of its whole subtree (itself included), so a test or a grant
 * costs O(depth of P).  A node exists only while its subtree holds
 * something: release prunes the nodes it empties.
 *
 * Holds belong to owners in the locker, and unlock and drop_owner release
 * exactly the hold they name, so a client that dies releases exactly its
 * own paths (FLoM cleans up only the node of the resource's "current
 * name" and leaks the others, §5). */
#include "config.h"

#include "locker/rsrc.h"

#define N_MODES 6

typedef struct _Node Node;

struct _Node
{
  char *segment;          /* NULL for the root above the first segment */
  Node *parent;
  GHashTable *children;   /* segment (the child's) -> Node, NULL if none */
  guint n_held[N_MODES];  /* holders on this very path, by mode */
  guint n_below[N_MODES]; /* holders here and anywhere below, by mode */
  guint n_total;          /* sum of n_below */
};

typedef struct
{
  Node root; /* its only child is the resource's first segment */
} HierState;

static gboolean
is_valid_mode (LatchLockMode mode)
{
  return (int) mode >= 0 && (int) mode < N_MODES;
}

/* Does a node with these counts let mode in? */
static gboolean
counts_admit (const guint counts[N_MODES], LatchLockMode mode)
{
  for (int held = 0; held < N_MODES; held++)
    if (counts[held] > 0 && !latch_lock_mode_compatible (held, mode))
      return FALSE;
  return TRUE;
}

/* The segments of a path: "/a/b" -> { "a", "b" }.  The locker only passes
 * names that classified as hierarchical (and is_possible() checks the
 * leading slash), so there is at least one segment and none is empty. */
static GStrv
split_path (const char *name)
{
  return g_strsplit (name + 1, "/", -1);
}

static Node *
find_child (const Node *node, const char *segment)
{
  if (node->children == NULL)
    return NULL;
  return g_hash_table_lookup (node->children, segment);
}

static Node *
add_child (Node *node, const char *segment)
{
  Node *child = g_new0 (Node, 1);

  child->segment = g_strdup (segment);
  child->parent = node;
  if (node->children == NULL)
    node->children = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (node->children, child->segment, child);
  return child;
}

/* Frees node's subtree below it, without recursion (a path may have as
 * many segments as a name has room for). */
static void
free_children (Node *node)
{
  g_autoptr (GPtrArray) pending = g_ptr_array_new ();

  g_ptr_array_add (pending, node);
  while (pending->len > 0)
    {
      Node *n = g_ptr_array_steal_index_fast (pending, pending->len - 1);

      if (n->children != NULL)
        {
          GHashTableIter iter;
          gpointer value;

          g_hash_table_iter_init (&iter, n->children);
          while (g_hash_table_iter_next (&iter, NULL, &value))
            g_ptr_array_add (pending, value);
          g_clear_pointer (&n->children, g_hash_table_destroy);
        }
      if (n != node)
        {
          g_free (n->segment);
          g_free (n);
        }
    }
}

static gpointer
hier_create (const char *name G_GNUC_UNUSED,
             const LatchLockReq *req G_GNUC_UNUSED,
             gint64 now_us G_GNUC_UNUSED, GError **error G_GNUC_UNUSED)
{
  return g_new0 (HierState, 1);
}

/* The codec checks the mode; this keeps a bad one from indexing out of
 * the table should one get through. */
static gboolean
hier_is_possible (gpointer state G_GNUC_UNUSED, const LatchLockReq *req)
{
  return is_valid_mode (req->mode) && req->name[0] == '/'
         && req->name[1] != '\0';
}

static gboolean
hier_is_grantable (gpointer state, const LatchLockReq *req,
                   gint64 now_us G_GNUC_UNUSED)
{
  HierState *hier = state;
  g_auto (GStrv) segments = NULL;
  Node *node = &hier->root;

  if (!is_valid_mode (req->mode))
    return FALSE;
  segments = split_path (req->name);
  for (int i = 0; segments[i] != NULL; i++)
    {
      /* node is a proper ancestor of P: only its own holders count. */
      if (!counts_admit (node->n_held, req->mode))
        return FALSE;
      node = find_child (node, segments[i]);
      if (node == NULL)
        return TRUE; /* nobody on P or below */
    }
  /* node is P: its holders and its subtree's. */
  return counts_admit (node->n_below, req->mode);
}

static char *
hier_grant (gpointer state, LatchRsrcHold *hold, gint64 now_us G_GNUC_UNUSED)
{
  HierState *hier = state;
  LatchLockMode mode = hold->req.mode;
  g_auto (GStrv) segments = NULL;
  Node *node = &hier->root;

  g_return_val_if_fail (is_valid_mode (mode), NULL);
  segments = split_path (hold->req.name);
  for (int i = 0; segments[i] != NULL; i++)
    {
      Node *child = find_child (node, segments[i]);

      node = child != NULL ? child : add_child (node, segments[i]);
    }
  node->n_held[mode]++;
  for (Node *n = node; n != NULL; n = n->parent)
    {
      n->n_below[mode]++;
      n->n_total++;
    }
  /* Not owned: the node lives at least as long as this hold. */
  hold->data = node;
  return NULL;
}

static void
hier_release (gpointer state, LatchRsrcHold *hold,
              gboolean rollback G_GNUC_UNUSED)
{
  HierState *hier = state;
  LatchLockMode mode = hold->req.mode;
  Node *node = hold->data;

  g_return_if_fail (node != NULL && is_valid_mode (mode));
  g_return_if_fail (node->n_held[mode] > 0);
  node->n_held[mode]--;
  for (Node *n = node; n != NULL; n = n->parent)
    {
      n->n_below[mode]--;
      n->n_total--;
    }
  hold->data = NULL;

  /* Prune the nodes whose subtree now holds nothing: they are a chain
   * from node upwards, each one's children already gone. */
  while (node != &hier->root && node->n_total == 0)
    {
      Node *parent = node->parent;

      g_assert (node->children == NULL);
      g_hash_table_remove (parent->children, node->segment);
      if (g_hash_table_size (parent->children) == 0)
        g_clear_pointer (&parent->children, g_hash_table_destroy);
      g_free (node->segment);
      g_free (node);
      node = parent;
    }
}

static gboolean
hier_is_idle (gpointer state)
{
  HierState *hier = state;

  return hier->root.children == NULL;
}

static void
hier_free (gpointer state)
{
  HierState *hier = state;

  if (hier == NULL)
    return;
  free_children (&hier->root);
  g_free (hier);
}

const LatchRsrcClass latch_rsrc_hier_class = {
  .type = LATCH_RSRC_HIER,
  .create = hier_create,
  .is_possible = hier_is_possible,
  .is_grantable = hier_is_grantable,
  .grant = hier_grant,
  .release = hier_release,
  .is_idle = hier_is_idle,
  .next_wakeup = NULL,
  .free = hier_free,
};
