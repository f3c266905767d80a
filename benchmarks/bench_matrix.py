"""Benchmark of the NetworkPolicy evaluator on synthetic clusters.

    .venv/bin/python benchmarks/bench_matrix.py                  # the grid + the doubling check
    .venv/bin/python benchmarks/bench_matrix.py --doubling-only
    .venv/bin/python benchmarks/bench_matrix.py --one 5000 1000 250

Two figures per case, both timed, neither including the generation of the synthetic manifests:

* in memory: objects -> typed cluster (``load``: validation, pods grouped by shape) -> evaluation
  (classes, masks, rules) -> the connlist text (``list``, netpol-analyzer's txt). This is what
  ``invoke matrix --cluster`` and the lab's own objects go through. The loader keeps live pods
  as columns (name, shape, IP, origin); a ``Pod`` object per replica is made only when a caller
  reads ``Cluster.pods`` or a class's pods (explain, the pod matrix), which the list never does.
* end to end from a file: the same manifests written as one multi-document YAML file and as one
  JSON ``v1 List``, read with ``read_documents`` (the parser: PyYAML's CSafeLoader or json) and
  built with ``build_cluster``, plus the same evaluation and list. The parser's share is shown
  apart: it is linear in the pods and not ours to make faster.

The generator keeps the *label diversity* (distinct (namespace, labels) sets) as a parameter:
pods are replicas (live Pods owned by one ReplicaSet per label set), so doubling the pods at an
unchanged diversity should cost little more (issue 3's target: under 1.3x). Each pair of sizes
behind a doubling ratio is measured in one subprocess, interleaved round by round; every grid
case runs in its own subprocess so that its peak RSS (``ru_maxrss``) belongs to it alone.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from packetwalk.netpol import connlist
from packetwalk.netpol.evaluator import EvalOptions, analyze
from packetwalk.netpol.loader import build_cluster, cluster_from_objects, read_documents

NAMESPACES = 20
TIERS = ("web", "api", "db", "cache")


def synthetic_cluster(
    pods: int, policies: int, label_sets: int, seed: int = 7, profile: str = "mixed"
) -> list[dict[str, Any]]:
    """``mixed``: default-deny in half the namespaces plus allow rules of six shapes.
    ``open``: allow rules only (most pods unisolated), so nearly every pair is allowed and the
    cost is dominated by producing workloads-squared lines."""
    rng = random.Random(seed)
    objects: list[dict[str, Any]] = []
    for n in range(NAMESPACES):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": f"ns-{n}",
                    "labels": {"team": f"team-{n % 5}", "env": rng.choice(["prod", "dev"])},
                },
            }
        )
    sets = []
    for k in range(label_sets):
        ns = f"ns-{k % NAMESPACES}"
        labels = {"app": f"app-{k}", "tier": TIERS[k % len(TIERS)], "version": f"v{k % 3}"}
        ports = [
            {"name": "http", "containerPort": 8080 + (k % 4)},
            {"name": "metrics", "containerPort": 9090},
        ]
        if labels["tier"] == "db":
            ports.append({"name": "sql", "containerPort": 5432})
        sets.append((ns, labels, ports))
    for i in range(pods):
        ns, labels, ports = sets[i % label_sets]
        owner = f"{labels['app']}-5d8f"
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{owner}-{i}",
                    "namespace": ns,
                    "labels": dict(labels),
                    "ownerReferences": [{"kind": "ReplicaSet", "name": owner, "controller": True}],
                },
                "spec": {"containers": [{"name": "main", "ports": ports}]},
                "status": {"podIP": f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"},
            }
        )
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
            spec = {
                "podSelector": target,
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": {"tier": rng.choice(TIERS)}}}],
                        "ports": [{"port": "http"}, {"port": 9090}],
                    }
                ],
            }
        elif kind == 2:
            spec = {
                "podSelector": {"matchLabels": {"tier": "db"}},
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"team": f"team-{rng.randrange(5)}"}
                                },
                                "podSelector": {
                                    "matchExpressions": [
                                        {"key": "tier", "operator": "In", "values": ["api", "web"]}
                                    ]
                                },
                            }
                        ],
                        "ports": [{"port": "sql"}],
                    }
                ],
            }
        elif kind == 3:
            spec = {
                "podSelector": {
                    "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]
                },
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "ns-0"}
                                }
                            }
                        ],
                        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}],
                    },
                    {
                        "to": [
                            {
                                "podSelector": {
                                    "matchLabels": {"app": f"app-{rng.randrange(label_sets)}"}
                                }
                            }
                        ]
                    },
                ],
            }
        elif kind == 4:
            a, b = rng.randrange(256), rng.randrange(256)
            spec = {
                "podSelector": target,
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {"ipBlock": {"cidr": f"{a}.0.0.0/8", "except": [f"{a}.{b}.0.0/16"]}}
                        ],
                        "ports": [{"port": 443}, {"port": 8000, "endPort": 8100}],
                    }
                ],
            }
        else:
            spec = {
                "podSelector": target,
                "ingress": [
                    {
                        "from": [
                            {"namespaceSelector": {}},
                            {"ipBlock": {"cidr": f"172.{rng.randrange(16, 32)}.0.0/16"}},
                        ],
                        "ports": [{"port": "metrics"}],
                    }
                ],
            }
        objects.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"np-{p}", "namespace": ns},
                "spec": spec,
            }
        )
    return objects


class Case:
    """One synthetic cluster, its manifest files, and the best time seen for every phase."""

    def __init__(
        self, pods: int, policies: int, label_sets: int, profile: str, folder: Path
    ) -> None:
        # A JSON round trip (not timed) makes every pod its own set of dicts and strings, as
        # ``kubectl get -o json`` or a YAML file gives them: generator objects that share their
        # lists and strings across replicas would flatter any per-pod cost.
        self.objects = json.loads(
            json.dumps(synthetic_cluster(pods, policies, label_sets, profile=profile))
        )
        self.info: dict[str, Any] = {
            "profile": profile,
            "pods": pods,
            "policies": policies,
            "label_sets": label_sets,
        }
        self.files = {
            "yaml": folder / f"{pods}-{label_sets}.yaml",
            "json": folder / f"{pods}-{label_sets}.json",
        }
        self.files["yaml"].write_text(
            yaml.dump_all(
                self.objects, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False
            )
        )
        self.files["json"].write_text(
            json.dumps({"apiVersion": "v1", "kind": "List", "items": self.objects})
        )
        self.best: dict[str, float] = {}

    def _keep(self, phase: str, seconds: float) -> None:
        self.best[phase] = min(self.best.get(phase, float("inf")), seconds)

    def in_memory(self) -> None:
        """Objects -> typed cluster -> evaluation -> the connlist text, each phase timed."""
        gc.collect()  # untimed: every round starts with the same heap, not a previous one's debt
        start = time.perf_counter()
        cluster = cluster_from_objects(self.objects, source="synthetic")
        loaded = time.perf_counter()
        analysis = analyze(cluster, EvalOptions())
        evaluated = time.perf_counter()
        text = connlist.render(analysis, "txt")
        done = time.perf_counter()
        self._keep("load_s", loaded - start)
        self._keep("evaluate_s", evaluated - loaded)
        self._keep("list_s", done - evaluated)
        self.info.update(
            classes=len(analysis.classes),
            workloads=len(analysis.workloads),
            external_ranges=len(analysis.sources) + len(analysis.destinations),
            allowed_pairs=text.count("\n"),
        )

    def from_files(self) -> None:
        """The parser's share (``read_documents``: CSafeLoader or json) and ours, per format.

        A YAML parse leaves much garbage, and the collection it triggers tends to land in the
        build phase right after; the end-to-end sum is the figure to trust.
        """
        for fmt, path in self.files.items():
            gc.collect()
            start = time.perf_counter()
            docs = read_documents(path)
            parsed = time.perf_counter()
            build_cluster(docs)
            self._keep(f"{fmt}_parse_s", parsed - start)
            self._keep(f"{fmt}_build_s", time.perf_counter() - parsed)
            del docs

    def result(self) -> dict[str, Any]:
        b = self.best
        ours = b["evaluate_s"] + b["list_s"]
        return {
            **self.info,
            **b,
            "total_s": b["load_s"] + ours,
            **{
                f"{fmt}_total_s": b[f"{fmt}_parse_s"] + b[f"{fmt}_build_s"] + ours
                for fmt in self.files
            },
        }


def measure(
    pods: int, policies: int, label_sets: int, profile: str, repeat: int = 5, e2e_repeat: int = 2
) -> dict[str, Any]:
    """Best of ``repeat`` rounds per phase (``e2e_repeat`` from files): the machine is shared,
    the minimum is the signal."""
    with tempfile.TemporaryDirectory() as tmp:
        case = Case(pods, policies, label_sets, profile, Path(tmp))
        for round_ in range(repeat):
            case.in_memory()
            if round_ < e2e_repeat:
                case.from_files()
        result = case.result()
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def run(pods: int, policies: int, label_sets: int, profile: str) -> dict[str, Any]:
    """Measure in a fresh subprocess: its heap (and so the garbage collector's work) and its
    peak RSS belong to this case alone."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--one",
            str(pods),
            str(policies),
            str(label_sets),
            "--profile",
            profile,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def best_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Several subprocess runs of one case: the minimum of every time, the largest peak."""
    out = dict(results[0])
    for r in results[1:]:
        for key, value in r.items():
            if key.endswith("_s"):
                out[key] = min(out[key], value)
            elif key == "peak_rss_mb":
                out[key] = max(out[key], value)
    return out


COLUMNS = (  # header, key, width, format
    ("profile", "profile", 7, ""),
    ("pods", "pods", 6, ""),
    ("policies", "policies", 8, ""),
    ("labelsets", "label_sets", 9, ""),
    ("classes", "classes", 7, ""),
    ("pairs", "allowed_pairs", 6, ""),
    ("load ms", "load_s", 8, "ms"),
    ("eval ms", "evaluate_s", 8, "ms"),
    ("list ms", "list_s", 8, "ms"),
    ("total ms", "total_s", 8, "ms"),
    ("yaml parse", "yaml_parse_s", 10, "ms"),
    ("yaml total", "yaml_total_s", 10, "ms"),
    ("json parse", "json_parse_s", 10, "ms"),
    ("json total", "json_total_s", 10, "ms"),
    ("peak MB", "peak_rss_mb", 8, ""),
)


def _cell(row: dict[str, Any], key: str, width: int, fmt: str) -> str:
    value = row[key]
    return f"{value * 1000:>{width}.1f}" if fmt == "ms" else f"{value:>{width}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=3, type=int, metavar=("PODS", "POLICIES", "LABEL_SETS"))
    parser.add_argument("--profile", choices=("mixed", "open"), default="mixed")
    parser.add_argument(
        "--diversity",
        type=int,
        default=250,
        help="distinct label sets in the grid (capped at the pod count)",
    )
    parser.add_argument(
        "--doubling-only",
        action="store_true",
        help="only the 5,000 -> 10,000 pod pairs behind the doubling ratios",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="subprocess runs per doubling case, alternating the two sizes",
    )
    args = parser.parse_args()
    if args.one:
        pods, policies, sets = args.one
        print(json.dumps(measure(pods, policies, sets, args.profile)))
        return
    print(" ".join(f"{header:>{width}}" for header, _, width, _ in COLUMNS))
    rows = []

    def show(r: dict[str, Any]) -> None:
        rows.append(r)
        print(" ".join(_cell(r, key, width, fmt) for _, key, width, fmt in COLUMNS), flush=True)

    doubling = [(250, "mixed"), (1000, "mixed"), (250, "open")]
    if not args.doubling_only:
        for pods in (100, 1000, 5000):
            for policies in (50, 500, 1000):
                sets = min(pods, args.diversity)
                if (pods, policies) != (5000, 1000) or (sets, "mixed") not in doubling:
                    show(run(pods, policies, sets, "mixed"))  # else: with the doubling pairs
    for sets, profile in doubling:
        # the two sizes alternate, so a busy spell on the shared machine hits both alike
        runs: dict[int, list[dict[str, Any]]] = {5000: [], 10000: []}
        for _ in range(args.rounds):
            for pods in runs:
                runs[pods].append(run(pods, 1000, sets, profile))
        for pods in runs:
            show(best_of(runs[pods]))
    by = {(r["pods"], r["policies"], r["label_sets"], r["profile"]): r for r in rows}
    print(
        "\ndoubling the pods 5000 -> 10000 at unchanged label sets, 1000 policies "
        "(target: under 1.3x)"
    )
    for sets, profile in doubling:
        small, big = by[(5000, 1000, sets, profile)], by[(10000, 1000, sets, profile)]

        def ratio(key: str, small: dict[str, Any] = small, big: dict[str, Any] = big) -> str:
            return f"x{big[key] / small[key]:.2f}"

        print(
            f"  {sets:>4} label sets ({profile}): in-memory objects -> connlist "
            f"{ratio('total_s')} (load {ratio('load_s')}); end to end from a file: "
            f"YAML {ratio('yaml_total_s')} (parser alone {ratio('yaml_parse_s')}), "
            f"JSON {ratio('json_total_s')} (parser alone {ratio('json_parse_s')})"
        )


if __name__ == "__main__":
    main()
