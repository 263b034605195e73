"""`<state_dir>/status.json`: the running state for `anpr-device status` and for deploys.

Written atomically (temp file + rename) so a reader never sees half a file. A reader that finds the
writing process gone reports the state as "stopped" and unhealthy, whatever the file last said.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from anpr.atomicfile import write_atomic


def utc_now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_status(path: Path, status: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(status, indent=2, sort_keys=True) + "\n"
    write_atomic(path, text.encode(), durable=False)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_status(path: Path) -> dict:
    """The status file's content, corrected to "stopped" when its process is gone; OSError/ValueError if unreadable."""
    path = Path(path)
    status = json.loads(path.read_text())
    pid = status.get("pid")
    if status.get("state") != "stopped" and isinstance(pid, int) and not pid_alive(pid):
        status["state"] = "stopped"
        status["healthy"] = False
        status["note"] = f"process {pid} is not running (the daemon stopped without updating {path.name})"
    return status
