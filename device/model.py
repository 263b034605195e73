"""The character model the daemon runs: load, verify, and swap on SIGHUP or when current.pkl changes.

A new file is only taken after it loads through the restricted loader (checksum sidecar included)
and survives a forward pass; anything else is refused with a logged error and the running model
stays. Deploy renames the file and its `.sha256` sidecar into place one after the other, so both
are watched: a refused half-renamed pair is retried when the sidecar lands.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anpr.weights import default_weights_path, sidecar_path
from device.config import PREVIOUS_MODEL_NAME, DeviceConfig

log = logging.getLogger(__name__)


class ModelError(RuntimeError):
    """A weights file the daemon will not run; the message names the file and the reason."""


@dataclass
class LoadedModel:
    classifier: object  # anpr.classify.CharClassifier
    path: Path
    sha256: str
    engine: str


def compile_cache_dir(engine: str, cache_dir: Path | None) -> Path | None:
    """Where PyTensor keeps its compiled code under the configured cache dir, created now; None (its
    default) when the engine does not compile, no cache dir is set, or the folder cannot be made."""
    if engine != "pytensor" or cache_dir is None:
        return None
    from anpr.compile_cache import SUBDIR

    target = Path(cache_dir) / SUBDIR
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("cannot use %s for compiled code (%s); it goes to the user's cache folder instead", cache_dir, exc)
        return None
    return target


def load_model(path: Path, engine: str = "numpy", mode: str = "CVM", cache_dir: Path | None = None) -> LoadedModel:
    """Safe-load the weights, build the classifier and run one forward pass; ModelError on any failure."""
    path = Path(path)
    from anpr.classify import CharClassifier
    from anpr.weights import load_weights

    try:
        weights = load_weights(path)
    except Exception as exc:  # WeightsError, OSError, anything a hostile file provokes
        reason = str(exc)
        raise ModelError(f"refused: {reason}" if str(path) in reason else f"{path}: refused: {reason}") from exc
    cache = compile_cache_dir(engine, cache_dir)
    try:
        classifier = CharClassifier(weights, engine=engine, mode=mode, cache_dir=cache)
        probe = np.zeros((2, weights.input_size, weights.input_size), np.float32)
        probe[1, 8:20, 12:16] = 1.0  # a bar: something for the network to look at
        labels, probs = classifier.classify(probe)
        probs = np.asarray(probs)
        if probs.shape != (2, len(classifier.classes)) or not np.all(np.isfinite(probs)) or len(labels) != 2:
            raise ModelError(f"forward pass gave probabilities of shape {probs.shape} (non-finite or wrong size)")
    except ModelError as exc:
        raise ModelError(f"{path}: refused: {exc}") from exc
    except Exception as exc:
        raise ModelError(f"{path}: refused: the weights load but the network does not run: {exc}") from exc
    return LoadedModel(classifier, path, weights.sha256, engine)


def _signature(path: Path) -> tuple | None:
    sig = []
    for p in (path, sidecar_path(path)):
        try:
            st = p.stat()
            sig.append((st.st_ino, st.st_mtime_ns, st.st_size))
        except OSError:
            sig.append(None)
    return None if sig[0] is None else tuple(sig)


class ModelManager:
    """Owns the running model; the daemon asks it to `check_for_change()` and to `reload()` on SIGHUP."""

    def __init__(self, config: DeviceConfig) -> None:
        self.config = config
        self.watched = Path(config.model.path) if config.model.path else config.current_model_path
        self.current: LoadedModel | None = None
        self._seen_signature: tuple | None = None
        self.last_error = ""

    def _load(self, path: Path) -> LoadedModel:
        m = self.config.model
        return load_model(path, m.engine, m.mode, self.config.paths.cache_dir)

    def _fallbacks(self) -> list[Path]:
        """Where a model comes from when the watched file is missing or refused, in order."""
        fallbacks = []
        if not self.config.model.path:
            fallbacks.append(self.config.models_dir / PREVIOUS_MODEL_NAME)
        fallbacks.append(default_weights_path())
        return fallbacks

    def load_initial(self) -> LoadedModel:
        """The watched file, else (logged) previous.pkl, else the packaged default; ModelError if none loads."""
        self._seen_signature = _signature(self.watched)
        candidates = [self.watched, *self._fallbacks()]
        errors = []
        for path in candidates:
            if not path.exists():
                continue
            try:
                self.current = self._load(path)
            except ModelError as exc:
                log.error("%s", exc)
                errors.append(str(exc))
                self.last_error = str(exc)
                continue
            if path != self.watched and self.watched.exists():
                log.warning("running %s instead of the refused %s", path, self.watched)
            elif path != self.watched:
                log.info("%s does not exist: running %s", self.watched, path)
            log.info("model %s loaded (sha256 %s, %s engine)", path, self.current.sha256[:16], self.current.engine)
            return self.current
        raise ModelError("no usable model: " + ("; ".join(errors) or f"{self.watched} does not exist and no default weights are installed"))

    def check_for_change(self) -> bool:
        """True when the watched file (or its sidecar) changed since it was last looked at."""
        sig = _signature(self.watched)
        if sig == self._seen_signature:
            return False
        self._seen_signature = sig
        return sig is not None  # a removed file keeps the running model

    def reload(self, reason: str) -> LoadedModel | None:
        """Try the watched file; the new model on success, None (old one kept, error logged) on failure."""
        self._seen_signature = _signature(self.watched)
        path = self.watched
        if not path.exists():
            # Do what a restart would do (deploy's rollback of a first deploy removes current.pkl).
            fallbacks = self._fallbacks()
            path = next((p for p in fallbacks if p.exists()), None)
            if path is None:
                log.error("model reload (%s): %s does not exist and no fallback does; keeping %s", reason,
                          self.watched, self.current.path if self.current else "nothing")
                return None
            log.warning("model reload (%s): %s does not exist; falling back to %s", reason, self.watched, path)
        try:
            new = self._load(path)
        except ModelError as exc:
            self.last_error = str(exc)
            log.error("model reload (%s): %s; keeping the running model (sha256 %s)", reason, exc,
                      self.current.sha256[:16] if self.current else "none")
            return None
        old = self.current
        self.current = new
        self.last_error = ""
        if old is not None and old.sha256 == new.sha256:
            log.info("model reload (%s): %s unchanged (sha256 %s)", reason, new.path, new.sha256[:16])
        else:
            log.info("model reload (%s): now running %s (sha256 %s, was %s)", reason, new.path, new.sha256[:16],
                     old.sha256[:16] if old else "none")
        return new
