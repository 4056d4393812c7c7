"""pkglib.py - what the packaging tests share: TAP output, and the tree
`make install` produces (meson install into a temporary DESTDIR, from the
build the test belongs to, without rebuilding)."""
import json
import os
import subprocess
import sys
import tempfile


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, what, diag=""):
        self.n += 1
        print(("ok %d - %s" if cond else "not ok %d - %s") % (self.n, what))
        if not cond:
            self.failed += 1
            for line in str(diag).splitlines():
                print("# " + line)
        sys.stdout.flush()
        return cond

    def diag(self, text):
        for line in str(text).splitlines():
            print("# " + line)

    def done(self):
        print("1..%d" % self.n)
        sys.exit(1 if self.failed else 0)


def install_tree(build):
    """`make install` of BUILD into a new temporary DESTDIR (meson install
    --destdir, no rebuild); return (destdir, sorted installed paths relative
    to it, directories excluded)."""
    dest = tempfile.mkdtemp(prefix="vireo-install-")
    r = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet",
                        "--destdir", dest], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("meson install failed: " + (r.stderr or r.stdout).strip())
    files = []
    for d, dirs, names in os.walk(dest):
        for n in names:
            files.append(os.path.relpath(os.path.join(d, n), dest))
    return dest, sorted(files)


def build_option(build, name):
    """The value of option NAME in BUILD (prefix, libdir, ...)."""
    opts = json.loads(subprocess.run(["meson", "introspect", "--buildoptions", build],
                                     capture_output=True, text=True, check=True).stdout)
    return next(o["value"] for o in opts if o["name"] == name)
