/* x509-util.c: the GnuTLS x509 helpers shared by tls.c, latch-cert and the
 * debug tools.  GLib and GnuTLS only (it is part of latch-tls.so). */
#include "config.h"

#include "tls/x509-util.h"

#include <string.h>

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

/* Reads CN number idx of a certificate's or a request's subject. */
static int
subject_cn (gnutls_x509_crt_t crt, gnutls_x509_crq_t crq, unsigned int idx, char *buf,
            size_t *size)
{
  if (crt != NULL)
    return gnutls_x509_crt_get_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, idx, 0, buf, size);
  return gnutls_x509_crq_get_dn_by_oid (crq, GNUTLS_OID_X520_COMMON_NAME, idx, 0, buf, size);
}

/* Subjects with more CNs than this are not worth reading further. */
#define MAX_CNS 1024

static char *
last_cn (gnutls_x509_crt_t crt, gnutls_x509_crq_t crq)
{
  g_autofree char *last = NULL;

  for (unsigned int idx = 0; idx < MAX_CNS; idx++)
    {
      g_autofree char *value = NULL;
      size_t size = 0;
      int ret = subject_cn (crt, crq, idx, NULL, &size);

      if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
        break;
      /* This one is the last so far: if it is unusable, there is no
       * identity (never an earlier CN instead). */
      g_clear_pointer (&last, g_free);
      if (ret != GNUTLS_E_SHORT_MEMORY_BUFFER || size > LATCH_X509_MAX_CN)
        continue;
      value = g_malloc0 (size + 1);
      ret = subject_cn (crt, crq, idx, value, &size);
      if (ret < 0 || strlen (value) != size)
        continue;
      last = g_steal_pointer (&value);
    }
  return g_steal_pointer (&last);
}

char *
latch_x509_crt_last_cn (gnutls_x509_crt_t crt)
{
  return last_cn (crt, NULL);
}

char *
latch_x509_crq_last_cn (gnutls_x509_crq_t crq)
{
  return last_cn (NULL, crq);
}
