"""A fleet of "devices" on this machine, reached through a real OpenSSH server on 127.0.0.1.

For the deploy tests and benchmark, and for trying `training_host deploy` without hardware. One
throwaway `sshd` (own host key, own authorized_keys, key auth only) serves every device; each device
is a directory with its own state dir (models/, status.json), device config and, when started, its
own real `anpr-device run` daemon (files camera, a trigger that never fires, numpy engine). The reload
command sends SIGHUP to that daemon, exactly what `systemctl reload anpr-device` does on a device.

Nothing here touches the user's ~/.ssh: the client side is a generated ssh config (`ssh -F`), key
and known_hosts under the fleet's directory.
"""
from __future__ import annotations

import getpass
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
# Device names starting with these get a special ssh config block instead of a plain alias.
SPECIAL_PREFIXES = ("unknown-key-", "changed-key-", "agent-", "corrupting-", "slow-", "down-")
START_TIMEOUT_S = 15.0  # sshd listening / daemon writing its first status
DAEMON_READY_TIMEOUT_S = 120.0  # a daemon's first start imports numpy/OpenCV on a busy 2-core machine

# Stand-in for storage that flips a bit: used as an authorized_keys `command=` for one client key, it
# runs the requested command with one byte of its stdin changed (an upload arrives damaged; SSH's own
# integrity check cannot see damage that happens after the data left the SSH channel).
_CORRUPTING_COMMAND = r'''
import os, subprocess, sys
data = sys.stdin.buffer.read()
if len(data) > 100:
    i = len(data) // 2
    data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
proc = subprocess.run(["sh", "-c", os.environ.get("SSH_ORIGINAL_COMMAND", "true")], input=data)
sys.exit(proc.returncode)
'''

# Stand-in for a slow radio link: a ProxyCommand relaying to sshd at a bounded rate.
_SLOW_RELAY = r'''
import socket, sys, threading, time
rate = float(sys.argv[3])
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
def down():
    while (b := s.recv(65536)):
        sys.stdout.buffer.write(b); sys.stdout.buffer.flush()
threading.Thread(target=down, daemon=True).start()
while (b := sys.stdin.buffer.read1(4096)):
    s.sendall(b)
    time.sleep(len(b) / rate)
s.shutdown(socket.SHUT_WR)
time.sleep(1)
'''


def sshd_missing_reason() -> str | None:
    """Why a loopback sshd cannot run here (None when it can)."""
    for tool in (SSHD, shutil.which("ssh"), shutil.which("ssh-keygen")):
        if not tool or not os.path.exists(tool):
            return "OpenSSH server/client not installed (apt-get install openssh-server openssh-client)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)


@dataclass
class Device:
    """One simulated device: its directories, config and (optionally) its running daemon."""

    name: str
    root: Path
    device_command: str
    daemon: subprocess.Popen | None = None

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def model_dir(self) -> Path:
        return self.state_dir / "models"

    @property
    def config(self) -> Path:
        return self.root / "device.toml"

    @property
    def pid_file(self) -> Path:
        return self.root / "daemon.pid"

    @property
    def reload_command(self) -> str:
        return f'kill -HUP "$(cat {self.pid_file})"'

    def write_config(self, camera_folder: Path) -> None:
        self.config.write_text(
            f'[paths]\nstate_dir = "{self.state_dir}"\ncache_dir = "{self.root / "cache"}"\n'
            '[model]\nengine = "numpy"\nwatch_interval_s = 3600\n'  # reload only when asked (SIGHUP)
            '[trigger]\nkind = "interval"\n[trigger.interval]\nevery_s = 86400\n'
            f'[camera]\nkind = "files"\nname = "{self.name}"\nready_wait_s = 0\nreopen_initial_s = 60\n'
            f'[camera.files]\nfolder = "{camera_folder}"\nloop = true\n'
            '[journal]\nenabled = false\n[status]\ninterval_s = 1\nloop_tick_s = 0.2\n'
        )

    def install(self, weights: Path) -> None:
        """Put `weights` (and its sidecar) in place as current.pkl, as a first deploy would."""
        from anpr.weights import file_sha256, sidecar_path, sidecar_text

        current = self.model_dir / "current.pkl"
        shutil.copyfile(weights, current)
        sidecar_path(current).write_text(sidecar_text(file_sha256(weights), current.name))

    def start_daemon(self) -> None:
        log = open(self.root / "daemon.log", "ab")
        argv = self.device_command.split() + ["run", "--config", str(self.config)]
        self.daemon = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True)
        self.pid_file.write_text(f"{self.daemon.pid}\n")

    def status(self) -> dict | None:
        import json

        try:
            return json.loads((self.state_dir / "status.json").read_text())
        except (OSError, ValueError):
            return None

    def wait_running(self, timeout: float = DAEMON_READY_TIMEOUT_S) -> dict:
        """Block until the daemon reports state running (healthy or not); its status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status and status.get("state") == "running" and status.get("pid") == self.daemon.pid:
                return status
            if self.daemon.poll() is not None:
                break
            time.sleep(0.2)
        log = (self.root / "daemon.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"daemon of {self.name} did not come up (exit {self.daemon.poll()}):\n{log}")

    def stop_daemon(self) -> None:
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        self.daemon = None

    def inventory_line(self, alias: str | None = None) -> str:
        variables = {"anpr_model_dir": self.model_dir, "anpr_device_config": self.config,
                     "anpr_device_command": self.device_command, "anpr_reload_command": self.reload_command}
        return " ".join([alias or self.name] + [f"{k}={shlex.quote(str(v))}" for k, v in variables.items()])


class LoopbackFleet:
    """A throwaway sshd on 127.0.0.1 plus devices behind it; use as a context manager."""

    def __init__(self, root: Path, device_command: str | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.user = getpass.getuser()
        self.device_command = device_command or str(Path(sys.executable).with_name("anpr-device"))
        self.devices: dict[str, Device] = {}
        self.sshd: subprocess.Popen | None = None
        self.host_key = self.root / "ssh_host_ed25519_key"
        self.client_key = self.root / "client_key"
        self.corrupting_key = self.root / "corrupting_key"
        self.known_hosts = self.root / "known_hosts"
        self.empty_known_hosts = self.root / "known_hosts.empty"
        self.wrong_known_hosts = self.root / "known_hosts.wrong"
        self.ssh_config = self.root / "ssh_config"
        self.camera = self.root / "camera"
        self.aliases: list[str] = []

    # ----- sshd -----
    def __enter__(self) -> "LoopbackFleet":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        for key in (self.host_key, self.client_key, self.corrupting_key):
            _keygen(key)
        corrupter = self.root / "corrupt_stdin.py"
        corrupter.write_text(_CORRUPTING_COMMAND)
        (self.root / "slow_relay.py").write_text(_SLOW_RELAY)
        (self.root / "authorized_keys").write_text(
            self.client_key.with_suffix(".pub").read_text()
            + f'command="{sys.executable} {corrupter}" ' + self.corrupting_key.with_suffix(".pub").read_text()
        )
        (self.root / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {self.host_key}\n"
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}\nPidFile {self.root / 'sshd.pid'}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "PermitRootLogin prohibit-password\nMaxStartups 100:30:200\nMaxSessions 100\n"
            "Subsystem sftp internal-sftp\nLogLevel ERROR\n"
        )
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        self.sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.root / "sshd_config")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.root / "sshd.log", "ab"), start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.sshd.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start: {(self.root / 'sshd.log').read_text()}")
                time.sleep(0.1)
        host_pub = self.host_key.with_suffix(".pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        self.empty_known_hosts.write_text("")
        other = self.root / "other_host_key"  # what a reinstalled device (or an impostor) would present
        _keygen(other)
        other_pub = other.with_suffix(".pub").read_text().split()
        self.wrong_known_hosts.write_text(f"[127.0.0.1]:{self.port} {other_pub[0]} {other_pub[1]}\n")
        self.camera.mkdir(exist_ok=True)
        import cv2
        import numpy as np

        cv2.imwrite(str(self.camera / "frame.png"), np.full((120, 160, 3), 128, np.uint8))
        self._write_ssh_config()

    @property
    def host_fingerprint(self) -> str:
        out = subprocess.run(["ssh-keygen", "-lf", str(self.host_key.with_suffix(".pub"))], capture_output=True,
                             text=True, check=True).stdout
        return out.split()[1]

    def _write_ssh_config(self) -> None:
        common = (f"  HostName 127.0.0.1\n  Port {self.port}\n  User {self.user}\n  IdentitiesOnly yes\n"
                  f"  IdentityFile {self.client_key}\n  UserKnownHostsFile {self.known_hosts}\n")
        blocks = []
        for alias in self.aliases:
            blocks.append(f"Host {alias}\n{common}")
        blocks.append(f"Host unknown-key-*\n  HostName 127.0.0.1\n  Port {self.port}\n  User {self.user}\n"
                      f"  IdentitiesOnly yes\n  IdentityFile {self.client_key}\n"
                      f"  UserKnownHostsFile {self.empty_known_hosts}\n")
        blocks.append(f"Host changed-key-*\n  HostName 127.0.0.1\n  Port {self.port}\n  User {self.user}\n"
                      f"  IdentitiesOnly yes\n  IdentityFile {self.client_key}\n"
                      f"  UserKnownHostsFile {self.wrong_known_hosts}\n")
        blocks.append(f"Host agent-*\n  HostName 127.0.0.1\n  Port {self.port}\n  User {self.user}\n"
                      f"  UserKnownHostsFile {self.known_hosts}\n")  # no IdentityFile: keys from ssh-agent
        blocks.append(f"Host corrupting-*\n  HostName 127.0.0.1\n  Port {self.port}\n  User {self.user}\n"
                      f"  IdentitiesOnly yes\n  IdentityFile {self.corrupting_key}\n"
                      f"  UserKnownHostsFile {self.known_hosts}\n")
        blocks.append(f"Host slow-*\n  ProxyCommand {sys.executable} {self.root / 'slow_relay.py'} 127.0.0.1 "
                      f"{self.port} 400000\n  User {self.user}\n  IdentitiesOnly yes\n"
                      f"  IdentityFile {self.client_key}\n  UserKnownHostsFile {self.known_hosts}\n"
                      f"  HostKeyAlias [127.0.0.1]:{self.port}\n")
        blocks.append(f"Host down-*\n  HostName 127.0.0.1\n  Port {free_port()}\n  User {self.user}\n"
                      f"  IdentityFile {self.client_key}\n  UserKnownHostsFile {self.known_hosts}\n")
        self.ssh_config.write_text("\n".join(blocks))

    # ----- devices -----
    def add_device(self, name: str, weights: Path | None = None, camera: Path | None = None) -> Device:
        """A device directory (models/ seeded with `weights` as current.pkl if given); name is its ssh alias."""
        device = Device(name, self.root / "devices" / name, self.device_command)
        device.model_dir.mkdir(parents=True)
        device.write_config(camera or self.camera)
        if weights is not None:
            device.install(weights)
        self.devices[name] = device
        if not name.startswith(SPECIAL_PREFIXES):
            self.aliases.append(name)
            self._write_ssh_config()
        return device

    def write_inventory(self, path: Path, names: list[str] | None = None) -> Path:
        lines = ["[cameras]"] + [self.devices[n].inventory_line() for n in (names or list(self.devices))]
        path.write_text("\n".join(lines) + "\n")
        return path

    def close(self) -> None:
        for device in self.devices.values():
            device.stop_daemon()
        if self.sshd and self.sshd.poll() is None:
            os.killpg(self.sshd.pid, signal.SIGTERM)  # sshd and its per-connection children
            try:
                self.sshd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.sshd.pid, signal.SIGKILL)
                self.sshd.wait()
