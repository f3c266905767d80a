"""Text, JSON, Mermaid and SVG views of an analysed walk."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from packetwalk.capture import (
    WalkAnalysis,
    analyze_folder,
    render,
    render_json,
    render_mermaid,
    render_svg,
)
from packetwalk.capture.model import Endpoint, Inventory, Translation
from packetwalk.capture.render import FORMATS, render_text, translation_sentence

CAPTURES = Path(__file__).parent / "data" / "captures"


@pytest.fixture(scope="module")
def traefik() -> WalkAnalysis:
    return analyze_folder(CAPTURES / "traefik")


def test_json_has_exactly_the_issue_schema(traefik: WalkAnalysis) -> None:
    doc = json.loads(render_json(traefik))
    assert set(doc) == {"flows", "links", "warnings"}
    for flow in doc["flows"]:
        assert set(flow) == {"protocol", "client", "server", "hops", "translations", "reply_seen"}
        for hop in flow["hops"]:
            assert set(hop) == {"point", "src", "dst", "interface", "time"}
            assert isinstance(hop["time"], float)
        for t in flow["translations"]:
            assert set(t) == {"kind", "point", "before", "after"}
            assert t["kind"] in ("DNAT", "SNAT")
    first = doc["flows"][0]
    assert first["client"] == first["hops"][0]["src"]
    assert first["translations"] == [
        {"kind": "DNAT", "point": "node", "before": "10.96.0.20:80", "after": "10.244.3.30:8000"}
    ]
    assert doc["links"] == [
        {"inbound": 0, "outbound": 1, "proxy": "10.244.3.30", "point": "traefik"}
    ]


def test_text_has_hop_table_sentences_and_link(traefik: WalkAnalysis) -> None:
    text = render_text(traefik)
    assert "Flow 1: tcp pod pod-a 10.244.1.10:" in text
    assert (
        "the node rewrote the destination service traefik 10.96.0.20:80 to pod traefik "
        "10.244.3.30:8000: kube-proxy's DNAT"
    ) in text
    assert "Flow 2 was opened by pod traefik (10.244.3.30) while it served flow 1" in text
    lines = [line for line in text.splitlines() if line.startswith("  2  node")]
    assert lines and "veth-a" in lines[0] and " in " in lines[0]


def test_sentences_name_the_mechanism() -> None:
    inv = Inventory(
        pods={"vote-7d9f": "10.244.2.20"},
        nodes={"kind-worker": "172.18.0.3"},
        services={"vote": "10.96.0.10"},
    )
    kinds = {"node": "node", "kind-worker": "node"}
    dnat = Translation(
        "DNAT", "node", Endpoint("10.96.0.10", 80), Endpoint("10.244.2.20", 80), True
    )
    assert translation_sentence(dnat, inv, kinds) == (
        "the node rewrote the destination service vote 10.96.0.10:80 to pod vote-7d9f "
        "10.244.2.20:80: kube-proxy's DNAT (Service address to an endpoint); the reply was "
        "translated back by conntrack."
    )
    nodeport = Translation(
        "DNAT", "kind-worker", Endpoint("172.18.0.3", 31000), Endpoint("10.244.2.20", 80), False
    )
    assert "node kind-worker rewrote the destination node kind-worker 172.18.0.3:31000" in (
        translation_sentence(nodeport, inv, kinds)
    )
    assert "kube-proxy's NodePort DNAT." in translation_sentence(nodeport, inv, kinds)
    snat = Translation(
        "SNAT",
        "between a and b",
        Endpoint("172.18.0.1", 40000),
        Endpoint("172.18.0.3", 40001),
        False,
    )
    assert translation_sentence(snat, inv, kinds).startswith(
        "something between a and b rewrote the source 172.18.0.1:40000 to node kind-worker "
        "172.18.0.3:40001: masquerade"
    )


def test_mermaid_sequence_diagram(traefik: WalkAnalysis) -> None:
    text = render_mermaid(traefik)
    lines = text.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert lines[1:5] == [
        "    participant p1 as pod-a",
        "    participant p2 as node",
        "    participant p3 as traefik",
        "    participant p4 as pod-b",
    ]
    assert "    Note over p2: DNAT 10.96.0.20:80 -> 10.244.3.30:8000" in lines
    assert any(line.startswith("    p1->>p2: 10.244.1.10:") for line in lines)
    assert any(line.startswith("    p2-->>p1: 10.96.0.20:80 -> 10.244.1.10:") for line in lines)
    assert "    Note over p3: proxy opens a new connection: flow 2" in lines
    assert lines.index("    Note over p3: proxy opens a new connection: flow 2") < next(
        i for i, line in enumerate(lines) if line.startswith("    p2-->>p1:")
    )


def test_svg_is_wellformed_and_draws_every_message(traefik: WalkAnalysis) -> None:
    svg = render_svg(traefik)
    root = ET.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert {"pod-a", "node", "traefik", "pod-b"} <= set(texts)
    mermaid = render_mermaid(traefik)
    arrows = mermaid.count("->>")  # both ->> and -->>
    assert len(root.findall(".//s:line[@marker-end]", ns)) == arrows
    assert "DNAT 10.96.0.20:80 -&gt; 10.244.3.30:8000" in svg


def test_render_dispatches_every_format(traefik: WalkAnalysis) -> None:
    for fmt in FORMATS:
        assert render(traefik, fmt)
