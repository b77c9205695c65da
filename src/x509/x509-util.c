/* x509-util.c: the core of the x509 library (see x509-util.h).  GLib,
 * GnuTLS and common/text.c only: latch-tls.so compiles its own copy. */
#include "config.h"

#include "x509/x509-util.h"

#include "common/text.h"

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

/* Subjects with more alternative names than this are not read further. */
#define MAX_SANS 1024

/* The type (>= 0) of alternative name seq, its value in buf. */
static int
get_san (gnutls_x509_crt_t crt, gnutls_x509_crq_t crq, unsigned int seq, void *buf,
         size_t *size)
{
  unsigned int type = 0;
  int ret;

  if (crt != NULL)
    return gnutls_x509_crt_get_subject_alt_name (crt, seq, buf, size, NULL);
  ret = gnutls_x509_crq_get_subject_alt_name (crq, seq, buf, size, &type, NULL);
  return ret < 0 ? ret : (int)type;
}

void
latch_x509_each_san (gnutls_x509_crt_t crt, gnutls_x509_crq_t crq, LatchX509SanFunc fn,
                     void *data)
{
  for (unsigned int seq = 0; seq < MAX_SANS; seq++)
    {
      g_autofree unsigned char *value = NULL;
      size_t size = 0;
      int ret = get_san (crt, crq, seq, NULL, &size);

      if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
        break;
      if (ret != GNUTLS_E_SHORT_MEMORY_BUFFER || size > LATCH_X509_MAX_CN)
        continue;
      value = g_malloc0 (size + 1);
      ret = get_san (crt, crq, seq, value, &size);
      if (ret >= 0)
        fn (ret, value, size, data);
    }
}

static void
collect_dns_cb (int type, const unsigned char *value, size_t size, void *data)
{
  GPtrArray *names = data;

  if (type == GNUTLS_SAN_DNSNAME && strlen ((const char *)value) == size)
    g_ptr_array_add (names, g_strdup ((const char *)value));
}

static GPtrArray *
dns_names (gnutls_x509_crt_t crt, gnutls_x509_crq_t crq)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);

  latch_x509_each_san (crt, crq, collect_dns_cb, names);
  return names;
}

GPtrArray *
latch_x509_crt_dns_names (gnutls_x509_crt_t crt)
{
  return dns_names (crt, NULL);
}

GPtrArray *
latch_x509_crq_dns_names (gnutls_x509_crq_t crq)
{
  return dns_names (NULL, crq);
}

/* ---- key strength ------------------------------------------------------ */

LatchX509KeyVerdict
latch_x509_key_verdict (gnutls_pk_algorithm_t alg, unsigned int bits)
{
  if ((alg == GNUTLS_PK_RSA || alg == GNUTLS_PK_RSA_PSS) && bits < LATCH_X509_MIN_RSA_BITS)
    return LATCH_X509_KEY_RSA_TOO_SMALL;
  if (alg == GNUTLS_PK_DSA)
    return LATCH_X509_KEY_DSA;
  return LATCH_X509_KEY_OK;
}

LatchX509KeyVerdict
latch_x509_crt_key_verdict (gnutls_x509_crt_t crt, unsigned int *bits)
{
  unsigned int size = 0;
  int alg = gnutls_x509_crt_get_pk_algorithm (crt, &size);

  if (bits != NULL)
    *bits = size;
  if (alg < 0)
    return LATCH_X509_KEY_OK;
  return latch_x509_key_verdict ((gnutls_pk_algorithm_t)alg, size);
}

/* ---- text -------------------------------------------------------------- */

char *
latch_x509_escape (const char *text, gsize len)
{
  /* One quoting rule for all untrusted text: latch_text_quote () also
   * escapes the characters a terminal acts on beyond ASCII's controls
   * (C1, bidi controls, line separators). */
  return latch_text_quote (text != NULL ? text : "", text != NULL ? (gssize)len : 0, G_MAXSIZE,
                           LATCH_QUOTE_BARE);
}
