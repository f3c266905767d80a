"""The evaluator against two more engines nobody on this project wrote.

* cyclonus (MIT, (c) 2021 Matt Fenwick): its ``analyze --mode probe`` truth tables for the
  simple-example policies over the x/y/z * a/b/c model. cyclonus matches ipBlocks against pod IPs
  and evaluates a pod talking to itself, which is our spec mode with ``ipblock_matches_pods``.
* network-config-analyzer (IBM, Apache-2.0): its equivalence queries as metamorphic checks, two
  configs are equivalent iff their connectivity matrices are identical on the given topology.

Data: ../shared/netpol-corpus (licences and attribution there).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from packetwalk.netpol.diff import connectivity_diff
from packetwalk.netpol.evaluator import Analysis, EvalOptions, analyze
from packetwalk.netpol.explain import explain
from packetwalk.netpol.loader import cluster_from_objects, load_cluster, read_documents

HERE = Path(__file__).resolve().parent
CORPUS = Path(
    os.environ.get("PACKETWALK_NETPOL_CORPUS", HERE.parents[1] / "shared" / "netpol-corpus")
)
CYCLONUS = CORPUS / "cyclonus"
NCA = CORPUS / "network-config-analyzer" / "tests" / "k8s_testcases"
needs_cyclonus = pytest.mark.skipif(not CYCLONUS.is_dir(), reason="cyclonus corpus not found")
needs_nca = pytest.mark.skipif(not NCA.is_dir(), reason="network-config-analyzer corpus not found")


# ----------------------------------------------------------------------------- cyclonus


def _cyclonus_model() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    probe = json.loads((CYCLONUS / "examples" / "probe.json").read_text())
    objects: list[dict[str, Any]] = []
    for name, labels in probe["Resources"]["Namespaces"].items():
        objects.append(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        )
    for p in probe["Resources"]["Pods"]:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": p["Name"], "namespace": p["Namespace"], "labels": p["Labels"]},
                "spec": {
                    "containers": [
                        {
                            "name": c["Name"],
                            "ports": [
                                {
                                    "containerPort": c["Port"],
                                    "name": c["PortName"],
                                    "protocol": c["Protocol"].upper(),
                                }
                            ],
                        }
                        for c in p["Containers"]
                    ]
                },
                "status": {"podIP": p["IP"]},
            }
        )
    for doc, _ in read_documents(CYCLONUS / "networkpolicies" / "simple-example"):
        objects.append(doc)
    return objects, probe["Probes"]


def _tables(text: str) -> list[dict[str, dict[tuple[str, str], str]]]:
    """Parse analyze-probe.txt into one {Ingress|Egress|Combined: {(src, dst): cell}} per probe."""
    blocks: list[dict[str, dict[tuple[str, str], str]]] = []
    current: dict[str, dict[tuple[str, str], str]] = {}
    title = ""
    columns: list[str] = []
    for line in text.splitlines():
        if line.rstrip(":") in ("Ingress", "Egress", "Combined"):
            title = line.rstrip(":")
            if title == "Ingress" and current:
                blocks.append(current)
                current = {}
            current[title] = {}
            columns = []
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not cells[0]:
                columns = [c.lower() for c in cells[1:]]
            elif columns:
                for dst, cell in zip(columns, cells[1:], strict=True):
                    current[title][(cells[0], dst)] = cell
    if current:
        blocks.append(current)
    return blocks


@needs_cyclonus
def test_cyclonus_probe_truth_tables() -> None:
    objects, probes = _cyclonus_model()
    analysis = analyze(
        cluster_from_objects(objects, source="cyclonus"), EvalOptions(ipblock_matches_pods=True)
    )
    tables = _tables((CYCLONUS / "examples" / "cyclonus-output" / "analyze-probe.txt").read_text())
    checked = 0
    for probe, table in zip(probes, tables, strict=False):
        protocol, port = probe["Protocol"].upper(), probe["Port"]
        for (src, dst), cell in table["Combined"].items():
            src_pod = analysis.find_workload(src)
            dst_pod = analysis.find_workload(dst)
            assert src_pod is not None and dst_pod is not None
            served = any(p.port == port and p.protocol == protocol for p in dst_pod.pods[0].ports)
            if cell == "N":  # cyclonus: nothing listens there, no verdict to compare
                assert not served
                continue
            report = explain(analysis, src_pod.label, dst_pod.label, f"{port}/{protocol}")
            assert report.allowed == analysis.conn(src_pod, dst_pod)
            assert (cell == ".") == report.allowed.allows(protocol, port), (probe, src, dst)
            assert report.egress is not None and report.ingress is not None
            egress_ok = report.egress.allowed.allows(protocol, port)
            ingress_ok = report.ingress.allowed.allows(protocol, port)
            assert (table["Egress"][(src, dst)] == ".") == egress_ok, ("egress", src, dst)
            assert (table["Ingress"][(src, dst)] == ".") == ingress_ok, ("ingress", src, dst)
            checked += 1
    assert checked == 2 * 81  # TCP 80 and 81 fully compared; 82 is served by nobody


@needs_cyclonus
def test_cyclonus_query_traffic_verdicts() -> None:
    """examples/traffic.json flows: expected FALSE, TRUE, TRUE, FALSE (corpus README).

    Each flow names its own endpoints (labels + IP, or a bare IP), so each gets its own
    cluster: the policies, the endpoints' namespaces, and the internal endpoints as pods.
    """
    policies = [doc for doc, _ in read_documents(CYCLONUS / "networkpolicies" / "simple-example")]
    verdicts = []
    for flow in json.loads((CYCLONUS / "examples" / "traffic.json").read_text()):
        objects: list[dict[str, Any]] = list(policies)
        ends = []
        for role in ("Source", "Destination"):
            side = flow[role]
            internal = side.get("Internal")
            if internal is None:
                ends.append(side["IP"])
                continue
            namespace = internal["Namespace"]
            objects.append(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": namespace, "labels": internal["NamespaceLabels"]},
                }
            )
            ports = [
                {
                    "containerPort": flow["ResolvedPort"],
                    "protocol": flow["Protocol"],
                    "name": flow.get("ResolvedPortName") or "p",
                }
            ]
            objects.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": role.lower(),
                        "namespace": namespace,
                        "labels": internal["PodLabels"],
                    },
                    "spec": {"containers": [{"name": "c", "ports": ports}]},
                    "status": {"podIP": side["IP"]},
                }
            )
            ends.append(f"{namespace}/{role.lower()}")
        unique = {
            (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")): o for o in objects
        }
        analysis = analyze(
            cluster_from_objects(list(unique.values()), source="traffic.json"),
            EvalOptions(ipblock_matches_pods=True),
        )
        report = explain(analysis, ends[0], ends[1], f"{flow['ResolvedPort']}/{flow['Protocol']}")
        verdicts.append(report.verdict)
    assert verdicts == [False, True, True, False]


# ----------------------------------------------------------------------------- NCA


def _nca_config(folder: str, files: list[str], only: str | None = None) -> Analysis:
    base = NCA / "example_podlist"
    objects: list[dict[str, Any]] = []
    for doc, _ in read_documents(base / "ns_list.json"):
        objects.append(doc)
    for doc, _ in read_documents(base / "pods_list.json"):
        objects.append(doc)
    for name in files:
        for doc in yaml.safe_load_all((NCA / "example_policies" / folder / name).read_text()):
            if doc and (only is None or doc["metadata"]["name"] == only):
                objects.append(doc)
    # NCA's example pods of one owner carry different labels on purpose: compare pod by pod
    return analyze(cluster_from_objects(objects, source=folder), EvalOptions(per_pod=True))


def _equivalent(a: Analysis, b: Analysis) -> bool:
    return not connectivity_diff(a, b)


def _scheme(folder: str) -> dict[str, list[str]]:
    scheme_file = next((NCA / "example_policies" / folder).glob("*-scheme.yaml"))
    scheme = yaml.safe_load(scheme_file.read_text())
    return {c["name"]: c["networkPolicyList"] for c in scheme["networkConfigList"]}


@needs_nca
def test_nca_and_peer_is_not_equivalent_to_or_peers() -> None:
    configs = _scheme("andOrCombinations")
    a = _nca_config("andOrCombinations", configs["np_and"])
    b = _nca_config("andOrCombinations", configs["np_or"])
    assert not _equivalent(a, b)  # NCA: `equivalence: [np_and, np_or]` expected 1


@needs_nca
def test_nca_named_ports_np3_equivalent_to_np4() -> None:
    configs = _scheme("namedPorts")
    assert _equivalent(
        _nca_config("namedPorts", configs["np3"]), _nca_config("namedPorts", configs["np4"])
    )


@needs_nca
def test_nca_end_port_equivalences() -> None:
    configs = _scheme("withEndPort")
    assert _equivalent(
        _nca_config("withEndPort", configs["np1"]), _nca_config("withEndPort", configs["np2"])
    )
    np3 = configs["np3"]
    assert _equivalent(
        _nca_config("withEndPort", np3, "enable-all-tcp-ver-one"),
        _nca_config("withEndPort", np3, "enable-all-tcp-ver-two"),
    )
    # NCA counts these two as different because it models protocols beyond TCP/UDP/SCTP;
    # NetworkPolicy ports only know those three, so for us 1-65535 on all three is everything.
    assert _equivalent(
        _nca_config("withEndPort", np3, "enable-all-protocols-with-all-ports"),
        _nca_config("withEndPort", np3, "enable-all-traffic"),
    )


@needs_nca
def test_nca_ip_block_equivalence_count() -> None:
    configs = _scheme("withIpBlock")
    analyses = [_nca_config("withIpBlock", configs[n]) for n in ("np1", "np2", "np3")]
    pairs = [(0, 1), (0, 2), (1, 2)]
    different = sum(not _equivalent(analyses[i], analyses[j]) for i, j in pairs)
    assert different == 2  # NCA: `equivalence: [np1, np2, np3]` expected 2


@needs_nca
def test_nca_ipv6_blocks_do_not_change_the_ipv4_picture() -> None:
    configs = _scheme("withIpBlock2")
    v4 = _nca_config("withIpBlock2", configs["np2"])
    v6 = _nca_config("withIpBlock2", configs["np2-ipv6"])
    assert [w.label for w in v4.workloads] == [w.label for w in v6.workloads]
    assert re.search(r"\d", "".join(s.label for s in v4.sources))


def test_load_cluster_reads_a_v1_list_of_policies() -> None:
    if not (CYCLONUS / "networkpolicies" / "yaml-syntax" / "yaml-list.yaml").is_file():
        pytest.skip("cyclonus corpus not found")
    cluster = load_cluster([CYCLONUS / "networkpolicies" / "yaml-syntax" / "yaml-list.yaml"])
    assert len(cluster.policies) >= 2
