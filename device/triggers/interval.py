"""Fire every N seconds: for cameras watching a gate without a motion sensor, and for the demo."""
from __future__ import annotations

import time

from device.config import IntervalTriggerConfig
from device.triggers.base import Trigger


class IntervalTrigger(Trigger):
    name = "interval"

    def __init__(self, config: IntervalTriggerConfig) -> None:
        super().__init__()
        self.every_s = config.every_s
        self._next = time.monotonic()  # the first firing is immediate

    def wait(self, timeout: float) -> float | None:
        now = time.monotonic()
        if now < self._next:
            self._wake.wait(min(timeout, self._next - now))
            self._wake.clear()
            now = time.monotonic()
            if now < self._next:
                return None
        # Skip missed slots rather than firing a backlog after a long recognition: when the loop comes
        # back late, the trigger fires now (and that is when its latency starts).
        self._next = max(self._next + self.every_s, now)
        return now

    def describe(self) -> str:
        return f"interval every {self.every_s:g} s"
