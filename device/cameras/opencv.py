"""OpenCV VideoCapture: a V4L2 device (USB camera, Jetson CSI through v4l2), an RTSP/HTTP stream, or a video file."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from anpr.imageio import to_bgr8
from device.cameras.base import Camera, CameraError, CameraExhausted
from device.config import OpencvCameraConfig


class OpencvCamera(Camera):
    kind = "opencv"

    def __init__(self, name: str, config: OpencvCameraConfig) -> None:
        super().__init__(name)
        self.config = config
        self._cap: cv2.VideoCapture | None = None
        source = config.source.strip()
        self.source: int | str = int(source) if source.isdigit() else source
        self.is_file = isinstance(self.source, str) and "://" not in self.source and not self.source.startswith("/dev/")

    def open(self) -> None:
        if self.is_file and not Path(self.source).exists():
            raise CameraError(f"video file {self.source} does not exist ([camera.opencv] source)")
        backend = cv2.CAP_V4L2 if isinstance(self.source, int) or str(self.source).startswith("/dev/") else cv2.CAP_ANY
        cap = cv2.VideoCapture(self.source, backend)
        if not cap.isOpened():
            cap.release()
            raise CameraError(
                f"OpenCV cannot open {self.source!r} (is the device present, is the user in the 'video' group, "
                "is the URL reachable?)"
            )
        if self.config.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.config.width)
        if self.config.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.config.height)
        self._cap = cap

    def read(self) -> np.ndarray:
        if self._cap is None:
            raise CameraError("camera is not open")
        ok, frame = self._cap.read()
        if not ok or frame is None:
            if self.is_file:
                if self.config.loop:
                    self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, frame = self._cap.read()
                if not ok or frame is None:
                    raise CameraExhausted(f"video file {self.source} has no more frames")
            else:
                raise CameraError(f"no frame from {self.source!r} (device unplugged or stream dropped)")
        return to_bgr8(frame)  # gray or 16-bit V4L2 sources too

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def describe(self) -> str:
        return f"{self.name} (opencv {self.source})"
