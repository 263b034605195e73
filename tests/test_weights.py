"""The weights pickle: round trip, sidecar, shape checks, and refusal of a real malicious pickle."""
from __future__ import annotations

import os
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from anpr import network
from anpr.weights import (
    FORMAT_VERSION, Weights, WeightsError, default_weights_path, file_sha256, load_weights, save_weights,
    sidecar_path,
)


def make_weights(classes: str = network.DEFAULT_CLASSES, seed: int = 0) -> Weights:
    arch = network.Architecture(n_classes=len(classes))
    meta = {"seed": seed, "accuracy": np.float32(0.5), "datasets": {"mnist": 10}, "date": "2026-01-01"}
    return Weights(FORMAT_VERSION, classes, arch.input_size, network.init_params(arch, seed), meta)


def write_raw(path: Path, payload: object) -> None:
    path.write_bytes(pickle.dumps(payload, protocol=4))


def test_round_trip_keeps_everything_and_writes_a_matching_sidecar(tmp_path):
    w = make_weights("0123ABC")
    path = tmp_path / "m.pkl"
    digest = save_weights(w, path)
    assert digest == file_sha256(path)
    assert sidecar_path(path).read_text().split() == [digest, "m.pkl"]
    back = load_weights(path)
    assert back.classes == "0123ABC" and back.input_size == 28 and back.format_version == FORMAT_VERSION
    assert back.sha256 == digest
    assert back.metadata == {"seed": 0, "accuracy": 0.5, "datasets": {"mnist": 10}, "date": "2026-01-01"}
    assert set(back.params) == set(w.params)
    for name, arr in w.params.items():
        assert back.params[name].dtype == np.float32
        np.testing.assert_array_equal(back.params[name], arr)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_loads_without_sidecar(tmp_path):
    path = tmp_path / "m.pkl"
    digest = save_weights(make_weights(), path)
    sidecar_path(path).unlink()
    assert load_weights(path).sha256 == digest


def test_sidecar_mismatch_is_a_clear_error(tmp_path):
    path = tmp_path / "m.pkl"
    save_weights(make_weights(seed=0), path)
    other = tmp_path / "other.pkl"
    save_weights(make_weights(seed=1), other)
    os.replace(other, path)  # new file, stale sidecar
    with pytest.raises(WeightsError, match="does not match m.pkl.sha256"):
        load_weights(path)


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    class Payload:
        def __init__(self, marker: Path) -> None:
            self.marker = marker

        def __reduce__(self):
            return (os.system, (f"touch {self.marker}",))

    # Sanity: the payload is real — a plain pickle.load runs it.
    probe_marker = tmp_path / "probe-ran"
    pickle.loads(pickle.dumps({"params": Payload(probe_marker)}, protocol=4))
    assert probe_marker.exists()

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"format_version": 1, "params": Payload(marker)}, protocol=4))
    with pytest.raises(WeightsError, match=r"refused.*forbidden global (posix|os)\.system"):
        load_weights(path)
    assert not marker.exists()


@pytest.mark.parametrize("module,name", [("builtins", "eval"), ("numpy", "load"), ("subprocess", "Popen")])
def test_any_other_global_is_refused(tmp_path, module, name):
    # Hand-written protocol-2 pickle: GLOBAL module name, then call with ("1",)
    data = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X\x01\x00\x00\x001\x85R."
    path = tmp_path / "g.pkl"
    path.write_bytes(data)
    with pytest.raises(WeightsError, match=f"forbidden global {module}.{name}"):
        load_weights(path)


def test_wrong_shapes_and_class_count_are_refused(tmp_path):
    w = make_weights()
    bad = dict(w.params)
    bad["conv2_w"] = np.zeros((32, 16, 3, 3), np.float32)
    with pytest.raises(WeightsError, match="conv2_w has shape"):
        save_weights(replace(w, params=bad), tmp_path / "a.pkl")

    path = tmp_path / "b.pkl"
    payload = {"format_version": FORMAT_VERSION, "classes": "ABC", "input_size": 28, "layer_shapes": {},
               "params": w.params, "metadata": {}}
    write_raw(path, payload)
    with pytest.raises(WeightsError, match="3 classes 'ABC' but the output layer has 36 units"):
        load_weights(path)

    payload["classes"] = network.DEFAULT_CLASSES
    payload["params"] = {**w.params, "dense1_w": w.params["dense1_w"].astype(np.float64)}
    write_raw(path, payload)
    with pytest.raises(WeightsError, match="dense1_w is float64"):
        load_weights(path)


def test_unknown_version_missing_file_and_garbage(tmp_path):
    w = make_weights()
    path = tmp_path / "v.pkl"
    write_raw(path, {"format_version": 99, "classes": w.classes, "input_size": 28, "layer_shapes": {},
                     "params": w.params, "metadata": {}})
    with pytest.raises(WeightsError, match="format_version 99 is not supported"):
        load_weights(path)
    with pytest.raises(WeightsError, match="cannot read weights file"):
        load_weights(tmp_path / "missing.pkl")
    good = tmp_path / "t.pkl"
    save_weights(w, good)
    sidecar_path(good).unlink()
    good.write_bytes(good.read_bytes()[:500])
    with pytest.raises(WeightsError, match="not a readable weights pickle"):
        load_weights(good)
    write_raw(path, [1, 2, 3])
    with pytest.raises(WeightsError, match="unexpected content"):
        load_weights(path)


def test_default_weights_path_is_package_data():
    path = default_weights_path()
    assert path.name == "default.pkl" and path.parent.name == "models" and path.parent.parent.name == "anpr"


def test_default_weights_load_through_the_safe_loader():
    path = default_weights_path()
    if not path.exists():
        pytest.skip(f"{path} not trained yet (training_host train writes it)")
    w = load_weights(path)
    assert set(network.DEFAULT_CLASSES) <= set(w.classes)  # 0-9A-Z (plus a reject class, if trained with one)
    assert w.sha256 == file_sha256(path)
