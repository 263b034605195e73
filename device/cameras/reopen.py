"""Keep a camera usable: a failed or vanished camera is closed, logged, and reopened with backoff.

Without this a USB camera unplugged for a minute would make the daemon exit, systemd restart it,
and the start limit turn a loose cable into a dead service. Here the daemon keeps running (and
keeps feeding the watchdog) while it waits, doubling the wait up to a ceiling.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from device.cameras.base import Camera, CameraError, CameraExhausted

log = logging.getLogger(__name__)


class ReopeningCamera:
    def __init__(self, camera: Camera, initial_s: float, max_s: float, clock=time.monotonic) -> None:
        self.camera = camera
        self.initial_s = initial_s
        self.max_s = max_s
        self._clock = clock
        self.is_open = False
        self.exhausted = False
        self.failures = 0  # consecutive failed opens/reads
        self.last_error = ""
        self._next_attempt = 0.0

    @property
    def name(self) -> str:
        return self.camera.name

    def describe(self) -> str:
        return self.camera.describe()

    def seconds_until_retry(self) -> float:
        return max(0.0, self._next_attempt - self._clock())

    def ensure_open(self) -> bool:
        """Open the camera if it is closed and its backoff has passed; True when it is open."""
        if self.is_open:
            return True
        if self.exhausted or self._clock() < self._next_attempt:
            return False
        try:
            self.camera.open()
        except Exception as exc:  # any backend error counts as a failed open
            self._failed(f"cannot open camera {self.camera.describe()}: {exc}")
            return False
        if self.failures:
            log.info("camera %s open again after %d failure(s)", self.camera.describe(), self.failures)
        else:
            log.info("camera %s open", self.camera.describe())
        self.is_open = True
        self.failures = 0
        self.last_error = ""
        return True

    def read(self) -> np.ndarray:
        """A frame; CameraError (after scheduling the reopen) when the camera failed."""
        if not self.ensure_open():
            raise CameraError(self.last_error or "camera is not open")
        try:
            return self.camera.read()
        except CameraExhausted as exc:
            self.exhausted = True
            self.close()
            log.info("%s", exc)
            raise
        except CameraError as exc:
            self.close()
            self._failed(f"camera {self.camera.describe()} failed: {exc}")
            raise CameraError(self.last_error) from exc

    def _failed(self, message: str) -> None:
        self.failures += 1
        delay = min(self.max_s, self.initial_s * 2 ** (self.failures - 1))
        self._next_attempt = self._clock() + delay
        self.last_error = message
        log.error("%s; retrying in %.1f s", message, delay)

    def close(self) -> None:
        if self.is_open:
            try:
                self.camera.close()
            except Exception as exc:
                log.warning("closing camera %s: %s", self.camera.describe(), exc)
        self.is_open = False
