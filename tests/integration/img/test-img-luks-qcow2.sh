#!/usr/bin/env bash
# test-img-luks-qcow2.sh - LUKS-encrypted qcow2 with qcow2's newer layers,
# against qemu-img: extended L2 entries (subclusters written partly through
# the cipher), an external data file (the ciphertext there, at guest
# offsets), the threaded convert (-m/-W) into an encrypted target, snapshot
# apply/delete and shrink inside metadata transactions, amend of non-key
# options, dirty bitmaps next to encryption, and dd and bench keyed
# through --object/--image-opts. Each image must read the same in both
# tools and pass qemu-img check.
# $2 is blk-util (tests/unit/block), the block library's test driver.
B=$(realpath "$2")
. "$(dirname "$0")/lib.sh"
command -v qemu-io >/dev/null || { echo "1..0 # SKIP qemu-io (qemu-utils) not installed"; exit 0; }

make_mixed src.raw 3 11
S0="--object secret,id=sec0,data=pass-zero"
QK="encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10"
qo() { echo "driver=qcow2,file.filename=$1,encrypt.key-secret=sec0"; }
qemu_make() { qemu_retry qemu-img "$@"; }
clean() { qemu-img check $S0 --image-opts "$(qo "$1")" | grep -qx 'No errors were found on the image.'; }
# same FILE RAW: both tools decrypt FILE to RAW's bytes.
same() {
    qemu-img convert $S0 --image-opts "$(qo "$1")" -O raw q.raw && cmp q.raw "$2" &&
        "$V" convert $S0 --image-opts "$(qo "$1")" -O raw v.raw && cmp v.raw "$2"
}
patch() { # RAW OFF LEN BYTE...: the same writes on a plain copy
    python3 - "$@" <<'PY'
import sys
f = open(sys.argv[1], 'r+b')
a = sys.argv[2:]
for i in range(0, len(a), 3):
    f.seek(int(a[i])); f.write(bytes([int(a[i + 2], 0)]) * int(a[i + 1]))
PY
}

# --- extended L2 entries: subclusters, partial writes through the cipher ---
check "vireo convert -O qcow2 LUKS extended_l2=on" \
    "$V" convert $S0 -O qcow2 -o "$QK,extended_l2=on" src.raw x.qcow2
check "qemu-img check clean (extended_l2)" clean x.qcow2
check "both tools read it (extended_l2)" same x.qcow2 src.raw
cp src.raw w.raw
check "unaligned writes inside subclusters (block layer)" sh -c "
    BLK_UTIL_KEY=pass-zero '$B' write x.qcow2 1000 300 0x5a &&
    BLK_UTIL_KEY=pass-zero '$B' write x.qcow2 2049 5000 0xa5 &&
    BLK_UTIL_KEY=pass-zero '$B' write x.qcow2 2097151 3 0x11"
patch w.raw 1000 300 0x5a 2049 5000 0xa5 2097151 3 0x11
check "qemu-img reads the patched subclusters" same x.qcow2 w.raw
check "qemu-img check clean after the partial writes" clean x.qcow2
qemu_make create $S0 -f qcow2 -o "$QK,extended_l2=on" qx.qcow2 3M
qemu-io $S0 --image-opts "$(qo qx.qcow2)" -c 'write -P 0x21 4000 1500' -c 'write -P 0x43 70000 2048' >/dev/null
check "vireo writes around qemu-io's subclusters" sh -c "
    BLK_UTIL_KEY=pass-zero '$B' write qx.qcow2 5000 1000 0x65"
truncate -s 3M qx.raw
patch qx.raw 4000 1500 0x21 70000 2048 0x43 5000 1000 0x65
check "both tools read the mixed writes" same qx.qcow2 qx.raw
check "qemu-img check clean after the mixed writes" clean qx.qcow2

# --- an external data file ------------------------------------------------
check "vireo convert -O qcow2 LUKS data_file=" \
    "$V" convert $S0 -O qcow2 -o "$QK,data_file=d.data" src.raw d.qcow2
check "qemu-img check clean (data file)" clean d.qcow2
check "both tools read it (data file)" same d.qcow2 src.raw
check "the data file holds ciphertext, not the guest's bytes" sh -c "! cmp -s d.data src.raw"
qemu_make create $S0 -f qcow2 -o "$QK,data_file=qd.data" qd.qcow2 3M
check "vireo writes into qemu-img's encrypted image with a data file" \
    "$V" convert $S0 -n --target-image-opts src.raw "$(qo qd.qcow2)"
check "qemu-img reads what vireo wrote there" same qd.qcow2 src.raw

# --- the threaded convert into an encrypted target -------------------------
check "convert -m 4 -W into LUKS qcow2" \
    "$V" convert -m 4 -W $S0 -O qcow2 -o "$QK" src.raw m.qcow2
check "qemu-img check clean (threaded)" clean m.qcow2
check "both tools read it (threaded)" same m.qcow2 src.raw
check "convert -m 4 -W out of LUKS qcow2" \
    sh -c "'$V' convert -m 4 -W $S0 --image-opts '$(qo m.qcow2)' -O raw mo.raw && cmp mo.raw src.raw"

# --- snapshots and shrink: metadata transactions over encrypted data -----
cp m.qcow2 s.qcow2
check "snapshot -c" "$V" snapshot $S0 -c one --image-opts "$(qo s.qcow2)"
check "overwrite after the snapshot" sh -c "BLK_UTIL_KEY=pass-zero '$B' write s.qcow2 0 70000 0x99"
check "snapshot -a restores the encrypted data" "$V" snapshot $S0 -a one --image-opts "$(qo s.qcow2)"
check "both tools read the restored data" same s.qcow2 src.raw
check "snapshot -d" "$V" snapshot $S0 -d one --image-opts "$(qo s.qcow2)"
check "qemu-img check clean after the snapshots" clean s.qcow2
check "resize --shrink of an encrypted qcow2" "$V" resize $S0 --shrink --image-opts "$(qo s.qcow2)" 2M
head -c 2M src.raw > s2.raw
check "both tools read the shrunk image" same s.qcow2 s2.raw
check "qemu-img check clean after the shrink" clean s.qcow2

# --- amend of other options, bitmaps --------------------------------------
cp m.qcow2 a.qcow2
check "amend lazy_refcounts=on keeps the encryption" \
    "$V" amend $S0 --image-opts -o lazy_refcounts=on "$(qo a.qcow2)"
check "qemu-img info agrees after amend" \
    sh -c "qemu-img info a.qcow2 > qi.txt && '$V' info a.qcow2 > vi.txt && cmp qi.txt vi.txt &&
           grep -q 'lazy refcounts: true' vi.txt && grep -q 'encrypted: yes' vi.txt"
check "both tools read it after amend" same a.qcow2 src.raw
check "a persistent bitmap on an encrypted image" "$V" bitmap $S0 --add --image-opts "$(qo a.qcow2)" b0
check "qemu-img lists it" \
    sh -c "qemu-img info a.qcow2 | grep -q 'name: b0'"
check "qemu-img check clean with the bitmap" clean a.qcow2

# --- dd and bench through the cipher ----------------------------------------
check "dd --image-opts out of LUKS qcow2, as qemu-img dd" \
    sh -c "'$V' dd $S0 --image-opts -O raw bs=64k count=16 if='$(qo m.qcow2)' of=dv.raw &&
           qemu-img dd $S0 --image-opts -O raw bs=64k count=16 if='$(qo m.qcow2)' of=dq.raw &&
           cmp dv.raw dq.raw && cmp -n 1048576 dv.raw src.raw"
check "dd without the key: qemu-img's message" \
    sh -c "! '$V' dd -O raw if=m.qcow2 of=dx.raw 2>e.txt &&
           grep -qx \"vireo-img: Could not open 'm.qcow2': Parameter 'encrypt.key-secret' is required for cipher\" e.txt"
check "bench reads through the cipher" \
    sh -c "'$V' bench $S0 --image-opts -c 64 '$(qo m.qcow2)' | grep -q '^Run completed in'"

finish
