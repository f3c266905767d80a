"""The map's capture on every node at once (``invoke map``): debug pods, ``conntrack -L``
before and after, tcpdump limited to TCP SYNs and DNS answers, and an inventory of the cluster's
objects when it ends, written as a map folder (:mod:`packetwalk.mapper.folder`) that
:mod:`packetwalk.mapper` reads, live or later with ``--from``.

Everything goes through :class:`~packetwalk.kube.access.ClusterAccess`; the task draws the
progress (:class:`CaptureProgress`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import yaml

from packetwalk.errors import PacketwalkError
from packetwalk.kube.access import (
    BASE_ACCESS_ERRORS,
    DEBUG_CONTAINER,
    DEBUG_NAMESPACE,
    ClusterAccess,
    StreamHandle,
    access_errors,
    is_forbidden,
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
from packetwalk.mapper.folder import INVENTORY_FILE, MAP_FILE, conntrack_file

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


class CaptureProgress(Protocol):
    """Shows the capture's seconds passing (the task draws it with rich)."""

    def begin(self, nodes: int, seconds: int) -> None: ...

    def advance(self) -> None: ...

    def end(self) -> None: ...


class NoCaptureProgress:
    """:class:`CaptureProgress` that shows nothing."""

    def begin(self, nodes: int, seconds: int) -> None:
        del nodes, seconds

    def advance(self) -> None:
        pass

    def end(self) -> None:
        pass


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
    *,
    image: str,
    created: list[tuple[str, str]],
    progress: CaptureProgress | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Capture on every node at once into ``folder``; returns the problems. The debug pods this
    run creates are added to ``created`` as they are made, so the caller removes them even when
    the capture fails half-way."""
    problems: list[str] = []
    try:
        nodes = [_Node(n.name) for n in access.nodes()]
    except access_errors(access) as error:
        if not is_forbidden(error):
            raise
        raise PacketwalkError(
            f"invoke map watches every node (tcpdump and conntrack in a debug pod per node in"
            f" namespace {DEBUG_NAMESPACE}), which these credentials may not: {error}. Run it"
            f" with the cluster's admin credentials (the instructor's on a workshop), or map a"
            f" capture made before with --from FOLDER"
        ) from error
    if not nodes:
        raise PacketwalkError("the cluster lists no nodes")
    existing = {p.name for p in access.pods(DEBUG_NAMESPACE)}
    for node in nodes:
        node.pod = node_debug_pod_name(node.name)
        try:
            access.node_debug_pod(node.name, name=node.pod, image=image)
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
    started = clock()
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
    shown = progress or NoCaptureProgress()
    shown.begin(len(captures), seconds)
    try:
        for _ in range(seconds):
            sleep(1)
            shown.advance()
    finally:
        shown.end()
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
    ended = clock()
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
