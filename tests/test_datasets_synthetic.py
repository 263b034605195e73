"""Synthetic font characters, their degradation, the recipe and the by-group split."""
from __future__ import annotations

import numpy as np
import pytest

from anpr.charcrop import normalize_char
from training_host.datasets.augment import AugmentParams, augment_char
from training_host.datasets.charset import CharSet
from training_host.datasets.synthetic import FontError, make_synthetic, render_glyph, resolve_font
from training_host.recipe import RecipeError, SourceSpec, load_recipe, parse_recipe, split_by_group, with_overrides


def test_fonts_by_name_or_path():
    path = resolve_font("LiberationSansNarrow-Bold.ttf")
    assert path.is_file()
    assert resolve_font(str(path)) == path
    with pytest.raises(FontError, match="not found"):
        resolve_font("NoSuchPlateFont.ttf")


def test_synthetic_set_is_seeded_and_grouped_by_font():
    fonts = ["DejaVuSansCondensed-Bold.ttf", str(resolve_font("FreeSansBold.ttf"))]
    a = make_synthetic("08BZ", 6, fonts, seed=3)
    b = make_synthetic("08BZ", 6, fonts, seed=3)
    c = make_synthetic("08BZ", 6, fonts, seed=4)
    assert len(a) == 24 and a.class_counts() == {"0": 6, "8": 6, "B": 6, "Z": 6}
    assert set(a.groups) == {"font:DejaVuSansCondensed-Bold", "font:FreeSansBold"}
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    assert (a.images.reshape(24, -1).max(axis=1) > 0.5).all()  # every sample has ink


def test_augmentation_degrades_and_inverts():
    glyph = render_glyph(resolve_font("DejaVuSans-Bold.ttf"), "H")
    clean = normalize_char(glyph)
    rng = np.random.default_rng(0)
    outs = [augment_char(glyph, rng) for _ in range(40)]
    diffs = [np.abs(normalize_char(c, d) - clean).mean() for c, d in outs]
    assert min(diffs) > 0.005  # every sample differs from the clean glyph
    assert {c.shape[0] for c, _ in outs} != {glyph.shape[0]}  # sizes vary (low resolution)
    inv, dark = augment_char(glyph, np.random.default_rng(1), params=AugmentParams(invert_prob=1.0))
    assert dark is False
    assert inv[inv.shape[0] // 2, :].max() > 150  # light ink on a darker plate
    # read with its own polarity the inverted sample still looks like an H
    assert np.corrcoef(normalize_char(inv, dark).ravel(), clean.ravel())[0, 1] > 0.5


def test_split_keeps_groups_whole():
    labels = np.array(list("0123456789") * 30)
    groups = np.array([f"plate{i // 7}" for i in range(300)])
    cs = CharSet("demo", np.zeros((300, 28, 28), np.float32), labels.astype("<U1"), groups)
    tr, va, te = split_by_group(cs, 0.2, 0.2, seed=0)
    assert (tr.astype(int) + va + te == 1).all()
    assert 0.15 < va.mean() < 0.25 and 0.15 < te.mean() < 0.25
    assert not set(groups[tr]) & set(groups[va]) and not set(groups[tr]) & set(groups[te])
    again = split_by_group(cs, 0.2, 0.2, seed=0)
    assert all((x == y).all() for x, y in zip((tr, va, te), again))


def test_recipe_validation():
    r = load_recipe()
    assert {s.kind for s in r.sources} >= {"platechars", "boxsheets", "synthetic"}
    with pytest.raises(RecipeError, match="Extra inputs"):
        parse_recipe('[[sources]]\nkind = "synthetic"\nbogus = 1\n')
    with pytest.raises(RecipeError, match="less than or equal to 50"):
        parse_recipe('[[sources]]\nkind = "synthetic"\nweight = 500\nval_fraction = 0.1\n')
    with pytest.raises(RecipeError, match="needs `paths`"):
        parse_recipe('[[sources]]\nkind = "mnist"\nval_fraction = 0.1\n')
    r2 = with_overrides(r, add=["mnist=mnist/t10k-images-idx3-ubyte.gz"], drop=["synthetic"],
                        weights=["mnist=0.5"])
    names = [s.label() for s in r2.sources]
    assert "synthetic" not in names and "mnist" in names
    assert r2.sources[names.index("mnist")] == SourceSpec(
        kind="mnist", name="mnist", paths=["mnist/t10k-images-idx3-ubyte.gz"], weight=0.5,
        val_fraction=0.15, test_fraction=0.15)
    with pytest.raises(RecipeError, match="no source named"):
        with_overrides(r, weights=["nope=2"])


def test_reject_class_samples():
    from training_host.datasets.reject import KINDS, REJECT_CHAR, make_reject
    from training_host.recipe import prepare

    cs = make_reject(48, ["DejaVuSans-Bold.ttf"], seed=1)
    assert len(cs) == 48 and set(cs.labels) == {REJECT_CHAR}
    assert {g.split(":")[0] for g in cs.groups} == set(KINDS)
    assert (cs.images.reshape(48, -1).max(axis=1) > 0.5).mean() > 0.9
    no_hash = parse_recipe('[[sources]]\nkind = "reject"\nval_fraction = 0.5\n')
    with pytest.raises(RecipeError, match="reject class '#' is not in classes"):
        prepare(no_hash, log=lambda _: None)


def test_added_photo_source_is_augmented_and_holds_out_photos():
    r = with_overrides(load_recipe(), add=["platephotos=openalpr-benchmark-dev"])
    spec = r.sources[-1]
    assert spec == SourceSpec(kind="platephotos", name="platephotos", paths=["openalpr-benchmark-dev"],
                              augment=True, val_fraction=0.15, test_fraction=0.15)
    assert "platephotos" not in {s.kind for s in load_recipe().sources}  # the dev photos stay evaluation data


def test_elastic_distortion_bends_strokes_by_at_most_alpha():
    from training_host.datasets.augment import elastic

    ink = np.zeros((96, 72), np.float32)
    ink[20:76, 30:36] = 1.0  # a vertical stroke
    rng = np.random.default_rng(0)
    assert np.array_equal(elastic(ink, rng, 0.0, 6.0), ink)  # no displacement, no change
    bent = elastic(ink, rng, 3.0, 6.0)
    assert not np.allclose(bent, ink)
    cols = np.nonzero(bent.max(axis=0) > 0.5)[0]
    assert 30 - 3 <= cols.min() and cols.max() < 36 + 3  # moved, but by at most alpha pixels
    assert abs(float(bent.sum()) - float(ink.sum())) < 0.15 * float(ink.sum())  # the stroke stays whole
