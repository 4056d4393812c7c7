#!/usr/bin/env bash
# test-crash.sh - crash safety: SIGKILL a writer at random moments.
#
# blk-util crash-writer does random writes, discards, zero writes, flushes
# and snapshot creations into a qcow2 image forever. We kill it with -9 at a
# random moment, N times (two cluster sizes, v3 and v2), and after each kill require:
# `qemu-img check` finds no corruption (exit 0, or 3 = leaks only), the whole
# image still reads through the library, and the library's `check -r leaks`
# leaves an image `qemu-img check` calls clean. Prints TAP.
set -u
B=$(realpath "${1:?usage: test-crash.sh BLK_UTIL [ITERATIONS]}")
iters=${2:-30}
command -v qemu-img >/dev/null || { echo "1..0 # SKIP qemu-img not installed"; exit 0; }
T=$(mktemp -d /tmp/vireo-crash-XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
n=0
fail=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }

# 4 KiB clusters in a v3 image, then 64 KiB clusters in a v2 (compat=0.10) one.
for variant in 4096:3 65536:2; do
  cs=${variant%:*}
  rm -f c.qcow2
  "$B" create c.qcow2 qcow2 32M cluster_size=$cs compat=${variant#*:} || exit 1
  half=$((iters / 2))
  for i in $(seq 1 "$half"); do
    rm -f status
    "$B" crash-writer c.qcow2 "$RANDOM$i" status 2>writer.err &
    pid=$!
    # 20..800 ms of work before the kill.
    sleep "$(printf '0.%03d' $((20 + RANDOM % 780)))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    [ ! -s writer.err ]
    ok $? "cluster $cs kill $i: the writer ran until killed"
    [ -s writer.err ] && sed 's/^/# /' writer.err | head -5
    qemu-img check c.qcow2 >check.out 2>&1
    rc=$?
    repair=leaks
    inside=""
    # A snapshot creation is one metadata transaction: killed inside it,
    # the image is as clean as anywhere else (unlike qemu's).
    [ "$(head -c1 status 2>/dev/null)" = S ] && inside=" (inside a snapshot creation)"
    if [ $rc != 0 ] && [ $rc != 3 ]; then grep -v '^Leaked' check.out | sed 's/^/# /' | head -20; fi
    [ $rc = 0 ] || [ $rc = 3 ]
    ok $? "cluster $cs kill $i$inside: qemu-img check finds no corruption (exit $rc)"
    "$B" dump c.qcow2 all.raw
    ok $? "cluster $cs kill $i: the whole image reads through the library"
    "$B" check c.qcow2 $repair >repair.out 2>&1
    qemu-img check c.qcow2 >check2.out 2>&1
    rc=$?
    [ $rc != 0 ] && sed 's/^/# /' check2.out repair.out | head -20
    ok $rc "cluster $cs kill $i: after check -r $repair qemu-img check is clean"
  done
done
echo "1..$n"
exit $fail
