#!/bin/sh
# make check-valgrind: the daemon under valgrind.  Each daemon writes a
# log into $LATCH_VALGRIND_DIR; the target fails if any log is not empty
# (a memory error or a definite leak).  The daemon is detached, so its exit
# status reaches nobody: the logs are what counts.
exec valgrind -q --leak-check=full --show-leak-kinds=definite \
  --errors-for-leak-kinds=definite \
  --log-file="${LATCH_VALGRIND_DIR:?}/latchd.%p.log" "${LATCHD_REAL:?}" "$@"
