"""Checks over a stack's desired state that no single object's schema can make.

- every namespaced object's namespace exists before it (created by packetwalk or by a chart, or
  one a cluster starts with): ``helm.v4.Chart`` never creates its release namespace;
- every pod template is admitted by its namespace's Pod Security ``enforce`` level;
- every chart value packetwalk sets is a key the chart's ``values.yaml`` has, because Helm
  ignores an unknown key without a word (Traefik 40 moved ``service.type`` to
  ``service.spec.type`` and the old key went on being accepted).

Each function returns a list of problems (empty: conforms), so ``invoke render`` can print them
and the tests can assert them; :func:`problems` runs them all.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml

from packetwalk.cluster.pods import WORKLOAD_TEMPLATES
from packetwalk.kube.access import DEBUG_NAMESPACE
from packetwalk.kube.captures import capture_container_name, node_debug_pod_name, tool_container
from packetwalk.kube.specs import ephemeral_container_body, node_debug_pod_manifest
from packetwalk.lab import versions
from packetwalk.lab.charts import TRAEFIK_NAMESPACE, ChartSpec
from packetwalk.render.helmrender import RenderError
from packetwalk.render.podsecurity import namespace_level, violations

BUILTIN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
"""The namespaces every cluster starts with (kubeadm, hence kind, and GKE)."""


class Component(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def objects(self) -> list[dict[str, Any]]: ...

    @property
    def chart(self) -> ChartSpec | None: ...


def _where(component: str, obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{component}: {obj.get('kind')} {namespace}{meta.get('name', '?')}"


def namespace_problems(components: Sequence[Component]) -> list[str]:
    """Objects whose namespace is created after them, or by nobody."""
    created = dict.fromkeys(BUILTIN_NAMESPACES, "the cluster")
    later = {
        (obj.get("metadata") or {}).get("name")
        for c in components
        for obj in c.objects
        if obj.get("kind") == "Namespace"
    }
    problems = []
    for component in components:
        for obj in component.objects:
            meta = obj.get("metadata") or {}
            if obj.get("kind") == "Namespace":
                created.setdefault(meta.get("name", ""), component.name)
                continue
            namespace = meta.get("namespace")
            if namespace and namespace not in created:
                why = (
                    "is created only later"
                    if namespace in later
                    else "is created by nothing in the stack"
                )
                problems.append(f"{_where(component.name, obj)}: namespace {namespace!r} {why}")
    return problems


def pod_template(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod template (``metadata`` and ``spec``) of a Pod or workload, else None."""
    kind = obj.get("kind")
    if kind == "Pod":
        return obj
    path = WORKLOAD_TEMPLATES.get(str(kind))
    if path is None:
        return None
    node: Any = obj.get("spec") or {}
    for key in path:
        node = node.get(key) or {} if isinstance(node, Mapping) else {}
    return node if isinstance(node, Mapping) else None


def pod_security_problems(
    components: Sequence[Component], extra: Iterable[tuple[str, Mapping[str, Any]]] = ()
) -> list[str]:
    """Pods a namespace's enforce level would refuse.

    ``extra`` adds ``(namespace, pod spec)`` pairs that are not in the desired state but will be
    placed there at run time (the packet walk's capture containers).
    """
    labels = {
        (obj.get("metadata") or {}).get("name"): (obj.get("metadata") or {}).get("labels")
        for c in components
        for obj in c.objects
        if obj.get("kind") == "Namespace"
    }
    problems = []
    checks: list[tuple[str, str, Mapping[str, Any], Mapping[str, str]]] = []
    for component in components:
        for obj in component.objects:
            template = pod_template(obj)
            if template is None:
                continue
            namespace = (obj.get("metadata") or {}).get("namespace") or "default"
            checks.append(
                (
                    _where(component.name, obj),
                    namespace,
                    template.get("spec") or {},
                    (template.get("metadata") or {}).get("annotations") or {},
                )
            )
    checks += [(f"run-time pod in {namespace}", namespace, spec, {}) for namespace, spec in extra]
    for where, namespace, spec, pod_annotations in checks:
        level = namespace_level(labels.get(namespace))
        for reason in violations(level, spec, pod_annotations):
            problems.append(f"{where}: namespace {namespace!r} enforces {level}: {reason}")
    return problems


def unknown_value_keys(
    values: Mapping[str, Any], defaults: Mapping[str, Any], free_form: Iterable[str] = ()
) -> list[str]:
    """Dotted paths of ``values`` that the chart's ``values.yaml`` (``defaults``) does not have.

    Below a key whose default is an empty map or null, or a path listed in ``free_form``, any key
    is allowed: those are the chart's pass-through maps (annotations, ``service.spec``, ...).
    """
    unknown: list[str] = []
    open_paths = set(free_form)

    def walk(given: Mapping[str, Any], known: Mapping[str, Any], prefix: str) -> None:
        for key, value in given.items():
            path = f"{prefix}{key}"
            if path in open_paths:
                continue
            if key not in known:
                unknown.append(path)
                continue
            default = known[key]
            if isinstance(value, Mapping) and isinstance(default, Mapping) and default:
                walk(value, default, f"{path}.")

    walk(values, defaults, "")
    return unknown


def chart_default_values(package: Path) -> dict[str, Any]:
    """The top-level ``values.yaml`` of a chart package (.tgz)."""
    with tarfile.open(package) as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] == "values.yaml":
                handle = archive.extractfile(member)
                if handle is not None:
                    loaded = yaml.safe_load(handle.read()) or {}
                    if isinstance(loaded, dict):
                        return loaded
    raise RenderError(f"{package}: no values.yaml at the chart's top level")


def app_namespaces(components: Sequence[Component]) -> list[str]:
    """The voting app's namespaces (one per participant on a workshop stack)."""
    return sorted(
        {
            obj["metadata"]["name"]
            for component in components
            if component.name.startswith("app")
            for obj in component.objects
            if obj.get("kind") == "Namespace"
        }
    )


def run_time_pods(components: Sequence[Component]) -> list[tuple[str, Mapping[str, Any]]]:
    """What packetwalk places at run time, as ``(namespace, pod spec)``: the root netshoot
    capture containers the walk and the labs add to Traefik's and the app's pods, and the
    privileged node debug pods."""
    capture = ephemeral_container_body(
        tool_container(capture_container_name("x"), versions.NETSHOOT_IMAGE, target_container="app")
    )
    pod = {"containers": [{"name": "app", "image": "app"}], "ephemeralContainers": [capture]}
    node_pod = node_debug_pod_manifest(
        "node",
        name=node_debug_pod_name("node"),
        image=versions.NETSHOOT_IMAGE,
        namespace=DEBUG_NAMESPACE,
    )
    return [
        *((namespace, pod) for namespace in [TRAEFIK_NAMESPACE, *app_namespaces(components)]),
        (node_pod["metadata"]["namespace"], node_pod["spec"]),
    ]


def value_key_problems(
    components: Sequence[Component], locate: Callable[[ChartSpec], Path]
) -> list[str]:
    """Chart values packetwalk sets that the chart's ``values.yaml`` does not have."""
    found = []
    for component in components:
        spec = component.chart
        if spec is None:
            continue
        defaults = chart_default_values(locate(spec))
        found += [
            f"{component.name}: chart {spec.chart} {spec.version} has no value {path} "
            "(Helm ignores it)"
            for path in unknown_value_keys(spec.values, defaults, spec.free_form)
        ]
    return found


def problems(components: Sequence[Component], locate: Callable[[ChartSpec], Path]) -> list[str]:
    """Every check of this module over a stack's desired state."""
    return [
        *namespace_problems(components),
        *pod_security_problems(components, extra=run_time_pods(components)),
        *value_key_problems(components, locate),
    ]
