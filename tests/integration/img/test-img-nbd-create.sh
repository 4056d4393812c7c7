#!/usr/bin/env bash
# test-img-nbd-create.sh - create -f vdi / vpc / vmdk / vhdx / qed on an NBD
# export served by qemu-nbd, next to qemu-img create on an export of the
# same file: the same output and exit code, and the served files equal byte
# for byte apart from what each create draws at random or from the clock
# (VDI's two UUIDs; VHD's timestamp, UUID and checksum in both footer
# copies; VMDK's CID; VHDX's creator, write GUIDs, sequence numbers, page 83
# GUID and checksums, and the region tables' required bits QEMU leaves
# clear). The exports start as random bytes, so a byte one tool writes and
# the other does not shows; vmdk and vhdx (16 MiB exports, the others 8 MiB)
# start from zeroes instead, as qemu-img needs (over random bytes its VMDK
# has random grain tables and its VHDX no valid header), and vireo-img's
# over random bytes are checked through qemu-img check/info/compare.
# convert -O vmdk/vhdx into an export works (qemu-img's fails: it allocates
# at the file's end, which an export cannot grow past), checked with
# qemu-img check/compare. qed (which truncates its file exactly) is refused
# as qemu-img refuses it, after the same first-sector zeroing. A static VDI
# or fixed VHD larger than the export is refused in qemu-img's words;
# vireo-img has only zeroed the first sector by then (qemu-img has also
# written the VDI header).
# $1 vireo-img.
. "$(dirname "$0")/lib.sh"
command -v qemu-nbd >/dev/null || { echo "1..0 # SKIP qemu-nbd not installed"; exit 0; }

head -c 8M /dev/urandom >g.raw
head -c 16M /dev/urandom >g16.raw
head -c 4M /dev/zero >z4.raw
cp g.raw q.raw
cp g.raw v.raw
head -c 16M /dev/zero >q16.raw
cp q16.raw v16.raw
pids=()
for e in q v q16 v16; do
    qemu-nbd -f raw -x e --persistent -k "$T/$e.sock" $e.raw & pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null; wait; rm -rf "$T"' EXIT
for _ in $(seq 200); do
    [ -S q.sock ] && [ -S v.sock ] && [ -S q16.sock ] && [ -S v16.sock ] && break
    sleep 0.05
done
QU="nbd+unix:///e?socket=$T/q.sock"
VU="nbd+unix:///e?socket=$T/v.sock"
VU16="nbd+unix:///e?socket=$T/v16.sock"

# same_bytes FMT Q V: files Q and V equal outside FMT's random fields.
same_bytes() {
    python3 - "$@" <<'PY'
import re, sys
fmt = sys.argv[1]
q = bytearray(open(sys.argv[2], 'rb').read())
v = bytearray(open(sys.argv[3], 'rb').read())
def mask(at, n):
    q[at:at + n] = v[at:at + n] = b'\0' * n
if fmt == 'vdi' and q[64:68] == b'\x7f\x10\xda\xbe':
    mask(392, 32)                      # image and snapshot UUIDs
if fmt == 'vmdk':                      # the descriptor (sectors 1-20) but its CID
    dq, dv = (re.sub(rb'\nCID=[0-9a-f]+\n', b'\nCID=\n', bytes(x[512:21 * 512])).rstrip(b'\0')
              for x in (q, v))         # (CIDs of 7 and 8 digits leave tails of other lengths)
    if dq != dv:
        print('the descriptors differ beyond their CIDs: %r / %r' % (dq, dv))
        sys.exit(1)
    mask(512, 20 * 512)
if fmt == 'vhdx':
    mask(8, 512)                       # creator
    for h in (65536, 131072):          # each header: checksum, sequence number (QEMU's is
        mask(h + 4, 12)                # random), file and data write GUIDs
        mask(h + 16, 32)
    for r in (196608, 262144):         # each region table: checksum, and the BAT's and the
        mask(r + 4, 4)                 # metadata's required bit (set here as the
        mask(r + 44, 4)                # specification asks; clear in QEMU's)
        mask(r + 76, 4)
    at = q.find(b'metadata', 1 << 20)
    mask(at + 65552, 16)               # page 83 data
    if v[at + 65540:at + 65544] == b'\1\0\0\0':  # fixed: each ZERO block keeps its
        bat = 2 << 20                  # reserved offset here (0 in QEMU's BAT)
        for e in range(bat, bat + 4096, 8):
            if v[e] & 7 == 2 and q[e:e + 8] == bytes([2]) + bytes(7):
                mask(e, 8)
if fmt == 'vpc':
    at = q.find(b'conectix')
    while at >= 0:                     # each footer copy: timestamp, checksum, UUID
        mask(at + 24, 4)
        mask(at + 64, 20)
        at = q.find(b'conectix', at + 1)
bad = [i for i in range(len(q)) if q[i] != v[i]]
if bad:
    print('%d bytes differ, first at %d' % (len(bad), bad[0]))
    sys.exit(1)
PY
}

# create_both SIZE FMT [OPTIONS...]: both tools' create on their export of a fresh copy
# of g.raw; outputs (the address and program names aside) and exit codes compared,
# then the served files.
create_both() {
    local size=$1 fmt=$2 x=
    shift 2
    if [ "$fmt" = vmdk ] || [ "$fmt" = vhdx ]; then
        x=16
        head -c 16M /dev/zero >q16.raw
        cp q16.raw v16.raw
    else
        cp g.raw q.raw
        cp g.raw v.raw
    fi
    qemu-img create -f "$fmt" "$@" "nbd+unix:///e?socket=$T/q$x.sock" "$size" 2>&1 |
        sed "s|$T/q$x.sock|S|; s/^qemu-img:/P:/" >q.out
    echo "exit ${PIPESTATUS[0]}" >>q.out
    "$V" create -f "$fmt" "$@" "nbd+unix:///e?socket=$T/v$x.sock" "$size" 2>&1 |
        sed "s|$T/v$x.sock|S|; s/^vireo-img:/P:/" >v.out
    echo "exit ${PIPESTATUS[0]}" >>v.out
    local d="create -f $fmt $* $size on an export"
    if ! diff -u q.out v.out >d.txt; then
        not_ok "$d: outputs as qemu-img's"
        sed 's/^/# /' d.txt
        return
    fi
    ok "$d: outputs as qemu-img's ($(tail -1 q.out))"
    check "$d: the served file as qemu-img's" same_bytes "$fmt" q$x.raw v$x.raw
}

create_both 4M vdi
create_both 16M vdi
create_both 4M vdi -o static=on
create_both 16M vpc
create_both 4M vpc -o subformat=fixed
create_both 8M vpc -o subformat=fixed
create_both 4M qed
create_both 4M vmdk
create_both 4M vmdk -o subformat=streamOptimized
create_both 4M vmdk -o zeroed_grain=on,adapter_type=lsilogic
create_both 4M vhdx
create_both 4M vhdx -o subformat=fixed
create_both 4M vhdx -o subformat=fixed,block_state_zero=off
create_both 6M vhdx -o subformat=fixed
create_both 10G vhdx
create_both 10G vmdk

# Over what the export held before (random bytes): vireo-img zeroes the
# metadata qemu-img leaves to a fresh file's holes, so qemu-img reads its
# image clean and as zeroes.
for args in "vmdk" "vmdk -o subformat=streamOptimized" "vhdx" "vhdx -o subformat=fixed" \
    "vhdx -o subformat=fixed,block_state_zero=off"; do
    # shellcheck disable=SC2086
    set -- $args
    f=$1
    shift
    cp g16.raw v16.raw
    check "create -f $args over random bytes: qemu-img check clean, reads zeroes" \
        sh -c "'$V' create -q -f $f $* '$VU16' 4M && qemu-img check -f $f '$VU16' &&
            qemu-img info -f $f '$VU16' | grep -q '^virtual size: 4 MiB' &&
            qemu-img compare -f $f -F raw '$VU16' z4.raw"
done
# convert -O vmdk/vhdx into an export that held other data: qemu-img fails
# (it puts new grains and blocks at the file's end, which is the export's);
# vireo-img puts them after what the image uses and zeroes what a write
# leaves of them, so qemu-img reads the image clean and as the source. A
# second convert -n into it (new grains where the first left none) must not
# land on the first one's grains.
python3 - s6.raw s6b.raw <<'PY'
import random, sys
for name, seed, odd in ((sys.argv[1], 3, 0), (sys.argv[2], 4, 1)):
    r = random.Random(seed)
    d = bytearray(6 << 20)
    for mib in range(6):
        if mib % 2 == odd:
            d[(mib << 20) + 777:(mib << 20) + 300777] = r.randbytes(300000)
    open(name, 'wb').write(d)
PY
for args in "vmdk" "vmdk -o subformat=streamOptimized" "vhdx" "vhdx -o subformat=fixed"; do
    # shellcheck disable=SC2086
    set -- $args
    f=$1
    shift
    cp g16.raw q16.raw
    check "convert -O $args into an export: qemu-img fails" \
        sh -c "! qemu-img convert -O $f $* s6.raw 'nbd+unix:///e?socket=$T/q16.sock' 2>/dev/null"
    cp g16.raw v16.raw
    check "convert -O $args into an export over old data: qemu-img check clean, same data" \
        sh -c "'$V' convert -O $f $* s6.raw '$VU16' && qemu-img check -f $f '$VU16' &&
            qemu-img compare -F $f s6.raw '$VU16'"
    [ "$args" = "vmdk -o subformat=streamOptimized" ] && continue # its grains are written once
    check "convert -n -O $f of other data over it: qemu-img check clean, the new data" \
        sh -c "'$V' convert -n -O $f s6b.raw '$VU16' && qemu-img check -f $f '$VU16' &&
            qemu-img compare -F $f s6b.raw '$VU16'"
done
# An export with no room left for a block: one line.
cp g.raw v.raw
"$V" convert -O vhdx s6.raw "$VU" 2>v.err
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <v.err)" -eq 1 ] &&
    grep -q "the NBD export has no room for another VHDX block" v.err; then
    ok "convert -O vhdx into an export too small for a block: one line"
else
    not_ok "convert -O vhdx into an export too small for a block: one line (exit $rc)"
    sed 's/^/# /' v.err
fi

# Too large for the export: qemu-img's words; vireo-img has zeroed the first sector only.
cp g.raw q.raw
cp g.raw v.raw
qemu-img create -q -f vdi -o static=on "$QU" 8M 2>q.err
"$V" create -q -f vdi -o static=on "$VU" 8M 2>v.err
rc=$?
if [ $rc -eq 1 ] && [ "$(sed 's/^vireo-img:/P:/; s|'"$T"'/v.sock|S|' v.err)" = \
    "$(sed 's/^qemu-img:/P:/; s|'"$T"'/q.sock|S|' q.err)" ] &&
    cmp -s -i 512 v.raw g.raw && cmp -s -n 512 v.raw /dev/zero; then
    ok "a static VDI larger than the export: qemu-img's error, only the first sector zeroed"
else
    not_ok "a static VDI larger than the export: qemu-img's error, only the first sector zeroed (exit $rc)"
    sed 's/^/# /' q.err v.err
fi
finish
