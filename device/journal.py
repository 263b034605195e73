"""Announcing reads and ordinary logging, journald-aware.

Each read becomes one structured journal entry (`journalctl -u anpr-device PLATE=AB12CDE`,
`journalctl -o json`). Ordinary log lines go to the journal with their priority when the daemon runs
under systemd (JOURNAL_STREAM / INVOCATION_ID set), and to stderr otherwise (foreground, demo, tests).
"""
from __future__ import annotations

import logging
import os
import sys

SYSLOG_IDENTIFIER = "anpr-device"
LOG_FORMAT_STDERR = "%(asctime)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger("device.reads")


def under_systemd() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))


def _journal_module():
    try:
        from systemd import journal  # systemd-python (pip) or python3-systemd (Debian)
    except ImportError:
        return None
    return journal


def setup_logging(level: str = "INFO") -> str:
    """Configure the root logger; returns where it goes ("journal" or "stderr")."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(level)
    journal = _journal_module() if under_systemd() else None
    if journal is not None:
        root.addHandler(journal.JournalHandler(SYSLOG_IDENTIFIER=SYSLOG_IDENTIFIER))
        return "journal"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT_STDERR))
    root.addHandler(handler)
    return "stderr"


def format_read(plate: str, confidence: float, frames_agreed: int, frames_total: int) -> str:
    return f"plate {plate} ({confidence:.2f}, {frames_agreed}/{frames_total} frames)"


class ReadAnnouncer:
    """Send one journal entry per committed read (and a log line when not under systemd)."""

    def __init__(self, enabled: bool = True) -> None:
        self.journal = _journal_module() if enabled else None
        if enabled and self.journal is None:
            logging.getLogger(__name__).warning(
                "systemd-python is not installed: reads are not sent to the journal as structured entries "
                "(install python3-systemd or pip install systemd-python)"
            )
        self.to_log = not under_systemd() or self.journal is None

    def announce(self, *, read_id: int, plate: str, confidence: float, frames_agreed: int, frames_total: int,
                 camera: str, snapshot: str | None, model_sha256: str, label: str | None, ts: str) -> str:
        message = format_read(plate, confidence, frames_agreed, frames_total)
        if label:
            message += f" [{label}]"
        if self.journal is not None:
            try:
                self.journal.send(
                    message,
                    PRIORITY=6,
                    SYSLOG_IDENTIFIER=SYSLOG_IDENTIFIER,
                    PLATE=plate,
                    CONFIDENCE=f"{confidence:.4f}",
                    FRAMES=f"{frames_agreed}/{frames_total}",
                    CAMERA=camera,
                    SNAPSHOT=snapshot or "",
                    MODEL_SHA256=model_sha256,
                    LABEL=label or "",
                    READ_ID=str(read_id),
                    READ_TIME=ts,
                )
            except OSError as exc:  # journald gone: the read is already in the store
                logging.getLogger(__name__).warning("journal.send failed: %s", exc)
        if self.to_log:
            log.info("%s id=%d", message, read_id)
        return message
