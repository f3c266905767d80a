"""``invoke matrix``: which flows the NetworkPolicies allow, before anything touches a cluster.

The objects come from the lab's own builders (default), from manifests, or from the current kube
context; the evaluation is :mod:`packetwalk.netpol`; this module only parses options, picks the
source, prints and writes files.

The result goes to standard output and nothing else does: warnings, notes and the progress spinner
go to standard error, so ``--format json|csv|connlist|...`` output can be piped to a parser.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.markup import escape

from packetwalk.cli import matrix_views
from packetwalk.cli.clusters import participant_help
from packetwalk.errors import InputError, PacketwalkError
from packetwalk.kube.access import ClusterAccess
from packetwalk.lab.config import DEFAULT_STACK, STACKS_DIR, load_stack_config
from packetwalk.netpol import connlist, graph
from packetwalk.netpol import diff as netpol_diff
from packetwalk.netpol import explain as netpol_explain
from packetwalk.netpol.evaluator import Analysis, EvalOptions, analyze
from packetwalk.netpol.loader import cluster_from_objects, load_cluster
from packetwalk.netpol.model import Cluster

FORMATS = ("table", "json", "csv", "md", "connlist", "dot", "svg", "png", "mermaid")
SUFFIX_FORMATS = {
    ".json": "json",
    ".csv": "csv",
    ".md": "md",
    ".txt": "connlist",
    ".dot": "dot",
    ".gv": "dot",
    ".svg": "svg",
    ".png": "png",
    ".mmd": "mermaid",
}
CLUSTER_RESOURCES = (
    ("namespaces", "Namespace"),
    ("pods", "Pod"),
    ("networkpolicies", "NetworkPolicy"),
)


def _kubectl_cluster() -> ClusterAccess:
    from packetwalk.kube.kubectl import KubectlCluster

    return KubectlCluster()


def _lab_objects(stack: str) -> list[dict[str, Any]]:
    from packetwalk.lab.objects import lab_objects, lab_peer_objects

    cfg = load_stack_config(stack)
    return lab_objects(cfg) + lab_peer_objects(cfg)


@dataclass
class Deps:
    """Collaborators the tests replace (``monkeypatch.setattr(DEPS, "cluster", ...)``)."""

    cluster: Callable[[], ClusterAccess] = _kubectl_cluster
    lab_objects: Callable[[str], list[dict[str, Any]]] = _lab_objects
    stacks_dir: Path = STACKS_DIR
    console: Console | None = None  # the result (standard output)
    err_console: Console | None = None  # warnings, notes, progress (standard error)


DEPS = Deps()

#: finished pods named one by one in the note about them; more are counted
FINISHED_NAMED = 5


def _console() -> Console:
    return DEPS.console or Console()


def _err_console() -> Console:
    return DEPS.err_console or Console(stderr=True)


def _namespace_of(obj: dict[str, Any]) -> object:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return None
    return metadata.get("name") if obj.get("kind") == "Namespace" else metadata.get("namespace")


def _participant_namespace(stack: str, number: int) -> tuple[str, set[str]]:
    """The participant's app namespace and the other participants' (``--participant N``)."""
    from packetwalk.lab.participants import participants
    from packetwalk.playbook.facts import select_participant

    cfg = load_stack_config(stack, DEPS.stacks_dir)
    mine = select_participant(cfg, number).namespace
    return mine, {p.namespace for p in participants(cfg)} - {mine}


def _cluster_objects(
    resources: Sequence[tuple[str, str]], namespace: str | None = None
) -> list[dict[str, Any]]:
    """The objects of ``resources`` (``(resource, kind)``) read from the current kube context,
    in every namespace or in ``namespace`` only."""
    access = DEPS.cluster()
    objects: list[dict[str, Any]] = []
    for resource, kind in resources:
        for item in access.get_objects(resource, namespace=namespace):
            item = dict(item)
            item.setdefault("kind", kind)
            objects.append(item)
    return objects


def _participant_cluster_objects(namespace: str) -> list[dict[str, Any]]:
    """Pods and NetworkPolicies of one namespace (a participant's credentials read no more),
    with a stand-in for the Namespace itself (namespaces are cluster-scoped)."""
    labels = {"kubernetes.io/metadata.name": namespace}
    stand_in = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": labels},
    }
    return [stand_in, *_cluster_objects(CLUSTER_RESOURCES[1:], namespace)]


def load_source(
    manifests: Sequence[str],
    use_cluster: bool,
    stack: str,
    *,
    include_finished: bool = False,
    participant: int = 0,
) -> tuple[Cluster, str]:
    """The cluster to evaluate and a short description of where it came from.

    ``participant`` (``--participant N``, 0: not given): the lab's own objects of that
    participant only (plus the shared Traefik and DNS), or with ``--cluster`` the Pods and
    NetworkPolicies of the participant's namespace.
    """
    if manifests and use_cluster:
        raise InputError(
            "give either --manifests or --cluster, not both", location="--manifests/--cluster"
        )
    if participant and manifests:
        raise InputError(
            "selects the lab's own objects or, with --cluster, your namespace; "
            "not with --manifests",
            location="--participant",
        )
    if participant:
        mine, others = _participant_namespace(stack, participant)
        if use_cluster:
            chosen = _participant_cluster_objects(mine)
            where = f"namespace {mine} of the current kube context"
        else:
            chosen = [o for o in DEPS.lab_objects(stack) if _namespace_of(o) not in others]
            where = f"the lab's own objects of {mine} (stack {stack})"
        return (
            cluster_from_objects(chosen, source=where, include_finished=include_finished),
            where,
        )
    if manifests:
        return (
            load_cluster([Path(m) for m in manifests], include_finished=include_finished),
            ", ".join(manifests),
        )
    if use_cluster:
        objects = _cluster_objects(CLUSTER_RESOURCES)
        return (
            cluster_from_objects(objects, source="cluster", include_finished=include_finished),
            "the current kube context",
        )
    return (
        cluster_from_objects(
            DEPS.lab_objects(stack), source=f"lab stack {stack}", include_finished=include_finished
        ),
        f"the lab's own objects (stack {stack})",
    )


def finished_note(cluster: Cluster, where: str) -> str | None:
    """What to say about the finished pods left out of ``cluster`` (read from ``where``)."""
    names = cluster.finished_pods
    if not names:
        return None
    count = len(names)
    listed = ", ".join(names[:FINISHED_NAMED])
    if count > FINISHED_NAMED:
        listed += f" and {count - FINISHED_NAMED} more"
    pods = "pod" if count == 1 else "pods"
    return (
        f"left out {count} {pods} in phase Succeeded or Failed (no network endpoint) from "
        f"{where}: {listed}; --include-finished evaluates them as netpol-analyzer does"
    )


def _report(err: Console, cluster: Cluster, where: str) -> None:
    """The loader's warnings and the finished-pods note, on standard error, one line each."""
    for warning in cluster.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    note = finished_note(cluster, where)
    if note is not None:
        err.print(f"[cyan]note:[/] {escape(note)}", highlight=False, soft_wrap=True)


def _refuse_to_replace(out: str, force: bool) -> None:
    """Never replace a file the user made unless --force says so."""
    if Path(out).exists() and not force:
        raise InputError("exists already; pass --force to replace it", source=out, location="--out")


def _write(out: str, data: str | bytes, force: bool) -> None:
    """Write atomically (checked again: the evaluation may have taken a while)."""
    path = Path(out)
    _refuse_to_replace(out, force)
    if not path.parent.exists():
        raise InputError("the folder does not exist", source=str(path.parent), location="--out")
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _text_out(console: Console, text: str, out: str, force: bool) -> None:
    """A text result to --out, else to the terminal as rendered (the terminal must not re-wrap
    or colour it: it is meant to be copied)."""
    if out:
        _write(out, text, force)
    else:
        console.print(text, markup=False, highlight=False, emoji=False, end="", soft_wrap=True)


def _parse_explain(text: str) -> tuple[str, str, str | None]:
    parts = text.replace(",", " ").split()
    if len(parts) not in (2, 3):
        raise InputError(
            f"--explain takes 'SRC DST [PORT/PROTO]' in one quoted argument, got {text!r}",
            location="--explain",
        )
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def _render(analysis: Analysis, fmt: str, title: str) -> str | bytes | None:
    """Text or bytes for file-like formats; None for the rich table (printed directly)."""
    if fmt == "connlist":
        return connlist.render(analysis, "txt")
    if fmt in ("json", "csv", "md"):
        return connlist.render(analysis, fmt)
    if fmt == "dot":
        return graph.to_dot(analysis, title=title)
    if fmt == "mermaid":
        return graph.to_mermaid(analysis)
    if fmt in ("svg", "png"):
        return matrix_views.render_dot(graph.to_dot(analysis, title=title), fmt)
    return None


@task(
    iterable=["manifests"],
    help={
        "manifests": "file or folder of manifests (YAML/JSON, read recursively); repeatable",
        "cluster": "read Namespaces, Pods and NetworkPolicies from the current kube context",
        "stack": f"lab stack whose own objects are evaluated by default (default {DEFAULT_STACK})",
        "format": "table (default), json, csv, md, connlist (netpol-analyzer txt), dot, svg, "
        "png, mermaid",
        "out": "write the result to this file instead of the terminal",
        "force": "allow --out to replace an existing file",
        "diff": "compare with this file/folder of manifests: added/removed/changed flows",
        "explain": "'SRC DST [PORT/PROTO]' (quoted): the policies and rules behind one verdict; "
        "SRC/DST are ns/workload, ns/pod or an IPv4 address",
        "ipblock_matches_pods": "match ipBlocks against pod IPs too (Calico-like CNIs); "
        "not with --format connlist",
        "include_finished": "evaluate Pods in phase Succeeded or Failed too (left out by "
        "default, with a note on stderr; netpol-analyzer includes them)",
        "participant": participant_help(
            "your namespace only (the lab's objects, or with --cluster the cluster's)"
        ),
    },
)
def matrix(
    c: Context,
    manifests: list[str] | None = None,
    cluster: bool = False,
    stack: str = DEFAULT_STACK,
    format: str = "table",
    out: str = "",
    force: bool = False,
    diff: str = "",
    explain: str = "",
    ipblock_matches_pods: bool = False,
    include_finished: bool = False,
    participant: int = 0,
) -> None:
    """Show which connections the NetworkPolicies allow (the lab's own by default)."""
    try:
        run_matrix(
            manifests or [],
            cluster,
            stack,
            format,
            out,
            force,
            diff,
            explain,
            ipblock_matches_pods,
            include_finished=include_finished,
            participant=participant,
        )
    except PacketwalkError as err:
        raise Exit(str(err), code=1) from err


def run_matrix(
    manifests: Sequence[str],
    use_cluster: bool,
    stack: str,
    fmt: str,
    out: str,
    force: bool,
    diff_path: str,
    explain_text: str,
    ipblock_matches_pods: bool,
    *,
    include_finished: bool = False,
    participant: int = 0,
) -> None:
    console, err = _console(), _err_console()
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}", location="--format", choices=FORMATS)
    if fmt == "table" and out:  # a file wants a file format: take it from the suffix
        fmt = SUFFIX_FORMATS.get(Path(out).suffix.lower(), "connlist")
    explain_args = _parse_explain(explain_text) if explain_text else None
    if out:  # fail before the work, not after
        _refuse_to_replace(out, force)
    mode = "connlist" if fmt == "connlist" else "spec"
    options = EvalOptions(mode=mode, ipblock_matches_pods=ipblock_matches_pods)
    with err.status("reading objects and evaluating policies…"):
        source, where = load_source(
            manifests,
            use_cluster,
            stack,
            include_finished=include_finished,
            participant=participant,
        )
        analysis = analyze(source, options)
        other = other_source = None
        if diff_path:
            other_source = load_cluster([Path(diff_path)], include_finished=include_finished)
            other = analyze(other_source, options)
    _report(err, source, where)
    if other_source is not None:
        _report(err, other_source, f"--diff {diff_path}")
    title = f"NetworkPolicy connectivity of {where}"

    if explain_args is not None:
        report = netpol_explain.explain(analysis, *explain_args)
        text = netpol_explain.render_text(report)
        _text_out(console, text, out, force)
        return

    if other is not None:
        lines = netpol_diff.connectivity_diff(analysis, other)
        if fmt in ("table",) and not out:
            if not lines:
                console.print("No connectivity differences.")
            else:
                console.print(matrix_views.diff_table(lines, title=f"{where} -> {diff_path}"))
            return
        diff_fmt = {"connlist": "txt", "table": "txt"}.get(fmt, fmt)
        if diff_fmt not in netpol_diff.FORMATS:
            raise InputError(
                f"--diff supports formats table, connlist, json, csv, md; not {fmt}",
                location="--format",
            )
        text = netpol_diff.render(lines, diff_fmt)
        _text_out(console, text, out, force)
        return

    rendered = _render(analysis, fmt, title)
    if rendered is None:
        edges = list(analysis.edges())
        console.print(matrix_views.matrix_table(analysis, edges, title=title))
        blocked_self = [(w.label, conn) for w, conn in analysis.self_pairs() if not conn.is_all]
        if blocked_self and not options.self_always_allowed:
            console.print(matrix_views.self_table(blocked_self))
        console.print(
            f"{len(analysis.workloads)} workloads, {len(source.pods)} pods, "
            f"{len(source.policies)} policies, {len(analysis.classes)} label classes"
        )
        return
    if out:
        _write(out, rendered, force)
        err.print(f"wrote {escape(out)}", highlight=False, soft_wrap=True)
    elif isinstance(rendered, bytes):
        raise InputError(f"{fmt} is binary: give --out FILE", location="--out")
    else:
        console.print(rendered, markup=False, highlight=False, emoji=False, end="", soft_wrap=True)
