"""``invoke walk``: capture a request at every hop of its path, then show the walk.

The task is thin: it reads the stack config (CNI, kube-proxy mode, app namespace, the kind
context), gathers the cluster facts, plans with :func:`packetwalk.walk.plan.plan_walk`, runs the
plan with :class:`packetwalk.walk.orchestrate.WalkRunner` and renders the analysis. Collaborators
live in :data:`DEPS` so tests swap in the in-memory cluster.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console

from packetwalk.cli import walk_views
from packetwalk.cli.clusters import (
    CONTEXT_HELP,
    ClusterFactory,
    kubectl_cluster,
    participant_context,
    participant_help,
)
from packetwalk.errors import InputError, PacketwalkError
from packetwalk.host.runfolders import new_run_folder
from packetwalk.kube.access import BASE_ACCESS_ERRORS, ClusterAccess
from packetwalk.kube.kubectl import CLIENT_ERRORS
from packetwalk.lab.config import DEFAULT_STACK, REPO_ROOT, LabConfig, load_stack_config
from packetwalk.lab.versions import NETSHOOT_IMAGE
from packetwalk.playbook.facts import select_participant
from packetwalk.walk.facts import ClusterFacts
from packetwalk.walk.lookup import VIAS
from packetwalk.walk.orchestrate import (
    HostCapture,
    WalkRunner,
    describe_error,
    gather_facts,
)
from packetwalk.walk.plan import WalkPlan, WalkRequest, plan_walk
from packetwalk.walk.plandata import plan_as_dict
from packetwalk.walk.snapshot import facts_from_objects, load_objects

FORMATS = ("text", "json", "mermaid", "svg")
PICTURES = {"mermaid": "mmd", "svg": "svg"}
"""Formats that are also saved next to the captures, to open or paste later."""


@dataclass
class Deps:
    """What the task talks to; tests replace fields."""

    stacks_dir: Path = REPO_ROOT / "stacks"
    cluster: ClusterFactory = kubectl_cluster
    console: Console = field(default_factory=Console)
    out: TextIO | None = None
    """Where results go (default stdout); progress and messages go to the console."""
    host_capture: HostCapture | None = None
    image: str = NETSHOOT_IMAGE
    settle: float = 1.0
    ready_timeout: float = 30.0


DEPS = Deps()


def _facts(
    cfg: LabConfig,
    snapshot: str,
    access: Callable[[], ClusterAccess],
    console: Console,
    app_namespace: str,
) -> ClusterFacts:
    """What the cluster (or snapshot) shows; where it contradicts the stack config, the walk
    follows the cluster, and says so. ``app_namespace``: the participant's app namespace."""
    if snapshot:
        facts = facts_from_objects(
            load_objects(Path(snapshot)), app_namespace=app_namespace, platform=cfg.platform
        )
    else:
        facts = gather_facts(access(), app_namespace=app_namespace, platform=cfg.platform)
    if facts.cni == "unknown":
        facts = replace(facts, cni=cfg.cni)
    for what, seen, configured in (
        ("CNI", facts.cni, cfg.cni),
        ("kube-proxy mode", facts.kube_proxy_mode, cfg.kube_proxy_mode),
    ):
        if seen != configured:
            console.print(
                f"[yellow]warning:[/] the cluster runs {what} {seen!r} but "
                f"{cfg.source} says {configured!r}; the walk follows the cluster "
                "(is the kube context the stack's?)",
                highlight=False,
            )
    return facts


def _print_result(text: str, deps: Deps) -> None:
    out = deps.out or sys.stdout
    out.write(text if text.endswith("\n") else text + "\n")


def _render_plan(plan: WalkPlan, fmt: str, deps: Deps) -> None:
    if fmt == "json":
        _print_result(json.dumps(plan_as_dict(plan, deps.image), indent=2), deps)
    else:
        deps.console.print(walk_views.plan_view(plan, deps.image))


@task(
    help={
        "to": "the Service to reach: vote, result, or any Service name (NAMESPACE/NAME too)",
        "from_": "where the request starts: 'user' (your machine) or a pod (name, NAMESPACE/NAME "
        "or the app label, e.g. worker)",
        "via": "the path: "
        + "|".join(VIAS)
        + " (default: ingress from user, clusterip from a pod)",
        "stack": "the lab stack (its config gives the CNI, kube-proxy mode and kind context)",
        "out_dir": "where run folders go (walks/<timestamp>/, never overwritten)",
        "format": "how to show the walk: " + "|".join(FORMATS),
        "dry_run": "only print the plan (points, filters, commands); attach, create and send "
        "nothing (the cluster is only read, and not at all with --snapshot)",
        "keep": "keep the node debug pods for the next walk (ephemeral containers always stay)",
        "entry_node": "the node to send NodePort traffic to (default: one without the backend)",
        "snapshot": "plan from a saved `kubectl get ... -o yaml` instead of the cluster "
        "(with --dry-run)",
        "context": CONTEXT_HELP,
        "participant": participant_help("the walk goes to your namespace (vote-pNN) and host"),
    }
)
def walk(
    c: Context,
    to: str = "vote",
    from_: str = "user",
    via: str = "",
    stack: str = DEFAULT_STACK,
    out_dir: str = "walks",
    format: str = "text",
    dry_run: bool = False,
    keep: bool = False,
    entry_node: str = "",
    snapshot: str = "",
    context: str = "",
    participant: int = 0,
) -> None:
    """Capture one request at every hop (client, nodes, Traefik, backend) and show the walk."""
    deps = DEPS
    try:
        if format not in FORMATS:
            raise InputError(f"unknown format {format!r}", location="--format", choices=FORMATS)
        if via and via not in VIAS:
            raise InputError(f"unknown path {via!r}", location="--via", choices=VIAS)
        if snapshot and not dry_run:
            raise InputError(
                "a snapshot can only be planned, not captured: add --dry-run", location="--snapshot"
            )
        cfg = load_stack_config(stack, deps.stacks_dir)
        app_namespace = select_participant(cfg, participant).namespace
        access_cache: list[ClusterAccess] = []

        def access() -> ClusterAccess:
            if not access_cache:
                access_cache.append(
                    deps.cluster(cfg, participant_context(cfg, participant, context))
                )
            return access_cache[0]

        try:
            facts = _facts(cfg, snapshot, access, deps.console, app_namespace)
        except (*BASE_ACCESS_ERRORS, *CLIENT_ERRORS) as err:
            if isinstance(err, PacketwalkError):
                raise
            raise PacketwalkError(
                f"cannot read the cluster of stack {stack!r}: {describe_error(err)} (is the lab "
                "up? `invoke status` shows it; --context picks another kubeconfig context)"
            ) from err
        request = WalkRequest(to=to, source=from_, via=via or None, entry_node=entry_node or None)
        plan = plan_walk(request, facts)
        if dry_run:
            _render_plan(plan, format, deps)
            return
        deps.console.print(walk_views.plan_view(plan, deps.image))
        folder = new_run_folder(Path(out_dir))
        runner = WalkRunner(
            access(),
            image=deps.image,
            keep=keep,
            progress=walk_views.RichPointProgress(deps.console),
            host_capture=deps.host_capture,
            settle=deps.settle,
            ready_timeout=deps.ready_timeout,
        )
        from packetwalk.capture import analyze_folder, render

        run = runner.run(plan, folder, analyze=analyze_folder)
    except PacketwalkError as err:
        raise Exit(str(err), code=1) from err
    deps.console.print(walk_views.run_view(run))
    if run.analysis is not None:
        rendered = render(run.analysis, format)
        _print_result(rendered, deps)
        if format in PICTURES:
            (folder / f"walk.{PICTURES[format]}").write_text(rendered)
        deps.console.print(
            f"captures, walk.yaml and plan.yaml are in {folder}; "
            f"`invoke analyze {folder}` shows the walk again"
        )
    if run.errors:
        raise Exit(
            f"the walk finished with {len(run.errors)} problem(s); see above "
            f"(what was captured is in {folder})",
            code=1,
        )
