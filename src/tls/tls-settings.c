/* tls-settings.c: which security level a set of TLS settings means.
 * GLib only: the clear-text path decides here, without loading GnuTLS. */
#include "config.h"

#include "tls/tls.h"

#include "common/error.h"

/* Settings named as the user wrote them: key and option. */
#define N_CERT "TlsCertificate (--tls-certificate)"
#define N_KEY "TlsPrivateKey (--tls-private-key)"
#define N_CA "TlsCaCertificate (--tls-ca-certificate)"

const char *
latch_security_level_name (LatchSecurityLevel level)
{
  switch (level)
    {
    case LATCH_SECURITY_DEFAULT: return "default";
    case LATCH_SECURITY_CLEAR: return "clear";
    case LATCH_SECURITY_CHANNEL: return "channel";
    case LATCH_SECURITY_MUTUAL: return "mutual";
    }
  return "?";
}

/* "A", "A and B", "A, B and C". */
static char *
join_names (const char *const *names, guint n)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    {
      if (i > 0)
        g_string_append (out, i + 1 == n ? " and " : ", ");
      g_string_append (out, names[i]);
    }
  return g_string_free (out, FALSE);
}

/* The names of the three files that are not set. */
static guint
missing_files (const LatchTlsSettings *s, gboolean need_cert, const char **names)
{
  guint n = 0;

  if (need_cert && s->certificate == NULL)
    names[n++] = N_CERT;
  if (need_cert && s->private_key == NULL)
    names[n++] = N_KEY;
  if (s->ca_certificate == NULL)
    names[n++] = N_CA;
  return n;
}

/* The TLS settings given other than the three files. */
static guint
extra_settings (const LatchTlsSettings *s, const char **names)
{
  guint n = 0;

  if (s->crl != NULL)
    names[n++] = "TlsCrl (--tls-crl)";
  if (s->priority != NULL)
    names[n++] = "TlsPriority (--tls-priority)";
  if (s->allowed_peers != NULL)
    names[n++] = "TlsAllowedPeers (--tls-allowed-peers)";
  if (s->check_peer_id)
    names[n++] = "TlsCheckPeerId (--tls-check-peer-id)";
  if (!s->require_client_cert)
    names[n++] = "TlsRequireClientCertificate=no (--tls-require-client-cert)";
  return n;
}

gboolean
latch_tls_settings_resolve (const LatchTlsSettings *s, LatchTlsRole role,
                            LatchSecurityLevel *level, GError **error)
{
  const char *names[8];
  g_autofree char *list = NULL;
  guint n_files = (s->certificate != NULL) + (s->private_key != NULL)
                  + (s->ca_certificate != NULL);
  guint n;
  LatchSecurityLevel result = s->level;

  switch (s->level)
    {
    case LATCH_SECURITY_DEFAULT:
      if (n_files == 0)
        {
          n = extra_settings (s, names);
          if (n > 0)
            {
              list = join_names (names, n);
              return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                                      "%s given without TLS certificates: set %s, %s "
                                      "and %s too, or remove %s", list, N_CERT, N_KEY, N_CA,
                                      n > 1 ? "them" : "it");
            }
          result = LATCH_SECURITY_CLEAR;
          break;
        }
      n = missing_files (s, TRUE, names);
      if (n > 0)
        {
          list = join_names (names, n);
          return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                                  "incomplete TLS configuration: %s %s missing (TLS needs "
                                  "certificate, private key and CA certificate; latch never falls "
                                  "back to clear text)%s", list, n > 1 ? "are" : "is",
                                  role == LATCH_TLS_CLIENT && s->ca_certificate != NULL
                                      ? "; for a daemon that does not require client certificates "
                                        "give --security-level=channel with the CA certificate only"
                                      : "");
        }
      result = s->check_peer_id ? LATCH_SECURITY_MUTUAL : LATCH_SECURITY_CHANNEL;
      break;
    case LATCH_SECURITY_CLEAR:
      {
        const char *set[8];
        guint k = 0;

        if (s->certificate != NULL)
          set[k++] = N_CERT;
        if (s->private_key != NULL)
          set[k++] = N_KEY;
        if (s->ca_certificate != NULL)
          set[k++] = N_CA;
        k += extra_settings (s, set + k);
        if (k > 0)
          {
            list = join_names (set, k);
            return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                                    "SecurityLevel is clear but %s %s set: remove %s, or "
                                    "choose --security-level=channel or mutual", list,
                                    k > 1 ? "are" : "is", k > 1 ? "them" : "it");
          }
      }
      break;
    case LATCH_SECURITY_CHANNEL:
      if (s->check_peer_id)
        return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                                "SecurityLevel channel and TlsCheckPeerId=yes contradict "
                                "each other: use --security-level=mutual to check peer IDs");
      if (s->allowed_peers != NULL)
        return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                                "TlsAllowedPeers needs --security-level=mutual (the IDs "
                                "are checked against the certificates only there)");
      if (role == LATCH_TLS_CLIENT && (s->certificate == NULL) != (s->private_key == NULL))
        {
          n = 0;
          if (s->certificate == NULL)
            names[n++] = N_CERT;
          if (s->private_key == NULL)
            names[n++] = N_KEY;
          list = join_names (names, n);
          return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                                  "incomplete TLS configuration: %s is missing (give "
                                  "certificate and key together, or neither for a daemon that "
                                  "does not require client certificates)", list);
        }
      n = missing_files (s, role == LATCH_TLS_SERVER, names);
      if (n > 0)
        {
          list = join_names (names, n);
          return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                                  "incomplete TLS configuration for SecurityLevel channel: "
                                  "%s %s missing", list, n > 1 ? "are" : "is");
        }
      break;
    case LATCH_SECURITY_MUTUAL:
      if (!s->require_client_cert)
        return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                                "SecurityLevel mutual needs client certificates: "
                                "TlsRequireClientCertificate=no is for the channel level only");
      n = missing_files (s, TRUE, names);
      if (n > 0)
        {
          list = join_names (names, n);
          return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                                  "incomplete TLS configuration for SecurityLevel mutual: "
                                  "%s %s missing", list, n > 1 ? "are" : "is");
        }
      break;
    default:
      return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                              "unknown security level %d", (int)s->level);
    }
  if (result == LATCH_SECURITY_CHANNEL && s->allowed_peers != NULL)
    return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                            "TlsAllowedPeers needs the mutual level: set TlsCheckPeerId=yes "
                            "(--tls-check-peer-id=yes) or --security-level=mutual");
  if (result == LATCH_SECURITY_MUTUAL && !s->require_client_cert)
    return latch_error_set (error, LATCH_ERROR_INVALID_OPTION,
                            "TlsCheckPeerId=yes needs client certificates: "
                            "TlsRequireClientCertificate=no is for the channel level only");
  *level = result;
  return TRUE;
}
