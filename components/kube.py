"""Turn our manifest dicts into pulumi_kubernetes resources, generically by apiVersion and kind.

The engine builds objects as plain manifests (``packetwalk.lab.objects``); the same dicts feed the
policy evaluator and get registered here, so what is evaluated is what is deployed. Built-in kinds
become their typed class (``apps/v1`` ``Deployment`` -> ``pulumi_kubernetes.apps.v1.Deployment``),
so the provider knows their schema and await logic; everything else becomes a
``apiextensions.CustomResource``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

_GROUP_MODULES = {
    "": "core",
    "rbac.authorization.k8s.io": "rbac",
    "flowcontrol.apiserver.k8s.io": "flowcontrol",
}
_BARE_GROUPS = {"apps", "batch", "policy", "autoscaling"}


def _module_for_group(group: str) -> str | None:
    if group in _GROUP_MODULES:
        return _GROUP_MODULES[group]
    if group in _BARE_GROUPS:
        return group
    if group.endswith(".k8s.io") and "." not in group.removesuffix(".k8s.io"):
        return group.removesuffix(".k8s.io")  # networking.k8s.io -> networking
    return None  # a CRD group (metallb.io, gateway.networking.k8s.io, k8s.otterize.com...)


@cache
def typed_class(api_version: str, kind: str) -> type[pulumi.CustomResource] | None:
    """The pulumi_kubernetes class for a built-in kind, or None for custom resources."""
    group, _, version = api_version.rpartition("/")
    module_name = _module_for_group(group)
    if module_name is None or not re.fullmatch(r"v[0-9]+((alpha|beta)[0-9]+)?", version):
        return None
    try:
        module = importlib.import_module(f"pulumi_kubernetes.{module_name}.{version}")
    except ImportError:
        return None
    cls = getattr(module, kind, None)
    if isinstance(cls, type) and issubclass(cls, pulumi.CustomResource):
        return cls
    return None


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


_PARAMETERS: dict[type, frozenset[str]] = {}


def _init_parameters(cls: type[pulumi.CustomResource]) -> frozenset[str]:
    if cls in _PARAMETERS:
        return _PARAMETERS[cls]
    init = cls._internal_init  # type: ignore[attr-defined]  # every generated resource has it
    names = frozenset(inspect.signature(init).parameters) - {
        "__self__",
        "resource_name",
        "opts",
        "__props__",
    }
    _PARAMETERS[cls] = names
    return names


def object_key(obj: Mapping[str, Any]) -> str:
    """``kind/namespace/name`` (``kind/name`` if cluster-scoped): unique per object in a cluster."""
    metadata = obj.get("metadata") or {}
    parts = [str(obj["kind"]).lower(), metadata.get("namespace"), metadata.get("name")]
    return "/".join(str(part) for part in parts if part)


def resource_name(obj: Mapping[str, Any]) -> str:
    """The Pulumi resource name for a manifest, e.g. ``deployment-vote-redis``."""
    return object_key(obj).replace("/", "-")


def register(
    obj: Mapping[str, Any], opts: pulumi.ResourceOptions, name: str | None = None
) -> pulumi.CustomResource:
    """Register one manifest as its pulumi_kubernetes resource (typed when built-in)."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise ValueError(f"manifest without apiVersion/kind: {dict(obj)!r}")
    name = name or resource_name(obj)
    fields = {
        key: value for key, value in obj.items() if key not in ("apiVersion", "kind", "status")
    }
    cls = typed_class(api_version, kind)
    if cls is None:
        extra = set(fields) - {"metadata", "spec"}
        if extra:
            raise ValueError(
                f"{kind} {name}: custom resources take only metadata and spec, got {sorted(extra)}"
            )
        return k8s.apiextensions.CustomResource(
            name,
            api_version=api_version,
            kind=kind,
            metadata=fields.get("metadata"),
            spec=fields.get("spec"),
            opts=opts,
        )
    kwargs = {_snake(key): value for key, value in fields.items()}
    unknown = set(kwargs) - _init_parameters(cls)
    if unknown:
        raise ValueError(
            f"{api_version} {kind} {name}: fields {sorted(unknown)} are not "
            f"arguments of {cls.__module__}.{cls.__name__}"
        )
    return cls(name, opts=opts, **kwargs)
