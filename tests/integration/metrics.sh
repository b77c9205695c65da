#!/bin/sh
# The daemon's metrics (Prometheus text format 0.0.4) over its HTTP
# endpoint (--metrics-address): exact counts after real locks (grants by
# mode, a queued waiter, a busy refusal, a client's timeout), the wait
# histogram, the open-connections gauge going back down, 404 elsewhere,
# the format itself; on a TLS daemon, handshakes and their failures; a
# bad or busy address refused at start-up in one line.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

# http_get PORT PATH: sets HTTP_CODE and HTTP_BODY (curl, else bash's
# /dev/tcp), bounded by 10 s.
http_get () {
  local raw
  if command -v curl > /dev/null 2>&1; then
    HTTP_CODE=$(curl -s --max-time 10 -o "$T/http.body" -w '%{http_code}' \
      "http://127.0.0.1:$1$2")
    HTTP_BODY=$(cat "$T/http.body" 2>/dev/null)
  else
    raw=$(timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
      printf "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "$2" >&3
      cat <&3' sh "$1" "$2" | tr -d '\r')
    HTTP_CODE=$(printf '%s\n' "$raw" | sed -n '1s/^HTTP\/1\.[01] \([0-9]*\).*/\1/p')
    HTTP_BODY=$(printf '%s\n' "$raw" | sed '1,/^$/d')
  fi
}

# metric PORT SAMPLE: the value of the sample named exactly SAMPLE (with
# its labels, e.g. 'latch_grants_total{mode="EX"}'), or nothing.
metric () {
  http_get "$1" /metrics
  printf '%s\n' "$HTTP_BODY" | awk -v s="$2" '$1 == s { print $2 }'
}
# metric_is PORT SAMPLE VALUE: for wait_for.
metric_is () { [ "$(metric "$1" "$2")" = "$3" ]; }

# valid_format: HTTP_BODY is well-formed exposition text: HELP and TYPE
# lines for valid names, each sample after its family's TYPE line, label
# sets well-formed, values numbers.  Prints what is wrong.
valid_format () {
  printf '%s\n' "$HTTP_BODY" | awk '
    function fail(why) { print "line " NR ": " why ": " $0; bad = 1 }
    /^# HELP / { if ($3 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*$/) fail("bad name"); next }
    /^# TYPE / {
      if ($3 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*$/) fail("bad name")
      if ($4 !~ /^(counter|gauge|histogram|summary|untyped)$/) fail("bad type")
      if ($3 in typed) fail("second TYPE line")
      typed[$3] = $4; next
    }
    /^#/ { next }
    /^$/ { next }
    {
      name = $0; sub(/[{ ].*/, "", name)
      if (name !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*$/) fail("bad sample name")
      base = name
      if (!(base in typed)) { sub(/_(bucket|sum|count)$/, "", base) }
      if (!(base in typed)) fail("sample before its TYPE line")
      else if (base != name && typed[base] != "histogram" && typed[base] != "summary")
        fail("suffix on a " typed[base])
      rest = substr($0, length(name) + 1)
      if (rest ~ /^\{/) {
        labels = rest; sub(/\}.*/, "}", labels)
        if (labels !~ /^\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\[\\"n])*",?)*\}$/) fail("bad labels")
        rest = substr(rest, length(labels) + 1)
      }
      if (rest !~ /^ (-?[0-9.]+([eE][-+]?[0-9]+)?|\+Inf|-Inf|NaN)$/) fail("bad value")
      n++
    }
    END { if (n == 0) { print "no samples"; bad = 1 } ; exit bad }'
}

free_port; MPORT=$PORT
"$LATCH" -d -1 -t "$TRACE" --metrics-address="127.0.0.1:$MPORT" -r init -- true
DPID=$(daemon_pid)

http_get "$MPORT" /metrics
check "GET /metrics answers 200" [ "$HTTP_CODE" = 200 ]
check "...with a latch_build_info sample" contains "$HTTP_BODY" '^latch_build_info\{version="[^"]+",security_level="clear",backend="memory"\} 1$'
why=$(valid_format); st=$?
[ $st = 0 ] || diag "$why"
check "...in valid exposition format (names, TYPE before samples, labels, values)" [ $st = 0 ]
if command -v curl > /dev/null 2>&1; then
  ctype=$(curl -s --max-time 10 -o /dev/null -w '%{content_type}' "http://127.0.0.1:$MPORT/metrics")
  check "...as text/plain; version=0.0.4" contains "$ctype" '^text/plain; version=0\.0\.4'
fi
http_get "$MPORT" /other
check "GET /other answers 404" [ "$HTTP_CODE" = 404 ]

"$HELPER" lock busy 5 -1 "$T/go" > "$T/holder.out" &
hp=$!
wait_for 10 file_has "$T/holder.out" granted
check "a lock held: connections open goes up" [ "$(metric "$MPORT" latch_connections_open)" -ge 1 ]
check "...holders and waiters: 1" metric_is "$MPORT" latch_locks_active 1
check "...resources: at least 1" [ "$(metric "$MPORT" latch_resources)" -ge 1 ]

expect_status 98 "a busy refusal (-o 0)" "$LATCH" -r busy -o 0 -- true 2>/dev/null
expect_status 98 "a client's timeout while queued (-o 300)" "$LATCH" -r busy -o 300 -- true 2>/dev/null
check "...counted as a cancellation" wait_for 10 metric_is "$MPORT" latch_cancellations_total 1

bg "$LATCH" -r busy -o 20000 -- true; waiter=$last_pid
check "a waiter queues" wait_for 10 metric_is "$MPORT" latch_requests_waiting 1
check "...holders and waiters: 2" metric_is "$MPORT" latch_locks_active 2
touch "$T/go"
wait $hp
wait $waiter; st=$?
check "...and gets the lock when the holder leaves" [ $st = 0 ]
expect_status 0 "a PR lock" "$LATCH" -r other -l PR -- true
expect_status 0 "a numeric lock" "$LATCH" -r 'units[3]' -q 2 -- true

check "connections open goes back to 0" wait_for 10 metric_is "$MPORT" latch_connections_open 0
http_get "$MPORT" /metrics
m () { printf '%s\n' "$HTTP_BODY" | awk -v s="$1" '$1 == s { print $2 }'; }
check "grants: EX 3 (init, holder, waiter)" [ "$(m 'latch_grants_total{mode="EX"}')" = 3 ]
check "grants: PR 1" [ "$(m 'latch_grants_total{mode="PR"}')" = 1 ]
check "grants: none 1 (numeric: no modes)" [ "$(m 'latch_grants_total{mode="none"}')" = 1 ]
check "waits: 2 (the timed-out one and the waiter)" [ "$(m latch_waits_total)" = 2 ]
check "refusals: busy 1" [ "$(m 'latch_refusals_total{reason="busy"}')" = 1 ]
check "cancellations: 1" [ "$(m latch_cancellations_total)" = 1 ]
check "wait histogram: count 1 (granted waits only)" [ "$(m latch_wait_seconds_count)" = 1 ]
check "...its +Inf bucket is the count" [ "$(m 'latch_wait_seconds_bucket{le="+Inf"}')" = 1 ]
check "...the 60 s bucket holds it" [ "$(m 'latch_wait_seconds_bucket{le="60"}')" = 1 ]
check "...and the 1 ms bucket does not (it waited for the holder)" [ "$(m 'latch_wait_seconds_bucket{le="0.001"}')" = 0 ]
sum=$(m latch_wait_seconds_sum)
check "...its sum is more than 0" awk -v s="$sum" 'BEGIN { exit !(s > 0) }'
check "nothing waits any more" [ "$(m latch_requests_waiting)" = 0 ]
n=$(m 'latch_connections_accepted_total{kind="unix"}')
[ "${n:-0}" -ge 7 ] && [ "$(m 'latch_connections_accepted_total{kind="tcp"}')" = 0 ]
verdict "connections accepted: unix at least 7 (one per command), tcp 0"
why=$(valid_format); st=$?
[ $st = 0 ] || diag "$why"
check "...still valid exposition format" [ $st = 0 ]

# Start-up refusals: one line each, exit 1.
err=$(timeout -k 2 10 "$LATCH_DAEMON" -s "$T/bad.sock" -d -1 --metrics-address=localhost9109 2>&1); st=$?
[ $st = 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && contains "$err" "metrics-address 'localhost9109'.*127\.0\.0\.1:9109"
verdict "a bad address: start-up fails with one line naming the fix"
err=$(timeout -k 2 10 "$LATCH_DAEMON" -s "$T/bad.sock" -d -1 --metrics-address=::1:9109 2>&1); st=$?
[ $st = 1 ] && contains "$err" '\[::1\]:9109'; verdict "...an IPv6 address without brackets too"
err=$(timeout -k 2 10 "$LATCH_DAEMON" -s "$T/bad.sock" -d -1 --metrics-address=localhost:9109 2>&1); st=$?
[ $st = 1 ] && contains "$err" "metrics-address 'localhost:9109'"; verdict "...and a name instead of an IP address"
err=$(timeout -k 2 10 "$LATCH_DAEMON" -s "$T/busy.sock" -d -1 --metrics-address="127.0.0.1:$MPORT" 2>&1); st=$?
[ $st = 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && contains "$err" "127\.0\.0\.1:$MPORT.*in use"
verdict "a port in use: start-up fails with one line naming the address"

"$LATCH" -X > /dev/null
wait_for 10 pid_gone "$DPID"

# IPv6 loopback, where there is one.
if [ -n "$(ip -6 addr show lo 2>/dev/null | grep '::1')" ]; then
  free_port; P6=$PORT
  mkdir "$T/v6"
  "$LATCH" -s "$T/v6/sock" -d -1 --metrics-address="[::1]:$P6" -r v6 -- true
  if command -v curl > /dev/null 2>&1; then
    code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://[::1]:$P6/metrics")
    check "[::1]:PORT serves the metrics" [ "$code" = 200 ]
  fi
  "$LATCH" -s "$T/v6/sock" -X > /dev/null
fi

# ---- TLS: handshakes and failures ------------------------------------------
if ! command -v certtool > /dev/null 2>&1; then
  diag "certtool (gnutls-bin) not found: the TLS checks are skipped"
  finish
fi
. "$LATCH_TESTS_SRCDIR/integration/tls-lib.sh"
O1=$(tls_opts peer1_ca1 ca1)
free_port; TPORT=$PORT
at_sock tls
# shellcheck disable=SC2086 # options are words
expect_status 0 "a TLS daemon with metrics" tls_daemon $O1 --metrics-address="127.0.0.1:$TPORT"
ok0=$(metric "$TPORT" latch_tls_handshakes_total)
check "...counts its starter's handshake" [ "${ok0:-0}" -ge 1 ]
# shellcheck disable=SC2086
locks "...a client locks" $W $O1 -r t1 -- true
check "...one handshake more" wait_for 10 metric_is "$TPORT" latch_tls_handshakes_total $((ok0 + 1))
out=$("$TLS_PEER" $WPEER --ca "$PKI/ca1.pem" --send "$(lock_msg "$MID" t2)" --until '</msg>' --timeout 5000)
check "a client without a certificate is counted as a failure" \
  wait_for 10 metric_is "$TPORT" 'latch_tls_handshake_failures_total{reason="failed"}' 1
check "...and not as a handshake" metric_is "$TPORT" latch_tls_handshakes_total $((ok0 + 1))
out=$("$TLS_PEER" $WPEER --clear --send "$(lock_msg "" t3)" --timeout 5000)
check "a clear-text client is counted as a failure (clear)" \
  wait_for 10 metric_is "$TPORT" 'latch_tls_handshake_failures_total{reason="clear"}' 1
check "...and as a refusal (tls_mismatch)" metric_is "$TPORT" 'latch_refusals_total{reason="tls_mismatch"}' 1
http_get "$TPORT" /metrics
check "...security_level says mutual or channel" contains "$HTTP_BODY" 'security_level="(channel|mutual)"'
# shellcheck disable=SC2086
"$LATCH" $W $O1 -X > /dev/null 2>&1
daemon_stops

finish
