"""The SSH transport for deploy: the OpenSSH client (`ssh`) driven as a subprocess.

Using the system client rather than a Python SSH library means the user's `~/.ssh/config` (Host
aliases, ProxyJump, IdentityFile, Match blocks), the ssh-agent and `known_hosts` behave exactly as
they do for `ssh HOST` in a terminal. Each host gets one multiplexed master connection
(ControlMaster), so the dozen short commands of a deploy cost one handshake.

Host keys are checked strictly by default (`StrictHostKeyChecking=yes`, set on the command line so a
laxer `~/.ssh/config` entry cannot weaken it); `accept_new=True` opts into trust-on-first-use. A refused
key is reported with the fingerprint the server offered, so the user can compare it out of band.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

# Named defaults, all in one place.
CONNECT_TIMEOUT_S = 10  # TCP connect + key exchange, per host
CONTROL_PERSIST_S = 60  # an orphaned master (deploy killed) exits after this long idle
SERVER_ALIVE_INTERVAL_S = 10  # detect a link that died mid-transfer...
SERVER_ALIVE_COUNT = 3  # ...after this many unanswered keep-alives
COMMAND_TIMEOUT_S = 120.0  # one remote command (not the upload, which is bounded by keep-alives)
UPLOAD_CHUNK_BYTES = 256 * 1024

_SERVER_KEY_RE = re.compile(r"Server host key: (\S+) (SHA256:\S+|MD5:\S+)")


class SshError(RuntimeError):
    """A failure to talk to a host; `kind` is "unreachable" or "refused" (host key)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class SshOptions:
    """How to reach hosts. Anything left None comes from ~/.ssh/config (or `config_file`)."""

    user: str | None = None
    port: int | None = None
    identity: Path | None = None
    config_file: Path | None = None  # `ssh -F`; None = the user's ~/.ssh/config
    accept_new: bool = False  # trust an unknown host key on first use (StrictHostKeyChecking=accept-new)
    connect_timeout_s: int = CONNECT_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.port is not None and not 1 <= self.port <= 65535:
            raise ValueError(f"ssh port {self.port} is out of range: use 1..65535")
        if self.connect_timeout_s <= 0:
            raise ValueError(f"connect timeout {self.connect_timeout_s} s must be positive")
        if self.config_file is not None and not Path(self.config_file).is_file():
            raise ValueError(f"ssh config file {self.config_file} does not exist: pass an existing file to "
                             "--ssh-config")
        if self.identity is not None and not Path(self.identity).is_file():
            raise ValueError(f"identity file {self.identity} does not exist: pass a private key file to --identity")

    def base_args(self) -> list[str]:
        args = ["ssh"]
        if self.config_file is not None:
            args += ["-F", str(self.config_file)]
        args += [
            "-o", "BatchMode=yes",  # never prompt: a password prompt would hang a parallel run
            "-o", f"StrictHostKeyChecking={'accept-new' if self.accept_new else 'yes'}",
            "-o", f"ConnectTimeout={self.connect_timeout_s}",
            "-o", f"ServerAliveInterval={SERVER_ALIVE_INTERVAL_S}",
            "-o", f"ServerAliveCountMax={SERVER_ALIVE_COUNT}",
        ]
        return args


@dataclass(frozen=True)
class Target:
    """One host as ssh should see it: the destination plus per-host overrides of SshOptions."""

    destination: str
    user: str | None = None
    port: int | None = None
    identity: Path | None = None

    def args(self, options: SshOptions) -> list[str]:
        """ssh's arguments: per-host values first, then the command-line defaults, then ~/.ssh/config."""
        args = options.base_args()
        user = self.user or options.user
        port = self.port or options.port
        identity = self.identity or options.identity
        if user:
            args += ["-l", user]
        if port:
            args += ["-p", str(port)]
        if identity:
            args += ["-i", str(identity), "-o", "IdentitiesOnly=yes"]
        return args


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def effective_config(target: Target, options: SshOptions) -> dict[str, str]:
    """What ssh would use for this target after reading its config (`ssh -G`), without connecting."""
    proc = subprocess.run(target.args(options) + ["-G", target.destination], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SshError("unreachable", f"ssh -G {target.destination} failed: {proc.stderr.strip()}")
    config: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(" ")
        config.setdefault(key, value)
    return config


class Session:
    """A multiplexed connection to one host; use as a context manager."""

    def __init__(self, target: Target, options: SshOptions):
        self.target = target
        self.options = options
        self._dir = Path(tempfile.mkdtemp(prefix="anpr-ssh-"))
        self._control = self._dir / "ctl"  # short: Unix socket paths are limited to ~100 bytes

    def __enter__(self) -> "Session":
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _args(self, master: bool) -> list[str]:
        args = self.target.args(self.options)
        args += ["-o", f"ControlPath={self._control}"]
        if master:
            args += ["-o", "ControlMaster=yes", "-o", f"ControlPersist={CONTROL_PERSIST_S}"]
        else:
            args += ["-o", "ControlMaster=no"]
        return args

    def open(self) -> None:
        """Start the master connection; raises SshError naming why the host could not be used."""
        log = self._dir / "master.log"
        # The master forks into the background and keeps its stderr: give it a file, not a pipe, or
        # reading the pipe would wait for the master to exit.
        limit = self.options.connect_timeout_s * 3 + 5  # connect, key exchange, auth, a ProxyJump hop
        with open(log, "wb") as err:
            try:
                proc = subprocess.run(
                    self._args(master=True) + [self.target.destination, "true"],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=limit,
                )
            except subprocess.TimeoutExpired as exc:
                raise SshError("unreachable", f"no SSH session after {limit} s (connect/authentication hung)") from exc
        if proc.returncode != 0:
            raise self._classify(log.read_text(errors="replace"))

    def _classify(self, stderr: str) -> SshError:
        text = stderr.strip()
        if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
            fingerprint = self._offered_fingerprint()
            changed = "HAS CHANGED" in text
            what = "host key CHANGED" if changed else "unknown host key"
            todo = ("if the device was reinstalled, remove the old key with `ssh-keygen -R HOST` after checking "
                    "the new fingerprint on the device" if changed else
                    "check it on the device (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), then add it to "
                    "known_hosts or rerun with --accept-new")
            return SshError("refused", f"{what} {fingerprint or '(fingerprint not available)'}: {todo}")
        lines = [ln for ln in text.splitlines() if ln and not ln.startswith(("Warning: Permanently added", "debug"))]
        return SshError("unreachable", lines[-1] if lines else "ssh failed without a message")

    def _offered_fingerprint(self) -> str | None:
        """Ask ssh verbosely which key the server offered (the refusal message itself omits it)."""
        try:
            proc = subprocess.run(
                self.target.args(self.options) + ["-v", "-o", "ControlPath=none", self.target.destination, "true"],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=self.options.connect_timeout_s * 3,
            )
        except subprocess.TimeoutExpired:
            return None
        match = _SERVER_KEY_RE.search(proc.stderr)
        return f"{match.group(1)} {match.group(2)}" if match else None

    def run(self, command: str, timeout: float = COMMAND_TIMEOUT_S) -> Result:
        """Run a shell command line on the host over the master connection."""
        try:
            proc = subprocess.run(
                self._args(master=False) + [self.target.destination, command],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise SshError("unreachable", f"remote command timed out after {timeout:.0f} s: {command[:80]}") from exc
        if proc.returncode == 255:  # ssh's own failure (connection lost), not the command's
            raise self._classify(proc.stderr)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def upload(self, source: BinaryIO, command: str, progress: Callable[[int], None] | None = None) -> Result:
        """Stream `source` into the stdin of a remote command (e.g. `cat > TMP`), reporting bytes sent."""
        proc = subprocess.Popen(
            self._args(master=False) + [self.target.destination, command],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        assert proc.stdin is not None
        sent = 0
        try:
            while chunk := source.read(UPLOAD_CHUNK_BYTES):
                proc.stdin.write(chunk)
                sent += len(chunk)
                if progress:
                    progress(sent)
        except BrokenPipeError:
            pass  # the remote side ended early; its exit status and stderr say why
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
        proc.stdin = None  # closed: communicate() must not flush it
        out, err = proc.communicate()
        if proc.returncode == 255:
            raise self._classify(err.decode(errors="replace"))
        return Result(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))

    def close(self) -> None:
        if self._control.exists():
            try:
                subprocess.run(self._args(master=False) + ["-O", "exit", self.target.destination],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
            except subprocess.TimeoutExpired:
                pass  # the master exits by itself after CONTROL_PERSIST_S idle
        shutil.rmtree(self._dir, ignore_errors=True)


def remote_command(argv: list[str], sudo: bool = False) -> str:
    """Quote an argv for the remote login shell, optionally through non-interactive sudo."""
    prefix = ["sudo", "-n", "--"] if sudo else []
    return " ".join(shlex.quote(a) for a in prefix + argv)


def shell_script(script: str, *args: str, sudo: bool = False) -> str:
    """A POSIX sh script with positional arguments, quoted for the remote login shell."""
    return remote_command(["sh", "-c", script, "anpr-deploy", *args], sudo=sudo)
