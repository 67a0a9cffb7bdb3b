"""The container of a PNG file, for the tools that read our PNGs without an imaging library
(crops_figure.py, standard library only; sr_peer.py, with numpy): the header's fields and the
inflated image data. Each tool unfilters the rows its own way."""
import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 6: 4}  # colour type -> samples per pixel: grey, RGB, RGBA


def read_png_data(path, error):
    """(width, height, depth, colour type, interlace, raw) of the PNG at path; raw is the inflated
    image data (per row a filter byte, then the row's bytes). A file that cannot be read or is not a
    PNG raises error(message), the message naming the file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise error(f"cannot read '{path}': {e.strerror}")
    if data[:8] != SIGNATURE:
        raise error(f"'{path}' is not a PNG file")
    pos, header, idat = 8, None, []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            if len(body) != 13:
                raise error(f"'{path}': an IHDR chunk of {len(body)} bytes, expected 13")
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None or not idat:
        raise error(f"'{path}' has no IHDR or no IDAT chunk")
    width, height, depth, colour, _, _, interlace = header
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as e:
        raise error(f"'{path}': bad image data ({e})")
    return width, height, depth, colour, interlace, raw
