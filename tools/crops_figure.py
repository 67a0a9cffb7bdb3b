#!/usr/bin/env python3
"""Crops of several same-size images side by side, for docs/RESULTS.md (standard library only).

    crops_figure.py --panel OUT1.png --panel OUT2.png ... --texture REF.png --region Y0,X0,H,W
                    --texture-at Y,X --size S [--zoom Z] --out FIGURE.png [--json CROP.json]

Every --panel is an image of the same size (e.g. bicubic x2, the basic model's and the SRA model's
8K-mode outputs). --texture is the telephoto in the canonical layout of those images (e.g. Ref/x1 of
`dcsr prepare --real`): its pixel (r, c) is panel pixel (Y + r, X + c) (--texture-at); it is shown as
the last panel. The S x S crop is chosen inside --region (panel pixels: the telephoto's real view, e.g.
twice the `fov` of `dcsr detail --json`, which leaves out the rows the resampled telephoto only
repeats) where the telephoto has the most detail: the product of its summed horizontal and vertical
luminance differences (a region of repeated rows has no vertical detail and scores 0), so the choice
never looks at the outputs. Each crop is enlarged Z times by pixel repetition (default 2) and the
panels are separated by 8 white pixels. Writes an 8-bit RGB PNG; --json writes the crop's position.

Reads 8-bit and 16-bit grey, RGB and RGBA PNGs without interlacing (what the dcsr commands write).
Fails with one line naming the file (exit 1) on anything else; nothing is written then.
"""
import argparse
import json
import os
import struct
import sys
import zlib

import png_chunks

GAP = 8


class FigureError(Exception):
    pass


def read_png(path):
    """(width, height, rows): rows[y] is a bytes object of 3 * width 8-bit RGB values."""
    width, height, depth, colour, interlace, raw = png_chunks.read_png_data(path, FigureError)
    channels = png_chunks.CHANNELS.get(colour)
    if channels is None or depth not in (8, 16) or interlace != 0:
        raise FigureError(f"'{path}': PNG colour type {colour}, depth {depth}, interlace {interlace} "
                          "is not supported (8 or 16-bit grey, RGB or RGBA, not interlaced)")
    bpp = channels * depth // 8
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        raise FigureError(f"'{path}': image data of {len(raw)} bytes, expected {height * (stride + 1)}")
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        unfilter(line, previous, kind, bpp, path)
        rows.append(to_rgb8(line, width, channels, depth))
        previous = line
    return width, height, rows


def unfilter(line, prev, kind, bpp, path):
    n = len(line)
    if kind == 0:
        return
    if kind == 1:
        for i in range(bpp, n):
            line[i] = (line[i] + line[i - bpp]) & 255
    elif kind == 2:
        for i in range(n):
            line[i] = (line[i] + prev[i]) & 255
    elif kind == 3:
        for i in range(n):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
    elif kind == 4:
        for i in range(n):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    else:
        raise FigureError(f"'{path}': unknown PNG filter {kind}")


def to_rgb8(line, width, channels, depth):
    samples = line if depth == 8 else line[0::2]  # 16-bit: the high byte
    if channels == 3:
        return bytes(samples)
    out = bytearray(3 * width)
    for x in range(width):
        if channels == 1:
            out[3 * x:3 * x + 3] = bytes([samples[x]]) * 3
        else:
            out[3 * x:3 * x + 3] = samples[4 * x:4 * x + 3]
    return bytes(out)


def write_png(path, width, height, rows):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + row for row in rows)
    png = (png_chunks.SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
           chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(png)
    os.replace(tmp, path)


def luma(rows, width, height):
    return [[(66 * r[3 * x] + 129 * r[3 * x + 1] + 25 * r[3 * x + 2]) >> 8 for x in range(width)] for r in rows]


def choose_crop(texture, region, size, step=8):
    """Top-left (y, x) in texture pixels of the size x size window inside region with the most detail."""
    y0, x0, h, w = region
    ys = len(texture)
    xs = len(texture[0])
    # Summed-area tables of |horizontal| and |vertical| luminance differences.
    def table(diff):
        s = [[0] * (xs + 1) for _ in range(ys + 1)]
        for y in range(ys):
            acc = 0
            for x in range(xs):
                acc += diff(y, x)
                s[y + 1][x + 1] = s[y][x + 1] + acc
        return s
    dx = table(lambda y, x: abs(texture[y][x] - texture[y][x - 1]) if x > 0 else 0)
    dy = table(lambda y, x: abs(texture[y][x] - texture[y - 1][x]) if y > 0 else 0)
    def window(s, y, x):
        return s[y + size][x + size] - s[y][x + size] - s[y + size][x] + s[y][x]
    best = None
    for y in range(y0, y0 + h - size + 1, step):
        for x in range(x0, x0 + w - size + 1, step):
            score = window(dx, y, x) * window(dy, y, x)
            if best is None or score > best[0]:
                best = (score, y, x)
    if best is None:
        raise FigureError(f"the region {region} (telephoto pixels) is smaller than the {size}-px crop")
    return best[1], best[2]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--panel", action="append", required=True, help="an output image (repeatable, in order)")
    p.add_argument("--texture", required=True, help="the telephoto in the panels' canonical layout")
    p.add_argument("--texture-at", required=True, help="Y,X: the panel pixel of the telephoto's pixel (0, 0)")
    p.add_argument("--region", required=True, help="Y0,X0,H,W panel pixels where the crop may lie")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--zoom", type=int, default=2)
    p.add_argument("--out", required=True)
    p.add_argument("--json")
    a = p.parse_args()
    try:
        at = [int(v) for v in a.texture_at.split(",")]
        region = [int(v) for v in a.region.split(",")]
        assert len(at) == 2 and len(region) == 4
    except (ValueError, AssertionError):
        raise FigureError(f"--texture-at must be Y,X and --region Y0,X0,H,W (integers), got "
                          f"'{a.texture_at}' and '{a.region}'")
    if a.size < 8 or a.zoom < 1:
        raise FigureError("--size must be at least 8 and --zoom at least 1")
    panels = [read_png(path) for path in a.panel]
    width, height = panels[0][0], panels[0][1]
    for path, (w, h, _) in zip(a.panel, panels):
        if (w, h) != (width, height):
            raise FigureError(f"'{path}' is {w}x{h}, but '{a.panel[0]}' is {width}x{height}")
    tw, th, trows = read_png(a.texture)
    # The region in telephoto pixels, clipped to the telephoto and to the panels.
    ty0, tx0 = max(region[0] - at[0], 0), max(region[1] - at[1], 0)
    ty1 = min(region[0] + region[2] - at[0], th, height - at[0])
    tx1 = min(region[1] + region[3] - at[1], tw, width - at[1])
    y, x = choose_crop(luma(trows, tw, th), (ty0, tx0, ty1 - ty0, tx1 - tx0), a.size)
    crops = [[row[3 * (x + at[1]):3 * (x + at[1] + a.size)] for row in rows[y + at[0]:y + at[0] + a.size]]
             for _, _, rows in panels]
    crops.append([row[3 * x:3 * (x + a.size)] for row in trows[y:y + a.size]])
    side = a.size * a.zoom
    out_w = len(crops) * side + (len(crops) - 1) * GAP
    white = b"\xff\xff\xff" * GAP
    out_rows = []
    for r in range(a.size):
        pieces = []
        for crop in crops:
            row = crop[r]
            pieces.append(b"".join(row[3 * c:3 * c + 3] * a.zoom for c in range(a.size)))
        line = white.join(pieces)
        out_rows.extend([line] * a.zoom)
    write_png(a.out, out_w, side, out_rows)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"panel_y": y + at[0], "panel_x": x + at[1], "size": a.size, "zoom": a.zoom}, f)
    print(f"crops_figure: {len(crops)} panels of the {a.size}x{a.size} crop at panel pixel ({y + at[0]}, "
          f"{x + at[1]}), x{a.zoom}: {a.out}")


if __name__ == "__main__":
    try:
        main()
    except FigureError as e:
        print(f"crops_figure: error: {e}", file=sys.stderr)
        sys.exit(1)
