"""Output files: written whole or not at all (temp file + rename), with the user's umask, and checked before the work.

``check_output(path)`` refuses a path that cannot be written (an existing directory, a parent that is a file,
a place like /proc) before a long run starts; ``all_or_nothing()`` makes the files of one command appear
together when it succeeds and none when it fails.
"""
from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from .errors import AccelsimError

#: (temp, final) renames waiting for the enclosing ``all_or_nothing`` block to succeed
_PENDING: ContextVar[list | None] = ContextVar("accelsim_pending_outputs", default=None)


def _existing_ancestor(path: Path) -> Path:
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def _create(path: Path) -> None:
    """Create an empty file (mode 0666 less the umask, as ``open`` would), refusing to reuse an existing one."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def check_output(path, what: str = "output") -> None:
    """Refuse, before any work, an output path that cannot be written: AccelsimError naming the path."""
    path = Path(path)
    if path.is_dir():
        raise AccelsimError(f"{path}: {what} file is an existing directory")
    parent = _existing_ancestor(path)
    if not parent.is_dir():
        raise AccelsimError(f"{path}: {what} file cannot be created: {parent} is not a directory")
    probe = parent / f".{path.name}.{secrets.token_hex(4)}.probe"
    try:
        _create(probe)
        os.unlink(probe)
    except OSError as exc:
        raise AccelsimError(f"{path}: {what} file cannot be created in {parent} ({exc.strerror})") from None


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds (inside
    ``all_or_nothing``: when that block succeeds)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp{suffix or path.suffix}"
        _create(tmp)
    except OSError as exc:
        raise AccelsimError(f"{path}: cannot write ({exc.strerror})") from None
    pending = _PENDING.get()
    done = False
    try:
        yield tmp
        if pending is None:
            os.replace(tmp, path)
        else:
            pending.append((tmp, path))
        done = True
    except OSError as exc:
        raise AccelsimError(f"{path}: cannot write ({exc.strerror})") from None
    finally:
        if not done and tmp.exists():
            tmp.unlink()


@contextmanager
def all_or_nothing():
    """Files written with ``atomic_path`` inside this block appear when the block succeeds; on failure, none."""
    pending: list = []
    token = _PENDING.set(pending)
    try:
        yield
        for tmp, path in pending:
            os.replace(tmp, path)
        pending.clear()
    except OSError as exc:
        raise AccelsimError(f"{exc.filename}: cannot write ({exc.strerror})") from None
    finally:
        _PENDING.reset(token)
        for tmp, _ in pending:
            if tmp.exists():
                tmp.unlink()


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")
