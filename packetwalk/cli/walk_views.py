"""Rich views of a packet-walk plan and run (the analysis has its own renderers)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from packetwalk.walk.orchestrate import WalkRun
from packetwalk.walk.plan import WalkPlan
from packetwalk.walk.plandata import equivalent_commands

_STATE_STYLE = {"stopped": "green", "failed": "red", "skipped": "yellow"}


def _where(kind: str, namespace: str | None, pod: str | None, node: str | None) -> str:
    if kind == "pod":
        return f"{namespace}/{pod}\non {node or '?'}"
    if kind == "node":
        return f"node {node}"
    return "your machine"


def plan_view(plan: WalkPlan, image: str) -> RenderableType:
    """The whole plan: the path, each capture point with its filter and reasons, the commands."""
    title = (
        f"packet walk to {plan.to} from {plan.source} via {plan.via} "
        f"(CNI {plan.cni}, kube-proxy {plan.kube_proxy_mode})"
    )
    path = Text()
    for i, step in enumerate(plan.path, 1):
        path.append(f"{i}. ", style="bold")
        path.append(step + "\n")
    points = Table(title="capture points, in request order", show_lines=True, expand=True)
    points.add_column("point", style="bold cyan", no_wrap=True)
    points.add_column("where")
    points.add_column("iface", no_wrap=True)
    points.add_column("why and filter", ratio=3)
    for point in plan.points:
        why = Text()
        for reason in point.why:
            why.append(f"- {reason}\n")
        why.append(point.filter, style="dim")
        points.add_row(
            point.name,
            _where(point.kind, point.namespace, point.pod, point.node),
            point.interface,
            why,
        )
    commands = Text()
    for point_name, command in equivalent_commands(plan, image):
        commands.append(f"# {point_name}\n", style="dim")
        commands.append(command + "\n")
    parts: list[RenderableType] = [Panel(path, title=title, title_align="left"), points]
    if plan.notes:
        parts.append(
            Panel(Text("\n".join(f"- {n}" for n in plan.notes)), title="notes", title_align="left")
        )
    parts.append(Panel(commands, title="the same by hand", title_align="left"))
    return Group(*parts)


def run_view(run: WalkRun) -> RenderableType:
    """How each capture went and where the files are."""
    table = Table(title=f"captures in {run.folder}")
    table.add_column("point", style="bold cyan")
    table.add_column("state")
    table.add_column("bytes", justify="right")
    table.add_column("file / problem")
    for result in run.points:
        style = _STATE_STYLE.get(result.state, "")
        detail = result.error or result.file
        if result.reused and result.point.kind == "pod":
            detail += f" (reused container {result.point.container})"
        table.add_row(result.point.name, Text(result.state, style=style), str(result.bytes), detail)
    parts: list[RenderableType] = [table]
    if run.request is not None:
        answer = run.request.stdout.strip() or run.request.stderr.strip()
        parts.append(
            Text(
                f"request: exit code {run.request.exit_code}"
                + (f", answered {answer}" if answer else ""),
                style="green" if run.request.ok else "red",
            )
        )
    for warning in run.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    for error in run.errors:
        parts.append(Text(f"error: {error}", style="red"))
    return Group(*parts)


class RichPointProgress:
    """Each capture point's state as a live line (the walk's :class:`PointProgress`)."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[point]}"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def begin(self, points: Sequence[str]) -> None:
        self._tasks = {
            name: self._progress.add_task("planned", total=None, point=name) for name in points
        }
        self._progress.start()

    def update(self, point: str, text: str) -> None:
        self._progress.update(self._tasks[point], description=text)

    def end(self) -> None:
        self._progress.stop()
