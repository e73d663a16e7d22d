#!/usr/bin/env python3
"""The addon's macOS library: joined into one universal file, and checked, since nothing on
this machine can run it.

    tests/macho.py sign THIN IDENTIFIER
    tests/macho.py lipo OUT THIN...
    tests/macho.py check LIBRARY --name INSTALL_NAME --arch ARCH:MINOS... [--export SYMBOL]
                             [--allow-dylib PATH]...

`sign` gives the thin 64-bit Mach-O file THIN an ad-hoc signature in place, if it has none:
what Apple's linker writes with `-adhoc_codesign` (zig's linker writes it for arm64 only). A
CodeDirectory (version 0x20400, flags adhoc and linker-signed, SHA-256 of every 4 KiB page up
to the signature, the __TEXT segment as the executable segment, IDENTIFIER as identifier) in a
SuperBlob at the end of __LINKEDIT, named by a new LC_CODE_SIGNATURE load command in the
header's padding.

`lipo` writes the universal (fat) file OUT holding the thin 64-bit Mach-O files THIN, each
slice aligned as Apple's lipo aligns it (16 KiB for arm64, 4 KiB for x86_64). The slices are
copied unchanged, so each keeps the code signature its linker wrote.

`check` reads a universal file and fails (exit 1, one line per problem) unless:
- it holds exactly the architectures given with --arch (x86_64, arm64), each a 64-bit MH_DYLIB;
- each slice's minimum macOS (LC_BUILD_VERSION, or the older LC_VERSION_MIN_MACOSX) is the one
  given for its architecture;
- each slice's install name (LC_ID_DYLIB) is --name (an @rpath/ name, so Godot finds the file
  wherever the project puts it);
- each slice loads only the dylibs given with --allow-dylib (LC_LOAD_DYLIB and the weak,
  re-exported and upward variants);
- each slice exports --export in its export trie (what dyld's dlsym reads);
- each slice carries an ad-hoc code signature (LC_CODE_SIGNATURE: a CodeDirectory with the
  adhoc flag and no CMS signature) whose page hashes match the slice's bytes up to the code
  limit, and whose special slots match the blobs they name. Apple silicon refuses to map code
  whose signature is missing or does not match, so a library that fails here cannot load there.

Prints one summary line per slice. Written from Apple's published formats (mach-o/loader.h,
mach-o/fat.h and the code signing blob layout in xnu's cs_blobs.h).
"""

import argparse
import hashlib
import struct
import sys

FAT_MAGIC = 0xCAFEBABE
FAT_MAGIC_64 = 0xCAFEBABF
MH_MAGIC_64 = 0xFEEDFACF
MH_DYLIB = 6
CPU_TYPES = {0x01000007: "x86_64", 0x0100000C: "arm64"}

LC_REQ_DYLD = 0x80000000
LC_SYMTAB = 0x2
LC_LOAD_DYLIB = 0xC
LC_ID_DYLIB = 0xD
LC_CODE_SIGNATURE = 0x1D
LC_VERSION_MIN_MACOSX = 0x24
LC_BUILD_VERSION = 0x32
LC_DYLD_INFO_ONLY = 0x22 | LC_REQ_DYLD
LC_DYLD_EXPORTS_TRIE = 0x33 | LC_REQ_DYLD
LOAD_COMMANDS = {
    LC_LOAD_DYLIB: "LC_LOAD_DYLIB",
    0x18 | LC_REQ_DYLD: "LC_LOAD_WEAK_DYLIB",
    0x1F | LC_REQ_DYLD: "LC_REEXPORT_DYLIB",
    0x23 | LC_REQ_DYLD: "LC_LOAD_UPWARD_DYLIB",
}
PLATFORM_MACOS = 1

CSMAGIC_EMBEDDED_SIGNATURE = 0xFADE0CC0
CSMAGIC_CODEDIRECTORY = 0xFADE0C02
CSMAGIC_BLOBWRAPPER = 0xFADE0B01
CSSLOT_CODEDIRECTORY = 0
CSSLOT_SIGNATURESLOT = 0x10000
CS_ADHOC = 0x2
HASHES = {1: ("sha1", 20), 2: ("sha256", 32), 3: ("sha256", 20), 4: ("sha384", 48)}


class Problem(Exception):
    pass


def version(packed):
    return f"{packed >> 16}.{(packed >> 8) & 0xFF}" + (f".{packed & 0xFF}" if packed & 0xFF else "")


def cstring(data, offset):
    end = data.index(b"\0", offset)
    return data[offset:end].decode()


def uleb(data, offset):
    result = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, offset


def trie_exports(trie):
    """Every name in a dyld export trie."""
    names, stack, seen = [], [(0, "")], set()
    while stack:
        node, prefix = stack.pop()
        if node in seen or node >= len(trie):
            raise Problem("malformed export trie")
        seen.add(node)
        terminal, offset = uleb(trie, node)
        if terminal:
            names.append(prefix)
        offset += terminal
        children = trie[offset]
        offset += 1
        for _ in range(children):
            label = cstring(trie, offset)
            offset += len(label) + 1
            child, offset = uleb(trie, offset)
            stack.append((child, prefix + label))
    return names


def check_signature(data, dataoff, datasize):
    """Verifies an embedded ad-hoc signature; returns a short description."""
    blob = data[dataoff : dataoff + datasize]
    magic, _length, count = struct.unpack_from(">III", blob, 0)
    if magic != CSMAGIC_EMBEDDED_SIGNATURE:
        raise Problem(f"code signature has magic {magic:#x}, not an embedded signature")
    slots = {}
    for i in range(count):
        kind, offset = struct.unpack_from(">II", blob, 12 + 8 * i)
        slots[kind] = offset
    if CSSLOT_CODEDIRECTORY not in slots:
        raise Problem("code signature has no CodeDirectory")
    cd = slots[CSSLOT_CODEDIRECTORY]
    (cd_magic, cd_length, cd_version, flags, hash_offset, ident_offset, n_special, n_code,
     code_limit, hash_size, hash_type, _platform, page_log2) = struct.unpack_from(
        ">IIIIIIIIIBBBB", blob, cd)
    if cd_magic != CSMAGIC_CODEDIRECTORY:
        raise Problem("CodeDirectory has the wrong magic")
    if not flags & CS_ADHOC:
        raise Problem(f"CodeDirectory flags {flags:#x} lack CS_ADHOC")
    wrapper = slots.get(CSSLOT_SIGNATURESLOT)
    if wrapper is not None:
        w_magic, w_length = struct.unpack_from(">II", blob, wrapper)
        if w_magic != CSMAGIC_BLOBWRAPPER or w_length > 8:
            raise Problem("an ad-hoc signature must not carry a CMS signature")
    if hash_type not in HASHES or HASHES[hash_type][1] != hash_size:
        raise Problem(f"unknown hash type {hash_type} (size {hash_size})")
    algorithm = HASHES[hash_type][0]
    if cd_version >= 0x20300:
        (code_limit_64,) = struct.unpack_from(">Q", blob, cd + 56)
        code_limit = code_limit_64 or code_limit
    if code_limit > dataoff:
        raise Problem("the signature covers itself")
    page = 1 << page_log2 if page_log2 else code_limit
    hashes = blob[cd + hash_offset :]
    for i in range(n_code):
        start = i * page
        digest = hashlib.new(algorithm, data[start : min(start + page, code_limit)]).digest()
        if digest[:hash_size] != hashes[i * hash_size : (i + 1) * hash_size]:
            raise Problem(f"page {i} of {n_code} does not match its signed hash")
    if n_code * page < code_limit:
        raise Problem("the page hashes do not cover the code limit")
    for slot in range(1, n_special + 1):
        expected = blob[cd + hash_offset - slot * hash_size : cd + hash_offset - (slot - 1) * hash_size]
        if slot in slots:
            start = slots[slot]
            (length,) = struct.unpack_from(">I", blob, start + 4)
            digest = hashlib.new(algorithm, blob[start : start + length]).digest()[:hash_size]
            if digest != expected:
                raise Problem(f"special slot {slot} does not match its blob")
        elif any(expected):
            raise Problem(f"special slot {slot} is hashed but its blob is missing")
    identifier = cstring(blob, cd + ident_offset)
    return f"ad-hoc {algorithm}, {n_code} pages of {page} bytes verified, identifier {identifier}"


def check_slice(data, arch, minos, name, allowed, export):
    magic, cputype, _sub, filetype, ncmds, _size, _flags, _res = struct.unpack_from("<IiiIIIII", data, 0)
    if magic != MH_MAGIC_64:
        raise Problem(f"{arch}: not a 64-bit Mach-O file")
    if CPU_TYPES.get(cputype & 0xFFFFFFFF) != arch:
        raise Problem(f"{arch}: the slice's CPU type is {cputype:#x}")
    if filetype != MH_DYLIB:
        raise Problem(f"{arch}: file type {filetype}, not MH_DYLIB")
    problems, dylibs = [], []
    found = {"minos": None, "id": None, "exports": None, "signature": None}
    offset = 32
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from("<II", data, offset)
        if cmd == LC_BUILD_VERSION:
            platform, packed, _sdk = struct.unpack_from("<III", data, offset + 8)
            if platform != PLATFORM_MACOS:
                problems.append(f"{arch}: LC_BUILD_VERSION platform {platform}, not macOS")
            found["minos"] = version(packed)
        elif cmd == LC_VERSION_MIN_MACOSX:
            found["minos"] = version(struct.unpack_from("<I", data, offset + 8)[0])
        elif cmd == LC_ID_DYLIB:
            found["id"] = cstring(data, offset + struct.unpack_from("<I", data, offset + 8)[0])
        elif cmd in LOAD_COMMANDS:
            dylib = cstring(data, offset + struct.unpack_from("<I", data, offset + 8)[0])
            dylibs.append(dylib)
            if dylib not in allowed:
                problems.append(f"{arch}: {LOAD_COMMANDS[cmd]} {dylib} is not a library every Mac has")
        elif cmd in (LC_DYLD_INFO_ONLY, LC_DYLD_EXPORTS_TRIE):
            if cmd == LC_DYLD_INFO_ONLY:
                trie_off, trie_size = struct.unpack_from("<II", data, offset + 40)
            else:
                trie_off, trie_size = struct.unpack_from("<II", data, offset + 8)
            if trie_size:
                found["exports"] = trie_exports(data[trie_off : trie_off + trie_size])
        elif cmd == LC_CODE_SIGNATURE:
            dataoff, datasize = struct.unpack_from("<II", data, offset + 8)
            try:
                found["signature"] = check_signature(data, dataoff, datasize)
            except Problem as problem:
                problems.append(f"{arch}: {problem}")
                found["signature"] = "invalid"
        offset += cmdsize
    if found["minos"] != minos:
        problems.append(f"{arch}: minimum macOS is {found['minos']}, not {minos}")
    if found["id"] != name:
        problems.append(f"{arch}: install name is {found['id']!r}, not {name!r}")
    if found["exports"] is None or export not in found["exports"]:
        problems.append(f"{arch}: {export} is not in the export trie")
    if found["signature"] is None:
        problems.append(f"{arch}: no code signature (LC_CODE_SIGNATURE)")
    if problems:
        raise Problem("\n".join(problems))
    return (f"{arch}: MH_DYLIB, minimum macOS {found['minos']}, install name {found['id']}, "
            f"exports {export}, loads {', '.join(dylibs)}; signature: {found['signature']}")


def slices(data):
    magic, count = struct.unpack_from(">II", data, 0)
    if magic not in (FAT_MAGIC, FAT_MAGIC_64):
        raise Problem("not a universal (fat) Mach-O file")
    out = {}
    for i in range(count):
        if magic == FAT_MAGIC:
            cputype, _sub, offset, size, _align = struct.unpack_from(">iiIII", data, 8 + 20 * i)
        else:
            cputype, _sub, offset, size, _align, _res = struct.unpack_from(">iiQQII", data, 8 + 32 * i)
        arch = CPU_TYPES.get(cputype & 0xFFFFFFFF, f"cpu {cputype:#x}")
        out[arch] = data[offset : offset + size]
    return out


ALIGN = {"x86_64": 12, "arm64": 14}
LC_SEGMENT_64 = 0x19
PAGE_LOG2 = 12
CS_LINKER_SIGNED = 0x20000


def sign(path, identifier):
    """Ad-hoc signs the thin Mach-O file at `path` in place (see the module doc)."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    magic, cputype, _sub, _ft, ncmds, sizeofcmds, _flags, _res = struct.unpack_from("<IiiIIIII", data, 0)
    if magic != MH_MAGIC_64:
        raise Problem(f"{path}: not a 64-bit Mach-O file")
    offset, first_section, linkedit, text = 32, len(data), None, None
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from("<II", data, offset)
        if cmd == LC_CODE_SIGNATURE:
            return False  # signed already
        if cmd == LC_SEGMENT_64:
            name = data[offset + 8 : offset + 24].rstrip(b"\0").decode()
            fileoff, filesize = struct.unpack_from("<QQ", data, offset + 40)
            (nsects,) = struct.unpack_from("<I", data, offset + 64)
            for k in range(nsects):
                (sect_offset,) = struct.unpack_from("<I", data, offset + 72 + 80 * k + 48)
                if sect_offset:
                    first_section = min(first_section, sect_offset)
            if name == "__LINKEDIT":
                linkedit = offset
            elif name == "__TEXT":
                text = (fileoff, filesize)
        offset += cmdsize
    if linkedit is None or text is None:
        raise Problem(f"{path}: no __LINKEDIT or __TEXT segment")
    end_of_commands = 32 + sizeofcmds
    if end_of_commands + 16 > first_section:
        raise Problem(f"{path}: no room in the header for LC_CODE_SIGNATURE")
    # The signature starts 16-byte aligned at the end of the file (the end of __LINKEDIT).
    data.extend(b"\0" * (-len(data) % 16))
    code_limit = len(data)
    page = 1 << PAGE_LOG2
    n_code = -(-code_limit // page)
    ident = identifier.encode() + b"\0"
    cd_header = 88
    hash_offset = cd_header + len(ident)
    cd_length = hash_offset + 32 * n_code
    superblob_length = 12 + 8 + cd_length
    signature_size = superblob_length + (-superblob_length % 16)
    # Header and load commands as they will be, before hashing the pages that hold them.
    struct.pack_into("<II", data, 16, ncmds + 1, sizeofcmds + 16)
    struct.pack_into("<IIII", data, end_of_commands, LC_CODE_SIGNATURE, 16, code_limit, signature_size)
    le_fileoff, = struct.unpack_from("<Q", data, linkedit + 40)
    le_filesize = code_limit + signature_size - le_fileoff
    le_vmsize = -(-le_filesize // 0x4000) * 0x4000
    struct.pack_into("<QQQ", data, linkedit + 32, le_vmsize, le_fileoff, le_filesize)
    hashes = b"".join(hashlib.sha256(bytes(data[i : min(i + page, code_limit)])).digest()
                      for i in range(0, code_limit, page))
    cd = struct.pack(">IIIIIIIIIBBBBIIIIQQQQ", CSMAGIC_CODEDIRECTORY, cd_length, 0x20400,
                     CS_ADHOC | CS_LINKER_SIGNED, hash_offset, cd_header, 0, n_code, code_limit,
                     32, 2, 0, PAGE_LOG2, 0, 0, 0, 0, 0, text[0], text[1], 0)
    assert len(cd) == cd_header
    superblob = struct.pack(">IIIII", CSMAGIC_EMBEDDED_SIGNATURE, superblob_length, 1,
                            CSSLOT_CODEDIRECTORY, 20) + cd + ident + hashes
    data.extend(superblob)
    data.extend(b"\0" * (signature_size - len(superblob)))
    with open(path, "wb") as f:
        f.write(data)
    return True


def lipo(out, thin_files):
    """Writes the universal file `out` made of the thin Mach-O files `thin_files`."""
    entries, blobs = [], []
    offset = 8 + 20 * len(thin_files)
    for path in thin_files:
        with open(path, "rb") as f:
            data = f.read()
        magic, cputype, subtype = struct.unpack_from("<Iii", data, 0)
        arch = CPU_TYPES.get(cputype & 0xFFFFFFFF)
        if magic != MH_MAGIC_64 or arch is None:
            raise Problem(f"{path}: not a 64-bit x86_64 or arm64 Mach-O file")
        align = ALIGN[arch]
        offset = -(-offset // (1 << align)) * (1 << align)
        entries.append(struct.pack(">iiIII", cputype, subtype, offset, len(data), align))
        blobs.append((offset, data))
        offset += len(data)
    out_data = bytearray(offset)
    out_data[0:8] = struct.pack(">II", FAT_MAGIC, len(thin_files))
    for i, entry in enumerate(entries):
        out_data[8 + 20 * i : 28 + 20 * i] = entry
    for start, data in blobs:
        out_data[start : start + len(data)] = data
    with open(out, "wb") as f:
        f.write(out_data)


def main():
    if sys.argv[1:2] == ["sign"] and len(sys.argv) == 4:
        try:
            signed = sign(sys.argv[2], sys.argv[3])
        except (Problem, OSError, struct.error) as problem:
            print(f"macho.py sign: {problem}", file=sys.stderr)
            return 1
        print(f"{sys.argv[2]}: {'ad-hoc signed' if signed else 'already signed'}")
        return 0
    if sys.argv[1:2] == ["lipo"] and len(sys.argv) >= 4:
        try:
            lipo(sys.argv[2], sys.argv[3:])
        except (Problem, OSError, struct.error) as problem:
            print(f"macho.py lipo: {problem}", file=sys.stderr)
            return 1
        return 0
    if sys.argv[1:2] != ["check"]:
        print(__doc__, file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="macho.py check")
    parser.add_argument("library")
    parser.add_argument("--name", required=True)
    parser.add_argument("--arch", action="append", required=True, help="ARCH:MINOS")
    parser.add_argument("--export", default="_rust_enet_init")
    parser.add_argument("--allow-dylib", action="append", default=[])
    args = parser.parse_args(sys.argv[2:])
    with open(args.library, "rb") as f:
        data = f.read()
    wanted = dict(entry.split(":", 1) for entry in args.arch)
    try:
        found = slices(data)
        if sorted(found) != sorted(wanted):
            raise Problem(f"architectures {sorted(found)}, expected {sorted(wanted)}")
        problems, lines = [], []
        for arch, minos in wanted.items():
            try:
                lines.append(check_slice(found[arch], arch, minos, args.name, args.allow_dylib, args.export))
            except Problem as problem:
                problems.append(str(problem))
        if problems:
            raise Problem("\n".join(problems))
    except (Problem, struct.error, IndexError, ValueError) as problem:
        for line in str(problem).splitlines():
            print(f"macho.py check: {args.library}: {line}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
