#!/bin/sh
# The daemon's life: started on demand, exactly once, gone when idle or
# told so; commands never fail because one is starting or leaving.
. "$LATCH_TESTS_SRCDIR/integration/lib.sh"

err=$("$LATCH" -d 0 -r x -- true 2>&1); st=$?
check "-d 0 with no daemon running exits 99" [ $st = 99 ]
check "...saying -d 0 forbids starting one" contains "$err" "forbids starting one"
expect_status 99 "-x with no daemon running exits 99" "$LATCH" -x
expect_status 99 "-X with no daemon running exits 99" "$LATCH" -X

# The descriptors of the program that starts the daemon are not the
# daemon's, however high (a liblatch program may hold thousands; they were
# closed only up to 1023).  bash opens descriptor 1500 (the soft limit
# raised for it) and becomes latch, which starts the daemon.
if bash -c 'ulimit -n 2048 2>/dev/null || [ "$(ulimit -n)" -gt 1500 ]'; then
  bash -c 'ulimit -n 2048 2>/dev/null; exec 1500>"$1" && exec "$2" -d -1 -r fds -- true' \
    sh "$T/fd1500" "$LATCH"
  dpid=$(daemon_pid)
  [ -n "$dpid" ] && pid_alive "$dpid" && [ -d "/proc/$dpid/fd" ] && [ ! -e "/proc/$dpid/fd/1500" ]
  verdict "a daemon started by a program holding descriptor 1500 does not inherit it"
  "$LATCH" -X > /dev/null 2>&1
  wait_for 10 pid_gone "$dpid"
else
  ok "# SKIP cannot open descriptor 1500 (ulimit -n)"
fi

# Start race: 20 first commands at once, one daemon, all succeed.
pids=""
for i in $(seq 1 20); do
  bg "$LATCH" -d 2000 -r race -- sh -c "head -n1 $LOCKFILE >> $T/daemons"
  pids="$pids $last_pid"
done
fails=0
for p in $pids; do wait $p || fails=$((fails + 1)); done
check "20 commands started at once all succeed ($fails failed)" [ $fails = 0 ]
[ "$(sort -u "$T/daemons" | wc -l)" = 1 ] && [ "$(wc -l < "$T/daemons")" = 20 ]; verdict "...served by one daemon"

# Lifespan: the daemon leaves after being idle that long.
dpid=$(daemon_pid)
check "the daemon exits after its lifespan of inactivity" wait_for 10 pid_gone "$dpid"
check "...and removes its socket" [ ! -e "$SOCKDIR/daemon.sock" ]

# Quiesce: the holder finishes, a newcomer gets the next daemon.
"$LATCH" -d -1 -r q1 -- true
old=$(daemon_pid)
bg "$LATCH" -r q1 -- sh -c 'touch "$1"; i=0; while [ ! -e "$2" ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; echo holder-done >> "$3"' sh "$T/q1.in" "$T/q1.go" "$T/qorder"; holder=$last_pid
wait_for 10 file_exists "$T/q1.in"
out=$("$LATCH" -x); st=$?
[ $st = 0 ] && contains "$out" quiescing; verdict "-x exits 0 once the daemon accepted it"
check "...and the daemon stops listening" [ ! -e "$SOCKDIR/daemon.sock" ]
check "...but keeps running for its holder" pid_alive "$old"
bg "$LATCH" -r q1 -- sh -c 'echo newcomer >> "$1"; head -n1 "$2" > "$3"' sh "$T/qorder" "$LOCKFILE" "$T/newpid"; newcomer=$last_pid
# Observable: it sleeps between attempts (a failing one would be a zombie
# by then, waiting for this shell to reap it).
retrying () {
  [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = S ] &&
    grep -qE 'sleep|poll|select' "/proc/$1/wchan" 2>/dev/null
}
check "a newcomer waits rather than failing ($(cat /proc/$newcomer/wchan 2>/dev/null))" wait_for 5 retrying $newcomer
touch "$T/q1.go"
wait $holder; hs=$?
wait $newcomer; ns=$?
check "the holder finishes normally" [ $hs = 0 ]
check "the quiesced daemon exits after its holder" wait_for 10 pid_gone "$old"
[ $ns = 0 ] && [ "$(cat "$T/newpid")" != "$old" ]; verdict "the newcomer succeeds on a new daemon"
check "...after the holder" [ "$(tr '\n' ' ' < "$T/qorder")" = "holder-done newcomer " ]

# Immediate: holders lose their lock at once; latch stops their command.
"$LATCH" -d -1 -r x1 -- true
old=$(daemon_pid)
bg "$LATCH" -r x1 -- sh -c 'trap "touch $1; exit 0" TERM; touch $2; i=0; while [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done' sh "$T/x1.term" "$T/x1.in"; holder=$last_pid
wait_for 10 file_exists "$T/x1.in"
expect_status 0 "-X exits 0 once the daemon accepted it" "$LATCH" -X
wait $holder; hs=$?
check "the holder's latch exits 99 when the daemon is gone" [ $hs = 99 ]
check "...after stopping its command" [ -e "$T/x1.term" ]
check "the daemon is gone" wait_for 10 pid_gone "$old"

# The private socket directory is checked.
rm -rf "$SOCKDIR"
mkdir -m 755 "$SOCKDIR"
err=$("$LATCH" -r x -- true 2>&1); st=$?
[ $st = 99 ] && contains "$err" "chmod 700"; verdict "a socket directory open to others is refused (99)"
rmdir "$SOCKDIR"
if [ "$(id -u)" = 0 ]; then
  mkdir -m 700 "$SOCKDIR"; chown 65534 "$SOCKDIR"
  err=$("$LATCH" -r x -- true 2>&1); st=$?
  [ $st = 99 ] && contains "$err" "not to you"; verdict "a socket directory owned by another user is refused (99)"
  rmdir "$SOCKDIR"
else
  ok "# SKIP foreign-owned directory needs root"
fi
ln -s /tmp "$SOCKDIR"
err=$("$LATCH" -r x -- true 2>&1); st=$?
check "a symlink in place of the socket directory is refused (99)" [ $st = 99 ]
rm -f "$SOCKDIR"

# -s naming an existing file by mistake: the file is not touched.
echo "precious" > "$T/notes.txt"
err=$("$LATCH" -s "$T/notes.txt" -r x -- true 2>&1); st=$?
[ $st = 99 ] && contains "$err" "not a socket" && [ "$(cat "$T/notes.txt")" = precious ]
verdict "-s naming a regular file is refused (99) and the file is left alone"

echo "also precious" > "$T/other.lock"
err=$("$LATCH" -s "$T/other" -r x -- true 2>&1); st=$?
[ $st = 99 ] && contains "$err" "not a latch lock file" && [ "$(cat "$T/other.lock")" = "also precious" ]
verdict "...and so is one whose PATH.lock is someone's file, left alone"

# -s names a socket on purpose.
expect_status 0 "-s uses the named socket" "$LATCH" -s "$T/shared.sock" -d 500 -r s -- true
check "...made connectable by others (0666)" [ "$(stat -c %a "$T/shared.sock")" = 666 ]
"$LATCH" -s "$T/shared.sock" -X > /dev/null

finish
