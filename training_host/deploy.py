"""`training_host deploy` and `training_host rollback`: ship weights to devices over SSH, safely.

The command line layer: it turns hosts/inventory and options into per-host plans, checks the weights
file locally first (a broken file should not cost a fleet-wide upload), then hands the plans to
`training_host.rollout`. Exit code 0 only if every host ended as intended.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from anpr.weights import WeightsError, file_sha256, load_weights, sidecar_text
from training_host import rollout
from training_host.device_model_dir import (
    DEFAULT_DEVICE_COMMAND, DEFAULT_MODEL_DIR, DEFAULT_RELOAD_COMMAND, DeviceSettings,
)
from training_host.inventory import HostEntry, InventoryError, load_inventory, parse_host_spec, select
from training_host.ssh import SshError, SshOptions, Target, effective_config

EXIT_OK, EXIT_HOSTS_FAILED, EXIT_USAGE = 0, 1, 2


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("hosts", nargs="*", metavar="HOST", help="[user@]host[:port] or a ~/.ssh/config alias")
    p.add_argument("-i", "--inventory", type=Path,
                   help="inventory file: one host a line, Ansible INI or Ansible YAML")
    p.add_argument("--limit", help="only these hosts or inventory groups (comma-separated)")
    ssh = p.add_argument_group("SSH (defaults come from ~/.ssh/config)")
    ssh.add_argument("--user", help="remote user (inventory ansible_user wins)")
    ssh.add_argument("--port", type=int, help="SSH port (inventory ansible_port wins)")
    ssh.add_argument("--identity", type=Path, help="private key file (inventory ansible_ssh_private_key_file wins)")
    ssh.add_argument("--ssh-config", type=Path,
                     help="use this ssh config file instead of ~/.ssh/config and /etc/ssh/ssh_config (ssh -F)")
    ssh.add_argument("--accept-new", action="store_true",
                     help="trust unknown host keys on first use (default: refuse them, showing the fingerprint)")
    ssh.add_argument("--connect-timeout", type=int, default=SshOptions.connect_timeout_s, metavar="S",
                     help=f"seconds to connect to each host (default {SshOptions.connect_timeout_s})")
    dev = p.add_argument_group("device side (inventory anpr_* variables win)")
    dev.add_argument("--sudo", action="store_true", help="run device-side commands through `sudo -n`")
    dev.add_argument("--model-dir", default=DEFAULT_MODEL_DIR, help=f"default {DEFAULT_MODEL_DIR}")
    dev.add_argument("--device-command", default=DEFAULT_DEVICE_COMMAND,
                     help=f"anpr-device on the device (default {DEFAULT_DEVICE_COMMAND!r})")
    dev.add_argument("--device-config", help="passed as --config to `anpr-device status` on the device")
    dev.add_argument("--reload-command", default=DEFAULT_RELOAD_COMMAND,
                     help=f"how the service reloads its model (default {DEFAULT_RELOAD_COMMAND!r})")
    dev.add_argument("--health-timeout", type=float, default=rollout.HEALTH_TIMEOUT_S, metavar="S",
                     help="seconds to wait for the device to report the model, healthy, before rolling back")
    p.add_argument("--parallel", type=int, default=rollout.DEFAULT_PARALLEL, metavar="N",
                   help=f"hosts at once (default {rollout.DEFAULT_PARALLEL})")
    p.add_argument("--dry-run", action="store_true", help="show what would happen on each host; connect to none")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the per-host results as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display, only the summary")


def add_parser(subparsers) -> None:
    d = subparsers.add_parser(
        "deploy", help="ship trained weights to devices over SSH (validated, atomic, rolled back if unhealthy)",
        description="Upload WEIGHTS to each device's model directory under a temporary name, check its SHA-256 "
                    "and validate it with `anpr-device check-model` there, rename it into current.pkl (keeping "
                    "previous.pkl), reload the service and wait for a healthy status on the new checksum; "
                    "otherwise restore the previous model.")
    d.add_argument("weights", type=Path, metavar="WEIGHTS.pkl")
    _add_common(d)
    d.add_argument("--no-local-check", action="store_true",
                   help="skip loading WEIGHTS here first (the device still validates it)")
    d.set_defaults(func=run_deploy)

    r = subparsers.add_parser("rollback", help="put each device's previous.pkl back into service",
                              description="Swap previous.pkl and current.pkl on each device (after validating "
                                          "previous.pkl there), reload and wait for a healthy status.")
    _add_common(r)
    r.set_defaults(func=run_rollback)


def _entries(args: argparse.Namespace) -> list[HostEntry]:
    entries = [parse_host_spec(h) for h in args.hosts]
    if args.inventory:
        entries += load_inventory(args.inventory)
    if not entries:
        raise InventoryError("no hosts: name them on the command line or pass --inventory FILE")
    entries = select(entries, args.limit)
    names = [e.name for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InventoryError(f"hosts listed twice: {', '.join(dupes)}")
    return entries


def _plans(args: argparse.Namespace, entries: list[HostEntry]) -> list[rollout.Plan]:
    plans = []
    for e in entries:
        v = e.vars
        sudo = e.sudo if e.sudo is not None else args.sudo
        device = DeviceSettings(
            model_dir=v.get("anpr_model_dir", args.model_dir),
            device_command=v.get("anpr_device_command", args.device_command),
            device_config=v.get("anpr_device_config", args.device_config),
            reload_command=v.get("anpr_reload_command", args.reload_command),
            sudo=sudo,
        )
        plans.append(rollout.Plan(e.name, Target(e.destination, e.user, e.port, e.identity), device))
    return plans


def _ssh_options(args: argparse.Namespace) -> SshOptions:
    return SshOptions(user=args.user, port=args.port, identity=args.identity, config_file=args.ssh_config,
                      accept_new=args.accept_new, connect_timeout_s=args.connect_timeout)


def _local_check(weights: Path) -> str:
    """Load the weights with the same loader the device uses; returns their SHA-256."""
    try:
        return load_weights(weights).sha256  # the file's own digest, taken while loading it
    except (WeightsError, OSError) as exc:
        raise ValueError(f"{weights} is not a usable weights file here, so it was sent nowhere: {exc}") from exc


def _print_dry_run(plans: list[rollout.Plan], ssh: SshOptions, steps: list[str]) -> None:
    for plan in plans:
        try:
            cfg = effective_config(plan.target, ssh)
            where = f"{cfg.get('user')}@{cfg.get('hostname')}:{cfg.get('port')}"
        except SshError as exc:
            where = f"(ssh config: {exc})"
        d = plan.device
        print(f"{plan.name}: ssh {where}, model dir {d.model_dir}{' via sudo' if d.sudo else ''}")
        for i, step in enumerate(steps, 1):
            print(f"  {i}. {step.format(d=d, status=' '.join(d.status_argv()))}")


def _finish(results: list[rollout.HostResult], good: str, json_path: Path | None) -> int:
    print(rollout.summary_table(results))
    if json_path:
        json_path.write_text(json.dumps([r.__dict__ for r in results], indent=2) + "\n")
    return EXIT_OK if all(r.outcome == good for r in results) else EXIT_HOSTS_FAILED


def _setup(args: argparse.Namespace) -> tuple[list[rollout.Plan], SshOptions, rollout.Timing]:
    if args.parallel < 1:
        raise ValueError(f"--parallel {args.parallel}: use 1 or more")
    if shutil.which("ssh") is None:
        raise ValueError("the OpenSSH client `ssh` is not installed: apt-get install openssh-client")
    return _plans(args, _entries(args)), _ssh_options(args), rollout.Timing(health_timeout_s=args.health_timeout)


def run_deploy(args: argparse.Namespace) -> int:
    try:
        plans, ssh, timing = _setup(args)
        weights = args.weights
        if not weights.is_file():
            raise ValueError(f"weights file {weights} does not exist: pass the .pkl written by `training_host train`")
        sha = file_sha256(weights) if args.no_local_check else _local_check(weights)
    except (ValueError, InventoryError) as exc:
        print(f"training_host deploy: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.dry_run:
        print(f"would deploy {weights} (sha256 {sha}, {weights.stat().st_size} bytes) to {len(plans)} host(s):")
        _print_dry_run(plans, ssh, [
            "check {d.model_dir} exists and is writable; sweep stale .incoming-* uploads",
            "upload to {d.model_dir}/.incoming-<random>.pkl and compare its SHA-256 on the device",
            "write the sidecar: " + sidecar_text(sha[:12] + "...", "current.pkl").strip(),
            "{d.device_command} check-model <temp file>",
            "current.pkl -> previous.pkl (hard link), temp file -> current.pkl (rename)",
            "reload: {d.reload_command}",
            f"poll `{{status}}` until model_sha256={sha[:12]}... and healthy "
            f"(up to {timing.health_timeout_s:.0f} s), else restore previous.pkl and reload",
        ])
        return EXIT_OK
    display = rollout.ProgressDisplay(len(plans), quiet=args.quiet)
    results = rollout.run_all(plans, lambda plan, progress: rollout.deploy_host(plan, weights, sha, ssh, timing,
                                                                                 progress),
                              args.parallel, display)
    return _finish(results, rollout.DEPLOYED, args.json)


def run_rollback(args: argparse.Namespace) -> int:
    try:
        plans, ssh, timing = _setup(args)
    except (ValueError, InventoryError) as exc:
        print(f"training_host rollback: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.dry_run:
        print(f"would roll back {len(plans)} host(s):")
        _print_dry_run(plans, ssh, [
            "{d.device_command} check-model {d.model_dir}/previous.pkl",
            "swap current.pkl and previous.pkl (with their sidecars)",
            "reload: {d.reload_command}",
            "poll `{status}` until it reports the previous checksum, healthy; else swap back and reload",
        ])
        return EXIT_OK
    display = rollout.ProgressDisplay(len(plans), quiet=args.quiet)
    results = rollout.run_all(plans, lambda plan, progress: rollout.rollback_host(plan, ssh, timing, progress),
                              args.parallel, display)
    return _finish(results, rollout.ROLLED_BACK, args.json)
