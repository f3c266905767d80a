"""What the walk planner knows about a cluster: a view of the cluster model.

Pure: :func:`facts_from_state` derives :class:`ClusterFacts` from a
:class:`~packetwalk.cluster.state.ClusterState` (a live cluster's or a snapshot's, read by the one
cluster reader), adding what only the walk reads: ingress routes (Ingress, Traefik
IngressRoute), MetalLB's L2 leaders and kube-proxy's mode. So the planner can be tested with
literal objects, and the orchestrator only has to say where the objects come from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from packetwalk.cluster.model import ContainerPort, NodeInfo, PodInfo, ServiceInfo
from packetwalk.cluster.state import ClusterState
from packetwalk.lab import cni as cni_profiles

TRAEFIK_LABEL = ("app.kubernetes.io/name", "traefik")
"""The label the Traefik chart puts on its pods (and that the lab's policies select)."""

TRAEFIK_NAMED_PORTS: Mapping[str, int] = {"web": 8000, "websecure": 8443, "traefik": 8080}
"""Container ports of the Traefik chart's entrypoints, for Services whose targetPort is a name."""

NATIVE_LB_ANNOTATION = "traefik.ingress.kubernetes.io/service.nativelb"

KUBE_PROXY_MODES = ("iptables", "nftables", "ipvs", "none")


@dataclass(frozen=True)
class Route:
    """One HTTP route of an ingress controller to a Service (Ingress rule or IngressRoute)."""

    service_namespace: str
    service_name: str
    service_port: int | str | None
    host: str | None
    path: str
    source: str
    """Where the route comes from, e.g. ``Ingress vote/vote``, for explanations."""
    native_lb: bool = False


@dataclass(frozen=True)
class ClusterFacts:
    """Everything the planner reads about the cluster (:func:`facts_from_state` derives it)."""

    pods: tuple[PodInfo, ...]
    nodes: tuple[NodeInfo, ...]
    services: tuple[ServiceInfo, ...]
    routes: tuple[Route, ...] = ()
    cni: str = "unknown"
    kube_proxy_mode: str = "iptables"
    platform: str = "kind"
    app_namespace: str = "vote"
    host_ip: str | None = None
    """The address the participant's machine uses towards the nodes (kind: the Docker bridge)."""
    l2_leaders: Mapping[str, str] = field(default_factory=dict)
    """``namespace/service`` -> node announcing its LoadBalancer IP (MetalLB ServiceL2Status)."""
    named_ports: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """``namespace/pod`` -> container port name -> number, to resolve named targetPorts."""


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def routes_from_ingresses(objects: Sequence[Mapping[str, object]]) -> list[Route]:
    """The ``networking.k8s.io/v1`` Ingress rules that Traefik serves (not the ``gce`` class)."""
    routes: list[Route] = []
    for obj in objects:
        metadata = _mapping(obj.get("metadata"))
        annotations = _str_map(metadata.get("annotations"))
        if annotations.get("kubernetes.io/ingress.class", "traefik") not in ("traefik", ""):
            continue
        namespace = str(metadata.get("namespace", "default"))
        source = f"Ingress {namespace}/{metadata.get('name', '')}"
        for raw_rule in _list(_mapping(obj.get("spec")).get("rules")):
            rule = _mapping(raw_rule)
            host = rule.get("host")
            for raw_path in _list(_mapping(rule.get("http")).get("paths")):
                path = _mapping(raw_path)
                backend = _mapping(_mapping(path.get("backend")).get("service"))
                if not backend.get("name"):
                    continue
                port = _mapping(backend.get("port"))
                port_ref = port.get("number", port.get("name"))
                routes.append(
                    Route(
                        service_namespace=namespace,
                        service_name=str(backend["name"]),
                        service_port=port_ref
                        if isinstance(port_ref, int)
                        else (str(port_ref) if port_ref else None),
                        host=str(host) if host else None,
                        path=str(path.get("path", "/")),
                        source=source,
                    )
                )
    return routes


_HOST_RE = re.compile(r"Host\(\s*`([^`]+)`")
_PREFIX_RE = re.compile(r"(?:PathPrefix|Path)\(\s*`([^`]+)`")


def routes_from_ingressroutes(objects: Sequence[Mapping[str, object]]) -> list[Route]:
    """Traefik ``IngressRoute`` routes (``traefik.io/v1alpha1``) to Kubernetes Services."""
    routes: list[Route] = []
    for obj in objects:
        metadata = _mapping(obj.get("metadata"))
        namespace = str(metadata.get("namespace", "default"))
        source = f"IngressRoute {namespace}/{metadata.get('name', '')}"
        for raw_route in _list(_mapping(obj.get("spec")).get("routes")):
            route = _mapping(raw_route)
            match = str(route.get("match", ""))
            host = _HOST_RE.search(match)
            prefix = _PREFIX_RE.search(match)
            for raw_service in _list(route.get("services")):
                service = _mapping(raw_service)
                if str(service.get("kind", "Service")) != "Service" or not service.get("name"):
                    continue
                port = service.get("port")
                routes.append(
                    Route(
                        service_namespace=str(service.get("namespace", namespace)),
                        service_name=str(service["name"]),
                        service_port=port
                        if isinstance(port, int)
                        else (str(port) if port else None),
                        host=host.group(1) if host else None,
                        path=prefix.group(1) if prefix else "/",
                        source=source,
                        native_lb=bool(service.get("nativeLB", False)),
                    )
                )
    return routes


def l2_leaders_from_objects(objects: Sequence[Mapping[str, object]]) -> dict[str, str]:
    """MetalLB ``ServiceL2Status`` objects as ``namespace/service`` -> announcing node."""
    leaders: dict[str, str] = {}
    for obj in objects:
        status = _mapping(obj.get("status"))
        labels = _str_map(_mapping(obj.get("metadata")).get("labels"))
        name = status.get("serviceName") or labels.get("metallb.io/service-name")
        namespace = status.get("serviceNamespace") or labels.get("metallb.io/service-namespace")
        node = status.get("node") or labels.get("metallb.io/node")
        if name and namespace and node:
            leaders[f"{namespace}/{name}"] = str(node)
    return leaders


def named_ports(ports: Mapping[str, tuple[ContainerPort, ...]]) -> dict[str, dict[str, int]]:
    """``namespace/pod`` -> container port name -> number, for pods with named ports."""
    result: dict[str, dict[str, int]] = {}
    for pod, entries in ports.items():
        named = {port.name: port.port for port in entries if port.name}
        if named:
            result[pod] = named
    return result


def detect_cni(pods: Sequence[PodInfo]) -> str:
    """The CNI whose node agent runs in the cluster (:data:`packetwalk.lab.cni.PROFILES`), by the
    names the stack config uses; ``unknown`` if no agent is recognised."""
    return cni_profiles.detect_cni(pod.name for pod in pods) or "unknown"


def detect_kube_proxy_mode(
    pods: Sequence[PodInfo], configmaps: Sequence[Mapping[str, object]]
) -> str:
    """kube-proxy's mode from its ConfigMap, or ``none`` when no kube-proxy pod runs.

    An empty ``mode`` means the default, iptables.
    """
    if not any(
        pod.namespace == "kube-system"
        and (pod.labels.get("k8s-app") == "kube-proxy" or pod.name.startswith("kube-proxy-"))
        for pod in pods
    ):
        return "none"
    for obj in configmaps:
        metadata = _mapping(obj.get("metadata"))
        if metadata.get("name") != "kube-proxy":
            continue
        for text in _str_map(obj.get("data")).values():
            match = re.search(r"^mode:\s*\"?([a-z]*)\"?\s*$", text, re.MULTILINE)
            if match:
                return match.group(1) or "iptables"
    return "iptables"


def facts_from_state(
    state: ClusterState,
    *,
    app_namespace: str = "vote",
    platform: str = "kind",
    cni: str | None = None,
    kube_proxy_mode: str | None = None,
    host_ip: str | None = None,
) -> ClusterFacts:
    """The planner's facts of a cluster; ``cni``/``kube_proxy_mode`` None means detect them."""
    pods = state.pods
    if kube_proxy_mode is None:
        kube_proxy_mode = detect_kube_proxy_mode(
            pods, state.optional_objects("configmaps", "kube-system")
        )
    return ClusterFacts(
        pods=pods,
        nodes=state.nodes,
        services=state.services,
        routes=(
            *routes_from_ingresses(state.optional_objects("ingresses")),
            *routes_from_ingressroutes(state.optional_objects("ingressroutes.traefik.io")),
        ),
        cni=cni or detect_cni(pods),
        kube_proxy_mode=kube_proxy_mode,
        platform=platform,
        app_namespace=app_namespace,
        host_ip=host_ip,
        l2_leaders=l2_leaders_from_objects(state.optional_objects("servicel2statuses.metallb.io")),
        named_ports=named_ports(state.container_ports),
    )
