#!/usr/bin/env bash
# test-img-nbd-qcow2.sh - qcow2 inside NBD exports served by the real qemu-nbd
# (raw files), next to qemu-img:
#  - convert -n -O qcow2 into an export too small for the image (qcow2 would
#    have to grow it): fails with one line, and `qemu-img check` of the served
#    file finds no error and no leaked cluster (as after qemu-img's failure),
#    for sizes where the L2 table, a data cluster or neither fits;
#  - create -f qcow2 on an export formats it in place as qemu-img does: the
#    served file byte for byte as after qemu-img's create (also with
#    preallocation=metadata), an export holding old data reads as zeroes and
#    checks clean; exports too small for the metadata are refused with
#    qemu-img's words and exit status, and left untouched; then vireo-img and
#    qemu-img (qemu-io) write through the export and each reads the other's data.
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
    wait_listening "$sock" && return 0
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

# same_err DESCRIPTION ARGS...: vireo-img and qemu-img exit alike with the same stderr
# (program names and the socket's directory masked).
same_err() {
    local d="$1"
    shift
    "$V" "$@" >/dev/null 2>v.err
    local vr=$?
    qemu-img "$@" >/dev/null 2>q.err
    local qr=$?
    sed -i "s/^qemu-img: //; s|$T||" q.err
    sed -i "s/^vireo-img: //; s|$T||" v.err
    if [ $vr -eq $qr ] && cmp -s v.err q.err; then
        ok "$d"
    else
        not_ok "$d (exit $vr, qemu-img $qr)"
        diff -u q.err v.err | sed 's/^/# /'
    fi
}

# create on an export of SIZE bytes: the served file after each tool's create.
create_on() { # TOOL SIZE OUT [OPTIONS]
    local tool=$1 size=$2 out=$3
    shift 3
    rm -f exp.raw
    truncate -s "$size" exp.raw
    serve exp exp.raw
    "$tool" create -f qcow2 "$@" "$U" 4M >/dev/null 2>&1
    unserve
    cp exp.raw "$out"
}
for opts in "" "-o preallocation=metadata" "-o cluster_size=1M"; do
    # shellcheck disable=SC2086
    create_on qemu-img 64M q.raw $opts
    # shellcheck disable=SC2086
    create_on "$V" 64M v.raw $opts
    check "create -f qcow2 ${opts:+$opts }on a 64 MiB export: the served file as after qemu-img's" \
        cmp q.raw v.raw
    check "create -f qcow2 ${opts:+$opts }on a 64 MiB export: qemu-img check clean" qemu_clean v.raw
done

# An export full of old bytes: formatted, it reads as zeroes.
python3 -c 'import sys; sys.stdout.buffer.write(b"\xa5" * (8 << 20))' >exp.raw
serve exp exp.raw
"$V" create -f qcow2 "$U" 4M >/dev/null
head -c 4M /dev/zero >zero.raw
check "create on an export of old data: qemu-img compare with zeroes: identical" \
    qemu-img compare -f qcow2 -F raw "$U" zero.raw
unserve
check "create on an export of old data: qemu-img check clean" qemu_clean exp.raw

# Exports too small for the header, the refcount structures, the L1 table.
for size in 0 65536 131072 196608; do
    rm -f exp.raw
    head -c "$size" /dev/urandom >exp.raw
    cp exp.raw before.raw
    serve exp exp.raw
    same_err "create -f qcow2 1G on an export of $size bytes: qemu-img's error" \
        create -f qcow2 "$U" 1G
    unserve
done
# qemu-img's failed create wrote part of the image; ours writes nothing before its check.
cp before.raw exp.raw
serve exp exp.raw
"$V" create -f qcow2 "$U" 1G >/dev/null 2>&1
unserve
check "a refused create leaves the export as it was" cmp before.raw exp.raw

# Writes and reads through the formatted export, both tools.
rm -f exp.raw
truncate -s 16M exp.raw
serve exp exp.raw
"$V" create -f qcow2 "$U" 4M >/dev/null
head -c 1M /dev/urandom >part.raw
cp zero.raw want.raw
dd if=part.raw of=want.raw bs=64k seek=8 conv=notrunc status=none
check "vireo-img convert -n -O qcow2 into the formatted export" \
    "$V" convert -n -O qcow2 want.raw "$U"
check "qemu-img reads vireo-img's data back through the export" \
    qemu-img compare -f qcow2 -F raw "$U" want.raw
qemu-io -f qcow2 -c "write -P 0x5a 2M 300k" "$U" >/dev/null 2>&1
python3 - <<'PY'
with open("want.raw", "r+b") as f:
    f.seek(2 << 20)
    f.write(b"\x5a" * (300 << 10))
PY
check "vireo-img reads qemu-io's write back through the export" \
    "$V" compare -f qcow2 -F raw "$U" want.raw
unserve
check "after both tools' writes: qemu-img check of the served file clean" qemu_clean exp.raw
check "after both tools' writes: the served file holds the data" qemu_same_data exp.raw want.raw
finish
