#!/usr/bin/env python3
"""test-deb.py - the Debian package: `dpkg-buildpackage -us -uc -b` (through
scripts/build-deb, as `make deb`) builds vireo, libvireo0 and libvireo-dev
into a temporary directory; lintian reports no error on them; together they
hold exactly the `make install` tree (with prefix /usr) plus what Debian adds
(documentation, lintian overrides, the logrotate file), with the systemd
units in /lib/systemd/system where Debian 12's debhelper enables them; the
maintainer scripts create the vireo-vmm user and enable, start and stop the
socket units. The build time is printed, not judged.

usage: test-deb.py SOURCE_ROOT BUILD_ROOT
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pkglib import Tap, build_option, install_tree  # noqa: E402

src, build = (os.path.abspath(a) for a in sys.argv[1:3])
t = Tap()
out = tempfile.mkdtemp(prefix="vireo-deb-test-")
dest = None
try:
    start = time.monotonic()
    r = subprocess.run([os.path.join(src, "scripts", "build-deb"), out], capture_output=True,
                       text=True, env=dict(os.environ, DEB_BUILD_OPTIONS="noautodbgsym",
                                           LC_ALL="C"))
    t.diag("scripts/build-deb took %.0f s" % (time.monotonic() - start))
    debs = sorted(f for f in os.listdir(out) if f.endswith(".deb"))
    names = [d.split("_")[0] for d in debs]
    if not t.ok(r.returncode == 0 and names == ["libvireo-dev", "libvireo0", "vireo"],
                "dpkg-buildpackage builds vireo, libvireo0 and libvireo-dev: " + " ".join(debs),
                r.stdout + r.stderr):
        t.done()
    version = subprocess.run(["meson", "introspect", "--projectinfo", build], capture_output=True,
                             text=True).stdout
    want = re.search(r'"version": "([^"]+)"', version).group(1)
    t.ok(all("_%s_" % want in d for d in debs), "the packages' version is the project's (%s)"
         % want)

    changes = [f for f in os.listdir(out) if f.endswith(".changes")]
    r = subprocess.run(["lintian", "--fail-on", "error", "--display-info"]
                       + [os.path.join(out, c) for c in changes],
                       capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
    errors = [ln for ln in r.stdout.splitlines() if ln.startswith("E:")]
    t.ok(r.returncode == 0 and not errors, "lintian: no errors", r.stdout + r.stderr)
    t.diag("lintian:\n" + (r.stdout.strip() or "(nothing)"))

    # The files the packages install (symlinks too; directories left out).
    packaged = set()
    for d in debs:
        listing = subprocess.run(["dpkg-deb", "--fsys-tarfile", os.path.join(out, d)],
                                 capture_output=True, check=True).stdout
        names = subprocess.run(["tar", "-tvf", "-"], input=listing, capture_output=True,
                               check=True).stdout.decode().splitlines()
        for ln in names:
            if not ln.startswith("d"):
                path = ln.split(None, 5)[5].split(" -> ")[0]
                packaged.add(os.path.normpath(path).lstrip("./"))
    dest, files = install_tree(build)
    prefix = build_option(build, "prefix").strip("/")
    installed = set()
    for f in files:
        assert f.startswith(prefix + "/"), f
        f = "usr/" + f[len(prefix) + 1:]
        f = re.sub(r"^usr/lib/systemd/system/", "lib/systemd/system/", f)
        if f.startswith("usr/share/man/"):
            f += ".gz"
        installed.add(f)
    added = {p for p in packaged - installed
             if re.match(r"^usr/share/doc/(vireo|libvireo0|libvireo-dev)/(copyright|changelog\.gz)$", p)
             or p in ("usr/share/lintian/overrides/vireo", "etc/logrotate.d/vireo")}
    t.ok(packaged - added == installed,
         "the packages hold the make install tree (prefix /usr), and Debian's files: "
         + " ".join(sorted(added)),
         "only in the packages: %s\nonly in make install: %s"
         % (" ".join(sorted(packaged - added - installed)) or "-",
            " ".join(sorted(installed - packaged)) or "-"))

    ctl = os.path.join(out, "vireo-control")
    subprocess.run(["dpkg-deb", "-e", os.path.join(out, [d for d in debs
                                                          if d.startswith("vireo_")][0]), ctl],
                   check=True)
    postinst = open(os.path.join(ctl, "postinst")).read()
    prerm = open(os.path.join(ctl, "prerm")).read()
    t.ok(re.search(r"adduser --system --group .*vireo-vmm", postinst, flags=re.S) is not None,
         "postinst creates the system user vireo-vmm with adduser --system")
    t.ok(all("deb-systemd-helper enable '%s'" % u in postinst
             for u in ("vireod.socket", "vireod-ro.socket", "vireod.service"))
         and re.search(r"deb-systemd-invoke \$_dh_action 'vireod-ro.socket' 'vireod.socket'",
                       postinst) is not None,
         "postinst enables the service and both sockets, and starts the sockets")
    t.ok("deb-systemd-invoke stop 'vireod-ro.socket' 'vireod.socket'" in prerm
         and "deb-systemd-invoke stop vireod.service" in prerm,
         "prerm stops the sockets and the service on removal")
    for script in ("postinst", "prerm", "postrm"):
        r = subprocess.run(["sh", "-n", os.path.join(ctl, script)], capture_output=True,
                           text=True)
        t.ok(r.returncode == 0, "%s is valid sh" % script, r.stderr)
    conffiles = open(os.path.join(ctl, "conffiles")).read().split()
    t.ok(conffiles == ["/etc/logrotate.d/vireo"], "the logrotate file is a conffile", conffiles)
except (OSError, subprocess.SubprocessError, RuntimeError) as e:
    t.ok(False, "the package checks ran", e)
finally:
    shutil.rmtree(out, ignore_errors=True)
    if dest:
        shutil.rmtree(dest, ignore_errors=True)
t.done()
