/* daemon.c: latch_daemon_run: start-up and teardown.  The parts it starts
 * are in daemon-listen.c, daemon-session.c and daemon-lifetime.c
 * (daemon-private.h says which does what). */
#include "config.h"

#include "daemon/daemon.h"

#include "daemon/daemon-private.h"
#include "daemon/daemon-sd.h"

#include "common/log.h"
#include "net/tcp.h"
#include "sys/machine-id.h"
#include "tls/tls-loader.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Tells the service manager (Type=notify) how the daemon is doing:
 * nothing without NOTIFY_SOCKET, and nothing for a daemon that a command
 * started (--ready-fd): it may have inherited the variable of a service
 * that runs that command, and is not that service.  libsystemd is
 * loaded here, only then.  Without it the daemon still serves: the
 * manager waits for READY=1, times out and says so, after the one
 * warning here. */
static void
notify_manager (const Daemon *d, const char *state)
{
  static gboolean warned;
  g_autoptr (GError) error = NULL;
  const LatchSd *sd;

  if (d->config->ready_fd >= 0 || g_getenv ("NOTIFY_SOCKET") == NULL)
    return;
  if ((sd = latch_sd_load (&error)) != NULL)
    sd->notify (0, state);
  else if (!warned)
    {
      warned = TRUE;
      latch_log_warning ("NOTIFY_SOCKET is set, but %s; the service manager is not "
                         "told that latchd is ready", error->message);
    }
}

static void
report_ready (const Daemon *d, const char *line)
{
  if (d->config->ready_fd < 0)
    return;
  if (write (d->config->ready_fd, line, strlen (line)) < 0)
    latch_log_warning ("cannot report start-up status: %s", g_strerror (errno));
  close (d->config->ready_fd);
}

/* Resolves the security level and loads the credentials, once. */
static gboolean
setup_tls (Daemon *d, GError **error)
{
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);

  if (!latch_tls_settings_resolve (&d->tls_settings, LATCH_TLS_SERVER, &d->level, error))
    return FALSE;
  if (d->level == LATCH_SECURITY_CLEAR)
    return TRUE;
  if (d->level == LATCH_SECURITY_MUTUAL && d->peerid == NULL)
    d->peerid = latch_machine_id_get (NULL);
  if (d->level == LATCH_SECURITY_MUTUAL && d->peerid == NULL)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_MACHINE_ID,
                   "mutual authentication needs this node's machine ID, and there is "
                   "none: create /etc/machine-id (systemd-machine-id-setup or "
                   "dbus-uuidgen --ensure=/etc/machine-id)");
      return FALSE;
    }
  if ((d->tls = latch_tls_module_load (error)) == NULL)
    return FALSE;
  d->crl_stamp = latch_daemon_crl_stamp (d->tls_settings.crl);
  d->creds = d->tls->creds_new (&d->tls_settings, LATCH_TLS_SERVER, d->level, d->peerid,
                                warnings, error);
  for (guint i = 0; i < warnings->len; i++)
    latch_log_warning ("%s", (const char *)warnings->pdata[i]);
  return d->creds != NULL;
}

/* The agent's upstream side: TLS as a client would have it (the agent
 * stands for this host's commands), held for the daemon's life. */
typedef struct
{
  LatchSecurityLevel level;
  const LatchTlsModule *tls; /* NULL at CLEAR */
  LatchTlsCreds *creds;      /* client role; NULL at CLEAR */
  const char *own_id;        /* announced upstream; "" when none */
  GPtrArray *warnings;       /* the credentials' warnings (char *), or NULL */
} AgentTls;

static gboolean
setup_agent_tls (Daemon *d, AgentTls *a, GError **error)
{
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) id_error = NULL;

  a->own_id = "";
  d->level = LATCH_SECURITY_CLEAR; /* its own listener */
  if (!latch_tls_settings_resolve (&d->tls_settings, LATCH_TLS_CLIENT, &a->level, error))
    return FALSE;
  if (a->level == LATCH_SECURITY_CLEAR)
    return TRUE;
  if (a->level == LATCH_SECURITY_MUTUAL)
    {
      a->own_id = latch_machine_id_get (&id_error);
      if (a->own_id == NULL)
        {
          g_set_error (error, LATCH_ERROR, LATCH_ERROR_MACHINE_ID,
                       "mutual authentication needs this node's machine ID: %s",
                       id_error->message);
          return FALSE;
        }
    }
  else
    {
      /* Channel: announced all the same, as the command does (a FLoM
       * daemon checking peer IDs closes on an empty one). */
      a->own_id = latch_machine_id_read (NULL);
      if (a->own_id == NULL)
        a->own_id = "";
    }
  if ((a->tls = latch_tls_module_load (error)) == NULL)
    return FALSE;
  a->creds = a->tls->creds_new (&d->tls_settings, LATCH_TLS_CLIENT, a->level,
                                a->own_id[0] != '\0' ? a->own_id : NULL, warnings, error);
  for (guint i = 0; i < warnings->len; i++)
    latch_log_warning ("%s", (const char *)warnings->pdata[i]);
  /* Kept to go with a start-up failure: the command that started the
   * agent prints them, as it would have itself. */
  a->warnings = g_steal_pointer (&warnings);
  return a->creds != NULL;
}

/* A start-up failure's line, with the credentials' warnings folded in,
 * each as " (warning: ...)", so that the command prints one line. */
static char *
agent_failure_text (const AgentTls *a, const GError *error)
{
  GString *text = g_string_new (error->message);

  for (guint i = 0; a->warnings != NULL && i < a->warnings->len; i++)
    g_string_append_printf (text, " (warning: %s)", (const char *)a->warnings->pdata[i]);
  return g_string_free (text, FALSE);
}

/* Waits (poll) until fd is ready as the TLS layer wants, until deadline
 * (monotonic ms).  FALSE at the deadline. */
static gboolean
probe_wait (int fd, LatchTlsStatus want, gint64 deadline)
{
  for (;;)
    {
      struct pollfd pfd = { fd, want == LATCH_TLS_WANT_WRITE ? POLLOUT : POLLIN, 0 };
      gint64 left = deadline - g_get_monotonic_time () / 1000;
      int rc;

      if (left <= 0)
        return FALSE;
      rc = poll (&pfd, 1, (int)left);
      if (rc < 0 && errno == EINTR)
        continue;
      return rc > 0;
    }
}

/* The agent tries the upstream once before it says it is ready: a
 * connect (nobody listening is reported as "notlocal", as a network
 * daemon that cannot listen there does), and at a TLS level a handshake,
 * then a clean close.  A certificate the
 * upstream refuses (or that we refuse of it: another CA, revoked,
 * expired, a daemon without TLS) is then a start-up failure, which the
 * command prints in words; once running, the agent could only answer
 * such a failure with a bare rc 7.  An upstream that does not answer in
 * time (unreachable) is no failure: requests will say so. */
/* Ends a probe with a reset: a probe per agent start must not leave a
 * TIME_WAIT behind on this host each time. */
static void
probe_close (int fd)
{
  struct linger lg = { 1, 0 };

  (void)setsockopt (fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close (fd);
}

static gboolean
probe_upstream (Daemon *d, const LatchConfig *cfg, const AgentTls *a, GError **error)
{
  LatchKeepalive ka = { cfg->tcp_keepalive_time, cfg->tcp_keepalive_intvl,
                        cfg->tcp_keepalive_probes };
  g_autofree char *peer = g_strdup_printf ("the daemon at %s port %d", cfg->unicast_address,
                                           cfg->unicast_port);
  g_autoptr (GError) local = NULL;
  gint64 deadline = g_get_monotonic_time () / 1000 + LATCH_TLS_HANDSHAKE_MS;
  LatchTlsSession *session;
  LatchTlsStatus st;
  gboolean ok = TRUE;
  int fd = -1;
  int flags;

  switch (latch_tcp_connect (cfg->unicast_address, cfg->unicast_port, cfg->network_interface,
                             &ka, LATCH_TLS_HANDSHAKE_MS, &fd, &local))
    {
    case LATCH_TCP_OK:
      break;
    case LATCH_TCP_REFUSED:
      /* Nobody listens there (the command has started today's TCP
       * daemon first when the address is ours): the command waits a
       * moment for one, as it does without the agent ("notlocal"). */
      d->not_local = TRUE;
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_DAEMON_START, "no daemon answers at %s",
                   peer + strlen ("the daemon at "));
      return FALSE;
    default:
      latch_log_info ("%s does not answer yet: %s", peer, local != NULL ? local->message : "");
      return TRUE;
    }
  if (a->level == LATCH_SECURITY_CLEAR)
    {
      /* Closed before any message: the daemon forgets it. */
      probe_close (fd);
      return TRUE;
    }
  flags = fcntl (fd, F_GETFL);
  if (flags < 0 || fcntl (fd, F_SETFL, flags | O_NONBLOCK) < 0
      || (session = a->tls->session_new (a->creds, fd, peer, &local)) == NULL)
    {
      close (fd);
      return TRUE;
    }
  while ((st = a->tls->handshake (session, &local)) == LATCH_TLS_WANT_READ
         || st == LATCH_TLS_WANT_WRITE)
    if (!probe_wait (fd, st, deadline))
      break;
  if (st == LATCH_TLS_FAILED)
    ok = FALSE;
  else if (st == LATCH_TLS_OK)
    {
      /* TLS 1.3: the daemon judges our certificate after our side of the
       * handshake; its verdict is its answer to our close: an alert, or
       * its own close. */
      a->tls->bye (session);
      for (;;)
        {
          char buf[256];
          gsize got = 0;

          st = a->tls->recv (session, buf, sizeof buf, &got, &local);
          if (st == LATCH_TLS_OK && got > 0)
            continue;
          if (st == LATCH_TLS_OK)
            break; /* its close: accepted */
          if (st == LATCH_TLS_FAILED)
            {
              ok = !g_error_matches (local, LATCH_ERROR, LATCH_ERROR_TLS_REFUSED);
              break;
            }
          if (!probe_wait (fd, st, deadline))
            break;
        }
    }
  a->tls->session_free (session);
  probe_close (fd);
  if (!ok)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  return TRUE;
}

/* Every waiter and holder is a descriptor: the soft limit (often 1024)
 * goes up to the hard one, which only the administrator sets. */
static void
raise_fd_limit (void)
{
  struct rlimit lim;

  if (getrlimit (RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max)
    return;
  lim.rlim_cur = lim.rlim_max;
  if (setrlimit (RLIMIT_NOFILE, &lim) != 0)
    latch_log_warning ("cannot raise the descriptor limit to %llu: %s",
                       (unsigned long long)lim.rlim_max, g_strerror (errno));
}

/* The lock table on etcd ([Cluster] EtcdEndpoints): the node's TLS files
 * reach etcd too, so https endpoints need the CA, and TLS files with plain
 * http endpoints are refused (the table, and the node's locks, would go
 * over the network in clear to an etcd that admits anybody). */
static gboolean
open_etcd_table (Daemon *d, const char *instance, GError **error)
{
  const LatchConfig *cfg = d->config->settings;
  const LatchTlsSettings *tls = &d->tls_settings;
  gboolean https = g_str_has_prefix (cfg->etcd_endpoints, "https://");
  g_autoptr (GError) local = NULL;
  LatchTableEtcdConfig ec = {
    .endpoints = cfg->etcd_endpoints,
    .prefix = cfg->etcd_prefix,
    .lease_ttl = cfg->lease_ttl,
    .cert_file = https ? tls->certificate : NULL,
    .key_file = https ? tls->private_key : NULL,
    .ca_file = https ? tls->ca_certificate : NULL,
    .crl_file = https ? tls->crl : NULL,
    .priority = https ? tls->priority : NULL,
    .max_locks = cfg->max_locks_per_connection,
    .max_waiters = cfg->max_waiters_per_resource,
    .max_idle_lifespan = cfg->idle_lifespan_max,
    .idle_lifespan_min = cfg->idle_lifespan_min,
  };

  if (https && tls->ca_certificate == NULL)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "etcd endpoints %s are https:// but no TlsCaCertificate is set: name the "
                   "CA that signed the etcd members' certificates (and TlsCertificate, "
                   "TlsPrivateKey for this node)", cfg->etcd_endpoints);
      return FALSE;
    }
  if (!https && (tls->certificate != NULL || tls->ca_certificate != NULL))
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_INVALID_OPTION,
                   "TLS is configured but the etcd endpoints %s are plain http://: use "
                   "https:// endpoints of an etcd started with --client-cert-auth, so that "
                   "only this CA's nodes reach the lock table", cfg->etcd_endpoints);
      return FALSE;
    }
  d->table = latch_table_etcd_new (&ec, instance, &local);
  if (d->table == NULL)
    {
      g_set_error (error, LATCH_ERROR, LATCH_ERROR_CONNECT, "cannot keep the lock table on "
                   "etcd: %s", local->message);
      return FALSE;
    }
  return TRUE;
}

LatchDaemonExit
latch_daemon_run (const LatchDaemonConfig *config, GError **start_error)
{
  Daemon d = { 0 };
  AgentTls agent = { LATCH_SECURITY_CLEAR, NULL, NULL, "", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) id_error = NULL;
  gboolean busy = FALSE;
  gint64 start;
  g_autofree char *instance = NULL;

  d.config = config;
  d.tls_settings = latch_config_tls_settings (config->settings);
  d.lock_fd = -1;
  d.listen_fd = -1;
  d.idle_since = -1;
  d.fd_exhausted_since = -1;
  d.metrics = latch_daemon_metrics_new ();
  signal (SIGPIPE, SIG_IGN);
  signal (SIGHUP, SIG_IGN);
  raise_fd_limit ();

  /* Answers carry the machine ID at every level.  It is read from the
   * files libdbus reads, without loading libdbus (and the seven libraries
   * it brings), which only the mutual level asks (setup_tls). */
  d.peerid = latch_machine_id_read (&id_error);
  /* Names this daemon's owners to a backend shared with others. */
  start = g_get_real_time ();
  instance = g_strdup_printf ("%s.%" G_GINT64_FORMAT,
                              d.peerid != NULL && d.peerid[0] != '\0' ? d.peerid : "local",
                              start);
  /* The agent's own clients are local and clear (d.level stays CLEAR):
   * its TLS is the upstream session's. */
  /* An agent tries its upstream before it listens: one that then gives
   * up (nobody there yet, a refused certificate) must not take in
   * commands' connections first and leave them without an answer. */
  if (!(config->agent ? setup_agent_tls (&d, &agent, &error) : setup_tls (&d, &error))
      || !latch_net_init (&error)
      || (config->agent && !probe_upstream (&d, config->settings, &agent, &error))
      /* The table on etcd is opened before the daemon listens: opening
       * it runs the main context (the lease, the first read), which must
       * not accept a connection the sessions could not serve yet. */
      || (!config->agent && config->settings->etcd_endpoints != NULL
          && !open_etcd_table (&d, instance, &error))
      || !latch_daemon_start_listening (&d, &busy, &error)
      || !latch_daemon_metrics_start (&d, &error))
    {
      g_autofree char *line = NULL;

      if (busy)
        line = g_strdup ("busy\n");
      else if (d.not_local)
        line = g_strdup_printf ("notlocal: %s\n", error->message);
      else
        {
          g_autofree char *text = agent_failure_text (&agent, error);

          line = g_strdup_printf ("error: %s\n", text);
        }
      /* A command that started us prints the line itself (and a start
       * that lost the race to another is no news); a daemon run by hand or
       * by a service manager hands it to its caller, to be said as an
       * error. */
      if (config->ready_fd >= 0)
        latch_log_info ("not starting: %s", error->message);
      report_ready (&d, line);
      /* A table opened for a daemon that does not start (another one
       * listens already): its lease is revoked. */
      g_clear_pointer (&d.table, latch_table_free);
      if (d.creds != NULL)
        d.tls->creds_free (d.creds);
      if (agent.creds != NULL)
        agent.tls->creds_free (agent.creds);
      g_clear_pointer (&agent.warnings, g_ptr_array_unref);
      g_free (d.crl_stamp);
      g_clear_pointer (&d.metrics, latch_daemon_metrics_free);
      latch_daemon_stop_listening (&d);
      latch_net_shutdown ();
      g_clear_pointer (&d.discovery, latch_discovery_server_free);
      g_free (d.where);
      if (d.lock_fd >= 0)
        close (d.lock_fd);
      latch_sockpath_clear (&d.path);
      g_propagate_error (start_error, g_steal_pointer (&error));
      return busy ? LATCH_DAEMON_EXIT_BUSY : LATCH_DAEMON_EXIT_ERROR;
    }

  if (d.peerid == NULL)
    {
      latch_log_warning ("%s; answers carry an empty peer id", id_error->message);
      d.peerid = "";
    }
  d.loop = g_main_loop_new (NULL, FALSE);
  {
    if (d.table != NULL)
      ; /* on etcd, opened before the daemon said it was ready */
    else if (config->agent)
      {
        const LatchConfig *cfg = config->settings;
        const LatchUpstreamConfig upstream = {
          .address = cfg->unicast_address,
          .port = cfg->unicast_port,
          .level = agent.level,
          .tls = agent.tls,
          .creds = agent.creds,
          .own_id = agent.own_id,
          /* At mutual, the upstream's announced ID must be its
           * certificate's CN, as the command checks it. */
          .check_peer_id = agent.level == LATCH_SECURITY_MUTUAL,
          .session_timeout = cfg->session_timeout,
          .tcp_keepalive_time = cfg->tcp_keepalive_time,
          .tcp_keepalive_intvl = cfg->tcp_keepalive_intvl,
          .tcp_keepalive_probes = cfg->tcp_keepalive_probes,
        };

        d.table = latch_table_upstream_new (&upstream, instance);
      }
    else
      d.table = latch_table_memory_new (&(LatchLockerConfig){
          .first_fence = (guint64)start,
          .idle_lifespan_min = config->settings->idle_lifespan_min,
          .max_locks = config->settings->max_locks_per_connection,
          .max_resources = config->settings->max_resources,
          .max_waiters = config->settings->max_waiters_per_resource,
          .max_idle_lifespan = config->settings->idle_lifespan_max,
      }, instance);
  }
  latch_table_set_callbacks (d.table, &latch_daemon_table_callbacks, &d);
  if (!config->agent && config->settings->etcd_endpoints != NULL)
    latch_log_info ("lock table on etcd at %s (prefix %s, lease TTL %d s)",
                    config->settings->etcd_endpoints, config->settings->etcd_prefix,
                    config->settings->lease_ttl);
  d.clients = g_hash_table_new (NULL, NULL);
  latch_daemon_signals_add (&d);

  if (config->agent)
    latch_log_info ("agent for the daemon at %s port %d (security level %s, session "
                    "timeout %d ms): listening on %s (lifespan %d ms)",
                    config->settings->unicast_address, config->settings->unicast_port,
                    latch_security_level_name (agent.level), config->settings->session_timeout,
                    d.where, config->settings->daemon_lifespan);
  else if (config->settings->system)
    latch_log_info ("the host's daemon (group %s): listening on %s (never exits when idle; "
                    "idle resources kept %d ms at least, security level %s; limits: %d "
                    "locks per connection, %d resources, %d waiters per resource, idle "
                    "lifespan %d ms; 0: none)",
                    config->settings->system_group, d.where,
                    MAX (config->settings->idle_lifespan_min, 0),
                    latch_security_level_name (d.level),
                    MAX (config->settings->max_locks_per_connection, 0),
                    MAX (config->settings->max_resources, 0),
                    MAX (config->settings->max_waiters_per_resource, 0),
                    MAX (config->settings->idle_lifespan_max, 0));
  else
    latch_log_info ("listening on %s (lifespan %d ms, idle resources kept %d ms at least, "
                    "security level %s; limits: %d locks per connection, %d resources, "
                    "%d waiters per resource, idle lifespan %d ms; 0: none)",
                    d.where, config->settings->daemon_lifespan, MAX (config->settings->idle_lifespan_min, 0),
                    latch_security_level_name (d.level), MAX (config->settings->max_locks_per_connection, 0),
                    MAX (config->settings->max_resources, 0), MAX (config->settings->max_waiters_per_resource, 0),
                    MAX (config->settings->idle_lifespan_max, 0));
  report_ready (&d, "ok\n");
  {
    g_autofree char *state = g_strdup_printf ("READY=1\nSTATUS=listening on %s", d.where);

    notify_manager (&d, state);
  }
  latch_daemon_check_lifetime (&d);
  g_main_loop_run (d.loop);

  /* Unlink first, then release the lock file by exiting: a new daemon
   * cannot bind until we are gone, so two never serve at once. */
  d.exiting = TRUE;
  notify_manager (&d, "STOPPING=1");
  /* Never hand out a grant on a connection about to be closed: the table
   * notifies nothing from here on. */
  latch_table_shutdown (d.table);
  latch_daemon_stop_listening (&d);
  latch_daemon_signals_remove (&d);
  g_clear_handle_id (&d.idle_id, g_source_remove);
  {
    GHashTableIter iter;
    gpointer key;
    GPtrArray *all = g_ptr_array_new ();

    g_hash_table_iter_init (&iter, d.clients);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      g_ptr_array_add (all, key);
    for (guint i = 0; i < all->len; i++)
      {
        Client *c = all->pdata[i];
        if (g_hash_table_contains (d.clients, c))
          latch_conn_abort (c->conn, NULL);
      }
    g_ptr_array_free (all, TRUE);
  }
  g_hash_table_destroy (d.clients);
  g_clear_pointer (&d.metrics, latch_daemon_metrics_free);
  latch_net_shutdown ();
  latch_table_free (d.table); /* closes the agent's upstream session */
  if (d.creds != NULL)
    d.tls->creds_free (d.creds);
  if (agent.creds != NULL)
    agent.tls->creds_free (agent.creds);
  g_clear_pointer (&agent.warnings, g_ptr_array_unref);
  g_free (d.crl_stamp);
  g_main_loop_unref (d.loop);
  g_clear_pointer (&d.discovery, latch_discovery_server_free);
  g_free (d.where);
  latch_sockpath_clear (&d.path);
  if (d.lock_fd >= 0)
    close (d.lock_fd);
  return LATCH_DAEMON_EXIT_OK;
}
