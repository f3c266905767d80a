"""Rich rendering for the stack tasks: the doctor table, progress lines, run summaries, status.

Views build rich renderables from plain results and never decide anything; rich falls back to
plain text without a TTY, which is what CI logs get.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rich import status as rich_status
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from packetwalk.host.prereqs import TOOLS_NOTE, CheckResult, Status
from packetwalk.host.stacks import (
    DiagnosticLine,
    LabOutputs,
    ProgressEvent,
    ResourceEvent,
    RunSummary,
    StepStarted,
)

STATUS_STYLE = {
    Status.OK: "green",
    Status.MISSING: "red",
    Status.TOO_OLD: "yellow",
    Status.NOT_RUNNING: "red",
    Status.UNKNOWN_VERSION: "yellow",
}

OP_STYLE = {
    "create": ("+", "green"),
    "update": ("~", "yellow"),
    "delete": ("-", "red"),
    "replace": ("+-", "magenta"),
    "create-replacement": ("++", "magenta"),
    "delete-replaced": ("--", "magenta"),
}

OP_WORDS = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "replace": "replaced",
    "same": "unchanged",
}


def doctor_table(results: Sequence[CheckResult], *, title: str = "prerequisites") -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("tool")
    table.add_column("found")
    table.add_column("required")
    table.add_column("status")
    table.add_column("how to fix", overflow="fold")
    for result in results:
        style = STATUS_STYLE[result.status]
        table.add_row(
            result.requirement.name,
            result.found_version or "-",
            result.required,
            Text(result.status.value, style=style),
            result.fix,
        )
    return table


def doctor_details(results: Sequence[CheckResult]) -> Text:
    """What the failed probes said (daemon errors, why a minimum applies), one line each."""
    text = Text()
    for result in results:
        if result.ok or not result.detail:
            continue
        text.append(f"{result.requirement.name}: ", style="bold")
        text.append(result.detail.splitlines()[0] + "\n")
    if any(not r.ok and r.requirement.installable for r in results):
        text.append(TOOLS_NOTE + ".\n", style="dim")
    return text


def doctor_summary(results: Sequence[CheckResult]) -> Text:
    failed = [result for result in results if not result.ok]
    if not failed:
        return Text("All prerequisites are met.", style="green")
    names = ", ".join(result.requirement.name for result in failed)
    return Text(f"{len(failed)} check(s) failed: {names}.", style="red")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def event_line(event: ResourceEvent | DiagnosticLine) -> Text:
    """One line per resource step: ``+ create  kubernetes:apps/v1:Deployment  vote  2.1s``."""
    if isinstance(event, DiagnosticLine):
        style = "red" if event.severity == "error" else "yellow"
        where = f" {event.name}" if event.name else ""
        first = event.message.splitlines()[0] if event.message else ""
        return Text(f"  {event.severity}{where}: {first}", style=style)
    mark, style = OP_STYLE.get(event.op, ("*", "cyan"))
    if event.failed:
        mark, style = "x", "red"
    verb = f"{event.op} failed" if event.failed else event.op
    if event.planning:
        verb = f"would {event.op}"
    line = Text(f"  {mark} ", style=style)
    line.append(f"{verb:<18}", style=style)
    line.append(f"{event.type}  ", style="dim")
    line.append(event.name, style="bold")
    duration = _duration(event.seconds)
    if duration:
        line.append(f"  {duration}", style="dim")
    return line


@dataclass
class EventPrinter:
    """An :data:`~packetwalk.host.stacks.EventSink` printing each finished step as it arrives.

    Steps still running are shown on a live status line (``status``, when a terminal is
    attached): creating a kind cluster takes a minute and should not look like a hang.
    """

    console: Console
    status: rich_status.Status | None = None
    running: dict[str, str] = field(default_factory=dict)

    def __call__(self, event: ProgressEvent) -> None:
        if isinstance(event, StepStarted):
            self.running[f"{event.project}/{event.name}"] = f"{event.op} {event.name}"
        else:
            if isinstance(event, ResourceEvent):
                self.running.pop(f"{event.project}/{event.name}", None)
            self.console.print(event_line(event), highlight=False)
        if self.status is not None:
            self.status.update(self.working())

    def working(self) -> str:
        if not self.running:
            return "working..."
        shown = list(self.running.values())[:3]
        more = f" (+{len(self.running) - 3} more)" if len(self.running) > 3 else ""
        return "in progress: " + ", ".join(shown) + more


def changes_text(changes: Mapping[str, int], *, preview: bool = False) -> str:
    changed = {op: n for op, n in changes.items() if op not in ("same", "read", "refresh") and n}
    unchanged = changes.get("same", 0)
    if not changed:
        return f"no changes ({unchanged} unchanged)" if unchanged else "no changes"
    words = []
    for op, count in sorted(changed.items()):
        word = OP_WORDS.get(op, op)
        words.append(f"{count} to {op}" if preview else f"{count} {word}")
    if unchanged:
        words.append(f"{unchanged} unchanged")
    return ", ".join(words)


def urls(outputs: LabOutputs | Mapping[str, object]) -> list[tuple[str, str]]:
    get = outputs.get
    found = []
    for label, key in (("vote", "voteUrl"), ("result", "resultUrl")):
        value = get(key)
        if value:
            found.append((label, str(value)))
    return found


def participant_rows(outputs: LabOutputs | Mapping[str, object]) -> list[dict[str, str]]:
    """The ``participants`` output of a GKE lab: one entry per participant's lab."""
    listed = outputs.get("participants")
    if not isinstance(listed, list):
        return []
    return [
        {key: str(value) for key, value in entry.items()}
        for entry in listed
        if isinstance(entry, Mapping)
    ]


def participants_table(outputs: LabOutputs | Mapping[str, object]) -> Table | None:
    """Each participant's namespace, cluster and URLs; None for a one-person lab."""
    rows = participant_rows(outputs)
    if len(rows) < 2:
        return None
    table = Table(title="participants", title_justify="left")
    for column in ("participant", "namespace", "cluster", "vote", "result"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.get("name", ""),
            row.get("namespace", ""),
            row.get("cluster", ""),
            Text(row.get("voteUrl", ""), style="cyan underline"),
            Text(row.get("resultUrl", ""), style="cyan underline"),
        )
    return table


def run_summary(summary: RunSummary, outputs: LabOutputs | None = None) -> RenderableType:
    preview = summary.operation == "preview"
    parts: list[RenderableType] = []
    for note in summary.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for result in summary.results:
        table.add_row(result.project, changes_text(result.changes, preview=preview))
    for skipped in summary.skipped:
        project, _, why = skipped.partition(": ")
        table.add_row(project, Text(why, style="dim"))
    parts.append(table)
    if summary.operation == "up":
        verdict = "Lab is up to date: no changes." if not summary.changed else "Lab is up."
        parts.append(Text(verdict, style="green"))
    if outputs is not None:
        people = participants_table(outputs)
        if people is not None:
            parts.append(people)
        else:
            for label, url in urls(outputs):
                parts.append(Text.assemble((f"{label:>7}: ", "bold"), (url, "cyan underline")))
    return Group(*parts)


@dataclass(frozen=True)
class NodeRow:
    name: str
    roles: str
    ready: str
    internal_ip: str
    version: str


def node_rows(nodes: Sequence[Mapping[str, object]]) -> list[NodeRow]:
    """Rows from ``kubectl get nodes -o json`` items."""
    rows = []
    for node in nodes:
        meta = node.get("metadata", {})
        status = node.get("status", {})
        meta = meta if isinstance(meta, dict) else {}
        status = status if isinstance(status, dict) else {}
        labels = meta.get("labels", {}) or {}
        roles = sorted(
            key.rsplit("/", 1)[-1]
            for key in labels
            if str(key).startswith("node-role.kubernetes.io/")
        )
        ready = "unknown"
        for condition in status.get("conditions", []) or []:
            if isinstance(condition, dict) and condition.get("type") == "Ready":
                ready = "Ready" if condition.get("status") == "True" else "NotReady"
        address = ""
        for entry in status.get("addresses", []) or []:
            if isinstance(entry, dict) and entry.get("type") == "InternalIP":
                address = str(entry.get("address", ""))
        info = status.get("nodeInfo", {}) or {}
        rows.append(
            NodeRow(
                str(meta.get("name", "?")),
                ",".join(roles) or "worker",
                ready,
                address,
                str(info.get("kubeletVersion", "")) if isinstance(info, dict) else "",
            )
        )
    return rows


def status_view(
    stack: str,
    outputs: LabOutputs,
    *,
    configured: Mapping[str, str],
    nodes: Sequence[NodeRow] | None,
    nodes_note: str = "",
) -> RenderableType:
    """Stack outputs, nodes, CNI, kube-proxy mode and the app URLs of one lab."""
    parts: list[RenderableType] = []
    if not outputs.exists:
        parts.append(Text(f"Stack {stack!r} is not up (no state). `invoke up --stack {stack}`."))
        return Group(*parts)
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("stack", stack)
    for label, key, fallback in (
        ("platform", "platform", "platform"),
        ("cluster", "clusterName", "cluster_name"),
        ("context", "kubeContext", ""),
        ("CNI", "cni", "cni"),
        ("kube-proxy", "kubeProxyMode", "kube_proxy_mode"),
        ("LB range", "lbAddressRange", ""),
        ("ingress", "ingressAddress", ""),
        ("namespace", "appNamespace", "app_namespace"),
    ):
        value = outputs.get(key)
        wanted = configured.get(fallback) if fallback else None
        if value in (None, "") and wanted:
            value = f"{wanted} (configured)"
        elif wanted and value not in (None, "") and str(value) != wanted:
            # the deployed lab and the stack file disagree: say so, prefer neither
            value = Text.assemble(
                str(value),
                (f"  (the stack config now says {wanted}: `invoke up` applies it)", "yellow"),
            )
        if value not in (None, ""):
            facts.add_row(label, value if isinstance(value, Text) else str(value))
    table = participants_table(outputs)
    if table is None:
        for label, url in urls(outputs):
            facts.add_row(label, Text(url, style="cyan underline"))
    parts.append(facts)
    if table is not None:
        parts.append(table)
    if nodes is not None:
        table = Table(title="nodes", title_justify="left")
        for column in ("name", "roles", "status", "internal IP", "version"):
            table.add_column(column)
        for row in nodes:
            style = "green" if row.ready == "Ready" else "red"
            table.add_row(
                row.name, row.roles, Text(row.ready, style=style), row.internal_ip, row.version
            )
        parts.append(table)
    else:
        listed = outputs.get("nodes")
        if isinstance(listed, list) and listed:
            parts.append(Text("nodes (from the stack outputs): " + ", ".join(map(str, listed))))
    if nodes_note:
        parts.append(Text(nodes_note, style="dim"))
    others = {
        key: value
        for key, value in {**dict(outputs.cluster), **dict(outputs.lab)}.items()
        if key not in SHOWN_OUTPUTS
    }
    if others:
        extra = Table(title="other outputs", title_justify="left")
        extra.add_column("output")
        extra.add_column("value", overflow="fold")
        for key, value in sorted(others.items()):
            extra.add_row(key, str(value))
        parts.append(extra)
    if outputs.secret_names:
        parts.append(
            Text("secret outputs (not shown): " + ", ".join(sorted(outputs.secret_names)), "dim")
        )
    return Group(*parts)


SHOWN_OUTPUTS = frozenset(
    {
        "platform",
        "clusterName",
        "kubeContext",
        "cni",
        "kubeProxyMode",
        "lbAddressRange",
        "ingressAddress",
        "appNamespace",
        "voteUrl",
        "resultUrl",
        "nodes",
        # GKE: shown as the participants table, or bookkeeping for the lab stack.
        "participants",
        "clusters",
        "kubeContexts",
        "ingressAddresses",
        "ingressAddressName",
        "ingressAddressNames",
        "network",
    }
)
