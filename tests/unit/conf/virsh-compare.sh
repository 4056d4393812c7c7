#!/bin/sh
# Compares Vireo's normalisation with libvirt's own: every domain input
# named tests/conf/domain/test-*.xml (type 'test', so only libvirt's generic
# post-parse applies) is defined in stock virsh's in-process test driver and
# dumped in the same invocation; the output must equal our golden file.
# Known difference, filtered out: libvirt's test driver invents interface
# target names (<target dev='testnetN'/>) at define time; Vireo leaves live
# names to the driver that creates the taps.
# Golden networks are compared the same way through net-define/net-dumpxml.
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
# Networks: every golden network, through net-define / net-dumpxml.
for f in "$data"/network/*.xml; do
    case $f in *.out.xml) continue ;; esac
    [ -e "${f%.xml}.out.xml" ] || continue
    name=$(sed -n 's:.*<name>\(.*\)</name>.*:\1:p' "$f" | head -1)
    n=$((n + 1))
    virsh -q -c test:///default "net-define $f; net-dumpxml $name" >"$tmp/out" 2>"$tmp/err"
    sed '/^$/d' "$tmp/out" | grep -v "^Network $name defined" >"$tmp/virsh"
    if diff -u "$tmp/virsh" "${f%.xml}.out.xml" >"$tmp/diff" 2>&1; then
        echo "ok $n - network $(basename "$f"): Vireo's output equals virsh net-dumpxml"
    else
        echo "not ok $n - network $(basename "$f"): Vireo's output equals virsh net-dumpxml"
        sed 's/^/# /' "$tmp/diff" "$tmp/err"
        fail=$((fail + 1))
    fi
done
# Pools: the test driver invents live sizes, so those three lines are not compared.
for f in "$data"/storagepool/*.xml; do
    case $f in *.out.xml) continue ;; esac
    [ -e "${f%.xml}.out.xml" ] || continue
    name=$(sed -n 's:.*<name>\(.*\)</name>.*:\1:p' "$f" | head -1)
    n=$((n + 1))
    virsh -q -c test:///default "pool-define $f; pool-dumpxml $name" >"$tmp/out" 2>"$tmp/err"
    sizes='<\(capacity\|allocation\|available\) unit'
    sed '/^$/d' "$tmp/out" | grep -v "^Pool $name defined" | grep -v "$sizes" >"$tmp/virsh"
    grep -v "$sizes" "${f%.xml}.out.xml" >"$tmp/ours"
    if diff -u "$tmp/virsh" "$tmp/ours" >"$tmp/diff" 2>&1; then
        echo "ok $n - pool $(basename "$f"): Vireo's output equals virsh pool-dumpxml (sizes aside)"
    else
        echo "not ok $n - pool $(basename "$f"): Vireo's output equals virsh pool-dumpxml (sizes aside)"
        sed 's/^/# /' "$tmp/diff" "$tmp/err"
        fail=$((fail + 1))
    fi
done
# Volumes: created in the test driver's default-pool, which sets its own key
# and target path (both belong to the pool), so those lines are not compared.
for f in "$data"/storagevol/*.xml; do
    case $f in *.out.xml) continue ;; esac
    [ -e "${f%.xml}.out.xml" ] || continue
    name=$(sed -n 's:.*<name>\(.*\)</name>.*:\1:p' "$f" | head -1)
    n=$((n + 1))
    virsh -q -c test:///default "vol-create default-pool $f; vol-dumpxml --pool default-pool $name" \
        >"$tmp/out" 2>"$tmp/err"
    sed '/^$/d' "$tmp/out" | grep -v "^Vol $name created" | grep -v '<key>\|<path>' >"$tmp/virsh"
    grep -v '<key>\|<path>' "${f%.xml}.out.xml" >"$tmp/ours"
    if diff -u "$tmp/virsh" "$tmp/ours" >"$tmp/diff" 2>&1; then
        echo "ok $n - volume $(basename "$f"): Vireo's output equals virsh vol-dumpxml (key, path aside)"
    else
        echo "not ok $n - volume $(basename "$f"): Vireo's output equals virsh vol-dumpxml (key, path aside)"
        sed 's/^/# /' "$tmp/diff" "$tmp/err"
        fail=$((fail + 1))
    fi
done
echo "1..$n"
[ "$fail" -eq 0 ]
