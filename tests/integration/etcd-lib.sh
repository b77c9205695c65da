# etcd-lib.sh: real etcd members for the tests of the lock table on etcd.
# Sourced AFTER lib.sh (it uses T, free_port, wait_for and cleanup).
#
#   etcd_skip_unless_available   exit 77 (TAP skip) without /usr/bin/etcd
#   etcd_start N [tls]           N members (1 or 3) on loopback; sets
#                                ETCD_ENDPOINTS (comma-separated), ETCD_PIDS,
#                                ETCD_ENDPOINT_K, ETCD_PID_K (K = 1..N); with
#                                tls also ETCD_PKI and ETCD_CA (ca1.pem)
#   etcd_stop K / etcd_kill K    SIGTERM (waited for) / SIGKILL (reaped)
#   etcd_restart K               starts member K again on its data dir
#   etcd_leader                  prints K of the current leader
#   etcd_ctl ARGS...             etcdctl against all members (TLS flags set)
#
# With tls, members serve https with a certificate made here under
# tests/tls-certs.sh's CA1 (IP SAN 127.0.0.1), and admit only clients with
# a certificate from that CA (--client-cert-auth); ETCD_CLIENT_CERT_AUTH=0
# before etcd_start leaves that out.  The client certificate for tests is
# "$ETCD_PKI/client.pem" (+ .key), also under CA1.  Peers talk plain http.
#
# etcd's own output goes to "$T/etcd-K.log".  Members are killed by pid at
# exit, before lib.sh's cleanup removes their data directories.

ETCD=${ETCD:-/usr/bin/etcd}
ETCDCTL=${ETCDCTL:-/usr/bin/etcdctl}
ETCD_N=0
ETCD_PIDS=""
ETCD_ENDPOINTS=""
ETCD_TLS=""

etcd_skip_unless_available () {
  if [ ! -x "$ETCD" ] || [ ! -x "$ETCDCTL" ]; then
    echo "1..0 # SKIP etcd not installed ($ETCD, $ETCDCTL)"
    exit 77
  fi
}

# Kill every member we started and reap it, then lib.sh's cleanup.
etcd_cleanup () {
  local k pid
  for k in $(seq 1 "$ETCD_N"); do etcd_kill "$k"; done
  cleanup
}
trap etcd_cleanup EXIT

# The member certificate (IP SAN 127.0.0.1, server and client purposes:
# etcd's gateway dials its own gRPC server with it) and a client
# certificate, both under CA1.
etcd_make_pki () {
  ETCD_PKI="$T/pki"
  if [ ! -e "$ETCD_PKI/ca1.pem" ]; then
    "$LATCH_TESTS_SRCDIR/tls-certs.sh" "$ETCD_PKI" 0123456789abcdef0123456789abcdef ||
      { echo "Bail out! tests/tls-certs.sh failed"; exit 1; }
  fi
  ETCD_CA="$ETCD_PKI/ca1.pem"
  [ -e "$ETCD_PKI/member.pem" ] && return 0
  local name
  for name in member client; do
    cat > "$ETCD_PKI/$name.tmpl" <<EOF
cn = "etcd test $name"
ip_address = 127.0.0.1
expiration_days = 30
tls_www_server
tls_www_client
signing_key
encryption_key
EOF
    certtool --generate-privkey --key-type ecdsa --outfile "$ETCD_PKI/$name.key" \
      >/dev/null 2>&1 &&
    certtool --generate-certificate --load-privkey "$ETCD_PKI/$name.key" \
      --load-ca-certificate "$ETCD_PKI/ca1.pem" --load-ca-privkey "$ETCD_PKI/ca1.key" \
      --template "$ETCD_PKI/$name.tmpl" --outfile "$ETCD_PKI/$name.pem" >/dev/null 2>&1 ||
      { echo "Bail out! certtool: cannot make the etcd $name certificate"; exit 1; }
  done
  chmod 600 "$ETCD_PKI"/*.key
}

# etcd_run K: starts member K (its ports, cluster and flags set by etcd_start).
etcd_run () {
  local k=$1 cport pport scheme=http tlsargs=""
  eval "cport=\$ETCD_CPORT_$k; pport=\$ETCD_PPORT_$k"
  if [ -n "$ETCD_TLS" ]; then
    scheme=https
    tlsargs="--cert-file=$ETCD_PKI/member.pem --key-file=$ETCD_PKI/member.key"
    if [ "${ETCD_CLIENT_CERT_AUTH:-1}" != 0 ]; then
      tlsargs="$tlsargs --client-cert-auth --trusted-ca-file=$ETCD_CA"
    fi
  fi
  # shellcheck disable=SC2086 # tlsargs is a list of words
  "$ETCD" --name "m$k" --data-dir "$T/etcd-$k.data" \
    --listen-client-urls "$scheme://127.0.0.1:$cport" \
    --advertise-client-urls "$scheme://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" \
    --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "$ETCD_CLUSTER" --initial-cluster-state new \
    --initial-cluster-token "latch-test-$$" \
    --heartbeat-interval 50 --election-timeout 500 \
    --snapshot-count 10000 $tlsargs \
    >> "$T/etcd-$k.log" 2>&1 &
  eval "ETCD_PID_$k=\$!"
}

etcd_ctl () {
  if [ -n "$ETCD_TLS" ]; then
    "$ETCDCTL" --endpoints="$ETCD_ENDPOINTS" --cacert="$ETCD_CA" \
      --cert="$ETCD_PKI/client.pem" --key="$ETCD_PKI/client.key" "$@"
  else
    "$ETCDCTL" --endpoints="$ETCD_ENDPOINTS" "$@"
  fi
}

etcd_healthy () { etcd_ctl --dial-timeout=1s --command-timeout=1s endpoint health >/dev/null 2>&1; }

etcd_start () {
  local n=$1 k scheme=http
  ETCD_TLS=${2:-}
  [ -n "$ETCD_TLS" ] && scheme=https
  [ -n "$ETCD_TLS" ] && etcd_make_pki
  ETCD_N=$n
  ETCD_CLUSTER=""
  ETCD_ENDPOINTS=""
  ETCD_PIDS=""
  for k in $(seq 1 "$n"); do
    free_port; eval "ETCD_CPORT_$k=$PORT"
    free_port; eval "ETCD_PPORT_$k=$PORT"
    ETCD_CLUSTER="$ETCD_CLUSTER${ETCD_CLUSTER:+,}m$k=http://127.0.0.1:$(eval echo "\$ETCD_PPORT_$k")"
    eval "ETCD_ENDPOINT_$k=$scheme://127.0.0.1:\$ETCD_CPORT_$k"
    ETCD_ENDPOINTS="$ETCD_ENDPOINTS${ETCD_ENDPOINTS:+,}$(eval echo "\$ETCD_ENDPOINT_$k")"
  done
  for k in $(seq 1 "$n"); do
    etcd_run "$k"
    ETCD_PIDS="$ETCD_PIDS${ETCD_PIDS:+ }$(eval echo "\$ETCD_PID_$k")"
  done
  export ETCD_ENDPOINTS ETCD_PIDS
  if ! wait_for 20 etcd_healthy; then
    echo "Bail out! etcd ($n members) did not become healthy in 20 s; see $T/etcd-*.log"
    for k in $(seq 1 "$n"); do tail -n 5 "$T/etcd-$k.log" | sed 's/^/# /'; done
    exit 1
  fi
}

etcd_stop () {
  local pid
  eval "pid=\${ETCD_PID_$1:-}"
  [ -n "$pid" ] || return 0
  { kill -TERM "$pid"; wait "$pid"; } 2>/dev/null
  return 0
}

# The shell's "Killed" report of the job goes to /dev/null with the rest.
etcd_kill () {
  local pid
  eval "pid=\${ETCD_PID_$1:-}"
  [ -n "$pid" ] || return 0
  { kill -KILL "$pid"; wait "$pid"; } 2>/dev/null
  return 0
}

etcd_restart () {
  local k=$1 ep
  etcd_kill "$k"
  etcd_run "$k"
  ETCD_PIDS=""
  for k in $(seq 1 "$ETCD_N"); do
    ETCD_PIDS="$ETCD_PIDS${ETCD_PIDS:+ }$(eval echo "\$ETCD_PID_$k")"
  done
  eval "ep=\$ETCD_ENDPOINT_$1"
  wait_for 20 etcd_ctl --endpoints="$ep" --dial-timeout=1s --command-timeout=1s \
    endpoint health >/dev/null 2>&1
}

# The leader's K: the member whose status says it is its own leader.
etcd_leader () {
  local k ep line
  for k in $(seq 1 "$ETCD_N"); do
    eval "ep=\$ETCD_ENDPOINT_$k"
    # etcdctl itself, not etcd_ctl: a second --endpoints would be added
    # to the first, not replace it.
    if [ -n "$ETCD_TLS" ]; then
      line=$("$ETCDCTL" --endpoints="$ep" --cacert="$ETCD_CA" --cert="$ETCD_PKI/client.pem" \
               --key="$ETCD_PKI/client.key" --dial-timeout=1s --command-timeout=1s \
               endpoint status -w json 2>/dev/null) || continue
    else
      line=$("$ETCDCTL" --endpoints="$ep" --dial-timeout=1s --command-timeout=1s \
               endpoint status -w json 2>/dev/null) || continue
    fi
    # [{"Endpoint":..,"Status":{"header":{..,"member_id":A,..},..,"leader":B,..}}]
    if printf '%s' "$line" | jq -e '.[0].Status | .leader != null and .header.member_id == .leader' >/dev/null 2>&1
    then
      echo "$k"
      return 0
    fi
  done
  return 1
}
