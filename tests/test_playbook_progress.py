"""Progress per stack: resume points, registered values, atomic writes, unreadable files kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from packetwalk.errors import InputError
from packetwalk.playbook.progress import ModuleProgress, ProgressStore


def test_round_trip_per_stack(tmp_path: Path) -> None:
    store = ProgressStore(tmp_path, "kind")
    progress = store.load("01-pod-networking")
    assert not progress.started
    progress.complete(0, 3)
    progress.registered = {"client": {"stdout": "netshoot-abc"}}
    store.save(progress)
    again = ProgressStore(tmp_path, "kind").load("01-pod-networking")
    assert (again.completed, again.current, again.finished) == ([0], 1, False)
    assert again.registered == {"client": {"stdout": "netshoot-abc"}}
    assert again.updated
    assert not ProgressStore(tmp_path, "kind-cilium").load("01-pod-networking").started
    assert (tmp_path / ".packetwalk" / "progress" / "kind.json").is_file()
    assert not list((tmp_path / ".packetwalk" / "progress").glob(".progress-*"))


def test_complete_and_finish() -> None:
    progress = ModuleProgress("m")
    for step in (0, 1, 2):
        progress.complete(step, 3)
    assert progress.finished and progress.current == 2
    partial = ModuleProgress("m")
    partial.complete(2, 3)
    assert not partial.finished


def test_reset(tmp_path: Path) -> None:
    store = ProgressStore(tmp_path, "kind")
    progress = store.load("m")
    progress.complete(0, 2)
    store.save(progress)
    store.reset("m")
    assert not store.load("m").started


def test_unreadable_file_is_reported_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / ".packetwalk" / "progress" / "kind.json"
    path.parent.mkdir(parents=True)
    path.write_text("{broken")
    store = ProgressStore(tmp_path, "kind")
    with pytest.raises(InputError, match=r"kind\.json: cannot read the progress file"):
        store.load("m")
    with pytest.raises(InputError):
        store.save(ModuleProgress("m"))
    assert path.read_text() == "{broken"
