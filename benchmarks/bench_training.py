"""Training speed of the character CNN per PyTensor mode vs the same network in PyTorch, and the
latency of classifying one plate (8 characters) per engine.

Each measurement runs in its own process (PyTensor's flags are fixed at import, and a NUMBA compile
should not inflate the others' memory). The machine may be shared, so every figure is the best of
several timed blocks, with the median beside it. Training data is random: speed does not depend on
the pixels. PyTorch (`torch==2.13.0`, the "bench" extra) is optional; without it its rows say so.

    python benchmarks/bench_training.py --out bench-results/training.json [--skip-numba]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import run_worker as run_script_worker, write_figures  # noqa: E402

BATCH_SIZE = 128
STEPS_PER_BLOCK = 20
BLOCKS = 3
ROUNDS = 2
WARMUP_STEPS = 3
PLATE_CHARS = 8
LATENCY_CALLS = 1000
WORKER_TIMEOUT_S = 900
GOAL_TRAIN_RATIO = 1.0
GOAL_PLATE_MS = 1.0


def _batch(n: int, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 28, 28), dtype=np.float32), rng.integers(0, n_classes, n).astype(np.int32)


def _blocks(step, batch_size: int, steps: int, blocks: int) -> dict:
    rates, cpu_rates = [], []
    for _ in range(blocks):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        rates.append(steps * batch_size / (time.perf_counter() - t))
        cpu_rates.append(steps * batch_size / max(time.process_time() - c, 1e-9))
    # samples per CPU-second: steadier than wall time on a shared machine (and honest about threads)
    return {"samples_per_s": round(max(rates), 1), "samples_per_s_median": round(float(np.median(rates)), 1),
            "samples_per_cpu_s": round(max(cpu_rates), 1)}


def _latency(fn, calls: int) -> dict:
    for _ in range(20):
        fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"ms_median": round(float(np.median(times)) * 1e3, 4), "ms_p90": round(float(np.percentile(times, 90)) * 1e3, 4)}


def worker_pytensor(mode: str, batch_size: int, steps: int, blocks: int) -> dict:
    from anpr import network
    from anpr.compile_cache import ensure_configured

    ensure_configured()
    import pytensor

    from anpr.graph import compile_training

    arch = network.Architecture()
    x, y = _batch(batch_size, arch.n_classes)
    mask = np.ones(batch_size, np.float32)
    t = time.perf_counter()
    fns = compile_training(network.init_params(arch, 0), arch, mode, batch_size=batch_size if mode == "JAX" else None)
    fns.step(x, y, mask)  # JAX and NUMBA compile lazily, at the first call
    compile_s = time.perf_counter() - t
    for _ in range(WARMUP_STEPS):
        fns.step(x, y, mask)
    out = _blocks(lambda: fns.step(x, y, mask), batch_size, steps, blocks)
    out.update(compile_s=round(compile_s, 1), blas_ldflags=pytensor.config.blas__ldflags)
    return out


def torch_model(n_classes: int):
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(512, 128), nn.ReLU(), nn.Linear(128, n_classes))


def worker_torch(batch_size: int, steps: int, blocks: int, threads: int | None) -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch_model(36)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = _batch(batch_size, 36)
    xt, yt = torch.from_numpy(x[:, None]), torch.from_numpy(y.astype(np.int64))

    def step() -> None:
        opt.zero_grad()
        loss_fn(model(xt), yt).backward()
        opt.step()

    for _ in range(WARMUP_STEPS):
        step()
    out = _blocks(step, batch_size, steps, blocks)
    out.update(threads=torch.get_num_threads(), version=torch.__version__)
    model.eval()
    xp = torch.from_numpy(x[:PLATE_CHARS, None])

    def infer() -> None:
        with torch.no_grad():
            torch.softmax(model(xp), dim=1)

    out["plate_latency"] = _latency(infer, LATENCY_CALLS)
    return out


def worker_latency(engine: str, mode: str) -> dict:
    from anpr import network
    from anpr.classify import CharClassifier
    from anpr.weights import FORMAT_VERSION, Weights

    arch = network.Architecture()
    w = Weights(FORMAT_VERSION, network.DEFAULT_CLASSES, 28, network.init_params(arch, 0), {})
    t = time.perf_counter()
    clf = CharClassifier(w, engine=engine, mode=mode)
    x, _ = _batch(PLATE_CHARS, arch.n_classes)
    clf.classify(x)
    setup_s = time.perf_counter() - t
    out = _latency(lambda: clf.classify(x), LATENCY_CALLS)
    out["setup_s"] = round(setup_s, 2)
    return out


def run_worker(worker: list[str], options: list[str], env_extra: dict | None = None) -> dict:
    """One measurement in a process of its own (PyTensor's flags are fixed at import)."""
    return run_script_worker(__file__, worker, options, env_extra, WORKER_TIMEOUT_S)


def have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="write the figures here as JSON")
    ap.add_argument("--modes", default="CVM,NUMBA,JAX", help="PyTensor modes to train with (default: %(default)s)")
    ap.add_argument("--skip-numba", action="store_true", help="leave out NUMBA (its first compile takes minutes)")
    ap.add_argument("--no-blas-compare", action="store_true", help="skip the CVM run without BLAS")
    ap.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    ap.add_argument("--steps", type=int, default=STEPS_PER_BLOCK, help="training steps per timed block")
    ap.add_argument("--blocks", type=int, default=BLOCKS, help="timed blocks per round (best and median are reported)")
    ap.add_argument("--rounds", type=int, default=ROUNDS, help="rounds over all backends in rotation (best is kept)")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        kind, *rest = args.worker
        if kind == "pytensor":
            result = worker_pytensor(rest[0], args.batch_size, args.steps, args.blocks)
        elif kind == "torch":
            result = worker_torch(args.batch_size, args.steps, args.blocks, int(rest[0]) if rest else None)
        else:
            result = worker_latency(rest[0], rest[1])
        print(json.dumps(result))
        return 0

    modes = [m.strip().upper() for m in args.modes.split(",") if m.strip()]
    if args.skip_numba and "NUMBA" in modes:
        modes.remove("NUMBA")
    common = ["--batch-size", str(args.batch_size), "--steps", str(args.steps), "--blocks", str(args.blocks)]
    training: dict[str, dict] = {}
    notes: list[str] = []

    # (row, worker args, extra env); rows that cannot run here get an error entry instead
    runs: list[tuple[str, list[str], dict | None]] = []
    if have("torch"):
        runs.append(("PyTorch", ["torch"], None))
        # On a busy machine PyTorch's OpenMP threads can lose to one thread; compare with its best.
        runs.append(("PyTorch 1 thread", ["torch", "1"], None))
    else:
        training["PyTorch"] = {"error": "torch not installed (pip install '.[bench]'; torch==2.13.0 wheel)"}
        notes.append("PyTorch skipped: not installed")
    for mode in modes:
        if mode == "JAX" and not have("jax"):
            training[mode] = {"error": "jax not installed (pip install '.[jax]')"}
            notes.append("JAX skipped: jax not installed")
            continue
        runs.append((mode, ["pytensor", mode], None))
        if mode == "CVM":  # the same single-thread comparison as PyTorch's
            runs.append(("CVM 1 BLAS thread", ["pytensor", mode], {"OPENBLAS_NUM_THREADS": "1"}))
    if "CVM" in modes and not args.no_blas_compare:
        flags = os.environ.get("PYTENSOR_FLAGS", "")
        runs.append(("CVM (no BLAS)", ["pytensor", "CVM"], {"PYTENSOR_FLAGS": ",".join(filter(None, [flags, "blas__ldflags="]))}))

    # Rounds in rotation, so a burst of load from other users hits every backend alike; each row
    # keeps its best round. NUMBA runs once (its compile alone takes minutes).
    first_compile: dict[str, float] = {}
    for rnd in range(args.rounds):
        for name, worker, env in runs:
            if rnd and name == "NUMBA":
                continue
            print(f"training, round {rnd + 1}/{args.rounds}: {name} ...", flush=True)
            r = run_worker(worker, common, env)
            if "compile_s" in r:
                first_compile.setdefault(name, r["compile_s"])
            prev = training.get(name)
            if prev is None or "error" in prev or ("error" not in r and r["samples_per_s"] > prev["samples_per_s"]):
                training[name] = r
    for name, seconds in first_compile.items():  # the first round's compile: cold, or from the cache
        if "error" not in training[name]:
            training[name]["compile_s"] = seconds

    latency: dict[str, dict] = {}
    for engine, mode in [("numpy", "-"), ("pytensor", "CVM")] + ([("pytensor", "JAX")] if have("jax") else []):
        print(f"latency: {engine} {mode} ...", flush=True)
        latency[f"{engine} {mode}".strip(" -")] = run_worker(["latency", engine, mode if mode != "-" else "CVM"], common)
    for name in ("PyTorch", "PyTorch 1 thread"):
        if "plate_latency" in training.get(name, {}):
            latency[f"{name} (reference)"] = training[name].pop("plate_latency")

    torch_rates = [r["samples_per_s"] for k, r in training.items() if k.startswith("PyTorch") and "samples_per_s" in r]
    ref = max(torch_rates) if torch_rates else None
    print(f"\nTraining, batch {args.batch_size}, best of {args.rounds} rounds x {args.blocks} blocks of {args.steps} steps "
          f"({os.cpu_count()} CPUs{', load ' + '%.1f' % os.getloadavg()[0] if hasattr(os, 'getloadavg') else ''})")
    ref_cpu = max((r["samples_per_cpu_s"] for k, r in training.items() if k.startswith("PyTorch") and "samples_per_cpu_s" in r),
                  default=None)
    print(f"{'backend':<19}{'samples/s':>10}{'median':>10}{'vs torch':>10}{'per CPU-s':>11}{'vs torch':>10}{'compile s':>11}")
    for name, r in training.items():
        if "error" in r:
            print(f"{name:<19}  {r['error']}")
            continue
        r["vs_torch"] = round(r["samples_per_s"] / ref, 2) if ref else None
        r["cpu_vs_torch"] = round(r["samples_per_cpu_s"] / ref_cpu, 2) if ref_cpu else None
        print(f"{name:<19}{r['samples_per_s']:>10.0f}{r['samples_per_s_median']:>10.0f}"
              f"{(str(r['vs_torch']) + 'x') if ref else '-':>10}{r['samples_per_cpu_s']:>11.0f}"
              f"{(str(r['cpu_vs_torch']) + 'x') if ref_cpu else '-':>10}{r.get('compile_s', '-'):>11}")
    print("(vs torch: against the faster PyTorch row; per CPU-s: samples per second of process CPU time)")
    print(f"\nClassify one plate ({PLATE_CHARS} characters), {LATENCY_CALLS} calls")
    print(f"{'engine':<30}{'median ms':>11}{'p90 ms':>9}{'setup s':>9}")
    for name, r in latency.items():
        if "error" in r:
            print(f"{name:<30}  {r['error']}")
            continue
        print(f"{name:<30}{r['ms_median']:>11.3f}{r['ms_p90']:>9.3f}{r.get('setup_s', '-'):>9}")
    best_train = max((r.get("vs_torch") or 0) for k, r in training.items() if not k.startswith("PyTorch") and "error" not in r) \
        if ref else None
    numpy_ms = latency.get("numpy", {}).get("ms_median")
    print(f"\ngoals: training >= {GOAL_TRAIN_RATIO}x PyTorch: "
          f"{'n/a' if best_train is None else ('met' if best_train >= GOAL_TRAIN_RATIO else 'NOT met') + f' (best {best_train}x)'}; "
          f"plate <= {GOAL_PLATE_MS} ms (numpy): {'n/a' if numpy_ms is None else ('met' if numpy_ms <= GOAL_PLATE_MS else 'NOT met')}")
    for n in notes:
        print(n)

    result = {"batch_size": args.batch_size, "steps_per_block": args.steps, "blocks": args.blocks,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "training": training, "plate_latency": latency, "notes": notes}
    if args.out:
        write_figures(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
