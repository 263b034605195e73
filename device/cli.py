"""`anpr-device`: run the daemon, check its configuration and model, show its state and its plate log."""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import logging
import re
import sys
import tempfile
from pathlib import Path

from device.config import DEFAULT_CONFIG_PATH, ConfigError, DeviceConfig, load_config

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
DEMO_CARS = 5
DEMO_READS = 4
DEMO_FRAMES_PER_CAR = 3
DEMO_INTERVAL_S = 1.0
RELATIVE_SINCE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

log = logging.getLogger("device.cli")


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", type=Path, default=None,
                        help=f"configuration file (default {DEFAULT_CONFIG_PATH}; built-in defaults when it is absent)")


def _load(path: Path | None) -> DeviceConfig:
    """The named file, else the default path if it exists, else built-in defaults."""
    if path is None:
        path = DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None
    return load_config(path)


def cmd_run(args: argparse.Namespace) -> int:
    from device.daemon import Daemon
    from device.journal import setup_logging

    config = _load(args.config)
    setup_logging(config.logging.level)
    return Daemon(config, max_reads=args.max_reads).run()


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    c = config
    from device.triggers import make_trigger

    trigger = make_trigger(c.trigger).describe()  # building a trigger touches no hardware (start() does)
    camera = {"picamera2": f"picamera2 {c.camera.picamera2.width}x{c.camera.picamera2.height}",
              "opencv": f"opencv {c.camera.opencv.source}", "files": f"files {c.camera.files.folder}"}[c.camera.kind]
    print(f"{args.file}: ok")
    print(f"  trigger: {trigger}; camera '{c.camera.name}': {camera}; burst {c.burst.frames} x {c.burst.spacing_s:g} s")
    print(f"  model: {c.model.path or c.current_model_path} ({c.model.engine} engine); state: {c.paths.state_dir}; "
          f"cache: {c.paths.cache_dir}")
    if c.camera.kind == "picamera2":
        try:
            import picamera2  # noqa: F401
        except ImportError:
            print("  note: picamera2 is not importable on this machine (Debian package python3-picamera2 on a Pi)")
    return EXIT_OK


def cmd_check_model(args: argparse.Namespace) -> int:
    from device.model import ModelError, load_model

    cache = None
    engine = args.engine
    if args.config is not None:
        config = load_config(args.config)
        cache = config.paths.cache_dir
        engine = engine or config.model.engine
    try:
        model = load_model(args.file, engine or "numpy", cache_dir=cache)
    except ModelError as exc:
        print(f"anpr-device check-model: {exc}", file=sys.stderr)
        return EXIT_ERROR
    n = len(model.classifier.classes)
    if args.json:
        print(json.dumps({"path": str(args.file), "sha256": model.sha256, "classes": model.classifier.classes,
                          "engine": model.engine, "ok": True}))
    else:
        print(model.sha256)
        print(f"{args.file}: ok ({n} classes, one forward pass with the {model.engine} engine)", file=sys.stderr)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from device.status import read_status

    config = _load(args.config)
    path = config.status_path
    try:
        status = read_status(path)
    except FileNotFoundError:
        status = {"state": "stopped", "healthy": False, "note": f"{path} does not exist: the daemon has not run"}
    except (OSError, ValueError) as exc:
        status = {"state": "unknown", "healthy": False, "note": f"{path} cannot be read: {exc}"}
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        last = status.get("last_read") or {}
        lines = [
            f"state:      {status.get('state')}{'' if status.get('healthy') else ' (unhealthy)'}",
            f"model:      {status.get('model_sha256') or '-'}  {status.get('model_path') or ''}",
            f"camera:     {status.get('camera') or '-'}{'' if status.get('camera_open', True) else ' (not open)'}",
            f"last read:  {last.get('plate', '-')} {last.get('ts', '')} ({last.get('confidence', '-')})" if last else "last read:  -",
            f"reads:      {status.get('reads_total', 0)}",
            f"uptime:     {status.get('uptime_s', 0)} s (pid {status.get('pid', '-')}, updated {status.get('updated', '-')})",
        ]
        for key in ("camera_error", "model_error", "last_error", "note"):
            if status.get(key):
                lines.append(f"{key.replace('_', ' ')}: {status[key]}")
        print("\n".join(lines))
    return EXIT_OK if status.get("state") == "running" and status.get("healthy") else EXIT_ERROR


def parse_since(text: str, now: dt.datetime | None = None) -> str:
    """'30m', '2h', '7d', 'today', '2026-11-26', '2026-11-26T08:00' (UTC unless an offset is given) -> store time text."""
    from device.store import to_utc_text

    now = now or dt.datetime.now(dt.timezone.utc)
    text = text.strip()
    m = RELATIVE_SINCE.match(text)
    if m:
        return to_utc_text(now - dt.timedelta(seconds=float(m.group(1)) * UNIT_SECONDS[m.group(2)]))
    if text == "today":
        return to_utc_text(now.replace(hour=0, minute=0, second=0, microsecond=0))
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {text!r}: use e.g. 30m, 2h, 7d, today, 2026-11-26 or 2026-11-26T08:00Z") from None
    return to_utc_text(moment)


def cmd_plates(args: argparse.Namespace) -> int:
    return list_plates(_load(args.config), args)


def list_plates(config: DeviceConfig, args: argparse.Namespace) -> int:
    from device.store import COLUMNS, PlateStore, StoreError

    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(f"anpr-device plates: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        store = PlateStore(config.store_path, readonly=True)
        rows = store.query(since=since, plate=args.plate, limit=args.limit, newest_first=bool(args.limit))
        store.close()
    except StoreError as exc:
        print(f"anpr-device plates: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.limit:
        rows.reverse()
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    elif args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow([getattr(r, c) for c in COLUMNS])
    else:
        if not rows:
            print("no reads")
        for r in rows:
            label = f"  [{r.label}]" if r.label else ""
            print(f"{r.id:>6}  {r.ts[:19].replace('T', ' ')}Z  {r.plate:<10} {r.confidence:.2f}  "
                  f"{r.frames_agreed}/{r.frames_total}  {r.camera}{label}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from device.config import parse_config
    from device.daemon import Daemon
    from device.journal import setup_logging
    from device.samples import generate_samples

    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="anpr-demo-"))
    frames = base / "frames"
    print(f"demo: drawing {args.cars} cars x {DEMO_FRAMES_PER_CAR} frames into {frames}", flush=True)
    drawn = generate_samples(frames, cars=args.cars, frames_per_car=DEMO_FRAMES_PER_CAR, seed=args.seed)
    print("demo: plates drawn: " + " ".join(dict.fromkeys(s.plate for s in drawn)), flush=True)
    config = parse_config({
        "paths": {"state_dir": str(base / "state"), "cache_dir": str(base / "cache")},
        "model": {"engine": args.engine},
        "trigger": {"kind": "interval", "interval": {"every_s": DEMO_INTERVAL_S}},
        "camera": {"kind": "files", "name": "demo", "files": {"folder": str(frames), "loop": False}},
        "burst": {"frames": DEMO_FRAMES_PER_CAR, "spacing_s": 0.0},
        # the drawn cars carry UK plates: set the region, as an installer does where the camera is
        "recognition": {"region": "eu"},
        "journal": {"enabled": False},
        "logging": {"level": "INFO" if args.verbose else "WARNING"},
    }, "<demo>")
    setup_logging(config.logging.level)
    print(f"demo: daemon running in the foreground (state in {config.paths.state_dir}); Ctrl-C stops it", flush=True)
    rc = Daemon(config, max_reads=args.reads, on_read=lambda msg: print(f"logged: {msg}", flush=True)).run()
    print(f"\n$ anpr-device plates   (plate log {config.store_path})", flush=True)
    list_plates(config, argparse.Namespace(since=None, plate=None, limit=None, json=False, csv=False))
    return rc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anpr-device", description="Number plate reading daemon for the device.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the daemon (under systemd: Type=notify)")
    _config_arg(p)
    p.add_argument("--max-reads", type=int, default=None, help="stop after this many logged reads")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check-config", help="validate a configuration file without starting")
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("check-model", help="safe-load a weights file and run one forward pass; prints its sha256")
    p.add_argument("file", type=Path)
    p.add_argument("--engine", choices=["numpy", "pytensor"], default=None, help="default: numpy, or the config's")
    p.add_argument("--json", action="store_true")
    _config_arg(p)
    p.set_defaults(func=cmd_check_model)

    p = sub.add_parser("status", help="the running daemon's state (exit 0 only when running and healthy)")
    p.add_argument("--json", action="store_true")
    _config_arg(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("plates", help="list reads from the plate log")
    p.add_argument("--since", help="30m, 2h, 7d, today, or an ISO date/time (UTC unless given)")
    p.add_argument("--plate", help="plate, * as wildcard (AB12*)")
    p.add_argument("--limit", type=int, help="only the newest N reads")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    _config_arg(p)
    p.set_defaults(func=cmd_plates)

    p = sub.add_parser("demo", help="run the daemon on generated frames with a files camera, then list the reads")
    p.add_argument("--reads", type=int, default=DEMO_READS, help="stop after this many reads")
    p.add_argument("--cars", type=int, default=DEMO_CARS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engine", choices=["numpy", "pytensor"], default="numpy")
    p.add_argument("--dir", help="keep frames and state here (default: a new temporary folder)")
    p.add_argument("--verbose", "-v", action="store_true", help="show the daemon's full log, not only the reads")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"anpr-device: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
