"""``invoke matrix``: sources (lab, manifests, cluster), formats, --out, --diff, --explain."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from invoke import MockContext
from invoke.exceptions import Exit
from rich.console import Console

from packetwalk.cli import matrix_tasks, matrix_views
from packetwalk.kube.fake import FakeCluster

HERE = Path(__file__).resolve().parent
EXTRA = HERE / "data" / "netpol" / "netpol-analyzer"
OLD2 = EXTRA / "tests" / "semanticDiff-same-topologies-old2"
NEW1A = EXTRA / "tests" / "semanticDiff-same-topologies-new1a"


@pytest.fixture
def out(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(matrix_tasks.DEPS, "console",
                        Console(file=buffer, width=220, color_system=None))
    return buffer


def run(**kwargs: Any) -> None:
    matrix_tasks.matrix(MockContext(), **kwargs)


def test_default_is_the_labs_own_objects_as_a_table(out: io.StringIO) -> None:
    run()
    text = out.getvalue()
    assert "lab's own objects (stack kind)" in text
    assert "TCP 6379" in text and "TCP 5432" in text and "TCP 53, UDP 53" in text
    assert "label classes" in text


def test_connlist_of_manifests_is_netpol_analyzer_text(out: io.StringIO) -> None:
    run(manifests=[str(OLD2)], format="connlist")
    expected = (EXTRA / "test_outputs" / "connlist"
                / "semanticDiff-same-topologies-old2_connlist_output.txt").read_text()
    assert out.getvalue() == expected


def test_out_never_overwrites_without_force(out: io.StringIO, tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    run(manifests=[str(OLD2)], format="json", out=str(target))
    assert target.read_text().startswith('[\n  {\n    "src": ')
    target.write_text("mine")
    with pytest.raises(Exit) as info:
        run(manifests=[str(OLD2)], format="json", out=str(target))
    assert info.value.code == 1 and "pass --force" in str(info.value)
    assert target.read_text() == "mine"
    run(manifests=[str(OLD2)], format="csv", out=str(target), force=True)
    assert target.read_text().startswith("src,dst,conn\n")


def test_out_suffix_picks_the_format(out: io.StringIO, tmp_path: Path) -> None:
    run(out=str(tmp_path / "lab.mmd"))
    assert (tmp_path / "lab.mmd").read_text().startswith("flowchart LR")
    run(out=str(tmp_path / "lab.dot"))
    assert (tmp_path / "lab.dot").read_text().startswith("digraph connectivity {")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
@pytest.mark.parametrize(("fmt", "magic"), [("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_pictures_through_graphviz(out: io.StringIO, tmp_path: Path, fmt: str,
                                   magic: bytes) -> None:
    target = tmp_path / f"lab.{fmt}"
    run(format=fmt, out=str(target))
    assert target.read_bytes().startswith(magic)
    with pytest.raises(Exit, match="binary: give --out"):
        run(format=fmt)


def test_missing_graphviz_is_a_clear_error() -> None:
    with pytest.raises(matrix_views.GraphvizMissing, match="apt-get install graphviz"):
        matrix_views.render_dot("digraph {}", "svg", binary="no-such-dot-binary")


def test_cluster_source_reads_through_cluster_access(out: io.StringIO,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCluster(objects={
        "namespaces": [{"metadata": {"name": "shop"}}],
        "pods": [
            {"metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"},
                          "ownerReferences": [{"kind": "ReplicaSet", "name": "web-5d",
                                               "controller": True}]}},
            {"metadata": {"name": "db-0", "namespace": "shop", "labels": {"app": "db"},
                          "ownerReferences": [{"kind": "StatefulSet", "name": "db",
                                               "controller": True}]}},
        ],
        "networkpolicies": [{"metadata": {"name": "db", "namespace": "shop"}, "spec": {
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                         "ports": [{"port": 5432}]}]}}],
    })
    monkeypatch.setattr(matrix_tasks.DEPS, "cluster", lambda: fake)
    run(cluster=True, format="connlist")
    assert "shop/web-5d[ReplicaSet] => shop/db[StatefulSet] : TCP 5432\n" in out.getvalue()
    assert {c.detail["resource"] for c in fake.calls} == {"namespaces", "pods",
                                                          "networkpolicies"}


def test_diff_between_manifest_sets(out: io.StringIO) -> None:
    run(manifests=[str(OLD2)], diff=str(NEW1A), format="connlist")
    text = out.getvalue()
    assert text.startswith("Connectivity diff:\n")
    assert ("diff-type: changed, source: demo/cog-agents-account-query[DaemonSet], destination: "
            "demo/cog-agents-bank-ui[DaemonSet], ref1: All Connections, ref2: UDP 8080") in text
    out.truncate(0)
    out.seek(0)
    run(manifests=[str(OLD2)], diff=str(NEW1A))
    assert "changed" in out.getvalue() and "UDP 8080" in out.getvalue()
    with pytest.raises(Exit, match="--diff supports"):
        run(manifests=[str(OLD2)], diff=str(NEW1A), format="svg")


def test_explain_names_policies_and_selectors(out: io.StringIO) -> None:
    run(explain="vote/vote vote/db 5432/TCP")
    text = out.getvalue()
    assert "DENIED" in text and "podSelector [app=redis] does not match app=db" in text
    assert "denied by the source's egress side" in text
    with pytest.raises(Exit, match="SRC DST"):
        run(explain="only-one")
    with pytest.raises(Exit, match="no workload, pod or IPv4 address 'vote/nope'"):
        run(explain="vote/nope vote/db")


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"format": "yaml"}, "valid: table, json, csv, md, connlist, dot, svg, png, mermaid"),
    ({"manifests": ["x"], "cluster": True}, "either --manifests or --cluster"),
    ({"format": "connlist", "ipblock_matches_pods": True}, "ipBlock never matches a pod"),
    ({"manifests": ["/no/such/path"]}, "no such file or folder"),
    ({"stack": "nope"}, "nope"),
])
def test_errors_exit_non_zero_with_a_message(out: io.StringIO, kwargs: dict[str, Any],
                                              words: str) -> None:
    with pytest.raises(Exit) as info:
        run(**kwargs)
    assert info.value.code == 1 and words in str(info.value)


def test_ipblock_switch_changes_the_verdict(out: io.StringIO, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {app: a}}\n"
        "status: {podIP: 10.1.0.5}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: b, labels: {app: b}}\n---\n"
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
        "spec: {podSelector: {matchLabels: {app: b}}, ingress: [{from: [{ipBlock: "
        "{cidr: 10.1.0.0/16}}]}]}\n")
    run(manifests=[str(tmp_path)], format="json")
    assert '"src": "default/a[Pod]",\n    "dst": "default/b[Pod]"' not in out.getvalue()
    out.truncate(0)
    out.seek(0)
    run(manifests=[str(tmp_path)], format="json", ipblock_matches_pods=True)
    assert '"src": "default/a[Pod]",\n    "dst": "default/b[Pod]"' in out.getvalue()


def test_command_line_options() -> None:
    names = {arg.names[0] for arg in matrix_tasks.matrix.get_arguments()}
    assert {"manifests", "cluster", "stack", "format", "out", "force", "diff", "explain",
            "ipblock-matches-pods"} <= names
    assert matrix_tasks.matrix.__doc__ and all(matrix_tasks.matrix.help.values())
