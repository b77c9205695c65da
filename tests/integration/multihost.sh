#!/bin/sh
# Several hosts, one lock: TCP (IPv4, IPv6), multicast discovery (IPv4,
# IPv6 link-local), TCP keepalive when a holder's host vanishes, hostile
# datagrams on the discovery port, and the daemon lifespan table across
# hosts.  Each host is a network namespace with its own machine ID
# (netns-lib.sh); all of them share the file system, so $T is common.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"
. "$LATCH_TESTS_SRCDIR/integration/netns-lib.sh"

ns_setup 3

A1=$(ns_addr4 1); A2=$(ns_addr4 2)            # 192.0.2.11, 192.0.2.12
A1v6=$(ns_addr6 1)                             # 2001:db8::11
IF1=$(ns_if 1); IF2=$(ns_if 2)
G4=239.255.28.15
G6=ff02::1:2815
PORT=28015        # TCP, IPv4 daemon of h1
PORT6=28016       # TCP, IPv6 daemon of h1
PORT3=28017       # TCP, h1's daemon that also answers discovery on MPORT
PORTK=28018       # TCP, h1's daemon with a short keepalive
PORTL=28019       # TCP, h2's own daemon with a lifespan
PORTX=28020       # TCP, nobody listens on h1
MPORT=28115       # discovery, daemon with -a
MPORT2=28116      # discovery, daemon without -a
MPORT3=28117      # discovery, IPv6 link-local
MPORT_NONE=28118  # discovery, nobody answers

diag "machine IDs: h1 $(ns_machine_id 1) h2 $(ns_machine_id 2) h3 $(ns_machine_id 3)"
id1=$(in_host 1 "$LATCH" --unique-id)
id2=$(in_host 2 "$LATCH" --unique-id)
[ "$id1" = "$(ns_machine_id 1)" ] && [ "$id2" = "$(ns_machine_id 2)" ] && [ "$id1" != "$id2" ]
verdict "each host has its own unique id ($id1, $id2)"

# A shell command that marks its [start, end] window in the file $1.
window='echo "$(date +%s%N) S" >> "$1"; sleep 0.2; echo "$(date +%s%N) E" >> "$1"'
# Sorted by time, the marks of N windows alternate S E S E ... (2N lines).
windows_apart () { # FILE N
  sort -n "$1" | awk -v n="$2" '{ want = (NR % 2) ? "S" : "E"; if ($2 != want) exit 1 } END { if (NR != 2 * n) exit 1 }'
}
# ready_or_gone PID FILE [PATTERN]: FILE exists (and has PATTERN), or the
# process PID that should make it is gone (so a failure costs no wait).
ready_or_gone () {
  if [ $# -ge 3 ]; then file_has "$2" "$3"; else file_exists "$2"; fi || pid_gone "$1"
}
# contend FILE ARGS...: 3 commands from h2 and 3 from h3 at once, all with
# latch ARGS; true when all exit 0.
contend () {
  local file=$1 h p pids="" all=0; shift
  for h in 2 3 2 3 2 3; do
    bg in_host $h "$LATCH" "$@" -- sh -c "$window" sh "$file"
    pids="$pids $last_pid"
  done
  for p in $pids; do wait "$p" || all=1; done
  return $all
}

# --- 1. TCP over IPv4 ----------------------------------------------------
expect_status 0 "h1 starts a TCP daemon on $A1:$PORT that stays (-d -1)" \
  in_host 1 "$LATCH" -a "$A1" -p $PORT -d -1 -- true
check "...it listens on $A1:$PORT" [ -n "$(ns_port_pid 1 tcp $PORT)" ]
contend "$T/W4" -a "$A1" -p $PORT -r nightly
verdict "six commands from h2 and h3 through h1's daemon all exit 0"
check "...and their time windows never intersect" windows_apart "$T/W4" 6

# --- 2. TCP over IPv6 ----------------------------------------------------
expect_status 0 "h1 starts a TCP daemon on [$A1v6]:$PORT6" \
  in_host 1 "$LATCH" -a "$A1v6" -p $PORT6 -d -1 -- true
contend "$T/W6" -a "$A1v6" -p $PORT6 -r nightly
verdict "over IPv6 too, six commands from h2 and h3 all exit 0"
check "...and their time windows never intersect" windows_apart "$T/W6" 6

# --- 3. Discovery over IPv4, daemon with a unicast address ---------------
expect_status 0 "h1 starts a daemon on $A1:$PORT3 that answers discovery on $G4:$MPORT" \
  in_host 1 "$LATCH" -A $G4 -P $MPORT -a "$A1" -p $PORT3 -d -1 -- true
# -d 0: h2 may only use a daemon it discovers, never start its own.
expect_status 0 "h2 discovers it and locks (-A -P -D 2 -I 500)" \
  in_host 2 "$LATCH" -A $G4 -P $MPORT -D 2 -I 500 -d 0 -r job -- true
holder='touch "$1"; i=0; while [ ! -e "$2" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done'
bg in_host 2 "$LATCH" -A $G4 -P $MPORT -D 2 -I 500 -d 0 -r job -- sh -c "$holder" sh "$T/job.in" "$T/job.go"
hp=$last_pid
wait_for 10 ready_or_gone $hp "$T/job.in"
expect_status 98 "while h2 holds 'job' (found by discovery), h3 asking $A1:$PORT3 finds it busy" \
  in_host 3 "$LATCH" -a "$A1" -p $PORT3 -r job -o 0 -- true
touch "$T/job.go"
expect_status 0 "...and h2's holder exits 0" wait $hp

# --- 4. Discovery without -a: the daemon listens only where told ---------
expect_status 0 "h1 with -A only: nobody answers, it starts a daemon and locks" \
  in_host 1 "$LATCH" -A $G4 -P $MPORT2 -d -1 -r x -- true
expect_status 0 "h2 discovers that daemon and locks" \
  in_host 2 "$LATCH" -A $G4 -P $MPORT2 -d 0 -r x -- true
dpid4=$(ns_port_pid 1 udp $MPORT2)
listen4=$(ns_exec 1 ss -Hltnp 2>/dev/null | grep "pid=$dpid4," | awk '{ print $4 }')
diag "daemon $dpid4 of h1 listens on: $(echo $listen4)"
[ -n "$dpid4" ] && contains "$listen4" "^$(echo "$A1" | sed 's/\./\\./g'):[0-9]+\$" && ! contains "$listen4" '^(0\.0\.0\.0|\*|\[::\]):'
verdict "...which listens on TCP $A1 (h1's address toward the group), not on 0.0.0.0"

# --- 5. Discovery over IPv6 link-local -----------------------------------
expect_status 0 "h1 with -A $G6 -n $IF1: starts a daemon and locks" \
  in_host 1 "$LATCH" -A $G6 -n "$IF1" -P $MPORT3 -d -1 -r init6 -- true
expect_status 0 "h2 discovers it over IPv6 link-local (-n $IF2) and locks" \
  in_host 2 "$LATCH" -A $G6 -n "$IF2" -P $MPORT3 -d 0 -r ll -- true
dpid5=$(ns_port_pid 1 udp $MPORT3)
listen5=$(ns_exec 1 ss -Hltnp 2>/dev/null | grep "pid=$dpid5," | awk '{ print $4 }')
diag "daemon $dpid5 of h1 listens on: $(echo $listen5)"
[ -n "$dpid5" ] && [ -n "$listen5" ] && ! contains "$listen5" '^(0\.0\.0\.0|\*|\[::\]):'
verdict "...which listens on an address of h1, not on a wildcard"

# --- 7. Hostile datagrams on the discovery port --------------------------
if command -v bash >/dev/null 2>&1; then
  dpid=$(ns_port_pid 1 udp $MPORT)
  decl='<?xml version="1.0" encoding="UTF-8" ?>'
  printf '%s' 'hello world</msg>' > "$T/d.junk"
  head -c 200 /dev/urandom > "$T/d.binary"
  printf '%s' "$decl<msg level=\"2\" verb=\"4\" step=\"8\"></msg>" > "$T/d.level2"
  printf '%s' "$decl<msg level=\"3\" verb=\"1\" step=\"8\"><session peerid=\"\"/><resource name=\"cmF3\" mode=\"5\" wait=\"0\" create=\"1\" lifespan=\"0\"/></msg>" > "$T/d.lock"
  printf '%s' "$decl<msg level=\"3\" verb=\"4\" step=\"16\"><network address=\"192.0.2.99\" port=\"1\"/></msg>" > "$T/d.answer"
  { printf '%s' "$decl<msg level=\"3\" verb=\"4\" step=\"8\">"
    head -c 9000 /dev/zero | tr '\0' A; } | head -c 8994 > "$T/d.oversize"
  printf '%s' '</msg>' >> "$T/d.oversize"
  # One file = one datagram (dd writes it with a single write()).
  send_dgram () { # HOST ADDR PORT FILE
    ns_exec "$1" bash -c 'dd bs=65000 count=1 iflag=fullblock status=none < "$2" > "/dev/udp/$0/$1"' "$2" "$3" "$4"
  }
  sent=0
  for f in junk binary level2 lock answer oversize; do
    send_dgram 3 $G4 $MPORT "$T/d.$f" && sent=$((sent + 1))
  done
  send_dgram 3 "$A1" $MPORT "$T/d.junk" && sent=$((sent + 1))
  send_dgram 2 "$A1" $MPORT "$T/d.level2" && sent=$((sent + 1))
  check "eight hostile datagrams sent to h1's discovery port" [ $sent = 8 ]
  diag "sizes: $(wc -c "$T"/d.* | awk '$2 != "total" { printf "%s=%s ", $2, $1 }' | sed "s|$T/d\.||g")"
  expect_status 0 "after them, discovery from h2 still works" \
    in_host 2 "$LATCH" -A $G4 -P $MPORT -D 2 -I 500 -d 0 -r after -o 2000 -- true
  [ -n "$dpid" ] && pid_alive "$dpid"; verdict "...h1's daemon (${dpid:-none}) is alive"
  [ -n "$dpid" ] && [ "$(ns_port_pid 1 udp $MPORT)" = "$dpid" ]
  verdict "...and still has its discovery port"
else
  ok "hostile datagrams # SKIP no bash for /dev/udp"
fi

# --- 8. Daemon lifespan across hosts --------------------------------------
expect_status 99 "-a h1 -d 0 from h2, no daemon on h1: 99" \
  in_host 2 "$LATCH" -a "$A1" -p $PORTX -d 0 -r life -- true
expect_status 99 "-A -d 0 from h2, nobody answers discovery: 99" \
  in_host 2 "$LATCH" -A $G4 -P $MPORT_NONE -D 1 -I 200 -d 0 -r life -- true
expect_status 0 "-a $A2 (h2's own address) -d 500 from h2 starts a daemon there" \
  in_host 2 "$LATCH" -a "$A2" -p $PORTL -d 500 -r life -- sh -c 'ss -Hltn > "$1"' sh "$T/life.ss"
check "...listening on $A2:$PORTL while the command ran" grep -q " $A2:$PORTL " "$T/life.ss"
gone_l () { [ -z "$(ns_exec 2 ss -Hltn "sport = :$PORTL" 2>/dev/null)" ]; }
t0=$(now_ns)
grep -q " $A2:$PORTL " "$T/life.ss" 2>/dev/null && wait_for 5 gone_l
verdict "...which is gone after its idle lifespan"
diag "h2's daemon with -d 500 gone $(( ($(now_ns) - t0) / 1000000 )) ms after its last command"
err=$(in_host 2 "$LATCH" -a "$A1" -p $PORTX -d 500 -r life -- touch "$T/life.ran" 2>&1); st=$?
check "-a $A1 (h1's) -d 500 from h2, no daemon on h1: 99 ($st)" [ $st = 99 ]
check "...saying the address is not local" sh -c 'printf "%s\n" "$1" | grep -qiE "not( a)? local"' sh "$err"
check "...without running the command" [ ! -e "$T/life.ran" ]
check "...nor starting a daemon anywhere" [ -z "$(ns_exec 2 ss -Hltn "sport = :$PORTX")$(ns_exec 1 ss -Hltn "sport = :$PORTX")" ]
[ $st = 99 ] || diag "its output: $err"

# A daemon host between two daemons: the remote command keeps trying
# (it cannot start one there) and gets the next daemon.
PORTG=28020
in_host 2 env LATCH_TRACE=1 "$LATCH" -a "$A1" -p $PORTG -r gap -- touch "$T/gap.ran" 2> "$T/gap.err" &
gp=$!
bg_pids="$bg_pids $gp"
check "a command on h2 finds no daemon on h1 and keeps trying" \
  wait_for 10 file_has "$T/gap.err" "not local: retrying"
in_host 1 "$LATCH" -a "$A1" -p $PORTG -d -1 -r start -- true
wait $gp; st=$?
[ $st = 0 ] && [ -e "$T/gap.ran" ]; verdict "...and gets the daemon started on h1 meanwhile"

# --- 6. Keepalive: the holder's host vanishes (last: h2 is cut off) -------
expect_status 0 "h1 starts a daemon with a 1 s / 1 s / 2 probes TCP keepalive" \
  in_host 1 env LATCH_TRACE=1 "$LATCH" -a "$A1" -p $PORTK -d -1 -t "$T/ka.trace" \
    --tcp-keepalive-time=1 --tcp-keepalive-intvl=1 --tcp-keepalive-probes=2 -r init -- true
bg in_host 2 "$LATCH" -a "$A1" -p $PORTK -r ka -- sh -c 'touch "$1"; exec sleep 60' sh "$T/ka.held"
wait_for 10 ready_or_gone $last_pid "$T/ka.held"
bg in_host 3 "$LATCH" -V -a "$A1" -p $PORTK -r ka -o 20000 -- sh -c 'date +%s%N > "$1"' sh "$T/ka.got" \
  > /dev/null 2> "$T/ka.w.err"
wp=$last_pid
wait_for 10 ready_or_gone $wp "$T/ka.w.err" "waiting for 'ka'"
check "h3 waits behind h2's lock" file_has "$T/ka.w.err" "waiting for 'ka'"
t0=$(now_ns)
cut_link 2
wait_for 15 ready_or_gone $wp "$T/ka.got" '[0-9]'
if file_has "$T/ka.got" '[0-9]'; then
  ms=$(( ($(cat "$T/ka.got") - t0) / 1000000 ))
  diag "h2 cut off to h3's command start: $ms ms (keepalive 1 s + 2 x 1 s)"
  ok "when the holder's host vanishes, the waiter gets the lock ($ms ms)"
  expect_status 0 "...and exits 0" wait $wp
else
  not_ok "when the holder's host vanishes, the waiter gets the lock within 15 s"
fi

finish
