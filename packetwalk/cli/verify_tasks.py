"""``invoke verify``: does the cluster enforce what the NetworkPolicies say?

Thin: reads the stack config (the app's namespace, or on a workshop stack the namespace of the
``--participant``, and the kube context), runs
:func:`packetwalk.verify.run.verify` with a progress bar, prints the matrix (rich table, json, md
or an SVG heat map) and every mismatch with the ``--explain`` reason of the expected verdict,
and exits 1 on any mismatch. Results go to standard output (or ``--out``); progress, causes and
problems to the console.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from packetwalk.cli import verify_views
from packetwalk.cli.clusters import (
    CONTEXT_HELP,
    ClusterFactory,
    kubectl_cluster,
    participant_context,
    participant_help,
)
from packetwalk.errors import InputError, PacketwalkError
from packetwalk.kube.access import ClusterAccess, access_errors
from packetwalk.lab.config import DEFAULT_STACK, REPO_ROOT, load_stack_config
from packetwalk.lab.participants import participants
from packetwalk.playbook.facts import participant_namespace
from packetwalk.verify import render
from packetwalk.verify.plan import DEFAULT_EXTERNAL, parse_address, parse_ports
from packetwalk.verify.run import VerifyOptions, VerifyReport
from packetwalk.verify.run import verify as run_verify

FORMATS = ("table", "json", "md", "svg")
SUFFIX_FORMATS = {".json": "json", ".md": "md", ".svg": "svg"}


@dataclass
class Deps:
    """What the task talks to; tests replace fields."""

    stacks_dir: Path = REPO_ROOT / "stacks"
    cluster: ClusterFactory = kubectl_cluster
    console: Console = field(default_factory=lambda: Console(stderr=True))
    out: TextIO | None = None
    """Where results go (default stdout)."""


DEPS = Deps()


@task(
    help={
        "stack": f"lab stack: its kube context and app namespace (default {DEFAULT_STACK})",
        "namespace": "namespace whose pods are probed (default: the stack's app namespace, "
        "or the participant's)",
        "ports": "declared (container ports), all (declared + a sample of undeclared; default) "
        "or a list, e.g. 80,5432",
        "format": "table (default), json, md, svg (heat map of expected vs observed)",
        "out": "write the result to this file (format from its suffix when --format is table)",
        "force": "allow --out to replace an existing file",
        "external": f"the outside address probed from every pod, IP:PORT (default "
        f"{DEFAULT_EXTERNAL}); 'none' skips it",
        "timeout": "seconds each probe waits for an answer (default 1)",
        "context": CONTEXT_HELP,
        "participant": participant_help("probes your namespace (vote-pNN)"),
    }
)
def verify(
    c: Context,
    stack: str = DEFAULT_STACK,
    namespace: str = "",
    ports: str = "all",
    format: str = "table",
    out: str = "",
    force: bool = False,
    external: str = DEFAULT_EXTERNAL,
    timeout: int = 1,
    context: str = "",
    participant: int = 0,
) -> None:
    """Probe the live cluster from its pods and compare with what the policies allow."""
    try:
        mismatches = run(
            stack, namespace, ports, format, out, force, external, timeout, context, participant
        )
    except PacketwalkError as err:
        raise Exit(str(err), code=1) from err
    if mismatches:
        raise Exit(code=1)


def run(
    stack: str,
    namespace: str,
    ports: str,
    fmt: str,
    out: str,
    force: bool,
    external: str,
    timeout: int,
    context: str,
    participant: int = 0,
) -> int:
    """Verify and print; the number of mismatches."""
    deps = DEPS
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}", location="--format", choices=FORMATS)
    if fmt == "table" and out:
        fmt = SUFFIX_FORMATS.get(Path(out).suffix.lower(), "json")
    if out and Path(out).exists() and not force:
        raise InputError("exists already; pass --force to replace it", source=out, location="--out")
    if timeout < 1:
        raise InputError("must be at least 1 second", location="--timeout")
    cfg = load_stack_config(stack, deps.stacks_dir)
    chosen = participant_namespace(cfg, participant, namespace)
    options = VerifyOptions(
        namespace=chosen,
        private=frozenset(p.namespace for p in participants(cfg)) - {chosen},
        ports=parse_ports(ports),
        external=None if external in ("", "none") else parse_address(external),
        timeout=timeout,
    )
    access = deps.cluster(cfg, participant_context(cfg, participant, context))
    try:
        report = _probe(access, options, deps.console)
    except PacketwalkError:
        raise
    except access_errors(access) as error:  # the cluster, not the code: say so, no traceback
        raise PacketwalkError(f"cannot verify namespace {options.namespace}: {error}") from error
    _print(report, fmt, out, deps)
    return len(report.mismatches)


def _probe(access: ClusterAccess, options: VerifyOptions, console: Console) -> VerifyReport:
    with Progress(
        TextColumn("probing {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task_id = bar.add_task(options.namespace, total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task_id, completed=done, total=total)

        return run_verify(access, options, progress=progress)


def _print(report: VerifyReport, fmt: str, out: str, deps: Deps) -> None:
    console = deps.console
    if fmt == "table":
        target = Console(file=deps.out or sys.stdout, width=console.width)
        target.print(verify_views.matrix_table(report))
        for line in verify_views.summary_lines(report):
            target.print(line, highlight=False, soft_wrap=True)
    else:
        if fmt == "json":
            text = render.to_json(report.results, report.causes, report.problems)
        elif fmt == "md":
            text = render.to_markdown(report.results, report.causes, report.problems)
        else:
            text = render.to_svg(report.results, f"verify {report.namespace}")
        if out:
            Path(out).write_text(text)
            console.print(f"wrote {escape(out)}", highlight=False)
        else:
            (deps.out or sys.stdout).write(text)
    if fmt != "table" or out:
        for line in verify_views.summary_lines(report):
            console.print(line, highlight=False, soft_wrap=True)
