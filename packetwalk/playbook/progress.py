"""A participant's progress per stack: ``<repo>/.packetwalk/progress/<stack>.json``.

Progress is per stack because a module means different commands on kind-cilium than on kind.
Registered results are kept too: a later step (or ``--check``) may read ``{{ client.stdout }}``
from a step that ran yesterday. Writes go through a temporary file and ``os.replace`` so an
interrupted run never leaves half a file; a file we cannot read is reported, never overwritten.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packetwalk.errors import InputError

FORMAT_VERSION = 1


@dataclass
class ModuleProgress:
    """Where a participant is in one module (step indices are 0-based)."""

    module: str
    completed: list[int] = field(default_factory=list)
    current: int = 0
    finished: bool = False
    registered: dict[str, Any] = field(default_factory=dict)
    updated: str = ""

    @property
    def started(self) -> bool:
        return bool(self.completed) or self.current > 0 or self.finished

    def complete(self, step: int, total: int) -> None:
        """Mark ``step`` done; resume at the next step (the last one once all are done)."""
        if step not in self.completed:
            self.completed.append(step)
            self.completed.sort()
        self.finished = all(i in self.completed for i in range(total))
        self.current = min(step + 1, total - 1)


class ProgressStore:
    """Reads and writes the progress file of one stack."""

    def __init__(self, repo: Path, stack: str) -> None:
        self.path = repo / ".packetwalk" / "progress" / f"{stack}.json"
        self.stack = stack

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"version": FORMAT_VERSION, "stack": self.stack, "modules": {}}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InputError(
                f"cannot read the progress file ({error}); move it away to start afresh",
                source=str(self.path),
            ) from error
        if not isinstance(data, dict) or not isinstance(data.get("modules"), dict):
            raise InputError(
                "not a packetwalk progress file; move it away to start afresh",
                source=str(self.path),
            )
        return data

    def load(self, module: str) -> ModuleProgress:
        raw = self._read()["modules"].get(module)
        if not isinstance(raw, dict):
            return ModuleProgress(module)
        return ModuleProgress(
            module=module,
            completed=[int(i) for i in raw.get("completed", []) if isinstance(i, int)],
            current=int(raw.get("current", 0)),
            finished=bool(raw.get("finished", False)),
            registered=dict(raw.get("registered", {})),
            updated=str(raw.get("updated", "")),
        )

    def save(self, progress: ModuleProgress) -> None:
        data = self._read()
        progress.updated = datetime.now(UTC).isoformat(timespec="seconds")
        data["modules"][progress.module] = asdict(progress)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".progress-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=2, sort_keys=True, default=str)
                out.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def reset(self, module: str) -> None:
        data = self._read()
        if module in data["modules"]:
            self.save(ModuleProgress(module))
