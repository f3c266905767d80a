"""Connectivity diff against netpol-analyzer's expected ``diff`` outputs (byte for byte).

File ``diff_between_<A>_and_<B>.txt`` is ``diff --dir1 tests/<B> --dir2 tests/<A>``: ref1 = B.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from packetwalk.netpol import diff
from packetwalk.netpol.evaluator import EvalOptions, analyze
from packetwalk.netpol.loader import load_cluster

HERE = Path(__file__).resolve().parent
CORPUS = Path(
    os.environ.get("PACKETWALK_NETPOL_CORPUS", HERE.parents[1] / "shared" / "netpol-corpus")
)
ANALYZER = CORPUS / "netpol-analyzer"
needs_corpus = pytest.mark.skipif(
    not ANALYZER.is_dir(), reason=f"shared corpus not found at {ANALYZER}"
)
CONNLIST = EvalOptions(mode="connlist")


def _cases() -> list[tuple[str, str, str]]:
    folder = ANALYZER / "test_outputs" / "diff"
    if not folder.is_dir():
        return []
    names = sorted(p.name for p in (ANALYZER / "tests").iterdir())
    out = []
    for file in sorted(folder.iterdir()):
        body = file.name.removeprefix("diff_between_").removesuffix(".txt")
        for a in names:
            b = body[len(a) + len("_and_") :]
            if body.startswith(a + "_and_") and b in names:
                out.append((file.name, a, b))
                break
    return out


DIFFS = _cases()


@needs_corpus
def test_all_eleven_corpus_diffs_are_found() -> None:
    assert len(DIFFS) == 11


@needs_corpus
@pytest.mark.parametrize(("name", "changed", "original"), DIFFS, ids=[d[0] for d in DIFFS])
def test_diff_is_identical_to_netpol_analyzer(name: str, changed: str, original: str) -> None:
    ref1 = analyze(load_cluster([ANALYZER / "tests" / original]), CONNLIST)
    ref2 = analyze(load_cluster([ANALYZER / "tests" / changed]), CONNLIST)
    got = diff.render(diff.connectivity_diff(ref1, ref2), "txt")
    assert got == (ANALYZER / "test_outputs" / "diff" / name).read_text()


def test_extra_upstream_diff_across_different_ipblock_cuts() -> None:
    """Not in the shared corpus: both sides cut the External space differently, and lines of
    neighbouring ranges with the same verdicts are joined."""
    extra = HERE / "data" / "netpol" / "netpol-analyzer"
    a = "semanticDiff-different-topologies-policy-b-with-ipblock"
    b = "semanticDiff-different-topologies-policy-a-with-ipblock"
    ref1 = analyze(load_cluster([extra / "tests" / b]), CONNLIST)
    ref2 = analyze(load_cluster([extra / "tests" / a]), CONNLIST)
    expected = extra / "test_outputs" / "diff" / f"diff_between_{a}_and_{b}.txt"
    assert diff.render(diff.connectivity_diff(ref1, ref2), "txt") == expected.read_text()


def _write(folder: Path, policy: str) -> Path:
    folder.mkdir()
    (folder / "app.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
        "spec: {template: {metadata: {labels: {app: web}}}}\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: db}\n"
        "spec: {template: {metadata: {labels: {app: db}}}}\n" + policy
    )
    return folder


def test_diff_types_and_formats(tmp_path: Path) -> None:
    before = _write(tmp_path / "before", "")
    after = _write(
        tmp_path / "after",
        (
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
            "metadata: {name: db}\nspec:\n  podSelector: {matchLabels: {app: db}}\n"
            "  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: "
            "5432}]}]\n"
        ),
    )
    lines = diff.connectivity_diff(analyze(load_cluster([before])), analyze(load_cluster([after])))
    kinds = {(d.kind, d.src, d.dst) for d in lines}
    assert ("changed", "default/web[Deployment]", "default/db[Deployment]") in kinds
    assert ("removed", "0.0.0.0-255.255.255.255[External]", "default/db[Deployment]") in kinds
    text = diff.render(lines, "txt")
    assert text.startswith("Connectivity diff:\n")
    assert (
        "diff-type: changed, source: default/web[Deployment], destination: "
        "default/db[Deployment], ref1: All Connections, ref2: TCP 5432"
    ) in text
    assert '"diff-type": "removed"' in diff.render(lines, "json")
    assert diff.render(lines, "csv").startswith("diff-type,source,destination,ref1,ref2")
    assert diff.render(lines, "md").startswith("| diff-type |")
    assert diff.render([], "txt") == ""
    with pytest.raises(ValueError, match="unknown diff format"):
        diff.render(lines, "xml")
