#!/usr/bin/env python3
"""test-libvireo-abi.py - libvireo.so exports exactly the public API and the
installed libvireo.pc builds a program against it.

- `nm -D` of the built library: every function declared in
  include/vireo/vireo.h is exported, nothing else is (the drivers, RPC and XML
  code linked in stay local), each under a VIREO_* version node;
- its soname is libvireo.so.0 (the policy in src/lib/libvireo.map);
- after `make install` (into a temporary DESTDIR), `pkg-config --cflags
  --libs libvireo` with that tree compiles and links a client that includes
  <vireo/vireo.h>, and the client runs against the installed library on
  test:///default.

usage: test-libvireo-abi.py SOURCE_ROOT BUILD_ROOT LIBVIREO_SO [CC [SANITIZERS]]
(the client is built with the build's compiler and -fsanitize=SANITIZERS
unless that is "none", since a sanitized library needs a sanitized program)
"""
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pkglib import Tap, build_option, install_tree  # noqa: E402

src, build, so = sys.argv[1:4]
cc = sys.argv[4] if len(sys.argv) > 4 else "cc"
sanitize = sys.argv[5] if len(sys.argv) > 5 else "none"
t = Tap()

header = open(os.path.join(src, "include", "vireo", "vireo.h")).read()
header = re.sub(r"/\*.*?\*/", "", header, flags=re.S)
declared = set(re.findall(r"^(?!typedef)[A-Za-z_][^;{}()#]*?\b(vir_\w+)\s*\(", header,
                          flags=re.M))
t.ok(len(declared) > 50, "%d functions declared in include/vireo/vireo.h" % len(declared))

out = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True, text=True,
                     check=True).stdout
exported, versions = set(), set()
for line in out.splitlines():
    name = line.split()[-1]
    if line.split()[1] == "A":  # the version nodes themselves
        continue
    sym, _, ver = name.partition("@@")
    exported.add(sym)
    versions.add(ver)
t.ok(not declared - exported, "every public function is exported",
     "missing: " + " ".join(sorted(declared - exported)))
t.ok(not exported - declared, "nothing but the public API is exported",
     "extra: " + " ".join(sorted(exported - declared)))
t.ok(versions and all(v.startswith("VIREO_") for v in versions),
     "each symbol carries a VIREO_* version: " + " ".join(sorted(versions)))
dyn = subprocess.run(["objdump", "-p", so], capture_output=True, text=True).stdout
t.ok(re.search(r"SONAME\s+libvireo\.so\.0\n", dyn) is not None, "soname libvireo.so.0",
     dyn)

dest = None
try:
    dest, files = install_tree(build)
    prefix = build_option(build, "prefix").lstrip("/")
    libdir = build_option(build, "libdir")
    libdir = os.path.join(dest, prefix, libdir) if not libdir.startswith("/") \
        else dest + libdir
    pc = os.path.join(libdir, "pkgconfig", "libvireo.pc")
    t.ok(os.path.exists(pc), "make install puts libvireo.pc in " + os.path.relpath(pc, dest))
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pc), PKG_CONFIG_SYSROOT_DIR=dest,
               LC_ALL="C")
    r = subprocess.run(["pkg-config", "--cflags", "--libs", "libvireo"], env=env,
                       capture_output=True, text=True)
    flags = r.stdout.split()
    t.ok(r.returncode == 0 and "-lvireo" in flags, "pkg-config --cflags --libs libvireo: "
         + r.stdout.strip(), r.stderr)
    mod = r"""#include <stdio.h>
#include <stdlib.h>
#include <vireo/vireo.h>
int main(void)
{
    vir_error err;
    vir_connect *c = vir_connect_open("test:///default", 0, &err);
    if (!c) {
        fprintf(stderr, "open: %s\n", err.message);
        return 1;
    }
    vir_domain **doms = NULL;
    int n = vir_connect_list_all_domains(c, &doms, 0, &err);
    for (int i = 0; i < n; i++) {
        int state = 0, reason = 0;
        vir_domain_get_state(doms[i], &state, &reason, 0, &err);
        printf("%s %s\n", vir_domain_get_name(doms[i]), vir_domain_state_to_string(state));
        vir_domain_free(doms[i]);
    }
    free(doms);
    vir_connect_close(c);
    return n == 1 ? 0 : 1;
}
"""
    csrc = os.path.join(dest, "client.c")
    exe = os.path.join(dest, "client")
    open(csrc, "w").write(mod)
    san = [] if sanitize == "none" else ["-fsanitize=" + sanitize]
    r = subprocess.run([cc, "-std=c11", "-Wall", "-Werror", "-o", exe, csrc] + san + flags,
                       capture_output=True, text=True)
    t.ok(r.returncode == 0, "a client builds with those flags against the installed tree",
         r.stderr)
    r = subprocess.run([exe], env=dict(env, LD_LIBRARY_PATH=libdir), capture_output=True,
                       text=True)
    t.ok(r.returncode == 0 and r.stdout.split() == ["test", "running"],
         "it runs on the installed libvireo.so.0: " + r.stdout.strip(), r.stderr)
    ldd = subprocess.run(["ldd", exe], env=dict(env, LD_LIBRARY_PATH=libdir),
                         capture_output=True, text=True).stdout
    t.ok(os.path.join(libdir, "libvireo.so.0") in ldd, "and loads it from there", ldd)
except (RuntimeError, OSError, subprocess.SubprocessError) as e:
    t.ok(False, "install and build a client", e)
finally:
    if dest:
        shutil.rmtree(dest, ignore_errors=True)
t.done()
