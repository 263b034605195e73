"""The interface the daemon's main loop waits on, whatever starts a capture."""
from __future__ import annotations

import abc
import threading
import time


class TriggerError(RuntimeError):
    """A trigger that cannot start (missing library, pin in use); the message says what to do."""


class Trigger(abc.ABC):
    """Something that fires: a PIR edge, a timer, or always.

    `wait(timeout)` returns the monotonic time the trigger fired, or None when `timeout` passed
    first or `interrupt()` was called (the daemon interrupts on SIGTERM so shutdown is prompt).
    """

    name = "trigger"

    def __init__(self) -> None:
        self._wake = threading.Event()

    def start(self) -> None:
        """Acquire the hardware; called once before the first `wait`."""

    def close(self) -> None:
        """Release the hardware."""

    def interrupt(self) -> None:
        self._wake.set()

    @abc.abstractmethod
    def wait(self, timeout: float) -> float | None:
        """Block up to `timeout` seconds for the next firing."""

    def describe(self) -> str:
        return self.name


class EdgeTrigger(Trigger):
    """A trigger fed by events from another thread (a GPIO callback): remembers the first pending edge."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._fired_at: float | None = None

    def fire(self) -> None:
        with self._lock:
            if self._fired_at is None:
                self._fired_at = time.monotonic()
        self._wake.set()

    def wait(self, timeout: float) -> float | None:
        self._wake.wait(timeout)
        with self._lock:
            fired, self._fired_at = self._fired_at, None
            self._wake.clear()
        return fired
