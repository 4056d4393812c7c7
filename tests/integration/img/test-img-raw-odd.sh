#!/usr/bin/env bash
# test-img-raw-odd.sh - raw files whose size is not a multiple of 512, side
# by side with qemu-img: QEMU counts them in whole sectors (virtual size
# rounded up, the tail a zero extent), creates them rounded up with their
# first block written, and resizes them from the rounded size. For sizes
# 1, 511, 512, 513, 4095, 4097 and 1 MiB + 1, each dense, sparse, and sparse
# with its last byte written: info (human, json), map (human, json) and
# measure print what qemu-img prints; create gives the same file (length,
# blocks) and outputs; a sequence of resizes leaves the same lengths.
# $1 vireo-img.
. "$(dirname "$0")/lib.sh"

SIZES=(1 511 512 513 4095 4097 1048577)
python3 - "${SIZES[@]}" <<'PY'
import os, sys
for s in map(int, sys.argv[1:]):
    with open(f'dense{s}', 'wb') as f:
        f.write(os.urandom(s))
    with open(f'sparse{s}', 'wb') as f:
        f.truncate(s)
    with open(f'tail{s}', 'wb') as f:
        f.truncate(s)
        f.seek(s - 1)
        f.write(b'x')
PY

# same_out DESCRIPTION ARGS...: both tools print the same (stdout and stderr, program
# names aside) and exit alike.
same_out() {
    local d=$1
    shift
    qemu-img "$@" >q.txt 2>&1
    local qr=$?
    "$V" "$@" >v.txt 2>&1
    local vr=$?
    sed -i 's/^qemu-img:/PROG:/' q.txt
    sed -i 's/^vireo-img:/PROG:/' v.txt
    if [ $qr -eq $vr ] && diff -u q.txt v.txt >d.txt; then
        ok "$d"
    else
        not_ok "$d (exit $qr, $vr)"
        sed 's/^/# /' d.txt
    fi
}

for s in "${SIZES[@]}"; do
    for k in dense sparse tail; do
        f=$k$s
        same_out "$f: info" info "$f"
        same_out "$f: info --output=json" info --output=json "$f"
        same_out "$f: map" map "$f"
        same_out "$f: map --output=json" map --output=json "$f"
        same_out "$f: measure -O raw" measure -O raw "$f"
        same_out "$f: measure --output=json -O qcow2" measure --output=json -O qcow2 "$f"
    done
    same_out "measure --size $s -O raw" measure --size "$s" -O raw

    # create: the file's length and blocks, and what info says of it
    rm -f q.raw v.raw
    qemu-img create -f raw q.raw "$s" | sed 's/q\.raw/X/' >qc.txt
    "$V" create -f raw v.raw "$s" | sed 's/v\.raw/X/' >vc.txt
    stat -c '%s %b' q.raw >>qc.txt
    stat -c '%s %b' v.raw >>vc.txt
    qemu-img info --output=json q.raw | grep -v filename >>qc.txt
    "$V" info --output=json v.raw | grep -v filename >>vc.txt
    if diff -u qc.txt vc.txt >d.txt; then
        ok "create -f raw of $s bytes: same file and info"
    else
        not_ok "create -f raw of $s bytes: same file and info"
        sed 's/^/# /' d.txt
    fi

    # resize: relative to the rounded size, shrinking below it needs --shrink
    for t in q v; do
        if [ $t = q ]; then X=qemu-img; else X=$V; fi
        cp "dense$s" $t.raw
        for a in "+1" "--shrink -- -1" "-- -1" "600" "--shrink 600" "+0" "2000001" "--shrink 1"; do
            # shellcheck disable=SC2086 # $a is several arguments
            $X resize -f raw $t.raw $a 2>&1 | sed 's/^[a-z-]*-img:/PROG:/'
            echo "$a: exit ${PIPESTATUS[0]}, $(stat -c %s $t.raw) bytes"
        done >$t.res
    done
    if diff -u q.res v.res >d.txt; then
        ok "resize of a $s-byte raw file: same outputs and lengths"
    else
        not_ok "resize of a $s-byte raw file: same outputs and lengths"
        sed 's/^/# /' d.txt
    fi
done
finish
