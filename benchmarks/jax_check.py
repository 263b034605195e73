"""Check PyTensor's JAX path (the CUDA path on a GPU workstation or a Jetson) on whatever device JAX
sees: the shipped model reads the same through JAX as through the numpy engine, a training run
gives the same losses on that device as on JAX's CPU, it learns real digits there, and how fast
it trains per batch size. On a machine without a GPU, JAX's device is the CPU and the first two
checks compare the CPU with itself.

    python benchmarks/jax_check.py [--mnist ../shared/data/mnist/t10k-images-idx3-ubyte.gz] [--out FILE]

Each training measurement runs in its own process: JAX picks its platform at import
(`JAX_PLATFORMS=cpu` forces the CPU run of the equivalence check).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import run_worker as run_script_worker, write_figures  # noqa: E402

EQUIV_STEPS = 50
EQUIV_BATCH = 128
SPEED_BATCHES = (128, 512, 2048)
SPEED_STEPS = 20
SPEED_BLOCKS = 3
DIGITS_TRAIN = 8000
DIGITS_EPOCHS = 3
DIGITS_BATCH = 256
WORKER_TIMEOUT_S = 900


def _data(n: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 28, 28), dtype=np.float32), rng.integers(0, n_classes, n).astype(np.int32)


def _device() -> dict:
    import jax
    import pytensor

    return {"jax": jax.__version__, "pytensor": pytensor.__version__, "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()]}


def worker_steps() -> dict:
    """EQUIV_STEPS Adam steps from seed-0 weights on fixed random batches: losses and final weights."""
    from anpr import network
    from anpr.graph import compile_training

    arch = network.Architecture()
    fns = compile_training(network.init_params(arch, 0), arch, "JAX", batch_size=EQUIV_BATCH)
    mask = np.ones(EQUIV_BATCH, np.float32)
    losses = []
    for k in range(EQUIV_STEPS):
        x, y = _data(EQUIV_BATCH, arch.n_classes, seed=k)
        losses.append(fns.step(x, y, mask)[0])
    final = {name: np.asarray(v).ravel().tolist() for name, v in fns.params().items()}
    return {"device": _device(), "losses": losses, "params": final}


def worker_speed(batch: int) -> dict:
    """Training samples per second at `batch` on JAX's default device (best of SPEED_BLOCKS blocks)."""
    from anpr import network
    from anpr.graph import compile_training

    arch = network.Architecture()
    x, y = _data(batch, arch.n_classes, seed=0)
    mask = np.ones(batch, np.float32)
    t = time.perf_counter()
    fns = compile_training(network.init_params(arch, 0), arch, "JAX", batch_size=batch)
    fns.step(x, y, mask)  # JAX compiles at the first call
    compile_s = time.perf_counter() - t
    for _ in range(3):
        fns.step(x, y, mask)
    rates = []
    for _ in range(SPEED_BLOCKS):
        t = time.perf_counter()
        for _ in range(SPEED_STEPS):
            fns.step(x, y, mask)  # returns host floats: every step waits for the device
        rates.append(SPEED_STEPS * batch / (time.perf_counter() - t))
    return {"batch": batch, "samples_per_s": round(max(rates), 1), "compile_s": round(compile_s, 2),
            "backend": _device()["backend"]}


def worker_digits(images: str) -> dict:
    """Train on the first DIGITS_TRAIN MNIST digits of `images` through JAX, test on the rest."""
    from anpr import network
    from anpr.graph import compile_training, pad_batch
    from training_host.datasets.mnist import load_mnist

    digits = load_mnist(images)
    labels = np.array([network.DEFAULT_CLASSES.index(c) for c in digits.labels], np.int32)
    x_train, y_train = digits.images[:DIGITS_TRAIN], labels[:DIGITS_TRAIN]
    x_test, y_test = digits.images[DIGITS_TRAIN:], labels[DIGITS_TRAIN:]
    arch = network.Architecture()
    fns = compile_training(network.init_params(arch, 0), arch, "JAX", batch_size=DIGITS_BATCH)
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    for _ in range(DIGITS_EPOCHS):
        order = rng.permutation(len(x_train))
        for s in range(0, len(order), DIGITS_BATCH):
            idx = order[s : s + DIGITS_BATCH]
            xb, n = pad_batch(x_train[idx], DIGITS_BATCH)
            yb = np.zeros(DIGITS_BATCH, np.int32)
            yb[:n] = y_train[idx]
            mb = (np.arange(DIGITS_BATCH) < n).astype(np.float32)
            fns.step(xb, yb, mb)
    train_s = time.perf_counter() - t
    # the trained weights read the held-out digits through the numpy engine: the two engines agree
    probs = network.forward({k: np.asarray(v, np.float32) for k, v in fns.params().items()}, x_test)
    return {"train_digits": len(x_train), "test_digits": len(x_test), "epochs": DIGITS_EPOCHS,
            "test_accuracy": round(float((probs.argmax(axis=1) == y_test).mean()), 4),
            "train_s": round(train_s, 1), "backend": _device()["backend"]}


def worker_inference() -> dict:
    """The shipped model through JAX against the numpy engine, on 1000 random crops."""
    from anpr.classify import CharClassifier

    x, _ = _data(1000, 36, seed=1)
    ref = CharClassifier(engine="numpy").classify(x)[1]
    jax_probs = CharClassifier(engine="pytensor", mode="JAX").classify(x)[1]
    return {"max_abs_diff": float(np.abs(ref - jax_probs).max()),
            "argmax_agree": float((ref.argmax(axis=1) == jax_probs.argmax(axis=1)).mean()),
            "backend": _device()["backend"]}


def run_worker(worker: list[str], env_extra: dict | None = None) -> dict:
    """One check in a process of its own (JAX picks its platform at import)."""
    return run_script_worker(__file__, worker, env_extra=env_extra, timeout_s=WORKER_TIMEOUT_S)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mnist", type=Path, help="MNIST images (IDX, .gz or raw) for the learning check")
    ap.add_argument("--out", type=Path, help="write the figures here as JSON")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        kind, *rest = args.worker
        workers = {"inference": worker_inference, "steps": worker_steps,
                   "speed": lambda: worker_speed(int(rest[0])), "digits": lambda: worker_digits(rest[0])}
        print(json.dumps(workers[kind]()))
        return 0

    figures: dict = {}
    print("inference: the shipped model through JAX vs the numpy engine ...", flush=True)
    figures["inference"] = run_worker(["inference"])
    print(f"  {figures['inference']}", flush=True)

    print(f"equivalence: {EQUIV_STEPS} training steps on JAX's default device and on its CPU ...", flush=True)
    dev, cpu = run_worker(["steps"]), run_worker(["steps"], {"JAX_PLATFORMS": "cpu"})
    if "error" in dev or "error" in cpu:
        figures["equivalence"] = {"device": dev.get("error", "ok"), "cpu": cpu.get("error", "ok")}
    else:
        dl, cl = np.array(dev["losses"]), np.array(cpu["losses"])
        dp = max(float(np.abs(np.array(dev["params"][k]) - np.array(cpu["params"][k])).max()) for k in dev["params"])
        figures["device"] = dev["device"]
        figures["equivalence"] = {"steps": EQUIV_STEPS, "loss_first": round(float(dl[0]), 5),
                                  "loss_last": round(float(dl[-1]), 5), "max_loss_diff": float(np.abs(dl - cl).max()),
                                  "max_weight_diff": dp, "cpu_backend": cpu["device"]["backend"]}
    print(f"  device: {figures.get('device')}\n  {figures['equivalence']}", flush=True)

    figures["speed"] = []
    for batch in SPEED_BATCHES:
        print(f"speed: batch {batch} ...", flush=True)
        figures["speed"].append(run_worker(["speed", str(batch)]))
        print(f"  {figures['speed'][-1]}", flush=True)

    if args.mnist:
        print(f"learning: {DIGITS_EPOCHS} epochs on {DIGITS_TRAIN} MNIST digits ...", flush=True)
        figures["digits"] = run_worker(["digits", str(args.mnist.resolve())])
        print(f"  {figures['digits']}", flush=True)
    if args.out:
        write_figures(figures, args.out)
    return 1 if any("error" in (v if isinstance(v, dict) else {}) for v in figures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
