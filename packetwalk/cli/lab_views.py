"""How lab modules and runs look in the terminal (rich); plain text without a TTY (CI logs).

The run view renders :mod:`packetwalk.playbook.events` records, the same ones a run writes to
``events.jsonl``, so a finished run can be shown again exactly as it looked.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from packetwalk.config import LabConfig
from packetwalk.errors import PacketwalkError
from packetwalk.playbook.facts import static_facts
from packetwalk.playbook.loader import LoadedModule
from packetwalk.playbook.progress import ModuleProgress
from packetwalk.playbook.validate import FileReport, requires_mismatch

console = Console(highlight=False)


def error_text(error: PacketwalkError) -> str:
    return str(error)


def progress_text(loaded: LoadedModule, progress: ModuleProgress) -> str:
    total = len(loaded.module.steps)
    if progress.finished:
        return "done"
    if not progress.started:
        return "not started"
    return f"{len(progress.completed)}/{total} steps, next: step {progress.current + 1}"


def print_module_list(
    entries: Sequence[tuple[LoadedModule, ModuleProgress]], cfg: LabConfig
) -> None:
    """One line per module, starting with its id: ``01-pod-networking  Pod networking: ...``."""
    facts = static_facts(cfg)
    width = max((len(loaded.id) for loaded, _ in entries), default=0)
    for loaded, progress in entries:
        summary = " ".join(loaded.module.summary.split())
        if len(summary) > 70:
            summary = summary[:69].rstrip() + "…"
        reason = requires_mismatch(loaded.module.requires, facts)
        state = (
            f"not for stack {cfg.stack}: {reason}" if reason else progress_text(loaded, progress)
        )
        console.print(
            f"{escape(loaded.id):<{width}}  [bold]{escape(loaded.module.title)}[/]: "
            f"{escape(summary)}  [dim]({escape(state)})[/]",
            soft_wrap=True,
        )
    if not entries:
        console.print("no lab modules found in labs/")


def print_validation(reports: Sequence[FileReport]) -> None:
    for report in reports:
        for problem in report.problems:
            console.print(escape(str(problem)), soft_wrap=True)
        if not report.problems:
            stacks = ", ".join(report.stacks) if report.stacks else "no stack"
            console.print(
                f"[green]ok[/] {escape(report.path)} [dim](stacks: {stacks})[/]", soft_wrap=True
            )
