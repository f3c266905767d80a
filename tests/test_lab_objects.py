"""Everything the lab deploys: valid, unique, deterministic, allowing exactly the app's flows."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from packetwalk.errors import InputError
from packetwalk.lab import versions
from packetwalk.lab.config import LabConfig, load_stack_config, parse_lab_config, stack_names
from packetwalk.lab.objects import (
    app_hosts,
    check_unique,
    lab_objects,
    lab_peer_objects,
    object_key,
    sort_objects,
)

CFG = LabConfig(stack="kind")
OBJECTS = lab_objects(CFG)
PEERS = lab_peer_objects(CFG)


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (obj,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


@pytest.mark.parametrize("obj", [*OBJECTS, *PEERS], ids=lambda o: "/".join(object_key(o)[1:]))
def test_every_object_is_valid_kubernetes(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, versions.KUBERNETES_VERSION, strict=True)


def test_contents() -> None:
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in OBJECTS)
    assert kinds == sorted(
        [
            ("Namespace", "vote"),
            *[("Deployment", n) for n in ("vote", "result", "worker", "redis", "db")],
            *[("Service", n) for n in ("vote", "result", "redis", "db")],
            ("Ingress", "vote"),
            ("Ingress", "result"),
            *[
                ("NetworkPolicy", n)
                for n in (
                    "default-deny",
                    "vote-access",
                    "result-access",
                    "worker-access",
                    "redis-access",
                    "db-access",
                )
            ],
        ]
    )
    assert {o["metadata"].get("namespace", "vote") for o in OBJECTS} == {"vote"}


def test_namespace_allows_capture_containers() -> None:
    labels = find(OBJECTS, "Namespace", "vote")["metadata"]["labels"]
    assert labels == {
        "kubernetes.io/metadata.name": "vote",
        "pod-security.kubernetes.io/enforce": "privileged",
    }


def test_order_is_deterministic_and_policies_come_before_pods() -> None:
    assert lab_objects(CFG) == OBJECTS
    assert sort_objects(list(reversed(OBJECTS))) == OBJECTS
    kinds = [o["kind"] for o in OBJECTS]
    assert kinds[0] == "Namespace"
    assert max(i for i, k in enumerate(kinds) if k == "NetworkPolicy") < kinds.index("Deployment")


def test_duplicates_raise() -> None:
    check_unique([*OBJECTS, *PEERS])
    with pytest.raises(ValueError, match="duplicate object apps/v1/Deployment/vote/vote"):
        sort_objects([*OBJECTS, find(OBJECTS, "Deployment", "vote")])


@pytest.mark.parametrize("app", ["vote", "result"])
def test_ingress_routes_to_the_service(app: str) -> None:
    ingress = find(OBJECTS, "Ingress", app)["spec"]
    assert ingress["ingressClassName"] == "traefik"
    (rule,) = ingress["rules"]
    assert rule["host"] == f"{app}.localhost" == app_hosts(CFG)[app]
    (path,) = rule["http"]["paths"]
    backend = path["backend"]["service"]
    service = find(OBJECTS, "Service", backend["name"])
    assert backend["port"]["number"] in [p["port"] for p in service["spec"]["ports"]]


def test_peer_stand_ins() -> None:
    assert {(o["kind"], o["metadata"]["name"]) for o in PEERS} == {
        ("Namespace", "traefik"),
        ("Namespace", "kube-system"),
        ("Deployment", "traefik"),
        ("Service", "traefik"),
        ("Deployment", "coredns"),
        ("Service", "kube-dns"),
    }
    for obj in PEERS:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["annotations"] == {"packetwalk.dev/stand-in": "true"}
    traefik = find(PEERS, "Deployment", "traefik")
    assert traefik["metadata"]["namespace"] == "traefik"
    assert traefik["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "traefik"
    coredns = find(PEERS, "Deployment", "coredns")["spec"]["template"]
    assert coredns["metadata"]["labels"] == {"k8s-app": "kube-dns"}
    ports = {(p["containerPort"], p["protocol"]) for p in coredns["spec"]["containers"][0]["ports"]}
    assert ports == {(53, "UDP"), (53, "TCP")}
    for ns in ("traefik", "kube-system"):
        assert find(PEERS, "Namespace", ns)["metadata"]["labels"] == {
            "kubernetes.io/metadata.name": ns
        }


def test_missing_intents_file_names_the_stack_key(tmp_path: Path) -> None:
    cfg = parse_lab_config("s", {"packetwalk:intents": "nope.yaml"}, source="Pulumi.s.yaml")
    with pytest.raises(InputError) as info:
        lab_objects(cfg, repo_root=tmp_path)
    assert str(info.value).startswith("Pulumi.s.yaml:key packetwalk:intents:")


def test_another_app_namespace_with_its_own_intents(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(
        "apiVersion: k8s.otterize.com/v2beta1\nkind: ClientIntents\nmetadata: {name: vote}\n"
        "spec: {workload: {name: vote}, targets: [{service: {name: redis}}]}\n---\n"
        "apiVersion: k8s.otterize.com/v2beta1\nkind: ClientIntents\n"
        "metadata: {name: traefik, namespace: traefik}\n"
        "spec: {workload: {name: traefik}, targets: [{service: {name: vote.shop}}]}\n"
    )
    cfg = parse_lab_config(
        "s",
        {"packetwalk:appNamespace": "shop", "packetwalk:intents": str(tmp_path / "shop.yaml")},
        source="s",
    )
    objects = lab_objects(cfg)
    assert {o["metadata"].get("namespace", o["metadata"]["name"]) for o in objects} == {"shop"}
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy"}
    assert names == {"default-deny", "vote-access", "redis-access"}


def test_the_lab_intents_need_the_vote_namespace() -> None:
    cfg = parse_lab_config("s", {"packetwalk:appNamespace": "shop"}, source="s")
    with pytest.raises(InputError, match=r"unknown Service vote\.vote") as info:
        lab_objects(cfg)
    assert "point packetwalk:intents at a copy that names namespace 'shop'" in str(info.value)
    assert str(info.value).startswith("stacks/intents/voting-app.yaml:document 4, line")


@pytest.mark.parametrize("stack", stack_names())
def test_every_repository_stack_builds(stack: str) -> None:
    objects = lab_objects(load_stack_config(stack))
    assert objects == OBJECTS  # the stacks differ in the cluster, not in what runs on it


# --- the flows the policies allow ----------------------------------------------------------------
# A deliberately small check, not an evaluator (packetwalk.netpol is that): it reads only the
# shapes the generator emits (matchLabels selectors, peers with both selectors, numeric ports) and
# asserts that it saw nothing else, then applies "egress of the source AND ingress of the
# destination" (docs/design/netpol-semantics.md section 1).

Pod = tuple[str, str, dict[str, str]]  # namespace, workload, labels


def pods() -> list[Pod]:
    result = []
    for obj in [*OBJECTS, *PEERS]:
        if obj["kind"] == "Deployment":
            labels = obj["spec"]["template"]["metadata"]["labels"]
            result.append((obj["metadata"]["namespace"], obj["metadata"]["name"], labels))
    return result


def ns_labels(namespace: str) -> dict[str, str]:
    labels: dict[str, str] = find([*OBJECTS, *PEERS], "Namespace", namespace)["metadata"]["labels"]
    return labels


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def peer_matches(peer: dict[str, Any], pod: Pod) -> bool:
    assert set(peer) == {"namespaceSelector", "podSelector"}, peer
    return matches(peer["namespaceSelector"], ns_labels(pod[0])) and matches(
        peer["podSelector"], pod[2]
    )


def allowed(
    pod: Pod,
    other: Pod,
    direction: str,
    proto: str,
    port: int,
    objects: list[dict[str, Any]] = OBJECTS,
) -> bool:
    """Whether the policies selecting ``pod`` let ``other`` through in ``direction``."""
    key, peer_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    isolated = False
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        spec = policy["spec"]
        if policy["metadata"]["namespace"] != pod[0] or not matches(spec["podSelector"], pod[2]):
            continue
        if direction not in spec["policyTypes"]:
            continue
        isolated = True
        for rule in spec.get(key, []):
            assert all(isinstance(p["port"], int) for p in rule.get("ports", []))
            if any(peer_matches(peer, other) for peer in rule[peer_key]) and any(
                (p["protocol"], p["port"]) == (proto, port) for p in rule["ports"]
            ):
                return True
    return not isolated


EXPECTED = {
    ("traefik", "vote", "TCP", 80),
    ("traefik", "result", "TCP", 80),
    ("vote", "redis", "TCP", 6379),
    ("worker", "redis", "TCP", 6379),
    ("worker", "db", "TCP", 5432),
    ("result", "db", "TCP", 5432),
    *(
        (client, "coredns", proto, 53)
        for client in ("vote", "worker", "result")
        for proto in ("UDP", "TCP")
    ),
}
PROBES = [
    (proto, port)
    for proto in ("TCP", "UDP")
    for port in (53, 80, 5432, 6379, 8000, 8080, 8081, 8443)
]


def flows(objects: list[dict[str, Any]]) -> set[tuple[str, str, str, int]]:
    seen = set()
    for src, dst in itertools.permutations(pods(), 2):
        if "vote" not in (src[0], dst[0]):
            continue  # traefik <-> kube-dns is not the vote namespace's business
        for proto, port in PROBES:
            if allowed(src, dst, "Egress", proto, port, objects) and allowed(
                dst, src, "Ingress", proto, port, objects
            ):
                seen.add((src[1], dst[1], proto, port))
    return seen


def test_exactly_the_voting_app_flows_are_allowed() -> None:
    assert flows(OBJECTS) == EXPECTED


def test_the_check_itself_sees_missing_policies() -> None:
    # Guards the guard: without the default-deny and worker's policy, worker's egress and the
    # ingress of worker, redis's egress etc. are open, so the check must report extra flows;
    # vote stays isolated for ingress by vote-access, so worker -> vote stays denied.
    reduced = [
        o
        for o in OBJECTS
        if not (
            o["kind"] == "NetworkPolicy"
            and o["metadata"]["name"] in ("default-deny", "worker-access")
        )
    ]
    extra = flows(reduced) - EXPECTED
    assert ("worker", "coredns", "TCP", 8080) in extra  # kube-dns pods are not isolated
    assert ("redis", "worker", "TCP", 80) in extra  # worker no longer isolated for ingress
    assert ("worker", "vote", "TCP", 80) not in extra  # vote-access still isolates vote
