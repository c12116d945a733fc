"""Results of a sweep or search as JSON lines, one finished point per line, keyed by the point's hash.

Each line is written whole in one ``write()``, flushed and fsync'ed, so a killed run leaves at worst one
partial last line: :class:`Store` drops it on open (truncating the file back to its last complete line)
and skips every key already present, so a restarted run neither redoes nor repeats a finished point.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import AccelsimError


class Store:
    """An append-only JSON-lines file of records ``{"key": ..., ...}``; ``records`` maps key -> record."""

    def __init__(self, path):
        self.path = Path(path)
        self.records: dict[str, dict] = {}
        if self.path.exists():
            self._load()

    def _load(self):
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a partial last line: the run was killed while writing it
            with open(self.path, "r+b") as f:
                f.truncate(end)
        for n, line in enumerate(data[:end].splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                self.records.setdefault(rec["key"], rec)
            except (ValueError, KeyError, TypeError):
                raise AccelsimError(f"{self.path}: line {n}: not a result record (JSON with a 'key')") from None

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def append(self, record: dict) -> None:
        """Write one record as one line, durably; a key already stored is not written again."""
        if record["key"] in self.records:
            return
        line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            while written < len(line):  # a short write (rare: signals, full disks) continues the same line
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        self.records[record["key"]] = record
