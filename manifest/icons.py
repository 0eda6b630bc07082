"""Draw the Teams app icons: three linked dots, the three agencies that make a strategy
meeting quorate (social care, health, police).

    python manifest/icons.py            # (re)write manifest/color.png and manifest/outline.png
    python manifest/icons.py --check    # exit 1 if the committed icons differ from the drawing

color.png is 192x192, full colour: a rounded square in the app's accent colour with three
coloured dots joined by white lines. outline.png is 32x32, white on transparent, as Teams asks
for the outline icon: the same three linked dots. Pure standard library (a small PNG writer
over zlib and struct); the output is byte-for-byte reproducible.
"""
from __future__ import annotations

import argparse
import math
import struct
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ACCENT = (0x1F, 0x5C, 0x99)                               # also the manifest's accentColor
WHITE = (0xFF, 0xFF, 0xFF)
AGENCIES = [(0x2E, 0xB8, 0x8A), (0xF2, 0xA9, 0x00), (0xE8, 0x5D, 0x4A)]  # three distinct dots
SUPERSAMPLE = 4                                           # 4x4 samples a pixel: smooth edges

Colour = tuple[int, int, int]


def png(width: int, height: int, rgba: list[bytes]) -> bytes:
    """An 8-bit RGBA PNG from rows of width*4 bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + row for row in rgba)  # filter type 0 (none) on every row
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return struct.unpack(">II", data[16:24])


def _segment_distance(px: float, py: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def _in_rounded_square(px: float, py: float, size: float, radius: float) -> bool:
    cx = min(max(px, radius), size - radius)
    cy = min(max(py, radius), size - radius)
    return 0 <= px <= size and 0 <= py <= size and math.hypot(px - cx, py - cy) <= radius


def draw(size: int, *, background: Colour | None, corner: float, dots: list[tuple[float, float]],
         dot_radius: float, ring: float, line_width: float, line: Colour, fills: list[Colour]) -> bytes:
    """The icon as PNG bytes: an optional rounded-square background, lines joining the dots,
    then each dot (a `line`-coloured ring of width `ring` around its fill)."""
    edges = [(dots[0], dots[1]), (dots[1], dots[2]), (dots[2], dots[0])]
    n = SUPERSAMPLE
    rows = []
    for y in range(size):
        row = bytearray()
        for x in range(size):
            r = g = b = a = 0.0
            for sy in range(n):
                for sx in range(n):
                    px, py = x + (sx + 0.5) / n, y + (sy + 0.5) / n
                    colour: Colour | None = None
                    if background is not None and _in_rounded_square(px, py, size, corner):
                        colour = background
                    if any(_segment_distance(px, py, p, q) <= line_width / 2 for p, q in edges):
                        colour = line
                    for (cx, cy), fill in zip(dots, fills):
                        d = math.hypot(px - cx, py - cy)
                        if d <= dot_radius:
                            colour = fill if d <= dot_radius - ring else line
                    if colour is not None:
                        r, g, b, a = r + colour[0], g + colour[1], b + colour[2], a + 1
            if a:
                row += bytes((round(r / a), round(g / a), round(b / a), round(255 * a / (n * n))))
            else:
                row += b"\x00\x00\x00\x00"
        rows.append(bytes(row))
    return png(size, size, rows)


def color_icon() -> bytes:
    s = 192
    dots = [(s / 2, 58.0), (58.0, 128.0), (134.0, 128.0)]
    return draw(s, background=ACCENT, corner=36, dots=dots, dot_radius=21, ring=6, line_width=9,
                line=WHITE, fills=AGENCIES)


def outline_icon() -> bytes:
    s = 32
    dots = [(16.0, 8.5), (7.5, 22.5), (24.5, 22.5)]
    # white on transparent only: the dots are solid (ring as wide as the dot)
    return draw(s, background=None, corner=0, dots=dots, dot_radius=4.5, ring=4.5, line_width=2,
                line=WHITE, fills=[WHITE, WHITE, WHITE])


ICONS = {"color.png": color_icon, "outline.png": outline_icon}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw the Teams app icons (manifest/color.png, manifest/outline.png).")
    parser.add_argument("--check", action="store_true", help="compare with the committed icons instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for name, make in ICONS.items():
        data, path = make(), HERE / name
        if args.check:
            if not path.is_file() or path.read_bytes() != data:
                stale.append(name)
        else:
            path.write_bytes(data)
            print(f"{path}: {'x'.join(map(str, png_size(data)))}, {len(data)} bytes")
    if stale:
        print(f"icons.py: {', '.join(stale)} differ from the drawing; run python manifest/icons.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
