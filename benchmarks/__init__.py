"""The benchmarks (`make bench`); each `bench_*.py` writes its figures with `write_figures`."""
from __future__ import annotations

import json
import os
from pathlib import Path

# the annotated dev photos, read where the tests read them (never copied into the repository)
DEV_PHOTOS = (Path(os.environ.get("ANPR_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
              / "openalpr-benchmark-dev")


def write_figures(figures: dict, out: Path) -> None:
    """Write a benchmark's figures as JSON to `out` (bench-results/<name>.json), creating its folder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
