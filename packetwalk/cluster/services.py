"""The one reader of Services, EndpointSlices, Endpoints and Nodes.

Like the pod reader, it answers each "present / empty / defaulted" question once, with the API's
defaults (a Service port's ``protocol`` is TCP and its ``targetPort`` its ``port``), and raises
:class:`~packetwalk.errors.InputError` naming the object and the field for what the API server
would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from packetwalk.cluster.fields import field_error as _err
from packetwalk.cluster.fields import mapping, optional_str, read_labels, read_meta, read_spec
from packetwalk.cluster.model import (
    MAX_PORT,
    MIN_PORT,
    PROTOCOL_CHOICES,
    SERVICE_NAME_LABEL,
    EndpointPort,
    NodeInfo,
    Origin,
    ServiceEndpoints,
    ServiceInfo,
    ServicePort,
)


def _port_number(value: object, origin: Origin, obj: str, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not (MIN_PORT <= value <= MAX_PORT):
        raise _err(
            origin, obj, field, f"must be a port number {MIN_PORT}-{MAX_PORT}, got {value!r}"
        )
    return value


def _protocol(raw: Mapping[str, Any], origin: Origin, obj: str, field: str) -> str:
    protocol = raw.get("protocol") or "TCP"
    if protocol not in PROTOCOL_CHOICES:
        raise _err(origin, obj, field, f"unknown protocol {protocol!r}", PROTOCOL_CHOICES)
    return str(protocol)


def _string_map(raw: object) -> dict[str, str]:
    """Annotations: strings in any valid object; nothing here decides on their types."""
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def _cluster_ips(spec: Mapping[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    for ip in [spec.get("clusterIP"), *(spec.get("clusterIPs") or [])]:
        if isinstance(ip, str) and ip and ip != "None" and ip not in found:
            found.append(ip)
    return tuple(found)


def read_service(obj: Mapping[str, Any], origin: Origin) -> ServiceInfo:
    """A Service object as :class:`ServiceInfo`."""
    name, namespace, _ = read_meta(obj, origin, "Service")
    ref = f"Service {namespace}/{name}"
    spec = read_spec(obj, origin, ref)
    raw_ports = spec.get("ports") or []
    if not isinstance(raw_ports, list):
        raise _err(origin, ref, "spec.ports", "must be a list")
    ports = tuple(
        _service_port(raw, origin, ref, f"spec.ports[{i}]") for i, raw in enumerate(raw_ports)
    )
    ingress = mapping(mapping(obj.get("status")).get("loadBalancer")).get("ingress")
    entries = [mapping(entry) for entry in ingress] if isinstance(ingress, list) else []
    ips = tuple(ip for entry in entries if (ip := optional_str(entry.get("ip"))))
    hostnames = tuple(
        host
        for entry in entries
        if not entry.get("ip") and (host := optional_str(entry.get("hostname")))
    )
    return ServiceInfo(
        namespace=namespace,
        name=name,
        type=str(spec.get("type") or "ClusterIP"),
        cluster_ips=_cluster_ips(spec),
        ports=ports,
        selector=read_labels(spec.get("selector"), origin, ref, "spec.selector"),
        lb_ips=ips,
        lb_hostnames=hostnames,
        external_traffic_policy=str(spec.get("externalTrafficPolicy") or "Cluster"),
        annotations=_string_map(mapping(obj.get("metadata")).get("annotations")),
    )


def _service_port(raw: object, origin: Origin, ref: str, where: str) -> ServicePort:
    if not isinstance(raw, dict):
        raise _err(origin, ref, where, "must be a mapping with port")
    number = _port_number(raw.get("port"), origin, ref, f"{where}.port")
    target = raw.get("targetPort", number)
    if isinstance(target, str) and target.isdigit():
        target = int(target)
    if isinstance(target, int) and not isinstance(target, bool):
        target = _port_number(target, origin, ref, f"{where}.targetPort")
    elif not isinstance(target, str) or not target:
        raise _err(
            origin,
            ref,
            f"{where}.targetPort",
            f"must be a port number or a container port's name, got {target!r}",
        )
    node_port = raw.get("nodePort")
    name = raw.get("name")
    return ServicePort(
        port=number,
        target_port=target,
        protocol=_protocol(raw, origin, ref, f"{where}.protocol"),
        name=name if isinstance(name, str) and name else None,
        node_port=(
            _port_number(node_port, origin, ref, f"{where}.nodePort") if node_port else None
        ),
    )


# --------------------------------------------------------------------------- endpoints


def read_endpoints(obj: Mapping[str, Any], origin: Origin) -> ServiceEndpoints | None:
    """What an EndpointSlice or Endpoints object says of its Service's ready addresses and
    ports; None for an EndpointSlice that names no Service."""
    kind = str(obj.get("kind"))
    name, namespace, labels = read_meta(obj, origin, kind)
    if kind == "EndpointSlice":
        service = labels.get(SERVICE_NAME_LABEL)
        addresses, ports = _slice_endpoints(obj)
    else:
        service = name  # an Endpoints object is named after its Service
        addresses, ports = _legacy_endpoints(obj)
    if not service:
        return None
    return ServiceEndpoints(
        namespace, service, unique(addresses), unique(ports), (f"{kind}/{name}",)
    )


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
        if mapping(endpoint.get("conditions")).get("ready") is False:
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
        addresses.extend(
            a["ip"]
            for a in subset.get("addresses") or []
            if isinstance(a, Mapping) and isinstance(a.get("ip"), str)
        )
        ports.extend(_endpoint_ports(subset.get("ports")))
    return addresses, ports


def unique(values: Iterable[Any]) -> tuple[Any, ...]:
    """``values`` in their first order, without repeats."""
    return tuple(dict.fromkeys(values))


# --------------------------------------------------------------------------- nodes


def read_node(obj: Mapping[str, Any], origin: Origin) -> NodeInfo:
    """A Node object as :class:`NodeInfo`."""
    name, _, labels = read_meta(obj, origin, "Node")
    addresses = mapping(obj.get("status")).get("addresses")
    internal = next(
        (
            optional_str(mapping(a).get("address"))
            for a in addresses or ()
            if mapping(a).get("type") == "InternalIP"
        ),
        None,
    )
    spec = mapping(obj.get("spec"))
    raw_cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
    return NodeInfo(
        name=name, internal_ip=internal, labels=labels, pod_cidrs=tuple(str(c) for c in raw_cidrs)
    )
