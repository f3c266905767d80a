"""What the mapper writes reads back through packetwalk's ClientIntents parser and generates
policies that allow exactly the learned calls (the round trip); JSON and table carry the same."""

from __future__ import annotations

import json
from pathlib import Path

from packetwalk.intents import PolicyOptions, Workloads, parse_client_intents, policies_from_intents
from packetwalk.mapper.folder import load_map_folder, map_folder
from packetwalk.mapper.inventory import workload_objects
from packetwalk.mapper.output import render_json, render_table, render_yaml
from packetwalk.netpol.evaluator import analyze
from packetwalk.netpol.loader import cluster_from_objects

GOLDEN = Path(__file__).parent / "data" / "mapper" / "lab"


def test_yaml_round_trips_through_the_parser_and_generates_policies() -> None:
    data = load_map_folder(GOLDEN)
    text = render_yaml(map_folder(data), header="learned by invoke map")
    assert text.startswith("# learned by invoke map\n")
    assert "    # 1 connection, first seen " in text  # evidence above each target
    intents = parse_client_intents(text, source="learned.yaml")
    assert [(i.namespace, i.workload, i.workload_kind, i.api_version) for i in intents] == [
        ("tools", "report", "CronJob", "k8s.otterize.com/v2beta1"),
        ("vote", "client", "Deployment", "k8s.otterize.com/v2beta1"),
    ]
    report = intents[0].targets[0]
    assert (report.kind, report.name, report.namespace) == ("service", "api-metrics", "vote")
    internet = intents[1].targets[-1]
    assert (internet.kind, internet.ips, internet.ports) == (
        "internet",
        ("198.51.100.7/32",),
        (443,),
    )
    policies = policies_from_intents(
        intents,
        Workloads.from_objects(workload_objects(data.objects)),
        PolicyOptions(namespaces=frozenset({"vote", "tools"})),
    )
    names = sorted(p["metadata"]["name"] for p in policies)
    assert names == ["api-access", "client-access", "default-deny", "default-deny", "report-access"]
    api = next(p for p in policies if p["metadata"]["name"] == "api-access")
    ports = sorted(
        (port["protocol"], port["port"])
        for rule in api["spec"]["ingress"]
        for port in rule["ports"]
    )
    assert ports == [("TCP", 8080), ("TCP", 9090), ("TCP", 9090), ("UDP", 5353)]
    live = [o for o in data.objects if o["kind"] in ("Pod", "Namespace")]
    analysis = analyze(cluster_from_objects([*live, *policies], source="round trip"))
    assert analysis is not None


def test_no_intents_says_so_and_json_and_table_carry_the_notes() -> None:
    result = map_folder(load_map_folder(GOLDEN))
    data = json.loads(render_json(result))
    assert [d["metadata"]["name"] for d in data["intents"]] == ["report", "client"]
    assert data["dropped"] == {"dns": 1, "kubelet-probe": 1, "pod-newer-than-flow": 1}
    table = render_table(result)
    assert table.splitlines()[0].split() == ["CLIENT", "TARGET", "EVIDENCE"]
    assert "vote/client (Deployment)  service api " in table
    result.intents.clear()
    assert "# no intents learned" in render_yaml(result)
    assert parse_client_intents(render_yaml(result), source="x") == []
