"""Load photos robustly: refuse empty, truncated, non-image and oversized files with a clear reason.

The pixel limit is checked from the file header (parsed here for PNG/JPEG/WebP/GIF/BMP, by Pillow
for the rest when it is installed) BEFORE the full image is decoded, so a 20000x20000 JPEG never allocates its 1.2 GB. Grayscale,
16-bit, alpha, PNG, WebP, BMP and TIFF inputs all come back as 8-bit BGR.
"""
from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np

from .params import DEFAULT_MAX_PIXELS


class ImageError(ValueError):
    """The file cannot be used as a photo; the message says why and names the file."""


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame marker."""
    i = 2
    n = len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image header without decoding the pixels; None when unknown.

    PNG, JPEG, WebP, GIF and BMP headers are parsed here; other formats go to Pillow when it is
    installed (it reads only the header on open); else None and OpenCV decodes before the check."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return w, h
        if data[:3] == b"\xff\xd8\xff":
            return jpeg_size(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            kind = data[12:16]
            if kind == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
            if kind == b"VP8L":
                b = int.from_bytes(data[21:25], "little")
                return (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1
            if kind == b"VP8X":
                return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
        if data[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack("<HH", data[6:10])
            return w, h
        if data[:2] == b"BM" and len(data) >= 26:
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
    except struct.error:
        return None
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Image.MAX_IMAGE_PIXELS = None  # our own limit applies, with our own message
            with Image.open(io.BytesIO(data)) as im:
                return int(im.size[0]), int(im.size[1])
    except Exception:
        return None


def looks_truncated(data: bytes) -> str | None:
    """A reason when a JPEG or PNG file visibly stops before its end marker (OpenCV would pad it grey)."""
    if data[:3] == b"\xff\xd8\xff":
        if b"\xff\xd9" not in data[-1024:].rstrip(b"\x00"):
            return "JPEG data is truncated (no end-of-image marker)"
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        if b"IEND" not in data[-64:]:
            return "PNG data is truncated (no IEND chunk)"
    return None


def to_bgr8(img: np.ndarray) -> np.ndarray:
    """8-bit BGR from gray/BGR/BGRA images of 8, 16 bit or float depth."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = img.astype(np.float64)
        hi = float(img.max()) if img.size else 1.0
        img = np.clip(img * (255.0 if hi <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(img[:, :, :3])


def decode_image(data: bytes, name: str = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode image bytes to BGR uint8, or raise ImageError naming `name` and the reason."""
    if len(data) == 0:
        raise ImageError(f"{name}: file is empty (0 bytes); give a JPEG/PNG/WebP photo")
    size = header_size(data)
    if size is not None:
        w, h = size
        if w <= 0 or h <= 0:
            raise ImageError(f"{name}: image has no pixels ({w}x{h})")
        if w * h > max_pixels:
            raise ImageError(
                f"{name}: image is {w}x{h} = {w * h} pixels, above the limit of {max_pixels}; "
                "shrink it or raise the pixel limit (--max-pixels)"
            )
    reason = looks_truncated(data)
    if reason:
        raise ImageError(f"{name}: {reason}")
    buf = np.frombuffer(data, np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise ImageError(f"{name}: not a readable image (unknown format or corrupt data)")
    if img.size == 0 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ImageError(f"{name}: image has no pixels ({img.shape[1] if img.ndim > 1 else 0}x{img.shape[0]})")
    if img.shape[0] * img.shape[1] > max_pixels:
        raise ImageError(f"{name}: image is {img.shape[1]}x{img.shape[0]} pixels, above the limit of {max_pixels}")
    return to_bgr8(img)


def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a photo from `path` as BGR uint8; ImageError with a clear reason when it cannot be used."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except IsADirectoryError:
        raise ImageError(f"{p}: is a directory, not an image file") from None
    except FileNotFoundError:
        raise ImageError(f"{p}: no such file") from None
    except OSError as exc:
        raise ImageError(f"{p}: cannot read file ({exc.strerror or exc})") from None
    return decode_image(data, str(p), max_pixels)
