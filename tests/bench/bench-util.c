#include "config.h"

/* bench-util.c: the bench programs' helpers that need only GLib and libc
 * (see bench-util.h). */

#include "bench-util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

gint64
bench_monotonic_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *
bench_security_name (LatchSecurityLevel level)
{
  switch (level)
    {
    case LATCH_SECURITY_CHANNEL: return "channel";
    case LATCH_SECURITY_MUTUAL: return "mutual";
    default: return "clear";
    }
}

gboolean
bench_parse_host_port (const char *text, gboolean host_optional, char **host,
                       const char **port_text, int *port)
{
  const char *colon;
  guint64 value;

  if (text[0] == '[')
    {
      const char *end = strchr (text, ']');

      if (end == NULL || end[1] != ':' || end == text + 1)
        return FALSE;
      colon = end + 1;
      *host = g_strndup (text + 1, (gsize) (end - text - 1));
    }
  else if ((colon = strchr (text, ':')) != NULL)
    {
      /* A bare IPv6 address is ambiguous: it needs the brackets. */
      if (colon == text || strchr (colon + 1, ':') != NULL)
        return FALSE;
      *host = g_strndup (text, (gsize) (colon - text));
    }
  else if (host_optional)
    {
      colon = text - 1;
      *host = NULL;
    }
  else
    return FALSE;
  if (!g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &value, NULL))
    {
      g_clear_pointer (host, g_free);
      return FALSE;
    }
  if (port_text != NULL)
    *port_text = colon + 1;
  if (port != NULL)
    *port = (int) value;
  return TRUE;
}

gboolean
bench_parse_options (const char *program, const char *summary, const GOptionEntry *entries,
                     int *argc, char ***argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new (summary);
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, argc, argv, &error))
    {
      fprintf (stderr, "%s: %s\n", program, error->message);
      return FALSE;
    }
  return TRUE;
}

void
bench_target_tls (BenchTarget *t, const char *tls_dir, const char *tls_cert,
                  const char *tls_priority, gboolean mutual, char **certificate,
                  char **private_key, char **ca_certificate)
{
  g_autofree char *dir = NULL;
  g_autofree char *pem = NULL;
  g_autofree char *key = NULL;
  const char *name = tls_cert != NULL ? tls_cert : "peer1_ca1";

  *certificate = *private_key = *ca_certificate = NULL;
  if (tls_dir == NULL)
    {
      t->level = LATCH_SECURITY_CLEAR;
      return;
    }
  dir = g_canonicalize_filename (tls_dir, NULL);
  pem = g_strconcat (name, ".pem", NULL);
  key = g_strconcat (name, ".key", NULL);
  *certificate = g_build_filename (dir, pem, NULL);
  *private_key = g_build_filename (dir, key, NULL);
  *ca_certificate = g_build_filename (dir, "ca1.pem", NULL);
  t->tls_certificate = *certificate;
  t->tls_private_key = *private_key;
  t->tls_ca_certificate = *ca_certificate;
  t->tls_priority = tls_priority;
  t->level = mutual ? LATCH_SECURITY_MUTUAL : LATCH_SECURITY_CHANNEL;
}
