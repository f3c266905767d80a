"""Probe planning: which pairs and ports, and the evaluator's verdict for each."""

from __future__ import annotations

from typing import Any

import pytest
from verify_lab import lab_objects

from packetwalk.errors import InputError
from packetwalk.netpol.evaluator import Analysis, analyze
from packetwalk.netpol.loader import cluster_from_objects
from packetwalk.verify.plan import (
    ALL_PORTS,
    Endpoint,
    PortChoice,
    Scope,
    parse_address,
    parse_ports,
    plan_probes,
    pod_label,
)


def scope(ports: PortChoice = ALL_PORTS, **extra: Any) -> tuple[Analysis, Scope]:
    analysis = analyze(cluster_from_objects(lab_objects(), source="test"))
    pods = {pod_label(p): p for p in analysis.cluster.pods}
    in_scope = [p for label, p in pods.items() if label.startswith("vote/")]
    nodes = {"vote/vote-0": "lab-worker", "vote/db-0": "lab-worker", "vote/redis-0": "lab-worker2"}
    nodes["vote/worker-0"] = "lab-worker2"
    return analysis, Scope(
        in_scope,
        nodes,
        others=[pods["traefik/traefik-0"]],
        dns=pods["kube-system/coredns-0"],
        ports=ports,
        **extra,
    )


def test_pairs_ports_and_verdicts() -> None:
    analysis, sc = scope(PortChoice("declared"))
    probes = plan_probes(analysis, sc)
    verdicts = {p.text: p.expected for p in probes}
    assert verdicts["vote/vote-0 -> vote/redis-0:6379/TCP"] is True
    assert verdicts["vote/worker-0 -> vote/db-0:5432/TCP"] is True
    assert verdicts["vote/vote-0 -> vote/db-0:5432/TCP"] is False
    assert verdicts["traefik/traefik-0 -> vote/vote-0:80/TCP"] is True
    assert verdicts["vote/vote-0 -> dns:53/UDP"] is True
    assert not any(p.source.endpoint.label == p.target.label for p in probes)
    # worker declares no port: with declared ports only it is no destination
    assert not any(p.target.label == "vote/worker-0" for p in probes)
    assert [p.id for p in probes] == list(range(len(probes)))


def test_all_adds_undeclared_ports_that_policies_deny() -> None:
    analysis, sc = scope()
    probes = plan_probes(analysis, sc)
    undeclared = [p for p in probes if not p.declared]
    assert {p.port for p in undeclared} == {81, 9999}
    assert not any(p.expected for p in undeclared)


def test_outside_client_skips_its_own_node_and_external_is_judged() -> None:
    outside = Endpoint("outside (node lab-worker)", "172.18.0.3", node="lab-worker")
    analysis, sc = scope(PortChoice("list", (80,)), outside=outside, external=("1.1.1.1", 443))
    probes = plan_probes(analysis, sc)
    from_outside = {p.target.label for p in probes if p.source.kind == "outside"}
    assert from_outside == {"vote/redis-0", "vote/worker-0"}  # vote-0 and db-0 share its node
    external = {p.source.endpoint.label: p.expected for p in probes if p.target_kind == "external"}
    assert external["vote/vote-0"] is False  # default-deny egress
    assert external["traefik/traefik-0"] is True  # no policy in traefik


def test_port_and_address_options() -> None:
    assert parse_ports("declared") == PortChoice("declared")
    assert parse_ports("80, 5432,80") == PortChoice("list", (80, 5432))
    with pytest.raises(InputError, match="--ports"):
        parse_ports("http")
    assert parse_address("1.1.1.1:443") == ("1.1.1.1", 443)
    with pytest.raises(InputError, match="IP:PORT"):
        parse_address("1.1.1.1")
