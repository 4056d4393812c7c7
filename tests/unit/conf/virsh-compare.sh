#!/bin/sh
# Compares Vireo's normalisation with libvirt's own: every domain input
# named tests/conf/domain/test-*.xml (type 'test', so only libvirt's generic
# post-parse applies) is defined in stock virsh's in-process test driver and
# dumped in the same invocation; the output must equal our golden file.
# Known difference, filtered out: libvirt's test driver invents interface
# target names (<target dev='testnetN'/>) at define time; Vireo leaves live
# names to the driver that creates the taps.
# Usage: virsh-compare.sh DATA_DIR. Prints TAP.
data=$1
if ! command -v virsh >/dev/null 2>&1; then
    echo "1..0 # SKIP virsh not installed (libvirt-clients)"
    exit 0
fi
n=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "$data"/domain/test-*.xml; do
    case $f in *.out.xml) continue ;; esac
    name=$(sed -n 's:.*<name>\(.*\)</name>.*:\1:p' "$f" | head -1)
    n=$((n + 1))
    virsh -q -c test:///default "define $f; dumpxml $name" >"$tmp/out" 2>"$tmp/err"
    grep -v "<target dev='testnet[0-9]*'/>" "$tmp/out" | sed '/^$/d' | grep -v "^Domain '$name' defined" >"$tmp/virsh"
    if diff -u "$tmp/virsh" "${f%.xml}.out.xml" >"$tmp/diff" 2>&1; then
        echo "ok $n - $(basename "$f"): Vireo's output equals virsh test:///default dumpxml"
    else
        echo "not ok $n - $(basename "$f"): Vireo's output equals virsh test:///default dumpxml"
        sed 's/^/# /' "$tmp/diff" "$tmp/err"
        fail=$((fail + 1))
    fi
done
echo "1..$n"
[ "$fail" -eq 0 ]
