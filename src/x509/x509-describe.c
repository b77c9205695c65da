/* x509-describe.c: certificates, requests, CRLs and keys described in words.
 *
 * Everything read from a certificate is untrusted text: it goes through
 * latch_x509_escape () before it is printed.  GnuTLS's getters are called
 * twice where sizes vary (size query, then the value) and any failure
 * simply leaves a line out or says "unreadable": describing never fails
 * on a strange certificate. */
#include "config.h"

#include "x509/x509-describe.h"

#include "common/error.h"

#include <arpa/inet.h>
#include <string.h>

#define SECONDS_PER_DAY 86400
/* Longest hex or name printed from one field. */
#define MAX_FIELD 4096
/* A bound on loops over indexed fields. */
#define MAX_ITEMS 1024

/* ---- small helpers ---------------------------------------------------- */

static char *
escape_str (const char *text)
{
  return latch_x509_escape (text, text != NULL ? strlen (text) : 0);
}

/* Hex bytes: "ab:cd" (sep ':') or "abcd" (sep '\0'), optionally upper case. */
static char *
hex_bytes (const unsigned char *data, gsize size, char sep, gboolean upper)
{
  GString *out = g_string_sized_new (size * 3 + 1);

  for (gsize i = 0; i < size; i++)
    {
      if (sep != '\0' && i > 0)
        g_string_append_c (out, sep);
      g_string_append_printf (out, upper ? "%02X" : "%02x", data[i]);
    }
  return g_string_free (out, FALSE);
}

char *
latch_x509_serial_hex (const unsigned char *serial, gsize size)
{
  return hex_bytes (serial, size, '\0', FALSE);
}

/* "3 days", "1 day" (transfer full). */
static char *
days_text (gint64 days)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT " day%s", days, days == 1 ? "" : "s");
}

char *
latch_x509_describe_validity (time_t not_before, time_t not_after, time_t now,
                              gboolean *is_valid)
{
  gboolean valid = FALSE;
  char *text;

  if (not_before == (time_t)-1 || not_after == (time_t)-1)
    text = g_strdup ("unknown (the dates cannot be read)");
  else if (now < not_before)
    {
      g_autofree char *when = latch_x509_format_time (not_before);
      gint64 days = ((gint64)not_before - (gint64)now) / SECONDS_PER_DAY;
      g_autofree char *in = days_text (days);

      text = days > 0 ? g_strdup_printf ("not yet valid (valid from %s, in %s)", when, in)
                      : g_strdup_printf ("not yet valid (valid from %s, in less than a "
                                         "day)", when);
    }
  else if (now > not_after)
    {
      gint64 days = ((gint64)now - (gint64)not_after) / SECONDS_PER_DAY;
      g_autofree char *ago = days_text (days);

      text = days > 0 ? g_strdup_printf ("expired %s ago", ago)
                      : g_strdup ("expired less than a day ago");
    }
  else
    {
      gint64 days = ((gint64)not_after - (gint64)now) / SECONDS_PER_DAY;

      valid = TRUE;
      text = days > 0 ? g_strdup_printf ("valid for %" G_GINT64_FORMAT " more day%s", days,
                                         days == 1 ? "" : "s")
                      : g_strdup ("valid for less than one more day");
    }
  if (is_valid != NULL)
    *is_valid = valid;
  return text;
}

static void add_line (GString *out, const char *indent, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

static void
add_line (GString *out, const char *indent, const char *format, ...)
{
  va_list ap;

  g_string_append (out, indent != NULL ? indent : "");
  va_start (ap, format);
  g_string_append_vprintf (out, format, ap);
  va_end (ap);
  g_string_append_c (out, '\n');
}

/* ---- names ------------------------------------------------------------ */

/* A DN from one of GnuTLS's get_dn3 functions, escaped; "(empty)". */
static char *
dn_text (int ret, gnutls_datum_t *dn)
{
  char *text;

  if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE
      || (ret >= 0 && (dn->data == NULL || dn->size == 0)))
    text = g_strdup ("(empty)");
  else if (ret < 0)
    text = g_strdup_printf ("(unreadable: %s)", gnutls_strerror (ret));
  else
    text = latch_x509_escape ((const char *)dn->data, dn->size);
  gnutls_free (dn->data);
  dn->data = NULL;
  return text;
}

char *
latch_x509_crt_subject (gnutls_x509_crt_t crt)
{
  gnutls_datum_t dn = { NULL, 0 };

  return dn_text (gnutls_x509_crt_get_dn3 (crt, &dn, 0), &dn);
}

char *
latch_x509_crt_issuer (gnutls_x509_crt_t crt)
{
  gnutls_datum_t dn = { NULL, 0 };

  return dn_text (gnutls_x509_crt_get_issuer_dn3 (crt, &dn, 0), &dn);
}

static char *
crq_subject (gnutls_x509_crq_t crq)
{
  gnutls_datum_t dn = { NULL, 0 };

  return dn_text (gnutls_x509_crq_get_dn3 (crq, &dn, 0), &dn);
}

static char *
crl_issuer (gnutls_x509_crl_t crl)
{
  gnutls_datum_t dn = { NULL, 0 };

  return dn_text (gnutls_x509_crl_get_issuer_dn3 (crl, &dn, 0), &dn);
}

/* A source of subject fields: a certificate or a request. */
typedef struct
{
  gnutls_x509_crt_t crt;
  gnutls_x509_crq_t crq;
} Subject;

static void
format_san_cb (int type, const unsigned char *value, size_t size, void *data)
{
  GString *out = data;
  g_autofree char *text = NULL;

  if (out->len > 0)
    g_string_append (out, ", ");
  switch (type)
    {
    case GNUTLS_SAN_DNSNAME:
      text = latch_x509_escape ((const char *)value, size);
      g_string_append_printf (out, "DNS:%s", text);
      break;
    case GNUTLS_SAN_RFC822NAME:
      text = latch_x509_escape ((const char *)value, size);
      g_string_append_printf (out, "email:%s", text);
      break;
    case GNUTLS_SAN_URI:
      text = latch_x509_escape ((const char *)value, size);
      g_string_append_printf (out, "URI:%s", text);
      break;
    case GNUTLS_SAN_IPADDRESS:
      {
        char addr[INET6_ADDRSTRLEN];

        if ((size == 4 && inet_ntop (AF_INET, value, addr, sizeof addr) != NULL)
            || (size == 16 && inet_ntop (AF_INET6, value, addr, sizeof addr) != NULL))
          g_string_append_printf (out, "IP:%s", addr);
        else
          g_string_append (out, "IP:(malformed)");
        break;
      }
    case GNUTLS_SAN_DN:
      g_string_append (out, "a directory name");
      break;
    case GNUTLS_SAN_OTHERNAME:
      g_string_append (out, "an other-name");
      break;
    default:
      g_string_append_printf (out, "a name of type %d", type);
      break;
    }
}

static char *
subject_sans (const Subject *s)
{
  GString *out = g_string_new (NULL);

  latch_x509_each_san (s->crt, s->crq, format_san_cb, out);
  return g_string_free (out, FALSE);
}

/* "machine ID: X (the common name and a DNS name)" when there is one. */
static void
add_machine_id_line (GString *out, const char *indent, const char *cn, GPtrArray *dns)
{
  const char *id = NULL;
  gboolean in_cn = FALSE, in_dns = FALSE;

  if (latch_x509_is_machine_id (cn))
    {
      id = cn;
      in_cn = TRUE;
    }
  for (guint i = 0; i < dns->len; i++)
    {
      const char *name = g_ptr_array_index (dns, i);

      if (!latch_x509_is_machine_id (name))
        continue;
      if (id == NULL)
        id = name;
      if (strcmp (name, id) == 0)
        in_dns = TRUE;
    }
  if (id == NULL)
    return;
  add_line (out, indent, "machine ID: %s (%s)", id,
            in_cn && in_dns ? "the common name and a DNS name"
            : in_cn         ? "the common name"
                            : "a DNS name");
}

static void
add_subject_lines (GString *out, const char *indent, const Subject *s, const char *dn)
{
  g_autofree char *cn = s->crt != NULL ? latch_x509_crt_last_cn (s->crt)
                                            : latch_x509_crq_last_cn (s->crq);
  g_autoptr (GPtrArray) dns
      = s->crt != NULL ? latch_x509_crt_dns_names (s->crt) : latch_x509_crq_dns_names (s->crq);
  g_autofree char *sans = subject_sans (s);

  add_line (out, indent, "subject: %s", dn);
  if (cn != NULL)
    {
      g_autofree char *qcn = escape_str (cn);

      add_line (out, indent, "common name: %s", qcn);
    }
  else
    add_line (out, indent, "common name: none");
  add_line (out, indent, "alternative names: %s", *sans != '\0' ? sans : "none");
  add_machine_id_line (out, indent, cn, dns);
}

/* ---- keys ------------------------------------------------------------- */

static const char *
curve_name (gnutls_ecc_curve_t curve)
{
  switch (curve)
    {
    case GNUTLS_ECC_CURVE_SECP256R1:
      return "P-256";
    case GNUTLS_ECC_CURVE_SECP384R1:
      return "P-384";
    case GNUTLS_ECC_CURVE_SECP521R1:
      return "P-521";
    default:
      {
        const char *name = gnutls_ecc_curve_get_name (curve);

        return name != NULL ? name : "an unknown curve";
      }
    }
}

char *
latch_x509_pubkey_name (gnutls_pubkey_t key, gnutls_pk_algorithm_t *alg_out,
                        unsigned int *bits_out)
{
  unsigned int bits = 0;
  int alg = gnutls_pubkey_get_pk_algorithm (key, &bits);
  char *text;

  switch (alg)
    {
    case GNUTLS_PK_RSA:
      text = g_strdup_printf ("RSA %u bits", bits);
      break;
    case GNUTLS_PK_RSA_PSS:
      text = g_strdup_printf ("RSA-PSS %u bits", bits);
      break;
    case GNUTLS_PK_DSA:
      text = g_strdup_printf ("DSA %u bits", bits);
      break;
    case GNUTLS_PK_ECDSA:
      {
        gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
        gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 };

        if (gnutls_pubkey_export_ecc_raw2 (key, &curve, &x, &y, 0) >= 0)
          {
            gnutls_free (x.data);
            gnutls_free (y.data);
            text = g_strdup_printf ("ECDSA %s", curve_name (curve));
          }
        else
          text = g_strdup_printf ("ECDSA %u bits", bits);
        break;
      }
    case GNUTLS_PK_EDDSA_ED25519:
      text = g_strdup ("Ed25519");
      break;
    case GNUTLS_PK_EDDSA_ED448:
      text = g_strdup ("Ed448");
      break;
    default:
      {
        const char *name = alg >= 0 ? gnutls_pk_get_name ((gnutls_pk_algorithm_t)alg) : NULL;

        text = g_strdup_printf ("%s (%u bits)", name != NULL ? name : "an unknown algorithm",
                                bits);
        break;
      }
    }
  if (alg_out != NULL)
    *alg_out = alg >= 0 ? (gnutls_pk_algorithm_t)alg : GNUTLS_PK_UNKNOWN;
  if (bits_out != NULL)
    *bits_out = bits;
  return text;
}

/* "key: ECDSA P-256" and "public key ID: sha256:..." */
static void
add_pubkey_lines (GString *out, const char *indent, gnutls_pubkey_t key)
{
  g_autofree char *name = latch_x509_pubkey_name (key, NULL, NULL);
  unsigned char id[64];
  size_t id_size = sizeof id;

  add_line (out, indent, "key: %s", name);
  if (gnutls_pubkey_get_key_id (key, GNUTLS_KEYID_USE_SHA256, id, &id_size) >= 0)
    {
      g_autofree char *hex = hex_bytes (id, id_size, '\0', FALSE);

      add_line (out, indent, "public key ID: sha256:%s", hex);
    }
}

/* ---- extensions ------------------------------------------------------- */

static void
add_signature_line (GString *out, const char *indent, int sign, const char *extra)
{
  const char *name = sign >= 0 ? gnutls_sign_get_name ((gnutls_sign_algorithm_t)sign) : NULL;
  gboolean secure = sign >= 0
                    && gnutls_sign_is_secure2 ((gnutls_sign_algorithm_t)sign,
                                               GNUTLS_SIGN_FLAG_SECURE_FOR_CERTS);

  add_line (out, indent, "signature: %s%s%s", name != NULL ? name : "an unknown algorithm",
            secure ? "" : " (insecure: GnuTLS refuses it)", extra != NULL ? extra : "");
}

static void
add_key_usage_line (GString *out, const char *indent, int ret, unsigned int usage,
                    const char *label)
{
  static const struct
  {
    unsigned int bit;
    const char *name;
  } names[] = {
    { GNUTLS_KEY_DIGITAL_SIGNATURE, "digital signature" },
    { GNUTLS_KEY_NON_REPUDIATION, "non-repudiation" },
    { GNUTLS_KEY_KEY_ENCIPHERMENT, "key encipherment" },
    { GNUTLS_KEY_DATA_ENCIPHERMENT, "data encipherment" },
    { GNUTLS_KEY_KEY_AGREEMENT, "key agreement" },
    { GNUTLS_KEY_KEY_CERT_SIGN, "certificate signing" },
    { GNUTLS_KEY_CRL_SIGN, "CRL signing" },
    { GNUTLS_KEY_ENCIPHER_ONLY, "encipher only" },
    { GNUTLS_KEY_DECIPHER_ONLY, "decipher only" },
  };
  g_autoptr (GString) list = g_string_new (NULL);

  if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
    {
      add_line (out, indent, "%s: not stated (any)", label);
      return;
    }
  if (ret < 0)
    {
      add_line (out, indent, "%s: unreadable (%s)", label, gnutls_strerror (ret));
      return;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    if (usage & names[i].bit)
      g_string_append_printf (list, "%s%s", list->len > 0 ? ", " : "", names[i].name);
  add_line (out, indent, "%s: %s", label, list->len > 0 ? list->str : "none");
}

static const char *
purpose_name (const char *oid)
{
  static const struct
  {
    const char *oid;
    const char *name;
  } names[] = {
    { GNUTLS_KP_TLS_WWW_SERVER, "TLS server (tls_www_server)" },
    { GNUTLS_KP_TLS_WWW_CLIENT, "TLS client (tls_www_client)" },
    { GNUTLS_KP_CODE_SIGNING, "code signing" },
    { GNUTLS_KP_EMAIL_PROTECTION, "email protection" },
    { GNUTLS_KP_TIME_STAMPING, "time stamping" },
    { GNUTLS_KP_OCSP_SIGNING, "OCSP signing" },
    { GNUTLS_KP_IPSEC_IKE, "IPsec IKE" },
    { GNUTLS_KP_ANY, "any purpose" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    if (strcmp (oid, names[i].oid) == 0)
      return names[i].name;
  return NULL;
}

typedef int (*PurposeFunc) (void *obj, unsigned int idx, char *oid, size_t *size);

static int
crt_purpose (void *obj, unsigned int idx, char *oid, size_t *size)
{
  return gnutls_x509_crt_get_key_purpose_oid (obj, idx, oid, size, NULL);
}

static int
crq_purpose (void *obj, unsigned int idx, char *oid, size_t *size)
{
  return gnutls_x509_crq_get_key_purpose_oid (obj, idx, oid, size, NULL);
}

static void
add_purposes_line (GString *out, const char *indent, PurposeFunc fn, void *obj,
                   const char *label)
{
  g_autoptr (GString) list = g_string_new (NULL);
  unsigned int idx;

  for (idx = 0; idx < MAX_ITEMS; idx++)
    {
      char oid[256];
      size_t size = sizeof oid;
      int ret = fn (obj, idx, oid, &size);
      const char *name;

      if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
        break;
      if (list->len > 0)
        g_string_append (list, ", ");
      if (ret < 0)
        {
          g_string_append (list, "(unreadable)");
          continue;
        }
      name = purpose_name (oid);
      if (name != NULL)
        g_string_append (list, name);
      else
        {
          g_autofree char *q = escape_str (oid);

          g_string_append (list, q);
        }
    }
  if (idx == 0)
    add_line (out, indent, "%s: not stated (any purpose)", label);
  else
    add_line (out, indent, "%s: %s", label, list->str);
}

static void
add_ca_line (GString *out, const char *indent, int ret, int pathlen, const char *label)
{
  if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
    add_line (out, indent, "%s: not stated (no basic constraints)", label);
  else if (ret < 0)
    add_line (out, indent, "%s: unreadable (%s)", label, gnutls_strerror (ret));
  else if (ret == 0)
    add_line (out, indent, "%s: no", label);
  else if (pathlen < 0)
    add_line (out, indent, "%s: yes (may sign certificates and CRLs)", label);
  else
    add_line (out, indent, "%s: yes (may sign certificates and CRLs; at most %d "
              "intermediate CA%s below it)", label, pathlen, pathlen == 1 ? "" : "s");
}

/* ---- certificates ----------------------------------------------------- */

char *
latch_x509_describe_crt (gnutls_x509_crt_t crt, const char *indent)
{
  GString *out = g_string_new (NULL);
  Subject s = { crt, NULL };
  g_autofree char *subject = latch_x509_crt_subject (crt);
  g_autofree char *issuer = latch_x509_crt_issuer (crt);
  g_auto (gnutls_pubkey_t) key = NULL;
  time_t now = time (NULL);
  time_t not_before = gnutls_x509_crt_get_activation_time (crt);
  time_t not_after = gnutls_x509_crt_get_expiration_time (crt);
  unsigned char buf[MAX_FIELD];
  size_t size;
  unsigned int critical = 0, usage = 0, ca = 0;
  int pathlen = -1;
  int ret;

  add_subject_lines (out, indent, &s, subject);

  if (gnutls_x509_crt_check_issuer (crt, crt))
    add_line (out, indent, "issuer: %s (self-signed)", issuer);
  else
    add_line (out, indent, "issuer: %s", issuer);

  size = sizeof buf;
  if (gnutls_x509_crt_get_serial (crt, buf, &size) >= 0)
    {
      g_autofree char *hex = latch_x509_serial_hex (buf, size);

      add_line (out, indent, "serial: %s", hex);
    }
  else
    add_line (out, indent, "serial: unreadable");

  {
    g_autofree char *nb = latch_x509_format_time (not_before);
    g_autofree char *na = latch_x509_format_time (not_after);
    g_autofree char *validity = latch_x509_describe_validity (not_before, not_after, now,
                                                              NULL);

    add_line (out, indent, "not before: %s", nb);
    add_line (out, indent, "not after: %s", na);
    add_line (out, indent, "validity: %s", validity);
  }

  if (gnutls_pubkey_init (&key) >= 0 && gnutls_pubkey_import_x509 (key, crt, 0) >= 0)
    add_pubkey_lines (out, indent, key);
  else
    add_line (out, indent, "key: unreadable");

  add_signature_line (out, indent, gnutls_x509_crt_get_signature_algorithm (crt), NULL);

  size = sizeof buf;
  if (gnutls_x509_crt_get_fingerprint (crt, GNUTLS_DIG_SHA256, buf, &size) >= 0)
    {
      g_autofree char *hex = hex_bytes (buf, size, ':', TRUE);

      add_line (out, indent, "SHA-256 fingerprint: %s", hex);
    }

  size = sizeof buf;
  if (gnutls_x509_crt_get_subject_key_id (crt, buf, &size, &critical) >= 0)
    {
      g_autofree char *hex = hex_bytes (buf, size, ':', FALSE);

      add_line (out, indent, "subject key ID: %s", hex);
    }
  size = sizeof buf;
  if (gnutls_x509_crt_get_authority_key_id (crt, buf, &size, &critical) >= 0)
    {
      g_autofree char *hex = hex_bytes (buf, size, ':', FALSE);

      add_line (out, indent, "authority key ID: %s", hex);
    }

  ret = gnutls_x509_crt_get_key_usage (crt, &usage, &critical);
  add_key_usage_line (out, indent, ret, usage, "key usage");
  add_purposes_line (out, indent, crt_purpose, crt, "key purposes");
  ret = gnutls_x509_crt_get_basic_constraints (crt, &critical, &ca, &pathlen);
  add_ca_line (out, indent, ret, pathlen, "CA");
  return g_string_free (out, FALSE);
}

/* ---- requests --------------------------------------------------------- */

char *
latch_x509_describe_crq (gnutls_x509_crq_t crq, const char *indent)
{
  GString *out = g_string_new (NULL);
  Subject s = { NULL, crq };
  g_autofree char *subject = crq_subject (crq);
  g_auto (gnutls_pubkey_t) key = NULL;
  unsigned int critical = 0, usage = 0, ca = 0;
  int pathlen = -1;
  int ret;

  add_subject_lines (out, indent, &s, subject);
  if (gnutls_pubkey_init (&key) >= 0 && gnutls_pubkey_import_x509_crq (key, crq, 0) >= 0)
    add_pubkey_lines (out, indent, key);
  else
    add_line (out, indent, "key: unreadable");
  add_signature_line (out, indent, gnutls_x509_crq_get_signature_algorithm (crq),
                      gnutls_x509_crq_verify (crq, 0) >= 0
                          ? " (self-signature valid)"
                          : " (self-signature INVALID: the request was altered or "
                            "damaged)");
  ret = gnutls_x509_crq_get_key_usage (crq, &usage, &critical);
  add_key_usage_line (out, indent, ret, usage, "requested key usage");
  add_purposes_line (out, indent, crq_purpose, crq, "requested key purposes");
  ret = gnutls_x509_crq_get_basic_constraints (crq, &critical, &ca, &pathlen);
  add_ca_line (out, indent, ret, pathlen, "requested CA");
  return g_string_free (out, FALSE);
}

/* ---- CRLs ------------------------------------------------------------- */

/* A big-endian unsigned integer: decimal when it fits 64 bits, else hex. */
static char *
integer_text (const unsigned char *data, gsize size)
{
  guint64 value = 0;
  gsize i = 0;

  while (i < size && data[i] == 0)
    i++;
  if (size - i > 8)
    {
      g_autofree char *hex = hex_bytes (data + i, size - i, '\0', FALSE);

      return g_strdup_printf ("0x%s", hex);
    }
  for (; i < size; i++)
    value = (value << 8) | data[i];
  return g_strdup_printf ("%" G_GUINT64_FORMAT, value);
}

char *
latch_x509_describe_crl (gnutls_x509_crl_t crl, const char *indent)
{
  GString *out = g_string_new (NULL);
  g_autofree char *issuer = crl_issuer (crl);
  g_autofree char *sub_indent = g_strconcat (indent != NULL ? indent : "", "  ", NULL);
  time_t now = time (NULL);
  time_t this_update = gnutls_x509_crl_get_this_update (crl);
  time_t next_update = gnutls_x509_crl_get_next_update (crl);
  gnutls_x509_crl_iter_t iter = NULL;
  unsigned char buf[MAX_FIELD];
  size_t size;
  unsigned int critical = 0;
  int count;

  add_line (out, indent, "issuer: %s", issuer);
  size = sizeof buf;
  if (gnutls_x509_crl_get_number (crl, buf, &size, &critical) >= 0)
    {
      g_autofree char *number = integer_text (buf, size);

      add_line (out, indent, "CRL number: %s", number);
    }
  size = sizeof buf;
  if (gnutls_x509_crl_get_authority_key_id (crl, buf, &size, &critical) >= 0)
    {
      g_autofree char *hex = hex_bytes (buf, size, ':', FALSE);

      add_line (out, indent, "authority key ID: %s", hex);
    }
  {
    g_autofree char *when = latch_x509_format_time (this_update);

    if (this_update != (time_t)-1 && this_update > now)
      add_line (out, indent, "this update: %s (in the future: check this machine's clock)",
                when);
    else
      add_line (out, indent, "this update: %s", when);
  }
  if (next_update == (time_t)-1)
    add_line (out, indent, "next update: not stated");
  else
    {
      g_autofree char *when = latch_x509_format_time (next_update);

      if (next_update < now)
        add_line (out, indent, "next update: %s (out of date: latch refuses every "
                  "certificate with it; get a new CRL from the CA)", when);
      else
        {
          gint64 days = ((gint64)next_update - (gint64)now) / SECONDS_PER_DAY;
          g_autofree char *left = days_text (days);

          add_line (out, indent, "next update: %s (current for %s more)", when,
                    days > 0 ? left : "less than a day");
        }
    }
  add_signature_line (out, indent, gnutls_x509_crl_get_signature_algorithm (crl), NULL);

  count = gnutls_x509_crl_get_crt_count (crl);
  if (count < 0)
    count = 0;
  add_line (out, indent, "revoked certificates: %d", count);
  for (int i = 0; i < count; i++)
    {
      time_t when = (time_t)-1;
      int ret;

      size = sizeof buf;
      ret = gnutls_x509_crl_iter_crt_serial (crl, &iter, buf, &size, &when);
      if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
        break;
      if (ret < 0)
        {
          add_line (out, sub_indent, "(an entry GnuTLS cannot read: %s)",
                    gnutls_strerror (ret));
          break;
        }
      {
        g_autofree char *hex = latch_x509_serial_hex (buf, size);
        g_autofree char *date = latch_x509_format_time (when);

        add_line (out, sub_indent, "serial %s, revoked on %s", hex, date);
      }
    }
  gnutls_x509_crl_iter_deinit (iter);
  return g_string_free (out, FALSE);
}

/* ---- private keys ----------------------------------------------------- */

char *
latch_x509_describe_privkey (gnutls_x509_privkey_t key, const char *indent)
{
  GString *out = g_string_new (NULL);
  g_auto (gnutls_privkey_t) abstract = NULL;
  g_auto (gnutls_pubkey_t) pub = NULL;

  if (gnutls_privkey_init (&abstract) >= 0
      && gnutls_privkey_import_x509 (abstract, key, 0) >= 0
      && gnutls_pubkey_init (&pub) >= 0
      && gnutls_pubkey_import_privkey (pub, abstract, 0, 0) >= 0)
    add_pubkey_lines (out, indent, pub);
  else
    {
      unsigned int bits = 0;
      int alg = gnutls_x509_privkey_get_pk_algorithm2 (key, &bits);
      const char *name = alg >= 0 ? gnutls_pk_get_name ((gnutls_pk_algorithm_t)alg) : NULL;

      add_line (out, indent, "key: %s (%u bits)", name != NULL ? name : "unknown", bits);
    }
  return g_string_free (out, FALSE);
}

static char *
describe_pubkey (gnutls_pubkey_t key, const char *indent)
{
  GString *out = g_string_new (NULL);

  add_pubkey_lines (out, indent, key);
  return g_string_free (out, FALSE);
}

/* ---- files ------------------------------------------------------------ */

typedef enum
{
  ITEM_CRT,
  ITEM_CRQ,
  ITEM_CRL,
  ITEM_KEY,
  ITEM_PUBKEY,
  ITEM_OTHER,
  N_ITEM_KINDS
} ItemKind;

static const char *const item_names[N_ITEM_KINDS] = {
  "certificate", "certificate request", "CRL", "private key", "public key", "PEM block",
};

typedef struct
{
  ItemKind kind;
  char *label;          /* the PEM label, or NULL for DER */
  gnutls_datum_t datum; /* points into the caller's data */
} Item;

static ItemKind
kind_of_label (const char *label)
{
  if (strcmp (label, "CERTIFICATE") == 0 || strcmp (label, "X509 CERTIFICATE") == 0)
    return ITEM_CRT;
  if (strcmp (label, "CERTIFICATE REQUEST") == 0
      || strcmp (label, "NEW CERTIFICATE REQUEST") == 0)
    return ITEM_CRQ;
  if (strcmp (label, "X509 CRL") == 0)
    return ITEM_CRL;
  if (g_str_has_suffix (label, "PRIVATE KEY"))
    return ITEM_KEY;
  if (strcmp (label, "PUBLIC KEY") == 0)
    return ITEM_PUBKEY;
  return ITEM_OTHER;
}

static void
item_clear (gpointer p)
{
  g_free (((Item *)p)->label);
}

/* The PEM blocks of data: "-----BEGIN L-----" ... "-----END L-----". */
static GArray *
find_pem_blocks (const char *data, gsize len)
{
  static const char begin[] = "-----BEGIN ";
  GArray *items = g_array_new (FALSE, TRUE, sizeof (Item));
  const char *end_of_data = data + len;

  g_array_set_clear_func (items, item_clear);
  const char *p = data;

  for (;;)
    {
      const char *start = g_strstr_len (p, end_of_data - p, begin);
      const char *label_start, *label_end, *block_end;
      g_autofree char *footer = NULL;
      Item item = { 0 };

      if (start == NULL)
        break;
      label_start = start + strlen (begin);
      label_end = g_strstr_len (label_start, end_of_data - label_start, "-----");
      if (label_end == NULL || memchr (label_start, '\n', label_end - label_start) != NULL)
        {
          p = label_start;
          continue;
        }
      item.label = g_strndup (label_start, label_end - label_start);
      footer = g_strdup_printf ("-----END %s-----", item.label);
      block_end = g_strstr_len (label_end, end_of_data - label_end, footer);
      if (block_end == NULL)
        {
          g_free (item.label);
          break; /* truncated: nothing more to find */
        }
      block_end += strlen (footer);
      item.kind = kind_of_label (item.label);
      item.datum.data = (unsigned char *)start;
      item.datum.size = (unsigned int)(block_end - start);
      g_array_append_val (items, item);
      p = block_end;
    }
  return items;
}


/* One item's lines, or a line that says why it cannot be read (then
 * *readable is FALSE). */
static char *
describe_item (const Item *item, gnutls_x509_crt_fmt_t format, const char *indent,
               gboolean *readable)
{
  int ret = GNUTLS_E_INTERNAL_ERROR;

  *readable = TRUE;

  switch (item->kind)
    {
    case ITEM_CRT:
      {
        g_auto (gnutls_x509_crt_t) crt = NULL;

        if ((ret = gnutls_x509_crt_init (&crt)) >= 0
            && (ret = gnutls_x509_crt_import (crt, &item->datum, format)) >= 0)
          return latch_x509_describe_crt (crt, indent);
        break;
      }
    case ITEM_CRQ:
      {
        g_auto (gnutls_x509_crq_t) crq = NULL;

        if ((ret = gnutls_x509_crq_init (&crq)) >= 0
            && (ret = gnutls_x509_crq_import (crq, &item->datum, format)) >= 0)
          return latch_x509_describe_crq (crq, indent);
        break;
      }
    case ITEM_CRL:
      {
        g_auto (gnutls_x509_crl_t) crl = NULL;

        if ((ret = gnutls_x509_crl_init (&crl)) >= 0
            && (ret = gnutls_x509_crl_import (crl, &item->datum, format)) >= 0)
          return latch_x509_describe_crl (crl, indent);
        break;
      }
    case ITEM_KEY:
      {
        g_auto (gnutls_x509_privkey_t) key = NULL;

        if ((ret = gnutls_x509_privkey_init (&key)) >= 0)
          ret = gnutls_x509_privkey_import2 (key, &item->datum, format, NULL, 0);
        if (ret >= 0)
          return latch_x509_describe_privkey (key, indent);
        if (ret == GNUTLS_E_DECRYPTION_FAILED
            || (item->label != NULL && strstr (item->label, "ENCRYPTED") != NULL))
          return g_strdup_printf ("%sencrypted: latch needs an unencrypted key, protected by "
                                  "file mode 0600\n", indent);
        break;
      }
    case ITEM_PUBKEY:
      {
        g_auto (gnutls_pubkey_t) key = NULL;

        if ((ret = gnutls_pubkey_init (&key)) >= 0
            && (ret = gnutls_pubkey_import (key, &item->datum, format)) >= 0)
          return describe_pubkey (key, indent);
        break;
      }
    case ITEM_OTHER:
    case N_ITEM_KINDS:
    default:
      {
        g_autofree char *q = escape_str (item->label);

        return g_strdup_printf ("%s'%s' block: not a certificate, request, CRL or key "
                                "(skipped)\n", indent, q);
      }
    }
  *readable = FALSE;
  return g_strdup_printf ("%sunreadable: %s\n", indent, gnutls_strerror (ret));
}

/* What a DER object is: the first importer that takes it. */
static gboolean
classify_der (const gnutls_datum_t *d, ItemKind *kind)
{
  g_auto (gnutls_x509_crt_t) crt = NULL;
  g_auto (gnutls_x509_crl_t) crl = NULL;
  g_auto (gnutls_x509_crq_t) crq = NULL;
  g_auto (gnutls_x509_privkey_t) key = NULL;
  g_auto (gnutls_pubkey_t) pub = NULL;

  if (gnutls_x509_crt_init (&crt) >= 0
      && gnutls_x509_crt_import (crt, d, GNUTLS_X509_FMT_DER) >= 0)
    *kind = ITEM_CRT;
  else if (gnutls_x509_crl_init (&crl) >= 0
           && gnutls_x509_crl_import (crl, d, GNUTLS_X509_FMT_DER) >= 0)
    *kind = ITEM_CRL;
  else if (gnutls_x509_crq_init (&crq) >= 0
           && gnutls_x509_crq_import (crq, d, GNUTLS_X509_FMT_DER) >= 0)
    *kind = ITEM_CRQ;
  else if (gnutls_x509_privkey_init (&key) >= 0
           && gnutls_x509_privkey_import2 (key, d, GNUTLS_X509_FMT_DER, NULL, 0) >= 0)
    *kind = ITEM_KEY;
  else if (gnutls_pubkey_init (&pub) >= 0
           && gnutls_pubkey_import (pub, d, GNUTLS_X509_FMT_DER) >= 0)
    *kind = ITEM_PUBKEY;
  else
    return FALSE;
  return TRUE;
}

char *
latch_x509_describe_data (const char *data, gsize len, const char *indent,
                          unsigned int *n_unreadable, GError **error)
{
  g_autoptr (GArray) items = NULL;
  g_autoptr (GString) out = g_string_new (NULL);
  g_autofree char *item_indent = g_strconcat (indent != NULL ? indent : "", "  ", NULL);
  unsigned int total[N_ITEM_KINDS] = { 0 }, seen[N_ITEM_KINDS] = { 0 };
  gnutls_x509_crt_fmt_t format = GNUTLS_X509_FMT_PEM;
  unsigned int n_read = 0, n_bad = 0;

  if (len > G_MAXUINT)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED, "it is too large");
      return NULL;
    }
  items = find_pem_blocks (data, len);
  if (items->len == 0)
    {
      Item item = { 0 };

      item.datum.data = (unsigned char *)data;
      item.datum.size = (unsigned int)len;
      if (len == 0 || !classify_der (&item.datum, &item.kind))
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED,
                       "it holds no certificate, request, CRL or key (neither a PEM block "
                       "nor DER that GnuTLS can read)");
          return NULL;
        }
      g_array_append_val (items, item);
      format = GNUTLS_X509_FMT_DER;
    }

  for (guint i = 0; i < items->len; i++)
    total[g_array_index (items, Item, i).kind]++;
  for (guint i = 0; i < items->len; i++)
    {
      const Item *item = &g_array_index (items, Item, i);
      gboolean readable = FALSE;
      g_autofree char *lines = describe_item (item, format, item_indent, &readable);

      seen[item->kind]++;
      if (total[item->kind] > 1)
        add_line (out, indent, "%s %u of %u:", item_names[item->kind], seen[item->kind],
                  total[item->kind]);
      else
        add_line (out, indent, "%s:", item_names[item->kind]);
      g_string_append (out, lines);
      if (!readable)
        n_bad++;
      else if (item->kind != ITEM_OTHER)
        n_read++;
    }
  if (n_read == 0 && n_bad == 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_FAILED,
                   "it holds no certificate, request, CRL or key (only other PEM blocks)");
      return NULL;
    }
  if (n_unreadable != NULL)
    *n_unreadable = n_bad;
  return g_string_free (g_steal_pointer (&out), FALSE);
}
