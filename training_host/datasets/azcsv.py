"""The Kaggle "A-Z handwritten alphabets" CSV: one letter per row, label 0-25 then 784 pixels.

The file has ~370k rows (700 MB), so it is streamed line by line and only the rows kept are parsed:
`max_per_class` caps each letter, `keep_fraction` thins the stream deterministically (seeded).
Letters are drawn light on dark like MNIST (`ink_dark=False`). No writer ids exist; group ids are
blocks of `GROUP_BLOCK` consecutive rows.
"""
from __future__ import annotations

import gzip
import string
from pathlib import Path

import numpy as np

from .charset import CharSet

PIXELS = 28 * 28
GROUP_BLOCK = 1000
SOURCE = "azcsv"
LETTERS = string.ascii_uppercase


class AzCsvError(ValueError):
    """A row that is not `label,784 pixels`."""


def load_azcsv(path: str | Path, max_per_class: int | None = None, keep_fraction: float = 1.0,
               seed: int = 0, keep_crops: bool = False) -> CharSet:
    """Stream the CSV, keeping at most `max_per_class` rows per letter."""
    path = Path(path)
    if not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction={keep_fraction}: must be in (0, 1]")
    rng = np.random.default_rng(seed)
    counts = [0] * len(LETTERS)
    crops: list[np.ndarray] = []
    labels: list[str] = []
    groups: list[str] = []
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="ascii") as fh:
        for row, line in enumerate(fh):
            head, _, rest = line.partition(",")
            try:
                label = int(float(head))
            except ValueError:
                if row == 0:
                    continue  # a header line
                raise AzCsvError(f"{path}:{row + 1}: label {head!r} is not a number 0-25") from None
            if not 0 <= label < len(LETTERS):
                raise AzCsvError(f"{path}:{row + 1}: label {label} outside 0-25")
            if max_per_class is not None and counts[label] >= max_per_class:
                continue
            if keep_fraction < 1.0 and rng.random() >= keep_fraction:
                continue
            try:
                pixels = np.array(rest.split(","), dtype=np.float32)
            except ValueError:
                raise AzCsvError(f"{path}:{row + 1}: pixel values are not all numbers") from None
            if pixels.size != PIXELS:
                raise AzCsvError(f"{path}:{row + 1}: {pixels.size} pixel values, expected {PIXELS}")
            counts[label] += 1
            crops.append(np.clip(pixels, 0, 255).astype(np.uint8).reshape(28, 28))
            labels.append(LETTERS[label])
            groups.append(f"rows:{row // GROUP_BLOCK}")
    return CharSet.from_crops(SOURCE, crops, labels, groups, ink_dark=False, keep_crops=keep_crops)
