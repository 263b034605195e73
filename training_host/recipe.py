"""A training recipe: which data sources, how much of each, and which groups are held out.

Recipes are small TOML files (or the built-in `DEFAULT_RECIPE_TOML`) parsed into typed objects that
reject unknown keys and out-of-range values. Per source:
- `weight`: how many times each training sample appears per epoch (0 = evaluation only; a fraction
  subsamples). With `augment = true` every copy after the first is a fresh random degradation
  (`datasets/augment.py`) of the raw crop, so weight 3 = the clean crop + 2 degraded ones.
- `val_fraction` / `test_fraction`: share of the source's samples held out, drawn by whole groups
  (a plate photo, a sheet page, a font, a block of MNIST/CSV rows), never by crop. `val` drives
  early stopping; `test` is touched only for the final report.
Relative paths are resolved against the data root (`../shared/data` by default).
"""
from __future__ import annotations

import tomllib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from anpr.charcrop import normalize_char
from anpr.network import DEFAULT_CLASSES

from .datasets.augment import DEFAULT_AUGMENT, augment_char
from .datasets.azcsv import load_azcsv
from .datasets.boxsheets import load_boxsheet
from .datasets.charset import CharSet, class_indices, concat
from .datasets.mnist import load_mnist
from .datasets.platechars import load_platechars
from .datasets.platephotos import load_platephotos
from .datasets.reject import REJECT_CHAR, make_reject
from .datasets.synthetic import make_synthetic

SourceKind = Literal["mnist", "azcsv", "platechars", "platephotos", "boxsheets", "synthetic", "reject"]
KINDS = get_args(SourceKind)
DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
# val and test shares a real-data source added by `--source` holds out (by group)
ADDED_SOURCE_HOLDOUT = 0.15
REAL_DATA_KINDS = ("mnist", "azcsv", "platechars", "platephotos")
# kinds whose crops an added source degrades like photos (their copies after the first)
AUGMENTED_KINDS = ("platechars", "platephotos")

DEFAULT_RECIPE_TOML = """\
# Default recipe: real plate crops (gb, br) with degraded copies, the EU/FR plate-font sheets with
# degraded copies, synthetic characters from the machine's fonts, and non-character crops for the
# reject class '#'. Held-out plates (by photo) of gb and br give the validation (early stopping) and
# test figures.
classes = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ#"
seed = 0

[[sources]]
name = "platechars-gb"
kind = "platechars"
paths = ["plate-chars/gb/chars"]
weight = 4
augment = true
val_fraction = 0.15
test_fraction = 0.15

[[sources]]
name = "platechars-br"
kind = "platechars"
paths = ["plate-chars/br/chars"]
weight = 6
augment = true
val_fraction = 0.15
test_fraction = 0.15

[[sources]]
name = "sheets-eu"
kind = "boxsheets"
paths = ["plate-chars/eu/input/leu.belgium.exp0.tif", "plate-chars/eu/input/leu.germany.exp0.tif",
         "plate-chars/eu/input/leu.netherlands.exp0.tif", "plate-chars/eu/input/leu.serbia.exp0.tif",
         "plate-chars/fr/input/leu.france.exp0.tif"]
weight = 3
augment = true

[[sources]]
name = "synthetic"
kind = "synthetic"
per_class = 700

[[sources]]
name = "reject"
kind = "reject"
per_class = 2800
test_fraction = 0.1
"""


class RecipeError(ValueError):
    """A recipe file or flag that does not describe a valid training run."""


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: SourceKind
    name: str = ""
    paths: list[str] = Field(default_factory=list)   # files/dirs; mnist: images then optional labels
    weight: float = Field(1.0, ge=0.0, le=50.0)
    augment: bool = False
    val_fraction: float = Field(0.0, ge=0.0, le=0.9)
    test_fraction: float = Field(0.0, ge=0.0, le=1.0)
    per_class: int = Field(500, ge=1, le=100_000)    # synthetic: samples per class; reject: samples
    fonts: list[str] = Field(default_factory=list)   # synthetic: names or paths; empty = defaults
    max_per_class: int | None = Field(None, ge=1)    # azcsv: cap per letter while streaming

    @field_validator("paths")
    @classmethod
    def _paths_nonempty(cls, v: list[str]) -> list[str]:
        if any(not p.strip() for p in v):
            raise ValueError("empty path")
        return v

    def label(self) -> str:
        return self.name or self.kind

    def check(self) -> None:
        if self.kind not in ("synthetic", "reject") and not self.paths:
            raise RecipeError(f"source {self.label()!r} ({self.kind}) needs `paths`")
        if self.val_fraction + self.test_fraction > 1.0:
            raise RecipeError(f"source {self.label()!r}: val_fraction + test_fraction > 1")
        if self.weight == 0 and self.val_fraction + self.test_fraction == 0:
            raise RecipeError(f"source {self.label()!r}: weight 0 and nothing held out; it would do nothing")


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    classes: str = DEFAULT_CLASSES
    seed: int = Field(0, ge=0)
    sources: list[SourceSpec]

    def check(self) -> "Recipe":
        if len(set(self.classes)) != len(self.classes) or len(self.classes) < 2:
            raise RecipeError(f"classes {self.classes!r}: need at least 2 distinct characters")
        names = [s.label() for s in self.sources]
        if len(set(names)) != len(names):
            raise RecipeError(f"source names {names} must be unique (set `name`)")
        for s in self.sources:
            s.check()
        if not any(s.weight > 0 for s in self.sources):
            raise RecipeError("no source has weight > 0: nothing to train on")
        if not any(s.val_fraction > 0 for s in self.sources):
            raise RecipeError("no source holds out a validation share (val_fraction): early stopping needs one")
        return self


def parse_recipe(text: str, origin: str = "<recipe>") -> Recipe:
    try:
        return Recipe.model_validate(tomllib.loads(text)).check()
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise RecipeError(f"{origin}: {exc}") from exc


def load_recipe(path: str | Path | None = None) -> Recipe:
    """The recipe in the TOML file `path`, or the default recipe."""
    if path is None:
        return parse_recipe(DEFAULT_RECIPE_TOML, "default recipe")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read the recipe ({exc})") from exc
    return parse_recipe(text, str(path))


def with_overrides(recipe: Recipe, add: Sequence[str] = (), drop: Sequence[str] = (),
                   weights: Sequence[str] = ()) -> Recipe:
    """Apply command-line edits: `add` 'KIND=PATH[,PATH]' or 'KIND', `drop` NAME, `weights` NAME=W."""
    sources = [s for s in recipe.sources if s.label() not in drop]
    unknown = set(drop) - {s.label() for s in recipe.sources}
    if unknown:
        raise RecipeError(f"--drop {sorted(unknown)}: no such source in the recipe ({[s.label() for s in recipe.sources]})")
    for spec in add:
        kind, _, paths = spec.partition("=")
        if kind not in KINDS:
            raise RecipeError(f"--source {spec!r}: kind must be one of {KINDS}")
        plist = [p for p in paths.split(",") if p]
        name = kind if kind not in {s.label() for s in sources} else f"{kind}-{len(sources)}"
        extra = ({"val_fraction": ADDED_SOURCE_HOLDOUT, "test_fraction": ADDED_SOURCE_HOLDOUT}
                 if kind in REAL_DATA_KINDS else {})
        sources.append(SourceSpec(kind=kind, name=name, paths=plist, augment=kind in AUGMENTED_KINDS, **extra))
    for spec in weights:
        name, _, w = spec.partition("=")
        idx = [i for i, s in enumerate(sources) if s.label() == name]
        if not idx:
            raise RecipeError(f"--weight {spec!r}: no source named {name!r} ({[s.label() for s in sources]})")
        try:
            sources[idx[0]] = sources[idx[0]].model_copy(update={"weight": float(w)})
        except ValueError:
            raise RecipeError(f"--weight {spec!r}: weight must be a number") from None
    try:
        return Recipe(classes=recipe.classes, seed=recipe.seed,
                      sources=[SourceSpec.model_validate(s.model_dump()) for s in sources]).check()
    except ValidationError as exc:
        raise RecipeError(str(exc)) from exc


def resolve(path: str, data_root: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else data_root / p


def _generated(spec: SourceSpec) -> int:
    """Generated sources draw `per_class` x `weight` fresh samples (weight 0: `per_class` for evaluation)."""
    return max(1, round(spec.per_class * spec.weight)) if spec.weight else spec.per_class


def load_source(spec: SourceSpec, classes: str, data_root: Path, seed: int,
                log: Callable[[str], None] | None = None) -> CharSet:
    """Load one source of the recipe (raw crops kept when it will be augmented)."""
    paths = [resolve(p, data_root) for p in spec.paths]
    keep = spec.augment
    name = spec.label()
    if spec.kind == "mnist":
        cs = load_mnist(paths[0], paths[1] if len(paths) > 1 else None, keep_crops=keep)
    elif spec.kind == "azcsv":
        cs = concat([load_azcsv(p, spec.max_per_class, seed=seed, keep_crops=keep) for p in paths])
    elif spec.kind == "platechars":
        cs = concat([load_platechars(p, keep_crops=keep) for p in paths])
    elif spec.kind == "platephotos":
        cs = concat([load_platephotos(p, keep_crops=keep, log=log) for p in paths])
    elif spec.kind == "boxsheets":
        cs = concat([load_boxsheet(p, keep_crops=keep) for p in paths])
    elif spec.kind == "reject":
        if REJECT_CHAR not in classes:
            raise RecipeError(f"source {name!r}: the reject class {REJECT_CHAR!r} is not in classes {classes!r}")
        cs = make_reject(_generated(spec), spec.fonts or None, seed=seed)
    else:
        cs = make_synthetic(classes.replace(REJECT_CHAR, ""), _generated(spec), spec.fonts or None, seed=seed)
    cs = cs.only_classes(classes)
    return CharSet(name, cs.images, cs.labels, cs.groups, cs.ink_dark, cs.crops)


def split_by_group(cs: CharSet, val_fraction: float, test_fraction: float, seed: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks (train, val, test): whole groups, shuffled with a seed stable per source name,
    assigned to test until `test_fraction` of the samples is reached, then to val likewise."""
    groups, inverse, counts = np.unique(cs.groups, return_inverse=True, return_counts=True)
    rng = np.random.default_rng([seed, zlib.crc32(cs.source.encode())])
    order = rng.permutation(len(groups))
    role = np.zeros(len(groups), np.int8)  # 0 train, 1 val, 2 test
    n = len(cs)
    taken = 0
    for stage, frac in ((2, test_fraction), (1, val_fraction)):
        target = frac * n
        start = taken
        for g in order:
            if taken - start >= target - 1e-9 or frac == 0:
                break
            if role[g] == 0 and (taken - start) + counts[g] / 2 <= target:
                role[g] = stage
                taken += counts[g]
    per_sample = role[inverse]
    return per_sample == 0, per_sample == 1, per_sample == 2


@dataclass
class PreparedData:
    """Arrays ready for `Trainer.fit`, plus the held-out sets per source for the report."""

    classes: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    vals: dict[str, CharSet]       # source name -> its validation share (maybe empty)
    tests: dict[str, CharSet]      # source name -> its test share (maybe empty)
    counts: dict[str, dict[str, int]]


def _weighted_train(cs: CharSet, spec: SourceSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The training images of one source repeated `weight` times (degraded copies if `augment`)."""
    if spec.weight == 0 or len(cs) == 0:
        return cs.images[:0], cs.labels[:0]
    if spec.kind in ("synthetic", "reject"):  # already `weight` times as many fresh samples
        return cs.images, cs.labels
    whole, frac = int(spec.weight), spec.weight - int(spec.weight)
    copies = np.full(len(cs), whole) + (rng.random(len(cs)) < frac)
    images, labels = [], []
    for i in range(len(cs)):
        for k in range(copies[i]):
            if k == 0 or not spec.augment:
                images.append(cs.images[i])
            else:
                crop, ink_dark = augment_char(cs.crops[i], rng, cs.ink_dark, DEFAULT_AUGMENT)
                images.append(normalize_char(crop, ink_dark=ink_dark))
            labels.append(cs.labels[i])
    if not images:
        return cs.images[:0], cs.labels[:0]
    return np.stack(images).astype(np.float32), np.asarray(labels)


def prepare(recipe: Recipe, data_root: Path = DEFAULT_DATA_ROOT,
            log: Callable[[str], None] = print) -> PreparedData:
    """Load, split by group, weight and augment every source of the recipe."""
    classes = recipe.classes
    rng = np.random.default_rng(recipe.seed)
    xt, yt, xv, yv = [], [], [], []
    vals: dict[str, CharSet] = {}
    tests: dict[str, CharSet] = {}
    counts: dict[str, dict[str, int]] = {}
    for spec in recipe.sources:
        cs = load_source(spec, classes, data_root, recipe.seed, log)
        tr, va, te = split_by_group(cs, spec.val_fraction, spec.test_fraction, recipe.seed)
        x, y = _weighted_train(cs.subset(tr), spec, rng)
        xt.append(x); yt.append(y)
        v = cs.subset(va)
        xv.append(v.images); yv.append(v.labels)
        vals[spec.label()] = v
        tests[spec.label()] = cs.subset(te)
        counts[spec.label()] = {"loaded": len(cs), "groups": int(len(np.unique(cs.groups))),
                                "train": int(tr.sum()), "train_samples": len(x), "val": int(va.sum()),
                                "test": int(te.sum())}
        log(f"  {spec.label():<16} {counts[spec.label()]}")
    def ids(parts: list[np.ndarray]) -> np.ndarray:
        return class_indices(np.concatenate(parts) if parts else np.zeros(0, "<U1"), classes)
    return PreparedData(
        classes=classes,
        x_train=np.concatenate(xt).astype(np.float32), y_train=ids(yt),
        x_val=np.concatenate(xv).astype(np.float32), y_val=ids(yv),
        vals=vals, tests=tests, counts=counts,
    )
