"""Finding what a walk request names in the cluster facts; unknown names list the valid ones."""

from __future__ import annotations

from packetwalk.cluster.model import NodeInfo, PodInfo, ServiceInfo, ServicePort
from packetwalk.errors import InputError
from packetwalk.walk.facts import TRAEFIK_LABEL, TRAEFIK_NAMED_PORTS, ClusterFacts, Route

VIAS = ("ingress", "nodeport", "loadbalancer", "clusterip")
USER = "user"
INGRESS_READY = ("ingress-ready", "true")
MAX_REPLICA_POINTS = 4
"""Capture at most this many replicas of one workload: which replica serves is decided per
connection (kube-proxy's random pick, Traefik's round robin), so each one is a candidate."""


def find_service(facts: ClusterFacts, name: str) -> ServiceInfo:
    """``name`` or ``namespace/name``; a bare name prefers the app namespace."""
    if "/" in name:
        matches = [s for s in facts.services if s.key == name]
    else:
        matches = [
            s for s in facts.services if s.name == name and s.namespace == facts.app_namespace
        ]
        if not matches:
            matches = [s for s in facts.services if s.name == name]
    if len(matches) == 1:
        return matches[0]
    choices = sorted(
        s.name if s.namespace == facts.app_namespace else s.key for s in facts.services
    )
    if matches:
        raise InputError(
            f"Service {name!r} exists in several namespaces; name one",
            location="--to",
            choices=sorted(s.key for s in matches),
        )
    raise InputError(f"no Service named {name!r}", location="--to", choices=choices)


def find_pod(facts: ClusterFacts, name: str) -> PodInfo:
    """A pod by ``name``, ``namespace/name``, or an ``app`` label in the app namespace."""
    candidates = [p for p in facts.pods if not p.host_network]
    if "/" in name:
        matches = [p for p in candidates if f"{p.namespace}/{p.name}" == name]
    else:
        matches = [p for p in candidates if p.name == name]
        if not matches:
            matches = [
                p
                for p in candidates
                if p.namespace == facts.app_namespace
                and p.labels.get("app") == name
                and p.phase == "Running"
            ]
            matches = matches[:1]
    if len(matches) == 1:
        return matches[0]
    app_pods = sorted(p.name for p in candidates if p.namespace == facts.app_namespace)
    apps = sorted(
        {
            p.labels["app"]
            for p in candidates
            if p.namespace == facts.app_namespace and "app" in p.labels
        }
    )
    if matches:
        raise InputError(
            f"pod name {name!r} is ambiguous",
            location="--from",
            choices=sorted(f"{p.namespace}/{p.name}" for p in matches),
        )
    raise InputError(f"no pod {name!r}", location="--from", choices=[USER, *apps, *app_pods])


def node_named(facts: ClusterFacts, name: str | None) -> NodeInfo | None:
    return next((n for n in facts.nodes if n.name == name), None)


def service_port(service: ServiceInfo, wanted: int | str | None = None) -> ServicePort:
    tcp = [p for p in service.ports if p.protocol.upper() == "TCP"]
    for port in tcp:
        if wanted is not None and wanted in (port.port, port.name):
            return port
    if wanted is None and tcp:
        web = [p for p in tcp if p.name == "web" or p.port == 80]
        return (web or tcp)[0]
    raise InputError(
        f"Service {service.key} has no TCP port {wanted if wanted is not None else ''}".rstrip(),
        location="--to",
        choices=[str(p.port) for p in tcp],
    )


def target_port(facts: ClusterFacts, pod: PodInfo, port: ServicePort, traefik: bool) -> int:
    if isinstance(port.target_port, int):
        return port.target_port
    named = facts.named_ports.get(f"{pod.namespace}/{pod.name}", {})
    if port.target_port in named:
        return named[port.target_port]
    if traefik and port.target_port in TRAEFIK_NAMED_PORTS:
        return TRAEFIK_NAMED_PORTS[port.target_port]
    raise InputError(
        f"cannot resolve named targetPort {port.target_port!r} on pod {pod.namespace}/{pod.name}",
        location="--to",
        choices=sorted(named),
    )


def endpoint_pods(facts: ClusterFacts, service: ServiceInfo) -> list[PodInfo]:
    if not service.selector:
        raise InputError(
            f"Service {service.key} has no selector, so no pods to walk to", location="--to"
        )
    selected = [p for p in facts.pods if service.selects(p)]
    ready = [p for p in selected if p.ip and p.phase == "Running"]
    if not ready:
        states = ", ".join(f"{p.name} ({p.phase}, ip {p.ip or 'none'})" for p in selected)
        raise InputError(
            f"Service {service.key} has no running pod with an IP"
            + (f": {states}" if states else " (its selector matches no pod)"),
            location="--to",
        )
    return ready[:MAX_REPLICA_POINTS]


def traefik_front(facts: ClusterFacts) -> tuple[list[PodInfo], ServiceInfo]:
    key, value = TRAEFIK_LABEL
    pods = [p for p in facts.pods if p.labels.get(key) == value and p.ip and p.phase == "Running"]
    if not pods:
        raise InputError(
            f"no running Traefik pod (label {key}={value}) in the cluster, so no ingress path",
            location="--via",
            choices=[v for v in VIAS if v != "ingress"],
        )
    services = [s for s in facts.services if any(s.selects(p) for p in pods)]
    if not services:
        raise InputError(
            "no Service selects the Traefik pods",
            location="--via",
            choices=[v for v in VIAS if v != "ingress"],
        )
    services.sort(key=lambda s: (s.type != "LoadBalancer", s.type != "NodePort"))
    return pods[:MAX_REPLICA_POINTS], services[0]


def route_to(facts: ClusterFacts, service: ServiceInfo) -> Route:
    for route in facts.routes:
        if (route.service_namespace, route.service_name) == (service.namespace, service.name):
            return route
    routed = sorted({r.service_name for r in facts.routes})
    raise InputError(
        f"no Ingress or IngressRoute routes to Service {service.key}",
        location="--to",
        choices=routed,
    )


def pick_entry_node(
    facts: ClusterFacts, wanted: str | None, avoid: set[str], *, ingress: bool = False
) -> NodeInfo:
    usable = [n for n in facts.nodes if n.internal_ip]
    if wanted is not None:
        node = node_named(facts, wanted)
        if node is None or not node.internal_ip:
            raise InputError(
                f"no node {wanted!r} with an InternalIP",
                location="--entry-node",
                choices=[n.name for n in usable],
            )
        return node
    if not usable:
        raise InputError("no node has an InternalIP", location="--via")
    if ingress:
        # kind publishes Traefik's NodePort on the host from the node labelled ingress-ready.
        ready = [n for n in usable if n.labels.get(INGRESS_READY[0]) == INGRESS_READY[1]]
        if ready:
            return ready[0]
    # A node without the backend shows the interesting part: DNAT, masquerade and a forward.
    others = [n for n in usable if n.name not in avoid]
    workers = [n for n in others if "control-plane" not in n.name]
    return (workers or others or usable)[0]
