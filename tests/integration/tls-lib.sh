# tls-lib.sh: shared by the TLS integration tests.  Sourced after lib.sh
# (and netns-lib.sh, for the multi-host test).  Speaks TAP like lib.sh.
#
# On sourcing: skips the whole file without certtool; makes the test PKI
# once in $PKI (tests/tls-certs.sh) for the machine ID $TLS_MACHINE_ID
# (default: `latch --unique-id`) plus the NAME=ID certificates listed in
# $TLS_EXTRA_CERTS.
#
#   $PKI, $MID (the machine ID the node certificates carry), $TLS_PEER
#   tls_opts NAME CA         the three file options for NAME.pem/.key, CA.pem
#                            (+ --tls-priority=$TLS_FORCE_PRIORITY if set:
#                            rerun a file with TLS 1.2 forced)
#   tls_conf FILE [KEY=VALUE ...]          a [TLS] group with these keys
#   tls_conf_files FILE NAME CA [KEY=VALUE ...]  ... plus the three files
#   tls_port                 sets TLS_PORT to a free TCP port of this test
#   at_sock NAME | at_tcp [ADDR]           where the next daemon lives:
#                            sets W (latch's connection options), WPEER
#                            (tls-peer's), WPORT
#   tls_daemon ARGS...       starts a daemon at W that stays (-d -1), with
#                            ARGS (TLS options), trace $DTRACE (-V); sets
#                            DPID (empty when none runs); returns latch's
#                            status.  The daemon is killed at exit.
#   daemon_alive, daemon_stops   DPID runs / is gone within 10 s
#   refused DESC PATTERNS ARGS...   latch ARGS exits 99 within 20 s, one
#                            line on stderr matching every ERE of PATTERNS
#                            (separated by " && "), case-insensitively
#                            (TLS_VERBOSE=1: show the line when it passes)
#   locks DESC ARGS...       latch ARGS exits 0 within 20 s
#   warns DESC PATTERN ARGS...  latch ARGS exits 0 with PATTERN on stderr
#   COND; peer_verdict DESC  verdict, showing $out (tls-peer's) on failure
#   lock_msg PEERID NAME     a raw lock request (1/8), as latch writes it
#   mgmt_msg PEERID IMMEDIATE  a raw management request (5/8)

command -v certtool >/dev/null 2>&1 || {
  echo "1..0 # SKIP certtool (gnutls-bin) not found"
  exit 0
}

TLS_PEER="${LATCH_TESTS_BUILDDIR:-$(dirname "$LATCH")/tests}/integration/tls-peer"
PKI="$T/pki"
MID=${TLS_MACHINE_ID:-$("$LATCH" --unique-id 2>/dev/null)}
[ -n "$MID" ] || { echo "Bail out! no machine ID (latch --unique-id)"; exit 1; }
# shellcheck disable=SC2086 # NAME=ID words
"$LATCH_TESTS_SRCDIR/tls-certs.sh" "$PKI" "$MID" ${TLS_EXTRA_CERTS:-} ||
  { echo "Bail out! tests/tls-certs.sh failed"; exit 1; }

tls_opts () { # NAME CA
  printf -- '--tls-certificate=%s --tls-private-key=%s --tls-ca-certificate=%s' \
    "$PKI/$1.pem" "$PKI/$1.key" "$PKI/$2.pem"
  if [ -n "${TLS_FORCE_PRIORITY:-}" ]; then printf ' --tls-priority=%s' "$TLS_FORCE_PRIORITY"; fi
  echo
}

# The keys a [TLS] group may hold (FLoM's four, then latch's).
TLS_KEYS="TlsCertificate TlsPrivateKey TlsCaCertificate TlsCheckPeerId TlsCrl TlsPriority SecurityLevel TlsAllowedPeers TlsRequireClientCertificate"

tls_conf () { # FILE [KEY=VALUE ...]
  local file=$1 kv; shift
  echo "[TLS]" > "$file"
  for kv in "$@"; do
    case " $TLS_KEYS " in
      *" ${kv%%=*} "*) ;;
      *) echo "Bail out! tls_conf: unknown key in '$kv'"; exit 1 ;;
    esac
    printf '%s\n' "$kv" >> "$file"
  done
}

tls_conf_files () { # FILE NAME CA [KEY=VALUE ...]
  local file=$1 name=$2 ca=$3; shift 3
  tls_conf "$file" "TlsCertificate=$PKI/$name.pem" "TlsPrivateKey=$PKI/$name.key" \
    "TlsCaCertificate=$PKI/$ca.pem" "$@"
}

# Ports come from lib.sh's free_port.
tls_port () { free_port; TLS_PORT=$PORT; }

W=""; WPEER=""; WPORT=""; WLOCK=""
at_sock () { # NAME
  W="-s $T/$1.sock"; WPEER="--unix $T/$1.sock"; WLOCK="$T/$1.sock.lock"; WPORT=""
}
at_tcp () { # [ADDR]
  local addr=${1:-127.0.0.1}
  tls_port
  W="-a $addr -p $TLS_PORT"; WPORT=$TLS_PORT; WLOCK=""
  case $addr in
    *:*) WPEER="--tcp [$addr]:$TLS_PORT" ;;
    *) WPEER="--tcp $addr:$TLS_PORT" ;;
  esac
}

# where_pid: the pid of the daemon at W, or nothing.
where_pid () {
  if [ -n "$WLOCK" ]; then
    [ -s "$WLOCK" ] && head -n1 "$WLOCK"
  else
    ss -Hltnp "sport = :$WPORT" 2>/dev/null | sed -n 's/.*pid=\([0-9][0-9]*\).*/\1/p' | head -n1
  fi
}

n_daemons=0
DPID=""; DTRACE=""
tls_daemon () { # ARGS...
  local st
  n_daemons=$((n_daemons + 1))
  DTRACE="$T/d$n_daemons.trace"
  # shellcheck disable=SC2086 # W is words
  timeout -k 2 20 "$LATCH" $W "$@" -V -t "$DTRACE" -d -1 -r tlsstart -- true \
    > "$T/d$n_daemons.out" 2> "$T/d$n_daemons.err"
  st=$?
  DPID=$(where_pid)
  # lib.sh's cleanup kills what *.sockpid files name.
  [ -n "$DPID" ] && echo "$DPID" > "$T/d$n_daemons.sockpid"
  if [ $st != 0 ]; then diag "daemon start ($*) exit $st: $(one_line "$(cat "$T/d$n_daemons.err")")"; fi
  return $st
}

# The daemon tls_daemon started (DPID) runs / stops within 10 s.  False
# when there is no DPID (kill -0 0 would succeed).
daemon_alive () { [ -n "$DPID" ] && pid_alive "$DPID"; }
daemon_stops () { [ -n "$DPID" ] && wait_for 10 pid_gone "$DPID"; }

# one_line TEXT: TEXT's lines joined with " | " (for a TAP description).
one_line () { printf '%s\n' "$1" | awk 'NR > 1 { printf " | " } { printf "%s", $0 }'; }

# The last lines of the current daemon's trace, as TAP comments.
trace_tail () {
  [ -n "$DTRACE" ] && [ -s "$DTRACE" ] || return 0
  tail -n 8 "$DTRACE" | sed 's/^/#   trace: /'
}

# has_all TEXT PATTERNS: TEXT matches every ERE in PATTERNS (" && "),
# ignoring case.
has_all () {
  local text=$1 rest=$2 p
  while :; do
    p=${rest%% && *}
    printf '%s\n' "$text" | grep -qiE -- "$p" || return 1
    [ "$p" = "$rest" ] && return 0
    rest=${rest#* && }
  done
}

refused () { # DESC PATTERNS ARGS...
  local desc=$1 pats=$2 err st; shift 2
  err=$(timeout -k 2 20 "$LATCH" "$@" 2>&1 >/dev/null); st=$?
  # Warnings (e.g. a certificate outside its own CA file) are part of
  # the refusal's one line.
  if [ $st = 99 ] && [ -n "$err" ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] &&
     has_all "$err" "$pats"; then
    ok "$desc"
    if [ -n "${TLS_VERBOSE:-}" ]; then diag "stderr: $err"; fi
  else
    not_ok "$desc (exit $st, want 99 and one line matching '$pats': $(one_line "$err"))"
    trace_tail
  fi
}

locks () { # DESC ARGS...
  local desc=$1 err st; shift
  err=$(timeout -k 2 20 "$LATCH" "$@" 2>&1 >/dev/null); st=$?
  if [ $st = 0 ]; then
    ok "$desc"
  else
    not_ok "$desc (exit $st: $(one_line "$err"))"
    trace_tail
  fi
}

warns () { # DESC PATTERN ARGS...
  local desc=$1 pat=$2 err st; shift 2
  err=$(timeout -k 2 20 "$LATCH" "$@" 2>&1 >/dev/null); st=$?
  if [ $st = 0 ] && has_all "$err" "$pat"; then
    ok "$desc"
  else
    not_ok "$desc (exit $st, want 0 and '$pat' on stderr: $(one_line "$err"))"
    trace_tail
  fi
}

peer_verdict () { # DESC
  if [ $? = 0 ]; then
    ok "$1"
  else
    not_ok "$1"
    printf '%s\n' "${out:-}" | sed 's/^/#   tls-peer: /'
    trace_tail
  fi
}

TLS_DECL='<?xml version="1.0" encoding="UTF-8" ?>'
lock_msg () { # PEERID NAME
  printf '%s<msg level="3" verb="1" step="8"><session peerid="%s"/><resource name="%s" mode="5" wait="0" create="1" lifespan="0"/></msg>' \
    "$TLS_DECL" "$1" "$(printf '%s' "$2" | base64)"
}
mgmt_msg () { # PEERID IMMEDIATE
  printf '%s<msg level="3" verb="5" step="8"><session peerid="%s"/><shutdown immediate="%s"/></msg>' \
    "$TLS_DECL" "$1" "$2"
}
