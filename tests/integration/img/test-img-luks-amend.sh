#!/usr/bin/env bash
# test-img-luks-amend.sh - `vireo-img amend`'s LUKS key slots against the
# real qemu-img and qemu-io: a slot added by one tool unlocks in the other,
# a slot erased by one no longer unlocks in the other, the last slot and
# an occupied slot are refused with qemu-img's words (unless --force), and
# key slot options on a plain qcow2 or next to other luks options are
# refused as qemu-img refuses them. The luks format and qcow2's encrypt.*.
. "$(dirname "$0")/lib.sh"
command -v qemu-io >/dev/null || { echo "1..0 # SKIP qemu-io (qemu-utils) not installed"; exit 0; }

make_mixed src.raw 2 7
S0="--object secret,id=sec0,data=pass-zero"
S1="--object secret,id=sec1,data=pass-one"
S2="--object secret,id=sec2,data=pass-two"
# qemu-img's PBKDF2 calibration now and then fails on a loaded machine:
# its encrypted creates and amends are retried.
qemu_try() { qemu_retry "$@"; }
lo() { echo "driver=luks,file.filename=$1,key-secret=$2"; }
qo() { echo "driver=qcow2,file.filename=$1,encrypt.key-secret=$2"; }
# reads FMT FILE SECRET-ID: qemu-img decrypts the image to the source's bytes.
qemu_reads() {
    local spec
    if [ "$1" = luks ]; then spec=$(lo "$2" "$3"); else spec=$(qo "$2" "$3"); fi
    qemu-img convert $S0 $S1 $S2 --image-opts "$spec" -O raw out.raw && cmp out.raw src.raw
}
vireo_reads() {
    local spec
    if [ "$1" = luks ]; then spec=$(lo "$2" "$3"); else spec=$(qo "$2" "$3"); fi
    "$V" convert $S0 $S1 $S2 --image-opts "$spec" -O raw out.raw && cmp out.raw src.raw
}

for fmt in luks qcow2; do
    if [ $fmt = luks ]; then
        P=""; spec=lo; create="key-secret=sec0,iter-time=10"
    else
        P="encrypt."; spec=qo; create="encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10"
    fi
    f=img.$fmt
    check "[$fmt] vireo makes the image" "$V" convert $S0 -O $fmt -o "$create" src.raw $f

    check "[$fmt] vireo adds a key slot" \
        "$V" amend $S0 $S1 --image-opts -o "${P}state=active,${P}new-secret=sec1,${P}iter-time=10" \
        "$($spec $f sec0)"
    check "[$fmt] qemu-img unlocks it with the new passphrase" qemu_reads $fmt $f sec1
    check "[$fmt] and still with the old one" qemu_reads $fmt $f sec0
    check "[$fmt] info lists two active slots, as qemu-img" \
        sh -c "qemu-img info $f > q.txt && '$V' info $f > v.txt && cmp q.txt v.txt &&
               [ \$(grep -c 'active: true' v.txt) = 2 ]"

    check "[$fmt] vireo erases the slots of the old passphrase" \
        "$V" amend $S0 $S1 --image-opts -o "${P}state=inactive,${P}old-secret=sec0" "$($spec $f sec1)"
    check "[$fmt] qemu-img no longer unlocks with it" \
        sh -c "! qemu-img convert $S0 --image-opts '$($spec $f sec0)' -O raw out.raw 2>e.txt &&
               grep -q 'Invalid password, cannot unlock any keyslot' e.txt"
    check "[$fmt] but does with the new one" qemu_reads $fmt $f sec1

    "$V" amend $S1 --image-opts -o "${P}state=inactive,${P}old-secret=sec1" "$($spec $f sec1)" 2>v.txt >/dev/null
    vr=$?
    qemu-img amend $S1 --image-opts -o "${P}state=inactive,${P}old-secret=sec1" "$($spec $f sec1)" 2>q.txt >/dev/null
    check "[$fmt] erasing the last slot is refused, as qemu-img refuses it" \
        bash -c "[ $vr -ne 0 ] && sed 's/^vireo-img: //' v.txt | cmp - <(sed 's/^qemu-img: //' q.txt)"
    check "[$fmt] and the image still opens" vireo_reads $fmt $f sec1

    check "[$fmt] qemu-img adds slot 5" \
        qemu_try qemu-img amend $S1 $S2 --image-opts \
        -o "${P}state=active,${P}new-secret=sec2,${P}keyslot=5,${P}iter-time=10" "$($spec $f sec1)"
    check "[$fmt] vireo unlocks with qemu-img's slot" vireo_reads $fmt $f sec2
    check "[$fmt] info agrees with qemu-img on qemu-img's slot" \
        sh -c "qemu-img info $f > q.txt && '$V' info $f > v.txt && cmp q.txt v.txt"

    "$V" amend $S1 $S2 --image-opts -o "${P}state=active,${P}new-secret=sec1,${P}keyslot=5" \
        "$($spec $f sec1)" 2>v.txt >/dev/null
    vr=$?
    qemu-img amend $S1 $S2 --image-opts -o "${P}state=active,${P}new-secret=sec1,${P}keyslot=5" \
        "$($spec $f sec1)" 2>q.txt >/dev/null
    check "[$fmt] overwriting an active slot is refused, as qemu-img refuses it" \
        bash -c "[ $vr -ne 0 ] && sed 's/^vireo-img: //' v.txt | cmp - <(sed 's/^qemu-img: //' q.txt)"
    check "[$fmt] --force overwrites it" \
        "$V" amend --force $S0 $S1 --image-opts \
        -o "${P}state=active,${P}new-secret=sec0,${P}keyslot=5,${P}iter-time=10" "$($spec $f sec1)"
    check "[$fmt] qemu-img unlocks slot 5 with its new passphrase" qemu_reads $fmt $f sec0
    check "[$fmt] and no longer with the old one" \
        sh -c "! qemu-img convert $S2 --image-opts '$($spec $f sec2)' -O raw out.raw 2>/dev/null"
    check "[$fmt] vireo erases slot 5 by number" \
        "$V" amend $S1 --image-opts -o "${P}state=inactive,${P}keyslot=5" "$($spec $f sec1)"
    check "[$fmt] qemu-img no longer unlocks it" \
        sh -c "! qemu-img convert $S0 --image-opts '$($spec $f sec0)' -O raw out.raw 2>/dev/null"
    check "[$fmt] qemu-img check (qcow2) or read (luks) clean after the changes" \
        sh -c "if [ $fmt = qcow2 ]; then qemu-img check $S1 --image-opts '$($spec $f sec1)' |
               grep -qx 'No errors were found on the image.'; else true; fi && qemu-img convert $S1 \
               --image-opts '$($spec $f sec1)' -O raw out.raw && cmp out.raw src.raw"
done

# --- refusals ------------------------------------------------------------
"$V" create -f qcow2 plain.qcow2 1M >/dev/null
check "key slot options on a plain qcow2: qemu-img's message" \
    sh -c "! '$V' amend $S1 -o encrypt.state=active,encrypt.new-secret=sec1 plain.qcow2 2>e.txt &&
           grep -qx \"vireo-img: Can't amend encryption options - encryption not present\" e.txt"
check "state is required" \
    sh -c "! '$V' amend $S1 --image-opts -o keyslot=1 '$(lo img.luks sec1)' 2>e.txt &&
           grep -qx \"vireo-img: Parameter 'state' is missing\" e.txt"
check "a luks image has no other amend options" \
    sh -c "! '$V' amend $S1 --image-opts -o size=8M '$(lo img.luks sec1)' 2>e.txt &&
           grep -qx \"vireo-img: Invalid parameter 'size'\" e.txt"
check "amend -o help for luks lists qemu-img's key slot options" \
    sh -c "qemu-img amend -f luks -o help > q.txt; '$V' amend -f luks -o help > v.txt && cmp q.txt v.txt"
check "the image is untouched by the refusals" vireo_reads luks img.luks sec1

finish
