#!/usr/bin/env bash
# test-img-formats.sh - the formats users import (VMDK in every subformat,
# VDI, VHD, VHDX, QED) against the real qemu-img, both ways:
#  - images qemu-img makes read identically through vireo-img (convert to
#    raw + cmp, compare), with and without -f (probing);
#  - images vireo-img makes pass `qemu-img check` and read back identically
#    through qemu-img;
#  - info (text, JSON, --backing-chain), check (text, JSON) and map print
#    what qemu-img prints for the same file; create's Formatting line and
#    -o help lines are qemu-img's;
#  - conversions between every pair of formats;
#  - backing chains (QED, VMDK) written by either tool, with partial writes;
#  - probing: a VMDK converted without -f is no longer copied as raw, -f raw
#    uses the bytes as they are, formats without a driver are refused by name;
#  - a VHDX with a log to replay: refused read-only, replayed on a writable
#    open exactly as qemu-img check -r all replays it.
# $1 vireo-img, $2 blk-util (block-layer writes at any offset).
B=$(realpath "$2")
HERE=$(realpath "$(dirname "$0")")
. "$(dirname "$0")/lib.sh"

run_both() {
    "$V" "$@" >v.out 2>v.err; echo "rc=$?" >>v.out
    qemu-img "$@" >q.out 2>q.err; echo "rc=$?" >>q.out
    sed -i 's/vireo-img/qemu-img/g' v.out v.err
}
same_out() { run_both "$@"; diff -u q.out v.out && diff -u q.err v.err; }
same() {
    local d="$1"
    shift
    if same_out "$@" >.diff 2>&1; then ok "$d"; else not_ok "$d"; sed 's/^/# /' .diff | head -20; fi
}
vireo_reads() { "$V" convert -O raw "$@" "$T/.vraw" && cmp "$T/.vraw" src.raw; }
qemu_reads() { qemu-img convert -O raw "$@" "$T/.qraw" && cmp "$T/.qraw" src.raw; }
# qemu-img check passes (formats without a check answer 63: nothing to find).
qemu_check() {
    qemu-img check "$1" >"$T/.chk" 2>&1
    local rc=$?
    [ $rc -eq 0 ] || [ $rc -eq 63 ]
}

make_mixed src.raw 6 11

# name format options (what qemu-img convert -O FORMAT -o OPTIONS makes)
variants="vmdk-sparse:vmdk:subformat=monolithicSparse
vmdk-stream:vmdk:subformat=streamOptimized
vmdk-flat:vmdk:subformat=monolithicFlat
vmdk-2gsparse:vmdk:subformat=twoGbMaxExtentSparse
vmdk-2gflat:vmdk:subformat=twoGbMaxExtentFlat
vmdk-zeroed:vmdk:zeroed_grain=on,adapter_type=lsilogic,hwversion=6
vdi-dynamic:vdi:static=off
vdi-static:vdi:static=on
vpc-dynamic:vpc:subformat=dynamic
vpc-fixed:vpc:subformat=fixed
vpc-forced:vpc:subformat=dynamic,force_size=on
vhdx-dynamic:vhdx:subformat=dynamic
vhdx-fixed:vhdx:subformat=fixed
vhdx-nozero:vhdx:subformat=dynamic,block_state_zero=off,block_size=1M
qed:qed:cluster_size=4096,table_size=2"

while IFS=: read -r name fmt opts; do
    q=q-$name.$fmt v=v-$name.$fmt
    qemu-img convert -O "$fmt" -o "$opts" src.raw "$q"
    # qemu-img's VHD sizes are rounded to a CHS geometry: both tools agree on
    # the virtual size, and the data is src.raw followed by zeroes.
    check "vireo reads qemu's $name (-f $fmt)" sh -c "'$V' convert -f $fmt -O raw $q $T/.r && cmp -n 6291456 $T/.r src.raw"
    check "vireo compare: qemu's $name equals the source" sh -c "'$V' compare -f $fmt -F raw $q src.raw | grep -q identical"
    check "vireo writes $name ($opts)" "$V" convert -O "$fmt" -o "$opts" src.raw "$v"
    check "qemu-img check clean: vireo's $name" qemu_check "$v"
    check "qemu-img reads vireo's $name" sh -c "qemu-img convert -f $fmt -O raw $v $T/.r && cmp -n 6291456 $T/.r src.raw"
    for img in "$q" "$v"; do
        same "info -f $fmt $img" info -f "$fmt" "$img"
        same "info --output=json -f $fmt $img" info --output=json -f "$fmt" "$img"
        same "check -f $fmt $img" check -f "$fmt" "$img"
        same "check --output=json -f $fmt $img" check --output=json -f "$fmt" "$img"
        # qemu-img 7.2 has no block status for VHDX (every byte is "data"
        # without an offset, so map refuses and measure counts every
        # cluster); vireo-img reports the real layout there.
        if [ "$fmt" != vhdx ]; then
            same "map -f $fmt $img" map -f "$fmt" "$img"
            same "map --output=json -f $fmt $img" map --output=json -f "$fmt" "$img"
            same "measure -O qcow2 -f $fmt $img" measure -O qcow2 -f "$fmt" "$img"
        fi
    done
done <<<"$variants"

# Probing: every format qemu-img probes, without -f. A fixed VHD has its
# footer at the end only: qemu-img takes it for raw, vireo-img looks there.
while IFS=: read -r name fmt opts; do
    [ "$name" = vpc-fixed ] && continue
    check "probed without -f: $name reads as the source" sh -c "'$V' convert -O raw q-$name.$fmt $T/.r && cmp -n 6291456 $T/.r src.raw"
    same "info without -f: $name" info "q-$name.$fmt"
done <<<"$variants"
check "a VMDK is no longer copied as raw: convert without -f gives the disk, not the file" \
    sh -c "'$V' convert -O raw q-vmdk-sparse.vmdk $T/.r && cmp $T/.r src.raw && ! cmp -s $T/.r q-vmdk-sparse.vmdk"
check "-f raw on a VMDK uses the file's bytes as they are" \
    sh -c "'$V' convert -f raw -O raw q-vmdk-sparse.vmdk $T/.r && cmp $T/.r q-vmdk-sparse.vmdk"
check "a fixed VHD is probed by its footer" sh -c "'$V' info q-vpc-fixed.vpc | grep -qx 'file format: vpc'"
check "a fixed VHD read through its footer is the source" sh -c "'$V' convert -O raw q-vpc-fixed.vpc $T/.r && cmp -n 6291456 $T/.r src.raw"
check "a VMDK descriptor file is probed as vmdk" sh -c "'$V' info q-vmdk-flat.vmdk | grep -qx 'file format: vmdk'"

cp q-vdi-dynamic.vdi rep.vdi && cp q-vmdk-sparse.vmdk rep.vmdk
same "check -r all of a VDI (no repair: qemu-img's exit 63)" check -r all rep.vdi
same "check -r leaks of a VMDK (no repair: qemu-img's exit 63)" check -r leaks rep.vmdk

# Formats qemu-img knows and Vireo has no driver for: one line naming it.
unsup() {
    local f=$1 file=$2
    "$V" info "$file" >o.txt 2>e.txt
    local rc=$?
    [ $rc -eq 1 ] && [ "$(wc -l <e.txt)" -eq 1 ] &&
        grep -qx "vireo-img: Could not open '$file': format '$f' is not supported" e.txt
}
qemu-img create -q -f parallels p.hds 1M
# (The LUKS header is written here: qemu-img create -f luks times its key
# derivation on the CPU and fails on a loaded machine.)
python3 - <<'PY'
import struct
open('l.luks', 'wb').write((b'LUKS\xba\xbe' + struct.pack('>H', 1) + b'aes'.ljust(32, b'\0') +
                            b'xts-plain64'.ljust(32, b'\0') + b'sha256'.ljust(32, b'\0')).ljust(1 << 20, b'\0'))
open('b.bochs', 'wb').write(b'Bochs Virtual HD Image'.ljust(32, b'\0') + b'Redolog'.ljust(16, b'\0') +
                           b'Growing'.ljust(16, b'\0') + struct.pack('<I', 0x20000).ljust(448, b'\0'))
open('c.cloop', 'wb').write(b'#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n'.ljust(4096, b'\0'))
koly = b'koly' + struct.pack('>II', 4, 512)
open('d.dmg', 'wb').write(b'\0' * 4096 + koly.ljust(512, b'\0'))
PY
for pair in parallels:p.hds bochs:b.bochs cloop:c.cloop; do
    check "refused by name: ${pair%%:*}" unsup "${pair%%:*}" "${pair#*:}"
done
# LUKS1 has a driver (test-img-luks.sh): the probed header reaches it, and
# this one (no key material) is refused for what it is, as qemu-img does.
check "a LUKS1 header is probed as luks and its driver refuses a bad one" \
    sh -c "! '$V' info l.luks 2>e.txt && [ \$(wc -l <e.txt) -eq 1 ] &&
           grep -q \"^vireo-img: Could not open 'l.luks': LUKS key length 0 is invalid\" e.txt"
# DMG has a read-only driver (test-img-dmg.sh): a bare trailer is probed as
# dmg and refused for what it lacks.
check "a DMG trailer is probed as dmg and its driver refuses one without tables" \
    sh -c "! '$V' info d.dmg 2>e.txt && [ \$(wc -l <e.txt) -eq 1 ] &&
           grep -q \"^vireo-img: Could not open 'd.dmg': the DMG trailer names no block tables\" e.txt"
check "convert of an unsupported format leaves no output" sh -c "! '$V' convert -O raw c.cloop out.raw 2>/dev/null && test ! -e out.raw"

# qcow version 1: read-only here (plain, compressed, over a backing file).
qemu-img convert -O qcow src.raw q1.qcow
qemu-img convert -c -O qcow src.raw q1c.qcow
qemu-img create -q -f qcow -b q1.qcow -F qcow q1t.qcow
qemu-io -f qcow -c 'write -P 0x42 1000 5000' q1t.qcow >/dev/null
qemu-img convert -O raw q1t.qcow q1t-expect.raw
for img in q1.qcow q1c.qcow q1t.qcow; do
    same "qcow: info $img" info "$img"
    same "qcow: info --output=json $img" info --output=json "$img"
    same "qcow: map --output=json $img" map --output=json "$img"
    same "qcow: check $img (nothing to check)" check "$img"
done
check "qcow: vireo reads qemu's image" vireo_reads q1.qcow
check "qcow: vireo reads qemu's compressed image" vireo_reads q1c.qcow
check "qcow: vireo reads an overlay over a qcow base" sh -c "'$V' convert -O raw q1t.qcow $T/.r && cmp $T/.r q1t-expect.raw"
check "qcow: convert to qcow2" "$V" convert -O qcow2 q1c.qcow q1.qcow2
check "qcow: the qcow2 copy reads the same in qemu-img" qemu_reads q1.qcow2
"$V" create -f qcow x.qcow 1M >o.txt 2>e.txt; rc=$?
check "qcow: create refused in one line" sh -c "[ $rc -eq 1 ] && grep -qx \"vireo-img: Format driver 'qcow' does not support image creation\" e.txt && test ! -e x.qcow"
check "qcow: writing is refused in one line (read-only format)" sh -c "! '$B' write q1.qcow 0 512 1 2>e.txt && grep -q \"format 'qcow' can only be opened read-only\" e.txt"

# Every pair of formats, through vireo-img only, checked by qemu-img.
for from in vmdk-sparse:vmdk vmdk-stream:vmdk vdi-dynamic:vdi vpc-dynamic:vpc vhdx-dynamic:vhdx qed:qed; do
    for to in raw qcow2 vmdk vdi vpc vhdx qed; do
        src=q-${from%%:*}.${from#*:}
        out=pair-${from%%:*}.$to
        check "convert ${from%%:*} -> $to" sh -c "'$V' convert -O $to $src $out && qemu-img convert -f $to -O raw $out $T/.r && cmp -n 6291456 $T/.r src.raw"
    done
done

# Create: the Formatting line and the options, as qemu-img prints them.
while read -r args; do
    rm -f c.img c-flat.img c-s001.img c-f001.img
    # shellcheck disable=SC2086
    "$V" create $args >v.out 2>v.err; echo "rc=$?" >>v.out
    rm -f c.img c-flat.img c-s001.img c-f001.img
    # shellcheck disable=SC2086
    qemu-img create $args >q.out 2>q.err; echo "rc=$?" >>q.out
    sed -i 's/vireo-img/qemu-img/g' v.out v.err
    # qemu-img's size errors go on for two more lines; vireo-img's are one.
    head -1 q.err >q.err1
    if diff -u q.out v.out >.diff && diff -u q.err1 v.err >>.diff; then ok "create $args"; else not_ok "create $args"; sed 's/^/# /' .diff; fi
done <<'EOF'
-f vmdk c.img 1G
-f vmdk -o subformat=streamOptimized c.img 100M
-f vmdk -o subformat=monolithicFlat,adapter_type=lsilogic,hwversion=6 c.img 100M
-f vmdk -o compat6=on,toolsversion=1234,zeroed_grain=on c.img 3G
-f vmdk -o subformat=twoGbMaxExtentSparse c.img 100M
-f vmdk -o compat6=on,hwversion=7 c.img 1M
-f vmdk -o subformat=bogus c.img 1M
-f vmdk -o adapter_type=scsi c.img 1M
-f vmdk -o subformat=monolithicFlat,zeroed_grain=on c.img 1M
-f vdi c.img 1G
-f vdi -o static=on c.img 10M
-f vdi -o static=maybe c.img 10M
-f vdi -o preallocation=metadata c.img 10M
-f vpc c.img 1G
-f vpc -o subformat=fixed,force_size=on c.img 10M
-f vpc -o subformat=other c.img 10M
-f vpc c.img 3T
-f vhdx c.img 1G
-f vhdx -o subformat=fixed,block_size=1M,log_size=2M c.img 10M
-f vhdx -o block_state_zero=off c.img 10M
-f vhdx -o block_size=3M c.img 10M
-f vhdx -o block_size=abc c.img 10M
-f vhdx c.img 65T
-f qed c.img 1G
-f qed -o cluster_size=4k,table_size=8 c.img 1G
-f qed -o cluster_size=3M c.img 1G
-f qed -o table_size=32 c.img 1G
-f qed c.img 70T
-f vdi -o foo=1 c.img 1M
-f qed -u -b q-qed.qed c.img 1M
-f qcow2 -u -b q-qed.qed c.img 1M
EOF
for f in vmdk vdi vpc vhdx qed; do
    qemu-img create -f $f -o help x 1G >q.help
    "$V" create -f $f -o help x 1G >v.help
    check "create -f $f -o help: every line as qemu-img prints it" sh -c "grep -vxFf q.help v.help | (! grep .)"
done

# Backing chains: QED and VMDK, made by either tool, written by the other.
for f in qed vmdk; do
    qemu-img convert -O $f src.raw cb.$f
    qemu-img create -q -f $f -b cb.$f -F $f ct.$f
    qemu-io -f $f -c 'write -P 0x5a 100k 3k' -c 'write -P 0x11 2M 70k' ct.$f >/dev/null
    qemu-img convert -O raw ct.$f ct-expect.raw
    check "$f: vireo reads qemu's overlay (partial writes over a backing file)" sh -c "'$V' convert -O raw ct.$f $T/.r && cmp $T/.r ct-expect.raw"
    same "$f: info --backing-chain" info --backing-chain ct.$f
    same "$f: info --backing-chain --output=json" info --backing-chain --output=json ct.$f
    same "$f: map of an overlay" map --output=json ct.$f
    "$V" convert -O $f src.raw vb.$f >/dev/null
    check "$f: vireo create -b -F" "$V" create -f $f -b vb.$f -F $f vt.$f
    check "$f: vireo writes over a backing file (copy on write)" sh -c "'$B' write vt.$f 102400 3072 90 && '$B' write vt.$f 2097152 71680 17"
    cp src.raw vt-expect.raw
    printf '\x5a%.0s' $(seq 3072) | dd of=vt-expect.raw bs=1 seek=102400 conv=notrunc status=none
    printf '\x11%.0s' $(seq 71680) | dd of=vt-expect.raw bs=1 seek=2097152 conv=notrunc status=none
    check "$f: qemu-img check clean: vireo's overlay" qemu_check vt.$f
    check "$f: qemu-img reads vireo's overlay" sh -c "qemu-img convert -O raw vt.$f $T/.r && cmp $T/.r vt-expect.raw"
done
check "vmdk: an overlay whose base changed (CID) is refused" sh -c "'$B' write vb.vmdk 0 512 1 && ! '$V' convert -O raw vt.vmdk $T/.r 2>e.txt && grep -q parentCID e.txt"
"$V" create -f qed -b vb.qed nofmt.qed >o.txt 2>e.txt; rc=$?
check "create -b without -F: refused in one line naming the detected format (qemu-img refuses too)" \
    sh -c "[ $rc -eq 1 ] && grep -qx \"vireo-img: nofmt.qed: Backing file specified without backing format (detected format of qed)\" e.txt && test ! -e nofmt.qed"
check "qed: commit folds the overlay into its base" sh -c "'$V' commit vt.qed && qemu-img convert -O raw vb.qed $T/.r && cmp $T/.r vt-expect.raw"
check "qed: qemu-img check clean: the base after commit" qemu_check vb.qed
check "qed: the overlay still reads the same (kept as it is, as qemu-img keeps it)" sh -c "qemu-img convert -O raw vt.qed $T/.r && cmp $T/.r vt-expect.raw"
check "qed: qemu-img check clean: the overlay after commit" qemu_check vt.qed

# streamOptimized grains are written once, whole: a second write is refused.
"$V" convert -O vmdk -o subformat=streamOptimized src.raw so.vmdk >/dev/null
stored=$("$V" map --output=json so.vmdk | python3 -c 'import json,sys; print(next(e["start"] for e in json.load(sys.stdin) if e["data"]))')
check "streamOptimized: rewriting a stored grain is refused" sh -c "! '$B' write so.vmdk $stored 512 1 2>e.txt && grep -q 'Could not write to allocated cluster for streamOptimized' e.txt"
check "streamOptimized: the refused write left the image intact" sh -c "qemu-img check so.vmdk && qemu-img convert -O raw so.vmdk $T/.r && cmp $T/.r src.raw"
# convert -c into a VMDK, as qemu-img takes it: streamOptimized deflates each
# grain on the compression threads, monolithicSparse stores grains plainly.
check "convert -c -O vmdk streamOptimized reads back through qemu-img" sh -c "'$V' convert -c -m 3 -O vmdk -o subformat=streamOptimized src.raw sc.vmdk && qemu-img check sc.vmdk && qemu-img compare -q src.raw sc.vmdk && qemu-img info sc.vmdk | grep -q 'create type: streamOptimized'"
check "convert -c -O vmdk monolithicSparse stores plain grains qemu-img reads" sh -c "'$V' convert -c -O vmdk src.raw sp.vmdk && qemu-img check sp.vmdk && qemu-img compare -q src.raw sp.vmdk && qemu-img info sp.vmdk | grep -q 'create type: monolithicSparse'"

# VHDX with a log to replay (a crash between logging and applying).
qemu-img create -q -f vhdx dl.vhdx 64M
qemu-io -f vhdx -c 'write -P 0x33 0 1M' dl.vhdx >/dev/null
"$HERE/vhdx-dirty-log.py" dl.vhdx
cp dl.vhdx dl-q.vhdx
"$V" info dl.vhdx >o.txt 2>e.txt; rc=$?
check "vhdx with a log: info refused in one line naming the remedy" sh -c "[ $rc -eq 1 ] && [ \$(wc -l <e.txt) -eq 1 ] && grep -q 'contains a log that needs to be replayed' e.txt && grep -q 'check -r all' e.txt"
qemu-img check -r all dl-q.vhdx >q.out 2>&1; echo "rc=$?" >>q.out
"$V" check -r all dl.vhdx >v.out 2>&1; echo "rc=$?" >>v.out
check "vhdx: check -r all replays the log and says what qemu-img says" diff -u q.out v.out
check "vhdx: the replayed images read the same through both tools" sh -c "qemu-img convert -O raw dl-q.vhdx q.raw && '$V' convert -O raw dl.vhdx v.raw && cmp q.raw v.raw"
check "vhdx: the log's data and zero descriptors were applied" python3 -c "
d = open('v.raw', 'rb').read()
assert d[:4096] == b'\x33' * 4096 and d[4096:8192] == bytes(4096) and d[8192:1 << 20] == b'\x33' * ((1 << 20) - 8192)"
check "vhdx: qemu-img check clean after vireo's replay" qemu_check dl.vhdx

for f in vmdk vdi vpc vhdx qed; do
    same "measure -O $f (qemu-img cannot measure for it either)" measure -O $f --size 1G
done

# dd and bench on every format.
# (Not the VHD: its size is no multiple of 8k, and qemu-img 7.2 then sends a
# request across the end of the image and fails; vireo-img starts again at 0.)
for img in q-vmdk-sparse.vmdk q-vdi-dynamic.vdi q-vhdx-dynamic.vhdx q-qed.qed q1.qcow; do
    "$V" bench -c 2000 -d 8 -s 8k "$img" >v.out 2>&1; vr=$?
    qemu-img bench -c 2000 -d 8 -s 8k "$img" >q.out 2>&1
    check "bench of $img: qemu-img's first line, and a run time" sh -c "[ $vr -eq 0 ] && [ \"\$(head -1 v.out)\" = \"\$(head -1 q.out)\" ] && grep -qE '^Run completed in [0-9]+\.[0-9]{3} seconds\.$' v.out"
done
cp q-qed.qed bw.qed
"$V" bench -w -c 96 -s 64k -d 4 --pattern=0x77 --flush-interval=8 bw.qed >v.out 2>&1
printf '%s\n' 'Sending 96 write requests, 65536 bytes each, 4 in parallel (starting at offset 0, step size 65536)' \
    'Sending flush every 8 requests' >bw.expect
check "bench -w --flush-interval: qemu-img's two header lines" sh -c "head -2 v.out | cmp - bw.expect"
check "bench -w wrote the pattern over the whole image (96 x 64 KiB = 6 MiB)" sh -c "qemu-img convert -O raw bw.qed $T/.r && python3 -c \"import sys; d=open('$T/.r','rb').read(); sys.exit(d != b'\\x77' * len(d))\""
check "qemu-img check clean after bench -w" qemu_check bw.qed
same "bench: --flush-interval without -w refused" bench --flush-interval=8 q-qed.qed
same "bench: flush interval smaller than the depth refused" bench -w -d 16 --flush-interval=8 bw.qed
same "bench: bad count" bench -c x q-qed.qed
same "dd: no output file" dd if=q-qed.qed
same "dd: bad bs" dd if=q-qed.qed of=x bs=0
same "dd: unknown operand" dd if=q-qed.qed of=x foo=1
"$V" dd -O qcow2 if=q-qed.qed of=dd-v.qcow2 bs=4k count=300 skip=20 >v.out 2>&1
qemu-img dd -O qcow2 if=q-qed.qed of=dd-q.qcow2 bs=4k count=300 skip=20 >q.out 2>&1
check "dd count= and skip= cut what qemu-img dd cuts" sh -c "qemu-img compare dd-v.qcow2 dd-q.qcow2 && qemu-img info dd-v.qcow2 | grep -q '(1146880 bytes)'"
for img in q-vmdk-sparse.vmdk q-vdi-dynamic.vdi q-vpc-dynamic.vpc q-vhdx-dynamic.vhdx q-qed.qed; do
    check "dd from $img" sh -c "'$V' dd if=$img of=dd.raw bs=64k count=32 -O raw && cmp -n 2097152 dd.raw src.raw"
done
finish
