#!/usr/bin/env python3
"""gen-remote.py - turns remote.proto into C: structures, XDR codecs, table.

Usage: gen-remote.py remote.proto remote-procs.list OUT.h OUT.c

Every structure gets remote_NAME_decode/_encode/_free; every procedure and
event gets an entry in remote_procs[] (sorted by number) so that the
dispatcher, the client and the fuzz target all reach each codec through one
table; each entry says whether the procedure's arguments begin with the
domain it acts on (a server resolves that domain once, for all of them).
remote-procs.list names every procedure of libvirt's remote program, with
or without a codec here: remote_proc_names[] maps each number to the API it
stands for, derived from its name the way libvirt names its functions, so a
server answers any call it does not implement with the API's name. Kept
deliberately small: the notation is described in remote.proto.
"""
import re
import sys

PRIMS = {
    # name: (C type, getter, putter, wire bytes)
    'int': ('int32_t', 'xdr_get_i32', 'xdr_put_i32', 4),
    'uint': ('uint32_t', 'xdr_get_u32', 'xdr_put_u32', 4),
    'hyper': ('int64_t', 'xdr_get_i64', 'xdr_put_i64', 8),
    'uhyper': ('uint64_t', 'xdr_get_u64', 'xdr_put_u64', 8),
    'uchar': ('uint8_t', 'xdr_get_uchar', 'xdr_put_u32', 4),
    'ushort': ('uint16_t', 'xdr_get_ushort', 'xdr_put_u32', 4),
}
EXTERN = {'typed_param': 12}  # hand-written codecs, minimum wire size
ENUMS = {'auth_type': [0, 1, 2]}


class Spec:
    def __init__(self):
        self.consts = []   # (name, value)
        self.structs = {}  # name -> [(type, field)]
        self.order = []    # struct names in definition order
        self.procs = []    # (num, name, api, args|None, ret|None, kind)


def fail(lineno, msg):
    sys.exit(f'remote.proto:{lineno}: {msg}')


def split_fields(text):
    text = text.strip()
    if text == '':
        return []
    out = []
    for part in text.split(','):
        bits = part.split()
        if len(bits) != 2:
            raise ValueError(f'bad field "{part.strip()}"')
        out.append((bits[0], bits[1]))
    return out


def parse(path):
    spec = Spec()
    lines = []
    buf, start = '', 0
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.split('#', 1)[0].rstrip()
            if not buf:
                start = n
            if line.endswith('\\'):
                buf += line[:-1] + ' '
                continue
            buf += line
            if buf.strip():
                lines.append((start, re.sub(r'\s+', ' ', buf).strip()))
            buf = ''
    for n, line in lines:
        try:
            if line.startswith('const '):
                _, name, value = line.split()
                spec.consts.append((name, int(value, 0)))
            elif line.startswith('struct '):
                m = re.fullmatch(r'struct (\w+) \((.*)\)', line)
                add_struct(spec, m.group(1), split_fields(m.group(2)))
            elif line.startswith('proc '):
                m = re.fullmatch(r'proc (\d+) (\w+) (\w+) \((.*?)\) -> \((.*)\)( write)?', line)
                if not m:
                    raise ValueError('bad proc line')
                num, name, api = int(m.group(1)), m.group(2), m.group(3)
                args = add_struct(spec, name + '_args', split_fields(m.group(4)), True)
                ret = add_struct(spec, name + '_ret', split_fields(m.group(5)), True)
                spec.procs.append((num, name, api, args, ret, 'write' if m.group(6) else 'call'))
            elif line.startswith('event '):
                m = re.fullmatch(r'event (\d+) (\w+) \((.*)\)', line)
                num, name = int(m.group(1)), m.group(2)
                msg = add_struct(spec, name + '_msg', split_fields(m.group(3)))
                spec.procs.append((num, name, None, msg, None, 'event'))
            else:
                raise ValueError('unknown statement')
        except (ValueError, AttributeError) as e:
            fail(n, f'{e}: {line}')
    nums = [p[0] for p in spec.procs]
    if len(nums) != len(set(nums)):
        sys.exit('remote.proto: duplicate procedure number')
    spec.procs.sort()
    return spec


def add_struct(spec, name, fields, void_ok=False):
    if not fields and void_ok:
        return None
    if name in spec.structs:
        raise ValueError(f'struct {name} defined twice')
    for t, _ in fields:
        parse_type(spec, t)
    spec.structs[name] = fields
    spec.order.append(name)
    return name


def const_value(spec, s):
    if s.isdigit():
        return s
    for name, _ in spec.consts:
        if name == s:
            return 'REMOTE_' + name
    raise ValueError(f'unknown constant {s}')


def parse_type(spec, t):
    """Returns a dict describing type string t."""
    m = re.fullmatch(r'char\[(\d+)\]', t)
    if m:
        return {'kind': 'charfix', 'n': int(m.group(1))}
    m = re.fullmatch(r'(\w+)<(\w+)>', t)
    if m:
        base, mx = m.group(1), const_value(spec, m.group(2))
        if base == 'opaque':
            return {'kind': 'opaque', 'max': mx}
        if base == 'chars':
            return {'kind': 'chars', 'max': mx}
        return {'kind': 'array', 'max': mx, 'elem': parse_type(spec, base)}
    opt = t.endswith('?')
    base = t[:-1] if opt else t
    if base == 'string':
        return {'kind': 'ostring' if opt else 'string'}
    if opt:
        if base not in spec.structs:
            raise ValueError(f'unknown struct {base}')
        return {'kind': 'ostruct', 'name': base}
    if base == 'uuid':
        return {'kind': 'uuid'}
    if base in PRIMS:
        return {'kind': 'prim', 'name': base}
    if base in ENUMS:
        return {'kind': 'enum', 'name': base}
    if base in EXTERN:
        return {'kind': 'extern', 'name': base}
    if base in spec.structs:
        return {'kind': 'struct', 'name': base}
    raise ValueError(f'unknown type {t}')


def ctype(ty):
    k = ty['kind']
    if k == 'prim':
        return PRIMS[ty['name']][0]
    if k == 'enum':
        return 'int32_t'
    if k in ('string', 'ostring'):
        return 'char *'
    if k in ('struct', 'extern'):
        return f'struct remote_{ty["name"]} '
    raise ValueError(k)


def min_size(spec, ty):
    k = ty['kind']
    if k == 'prim':
        return PRIMS[ty['name']][3]
    if k == 'charfix':
        return 4 * ty['n']
    if k == 'uuid':
        return 16
    if k == 'struct':
        return sum(min_size(spec, parse_type(spec, t)) for t, _ in spec.structs[ty['name']])
    if k == 'extern':
        return EXTERN[ty['name']]
    return 4


def decl(spec, t, f):
    ty = parse_type(spec, t)
    k = ty['kind']
    if k == 'charfix':
        return [f'char {f}[{ty["n"]}];']
    if k == 'uuid':
        return [f'uint8_t {f}[16];']
    if k == 'opaque':
        return [f'uint32_t {f}_len;', f'uint8_t *{f};']
    if k == 'chars':
        return [f'uint32_t {f}_len;', f'char *{f}; /* not NUL-terminated */']
    if k == 'ostruct':
        return [f'struct remote_{ty["name"]} *{f}; /* NULL when absent */']
    if k == 'array':
        return [f'uint32_t {f}_len;', f'{ctype(ty["elem"])}*{f};'.replace(' *', ' *')]
    c = ctype(ty)
    sep = '' if c.endswith('*') or c.endswith(' ') else ' '
    note = ' /* NULL when absent */' if k == 'ostring' else ''
    return [f'{c}{sep}{f};{note}']


def dec_one(spec, ty, lval, what, ind):
    """C statements decoding one value of type ty into lval."""
    k = ty['kind']
    p = ' ' * ind
    if k == 'prim':
        return [f'{p}if ((r = {PRIMS[ty["name"]][1]}(dec, &{lval}, "{what}")) < 0)', f'{p}    return r;']
    if k == 'enum':
        return [f'{p}if ((r = xdr_get_enum(dec, &{lval}, remote_{ty["name"]}_values, '
                f'sizeof(remote_{ty["name"]}_values) / sizeof(int32_t), "{what}")) < 0)',
                f'{p}    return r;']
    if k == 'string':
        return [f'{p}if ((r = xdr_get_string(dec, &{lval}, REMOTE_STRING_MAX, "{what}")) < 0)',
                f'{p}    return r;']
    if k == 'ostring':
        return [f'{p}if ((r = remote_get_opt_string(dec, &{lval}, "{what}")) < 0)', f'{p}    return r;']
    if k in ('struct', 'extern'):
        return [f'{p}if ((r = remote_{ty["name"]}_decode(dec, &{lval})) < 0)', f'{p}    return r;']
    raise ValueError(k)


def gen_decode(spec, name, fields):
    out = [f'int remote_{name}_decode(struct xdr_dec *dec, struct remote_{name} *v)', '{']
    out.append('    int r;')
    if not fields:
        out.append('    (void)dec; (void)v;')
    for t, f in fields:
        ty = parse_type(spec, t)
        k = ty['kind']
        what = f'{name}.{f}'
        if k in ('prim', 'enum', 'string', 'ostring', 'struct', 'extern'):
            out += dec_one(spec, ty, f'v->{f}', what, 4)
        elif k == 'charfix':
            out += [f'    for (size_t i = 0; i < {ty["n"]}; i++)',
                    f'        if ((r = xdr_get_char(dec, &v->{f}[i], "{what}")) < 0)',
                    '            return r;']
        elif k == 'uuid':
            out += [f'    if ((r = xdr_get_opaque_fixed(dec, v->{f}, 16, "{what}")) < 0)',
                    '        return r;']
        elif k == 'opaque':
            out += [f'    if ((r = xdr_get_opaque(dec, &v->{f}, &v->{f}_len, {ty["max"]}, "{what}")) < 0)',
                    '        return r;']
        elif k == 'chars':
            out += [f'    if ((r = xdr_get_count(dec, &v->{f}_len, {ty["max"]}, 4, "{what}")) < 0)',
                    '        return r;',
                    f'    v->{f} = v->{f}_len ? xcalloc(v->{f}_len, 1) : NULL;',
                    f'    for (uint32_t i = 0; i < v->{f}_len; i++)',
                    f'        if ((r = xdr_get_char(dec, &v->{f}[i], "{what}")) < 0)',
                    '            return r;']
        elif k == 'ostruct':
            out += ['    {', '        bool present;',
                    f'        if ((r = xdr_get_bool(dec, &present, "{what}")) < 0)',
                    '            return r;', '        if (present) {',
                    f'            v->{f} = xcalloc(1, sizeof(*v->{f}));',
                    f'            if ((r = remote_{ty["name"]}_decode(dec, v->{f})) < 0)',
                    '                return r;', '        }', '    }']
        elif k == 'array':
            el = ty['elem']
            out += [f'    if ((r = xdr_get_count(dec, &v->{f}_len, {ty["max"]}, {min_size(spec, el)}, "{what}")) < 0)',
                    '        return r;',
                    f'    v->{f} = v->{f}_len ? xcalloc(v->{f}_len, sizeof(*v->{f})) : NULL;',
                    f'    for (uint32_t i = 0; i < v->{f}_len; i++) {{']
            out += dec_one(spec, el, f'v->{f}[i]', what + '[]', 8)
            out.append('    }')
    out += ['    return 0;', '}', '']
    return out


def enc_one(spec, ty, val, ind):
    k = ty['kind']
    p = ' ' * ind
    if k == 'prim':
        return [f'{p}{PRIMS[ty["name"]][2]}(enc, {val});']
    if k == 'enum':
        return [f'{p}xdr_put_i32(enc, {val});']
    if k == 'string':
        return [f'{p}xdr_put_string(enc, {val} ? {val} : "");']
    if k == 'ostring':
        return [f'{p}xdr_put_bool(enc, {val} != NULL);', f'{p}if ({val})',
                f'{p}    xdr_put_string(enc, {val});']
    if k in ('struct', 'extern'):
        return [f'{p}remote_{ty["name"]}_encode(enc, &{val});']
    raise ValueError(k)


def gen_encode(spec, name, fields):
    out = [f'void remote_{name}_encode(struct xdr_enc *enc, const struct remote_{name} *v)', '{']
    if not fields:
        out.append('    (void)enc; (void)v;')
    for t, f in fields:
        ty = parse_type(spec, t)
        k = ty['kind']
        if k in ('prim', 'enum', 'string', 'ostring', 'struct', 'extern'):
            out += enc_one(spec, ty, f'v->{f}', 4)
        elif k == 'charfix':
            out += [f'    for (size_t i = 0; i < {ty["n"]}; i++)',
                    f'        xdr_put_i32(enc, (signed char)v->{f}[i]);']
        elif k == 'uuid':
            out.append(f'    xdr_put_opaque_fixed(enc, v->{f}, 16);')
        elif k == 'opaque':
            out.append(f'    xdr_put_opaque(enc, v->{f}, v->{f}_len);')
        elif k == 'chars':
            out += [f'    xdr_put_u32(enc, v->{f}_len);',
                    f'    for (uint32_t i = 0; i < v->{f}_len; i++)',
                    f'        xdr_put_i32(enc, (signed char)v->{f}[i]);']
        elif k == 'ostruct':
            out += [f'    xdr_put_bool(enc, v->{f} != NULL);', f'    if (v->{f})',
                    f'        remote_{ty["name"]}_encode(enc, v->{f});']
        elif k == 'array':
            out += [f'    xdr_put_u32(enc, v->{f}_len);',
                    f'    for (uint32_t i = 0; i < v->{f}_len; i++) {{']
            out += enc_one(spec, ty['elem'], f'v->{f}[i]', 8)
            out.append('    }')
    out += ['}', '']
    return out


def free_one(ty, val):
    k = ty['kind']
    if k in ('string', 'ostring'):
        return [f'free({val});']
    if k in ('struct', 'extern'):
        return [f'remote_{ty["name"]}_free(&{val});']
    return []


def gen_free(spec, name, fields):
    out = [f'void remote_{name}_free(struct remote_{name} *v)', '{']
    out.append('    if (!v)')
    out.append('        return;')
    for t, f in fields:
        ty = parse_type(spec, t)
        k = ty['kind']
        if k in ('string', 'ostring', 'struct', 'extern'):
            out += ['    ' + s for s in free_one(ty, f'v->{f}')]
        elif k in ('opaque', 'chars'):
            out.append(f'    free(v->{f});')
        elif k == 'ostruct':
            out += [f'    if (v->{f})', f'        remote_{ty["name"]}_free(v->{f});',
                    f'    free(v->{f});']
        elif k == 'array':
            inner = free_one(ty['elem'], f'v->{f}[i]')
            if inner:
                out += [f'    for (uint32_t i = 0; i < v->{f}_len && v->{f}; i++)',
                        '        ' + inner[0]]
            out.append(f'    free(v->{f});')
    out += ['    memset(v, 0, sizeof(*v));', '}', '']
    return out


# Words libvirt writes as acronyms in its function names
# (virDomainGetXMLDesc, virNodeGetCPUMap, virDomainFSTrim, ...).
ACRONYMS = {
    'xml': 'XML', 'uuid': 'UUID', 'id': 'ID', 'uri': 'URI', 'cpu': 'CPU', 'nmi': 'NMI', 'pm': 'PM',
    'fs': 'FS', 'iothread': 'IOThread', 'mac': 'MAC', 'sev': 'SEV', 'dhcp': 'DHCP',
    'nwfilter': 'NWFilter', 'nwfilters': 'NWFilters', 'scsi': 'SCSI', 'tpm': 'TPM', 'os': 'OS',
    'fd': 'FD', 'wwn': 'WWN', 'ssh': 'SSH', 'fstrim': 'FSTrim', 'fsfreeze': 'FSFreeze',
    'fsthaw': 'FSThaw', 'fsinfo': 'FSInfo',
}


def api_name(name):
    """libvirt's function for a procedure name: domain_get_xml_desc -> virDomainGetXMLDesc."""
    return 'vir' + ''.join(ACRONYMS.get(w, w[:1].upper() + w[1:]) for w in name.split('_'))


def parse_names(path, spec):
    """(num, api or None) for every procedure of remote-procs.list, checked
    against the procedures remote.proto describes."""
    names = {}
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.split('#', 1)[0].split()
            if not line:
                continue
            if len(line) not in (2, 3) or not line[0].isdigit():
                sys.exit(f'{path}:{n}: expected "NUM NAME [API | event]"')
            num, name = int(line[0]), line[1]
            if num in names:
                sys.exit(f'{path}:{n}: procedure {num} listed twice')
            extra = line[2] if len(line) == 3 else None
            names[num] = (name, None if extra == 'event' else (extra or api_name(name)))
    for num, name, api, _, _, kind in spec.procs:
        if num not in names or names[num][0] != name:
            sys.exit(f'remote.proto: procedure {num} {name} is not in {path} under that name')
        if kind == 'event' and names[num][1] is not None:
            sys.exit(f'remote.proto: {name} is an event, {path} says a call')
    return sorted((num, v[1]) for num, v in names.items())


def main():
    src, names_path, out_h, out_c = sys.argv[1:5]
    spec = parse(src)
    names = parse_names(names_path, spec)
    h = ['/* Generated by gen-remote.py from remote.proto; do not edit. */',
         '#ifndef VIREO_RPC_REMOTE_PROTOCOL_H', '#define VIREO_RPC_REMOTE_PROTOCOL_H', '',
         '#include <stdbool.h>', '#include <stdint.h>', '',
         '#include "rpc/remote_extra.h"', '#include "rpc/xdr.h"', '']
    for name, value in spec.consts:
        h.append(f'#define REMOTE_{name} {value}')
    h.append('')
    h.append('enum remote_procedure {')
    for num, name, *_ in spec.procs:
        h.append(f'    REMOTE_PROC_{name.upper()} = {num},')
    h += ['};', '']
    for name in spec.order:
        h.append(f'struct remote_{name} {{')
        fields = spec.structs[name]
        for t, f in fields:
            h += ['    ' + d for d in decl(spec, t, f)]
        h += ['};', '']
    for name in spec.order:
        h += [f'int remote_{name}_decode(struct xdr_dec *dec, struct remote_{name} *v);',
              f'void remote_{name}_encode(struct xdr_enc *enc, const struct remote_{name} *v);',
              f'void remote_{name}_free(struct remote_{name} *v);']
    h += ['', f'#define REMOTE_PROC_COUNT {len(spec.procs)}',
          'extern const struct remote_proc remote_procs[REMOTE_PROC_COUNT];',
          f'#define REMOTE_PROC_NAME_COUNT {len(names)}',
          'extern const struct remote_proc_name remote_proc_names[REMOTE_PROC_NAME_COUNT];', '',
          '#endif', '']

    c = ['/* Generated by gen-remote.py from remote.proto; do not edit. */',
         '#include "rpc/remote_protocol.h"', '', '#include <stdlib.h>', '#include <string.h>', '',
         '#include "util/mem.h"', '']
    for en, vals in ENUMS.items():
        c.append(f'static const int32_t remote_{en}_values[] = {{{", ".join(map(str, vals))}}};')
    c.append('')
    for name in spec.order:
        fields = spec.structs[name]
        c += gen_decode(spec, name, fields)
        c += gen_encode(spec, name, fields)
        c += gen_free(spec, name, fields)
    # Type descriptors with void* wrappers for the table.
    used = {s for p in spec.procs for s in (p[3], p[4]) if s}
    for name in [n for n in spec.order if n in used]:
        c += [f'static int {name}_dec_v(struct xdr_dec *d, void *v)',
              f'{{', f'    return remote_{name}_decode(d, v);', '}',
              f'static void {name}_enc_v(struct xdr_enc *e, const void *v)',
              f'{{', f'    remote_{name}_encode(e, v);', '}',
              f'static void {name}_free_v(void *v)',
              f'{{', f'    remote_{name}_free(v);', '}',
              f'static const struct remote_type {name}_type = {{',
              f'    "remote_{name}", sizeof(struct remote_{name}), {name}_dec_v, {name}_enc_v, {name}_free_v,',
              '};', '']
    c.append('const struct remote_proc remote_procs[REMOTE_PROC_COUNT] = {')
    for num, name, api, args, ret, kind in spec.procs:
        a = f'&{args}_type' if args else 'NULL'
        r = f'&{ret}_type' if ret else 'NULL'
        ap = f'"{api}"' if api else 'NULL'
        ev = 'true' if kind == 'event' else 'false'
        wr = 'true' if kind == 'write' else 'false'
        afields = spec.structs.get(args, []) if args else []
        rfields = spec.structs.get(ret, []) if ret else []
        dom_arg = 'true' if kind != 'event' and afields[:1] == [('nonnull_domain', 'dom')] else 'false'
        dom_ret = 'true' if rfields == [('nonnull_domain', 'dom')] else 'false'
        c.append(f'    {{{num}, "{name.upper()}", {ap}, {a}, {r}, {ev}, {wr}, {dom_arg}, {dom_ret}}},')
    c += ['};', '']
    c.append('const struct remote_proc_name remote_proc_names[REMOTE_PROC_NAME_COUNT] = {')
    for num, api in names:
        c.append(f'    {{{num}, {chr(34) + api + chr(34) if api else "NULL"}}},')
    c += ['};', '']
    with open(out_h, 'w') as f:
        f.write('\n'.join(h))
    with open(out_c, 'w') as f:
        f.write('\n'.join(c))


if __name__ == '__main__':
    main()
