"""Pipeline speed: milliseconds per 1080p and 720p frame end to end on ONE core, and `anpr read`'s peak RSS.

Frames are dev photos (../shared/data/openalpr-benchmark-dev) resized to exactly 1920x1080 and
1280x720, decoded beforehand: the time is `PlateReader.read` alone (localization, rectification,
segmentation, the CNN, rescoring), as the daemon spends it per camera frame. OMP_NUM_THREADS=1 is set
before numpy is imported and OpenCV is limited to one thread, so the figure is one core's.
"""
from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anpr.pipeline import PlateReader  # noqa: E402
from benchmarks import DEV_PHOTOS as DEV, write_figures  # noqa: E402

SIZES = {"1080p": (1920, 1080), "720p": (1280, 720)}
FRAMES_PER_REGION = 12
WARMUP = 2


def dev_images(per_region: int) -> list[Path]:
    """A fixed spread of dev photos: every k-th of each region, sorted by name."""
    out = []
    for region in ("br", "eu", "us"):
        photos = sorted((DEV / region).glob("*.jpg"))
        step = max(1, len(photos) // per_region)
        out += photos[::step][:per_region]
    return out


def time_frames(reader: PlateReader, frames: list[np.ndarray]) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds per frame. On a shared machine the CPU time (this process,
    one thread) is the fairer one-core figure; on an idle core the two agree."""
    for f in frames[:WARMUP]:
        reader.read(f)
    wall, cpu = [], []
    for f in frames:
        t0, c0 = time.perf_counter(), time.process_time()
        reader.read(f)
        wall.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.process_time() - c0) * 1000.0)
    return wall, cpu


def peak_rss_of_read(images: list[Path]) -> float:
    """Peak resident memory (MiB) of one `anpr read --json` process over the given images."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-m", "anpr.cli", "read", "--json", *map(str, images)], cwd=ROOT,
                   stdout=subprocess.DEVNULL, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(before, after) / 1024.0  # Linux reports KiB


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, help="write the figures here as JSON")
    ap.add_argument("--per-region", type=int, default=FRAMES_PER_REGION)
    args = ap.parse_args()
    if not DEV.exists():
        print(f"dev photos not found at {DEV}; nothing to measure", file=sys.stderr)
        return 1
    cv2.setNumThreads(1)
    images = dev_images(args.per_region)
    # measured first: a child forked from this process after the frames are loaded would count
    # the parent's pages it shares until exec in its own peak
    rss = peak_rss_of_read(images)
    originals = [cv2.imread(str(p)) for p in images]
    reader = PlateReader()
    results: dict[str, dict] = {}
    for name, (w, h) in SIZES.items():
        frames = [cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA if im.shape[1] > w else cv2.INTER_LINEAR)
                  for im in originals]
        wall, cpu = (np.array(v) for v in time_frames(reader, frames))
        results[name] = {
            "frames": len(frames),
            "median_ms": round(float(np.median(wall)), 2),
            "p90_ms": round(float(np.percentile(wall, 90)), 2),
            "cpu_median_ms": round(float(np.median(cpu)), 2),
            "cpu_p90_ms": round(float(np.percentile(cpu, 90)), 2),
            "max_ms": round(float(wall.max()), 2),
        }
    load = os.getloadavg()[0]
    print(f"{'frame':<7} {'frames':>6} {'median ms':>10} {'p90 ms':>8} {'cpu med':>8} {'cpu p90':>8} {'max ms':>8}")
    for name, r in results.items():
        print(f"{name:<7} {r['frames']:>6} {r['median_ms']:>10.1f} {r['p90_ms']:>8.1f} {r['cpu_median_ms']:>8.1f} "
              f"{r['cpu_p90_ms']:>8.1f} {r['max_ms']:>8.1f}")
    print(f"peak RSS of `anpr read --json` over {len(images)} photos: {rss:.0f} MiB")
    print("(one core: OMP_NUM_THREADS=1, cv2.setNumThreads(1); decode excluded; target median <= 25 ms at 1080p;"
          f" load average {load:.1f}: when above the core count, trust the cpu columns)")
    figures = {"threads": 1, "load_average": round(load, 2), "sizes": results, "anpr_read_peak_rss_mib": round(rss, 1),
               "images": [str(p.relative_to(DEV)) for p in images]}
    if args.out:
        write_figures(figures, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
