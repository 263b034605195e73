"""The Raspberry Pi camera through Picamera2 (libcamera).

Picamera2 exists only on Raspberry Pi OS (Debian package python3-picamera2), so this module is
imported only when `[camera] kind = "picamera2"`, and a missing module is a clear error, not a traceback.
"""
from __future__ import annotations

import logging

import numpy as np

from anpr.imageio import to_bgr8
from device.cameras.base import Camera, CameraError
from device.config import Picamera2Config

log = logging.getLogger(__name__)

MISSING_HINT = (
    "the picamera2 camera needs the Picamera2 library: on Raspberry Pi OS run "
    "'sudo apt install python3-picamera2' (a venv must be created with --system-site-packages to see it), "
    "or choose [camera] kind = \"opencv\" or \"files\""
)


def import_picamera2():
    try:
        from picamera2 import Picamera2  # type: ignore[import-not-found]
    except ImportError as exc:
        raise CameraError(f"{MISSING_HINT} ({exc})") from exc
    return Picamera2


class Picamera2Camera(Camera):
    kind = "picamera2"

    def __init__(self, name: str, config: Picamera2Config) -> None:
        super().__init__(name)
        self.config = config
        self._cam = None
        # A missing library is a configuration problem, not a flaky camera: fail at start, don't retry.
        self._Picamera2 = import_picamera2()

    def _controls(self, available: dict) -> dict:
        c = self.config
        controls: dict = {}
        if c.exposure_us is not None:
            controls["ExposureTime"] = c.exposure_us
            controls["AeEnable"] = False
        if c.analogue_gain is not None:
            controls["AnalogueGain"] = c.analogue_gain
        if "AfMode" in available:  # autofocus only on modules that have it (Camera Module 3)
            from libcamera import controls as lc  # type: ignore[import-not-found]

            modes = {"continuous": lc.AfModeEnum.Continuous, "auto": lc.AfModeEnum.Auto, "manual": lc.AfModeEnum.Manual}
            if c.autofocus in modes:
                controls["AfMode"] = modes[c.autofocus]
            if c.autofocus == "manual" and c.lens_position is not None:
                controls["LensPosition"] = c.lens_position
        return controls

    def open(self) -> None:
        try:
            cam = self._Picamera2()
            cfg = cam.create_still_configuration(main={"size": (self.config.width, self.config.height), "format": "RGB888"})
            cam.configure(cfg)
            controls = self._controls(cam.camera_controls)
            if controls:
                cam.set_controls(controls)
            cam.start()
        except Exception as exc:
            raise CameraError(f"Picamera2 cannot start the camera: {exc} (is it connected and enabled?)") from exc
        self._cam = cam

    def read(self) -> np.ndarray:
        if self._cam is None:
            raise CameraError("camera is not open")
        try:
            frame = self._cam.capture_array("main")
        except Exception as exc:
            raise CameraError(f"Picamera2 capture failed: {exc}") from exc
        # Picamera2's "RGB888" is laid out B, G, R in memory: already OpenCV's BGR order.
        return to_bgr8(frame)

    def close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            finally:
                self._cam = None
