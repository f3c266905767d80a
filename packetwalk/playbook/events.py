"""What a lab run did, as a stream of events: written to ``runs/<timestamp>-<module>/events.jsonl``.

The runner only emits events; the terminal view renders them as they come and can render a
saved ``events.jsonl`` again the same way (ansible-runner's artifacts idea). One JSON object per
line: ``{"at": ISO time, "kind": ..., **data}``.

Kinds: ``run_start`` (module, title, stack, mode, run_dir), ``step_start`` (index, total, name,
explain), ``step_skipped`` (index, name, reason), ``task_start`` (section, index, name, action),
``command`` (line), ``task_output`` (rc, stdout, stderr), ``task_result`` (passed, ignored,
problems, attempts, message), ``task_skipped`` (reason), ``pause`` (prompt), ``solution``,
``capture_saved`` (name, file, packets, bytes), ``check_result`` (passed, failed),
``hint`` (text), ``step_end`` (index, status), ``run_end`` (status, step, message).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from packetwalk.host.runfolders import new_run_folder


@dataclass(frozen=True)
class Event:
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    at: str = ""

    def to_json(self) -> str:
        return json.dumps({"at": self.at, "kind": self.kind, **self.data}, default=str)


EventSink = Callable[[Event], None]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class EventLog:
    """Appends events to a JSON-lines file, flushed per event (a crash keeps what happened)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out: IO[str] = path.open("a", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        self._out.write(event.to_json() + "\n")
        self._out.flush()

    def close(self) -> None:
        self._out.close()


class Emitter:
    """Stamps events and hands them to every sink."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = list(sinks)

    def __call__(self, kind: str, **data: Any) -> None:
        event = Event(kind, data, now())
        for sink in self.sinks:
            sink(event)


def read_events(path: Path) -> Iterator[Event]:
    """Events from an ``events.jsonl`` (blank lines ignored)."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                raw = json.loads(line)
                at = str(raw.pop("at", ""))
                kind = str(raw.pop("kind"))
                yield Event(kind, raw, at)


def new_run_dir(repo: Path, module: str, *, moment: datetime | None = None) -> Path:
    """A fresh ``runs/<UTC timestamp>-<module>/`` (suffixed when two runs start the same second)."""
    return new_run_folder(repo / "runs", moment, label=module)
