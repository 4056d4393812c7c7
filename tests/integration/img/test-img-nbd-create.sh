#!/usr/bin/env bash
# test-img-nbd-create.sh - create -f vdi / vpc / qed on an NBD export served
# by qemu-nbd, next to qemu-img create on an export of the same file: the
# same output and exit code, and the served files equal byte for byte apart
# from what each create draws at random or from the clock (VDI's two UUIDs;
# VHD's timestamp, UUID and checksum in both footer copies). The exports
# start as random bytes, so a byte one tool writes and the other does not
# shows. qed (which truncates its file exactly) is refused as qemu-img
# refuses it, after the same first-sector zeroing. A static VDI or fixed VHD
# larger than the export is refused in qemu-img's words; vireo-img has only
# zeroed the first sector by then (qemu-img has also written the VDI header).
# $1 vireo-img.
. "$(dirname "$0")/lib.sh"
command -v qemu-nbd >/dev/null || { echo "1..0 # SKIP qemu-nbd not installed"; exit 0; }

head -c 8M /dev/urandom >g.raw
cp g.raw q.raw
cp g.raw v.raw
pids=()
qemu-nbd -f raw -x e --persistent -k "$T/q.sock" q.raw & pids+=($!)
qemu-nbd -f raw -x e --persistent -k "$T/v.sock" v.raw & pids+=($!)
trap 'kill "${pids[@]}" 2>/dev/null; wait; rm -rf "$T"' EXIT
for _ in $(seq 200); do [ -S q.sock ] && [ -S v.sock ] && break; sleep 0.05; done
QU="nbd+unix:///e?socket=$T/q.sock"
VU="nbd+unix:///e?socket=$T/v.sock"

# same_bytes FMT: q.raw and v.raw equal outside FMT's random fields.
same_bytes() {
    python3 - "$1" <<'PY'
import sys
fmt = sys.argv[1]
q = bytearray(open('q.raw', 'rb').read())
v = bytearray(open('v.raw', 'rb').read())
def mask(at, n):
    q[at:at + n] = v[at:at + n] = b'\0' * n
if fmt == 'vdi' and q[64:68] == b'\x7f\x10\xda\xbe':
    mask(392, 32)                      # image and snapshot UUIDs
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
    local size=$1 fmt=$2
    shift 2
    cp g.raw q.raw
    cp g.raw v.raw
    qemu-img create -f "$fmt" "$@" "$QU" "$size" 2>&1 | sed "s|$T/q.sock|S|; s/^qemu-img:/P:/" >q.out
    echo "exit ${PIPESTATUS[0]}" >>q.out
    "$V" create -f "$fmt" "$@" "$VU" "$size" 2>&1 | sed "s|$T/v.sock|S|; s/^vireo-img:/P:/" >v.out
    echo "exit ${PIPESTATUS[0]}" >>v.out
    local d="create -f $fmt $* $size on an export"
    if ! diff -u q.out v.out >d.txt; then
        not_ok "$d: outputs as qemu-img's"
        sed 's/^/# /' d.txt
        return
    fi
    ok "$d: outputs as qemu-img's ($(tail -1 q.out))"
    check "$d: the served file as qemu-img's" same_bytes "$fmt"
}

create_both 4M vdi
create_both 16M vdi
create_both 4M vdi -o static=on
create_both 16M vpc
create_both 4M vpc -o subformat=fixed
create_both 8M vpc -o subformat=fixed
create_both 4M qed
create_both 1M vdi -o preallocation=full
check "vireo-img reads the VDI it made on the export as zeroes" \
    sh -c "cp g.raw v.raw && '$V' create -q -f vdi '$VU' 4M && '$V' convert -f vdi -O raw '$VU' r.raw && cmp r.raw /dev/zero 2>&1 | grep -q EOF"
check "qemu-img check finds the VDI vireo-img made on the export clean" \
    sh -c "cp g.raw v.raw && '$V' create -q -f vdi '$VU' 4M && qemu-img check -f vdi '$VU'"
check "qemu-img reads the VHD vireo-img made on the export" \
    sh -c "cp g.raw v.raw && '$V' create -q -f vpc '$VU' 4M && qemu-img info -f vpc '$VU' | grep -q '^virtual size: 4.02 MiB (4212736 bytes)'"

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
