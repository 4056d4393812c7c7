#!/usr/bin/env bash
# test-img-locks.sh - image locks across the two tool families, both ways.
# QEMU (qemu-system-x86_64 with a disk, qemu-io) holds an image while
# vireo-img tries to write it, read it, and read it with -U; the block
# layer (blk-util hold, the code vireo-img and vireo-vmm open images with)
# holds one while qemu-img, qemu-io and qemu-system-x86_64 try. Refusals
# must read as qemu-img's ("Failed to get "write" lock" and "Is another
# process using the image [PATH]?"), and must leave the image untouched.
# $2 is blk-util (tests/unit/block).
B=$(realpath "$2")
. "$(dirname "$0")/lib.sh"
command -v qemu-system-x86_64 >/dev/null || { echo "1..0 # SKIP qemu-system-x86_64 not installed"; exit 0; }

make_mixed src.raw 2 3
qemu-img create -q -f raw disk.raw 2M
qemu-img create -q -f qcow2 base.qcow2 2M
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2

vm_pid=
vm_start() { # DRIVE-OPTIONS [DEVICE-OPTIONS]: a paused QEMU VM holding a disk
    qemu-system-x86_64 -S -display none -nodefaults -M pc -drive "$1,if=none,id=d0" \
        -device "virtio-blk-pci,drive=d0${2:+,$2}" -daemonize -pidfile qemu.pid >qemu.log 2>&1 || {
        cat qemu.log
        return 1
    }
    vm_pid=$(cat qemu.pid)
}
vm_stop() {
    [ -n "$vm_pid" ] || return 0
    kill "$vm_pid" 2>/dev/null
    while kill -0 "$vm_pid" 2>/dev/null; do sleep 0.05; done
    vm_pid=
}
hold_pid=
hold_start() { # FILE [ro|vm|share-rw]: the block layer holds FILE until hold_stop
    rm -f hold.in hold.out
    mkfifo hold.in
    "$B" hold "$@" <hold.in >hold.out 2>&1 &
    hold_pid=$!
    exec 7>hold.in
    for _ in $(seq 200); do grep -q held hold.out 2>/dev/null && return 0; sleep 0.05; done
    cat hold.out
    return 1
}
hold_stop() {
    exec 7>&-
    [ -n "$hold_pid" ] && wait "$hold_pid"
    hold_pid=
}
trap 'vm_stop; hold_stop 2>/dev/null; rm -rf "$T"' EXIT

# refused DESC WANT-FIRST-LINE FILE COMMAND...: fails with qemu-img's two lines.
refused() {
    local d=$1 want=$2 f=$3
    shift 3
    if "$@" >out.txt 2>err.txt; then
        not_ok "$d (succeeded)"
        return
    fi
    printf '%s\nIs another process using the image [%s]?\n' "$want" "$f" >want.txt
    if cmp -s err.txt want.txt; then ok "$d"; else not_ok "$d"; sed 's/^/# /' err.txt; fi
}

# --- QEMU holds, vireo-img asks ------------------------------------------
check "qemu-system holds disk.raw (read-write, write not shared)" vm_start file=disk.raw,format=raw
sum=$(md5sum <disk.raw)
refused "vireo-img convert -n into it: write lock refused" \
    "vireo-img: Could not open 'disk.raw': Failed to get \"write\" lock" disk.raw \
    "$V" convert -n -O raw src.raw disk.raw
refused "vireo-img create over it refused" \
    "vireo-img: disk.raw: Failed to get \"write\" lock" disk.raw "$V" create -f raw disk.raw 1M
refused "vireo-img resize refused" \
    "vireo-img: Could not open 'disk.raw': Failed to get \"write\" lock" disk.raw \
    "$V" resize -f raw disk.raw 4M
check "the refused commands left the image alone" sh -c "[ \"\$(md5sum <disk.raw)\" = '$sum' ] && [ \$(stat -c %s disk.raw) = 2097152 ]"
check "vireo-img info of a raw disk in use (raw shares reads)" "$V" info disk.raw
check "vireo-img compare -U" "$V" compare -U disk.raw disk.raw
vm_stop
check "after the VM: vireo-img writes" "$V" convert -n -O raw src.raw disk.raw

check "qemu-system holds top.qcow2" vm_start file=top.qcow2
refused "vireo-img info of a qcow2 in use: shared write lock refused" \
    "vireo-img: Could not open 'top.qcow2': Failed to get shared \"write\" lock" top.qcow2 \
    "$V" info top.qcow2
check "vireo-img info -U reads it" sh -c "'$V' info -U top.qcow2 | grep -qx 'image: top.qcow2'"
check "vireo-img check -U reads it" "$V" check -U top.qcow2
check "vireo-img map -U reads it" "$V" map -U top.qcow2
refused "vireo-img snapshot -c refused" \
    "vireo-img: Could not open 'top.qcow2': Failed to get \"write\" lock" top.qcow2 \
    "$V" snapshot -c s1 top.qcow2
refused "vireo-img resize of the backing file refused" \
    "vireo-img: Could not open 'base.qcow2': Failed to get \"write\" lock" base.qcow2 \
    "$V" resize base.qcow2 4M
check "vireo-img info of the backing file (read-only users share it)" "$V" info base.qcow2
check "vireo-img -U with a write refused (force-share is read-only)" \
    sh -c "! '$V' resize -U top.qcow2 4M 2>/dev/null"
vm_stop

check "qemu-system with share-rw=on on disk.raw" vm_start file=disk.raw,format=raw share-rw=on
check "vireo-img writes beside a share-rw VM" "$V" convert -n -O raw src.raw disk.raw
vm_stop
check "qemu-system with file.locking=off" vm_start file=disk.raw,format=raw,file.locking=off
check "vireo-img writes beside an unlocked VM" "$V" convert -n -O raw src.raw disk.raw
vm_stop
check "qemu-system holds disk.raw again" vm_start file=disk.raw,format=raw
check "vireo-img file.locking=off writes anyway (as qemu-img's)" \
    "$V" convert -n --target-image-opts src.raw driver=raw,file.filename=disk.raw,file.locking=off
vm_stop

# Every format's create takes the lock before emptying the file.
qemu-img create -q -f vdi held.vdi 2M
check "qemu-system holds held.vdi" vm_start file=held.vdi,format=vdi
sum=$(md5sum <held.vdi)
for fmt in qcow2 vdi vpc vhdx qed vmdk luks; do
    o=; [ $fmt = luks ] && o="-o key-secret=s0,iter-time=10"
    refused "vireo-img create -f $fmt over it refused" \
        "vireo-img: held.vdi: Failed to get \"write\" lock" held.vdi \
        "$V" create --object secret,id=s0,data=x -f $fmt $o held.vdi 1M
done
check "the refused creates left the image alone" sh -c "[ \"\$(md5sum <held.vdi)\" = '$sum' ]"
vm_stop

# --- the block layer holds, QEMU asks ------------------------------------
check "block layer holds disk.raw as a VM disk" hold_start disk.raw vm
sum=$(md5sum <disk.raw)
refused "qemu-img convert -n into it refused" \
    "qemu-img: Could not open 'disk.raw': Failed to get \"write\" lock" disk.raw \
    qemu-img convert -n -O raw src.raw disk.raw
refused "qemu-io write refused" \
    "qemu-io: can't open device disk.raw: Failed to get \"write\" lock" disk.raw \
    qemu-io -f raw -c 'write 0 512' disk.raw
check "qemu-system-x86_64 cannot start on it" \
    sh -c "! qemu-system-x86_64 -S -display none -nodefaults -M pc -drive file=disk.raw,format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d0 -daemonize -pidfile q2.pid 2>e.txt && grep -q 'Failed to get \"write\" lock' e.txt"
check "qemu-img info reads it" qemu-img info -f raw disk.raw
check "image untouched" sh -c "[ \"\$(md5sum <disk.raw)\" = '$sum' ]"
hold_stop

# A qcow2 image's external data file is locked with the image.
"$V" create -f qcow2 -o data_file=ext.data ext.qcow2 2M >/dev/null
check "block layer holds ext.qcow2 (data file ext.data) as a VM disk" hold_start ext.qcow2 vm
sum=$(md5sum <ext.data)
refused "qemu-img convert -n into the data file refused" \
    "qemu-img: Could not open 'ext.data': Failed to get \"write\" lock" ext.data \
    qemu-img convert -n -O raw src.raw ext.data
check "qemu-img reads the data file with -U" qemu-img info -U -f raw ext.data
check "data file untouched" sh -c "[ \"\$(md5sum <ext.data)\" = '$sum' ]"
hold_stop
check "after the VM: qemu-img writes the data file" qemu-img convert -n -O raw src.raw ext.data

# A VMDK's extent files are locked with its descriptor.
qemu-img create -q -f vmdk -o subformat=monolithicFlat fl.vmdk 2M
check "block layer holds fl.vmdk (extent fl-flat.vmdk) as a VM disk" hold_start fl.vmdk vm
refused "qemu-img convert -n into the flat extent refused" \
    "qemu-img: Could not open 'fl-flat.vmdk': Failed to get \"write\" lock" fl-flat.vmdk \
    qemu-img convert -n -O raw src.raw fl-flat.vmdk
hold_stop
qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse sp.vmdk 2M
check "block layer holds sp.vmdk (sparse extent sp-s001.vmdk) read-write" hold_start sp.vmdk
refused "qemu-img info of the sparse extent: shared write lock refused" \
    "qemu-img: Could not open 'sp-s001.vmdk': Failed to get shared \"write\" lock" sp-s001.vmdk \
    qemu-img info -f vmdk sp-s001.vmdk
hold_stop
check "after: qemu-img writes the flat extent" qemu-img convert -n -O raw src.raw fl-flat.vmdk

check "block layer holds top.qcow2 read-write (as vireo-img)" hold_start top.qcow2
refused "qemu-img info of it: shared write lock refused" \
    "qemu-img: Could not open 'top.qcow2': Failed to get shared \"write\" lock" top.qcow2 \
    qemu-img info top.qcow2
check "qemu-img info -U reads it" qemu-img info -U top.qcow2
refused "qemu-img resize of its backing file refused" \
    "qemu-img: Could not open 'base.qcow2': Failed to get \"write\" lock" base.qcow2 \
    qemu-img resize base.qcow2 4M
check "qemu-img info of the backing file" qemu-img info base.qcow2
hold_stop

# --- two openers of the block layer, as two VMs --------------------------
check "first VM-style opener of disk.raw" hold_start disk.raw vm
refused "a second VM-style opener is refused" \
    "blk-util: could not open 'disk.raw': Failed to get \"write\" lock" disk.raw \
    "$B" hold disk.raw vm
hold_stop
check "first share-rw opener of disk.raw" hold_start disk.raw share-rw
check "a second share-rw opener is allowed" sh -c "echo | '$B' hold disk.raw share-rw"
hold_stop
check "first share-rw opener of top.qcow2" hold_start top.qcow2 share-rw
refused "qcow2 is never shared for writing, even with share-rw" \
    "blk-util: could not open 'top.qcow2': Failed to get \"write\" lock" top.qcow2 \
    "$B" hold top.qcow2 share-rw
hold_stop

finish
