"""Resumable packing: samples appended to one pack file, each finished sample (kept or not)
recorded in a journal, so a killed conversion continues where it stopped.

The journal lives in a hidden folder beside the outputs with the settings it was written
for; other settings (another index, size or codec) start it afresh. Entries are JSON lines
in task order; a torn last line, or bytes past the last recorded sample, are dropped on
resume.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

PACK, LINES, SETTINGS = "pack.bin", "journal.jsonl", "settings.json"


class PackJournal:
    """The pack file and journal of one conversion in `folder`, for `settings`."""

    def __init__(self, folder: Path, settings: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.entries: list[dict[str, Any]] = []
        if self._settings() != settings:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True)
            (self.folder / SETTINGS).write_text(json.dumps(settings, sort_keys=True))
            (self.folder / PACK).write_bytes(b"")
            (self.folder / LINES).write_text("")
        else:
            self._recover()
        self._pack = open(self.folder / PACK, "ab")  # noqa: SIM115 (closed by __exit__)
        self._lines = open(self.folder / LINES, "a")  # noqa: SIM115

    def __enter__(self) -> PackJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the files; the journal stays for the next run unless finished or discarded."""
        self._pack.close()
        self._lines.close()

    def _settings(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.folder / SETTINGS).read_text())
        except (OSError, ValueError):
            return None

    def _recover(self) -> None:
        """Read the finished entries back; cut the pack and journal to what they record."""
        size = (self.folder / PACK).stat().st_size if (self.folder / PACK).is_file() else 0
        text = (self.folder / LINES).read_text() if (self.folder / LINES).is_file() else ""
        end = 0
        for line in text.splitlines(keepends=True):
            try:
                entry = json.loads(line) if line.endswith("\n") else None
            except ValueError:
                entry = None
            if entry is None or entry.get("offset", end) + entry.get("nbytes", 0) > size:
                break  # torn line, or a sample whose bytes never reached the disk
            end = entry.get("offset", end) + entry.get("nbytes", 0)
            self.entries.append(entry)
        with open(self.folder / PACK, "ab") as pack:
            pack.truncate(end)
        (self.folder / LINES).write_text("".join(json.dumps(e) + "\n" for e in self.entries))

    def append(self, entry: dict[str, Any], data: bytes | None = None) -> None:
        """Record the next sample: `data` (if any) appended to the pack, its offset and
        length added to `entry`, then the journal line."""
        if data is not None:
            entry = entry | {"offset": self._pack.tell(), "nbytes": len(data)}
            self._pack.write(data)
            self._pack.flush()
        self._lines.write(json.dumps(entry) + "\n")
        self._lines.flush()
        self.entries.append(entry)

    def finish(self, target: Path) -> None:
        """Move the pack file to `target` (synced first) and remove the journal."""
        os.fsync(self._pack.fileno())
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.folder / PACK, target)
        self.discard()

    def discard(self) -> None:
        """Remove the journal and whatever pack file is left."""
        shutil.rmtree(self.folder)
