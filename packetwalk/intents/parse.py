"""Reading ClientIntents from multi-document YAML, in both of Otterize's shapes."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from packetwalk.errors import InputError, did_you_mean
from packetwalk.intents.model import (
    API_VERSIONS,
    SUPPORTED_TARGETS,
    UNSUPPORTED_TARGETS,
    V2_VERSIONS,
    ClientIntents,
    Target,
)
from packetwalk.yamlsource import Document, load_documents

_HTTP_REASON: Final = (
    "HTTP paths and methods need a service mesh (Otterize enforces them with "
    "Istio); NetworkPolicy is L3/L4. Remove it to allow the whole port"
)
_DOMAINS_REASON: Final = (
    "domain names need DNS resolution at runtime (Otterize fills "
    "status.resolvedIPs from its network-mapper); list `ips` instead"
)
_V1_CALL_TYPES: Final = ("http", "internet", "kafka", "database", "aws", "gcp", "azure")
_V1_TYPE_TO_TARGET: Final = {
    "database": "sql",
    "kafka": "kafka",
    "aws": "aws",
    "gcp": "gcp",
    "azure": "azure",
}
_META_FIELDS: Final = (
    "name",
    "namespace",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "finalizers",
)

# Otterize's own name rules, read from otterize/intents-operator tag v3.0.19,
# src/operator/webhooks/clientintents_webhook_v2beta1.go (same in _v2alpha1.go):
# validateSpec refuses a workload name with a '.', validateKubernetesTarget and
# validateServiceTarget a target name with more than one '.'. The v1 webhooks
# (clientintents_webhook_v1alpha3.go, clientintents_webhook_v1.go for v1beta1) check only the
# target rule, on calls[].name as written (the `svc:` prefix has no dot), and never look at
# spec.service.name: a dotted v1 client name is accepted there, and so it is here (it is
# looked up as a workload of that name). The details quote the webhooks' messages.
_WORKLOAD_DOT_RULE: Final = (
    "Otterize's admission webhook refuses it (\"Workload name should not "
    "contain '.' character\"): the client always lives in the "
    "ClientIntents' own namespace (metadata.namespace), so its name "
    "never carries one"
)
_TARGET_DOTS_RULE: Final = (
    "Otterize's admission webhook refuses it (\"Target server name should "
    "not contain more than one '.' character\"): write `<name>` or "
    "`<name>.<namespace>`"
)


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

    def fail(
        self, path: tuple[str | int, ...], message: str, choices: Iterable[str] | None = None
    ) -> InputError:
        return InputError(message, source=self.source, location=self.locate(path), choices=choices)

    def mapping(
        self,
        value: object,
        path: tuple[str | int, ...],
        allowed: Sequence[str],
        required: Sequence[str] = (),
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a mapping, got {type(value).__name__}")
        for key in value:
            if key not in allowed:
                hint = did_you_mean(str(key), allowed)
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


def _target_name(doc: _Doc, value: object, path: tuple[str | int, ...]) -> str:
    """A target's name as written, refused when Otterize refuses it (see _TARGET_DOTS_RULE)."""
    name = doc.string(value, path)
    if name.count(".") > 1:
        raise doc.fail(
            path, f"target name {name!r} has {name.count('.')} '.' characters; {_TARGET_DOTS_RULE}"
        )
    return name


def duplicate_error(
    earlier: Iterable[ClientIntents], intent: ClientIntents, *, name_location: str | None = None
) -> InputError | None:
    """Why ``intent`` cannot join ``earlier`` (None when it can).

    Two objects with the same namespace and name: applied to a cluster, the later replaces the
    earlier. Two objects for the same client workload and kind in a namespace: Otterize's
    admission webhook refuses the second (``validateNoDuplicateClients`` in
    otterize/intents-operator tag v3.0.19, src/operator/webhooks/clientintents_webhook_v2beta1.go;
    the v1alpha3/v1beta1/v2alpha1 webhooks do the same). It compares the workload name and
    ``GetClientKind()``, which is the kind as written or ``OttrLegacy`` when it is omitted
    (src/operator/api/v2beta1/clientintents_types.go): so ``{name: vote}`` and ``{name: vote,
    kind: Deployment}`` are two different clients for Otterize, and both are accepted here too
    (their rules add up, as two NetworkPolicies for the same pods would). Both places are named
    as ``file:document N, line L``; ``name_location`` is where ``intent``'s metadata.name is.
    """
    for first in earlier:
        if first.namespace != intent.namespace:
            continue
        if first.name == intent.name:
            return InputError(
                f"a second ClientIntents {intent.namespace}/{intent.name} (the first is at "
                f"{first.source}:{first.where}); applied to a cluster, the second would replace "
                "the first",
                source=intent.source,
                location=name_location or intent.where,
            )
        if first.workload == intent.workload and first.workload_kind == intent.workload_kind:
            kind = f"kind {intent.workload_kind}" if intent.workload_kind else "no kind"
            return InputError(
                f"ClientIntents {intent.namespace}/{intent.name} is a second ClientIntents for "
                f"client {intent.workload} ({kind}) in namespace {intent.namespace}; the first "
                f"is {first.namespace}/{first.name} at {first.source}:"
                f"{first.workload_where or first.where}. Otterize's admission webhook refuses "
                f'the second ("Intents for client {intent.workload} already exist in resource '
                f'{first.name}"): one ClientIntents per client workload and kind in a '
                "namespace. Move these targets into the first",
                source=intent.source,
                location=intent.workload_where or intent.where,
            )
    return None


def check_unique_clients(intents: Iterable[ClientIntents]) -> None:
    """Raise the first :func:`duplicate_error` among ``intents`` (in order; any files)."""
    seen: list[ClientIntents] = []
    for intent in intents:
        error = duplicate_error(seen, intent)
        if error is not None:
            raise error
        seen.append(intent)


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
        obj = doc.mapping(
            document.data,
            (),
            ("apiVersion", "kind", "metadata", "spec", "status"),
            required=("apiVersion", "kind", "metadata", "spec"),
        )
        if obj["kind"] != "ClientIntents":
            raise doc.fail(
                ("kind",), f"expected kind ClientIntents, got {obj['kind']!r}", ("ClientIntents",)
            )
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
            client_path: tuple[str | int, ...] = ("spec", "workload", "name")
        else:
            workload, wkind, targets = _parse_v1(doc, obj["spec"])
            client_path = ("spec", "service", "name")
        intent = ClientIntents(
            name=name,
            namespace=namespace,
            workload=workload,
            workload_kind=wkind,
            targets=tuple(targets),
            api_version=api,
            source=source,
            where=f"document {document.index + 1}, line {document.start_line}",
            workload_where=doc.locate(client_path),
        )
        error = duplicate_error(result, intent, name_location=doc.locate(("metadata", "name")))
        if error is not None:
            raise error
        result.append(intent)
    return result


def load_client_intents(
    path: Path, *, source: str | None = None, default_namespace: str | None = None
) -> list[ClientIntents]:
    """Read a ClientIntents file; a missing file is an InputError."""
    label = source or str(path)
    if not path.is_file():
        raise InputError(f"ClientIntents file {label} does not exist")
    return parse_client_intents(
        path.read_text(encoding="utf-8"), source=label, default_namespace=default_namespace
    )


def _parse_v2(doc: _Doc, spec_value: object) -> tuple[str, str | None, list[Target]]:
    spec = doc.mapping(spec_value, ("spec",), ("workload", "targets"), required=("workload",))
    wl = doc.mapping(spec["workload"], ("spec", "workload"), ("name", "kind"), required=("name",))
    workload = doc.string(wl["name"], ("spec", "workload", "name"))
    if "." in workload:
        raise doc.fail(
            ("spec", "workload", "name"),
            f"workload name {workload!r} contains '.'; {_WORKLOAD_DOT_RULE}",
        )
    wkind = doc.string(wl["kind"], ("spec", "workload", "kind")) if "kind" in wl else None
    targets: list[Target] = []
    all_keys = (*SUPPORTED_TARGETS, *UNSUPPORTED_TARGETS)
    for i, item in enumerate(doc.listing(spec.get("targets") or [], ("spec", "targets"))):
        path: tuple[str | int, ...] = ("spec", "targets", i)
        entry = doc.mapping(item, path, all_keys)
        if len(entry) != 1:
            raise doc.fail(
                path,
                f"a target sets exactly one of {', '.join(all_keys)}; "
                f"found {sorted(entry) or 'none'}",
            )
        ((key, body),) = entry.items()
        if key in UNSUPPORTED_TARGETS:
            raise doc.fail(
                (*path, key), f"a {key!r} target {UNSUPPORTED_TARGETS[key]}", SUPPORTED_TARGETS
            )
        where = doc.locate(path)
        if key == "internet":
            targets.append(_internet(doc, body, (*path, key), where))
            continue
        allowed = ("name", "http") if key == "service" else ("name", "kind", "http")
        target = doc.mapping(body, (*path, key), allowed, required=("name",))
        if "http" in target:
            raise doc.fail((*path, key, "http"), _HTTP_REASON)
        name, namespace = _split_name(_target_name(doc, target["name"], (*path, key, "name")))
        kind = target.get("kind")
        if kind is not None:
            kind = doc.string(kind, (*path, key, "kind"))
        if key == "kubernetes" and kind == "Service":
            key, kind = "service", None
        targets.append(
            Target(kind=key, name=name, namespace=namespace, workload_kind=kind, where=where)
        )
    return workload, wkind, targets


def _parse_v1(doc: _Doc, spec_value: object) -> tuple[str, str | None, list[Target]]:
    spec = doc.mapping(spec_value, ("spec",), ("service", "calls"), required=("service",))
    svc = doc.mapping(spec["service"], ("spec", "service"), ("name", "kind"), required=("name",))
    workload = doc.string(svc["name"], ("spec", "service", "name"))
    wkind = doc.string(svc["kind"], ("spec", "service", "kind")) if "kind" in svc else None
    call_fields = (
        "name",
        "kind",
        "type",
        "kafkaTopics",
        "HTTPResources",
        "databaseResources",
        "awsActions",
        "gcpPermissions",
        "azureRoles",
        "azureKeyVaultPolicy",
        "azureActions",
        "azureDataActions",
        "internet",
    )
    targets: list[Target] = []
    for i, item in enumerate(doc.listing(spec.get("calls") or [], ("spec", "calls"))):
        path: tuple[str | int, ...] = ("spec", "calls", i)
        call = doc.mapping(item, path, call_fields)
        call_type = call.get("type")
        if call_type is not None and call_type not in _V1_CALL_TYPES:
            raise doc.fail((*path, "type"), f"unknown call type {call_type!r}", _V1_CALL_TYPES)
        if call_type in _V1_TYPE_TO_TARGET:
            target_key = _V1_TYPE_TO_TARGET[str(call_type)]
            raise doc.fail(
                (*path, "type"),
                f"a {call_type!r} call {UNSUPPORTED_TARGETS[target_key]}",
                ("http", "internet"),
            )
        for extra in (
            "kafkaTopics",
            "databaseResources",
            "awsActions",
            "gcpPermissions",
            "azureRoles",
            "azureKeyVaultPolicy",
            "azureActions",
            "azureDataActions",
        ):
            if extra in call:
                raise doc.fail(
                    (*path, extra), f"{extra} belongs to a call type NetworkPolicy cannot express"
                )
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
        raw = _target_name(doc, call["name"], (*path, "name"))
        kind = call.get("kind")
        if kind is not None:
            kind = doc.string(kind, (*path, "kind"))
        is_service = raw.startswith("svc:") or kind == "Service"
        name, namespace = _split_name(raw.removeprefix("svc:"))
        targets.append(
            Target(
                kind="service" if is_service else "kubernetes",
                name=name,
                namespace=namespace,
                workload_kind=None if is_service else kind,
                where=where,
            )
        )
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
            raise doc.fail(
                (*path, "ips", j), f"{text!r} is not an IP address or CIDR ({err})"
            ) from err
        ips.append(str(network))
    if not ips:
        raise doc.fail(path, "an internet target needs at least one entry in `ips`")
    ports: list[int] = []
    for j, raw in enumerate(doc.listing(spec.get("ports") or [], (*path, "ports"))):
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 65535:
            raise doc.fail((*path, "ports", j), f"expected a port number 1..65535, got {raw!r}")
        ports.append(raw)
    return Target(kind="internet", ips=tuple(ips), ports=tuple(ports), where=where)
