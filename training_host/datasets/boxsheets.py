"""Tesseract box sheets: a `.tif` page of characters and its `.box` file (`CHAR x1 y1 x2 y2 PAGE`).

Box coordinates have their origin at the **bottom-left** of the page, so a box's rows are
`height - y2 .. height - y1`. Multi-page TIFFs are supported (PAGE selects the frame). Characters are
dark on light. Group id: the sheet and page (`SHEET:PAGE`); a validation split holds out whole pages.
Note: `gb/input/luk.uk` and `br/input/lbr.brazil` (= `br/chars/combined`) are mosaics of the very
crops in `gb/chars` and `br/chars` (same counts, same pixels), so do not train on them while holding
plate crops out for validation.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .charset import CharSet

SOURCE_PREFIX = "boxsheet"


class BoxSheetError(ValueError):
    """A box file line or box that does not fit its page."""


def parse_box_file(path: Path) -> list[tuple[str, int, int, int, int, int]]:
    """Lines of a box file as (char, x1, y1, x2, y2, page)."""
    boxes = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 6:
            raise BoxSheetError(f"{path}:{n}: {line!r} is not 'CHAR x1 y1 x2 y2 PAGE'")
        try:
            x1, y1, x2, y2, page = map(int, parts[1:])
        except ValueError:
            raise BoxSheetError(f"{path}:{n}: {line!r} has non-integer coordinates") from None
        boxes.append((parts[0], x1, y1, x2, y2, page))
    return boxes


def _pages(tif: Path) -> list[np.ndarray]:
    with Image.open(tif) as im:
        pages = []
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            pages.append(np.asarray(im.convert("L")))
    return pages


def load_boxsheet(tif: str | Path, box: str | Path | None = None, source: str | None = None,
                  keep_crops: bool = True) -> CharSet:
    """The characters of one sheet (`NAME.tif` + `NAME.box`) as a `CharSet`."""
    tif = Path(tif)
    box = Path(box) if box else tif.with_suffix(".box")
    if not box.exists():
        raise BoxSheetError(f"{tif}: no box file {box}; pass it explicitly")
    try:
        pages = _pages(tif)
    except OSError as exc:
        raise BoxSheetError(f"{tif}: cannot read the sheet image ({exc})") from exc
    sheet = tif.stem.split(".exp")[0]
    source = source or f"{SOURCE_PREFIX}-{sheet}"
    crops, labels, groups = [], [], []
    for char, x1, y1, x2, y2, page in parse_box_file(box):
        if len(char) != 1 or not char.isalnum():
            continue  # Tesseract boxes may hold punctuation or ligatures; not our classes
        if not 0 <= page < len(pages):
            raise BoxSheetError(f"{box}: page {page} but {tif} has {len(pages)} page(s)")
        img = pages[page]
        h, w = img.shape
        top, bottom = h - y2, h - y1
        if not (0 <= x1 < x2 <= w and 0 <= top < bottom <= h):
            raise BoxSheetError(f"{box}: box {char} {x1} {y1} {x2} {y2} lies outside the {w}x{h} page")
        crops.append(img[top:bottom, x1:x2])
        labels.append(char.upper())
        groups.append(f"{sheet}:{page}")
    if not crops:
        raise BoxSheetError(f"{box}: no character boxes")
    return CharSet.from_crops(source, crops, labels, groups, ink_dark=True, keep_crops=keep_crops)
