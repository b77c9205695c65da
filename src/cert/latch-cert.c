/* latch-cert: certificates for latch nodes.
 *
 *   latch-cert ca init --dir DIR ...     a CA
 *   latch-cert node --ca DIR --out DIR   a node's key and certificate
 *   latch-cert request --out DIR         a key and a CSR, for another CA
 *   latch-cert sign --ca DIR --csr FILE  a certificate for a CSR
 *   latch-cert revoke --ca DIR CERT      revocation, and a new CRL
 *   latch-cert crl --ca DIR              a new CRL
 *   latch-cert show FILE...              anything X.509, in words
 *   latch-cert check --cert --key --ca   a node's files, as latch sees them
 *
 * This file only parses the command line (one GOptionContext per command)
 * and prints; the work is in cert.c.  Exit statuses are decided here and
 * only here: 0 success, 1 an operation failed (or a check), 2 the command
 * line is wrong.  Every error is one line on stderr:
 * "latch-cert: what is wrong: what to do". */
#include "config.h"

#include "cert/cert.h"

#include "x509/x509-describe.h"
#include "common/error.h"
#include "sys/machine-id.h"

#include <stdio.h>
#include <string.h>

enum
{
  EXIT_OK = 0,
  EXIT_FAILED = 1,
  EXIT_USAGE = 2,
};

/* Every option any command takes (each command offers a subset). */
typedef struct
{
  char *dir;
  char *name;
  char *days;
  char *crl_days;
  char *key_type;
  char *bits;
  char *ca;
  char *id;
  char *id_from;
  char *out;
  char *csr;
  char *cert;
  char *key;
  char *crl;
  gboolean force;
} Args;

static void
args_clear (Args *a)
{
  g_free (a->dir);
  g_free (a->name);
  g_free (a->days);
  g_free (a->crl_days);
  g_free (a->key_type);
  g_free (a->bits);
  g_free (a->ca);
  g_free (a->id);
  g_free (a->id_from);
  g_free (a->out);
  g_free (a->csr);
  g_free (a->cert);
  g_free (a->key);
  g_free (a->crl);
  memset (a, 0, sizeof *a);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Args, args_clear)

/* The command being run, for "see 'latch-cert CMD --help'". */
static const char *current_command = "";

static int
usage_error (const char *format, ...) G_GNUC_PRINTF (1, 2);

static int
usage_error (const char *format, ...)
{
  va_list ap;
  g_autofree char *what = NULL;

  va_start (ap, format);
  what = g_strdup_vprintf (format, ap);
  va_end (ap);
  if (*current_command != '\0')
    fprintf (stderr, "latch-cert: %s: see 'latch-cert %s --help'\n", what, current_command);
  else
    fprintf (stderr, "latch-cert: %s: see 'latch-cert --help'\n", what);
  return EXIT_USAGE;
}

/* Prints the warnings, then the error if any; the exit status. */
static int
finish (LatchCertReport *report, const GError *error)
{
  for (guint i = 0; report != NULL && i < report->warnings->len; i++)
    fprintf (stderr, "latch-cert: warning: %s\n",
             (const char *)g_ptr_array_index (report->warnings, i));
  if (error != NULL)
    {
      fprintf (stderr, "latch-cert: %s\n", error->message);
      return g_error_matches (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION) ? EXIT_USAGE
                                                                              : EXIT_FAILED;
    }
  for (guint i = 0; report != NULL && i < report->info->len; i++)
    printf ("%s\n", (const char *)g_ptr_array_index (report->info, i));
  fflush (stdout);
  return EXIT_OK;
}

/* ---- option tables ---------------------------------------------------- */

#define OPT_DIR(a)                                                                       \
  { "dir", 0, 0, G_OPTION_ARG_FILENAME, &(a)->dir,                                       \
    "The CA directory (created 0700 if missing)", "DIR" }
#define OPT_CA(a)                                                                        \
  { "ca", 0, 0, G_OPTION_ARG_FILENAME, &(a)->ca,                                         \
    "The CA directory made by 'latch-cert ca init'", "DIR" }
#define OPT_KEY_TYPE(a)                                                                  \
  { "key-type", 0, 0, G_OPTION_ARG_STRING, &(a)->key_type,                               \
    "ecdsa (P-256, the default), ed25519 or rsa", "TYPE" }
#define OPT_BITS(a)                                                                      \
  { "bits", 0, 0, G_OPTION_ARG_STRING, &(a)->bits,                                       \
    "RSA: modulus size, 2048 or more (default 3072); ECDSA: 256, 384 or 521", "N" }
#define OPT_FORCE(a)                                                                     \
  { "force", 0, 0, G_OPTION_ARG_NONE, &(a)->force, "Replace files that exist", NULL }
#define OPT_ID(a)                                                                        \
  { "id", 0, 0, G_OPTION_ARG_STRING, &(a)->id,                                           \
    "The node's machine ID (default: this host's)", "ID" }
#define OPT_ID_FROM(a)                                                                   \
  { "id-from", 0, 0, G_OPTION_ARG_FILENAME, &(a)->id_from,                               \
    "Read the machine ID from a copy of the node's /etc/machine-id", "FILE" }
#define OPT_NAME(a, files)                                                               \
  { "name", 0, 0, G_OPTION_ARG_STRING, &(a)->name,                                       \
    "File names: " files " (default: node)", "NAME" }
#define OPT_CRL_DAYS(a)                                                                  \
  { "crl-days", 0, 0, G_OPTION_ARG_STRING, &(a)->crl_days,                               \
    "Days until the CRL's next update (default 30)", "N" }
#define OPT_END { NULL, 0, 0, 0, NULL, NULL, NULL }

/* Parses argv for command; leaves the positional arguments in argv.  On
 * a usage error, prints it and returns FALSE (*status set). */
static gboolean
parse (const char *command, const char *params, const char *summary,
       const char *description, GOptionEntry *entries, int *argc, char ***argv,
       int *status)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *prgname = g_strdup_printf ("latch-cert %s", command);

  current_command = command;
  g_set_prgname (prgname);
  context = g_option_context_new (params);
  g_option_context_set_summary (context, summary);
  if (description != NULL)
    g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, argc, argv, &error))
    {
      *status = usage_error ("%s", error->message);
      return FALSE;
    }
  return TRUE;
}

static gboolean
no_positional (int argc, char **argv, int *status)
{
  if (argc > 1)
    {
      g_autofree char *q = latch_x509_escape (argv[1], strlen (argv[1]));

      *status = usage_error ("unexpected argument '%s'", q);
      return FALSE;
    }
  return TRUE;
}

/* A number of days: default def when text is NULL; 0 refused; negative
 * only when allowed. */
static gboolean
parse_days (const char *option, const char *text, int def, gboolean negative_ok, int *out,
            GError **error)
{
  gint64 value = 0;

  if (text == NULL)
    {
      *out = def;
      return TRUE;
    }
  if (!g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, &value, NULL))
    {
      g_autofree char *q = latch_x509_escape (text, strlen (text));

      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "%s '%s' is not a whole number of days: give e.g. %s %d", option, q,
                   option, def);
      return FALSE;
    }
  if (value == 0 || (value < 0 && !negative_ok))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "%s %" G_GINT64_FORMAT " is not a validity: give a positive number of "
                   "days%s", option, value,
                   negative_ok ? " (or a negative one for an already expired test "
                                 "certificate)"
                               : "");
      return FALSE;
    }
  if (value > LATCH_CERT_MAX_DAYS || value < -LATCH_CERT_MAX_DAYS)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "%s %" G_GINT64_FORMAT " is beyond 100 years: give at most %d", option,
                   value, LATCH_CERT_MAX_DAYS);
      return FALSE;
    }
  *out = (int)value;
  return TRUE;
}

/* Is id, given with --id, a machine ID? */
static gboolean
check_id_option (const char *id, GError **error)
{
  g_autofree char *q = latch_x509_escape (id, strlen (id));
  g_autofree char *source = g_strdup_printf ("--id '%s'", q);

  return latch_cert_check_id (id, "--id", source, LATCH_ERROR_INVALID_OPTION, error);
}

/* The machine ID from --id, --id-from, or this host (transfer full). */
static char *
resolve_id (const Args *a, GError **error)
{
  if (a->id != NULL && a->id_from != NULL)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "--id and --id-from both give the machine ID: give one of them");
      return NULL;
    }
  if (a->id != NULL)
    return check_id_option (a->id, error) ? g_strdup (a->id) : NULL;
  if (a->id_from != NULL)
    return latch_cert_read_id_file (a->id_from, error);
  {
    g_autoptr (GError) local = NULL;
    const char *id = latch_machine_id_get (&local);

    if (id == NULL)
      {
        g_set_error (error, LATCH_ERROR, LATCH_ERROR_MACHINE_ID,
                     "%s; or give the node's ID with --id ID", local->message);
        return NULL;
      }
    return g_strdup (id);
  }
}

/* ---- commands --------------------------------------------------------- */

static int
cmd_ca_init (int argc, char **argv)
{
  g_auto (Args) a = { 0 };
  GOptionEntry entries[] = {
    OPT_DIR (&a),
    { "name", 0, 0, G_OPTION_ARG_STRING, &a.name,
      "The CA's name, its certificate's CN (default: latch CA)", "NAME" },
    { "days", 0, 0, G_OPTION_ARG_STRING, &a.days,
      "Validity of the CA certificate in days (default 3650)", "N" },
    OPT_CRL_DAYS (&a),
    OPT_KEY_TYPE (&a),
    OPT_BITS (&a),
    { "force", 0, 0, G_OPTION_ARG_NONE, &a.force,
      "Replace an existing CA (its certificates are no longer trusted)", NULL },
    OPT_END,
  };
  g_autoptr (LatchCertReport) report = latch_cert_report_new ();
  g_autoptr (GError) error = NULL;
  LatchCertCaOptions opts = { 0 };
  int status = EXIT_OK;

  if (!parse ("ca init", "--dir DIR", "Create a CA: DIR/ca.key, ca.pem, index, crl.pem.",
              NULL, entries, &argc, &argv, &status)
      || !no_positional (argc, argv, &status))
    return status;
  if (a.dir == NULL)
    return usage_error ("ca init needs --dir DIR (where the CA is kept)");
  opts.dir = a.dir;
  opts.name = a.name;
  opts.force = a.force;
  if (!parse_days ("--days", a.days, LATCH_CERT_DEFAULT_CA_DAYS, FALSE, &opts.days, &error)
      || !parse_days ("--crl-days", a.crl_days, LATCH_CERT_DEFAULT_CRL_DAYS, FALSE,
                      &opts.crl_days, &error)
      || !latch_cert_key_spec_parse (a.key_type, a.bits, &opts.key, &error)
      || !latch_cert_ca_init (&opts, report, &error))
    return finish (report, error);
  return finish (report, NULL);
}

static int
cmd_node (int argc, char **argv)
{
  g_auto (Args) a = { 0 };
  GOptionEntry entries[] = {
    OPT_CA (&a),
    OPT_ID (&a),
    OPT_ID_FROM (&a),
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &a.out,
      "Where to write NAME.key, NAME.pem and ca.pem (created if missing)", "OUTDIR" },
    OPT_NAME (&a, "NAME.key and NAME.pem"),
    { "days", 0, 0, G_OPTION_ARG_STRING, &a.days,
      "Validity in days (default 365; negative: already expired, for tests)", "N" },
    OPT_KEY_TYPE (&a),
    OPT_BITS (&a),
    OPT_FORCE (&a),
    OPT_END,
  };
  g_autoptr (LatchCertReport) report = latch_cert_report_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *id = NULL;
  LatchCertNodeOptions opts = { 0 };
  int status = EXIT_OK;

  if (!parse ("node", "--ca DIR --out OUTDIR [--id ID | --id-from FILE]",
              "Issue a node a key and a certificate whose CN is its machine ID;\n"
              "print the [TLS] settings of latch.conf that use them.",
              NULL, entries, &argc, &argv, &status)
      || !no_positional (argc, argv, &status))
    return status;
  if (a.ca == NULL)
    return usage_error ("node needs --ca DIR (the directory made by 'latch-cert ca init')");
  if (a.out == NULL)
    return usage_error ("node needs --out OUTDIR (where to write the node's files)");
  opts.ca_dir = a.ca;
  opts.out_dir = a.out;
  opts.name = a.name;
  opts.force = a.force;
  if (!parse_days ("--days", a.days, LATCH_CERT_DEFAULT_NODE_DAYS, TRUE, &opts.days, &error)
      || !latch_cert_key_spec_parse (a.key_type, a.bits, &opts.key, &error)
      || (a.name != NULL && !latch_cert_check_name (a.name, &error))
      || (id = resolve_id (&a, &error)) == NULL)
    return finish (report, error);
  opts.id = id;
  if (!latch_cert_node (&opts, report, &error))
    return finish (report, error);
  return finish (report, NULL);
}

static int
cmd_request (int argc, char **argv)
{
  g_auto (Args) a = { 0 };
  GOptionEntry entries[] = {
    OPT_ID (&a),
    OPT_ID_FROM (&a),
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &a.out,
      "Where to write NAME.key and NAME.csr (created if missing)", "OUTDIR" },
    OPT_NAME (&a, "NAME.key and NAME.csr"),
    OPT_KEY_TYPE (&a),
    OPT_BITS (&a),
    OPT_FORCE (&a),
    OPT_END,
  };
  g_autoptr (LatchCertReport) report = latch_cert_report_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *id = NULL;
  LatchCertRequestOptions opts = { 0 };
  int status = EXIT_OK;

  if (!parse ("request", "--out OUTDIR [--id ID | --id-from FILE]",
              "Make a node's key and a certificate request (PKCS#10) for an external CA.",
              NULL, entries, &argc, &argv, &status)
      || !no_positional (argc, argv, &status))
    return status;
  if (a.out == NULL)
    return usage_error ("request needs --out OUTDIR (where to write the key and the CSR)");
  opts.out_dir = a.out;
  opts.name = a.name;
  opts.force = a.force;
  if (!latch_cert_key_spec_parse (a.key_type, a.bits, &opts.key, &error)
      || (a.name != NULL && !latch_cert_check_name (a.name, &error))
      || (id = resolve_id (&a, &error)) == NULL)
    return finish (report, error);
  opts.id = id;
  if (!latch_cert_request (&opts, report, &error))
    return finish (report, error);
  return finish (report, NULL);
}

static int
cmd_sign (int argc, char **argv)
{
  g_auto (Args) a = { 0 };
  GOptionEntry entries[] = {
    OPT_CA (&a),
    { "csr", 0, 0, G_OPTION_ARG_FILENAME, &a.csr, "The certificate request", "FILE" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &a.out, "Where to write the certificate",
      "FILE" },
    { "days", 0, 0, G_OPTION_ARG_STRING, &a.days,
      "Validity in days (default 365; negative: already expired, for tests)", "N" },
    OPT_FORCE (&a),
    OPT_END,
  };
  g_autoptr (LatchCertReport) report = latch_cert_report_new ();
  g_autoptr (GError) error = NULL;
  LatchCertSignOptions opts = { 0 };
  int status = EXIT_OK;

  if (!parse ("sign", "--ca DIR --csr FILE --out FILE",
              "Issue a node certificate for a certificate request.", NULL, entries, &argc,
              &argv, &status)
      || !no_positional (argc, argv, &status))
    return status;
  if (a.ca == NULL)
    return usage_error ("sign needs --ca DIR (the directory made by 'latch-cert ca init')");
  if (a.csr == NULL)
    return usage_error ("sign needs --csr FILE (the certificate request)");
  if (a.out == NULL)
    return usage_error ("sign needs --out FILE (where to write the certificate)");
  opts.ca_dir = a.ca;
  opts.csr = a.csr;
  opts.out = a.out;
  opts.force = a.force;
  if (!parse_days ("--days", a.days, LATCH_CERT_DEFAULT_NODE_DAYS, TRUE, &opts.days, &error)
      || !latch_cert_sign (&opts, report, &error))
    return finish (report, error);
  return finish (report, NULL);
}

static int
cmd_revoke (int argc, char **argv)
{
  g_auto (Args) a = { 0 };
  GOptionEntry entries[] = {
    OPT_CA (&a),
    OPT_CRL_DAYS (&a),
    OPT_END,
  };
  g_autoptr (LatchCertReport) report = latch_cert_report_new ();
  g_autoptr (GError) error = NULL;
  int crl_days = 0;
  int status = EXIT_OK;

  if (!parse ("revoke", "--ca DIR CERT...",
              "Revoke certificates issued by the CA, and make its CRL again.", NULL,
              entries, &argc, &argv, &status))
    return status;
  if (a.ca == NULL)
    return usage_error ("revoke needs --ca DIR (the CA that issued the certificate)");
  if (argc < 2)
    return usage_error ("revoke needs the certificate file to revoke");
  if (!parse_days ("--crl-days", a.crl_days, LATCH_CERT_DEFAULT_CRL_DAYS, FALSE, &crl_days,
                   &error))
    return finish (report, error);
  for (int i = 1; i < argc; i++)
    if (!latch_cert_revoke (a.ca, argv[i], crl_days, report, &error))
      return finish (report, error);
  return finish (report, NULL);
}

static int
cmd_crl (int argc, char **argv)
{
  g_auto (Args) a = { 0 };
  GOptionEntry entries[] = {
    OPT_CA (&a),
    OPT_CRL_DAYS (&a),
    OPT_END,
  };
  g_autoptr (LatchCertReport) report = latch_cert_report_new ();
  g_autoptr (GError) error = NULL;
  int crl_days = 0;
  int status = EXIT_OK;

  if (!parse ("crl", "--ca DIR",
              "Make the CA's CRL again from its index (before its next update).", NULL,
              entries, &argc, &argv, &status)
      || !no_positional (argc, argv, &status))
    return status;
  if (a.ca == NULL)
    return usage_error ("crl needs --ca DIR (the directory made by 'latch-cert ca init')");
  if (!parse_days ("--crl-days", a.crl_days, LATCH_CERT_DEFAULT_CRL_DAYS, FALSE, &crl_days,
                   &error)
      || !latch_cert_crl (a.ca, crl_days, report, &error))
    return finish (report, error);
  return finish (report, NULL);
}

static int
cmd_show (int argc, char **argv)
{
  GOptionEntry entries[] = { OPT_END };
  int status = EXIT_OK;

  if (!parse ("show", "FILE...",
              "Describe the certificates, requests, CRLs and keys in files (PEM or DER).",
              NULL, entries, &argc, &argv, &status))
    return status;
  if (argc < 2)
    return usage_error ("show needs at least one FILE");
  for (int i = 1; i < argc; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *data = NULL;
      g_autofree char *text = NULL;
      g_autofree char *q = latch_x509_escape (argv[i], strlen (argv[i]));
      unsigned int bad = 0;
      gsize len = 0;

      if (!latch_cert_read_file (argv[i], "file", &data, &len, NULL, &error))
        {
          fflush (stdout);
          fprintf (stderr, "latch-cert: %s\n", error->message);
          status = EXIT_FAILED;
          continue;
        }
      text = latch_x509_describe_data (data, len, "  ", &bad, &error);
      if (text == NULL)
        {
          fflush (stdout);
          fprintf (stderr, "latch-cert: %s: %s: give a certificate, CSR, CRL or key file "
                   "(PEM or DER)\n", q, error->message);
          status = EXIT_FAILED;
          continue;
        }
      printf ("%s:\n%s", q, text);
      if (bad > 0)
        {
          fflush (stdout);
          fprintf (stderr, "latch-cert: %s: GnuTLS cannot read %u of its items (see "
                   "above): check the file\n", q, bad);
          status = EXIT_FAILED;
        }
    }
  fflush (stdout);
  return status;
}

static int
cmd_check (int argc, char **argv)
{
  g_auto (Args) a = { 0 };
  GOptionEntry entries[] = {
    { "cert", 0, 0, G_OPTION_ARG_FILENAME, &a.cert,
      "The node's certificate (TlsCertificate)", "FILE" },
    { "key", 0, 0, G_OPTION_ARG_FILENAME, &a.key, "Its private key (TlsPrivateKey)",
      "FILE" },
    { "ca", 0, 0, G_OPTION_ARG_FILENAME, &a.ca, "The CA file (TlsCaCertificate)", "FILE" },
    { "crl", 0, 0, G_OPTION_ARG_FILENAME, &a.crl, "The CRL (TlsCrl)", "FILE" },
    { "id", 0, 0, G_OPTION_ARG_STRING, &a.id,
      "The machine ID the certificate must name (default: this host's)", "ID" },
    OPT_END,
  };
  g_autoptr (LatchCertReport) report = latch_cert_report_new ();
  g_autoptr (GError) error = NULL;
  LatchCertCheckOptions opts = { 0 };
  gboolean ok;
  int status = EXIT_OK;

  if (!parse ("check", "--cert FILE --key FILE --ca FILE [--crl FILE] [--id ID]",
              "Check a node's TLS files as latch will: one 'ok:' or 'FAIL:' line each.",
              NULL, entries, &argc, &argv, &status)
      || !no_positional (argc, argv, &status))
    return status;
  if (a.cert == NULL || a.key == NULL || a.ca == NULL)
    return usage_error ("check needs --cert FILE, --key FILE and --ca FILE (the node's "
                        "TlsCertificate, TlsPrivateKey and TlsCaCertificate)");
  if (a.id != NULL && !check_id_option (a.id, &error))
    return finish (report, error);
  opts.cert = a.cert;
  opts.key = a.key;
  opts.ca = a.ca;
  opts.crl = a.crl;
  opts.id = a.id;
  ok = latch_cert_check (&opts, report);
  finish (report, NULL);
  return ok ? EXIT_OK : EXIT_FAILED;
}

/* ---- main ------------------------------------------------------------- */

static const char usage_text[] =
    "Usage: latch-cert COMMAND [OPTION...]\n"
    "Certificates for latch nodes: a CA, one certificate per node whose CN is the\n"
    "node's machine ID, certificate requests, revocation and CRLs.\n"
    "\n"
    "Commands:\n"
    "  ca init --dir DIR               create a CA\n"
    "  node --ca DIR --out OUTDIR      issue a node a key and a certificate\n"
    "  request --out OUTDIR            make a key and a CSR for an external CA\n"
    "  sign --ca DIR --csr FILE --out FILE   issue a certificate for a CSR\n"
    "  revoke --ca DIR CERT            revoke a certificate, make the CRL again\n"
    "  crl --ca DIR                    make the CRL again\n"
    "  show FILE...                    describe certificates, CSRs, CRLs, keys\n"
    "  check --cert F --key F --ca F   check a node's files as latch will\n"
    "\n"
    "'latch-cert COMMAND --help' lists a command's options; see latch-cert(1).\n";

int
main (int argc, char **argv)
{
  const char *command;

  if (argc < 2)
    return usage_error ("no command given");
  command = argv[1];
  if (strcmp (command, "--help") == 0 || strcmp (command, "-h") == 0
      || strcmp (command, "help") == 0 || strcmp (command, "-?") == 0)
    {
      fputs (usage_text, stdout);
      return EXIT_OK;
    }
  if (strcmp (command, "--version") == 0 || strcmp (command, "-v") == 0)
    {
      printf ("latch-cert (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
      return EXIT_OK;
    }
  if (strcmp (command, "ca") == 0)
    {
      if (argc < 3 || strcmp (argv[2], "init") != 0)
        {
          current_command = "ca init";
          if (argc < 3)
            return usage_error ("'ca' needs a subcommand: 'latch-cert ca init --dir DIR'");
          {
            g_autofree char *q = latch_x509_escape (argv[2], strlen (argv[2]));

            return usage_error ("'ca %s' is not a command: the CA command is 'latch-cert ca "
                                "init --dir DIR'", q);
          }
        }
      return cmd_ca_init (argc - 2, argv + 2);
    }
  if (strcmp (command, "node") == 0)
    return cmd_node (argc - 1, argv + 1);
  if (strcmp (command, "request") == 0)
    return cmd_request (argc - 1, argv + 1);
  if (strcmp (command, "sign") == 0)
    return cmd_sign (argc - 1, argv + 1);
  if (strcmp (command, "revoke") == 0)
    return cmd_revoke (argc - 1, argv + 1);
  if (strcmp (command, "crl") == 0)
    return cmd_crl (argc - 1, argv + 1);
  if (strcmp (command, "show") == 0)
    return cmd_show (argc - 1, argv + 1);
  if (strcmp (command, "check") == 0)
    return cmd_check (argc - 1, argv + 1);
  {
    g_autofree char *q = latch_x509_escape (command, strlen (command));

    return usage_error ("'%s' is not a command", q);
  }
}
