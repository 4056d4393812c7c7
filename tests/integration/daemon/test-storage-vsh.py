#!/usr/bin/env python3
"""test-storage-vsh.py - vsh and the stock virsh agree on every storage pool
and volume command: the same command sequence runs through virsh against one
vireod and through vsh against another (each under its own --root), and each
command's stdout, stderr and exit status must be the same once the roots'
paths and the pools' random UUIDs are masked. The downloads they make must be
byte-identical.

  test-storage-vsh.py VIREOD VIREO_VMM VSH

Prints TAP.
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, skip_all  # noqa: E402

VIREOD, VMM, VSH = sys.argv[1:4]
t = Tap()
if not shutil.which("virsh"):
    skip_all("no virsh")

COMMANDS = [
    "pool-list --all", "pool-list --all --details --name", "pool-info nosuch",
    "pool-define-as p1 dir --target {D}/p1", "pool-start p1", "pool-build p1", "pool-start p1",
    "pool-autostart p1", "pool-list --all", "pool-list --all --type dir --name",
    "pool-list --autostart --name", "pool-autostart p1 --disable", "pool-info p1",
    "pool-dumpxml --inactive p1", "pool-edit p1", "pool-dumpxml --inactive p1",
    "pool-uuid p1", "pool-name p1", "pool-refresh p1",
    "pool-capabilities", "pool-define-as p1 dir --target {D}/p1 --print-xml",
    "pool-define-as f fs --source-dev /dev/loop7 --source-format ext4 --target {D}/f --print-xml",
    "pool-define-as f fs --source-dev /dev/loop7 --target {D}/f --print-xml",
    "pool-define-as f2 fs --source-dev /dev/loop7 --target {D}/f2", "pool-list --all --type fs",
    "pool-dumpxml f2", "pool-undefine f2",
    "vol-create-as p1 a.raw 1M", "vol-create-as p1 sp.raw 1M --allocation 0",
    "vol-create-as p1 b.qcow2 4M --format qcow2 --backing-vol a.raw --backing-vol-format raw",
    "vol-create-as p1 c.qcow2 4M --format qcow2 --prealloc-metadata",
    "vol-create-as p1 d.raw 1M --prealloc-metadata", "vol-create-as p1 a.raw 1M",
    "vol-create-as p1 ../e 1M", "vol-create-as p1 x.qcow2 1M --format qcow2 --backing-vol nosuch",
    "vol-list p1", "vol-list p1 --details", "vol-info a.raw --pool p1",
    "vol-info --bytes b.qcow2 --pool p1", "vol-info nosuch", "vol-info nosuch --pool p1",
    "vol-dumpxml b.qcow2 --pool p1", "vol-upload a.raw {D}/up.bin --pool p1",
    "vol-download a.raw {D}/down.bin --pool p1",
    "vol-download a.raw {D}/part.bin --pool p1 --offset 1000 --length 5000",
    "vol-download sp.raw {D}/sparse.bin --pool p1 --sparse",
    "vol-create-as p1 ups.raw 16M --allocation 0",
    "vol-upload ups.raw {D}/sparse-src.bin --pool p1 --sparse",
    "vol-resize a.raw 2M --pool p1", "vol-resize a.raw 1M --pool p1",
    "vol-resize a.raw 1M --pool p1 --shrink", "vol-resize a.raw -1M --pool p1",
    "vol-resize a.raw 64K --pool p1 --delta", "vol-resize a.raw 64G --pool p1 --delta --shrink", "vol-clone a.raw a2.raw --pool p1",
    "vol-create-from p1 {D}/vol.xml a.raw --inputpool p1",
    "vol-create p1 {D}/vol2.xml --validate", "vol-wipe a2.raw --pool p1",
    "vol-wipe a2.raw --pool p1 --algorithm random", "vol-wipe a2.raw --pool p1 --algorithm dod",
    "vol-wipe a2.raw --pool p1 --algorithm nosuch", "vol-delete a2.raw --pool p1",
    "vol-delete a2.raw --pool p1", "vol-path a.raw --pool p1", "vol-key a.raw --pool p1",
    "vol-name {D}/p1/a.raw", "vol-pool {D}/p1/a.raw", "vol-pool --uuid {D}/p1/a.raw",
    "vol-name nosuch", "vol-list p1 --details",
    "vol-create-as p1 vm1.raw 1M", "vol-create-as p1 vm1b.qcow2 1M --format qcow2",
    "define {D}/vm1.xml", "undefine vm1 --remove-all-storage", "vol-list p1",
    "pool-delete p1", "pool-destroy p1", "pool-info p1", "pool-list --all --details",
    "pool-undefine p1", "pool-create {D}/pool.xml", "pool-destroy t2",
    "pool-define {D}/pool.xml --validate", "pool-start t2", "pool-destroy t2", "pool-undefine t2",
    "pool-create-as t1 dir --target {D}/t1 --build", "pool-list --transient --details",
    "pool-destroy t1", "pool-list --all --name",
]

a, b = Daemon(VIREOD, VMM), Daemon(VIREOD, VMM, VSH)
try:
    for d in (a, b):  # pool-edit's editor: one change, a mode for the directory
        d.env["EDITOR"] = ("sed -i 's|</path>|</path><permissions><mode>0750</mode>"
                           "</permissions>|'")
        d.env.pop("VISUAL", None)
    a.start()
    b.start()
    data = os.urandom(300000)
    for d in (a, b):
        open(os.path.join(d.tmp, "up.bin"), "wb").write(data)
        d.write("vol.xml", "<volume><name>from.raw</name><capacity>1048576</capacity>"
                           "<target><format type='raw'/></target></volume>\n")
        d.write("vol2.xml", "<volume><name>v2.qcow2</name><capacity unit='M'>2</capacity>"
                            "<target><format type='qcow2'/></target></volume>\n")
        d.write("pool.xml", "<pool type='dir'><name>t2</name><target><path>%s/t2</path>"
                            "</target></pool>\n" % d.tmp)
        os.makedirs(os.path.join(d.tmp, "t2"))
        d.write("vm1.xml", f"""<domain type='kvm'>
  <name>vm1</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type><kernel>/boot/k</kernel></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{d.tmp}/p1/vm1.raw'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='volume' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source pool='p1' volume='vm1b.qcow2'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
  </devices>
</domain>
""")
        with open(os.path.join(d.tmp, "sparse-src.bin"), "wb") as f:
            f.truncate(16 << 20)
            f.seek(5 << 20)
            f.write(data)

    def norm(d, text):
        text = text.replace(d.tmp, "D")
        return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "UUID",
                      text)

    def run(argv, env):
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        return r.stdout, r.stderr, r.returncode

    for c in COMMANDS:
        va = run(["virsh", "-c", a.uri] + c.format(D=a.tmp).split(), a.env)
        vb = run([VSH, "-c", b.vsh_uri] + c.format(D=b.tmp).split(), b.env)
        va = tuple(norm(a, x) if isinstance(x, str) else x for x in va)
        vb = tuple(norm(b, x) if isinstance(x, str) else x for x in vb)
        if c.startswith("pool-"):  # a pool's sizes are the host file system's, which moves
            va = tuple(re.sub(r"\d+\.\d\d [KMGTPE]?i?B", "SIZE", x) if isinstance(x, str)
                       else x for x in va)
            vb = tuple(re.sub(r"\d+\.\d\d [KMGTPE]?i?B", "SIZE", x) if isinstance(x, str)
                       else x for x in vb)
        t.ok(va == vb, "vsh %s: as virsh" % c,
             "virsh: %r\nvsh:   %r" % (va, vb))
    for f in ("down.bin", "part.bin", "sparse.bin"):
        fa, fb = os.path.join(a.tmp, f), os.path.join(b.tmp, f)
        t.ok(os.path.exists(fa) and open(fa, "rb").read() == open(fb, "rb").read(),
             "vsh's and virsh's vol-download %s are the same bytes" % f)
    t.ok(open(os.path.join(a.tmp, "down.bin"), "rb").read()[:len(data)] == data,
         "the download holds the upload")
    ua, ub = os.path.join(a.tmp, "p1", "ups.raw"), os.path.join(b.tmp, "p1", "ups.raw")
    src = open(os.path.join(a.tmp, "sparse-src.bin"), "rb").read()
    t.ok(os.path.exists(ub) and open(ua, "rb").read() == src and open(ub, "rb").read() == src and
         os.stat(ub).st_blocks * 512 < 4 << 20,
         "vol-upload --sparse: vsh's and virsh's volumes hold the file, vsh's holes kept")
    sb = os.path.join(b.tmp, "sparse.bin")
    t.ok(os.path.getsize(sb) == 1 << 20 and os.stat(sb).st_blocks * 512 < 1 << 20,
         "vsh vol-download --sparse leaves the zeroes as holes")
except Exception as e:  # a crash is a failure, with its reason
    t.ok(False, "the test ran to its end", repr(e))
finally:
    a.cleanup()
    b.cleanup()
t.done()
