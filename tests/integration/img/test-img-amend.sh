#!/usr/bin/env bash
# test-img-amend.sh - vireo-img amend against qemu-img amend on copies of the
# same images: the same output and exit code, and afterwards qemu-img check
# finds vireo-img's copy clean, it holds the same data, and qemu-img info
# describes both alike (compat, refcount bits, lazy refcounts, size). Covers
# upgrades and downgrades (zero clusters expanded over a backing file, in
# snapshots too), every refcount width, and every refusal.
. "$(dirname "$0")/lib.sh"

# both DESC OPTS... IMAGE: amend copies v-IMAGE and q-IMAGE with both tools.
both() {
    local d="$1"
    shift
    local f=${*: -1}
    set -- "${@:1:$#-1}"
    cp "$f" "v-$f" && cp "$f" "q-$f"
    "$V" "$@" "v-$f" >v.out 2>v.err
    echo "rc=$?" >>v.out
    qemu-img "$@" "q-$f" >q.out 2>q.err
    echo "rc=$?" >>q.out
    sed -i 's/vireo-img/qemu-img/g; s/v-//g' v.out v.err
    sed -i 's/q-//g' q.out q.err
    if diff -u q.out v.out >.diff 2>&1 && diff -u q.err v.err >>.diff 2>&1; then
        ok "$d: same output and exit code"
    else
        not_ok "$d: same output and exit code"
        sed 's/^/# /' .diff
    fi
    if grep -qx 'rc=0' q.out; then
        check "$d: qemu-img check clean" qemu_clean "v-$f"
        check "$d: same data" qemu-img compare "v-$f" "q-$f"
        qemu-img info "v-$f" | grep -v -e 'disk size' -e '^image:' -e '^[0-9]' >vi.txt
        qemu-img info "q-$f" | grep -v -e 'disk size' -e '^image:' -e '^[0-9]' >qi.txt
        sed -i 's/v-//g' vi.txt
        sed -i 's/q-//g' qi.txt
        check "$d: qemu-img info alike" diff -u qi.txt vi.txt
    fi
}

qemu-img create -q -f qcow2 a.qcow2 64M
qemu-io -c 'write -P 1 0 1M' -c 'write -z 2M 1M' a.qcow2 >/dev/null
for o in compat=0.10 compat=1.1 compat=v3 refcount_bits=1 refcount_bits=2 refcount_bits=4 \
    refcount_bits=8 refcount_bits=32 refcount_bits=64 lazy_refcounts=on lazy_refcounts=off \
    size=128M size=32M compat=0.10,refcount_bits=8 compat=0.10,lazy_refcounts=on \
    cluster_size=4k extended_l2=on compression_type=zstd preallocation=full backing_file=x \
    backing_fmt=raw data_file=y data_file_raw=on bogus=1 encrypt.keyslot=1 compat=0.9 \
    refcount_bits=3 lazy_refcounts=maybe size=1x; do
    both "amend -o $o" amend -o "$o" a.qcow2
done
both "amend without -o" amend a.qcow2
both "amend -p" amend -p -o lazy_refcounts=on a.qcow2

# Snapshots: refcounts of 2 do not fit in 1 bit; a downgrade keeps them.
cp a.qcow2 s.qcow2
qemu-img snapshot -c s1 s.qcow2
qemu-io -c 'write -z 0 128k' -c 'write -P 5 4M 1M' s.qcow2 >/dev/null
qemu-img snapshot -c s2 s.qcow2
for o in compat=0.10 refcount_bits=1 refcount_bits=2 refcount_bits=64 size=16M; do
    both "with snapshots: amend -o $o" amend -o "$o" s.qcow2
done
check "vireo's downgraded copy still applies its snapshot" sh -c "cp s.qcow2 sa.qcow2 &&
    '$V' amend -o compat=0.10 sa.qcow2 && qemu-img snapshot -a s1 sa.qcow2 && qemu-img check sa.qcow2"

# Zero clusters over a backing file become allocated zeroes (also in a snapshot).
qemu-img create -q -f qcow2 -b a.qcow2 -F qcow2 ov.qcow2
qemu-io -c 'write -z 0 128k' -c 'write -z 5M 64k' -c 'write -z -u 9M 64k' ov.qcow2 >/dev/null
both "overlay with zero clusters: compat=0.10" amend -o compat=0.10 ov.qcow2
qemu-img snapshot -c x ov.qcow2
qemu-io -c 'write -z 20M 1M' ov.qcow2 >/dev/null
both "overlay with zero clusters and a snapshot: compat=0.10" amend -o compat=0.10 ov.qcow2
check "the snapshot still reads zeroes over the backing file" sh -c "cp v-ov.qcow2 so.qcow2 &&
    qemu-img snapshot -a x so.qcow2 && qemu-io -c 'read -P 0 0 128k' so.qcow2 | grep -q 'read 131072/'"

# Upgrades.
qemu-img create -q -f qcow2 -o compat=0.10 u.qcow2 8M
qemu-io -c 'write -P 1 0 1M' u.qcow2 >/dev/null
qemu-img snapshot -c s u.qcow2
both "v2 with a snapshot: compat=1.1" amend -o compat=1.1 u.qcow2
both "v2: compat=1.1,lazy_refcounts=on,refcount_bits=32" amend -o compat=1.1,lazy_refcounts=on,refcount_bits=32 u.qcow2

# What a v2 image cannot hold.
qemu-img create -q -f qcow2 -o extended_l2=on e.qcow2 1M
both "extended L2: compat=0.10 refused" amend -o compat=0.10 e.qcow2
qemu-img create -q -f qcow2 -o compression_type=zstd z.qcow2 1M
both "zstd, nothing compressed: compat=0.10" amend -o compat=0.10 z.qcow2
qemu-io -c 'write -c -P 1 0 64k' z.qcow2 >/dev/null
both "zstd with compressed clusters: compat=0.10 refused" amend -o compat=0.10 z.qcow2
qemu-img create -q -f qcow2 -o data_file=d.raw d.qcow2 1M
both "data file: compat=0.10 refused" amend -o compat=0.10 d.qcow2
"$V" amend -o data_file=d.raw d.qcow2 && check "data file renamed (to itself)" "$V" check d.qcow2
qemu-img create -q -f qcow2 -o compat=0.10 v2.qcow2 1M
both "v2: lazy_refcounts=on refused" amend -o lazy_refcounts=on v2.qcow2
both "-f raw refused" amend -f raw -o size=1M v2.qcow2
cp a.qcow2 b.qcow2
qemu-img bitmap --add b.qcow2 x
t_bitmaps() { ! "$V" amend -o compat=0.10 b.qcow2 2>e.txt && grep -q 'persistent dirty bitmaps' e.txt && qemu_clean b.qcow2; }
check "bitmaps stop a downgrade (qemu-img would leave them broken and leaked)" t_bitmaps
finish
