#!/usr/bin/env bash
# test-img-convert-paths.sh - convert's fast write paths against qemu-img:
#  - a QED target is filled through block_map_alloc/commit (data clusters
#    reserved in runs, written without the image lock, L2 entries written
#    per table in one piece): with one and with eight threads, in and out of
#    order (-W), with tables small enough that runs cross them. qemu-img
#    check must find no error and no leak, qemu-img compare the source, and
#    qemu-img map the same data/zero/hole runs as in qemu-img's own copy;
#  - a data write that fails (in the write queue the workers share) fails
#    the copy with one line and leaves no output, into raw, qcow2 and QED;
#  - convert -n into a QED holding old data and zero clusters (allocated
#    clusters are written in place, zero ones get a data cluster).
# $1 vireo-img.
. "$(dirname "$0")/lib.sh"

# The runs of `qemu-img map --output=json`, without host offsets (the two
# tools may place clusters differently), neighbours of one kind merged.
runs() {
    qemu-img map --output=json "$1" | python3 -c '
import json, sys
out = []
for e in json.load(sys.stdin):
    k = (e["depth"], e["present"], e["zero"], e["data"])
    if out and out[-1][0] == k and out[-1][1] + out[-1][2] == e["start"]:
        out[-1][2] += e["length"]
    else:
        out.append([k, e["start"], e["length"]])
for k, s, n in out:
    print(s, n, *k)'
}
same_runs() { runs "$1" >"$T/.a" && runs "$2" >"$T/.b" && diff -u "$T/.b" "$T/.a"; }

make_mixed src.raw 24 5
for opts in cluster_size=65536 cluster_size=4096,table_size=2 cluster_size=16384,table_size=16; do
    qemu-img convert -O qed -o "$opts" src.raw "q-$opts.qed"
    for m in "-m 1" "-m 8" "-m 8 -W"; do
        v="v-$opts-${m// /}.qed"
        # shellcheck disable=SC2086
        check "qed ($opts, $m): convert" "$V" convert $m -O qed -o "$opts" src.raw "$v"
        check "qed ($opts, $m): qemu-img check: no errors, no leaks" qemu_clean "$v"
        check "qed ($opts, $m): qemu-img compare with the source" qemu-img compare -q src.raw "$v"
        check "qed ($opts, $m): the same data, zero and hole runs as qemu-img's copy" \
            same_runs "$v" "q-$opts.qed"
    done
done

# The runs are reserved, and their L2 entries written, in pieces: far fewer
# writes than data clusters (one data write and one entry write each before).
qed_in_runs() {
    # (LeakSanitizer cannot run under ptrace: an ASan build is traced without it.)
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -c -e trace=pwrite64 -o "$T/.st" "$V" convert -O qed -o cluster_size=4096 \
        src.raw st.qed || return 1
    local w c
    w=$(awk '$NF == "pwrite64" { print $4 }' "$T/.st")
    c=$(qemu-img check st.qed | sed -n 's|^\([0-9]*\)/.* allocated.*|\1|p')
    echo "$w pwrite calls for $c data clusters"
    [ "$c" -gt 1000 ] && [ "$w" -lt $((c / 4)) ]
}
check "qed: data written in runs (fewer pwrite calls than a quarter of the data clusters)" qed_in_runs

# -n: a target holding old data (written in place) and zero clusters (which
# get data clusters), and holes; everything reads as the source afterwards.
qemu-img create -q -f qed -o cluster_size=4096,table_size=2 n.qed 24M
qemu-io -f qed -c 'write -P 0x5a 0 3M' -c 'write -z 5M 2M' -c 'write -P 0x11 9M 1M' \
    -c 'write -z 20M 4M' n.qed >/dev/null
check "qed -n: convert over old data, zero clusters and holes" "$V" convert -n -O qed src.raw n.qed
check "qed -n: qemu-img check: no errors, no leaks" qemu_clean n.qed
check "qed -n: qemu-img compare with the source" qemu-img compare -q src.raw n.qed
# A data write that fails in the write queue (whichever worker does it)
# fails the copy: exit 1, one line naming the offset, no output left (a raw
# target is made first and written with -n: the limit would stop its
# creation). The file size limit (2 MiB, SIGXFSZ ignored) makes a write past
# it fail (EFBIG).
write_fails() {
    local fmt=$1 m=$2 n=
    rm -f big.out
    [ "$fmt" = raw ] && n=-n && truncate -s 24M big.out
    # shellcheck disable=SC2086
    (trap '' XFSZ && ulimit -f 4096 && exec "$V" convert $m $n -O "$fmt" src.raw big.out) >o.txt 2>e.txt
    local rc=$?
    cat e.txt
    [ $rc -eq 1 ] && [ "$(wc -l <e.txt)" -eq 1 ] &&
        grep -q "^vireo-img: error while writing at byte [0-9]*: could not write" e.txt &&
        { [ -n "$n" ] || test ! -e big.out; }
}
for fmt in raw qcow2 qed; do
    for m in "-m 1" "-m 8" "-m 8 -W"; do
        check "$fmt ($m): a failed data write fails the copy in one line, no output left" write_fails "$fmt" "$m"
    done
done
finish
