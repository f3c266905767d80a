"""A small voting-app-like cluster as API objects, for the ``invoke verify`` tests.

Namespace ``vote`` (default-deny both ways; vote -> redis, worker -> redis and db, Traefik ->
vote, DNS egress for all), Traefik in ``traefik``, CoreDNS in ``kube-system``, on two worker
nodes and a control plane where no pod runs.
"""

from __future__ import annotations

from typing import Any

from packetwalk.kube.access import NodeInfo
from packetwalk.kube.fake import FakeCluster

NODES = (
    NodeInfo("lab-control-plane", "172.18.0.2"),
    NodeInfo("lab-worker", "172.18.0.3"),
    NodeInfo("lab-worker2", "172.18.0.4"),
)


def namespace(name: str) -> dict[str, Any]:
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
    }


def pod(
    ns: str, name: str, ip: str, labels: dict[str, str], ports: list[tuple[int, str]], node: str
) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": name.split("-")[0],
                    "image": "example",
                    "ports": [{"containerPort": p, "protocol": proto} for p, proto in ports],
                }
            ],
        },
        "status": {"phase": "Running", "podIP": ip},
    }


def policy(name: str, spec: dict[str, Any], ns: str = "vote") -> dict[str, Any]:
    return {
        "kind": "NetworkPolicy",
        "apiVersion": "networking.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def app(name: str) -> dict[str, Any]:
    return {"matchLabels": {"app": name}}


def ingress_from(target: str, port: int, *peers: dict[str, Any]) -> dict[str, Any]:
    return {
        "podSelector": app(target),
        "policyTypes": ["Ingress"],
        "ingress": [{"from": list(peers), "ports": [{"port": port, "protocol": "TCP"}]}],
    }


def egress_to(source: str, *rules: tuple[str, int]) -> dict[str, Any]:
    return {
        "podSelector": app(source),
        "policyTypes": ["Egress"],
        "egress": [
            {"to": [{"podSelector": app(t)}], "ports": [{"port": p, "protocol": "TCP"}]}
            for t, p in rules
        ],
    }


TRAEFIK_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
}
DNS_EGRESS = {
    "podSelector": {},
    "policyTypes": ["Egress"],
    "egress": [
        {
            "to": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                    },
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        }
    ],
}


def lab_objects(*, extra_vote_pods: int = 0) -> list[dict[str, Any]]:
    """The objects; ``extra_vote_pods`` more vote replicas (for the parallelism test)."""
    objects = [namespace(n) for n in ("vote", "traefik", "kube-system")]
    objects += [
        pod("vote", "vote-0", "10.244.1.10", {"app": "vote"}, [(80, "TCP")], "lab-worker"),
        pod("vote", "redis-0", "10.244.2.11", {"app": "redis"}, [(6379, "TCP")], "lab-worker2"),
        pod("vote", "db-0", "10.244.1.12", {"app": "db"}, [(5432, "TCP")], "lab-worker"),
        pod("vote", "worker-0", "10.244.2.13", {"app": "worker"}, [], "lab-worker2"),
        pod(
            "traefik",
            "traefik-0",
            "10.244.1.20",
            {"app.kubernetes.io/name": "traefik"},
            [(8000, "TCP")],
            "lab-worker",
        ),
        pod(
            "kube-system",
            "coredns-0",
            "10.244.2.30",
            {"k8s-app": "kube-dns"},
            [(53, "UDP"), (53, "TCP")],
            "lab-worker2",
        ),
    ]
    objects += [
        pod("vote", f"vote-{i}", f"10.244.3.{i}", {"app": "vote"}, [(80, "TCP")], "lab-worker")
        for i in range(1, extra_vote_pods + 1)
    ]
    objects += [
        policy("default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        policy("allow-dns", DNS_EGRESS),
        policy("vote-from-traefik", ingress_from("vote", 80, TRAEFIK_PEER)),
        policy(
            "redis-from-app",
            ingress_from(
                "redis", 6379, {"podSelector": app("vote")}, {"podSelector": app("worker")}
            ),
        ),
        policy("db-from-worker", ingress_from("db", 5432, {"podSelector": app("worker")})),
        policy("vote-egress", egress_to("vote", ("redis", 6379))),
        policy("worker-egress", egress_to("worker", ("redis", 6379), ("db", 5432))),
    ]
    return objects


def lab_fake(
    *,
    enforcing: bool = True,
    ignored_policies: tuple[str, ...] = (),
    external_reachable: bool = True,
    extra_vote_pods: int = 0,
) -> FakeCluster:
    fake = FakeCluster.from_objects(lab_objects(extra_vote_pods=extra_vote_pods), nodes=NODES)
    fake.model_enforcement(
        enforcing=enforcing,
        ignored_policies=ignored_policies,
        external_reachable=external_reachable,
    )
    return fake
