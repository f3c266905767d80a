"""The one reader of Pods, pod-owning workloads and their owner references.

Two views come out of it (:mod:`packetwalk.cluster.model` says why): :func:`read_objects` reads
manifests or a cluster dump into the policy view (namespaces and pods as columns of shared
shapes, fast: a repeat of a known shape costs a lookup), and :func:`read_pod_info`,
:func:`read_pod_ports` and :func:`read_workload_info` read one object each for the walk, the lab
and the intents. Both go through the same validating functions: invalid input raises
:class:`~packetwalk.errors.InputError` naming the file, the object and the field, with the API
server's rule.

Every pod-owning workload kind becomes one pod carrying its template's labels and ports, grouped
under the workload (netpol-analyzer does the same); live Pods are grouped under their controller
(a ReplicaSet, a DaemonSet...). Pods in phase Succeeded or Failed are left out of the policy view
unless the caller asks for them (``include_finished``); their names are kept in
``ClusterObjects.finished_pods`` for the caller to report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from packetwalk.cluster.documents import Document
from packetwalk.cluster.fields import describe_origin as _where
from packetwalk.cluster.fields import field_error as _err
from packetwalk.cluster.fields import mapping, optional_str, read_labels, read_meta
from packetwalk.cluster.model import (
    MAX_PORT,
    MIN_PORT,
    NAME_LABEL,
    PROTOCOL_CHOICES,
    ClusterObjects,
    ContainerPort,
    Namespace,
    Origin,
    Owner,
    Pod,
    PodInfo,
    PodShape,
    WorkloadInfo,
)
from packetwalk.errors import InputError

#: workload kind -> path of its pod template inside ``spec``
WORKLOAD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "Deployment": ("template",),
    "ReplicaSet": ("template",),
    "StatefulSet": ("template",),
    "DaemonSet": ("template",),
    "ReplicationController": ("template",),
    "Job": ("template",),
    "CronJob": ("jobTemplate", "spec", "template"),
}

#: Pod phases after which a pod has no network endpoint (left out unless asked for)
FINISHED_PHASES = ("Succeeded", "Failed")

#: reads one object of a kind the caller handles itself (e.g. NetworkPolicy)
KindReader = Callable[[dict[str, Any], Origin], None]


# --------------------------------------------------------------------------- the policy view


def read_objects(
    cluster: ClusterObjects,
    docs: Iterable[Document],
    *,
    include_finished: bool = False,
    readers: Mapping[str, KindReader] | None = None,
) -> set[str]:
    """Read Namespaces, Pods and workloads among ``docs`` into ``cluster``.

    Objects of a kind in ``readers`` go to that reader; other kinds are counted in
    ``cluster.skipped_kinds``. Returns the namespaces the pods are in.
    """
    pods = _PodReader(cluster.warnings)
    try:
        _read_objects(cluster, pods, docs, include_finished, readers or {})
    except InputError:
        _check_unique_pods(cluster)  # a duplicate pod before the failing object comes first
        raise
    _check_unique_pods(cluster)
    return pods.namespaces()


def _check_unique_pods(cluster: ClusterObjects) -> None:
    """The first live pod whose namespace and name an earlier one had is an error.

    Checked after reading (a set of names, in C, instead of two lookups per pod), and before
    any later object's error is raised, so the error is the same as a check per pod would give.
    """
    names = cluster.pod_names
    if len(set(names)) == len(names):
        return
    seen: dict[tuple[str, str], Origin | None] = {}
    for name, shape, origin in zip(names, cluster.pod_shapes, cluster.pod_origins, strict=True):
        key = (shape.namespace, name)
        if key in seen:
            raise _err(
                origin or Origin("?"),
                f"Pod {shape.namespace}/{name}",
                "metadata.name",
                f"defined twice (first in {_where(seen[key])})",
            )
        seen[key] = origin


def _read_objects(
    cluster: ClusterObjects,
    pods: _PodReader,
    docs: Iterable[Document],
    include_finished: bool,
    readers: Mapping[str, KindReader],
) -> None:
    seen_pods: dict[tuple[str, str, str], Origin] = {}
    by_raw_get = pods.by_raw.get
    add_name, add_shape = cluster.pod_names.append, cluster.pod_shapes.append
    add_ip, add_origin = cluster.pod_ips.append, cluster.pod_origins.append
    finished = () if include_finished else FINISHED_PHASES
    for obj, origin in docs:
        kind = obj.get("kind")
        if (
            kind == "Pod"
            and type(status := obj.get("status") or {}) is dict
            and (status.get("phase") not in finished)
        ):
            # The common case first, inlined (live pods are most of a cluster dump, and a call
            # or an object per pod shows): a repeat of a known shape is recognised by the key
            # _PodReader.pod computes, read here without calls; anything else, or a miss,
            # takes that method's full, validating path.
            meta = obj.get("metadata")
            spec = obj.get("spec")
            shape = None
            if type(meta) is dict and type(spec) is dict:
                name: str = meta.get("name")  # type: ignore[assignment]  # checked below
                namespace: str = meta.get("namespace") or "default"
                refs = meta.get("ownerReferences")
                containers = spec.get("containers")
                raw_labels = meta.get("labels")
                owner: tuple[object, object] | None = None
                if not refs:
                    owner = ("Pod", name)
                elif type(refs) is list and len(refs) == 1 and type(ref := refs[0]) is dict:
                    okind = ref.get("kind") or "Pod"
                    oname = ref.get("name")
                    if ref.get("controller") and type(oname) is str and type(okind) is str:
                        owner = (okind, oname) if okind != "Node" else ("Pod", name)
                    elif not ref.get("controller"):
                        owner = ("Pod", name)
                ports_key: list[tuple[int, object, object]] | None = []
                if containers:
                    if type(containers) is not list:
                        ports_key = None
                    else:
                        for container in containers:
                            if type(container) is not dict:
                                ports_key = None
                                break
                            raw_ports = container.get("ports")
                            if raw_ports:
                                if type(raw_ports) is not list:
                                    ports_key = None
                                    break
                                for raw in raw_ports:
                                    if (
                                        type(raw) is not dict
                                        or type(number := raw.get("containerPort")) is not int
                                    ):
                                        ports_key = None
                                        break
                                    ports_key.append(  # type: ignore[union-attr]
                                        (number, raw.get("protocol"), raw.get("name"))
                                    )
                                if ports_key is None:
                                    break
                if (
                    owner is not None
                    and ports_key is not None
                    and type(name) is str
                    and name
                    and type(namespace) is str
                    and (raw_labels is None or type(raw_labels) is dict)
                ):
                    try:
                        shape = by_raw_get(
                            (
                                namespace,
                                tuple(raw_labels.items()) if raw_labels else None,
                                tuple(ports_key),
                                owner,
                                bool(spec.get("hostNetwork")),
                            )
                        )
                    except TypeError:  # an unhashable field value: the full path judges it
                        shape = None
            if shape is None:
                pod = pods.pod(obj, origin)
                name, shape, ip = pod.name, pod.shape, pod.ip
            else:
                ip = status.get("podIP")
                ip = ip if isinstance(ip, str) and ip else None
            add_name(name)  # (unique names: _check_unique_pods)
            add_shape(shape)
            add_ip(ip)
            add_origin(origin)
            continue
        if "kind" not in obj and "apiVersion" not in obj:
            # e.g. an analyser's own output file next to the manifests: not ours to judge
            cluster.warnings.append(
                f"{_where(origin)}: not a Kubernetes object (no kind, no apiVersion); skipped"
            )
            continue
        if not isinstance(kind, str) or not kind:
            raise InputError("object has no kind", source=origin.source, location=origin.location)
        if kind == "Namespace":
            ns = _namespace(obj, origin)
            if ns.name in cluster.namespaces:
                first = cluster.namespaces[ns.name].origin
                raise _err(
                    origin,
                    f"Namespace {ns.name}",
                    "metadata.name",
                    f"a second Namespace named {ns.name!r} (first in {_where(first)})",
                )
            cluster.namespaces[ns.name] = ns
        elif kind == "Pod" and not isinstance(obj.get("status") or {}, dict):
            name = (obj.get("metadata") or {}).get("name", "?")
            raise _err(
                origin,
                f"Pod {name}",
                "status",
                f"must be a mapping, not {type(obj['status']).__name__}",
            )
        elif kind == "Pod" and (obj.get("status") or {}).get("phase") in finished:
            # a finished pod has no network endpoint any more (live clusters keep Job pods)
            cluster.skipped_kinds["Pod (finished)"] = (
                cluster.skipped_kinds.get("Pod (finished)", 0) + 1
            )
            cluster.finished_pods.append(_pod_ref(obj))
        elif kind == "Pod" or kind in WORKLOAD_TEMPLATES:
            _add_pod(
                cluster,
                seen_pods,
                kind,
                pods.pod(obj, origin) if kind == "Pod" else pods.workload_pod(obj, kind, origin),
                origin,
            )
        elif (reader := readers.get(kind)) is not None:
            reader(obj, origin)
        else:
            cluster.skipped_kinds[kind] = cluster.skipped_kinds.get(kind, 0) + 1


def _pod_ref(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` of a pod that is not read further, so never an error: "?" stands for
    a missing or malformed name or namespace."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name, namespace = meta.get("name"), meta.get("namespace") or "default"
    name = name if isinstance(name, str) and name else "?"
    namespace = namespace if isinstance(namespace, str) else "?"
    return f"{namespace}/{name}"


def _add_pod(
    cluster: ClusterObjects,
    seen: dict[tuple[str, str, str], Origin],
    kind: str,
    pod: Pod,
    origin: Origin,
) -> None:
    key = (kind, pod.shape.namespace, pod.name)
    first = seen.get(key)
    if first is not None:
        raise _err(
            origin,
            f"{kind} {pod.shape.namespace}/{pod.name}",
            "metadata.name",
            f"defined twice (first in {_where(first)})",
        )
    seen[key] = origin
    cluster.add_pod(pod.name, pod.shape, pod.ip, pod.origin)


def _namespace(obj: Mapping[str, Any], origin: Origin) -> Namespace:
    name, _, labels = read_meta(obj, origin, "Namespace")
    labels.setdefault(NAME_LABEL, name)
    return Namespace(name, labels, origin)


def container_ports(
    spec: object, origin: Origin, obj: str, field: str, warnings: list[str] | None = None
) -> tuple[ContainerPort, ...]:
    if not isinstance(spec, dict):
        return ()
    ports: list[ContainerPort] = []
    containers = spec.get("containers") or []
    if not isinstance(containers, list):
        raise _err(origin, obj, f"{field}.containers", "must be a list")
    for ci, container in enumerate(containers):
        if not isinstance(container, dict):
            continue
        for pi, raw in enumerate(container.get("ports") or []):
            where = f"{field}.containers[{ci}].ports[{pi}]"
            if not isinstance(raw, dict):
                raise _err(origin, obj, where, "must be a mapping with containerPort")
            number = raw.get("containerPort")
            if number is None and warnings is not None:
                # kubectl rejects this entry; the pod still runs without it. A port nobody
                # declared cannot be a named-port target, so skipping it changes no verdict.
                keys = ", ".join(sorted(str(k) for k in raw))
                warnings.append(
                    f"{_where(origin)}: {obj}: {where}: no containerPort "
                    f"(fields: {keys}); entry ignored"
                )
                continue
            if (
                not isinstance(number, int)
                or isinstance(number, bool)
                or not (MIN_PORT <= number <= MAX_PORT)
            ):
                raise _err(
                    origin,
                    obj,
                    f"{where}.containerPort",
                    f"must be a port number {MIN_PORT}-{MAX_PORT}, got {number!r}",
                )
            protocol = raw.get("protocol") or "TCP"
            if protocol not in PROTOCOL_CHOICES:
                raise _err(
                    origin,
                    obj,
                    f"{where}.protocol",
                    f"unknown protocol {protocol!r}",
                    PROTOCOL_CHOICES,
                )
            name = raw.get("name")
            port_name = name if isinstance(name, str) else None
            ports.append(ContainerPort(number, str(protocol), port_name))
    return tuple(ports)


def _owner(meta: Mapping[str, Any], name: str) -> tuple[str, str]:
    """The controller a live pod is grouped under; a pod without one stands alone."""
    for ref in meta.get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") and isinstance(ref.get("name"), str):
            kind = ref.get("kind") or "Pod"
            if kind != "Node":  # static (mirror) pods stand alone
                return str(kind), ref["name"]
            break
    return "Pod", name


def _ports_key(spec: object) -> tuple[tuple[int, object, object], ...] | None:
    """What :func:`_container_ports` reads of ``spec``, or None when it may warn or fail.

    Equal keys give equal results: the protocol and name only count through ``or``/``==``/
    ``isinstance(str)``, which agree for equal values, and the one field whose *type* decides
    (``containerPort``: 80.0 and True equal 80 and 1 but are refused) must be an ``int`` here.
    Anything unusual returns None, and the caller takes the full, message-giving path.
    """
    if type(spec) is not dict:
        return None
    containers = spec.get("containers")
    if not containers:
        return ()
    if type(containers) is not list:
        return None
    key = []
    for container in containers:
        if type(container) is not dict:
            return None
        raw_ports = container.get("ports")
        if not raw_ports:
            continue
        if type(raw_ports) is not list:
            return None
        for raw in raw_ports:
            if type(raw) is not dict:
                return None
            number = raw.get("containerPort")
            if type(number) is not int:
                return None
            key.append((number, raw.get("protocol"), raw.get("name")))
    return tuple(key)


class _PodReader:
    """Pods and workload templates in, :class:`Pod` out, each distinct shape validated once.

    A cluster has many replicas of few pod shapes, and reading every replica in full (labels
    copied, ports validated and built) made loading the one cost that grew with pods. A live pod
    is first looked up by a key of the raw fields its shape is built from; a repeat costs that
    lookup. A miss goes through the validating functions above, so every error still names the
    file, the object and the field; input that may warn or fail is never keyed, so each pod gets
    its own warning. Shapes are interned by content, so equal pods share one either way.
    """

    def __init__(self, warnings: list[str]) -> None:
        self.warnings = warnings
        self.by_raw: dict[tuple[object, ...], PodShape] = {}
        self._shapes: dict[tuple[object, ...], PodShape] = {}

    def namespaces(self) -> set[str]:
        return {shape.namespace for shape in self._shapes.values()}

    def shape(
        self,
        namespace: str,
        labels: dict[str, str],
        ports: tuple[ContainerPort, ...],
        owner: tuple[str, str],
        host_network: bool,
    ) -> PodShape:
        key = (namespace, tuple(sorted(labels.items())), ports, owner, host_network)
        hit = self._shapes.get(key)
        if hit is None:
            hit = self._shapes[key] = PodShape(
                namespace, labels, ports, Owner(*owner), host_network
            )
        return hit

    def pod(self, obj: Mapping[str, Any], origin: Origin) -> Pod:
        raw_meta = obj.get("metadata")
        meta: Mapping[str, Any] = raw_meta if type(raw_meta) is dict else {}
        name = meta.get("name")
        namespace = meta.get("namespace") or "default"
        if type(name) is not str or not name or type(namespace) is not str:
            name, namespace, _ = read_meta(obj, origin, "Pod")  # raises, naming the field
            meta = obj["metadata"]  # (or it was a mapping subclass: the full path below)
        spec = obj.get("spec") or {}
        owner = _owner(meta, name)
        raw_labels = meta.get("labels")
        ports_key = _ports_key(spec)
        shape = None
        key: tuple[object, ...] | None = None
        if ports_key is not None and (raw_labels is None or type(raw_labels) is dict):
            # (ports_key is not None: spec is a dict) labels and ports equal to a validated
            # pod's give the same result: label values count only if strings
            key = (
                namespace,
                tuple(raw_labels.items()) if raw_labels else None,
                ports_key,
                owner,
                bool(spec.get("hostNetwork")),
            )
            try:
                shape = self.by_raw.get(key)
            except TypeError:  # an unhashable field value: the full path judges it
                key = None
        if shape is None:
            ref = f"Pod {namespace}/{name}"
            shape = self.shape(
                namespace,
                read_labels(raw_labels, origin, ref, "metadata.labels"),
                container_ports(spec, origin, ref, "spec", self.warnings),
                owner,
                bool(isinstance(spec, dict) and spec.get("hostNetwork")),
            )
            if key is not None:
                self.by_raw[key] = shape
        status = obj.get("status") or {}
        ip = status.get("podIP") if isinstance(status, dict) else None
        return Pod(name, shape, ip if isinstance(ip, str) and ip else None, origin)

    def workload_pod(self, obj: Mapping[str, Any], kind: str, origin: Origin) -> Pod:
        template = read_template(obj, kind, origin, self.warnings)
        return Pod(
            template.name,
            self.shape(
                template.namespace,
                template.labels,
                template.ports,
                (kind, template.name),
                template.host_network,
            ),
            origin=origin,
        )


# --------------------------------------------------------------------------- one object each


class Template(NamedTuple):
    """A workload's pod template, read: whose it is, and its pods' labels, ports, network."""

    name: str
    namespace: str
    labels: dict[str, str]
    ports: tuple[ContainerPort, ...]
    host_network: bool


def read_template(
    obj: Mapping[str, Any], kind: str, origin: Origin, warnings: list[str] | None = None
) -> Template:
    """The pod template of a workload of ``kind`` (a key of :data:`WORKLOAD_TEMPLATES`)."""
    name, namespace, _ = read_meta(obj, origin, kind)
    node: object = obj.get("spec") or {}
    field = "spec"
    for step in WORKLOAD_TEMPLATES[kind]:
        node = node.get(step) if isinstance(node, dict) else None
        field += f".{step}"
    template = node if isinstance(node, dict) else {}
    tmeta = template.get("metadata") or {}
    labels = read_labels(
        tmeta.get("labels") if isinstance(tmeta, dict) else None,
        origin,
        f"{kind} {namespace}/{name}",
        f"{field}.metadata.labels",
    )
    tspec = template.get("spec") or {}
    ports = container_ports(tspec, origin, f"{kind} {namespace}/{name}", f"{field}.spec", warnings)
    host_network = bool(isinstance(tspec, dict) and tspec.get("hostNetwork"))
    return Template(name, namespace, labels, ports, host_network)


def read_pod_info(obj: Mapping[str, Any], origin: Origin) -> PodInfo:
    """A Pod object as :class:`PodInfo` (an absent phase is Pending, as the API defaults it)."""
    name, namespace, labels = read_meta(obj, origin, "Pod")
    spec, status = mapping(obj.get("spec")), mapping(obj.get("status"))
    return PodInfo(
        namespace=namespace,
        name=name,
        ip=optional_str(status.get("podIP")),
        node=optional_str(spec.get("nodeName")),
        labels=labels,
        containers=_container_names(spec.get("containers")),
        ephemeral_containers=_container_names(spec.get("ephemeralContainers")),
        phase=str(status.get("phase") or "Pending"),
        host_network=bool(spec.get("hostNetwork")),
    )


def _container_names(raw: object) -> tuple[str, ...]:
    return tuple(str(mapping(c).get("name")) for c in raw if c) if isinstance(raw, list) else ()


def read_pod_ports(
    obj: Mapping[str, Any], origin: Origin
) -> tuple[str, str, tuple[ContainerPort, ...]]:
    """Namespace, name and container ports of a Pod object."""
    name, namespace, _ = read_meta(obj, origin, "Pod")
    return (
        namespace,
        name,
        container_ports(obj.get("spec"), origin, f"Pod {namespace}/{name}", "spec"),
    )


def read_workload_info(obj: Mapping[str, Any], kind: str, origin: Origin) -> WorkloadInfo:
    """A Pod, or a workload of a kind in :data:`WORKLOAD_TEMPLATES`, as :class:`WorkloadInfo`.

    A workload's pods are selected by its ``matchLabels``; with ``matchExpressions`` (or no
    ``matchLabels``) by its template's labels. A bare Pod is selected by its own labels.
    """
    if kind == "Pod":
        name, namespace, labels = read_meta(obj, origin, kind)
        ports = container_ports(obj.get("spec"), origin, f"Pod {namespace}/{name}", "spec")
        return WorkloadInfo(namespace, name, kind, labels, labels, ports)
    template = read_template(obj, kind, origin)
    spec = mapping(obj.get("spec"))
    if kind == "CronJob":
        spec = mapping(mapping(spec.get("jobTemplate")).get("spec"))
    selector = mapping(spec.get("selector"))
    match = read_labels(
        selector.get("matchLabels"),
        origin,
        f"{kind} {template.namespace}/{template.name}",
        "spec.selector.matchLabels",
    )
    if not match or selector.get("matchExpressions"):
        match = template.labels
    return WorkloadInfo(
        template.namespace, template.name, kind, match, template.labels, template.ports
    )
