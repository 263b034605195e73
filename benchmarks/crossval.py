"""Do annotated plate photos help the CNN? Held-out accuracy with and without them (`make crossval`).

Training on character crops cut from annotated photos (`training_host train --source
platephotos=DIR`) and then running `anpr eval` on the same photos would measure a model on its own
training plates. This script gives the honest figure on the dev photos: they are split into
`--folds` parts by a hash of their names; for each part a model is trained on the recipe plus the
photos of the other parts, and evaluated on that part alone. Beside it, on the same photos: the
recipe retrained without photos (same seed: the fair comparison) and the shipped model. Each fold
gets a data root of links (every folder of ../shared/data as it is, `openalpr-benchmark-dev` holding
only the fold's training photos), so recipe paths resolve as usual. Figures go to
bench-results/crossval.json; the runs stay in runs/crossval/.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anpr.evaluate import find_samples  # noqa: E402
from benchmarks import DEV_PHOTOS, write_figures  # noqa: E402

# the photos' crops as a source of their own, 6 copies each (5 degraded), like the real plate crops
PHOTOS_ARGS = f"--source platephotos={DEV_PHOTOS.name} --weight platephotos=6"
MODELS = ("with_photos", "without_photos", "shipped")


def fold_of(name: str, folds: int) -> int:
    """The fold a photo belongs to: stable across runs and machines."""
    return zlib.crc32(name.encode()) % folds


def link_photos(samples, dest: Path) -> None:
    """`dest`/REGION/NAME.jpg|.txt as links to the photos `samples` and their annotations."""
    for s in samples:
        d = dest / s.region
        d.mkdir(parents=True, exist_ok=True)
        for f in (s.image, s.image.with_suffix(".txt")):
            (d / f.name).symlink_to(f.resolve())


def train(out: Path, data_root: Path, seed: int, extra: list[str]) -> Path:
    subprocess.run([sys.executable, "-m", "training_host.cli", "train", "--data-root", str(data_root),
                    "--out-dir", str(out), "--seed", str(seed), "--no-progress", *extra], check=True, cwd=ROOT)
    return out / "model.pkl"


def evaluate(weights: Path | None, photos: Path, out: Path) -> list[dict]:
    """Per-image results of `anpr eval` (one core, as the accuracy table is measured)."""
    cmd = [sys.executable, "-m", "anpr.cli", "eval", str(photos), "--json", str(out)]
    if weights:
        cmd += ["--weights", str(weights)]
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
                   stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())["results"]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folds", type=int, default=2, help="parts the dev photos are split into (default 2)")
    ap.add_argument("--seed", type=int, default=0, help="training seed of every model")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "crossval", help="folder for the runs")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-results" / "crossval.json")
    ap.add_argument("--photos-args", default=PHOTOS_ARGS,
                    help=f"how the photos enter training (default: '{PHOTOS_ARGS}')")
    args = ap.parse_args(argv)
    if not DEV_PHOTOS.is_dir():
        print(f"crossval: {DEV_PHOTOS} not found; put ../shared beside the checkout or set ANPR_SHARED_DATA",
              file=sys.stderr)
        return 2
    if args.folds < 2:
        print(f"crossval: --folds {args.folds}: need at least 2", file=sys.stderr)
        return 2
    shutil.rmtree(args.work, ignore_errors=True)
    samples = find_samples(DEV_PHOTOS)
    print(f"retraining without photos (seed {args.seed})", flush=True)
    baseline = train(args.work / "without-photos", DEV_PHOTOS.parent, args.seed, [])
    rows: dict[str, list[dict]] = {m: [] for m in MODELS}
    for k in range(args.folds):
        work = args.work / f"fold{k}"
        test = [s for s in samples if fold_of(s.image.name, args.folds) == k]
        data = work / "data"
        data.mkdir(parents=True)
        for entry in DEV_PHOTOS.parent.iterdir():
            if entry.name != DEV_PHOTOS.name:
                (data / entry.name).symlink_to(entry.resolve())
        link_photos([s for s in samples if fold_of(s.image.name, args.folds) != k], data / DEV_PHOTOS.name)
        link_photos(test, work / "test")
        print(f"fold {k}: training with the photos of the other folds, testing on its {len(test)}", flush=True)
        model = train(work, data, args.seed, args.photos_args.split())
        for name, weights in zip(MODELS, (model, baseline, None)):
            rows[name] += evaluate(weights, work / "test", work / f"eval-{name}.json")
    figures: dict = {"folds": args.folds, "seed": args.seed, "photos_args": args.photos_args, "regions": {}}
    for name, results in rows.items():
        for region in sorted({r["region"] for r in results}) + ["overall"]:
            sel = [r for r in results if region in ("overall", r["region"])]
            entry = figures["regions"].setdefault(region, {"images": len(sel)})
            entry[f"{name}_exact_pct"] = round(100.0 * sum(r["exact"] for r in sel) / len(sel), 1)
    write_figures(figures, args.out)
    print(f"{'region':<8} {'images':>6} {'with photos':>12} {'without':>8} {'shipped':>8}   (held-out exact %)")
    for region, f in figures["regions"].items():
        print(f"{region:<8} {f['images']:>6} {f['with_photos_exact_pct']:>12.1f} "
              f"{f['without_photos_exact_pct']:>8.1f} {f['shipped_exact_pct']:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
