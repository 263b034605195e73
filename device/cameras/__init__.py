"""Cameras: where frames come from. One module a backend, chosen by `[camera] kind`."""
from __future__ import annotations

from device.cameras.base import Camera, CameraError, CameraExhausted, FrameError
from device.config import CameraConfig


def make_camera(config: CameraConfig) -> Camera:
    """Build the configured backend; its library is imported only when chosen (picamera2 exists only on a Pi)."""
    if config.kind == "picamera2":
        from device.cameras.picamera2 import Picamera2Camera

        return Picamera2Camera(config.name, config.picamera2)
    if config.kind == "opencv":
        from device.cameras.opencv import OpencvCamera

        return OpencvCamera(config.name, config.opencv)
    if config.kind == "files":
        from device.cameras.files import FilesCamera

        return FilesCamera(config.name, config.files)
    raise CameraError(f"unknown camera kind {config.kind!r}")


__all__ = ["Camera", "CameraError", "CameraExhausted", "FrameError", "make_camera"]
