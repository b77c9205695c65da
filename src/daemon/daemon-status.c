/* daemon-status.c: answers a status request (verb 6, doc/protocol.md,
 * doc/status.md): who holds what, who waits for what, in a table for
 * people, in JSON for programs, as resource names for completion, as the
 * metrics text, or as one line about one waiter or one holder.
 *
 * Everything comes from one snapshot of the lock table (the seam), so it
 * shows what any backend holds.  Owners map back to connections (an
 * owner's user_data is its Slot), whose peers say who they are: a local
 * peer's uid, pid and command line (read from /proc when asked), a
 * network peer's address, machine ID and session lock id.
 *
 * A status request is a connection's first and only request: the answer
 * goes out as step-24 messages of lines, then the final step-32 message,
 * and the connection closes. */
#include "config.h"

#include "daemon/daemon-private.h"

#include "common/json-writer.h"
#include "common/log.h"
#include "common/text.h"
#include "locker/rsrc-name.h"
#include "proto/msg.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>

/* The longest command line shown, in characters. */
#define COMMAND_MAX 200
/* A piece of the JSON document, in bytes (plus at most one character):
 * within what one line may carry (LATCH_STRING_MAX), with room. */
#define JSON_PIECE_MAX 1000

/* What status says about the owner of one lock entry. */
typedef struct
{
  gboolean ours;       /* an owner of this daemon's (else another's) */
  gboolean is_local;
  uid_t uid;
  char *user;          /* NULL when the uid has no name */
  pid_t pid;
  char *command;       /* NULL when unknown */
  char *address;       /* network peer: "ADDR:PORT" */
  char *machine_id;    /* mutual TLS: its checked ID */
  guint64 lock_id;     /* a session's lock id; 0: legacy connection */
  const char *key;     /* the owner's key (transfer none) */
} Who;

static void
who_clear (Who *w)
{
  g_free (w->user);
  g_free (w->command);
  g_free (w->address);
  g_free (w->machine_id);
}

static char *
user_name (uid_t uid)
{
  struct passwd pw, *result = NULL;
  char buf[1024];

  if (getpwuid_r (uid, &pw, buf, sizeof buf, &result) != 0 || result == NULL)
    return NULL;
  return g_strdup (pw.pw_name);
}

/* pid's command line as status shows it: for a `latch ... -- COMMAND`,
 * the COMMAND; else the whole argv, space-separated, at most COMMAND_MAX
 * characters.  Read now: it is what the process runs at status time.
 * NULL when it cannot be read (gone, or another user's under hidepid). */
static char *
command_line (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/cmdline", (int)pid);
  g_autofree char *raw = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GString) out = g_string_new (NULL);
  g_autofree char *base = NULL;
  gsize len = 0;
  guint from = 0;

  if (pid <= 0 || !g_file_get_contents (path, &raw, &len, NULL) || len == 0)
    return NULL;
  /* NUL-separated arguments; g_file_get_contents() adds a NUL after the
   * last byte, so a last argument without one is a string too. */
  for (gsize i = 0; i < len; i += strlen (raw + i) + 1)
    g_ptr_array_add (argv, raw + i);
  base = g_path_get_basename (argv->pdata[0]);
  if (strcmp (base, "latch") == 0)
    for (guint i = 1; i < argv->len; i++)
      if (strcmp (argv->pdata[i], "--") == 0)
        {
          from = i + 1;
          break;
        }
  if (from >= argv->len)
    from = 0;
  for (guint i = from; i < argv->len; i++)
    {
      if (out->len > 0)
        g_string_append_c (out, ' ');
      g_string_append (out, argv->pdata[i]);
    }
  {
    g_autofree char *valid = g_utf8_make_valid (out->str, -1);

    if (g_utf8_strlen (valid, -1) <= COMMAND_MAX)
      return g_steal_pointer (&valid);
    {
      g_autofree char *cut = g_utf8_substring (valid, 0, COMMAND_MAX - 3);

      return g_strconcat (cut, "...", NULL);
    }
  }
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Who, who_clear)

static void
who_fill (Who *w, const LatchTableLockStatus *lock)
{
  const Slot *s = lock->owner_data;

  memset (w, 0, sizeof *w);
  w->key = lock->owner_key;
  if (s == NULL || s->client == NULL)
    return;
  w->ours = TRUE;
  w->is_local = s->client->peer.is_local;
  w->lock_id = s->id;
  if (w->is_local)
    {
      w->uid = s->client->peer.uid;
      w->pid = s->client->peer.pid;
      w->user = user_name (w->uid);
      w->command = command_line (w->pid);
    }
  else
    {
      w->address = g_strdup (s->client->peer.address);
      w->machine_id = g_strdup (s->client->peer.machine_id);
    }
}

/* The host part of "ADDR:PORT" (IPv6 addresses come bracketed or bare:
 * the port is after the last colon either way). */
static char *
address_host (const char *address)
{
  const char *colon = address != NULL ? strrchr (address, ':') : NULL;

  if (colon == NULL)
    return g_strdup (address != NULL ? address : "?");
  return g_strndup (address, colon - address);
}

static int
address_port (const char *address)
{
  const char *colon = address != NULL ? strrchr (address, ':') : NULL;

  return colon != NULL ? atoi (colon + 1) : 0;
}

/* "pid 4121 (alice: ./backup.sh)", "10.0.0.7 (machine 8c1f...)". */
static char *
who_describe (const Who *w)
{
  if (!w->ours)
    return g_strdup_printf ("another daemon's client (%s)", w->key != NULL ? w->key : "?");
  if (w->is_local)
    {
      g_autofree char *user = w->user != NULL ? g_strdup (w->user)
                                              : g_strdup_printf ("uid %u", (unsigned)w->uid);

      if (w->command != NULL)
        return g_strdup_printf ("pid %d (%s: %s)", (int)w->pid, user, w->command);
      return g_strdup_printf ("pid %d (%s)", (int)w->pid, user);
    }
  {
    g_autofree char *host = address_host (w->address);
    GString *out = g_string_new (host);

    if (w->machine_id != NULL)
      g_string_append_printf (out, " (machine %.8s%s)", w->machine_id,
                              strlen (w->machine_id) > 8 ? "\xe2\x80\xa6" : "");
    if (w->lock_id != 0)
      g_string_append_printf (out, " lock %" G_GUINT64_FORMAT, w->lock_id);
    return g_string_free (out, FALSE);
  }
}

static const char *
mode_name (LatchLockMode mode)
{
  static const char *const names[] = { "NL", "CR", "CW", "PR", "PW", "EX" };

  return (int)mode >= 0 && (int)mode < (int)G_N_ELEMENTS (names) ? names[mode] : "?";
}

static const char *
place_name (LatchTablePlace place)
{
  switch (place)
    {
    case LATCH_TABLE_HOLDING:
      return "held";
    case LATCH_TABLE_QUEUED:
      return "queued";
    case LATCH_TABLE_WAITING_CREATION:
    default:
      return "awaits";
    }
}

static const char *
place_json (LatchTablePlace place)
{
  switch (place)
    {
    case LATCH_TABLE_HOLDING:
      return "holding";
    case LATCH_TABLE_QUEUED:
      return "queued";
    case LATCH_TABLE_WAITING_CREATION:
    default:
      return "waiting_creation";
    }
}

static LatchRsrcType
rsrc_type (const char *name)
{
  return latch_rsrc_name_classify (name, strlen (name));
}

static gint64
seconds_since (const LatchTableSnapshot *snap, gint64 since_us)
{
  if (since_us <= 0 || since_us > snap->taken_us)
    return 0;
  return (snap->taken_us - since_us) / G_USEC_PER_SEC;
}

/* A name fit for a line of text: odd bytes escaped. */
static char *
shown_name (const char *name)
{
  return latch_text_quote (name, -1, 256, LATCH_QUOTE_BARE);
}

/* Does the resource, or one of its entries, go by name? */
static gboolean
rsrc_matches (const LatchTableRsrcStatus *rs, const char *name)
{
  if (name == NULL || strcmp (rs->name, name) == 0)
    return TRUE;
  for (guint i = 0; i < rs->locks->len; i++)
    if (strcmp (g_array_index (rs->locks, LatchTableLockStatus, i).name, name) == 0)
      return TRUE;
  return FALSE;
}

/* ---- sending ---- */

typedef struct
{
  Client *c;
  LatchMsg *msg;   /* lines not sent yet */
  gsize size;      /* msg's encoded size */
} Out;

static gsize
escaped_len (const char *s)
{
  gsize n = 0;

  for (; *s != '\0'; s++)
    switch (*s)
      {
      case '&': n += 5; break;
      case '<': case '>': n += 4; break;
      case '"': case '\'': n += 6; break;
      default: n++; break;
      }
  return n;
}

static void
out_send (Client *c, const LatchMsg *msg)
{
  g_autoptr (GString) buf = g_string_sized_new (512);

  latch_msg_encode (msg, buf);
  latch_conn_send (c->conn, buf->str, buf->len);
}

static void
out_flush (Out *o)
{
  if (o->msg != NULL && o->msg->lines != NULL && o->msg->lines->len > 0)
    out_send (o->c, o->msg);
  g_clear_pointer (&o->msg, latch_msg_free);
}

/* One line of the answer: as many go in a message as fit. */
static void
out_line (Out *o, const char *text)
{
  /* The message around the lines: declaration, <msg ...>, </msg>. */
  const gsize frame = 80;
  const char *added;
  gsize cost;

  if (o->msg == NULL)
    {
      o->msg = latch_msg_new (LATCH_MSG_STATUS_LINES, LATCH_STEP_LATER_ANSWER);
      o->size = frame;
    }
  latch_msg_add_line (o->msg, text);
  added = g_ptr_array_index (o->msg->lines, o->msg->lines->len - 1);
  cost = escaped_len (added) + strlen ("<line text=\"\"/>");
  if (o->size + cost > LATCH_MSG_MAX_SIZE && o->msg->lines->len > 1)
    {
      g_autofree char *again = g_strdup (added);

      g_ptr_array_remove_index (o->msg->lines, o->msg->lines->len - 1);
      out_flush (o);
      out_line (o, again);
      return;
    }
  o->size += cost;
}

static void
out_lines (Out *o, const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (lines[i + 1] != NULL || lines[i][0] != '\0')
      out_line (o, lines[i]);
}

/* The final message; then the connection closes. */
static void
out_end (Out *o, int rc, const char *reason)
{
  g_autoptr (LatchMsg) end = latch_msg_new (LATCH_MSG_STATUS_END, LATCH_STEP_FINAL_ANSWER);

  out_flush (o);
  end->rc = rc;
  if (reason != NULL)
    {
      g_autofree char *valid = g_utf8_make_valid (reason, -1);
      g_autoptr (LatchMsg) tmp = latch_msg_new (LATCH_MSG_STATUS_LINES, 24);

      /* The same cleaning as a line's. */
      latch_msg_add_line (tmp, valid);
      end->reason = g_strdup (g_ptr_array_index (tmp->lines, 0));
    }
  out_send (o->c, end);
  latch_conn_close_after_flush (o->c->conn);
}

/* ---- renderings ---- */

static void
render_text (Out *o, const LatchTableSnapshot *snap, const char *only)
{
  guint shown = 0;

  for (guint i = 0; i < snap->resources->len; i++)
    {
      const LatchTableRsrcStatus *rs = snap->resources->pdata[i];
      g_autofree char *name = NULL;
      g_autofree char *header = NULL;
      guint n_held = 0, n_queued = 0;

      if (!rsrc_matches (rs, only))
        continue;
      name = shown_name (rs->name);
      if (!rs->exists)
        header = g_strdup_printf ("%s (%s): not created yet, waited for", name,
                                  latch_rsrc_type_to_string (rsrc_type (rs->name)));
      else if (rs->expiry_us >= 0)
        header = g_strdup_printf ("%s (%s): idle, kept for %" G_GINT64_FORMAT " s more", name,
                                  latch_rsrc_type_to_string (rsrc_type (rs->name)),
                                  MAX (0, (rs->expiry_us - snap->taken_us + G_USEC_PER_SEC - 1)
                                              / G_USEC_PER_SEC));
      else
        header = g_strdup_printf ("%s (%s)", name,
                                  latch_rsrc_type_to_string (rsrc_type (rs->name)));
      if (shown++ > 0)
        out_line (o, "");
      out_line (o, header);
      for (guint j = 0; j < rs->locks->len; j++)
        {
          const LatchTableLockStatus *lock = &g_array_index (rs->locks, LatchTableLockStatus, j);
          g_auto (Who) who = { 0 };
          g_autofree char *desc = NULL;
          g_autoptr (GString) line = g_string_new (NULL);
          guint pos = lock->place == LATCH_TABLE_HOLDING ? ++n_held : ++n_queued;

          who_fill (&who, lock);
          desc = who_describe (&who);
          g_string_printf (line, "  %-6s %3u  %s", place_name (lock->place), pos,
                           mode_name (lock->mode));
          if (rsrc_type (lock->name) == LATCH_RSRC_NUMERIC)
            g_string_append_printf (line, " qty %d", lock->quantity);
          if (lock->element != NULL)
            g_string_append_printf (line, " element %s", lock->element);
          if (strcmp (lock->name, rs->name) != 0)
            {
              g_autofree char *n = shown_name (lock->name);

              g_string_append_printf (line, " on %s", n);
            }
          g_string_append_printf (line, "  %s", desc);
          if (who.is_local && who.ours)
            g_string_append_printf (line, " uid %u", (unsigned)who.uid);
          g_string_append_printf (line, "  for %" G_GINT64_FORMAT " s",
                                  seconds_since (snap, lock->since_us));
          if (lock->place == LATCH_TABLE_HOLDING && lock->fence != 0)
            g_string_append_printf (line, "  fence %" G_GUINT64_FORMAT, lock->fence);
          out_line (o, line->str);
        }
    }
  if (shown == 0)
    {
      if (only != NULL)
        {
          g_autofree char *name = shown_name (only);
          g_autofree char *line = g_strdup_printf ("%s: nobody holds or waits for it", name);

          out_line (o, line);
        }
      else
        out_line (o, "nothing is locked");
    }
}

static void
json_lock (LatchJsonWriter *w, const LatchTableSnapshot *snap, const LatchTableLockStatus *lock,
           guint position)
{
  g_auto (Who) who = { 0 };

  who_fill (&who, lock);
  latch_json_writer_begin_object (w);
  latch_json_writer_member (w, "position");
  latch_json_writer_int (w, position);
  latch_json_writer_member (w, "state");
  latch_json_writer_string (w, place_json (lock->place));
  latch_json_writer_member (w, "name");
  latch_json_writer_string (w, lock->name);
  latch_json_writer_member (w, "mode");
  latch_json_writer_string (w, mode_name (lock->mode));
  latch_json_writer_member (w, "quantity");
  latch_json_writer_int (w, lock->quantity);
  latch_json_writer_member (w, "element");
  if (lock->element != NULL)
    latch_json_writer_string (w, lock->element);
  else
    latch_json_writer_null (w);
  latch_json_writer_member (w, "since_us");
  latch_json_writer_int (w, lock->since_us);
  latch_json_writer_member (w, "for_s");
  latch_json_writer_int (w, seconds_since (snap, lock->since_us));
  latch_json_writer_member (w, "fence");
  if (lock->place == LATCH_TABLE_HOLDING && lock->fence != 0)
    latch_json_writer_int (w, (gint64)lock->fence);
  else
    latch_json_writer_null (w);

  latch_json_writer_member (w, "owner");
  latch_json_writer_begin_object (w);
  latch_json_writer_member (w, "key");
  latch_json_writer_string (w, who.key != NULL ? who.key : "");
  latch_json_writer_member (w, "ours");
  latch_json_writer_boolean (w, who.ours);
  latch_json_writer_member (w, "local");
  latch_json_writer_boolean (w, who.ours && who.is_local);
  if (who.ours && who.is_local)
    {
      latch_json_writer_member (w, "uid");
      latch_json_writer_int (w, who.uid);
      latch_json_writer_member (w, "user");
      if (who.user != NULL)
        latch_json_writer_string (w, who.user);
      else
        latch_json_writer_null (w);
      latch_json_writer_member (w, "pid");
      latch_json_writer_int (w, who.pid);
      latch_json_writer_member (w, "command");
      if (who.command != NULL)
        latch_json_writer_string (w, who.command);
      else
        latch_json_writer_null (w);
    }
  else if (who.ours)
    {
      latch_json_writer_member (w, "address");
      latch_json_writer_string (w, who.address != NULL ? who.address : "");
      latch_json_writer_member (w, "machine_id");
      if (who.machine_id != NULL)
        latch_json_writer_string (w, who.machine_id);
      else
        latch_json_writer_null (w);
      latch_json_writer_member (w, "lock_id");
      if (who.lock_id != 0)
        latch_json_writer_int (w, (gint64)who.lock_id);
      else
        latch_json_writer_null (w);
    }
  latch_json_writer_end_object (w);
  latch_json_writer_end_object (w);
}

static void
render_json (Out *o, const LatchTableSnapshot *snap, const char *only)
{
  g_autoptr (LatchJsonWriter) w = latch_json_writer_new ();
  const char *text;

  latch_json_writer_begin_object (w);
  latch_json_writer_member (w, "version");
  latch_json_writer_int (w, 1);
  latch_json_writer_member (w, "taken_us");
  latch_json_writer_int (w, snap->taken_us);
  latch_json_writer_member (w, "resources");
  latch_json_writer_begin_array (w);
  for (guint i = 0; i < snap->resources->len; i++)
    {
      const LatchTableRsrcStatus *rs = snap->resources->pdata[i];
      guint n_held = 0, n_queued = 0;

      if (!rsrc_matches (rs, only))
        continue;
      latch_json_writer_begin_object (w);
      latch_json_writer_member (w, "name");
      latch_json_writer_string (w, rs->name);
      latch_json_writer_member (w, "type");
      latch_json_writer_string (w, latch_rsrc_type_to_string (rsrc_type (rs->name)));
      latch_json_writer_member (w, "exists");
      latch_json_writer_boolean (w, rs->exists);
      latch_json_writer_member (w, "lifespan_ms");
      latch_json_writer_int (w, rs->lifespan);
      latch_json_writer_member (w, "expiry_us");
      if (rs->expiry_us >= 0)
        latch_json_writer_int (w, rs->expiry_us);
      else
        latch_json_writer_null (w);
      for (int pass = 0; pass < 2; pass++)
        {
          latch_json_writer_member (w, pass == 0 ? "holders" : "waiters");
          latch_json_writer_begin_array (w);
          for (guint j = 0; j < rs->locks->len; j++)
            {
              const LatchTableLockStatus *lock
                  = &g_array_index (rs->locks, LatchTableLockStatus, j);

              if ((lock->place == LATCH_TABLE_HOLDING) != (pass == 0))
                continue;
              json_lock (w, snap, lock, pass == 0 ? ++n_held : ++n_queued);
            }
          latch_json_writer_end_array (w);
        }
      latch_json_writer_end_object (w);
    }
  latch_json_writer_end_array (w);
  latch_json_writer_end_object (w);

  /* Compact, in pieces the client joins: a string of the document (a
   * resource name of up to LATCH_NAME_MAX bytes, a command line) may be
   * longer than a line can be, and a line cut short would leave a
   * document that does not parse.  Pieces end on a character boundary
   * (the writer leaves only valid UTF-8); it escapes every control
   * character, so no piece has one. */
  text = latch_json_writer_get_text (w);
  for (const char *p = text; *p != '\0';)
    {
      const char *end = p;
      g_autofree char *piece = NULL;

      while (*end != '\0' && end - p < JSON_PIECE_MAX)
        end = g_utf8_next_char (end);
      piece = g_strndup (p, end - p);
      out_line (o, piece);
      p = end;
    }
}

static void
render_names (Out *o, const LatchTableSnapshot *snap)
{
  const char *last = NULL;

  for (guint i = 0; i < snap->resources->len; i++)
    {
      const LatchTableRsrcStatus *rs = snap->resources->pdata[i];

      if (last != NULL && strcmp (last, rs->name) == 0)
        continue;
      last = rs->name;
      out_line (o, rs->name);
    }
}

/* The holders of rs as one phrase: "pid 4121 (alice: ./backup.sh) for
 * 12 s", "... and 2 more"; NULL when nobody holds it. */
static char *
describe_holders (const LatchTableSnapshot *snap, const LatchTableRsrcStatus *rs)
{
  const LatchTableLockStatus *first = NULL;
  guint n = 0;
  g_auto (Who) who = { 0 };
  g_autofree char *desc = NULL;

  for (guint j = 0; j < rs->locks->len; j++)
    {
      const LatchTableLockStatus *lock = &g_array_index (rs->locks, LatchTableLockStatus, j);

      if (lock->place != LATCH_TABLE_HOLDING)
        continue;
      if (first == NULL)
        first = lock;
      n++;
    }
  if (first == NULL)
    return NULL;
  who_fill (&who, first);
  desc = who_describe (&who);
  if (n > 1)
    return g_strdup_printf ("held by %s for %" G_GINT64_FORMAT " s and by %u more", desc,
                            seconds_since (snap, first->since_us), n - 1);
  return g_strdup_printf ("held by %s for %" G_GINT64_FORMAT " s", desc,
                          seconds_since (snap, first->since_us));
}

/* Is lock a request of the asker's (the connection c is its status
 * query)?  Local: the same pid; TCP: the same host, from the port the
 * asker named; id, when given, names the session's lock. */
static gboolean
is_askers (const Client *c, const LatchMsg *msg, const LatchTableLockStatus *lock)
{
  const Slot *s = lock->owner_data;
  const Client *other;

  if (s == NULL || s->client == NULL || s->client == c)
    return FALSE;
  other = s->client;
  if (c->peer.is_local)
    {
      if (!other->peer.is_local || other->peer.pid != c->peer.pid || c->peer.pid <= 0)
        return FALSE;
    }
  else
    {
      g_autofree char *mine = address_host (c->peer.address);
      g_autofree char *theirs = address_host (other->peer.address);

      if (other->peer.is_local || msg->port == 0 || strcmp (mine, theirs) != 0
          || address_port (other->peer.address) != msg->port)
        return FALSE;
    }
  return msg->id == 0 || other->slots == NULL || s->id == msg->id;
}

static void
render_wait (Out *o, Client *c, const LatchMsg *msg, const LatchTableSnapshot *snap)
{
  for (guint i = 0; i < snap->resources->len; i++)
    {
      const LatchTableRsrcStatus *rs = snap->resources->pdata[i];
      guint ahead = 0;

      if (!rsrc_matches (rs, msg->name))
        continue;
      for (guint j = 0; j < rs->locks->len; j++)
        {
          const LatchTableLockStatus *lock = &g_array_index (rs->locks, LatchTableLockStatus, j);
          g_autofree char *holders = NULL;
          g_autofree char *line = NULL;

          if (lock->place == LATCH_TABLE_HOLDING)
            continue;
          if (!is_askers (c, msg, lock))
            {
              ahead++;
              continue;
            }
          holders = describe_holders (snap, rs);
          if (lock->place == LATCH_TABLE_WAITING_CREATION)
            line = g_strdup_printf ("waiting for it to be created, %u ahead", ahead);
          else if (holders != NULL)
            line = g_strdup_printf ("%s, %u ahead", holders, ahead);
          else
            line = g_strdup_printf ("not held, waiting for its turn, %u ahead", ahead);
          out_line (o, line);
          out_end (o, LATCH_STATUS_RC_OK, NULL);
          return;
        }
    }
  out_end (o, LATCH_STATUS_RC_NOTHING, "not waiting");
}

static void
render_holder (Out *o, const LatchMsg *msg, const LatchTableSnapshot *snap)
{
  for (guint i = 0; i < snap->resources->len; i++)
    {
      const LatchTableRsrcStatus *rs = snap->resources->pdata[i];
      g_autofree char *holders = NULL;

      if (!rsrc_matches (rs, msg->name))
        continue;
      holders = describe_holders (snap, rs);
      if (holders != NULL)
        {
          out_line (o, holders);
          out_end (o, LATCH_STATUS_RC_OK, NULL);
          return;
        }
    }
  out_end (o, LATCH_STATUS_RC_NOTHING, "nobody holds it");
}

/* ---- entry points ---- */

void
latch_daemon_status_refuse (Client *c, const char *reason)
{
  Out o = { c, NULL, 0 };

  out_end (&o, LATCH_STATUS_RC_REFUSED, reason);
}

void
latch_daemon_status_serve (Client *c, const LatchMsg *msg, gboolean first)
{
  Daemon *d = c->daemon;
  const char *what = msg->status_what;
  const char *label = latch_conn_get_label (c->conn);
  g_autoptr (LatchTableSnapshot) snap = NULL;
  Out o = { c, NULL, 0 };
  gboolean needs_name = strcmp (what, "wait") == 0 || strcmp (what, "holder") == 0;

  if (!first)
    {
      /* Answered on this lock connection, which stays as it is: the
       * client asks on a connection of its own. */
      g_autoptr (LatchMsg) end = latch_msg_new (LATCH_MSG_STATUS_END, LATCH_STEP_FINAL_ANSWER);

      latch_log_info ("%s: refused: a status request on a lock connection", label);
      end->rc = LATCH_STATUS_RC_REFUSED;
      end->reason = g_strdup ("a status request on a connection that holds or waits; "
                              "ask on a connection of its own");
      out_send (c, end);
      return;
    }
  latch_conn_begin (c->conn, LATCH_CONN_MANAGEMENT);
  latch_log_debug ("%s: status request what='%s'", label, what);

  if (strcmp (what, "text") != 0 && strcmp (what, "json") != 0 && strcmp (what, "names") != 0
      && strcmp (what, "metrics") != 0 && !needs_name)
    {
      g_autofree char *q = latch_text_quote (what, -1, 64, LATCH_QUOTE_DEFAULT);
      g_autofree char *reason = g_strdup_printf ("unknown status request %s (this daemon "
                                                 "knows text, json, names, metrics, wait, "
                                                 "holder)", q);

      out_end (&o, LATCH_STATUS_RC_REFUSED, reason);
      return;
    }
  if (needs_name && msg->name == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("a '%s' status request needs a resource", what);

      out_end (&o, LATCH_STATUS_RC_REFUSED, reason);
      return;
    }
  if (msg->name != NULL)
    {
      g_autoptr (GError) error = NULL;
      LatchRsrcType type;

      if (!latch_rsrc_name_check (msg->name, &type, &error))
        {
          out_end (&o, LATCH_STATUS_RC_REFUSED, error->message);
          return;
        }
    }

  if (strcmp (what, "metrics") == 0)
    {
      g_autofree char *text = latch_daemon_metrics_text (d);

      out_lines (&o, text);
      out_end (&o, LATCH_STATUS_RC_OK, NULL);
      return;
    }

  snap = latch_table_snapshot (d->table);
  if (strcmp (what, "text") == 0)
    render_text (&o, snap, msg->name);
  else if (strcmp (what, "json") == 0)
    render_json (&o, snap, msg->name);
  else if (strcmp (what, "names") == 0)
    render_names (&o, snap);
  else if (strcmp (what, "wait") == 0)
    {
      render_wait (&o, c, msg, snap);
      return;
    }
  else
    {
      render_holder (&o, msg, snap);
      return;
    }
  out_end (&o, LATCH_STATUS_RC_OK, NULL);
}
