#!/usr/bin/env bash
# test-img-nbd-inflight.sh - vireo-img's NBD client with several requests in flight on one
# connection, against the real qemu-nbd: convert into an export and out of it with many
# parallel workers (-m 16 -W, reads answered with structured replies, which qemu-nbd sends
# in whatever order its coroutines finish), checked with qemu-img compare; and a server
# killed while requests are outstanding (stopped first, so the writes or reads are surely
# in flight, then SIGKILL): every waiter fails, the convert says one line and exits 1,
# rather than dying of SIGPIPE or hanging. And a discard through the block layer on an
# export (blk-util discard) is an NBD_CMD_TRIM that qemu-nbd --discard=unmap punches.
# Usage: test-img-nbd-inflight.sh VIREO_IMG BLK_UTIL
BLK=$(realpath "$2")
. "$(dirname "$0")/lib.sh"
command -v qemu-nbd >/dev/null || { echo "1..0 # SKIP qemu-nbd (qemu-utils) not installed"; exit 0; }

pids=()
stop_servers() {
    local p
    for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap stop_servers EXIT

# serve SOCKET EXPORT FILE: a persistent export of FILE's raw bytes; its pid in $server.
serve() {
    qemu-nbd --persistent -f raw -x "$2" -k "$1" "$3" 2>>"$T/nbd.err" &
    server=$!
    pids+=("$server")
    wait_listening "$1" && return 0
    echo "# qemu-nbd did not come up on $1"
    return 1
}

# allocated_mib FILE: how much of FILE is allocated, in MiB.
allocated_mib() {
    local b
    b=$(stat -c '%b * %B' "$1" 2>/dev/null) || b=0
    echo $((($b) >> 20))
}

make_mixed src.raw 96 13
qemu-img create -q -f raw target.raw 96M
serve "$T/w.sock" w target.raw || exit 1
W="nbd+unix:///w?socket=$T/w.sock"

"$V" convert -n -m 16 -W -O raw src.raw "$W"
check "convert -n -m 16 -W into an export: qemu-img compare equal" qemu-img compare -U src.raw "$W"
"$V" convert -m 16 -W -O raw "$W" out.raw
check "convert -m 16 -W out of an export: qemu-img compare equal" qemu-img compare src.raw out.raw
"$V" convert -m 16 -W -O qcow2 "$W" out.qcow2
check "convert -m 16 -W out of an export into qcow2: qemu-img compare equal" \
    qemu-img compare src.raw out.qcow2
# A qcow2 image written through the export: the format's metadata and data through one
# connection, many requests at once.
qemu-img create -q -f raw qtarget.raw 128M
serve "$T/q.sock" q qtarget.raw || exit 1
"$V" convert -n -m 16 -W -O raw src.raw "nbd+unix:///q?socket=$T/q.sock"
check "convert -n -m 16 -W of 96 MiB into a 128 MiB export: the bytes land" \
    cmp -n $((96 << 20)) src.raw qtarget.raw

# NBD_CMD_TRIM: 8 MiB at 16 MiB of a fully written export become a hole in its file; the
# bytes around stay.
head -c $((32 << 20)) /dev/urandom >full.raw
cp full.raw trim.raw
qemu-nbd --persistent -f raw -x t -k "$T/t.sock" --discard=unmap trim.raw 2>>"$T/nbd.err" &
pids+=($!)
for _ in $(seq 200); do [ -S "$T/t.sock" ] && break; sleep 0.05; done
before=$(allocated_mib trim.raw)
"$BLK" discard "nbd+unix:///t?socket=$T/t.sock" $((16 << 20)) $((8 << 20)) >trim.out 2>&1
check "blk-util discard on an export succeeds" test $? -eq 0
after=$(allocated_mib trim.raw)
check "the trimmed 8 MiB are unallocated in the served file ($before -> $after MiB)" \
    test "$after" -le $((before - 8))
check "the bytes outside the trimmed range are unchanged" \
    bash -c "cmp -n $((16 << 20)) full.raw trim.raw &&
             cmp -i $((24 << 20)) full.raw trim.raw"
check "the trimmed range reads as zeroes (qemu-img map: a hole there)" \
    bash -c "qemu-img map --output=json -f raw trim.raw | grep -q '\"start\": $((16 << 20)), \"length\": $((8 << 20)), \"depth\": 0, \"present\": true, \"zero\": true, \"data\": false'"

# kill_mid_convert DESCRIPTION ALLOCATED_FILE ARGS...: runs vireo-img ARGS in the background;
# once ALLOCATED_FILE has some MiB (the convert is under way), stops the server, then kills
# it. The convert must exit 1 with one line on stderr.
kill_mid_convert() {
    local d=$1 file=$2
    shift 2
    "$V" "$@" >o.txt 2>e.txt &
    local conv=$!
    for _ in $(seq 2000); do
        [ "$(allocated_mib "$file")" -ge 4 ] && break
        kill -0 "$conv" 2>/dev/null || break
        sleep 0.01
    done
    kill -STOP "$server"
    kill -KILL "$server"
    wait "$conv"
    local got=$?
    if [ $got -eq 1 ] && [ "$(wc -l <e.txt)" -eq 1 ] &&
        grep -Eq "NBD: (cannot (write to|read from) the server|the server closed the connection)" e.txt; then
        ok "$d"
    else
        not_ok "$d (exit $got)"
        sed 's/^/# /' e.txt
    fi
}

# A server killed while convert's writes are outstanding (without MSG_NOSIGNAL: SIGPIPE, 141).
head -c $((384 << 20)) /dev/urandom >big.raw
qemu-img create -q -f raw dying.raw 384M
serve "$T/d.sock" d dying.raw || exit 1
kill_mid_convert "qemu-nbd killed during convert -n into it: one line, exit 1" dying.raw \
    convert -n -m 16 -W -O raw big.raw "nbd+unix:///d?socket=$T/d.sock"
# The same while reads are outstanding (out.raw fills as the reads come back).
serve "$T/r.sock" r big.raw || exit 1
rm -f big-out.raw
kill_mid_convert "qemu-nbd killed during convert -m 16 out of it: one line, exit 1" big-out.raw \
    convert -m 16 -W -O raw "nbd+unix:///r?socket=$T/r.sock" big-out.raw
finish
