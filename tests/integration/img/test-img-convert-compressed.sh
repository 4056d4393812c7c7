#!/usr/bin/env bash
# test-img-convert-compressed.sh - reading compressed qcow2 clusters with
# several threads: convert -m 4 (the workers decompress outside the image
# lock, each with its own decompressor) of qcow2 images qemu-img compressed
# (zlib and zstd, 64 KiB and 4 KiB clusters, a size that ends inside a
# cluster, a compressed backing file under an overlay written in part) must
# give exactly the bytes qemu-img convert gives; a damaged compressed cluster
# fails the copy with one line, as a single-threaded read does.
# $1 vireo-img.
. "$(dirname "$0")/lib.sh"

make_mixed src.raw 24 18
# A size that ends inside a cluster and inside a sector: the last cluster is
# read in part (and the sector's tail past the end as zeroes).
cp src.raw odd.raw
truncate -s $(((24 << 20) + 5000)) odd.raw
printf 'tail' | dd of=odd.raw bs=1 seek=$(((24 << 20) + 4990)) conv=notrunc status=none

# same_raw NAME IMAGE [vireo-img convert options...]: both tools' raw copies equal.
same_raw() {
    local name=$1 img=$2
    shift 2
    rm -f v.raw q.raw
    if qemu-img convert -O raw "$img" q.raw && "$V" convert "$@" -O raw "$img" v.raw &&
        cmp q.raw v.raw; then
        ok "$name"
    else
        not_ok "$name"
    fi
}

for ct in zlib zstd; do
    for cs in 65536 4096; do
        for src in src odd; do
            img=$src-$ct-$cs.qcow2
            qemu-img convert -c -O qcow2 -o compression_type=$ct,cluster_size=$cs \
                $src.raw "$img"
            same_raw "$ct, $cs-byte clusters, $src: convert -m 4 -O raw as qemu-img's" \
                "$img" -m 4
            same_raw "$ct, $cs-byte clusters, $src: convert -m 4 -W -O raw as qemu-img's" \
                "$img" -m 4 -W
        done
    done
    # Compressed into qcow2 again and plainly into qcow2, both tools, same files.
    img=src-$ct-65536.qcow2
    rm -f v.qcow2 q.qcow2
    check "$ct: convert -m 4 -O qcow2 of a compressed image is qemu-img's file byte for byte" \
        bash -c "qemu-img convert -O qcow2 $img q.qcow2 && '$V' convert -m 4 -O qcow2 $img v.qcow2 && cmp q.qcow2 v.qcow2"
    # A compressed backing file under an overlay written in part: reads of the
    # overlay fall through to compressed clusters, whole and in part.
    rm -f top.qcow2
    qemu-img create -q -f qcow2 -b "$img" -F qcow2 top.qcow2
    qemu-io -f qcow2 -c 'write -P 0x5a 1000 70000' -c 'write -P 0xa5 5m 3000' \
        -c 'write -z 9m 65536' top.qcow2 >/dev/null
    same_raw "$ct: an overlay of a compressed backing file, convert -m 4 as qemu-img's" \
        top.qcow2 -m 4
done

# compare reads both images through the same threads' path.
check "compare of a zlib and a zstd compressed image of the same data: identical" \
    "$V" compare src-zlib-65536.qcow2 src-zstd-65536.qcow2

# A damaged compressed cluster: one line, exit 1, no raw written past it by a crash.
cp src-zlib-65536.qcow2 bad.qcow2
python3 - bad.qcow2 <<'PY'
import struct, sys
f = open(sys.argv[1], 'r+b')
h = f.read(104)
cbits = struct.unpack('>I', h[20:24])[0]
l1off = struct.unpack('>Q', h[40:48])[0]
f.seek(l1off)
l2off = struct.unpack('>Q', f.read(8))[0] & 0x00fffffffffffe00
f.seek(l2off)
for i in range(1 << (cbits - 3)):
    e = struct.unpack('>Q', f.read(8))[0]
    if e & (1 << 62):  # the first compressed cluster: garble its stream
        x = 62 - (cbits - 8)
        host = e & ((1 << x) - 1)
        f.seek(host)
        f.write(b'\xff' * 64)
        break
PY
rm -f v.raw
"$V" convert -m 4 -O raw bad.qcow2 v.raw >bad.out 2>&1
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <bad.out)" -eq 1 ] &&
    grep -q "could not decompress the cluster at host offset" bad.out; then
    ok "a damaged compressed cluster: convert -m 4 fails with one line"
else
    not_ok "a damaged compressed cluster: convert -m 4 fails with one line (rc $rc)"
    sed 's/^/# /' bad.out
fi

# Streams that do not end where the cluster does, as a writer other than
# qemu-img may leave them: the first compressed cluster's entry pointed at a
# raw deflate stream appended to the file. QEMU inflates into one cluster and
# takes a stream that runs on past it (cut at the cluster) or is followed by
# other bytes in its sectors, and fails a stream that ends early; vireo-img
# reads them as it does (libdeflate takes the second, zlib the first).
# restream IMAGE KIND: KIND long (cluster + 4 KiB of output), trailing (one
# cluster, then 300 bytes of 0xff in its span), short (cluster - 100 bytes).
restream() {
    python3 - "$1" "$2" <<'PY'
import struct, sys, zlib
path, kind = sys.argv[1], sys.argv[2]
f = open(path, 'r+b')
h = f.read(104)
cbits = struct.unpack('>I', h[20:24])[0]
cs = 1 << cbits
l1off = struct.unpack('>Q', h[40:48])[0]
f.seek(l1off)
l2off = struct.unpack('>Q', f.read(8))[0] & 0x00fffffffffffe00
want = {'long': cs + 4096, 'trailing': cs, 'short': cs - 100}[kind]
data = bytes((i * 7 + i // 251) & 0xff for i in range(want))
c = zlib.compressobj(6, zlib.DEFLATED, -12)
stream = c.compress(data) + c.flush()
if kind == 'trailing':
    stream += b'\xff' * 300
f.seek(0, 2)
host = (f.tell() + cs - 1) // cs * cs
f.seek(host)
f.write(stream + bytes(-len(stream) % 512))
x = 62 - (cbits - 8)
extra = (host + len(stream) - 1) // 512 - host // 512
for i in range(cs // 8):
    f.seek(l2off + 8 * i)
    e = struct.unpack('>Q', f.read(8))[0]
    if e & (1 << 62):
        f.seek(l2off + 8 * i)
        f.write(struct.pack('>Q', (1 << 62) | (extra << x) | host))
        break
PY
}
for kind in long trailing; do
    cp src-zlib-65536.qcow2 $kind.qcow2
    restream $kind.qcow2 $kind
    same_raw "a $kind stream in a compressed cluster: read as qemu-img reads it" $kind.qcow2
    same_raw "a $kind stream in a compressed cluster: convert -m 4 as qemu-img's" $kind.qcow2 -m 4
done
cp src-zlib-65536.qcow2 short.qcow2
restream short.qcow2 short
check "a stream that ends before its cluster does: qemu-img fails to read it" \
    sh -c "! qemu-img convert -O raw short.qcow2 short.raw 2>/dev/null"
"$V" convert -O raw short.qcow2 short.raw >short.out 2>&1
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <short.out)" -eq 1 ] &&
    grep -q "could not decompress the cluster at host offset" short.out; then
    ok "a stream that ends before its cluster does: vireo-img fails with one line"
else
    not_ok "a stream that ends before its cluster does: vireo-img fails with one line (rc $rc)"
    sed 's/^/# /' short.out
fi
finish
