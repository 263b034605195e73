"""Where PyTensor compiles to, and which BLAS it links — settled before PyTensor is imported.

PyTensor reads its compile directory once, at import, and keeps compiled C modules there; a daemon
that points it at a persistent, writable directory (e.g. /var/cache/anpr) pays the cold compile
(~40 s) once, not at every start. pip's PyTensor links no BLAS by default, so its dot falls back to a
slow path; `-lopenblas` (Debian's libopenblas-dev) makes training ~1.5x faster.

Call `configure_pytensor(cache_dir)` before anything imports pytensor (`anpr.graph` calls it with
the default when nobody did). `ANPR_PYTENSOR_CACHE` overrides the default directory.
"""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from platformdirs import user_cache_dir

APP_NAME = "anpr"
CACHE_ENV = "ANPR_PYTENSOR_CACHE"
BLAS_LDFLAGS = "-lopenblas"
SUBDIR = "pytensor"

_configured: Path | None = None


def default_cache_dir() -> Path:
    """`$ANPR_PYTENSOR_CACHE`, else `<user cache dir>/anpr/pytensor` (~/.cache/anpr/pytensor)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    return Path(user_cache_dir(APP_NAME)) / SUBDIR


def _set_flag(flags: str, key: str, value: str) -> str:
    """Add `key=value` to a PYTENSOR_FLAGS string unless the user already set `key` there."""
    parts = [p for p in flags.split(",") if p.strip()]
    if any(p.split("=", 1)[0].strip() == key for p in parts):
        return flags
    return ",".join(parts + [f"{key}={value}"])


def configure_pytensor(cache_dir: Path | str | None = None, blas_ldflags: str = BLAS_LDFLAGS) -> Path:
    """Point PyTensor's compile cache at `cache_dir` and link `blas_ldflags`; returns the cache dir.

    Must run before pytensor is imported to move the cache (PyTensor fixes it at import). Called
    again after import it only checks: a different directory then gets a warning, not a silent miss.
    Flags already in PYTENSOR_FLAGS win, so a user can still override either setting.
    """
    global _configured
    target = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if "pytensor" in sys.modules:
        import pytensor

        if blas_ldflags and "blas__ldflags" not in os.environ.get("PYTENSOR_FLAGS", ""):
            pytensor.config.blas__ldflags = blas_ldflags
        current = Path(pytensor.config.base_compiledir)
        if current.resolve() != target.resolve() and cache_dir is not None:
            warnings.warn(
                f"pytensor was imported before anpr.compile_cache.configure_pytensor({str(target)!r}); "
                f"it keeps compiling to {current}. Configure the cache before importing pytensor.",
                RuntimeWarning,
                stacklevel=2,
            )
        _configured = current
        return current
    target.mkdir(parents=True, exist_ok=True)
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    flags = _set_flag(flags, "base_compiledir", str(target))
    if blas_ldflags:
        flags = _set_flag(flags, "blas__ldflags", blas_ldflags)
    os.environ["PYTENSOR_FLAGS"] = flags
    _configured = target
    return target


def ensure_configured() -> Path:
    """Configure with the defaults unless someone configured already; returns the cache dir."""
    if _configured is not None:
        return _configured
    return configure_pytensor()
