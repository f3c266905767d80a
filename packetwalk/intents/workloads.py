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
    cluster_ips: tuple[str, ...] = ()
    """``spec.clusterIP`` and ``spec.clusterIPs`` as given (without ``None``, a headless
    Service); empty when the object does not say (a manifest before the cluster assigns one)."""


@dataclass(frozen=True)
class EndpointPort:
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class ServiceEndpoints:
    """What the EndpointSlices and Endpoints objects given for one Service say.

    Only the objects that were given count: an empty ``addresses`` means the objects exist and
    list no ready address, which is not the same as no object at all (``Workloads.endpoints``
    returns None then).
    """

    namespace: str
    service: str
    addresses: tuple[str, ...]
    """Ready addresses (EndpointSlice ``conditions.ready`` not false; Endpoints ``addresses``,
    not ``notReadyAddresses``), in the order given, without repeats."""
    ports: tuple[EndpointPort, ...]
    sources: tuple[str, ...]
    """The objects they came from, ``EndpointSlice/<name>`` or ``Endpoints/<name>``."""


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


SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"
"""The label that ties an EndpointSlice to its Service."""


def _cluster_ips(spec: Mapping[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    for ip in [spec.get("clusterIP"), *(spec.get("clusterIPs") or [])]:
        if isinstance(ip, str) and ip and ip != "None" and ip not in found:
            found.append(ip)
    return tuple(found)


def _endpoint_ports(raw: object) -> list[EndpointPort]:
    ports: list[EndpointPort] = []
    for port in raw if isinstance(raw, list) else []:
        # A port without a number means "all ports" in an EndpointSlice: not a port to list.
        if isinstance(port, Mapping) and isinstance(port.get("port"), int):
            ports.append(EndpointPort(int(port["port"]), str(port.get("protocol") or "TCP")))
    return ports


def _slice_endpoints(obj: Mapping[str, Any]) -> tuple[list[str], list[EndpointPort]]:
    """The ready addresses and the ports of a ``discovery.k8s.io/v1`` EndpointSlice."""
    if obj.get("addressType") not in ("IPv4", "IPv6"):  # FQDN slices name no address
        return [], _endpoint_ports(obj.get("ports"))
    addresses: list[str] = []
    for endpoint in obj.get("endpoints") or []:
        if not isinstance(endpoint, Mapping):
            continue
        if (endpoint.get("conditions") or {}).get("ready") is False:
            continue  # unset means ready (the API's own reading)
        addresses.extend(a for a in endpoint.get("addresses") or [] if isinstance(a, str))
    return addresses, _endpoint_ports(obj.get("ports"))


def _legacy_endpoints(obj: Mapping[str, Any]) -> tuple[list[str], list[EndpointPort]]:
    """The ready addresses and the ports of a ``v1`` Endpoints object."""
    addresses: list[str] = []
    ports: list[EndpointPort] = []
    for subset in obj.get("subsets") or []:
        if not isinstance(subset, Mapping):
            continue
        addresses.extend(a["ip"] for a in subset.get("addresses") or []
                         if isinstance(a, Mapping) and isinstance(a.get("ip"), str))
        ports.extend(_endpoint_ports(subset.get("ports")))
    return addresses, ports


def _unique(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


class Workloads:
    """The workloads and Services intents may name, built from Kubernetes object dicts."""

    def __init__(self, workloads: Iterable[Workload], services: Iterable[Service] = (),
                 endpoints: Iterable[ServiceEndpoints] = ()):
        self._workloads = sorted(workloads, key=lambda w: (w.namespace, w.name, w.kind))
        self._services = sorted(services, key=lambda s: (s.namespace, s.name))
        merged: dict[tuple[str, str], ServiceEndpoints] = {}
        for entry in endpoints:
            key = (entry.namespace, entry.service)
            if key in merged:
                old = merged[key]
                entry = ServiceEndpoints(
                    entry.namespace, entry.service, _unique((*old.addresses, *entry.addresses)),
                    _unique((*old.ports, *entry.ports)), (*old.sources, *entry.sources))
            merged[key] = entry
        self._endpoints = merged

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]]) -> Workloads:
        workloads: list[Workload] = []
        services: list[Service] = []
        endpoints: list[ServiceEndpoints] = []
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
                                        ports, _cluster_ips(spec)))
            elif kind in ("EndpointSlice", "Endpoints"):
                if kind == "EndpointSlice":
                    service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
                    addresses, eports = _slice_endpoints(obj)
                else:
                    service = meta.get("name")  # an Endpoints object is named after its Service
                    addresses, eports = _legacy_endpoints(obj)
                if isinstance(service, str) and service:
                    endpoints.append(ServiceEndpoints(
                        namespace, service, _unique(addresses), _unique(eports),
                        (f"{kind}/{meta.get('name')}",)))
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
        return cls(workloads, services, endpoints)

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

    def endpoints(self, namespace: str, service: str) -> ServiceEndpoints | None:
        """What the EndpointSlices/Endpoints given for that Service say; None when none was given.
        """
        return self._endpoints.get((namespace, service))

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

