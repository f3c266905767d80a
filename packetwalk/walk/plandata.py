"""A walk plan as commands a participant could type, and as plain data (JSON, plan.yaml)."""

from __future__ import annotations

import shlex
from typing import Any

from packetwalk.kube.access import EphemeralContainer
from packetwalk.kube.captures import debug_command, tool_container
from packetwalk.walk.plan import CapturePoint, WalkPlan


def capture_container(point: CapturePoint, image: str) -> EphemeralContainer:
    """The idle tool container a pod point captures from: root at container level, so tcpdump
    keeps NET_RAW even in a pod that runs as non-root (Traefik)."""
    return tool_container(point.container, image, point.target_container)


def equivalent_commands(plan: WalkPlan, image: str) -> list[tuple[str, str]]:
    """``(point, command)`` lines a participant could type to do the same by hand.

    The orchestrator goes through the API (and a debug pod per node) rather than these exact
    commands, but each one has the same effect, which is what a workshop wants to show: a pod
    point's ``kubectl debug`` line is derived from the container spec the API call sends, its
    root ``securityContext`` passed as ``--custom`` (kubectl 1.31 or later).
    """
    lines: list[tuple[str, str]] = []
    for point in plan.points:
        tcpdump = shlex.join(point.tcpdump_command())
        pcap = f"{point.name}.pcap"
        if point.kind == "pod":
            assert point.namespace and point.pod
            debug = debug_command(point.namespace, point.pod, capture_container(point, image))
            lines.append((point.name, shlex.join(debug)))
            lines.append(
                (
                    point.name,
                    f"kubectl exec -n {point.namespace} {point.pod} "
                    f"-c {point.container} -- {tcpdump} > {pcap}",
                )
            )
        elif point.kind == "node":
            lines.append(
                (
                    point.name,
                    f"kubectl debug node/{point.node} -q -i --image={image} "
                    f"--profile=netadmin -- {tcpdump} > {pcap}",
                )
            )
        else:
            lines.append((point.name, f"sudo {tcpdump} > {pcap}"))
    request = shlex.join(plan.request.command())
    if plan.request.origin == "pod":
        client = plan.point(plan.request.point or "client")
        request = (
            f"kubectl exec -n {client.namespace} {client.pod} -c {client.container} -- {request}"
        )
    lines.append(("request", request))
    return lines


def plan_as_dict(plan: WalkPlan, image: str) -> dict[str, Any]:
    """The plan as plain data (``--dry-run --format json`` and ``plan.yaml`` in the run folder)."""
    return {
        "to": plan.to,
        "from": plan.source,
        "via": plan.via,
        "cni": plan.cni,
        "kubeProxyMode": plan.kube_proxy_mode,
        "request": {
            "url": plan.request.url,
            "host": plan.request.host_header,
            "origin": plan.request.origin,
            "command": shlex.join(plan.request.command()),
        },
        "path": list(plan.path),
        "notes": list(plan.notes),
        "points": [
            {
                "name": p.name,
                "kind": p.kind,
                "role": p.role,
                "namespace": p.namespace,
                "pod": p.pod,
                "node": p.node,
                "address": p.address,
                "interface": p.interface,
                "filter": p.filter,
                "container": p.container if p.kind == "pod" else None,
                "why": list(p.why),
            }
            for p in plan.points
        ],
        "commands": [
            {"point": point, "command": command}
            for point, command in equivalent_commands(plan, image)
        ],
        "inventory": {k: dict(v) for k, v in plan.inventory.items()},
    }
