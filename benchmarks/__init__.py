"""The benchmarks (`make bench`); each `bench_*.py` writes its figures with `write_figures`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# the annotated dev photos, read where the tests read them (never copied into the repository)
DEV_PHOTOS = (Path(os.environ.get("ANPR_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
              / "openalpr-benchmark-dev")


def write_figures(figures: dict, out: Path) -> None:
    """Write a benchmark's figures as JSON to `out` (bench-results/<name>.json), creating its folder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")


def run_worker(script: str | Path, worker: list[str], options: list[str] | None = None, env_extra: dict | None = None,
               timeout_s: float = 900) -> dict:
    """Run `script [OPTIONS] --worker WORKER...` in a process of its own (PyTensor's and JAX's settings
    are fixed at import) and return the JSON object on its last line, or {"error": ...} saying why not."""
    env = dict(os.environ, **(env_extra or {}))
    cmd = [sys.executable, str(Path(script).resolve()), *(options or []), "--worker", *worker]
    try:
        proc = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:] or ["no output"]
        return {"error": f"exit {proc.returncode}: {' | '.join(tail)[:400]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])
