"""NetworkPolicy manifests in, :class:`~packetwalk.netpol.model.Policy` out.

With the API server's rules (docs/design/netpol-semantics.md): an invalid policy is an
:class:`InputError` naming the file, the policy and the field, never a guess. The metadata
reader and the error shape are the cluster reader's (:mod:`packetwalk.cluster.fields`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from packetwalk.cluster.fields import field_error as _err
from packetwalk.cluster.fields import read_meta, read_spec
from packetwalk.cluster.model import MAX_PORT, MIN_PORT, PROTOCOL_CHOICES, Origin
from packetwalk.netpol.ipblocks import IPBlockError, parse_ipblock
from packetwalk.netpol.model import Peer, Policy, PortSpec, Rule
from packetwalk.netpol.selectors import SelectorError, parse_selector

POLICY_TYPES = ("Ingress", "Egress")
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def parse_policy(obj: Mapping[str, Any], origin: Origin) -> Policy:
    name, namespace, _ = read_meta(obj, origin, "NetworkPolicy")
    ref = f"NetworkPolicy {namespace}/{name}"
    spec = read_spec(obj, origin, ref)
    try:
        pod_selector = parse_selector(spec.get("podSelector"))
    except SelectorError as err:
        raise _err(origin, ref, "spec.podSelector", str(err)) from None
    ingress = _rules(spec.get("ingress"), "ingress", "from", origin, ref, namespace)
    egress = _rules(spec.get("egress"), "egress", "to", origin, ref, namespace)
    types = spec.get("policyTypes")
    if types is None:  # API defaulting (docs/design/netpol-semantics.md rule 2)
        isolates_ingress, isolates_egress = True, bool(spec.get("egress"))
    else:
        if not isinstance(types, list):
            raise _err(origin, ref, "spec.policyTypes", "must be a list", POLICY_TYPES)
        for index, item in enumerate(types):
            if item not in POLICY_TYPES:
                raise _err(
                    origin,
                    ref,
                    f"spec.policyTypes[{index}]",
                    f"unknown policy type {item!r}",
                    POLICY_TYPES,
                )
        isolates_ingress, isolates_egress = "Ingress" in types, "Egress" in types
    return Policy(
        namespace, name, pod_selector, ingress, egress, isolates_ingress, isolates_egress, origin
    )


def _rules(
    raw: object, direction: str, peer_key: str, origin: Origin, ref: str, namespace: str
) -> tuple[Rule, ...]:
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
            raise _err(
                origin, ref, f"{where}.{sorted(unknown)[0]}", "unknown field", (peer_key, "ports")
            )
        raw_peers = item.get(peer_key)
        peers = None
        if raw_peers:
            if not isinstance(raw_peers, list):
                raise _err(origin, ref, f"{where}.{peer_key}", "must be a list of peers")
            peers = tuple(
                _peer(p, origin, ref, f"{where}.{peer_key}[{i}]") for i, p in enumerate(raw_peers)
            )
        raw_ports = item.get("ports")
        ports = None
        if raw_ports:
            if not isinstance(raw_ports, list):
                raise _err(origin, ref, f"{where}.ports", "must be a list")
            ports = tuple(
                _port(p, origin, ref, f"{where}.ports[{i}]") for i, p in enumerate(raw_ports)
            )
        rules.append(Rule(index, peers, ports))
    return tuple(rules)


def _peer(raw: object, origin: Origin, ref: str, where: str) -> Peer:
    if not isinstance(raw, dict):
        raise _err(origin, ref, where, "must be a mapping")
    unknown = set(raw) - {"podSelector", "namespaceSelector", "ipBlock"}
    if unknown:
        raise _err(
            origin,
            ref,
            f"{where}.{sorted(unknown)[0]}",
            "unknown field",
            ("podSelector", "namespaceSelector", "ipBlock"),
        )
    if not raw:
        raise _err(
            origin,
            ref,
            where,
            "an empty peer {} is invalid; omit from/to to allow all peers, or use "
            "namespaceSelector: {} for all pods in all namespaces",
        )
    if "ipBlock" in raw:
        if "podSelector" in raw or "namespaceSelector" in raw:
            raise _err(
                origin,
                ref,
                where,
                "ipBlock cannot be combined with podSelector or namespaceSelector in one "
                "peer; use two peers",
            )
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
    return Peer(
        pod_selector=selectors.get("podSelector"),
        namespace_selector=selectors.get("namespaceSelector"),
    )


def _port(raw: object, origin: Origin, ref: str, where: str) -> PortSpec:
    if not isinstance(raw, dict):
        raise _err(origin, ref, where, "must be a mapping with protocol, port, endPort")
    protocol = raw.get("protocol") or "TCP"
    if protocol not in PROTOCOL_CHOICES:
        raise _err(
            origin, ref, f"{where}.protocol", f"unknown protocol {protocol!r}", PROTOCOL_CHOICES
        )
    port = raw.get("port")
    end_port = raw.get("endPort")
    if isinstance(port, bool) or (port is not None and not isinstance(port, int | str)):
        raise _err(origin, ref, f"{where}.port", "must be a number or a port name")
    if isinstance(port, int) and not (MIN_PORT <= port <= MAX_PORT):
        raise _err(
            origin, ref, f"{where}.port", f"port {port} is out of range {MIN_PORT}-{MAX_PORT}"
        )
    if isinstance(port, str) and (
        not _PORT_NAME.match(port) or len(port) > 15 or not any(c.isalpha() for c in port)
    ):
        raise _err(
            origin,
            ref,
            f"{where}.port",
            f"{port!r} is not a valid port name (1-15 lower-case letters, digits and "
            "'-', with a letter; write numbers unquoted)",
        )
    if end_port is not None:
        if isinstance(port, str):
            raise _err(
                origin,
                ref,
                f"{where}.endPort",
                "endPort field cannot be defined if the port field is defined as a "
                f"named (string) port (port: {port!r})",
            )
        if port is None:
            raise _err(origin, ref, f"{where}.endPort", "endPort needs a numeric port")
        if isinstance(end_port, bool) or not isinstance(end_port, int):
            raise _err(origin, ref, f"{where}.endPort", "must be a number")
        if end_port < port or end_port > MAX_PORT:
            raise _err(
                origin,
                ref,
                f"{where}.endPort",
                f"port range {port}-{end_port} is empty or invalid: endPort must be "
                f">= port and both in {MIN_PORT}-{MAX_PORT}",
            )
    return PortSpec(str(protocol), port, end_port)
