"""The CNN's building blocks against independent implementations.

numpy conv/pool vs scipy.signal.correlate and a loop; the PyTensor im2col conv and its gradient vs
scipy and central finite differences; the whole compiled loss gradient vs finite differences of the
numpy forward pass (float64).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import correlate

from anpr import network


# The gradient checks test the graph's math, not a backend: PyTensor's Python linker needs no C compile
# (a cold C compile of these float64 graphs took minutes). The float32 CVM graph is checked against the
# numpy engine in test_classify and trained in test_trainer.
GRAPH_CHECK_MODE = "FAST_COMPILE"


def scipy_conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Reference 'valid' cross-correlation, channels first: x (C,N,H,W), w (F,C,k,k) -> (F,N,Ho,Wo)."""
    f, c, k, _ = w.shape
    _, n, h, wd = x.shape
    out = np.zeros((f, n, h - k + 1, wd - k + 1))
    for fi in range(f):
        for ni in range(n):
            for ci in range(c):
                out[fi, ni] += correlate(x[ci, ni].astype(np.float64), w[fi, ci].astype(np.float64), mode="valid")
    return out


def loop_pool(x: np.ndarray, p: int) -> np.ndarray:
    out = np.empty(x.shape[:-2] + (x.shape[-2] // p, x.shape[-1] // p), x.dtype)
    for i in range(out.shape[-2]):
        for j in range(out.shape[-1]):
            out[..., i, j] = x[..., i * p : (i + 1) * p, j * p : (j + 1) * p].max(axis=(-2, -1))
    return out


def numpy_loss(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    z = network.logits(params, x)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def test_architecture_defaults_match_the_issue():
    arch = network.Architecture()
    assert network.DEFAULT_CLASSES == "0123456789" + "".join(chr(c) for c in range(ord("A"), ord("Z") + 1))
    assert arch.n_classes == 36
    shapes = arch.param_shapes()
    assert shapes["conv1_w"] == (16, 1, 5, 5) and shapes["conv2_w"] == (32, 16, 5, 5)
    assert shapes["dense1_w"] == (4 * 4 * 32, 128) and shapes["dense2_w"] == (128, 36)


def test_architecture_rejects_sizes_that_do_not_pool_evenly():
    with pytest.raises(ValueError, match="input_size"):
        network.Architecture(input_size=27)
    with pytest.raises(ValueError, match="n_classes"):
        network.Architecture(n_classes=1)


def test_init_is_seeded_float32_and_shaped(rng):
    arch = network.Architecture(n_classes=7)
    a, b, c = network.init_params(arch, 3), network.init_params(arch, 3), network.init_params(arch, 4)
    for name, shape in arch.param_shapes().items():
        assert a[name].shape == shape and a[name].dtype == np.float32
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["conv1_w"], c["conv1_w"])
    assert network.Architecture.from_params(a, 28) == arch


def test_numpy_conv_matches_scipy_correlate(rng):
    x = rng.standard_normal((3, 2, 11, 9)).astype(np.float32)
    w = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    got = network.conv2d_valid(x, w, b)
    want = scipy_conv(x, w) + b[:, None, None, None]
    assert got.shape == (4, 2, 7, 5)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_numpy_pool_matches_loop(rng):
    x = rng.standard_normal((3, 2, 8, 6)).astype(np.float32)
    np.testing.assert_array_equal(network.max_pool(x, 2), loop_pool(x, 2))


def test_numpy_forward_gives_probabilities(rng):
    arch = network.Architecture()
    params = network.init_params(arch, 0)
    probs = network.forward(params, rng.random((5, 28, 28), dtype=np.float32))
    assert probs.shape == (5, 36)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert (probs > 0).all()


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["conv2d_valid", "conv2d_polyphase", "conv2d_valid+max_pool"])
def test_graph_conv_and_gradient_match_scipy_and_finite_differences(rng, variant):
    """Both im2col formulations in the graph (plain conv; polyphase conv + max-pool) and the readable
    reference (plain conv, then max_pool) against scipy.signal.correlate (+ a loop max-pool), and
    their gradients against central differences."""
    from anpr import graph
    import pytensor
    import pytensor.tensor as pt

    c, n, s, f, k, p = 2, 3, 10, 4, 3, 2
    pooled = variant != "conv2d_valid"
    out_size = (s - k + 1) // p if pooled else s - k + 1
    x = pt.tensor("x", dtype="float64", shape=(c, n, s, s))
    w = pt.tensor("w", dtype="float64", shape=(f, c, k, k))
    r = pt.tensor("r", dtype="float64", shape=(f, n, out_size, out_size))
    if variant == "conv2d_valid+max_pool":
        out = graph.max_pool(graph.conv2d_valid(x, w, s, c, f, k), s - k + 1, f, p)
    elif pooled:
        out = graph.conv2d_polyphase(x, w, s, c, f, k, p)
    else:
        out = graph.conv2d_valid(x, w, s, c, f, k)

    def reference(xa: np.ndarray, wa: np.ndarray) -> np.ndarray:
        y = scipy_conv(xa, wa)
        return loop_pool(y, p) if pooled else y
    objective = (out * r).sum()
    fn = pytensor.function([x, w, r], [out, *pytensor.grad(objective, [x, w])], mode=GRAPH_CHECK_MODE)

    xv, wv = rng.standard_normal((c, n, s, s)), rng.standard_normal((f, c, k, k))
    rv = rng.standard_normal((f, n, out_size, out_size))
    got, gx, gw = fn(xv, wv, rv)
    np.testing.assert_allclose(got, reference(xv, wv), rtol=1e-10, atol=1e-10)

    def obj(xa: np.ndarray, wa: np.ndarray) -> float:
        return float((reference(xa, wa) * rv).sum())

    eps = 1e-5
    for grad, arr, which in ((gw, wv, "w"), (gx, xv, "x")):
        for idx in [tuple(rng.integers(0, d) for d in arr.shape) for _ in range(6)]:
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += eps
            minus[idx] -= eps
            args_p = (xv, plus) if which == "w" else (plus, wv)
            args_m = (xv, minus) if which == "w" else (minus, wv)
            numeric = (obj(*args_p) - obj(*args_m)) / (2 * eps)
            assert grad[idx] == pytest.approx(numeric, rel=1e-6, abs=1e-6), (which, idx)


@pytest.mark.slow
def test_compiled_loss_gradient_matches_numpy_finite_differences(rng):
    """Whole network (conv, pool, dense, softmax cross-entropy): pytensor.grad vs central differences
    of the independent numpy forward pass, in float64."""
    from anpr import graph
    import pytensor
    import pytensor.tensor as pt

    arch = network.Architecture(n_classes=5, conv1=3, conv2=4, hidden=8)
    params = {k: v.astype(np.float64) for k, v in network.init_params(arch, 7).items()}
    for name in params:
        if name.endswith("_b"):
            params[name] = rng.standard_normal(params[name].shape) * 0.1
    sym = {k: pt.tensor(k, dtype="float64", shape=v.shape) for k, v in params.items()}
    x = pt.tensor("x", dtype="float64", shape=(None, 28, 28))
    y = pt.tensor("y", dtype="int32", shape=(None,))
    mask = pt.tensor("mask", dtype="float64", shape=(None,))
    loss, _ = graph.loss_graph(sym, x, y, mask, arch)
    names = list(params)
    fn = pytensor.function([x, y, mask, *sym.values()], [loss, *pytensor.grad(loss, list(sym.values()))], mode=GRAPH_CHECK_MODE)

    xv = rng.random((4, 28, 28)).astype(np.float32).astype(np.float64)  # numpy forward takes float32 images
    yv = rng.integers(0, 5, 4).astype(np.int32)
    loss_v, *grads = fn(xv, yv, np.ones(4), *params.values())
    assert loss_v == pytest.approx(numpy_loss(params, xv, yv), rel=1e-9)

    eps = 1e-6
    for name, grad in zip(names, grads):
        for _ in range(3):
            idx = tuple(rng.integers(0, d) for d in params[name].shape)
            plus = {**params, name: params[name].copy()}
            minus = {**params, name: params[name].copy()}
            plus[name][idx] += eps
            minus[name][idx] -= eps
            numeric = (numpy_loss(plus, xv, yv) - numpy_loss(minus, xv, yv)) / (2 * eps)
            assert grad[idx] == pytest.approx(numeric, rel=1e-4, abs=1e-7), (name, idx)
