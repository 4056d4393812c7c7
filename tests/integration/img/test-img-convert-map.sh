#!/usr/bin/env bash
# test-img-convert-map.sh - convert -O qcow2 of raw files whose last cluster
# is partial (and whose size may not be a multiple of 512), next to
# qemu-img's: `vireo-img map --output=json` of vireo-img's copy must print
# exactly what `qemu-img map --output=json` prints of qemu-img's (runs and
# host offsets), and the virtual sizes must agree (qemu-img counts whole
# sectors). A table of sizes times patterns, each sparse and written dense.
# $1 vireo-img.
. "$(dirname "$0")/lib.sh"

# Patterns: where the data lies, relative to the last (partial) cluster's start L and the end E.
#   head: 10 bytes at L; tail: the last 10 bytes; mid: 5 bytes at L + 4096 + 100;
#   zero: nothing in the last cluster (data at 0 only); first: 100 bytes at 0 and 10 at L;
#   edge: the 512 bytes just before L and 1 byte at L; full: the whole last cluster.
make_case() { # OUT SIZE PATTERN DENSE
    python3 - "$@" <<'PY'
import sys
out, size, pat, dense = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
cs = 65536
last = (size - 1) // cs * cs
w = {"head": [(last, b"h" * 10)],
     "tail": [(size - 10, b"t" * 10)],
     "mid": [(last + 4196, b"m" * 5)],
     "zero": [(0, b"z" * 10)],
     "first": [(0, b"f" * 100), (last, b"g" * 10)],
     "edge": [(last - 512, b"e" * 512), (last, b"E")],
     "full": [(last, b"F" * (size - last))]}[pat]
with open(out, "wb") as f:
    if dense:
        f.write(b"\0" * size)  # zeroes written: the source has no holes to tell
    else:
        f.truncate(size)
    for off, data in w:
        if 0 <= off and off + len(data) <= size:
            f.seek(off)
            f.write(data)
PY
}

same_map() { # SRC
    qemu-img convert -O qcow2 "$1" q.qcow2 && "$V" convert -O qcow2 "$1" v.qcow2 &&
        qemu-img map --output=json q.qcow2 >q.map && "$V" map --output=json v.qcow2 >v.map &&
        diff -u q.map v.map && qemu-img compare q.qcow2 v.qcow2 &&
        [ "$(qemu-img info --output=json q.qcow2 | grep virtual-size)" = \
            "$("$V" info --output=json v.qcow2 | grep virtual-size)" ]
}

M=1048576
for size in $((M + 3072)) $((M + 3000)) $((M + 100)) $((M + 8704)) 65536 $((65536 + 512)) \
    $((131072 - 1)) $((2 * M + 4095)) $((300 * 1024 + 7)); do
    for pat in head tail mid zero first edge full; do
        for dense in 0 1; do
            rm -f src.raw q.qcow2 v.qcow2
            make_case src.raw "$size" "$pat" "$dense"
            check "size $size, $pat, $([ $dense = 1 ] && echo dense || echo sparse): map as qemu-img's" \
                same_map src.raw
        done
    done
done

# convert -O raw and create count whole sectors too (the size rounded up, as qemu-img's).
make_case odd.raw $((M + 3000)) head 0
qemu-img convert -O raw odd.raw q.raw
"$V" convert -O raw odd.raw v.raw
check "convert -O raw of $((M + 3000)) bytes: $(stat -c %s q.raw) bytes, as qemu-img's" cmp q.raw v.raw
# convert -n into a target of the source's odd size: qemu-img takes it (its last sector is there).
truncate -s $((M + 3000)) odd-target.raw
check "convert -n -O raw into a raw target of the same odd size" \
    "$V" convert -n -O raw odd.raw odd-target.raw
check "convert -n -O raw into a raw target of the same odd size: same bytes" cmp odd.raw odd-target.raw
rm -f q.qcow2 v.qcow2
qemu-img create -f qcow2 q.qcow2 1051576 >/dev/null
check "convert -n -O qcow2 into a qcow2 of the same odd size" "$V" convert -n -O qcow2 odd.raw q.qcow2
check "convert -n -O qcow2 into a qcow2 of the same odd size: qemu-img compare" \
    qemu-img compare odd.raw q.qcow2
rm -f q.qcow2
qemu-img create -f qcow2 q.qcow2 1051576 >/dev/null
"$V" create -f qcow2 v.qcow2 1051576 >/dev/null
check "create -f qcow2 1051576: the virtual size as qemu-img's" \
    test "$(qemu-img info --output=json q.qcow2 | grep virtual-size)" = \
    "$(qemu-img info --output=json v.qcow2 | grep virtual-size)"
finish
