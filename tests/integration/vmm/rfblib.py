"""rfblib.py - a small RFB (VNC) client for the display tests: the handshake
(security None, or VNC authentication with password=, either one inside TLS
through VeNCrypt's x509 subtypes with tls= an ssl.SSLContext), SetPixelFormat, SetEncodings, update requests with a local
framebuffer that applies Raw, CopyRect and ZRLE rectangles and the
DesktopSize pseudo-encoding, and key (keysym and QEMU extended) and pointer
events. Written from RFC 6143, so it checks the server's encoders
independently of the server's code; the stock client (gvnccapture) is used
beside it.
"""
import random
import socket
import struct
import time
import zlib

import vncdes

ENC_RAW, ENC_COPYRECT, ENC_ZRLE = 0, 1, 16
ENC_DESKTOP_SIZE, ENC_PTR_TYPE, ENC_EXT_KEY = -223, -257, -258


def free_display():
    """A VNC display number N whose port 5900+N is free on 127.0.0.1 now."""
    for _ in range(200):
        n = random.randint(40, 99)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", 5900 + n))
            return n
        except OSError:
            pass
        finally:
            s.close()
    raise SystemExit("no free VNC port")


class RfbError(Exception):
    pass


class Client:
    def __init__(self, addr, timeout=20, version=b"RFB 003.008\n", shared=True, password=None,
                 tls=None):
        fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        end = time.monotonic() + timeout
        while True:
            self.s = socket.socket(fam, socket.SOCK_STREAM)
            try:
                self.s.connect(addr)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)
        self.s.settimeout(timeout)
        self.bytes_in = 0
        self.ext_key_ack = False
        self.ptr_absolute = None
        server_version = self.recv(12)
        if not server_version.startswith(b"RFB 003."):
            raise RfbError("not an RFB server: %r" % server_version)
        self.s.sendall(version)
        minor = int(version[8:11])
        if minor >= 7:
            n = self.recv(1)[0]
            types = self.recv(n)
            if n == 0:
                raise RfbError(self.reason())
            self.security_types = list(types)
            if tls is not None and 19 in types:
                self.vencrypt(tls, password)
            elif password is not None and 2 in types:
                self.s.sendall(b"\x02")
                self.s.sendall(vncdes.vnc_response(password, self.recv(16)))
                self.result()
            elif 1 not in types:
                raise RfbError("security types %s: no None" % list(types))
            else:
                self.s.sendall(b"\x01")
                if minor >= 8:
                    self.result()
        else:
            t = struct.unpack(">I", self.recv(4))[0]
            if t == 0:
                raise RfbError(self.reason())
            if t != 1:
                raise RfbError("security type %d" % t)
        self.s.sendall(b"\x01" if shared else b"\x00")
        w, h = struct.unpack(">HH", self.recv(4))
        self.pf = self.recv(16)
        name_len = struct.unpack(">I", self.recv(4))[0]
        self.name = self.recv(name_len)
        self.w, self.h = w, h
        self.fb = [[0] * w for _ in range(h)]
        self.bpp = 4
        self.zlib = zlib.decompressobj()

    def vencrypt(self, tls, password):
        """VeNCrypt 0.2 (security type 19): the x509 subtype the server offers, TLS with
        tls (an ssl.SSLContext), then VNC authentication inside it when the subtype is
        x509vnc. self.subtypes keeps what the server offered."""
        self.s.sendall(b"\x13")
        if self.recv(2) != b"\x00\x02":
            raise RfbError("VeNCrypt: the server does not speak 0.2")
        self.s.sendall(b"\x00\x02")
        if self.recv(1) != b"\x00":
            raise RfbError("VeNCrypt: version 0.2 refused")
        n = self.recv(1)[0]
        self.subtypes = list(struct.unpack(">%dI" % n, self.recv(4 * n)))
        want = 261 if password is not None else 260  # x509vnc, x509none
        if want not in self.subtypes:
            raise RfbError("VeNCrypt subtypes %s: no %d" % (self.subtypes, want))
        self.s.sendall(struct.pack(">I", want))
        if self.recv(1) != b"\x01":
            raise RfbError("VeNCrypt: subtype %d refused" % want)
        self.s = tls.wrap_socket(self.s, server_hostname="127.0.0.1")
        if want == 261:
            self.s.sendall(vncdes.vnc_response(password, self.recv(16)))
        self.result()

    def recv(self, n):
        data = b""
        while len(data) < n:
            chunk = self.s.recv(n - len(data))
            if not chunk:
                raise RfbError("connection closed after %d of %d bytes" % (len(data), n))
            data += chunk
        self.bytes_in += n
        return data

    def reason(self):
        n = struct.unpack(">I", self.recv(4))[0]
        return self.recv(n).decode(errors="replace")

    def result(self):
        if struct.unpack(">I", self.recv(4))[0] != 0:
            raise RfbError("security failed: %s" % self.reason())

    def set_encodings(self, encs):
        self.s.sendall(struct.pack(">BBH", 2, 0, len(encs)) + b"".join(
            struct.pack(">i", e) for e in encs))

    def set_pixel_format_server(self):
        """32 bpp little-endian XRGB: pixels decode as 0x00RRGGBB."""
        pf = struct.pack(">BBBBHHHBBBxxx", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
        self.s.sendall(b"\x00\x00\x00\x00" + pf)

    def request(self, incremental=False, x=0, y=0, w=None, h=None):
        self.s.sendall(struct.pack(">BBHHHH", 3, 1 if incremental else 0, x, y,
                                   self.w if w is None else w, self.h if h is None else h))

    def key(self, keysym, down):
        self.s.sendall(struct.pack(">BBxxI", 4, 1 if down else 0, keysym))

    def ext_key(self, keysym, qnum, down):
        self.s.sendall(struct.pack(">BBHII", 255, 0, 1 if down else 0, keysym, qnum))

    def pointer(self, x, y, buttons=0):
        self.s.sendall(struct.pack(">BBHH", 5, buttons, x, y))

    def read_update(self):
        """Reads messages up to one FramebufferUpdate; returns its rectangles as
        (x, y, w, h, encoding)."""
        while True:
            t = self.recv(1)[0]
            if t == 0:
                break
            if t == 1:  # SetColourMapEntries
                _, _, n = struct.unpack(">BHH", self.recv(5))
                self.recv(6 * n)
            elif t == 2:  # Bell
                pass
            elif t == 3:  # ServerCutText
                self.recv(3)
                self.recv(struct.unpack(">I", self.recv(4))[0])
            else:
                raise RfbError("unknown server message %d" % t)
        self.recv(1)
        n = struct.unpack(">H", self.recv(2))[0]
        rects = []
        for _ in range(n):
            x, y, w, h, enc = struct.unpack(">HHHHi", self.recv(12))
            rects.append((x, y, w, h, enc))
            if enc == ENC_RAW:
                data = self.recv(w * h * 4)
                for j in range(h):
                    row = self.fb[y + j]
                    off = j * w * 4
                    row[x:x + w] = list(struct.unpack("<%dI" % w, data[off:off + w * 4]))
            elif enc == ENC_COPYRECT:
                sx, sy = struct.unpack(">HH", self.recv(4))
                block = [self.fb[sy + j][sx:sx + w] for j in range(h)]
                for j in range(h):
                    self.fb[y + j][x:x + w] = block[j]
            elif enc == ENC_ZRLE:
                length = struct.unpack(">I", self.recv(4))[0]
                self.zrle(x, y, w, h, self.zlib.decompress(self.recv(length)))
            elif enc == ENC_DESKTOP_SIZE:
                self.w, self.h = w, h
                self.fb = [[0] * w for _ in range(h)]
            elif enc == ENC_EXT_KEY:
                self.ext_key_ack = True
            elif enc == ENC_PTR_TYPE:
                self.ptr_absolute = x != 0
            else:
                raise RfbError("unexpected encoding %d" % enc)
        return rects

    def zrle(self, x, y, w, h, data):
        """Decodes ZRLE tiles (CPIXEL: 3 bytes, the server's format's low bytes)."""
        pos = 0

        def cpixel():
            nonlocal pos
            v = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16
            pos += 3
            return v

        for ty in range(y, y + h, 64):
            for tx in range(x, x + w, 64):
                tw, th = min(64, x + w - tx), min(64, y + h - ty)
                sub = data[pos]
                pos += 1
                pixels = []
                if sub == 0:
                    pixels = [cpixel() for _ in range(tw * th)]
                elif sub == 1:
                    pixels = [cpixel()] * (tw * th)
                elif 2 <= sub <= 16:
                    pal = [cpixel() for _ in range(sub)]
                    bits = 1 if sub == 2 else 2 if sub <= 4 else 4
                    for _ in range(th):
                        acc, nbits, row = 0, 0, []
                        for _ in range(tw):
                            if nbits == 0:
                                acc, nbits = data[pos], 8
                                pos += 1
                            nbits -= bits
                            row.append(pal[(acc >> nbits) & ((1 << bits) - 1)])
                        pixels += row
                elif sub == 128 or sub >= 130:
                    pal = [cpixel() for _ in range(sub - 128)] if sub >= 130 else None
                    while len(pixels) < tw * th:
                        if pal is None:
                            c, run = cpixel(), 1
                        else:
                            i = data[pos]
                            pos += 1
                            c, run = pal[i & 0x7f], 1
                            if not i & 0x80:
                                pixels.append(c)
                                continue
                        while True:
                            b = data[pos]
                            pos += 1
                            run += b
                            if b != 255:
                                break
                        pixels += [c] * run
                else:
                    raise RfbError("ZRLE subencoding %d" % sub)
                for j in range(th):
                    self.fb[ty + j][tx:tx + tw] = pixels[j * tw:(j + 1) * tw]

    def rgb(self):
        """The framebuffer as PPM pixel bytes (RGB)."""
        out = bytearray()
        for row in self.fb:
            for v in row:
                out += bytes(((v >> 16) & 255, (v >> 8) & 255, v & 255))
        return bytes(out)

    def close(self):
        self.s.close()


def ppm_pixels(path):
    """(width, height, RGB bytes) of a binary PPM."""
    data = open(path, "rb").read()
    parts = data.split(b"\n", 3)
    if parts[0] != b"P6":
        raise RfbError("%s: not a P6 PPM" % path)
    w, h = map(int, parts[1].split())
    return w, h, parts[3]


def png_pixels(path):
    """(width, height, RGB bytes) of an 8-bit RGB or RGBA PNG (every filter type)."""
    d = open(path, "rb").read()
    if d[:8] != b"\x89PNG\r\n\x1a\n":
        raise RfbError("%s: not a PNG" % path)
    pos, idat, w, h, ct = 8, b"", 0, 0, 2
    while pos < len(d):
        n = struct.unpack(">I", d[pos:pos + 4])[0]
        t, c = d[pos + 4:pos + 8], d[pos + 8:pos + 8 + n]
        pos += 12 + n
        if t == b"IHDR":
            w, h, _, ct = struct.unpack(">IIBB", c[:10])
        elif t == b"IDAT":
            idat += c
    raw = zlib.decompress(idat)
    bpp = {2: 3, 6: 4}[ct]
    stride = w * bpp
    out, prev, i = bytearray(), bytearray(stride), 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for k in range(stride):
            a = line[k - bpp] if k >= bpp else 0
            b = prev[k]
            c = prev[k - bpp] if k >= bpp else 0
            if f == 1:
                line[k] = (line[k] + a) & 255
            elif f == 2:
                line[k] = (line[k] + b) & 255
            elif f == 3:
                line[k] = (line[k] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[k] = (line[k] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        if bpp == 4:
            out += b"".join(bytes(line[k:k + 3]) for k in range(0, stride, 4))
        else:
            out += line
    return w, h, bytes(out)


def gvnccapture(target, out, password=None, timeout=30):
    """Runs the stock client gvnccapture; it reads a password from a terminal, so it gets
    a pty. The password is typed only once the prompt is out and the client has turned
    echo off: it does so with TCSAFLUSH, which throws away whatever was typed before."""
    import os
    import pty
    import select
    import subprocess
    import termios
    m, s = pty.openpty()
    p = subprocess.Popen(["gvnccapture", target, out], stdin=s, stdout=s, stderr=s,
                         start_new_session=True)
    os.close(s)
    buf, sent, end = b"", False, time.monotonic() + timeout
    prompt_at = None
    while time.monotonic() < end:
        r, _, _ = select.select([m], [], [], 0.05)
        if r:
            try:
                d = os.read(m, 4096)
            except OSError:
                d = b""
            buf += d
            if not d and p.poll() is not None:
                break
        elif p.poll() is not None:
            break
        if b"Password:" in buf and not sent:
            prompt_at = prompt_at or time.monotonic()
            echo_off = not (termios.tcgetattr(m)[3] & termios.ECHO)
            if echo_off or time.monotonic() - prompt_at > 5:
                os.write(m, ((password or "") + "\n").encode())
                sent = True
    if p.poll() is None:
        p.kill()
    p.wait()
    os.close(m)
    return p.returncode, buf.decode(errors="replace")
