#!/usr/bin/env bash
# test-img-crash.sh - crash atomicity of vireo-img's whole-image operations.
#
# For each of `snapshot -c`, `snapshot -d`, `commit` and `resize` (shrink,
# and growth with preallocation), N times: start vireo-img on a fresh copy of
# a prepared image, SIGKILL it at a random moment of the operation (uniform
# over the time an uninterrupted run takes), then require of every image
# involved:
#   - the real `qemu-img check` exits 0: no corruption and no leaked cluster;
#   - the data is what it was, or what the operation makes of it (the active
#     layer of a snapshotted image reads as before; the commit's overlay
#     reads as before and its base as before or as the overlay; a resized
#     image has the old or the new size and the data that survives both).
# Usage: test-img-crash.sh VIREO_IMG N [qemu]   With "qemu" as the third
# argument the same kills hit qemu-img instead, and the counts of corrupt and
# leaking images are printed (no assertions): the comparison in the README.
# Prints TAP.
. "$(dirname "$0")/lib.sh"
iters=${2:-20}
tool=${3:-vireo}
BIN=$V
[ "$tool" = qemu ] && BIN=qemu-img

# 64 MiB of random data in 4 KiB clusters: 16384 data clusters, 32 L2
# tables and 8 refcount blocks, so every operation writes plenty of metadata.
head -c $((64 << 20)) /dev/urandom >a.raw
head -c $((64 << 20)) /dev/urandom >b.raw
qemu-img convert -O qcow2 -o cluster_size=4096 a.raw snap0.qcow2
# Two snapshots with different data in between, for snapshot -d.
cp snap0.qcow2 del0.qcow2
qemu-img snapshot -c one del0.qcow2
qemu-io -c 'write -P 0x5a 0 16M' del0.qcow2 >/dev/null
qemu-img snapshot -c two del0.qcow2
qemu-io -c 'write -P 0xa5 8M 16M' del0.qcow2 >/dev/null
qemu-img convert -O raw del0.qcow2 del0.raw
# commit: a base of a.raw and an overlay holding b.raw's first 48 MiB.
qemu-img convert -O qcow2 -o cluster_size=4096 a.raw base0.qcow2
cp base0.qcow2 base.qcow2
qemu-img create -q -f qcow2 -o cluster_size=4096 -b base.qcow2 -F qcow2 top0.qcow2
head -c $((48 << 20)) b.raw >b48.raw
qemu-io -c "write -q -s b48.raw 0 48M" top0.qcow2
python3 - <<'PY'
a = open('a.raw', 'rb').read()
b = open('b.raw', 'rb').read()
open('commit-new.raw', 'wb').write(b[:48 << 20] + a[48 << 20:])
PY
qemu-img compare top0.qcow2 commit-new.raw >/dev/null || { echo "Bail out! could not prepare the commit images"; exit 1; }
# resize: shrink 64 MiB -> 16 MiB, or grow to 128 MiB with metadata preallocation.
cp snap0.qcow2 rs0.qcow2
head -c $((16 << 20)) a.raw >a16.raw

clean() { # qemu-img check exit 0, no leaks
    qemu-img check "$1" >"$T/.chk" 2>&1
}
ms_now() { date +%s%N | cut -c1-13; }

# duration OP: milliseconds an uninterrupted run of OP takes (prepare + run).
duration() {
    local s e
    "prep_$1"
    s=$(ms_now)
    # shellcheck disable=SC2086
    "$BIN" ${args[$1]} >/dev/null 2>&1
    e=$(ms_now)
    echo $((e - s + 5))
}

declare -A args=(
    [snapc]="snapshot -c new img.qcow2" [snapd]="snapshot -d one img.qcow2"
    [commit]="commit top.qcow2" [shrink]="resize --shrink img.qcow2 16M"
    [grow]="resize --preallocation=metadata img.qcow2 128M")
prep_snapc() { cp snap0.qcow2 img.qcow2; }
verify_snapc() {
    clean img.qcow2 || return 1
    qemu-img compare img.qcow2 a.raw >/dev/null || return 2
    local n
    n=$(qemu-img snapshot -l img.qcow2 | grep -c ' new ')
    [ "$n" -le 1 ] || return 3
}
prep_snapd() { cp del0.qcow2 img.qcow2; }
verify_snapd() {
    clean img.qcow2 || return 1
    qemu-img compare img.qcow2 del0.raw >/dev/null || return 2
    qemu-img snapshot -l img.qcow2 | grep -q ' two ' || return 3
}
prep_commit() { cp base0.qcow2 base.qcow2; cp top0.qcow2 top.qcow2; }
verify_commit() {
    clean base.qcow2 || return 1
    clean top.qcow2 || return 1
    qemu-img compare top.qcow2 commit-new.raw >/dev/null || return 2
    # The base holds a.raw where the overlay has nothing, and per cluster either
    # a.raw or b.raw where it has (data written in place is not held back).
    python3 - <<'PY' || return 3
import subprocess, sys
subprocess.run(['qemu-img', 'convert', '-O', 'raw', 'base.qcow2', 'base-now.raw'], check=True)
a = open('a.raw', 'rb').read(); b = open('b.raw', 'rb').read(); n = open('base-now.raw', 'rb').read()
if len(n) != len(a) or n[48 << 20:] != a[48 << 20:]:
    sys.exit(1)
for off in range(0, 48 << 20, 4096):
    c = n[off:off + 4096]
    if c != a[off:off + 4096] and c != b[off:off + 4096]:
        sys.exit(1)
PY
}
prep_shrink() { cp rs0.qcow2 img.qcow2; }
verify_shrink() {
    clean img.qcow2 || return 1
    local size
    size=$(qemu-img info --output=json img.qcow2 | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')
    case $size in
    67108864) qemu-img compare img.qcow2 a.raw >/dev/null || return 2 ;;
    16777216) qemu-img compare img.qcow2 a16.raw >/dev/null || return 2 ;;
    *) return 3 ;;
    esac
}
prep_grow() { cp rs0.qcow2 img.qcow2; }
verify_grow() {
    clean img.qcow2 || return 1
    local size
    size=$(qemu-img info --output=json img.qcow2 | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')
    [ "$size" = 67108864 ] || [ "$size" = 134217728 ] || return 3
    qemu-img compare img.qcow2 a.raw >/dev/null || return 2
}

for op in snapc snapd commit shrink grow; do
    d=$(duration $op)
    "verify_$op"
    if [ "$tool" != qemu ]; then
        [ $? = 0 ]; ok_rc=$?
        if [ $ok_rc = 0 ]; then ok "$op: an uninterrupted run gives a clean image (${d} ms)"; else not_ok "$op: an uninterrupted run gives a clean image"; sed 's/^/# /' "$T/.chk" | head; fi
    fi
    corrupt=0 leaking=0 baddata=0
    for i in $(seq 1 "$iters"); do
        "prep_$op"
        delay=$((RANDOM * 32768 + RANDOM))
        delay=$((delay % d))
        # shellcheck disable=SC2086
        "$BIN" ${args[$op]} >/dev/null 2>&1 &
        pid=$!
        sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        "verify_$op"
        rc=$?
        case $rc in
        0) ;;
        1) if grep -q '^ERROR\|corrupt' "$T/.chk"; then corrupt=$((corrupt + 1)); else leaking=$((leaking + 1)); fi ;;
        *) baddata=$((baddata + 1)) ;;
        esac
        if [ "$tool" != qemu ]; then
            if [ $rc = 0 ]; then
                ok "$op: kill $i at ${delay} ms: qemu-img check clean, data intact"
            else
                not_ok "$op: kill $i at ${delay} ms (verify step $rc)"
                sed 's/^/# /' "$T/.chk" | head -8
            fi
        fi
    done
    if [ "$tool" = qemu ]; then
        echo "# qemu-img $op: $iters kills over ${d} ms: $corrupt corrupt, $leaking leaking, $baddata with wrong data"
    else
        echo "# vireo-img $op: $iters kills over ${d} ms: $corrupt corrupt, $leaking leaking, $baddata with wrong data"
    fi
done
finish
