#!/usr/bin/env bash
# test-interop.sh - the block library against the real qemu-img, both ways.
#
# Images written through src/block/ (via the test-only blk-util) must pass
# `qemu-img check` with no errors or leaks and convert with qemu-img to the
# exact bytes written; images made by qemu-img/qemu-io (compressed with zlib
# and zstd, with snapshots, with backing chains) must read back through the
# library byte for byte. Prints TAP.
set -u
B=$(realpath "${1:?usage: test-interop.sh BLK_UTIL}")
command -v qemu-img >/dev/null || { echo "1..0 # SKIP qemu-img not installed"; exit 0; }
T=$(mktemp -d /tmp/vireo-interop-XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
n=0
fail=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
clean() { qemu-img check -q "$1" >/dev/null 2>&1 && qemu-img check --output=json "$1" 2>/dev/null | grep -q '"leaks"' && return 1; qemu-img check -q "$1" >/dev/null 2>&1; }

# Mixed data: random, zero runs, repetitive text; 6 MiB.
python3 - <<'PY'
import random
r = random.Random(7)
d = bytearray()
for i in range(48):
    kind = i % 4
    if kind == 0: d += bytes(r.getrandbits(8) for _ in range(65536))
    elif kind == 1: d += bytes(131072 - 4096) + b'\x01' * 4096
    else: d += (b'vireo block layer %d ' % i) * 2000 + bytes(65536 - 2000 * len(b'vireo block layer %d ' % i))
open('mix.raw', 'wb').write(bytes(d) + bytes(6 * 2**20 - len(d)))
PY

for cs in 512 4096 65536 2M; do
  for compat in 2 3; do
    rm -f p.qcow2 c.qcow2
    "$B" create p.qcow2 qcow2 6M cluster_size=$cs compat=$compat && "$B" writefile p.qcow2 mix.raw
    clean p.qcow2; ok $? "cluster $cs v$compat: plain image passes qemu-img check"
    qemu-img convert -O raw p.qcow2 p.raw && cmp -s p.raw mix.raw; ok $? "cluster $cs v$compat: qemu-img reads back what was written"
    "$B" create c.qcow2 qcow2 6M cluster_size=$cs compat=$compat && "$B" writefile c.qcow2 mix.raw c
    clean c.qcow2; ok $? "cluster $cs v$compat: compressed image passes qemu-img check"
    qemu-img convert -O raw c.qcow2 c.raw && cmp -s c.raw mix.raw; ok $? "cluster $cs v$compat: qemu-img reads compressed data back"
  done
done

# Refcount widths.
for rb in 1 8 64; do
  rm -f w.qcow2
  "$B" create w.qcow2 qcow2 6M refcount_bits=$rb cluster_size=4096 && "$B" writefile w.qcow2 mix.raw
  clean w.qcow2 && qemu-img convert -O raw w.qcow2 w.raw && cmp -s w.raw mix.raw
  ok $? "refcount_bits=$rb: clean and identical"
done

# zstd compression written by us.
"$B" create z.qcow2 qcow2 6M ctype=zstd && "$B" writefile z.qcow2 mix.raw c
clean z.qcow2 && qemu-img convert -O raw z.qcow2 z.raw && cmp -s z.raw mix.raw; ok $? "zstd-compressed image written by the library reads back in qemu-img"
qemu-img info z.qcow2 | grep -q "compression type: zstd"; ok $? "qemu-img sees compression type zstd"

# Backing chain written by us: base (qemu) <- mid <- top.
qemu-img create -q -f qcow2 base.qcow2 6M && qemu-io -c 'write -P 0xab 0 1M' -c 'write -P 0xcd 3M 100k' base.qcow2 >/dev/null
"$B" create mid.qcow2 qcow2 0 backing=base.qcow2 backing_fmt=qcow2 && "$B" write mid.qcow2 500000 70000 0x33
"$B" create top.qcow2 qcow2 0 backing=mid.qcow2 backing_fmt=qcow2 && "$B" write top.qcow2 1000 10 0x44 && "$B" write top.qcow2 3100000 5 0x55 && "$B" discard top.qcow2 0 65536
clean mid.qcow2 && clean top.qcow2; ok $? "backing chain layers pass qemu-img check"
qemu-img convert -O raw top.qcow2 q.raw && "$B" dump top.qcow2 v.raw && cmp -s q.raw v.raw; ok $? "backing chain reads the same through qemu-img and the library"
qemu-img info top.qcow2 | grep -q "backing file format: qcow2"; ok $? "backing format extension is written"
[ "$(qemu-img info --output=json top.qcow2 | grep -c '"virtual-size": 6291456')" -ge 1 ]; ok $? "size defaults to the backing file's"

# Snapshots written by us.
rm -f s.qcow2
"$B" create s.qcow2 qcow2 6M && "$B" write s.qcow2 0 200000 0x11 && "$B" snap s.qcow2 create one && "$B" write s.qcow2 65536 4096 0x22 && "$B" snap s.qcow2 create two && "$B" write s.qcow2 0 10 0x33
clean s.qcow2; ok $? "image with two snapshots passes qemu-img check"
qemu-img snapshot -l s.qcow2 | grep -q " two "; ok $? "qemu-img lists the snapshots"
qemu-img convert -O raw -l one s.qcow2 one.raw && qemu-io -f raw -c 'read -P 0x11 0 200000' one.raw | grep -q "read 200000"; ok $? "snapshot 'one' holds the data of its time"
"$B" snap s.qcow2 apply one && clean s.qcow2 && qemu-io -c 'read -P 0x11 0 200000' s.qcow2 | grep -q "read 200000"; ok $? "applying 'one' restores its data, image clean"
"$B" snap s.qcow2 delete two && clean s.qcow2 && ! qemu-img snapshot -l s.qcow2 | grep -q " two "; ok $? "deleting 'two' leaves a clean image"
"$B" resize s.qcow2 100M && clean s.qcow2 && [ "$(qemu-img info --output=json s.qcow2 | grep -c '"virtual-size": 104857600')" = 1 ]; ok $? "growing an image"
"$B" resize s.qcow2 1M 2>err.txt; [ $? != 0 ] && grep -q "shrinking" err.txt; ok $? "shrinking qcow2 is refused with a message"

# A snapshot of an image holding compressed clusters (spans end mid-cluster).
rm -f sc.qcow2
"$B" create sc.qcow2 qcow2 6M cluster_size=4096 && "$B" writefile sc.qcow2 mix.raw c && "$B" snap sc.qcow2 create one && "$B" write sc.qcow2 0 10000 0x42
clean sc.qcow2 && qemu-img convert -O raw -l one sc.qcow2 sc.raw && cmp -s sc.raw mix.raw; ok $? "snapshot of a compressed image is clean and holds the compressed data"

# Zero writes and discards.
rm -f zz.qcow2
"$B" create zz.qcow2 qcow2 6M && "$B" writefile zz.qcow2 mix.raw && "$B" zero zz.qcow2 100000 1000000 && "$B" discard zz.qcow2 2M 1M
clean zz.qcow2 && qemu-img convert -O raw zz.qcow2 zq.raw && "$B" dump zz.qcow2 zv.raw && cmp -s zq.raw zv.raw; ok $? "write-zeroes and discard agree with qemu-img"
python3 -c "
d=open('zv.raw','rb').read(); import sys
sys.exit(0 if d[100000:1100000]==bytes(1000000) and d[2<<20:3<<20]==bytes(1<<20) else 1)"; ok $? "zeroed and discarded ranges read as zeroes"

# Preallocation.
for p in metadata falloc full; do
  rm -f pa.qcow2; "$B" create pa.qcow2 qcow2 4M prealloc=$p && "$B" write pa.qcow2 12345 100 0x77
  clean pa.qcow2 && qemu-io -c 'read -P 0x77 12345 100' pa.qcow2 | grep -q "read 100/"; ok $? "preallocation=$p image is clean and usable"
done

# Images made by qemu, read through the library.
qemu-img convert -c -O qcow2 -o compression_type=zstd mix.raw qz.qcow2 && "$B" dump qz.qcow2 o.raw && cmp -s o.raw mix.raw; ok $? "reads qemu's zstd-compressed image"
qemu-img convert -c -O qcow2 -o compat=0.10,cluster_size=4k mix.raw qc.qcow2 && "$B" dump qc.qcow2 o.raw && cmp -s o.raw mix.raw; ok $? "reads qemu's zlib-compressed v2 image"
qemu-img create -q -f qcow2 qs.qcow2 6M && qemu-io -c 'write -P 0xab 0 64k' qs.qcow2 >/dev/null && qemu-img snapshot -c snap1 qs.qcow2 && qemu-io -c 'write -P 0xcd 0 4k' qs.qcow2 >/dev/null
"$B" dump qs.qcow2 o.raw && qemu-img convert -O raw qs.qcow2 p.raw && cmp -s o.raw p.raw; ok $? "reads qemu's image with a snapshot"
"$B" snaplist qs.qcow2 | grep -q "^1 snap1 "; ok $? "lists qemu's snapshot"
"$B" check qs.qcow2 >/dev/null; ok $? "library check finds qemu's image clean"
"$B" snap qs.qcow2 apply snap1 && clean qs.qcow2 && qemu-io -c 'read -P 0xab 0 64k' qs.qcow2 | grep -q "read 65536"; ok $? "applies qemu's snapshot"
qemu-img create -q -f qcow2 -o cluster_size=512 small.qcow2 6M && qemu-io -c 'write -P 0x5a 1000 300000' small.qcow2 >/dev/null && "$B" dump small.qcow2 o.raw && qemu-img convert -O raw small.qcow2 p.raw && cmp -s o.raw p.raw; ok $? "reads qemu's 512-byte-cluster image"

# A dirty image (lazy refcounts, qemu-io killed) is repaired on read-write open.
rm -f d.qcow2; qemu-img create -q -f qcow2 -o lazy_refcounts=on d.qcow2 8M
sh -c 'qemu-io -c "write -P 0x42 0 512" -c "sigraise 9" d.qcow2' >/dev/null 2>&1
"$B" info d.qcow2 | grep -q "dirty=1"; ok $? "qemu left the image dirty"
"$B" write d.qcow2 70000 10 0x1 && clean d.qcow2 && "$B" info d.qcow2 | grep -q "dirty=0" && qemu-io -c 'read -P 0x42 0 512' d.qcow2 | grep -q "read 512"; ok $? "read-write open repairs the refcounts and clears the dirty bit"

# Raw block status follows the file's holes like qemu-img map.
rm -f sp.raw; truncate -s 4M sp.raw; printf 'data' | dd of=sp.raw bs=1 seek=1048576 conv=notrunc 2>/dev/null
got=$("$B" map sp.raw | awk '{print $1, $2, $5, $6}' | tr '\n' ';')
want=$(qemu-img map --output=json -f raw sp.raw | python3 -c '
import json, sys
print("".join("%d %d zero=%d data=%d;" % (e["start"], e["length"], e["zero"], e["data"]) for e in json.load(sys.stdin)), end="")')
[ "$got" = "$want" ]; ok $? "raw block status matches qemu-img map ($got)"

# measure agrees with qemu-img measure.
for args in "1G" "64M" "100G" "1G 4k"; do
  set -- $args
  want=$(qemu-img measure -O qcow2 --size "$1" ${2:+-o cluster_size=$2} | head -2)
  got=$("$B" measure qcow2 "$@")
  [ "$want" = "$got" ]; ok $? "measure --size $args matches qemu-img"
done
want=$(qemu-img measure -O qcow2 top.qcow2 | head -2); got=$("$B" measure qcow2 - top.qcow2)
[ "$want" = "$got" ]; ok $? "measure of a backing chain matches qemu-img"

# The same random writes, zero writes (keeping and unmapping space) and
# discards through the library and through qemu-io, on every layout: with
# and without extended L2 entries (subclusters), external data files (plain
# and raw), v2, over a backing file and without. The library's image must
# pass qemu-img check and hold what qemu-io's holds; the library must read
# qemu-io's image as qemu-img does.
python3 - <<'PY'
import random
for seed in (1, 2):
    for cs in (4096, 16384, 65536, 2097152):
        r = random.Random(seed * 7 + cs)
        ops, qio = [], []
        for i in range(250):
            k = r.randrange(10)
            ln = r.choice([1, 511, 512, 2048, 3000, cs // 32, cs // 32 * 3 + 7, cs - 1, cs,
                           cs + 4096, 3 * cs + 100])
            off = r.randrange(0, (8 << 20) - ln)
            if r.random() < 0.3:
                off -= off % max(512, cs // 32)
            if k < 6:
                b = r.randrange(1, 256)
                ops.append(f"write {off} {ln} {b}"); qio.append(f"write -q -P {b} {off} {ln}")
            elif k < 8:
                u = r.random() < 0.5
                ops.append(f"zero {off} {ln} {'unmap' if u else 'keep'}")
                qio.append(f"write -q -z {'-u ' if u else ''}{off} {ln}")
            else:
                ops.append(f"discard {off} {ln}"); qio.append(f"discard -q {off} {ln}")
        open(f'ops-{seed}-{cs}.txt', 'w').write('\n'.join(ops) + '\n')
        open(f'qio-{seed}-{cs}.txt', 'w').write(''.join(f'-c\n{c}\n' for c in qio))
PY
qemu-img create -q -f raw rbase.raw 8M && qemu-io -f raw -c 'write -q -P 0x11 0 8M' rbase.raw
for cfg in extended_l2=on extended_l2=on,cluster_size=16k extended_l2=on,cluster_size=2M \
    cluster_size=4k compat=0.10 data_file=DF extended_l2=on,data_file=DF \
    data_file=DF,data_file_raw=on extended_l2=on,data_file=DF,data_file_raw=on; do
  cs=65536
  case $cfg in *16k*) cs=16384 ;; *2M*) cs=2097152 ;; *4k*) cs=4096 ;; esac
  for back in none rbase.raw; do
    case $cfg in *raw=on*) [ $back = none ] || continue ;; esac
    bo=""; [ $back = none ] || bo="-b $back -F raw"
    for seed in 1 2; do
      rm -f v.qcow2 q.qcow2 vdf.raw qdf.raw
      # shellcheck disable=SC2086
      qemu-img create -q -f qcow2 $bo -o "${cfg/DF/vdf.raw}" v.qcow2 8M &&
        qemu-img create -q -f qcow2 $bo -o "${cfg/DF/qdf.raw}" q.qcow2 8M &&
        "$B" script v.qcow2 ops-$seed-$cs.txt &&
        xargs -d '\n' -a qio-$seed-$cs.txt qemu-io q.qcow2 >/dev/null
      ok $? "$cfg over $back, seed $seed: the same operations through both"
      clean v.qcow2; ok $? "$cfg over $back, seed $seed: qemu-img check is clean"
      qemu-img convert -O raw v.qcow2 v.raw && qemu-img convert -O raw q.qcow2 q.raw &&
        cmp -s v.raw q.raw; ok $? "$cfg over $back, seed $seed: same data as qemu-io's"
      "$B" dump q.qcow2 qv.raw && cmp -s qv.raw q.raw; ok $? "$cfg over $back, seed $seed: reads qemu-io's image"
    done
  done
done

# Check and repair: leak a cluster by hand, find it, repair it.
rm -f lk.qcow2; "$B" create lk.qcow2 qcow2 6M && "$B" write lk.qcow2 0 65536 1
python3 - <<'PY'
import struct
f = open('lk.qcow2', 'r+b')
h = f.read(104)
rt = struct.unpack('>Q', h[48:56])[0]
f.seek(rt); rb = struct.unpack('>Q', f.read(8))[0]
f.truncate(41 * 65536)
f.seek(rb + 2 * 40); f.write(struct.pack('>H', 1))   # cluster 40: refcount 1, unreferenced
f.close()
PY
qemu-img check lk.qcow2 >/dev/null 2>&1; [ $? = 3 ]; ok $? "qemu-img sees the planted leak"
"$B" check lk.qcow2 | grep -q "Leaked cluster 40 refcount=1 reference=0"; ok $? "library check reports the leak like qemu-img"
"$B" check lk.qcow2 leaks | grep -q "leaks_fixed=1"; ok $? "check -r leaks repairs it"
clean lk.qcow2; ok $? "qemu-img finds the repaired image clean"

echo "1..$n"
exit $fail
