#!/usr/bin/env python3
"""vhdx-dirty-log.py IMAGE - turns a VHDX image whose first payload block is
allocated into one that needs its log replayed, as a crash between logging
and applying a metadata update leaves it: a log entry (sequence 1..N, from
the VHDX specification's layout) holds the BAT sector that allocates block 0
and a zero descriptor for the block's second 4 KiB; the BAT sector in place
is put back to "block 0 is zero" and both headers name the log's GUID.
After a replay the image reads as before with that 4 KiB zeroed; without
one, block 0 reads as zeroes. Used by test-img-formats.sh against both
qemu-img and vireo-img."""
import os
import struct
import sys
import uuid

POLY = 0x82F63B78
TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ POLY if c & 1 else c >> 1
    TABLE.append(c)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def with_crc(buf, off):
    buf = bytearray(buf)
    buf[off:off + 4] = b'\0\0\0\0'
    buf[off:off + 4] = struct.pack('<I', crc32c(bytes(buf)))
    return bytes(buf)


path = sys.argv[1]
f = open(path, 'r+b')
data = f.read()
heads = [data[0x10000:0x11000], data[0x20000:0x21000]]
cur = max(range(2), key=lambda i: struct.unpack('<Q', heads[i][8:16])[0])
log_len, log_off = struct.unpack('<IQ', heads[cur][68:80])
rt = data[0x30000:0x40000]
regions = {}
for i in range(struct.unpack('<I', rt[8:12])[0]):
    e = rt[16 + 32 * i:48 + 32 * i]
    regions[e[:4]] = struct.unpack('<QI', e[16:28])
bat_off = regions[bytes.fromhex('6677c22d')][0]
bat_sector = data[bat_off:bat_off + 4096]
entry0 = struct.unpack('<Q', bat_sector[:8])[0]
assert entry0 & 7 == 6, 'block 0 must be allocated'
block_off = entry0 & ~0xFFFFF

log_guid = uuid.uuid4().bytes
seq = 0x1234
# One header sector (header + 2 descriptors) and one data sector.
descs = b''
descs += b'desc' + bat_sector[4092:4096] + bat_sector[:8] + struct.pack('<QQ', bat_off, seq)
descs += b'zero' + b'\0' * 4 + struct.pack('<QQQ', 4096, block_off + 4096, seq)
hdr = b'loge' + b'\0' * 4 + struct.pack('<IIQII', 8192, 0, seq, 2, 0) + log_guid + \
    struct.pack('<QQ', os.path.getsize(path), os.path.getsize(path))
sector0 = (hdr + descs).ljust(4096, b'\0')
dsec = b'data' + struct.pack('<I', seq >> 32) + bat_sector[8:4092] + struct.pack('<I', seq & 0xFFFFFFFF)
entry = with_crc(sector0 + dsec, 4)
f.seek(log_off)
f.write(entry)
# The BAT in place: block 0 back to ZERO, as before the update was applied.
f.seek(bat_off)
f.write(struct.pack('<Q', 2))
for i, off in enumerate((0x10000, 0x20000)):
    h = bytearray(heads[i])
    h[48:64] = log_guid
    h[8:16] = struct.pack('<Q', struct.unpack('<Q', h[8:16])[0] + 10)
    f.seek(off)
    f.write(with_crc(h, 4))
f.close()
