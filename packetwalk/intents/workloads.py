"""The workloads and Services intents may name, read from Kubernetes object dicts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True)
class ContainerPort:
    port: int
    protocol: str = "TCP"
    name: str | None = None


@dataclass(frozen=True)
class Workload:
    """A workload as policies see it: which pods it has and which ports they listen on."""

    namespace: str
    name: str
    kind: str
    selector: Mapping[str, str]
    """Labels that select exactly its pods (its ``spec.selector.matchLabels``)."""
    pod_labels: Mapping[str, str]
    ports: tuple[ContainerPort, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ServicePort:
    port: int
    target_port: int | str
    protocol: str = "TCP"
    name: str | None = None


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    selector: Mapping[str, str]
    ports: tuple[ServicePort, ...]


_POD_TEMPLATE_PATHS: Final = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def _dig(obj: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = obj
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _container_ports(pod_spec: Mapping[str, Any]) -> tuple[ContainerPort, ...]:
    ports: list[ContainerPort] = []
    for container in pod_spec.get("containers") or []:
        for port in container.get("ports") or []:
            ports.append(ContainerPort(port=int(port["containerPort"]),
                                       protocol=str(port.get("protocol", "TCP")),
                                       name=port.get("name")))
    return tuple(ports)


class Workloads:
    """The workloads and Services intents may name, built from Kubernetes object dicts."""

    def __init__(self, workloads: Iterable[Workload], services: Iterable[Service] = ()):
        self._workloads = sorted(workloads, key=lambda w: (w.namespace, w.name, w.kind))
        self._services = sorted(services, key=lambda s: (s.namespace, s.name))

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]]) -> Workloads:
        workloads: list[Workload] = []
        services: list[Service] = []
        for obj in objects:
            kind = obj.get("kind")
            meta = obj.get("metadata") or {}
            namespace = meta.get("namespace", "default")
            if kind == "Service":
                spec = obj.get("spec") or {}
                ports = tuple(
                    ServicePort(port=int(p["port"]), target_port=p.get("targetPort", p["port"]),
                                protocol=str(p.get("protocol", "TCP")), name=p.get("name"))
                    for p in spec.get("ports") or []
                )
                services.append(Service(namespace, meta["name"], dict(spec.get("selector") or {}),
                                        ports))
            elif kind == "Pod":
                labels = dict(meta.get("labels") or {})
                workloads.append(Workload(namespace, meta["name"], "Pod", labels, labels,
                                          _container_ports(obj.get("spec") or {})))
            elif isinstance(kind, str) and kind in _POD_TEMPLATE_PATHS:
                template = _dig(obj, _POD_TEMPLATE_PATHS[kind]) or {}
                labels = dict(_dig(template, ("metadata", "labels")) or {})
                selector_path = (("spec", "jobTemplate", "spec", "selector") if kind == "CronJob"
                                 else ("spec", "selector"))
                selector = _dig(obj, selector_path) or {}
                match = dict(selector.get("matchLabels") or {})
                if not match or selector.get("matchExpressions"):
                    match = labels
                workloads.append(Workload(namespace, meta["name"], kind, match, labels,
                                          _container_ports(template.get("spec") or {})))
        return cls(workloads, services)

    @property
    def workloads(self) -> list[Workload]:
        return list(self._workloads)

    @property
    def services(self) -> list[Service]:
        return list(self._services)

    def matching(self, namespace: str, name: str, kind: str | None = None) -> list[Workload]:
        """Every workload with that name (and kind, when given) in ``namespace``."""
        return [w for w in self._workloads if w.namespace == namespace and w.name == name
                and (kind is None or w.kind == kind)]

    def workload(self, namespace: str, name: str, kind: str | None = None) -> Workload | None:
        """The one workload so named; None when there is none or the name is ambiguous."""
        found = self.matching(namespace, name, kind)
        return found[0] if len(found) == 1 else None

    def service(self, namespace: str, name: str) -> Service | None:
        for svc in self._services:
            if svc.namespace == namespace and svc.name == name:
                return svc
        return None

    def backing(self, service: Service) -> list[Workload]:
        """The workloads whose pods the Service selects."""
        if not service.selector:
            return []
        return [w for w in self._workloads if w.namespace == service.namespace
                and all(w.pod_labels.get(k) == v for k, v in service.selector.items())]

    def known_workloads(self) -> list[str]:
        return [f"{w.name}.{w.namespace} ({w.kind})" for w in self._workloads]

    def known_services(self) -> list[str]:
        return [f"{s.name}.{s.namespace}" for s in self._services]

