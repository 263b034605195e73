"""`training_host`: train the character CNN on the workstation and ship its weights to devices."""
from __future__ import annotations

import argparse
import importlib
import sys

# Each subcommand lives in its own module, which provides `add_parser(subparsers)`; the parser it adds
# sets `func` (called with the parsed args, returning the exit code).
SUBCOMMAND_MODULES = ("training_host.train", "training_host.deploy")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="training_host",
        description="Train the ANPR character CNN, evaluate it, and deploy its weights to devices over SSH.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
