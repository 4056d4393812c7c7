# lib.sh - shared helpers for vireo-img's integration tests (TAP output).
# Sourced by the test-img-*.sh scripts; $1 of the script is vireo-img's path.
set -u
V=$(realpath "$1")
T=$(mktemp -d /tmp/vireo-img-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
# check DESCRIPTION COMMAND...: a test that passes when the command succeeds.
check() {
    local d="$1"
    shift
    if "$@" >"$T/.out" 2>&1; then ok "$d"; else not_ok "$d"; sed 's/^/# /' "$T/.out"; fi
}
# todo DESCRIPTION COMMAND...: a known gap (TAP TODO: reported, not counted).
todo() {
    local d="$1"
    shift
    n=$((n + 1))
    if "$@" >"$T/.out" 2>&1; then echo "ok $n - $d # TODO"; else echo "not ok $n - $d # TODO"; head -5 "$T/.out" | sed 's/^/# /'; fi
}
# wait_listening SOCKET: until a connection to the unix socket succeeds (at most 10 s). The
# socket's file appears at bind(), before the server listens: a client in between is refused.
wait_listening() {
    local _
    for _ in $(seq 200); do
        python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' \
            "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
finish() { echo "1..$n"; [ $failed -eq 0 ]; }
command -v qemu-img >/dev/null || { echo "1..0 # SKIP qemu-img (qemu-utils) not installed"; exit 0; }

# Makes a raw file of SIZE MiB with a mix of random data, patterns, zero runs and holes.
make_mixed() {
    local out=$1 mib=$2 seed=$3
    python3 - "$out" "$mib" "$seed" <<'PY'
import random, sys
out, mib, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
size = mib << 20
with open(out, 'wb') as f:
    f.truncate(size)
    pos = 0
    while pos < size:
        kind = r.randrange(4)
        ln = min(size - pos, r.choice([512, 4096, 65536, 200000, 1 << 20]))
        if kind == 0:
            f.seek(pos); f.write(r.randbytes(ln))
        elif kind == 1:
            f.seek(pos); f.write(bytes([r.randrange(1, 256)]) * ln)
        elif kind == 2:
            f.seek(pos); f.write(b'\0' * ln)   # written zeroes
        pos += ln                              # kind 3: hole
PY
}
# qemu-img check with no errors and no leaks, and the expected data.
qemu_clean() { qemu-img check "$1" >"$T/.chk" 2>&1 && grep -q '^No errors were found on the image.$' "$T/.chk"; }
qemu_same_data() {
    qemu-img convert -O raw "$1" "$T/.raw" && cmp "$T/.raw" "$2"
}

# qemu-img's PBKDF2 calibration reads the thread's user CPU time from getrusage, which
# Linux apportions from timer-tick samples; over its first short round it often reads 0 and
# qemu-img fails with "Unable to get accurate CPU usage" (20-35% of tries on this kind of
# machine, more on a loaded one). A failed try costs milliseconds, so the commands that make
# or change encrypted images with it are tried up to 60 times, the last with its output shown.
qemu_retry() {
    local i
    for ((i = 1; i < 60; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    "$@"
}
