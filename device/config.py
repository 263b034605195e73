"""The daemon's configuration: typed TOML sections, every default in this one file.

Every key is optional. Unknown keys and out-of-range values are refused with an error that names the
file and the dotted key, so a typo in `/etc/anpr/device.toml` stops the service with a clear message
instead of being silently ignored.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CONFIG_PATH = Path("/etc/anpr/device.toml")
DEFAULT_STATE_DIR = Path("/var/lib/anpr")
DEFAULT_CACHE_DIR = Path("/var/cache/anpr")
MODELS_SUBDIR = "models"
CURRENT_MODEL_NAME = "current.pkl"
PREVIOUS_MODEL_NAME = "previous.pkl"
STORE_NAME = "plates.sqlite3"
STATUS_NAME = "status.json"
SNAPSHOTS_SUBDIR = "snapshots"


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the key."""


class Section(BaseModel):
    """Base of every section: unknown keys are errors, values are checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class PathsConfig(Section):
    state_dir: Path = DEFAULT_STATE_DIR  # plate log, status file, models/, snapshots/
    cache_dir: Path = DEFAULT_CACHE_DIR  # compiled-model cache (PyTensor), so starts stay fast


class ModelConfig(Section):
    # None: <state_dir>/models/current.pkl, falling back to the packaged default weights when absent.
    path: Path | None = None
    engine: Literal["numpy", "pytensor"] = "numpy"
    mode: Literal["CVM", "NUMBA", "JAX"] = "CVM"  # PyTensor backend, used when engine = "pytensor"
    watch_interval_s: float = Field(2.0, gt=0, le=3600)  # how often current.pkl is checked for a change


class GpioTriggerConfig(Section):
    pin: int = Field(17, ge=0, le=53)  # BCM numbering
    queue_len: int = Field(1, ge=1, le=100)  # gpiozero MotionSensor: samples averaged
    sample_rate: float = Field(10.0, gt=0, le=1000)  # samples per second
    threshold: float = Field(0.5, gt=0, lt=1)  # average above which motion is reported
    pull_up: bool = False  # False: the PIR output drives the pin high on motion


class IntervalTriggerConfig(Section):
    every_s: float = Field(5.0, gt=0, le=86400)


class TriggerConfig(Section):
    kind: Literal["gpio", "interval", "continuous"] = "gpio"
    gpio: GpioTriggerConfig = Field(default_factory=GpioTriggerConfig)
    interval: IntervalTriggerConfig = Field(default_factory=IntervalTriggerConfig)


class Picamera2Config(Section):
    width: int = Field(1920, ge=64, le=9152)
    height: int = Field(1080, ge=64, le=6944)
    exposure_us: int | None = Field(None, ge=1, le=10_000_000)  # None: automatic exposure
    analogue_gain: float | None = Field(None, ge=1.0, le=64.0)  # None: automatic gain
    autofocus: Literal["continuous", "auto", "manual", "off"] = "continuous"  # where the module has AF
    lens_position: float | None = Field(None, ge=0.0, le=32.0)  # dioptres, used when autofocus = "manual"


class OpencvCameraConfig(Section):
    # A V4L2 device index ("0"), a device path ("/dev/video0"), an RTSP/HTTP URL or a video file.
    source: str = "0"
    width: int | None = Field(None, ge=64, le=9152)
    height: int | None = Field(None, ge=64, le=6944)
    loop: bool = False  # video files only: start again at the end


class FilesCameraConfig(Section):
    folder: Path = Path("samples")  # relative paths are taken from the config file's folder
    pattern: str = "*"  # glob, filtered to image extensions
    loop: bool = False  # replay the folder again at the end; without it the daemon stops when done


class CameraConfig(Section):
    kind: Literal["picamera2", "opencv", "files"] = "picamera2"
    name: str = Field("camera", min_length=1, max_length=64)  # recorded with every read
    reopen_initial_s: float = Field(1.0, gt=0, le=600)  # first wait before reopening a failed camera
    reopen_max_s: float = Field(60.0, gt=0, le=3600)  # backoff doubles up to this
    # At start, READY=1 waits this long for the camera; after it the daemon reports ready but unhealthy
    # and keeps retrying, so a missing camera never becomes a systemd start-timeout crash loop.
    ready_wait_s: float = Field(30.0, ge=0, le=3600)
    picamera2: Picamera2Config = Field(default_factory=Picamera2Config)
    opencv: OpencvCameraConfig = Field(default_factory=OpencvCameraConfig)
    files: FilesCameraConfig = Field(default_factory=FilesCameraConfig)


class BurstConfig(Section):
    frames: int = Field(3, ge=1, le=50)  # frames captured per trigger (the motion window)
    spacing_s: float = Field(0.15, ge=0, le=10)  # pause between frames of a burst


class RecognitionConfig(Section):
    region: str = "auto"  # passed to anpr.pipeline.PlateReader
    min_confidence: float = Field(0.5, ge=0, le=1)  # reads below this are dropped
    min_frames: int = Field(1, ge=1, le=50)  # frames of the burst that must agree
    repeat_window_s: float = Field(60.0, ge=0, le=86400)  # same plate again within this: not logged


class KnownPlatesConfig(Section):
    plates: dict[str, str] = Field(default_factory=dict)  # PLATE = "label"; reads within max_distance are snapped to PLATE
    max_distance: int = Field(1, ge=0, le=3)  # Levenshtein distance
    only_known: bool = False  # True: reads that match no known plate are not logged

    @field_validator("plates")
    @classmethod
    def _upper_plates(cls, value: dict[str, str]) -> dict[str, str]:
        out = {}
        for plate, label in value.items():
            norm = "".join(ch for ch in plate.upper() if ch.isalnum())
            if not norm:
                raise ValueError(f"known plate {plate!r} has no letters or digits")
            out[norm] = label
        return out


class StoreConfig(Section):
    retention_days: float = Field(90, gt=0, le=36500)
    retention_rows: int = Field(1_000_000, ge=100, le=100_000_000)
    snapshots: Literal["none", "crop", "frame"] = "crop"  # JPEG kept per read
    snapshot_max_mb: float = Field(200, ge=0, le=1_000_000)  # folder cap, oldest deleted first
    jpeg_quality: int = Field(85, ge=10, le=100)
    prune_interval_s: float = Field(3600, gt=0, le=86400)  # how often retention runs


class JournalConfig(Section):
    enabled: bool = True  # one structured journal entry per read (systemd-python)


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class StatusConfig(Section):
    interval_s: float = Field(5.0, gt=0, le=3600)  # status.json refresh while idle
    loop_tick_s: float = Field(0.5, gt=0, le=10)  # longest the main loop waits before housekeeping


class DeviceConfig(Section):
    paths: PathsConfig = Field(default_factory=PathsConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    trigger: TriggerConfig = Field(default_factory=TriggerConfig)
    camera: CameraConfig = Field(default_factory=CameraConfig)
    burst: BurstConfig = Field(default_factory=BurstConfig)
    recognition: RecognitionConfig = Field(default_factory=RecognitionConfig)
    known_plates: KnownPlatesConfig = Field(default_factory=KnownPlatesConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    journal: JournalConfig = Field(default_factory=JournalConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    status: StatusConfig = Field(default_factory=StatusConfig)

    # Derived locations (contract 5): everything the daemon writes lives under state_dir.
    @property
    def models_dir(self) -> Path:
        return self.paths.state_dir / MODELS_SUBDIR

    @property
    def current_model_path(self) -> Path:
        return self.models_dir / CURRENT_MODEL_NAME

    @property
    def store_path(self) -> Path:
        return self.paths.state_dir / STORE_NAME

    @property
    def status_path(self) -> Path:
        return self.paths.state_dir / STATUS_NAME

    @property
    def snapshots_dir(self) -> Path:
        return self.paths.state_dir / SNAPSHOTS_SUBDIR


def _describe(error: dict, source: str) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    msg = error["msg"]
    if error["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling against packaging/device.toml)"
    value = error.get("input")
    shown = "" if error["type"] == "extra_forbidden" or isinstance(value, dict) else f" (got {value!r})"
    return f"{source}: {key}: {msg}{shown}"


def parse_config(data: dict, source: str = "<config>", base_dir: Path | None = None) -> DeviceConfig:
    """Validate a parsed TOML mapping; relative folders are resolved against `base_dir`."""
    try:
        config = DeviceConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(e, source) for e in exc.errors())) from None
    if base_dir is not None:
        folder = config.camera.files.folder
        if not folder.is_absolute():
            config.camera.files.folder = (base_dir / folder).resolve()
    return config


def load_config(path: Path | str | None) -> DeviceConfig:
    """Read and validate a TOML file; `None` gives all defaults."""
    if path is None:
        return DeviceConfig()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, str(path), path.parent.resolve())
