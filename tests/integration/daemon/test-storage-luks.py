#!/usr/bin/python3
"""Encrypted volumes (issue #18): vol-create with <target><encryption format='luks'><secret
type='passphrase' .../></encryption> in a dir pool, keyed by a secret of vireod's.

Usage: test-storage-luks.py VIREOD VIREO_VMM TESTGUEST_ELF

Through the stock virsh: a raw volume with LUKS encryption (a luks image, as libvirt makes it
with qemu-img create -f luks) and a qcow2 one (encrypt.format=luks). vol-dumpxml shows them as
libvirt does (raw or qcow2 with <encryption format='luks'> and the secret whose usage is the
volume). The real qemu-img opens each with the passphrase (info, and check for qcow2) and refuses
a wrong one; it writes a pseudo-random image into the raw volume, and the test guest (blk-crc32) on a
domain whose disk is that volume reads the decrypted content (its CRC-32). The passphrase is in
no file of vireod's run or lib directories but the secret store's own. A missing secret, one
without a value, <encryption> without a secret, an unsupported format and an <encryption>
outside <target> each fail in one line and leave no file behind. Prints TAP.
"""
import base64
import os
import random
import re
import subprocess
import sys
import zlib

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from daemonlib import Daemon, Tap, domain_xml, wait_for  # noqa: E402

VIREOD, VMM, GUEST = sys.argv[1:4]
GUEST = os.path.abspath(GUEST)
t = Tap()

PASS = "vol-luks-passphrase-18"
U_RAW = "3c1f8e2a-7b4d-4e5f-9a0b-1c2d3e4f5a01"
U_QCOW = "3c1f8e2a-7b4d-4e5f-9a0b-1c2d3e4f5a02"
U_NOVALUE = "3c1f8e2a-7b4d-4e5f-9a0b-1c2d3e4f5a03"
U_MISSING = "3c1f8e2a-7b4d-4e5f-9a0b-1c2d3e4f5a04"
SIZE = 4 << 20


def vol_xml(name, fmt, enc):
    return (f"<volume><name>{name}</name><capacity>{SIZE}</capacity>"
            f"<target><format type='{fmt}'/>{enc}</target></volume>")


def enc(attr):
    return f"<encryption format='luks'><secret type='passphrase' {attr}/></encryption>"


def qemu_img(*args):
    return subprocess.run(["qemu-img"] + list(args), capture_output=True, text=True, timeout=300)


d = Daemon(VIREOD, VMM)
d.start()
try:
    images = os.path.join(d.root, "lib", "images")
    raw_path, qcow_path = os.path.join(images, "enc.img"), os.path.join(images, "enc.qcow2")
    for uuid, usage, value in ((U_RAW, raw_path, PASS), (U_QCOW, qcow_path, PASS),
                               (U_NOVALUE, "/none.img", None)):
        x = d.write(uuid + ".xml", f"<secret><uuid>{uuid}</uuid><usage type='volume'>"
                                   f"<volume>{usage}</volume></usage></secret>")
        r = d.virsh("secret-define", x)
        if r.returncode == 0 and value:
            r = d.virsh("secret-set-value", uuid, base64.b64encode(value.encode()).decode())
        t.ok(r.returncode == 0, f"secret {uuid} defined", r.stderr)

    r = d.virsh("vol-create", "default", d.write("raw.xml", vol_xml(
        "enc.img", "raw", enc(f"uuid='{U_RAW}'"))))
    t.ok(r.returncode == 0 and os.path.exists(raw_path),
         "vol-create of a raw LUKS volume", r.stdout + r.stderr)
    r = d.virsh("vol-create", "default", d.write("qcow.xml", vol_xml(
        "enc.qcow2", "qcow2", enc(f"usage='{qcow_path}'"))))
    t.ok(r.returncode == 0, "vol-create of a qcow2 volume with LUKS encryption (secret by usage)",
         r.stdout + r.stderr)

    for name, fmt, uuid in (("enc.img", "raw", U_RAW), ("enc.qcow2", "qcow2", U_QCOW)):
        x = d.virsh("vol-dumpxml", name, "--pool", "default").stdout
        t.ok(f"<format type='{fmt}'/>" in x and
             f"<encryption format='luks'>\n      <secret type='passphrase' uuid='{uuid}'/>\n"
             "    </encryption>\n  </target>" in x and
             f"<capacity unit='bytes'>{SIZE}</capacity>" in x,
             f"vol-dumpxml {name}: {fmt} with <encryption format='luks'> and its secret", x)

    with open(raw_path, "rb") as f:
        head = f.read(6)
    t.ok(head == b"LUKS\xba\xbe", "the raw volume is a LUKS image", repr(head))
    pfile = d.write("pass", PASS)
    wfile = d.write("wrong", "not the passphrase")
    # the real qemu-img opens both with the passphrase, and refuses a wrong one
    for path, drv, key in ((raw_path, "luks", "key-secret"),
                           (qcow_path, "qcow2", "encrypt.key-secret")):
        opts = f"driver={drv},{key}=s0,file.filename={path}"
        r = qemu_img("info", "--object", f"secret,id=s0,file={pfile}", "--image-opts", opts)
        t.ok(r.returncode == 0 and f"virtual size: 4 MiB ({SIZE} bytes)" in r.stdout and
             "encrypted: yes" in r.stdout,
             f"qemu-img info opens {os.path.basename(path)} with the passphrase",
             r.stdout + r.stderr)
        if drv == "qcow2":  # qemu-img has no check for the luks format
            r = qemu_img("check", "--object", f"secret,id=s0,file={pfile}", "--image-opts",
                         opts)
            t.ok(r.returncode == 0 and "No errors were found" in r.stdout,
                 f"qemu-img check {os.path.basename(path)} with the passphrase",
                 r.stdout + r.stderr)
        r = qemu_img("convert", "--object", f"secret,id=s0,file={wfile}", "--image-opts", opts,
                     "-O", "raw", os.path.join(d.tmp, "wrong.raw"))
        t.ok(r.returncode != 0 and "Invalid password" in r.stderr,
             f"qemu-img refuses {os.path.basename(path)} with a wrong passphrase", r.stderr)

    # data written by qemu-img through the encryption; the guest reads it decrypted
    rng = random.Random(1819)
    src = os.path.join(d.tmp, "src.raw")
    data = bytes(rng.getrandbits(8) for _ in range(SIZE))
    open(src, "wb").write(data)
    want = "%08x" % (zlib.crc32(data) & 0xffffffff)
    r = qemu_img("convert", "-n", "--object", f"secret,id=s0,file={pfile}", "-f", "raw", src,
                 "--target-image-opts", f"driver=luks,key-secret=s0,file.filename={raw_path}")
    t.ok(r.returncode == 0, "qemu-img writes the test image into the encrypted volume", r.stderr)
    with open(raw_path, "rb") as f:
        t.ok(data[:4096] not in f.read(), "the volume holds no plain data")
    devices = ("    <disk type='volume' device='disk'><driver name='qemu' type='raw'/>"
               "<source pool='default' volume='enc.img'/><target dev='vda' bus='virtio'/>"
               f"{enc(f'uuid={chr(39)}{U_RAW}{chr(39)}')}</disk>\n")
    d.virsh("define", d.write("vm.xml", domain_xml("lukvol", GUEST, "blk-crc32", devices)))
    r = d.virsh("start", "lukvol")
    t.ok(r.returncode == 0, "a domain on the encrypted volume starts", r.stderr)
    # a loaded host may take long: the LUKS key derivation at open is 2 s of CPU by design
    wait_for(lambda: re.search(r"^crc32=[0-9a-f]{8}", d.console_log("lukvol"), re.M), 300, 0.2)
    m = re.search(r"^crc32=([0-9a-f]{8})", d.console_log("lukvol"), re.M)
    t.ok(m and m.group(1) == want, f"the guest reads the decrypted content ({want})",
         d.console_log("lukvol")[-500:])
    leaked = []
    for top in (os.path.join(d.root, "run"), os.path.join(d.root, "lib"),
                os.path.join(d.root, "log")):
        for dirpath, _, files in os.walk(top):
            for f in files:
                p = os.path.join(dirpath, f)
                if "secrets" in p.split(os.sep):
                    continue  # the secret store itself (0600, as libvirtd keeps it)
                try:
                    if PASS.encode() in open(p, "rb").read():
                        leaked.append(p)
                except OSError:
                    pass
    t.ok(leaked == [], "the passphrase is in no other file of vireod's", repr(leaked))
    d.virsh("destroy", "lukvol")
    d.virsh("undefine", "lukvol")

    # refusals: one line, nothing left behind
    bad = (("missing", vol_xml("b1.img", "raw", enc(f"uuid='{U_MISSING}'")),
            f"error: Secret not found: no secret with matching uuid '{U_MISSING}'"),
           ("novalue", vol_xml("b2.img", "raw", enc(f"uuid='{U_NOVALUE}'")),
            f"error: Secret not found: secret '{U_NOVALUE}' does not have a value"),
           ("nousage", vol_xml("b3.img", "raw", enc("usage='/nowhere.img'")),
            "error: Secret not found: no secret with matching usage '/nowhere.img'"),
           ("nosecret", vol_xml("b4.img", "raw", "<encryption format='luks'/>"),
            "error: XML error: no secret provided for luks encryption"),
           ("vmdk", vol_xml("b5.img", "vmdk", enc(f"uuid='{U_RAW}'")),
            "error: unsupported configuration: volume encryption unsupported with format vmdk"),
           ("qcow-aes", vol_xml("b6.img", "qcow2", "<encryption format='qcow'/>"),
            "error: unsupported configuration: volume encryption format 'qcow' is not supported "
            "(luks is)"),
           ("outside", f"<volume><name>b7.img</name><capacity>{SIZE}</capacity>"
                       f"{enc(f'uuid={chr(39)}{U_RAW}{chr(39)}')}</volume>",
            "error: unsupported configuration: a volume's <encryption> belongs in its <target>"))
    for label, xml, msg in bad:
        r = d.virsh("vol-create", "default", d.write(label + ".xml", xml))
        lines = r.stderr.strip().split("\n")
        name = re.search(r"<name>(.*?)</name>", xml).group(1)
        t.ok(r.returncode != 0 and lines[-1] == msg and len(lines) == 2 and
             not os.path.exists(os.path.join(images, name)),
             f"vol-create refused ({label}) in one line, no file made: {lines[-1]}", r.stderr)
finally:
    rc = d.stop()
t.ok(rc == 0, "vireod exits 0 (a sanitizer build: no leak, no error)", "rc %s" % rc)
t.done()
