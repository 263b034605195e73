"""Fire as soon as the previous burst is done: a camera that should read everything it sees."""
from __future__ import annotations

import time

from device.triggers.base import Trigger


class ContinuousTrigger(Trigger):
    name = "continuous"

    def wait(self, timeout: float) -> float | None:
        if self._wake.is_set():  # interrupted: give the loop a chance to see the stop request
            self._wake.clear()
            return None
        return time.monotonic()
