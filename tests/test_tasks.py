"""tasks.py collects every task module of packetwalk.cli."""

from __future__ import annotations

from pathlib import Path

import tasks

CLI = Path(__file__).resolve().parents[1] / "packetwalk" / "cli"


def test_every_task_module_is_collected() -> None:
    modules = {f"packetwalk.cli.{path.stem}" for path in CLI.glob("*_tasks.py")}
    assert set(tasks.TASK_MODULES) == modules


def test_task_names_are_unique_and_documented() -> None:
    names = list(tasks.ns.task_names)
    assert len(names) == len(set(names))
    for name in names:
        task = tasks.ns[name]
        assert (task.__doc__ or "").strip(), name
