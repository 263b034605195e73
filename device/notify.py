"""sd_notify over $NOTIFY_SOCKET: READY=1, WATCHDOG=1, STATUS=, STOPPING=1.

A few lines over a Unix datagram socket, so the daemon needs no extra library for it and the tests
can bind the socket themselves. Without NOTIFY_SOCKET (foreground runs) every call is a no-op.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, env: dict | None = None, clock=time.monotonic) -> None:
        env = os.environ if env is None else env
        self.address = env.get("NOTIFY_SOCKET") or None
        self._clock = clock
        self.watchdog_interval_s: float | None = None
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        if usec and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval_s = int(usec) / 2e6  # ping at half the interval systemd enforces
        self._last_ping = 0.0
        self._sock: socket.socket | None = None

    def send(self, *lines: str) -> bool:
        if not self.address:
            return False
        addr = self.address
        if addr.startswith("@"):
            addr = "\0" + addr[1:]  # abstract namespace
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(lines).encode(), addr)
            return True
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.address, exc)
            return False

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")
        self._last_ping = self._clock()

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def stopping(self, status: str = "stopping") -> None:
        self.send("STOPPING=1", f"STATUS={status}")

    def watchdog(self, force: bool = False) -> bool:
        """Ping when half the watchdog interval has passed since the last one; True when sent."""
        if self.watchdog_interval_s is None:
            return False
        now = self._clock()
        if not force and now - self._last_ping < self.watchdog_interval_s:
            return False
        self._last_ping = now
        return self.send("WATCHDOG=1")

    @contextlib.contextmanager
    def keepalive(self):
        """Feed the watchdog from a helper thread during one long but bounded step.

        Loading a model with the PyTensor engine compiles C code when the cache is cold (about 40 s
        on a Pi), longer than a sensible WatchdogSec; the main loop cannot ping while it waits.
        """
        if self.watchdog_interval_s is None:
            yield
            return
        done = threading.Event()

        def ping() -> None:
            while not done.wait(self.watchdog_interval_s / 2):
                self.watchdog(force=True)

        thread = threading.Thread(target=ping, name="watchdog-keepalive", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
