"""End to end with the real parts: a mock PIR edge (gpiozero MockFactory) on the gpio trigger, a files
camera over dev photos, the real recognition pipeline, the SQLite plate log, a real systemd-journald
(private mount namespace) read back with journalctl, and `anpr-device plates`; and `anpr-device demo`."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import shared_path
from device_testkit import JOURNALD, base_config, run_in_journald_namespace, to_toml

KIT = Path(__file__).with_name("device_testkit.py")
# Dev photos (../shared/data, never copied into the repo) whose plate the pipeline reads: one car each.
E2E_PHOTOS = ("eu/test_001.jpg", "eu/test_004.jpg", "eu/test_010.jpg")
BURST = 3
GPIO_PIN = 17
MESSAGE = re.compile(r"^plate ([A-Z0-9]+) \((\d\.\d\d), (\d+)/(\d+) frames\)")


def _needs_namespace() -> None:
    if os.geteuid() != 0 or not shutil.which("unshare") or not Path(JOURNALD).exists():
        pytest.skip("needs root, unshare and systemd-journald (Debian package systemd) for a private journald")


def _truth(photo: Path) -> str:
    return photo.with_suffix(".txt").read_text().split("\t")[5].strip()


@pytest.mark.slow
def test_pir_edge_to_plate_log_journal_and_plates_command(tmp_path: Path) -> None:
    _needs_namespace()
    photos = [shared_path("openalpr-benchmark-dev", *p.split("/")) for p in E2E_PHOTOS]
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, photo in enumerate(photos):  # each car is seen in BURST consecutive frames
        for j in range(BURST):
            (frames / f"{i:03d}_{j}_{photo.name}").symlink_to(photo)
    cfg = base_config(tmp_path, frames,
                      trigger={"kind": "gpio", "gpio": {"pin": GPIO_PIN, "sample_rate": 20.0, "queue_len": 1}},
                      burst={"frames": BURST, "spacing_s": 0.05},
                      recognition={"repeat_window_s": 60.0},
                      journal={"enabled": True})
    (tmp_path / "device.toml").write_text(to_toml(cfg))
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock", INVOCATION_ID="0123456789abcdef0123456789abcdef")
    env.pop("JOURNAL_STREAM", None)
    proc = run_in_journald_namespace([sys.executable, str(KIT), "gpio-e2e", str(tmp_path / "device.toml"), str(out),
                                      "--cars", str(len(photos)), "--pin", str(GPIO_PIN)], env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert result["rc"] == 0 and result["triggers"] == len(photos)  # one PIR edge, one burst

    rows = result["rows"]
    truths = [_truth(p) for p in photos]
    assert rows, "no plate logged"
    assert all(r["frames_total"] == BURST and r["camera"] == "testcam" and len(r["model_sha256"]) == 64 for r in rows)
    # The pipeline reads these photos: every car's annotated plate is in the log, once.
    assert sorted(r["plate"] for r in rows) == sorted(truths)

    listed = json.loads(result["plates_cli"])
    assert result["plates_cli_rc"] == 0 and [r["plate"] for r in listed] == [r["plate"] for r in rows]

    for row in rows:
        entries = result["journal"][row["plate"]]
        assert len(entries) == 1, f"journalctl PLATE={row['plate']} found {len(entries)} entries"
        e = entries[0]
        m = MESSAGE.match(e["MESSAGE"])
        assert m and m.group(1) == row["plate"] and int(m.group(3)) == row["frames_agreed"] and m.group(4) == str(BURST)
        assert e["SYSLOG_IDENTIFIER"] == "anpr-device" and e["CAMERA"] == "testcam"
        assert float(e["CONFIDENCE"]) == pytest.approx(row["confidence"], abs=1e-3)
        assert e["MODEL_SHA256"] == row["model_sha256"] and e["SNAPSHOT"] == row["snapshot"]
        assert Path(row["snapshot"]).is_file()
    # Ordinary logging went to the journal too (INVOCATION_ID set, as under systemd), with priorities.
    messages = {e["MESSAGE"]: e for e in result["log"]}
    running = [m for m in messages if m.startswith("running: ")]
    assert running and messages[running[0]]["PRIORITY"] == "6"


@pytest.mark.slow
def test_demo_reads_the_generated_plates(tmp_path: Path) -> None:
    """`anpr-device demo` (what `make demo` runs): generated frames, files camera, interval trigger, plates listed."""
    proc = subprocess.run([sys.executable, "-m", "device.cli", "demo", "--reads", "3", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    drawn = re.search(r"plates drawn: (.*)", proc.stdout).group(1).split()
    logged = re.findall(r"^logged: plate ([A-Z0-9]+) ", proc.stdout, re.M)
    assert len(logged) == 3 and logged == drawn[:3], proc.stdout
    listing = proc.stdout.split("$ anpr-device plates", 1)[1]
    assert all(p in listing for p in logged)
