#!/usr/bin/env bash
# test-img-dmg.sh - Apple disk images (DMG), read-only, against the real
# qemu-img. No Debian tool writes DMG, so make-dmg.py builds them from a raw
# file: XML property lists and resource forks, two block tables, a data fork
# that does not start the file, zero/ignore/raw/zlib/bzip2 chunks.
#  - vireo-img reads every variant byte for byte as the raw file it came
#    from, with and without -f (the "koly" trailer is probed);
#  - qemu-img reads the same images the same (Debian's qemu-img has no
#    bzip2 module: the images with bzip2 chunks are checked against the raw
#    file only);
#  - info (text and JSON), map and compare print what qemu-img prints;
#  - a chunk type Vireo cannot decompress (lzfse), a sector no chunk covers,
#    a truncated trailer, a table pointing outside the file, an oversized
#    chunk: one line each, and nothing written;
#  - writing and creating are refused (a read-only format).
# $1 vireo-img.
. "$(dirname "$0")/lib.sh"
MK="python3 $(realpath "$(dirname "$0")")/make-dmg.py"

# qemu-img's lines about its missing modules are noise here.
qimg() { qemu-img "$@" 2>&1 | grep -v -e '^qemu: module' -e 'module is missing'; return "${PIPESTATUS[0]}"; }
same() {
    local d="$1"
    shift
    "$V" "$@" >v.out 2>&1; echo "rc=$?" >>v.out
    qimg "$@" >q.out; echo "rc=$?" >>q.out
    sed -i 's/vireo-img/qemu-img/g' v.out
    if diff -u q.out v.out >.diff; then ok "$d"; else not_ok "$d"; sed 's/^/# /' .diff | head -20; fi
}
reads() { "$V" convert -O raw "$@" "$T/.vraw" && cmp "$T/.vraw" src.raw; }
qreads() { qimg convert -O raw "$@" "$T/.qraw" && cmp "$T/.qraw" src.raw; }

make_mixed src.raw 6 17

$MK src.raw xml.dmg
$MK --kinds raw,zlib --fork-offset 4096 src.raw xmlq.dmg
$MK --rsrc --kinds zlib,raw --ignore src.raw rsrc.dmg
$MK --rsrc --kinds bzip2,raw,zlib --chunk 128 --fork-offset 1000 src.raw rsrcbz.dmg

check "dmg (plist; raw, zlib, bzip2 chunks): vireo reads the raw file back" reads -f dmg xml.dmg
check "dmg: probed from its trailer without -f" reads xml.dmg
check "dmg (plist, data fork at 4096): vireo reads it" reads xmlq.dmg
check "dmg (plist, data fork at 4096): qemu-img reads it the same" qreads -f dmg xmlq.dmg
check "dmg (resource fork, ignore entries): vireo reads it" reads rsrc.dmg
check "dmg (resource fork, ignore entries): qemu-img reads it the same" qreads -f dmg rsrc.dmg
check "dmg (resource fork, bzip2, 64 KiB chunks, odd fork offset): vireo reads it" reads rsrcbz.dmg
check "dmg: convert to qcow2, which qemu-img reads as the raw file" sh -c "'$V' convert -O qcow2 rsrcbz.dmg c.qcow2 && qemu-img convert -O raw c.qcow2 c.raw && cmp c.raw src.raw"
for img in xmlq.dmg rsrc.dmg; do
    same "dmg: info $img" info -f dmg "$img"
    same "dmg: info --output=json $img" info --output=json -f dmg "$img"
    same "dmg: map --output=json $img" map --output=json -f dmg "$img"
    same "dmg: check $img (not supported)" check -f dmg "$img"
    same "dmg: compare $img with the raw file" compare -f dmg -F raw "$img" src.raw
done

# Bad input: one line, nothing written.
$MK --kinds lzfse,zlib src.raw lzfse.dmg
"$V" convert -O raw lzfse.dmg out1.raw >o.txt 2>e.txt; rc=$?
check "dmg: an lzfse chunk fails the read with one line naming lzfse" sh -c "[ $rc -ne 0 ] && grep -q 'compressed with lzfse (type 0x80000007), which Vireo cannot decompress' e.txt"
check "dmg: an image with lzfse chunks still opens for info" "$V" info lzfse.dmg
$MK --hole 2100 src.raw hole.dmg
"$V" convert -O raw hole.dmg out2.raw >o.txt 2>e.txt; rc=$?
check "dmg: a sector in no chunk fails the read with one line" sh -c "[ $rc -ne 0 ] && grep -q 'sector 2048 is in no chunk of the DMG image' e.txt"
head -c -600 xml.dmg >cut.dmg
"$V" info -f dmg cut.dmg >o.txt 2>e.txt; rc=$?
check "dmg: a cut trailer is refused in one line" sh -c "[ $rc -ne 0 ] && [ \$(wc -l <e.txt) -eq 1 ] && grep -q 'Could not locate UDIF trailer in dmg file' e.txt"
# A table offset past the end of the file (the XML offset at 0xd8 of the trailer).
cp xml.dmg far.dmg
python3 - far.dmg <<'PY'
import os, struct, sys
f = open(sys.argv[1], "r+b"); size = os.path.getsize(sys.argv[1])
f.seek(size - 512 + 0xd8); f.write(struct.pack(">Q", size * 2))
PY
"$V" info -f dmg far.dmg >o.txt 2>e.txt; rc=$?
check "dmg: block tables outside the file are refused in one line" sh -c "[ $rc -ne 0 ] && [ \$(wc -l <e.txt) -eq 1 ] && grep -q 'the DMG block tables are not inside the file' e.txt"
# A chunk claiming more sectors than qemu's 64 MiB bound (the first data chunk
# of the first table, in the resource fork form where it is not base64).
python3 - rsrc.dmg big.dmg <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
m = b.find(b"mish")
n = struct.unpack(">I", b[m + 200:m + 204])[0]
e = next(m + 204 + 40 * i for i in range(n)
         if struct.unpack(">I", b[m + 204 + 40 * i:m + 208 + 40 * i])[0] in (1, 0x80000005))
b[e + 16:e + 24] = struct.pack(">Q", 1 << 20)
open(sys.argv[2], "wb").write(b)
PY
"$V" info -f dmg big.dmg >o.txt 2>e.txt; rc=$?
check "dmg: a chunk over 64 MiB is refused in one line" sh -c "[ $rc -ne 0 ] && grep -q 'is larger than max (131072)' e.txt"
"$V" create -f dmg x.dmg 1M >o.txt 2>e.txt; rc=$?
check "dmg: create refused in one line" sh -c "[ $rc -ne 0 ] && [ \$(wc -l <e.txt) -eq 1 ] && test ! -e x.dmg"
cp xml.dmg w.dmg
"$V" resize -f dmg w.dmg 10M >o.txt 2>e.txt; rc=$?
check "dmg: resize refused, the file unchanged" sh -c "[ $rc -ne 0 ] && cmp w.dmg xml.dmg"
finish
