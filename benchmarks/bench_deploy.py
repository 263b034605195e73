"""Deploy a 1 MB weights file to 20 loopback devices: wall time with --parallel 1 and --parallel 10.

Every device is a real `anpr-device run` daemon behind one real sshd on 127.0.0.1 (see
training_host.loopback_fleet), so each host costs what it costs on a device: an SSH connection, the
upload, a SHA-256, an `anpr-device check-model` process (Python start + safe load + one forward pass),
the rename, a SIGHUP reload and status polls. All 20 "devices" share this machine's CPUs, so the
parallel figure here is a floor on the speed-up a real fleet (one CPU per device) would see.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import write_figures  # noqa: E402
from training_host.loopback_fleet import LoopbackFleet, sshd_missing_reason  # noqa: E402

DEVICES = 20
TARGET_BYTES = 1_000_000  # "a 1 MB weights file"
PARALLEL = (1, 10)


def make_weights(path: Path, seed: int) -> int:
    """A real weights file of about TARGET_BYTES (the hidden layer sized to get there)."""
    from anpr.network import DEFAULT_CLASSES, Architecture, init_params
    from anpr.weights import Weights, save_weights

    arch = Architecture()
    per_hidden = arch.flat_size + arch.n_classes + 1  # float32 parameters added per hidden unit
    hidden = max(16, (TARGET_BYTES // 4 - 20_000) // per_hidden)
    save_weights(Weights(1, DEFAULT_CLASSES, 28, init_params(Architecture(hidden=hidden), seed)), path)
    return path.stat().st_size


def deploy(fleet: LoopbackFleet, weights: Path, inventory: Path, parallel: int, out: Path) -> tuple[float, list[dict]]:
    argv = [sys.executable, "-m", "training_host.cli", "deploy", str(weights), "-i", str(inventory),
            "--ssh-config", str(fleet.ssh_config), "--parallel", str(parallel), "--quiet", "--json", str(out)]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"deploy --parallel {parallel} failed:\n{proc.stdout}{proc.stderr}")
    return wall, json.loads(out.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the figures here as JSON")
    ap.add_argument("--devices", type=int, default=DEVICES)
    args = ap.parse_args()
    reason = sshd_missing_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        tmp = Path(tmp)
        sizes = [make_weights(tmp / f"w{i}.pkl", seed=i) for i in range(len(PARALLEL) + 1)]
        with LoopbackFleet(tmp / "fleet") as fleet:
            names = [f"bench-{i:02d}" for i in range(args.devices)]
            devices = [fleet.add_device(n, tmp / "w0.pkl") for n in names]
            t0 = time.perf_counter()
            for d in devices:
                d.start_daemon()
            for d in devices:
                d.wait_running()
            print(f"{len(devices)} anpr-device daemons up in {time.perf_counter() - t0:.1f} s")
            inventory = fleet.write_inventory(tmp / "hosts.ini", names)
            figures = {"devices": len(devices), "weights_bytes": sizes[1], "runs": []}
            for i, parallel in enumerate(PARALLEL, 1):
                wall, results = deploy(fleet, tmp / f"w{i}.pkl", inventory, parallel, tmp / f"r{i}.json")
                per_host = [r["seconds"] for r in results]
                figures["runs"].append({
                    "parallel": parallel, "wall_s": round(wall, 2),
                    "per_host_median_s": round(statistics.median(per_host), 2),
                    "per_host_max_s": round(max(per_host), 2),
                    "deployed": sum(r["outcome"] == "deployed" for r in results),
                })
    print(f"\nDeploy {figures['weights_bytes'] / 1e6:.2f} MB weights to {figures['devices']} loopback devices "
          "(real sshd + anpr-device daemons on this machine)")
    print(f"{'parallel':>8}  {'wall s':>7}  {'per host median s':>17}  {'per host max s':>14}  deployed")
    for run in figures["runs"]:
        print(f"{run['parallel']:>8}  {run['wall_s']:>7.1f}  {run['per_host_median_s']:>17.2f}  "
              f"{run['per_host_max_s']:>14.2f}  {run['deployed']}/{figures['devices']}")
    base = figures["runs"][0]["wall_s"]
    figures["speedup_parallel_10"] = round(base / figures["runs"][-1]["wall_s"], 2)
    print(f"speed-up --parallel 10 vs 1: {figures['speedup_parallel_10']:.1f}x")
    if args.out:
        write_figures(figures, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
