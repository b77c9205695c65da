#!/bin/sh
# systemd: socket activation (systemd-socket-activate passes latchd its
# listening socket), sd_notify readiness and shutdown (a listener on
# NOTIFY_SOCKET), the units (systemd-analyze verify), and structured
# journal entries (a stand-in for journald's native socket, in a private
# mount namespace: root only).  Parts whose tool is missing skip with a
# message.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

LISTEN="$LATCH_TESTS_BUILDDIR/integration/notify-listen"
UNITS_SRC="$LATCH_TESTS_SRCDIR/../etc/systemd"
UNITS_BUILT="$LATCH_TESTS_BUILDDIR/../etc/systemd"
LATCHD_BIN=${LATCHD_REAL:-$LATCH_DAEMON}

# listener NAME [-c SOCKET]: a notify-listen on $T/NAME, output in
# $T/NAME.out; waits until it listens.
listener () {
  local name=$1; shift
  bg "$LISTEN" "$@" "$T/$name" 120 > "$T/$name.out"
  wait_for 10 file_has "$T/$name.out" '^listening$'
}

lock_pid () { [ -s "$1.lock" ] && head -n1 "$1.lock"; }
sock_exists () { [ -S "$1" ]; }
pid_of_lock_is () { [ "$(lock_pid "$1")" = "$2" ]; }

# A command on a socket that a broken daemon might hold without
# accepting must not hang the test.
latch_bounded () { timeout 10 "$LATCH" "$@"; }

skip_part () { n_tests=$((n_tests + 1)); echo "ok $n_tests # SKIP $*"; }

# ---- socket activation ----
if command -v systemd-socket-activate > /dev/null 2>&1; then
  S="$T/act.sock"
  listener notify
  # -d -1: the daemon stays until -X, so that what ends it is known.
  bg systemd-socket-activate -l "$S" -E NOTIFY_SOCKET="$T/notify" \
    "$LATCH_DAEMON" -s "$S" -d -1 2> "$T/act.err"
  act_pid=$last_pid
  wait_for 10 sock_exists "$S"
  [ ! -e "$S.lock" ] && ! file_has "$T/notify.out" 'READY=1'
  verdict "activation: the manager listens on $S and has started no daemon before a connection"

  latch_bounded -s "$S" -d 0 -r r -- true; st=$?
  [ $st = 0 ]; verdict "the first 'latch -s PATH -d 0 -r r -- true' works through the activated daemon (exit $st)"
  # systemd-socket-activate execs the daemon: same pid, and that daemon
  # holds the socket's lock file.
  wait_for 10 pid_of_lock_is "$S" "$act_pid"
  verdict "the daemon serving it is the one the manager started (pid $act_pid holds $S.lock)"
  file_has "$T/act.err" 'socket activation: using the listening socket'
  verdict "it says it took the manager's socket"
  wait_for 10 file_has "$T/notify.out" '^READY=1$' \
    && file_has "$T/notify.out" "^STATUS=listening on $S\$"
  verdict "it told NOTIFY_SOCKET READY=1 with its STATUS"
  # libsystemd is loaded when the manager passed a socket (the
  # counterpart of the auto-started daemon's check below).
  grep -q libsystemd "/proc/$act_pid/maps"
  verdict "the socket-activated daemon has libsystemd mapped"

  latch_bounded -s "$S" -X > /dev/null 2>&1
  wait_for 10 pid_gone "$act_pid"; gone=$?
  [ $gone = 0 ] && sock_exists "$S"
  verdict "after -X the daemon is gone and the socket file it did not create is still there"
  file_has "$T/notify.out" '^STOPPING=1$'
  verdict "it told NOTIFY_SOCKET STOPPING=1 at -X"
  ! grep -E 'WARNING|ERROR|cannot' "$T/act.err" > /dev/null
  verdict "no warning in its log"

  # A socket that is not the configured one: one line, exit 1, and
  # nothing removed.
  W="$T/wrong.sock"
  bg systemd-socket-activate -l "$W" "$LATCH_DAEMON" -s "$T/other.sock" -d -1 2> "$T/wrong.err"
  wrong_pid=$last_pid
  wait_for 10 sock_exists "$W"
  latch_bounded -s "$W" -d 0 -r r -- true 2> /dev/null
  if wait_for 10 pid_gone "$wrong_pid"; then wait "$wrong_pid"; st=$?; else st=running; fi
  [ $st = 1 ] && file_has "$T/wrong.err" "is not $T/other.sock, the configured socket" \
    && [ "$(wc -l < "$T/wrong.err")" -le 4 ] && sock_exists "$W"
  verdict "a socket from the manager at another path: latchd says so and exits 1 (exit $st), the socket stays"

  # Idleness: a user's daemon started by its socket ends when idle (the
  # manager starts it again); the host's (--system) does not.
  U="$T/idle.sock"
  bg systemd-socket-activate -l "$U" "$LATCH_DAEMON" -s "$U" -d 200 --idle-lifespan-min=0 2> "$T/idle.err"
  idle_pid=$last_pid
  wait_for 10 sock_exists "$U"
  latch_bounded -s "$U" -d 0 -r r -- true
  wait_for 10 pid_gone "$idle_pid"
  verdict "an activated user daemon with -d 200 ends when idle"
  Y="$T/sys.sock"
  bg systemd-socket-activate -l "$Y" "$LATCH_DAEMON" --system --system-group=root -s "$Y" -d 200 --idle-lifespan-min=0 2> "$T/sys.err"
  sys_pid=$last_pid
  wait_for 10 sock_exists "$Y"
  latch_bounded -s "$Y" -d 0 -r r -- true; st=$?
  t0=$(now_ns)
  # What is tested is time: 1 s is five lifespans (and no resource is
  # kept: --idle-lifespan-min=0).
  while [ $(( ($(now_ns) - t0) / 1000000 )) -lt 1000 ]; do sleep 0.05; done
  [ $st = 0 ] && pid_alive "$sys_pid"
  verdict "an activated --system daemon with -d 200 is still there 1 s after its last client (exit $st)"
  latch_bounded -s "$Y" -X > /dev/null 2>&1
  wait_for 10 pid_gone "$sys_pid"
else
  skip_part "systemd-socket-activate is not installed (Debian: systemd)"
fi

# ---- readiness of a daemon that binds its own socket ----
B="$T/bound.sock"
listener notify2 -c "$B"
NOTIFY_SOCKET="$T/notify2" bg "$LATCH_DAEMON" -s "$B" -d -1 2> "$T/bound.err"
bound_pid=$last_pid
wait_for 10 file_has "$T/notify2.out" '^READY=1$'
verdict "a daemon started by hand under NOTIFY_SOCKET says READY=1"
# notify-listen connected as soon as READY=1 came, before reading on.
head -n 2 "$T/notify2.out" | tail -n 1 | grep -qx 'connect: ok'
verdict "its socket accepted a connection as soon as it said READY=1"
"$LATCH" -s "$B" -X > /dev/null 2>&1
wait_for 10 pid_gone "$bound_pid" && file_has "$T/notify2.out" '^STOPPING=1$' \
  && ! sock_exists "$B"
verdict "-X: STOPPING=1, and the socket it made itself is removed"

# A daemon a command starts (--ready-fd) is not the service: it says
# nothing to a NOTIFY_SOCKET it inherited.
listener notify3
NOTIFY_SOCKET="$T/notify3" "$LATCH" -s "$T/cmd.sock" -r r -- true
"$LATCH" -s "$T/cmd.sock" -X > /dev/null 2>&1
! grep -q 'READY=1' "$T/notify3.out"
verdict "a daemon started by a command does not notify the NOTIFY_SOCKET it inherited"

# ---- libsystemd only when needed ----
# A daemon that a command starts uses nothing of systemd's: libsystemd
# (and what it pulls in) must not be mapped into it.  Whatever the test
# runs under, the variables that would make latchd load it are removed.
A="$T/auto.sock"
env -u NOTIFY_SOCKET -u JOURNAL_STREAM -u LISTEN_PID -u LISTEN_FDS \
  "$LATCH" -s "$A" -d -1 -r r -- true; st=$?
auto_pid=$(lock_pid "$A")
[ $st = 0 ] && [ -n "$auto_pid" ] && pid_alive "$auto_pid" && [ -r "/proc/$auto_pid/maps" ] \
  && grep -q 'libglib' "/proc/$auto_pid/maps" && ! grep -q libsystemd "/proc/$auto_pid/maps"
verdict "a daemon started by 'latch -r r -- true' (pid ${auto_pid:-none}) has no libsystemd mapped (exit $st)"
"$LATCH" -s "$A" -X > /dev/null 2>&1
[ -n "$auto_pid" ] && wait_for 10 pid_gone "$auto_pid"

# Without libsystemd (hidden in a private mount namespace: root only):
# activation and an explicit journal target stop the start in one line
# that names the library and the package; NOTIFY_SOCKET costs a warning;
# auto falls back to stderr.
SDLIB=$(ldconfig -p 2>/dev/null | awk '$1 == "libsystemd.so.0" { print $NF; exit }')
if [ "$(id -u)" != 0 ] || [ -z "$SDLIB" ] || ! command -v systemd-socket-activate > /dev/null 2>&1 \
   || ! unshare -m true 2> /dev/null; then
  skip_part "without libsystemd: needs root, unshare -m, systemd-socket-activate and libsystemd.so.0"
else
  export T LATCH LATCH_DAEMON SDLIB
  timeout 60 unshare -m sh -c '
    mount --bind /dev/null "$(readlink -f "$SDLIB")" || exit 1
    timeout 10 systemd-socket-activate -l "$T/noact.sock" \
      "$LATCH_DAEMON" -s "$T/noact.sock" -d -1 2> "$T/noact.err" &
    apid=$!
    i=0
    while [ ! -S "$T/noact.sock" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
    timeout 10 "$LATCH" -s "$T/noact.sock" -d 0 -r r -- true 2> /dev/null
    wait $apid; echo $? > "$T/noact.status"
    timeout 10 "$LATCH_DAEMON" -s "$T/nojournal.sock" -d -1 --log-target=journal 2> "$T/nojournal.err"
    echo $? > "$T/nojournal.status"
    NOTIFY_SOCKET="$T/nonotify" "$LATCH_DAEMON" -s "$T/nonotify.sock" -d -1 2> "$T/nonotify.err" &
    npid=$!
    i=0
    while [ ! -S "$T/nonotify.sock" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
    timeout 10 "$LATCH" -s "$T/nonotify.sock" -d 0 -r r -- true; echo $? > "$T/nonotify.status"
    timeout 10 "$LATCH" -s "$T/nonotify.sock" -X > /dev/null 2>&1
    wait $npid
    # auto: JOURNAL_STREAM names stderr (a file here, by its device and inode).
    : > "$T/noauto.err"
    JOURNAL_STREAM=$(stat -L -c %d:%i "$T/noauto.err") \
      "$LATCH_DAEMON" -s "$T/noauto.sock" -d -1 2>> "$T/noauto.err" &
    jpid=$!
    i=0
    while [ ! -S "$T/noauto.sock" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
    timeout 10 "$LATCH" -s "$T/noauto.sock" -X > /dev/null 2>&1
    wait $jpid
    exit 0
  ' > "$T/nosd.out" 2>&1; st=$?
  [ $st = 0 ]; verdict "libsystemd hidden in a private mount namespace (exit $st)"
  # systemd-socket-activate says what it does on the same stderr: its
  # lines are not the daemon's.
  [ "$(cat "$T/noact.status" 2>/dev/null)" = 1 ] \
    && [ "$(grep -cv '^Listening on \|^Communication attempt \|^Execing ' "$T/noact.err")" = 1 ] \
    && file_has "$T/noact.err" '^latchd: started with a socket from the service manager, but cannot load libsystemd\.so\.0 .*install libsystemd0$'
  vst=$?; verdict_status "$vst" "activated without libsystemd: one line naming libsystemd.so.0 and libsystemd0, exit 1 (exit $(cat "$T/noact.status" 2>/dev/null))"
  [ "$(cat "$T/nojournal.status" 2>/dev/null)" = 1 ] && [ "$(wc -l < "$T/nojournal.err")" = 1 ] \
    && file_has "$T/nojournal.err" '^latchd: --log-target=journal: cannot load libsystemd\.so\.0 .*install libsystemd0$'
  vst=$?; verdict_status "$vst" "--log-target=journal without libsystemd: one line, exit 1 (exit $(cat "$T/nojournal.status" 2>/dev/null))"
  [ "$(cat "$T/nonotify.status" 2>/dev/null)" = 0 ] \
    && [ "$(grep -c 'WARNING.*NOTIFY_SOCKET is set, but cannot load libsystemd\.so\.0' "$T/nonotify.err")" = 1 ]
  vst=$?; verdict_status "$vst" "NOTIFY_SOCKET without libsystemd: one warning, and the daemon serves (exit $(cat "$T/nonotify.status" 2>/dev/null))"
  file_has "$T/noauto.err" 'INFO .*listening on ' && ! grep -q 'WARNING\|ERROR' "$T/noauto.err"
  verdict "auto log target with JOURNAL_STREAM and no libsystemd: plain lines on stderr"
fi

# ---- the units ----
if command -v systemd-analyze > /dev/null 2>&1 && [ -f "$UNITS_BUILT/latchd.service" ]; then
  mkdir -p "$T/units"
  # verify checks that ExecStart= exists: the built latchd stands in for
  # the installed one.
  sed "s|^ExecStart=[^ ]*|ExecStart=$LATCHD_BIN|" "$UNITS_BUILT/latchd.service" \
    > "$T/units/latchd.service"
  cp "$UNITS_SRC/latchd.socket" "$T/units/"
  out=$(cd "$T/units" && systemd-analyze verify --man=no latchd.service latchd.socket 2>&1); st=$?
  [ $st = 0 ] && [ -z "$out" ]; verdict "systemd-analyze verify passes on both units, silently (exit $st${out:+: $out})"
  grep -q "^ExecStart=.*/latchd --system\$" "$UNITS_BUILT/latchd.service" \
    && ! grep -q '@pkglibexecdir@' "$UNITS_BUILT/latchd.service"
  verdict "the built service runs the installed latchd --system"
else
  skip_part "systemd-analyze is not installed (Debian: systemd), or the units were not built"
fi

# ---- structured journal entries ----
# journald's native socket is /run/systemd/journal/socket: in a private
# mount namespace a directory of ours covers /run/systemd/journal and a
# notify-listen receives there what the daemon sends.
if [ "$(id -u)" != 0 ] || ! command -v unshare > /dev/null 2>&1 || ! unshare -m true 2> /dev/null; then
  skip_part "journal fields: needs root and unshare -m (a private mount namespace)"
else
  mkdir -p "$T/journal"
  export T LATCH LATCH_DAEMON LISTEN
  unshare -m sh -c '
    mount -t tmpfs -o mode=0755 tmpfs /run/systemd 2>/dev/null \
      || { mkdir -p /run/systemd && mount -t tmpfs -o mode=0755 tmpfs /run/systemd; } || exit 1
    mkdir -p /run/systemd/journal && mount --bind "$T/journal" /run/systemd/journal || exit 1
    "$LISTEN" /run/systemd/journal/socket 60 > "$T/journal.out" &
    lpid=$!
    i=0
    while ! grep -q "^listening$" "$T/journal.out" && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
    # --max-resources=1: a second resource is refused while one is held.
    "$LATCH_DAEMON" -s "$T/j.sock" -d -1 --log-target=journal --max-resources=1 2> "$T/j.err" &
    dpid=$!
    i=0
    while ! grep -q "^MESSAGE=listening on " "$T/journal.out" && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
    "$LATCH" -s "$T/j.sock" -d 0 -r held -- sh -c "touch \"$T/held\"; sleep 30" &
    hpid=$!
    i=0
    while [ ! -e "$T/held" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
    [ -e "$T/held" ] && "$LATCH" -s "$T/j.sock" -d 0 -r refused -- true 2> "$T/refused.err"
    echo $? > "$T/refused.status"
    kill $hpid; wait $hpid
    "$LATCH" -s "$T/j.sock" -X > /dev/null 2>&1
    wait $dpid
    kill $lpid
    wait $lpid
    exit 0
  ' > "$T/unshare.out" 2>&1; st=$?
  [ $st = 0 ]; verdict "the journal stand-in ran in a private mount namespace (exit $st)"
  [ "$(cat "$T/refused.status" 2>/dev/null)" = 99 ] && file_has "$T/refused.err" 'MaxResources reached'
  vst=$?; verdict_status "$vst" "while one resource is held, a second is refused (exit $(cat "$T/refused.status" 2>/dev/null), want 99: MaxResources reached)"
  # The entry of the refusal: the datagram between two "--" lines that
  # names the resource.
  entry=$(awk '/^--$/ { if (e ~ /LATCH_RESOURCE=refused/) print e; e = ""; next }
               { e = e $0 "\n" }' "$T/journal.out")
  contains "$entry" '^MESSAGE=conn [0-9]+ .*: lock .refused. refused: ' \
    && contains "$entry" '^PRIORITY=6$' \
    && contains "$entry" '^LATCH_RESOURCE=refused$' \
    && contains "$entry" '^LATCH_REASON=.+' \
    && contains "$entry" '^LATCH_PEER=conn [0-9]+ \(uid [0-9]+ pid [0-9]+\)$' \
    && contains "$entry" '^SYSLOG_IDENTIFIER=latchd$' \
    && contains "$entry" '^CODE_FUNC=.+' && contains "$entry" '^CODE_LINE=[0-9]+$'
  verdict "the refusal's journal entry has MESSAGE, PRIORITY, LATCH_RESOURCE, LATCH_REASON, LATCH_PEER, the code location"
  [ -n "$entry" ] || { diag "journal stand-in received:"; sed 's/^/#   /' "$T/journal.out" | head -n 40; }
  grep -q '^MESSAGE=listening on ' "$T/journal.out" && [ ! -s "$T/j.err" ]
  verdict "--log-target=journal: every line went to the journal, none to stderr"
fi

finish
