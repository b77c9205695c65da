/* x509-util.c: the GnuTLS x509 helpers shared by tls.c, latch-cert and the
 * debug tools.  GLib and GnuTLS only (it is part of latch-tls.so). */
#include "config.h"

#include "tls/x509-util.h"

/* ---- lists of certificates and CRLs ------------------------------------ */

void
latch_x509_crt_list_clear (LatchX509CrtList *list)
{
  for (unsigned int i = 0; i < list->n; i++)
    gnutls_x509_crt_deinit (list->items[i]);
  gnutls_free (list->items);
  list->items = NULL;
  list->n = 0;
}

void
latch_x509_crl_list_clear (LatchX509CrlList *list)
{
  for (unsigned int i = 0; i < list->n; i++)
    gnutls_x509_crl_deinit (list->items[i]);
  gnutls_free (list->items);
  list->items = NULL;
  list->n = 0;
}

/* Imports d, in format fmt, into the empty list at list; leaves it empty
 * when that finds nothing.  Returns GnuTLS's result; *n: the count. */
typedef int (*ImportFunc) (void *list, const gnutls_datum_t *d, gnutls_x509_crt_fmt_t fmt,
                           unsigned int *n);

static int
import_crts (void *list, const gnutls_datum_t *d, gnutls_x509_crt_fmt_t fmt, unsigned int *n)
{
  LatchX509CrtList *l = list;
  int ret = gnutls_x509_crt_list_import2 (&l->items, &l->n, d, fmt, 0);

  if (ret < 0 || l->n == 0)
    {
      l->items = NULL;
      l->n = 0;
    }
  *n = l->n;
  return ret;
}

static int
import_crls (void *list, const gnutls_datum_t *d, gnutls_x509_crt_fmt_t fmt, unsigned int *n)
{
  LatchX509CrlList *l = list;
  int ret = gnutls_x509_crl_list_import2 (&l->items, &l->n, d, fmt, 0);

  if (ret < 0 || l->n == 0)
    {
      l->items = NULL;
      l->n = 0;
    }
  *n = l->n;
  return ret;
}

/* PEM, then (der_too) DER. */
static gboolean
import_list (ImportFunc import, void *list, const char *data, gsize len, gboolean der_too,
             int *result)
{
  gnutls_datum_t d = { (unsigned char *)data, (unsigned int)len };
  unsigned int n = 0;
  int ret;

  ret = import (list, &d, GNUTLS_X509_FMT_PEM, &n);
  if (n == 0 && der_too)
    ret = import (list, &d, GNUTLS_X509_FMT_DER, &n);
  if (result != NULL)
    *result = ret;
  return n > 0;
}

gboolean
latch_x509_crt_list_import (const char *data, gsize len, gboolean der_too,
                            LatchX509CrtList *out, int *result)
{
  return import_list (import_crts, out, data, len, der_too, result);
}

gboolean
latch_x509_crl_list_import (const char *data, gsize len, gboolean der_too,
                            LatchX509CrlList *out, int *result)
{
  return import_list (import_crls, out, data, len, der_too, result);
}

/* ---- facts and words --------------------------------------------------- */

gboolean
latch_x509_is_machine_id (const char *s)
{
  gsize i;

  if (s == NULL)
    return FALSE;
  for (i = 0; s[i] != '\0'; i++)
    if (!g_ascii_isdigit (s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
      return FALSE;
  return i == LATCH_X509_MACHINE_ID_LEN;
}

static char *
format_time (time_t t, const char *format)
{
  g_autoptr (GDateTime) dt = NULL;

  if (t == (time_t)-1)
    return g_strdup ("an unknown date");
  dt = g_date_time_new_from_unix_utc ((gint64)t);
  if (dt == NULL)
    return g_strdup ("an unknown date");
  return g_date_time_format (dt, format);
}

char *
latch_x509_format_time (time_t t)
{
  return format_time (t, "%Y-%m-%d %H:%M:%S UTC");
}

char *
latch_x509_format_time_minutes (time_t t)
{
  return format_time (t, "%Y-%m-%d %H:%M UTC");
}
