/* settings.h: latch's settings, where they come from, and their checks.
 *
 * One table describes every setting once: short and long option, config
 * group and key, type, default, help text.  Command-line parsing, config
 * files, the verbose dump (-V) and the command line a starter gives latchd
 * are all driven by it.  One struct, LatchConfig, holds the values: the
 * latch command, latchd, the debug tools and every liblatch handle keep
 * their settings in one (a handle's setters write into its own), so that
 * a setting and its default are written once, in the table.
 *
 * Precedence: built-in defaults < system file (SYSCONFDIR/latch.conf) <
 * user file ($HOME/.latch) < -c FILE < command line.  A command-line value
 * always wins, even when it equals the default (FLoM: not always).
 *
 * Config files are GLib key files with FLoM's groups and keys.  A missing
 * group is fine.  A file that exists but cannot be read or parsed, an
 * unknown group or key, or a bad value is an error that names the file and
 * the line, e.g.
 *   /etc/latch.conf:12: [Resource] Timeout: 'abc' is not an integer (milliseconds)
 * A missing system or user file is skipped; a missing -c file is an error.
 */
#ifndef LATCH_SETTINGS_SETTINGS_H
#define LATCH_SETTINGS_SETTINGS_H

#include <glib.h>

#include "latch.h"
#include "tls/tls.h" /* LatchTlsSettings: the struct only (no GnuTLS) */

G_BEGIN_DECLS

/* ms between SIGTERM and SIGKILL when the lock is lost (latch's own). */
#define LATCH_DEFAULT_KILL_GRACE 1000

/* The host's daemon's socket (latchd --system, latch --system). */
#ifndef LATCH_SYSTEM_SOCKET
#define LATCH_SYSTEM_SOCKET "/run/latch/latchd.sock"
#endif

typedef struct
{
  /* [Trace] */
  char *daemon_trace_file;     /* -t, DaemonTraceFile; NULL: none */
  char *command_trace_file;    /* -T, CommandTraceFile; NULL: none */
  gboolean append_trace_file;  /* --append-trace-file, AppendTraceFile; FALSE */
  gboolean verbose;            /* -V, Verbose; FALSE */
  gboolean quiet;              /* --quiet, Quiet; FALSE (latch's own) */
  char *log_target;            /* --log-target, LogTarget; "auto" (auto|stderr|journal|syslog; latch's own) */

  /* [Resource] */
  char *resource_name;         /* -r, Name; "_RESOURCE" */
  int resource_timeout;        /* -o, Timeout; -1 (ms; <0 forever, 0 no wait) */
  int resource_quantity;       /* -q, Quantity; 1 */
  LatchLockMode lock_mode;     /* -l, LockMode; EX */
  gboolean resource_create;    /* -e, Create; TRUE */
  int resource_idle_lifespan;  /* -i, IdleLifespan; 0 (ms, >= 0) */
  int wait_notice;             /* --wait-notice, WaitNotice; 1000 (ms, >= 0; 0 never; latch's own) */

  /* [Daemon] */
  char *socket_name;           /* -s, SocketName; NULL: per-user default
                                  (with System: LATCH_SYSTEM_SOCKET) */
  gboolean system;             /* --system, System; FALSE (latch's own) */
  char *system_group;          /* --system-group, SystemGroup; "latch" (latch's own) */
  char *metrics_address;       /* --metrics-address, MetricsAddress; NULL: off (latch's own) */
  int daemon_lifespan;         /* -d, Lifespan; 5000 (ms; <0 forever, 0 never start) */
  char *unicast_address;       /* -a, UnicastAddress; NULL: none (not resolved here) */
  int unicast_port;            /* -p, UnicastPort; 28015 (sign dropped; 1..65535) */
  char *multicast_address;     /* -A, MulticastAddress; NULL: none */
  int multicast_port;          /* -P, MulticastPort; 28015 (sign dropped; 1..65535) */
  int idle_lifespan_min;       /* --idle-lifespan-min, IdleLifespanMin; 2000 (ms, >= 0; latch's own) */
  /* The daemon's limits (latch's own; 0: none), LATCH_LOCKER_DEFAULT_* */
  int idle_lifespan_max;       /* --idle-lifespan-max, IdleLifespanMax; one day (ms) */
  int max_resources;           /* --max-resources, MaxResources; 65536 */
  int max_locks_per_connection; /* --max-locks, MaxLocksPerConnection; 100 */
  int max_waiters_per_resource; /* --max-waiters, MaxWaitersPerResource; 4096 */

  /* [Monitor] */
  guint32 ignored_signals;     /* --ignore-signal, IgnoredSignals: bit N = signal N (1..31) */
  int kill_grace;              /* --kill-grace, KillGrace; LATCH_DEFAULT_KILL_GRACE (ms; latch's own) */

  /* [Network]  Integers: the sign is dropped, as in FLoM. */
  char *network_interface;     /* -n, NetworkInterface; NULL: none (must exist) */
  int discovery_attempts;      /* -D, DiscoveryAttempts; 2 (0 becomes 1) */
  int discovery_timeout;       /* -I, DiscoveryTimeout; 500 (ms per query) */
  int discovery_ttl;           /* --discovery-ttl, DiscoveryTTL; 1 (0 becomes 1; <= 255) */
  int tcp_keepalive_time;      /* --tcp-keepalive-time, TcpKeepaliveTime; 60 (s, 1..32767) */
  int tcp_keepalive_intvl;     /* --tcp-keepalive-intvl, TcpKeepaliveIntvl; 10 (s, 1..32767) */
  int tcp_keepalive_probes;    /* --tcp-keepalive-probes, TcpKeepaliveProbes; 6 (1..127) */
  gboolean agent;              /* --agent, Agent; TRUE (latch's own; client side) */
  int session_timeout;         /* --session-timeout, SessionTimeout; 2000 (ms, 0..600000; 0 none) */
  char *etcd_endpoints;        /* --etcd-endpoints, [Cluster] EtcdEndpoints; NULL: table in memory */
  int lease_ttl;               /* --lease-ttl, [Cluster] LeaseTtl; 10 (s, 2..3600) */
  char *etcd_prefix;           /* --etcd-prefix, [Cluster] Prefix; "/latch/" */

  /* [TLS]  Paths are absolute once read (and the file exists). */
  char *tls_certificate;       /* --tls-certificate, TlsCertificate; NULL */
  char *tls_private_key;       /* --tls-private-key, TlsPrivateKey; NULL */
  char *tls_ca_certificate;    /* --tls-ca-certificate, TlsCaCertificate; NULL */
  gboolean tls_check_peer_id;  /* --tls-check-peer-id, TlsCheckPeerId; FALSE */
  char *tls_crl;               /* --tls-crl, TlsCrl; NULL */
  char *tls_priority;          /* --tls-priority, TlsPriority; NULL: latch's default */
  char *security_level;        /* --security-level, SecurityLevel; NULL or clear|channel|mutual */
  char *tls_allowed_peers;     /* --tls-allowed-peers, TlsAllowedPeers; NULL */
  gboolean tls_require_client_cert; /* --tls-require-client-cert, TlsRequireClientCertificate; TRUE */
} LatchConfig;

/* SecurityLevel as the enum (LATCH_SECURITY_DEFAULT when not set). */
LatchSecurityLevel latch_config_security_level (const LatchConfig *config);

LatchConfig *latch_config_new (void); /* built-in defaults */
LatchConfig *latch_config_copy (const LatchConfig *config); /* deep */
void latch_config_free (LatchConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatchConfig, latch_config_free)

/* Applies the keys present in one key file.  A file that does not exist
 * is skipped (TRUE) unless must_exist.  On error nothing is changed. */
gboolean latch_config_load_file (LatchConfig *config, const char *path,
                                 gboolean must_exist, GError **error);

/* System file, user file, then extra_path (-c, may be NULL) in that order.
 * sys_path / user_path NULL: the standard ones. */
gboolean latch_config_load_files (LatchConfig *config, const char *sys_path,
                                  const char *user_path, const char *extra_path,
                                  GError **error);

/* The daemon settings (rows latchd takes) whose value differs from the
 * default, as "--long-option=value" arguments for latchd, NULL-terminated
 * (transfer full; never NULL): how a starter hands a daemon its settings.
 * Generated from the table: a new daemon row reaches latchd with no more
 * code.  latchd's option parser reads them back to the same values. */
char **latch_config_daemon_args (const LatchConfig *config);

/* The [TLS] group as the tls layer takes it (strings transfer none: they
 * point into config, which must outlive the result). */
LatchTlsSettings latch_config_tls_settings (const LatchConfig *config);

/* Appends FLoM's verbose dump, one line per setting:
 *   [Group]/Key='string'   or   [Group]/Key=int  */
void latch_config_dump (const LatchConfig *config, GString *out);

/* Value grammars, exact (no substring matching as in FLoM), case-
 * insensitive, surrounding blanks ignored:
 *   bool: yes no y n true false 1 0
 *   lock mode: NL CR CW PR PW EX and NullLock ConcurrentRead
 *              ConcurrentWrite ProtectedRead ProtectedWrite Exclusive
 *   signal: 1..31 or SIGNAME (exact, FLoM's table); unknown is an error */
gboolean latch_parse_bool (const char *text, gboolean *out);
gboolean latch_parse_lock_mode (const char *text, LatchLockMode *out);
gboolean latch_parse_int (const char *text, int *out); /* decimal, whole string, int range */
int latch_signal_from_string (const char *text); /* 0 if unknown */
const char *latch_signal_name (int signo);       /* "SIGTERM"; NULL outside 1..31 */
const char *latch_lock_mode_name (LatchLockMode mode); /* "EX" */
void latch_signal_list (GString *out);           /* --signal-list text */

/* The command line. */
typedef struct
{
  char *config_file;      /* -c */
  gboolean version;       /* -v */
  gboolean signal_list;   /* --signal-list */
  gboolean unique_id;     /* --unique-id */
  gboolean quiesce_exit;  /* -x */
  gboolean immediate_exit;/* -X */
  char *debug_feature;    /* --debug-feature NAME; NULL when not given */
  char **command;         /* after "--"; NULL when none (transfer full) */
  /* private: what the command line set, applied by latch_options_apply() */
  gpointer priv;
} LatchOptions;

void latch_options_clear (LatchOptions *opts);

/* Which program parses: the command takes every option and a command
 * after "--"; the daemon takes -v, -c and the daemon settings (rows
 * marked so in the table), and no argument. */
typedef enum
{
  LATCH_PROGRAM_COMMAND,
  LATCH_PROGRAM_DAEMON,
} LatchProgram;

typedef struct
{
  LatchProgram program;
  const char *parameter_string; /* after "[OPTION…]" in --help; NULL: none */
  const char *summary;          /* --help text above the options; NULL: none */
  const char *description;      /* --help text below the options; NULL: none */
  const GOptionEntry *extra;    /* NULL-terminated more entries (latchd's
                                   --ready-fd); NULL: none */
} LatchOptionsSpec;

/* Parses argv (GOptionContext; -h prints help and exits 0).  Values are
 * not checked here beyond what GLib does.  For the daemon, an argument
 * that is not an option is an error. */
gboolean latch_options_parse (LatchOptions *opts, int *argc, char ***argv,
                              const LatchOptionsSpec *spec, GError **error);

/* Checks every value given on the command line and writes it into config
 * (on error config is unchanged; the error names the option). */
gboolean latch_options_apply (const LatchOptions *opts, LatchConfig *config,
                              GError **error);

/* Final checks after all sources are applied: the resource name's grammar
 * (latch_rsrc_name_check), the socket path length (< sizeof(sun_path)),
 * a socket name together with a unicast or multicast address (refused:
 * local or network, not both), the network interface (must exist).
 * The name "_RESOURCE" is the default; given explicitly (option or file)
 * it is refused when read, as FLoM does. */
gboolean latch_config_validate (const LatchConfig *config, GError **error);

G_END_DECLS

#endif
