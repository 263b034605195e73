"""How much of the dev photos' accuracy survives other cameras? `anpr eval` on changed copies (`make robustness`).

The pipeline's thresholds were tuned on the dev photos, and the recognition is also measured on
photos nobody here has. Reading the same photos shrunk, enlarged, blurred or darkened shows how
much a figure depends on the exact look of these files: a change that helps on the dev photos but
loses on the changed copies fits those files, not plates. Each variant is written to a temporary
folder in the benchmark layout (boxes scaled with the image) and read with each folder's region, as
`anpr eval` does. Figures go to bench-results/robustness.json.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anpr.evaluate import evaluate, find_samples, readers_by_region  # noqa: E402
from anpr.imageio import load_image  # noqa: E402
from anpr.pipeline import load_default_classifier  # noqa: E402
from benchmarks import DEV_PHOTOS, write_figures  # noqa: E402

Change = Callable[[np.ndarray], np.ndarray]


def gamma(g: float) -> Change:
    lut = np.round(255.0 * (np.arange(256) / 255.0) ** g).astype(np.uint8)
    return lambda im: cv2.LUT(im, lut)


# name -> (image change, factor the plate boxes scale by)
VARIANTS: dict[str, tuple[Change | None, float]] = {
    "as is": (None, 1.0),
    "shrunk 0.7x": (lambda im: cv2.resize(im, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA), 0.7),
    "enlarged 1.4x": (lambda im: cv2.resize(im, None, fx=1.4, fy=1.4, interpolation=cv2.INTER_CUBIC), 1.4),
    "blurred (sigma 1 px)": (lambda im: cv2.GaussianBlur(im, (0, 0), 1.0), 1.0),
    "darker (gamma 1.6)": (gamma(1.6), 1.0),
}


def write_variants(src: Path, folders: list[Path]) -> None:
    """Copies of the annotated folder `src`, one per entry of VARIANTS in `folders`: every photo is
    decoded once, changed each way and saved losslessly with its box scaled."""
    for sample in find_samples(src):
        image = load_image(sample.image)
        for folder, (change, scale) in zip(folders, VARIANTS.values()):
            out = folder / sample.region
            out.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / f"{sample.image.stem}.png"), image if change is None else change(image))
            x, y, w, h = (round(v * scale) for v in sample.box)
            (out / f"{sample.image.stem}.txt").write_text(
                f"{sample.image.stem}.png\t{x}\t{y}\t{w}\t{h}\t{sample.plate}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", type=Path, default=DEV_PHOTOS, help="annotated photos (default: the dev photos)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-results" / "robustness.json")
    args = ap.parse_args(argv)
    if not args.dir.is_dir():
        print(f"{args.dir}: no such folder (the dev photos live in ../shared/data)", file=sys.stderr)
        return 2
    classifier = load_default_classifier()
    reader_for = readers_by_region(classifier)
    figures: dict[str, dict] = {}
    print(f"{'variant':<22} {'br':>6} {'eu':>6} {'us':>6} {'overall':>8}")
    with tempfile.TemporaryDirectory(prefix="anpr-robustness-") as tmp:
        folders = [Path(tmp) / str(k) for k in range(len(VARIANTS))]
        write_variants(args.dir, folders)
        for name, folder in zip(VARIANTS, folders):
            report = evaluate(folder, reader_for)
            exact = {g: s["exact"] for g, s in report["regions"].items()}
            exact["overall"] = report["overall"]["exact"]
            figures[name] = {"exact": exact, "detection": report["overall"]["detection"]}
            row = " ".join(f"{100 * exact.get(g, 0.0):>5.1f}%" for g in ("br", "eu", "us"))
            print(f"{name:<22} {row} {100 * exact['overall']:>7.1f}%", flush=True)
    write_figures({"photos": str(args.dir), "model": classifier.sha256[:8], "variants": figures}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
