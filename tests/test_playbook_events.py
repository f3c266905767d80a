"""Run events: JSON lines written as they happen, read back for replays; run folders."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from packetwalk.playbook.events import Emitter, Event, EventLog, new_run_dir, read_events


def test_events_round_trip(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    seen: list[Event] = []
    emit = Emitter(log, seen.append)
    emit("command", line="kubectl get pods")
    emit("task_result", passed=False, problems=["exit code 1, expected 0"])
    log.close()
    back = list(read_events(tmp_path / "events.jsonl"))
    assert [(e.kind, e.data) for e in back] == [(e.kind, e.data) for e in seen]
    assert back[0].at and back[0].at == seen[0].at


def test_run_folders_are_unique(tmp_path: Path) -> None:
    moment = datetime(2026, 11, 26, 22, 0, 5, tzinfo=UTC)
    first = new_run_dir(tmp_path, "01-pod-networking", moment=moment)
    second = new_run_dir(tmp_path, "01-pod-networking", moment=moment)
    assert first.name == "20261126T220005Z-01-pod-networking"
    assert second.name == "20261126T220005Z-01-pod-networking-2"
    assert first.parent == tmp_path / "runs" and second.is_dir()
