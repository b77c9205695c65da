#!/bin/sh
# Bad input from a peer costs that connection only, never the daemon.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

LATCH_TRACE=1 "$LATCH" -d -1 -t "$TRACE" -r init -- true
dpid=$(daemon_pid)
SOCK="$SOCKDIR/daemon.sock"
decl='<?xml version="1.0" encoding="UTF-8" ?>'
req_body='<session peerid=""/><resource name="cmF3" mode="5" wait="0" create="1" lifespan="0"/>'

send_raw () { # NAME CONTENT -> output of the daemon
  printf '%s' "$2" > "$T/$1.in"
  "$HELPER" raw "$SOCK" "$T/$1.in"
}

hostile () { # NAME CONTENT
  out=$(send_raw "$1" "$2")
  check "$1: the daemon closes that connection" contains "$(printf '%s' "$out" | tail -n1)" '<EOF>$'
  check "$1: the daemon keeps running" pid_alive "$dpid"
  check "$1: and keeps serving" "$LATCH" -r after -o 1000 -- true
}

hostile garbage "hello world</msg>"
hostile oversize "$(head -c 9000 /dev/zero | tr '\0' A)"
hostile wrong-level "$decl<msg level=\"2\" verb=\"1\" step=\"8\">$req_body</msg>"
hostile unlock-first "$decl<msg level=\"3\" verb=\"2\" step=\"8\"><resource name=\"cmF3\" rollback=\"0\" /></msg>"
hostile ping "$decl<msg level=\"3\" verb=\"3\" step=\"8\"></msg>"
hostile answer-step "$decl<msg level=\"3\" verb=\"1\" step=\"16\"><session peerid=\"\"/><answer rc=\"0\"/></msg>"
hostile unknown-verb "$decl<msg level=\"3\" verb=\"9\" step=\"8\"></msg>"
hostile doctype "<?xml version=\"1.0\"?><!DOCTYPE msg [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]><msg level=\"3\" verb=\"1\" step=\"8\"><session peerid=\"&b;\"/></msg>"
hostile bad-base64 "$decl<msg level=\"3\" verb=\"1\" step=\"8\"><session peerid=\"\"/><resource name=\"!!!\" mode=\"5\" wait=\"0\" create=\"1\" lifespan=\"0\"/></msg>"
hostile unknown-attribute "$decl<msg level=\"3\" verb=\"1\" step=\"8\"><session peerid=\"\"/><resource name=\"cmF3\" colour=\"red\" mode=\"5\" wait=\"0\" create=\"1\" lifespan=\"0\"/></msg>"
hostile second-pending "$decl<msg level=\"3\" verb=\"1\" step=\"8\">$req_body</msg>$decl<msg level=\"3\" verb=\"1\" step=\"8\">$req_body</msg>$decl<msg level=\"3\" verb=\"2\" step=\"8\"><resource name=\"b3RoZXI=\" rollback=\"0\" /></msg>"
check "the log names why connections were closed" grep -q "closing" "$TRACE"

# A well-formed FLoM-style request gets a FLoM-style answer (+ fence).
out=$(send_raw flom "$decl<msg level=\"3\" verb=\"1\" step=\"8\">$req_body</msg>")
check "a FLoM lock request is answered at step 16 with rc 0" contains "$out" '^<\?xml version="1\.0" encoding="UTF-8" \?><msg level="3" verb="1" step="16"><session peerid="[0-9a-f]*"/><answer rc="0" fence="[0-9]+"/></msg>'
# An invalid name is answered with -14, then the connection closes.
out=$(send_raw badname "$decl<msg level=\"3\" verb=\"1\" step=\"8\"><session peerid=\"\"/><resource name=\"YSBi\" mode=\"5\" wait=\"0\" create=\"1\" lifespan=\"0\"/></msg>")
check "an invalid resource name is answered with rc -14" contains "$out" 'rc="-14"'

# A client that stalls in the middle of a message delays nobody.
printf '%s' "$decl<msg level=\"3\" verb=\"1\" st" > "$T/stall.in"
"$HELPER" raw "$SOCK" "$T/stall.in" "$T/stall.go" &
sp=$!
check "while a client stalls mid-message, another locks at once" "$LATCH" -r stall -o 2000 -- true
touch "$T/stall.go"
wait $sp
check "the daemon survived everything" pid_alive "$dpid"

"$LATCH" -X > /dev/null
finish
