"""MNIST digits from the original IDX files (`.gz` or raw, any split: train or t10k).

MNIST draws its digits light on dark, so they are normalized with `ink_dark=False`. The IDX files
carry no writer ids; group ids are blocks of `GROUP_BLOCK` consecutive samples of one file (the
files are ordered by writer batches), so a split by group holds out whole blocks.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .charset import CharSet

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
GROUP_BLOCK = 500
SOURCE = "mnist"


class IdxError(ValueError):
    """An IDX file that is not what its name or magic number says."""


def _open(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def read_idx(path: str | Path, expect_magic: int) -> np.ndarray:
    """Read one IDX file (gzip detected from its content) into a uint8 array."""
    path = Path(path)
    try:
        with _open(path) as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise IdxError(f"{path}: cannot read IDX file ({exc}); pass an MNIST .idx or .idx.gz file") from exc
    if len(data) < 8:
        raise IdxError(f"{path}: {len(data)} bytes is too short for an IDX header")
    magic = int.from_bytes(data[:4], "big")
    if magic != expect_magic:
        raise IdxError(f"{path}: magic number {magic}, expected {expect_magic} "
                       f"({'images' if expect_magic == IMAGES_MAGIC else 'labels'} file); check which file you passed")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(data) - offset < count:
        raise IdxError(f"{path}: truncated, header says {dims} but only {len(data) - offset} bytes follow")
    return np.frombuffer(data, np.uint8, count, offset).reshape(dims)


def labels_path_for(images: Path) -> Path:
    """`train-images-idx3-ubyte[.gz]` -> `train-labels-idx1-ubyte[.gz]` beside it."""
    name = images.name.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1")
    if name == images.name:
        raise IdxError(f"{images}: cannot guess the labels file name; pass it explicitly")
    return images.with_name(name)


def load_mnist(images: str | Path, labels: str | Path | None = None, limit: int | None = None,
               keep_crops: bool = False) -> CharSet:
    """Digits and labels of one MNIST split as a `CharSet` (source 'mnist')."""
    images = Path(images)
    labels = Path(labels) if labels else labels_path_for(images)
    x = read_idx(images, IMAGES_MAGIC)
    y = read_idx(labels, LABELS_MAGIC)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise IdxError(f"{images} / {labels}: shapes {x.shape} and {y.shape} do not pair up")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    split = images.name.split("-")[0]
    groups = [f"{split}:{i // GROUP_BLOCK}" for i in range(len(x))]
    return CharSet.from_crops(SOURCE, list(x), [str(int(d)) for d in y], groups, ink_dark=False,
                              keep_crops=keep_crops)
