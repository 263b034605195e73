"""Device daemon benchmark: trigger-to-logged latency, memory after 1000 reads, sustained reads/s.

All runs use the real daemon loop (files camera, real recognition pipeline, SQLite commit, snapshot)
over frames drawn by `device.samples` (no third-party photos needed):
- latency: 1080p bursts of 3 frames on the interval trigger, from the trigger firing to the read
  committed and announced (median and p90), with the default 0.15 s frame spacing and with none;
- memory and throughput: `continuous` trigger, bursts of 1, repeat suppression off, 1000 reads,
  one child process per engine (numpy, pytensor) so each RSS figure is that engine's alone.

    python benchmarks/bench_daemon.py --out bench-results/daemon.json [--reads 1000] [--bursts 15]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import DEV_PHOTOS, write_figures  # noqa: E402

LATENCY_SIZE = (1920, 1080)
LATENCY_BURST = 3
THROUGHPUT_SIZE = (1280, 720)
THROUGHPUT_CARS = 50
ENGINES = ("numpy", "pytensor")
RSS_GOALS_MB = {"numpy": 100, "pytensor": 250}
# Compiled PyTensor code is cached as on a device (/var/cache/anpr), so startup_s shows a warm start
# from the second run on.
CACHE_DIR = Path(os.environ.get("ANPR_BENCH_CACHE", Path(tempfile.gettempdir()) / "anpr-bench-cache"))


def proc_status_mb() -> dict[str, float]:
    """Memory lines of /proc/self/status in MB (VmRSS, VmHWM = peak, RssAnon, RssFile = mapped files)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB."""
    fields = proc_status_mb()
    return fields["VmRSS"], fields["VmHWM"]


MODEL_PATH: str | None = None  # --model: weights to run instead of the packaged default
MIN_CONFIDENCE: float | None = None  # --min-confidence (0 with untrained weights: every frame logs a read)
RUN_LIMIT_S = 900  # a run that cannot reach its read count (model reads nothing) is stopped, not left hanging


def _run(daemon) -> int:
    import threading

    timer = threading.Timer(RUN_LIMIT_S, daemon.request_stop, args=("benchmark time limit",))
    timer.daemon = True
    timer.start()
    try:
        return daemon.run(install_signals=False)
    finally:
        timer.cancel()


def _config(tmp: Path, frames: Path, engine: str, **sections):
    from device.config import parse_config

    cfg = {
        "paths": {"state_dir": str(tmp / "state"), "cache_dir": str(CACHE_DIR)},
        "model": {"engine": engine, **({"path": MODEL_PATH} if MODEL_PATH else {})},
        "camera": {"kind": "files", "name": "bench", "files": {"folder": str(frames), "loop": True}},
        "recognition": {"repeat_window_s": 0.0, **({"min_confidence": MIN_CONFIDENCE} if MIN_CONFIDENCE is not None else {})},
        "journal": {"enabled": False},
        "logging": {"level": "WARNING"},
    }
    for name, values in sections.items():
        cfg.setdefault(name, {}).update(values)
    return parse_config(cfg, "<bench>")


def _quiet_logging() -> None:
    from device.journal import setup_logging

    setup_logging("WARNING")


def latency_run(frames: Path, bursts: int, spacing_s: float, engine: str = "numpy", source: str = "synthetic",
                truths: list[str] | None = None) -> dict:
    from device.daemon import Daemon

    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        # Every burst is one car; a files camera without loop ends the run when the frames are done.
        config = _config(Path(tmp), frames, engine, trigger={"kind": "interval", "interval": {"every_s": 0.05}},
                         burst={"frames": LATENCY_BURST, "spacing_s": spacing_s},
                         camera={"files": {"folder": str(frames), "loop": False}})
        daemon = Daemon(config, max_reads=bursts)
        started = time.monotonic()
        rc = _run(daemon)
        elapsed = time.monotonic() - started
        lat = sorted(daemon.latencies)
        from device.store import PlateStore

        store = PlateStore(config.store_path, readonly=True)
        logged = [r.plate for r in store.query()]
        store.close()
    if rc != 0 or not lat:
        raise RuntimeError(f"latency run failed (rc {rc}, {len(lat)} reads)")
    return {
        "source": source,
        "correct": sum(p in (truths or []) for p in logged) if truths else None,
        "spacing_s": spacing_s,
        "reads": len(lat),
        "bursts": daemon.triggers_total,
        "median_s": round(statistics.median(lat), 4),
        "p90_s": round(lat[min(len(lat) - 1, int(0.9 * len(lat)))], 4),
        "wall_s": round(elapsed, 1),
    }


def dev_photo_frames(folder: Path, bursts: int) -> list[str] | None:
    """Real dev photos (us/, 1280x720) scaled to 1080p, each repeated for a burst; None when absent.

    Written to a temporary folder only: the data set is never copied into the repository.
    """
    import cv2

    from anpr.evaluate import parse_truth

    photos = DEV_PHOTOS / "us"
    if not photos.is_dir():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    truths = []
    for txt in sorted(photos.glob("*.txt")):
        plate = parse_truth(txt)[1]
        image = cv2.imread(str(txt.with_suffix(".jpg")))
        if image is None or image.shape[:2] != (720, 1280):
            continue
        big = cv2.resize(image, LATENCY_SIZE, interpolation=cv2.INTER_LINEAR)
        for j in range(LATENCY_BURST):
            cv2.imwrite(str(folder / f"{len(truths):04d}_{j}.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 92])
        truths.append(plate)
        if len(truths) == bursts:
            break
    return truths


def throughput_child(frames: Path, engine: str, reads: int) -> dict:
    """Run in a fresh process: 1000 reads on the continuous trigger, then RSS."""
    from device.daemon import Daemon

    _quiet_logging()
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        config = _config(Path(tmp), frames, engine, trigger={"kind": "continuous"},
                         burst={"frames": 1, "spacing_s": 0.0}, store={"snapshots": "crop"})
        daemon = Daemon(config, max_reads=reads)
        rss_start = None
        t_first = None

        def on_read(_msg: str) -> None:
            nonlocal rss_start, t_first
            if t_first is None:  # model loaded (and compiled), first read done: steady state starts here
                t_first = time.monotonic()
                rss_start = rss_mb()[0]

        daemon.on_read = on_read
        t0 = time.monotonic()
        rc = _run(daemon)
        t_end = time.monotonic()
        rss, peak = rss_mb()
        parts = proc_status_mb()
        triggers = daemon.triggers_total
        n = daemon.reads_total
    if rc != 0 or n < reads:
        raise RuntimeError(f"{engine}: only {n} reads (rc {rc})")
    return {
        "engine": engine,
        "reads": n,
        "frames": triggers,
        "read_rate": round(n / triggers, 3),
        "startup_s": round(t_first - t0, 2),
        "reads_per_s": round((n - 1) / (t_end - t_first), 2),
        "rss_after_first_read_mb": round(rss_start, 1),
        "rss_after_reads_mb": round(rss, 1),
        "peak_rss_mb": round(peak, 1),
        # RSS split: private heap vs pages of mapped libraries (cv2, numpy/OpenBLAS, Python), shared with
        # other processes and reclaimable under memory pressure.
        "rss_anon_mb": round(parts.get("RssAnon", 0.0), 1),
        "rss_file_mb": round(parts.get("RssFile", 0.0), 1),
        "goal_rss_mb": RSS_GOALS_MB[engine],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "daemon.json")
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--bursts", type=int, default=15)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--model", help="weights file (default: the packaged default weights)")
    parser.add_argument("--min-confidence", type=float, help="override [recognition] min_confidence")
    parser.add_argument("--child", nargs=3, metavar=("FRAMES", "ENGINE", "READS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global MODEL_PATH, MIN_CONFIDENCE
    MODEL_PATH = str(Path(args.model).resolve()) if args.model else None
    MIN_CONFIDENCE = args.min_confidence
    if args.child:
        print(json.dumps(throughput_child(Path(args.child[0]), args.child[1], int(args.child[2]))))
        return 0

    from device.samples import generate_samples

    _quiet_logging()
    results: dict = {"latency": [], "throughput": []}
    with tempfile.TemporaryDirectory(prefix="bench-frames-") as tmp:
        big, small = Path(tmp) / "1080p", Path(tmp) / "720p"
        generate_samples(big, cars=args.bursts + 2, frames_per_car=LATENCY_BURST, size=LATENCY_SIZE, seed=11)
        generate_samples(small, cars=THROUGHPUT_CARS, frames_per_car=1, size=THROUGHPUT_SIZE, seed=12)
        for spacing in (0.15, 0.0):
            results["latency"].append(latency_run(big, args.bursts, spacing))
        truths = dev_photo_frames(Path(tmp) / "dev1080p", args.bursts)
        if truths:
            results["latency"].append(latency_run(Path(tmp) / "dev1080p", args.bursts, 0.15, source="dev photos",
                                                  truths=truths))
        for engine in args.engines.split(","):
            model = ["--model", MODEL_PATH] if MODEL_PATH else []
            if MIN_CONFIDENCE is not None:
                model += ["--min-confidence", str(MIN_CONFIDENCE)]
            proc = subprocess.run([sys.executable, __file__, *model, "--child", str(small), engine, str(args.reads)],
                                  capture_output=True, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
            if proc.returncode != 0:
                print(f"{engine}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                results["throughput"].append({"engine": engine, "error": proc.stderr.strip().splitlines()[-1:]})
                continue
            results["throughput"].append(json.loads(proc.stdout.strip().splitlines()[-1]))

    print(f"\nTrigger-to-logged latency, {LATENCY_SIZE[0]}x{LATENCY_SIZE[1]} burst of {LATENCY_BURST}, numpy engine")
    print(f"{'frames':>11} {'spacing s':>10} {'bursts':>7} {'reads':>6} {'median s':>9} {'p90 s':>7}")
    for r in results["latency"]:
        print(f"{r['source']:>11} {r['spacing_s']:>10.2f} {r['bursts']:>7} {r['reads']:>6} {r['median_s']:>9.3f} "
              f"{r['p90_s']:>7.3f}" + (f"  ({r['correct']} logged plates match the annotation)" if r["correct"] is not None else ""))
    print(f"\nContinuous trigger, {THROUGHPUT_SIZE[0]}x{THROUGHPUT_SIZE[1]} frames, bursts of 1, {args.reads} reads")
    print(f"{'engine':>9} {'reads/s':>8} {'RSS MB':>7} {'goal':>5} {'anon MB':>8} {'files MB':>9} {'peak MB':>8} "
          f"{'start s':>8} {'read rate':>9}")
    for r in results["throughput"]:
        if "error" in r:
            print(f"{r['engine']:>9} failed: {r['error']}")
            continue
        print(f"{r['engine']:>9} {r['reads_per_s']:>8.2f} {r['rss_after_reads_mb']:>7.1f} {r['goal_rss_mb']:>5} "
              f"{r['rss_anon_mb']:>8.1f} {r['rss_file_mb']:>9.1f} {r['peak_rss_mb']:>8.1f} {r['startup_s']:>8.1f} {r['read_rate']:>9.2f}")
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    write_figures(results, args.out)
    return 0 if all("error" not in r for r in results["throughput"]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
