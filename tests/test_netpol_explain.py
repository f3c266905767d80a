"""--explain: which policies and rules allow or deny a connection, and why."""

from __future__ import annotations

import pytest
import yaml

from packetwalk.errors import InputError
from packetwalk.netpol.evaluator import EvalOptions, analyze
from packetwalk.netpol.explain import explain, parse_port_query, render_text
from packetwalk.netpol.loader import cluster_from_objects

MANIFESTS = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec: {template: {metadata: {labels: {app: web}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: shop}
spec:
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: pg, ports: [{name: pg, containerPort: 5432}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-in, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: b}}, podSelector: {matchLabels: {app: web}}}]
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: pg}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-out, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}]}]
"""


def _analysis(**options: object) -> object:
    objects = [o for o in yaml.safe_load_all(MANIFESTS) if o]
    return analyze(cluster_from_objects(objects, source="t"), EvalOptions(**options))  # type: ignore[arg-type]


def test_allowed_by_one_rule_denied_by_the_other_side() -> None:
    a = _analysis()
    report = explain(a, "shop/web", "shop/db", "5432/TCP")  # type: ignore[arg-type]
    assert not report.verdict  # db allows it, but web's egress only reaches 10.0.0.0/8
    assert report.ingress is not None and str(report.ingress.allowed) == "TCP 5432"
    first, second = report.ingress.rules
    assert not first.matched and "namespaceSelector (namespace shop) [team=b]" in first.reason
    assert second.matched and str(second.conns) == "TCP 5432"
    assert report.egress is not None and report.egress.allowed.is_empty
    assert "selectors" not in report.egress.rules[0].reason
    assert "an ipBlock never matches a pod in this mode" in report.egress.rules[0].reason
    text = render_text(report)
    assert "DENIED" in text
    assert "=> denied by the source's egress side (shop/web[Deployment])" in text
    assert "+ shop/db-in spec.ingress[1]" in text


def test_external_ends_and_unisolated_sides() -> None:
    a = _analysis()
    out = explain(a, "shop/web", "10.2.3.4")  # type: ignore[arg-type]
    assert out.verdict and out.dst == "10.0.0.0-10.255.255.255[External]"
    assert "outside the cluster" in render_text(out)
    inbound = explain(a, "8.8.8.8", "shop/web", "80")  # type: ignore[arg-type]
    assert inbound.verdict and "not isolated" in render_text(inbound)
    denied = explain(a, "8.8.8.8", "shop/db", "5432/tcp")  # type: ignore[arg-type]
    assert not denied.verdict
    assert any("never an External address" in r.reason for r in denied.ingress.rules)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("80", ("TCP", 80)), ("53/udp", ("UDP", 53)), ("7070/SCTP", ("SCTP", 7070))],
)
def test_port_queries(text: str, expected: tuple[str, int]) -> None:
    assert parse_port_query(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [("80/ICMP", "unknown protocol"), ("http", "is not PORT"), ("70000", "out of range")],
)
def test_bad_port_queries(text: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        parse_port_query(text)


def test_unknown_peers_and_outside_pairs() -> None:
    a = _analysis()
    with pytest.raises(InputError, match="no workload, pod or IPv4 address") as info:
        explain(a, "shop/nope", "shop/db")  # type: ignore[arg-type]
    assert "shop/db[Deployment]" in info.value.choices
    with pytest.raises(InputError, match="both ends are outside the cluster"):
        explain(a, "1.1.1.1", "8.8.8.8")  # type: ignore[arg-type]
