"""``invoke map``: learn ClientIntents from real traffic, as Otterize's network-mapper does.

Live (default): :mod:`packetwalk.walk.mapcapture` captures on every node at once (node debug
pods, ``conntrack -L`` before and after, tcpdump limited to TCP SYNs and DNS answers for
``--duration``, an inventory when it ends) into a map folder (``walks/<timestamp>-map/``),
which ``--from`` reads again without a cluster. The mapping itself is :mod:`packetwalk.mapper`;
this task parses options, calls them, prints. On a workshop stack ``--participant N`` limits the
learned intents to that participant's namespace (``--namespace`` defaults to it).
Progress goes to stderr, results to stdout or ``--out``.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from packetwalk.cli.clusters import (
    CONTEXT_HELP,
    ClusterFactory,
    kubectl_cluster,
    participant_context,
    participant_help,
)
from packetwalk.errors import InputError, PacketwalkError
from packetwalk.host.runfolders import new_run_folder
from packetwalk.intents import load_client_intents, parse_client_intents
from packetwalk.lab.config import DEFAULT_STACK, REPO_ROOT, LabConfig, load_stack_config
from packetwalk.lab.participants import participants
from packetwalk.lab.versions import NETSHOOT_IMAGE
from packetwalk.mapper import compare_intents, render_json, render_table, render_yaml
from packetwalk.mapper.folder import (
    load_map_folder,
    map_folder,
)
from packetwalk.mapper.learn import MapResult
from packetwalk.playbook.facts import participant_namespace
from packetwalk.walk.mapcapture import capture_live

FORMATS = ("yaml", "json", "table")


@dataclass
class Deps:
    """What the task talks to; tests replace fields."""

    stacks_dir: Path = REPO_ROOT / "stacks"
    cluster: ClusterFactory = kubectl_cluster
    console: Console = field(default_factory=lambda: Console(stderr=True))
    out: TextIO | None = None
    image: str = NETSHOOT_IMAGE
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


DEPS = Deps()


class RichCaptureProgress:
    """The capture's seconds as a bar on the console."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("capturing on {task.fields[nodes]} node(s)"),
            BarColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._bar: TaskID | None = None

    def begin(self, nodes: int, seconds: int) -> None:
        self._bar = self._progress.add_task("capture", total=seconds, nodes=nodes)
        self._progress.start()

    def advance(self) -> None:
        if self._bar is not None:
            self._progress.advance(self._bar)

    def end(self) -> None:
        self._progress.stop()


_DURATION = re.compile(r"^(\d+)(s|m|h)?$")


def parse_duration(text: str) -> int:
    """``60s``, ``2m``, ``1h`` or plain seconds."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise InputError(
            f"{text!r} is not a duration", location="--duration", choices=("30s", "2m", "1h")
        )
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]


def _only(result: MapResult, namespace: str) -> MapResult:
    """The clients in ``namespace`` only: their intents and their attempts (``ns/name (Kind)
    -> ...``); unattributed connections name no client namespace and stay."""
    if namespace:
        result.intents = [i for i in result.intents if i.namespace == namespace]
        result.attempted = [a for a in result.attempted if a.startswith(f"{namespace}/")]
    return result


def _scope(cfg: LabConfig, participant: int, namespace: str) -> str:
    """The namespace the learned intents are limited to ('': every namespace). A participant's
    (``--namespace`` defaults to it); a workshop stack needs ``--participant`` or
    ``--namespace``; a single lab maps every namespace unless told otherwise."""
    if participant or len(participants(cfg)) > 1:
        return participant_namespace(cfg, participant, namespace)
    return namespace


def render(result: MapResult, fmt: str, header: str) -> str:
    if fmt == "json":
        return render_json(result)
    if fmt == "table":
        return render_table(result)
    return render_yaml(result, header=header)


@task(
    help={
        "stack": "the lab stack (its kind context for a live capture; its app namespace for "
        "--diff objects without one)",
        "duration": "how long to capture on every node: 60s, 2m, 1h (default 60s)",
        "namespace": "only clients in this namespace (default: every namespace, or the "
        "participant's)",
        "from_": "map an existing capture folder (walk.yaml + inventory.yaml) instead of capturing",
        "out": "write the intents to this file (never overwritten without --force)",
        "force": "let --out overwrite an existing file",
        "format": "|".join(FORMATS),
        "diff": "a declared ClientIntents file to compare with (e.g. "
        "stacks/intents/voting-app.yaml)",
        "out_dir": "where live capture folders go (walks/<timestamp>-map/)",
        "context": CONTEXT_HELP,
        "keep": "keep the node debug pods for the next run",
        "participant": participant_help("only the clients in your namespace (vote-pNN)"),
    }
)
def map(
    c: Context,
    stack: str = DEFAULT_STACK,
    duration: str = "60s",
    namespace: str = "",
    from_: str = "",
    out: str = "",
    force: bool = False,
    format: str = "yaml",
    diff: str = "",
    out_dir: str = "walks",
    context: str = "",
    keep: bool = False,
    participant: int = 0,
) -> None:
    """Learn ClientIntents from real traffic (like Otterize's network-mapper)."""
    deps = DEPS
    try:
        if format not in FORMATS:
            raise InputError(f"unknown format {format!r}", location="--format", choices=FORMATS)
        seconds = parse_duration(duration)
        target = Path(out) if out else None
        if target is not None and target.exists() and not force:
            raise InputError(
                "already exists; add --force to overwrite it", source=out, location="--out"
            )
        cfg = load_stack_config(stack, deps.stacks_dir)
        namespace = _scope(cfg, participant, namespace)
        # objects without metadata.namespace are the app's, as when the lab applies them
        declared = (
            load_client_intents(Path(diff), default_namespace=namespace or cfg.app_namespace)
            if diff
            else None
        )
        if from_:
            folder = Path(from_)
        else:
            access = deps.cluster(cfg, participant_context(cfg, participant, context))
            folder = new_run_folder(Path(out_dir), label="map")
            deps.console.print(f"capturing on every node for {seconds}s into {folder}")
            created: list[tuple[str, str]] = []
            try:
                problems = capture_live(
                    access,
                    folder,
                    seconds,
                    image=deps.image,
                    created=created,
                    progress=RichCaptureProgress(deps.console),
                    clock=deps.clock,
                    sleep=deps.sleep,
                )
            finally:
                if not keep:
                    for pod_ns, pod in created:
                        access.kubectl(["delete", "pod", "-n", pod_ns, pod, "--wait=false"])
            for problem in problems:
                deps.console.print(f"[yellow]warning:[/] {problem}", highlight=False)
        data = load_map_folder(folder)
        result = _only(map_folder(data), namespace)
        text = render(result, format, header=f"learned by invoke map from {folder}")
        if declared is not None:
            learned = parse_client_intents(render_yaml(result), source="learned intents")
            wanted = [i for i in declared if not namespace or i.namespace == namespace]
            comparison = compare_intents(learned, wanted, data.objects)
    except PacketwalkError as err:
        raise Exit(str(err), code=1) from err
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        deps.console.print(f"wrote {len(result.intents)} ClientIntents to {target}")
    else:
        (deps.out or sys.stdout).write(text)
    deps.console.print(
        f"{result.connections} connection(s): {len(result.intents)} client workload(s), "
        f"{len(result.attempted)} attempted, {len(result.unattributed)} unattributed, "
        f"{sum(result.dropped.values())} dropped",
        highlight=False,
    )
    if declared is not None:
        (deps.out or sys.stdout).write(comparison.text())
