#!/bin/bash
# The lock table on an etcd cluster that speaks TLS and admits only
# clients with a certificate from its CA (--client-cert-auth): a node's
# own TLS files (as for latch's levels) reach it; two daemons serialize
# through it; every way of getting it wrong is refused at the daemon's
# start in one line naming the endpoint and the fix, exit 99, never a
# silent fallback to a table in memory.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"
. "$LATCH_TESTS_SRCDIR/integration/etcd-lib.sh"
etcd_skip_unless_available

etcd_start 1 tls
E=$ETCD_ENDPOINTS
P=$ETCD_PKI
node="--tls-certificate=$P/client.pem --tls-private-key=$P/client.key --tls-ca-certificate=$ETCD_CA"

mkdir -p "$T/runA" "$T/runB" "$T/runC" "$T/homeA" "$T/homeB" "$T/homeC"
chmod 700 "$T/runA" "$T/runB" "$T/runC"
# run DIR ARGS...: a command as the user whose runtime directory is DIR.
run () { local d=$1; shift; XDG_RUNTIME_DIR="$T/run$d" HOME="$T/home$d" "$LATCH" -d -1 "$@"; }
daemons () { local f; for f in "$T"/run?/latch/etcd-*.sock.lock; do [ -s "$f" ] && head -n1 "$f"; done; }
trap 'for p in $(daemons); do kill -KILL "$p" 2>/dev/null; done; etcd_cleanup' EXIT

# one_line TEXT: exactly one line.
one_line () { [ "$(printf '%s\n' "$1" | grep -c .)" = 1 ]; }

out=$(run A --etcd-endpoints="$E" $node -r tlsx -- sh -c 'echo "$LATCH_FENCE"' 2>&1); st=$?
[ $st = 0 ] && contains "$out" '^[0-9]+$'
verdict "the node's certificate reaches an etcd with --client-cert-auth (exit $st, fence $out)"

rm -f "$T/go" "$T/held"
bg run A --etcd-endpoints="$E" $node -r tlsy -- sh -c 'touch "$1/held"; while [ ! -e "$1/go" ]; do sleep 0.02; done' sh "$T"
hp=$last_pid
wait_for 10 file_exists "$T/held" || diag "the holder never ran"
run B --etcd-endpoints="$E" $node -r tlsy -o 0 -- true 2>/dev/null; st=$?
[ $st = 98 ]; verdict "held through one daemon, busy through another, both over TLS (exit $st)"
touch "$T/go"; wait $hp

# Wrong CA: the member's certificate is not signed by ours.
err=$(run C --etcd-endpoints="$E" --tls-certificate="$P/peer1_ca2.pem" \
        --tls-private-key="$P/peer1_ca2.key" --tls-ca-certificate="$P/ca2.pem" -r x -- true 2>&1); st=$?
[ $st = 99 ] && one_line "$err" && contains "$err" "${E#https://}" && contains "$err" 'ca2.pem'
verdict "a CA that did not sign the member: one line naming the endpoint and the CA file, exit 99 ($err)"

# Our certificate from another CA: etcd refuses it.
err=$(run C --etcd-endpoints="$E" --tls-certificate="$P/peer1_ca2.pem" \
        --tls-private-key="$P/peer1_ca2.key" --tls-ca-certificate="$ETCD_CA" -r x -- true 2>&1); st=$?
[ $st = 99 ] && one_line "$err" && contains "$err" "${E#https://}"
verdict "a node certificate etcd does not trust: one line naming the endpoint, exit 99 ($err)"

# https with no CA at all.
err=$(run C --etcd-endpoints="$E" -r x -- true 2>&1); st=$?
[ $st = 99 ] && one_line "$err" && contains "$err" 'TlsCaCertificate'
verdict "https endpoints without TlsCaCertificate: one line naming the setting, exit 99 ($err)"

# TLS files with a plain endpoint (an etcd that admits anybody in clear).
err=$(run C --etcd-endpoints="http://${E#https://}" $node -r x -- true 2>&1); st=$?
[ $st = 99 ] && one_line "$err" && contains "$err" 'https://'
verdict "TLS files with an http:// endpoint: refused in one line, exit 99 ($err)"

# A TLS member that does not ask for client certificates.
ETCD_CLIENT_CERT_AUTH=0
open_e=$ETCD_ENDPOINTS
etcd_stop 1
rm -rf "$T/etcd-1.data"
etcd_start 1 tls
err=$(run C --etcd-endpoints="$ETCD_ENDPOINTS" $node -r x -- true 2>&1); st=$?
[ $st = 99 ] && one_line "$err" && contains "$err" 'client-cert-auth'
verdict "a member without --client-cert-auth: refused, naming the option, exit 99 ($err)"

# None of the refused starts left a daemon (or a table in memory) behind.
[ -z "$(ls "$T/runC/latch/" 2>/dev/null | grep '\.sock$')" ]
verdict "no daemon was left listening for the refused starts"

finish
