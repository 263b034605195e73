"""Replace a file so that a reader sees the old contents or the new, never half of either.

Used for the weights file and its sidecar, and for the daemon's status file: write a temp file in the
same folder, then rename it over the target (atomic on POSIX within one filesystem).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path | str, data: bytes, durable: bool = True, mode: int = 0o644) -> None:
    """Write `data` to `path` via a temp file and a rename; the temp file is removed on any failure.

    `durable` fsyncs the data before the rename, so a power cut leaves the old or the new file, not an
    empty one; a file rewritten every few seconds (status) skips it to spare the SD card.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
