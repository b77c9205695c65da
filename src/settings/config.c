/* config.c: the settings table, value grammars, configuration files and
 * the verbose dump.  The command line is in options.c. */

#include "config.h"

#include "settings/settings.h"
#include "settings/settings-table.h"

#include "common/autocleanup.h"
#include "common/error.h"
#include "common/file.h"
#include "common/text.h"
#include "common/util.h"
#include "locker/locker.h" /* the daemon's default limits */
#include "locker/rsrc-name.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

#define SYSTEM_CONFIG_FILE SYSCONFDIR "/latch.conf"
#define USER_CONFIG_FILE ".latch"

/* A configuration file is small; anything larger is a mistake. */
#define MAX_FILE_SIZE (1024 * 1024)

/* Longest text of a value or line quoted in an error message. */
#define MAX_QUOTED 120

#define SUN_PATH_SIZE G_SIZEOF_MEMBER (struct sockaddr_un, sun_path)

/* FLoM's TCP and UDP port (latch.h's constant, as the table's text). */
#define DEFAULT_PORT G_STRINGIFY (LATCH_DEFAULT_PORT)

/* Linux's limits for TCP_KEEPIDLE, TCP_KEEPINTVL (MAX_TCP_KEEPIDLE,
 * MAX_TCP_KEEPINTVL) and TCP_KEEPCNT (MAX_TCP_KEEPCNT): setsockopt()
 * refuses more, which would only show once the daemon runs. */
#define MAX_KEEPALIVE_SECONDS 32767
#define MAX_KEEPALIVE_PROBES 127

static gboolean check_resource_name (LatchSettingValue *value,
                                     GError **error);
static gboolean check_quantity (LatchSettingValue *value, GError **error);
static gboolean check_absolute (LatchSettingValue *value, GError **error);
static gboolean check_socket_name (LatchSettingValue *value, GError **error);
static gboolean check_port (LatchSettingValue *value, GError **error);
static gboolean check_network_interface (LatchSettingValue *value,
                                         GError **error);
static gboolean check_discovery_attempts (LatchSettingValue *value,
                                          GError **error);
static gboolean check_discovery_ttl (LatchSettingValue *value,
                                     GError **error);
static gboolean check_keepalive_time (LatchSettingValue *value,
                                      GError **error);
static gboolean check_keepalive_intvl (LatchSettingValue *value,
                                       GError **error);
static gboolean check_keepalive_probes (LatchSettingValue *value,
                                        GError **error);
static gboolean check_session_timeout (LatchSettingValue *value,
                                       GError **error);
static gboolean check_tls_file (LatchSettingValue *value, GError **error);
static gboolean check_log_target (LatchSettingValue *value, GError **error);
static gboolean check_etcd_endpoints (LatchSettingValue *value, GError **error);
static gboolean check_lease_ttl (LatchSettingValue *value, GError **error);
static gboolean check_etcd_prefix (LatchSettingValue *value, GError **error);
static gboolean check_wait_notice (LatchSettingValue *value, GError **error);
static gboolean check_group_name (LatchSettingValue *value, GError **error);
static gboolean check_security_level (LatchSettingValue *value,
                                      GError **error);

#define FIELD(member) G_STRUCT_OFFSET (LatchConfig, member)
#define UNSUPPORTED(short_name, long_name, group, key)                       \
  {                                                                          \
    short_name, long_name, group, key, LATCH_SETTING_UNSUPPORTED, -1, NULL,  \
        NULL, NULL, NULL, NULL, FALSE                                        \
  }

/* FLoM's order: the verbose dump (-V) prints the rows in this order.
 * Columns: option letter, long option, group, key, kind, field, default,
 * check, --help argument, --help text, meaning of an integer, whether
 * latchd takes it (a daemon setting). */
const LatchSetting latch_settings[] = {
  { 't', "daemon-trace-file", "Trace", "DaemonTraceFile", LATCH_SETTING_PATH,
    FIELD (daemon_trace_file), NULL, NULL, "FILE",
    "Trace file of the daemon (give an absolute path)", NULL, TRUE },
  { 'T', "command-trace-file", "Trace", "CommandTraceFile", LATCH_SETTING_PATH,
    FIELD (command_trace_file), NULL, NULL, "FILE",
    "Trace file of this command", NULL, FALSE },
  { 0, "append-trace-file", "Trace", "AppendTraceFile", LATCH_SETTING_BOOL,
    FIELD (append_trace_file), "no", NULL, "yes|no",
    "Append to the trace files instead of truncating them", NULL, TRUE },
  { 'V', "verbose", "Trace", "Verbose", LATCH_SETTING_FLAG, FIELD (verbose),
    "no", NULL, NULL, "Print the configuration and more messages", NULL, TRUE },
  { 0, "quiet", "Trace", "Quiet", LATCH_SETTING_FLAG, FIELD (quiet), "no",
    NULL, NULL,
    "Print no notices (e.g. that a name with dots is taken as a set), only "
    "errors", NULL, FALSE },
  { 0, "log-target", "Trace", "LogTarget", LATCH_SETTING_STRING,
    FIELD (log_target), "auto", check_log_target, "auto|stderr|journal|syslog",
    "Where the daemon logs without a trace file: auto = the journal under "
    "systemd, stderr in the foreground, syslog once in the background",
    NULL, TRUE },
  { 'r', "resource-name", "Resource", "Name", LATCH_SETTING_STRING,
    FIELD (resource_name), LATCH_DEFAULT_RESOURCE_NAME, check_resource_name,
    "NAME", "Resource to lock", NULL, FALSE },
  { 'o', "resource-timeout", "Resource", "Timeout", LATCH_SETTING_INT,
    FIELD (resource_timeout), "-1", NULL, "MS",
    "How long to wait for the lock, in milliseconds; <0 forever, 0 no wait",
    "milliseconds; -1 waits forever, 0 does not wait", FALSE },
  { 'q', "resource-quantity", "Resource", "Quantity", LATCH_SETTING_INT,
    FIELD (resource_quantity), "1", check_quantity, "N",
    "Units of a numeric resource to lock", "number of units, 1 or more", FALSE },
  { 'l', "lock-mode", "Resource", "LockMode", LATCH_SETTING_LOCK_MODE,
    FIELD (lock_mode), "EX", NULL, "MODE",
    "Lock mode: NL, CR, CW, PR, PW or EX", NULL, FALSE },
  { 'e', "resource-create", "Resource", "Create", LATCH_SETTING_BOOL,
    FIELD (resource_create), "yes", NULL, "yes|no",
    "Whether this request may create the resource", NULL, FALSE },
  { 'i', "resource-idle-lifespan", "Resource", "IdleLifespan",
    LATCH_SETTING_INT, FIELD (resource_idle_lifespan), "0", check_absolute,
    "MS", "Keep the resource this long after its last use, in milliseconds",
    "milliseconds", FALSE },
  { 0, "wait-notice", "Resource", "WaitNotice", LATCH_SETTING_INT,
    FIELD (wait_notice), "1000", check_wait_notice, "MS",
    "Say on stderr what the command waits for once it has waited this many "
    "milliseconds; 0 never", "milliseconds, 0 or more; 0 means never", FALSE },
  { 's', "socket-name", "Daemon", "SocketName", LATCH_SETTING_PATH,
    FIELD (socket_name), NULL, check_socket_name, "PATH",
    "UNIX socket of the daemon (default: one per user)", NULL, TRUE },
  { 0, "system", "Daemon", "System", LATCH_SETTING_FLAG, FIELD (system), "no",
    NULL, NULL,
    "Use (latchd: be) the host's daemon, on " LATCH_SYSTEM_SOCKET
    " unless -s names another socket; never started by a command",
    NULL, TRUE },
  { 0, "system-group", "Daemon", "SystemGroup", LATCH_SETTING_STRING,
    FIELD (system_group), "latch", check_group_name, "GROUP",
    "The group whose members may use the host's daemon (its socket "
    "directory is root's and this group's, mode 0750)", NULL, TRUE },
  { 0, "metrics-address", "Daemon", "MetricsAddress", LATCH_SETTING_PATH,
    FIELD (metrics_address), NULL, NULL, "ADDR:PORT",
    "Serve the daemon's metrics over HTTP (Prometheus text) on this local "
    "address; default off", NULL, TRUE },
  { 'd', "daemon-lifespan", "Daemon", "Lifespan", LATCH_SETTING_INT,
    FIELD (daemon_lifespan), G_STRINGIFY (LATCH_DEFAULT_DAEMON_LIFESPAN),
    NULL, "MS",
    "How long an idle daemon lives, in milliseconds; <0 forever, 0 never "
    "start one",
    "milliseconds; -1 keeps it forever, 0 never starts a daemon", TRUE },
  /* Addresses are not resolved here (FLoM neither): resolution belongs
   * to connecting, and a name may resolve differently by then. */
  { 'a', "unicast-address", "Daemon", "UnicastAddress", LATCH_SETTING_PATH,
    FIELD (unicast_address), NULL, NULL, "ADDR",
    "Reach the daemon over TCP at this address (name, IPv4 or IPv6)", NULL, TRUE },
  { 'p', "unicast-port", "Daemon", "UnicastPort", LATCH_SETTING_INT,
    FIELD (unicast_port), DEFAULT_PORT, check_port, "PORT",
    "TCP port of the daemon", "port number, 1 to 65535", TRUE },
  { 'A', "multicast-address", "Daemon", "MulticastAddress",
    LATCH_SETTING_PATH, FIELD (multicast_address), NULL, NULL, "ADDR",
    "Find the daemon by UDP multicast to this group (IPv4 or IPv6)", NULL, TRUE },
  { 'P', "multicast-port", "Daemon", "MulticastPort", LATCH_SETTING_INT,
    FIELD (multicast_port), DEFAULT_PORT, check_port, "PORT",
    "UDP port of the multicast discovery", "port number, 1 to 65535", TRUE },
  UNSUPPORTED ('m', "mount-point-vfs", "Daemon", "MountPointVFS"),
  /* Groups end with latch's own keys, after FLoM's. */
  { 0, "idle-lifespan-min", "Daemon", "IdleLifespanMin", LATCH_SETTING_INT,
    FIELD (idle_lifespan_min), G_STRINGIFY (LATCH_DEFAULT_IDLE_LIFESPAN_MIN),
    check_absolute, "MS",
    "Daemon: keep every idle resource (its counter, rotation, stamps) at "
    "least this long, in milliseconds, whatever its -i",
    "milliseconds", TRUE },
  { 0, "idle-lifespan-max", "Daemon", "IdleLifespanMax", LATCH_SETTING_INT,
    FIELD (idle_lifespan_max), G_STRINGIFY (LATCH_LOCKER_DEFAULT_MAX_IDLE_LIFESPAN),
    check_absolute, "MS",
    "Daemon: refuse a request whose -i is longer than this, in milliseconds; "
    "0 no limit", "milliseconds; 0 means no limit", TRUE },
  { 0, "max-resources", "Daemon", "MaxResources", LATCH_SETTING_INT,
    FIELD (max_resources), G_STRINGIFY (LATCH_LOCKER_DEFAULT_MAX_RESOURCES),
    check_absolute, "N",
    "Daemon: refuse to create a resource while this many exist (idle ones "
    "included); 0 no limit", "number of resources; 0 means no limit", TRUE },
  { 0, "max-locks", "Daemon", "MaxLocksPerConnection",
    LATCH_SETTING_INT, FIELD (max_locks_per_connection),
    G_STRINGIFY (LATCH_LOCKER_DEFAULT_MAX_LOCKS), check_absolute, "N",
    "Daemon: refuse a lock request on a connection that holds or asks for "
    "this many; 0 no limit", "number of locks; 0 means no limit", TRUE },
  { 0, "max-waiters", "Daemon", "MaxWaitersPerResource",
    LATCH_SETTING_INT, FIELD (max_waiters_per_resource),
    G_STRINGIFY (LATCH_LOCKER_DEFAULT_MAX_WAITERS), check_absolute, "N",
    "Daemon: refuse to queue a request for a resource with this many "
    "waiting; 0 no limit", "number of waiters; 0 means no limit", TRUE },
  { 0, "ignore-signal", "Monitor", "IgnoredSignals", LATCH_SETTING_SIGNALS,
    FIELD (ignored_signals), NULL, NULL, "SIGNAL",
    "Signal to ignore while the command runs (repeatable; see --signal-list)",
    NULL, FALSE },
  { 0, "kill-grace", "Monitor", "KillGrace", LATCH_SETTING_INT,
    FIELD (kill_grace), G_STRINGIFY (LATCH_DEFAULT_KILL_GRACE), check_absolute, "MS",
    "When the lock is lost, how long the command may take to end after "
    "SIGTERM before its process group gets SIGKILL, in milliseconds",
    "milliseconds", FALSE },
  { 'n', "network-interface", "Network", "NetworkInterface",
    LATCH_SETTING_PATH, FIELD (network_interface), NULL,
    check_network_interface, "IFACE",
    "Network interface for IPv6 link-local addresses", NULL, TRUE },
  { 'D', "discovery-attempts", "Network", "DiscoveryAttempts",
    LATCH_SETTING_INT, FIELD (discovery_attempts), "2",
    check_discovery_attempts, "N", "How many discovery queries to send",
    "number of queries; 0 counts as 1", FALSE },
  { 'I', "discovery-timeout", "Network", "DiscoveryTimeout",
    LATCH_SETTING_INT, FIELD (discovery_timeout), "500", check_absolute,
    "MS",
    "How long to wait for an answer to each discovery query, in "
    "milliseconds",
    "milliseconds", FALSE },
  { 0, "discovery-ttl", "Network", "DiscoveryTTL", LATCH_SETTING_INT,
    FIELD (discovery_ttl), "1", check_discovery_ttl, "N",
    "Multicast TTL (hop limit) of the discovery queries",
    "hops, 1 to 255; 0 counts as 1", TRUE },
  { 0, "tcp-keepalive-time", "Network", "TcpKeepaliveTime",
    LATCH_SETTING_INT, FIELD (tcp_keepalive_time), "60",
    check_keepalive_time, "S",
    "Idle seconds before the daemon's TCP keepalive probes start",
    "seconds", TRUE },
  { 0, "tcp-keepalive-intvl", "Network", "TcpKeepaliveIntvl",
    LATCH_SETTING_INT, FIELD (tcp_keepalive_intvl), "10",
    check_keepalive_intvl, "S", "Seconds between TCP keepalive probes",
    "seconds", TRUE },
  { 0, "tcp-keepalive-probes", "Network", "TcpKeepaliveProbes",
    LATCH_SETTING_INT, FIELD (tcp_keepalive_probes), "6",
    check_keepalive_probes, "N",
    "Unanswered TCP keepalive probes before the daemon drops a connection",
    "number of probes", TRUE },
  /* latch's own: the local agent (latchd --agent) that holds one
   * session per upstream daemon for this host's commands. */
  { 0, "agent", "Network", "Agent", LATCH_SETTING_BOOL, FIELD (agent), "yes",
    NULL, "yes|no",
    "Reach a daemon given by -a (or found with -A) through this host's "
    "agent, a local latchd holding one session to it; no: connect directly",
    NULL, FALSE },
  { 0, "session-timeout", "Network", "SessionTimeout", LATCH_SETTING_INT,
    FIELD (session_timeout), "2000", check_session_timeout, "MS",
    "A session's silence after which either end gives it up (pings keep it "
    "alive), in milliseconds; 0 none",
    "milliseconds, 0 to 600000; 0 means none", TRUE },
  /* latch's own: the lock table on an etcd cluster (latchd's table
   * backend, table/table-etcd.c).  Daemon settings: a command passes
   * them to the daemon it starts, which is one per cluster setting. */
  { 0, "etcd-endpoints", "Cluster", "EtcdEndpoints", LATCH_SETTING_STRING,
    FIELD (etcd_endpoints), NULL, check_etcd_endpoints, "URL,...",
    "Keep the lock table on this etcd cluster (http:// or https://HOST:PORT, "
    "comma-separated); default: in the daemon's memory", NULL, TRUE },
  { 0, "lease-ttl", "Cluster", "LeaseTtl", LATCH_SETTING_INT,
    FIELD (lease_ttl), "10", check_lease_ttl, "S",
    "Seconds after which etcd releases the locks of a daemon it has not "
    "heard from", "seconds, 2 to 3600", TRUE },
  { 0, "etcd-prefix", "Cluster", "Prefix", LATCH_SETTING_STRING,
    FIELD (etcd_prefix), "/latch/", check_etcd_prefix, "PREFIX",
    "Where in etcd's key space the lock table lives", NULL, TRUE },
  /* TLS file paths are made absolute where they are read (FLoM: relative
   * to the working directory, config files too): the daemon runs in /. */
  { 0, "tls-certificate", "TLS", "TlsCertificate", LATCH_SETTING_PATH,
    FIELD (tls_certificate), NULL, check_tls_file, "FILE",
    "This node's certificate (PEM; its chain may follow it)", NULL, TRUE },
  { 0, "tls-private-key", "TLS", "TlsPrivateKey", LATCH_SETTING_PATH,
    FIELD (tls_private_key), NULL, check_tls_file, "FILE",
    "The certificate's private key (PEM, unencrypted, mode 600)", NULL, TRUE },
  { 0, "tls-ca-certificate", "TLS", "TlsCaCertificate", LATCH_SETTING_PATH,
    FIELD (tls_ca_certificate), NULL, check_tls_file, "FILE",
    "Certificate(s) of the CA that signs every node's certificate (PEM)",
    NULL, TRUE },
  { 0, "tls-check-peer-id", "TLS", "TlsCheckPeerId", LATCH_SETTING_BOOL,
    FIELD (tls_check_peer_id), "no", NULL, "yes|no",
    "Mutual authentication: each peer's announced machine ID must be its "
    "certificate's CN", NULL, TRUE },
  { 0, "tls-crl", "TLS", "TlsCrl", LATCH_SETTING_PATH, FIELD (tls_crl), NULL,
    check_tls_file, "FILE",
    "Certificate revocation list of the CA (PEM), checked at every handshake",
    NULL, TRUE },
  { 0, "tls-priority", "TLS", "TlsPriority", LATCH_SETTING_PATH,
    FIELD (tls_priority), NULL, NULL, "STRING",
    "GnuTLS priority string (versions and ciphers; default: TLS 1.3/1.2, "
    "AEAD only, AES-256-GCM first)", NULL, TRUE },
  { 0, "security-level", "TLS", "SecurityLevel", LATCH_SETTING_PATH,
    FIELD (security_level), NULL, check_security_level,
    "clear|channel|mutual",
    "Required security level (default: decided by the TLS files)", NULL, TRUE },
  { 0, "tls-allowed-peers", "TLS", "TlsAllowedPeers", LATCH_SETTING_PATH,
    FIELD (tls_allowed_peers), NULL, check_tls_file, "FILE",
    "Daemon: only these machine IDs may connect (one per line; mutual level)",
    NULL, TRUE },
  { 0, "tls-require-client-cert", "TLS", "TlsRequireClientCertificate",
    LATCH_SETTING_BOOL, FIELD (tls_require_client_cert), "yes", NULL,
    "yes|no",
    "Daemon: require a certificate from every client (channel level may "
    "say no)", NULL, TRUE },
};

const gsize latch_n_settings = G_N_ELEMENTS (latch_settings);

/* FLoM's table, Linux numbering; index = signal number. */
static const char *const signal_names[] = {
  NULL,      "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",    "SIGTRAP",
  "SIGABRT", "SIGBUS",  "SIGFPE",    "SIGKILL", "SIGUSR1",   "SIGSEGV",
  "SIGUSR2", "SIGPIPE", "SIGALRM",   "SIGTERM", "SIGSTKFLT", "SIGCHLD",
  "SIGCONT", "SIGSTOP", "SIGTSTP",   "SIGTTIN", "SIGTTOU",   "SIGURG",
  "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH",  "SIGIO",
  "SIGPWR",  "SIGSYS",
};
#define MAX_SIGNAL 31
G_STATIC_ASSERT (G_N_ELEMENTS (signal_names) == MAX_SIGNAL + 1);

/* Index = LatchLockMode. */
static const char *const lock_mode_short[] = { "NL", "CR", "CW",
                                               "PR", "PW", "EX" };
static const char *const lock_mode_long[]
    = { "NullLock",      "ConcurrentRead", "ConcurrentWrite",
        "ProtectedRead", "ProtectedWrite", "Exclusive" };
G_STATIC_ASSERT (G_N_ELEMENTS (lock_mode_short) == LATCH_LOCK_MODE_EX + 1);

/* Value grammars */

gboolean
latch_parse_bool (const char *text, gboolean *out)
{
  static const struct
  {
    const char *word;
    gboolean value;
  } words[] = {
    { "yes", TRUE },  { "no", FALSE },    { "y", TRUE }, { "n", FALSE },
    { "true", TRUE }, { "false", FALSE }, { "1", TRUE }, { "0", FALSE },
  };
  g_autofree char *word = NULL;
  gsize i;

  if (text == NULL)
    return FALSE;
  word = g_strstrip (g_strdup (text));
  for (i = 0; i < G_N_ELEMENTS (words); i++)
    if (g_ascii_strcasecmp (word, words[i].word) == 0)
      {
        *out = words[i].value;
        return TRUE;
      }
  return FALSE;
}

gboolean
latch_parse_lock_mode (const char *text, LatchLockMode *out)
{
  g_autofree char *word = NULL;
  int mode;

  if (text == NULL)
    return FALSE;
  word = g_strstrip (g_strdup (text));
  for (mode = LATCH_LOCK_MODE_NL; mode <= LATCH_LOCK_MODE_EX; mode++)
    if (g_ascii_strcasecmp (word, lock_mode_short[mode]) == 0
        || g_ascii_strcasecmp (word, lock_mode_long[mode]) == 0)
      {
        *out = (LatchLockMode) mode;
        return TRUE;
      }
  return FALSE;
}

gboolean
latch_parse_int (const char *text, int *out)
{
  g_autofree char *word = NULL;
  char *end = NULL;
  gint64 value;

  if (text == NULL)
    return FALSE;
  word = g_strstrip (g_strdup (text));
  /* g_ascii_strtoll would skip blanks after a sign ("- 5"). */
  if (!g_ascii_isdigit (word[0])
      && !((word[0] == '-' || word[0] == '+') && g_ascii_isdigit (word[1])))
    return FALSE;
  errno = 0;
  value = g_ascii_strtoll (word, &end, 10);
  if (errno != 0 || *end != '\0' || value < G_MININT || value > G_MAXINT)
    return FALSE;
  *out = (int) value;
  return TRUE;
}

int
latch_signal_from_string (const char *text)
{
  g_autofree char *word = NULL;
  int signo;

  if (text == NULL)
    return 0;
  if (latch_parse_int (text, &signo))
    return signo >= 1 && signo <= MAX_SIGNAL ? signo : 0;
  word = g_strstrip (g_strdup (text));
  for (signo = 1; signo <= MAX_SIGNAL; signo++)
    if (strcmp (word, signal_names[signo]) == 0)
      return signo;
  return 0;
}

const char *
latch_signal_name (int signo)
{
  if (signo < 1 || signo > MAX_SIGNAL)
    return NULL;
  return signal_names[signo];
}

const char *
latch_lock_mode_name (LatchLockMode mode)
{
  if ((int) mode < LATCH_LOCK_MODE_NL || mode > LATCH_LOCK_MODE_EX)
    return NULL;
  return lock_mode_short[mode];
}

/* FLoM's layout, trailing tabs included. */
void
latch_signal_list (GString *out)
{
  int signo;

  for (signo = 1; signo <= MAX_SIGNAL; signo++)
    {
      g_string_append_printf (out, "%d) %s\t", signo, signal_names[signo]);
      if (signo % 4 == 0)
        g_string_append_c (out, '\n');
    }
  g_string_append_c (out, '\n');
}

/* Setting values */

static gboolean
is_string_kind (LatchSettingKind kind)
{
  return kind == LATCH_SETTING_STRING || kind == LATCH_SETTING_PATH;
}

static gboolean
looks_like_number (const char *text)
{
  g_autofree char *word = g_strstrip (g_strdup (text));
  const char *p = word;

  if (*p == '-' || *p == '+')
    p++;
  if (*p == '\0')
    return FALSE;
  for (; *p != '\0'; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  return TRUE;
}

static gboolean
parse_signal (const char *text, int *signo_out, GError **error)
{
  g_autofree char *quoted = NULL;
  int signo = latch_signal_from_string (text);

  if (signo == 0)
    {
      quoted = latch_text_quote (text, -1, MAX_QUOTED, LATCH_QUOTE_DEFAULT);
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "%s is not a signal (a number from 1 to %d or a name "
                   "such as SIGTERM; see --signal-list)",
                   quoted, MAX_SIGNAL);
      return FALSE;
    }
  if (strcmp (signal_names[signo], "SIGKILL") == 0
      || strcmp (signal_names[signo], "SIGSTOP") == 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "%s cannot be ignored", signal_names[signo]);
      return FALSE;
    }
  *signo_out = signo;
  return TRUE;
}

/* The grammar of the row's kind, without the row's check. */
static gboolean
parse_value (const LatchSetting *setting, const char *text,
             LatchSettingValue *out, GError **error)
{
  LatchSettingValue value = { 0 };
  g_autofree char *quoted = NULL;
  gboolean flag;
  LatchLockMode mode;
  int signo;

  g_return_val_if_fail (text != NULL || setting->kind == LATCH_SETTING_FLAG,
                        FALSE);

  switch (setting->kind)
    {
    case LATCH_SETTING_STRING:
      value.str = g_strdup (text);
      break;
    case LATCH_SETTING_PATH:
      value.str = text[0] != '\0' ? g_strdup (text) : NULL;
      break;
    case LATCH_SETTING_INT:
      if (!latch_parse_int (text, &value.num))
        {
          quoted = latch_text_quote (text, -1, MAX_QUOTED, LATCH_QUOTE_DEFAULT);
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                       "%s %s (%s)", quoted,
                       looks_like_number (text) ? "is out of range"
                                                : "is not an integer",
                       setting->expect);
          return FALSE;
        }
      break;
    case LATCH_SETTING_FLAG:
      if (text == NULL)
        {
          value.num = TRUE;
          break;
        }
      G_GNUC_FALLTHROUGH;
    case LATCH_SETTING_BOOL:
      if (!latch_parse_bool (text, &flag))
        {
          quoted = latch_text_quote (text, -1, MAX_QUOTED, LATCH_QUOTE_DEFAULT);
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                       "%s is not yes or no (accepted: yes, no, y, n, true, "
                       "false, 1, 0)",
                       quoted);
          return FALSE;
        }
      value.num = flag;
      break;
    case LATCH_SETTING_LOCK_MODE:
      if (!latch_parse_lock_mode (text, &mode))
        {
          quoted = latch_text_quote (text, -1, MAX_QUOTED, LATCH_QUOTE_DEFAULT);
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                       "%s is not a lock mode (accepted: NL, CR, CW, PR, PW, "
                       "EX or NullLock, ConcurrentRead, ConcurrentWrite, "
                       "ProtectedRead, ProtectedWrite, Exclusive)",
                       quoted);
          return FALSE;
        }
      value.num = mode;
      break;
    case LATCH_SETTING_SIGNALS:
      if (!parse_signal (text, &signo, error))
        return FALSE;
      value.sigs = 1u << signo;
      break;
    case LATCH_SETTING_UNSUPPORTED:
    default:
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "[%s] %s is not supported by this latch version yet",
                   setting->group, setting->key);
      return FALSE;
    }
  *out = value;
  return TRUE;
}

static void
value_clear (const LatchSetting *setting, LatchSettingValue *value)
{
  if (is_string_kind (setting->kind))
    g_clear_pointer (&value->str, g_free);
}

gboolean
latch_setting_parse (const LatchSetting *setting, const char *text,
                     LatchSettingValue *out, GError **error)
{
  LatchSettingValue value;

  if (!parse_value (setting, text, &value, error))
    return FALSE;
  if (setting->check != NULL && !setting->check (&value, error))
    {
      value_clear (setting, &value);
      return FALSE;
    }
  *out = value;
  return TRUE;
}

/* Moves value into config's field (strings are stolen). */
static void
value_store (const LatchSetting *setting, LatchSettingValue *value,
             LatchConfig *config)
{
  guint8 *field = (guint8 *) config + setting->offset;

  g_return_if_fail (setting->offset >= 0);

  switch (setting->kind)
    {
    case LATCH_SETTING_STRING:
    case LATCH_SETTING_PATH:
      g_free (*(char **) field);
      *(char **) field = g_steal_pointer (&value->str);
      break;
    case LATCH_SETTING_INT:
      *(int *) field = value->num;
      break;
    case LATCH_SETTING_BOOL:
    case LATCH_SETTING_FLAG:
      *(gboolean *) field = value->num != 0;
      break;
    case LATCH_SETTING_LOCK_MODE:
      *(LatchLockMode *) field = (LatchLockMode) value->num;
      break;
    case LATCH_SETTING_SIGNALS:
      *(guint32 *) field = value->sigs;
      break;
    case LATCH_SETTING_UNSUPPORTED:
    default:
      g_return_if_reached ();
    }
}

static gboolean
check_resource_name (LatchSettingValue *value, GError **error)
{
  if (strcmp (value->str, LATCH_DEFAULT_RESOURCE_NAME) == 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                   "'%s' is reserved for the default resource; choose "
                   "another name",
                   LATCH_DEFAULT_RESOURCE_NAME);
      return FALSE;
    }
  return latch_rsrc_name_check (value->str, NULL, error);
}

static gboolean
check_quantity (LatchSettingValue *value, GError **error)
{
  if (value->num < 1)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "quantity must be 1 or more, not %d", value->num);
      return FALSE;
    }
  return TRUE;
}

/* FLoM takes the absolute value. */
static gboolean
check_absolute (LatchSettingValue *value, GError **error G_GNUC_UNUSED)
{
  value->num = value->num == G_MININT ? G_MAXINT : ABS (value->num);
  return TRUE;
}

static gboolean
check_socket_name (LatchSettingValue *value, GError **error)
{
  g_autofree char *quoted = NULL;
  gsize len;

  if (value->str == NULL)
    return TRUE;
  len = strlen (value->str);
  if (len >= SUN_PATH_SIZE)
    {
      quoted = latch_text_quote (value->str, len, MAX_QUOTED, LATCH_QUOTE_DEFAULT);
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "%s is %" G_GSIZE_FORMAT " bytes long; a UNIX socket "
                   "path can have at most %" G_GSIZE_FORMAT " bytes",
                   quoted, len, (gsize) SUN_PATH_SIZE - 1);
      return FALSE;
    }
  return TRUE;
}

/* A file latch will read: made absolute (relative to the working
 * directory, as FLoM), and it must be there now, not at the first
 * handshake. */
static gboolean
check_tls_file (LatchSettingValue *value, GError **error)
{
  g_autofree char *path = NULL;
  g_autofree char *quoted = NULL;
  struct stat st;

  if (value->str == NULL)
    return TRUE;
  path = g_canonicalize_filename (value->str, NULL);
  quoted = latch_text_quote (path, -1, MAX_QUOTED, LATCH_QUOTE_DEFAULT);
  if (stat (path, &st) != 0)
    {
      int saved = errno;

      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION, "%s: %s", quoted,
                   g_strerror (saved));
      return FALSE;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "%s is not a regular file", quoted);
      return FALSE;
    }
  g_free (value->str);
  value->str = g_steal_pointer (&path);
  return TRUE;
}

static gboolean
check_security_level (LatchSettingValue *value, GError **error)
{
  static const char *const names[] = { "clear", "channel", "mutual" };
  g_autofree char *quoted = NULL;

  if (value->str == NULL)
    return TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_ascii_strcasecmp (g_strstrip (value->str), names[i]) == 0)
      {
        g_free (value->str);
        value->str = g_strdup (names[i]);
        return TRUE;
      }
  quoted = latch_text_quote (value->str, -1, MAX_QUOTED, LATCH_QUOTE_DEFAULT);
  g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
               "%s is not a security level: give clear, channel or mutual", quoted);
  return FALSE;
}

/* FLoM takes the absolute value; what remains must be in min..max.  The
 * message shows the value as given. */
static gboolean
check_absolute_range (LatchSettingValue *value, int min, int max,
                      const char *what, GError **error)
{
  int given = value->num;

  check_absolute (value, NULL);
  if (value->num < min || value->num > max)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "%s must be from %d to %d, not %d", what, min, max, given);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_port (LatchSettingValue *value, GError **error)
{
  return check_absolute_range (value, 1, 65535, "port", error);
}

/* FLoM: absolute value, and 0 means 1. */
static gboolean
check_discovery_attempts (LatchSettingValue *value,
                          GError **error G_GNUC_UNUSED)
{
  check_absolute (value, NULL);
  if (value->num == 0)
    value->num = 1;
  return TRUE;
}

/* FLoM: absolute value, and 0 means 1; IP_MULTICAST_TTL and
 * IPV6_MULTICAST_HOPS take at most 255. */
static gboolean
check_discovery_ttl (LatchSettingValue *value, GError **error)
{
  if (value->num == 0)
    value->num = 1;
  return check_absolute_range (value, 1, 255, "TTL", error);
}

/* FLoM takes the absolute value only; 0 would make setsockopt() fail in
 * the daemon, so it is refused here. */
static gboolean
check_keepalive_time (LatchSettingValue *value, GError **error)
{
  return check_absolute_range (value, 1, MAX_KEEPALIVE_SECONDS,
                               "keepalive time (seconds)", error);
}

static gboolean
check_keepalive_intvl (LatchSettingValue *value, GError **error)
{
  return check_absolute_range (value, 1, MAX_KEEPALIVE_SECONDS,
                               "keepalive interval (seconds)", error);
}

static gboolean
check_keepalive_probes (LatchSettingValue *value, GError **error)
{
  return check_absolute_range (value, 1, MAX_KEEPALIVE_PROBES,
                               "keepalive probes", error);
}

/* The session extension's bound (protocol.md): at most ten minutes;
 * negative is refused rather than taken absolute: it is latch's own. */
static gboolean
check_log_target (LatchSettingValue *value, GError **error)
{
  static const char *const targets[] = { "auto", "stderr", "journal", "syslog" };

  for (gsize i = 0; i < G_N_ELEMENTS (targets); i++)
    if (g_strcmp0 (value->str, targets[i]) == 0)
      return TRUE;
  g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
               "log target must be auto, stderr, journal or syslog, not '%s'",
               value->str);
  return FALSE;
}

static gboolean
check_wait_notice (LatchSettingValue *value, GError **error)
{
  if (value->num < 0)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "wait notice (milliseconds) must be 0 (never) or more, not %d",
                   value->num);
      return FALSE;
    }
  return TRUE;
}

/* A group name as useradd(8) takes it: it is looked up when the daemon
 * starts, not here (the group may be made after the file is written). */
static gboolean
check_group_name (LatchSettingValue *value, GError **error)
{
  const char *p = value->str;

  if (*p == '\0' || *p == '-')
    goto bad;
  for (; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-' && *p != '.')
      goto bad;
  return TRUE;
bad:
  g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
               "'%s' is not a group name (letters, digits, '_', '-', '.'; not "
               "starting with '-')", value->str);
  return FALSE;
}

/* Each endpoint is http(s)://HOST:PORT, all of one scheme (the TLS
 * settings apply to all of them or none).  Only the form is checked
 * here: reaching them is the daemon's start. */
static gboolean
check_etcd_endpoints (LatchSettingValue *value, GError **error)
{
  g_auto (GStrv) parts = NULL;
  const char *scheme = NULL;

  if (value->str == NULL)
    return TRUE;
  parts = g_strsplit (value->str, ",", -1);
  for (char **p = parts; *p != NULL; p++)
    {
      const char *e = g_strstrip (*p);
      const char *this_scheme = g_str_has_prefix (e, "https://") ? "https://"
                                : g_str_has_prefix (e, "http://") ? "http://" : NULL;
      const char *hostport = this_scheme != NULL ? e + strlen (this_scheme) : NULL;
      const char *colon = hostport != NULL ? strrchr (hostport, ':') : NULL;
      char *end = NULL;
      long port = colon != NULL ? strtol (colon + 1, &end, 10) : 0;

      if (this_scheme == NULL || colon == NULL || colon == hostport || end == colon + 1
          || *end != '\0' || port < 1 || port > 65535 || strchr (hostport, '/') != NULL)
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                       "etcd endpoint '%s' is not http://HOST:PORT or https://HOST:PORT",
                       e);
          return FALSE;
        }
      if (scheme != NULL && strcmp (scheme, this_scheme) != 0)
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                       "etcd endpoints mix http:// and https:// ('%s'): use one "
                       "scheme for all members", e);
          return FALSE;
        }
      scheme = this_scheme;
    }
  if (scheme == NULL)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "no etcd endpoint given: name one or more, e.g. "
                   "http://127.0.0.1:2379");
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_lease_ttl (LatchSettingValue *value, GError **error)
{
  if (value->num < 2 || value->num > 3600)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "lease TTL (seconds) must be from 2 to 3600, not %d", value->num);
      return FALSE;
    }
  return TRUE;
}

/* Keys are made by appending to it: it must end with '/' so that two
 * prefixes never nest by accident ("/latch" would also cover "/latchx"). */
static gboolean
check_etcd_prefix (LatchSettingValue *value, GError **error)
{
  if (value->str == NULL || value->str[0] == '\0'
      || value->str[strlen (value->str) - 1] != '/')
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "etcd prefix '%s' must be non-empty and end with '/', e.g. /latch/",
                   value->str != NULL ? value->str : "");
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_session_timeout (LatchSettingValue *value, GError **error)
{
  if (value->num < 0 || value->num > 600000)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "session timeout (milliseconds) must be from 0 to 600000, not %d",
                   value->num);
      return FALSE;
    }
  return TRUE;
}

/* FLoM silently ignores an interface that does not exist (or has no IPv6
 * address) and goes on without a scope id, so a typo sends discovery out
 * of whatever interface the routing table picks.  latch refuses a name
 * that is no interface of this host; whether the interface has an
 * address of the right family is for the network code to say. */
static gboolean
check_network_interface (LatchSettingValue *value, GError **error)
{
  g_autofree char *quoted = NULL;
  int saved_errno;

  if (value->str == NULL)
    return TRUE;
  errno = 0;
  if (if_nametoindex (value->str) != 0)
    return TRUE;
  saved_errno = errno;
  quoted = latch_text_quote (value->str, -1, MAX_QUOTED, LATCH_QUOTE_DEFAULT);
  /* glibc: ENODEV for an unknown or too long name. */
  if (saved_errno == 0 || saved_errno == ENODEV || saved_errno == ENXIO)
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                 "no network interface named %s on this host", quoted);
  else
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                 "cannot look up network interface %s: %s", quoted,
                 g_strerror (saved_errno));
  return FALSE;
}

/* Pending assignments */

typedef struct
{
  const LatchSetting *setting;
  LatchSettingValue value;
} Assignment;

static void
assignment_clear (gpointer data)
{
  Assignment *assignment = data;

  value_clear (assignment->setting, &assignment->value);
}

GArray *
latch_assignments_new (void)
{
  GArray *assignments = g_array_new (FALSE, FALSE, sizeof (Assignment));

  g_array_set_clear_func (assignments, assignment_clear);
  return assignments;
}

void
latch_assignments_add (GArray *assignments, const LatchSetting *setting,
                       LatchSettingValue *value)
{
  Assignment assignment = { setting, *value };

  if (is_string_kind (setting->kind))
    value->str = NULL;
  g_array_append_val (assignments, assignment);
}

void
latch_assignments_commit (GArray *assignments, LatchConfig *config)
{
  guint i;

  for (i = 0; i < assignments->len; i++)
    {
      Assignment *assignment = &g_array_index (assignments, Assignment, i);

      value_store (assignment->setting, &assignment->value, config);
    }
}

/* LatchConfig */

LatchConfig *
latch_config_new (void)
{
  LatchConfig *config = g_new0 (LatchConfig, 1);
  gsize i;

  for (i = 0; i < latch_n_settings; i++)
    {
      const LatchSetting *setting = &latch_settings[i];
      LatchSettingValue value;

      if (setting->offset < 0 || setting->def == NULL)
        continue;
      /* The row's check is skipped: "_RESOURCE" is refused only when
       * given explicitly. */
      if (!parse_value (setting, setting->def, &value, NULL))
        g_assert_not_reached ();
      value_store (setting, &value, config);
    }
  return config;
}

void
latch_config_free (LatchConfig *config)
{
  gsize i;

  if (config == NULL)
    return;
  for (i = 0; i < latch_n_settings; i++)
    if (is_string_kind (latch_settings[i].kind))
      g_free (*(char **) ((guint8 *) config + latch_settings[i].offset));
  g_free (config);
}

LatchConfig *
latch_config_copy (const LatchConfig *config)
{
  LatchConfig *copy = g_memdup2 (config, sizeof *config);
  gsize i;

  for (i = 0; i < latch_n_settings; i++)
    if (is_string_kind (latch_settings[i].kind))
      {
        char **field = (char **) ((guint8 *) copy + latch_settings[i].offset);

        *field = g_strdup (*field);
      }
  return copy;
}

static void
config_swap (LatchConfig *a, LatchConfig *b)
{
  LatchConfig tmp = *a;

  *a = *b;
  *b = tmp;
}

static void
append_signals (guint32 signals, GString *out)
{
  gboolean first = TRUE;
  int signo;

  for (signo = 1; signo <= MAX_SIGNAL; signo++)
    if (signals & (1u << signo))
      {
        if (!first)
          g_string_append_c (out, ';');
        g_string_append (out, signal_names[signo]);
        first = FALSE;
      }
}

void
latch_config_dump (const LatchConfig *config, GString *out)
{
  gsize i;

  for (i = 0; i < latch_n_settings; i++)
    {
      const LatchSetting *setting = &latch_settings[i];
      const guint8 *field = (const guint8 *) config + setting->offset;
      const char *text;

      if (setting->kind == LATCH_SETTING_UNSUPPORTED)
        continue;
      g_string_append_printf (out, "[%s]/%s=", setting->group, setting->key);
      switch (setting->kind)
        {
        case LATCH_SETTING_STRING:
        case LATCH_SETTING_PATH:
          text = *(char *const *) field;
          g_string_append_printf (out, "'%s'", text != NULL ? text : "");
          break;
        case LATCH_SETTING_INT:
          g_string_append_printf (out, "%d", *(const int *) field);
          break;
        case LATCH_SETTING_BOOL:
        case LATCH_SETTING_FLAG:
          g_string_append_printf (out, "%d", *(const gboolean *) field ? 1 : 0);
          break;
        case LATCH_SETTING_LOCK_MODE:
          g_string_append_printf (out, "%d",
                                  (int) *(const LatchLockMode *) field);
          break;
        case LATCH_SETTING_SIGNALS:
          g_string_append_c (out, '\'');
          append_signals (*(const guint32 *) field, out);
          g_string_append_c (out, '\'');
          break;
        case LATCH_SETTING_UNSUPPORTED:
        default:
          g_assert_not_reached ();
        }
      g_string_append_c (out, '\n');
    }
}

char **
latch_config_daemon_args (const LatchConfig *config)
{
  g_autoptr (LatchConfig) defaults = latch_config_new ();
  GPtrArray *args = g_ptr_array_new ();

  g_return_val_if_fail (config != NULL, NULL);
  for (gsize i = 0; i < latch_n_settings; i++)
    {
      const LatchSetting *setting = &latch_settings[i];
      const guint8 *field = (const guint8 *) config + setting->offset;
      const guint8 *def = (const guint8 *) defaults + setting->offset;

      if (!setting->daemon || setting->kind == LATCH_SETTING_UNSUPPORTED)
        continue;
      switch (setting->kind)
        {
        case LATCH_SETTING_STRING:
        case LATCH_SETTING_PATH:
          {
            const char *text = *(char *const *) field;

            if (g_strcmp0 (text, *(char *const *) def) != 0)
              g_ptr_array_add (args, g_strdup_printf ("--%s=%s", setting->long_name,
                                                      text != NULL ? text : ""));
          }
          break;
        case LATCH_SETTING_INT:
          if (*(const int *) field != *(const int *) def)
            g_ptr_array_add (args, g_strdup_printf ("--%s=%d", setting->long_name,
                                                    *(const int *) field));
          break;
        case LATCH_SETTING_BOOL:
          if (!*(const gboolean *) field != !*(const gboolean *) def)
            g_ptr_array_add (args, g_strdup_printf ("--%s=%s", setting->long_name,
                                                    *(const gboolean *) field ? "yes" : "no"));
          break;
        case LATCH_SETTING_FLAG:
          /* An option without a value can only turn a flag on. */
          g_assert (!*(const gboolean *) def);
          if (*(const gboolean *) field)
            g_ptr_array_add (args, g_strdup_printf ("--%s", setting->long_name));
          break;
        case LATCH_SETTING_LOCK_MODE:
        case LATCH_SETTING_SIGNALS:
        case LATCH_SETTING_UNSUPPORTED:
        default:
          g_assert_not_reached (); /* no daemon setting of these kinds */
        }
    }
  g_ptr_array_add (args, NULL);
  return (char **) g_ptr_array_free (args, FALSE);
}

gboolean
latch_config_validate (const LatchConfig *config, GError **error)
{
  LatchSettingValue value;

  g_return_val_if_fail (config != NULL, FALSE);

  if (config->resource_name == NULL)
    {
      g_set_error_literal (error, LATCH_ERROR, LATCH_ERROR_INVALID_NAME,
                           "no resource name");
      return FALSE;
    }
  /* Its message names the resource name and says what is wrong. */
  if (!latch_rsrc_name_check (config->resource_name, NULL, error))
    return FALSE;
  value.str = config->socket_name;
  if (!check_socket_name (&value, error))
    {
      g_prefix_error (error, "socket name ");
      return FALSE;
    }
  /* FLoM: the same refusal (99).  A NULL socket name is the per-user
   * default, so any non-NULL one was given by an option or a file. */
  if (config->socket_name != NULL
      && (config->unicast_address != NULL
          || config->multicast_address != NULL))
    {
      g_set_error_literal (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                           "-s/--socket-name cannot be combined with "
                           "-a/--unicast-address or -A/--multicast-address: "
                           "a daemon is reached either by a local socket or "
                           "over the network");
      return FALSE;
    }
  /* Checked when read too; again here for a config filled in by code. */
  value.str = config->network_interface;
  if (!check_network_interface (&value, error))
    return FALSE;
  return TRUE;
}

/* Configuration files */

static const LatchSetting *
find_setting (const char *group, const char *key)
{
  gsize i;

  for (i = 0; i < latch_n_settings; i++)
    if (strcmp (latch_settings[i].group, group) == 0
        && strcmp (latch_settings[i].key, key) == 0)
      return &latch_settings[i];
  return NULL;
}

static gboolean
is_known_group (const char *group)
{
  gsize i;

  for (i = 0; i < latch_n_settings; i++)
    if (strcmp (latch_settings[i].group, group) == 0)
      return TRUE;
  return FALSE;
}

/* "Trace, Resource, ..." (group == NULL) or the keys of group. */
static char *
known_names (const char *group)
{
  GString *out = g_string_new (NULL);
  gsize i;

  for (i = 0; i < latch_n_settings; i++)
    {
      const LatchSetting *setting = &latch_settings[i];

      if (group == NULL)
        {
          if (i > 0 && strcmp (latch_settings[i - 1].group, setting->group) == 0)
            continue;
          g_string_append_printf (out, "%s%s", out->len > 0 ? ", " : "",
                                  setting->group);
        }
      else if (strcmp (setting->group, group) == 0)
        g_string_append_printf (out, "%s%s", out->len > 0 ? ", " : "",
                                setting->key);
    }
  return g_string_free (out, FALSE);
}

/* One [Group] line (key NULL) or Key=value line of a file. */
typedef struct
{
  int line;
  char *group;
  char *key;
} ScanEntry;

static void
scan_entry_clear (gpointer data)
{
  ScanEntry *entry = data;

  g_free (entry->group);
  g_free (entry->key);
}

static gboolean
has_control_char (const char *text)
{
  for (; *text != '\0'; text++)
    if ((guchar) *text < 0x20 || *text == 0x7f)
      return TRUE;
  return FALSE;
}

static gboolean
is_group_name (const char *name)
{
  return name[0] != '\0' && g_utf8_validate (name, -1, NULL)
         && !has_control_char (name) && strchr (name, '[') == NULL
         && strchr (name, ']') == NULL;
}

/* Key or Key[locale] (GKeyFile's translated keys). */
static gboolean
is_key_name (const char *name)
{
  const char *open = strchr (name, '[');
  const char *p;

  if (name[0] == '\0' || name[0] == '[' || !g_utf8_validate (name, -1, NULL)
      || has_control_char (name))
    return FALSE;
  if (open == NULL)
    return strchr (name, ']') == NULL;
  for (p = open + 1; *p != ']'; p++)
    if (*p == '\0' || (!g_ascii_isalnum (*p) && strchr ("-_.@", *p) == NULL))
      return FALSE;
  /* GKeyFile: no blank before the locale either. */
  return p[1] == '\0' && open[-1] != ' '
         && memchr (name, ']', open - name) == NULL;
}

/* Reads the structure of a key file line by line, as GKeyFile does
 * (GLib's whitespace, which excludes \v; a \r before \n ignored), but
 * stricter: every line GKeyFile refuses is refused here first, with its
 * number, since GKeyFile's own errors carry none. */
static gboolean
scan_key_file (const char *data, gsize len, GArray *entries, int *line_out,
               GError **error)
{
  const char *p = data;
  const char *end = data + len;
  const char *group = NULL;
  int line = 0;

  while (p < end)
    {
      const char *eol = memchr (p, '\n', end - p);
      const char *next = eol != NULL ? eol + 1 : end;
      const char *stop = eol != NULL ? eol : end;
      const char *s = p;
      g_autofree char *quoted = NULL;
      g_autofree char *name = NULL;
      ScanEntry entry;

      line++;
      *line_out = line;
      if (memchr (p, '\0', stop - p) != NULL)
        {
          g_set_error_literal (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE,
                               "line contains a NUL byte");
          return FALSE;
        }
      /* GKeyFile drops a \r only before a \n. */
      if (eol != NULL && stop > p && stop[-1] == '\r')
        stop--;
      while (s < stop && g_ascii_isspace (*s))
        s++;
      p = next;
      if (s == stop || *s == '#')
        continue;
      quoted = latch_text_quote (s, stop - s, MAX_QUOTED, LATCH_QUOTE_DEFAULT);

      if (*s == '[')
        {
          const char *close = memchr (s, ']', stop - s);
          const char *t;

          if (close == NULL)
            {
              g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE,
                           "%s is not a [Group] line: ']' is missing",
                           quoted);
              return FALSE;
            }
          for (t = close + 1; t < stop && (*t == ' ' || *t == '\t'); t++)
            ;
          if (t != stop)
            {
              g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE,
                           "%s is not a [Group] line: text after ']'",
                           quoted);
              return FALSE;
            }
          name = g_strndup (s + 1, close - s - 1);
          if (!is_group_name (name))
            {
              g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE,
                           "%s: invalid group name", quoted);
              return FALSE;
            }
          entry.line = line;
          entry.group = g_steal_pointer (&name);
          entry.key = NULL;
          g_array_append_val (entries, entry);
          group = entry.group;
        }
      else
        {
          const char *eq = memchr (s, '=', stop - s);
          const char *key_end;

          if (eq == NULL || eq == s)
            {
              g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE,
                           "%s is not a [Group] line, a Key=value line or a "
                           "# comment",
                           quoted);
              return FALSE;
            }
          for (key_end = eq; key_end > s && g_ascii_isspace (key_end[-1]);
               key_end--)
            ;
          name = g_strndup (s, key_end - s);
          if (!is_key_name (name))
            {
              g_autofree char *quoted_key
                  = latch_text_quote (name, -1, MAX_QUOTED, LATCH_QUOTE_DEFAULT);

              g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE,
                           "%s: invalid key name %s", quoted, quoted_key);
              return FALSE;
            }
          if (group == NULL)
            {
              g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE,
                           "%s comes before the first [Group] line", quoted);
              return FALSE;
            }
          entry.line = line;
          entry.group = g_strdup (group);
          entry.key = g_steal_pointer (&name);
          g_array_append_val (entries, entry);
        }
    }
  return TRUE;
}

/* Replaces GKeyFile's vague "value that cannot be interpreted". */
static void
set_unescape_error (GKeyFile *key_file, const LatchSetting *setting,
                    GError *cause, GError **error)
{
  g_autofree char *raw
      = g_key_file_get_value (key_file, setting->group, setting->key, NULL);
  g_autofree char *quoted
      = latch_text_quote (raw, -1, MAX_QUOTED, LATCH_QUOTE_DEFAULT);

  if (g_error_matches (cause, G_KEY_FILE_ERROR,
                       G_KEY_FILE_ERROR_UNKNOWN_ENCODING))
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE,
                 "%s is not valid UTF-8", quoted);
  else if (g_error_matches (cause, G_KEY_FILE_ERROR,
                            G_KEY_FILE_ERROR_INVALID_VALUE))
    g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE,
                 "%s has an invalid escape sequence (valid: \\s \\n "
                 "\\t \\r \\\\%s)",
                 quoted,
                 setting->kind == LATCH_SETTING_SIGNALS ? " \\;" : "");
  else
    g_set_error_literal (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE,
                         cause->message);
}

/* The value of setting's key as GKeyFile unescapes it, parsed. */
static gboolean
read_setting (GKeyFile *key_file, const LatchSetting *setting,
              LatchSettingValue *out, GError **error)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) items = NULL;
  g_autoptr (GError) local_error = NULL;
  LatchSettingValue item;
  guint32 signals = 0;
  gsize i;

  /* On a bad escape GKeyFile returns a value and sets the error. */
  if (setting->kind != LATCH_SETTING_SIGNALS)
    {
      text = g_key_file_get_string (key_file, setting->group, setting->key,
                                    &local_error);
      if (local_error != NULL || text == NULL)
        {
          set_unescape_error (key_file, setting, local_error, error);
          return FALSE;
        }
      return latch_setting_parse (setting, text, out, error);
    }

  items = g_key_file_get_string_list (key_file, setting->group, setting->key,
                                      NULL, &local_error);
  if (local_error != NULL)
    {
      set_unescape_error (key_file, setting, local_error, error);
      return FALSE;
    }
  for (i = 0; items != NULL && items[i] != NULL; i++)
    {
      if (!latch_setting_parse (setting, items[i], &item, error))
        return FALSE;
      signals |= item.sigs;
    }
  out->sigs = signals;
  return TRUE;
}

/* "PATH:LINE: prefix: message", keeping the code of a latch error. */
static void
set_file_error (GError **error, GError *cause, const char *path, int line,
                const char *group, const char *key)
{
  int code = cause->domain == LATCH_ERROR ? cause->code
                                          : LATCH_ERROR_CONFIG_FILE;

  g_set_error (error, LATCH_ERROR, code, "%s:%d: [%s] %s: %s", path, line,
               group, key, cause->message);
}

static gboolean
parse_key_file (const char *path, const char *data, gsize len,
                GArray *assignments, GError **error)
{
  g_autoptr (GArray) entries = g_array_new (FALSE, FALSE, sizeof (ScanEntry));
  g_autoptr (GHashTable) last_line = NULL;
  g_autoptr (GKeyFile) key_file = g_key_file_new ();
  g_autoptr (GError) local_error = NULL;
  int line = 0;
  guint i;

  g_array_set_clear_func (entries, scan_entry_clear);
  if (!scan_key_file (data, len, entries, &line, &local_error))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE, "%s:%d: %s",
                   path, line, local_error->message);
      return FALSE;
    }
  /* The scan refuses what GKeyFile refuses; this is a safety net. */
  if (!g_key_file_load_from_data (key_file, data, len, G_KEY_FILE_NONE,
                                  &local_error))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE, "%s: %s", path,
                   local_error->message);
      return FALSE;
    }

  /* GKeyFile keeps the last of repeated keys, also across repeated
   * groups: that is the line whose value is read. */
  last_line = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (i = 0; i < entries->len; i++)
    {
      ScanEntry *entry = &g_array_index (entries, ScanEntry, i);

      if (entry->key != NULL)
        g_hash_table_insert (last_line,
                             g_strconcat (entry->group, "\n", entry->key, NULL),
                             GINT_TO_POINTER (entry->line));
    }

  for (i = 0; i < entries->len; i++)
    {
      ScanEntry *entry = &g_array_index (entries, ScanEntry, i);
      g_autofree char *known = NULL;
      g_autofree char *quoted = NULL;
      g_autofree char *lookup = NULL;
      const LatchSetting *setting;
      LatchSettingValue value;

      if (entry->key == NULL)
        {
          if (!is_known_group (entry->group))
            {
              /* The scan let only printable UTF-8 through. */
              known = known_names (NULL);
              g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE,
                           "%s:%d: unknown group [%s]; known groups: %s",
                           path, entry->line, entry->group, known);
              return FALSE;
            }
          continue;
        }
      setting = find_setting (entry->group, entry->key);
      if (setting == NULL)
        {
          known = known_names (entry->group);
          quoted = latch_text_quote (entry->key, -1, MAX_QUOTED, LATCH_QUOTE_DEFAULT);
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE,
                       "%s:%d: unknown key %s in [%s]; known keys: %s", path,
                       entry->line, quoted, entry->group, known);
          return FALSE;
        }
      if (setting->kind == LATCH_SETTING_UNSUPPORTED)
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONFIG_FILE,
                       "%s:%d: [%s] %s is not supported by this latch "
                       "version yet",
                       path, entry->line, entry->group, entry->key);
          return FALSE;
        }
      lookup = g_strconcat (entry->group, "\n", entry->key, NULL);
      if (GPOINTER_TO_INT (g_hash_table_lookup (last_line, lookup))
          != entry->line)
        continue;
      if (!read_setting (key_file, setting, &value, &local_error))
        {
          set_file_error (error, local_error, path, entry->line,
                          entry->group, entry->key);
          return FALSE;
        }
      latch_assignments_add (assignments, setting, &value);
    }
  return TRUE;
}

gboolean
latch_config_load_file (LatchConfig *config, const char *path,
                        gboolean must_exist, GError **error)
{
  g_autofree char *data = NULL;
  g_autoptr (GArray) assignments = NULL;
  gsize len = 0;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  /* Not only regular files: -c <(generate-config) is a pipe. */
  if (!latch_file_read (path, NULL, MAX_FILE_SIZE,
                        LATCH_FILE_ALLOW_STREAM
                            | (must_exist ? 0 : LATCH_FILE_MAY_BE_MISSING),
                        LATCH_ERROR_CONFIG_FILE, &data, &len, NULL, error))
    return FALSE;
  if (data == NULL)
    return TRUE;
  assignments = latch_assignments_new ();
  if (!parse_key_file (path, data, len, assignments, error))
    return FALSE;
  latch_assignments_commit (assignments, config);
  return TRUE;
}

gboolean
latch_config_load_files (LatchConfig *config, const char *sys_path,
                         const char *user_path, const char *extra_path,
                         GError **error)
{
  g_autoptr (LatchConfig) scratch = NULL;
  g_autofree char *default_user_path = NULL;
  g_autofree char *own_home = NULL;
  const char *home;

  g_return_val_if_fail (config != NULL, FALSE);

  if (sys_path == NULL)
    sys_path = SYSTEM_CONFIG_FILE;
  if (user_path == NULL)
    {
      /* $HOME only when it is ours: `sudo -E` keeps the caller's HOME,
       * whose ~/.latch is not root's configuration (nor readable by
       * another user).  Else the home of the password database. */
      home = g_getenv ("HOME");
      if (!latch_dir_is_own (home))
        home = own_home = latch_own_home_dir ();
      if (home != NULL)
        default_user_path = g_build_filename (home, USER_CONFIG_FILE, NULL);
      user_path = default_user_path;
    }

  /* All or nothing: work on a copy. */
  scratch = latch_config_copy (config);
  if (!latch_config_load_file (scratch, sys_path, FALSE, error)
      || (user_path != NULL
          && !latch_config_load_file (scratch, user_path, FALSE, error)))
    return FALSE;
  if (extra_path != NULL
      && !latch_config_load_file (scratch, extra_path, TRUE, error))
    return FALSE;
  config_swap (config, scratch);
  return TRUE;
}

LatchTlsSettings
latch_config_tls_settings (const LatchConfig *config)
{
  LatchTlsSettings s = {
    .level = latch_config_security_level (config),
    .certificate = config->tls_certificate,
    .private_key = config->tls_private_key,
    .ca_certificate = config->tls_ca_certificate,
    .crl = config->tls_crl,
    .priority = config->tls_priority,
    .check_peer_id = config->tls_check_peer_id,
    .allowed_peers = config->tls_allowed_peers,
    .require_client_cert = config->tls_require_client_cert,
  };

  return s;
}

LatchSecurityLevel
latch_config_security_level (const LatchConfig *config)
{
  if (config->security_level == NULL)
    return LATCH_SECURITY_DEFAULT;
  if (strcmp (config->security_level, "clear") == 0)
    return LATCH_SECURITY_CLEAR;
  if (strcmp (config->security_level, "channel") == 0)
    return LATCH_SECURITY_CHANNEL;
  return LATCH_SECURITY_MUTUAL;
}
