"""analyze_folder end to end: committed real captures, crafted random walks, damaged input, and
(as root) live namespace topologies captured with tcpdump while the test runs."""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path

import capturecraft as craft
import netns
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packetwalk.capture import WalkAnalysis, analyze_folder
from packetwalk.errors import InputError

CAPTURES = Path(__file__).parent / "data" / "captures"


def hops(analysis: WalkAnalysis, flow: int = 0) -> list[tuple[str, str | None, str, str]]:
    return [(h.point, h.interface, str(h.src), str(h.dst)) for h in analysis.flows[flow].hops]


def nat(analysis: WalkAnalysis, flow: int = 0) -> list[tuple[str, str, str, str]]:
    return [
        (t.kind, t.point, str(t.before), str(t.after)) for t in analysis.flows[flow].translations
    ]


def conntrack_tuples(text: str) -> list[dict[str, str]]:
    """Original and reply tuples of the TCP entries of `conntrack -L` output."""
    entries = []
    for line in text.splitlines():
        if not line.startswith("tcp"):
            continue
        fields = re.findall(r"(src|dst|sport|dport)=(\S+)", line)
        orig, reply = dict(fields[:4]), dict(fields[4:8])
        entries.append(
            {**{f"o_{k}": v for k, v in orig.items()}, **{f"r_{k}": v for k, v in reply.items()}}
        )
    return entries


def check_clusterip(folder: Path, vip: str = netns.VIP) -> None:
    """pod-a -> VIP:80 DNAT to pod-b:8080, seen at pod-a, node (in veth-a, out veth-b), pod-b."""
    analysis = analyze_folder(folder)
    assert analysis.warnings == ()
    assert len(analysis.flows) == 1
    flow = analysis.flows[0]
    (ct,) = conntrack_tuples((folder / "conntrack.txt").read_text())
    client = f"{netns.POD_A}:{ct['o_sport']}"
    assert (str(flow.client), str(flow.server), flow.protocol) == (client, f"{vip}:80", "tcp")
    assert hops(analysis) == [
        ("pod-a", None, client, f"{vip}:80"),
        ("node", "veth-a", client, f"{vip}:80"),
        ("node", "veth-b", client, f"{netns.POD_B}:8080"),
        ("pod-b", None, client, f"{netns.POD_B}:8080"),
    ]
    assert [h.direction for h in flow.hops] == [None, "in", "out", None]
    # the translation agrees with the kernel's own record of it
    assert nat(analysis) == [
        ("DNAT", "node", f"{ct['o_dst']}:{ct['o_dport']}", f"{ct['r_src']}:{ct['r_sport']}")
    ]
    assert flow.translations[0].reversed and flow.reply_seen
    assert flow.ordered_by == "causality"


def check_nodeport(folder: Path) -> None:
    analysis = analyze_folder(folder)
    (ct,) = conntrack_tuples((folder / "conntrack.txt").read_text())
    client, snat = f"{netns.HOST}:{ct['o_sport']}", f"{netns.NODE}:{ct['r_dport']}"
    assert ct["r_dst"] == netns.NODE  # masquerade to the node's own address
    assert hops(analysis) == [
        ("host", None, client, f"{netns.NODE}:31000"),
        ("node", "eth0", client, f"{netns.NODE}:31000"),
        ("node", "veth-b", snat, f"{netns.POD_B}:8080"),
        ("pod-b", None, snat, f"{netns.POD_B}:8080"),
    ]
    assert nat(analysis) == [
        ("DNAT", "node", f"{netns.NODE}:31000", f"{netns.POD_B}:8080"),
        ("SNAT", "node", client, snat),
    ]
    assert analysis.flows[0].reply_seen


def check_traefik(folder: Path, node_interfaces: bool = True) -> None:
    analysis = analyze_folder(folder)
    assert len(analysis.flows) == 2
    inbound, outbound = analysis.flows
    assert str(inbound.server) == f"{netns.TRAEFIK_VIP}:80"
    assert [h.point for h in inbound.hops] == ["pod-a", "node", "node", "traefik"]
    assert nat(analysis, 0)[0][:1] == ("DNAT",)
    assert str(inbound.hops[-1].dst) == f"{netns.TRAEFIK}:8000"
    assert outbound.client.ip == netns.TRAEFIK and str(outbound.server) == f"{netns.POD_B}:8080"
    assert [h.point for h in outbound.hops] == ["traefik", "node", "node", "pod-b"]
    if node_interfaces:
        assert [h.interface for h in outbound.hops] == [None, "veth-t", "veth-b", None]
    assert outbound.translations == ()  # Traefik dials the pod directly: no kube-proxy hop
    assert inbound.reply_seen and outbound.reply_seen
    (link,) = analysis.links
    assert (link.inbound, link.outbound, link.proxy, link.point) == (0, 1, netns.TRAEFIK, "traefik")


# --- committed captures (made by tests/netns.py as root; read everywhere) --------------------


def test_committed_clusterip_iptables() -> None:
    check_clusterip(CAPTURES / "clusterip-iptables")


def test_committed_clusterip_nft() -> None:
    check_clusterip(CAPTURES / "clusterip-nft")


def test_committed_nodeport_masquerade() -> None:
    check_nodeport(CAPTURES / "nodeport-masquerade")


def test_committed_traefik_two_linked_flows() -> None:
    check_traefik(CAPTURES / "traefik")


def test_committed_traefik_with_multi_interface_pcapng_node() -> None:
    check_traefik(CAPTURES / "traefik-pcapng")


def test_committed_sll1_node_only() -> None:
    analysis = analyze_folder(CAPTURES / "clusterip-sll1")
    flow = analysis.flows[0]
    assert [(h.point, h.direction) for h in flow.hops] == [("node", "in"), ("node", "out")]
    assert nat(analysis)[0][0] == "DNAT" and flow.ordered_by == "causality"


def test_damaged_folder_reports_each_file_and_keeps_the_rest() -> None:
    folder = CAPTURES / "damaged"
    analysis = analyze_folder(folder)
    problems = "\n".join(analysis.warnings)
    assert f"{folder / 'pod-a-truncated.pcap'}: truncated record" in problems
    assert f"{folder / 'pod-b-corrupt.pcap'}: not a pcap or pcapng file" in problems
    assert f"{folder / 'gone.pcap'}: capture file not found" in problems
    assert [c.file for c in analysis.failed_captures] == ["pod-b-corrupt.pcap", "gone.pcap"]
    # what could be read still gives the walk up to the node, with its DNAT
    assert [h.point for h in analysis.flows[0].hops] == ["pod-a", "node", "node"]
    assert nat(analysis)[0][:2] == ("DNAT", "node")


def test_nothing_readable_is_an_error_naming_walk_yaml(tmp_path: Path) -> None:
    (tmp_path / "walk.yaml").write_text("captures:\n  - {file: a.pcap, point: a, kind: pod}\n")
    with pytest.raises(InputError, match="no capture could be read") as info:
        analyze_folder(tmp_path)
    assert info.value.source == str(tmp_path / "walk.yaml")
    assert "a.pcap: capture file not found" in str(info.value)


def test_missing_interface_map_is_a_warning_with_indexes_shown(tmp_path: Path) -> None:
    for f in (CAPTURES / "clusterip-iptables").iterdir():
        shutil.copy(f, tmp_path)
    text = (tmp_path / "walk.yaml").read_text().replace("  interfaces: node-links.txt\n", "")
    (tmp_path / "walk.yaml").write_text(text)
    analysis = analyze_folder(tmp_path)
    assert any("give `interfaces:` for point 'node'" in w for w in analysis.warnings)
    assert {h.interface for h in analysis.flows[0].hops} >= {"ifindex 2", "ifindex 3"}


# --- captures that are not in the repository: crafted with random everything -----------------


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    proto=st.sampled_from(["tcp", "udp"]),
    snat=st.booleans(),
    node_fmt=st.sampled_from(["sll2", "sll1", "pcapng-multi"]),
    v6=st.booleans(),
)
def test_crafted_walks_with_skewed_clocks(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    proto: str,
    snat: bool,
    node_fmt: str,
    v6: bool,
) -> None:
    """Random addresses, ports, sequence numbers, formats and clock errors up to +-0.5 s per
    point (so timestamps often contradict the real order): hops and NAT must still be right."""
    folder = tmp_path_factory.mktemp("crafted")
    expected = craft.service_walk(
        folder, random.Random(seed), proto=proto, snat=snat, node_fmt=node_fmt, v6=v6
    )
    analysis = analyze_folder(folder)
    assert analysis.warnings == ()
    (flow,) = analysis.flows
    assert flow.protocol == expected.protocol
    assert (str(flow.client), str(flow.server)) == (expected.client, expected.server)
    assert [(h.point, str(h.src), str(h.dst), h.interface) for h in flow.hops] == expected.hops
    assert [(t.kind, str(t.before), str(t.after)) for t in flow.translations] == (
        expected.translations
    )
    assert flow.reply_seen and all(t.reversed for t in flow.translations)


def test_crafted_walk_without_inventory_uses_causality_and_time(tmp_path: Path) -> None:
    rng = random.Random()
    expected = craft.service_walk(tmp_path, rng, skew=False, snat=True)
    text = (tmp_path / "walk.yaml").read_text()
    (tmp_path / "walk.yaml").write_text(text.split("inventory:")[0])
    (flow,) = analyze_folder(tmp_path).flows
    assert [(h.point, str(h.src), str(h.dst), h.interface) for h in flow.hops] == expected.hops
    assert flow.ordered_by == "causality"


# --- live: namespaces, veths, iptables/nft NAT, tcpdump (root only) --------------------------


def _require(firewall: str = "iptables") -> None:
    reason = netns.missing_prerequisites(firewall)
    if reason:
        pytest.skip(reason)


@pytest.mark.root
def test_live_clusterip_iptables_dnat(tmp_path: Path) -> None:
    _require("iptables")
    netns.make_clusterip(tmp_path)
    check_clusterip(tmp_path)


@pytest.mark.root
def test_live_clusterip_nft_dnat(tmp_path: Path) -> None:
    _require("nft")
    netns.make_clusterip(tmp_path, firewall="nft")
    check_clusterip(tmp_path)


@pytest.mark.root
def test_live_nodeport_dnat_and_masquerade(tmp_path: Path) -> None:
    _require("iptables")
    netns.make_nodeport(tmp_path)
    check_nodeport(tmp_path)


@pytest.mark.root
def test_live_traefik_proxy_two_linked_flows(tmp_path: Path) -> None:
    _require("iptables")
    netns.make_traefik(tmp_path)
    check_traefik(tmp_path)


@pytest.mark.root
def test_live_traefik_with_dumpcap_pcapng(tmp_path: Path) -> None:
    _require("iptables")
    if shutil.which("dumpcap") is None:
        pytest.skip("needs dumpcap (Debian: apt-get install -y tshark)")
    netns.make_traefik(tmp_path, node_capture="pcapng")
    check_traefik(tmp_path)


@pytest.mark.root
def test_live_several_requests_make_several_flows(tmp_path: Path) -> None:
    _require("iptables")
    netns.make_clusterip(tmp_path, requests=3)
    analysis = analyze_folder(tmp_path)
    assert len(analysis.flows) == 3
    assert len({f.client.port for f in analysis.flows}) == 3
    assert all(len(f.hops) == 4 and f.translations[0].kind == "DNAT" for f in analysis.flows)


@pytest.mark.root
def test_live_lab_cleans_up_namespaces_on_failure(tmp_path: Path) -> None:
    _require("iptables")
    with pytest.raises(RuntimeError), netns.Lab(tmp_path) as lab:
        lab.ns("a")
        tag = lab.tag
        lab.run("a", "false")
    listed = netns.sh("ip", "netns", "list").stdout
    assert tag not in listed


def test_live_tests_skip_with_a_reason_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # netns asks os and shutil
    assert netns.missing_prerequisites() == "needs root (network namespaces, veth pairs, tcpdump)"
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda tool: None if tool == "nft" else "/bin/x")
    assert "needs `nft`" in str(netns.missing_prerequisites("nft"))
