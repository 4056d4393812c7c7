#!/bin/sh
# Checks every golden output under tests/conf against libvirt's RelaxNG
# schemas with virt-xml-validate (Debian's libvirt-clients; schemas from
# libvirt0): what Vireo prints must be XML libvirt itself accepts.
# Usage: validate-golden.sh DATA_DIR. Prints TAP.
data=$1
if ! command -v virt-xml-validate >/dev/null 2>&1; then
    echo "1..0 # SKIP virt-xml-validate not installed (libvirt-clients)"
    exit 0
fi
n=0
fail=0
for pair in domain:domain network:network storagepool:storagepool storagevol:storagevol \
    snapshot:domainsnapshot; do
    dir=${pair%%:*}
    schema=${pair#*:}
    for f in "$data/$dir"/*.out.xml; do
        [ -e "$f" ] || continue
        n=$((n + 1))
        if out=$(virt-xml-validate "$f" "$schema" 2>&1); then
            echo "ok $n - $dir/$(basename "$f") validates as '$schema'"
        else
            echo "not ok $n - $dir/$(basename "$f") validates as '$schema'"
            echo "$out" | sed 's/^/# /'
            fail=$((fail + 1))
        fi
    done
done
echo "1..$n"
[ "$fail" -eq 0 ]
