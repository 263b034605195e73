"""`anpr eval`: accuracy of the pipeline on a folder laid out like the OpenALPR benchmark.

Layout: DIR/REGION/NAME.jpg with NAME.txt holding `NAME.jpg<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE`.
Figures per region and overall: exact plate accuracy of the top read, the same with the glyph twins
O/0 and I/1 counted alike (`regions.GLYPH_TWINS`: plate fonts draw them the same, annotators type
either), character accuracy (1 - edit distance / length), detection rate (some reported box with
IoU >= 0.4 against the truth, as the OpenALPR benchmark counts), and the median / p90 processing time
per image (decode excluded).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .debug import draw_reads
from .imageio import ImageError, load_image
from .localize import iou
from .pipeline import PlateRead, PlateReader
from .regions import REGIONS, fold_twins

DETECTION_IOU = 0.4
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass
class Sample:
    image: Path
    region: str
    box: tuple[int, int, int, int]
    plate: str


@dataclass
class Result:
    image: str
    region: str
    truth: str
    read: str
    exact: bool
    exact_twins: bool  # exact once O/0 and I/1 are counted alike
    char_accuracy: float
    detected: bool
    ms: float
    error: str = ""
    plates: list[dict] = field(default_factory=list)


def parse_truth(txt: Path) -> tuple[tuple[int, int, int, int], str]:
    """(box, plate) from a benchmark annotation file; ValueError naming the file when malformed."""
    parts = txt.read_text(encoding="utf-8", errors="replace").split()
    if len(parts) < 6:
        raise ValueError(f"{txt}: expected 'NAME x y w h PLATE', got {' '.join(parts)!r}")
    x, y, w, h = (int(v) for v in parts[1:5])
    return (x, y, w, h), parts[5].upper()


def find_samples(root: Path) -> list[Sample]:
    """Annotated images under root/REGION/, sorted by region then name."""
    samples = []
    files = sorted(Path(d) / f for d, _, fs in os.walk(root, followlinks=True) for f in fs)
    for img in files:
        if img.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        txt = img.with_suffix(".txt")
        if not txt.exists():
            continue
        box, plate = parse_truth(txt)
        region = img.parent.name if img.parent != root else "all"
        samples.append(Sample(img, region, box, plate))
    return samples


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_accuracy(truth: str, read: str) -> float:
    return max(0.0, 1.0 - edit_distance(truth, read) / max(len(truth), 1))


def region_for(sample: Sample, region: str | None) -> str:
    """The region format set for a sample: the one asked for, else the folder's name when it is one."""
    if region:
        return region
    return sample.region if sample.region in REGIONS else "auto"


def evaluate_sample(reader: PlateReader, sample: Sample) -> tuple[Result, np.ndarray | None, list[PlateRead]]:
    try:
        image = load_image(sample.image)
    except ImageError as exc:
        return Result(str(sample.image), sample.region, sample.plate, read="", exact=False, exact_twins=False,
                      char_accuracy=0.0, detected=False, ms=0.0, error=str(exc)), None, []
    t0 = time.perf_counter()
    reads = reader.read(image)
    ms = (time.perf_counter() - t0) * 1000.0
    text = reads[0].text if reads else ""
    detected = any(iou(r.box, sample.box) >= DETECTION_IOU for r in reads)
    res = Result(
        str(sample.image), sample.region, sample.plate, read=text, exact=text == sample.plate,
        exact_twins=fold_twins(text) == fold_twins(sample.plate), char_accuracy=char_accuracy(sample.plate, text),
        detected=detected, ms=round(ms, 2),
        plates=[{"text": r.text, "confidence": r.confidence, "box": list(r.box)} for r in reads],
    )
    return res, image, reads


def save_failure(out_dir: Path, res: Result, sample: Sample, image: np.ndarray, reads: list[PlateRead]) -> None:
    """An annotated copy of a missed image: truth in blue, reads in red/green, both texts on top."""
    items = [(r.box, f"{r.text} {r.confidence:.2f}", r.text == sample.plate) for r in reads]
    out = draw_reads(image, items)
    x, y, w, h = sample.box
    cv2.rectangle(out, (x, y), (x + w, y + h), (255, 0, 0), 1)
    label = f"truth {sample.plate} | read {res.read or '-'} | {'detected' if res.detected else 'NOT detected'}"
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_dir / f"{sample.region}-{sample.image.stem}.jpg"), out)


def summarize(results: list[Result]) -> dict:
    """Accuracy and timing figures for a list of results."""
    if not results:
        return {"images": 0}
    ms = np.array([r.ms for r in results if not r.error] or [0.0])
    return {
        "images": len(results),
        "exact": round(float(np.mean([r.exact for r in results])), 4),
        "exact_twins": round(float(np.mean([r.exact_twins for r in results])), 4),
        "char_accuracy": round(float(np.mean([r.char_accuracy for r in results])), 4),
        "detection": round(float(np.mean([r.detected for r in results])), 4),
        "median_ms": round(float(np.median(ms)), 2),
        "p90_ms": round(float(np.percentile(ms, 90)), 2),
        "errors": sum(1 for r in results if r.error),
    }


def readers_by_region(classifier):
    """A `reader_for_region` for `evaluate`: one PlateReader per region, built when first asked for,
    all sharing `classifier` (the CNN is loaded once)."""
    readers: dict[str, PlateReader] = {}

    def reader_for(region: str) -> PlateReader:
        if region not in readers:
            readers[region] = PlateReader(classifier, region=region)
        return readers[region]

    return reader_for


def evaluate(root: Path, reader_for_region, region: str | None = None, save_failures: Path | None = None,
             progress=None) -> dict:
    """Run the pipeline over `root`; returns {"regions": {...}, "overall": {...}, "results": [...]}."""
    samples = find_samples(root)
    if not samples:
        raise ValueError(f"{root}: no annotated images found (expected REGION/NAME.jpg with NAME.txt beside)")
    results: list[Result] = []
    for i, s in enumerate(samples):
        reader = reader_for_region(region_for(s, region))
        res, image, reads = evaluate_sample(reader, s)
        results.append(res)
        if save_failures is not None and not res.exact and image is not None:
            save_failure(save_failures, res, s, image, reads)
        if progress:
            progress(i + 1, len(samples), res)
    regions = sorted({r.region for r in results})
    return {
        "regions": {g: summarize([r for r in results if r.region == g]) for g in regions},
        "overall": summarize(results),
        "results": [asdict(r) for r in results],
    }


def format_table(report: dict) -> str:
    """Readable table of the per-region and overall figures."""
    head = (f"{'region':<8} {'images':>6} {'exact':>7} {'O=0,I=1':>8} {'chars':>7} {'detect':>7} {'med ms':>7} "
            f"{'p90 ms':>7}")
    lines = [head, "-" * len(head)]
    rows = list(report["regions"].items()) + [("overall", report["overall"])]
    for name, s in rows:
        lines.append(
            f"{name:<8} {s['images']:>6} {100 * s['exact']:>6.1f}% {100 * s['exact_twins']:>7.1f}% "
            f"{100 * s['char_accuracy']:>6.1f}% "
            f"{100 * s['detection']:>6.1f}% {s['median_ms']:>7.1f} {s['p90_ms']:>7.1f}"
        )
    return "\n".join(lines)


def write_json(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
