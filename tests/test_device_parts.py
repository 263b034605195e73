"""Device daemon parts on their own: voting, known plates, repeats, store, snapshots, status, sd_notify, backoff."""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from device.cameras.base import Camera, CameraError
from device.cameras.files import FilesCamera
from device.cameras.reopen import ReopeningCamera
from device.cli import parse_since
from device.config import parse_config
from device.notify import Notifier
from device.status import read_status, write_status
from device.store import PlateStore, SnapshotStore, to_utc_text
from device.triggers.interval import IntervalTrigger
from device.vote import Candidate, KnownPlates, RepeatFilter, edit_distance, vote


def _cfg(**sections):
    return parse_config(sections)


def _cands(*items):
    return [Candidate(i, t, c, (10 * i, 0, 50, 10)) for i, t, c in items]


def test_vote_takes_the_plate_most_frames_agree_on_with_its_best_confidence() -> None:
    cfg = _cfg()
    voted = vote(_cands((0, "AB12CDE", 0.8), (1, "AB12CUE", 0.95), (2, "AB12CDE", 0.9)), 3, cfg.recognition,
                 KnownPlates(cfg.known_plates))
    assert (voted.plate, voted.frames_agreed, voted.frames_total, voted.confidence) == ("AB12CDE", 2, 3, 0.9)
    assert voted.frame_index == 2 and voted.box == (20, 0, 50, 10)


def test_vote_applies_min_confidence_and_min_frames() -> None:
    cfg = _cfg(recognition={"min_confidence": 0.85, "min_frames": 2})
    known = KnownPlates(cfg.known_plates)
    assert vote(_cands((0, "AB12CDE", 0.8), (1, "AB12CDE", 0.9)), 2, cfg.recognition, known) is None
    assert vote(_cands((0, "AB12CDE", 0.86), (1, "AB12CDE", 0.9)), 2, cfg.recognition, known).frames_agreed == 2
    # A plate found twice in one frame counts once.
    assert vote(_cands((0, "AB12CDE", 0.9), (0, "AB12CDE", 0.9)), 2, cfg.recognition, known) is None


def test_known_plates_snap_near_misses_and_can_exclude_others() -> None:
    cfg = _cfg(known_plates={"plates": {"AB12CDE": "van"}, "max_distance": 1})
    voted = vote(_cands((0, "AB12CUE", 0.9), (1, "A812CDE", 0.7)), 2, cfg.recognition, KnownPlates(cfg.known_plates))
    assert (voted.plate, voted.label, voted.frames_agreed) == ("AB12CDE", "van", 2)
    assert sorted(voted.raw_texts) == ["A812CDE", "AB12CUE"]
    only = _cfg(known_plates={"plates": {"AB12CDE": "van"}, "only_known": True})
    assert vote(_cands((0, "ZZ99ZZZ", 0.99)), 1, only.recognition, KnownPlates(only.known_plates)) is None
    assert edit_distance("KITTEN", "SITTING") == 3 and edit_distance("", "AB") == 2


def test_repeat_filter_window_slides_while_the_car_stays() -> None:
    now = [0.0]
    rf = RepeatFilter(60, clock=lambda: now[0])
    assert not rf.is_repeat("AB12CDE")
    now[0] = 50
    assert rf.is_repeat("AB12CDE") and not rf.is_repeat("XY99ZZZ")
    now[0] = 100  # 50 s after the last sighting: still the same visit
    assert rf.is_repeat("AB12CDE")
    now[0] = 161
    assert not rf.is_repeat("AB12CDE")
    assert not RepeatFilter(0, clock=lambda: now[0]).is_repeat("X") and not RepeatFilter(0).is_repeat("X")


def test_store_commits_in_wal_mode_and_prunes_by_age_and_rows(tmp_path: Path) -> None:
    store = PlateStore(tmp_path / "plates.sqlite3")
    old = to_utc_text(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10))
    store.add(plate="OLD1", confidence=0.9, frames_agreed=1, frames_total=1, box=(1, 2, 3, 4), camera="c",
              model_sha256="s", ts=old)
    for i in range(150):
        store.add(plate=f"P{i}", confidence=0.9, frames_agreed=2, frames_total=3, box=None, camera="c", model_sha256="s")
    # Another connection sees the rows at once: committed, not pending.
    other = sqlite3.connect(tmp_path / "plates.sqlite3")
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert other.execute("SELECT COUNT(*) FROM reads").fetchone()[0] == 151
    assert store.prune(retention_days=5, retention_rows=100) == 51
    plates = [r.plate for r in store.query()]
    assert "OLD1" not in plates and len(plates) == 100 and plates[-1] == "P149" and plates[0] == "P50"
    assert [r.plate for r in store.query(plate="P14*")] == ["P140", "P141", "P142", "P143", "P144", "P145",
                                                            "P146", "P147", "P148", "P149"]
    assert store.integrity_check() == "ok"
    store.close()
    ro = PlateStore(tmp_path / "plates.sqlite3", readonly=True)
    assert ro.count() == 100


def test_snapshot_folder_cap_deletes_oldest_first(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    snaps = SnapshotStore(tmp_path / "snaps", "frame", max_mb=0.1, jpeg_quality=90)
    paths = []
    for i in range(12):
        frame = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)  # noise: ~20-30 kB each
        paths.append(snaps.save(frame, (10, 10, 50, 20), f"2026-01-01T00:00:{i:02d}.000000Z", f"P{i}"))
    kept = sorted(p.name for p in (tmp_path / "snaps").iterdir())
    assert sum((tmp_path / "snaps" / n).stat().st_size for n in kept) <= 0.1 * 1024 * 1024
    assert kept == sorted(Path(p).name for p in paths[-len(kept):])  # the newest survive
    assert 0 < len(kept) < 12
    crop = SnapshotStore(tmp_path / "crops", "crop", 10, 90).save(np.zeros((100, 200, 3), np.uint8), (50, 40, 40, 10),
                                                                  "2026-01-01T00:00:00.000000Z", "AB")
    import cv2
    assert cv2.imread(crop).shape[:2] == (20, 60)  # plate plus margins, not the frame
    assert SnapshotStore(tmp_path / "n", "none", 10, 90).save(np.zeros((4, 4, 3), np.uint8), None, "t", "P") is None


def test_a_snapshot_that_cannot_be_written_leaves_no_temp_file(tmp_path: Path) -> None:
    snaps = SnapshotStore(tmp_path / "snaps", "frame", max_mb=10, jpeg_quality=90)
    ts, plate = "2026-01-01T00:00:00.000000Z", "AB12CDE"
    # a folder (with a file in it) where the snapshot should go: the rename into place really fails
    blocker = tmp_path / "snaps" / f"{ts.replace(':', '').replace('-', '').replace('.', '')}_{plate}.jpg"
    blocker.mkdir(parents=True)
    (blocker / "x").write_text("x")
    assert snaps.save(np.zeros((20, 30, 3), np.uint8), None, ts, plate) is None
    assert sorted(p.name for p in (tmp_path / "snaps").iterdir()) == [blocker.name]


def test_status_file_is_atomic_json_and_a_dead_pid_reads_as_stopped(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    write_status(path, {"state": "running", "healthy": True, "pid": os.getpid()})
    assert read_status(path)["state"] == "running"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    write_status(path, {"state": "running", "healthy": True, "pid": int(dead.stdout)})
    status = read_status(path)
    assert status["state"] == "stopped" and status["healthy"] is False
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temp files left


def test_notifier_sends_ready_and_watchdog_at_half_the_interval(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(5)
    now = [100.0]
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "2000000"}, clock=lambda: now[0])
    assert n.watchdog_interval_s == 1.0
    n.ready("running")
    assert b"READY=1" in sock.recv(1024).split(b"\n")
    now[0] += 0.5
    assert not n.watchdog()
    now[0] += 0.6
    assert n.watchdog() and sock.recv(1024) == b"WATCHDOG=1"
    assert not Notifier({}).send("READY=1")  # no NOTIFY_SOCKET: a no-op
    other_pid = Notifier({"NOTIFY_SOCKET": "x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other_pid.watchdog_interval_s is None  # the watchdog is meant for another process


class FlakyCamera(Camera):
    kind = "flaky"

    def __init__(self, failures: int) -> None:
        super().__init__("flaky")
        self.failures = failures
        self.opens = 0

    def open(self) -> None:
        self.opens += 1
        if self.opens <= self.failures:
            raise CameraError("no such device")

    def read(self):
        return np.zeros((4, 4, 3), np.uint8)


def test_reopen_backoff_doubles_up_to_the_ceiling() -> None:
    now = [0.0]
    cam = ReopeningCamera(FlakyCamera(failures=5), initial_s=1, max_s=4, clock=lambda: now[0])
    delays = []
    while not cam.ensure_open():
        delays.append(cam.seconds_until_retry())
        assert not cam.ensure_open()  # no retry before the backoff passed
        now[0] += cam.seconds_until_retry()
    assert delays == [1, 2, 4, 4, 4] and cam.failures == 0 and cam.read().shape == (4, 4, 3)


def test_files_camera_replays_in_order_and_loops(tmp_path: Path) -> None:
    import cv2
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((4, 4, 3), i * 50, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    cam = FilesCamera("c", parse_config({"camera": {"files": {"folder": str(tmp_path), "loop": True}}}).camera.files)
    cam.open()
    assert [int(cam.read()[0, 0, 0]) for _ in range(4)] == [0, 50, 100, 0]
    with pytest.raises(CameraError, match="does not exist"):
        FilesCamera("c", parse_config({"camera": {"files": {"folder": str(tmp_path / "nope")}}}).camera.files).open()


def test_interval_trigger_fires_at_once_then_every_period() -> None:
    trig = IntervalTrigger(parse_config({"trigger": {"interval": {"every_s": 0.2}}}).trigger.interval)
    first = trig.wait(1.0)
    assert first is not None
    assert trig.wait(0.01) is None  # not due yet
    second = trig.wait(1.0)
    assert second is not None and second - first >= 0.2 - 1e-6  # never before its period
    trig.interrupt()
    assert trig.wait(1.0) is None  # interrupted before the slot


def test_parse_since_relative_and_absolute() -> None:
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc)
    assert parse_since("30m", now).startswith("2026-11-26T11:30:00")
    assert parse_since("2d", now).startswith("2026-11-24T12:00")
    assert parse_since("today", now).startswith("2026-11-26T00:00:00")
    assert parse_since("2026-11-25T10:00+01:00", now).startswith("2026-11-25T09:00:00")
    with pytest.raises(ValueError, match="--since"):
        parse_since("yesterday-ish", now)


def test_status_json_written_by_status_file_is_valid_for_cli(tmp_path: Path, capsys) -> None:
    from device.cli import main as cli_main
    state = tmp_path / "state"
    cfg = tmp_path / "d.toml"
    cfg.write_text(f"[paths]\nstate_dir = '{state}'\n")
    assert cli_main(["status", "--json", "--config", str(cfg)]) == 1
    assert json.loads(capsys.readouterr().out)["state"] == "stopped"
    write_status(state / "status.json", {"state": "running", "healthy": True, "pid": os.getpid(), "model_sha256": "ab"})
    assert cli_main(["status", "--json", "--config", str(cfg)]) == 0
    assert json.loads(capsys.readouterr().out)["model_sha256"] == "ab"


def test_picamera2_missing_is_a_clear_start_error_naming_the_debian_package(tmp_path: Path, caplog) -> None:
    from device.cameras import make_camera
    from device.daemon import Daemon

    try:
        import picamera2  # noqa: F401
        pytest.skip("picamera2 is installed here")
    except ImportError:
        pass
    config = parse_config({"paths": {"state_dir": str(tmp_path)}, "camera": {"kind": "picamera2"}})
    with pytest.raises(CameraError, match="python3-picamera2"):
        make_camera(config.camera)
    from device_testkit import CodeReader, write_random_weights
    write_random_weights(tmp_path / "models" / "current.pkl")
    assert Daemon(config, reader_factory=CodeReader, trigger=IntervalTrigger(config.trigger.interval)).run(False) == 1
    assert any("python3-picamera2" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")


def test_opencv_camera_reads_a_video_file_then_runs_out_or_loops(tmp_path: Path) -> None:
    import cv2
    from device.cameras.base import CameraExhausted
    from device.cameras.opencv import OpencvCamera
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for i in range(4):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    cam = OpencvCamera("v", parse_config({"camera": {"opencv": {"source": str(video)}}}).camera.opencv)
    cam.open()
    levels = [int(cam.read().mean()) for _ in range(4)]
    assert levels == sorted(levels) and levels[-1] > levels[0]
    with pytest.raises(CameraExhausted):
        cam.read()
    cam.close()
    looping = OpencvCamera("v", parse_config({"camera": {"opencv": {"source": str(video), "loop": True}}}).camera.opencv)
    looping.open()
    assert [looping.read().shape for _ in range(6)] == [(48, 64, 3)] * 6
    with pytest.raises(CameraError, match="does not exist"):
        OpencvCamera("v", parse_config({"camera": {"opencv": {"source": str(tmp_path / "no.avi")}}}).camera.opencv).open()


def test_notifier_keepalive_pings_during_a_long_step(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(10)
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "100000"})
    with n.keepalive():
        assert sock.recv(64) == b"WATCHDOG=1"  # sent by the helper while this thread is busy
    with Notifier({}).keepalive():  # no watchdog configured: nothing to do
        pass


def test_plates_command_filters_and_formats(tmp_path: Path, capsys) -> None:
    import csv
    import io

    from device.cli import main as cli_main
    cfg = tmp_path / "d.toml"
    cfg.write_text(f"[paths]\nstate_dir = '{tmp_path}'\n")
    assert cli_main(["plates", "--config", str(cfg)]) == 1  # no log yet: a clear error, not a traceback
    assert "no plate log yet" in capsys.readouterr().err
    store = PlateStore(tmp_path / "plates.sqlite3")
    old = to_utc_text(dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3))
    store.add(plate="AB12CDE", confidence=0.91, frames_agreed=2, frames_total=3, box=(1, 2, 3, 4), camera="gate",
              model_sha256="s", ts=old)
    store.add(plate="XY34FGH", confidence=0.88, frames_agreed=3, frames_total=3, box=(5, 6, 7, 8), camera="gate",
              model_sha256="s", label="van")
    store.close()
    assert cli_main(["plates", "--config", str(cfg), "--since", "1h", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["plate"], r["label"], r["box_w"]) for r in rows] == [("XY34FGH", "van", 7)]
    assert cli_main(["plates", "--config", str(cfg), "--csv", "--plate", "ab12*"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["plate"], r["frames_agreed"], r["camera"]) for r in table] == [("AB12CDE", "2", "gate")]
    assert cli_main(["plates", "--config", str(cfg), "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "XY34FGH" in out and "AB12CDE" not in out and "[van]" in out
    assert cli_main(["plates", "--config", str(cfg), "--since", "last tuesday"]) == 2
