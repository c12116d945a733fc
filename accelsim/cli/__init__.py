"""The ``accelsim`` command line: one module per sub-command in this package.

Each module ``accelsim/cli/<command>.py`` defines ``HELP`` (one line), ``add_arguments(parser)`` and
``main(args) -> int``. Adding a command means adding a module and its name to ``COMMANDS``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import AccelsimError

COMMANDS = ["info", "infer", "eval", "run", "compare", "scalesim"]


def _available():
    for name in COMMANDS:
        try:
            yield name, importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:  # a command whose module is not written yet
            if exc.name != f"{__name__}.{name}":
                raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="accelsim",
        description="Cycle-level simulator of deep-learning accelerators: ONNX model + architecture file "
                    "-> cycles, energy, accuracy per Joule.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in _available():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args._main(args) or 0
    except AccelsimError as exc:
        print(f"accelsim: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("accelsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
