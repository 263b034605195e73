"""Inventories for `training_host deploy`: one host a line, Ansible INI and Ansible YAML, and --limit."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from training_host import deploy
from training_host.inventory import InventoryError, load_inventory, parse_host_spec, select


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_one_host_a_line(tmp_path):
    hosts = load_inventory(write(tmp_path, "hosts.txt", "# gate cameras\ncam1\npi@cam2:2222\n\n[::1]:2200\n"))
    assert [(h.name, h.user, h.port) for h in hosts] == [("cam1", None, None), ("cam2", "pi", 2222),
                                                         ("::1", None, 2200)]


def test_ansible_ini_groups_vars_children_and_ranges(tmp_path):
    text = """
[north]
cam[01:03] ansible_user=pi
gate ansible_host=10.0.0.9 ansible_port=2022 anpr_model_dir=/srv/anpr/models

[south]
depot ansible_become=true

[site:children]
north
south

[site:vars]
anpr_reload_command="systemctl reload anpr-device.service"
ansible_connection=ssh

[south:vars]
anpr_model_dir=/data/models
"""
    hosts = {h.name: h for h in load_inventory(write(tmp_path, "hosts.ini", text))}
    assert list(hosts) == ["cam01", "cam02", "cam03", "gate", "depot"]
    assert hosts["cam02"].user == "pi" and hosts["cam02"].destination == "cam02"
    assert hosts["gate"].destination == "10.0.0.9" and hosts["gate"].port == 2022
    assert hosts["gate"].vars["anpr_model_dir"] == "/srv/anpr/models"  # host var beats group var
    assert hosts["depot"].vars["anpr_model_dir"] == "/data/models"  # child group var beats parent
    assert hosts["depot"].sudo is True and hosts["cam01"].sudo is None
    assert hosts["cam01"].vars["anpr_reload_command"] == "systemctl reload anpr-device.service"
    assert set(hosts["depot"].groups) == {"site", "south"}
    assert [h.name for h in select(list(hosts.values()), "south,cam03")] == ["cam03", "depot"]


def test_ansible_yaml(tmp_path):
    text = """
all:
  vars:
    anpr_model_dir: /var/lib/anpr/models
  children:
    gates:
      hosts:
        gate[1:2]:
          ansible_user: anpr
        lab:
          ansible_host: 192.168.1.50
          ansible_port: 2200
          ansible_become: yes
      vars:
        anpr_device_config: /etc/anpr/gate.toml
"""
    hosts = {h.name: h for h in load_inventory(write(tmp_path, "fleet.yml", text))}
    assert list(hosts) == ["gate1", "gate2", "lab"]
    assert hosts["gate2"].user == "anpr"
    assert hosts["lab"].destination == "192.168.1.50" and hosts["lab"].port == 2200 and hosts["lab"].sudo is True
    assert hosts["gate1"].vars["anpr_device_config"] == "/etc/anpr/gate.toml"
    assert hosts["gate1"].vars["anpr_model_dir"] == "/var/lib/anpr/models"


@pytest.mark.parametrize("name, text, message", [
    ("a.ini", "cam1 anpr_modeldir=/x\n", "unknown variable 'anpr_modeldir'"),
    ("b.ini", "cam1 ansible_port=http\n", "not a port number"),
    ("c.ini", "cam1 stray\n", "expected key=value"),
    ("d.ini", "[g:kids]\ncam1\n", "unknown suffix"),
    ("e.ini", "[g:children]\nnowhere\n", "not defined"),
    ("f.ini", "# nothing\n", "lists no hosts"),
    ("g.yml", "all:\n  hostz: {cam1: {}}\n", "only `hosts`, `children` and `vars`"),
    ("h.yml", "all: [", "not valid YAML"),
    ("i.ini", "[a:children]\nb\n[b:children]\na\n[a]\ncam1\n", "contains itself through its children"),
])
def test_bad_inventories_name_the_problem(tmp_path, name, text, message):
    path = write(tmp_path, name, text)
    with pytest.raises(InventoryError, match=message) as info:
        [h.port for h in load_inventory(path)]  # the port is checked when it is used
    assert str(path) in str(info.value) or "host cam1" in str(info.value)


def test_an_empty_group_variable_is_an_empty_string(tmp_path):
    hosts = load_inventory(write(tmp_path, "hosts.ini", "[g]\ncam1\n[g:vars]\nanpr_device_config=\n"))
    assert hosts[0].vars["anpr_device_config"] == ""


def test_host_spec_and_limit_errors():
    assert parse_host_spec("root@10.1.2.3:22").vars == {"ansible_user": "root", "ansible_port": "22"}
    with pytest.raises(InventoryError, match="not a port number"):
        parse_host_spec("cam1:70000")
    with pytest.raises(InventoryError, match="matches no host"):
        select([parse_host_spec("cam1")], "cam9")


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    deploy.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_command_line_defaults_and_inventory_overrides(tmp_path):
    inv = write(tmp_path, "hosts.ini", "cam1\ncam2 ansible_user=pi anpr_model_dir=/m ansible_become=no\n")
    args = _parse("deploy", "w.pkl", "cam0", "-i", str(inv), "--user", "ops", "--sudo", "--model-dir", "/d",
                  "--reload-command", "kill -HUP 1")
    plans = deploy._plans(args, deploy._entries(args))
    assert [p.name for p in plans] == ["cam0", "cam1", "cam2"]
    cam1, cam2 = plans[1], plans[2]
    assert cam1.device.model_dir == "/d" and cam1.device.sudo is True and cam1.device.reload_command == "kill -HUP 1"
    assert cam2.device.model_dir == "/m" and cam2.device.sudo is False
    assert cam2.target.user == "pi" and cam1.target.user is None  # --user applies through SshOptions
    assert args.func is deploy.run_deploy and _parse("rollback", "cam1").func is deploy.run_rollback


def test_usage_errors_exit_2_without_connecting(tmp_path, capsys):
    weights = write(tmp_path, "w.pkl", "x")
    assert deploy.run_deploy(_parse("deploy", str(weights))) == 2
    assert "no hosts" in capsys.readouterr().err
    assert deploy.run_deploy(_parse("deploy", str(tmp_path / "missing.pkl"), "cam1")) == 2
    assert "does not exist" in capsys.readouterr().err
    assert deploy.run_deploy(_parse("deploy", str(weights), "cam1", "cam1", "--no-local-check")) == 2
    assert "listed twice" in capsys.readouterr().err
    assert deploy.run_deploy(_parse("deploy", str(weights), "cam1", "--no-local-check", "--parallel", "0")) == 2
    assert "--parallel 0" in capsys.readouterr().err
