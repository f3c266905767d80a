"""NetworkPolicies from ClientIntents (see the package docstring for their shape and why)."""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packetwalk.cluster.model import ServiceInfo, ServicePort, WorkloadInfo
from packetwalk.errors import InputError
from packetwalk.intents.model import (
    API_SERVER_NAMESPACE,
    API_SERVER_SERVICE,
    DEFAULT_DENY_NAME,
    GENERATED_FROM_LABEL,
    INTENTS_ANNOTATION,
    MANAGED_BY,
    NS_LABEL,
    SOURCE_ANNOTATION,
    ClientIntents,
    Target,
)
from packetwalk.intents.parse import check_unique_clients
from packetwalk.intents.workloads import Workloads


class ApiServerAddressesUnknown(InputError):
    """An intent targets the API server, and the objects given do not say where it is.

    ``missing`` names what was not given. Callers that know more about the cluster (the lab:
    which stack, which service subnet) catch it to add what they know.
    """

    def __init__(
        self,
        message: str,
        *,
        missing: Sequence[str],
        source: str | None = None,
        location: str | None = None,
    ) -> None:
        self.missing = tuple(missing)
        super().__init__(message, source=source, location=location)


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
    return {
        "namespaceSelector": {"matchLabels": {NS_LABEL: namespace}},
        "podSelector": {"matchLabels": dict(sorted(selector.items()))},
    }


def _label_value(text: str) -> str:
    """A valid label value naming ``text`` (a file path has '/', which labels forbid)."""
    value = re.sub(r"[^A-Za-z0-9._-]", "-", Path(text).name)[:63]
    return value.strip("-._")


def _resolve_port(
    service: ServiceInfo,
    port: ServicePort,
    servers: list[WorkloadInfo],
    intent: ClientIntents,
    target: Target,
) -> PortSpec:
    if isinstance(port.target_port, int):
        return {"protocol": port.protocol, "port": port.target_port}
    numbers = {
        cp.port
        for server in servers
        for cp in server.ports
        if cp.name == port.target_port and cp.protocol == port.protocol
    }
    if not numbers:
        raise InputError(
            f"Service {service.name}.{service.namespace} port {port.port} targets the named port "
            f"{port.target_port!r}, which no pod behind it declares",
            source=intent.source,
            location=target.where,
        )
    if len(numbers) == 1:
        return {"protocol": port.protocol, "port": numbers.pop()}
    # Different pods use different numbers: keep the name, NetworkPolicy resolves it per pod.
    return {"protocol": port.protocol, "port": port.target_port}


@dataclass
class _Policy:
    workload: WorkloadInfo
    ingress: list[Rule] = field(default_factory=list)
    egress: list[Rule] = field(default_factory=list)
    intents: set[str] = field(default_factory=set)


def _fail(
    intent: ClientIntents, target: Target | None, message: str, choices: Iterable[str] | None = None
) -> InputError:
    location = target.where if target is not None else intent.where
    return InputError(message, source=intent.source, location=location, choices=choices)


def _servers(
    intent: ClientIntents, target: Target, workloads: Workloads
) -> tuple[list[WorkloadInfo], list[PortSpec] | None]:
    namespace = target.namespace or intent.namespace
    if target.kind == "service":
        service = workloads.service(namespace, target.name)
        if service is None:
            raise _fail(
                intent,
                target,
                f"ClientIntents {intent.namespace}/{intent.name} calls "
                f"unknown Service {target.name}.{namespace}",
                workloads.known_services(),
            )
        servers = workloads.backing(service)
        if not servers:
            raise _fail(
                intent,
                target,
                f"Service {target.name}.{namespace} selects no known "
                "workload, so there are no pods to allow traffic to",
            )
        if not service.ports:
            # `ports: []` in a rule would mean every port, the opposite of a Service target.
            raise _fail(
                intent,
                target,
                f"Service {target.name}.{namespace} has no ports to "
                "allow; use a `kubernetes` target for all ports",
            )
        ports: list[PortSpec] = []
        for port in service.ports:
            spec = _resolve_port(service, port, servers, intent, target)
            if spec not in ports:
                ports.append(spec)
        return servers, ports
    server = _one_workload(
        workloads, intent, target, namespace, target.name, target.workload_kind, "calls"
    )
    return [server], None


def _one_workload(
    workloads: Workloads,
    intent: ClientIntents,
    target: Target | None,
    namespace: str,
    name: str,
    kind: str | None,
    verb: str,
) -> WorkloadInfo:
    found = workloads.matching(namespace, name, kind)
    if len(found) == 1:
        return found[0]
    what = f"ClientIntents {intent.namespace}/{intent.name} {verb}"
    if not found:
        hint = ""
        if target is not None and (namespace, name) == (API_SERVER_NAMESPACE, API_SERVER_SERVICE):
            hint = (
                "; the API server is a Service target: `service: {name: kubernetes.default}` "
                "(v1: `name: svc:kubernetes.default`)"
            )
        raise _fail(
            intent,
            target,
            f"{what} unknown workload {name}.{namespace}"
            + (f" of kind {kind}" if kind else "")
            + hint,
            workloads.known_workloads(),
        )
    raise _fail(
        intent,
        target,
        f"{what} {name}.{namespace}, which is ambiguous: set its kind",
        sorted(w.kind for w in found),
    )


def _is_api_server(intent: ClientIntents, target: Target, workloads: Workloads) -> bool:
    """Whether ``target`` is the API server: the Service ``kubernetes`` in ``default``.

    As upstream ``IsTargetTheKubernetesAPIServer`` (name ``kubernetes``, namespace ``default``,
    the client's namespace when none is written) together with the builder's test that the
    Service has no selector (otterize/intents-operator v3.0.19,
    src/operator/api/v2alpha1/clientintents_types.go and
    src/operator/controllers/intents_reconcilers/networkpolicy/builders/
    port_egress_network_policy.go): a ``kubernetes`` Service with a selector is an ordinary one.
    """
    if target.kind != "service" or target.name != API_SERVER_SERVICE:
        return False
    if (target.namespace or intent.namespace) != API_SERVER_NAMESPACE:
        return False
    service = workloads.service(API_SERVER_NAMESPACE, API_SERVER_SERVICE)
    return service is None or not service.selector


def _api_server_rule(intent: ClientIntents, target: Target, workloads: Workloads) -> Rule:
    """Egress to the API server: ``ipBlock`` /32 (IPv6: /128) for the ``kubernetes`` Service's
    ClusterIPs and for each ready endpoint address, on the endpoints' ports.

    Upstream (``collectIpsFromSVC`` in otterize/intents-operator v3.0.19,
    src/operator/controllers/intents_reconcilers/networkpolicy/builders/
    port_egress_network_policy.go) reads ``spec.clusterIP``, ``spec.clusterIPs`` and the
    ``Endpoints`` object's ``subsets[].addresses`` and ``subsets[].ports``, and fails with "no
    endpoints found" without them. packetwalk reads the same from the objects it is given
    (EndpointSlices too: the Endpoints API is deprecated since Kubernetes 1.33), lists each
    address once, and writes ``/128`` for an IPv6 address where upstream writes ``/32``. Both
    halves are needed: the lab's CNIs evaluate policies after kube-proxy's DNAT, so the packet
    they see goes to an endpoint address on the endpoint port (6443 on kind), not to the
    ClusterIP on 443. Nothing is guessed: without them this raises ApiServerAddressesUnknown.
    The API server is no pod in a managed namespace, so there is no ingress half (upstream
    skips it too, "Currently only egress is supported for the kubernetes API server").
    """
    service = workloads.service(API_SERVER_NAMESPACE, API_SERVER_SERVICE)
    endpoints = workloads.endpoints(API_SERVER_NAMESPACE, API_SERVER_SERVICE)
    ref = f"{API_SERVER_SERVICE}.{API_SERVER_NAMESPACE}"
    missing: list[str] = []
    if service is None:
        missing.append(
            f"the Service {API_SERVER_SERVICE} in namespace {API_SERVER_NAMESPACE} "
            "(for its spec.clusterIP, the address clients dial)"
        )
    elif not service.cluster_ips:
        missing.append(f"the ClusterIP of Service {ref} (the object given has no spec.clusterIP)")
    if endpoints is None:
        missing.append(
            f"its endpoints: an EndpointSlice labelled kubernetes.io/service-name="
            f"{API_SERVER_SERVICE} or the Endpoints {API_SERVER_SERVICE}, in namespace "
            f"{API_SERVER_NAMESPACE} (the API server's own addresses and port)"
        )
    elif not endpoints.addresses:
        missing.append(f"a ready endpoint address ({', '.join(endpoints.sources)} list none)")
    elif not endpoints.ports:
        missing.append(f"an endpoint port ({', '.join(endpoints.sources)} list none)")
    if missing:
        raise ApiServerAddressesUnknown(
            f"ClientIntents {intent.namespace}/{intent.name} calls the API server (Service "
            f"{ref}), which becomes egress to that Service's ClusterIP and to its endpoint "
            f"addresses, taken from the objects policies are built from. Missing: "
            f"{'; '.join(missing)}. packetwalk does not guess them: read them from the "
            f"running cluster (kubectl get service {API_SERVER_SERVICE} -n "
            f"{API_SERVER_NAMESPACE} -o yaml; kubectl get endpointslices -n "
            f"{API_SERVER_NAMESPACE} -l kubernetes.io/service-name={API_SERVER_SERVICE} -o yaml) "
            "and pass them with the other objects",
            missing=missing,
            source=intent.source,
            location=target.where,
        )
    assert service is not None and endpoints is not None
    peers: list[dict[str, Any]] = []
    for text in dict.fromkeys((*service.cluster_ips, *endpoints.addresses)):
        try:
            address = ipaddress.ip_address(text)
        except ValueError as err:
            raise _fail(
                intent,
                target,
                f"Service {ref}: {text!r} (from the objects given) is not an IP address ({err})",
            ) from err
        peers.append({"ipBlock": {"cidr": f"{address}/{address.max_prefixlen}"}})
    ports: list[PortSpec] = [{"protocol": p.protocol, "port": p.port} for p in endpoints.ports]
    return _rule("to", peers, ports)


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
    """NetworkPolicy dicts for ``intents`` (see the package docstring for their shape).

    ``intents`` may come from several files; two for the same client are refused as Otterize's
    webhook refuses them (see :func:`packetwalk.intents.parse.duplicate_error`).
    """
    check_unique_clients(intents)
    policies: dict[tuple[str, str, str], _Policy] = {}

    def policy(workload: WorkloadInfo) -> _Policy:
        key = (workload.namespace, workload.name, workload.kind)
        if key not in policies:
            policies[key] = _Policy(workload)
        return policies[key]

    dns_rule = _rule(
        "to",
        [_peer(options.dns_namespace, options.dns_selector)],
        [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    )
    for intent in intents:
        client = _one_workload(
            workloads,
            intent,
            None,
            intent.namespace,
            intent.workload,
            intent.workload_kind,
            "is for",
        )
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
                    ports = (
                        [{"protocol": "TCP", "port": p} for p in target.ports]
                        if target.ports
                        else None
                    )
                    _add(policy(client).egress, _rule("to", peers, ports))
                continue
            if _is_api_server(intent, target, workloads):
                if client_managed:
                    _add(policy(client).egress, _api_server_rule(intent, target, workloads))
                continue
            servers, ports = _servers(intent, target, workloads)
            for server in servers:
                if client_managed:
                    _add(
                        policy(client).egress,
                        _rule("to", [_peer(server.namespace, server.selector)], ports),
                    )
                if server.namespace in options.namespaces:
                    theirs = policy(server)
                    theirs.intents.add(label)
                    _add(
                        theirs.ingress,
                        _rule("from", [_peer(client.namespace, client.selector)], ports),
                    )

    result: list[dict[str, Any]] = []
    if options.default_deny:
        result.extend(
            default_deny(ns, generated_from=options.generated_from)
            for ns in sorted(options.namespaces)
        )
    # `<workload>-access`, the kind joined only when two kinds share a workload name. Otterize
    # joins it whenever the identity has one (see "Names" in the package docstring).
    shared = Counter((ns, name) for ns, name, _ in policies)
    for (ns, name, kind), entry in sorted(policies.items()):
        if entry.ingress or entry.egress:  # an empty policy would still isolate ingress
            base = name if shared[(ns, name)] == 1 else f"{name}-{kind.lower()}"
            result.append(_policy_object(entry, options, f"{base}-access"))
    return result


def _metadata(
    name: str,
    namespace: str,
    generated_from: str,
    extra_annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
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
        "metadata": _metadata(
            name,
            workload.namespace,
            options.generated_from,
            {INTENTS_ANNOTATION: ", ".join(sorted(entry.intents))},
        ),
        "spec": spec,
    }
