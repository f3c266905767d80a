"""The cluster at capture time, as the mapper needs it: which pod had an IP (since when, under
which root owner), which Service has a ClusterIP:port, which addresses are nodes.

Read from plain API objects (``kubectl get -o yaml`` items: Pods, ReplicaSets, Jobs, the
workloads, Services, EndpointSlices, Nodes) with the cluster reader
(:mod:`packetwalk.cluster`); only what it does not read is read here: owner references walked to
the root (ReplicaSet -> Deployment, Job -> CronJob, through the ReplicaSet and Job objects in
the snapshot; a ReplicaSet that is not there is named from the pod's ``pod-template-hash``
label, as its Deployment controller names it) and ``metadata.creationTimestamp``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from packetwalk.cluster.fields import mapping
from packetwalk.cluster.model import ContainerPort, NodeInfo, Origin, ServiceInfo, ServicePort
from packetwalk.cluster.pods import FINISHED_PHASES, read_pod_info, read_pod_ports
from packetwalk.cluster.services import read_node, read_service

TEMPLATE_HASH_LABEL = "pod-template-hash"
KUBE_DNS_LABEL = ("k8s-app", "kube-dns")


@dataclass(frozen=True)
class MapPod:
    namespace: str
    name: str
    ip: str
    node: str | None
    labels: Mapping[str, str]
    owner_kind: str
    owner_name: str
    created: float | None
    host_network: bool
    ports: tuple[ContainerPort, ...]

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def _time(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _controller(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    for ref in meta.get("ownerReferences") or []:
        ref = mapping(ref)
        if ref.get("controller") and isinstance(ref.get("name"), str):
            return str(ref.get("kind") or ""), str(ref["name"])
    return None


class MapInventory:
    """Pods by IP, Services by ClusterIP:port, node addresses; built by :meth:`from_objects`."""

    def __init__(
        self,
        pods: Iterable[MapPod],
        services: Iterable[ServiceInfo],
        nodes: Iterable[NodeInfo],
        objects: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        self.pods = list(pods)
        self.services = list(services)
        self.nodes = list(nodes)
        self.objects = [dict(o) for o in objects]
        self.by_ip: dict[str, list[MapPod]] = {}
        for pod in self.pods:
            self.by_ip.setdefault(pod.ip, []).append(pod)
        self.service_ports: dict[tuple[str, int, str], tuple[ServiceInfo, ServicePort]] = {}
        for svc in self.services:
            for ip in svc.cluster_ips:
                for port in svc.ports:
                    self.service_ports[(ip, port.port, port.protocol)] = (svc, port)
        self.node_ips = {n.internal_ip: n for n in self.nodes if n.internal_ip}

    @classmethod
    def from_objects(
        cls, objects: Iterable[Mapping[str, Any]], *, source: str = "inventory"
    ) -> MapInventory:
        origin = Origin(source)
        items = [o for o in _flatten(objects)]
        controllers: dict[tuple[str, str, str], tuple[str, str] | None] = {}
        for obj in items:
            kind = obj.get("kind")
            if kind in ("ReplicaSet", "Job"):
                meta = mapping(obj.get("metadata"))
                key = (str(kind), str(meta.get("namespace") or "default"), str(meta.get("name")))
                controllers[key] = _controller(meta)
        pods: list[MapPod] = []
        services: list[ServiceInfo] = []
        nodes: list[NodeInfo] = []
        for obj in items:
            kind = obj.get("kind")
            if kind == "Pod":
                pod = _pod(obj, origin, controllers)
                if pod is not None:
                    pods.append(pod)
            elif kind == "Service":
                services.append(read_service(obj, origin))
            elif kind == "Node":
                nodes.append(read_node(obj, origin))
        return cls(pods, services, nodes, items)

    # -- lookups -----------------------------------------------------------------------------

    def pods_at(self, ip: str) -> list[MapPod]:
        return self.by_ip.get(ip, [])

    def service_at(
        self, ip: str, port: int, protocol: str
    ) -> tuple[ServiceInfo, ServicePort] | None:
        return self.service_ports.get((ip, port, protocol))

    def is_node(self, ip: str) -> bool:
        return ip in self.node_ips

    def is_kube_dns(self, svc: ServiceInfo) -> bool:
        key, value = KUBE_DNS_LABEL
        return svc.namespace == "kube-system" and (
            svc.name == "kube-dns" or svc.selector.get(key) == value
        )

    def is_kube_dns_pod(self, pod: MapPod) -> bool:
        key, value = KUBE_DNS_LABEL
        return pod.labels.get(key) == value

    def target_port(self, svc: ServiceInfo, port: ServicePort, pod: MapPod | None) -> int | None:
        """The pod port a Service port sends to: a number, or a named port resolved on ``pod``
        (or on any pod the Service selects)."""
        if isinstance(port.target_port, int):
            return port.target_port
        candidates = [pod] if pod is not None else self.backends(svc)
        for each in candidates:
            for cport in each.ports:
                if cport.name == port.target_port and cport.protocol == port.protocol:
                    return cport.port
        return None

    def backends(self, svc: ServiceInfo) -> list[MapPod]:
        return [p for p in self.pods if svc.selects_labels(p.namespace, p.labels)]


def _flatten(objects: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    for obj in objects:
        if obj.get("kind") == "List" or (
            isinstance(obj.get("items"), list) and str(obj.get("kind", "")).endswith("List")
        ):
            for item in obj.get("items") or []:
                if isinstance(item, Mapping):
                    yield item
        else:
            yield obj


def _pod(
    obj: Mapping[str, Any],
    origin: Origin,
    controllers: Mapping[tuple[str, str, str], tuple[str, str] | None],
) -> MapPod | None:
    info = read_pod_info(obj, origin)
    if info.ip is None or info.phase in FINISHED_PHASES:
        return None
    _, _, ports = read_pod_ports(obj, origin)
    meta = mapping(obj.get("metadata"))
    kind, name = _root_owner(meta, info.namespace, info.name, info.labels, controllers)
    try:
        ip = str(ipaddress.ip_address(info.ip))
    except ValueError:
        return None
    return MapPod(
        namespace=info.namespace,
        name=info.name,
        ip=ip,
        node=info.node,
        labels=info.labels,
        owner_kind=kind,
        owner_name=name,
        created=_time(meta.get("creationTimestamp")),
        host_network=info.host_network,
        ports=ports,
    )


def _root_owner(
    meta: Mapping[str, Any],
    namespace: str,
    pod: str,
    labels: Mapping[str, str],
    controllers: Mapping[tuple[str, str, str], tuple[str, str] | None],
) -> tuple[str, str]:
    owner = _controller(meta)
    if owner is None or owner[0] == "Node":  # a bare or a static (mirror) pod stands alone
        return "Pod", pod
    kind, name = owner
    for _ in range(4):  # ReplicaSet -> Deployment, Job -> CronJob (and no deeper)
        key = (kind, namespace, name)
        if key in controllers:
            parent = controllers[key]
            if parent is None:
                return kind, name
            kind, name = parent
            continue
        template_hash = labels.get(TEMPLATE_HASH_LABEL)
        if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
            return "Deployment", name[: -len(template_hash) - 1]
        return kind, name
    return kind, name


def workload_objects(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The objects intents name workloads from: every object but the Pods, ReplicaSets and Jobs
    a controller owns (their root owner stands for them, as in the lab's own manifests)."""
    return [
        o
        for o in _flatten(objects)
        if o.get("kind") not in ("Pod", "ReplicaSet", "Job")
        or _controller(mapping(o.get("metadata"))) is None
    ]
