#!/usr/bin/env python3
"""test-completion.py - bash completion of vsh and vireo-img.

Each case runs the installed completion function in a real bash (with
Debian's bash-completion loaded, the script found by its loader in the
`make install` tree) on a partial command line and checks the candidates
(COMPREPLY). The candidates come from the tools' own tables through their
hidden `complete` commands; vsh's domain names come from the connection the
line names (test:///default: one running domain, "test").

usage: test-completion.py BUILD_ROOT VSH VIREO_IMG
"""
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pkglib import Tap, install_tree  # noqa: E402

build, vsh, img = (os.path.abspath(a) for a in sys.argv[1:4])
t = Tap()
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
if not os.path.exists(BASH_COMPLETION):
    t.ok(False, BASH_COMPLETION + " exists (scripts/install-deps installs bash-completion)")
    t.done()

dest, files = install_tree(build)
bindir = tempfile.mkdtemp(prefix="vireo-compl-bin-")
try:
    share = [os.path.dirname(os.path.dirname(os.path.join(dest, f))) for f in files
             if f.endswith("bash-completion/completions/vsh")]
    t.ok(len(share) == 1 and os.path.exists(os.path.join(share[0], "completions", "vireo-img")),
         "make install puts vsh and vireo-img in share/bash-completion/completions",
         "\n".join(f for f in files if "completion" in f))
    xdg = os.path.dirname(share[0]) if share else ""
    os.symlink(vsh, os.path.join(bindir, "vsh"))
    os.symlink(img, os.path.join(bindir, "vireo-img"))
    env = dict(os.environ, PATH=bindir + ":" + os.environ["PATH"], XDG_DATA_DIRS=xdg,
               LC_ALL="C", HOME=bindir)
    env.pop("VIREO_DEFAULT_URI", None)

    def raw_words(line):
        """LINE split at blanks outside quotes, quotes kept, as bash hands
        words to a completion function; a trailing blank starts a new word."""
        words, cur, quote = [], "", None
        for ch in line:
            if quote:
                quote = None if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch == " ":
                words.append(cur)
                cur = ""
                continue
            cur += ch
        return [w for w in words if w] + [cur]

    def complete(line):
        """Candidates bash offers for LINE (completing its last word)."""
        script = r"""
source %s
words=(%s)
COMP_WORDS=("${words[@]}")
COMP_CWORD=$((${#words[@]} - 1))
COMP_LINE="$LINE"
COMP_POINT=${#LINE}
_completion_loader "${words[0]}"
spec=$(complete -p "${words[0]}") || exit 3
fn=${spec#*-F }
fn=${fn%% *}
"$fn" "${words[0]}" "${words[COMP_CWORD]}" "${words[COMP_CWORD-1]}"
printf '%%s\n' "${COMPREPLY[@]}"
""" % (BASH_COMPLETION, " ".join(shlex.quote(w) for w in raw_words(line)))
        r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=dict(env, LINE=line),
                           capture_output=True, text=True, timeout=60)
        return [c for c in r.stdout.split("\n") if c], r.returncode, r.stderr

    def case(line, want=None, has=(), lacks=()):
        got, rc, err = complete(line)
        cond = rc == 0 and (want is None or sorted(got) == sorted(want)) and \
            all(h in got for h in has) and not any(x in got for x in lacks)
        t.ok(cond, "%-42s -> %s" % ("'" + line + "'", " ".join(got) or "(nothing)"),
             "rc %d, want %s has %s lacks %s\n%s" % (rc, want, list(has), list(lacks), err))

    U = "vsh -c test:///default "
    help_out = subprocess.run([vsh, "-c", "test:///default", "help"], capture_output=True,
                              text=True, env=env).stdout
    commands = [ln.split()[0] for ln in help_out.splitlines() if ln.startswith("    ")]
    case(U, want=commands)  # every command help lists, and nothing hidden
    case(U + "li", want=["list"])
    case(U + "dom", want=[c for c in commands if c.startswith("dom")])
    case(U + "comp", want=[])
    case(U + "list --a", want=["--all", "--autostart"])
    case(U + "list --all --in", want=["--inactive"])
    case(U + "destroy --domain ", want=["test"])
    case(U + "dumpxml t", want=["test"])
    case(U + "start --domain ", want=[])  # only inactive domains; test runs
    case(U + "vcpupin test ", has=["--vcpu", "--cpulist"], lacks=["--domain", "test"])
    case(U + "help ", has=["--command", "list", "destroy"])
    case("vsh --re", want=["--readonly"])
    case("vsh -c 'vireo+unix:///system?socket=/nonexistent' destroy --domain ", want=[])
    case("vsh --connect='test:///default' destroy --domain ", want=["test"])
    case("vsh -r -c \"test:///default\" dumpxml ", has=["test", "--inactive"])

    img_help = subprocess.run([img, "--help"], capture_output=True, text=True).stdout
    img_cmds = [ln.split()[0] for ln in img_help.splitlines()
                if ln.startswith("  ") and not ln.startswith("   ")]
    case("vireo-img ", want=img_cmds)
    case("vireo-img c", want=["check", "commit", "compare", "convert", "create"])
    case("vireo-img info --o", want=["--output=human", "--output=json"])
    case("vireo-img info -", has=["-f", "-U", "--backing-chain"])
    case("vireo-img convert -O ",
         want=["raw", "qcow2", "vmdk", "vdi", "vpc", "vhdx", "qed", "luks"])
    case("vireo-img convert -t w", want=["writeback", "writethrough"])
    case("vireo-img check -r ", want=["leaks", "all"])
    case("vireo-img snapshot -", want=["-l", "-a", "-c", "-d"])
    case("vireo-img --", want=["--help", "--version"])
finally:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.rmtree(bindir, ignore_errors=True)
t.done()
