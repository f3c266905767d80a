"""Learned against declared intents: observed-not-declared, declared-never-seen, and the
evaluator's connlist diff between the policies of each."""

from __future__ import annotations

from pathlib import Path

from packetwalk.intents import parse_client_intents
from packetwalk.mapper.compare import compare_intents
from packetwalk.mapper.folder import load_map_folder, map_folder
from packetwalk.mapper.output import render_yaml

GOLDEN = Path(__file__).parent / "data" / "mapper" / "lab"

DECLARED = """
apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata: {name: client, namespace: vote}
spec:
  workload: {name: client, kind: Deployment}
  targets:
    - service: {name: api}
    - service: {name: api-udp}
    - internet: {ips: [198.51.100.7/32], ports: [443]}
    - kubernetes: {name: report.tools, kind: CronJob}
"""


def test_differences_both_ways_and_the_connlist_diff() -> None:
    data = load_map_folder(GOLDEN)
    learned = parse_client_intents(render_yaml(map_folder(data)), source="learned.yaml")
    declared = parse_client_intents(DECLARED, source="declared.yaml")
    diff = compare_intents(learned, declared, data.objects)
    assert diff.observed_not_declared == (
        "tools/report -> service api-metrics.vote",
        "vote/client -> service api-metrics",
    )
    assert diff.declared_never_seen == ("vote/client -> kubernetes report.tools",)
    lines = [d.text() for d in diff.connlist]
    # live pods are grouped under their controller (ReplicaSet, Job) by the evaluator
    assert lines == [
        "diff-type: changed, source: vote/client-5d8f7[ReplicaSet], destination: "
        "vote/api-6c9b4[ReplicaSet], ref1: TCP 8080,UDP 5353, ref2: TCP 8080,9090,UDP 5353",
        "diff-type: added, source: tools/report-29000000[Job], destination: "
        "kube-system/coredns-1[Pod], ref1: No Connections, ref2: TCP 53,UDP 53",
        "diff-type: added, source: tools/report-29000000[Job], destination: "
        "vote/api-6c9b4[ReplicaSet], ref1: No Connections, ref2: TCP 9090",
        "diff-type: removed, source: vote/client-5d8f7[ReplicaSet], destination: "
        "tools/report-29000000[Job], ref1: All Connections, ref2: No Connections",
    ]
    text = diff.text()
    assert text.startswith("observed but not declared:\n  tools/report")
    assert "connlist diff (ref1: declared, ref2: learned):" in text


def test_learned_against_itself_has_no_difference() -> None:
    data = load_map_folder(GOLDEN)
    learned = parse_client_intents(render_yaml(map_folder(data)), source="learned.yaml")
    diff = compare_intents(learned, learned, data.objects)
    assert diff.observed_not_declared == () == diff.declared_never_seen
    assert diff.connlist == ()
