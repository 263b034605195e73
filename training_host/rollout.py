"""Deploy (or roll back) a model on many devices: the per-host procedure and the bounded-parallel run.

Per host, a deploy is: connect -> check the model dir -> upload to a temp name -> compare the checksum
of what landed -> `anpr-device check-model` -> rename into current.pkl (old one kept as previous.pkl)
-> reload -> wait until `anpr-device status --json` reports the new checksum and healthy. A failure
before the rename leaves the device untouched ("refused"); after it, the previous model is put back
and reloaded ("rolled back"). Only if that restore itself fails is a host "failed".
"""
from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from training_host.device_model_dir import DeviceError, DeviceSettings, ModelDir
from training_host.ssh import Session, SshError, SshOptions, Target

# Named defaults, all in one place.
HEALTH_TIMEOUT_S = 60.0  # how long a reloaded device may take to report the new model, healthy
POLL_INTERVAL_S = 0.5  # between `anpr-device status --json` polls
DEFAULT_PARALLEL = 8

DEPLOYED, ROLLED_BACK, UNREACHABLE, REFUSED, FAILED = "deployed", "rolled back", "unreachable", "refused", "failed"


@dataclass(frozen=True)
class Plan:
    """One host's job: how to reach it and where its model lives."""

    name: str
    target: Target
    device: DeviceSettings


@dataclass
class HostResult:
    name: str
    outcome: str  # one of DEPLOYED, ROLLED_BACK, UNREACHABLE, REFUSED, FAILED
    reason: str = ""
    sha256: str = ""  # the checksum the device reports at the end (when known)
    seconds: float = 0.0


@dataclass(frozen=True)
class Timing:
    health_timeout_s: float = HEALTH_TIMEOUT_S
    poll_interval_s: float = POLL_INTERVAL_S

    def __post_init__(self) -> None:
        if self.health_timeout_s <= 0 or self.poll_interval_s <= 0:
            raise ValueError(f"health timeout ({self.health_timeout_s}) and poll interval "
                             f"({self.poll_interval_s}) must be positive seconds")


Progress = Callable[[str, str], None]  # (host name, what it is doing now)


def _wait_healthy(model_dir: ModelDir, sha256: str | None, timing: Timing) -> tuple[bool, str]:
    """Poll the device status until it runs `sha256` (None: any model) and is healthy, or time out."""
    deadline = time.monotonic() + timing.health_timeout_s
    last = "no status yet"
    while True:
        status = model_dir.status()
        if status is not None:
            running = status.get("model_sha256")
            healthy = status.get("healthy") is True
            if healthy and (sha256 is None or running == sha256):
                return True, ""
            last = (f"status reports model {str(running)[:12]}, healthy={status.get('healthy')}, "
                    f"state={status.get('state')}")
        if time.monotonic() >= deadline:
            return False, f"not healthy on the new model after {timing.health_timeout_s:.0f} s ({last})"
        time.sleep(timing.poll_interval_s)


def _activate(model_dir: ModelDir, sha256: str, timing: Timing, progress: Progress, name: str) -> tuple[bool, str]:
    progress(name, "reloading")
    try:
        model_dir.reload()
    except DeviceError as exc:
        return False, str(exc)
    progress(name, "waiting for healthy status")
    return _wait_healthy(model_dir, sha256, timing)


def deploy_host(plan: Plan, weights: Path, sha256: str, ssh: SshOptions, timing: Timing,
                progress: Progress) -> HostResult:
    """Run the whole deploy on one host; never raises for device or network trouble."""
    start = time.monotonic()
    name = plan.name

    def result(outcome: str, reason: str = "", sha: str = "") -> HostResult:
        return HostResult(name, outcome, reason, sha, time.monotonic() - start)

    size = weights.stat().st_size
    promoted = False
    try:
        progress(name, "connecting")
        with Session(plan.target, ssh) as session:
            model_dir = ModelDir(session, plan.device)
            before = model_dir.prepare()
            if before.get("current") == sha256:  # nothing to ship; leave previous.pkl as it is
                ok, why = _activate(model_dir, sha256, timing, progress, name)
                return result(DEPLOYED, "already current.pkl", sha256) if ok else result(
                    FAILED, f"already current.pkl, but {why}")
            tmp = model_dir.temp_name()
            progress(name, f"uploading {size} bytes")
            with open(weights, "rb") as source:
                model_dir.upload(source, tmp, sha256,
                                 lambda sent: progress(name, f"uploading {100 * sent // max(size, 1)}%"))
            progress(name, "validating on the device")
            try:
                model_dir.check_model(tmp)
            except DeviceError:
                model_dir.discard(tmp)
                raise
            progress(name, "renaming into current.pkl")
            had_current = model_dir.promote(tmp)
            promoted = True
            ok, why = _activate(model_dir, sha256, timing, progress, name)
            if ok:
                return result(DEPLOYED, "", sha256)
            progress(name, "rolling back")
            model_dir.restore(had_current)
            back, why_back = _activate(model_dir, before.get("current") if had_current else None, timing, progress,
                                       name)
            if not back:
                return result(ROLLED_BACK, f"{why}; restored the previous model, but: {why_back}",
                              before.get("current", ""))
            return result(ROLLED_BACK, why, before.get("current", ""))
    except (SshError, DeviceError) as exc:
        if promoted:  # the link died after the rename: the device may be running the new model, unconfirmed
            return result(FAILED, f"{exc} (after the new model was renamed into current.pkl; check the device "
                                  f"and use `training_host rollback {name}` if needed)")
        return result(exc.kind, str(exc))
    except Exception as exc:  # one host's surprise must not abort the other hosts' deploys
        return result(FAILED, f"{type(exc).__name__}: {exc}" + (" (after the rename into current.pkl)"
                                                                 if promoted else ""))


def rollback_host(plan: Plan, ssh: SshOptions, timing: Timing, progress: Progress) -> HostResult:
    """Swap previous.pkl back into current.pkl on one host (and swap again if it does not come up)."""
    start = time.monotonic()
    name = plan.name

    def result(outcome: str, reason: str = "", sha: str = "") -> HostResult:
        return HostResult(name, outcome, reason, sha, time.monotonic() - start)

    try:
        progress(name, "connecting")
        with Session(plan.target, ssh) as session:
            model_dir = ModelDir(session, plan.device)
            before = model_dir.prepare()
            if "previous" not in before:
                return result(REFUSED, f"no previous.pkl in {plan.device.model_dir}: nothing to roll back to")
            if before["previous"] == before.get("current"):
                return result(REFUSED, "previous.pkl is the model current.pkl already holds: nothing to roll back to",
                              before["previous"])
            progress(name, "validating previous.pkl on the device")
            model_dir.check_model(f"{plan.device.model_dir.rstrip('/')}/previous.pkl")
            progress(name, "swapping previous and current")
            model_dir.swap()
            ok, why = _activate(model_dir, before["previous"], timing, progress, name)
            if ok:
                return result(ROLLED_BACK, "previous model restored on request", before["previous"])
            model_dir.swap()
            back, why_back = _activate(model_dir, before.get("current"), timing, progress, name)
            suffix = "" if back else f"; and after swapping back: {why_back}"
            return result(FAILED, f"previous model did not come up ({why}); swapped back{suffix}",
                          before.get("current", ""))
    except (SshError, DeviceError) as exc:
        return result(exc.kind, str(exc))
    except Exception as exc:  # one host's surprise must not abort the other hosts' rollbacks
        return result(FAILED, f"{type(exc).__name__}: {exc}")


class ProgressDisplay:
    """One line per host state change on a pipe; a live bar plus result lines on a terminal."""

    def __init__(self, total: int, stream=None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.lock = threading.Lock()
        self.last: dict[str, str] = {}
        self.bar = None
        if not quiet and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="host", file=self.stream, dynamic_ncols=True)

    def step(self, host: str, what: str) -> None:
        with self.lock:
            if self.quiet or self.last.get(host) == what:
                return
            if self.bar is None and what.startswith("uploading") and what.endswith("%") and what != "uploading 100%":
                return  # on a pipe, only the start and end of an upload
            self.last[host] = what
            if self.bar is not None:
                self.bar.set_postfix_str(f"{host}: {what}"[:60])
            else:
                print(f"{time.strftime('%H:%M:%S')} {host}: {what}", file=self.stream, flush=True)

    def done(self, res: HostResult) -> None:
        with self.lock:
            if self.quiet:
                return
            line = f"{res.name}: {res.outcome}" + (f" ({res.reason})" if res.reason else "")
            if self.bar is not None:
                self.bar.write(line, file=self.stream)
                self.bar.update(1)
            else:
                print(f"{time.strftime('%H:%M:%S')} {line}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_all(plans: list[Plan], job: Callable[[Plan, Progress], HostResult], parallel: int,
            display: ProgressDisplay) -> list[HostResult]:
    """Run `job` on every host with at most `parallel` at once; results in inventory order."""
    if parallel < 1:
        raise ValueError(f"--parallel {parallel}: use 1 or more")

    def one(plan: Plan) -> HostResult:
        res = job(plan, display.step)
        display.done(res)
        return res

    try:
        with ThreadPoolExecutor(max_workers=min(parallel, max(len(plans), 1))) as pool:
            return list(pool.map(one, plans))
    finally:
        display.close()


def summary_table(results: list[HostResult]) -> str:
    """The per-host summary: outcome, running model, time and reason."""
    rows = [("HOST", "RESULT", "MODEL", "TIME", "REASON")]
    rows += [(r.name, r.outcome, r.sha256[:12], f"{r.seconds:.1f}s", r.reason) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    lines.append(", ".join(f"{n} {outcome}" for outcome, n in counts.items()) + f" of {len(results)} hosts")
    return "\n".join(line.rstrip() for line in lines)
