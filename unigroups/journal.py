"""The batch journal: a JSON-lines file that records each operation's start and outcome.

A line is written and flushed before an operation is sent (``started``) and after it ends
(``done`` or ``failed``), so a job killed at any point can be run again: what is done is
skipped, and what had started without finishing is known to be of uncertain fate.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any, Literal

import attrs

from .errors import ValidationError

__all__ = ["Journal", "JournalEntry"]

State = Literal["started", "done", "failed"]


@attrs.frozen
class JournalEntry:
    key: str
    state: State
    group_id: str | None = None
    error: str | None = None


class Journal:
    """Append-only; the last line for a key says where that operation stands."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self.entries: dict[str, JournalEntry] = {}
        self._torn_at: int | None = None  # where a last line cut short by a kill begins
        if self.path.exists():
            self._read()
        self._file: IO[str] | None = None

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r}, entries={len(self.entries)})"

    def _read(self) -> None:
        offset = 0
        with self.path.open("rb") as raw:
            for number, chunk in enumerate(raw, 1):
                start, offset = offset, offset + len(chunk)
                line = chunk.decode("utf-8", errors="replace")
                if not chunk.endswith(b"\n"):
                    self._torn_at = start  # even if it parses: a line is only whole with its end
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    entry = JournalEntry(
                        key=data["key"],
                        state=data["state"],
                        group_id=data.get("group_id"),
                        error=data.get("error"),
                    )
                except (ValueError, KeyError, TypeError):
                    if self._torn_at == start:
                        continue  # cut short by a kill: that step is simply not recorded
                    raise ValidationError(
                        f"{self.path}:{number} is not a journal line", field="journal"
                    ) from None
                if self._torn_at != start:
                    self.entries[entry.key] = entry

    def state(self, key: str) -> State | None:
        entry = self.entries.get(key)
        return None if entry is None else entry.state

    def record(self, entry: JournalEntry) -> None:
        self.entries[entry.key] = entry
        line: dict[str, Any] = {"key": entry.key, "state": entry.state, "at": round(time.time(), 3)}
        if entry.group_id is not None:
            line["group_id"] = entry.group_id
        if entry.error is not None:
            line["error"] = entry.error
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
            if self._torn_at is not None:
                self._file.truncate(self._torn_at)  # drop the line a kill cut short
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
