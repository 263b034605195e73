"""`anpr read` and `anpr eval`: the command-line contract other tools build on.

    anpr read [--json] [--region R] [--weights FILE] [--debug-dir DIR] IMAGE...
    anpr eval DIR [--region R] [--save-failures DIR] [--json FILE]

Exit codes: 0 all good, 1 some image could not be read (its line carries "error"; in `eval`, its result
does, it counts as a miss and stderr names it), 2 usage errors (bad options, a weights file that cannot
be loaded, an eval folder without annotated images).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

from .imageio import ImageError, load_image
from .params import DEFAULT_MAX_PIXELS
from .pipeline import PlateReader
from .regions import REGIONS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem with what the user asked for; exit code 2."""


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anpr", description="Read number plates from photos.")
    sub = parser.add_subparsers(dest="command", required=True)

    read = sub.add_parser("read", help="read the plates in one or more images")
    read.add_argument("images", nargs="+", metavar="IMAGE")
    read.add_argument("--json", action="store_true", help="one JSON object per image per line")
    read.add_argument("--region", choices=REGIONS, default="auto",
                      help="plate formats for rescoring (default auto: every region's, weighed by the "
                           "line's proportions; naming the camera's region reads more plates)")
    read.add_argument("--weights", type=Path, help="CNN weights file (default: the packaged model)")
    read.add_argument("--debug-dir", type=Path, help="write the intermediate images of each step here")
    read.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                      help=f"refuse images above this many pixels (default {DEFAULT_MAX_PIXELS})")
    read.set_defaults(func=cmd_read)

    ev = sub.add_parser("eval", help="accuracy on a folder laid out as REGION/NAME.jpg + NAME.txt")
    ev.add_argument("dir", type=Path, metavar="DIR")
    ev.add_argument("--region", choices=REGIONS, default=None,
                    help="plate formats for rescoring (default: each folder's name when it is a region, else auto)")
    ev.add_argument("--save-failures", type=Path, metavar="DIR", help="write annotated images of each miss here")
    ev.add_argument("--json", type=Path, metavar="FILE", help="write all figures and per-image results here")
    ev.add_argument("--weights", type=Path, help="CNN weights file (default: the packaged model)")
    ev.set_defaults(func=cmd_eval)
    return parser


def load_classifier(weights: Path | None):
    """The CNN, from `weights` or the packaged default; UsageError with the loader's reason."""
    try:
        from .classify import CharClassifier

        return CharClassifier(weights)
    except (ValueError, OSError, ImportError) as exc:
        where = weights if weights is not None else "the packaged default model"
        raise UsageError(f"cannot load CNN weights from {where}: {exc}") from None


def cmd_read(args: argparse.Namespace) -> int:
    reader = PlateReader(load_classifier(args.weights), region=args.region)
    failed = 0
    if not args.json:
        print(f"{'image':<40} {'plate':<10} {'conf':>5} {'box':<22} {'ms':>7}")
    for name in args.images:
        try:
            image = load_image(name, max_pixels=args.max_pixels)
        except ImageError as exc:
            failed += 1
            print(f"anpr read: {exc}", file=sys.stderr)
            if args.json:
                print(json.dumps({"image": name, "error": str(exc)}), flush=True)
            else:
                print(f"{name:<40} ERROR: {exc}")
            continue
        debug = args.debug_dir / Path(name).stem if args.debug_dir else None
        t0 = time.perf_counter()
        plates = reader.read(image, debug_dir=debug)
        ms = round((time.perf_counter() - t0) * 1000.0, 1)
        if args.json:
            out = {
                "image": name,
                "plates": [{"text": p.text, "confidence": p.confidence, "box": list(p.box)} for p in plates],
                "ms": ms,
            }
            print(json.dumps(out), flush=True)
        elif not plates:
            print(f"{name:<40} {'-':<10} {'':>5} {'':<22} {ms:>7.1f}")
        else:
            for i, p in enumerate(plates):
                label = name if i == 0 else ""
                box = ",".join(str(v) for v in p.box)
                print(f"{label:<40} {p.text:<10} {p.confidence:>5.2f} {box:<22} {ms if i == 0 else '':>7}")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate, format_table, readers_by_region, write_json

    if not args.dir.is_dir():
        raise UsageError(f"{args.dir}: not a directory (expected REGION/NAME.jpg + NAME.txt)")
    classifier = load_classifier(args.weights)
    reader_for = readers_by_region(classifier)

    def progress(i: int, n: int, res) -> None:
        if sys.stderr.isatty():
            print(f"\r{i}/{n}", end="", file=sys.stderr, flush=True)

    try:
        report = evaluate(args.dir, reader_for, args.region, args.save_failures, progress)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(format_table(report))
    if args.json:
        write_json(report, args.json)
    failed = [r for r in report["results"] if r["error"]]
    for r in failed:
        print(f"anpr eval: {r['error']} (counted as a miss)", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on usage errors
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"anpr {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
