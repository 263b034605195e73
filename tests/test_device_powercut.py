"""Power cut while logging: kill -9 the daemon at random moments, 50 rounds, on one plate log.

After every round the database passes `PRAGMA integrity_check` and every read the daemon had
announced (its "plate ... id=N" line, written only after the commit) is in the log with its snapshot.
"""
from __future__ import annotations

import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import pytest

from device_testkit import base_config, to_toml, wait_for, write_coded_frames, write_random_weights

KIT = Path(__file__).with_name("device_testkit.py")
ROUNDS = 50
ANNOUNCED = re.compile(r"INFO device\.reads: plate ([A-Z0-9]+) \(.*\) id=(\d+)$")


def _run_and_kill(config: Path, rng: random.Random) -> list[tuple[int, str]]:
    proc = subprocess.Popen([sys.executable, str(KIT), "run-code-reader", str(config)],
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(ANNOUNCED.search(l.rstrip("\n")) for l in list(lines)) or proc.poll() is not None,
                 60, what="a first announced read")
        assert proc.poll() is None, "".join(lines)[-2000:]
        threading.Event().wait(rng.uniform(0.0, 0.3))  # a random moment while it is logging
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reader.join(10)
    announced = []
    for line in lines:
        m = ANNOUNCED.search(line.rstrip("\n"))
        if m:
            announced.append((int(m.group(2)), m.group(1)))
    return announced


@pytest.mark.slow
def test_kill_9_never_loses_an_announced_read_or_corrupts_the_log(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    plates = [f"PC{i:02d}{chr(65 + i % 26)}{chr(65 + (i * 7) % 26)}" for i in range(40)]
    write_coded_frames(frames, plates)
    write_random_weights(tmp_path / "state" / "models" / "current.pkl")
    cfg = base_config(tmp_path, frames, camera={"files": {"folder": str(frames), "loop": True}},
                      store={"snapshots": "frame"}, logging={"level": "INFO"})
    config = tmp_path / "device.toml"
    config.write_text(to_toml(cfg))
    rng = random.Random(1234)
    db_path = tmp_path / "state" / "plates.sqlite3"
    all_announced: dict[int, str] = {}
    for round_no in range(ROUNDS):
        announced = _run_and_kill(config, rng)
        assert announced, f"round {round_no}: nothing announced"
        for read_id, plate in announced:
            assert all_announced.setdefault(read_id, plate) == plate, f"id {read_id} announced twice"
        db = sqlite3.connect(db_path)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"round {round_no}"
            stored = dict(db.execute("SELECT id, plate FROM reads").fetchall())
            snapshots = dict(db.execute("SELECT id, snapshot FROM reads").fetchall())
        finally:
            db.close()
        missing = {i: p for i, p in all_announced.items() if stored.get(i) != p}
        assert not missing, f"round {round_no}: announced but not in the log: {missing}"
        for read_id, _ in announced:
            assert cv2.imread(snapshots[read_id]) is not None, f"snapshot of read {read_id} unreadable"
    assert len(all_announced) >= ROUNDS
