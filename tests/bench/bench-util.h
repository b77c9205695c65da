/* bench-util: helpers shared by the bench programs (tests/bench).
 *
 * bench-util.c needs only GLib and libc (every bench program links it);
 * bench-util-latch.c needs liblatch (libclient.la: bench-lock and
 * bench-idle link it). */

#ifndef LATCH_BENCH_UTIL_H
#define LATCH_BENCH_UTIL_H

#include "latch.h"

#include <glib.h>

#include <stddef.h>

/* ---- bench-util.c -------------------------------------------------------- */

/* CLOCK_MONOTONIC in ns. */
gint64 bench_monotonic_ns (void);

/* "clear", "channel" or "mutual", as the programs print security=. */
const char *bench_security_name (LatchSecurityLevel level);

/* Splits HOST:PORT or [ADDR]:PORT (a bare IPv6 address needs the
 * brackets); with host_optional, a lone PORT too (host NULL).  PORT is
 * 1 to 65535.  On success *host is newly allocated (or NULL), *port_text
 * (when not NULL) points at PORT in text and *port (when not NULL) is its
 * value; on failure *host is NULL. */
gboolean bench_parse_host_port (const char *text, gboolean host_optional, char **host,
                                const char **port_text, int *port);

/* Parses the command line against entries (summary: the --help line's
 * text after the program's name); FALSE, with "PROGRAM: message" printed
 * on stderr, on bad options. */
gboolean bench_parse_options (const char *program, const char *summary,
                              const GOptionEntry *entries, int *argc, char ***argv);

/* ---- the daemon and the lock (bench-lock, bench-idle) -------------------- */

/* Where the daemon is and how to lock there: one of socket, tcp_host or
 * mcast_group is set (tcp_host and mcast_group together: TCP, with
 * discovery answered by the daemon liblatch starts). */
typedef struct
{
  const char *socket;
  const char *tcp_host;
  int tcp_port;
  const char *mcast_group;
  int mcast_port;
  const char *interface;
  const char *resource;
  LatchLockMode mode;
  int lifespan; /* -1: start a daemon that stays; 0: never start one */
  /* TLS (all NULL: clear text) */
  const char *tls_certificate;
  const char *tls_private_key;
  const char *tls_ca_certificate;
  const char *tls_priority;
  LatchSecurityLevel level; /* CLEAR, CHANNEL or MUTUAL */
} BenchTarget;

/* (bench-util.c) --tls-dir DIR, --tls-cert NAME, --tls-priority and
 * --mutual set on t: with DIR NULL, the clear level; else the files that
 * tests/tls-certs.sh makes, DIR/NAME.pem, DIR/NAME.key (NAME NULL:
 * peer1_ca1) and the CA DIR/ca1.pem, with DIR made absolute, and the
 * channel level, or mutual.  The file names are returned in certificate,
 * private_key and ca_certificate (NULL without DIR) for the caller to
 * free; t points at them. */
void bench_target_tls (BenchTarget *t, const char *tls_dir, const char *tls_cert,
                       const char *tls_priority, gboolean mutual, char **certificate,
                       char **private_key, char **ca_certificate);

/* (bench-util-latch.c) A liblatch handle set up for t; NULL with the
 * message in error on a failure. */
LatchHandle *bench_open_handle (const BenchTarget *t, char *error, size_t error_size);

#endif /* LATCH_BENCH_UTIL_H */
