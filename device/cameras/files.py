"""A folder of images replayed in name order: the demo's camera, the tests' camera, and a way to
run recorded footage through the exact code path of the live device."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from anpr.imageio import load_image
from device.cameras.base import Camera, CameraError, CameraExhausted, FrameError
from device.config import FilesCameraConfig

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
MAX_PIXELS = 40_000_000  # refuse decompression bombs in a dropped-in file


def load_frame(path: Path) -> np.ndarray:
    """BGR uint8 via the library's loader (clear reasons), FrameError when the file is unusable."""
    try:
        return load_image(path, max_pixels=MAX_PIXELS)
    except (ValueError, OSError) as exc:
        raise FrameError(f"{path}: {exc}; it is skipped") from exc


class FilesCamera(Camera):
    kind = "files"

    def __init__(self, name: str, config: FilesCameraConfig) -> None:
        super().__init__(name)
        self.folder = Path(config.folder)
        self.pattern = config.pattern
        self.loop = config.loop
        self._files: list[Path] = []
        self._index = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise CameraError(f"folder {self.folder} does not exist ([camera.files] folder)")
        files = sorted(p for p in self.folder.glob(self.pattern) if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise CameraError(f"no images matching {self.pattern!r} in {self.folder}")
        self._files = files

    def read(self) -> np.ndarray:
        if not self._files:
            raise CameraError("files camera is not open")
        if self._index >= len(self._files):
            if not self.loop:
                raise CameraExhausted(f"files camera: all {len(self._files)} images of {self.folder} replayed")
            self._index = 0
        path = self._files[self._index]
        self._index += 1
        return load_frame(path)

    def close(self) -> None:
        pass  # nothing to release; keeps its place so a reopen continues where it stopped

    def describe(self) -> str:
        return f"{self.name} (files {self.folder})"
