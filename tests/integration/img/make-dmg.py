#!/usr/bin/env python3
"""make-dmg.py - writes an Apple UDIF disk image (.dmg) holding a raw file,
for the DMG tests: no tool on Debian creates DMG images (qemu-img only reads
them), so the tests make their own from the format's published layout.

  make-dmg.py [options] RAW OUT

The raw file is cut into chunks of --chunk sectors; each all-zero chunk
becomes a zero-fill (or "ignore") entry, the others cycle through the
chunk kinds given with --kinds (raw, zlib, bzip2, lzfse: lzfse entries
carry raw bytes under lzfse's type, for the "cannot decompress" case).
The sectors are split over two block tables ("mish", as two partitions
have) with the second using a non-zero data offset, and a comment entry
and the end marker close each table. --rsrc writes the tables into a
resource fork instead of the XML property list. --fork-offset N puts N
bytes before the data fork (chunk offsets count from the fork). --hole N leaves sector N's
chunk out of the tables (a sector no chunk covers).
"""
import argparse
import base64
import bz2
import plistlib
import struct
import zlib

UDZE, UDRW, UDIG, UDZO, UDBZ, ULFO, UDCM, UDLE = (
    0, 1, 2, 0x80000005, 0x80000006, 0x80000007, 0x7ffffffe, 0xffffffff)
KINDS = {"raw": UDRW, "zlib": UDZO, "bzip2": UDBZ, "lzfse": ULFO}


def mish(first, count, data_offset, entries):
    """A block table: its header, then 40-byte chunk entries."""
    h = b"mish" + struct.pack(">IQQQII", 1, first, count, data_offset, 0, len(entries))
    h += bytes(24)                      # reserved
    h += struct.pack(">II", 2, 32) + bytes(128)  # checksum (type CRC32, unused here)
    h += struct.pack(">I", len(entries))
    assert len(h) == 204
    for typ, sector, n, off, length in entries:
        h += struct.pack(">IIQQQQ", typ, 0, sector, n, off, length)
    return h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("out")
    ap.add_argument("--chunk", type=int, default=64, help="sectors per chunk")
    ap.add_argument("--kinds", default="raw,zlib,bzip2")
    ap.add_argument("--rsrc", action="store_true")
    ap.add_argument("--ignore", action="store_true", help="zero chunks as 'ignore' entries")
    ap.add_argument("--hole", type=int, default=-1)
    ap.add_argument("--fork-offset", type=int, default=0, help="bytes before the data fork")
    a = ap.parse_args()

    data = open(a.raw, "rb").read()
    assert len(data) % 512 == 0, "the raw file must be whole sectors"
    sectors = len(data) // 512
    kinds = [KINDS[k] for k in a.kinds.split(",")]
    split = (sectors // 2) // a.chunk * a.chunk  # the second table's first sector
    fork = bytearray()
    tables = []
    k = 0
    for first, last in ((0, split), (split, sectors)):
        base = len(fork)               # the table's data offset in the fork
        entries = []
        for s in range(first, last, a.chunk):
            n = min(a.chunk, last - s)
            if a.hole >= 0 and s <= a.hole < s + n:
                continue
            piece = data[s * 512:(s + n) * 512]
            if piece.count(0) == len(piece):
                entries.append((UDIG if a.ignore else UDZE, s - first, n, 0, 0))
                continue
            typ = kinds[k % len(kinds)]
            k += 1
            blob = {UDRW: piece, UDZO: zlib.compress(piece), UDBZ: bz2.compress(piece),
                    ULFO: piece}[typ]
            entries.append((typ, s - first, n, len(fork) - base, len(blob)))
            fork += blob
        entries.append((UDCM, 0, 0, 0, 0))
        entries.append((UDLE, last - first, 0, 0, 0))
        tables.append(mish(first, last - first, base, entries))

    out = bytearray(b"\xa5" * a.fork_offset) + fork
    rsrc_off = rsrc_len = xml_off = xml_len = 0
    if a.rsrc:
        body = b"".join(struct.pack(">I", len(t)) + t for t in tables)
        head = struct.pack(">IIII", 16, 16 + len(body), len(body), 0)
        rsrc_off, rsrc_len = len(out), len(head) + len(body)
        out += head + body
    else:
        plist = {"resource-fork": {"blkx": [
            {"Attributes": "0x0050", "CFName": "part %d" % i, "Data": t, "ID": str(i - 1),
             "Name": "part %d" % i} for i, t in enumerate(tables)],
            "plst": [{"Attributes": "0x0050", "Data": bytes(64), "ID": "0", "Name": ""}]}}
        xml = plistlib.dumps(plist)
        xml_off, xml_len = len(out), len(xml)
        out += xml
    koly = b"koly" + struct.pack(">III", 4, 512, 1)
    koly += struct.pack(">QQQQQ", 0, a.fork_offset, len(fork), rsrc_off, rsrc_len)
    koly += struct.pack(">II", 1, 1) + bytes(16)       # segment number, count, id
    koly += struct.pack(">II", 2, 32) + bytes(128)     # data fork checksum
    koly += struct.pack(">QQ", xml_off, xml_len) + bytes(120)
    koly += struct.pack(">II", 2, 32) + bytes(128)     # master checksum
    koly += struct.pack(">IQ", 1, sectors) + bytes(12)
    assert len(koly) == 512, len(koly)
    out += koly
    open(a.out, "wb").write(out)


if __name__ == "__main__":
    main()
