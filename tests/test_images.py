"""Image bombs: every format OpenCV decodes here has its declared size read before decoding, and a small file cannot
make a decode allocate gigabytes (runtime/images.py: fer-predict, the tools and the Triton frames model use it)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import cv2
import numpy as np
import pytest

from _helpers import error_line, example_frame, run_cli
from deepemotion.runtime import images
from deepemotion.runtime.images import MAX_IMAGE_PIXELS, check_encoded_image, decode_image, image_header_size

H, W = 37, 53
#: every format this OpenCV encodes and decodes (OpenEXR is off by default in OpenCV and refused here)
ENCODED = [
    ".jpg",
    ".png",
    ".bmp",
    ".webp",
    ".tiff",
    ".pgm",
    ".ppm",
    ".pbm",
    ".pam",
    ".pfm",
    ".sr",
    ".hdr",
    ".jp2",
    ".gif",
    ".avif",
]


def encoded(ext: str) -> bytes:
    img = (np.random.default_rng(0).random((H, W, 3)) * 255).astype(np.uint8)
    if ext in (".pgm", ".pbm"):
        img = img[..., 0].copy()
    if ext in (".pfm", ".hdr"):
        img = img.astype(np.float32) / 255
    try:
        ok, buf = cv2.imencode(ext, img)
    except cv2.error:
        ok = False
    if not ok:
        pytest.skip(f"this OpenCV cannot write {ext}")
    return buf.tobytes()


@pytest.mark.parametrize("ext", ENCODED)
def test_every_format_opencv_decodes_has_its_size_read_first(ext):
    data = encoded(ext)
    fmt, w, h = image_header_size(data)
    assert (w, h) == (W, H), fmt
    assert decode_image(data, "x").shape == (H, W, 3)
    assert decode_image(data, "x", gray=True).shape == (H, W)


def _gif(w: int, h: int) -> bytes:
    """A GIF declaring a w x h screen and frame: 296 KB of LZW data (a clear code and an end) behind it."""
    head = b"GIF89a" + struct.pack("<HHBBB", w, h, 0, 0, 0)
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, 0) + b"\x02"
    blocks = (b"\xff" + b"\x00" * 255) * 1160 + b"\x00"
    return head + frame + blocks + b"\x3b"


def _tiff(w: int, h: int) -> bytes:
    """A 1 MB little-endian TIFF declaring w x h, 8-bit gray, one uncompressed strip."""
    strip = 8 + 2 + 12 * 7 + 4
    entries = [
        (256, 4, 1, w),
        (257, 4, 1, h),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, strip),
        (279, 4, 1, 1 << 20),
    ]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0\0\0\0"
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00" * (1 << 20)


def _jpeg_behind_comments(w: int, h: int) -> bytes:
    """A real JPEG with 1.1 MB of comment segments before its frame header, which declares w x h."""
    data = bytearray(encoded(".jpg"))
    sof = next(i for i in range(2, len(data)) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC1, 0xC2))
    data[sof + 5 : sof + 9] = struct.pack(">HH", h, w)
    comments = (b"\xff\xfe" + struct.pack(">H", 65535) + b"c" * 65533) * 17
    return bytes(data[:2] + comments + data[2:])


BOMBS = {"gif": _gif, "tiff": _tiff, "jpeg": _jpeg_behind_comments}


@pytest.mark.parametrize("kind", BOMBS)
def test_the_probe_s_bombs_are_refused_by_their_declared_size(kind):
    data = BOMBS[kind](20000, 20000)
    with pytest.raises(ValueError, match="20000x20000"):
        check_encoded_image(data, "bomb")
    with pytest.raises(ValueError, match="bomb: declares a 20000x20000"):
        decode_image(data, "bomb")


def test_memory_is_bounded_per_input_byte():
    """A small file may not declare what the 64-megapixel limit allows: 4.2 M pixels, plus 64 per byte."""
    small = _gif(6000, 6000)  # 36 M pixels in 296 KB: under 64 M, over 4.2 M + 64 x 296 K
    assert 6000 * 6000 < MAX_IMAGE_PIXELS
    with pytest.raises(ValueError, match="at most .* pixels are decoded from that many bytes"):
        check_encoded_image(small, "small")
    assert images.allowed_pixels(10) == images.FLOOR_PIXELS + 10 * images.PIXELS_PER_BYTE
    assert images.allowed_pixels(1 << 30) == MAX_IMAGE_PIXELS


@pytest.mark.parametrize(
    "data",
    [
        b"v/1\x01" + b"\0" * 100,
        b"\x00\x00\x00\x0cjP  \r\n\x87\n",
        b"GIF89a",
        b"\x89PNG",
        b"II+\x00" + b"\0" * 100,
        b"plain text, not an image",
    ],
    ids=["exr", "jp2-without-codestream", "gif-cut", "png-cut", "bigtiff", "text"],
)
def test_formats_whose_size_cannot_be_read_are_refused(data):
    with pytest.raises(ValueError, match="cannot be decoded: not an image in a format whose size"):
        decode_image(data, "f")


def test_a_header_with_millions_of_steps_is_refused_quickly():
    data = b"\xff\xd8" + b"\xff\xfe\x00\x02" * 400_000 + encoded(".jpg")[2:]
    with pytest.raises(ValueError, match="header is damaged"):
        check_encoded_image(data, "many")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_fer_predict_on_the_bombs_stays_small(tmp_path):
    """fer-predict on the probe's three files: one line each, exit 1 (inputs failed), and the process's peak
    memory stays far below what the declared images would take (2.4-3.2 GB before)."""
    paths = []
    for kind, make in BOMBS.items():
        p = tmp_path / f"bomb.{kind}"
        p.write_bytes(make(20000, 20000))
        paths.append(str(p))
    # the peak of this process's own memory (VmHWM): ru_maxrss would count the test process it was forked from
    code = (
        "import json, re, sys\nfrom deepemotion.cli.predict import main\n"
        "rc = main(sys.argv[1:])\n"
        "kb = int(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "print(json.dumps({'rc': rc, 'peak_mb': kb / 1024}))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, *paths, "--out", "", "--detector", "haar", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    res = json.loads(r.stdout.strip().splitlines()[-1])
    errors = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert res["rc"] == 1 and len(errors) == 3 and all("20000x20000" in e for e in errors), r.stderr
    assert res["peak_mb"] < 600, res


# --- damaged images through the tools ---------------------------------------------------------------------------
def test_damaged_images_give_our_line_and_not_opencvs(tmp_path):
    import cv2

    ok, buf = cv2.imencode(".png", example_frame())
    bad = tmp_path / "damaged.png"
    bad.write_bytes(buf.tobytes()[: len(buf) // 2])
    r = run_cli("predict", str(bad), "--out", "")
    assert r.returncode == 1
    assert "damaged.png: cannot be decoded" in error_line(r, "fer-predict")
    assert "WARN" not in r.stderr and "libpng" not in r.stderr
