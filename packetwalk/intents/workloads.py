"""The workloads and Services intents may name, read from Kubernetes objects.

The objects are read with the cluster reader (:mod:`packetwalk.cluster`); this is the index the
policy generator looks names up in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from packetwalk.cluster.model import Origin, ServiceEndpoints, ServiceInfo, WorkloadInfo
from packetwalk.cluster.pods import WORKLOAD_TEMPLATES, read_workload_info
from packetwalk.cluster.services import read_endpoints, read_service, unique


class Workloads:
    """The workloads and Services intents may name, built from Kubernetes object dicts."""

    def __init__(
        self,
        workloads: Iterable[WorkloadInfo],
        services: Iterable[ServiceInfo] = (),
        endpoints: Iterable[ServiceEndpoints] = (),
    ):
        self._workloads = sorted(workloads, key=lambda w: (w.namespace, w.name, w.kind))
        self._services = sorted(services, key=lambda s: (s.namespace, s.name))
        merged: dict[tuple[str, str], ServiceEndpoints] = {}
        for entry in endpoints:
            key = (entry.namespace, entry.service)
            if key in merged:
                old = merged[key]
                entry = ServiceEndpoints(
                    entry.namespace,
                    entry.service,
                    unique((*old.addresses, *entry.addresses)),
                    unique((*old.ports, *entry.ports)),
                    (*old.sources, *entry.sources),
                )
            merged[key] = entry
        self._endpoints = merged

    @classmethod
    def from_objects(
        cls, objects: Iterable[Mapping[str, Any]], *, source: str = "objects"
    ) -> Workloads:
        """The workloads (Pods and pod-owning kinds), Services, EndpointSlices and Endpoints
        among ``objects``, read with the cluster reader; ``source`` names them in its errors."""
        origin = Origin(source)
        workloads: list[WorkloadInfo] = []
        services: list[ServiceInfo] = []
        endpoints: list[ServiceEndpoints] = []
        for obj in objects:
            kind = obj.get("kind")
            if kind == "Service":
                services.append(read_service(obj, origin))
            elif kind in ("EndpointSlice", "Endpoints"):
                entry = read_endpoints(obj, origin)
                if entry is not None:
                    endpoints.append(entry)
            elif kind == "Pod" or (isinstance(kind, str) and kind in WORKLOAD_TEMPLATES):
                workloads.append(read_workload_info(obj, str(kind), origin))
        return cls(workloads, services, endpoints)

    @property
    def workloads(self) -> list[WorkloadInfo]:
        return list(self._workloads)

    @property
    def services(self) -> list[ServiceInfo]:
        return list(self._services)

    def matching(self, namespace: str, name: str, kind: str | None = None) -> list[WorkloadInfo]:
        """Every workload with that name (and kind, when given) in ``namespace``."""
        return [
            w
            for w in self._workloads
            if w.namespace == namespace and w.name == name and (kind is None or w.kind == kind)
        ]

    def workload(self, namespace: str, name: str, kind: str | None = None) -> WorkloadInfo | None:
        """The one workload so named; None when there is none or the name is ambiguous."""
        found = self.matching(namespace, name, kind)
        return found[0] if len(found) == 1 else None

    def service(self, namespace: str, name: str) -> ServiceInfo | None:
        for svc in self._services:
            if svc.namespace == namespace and svc.name == name:
                return svc
        return None

    def endpoints(self, namespace: str, service: str) -> ServiceEndpoints | None:
        """What the EndpointSlices/Endpoints given for that Service say; None when none was "
        "given."""
        return self._endpoints.get((namespace, service))

    def backing(self, service: ServiceInfo) -> list[WorkloadInfo]:
        """The workloads whose pods the Service selects."""
        return [w for w in self._workloads if service.selects_labels(w.namespace, w.pod_labels)]

    def known_workloads(self) -> list[str]:
        return [f"{w.name}.{w.namespace} ({w.kind})" for w in self._workloads]

    def known_services(self) -> list[str]:
        return [f"{s.name}.{s.namespace}" for s in self._services]
