/* test-config.c: settings, value grammars, configuration files, command
 * line, precedence, dump. */

#include "config.h"

#include "settings/settings.h"
#include "settings/settings-table.h"

#include "common/error.h"

#include <glib/gstdio.h>
#include <net/if.h>
#include <string.h>

/* Fixture: a temporary directory for configuration files. */

typedef struct
{
  char *dir;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("test-config-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GDir) dir = g_dir_open (f->dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (f->dir, name, NULL);

      g_assert_cmpint (g_remove (path), ==, 0);
    }
  g_assert_cmpint (g_rmdir (f->dir), ==, 0);
  g_free (f->dir);
}

static char *
write_file_len (Fixture *f, const char *name, const char *text, gssize len)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (f->dir, name, NULL);

  g_file_set_contents (path, text, len, &error);
  g_assert_no_error (error);
  return path;
}

static char *
write_file (Fixture *f, const char *name, const char *text)
{
  return write_file_len (f, name, text, -1);
}

static char *
missing_path (Fixture *f, const char *name)
{
  return g_build_filename (f->dir, name, NULL);
}

/* Runs latch_options_parse on {"latch", args..., NULL}. */
static gboolean
parse_args (const char *const *args, LatchOptions *opts, GError **error)
{
  g_autoptr (GPtrArray) list = g_ptr_array_new ();
  g_auto (GStrv) strings = NULL;
  g_autofree char **argv = NULL;
  int argc;
  gsize i;

  g_ptr_array_add (list, (gpointer) "latch");
  for (i = 0; args[i] != NULL; i++)
    g_ptr_array_add (list, (gpointer) args[i]);
  g_ptr_array_add (list, NULL);
  strings = g_strdupv ((char **) list->pdata);
  argc = (int) list->len - 1;
  /* GLib rearranges the array, not the strings. */
  argv = g_memdup2 (strings, sizeof (char *) * list->len);
  const LatchOptionsSpec spec = { .program = LATCH_PROGRAM_COMMAND };

  return latch_options_parse (opts, &argc, &argv, &spec, error);
}

/* Parses and applies args onto config. */
static gboolean
apply_args (const char *const *args, LatchConfig *config, GError **error)
{
  LatchOptions opts = { 0 };
  gboolean ok;

  if (!parse_args (args, &opts, error))
    return FALSE;
  ok = latch_options_apply (&opts, config, error);
  latch_options_clear (&opts);
  return ok;
}

static void
assert_defaults (const LatchConfig *config)
{
  g_assert_null (config->daemon_trace_file);
  g_assert_null (config->command_trace_file);
  g_assert_false (config->append_trace_file);
  g_assert_false (config->verbose);
  g_assert_cmpstr (config->resource_name, ==, "_RESOURCE");
  g_assert_cmpint (config->resource_timeout, ==, -1);
  g_assert_cmpint (config->resource_quantity, ==, 1);
  g_assert_cmpint (config->lock_mode, ==, LATCH_LOCK_MODE_EX);
  g_assert_true (config->resource_create);
  g_assert_cmpint (config->resource_idle_lifespan, ==, 0);
  g_assert_null (config->socket_name);
  g_assert_cmpint (config->daemon_lifespan, ==, 5000);
  g_assert_null (config->unicast_address);
  g_assert_cmpint (config->unicast_port, ==, 28015);
  g_assert_null (config->multicast_address);
  g_assert_cmpint (config->multicast_port, ==, 28015);
  g_assert_cmpuint (config->ignored_signals, ==, 0);
  g_assert_null (config->network_interface);
  g_assert_cmpint (config->discovery_attempts, ==, 2);
  g_assert_cmpint (config->discovery_timeout, ==, 500);
  g_assert_cmpint (config->discovery_ttl, ==, 1);
  g_assert_cmpint (config->tcp_keepalive_time, ==, 60);
  g_assert_cmpint (config->tcp_keepalive_intvl, ==, 10);
  g_assert_cmpint (config->tcp_keepalive_probes, ==, 6);
  g_assert_true (config->agent);
  g_assert_cmpint (config->session_timeout, ==, 2000);
}

/* The tests name "lo" as an interface that exists. */
static gboolean
have_loopback (void)
{
  if (if_nametoindex ("lo") != 0)
    return TRUE;
  g_test_skip ("no interface named lo");
  return FALSE;
}

/* Defaults and table */

static void
test_defaults (void)
{
  g_autoptr (LatchConfig) config = latch_config_new ();

  assert_defaults (config);
  latch_config_free (NULL);
}

static void
test_table_consistent (void)
{
  gsize i, j;

  g_assert_cmpuint (latch_n_settings, >, 0);
  for (i = 0; i < latch_n_settings; i++)
    {
      const LatchSetting *a = &latch_settings[i];

      g_assert_nonnull (a->long_name);
      g_assert_nonnull (a->group);
      g_assert_nonnull (a->key);
      if (a->kind == LATCH_SETTING_UNSUPPORTED)
        g_assert_cmpint (a->offset, ==, -1);
      else
        {
          g_assert_cmpint (a->offset, >=, 0);
          g_assert_nonnull (a->help);
        }
      if (a->kind == LATCH_SETTING_INT)
        g_assert_nonnull (a->expect);
      /* A group's rows are together: the dump and "known groups" rely
       * on it. */
      if (i > 0 && strcmp (latch_settings[i - 1].group, a->group) != 0)
        for (j = 0; j + 1 < i; j++)
          g_assert_cmpstr (latch_settings[j].group, !=, a->group);
      for (j = i + 1; j < latch_n_settings; j++)
        {
          const LatchSetting *b = &latch_settings[j];

          g_assert_cmpstr (a->long_name, !=, b->long_name);
          g_assert_true (a->short_name == 0 || a->short_name != b->short_name);
          g_assert_true (strcmp (a->group, b->group) != 0
                         || strcmp (a->key, b->key) != 0);
        }
    }
}

/* Value grammars */

static void
test_grammar_bool (void)
{
  static const struct
  {
    const char *text;
    gboolean value;
  } good[] = {
    { "yes", TRUE },  { "no", FALSE },   { "Y", TRUE },     { "N", FALSE },
    { "y", TRUE },    { "n", FALSE },    { "true", TRUE },  { "false", FALSE },
    { "1", TRUE },    { "0", FALSE },    { "YES", TRUE },   { "No", FALSE },
    { "TRUE", TRUE }, { "False", FALSE }, { " yes\t", TRUE },
  };
  static const char *const bad[] = { "maybe", "on",  "off", "yesno", "",
                                     "ok",    "2",   "y e", "nope",  "  ",
                                     "enabled", "-1" };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (good); i++)
    {
      gboolean value = !good[i].value;

      g_assert_true (latch_parse_bool (good[i].text, &value));
      g_assert_cmpint (value, ==, good[i].value);
    }
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      gboolean value = 42;

      g_assert_false (latch_parse_bool (bad[i], &value));
      g_assert_cmpint (value, ==, 42); /* untouched */
    }
  g_assert_false (latch_parse_bool (NULL, NULL));
}

static void
test_grammar_lock_mode (void)
{
  static const struct
  {
    const char *text;
    LatchLockMode mode;
  } good[] = {
    { "NL", LATCH_LOCK_MODE_NL },
    { "nl", LATCH_LOCK_MODE_NL },
    { "Cr", LATCH_LOCK_MODE_CR },
    { "cw", LATCH_LOCK_MODE_CW },
    { "PR", LATCH_LOCK_MODE_PR },
    { "pW", LATCH_LOCK_MODE_PW },
    { "ex", LATCH_LOCK_MODE_EX },
    { "NullLock", LATCH_LOCK_MODE_NL },
    { "concurrentread", LATCH_LOCK_MODE_CR },
    { "CONCURRENTWRITE", LATCH_LOCK_MODE_CW },
    { "ProtectedRead", LATCH_LOCK_MODE_PR },
    { "protectedWrite", LATCH_LOCK_MODE_PW },
    { "Exclusive", LATCH_LOCK_MODE_EX },
    { " EX ", LATCH_LOCK_MODE_EX },
  };
  /* FLoM's substring search reads "only" as NL: latch does not. */
  static const char *const bad[] = { "only", "",   "E X", "NLX", "ExclusiveLock",
                                     "5",    "0",  "PRW", "Null Lock" };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (good); i++)
    {
      LatchLockMode mode = 99;

      g_assert_true (latch_parse_lock_mode (good[i].text, &mode));
      g_assert_cmpint (mode, ==, good[i].mode);
    }
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      LatchLockMode mode = 99;

      g_assert_false (latch_parse_lock_mode (bad[i], &mode));
      g_assert_cmpint (mode, ==, 99);
    }
  g_assert_cmpstr (latch_lock_mode_name (LATCH_LOCK_MODE_NL), ==, "NL");
  g_assert_cmpstr (latch_lock_mode_name (LATCH_LOCK_MODE_PR), ==, "PR");
  g_assert_cmpstr (latch_lock_mode_name (LATCH_LOCK_MODE_PW), ==, "PW");
  g_assert_cmpstr (latch_lock_mode_name (LATCH_LOCK_MODE_EX), ==, "EX");
  g_assert_null (latch_lock_mode_name ((LatchLockMode) 6));
  g_assert_null (latch_lock_mode_name ((LatchLockMode) -1));
}

static void
test_grammar_int (void)
{
  static const struct
  {
    const char *text;
    int value;
  } good[] = {
    { "0", 0 },
    { "-1", -1 },
    { "+7", 7 },
    { " 42 ", 42 },
    { "007", 7 },
    { "2147483647", G_MAXINT },
    { "-2147483648", G_MININT },
  };
  static const char *const bad[] = { "abc", "",    "1.5",        "0x10",
                                     "2147483648", "-2147483649", "- 5",
                                     "5 5", "1e3", "12abc",      "+",
                                     "-",   " "};
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (good); i++)
    {
      int value = 99;

      g_assert_true (latch_parse_int (good[i].text, &value));
      g_assert_cmpint (value, ==, good[i].value);
    }
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      int value = 99;

      g_assert_false (latch_parse_int (bad[i], &value));
      g_assert_cmpint (value, ==, 99);
    }
}

static void
test_grammar_signal (void)
{
  g_assert_cmpint (latch_signal_from_string ("SIGTERM"), ==, 15);
  g_assert_cmpint (latch_signal_from_string ("15"), ==, 15);
  g_assert_cmpint (latch_signal_from_string ("1"), ==, 1);
  g_assert_cmpint (latch_signal_from_string ("31"), ==, 31);
  g_assert_cmpint (latch_signal_from_string ("SIGSYS"), ==, 31);
  g_assert_cmpint (latch_signal_from_string ("SIGSTKFLT"), ==, 16);
  g_assert_cmpint (latch_signal_from_string (" SIGINT "), ==, 2);
  g_assert_cmpint (latch_signal_from_string ("SIGKILL"), ==, 9);
  g_assert_cmpint (latch_signal_from_string ("0"), ==, 0);
  g_assert_cmpint (latch_signal_from_string ("32"), ==, 0);
  g_assert_cmpint (latch_signal_from_string ("-15"), ==, 0);
  g_assert_cmpint (latch_signal_from_string ("sigterm"), ==, 0);
  g_assert_cmpint (latch_signal_from_string ("TERM"), ==, 0);
  g_assert_cmpint (latch_signal_from_string ("SIGFOO"), ==, 0);
  g_assert_cmpint (latch_signal_from_string (""), ==, 0);
  g_assert_cmpint (latch_signal_from_string (NULL), ==, 0);
  g_assert_cmpstr (latch_signal_name (1), ==, "SIGHUP");
  g_assert_cmpstr (latch_signal_name (9), ==, "SIGKILL");
  g_assert_cmpstr (latch_signal_name (31), ==, "SIGSYS");
  g_assert_null (latch_signal_name (0));
  g_assert_null (latch_signal_name (32));
}

static void
test_signal_list (void)
{
  g_autoptr (GString) out = g_string_new (NULL);

  latch_signal_list (out);
  g_assert_cmpstr (out->str, ==,
                   "1) SIGHUP\t2) SIGINT\t3) SIGQUIT\t4) SIGILL\t\n"
                   "5) SIGTRAP\t6) SIGABRT\t7) SIGBUS\t8) SIGFPE\t\n"
                   "9) SIGKILL\t10) SIGUSR1\t11) SIGSEGV\t12) SIGUSR2\t\n"
                   "13) SIGPIPE\t14) SIGALRM\t15) SIGTERM\t16) SIGSTKFLT\t\n"
                   "17) SIGCHLD\t18) SIGCONT\t19) SIGSTOP\t20) SIGTSTP\t\n"
                   "21) SIGTTIN\t22) SIGTTOU\t23) SIGURG\t24) SIGXCPU\t\n"
                   "25) SIGXFSZ\t26) SIGVTALRM\t27) SIGPROF\t28) SIGWINCH\t\n"
                   "29) SIGIO\t30) SIGPWR\t31) SIGSYS\t\n");
}

/* Dump */

/* The [TLS] lines of the dump when nothing TLS is set. */
#define TLS_DEFAULTS_DUMP                                \
  "[TLS]/TlsCertificate=''\n"                             \
  "[TLS]/TlsPrivateKey=''\n"                              \
  "[TLS]/TlsCaCertificate=''\n"                           \
  "[TLS]/TlsCheckPeerId=0\n"                              \
  "[TLS]/TlsCrl=''\n"                                     \
  "[TLS]/TlsPriority=''\n"                                \
  "[TLS]/SecurityLevel=''\n"                              \
  "[TLS]/TlsAllowedPeers=''\n"                            \
  "[TLS]/TlsRequireClientCertificate=1\n"

static void
test_dump_defaults (void)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GString) out = g_string_new ("before\n");

  latch_config_dump (config, out);
  g_assert_cmpstr (out->str, ==,
                   "before\n"
                   "[Trace]/DaemonTraceFile=''\n"
                   "[Trace]/CommandTraceFile=''\n"
                   "[Trace]/AppendTraceFile=0\n"
                   "[Trace]/Verbose=0\n"
                   "[Trace]/Quiet=0\n" "[Trace]/LogTarget='auto'\n"
                   "[Resource]/Name='_RESOURCE'\n"
                   "[Resource]/Timeout=-1\n"
                   "[Resource]/Quantity=1\n"
                   "[Resource]/LockMode=5\n"
                   "[Resource]/Create=1\n"
                   "[Resource]/IdleLifespan=0\n" "[Resource]/WaitNotice=1000\n"
                   "[Daemon]/SocketName=''\n" "[Daemon]/System=0\n" "[Daemon]/SystemGroup='latch'\n" "[Daemon]/MetricsAddress=''\n"
                   "[Daemon]/Lifespan=5000\n"
                   "[Daemon]/UnicastAddress=''\n"
                   "[Daemon]/UnicastPort=28015\n"
                   "[Daemon]/MulticastAddress=''\n"
                   "[Daemon]/MulticastPort=28015\n"
                   "[Daemon]/IdleLifespanMin=2000\n"
                   "[Daemon]/IdleLifespanMax=86400000\n"
                   "[Daemon]/MaxResources=65536\n"
                   "[Daemon]/MaxLocksPerConnection=100\n"
                   "[Daemon]/MaxWaitersPerResource=4096\n"
                   "[Monitor]/IgnoredSignals=''\n"
                   "[Monitor]/KillGrace=1000\n"
                   "[Network]/NetworkInterface=''\n"
                   "[Network]/DiscoveryAttempts=2\n"
                   "[Network]/DiscoveryTimeout=500\n"
                   "[Network]/DiscoveryTTL=1\n"
                   "[Network]/TcpKeepaliveTime=60\n"
                   "[Network]/TcpKeepaliveIntvl=10\n"
                   "[Network]/TcpKeepaliveProbes=6\n"
                   "[Network]/Agent=1\n"
                   "[Network]/SessionTimeout=2000\n"
                   "[Cluster]/EtcdEndpoints=''\n"
                   "[Cluster]/LeaseTtl=10\n"
                   "[Cluster]/Prefix='/latch/'\n"
                   TLS_DEFAULTS_DUMP);
}

static void
test_dump_sample (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *path
      = write_file (f, "sample.conf",
                    "[Trace]\n"
                    "DaemonTraceFile=/tmp/latchd.trace\n"
                    "AppendTraceFile=yes\n"
                    "Quiet=yes\n"
                    "[Resource]\n"
                    "Name=red.blue.green\n"
                    "Timeout=250\n"
                    "LockMode=ProtectedRead\n"
                    "Create=no\n"
                    "IdleLifespan=-1000\n"
                    "[Daemon]\n"
                    "Lifespan=231\n"
                    "MulticastAddress=224.0.0.1\n"
                    "MulticastPort=-7000\n"
                    "[Monitor]\n"
                    "IgnoredSignals=SIGTERM;1;SIGINT\n"
                    "[Network]\n"
                    "DiscoveryAttempts=0\n"
                    "DiscoveryTimeout=-250\n"
                    "TcpKeepaliveProbes=3\n"
                    "Agent=no\n"
                    "SessionTimeout=0\n");
  const char *const args[] = { "-V", "-T", "/tmp/cmd.trace", "-a",
                               "::1", "--discovery-ttl=-4",
                               "--tcp-keepalive-intvl", "5", "-n", "lo",
                               "--idle-lifespan-min=-300", NULL };

  if (!have_loopback ())
    return;
  g_assert_true (latch_config_load_file (config, path, TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (apply_args (args, config, &error));
  g_assert_no_error (error);
  latch_config_dump (config, out);
  g_assert_cmpstr (out->str, ==,
                   "[Trace]/DaemonTraceFile='/tmp/latchd.trace'\n"
                   "[Trace]/CommandTraceFile='/tmp/cmd.trace'\n"
                   "[Trace]/AppendTraceFile=1\n"
                   "[Trace]/Verbose=1\n"
                   "[Trace]/Quiet=1\n" "[Trace]/LogTarget='auto'\n"
                   "[Resource]/Name='red.blue.green'\n"
                   "[Resource]/Timeout=250\n"
                   "[Resource]/Quantity=1\n"
                   "[Resource]/LockMode=3\n"
                   "[Resource]/Create=0\n"
                   "[Resource]/IdleLifespan=1000\n" "[Resource]/WaitNotice=1000\n"
                   "[Daemon]/SocketName=''\n" "[Daemon]/System=0\n" "[Daemon]/SystemGroup='latch'\n" "[Daemon]/MetricsAddress=''\n"
                   "[Daemon]/Lifespan=231\n"
                   "[Daemon]/UnicastAddress='::1'\n"
                   "[Daemon]/UnicastPort=28015\n"
                   "[Daemon]/MulticastAddress='224.0.0.1'\n"
                   "[Daemon]/MulticastPort=7000\n"
                   "[Daemon]/IdleLifespanMin=300\n"
                   "[Daemon]/IdleLifespanMax=86400000\n"
                   "[Daemon]/MaxResources=65536\n"
                   "[Daemon]/MaxLocksPerConnection=100\n"
                   "[Daemon]/MaxWaitersPerResource=4096\n"
                   "[Monitor]/IgnoredSignals='SIGHUP;SIGINT;SIGTERM'\n"
                   "[Monitor]/KillGrace=1000\n"
                   "[Network]/NetworkInterface='lo'\n"
                   "[Network]/DiscoveryAttempts=1\n"
                   "[Network]/DiscoveryTimeout=250\n"
                   "[Network]/DiscoveryTTL=4\n"
                   "[Network]/TcpKeepaliveTime=60\n"
                   "[Network]/TcpKeepaliveIntvl=5\n"
                   "[Network]/TcpKeepaliveProbes=3\n"
                   "[Network]/Agent=0\n"
                   "[Network]/SessionTimeout=0\n"
                   "[Cluster]/EtcdEndpoints=''\n"
                   "[Cluster]/LeaseTtl=10\n"
                   "[Cluster]/Prefix='/latch/'\n"
                   TLS_DEFAULTS_DUMP);
}

/* Configuration files */

static void
test_file_all_keys (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path
      = write_file (f, "all.conf",
                    "# every key latch knows\n"
                    "[Trace]\n"
                    "DaemonTraceFile = /var/tmp/d trace\n"
                    "CommandTraceFile=relative/c.trace\n"
                    "AppendTraceFile=TRUE\n"
                    "Verbose=y\n"
                    "\n"
                    "  [Resource]  \n"
                    "Name=_s_seq[7]\n"
                    "Timeout=0\n"
                    "Quantity=3\n"
                    "LockMode=cw\n"
                    "Create=0\n"
                    "IdleLifespan=20\n"
                    "[Daemon]\r\n"
                    "SocketName=sock\\sname\r\n"
                    "Lifespan=-1\n"
                    "UnicastAddress=daemon.example.org\n"
                    "UnicastPort=2000\n"
                    "MulticastAddress=ff02::1\n"
                    "MulticastPort=-3000\n"
                    "[Monitor]\n"
                    "IgnoredSignals=SIGUSR1; 12 ;\n"
                    "[Network]\n"
                    "NetworkInterface=lo\n"
                    "DiscoveryAttempts=-3\n"
                    "DiscoveryTimeout=-20\n"
                    "DiscoveryTTL=0\n"
                    "TcpKeepaliveTime=-30\n"
                    "TcpKeepaliveIntvl=4\n"
                    "TcpKeepaliveProbes=-9\n"
                    "Agent=No\n"
                    "SessionTimeout=500\n"
                    "[TLS]\n");

  if (!have_loopback ())
    return;

  g_assert_true (latch_config_load_file (config, path, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (config->daemon_trace_file, ==, "/var/tmp/d trace");
  g_assert_cmpstr (config->command_trace_file, ==, "relative/c.trace");
  g_assert_true (config->append_trace_file);
  g_assert_true (config->verbose);
  g_assert_cmpstr (config->resource_name, ==, "_s_seq[7]");
  g_assert_cmpint (config->resource_timeout, ==, 0);
  g_assert_cmpint (config->resource_quantity, ==, 3);
  g_assert_cmpint (config->lock_mode, ==, LATCH_LOCK_MODE_CW);
  g_assert_false (config->resource_create);
  g_assert_cmpint (config->resource_idle_lifespan, ==, 20);
  g_assert_cmpstr (config->socket_name, ==, "sock name"); /* GLib's \s */
  g_assert_cmpint (config->daemon_lifespan, ==, -1);
  g_assert_cmpstr (config->unicast_address, ==, "daemon.example.org");
  g_assert_cmpint (config->unicast_port, ==, 2000);
  g_assert_cmpstr (config->multicast_address, ==, "ff02::1");
  g_assert_cmpint (config->multicast_port, ==, 3000);
  g_assert_cmpuint (config->ignored_signals, ==, (1u << 10) | (1u << 12));
  g_assert_cmpstr (config->network_interface, ==, "lo");
  g_assert_cmpint (config->discovery_attempts, ==, 3);
  g_assert_cmpint (config->discovery_timeout, ==, 20);
  g_assert_cmpint (config->discovery_ttl, ==, 1);
  g_assert_cmpint (config->tcp_keepalive_time, ==, 30);
  g_assert_cmpint (config->tcp_keepalive_intvl, ==, 4);
  g_assert_cmpint (config->tcp_keepalive_probes, ==, 9);
  g_assert_false (config->agent);
  g_assert_cmpint (config->session_timeout, ==, 500);
}

static void
test_file_missing_group_fine (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path
      = write_file (f, "partial.conf", "[Resource]\nTimeout=5\n");
  g_autofree char *empty = write_file (f, "empty.conf", "");
  g_autofree char *comments
      = write_file (f, "comments.conf", "# nothing\n\n   \n\t# here\n");

  g_assert_true (latch_config_load_file (config, empty, TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (latch_config_load_file (config, comments, TRUE, &error));
  g_assert_no_error (error);
  assert_defaults (config);
  g_assert_true (latch_config_load_file (config, path, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpint (config->resource_timeout, ==, 5);
  config->resource_timeout = -1;
  assert_defaults (config);
}

static void
test_file_empty_values (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *set = write_file (
      f, "set.conf",
      "[Trace]\nDaemonTraceFile=/a\n[Daemon]\nSocketName=/s\n"
      "[Monitor]\nIgnoredSignals=SIGTERM\n");
  g_autofree char *reset = write_file (
      f, "reset.conf",
      "[Trace]\nDaemonTraceFile=\n[Daemon]\nSocketName=\n"
      "[Monitor]\nIgnoredSignals=\n");
  g_autofree char *empty_name
      = write_file (f, "name.conf", "[Resource]\nName=\n");

  g_assert_true (latch_config_load_file (config, set, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (config->daemon_trace_file, ==, "/a");
  g_assert_cmpuint (config->ignored_signals, ==, 1u << 15);
  /* An empty path means none; a later file can so undo an earlier one. */
  g_assert_true (latch_config_load_file (config, reset, TRUE, &error));
  g_assert_no_error (error);
  g_assert_null (config->daemon_trace_file);
  g_assert_null (config->socket_name);
  g_assert_cmpuint (config->ignored_signals, ==, 0);
  g_assert_false (latch_config_load_file (config, empty_name, TRUE, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME);
  g_assert_nonnull (strstr (error->message, "name.conf:2: [Resource] Name: "));
}

static void
test_file_duplicates (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *expected = NULL;
  /* GKeyFile keeps the last value, also across a repeated group. */
  g_autofree char *later_wins
      = write_file (f, "dup1.conf",
                    "[Resource]\nTimeout=abc\n[Daemon]\n[Resource]\n"
                    "Timeout=7\n");
  g_autofree char *later_bad
      = write_file (f, "dup2.conf",
                    "[Resource]\nTimeout=7\n[Daemon]\nLifespan=1\n"
                    "[Resource]\nTimeout=x7\n");

  g_assert_true (latch_config_load_file (config, later_wins, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpint (config->resource_timeout, ==, 7);

  g_assert_false (latch_config_load_file (config, later_bad, TRUE, &error));
  expected = g_strdup_printf (
      "%s:6: [Resource] Timeout: 'x7' is not an integer (milliseconds; -1 "
      "waits forever, 0 does not wait)",
      later_bad);
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION);
  g_assert_cmpstr (error->message, ==, expected);
  g_assert_cmpint (config->daemon_lifespan, ==, 1000 * 5); /* unchanged */
}

typedef struct
{
  const char *text;
  const char *message; /* after "PATH:" */
  int code;
} FileCase;

static void
check_file_cases (Fixture *f, const FileCase *cases, gsize n)
{
  gsize i;

  for (i = 0; i < n; i++)
    {
      g_autoptr (LatchConfig) config = latch_config_new ();
      g_autoptr (GError) error = NULL;
      g_autofree char *name = g_strdup_printf ("case%" G_GSIZE_FORMAT, i);
      g_autofree char *path = write_file (f, name, cases[i].text);
      g_autofree char *expected
          = g_strdup_printf ("%s:%s", path, cases[i].message);

      g_autofree char *escaped = g_strescape (cases[i].text, NULL);

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, escaped);
      g_assert_false (latch_config_load_file (config, path, FALSE, &error));
      g_assert_error (error, LATCH_ERROR, cases[i].code);
      g_assert_cmpstr (error->message, ==, expected);
      /* On error nothing is changed. */
      assert_defaults (config);
    }
}

static void
test_file_bad_values (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  static const FileCase cases[] = {
    { "# comment\n[Trace]\nVerbose=yes\n\n[Resource]\nTimeout=abc\n",
      "6: [Resource] Timeout: 'abc' is not an integer (milliseconds; -1 waits "
      "forever, 0 does not wait)",
      LATCH_ERROR_INVALID_OPTION },
    { "[Daemon]\nLifespan=99999999999\n",
      "2: [Daemon] Lifespan: '99999999999' is out of range (milliseconds; -1 "
      "keeps it forever, 0 never starts a daemon)",
      LATCH_ERROR_INVALID_OPTION },
    { "[Resource]\nCreate=maybe\n",
      "2: [Resource] Create: 'maybe' is not yes or no (accepted: yes, no, y, "
      "n, true, false, 1, 0)",
      LATCH_ERROR_INVALID_OPTION },
    { "[Trace]\nAppendTraceFile=on\n",
      "2: [Trace] AppendTraceFile: 'on' is not yes or no (accepted: yes, no, "
      "y, n, true, false, 1, 0)",
      LATCH_ERROR_INVALID_OPTION },
    { "[Trace]\nVerbose=\n",
      "2: [Trace] Verbose: '' is not yes or no (accepted: yes, no, y, n, "
      "true, false, 1, 0)",
      LATCH_ERROR_INVALID_OPTION },
    { "[Resource]\nLockMode=only\n",
      "2: [Resource] LockMode: 'only' is not a lock mode (accepted: NL, CR, "
      "CW, PR, PW, EX or NullLock, ConcurrentRead, ConcurrentWrite, "
      "ProtectedRead, ProtectedWrite, Exclusive)",
      LATCH_ERROR_INVALID_OPTION },
    { "[Resource]\nQuantity=0\n",
      "2: [Resource] Quantity: quantity must be 1 or more, not 0",
      LATCH_ERROR_INVALID_OPTION },
    { "[Resource]\nQuantity=-2\n",
      "2: [Resource] Quantity: quantity must be 1 or more, not -2",
      LATCH_ERROR_INVALID_OPTION },
    { "[Resource]\nName=_RESOURCE\n",
      "2: [Resource] Name: '_RESOURCE' is reserved for the default resource; "
      "choose another name",
      LATCH_ERROR_INVALID_NAME },
    { "[Monitor]\nIgnoredSignals=SIGTERM;SIGFOO\n",
      "2: [Monitor] IgnoredSignals: 'SIGFOO' is not a signal (a number from 1 "
      "to 31 or a name such as SIGTERM; see --signal-list)",
      LATCH_ERROR_INVALID_OPTION },
    { "[Monitor]\nIgnoredSignals=SIGTERM;;SIGINT\n",
      "2: [Monitor] IgnoredSignals: '' is not a signal (a number from 1 to 31 "
      "or a name such as SIGTERM; see --signal-list)",
      LATCH_ERROR_INVALID_OPTION },
    { "[Monitor]\nIgnoredSignals=SIGTERM;9\n",
      "2: [Monitor] IgnoredSignals: SIGKILL cannot be ignored",
      LATCH_ERROR_INVALID_OPTION },
    { "[Monitor]\nIgnoredSignals=SIGSTOP\n",
      "2: [Monitor] IgnoredSignals: SIGSTOP cannot be ignored",
      LATCH_ERROR_INVALID_OPTION },
    { "[Trace]\nDaemonTraceFile=a\\qb\n",
      "2: [Trace] DaemonTraceFile: 'a\\qb' has an invalid escape sequence "
      "(valid: \\s \\n \\t \\r \\\\)",
      LATCH_ERROR_CONFIG_FILE },
    { "[Monitor]\nIgnoredSignals=SIGINT;\\x\n",
      "2: [Monitor] IgnoredSignals: 'SIGINT;\\x' has an invalid escape "
      "sequence (valid: \\s \\n \\t \\r \\\\ \\;)",
      LATCH_ERROR_CONFIG_FILE },
    { "[Monitor]\nIgnoredSignals=SIGINT\\;SIGTERM\n",
      "2: [Monitor] IgnoredSignals: 'SIGINT;SIGTERM' is not a signal (a "
      "number from 1 to 31 or a name such as SIGTERM; see --signal-list)",
      LATCH_ERROR_INVALID_OPTION },
    { "[Resource]\nTimeout=1\xff\n",
      "2: [Resource] Timeout: '1\\xff' is not valid UTF-8",
      LATCH_ERROR_CONFIG_FILE },
    { "[Trace]\nCommandTraceFile=\\\n",
      "2: [Trace] CommandTraceFile: '\\' has an invalid escape sequence "
      "(valid: \\s \\n \\t \\r \\\\)",
      LATCH_ERROR_CONFIG_FILE },
    /* A valid key before the bad one is not applied either. */
    { "[Resource]\nTimeout=5\nQuantity=many\n",
      "3: [Resource] Quantity: 'many' is not an integer (number of units, 1 "
      "or more)",
      LATCH_ERROR_INVALID_OPTION },
  };

  check_file_cases (f, cases, G_N_ELEMENTS (cases));
}

static void
test_file_bad_resource_name (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path
      = write_file (f, "name.conf", "[Trace]\n[Resource]\nName=a b\n");
  g_autofree char *prefix
      = g_strdup_printf ("%s:3: [Resource] Name: invalid resource name", path);

  g_assert_false (latch_config_load_file (config, path, TRUE, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME);
  g_assert_true (g_str_has_prefix (error->message, prefix));
  g_assert_null (strchr (error->message, '\n'));
}

static void
test_file_socket_name_length (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *fits = g_strnfill (107, 's');
  g_autofree char *too_long = g_strnfill (108, 's');
  g_autofree char *text_fits
      = g_strdup_printf ("[Daemon]\nSocketName=%s\n", fits);
  g_autofree char *text_long
      = g_strdup_printf ("[Daemon]\nSocketName=%s\n", too_long);
  g_autofree char *path_fits = write_file (f, "fits.conf", text_fits);
  g_autofree char *path_long = write_file (f, "long.conf", text_long);
  g_autofree char *expected = NULL;

  g_assert_true (latch_config_load_file (config, path_fits, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (config->socket_name, ==, fits);
  g_assert_false (latch_config_load_file (config, path_long, TRUE, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION);
  expected = g_strdup_printf ("%s:2: [Daemon] SocketName: '%s' is 108 "
                              "bytes long; a UNIX socket path can have at "
                              "most 107 bytes",
                              path_long, too_long);
  g_assert_cmpstr (error->message, ==, expected);
}

static void
test_file_malformed (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  static const FileCase cases[] = {
    { "[Resource]\nTimeout=5\n\nthis is not valid\n",
      "4: 'this is not valid' is not a [Group] line, a Key=value line or a # "
      "comment",
      LATCH_ERROR_CONFIG_FILE },
    { "# first\n\n[Resource\nTimeout=5\n",
      "3: '[Resource' is not a [Group] line: ']' is missing",
      LATCH_ERROR_CONFIG_FILE },
    { "[Resource]\n[Trace] Verbose=yes\n",
      "2: '[Trace] Verbose=yes' is not a [Group] line: text after ']'",
      LATCH_ERROR_CONFIG_FILE },
    { "# comment\nTimeout=5\n[Resource]\n",
      "2: 'Timeout=5' comes before the first [Group] line",
      LATCH_ERROR_CONFIG_FILE },
    { "[Resource]\n=5\n",
      "2: '=5' is not a [Group] line, a Key=value line or a # comment",
      LATCH_ERROR_CONFIG_FILE },
    { "[Resource]\n\n\n\v\n",
      "4: '\\x0b' is not a [Group] line, a Key=value line or a # comment",
      LATCH_ERROR_CONFIG_FILE },
    { "[]\n", "1: '[]': invalid group name", LATCH_ERROR_CONFIG_FILE },
    { "[Resource]\nTime]out=5\n",
      "2: 'Time]out=5': invalid key name 'Time]out'",
      LATCH_ERROR_CONFIG_FILE },
    { "\xef\xbb\xbf[Resource]\n",
      "1: '\xef\xbb\xbf[Resource]' is not a [Group] line, a Key=value line or "
      "a # comment",
      LATCH_ERROR_CONFIG_FILE },
  };

  check_file_cases (f, cases, G_N_ELEMENTS (cases));
}

static void
test_file_nul_byte (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  static const char text[] = "[Resource]\nTimeout=5\0x\n";
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = write_file_len (f, "nul.conf", text, sizeof text - 1);
  g_autofree char *expected
      = g_strdup_printf ("%s:2: line contains a NUL byte", path);

  g_assert_false (latch_config_load_file (config, path, TRUE, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE);
  g_assert_cmpstr (error->message, ==, expected);
}

static void
test_file_unknown (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  static const FileCase cases[] = {
    { "[Trace]\nVerbose=no\n[Resource]\nTimout=5\n",
      "4: unknown key 'Timout' in [Resource]; known keys: Name, Timeout, "
      "Quantity, LockMode, Create, IdleLifespan, WaitNotice",
      LATCH_ERROR_CONFIG_FILE },
    { "# x\n[Resources]\n",
      "2: unknown group [Resources]; known groups: Trace, Resource, Daemon, "
      "Monitor, Network, Cluster, TLS",
      LATCH_ERROR_CONFIG_FILE },
    { "[Resource]\nName[de]=x\n",
      "2: unknown key 'Name[de]' in [Resource]; known keys: Name, Timeout, "
      "Quantity, LockMode, Create, IdleLifespan, WaitNotice",
      LATCH_ERROR_CONFIG_FILE },
    /* Case matters, as in GKeyFile and FLoM. */
    { "[resource]\ntimeout=5\n",
      "1: unknown group [resource]; known groups: Trace, Resource, Daemon, "
      "Monitor, Network, Cluster, TLS",
      LATCH_ERROR_CONFIG_FILE },
    { "[Daemon]\nLifeSpan=5\n",
      "2: unknown key 'LifeSpan' in [Daemon]; known keys: SocketName, System, "
      "SystemGroup, MetricsAddress, "
      "Lifespan, UnicastAddress, UnicastPort, MulticastAddress, "
      "MulticastPort, MountPointVFS, IdleLifespanMin, IdleLifespanMax, "
      "MaxResources, MaxLocksPerConnection, MaxWaitersPerResource",
      LATCH_ERROR_CONFIG_FILE },
    { "[TLS]\nTlsCert=x\n",
      "2: unknown key 'TlsCert' in [TLS]; known keys: TlsCertificate, "
      "TlsPrivateKey, TlsCaCertificate, TlsCheckPeerId, TlsCrl, TlsPriority, "
      "SecurityLevel, TlsAllowedPeers, TlsRequireClientCertificate",
      LATCH_ERROR_CONFIG_FILE },
  };

  check_file_cases (f, cases, G_N_ELEMENTS (cases));
}

static void
test_file_unsupported (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  static const FileCase cases[] = {
    /* TLS files must exist when read: never a silent fallback. */
    { "[Resource]\nTimeout=5\n[TLS]\nTlsCertificate=/nonexistent/cert.pem\n",
      "4: [TLS] TlsCertificate: '/nonexistent/cert.pem': No such file or directory",
      LATCH_ERROR_INVALID_OPTION },
    { "[TLS]\nTlsCaCertificate=/\n",
      "2: [TLS] TlsCaCertificate: '/' is not a regular file",
      LATCH_ERROR_INVALID_OPTION },
    { "[TLS]\nSecurityLevel=high\n",
      "2: [TLS] SecurityLevel: 'high' is not a security level: give clear, channel or mutual",
      LATCH_ERROR_INVALID_OPTION },
    { "[Daemon]\nMountPointVFS=/mnt\n",
      "2: [Daemon] MountPointVFS is not supported by this latch version yet",
      LATCH_ERROR_CONFIG_FILE },
    /* Also next to the network keys latch does know. */
    { "[Daemon]\nUnicastAddress=10.0.0.1\nMountPointVFS=\n",
      "3: [Daemon] MountPointVFS is not supported by this latch version yet",
      LATCH_ERROR_CONFIG_FILE },
  };

  check_file_cases (f, cases, G_N_ELEMENTS (cases));
}

static void
test_file_missing_and_unreadable (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *missing = missing_path (f, "nope.conf");
  g_autofree char *below_file = NULL;
  g_autofree char *plain = write_file (f, "plain", "[Resource]\n");
  g_autofree char *expected = NULL;

  /* A missing system or user file is skipped. */
  g_assert_true (latch_config_load_file (config, missing, FALSE, &error));
  g_assert_no_error (error);
  below_file = g_build_filename (plain, "x.conf", NULL);
  g_assert_true (latch_config_load_file (config, below_file, FALSE, &error));
  g_assert_no_error (error);
  g_assert_true (latch_config_load_files (config, missing, missing, NULL,
                                          &error));
  g_assert_no_error (error);
  assert_defaults (config);

  /* A missing -c file is an error. */
  g_assert_false (latch_config_load_file (config, missing, TRUE, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE);
  expected = g_strdup_printf ("%s: cannot open: No such file or directory",
                              missing);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);
  g_assert_false (latch_config_load_files (config, missing, missing, missing,
                                           &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);

  /* One that exists but cannot be read is an error, even as the system
   * file (a directory stands for an unreadable file: tests run as root). */
  g_clear_pointer (&expected, g_free);
  expected = g_strdup_printf ("%s: cannot read: Is a directory", f->dir);
  g_assert_false (latch_config_load_file (config, f->dir, FALSE, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);
  g_assert_false (latch_config_load_files (config, f->dir, missing, NULL,
                                           &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);
  g_assert_false (latch_config_load_files (config, missing, f->dir, NULL,
                                           &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE);
  assert_defaults (config);
}

static void
test_file_too_large (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) text = g_string_new ("[Resource]\n");
  g_autofree char *path = NULL;

  while (text->len <= 1024 * 1024)
    g_string_append (text, "# padding padding padding padding padding\n");
  path = write_file (f, "big.conf", text->str);
  g_assert_false (latch_config_load_file (config, path, TRUE, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE);
  g_assert_true (g_str_has_prefix (error->message, path));
}

/* Random files: whenever GKeyFile refuses one, the error must come from
 * the line scan (so it has a line number), never from the safety net. */
static void
test_file_scan_covers_gkeyfile (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  static const char *const pieces[] = {
    "[",  "]",  "=",   "#",  " ",  "\t", "\r", "\n", "\n", "\n", "\v",
    "\f", "\\", ";",   "x",  "Ab", "\x01", "\x7f", "\xc3\xa9", "\xff", "@",
    ".",  "-",  "[Resource]\n", "[Trace]\n", "Timeout=5\n", "Verbose=y\n",
  };
  g_autoptr (GRand) rand = g_rand_new_with_seed (20240302);
  g_autofree char *path = missing_path (f, "random.conf");
  int refused = 0;
  int round;

  for (round = 0; round < 3000; round++)
    {
      g_autoptr (GString) text = g_string_new (NULL);
      g_autoptr (GKeyFile) key_file = g_key_file_new ();
      g_autoptr (LatchConfig) config = latch_config_new ();
      g_autoptr (GError) error = NULL;
      g_autoptr (GError) glib_error = NULL;
      g_autofree char *prefix = NULL;
      int n = g_rand_int_range (rand, 1, 24);
      int i;

      if (g_rand_boolean (rand))
        g_string_append (text, "[Trace]\n");
      for (i = 0; i < n; i++)
        g_string_append (
            text, pieces[g_rand_int_range (rand, 0, G_N_ELEMENTS (pieces))]);
      g_assert_true (g_file_set_contents (path, text->str, text->len, NULL));
      if (g_key_file_load_from_data (key_file, text->str, text->len,
                                     G_KEY_FILE_NONE, &glib_error))
        continue;
      refused++;
      g_assert_false (latch_config_load_file (config, path, TRUE, &error));
      prefix = g_strdup_printf ("%s:", path);
      g_assert_true (g_str_has_prefix (error->message, prefix));
      if (!g_ascii_isdigit (error->message[strlen (prefix)]))
        g_error ("no line number for %s (GLib: %s): %s",
                 g_strescape (text->str, NULL), glib_error->message,
                 error->message);
      assert_defaults (config);
    }
  g_assert_cmpint (refused, >, 100);
}

/* Precedence */

static void
test_precedence_files (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *sys = write_file (
      f, "sys.conf",
      "[Resource]\nName=sys\nTimeout=1\nQuantity=2\n[Daemon]\nLifespan=10\n");
  g_autofree char *user = write_file (
      f, "user.conf", "[Resource]\nTimeout=2\n[Daemon]\nLifespan=20\n");
  g_autofree char *extra
      = write_file (f, "extra.conf", "[Resource]\nTimeout=3\n");
  const char *const args[] = { "-o", "4", NULL };

  g_assert_true (latch_config_load_files (config, sys, user, extra, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (config->resource_name, ==, "sys");  /* system only */
  g_assert_cmpint (config->resource_quantity, ==, 2);  /* system only */
  g_assert_cmpint (config->daemon_lifespan, ==, 20);   /* user over system */
  g_assert_cmpint (config->resource_timeout, ==, 3);   /* -c over user */
  g_assert_true (apply_args (args, config, &error));
  g_assert_no_error (error);
  g_assert_cmpint (config->resource_timeout, ==, 4);   /* command line */
  g_assert_cmpint (config->daemon_lifespan, ==, 20);
}

static void
test_precedence_all_or_nothing (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *sys
      = write_file (f, "sys.conf", "[Resource]\nName=sys\nTimeout=1\n");
  g_autofree char *user
      = write_file (f, "user.conf", "[Resource]\nTimeout=oops\n");
  g_autofree char *missing = missing_path (f, "missing.conf");

  g_assert_false (latch_config_load_files (config, sys, user, NULL, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION);
  assert_defaults (config);
  g_clear_error (&error);
  g_assert_false (latch_config_load_files (config, sys, missing, missing,
                                           &error));
  assert_defaults (config);
}

static void
test_precedence_home (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *saved_home = g_strdup (g_getenv ("HOME"));
  g_autofree char *user
      = write_file (f, ".latch", "[Resource]\nTimeout=42\n");
  g_autofree char *missing = missing_path (f, "missing.conf");

  g_assert_true (g_str_has_prefix (user, f->dir));
  g_setenv ("HOME", f->dir, TRUE);
  g_assert_true (latch_config_load_files (config, missing, NULL, NULL,
                                          &error));
  if (saved_home != NULL)
    g_setenv ("HOME", saved_home, TRUE);
  else
    g_unsetenv ("HOME");
  g_assert_no_error (error);
  g_assert_cmpint (config->resource_timeout, ==, 42);
}

static void
test_precedence_cmdline_beats_file_even_at_default (Fixture *f,
                                                    gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = write_file (
      f, "file.conf",
      "[Trace]\nAppendTraceFile=yes\n"
      "[Resource]\nName=fromfile\nTimeout=5\nQuantity=3\nLockMode=PR\n"
      "Create=no\nIdleLifespan=7\n[Daemon]\nLifespan=231\n"
      "UnicastAddress=a.example\nUnicastPort=1\nMulticastAddress=m\n"
      "MulticastPort=2\n[Network]\nDiscoveryAttempts=3\n"
      "DiscoveryTimeout=4\nDiscoveryTTL=5\nTcpKeepaliveTime=6\n"
      "TcpKeepaliveIntvl=7\nTcpKeepaliveProbes=8\n");
  const char *const args[]
      = { "-o", "-1", "-d", "5000", "-q", "1", "-i", "0", "-l", "EX", "-e",
          "yes", "--append-trace-file", "no", "-r", "other", "-a", "",
          "-p", "28015", "-A", "b.example", "-P", "28015", "-D", "2", "-I",
          "500", "--discovery-ttl", "1", "--tcp-keepalive-time", "60",
          "--tcp-keepalive-intvl", "10", "--tcp-keepalive-probes", "6",
          NULL };

  g_assert_true (latch_config_load_files (config, path, path, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (config->resource_timeout, ==, 5);
  g_assert_cmpint (config->daemon_lifespan, ==, 231);
  g_assert_true (apply_args (args, config, &error));
  g_assert_no_error (error);
  g_assert_cmpint (config->resource_timeout, ==, -1);
  g_assert_cmpint (config->daemon_lifespan, ==, 5000);
  g_assert_cmpint (config->resource_quantity, ==, 1);
  g_assert_cmpint (config->resource_idle_lifespan, ==, 0);
  g_assert_cmpint (config->lock_mode, ==, LATCH_LOCK_MODE_EX);
  g_assert_true (config->resource_create);
  g_assert_false (config->append_trace_file);
  g_assert_cmpstr (config->resource_name, ==, "other");
  /* Each of FLoM's "not at the default" cases: latch overrides. */
  g_assert_null (config->unicast_address); /* "" is none */
  g_assert_cmpint (config->unicast_port, ==, 28015);
  g_assert_cmpstr (config->multicast_address, ==, "b.example");
  g_assert_cmpint (config->multicast_port, ==, 28015);
  g_assert_cmpint (config->discovery_attempts, ==, 2);
  g_assert_cmpint (config->discovery_timeout, ==, 500);
  g_assert_cmpint (config->discovery_ttl, ==, 1);
  g_assert_cmpint (config->tcp_keepalive_time, ==, 60);
  g_assert_cmpint (config->tcp_keepalive_intvl, ==, 10);
  g_assert_cmpint (config->tcp_keepalive_probes, ==, 6);
}

static void
test_precedence_ignore_signal_replaces (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = write_file (
      f, "file.conf", "[Monitor]\nIgnoredSignals=SIGTERM;SIGHUP\n");
  const char *const none[] = { "-o", "1", NULL };
  const char *const args[]
      = { "--ignore-signal", "SIGINT", "--ignore-signal=3", NULL };

  g_assert_true (latch_config_load_file (config, path, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (config->ignored_signals, ==, (1u << 15) | (1u << 1));
  g_assert_true (apply_args (none, config, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (config->ignored_signals, ==, (1u << 15) | (1u << 1));
  g_assert_true (apply_args (args, config, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (config->ignored_signals, ==, (1u << 2) | (1u << 3));
}

static void
test_precedence_verbose_flag (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *off = write_file (f, "off.conf", "[Trace]\nVerbose=no\n");
  g_autofree char *on = write_file (f, "on.conf", "[Trace]\nVerbose=yes\n");
  const char *const args[] = { "-V", NULL };
  const char *const no_args[] = { NULL };

  g_assert_true (latch_config_load_file (config, off, TRUE, &error));
  g_assert_true (apply_args (args, config, &error));
  g_assert_no_error (error);
  g_assert_true (config->verbose);
  g_assert_true (latch_config_load_file (config, on, TRUE, &error));
  g_assert_true (apply_args (no_args, config, &error));
  g_assert_no_error (error);
  g_assert_true (config->verbose);
}

/* Command line */

static void
test_options_command (void)
{
  LatchOptions opts = { 0 };
  g_autoptr (GError) error = NULL;
  const char *const with_command[]
      = { "-r", "foo", "--", "ls", "-l", "--", "-x", NULL };
  const char *const without[] = { "-r", "foo", NULL };
  const char *const dash_dash_only[] = { "-x", "--", NULL };

  g_assert_true (parse_args (with_command, &opts, &error));
  g_assert_no_error (error);
  g_assert_nonnull (opts.command);
  g_assert_cmpuint (g_strv_length (opts.command), ==, 4);
  g_assert_cmpstr (opts.command[0], ==, "ls");
  g_assert_cmpstr (opts.command[1], ==, "-l");
  g_assert_cmpstr (opts.command[2], ==, "--");
  g_assert_cmpstr (opts.command[3], ==, "-x");
  g_assert_false (opts.quiesce_exit);
  latch_options_clear (&opts);
  g_assert_null (opts.command);
  g_assert_null (opts.priv);

  g_assert_true (parse_args (without, &opts, &error));
  g_assert_no_error (error);
  g_assert_null (opts.command);
  latch_options_clear (&opts);

  g_assert_true (parse_args (dash_dash_only, &opts, &error));
  g_assert_no_error (error);
  g_assert_null (opts.command);
  g_assert_true (opts.quiesce_exit);
  latch_options_clear (&opts);
  latch_options_clear (NULL);
}

static void
test_options_flags (void)
{
  LatchOptions opts = { 0 };
  g_autoptr (GError) error = NULL;
  const char *const args[] = { "-v",        "--signal-list", "--unique-id",
                               "-x",        "-X",            "-c",
                               "/some/file", NULL };
  const char *const none[] = { NULL };

  g_assert_true (parse_args (args, &opts, &error));
  g_assert_no_error (error);
  g_assert_true (opts.version);
  g_assert_true (opts.signal_list);
  g_assert_true (opts.unique_id);
  g_assert_true (opts.quiesce_exit);
  g_assert_true (opts.immediate_exit);
  g_assert_cmpstr (opts.config_file, ==, "/some/file");
  latch_options_clear (&opts);

  g_assert_true (parse_args (none, &opts, &error));
  g_assert_no_error (error);
  g_assert_false (opts.version || opts.signal_list || opts.unique_id
                  || opts.quiesce_exit || opts.immediate_exit);
  g_assert_null (opts.config_file);
  latch_options_clear (&opts);
}

static void
test_options_values (void)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  const char *const args[] = { "-t",       "/tmp/d.trace",
                               "--command-trace-file=c.trace",
                               "-r",       "_t_stamp[3]",
                               "--resource-timeout=-7",
                               "-q",       "4",
                               "-l",       "concurrentwrite",
                               "-e",       "N",
                               "-i",       "-300",
                               "-s",       "/tmp/sock",
                               "-d",       "0",
                               "-o",       "8", /* the last one wins */
                               NULL };
  const char *const empty_paths[] = { "-t", "", "-s", "", NULL };

  g_assert_true (apply_args (args, config, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (config->daemon_trace_file, ==, "/tmp/d.trace");
  g_assert_cmpstr (config->command_trace_file, ==, "c.trace");
  g_assert_cmpstr (config->resource_name, ==, "_t_stamp[3]");
  g_assert_cmpint (config->resource_timeout, ==, 8);
  g_assert_cmpint (config->resource_quantity, ==, 4);
  g_assert_cmpint (config->lock_mode, ==, LATCH_LOCK_MODE_CW);
  g_assert_false (config->resource_create);
  g_assert_cmpint (config->resource_idle_lifespan, ==, 300);
  g_assert_cmpstr (config->socket_name, ==, "/tmp/sock");
  g_assert_cmpint (config->daemon_lifespan, ==, 0);
  g_assert_true (apply_args (empty_paths, config, &error));
  g_assert_no_error (error);
  g_assert_null (config->daemon_trace_file);
  g_assert_null (config->socket_name);
}

static void
test_options_negative_value (void)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  const char *const args[] = { "-o", "-1", "-d", "-5", NULL };

  config->resource_timeout = 5;
  g_assert_true (apply_args (args, config, &error));
  g_assert_no_error (error);
  g_assert_cmpint (config->resource_timeout, ==, -1);
  g_assert_cmpint (config->daemon_lifespan, ==, -5);
}

typedef struct
{
  const char *args[6];
  const char *message;
} OptionCase;

static void
test_options_bad_values (void)
{
  static const OptionCase cases[] = {
    { { "--resource-timeout=abc" },
      "-o/--resource-timeout: 'abc' is not an integer (milliseconds; -1 "
      "waits forever, 0 does not wait)" },
    { { "-o", "5", "-o", "1.5" },
      "-o/--resource-timeout: '1.5' is not an integer (milliseconds; -1 "
      "waits forever, 0 does not wait)" },
    { { "-d", "5000000000" },
      "-d/--daemon-lifespan: '5000000000' is out of range (milliseconds; -1 "
      "keeps it forever, 0 never starts a daemon)" },
    { { "-q", "0" },
      "-q/--resource-quantity: quantity must be 1 or more, not 0" },
    { { "--tls-certificate=/nonexistent/cert.pem" },
      "--tls-certificate: '/nonexistent/cert.pem': No such file or directory" },
    { { "--security-level", "paranoid" },
      "--security-level: 'paranoid' is not a security level: give clear, "
      "channel or mutual" },
    { { "-q", "-1" },
      "-q/--resource-quantity: quantity must be 1 or more, not -1" },
    { { "-i", "soon" },
      "-i/--resource-idle-lifespan: 'soon' is not an integer (milliseconds)" },
    { { "-e", "maybe" },
      "-e/--resource-create: 'maybe' is not yes or no (accepted: yes, no, y, "
      "n, true, false, 1, 0)" },
    { { "--append-trace-file", "yesno" },
      "--append-trace-file: 'yesno' is not yes or no (accepted: yes, no, y, "
      "n, true, false, 1, 0)" },
    { { "-l", "only" },
      "-l/--lock-mode: 'only' is not a lock mode (accepted: NL, CR, CW, PR, "
      "PW, EX or NullLock, ConcurrentRead, ConcurrentWrite, ProtectedRead, "
      "ProtectedWrite, Exclusive)" },
    { { "-r", "_RESOURCE" },
      "-r/--resource-name: '_RESOURCE' is reserved for the default resource; "
      "choose another name" },
    { { "--ignore-signal", "SIGTERM", "--ignore-signal=SIGFOO" },
      "--ignore-signal: 'SIGFOO' is not a signal (a number from 1 to 31 or a "
      "name such as SIGTERM; see --signal-list)" },
    { { "--ignore-signal", "sigterm" },
      "--ignore-signal: 'sigterm' is not a signal (a number from 1 to 31 or a "
      "name such as SIGTERM; see --signal-list)" },
    { { "--ignore-signal", "SIGKILL" },
      "--ignore-signal: SIGKILL cannot be ignored" },
    { { "--ignore-signal", "19" },
      "--ignore-signal: SIGSTOP cannot be ignored" },
    { { "-o", "5", "-e", "on" },
      "-e/--resource-create: 'on' is not yes or no (accepted: yes, no, y, n, "
      "true, false, 1, 0)" },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (LatchConfig) config = latch_config_new ();
      g_autoptr (GError) error = NULL;

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, cases[i].message);
      g_assert_false (apply_args (cases[i].args, config, &error));
      g_assert_nonnull (error);
      g_assert_true (error->domain == LATCH_ERROR);
      g_assert_cmpstr (error->message, ==, cases[i].message);
      /* On error config is unchanged. */
      assert_defaults (config);
    }
}

static void
test_options_bad_resource_name (void)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  const char *const args[] = { "-r", "a b", NULL };

  g_assert_false (apply_args (args, config, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME);
  g_assert_true (g_str_has_prefix (error->message,
                                   "-r/--resource-name: invalid resource "
                                   "name 'a b'"));
  assert_defaults (config);
}

static void
test_options_parse_errors (void)
{
  static const OptionCase cases[] = {
    { { "-z", "FOO" }, "Unknown option -z" },
    { { "--ZZZ-ZZZ=BAR" }, "Unknown option --ZZZ-ZZZ=BAR" },
    { { "-o" }, "Missing argument for -o" },
    { { "-m", "/mnt" },
      "-m/--mount-point-vfs is not supported by this latch version yet" },
    { { "-a", "10.0.0.1", "--mount-point-vfs=/mnt" },
      "-m/--mount-point-vfs is not supported by this latch version yet" },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      LatchOptions opts = { 0 };
      g_autoptr (GError) error = NULL;

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, cases[i].message);
      g_assert_false (parse_args (cases[i].args, &opts, &error));
      g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION);
      g_assert_cmpstr (error->message, ==, cases[i].message);
      /* Nothing written on failure. */
      g_assert_null (opts.priv);
      g_assert_null (opts.command);
      g_assert_null (opts.config_file);
    }
}

static void
test_options_extra_entries (void)
{
  LatchOptions opts = { 0 };
  g_autoptr (GError) error = NULL;
  int ready_fd = -1;
  const GOptionEntry extra[] = {
    { "ready-fd", 0, 0, G_OPTION_ARG_INT, &ready_fd, "Ready fd", "FD" },
    G_OPTION_ENTRY_NULL,
  };
  int argc = 5;
  char *strings[] = { (char *) "latchd", (char *) "--ready-fd", (char *) "7",
                      (char *) "-d", (char *) "10", NULL };
  char **argv = strings;
  g_autoptr (LatchConfig) config = latch_config_new ();
  const LatchOptionsSpec spec = { .program = LATCH_PROGRAM_DAEMON, .extra = extra };

  g_assert_true (latch_options_parse (&opts, &argc, &argv, &spec, &error));
  g_assert_no_error (error);
  g_assert_cmpint (ready_fd, ==, 7);
  g_assert_cmpint (argc, ==, 1);
  g_assert_true (latch_options_apply (&opts, config, &error));
  g_assert_no_error (error);
  g_assert_cmpint (config->daemon_lifespan, ==, 10);
  latch_options_clear (&opts);
}

/* Every daemon setting survives the trip a starter makes: settings ->
 * latch_config_daemon_args () -> latchd's option parser -> settings; and
 * only the daemon settings that differ from the defaults are passed. */
static void
test_daemon_args_round_trip (void)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (LatchConfig) back = latch_config_new ();
  g_autoptr (LatchConfig) defaults = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) want = g_string_new (NULL);
  g_autoptr (GString) got = g_string_new (NULL);
  g_auto (GStrv) none = latch_config_daemon_args (defaults);
  g_auto (GStrv) args = NULL;
  const LatchOptionsSpec spec = { .program = LATCH_PROGRAM_DAEMON };
  LatchOptions opts = { 0 };
  g_autofree char **argv = NULL;
  int argc;

  g_assert_cmpuint (g_strv_length (none), ==, 0);

  config->daemon_lifespan = -1;
  config->idle_lifespan_min = 0;
  config->idle_lifespan_max = 5;
  config->max_resources = 6;
  config->max_locks_per_connection = 7;
  config->max_waiters_per_resource = 0;
  config->verbose = TRUE;
  config->append_trace_file = TRUE;
  config->tls_require_client_cert = FALSE;
  config->unicast_port = 4000;
  g_free (config->socket_name);
  config->socket_name = g_strdup ("/tmp/x y/sock");
  g_free (config->tls_priority);
  config->tls_priority = g_strdup ("NORMAL:-VERS-TLS1.2");
  /* Not daemon settings: not passed. */
  config->resource_timeout = 12;
  config->kill_grace = 3;

  args = latch_config_daemon_args (config);
  g_assert_cmpuint (g_strv_length (args), ==, 12);
  argv = g_new0 (char *, g_strv_length (args) + 2);
  argv[0] = (char *) "latchd";
  for (argc = 1; args[argc - 1] != NULL; argc++)
    argv[argc] = args[argc - 1];
  g_assert_true (latch_options_parse (&opts, &argc, &argv, &spec, &error));
  g_assert_no_error (error);
  g_assert_true (latch_options_apply (&opts, back, &error));
  g_assert_no_error (error);
  latch_options_clear (&opts);

  /* The daemon's copy equals the original but for the non-daemon rows. */
  back->resource_timeout = 12;
  back->kill_grace = 3;
  latch_config_dump (config, want);
  latch_config_dump (back, got);
  g_assert_cmpstr (got->str, ==, want->str);
}

/* Is a setting's field the same in a and b? */
static gboolean
field_equal (const LatchSetting *setting, const LatchConfig *a,
             const LatchConfig *b)
{
  const guint8 *fa = (const guint8 *) a + setting->offset;
  const guint8 *fb = (const guint8 *) b + setting->offset;

  switch (setting->kind)
    {
    case LATCH_SETTING_STRING:
    case LATCH_SETTING_PATH:
      return g_strcmp0 (*(char *const *) fa, *(char *const *) fb) == 0;
    case LATCH_SETTING_INT:
      return *(const int *) fa == *(const int *) fb;
    case LATCH_SETTING_BOOL:
    case LATCH_SETTING_FLAG:
      return !*(const gboolean *) fa == !*(const gboolean *) fb;
    case LATCH_SETTING_LOCK_MODE:
      return *(const LatchLockMode *) fa == *(const LatchLockMode *) fb;
    case LATCH_SETTING_SIGNALS:
      return *(const guint32 *) fa == *(const guint32 *) fb;
    case LATCH_SETTING_UNSUPPORTED:
    default:
      return TRUE;
    }
}

/* The option that gives setting the value text (a FLAG takes none). */
static char *
option_arg (const LatchSetting *setting, const char *text)
{
  if (setting->kind == LATCH_SETTING_FLAG)
    return g_strdup_printf ("--%s", setting->long_name);
  return g_strdup_printf ("--%s=%s", setting->long_name, text);
}

/* A value for a daemon setting that its grammar and check accept and
 * that differs from the default, found among a few candidates so that a
 * new daemon row is covered without touching this test (it fails here
 * when none fits: add a candidate).  file is an existing regular file
 * (for the TLS file rows). */
static const char *
non_default_text (const LatchSetting *setting, const char *file)
{
  const char *candidates[] = {
    "yes", "no", "7", "3", "1", "255", "-1", "12345", "mutual", "lo",
    "/tmp/latch test/sock", "127.0.0.1", "syslog", "staff", "http://127.0.0.1:2379",
    "/locks/", file,
  };
  g_autoptr (LatchConfig) defaults = latch_config_new ();

  for (gsize i = 0; i < G_N_ELEMENTS (candidates); i++)
    {
      g_autoptr (LatchConfig) config = latch_config_new ();
      g_autoptr (GError) error = NULL;
      g_autofree char *arg = option_arg (setting, candidates[i]);
      const char *args[] = { arg, NULL };

      if (apply_args (args, config, &error)
          && !field_equal (setting, config, defaults))
        return candidates[i];
    }
  g_error ("no candidate value for --%s: add one to non_default_text ()",
           setting->long_name);
  return NULL;
}

/* Runs latchd's option parser on args (the daemon's command line after
 * its program name) onto a fresh configuration. */
static LatchConfig *
daemon_parse (char **args)
{
  const LatchOptionsSpec spec = { .program = LATCH_PROGRAM_DAEMON };
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char **argv = g_new0 (char *, g_strv_length (args) + 2);
  LatchOptions opts = { 0 };
  int argc;

  argv[0] = (char *) "latchd";
  for (argc = 1; args[argc - 1] != NULL; argc++)
    argv[argc] = args[argc - 1];
  g_assert_true (latch_options_parse (&opts, &argc, &argv, &spec, &error));
  g_assert_no_error (error);
  g_assert_cmpint (argc, ==, 1);
  g_assert_true (latch_options_apply (&opts, config, &error));
  g_assert_no_error (error);
  latch_options_clear (&opts);
  return g_steal_pointer (&config);
}

static void
assert_same_config (const LatchConfig *want, const LatchConfig *got)
{
  g_autoptr (GString) want_dump = g_string_new (NULL);
  g_autoptr (GString) got_dump = g_string_new (NULL);

  for (gsize i = 0; i < latch_n_settings; i++)
    if (latch_settings[i].kind != LATCH_SETTING_UNSUPPORTED
        && !field_equal (&latch_settings[i], want, got))
      g_error ("[%s] %s differs after the round trip", latch_settings[i].group,
               latch_settings[i].key);
  latch_config_dump (want, want_dump);
  latch_config_dump (got, got_dump);
  g_assert_cmpstr (got_dump->str, ==, want_dump->str);
}

/* Every daemon setting of the table, alone and all together, at a value
 * other than its default: options -> settings -> latchd's command line
 * (latch_config_daemon_args) -> latchd's parser -> the same settings; and
 * the same values in a configuration file -> the same settings.  The
 * rows come from the table, so a new daemon setting is covered as soon
 * as its row exists. */
static void
test_daemon_args_every_setting (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *file = write_file (f, "a file.pem", "not checked here\n");
  g_autoptr (GPtrArray) all_args = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) all_file = g_string_new (NULL);
  g_autoptr (LatchConfig) defaults = latch_config_new ();
  g_autoptr (LatchConfig) all = latch_config_new ();
  g_autoptr (LatchConfig) all_back = NULL;
  g_autoptr (LatchConfig) all_from_file = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) args = NULL;
  g_autofree char *all_path = NULL;
  const char *last_group = NULL;
  guint n_daemon = 0;

  if (!have_loopback ())
    return;
  for (gsize i = 0; i < latch_n_settings; i++)
    {
      const LatchSetting *setting = &latch_settings[i];
      g_autoptr (LatchConfig) one = latch_config_new ();
      g_autoptr (LatchConfig) back = NULL;
      g_autoptr (LatchConfig) from_file = latch_config_new ();
      g_auto (GStrv) one_args = NULL;
      g_autofree char *arg = NULL;
      g_autofree char *prefix = NULL;
      g_autofree char *text = NULL;
      g_autofree char *path = NULL;
      const char *value;

      if (!setting->daemon || setting->kind == LATCH_SETTING_UNSUPPORTED)
        continue;
      n_daemon++;
      value = non_default_text (setting, file);
      arg = option_arg (setting, value);

      /* Alone: exactly its own option reaches latchd, read back the same. */
      {
        const char *cmdline[] = { arg, NULL };

        g_assert_true (apply_args (cmdline, one, &error));
        g_assert_no_error (error);
      }
      g_assert_false (field_equal (setting, one, defaults));
      one_args = latch_config_daemon_args (one);
      g_assert_cmpuint (g_strv_length (one_args), ==, 1);
      prefix = g_strdup_printf ("--%s", setting->long_name);
      g_assert_true (g_str_has_prefix (one_args[0], prefix));
      g_assert_true (one_args[0][strlen (prefix)] == '\0'
                     || one_args[0][strlen (prefix)] == '=');
      back = daemon_parse (one_args);
      assert_same_config (one, back);

      /* The same value from a file. */
      text = g_strdup_printf ("[%s]\n%s=%s\n", setting->group, setting->key,
                              value);
      path = write_file (f, "one.conf", text);
      g_assert_true (latch_config_load_file (from_file, path, TRUE, &error));
      g_assert_no_error (error);
      assert_same_config (one, from_file);

      g_ptr_array_add (all_args, g_steal_pointer (&arg));
      if (g_strcmp0 (last_group, setting->group) != 0)
        g_string_append_printf (all_file, "[%s]\n", setting->group);
      last_group = setting->group;
      g_string_append_printf (all_file, "%s=%s\n", setting->key, value);
    }
  g_assert_cmpuint (n_daemon, >, 0);

  /* All together: each one once, in one command line. */
  g_ptr_array_add (all_args, NULL);
  g_assert_true (apply_args ((const char *const *) all_args->pdata, all, &error));
  g_assert_no_error (error);
  args = latch_config_daemon_args (all);
  g_assert_cmpuint (g_strv_length (args), ==, n_daemon);
  all_back = daemon_parse (args);
  assert_same_config (all, all_back);
  all_path = write_file (f, "all.conf", all_file->str);
  g_assert_true (latch_config_load_file (all_from_file, all_path, TRUE, &error));
  g_assert_no_error (error);
  assert_same_config (all, all_from_file);
}

/* latchd takes the daemon settings only, and no argument: what each
 * program accepts comes from the table's daemon column. */
static void
test_options_daemon_table (void)
{
  const char *const taken[][3] = {
    { "latchd", "--tls-crl=x", NULL }, { "latchd", "-d", "5" },
    { "latchd", "--idle-lifespan-min=1", NULL }, { "latchd", "-v", NULL },
    { "latchd", "-c", "f" },
  };
  const char *const refused[][4] = {
    { "latchd", "-r", "x", NULL },          { "latchd", "-x", NULL, NULL },
    { "latchd", "--unique-id", NULL, NULL }, { "latchd", "-o", "5", NULL },
    { "latchd", "--quiet", NULL, NULL },    { "latchd", "--", "sleep", "1" },
    { "latchd", "sleep", NULL, NULL },
  };
  const LatchOptionsSpec spec = { .program = LATCH_PROGRAM_DAEMON };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (taken); i++)
    {
      LatchOptions opts = { 0 };
      g_autoptr (GError) error = NULL;
      g_autofree char **argv = g_memdup2 (taken[i], sizeof taken[i]);
      int argc = argv[2] == NULL ? 2 : 3;

      g_assert_true (latch_options_parse (&opts, &argc, &argv, &spec, &error));
      g_assert_no_error (error);
      latch_options_clear (&opts);
    }
  for (i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      LatchOptions opts = { 0 };
      g_autoptr (GError) error = NULL;
      g_autofree char **argv = g_memdup2 (refused[i], sizeof refused[i]);
      int argc = 0;

      while (argc < 4 && argv[argc] != NULL)
        argc++;
      g_assert_false (latch_options_parse (&opts, &argc, &argv, &spec, &error));
      g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION);
      if (g_strcmp0 (refused[i][1], "sleep") == 0 || g_strcmp0 (refused[i][2], "sleep") == 0)
        g_assert_nonnull (strstr (error->message, "'sleep'"));
    }
}

static void
test_options_apply_without_parse (void)
{
  LatchOptions opts = { 0 };
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (latch_options_apply (&opts, config, &error));
  g_assert_no_error (error);
  assert_defaults (config);
}

/* Network settings */

static void
test_network_options (void)
{
  g_autoptr (GError) error = NULL;
  const char *const args[]
      = { "-a",   "daemon.example.org", "-p",   "-80",
          "-A",   "239.1.2.3",          "-P",   "65535",
          "-D",   "0",                  "-I",   "-1500",
          "--discovery-ttl",            "0",
          "--tcp-keepalive-time",       "-1",
          "--tcp-keepalive-intvl",      "32767",
          "--tcp-keepalive-probes=127",
          "--unicast-address=fd00::7",  /* the last one wins */
          NULL };
  const char *const more[]
      = { "--unicast-port",      "1",   "--multicast-port=-1",
          "--discovery-attempts", "-4", "--discovery-timeout=0",
          "--discovery-ttl=-255", "--multicast-address", "ff02::1",
          NULL };
  const char *const clear[] = { "-a", "", "--multicast-address=", NULL };
  const char *const lo[] = { "-n", "lo", NULL };
  const char *const lo_long[] = { "--network-interface=lo", NULL };
  const char *const no_iface[] = { "-n", "", NULL };
  g_autoptr (LatchConfig) config = latch_config_new ();

  g_assert_true (apply_args (args, config, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (config->unicast_address, ==, "fd00::7");
  g_assert_cmpint (config->unicast_port, ==, 80);        /* absolute */
  g_assert_cmpstr (config->multicast_address, ==, "239.1.2.3");
  g_assert_cmpint (config->multicast_port, ==, 65535);
  g_assert_cmpint (config->discovery_attempts, ==, 1);   /* 0 -> 1 */
  g_assert_cmpint (config->discovery_timeout, ==, 1500); /* absolute */
  g_assert_cmpint (config->discovery_ttl, ==, 1);        /* 0 -> 1 */
  g_assert_cmpint (config->tcp_keepalive_time, ==, 1);   /* absolute */
  g_assert_cmpint (config->tcp_keepalive_intvl, ==, 32767);
  g_assert_cmpint (config->tcp_keepalive_probes, ==, 127);
  g_assert_null (config->network_interface);

  g_assert_true (apply_args (more, config, &error));
  g_assert_no_error (error);
  g_assert_cmpint (config->unicast_port, ==, 1);
  g_assert_cmpint (config->multicast_port, ==, 1);
  g_assert_cmpint (config->discovery_attempts, ==, 4);
  g_assert_cmpint (config->discovery_timeout, ==, 0); /* 0 stays 0 */
  g_assert_cmpint (config->discovery_ttl, ==, 255);
  g_assert_cmpstr (config->multicast_address, ==, "ff02::1");
  g_assert_cmpstr (config->unicast_address, ==, "fd00::7");

  /* An empty address means none. */
  g_assert_true (apply_args (clear, config, &error));
  g_assert_no_error (error);
  g_assert_null (config->unicast_address);
  g_assert_null (config->multicast_address);

  if (!have_loopback ())
    return;
  g_assert_true (apply_args (lo, config, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (config->network_interface, ==, "lo");
  g_assert_true (apply_args (no_iface, config, &error));
  g_assert_no_error (error);
  g_assert_null (config->network_interface);
  g_assert_true (apply_args (lo_long, config, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (config->network_interface, ==, "lo");
}

static void
test_network_options_bad (void)
{
  static const OptionCase cases[] = {
    { { "-p", "0" },
      "-p/--unicast-port: port must be from 1 to 65535, not 0" },
    { { "-p", "65536" },
      "-p/--unicast-port: port must be from 1 to 65535, not 65536" },
    { { "-p", "-65536" },
      "-p/--unicast-port: port must be from 1 to 65535, not -65536" },
    { { "-p", "-2147483648" },
      "-p/--unicast-port: port must be from 1 to 65535, not -2147483648" },
    { { "-p", "80", "-p", "0" },
      "-p/--unicast-port: port must be from 1 to 65535, not 0" },
    { { "--unicast-port=http" },
      "-p/--unicast-port: 'http' is not an integer (port number, 1 to "
      "65535)" },
    { { "-P", "0" },
      "-P/--multicast-port: port must be from 1 to 65535, not 0" },
    { { "--multicast-port", "99999999999" },
      "-P/--multicast-port: '99999999999' is out of range (port number, 1 "
      "to 65535)" },
    { { "-D", "many" },
      "-D/--discovery-attempts: 'many' is not an integer (number of "
      "queries; 0 counts as 1)" },
    { { "-I", "1s" },
      "-I/--discovery-timeout: '1s' is not an integer (milliseconds)" },
    { { "--discovery-ttl", "256" },
      "--discovery-ttl: TTL must be from 1 to 255, not 256" },
    { { "--discovery-ttl=-256" },
      "--discovery-ttl: TTL must be from 1 to 255, not -256" },
    { { "--discovery-ttl", "one" },
      "--discovery-ttl: 'one' is not an integer (hops, 1 to 255; 0 counts "
      "as 1)" },
    { { "--tcp-keepalive-time", "0" },
      "--tcp-keepalive-time: keepalive time (seconds) must be from 1 to "
      "32767, not 0" },
    { { "--tcp-keepalive-time", "32768" },
      "--tcp-keepalive-time: keepalive time (seconds) must be from 1 to "
      "32767, not 32768" },
    { { "--tcp-keepalive-intvl", "0" },
      "--tcp-keepalive-intvl: keepalive interval (seconds) must be from 1 "
      "to 32767, not 0" },
    { { "--tcp-keepalive-intvl", "-40000" },
      "--tcp-keepalive-intvl: keepalive interval (seconds) must be from 1 "
      "to 32767, not -40000" },
    { { "--tcp-keepalive-probes", "0" },
      "--tcp-keepalive-probes: keepalive probes must be from 1 to 127, not "
      "0" },
    { { "--tcp-keepalive-probes", "128" },
      "--tcp-keepalive-probes: keepalive probes must be from 1 to 127, not "
      "128" },
    { { "--tcp-keepalive-probes", "" },
      "--tcp-keepalive-probes: '' is not an integer (number of probes)" },
    { { "--session-timeout", "-1" },
      "--session-timeout: session timeout (milliseconds) must be from 0 to "
      "600000, not -1" },
    { { "--session-timeout=600001" },
      "--session-timeout: session timeout (milliseconds) must be from 0 to "
      "600000, not 600001" },
    { { "--session-timeout", "2s" },
      "--session-timeout: '2s' is not an integer (milliseconds, 0 to 600000; "
      "0 means none)" },
    { { "--agent", "maybe" },
      "--agent: 'maybe' is not yes or no (accepted: yes, no, y, n, true, "
      "false, 1, 0)" },
    { { "-n", "latch-no-such0" },
      "-n/--network-interface: no network interface named 'latch-no-such0' "
      "on this host" },
    { { "--network-interface=eth\x01" },
      "-n/--network-interface: no network interface named 'eth\\x01' on "
      "this host" },
    /* Longer than IFNAMSIZ. */
    { { "-n", "an-interface-name-far-too-long-for-linux" },
      "-n/--network-interface: no network interface named "
      "'an-interface-name-far-too-long-for-linux' on this host" },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (LatchConfig) config = latch_config_new ();
      g_autoptr (GError) error = NULL;

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, cases[i].message);
      g_assert_false (apply_args (cases[i].args, config, &error));
      g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION);
      g_assert_cmpstr (error->message, ==, cases[i].message);
      assert_defaults (config);
    }
}

static void
test_network_file_bad (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  static const FileCase cases[] = {
    { "[Daemon]\nUnicastPort=0\n",
      "2: [Daemon] UnicastPort: port must be from 1 to 65535, not 0",
      LATCH_ERROR_INVALID_OPTION },
    { "[Daemon]\nUnicastPort=\n",
      "2: [Daemon] UnicastPort: '' is not an integer (port number, 1 to "
      "65535)",
      LATCH_ERROR_INVALID_OPTION },
    { "[Daemon]\nUnicastAddress=10.0.0.1\nMulticastPort=-70000\n",
      "3: [Daemon] MulticastPort: port must be from 1 to 65535, not -70000",
      LATCH_ERROR_INVALID_OPTION },
    { "[Network]\nDiscoveryAttempts=twice\n",
      "2: [Network] DiscoveryAttempts: 'twice' is not an integer (number of "
      "queries; 0 counts as 1)",
      LATCH_ERROR_INVALID_OPTION },
    { "[Network]\nDiscoveryTimeout=0.5\n",
      "2: [Network] DiscoveryTimeout: '0.5' is not an integer (milliseconds)",
      LATCH_ERROR_INVALID_OPTION },
    { "[Network]\nDiscoveryTTL=300\n",
      "2: [Network] DiscoveryTTL: TTL must be from 1 to 255, not 300",
      LATCH_ERROR_INVALID_OPTION },
    { "[Network]\nTcpKeepaliveTime=0\n",
      "2: [Network] TcpKeepaliveTime: keepalive time (seconds) must be from "
      "1 to 32767, not 0",
      LATCH_ERROR_INVALID_OPTION },
    { "[Network]\nTcpKeepaliveIntvl=0\n",
      "2: [Network] TcpKeepaliveIntvl: keepalive interval (seconds) must be "
      "from 1 to 32767, not 0",
      LATCH_ERROR_INVALID_OPTION },
    { "[Network]\nTcpKeepaliveProbes=-200\n",
      "2: [Network] TcpKeepaliveProbes: keepalive probes must be from 1 to "
      "127, not -200",
      LATCH_ERROR_INVALID_OPTION },
    { "[Network]\nNetworkInterface=latch-no-such0\n",
      "2: [Network] NetworkInterface: no network interface named "
      "'latch-no-such0' on this host",
      LATCH_ERROR_INVALID_OPTION },
  };

  check_file_cases (f, cases, G_N_ELEMENTS (cases));
}

static void
test_network_interface (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *lo
      = write_file (f, "lo.conf", "[Network]\nNetworkInterface=lo\n");
  g_autofree char *none
      = write_file (f, "none.conf", "[Network]\nNetworkInterface=\n");

  if (!have_loopback ())
    return;
  g_assert_true (latch_config_load_file (config, lo, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (config->network_interface, ==, "lo");
  g_assert_true (latch_config_validate (config, &error));
  g_assert_no_error (error);
  g_assert_true (latch_config_load_file (config, none, TRUE, &error));
  g_assert_no_error (error);
  g_assert_null (config->network_interface);

  /* Set by code, the name is checked by the validation. */
  config->network_interface = g_strdup ("latch-no-such0");
  g_assert_false (latch_config_validate (config, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION);
  g_assert_cmpstr (error->message, ==,
                   "no network interface named 'latch-no-such0' on this "
                   "host");
}

#define SOCKET_AND_ADDRESS_MESSAGE                                           \
  "-s/--socket-name cannot be combined with -a/--unicast-address or "        \
  "-A/--multicast-address: a daemon is reached either by a local socket or " \
  "over the network"

static void
assert_socket_and_address_refused (const LatchConfig *config)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (latch_config_validate (config, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION);
  g_assert_cmpstr (error->message, ==, SOCKET_AND_ADDRESS_MESSAGE);
}

static void
test_validate_socket_and_address (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  static const char *const refused[][7] = {
    { "-s", "/tmp/s", "-a", "10.0.0.1" },
    { "-s", "/tmp/s", "-A", "224.0.0.1" },
    { "--unicast-address=h", "--socket-name", "/tmp/s", "-A", "m" },
  };
  static const char *const accepted[][7] = {
    { "-a", "10.0.0.1", "-A", "224.0.0.1" },
    { "-s", "/tmp/s" },
    { "-s", "", "-a", "10.0.0.1" }, /* "" is the default socket */
    { "-s", "/tmp/s", "-a", "" },
  };
  g_autofree char *socket_file
      = write_file (f, "socket.conf", "[Daemon]\nSocketName=/tmp/s\n");
  g_autofree char *both_file = write_file (
      f, "both.conf",
      "[Daemon]\nSocketName=/tmp/s\nMulticastAddress=224.0.0.1\n");
  g_autofree char *address_file
      = write_file (f, "address.conf", "[Daemon]\nUnicastAddress=h\n");
  g_autofree char *missing = missing_path (f, "missing.conf");
  const char *const add_address[] = { "-A", "224.0.0.1", NULL };
  const char *const clear_socket[] = { "-s", "", NULL };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr (LatchConfig) config = latch_config_new ();
      g_autoptr (GError) error = NULL;

      g_test_message ("refused %" G_GSIZE_FORMAT, i);
      g_assert_true (apply_args (refused[i], config, &error));
      g_assert_no_error (error);
      assert_socket_and_address_refused (config);
    }
  for (i = 0; i < G_N_ELEMENTS (accepted); i++)
    {
      g_autoptr (LatchConfig) config = latch_config_new ();
      g_autoptr (GError) error = NULL;

      g_test_message ("accepted %" G_GSIZE_FORMAT, i);
      g_assert_true (apply_args (accepted[i], config, &error));
      g_assert_no_error (error);
      g_assert_true (latch_config_validate (config, &error));
      g_assert_no_error (error);
    }

  /* From one file, from two files, from a file and the command line. */
  {
    g_autoptr (LatchConfig) config = latch_config_new ();
    g_autoptr (GError) error = NULL;

    g_assert_true (latch_config_load_file (config, both_file, TRUE, &error));
    g_assert_no_error (error);
    assert_socket_and_address_refused (config);
  }
  {
    g_autoptr (LatchConfig) config = latch_config_new ();
    g_autoptr (GError) error = NULL;

    g_assert_true (latch_config_load_files (config, socket_file, missing,
                                            address_file, &error));
    g_assert_no_error (error);
    assert_socket_and_address_refused (config);
  }
  {
    g_autoptr (LatchConfig) config = latch_config_new ();
    g_autoptr (GError) error = NULL;

    g_assert_true (latch_config_load_file (config, socket_file, TRUE, &error));
    g_assert_no_error (error);
    g_assert_true (latch_config_validate (config, &error));
    g_assert_no_error (error);
    g_assert_true (apply_args (add_address, config, &error));
    g_assert_no_error (error);
    assert_socket_and_address_refused (config);
    /* The command line can undo the file's socket name. */
    g_assert_true (apply_args (clear_socket, config, &error));
    g_assert_no_error (error);
    g_assert_true (latch_config_validate (config, &error));
    g_assert_no_error (error);
  }
}

/* Validation */

static void
test_validate (void)
{
  g_autoptr (LatchConfig) config = latch_config_new ();
  g_autoptr (GError) error = NULL;

  /* "_RESOURCE" is fine as the default. */
  g_assert_true (latch_config_validate (config, &error));
  g_assert_no_error (error);

  config->socket_name = g_strnfill (107, 'a');
  g_assert_true (latch_config_validate (config, &error));
  g_assert_no_error (error);
  g_free (config->socket_name);
  config->socket_name = g_strnfill (130, 'a');
  g_assert_false (latch_config_validate (config, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION);
  g_assert_true (g_str_has_prefix (error->message, "socket name 'aaaa"));
  g_assert_nonnull (strstr (error->message,
                            "' is 130 bytes long; a UNIX socket path can have "
                            "at most 107 bytes"));
  g_clear_error (&error);
  g_clear_pointer (&config->socket_name, g_free);

  g_free (config->resource_name);
  config->resource_name = g_strdup ("no good");
  g_assert_false (latch_config_validate (config, &error));
  g_assert_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME);
  g_assert_true (g_str_has_prefix (error->message,
                                   "invalid resource name 'no good'"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD_F(path, func)                                                    \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  g_test_add_func ("/config/defaults", test_defaults);
  g_test_add_func ("/config/table/consistent", test_table_consistent);
  g_test_add_func ("/config/grammar/bool", test_grammar_bool);
  g_test_add_func ("/config/grammar/lock-mode", test_grammar_lock_mode);
  g_test_add_func ("/config/grammar/int", test_grammar_int);
  g_test_add_func ("/config/grammar/signal", test_grammar_signal);
  g_test_add_func ("/config/signal-list", test_signal_list);
  g_test_add_func ("/config/dump/defaults", test_dump_defaults);
  ADD_F ("/config/dump/sample", test_dump_sample);
  ADD_F ("/config/file/all-keys", test_file_all_keys);
  ADD_F ("/config/file/missing-group-fine", test_file_missing_group_fine);
  ADD_F ("/config/file/empty-values", test_file_empty_values);
  ADD_F ("/config/file/duplicates", test_file_duplicates);
  ADD_F ("/config/file/bad-values", test_file_bad_values);
  ADD_F ("/config/file/bad-resource-name", test_file_bad_resource_name);
  ADD_F ("/config/file/socket-name-length", test_file_socket_name_length);
  ADD_F ("/config/file/malformed", test_file_malformed);
  ADD_F ("/config/file/nul-byte", test_file_nul_byte);
  ADD_F ("/config/file/unknown", test_file_unknown);
  ADD_F ("/config/file/unsupported", test_file_unsupported);
  ADD_F ("/config/file/missing-and-unreadable",
         test_file_missing_and_unreadable);
  ADD_F ("/config/file/too-large", test_file_too_large);
  ADD_F ("/config/file/scan-covers-gkeyfile", test_file_scan_covers_gkeyfile);
  ADD_F ("/config/precedence/files", test_precedence_files);
  ADD_F ("/config/precedence/all-or-nothing", test_precedence_all_or_nothing);
  ADD_F ("/config/precedence/home", test_precedence_home);
  ADD_F ("/config/precedence/cmdline-beats-file-even-at-default",
         test_precedence_cmdline_beats_file_even_at_default);
  ADD_F ("/config/precedence/ignore-signal-replaces",
         test_precedence_ignore_signal_replaces);
  ADD_F ("/config/precedence/verbose-flag", test_precedence_verbose_flag);
  g_test_add_func ("/config/options/command", test_options_command);
  g_test_add_func ("/config/options/flags", test_options_flags);
  g_test_add_func ("/config/options/values", test_options_values);
  g_test_add_func ("/config/options/negative-value",
                   test_options_negative_value);
  g_test_add_func ("/config/options/bad-values", test_options_bad_values);
  g_test_add_func ("/config/options/bad-resource-name",
                   test_options_bad_resource_name);
  g_test_add_func ("/config/options/parse-errors", test_options_parse_errors);
  g_test_add_func ("/config/options/extra-entries",
                   test_options_extra_entries);
  g_test_add_func ("/config/options/daemon-table", test_options_daemon_table);
  g_test_add_func ("/config/daemon-args/round-trip", test_daemon_args_round_trip);
  ADD_F ("/config/daemon-args/every-setting", test_daemon_args_every_setting);
  g_test_add_func ("/config/options/apply-without-parse",
                   test_options_apply_without_parse);
  g_test_add_func ("/config/validate", test_validate);
  g_test_add_func ("/config/network/options", test_network_options);
  g_test_add_func ("/config/network/options-bad", test_network_options_bad);
  ADD_F ("/config/network/file-bad", test_network_file_bad);
  ADD_F ("/config/network/interface", test_network_interface);
  ADD_F ("/config/validate/socket-and-address",
         test_validate_socket_and_address);

  return g_test_run ();
}
