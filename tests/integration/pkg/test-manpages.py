#!/usr/bin/env python3
"""test-manpages.py - each man page documents what its tool does, no more.

The pages are rendered with groff (man -l's formatter) and compared with
what the programs print:
- vsh(1): the commands `vsh help` lists are those under COMMANDS (help,
  quit and exit under THE INTERACTIVE SHELL), and each command's options
  (`vsh help CMD`) appear in its entry; the global options of `vsh --help`
  are those under OPTIONS;
- vireo-img(1): the commands of `vireo-img --help` are the COMMANDS
  subsections, each showing the options of its synopsis;
- vireo-vmm(1): the options of `vireo-vmm --help` (with -device, -netdev,
  -chardev and -drive by their first value) are the entries under OPTIONS;
- vireod(8): the options of `vireod --help` are those under OPTIONS.
Both directions: nothing undocumented, nothing documented that is gone.

usage: test-manpages.py SOURCE_ROOT VSH VIREO_IMG VIREO_VMM VIREOD
"""
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pkglib import Tap  # noqa: E402

src, vsh, img, vmm, vireod = sys.argv[1:6]
t = Tap()
ENV = dict(os.environ, LC_ALL="C")


def unescape(text):
    """Roff escapes to plain text (fonts dropped)."""
    text = re.sub(r"\\f(\(..|\[[^]]*\]|.)", "", text)
    for a, b in (("\\-", "-"), ("\\(aq", "'"), ("\\(dq", '"'), ("\\&", ""), ("\\ ", " "),
                 ("\\(em", "--"), ("\\e", "\\")):
        text = text.replace(a, b)
    return text


def macro_text(line):
    """A source line as text: font macros (.B, .BI, .RB, ...) with their
    arguments joined as groff joins them; other requests give nothing."""
    if not line.startswith("."):
        return unescape(line)
    m = re.match(r"^\.([A-Z]{1,2})(?:\s+(.*))?$", line)
    if not m or m.group(1) not in ("B", "I", "BI", "BR", "IB", "IR", "RB", "RI"):
        return ""
    args = re.findall(r'"((?:[^"]|"")*)"|(\S+)', m.group(2) or "")
    args = [a.replace('""', '"') if a or not b else b for a, b in args]
    sep = " " if len(m.group(1)) == 1 else ""
    return unescape(sep.join(args))


def page_parts(page):
    """The page's source as [(section, subsection, tags, body)]: one entry
    per .TP paragraph (tags: its .TP/.TQ tag lines as text, body: the text
    up to the next paragraph or heading), and one per stretch of text
    between headings (no tags)."""
    parts = []
    sec = sub = None
    tags, body, want_tag = [], [], False

    def flush():
        if tags or body:
            parts.append((sec, sub, list(tags), "\n".join(body)))

    for line in open(os.path.join(src, "man", page)).read().splitlines():
        if line.startswith(".\\\""):
            continue
        req = line.split()[0] if line.startswith(".") and line.split() else ""
        if req in (".SH", ".SS", ".TP"):
            flush()
            tags, body = [], []
            if req == ".SH":
                sec, sub = macro_text(".B " + line[3:].strip()), None
            elif req == ".SS":
                sub = macro_text(".B " + line[3:].strip())
            want_tag = req == ".TP"
            continue
        if req == ".TQ":
            want_tag = True
            continue
        if want_tag:
            tags.append(macro_text(line))
            want_tag = False
        else:
            body.append(macro_text(line))
    flush()
    return parts


def out(*cmd):
    r = subprocess.run(list(cmd), capture_output=True, text=True, env=ENV)
    return r.stdout + r.stderr


def compare(what, documented, actual):
    documented, actual = set(documented), set(actual)
    t.ok(actual and documented == actual, what,
         "undocumented: %s\ndocumented but not in the program: %s"
         % (" ".join(sorted(actual - documented)) or "-",
            " ".join(sorted(documented - actual)) or "-"))


def options_in(text):
    """Option words (-x, --name, -name) in a piece of text."""
    return set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", text))


# ---- vsh(1) ----
parts = page_parts("vsh.1")
help_out = out(vsh, "-c", "test:///default", "help")
commands = [ln.split()[0] for ln in help_out.splitlines() if ln.startswith("    ")]
entries, entry_tags = {}, {}  # command -> the text of its paragraph, of its tags
for sec, sub, tags, body in parts:
    if sec != "COMMANDS":
        continue
    names = [part.split()[0] for tag in tags for part in tag.split(", ") if part.split()]
    for name in names:
        entries[name] = entries.get(name, "") + "\n".join(tags) + "\n" + body
        entry_tags[name] = entry_tags.get(name, "") + "\n".join(tags)
shell = " ".join(body for sec, sub, tags, body in parts if sec == "THE INTERACTIVE SHELL")
shell_cmds = {c for c in ("help", "quit", "exit") if re.search(r"\b%s\b" % c, shell)}
compare("vsh(1): the commands of 'vsh help' are those under COMMANDS (help, quit, exit: "
        "under THE INTERACTIVE SHELL)", set(entries) | shell_cmds, commands)
# An option is named as --NAME in the entry, or (a value that may be given
# positionally) as the bare word NAME in its synopsis: "dominfo domain".
missing = []
for c in commands:
    if c in shell_cmds:
        continue
    detail = out(vsh, "-c", "test:///default", "help", c).split("OPTIONS")[-1]
    for o in re.findall(r"^    \[?--([\w-]+)", detail, flags=re.M):
        if "--" + o not in entries.get(c, "") and \
                not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(o), entry_tags.get(c, "")):
            missing.append("%s --%s" % (c, o))
t.ok(not missing, "vsh(1): each command's entry names its options",
     "missing: " + " ".join(missing))
usage = out(vsh, "--help")
compare("vsh(1): the options of 'vsh --help' are under OPTIONS",
        options_in(" ".join(tag for sec, sub, tags, body in parts if sec == "OPTIONS"
                            for tag in tags)),
        options_in("\n".join(ln for ln in usage.splitlines() if ln.startswith("    -"))))

# ---- vireo-img(1) ----
parts = page_parts("vireo-img.1")
subs = {}
for sec, sub, tags, body in parts:
    if sec == "COMMANDS" and sub:
        subs[sub] = subs.get(sub, "") + "\n".join(tags) + "\n" + body
help_out = out(img, "--help")
syn = {}
for ln in help_out.split("Command syntax:")[1].split("\n\n")[0].splitlines():
    if ln.startswith("  ") and not ln.startswith("   "):
        name = ln.split()[0]
        syn[name] = ln
    elif ln.strip() and syn:
        syn[name] += " " + ln
compare("vireo-img(1): the commands of 'vireo-img --help' are the COMMANDS subsections",
        subs, syn)
missing = ["%s %s" % (c, o) for c, text in syn.items() for o in sorted(options_in(text))
           if o not in options_in(subs.get(c, ""))]
t.ok(not missing, "vireo-img(1): each command's section shows the options of its synopsis",
     "missing: " + " ".join(missing))


# ---- vireo-vmm(1) ----
def vmm_options(text):
    """The options a piece of text names: -x words, and -device, -netdev and
    -chardev with each value they list (-chardev pty|stdio|null gives three)."""
    res = set()
    for m in re.finditer(r"(?<![\w-])(--?[a-zA-Z][\w-]*)(?:[ =]([a-z][\w|-]*))?", text):
        opt, val = m.group(1), m.group(2)
        if opt in ("-device", "-netdev", "-chardev") and val:
            res |= {"%s %s" % (opt, v) for v in val.split("|") if v}
        else:
            res.add(opt)
    return res


help_out = out(vmm, "--help")
actual = set()
for ln in help_out.splitlines():
    if re.match(r"^  -", ln):
        # the option column: up to two blanks before a description (or several
        # entries on one line, "-chardev pty|stdio|null,id=ID   -chardev file,...")
        for entry in re.split(r"\s{3,}", ln.strip()):
            if entry.startswith("-"):
                actual |= vmm_options(entry.split("  ")[0])
documented = set()
for sec, sub, tags, body in page_parts("vireo-vmm.1"):
    if sec == "OPTIONS":
        for tag in tags:
            documented |= vmm_options(tag)
compare("vireo-vmm(1): the options of 'vireo-vmm --help' are under OPTIONS", documented, actual)

# ---- vireod(8) ----
help_out = out(vireod, "--help")
compare("vireod(8): the options of 'vireod --help' are under OPTIONS",
        options_in(" ".join(tag for sec, sub, tags, body in page_parts("vireod.8")
                            if sec == "OPTIONS" for tag in tags)),
        options_in("\n".join(ln.strip().split("  ")[0] for ln in help_out.splitlines()
                             if re.match(r"^\s+-", ln))))
t.done()
