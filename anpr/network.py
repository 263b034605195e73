"""The character CNN's architecture, its initialization, and a plain-numpy forward pass.

One place says what the network is (layer shapes), so the weights loader, the PyTensor graph and the
numpy engine all agree. Conv kernels (F, C, kh, kw), dense kernels (in, out); the flattened
feature vector before the dense layer is in (H, W, C) order. Architecture: conv 5x5 (16) + ReLU + 2x2 max-pool -> conv 5x5 (32) + ReLU + 2x2
max-pool -> dense 128 + ReLU -> dense n_classes -> softmax.

The numpy forward pass is the lean inference engine (no compile, ~0.3 ms for a plate) and the
independent reference the compiled graph is checked against in tests.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_CLASSES = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# the class a model may have for "not a character" (textures, borders, screws, the EU band): trained by
# training_host, dropped or counted against a crop by the pipeline
REJECT = "#"
INPUT_SIZE = 28
CONV1_FILTERS = 16
CONV2_FILTERS = 32
KERNEL = 5
POOL = 2
HIDDEN = 128


def character_columns(classes: str) -> list[int]:
    """Indices of a model's classes that are characters: all but the reject class."""
    return [i for i, c in enumerate(classes) if c != REJECT]


@dataclass(frozen=True)
class Architecture:
    """Layer sizes of the character CNN; `param_shapes` derives every parameter's shape from them."""

    n_classes: int = len(DEFAULT_CLASSES)
    input_size: int = INPUT_SIZE
    conv1: int = CONV1_FILTERS
    conv2: int = CONV2_FILTERS
    kernel: int = KERNEL
    pool: int = POOL
    hidden: int = HIDDEN

    def __post_init__(self) -> None:
        if self.n_classes < 2:
            raise ValueError(f"n_classes={self.n_classes}: a classifier needs at least 2 classes")
        if self.flat_size <= 0:
            raise ValueError(f"input_size={self.input_size} is too small for two {self.kernel}x{self.kernel} conv + pool layers")
        s1 = self.input_size - self.kernel + 1
        s2 = s1 // self.pool - self.kernel + 1
        if s1 % self.pool or s2 % self.pool:
            raise ValueError(f"input_size={self.input_size}: conv outputs ({s1}, {s2}) must divide by pool={self.pool}")

    @property
    def pooled_sizes(self) -> tuple[int, int]:
        s1 = (self.input_size - self.kernel + 1) // self.pool
        s2 = (s1 - self.kernel + 1) // self.pool
        return s1, s2

    @property
    def flat_size(self) -> int:
        return self.pooled_sizes[1] ** 2 * self.conv2

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        k = self.kernel
        return {
            "conv1_w": (self.conv1, 1, k, k),
            "conv1_b": (self.conv1,),
            "conv2_w": (self.conv2, self.conv1, k, k),
            "conv2_b": (self.conv2,),
            "dense1_w": (self.flat_size, self.hidden),
            "dense1_b": (self.hidden,),
            "dense2_w": (self.hidden, self.n_classes),
            "dense2_b": (self.n_classes,),
        }

    @classmethod
    def from_params(cls, params: dict[str, np.ndarray], input_size: int) -> "Architecture":
        """Infer the architecture from stored parameter shapes (the weights file's own description)."""
        w1, w2, d1, d2 = params["conv1_w"], params["conv2_w"], params["dense1_w"], params["dense2_w"]
        return cls(n_classes=d2.shape[1], input_size=input_size, conv1=w1.shape[0], conv2=w2.shape[0],
                   kernel=w1.shape[2], hidden=d1.shape[1])


def init_params(arch: Architecture, seed: int = 0) -> dict[str, np.ndarray]:
    """He-normal weights for the ReLU layers, Glorot for the logits, zero biases; float32."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in arch.param_shapes().items():
        if name.endswith("_b"):
            params[name] = np.zeros(shape, np.float32)
            continue
        fan_in = int(np.prod(shape[1:])) if name.startswith("conv") else shape[0]
        std = np.sqrt(2.0 / fan_in) if name != "dense2_w" else np.sqrt(2.0 / (shape[0] + shape[1]))
        params[name] = (rng.standard_normal(shape) * std).astype(np.float32)
    return params


def conv2d_valid(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """'Valid' cross-correlation, channels first: x (C,N,H,W), w (F,C,kh,kw) -> (F,N,H-kh+1,W-kw+1).

    im2col through a strided view (no Python loop) and one matmul. Channels-first keeps the copy that
    builds the patch matrix in contiguous image-row runs and the matmul's output in the next layer's
    layout, which makes it ~1.5x faster than channels-last for these small layers.
    """
    f, c, kh, kw = w.shape
    _, n, h, wd = x.shape
    ho, wo = h - kh + 1, wd - kw + 1
    cols = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))  # (C,N,Ho,Wo,kh,kw)
    cols = cols.transpose(0, 4, 5, 1, 2, 3).reshape(c * kh * kw, n * ho * wo)
    out = (w.reshape(f, c * kh * kw) @ cols).reshape(f, n, ho, wo)
    if b is not None:
        out += b[:, None, None, None]
    return out


def max_pool(x: np.ndarray, p: int) -> np.ndarray:
    """Non-overlapping p x p max-pool over the last two axes, as the max of p*p strided views."""
    out = x[..., 0::p, 0::p]
    for i in range(p):
        for j in range(p):
            if i or j:
                out = np.maximum(out, x[..., i::p, j::p])
    return out


def logits(params: dict[str, np.ndarray], x: np.ndarray, pool: int = POOL) -> np.ndarray:
    """Logits (N, n_classes) for images x (N, S, S) float32.

    Bias and ReLU are applied after the pool: max-pool commutes with a per-channel constant and with
    any increasing function, so the result is the same and the work 4x smaller.
    """
    h = np.asarray(x, np.float32)[None]  # (1, N, S, S)
    for layer in ("conv1", "conv2"):
        h = max_pool(conv2d_valid(h, params[f"{layer}_w"]), pool)
        h = np.maximum(h + params[f"{layer}_b"][:, None, None, None], 0)
    h = h.transpose(1, 2, 3, 0).reshape(h.shape[1], -1)  # flatten (H, W, C) per image, as the graph does
    h = np.maximum(h @ params["dense1_w"] + params["dense1_b"], 0)
    return h @ params["dense2_w"] + params["dense2_b"]


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def forward(params: dict[str, np.ndarray], x: np.ndarray, pool: int = POOL) -> np.ndarray:
    """Class probabilities (N, n_classes) for images x (N, S, S)."""
    return softmax(logits(params, x, pool))
