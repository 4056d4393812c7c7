#!/usr/bin/env bash
# test-img-errors.sh - bad input gets one clear line naming the file and the
# reason, and qemu-img's exit code; no file is left half-written.
. "$(dirname "$0")/lib.sh"

# fails DESCRIPTION RC PATTERN ARGS...: exit code RC, exactly one stderr line
# starting "vireo-img: " and matching PATTERN (grep -E).
fails() {
    local d="$1" rc="$2" pat="$3"
    shift 3
    "$V" "$@" >o.txt 2>e.txt
    local got=$?
    # Usage errors add qemu-img's "Try 'vireo-img --help'" hint; the error itself is one line.
    if [ $got -eq "$rc" ] && [ "$(grep -vc "^Try '" e.txt)" -eq 1 ] && grep -qE "^vireo-img: $pat" e.txt; then
        ok "$d"
    else
        not_ok "$d (exit $got)"
        sed 's/^/# /' e.txt
    fi
}

qemu-img create -q -f qcow2 good.qcow2 1M
qemu-img create -q -f raw r.raw 1M
qemu-img create -q -f qcow2 -u -b loop2.qcow2 -F qcow2 loop1.qcow2 1M
qemu-img create -q -f qcow2 -u -b loop1.qcow2 -F qcow2 loop2.qcow2 1M
qemu-img create -q -f qcow2 -u -b gone.qcow2 -F qcow2 orphan.qcow2 1M
printf 'QFI\373garbage' >trunc.qcow2

fails "missing file" 1 "Could not open 'nope.qcow2': .*No such file" info nope.qcow2
fails "wrong format forced" 1 "Could not open 'r.raw': .*qcow2" info -f qcow2 r.raw
fails "truncated qcow2 header" 1 "Could not open 'trunc.qcow2': " info trunc.qcow2
fails "backing loop" 1 "Could not open 'loop1.qcow2': .*loop" convert -O raw loop1.qcow2 out.raw
check "no output file after a failed convert" test ! -e out.raw
fails "info --backing-chain loop" 1 "Backing file 'loop1.qcow2' creates an infinite loop." info --backing-chain loop1.qcow2
fails "missing backing file is named" 1 "Could not open 'orphan.qcow2': .*gone.qcow2" convert -O raw orphan.qcow2 out.raw
check "info of one layer works without its backing file" "$V" info orphan.qcow2
fails "create with missing backing file" 1 "new.qcow2: .*missing.qcow2" create -f qcow2 -b missing.qcow2 -F qcow2 new.qcow2
check "no image created with missing backing file" test ! -e new.qcow2
fails "bad size suffix" 1 "Invalid image size specified" create -f qcow2 x.qcow2 5X
fails "bad resize suffix" 1 "Invalid image size specified" resize good.qcow2 +3Q
fails "unknown format" 1 "Unknown file format 'vmdkx'" create -f vmdkx x.img 1M
fails "bad cluster size" 1 "x.qcow2: Cluster size must be a power of two between 512 and 2048k" create -f qcow2 -o cluster_size=1000 x.qcow2 1M
fails "unknown -o key" 1 "x.qcow2: Invalid parameter 'foo'" create -f qcow2 -o foo=1 x.qcow2 1M
fails "lazy refcounts on v2" 1 "x.qcow2: Lazy refcounts only supported" create -f qcow2 -o compat=0.10,lazy_refcounts=on x.qcow2 1M
fails "no size" 1 "x.qcow2: Image creation needs a size parameter" create -f qcow2 x.qcow2
fails "bad -r value" 1 "Unknown option value for -r" check -r bogus good.qcow2
fails "bad --output" 1 "--output must be used with human or json as argument." info --output=xml good.qcow2
# Refused with qemu-img's two lines: the error and its warning about shrinking.
cp r.raw rq.raw
qemu-img resize -f raw rq.raw 512k 2>&1 | sed 's/^qemu-img:/vireo-img:/' >qe.txt
if ! "$V" resize -f raw r.raw 512k >o.txt 2>e.txt && [ "$(wc -l <e.txt)" -eq 2 ] &&
    grep -q '^vireo-img: Use the --shrink option' e.txt && diff -u qe.txt e.txt; then
    ok "shrink without --shrink: qemu-img's error and warning"
else
    not_ok "shrink without --shrink: qemu-img's error and warning"
    sed 's/^/# /' e.txt
fi
fails "qcow2 size not a multiple of 512" 1 "The new size must be a multiple of 512" resize good.qcow2 1048577
fails "preallocation when shrinking" 1 "Preallocation can only be used for growing images" resize --shrink --preallocation=full good.qcow2 512k
fails "bad preallocation mode" 1 "Invalid preallocation mode 'bogus'" resize --preallocation=bogus good.qcow2 2M
fails "metadata preallocation of raw" 1 "Unsupported preallocation mode: metadata" resize -f raw --preallocation=metadata r.raw 2M
check "qcow2 keeps its size after refused resizes" sh -c "qemu-img info good.qcow2 | grep -q '(1048576 bytes)'"
check "raw --shrink works" sh -c "'$V' resize -f raw --shrink r.raw -- -512k >/dev/null && [ \$(stat -c %s r.raw) -eq 524288 ]"
check "raw grow works" sh -c "'$V' resize -f raw r.raw +1M >/dev/null && [ \$(stat -c %s r.raw) -eq 1572864 ]"
fails "snapshot not found" 1 "Could not apply snapshot 'nosuch': " snapshot -a nosuch good.qcow2
fails "commit of an image without backing file" 1 "Image does not have a backing file: 'good.qcow2'" commit good.qcow2
fails "rebase without -b or -u" 1 "Must specify backing file" rebase good.qcow2
fails "convert -m 0 refused" 1 "Invalid number of coroutines. Allowed number of coroutines is between 1 and 16" convert -m 0 -c -O qcow2 good.qcow2 m.qcow2
fails "convert -m 17 refused" 1 "Invalid number of coroutines. Allowed number of coroutines is between 1 and 16" convert -m 17 -O qcow2 good.qcow2 m.qcow2
fails "convert -c to raw refused" 1 "Compression not supported for this file format" convert -c -O raw good.qcow2 c.raw
fails "convert -c to a flat VMDK refused as qemu-img refuses it" 1 "invalid cluster size" convert -c -O vmdk -o subformat=monolithicFlat good.qcow2 cf.vmdk
fails "convert -C with -c" 1 "Cannot enable copy offloading when -c is used" convert -C -c -O qcow2 good.qcow2 cc.qcow2
fails "convert -l of a missing snapshot" 1 "Could not open 'good.qcow2': Failed to load snapshot: Can't find snapshot" convert -l nosuch -O raw good.qcow2 l.raw
fails "convert -l with two sources" 1 "No support for concatenating multiple snapshot" convert -l s -O raw good.qcow2 good.qcow2 l.raw
fails "compare with a missing file: exit 2" 2 "Could not open 'nope': " compare good.qcow2 nope

# Unknown options and commands: the getopt line plus qemu-img's hint line.
"$V" info --bogus good.qcow2 >o.txt 2>e.txt; rc=$?
check "unknown option: exit 1 and the option named" sh -c "[ $rc -eq 1 ] && grep -qx \"vireo-img: unrecognized option '--bogus'\" e.txt && grep -qx \"Try 'vireo-img --help' for more information\" e.txt"
"$V" frob >o.txt 2>e.txt; rc=$?
check "unknown command: exit 1" sh -c "[ $rc -eq 1 ] && grep -qx 'vireo-img: Command not found: frob' e.txt"
t_help() {
    local c
    for c in amend bench bitmap check commit compare convert create dd info map measure rebase resize snapshot; do
        "$V" --help | grep -q "^  $c " || { echo "missing: $c"; return 1; }
    done
}
check "--help lists every subcommand" t_help
# A reader that went away is not a signal that kills vireo-img (qemu-img ignores SIGPIPE too):
# map of a 64 MiB image writes lines after `true` has exited.
qemu-img create -q -f raw big.raw 64M
for i in $(seq 0 2 62); do printf x | dd of=big.raw bs=1 seek=$((i << 20)) conv=notrunc status=none; done
t_sigpipe() {
    local q v
    (sleep 0.3; qemu-img map --output=json -f raw big.raw) | true
    q=${PIPESTATUS[0]}
    (sleep 0.3; "$V" map --output=json -f raw big.raw) | true
    v=${PIPESTATUS[0]}
    echo "qemu-img $q, vireo-img $v"
    [ "$q" -ne 141 ] && [ "$v" -ne 141 ]
}
check "a closed output pipe: no death by SIGPIPE, as qemu-img" t_sigpipe
finish
