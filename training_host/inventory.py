"""Which devices to deploy to: hosts from the command line or an inventory file.

Three inventory formats, chosen by content (or extension):
- one host a line (`[user@]host[:port]`, `#` comments), optionally followed by `key=value` variables;
- Ansible INI (`[group]`, `[group:vars]`, `[group:children]`, numeric ranges like `cam[01:20]`) —
  a one-host-a-line file is already valid Ansible INI, so both share this parser;
- Ansible YAML (`all: {hosts: ..., children: ..., vars: ...}`).
The same file can then drive `ansible-playbook packaging/ansible/deploy-model.yml` for large fleets.

Variables understood (host variables beat group variables, which beat command-line defaults):
`ansible_host`, `ansible_port`, `ansible_user`, `ansible_ssh_private_key_file`, `ansible_become`
(= --sudo), `anpr_model_dir`, `anpr_device_command`, `anpr_device_config`, `anpr_reload_command`.
Any other `ansible_*` variable is ignored (it is Ansible's business); any other variable is an error.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

KNOWN_VARS = {
    "ansible_host", "ansible_port", "ansible_user", "ansible_ssh_private_key_file", "ansible_become",
    "anpr_model_dir", "anpr_device_command", "anpr_device_config", "anpr_reload_command",
}
_RANGE_RE = re.compile(r"\[(\d+):(\d+)\]")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class InventoryError(ValueError):
    """An inventory that cannot be used; the message names the file, the line and what to fix."""


@dataclass
class HostEntry:
    """One device: its inventory name (used in reports) and its variables."""

    name: str
    vars: dict[str, str] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)

    @property
    def destination(self) -> str:
        return self.vars.get("ansible_host", self.name)

    @property
    def user(self) -> str | None:
        return self.vars.get("ansible_user")

    @property
    def port(self) -> int | None:
        value = self.vars.get("ansible_port")
        if value is None:
            return None
        if not value.isdigit() or not 1 <= int(value) <= 65535:
            raise InventoryError(f"host {self.name}: ansible_port={value!r} is not a port number (1..65535)")
        return int(value)

    @property
    def identity(self) -> Path | None:
        value = self.vars.get("ansible_ssh_private_key_file")
        return Path(value).expanduser() if value else None

    @property
    def sudo(self) -> bool | None:
        value = self.vars.get("ansible_become")
        if value is None:
            return None
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise InventoryError(f"host {self.name}: ansible_become={value!r} is not a boolean (true/false)")


def parse_host_spec(spec: str) -> HostEntry:
    """`[user@]host[:port]` (IPv6 as `[addr]:port`) from the command line or a plain inventory line."""
    user = None
    if "@" in spec:
        user, spec = spec.rsplit("@", 1)
    port = None
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        if rest.startswith(":"):
            port = rest[1:]
    elif spec.count(":") == 1:
        host, port = spec.split(":")
    else:
        host = spec
    if not host:
        raise InventoryError(f"host {spec!r} has no name: give it as [user@]host[:port]")
    entry = HostEntry(name=host)
    if user:
        entry.vars["ansible_user"] = user
    if port is not None:
        entry.vars["ansible_port"] = port
        entry.port  # validates
    return entry


def _expand_ranges(pattern: str) -> list[str]:
    """Ansible's numeric host ranges: `cam[01:03]` -> cam01, cam02, cam03 (zero padding kept)."""
    match = _RANGE_RE.search(pattern)
    if not match:
        return [pattern]
    start, end = match.group(1), match.group(2)
    width = len(start) if start.startswith("0") else 0
    names = []
    for i in range(int(start), int(end) + 1):
        names += _expand_ranges(pattern[: match.start()] + str(i).zfill(width) + pattern[match.end():])
    return names


def _check_vars(variables: dict[str, str], where: str) -> dict[str, str]:
    for key in variables:
        if key not in KNOWN_VARS and not key.startswith("ansible_"):
            raise InventoryError(f"{where}: unknown variable {key!r}; known: {', '.join(sorted(KNOWN_VARS))}")
    return variables


class _Inventory:
    """Groups, their hosts, children and variables, resolved into HostEntry objects in file order."""

    def __init__(self, path: Path):
        self.path = path
        self.hosts: dict[str, HostEntry] = {}
        self.group_hosts: dict[str, list[str]] = {}
        self.group_children: dict[str, list[str]] = {}
        self.group_vars: dict[str, dict[str, str]] = {}

    def add_host(self, name: str, group: str, variables: dict[str, str]) -> None:
        entry = self.hosts.setdefault(name, HostEntry(name=name))
        entry.vars.update(variables)
        self.group_hosts.setdefault(group, []).append(name)

    def _lineage(self, groups: list[str], seen: frozenset[str] = frozenset()) -> list[str]:
        """`groups` with every group whose variables apply to their members, most general first,
        each once; a group that contains itself through its children is refused."""
        chain: list[str] = []
        for group in groups:
            if group in seen:
                raise InventoryError(f"{self.path}: group {group!r} contains itself through its children")
            parents = [g for g, kids in self.group_children.items() if group in kids]
            for g in self._lineage(parents, seen | {group}) + [group]:
                if g not in chain:
                    chain.append(g)
        return chain

    def resolve(self) -> list[HostEntry]:
        for group in set(self.group_children) | set(self.group_hosts):
            for child in self.group_children.get(group, []):
                if child not in self.group_hosts and child not in self.group_children and child not in self.group_vars:
                    raise InventoryError(f"{self.path}: group {group!r} lists child {child!r}, which is not defined")
        resolved = []
        for name, entry in self.hosts.items():
            own_groups = [g for g, names in self.group_hosts.items() if name in names]
            chain = list(dict.fromkeys(["all"] + self._lineage(own_groups)))
            variables: dict[str, str] = {}
            for group in chain:
                variables.update(self.group_vars.get(group, {}))
            variables.update(entry.vars)
            resolved.append(HostEntry(name=name, vars=variables, groups=[g for g in chain if g != "all"]))
        return resolved


def _parse_ini(path: Path, text: str) -> list[HostEntry]:
    inv = _Inventory(path)
    section, kind = "ungrouped", "hosts"
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        where = f"{path}:{lineno}"
        if line.startswith("[") and line.endswith("]") and not _RANGE_RE.fullmatch(line):
            section, _, kind = line[1:-1].partition(":")
            kind = kind or "hosts"
            if kind not in ("hosts", "vars", "children"):
                raise InventoryError(f"{where}: section [{line[1:-1]}] has an unknown suffix; use :vars or :children")
            inv.group_vars.setdefault(section, {})
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise InventoryError(f"{where}: {exc}: check the quoting of {line!r}") from exc
        if kind == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                raise InventoryError(f"{where}: expected key=value in [{section}:vars], got {line!r}")
            value = value.strip()
            value = shlex.split(value)[0] if value[:1] in ("'", '"') else value
            inv.group_vars[section].update(_check_vars({key.strip(): value}, where))
        elif kind == "children":
            inv.group_children.setdefault(section, []).append(words[0])
        else:
            variables = {}
            for word in words[1:]:
                key, sep, value = word.partition("=")
                if not sep:
                    raise InventoryError(f"{where}: expected key=value after the host name, got {word!r}")
                variables[key] = value
            spec = parse_host_spec(words[0]) if not _RANGE_RE.search(words[0]) else HostEntry(words[0])
            variables = {**spec.vars, **_check_vars(variables, where)}
            for name in _expand_ranges(spec.name):
                inv.add_host(name, section, variables)
    return inv.resolve()


def _yaml_vars(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InventoryError(f"{where}: expected a mapping of variables, got {type(value).__name__}")
    return _check_vars({str(k): ("true" if v is True else "false" if v is False else str(v)) for k, v in value.items()},
                       where)


def _parse_yaml(path: Path, text: str) -> list[HostEntry]:
    try:
        import yaml
    except ImportError as exc:
        raise InventoryError(f"{path}: YAML inventories need PyYAML: pip install pyyaml") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InventoryError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InventoryError(f"{path}: a YAML inventory is a mapping of groups (usually `all:`)")
    inv = _Inventory(path)

    def walk(group: str, body: object, where: str) -> None:
        if body is None:
            body = {}
        if not isinstance(body, dict) or set(body) - {"hosts", "children", "vars"}:
            raise InventoryError(f"{where}: a group has only `hosts`, `children` and `vars`")
        inv.group_vars.setdefault(group, {}).update(_yaml_vars(body.get("vars"), f"{where}.vars"))
        for pattern, host_vars in (body.get("hosts") or {}).items():
            for name in _expand_ranges(str(pattern)):
                inv.add_host(name, group, _yaml_vars(host_vars, f"{where}.hosts.{pattern}"))
        for child, child_body in (body.get("children") or {}).items():
            inv.group_children.setdefault(group, []).append(str(child))
            walk(str(child), child_body, f"{where}.children.{child}")

    for group, body in data.items():
        walk(str(group), body, f"{path}: {group}")
    return inv.resolve()


def load_inventory(path: Path) -> list[HostEntry]:
    """Read an inventory file in any of the three formats; raises InventoryError naming what is wrong."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InventoryError(f"cannot read inventory {path}: {exc.strerror}") from exc
    first = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    is_yaml = path.suffix in (".yml", ".yaml") or first == "---" or re.fullmatch(r"[\w.-]+:\s*", first) is not None
    hosts = _parse_yaml(path, text) if is_yaml else _parse_ini(path, text)
    if not hosts:
        raise InventoryError(f"inventory {path} lists no hosts")
    return hosts


def select(hosts: list[HostEntry], limit: str | None) -> list[HostEntry]:
    """Keep the hosts named in `limit` (comma-separated host or group names), like ansible --limit."""
    if not limit:
        return hosts
    wanted = {w.strip() for w in limit.split(",") if w.strip()}
    chosen = [h for h in hosts if h.name in wanted or wanted & set(h.groups)]
    if not chosen:
        raise InventoryError(f"--limit {limit!r} matches no host or group in the inventory")
    return chosen
