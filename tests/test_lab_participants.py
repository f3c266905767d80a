"""Workshop participants: names, hosts, intents per namespace, and isolation proven by the
NetworkPolicy evaluator for 1, 3 and 30 participants on one cluster."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from packetwalk.lab.config import STACKS_DIR, LabConfig, parse_lab_config
from packetwalk.lab.objects import lab_objects, lab_peer_objects
from packetwalk.lab.participants import (
    cluster_names,
    participant_tag,
    participants,
    participants_in,
)
from packetwalk.netpol.evaluator import Analysis, EvalOptions, Workload, analyze
from packetwalk.netpol.loader import cluster_from_objects

DNS = "TCP 53,UDP 53"


def gke(**extra: object) -> LabConfig:
    values = yaml.safe_load((STACKS_DIR / "Pulumi.gke.yaml").read_text())["config"]
    values.update({f"packetwalk:{key}": value for key, value in extra.items()})
    return parse_lab_config("gke", values, source="stacks/Pulumi.gke.yaml")


def test_one_participant_keeps_the_plain_lab() -> None:
    (only,) = participants(gke())
    assert (only.name, only.namespace, only.cluster) == ("lab", "vote", "packetwalk-gke")
    assert only.host_prefixes() == {"vote": "vote", "result": "result"}
    assert participants(LabConfig(stack="kind"))[0].namespace == "vote"


def test_shared_cluster_gives_each_participant_a_namespace_and_hosts() -> None:
    people = participants(gke(participants=3))
    assert [(p.name, p.namespace, p.cluster) for p in people] == [
        ("p01", "vote-p01", "packetwalk-gke"),
        ("p02", "vote-p02", "packetwalk-gke"),
        ("p03", "vote-p03", "packetwalk-gke"),
    ]
    assert people[1].host_prefixes() == {"vote": "vote-p02", "result": "result-p02"}
    assert cluster_names(gke(participants=3)) == ["packetwalk-gke"]


def test_one_cluster_per_participant() -> None:
    cfg = gke(participants=3, participantClusters=True)
    assert cluster_names(cfg) == ["packetwalk-gke-p01", "packetwalk-gke-p02", "packetwalk-gke-p03"]
    people = participants(cfg)
    assert [(p.name, p.namespace, p.cluster) for p in people] == [
        ("p01", "vote", "packetwalk-gke-p01"),
        ("p02", "vote", "packetwalk-gke-p02"),
        ("p03", "vote", "packetwalk-gke-p03"),
    ]
    # Alone in its cluster, a participant's hosts need no tag (the domain is the cluster's IP).
    assert people[2].host_prefixes() == {"vote": "vote", "result": "result"}
    assert participants_in(cfg, "packetwalk-gke-p02") == [people[1]]
    with pytest.raises(ValueError, match="no cluster 'nope'"):
        participants_in(cfg, "nope")


def test_tags_widen_only_when_needed() -> None:
    assert participant_tag(3, 9) == "p03"
    assert participant_tag(7, 60) == "p07"
    assert participant_tag(7, 100) == "p007"


def test_per_cluster_objects_are_that_clusters_participants_only() -> None:
    cfg = gke(participants=3, participantClusters=True)
    objects = lab_objects(cfg, cluster="packetwalk-gke-p02")
    assert lab_objects(cfg, cluster="packetwalk-gke-p01") == objects  # same lab, other cluster
    assert {o["metadata"].get("namespace", o["metadata"]["name"]) for o in objects} == {"vote"}


def test_intents_are_moved_into_each_participants_namespace() -> None:
    objects = lab_objects(gke(participants=3))
    redis = next(
        o
        for o in objects
        if o["kind"] == "NetworkPolicy"
        and o["metadata"] == {**o["metadata"], "name": "redis-access", "namespace": "vote-p02"}
    )
    peers = [peer for rule in redis["spec"]["ingress"] for peer in rule["from"]]
    assert {
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in peers
    } == {"vote-p02"}
    vote = next(
        o
        for o in objects
        if o["kind"] == "NetworkPolicy"
        and o["metadata"]["name"] == "vote-access"
        and o["metadata"]["namespace"] == "vote-p03"
    )
    from_ns = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in vote["spec"]["ingress"]
        for peer in rule["from"]
    }
    assert from_ns == {"traefik"}  # Traefik's `vote.vote` intent, mapped to vote-p03
    hosts = {
        o["metadata"]["namespace"]: o["spec"]["rules"][0]["host"]
        for o in objects
        if o["kind"] == "Ingress" and o["metadata"]["name"] == "vote"
    }
    assert hosts == {
        "vote-p01": "vote-p01.localhost",
        "vote-p02": "vote-p02.localhost",
        "vote-p03": "vote-p03.localhost",
    }


def test_host_function_builds_the_ingress_hosts() -> None:
    seen: list[str] = []

    def host(prefix: str) -> Any:
        seen.append(prefix)
        return f"{prefix}.203.0.113.7.nip.io"

    objects = lab_objects(gke(participants=2), host=host)
    assert sorted(seen) == ["result-p01", "result-p02", "vote-p01", "vote-p02"]
    assert {o["spec"]["rules"][0]["host"] for o in objects if o["kind"] == "Ingress"} == {
        "vote-p01.203.0.113.7.nip.io",
        "vote-p02.203.0.113.7.nip.io",
        "result-p01.203.0.113.7.nip.io",
        "result-p02.203.0.113.7.nip.io",
    }


# --- isolation, proven by the policy evaluator ----------------------------------------------


def _analysis(cfg: LabConfig) -> Analysis:
    cluster = cluster_from_objects(lab_objects(cfg) + lab_peer_objects(cfg), source=cfg.stack)
    return analyze(cluster, EvalOptions(mode="spec"))


def _app(analysis: Analysis, namespace: str, name: str) -> str:
    (found,) = [
        w.label
        for w in analysis.workloads
        if w.namespace == namespace and w.pods[0].labels.get("app") == name
    ]
    return found


def _kind_matrix(analysis: Analysis, namespace: str) -> set[tuple[str, str, str]]:
    """The voting app's flows of the kind lab (test_lab_matrix.py), in ``namespace``."""
    app = {
        name: _app(analysis, namespace, name)
        for name in ("vote", "result", "worker", "redis", "db")
    }
    traefik = "traefik/traefik[Deployment]"
    dns = "kube-system/coredns[Deployment]"
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


def _cross_participant(analysis: Analysis, namespaces: set[str]) -> set[tuple[str, str]]:
    return {
        (src.label, dst.label)
        for src, dst, _ in analysis.edges()
        if isinstance(src, Workload)
        and isinstance(dst, Workload)
        and src.namespace in namespaces
        and dst.namespace in namespaces
        and src.namespace != dst.namespace
    }


@pytest.mark.parametrize("count", [1, 3, 30])
def test_participants_are_isolated_and_each_gets_the_kind_matrix(count: int) -> None:
    cfg = gke(participants=count)
    analysis = _analysis(cfg)
    namespaces = {p.namespace for p in participants(cfg)}
    assert len(namespaces) == count
    assert _cross_participant(analysis, namespaces) == set()
    edges = {(src.label, dst.label, str(conn)) for src, dst, conn in analysis.edges()}
    namespace_of = {w.label: w.namespace for w in analysis.workloads}
    for namespace in namespaces:
        involving = {
            e for e in edges if namespace in (namespace_of.get(e[0]), namespace_of.get(e[1]))
        }
        assert involving == _kind_matrix(analysis, namespace)


def _allow_all(namespace: str, direction: str) -> dict[str, Any]:
    key = {"Ingress": "ingress", "Egress": "egress"}[direction]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"allow-all-{key}", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": [direction], key: [{}]},
    }


def test_the_isolation_check_sees_a_leak() -> None:
    # Two careless allow-all policies open vote-p01 -> vote-p02: the check must notice.
    cfg = gke(participants=2)
    objects = [
        *lab_objects(cfg),
        _allow_all("vote-p01", "Egress"),
        _allow_all("vote-p02", "Ingress"),
    ]
    analysis = analyze(
        cluster_from_objects(objects + lab_peer_objects(cfg), source="t"), EvalOptions(mode="spec")
    )
    leaks = _cross_participant(analysis, {"vote-p01", "vote-p02"})
    assert ("vote-p01/vote[Deployment]", "vote-p02/db[Deployment]") in leaks
    assert all(src.startswith("vote-p01/") for src, _ in leaks)
