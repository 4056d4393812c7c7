#!/usr/bin/env bash
# test-img-bitmaps.sh - persistent dirty bitmaps against the real QEMU tools.
#
# Bitmaps made and changed by vireo-img (bitmap --add/--remove/--clear/
# --enable/--disable/--merge, writes through the block layer, convert
# --bitmaps) must be listed by qemu-img info as vireo-img lists them, pass
# qemu-img check, and hold the dirty ranges QEMU reads from them (exported
# by qemu-nbd -B, read with qemu-img map's x-dirty-bitmap); bitmaps made
# by qemu-img are read, kept and updated by vireo-img the same way; a
# writer killed while the image is open leaves them 'in-use' as QEMU does.
# Usage: test-img-bitmaps.sh VIREO_IMG BLK_UTIL
B=$(realpath "$2") # blk-util: writes through the block library
. "$(dirname "$0")/lib.sh"
command -v qemu-nbd >/dev/null || { echo "1..0 # SKIP qemu-nbd (qemu-utils) not installed"; exit 0; }

# dirty IMG BITMAP: the dirty ranges as QEMU reads them, "start+length" per line.
dirty() {
    local sock="$T/nbd.sock" pid i
    rm -f "$sock"
    qemu-nbd -r -f qcow2 -B "$2" -k "$sock" "$1" 2>"$T/nbd.err" &
    pid=$!
    for i in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
    qemu-img map --output=json --image-opts \
        "driver=nbd,server.type=unix,server.path=$sock,x-dirty-bitmap=qemu:dirty-bitmap:$2" |
        sed -n 's/.*"start": \([0-9]*\), "length": \([0-9]*\),.*"data": false.*/\1+\2/p' | tr '\n' ' '
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}
# dirty_is IMG BITMAP "RANGES": QEMU reads exactly these dirty ranges.
dirty_is() {
    local got
    got=$(dirty "$1" "$2")
    [ "$got" = "$3" ] || { echo "got '$got', want '$3'"; return 1; }
}
# same_info IMG: info (human and JSON) prints what qemu-img prints.
same_info() {
    "$V" info "$1" >v.txt && qemu-img info "$1" >q.txt && diff -u q.txt v.txt &&
        "$V" info --output=json "$1" >v.txt && qemu-img info --output=json "$1" >q.txt &&
        diff -u q.txt v.txt
}
no_in_use() { ! qemu-img info "$1" | grep -q in-use; }
in_use() { qemu-img info "$1" | grep -q in-use; }

# --- made by vireo-img ---
t_add() {
    "$V" create -q -f qcow2 v.qcow2 64M && "$V" bitmap --add v.qcow2 b0 &&
        "$V" bitmap --add -g 128k --disable v.qcow2 b1
}
check "vireo create + bitmap --add (default and 128 KiB granularity, one disabled)" t_add
check "qemu-img check clean" qemu_clean v.qcow2
check "info lists the bitmaps as qemu-img does" same_info v.qcow2
t_listed() {
    qemu-img info --output=json v.qcow2 | tr -d ' \n' |
        grep -q '"flags":\["auto"\],"name":"b0","granularity":65536},{"flags":\[\],"name":"b1","granularity":131072'
}
check "qemu-img info: b0 auto at 64 KiB, b1 disabled at 128 KiB" t_listed
check "writes through the block layer" sh -c "'$B' write v.qcow2 1048576 102400 1 && '$B' write v.qcow2 10485760 65536 2"
check "qemu-img check clean after the writes" qemu_clean v.qcow2
check "no bitmap left in use after a clean close" no_in_use v.qcow2
check "QEMU reads the written ranges from b0" dirty_is v.qcow2 b0 "1048576+131072 10485760+65536 "
check "the disabled b1 recorded nothing" dirty_is v.qcow2 b1 ""
check "bitmap --enable b1, then a write" sh -c "'$V' bitmap --enable v.qcow2 b1 && '$B' write v.qcow2 20971520 4096 3"
check "QEMU reads b1 at its granularity" dirty_is v.qcow2 b1 "20971520+131072 "
check "bitmap --merge b1 into b0" "$V" bitmap --merge b1 v.qcow2 b0
check "QEMU reads the union in b0" dirty_is v.qcow2 b0 "1048576+131072 10485760+65536 20971520+131072 "
check "bitmap --clear b1" "$V" bitmap --clear v.qcow2 b1
check "b1 is empty for QEMU" dirty_is v.qcow2 b1 ""
check "--disable --remove in one command" "$V" bitmap --disable --remove v.qcow2 b1
check "qemu-img check clean after removing a bitmap" qemu_clean v.qcow2
check "info after the removal" same_info v.qcow2
check "zero writes and discards mark too" sh -c "'$B' zero v.qcow2 33554432 65536 && '$B' discard v.qcow2 40M 1M"
check "QEMU reads them" dirty_is v.qcow2 b0 "1048576+131072 10485760+65536 20971520+131072 33554432+65536 41943040+1048576 "
check "vireo resize with a bitmap" "$V" resize v.qcow2 128M
check "qemu-img check clean after the resize" qemu_clean v.qcow2
check "a write past the old end is recorded" sh -c "'$B' write v.qcow2 100M 4096 4"
check "QEMU reads it" dirty_is v.qcow2 b0 "1048576+131072 10485760+65536 20971520+131072 33554432+65536 41943040+1048576 104857600+65536 "

# 512-byte clusters: the header cluster has no room for the feature table too.
t_small() {
    "$V" create -q -f qcow2 -o cluster_size=512 s.qcow2 1M && "$V" bitmap --add s.qcow2 x &&
        "$V" bitmap --add s.qcow2 y && "$B" write s.qcow2 4096 512 1
}
check "bitmaps in a 512-byte-cluster image" t_small
check "qemu-img check clean: 512-byte clusters" qemu_clean s.qcow2
check "QEMU reads its bits" dirty_is s.qcow2 y "4096+4096 "

# --- convert --bitmaps ---
check "vireo convert --bitmaps" "$V" convert --bitmaps -O qcow2 v.qcow2 vc.qcow2
check "qemu-img check clean: converted" qemu_clean vc.qcow2
check "the copy lists the same bitmaps" same_info vc.qcow2
check "the copy holds the same bits" dirty_is vc.qcow2 b0 "$(dirty v.qcow2 b0)"
check "qemu-img convert --bitmaps of vireo's image" qemu-img convert --bitmaps -O qcow2 v.qcow2 qc.qcow2
check "its copy holds the same bits" dirty_is qc.qcow2 b0 "$(dirty v.qcow2 b0)"

# --- made by qemu-img, used by vireo-img ---
qemu-img create -q -f qcow2 q.qcow2 64M
qemu-img bitmap --add q.qcow2 a0
qemu-img bitmap --add -g 256k q.qcow2 a1
qemu-img bitmap --add --disable q.qcow2 a2
qemu-io -c 'write -P 1 0 100k' -c 'write -P 2 10M 1M' q.qcow2 >/dev/null
check "info of qemu's bitmaps" same_info q.qcow2
check "vireo check clean with qemu's bitmaps (their clusters are references)" "$V" check q.qcow2
check "vireo writes into qemu's image" "$B" write q.qcow2 30M 4096 7
check "qemu-img check clean after vireo's writes" qemu_clean q.qcow2
check "a0 holds qemu's ranges and vireo's" dirty_is q.qcow2 a0 "0+131072 10485760+1048576 31457280+65536 "
check "a1 too, at 256 KiB" dirty_is q.qcow2 a1 "0+262144 10485760+1048576 31457280+262144 "
check "a2 (disabled) still empty" dirty_is q.qcow2 a2 ""
t_merge_b() {
    "$V" create -q -f qcow2 m.qcow2 64M && "$V" bitmap --add m.qcow2 m &&
        "$V" bitmap --merge a0 -b q.qcow2 m.qcow2 m
}
check "vireo bitmap --merge a0 -b (from another image)" t_merge_b
check "QEMU reads the merged bits" dirty_is m.qcow2 m "0+131072 10485760+1048576 31457280+65536 "

# --- a writer that dies leaves its bitmaps in use ---
cp v.qcow2 k.qcow2
"$B" crash-writer k.qcow2 5 2>/dev/null &
pid=$!
sleep 0.5
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
check "killed writer: qemu-img says in-use" in_use k.qcow2
check "killed writer: vireo-img info says what qemu-img says" same_info k.qcow2
t_check_ok() { "$V" check k.qcow2 >/dev/null; [ $? -le 3 ]; }
check "killed writer: vireo check finds no corruption" t_check_ok
"$V" bitmap --clear k.qcow2 b0 >v.txt 2>&1
vrc=$?
cp v.qcow2 k2.qcow2
qemu-io -c 'write -P 3 20M 64k' -c 'sigraise 9' k2.qcow2 >/dev/null 2>&1
qemu-img bitmap --clear k2.qcow2 b0 >q.txt 2>&1
qrc=$?
sed -i 's/vireo-img/qemu-img/' v.txt
t_clear_refused() { [ $vrc = $qrc ] && [ $vrc = 1 ] && diff q.txt v.txt; }
check "an in-use bitmap cannot be cleared (qemu-img's words and exit code)" t_clear_refused
check "convert --bitmaps refuses it" sh -c "! '$V' convert --bitmaps -O qcow2 k.qcow2 kc.qcow2 2>/dev/null"
t_skip() {
    "$V" convert --bitmaps --skip-broken-bitmaps -O qcow2 k.qcow2 kc.qcow2 2>/dev/null &&
        ! qemu-img info kc.qcow2 | grep -q bitmaps
}
check "--skip-broken-bitmaps skips it" t_skip
check "it can be removed" sh -c "'$V' bitmap --remove k.qcow2 b0 && ! qemu-img info k.qcow2 | grep -q bitmaps"
# The killed writer's own data writes may have leaked clusters (that is what
# a plain write risks); none of the bitmap's clusters may be among them.
t_removed_clean() {
    qemu-img check k.qcow2 >/dev/null 2>&1
    local rc=$?
    [ $rc = 0 ] || [ $rc = 3 ] || return 1
    "$V" check -r leaks k.qcow2 >/dev/null 2>&1
    qemu_clean k.qcow2
}
check "no corruption after removing an in-use bitmap (and clean once leaks are repaired)" t_removed_clean
t_snap() {
    "$V" snapshot -c s v.qcow2 && ! "$V" snapshot -a s v.qcow2 2>e.txt &&
        grep -q 'Device has active dirty bitmaps' e.txt
}
check "snapshot -a refused while bitmaps exist (as qemu-img)" t_snap
finish
