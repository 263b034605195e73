"""The plate log: SQLite in WAL mode under the state directory, one row per read.

A read is committed (synchronous=FULL: on disk, not just in the page cache) before it is announced
anywhere else, so after a power cut every read that reached the journal is also in the log. WAL
keeps `anpr-device plates` readable while the daemon writes.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS reads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,               -- UTC, ISO 8601 with microseconds and 'Z'
    plate TEXT NOT NULL,
    confidence REAL NOT NULL,
    frames_agreed INTEGER NOT NULL,
    frames_total INTEGER NOT NULL,
    box_x INTEGER, box_y INTEGER, box_w INTEGER, box_h INTEGER,
    camera TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    snapshot TEXT,
    label TEXT
);
CREATE INDEX IF NOT EXISTS reads_ts ON reads (ts);
CREATE INDEX IF NOT EXISTS reads_plate ON reads (plate, ts);
"""
BUSY_TIMEOUT_MS = 5000
COLUMNS = ("id", "ts", "plate", "confidence", "frames_agreed", "frames_total", "box_x", "box_y", "box_w",
           "box_h", "camera", "model_sha256", "snapshot", "label")


def utc_now() -> str:
    return to_utc_text(dt.datetime.now(dt.timezone.utc))


def to_utc_text(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class StoredRead:
    id: int
    ts: str
    plate: str
    confidence: float
    frames_agreed: int
    frames_total: int
    box_x: int | None
    box_y: int | None
    box_w: int | None
    box_h: int | None
    camera: str
    model_sha256: str
    snapshot: str | None
    label: str | None

    def as_dict(self) -> dict:
        return asdict(self)


class StoreError(RuntimeError):
    pass


class PlateStore:
    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = Path(path)
        try:
            if readonly:
                if not self.path.exists():
                    raise StoreError(f"{self.path}: no plate log yet (the daemon creates it on its first start)")
                self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
                self.db.executescript(SCHEMA)
                self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the plate log: {exc}") from exc
        self.db.row_factory = sqlite3.Row

    def add(self, *, plate: str, confidence: float, frames_agreed: int, frames_total: int,
            box: tuple[int, int, int, int] | None, camera: str, model_sha256: str,
            snapshot: str | None = None, label: str | None = None, ts: str | None = None) -> StoredRead:
        """Insert and commit one read; when this returns, the row is on disk."""
        ts = ts or utc_now()
        bx = tuple(box) if box else (None, None, None, None)
        cur = self.db.execute(
            "INSERT INTO reads (ts, plate, confidence, frames_agreed, frames_total, box_x, box_y, box_w, box_h,"
            " camera, model_sha256, snapshot, label) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (ts, plate, round(float(confidence), 4), frames_agreed, frames_total, *bx, camera, model_sha256,
             snapshot, label),
        )  # autocommit mode (isolation_level=None): committed on return
        return StoredRead(cur.lastrowid, ts, plate, round(float(confidence), 4), frames_agreed, frames_total,
                          *bx, camera, model_sha256, snapshot, label)

    def query(self, since: str | None = None, plate: str | None = None, limit: int | None = None,
              newest_first: bool = False) -> list[StoredRead]:
        sql, args = f"SELECT {', '.join(COLUMNS)} FROM reads WHERE 1=1", []
        if since:
            sql += " AND ts >= ?"
            args.append(since)
        if plate:
            sql += " AND plate LIKE ?"
            args.append(plate.upper().replace("*", "%"))
        sql += " ORDER BY id DESC" if newest_first else " ORDER BY id"
        if limit:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [StoredRead(*row) for row in self.db.execute(sql, args)]

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM reads").fetchone()[0]

    def prune(self, retention_days: float, retention_rows: int) -> int:
        """Delete reads older than the retention or beyond the newest `retention_rows`; returns rows deleted."""
        cutoff = to_utc_text(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=retention_days))
        with self.db:
            self.db.execute("BEGIN")
            n = self.db.execute("DELETE FROM reads WHERE ts < ?", (cutoff,)).rowcount
            n += self.db.execute(
                "DELETE FROM reads WHERE id <= (SELECT id FROM reads ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (retention_rows,),
            ).rowcount
        if n:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return n

    def integrity_check(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        try:
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass
        self.db.close()


class SnapshotStore:
    """JPEG snapshots of reads in one folder, capped in size: the oldest files go first."""

    def __init__(self, folder: Path, mode: str, max_mb: float, jpeg_quality: int) -> None:
        self.folder = Path(folder)
        self.mode = mode
        self.max_bytes = int(max_mb * 1024 * 1024)
        self.jpeg_quality = jpeg_quality
        self._files: list[tuple[str, int]] | None = None  # (name, size), oldest first
        self._total = 0

    @property
    def enabled(self) -> bool:
        return self.mode != "none" and self.max_bytes > 0

    def _scan(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        files = []
        for entry in os.scandir(self.folder):
            if entry.is_file() and entry.name.endswith(".jpg"):
                files.append((entry.name, entry.stat().st_size))
        files.sort()  # names start with the UTC time: name order is age order
        self._files = files
        self._total = sum(size for _, size in files)

    def save(self, frame: np.ndarray, box: tuple[int, int, int, int] | None, ts: str, plate: str) -> str | None:
        """Write the crop or frame durably and return its path; None when snapshots are off or it failed."""
        if not self.enabled:
            return None
        if self._files is None:
            self._scan()
        image = frame
        if self.mode == "crop" and box:
            x, y, w, h = box
            pad_x, pad_y = w // 4, h // 2  # a little context around the plate
            y0, y1 = max(0, y - pad_y), min(frame.shape[0], y + h + pad_y)
            x0, x1 = max(0, x - pad_x), min(frame.shape[1], x + w + pad_x)
            if y1 > y0 and x1 > x0:
                image = frame[y0:y1, x0:x1]
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            log.error("snapshot of %s could not be encoded", plate)
            return None
        stamp = ts.replace(":", "").replace("-", "").replace(".", "")
        name = f"{stamp}_{plate}.jpg"
        path = self.folder / name
        tmp = path.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data.tobytes())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            log.error("cannot write snapshot %s: %s", path, exc)
            tmp.unlink(missing_ok=True)  # a half-written temp file would fill the card unseen
            return None
        self._files.append((name, len(data)))
        self._total += len(data)
        self._enforce_cap()
        return str(path)

    def _enforce_cap(self) -> None:
        while self._files and self._total > self.max_bytes:
            name, size = self._files.pop(0)
            try:
                os.unlink(self.folder / name)
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("cannot delete old snapshot %s: %s", name, exc)
            self._total -= size
