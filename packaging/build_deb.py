#!/usr/bin/env python3
"""Build dist/anpr-device_<version>_<arch>.deb for this machine (`make deb`).

Why a staged virtualenv and not only Debian's python3-* packages: PyTensor 3 needs numpy >= 2 (Debian
12 has 1.24), and gpiozero >= 2 and pydantic >= 2 are newer than Debian 12's, so the Python
dependencies travel inside the package as a venv made with the *target's* /usr/bin/python3 (its
shebangs and extension ABI match the device). What Debian does well and the venv cannot carry
(python3-systemd, python3-picamera2, pin drivers) comes from the archive through
`include-system-site-packages`. packaging/README.md has the trade-offs and the arm64 build.

The dependency venv is cached under build/deb-cache keyed by everything that goes into it, so a
rebuild after a code change only re-installs the project wheel and re-packs.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
from email.parser import Parser
from pathlib import Path

PACKAGE = "anpr-device"
REPO = Path(__file__).resolve().parent.parent
HERE = REPO / "packaging"
DEB_DIR = HERE / "deb"
UNIT_FILE = REPO / "systemd" / "anpr-device.service"
CONFIG_FILE = HERE / "device.toml"
MAN_PAGE = HERE / "anpr-device.1"

# Where things go on the device.
INSTALL_ROOT = "/usr/lib/anpr-device"
VENV_PATH = f"{INSTALL_ROOT}/venv"
UNIT_DEST = "lib/systemd/system/anpr-device.service"  # Debian 12 (not yet /usr/lib/systemd)
CONFIG_DEST = "etc/anpr/device.toml"
CONSOLE_SCRIPTS = ("anpr-device",)  # linked into /usr/bin; the rest stay inside the venv

# Build defaults.
TARGET_PYTHON = Path("/usr/bin/python3")
MIN_PYTHON = (3, 11)
DEFAULT_XZ_LEVEL = 1  # -6 saves ~15 % but takes ~6x longer on a small machine (see README)
DEFAULT_CACHE = REPO / "build" / "deb-cache"
DEFAULT_OUT = REPO / "dist"
DEV_VENV_PIP = REPO / ".venv" / "bin" / "pip"
BUILD_REQUIREMENTS = ("setuptools>=64", "wheel")  # pyproject.toml's [build-system] requires
# Test suites inside third-party packages: never imported at run time, ~30 MB.
TEST_DIR_NAMES = ("tests",)
# Packages whose tests/ folders are dropped (only these: some projects keep importable code in `tests`).
STRIP_TESTS_OF = ("numpy", "scipy", "numba", "llvmlite", "pytensor", "cv2", "pydantic", "gpiozero")
VENV_JUNK = ("bin/activate", "bin/activate.csh", "bin/activate.fish", "bin/Activate.ps1")
ELF_MAGIC = b"\x7fELF"
# Libraries some bundled binaries link but only load when present: no Depends for them.
OPTIONAL_SONAMES = {"libtbb.so.12": "numba's TBB threading layer (numba falls back to its own workqueue)"}
MANYLINUX_TAG = re.compile(r"manylinux_(\d+)_(\d+)_")
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


class BuildError(RuntimeError):
    """The package cannot be built; the message says what is missing and what to do."""


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def output(cmd: list[str]) -> str:
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True).stdout.strip()


# ---------------------------------------------------------------------------------------------- inputs
def debian_version(changelog: Path) -> str:
    """The version of the newest changelog entry, checked against setup.py's version."""
    first = changelog.read_text().splitlines()[0]
    m = re.match(rf"^{PACKAGE} \(([^)]+)\)", first)
    if not m:
        raise BuildError(f"{changelog}: first line {first!r} is not '{PACKAGE} (VERSION) ...'")
    version = m.group(1)
    setup_text = (REPO / "setup.py").read_text()
    sm = re.search(r'version="([^"]+)"', setup_text)
    upstream = version.split(":")[-1].rsplit("-", 1)[0]
    if sm and sm.group(1) != upstream:
        raise BuildError(f"{changelog}: version {version} does not match setup.py version {sm.group(1)}; "
                         f"add a changelog entry ({upstream} -> {sm.group(1)}-1)")
    return version


def target_python(python: Path) -> tuple[str, tuple[int, int]]:
    """The interpreter the device runs (real path, version)."""
    if not python.exists():
        raise BuildError(f"{python} not found: install Debian's python3 and python3-venv (make apt)")
    real = Path(os.path.realpath(python))
    ver = output([real, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"]).split()
    version = (int(ver[0]), int(ver[1]))
    if version < MIN_PYTHON:
        raise BuildError(f"{real} is Python {version[0]}.{version[1]}; the project needs "
                         f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer (Debian 12 / Raspberry Pi OS 12)")
    probe = subprocess.run([real, "-c", "import venv, ensurepip"], capture_output=True)
    if probe.returncode != 0:
        raise BuildError(f"{real} has no venv/ensurepip: apt-get install python3-venv")
    return str(real), version


def constraints_text(path: Path | None) -> str:
    """Pinned versions: the given file, else exactly what the project's .venv (which `make test` used) has."""
    if path is not None:
        return path.read_text()
    if DEV_VENV_PIP.exists():
        frozen = output([DEV_VENV_PIP, "freeze", "--exclude-editable"])
        return "\n".join(line for line in frozen.splitlines() if "==" in line and " @ " not in line) + "\n"
    return ""


# --------------------------------------------------------------------------------------------- the venv
def build_wheel(python: str, work: Path) -> Path:
    """The project as a wheel (built with the target Python so its tags match)."""
    out = work / "wheel"
    shutil.rmtree(out, ignore_errors=True)
    builder = work / "builder-venv"
    if not (builder / ".complete").exists():
        run([python, "-m", "venv", "--clear", builder])
        run([builder / "bin" / "python", "-m", "pip", "install", "-q", *BUILD_REQUIREMENTS])
        (builder / ".complete").touch()
    # No build isolation: the builder venv already has the build backend (saves a download per build).
    run([builder / "bin" / "python", "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, REPO])
    wheels = sorted(out.glob("anpr_appliance-*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one project wheel in {out}, found {wheels}")
    return wheels[0]


def wheel_requirements(wheel: Path) -> list[str]:
    """Requires-Dist of the project wheel without extras (training and test tools stay off the device)."""
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(name).decode())
        names = zf.namelist()
    if not any(n.endswith("anpr/models/default.pkl") for n in names):
        raise BuildError(f"{wheel} has no anpr/models/default.pkl: train and commit the default model first")
    return [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]


def dependency_venv(python: str, requirements: list[str], constraints: str, cache: Path) -> Path:
    """A venv with the runtime dependencies, reused while its inputs are unchanged."""
    key_src = "\n".join([python, output([python, "-VV"]), output(["dpkg", "--print-architecture"]),
                         *sorted(requirements), constraints])
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    venv = cache / f"deps-{key}"
    if (venv / ".complete").exists():
        print(f"dependency venv: {venv} (cached)")
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    run([python, "-m", "venv", venv])
    cfile = cache / f"constraints-{key}.txt"
    cfile.write_text(constraints)
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-compile", "-c", cfile, *requirements])
    (venv / ".complete").write_text(key_src)
    return venv


def stage_venv(dep_venv: Path, wheel: Path, dest: Path, python_ver: tuple[int, int]) -> None:
    """Copy the dependency venv to the staging tree, add the project, and make it relocatable to VENV_PATH."""
    # Hard links: fast, and safe because every later change to a file replaces it (see _rewrite).
    shutil.copytree(dep_venv, dest, symlinks=True, copy_function=os.link)
    (dest / ".complete").unlink()
    run([dest / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-compile", wheel])
    run([dest / "bin" / "python", "-m", "pip", "uninstall", "-q", "-y", "pip"])  # the venv is not for pip
    site = dest / "lib" / f"python{python_ver[0]}.{python_ver[1]}" / "site-packages"
    for rel in VENV_JUNK:
        (dest / rel).unlink(missing_ok=True)
    for direct_url in site.glob("anpr_appliance-*.dist-info/direct_url.json"):
        direct_url.unlink()  # names the build folder
    for top in STRIP_TESTS_OF:
        for d in sorted((site / top).rglob("*"), reverse=True) if (site / top).is_dir() else []:
            if d.is_dir() and d.name in TEST_DIR_NAMES:
                shutil.rmtree(d)
    for cache_dir in list(dest.rglob("__pycache__")):
        shutil.rmtree(cache_dir)  # postinst byte-compiles on the device (Debian policy)
    # Absolute paths written at build time point into the staging folder: point them at VENV_PATH.
    for path in [*(dest / "bin").iterdir(), dest / "pyvenv.cfg"]:
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            for old in (str(dest).encode(), str(dep_venv).encode()):
                data = data.replace(old, VENV_PATH.encode())
            _rewrite(path, data)
    # venv links its interpreter absolutely; relative within /usr (lintian), same target.
    for link in (dest / "bin").iterdir():
        if link.is_symlink() and os.readlink(link).startswith("/"):
            target = os.readlink(link)
            link.unlink()
            link.symlink_to(os.path.relpath(target, Path(VENV_PATH) / "bin"))
    cfg = dest / "pyvenv.cfg"
    # Debian's python3-systemd, python3-picamera2, python3-libcamera and pin drivers come from the system.
    _rewrite(cfg, cfg.read_bytes().replace(b"include-system-site-packages = false",
                                           b"include-system-site-packages = true"))


def _rewrite(path: Path, data: bytes) -> None:
    """Replace the file (new inode) rather than write into it: the staged venv hard-links the cache."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    shutil.copymode(path, tmp)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------ the package
def normalise_modes(root: Path) -> None:
    """Debian's modes: directories 0755, programs 0755, data and shared objects 0644 (lintian)."""
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        if path.is_dir():
            path.chmod(0o755)
        elif is_shell_script(path):
            path.chmod(0o755)
        elif is_shared_object(path) or not mode & stat.S_IXUSR:
            path.chmod(0o644)
        else:
            path.chmod(0o755)


def is_shared_object(path: Path) -> bool:
    return re.search(r"\.so($|\.)", path.name) is not None


def is_shell_script(path: Path) -> bool:
    """Shell scripts shipped as package data (e.g. deploy's device scripts) keep an executable mode."""
    with path.open("rb") as f:
        return path.suffix == ".sh" and f.read(2) == b"#!"


def elf_files(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.read(4) == ELF_MAGIC:
                    found.append(path)
    return found


def shlib_depends(root: Path) -> list[str]:
    """Debian packages providing the shared libraries the venv's binaries need but do not bundle."""
    bundled = {p.name for p in root.rglob("*.so*")}
    needed: set[str] = set()
    for elf in elf_files(root):
        dyn = subprocess.run(["readelf", "-d", str(elf)], capture_output=True, text=True).stdout
        needed.update(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn))
    multiarch = output(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"])
    native_dirs = {f"/lib/{multiarch}", f"/usr/lib/{multiarch}"}
    packages: set[str] = set()
    missing = []
    for soname in sorted(needed - bundled):
        if soname.startswith(("libpython3", "ld-linux")) or soname in OPTIONAL_SONAMES:
            continue  # the interpreter itself / the dynamic loader (libc6)
        res = subprocess.run(["dpkg", "-S", f"*/{soname}"], capture_output=True, text=True)
        # Only the native library directories count (not lib32*, not a copy some other tool ships).
        pkgs = sorted({owners.split(",")[0].split(":")[0].strip()
                       for owners, path in (line.rsplit(": ", 1) for line in res.stdout.splitlines() if ": " in line)
                       if os.path.dirname(path.strip()) in native_dirs})
        if res.returncode != 0 or not pkgs:
            missing.append(soname)
            continue
        packages.add(pkgs[0])
    if missing:
        raise BuildError(f"shared libraries needed by the venv but not installed on this machine: {missing}; "
                         "install their Debian packages so their names can go into Depends")
    return sorted(packages)


def glibc_floor(site: Path) -> tuple[int, int]:
    """The newest glibc any wheel was built for (manylinux tag), for `libc6 (>= X)`."""
    floor = (2, 17)
    for wheel_file in site.glob("*.dist-info/WHEEL"):
        for line in wheel_file.read_text().splitlines():
            if not line.startswith("Tag:"):
                continue
            m = MANYLINUX_TAG.search(line)
            ver = (int(m.group(1)), int(m.group(2))) if m else next(
                (v for k, v in LEGACY_MANYLINUX.items() if k in line), None)
            if ver and ver > floor:
                floor = ver
    return floor


def bundled_list(site: Path) -> str:
    """One copyright Comment line per distribution in the venv: name, version, licence from its metadata."""
    lines = []
    for meta_file in sorted(site.glob("*.dist-info/METADATA")):
        meta = Parser().parsestr(meta_file.read_text(errors="replace"))
        licence = meta.get("License-Expression") or ""
        if not licence:
            short = (meta.get("License") or "").strip()
            licence = short if short and "\n" not in short and len(short) < 60 else ""
        if not licence:
            classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
            licence = ", ".join(classifiers) or "see its dist-info folder"
        lines.append(f" {meta['Name']} {meta['Version']}: {licence}")
    return "\n".join(lines)


def installed_size_kib(root: Path) -> int:
    total = 0
    for path in root.rglob("*"):
        if "DEBIAN" in path.relative_to(root).parts[:1]:
            continue
        total += 1 if path.is_symlink() or path.is_dir() else -(-path.stat().st_size // 1024)
    return total


def fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace(f"@{key}@", value)
    leftover = re.findall(r"@[A-Z_]+@", template)
    if leftover:
        raise BuildError(f"template placeholders without a value: {leftover}")
    return template


def gzip_file(src: Path, dest: Path) -> None:
    """gzip -9n: no name or timestamp in the header (reproducible, lintian)."""
    with src.open("rb") as fin, dest.open("wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as fout:
            shutil.copyfileobj(fin, fout)


def md5sums(root: Path) -> str:
    lines = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == "DEBIAN" or path.is_symlink() or not path.is_file():
            continue
        lines.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {rel}")
    return "\n".join(lines) + "\n"


def build(args: argparse.Namespace) -> Path:
    for tool in ("dpkg-deb", "dpkg-architecture", "readelf"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} not found: apt-get install dpkg-dev binutils (make apt)")
    version = args.version or debian_version(DEB_DIR / "changelog")
    arch = output(["dpkg", "--print-architecture"])
    python, pyver = target_python(args.python)
    pyname = f"python{pyver[0]}.{pyver[1]}"
    work = args.cache
    work.mkdir(parents=True, exist_ok=True)

    wheel = build_wheel(python, work)
    deps = dependency_venv(python, wheel_requirements(wheel), constraints_text(args.constraints), work)

    root = work / f"{PACKAGE}_{version}_{arch}"
    shutil.rmtree(root, ignore_errors=True)
    venv = root / VENV_PATH.lstrip("/")
    venv.parent.mkdir(parents=True)
    stage_venv(deps, wheel, venv, pyver)
    site = venv / "lib" / pyname / "site-packages"

    bindir = root / "usr" / "bin"
    bindir.mkdir(parents=True)
    for script in CONSOLE_SCRIPTS:
        (bindir / script).symlink_to(os.path.relpath(venv / "bin" / script, bindir))
    unit = root / UNIT_DEST
    unit.parent.mkdir(parents=True)
    shutil.copy2(UNIT_FILE, unit)
    conf = root / CONFIG_DEST
    conf.parent.mkdir(parents=True)
    shutil.copy2(CONFIG_FILE, conf)
    doc = root / "usr" / "share" / "doc" / PACKAGE
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(fill((DEB_DIR / "copyright.in").read_text(),
                                        {"VENV": VENV_PATH, "BUNDLED": bundled_list(site)}))
    gzip_file(DEB_DIR / "changelog", doc / "changelog.Debian.gz")
    man = root / "usr" / "share" / "man" / "man1"
    man.mkdir(parents=True)
    gzip_file(MAN_PAGE, man / "anpr-device.1.gz")
    overrides = root / "usr" / "share" / "lintian" / "overrides"
    overrides.mkdir(parents=True)
    shutil.copy2(DEB_DIR / "lintian-overrides", overrides / PACKAGE)

    glibc = glibc_floor(site)
    depends = ["python3", f"{pyname}", f"libc6 (>= {glibc[0]}.{glibc[1]})", "python3-systemd", "adduser", "init-system-helpers (>= 1.54~)"]
    depends += [p for p in shlib_depends(venv) if p not in ("libc6",) and p not in depends]
    values = {
        "PACKAGE": PACKAGE, "VERSION": version, "ARCH": arch, "PYTHON": pyname,
        "DEPENDS": ", ".join(depends), "VENV": VENV_PATH, "INSTALL_ROOT": INSTALL_ROOT,
        "DEFAULT_MODEL": f"{VENV_PATH}/lib/{pyname}/site-packages/anpr/models/default.pkl",
    }
    control_dir = root / "DEBIAN"
    control_dir.mkdir()
    for name in ("postinst", "prerm", "postrm"):
        (control_dir / name).write_text(fill((DEB_DIR / name).read_text(), values))
    (control_dir / "conffiles").write_text(f"/{CONFIG_DEST}\n")
    normalise_modes(root)
    for name in ("postinst", "prerm", "postrm"):
        (control_dir / name).chmod(0o755)
    values["INSTALLED_SIZE"] = str(installed_size_kib(root))
    (control_dir / "control").write_text(fill((DEB_DIR / "control.in").read_text(), values))
    (control_dir / "md5sums").write_text(md5sums(root))
    (control_dir / "md5sums").chmod(0o644)
    (control_dir / "control").chmod(0o644)
    (control_dir / "conffiles").chmod(0o644)

    args.out.mkdir(parents=True, exist_ok=True)
    deb = args.out / f"{PACKAGE}_{version.split(':')[-1]}_{arch}.deb"
    run(["dpkg-deb", "--root-owner-group", "-Zxz", f"-z{args.xz_level}", "--build", root, deb],
        stdout=subprocess.DEVNULL)
    if not args.keep_stage:
        shutil.rmtree(root)
    print(f"built {deb} ({deb.stat().st_size / 1e6:.1f} MB, installs {int(values['INSTALLED_SIZE']) / 1024:.0f} MiB)")
    return deb


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the .deb goes (default dist/)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="work and cache folder (default build/deb-cache)")
    p.add_argument("--python", type=Path, default=TARGET_PYTHON, help="the device's interpreter (default /usr/bin/python3)")
    p.add_argument("--constraints", type=Path, default=None,
                   help="pip constraints for the dependencies (default: the versions in .venv)")
    p.add_argument("--version", default=None, help="Debian version (default: newest packaging/deb/changelog entry)")
    p.add_argument("--xz-level", type=int, default=int(os.environ.get("DEB_XZ_LEVEL", DEFAULT_XZ_LEVEL)),
                   choices=range(0, 10), metavar="0-9")
    p.add_argument("--keep-stage", action="store_true", help="keep the staged tree next to the cache")
    args = p.parse_args(argv)
    try:
        build(args)
    except BuildError as exc:
        print(f"make deb: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"make deb: {' '.join(map(str, exc.cmd))} failed (exit {exc.returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
