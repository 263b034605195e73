"""`training_host train`: build the training set from a recipe, train the CNN, write the artefacts.

Writes into `--out-dir`: the weights pickle + `.sha256` sidecar (`anpr.weights.save_weights`),
`metrics.json` (recipe, sample counts, history, per-source accuracy on the held-out validation and
test plates, confusions, timings), `curves.png` (learning curves) and `confusion.png` (test set).
A fixed `--seed` reproduces the data (augmentation included) and the training.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .recipe import (DEFAULT_DATA_ROOT, DEFAULT_RECIPE_TOML, PreparedData, RecipeError, load_recipe, prepare,
                     with_overrides)
from .datasets.charset import class_indices
from .trainer import DEFAULT_BATCH_SIZE, DEFAULT_LEARNING_RATE

DEFAULT_EPOCHS = 12
DEFAULT_PATIENCE = 4
DEFAULT_OUT_DIR = Path("runs/train")
WEIGHTS_NAME = "model.pkl"
METRICS_NAME = "metrics.json"
CURVES_NAME = "curves.png"
CONFUSION_NAME = "confusion.png"
CALIBRATION_COPIES = 2
# Early stopping (and the learning-rate decay) watch the validation plates plus this many photo-like
# degradations of each crop: the clean crops alone are read at 98-99 % from the first epoch on, so the
# best epoch was picked by noise (retrains of one recipe spread over 3 points of plate accuracy).
VAL_COPIES = 3
# ... without the glyph twins (anpr.regions.GLYPH_TWINS): whether a gb 'O' is read as '0' is a coin toss no
# epoch can win, and it would pick the epoch by noise.
EARLY_STOP_SKIPS_TWINS = True
DEGRADED_TEST_COPIES = 2


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train the character CNN from a data recipe",
        description="Train the character CNN. Sources and their weights come from a TOML recipe "
                    "(default: real plate crops + plate-font sheets + synthetic font characters); "
                    "edit them with --source/--drop/--weight. See --print-recipe.")
    p.add_argument("--recipe", type=Path, help="TOML recipe file (default: the built-in recipe)")
    p.add_argument("--print-recipe", action="store_true", help="print the default recipe TOML and exit")
    p.add_argument("--source", action="append", default=[], metavar="KIND=PATH[,PATH]",
                   help="add a source: mnist=IMAGES.gz[,LABELS.gz], azcsv=A_Z.csv, platechars=DIR, "
                        "platephotos=DIR (annotated photos, REGION/NAME.jpg + NAME.txt as in "
                        "openalpr-benchmark-dev: the pipeline cuts their characters), "
                        "boxsheets=SHEET.tif, synthetic, reject (paths relative to --data-root)")
    p.add_argument("--drop", action="append", default=[], metavar="NAME", help="remove a source of the recipe")
    p.add_argument("--weight", action="append", default=[], metavar="NAME=W", help="set a source's weight")
    p.add_argument("--data-root", type=Path, default=Path(os.environ.get("ANPR_SHARED_DATA", DEFAULT_DATA_ROOT)),
                   help="where relative recipe paths point (default: ../shared/data or $ANPR_SHARED_DATA)")
    p.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="folder for metrics and plots")
    p.add_argument("--weights-out", type=Path, help=f"weights file (default: OUT_DIR/{WEIGHTS_NAME})")
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    p.add_argument("--patience", type=int, default=DEFAULT_PATIENCE, help="epochs without improvement before stopping")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    p.add_argument("--learning-rate", type=float, default=DEFAULT_LEARNING_RATE)
    p.add_argument("--seed", type=int, help="overrides the recipe's seed")
    p.add_argument("--mode", choices=("CVM", "NUMBA", "JAX"), default="CVM",
                   help="PyTensor backend (CVM: C, fast compile; JAX: GPU where JAX sees one)")
    p.add_argument("--max-train", type=int, help="train on a random subset of this many samples (quick runs)")
    p.add_argument("--evaluate", type=Path, metavar="WEIGHTS",
                   help="do not train: evaluate WEIGHTS on the recipe's held-out sets")
    p.add_argument("--val-copies", type=int, default=VAL_COPIES,
                   help="degraded copies of each validation crop added to the early-stopping set "
                        "(0 = the clean crops only)")
    p.add_argument("--calibration-copies", type=int, default=CALIBRATION_COPIES,
                   help="degraded copies of each held-out validation crop used to fit the softmax "
                        "temperature (0 = fit on the clean crops; -1 = no calibration)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def degraded_vals(data: PreparedData, copies: int, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The validation crops of every source plus `copies` photo-like degradations of each, as images
    and character labels; None without validation crops."""
    from .evaluate import degraded_copies

    parts = [degraded_copies(v, copies, seed) for v in data.vals.values() if len(v)]
    if not parts:
        return None
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.print_recipe:
        print(DEFAULT_RECIPE_TOML, end="")
        return 0
    try:
        recipe = with_overrides(load_recipe(args.recipe), args.source, args.drop, args.weight)
        if args.seed is not None:
            recipe = recipe.model_copy(update={"seed": args.seed})
        if args.epochs < 1 or args.patience < 1:
            raise RecipeError(f"--epochs {args.epochs} / --patience {args.patience}: both must be >= 1")
        if args.val_copies < 0:
            raise RecipeError(f"--val-copies {args.val_copies}: must be >= 0 (0 = the clean crops only)")
        t0 = time.perf_counter()
        _log(f"preparing data from {args.data_root} (seed {recipe.seed})")
        data = prepare(recipe, args.data_root, log=_log)
    except (RecipeError, ValueError, OSError) as exc:
        _log(f"training_host train: {exc}")
        return 2
    prepare_s = time.perf_counter() - t0
    if args.max_train and args.max_train < len(data.x_train):
        pick = np.sort(np.random.default_rng(recipe.seed).choice(len(data.x_train), args.max_train, replace=False))
        data.x_train, data.y_train = data.x_train[pick], data.y_train[pick]
    _log(f"{len(data.x_train)} training / {len(data.x_val)} validation samples in {prepare_s:.0f} s")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    weights_path = args.weights_out or args.out_dir / WEIGHTS_NAME

    from anpr.regions import GLYPH_TWINS
    from anpr.weights import WeightsError, load_weights, save_weights

    from .datasets.charset import CharSet
    from .evaluate import degraded_copies, evaluate_sets, fit_temperature, plot_confusion, plot_curves, with_temperature

    history: list[dict] = []
    best_epoch = 0
    train_s = 0.0
    n_early_stop = 0
    if args.evaluate:
        try:
            weights = load_weights(args.evaluate)
        except WeightsError as exc:
            _log(f"training_host train: {exc}")
            return 1
        weights_path = args.evaluate
    else:
        from .trainer import Trainer

        meta = {"recipe": recipe.model_dump(), "data_sets": data.counts, "n_train": len(data.x_train)}
        x_val, y_val = data.x_val, data.y_val
        if args.val_copies > 0:
            degraded_val = degraded_vals(data, args.val_copies, recipe.seed + 7)
            if degraded_val is not None:
                x_val = degraded_val[0].astype(np.float32)
                y_val = class_indices(degraded_val[1], recipe.classes)
        if EARLY_STOP_SKIPS_TWINS:
            twin_ids = [recipe.classes.index(c) for c in "".join(GLYPH_TWINS) if c in recipe.classes]
            keep = ~np.isin(y_val, twin_ids)
            if keep.any():
                x_val, y_val = x_val[keep], y_val[keep]
        n_early_stop = len(x_val)
        _log(f"early stopping on {n_early_stop} validation samples ({args.val_copies} degraded copies of each crop)")
        t1 = time.perf_counter()
        trainer = Trainer(recipe.classes, mode=args.mode, batch_size=args.batch_size,
                          learning_rate=args.learning_rate, seed=recipe.seed)
        result = trainer.fit(data.x_train, data.y_train, x_val, y_val, args.epochs, args.patience,
                             progress=not args.no_progress, metadata=meta)
        train_s = time.perf_counter() - t1
        weights, history, best_epoch = result.weights, result.history, result.best_epoch

    calibration: dict = {}
    if not args.evaluate and args.calibration_copies >= 0:
        calibration_set = degraded_vals(data, args.calibration_copies, recipe.seed)
        if calibration_set is not None:
            t, calibration = fit_temperature(weights, *calibration_set)
            weights = with_temperature(weights, t)
            _log(f"softmax temperature {t:.2f}: ECE {calibration['ece_before']:.4f} -> {calibration['ece_after']:.4f}")
    degraded = {}
    for name, cs in data.tests.items():
        if len(cs) and cs.crops:
            x, y = degraded_copies(cs, DEGRADED_TEST_COPIES, recipe.seed + 1)
            n = len(cs)
            degraded[f"{name}+degraded"] = CharSet(name, x[n:], y[n:], np.full(len(x) - n, name))
    degraded_eval = evaluate_sets(weights, degraded) if degraded else {"per_source": {}}
    val_eval = evaluate_sets(weights, {k: v for k, v in data.vals.items() if len(v)})
    test_eval = evaluate_sets(weights, {k: v for k, v in data.tests.items() if len(v)})
    summary = {
        "val_accuracy": val_eval["accuracy"], "test_accuracy": test_eval["accuracy"],
        "test_per_source": {k: v["accuracy"] for k, v in test_eval["per_source"].items()},
        "test_twins_merged_per_source": {k: v["accuracy_twins_merged"] for k, v in test_eval["per_source"].items()},
        "test_degraded_per_source": {k: v["accuracy"] for k, v in degraded_eval["per_source"].items()},
        "train_seconds": round(train_s, 1), "prepare_seconds": round(prepare_s, 1),
    }
    if not args.evaluate:
        weights = dataclasses.replace(weights, metadata={**weights.metadata, **summary})
        sha = save_weights(weights, weights_path)
    else:
        sha = weights.sha256
    metrics = {
        "command": sys.argv, "weights": str(weights_path), "sha256": sha, "mode": args.mode,
        "seed": recipe.seed, "recipe": recipe.model_dump(), "counts": data.counts,
        "n_train": len(data.x_train), "n_val": len(data.x_val), "val_copies": args.val_copies,
        "n_early_stop": n_early_stop, **summary,
        "best_epoch": best_epoch, "history": history, "calibration": calibration,
        "validation": val_eval, "test": test_eval, "test_degraded": degraded_eval,
    }
    (args.out_dir / METRICS_NAME).write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    if history:
        plot_curves(history, args.out_dir / CURVES_NAME)
    cm = np.asarray(test_eval["confusion_matrix"] if test_eval["n"] else val_eval["confusion_matrix"])
    plot_confusion(cm, weights.classes, args.out_dir / CONFUSION_NAME,
                   "held-out test plates" if test_eval["n"] else "validation")
    for name, res in {**{f"val {k}": v for k, v in val_eval["per_source"].items()},
                      **{f"test {k}": v for k, v in test_eval["per_source"].items()},
                      **{f"test {k}": v for k, v in degraded_eval["per_source"].items()}}.items():
        _log(f"  {name:<24} {res['accuracy'] * 100:6.2f} %  twins merged {res['accuracy_twins_merged'] * 100:6.2f} %"
             f"  (n={res['n']}, {res['groups']} groups)")
    _log(f"weights {weights_path} sha256 {sha}; metrics in {args.out_dir / METRICS_NAME}; "
         f"train {train_s:.0f} s, data {prepare_s:.0f} s")
    return 0
