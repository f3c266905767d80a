"""The lab's own objects (namespace, voting app, Ingress routes, NetworkPolicies)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from packetwalk.lab.objects import sort_objects

WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
)


def register_objects(
    parent: pulumi.Resource,
    objects: Sequence[dict[str, Any]],
    *,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource] = (),
    suffix: str = "",
) -> dict[str, pulumi.CustomResource]:
    """Registers each manifest as its typed resource under ``parent``, by ``kube.object_key``.

    Each object waits for ``depends_on`` (CNI, MetalLB, Traefik) and for its namespace; workloads
    also wait for every NetworkPolicy of their namespace, so no pod of a zero-trust namespace
    ever runs before its policies exist (Pulumi would otherwise create them in parallel).
    ``suffix`` goes on every resource name (one stack, several clusters).
    """
    namespaces: dict[str, pulumi.Resource] = {}
    policies: dict[str, list[pulumi.Resource]] = {}
    resources: dict[str, pulumi.CustomResource] = {}
    for obj in sort_objects(list(objects)):
        metadata = obj.get("metadata") or {}
        namespace = str(metadata.get("namespace", ""))
        deps = list(depends_on)
        if namespace in namespaces:
            deps.append(namespaces[namespace])
        if obj.get("kind") in WORKLOAD_KINDS:
            deps.extend(policies.get(namespace, []))
        resource = kube.register(
            obj,
            pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=deps),
            name=kube.resource_name(obj) + suffix,
        )
        if obj.get("kind") == "Namespace":
            namespaces[metadata["name"]] = resource
        elif obj.get("kind") == "NetworkPolicy":
            policies.setdefault(namespace, []).append(resource)
        resources[kube.object_key(obj)] = resource
    return resources


class LabObjects(pulumi.ComponentResource):
    """Every manifest of ``packetwalk.lab.objects.lab_objects`` as its typed resource, in order
    (see :func:`register_objects`)."""

    def __init__(
        self,
        name: str,
        objects: Sequence[dict[str, Any]],
        *,
        provider: k8s.Provider,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("packetwalk:lab:LabObjects", name, None, opts)
        self.resources = register_objects(self, objects, provider=provider, depends_on=depends_on)
        self.register_outputs({"objects": sorted(self.resources)})
