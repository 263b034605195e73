"""The daemon's mechanics with the real store, cameras, model loader, signals and sd_notify socket.

Recognition is stood in for by `CodeReader` (the plate is coded into the frame) so these tests are
about the loop itself: bad input, camera failures, model reloads, signals and systemd notification.
The end-to-end tests with the real recognition pipeline are in test_device_e2e.py.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np

from device.cameras.base import Camera, CameraError
from device.config import parse_config
from device.daemon import Daemon
from device_testkit import (CodeReader, DaemonThread, base_config, coded_frame, to_toml, wait_for,
                            write_coded_frames, write_random_weights)

KIT = Path(__file__).with_name("device_testkit.py")


def _rows(state: Path) -> list[tuple]:
    db = sqlite3.connect(state / "plates.sqlite3")
    try:
        return db.execute("SELECT id, plate, frames_agreed, frames_total, camera, model_sha256 FROM reads ORDER BY id").fetchall()
    finally:
        db.close()


def _status(state: Path) -> dict:
    try:
        return json.loads((state / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def test_corrupt_jpeg_is_logged_and_skipped(tmp_path: Path, caplog) -> None:
    frames = tmp_path / "frames"
    write_coded_frames(frames, ["AB12CDE", "AB12CDE", "XY34FGH"])
    (frames / "00001_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    sha = write_random_weights(tmp_path / "state" / "models" / "current.pkl")
    config = parse_config(base_config(tmp_path, frames, burst={"frames": 2}))
    with DaemonThread(Daemon(config, reader_factory=CodeReader)) as run:
        run.thread.join(60)
    assert run.rc == 0  # the folder ran out: a clean stop
    rows = _rows(tmp_path / "state")
    # Replay order: AB12CDE, AB12CDE, the corrupt file, XY34FGH; bursts of two frames.
    assert [r[1:4] for r in rows] == [("AB12CDE", 2, 2), ("XY34FGH", 1, 1)]
    assert all(r[4] == "testcam" and r[5] == sha for r in rows)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert any("00001_corrupt.jpg" in r.getMessage() for r in errors)
    status = _status(tmp_path / "state")
    assert status["state"] == "stopped" and status["reads_total"] == 2 and status["errors_logged"] >= 1


class RaisingCamera(Camera):
    """Fails to open the first time, then raises on every third read (a flaky USB camera)."""

    kind = "raising"

    def __init__(self, plates: list[str]) -> None:
        super().__init__("raising")
        self.frames = [coded_frame(p) for p in plates]
        self.opens = self.reads = 0

    def open(self) -> None:
        self.opens += 1
        if self.opens == 1:
            raise CameraError("device busy")

    def read(self) -> np.ndarray:
        self.reads += 1
        if self.reads % 3 == 0:
            raise CameraError("VIDIOC_DQBUF: No such device")
        return self.frames[self.reads % len(self.frames)]


def test_camera_that_raises_is_reopened_and_the_daemon_keeps_reading(tmp_path: Path, caplog) -> None:
    write_random_weights(tmp_path / "state" / "models" / "current.pkl")
    config = parse_config(base_config(tmp_path, tmp_path))
    camera = RaisingCamera(["AA11AAA", "BB22BBB", "CC33CCC"])
    with DaemonThread(Daemon(config, reader_factory=CodeReader, camera=camera, max_reads=5)) as run:
        run.thread.join(60)
    assert run.rc == 0
    assert len(_rows(tmp_path / "state")) == 5
    assert camera.opens >= 3  # first open failed, then reopened after each failure
    messages = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("device busy" in m for m in messages) and any("No such device" in m for m in messages)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(".incoming.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_garbage_weights_are_refused_and_a_good_file_or_sighup_reloads(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    models = tmp_path / "state" / "models"
    sha0 = write_random_weights(models / "current.pkl", seed=0)
    frames = tmp_path / "frames"
    write_coded_frames(frames, ["AB12CDE", "XY34FGH"])
    config = parse_config(base_config(tmp_path, frames, trigger={"kind": "interval", "interval": {"every_s": 0.05}},
                                      camera={"files": {"folder": str(frames), "loop": True}}))
    daemon = Daemon(config, reader_factory=CodeReader)
    state = tmp_path / "state"
    with DaemonThread(daemon):
        wait_for(lambda: daemon.reads_total >= 2, what="first reads")
        # Garbage replaces current.pkl (sidecar removed, as a botched copy would): refused, old model kept.
        (models / "current.pkl.sha256").unlink()
        _atomic_write(models / "current.pkl", os.urandom(4096))
        wait_for(lambda: _status(state).get("model_error"), what="the refusal in status.json")
        status = _status(state)
        assert status["model_sha256"] == sha0 and status["state"] == "running" and status["healthy"]
        assert any("refused" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
        before = daemon.reads_total
        wait_for(lambda: daemon.reads_total > before + 1, what="reads after the refusal")
        # A good file lands (temp name, then rename, like deploy): verified and swapped in.
        incoming = models / "incoming.pkl"
        sha1 = write_random_weights(incoming, seed=1)
        os.replace(incoming.with_name("incoming.pkl.sha256"), models / "current.pkl.sha256")
        os.replace(incoming, models / "current.pkl")
        wait_for(lambda: _status(state).get("model_sha256") == sha1, what="the new model in status.json")
        n = daemon.reads_total
        wait_for(lambda: daemon.reads_total > n, what="a read with the new model")
        # SIGHUP path: asked to reload the same file, it verifies it again and keeps running.
        daemon.request_reload()
        wait_for(lambda: any("unchanged" in r.getMessage() for r in caplog.records), what="the SIGHUP reload")
    rows = _rows(state)
    assert rows[0][5] == sha0 and rows[-1][5] == sha1
    assert {r[5] for r in rows} == {sha0, sha1}


def _recv_all(sock: socket.socket, into: list[str]) -> None:
    while True:
        try:
            into.extend(sock.recv(4096).decode().split("\n"))
        except (BlockingIOError, TimeoutError, socket.timeout):
            return


def test_sd_notify_ready_after_camera_opens_watchdog_then_sigterm_exits_0(tmp_path: Path) -> None:
    """Real process, real NOTIFY_SOCKET: READY=1 waits for the camera, WATCHDOG=1 follows, SIGTERM stops cleanly."""
    frames = tmp_path / "frames"  # absent at start: the camera cannot open yet
    write_random_weights(tmp_path / "state" / "models" / "current.pkl")
    cfg = base_config(tmp_path, frames, trigger={"kind": "interval", "interval": {"every_s": 0.1}},
                      camera={"ready_wait_s": 120, "files": {"folder": str(frames), "loop": True}},
                      burst={"frames": 3})
    (tmp_path / "device.toml").write_text(to_toml(cfg))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.setblocking(False)
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="400000")
    proc = subprocess.Popen([sys.executable, str(KIT), "run-code-reader", str(tmp_path / "device.toml"), "--delay", "0.05"],
                            env=env, stderr=subprocess.PIPE, text=True)
    messages: list[str] = []
    try:
        def seen(msg):
            _recv_all(sock, messages)
            return msg in messages
        wait_for(lambda: seen("STATUS=opening the camera"), what="STATUS=opening the camera")
        wait_for(lambda: _status(tmp_path / "state").get("camera_error"), what="a failed camera open")
        _recv_all(sock, messages)
        assert "READY=1" not in messages  # no camera, not ready
        write_coded_frames(frames, ["AB12CDE", "XY34FGH", "JK56LMN"])
        wait_for(lambda: seen("READY=1"), what="READY=1")
        ready_at = messages.index("READY=1")
        wait_for(lambda: seen("WATCHDOG=1") and "WATCHDOG=1" in messages[ready_at:], what="WATCHDOG=1 after READY=1")
        wait_for(lambda: _status(tmp_path / "state").get("reads_total", 0) >= 2, what="reads")
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(60)
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == 0, stderr
    _recv_all(sock, messages)
    assert "STOPPING=1" in messages
    assert "SIGTERM: finishing the current frame" in stderr
    status = _status(tmp_path / "state")
    assert status["state"] == "stopped" and not status["healthy"]
    rows = _rows(tmp_path / "state")
    assert len(rows) == status["reads_total"] >= 2
    db = sqlite3.connect(tmp_path / "state" / "plates.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_reload_with_current_removed_falls_back_like_a_restart(tmp_path: Path) -> None:
    """Deploy's rollback of a first deploy removes current.pkl: a reload must leave the deployed model."""
    from device.model import ModelManager

    cfg = parse_config(base_config(tmp_path, tmp_path / "frames"))
    current = cfg.current_model_path
    deployed = write_random_weights(current, seed=3)
    manager = ModelManager(cfg)
    assert manager.load_initial().sha256 == deployed

    current.unlink()
    Path(str(current) + ".sha256").unlink()
    fallback = manager.reload("SIGHUP")
    assert fallback is not None and fallback.sha256 != deployed
    assert manager.current.sha256 == fallback.sha256

    previous = current.with_name("previous.pkl")
    kept = write_random_weights(previous, seed=4)
    assert manager.reload("SIGHUP").sha256 == kept


def test_an_unusable_compile_cache_dir_falls_back_instead_of_refusing_the_model(tmp_path: Path, caplog) -> None:
    from device.model import compile_cache_dir

    usable = compile_cache_dir("pytensor", tmp_path / "cache")
    assert usable == tmp_path / "cache" / "pytensor" and usable.is_dir()
    assert compile_cache_dir("numpy", tmp_path / "cache") is None
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a plain file where the cache folder should be: mkdir really fails
    with caplog.at_level(logging.WARNING):
        assert compile_cache_dir("pytensor", blocker / "cache") is None
    assert "user's cache folder instead" in caplog.text
