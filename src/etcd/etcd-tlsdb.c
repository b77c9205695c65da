/* etcd-tlsdb.c: a GTlsDatabase that verifies etcd members with GnuTLS
 * (etcd-private.h).
 *
 * libsoup does its TLS through GIO, and GIO's file database knows
 * nothing of CRLs.  This one holds a gnutls_x509_trust_list made of
 * the CA file and the CRL file, and answers verify_chain() from it:
 * the chain up to our CA, revocation, and the endpoint's host name or
 * IP address against the member certificate.  The flags it returns are
 * what the client turns into its error message. */
#include "config.h"

#include "etcd/etcd-private.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define LATCH_TYPE_ETCD_TLSDB (latch_etcd_tlsdb_get_type ())
G_DECLARE_FINAL_TYPE (LatchEtcdTlsdb, latch_etcd_tlsdb, LATCH, ETCD_TLSDB, GTlsDatabase)

struct _LatchEtcdTlsdb
{
  GTlsDatabase parent;
  gnutls_x509_trust_list_t trust;
};

G_DEFINE_TYPE (LatchEtcdTlsdb, latch_etcd_tlsdb, G_TYPE_TLS_DATABASE)

/* The chain as libsoup gives it, leaf first, as GnuTLS certificates. */
static guint
import_chain (GTlsCertificate *chain, gnutls_x509_crt_t *crts, guint max)
{
  guint n = 0;

  for (GTlsCertificate *c = chain; c != NULL && n < max; c = g_tls_certificate_get_issuer (c))
    {
      g_autoptr(GByteArray) der = NULL;
      gnutls_datum_t datum;

      g_object_get (c, "certificate", &der, NULL);
      if (der == NULL || gnutls_x509_crt_init (&crts[n]) < 0)
        break;
      datum.data = der->data;
      datum.size = der->len;
      if (gnutls_x509_crt_import (crts[n], &datum, GNUTLS_X509_FMT_DER) < 0)
        {
          gnutls_x509_crt_deinit (crts[n]);
          break;
        }
      n++;
    }
  return n;
}

static char *
identity_host (GSocketConnectable *identity)
{
  if (G_IS_NETWORK_ADDRESS (identity))
    return g_strdup (g_network_address_get_hostname (G_NETWORK_ADDRESS (identity)));
  if (G_IS_NETWORK_SERVICE (identity))
    return g_strdup (g_network_service_get_domain (G_NETWORK_SERVICE (identity)));
  if (G_IS_INET_SOCKET_ADDRESS (identity))
    return g_inet_address_to_string (
      g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (identity)));
  return NULL;
}

static GTlsCertificateFlags
tlsdb_verify_chain (GTlsDatabase *database, GTlsCertificate *chain, const char *purpose,
                    GSocketConnectable *identity, GTlsInteraction *interaction,
                    GTlsDatabaseVerifyFlags flags, GCancellable *cancellable, GError **error)
{
  LatchEtcdTlsdb *self = LATCH_ETCD_TLSDB (database);
  gnutls_x509_crt_t crts[16];
  guint n;
  unsigned int status = 0;
  GTlsCertificateFlags result = 0;

  (void) purpose;
  (void) interaction;
  (void) flags;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return G_TLS_CERTIFICATE_GENERIC_ERROR;
  n = import_chain (chain, crts, G_N_ELEMENTS (crts));
  if (n == 0)
    return G_TLS_CERTIFICATE_GENERIC_ERROR;
  if (gnutls_x509_trust_list_verify_crt (self->trust, crts, n, 0, &status, NULL) < 0)
    result |= G_TLS_CERTIFICATE_GENERIC_ERROR;
  if (status & GNUTLS_CERT_REVOKED)
    result |= G_TLS_CERTIFICATE_REVOKED;
  if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA
                | GNUTLS_CERT_SIGNATURE_FAILURE))
    result |= G_TLS_CERTIFICATE_UNKNOWN_CA;
  if (status & GNUTLS_CERT_EXPIRED)
    result |= G_TLS_CERTIFICATE_EXPIRED;
  if (status & GNUTLS_CERT_NOT_ACTIVATED)
    result |= G_TLS_CERTIFICATE_NOT_ACTIVATED;
  if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
    result |= G_TLS_CERTIFICATE_INSECURE;
  if (status != 0 && result == 0)
    result |= G_TLS_CERTIFICATE_GENERIC_ERROR;
  if (identity != NULL)
    {
      g_autofree char *host = identity_host (identity);

      /* GnuTLS compares an address with the IP subjectAltNames. */
      if (host == NULL || !gnutls_x509_crt_check_hostname (crts[0], host))
        result |= G_TLS_CERTIFICATE_BAD_IDENTITY;
    }
  for (guint i = 0; i < n; i++)
    gnutls_x509_crt_deinit (crts[i]);
  return result;
}

/* GIO may look for issuers to complete a chain; ours come complete. */
static GTlsCertificate *
tlsdb_lookup_issuer (GTlsDatabase *database, GTlsCertificate *certificate,
                     GTlsInteraction *interaction, GTlsDatabaseLookupFlags flags,
                     GCancellable *cancellable, GError **error)
{
  (void) database;
  (void) certificate;
  (void) interaction;
  (void) flags;
  (void) cancellable;
  (void) error;
  return NULL;
}

static GList *
tlsdb_lookup_issued_by (GTlsDatabase *database, GByteArray *issuer_raw_dn,
                        GTlsInteraction *interaction, GTlsDatabaseLookupFlags flags,
                        GCancellable *cancellable, GError **error)
{
  (void) database;
  (void) issuer_raw_dn;
  (void) interaction;
  (void) flags;
  (void) cancellable;
  (void) error;
  return NULL;
}

static void
latch_etcd_tlsdb_finalize (GObject *object)
{
  LatchEtcdTlsdb *self = LATCH_ETCD_TLSDB (object);

  if (self->trust != NULL)
    gnutls_x509_trust_list_deinit (self->trust, 1);
  G_OBJECT_CLASS (latch_etcd_tlsdb_parent_class)->finalize (object);
}

static void
latch_etcd_tlsdb_class_init (LatchEtcdTlsdbClass *klass)
{
  GTlsDatabaseClass *db_class = G_TLS_DATABASE_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = latch_etcd_tlsdb_finalize;
  db_class->verify_chain = tlsdb_verify_chain;
  db_class->lookup_certificate_issuer = tlsdb_lookup_issuer;
  db_class->lookup_certificates_issued_by = tlsdb_lookup_issued_by;
}

static void
latch_etcd_tlsdb_init (LatchEtcdTlsdb *self)
{
  (void) self;
}

GTlsDatabase *
latch_etcd_tlsdb_new (const char *ca_file, const char *crl_file, GError **error)
{
  g_autoptr(LatchEtcdTlsdb) self = g_object_new (LATCH_TYPE_ETCD_TLSDB, NULL);
  int r;

  if (gnutls_x509_trust_list_init (&self->trust, 0) < 0)
    {
      g_set_error_literal (error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_CONFIG,
                           "etcd TLS: out of memory");
      return NULL;
    }
  r = gnutls_x509_trust_list_add_trust_file (self->trust, ca_file, NULL,
                                             GNUTLS_X509_FMT_PEM, 0, 0);
  if (r <= 0)
    {
      g_set_error (error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_CONFIG,
                   "etcd CA file %s: %s", ca_file,
                   r == 0 ? "no certificate in it" : gnutls_strerror (r));
      return NULL;
    }
  if (crl_file != NULL)
    {
      /* VERIFY_CRL: a CRL counts only when signed by one of our CAs. */
      r = gnutls_x509_trust_list_add_trust_file (self->trust, NULL, crl_file,
                                                 GNUTLS_X509_FMT_PEM,
                                                 GNUTLS_TL_VERIFY_CRL, 0);
      if (r < 0)
        {
          g_set_error (error, LATCH_ETCD_ERROR, LATCH_ETCD_ERROR_CONFIG,
                       "etcd CRL file %s: %s", crl_file, gnutls_strerror (r));
          return NULL;
        }
    }
  return G_TLS_DATABASE (g_steal_pointer (&self));
}
