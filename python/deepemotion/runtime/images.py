"""Decoding untrusted encoded images (files given to the tools, frames sent to a server) with bounded memory.

A few bytes can declare a huge image: a 296 KB GIF, a 1 MB TIFF or a JPEG whose size header sits behind a megabyte of
comment segments can each declare 20000 x 20000 pixels, which OpenCV decodes into gigabytes. So an image is decoded
only when its format is one whose header we read first (`FORMATS`: every format this OpenCV decodes, less
OpenEXR, which OpenCV leaves off by default, and BigTIFF) and the size it declares is allowed: at most
`MAX_IMAGE_PIXELS`, and at most `FLOOR_PIXELS` plus `PIXELS_PER_BYTE` per byte of input -- the memory
a decode may take grows with what was sent, not with what the header claims. Imports nothing of the package.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Literal

import numpy as np

#: decoded images are refused above this many pixels (an 8K frame has 33 M)
MAX_IMAGE_PIXELS = 64_000_000
#: any accepted image may have this many pixels (2048 x 2048, 2560 x 1600: a flat screenshot of a few KB) ...
FLOOR_PIXELS = 1 << 22
#: ... and this many more per byte of input: a 4K frame needs 64 KB, 64 megapixels 1 MB (camera JPEGs have
#: 0.1-0.5 bytes per pixel, 2-10 pixels per byte); a 296 KB file may declare 23 megapixels, not 64
PIXELS_PER_BYTE = 64
#: encoded inputs above this size are not read at all
MAX_IMAGE_BYTES = 256 << 20
#: headers are walked segment by segment (JPEG), block by block (GIF) or box by box (AVIF): a file with more steps
#: before its size than any real one has is refused (millions of empty segments would cost seconds in Python)
MAX_HEADER_STEPS = 100_000


def _be(b: bytes) -> int:
    return int.from_bytes(b, "big")


def _le(b: bytes) -> int:
    return int.from_bytes(b, "little")


def _jpeg(data: bytes) -> tuple[int, int] | None:
    """The first start-of-frame segment's size, however many segments come before it (skipped by their lengths, as
    libjpeg reads them: a SOF inside a comment is not one)."""
    pos = 2
    for _ in range(MAX_HEADER_STEPS):
        if pos + 4 > len(data):
            return None
        if data[pos] != 0xFF:  # bytes between segments: skipped to the next marker, as libjpeg does
            pos = data.find(b"\xff", pos)
            if pos < 0:
                return None
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame segment
            return (_be(data[pos + 7 : pos + 9]), _be(data[pos + 5 : pos + 7])) if pos + 9 <= len(data) else None
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        pos += 2 + _be(data[pos + 2 : pos + 4])
    return None


def _png(data: bytes) -> tuple[int, int] | None:
    return (_be(data[16:20]), _be(data[20:24])) if len(data) >= 24 and data[12:16] == b"IHDR" else None


def _bmp(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    if _le(data[14:18]) == 12:  # BITMAPCOREHEADER: 16-bit sizes
        return _le(data[18:20]), _le(data[20:22])
    return abs(int.from_bytes(data[18:22], "little", signed=True)), abs(
        int.from_bytes(data[22:26], "little", signed=True)
    )


def _webp(data: bytes) -> tuple[int, int] | None:
    if len(data) < 30:
        return None
    kind = data[12:16]
    if kind == b"VP8X":
        return 1 + _le(data[24:27]), 1 + _le(data[27:30])
    if kind == b"VP8L":
        bits = _le(data[21:25])
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if kind == b"VP8 ":
        return _le(data[26:28]) & 0x3FFF, _le(data[28:30]) & 0x3FFF
    return None


def _gif(data: bytes) -> tuple[int, int] | None:
    """The larger of the logical screen and the first frame's extent (OpenCV decodes the first frame onto the
    screen)."""
    if len(data) < 13:
        return None
    w, h = _le(data[6:8]), _le(data[8:10])
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    steps = 0
    while pos < len(data) and steps < MAX_HEADER_STEPS:
        if data[pos] == 0x2C:  # the first image descriptor
            if pos + 9 > len(data):
                return None
            left, top, fw, fh = (_le(data[pos + k : pos + k + 2]) for k in (1, 3, 5, 7))
            return max(w, left + fw), max(h, top + fh)
        if data[pos] != 0x21 or pos + 2 > len(data):  # only extensions come before it
            return None
        pos += 2
        while pos < len(data) and data[pos] and steps < MAX_HEADER_STEPS:  # the extension's sub-blocks
            pos += 1 + data[pos]
            steps += 1
        pos += 1
        steps += 1
    return None


_TIFF_TYPES = {3: (2, "H"), 4: (4, "I")}  # SHORT, LONG: the types a size tag may have


def _tiff(data: bytes) -> tuple[int, int] | None:
    """ImageWidth x ImageLength of the first directory (the page OpenCV decodes); a tile larger than the image counts
    as the image (the decoder allocates a tile)."""
    order: Literal["little", "big"] = "little" if data[:2] == b"II" else "big"
    if int.from_bytes(data[2:4], order) != 42:
        return None  # BigTIFF (43) is not read
    ifd = int.from_bytes(data[4:8], order)
    if ifd + 2 > len(data):
        return None
    tags: dict[int, int] = {}
    for k in range(int.from_bytes(data[ifd : ifd + 2], order)):
        e = ifd + 2 + 12 * k
        if e + 12 > len(data):
            return None
        tag, typ = int.from_bytes(data[e : e + 2], order), int.from_bytes(data[e + 2 : e + 4], order)
        if tag in (256, 257, 322, 323) and typ in _TIFF_TYPES:
            size = _TIFF_TYPES[typ][0]
            tags[tag] = int.from_bytes(data[e + 8 : e + 8 + size], order)
    if 256 not in tags or 257 not in tags:
        return None
    return max(tags[256], tags.get(322, 0)), max(tags[257], tags.get(323, 0))


_PNM = re.compile(rb"P[1-6](?:\s+|#[^\n]*\n)*(\d+)(?:\s+|#[^\n]*\n)+(\d+)")
_PAM = re.compile(rb"(WIDTH|HEIGHT)\s+(\d+)")
_PFM = re.compile(rb"P[Ff]\s+(\d+)\s+(\d+)")
_HDR = re.compile(rb"\n([-+])([XY])\s+(\d+)\s+([-+])([XY])\s+(\d+)")


def _pnm(data: bytes) -> tuple[int, int] | None:
    if data[:2] == b"P7":
        fields = dict(_PAM.findall(data[:4096]))
        return (int(fields[b"WIDTH"]), int(fields[b"HEIGHT"])) if len(fields) == 2 else None
    m = (_PFM if data[1:2] in (b"F", b"f") else _PNM).match(data[:4096])
    return (int(m.group(1)), int(m.group(2))) if m else None


def _hdr(data: bytes) -> tuple[int, int] | None:
    m = _HDR.search(data[:65536])
    if not m:
        return None
    size = {m.group(2): int(m.group(3)), m.group(5): int(m.group(6))}
    return (size[b"X"], size[b"Y"]) if set(size) == {b"X", b"Y"} else None


def _sun(data: bytes) -> tuple[int, int] | None:
    return (_be(data[4:8]), _be(data[8:12])) if len(data) >= 12 else None


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """ISO base-media boxes in data[start:end]: (type, payload start, payload end)."""
    out: list[tuple[bytes, int, int]] = []
    pos = start
    while pos + 8 <= end and len(out) < MAX_HEADER_STEPS:
        size, kind, head = _be(data[pos : pos + 4]), data[pos + 4 : pos + 8], 8
        if size == 1 and pos + 16 <= end:
            size, head = _be(data[pos + 8 : pos + 16]), 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            break
        out.append((kind, pos + head, pos + size))
        pos += size
    return out


def _avif(data: bytes) -> tuple[int, int] | None:
    """The largest 'ispe' (image spatial extent) property of the file's items: every image item, a grid's too,
    declares one."""
    best = None
    for kind, a, b in _boxes(data, 0, len(data)):
        if kind != b"meta":
            continue
        for k2, a2, b2 in _boxes(data, a + 4, b):  # meta is a full box: version and flags first
            for k3, a3, b3 in _boxes(data, a2, b2) if k2 == b"iprp" else []:
                for k4, a4, _ in _boxes(data, a3, b3) if k3 == b"ipco" else []:
                    if k4 == b"ispe":
                        w, h = _be(data[a4 + 4 : a4 + 8]), _be(data[a4 + 8 : a4 + 12])
                        best = (w, h) if best is None or w * h > best[0] * best[1] else best
    return best


def _jp2(data: bytes) -> tuple[int, int] | None:
    """A JPEG 2000 codestream's SIZ marker (Xsiz, Ysiz: the reference grid), in a raw .j2k or inside a .jp2."""
    pos = data.find(b"\xff\x4f\xff\x51")
    if pos < 0 or pos + 20 > len(data):
        return None
    return _be(data[pos + 8 : pos + 12]), _be(data[pos + 12 : pos + 16])


#: format -> (does the data start like it, its declared (width, height) or None)
FORMATS: dict[str, tuple[Callable[[bytes], bool], Callable[[bytes], tuple[int, int] | None]]] = {
    "JPEG": (lambda d: d[:3] == b"\xff\xd8\xff", _jpeg),
    "PNG": (lambda d: d[:8] == b"\x89PNG\r\n\x1a\n", _png),
    "BMP": (lambda d: d[:2] == b"BM", _bmp),
    "WebP": (lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP", _webp),
    "GIF": (lambda d: d[:6] in (b"GIF87a", b"GIF89a"), _gif),
    "TIFF": (lambda d: d[:4] in (b"II*\x00", b"MM\x00*"), _tiff),
    "PNM": (lambda d: len(d) > 2 and d[:1] == b"P" and d[1:2] in b"1234567Ff" and d[2:3].isspace(), _pnm),
    "HDR": (lambda d: d[:10] == b"#?RADIANCE" or d[:6] == b"#?RGBE", _hdr),
    "Sun raster": (lambda d: d[:4] == b"\x59\xa6\x6a\x95", _sun),
    "AVIF": (lambda d: d[4:8] == b"ftyp" and d[8:12] in (b"avif", b"avis"), _avif),
    "JPEG 2000": (lambda d: d[:4] == b"\xff\x4f\xff\x51" or d[4:12] == b"jP  \r\n\x87\n", _jp2),
}


def image_header_size(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) an encoded image declares, read without decoding it; None when the data is none of
    `FORMATS` or its header cannot be read."""
    for name, (sniff, size) in FORMATS.items():
        if sniff(data):
            wh = size(data)
            return None if wh is None else (name, wh[0], wh[1])
    return None


def allowed_pixels(n_bytes: int) -> int:
    """The most pixels an image of `n_bytes` encoded bytes may declare."""
    return min(MAX_IMAGE_PIXELS, FLOOR_PIXELS + PIXELS_PER_BYTE * n_bytes)


def check_encoded_image(data: bytes, name: str) -> tuple[str, int, int]:
    """(format, width, height) of an encoded image that may be decoded, or ValueError naming `name`: too many bytes,
    a format whose size cannot be read first, or a declared size above `allowed_pixels`."""
    if len(data) == 0:
        raise ValueError(f"{name}: is empty, not an image")
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"{name}: {len(data) >> 20} MB; encoded images above {MAX_IMAGE_BYTES >> 20} MB are refused")
    found = image_header_size(data)
    if found is None:
        raise ValueError(
            f"{name}: cannot be decoded: not an image in a format whose size deepemotion reads before "
            f"decoding ({', '.join(FORMATS)}), or its header is damaged"
        )
    fmt, w, h = found
    if w < 1 or h < 1:
        raise ValueError(f"{name}: a {fmt} declaring a {w}x{h} image cannot be decoded")
    if w * h > MAX_IMAGE_PIXELS:
        raise ValueError(
            f"{name}: declares a {w}x{h} image ({fmt}); images above {MAX_IMAGE_PIXELS // 10**6} megapixels are refused"
        )
    if w * h > allowed_pixels(len(data)):
        raise ValueError(
            f"{name}: {len(data):,} bytes of {fmt} declaring a {w}x{h} image; at most "
            f"{allowed_pixels(len(data)):,} pixels are decoded from that many bytes"
        )
    return found


def decode_image(data: Any, name: str, gray: bool = False) -> np.ndarray:
    """Decode an encoded image (bytes or a uint8 array) into BGR, or gray, after `check_encoded_image`;
    OpenCV's own log lines about damaged files are kept quiet. ValueError naming `name` when it is refused or
    cannot be decoded."""
    import cv2

    buf = (
        np.frombuffer(bytes(data), np.uint8)
        if isinstance(data, (bytes, bytearray, memoryview))
        else np.ascontiguousarray(data, np.uint8).reshape(-1)
    )
    check_encoded_image(buf.tobytes(), name)
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    except cv2.error:
        img = None
    finally:
        cv2.utils.logging.setLogLevel(level)
    if img is None:
        raise ValueError(f"{name}: cannot be decoded as an image")
    if gray and img.ndim == 3:  # OpenCV's PFM reader returns colour whatever the flag says
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.shape[0] * img.shape[1] > allowed_pixels(buf.size):  # a header read wrongly must not pass either
        raise ValueError(f"{name}: decoded to a {img.shape[1]}x{img.shape[0]} image, more than its header declared")
    return img
