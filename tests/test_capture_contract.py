"""walk.yaml: the contract between `invoke walk` (or a person) and the analysis."""

from __future__ import annotations

from pathlib import Path

import pytest

from packetwalk.capture import WalkSpec
from packetwalk.capture.contract import load_walk, parse_walk
from packetwalk.errors import InputError

GOOD = """\
captures:
  - file: client-pod.pcap
    point: client-pod
    kind: pod
  - file: node.pcap
    point: kind-worker
    kind: node
    interfaces: {2: veth-a, "3": eth0}
  - file: other.pcap
    point: other
    kind: host
    interfaces: links.txt
inventory:
  pods: {client-pod: 10.244.1.10}
  nodes: {kind-worker: 172.18.0.3}
  services: {vote: "fd00:10:96::a"}
path: [client-pod, kind-worker]
"""


def parse(text: str) -> WalkSpec:
    return parse_walk(text, folder=Path("/runs/x"), source="/runs/x/walk.yaml")


def test_the_issue_contract_loads() -> None:
    spec = parse(GOOD)
    assert [c.point for c in spec.captures] == ["client-pod", "kind-worker", "other"]
    assert spec.captures[1].interfaces == {2: "veth-a", 3: "eth0"}
    assert spec.captures[2].interfaces_file == "links.txt"
    assert spec.inventory.lookup("172.18.0.3") == ("node", "kind-worker")
    assert spec.inventory.lookup("fd00:10:96:0::a") == ("service", "vote")
    assert spec.path == ("client-pod", "kind-worker")


@pytest.mark.parametrize(
    ("text", "location", "message", "choices"),
    [
        (
            GOOD + "extra: 1\n",
            "line 18, extra",
            "unknown key 'extra'",
            ("captures", "inventory", "path"),
        ),
        (
            GOOD.replace("    kind: node\n", "    kind: node\n    iface: any\n"),
            "line 8, captures[1].iface",
            "unknown key 'iface'",
            ("file", "point", "kind", "interfaces"),
        ),
        (
            GOOD.replace("kind: host", "kind: vm"),
            "line 11, captures[2].kind",
            "unknown kind 'vm'",
            ("pod", "node", "host"),
        ),
        (
            GOOD.replace("point: other", "point: client-pod"),
            "line 10, captures[2].point",
            "point 'client-pod' is used twice",
            (),
        ),
        (
            GOOD.replace("path: [client-pod, kind-worker]", "path: [client-pod, kind-wroker]"),
            "line 17, path[1]",
            "unknown point 'kind-wroker'",
            ("client-pod", "kind-worker", "other"),
        ),
        (
            GOOD.replace("10.244.1.10", "10.244.1.300"),
            "line 14, inventory.pods.client-pod",
            "is not an IP address",
            (),
        ),
        (
            GOOD.replace("  pods:", "  pod:"),
            "line 14, inventory.pod",
            "unknown key 'pod'",
            ("pods", "nodes", "services"),
        ),
        (
            GOOD.replace("{2: veth-a", "{two: veth-a"),
            "line 8, captures[1].interfaces.two",
            "interfaces maps an interface index",
            (),
        ),
        ("captures: []\n", "line 1, captures", "'captures' must be a non-empty list", ()),
        ("- a\n", "line 1", "must be a mapping", ()),
        ("captures:\n  - {file: a.pcap, point: a}\n", "line 2, captures[0]", "missing 'kind'", ()),
    ],
)
def test_errors_name_file_line_field_and_choices(
    text: str, location: str, message: str, choices: tuple[str, ...]
) -> None:
    with pytest.raises(InputError) as info:
        parse(text)
    err = info.value
    assert err.source == "/runs/x/walk.yaml"
    assert err.location == location
    assert message in err.detail
    assert err.choices == choices


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(InputError, match="not valid YAML") as info:
        parse("captures:\n  - file: [unclosed\n")
    assert info.value.location and info.value.location.startswith("line ")


def test_missing_walk_yaml_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no walk\.yaml") as info:
        load_walk(tmp_path)
    assert info.value.source == str(tmp_path / "walk.yaml")
    with pytest.raises(InputError, match="capture folder not found"):
        load_walk(tmp_path / "nope")
