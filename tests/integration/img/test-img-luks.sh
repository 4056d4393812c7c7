#!/usr/bin/env bash
# test-img-luks.sh - encrypted images exchanged between vireo-img and the
# real qemu-img with the same secrets, both ways: the luks format and qcow2
# with encrypt.format=luks, for each cipher, mode and IV generator qemu-img
# 7.2 can make; unaligned writes through the block layer read back through
# qemu-io; info/map print what qemu-img prints; a wrong or missing
# passphrase is one line and leaves nothing behind; old AES qcow2 reads
# for conversion and is refused for writing; key material in a backing
# file is reached through backing.encrypt.key-secret.
# $2 is blk-util (tests/unit/block), the block library's test driver.
B=$(realpath "$2")
. "$(dirname "$0")/lib.sh"
command -v qemu-io >/dev/null || { echo "1..0 # SKIP qemu-io (qemu-utils) not installed"; exit 0; }

make_mixed src.raw 4 1
S0="--object secret,id=sec0,data=pass-zero"
S1="--object secret,id=sec1,data=pass-one"
WRONG="--object secret,id=sec0,data=not-the-pass"
LK="key-secret=sec0,iter-time=10"
# qemu-img's PBKDF2 calibration now and then fails on a loaded machine
# ("Unable to get accurate CPU usage"): making its images is retried.
qemu_make() { qemu_retry qemu-img "$@"; }
QK="encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10"
lo() { echo "driver=luks,file.filename=$1,key-secret=sec0"; }
qo() { echo "driver=qcow2,file.filename=$1,encrypt.key-secret=sec0"; }

# --- the luks format, every cipher family, both directions ---------------
specs=(
    ""
    "cipher-alg=aes-128"
    "cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv"
    "cipher-alg=aes-256,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha256,hash-alg=sha512"
    "cipher-alg=twofish-256,cipher-mode=xts"
    "cipher-alg=serpent-128,cipher-mode=cbc,ivgen-alg=plain,hash-alg=sha1"
    "cipher-alg=cast5-128,cipher-mode=cbc"
    "cipher-alg=aes-256,cipher-mode=ctr"
    "cipher-alg=aes-128,cipher-mode=ecb,hash-alg=ripemd160"
)
i=0
for spec in "${specs[@]}"; do
    i=$((i + 1))
    o=$LK${spec:+,$spec}
    check "vireo convert -O luks [${spec:-defaults}]" "$V" convert $S0 -O luks -o "$o" src.raw v$i.luks
    check "qemu-img reads it [${spec:-defaults}]" \
        sh -c "qemu-img convert $S0 --image-opts '$(lo v$i.luks)' -O raw v$i.raw && cmp v$i.raw src.raw"
    check "qemu-img info sees the same cipher [${spec:-defaults}]" \
        sh -c "qemu-img info v$i.luks > q.txt && '$V' info v$i.luks > v.txt && cmp q.txt v.txt"
    qemu_make convert $S0 -O luks -o "$o" src.raw q$i.luks
    check "vireo reads qemu-img's [${spec:-defaults}]" \
        sh -c "'$V' convert $S0 --image-opts '$(lo q$i.luks)' -O raw qv$i.raw && cmp qv$i.raw src.raw"
done
# qemu-img 7.2 aborts on 24-byte keys (its key material is not a whole
# number of sectors); vireo-img makes and reads them like any other.
check "aes-192 (qemu-img 7.2 cannot) round-trips in vireo-img" \
    sh -c "'$V' convert $S0 -O luks -o $LK,cipher-alg=aes-192 src.raw a192.luks &&
           '$V' convert $S0 --image-opts '$(lo a192.luks)' -O raw a192.raw && cmp a192.raw src.raw"

# --- qcow2 with LUKS, both directions, as qemu-img check sees it -----------
for spec in "" "cluster_size=4096" "compat=0.10" "encrypt.cipher-alg=twofish-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv" "lazy_refcounts=on"; do
    tag=${spec:-defaults}
    f=vq-$(echo "$tag" | tr -c 'a-z0-9\n' '-').qcow2
    check "vireo convert -O qcow2 LUKS [$tag]" "$V" convert $S0 -O qcow2 -o "$QK${spec:+,$spec}" src.raw $f
    check "qemu-img check clean [$tag]" \
        sh -c "qemu-img check $S0 --image-opts '$(qo $f)' | grep -qx 'No errors were found on the image.'"
    check "qemu-img reads it [$tag]" \
        sh -c "qemu-img convert $S0 --image-opts '$(qo $f)' -O raw r.raw && cmp r.raw src.raw"
    qemu_make convert $S0 -O qcow2 -o "$QK${spec:+,$spec}" src.raw q$f
    check "vireo reads qemu-img's [$tag]" \
        sh -c "'$V' convert $S0 --image-opts '$(qo q$f)' -O raw r.raw && cmp r.raw src.raw"
    check "vireo check clean on qemu-img's [$tag]" \
        sh -c "'$V' check $S0 --image-opts '$(qo q$f)' | grep -qx 'No errors were found on the image.'"
    check "info identical to qemu-img's [$tag]" \
        sh -c "qemu-img info $f > q.txt && '$V' info $f > v.txt && cmp q.txt v.txt"
    check "info --output=json identical [$tag]" \
        sh -c "qemu-img info --output=json $f > q.txt && '$V' info --output=json $f > v.txt && cmp q.txt v.txt"
done
check "vireo and qemu-img lay the LUKS header out alike (same file size)" \
    sh -c "[ \$(stat -c %s vq-defaults.qcow2) = \$(stat -c %s qvq-defaults.qcow2) ]"
check "map --output=json identical to qemu-img's (no offsets for ciphertext)" \
    sh -c "qemu-img map --output=json $S0 --image-opts '$(qo vq-defaults.qcow2)' > q.txt &&
           '$V' map --output=json $S0 --image-opts '$(qo vq-defaults.qcow2)' > v.txt && cmp q.txt v.txt"
check "map (human) refuses as qemu-img does" \
    sh -c "! '$V' map $S0 --image-opts '$(qo vq-defaults.qcow2)' 2>e.txt >/dev/null &&
           grep -qx 'vireo-img: File contains external, encrypted or compressed clusters.' e.txt"
check "info --image-opts names the image as qemu-img does" \
    sh -c "'$V' info $S0 --image-opts '$(qo vq-defaults.qcow2)' | head -1 > v.txt &&
           qemu-img info $S0 --image-opts '$(qo vq-defaults.qcow2)' | head -1 > q.txt && cmp q.txt v.txt"

# --- partial-sector writes through the block layer, read by qemu ---------
for f in v1.luks vq-defaults.qcow2 vq-cluster-size-4096.qcow2; do
    cp src.raw w.raw
    check "unaligned writes into $f (block layer)" sh -c "
        BLK_UTIL_KEY=pass-zero '$B' write $f 1000 3000 0x5a &&
        BLK_UTIL_KEY=pass-zero '$B' write $f 70000 100 0xa5 &&
        BLK_UTIL_KEY=pass-zero '$B' write $f 3145727 2 0x11"
    python3 - <<'PY'
f = open('w.raw', 'r+b')
for off, n, b in ((1000, 3000, 0x5a), (70000, 100, 0xa5), (3145727, 2, 0x11)):
    f.seek(off); f.write(bytes([b]) * n)
PY
    if [ "${f%.luks}" != "$f" ]; then spec=$(lo $f); else spec=$(qo $f); fi
    check "qemu-img reads the patched $f" \
        sh -c "qemu-img convert $S0 --image-opts '$spec' -O raw p.raw && cmp p.raw w.raw"
done
qemu_make convert $S0 -O qcow2 -o "$QK" src.raw qw.qcow2
qemu-io $S0 --image-opts "$(qo qw.qcow2)" -c 'write -P 0x77 513 1000' -c 'write -P 0x66 1048575 3' >/dev/null
cp src.raw w.raw
python3 - <<'PY'
f = open('w.raw', 'r+b')
for off, n, b in ((513, 1000, 0x77), (1048575, 3, 0x66)):
    f.seek(off); f.write(bytes([b]) * n)
PY
check "vireo reads qemu-io's unaligned writes" \
    sh -c "'$V' convert $S0 --image-opts '$(qo qw.qcow2)' -O raw p.raw && cmp p.raw w.raw"

# --- wrong and missing passphrases: one line, nothing written -------------
for f in v1.luks vq-defaults.qcow2; do
    if [ "${f%.luks}" != "$f" ]; then spec=$(lo $f); param=key-secret; else spec=$(qo $f); param=encrypt.key-secret; fi
    "$V" convert $WRONG --image-opts "$spec" -O raw bad.raw 2>e.txt >/dev/null; rc=$?
    check "wrong passphrase on $f: exit 1" [ $rc -eq 1 ]
    check "wrong passphrase on $f: qemu-img's one line" \
        sh -c "[ \$(wc -l < e.txt) = 1 ] && grep -q ': Invalid password, cannot unlock any keyslot$' e.txt"
    check "wrong passphrase on $f: no output file" [ ! -e bad.raw ]
    "$V" convert -O raw "$f" bad.raw 2>e.txt >/dev/null
    check "no key-secret for $f: qemu-img's message" \
        grep -qx "vireo-img: Could not open '$f': Parameter '$param' is required for cipher" e.txt
    check "no key-secret for $f: no output file" [ ! -e bad.raw ]
done
"$V" convert --object secret,id=sec0,data=pass-zero --image-opts "driver=luks,file.filename=v1.luks,key-secret=nosuch" -O raw bad.raw 2>e.txt
check "unknown secret id: qemu-img's message" grep -q ": No secret with id 'nosuch'$" e.txt

# --- create options refused as qemu-img refuses them --------------------
refuse() { # DESCRIPTION OPTIONS: vireo and qemu-img both refuse, same text after the file name
    local d=$1 o=$2
    rm -f x.luks
    "$V" create $S0 -f luks -o "$LK,$o" x.luks 1M >/dev/null 2>v.txt
    local vr=$?
    rm -f x.luks
    qemu-img create $S0 -f luks -o "$LK,$o" x.luks 1M >/dev/null 2>q.txt
    check "$d" bash -c "[ $vr -ne 0 ] && sed 's/^vireo-img: //' v.txt | cmp - <(sed 's/^qemu-img: //' q.txt)"
}
refuse "unknown cipher refused as qemu-img" "cipher-alg=rot13"
refuse "unknown mode refused as qemu-img" "cipher-mode=gcm"
refuse "unknown hash refused as qemu-img" "hash-alg=md4"
refuse "cast5 with xts refused as qemu-img" "cipher-alg=cast5-128,cipher-mode=xts"
refuse "essiv without a fitting AES key refused as qemu-img" "cipher-alg=aes-128,ivgen-alg=essiv,ivgen-hash-alg=sha512"
refuse "des refused as qemu-img" "cipher-alg=des"
check "create without key-secret refused" sh -c "! '$V' create -f luks x2.luks 1M 2>/dev/null && [ ! -e x2.luks ]"

# --- LUKS2: qemu-img 7.2 cannot read it, and probes it as raw ------------
cp v2.luks l2.luks
printf '\x00\x02' | dd of=l2.luks bs=1 seek=6 conv=notrunc status=none
check "a LUKS2 header probes as raw, as in qemu-img" \
    sh -c "'$V' info l2.luks | grep -qx 'file format: raw'"
check "and -f luks refuses it as qemu-img does" \
    sh -c "! '$V' info -f luks l2.luks 2>e.txt && grep -qx \"vireo-img: Could not open 'l2.luks': LUKS version 2 is not supported\" e.txt"

# --- compare and snapshots through the cipher -----------------------------
check "compare of an encrypted qcow2 and a luks image with the same data" \
    "$V" compare $S0 --image-opts "$(qo qvq-cluster-size-4096.qcow2)" "$(lo q2.luks)"
cp qvq-cluster-size-4096.qcow2 sn.qcow2
check "snapshot -c on an encrypted qcow2" "$V" snapshot $S0 -c first --image-opts "$(qo sn.qcow2)"
check "qemu-img lists it" sh -c "qemu-img snapshot $S0 -l --image-opts '$(qo sn.qcow2)' | grep -q ' first '"
check "qemu-img check clean after the snapshot" \
    sh -c "qemu-img check $S0 --image-opts '$(qo sn.qcow2)' | grep -qx 'No errors were found on the image.'"
check "resize an encrypted qcow2" "$V" resize $S0 --image-opts "$(qo sn.qcow2)" 8M
check "qemu-img reads it after the resize" \
    sh -c "qemu-img convert $S0 --image-opts '$(qo sn.qcow2)' -O raw sn.raw && cmp -n 4194304 sn.raw src.raw &&
           [ \$(stat -c %s sn.raw) = 8388608 ]"

# --- measure and resize agree with qemu-img -------------------------------
for m in "-O luks -o key-secret=sec0 --size 1G" "-O luks -o key-secret=sec0,cipher-alg=aes-128 src.raw" \
         "-O qcow2 -o encrypt.format=luks,encrypt.key-secret=sec0 --size 1G" \
         "-O qcow2 -o encrypt.format=luks,encrypt.key-secret=sec0,cluster_size=4k src.raw"; do
    # qemu-img measure calibrates PBKDF2 too: retried as qemu_make is
    check "measure $m" sh -c "for i in 1 2 3 4 5 6 7 8 9 10; do qemu-img measure $S0 $m > q.txt 2>/dev/null && break; sleep 1; done &&
        '$V' measure $S0 $m > v.txt && cmp q.txt v.txt"
done
check "measure without the passphrase refused as qemu-img" \
    sh -c "! '$V' measure -O luks --size 1G 2>e.txt && grep -qx \"vireo-img: Parameter 'key-secret' is required for cipher\" e.txt"
cp v2.luks rs.luks # (v1.luks took the unaligned writes above)
check "resize a luks image" "$V" resize $S0 --image-opts "$(lo rs.luks)" +1M
check "qemu-img sees the new size and the old data" \
    sh -c "qemu-img info rs.luks | grep -q '(5242880 bytes)' &&
           qemu-img convert $S0 --image-opts '$(lo rs.luks)' -O raw rs.raw && cmp -n 4194304 rs.raw src.raw"

# --- old qcow2 AES: readable for conversion, never written --------------
qemu_make create $S0 -f qcow2 -o encrypt.format=aes,encrypt.key-secret=sec0 aes.qcow2 4M
qemu-io $S0 --image-opts "$(qo aes.qcow2)" -c 'write -P 0x5a 0 1M' -c 'write -P 0x33 3000000 70000' >/dev/null
qemu-img convert $S0 --image-opts "$(qo aes.qcow2)" -O raw aes-q.raw
check "vireo converts an AES qcow2 to raw as qemu-img does" \
    sh -c "'$V' convert $S0 --image-opts '$(qo aes.qcow2)' -O raw aes-v.raw && cmp aes-q.raw aes-v.raw"
check "vireo converts an AES qcow2 to LUKS qcow2" \
    sh -c "'$V' convert $S0 --image-opts '$(qo aes.qcow2)' -O qcow2 -o $QK aes-l.qcow2 &&
           qemu-img convert $S0 --image-opts '$(qo aes-l.qcow2)' -O raw aes-l.raw && cmp aes-q.raw aes-l.raw"
check "info of an AES qcow2 as qemu-img" \
    sh -c "qemu-img info aes.qcow2 > q.txt && '$V' info aes.qcow2 > v.txt && cmp q.txt v.txt"
check "an AES qcow2 is not opened for writing" \
    sh -c "! '$V' resize $S0 --image-opts '$(qo aes.qcow2)' +1M 2>e.txt && grep -q 'AES-CBC encrypted qcow2 images can only be read' e.txt"
check "AES qcow2 images are not created" \
    sh -c "! '$V' create $S0 -f qcow2 -o encrypt.format=aes,encrypt.key-secret=sec0 naes.qcow2 1M >/dev/null 2>&1 && [ ! -e naes.qcow2 ]"
check "compression and encryption together are refused as qemu-img" \
    sh -c "! '$V' convert -c $S0 -O qcow2 -o $QK src.raw cz.qcow2 2>e.txt && grep -q 'Compression and encryption not supported at the same time' e.txt"

# --- chains: an encrypted base under a plain overlay ---------------------
qemu-img create -f qcow2 -b qvq-defaults.qcow2 -F qcow2 top.qcow2 >/dev/null
qemu-io -f qcow2 top.qcow2 -c 'write -P 0x42 2M 64k' >/dev/null 2>&1 ||
    qemu-io $S0 --image-opts "driver=qcow2,file.filename=top.qcow2,backing.encrypt.key-secret=sec0" -c 'write -P 0x42 2M 64k' >/dev/null
qemu-img convert $S0 --image-opts "driver=qcow2,file.filename=top.qcow2,backing.encrypt.key-secret=sec0" -O raw top-q.raw
check "backing.encrypt.key-secret reaches the base" \
    sh -c "'$V' convert $S0 --image-opts 'driver=qcow2,file.filename=top.qcow2,backing.encrypt.key-secret=sec0' -O raw top-v.raw && cmp top-q.raw top-v.raw"
check "without it, the base's key is missing" \
    sh -c "! '$V' convert $S0 -O raw top.qcow2 x.raw 2>e.txt && grep -q \"encrypt.key-secret' is required\" e.txt"
check "info --backing-chain needs no key" \
    sh -c "qemu-img info --backing-chain top.qcow2 > q.txt && '$V' info --backing-chain top.qcow2 > v.txt && cmp q.txt v.txt"
qemu-img convert $S0 --image-opts "driver=qcow2,file.filename=top.qcow2,backing.encrypt.key-secret=sec0" -O raw before.raw
check "commit into an encrypted base keyed by backing.encrypt.key-secret" \
    "$V" commit $S0 --image-opts "driver=qcow2,file.filename=top.qcow2,backing.encrypt.key-secret=sec0"
check "qemu-img reads the committed base" \
    sh -c "qemu-img convert $S0 --image-opts '$(qo qvq-defaults.qcow2)' -O raw after.raw && cmp before.raw after.raw"
check "qemu-img check clean after commit" \
    sh -c "qemu-img check $S0 --image-opts '$(qo qvq-defaults.qcow2)' | grep -qx 'No errors were found on the image.'"
check "create over an encrypted backing file needs no key" \
    "$V" create -f qcow2 -b qvq-defaults.qcow2 -F qcow2 top2.qcow2

# --- convert -n into an existing encrypted target ------------------------
make_mixed src2.raw 4 2
qemu_make create $S1 -f qcow2 -o encrypt.format=luks,encrypt.key-secret=sec1,encrypt.iter-time=10 tgt.qcow2 4M
check "convert -n --target-image-opts into a qemu-img-made encrypted qcow2" \
    "$V" convert $S1 -n --target-image-opts src2.raw "driver=qcow2,file.filename=tgt.qcow2,encrypt.key-secret=sec1"
check "qemu-img reads what vireo wrote" \
    sh -c "qemu-img convert $S1 --image-opts 'driver=qcow2,file.filename=tgt.qcow2,encrypt.key-secret=sec1' -O raw t.raw && cmp t.raw src2.raw"
check "--target-image-opts without -n is refused as qemu-img" \
    sh -c "! '$V' convert $S1 --target-image-opts src2.raw 'driver=raw,file.filename=zz' 2>e.txt && grep -qx 'vireo-img: --target-image-opts requires use of -n flag' e.txt"

finish
