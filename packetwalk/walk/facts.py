"""What the walk planner knows about a cluster, read from plain API objects.

Pure: everything here turns dicts (``kubectl get -o json`` items) and :class:`PodInfo` /
:class:`NodeInfo` records into small frozen values, so the planner can be tested with literal
objects and the orchestrator only has to fetch them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from packetwalk import cni as cni_profiles
from packetwalk.kube.access import NodeInfo, PodInfo

TRAEFIK_LABEL = ("app.kubernetes.io/name", "traefik")
"""The label the Traefik chart puts on its pods (and that the lab's policies select)."""

TRAEFIK_NAMED_PORTS: Mapping[str, int] = {"web": 8000, "websecure": 8443, "traefik": 8080}
"""Container ports of the Traefik chart's entrypoints, for Services whose targetPort is a name."""

NATIVE_LB_ANNOTATION = "traefik.ingress.kubernetes.io/service.nativelb"

KUBE_PROXY_MODES = ("iptables", "nftables", "ipvs", "none")


@dataclass(frozen=True)
class ServicePort:
    port: int
    target_port: int | str
    protocol: str = "TCP"
    name: str = ""
    node_port: int | None = None


@dataclass(frozen=True)
class ServiceInfo:
    namespace: str
    name: str
    type: str = "ClusterIP"
    cluster_ip: str | None = None
    ports: tuple[ServicePort, ...] = ()
    lb_ips: tuple[str, ...] = ()
    selector: Mapping[str, str] = field(default_factory=dict)
    external_traffic_policy: str = "Cluster"
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def selects(self, pod: PodInfo) -> bool:
        return (
            bool(self.selector)
            and pod.namespace == self.namespace
            and all(pod.labels.get(k) == v for k, v in self.selector.items())
        )


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
    """Everything the planner reads about the cluster; the orchestrator fills it from the API."""

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


def service_from_object(obj: Mapping[str, object]) -> ServiceInfo:
    """A Service API object as :class:`ServiceInfo` (missing fields take their API defaults)."""
    metadata = _mapping(obj.get("metadata"))
    spec = _mapping(obj.get("spec"))
    status = _mapping(obj.get("status"))
    ports = []
    for raw in _list(spec.get("ports")):
        port = _mapping(raw)
        number = int(str(port.get("port", 0)))
        target = port.get("targetPort", number)
        target_port: int | str = target if isinstance(target, int) else str(target)
        if isinstance(target_port, str) and target_port.isdigit():
            target_port = int(target_port)
        node_port = port.get("nodePort")
        ports.append(
            ServicePort(
                port=number,
                target_port=target_port,
                protocol=str(port.get("protocol", "TCP")),
                name=str(port.get("name", "")),
                node_port=int(str(node_port)) if node_port else None,
            )
        )
    lb_ips = tuple(
        str(_mapping(entry).get("ip"))
        for entry in _list(_mapping(status.get("loadBalancer")).get("ingress"))
        if _mapping(entry).get("ip")
    )
    cluster_ip = spec.get("clusterIP")
    return ServiceInfo(
        namespace=str(metadata.get("namespace", "default")),
        name=str(metadata.get("name", "")),
        type=str(spec.get("type", "ClusterIP")),
        cluster_ip=str(cluster_ip) if cluster_ip and cluster_ip != "None" else None,
        ports=tuple(ports),
        lb_ips=lb_ips,
        selector=_str_map(spec.get("selector")),
        external_traffic_policy=str(spec.get("externalTrafficPolicy", "Cluster")),
        annotations=_str_map(metadata.get("annotations")),
    )


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
                        service_port=port_ref if isinstance(port_ref, int) else (
                            str(port_ref) if port_ref else None
                        ),
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
                        service_port=port if isinstance(port, int) else (
                            str(port) if port else None
                        ),
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


def named_ports_from_pods(objects: Sequence[Mapping[str, object]]) -> dict[str, dict[str, int]]:
    """Pod objects as ``namespace/pod`` -> container port name -> number."""
    result: dict[str, dict[str, int]] = {}
    for obj in objects:
        metadata = _mapping(obj.get("metadata"))
        ports: dict[str, int] = {}
        for raw_container in _list(_mapping(obj.get("spec")).get("containers")):
            for raw_port in _list(_mapping(raw_container).get("ports")):
                port = _mapping(raw_port)
                if port.get("name") and port.get("containerPort"):
                    ports[str(port["name"])] = int(str(port["containerPort"]))
        if ports:
            result[f"{metadata.get('namespace', 'default')}/{metadata.get('name', '')}"] = ports
    return result


def detect_cni(pods: Sequence[PodInfo]) -> str:
    """The CNI whose node agent runs in the cluster (:data:`packetwalk.cni.PROFILES`), by the
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
