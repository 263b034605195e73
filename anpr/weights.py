"""The weights file: a pickle of plain data that is loaded without ever running code from it.

A pickle can call any importable function while it loads (`os.system` included), so the loader
admits only what this format is made of: builtins containers/scalars and the two numpy callables
that rebuild an ndarray (`numpy.core.multiarray._reconstruct`, `numpy.dtype`, plus
`numpy.ndarray` itself). Any other global is refused before it is looked up. A SHA-256 sidecar
(`NAME.pkl.sha256`) written at save catches a truncated or swapped file at load.

On disk: a dict {"format_version", "classes", "input_size", "layer_shapes", "params" (name ->
float32 ndarray), "metadata" (training data sets, counts, date, seed, accuracy)}.
"""
from __future__ import annotations

import hashlib
import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anpr.atomicfile import write_atomic
from anpr.network import Architecture

FORMAT_VERSION = 1
PICKLE_PROTOCOL = 4
SIDECAR_SUFFIX = ".sha256"
MAX_FILE_BYTES = 64 * 1024 * 1024
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "models" / "default.pkl"

# (module, name) pairs the unpickler may resolve: ndarray reconstruction (numpy 1.x and 2.x paths)
# and nothing else. Builtin containers and scalars need no globals at all in protocol 4.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}
_TOP_KEYS = {"format_version", "classes", "input_size", "layer_shapes", "params", "metadata"}


class WeightsError(ValueError):
    """The weights file is unreadable, unsafe, corrupted, or does not fit the network."""


@dataclass(frozen=True)
class Weights:
    format_version: int
    classes: str
    input_size: int
    params: dict[str, np.ndarray]
    metadata: dict = field(default_factory=dict)
    sha256: str = ""

    @property
    def architecture(self) -> Architecture:
        return Architecture.from_params(self.params, self.input_size)


class _ForbiddenGlobal(pickle.UnpicklingError):
    pass


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise _ForbiddenGlobal(f"forbidden global {module}.{name}")


def file_sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_weights_path() -> Path:
    """The weights shipped with the package (`anpr/models/default.pkl`)."""
    return DEFAULT_WEIGHTS


def sidecar_path(path: Path | str) -> Path:
    return Path(str(path) + SIDECAR_SUFFIX)


def sidecar_text(sha256: str, filename: str) -> str:
    """The `.sha256` sidecar's contents, as `sha256sum` writes them (so `sha256sum -c` checks the pair)."""
    return f"{sha256}  {filename}\n"


def _to_plain(value: Any) -> Any:
    """Metadata as builtins only (numpy scalars/arrays -> Python values), so it survives the safe load."""
    if isinstance(value, dict):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def save_weights(w: Weights, path: Path | str) -> str:
    """Write `path` and its `path.sha256` sidecar atomically; returns the file's hex SHA-256."""
    path = Path(path)
    _validate(w.classes, w.input_size, w.params, path)
    payload = {
        "format_version": FORMAT_VERSION,
        "classes": str(w.classes),
        "input_size": int(w.input_size),
        "layer_shapes": {k: list(v.shape) for k, v in w.params.items()},
        "params": {k: np.ascontiguousarray(v, np.float32) for k, v in w.params.items()},
        "metadata": _to_plain(dict(w.metadata)),
    }
    data = pickle.dumps(payload, protocol=PICKLE_PROTOCOL)
    digest = hashlib.sha256(data).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
    write_atomic(sidecar_path(path), sidecar_text(digest, path.name).encode())
    return digest


def _validate(classes: Any, input_size: Any, params: Any, path: Path) -> None:
    if not isinstance(classes, str) or len(classes) < 2 or len(set(classes)) != len(classes):
        raise WeightsError(f"{path}: class list {classes!r} must be a string of at least 2 distinct characters")
    if not isinstance(input_size, int) or not 8 <= input_size <= 256:
        raise WeightsError(f"{path}: input_size={input_size!r} out of range 8..256")
    if not isinstance(params, dict):
        raise WeightsError(f"{path}: params must be a dict of arrays, got {type(params).__name__}")
    try:
        arch = Architecture.from_params(params, input_size)
    except (KeyError, IndexError, AttributeError, ValueError) as exc:
        raise WeightsError(f"{path}: parameters do not describe the character CNN ({exc!r}); retrain or re-export the model") from exc
    expected = arch.param_shapes()
    if set(params) != set(expected):
        raise WeightsError(f"{path}: parameter names {sorted(params)} differ from the network's {sorted(expected)}")
    for name, shape in expected.items():
        arr = params[name]
        if not isinstance(arr, np.ndarray) or arr.shape != shape:
            got = getattr(arr, "shape", type(arr).__name__)
            raise WeightsError(f"{path}: parameter {name} has shape {got}, the network needs {shape}")
        if arr.dtype != np.float32:
            raise WeightsError(f"{path}: parameter {name} is {arr.dtype}, expected float32")
        if not np.all(np.isfinite(arr)):
            raise WeightsError(f"{path}: parameter {name} contains NaN/inf; the training run diverged")
    if arch.n_classes != len(classes):
        raise WeightsError(f"{path}: {len(classes)} classes {classes!r} but the output layer has {arch.n_classes} units")


def load_weights(path: Path | str) -> Weights:
    """Safe-load a weights pickle, check its sidecar (when present), format and shapes."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise WeightsError(f"{path}: {size} bytes is larger than any weights file ({MAX_FILE_BYTES}); wrong file?")
        data = path.read_bytes()
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read weights file ({exc.strerror or exc}); check the path and permissions") from exc
    digest = hashlib.sha256(data).hexdigest()
    side = sidecar_path(path)
    if side.exists():
        try:
            expected = side.read_text().split()[0].lower()
        except (OSError, IndexError) as exc:
            raise WeightsError(f"{side}: unreadable or empty checksum sidecar; re-deploy the model with its .sha256") from exc
        if expected != digest:
            raise WeightsError(f"{path}: SHA-256 {digest} does not match {side.name} ({expected}); "
                               "the file is corrupted or was replaced — re-deploy it")
    try:
        payload = _RestrictedUnpickler(io.BytesIO(data)).load()
    except _ForbiddenGlobal as exc:
        raise WeightsError(f"{path}: refused to load: {exc}. A weights file holds only arrays and plain data; "
                           "this one is not a model written by save_weights (possibly malicious) — do not use it") from exc
    except Exception as exc:  # truncated/garbled pickles raise many types
        raise WeightsError(f"{path}: not a readable weights pickle ({type(exc).__name__}: {exc}); re-export the model") from exc
    if not isinstance(payload, dict) or set(payload) != _TOP_KEYS:
        keys = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise WeightsError(f"{path}: unexpected content {keys}; expected keys {sorted(_TOP_KEYS)}")
    version = payload["format_version"]
    if version != FORMAT_VERSION:
        raise WeightsError(f"{path}: format_version {version!r} is not supported (this build reads {FORMAT_VERSION}); "
                           "upgrade anpr or re-export the model")
    params = payload["params"]
    _validate(payload["classes"], payload["input_size"], params, path)
    metadata = payload["metadata"]
    if not isinstance(metadata, dict):
        raise WeightsError(f"{path}: metadata must be a dict, got {type(metadata).__name__}")
    return Weights(FORMAT_VERSION, payload["classes"], payload["input_size"], dict(params), metadata, digest)
