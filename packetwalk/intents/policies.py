"""NetworkPolicies from ClientIntents (see the package docstring for their shape and why)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packetwalk.errors import InputError
from packetwalk.intents.model import (
    DEFAULT_DENY_NAME,
    GENERATED_FROM_LABEL,
    INTENTS_ANNOTATION,
    MANAGED_BY,
    NS_LABEL,
    SOURCE_ANNOTATION,
    ClientIntents,
    Target,
)
from packetwalk.intents.workloads import Service, ServicePort, Workload, Workloads


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
        if not service.ports:
            # `ports: []` in a rule would mean every port, the opposite of a Service target.
            raise _fail(intent, target, f"Service {target.name}.{namespace} has no ports to "
                        "allow; use a `kubernetes` target for all ports")
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

