"""Otterize-style ClientIntents, read from YAML and turned into Kubernetes NetworkPolicies.

A ClientIntents object lives in the client's namespace and lists what the client calls. Both of
Otterize's shapes are read (``shared/reference/otterize-intents.md``): v2 (``v2beta1`` and
``v2alpha1``: ``spec.workload`` + ``spec.targets``) and v1 (``v1alpha3`` and ``v1beta1``:
``spec.service`` + ``spec.calls``, ``svc:`` prefix for Services); the same intents give the same
policies in either shape.

The generated policies follow the intents-operator where that makes sense:

- one ``<workload>-access`` NetworkPolicy per workload, holding its ingress rules (as a server)
  and its egress rules (as a client); ``policyTypes`` lists only the directions with rules;
  ``<workload>-<kind>-access`` when two kinds share a name;
- ingress peers are ONE peer with ``namespaceSelector {kubernetes.io/metadata.name: <ns>}`` AND a
  ``podSelector`` (both must match); egress rules mirror them;
- a ``service`` target allows the Service's ``targetPort`` s (resolved to the container port
  number, so ``vote``'s Service port 8080 gives pod port 80: policies see traffic after DNAT);
  a ``kubernetes`` (workload) target allows all ports;
- ``internet`` targets become egress ``ipBlock`` rules (from ``ips`` only);
- every client gets DNS egress to ``kube-system`` ``k8s-app: kube-dns`` on UDP and TCP 53.

Deliberate differences from Otterize:

- **Selectors.** Otterize selects pods by labels its operator puts on them at runtime
  (``intents.otterize.com/access-…``). packetwalk has no operator: policies must be right the
  moment they are applied, and the evaluator must read them without a cluster. So peers and
  ``podSelector`` s use each workload's own selector (its Deployment's ``spec.selector``, i.e. its
  pod template labels).
- **Egress is always on**, and a namespace ``default-deny`` (ingress and egress, ``podSelector:
  {}``) is generated; Otterize leaves both off by default.
- **Egress to a Service lists only targetPorts**, not targetPort and port (Otterize #592 adds the
  Service port for CNIs that evaluate before DNAT; none of the lab's CNIs does, and the extra port
  would show up as an unexplained allowed flow).
- **Only managed namespaces get policies** (``PolicyOptions.namespaces``, the lab's app
  namespace). For an edge whose other end is outside them (Traefik in ``traefik`` calling
  ``vote``), only the half inside is written: ingress on ``vote``. Writing Traefik's egress into
  ``traefik`` would *isolate* Traefik for egress, cutting everything else it talks to (the API
  server, other apps' backends) which no intents file here describes.
- Targets NetworkPolicy cannot express are refused with the reason, not silently dropped:
  ``sql``, ``aws``, ``gcp``, ``azure`` (cloud/database permissions, not network paths),
  ``kafka`` (topic-level rules), ``http`` (L7 paths need a mesh) and ``internet.domains`` (needs
  DNS resolution at runtime).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from packetwalk.errors import InputError
from packetwalk.yamlsource import Document, load_documents

GROUP: Final = "k8s.otterize.com"
V2_VERSIONS: Final = ("v2beta1", "v2alpha1")
V1_VERSIONS: Final = ("v1alpha3", "v1beta1")
API_VERSIONS: Final = tuple(f"{GROUP}/{v}" for v in (*V2_VERSIONS, *V1_VERSIONS))
NS_LABEL: Final = "kubernetes.io/metadata.name"
MANAGED_BY: Final = {"app.kubernetes.io/managed-by": "packetwalk"}
GENERATED_FROM_LABEL: Final = "packetwalk.dev/generated-from"
SOURCE_ANNOTATION: Final = "packetwalk.dev/intents-file"
INTENTS_ANNOTATION: Final = "packetwalk.dev/intents"
DEFAULT_DENY_NAME: Final = "default-deny"

SUPPORTED_TARGETS: Final = ("service", "kubernetes", "internet")
UNSUPPORTED_TARGETS: Final = {
    "sql": "grants database privileges, not a network path (Otterize writes no NetworkPolicy for "
           "it either)",
    "aws": "grants cloud IAM permissions, not a network path",
    "gcp": "grants cloud IAM permissions, not a network path",
    "azure": "grants cloud IAM permissions, not a network path",
    "kafka": "is about topics and operations, which NetworkPolicy cannot express; use a "
             "`service` target for the broker's Service to allow its ports",
}
_HTTP_REASON: Final = ("HTTP paths and methods need a service mesh (Otterize enforces them with "
                       "Istio); NetworkPolicy is L3/L4. Remove it to allow the whole port")
_DOMAINS_REASON: Final = ("domain names need DNS resolution at runtime (Otterize fills "
                          "status.resolvedIPs from its network-mapper); list `ips` instead")
_V1_CALL_TYPES: Final = ("http", "internet", "kafka", "database", "aws", "gcp", "azure")
_V1_TYPE_TO_TARGET: Final = {"database": "sql", "kafka": "kafka", "aws": "aws", "gcp": "gcp",
                             "azure": "azure"}
_META_FIELDS: Final = ("name", "namespace", "labels", "annotations", "uid", "resourceVersion",
                       "generation", "creationTimestamp", "managedFields", "finalizers")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


# --- model ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One thing a client calls: a Service, a workload or internet addresses."""

    kind: str
    """``service``, ``kubernetes`` or ``internet``."""
    name: str = ""
    namespace: str | None = None
    """From ``name.namespace``; None means the client's own namespace."""
    workload_kind: str | None = None
    ips: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    where: str = ""
    """Where in the file the target was written, for errors."""

    def describe(self) -> str:
        if self.kind == "internet":
            return f"internet {', '.join(self.ips)}"
        ns = f".{self.namespace}" if self.namespace else ""
        return f"{self.kind} {self.name}{ns}"


@dataclass(frozen=True)
class ClientIntents:
    """One ClientIntents object, normalised from either API shape."""

    name: str
    namespace: str
    workload: str
    workload_kind: str | None
    targets: tuple[Target, ...]
    api_version: str
    source: str
    where: str


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


# --- parsing -------------------------------------------------------------------------------------


class _Doc:
    """Error helper for one YAML document: locations read 'document N, line L, field F'."""

    def __init__(self, document: Document, source: str):
        self.document = document
        self.source = source

    def locate(self, path: tuple[str | int, ...]) -> str:
        dotted = ""
        for part in path:
            dotted += f"[{part}]" if isinstance(part, int) else (f".{part}" if dotted else part)
        where = f"document {self.document.index + 1}, line {self.document.line(path)}"
        return f"{where}, {dotted}" if dotted else where

    def fail(self, path: tuple[str | int, ...], message: str,
             choices: Iterable[str] | None = None) -> InputError:
        return InputError(message, source=self.source, location=self.locate(path),
                          choices=choices)

    def mapping(self, value: object, path: tuple[str | int, ...], allowed: Sequence[str],
                required: Sequence[str] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a mapping, got {type(value).__name__}")
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), list(allowed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise self.fail((*path, str(key)), f"unknown field {key!r}{hint}", allowed)
        for key in required:
            if key not in value:
                raise self.fail(path, f"missing field {key!r}")
        return value

    def string(self, value: object, path: tuple[str | int, ...]) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(path, f"expected a non-empty string, got {value!r}")
        return value

    def listing(self, value: object, path: tuple[str | int, ...]) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list, got {type(value).__name__}")
        return value


def _split_name(name: str) -> tuple[str, str | None]:
    if "." in name:
        base, namespace = name.split(".", 1)
        return base, namespace
    return name, None


def parse_client_intents(
    text: str, *, source: str, default_namespace: str | None = None
) -> list[ClientIntents]:
    """Every ClientIntents in a multi-document YAML text.

    Objects without ``metadata.namespace`` land in ``default_namespace`` (as ``kubectl apply -n``
    would put them); without one that is an error.
    """
    result: list[ClientIntents] = []
    for document in load_documents(text, source=source):
        doc = _Doc(document, source)
        obj = doc.mapping(document.data, (), ("apiVersion", "kind", "metadata", "spec", "status"),
                          required=("apiVersion", "kind", "metadata", "spec"))
        if obj["kind"] != "ClientIntents":
            raise doc.fail(("kind",), f"expected kind ClientIntents, got {obj['kind']!r}",
                           ("ClientIntents",))
        api = obj["apiVersion"]
        if api not in API_VERSIONS:
            raise doc.fail(("apiVersion",), f"unsupported apiVersion {api!r}", API_VERSIONS)
        meta = doc.mapping(obj["metadata"], ("metadata",), _META_FIELDS, required=("name",))
        name = doc.string(meta["name"], ("metadata", "name"))
        namespace = meta.get("namespace", default_namespace)
        if namespace is None:
            raise doc.fail(("metadata",), "missing metadata.namespace (the client's namespace)")
        namespace = doc.string(namespace, ("metadata", "namespace"))
        version = api.split("/", 1)[1]
        if version in V2_VERSIONS:
            workload, wkind, targets = _parse_v2(doc, obj["spec"])
        else:
            workload, wkind, targets = _parse_v1(doc, obj["spec"])
        line = document.start_line
        result.append(ClientIntents(
            name=name, namespace=namespace, workload=workload, workload_kind=wkind,
            targets=tuple(targets), api_version=api, source=source,
            where=f"document {document.index + 1}, line {line}",
        ))
    return result


def load_client_intents(path: Path, *, source: str | None = None,
                        default_namespace: str | None = None) -> list[ClientIntents]:
    """Read a ClientIntents file; a missing file is an InputError."""
    label = source or str(path)
    if not path.is_file():
        raise InputError(f"ClientIntents file {label} does not exist")
    return parse_client_intents(path.read_text(encoding="utf-8"), source=label,
                                default_namespace=default_namespace)


def _parse_v2(doc: _Doc, spec_value: object) -> tuple[str, str | None, list[Target]]:
    spec = doc.mapping(spec_value, ("spec",), ("workload", "targets"), required=("workload",))
    wl = doc.mapping(spec["workload"], ("spec", "workload"), ("name", "kind"), required=("name",))
    workload = doc.string(wl["name"], ("spec", "workload", "name"))
    wkind = doc.string(wl["kind"], ("spec", "workload", "kind")) if "kind" in wl else None
    targets: list[Target] = []
    all_keys = (*SUPPORTED_TARGETS, *UNSUPPORTED_TARGETS)
    for i, item in enumerate(doc.listing(spec.get("targets") or [], ("spec", "targets"))):
        path: tuple[str | int, ...] = ("spec", "targets", i)
        entry = doc.mapping(item, path, all_keys)
        if len(entry) != 1:
            raise doc.fail(path, f"a target sets exactly one of {', '.join(all_keys)}; "
                           f"found {sorted(entry) or 'none'}")
        (key, body), = entry.items()
        if key in UNSUPPORTED_TARGETS:
            raise doc.fail((*path, key), f"a {key!r} target {UNSUPPORTED_TARGETS[key]}",
                           SUPPORTED_TARGETS)
        where = doc.locate(path)
        if key == "internet":
            targets.append(_internet(doc, body, (*path, key), where))
            continue
        allowed = ("name", "http") if key == "service" else ("name", "kind", "http")
        target = doc.mapping(body, (*path, key), allowed, required=("name",))
        if "http" in target:
            raise doc.fail((*path, key, "http"), _HTTP_REASON)
        name, namespace = _split_name(doc.string(target["name"], (*path, key, "name")))
        kind = target.get("kind")
        if kind is not None:
            kind = doc.string(kind, (*path, key, "kind"))
        if key == "kubernetes" and kind == "Service":
            key, kind = "service", None
        targets.append(Target(kind=key, name=name, namespace=namespace, workload_kind=kind,
                              where=where))
    return workload, wkind, targets


def _parse_v1(doc: _Doc, spec_value: object) -> tuple[str, str | None, list[Target]]:
    spec = doc.mapping(spec_value, ("spec",), ("service", "calls"), required=("service",))
    svc = doc.mapping(spec["service"], ("spec", "service"), ("name", "kind"), required=("name",))
    workload = doc.string(svc["name"], ("spec", "service", "name"))
    wkind = doc.string(svc["kind"], ("spec", "service", "kind")) if "kind" in svc else None
    call_fields = ("name", "kind", "type", "kafkaTopics", "HTTPResources", "databaseResources",
                   "awsActions", "gcpPermissions", "azureRoles", "azureKeyVaultPolicy",
                   "azureActions", "azureDataActions", "internet")
    targets: list[Target] = []
    for i, item in enumerate(doc.listing(spec.get("calls") or [], ("spec", "calls"))):
        path: tuple[str | int, ...] = ("spec", "calls", i)
        call = doc.mapping(item, path, call_fields)
        call_type = call.get("type")
        if call_type is not None and call_type not in _V1_CALL_TYPES:
            raise doc.fail((*path, "type"), f"unknown call type {call_type!r}", _V1_CALL_TYPES)
        if call_type in _V1_TYPE_TO_TARGET:
            target_key = _V1_TYPE_TO_TARGET[str(call_type)]
            raise doc.fail((*path, "type"), f"a {call_type!r} call "
                           f"{UNSUPPORTED_TARGETS[target_key]}", ("http", "internet"))
        for extra in ("kafkaTopics", "databaseResources", "awsActions", "gcpPermissions",
                      "azureRoles", "azureKeyVaultPolicy", "azureActions", "azureDataActions"):
            if extra in call:
                raise doc.fail((*path, extra), f"{extra} belongs to a call type NetworkPolicy "
                               "cannot express")
        if "HTTPResources" in call:
            raise doc.fail((*path, "HTTPResources"), _HTTP_REASON)
        where = doc.locate(path)
        if call_type == "internet":
            if "name" in call:
                raise doc.fail((*path, "name"), "an internet call has no name; use `internet:`")
            if "internet" not in call:
                raise doc.fail(path, "an internet call needs `internet: {ips: [...]}`")
            targets.append(_internet(doc, call["internet"], (*path, "internet"), where))
            continue
        if "internet" in call:
            raise doc.fail((*path, "internet"), "`internet` needs `type: internet`")
        if "name" not in call:
            raise doc.fail(path, "missing field 'name'")
        raw = doc.string(call["name"], (*path, "name"))
        kind = call.get("kind")
        if kind is not None:
            kind = doc.string(kind, (*path, "kind"))
        is_service = raw.startswith("svc:") or kind == "Service"
        name, namespace = _split_name(raw.removeprefix("svc:"))
        targets.append(Target(kind="service" if is_service else "kubernetes", name=name,
                              namespace=namespace,
                              workload_kind=None if is_service else kind, where=where))
    return workload, wkind, targets


def _internet(doc: _Doc, body: object, path: tuple[str | int, ...], where: str) -> Target:
    spec = doc.mapping(body, path, ("domains", "ips", "ports"))
    if spec.get("domains"):
        raise doc.fail((*path, "domains"), _DOMAINS_REASON)
    ips: list[str] = []
    for j, raw in enumerate(doc.listing(spec.get("ips") or [], (*path, "ips"))):
        text = doc.string(raw, (*path, "ips", j))
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as err:
            raise doc.fail((*path, "ips", j), f"{text!r} is not an IP address or CIDR "
                           f"({err})") from err
        ips.append(str(network))
    if not ips:
        raise doc.fail(path, "an internet target needs at least one entry in `ips`")
    ports: list[int] = []
    for j, raw in enumerate(doc.listing(spec.get("ports") or [], (*path, "ports"))):
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 65535:
            raise doc.fail((*path, "ports", j), f"expected a port number 1..65535, got {raw!r}")
        ports.append(raw)
    return Target(kind="internet", ips=tuple(ips), ports=tuple(ports), where=where)


# --- policy generation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyOptions:
    namespaces: frozenset[str]
    """The namespaces packetwalk manages: only these get policies (see the module docstring)."""
    default_deny: bool = True
    allow_dns: bool = True
    dns_namespace: str = "kube-system"
    dns_selector: Mapping[str, str] = field(default_factory=lambda: {"k8s-app": "kube-dns"})
    generated_from: str = ""
    """The intents file, recorded on every generated policy."""


PortSpec = dict[str, Any]
Rule = dict[str, Any]


def _peer(namespace: str, selector: Mapping[str, str]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {NS_LABEL: namespace}},
            "podSelector": {"matchLabels": dict(sorted(selector.items()))}}


def _label_value(text: str) -> str:
    """A valid label value naming ``text`` (a file path has '/', which labels forbid)."""
    value = re.sub(r"[^A-Za-z0-9._-]", "-", Path(text).name)[:63]
    return value.strip("-._")


def _resolve_port(service: Service, port: ServicePort, servers: list[Workload],
                  intent: ClientIntents, target: Target) -> PortSpec:
    if isinstance(port.target_port, int):
        return {"protocol": port.protocol, "port": port.target_port}
    numbers = {
        cp.port for server in servers for cp in server.ports
        if cp.name == port.target_port and cp.protocol == port.protocol
    }
    if not numbers:
        raise InputError(
            f"Service {service.name}.{service.namespace} port {port.port} targets the named port "
            f"{port.target_port!r}, which no pod behind it declares",
            source=intent.source, location=target.where,
        )
    if len(numbers) == 1:
        return {"protocol": port.protocol, "port": numbers.pop()}
    # Different pods use different numbers: keep the name, NetworkPolicy resolves it per pod.
    return {"protocol": port.protocol, "port": port.target_port}


@dataclass
class _Policy:
    workload: Workload
    ingress: list[Rule] = field(default_factory=list)
    egress: list[Rule] = field(default_factory=list)
    intents: set[str] = field(default_factory=set)


def _fail(intent: ClientIntents, target: Target | None, message: str,
          choices: Iterable[str] | None = None) -> InputError:
    location = target.where if target is not None else intent.where
    return InputError(message, source=intent.source, location=location, choices=choices)


def _servers(intent: ClientIntents, target: Target, workloads: Workloads
             ) -> tuple[list[Workload], list[PortSpec] | None]:
    namespace = target.namespace or intent.namespace
    if target.kind == "service":
        service = workloads.service(namespace, target.name)
        if service is None:
            raise _fail(intent, target, f"ClientIntents {intent.namespace}/{intent.name} calls "
                        f"unknown Service {target.name}.{namespace}", workloads.known_services())
        servers = workloads.backing(service)
        if not servers:
            raise _fail(intent, target, f"Service {target.name}.{namespace} selects no known "
                        "workload, so there are no pods to allow traffic to")
        ports: list[PortSpec] = []
        for port in service.ports:
            spec = _resolve_port(service, port, servers, intent, target)
            if spec not in ports:
                ports.append(spec)
        return servers, ports
    server = _one_workload(workloads, intent, target, namespace, target.name,
                           target.workload_kind, "calls")
    return [server], None


def _one_workload(workloads: Workloads, intent: ClientIntents, target: Target | None,
                  namespace: str, name: str, kind: str | None, verb: str) -> Workload:
    found = workloads.matching(namespace, name, kind)
    if len(found) == 1:
        return found[0]
    what = f"ClientIntents {intent.namespace}/{intent.name} {verb}"
    if not found:
        raise _fail(intent, target, f"{what} unknown workload {name}.{namespace}"
                    + (f" of kind {kind}" if kind else ""), workloads.known_workloads())
    raise _fail(intent, target, f"{what} {name}.{namespace}, which is ambiguous: set its kind",
                sorted(w.kind for w in found))


def _rule(key: str, peers: list[dict[str, Any]], ports: list[PortSpec] | None) -> Rule:
    rule: Rule = {key: peers}
    if ports is not None:
        rule["ports"] = ports
    return rule


def _add(rules: list[Rule], rule: Rule) -> None:
    if rule not in rules:
        rules.append(rule)


def _sorted_rules(rules: list[Rule]) -> list[Rule]:
    return sorted(rules, key=lambda r: json.dumps(r, sort_keys=True))


def policies_from_intents(
    intents: Sequence[ClientIntents], workloads: Workloads, options: PolicyOptions
) -> list[dict[str, Any]]:
    """NetworkPolicy dicts for ``intents`` (see the module docstring for their shape)."""
    policies: dict[tuple[str, str, str], _Policy] = {}

    def policy(workload: Workload) -> _Policy:
        key = (workload.namespace, workload.name, workload.kind)
        if key not in policies:
            policies[key] = _Policy(workload)
        return policies[key]

    dns_rule = _rule("to", [_peer(options.dns_namespace, options.dns_selector)],
                     [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}])
    for intent in intents:
        client = _one_workload(workloads, intent, None, intent.namespace, intent.workload,
                               intent.workload_kind, "is for")
        label = f"{intent.namespace}/{intent.name}"
        client_managed = client.namespace in options.namespaces
        if client_managed:
            own = policy(client)
            own.intents.add(label)
            if options.allow_dns:
                _add(own.egress, dns_rule)
        for target in intent.targets:
            if target.kind == "internet":
                if client_managed:
                    peers = [{"ipBlock": {"cidr": ip}} for ip in target.ips]
                    ports = ([{"protocol": "TCP", "port": p} for p in target.ports]
                             if target.ports else None)
                    _add(policy(client).egress, _rule("to", peers, ports))
                continue
            servers, ports = _servers(intent, target, workloads)
            for server in servers:
                if client_managed:
                    _add(policy(client).egress,
                         _rule("to", [_peer(server.namespace, server.selector)], ports))
                if server.namespace in options.namespaces:
                    theirs = policy(server)
                    theirs.intents.add(label)
                    _add(theirs.ingress,
                         _rule("from", [_peer(client.namespace, client.selector)], ports))

    result: list[dict[str, Any]] = []
    if options.default_deny:
        result.extend(default_deny(ns, generated_from=options.generated_from)
                      for ns in sorted(options.namespaces))
    # Like Otterize, the kind joins the name only when two kinds share a workload name.
    shared = Counter((ns, name) for ns, name, _ in policies)
    for (ns, name, kind), entry in sorted(policies.items()):
        if entry.ingress or entry.egress:  # an empty policy would still isolate ingress
            base = name if shared[(ns, name)] == 1 else f"{name}-{kind.lower()}"
            result.append(_policy_object(entry, options, f"{base}-access"))
    return result


def _metadata(name: str, namespace: str, generated_from: str,
              extra_annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    labels = dict(MANAGED_BY)
    annotations: dict[str, str] = dict(extra_annotations or {})
    if generated_from:
        value = _label_value(generated_from)
        if value:
            labels[GENERATED_FROM_LABEL] = value
        annotations[SOURCE_ANNOTATION] = generated_from
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if annotations:
        meta["annotations"] = dict(sorted(annotations.items()))
    return meta


def default_deny(namespace: str, *, generated_from: str = "") -> dict[str, Any]:
    """Deny all ingress and egress of every pod in ``namespace`` (allow policies add to it)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(DEFAULT_DENY_NAME, namespace, generated_from),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def _policy_object(entry: _Policy, options: PolicyOptions, name: str) -> dict[str, Any]:
    workload = entry.workload
    spec: dict[str, Any] = {"podSelector": {"matchLabels": dict(sorted(workload.selector.items()))}}
    types: list[str] = []
    if entry.ingress:
        types.append("Ingress")
        spec["ingress"] = _sorted_rules(entry.ingress)
    if entry.egress:
        types.append("Egress")
        spec["egress"] = _sorted_rules(entry.egress)
    spec["policyTypes"] = types
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(name, workload.namespace,
                              options.generated_from,
                              {INTENTS_ANNOTATION: ", ".join(sorted(entry.intents))}),
        "spec": spec,
    }
