#!/bin/sh
# liblatch as its users see it: a program built from latch.h alone and
# linked against the shared library, and the library's exported symbols.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

builddir=$(dirname "$LATCH")
lib="$builddir/.libs/liblatch.so"
cc=${CC:-cc}
if ! command -v "$cc" > /dev/null || [ ! -e "$lib" ]; then
  echo "1..0 # SKIP no C compiler or no shared liblatch"
  exit 0
fi

# A sanitizer build of the library needs its runtime in the program too.
san=""
ldd "$lib" 2>/dev/null | grep -q libasan && san="-fsanitize=address,undefined"

check "a program using only latch.h builds against liblatch.so" \
  "$cc" $san -o "$T/api-user" -I"$LATCH_TESTS_SRCDIR/../src" \
  "$LATCH_TESTS_SRCDIR/integration/api-user.c" "$lib" -Wl,-rpath,"$builddir/.libs"
# The TLS part runs with a PKI of its own (certtool needed).
if command -v certtool > /dev/null &&
   bash "$LATCH_TESTS_SRCDIR/tls-certs.sh" "$T/pki" "$("$LATCH" --unique-id)" 2> "$T/pki.err"; then
  LATCH_TEST_PKI=$T/pki LATCH_TEST_TLS_SOCKET=$T/tls.sock
  export LATCH_TEST_PKI LATCH_TEST_TLS_SOCKET
else
  diag "no TLS checks: $(cat "$T/pki.err" 2>/dev/null)"
fi
out=$("$T/api-user" 2> "$T/api-user.err"); st=$?
printf '%s\n' "$out" | sed 's/^/# /'
[ $st = 0 ] && ! contains "$out" FAILED; verdict "the public API behaves as latch.h says"
[ ! -s "$T/api-user.err" ]; vst=$?; verdict_status "$vst" "liblatch prints nothing on stderr itself ($(head -c 300 "$T/api-user.err" | tr '\n' ' '))"

# ---- sessions, against a daemon whose trace counts its connections ----
S=$T/s.sock
# start_sdaemon TRACE: a daemon on $S, verbose (one ": connected" line per
# connection it accepts), until killed.
start_sdaemon () {
  "$LATCH" -V -t "$1" -d -1 -s "$S" -r init -- true > /dev/null &&
    head -n1 "$S.lock" > "$T/s.sockpid"
}
conns () { grep -c ': connected$' "$1"; }
# mode NAME ARGS...: runs api-user NAME ARGS (10 s at most), its output as
# diagnostics; sets st.
mode () {
  local name=$1; shift
  timeout -k 2 10 "$T/api-user" "$name" "$@" > "$T/$name.out" 2>&1; st=$?
  sed "s/^/# $name: /" "$T/$name.out"
}
mode_ok () { [ $st = 0 ] && ! grep -q FAILED "$T/$1.out"; }

start_sdaemon "$T/s.trace"; verdict "a daemon on its own socket starts"
before=$(conns "$T/s.trace")
mode cycles "$S" 1000
n=$(( $(conns "$T/s.trace") - before ))
mode_ok cycles; verdict "1000 lock/unlock cycles on one handle"
[ "$n" = 1 ]; verdict "...over one connection (the daemon accepted $n)"

before=$(conns "$T/s.trace")
mode shared "$S"
n=$(( $(conns "$T/s.trace") - before ))
mode_ok shared; verdict "shared handles hold two resources at once and exclude each other"
[ "$n" = 2 ]; verdict "...three sharing handles and one of its own: two connections ($n)"

mode fork "$S"
mode_ok fork; verdict "a forked child's latch_handle_free () leaves the parent's lock and session alone"

bg "$T/api-user" lost "$S" "$T" > "$T/lost.out" 2>&1; lost_pid=$last_pid
wait_for 10 file_exists "$T/locked"; verdict "two shared handles hold locks"
kill -KILL "$(cat "$T/s.sockpid")"
wait "$lost_pid"; st=$?
sed 's/^/# lost: /' "$T/lost.out"
mode_ok lost; verdict "latch_check reports the loss when the daemon is killed"

# A session the daemon closed while the handle held nothing: the next
# latch_lock () opens a new one, without a word.
old_pid=$(cat "$T/s.sockpid")
wait_for 10 pid_gone "$old_pid"
start_sdaemon "$T/s2.trace"
bg "$T/api-user" reopen "$S" "$T" 20 > "$T/reopen.out" 2>&1; reopen_pid=$last_pid
wait_for 10 file_exists "$T/idle"; verdict "a handle keeps an idle session"
kill -KILL "$(cat "$T/s.sockpid")"
wait_for 10 pid_gone "$(cat "$T/s.sockpid")"
start_sdaemon "$T/s3.trace"
before=$(conns "$T/s3.trace")
touch "$T/go"
wait "$reopen_pid"; st=$?
sed 's/^/# reopen: /' "$T/reopen.out"
n=$(( $(conns "$T/s3.trace") - before ))
mode_ok reopen; verdict "after the daemon's end the next lock reopens the session"
[ "$n" = 1 ]; verdict "...one new connection for 20 cycles ($n)"
kill -KILL "$(cat "$T/s.sockpid")"

# The client's side of what a real daemon rarely does on cue: answers for
# another handle's id while one waits (a loss, with its reason), a ping
# from the daemon, a grant for an id no handle has.
mode script "$T"
mode_ok script; verdict "a scripted session daemon: each answer reaches its handle, pings are answered"

# A FLoM daemon (fake-flom) does not speak sessions: one connection per
# lock, each closed at the unlock, as before.
FAKE="${LATCH_TESTS_BUILDDIR:-$(dirname "$LATCH")/tests}/integration/fake-flom"
"$FAKE" --port-file "$T/fake.port" --log "$T/fake.log" 2> "$T/fake.err" &
fake_pid=$!; bg_pids="$bg_pids $fake_pid"
wait_for 10 file_exists "$T/fake.port"; verdict "fake-flom starts"
mode legacy "$(cat "$T/fake.port")" 3
mode_ok legacy; verdict "3 lock/unlock cycles against a FLoM daemon"
n=$(grep granted "$T/fake.log" | cut -d: -f1 | sort -u | wc -l)
[ "$n" = 3 ]; verdict "...one connection per lock ($n)"
kill "$fake_pid"; wait "$fake_pid" 2> /dev/null

exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^_' | sort)
internal=$(printf '%s\n' "$exported" | grep -vE '^latch_(handle_new|handle_new_shared|handle_free|set_.*|get_.*|lock|unlock|check|is_locked|shutdown_daemon|strerror)$')
[ -z "$internal" ]; verdict "liblatch exports only the public API${internal:+ (also: $internal)}"

finish
