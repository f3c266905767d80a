"""Benchmark of the NetworkPolicy evaluator on synthetic clusters.

    .venv/bin/python benchmarks/bench_matrix.py            # the grid + the doubling check
    .venv/bin/python benchmarks/bench_matrix.py --one 5000 1000 250

Each measurement runs in a fresh subprocess so the peak RSS (``resource.ru_maxrss``) belongs to
that case alone. Timed: building the typed cluster from manifest dicts, the evaluation (classes,
masks, rules) and producing every allowed pair of the connlist (workloads and External ranges).
Not timed: generating the synthetic manifests.

The generator keeps the *label diversity* (distinct (namespace, labels) sets) as a parameter:
pods are replicas (live Pods owned by one ReplicaSet per label set), so doubling the pods at an
unchanged diversity must cost almost nothing more (target under 1.3x).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from packetwalk.netpol.evaluator import EvalOptions, analyze
from packetwalk.netpol.loader import cluster_from_objects

NAMESPACES = 20
TIERS = ("web", "api", "db", "cache")


def synthetic_cluster(pods: int, policies: int, label_sets: int, seed: int = 7,
                      profile: str = "mixed") -> list[dict[str, Any]]:
    """``mixed``: default-deny in half the namespaces plus allow rules of six shapes.
    ``open``: allow rules only (most pods unisolated), so nearly every pair is allowed and the
    cost is dominated by producing workloads-squared lines."""
    rng = random.Random(seed)
    objects: list[dict[str, Any]] = []
    for n in range(NAMESPACES):
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": f"ns-{n}",
            "labels": {"team": f"team-{n % 5}", "env": rng.choice(["prod", "dev"])}}})
    sets = []
    for k in range(label_sets):
        ns = f"ns-{k % NAMESPACES}"
        labels = {"app": f"app-{k}", "tier": TIERS[k % len(TIERS)], "version": f"v{k % 3}"}
        ports = [{"name": "http", "containerPort": 8080 + (k % 4)},
                 {"name": "metrics", "containerPort": 9090}]
        if labels["tier"] == "db":
            ports.append({"name": "sql", "containerPort": 5432})
        sets.append((ns, labels, ports))
    for i in range(pods):
        ns, labels, ports = sets[i % label_sets]
        owner = f"{labels['app']}-5d8f"
        objects.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{owner}-{i}", "namespace": ns, "labels": dict(labels),
                         "ownerReferences": [{"kind": "ReplicaSet", "name": owner,
                                              "controller": True}]},
            "spec": {"containers": [{"name": "main", "ports": ports}]},
            "status": {"podIP": f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"},
        })
    for p in range(policies):
        ns = f"ns-{p % NAMESPACES}"
        kind = p % 6
        if profile == "open" and kind in (0, 3, 4):
            kind = 1
        target = {"matchLabels": {"app": f"app-{rng.randrange(label_sets)}"}}
        spec: dict[str, Any]
        if kind == 0:
            spec = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        elif kind == 1:
            spec = {"podSelector": target, "ingress": [{
                "from": [{"podSelector": {"matchLabels": {"tier": rng.choice(TIERS)}}}],
                "ports": [{"port": "http"}, {"port": 9090}]}]}
        elif kind == 2:
            spec = {"podSelector": {"matchLabels": {"tier": "db"}}, "ingress": [{
                "from": [{"namespaceSelector": {
                    "matchLabels": {"team": f"team-{rng.randrange(5)}"}},
                          "podSelector": {"matchExpressions": [
                              {"key": "tier", "operator": "In", "values": ["api", "web"]}]}}],
                "ports": [{"port": "sql"}]}]}
        elif kind == 3:
            spec = {"podSelector": {"matchExpressions": [
                {"key": "tier", "operator": "NotIn", "values": ["db"]}]},
                "policyTypes": ["Egress"], "egress": [
                    {"to": [{"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": "ns-0"}}}],
                     "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]},
                    {"to": [{"podSelector": {
                        "matchLabels": {"app": f"app-{rng.randrange(label_sets)}"}}}]}]}
        elif kind == 4:
            a, b = rng.randrange(256), rng.randrange(256)
            spec = {"podSelector": target, "policyTypes": ["Egress"], "egress": [{
                "to": [{"ipBlock": {"cidr": f"{a}.0.0.0/8", "except": [f"{a}.{b}.0.0/16"]}}],
                "ports": [{"port": 443}, {"port": 8000, "endPort": 8100}]}]}
        else:
            spec = {"podSelector": target, "ingress": [{
                "from": [{"namespaceSelector": {}},
                         {"ipBlock": {"cidr": f"172.{rng.randrange(16, 32)}.0.0/16"}}],
                "ports": [{"port": "metrics"}]}]}
        objects.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                        "metadata": {"name": f"np-{p}", "namespace": ns}, "spec": spec})
    return objects


def measure(pods: int, policies: int, label_sets: int, profile: str = "mixed",
            repeat: int = 3) -> dict[str, Any]:
    """Best of ``repeat`` runs per phase: the machine is shared, the minimum is the signal."""
    objects = synthetic_cluster(pods, policies, label_sets, profile=profile)
    best = [float("inf")] * 3
    for _ in range(repeat):
        start = time.perf_counter()
        cluster = cluster_from_objects(objects, source="synthetic")
        loaded = time.perf_counter()
        analysis = analyze(cluster, EvalOptions())
        evaluated = time.perf_counter()
        edges = sum(1 for _ in analysis.edges())
        done = time.perf_counter()
        for i, value in enumerate((loaded - start, evaluated - loaded, done - evaluated)):
            best[i] = min(best[i], value)
    return {
        "profile": profile, "pods": pods, "policies": policies, "label_sets": label_sets,
        "classes": len(analysis.classes), "workloads": len(analysis.workloads),
        "external_ranges": len(analysis.sources) + len(analysis.destinations),
        "allowed_pairs": edges,
        "load_s": round(best[0], 3), "evaluate_s": round(best[1], 3),
        "pairs_s": round(best[2], 3), "total_s": round(sum(best), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_one(pods: int, policies: int, label_sets: int, profile: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--one", str(pods), str(policies),
                          str(label_sets), "--profile", profile],
                         capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=3, type=int, metavar=("PODS", "POLICIES", "LABEL_SETS"))
    parser.add_argument("--profile", choices=("mixed", "open"), default="mixed")
    parser.add_argument("--diversity", type=int, default=250,
                        help="distinct label sets in the grid (capped at the pod count)")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one, profile=args.profile)))
        return
    header = (f"{'profile':>7} {'pods':>6} {'policies':>8} {'labelsets':>9} {'classes':>7} "
              f"{'pairs':>8} {'load s':>7} {'eval s':>7} {'pairs s':>7} {'total s':>7} "
              f"{'peak MB':>8}")
    print(header)
    rows = []
    cases = [(p, n, min(p, args.diversity), "mixed") for p in (100, 1000, 5000)
             for n in (50, 500, 1000)]
    cases += [(5000, 1000, 1000, "mixed"), (10000, 1000, 250, "mixed"),
              (10000, 1000, 1000, "mixed"), (5000, 1000, 250, "open"), (10000, 1000, 250, "open"),
              (5000, 1000, 1000, "open")]
    for pods, policies, sets, profile in cases:
        r = run_one(pods, policies, sets, profile)
        rows.append(r)
        print(f"{r['profile']:>7} {r['pods']:>6} {r['policies']:>8} {r['label_sets']:>9} "
              f"{r['classes']:>7} {r['allowed_pairs']:>8} {r['load_s']:>7} "
              f"{r['evaluate_s']:>7} {r['pairs_s']:>7} {r['total_s']:>7} {r['peak_rss_mb']:>8}",
              flush=True)
    by = {(r["pods"], r["policies"], r["label_sets"], r["profile"]): r for r in rows}
    for sets, profile in ((250, "mixed"), (1000, "mixed"), (250, "open")):
        small, big = by[(5000, 1000, sets, profile)], by[(10000, 1000, sets, profile)]
        evaluation = (big["evaluate_s"] + big["pairs_s"]) / max(
            small["evaluate_s"] + small["pairs_s"], 1e-9)
        print(f"doubling pods 5000 -> 10000 at {sets} label sets ({profile}): total x"
              f"{big['total_s'] / small['total_s']:.2f}, evaluation+pairs x{evaluation:.2f}")


if __name__ == "__main__":
    main()
