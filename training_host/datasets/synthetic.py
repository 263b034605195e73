"""Synthetic characters rendered from font files, degraded like plate photos (`augment.py`).

Fonts come from the machine (the Debian packages fonts-dejavu-core, fonts-liberation,
fonts-freefont-ttf; Noto where present) by file name, or from any `.ttf`/`.otf` path, so a new
plate font is added by pointing at its file. Each glyph is rendered large once per font, then every
sample is an independent random degradation of it (blur, low resolution, perspective, stroke width,
contrast, noise, inversion, partial borders). Group id: the font, so a split holds out whole fonts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from anpr.charcrop import INPUT_SIZE, normalize_char

from .augment import DEFAULT_AUGMENT, AugmentParams, augment_char
from .charset import CharSet

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
# Narrow, bold sans faces nearest to plate lettering (DIN, FE, Mandatory, Brazilian Mandatory).
DEFAULT_FONTS = (
    "DejaVuSansCondensed-Bold.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSans-Bold.ttf",
    "LiberationSansNarrow-Bold.ttf",
    "LiberationSansNarrow-Regular.ttf",
    "LiberationSans-Bold.ttf",
    "LiberationMono-Bold.ttf",
    "FreeSansBold.ttf",
    "FreeSans.ttf",
    "FreeMonoBold.ttf",
    "NotoSansMono-Bold.ttf",
    "NotoSansMono-Regular.ttf",
)
RENDER_SIZE = 64
SOURCE = "synthetic"


class FontError(ValueError):
    """A font name or file that cannot be used."""


def resolve_font(name: str | Path, font_dirs: Sequence[Path] = FONT_DIRS) -> Path:
    """A font file path from a path or a file name found under the system font directories."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    for d in font_dirs:
        if d.is_dir():
            for hit in sorted(d.rglob(path.name)):
                return hit
    raise FontError(f"font {name!r} not found as a file nor under {', '.join(map(str, font_dirs))}; "
                    "install it (e.g. apt-get install fonts-dejavu-core) or pass the font file's path")


def available_fonts(names: Sequence[str | Path] = DEFAULT_FONTS) -> list[Path]:
    """Those of `names` present on this machine (the default list tolerates missing packages)."""
    found = []
    for n in names:
        try:
            found.append(resolve_font(n))
        except FontError:
            pass
    return found


def render_glyph(font_path: Path, char: str, size: int = RENDER_SIZE) -> np.ndarray:
    """Black `char` on white, cropped to its ink with a small margin (uint8)."""
    try:
        font = ImageFont.truetype(str(font_path), size)
    except OSError as exc:
        raise FontError(f"{font_path}: cannot load the font ({exc})") from exc
    canvas = Image.new("L", (size * 3, size * 3), 255)
    ImageDraw.Draw(canvas).text((size, size // 2), char, font=font, fill=0)
    arr = np.asarray(canvas)
    ys, xs = np.nonzero(arr < 128)
    if ys.size == 0:
        raise FontError(f"{font_path}: renders no ink for {char!r}")
    m = 4
    return arr[max(0, ys.min() - m): ys.max() + m + 1, max(0, xs.min() - m): xs.max() + m + 1].copy()


def make_synthetic(classes: str, per_class: int, fonts: Sequence[str | Path] | None = None, seed: int = 0,
                   params: AugmentParams = DEFAULT_AUGMENT, keep_crops: bool = False) -> CharSet:
    """`per_class` degraded samples of each character of `classes`, spread over `fonts`."""
    paths = [resolve_font(f) for f in fonts] if fonts else available_fonts()
    if not paths:
        raise FontError("no fonts found: install fonts-dejavu-core / fonts-liberation or pass font files")
    rng = np.random.default_rng(seed)
    glyphs = {(p, c): render_glyph(p, c) for p in paths for c in classes}
    images = np.zeros((per_class * len(classes), INPUT_SIZE, INPUT_SIZE), np.float32)
    labels, groups, crops = [], [], []
    i = 0
    for c in classes:
        for k in range(per_class):
            font = paths[k % len(paths)]
            crop, ink_dark = augment_char(glyphs[(font, c)], rng, True, params)
            images[i] = normalize_char(crop, ink_dark=ink_dark)
            labels.append(c)
            groups.append(f"font:{font.stem}")
            if keep_crops:
                crops.append(crop)
            i += 1
    return CharSet(SOURCE, images, np.asarray(labels, "<U1"), np.asarray(groups, str), True, tuple(crops))
