"""CharClassifier: both engines agree, labels follow the weights' class list, inputs are checked;
and the PyTensor compile cache lands where it is configured (so a device compiles once)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from anpr import network
from anpr.classify import CharClassifier
from anpr.weights import FORMAT_VERSION, Weights, save_weights

ROOT = Path(__file__).resolve().parents[1]


def random_weights(classes: str, seed: int = 0) -> Weights:
    arch = network.Architecture(n_classes=len(classes))
    params = network.init_params(arch, seed)
    rng = np.random.default_rng(seed + 1)
    for name in params:  # non-zero biases so bias handling is exercised
        if name.endswith("_b"):
            params[name] = (rng.standard_normal(params[name].shape) * 0.1).astype(np.float32)
    return Weights(FORMAT_VERSION, classes, arch.input_size, params, {})


@pytest.fixture
def chars() -> np.ndarray:
    return np.random.default_rng(5).random((11, 28, 28), dtype=np.float32)


def test_numpy_engine_labels_come_from_the_class_list(chars):
    w = random_weights("XYZ")
    labels, probs = CharClassifier(w).classify(chars)
    assert probs.shape == (11, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert labels == ["XYZ"[i] for i in probs.argmax(axis=1)]
    assert set(labels) <= set("XYZ")
    _, unlimited = CharClassifier(w, blas_threads=None).classify(chars)  # BLAS thread cap changes no result
    np.testing.assert_allclose(unlimited, probs, rtol=1e-6)


def test_loads_from_a_path_and_reports_its_sha256(tmp_path, chars):
    path = tmp_path / "m.pkl"
    digest = save_weights(random_weights(network.DEFAULT_CLASSES), path)
    clf = CharClassifier(str(path))
    assert clf.sha256 == digest and clf.classes == network.DEFAULT_CLASSES and clf.engine == "numpy"
    assert len(clf.classify(chars)[0]) == 11


def test_rejects_bad_input_and_engine(chars):
    clf = CharClassifier(random_weights("AB"))
    with pytest.raises(ValueError, match=r"chars must be \(N, 28, 28\)"):
        clf.classify(np.zeros((2, 32, 32), np.float32))
    labels, probs = clf.classify(np.zeros((0, 28, 28), np.float32))
    assert labels == [] and probs.shape == (0, 2)
    assert len(clf.classify(chars[0])[0]) == 1  # a single (28, 28) image is a batch of one
    with pytest.raises(ValueError, match="engine='torch'"):
        CharClassifier(random_weights("AB"), engine="torch")


def test_default_weights_are_used_when_none_given():
    from anpr.weights import default_weights_path

    if not default_weights_path().exists():
        pytest.skip("default weights not trained yet")
    clf = CharClassifier()
    assert set(network.DEFAULT_CLASSES) <= set(clf.classes) and len(clf.sha256) == 64  # may add a reject class
    labels, probs = clf.classify(np.zeros((2, 28, 28), np.float32))
    assert probs.shape == (2, len(clf.classes)) and len(labels) == 2


@pytest.mark.slow
def test_pytensor_engine_agrees_with_numpy_engine(chars):
    w = random_weights(network.DEFAULT_CLASSES, seed=3)
    lab_np, p_np = CharClassifier(w, engine="numpy").classify(chars)
    clf = CharClassifier(w, engine="pytensor", mode="CVM")
    assert clf.engine == "pytensor"
    lab_pt, p_pt = clf.classify(chars)
    np.testing.assert_allclose(p_pt, p_np, rtol=1e-4, atol=1e-6)
    assert lab_pt == lab_np


@pytest.mark.slow
def test_pytensor_jax_engine_agrees_with_numpy_engine(chars):
    pytest.importorskip("jax", reason="jax not installed (pip install '.[jax]')")
    w = random_weights(network.DEFAULT_CLASSES, seed=4)
    _, p_np = CharClassifier(w).classify(chars)
    _, p_jax = CharClassifier(w, engine="pytensor", mode="JAX").classify(chars)  # 11 rows: padded to 32
    np.testing.assert_allclose(p_jax, p_np, rtol=1e-4, atol=1e-6)


COMPILE_PROBE = """
import json, sys
from anpr.compile_cache import configure_pytensor
configure_pytensor(sys.argv[1])
import numpy as np, pytensor, pytensor.tensor as pt
x = pt.vector("x", dtype="float32")
f = pytensor.function([x], pt.exp(x) * 3 + 1, mode="CVM")
assert np.allclose(f(np.ones(3, np.float32)), np.e * 3 + 1)
print(json.dumps({"base": str(pytensor.config.base_compiledir), "blas": pytensor.config.blas__ldflags}))
"""


@pytest.mark.slow
def test_compile_cache_goes_to_the_configured_dir_and_is_reused(tmp_path):
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTENSOR_FLAGS", "ANPR_PYTENSOR_CACHE")}

    def run() -> dict:
        out = subprocess.run([sys.executable, "-c", COMPILE_PROBE, str(cache)], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = run()
    assert Path(first["base"]) == cache and first["blas"] == "-lopenblas"
    modules = sorted(p.relative_to(cache) for p in cache.rglob("*.so"))
    assert modules, f"no compiled modules under {cache}"
    run()  # a second process (a daemon restart) finds them: nothing new is compiled
    assert sorted(p.relative_to(cache) for p in cache.rglob("*.so")) == modules


def test_user_flags_win_over_the_defaults():
    from anpr.compile_cache import _set_flag

    assert _set_flag("", "blas__ldflags", "-lopenblas") == "blas__ldflags=-lopenblas"
    assert _set_flag("floatX=float32", "base_compiledir", "/c") == "floatX=float32,base_compiledir=/c"
    assert _set_flag("blas__ldflags=", "blas__ldflags", "-lopenblas") == "blas__ldflags="
