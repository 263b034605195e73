"""`training_host train` end to end on a tiny recipe (a few hundred real and synthetic samples,
one epoch), the artefacts it writes, seed reproducibility, and the evaluation arithmetic."""
from __future__ import annotations

import json

import numpy as np
import pytest

from anpr.weights import load_weights
from tests.conftest import shared_path
from training_host.cli import main
from training_host.evaluate import confusion_matrix, top_confusions

TINY_RECIPE = """\
classes = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ#"
seed = 5

[[sources]]
name = "br"
kind = "platechars"
paths = ["plate-chars/br/chars"]
weight = 1.5
augment = true
val_fraction = 0.2
test_fraction = 0.2

[[sources]]
kind = "synthetic"
per_class = 4
fonts = ["DejaVuSansCondensed-Bold.ttf", "LiberationSansNarrow-Bold.ttf"]

[[sources]]
kind = "reject"
per_class = 40
test_fraction = 0.25
"""


def _train(tmp_path, name: str, *extra: str) -> tuple[int, object]:
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE)
    out = tmp_path / name
    rc = main(["train", "--recipe", str(recipe), "--data-root", str(shared_path()), "--epochs", "1",
               "--max-train", "400", "--out-dir", str(out), "--no-progress", *extra])
    return rc, out


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    shared_path("plate-chars", "br", "chars")
    tmp = tmp_path_factory.mktemp("train")
    rc, out = _train(tmp, "a")
    return tmp, rc, out


@pytest.mark.slow
def test_tiny_training_writes_every_artefact(tiny_run):
    _, rc, out = tiny_run
    assert rc == 0
    w = load_weights(out / "model.pkl")  # the safe loader, sidecar checked
    assert w.classes == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ#"
    assert (out / "model.pkl.sha256").read_text().split()[0] == w.sha256
    m = json.loads((out / "metrics.json").read_text())
    assert m["sha256"] == w.sha256 and m["n_train"] == 400 and m["seed"] == 5
    assert len(m["history"]) == 1 and {"train_loss", "val_acc"} <= set(m["history"][0])
    # early stopping sees the clean validation crops and 3 degraded copies of each (twins left out)
    assert m["val_copies"] == 3 and 3 * m["n_val"] < m["n_early_stop"] <= 4 * m["n_val"]
    assert m["counts"]["br"]["val"] > 0 and m["counts"]["br"]["test"] > 0
    assert set(m["test"]["per_source"]) == {"br", "reject"}
    assert m["counts"]["reject"]["test"] == 10  # whole kinds-blocks held out
    assert set(m["test_degraded"]["per_source"]) == {"br+degraded"}
    assert 0.5 <= m["calibration"]["temperature"] <= 4.0
    assert 0.0 <= m["test_accuracy"] <= 1.0
    assert m["counts"]["synthetic"]["loaded"] == 36 * 4
    assert w.metadata["data_sets"]["br"]["loaded"] == 1772 and "test_accuracy" in w.metadata
    for png in ("curves.png", "confusion.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_fixed_seed_reproduces_and_evaluate_agrees(tiny_run):
    tmp, _, out = tiny_run
    rc, out2 = _train(tmp, "b")
    assert rc == 0
    a, b = load_weights(out / "model.pkl"), load_weights(out2 / "model.pkl")
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    rc, out3 = _train(tmp, "c", "--evaluate", str(out / "model.pkl"))
    assert rc == 0
    m1 = json.loads((out / "metrics.json").read_text())
    m3 = json.loads((out3 / "metrics.json").read_text())
    assert m3["test_accuracy"] == m1["test_accuracy"] and m3["sha256"] == m1["sha256"]


def test_bad_recipe_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[sources]]\nkind = "fonts"\n')
    assert main(["train", "--recipe", str(bad)]) == 2
    assert "bad.toml" in capsys.readouterr().err
    assert main(["train", "--val-copies", "-1"]) == 2
    assert "--val-copies -1" in capsys.readouterr().err


def test_confusion_and_top_mistakes():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0, 0])
    cm = confusion_matrix(y, p, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [2, 0, 1]]
    assert top_confusions(cm, "OQ0") == [{"true": "0", "pred": "O", "count": 2},
                                         {"true": "O", "pred": "Q", "count": 1}]


def test_twins_merged_accuracy():
    from training_host.evaluate import twins_merged_accuracy

    classes = "01IOB"
    cm = np.zeros((5, 5), np.int64)
    cm[0, 0] = cm[1, 1] = cm[4, 4] = 5
    cm[3, 0] = 3   # O read as 0: a twin
    cm[2, 1] = 1   # I read as 1: a twin
    cm[4, 0] = 1   # B read as 0: a real mistake
    assert twins_merged_accuracy(cm, classes) == 19 / 20


def test_default_model_reads_held_out_plates():
    """The shipped weights on the plates the default recipe held out (by photo) for its test figures;
    floors a little under the measured 99.6 % (gb) / 98.2 % (br) with the O/0, I/1 twins merged."""
    from anpr.weights import default_weights_path
    from training_host.datasets.platechars import load_platechars
    from training_host.evaluate import evaluate_sets
    from training_host.recipe import load_recipe, split_by_group

    recipe = load_recipe()
    weights = load_weights(default_weights_path())
    assert weights.classes == recipe.classes
    tests = {}
    for spec in recipe.sources:
        if spec.kind == "platechars":
            cs = load_platechars(shared_path(spec.paths[0]), keep_crops=False)
            cs = type(cs)(spec.label(), cs.images, cs.labels, cs.groups, cs.ink_dark)
            _, _, te = split_by_group(cs, spec.val_fraction, spec.test_fraction, recipe.seed)
            tests[spec.label()] = cs.subset(te)
    res = evaluate_sets(weights, tests)["per_source"]
    assert res["platechars-gb"]["accuracy_twins_merged"] >= 0.985
    assert res["platechars-br"]["accuracy_twins_merged"] >= 0.965
    assert res["platechars-gb"]["accuracy"] >= 0.90 and res["platechars-br"]["accuracy"] >= 0.85
