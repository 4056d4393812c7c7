#!/usr/bin/env bash
# test-img-nbd-qcow2.sh - qcow2 inside NBD exports served by the real qemu-nbd
# (raw files), next to qemu-img:
#  - convert -n -O qcow2 into an export too small for the image (qcow2 would
#    have to grow it): fails with one line, and `qemu-img check` of the served
#    file finds no error and no leaked cluster (as after qemu-img's failure),
#    for sizes where the L2 table, a data cluster or neither fits.
# $1 vireo-img.
. "$(dirname "$0")/lib.sh"
command -v qemu-nbd >/dev/null || { echo "1..0 # SKIP qemu-nbd (qemu-utils) not installed"; exit 0; }

pids=()
stop_servers() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap stop_servers EXIT

# serve NAME FILE: a persistent export of FILE's raw bytes on $T/NAME.sock, its URI in $U.
serve() {
    local name=$1 file=$2 sock="$T/$1.sock"
    rm -f "$sock"
    qemu-nbd --persistent -f raw -x "$name" -k "$sock" "$file" >/dev/null 2>>"$T/nbd.err" &
    pids+=($!)
    U="nbd+unix:///$name?socket=$sock"
    for _ in $(seq 200); do [ -S "$sock" ] && return 0; sleep 0.05; done
    echo "# qemu-nbd did not come up on $sock"
    return 1
}
# unserve: stops the last server started (its file is then checked without it).
unserve() {
    kill "${pids[-1]}" 2>/dev/null
    wait "${pids[-1]}" 2>/dev/null
    unset 'pids[-1]'
}

head -c 4M /dev/urandom >src.raw
# Export sizes: nothing past the metadata fits, the L2 table fits but no data
# cluster, a cluster fits only in part, some data clusters fit.
for size in 262144 300000 400000 500000 1000000; do
    for tool in qemu-img "$V"; do
        t=$(basename "$tool")
        rm -f small.raw
        qemu-img create -f qcow2 small.raw 4M >/dev/null
        truncate -s "$size" small.raw
        serve small small.raw
        "$tool" convert -n -O qcow2 src.raw "$U" >out.txt 2>err.txt
        rc=$?
        unserve
        if [ "$t" = vireo-img ]; then
            check "export of $size bytes: convert -n -O qcow2 fails in one line" \
                test $rc -eq 1 -a "$(wc -l <err.txt)" -eq 1
        fi
        check "export of $size bytes, after $t's failed convert: qemu-img check: no errors, no leaks" \
            qemu_clean small.raw
    done
done
finish
