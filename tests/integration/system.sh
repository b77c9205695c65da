#!/bin/sh
# The host's daemon (latchd --system, latch --system) and who may stop a
# daemon: users made for the test, in and out of the daemon's group, run
# real commands against a root daemon listening in the test's directory.
# Root only: it adds users and a group (and removes them on exit).
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

LATCHD=${LATCHD_REAL:-$(dirname "$LATCH")/latchd}

skip_all () { echo "1..0 # SKIP $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip_all "needs root (it adds users and a group)"
for tool in useradd userdel groupadd groupdel runuser stat mkfifo timeout; do
  command -v "$tool" > /dev/null || skip_all "needs $tool"
done

# Names of at most 32 characters, unique to this run.
G="latchg$$"
U1="latchu1x$$"; U2="latchu2x$$"; U3="latchu3x$$"
made_users=""
made_group=""

# useradd and groupadd lock /etc/passwd and /etc/group: tests running at
# the same time may hold them a moment (exit 1 "cannot lock"): try again,
# a bounded number of times.
retry () {
  local i=0
  until "$@" > /dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 50 ] || return 1
    sleep 0.1
  done
}

# The not-running check names /nonexistent: a latch that started a daemon
# there anyway (a regression) must not leave it behind.
nonexistent_was_there=no
[ -e /nonexistent ] && nonexistent_was_there=yes

sys_cleanup () {
  local u pid f
  if [ $nonexistent_was_there = no ] && [ -e /nonexistent ]; then
    pid=$(head -n1 /nonexistent/x.sock.lock 2>/dev/null)
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf /nonexistent
  fi
  for f in "$T"/sys/*.lock "$T"/sys/*/*.lock; do
    [ -e "$f" ] || continue
    pid=$(head -n1 "$f" 2>/dev/null)
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  done
  for u in $made_users; do retry userdel "$u"; done
  [ -n "$made_group" ] && retry groupdel "$made_group"
  cleanup
}
trap sys_cleanup EXIT

retry groupadd "$G" || skip_all "groupadd $G failed"
made_group=$G
for u in "$U1" "$U2"; do
  retry useradd -M --no-create-home -s /bin/sh -G "$G" "$u" || skip_all "useradd $u failed"
  made_users="$made_users $u"
done
retry useradd -M --no-create-home -s /bin/sh "$U3" || skip_all "useradd $U3 failed"
made_users="$made_users $U3"
UID1=$(id -u "$U1"); UID2=$(id -u "$U2"); UID3=$(id -u "$U3")

# The users reach the temp directory (its names only: o+x), and what the
# test lets them write.
chmod 711 "$T"
SYS="$T/sys"
mkdir -m 711 "$SYS"
SOCK="$SYS/run/latchd.sock"
LOG="$SYS/order.log"
FIFO="$SYS/go"
: > "$LOG"; chmod 666 "$LOG"
mkfifo -m 666 "$FIFO"
for u in "$U1" "$U2" "$U3"; do
  mkdir -m 700 "$SYS/home-$u"; chown "$u" "$SYS/home-$u"
done

# as USER COMMAND...: COMMAND run by USER, with a home and runtime
# directory of its own (so that nothing of root's is used).
as () {
  local u=$1; shift
  runuser -u "$u" -- env HOME="$SYS/home-$u" XDG_RUNTIME_DIR="$SYS/home-$u" \
    LATCH_DAEMON="$LATCH_DAEMON" "$@"
}
as "$U1" "$LATCH" --version > /dev/null 2>&1 \
  || skip_all "$U1 cannot run $LATCH (a directory on its path is closed to others)"

n_lines () { printf '%s\n' "$1" | grep -c .; }
# Each latchd that must fail to start runs under timeout: one that starts
# after all (a regression) serves for ever, being the host's daemon.

# --- Start-up: an unknown group is one line, and nothing is made. -------
out=$(timeout 10 "$LATCHD" --system --system-group="nosuch$$" -s "$SYS/nogroup/latchd.sock" 2>&1); st=$?
[ $st = 1 ] && [ "$(n_lines "$out")" = 1 ] \
  && [ "$out" = "latchd: group 'nosuch$$' does not exist: create it (groupadd --system nosuch$$) or name another with --system-group" ]
verdict "latchd --system with an unknown group: exit 1 and one line (exit $st: $out)"
check "...and no socket directory was made" [ ! -e "$SYS/nogroup" ]

out=$(timeout 10 "$LATCHD" --system --system-group="$G" -a 127.0.0.1 -s "$SYS/net/latchd.sock" 2>&1); st=$?
[ $st = 1 ] && [ "$(n_lines "$out")" = 1 ] && contains "$out" "^latchd: --system serves this host's local socket"
verdict "latchd --system -a is refused in one line (exit $st: $out)"

# An existing directory must be the daemon's and closed to others' writes.
mkdir -m 770 "$SYS/notmine"; chown "$U1:$G" "$SYS/notmine"
out=$(timeout 10 "$LATCHD" --system --system-group="$G" -s "$SYS/notmine/latchd.sock" 2>&1); st=$?
[ $st = 1 ] && [ "$(n_lines "$out")" = 1 ] && contains "$out" "^latchd: socket directory $SYS/notmine belongs to uid $UID1"
verdict "latchd --system refuses a directory of another user's (exit $st: $out)"
mkdir -m 777 "$SYS/open"
out=$(timeout 10 "$LATCHD" --system --system-group="$G" -s "$SYS/open/latchd.sock" 2>&1); st=$?
[ $st = 1 ] && [ "$(n_lines "$out")" = 1 ] && contains "$out" "^latchd: socket directory $SYS/open has mode 0777: any user could .*chmod 0750"
verdict "...and one anyone may write to (exit $st: $out)"
mkdir -m 770 "$SYS/grpw"; chgrp "$G" "$SYS/grpw"
out=$(timeout 10 "$LATCHD" --system --system-group="$G" -s "$SYS/grpw/latchd.sock" 2>&1); st=$?
[ $st = 1 ] && [ "$(n_lines "$out")" = 1 ] && contains "$out" "^latchd: socket directory $SYS/grpw has mode 0770: the members of its group could .*chmod 0750"
verdict "...and one its group may write to (exit $st: $out)"

# --- The host's daemon, in the foreground as a service manager runs it. -
# -d 200: a lifespan that a user's daemon would leave after; -V: the
# debug lines (each lock request with the peer's uid and pid).
DLOG="$SYS/latchd.log"
bg "$LATCH_DAEMON" --system --system-group="$G" -s "$SOCK" -d 200 -V 2> "$DLOG"
DPID=$last_pid
check "the host's daemon listens" wait_for 10 test -S "$SOCK"

st=$(stat -c '%U:%G %a' "$SYS/run")
[ "$st" = "root:$G 750" ]; verdict "its directory is root:$G, mode 0750 ($st)"
st=$(stat -c '%U:%G %a' "$SOCK")
[ "$st" = "root:$G 660" ]; verdict "its socket is root:$G, mode 0660 ($st)"
st=$(stat -c '%U %a' "$SOCK.lock")
[ "$st" = "root 600" ]; verdict "its lock file is root's alone ($st)"

# Idle: a user's daemon with the same lifespan, started after it, leaves;
# the host's daemon is still there when it has gone.
bg "$LATCHD" -s "$SYS/user-idle.sock" -d 200 2> "$SYS/user-idle.log"
upid=$last_pid
check "a user's daemon with -d 200 leaves when idle" wait_for 10 pid_gone "$upid"
check "...the host's daemon (also -d 200, idle longer) does not" pid_alive "$DPID"

# A second daemon on the same socket: one line at error level, exit 2.
out=$(timeout 10 "$LATCHD" --system --system-group="$G" -s "$SOCK" 2>&1); st=$?
[ $st = 2 ] && [ "$out" = "latchd: another daemon (pid $DPID) already listens on $SOCK; stop it with 'latch -s $SOCK -X'" ]
verdict "a second daemon on the socket names the first, in one line (exit $st: $out)"

# --- Two users serialize on one resource. ------------------------------
bg as "$U1" "$LATCH" --system -s "$SOCK" -r backup -- \
  sh -c "echo u1-start >> '$LOG'; read x < '$FIFO'; echo u1-end >> '$LOG'"
p1=$last_pid
check "$U1 holds 'backup' (its command runs)" wait_for 10 file_has "$LOG" u1-start
bg as "$U2" "$LATCH" --system -s "$SOCK" -r backup -- sh -c "echo u2-start >> '$LOG'"
p2=$last_pid
# The daemon queued U2's request (rc 1), and says whose it was.
check "$U2's request is queued, logged with its uid and pid" \
  wait_for 10 grep -qE "\(uid $UID2 pid [0-9]+\).* lock 'backup' .*rc 1\$" "$DLOG"
grep -qE "\(uid $UID1 pid [0-9]+\).* lock 'backup' .*rc 0\$" "$DLOG"
verdict "...and $U1's grant with its uid and pid"

# Who holds what, asked by a member: U1's uid, user, pid and command as
# the holder, U2 first in the queue.
as "$U2" "$LATCH" --system -s "$SOCK" status --json > "$SYS/status.json"; st=$?
[ $st = 0 ] && jq -e --argjson u1 "$UID1" --argjson u2 "$UID2" --arg n1 "$U1" \
  '.resources[] | select(.name == "backup")
   | .holders[0].owner.uid == $u1 and .holders[0].owner.user == $n1
     and (.holders[0].owner.command | startswith("sh -c echo u1-start"))
     and .waiters[0].position == 1 and .waiters[0].owner.uid == $u2' \
  "$SYS/status.json" > /dev/null
verdict "status --json (asked by $U2): $U1 holds with its uid and command, $U2 waits first (exit $st)"
hpid=$(jq -r '.resources[] | select(.name == "backup") | .holders[0].owner.pid' "$SYS/status.json")
[ -n "$hpid" ] && [ "$(stat -c %u "/proc/$hpid" 2>/dev/null)" = "$UID1" ]
verdict "...its pid ($hpid) is a live process of $U1's"
out=$(as "$U2" "$LATCH" --system -s "$SOCK" status -r backup); st=$?
[ $st = 0 ] && contains "$out" "held .* pid $hpid \\($U1: sh -c" && contains "$out" "queued +1 .*\\($U2: "
verdict "...and the text says the same ($out)"
out=$(as "$U3" "$LATCH" --system -s "$SOCK" status 2>&1); st=$?
[ $st = 99 ] && [ "$(n_lines "$out")" = 1 ] && contains "$out" "^latch: permission denied on $SOCK"
verdict "$U3 (not in $G) cannot read it: one line, exit 99 ($out)"

! grep -q u2-start "$LOG"; verdict "$U2 still waits while $U1 holds"
timeout 10 sh -c "echo go > '$FIFO'"
wait "$p1"; s1=$?
wait "$p2"; s2=$?
[ $s1 = 0 ] && [ $s2 = 0 ]; verdict "both commands succeeded ($s1, $s2)"
order=$(tr '\n' ' ' < "$LOG")
[ "$order" = "u1-start u1-end u2-start " ]; verdict "$U2 ran only after $U1's command ended ($order)"

# --- A user outside the group: one line, 99. ----------------------------
out=$(as "$U3" "$LATCH" --system -s "$SOCK" -r backup -- true 2>&1); st=$?
[ $st = 99 ] && [ "$(n_lines "$out")" = 1 ] \
  && [ "$out" = "latch: permission denied on $SOCK: the host's daemon serves the members of its group (ask an admin: usermod -aG $G $U3, then log in again)" ]
verdict "$U3 (not in $G) is refused in one line, exit 99 (exit $st: $out)"

# --- Stopping: members may not; root may. -------------------------------
for opt in -X -x; do
  out=$(as "$U2" "$LATCH" --system -s "$SOCK" $opt 2>&1); st=$?
  [ $st = 99 ] && [ "$(n_lines "$out")" = 1 ] \
    && [ "$out" = "latch: only root or the daemon's owner (uid 0) may stop the daemon at $SOCK" ]
  verdict "$U2's $opt is refused in one line, exit 99 (exit $st: $out)"
done
grep -qE "shutdown refused: uid $UID2 \(pid [0-9]+\) is neither root nor the daemon's owner" "$DLOG"
verdict "...and the daemon logs a warning naming $U2's uid and pid"
out=$(as "$U1" "$LATCH" --system -s "$SOCK" -r after -- echo still 2>&1); st=$?
[ $st = 0 ] && [ "$out" = still ] && pid_alive "$DPID"
verdict "the daemon still serves after the refusals (exit $st: $out)"

out=$("$LATCH" --system -s "$SOCK" -X 2>&1); st=$?
[ $st = 0 ]; verdict "root's -X is obeyed (exit $st: $out)"
check "...and the host's daemon exits" wait_for 10 pid_gone "$DPID"
! grep -qE "ERROR|CRITICAL" "$DLOG"; verdict "its log has no errors"

# --- Not running: one line, 99, and nothing is started. ------------------
out=$("$LATCH" --system -s /nonexistent/x.sock -r r -- true 2>&1); st=$?
[ $st = 99 ] && [ "$out" = "latch: the host's daemon is not running (no socket at /nonexistent/x.sock): start it (systemctl start latchd.socket), or run without --system" ]
verdict "no host's daemon: one line, exit 99 (exit $st: $out)"
# Where a daemon could have been started (-d says it may, and its group
# exists), none is.
out=$("$LATCH" --system --system-group="$G" -s "$SYS/absent.sock" -d 5000 -r r -- true 2>&1); st=$?
[ $st = 99 ] && [ ! -e "$SYS/absent.sock" ] && [ ! -e "$SYS/absent.sock.lock" ] \
  && [ ! -e "$LOCKFILE" ]
verdict "--system never starts a daemon, whatever -d says (exit $st: $out)"
out=$("$LATCH" --system -a 127.0.0.1 -r r -- true 2>&1); st=$?
[ $st = 99 ] && [ "$(n_lines "$out")" = 1 ] && contains "$out" "^latch: --system and -a/-A exclude each other"
verdict "latch --system -a: one line, exit 99 (exit $st: $out)"

# --- A user's daemon on a shared socket: other users lock, not stop. ----
mkdir -m 755 "$SYS/u1"; chown "$U1" "$SYS/u1"
USOCK="$SYS/u1/shared.sock"
out=$(as "$U1" "$LATCH" -s "$USOCK" -d -1 -r x -- true 2>&1); st=$?
upid=$(head -n1 "$USOCK.lock" 2>/dev/null)
[ $st = 0 ] && [ -n "$upid" ] && pid_alive "$upid"; verdict "$U1 starts a daemon on a shared socket (exit $st: $out)"
out=$(as "$U2" "$LATCH" -s "$USOCK" -r x -- echo ran 2>&1); st=$?
[ $st = 0 ] && [ "$out" = ran ]; verdict "$U2 locks through it (exit $st: $out)"
out=$(as "$U2" "$LATCH" -s "$USOCK" -X 2>&1); st=$?
[ $st = 99 ] && [ "$(n_lines "$out")" = 1 ] \
  && [ "$out" = "latch: only root or the daemon's owner (uid $UID1) may stop the daemon at $USOCK" ]
verdict "$U2's -X of $U1's daemon is refused in one line, exit 99 (exit $st: $out)"
out=$(as "$U2" "$LATCH" -s "$USOCK" -r x -- echo ran 2>&1); st=$?
[ $st = 0 ] && [ "$out" = ran ] && pid_alive "$upid"
verdict "...and $U1's daemon still serves (exit $st: $out)"
out=$(as "$U1" "$LATCH" -s "$USOCK" -X 2>&1); st=$?
[ $st = 0 ]; verdict "its owner's -X is obeyed (exit $st: $out)"
check "...and the daemon exits" wait_for 10 pid_gone "$upid"

# --- A member's daemon in the host's daemon's place is not trusted. -----
mkdir -m 770 "$SYS/fake"; chgrp "$G" "$SYS/fake"
out=$(as "$U1" "$LATCH" -s "$SYS/fake/latchd.sock" -d -1 -r x -- true 2>&1); st=$?
fpid=$(head -n1 "$SYS/fake/latchd.sock.lock" 2>/dev/null)
[ $st = 0 ] && [ -n "$fpid" ]; verdict "$U1 runs a daemon of its own in a directory of root's and $G's (exit $st: $out)"
out=$(as "$U2" "$LATCH" --system -s "$SYS/fake/latchd.sock" -r x -- echo ran 2>&1); st=$?
[ $st = 99 ] && [ "$(n_lines "$out")" = 1 ] \
  && [ "$out" = "latch: the daemon at $SYS/fake/latchd.sock runs as uid $UID1, neither root nor the owner of its directory (uid 0): refusing it" ]
verdict "$U2 with --system refuses it in one line, exit 99 (exit $st: $out)"
[ -n "$fpid" ] && kill "$fpid" 2>/dev/null

finish
