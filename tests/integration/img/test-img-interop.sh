#!/usr/bin/env bash
# test-img-interop.sh - qcow2 files exchanged between vireo-img and the real
# qemu-img in both directions: what vireo-img writes passes `qemu-img check`
# (no errors, no leaks) and reads back byte-identically through qemu-img;
# what qemu-img writes (zlib and zstd compression, internal snapshots,
# backing chains) reads back byte-identically through vireo-img.
. "$(dirname "$0")/lib.sh"

make_mixed src.raw 6 1
make_mixed src2.raw 6 2

# --- vireo-img writes, qemu-img reads ---
for cs in 512 4096 65536 2097152; do
    for compat in 0.10 1.1; do
        img=v-$cs-$compat.qcow2
        check "vireo convert -O qcow2 cluster_size=$cs compat=$compat" \
            "$V" convert -O qcow2 -o cluster_size=$cs,compat=$compat src.raw $img
        check "qemu-img check clean: $img" qemu_clean $img
        check "qemu-img reads the same data: $img" qemu_same_data $img src.raw
        check "qemu-img info agrees on cluster size $cs" \
            sh -c "qemu-img info $img | grep -qx 'cluster_size: $cs'"
    done
done
for cs in 4096 65536; do
    check "vireo convert -c (compressed, cluster $cs)" \
        "$V" convert -c -O qcow2 -o cluster_size=$cs src.raw vc-$cs.qcow2
    check "qemu-img check clean: compressed $cs" qemu_clean vc-$cs.qcow2
    check "qemu-img reads compressed data: $cs" qemu_same_data vc-$cs.qcow2 src.raw
    check "qemu-img sees compressed clusters: $cs" \
        sh -c "qemu-img check vc-$cs.qcow2 | grep -v ' 0.00% compressed' | grep -q compressed"
done
# Packing compressed data at byte granularity and across host clusters, as
# qemu-img does, gives the very same file with zstd (the same library and
# level); zlib-type clusters are deflated by libdeflate, not by zlib, so
# that file differs and what is checked is that qemu-img reads it.
qemu-img convert -c -O qcow2 -o compression_type=zstd src.raw qref-zstd.qcow2
check "vireo convert -c (zstd) writes qemu-img's file byte for byte" \
    sh -c "'$V' convert -c -O qcow2 -o compression_type=zstd src.raw vref-zstd.qcow2 && cmp qref-zstd.qcow2 vref-zstd.qcow2"
# libdeflate's clusters: raw deflate with a 32 KiB window, which QEMU reads
# because it inflates a cluster in one call. Random 6 KiB blocks repeated
# within 64 KiB clusters shrink only with back references beyond the 4 KiB
# window zlib is given for qcow2, so vireo's file is smaller than qemu-img's;
# clusters that shrink by a few bytes only are compressed, as QEMU compresses
# whatever fits in one byte less than a cluster.
python3 - edge.raw <<'PY'
import random, sys
r = random.Random(19)
data = b''
for _ in range(4):  # 64 KiB clusters: a random 6 KiB block over and over
    block = r.randbytes(6144)
    data += (block * 11)[:65536]
for n in (60000, 64000, 65200, 65400, 65500, 65536):  # random head, zero tail
    data += r.randbytes(n) + bytes(65536 - n)
open(sys.argv[1], 'wb').write(data)
PY
qemu-img convert -c -O qcow2 edge.raw qedge.qcow2
check "vireo convert -c of clusters repeating 6 KiB blocks and barely shrinking ones" \
    "$V" convert -c -O qcow2 edge.raw vedge.qcow2
check "qemu-img check clean: libdeflate's clusters" qemu_clean vedge.qcow2
check "qemu-img compare: libdeflate's clusters read as the data" qemu-img compare -q edge.raw vedge.qcow2
# qemu-img compresses the first 4 random-head clusters (the 3rd and 4th
# shrink by 240 and 46 bytes only, under a 512-byte margin; the last 2 do not
# shrink); vireo-img those and the 4 repeating ones.
check "clusters shrinking by a few bytes compressed as qemu-img compresses them" \
    sh -c "qemu-img check qedge.qcow2 | grep -q ' 40.00% compressed clusters' && qemu-img check vedge.qcow2 | grep -q ' 80.00% compressed clusters'"
check "libdeflate's 32 KiB window: vireo's file is smaller than qemu-img's" \
    sh -c "[ \$(stat -c %s vedge.qcow2) -lt \$(stat -c %s qedge.qcow2) ]"
check "vireo-img reads back its own libdeflate clusters" \
    sh -c "'$V' convert -O raw vedge.qcow2 vedge.raw && cmp vedge.raw edge.raw"
# Compression on worker threads (-m): the result must not depend on the count.
for m in 1 2 5; do
    check "vireo convert -c -m $m" "$V" convert -c -m $m -O qcow2 -o cluster_size=4096 src.raw vm-$m.qcow2
    check "qemu-img check clean: convert -c -m $m" qemu_clean vm-$m.qcow2
    check "qemu-img reads convert -c -m $m data" qemu_same_data vm-$m.qcow2 src.raw
done
check "convert -c -m 1 and -m 5 write the same file" cmp vm-1.qcow2 vm-5.qcow2
check "convert -c -m 2 zstd" "$V" convert -c -m 2 -O qcow2 -o compression_type=zstd src.raw vmz.qcow2
check "qemu-img check clean: zstd -m 2" qemu_clean vmz.qcow2
check "qemu-img reads zstd -m 2 data" qemu_same_data vmz.qcow2 src.raw
# Plain copies on worker threads (-m) and out of order (-W): every target
# kind gives the same data, and qcow2 targets pass qemu-img check.
for m in "-m 1" "-m 3" "-m 8 -W" "-W"; do
    for o in "-O raw" "-O qcow2" "-O qcow2 -o cluster_size=4096" "-O qcow2 -o extended_l2=on" \
        "-O qcow2 -S 0"; do
        t=w-$(echo "$m $o" | tr -c 'a-z0-9' '_').img
        # shellcheck disable=SC2086
        check "convert $m $o" "$V" convert $m $o src.raw $t
        case $o in *qcow2*) check "qemu-img check clean: convert $m $o" qemu_clean $t ;; esac
        check "qemu-img reads the same data: convert $m $o" qemu_same_data $t src.raw
    done
    # shellcheck disable=SC2086
    check "convert $m of a qcow2 source" sh -c "'$V' convert $m -O raw v-65536-1.1.qcow2 wq.raw && cmp wq.raw src.raw"
    # shellcheck disable=SC2086
    check "convert $m -n into an overlay" sh -c "'$V' create -q -f qcow2 -b v-65536-1.1.qcow2 -F qcow2 wn.qcow2 &&
        '$V' convert $m -n -O qcow2 src2.raw wn.qcow2 && qemu-img compare wn.qcow2 src2.raw"
    check "qemu-img check clean: convert $m -n" qemu_clean wn.qcow2
    # shellcheck disable=SC2086
    check "convert $m -B (only the differences)" sh -c "'$V' convert $m -O qcow2 -B v-65536-1.1.qcow2 -F qcow2 src2.raw wb.qcow2 &&
        qemu-img compare wb.qcow2 src2.raw"
    check "qemu-img check clean: convert $m -B" qemu_clean wb.qcow2
done
for o in "-O raw" "-O qcow2"; do
    # shellcheck disable=SC2086
    check "convert -C $o (copy offloading) gives the same data" sh -c "'$V' convert -C $o src.raw wc.img && qemu-img compare wc.img src.raw"
done
# -C never reads the data (it goes file to file in the kernel), so written
# zeroes are copied as data where a normal copy detects and skips them.
head -c 1M /dev/zero >zeros.raw
allocated() { qemu-img check --output=json "$1" | sed -n 's/.*"allocated-clusters": \([0-9]*\).*/\1/p'; }
t_offloaded() {
    "$V" convert -O qcow2 zeros.raw z0.qcow2 && "$V" convert -C -O qcow2 zeros.raw z1.qcow2 &&
        [ -z "$(allocated z0.qcow2)" ] && [ "$(allocated z1.qcow2)" = 16 ]
}
check "convert -C copies without reading the data" t_offloaded
qemu-img convert -O qcow2 src.raw snapsrc.qcow2
qemu-img snapshot -c old snapsrc.qcow2
qemu-io -c 'write -P 3 0 1M' snapsrc.qcow2 >/dev/null
for l in old snapshot.name=old snapshot.id=1 snapshot.id=1,snapshot.name=old; do
    check "convert -l $l reads the snapshot" sh -c "'$V' convert -l $l -O raw snapsrc.qcow2 ls.raw && cmp ls.raw src.raw"
done
check "-m 1 and -m 8 (in order) lay out the same file" sh -c "'$V' convert -m 1 -O qcow2 src.raw w1.qcow2 &&
    '$V' convert -m 8 -O qcow2 src.raw w8.qcow2 && cmp w1.qcow2 w8.qcow2"
check "vireo convert -O raw of its own qcow2" "$V" convert -O raw v-65536-1.1.qcow2 back.raw
check "round trip raw identical" cmp back.raw src.raw

# Extended L2 entries (subclusters) and external data files written by vireo-img.
for o in extended_l2=on extended_l2=on,cluster_size=16k extended_l2=on,cluster_size=2M \
    data_file=v-df.raw data_file=v-dfr.raw,data_file_raw=on extended_l2=on,data_file=v-dfe.raw; do
    img=v-${o//[=,]/-}.qcow2
    check "vireo convert -O qcow2 -o $o" "$V" convert -O qcow2 -o $o src.raw $img
    check "qemu-img check clean: $o" qemu_clean $img
    check "qemu-img reads the same data: $o" qemu_same_data $img src.raw
done
check "a raw data file holds the image by itself" cmp v-dfr.raw src.raw
check "vireo overlay with extended L2 over a backing file" sh -c "'$V' convert -O qcow2 src.raw eb.qcow2 >/dev/null &&
    '$V' create -f qcow2 -o extended_l2=on -b eb.qcow2 -F qcow2 et.qcow2 >/dev/null &&
    '$V' convert -n -O qcow2 src2.raw et.qcow2"
check "qemu-img check clean: extended L2 overlay" qemu_clean et.qcow2
check "qemu-img reads the extended L2 overlay" qemu_same_data et.qcow2 src2.raw
check "vireo snapshot of an extended L2 image" sh -c "'$V' snapshot -c s1 et.qcow2 &&
    '$V' convert -n -O qcow2 src.raw et.qcow2 && qemu-img snapshot -a s1 et.qcow2"
check "qemu-img applies it and reads the old data" qemu_same_data et.qcow2 src2.raw
check "vireo compressed copy with extended L2" "$V" convert -c -O qcow2 -o extended_l2=on src.raw ec.qcow2
check "qemu-img check clean: compressed extended L2" qemu_clean ec.qcow2
check "qemu-img reads compressed extended L2" qemu_same_data ec.qcow2 src.raw
check "compression with a data file is refused" sh -c "! '$V' convert -c -O qcow2 -o data_file=cdf.raw src.raw cdf.qcow2 2>/dev/null && [ ! -e cdf.qcow2 ]"
check "snapshots with a data file are refused" sh -c "! '$V' snapshot -c s v-data_file-v-df.raw.qcow2 2>/dev/null"
qemu-img convert -O qcow2 -o extended_l2=on src.raw qe.qcow2
qemu-img convert -O qcow2 -o data_file=qdf.raw src.raw qdf.qcow2
check "vireo reads qemu's extended L2 image" sh -c "'$V' convert -O raw qe.qcow2 qe.raw && cmp qe.raw src.raw"
check "vireo reads qemu's data file image" sh -c "'$V' convert -O raw qdf.qcow2 qdf-out.raw && cmp qdf-out.raw src.raw"
check "vireo check clean: qemu's extended L2 and data file images" sh -c "'$V' check qe.qcow2 && '$V' check qdf.qcow2"

# Backing chain written by vireo-img: base from src, overlay holding src2 via -B.
check "vireo base image" "$V" convert -O qcow2 src.raw base.qcow2
check "vireo convert -B writes only differences" \
    "$V" convert -O qcow2 -B base.qcow2 -F qcow2 src2.raw top.qcow2
check "qemu-img check clean: overlay" qemu_clean top.qcow2
check "qemu-img reads overlay as src2" qemu_same_data top.qcow2 src2.raw
check "overlay names its backing file" sh -c "qemu-img info top.qcow2 | grep -qx 'backing file: base.qcow2'"
cp src.raw src3.raw
printf 'changed' | dd of=src3.raw bs=1 seek=1048576 conv=notrunc status=none
check "convert -B of a small change" "$V" convert -O qcow2 -B base.qcow2 -F qcow2 src3.raw top3.qcow2
check "qemu-img reads small-change overlay" qemu_same_data top3.qcow2 src3.raw
check "small-change overlay holds one cluster, not a full copy" \
    sh -c "[ \$(qemu-img check --output=json top3.qcow2 | sed -n 's/.*allocated-clusters.: \\([0-9]*\\).*/\\1/p') -eq 1 ]"
check "vireo create -b -F overlay" "$V" create -f qcow2 -b base.qcow2 -F qcow2 ov.qcow2
check "vireo convert -n writes src2 into the overlay" "$V" convert -n -O qcow2 src2.raw ov.qcow2
check "qemu-img check clean: written overlay" qemu_clean ov.qcow2
check "qemu-img reads written overlay" qemu_same_data ov.qcow2 src2.raw
for compat in 0.10 1.1; do
    check "vireo v$compat chain of 3" sh -c "'$V' convert -O qcow2 -o compat=$compat src.raw c0-$compat.qcow2 >/dev/null &&
        '$V' create -f qcow2 -o compat=$compat -b c0-$compat.qcow2 -F qcow2 c1-$compat.qcow2 >/dev/null &&
        '$V' create -f qcow2 -o compat=$compat -b c1-$compat.qcow2 -F qcow2 c2-$compat.qcow2 >/dev/null &&
        '$V' convert -n -O qcow2 src2.raw c2-$compat.qcow2"
    check "qemu-img check clean: chain top $compat" qemu_clean c2-$compat.qcow2
    check "qemu-img reads chain top $compat" qemu_same_data c2-$compat.qcow2 src2.raw
done

# Internal snapshots made by vireo-img.
check "vireo snapshot -c" sh -c "'$V' convert -O qcow2 src.raw snap.qcow2 && '$V' snapshot -c first snap.qcow2"
check "qemu-img lists vireo's snapshot" sh -c "qemu-img snapshot -l snap.qcow2 | grep -q ' first '"
check "overwrite after snapshot (copy on write)" "$V" convert -n -O qcow2 src2.raw snap.qcow2
check "qemu-img check clean after snapshot + writes" qemu_clean snap.qcow2
check "current state is src2" qemu_same_data snap.qcow2 src2.raw
check "vireo snapshot -a first" "$V" snapshot -a first snap.qcow2
check "after apply qemu-img reads src" qemu_same_data snap.qcow2 src.raw
check "qemu-img check clean after apply" qemu_clean snap.qcow2
check "vireo snapshot -d first" "$V" snapshot -d first snap.qcow2
check "qemu-img check clean after delete" qemu_clean snap.qcow2
check "snapshot gone for qemu-img" sh -c "[ -z \"\$(qemu-img snapshot -l snap.qcow2)\" ]"
check "qemu-img applies a vireo snapshot" sh -c "'$V' snapshot -c s2 snap.qcow2 &&
    '$V' convert -n -O qcow2 src2.raw snap.qcow2 && qemu-img snapshot -a s2 snap.qcow2"
check "qemu-img apply gives src" qemu_same_data snap.qcow2 src.raw

# commit and rebase by vireo-img.
check "vireo commit" sh -c "'$V' convert -O qcow2 src.raw cb.qcow2 >/dev/null &&
    '$V' convert -O qcow2 -B cb.qcow2 -F qcow2 src2.raw ct.qcow2 && '$V' commit ct.qcow2"
check "qemu-img check clean: committed base" qemu_clean cb.qcow2
check "committed base holds src2" qemu_same_data cb.qcow2 src2.raw
check "emptied overlay still reads src2" qemu_same_data ct.qcow2 src2.raw
check "vireo rebase (safe) onto another base" sh -c "'$V' convert -O qcow2 src.raw rb1.qcow2 >/dev/null &&
    '$V' convert -O qcow2 -B rb1.qcow2 -F qcow2 src2.raw rt.qcow2 &&
    '$V' convert -O qcow2 src2.raw rb2.qcow2 && '$V' rebase -b rb2.qcow2 -F qcow2 rt.qcow2"
check "rebased overlay still reads src2" qemu_same_data rt.qcow2 src2.raw
check "qemu-img sees the new backing file" sh -c "qemu-img info rt.qcow2 | grep -qx 'backing file: rb2.qcow2'"
check "vireo rebase -b '' flattens" "$V" rebase -b "" rt.qcow2
check "flattened overlay reads src2 alone" sh -c "qemu-img info rt.qcow2 | grep -qv backing && mv rb2.qcow2 rb2.moved &&
    qemu-img convert -O raw rt.qcow2 flat.raw && cmp flat.raw src2.raw"
check "qemu-img check clean after rebase" qemu_clean rt.qcow2
check "vireo rebase -u changes only the name" sh -c "'$V' rebase -u -b rb2.moved -F qcow2 rt.qcow2 &&
    qemu-img info rt.qcow2 | grep -qx 'backing file: rb2.moved'"
# commit and rebase across formats: a raw base, raw and qcow2 new backing files.
cp src.raw xbase.raw
qemu-img create -q -f qcow2 -b xbase.raw -F raw xtop.qcow2
qemu-io -c 'write -P 7 1M 64k' -c 'write -P 8 3M 100k' xtop.qcow2 >/dev/null
qemu-img convert -O raw xtop.qcow2 xexpect.raw
check "vireo commit into a raw base" "$V" commit xtop.qcow2
check "the raw base holds the overlay's data" cmp xbase.raw xexpect.raw
check "qemu-img check clean: emptied overlay over raw" qemu_clean xtop.qcow2
check "the emptied overlay still reads the same" qemu-img compare xtop.qcow2 xexpect.raw
cp src.raw xb1.raw
qemu-img create -q -f qcow2 -b xb1.raw -F raw xr.qcow2
qemu-io -c 'write -P 9 2M 64k' xr.qcow2 >/dev/null
qemu-img convert -O raw xr.qcow2 xr-expect.raw
check "vireo rebase from raw onto raw" sh -c "'$V' rebase -b src2.raw -F raw xr.qcow2 && qemu-img compare xr.qcow2 xr-expect.raw"
check "vireo rebase from raw onto qcow2" sh -c "'$V' convert -O qcow2 src2.raw xq.qcow2 && '$V' rebase -b xq.qcow2 -F qcow2 xr.qcow2 &&
    qemu-img compare xr.qcow2 xr-expect.raw && qemu-img info xr.qcow2 | grep -qx 'backing file format: qcow2'"
check "qemu-img check clean after the rebases" qemu_clean xr.qcow2
check "vireo resize qcow2 +1M" sh -c "'$V' resize v-65536-1.1.qcow2 +1M &&
    qemu-img info --output=json v-65536-1.1.qcow2 | grep -q '\"virtual-size\": 7340032'"
check "qemu-img check clean after resize" qemu_clean v-65536-1.1.qcow2
check "vireo resize --shrink qcow2" sh -c "'$V' resize --shrink v-65536-1.1.qcow2 2M &&
    qemu-img info --output=json v-65536-1.1.qcow2 | grep -q '\"virtual-size\": 2097152'"
check "qemu-img check clean after a shrink" qemu_clean v-65536-1.1.qcow2
check "the first 2 MiB survive the shrink" sh -c "qemu-img convert -O raw v-65536-1.1.qcow2 sh.raw &&
    cmp -n 2097152 sh.raw src.raw"
check "growing again reads zeroes past the old end" sh -c "'$V' resize v-65536-1.1.qcow2 6M &&
    qemu-io -c 'read -P 0 2M 4M' v-65536-1.1.qcow2 | grep -q 'read 4194304/'"
for p in metadata falloc full; do
    check "vireo resize --preallocation=$p" sh -c "'$V' create -q -f qcow2 rp-$p.qcow2 1M &&
        '$V' resize --preallocation=$p rp-$p.qcow2 5M && qemu-io -c 'read -P 0 0 5M' rp-$p.qcow2 | grep -q 'read 5242880/'"
    check "qemu-img check clean after --preallocation=$p" qemu_clean rp-$p.qcow2
    check "--preallocation=$p allocated the grown area" sh -c "[ \$(qemu-img check --output=json rp-$p.qcow2 | sed -n 's/.*allocated-clusters.: \([0-9]*\).*/\1/p') -eq 64 ]"
done
check "preallocation=full really allocates" sh -c "[ \$(stat -c %b rp-full.qcow2) -ge 8192 ]"
check "raw resize --preallocation=falloc" sh -c "'$V' create -q -f raw rf.raw 1M && '$V' resize -f raw --preallocation=falloc rf.raw 5M &&
    [ \$(stat -c %s rf.raw) -eq 5242880 ] && [ \$(stat -c %b rf.raw) -ge 8192 ]"
check "vireo create preallocation=metadata passes qemu-img check" sh -c "'$V' create -f qcow2 -o preallocation=metadata pm.qcow2 8M && qemu-img check pm.qcow2"
check "vireo create preallocation=full (raw) is fully allocated" sh -c "'$V' create -f raw -o preallocation=full pf.raw 8M &&
    [ \$(stat -c %b pf.raw) -ge 16384 ]"
check "vireo create lazy_refcounts=on" sh -c "'$V' create -f qcow2 -o lazy_refcounts=on lz.qcow2 8M &&
    '$V' convert -n -O qcow2 src.raw lz.qcow2 >/dev/null; qemu-img check lz.qcow2"

# --- qemu-img writes, vireo-img reads ---
vireo_reads() { "$V" convert -O raw "$1" "$T/.vraw" && cmp "$T/.vraw" "$2" && "$V" compare "$1" "$2" >/dev/null; }
for cs in 512 65536 2097152; do
    for compat in 0.10 1.1; do
        qemu-img convert -O qcow2 -o cluster_size=$cs,compat=$compat src.raw q-$cs-$compat.qcow2
        check "vireo reads qemu image cluster=$cs compat=$compat" vireo_reads q-$cs-$compat.qcow2 src.raw
        check "vireo check clean: qemu image $cs $compat" "$V" check q-$cs-$compat.qcow2
    done
done
for ct in zlib zstd; do
    qemu-img convert -c -O qcow2 -o compression_type=$ct src.raw qc-$ct.qcow2
    check "vireo reads qemu-compressed ($ct)" vireo_reads qc-$ct.qcow2 src.raw
done
qemu-img convert -c -O qcow2 -o compat=0.10 src.raw qc-v2.qcow2
check "vireo reads qemu-compressed v2" vireo_reads qc-v2.qcow2 src.raw
qemu-img convert -O qcow2 src.raw qs.qcow2
qemu-img snapshot -c snapA qs.qcow2
qemu-img convert -n -O qcow2 src2.raw qs.qcow2
check "vireo reads qemu image after snapshot + overwrite" vireo_reads qs.qcow2 src2.raw
check "vireo lists qemu's snapshot" sh -c "'$V' snapshot -l qs.qcow2 | grep -q ' snapA '"
check "vireo applies qemu's snapshot" "$V" snapshot -a snapA qs.qcow2
check "after vireo apply the data is src" vireo_reads qs.qcow2 src.raw
check "qemu-img check clean after vireo apply" qemu_clean qs.qcow2
qemu-img convert -O qcow2 src.raw qb.qcow2
qemu-img create -q -f qcow2 -b qb.qcow2 -F qcow2 qt.qcow2
qemu-io -c 'write -P 0x5a 1M 300k' -c 'write -z 2M 128k' -c 'discard 3M 64k' qt.qcow2 >/dev/null
qemu-img convert -O raw qt.qcow2 qt-expect.raw
check "vireo reads a qemu backing chain (writes, zero writes, discard)" vireo_reads qt.qcow2 qt-expect.raw
check "vireo compare detects a difference (exit 1)" sh -c "'$V' compare qt.qcow2 src.raw; [ \$? -eq 1 ]"
check "vireo compare qcow2 vs qcow2 identical" sh -c "'$V' compare q-65536-1.1.qcow2 qc-zstd.qcow2 | grep -qx 'Images are identical.'"
check "vireo compare -s strict on different allocation (exit 1)" sh -c "'$V' compare -s q-65536-1.1.qcow2 qt.qcow2 >/dev/null; [ \$? -eq 1 ]"

# --- leak repair ---
# Leaks crafted the way a killed writer leaves them: a data cluster whose L2
# entry was never written (refcount 1, no reference).
"$V" convert -O qcow2 src.raw leak.qcow2 >/dev/null
python3 - <<'PY'
import struct
f = open('leak.qcow2', 'r+b')
h = f.read(72)
l1 = struct.unpack('>Q', h[40:48])[0]
f.seek(l1); l2 = struct.unpack('>Q', f.read(8))[0] & 0x00fffffffffffe00
f.seek(l2)
entries = [struct.unpack('>Q', f.read(8))[0] for _ in range(64)]
dropped = 0
for i, e in enumerate(entries):
    if e & 0x00fffffffffffe00 and dropped < 2:
        f.seek(l2 + 8 * i); f.write(b'\0' * 8); dropped += 1
PY
check "qemu-img sees the crafted leaks (exit 3)" sh -c "qemu-img check leak.qcow2 >/dev/null 2>&1; [ \$? -eq 3 ]"
check "vireo check reports leaks with exit 3" sh -c "'$V' check leak.qcow2 2>/dev/null | grep -q '^2 leaked clusters were found on the image.\$'; '$V' check leak.qcow2 >/dev/null 2>&1; [ \$? -eq 3 ]"
check "vireo check -r leaks repairs (exit 0)" sh -c "'$V' check -r leaks leak.qcow2 2>/dev/null | grep -q '2 leaked clusters'"
check "qemu-img check clean after vireo repair" qemu_clean leak.qcow2
finish
