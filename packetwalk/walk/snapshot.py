"""Cluster facts from a saved object dump, so a walk can be planned without a cluster.

``kubectl get nodes,pods,services,ingresses,configmaps -A -o yaml > lab.yaml`` (plus, if
installed, ``ingressroutes.traefik.io`` and ``servicel2statuses.metallb.io``) is enough for
``invoke walk --dry-run --snapshot lab.yaml``: the planner needs no more than these objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from packetwalk.errors import InputError
from packetwalk.kube.access import NodeInfo, PodInfo
from packetwalk.walk.facts import (
    ClusterFacts,
    detect_cni,
    detect_kube_proxy_mode,
    l2_leaders_from_objects,
    named_ports_from_pods,
    routes_from_ingresses,
    routes_from_ingressroutes,
    service_from_object,
)


def _m(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in _m(_m(obj.get("metadata")).get("labels")).items()}


def pod_info_from_object(obj: Mapping[str, Any]) -> PodInfo:
    """A Pod API object as :class:`PodInfo`."""
    metadata, spec, status = _m(obj.get("metadata")), _m(obj.get("spec")), _m(obj.get("status"))
    return PodInfo(
        namespace=str(metadata.get("namespace", "default")),
        name=str(metadata.get("name", "")),
        ip=str(status["podIP"]) if status.get("podIP") else None,
        node=str(spec["nodeName"]) if spec.get("nodeName") else None,
        labels=_labels(obj),
        containers=tuple(str(_m(c).get("name")) for c in spec.get("containers") or ()),
        ephemeral_containers=tuple(str(_m(c).get("name"))
                                   for c in spec.get("ephemeralContainers") or ()),
        phase=str(status.get("phase", "Pending")),
        host_network=bool(spec.get("hostNetwork", False)),
    )


def node_info_from_object(obj: Mapping[str, Any]) -> NodeInfo:
    """A Node API object as :class:`NodeInfo`."""
    addresses = _m(obj.get("status")).get("addresses") or ()
    internal = next((str(_m(a).get("address")) for a in addresses
                     if _m(a).get("type") == "InternalIP"), None)
    spec = _m(obj.get("spec"))
    cidrs = tuple(str(c) for c in spec.get("podCIDRs") or ([spec["podCIDR"]]
                                                           if spec.get("podCIDR") else []))
    return NodeInfo(name=str(_m(obj.get("metadata")).get("name", "")), internal_ip=internal,
                    labels=_labels(obj), pod_cidrs=cidrs)


def objects_by_kind(objects: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(str(obj.get("kind", "")), []).append(obj)
    return by_kind


def facts_from_objects(
    objects: Sequence[Mapping[str, Any]],
    *,
    app_namespace: str = "vote",
    platform: str = "kind",
    cni: str | None = None,
    kube_proxy_mode: str | None = None,
    host_ip: str | None = None,
) -> ClusterFacts:
    """:class:`ClusterFacts` from plain API objects (the same reading as against a cluster)."""
    kinds = objects_by_kind(objects)
    pods = tuple(pod_info_from_object(o) for o in kinds.get("Pod", []))
    configmaps = [o for o in kinds.get("ConfigMap", [])
                  if _m(o.get("metadata")).get("namespace") == "kube-system"]
    return ClusterFacts(
        pods=pods,
        nodes=tuple(node_info_from_object(o) for o in kinds.get("Node", [])),
        services=tuple(service_from_object(o) for o in kinds.get("Service", [])),
        routes=(*routes_from_ingresses(kinds.get("Ingress", [])),
                *routes_from_ingressroutes(kinds.get("IngressRoute", []))),
        cni=cni or detect_cni(pods),
        kube_proxy_mode=kube_proxy_mode or detect_kube_proxy_mode(pods, configmaps),
        platform=platform,
        app_namespace=app_namespace,
        host_ip=host_ip,
        l2_leaders=l2_leaders_from_objects(kinds.get("ServiceL2Status", [])),
        named_ports=named_ports_from_pods(kinds.get("Pod", [])),
    )


def load_objects(path: Path) -> list[Mapping[str, Any]]:
    """Objects from a YAML file: a ``List`` (``kubectl get -o yaml``) or a multi-document stream."""
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except OSError as error:
        raise InputError(f"cannot read the snapshot: {error.strerror}", source=str(path)) from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise InputError(f"not YAML: {getattr(error, 'problem', error)}", source=str(path),
                         location=f"line {mark.line + 1}" if mark else None) from error
    objects: list[Mapping[str, Any]] = []
    for doc in documents:
        if doc is None:
            continue
        if not isinstance(doc, Mapping):
            raise InputError("expected Kubernetes objects or a List of them", source=str(path))
        items = doc.get("items") if str(doc.get("kind", "")).endswith("List") else None
        objects.extend(i for i in (items if isinstance(items, list) else [doc])
                       if isinstance(i, Mapping))
    if not objects:
        raise InputError("the snapshot holds no objects", source=str(path))
    return objects
