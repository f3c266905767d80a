"""`invoke analyze`: formats, files, errors and exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from invoke.context import MockContext
from invoke.exceptions import Exit
from rich.console import Console

from packetwalk.cli.analyze_tasks import analyze, run_analyze

CAPTURES = Path(__file__).parent / "data" / "captures"


def console() -> Console:
    return Console(record=True, width=140, force_terminal=False)


def test_text_view(capsys: pytest.CaptureFixture[str]) -> None:
    out = console()
    run_analyze(str(CAPTURES / "nodeport-masquerade"), "text", "", out)
    text = out.export_text()
    assert "kube-proxy's NodePort DNAT" in text and "masquerade (SNAT)" in text
    assert "172.18.0.1:" in text and "veth-b" in text


def test_json_goes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    analyze(MockContext(), str(CAPTURES / "clusterip-nft"), format="json")
    doc = json.loads(capsys.readouterr().out)
    assert doc["flows"][0]["translations"][0]["kind"] == "DNAT"


def test_unknown_format_names_the_choices() -> None:
    with pytest.raises(Exit) as info:
        run_analyze(str(CAPTURES / "traefik"), "png", "", console())
    assert info.value.code == 1
    assert "--format: unknown format 'png' (valid: text, json, mermaid, svg)" in str(info.value)


def test_output_file_is_written_and_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "walk.svg"
    run_analyze(str(CAPTURES / "traefik"), "svg", str(target), console())
    assert target.read_text().startswith("<svg")
    with pytest.raises(Exit, match="already exists"):
        run_analyze(str(CAPTURES / "traefik"), "mermaid", str(target), console())
    assert target.read_text().startswith("<svg")


def test_damaged_captures_print_the_walk_then_exit_1() -> None:
    out = console()
    with pytest.raises(Exit) as info:
        run_analyze(str(CAPTURES / "damaged"), "text", "", out)
    assert info.value.code == 1
    assert "2 capture(s) could not be read: pod-b-corrupt.pcap" in str(info.value)
    text = out.export_text()
    assert "kube-proxy's DNAT" in text and "truncated record" in text


def test_walk_yaml_errors_exit_1_naming_the_file(tmp_path: Path) -> None:
    shutil.copytree(CAPTURES / "clusterip-iptables", tmp_path / "run")
    walk = tmp_path / "run" / "walk.yaml"
    walk.write_text(walk.read_text() + "colour: blue\n")
    with pytest.raises(Exit) as info:
        run_analyze(str(tmp_path / "run"), "text", "", console())
    assert f"{walk}:line " in str(info.value) and "unknown key 'colour'" in str(info.value)
