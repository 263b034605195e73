"""The interface the daemon captures from, whatever the hardware."""
from __future__ import annotations

import abc

import numpy as np


class CameraError(RuntimeError):
    """The camera failed or disappeared; the daemon closes it and reopens it with backoff."""


class FrameError(RuntimeError):
    """One frame could not be used (a corrupt file); the camera itself is fine."""


class CameraExhausted(CameraError):
    """A finite source (a folder or video file without loop) has no more frames."""


class Camera(abc.ABC):
    """`open()`, then `read()` BGR uint8 frames, then `close()`; `open` may be called again after a failure."""

    kind = "camera"

    def __init__(self, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    def open(self) -> None:
        """Acquire the device; raises CameraError with what to check."""

    @abc.abstractmethod
    def read(self) -> np.ndarray:
        """The next frame (H, W, 3) BGR uint8; raises CameraError, FrameError or CameraExhausted."""

    def close(self) -> None:
        """Release the device; safe to call twice."""

    def describe(self) -> str:
        return f"{self.name} ({self.kind})"
