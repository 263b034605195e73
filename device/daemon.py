"""The device's main loop: wait for a trigger, capture a burst, vote, log the read.

Order on each read is fixed: snapshot file, then the SQLite commit, then the journal entry and the
status file, so nothing is announced that a power cut could take back. The loop also feeds the
systemd watchdog, refreshes status.json, watches the model file and prunes the log; a SIGTERM is
honoured after the current frame (the burst so far is still voted on and committed), then the store
is flushed and the process exits 0.
"""
from __future__ import annotations

import collections
import ctypes
import logging
import os
import signal
import threading
import time
from typing import Callable

from device import __version__
from device.burst import capture_burst
from device.cameras import CameraExhausted, make_camera
from device.cameras.base import Camera
from device.cameras.reopen import ReopeningCamera
from device.config import DeviceConfig
from device.journal import ReadAnnouncer
from device.model import ModelError, ModelManager
from device.notify import Notifier
from device.status import utc_now_iso, write_status
from device.store import PlateStore, SnapshotStore, StoreError, utc_now
from device.triggers import Trigger, TriggerError, make_trigger
from device.vote import KnownPlates, RepeatFilter, vote

log = logging.getLogger(__name__)

LATENCY_HISTORY = 1000  # trigger-to-logged latencies kept for the benchmark and status


def _malloc_trim():
    """glibc's malloc_trim, or None off glibc."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


MALLOC_TRIM = _malloc_trim()


def release_freed_memory() -> None:
    """Hand freed heap pages back to the OS after a burst.

    Each frame allocates tens of MB of short-lived arrays; glibc keeps the freed pages in its heap,
    so RSS creeps up by ~10 MB over the first reads. Trimming after each burst (well under a
    millisecond) keeps the daemon at its working size on small boards.
    """
    if MALLOC_TRIM is not None:
        MALLOC_TRIM(0)


class ErrorCounter(logging.Handler):
    """Counts ERROR records so status.json can say the daemon is logging errors."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.last = record.getMessage()[:300]


def default_reader_factory(config: DeviceConfig) -> Callable[[object], object]:
    def make(classifier):
        from anpr.pipeline import PlateReader

        return PlateReader(classifier=classifier, region=config.recognition.region)

    return make


class Daemon:
    def __init__(
        self,
        config: DeviceConfig,
        *,
        reader_factory: Callable[[object], object] | None = None,
        trigger: Trigger | None = None,
        camera: Camera | None = None,
        notifier: Notifier | None = None,
        max_reads: int | None = None,
        on_read: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.reader_factory = reader_factory or default_reader_factory(config)
        self.trigger = trigger
        self.raw_camera = camera
        self.notifier = notifier or Notifier()
        self.max_reads = max_reads
        self.on_read = on_read
        self.models = ModelManager(config)
        self.known = KnownPlates(config.known_plates)
        self.repeats = RepeatFilter(config.recognition.repeat_window_s)
        self.announcer = ReadAnnouncer(config.journal.enabled)
        self.errors = ErrorCounter()
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.state = "starting"
        self.started_mono = time.monotonic()
        self.started = utc_now_iso()
        self.reads_total = 0
        self.suppressed_total = 0
        self.triggers_total = 0  # bursts started
        self.bursts_done = 0  # bursts finished (read logged, suppressed, or nothing found)
        self.last_read: dict | None = None
        self.latencies: collections.deque[float] = collections.deque(maxlen=LATENCY_HISTORY)
        self.camera: ReopeningCamera | None = None
        self.reader = None
        self.store: PlateStore | None = None
        self.snapshots: SnapshotStore | None = None
        self._next_status = 0.0
        self._next_model_check = 0.0
        self._next_prune = 0.0

    # ----- control from signal handlers or other threads -----
    def request_stop(self, reason: str = "stop requested") -> None:
        if not self._stop.is_set():
            log.info("%s: finishing the current frame, then stopping", reason)
        self._stop.set()
        if self.trigger is not None:
            self.trigger.interrupt()

    def request_reload(self) -> None:
        self._reload.set()
        if self.trigger is not None:
            self.trigger.interrupt()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.request_stop("SIGTERM"))
        signal.signal(signal.SIGINT, lambda *_: self.request_stop("SIGINT"))
        signal.signal(signal.SIGHUP, lambda *_: self.request_reload())

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ----- status -----
    def healthy(self) -> bool:
        return (
            self.state == "running"
            and self.models.current is not None
            and self.camera is not None
            and self.camera.is_open
        )

    def status(self) -> dict:
        model = self.models.current
        cam = self.camera
        return {
            "state": self.state,
            "healthy": self.healthy(),
            "pid": os.getpid(),
            "version": __version__,
            "model_sha256": model.sha256 if model else None,
            "model_path": str(model.path) if model else None,
            "model_engine": model.engine if model else self.config.model.engine,
            "model_error": self.models.last_error or None,
            "camera": cam.describe() if cam else self.config.camera.name,
            "camera_open": bool(cam and cam.is_open),
            "camera_error": (cam.last_error or None) if cam else None,
            "trigger": self.trigger.describe() if self.trigger else self.config.trigger.kind,
            "last_read": self.last_read,
            "reads_total": self.reads_total,
            "repeats_suppressed": self.suppressed_total,
            "triggers_total": self.triggers_total,
            "errors_logged": self.errors.count,
            "last_error": self.errors.last or None,
            "started": self.started,
            "uptime_s": round(time.monotonic() - self.started_mono, 1),
            "updated": utc_now_iso(),
        }

    def write_status(self) -> None:
        try:
            write_status(self.config.status_path, self.status())
        except OSError as exc:
            log.warning("cannot write %s: %s", self.config.status_path, exc)
        self._next_status = time.monotonic() + self.config.status.interval_s

    def status_text(self) -> str:
        model = self.models.current
        cam = "camera open" if self.camera and self.camera.is_open else "camera unavailable"
        return f"{self.state}; {self.reads_total} reads; model {model.sha256[:12] if model else 'none'}; {cam}"

    # ----- life cycle -----
    def run(self, install_signals: bool = True) -> int:
        """Run until stopped; 0 after a clean stop, 1 when the daemon cannot start."""
        logging.getLogger().addHandler(self.errors)
        if install_signals:
            self.install_signal_handlers()
        try:
            if not self._start():
                self.state = "stopped"
                self.write_status()
                return 1
            self._loop()
            return 0
        finally:
            self._shutdown()
            logging.getLogger().removeHandler(self.errors)

    def _start(self) -> bool:
        cfg = self.config
        self.write_status()
        self.notifier.status("loading the model")
        try:
            with self.notifier.keepalive():
                model = self.models.load_initial()
        except ModelError as exc:
            log.error("cannot start: %s", exc)
            return False
        self.reader = self.reader_factory(model.classifier)
        try:
            self.store = PlateStore(cfg.store_path)
        except StoreError as exc:
            log.error("cannot start: %s", exc)
            return False
        self.snapshots = SnapshotStore(cfg.snapshots_dir, cfg.store.snapshots, cfg.store.snapshot_max_mb,
                                       cfg.store.jpeg_quality)
        try:
            if self.trigger is None:
                self.trigger = make_trigger(cfg.trigger)
            self.trigger.start()
        except TriggerError as exc:
            log.error("cannot start: %s", exc)
            return False
        try:
            raw = self.raw_camera or make_camera(cfg.camera)
        except Exception as exc:  # picamera2 missing, bad source: stays an error the user must fix
            log.error("cannot start: %s", exc)
            return False
        self.camera = ReopeningCamera(raw, cfg.camera.reopen_initial_s, cfg.camera.reopen_max_s)
        self.notifier.status("opening the camera")
        deadline = time.monotonic() + cfg.camera.ready_wait_s
        while not self.camera.ensure_open() and not self.stopping and not self.camera.exhausted:
            self.notifier.watchdog()
            if time.monotonic() >= self._next_status:
                self.write_status()
            if time.monotonic() >= deadline:
                log.error("camera %s still unavailable after %.0f s; running unhealthy and retrying",
                          self.camera.describe(), cfg.camera.ready_wait_s)
                break
            self._stop.wait(min(cfg.status.loop_tick_s, max(0.05, self.camera.seconds_until_retry())))
        if self.stopping:
            return True
        self.state = "running"
        self.write_status()
        self.notifier.ready(self.status_text())
        log.info("running: %s, trigger %s, model sha256 %s", self.camera.describe(), self.trigger.describe(),
                 model.sha256[:16])
        return True

    def _shutdown(self) -> None:
        if self.state == "running":
            self.state = "stopping"
            self.notifier.stopping(self.status_text())
            self.write_status()
        for name, closer in (("camera", self.camera and self.camera.close), ("trigger", self.trigger and self.trigger.close),
                             ("store", self.store and self.store.close)):
            if closer:
                try:
                    closer()
                except Exception as exc:
                    log.warning("closing the %s: %s", name, exc)
        self.state = "stopped"
        self.write_status()
        self.notifier.close()
        log.info("stopped after %d reads", self.reads_total)

    def _loop(self) -> None:
        tick = self.config.status.loop_tick_s
        while not self.stopping:
            self._housekeeping()
            if self.camera.exhausted:
                log.info("the camera has no more frames; stopping")
                break
            if not self.camera.ensure_open():
                self._stop.wait(min(tick, max(0.05, self.camera.seconds_until_retry())))
                continue
            fired = self.trigger.wait(tick)
            if fired is None or self.stopping:
                continue
            self._handle_trigger(fired)
            if self.max_reads is not None and self.reads_total >= self.max_reads:
                log.info("%d reads logged; stopping as asked", self.reads_total)
                break

    def _housekeeping(self) -> None:
        now = time.monotonic()
        self.notifier.watchdog()
        if self._reload.is_set():
            self._reload.clear()
            self._swap_model("SIGHUP")
        elif now >= self._next_model_check:
            self._next_model_check = now + self.config.model.watch_interval_s
            if self.models.check_for_change():
                self._swap_model(f"{self.models.watched.name} changed")
        if now >= self._next_prune:
            self._next_prune = now + self.config.store.prune_interval_s
            try:
                n = self.store.prune(self.config.store.retention_days, self.config.store.retention_rows)
                if n:
                    log.info("retention: %d old reads deleted", n)
            except Exception as exc:
                log.error("retention pruning of %s failed: %s", self.config.store_path, exc)
        if now >= self._next_status:
            self.write_status()
            self.notifier.status(self.status_text())

    def _swap_model(self, reason: str) -> None:
        self.notifier.status(f"loading the model ({reason})")
        with self.notifier.keepalive():
            new = self.models.reload(reason)
        if new is not None:
            self.reader.classifier = new.classifier
        self.write_status()
        self.notifier.status(self.status_text())

    def _handle_trigger(self, fired_at: float) -> None:
        self.triggers_total += 1
        try:
            self._process_burst(fired_at)
        finally:
            release_freed_memory()
            self.bursts_done += 1

    def _process_burst(self, fired_at: float) -> None:
        burst = capture_burst(self.camera, self.reader, self.config.burst, should_stop=lambda: self.stopping)
        if burst.camera_error is not None and not isinstance(burst.camera_error, CameraExhausted):
            self.write_status()
        if not burst.frames:
            return
        voted = vote(burst.candidates, len(burst.frames), self.config.recognition, self.known)
        if voted is None:
            log.debug("burst of %d frames: no plate passed the vote", len(burst.frames))
            return
        if self.repeats.is_repeat(voted.plate):
            self.suppressed_total += 1
            log.info("plate %s seen again within %g s: not logged again", voted.plate,
                     self.config.recognition.repeat_window_s)
            return
        model = self.models.current
        ts = utc_now()
        snapshot = self.snapshots.save(burst.frames[voted.frame_index], voted.box, ts, voted.plate)
        try:
            row = self.store.add(plate=voted.plate, confidence=voted.confidence, frames_agreed=voted.frames_agreed,
                                 frames_total=voted.frames_total, box=voted.box, camera=self.camera.name,
                                 model_sha256=model.sha256, snapshot=snapshot, label=voted.label, ts=ts)
        except Exception as exc:  # disk full, read-only file system: not announced, daemon goes on
            log.error("read %s could not be stored in %s: %s", voted.plate, self.config.store_path, exc)
            return
        self.reads_total += 1
        self.latencies.append(time.monotonic() - fired_at)
        message = self.announcer.announce(read_id=row.id, plate=row.plate, confidence=row.confidence,
                                          frames_agreed=row.frames_agreed, frames_total=row.frames_total,
                                          camera=row.camera, snapshot=row.snapshot, model_sha256=row.model_sha256,
                                          label=row.label, ts=row.ts)
        self.last_read = {"id": row.id, "plate": row.plate, "confidence": row.confidence, "ts": row.ts,
                          "frames": f"{row.frames_agreed}/{row.frames_total}", "label": row.label}
        if self.on_read is not None:
            self.on_read(message)
        self.write_status()
