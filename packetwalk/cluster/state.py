"""One cluster, read once: from a live cluster or from a snapshot of its objects.

:class:`ClusterState` is the read model the walk's facts and the lab's facts are derived from. Its
source is anything that lists objects the way
:class:`~packetwalk.kube.access.ClusterAccess` does (:class:`ObjectSource`): a live cluster, or a
:class:`Snapshot` of plain objects (``kubectl get -o yaml`` output). Pods and nodes come typed
from the source (a live cluster's adapter reads them; a snapshot reads them with
:func:`~packetwalk.cluster.pods.read_pod_info`); every other kind is listed as objects and read
here with the one reader. Each part is read on first use, so a caller pays only for what it
reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any, Protocol

from packetwalk.cluster.model import ContainerPort, NodeInfo, Origin, PodInfo, ServiceInfo
from packetwalk.cluster.pods import read_pod_info, read_pod_ports
from packetwalk.cluster.services import read_node, read_service
from packetwalk.errors import PacketwalkError

RESOURCE_KINDS: Mapping[str, str] = {
    "pods": "Pod",
    "nodes": "Node",
    "services": "Service",
    "endpointslices": "EndpointSlice",
    "endpoints": "Endpoints",
    "configmaps": "ConfigMap",
    "ingresses": "Ingress",
    "ingressroutes.traefik.io": "IngressRoute",
    "servicel2statuses.metallb.io": "ServiceL2Status",
}
"""The resource names (``kubectl get <resource>``) a snapshot answers, with their kinds."""


LIVE = Origin("cluster")
"""The origin reading errors name for a live cluster's objects."""


class ObjectSource(Protocol):
    """What a cluster's facts are read from: :class:`~packetwalk.kube.access.ClusterAccess`
    is one, :class:`Snapshot` another."""

    def pods(self, namespace: str | None = None) -> list[PodInfo]: ...

    def nodes(self) -> list[NodeInfo]: ...

    def get_objects(
        self, resource: str, *, namespace: str | None = None
    ) -> list[dict[str, object]]:
        """The objects of one resource type; raises (a PacketwalkError or LookupError) when the
        resource does not exist there."""
        ...


def _namespace(obj: Mapping[str, Any]) -> object:
    meta = obj.get("metadata")
    return meta.get("namespace") if isinstance(meta, Mapping) else None


class Snapshot:
    """Plain API objects (a saved dump) as an :class:`ObjectSource`."""

    def __init__(self, objects: Iterable[Mapping[str, Any]], *, source: str = "snapshot") -> None:
        self.origin = Origin(source)
        self.by_kind: dict[str, list[dict[str, object]]] = {}
        for obj in objects:
            self.by_kind.setdefault(str(obj.get("kind", "")), []).append(dict(obj))

    def pods(self, namespace: str | None = None) -> list[PodInfo]:
        return [
            read_pod_info(obj, self.origin)
            for obj in self.by_kind.get("Pod", [])
            if namespace is None or _namespace(obj) == namespace
        ]

    def nodes(self) -> list[NodeInfo]:
        return [read_node(obj, self.origin) for obj in self.by_kind.get("Node", [])]

    def get_objects(
        self, resource: str, *, namespace: str | None = None
    ) -> list[dict[str, object]]:
        """The objects of a resource in :data:`RESOURCE_KINDS`; none for another one (a
        snapshot that lacks a kind says nothing about it)."""
        objects = self.by_kind.get(RESOURCE_KINDS.get(resource, ""), [])
        return [o for o in objects if namespace is None or _namespace(o) == namespace]


class ClusterState:
    """Typed pods, nodes and Services of one cluster, read from ``source`` on first use.

    ``origin`` names the source in reading errors (``cluster``, a snapshot's file).
    ``namespaces`` limits the namespaced reads (pods, Services) to those namespaces, one list
    call each: what a participant whose role covers only their own namespaces may list.
    """

    def __init__(
        self,
        source: ObjectSource,
        *,
        origin: Origin = LIVE,
        namespaces: Sequence[str] | None = None,
    ) -> None:
        self.source = source
        self.origin = origin
        self.namespaces = tuple(namespaces) if namespaces is not None else None

    @classmethod
    def from_objects(
        cls, objects: Iterable[Mapping[str, Any]], *, source: str = "snapshot"
    ) -> ClusterState:
        """The cluster a snapshot of its objects describes."""
        snapshot = Snapshot(objects, source=source)
        return cls(snapshot, origin=snapshot.origin)

    @cached_property
    def pods(self) -> tuple[PodInfo, ...]:
        if self.namespaces is None:
            return tuple(self.source.pods())
        return tuple(pod for ns in self.namespaces for pod in self.source.pods(ns))

    @cached_property
    def nodes(self) -> tuple[NodeInfo, ...]:
        return tuple(self.source.nodes())

    @cached_property
    def services(self) -> tuple[ServiceInfo, ...]:
        scopes: Sequence[str | None] = self.namespaces if self.namespaces is not None else (None,)
        return tuple(
            read_service(o, self.origin)
            for ns in scopes
            for o in self.source.get_objects("services", namespace=ns)
        )

    @cached_property
    def container_ports(self) -> Mapping[str, tuple[ContainerPort, ...]]:
        """``namespace/pod`` -> its containers' ports, for pods that declare any (from the Pod
        objects: none when they cannot be listed)."""
        result: dict[str, tuple[ContainerPort, ...]] = {}
        for obj in self.optional_objects("pods"):
            namespace, name, ports = read_pod_ports(obj, self.origin)
            if ports:
                result[f"{namespace}/{name}"] = ports
        return result

    def optional_objects(
        self, resource: str, namespace: str | None = None
    ) -> list[dict[str, object]]:
        """Objects of a resource that may not exist there (a CRD such as IngressRoute or
        ServiceL2Status, or one RBAC hides): [] then."""
        try:
            return self.source.get_objects(resource, namespace=namespace)
        except (PacketwalkError, LookupError):
            return []
