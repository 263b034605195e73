"""The common shape every data-source loader returns: character crops, labels, source groups.

Every loader hands back a `CharSet`: the raw crops (kept so the recipe can augment them), their
normalized (N, 28, 28) float32 images from `anpr.charcrop.normalize_char`, one label character per
crop, and a group id per crop naming what the crop came from (a plate photo, a sheet, a font).
Validation and test splits are drawn by group, never by crop, so near-duplicates cannot leak.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from anpr.charcrop import INPUT_SIZE, normalize_chars


@dataclass(frozen=True)
class CharSet:
    """Character samples of one source. `crops` may be empty for sources that keep no raw crops."""

    source: str
    images: np.ndarray  # (N, 28, 28) float32, ink bright on black
    labels: np.ndarray  # (N,) '<U1', upper-case character
    groups: np.ndarray  # (N,) str, what the crop came from (split unit)
    ink_dark: bool = True  # polarity of the raw crops
    crops: Sequence[np.ndarray] = field(default_factory=tuple, repr=False)

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.shape[1:] != (INPUT_SIZE, INPUT_SIZE) or self.images.dtype != np.float32:
            raise ValueError(f"{self.source}: images must be (N, {INPUT_SIZE}, {INPUT_SIZE}) float32, "
                             f"got {self.images.shape} {self.images.dtype}")
        if len(self.labels) != n or len(self.groups) != n or (len(self.crops) not in (0, n)):
            raise ValueError(f"{self.source}: {n} images but {len(self.labels)} labels, "
                             f"{len(self.groups)} groups, {len(self.crops)} crops")

    def __len__(self) -> int:
        return len(self.images)

    @classmethod
    def from_crops(cls, source: str, crops: Sequence[np.ndarray], labels: Sequence[str],
                   groups: Sequence[str], ink_dark: bool, keep_crops: bool = True) -> "CharSet":
        """Normalize `crops` with the polarity of the source (the same call inference makes)."""
        return cls(
            source=source,
            images=normalize_chars(crops, ink_dark=ink_dark),
            labels=np.asarray([str(c).upper() for c in labels], dtype="<U1").reshape(-1),
            groups=np.asarray(list(groups), dtype=str).reshape(-1),
            ink_dark=ink_dark,
            crops=tuple(crops) if keep_crops else (),
        )

    def subset(self, mask_or_index: np.ndarray) -> "CharSet":
        """The samples selected by a boolean mask or an index array (crops follow when kept)."""
        idx = np.flatnonzero(mask_or_index) if np.asarray(mask_or_index).dtype == bool else np.asarray(mask_or_index)
        return CharSet(
            source=self.source,
            images=self.images[idx],
            labels=self.labels[idx],
            groups=self.groups[idx],
            ink_dark=self.ink_dark,
            crops=tuple(self.crops[i] for i in idx) if self.crops else (),
        )

    def only_classes(self, classes: str) -> "CharSet":
        """Drop samples whose label is not one of `classes`."""
        return self.subset(np.isin(self.labels, list(classes)))

    def class_counts(self) -> dict[str, int]:
        chars, counts = np.unique(self.labels, return_counts=True)
        return {str(c): int(n) for c, n in zip(chars, counts)}


def concat(sets: Sequence[CharSet], source: str | None = None) -> CharSet:
    """Join sets of one polarity into one (used to merge e.g. the gb and br plate crops)."""
    if not sets:
        raise ValueError("concat needs at least one CharSet")
    if len({s.ink_dark for s in sets}) > 1:
        raise ValueError(f"concat: {[s.source for s in sets]} mix dark and light ink; keep them as separate sources")
    keep = all(s.crops for s in sets)
    return CharSet(
        source=source or "+".join(s.source for s in sets),
        images=np.concatenate([s.images for s in sets]),
        labels=np.concatenate([s.labels for s in sets]),
        groups=np.concatenate([s.groups for s in sets]),
        ink_dark=sets[0].ink_dark,
        crops=tuple(c for s in sets for c in s.crops) if keep else (),
    )


def class_indices(labels: Sequence[str] | np.ndarray, classes: str, dtype: type = np.int32) -> np.ndarray:
    """Each label character's index in `classes` (the training target); every label must be a class."""
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[c] for c in labels], dtype)
