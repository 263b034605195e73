"""The benchmarks (`make bench`); each `bench_*.py` writes its figures with `write_figures`."""
from __future__ import annotations

import json
from pathlib import Path


def write_figures(figures: dict, out: Path) -> None:
    """Write a benchmark's figures as JSON to `out` (bench-results/<name>.json), creating its folder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
