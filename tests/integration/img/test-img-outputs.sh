#!/usr/bin/env bash
# test-img-outputs.sh - vireo-img prints what qemu-img prints, byte for byte,
# for the same image: info (human, JSON, --backing-chain), check (human,
# JSON, exit codes, the per-problem lines), map (human, JSON), compare (with
# and without -s), snapshot -l,
# measure, and create's "Formatting" line. The expected text is produced by
# the installed qemu-img at test time (the live golden file), so the test
# follows the qemu-utils version on the machine.
# Normalised: only the program name ("vireo-img" -> "qemu-img"), because the
# two tools must differ there. Error lines are tested in test-img-errors.sh.
. "$(dirname "$0")/lib.sh"

# same DESCRIPTION ARGS...: stdout, stderr and exit code of both tools agree.
run_both() {
    "$V" "$@" >v.out 2>v.err; echo "rc=$?" >>v.out
    qemu-img "$@" >q.out 2>q.err; echo "rc=$?" >>q.out
    sed -i 's/vireo-img/qemu-img/g' v.out v.err
}
same_out() { run_both "$@"; diff -u q.out v.out && diff -u q.err v.err; }
same() {
    local d="$1"
    shift
    if same_out "$@" >.diff 2>&1; then ok "$d"; else not_ok "$d"; sed 's/^/# /' .diff; fi
}

make_mixed src.raw 4 3
qemu-img create -q -f qcow2 empty.qcow2 4G
qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=4096 v2.qcow2 100M
qemu-img create -q -f qcow2 -o compression_type=zstd,lazy_refcounts=on,refcount_bits=64 zstd.qcow2 1T
qemu-img convert -O qcow2 src.raw base.qcow2
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
qemu-io -c 'write -P 0xaa 0 128k' -c 'write -P 1 3M 64k' top.qcow2 >/dev/null
qemu-img snapshot -c first top.qcow2
qemu-img snapshot -c second top.qcow2
mkdir sub && qemu-img create -q -f qcow2 -b ../base.qcow2 -F qcow2 sub/rel.qcow2
qemu-img create -q -f raw r.raw 3M
cp src.raw holes.raw

# Extended L2 entries (subclusters) and external data files, plain and raw.
qemu-img create -q -f qcow2 -o extended_l2=on ext.qcow2 64M
qemu-io -c 'write -P 1 4k 4k' -c 'write -z 64k 8k' -c 'write -P 2 1M 100k' -c 'write -P 3 130k 1k' ext.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 -o extended_l2=on,cluster_size=16k extb.qcow2
qemu-io -c 'write -P 1 4k 4k' -c 'write -z 64k 8k' -c 'write -P 2 1M 100k' extb.qcow2 >/dev/null
qemu-img create -q -f qcow2 -o data_file=df.raw df.qcow2 64M
qemu-io -c 'write -P 1 4k 4k' -c 'write -z 64k 8k' -c 'write -P 2 1M 100k' df.qcow2 >/dev/null
qemu-img create -q -f qcow2 -o data_file=dfr.raw,data_file_raw=on dfr.qcow2 64M
# Fragments are counted per L2 table (4 KiB clusters: one table maps 2 MiB).
qemu-img create -q -f qcow2 -o cluster_size=4k frag.qcow2 64M
qemu-io -c 'write -P 1 0 4k' -c 'write -P 1 2M 4k' -c 'write -P 1 4k 4k' frag.qcow2 >/dev/null
for img in ext.qcow2 extb.qcow2 df.qcow2 dfr.qcow2 frag.qcow2; do
    same "info $img" info $img
    same "info --output=json $img" info --output=json $img
    same "check $img" check $img
    same "check --output=json $img" check --output=json $img
    same "map $img" map $img
    same "map --output=json $img" map --output=json $img
done

for img in empty.qcow2 v2.qcow2 zstd.qcow2 base.qcow2 top.qcow2 sub/rel.qcow2 r.raw holes.raw; do
    same "info $img" info $img
    same "info --output=json $img" info --output=json $img
done
same "info --backing-chain" info --backing-chain top.qcow2
qemu-img create -q -f qcow2 -b r.raw -F raw -o extended_l2=on overraw.qcow2
qemu-img create -q -f qcow2 -b overraw.qcow2 -F qcow2 -o data_file=ordf.raw overover.qcow2
qemu-img bitmap --add overover.qcow2 bm
same "info --backing-chain over raw, extended L2, data file, bitmap" info --backing-chain overover.qcow2
same "info --backing-chain --output=json over raw, extended L2, data file, bitmap" info --backing-chain --output=json overover.qcow2
same "info --backing-chain --output=json" info --backing-chain --output=json top.qcow2
same "info -f raw of a qcow2 file" info -f raw base.qcow2
same "snapshot -l with two snapshots" snapshot -l top.qcow2
same "snapshot -l without snapshots (prints nothing)" snapshot -l base.qcow2
same "snapshot -l of raw (prints nothing)" snapshot -l r.raw

for img in empty.qcow2 v2.qcow2 base.qcow2; do
    same "check $img" check $img
    same "check --output=json $img" check --output=json $img
done
same "check of raw: not supported, exit 63" check r.raw
# Leaked and corrupt images, crafted.
qemu-img create -q -f qcow2 leak.qcow2 1G
qemu-io -c 'write -P 1 0 192k' leak.qcow2 >/dev/null
cp leak.qcow2 corrupt.qcow2
python3 - <<'PY'
import struct
f = open('leak.qcow2', 'r+b'); h = f.read(72)
l1 = struct.unpack('>Q', h[40:48])[0]
f.seek(l1); l2 = struct.unpack('>Q', f.read(8))[0] & 0x00fffffffffffe00
f.seek(l2 + 8); f.write(b'\0' * 8)          # second data cluster: leaked
f = open('corrupt.qcow2', 'r+b'); h = f.read(72)
rt = struct.unpack('>Q', h[48:56])[0]
f.seek(rt); rb = struct.unpack('>Q', f.read(8))[0]
f.seek(rb + 2 * 5); f.write(b'\0\0')        # cluster 5 in use, refcount 0
PY
same "check of a leaky image (exit 3, Leaked cluster lines)" check leak.qcow2
same "check --output=json of a leaky image" check --output=json leak.qcow2
same "check of a corrupt image (exit 2, ERROR lines)" check corrupt.qcow2
same "check --output=json of a corrupt image" check --output=json corrupt.qcow2
cp leak.qcow2 leak2.qcow2 && cp leak.qcow2 leak3.qcow2
"$V" check -r leaks leak.qcow2 >v.rep 2>v.repe; echo "rc=$?" >>v.rep
qemu-img check -r leaks leak2.qcow2 >q.rep 2>q.repe; echo "rc=$?" >>q.rep
check "check -r leaks prints what qemu-img prints" diff -u q.rep v.rep
# qemu-img first lists "Leaked cluster N ..." lines, then "Repairing cluster N ...".
check "check -r leaks reports the leak like qemu-img" diff -u q.repe v.repe
cp corrupt.qcow2 corrupt2.qcow2 && cp corrupt.qcow2 corrupt3.qcow2
"$V" check -r leaks corrupt2.qcow2 >v.rep 2>v.repe; echo "rc=$?" >>v.rep
qemu-img check -r leaks corrupt3.qcow2 >q.rep 2>q.repe; echo "rc=$?" >>q.rep
sed -i 's/vireo-img/qemu-img/' v.repe
check "check -r leaks of an image needing -r all: qemu-img's refusal, nothing changed" sh -c "diff -u q.rep v.rep && diff -u q.repe v.repe && cmp corrupt.qcow2 corrupt2.qcow2"
"$V" check -r all --output=json leak3.qcow2 >v.rep 2>/dev/null
check "check -r all --output=json field names" sh -c "grep -q '\"leaks-fixed\": 1' v.rep"
qemu-img convert -c -O qcow2 src.raw comp.qcow2
same "check of a compressed image (compressed clusters count as fragmented)" check comp.qcow2
same "check --output=json of a compressed image" check --output=json comp.qcow2
same "check of an overlay with snapshots" check top.qcow2
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 zc.qcow2
qemu-io -c 'write -P 1 0 128k' -c 'write -z 1M 64k' zc.qcow2 >/dev/null
# A zero cluster without host space is not counted as allocated; one with
# (write -z without unmap over a data cluster) is.
qemu-img create -q -f qcow2 z.qcow2 4M
qemu-io -c 'write -P 1 0 192k' -c 'write -z 64k 64k' -c 'write -z 1M 64k' z.qcow2 >/dev/null
for img in zc.qcow2 z.qcow2; do
    same "check of $img (zero clusters in the allocated count)" check $img
    same "check --output=json of $img" check --output=json $img
done

for img in base.qcow2 top.qcow2 r.raw holes.raw v2.qcow2 sub/rel.qcow2; do
    same "map $img" map $img
    same "map --output=json $img" map --output=json $img
done
for a in "--start-offset=1M --max-length=2M --output=json" "--start-offset=1000 --max-length=5000" \
    "--start-offset=100M" "--start-offset=-1" "--max-length=0 --output=json" "--max-length=0" \
    "--start-offset=1k --output=json" "--max-length=1x" "--start-offset=100M --output=json" \
    "--start-offset=4M --output=json" "--start-offset=3M --max-length=10M --output=json" \
    "--start-offset=1000 --max-length=5000 --output=json"; do
    # shellcheck disable=SC2086
    same "map $a" map $a top.qcow2
done
# Preallocated with metadata: QEMU asks the file whether data clusters are holes.
qemu-img create -q -f qcow2 -o preallocation=metadata pm.qcow2 1M
"$V" create -q -f qcow2 -o preallocation=metadata vpm.qcow2 1M
qemu-img create -q -f qcow2 -o preallocation=falloc pf.qcow2 1M
qemu-img create -q -f qcow2 -o preallocation=metadata,compat=0.10 pm2.qcow2 1M
for img in pm.qcow2 vpm.qcow2 pf.qcow2 pm2.qcow2; do
    same "map --output=json of preallocated $img" map --output=json $img
done
same "map of a compressed image (refused like qemu-img)" map comp.qcow2
same "map --output=json of a compressed image" map --output=json comp.qcow2

same "measure --size -O qcow2" measure --size 1G -O qcow2
same "measure --size --output=json" measure --output=json --size 10G -O qcow2 -o cluster_size=4k
same "measure -O raw" measure --size 5G -O raw
same "measure of an image" measure -O qcow2 base.qcow2
same "measure --output=json of an image" measure --output=json -O qcow2 top.qcow2

for args in "-f qcow2 c1 1G" "-f qcow2 -o cluster_size=4k,compat=0.10 c2 10M" \
    "-f qcow2 -o lazy_refcounts=on,compression_type=zstd c3 2T" "-f raw c4 1M" \
    "-f qcow2 -b base.qcow2 -F qcow2 c5" "-f qcow2 -u -b nowhere.qcow2 -F qcow2 c6 5G" \
    "-f qcow2 -o preallocation=off,refcount_bits=8 c7 64k" \
    "-f qcow2 -o extended_l2=on c8 1G" "-f qcow2 -o extended_l2=on,cluster_size=4k c9 1G" \
    "-f qcow2 -o extended_l2=on,compat=0.10 c10 1G" "-f qcow2 -o data_file=c11.raw c11 1M" \
    "-f qcow2 -o data_file=c12.raw,data_file_raw=on c12 1M" "-f qcow2 -o data_file_raw=on c13 1M" \
    "-f qcow2 -o data_file=c14.raw,compat=0.10 c14 1M" \
    "-f qcow2 -b base.qcow2 -F qcow2 -o data_file=c15.raw,data_file_raw=on c15"; do
    # shellcheck disable=SC2086
    same "create $args" create $args
done
# vireo-img lists only the options it implements; each line is qemu-img's own.
qemu-img create -f qcow2 -o help x 1G >q.help
"$V" create -f qcow2 -o help x 1G >v.help
check "create -o help: every line as qemu-img prints it" sh -c "grep -vxFf q.help v.help | (! grep .)"

# Zero clusters (write -z with and without unmap), discarded clusters and L2
# tables never allocated (one maps 512 MiB with 64 KiB clusters, 2 MiB with
# 4 KiB ones), in v3 and v2 images and over backing files: map, and compare
# with and without -s (strict: the sizes first, then the first offset whose
# block status differs in allocation, zero, data, offset or reaching the end).
qio() { qemu-io "$@" >/dev/null; }
qemu-img create -q -f qcow2 zd.qcow2 2G
qio -c 'write -P 0x11 0 128k' -c 'write -z 256k 128k' -c 'write -P 0x22 1M 64k' \
    -c 'discard 1M 64k' -c 'write -P 0x33 2M 192k' -c 'write -z -u 2M 64k' -c 'write -z 1G 64k' \
    -c 'write -P 5 1536M 64k' -c 'discard 1536M 64k' zd.qcow2
qemu-img create -q -f qcow2 -o cluster_size=4096 zd4.qcow2 64M
qio -c 'write -P 1 0 8k' -c 'write -z 3M 64k' -c 'write -P 2 40M 4k' -c 'discard 40M 4k' \
    -c 'write -z -u 50M 8k' zd4.qcow2
qemu-img create -q -f qcow2 -b zd4.qcow2 -F qcow2 zdb.qcow2 64M
qio -c 'write -z 0 4k' -c 'write -P 3 3M 4k' -c 'discard 8M 1M' -c 'write -z -u 40M 4k' zdb.qcow2
qemu-img create -q -f qcow2 -o compat=0.10 zd2.qcow2 64M
qio -c 'write -P 1 0 64k' -c 'write -z 64k 64k' -c 'write -z 1M 128k' -c 'discard 0 32k' zd2.qcow2
qemu-img create -q -f qcow2 -b zd2.qcow2 -F qcow2 zd2b.qcow2 64M
qio -c 'write -z 8M 64k' -c 'write -z -u 0 64k' zd2b.qcow2
qemu-img convert -O qcow2 zd4.qcow2 zd4c.qcow2 # the same bytes, laid out anew
# Overlays larger than their backing file: past its end the zeroes are the
# overlay's own (depth 0), also with subclusters.
qemu-img create -q -f qcow2 -b zd4.qcow2 -F qcow2 zdl.qcow2 160M
qio -c 'write -z 32M 64k' -c 'write -z -u 80M 64k' -c 'write -P 2 120M 64k' -c 'discard 120M 64k' zdl.qcow2
qemu-img create -q -f qcow2 -o extended_l2=on -b zd4.qcow2 -F qcow2 zdx.qcow2 96M
qio -c 'write -z 4k 8k' -c 'write -z -u 64k 4k' -c 'write -P 3 1M 4k' -c 'discard 1M 32k' zdx.qcow2
qemu-img create -q -f raw zr.raw 64M
for img in zd.qcow2 zd4.qcow2 zdb.qcow2 zd2.qcow2 zd2b.qcow2 zd4c.qcow2 zdl.qcow2 zdx.qcow2; do
    same "map $img (zero, discarded, no L2 table)" map $img
    same "map --output=json $img" map --output=json $img
done
for pair in "zd4.qcow2 zdb.qcow2" "zd4.qcow2 zd4c.qcow2" "zd2.qcow2 zd2b.qcow2" \
    "zdb.qcow2 zd.qcow2" "zd.qcow2 zr.raw" "zd4c.qcow2 zr.raw" "zd2b.qcow2 zr.raw" \
    "zdb.qcow2 zdb.qcow2" "zd4.qcow2 zd4.qcow2" "zdl.qcow2 zd4.qcow2" "zdx.qcow2 zdl.qcow2"; do
    # shellcheck disable=SC2086
    same "compare $pair" compare $pair
    # shellcheck disable=SC2086
    same "compare -s $pair" compare -s $pair
done
finish
