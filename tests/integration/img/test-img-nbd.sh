#!/usr/bin/env bash
# test-img-nbd.sh - vireo-img on NBD exports served by the real qemu-nbd, next
# to qemu-img doing the same: info (human and JSON; an export of a qcow2 file
# probes as qcow2), map of a sparse export (base:allocation block status),
# convert out of an export and into one (-n), compare, every address form
# (nbd+unix://, nbd://127.0.0.1:PORT, the legacy nbd:unix:PATH:exportname=),
# a read-only export refusing writes, a wrong export name and a closed port
# (one line, exit 1), create on an export that cannot grow; --image-opts
# driver=nbd,server.*,export= and its bad forms; TLS (--object tls-creds-x509
# with certtool-made certificates, tls-creds=, tls-hostname=) over a unix
# socket and TCP: info, map, convert out of and into the export, and the
# refusals (a CA that did not sign the server, a wrong host name, no TLS).
# With VIREO_VMM and a kernel: vireo-vmm's own NBD server (nbd-server-start/-add on
# a VM that never runs, -S) as the source of info/map/convert and the target of convert -n.
# Usage: test-img-nbd.sh VIREO_IMG [VIREO_VMM KERNEL]
VMM=${2:+$(realpath "$2")}
KERNEL=${3:+$(realpath "$3")}
. "$(dirname "$0")/lib.sh"
command -v qemu-nbd >/dev/null || { echo "1..0 # SKIP qemu-nbd (qemu-utils) not installed"; exit 0; }

pids=()
stop_servers() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap stop_servers EXIT

# serve SOCKET_OR_PORT EXPORT FILE [qemu-nbd options]: a persistent export, raw bytes of FILE.
serve() {
    local where=$1 name=$2 file=$3
    shift 3
    if [[ $where == /* ]]; then
        qemu-nbd --persistent -f raw -x "$name" -k "$where" "$@" "$file" 2>>"$T/nbd.err" &
        pids+=($!)
        wait_listening "$where" && return 0
    else
        qemu-nbd --persistent -f raw -x "$name" -b 127.0.0.1 -p "$where" "$@" "$file" \
            2>>"$T/nbd.err" &
        pids+=($!)
        for _ in $(seq 200); do
            nbdinfo --size "nbd://127.0.0.1:$where/$name" >/dev/null 2>&1 && return 0
            sleep 0.05
        done
    fi
    echo "# qemu-nbd did not come up on $where"
    return 1
}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# same DESCRIPTION ARGS...: vireo-img and qemu-img print the same (stdout and stderr, with
# the program's name masked) and exit alike.
same() {
    local d="$1"
    shift
    "$V" "$@" >v.out 2>v.err
    local vr=$?
    qemu-img "$@" >q.out 2>q.err
    local qr=$?
    sed -i 's/^qemu-img: //' q.err
    sed -i 's/^vireo-img: //' v.err
    if [ $vr -eq $qr ] && cmp -s v.out q.out && cmp -s v.err q.err; then
        ok "$d"
    else
        not_ok "$d (exit $vr, qemu-img $qr)"
        diff -u q.out v.out | sed 's/^/# /'
        diff -u q.err v.err | sed 's/^/# /'
    fi
}
# fails DESCRIPTION TEXT ARGS...: exit 1 and exactly one stderr line starting with TEXT.
fails() {
    local d="$1" pat="$2"
    shift 2
    "$V" "$@" >o.txt 2>e.txt
    local got=$?
    if [ $got -eq 1 ] && [ "$(wc -l <e.txt)" -eq 1 ] && [[ $(cat e.txt) == "vireo-img: $pat"* ]]; then
        ok "$d"
    else
        not_ok "$d (exit $got)"
        sed 's/^/# /' e.txt
    fi
}

# A sparse raw file: data at 0, 1 MiB, 5 MiB (64 KiB each) and the last 4 KiB; holes between.
python3 - <<'PY'
with open('sparse.raw', 'wb') as f:
    f.truncate(64 << 20)
    for off, b in ((0, 1), (1 << 20, 2), (5 << 20, 3)):
        f.seek(off); f.write(bytes([b]) * 65536)
    f.seek((64 << 20) - 4096); f.write(b'\x04' * 4096)
PY
qemu-img create -q -f qcow2 src.qcow2 64M
qemu-io -c 'write -P 9 1M 3M' -c 'write -P 3 30M 64k' -c 'write -z 40M 1M' src.qcow2 >/dev/null
qemu-img create -q -f qcow2 guest.qcow2 32M
qemu-io -c 'write -P 7 0 64k' guest.qcow2 >/dev/null
qemu-img create -q -f raw target.raw 64M
cp target.raw ro.raw
cp target.raw ro.orig

S="$T/s.sock"
serve "$S" exp sparse.raw || exit 1
serve "$T/w.sock" w target.raw || exit 1
serve "$T/ro.sock" ro ro.raw -r || exit 1
PORT=$(free_port)
serve "$PORT" guest guest.qcow2 || exit 1
U="nbd+unix:///exp?socket=$S"
W="nbd+unix:///w?socket=$T/w.sock"
RO="nbd+unix:///ro?socket=$T/ro.sock"
G="nbd://127.0.0.1:$PORT/guest"

same "info nbd+unix://" info "$U"
same "info --output=json nbd+unix://" info --output=json "$U"
same "info of an export of a qcow2 file over TCP probes qcow2" info "$G"
same "info --output=json of the qcow2 export" info --output=json "$G"
same "info -f raw of the qcow2 export" info -f raw "$G"
same "info legacy nbd:unix:PATH:exportname=" info "nbd:unix:$S:exportname=exp"
same "info legacy nbd:HOST:PORT:exportname=" info "nbd:127.0.0.1:$PORT:exportname=guest"
same "map --output=json of a sparse export (holes from block status)" map --output=json "$U"
same "map of a sparse export" map "$U"
same "map --output=json of the qcow2 export's clusters" map --output=json "$G"

same "measure -O qcow2 of an export" measure -O qcow2 "$U"
"$V" dd -O raw if="$U" of=dd-v.raw bs=1M count=6
qemu-img dd -O raw if="$U" of=dd-q.raw bs=1M count=6
check "dd out of an export: the bytes qemu-img dd reads" cmp dd-v.raw dd-q.raw
"$V" convert -O qcow2 "$U" out.qcow2
check "convert nbd -> qcow2: qemu-img compare equal" qemu-img compare "$U" out.qcow2
# The holes come through block status: the same clusters as converting the file itself.
"$V" convert -O qcow2 sparse.raw file.qcow2
# shellcheck disable=SC2016 # expanded by the inner shell
check "convert nbd -> qcow2 keeps the holes (the clusters of a convert of the file)" \
    bash -c 'qemu-img map --output=json file.qcow2 >fmap.json &&
             qemu-img map --output=json out.qcow2 >vmap.json && cmp fmap.json vmap.json &&
             [ $(grep -c "\"data\": true" vmap.json) -lt 8 ]'
"$V" convert -O raw "$G" guest-out.raw
check "convert of the qcow2 export (read through qcow2 over nbd)" \
    qemu-img compare -U -f qcow2 -F raw guest.qcow2 guest-out.raw
"$V" convert -n -O raw src.qcow2 "$W"
check "convert -n qcow2 -> nbd export: qemu-img compare equal" qemu-img compare src.qcow2 "$W"
same "compare of the export and its source: identical" compare src.qcow2 "$W"
qemu-io -f raw -c 'write -P 5 2M 512' target.raw >/dev/null
same "compare of the export and its source: mismatch found" compare src.qcow2 "$W"
"$V" convert -n -O raw -f raw "$U" "$W"
check "convert -n nbd -> nbd" cmp sparse.raw target.raw
"$V" convert -O raw src.qcow2 "$W"
check "convert without -n into an export that is large enough (raw, as qemu-img)" \
    qemu-img compare src.qcow2 "$W"

same "a read-only export refuses convert -n into it" convert -n -O raw src.qcow2 "$RO"
fails "a read-only export: one line" "Could not open '$RO': Could not open image: Permission denied" \
    convert -n -O raw src.qcow2 "$RO"
check "the read-only export is untouched" cmp ro.raw ro.orig
fails "a wrong export name: one line" "Could not open 'nbd+unix:///nope?socket=$S': Requested export not available" \
    info "nbd+unix:///nope?socket=$S"
CLOSED=$(free_port)
same "a closed port" info "nbd://127.0.0.1:$CLOSED/x"
fails "a closed port: one line" "Could not open 'nbd://127.0.0.1:$CLOSED/x': Failed to connect to '127.0.0.1:$CLOSED': Connection refused" \
    info "nbd://127.0.0.1:$CLOSED/x"
for bad in 'nbd+unix:///exp' 'nbd://' 'nbd:foo' 'nbd://127.0.0.1:1/e?x=y' \
    'nbd+unix://host/e?socket=/x' 'nbd://[::1/e' 'nbd://127.0.0.1:abc/e'; do
    same "a malformed address: $bad" info "$bad"
done
same "create on an export that cannot grow" create -f raw "$W" 100M
same "create with preallocation on an export" create -f raw -o preallocation=full "$W" 1M
same "resize of an export" resize -f raw "$W" +1M
same "resize --shrink of an export" resize -f raw --shrink "$W" 1M
same "check of a raw export" check "$U"
# qcow2 on an export: test-img-nbd-qcow2.sh; vdi, vpc, vmdk, vhdx: test-img-nbd-create.sh.
fails "create of a flat vmdk on an export: refused in one line" \
    "$W: a monolithicFlat VMDK cannot be created on an NBD export" \
    create -f vmdk -o subformat=monolithicFlat "$W" 1M

# --image-opts driver=nbd
IO="driver=nbd,server.type=unix,server.path=$S,export=exp"
same "info --image-opts driver=nbd" info --image-opts "$IO"
same "info --output=json --image-opts driver=nbd" info --output=json --image-opts "$IO"
same "map --output=json --image-opts driver=nbd" map --output=json --image-opts "$IO"
same "info --image-opts driver=nbd over inet" info --image-opts \
    "driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=$PORT,export=guest"
same "info --image-opts driver=raw,file.driver=nbd" info --image-opts \
    "driver=raw,file.driver=nbd,file.server.type=unix,file.server.path=$S,file.export=exp"
same "--image-opts driver=nbd without server.path" info --image-opts \
    "driver=nbd,server.type=unix,export=exp"
same "--image-opts driver=nbd without server.port" info --image-opts \
    "driver=nbd,server.type=inet,server.host=127.0.0.1,export=exp"
same "--image-opts driver=nbd with an unknown option" info --image-opts "$IO,bogus=1"
same "-f nbd on a file" info -f nbd sparse.raw
"$V" convert -n -O raw --target-image-opts src.qcow2 "driver=nbd,server.type=unix,server.path=$T/w.sock,export=w"
check "convert -n --target-image-opts driver=nbd" qemu-img compare src.qcow2 "$W"

# TLS: a CA, a server certificate for nbd.vireo.test and 127.0.0.1, a client certificate,
# and a CA that signed neither.
pki() {
    local name=$1 tpl=$2
    shift 2
    printf '%b' "$tpl" >"pki/$name.info"
    certtool "$@" --load-privkey pki/key.pem --template "pki/$name.info" \
        --outfile "pki/$name.pem" >/dev/null 2>&1
}
mkdir -p pki/server pki/client pki/rogue pki/rogue-client pki/empty
certtool --generate-privkey --bits 2048 --outfile pki/key.pem >/dev/null 2>&1
pki ca 'cn = Vireo Test CA\nca\ncert_signing_key\n' --generate-self-signed
pki rogue-ca 'cn = Rogue CA\nca\ncert_signing_key\n' --generate-self-signed
CA=(--generate-certificate --load-ca-certificate pki/ca.pem --load-ca-privkey pki/key.pem)
pki srv 'organization = Vireo\ncn = nbd.vireo.test\ndns_name = nbd.vireo.test\nip_address = 127.0.0.1\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 30\n' "${CA[@]}"
pki cli 'organization = Vireo\ncn = client\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 30\n' "${CA[@]}"
cp pki/ca.pem pki/server/ca-cert.pem
cp pki/srv.pem pki/server/server-cert.pem
cp pki/key.pem pki/server/server-key.pem
cp pki/ca.pem pki/client/ca-cert.pem
cp pki/cli.pem pki/client/client-cert.pem
cp pki/key.pem pki/client/client-key.pem
cp pki/rogue-ca.pem pki/rogue/ca-cert.pem
cp pki/rogue-ca.pem pki/rogue-client/ca-cert.pem
cp pki/cli.pem pki/rogue-client/client-cert.pem
cp pki/key.pem pki/rogue-client/client-key.pem
check "certtool made the certificates" test -s pki/srv.pem -a -s pki/cli.pem
qemu-img create -q -f raw tls.raw 64M
# shellcheck disable=SC2054 # the commas are qemu-nbd's
TLSOBJ=(--object tls-creds-x509,id=s0,endpoint=server,dir="$T/pki/server",verify-peer=on --tls-creds s0)
serve "$T/t.sock" t tls.raw "${TLSOBJ[@]}" || exit 1
TPORT=$(free_port)
qemu-nbd --persistent -f raw -x tt -b 127.0.0.1 -p "$TPORT" "${TLSOBJ[@]}" sparse.raw \
    2>>"$T/nbd.err" &
pids+=($!)
for _ in $(seq 200); do ss -ltn | grep -q "127.0.0.1:$TPORT " && break; sleep 0.05; done
C="tls-creds-x509,id=c0,endpoint=client,dir=$T/pki/client"
R="tls-creds-x509,id=c0,endpoint=client,dir=$T/pki/rogue"
TU="driver=nbd,server.type=unix,server.path=$T/t.sock,export=t,tls-creds=c0,tls-hostname=nbd.vireo.test"
TT="driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=$TPORT,export=tt,tls-creds=c0"
same "TLS over unix: info" info --object "$C" --image-opts "$TU"
"$V" convert -n -O raw --object "$C" --target-image-opts src.qcow2 "$TU"
check "TLS: convert -n into the export: qemu-img compare equal" qemu-img compare -U src.qcow2 tls.raw
"$V" convert -O qcow2 --object "$C" --image-opts "$TU" tls-out.qcow2
check "TLS: convert out of the export: qemu-img compare equal" qemu-img compare -U src.qcow2 tls-out.qcow2
same "TLS over TCP (the certificate checked against 127.0.0.1): info" info --object "$C" --image-opts "$TT"
same "TLS over TCP: map --output=json" map --output=json --object "$C" --image-opts "$TT"
same "TLS: a CA that did not sign the server is refused" info --object "$R" --image-opts "$TU"
fails "TLS: a CA that did not sign the server: one line" \
    "Could not open '$TU': The certificate hasn't got a known issuer" info --object "$R" --image-opts "$TU"
same "TLS: a client certificate the object's CA did not sign is refused as the object is made" \
    info --object "tls-creds-x509,id=c0,endpoint=client,dir=$T/pki/rogue-client" --image-opts "$TU"
same "TLS: an object whose directory has no CA" \
    info --object "tls-creds-x509,id=c0,endpoint=client,dir=$T/pki/empty" --image-opts "$TU"
same "TLS: a host name the certificate does not carry is refused" \
    info --object "$C" --image-opts "${TU/nbd.vireo.test/other.vireo.test}"
same "TLS over unix without tls-hostname is refused" \
    info --object "$C" --image-opts "${TU/,tls-hostname=nbd.vireo.test/}"
same "TLS: tls-creds naming no object" info --object "$C" --image-opts "${TU/tls-creds=c0/tls-creds=c9}"
fails "TLS: a client without TLS is refused in one line" \
    "Could not open 'nbd+unix:///t?socket=$T/t.sock': TLS negotiation required" info "nbd+unix:///t?socket=$T/t.sock"
check "TLS: the export was never written by the refused clients" qemu-img compare -U src.qcow2 tls.raw

# vireo-vmm's NBD server: a writable raw drive and a qcow2 one, exported over QMP.
if [ -n "$VMM" ]; then
    qemu-img create -q -f raw vm.raw 64M
    qemu-img convert -U -O qcow2 sparse.raw vm.qcow2
    "$VMM" -S -nodefaults -display none -m 64 -kernel "$KERNEL" \
        -drive file="$T/vm.raw",format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d0 \
        -drive file="$T/vm.qcow2",format=qcow2,if=none,id=d1 -device virtio-blk-pci,drive=d1 \
        -qmp unix:"$T/qmp.sock",server=on,wait=off 2>>"$T/vmm.err" &
    pids+=($!)
    for _ in $(seq 400); do [ -S "$T/qmp.sock" ] && break; sleep 0.05; done
    python3 - "$T/qmp.sock" "$T/vmm-nbd.sock" >qmp.out 2>&1 <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
def cmd(name, args=None):
    f.write(json.dumps({"execute": name, **({"arguments": args} if args else {})}) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "event" not in r:
            print(name, r); return r
ok = "return" in cmd("qmp_capabilities")
ok &= "return" in cmd("nbd-server-start", {"addr": {"type": "unix", "data": {"path": sys.argv[2]}}})
ok &= "return" in cmd("nbd-server-add", {"device": "d0", "writable": True})
ok &= "return" in cmd("nbd-server-add", {"device": "d1", "name": "qc"})
sys.exit(0 if ok else 1)
PY
    check "vireo-vmm: nbd-server-start and nbd-server-add d0 (writable), d1" test $? -eq 0
    VD="nbd+unix:///d0?socket=$T/vmm-nbd.sock"
    VQ="nbd+unix:///qc?socket=$T/vmm-nbd.sock"
    same "vireo-vmm's server: info" info "$VD"
    same "vireo-vmm's server: info --output=json of the qcow2 drive's export" info --output=json "$VQ"
    same "vireo-vmm's server: map --output=json (qemu-img's reading of its block status)" \
        map --output=json "$VQ"
    "$V" convert -n -O raw src.qcow2 "$VD"
    check "vireo-vmm's server: convert -n into the writable export" \
        qemu-img compare -U src.qcow2 vm.raw
    "$V" convert -O qcow2 "$VQ" vmm-out.qcow2
    check "vireo-vmm's server: convert out of the qcow2 drive's export" \
        qemu-img compare -U sparse.raw vmm-out.qcow2
    same "vireo-vmm's server: a read-only export refuses convert -n" \
        convert -n -O raw src.qcow2 "$VQ"
fi
finish
