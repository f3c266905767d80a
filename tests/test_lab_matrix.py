"""The lab's own policies allow exactly the voting-app flows of docs/design/voting-app.md section 3.

This evaluates the very objects the lab stack deploys (``lab_objects``) plus the stand-ins for
Traefik and CoreDNS (``lab_peer_objects``): the proof for issue 2 that the generated policies
allow what the app needs and deny everything else around the app namespace.
"""

from __future__ import annotations

import pytest

from packetwalk.lab.config import load_stack_config, stack_names
from packetwalk.lab.objects import lab_objects, lab_peer_objects
from packetwalk.netpol.evaluator import Analysis, EvalOptions, Workload, analyze
from packetwalk.netpol.explain import explain
from packetwalk.netpol.loader import cluster_from_objects

DNS = "TCP 53,UDP 53"


def _analysis(stack: str, mode: str = "spec") -> tuple[Analysis, str]:
    cfg = load_stack_config(stack)
    cluster = cluster_from_objects(lab_objects(cfg) + lab_peer_objects(cfg), source=stack)
    return analyze(cluster, EvalOptions(mode=mode)), cfg.app_namespace


def _by_label(analysis: Analysis, key: str, value: str) -> Workload:
    found = [w for w in analysis.workloads if w.pods[0].labels.get(key) == value]
    assert len(found) == 1, (key, value, [w.label for w in found])
    return found[0]


def _expected(analysis: Analysis) -> set[tuple[str, str, str]]:
    app = {
        name: _by_label(analysis, "app", name).label
        for name in ("vote", "result", "worker", "redis", "db")
    }
    traefik = _by_label(analysis, "app.kubernetes.io/name", "traefik").label
    dns = _by_label(analysis, "k8s-app", "kube-dns").label
    return {
        (traefik, app["vote"], "TCP 80"),
        (traefik, app["result"], "TCP 80"),
        (app["vote"], app["redis"], "TCP 6379"),
        (app["worker"], app["redis"], "TCP 6379"),
        (app["worker"], app["db"], "TCP 5432"),
        (app["result"], app["db"], "TCP 5432"),
        (app["vote"], dns, DNS),
        (app["result"], dns, DNS),
        (app["worker"], dns, DNS),
    }


@pytest.mark.parametrize("stack", stack_names())
@pytest.mark.parametrize("mode", ["spec", "connlist"])
def test_voting_app_matrix_is_exactly_the_documented_table(stack: str, mode: str) -> None:
    analysis, namespace = _analysis(stack, mode)
    involving_app = {
        (src.label, dst.label, str(conn))
        for src, dst, conn in analysis.edges()
        if any(isinstance(n, Workload) and n.namespace == namespace for n in (src, dst))
    }
    assert involving_app == _expected(analysis)


def test_denied_flows_are_explained_by_the_generated_policies() -> None:
    analysis, _ = _analysis("kind")
    vote = _by_label(analysis, "app", "vote").label
    db = _by_label(analysis, "app", "db").label
    worker = _by_label(analysis, "app", "worker").label
    report = explain(analysis, vote, db, "5432/TCP")
    assert not report.verdict
    assert report.egress is not None and report.egress.isolated
    assert report.ingress is not None and report.ingress.isolated
    assert explain(analysis, worker, db, "5432/TCP").verdict
    assert not explain(analysis, worker, db, "5433/TCP").verdict
    assert not explain(analysis, "8.8.8.8", vote, "80/TCP").verdict  # only via Traefik
    assert not explain(analysis, vote, "8.8.8.8", "443/TCP").verdict  # no egress to the world
