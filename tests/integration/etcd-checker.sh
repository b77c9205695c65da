# etcd-checker.sh: the mutual-exclusion checker of etcd-ha.sh and
# etcd-chaos.sh.  Sourced after lib.sh.
#
# A critical section (CS_BODY, run by bash under the lock, with LATCH_FENCE
# set by latch) appends lines to its own log file, one worker a file so
# that no two writers share one:
#
#   start TIME_US FENCE WORKER      on entry
#   beat TIME_US FENCE WORKER       while it runs (every ~20 ms)
#   stale TIME_US FENCE WORKER LAST the storage held a fence >= ours
#   end TIME_US FENCE WORKER        on a normal exit
#
# Times come from bash's $EPOCHREALTIME (the one realtime clock of the
# machine, network namespaces included).  A section stopped by latch (its
# lock lost: the whole process group gets SIGKILL) writes no "end"; its
# last line is the last thing it did, and that is what must not overlap
# another section: a command running on after its lock was granted
# elsewhere would keep beating.
#
# The "storage" is one shared file holding the last fence written, as a
# fenced resource would keep it: a section reads it under the lock and
# writes its own fence only if it is larger; otherwise it records "stale".
#
# cs_check LOG...: reads the logs, prints one line
#   "sections N overlaps O fence_bad F stale S maxgap_ms G"
# followed by up to 5 "# ..." lines describing the first violations.
# Sections are ordered by their start; an overlap is a start not after the
# latest end (last line) of every section before it; fence_bad counts
# sections whose fence is not larger than that of the section before.

# $1: worker name; $2: log file; $3: storage file; $4: beats (x 20 ms).
# shellcheck disable=SC2016 # expanded by the bash under the lock
CS_BODY='w=$1 log=$2 store=$3 n=$4 f=$LATCH_FENCE
echo "start ${EPOCHREALTIME/./} $f $w" >> "$log"
last=$(cat "$store" 2>/dev/null); last=${last:-0}
if [ "$f" -gt "$last" ]; then echo "$f" > "$store"
else echo "stale ${EPOCHREALTIME/./} $f $w $last" >> "$log"; fi
i=0
while [ "$i" -lt "$n" ]; do
  sleep 0.02
  echo "beat ${EPOCHREALTIME/./} $f $w" >> "$log"
  i=$((i + 1))
done
echo "end ${EPOCHREALTIME/./} $f $w" >> "$log"'

# cs_run LATCH-FUNCTION WORKER LOG STORE BEATS [latch options]: one section.
cs_run () {
  local fn=$1 w=$2 log=$3 store=$4 n=$5; shift 5
  "$fn" "$@" -- bash -c "$CS_BODY" cs "$w" "$log" "$store" "$n"
}

cs_check () {
  cat "$@" 2>/dev/null | awk '
    $1 == "start" { k = $4 ":" $3 ":" (++seq[$4]); cur[$4] = k; s[k] = $2; e[k] = $2; f[k] = $3; w[k] = $4; next }
    $1 == "beat" || $1 == "end" || $1 == "stale" {
      k = cur[$4]; if (k != "" && $2 > e[k]) e[k] = $2
      if ($1 == "stale") { stale++; if (nd < 5) d[nd++] = "stale fence " $3 " from " $4 " (storage had " $5 ")" }
    }
    END {
      n = 0
      for (k in s) keys[n++] = k
      # insertion sort by start time (a few hundred sections at most)
      for (i = 1; i < n; i++) { x = keys[i]; j = i - 1
        while (j >= 0 && s[keys[j]] > s[x]) { keys[j + 1] = keys[j]; j-- }
        keys[j + 1] = x }
      maxe = -1; gap = 0
      for (i = 0; i < n; i++) {
        k = keys[i]
        if (i > 0) {
          if (s[k] <= maxe) { ov++
            if (nd < 5) d[nd++] = sprintf("overlap: %s (fence %s) started at %s, %d us before %s (fence %s) ended",
                                          w[k], f[k], s[k], maxe - s[k], w[mk], f[mk]) }
          else if (s[k] - maxe > gap) gap = s[k] - maxe
          if (f[k] + 0 <= f[keys[i - 1]] + 0) { fb++
            if (nd < 5) d[nd++] = sprintf("fence %s of %s granted after fence %s of %s",
                                          f[k], w[k], f[keys[i - 1]], w[keys[i - 1]]) }
        }
        if (e[k] > maxe) { maxe = e[k]; mk = k }
      }
      printf "sections %d overlaps %d fence_bad %d stale %d maxgap_ms %d\n", n, ov, fb, stale, gap / 1000
      for (i = 0; i < nd; i++) print "# " d[i]
    }'
}

# cs_field LINE NAME: the number after NAME in cs_check's first line.
cs_field () { printf '%s\n' "$1" | head -n1 | awk -v n="$2" '{ for (i = 1; i < NF; i++) if ($i == n) print $(i + 1) }'; }

# cluster_leader: K (1..ETCD_N) of the member that is its own leader, from
# one "endpoint status" over every member that answers.  (etcd-lib.sh's
# etcd_leader gives a second --endpoints to etcdctl, which adds to the
# first instead of replacing it: it only ever finds member 1.)
cluster_leader () {
  local ep k e
  ep=$(etcd_ctl --dial-timeout=1s --command-timeout=2s endpoint status -w json 2>/dev/null |
         jq -r '.[] | select(.Status.header.member_id == .Status.leader) | .Endpoint' 2>/dev/null |
         head -n1)
  [ -n "$ep" ] || return 1
  for k in $(seq 1 "$ETCD_N"); do
    eval "e=\$ETCD_ENDPOINT_$k"
    if [ "$e" = "$ep" ]; then echo "$k"; return 0; fi
  done
  return 1
}
