"""Manifests in, a validated :class:`~packetwalk.netpol.model.Cluster` out.

Accepts what ``kubectl get -o yaml|json`` and hand-written manifests contain: multi-document YAML,
JSON, single objects, ``v1`` ``List`` / ``PodList`` / ``NamespaceList`` (any ``*List`` with
``items``), folders read recursively. Every pod-owning workload kind becomes one pod carrying its
template's labels and ports, grouped under the workload (netpol-analyzer does the same); live Pods
are grouped under their controller (a ReplicaSet, a DaemonSet...). Kinds that do not affect
NetworkPolicy evaluation (Services, ConfigMaps, ...) are counted and skipped.

Invalid input raises :class:`InputError` naming the file, the object and the field, with the
API server's rule: no guessing what a broken policy was meant to say.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from packetwalk.errors import InputError
from packetwalk.netpol.ipblocks import IPBlockError, parse_ipblock
from packetwalk.netpol.model import (
    NAME_LABEL,
    Cluster,
    ContainerPort,
    Namespace,
    Origin,
    Owner,
    Peer,
    Pod,
    PodShape,
    Policy,
    PortSpec,
    Rule,
)
from packetwalk.netpol.ports import MAX_PORT, MIN_PORT
from packetwalk.netpol.selectors import SelectorError, parse_selector

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

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
PROTOCOL_CHOICES = ("TCP", "UDP", "SCTP")
POLICY_TYPES = ("Ingress", "Egress")
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")

Document = tuple[dict[str, Any], Origin]


# --------------------------------------------------------------------------- reading files


def manifest_files(path: Path) -> list[Path]:
    """The manifest files under ``path`` (itself if it is a file), in a stable order."""
    if not path.exists():
        raise InputError("no such file or folder", source=str(path))
    if path.is_file():
        return [path]
    files = sorted(
        p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES
    )
    if not files:
        raise InputError(
            "no manifest files here (looked for *.yaml, *.yml, *.json, recursively)",
            source=str(path),
        )
    return files


def read_documents(path: Path) -> list[Document]:
    docs: list[Document] = []
    for file in manifest_files(path):
        docs.extend(_file_documents(file))
    return docs


def _file_documents(file: Path) -> Iterator[Document]:
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read: {err}", source=source) from err
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(text) if text.strip() else None
        except json.JSONDecodeError as err:
            raise InputError(
                f"not valid JSON: {err.msg}", source=source, location=f"line {err.lineno}"
            ) from err
        if data is not None:
            yield from _expand(data, Origin(source, 1))
        return
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            if data is not None:
                yield from _expand(data, Origin(source, node.start_mark.line + 1))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise InputError(f"not valid YAML: {problem}", source=source, location=where) from err
    finally:
        loader.dispose()


def _expand(data: object, origin: Origin) -> Iterator[Document]:
    """Unwrap ``*List`` objects (and bare JSON arrays) into their items."""
    if isinstance(data, list):
        for item in data:
            yield from _expand(item, origin)
        return
    if not isinstance(data, dict):
        raise InputError(
            "expected a Kubernetes object (a mapping with kind and metadata)",
            source=origin.source, location=origin.location,
        )
    kind = data.get("kind")
    items = data.get("items")
    if isinstance(items, list) and (kind is None or str(kind).endswith("List")):
        item_kind = str(kind)[: -len("List")] if kind and kind != "List" else None
        for item in items:
            if isinstance(item, dict) and item_kind and "kind" not in item:
                item = {**item, "kind": item_kind}
            yield from _expand(item, origin)
        return
    yield data, origin


# --------------------------------------------------------------------------- building


def load_cluster(paths: Sequence[Path]) -> Cluster:
    """Read every manifest under ``paths`` and build the cluster they describe."""
    docs: list[Document] = []
    for path in paths:
        docs.extend(read_documents(path))
    return build_cluster(docs)


def cluster_from_objects(objects: Iterable[Mapping[str, Any]], *, source: str) -> Cluster:
    """Build a cluster from in-memory objects (the lab's own, or ``kubectl get`` items)."""
    origin = Origin(source)  # one for all: nothing tells the objects apart but their names
    return build_cluster(_with_origin(objects, origin))


def _with_origin(objects: Iterable[Mapping[str, Any]], origin: Origin) -> Iterator[Document]:
    for obj in objects:
        if type(obj) is dict and "items" not in obj:
            yield obj, origin  # what _expand would yield, without a copy per pod
        else:
            yield from _expand(dict(obj), origin)


def build_cluster(docs: Iterable[Document]) -> Cluster:
    cluster = Cluster()
    pods = _PodReader(cluster.warnings)
    try:
        _read_objects(cluster, pods, docs)
    except InputError:
        _check_unique_pods(cluster)  # a duplicate pod before the failing object comes first
        raise
    _check_unique_pods(cluster)
    # Namespaces only referenced by objects exist too (netpol-analyzer convention 7).
    referenced = pods.namespaces() | {p.namespace for p in cluster.policies}
    for name in sorted(referenced):
        if name not in cluster.namespaces:
            cluster.namespaces[name] = Namespace(name, {NAME_LABEL: name})
    return cluster


def _check_unique_pods(cluster: Cluster) -> None:
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
            raise _err(origin or Origin("?"), f"Pod {shape.namespace}/{name}", "metadata.name",
                       f"defined twice (first in {_where(seen[key])})")
        seen[key] = origin


def _read_objects(cluster: Cluster, pods: _PodReader, docs: Iterable[Document]) -> None:
    seen_pods: dict[tuple[str, str, str], Origin] = {}
    seen_policies: dict[tuple[str, str], Origin] = {}
    by_raw_get = pods.by_raw.get
    add_name, add_shape = cluster.pod_names.append, cluster.pod_shapes.append
    add_ip, add_origin = cluster.pod_ips.append, cluster.pod_origins.append
    finished = ("Succeeded", "Failed")
    for obj, origin in docs:
        kind = obj.get("kind")
        if kind == "Pod" and type(status := obj.get("status") or {}) is dict and (
                status.get("phase") not in finished):
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
                                    if type(raw) is not dict or type(
                                            number := raw.get("containerPort")) is not int:
                                        ports_key = None
                                        break
                                    ports_key.append(  # type: ignore[union-attr]
                                        (number, raw.get("protocol"), raw.get("name")))
                                if ports_key is None:
                                    break
                if (owner is not None and ports_key is not None and type(name) is str and name
                        and type(namespace) is str
                        and (raw_labels is None or type(raw_labels) is dict)):
                    try:
                        shape = by_raw_get((namespace, tuple(raw_labels.items()) if raw_labels
                                            else None, tuple(ports_key), owner,
                                            bool(spec.get("hostNetwork"))))
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
            cluster.warnings.append(f"{_where(origin)}: not a Kubernetes object (no kind, no "
                                    "apiVersion); skipped")
            continue
        if not isinstance(kind, str) or not kind:
            raise InputError("object has no kind", source=origin.source, location=origin.location)
        if kind == "Namespace":
            ns = _namespace(obj, origin)
            if ns.name in cluster.namespaces:
                first = cluster.namespaces[ns.name].origin
                raise _err(origin, f"Namespace {ns.name}", "metadata.name",
                           f"a second Namespace named {ns.name!r} (first in {_where(first)})")
            cluster.namespaces[ns.name] = ns
        elif kind == "Pod" and not isinstance(obj.get("status") or {}, dict):
            name = (obj.get("metadata") or {}).get("name", "?")
            raise _err(origin, f"Pod {name}", "status",
                       f"must be a mapping, not {type(obj['status']).__name__}")
        elif kind == "Pod" and (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            # a finished pod has no network endpoint any more (live clusters keep Job pods)
            cluster.skipped_kinds["Pod (finished)"] = cluster.skipped_kinds.get("Pod (finished)",
                                                                                0) + 1
        elif kind == "Pod" or kind in WORKLOAD_TEMPLATES:
            _add_pod(cluster, seen_pods, kind, pods.pod(obj, origin) if kind == "Pod"
                     else pods.workload_pod(obj, kind, origin), origin)
        elif kind == "NetworkPolicy":
            policy = _policy(obj, origin)
            key2 = (policy.namespace, policy.name)
            if key2 in seen_policies:
                raise _err(origin, f"NetworkPolicy {policy.ref}", "metadata.name",
                           f"two NetworkPolicies named {policy.ref} in one namespace "
                           f"(first in {_where(seen_policies[key2])}); names must be unique")
            seen_policies[key2] = origin
            cluster.policies.append(policy)
        else:
            cluster.skipped_kinds[kind] = cluster.skipped_kinds.get(kind, 0) + 1


def _add_pod(cluster: Cluster, seen: dict[tuple[str, str, str], Origin], kind: str, pod: Pod,
             origin: Origin) -> None:
    key = (kind, pod.shape.namespace, pod.name)
    first = seen.get(key)
    if first is not None:
        raise _err(origin, f"{kind} {pod.shape.namespace}/{pod.name}", "metadata.name",
                   f"defined twice (first in {_where(first)})")
    seen[key] = origin
    cluster.add_pod(pod.name, pod.shape, pod.ip, pod.origin)


def _where(origin: Origin | None) -> str:
    if origin is None:
        return "an earlier object"
    return ":".join(x for x in (origin.source, origin.location) if x)


def _err(origin: Origin, obj: str, field: str, message: str,
         choices: Iterable[str] | None = None) -> InputError:
    return InputError(f"{obj}: {field}: {message}", source=origin.source,
                      location=origin.location, choices=choices)


def _meta(obj: Mapping[str, Any], origin: Origin, kind: str) -> tuple[str, str, dict[str, str]]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise _err(origin, kind, "metadata", "missing (every object needs metadata.name)")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise _err(origin, kind, "metadata.name", "missing or not a string")
    namespace = meta.get("namespace") or "default"
    if not isinstance(namespace, str):
        raise _err(origin, f"{kind} {name}", "metadata.namespace", "must be a string")
    labels = _labels(meta.get("labels"), origin, f"{kind} {namespace}/{name}", "metadata.labels")
    return name, namespace, labels


def _labels(raw: object, origin: Origin, obj: str, field: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _err(origin, obj, field, "must be a mapping of label keys to string values")
    labels: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise _err(origin, obj, f"{field}.{key}",
                       f"label values must be strings (quote it: \"{value}\")")
        labels[key] = value
    return labels


def _namespace(obj: Mapping[str, Any], origin: Origin) -> Namespace:
    name, _, labels = _meta(obj, origin, "Namespace")
    labels.setdefault(NAME_LABEL, name)
    return Namespace(name, labels, origin)


def _container_ports(
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
                warnings.append(f"{_where(origin)}: {obj}: {where}: no containerPort "
                                f"(fields: {keys}); entry ignored")
                continue
            if not isinstance(number, int) or isinstance(number, bool) or not (
                MIN_PORT <= number <= MAX_PORT
            ):
                raise _err(origin, obj, f"{where}.containerPort",
                           f"must be a port number {MIN_PORT}-{MAX_PORT}, got {number!r}")
            protocol = raw.get("protocol") or "TCP"
            if protocol not in PROTOCOL_CHOICES:
                raise _err(origin, obj, f"{where}.protocol", f"unknown protocol {protocol!r}",
                           PROTOCOL_CHOICES)
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

    def shape(self, namespace: str, labels: dict[str, str], ports: tuple[ContainerPort, ...],
              owner: tuple[str, str], host_network: bool) -> PodShape:
        key = (namespace, tuple(sorted(labels.items())), ports, owner, host_network)
        hit = self._shapes.get(key)
        if hit is None:
            hit = self._shapes[key] = PodShape(namespace, labels, ports, Owner(*owner),
                                               host_network)
        return hit

    def pod(self, obj: Mapping[str, Any], origin: Origin) -> Pod:
        raw_meta = obj.get("metadata")
        meta: Mapping[str, Any] = raw_meta if type(raw_meta) is dict else {}
        name = meta.get("name")
        namespace = meta.get("namespace") or "default"
        if type(name) is not str or not name or type(namespace) is not str:
            name, namespace, _ = _meta(obj, origin, "Pod")  # raises, naming the field
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
            key = (namespace, tuple(raw_labels.items()) if raw_labels else None, ports_key, owner,
                   bool(spec.get("hostNetwork")))
            try:
                shape = self.by_raw.get(key)
            except TypeError:  # an unhashable field value: the full path judges it
                key = None
        if shape is None:
            ref = f"Pod {namespace}/{name}"
            shape = self.shape(namespace, _labels(raw_labels, origin, ref, "metadata.labels"),
                               _container_ports(spec, origin, ref, "spec", self.warnings), owner,
                               bool(isinstance(spec, dict) and spec.get("hostNetwork")))
            if key is not None:
                self.by_raw[key] = shape
        status = obj.get("status") or {}
        ip = status.get("podIP") if isinstance(status, dict) else None
        return Pod(name, shape, ip if isinstance(ip, str) and ip else None, origin)

    def workload_pod(self, obj: Mapping[str, Any], kind: str, origin: Origin) -> Pod:
        name, namespace, _ = _meta(obj, origin, kind)
        node: object = obj.get("spec") or {}
        field = "spec"
        for step in WORKLOAD_TEMPLATES[kind]:
            node = node.get(step) if isinstance(node, dict) else None
            field += f".{step}"
        template = node if isinstance(node, dict) else {}
        tmeta = template.get("metadata") or {}
        labels = _labels(tmeta.get("labels") if isinstance(tmeta, dict) else None, origin,
                         f"{kind} {namespace}/{name}", f"{field}.metadata.labels")
        tspec = template.get("spec") or {}
        ports = _container_ports(tspec, origin, f"{kind} {namespace}/{name}", f"{field}.spec",
                                 self.warnings)
        host_network = bool(isinstance(tspec, dict) and tspec.get("hostNetwork"))
        return Pod(name, self.shape(namespace, labels, ports, (kind, name), host_network),
                   origin=origin)


# --------------------------------------------------------------------------- policies


def _policy(obj: Mapping[str, Any], origin: Origin) -> Policy:
    name, namespace, _ = _meta(obj, origin, "NetworkPolicy")
    ref = f"NetworkPolicy {namespace}/{name}"
    spec = obj.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise _err(origin, ref, "spec", "must be a mapping")
    try:
        pod_selector = parse_selector(spec.get("podSelector"))
    except SelectorError as err:
        raise _err(origin, ref, "spec.podSelector", str(err)) from None
    ingress = _rules(spec.get("ingress"), "ingress", "from", origin, ref, namespace)
    egress = _rules(spec.get("egress"), "egress", "to", origin, ref, namespace)
    types = spec.get("policyTypes")
    if types is None:  # API defaulting (netpol-semantics.md rule 2)
        isolates_ingress, isolates_egress = True, bool(spec.get("egress"))
    else:
        if not isinstance(types, list):
            raise _err(origin, ref, "spec.policyTypes", "must be a list", POLICY_TYPES)
        for index, item in enumerate(types):
            if item not in POLICY_TYPES:
                raise _err(origin, ref, f"spec.policyTypes[{index}]",
                           f"unknown policy type {item!r}", POLICY_TYPES)
        isolates_ingress, isolates_egress = "Ingress" in types, "Egress" in types
    return Policy(namespace, name, pod_selector, ingress, egress, isolates_ingress,
                  isolates_egress, origin)


def _rules(raw: object, direction: str, peer_key: str, origin: Origin, ref: str,
           namespace: str) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _err(origin, ref, f"spec.{direction}", "must be a list of rules")
    rules: list[Rule] = []
    for index, item in enumerate(raw):
        where = f"spec.{direction}[{index}]"
        if item is None:
            item = {}
        if not isinstance(item, dict):
            raise _err(origin, ref, where, f"must be a mapping with {peer_key} and/or ports")
        unknown = set(item) - {peer_key, "ports"}
        if unknown:
            raise _err(origin, ref, f"{where}.{sorted(unknown)[0]}", "unknown field",
                       (peer_key, "ports"))
        raw_peers = item.get(peer_key)
        peers = None
        if raw_peers:
            if not isinstance(raw_peers, list):
                raise _err(origin, ref, f"{where}.{peer_key}", "must be a list of peers")
            peers = tuple(_peer(p, origin, ref, f"{where}.{peer_key}[{i}]")
                          for i, p in enumerate(raw_peers))
        raw_ports = item.get("ports")
        ports = None
        if raw_ports:
            if not isinstance(raw_ports, list):
                raise _err(origin, ref, f"{where}.ports", "must be a list")
            ports = tuple(_port(p, origin, ref, f"{where}.ports[{i}]")
                          for i, p in enumerate(raw_ports))
        rules.append(Rule(index, peers, ports))
    return tuple(rules)


def _peer(raw: object, origin: Origin, ref: str, where: str) -> Peer:
    if not isinstance(raw, dict):
        raise _err(origin, ref, where, "must be a mapping")
    unknown = set(raw) - {"podSelector", "namespaceSelector", "ipBlock"}
    if unknown:
        raise _err(origin, ref, f"{where}.{sorted(unknown)[0]}", "unknown field",
                   ("podSelector", "namespaceSelector", "ipBlock"))
    if not raw:
        raise _err(origin, ref, where,
                   "an empty peer {} is invalid; omit from/to to allow all peers, or use "
                   "namespaceSelector: {} for all pods in all namespaces")
    if "ipBlock" in raw:
        if "podSelector" in raw or "namespaceSelector" in raw:
            raise _err(origin, ref, where,
                       "ipBlock cannot be combined with podSelector or namespaceSelector in one "
                       "peer; use two peers")
        block = raw["ipBlock"]
        if not isinstance(block, dict):
            raise _err(origin, ref, f"{where}.ipBlock", "must be a mapping with cidr and except")
        excepts = block.get("except") or []
        if not isinstance(excepts, list):
            raise _err(origin, ref, f"{where}.ipBlock.except", "must be a list of CIDRs")
        try:
            return Peer(ip_block=parse_ipblock(block.get("cidr"), excepts))
        except IPBlockError as err:
            raise _err(origin, ref, f"{where}.ipBlock", str(err)) from None
    selectors = {}
    for key in ("podSelector", "namespaceSelector"):
        if key in raw:
            try:
                selectors[key] = parse_selector(raw[key])
            except SelectorError as err:
                raise _err(origin, ref, f"{where}.{key}", str(err)) from None
    return Peer(pod_selector=selectors.get("podSelector"),
                namespace_selector=selectors.get("namespaceSelector"))


def _port(raw: object, origin: Origin, ref: str, where: str) -> PortSpec:
    if not isinstance(raw, dict):
        raise _err(origin, ref, where, "must be a mapping with protocol, port, endPort")
    protocol = raw.get("protocol") or "TCP"
    if protocol not in PROTOCOL_CHOICES:
        raise _err(origin, ref, f"{where}.protocol", f"unknown protocol {protocol!r}",
                   PROTOCOL_CHOICES)
    port = raw.get("port")
    end_port = raw.get("endPort")
    if isinstance(port, bool) or (port is not None and not isinstance(port, int | str)):
        raise _err(origin, ref, f"{where}.port", "must be a number or a port name")
    if isinstance(port, int) and not (MIN_PORT <= port <= MAX_PORT):
        raise _err(origin, ref, f"{where}.port",
                   f"port {port} is out of range {MIN_PORT}-{MAX_PORT}")
    if isinstance(port, str) and (
        not _PORT_NAME.match(port) or len(port) > 15 or not any(c.isalpha() for c in port)
    ):
        raise _err(origin, ref, f"{where}.port",
                   f"{port!r} is not a valid port name (1-15 lower-case letters, digits and "
                   "'-', with a letter; write numbers unquoted)")
    if end_port is not None:
        if isinstance(port, str):
            raise _err(origin, ref, f"{where}.endPort",
                       "endPort field cannot be defined if the port field is defined as a "
                       f"named (string) port (port: {port!r})")
        if port is None:
            raise _err(origin, ref, f"{where}.endPort", "endPort needs a numeric port")
        if isinstance(end_port, bool) or not isinstance(end_port, int):
            raise _err(origin, ref, f"{where}.endPort", "must be a number")
        if end_port < port or end_port > MAX_PORT:
            raise _err(origin, ref, f"{where}.endPort",
                       f"port range {port}-{end_port} is empty or invalid: endPort must be "
                       f">= port and both in {MIN_PORT}-{MAX_PORT}")
    return PortSpec(str(protocol), port, end_port)
