"""Helpers for the device daemon tests (not collected: no `test_` prefix).

Tests about the daemon's mechanics (store durability, signals, sd_notify, reopen, reload) use a
`CodeReader` that reads the plate text written into the first pixel row of a frame, so they run fast
and do not depend on recognition accuracy. The end-to-end tests use the real `anpr.pipeline`.

Run as a script, this module starts the daemon with the CodeReader in the foreground:
    python tests/device_testkit.py run-code-reader CONFIG.toml [--max-reads N]
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CODE_CONFIDENCE = 0.93
CODE_FRAME_SIZE = (160, 96)  # width, height: small, so the tests stay fast


@dataclass
class CodedRead:
    """Same fields as anpr.pipeline.PlateRead (contract 4)."""

    text: str
    confidence: float
    box: tuple[int, int, int, int]
    char_confidences: list[float] = field(default_factory=list)


def coded_frame(plate: str, size: tuple[int, int] = CODE_FRAME_SIZE) -> np.ndarray:
    w, h = size
    frame = np.full((h, w, 3), 120, np.uint8)
    code = plate.encode("ascii")
    frame[0, : len(code), 0] = np.frombuffer(code, np.uint8)
    frame[0, len(code), 0] = 0
    cv2.rectangle(frame, (40, 40), (120, 60), (255, 255, 255), -1)
    return frame


def write_coded_frames(folder: Path, plates: list[str], ext: str = ".png") -> list[Path]:
    """One lossless frame per entry of `plates`, named in replay order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, plate in enumerate(plates):
        path = folder / f"{i:05d}_{plate}{ext}"
        cv2.imwrite(str(path), coded_frame(plate))
        paths.append(path)
    return paths


class CodeReader:
    """A stand-in recognizer for mechanics tests: the plate is the ASCII code in row 0 of the frame."""

    def __init__(self, classifier=None, delay_s: float = 0.0) -> None:
        self.classifier = classifier
        self.delay_s = delay_s

    def read(self, image: np.ndarray, debug_dir=None) -> list[CodedRead]:
        if self.delay_s:
            time.sleep(self.delay_s)
        row = image[0, :, 0].tobytes()
        text = row.split(b"\0", 1)[0].decode("ascii", "replace")
        if not text.isalnum():
            return []
        return [CodedRead(text, CODE_CONFIDENCE, (40, 40, 80, 20), [CODE_CONFIDENCE] * len(text))]


def write_random_weights(path: Path, seed: int = 0) -> str:
    """A valid (untrained) weights file with its sidecar; returns its sha256."""
    from anpr.network import DEFAULT_CLASSES, INPUT_SIZE, Architecture, init_params
    from anpr.weights import Weights, save_weights

    path.parent.mkdir(parents=True, exist_ok=True)
    weights = Weights(format_version=1, classes=DEFAULT_CLASSES, input_size=INPUT_SIZE,
                      params=init_params(Architecture(), seed=seed), metadata={"note": "test weights"})
    return save_weights(weights, path)


def base_config(tmp: Path, frames: Path, **sections) -> dict:
    """A config mapping for tests: state under tmp, files camera over `frames`, fast timings."""
    cfg = {
        "paths": {"state_dir": str(tmp / "state"), "cache_dir": str(tmp / "cache")},
        "trigger": {"kind": "continuous"},
        "camera": {"kind": "files", "name": "testcam", "reopen_initial_s": 0.05, "reopen_max_s": 0.2,
                   "files": {"folder": str(frames)}},
        "burst": {"frames": 1, "spacing_s": 0.0},
        "recognition": {"repeat_window_s": 0.0},
        "status": {"interval_s": 0.2, "loop_tick_s": 0.05},
        "model": {"watch_interval_s": 0.1},
        "journal": {"enabled": False},
    }
    for name, values in sections.items():
        cfg.setdefault(name, {}).update(values)
    return cfg


def to_toml(cfg: dict) -> str:
    """Minimal TOML writer for the nested test mappings (tables of scalars)."""
    lines: list[str] = []

    def scalar(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    def table(prefix: str, d: dict) -> None:
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        if prefix:
            lines.append(f"[{prefix}]")
        lines.extend(f"{k} = {scalar(v)}" for k, v in scalars.items())
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{prefix}.{k}" if prefix else k, v)

    table("", cfg)
    return "\n".join(lines) + "\n"


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.02, what: str = "condition"):
    """Poll until `predicate()` is truthy (returning it); AssertionError naming `what` on timeout.

    Timeouts here only bound a hang; nothing asserts how fast anything happened.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


class DaemonThread:
    """Run a Daemon in a thread (no signal handlers) for in-process tests."""

    def __init__(self, daemon) -> None:
        self.daemon = daemon
        self.rc: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.rc = self.daemon.run(install_signals=False)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.daemon.request_stop("test finished")
        self.thread.join(60)


def gpio_e2e(config_path: Path, out: Path, cars: int, pin_number: int) -> int:
    """Inside the journald namespace: the daemon with the real pipeline, a mock PIR edge per car,
    then the results (plate log, `anpr-device plates --json`, `journalctl PLATE=`) written to `out`."""
    import json
    import os
    import subprocess

    from gpiozero import Device

    from device.config import load_config
    from device.daemon import Daemon
    from device.journal import setup_logging

    assert os.environ.get("GPIOZERO_PIN_FACTORY") == "mock"
    config = load_config(config_path)
    setup_logging(config.logging.level)  # INVOCATION_ID is set: ordinary logging goes to the journal
    daemon = Daemon(config)
    with DaemonThread(daemon) as run:
        wait_for(lambda: daemon.state == "running" or run.rc is not None, 120, what="daemon running")
        assert daemon.state == "running", f"daemon did not start (rc {run.rc})"
        sensor = daemon.trigger.sensor
        sensor.value  # blocks until the sensor's sample queue is full: its initial state is settled
        wait_for(lambda: not sensor.motion_detected, what="sensor idle")
        pin = Device.pin_factory.pin(pin_number)
        for car in range(cars):
            done = daemon.bursts_done
            pin.drive_high()  # the PIR sees a car
            wait_for(lambda: daemon.triggers_total > car, what=f"trigger {car}")
            pin.drive_low()
            wait_for(lambda: daemon.bursts_done > done, 120, what=f"burst {car} processed")
            wait_for(lambda: not sensor.motion_detected, what="sensor idle again")
    import sqlite3

    db = sqlite3.connect(config.store_path)
    rows = [dict(zip(("id", "plate", "confidence", "frames_agreed", "frames_total", "camera", "model_sha256", "snapshot"), r))
            for r in db.execute("SELECT id, plate, confidence, frames_agreed, frames_total, camera, model_sha256, snapshot"
                                " FROM reads ORDER BY id")]
    db.close()
    subprocess.run(["journalctl", "--sync"], capture_output=True)  # entries sent are written before reading back
    cli = subprocess.run([sys.executable, "-m", "device.cli", "plates", "--json", "--config", str(config_path)],
                         capture_output=True, text=True)
    journal = {}
    for row in rows:
        res = subprocess.run(["journalctl", "-o", "json", "--no-pager", f"PLATE={row['plate']}"], capture_output=True, text=True)
        journal[row["plate"]] = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    logs = subprocess.run(["journalctl", "-o", "json", "--no-pager", "SYSLOG_IDENTIFIER=anpr-device"],
                          capture_output=True, text=True)
    (out / "result.json").write_text(json.dumps({
        "rc": run.rc, "triggers": daemon.triggers_total, "rows": rows, "plates_cli": cli.stdout,
        "plates_cli_rc": cli.returncode, "journal": journal,
        "log": [json.loads(line) for line in logs.stdout.splitlines() if line.strip()],
    }, default=str))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run-code-reader")
    p.add_argument("config", type=Path)
    p.add_argument("--max-reads", type=int)
    p.add_argument("--delay", type=float, default=0.0)
    p = sub.add_parser("gpio-e2e")
    p.add_argument("config", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--cars", type=int, default=3)
    p.add_argument("--pin", type=int, default=17)
    args = parser.parse_args(argv)
    if args.cmd == "gpio-e2e":
        return gpio_e2e(args.config, args.out, args.cars, args.pin)
    from device.config import load_config
    from device.daemon import Daemon
    from device.journal import setup_logging

    config = load_config(args.config)
    setup_logging(config.logging.level)
    return Daemon(config, reader_factory=lambda clf: CodeReader(clf, args.delay), max_reads=args.max_reads).run()


JOURNALD = "/lib/systemd/systemd-journald"
NAMESPACE_SCRIPT = r"""
set -eu
mount -t tmpfs tmpfs /run
mkdir -p /var/log/journal
mount -t tmpfs tmpfs /var/log/journal
{journald} &
JPID=$!
trap 'kill $JPID 2>/dev/null || true' EXIT
for i in $(seq 200); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
[ -S /run/systemd/journal/socket ] || {{ echo "journald did not create its socket" >&2; exit 97; }}
"$@"
journalctl --sync 2>/dev/null || true
"""


def run_in_journald_namespace(command: list[str], env: dict | None = None, timeout: float = 600):
    """Run `command` in a private mount namespace with its own systemd-journald (tmpfs /run and
    /var/log/journal), so the real journal can be written and read back without touching the host's."""
    import subprocess

    script = NAMESPACE_SCRIPT.format(journald=JOURNALD)
    return subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", script, "ns", *command],
                          env=env, capture_output=True, text=True, timeout=timeout)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
