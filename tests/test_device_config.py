"""Device configuration: defaults, errors that name the key and the file, and the shipped example."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from device.cli import main as cli_main
from device.config import ConfigError, DeviceConfig, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "packaging" / "device.toml"
COMMENTED_KEY = re.compile(r"^#\s?([A-Za-z0-9_]+\s*=\s*.+)$")


def test_empty_file_gives_contract_defaults(tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text("")
    cfg = load_config(path)
    assert cfg.paths.state_dir == Path("/var/lib/anpr")
    assert cfg.paths.cache_dir == Path("/var/cache/anpr")
    assert cfg.current_model_path == Path("/var/lib/anpr/models/current.pkl")
    assert cfg.store_path == Path("/var/lib/anpr/plates.sqlite3")
    assert cfg.status_path == Path("/var/lib/anpr/status.json")


def test_unknown_key_is_named_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text("[camera]\nkind = 'files'\n[camera.files]\nfolder = 'x'\nloops = true\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "camera.files.loops" in str(err.value)
    assert "unknown key" in str(err.value)


def test_out_of_range_and_wrong_choice_are_named(tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text("[burst]\nframes = 0\n[trigger]\nkind = 'laser'\n[trigger.gpio]\npin = 99\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    for key in ("burst.frames", "trigger.kind", "trigger.gpio.pin"):
        assert f"{path}: {key}:" in text
    assert "(got 0)" in text and "'laser'" in text


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text("[paths\nstate_dir = 1\n")
    with pytest.raises(ConfigError, match=re.escape(str(path)) + ": not valid TOML"):
        load_config(path)


def test_relative_files_folder_is_taken_from_the_config_folder(tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text("[camera.files]\nfolder = 'frames'\n")
    assert load_config(path).camera.files.folder == tmp_path / "frames"


def test_known_plates_are_normalized() -> None:
    cfg = parse_config({"known_plates": {"plates": {"ab-12 cde": "van"}}})
    assert cfg.known_plates.plates == {"AB12CDE": "van"}
    with pytest.raises(ConfigError, match="known_plates.plates"):
        parse_config({"known_plates": {"plates": {"--": "nothing"}}})


def _uncommented_example() -> str:
    """The example with every commented-out `key = value` line switched on."""
    out = []
    for line in EXAMPLE.read_text().splitlines():
        m = COMMENTED_KEY.match(line.strip())
        out.append(m.group(1) if m and not line.startswith("# /etc") else line)
    return "\n".join(out) + "\n"


def _leaf_keys(model, prefix="") -> set[str]:
    keys = set()
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            keys |= _leaf_keys(value, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def _toml_leaf_keys(data: dict, prefix="") -> set[str]:
    keys = set()
    for k, v in data.items():
        if isinstance(v, dict) and k != "plates":
            keys |= _toml_leaf_keys(v, f"{prefix}{k}.")
        else:
            keys.add(prefix + k)
    return keys


def test_example_config_documents_every_key_with_valid_values(tmp_path: Path) -> None:
    """packaging/device.toml (the conffile) validates as shipped and with every example value switched on."""
    load_config(EXAMPLE)
    full = tmp_path / "device.toml"
    full.write_text(_uncommented_example())
    cfg = load_config(full)
    documented = _toml_leaf_keys(tomllib.loads(full.read_text()))
    assert documented == _leaf_keys(DeviceConfig()), "keys missing from or unknown to packaging/device.toml"
    assert cfg.known_plates.plates  # the example entries parse


def test_check_config_cli(tmp_path: Path, capsys) -> None:
    assert cli_main(["check-config", str(EXAMPLE)]) == 0
    assert f"{EXAMPLE}: ok" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[store]\nsnapshots = 'video'\n")
    assert cli_main(["check-config", str(bad)]) == 1
    assert f"{bad}: store.snapshots:" in capsys.readouterr().err


def test_console_script_check_config_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("colour = 'red'\n")
    proc = subprocess.run([sys.executable, "-m", "device.cli", "check-config", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1 and "colour: unknown key" in proc.stderr
