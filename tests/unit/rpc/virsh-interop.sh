#!/bin/sh
# virsh-interop.sh - the stock virsh (Debian's libvirt-clients) against
# rpc-test-server, a server built on src/rpc: every answer virsh prints must
# be the one our server sent, and an unimplemented procedure must produce
# libvirt's own "not supported" error. TAP output.
#
#   virsh-interop.sh PATH/TO/rpc-test-server
server=$1
if ! command -v virsh >/dev/null 2>&1; then
    echo "1..0 # SKIP virsh (libvirt-clients) is not installed"
    exit 0
fi
dir=$(mktemp -d /tmp/vireo-rpc.XXXXXX)
sock=$dir/sock
"$server" "$sock" --log "$dir/log" --lifetime 100 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

n=0
fail=0
check() { # description, expected text, actual text
    n=$((n + 1))
    if [ "$2" = "$3" ]; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"
        echo "# expected:"; printf '%s\n' "$2" | sed 's/^/#   /'
        echo "# got:"; printf '%s\n' "$3" | sed 's/^/#   /'
        fail=1
    fi
}
# LIBVIRT_DEFAULT_URI and config files must not interfere.
export HOME=$dir XDG_CONFIG_HOME=$dir XDG_CACHE_HOME=$dir XDG_RUNTIME_DIR=$dir
unset LIBVIRT_DEFAULT_URI
v() { timeout 20 virsh -q -c "qemu+unix:///system?socket=$sock" "$@" 2>&1; }

check "virsh uri" "qemu+unix:///system?socket=$sock" "$(v uri)"
check "virsh hostname prints the server's hostname" "vireo-test-host" "$(v hostname)"
# "Using API" is the client library's own version; the type and the
# hypervisor version come from the server.
check "virsh version prints the server's type and hypervisor version" "Using API: QEMU X
Running hypervisor: QEMU 7.2.5" "$(v version | sed -n 's/^Using API: QEMU .*/Using API: QEMU X/p; /^Running/p')"
check "virsh nodeinfo prints the server's node info" "CPU model:           vireo-x86_64
CPU(s):              6
CPU frequency:       2345 MHz
CPU socket(s):       1
Core(s) per socket:  3
Thread(s) per core:  2
NUMA cell(s):        1
Memory size:         3145728 KiB" "$(v nodeinfo)"
check "virsh list --all prints the server's domain" " 7   vireo-test   running" "$(v list --all)"
check "virsh list --inactive asks with the inactive flag" "" "$(v list --inactive)"
check "virsh domid looks the domain up by name" "7" "$(v domid vireo-test)"
check "virsh domname looks the domain up by id" "vireo-test" "$(v domname 7)"
check "virsh domuuid" "6b1c3e8a-520d-4f1e-9b77-2105c4a83310" "$(v domuuid vireo-test)"
check "virsh domname by uuid" "vireo-test" "$(v domname 6b1c3e8a-520d-4f1e-9b77-2105c4a83310)"
check "virsh domstate" "running" "$(v domstate vireo-test)"
check "a missing domain prints the server's error" "error: failed to get domain 'nope'" \
    "$(v domstate nope | head -1)"
check "an unimplemented procedure prints libvirt's not-supported error" \
    "error: this function is not supported by the connection driver: virDomainGetXMLDesc" \
    "$(v dumpxml vireo-test | tail -1)"
check "capabilities: not supported either" \
    "error: this function is not supported by the connection driver: virConnectGetCapabilities" \
    "$(v capabilities | tail -1)"

# Keepalive: with a 1 s interval an idle virsh pings and our PONG keeps it alive.
out=$( (sleep 3; echo hostname) | timeout 20 virsh -q -k 1 -K 2 \
    -c "qemu+unix:///system?socket=$sock" 2>&1)
check "an idle connection survives on keepalive" "vireo-test-host" "$(printf '%s\n' "$out" | grep -v '^virsh #' | sed 's/^virsh # //' | grep -v '^$')"
n=$((n + 1))
if grep -q "KEEPALIVE_PING" "$dir/log"; then
    echo "ok $n - virsh sent keepalive PINGs ($(grep -c KEEPALIVE_PING "$dir/log"))"
else
    echo "not ok $n - virsh sent no keepalive PING"; fail=1
fi
echo "# procedures received:"
sort -u -k2,3 "$dir/log" | awk '{print "#   " $1, $2, $3}'
echo "1..$n"
exit $fail
