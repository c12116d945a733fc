"""The ``accelsim`` command line: one module per sub-command in this package.

Each module ``accelsim/cli/<command>.py`` defines ``HELP`` (one line), ``add_arguments(parser)`` and
``main(args) -> int``. Adding a command means adding a module and its name to ``COMMANDS``. Command modules
import numpy, onnx, numba, simpy, matplotlib... inside ``main``, not at the top, so ``--help`` is instant and
each command pays only for what it uses.

``main`` is the one place errors become output: ``accelsim: error: <file/key/node>: <problem>``, one line,
exit 1 (2 for a command line that does not parse, 130 when interrupted), never a traceback
(``ACCELSIM_DEBUG=1`` shows the traceback of an internal error).
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import warnings

from .. import __version__
from ..errors import AccelsimError, UsageError

COMMANDS = ["info", "infer", "eval", "run", "compare", "sweep", "search", "scalesim", "transform", "cascade"]


class _Parser(argparse.ArgumentParser):
    """argparse without its usage block: a bad command line is one line, naming the command."""

    def error(self, message):
        command = self.prog.removeprefix("accelsim").strip()
        raise UsageError(f"{command + ': ' if command else ''}{message} (see '{self.prog} --help')")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command-line parser; given the ``command`` about to run, only that command's module is imported (the
    others are listed by name: start-up is what a user waits for on every call)."""
    parser = _Parser(
        prog="accelsim",
        description="Cycle-level simulator of deep-learning accelerators: ONNX model + architecture file "
                    "-> cycles, energy, accuracy per Joule.")
    parser.add_argument("--version", action="version", version=f"accelsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        if command in COMMANDS and name != command:
            sub.add_parser(name)
            continue
        module = importlib.import_module(f"{__name__}.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_main=module.main)
    return parser


def _say(message: str) -> None:
    print(f"accelsim: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = None
    # numpy's warnings about values computed in our code (e.g. the sqrt of a negative variance) are not for the
    # user: the checks that follow name the file and node
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"accelsim\.")
    own = threading.current_thread() is threading.main_thread() and \
        signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if own:
        _on_interrupt.seen = False
        signal.signal(signal.SIGINT, _on_interrupt)
    try:  # the imports too: an interrupt while numba loads is still a clean exit
        argv = sys.argv[1:] if argv is None else argv
        args = build_parser(next((a for a in argv if not a.startswith("-")), None)).parse_args(argv)
        return args._main(args) or 0
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    except AccelsimError as exc:
        _say(f"error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except MemoryError:
        _say(f"error: {_subject(args)}out of memory")
        return 1
    except OSError as exc:
        _say(f"error: {_subject(args, exc.filename)}{exc.strerror or exc}")
        return 1
    except Exception as exc:  # a bug of ours: still one line, with the way to the traceback
        if _on_interrupt.seen:  # an interrupt a library reported as an error of its own
            _say("interrupted")
            return 130
        if os.environ.get("ACCELSIM_DEBUG"):
            raise
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _say(f"error: {_subject(args)}internal error {type(exc).__name__}: {detail} "
             f"(please report it; ACCELSIM_DEBUG=1 shows the traceback)")
        return 1
    finally:
        if own:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _on_interrupt(signum, frame):
    """SIGINT as Python's own handler takes it (a KeyboardInterrupt), remembering that it came: a library may turn
    the interrupt into another error (numpy's C core, interrupted while it imports, raises an ImportError)."""
    _on_interrupt.seen = True
    raise KeyboardInterrupt


_on_interrupt.seen = False


def _subject(args, path=None) -> str:
    """'PATH: ' (by default the command's main input) to start a message with, or '' when unknown."""
    path = path or getattr(args, "model", None)
    return f"{path}: " if path else ""


if __name__ == "__main__":
    sys.exit(main())
