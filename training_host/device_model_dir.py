"""What deploy does inside a device's model directory, as short POSIX sh scripts run over SSH.

The scripts live in `training_host/device_scripts/*.sh` so the Ansible playbook
(`packaging/ansible/deploy-model.yml`) runs the very same steps.

The layout is the daemon's contract: `<model_dir>/current.pkl` (+ `current.pkl.sha256`) is what the
daemon loads, `previous.pkl` (+ sidecar) is the model before it. Every change is a rename of a fully
written file within that directory, so `current.pkl` is at every instant either the old or the new
complete file; an upload that dies half way leaves only a `.incoming-*` file, which a later deploy
sweeps away. The sidecar is removed before `current.pkl` is replaced and written after, so the daemon
never sees a checksum that belongs to the other file.
"""
from __future__ import annotations

import json
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from anpr.weights import sidecar_text
from training_host.ssh import Result, Session, remote_command, shell_script

# Named defaults, all in one place.
DEFAULT_MODEL_DIR = "/var/lib/anpr/models"
DEFAULT_DEVICE_COMMAND = "anpr-device"
DEFAULT_RELOAD_COMMAND = "systemctl reload anpr-device"
STALE_UPLOAD_MINUTES = 60  # `.incoming-*` files older than this are leftovers of killed deploys
CHECK_MODEL_TIMEOUT_S = 300.0  # a first forward pass on a slow device may compile


class DeviceError(RuntimeError):
    """A step failed on the device; `kind` is "refused" (nothing changed) or "failed"."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class DeviceSettings:
    """Where the model lives on a device and how to talk to its service (per host, from the inventory)."""

    model_dir: str = DEFAULT_MODEL_DIR
    device_command: str = DEFAULT_DEVICE_COMMAND  # shell words, e.g. "/opt/anpr/bin/anpr-device"
    device_config: str | None = None  # passed as `--config` to `anpr-device status`
    reload_command: str = DEFAULT_RELOAD_COMMAND  # shell command line run on the device
    sudo: bool = False  # run every device-side command through `sudo -n`

    def __post_init__(self) -> None:
        if not self.model_dir.startswith("/"):
            raise ValueError(f"model dir {self.model_dir!r} must be an absolute path on the device")
        if not shlex.split(self.device_command):
            raise ValueError("device command is empty: give the path of anpr-device on the device")
        if not self.reload_command.strip():
            raise ValueError("reload command is empty: give e.g. 'systemctl reload anpr-device'")

    def device_argv(self, *args: str) -> list[str]:
        return shlex.split(self.device_command) + list(args)

    def status_argv(self) -> list[str]:
        argv = self.device_argv("status", "--json")
        return argv + (["--config", self.device_config] if self.device_config else [])


SCRIPTS_DIR = Path(__file__).resolve().parent / "device_scripts"


def _script_text(name: str) -> str:
    path = SCRIPTS_DIR / f"{name}.sh"
    try:
        return path.read_text()
    except OSError as exc:
        raise RuntimeError(f"{path} is missing: reinstall the project (pip install -e .)") from exc


PREPARE, UPLOAD, DISCARD, PROMOTE, RESTORE, SWAP = (
    _script_text(n) for n in ("prepare", "upload", "discard", "promote", "restore", "swap"))


def _key_values(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _why(result_stderr: str, fallback: str) -> str:
    lines = [ln.strip() for ln in result_stderr.strip().splitlines() if ln.strip()]
    if any("a password is required" in ln or "a terminal is required" in ln for ln in lines):
        return "sudo needs a password on the device: allow the deploy user passwordless sudo (NOPASSWD)"
    return lines[-1] if lines else fallback


class ModelDir:
    """The model directory of one device, reached through an open SSH session."""

    def __init__(self, session: Session, settings: DeviceSettings):
        self.session = session
        self.settings = settings

    def _script(self, script: str, *args: str) -> Result:
        return self.session.run(shell_script(script, *args, sudo=self.settings.sudo))

    def prepare(self) -> dict[str, str]:
        """Check the directory is usable, sweep stale uploads; returns the checksums of current/previous."""
        result = self._script(PREPARE, self.settings.model_dir, str(STALE_UPLOAD_MINUTES))
        if result.returncode != 0 or "ready=1" not in result.stdout:
            raise DeviceError("refused", _why(result.stderr, f"cannot use {self.settings.model_dir}"))
        return _key_values(result.stdout)

    def temp_name(self) -> str:
        return f"{self.settings.model_dir.rstrip('/')}/.incoming-{secrets.token_hex(6)}.pkl"

    def upload(self, source: BinaryIO, tmp: str, sha256: str, progress: Callable[[int], None] | None = None) -> None:
        """Stream the weights into `tmp` (+ sidecar) and check the checksum of what landed; refuse on mismatch."""
        command = shell_script(UPLOAD, tmp, sha256, sidecar_text(sha256, "current.pkl"), sudo=self.settings.sudo)
        result = self.session.upload(source, command, progress)
        arrived = result.stdout.strip()
        if result.returncode != 0:
            self.discard(tmp)
            raise DeviceError("refused", f"upload to {tmp} failed: {_why(result.stderr, 'no message')}")
        if arrived != sha256:
            raise DeviceError("refused", f"checksum mismatch after upload: sent {sha256[:12]}, device has "
                                         f"{arrived[:12] or '(nothing)'}; the file was damaged in transit or on the "
                                         f"device's storage, current model untouched")

    def check_model(self, path: str) -> None:
        """Validate a weights file with the device's own loader (`anpr-device check-model`)."""
        argv = self.settings.device_argv("check-model", path)
        result = self.session.run(remote_command(argv, sudo=self.settings.sudo), timeout=CHECK_MODEL_TIMEOUT_S)
        if result.returncode == 127:
            raise DeviceError("refused", f"{argv[0]} not found on the device: install the anpr-device package or "
                                         "set the device command (--device-command / anpr_device_command)")
        if result.returncode != 0:
            raise DeviceError("refused", f"anpr-device check-model refused the file: "
                                         f"{_why(result.stderr or result.stdout, 'exit ' + str(result.returncode))}")

    def discard(self, tmp: str) -> None:
        self._script(DISCARD, tmp)

    def promote(self, tmp: str) -> bool:
        """Rename the checked temp file into current.pkl; returns whether there was a current.pkl before."""
        result = self._script(PROMOTE, self.settings.model_dir, tmp)
        if result.returncode != 0:
            self.discard(tmp)
            raise DeviceError("failed", f"could not rename into current.pkl: {_why(result.stderr, 'no message')}")
        return _key_values(result.stdout).get("had_current") == "1"

    def restore(self, had_current: bool) -> None:
        result = self._script(RESTORE, self.settings.model_dir, "1" if had_current else "0")
        if result.returncode != 0:
            raise DeviceError("failed", f"could not restore previous.pkl: {_why(result.stderr, 'no message')}")

    def swap(self) -> None:
        result = self._script(SWAP, self.settings.model_dir)
        if result.returncode == 3:
            raise DeviceError("refused", _why(result.stderr, "nothing to roll back to"))
        if result.returncode != 0:
            raise DeviceError("failed", f"could not swap current and previous: {_why(result.stderr, 'no message')}")

    def reload(self) -> None:
        """Ask the service to load the model again (configurable; default `systemctl reload anpr-device`)."""
        result = self.session.run(remote_command(["sh", "-c", self.settings.reload_command], sudo=self.settings.sudo))
        if result.returncode != 0:
            raise DeviceError("failed", f"reload command `{self.settings.reload_command}` failed: "
                                        f"{_why(result.stderr or result.stdout, 'exit ' + str(result.returncode))}")

    def status(self) -> dict | None:
        """`anpr-device status --json` as a dict, or None while the daemon has no readable status."""
        # `anpr-device status` exits 1 when the daemon is not running healthy, but still prints its JSON.
        result = self.session.run(remote_command(self.settings.status_argv(), sudo=self.settings.sudo))
        try:
            status = json.loads(result.stdout)
        except json.JSONDecodeError:
            return None
        return status if isinstance(status, dict) else None
