"""``invoke workshop``: the instructor's view of a workshop, participants x modules.

Each participant's ``invoke lab`` records its progress in ConfigMaps of the participant's own
namespace (:mod:`packetwalk.playbook.progress`); this task reads them, one namespace per
participant, and shows the step each participant is on and the checks that failed, as a table,
JSON or Markdown. ``--watch`` redraws the table every few seconds (rich Live) until Ctrl-C.
The cluster is a collaborator in :data:`DEPS` so tests read a fake one.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from packetwalk.errors import InputError, PacketwalkError
from packetwalk.kube.access import ClusterAccess, access_errors
from packetwalk.lab import config
from packetwalk.lab.contexts import kube_context
from packetwalk.lab.participants import participants
from packetwalk.playbook import catalog
from packetwalk.playbook.progress import (
    ModuleRecord,
    WorkshopRow,
    cell_text,
    read_progress_configmap,
    workshop_json,
    workshop_markdown,
    workshop_rows,
)

FORMATS = ("table", "json", "md")

ClusterFactory = Callable[[config.LabConfig, str], ClusterAccess]
"""``(stack config, cluster name) -> ClusterAccess`` (one cluster per participant is possible)."""


def _kubectl_cluster(cfg: config.LabConfig, cluster: str) -> ClusterAccess:
    from packetwalk.kube.kubectl import KubectlCluster

    return KubectlCluster(context=kube_context(cfg, cluster), kubeconfig=cfg.kubeconfig)


@dataclass
class Deps:
    """What the task talks to; tests replace fields."""

    stacks_dir: Path = config.STACKS_DIR
    labs_dir: Path = catalog.LABS_DIR
    cluster: ClusterFactory = _kubectl_cluster
    console: Console = field(default_factory=lambda: Console(highlight=False))
    sleep: Callable[[float], None] = time.sleep
    rounds: int | None = None
    """How many times ``--watch`` redraws before it returns (None: until Ctrl-C; tests)."""


DEPS = Deps()


def read_workshop(cfg: config.LabConfig, modules: list[str]) -> list[WorkshopRow]:
    """Every participant's progress ConfigMaps, read namespace by namespace."""
    records: list[ModuleRecord] = []
    unreadable: dict[str, str] = {}
    clusters: dict[str, ClusterAccess] = {}
    everyone = participants(cfg)
    for participant in everyone:
        try:
            if participant.cluster not in clusters:
                clusters[participant.cluster] = DEPS.cluster(cfg, participant.cluster)
            access = clusters[participant.cluster]
            items = access.get_objects("configmaps", namespace=participant.namespace)
        except Exception as error:
            if not isinstance(error, access_errors(clusters.get(participant.cluster))):
                raise
            unreadable[participant.namespace] = f"{type(error).__name__}: {error}"
            continue
        for item in items:
            record = read_progress_configmap(item)
            if record is not None:
                records.append(record)
    keys = [(p.index, p.name, p.namespace) for p in everyone]
    return workshop_rows(keys, modules, records, unreadable)


def workshop_table(rows: list[WorkshopRow], modules: list[str], stack: str) -> Table:
    """The rich table: one row per participant, one column per module."""
    table = Table(title=f"workshop on stack {stack}", title_justify="left")
    table.add_column("participant")
    for module in modules:
        table.add_column(module[:2], overflow="fold")
    for row in rows:
        name = f"{row.number} {escape(row.namespace)}"
        if row.unreadable:
            table.add_row(name, f"[red]unreadable: {escape(row.unreadable)}[/]")
            continue
        cells = []
        for module in modules:
            record = row.modules.get(module)
            text = escape(cell_text(record))
            if record is not None and record.failed_checks:
                text = f"[red]{text}[/]"
            elif record is not None and record.finished:
                text = f"[green]{text}[/]"
            cells.append(text)
        table.add_row(name, *cells)
    legend = ", ".join(f"{m[:2]} {m}" for m in modules)
    table.caption = f"columns: {legend}"
    return table


@task(
    help={
        "stack": f"the workshop's stack (default: {config.DEFAULT_STACK})",
        "watch": "redraw every few seconds until Ctrl-C (table format only)",
        "format": "table|json|md",
        "interval": "seconds between redraws with --watch (default 5)",
    }
)
def workshop(
    c: Context,
    stack: str = config.DEFAULT_STACK,
    watch: bool = False,
    format: str = "table",
    interval: float = 5.0,
) -> None:
    """Instructor: every participant x every lab module, the step each is on and failed checks.

    Read from the progress ConfigMaps `invoke lab --participant N` writes into each participant's
    namespace.
    """
    deps = DEPS
    try:
        if format not in FORMATS:
            raise InputError(f"unknown format {format!r}", location="--format", choices=FORMATS)
        if watch and format != "table":
            raise InputError("--watch redraws the table: leave out --format", location="--watch")
        if interval <= 0:
            raise InputError("must be more than 0 seconds", location="--interval")
        cfg = config.load_stack_config(stack, deps.stacks_dir)
        modules = [path.stem for path in catalog.module_paths(deps.labs_dir)]
        rows = read_workshop(cfg, modules)
    except PacketwalkError as error:
        raise Exit(str(error), code=1) from error
    if format == "json":
        sys.stdout.write(json.dumps(workshop_json(rows), indent=2) + "\n")
        return
    if format == "md":
        sys.stdout.write(workshop_markdown(rows, modules))
        return
    if not watch:
        deps.console.print(workshop_table(rows, modules, cfg.stack))
        return
    done = 0
    try:
        with Live(
            workshop_table(rows, modules, cfg.stack), console=deps.console, auto_refresh=False
        ) as live:
            while deps.rounds is None or done < deps.rounds:
                deps.sleep(interval)
                rows = read_workshop(cfg, modules)
                live.update(workshop_table(rows, modules, cfg.stack), refresh=True)
                done += 1
    except KeyboardInterrupt:
        return
