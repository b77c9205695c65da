/* rsrc-name.c: resource name grammar and type detection.
 *
 * Hand-written matchers, one per type, for the grammar in rsrc-name.h.
 * FLoM uses POSIX EREs with REG_NEWLINE; here a name is always matched as
 * a whole, which is what those EREs mean for any name without a newline
 * (and names with control characters are refused outright).
 *
 * latch_rsrc_name_classify() and latch_rsrc_name_check() accept exactly
 * the same names; check() also says, for a refused name, what is wrong. */
#include "config.h"

#include "locker/rsrc-name.h"

#include "common/error.h"
#include "common/text.h"

#include <string.h>

/* LATCH_NAME_MAX in proto/msg.h; the locker does not include proto/
 * headers (dependencies go one way). */
#define RSRC_NAME_MAX 2048
/* A set member is handed back as the grant's element, which an answer
 * carries in at most LATCH_STRING_MAX (proto/msg.h) bytes. */
#define RSRC_SET_MEMBER_MAX 1024

/* How much of an over-long name an error message shows.  Its escapes
 * are spelt as C does ('a\001'), as they always have been. */
#define QUOTE_MAX 40

typedef enum
{
  SUFFIX_NONE,     /* the name does not end in "[" DIGIT+ "]" */
  SUFFIX_TOO_BIG,  /* it does, but the number does not fit in an int */
  SUFFIX_OK,
} SuffixKind;

/* The forms of a name, in FLoM's order, for error messages. */
typedef enum
{
  FORM_SIMPLE,
  FORM_NUMERIC,
  FORM_SET,
  FORM_HIER,
  FORM_SEQUENCE,
  FORM_TIMESTAMP,
  N_FORMS,
  FORM_NONE = N_FORMS,
} Form;

static const char *const form_syntax[N_FORMS] = {
  "NAME", "NAME[N]", "A.B.C", "/a/b", "_s_NAME[N]", "_t_FORMAT[N]",
};

/* Each names the characters its form allows. */
static const char *const form_rule[N_FORMS] = {
  "a simple name is an ASCII letter followed by ASCII letters and digits "
  "(A-Z, a-z, 0-9)",
  "a numeric name is NAME[N]: a simple name (A-Z, a-z, 0-9, starting with "
  "a letter), then a decimal number in brackets",
  "a set name is two or more simple names (A-Z, a-z, 0-9, each starting "
  "with a letter) separated by single dots",
  "a hierarchical name is /SEG/SEG...: each segment is one or more bytes "
  "other than '/', '\\' and newline",
  "a sequence name is _s_NAME[N] or _S_NAME[N]: NAME is a simple name "
  "(A-Z, a-z, 0-9, starting with a letter), N a decimal number",
  "a timestamp name is _t_FORMAT[N]: FORMAT starts with '%', '#' or a "
  "letter and goes on with letters, digits and '%#.:\\', N is a decimal "
  "number",
};

static gboolean
is_alpha (char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static gboolean
is_digit (char c)
{
  return c >= '0' && c <= '9';
}

static gboolean
is_control (char c)
{
  unsigned char u = (unsigned char) c;

  return u < 0x20 || u == 0x7f;
}

static gboolean
has_control (const char *s, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if (is_control (s[i]))
      return TRUE;
  return FALSE;
}

/* IDENT = ALPHA (ALPHA | DIGIT)* */
static gboolean
match_ident (const char *s, gsize len)
{
  if (len == 0 || !is_alpha (s[0]))
    return FALSE;
  for (gsize i = 1; i < len; i++)
    if (!is_alpha (s[i]) && !is_digit (s[i]))
      return FALSE;
  return TRUE;
}

/* Splits s into HEAD "[" NUMBER "]": *head_len is the length of HEAD
 * (possibly 0) and *number the value, both set only with SUFFIX_OK. */
static SuffixKind
parse_suffix (const char *s, gsize len, gsize *head_len, int *number)
{
  gsize first;
  gint64 value = 0;
  gboolean too_big = FALSE;

  if (len < 3 || s[len - 1] != ']')
    return SUFFIX_NONE;
  first = len - 1;
  while (first > 0 && is_digit (s[first - 1]))
    first--;
  if (first == len - 1 || first == 0 || s[first - 1] != '[')
    return SUFFIX_NONE;

  for (gsize i = first; i < len - 1; i++)
    {
      value = value * 10 + (s[i] - '0');
      if (value > G_MAXINT)
        {
          too_big = TRUE;
          break;
        }
    }
  if (too_big)
    return SUFFIX_TOO_BIG;
  *head_len = first - 1;
  *number = (int) value;
  return SUFFIX_OK;
}

/* "_RESOURCE" | IDENT */
static gboolean
match_simple (const char *s, gsize len)
{
  static const char dflt[] = "_RESOURCE";

  if (len == sizeof dflt - 1 && memcmp (s, dflt, len) == 0)
    return TRUE;
  return match_ident (s, len);
}

/* IDENT "[" NUMBER "]" */
static gboolean
match_numeric (const char *s, gsize len)
{
  gsize head_len;
  int number;

  return parse_suffix (s, len, &head_len, &number) == SUFFIX_OK
         && match_ident (s, head_len);
}

/* IDENT ("." IDENT)+ */
static gboolean
match_set (const char *s, gsize len)
{
  gsize start = 0;
  int n_elements = 0;

  for (gsize i = 0; i <= len; i++)
    if (i == len || s[i] == '.')
      {
        if (!match_ident (s + start, i - start) || i - start > RSRC_SET_MEMBER_MAX)
          return FALSE;
        n_elements++;
        start = i + 1;
      }
  return n_elements >= 2;
}

/* The length of the longest of the dot-separated parts of s. */
static gsize
longest_member (const char *s, gsize len)
{
  gsize longest = 0;
  gsize start = 0;

  for (gsize i = 0; i <= len; i++)
    if (i == len || s[i] == '.')
      {
        longest = MAX (longest, i - start);
        start = i + 1;
      }
  return longest;
}

/* ("/" SEG)+, SEG = 1* bytes other than "/", "\" and newline */
static gboolean
match_hier (const char *s, gsize len)
{
  gsize seg_len = 0;

  if (len < 2 || s[0] != '/')
    return FALSE;
  for (gsize i = 1; i < len; i++)
    {
      if (s[i] == '/')
        {
          if (seg_len == 0)
            return FALSE;
          seg_len = 0;
        }
      else if (s[i] == '\\' || s[i] == '\n')
        return FALSE;
      else
        seg_len++;
    }
  return seg_len > 0;
}

/* "_" ("s" | "S") "_" IDENT "[" NUMBER "]" */
static gboolean
match_sequence (const char *s, gsize len)
{
  if (len < 3 || s[0] != '_' || (s[1] != 's' && s[1] != 'S') || s[2] != '_')
    return FALSE;
  return match_numeric (s + 3, len - 3);
}

static gboolean
is_tfirst (char c)
{
  return c == '%' || c == '#' || is_alpha (c);
}

static gboolean
is_tchar (char c)
{
  return is_tfirst (c) || is_digit (c) || c == '.' || c == ':' || c == '\\';
}

/* "_t_" TFIRST TCHAR* "[" NUMBER "]" */
static gboolean
match_timestamp (const char *s, gsize len)
{
  gsize head_len;
  int number;

  if (len < 3 || memcmp (s, "_t_", 3) != 0)
    return FALSE;
  s += 3;
  len -= 3;
  if (parse_suffix (s, len, &head_len, &number) != SUFFIX_OK
      || head_len == 0 || !is_tfirst (s[0]))
    return FALSE;
  for (gsize i = 1; i < head_len; i++)
    if (!is_tchar (s[i]))
      return FALSE;
  return TRUE;
}

LatchRsrcType
latch_rsrc_name_classify (const char *name, gsize len)
{
  g_return_val_if_fail (name != NULL || len == 0, LATCH_RSRC_INVALID);

  if (len == 0 || len > RSRC_NAME_MAX || has_control (name, len))
    return LATCH_RSRC_INVALID;
  /* FLoM's order; the first that matches wins. */
  if (match_simple (name, len))
    return LATCH_RSRC_SIMPLE;
  if (match_numeric (name, len))
    return LATCH_RSRC_NUMERIC;
  if (match_set (name, len))
    return LATCH_RSRC_SET;
  if (match_hier (name, len))
    return LATCH_RSRC_HIER;
  if (match_sequence (name, len))
    return LATCH_RSRC_SEQUENCE;
  if (match_timestamp (name, len))
    return LATCH_RSRC_TIMESTAMP;
  return LATCH_RSRC_INVALID;
}

const char *
latch_rsrc_type_to_string (LatchRsrcType type)
{
  switch (type)
    {
    case LATCH_RSRC_SIMPLE:
      return "simple";
    case LATCH_RSRC_NUMERIC:
      return "numeric";
    case LATCH_RSRC_SET:
      return "set";
    case LATCH_RSRC_HIER:
      return "hierarchical";
    case LATCH_RSRC_SEQUENCE:
      return "sequence";
    case LATCH_RSRC_TIMESTAMP:
      return "timestamp";
    case LATCH_RSRC_INVALID:
    default:
      return "invalid";
    }
}

/* " (other forms: ...)" listing every form but skip (or all of them). */
static char *
forms_note (Form skip)
{
  GString *note = g_string_new (skip == FORM_NONE ? " (accepted forms: "
                                                  : " (other forms: ");
  gboolean first = TRUE;

  for (int f = 0; f < N_FORMS; f++)
    {
      if ((Form) f == skip)
        continue;
      g_string_append_printf (note, "%s%s", first ? "" : ", ", form_syntax[f]);
      first = FALSE;
    }
  g_string_append_c (note, ')');
  return g_string_free (note, FALSE);
}

/* May a name of this form hold c anywhere (position aside)? */
static gboolean
form_allows (Form form, char c)
{
  switch (form)
    {
    case FORM_SIMPLE:
      return is_alpha (c) || is_digit (c);
    case FORM_SET:
      return is_alpha (c) || is_digit (c) || c == '.';
    case FORM_NUMERIC:
    case FORM_SEQUENCE:
      return is_alpha (c) || is_digit (c) || c == '[' || c == ']';
    case FORM_TIMESTAMP:
      return is_tchar (c) || c == '[' || c == ']';
    case FORM_HIER:
      return c != '\\' && c != '\n';
    case FORM_NONE:
    default:
      return TRUE;
    }
}

/* "'-' is not allowed: " for the first byte the form never allows
 * (after a sequence's or timestamp's prefix), or "" when there is none:
 * then it is the order of the characters that is wrong. */
static char *
bad_char_note (const char *name, gsize len, Form form)
{
  gsize start = form == FORM_SEQUENCE || form == FORM_TIMESTAMP ? 3 : 0;

  for (gsize i = start; i < len; i++)
    {
      unsigned char c = (unsigned char) name[i];

      if (form_allows (form, name[i]))
        continue;
      if (c >= 0x20 && c < 0x7f)
        return g_strdup_printf ("'%c' is not allowed: ", c);
      return g_strdup_printf ("byte 0x%02x (not ASCII) is not allowed: ", c);
    }
  return g_strdup ("");
}

/* The form the author of an invalid name most likely meant. */
static Form
guess_form (const char *name, gsize len)
{
  if (name[0] == '/')
    return FORM_HIER;
  if (len >= 3 && name[0] == '_' && (name[1] == 's' || name[1] == 'S')
      && name[2] == '_')
    return FORM_SEQUENCE;
  if (len >= 3 && memcmp (name, "_t_", 3) == 0)
    return FORM_TIMESTAMP;
  if (name[0] == '_')
    return FORM_NONE;
  if (memchr (name, '[', len) != NULL || name[len - 1] == ']')
    return FORM_NUMERIC;
  if (memchr (name, '.', len) != NULL)
    return FORM_SET;
  return FORM_SIMPLE;
}

gboolean
latch_rsrc_name_check (const char *name, LatchRsrcType *type_out,
                       GError **error)
{
  gsize len;
  LatchRsrcType type;
  g_autofree char *quoted = NULL;
  g_autofree char *note = NULL;
  gsize head_len;
  int number;
  Form form;

  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  len = strlen (name);
  if (len == 0)
    {
      g_set_error_literal (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                           "resource name is empty");
      return FALSE;
    }
  quoted = latch_text_quote (name, (gssize) len, QUOTE_MAX, LATCH_QUOTE_C_ESCAPES);
  if (len > RSRC_NAME_MAX)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                   "invalid resource name %s: it is %" G_GSIZE_FORMAT
                   " bytes long, the limit is %d bytes",
                   quoted, len, RSRC_NAME_MAX);
      return FALSE;
    }
  if (has_control (name, len))
    {
      note = forms_note (FORM_NONE);
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                   "invalid resource name %s: contains a control "
                   "character%s", quoted, note);
      return FALSE;
    }

  type = latch_rsrc_name_classify (name, len);
  if (type != LATCH_RSRC_INVALID)
    {
      if (type_out != NULL)
        *type_out = type;
      return TRUE;
    }

  form = guess_form (name, len);
  note = forms_note (form);
  if (form == FORM_SET && longest_member (name, len) > RSRC_SET_MEMBER_MAX)
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                 "invalid resource name %s: a set member is %" G_GSIZE_FORMAT
                 " bytes long, the limit is %d bytes (the member granted is sent "
                 "back as the element)", quoted, longest_member (name, len),
                 RSRC_SET_MEMBER_MAX);
  else if (parse_suffix (name, len, &head_len, &number) == SUFFIX_TOO_BIG)
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                 "invalid resource name %s: the number in brackets does "
                 "not fit in an int (at most %d)%s", quoted, G_MAXINT, note);
  else if (form == FORM_NONE)
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                 "invalid resource name %s: only _RESOURCE and names "
                 "starting with _s_, _S_ or _t_ may start with '_'%s",
                 quoted, note);
  else
    {
      g_autofree char *bad = bad_char_note (name, len, form);
      g_autofree char *hier = g_strconcat ("/", name, NULL);
      g_autofree char *hint = NULL;

      /* 'deploy-prod', 'db_main', 'host:5432': only a hierarchical name
       * may hold those characters. */
      if (form == FORM_SIMPLE && *bad != '\0'
          && latch_rsrc_name_classify (hier, len + 1) == LATCH_RSRC_HIER)
        {
          g_autofree char *quoted_hier
              = latch_text_quote (hier, (gssize) len + 1, QUOTE_MAX, LATCH_QUOTE_C_ESCAPES);

          hint = g_strdup_printf ("; a hierarchical name such as %s may hold it",
                                  quoted_hier);
        }
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                   "invalid resource name %s: %s%s%s%s", quoted, bad,
                   form_rule[form], hint != NULL ? hint : "", note);
    }
  return FALSE;
}

gboolean
latch_rsrc_name_get_number (const char *name, int *number_out)
{
  gsize len;
  gsize head_len;
  int number;

  g_return_val_if_fail (name != NULL, FALSE);

  len = strlen (name);
  switch (latch_rsrc_name_classify (name, len))
    {
    case LATCH_RSRC_NUMERIC:
    case LATCH_RSRC_SEQUENCE:
    case LATCH_RSRC_TIMESTAMP:
      break;
    case LATCH_RSRC_INVALID:
    case LATCH_RSRC_SIMPLE:
    case LATCH_RSRC_SET:
    case LATCH_RSRC_HIER:
    default:
      return FALSE;
    }
  if (parse_suffix (name, len, &head_len, &number) != SUFFIX_OK)
    return FALSE;
  if (number_out != NULL)
    *number_out = number;
  return TRUE;
}
