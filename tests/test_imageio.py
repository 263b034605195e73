"""Bad input never crashes the loader: each case gives ImageError with a clear reason."""
from __future__ import annotations

import struct
import time
import zlib

import cv2
import numpy as np
import pytest

from anpr.imageio import ImageError, decode_image, load_image


def png_with_size(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR then claims another size (CRC fixed), as a decompression bomb would."""
    ok, buf = cv2.imencode(".png", np.zeros((4, 4), np.uint8))
    data = bytearray(buf.tobytes())
    ihdr = 8  # signature
    data[ihdr + 8 : ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4 : ihdr + 8 + 13])) & 0xFFFFFFFF
    data[ihdr + 8 + 13 : ihdr + 8 + 17] = struct.pack(">I", crc)
    return bytes(data)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(p)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)


def test_text_file_is_not_an_image(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not a photo\n")
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(p)


def test_zero_by_zero_image_is_refused(tmp_path):
    p = tmp_path / "zero.png"
    p.write_bytes(png_with_size(0, 0))
    with pytest.raises(ImageError) as err:
        load_image(p)
    assert "zero.png" in str(err.value)


def test_huge_image_refused_from_header_before_decoding(tmp_path):
    p = tmp_path / "huge.png"
    p.write_bytes(png_with_size(20000, 20000))
    t0 = time.perf_counter()
    with pytest.raises(ImageError, match="20000x20000.*above the limit"):
        load_image(p, max_pixels=50_000_000)
    assert time.perf_counter() - t0 < 5  # generous: decoding 400 MP would take far longer


def test_pixel_limit_is_configurable(tmp_path):
    p = tmp_path / "small.png"
    cv2.imwrite(str(p), np.zeros((100, 100, 3), np.uint8))
    assert load_image(p, max_pixels=10_000).shape == (100, 100, 3)
    with pytest.raises(ImageError, match="above the limit of 9999"):
        load_image(p, max_pixels=9_999)


def test_truncated_jpeg(tmp_path):
    ok, buf = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (200, 300, 3), np.uint8))
    p = tmp_path / "cut.jpg"
    p.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(ImageError, match="truncated"):
        load_image(p)


@pytest.mark.parametrize("ext", [".png", ".webp", ".jpg", ".bmp", ".tif"])
def test_gray_8bit_formats_come_back_bgr(tmp_path, ext):
    img = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
    p = tmp_path / f"gray{ext}"
    assert cv2.imwrite(str(p), img)
    out = load_image(p)
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    assert abs(int(out[10, 40, 0]) - 160) <= 8  # pixel values survive (lossy formats within a few levels)


def test_16bit_png_and_alpha(tmp_path):
    img16 = (np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    p = tmp_path / "deep.png"
    cv2.imwrite(str(p), img16)
    out = load_image(p)
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)
    assert int(out[-1, -1, 0]) == int(img16[-1, -1]) >> 8
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 2] = 200
    rgba[..., 3] = 255
    q = tmp_path / "alpha.png"
    cv2.imwrite(str(q), rgba)
    assert load_image(q).shape == (10, 12, 3)


def test_decode_bytes_names_the_source():
    with pytest.raises(ImageError, match="camera-7"):
        decode_image(b"\x00\x01garbage", "camera-7")
