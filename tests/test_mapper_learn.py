"""The mapping rules on real packets: the committed capture of tests/mapnet.py's lab (a client,
a node doing nft DNAT for four ClusterIPs, a server, a DNS responder), and the same lab built
live when root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mapnet
import netns
import pytest
import yaml
from test_mapper_observe import row

from packetwalk.capture.pcapread import TCP
from packetwalk.mapper.folder import MapFolder, load_map_folder, map_folder
from packetwalk.mapper.inventory import MapInventory
from packetwalk.mapper.learn import LearnedIntents, MapResult, learn
from packetwalk.mapper.observe import ACK, SYN, connections_from_rows

GOLDEN = Path(__file__).parent / "data" / "mapper" / "lab"


def targets(result: MapResult) -> dict[str, list[str]]:
    return {
        f"{i.namespace}/{i.workload} ({i.workload_kind})": [
            t.describe(i.namespace) for t in i.sorted_targets()
        ]
        for i in result.intents
    }


def client(result: MapResult, name: str) -> LearnedIntents:
    return next(i for i in result.intents if i.workload == name)


def check_lab(result: MapResult) -> None:
    assert targets(result) == {
        # cross-namespace, named targetPort, root owner Job -> CronJob
        "tools/report (CronJob)": ["service api-metrics.vote"],
        # ReplicaSet -> Deployment; port 80 != targetPort 8080; conntrack only; UDP; internet
        "vote/client (Deployment)": [
            "service api",
            "service api-metrics",
            "service api-udp",
            "internet 198.51.100.7/32 ports 443",
        ],
    }
    evidence = {t.name or t.ip: t.evidence for t in client(result, "client").sorted_targets()}
    assert evidence["api"].ports == {"80/TCP->8080"}
    assert evidence["api"].sources == {"capture"}
    assert evidence["api-metrics"].ports == {"9000/TCP->9090 (metrics)"}
    assert evidence["api-metrics"].sources == {"conntrack"}  # its SYN was before the capture
    assert evidence["api-udp"].ports == {"5000/UDP->5353"}
    report = client(result, "report").sorted_targets()[0]
    assert report.evidence.ports == {"9000/TCP->9090 (metrics)"}
    # refused: attempted, not an intent
    assert result.attempted == [
        "vote/client (Deployment) -> kubernetes vote/api 7777/TCP: no reply seen (capture)"
    ]
    # the node as a client: never guessed
    assert result.unattributed == [
        "source 172.18.0.2 is node node-a (host network) -> internet 198.51.100.7 (1x)"
    ]
    assert dict(result.dropped) == {"dns": 1, "kubelet-probe": 1, "pod-newer-than-flow": 1}


def test_committed_lab_capture_gives_the_intents_rule_by_rule() -> None:
    check_lab(map_folder(load_map_folder(GOLDEN)))


def with_objects(data: MapFolder, objects: list[dict[str, Any]]) -> MapFolder:
    data.objects = objects
    data.inventory = MapInventory.from_objects(objects)
    return data


def test_without_the_newer_pod_the_reused_address_is_unattributed_not_guessed() -> None:
    data = load_map_folder(GOLDEN)
    objects = [o for o in data.objects if o["metadata"].get("name") != "fresh"]
    result = map_folder(with_objects(data, objects))
    assert "pod-newer-than-flow" not in result.dropped
    assert any("10.244.5.10 is no pod's address" in u for u in result.unattributed)


def test_two_pods_on_one_address_are_unattributed() -> None:
    data = load_map_folder(GOLDEN)
    twin = next(o for o in data.objects if o["metadata"].get("name") == "report-29000000-xyz")
    copy = {**twin, "metadata": {**twin["metadata"], "name": "report-twin"}}
    result = map_folder(with_objects(data, [*data.objects, copy]))
    assert "tools/report (CronJob)" not in targets(result)
    assert any("10.244.4.10 belongs to several pods" in u for u in result.unattributed)


def test_without_the_node_object_the_probe_source_is_unattributed() -> None:
    data = load_map_folder(GOLDEN)
    objects = [o for o in data.objects if o["kind"] != "Node"]
    result = map_folder(with_objects(data, objects))
    assert "kubelet-probe" not in result.dropped
    assert any("172.18.0.2 is a host-network address" in u for u in result.unattributed)


def test_without_services_clusterip_traffic_is_internet_and_pod_traffic_kubernetes() -> None:
    data = load_map_folder(GOLDEN)
    objects = [o for o in data.objects if o["kind"] != "Service"]
    found = targets(map_folder(with_objects(data, objects)))
    # the SYN copy before DNAT names the ClusterIP: now unknown, so internet
    assert "internet 10.96.0.20/32 ports 80" in found["vote/client (Deployment)"]


@pytest.mark.root
def test_live_lab_in_network_namespaces(tmp_path: Path) -> None:
    reason = netns.missing_prerequisites("nft")
    if reason:
        pytest.skip(reason)
    check_lab(map_folder(load_map_folder(mapnet.make(tmp_path / "lab"))))


def test_two_nodes_with_skewed_clocks_and_a_masqueraded_copy() -> None:
    """Node B's clock runs ahead of A's, so the SYN copy after DNAT looks first; a copy leaving
    through masquerade carries the node's address. Neither changes the client or the target."""
    inv = load_map_folder(GOLDEN).inventory
    t = int(yaml.safe_load((GOLDEN / "map.yaml").read_text())["started"] * 1e6)
    client, vip, api, ext, node = (
        mapnet.CLIENT,
        mapnet.API_VIP,
        mapnet.API,
        mapnet.EXTERNAL,
        mapnet.NODE_IP,
    )
    rows = [
        row(t + 1_000, TCP, api, 40000, api, 8080, seq=1, flags=SYN),  # to itself: dropped
        row(t + 9_000, TCP, client, 41000, vip, 80, seq=2, flags=SYN),  # node A
        row(t + 5_000, TCP, client, 41000, api, 8080, seq=2, flags=SYN),  # node B, clock ahead
        row(t + 9_500, TCP, api, 8080, client, 41000, seq=7, ack=3, flags=SYN | ACK),
        row(t + 2_000, TCP, client, 42000, ext, 443, seq=3, flags=SYN),
        row(t + 2_001, TCP, node, 61000, ext, 443, seq=3, flags=SYN),  # after masquerade
        row(t + 2_002, TCP, ext, 443, node, 61000, seq=8, ack=4, flags=SYN | ACK),
    ]
    result = learn(connections_from_rows(rows), inv)
    assert targets(result) == {
        "vote/client (Deployment)": ["service api", "internet 198.51.100.7/32 ports 443"]
    }
    assert result.unattributed == [] and dict(result.dropped) == {"loopback": 1}
