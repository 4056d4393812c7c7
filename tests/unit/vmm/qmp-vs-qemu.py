#!/usr/bin/env python3
# qmp-vs-qemu.py - differential test: sends each input file (the QMP fuzz
# corpus: arbitrary bytes) to the real qemu-system-x86_64 7.2 and to Vireo's
# QMP server (qmp-test-serve), each on a fresh connection, and compares
# everything they answer (timestamps, thread ids and package masked). A
# sentinel command after each input marks the end of the replies. Inputs that
# would end QEMU (quit) or that depend on the test VM's deliberate deviations
# (powerdown refused while paused, the list of commands) are skipped.
# Usage: qmp-vs-qemu.py QMP_TEST_SERVE CORPUS_DIR...   (prints TAP)
import glob, os, re, shutil, socket, subprocess, sys, tempfile, time

if not shutil.which('qemu-system-x86_64'):
    print('1..0 # SKIP qemu-system-x86_64 not installed')
    sys.exit(0)
tmp = tempfile.mkdtemp()
qs, vs = os.path.join(tmp, 'q.sock'), os.path.join(tmp, 'v.sock')
qemu = subprocess.Popen(
    ['qemu-system-x86_64', '-M', 'microvm', '-enable-kvm', '-smp', '2', '-m', '64', '-qmp',
     'unix:%s,server=on,wait=off' % qs, '-nodefaults', '-display', 'none', '-S',
     '-name', 'testvm', '-uuid', '12345678-1234-1234-1234-123456789abc'],
    stderr=subprocess.DEVNULL)
vireo = subprocess.Popen([sys.argv[1], vs])
for _ in range(100):
    if os.path.exists(qs) and os.path.exists(vs):
        break
    time.sleep(0.05)
SENTINEL = b'\n{"execute":"query-name","id":"END-SENTINEL"}\n'


def exchange(path, data):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(2)
    out = b''
    try:
        s.sendall(data + SENTINEL)
        deadline = time.time() + 2
        while time.time() < deadline and b'END-SENTINEL' not in out:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except (socket.timeout, OSError):
        pass
    s.close()
    t = out.decode('utf-8', 'replace')
    t = re.sub(r'"seconds": \d+, "microseconds": \d+', 'TS', t)
    t = re.sub(r'"package": "[^"]*"', 'PKG', t)
    return re.sub(r'"thread-id": \d+, "props"', 'TID', t)


files = sorted(f for d in sys.argv[2:] for f in glob.glob(os.path.join(d, '*')))
n = 0
try:
    for f in files:
        data = open(f, 'rb').read()[1:]  # the first byte is the fuzz target's chunk size
        if b'quit' in data or b'powerdown' in data or b'query-commands' in data:
            continue
        n += 1
        a, b = exchange(qs, data), exchange(vs, data)
        print('%sok %d - %s' % ('' if a == b else 'not ', n, os.path.basename(f)))
        if a != b:
            for x, y in zip(a.split('\r\n') + ['(none)'], b.split('\r\n') + ['(none)']):
                if x != y:
                    print('#   qemu : %s\n#   vireo: %s' % (x[:300], y[:300]))
                    break
finally:
    qemu.terminate()
    vireo.terminate()
    qemu.wait()
    vireo.wait()
    shutil.rmtree(tmp, ignore_errors=True)
print('1..%d' % n)
