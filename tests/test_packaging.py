"""The Debian package and the systemd unit, checked with the real tools.

`systemd-analyze verify/security` need no systemd as PID 1. The package is built once per session
(`packaging/build_deb.py`, the dependency venv cached in build/deb-cache); lintian runs on it in the
background while the life-cycle tests install it onto this machine with the real dpkg (root only), run
the installed daemon once as the `anpr` user against a `files` camera, upgrade from an earlier build,
remove and purge — and check that purge leaves nothing behind. They purge the package at the end.
"""
from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "systemd" / "anpr-device.service"
BUILD_SCRIPT = REPO / "packaging" / "build_deb.py"
PACKAGE = "anpr-device"
MAX_EXPOSURE = 2.0
# Installed paths (contract 5 and the unit).
STATE_DIR = Path("/var/lib/anpr")
CACHE_DIR = Path("/var/cache/anpr")
CONFIG = Path("/etc/anpr/device.toml")
VENV = Path("/usr/lib/anpr-device/venv")
BIN = Path("/usr/bin/anpr-device")
INSTALLED_UNIT = Path("/lib/systemd/system/anpr-device.service")
MODELS = STATE_DIR / "models"
# Where leftovers of the package could hide after a purge (searched for names containing "anpr").
LEFTOVER_ROOTS = ("/etc", "/var/lib", "/var/cache", "/var/log", "/lib/systemd", "/usr/lib/anpr-device",
                  "/usr/bin", "/usr/share/doc", "/usr/share/man/man1", "/usr/share/lintian/overrides")
# man-db's cache of formatted pages (written when `systemd-analyze verify` runs `man anpr-device`):
# man-db's, not the package's, and pruned by mandb's daily run.
LEFTOVER_IGNORED = ("/var/cache/man/",)
RUN_TIMEOUT_S = 300
DPKG_TIMEOUT_S = 600
PREVIOUS_VERSION = "0.1.0-0~test1"
TEST_FRAMES_CARS = 2
USER_EDIT = "# edited by test_packaging: must survive the upgrade\n"


def clean_env() -> dict[str, str]:
    """The environment apt would give maintainer scripts: none of the PyTensor settings that earlier tests
    in this pytest process exported (configure_pytensor writes PYTENSOR_FLAGS into os.environ)."""
    return {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS" and not k.startswith("ANPR_")}


def sh(cmd: list[str], timeout: float = DPKG_TIMEOUT_S, check: bool = True, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("env", clean_env())
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {res.returncode}\nstdout:\n{res.stdout[-4000:]}\n"
                             f"stderr:\n{res.stderr[-4000:]}")
    return res


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (make apt)")


# ------------------------------------------------------------------------------------- the unit itself
def exposure(unit: Path) -> float:
    res = sh(["systemd-analyze", "security", "--offline=yes", unit], check=False)
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", res.stdout)
    assert m, f"no exposure figure in systemd-analyze security output:\n{res.stdout[-2000:]}\n{res.stderr}"
    return float(m.group(1))


def test_unit_security_exposure_is_ok() -> None:
    need("systemd-analyze")
    level = exposure(UNIT)
    print(f"\nsystemd-analyze security --offline=yes {UNIT.name}: exposure {level}")
    assert level <= MAX_EXPOSURE, f"{UNIT}: exposure {level} > {MAX_EXPOSURE}"


def test_exposure_check_can_fail(tmp_path: Path) -> None:
    """The figure above is real: the same unit without its hardening scores far worse."""
    need("systemd-analyze")
    keep = ("[", "Description", "Type=", "ExecStart", "User=", "Group=", "WantedBy")
    text = "\n".join(l for l in UNIT.read_text().splitlines() if l.startswith(keep))
    bare = tmp_path / "anpr-device.service"
    bare.write_text(text + "\n")
    assert exposure(bare) > MAX_EXPOSURE + 3


def test_unit_has_the_required_settings() -> None:
    text = UNIT.read_text()
    for line in ("Type=notify", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID", "User=anpr",
                 "StateDirectory=anpr", "CacheDirectory=anpr", "ConfigurationDirectory=anpr",
                 "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
                 "CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                 "SystemCallFilter=@system-service", "DevicePolicy=closed"):
        assert line in text, f"{UNIT}: missing {line!r}"
    assert re.search(r"^WatchdogSec=\d+", text, re.M) and re.search(r"^StartLimitBurst=\d+", text, re.M)
    assert re.search(r"^SupplementaryGroups=.*\bgpio\b.*\bvideo\b", text, re.M)


# Run in a child: the kernel's MDWE (what MemoryDenyWriteExecute= enforces) cannot be switched off again.
MDWE_PROBE = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (Linux >= 6.3)
    sys.exit(77)
try:
    import numba  # checks at import that it can allocate executable memory
    numba.njit(lambda x: x * 2)(21)
except OSError as exc:
    print(exc)
    sys.exit(10)
"""


def test_unit_allows_the_jit_the_pytensor_engine_needs() -> None:
    """engine = "pytensor" runs numba-compiled code (PyTensor 3 does so even in CVM mode): the unit may
    only deny writable+executable memory if numba's JIT works under that policy."""
    res = subprocess.run([sys.executable, "-c", MDWE_PROBE], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if res.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux < 6.3) to try the policy with")
    assert res.returncode in (0, 10), res.stderr[-2000:]
    jit_ok = res.returncode == 0
    print(f"\nnumba JIT under MemoryDenyWriteExecute: {'works' if jit_ok else 'refused: ' + res.stdout.strip()}")
    denies = re.search(r"^MemoryDenyWriteExecute=(yes|true|1)$", UNIT.read_text(), re.M)
    assert jit_ok or not denies, f"{UNIT}: MemoryDenyWriteExecute=yes would break engine = \"pytensor\""


def test_maintainer_scripts_parse() -> None:
    for name in ("postinst", "prerm", "postrm"):
        sh(["sh", "-n", REPO / "packaging" / "deb" / name])


# ----------------------------------------------------------------------------------- build + lintian
@pytest.fixture(scope="session")
def built_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("dpkg-deb", "readelf")
    if not Path("/usr/bin/python3").exists():
        pytest.skip("Debian's /usr/bin/python3 is not installed (make apt)")
    out = tmp_path_factory.mktemp("deb")
    res = subprocess.run([sys.executable, BUILD_SCRIPT, "--out", out], capture_output=True, text=True,
                         timeout=DPKG_TIMEOUT_S)
    assert res.returncode == 0, f"build_deb.py failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    debs = list(out.glob(f"{PACKAGE}_*.deb"))
    assert len(debs) == 1, debs
    print(f"\n{debs[0].name}: {debs[0].stat().st_size / 1e6:.1f} MB")
    return debs[0]


@pytest.fixture(scope="session")
def lintian_run(built_deb: Path):
    """lintian takes minutes on ~3000 files: started early, read by test_lintian_reports_no_errors."""
    if shutil.which("lintian") is None:
        yield None
        return
    proc = subprocess.Popen(["lintian", "--no-tag-display-limit", built_deb], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def unpacked(built_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("unpacked")
    sh(["dpkg-deb", "-R", built_deb, root])
    return root


def test_package_metadata_and_contents(built_deb: Path, unpacked: Path, lintian_run) -> None:
    info = sh(["dpkg-deb", "-f", built_deb]).stdout
    fields = dict(re.findall(r"^(\S+): (.*)$", info, re.M))
    arch = sh(["dpkg", "--print-architecture"]).stdout.strip()
    assert fields["Package"] == PACKAGE and fields["Architecture"] == arch
    assert built_deb.name == f"{PACKAGE}_{fields['Version']}_{arch}.deb"
    depends = fields["Depends"]
    py = sh(["/usr/bin/python3", "-c", "import sys; print(f'python{sys.version_info[0]}.{sys.version_info[1]}')"]).stdout.strip()
    for dep in (py, "python3-systemd", "adduser", "libc6"):
        assert dep in depends, f"Depends lacks {dep}: {depends}"
    assert "python3-picamera2" in fields.get("Recommends", "")
    print(f"\nInstalled-Size: {int(fields['Installed-Size']) / 1024:.0f} MiB; Depends: {depends}")
    assert (unpacked / "DEBIAN" / "conffiles").read_text().split() == [str(CONFIG)]
    for rel in ("etc/anpr/device.toml", "lib/systemd/system/anpr-device.service",
                "usr/share/doc/anpr-device/copyright", "usr/share/doc/anpr-device/changelog.Debian.gz",
                "usr/share/man/man1/anpr-device.1.gz", f"{str(VENV)[1:]}/pyvenv.cfg"):
        assert (unpacked / rel).is_file(), f"package lacks /{rel}"
    assert (unpacked / "etc/anpr/device.toml").read_bytes() == (REPO / "packaging/device.toml").read_bytes()
    assert os.readlink(unpacked / "usr/bin/anpr-device") == "../lib/anpr-device/venv/bin/anpr-device"
    venv = unpacked / str(VENV)[1:]
    assert (venv / "bin/anpr-device").read_text().startswith(f"#!{VENV}/bin/python")
    assert os.readlink(venv / "bin/python3").startswith("python") or os.readlink(venv / "bin/python3").startswith("/usr/bin/")
    assert "include-system-site-packages = true" in (venv / "pyvenv.cfg").read_text()
    leaks = [str(p) for p in venv.rglob("*") if p.name == "__pycache__" or p.name.startswith("pip-")]
    assert not leaks, f"byte code / pip shipped (postinst compiles instead): {leaks[:5]}"
    text_in_bin = "".join(p.read_text(errors="replace") for p in (venv / "bin").iterdir()
                          if p.is_file() and not p.is_symlink())
    assert str(REPO) not in text_in_bin, "build-machine paths left in the venv's scripts"


def test_unit_verifies_cleanly_in_the_package(unpacked: Path, tmp_path: Path) -> None:
    """`systemd-analyze verify` exits 0 even on unknown keys: the check is an empty stderr. Before
    installing, ExecStart points into the unpacked package (verify checks the program exists); the
    installed unit, man page included, is verified again in the life-cycle tests."""
    need("systemd-analyze")
    unit = tmp_path / "anpr-device.service"
    text = (unpacked / "lib/systemd/system/anpr-device.service").read_text()
    assert f"ExecStart={BIN} " in text
    unit.write_text(text.replace(f"ExecStart={BIN} ", f"ExecStart={unpacked}{BIN} "))
    res = sh(["systemd-analyze", "verify", "--man=no", unit], check=False)
    assert res.returncode == 0 and res.stderr.strip() == "", f"verify stderr:\n{res.stderr}"


# ---------------------------------------------------------------------------- install on this machine
def dpkg_status(package: str = PACKAGE) -> str:
    res = sh(["dpkg-query", "-W", "-f=${db:Status-Status}", package], check=False)
    return res.stdout.strip() if res.returncode == 0 else "not-installed"


def leftovers() -> list[str]:
    """Every path under LEFTOVER_ROOTS whose name mentions anpr, plus the user and group."""
    found = []
    for top in LEFTOVER_ROOTS:
        if not os.path.exists(top):
            continue
        if "anpr" in top:
            found.append(top)
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                if "anpr" in name and not path.startswith(LEFTOVER_IGNORED):
                    found.append(path)
    for db, getter in (("passwd", pwd.getpwnam), ("group", grp.getgrnam)):
        try:
            getter("anpr")
            found.append(f"{db}: anpr")
        except KeyError:
            pass
    return sorted(found)


@pytest.fixture(scope="module")
def machine(built_deb: Path, tmp_path_factory: pytest.TempPathFactory):
    """This machine, with the package off it before and after; yields the previous and the current .deb."""
    if os.geteuid() != 0:
        pytest.skip("installs the package with dpkg: run as root (CI does)")
    need("dpkg", "dpkg-deb", "runuser", "adduser")
    if dpkg_status() != "not-installed":
        pytest.skip(f"{PACKAGE} is already on this machine ({dpkg_status()}); these tests install and purge it: "
                    f"run `dpkg --purge {PACKAGE}` first")
    before = set(leftovers())
    gpio_existed = _group_exists("gpio")
    previous = tmp_path_factory.mktemp("previous") / f"{PACKAGE}_{PREVIOUS_VERSION}.deb"
    make_previous_build(built_deb, previous)
    state = {"before": before, "gpio_existed": gpio_existed, "broken": None}
    try:
        yield built_deb, previous, state
    finally:
        sh(["dpkg", "--purge", PACKAGE], check=False)


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def make_previous_build(deb: Path, out: Path) -> None:
    """The same package one version back, with a different packaged conffile (an extra comment line),
    so that the upgrade meets a conffile changed both by the package and by the user, and a different
    default model (same weights, other metadata), so that the upgrade rotates it to previous.pkl."""
    from dataclasses import replace

    from anpr.weights import load_weights, save_weights

    root = out.parent / "root"
    sh(["dpkg-deb", "-R", deb, root])
    model = next(root.glob(f"{str(VENV)[1:]}/lib/python3*/site-packages/anpr/models/default.pkl"))
    weights = load_weights(model)
    save_weights(replace(weights, metadata={**weights.metadata, "note": "previous package build (test)"}), model)
    control = root / "DEBIAN" / "control"
    control.write_text(re.sub(r"^Version: .*$", f"Version: {PREVIOUS_VERSION}", control.read_text(), flags=re.M))
    conf = root / "etc/anpr/device.toml"
    conf.write_text(conf.read_text() + "# (previous package version)\n")
    md5 = root / "DEBIAN" / "md5sums"
    changed = (" etc/anpr/device.toml\n", "/anpr/models/default.pkl\n", "/anpr/models/default.pkl.sha256\n")
    md5.write_text("".join(l for l in md5.read_text().splitlines(True) if not l.endswith(changed)))
    sh(["dpkg-deb", "--root-owner-group", "-Znone", "--build", root, out])
    shutil.rmtree(root)


class Step:
    """Ordered life-cycle steps: once one fails the rest are skipped instead of failing confusingly."""

    def __init__(self, state: dict, name: str) -> None:
        self.state, self.name = state, name

    def __enter__(self) -> None:
        if self.state["broken"]:
            pytest.skip(f"an earlier step failed: {self.state['broken']}")

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.state["broken"] = self.name


def run_installed_daemon_once() -> tuple[list[tuple], set[str]]:
    """Frames drawn by the installed code, then `anpr-device run` as anpr until one read is logged;
    returns the plate log's rows and the plates drawn."""
    frames = STATE_DIR / "pkgtest" / "frames"
    drawn = sh(["runuser", "-u", "anpr", "--", VENV / "bin" / "python", "-c",
                "import sys; from device.samples import generate_samples; "
                f"print(' '.join(s.plate for s in generate_samples(sys.argv[1], cars={TEST_FRAMES_CARS}, "
                "frames_per_car=3, seed=7)))", frames], timeout=RUN_TIMEOUT_S, cwd="/").stdout.split()
    config = STATE_DIR / "pkgtest" / "device.toml"
    config.write_text(
        '[trigger]\nkind = "interval"\n[trigger.interval]\nevery_s = 0.2\n'
        f'[camera]\nkind = "files"\nname = "pkgtest"\n[camera.files]\nfolder = "{frames}"\n'
        '[burst]\nframes = 3\nspacing_s = 0.0\n[journal]\nenabled = false\n')
    os.chmod(config, 0o644)
    res = sh(["runuser", "-u", "anpr", "--", "env", f"HOME={STATE_DIR}", BIN, "run", "--config", config,
              "--max-reads", "1"], timeout=RUN_TIMEOUT_S, cwd="/")
    store = STATE_DIR / "plates.sqlite3"
    assert store.is_file(), f"no plate log at {store}; daemon stderr:\n{res.stderr[-3000:]}"
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        return db.execute("SELECT plate, confidence, camera, model_sha256 FROM reads ORDER BY id").fetchall(), set(drawn)


def cache_files() -> dict[str, float]:
    """Compiled artefacts in the cache with their mtimes (a recompile adds or rewrites some). Python
    sources are left out: PyTensor rewrites cutils_ext/__init__.py at every import."""
    return {str(p.relative_to(CACHE_DIR)): p.stat().st_mtime for p in CACHE_DIR.rglob("*")
            if p.is_file() and p.suffix != ".py" and "lock_dir" not in p.parts}


def file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
class TestLifeCycle:
    def test_01_installs_where_systemd_is_not_running(self, machine) -> None:
        _, previous, state = machine
        with Step(state, "install"):
            if Path("/run/systemd/system").is_dir():
                pytest.skip("systemd runs on this machine: installing would start the service; run in CI/a container")
            res = sh(["dpkg", "-i", previous])
            assert dpkg_status() == "installed", res.stdout + res.stderr
            assert "warning" not in res.stderr.lower(), f"dpkg -i warned:\n{res.stderr}"

    def test_02_user_groups_files_and_permissions(self, machine) -> None:
        _, _, state = machine
        with Step(state, "user and files"):
            user = pwd.getpwnam("anpr")
            assert user.pw_uid < 1000 and user.pw_dir == str(STATE_DIR) and user.pw_shell == "/usr/sbin/nologin"
            for group in ("gpio", "video"):
                assert "anpr" in grp.getgrnam(group).gr_mem, f"anpr is not in group {group}"
            for d in (STATE_DIR, CACHE_DIR, MODELS):
                st = d.stat()
                assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (user.pw_uid, 0o750), f"{d}: {oct(st.st_mode)} uid {st.st_uid}"
            st = CONFIG.stat()
            assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o644), f"{CONFIG}: {oct(st.st_mode)}"
            assert not VENV.stat().st_mode & 0o022 and VENV.stat().st_uid == 0, "the venv must be root's, read-only to others"
            current = MODELS / "current.pkl"
            packaged = next(VENV.glob("lib/python3*/site-packages/anpr/models/default.pkl"))
            assert file_sha256(current) == file_sha256(packaged), "current.pkl is not the packaged default"
            assert (MODELS / "current.pkl.sha256").read_text().split()[0] == file_sha256(current)
            assert current.stat().st_uid == user.pw_uid
            assert list(VENV.rglob("__pycache__")), "postinst did not byte-compile the venv"
            footprint = sh(["du", "-s", "--block-size=1M", VENV.parent]).stdout.split()[0]
            print(f"\ninstalled footprint of {VENV.parent} (with byte code): {footprint} MiB")
            assert Path("/etc/systemd/system/multi-user.target.wants/anpr-device.service").is_symlink(), "not enabled"
            res = sh([BIN, "check-model", "--config", CONFIG, current])
            assert res.stdout.strip() == file_sha256(current)

    def test_03_installed_daemon_logs_a_plate_into_the_state_dir(self, machine) -> None:
        _, _, state = machine
        with Step(state, "run once"):
            rows, drawn = run_installed_daemon_once()
            print(f"\nplate log after one run: {rows} (drawn: {sorted(drawn)})")
            assert len(rows) == 1, rows
            plate, confidence, camera, sha = rows[0]
            assert camera == "pkgtest" and sha == file_sha256(MODELS / "current.pkl")
            assert plate in drawn, f"logged {plate!r}, drawn {sorted(drawn)}"
            state["rows"] = rows

    def test_04_check_config_passes_on_the_installed_config(self, machine) -> None:
        _, _, state = machine
        with Step(state, "check-config"):
            res = sh([BIN, "check-config", CONFIG])
            assert f"{CONFIG}: ok" in res.stdout

    def test_05_installed_unit_verifies_cleanly(self, machine) -> None:
        _, _, state = machine
        with Step(state, "verify installed unit"):
            need("systemd-analyze", "man")
            res = sh(["systemd-analyze", "verify", INSTALLED_UNIT], check=False)
            assert res.returncode == 0 and res.stderr.strip() == "", f"verify stderr:\n{res.stderr}"

    def test_06_upgrade_keeps_modified_conffile_and_plate_log(self, machine) -> None:
        current_deb, _, state = machine
        with Step(state, "upgrade"):
            # The admin's edit: the PyTensor engine, whose compiled code the upgrade's postinst must warm.
            text, n = re.subn(r'^# engine = "numpy"$', 'engine = "pytensor"', CONFIG.read_text(), flags=re.M)
            assert n == 1, f"{CONFIG}: no commented engine line to switch"
            CONFIG.write_text(text + USER_EDIT)
            # As unattended upgrades do: keep the admin's version when both changed, no prompt.
            res = sh(["dpkg", "-i", "--force-confdef", "--force-confold", current_deb])
            assert dpkg_status() == "installed"
            assert sh(["dpkg-query", "-W", "-f=${Version}", PACKAGE]).stdout != PREVIOUS_VERSION
            assert CONFIG.read_text().endswith(USER_EDIT), "the modified conffile was replaced"
            assert Path(f"{CONFIG}.dpkg-dist").is_file(), "the new packaged config is not beside it"
            with sqlite3.connect(f"file:{STATE_DIR / 'plates.sqlite3'}?mode=ro", uri=True) as db:
                rows = db.execute("SELECT plate, confidence, camera, model_sha256 FROM reads ORDER BY id").fetchall()
            assert rows == state["rows"], "the plate log changed over the upgrade"
            # The untouched packaged default moved to the rollback slot; the new default is current.
            new_default = next(VENV.glob("lib/python3*/site-packages/anpr/models/default.pkl"))
            old_sha = rows[0][3]
            assert file_sha256(MODELS / "current.pkl") == file_sha256(new_default) != old_sha
            assert file_sha256(MODELS / "previous.pkl") == old_sha
            for name in ("current.pkl", "previous.pkl"):
                assert (MODELS / f"{name}.sha256").read_text().split()[0] == file_sha256(MODELS / name)
            assert "warning" not in res.stderr.lower(), res.stderr
            sh([BIN, "check-config", CONFIG])
            # postinst warmed the cache as anpr; the service user's next load compiles nothing new.
            compiled = cache_files()
            assert compiled, f"postinst left {CACHE_DIR} empty with engine = pytensor"
            owner = pwd.getpwnam("anpr").pw_uid
            assert all(CACHE_DIR.joinpath(p).stat().st_uid == owner for p in compiled), "cache not owned by anpr"
            sh(["runuser", "-u", "anpr", "--", "env", f"HOME={STATE_DIR}", f"NUMBA_CACHE_DIR={CACHE_DIR}/numba",
                BIN, "check-model", "--config", CONFIG, MODELS / "current.pkl"], cwd="/")
            assert cache_files() == compiled, "loading the model again compiled again: the warm cache was not used"
            print(f"\ncompiled-model cache after the upgrade: {len(compiled)} files in {CACHE_DIR}")

    def test_07_remove_keeps_config_and_state(self, machine) -> None:
        _, _, state = machine
        with Step(state, "remove"):
            sh(["dpkg", "-r", PACKAGE])
            assert dpkg_status() == "config-files"
            assert not BIN.exists() and not VENV.exists() and not INSTALLED_UNIT.exists()
            assert CONFIG.read_text().endswith(USER_EDIT)
            assert (STATE_DIR / "plates.sqlite3").is_file() and (MODELS / "current.pkl").is_file()
            pwd.getpwnam("anpr")

    def test_08_purge_leaves_nothing_behind(self, machine) -> None:
        _, _, state = machine
        with Step(state, "purge"):
            sh(["dpkg", "--purge", PACKAGE])
            assert dpkg_status() == "not-installed"
            remaining = [p for p in leftovers() if p not in state["before"]]
            if not state["gpio_existed"] and _group_exists("gpio"):
                remaining.append("group: gpio (created by the package)")
            print(f"\nleft behind after purge: {remaining or 'nothing'}")
            assert remaining == []


def test_lintian_reports_no_errors(lintian_run) -> None:
    """Last: lintian ran beside the life-cycle tests. Remaining warnings are justified in packaging/README.md."""
    if lintian_run is None:
        pytest.skip("lintian not installed (make apt)")
    out, _ = lintian_run.communicate(timeout=DPKG_TIMEOUT_S)
    tags = re.findall(r"^([EWIPOX]): \S+: (\S+)", out, re.M)
    errors = sorted({t for level, t in tags if level == "E"})
    warnings = sorted({t for level, t in tags if level == "W"})
    print(f"\nlintian: {len(errors)} error tags, {len(warnings)} warning tags {warnings}")
    assert not errors, out[-6000:]
    assert lintian_run.returncode == 0 or not errors
