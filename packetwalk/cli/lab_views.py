"""How lab modules and runs look in the terminal (rich); plain text without a TTY (CI logs).

The run view renders :mod:`packetwalk.playbook.events` records, the same ones a run writes to
``events.jsonl``, so a finished run can be shown again exactly as it looked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel
from rich.rule import Rule
from rich.text import Text

from packetwalk.errors import PacketwalkError
from packetwalk.lab.config import LabConfig
from packetwalk.lab.participants import Participant
from packetwalk.playbook.events import Event, read_events
from packetwalk.playbook.facts import static_facts
from packetwalk.playbook.loader import LoadedModule, PlaybookError
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
    entries: Sequence[tuple[LoadedModule, ModuleProgress]],
    cfg: LabConfig,
    participant: Participant | None = None,
) -> None:
    """One line per module, starting with its id: ``01-pod-networking  Pod networking: ...``."""
    facts = static_facts(cfg, participant)
    if participant is not None and participant.shares_cluster:
        console.print(
            f"participant {participant.index} ({participant.name}), "
            f"namespace {escape(participant.namespace)}"
        )
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


def print_broken_module(error: PlaybookError) -> None:
    first = error.problems[0]
    name = Path(first.source).name.removesuffix(".yaml")
    console.print(f"[red]{escape(name)}  does not load: {escape(str(first))}[/]", soft_wrap=True)


def print_validation(reports: Sequence[FileReport]) -> None:
    for report in reports:
        for problem in report.problems:
            console.print(escape(str(problem)), soft_wrap=True)
        if not report.problems:
            stacks = ", ".join(report.stacks) if report.stacks else "no stack"
            console.print(
                f"[green]ok[/] {escape(report.path)} [dim](stacks: {stacks})[/]", soft_wrap=True
            )


# -- runs ------------------------------------------------------------------------------------------

MAX_OUTPUT_LINES = 40


def ask(prompt: str) -> str:
    """One line from the participant (the runner treats q as stop)."""
    return console.input(f"[bold yellow]{escape(prompt)}[/] ")


def _output(text: str, style: str) -> None:
    lines = text.rstrip("\n").splitlines()
    if not lines:
        return
    shown = lines[:MAX_OUTPUT_LINES]
    console.print(Text("\n".join(shown), style=style), soft_wrap=True)
    if len(lines) > MAX_OUTPUT_LINES:
        console.print(
            f"[dim]… {len(lines) - MAX_OUTPUT_LINES} more lines (events.jsonl has all)[/]"
        )


class RunView:
    """Renders run events as they happen (and replays a saved ``events.jsonl`` the same way)."""

    def __init__(self, out: Console | None = None) -> None:
        self.out = out or console

    def __call__(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            handler(event.data)

    def _on_run_start(self, data: dict[str, Any]) -> None:
        mode = data.get("mode")
        self.out.print(
            Rule(
                f"[bold]{escape(str(data.get('title')))}[/] · {escape(str(data.get('module')))}"
                f" · stack {escape(str(data.get('stack')))} · {escape(str(mode))}"
            )
        )
        if data.get("note"):
            self.out.print(f"[yellow]{escape(str(data['note']))}[/]")
        if data.get("run_dir"):
            self.out.print(f"[dim]run folder: {escape(str(data['run_dir']))}[/]")

    def _on_step_start(self, data: dict[str, Any]) -> None:
        title = f"Step {data['index'] + 1}/{data['total']}: {data['name']}"
        if data.get("check_only"):
            title += " (check)"
        self.out.print(Rule(escape(title), style="cyan", align="left"))
        if data.get("when"):
            self.out.print(f"[dim]only when {escape(str(data['when']))}[/]")
        if data.get("explain"):
            self.out.print(Markdown(str(data["explain"])))

    def _on_step_skipped(self, data: dict[str, Any]) -> None:
        self.out.print(
            f"[dim]Step {data['index'] + 1}: {escape(str(data['name']))}: skipped, "
            f"{escape(str(data['reason']))}[/]"
        )

    def _on_task_start(self, data: dict[str, Any]) -> None:
        label = {"check": "check", "solution": "solution"}.get(str(data.get("section")), "")
        name = str(data.get("name") or "")
        if name or label:
            prefix = f"[magenta]{label}[/] " if label else ""
            self.out.print(f"{prefix}[bold]{escape(name)}[/]")
        if data.get("when"):
            self.out.print(f"  [dim]{escape(str(data['when']))}[/]")

    def _on_command(self, data: dict[str, Any]) -> None:
        self.out.print(Text("$ " + str(data["line"]), style="bold cyan"), soft_wrap=True)

    def _on_task_output(self, data: dict[str, Any]) -> None:
        if data.get("background"):
            self.out.print("[dim]capturing in the background while the step goes on[/]")
            return
        _output(str(data.get("stdout", "")), "")
        _output(str(data.get("stderr", "")), "dim red")

    def _on_retry(self, data: dict[str, Any]) -> None:
        self.out.print(
            f"[yellow]not yet ({escape('; '.join(data.get('problems', [])))}), attempt "
            f"{data['attempt']}/{data['attempts']}, again in {data['delay']}s[/]"
        )

    def _on_task_result(self, data: dict[str, Any]) -> None:
        problems = [str(p) for p in data.get("problems", [])]
        if data.get("passed"):
            message = str(data.get("message") or "")
            self.out.print(f"[green]✔ passed[/] {escape(message)}".rstrip())
        elif data.get("ignored"):
            self.out.print(f"[yellow]✘ failed, ignored:[/] {escape('; '.join(problems))}")
        else:
            for problem in problems or ["failed"]:
                self.out.print(f"[bold red]✘ {escape(problem)}[/]")

    def _on_task_skipped(self, data: dict[str, Any]) -> None:
        self.out.print(
            f"[dim]skipped {escape(str(data['name']))}: {escape(str(data['reason']))}[/]"
        )

    def _on_pause(self, data: dict[str, Any]) -> None:
        title = "Your turn" + (" (--yes: not waiting)" if data.get("auto") else "")
        self.out.print(Panel(escape(str(data["prompt"])), title=title, border_style="yellow"))

    def _on_solution(self, data: dict[str, Any]) -> None:
        self.out.print("[magenta]running the step's solution[/]")

    def _on_capture_saved(self, data: dict[str, Any]) -> None:
        if data.get("problems"):
            self.out.print(f"[bold red]✘ {escape('; '.join(data['problems']))}[/]")
        else:
            self.out.print(
                f"[green]✔ capture {escape(str(data['name']))}:[/] {data['packets']} packets → "
                f"{escape(str(data['file']))}"
            )

    def _on_check_result(self, data: dict[str, Any]) -> None:
        if data.get("passed"):
            self.out.print(f"[bold green]✔ check passed ({data['total']}/{data['total']})[/]")
        else:
            self.out.print(
                f"[bold red]✘ check failed: {data['failed']} of {data['total']} did not pass[/]"
            )

    def _on_warning(self, data: dict[str, Any]) -> None:
        self.out.print(f"[yellow]warning:[/] {escape(str(data.get('message', '')))}")

    def _on_hint(self, data: dict[str, Any]) -> None:
        title = "Hint" if not data.get("dry") else "Hint (shown when the check fails)"
        self.out.print(Panel(Markdown(str(data["text"])), title=title, border_style="yellow"))

    def _on_step_end(self, data: dict[str, Any]) -> None:
        if data.get("status") == "passed":
            self.out.print(f"[green]Step {data['index'] + 1} done.[/]")

    def _on_run_end(self, data: dict[str, Any]) -> None:
        status = str(data.get("status"))
        style = {
            "completed": "bold green",
            "checked": "bold green",
            "dry_run": "bold",
            "stopped": "yellow",
        }.get(status, "bold red")
        self.out.print(Rule(f"[{style}]{escape(str(data.get('message', status)))}[/]"))


def replay(path: Path, out: Console | None = None) -> None:
    """Render a saved ``events.jsonl`` as the run looked."""
    view = RunView(out)
    for event in read_events(path):
        view(event)
