#!/usr/bin/env python3
"""Writes the small .npy samples of this folder byte by byte (no NumPy needed).

Run from anywhere: python3 tests/data/npy/make_samples.py
The valid samples are laid out exactly as numpy.save writes them (format 1.0, header padded with
spaces to a multiple of 64 bytes and ended by a newline); the others each break one rule.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MAGIC = b"\x93NUMPY"


def header_dict(descr, shape, fortran=False):
    dims = ", ".join(str(d) for d in shape)
    if len(shape) == 1:
        dims += ","
    order = "True" if fortran else "False"
    return "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (descr, order, dims)


def npy_v1(dict_text, data):
    text = dict_text.encode("ascii")
    unpadded = len(MAGIC) + 4 + len(text) + 1
    text += b" " * (-unpadded % 64) + b"\n"
    return MAGIC + b"\x01\x00" + struct.pack("<H", len(text)) + text + data


def save(name, content):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(content)


def main():
    float32 = struct.pack("<6f", 0.5, -1.25, 2.0, 3.5, -4.0, 0.125)
    save("float32.npy", npy_v1(header_dict("<f4", (2, 3)), float32))
    save("float64.npy", npy_v1(header_dict("<f8", (3,)), struct.pack("<3d", 1.5, -2.25, 1e10)))
    int64 = struct.pack("<4q", 1, -2, 3, 2**53 + 1)
    save("int64.npy", npy_v1(header_dict("<i8", (2, 2)), int64))
    save("bool.npy", npy_v1(header_dict("|b1", (4,)), bytes([1, 0, 0, 1])))

    save("bad_magic.npy", b"\x93NUMPZ" + npy_v1(header_dict("<f4", (2, 3)), float32)[6:])
    save("truncated.npy", npy_v1(header_dict("<f4", (2, 3)), float32[:16]))
    save("fortran.npy", npy_v1(header_dict("<f4", (2, 3), fortran=True), float32))
    big_endian = struct.pack(">6f", 0.5, -1.25, 2.0, 3.5, -4.0, 0.125)
    save("big_endian.npy", npy_v1(header_dict(">f4", (2, 3)), big_endian))
    # Format 2.0 with a declared header length of 1 MiB, far over the reader's 64 KiB limit.
    text = header_dict("<f4", (1,)).encode("ascii") + b"\n"
    save("huge_header.npy", MAGIC + b"\x02\x00" + struct.pack("<I", 1 << 20) + text)


if __name__ == "__main__":
    main()
