"""Capture a burst of frames over the motion window and recognize each one.

The burst is the unit of work the daemon finishes on SIGTERM: `should_stop` is checked between
frames, so a stop request ends the burst after the current frame and what was seen is still voted
on and logged.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from device.cameras.base import CameraError, FrameError
from device.cameras.reopen import ReopeningCamera
from device.config import BurstConfig
from device.vote import Candidate

log = logging.getLogger(__name__)


@dataclass
class Burst:
    frames: list[np.ndarray] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    frame_errors: int = 0
    camera_error: CameraError | None = None  # the camera failed (or ran out) during the burst


def capture_burst(
    camera: ReopeningCamera,
    reader,
    config: BurstConfig,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> Burst:
    """Read `config.frames` frames `config.spacing_s` apart; reader errors on one frame are logged and skipped.

    A camera failure ends the burst early (recorded in `camera_error`; the camera reopens with backoff):
    the frames already seen are still voted on.
    """
    burst = Burst()
    for i in range(config.frames):
        if i and should_stop():
            break
        if i and config.spacing_s:
            sleep(config.spacing_s)
        try:
            frame = camera.read()
        except FrameError as exc:
            burst.frame_errors += 1
            log.error("%s", exc)
            continue
        except CameraError as exc:
            burst.camera_error = exc
            break
        index = len(burst.frames)
        burst.frames.append(frame)
        try:
            reads = reader.read(frame)
        except Exception as exc:  # a recognizer bug on one odd frame must not stop the daemon
            burst.frame_errors += 1
            log.exception("recognition failed on frame %d of the burst: %s", i, exc)
            continue
        for r in reads:
            burst.candidates.append(Candidate(index, r.text, float(r.confidence), tuple(int(v) for v in r.box)))
    return burst
