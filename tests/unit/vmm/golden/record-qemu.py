#!/usr/bin/env python3
# record-qemu.py - records what the real QEMU answers on QMP, as golden files
# for test-qmp-golden.c, which replays the same requests against Vireo's QMP
# server and compares the replies (timestamps, thread ids and the package
# string masked). Re-run it when QEMU changes:
#     tests/unit/vmm/golden/record-qemu.py tests/unit/vmm/golden
# Each file holds sessions separated by a line "== session"; inside, "< "
# lines are what the server sent (the first is the greeting) and "> " lines
# are what the client sent, one request per line (">x " lines spell every
# byte outside printable ASCII, and the backslash, as \xHH).
import os, socket, subprocess, sys, tempfile, time

SESSIONS = {
    'negotiation': [
        ['{"execute":"query-status"}', '{"execute":"foo","id":7}', '{"exec":"x"}',
         '{"execute":"qmp_capabilities","arguments":{"enable":["foo"]}}',
         '{"execute":"qmp_capabilities","arguments":{"enable":[1]}}',
         '{"execute":"qmp_capabilities","arguments":{"enable":"oob"}}',
         '{"execute":"qmp_capabilities","arguments":{"x":1}}',
         '{"execute":"qmp_capabilities","id":"n1"}', '{"execute":"qmp_capabilities"}',
         '{"execute":"qmp_capabilities","id":2}'],
        ['{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}',
         '{"exec-oob":"query-name","id":1}', '{"execute":"query-name","exec-oob":"query-name"}',
         '{"exec-oob":"nosuch","id":2}', '{"exec-oob":"query-name"}'],
    ],
    'commands': [
        ['{"execute":"qmp_capabilities"}', '{"execute":"query-status","id":1}',
         '{"execute":"stop"}', '{"execute":"cont","id":2}', '{"execute":"query-status"}',
         '{"execute":"stop","id":3}', '{"execute":"query-status"}', '{"execute":"cont"}',
         '{"execute":"cont"}', '{"execute":"system_reset"}', '{"execute":"system_powerdown"}',
         '{"execute":"query-cpus-fast"}', '{"execute":"query-kvm"}', '{"execute":"query-name"}',
         '{"execute":"query-uuid"}', '{"execute":"query-version"}',
         '{"execute":"query-name","id":8}{"execute":"query-uuid","id":9}'],
    ],
    'errors': [
        ['{"execute":"qmp_capabilities"}', '{"execute":"foo","id":5}', '{"execute":"foo"}',
         '{"execute":"stop","arguments":{"a":1},"id":4}', '{"execute":"query-status","arguments":[]}',
         '{"execute":"query-status","arguments":null}', '{"execute":5}', '{"id":5}',
         '{"execute":"query-name","foo":1,"id":6}', '{"execute":"query-name","exec-oob":"x"}',
         '{"exec-oob":"query-name"}', '[]', '{}', '"x"', 'null', '[1,2]',
         '{"execute":"query-status","id":{"a":[1]}}', '{"execute":"query-status","id":null}',
         '{"execute":"query-status","id":1.5}', '{"execute":"query-status","id":true}'],
    ],
    'parse': [
        ['{"execute":"qmp_capabilities"}', 'garbage', '}', '{"execute":"query-name",}',
         '{"execute" "query-name"}', '{"execute":"query-name"]', '{1:2}', '{"a":"\\x"}',
         "{'execute':'query-name','id':'sq'}",
         '{"execute":"query-name","execute":"query-uuid"}', '{"execute":"query-name","id":tru}',
         '[1,,2]', '{"execute":"query-name","id":1e400}', '{"execute":"query-name","id":-0}',
         '{"execute":"query-name","id":18446744073709551615}',
         '{"execute":"query-name","id":18446744073709551616}',
         '{"execute":"query-name","id":-9223372036854775809}',
         '{"execute":"query-name","id":"\\u00e9\\ud83d\\ude00/\\t"}',
         '{"execute":"query-name","id":"\u00e9"}', '{"execute":"query-name","id":"\\ud800"}',
         '{"execute":"query-name","id":0.1}', '{"execute":"query-name","id":1.0}',
         '{"execute":"query-name","id":1E5}', '{"execute":"query-name","id":[1,{}]}',
         '{"execute":"query-name","id":0123}', '{"execute":"query-name","id":+1}',
         '{"execute":"query-name","id":"abc', '"}', '{"execute":"query-name","id":"x"} x',
         '{"execute":"query-name",', '"id":"split"}', '{"execute":"query-name","id":99}',
         '0e:', '1.:', '-:', '1e+:', '1ex{}', '-a{}', '1.e5{}', '0.5e{}', '"\\uzz"', '"\\ud83dx"'],
    ],
    # Bytes that are not text: control characters, NUL, bytes impossible in
    # UTF-8, invalid UTF-8 inside strings, and the resynchronisation after them.
    'binary': [
        ['{"execute":"qmp_capabilities"}', b'\x01\x01\x01', b'\x00', b'@@\x01{}', b'"a\xffb"',
         b'"a\xc0\xafb"', b'"a\xed\xa0\x80"', b'"\xf5"', b'"\xc3"', b'\xff', b'\xfe{}',
         b'@\xff{}', b'@\t{}', b'"a\x7f"', b'@\x00{}', b'\x80{}', b'"\x80"', b'"\xe9"x',
         b'tr\x01{}', b'1\x01', b'"a\x01b"{}', b'"\\\x01"{}', b'"\\\xff"{}', b'"a\x00b"{}',
         b'{"execute":"query-name","id":"\xc3\xa9\xe2\x82\xac"}'],
    ],
    # Last: QEMU exits after it.
    'quit': [
        ['{"execute":"qmp_capabilities"}', '{"execute":"quit","id":"bye"}'],
    ],
}


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    tmp = tempfile.mkdtemp()
    sock = os.path.join(tmp, 'qmp.sock')
    qemu = subprocess.Popen(
        ['qemu-system-x86_64', '-M', 'microvm', '-enable-kvm', '-smp', '2', '-m', '64',
         '-qmp', 'unix:%s,server=on,wait=off' % sock, '-nodefaults', '-display', 'none', '-S',
         '-name', 'testvm', '-uuid', '12345678-1234-1234-1234-123456789abc'],
        stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    try:
        for name, sessions in SESSIONS.items():
            lines = []
            for reqs in sessions:
                lines.append('== session')
                s = socket.socket(socket.AF_UNIX)
                s.connect(sock)
                s.settimeout(0.4)

                def read_all():
                    data = b''
                    try:
                        while True:
                            d = s.recv(65536)
                            if not d:
                                break
                            data += d
                    except socket.timeout:
                        pass
                    return [l for l in data.decode().split('\r\n') if l]

                lines += ['< ' + l for l in read_all()]
                for r in reqs:
                    data = r if isinstance(r, bytes) else r.encode()
                    s.sendall(data + b'\n')
                    if all(0x20 <= b < 0x7f for b in data):
                        lines.append('> ' + data.decode())
                    else:  # ">x ": bytes outside printable ASCII as \xHH
                        lines.append('>x ' + ''.join(
                            chr(b) if 0x20 <= b < 0x7f and b != 0x5c else '\\x%02x' % b
                            for b in data))
                    lines += ['< ' + l for l in read_all()]
                s.close()
            with open(os.path.join(outdir, 'qemu-7.2-%s.txt' % name), 'w') as f:
                f.write('\n'.join(lines) + '\n')
    finally:
        qemu.terminate()
        qemu.wait()


main()
