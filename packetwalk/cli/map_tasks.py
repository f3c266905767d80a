"""``invoke map``: learn ClientIntents from real traffic, as Otterize's network-mapper does.

Live (default): on every node at once, a node debug pod (``kube/captures``: the walk's
``pw-node-<node>``, created once and reused) runs ``conntrack -L``, then tcpdump on ``any``
limited to TCP SYNs and DNS answers for ``--duration``, then ``conntrack -L`` again; the
cluster's objects are listed when the capture ends (the inventory). Everything lands in a map
folder (``walks/<timestamp>-map/``, :mod:`packetwalk.mapper.folder`), which ``--from`` reads
again without a cluster. The mapping itself is :mod:`packetwalk.mapper`; this task parses
options, drives the captures through :class:`~packetwalk.kube.access.ClusterAccess`, prints.
Progress goes to stderr, results to stdout or ``--out``.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

import yaml
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from packetwalk.cli.clusters import ClusterFactory, kubectl_cluster
from packetwalk.errors import InputError, PacketwalkError
from packetwalk.host.runfolders import new_run_folder
from packetwalk.intents import load_client_intents, parse_client_intents
from packetwalk.kube.access import (
    BASE_ACCESS_ERRORS,
    DEBUG_CONTAINER,
    DEBUG_NAMESPACE,
    ClusterAccess,
    StreamHandle,
)
from packetwalk.kube.captures import (
    CONNTRACK_COMMAND,
    IP_LINK_COMMAND,
    MAP_CAPTURE_FILTER,
    links_file_name,
    node_debug_pod_name,
    stop_command,
    stoppable_command,
    tcpdump_command,
)
from packetwalk.lab.config import DEFAULT_STACK, REPO_ROOT, load_stack_config
from packetwalk.lab.versions import NETSHOOT_IMAGE
from packetwalk.mapper import compare_intents, render_json, render_table, render_yaml
from packetwalk.mapper.folder import (
    INVENTORY_FILE,
    MAP_FILE,
    conntrack_file,
    load_map_folder,
    map_folder,
)
from packetwalk.mapper.learn import MapResult

FORMATS = ("yaml", "json", "table")
INVENTORY_RESOURCES = {
    "namespaces": "Namespace",
    "nodes": "Node",
    "pods": "Pod",
    "replicasets": "ReplicaSet",
    "deployments": "Deployment",
    "statefulsets": "StatefulSet",
    "daemonsets": "DaemonSet",
    "jobs": "Job",
    "cronjobs": "CronJob",
    "services": "Service",
    "endpointslices": "EndpointSlice",
}
"""What the inventory lists (``kubectl get <resource> -A``), with the kind of its items."""


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

_DURATION = re.compile(r"^(\d+)(s|m|h)?$")


def parse_duration(text: str) -> int:
    """``60s``, ``2m``, ``1h`` or plain seconds."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise InputError(
            f"{text!r} is not a duration", location="--duration", choices=("30s", "2m", "1h")
        )
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]


@dataclass
class _Node:
    name: str
    pod: str = ""
    created: bool = False
    handle: StreamHandle | None = None
    sink: BinaryIO | None = None
    error: str = ""


def capture_live(
    access: ClusterAccess,
    folder: Path,
    seconds: int,
    deps: Deps,
    created: list[tuple[str, str]],
) -> list[str]:
    """Capture on every node at once into ``folder``; returns the problems. The debug pods this
    run creates are added to ``created`` as they are made, so the caller removes them even when
    the capture fails half-way."""
    problems: list[str] = []
    nodes = [_Node(n.name) for n in access.nodes()]
    if not nodes:
        raise PacketwalkError("the cluster lists no nodes")
    existing = {p.name for p in access.pods(DEBUG_NAMESPACE)}
    for node in nodes:
        node.pod = node_debug_pod_name(node.name)
        try:
            access.node_debug_pod(node.name, name=node.pod, image=deps.image)
        except BASE_ACCESS_ERRORS as err:
            node.error = f"{node.name}: no debug pod: {err}"
            problems.append(node.error)
            continue
        node.created = node.pod not in existing
        if node.created:
            created.append((DEBUG_NAMESPACE, node.pod))
        links = access.exec(
            DEBUG_NAMESPACE, node.pod, IP_LINK_COMMAND, container=DEBUG_CONTAINER, timeout=30
        )
        if links.ok:
            (folder / links_file_name(node.name)).write_text(links.stdout)
    started = deps.clock()
    captures = []
    for node in nodes:
        if node.error:
            continue
        _conntrack(access, folder, node, "before", problems)
        sink = (folder / f"{node.name}.pcap").open("wb")
        command = stoppable_command(f"map-{node.name}", tcpdump_command("any", MAP_CAPTURE_FILTER))
        node.handle = access.stream(
            DEBUG_NAMESPACE, node.pod, command, sink, container=DEBUG_CONTAINER
        )
        node.sink = sink
        entry: dict[str, object] = {"file": f"{node.name}.pcap", "point": node.name}
        entry["kind"] = "node"
        if (folder / links_file_name(node.name)).is_file():
            entry["interfaces"] = links_file_name(node.name)
        captures.append(entry)
    if not captures:
        raise PacketwalkError("no node could capture: " + "; ".join(problems))
    with Progress(
        TextColumn("capturing on {task.fields[nodes]} node(s)"),
        BarColumn(),
        TimeRemainingColumn(),
        console=deps.console,
        transient=True,
    ) as progress:
        bar = progress.add_task("capture", total=seconds, nodes=len(captures))
        for _ in range(seconds):
            deps.sleep(1)
            progress.advance(bar)
    for node in nodes:
        if node.handle is None:
            continue
        access.exec(
            DEBUG_NAMESPACE,
            node.pod,
            stop_command(f"map-{node.name}"),
            container=DEBUG_CONTAINER,
            timeout=15,
        )
        node.handle.stop(timeout=5)
        if node.sink is not None:
            node.sink.close()
        _conntrack(access, folder, node, "after", problems)
    ended = deps.clock()
    objects = []
    for resource, kind in INVENTORY_RESOURCES.items():
        try:
            items = access.get_objects(resource)
        except (PacketwalkError, LookupError) as err:
            problems.append(f"inventory: cannot list {resource}: {err}")
            continue
        objects += [{"kind": kind, **item} for item in items]
    (folder / INVENTORY_FILE).write_text(yaml.safe_dump_all(objects, sort_keys=False))
    (folder / MAP_FILE).write_text(yaml.safe_dump({"started": started, "ended": ended}))
    (folder / "walk.yaml").write_text(yaml.safe_dump({"captures": captures}, sort_keys=False))
    return problems


def _conntrack(
    access: ClusterAccess, folder: Path, node: _Node, when: str, problems: list[str]
) -> None:
    result = access.exec(
        DEBUG_NAMESPACE, node.pod, CONNTRACK_COMMAND, container=DEBUG_CONTAINER, timeout=60
    )
    if result.ok:
        (folder / conntrack_file(node.name, when)).write_text(result.stdout)
    else:
        problems.append(
            f"{node.name}: conntrack -L ({when}) failed: "
            f"{result.stderr.strip() or result.exit_code}"
        )


def _only(result: MapResult, namespace: str) -> MapResult:
    if namespace:
        result.intents = [i for i in result.intents if i.namespace == namespace]
    return result


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
        "namespace": "only clients in this namespace",
        "from_": "map an existing capture folder (walk.yaml + inventory.yaml) instead of capturing",
        "out": "write the intents to this file (never overwritten without --force)",
        "force": "let --out overwrite an existing file",
        "format": "|".join(FORMATS),
        "diff": "a declared ClientIntents file to compare with (e.g. "
        "stacks/intents/voting-app.yaml)",
        "out_dir": "where live capture folders go (walks/<timestamp>-map/)",
        "context": "kubeconfig context (default: the kind cluster's)",
        "keep": "keep the node debug pods for the next run",
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
        # objects without metadata.namespace are the app's, as when the lab applies them
        declared = (
            load_client_intents(Path(diff), default_namespace=namespace or cfg.app_namespace)
            if diff
            else None
        )
        if from_:
            folder = Path(from_)
        else:
            access = deps.cluster(cfg, context or None)
            folder = new_run_folder(Path(out_dir), label="map")
            deps.console.print(f"capturing on every node for {seconds}s into {folder}")
            created: list[tuple[str, str]] = []
            try:
                problems = capture_live(access, folder, seconds, deps, created)
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
