"""`training_host deploy` / `rollback` against a real OpenSSH server and real `anpr-device` daemons.

One sshd on 127.0.0.1 (its own host key and authorized_keys) serves every "device"; each device is a
directory with its own state dir and device config and its own running `anpr-device run` daemon
(files camera, a trigger that never fires). The client uses a generated ssh config (`--ssh-config`),
so the user's ~/.ssh is never read or written.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from training_host.loopback_fleet import LoopbackFleet, sshd_missing_reason

ROOT = Path(__file__).resolve().parents[1]


def _device_command_problem(command: str) -> str | None:
    """Why the real daemon cannot run here (None when it can): its CLI or the recognition library missing."""
    argv = command.split()
    if not shutil.which(argv[0]):
        return f"{argv[0]} not found: install the project (make setup)"
    probe = subprocess.run([sys.executable, "-c", "import device.cli, device.daemon, anpr.pipeline"],
                           capture_output=True, text=True, cwd=ROOT)
    if probe.returncode != 0:
        return f"the anpr-device daemon cannot run yet: {probe.stderr.strip().splitlines()[-1]}"
    return None


def _make_weights(path: Path, seed: int, hidden: int = 128) -> str:
    from anpr.network import DEFAULT_CLASSES, Architecture, init_params
    from anpr.weights import Weights, save_weights

    return save_weights(Weights(1, DEFAULT_CLASSES, 28, init_params(Architecture(hidden=hidden), seed)), path)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    reason = sshd_missing_reason()
    if reason:
        pytest.skip(reason)
    # ANPR_TEST_DEVICE_COMMAND: test against another anpr-device (e.g. an installed package).
    command = os.environ.get("ANPR_TEST_DEVICE_COMMAND")
    if not command:
        command = str(Path(sys.executable).with_name("anpr-device"))
        reason = _device_command_problem(command)
        if reason:
            pytest.skip(reason)
    with LoopbackFleet(tmp_path_factory.mktemp("fleet"), device_command=command) as f:
        yield f


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("weights")
    files = {"old": d / "old.pkl", "new": d / "new.pkl", "big": d / "big.pkl"}
    _make_weights(files["old"], seed=1)
    _make_weights(files["new"], seed=2)
    _make_weights(files["big"], seed=3, hidden=768)  # ~1.6 MB: a few seconds over the slow link
    return files


def run_cli(fleet: LoopbackFleet, tmp_path: Path, *args: str,
            env: dict | None = None) -> tuple[int, dict[str, dict], str]:
    """Run the real CLI in a subprocess; exit code, per-host results (from --json) and its output."""
    out = tmp_path / f"results-{time.monotonic_ns()}.json"
    proc = subprocess.run([sys.executable, "-m", "training_host.cli", *args, "--ssh-config", str(fleet.ssh_config),
                           "--json", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    results = {r["name"]: r for r in json.loads(out.read_text())} if out.exists() else {}
    return proc.returncode, results, proc.stdout + proc.stderr


def start_devices(fleet: LoopbackFleet, names: list[str], weights: Path, camera: Path | None = None):
    devices = [fleet.add_device(n, weights, camera=camera) for n in names]
    for d in devices:
        d.start_daemon()
    for d in devices:
        d.wait_running()
    return devices


def assert_untouched(device, old: Path) -> None:
    """current.pkl is still the old file with its sidecar, nothing half-written is left, the daemon runs it."""
    assert device.model_dir.joinpath("current.pkl").read_bytes() == old.read_bytes()
    assert device.model_dir.joinpath("current.pkl.sha256").read_text().split()[0] == sha(old)
    assert not list(device.model_dir.glob(".incoming-*"))
    assert device.status()["model_sha256"] == sha(old)


@pytest.mark.slow
def test_deploy_to_several_hosts_then_rollback(fleet, weights, tmp_path):
    devices = start_devices(fleet, ["cam-a1", "cam-a2", "cam-a3"], weights["old"])
    inventory = fleet.write_inventory(tmp_path / "hosts.ini", [d.name for d in devices])

    rc, results, output = run_cli(fleet, tmp_path, "deploy", str(weights["new"]), "--inventory", str(inventory),
                                  "--parallel", "3")
    assert rc == 0, output
    assert {n: r["outcome"] for n, r in results.items()} == {d.name: "deployed" for d in devices}
    assert "HOST" in output and "3 deployed of 3 hosts" in output
    new, old = sha(weights["new"]), sha(weights["old"])
    for d in devices:
        models = d.model_dir
        assert models.joinpath("current.pkl").read_bytes() == weights["new"].read_bytes()
        assert models.joinpath("current.pkl.sha256").read_text().split()[0] == new
        assert models.joinpath("previous.pkl").read_bytes() == weights["old"].read_bytes()
        assert models.joinpath("previous.pkl.sha256").read_text().split()[0] == old
        assert sorted(p.name for p in models.iterdir()) == ["current.pkl", "current.pkl.sha256", "previous.pkl",
                                                            "previous.pkl.sha256"]
        status = d.status()
        assert status["model_sha256"] == new and status["healthy"] is True and status["pid"] == d.daemon.pid

    # Roll one host back on purpose: current and previous swap, and the daemon runs the old model again.
    rc, results, output = run_cli(fleet, tmp_path, "rollback", "--inventory", str(inventory), "--limit", "cam-a2")
    assert rc == 0, output
    assert list(results) == ["cam-a2"] and results["cam-a2"]["outcome"] == "rolled back"
    a2 = devices[1].model_dir
    assert a2.joinpath("current.pkl").read_bytes() == weights["old"].read_bytes()
    assert a2.joinpath("previous.pkl").read_bytes() == weights["new"].read_bytes()
    assert devices[1].status()["model_sha256"] == old
    assert devices[0].status()["model_sha256"] == new  # the others were left alone


@pytest.mark.slow
def test_unknown_host_key_refused_with_fingerprint_then_accept_new(fleet, weights, tmp_path):
    (device,) = start_devices(fleet, ["unknown-key-cam"], weights["old"])
    inventory = fleet.write_inventory(tmp_path / "hosts.ini", [device.name])

    rc, results, output = run_cli(fleet, tmp_path, "deploy", str(weights["new"]), "-i", str(inventory))
    assert rc == 1, output
    res = results["unknown-key-cam"]
    assert res["outcome"] == "refused"
    assert "unknown host key" in res["reason"] and fleet.host_fingerprint in res["reason"]
    assert "--accept-new" in res["reason"]
    assert_untouched(device, weights["old"])
    assert fleet.empty_known_hosts.read_text() == ""  # strict: nothing was learnt

    rc, results, output = run_cli(fleet, tmp_path, "deploy", str(weights["new"]), "-i", str(inventory),
                                  "--accept-new")
    assert rc == 0, output
    assert results["unknown-key-cam"]["outcome"] == "deployed"
    assert fleet.empty_known_hosts.read_text().strip()  # the key was learnt on first use
    assert device.status()["model_sha256"] == sha(weights["new"])


def test_changed_host_key_refused_even_with_accept_new(fleet, weights, tmp_path):
    device = fleet.add_device("changed-key-cam", weights["old"])  # never reached: no daemon needed
    inventory = fleet.write_inventory(tmp_path / "hosts.ini", [device.name])
    rc, results, output = run_cli(fleet, tmp_path, "deploy", str(weights["new"]), "-i", str(inventory),
                                  "--accept-new")
    assert rc == 1, output
    reason = results["changed-key-cam"]["reason"]
    assert results["changed-key-cam"]["outcome"] == "refused"
    assert "CHANGED" in reason and fleet.host_fingerprint in reason
    assert device.model_dir.joinpath("current.pkl").read_bytes() == weights["old"].read_bytes()


@pytest.mark.slow
def test_host_down_is_reported_while_the_others_deploy(fleet, weights, tmp_path):
    up = start_devices(fleet, ["cam-b1", "cam-b2"], weights["old"])
    down = fleet.add_device("down-cam", weights["old"])
    inventory = fleet.write_inventory(tmp_path / "hosts.ini", ["cam-b1", "down-cam", "cam-b2"])

    rc, results, output = run_cli(fleet, tmp_path, "deploy", str(weights["new"]), "-i", str(inventory),
                                  "--parallel", "2", "--connect-timeout", "5")
    assert rc == 1, output
    assert results["down-cam"]["outcome"] == "unreachable"
    assert "refused" in results["down-cam"]["reason"].lower()  # "Connection refused" from ssh
    assert [results[d.name]["outcome"] for d in up] == ["deployed", "deployed"]
    assert all(d.status()["model_sha256"] == sha(weights["new"]) for d in up)
    assert down.model_dir.joinpath("current.pkl").read_bytes() == weights["old"].read_bytes()
    assert "unreachable" in output


def test_file_damaged_in_transit_is_refused_before_current_changes(fleet, weights, tmp_path):
    # This host's SSH key runs every command with one byte of its input flipped (bad storage/RAM).
    (device,) = start_devices(fleet, ["corrupting-cam"], weights["old"])
    inventory = fleet.write_inventory(tmp_path / "hosts.ini", [device.name])
    rc, results, output = run_cli(fleet, tmp_path, "deploy", str(weights["new"]), "-i", str(inventory))
    assert rc == 1, output
    assert results["corrupting-cam"]["outcome"] == "refused"
    assert "checksum mismatch" in results["corrupting-cam"]["reason"]
    assert_untouched(device, weights["old"])
    assert not device.model_dir.joinpath("previous.pkl").exists()


def test_garbage_file_refused_locally_and_by_the_device(fleet, weights, tmp_path):
    (device,) = start_devices(fleet, ["cam-c1"], weights["old"])
    inventory = fleet.write_inventory(tmp_path / "hosts.ini", [device.name])
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(os.urandom(50_000))

    # Checked here first: a broken file is sent nowhere.
    rc, results, output = run_cli(fleet, tmp_path, "deploy", str(garbage), "-i", str(inventory))
    assert rc == 2 and "sent nowhere" in output and results == {}

    # Even when the local check is skipped, the device's own loader refuses it before current changes.
    rc, results, output = run_cli(fleet, tmp_path, "deploy", str(garbage), "-i", str(inventory), "--no-local-check")
    assert rc == 1, output
    assert results["cam-c1"]["outcome"] == "refused"
    assert "check-model refused" in results["cam-c1"]["reason"]
    assert_untouched(device, weights["old"])


@pytest.mark.slow
def test_device_unhealthy_after_reload_is_rolled_back(fleet, weights, tmp_path):
    # The daemon runs but its camera folder is missing, so it never reports healthy.
    (device,) = start_devices(fleet, ["cam-d1"], weights["old"], camera=tmp_path / "no-camera-here")
    assert device.status()["healthy"] is False
    inventory = fleet.write_inventory(tmp_path / "hosts.ini", [device.name])

    rc, results, output = run_cli(fleet, tmp_path, "deploy", str(weights["new"]), "-i", str(inventory),
                                  "--health-timeout", "4")
    assert rc == 1, output
    res = results["cam-d1"]
    assert res["outcome"] == "rolled back"
    assert "healthy=False" in res["reason"]
    models = device.model_dir
    assert models.joinpath("current.pkl").read_bytes() == weights["old"].read_bytes()
    assert models.joinpath("current.pkl.sha256").read_text().split()[0] == sha(weights["old"])
    assert not list(models.glob(".incoming-*"))
    deadline = time.monotonic() + 30  # the daemon was told to reload the restored file
    while device.status()["model_sha256"] != sha(weights["old"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert device.status()["model_sha256"] == sha(weights["old"])


@pytest.mark.slow
def test_killed_deploy_leaves_current_intact(fleet, weights, tmp_path):
    # A slow link (a rate-limited relay as ProxyCommand) so the upload is still going when we kill.
    (device,) = start_devices(fleet, ["slow-cam"], weights["old"])
    inventory = fleet.write_inventory(tmp_path / "hosts.ini", [device.name])
    argv = [sys.executable, "-m", "training_host.cli", "deploy", str(weights["big"]), "-i", str(inventory),
            "--ssh-config", str(fleet.ssh_config)]
    # its SSH control folder outlives the kill: give it a TMPDIR of its own to remove afterwards
    # (short: the control socket's path must fit in ~100 bytes, pytest's tmp_path does not)
    scratch = Path(tempfile.mkdtemp(prefix="anpr-test-"))
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "TMPDIR": str(scratch)})
    try:
        deadline = time.monotonic() + 60
        partial = []
        while time.monotonic() < deadline and proc.poll() is None:
            partial = [p for p in device.model_dir.glob(".incoming-*.pkl") if p.stat().st_size > 0]
            if partial:
                break
            time.sleep(0.05)
        assert partial, "the upload never started"
        size_at_kill = partial[0].stat().st_size
        os.kill(proc.pid, signal.SIGKILL)  # the deploy process itself, mid-upload
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its ssh children (started by this test's process)
        except ProcessLookupError:
            pass
        shutil.rmtree(scratch, ignore_errors=True)
    time.sleep(1)
    assert size_at_kill < weights["big"].stat().st_size  # it really was killed mid-upload
    # Whatever reached the device stays a temp file (kept, or removed by the device-side script).
    assert all(p.stat().st_size < weights["big"].stat().st_size for p in device.model_dir.glob(".incoming-*.pkl"))
    assert device.model_dir.joinpath("current.pkl").read_bytes() == weights["old"].read_bytes()
    assert device.model_dir.joinpath("current.pkl.sha256").read_text().split()[0] == sha(weights["old"])
    assert not device.model_dir.joinpath("previous.pkl").exists()
    assert device.status()["model_sha256"] == sha(weights["old"]) and device.status()["healthy"] is True

    # The next deploy over the same slow link goes through.
    rc, results, output = run_cli(fleet, tmp_path, "deploy", str(weights["big"]), "-i", str(inventory))
    assert rc == 0, output
    assert device.status()["model_sha256"] == sha(weights["big"])


def test_sudo_and_a_second_deploy_of_the_same_file(fleet, weights, tmp_path):
    if shutil.which("sudo") is None:
        pytest.skip("sudo not installed (apt-get install sudo)")
    if os.geteuid() != 0:
        pytest.skip("needs root: the loopback devices log in as this user, who needs passwordless sudo")
    (device,) = start_devices(fleet, ["cam-f1"], weights["old"])
    inventory = fleet.write_inventory(tmp_path / "hosts.ini", [device.name])
    rc, results, output = run_cli(fleet, tmp_path, "deploy", str(weights["new"]), "-i", str(inventory), "--sudo")
    assert rc == 0, output
    assert results["cam-f1"]["outcome"] == "deployed"
    assert device.status()["model_sha256"] == sha(weights["new"])

    # The same file again: confirmed, not re-shipped, and previous.pkl still holds the model before it.
    rc, results, output = run_cli(fleet, tmp_path, "deploy", str(weights["new"]), "-i", str(inventory))
    assert rc == 0, output
    assert results["cam-f1"]["outcome"] == "deployed" and results["cam-f1"]["reason"] == "already current.pkl"
    assert device.model_dir.joinpath("previous.pkl").read_bytes() == weights["old"].read_bytes()


def test_key_from_ssh_agent(fleet, weights, tmp_path):
    # This host's ssh config names no key: the client key is only in an ssh-agent started here.
    (device,) = start_devices(fleet, ["agent-cam"], weights["old"])
    inventory = fleet.write_inventory(tmp_path / "hosts.ini", [device.name])
    no_agent = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    rc, results, output = run_cli(fleet, tmp_path, "deploy", str(weights["new"]), "-i", str(inventory), env=no_agent)
    assert rc == 1 and results["agent-cam"]["outcome"] == "unreachable", output
    assert "Permission denied" in results["agent-cam"]["reason"]

    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        with_agent = {**no_agent, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(fleet.client_key)], env=with_agent, check=True, capture_output=True)
        rc, results, output = run_cli(fleet, tmp_path, "deploy", str(weights["new"]), "-i", str(inventory),
                                      env=with_agent)
    finally:
        agent.terminate()
        agent.wait()
    assert rc == 0 and results["agent-cam"]["outcome"] == "deployed", output
    assert device.status()["model_sha256"] == sha(weights["new"])


def test_dry_run_connects_to_nothing(fleet, weights, tmp_path):
    device = fleet.add_device("cam-e1", weights["old"])  # no daemon: a dry run must not need one
    inventory = fleet.write_inventory(tmp_path / "hosts.ini", [device.name])
    rc, results, output = run_cli(fleet, tmp_path, "deploy", str(weights["new"]), "-i", str(inventory), "--dry-run")
    assert rc == 0, output
    assert f"{fleet.user}@127.0.0.1:{fleet.port}" in output  # what ssh -G resolved from the config
    assert "check-model" in output and str(device.model_dir) in output
    assert device.model_dir.joinpath("current.pkl").read_bytes() == weights["old"].read_bytes()
    assert not device.model_dir.joinpath("previous.pkl").exists()
