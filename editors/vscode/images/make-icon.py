#!/usr/bin/env python3
"""Draws images/icon.png (128x128, the Marketplace icon): a quill over a line of text whose
end is ghost text. Plain Python (zlib), no imaging library: python3 images/make-icon.py"""
import math
import os
import struct
import zlib

SIZE = 128
SS = 4  # samples per pixel along each axis (anti-aliasing)

BG = (30, 41, 59)  # slate
FEATHER = (241, 245, 249)
TEXT = (241, 245, 249)
GHOST = (100, 116, 139)


def rounded_square(x, y, r=26):
    """Inside the icon's rounded square (corners of radius r)."""
    cx = min(max(x, r), SIZE - r)
    cy = min(max(y, r), SIZE - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def bar(x, y, x0, x1, yc, h):
    """A horizontal bar with round ends from x0 to x1, centred on yc, h high."""
    r = h / 2
    cx = min(max(x, x0 + r), x1 - r)
    return (x - cx) ** 2 + (y - yc) ** 2 <= r * r


# The quill runs from its nib (bottom left) to its end (top right).
TIP = (30.0, 98.0)
END = (108.0, 20.0)
L = math.dist(TIP, END)
UX, UY = (END[0] - TIP[0]) / L, (END[1] - TIP[1]) / L


def quill(x, y):
    """'vane', 'shaft' or None for a point."""
    dx, dy = x - TIP[0], y - TIP[1]
    u = dx * UX + dy * UY  # along the quill, 0 at the nib
    v = -dx * UY + dy * UX  # across it (negative: upper left side)
    if u < 0 or u > L:
        return None
    t = u / L
    if t < 0.28:
        # the bare nib: a thin stem that comes to a point
        return 'vane' if abs(v) <= 0.6 + 2.2 * t / 0.28 else None
    s = (t - 0.28) / 0.72
    width = 21 * math.sin(math.pi * s ** 0.75) ** 0.9
    side = width if v < 0 else width * 0.62  # the vane is wider on one side
    if abs(v) <= 1.1 and t < 0.97:
        return 'shaft'
    return 'vane' if abs(v) <= side else None


def colour(x, y):
    if not rounded_square(x, y):
        return None
    q = quill(x, y)
    if q == 'vane':
        return FEATHER
    if bar(x, y, 58, 78, 104, 8):
        return TEXT
    if bar(x, y, 84, 108, 104, 8) or bar(x, y, 72, 100, 90, 8):
        return GHOST
    return BG


def render():
    rows = []
    for py in range(SIZE):
        row = bytearray([0])  # filter: none
        for px in range(SIZE):
            acc = [0, 0, 0, 0]
            for sy in range(SS):
                for sx in range(SS):
                    c = colour(px + (sx + 0.5) / SS, py + (sy + 0.5) / SS)
                    if c is not None:
                        acc[0] += c[0]
                        acc[1] += c[1]
                        acc[2] += c[2]
                        acc[3] += 1
            n = acc[3]
            if n == 0:
                row += bytes(4)
            else:
                row += bytes([round(acc[0] / n), round(acc[1] / n), round(acc[2] / n), round(255 * n / SS / SS)])
        rows.append(bytes(row))
    return b''.join(rows)


def png(width, height, raw):
    def chunk(kind, data):
        body = kind + data
        return struct.pack('>I', len(data)) + body + struct.pack('>I', zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack('>IIBBBBB', width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b'')


if __name__ == '__main__':
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'icon.png')
    with open(out, 'wb') as f:
        f.write(png(SIZE, SIZE, render()))
    print(out, os.path.getsize(out), 'bytes')
