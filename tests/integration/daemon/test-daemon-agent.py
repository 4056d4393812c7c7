#!/usr/bin/python3
"""test-daemon-agent.py - the guest agent through vireod, end to end: the test guest answers as
a QEMU guest agent (tests=agent, t-agent.c) on the org.qemu.guest_agent.0 virtio-serial port of
a domain whose <channel type='unix'> has no path (the daemon gives it one), and the stock virsh,
vsh and libvirt-python drive it.

  test-daemon-agent.py VIREOD VIREO_VMM TESTGUEST_ELF VSH

Checked: the live XML (the socket path under the run dir, the virtio-serial address, the
target's state turning 'connected' once the guest opens its port); the AGENT_LIFECYCLE event
(connected, reason channel); domtime with both clients (the guest's CMOS clock, i.e. the
host's), --time then back with --sync; qemu-agent-command guest-ping and an unknown command's
error in libvirt's words; domfsinfo, domifaddr --source agent and guestinfo (every category,
and --filesystem, --disk, --interface) from the guest's own virtio disk and NIC, with virsh,
vsh and libvirt-python; guestvcpus and setvcpus --guest on a 2-vCPU guest, and their
refusals; shutdown --mode agent powering the guest off through guest-shutdown.
A second domain with only an org.libguestfs.channel.0 channel keeps libvirt's refusal, "QEMU
guest agent is not configured", for domtime, qemu-agent-command and shutdown --mode agent.
Run by Debian's /usr/bin/python3 (python3-libvirt). Waits poll with generous limits; nothing
asserts a timing.
"""
import os
import re
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemonlib import Daemon, Tap, domain_xml, skip_all, wait_for  # noqa: E402

VIREOD, VMM, GUEST, VSH = sys.argv[1:5]
GUEST = os.path.abspath(GUEST)
t = Tap()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip_all("no /dev/kvm")
if not shutil.which("virsh"):
    skip_all("no virsh")
import libvirt  # noqa: E402

AGENT = """    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
"""
OTHER = """    <channel type='unix'>
      <target type='virtio' name='org.libguestfs.channel.0'/>
    </channel>
"""
NOT_CONFIGURED = "error: argument unsupported: QEMU guest agent is not configured"
MAC = "52:54:00:a6:00:01"


class Events:
    def __init__(self, conn):
        self.lock = threading.Lock()
        self.got = []
        conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE, self.cb,
                                    None)

    def cb(self, conn, dom, state, reason, opaque):
        with self.lock:
            self.got.append((dom.name(), state, reason))

    def has(self, item):
        with self.lock:
            return item in self.got


def loop_forever():
    while True:
        libvirt.virEventRunDefaultImpl()


def errline(r):
    lines = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    return lines[-1] if lines else ""


def virsh_loud(*args):
    """virsh without -q, for the lines it prints only then (Froze N filesystem(s))."""
    return subprocess.run(["virsh", "-c", d.uri] + list(args), env=d.env, capture_output=True,
                          text=True, timeout=300)


def vsh_loud(*args):
    """vsh without -q, to compare those lines with virsh's."""
    return subprocess.run([VSH, "-c", d.vsh_uri] + list(args), env=d.env, capture_output=True,
                          text=True, timeout=300)


def domtime(out):
    m = re.match(r"Time: (\d+)\s*$", out)
    return int(m.group(1)) if m else None


d = Daemon(VIREOD, VMM, VSH)
try:
    d.start()
    libvirt.virEventRegisterDefaultImpl()
    threading.Thread(target=loop_forever, daemon=True).start()
    conn = libvirt.open(d.uri)
    ev = Events(conn)

    disk = os.path.join(d.tmp, "ag.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "16M"], check=True)
    DISK = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""
    NIC = f"""    <interface type='user'>
      <mac address='{MAC}'/>
      <model type='virtio'/>
    </interface>
"""
    # two vCPUs, for guestvcpus and setvcpus --guest
    x = d.write("ag.xml", domain_xml("ag", GUEST, "tests=agent agent_idle=900",
                                     DISK + NIC + AGENT).replace("<vcpu>1</vcpu>",
                                                                 "<vcpu>2</vcpu>"))
    r = d.virsh("define", x)
    t.ok(r.returncode == 0, "a domain with an agent channel defines", r.stderr)
    r = d.virsh("start", "ag")
    t.ok(r.returncode == 0, "and starts", r.stderr + d.vmm_log("ag"))
    live = d.virsh("dumpxml", "ag").stdout
    path = os.path.join(d.root, "run", "channel", "target", "domain-1-ag",
                        "org.qemu.guest_agent.0")
    t.ok(f"<source mode='bind' path='{path}'/>" in live,
         "the live XML has the socket path the daemon gave it", live)
    t.ok("<address type='virtio-serial' controller='0' bus='0' port='1'/>" in live and
         "<controller type='virtio-serial' index='0'>" in live,
         "the channel is port 1 of virtio-serial controller 0", live)
    t.ok(os.path.exists(path), "vireo-vmm listens on that socket")

    # Before the guest opens its port the agent is not there.
    opened = wait_for(lambda: "agent: port 1 opened" in d.console_log("ag"), 300)
    t.ok(opened, "the guest found its port named org.qemu.guest_agent.0 and opened it",
         d.console_log("ag")[-2000:])
    connected = wait_for(lambda: "state='connected'" in d.virsh("dumpxml", "ag").stdout, 60)
    t.ok(connected, "the live XML shows the channel connected (VSERPORT_CHANGE)",
         d.virsh("dumpxml", "ag").stdout)
    t.ok(wait_for(lambda: ev.has(("ag", 1, 2)), 30),
         "libvirt-python hears AGENT_LIFECYCLE connected (reason channel)", str(ev.got))

    # domtime: the guest's clock is its CMOS clock, which the VMM set from the host's.
    r = d.virsh("domtime", "ag", timeout=300)
    got = domtime(r.stdout)
    t.ok(r.returncode == 0 and got is not None and abs(got - time.time()) < 3600,
         "virsh domtime reads the guest's clock (%s)" % r.stdout.strip(), r.stderr)
    r = d.vsh("domtime", "ag", timeout=300)
    got = domtime(r.stdout)
    t.ok(r.returncode == 0 and got is not None and abs(got - time.time()) < 3600,
         "vsh domtime reads it too (%s)" % r.stdout.strip(), r.stderr)
    r = d.virsh("domtime", "ag", "--time", "1000000000", timeout=300)
    t.ok(r.returncode == 0, "virsh domtime --time sets the guest's clock", r.stderr)
    got = domtime(d.virsh("domtime", "ag", timeout=300).stdout)
    t.ok(got is not None and 1000000000 <= got < 1000000000 + 3600,
         "the guest's clock reads what was set (%s)" % got)
    r = d.vsh("domtime", "ag", "--sync", timeout=300)
    t.ok(r.returncode == 0, "vsh domtime --sync resets it from the guest's RTC", r.stderr)
    got = domtime(d.vsh("domtime", "ag", timeout=300).stdout)
    t.ok(got is not None and abs(got - time.time()) < 3600,
         "the guest's clock is the RTC's again (%s)" % got)
    dom = conn.lookupByName("ag")
    secs = dom.getTime()["seconds"]
    t.ok(abs(secs - time.time()) < 3600, "libvirt-python's getTime agrees (%d)" % secs)

    # qemu-agent-command: the whole reply, compact, as libvirt returns it.
    r = d.virsh("qemu-agent-command", "ag", '{"execute":"guest-ping"}', timeout=300)
    t.ok(r.returncode == 0 and r.stdout.strip() == '{"return":{}}',
         "virsh qemu-agent-command guest-ping prints {\"return\":{}}", r.stdout + r.stderr)
    r = d.vsh("qemu-agent-command", "ag", '{"execute":"guest-ping"}', timeout=300)
    t.ok(r.returncode == 0 and r.stdout.strip() == '{"return":{}}',
         "vsh qemu-agent-command guest-ping prints the same", r.stdout + r.stderr)
    rv = d.virsh("qemu-agent-command", "ag", "--pretty", '{"execute":', '"guest-info"}',
                 timeout=300)
    rs = d.vsh("qemu-agent-command", "ag", "--pretty", '{"execute":', '"guest-info"}',
               timeout=300)
    t.ok(rv.returncode == 0 and rs.returncode == 0 and rv.stdout == rs.stdout,
         "qemu-agent-command --pretty (words joined): vsh prints what virsh prints",
         "virsh:\n" + rv.stdout + rv.stderr + "vsh:\n" + rs.stdout + rs.stderr)
    for args, want in ((["--timeout", "0"], "error: timeout must be positive"),
                       (["--async", "--block"],
                        "error: timeout, async and block options are exclusive")):
        rv = d.virsh("qemu-agent-command", "ag", *args, '{"execute":"guest-ping"}')
        rs = d.vsh("qemu-agent-command", "ag", *args, '{"execute":"guest-ping"}')
        t.ok(errline(rv) == want and errline(rs) == want,
             "qemu-agent-command %s: virsh's refusal in both" % " ".join(args),
             rv.stderr + rs.stderr)
    r = d.virsh("qemu-agent-command", "ag", "--timeout", "120", '{"execute":"guest-info"}',
                timeout=300)
    t.ok(r.returncode == 0 and '"version":"vireo-testguest"' in r.stdout,
         "qemu-agent-command --timeout guest-info", r.stdout + r.stderr)
    r = d.virsh("qemu-agent-command", "ag", '{"execute":"guest-bogus"}', timeout=300)
    t.ok(r.returncode != 0 and errline(r) ==
         "error: internal error: unable to execute QEMU agent command 'guest-bogus': "
         "The command guest-bogus has not been found",
         "an unknown agent command fails in libvirt's words", r.stderr)
    # filesystems and interfaces: the test guest's agent describes its virtio disk as one file
    # system on / and its virtio NIC as eth0 (t-agent.c)
    r = virsh_loud("domfsfreeze", "ag")
    t.ok(r.returncode == 0 and r.stdout.strip() == "Froze 1 filesystem(s)",
         "virsh domfsfreeze through the agent", r.stdout + r.stderr)
    r = virsh_loud("domfsthaw", "ag")
    t.ok(r.returncode == 0 and r.stdout.strip() == "Thawed 1 filesystem(s)",
         "virsh domfsthaw through the agent", r.stdout + r.stderr)
    for tool in ("virsh", VSH):
        rv = subprocess.run([tool, "-c", d.uri if tool == "virsh" else d.vsh_uri, "domfsfreeze",
                             "ag", "/"], env=d.env, capture_output=True, text=True, timeout=300)
        t.ok(rv.returncode == 0 and rv.stdout.strip() == "Froze 1 filesystem(s)" and
             wait_for(lambda: "guest-fsfreeze-freeze-list answered" in d.console_log("ag"), 60),
             "%s domfsfreeze with a mountpoint" % os.path.basename(tool), rv.stdout + rv.stderr)
    rs = subprocess.run([VSH, "-c", d.vsh_uri, "domfsthaw", "ag"], env=d.env,
                        capture_output=True, text=True, timeout=300)
    t.ok(rs.returncode == 0 and rs.stdout.strip() == "Thawed 1 filesystem(s)",
         "vsh domfsthaw", rs.stdout + rs.stderr)
    r = d.virsh("domfsthaw", "ag", "--mountpoint", "/", timeout=300)
    t.ok(r.returncode != 0 and errline(r) ==
         "error: argument unsupported: specifying mountpoints is not supported",
         "domfsthaw with a mountpoint: libvirt's refusal", r.stderr)
    # domfsinfo: the guest's file system on its disk, named vda by the PCI address the guest
    # found the disk at; virsh's table in both clients and libvirt-python's list
    res = {}
    for tool in ("virsh", VSH):
        res[tool] = subprocess.run([tool, "-c", d.uri if tool == "virsh" else d.vsh_uri,
                                    "domfsinfo", "ag"], env=d.env, capture_output=True,
                                   text=True, timeout=300)
    rv, rs = res["virsh"], res[VSH]
    rows = [x.split() for x in rv.stdout.splitlines()[2:] if x.strip()]
    t.ok(rv.returncode == 0 and rows == [["/", "vda", "vireo-testfs", "vda"]],
         "virsh domfsinfo: / on vda, the domain's disk vda", repr((rv.returncode, rv.stdout,
                                                                    rv.stderr)))
    t.ok((rs.returncode, rs.stdout, rs.stderr) == (rv.returncode, rv.stdout, rv.stderr),
         "vsh domfsinfo prints what virsh prints",
         repr((rs.returncode, rs.stdout, rs.stderr, rv.stdout)))
    t.ok(conn.lookupByName("ag").fsInfo() == [("/", "vda", "vireo-testfs", ["vda"])],
         "fsInfo() gives the same", repr(conn.lookupByName("ag").fsInfo()))
    r = d.virsh("domifaddr", "ag", "--source", "agent", timeout=300)
    t.ok(r.returncode == 0 and [x.split() for x in r.stdout.splitlines() if x.strip()] ==
         [["eth0", MAC, "N/A", "N/A"]] and
         wait_for(lambda: "guest-network-get-interfaces answered (eth0)" in d.console_log("ag"),
                  60),
         "virsh domifaddr --source agent: eth0 with the NIC's MAC, no address",
         r.stdout + r.stderr)

    # guestinfo: every category the agent has (guest-get-users is not among the test guest's,
    # so it is left out), as virsh prints it, from vsh too; the disk's capacity (16 MiB) is what
    # the guest read from its virtio-blk config
    OS = ["os.id               : vireo-testguest", "os.name             : Vireo test guest",
          "os.pretty-name      : Vireo test guest", "os.machine          : x86_64"]
    TZ = ["timezone.name       : UTC", "timezone.offset     : 0"]
    HOST = ["hostname            : vireo-testguest"]
    FS = ["fs.count            : 1", "fs.0.name           : vda",
          "fs.0.mountpoint     : /", "fs.0.fstype         : vireo-testfs",
          "fs.0.total-bytes    : 16777216", "fs.0.used-bytes     : 0",
          "fs.0.disk.count     : 1", "fs.0.disk.0.alias   : vda",
          "fs.0.disk.0.device  : /dev/vda"]
    DISKS = ["disk.count          : 1", "disk.0.name         : /dev/vda",
             "disk.0.partition    : no", "disk.0.dependency.count: 0",
             "disk.0.alias        : vda"]
    IFS = ["if.count            : 1", "if.0.name           : eth0",
           "if.0.hwaddr         : " + MAC, "if.0.addr.count     : 0"]

    def lines(out):
        return [x.rstrip() for x in out.splitlines() if x.strip()]

    for args, want in (([], OS + TZ + HOST + FS + DISKS + IFS), (["--hostname"], HOST),
                       (["--filesystem"], FS), (["--disk"], DISKS), (["--interface"], IFS),
                       (["--interface", "--os", "--disk"], OS + DISKS + IFS)):
        rv = d.virsh("guestinfo", "ag", *args, timeout=300)
        rs = d.vsh("guestinfo", "ag", *args, timeout=300)
        t.ok(rv.returncode == 0 and lines(rv.stdout) == want,
             "virsh guestinfo %s" % " ".join(args), rv.stdout + rv.stderr)
        t.ok((rs.returncode, rs.stdout, rs.stderr) == (rv.returncode, rv.stdout, rv.stderr),
             "vsh guestinfo %s prints what virsh prints" % " ".join(args),
             repr((rs.stdout, rs.stderr)))
    # a category asked for that the agent lacks: libvirt's error, in both
    want = ("error: internal error: unable to execute QEMU agent command 'guest-get-users': "
            "The command guest-get-users has not been found")
    rv = d.virsh("guestinfo", "ag", "--user", "--hostname", timeout=300)
    rs = d.vsh("guestinfo", "ag", "--user", "--hostname", timeout=300)
    t.ok(rv.returncode == 1 and errline(rv) == want and rs.returncode == 1 and
         errline(rs) == want, "guestinfo --user: the agent lacks it, libvirt's error",
         rv.stderr + rs.stderr)
    info = dom.guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_FILESYSTEM |
                         libvirt.VIR_DOMAIN_GUEST_INFO_DISKS |
                         libvirt.VIR_DOMAIN_GUEST_INFO_INTERFACES)
    t.ok(info.get("fs.count") == 1 and info.get("fs.0.total-bytes") == 16777216 and
         info.get("disk.0.partition") is False and info.get("disk.0.alias") == "vda" and
         info.get("if.0.hwaddr") == MAC and info.get("if.0.addr.count") == 0,
         "libvirt-python's guestInfo() has the typed values", repr(info))

    # guestvcpus and setvcpus --guest: the guest's agent keeps an online flag per vCPU (the
    # test guest cannot really offline one: its second vCPU is never started) and vCPU 0
    # cannot go offline, as on Linux
    def vcpus(tool):
        r = (d.virsh if tool == "virsh" else d.vsh)("guestvcpus", "ag", timeout=300)
        return r.returncode, lines(r.stdout), r.stderr

    def want_vcpus(online):
        return (0, ["vcpus          : 0-1", "online         : " + online,
                    "offlinable     : 1"], "")

    t.ok(vcpus("virsh") == want_vcpus("0-1") and vcpus("vsh") == want_vcpus("0-1"),
         "guestvcpus: vcpus 0-1, online 0-1, offlinable 1 (virsh and vsh)",
         repr((vcpus("virsh"), vcpus("vsh"))))
    r = d.virsh("guestvcpus", "ag", "--cpulist", "1", "--disable", timeout=300)
    t.ok(r.returncode == 0 and vcpus("vsh") == want_vcpus("0") and
         wait_for(lambda: "agent: vCPU 1 set offline" in d.console_log("ag"), 60),
         "virsh guestvcpus --cpulist 1 --disable: the guest's vCPU 1 goes offline",
         r.stderr + repr(vcpus("vsh")))
    r = d.vsh("guestvcpus", "ag", "--cpulist", "1", "--enable", timeout=300)
    t.ok(r.returncode == 0 and vcpus("virsh") == want_vcpus("0-1"),
         "vsh guestvcpus --cpulist 1 --enable: back online", r.stderr + repr(vcpus("virsh")))
    for args, want in ((["--cpulist", "0", "--disable"],
                        "error: Operation not supported: vCPU '0' is not offlinable"),
                       (["--cpulist", "1,5", "--enable"],
                        "error: invalid argument: guest is missing vCPUs '5'")):
        rv = d.virsh("guestvcpus", "ag", *args, timeout=300)
        rs = d.vsh("guestvcpus", "ag", *args, timeout=300)
        t.ok(rv.returncode == 1 and errline(rv) == want and rs.returncode == 1 and
             errline(rs) == want, "guestvcpus %s: libvirt's refusal in both" % " ".join(args),
             rv.stderr + rs.stderr)
    r = d.virsh("setvcpus", "ag", "1", "--guest", timeout=300)
    t.ok(r.returncode == 0 and vcpus("virsh") == want_vcpus("0"),
         "virsh setvcpus 1 --guest: one vCPU online in the guest", r.stderr + repr(vcpus("virsh")))
    t.ok(d.virsh("vcpucount", "ag", "--live", "--active").stdout.strip() == "2",
         "the domain itself keeps its 2 vCPUs")
    r = d.vsh("setvcpus", "ag", "2", "--guest", timeout=300)
    t.ok(r.returncode == 0 and vcpus("virsh") == want_vcpus("0-1"),
         "vsh setvcpus 2 --guest: both online again", r.stderr + repr(vcpus("virsh")))
    want = ("error: invalid argument: requested vcpu count is greater than the count of enabled "
            "vcpus in the domain: 3 > 2")
    rv = d.virsh("setvcpus", "ag", "3", "--guest", timeout=300)
    rs = d.vsh("setvcpus", "ag", "3", "--guest", timeout=300)
    t.ok(errline(rv) == want and errline(rs) == want,
         "setvcpus 3 --guest: libvirt's refusal in both", rv.stderr + rs.stderr)
    t.ok(dom.guestVcpus() == {"vcpus": "0-1", "online": "0-1", "offlinable": "1"},
         "libvirt-python's guestVcpus()", repr(dom.guestVcpus()))
    dom.setGuestVcpus("1", 0)
    t.ok(dom.guestVcpus().get("online") == "0", "and setGuestVcpus('1', 0)",
         repr(dom.guestVcpus()))
    dom.setGuestVcpus("1", 1)

    # set-user-password: base64 on the wire, crypted as --encrypted says
    r = virsh_loud("set-user-password", "ag", "root", "s3cret")
    t.ok(r.returncode == 0 and r.stdout.strip() == "Password set successfully for root in ag",
         "virsh set-user-password", r.stdout + r.stderr)
    t.ok(wait_for(lambda: "guest-set-user-password for root (password czNjcmV0, crypted no)" in
                  d.console_log("ag"), 60),
         "the agent got the user and the base64 password", d.console_log("ag")[-1000:])
    rv = virsh_loud("set-user-password", "ag", "--user", "bob", "--password", "pw2")
    rs = vsh_loud("set-user-password", "ag", "--user", "bob", "--password", "pw2")
    t.ok(rs.returncode == 0 and (rs.stdout, rs.stderr) == (rv.stdout, rv.stderr) and
         "Password set successfully for bob in ag" in rs.stdout,
         "vsh set-user-password prints what virsh prints", repr((rv, rs)))
    rs = d.vsh("set-user-password", "ag", "carol", "s3cret", timeout=300)
    t.ok(rs.returncode == 0 and
         wait_for(lambda: "guest-set-user-password for carol (password czNjcmV0, crypted no)" in
                  d.console_log("ag"), 60), "vsh set-user-password reaches the agent",
         rs.stdout + rs.stderr)
    rs = d.vsh("set-user-password", "ag", "dave", "$6$y$hash", "--encrypted", timeout=300)
    t.ok(rs.returncode == 0 and
         wait_for(lambda: "for dave (password JDYkeSRoYXNo, crypted yes)" in d.console_log("ag"),
                  60), "vsh set-user-password --encrypted sends a crypted password",
         rs.stdout + rs.stderr)
    r = virsh_loud("set-user-password", "ag", "admin", "$6$x$hash", "--encrypted")
    t.ok(r.returncode == 0 and
         wait_for(lambda: "for admin (password JDYkeCRoYXNo, crypted yes)" in d.console_log("ag"),
                  60), "set-user-password --encrypted sends a crypted password",
         r.stdout + r.stderr + d.console_log("ag")[-500:])

    # snapshot-create --quiesce: frozen around the disk's switch to its overlay
    overlay = os.path.join(d.tmp, "ag-s1.qcow2")
    before = d.console_log("ag")
    nf, nt = (before.count("guest-fsfreeze-freeze answered"),
              before.count("guest-fsfreeze-thaw answered"))
    r = d.virsh("snapshot-create-as", "ag", "s1", "--disk-only", "--quiesce", "--diskspec",
                f"vda,snapshot=external,file={overlay}", timeout=300)
    t.ok(r.returncode == 0, "snapshot-create-as --disk-only --quiesce", r.stdout + r.stderr)
    wait_for(lambda: d.console_log("ag").count("guest-fsfreeze-thaw answered") > nt, 60)
    log = d.console_log("ag")
    t.ok(log.count("guest-fsfreeze-freeze answered") == nf + 1 and
         log.count("guest-fsfreeze-thaw answered") == nt + 1 and
         log.rfind("guest-fsfreeze-freeze answered") < log.rfind("guest-fsfreeze-thaw answered"),
         "the guest's file systems were frozen, then thawed", d.console_log("ag")[-1500:])
    t.ok(f"<source file='{overlay}'" in d.virsh("dumpxml", "ag").stdout,
         "the disk runs on its overlay", d.virsh("dumpxml", "ag").stdout)
    r = d.virsh("qemu-agent-command", "ag", "not json", timeout=300)
    t.ok(r.returncode != 0, "a command that is not JSON is refused", r.stderr)

    # A domain with a channel that is not the agent's.
    x = d.write("noag.xml", domain_xml("noag", GUEST, "tests=agent agent_idle=900", OTHER))
    r = d.virsh("define", x)
    r = d.virsh("start", "noag")
    t.ok(r.returncode == 0, "a domain with only org.libguestfs.channel.0 starts",
         r.stderr + d.vmm_log("noag"))
    other = os.path.join(d.root, "run", "channel", "target", "domain-2-noag",
                         "org.libguestfs.channel.0")
    t.ok(os.path.exists(other), "its channel has a socket too (a plain unix channel)")
    for args in (["domtime", "noag"], ["qemu-agent-command", "noag", '{"execute":"guest-ping"}'],
                 ["shutdown", "--mode", "agent", "noag"], ["domfsfreeze", "noag"],
                 ["domifaddr", "noag", "--source", "agent"],
                 ["snapshot-create-as", "noag", "--disk-only", "--quiesce"],
                 ["set-user-password", "noag", "root", "pw"], ["guestinfo", "noag"],
                 ["domfsinfo", "noag"], ["guestvcpus", "noag"],
                 ["setvcpus", "noag", "1", "--guest"]):
        r = d.virsh(*args)
        t.ok(r.returncode != 0 and errline(r) == NOT_CONFIGURED,
             "virsh %s: libvirt's refusal without an agent" % args[0], r.stderr)
    for args in (["domtime", "noag"], ["domfsinfo", "noag"],
                 ["set-user-password", "noag", "root", "pw"], ["guestinfo", "noag"],
                 ["guestvcpus", "noag"], ["setvcpus", "noag", "1", "--guest"]):
        r = d.vsh(*args)
        t.ok(r.returncode != 0 and errline(r) == NOT_CONFIGURED,
             "vsh %s: the same refusal" % args[0], r.stderr)
    d.virsh("destroy", "noag")

    # shutdown --mode agent: guest-shutdown, and the guest powers itself off.
    r = d.virsh("shutdown", "--mode", "agent", "ag", timeout=300)
    t.ok(r.returncode == 0, "virsh shutdown --mode agent", r.stdout + r.stderr)
    t.ok(wait_for(lambda: "agent: guest-shutdown (mode powerdown)" in d.console_log("ag"), 120),
         "the guest's agent got guest-shutdown", d.console_log("ag")[-1000:])
    t.ok(wait_for(lambda: d.state("ag") == "shut off (shutdown)", 300),
         "the domain shut off (reason shutdown)", d.state("ag"))
    log = d.console_log("ag")
    t.ok("not ok" not in log, "the guest reported no failure", log[-3000:])
    t.ok(not os.path.exists(os.path.dirname(path)) and
         not os.path.exists(os.path.dirname(other)),
         "the channel sockets and their directories are gone with the domains")
    r = d.virsh("domtime", "ag")
    t.ok(r.returncode != 0 and "domain is not running" in errline(r),
         "domtime of a shut off domain: not running", r.stderr)
    conn.close()
    rc = d.stop()
    out = open(os.path.join(d.tmp, "vireod.out"), errors="replace").read()
    t.ok(rc == 0 and "Sanitizer" not in out and "runtime error" not in out,
         "vireod ends cleanly after the agent runs", f"exit {rc}\n{out[-3000:]}")
except Exception as e:  # noqa: BLE001
    t.ok(False, "no exception", repr(e))
finally:
    if t.failed:
        d.dump_log()
    d.cleanup(["ag", "noag"])
t.done()
