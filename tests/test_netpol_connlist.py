"""connlist output against netpol-analyzer's own expected outputs (byte for byte).

The shared corpus (../shared/netpol-corpus, see its README) holds 35 upstream cases; every case
with an expected connlist runs here. ``tests/data/netpol`` adds upstream cases that are not in the
shared corpus. Data: np-guard/netpol-analyzer, Apache-2.0 (attribution next to the data).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from packetwalk.errors import InputError
from packetwalk.netpol import connlist
from packetwalk.netpol.evaluator import EvalOptions, analyze
from packetwalk.netpol.loader import load_cluster

HERE = Path(__file__).resolve().parent
CORPUS = Path(
    os.environ.get("PACKETWALK_NETPOL_CORPUS", HERE.parents[1] / "shared" / "netpol-corpus")
)
ANALYZER = CORPUS / "netpol-analyzer"
EXTRA = HERE / "data" / "netpol" / "netpol-analyzer"
needs_corpus = pytest.mark.skipif(
    not ANALYZER.is_dir(), reason=f"shared corpus not found at {ANALYZER}"
)
CONNLIST = EvalOptions(mode="connlist")


def _index() -> list[tuple[str, str]]:
    if not (ANALYZER / "INDEX.tsv").is_file():
        return []
    rows = (ANALYZER / "INDEX.tsv").read_text().splitlines()[1:]
    return [(cols[0], cols[5]) for cols in (r.split("\t") for r in rows)]


CASES_WITH_CONNLIST = [(case, expected) for case, expected in _index() if expected != "-"]


def _connlist(folder: Path, fmt: str = "txt") -> str:
    return connlist.render(analyze(load_cluster([folder]), CONNLIST), fmt)


@needs_corpus
def test_the_corpus_index_lists_29_connlist_cases() -> None:
    assert len(CASES_WITH_CONNLIST) == 29


@needs_corpus
@pytest.mark.parametrize(
    ("case", "expected"), CASES_WITH_CONNLIST, ids=[c for c, _ in CASES_WITH_CONNLIST]
)
def test_connlist_txt_is_identical_to_netpol_analyzer(case: str, expected: str) -> None:
    assert _connlist(ANALYZER / "tests" / case) == (ANALYZER / expected).read_text()


@needs_corpus
@pytest.mark.parametrize(
    ("case", "fmt"),
    [
        ("netpol-analysis-example-minimal", "json"),
        ("netpol-analysis-example-minimal", "csv"),
        ("netpol-analysis-example-minimal", "md"),
        ("onlineboutique", "json"),
        ("onlineboutique", "md"),
    ],
)
def test_other_formats_are_identical(case: str, fmt: str) -> None:
    expected = ANALYZER / "test_outputs" / "connlist" / f"{case}_connlist_output.{fmt}"
    assert _connlist(ANALYZER / "tests" / case, fmt) == expected.read_text()


@needs_corpus
@pytest.mark.parametrize("as_bool", [False, True])
def test_full_pod_matrix_of_onlineboutique(as_bool: bool) -> None:
    name = "connections_map_output_bool.txt" if as_bool else "connections_map_output.txt"
    want = (ANALYZER / "tests" / "onlineboutique" / name).read_text()
    analysis = analyze(load_cluster([ANALYZER / "tests" / "onlineboutique"]), CONNLIST)
    got = connlist.pod_matrix(analysis, as_bool=as_bool)
    assert sorted(got.splitlines()) == sorted(want.splitlines())
    assert len(got.splitlines()) == 144


@pytest.mark.parametrize(
    "case",
    [
        "semanticDiff-same-topologies-old2",
        "semanticDiff-same-topologies-new1a",
        "semanticDiff-different-topologies-policy-b-with-ipblock",
    ],
)
def test_extra_upstream_cases_not_in_the_shared_corpus(case: str) -> None:
    expected = EXTRA / "test_outputs" / "connlist" / f"{case}_connlist_output.txt"
    assert _connlist(EXTRA / "tests" / case) == expected.read_text()


@pytest.mark.parametrize(
    ("case", "owner", "field"),
    [
        (
            "example_pods_w_same_owner_and_labels_gap_with_bad_match_expression",
            "default/internal-security",
            "spec.ingress[0].from[0].podSelector",
        ),
        ("semanticDiff-same-topologies-illegal-podlist", "demo/cog-agents", "spec.podSelector"),
    ],
)
def test_extra_bad_path_cases_fail_with_the_owner_and_field(
    case: str, owner: str, field: str
) -> None:
    with pytest.raises(InputError) as info:
        _connlist(EXTRA / "tests" / case)
    message = str(info.value)
    assert owner in message and field in message
    assert info.value.source is not None and info.value.source.endswith(".yaml")


@needs_corpus
@pytest.mark.parametrize(
    ("case", "fragments"),
    [
        (
            "np_bad_path_test_1",
            ["backend-netpol", "two NetworkPolicies named default/backend-netpol", "metadata.name"],
        ),
        (
            "np_bad_path_test_2",
            [
                "endPort field cannot be defined if the port field is defined as a "
                "named (string) port",
                "spec.ingress[1].ports[0].endPort",
            ],
        ),
        (
            "np_test_with_empty_port_range",
            ["port range 10-1", "ns1/egress-empty-port-range", "spec.egress[0].ports[1].endPort"],
        ),
    ],
)
def test_corpus_bad_path_cases_give_our_errors(case: str, fragments: list[str]) -> None:
    with pytest.raises(InputError) as info:
        _connlist(ANALYZER / "tests" / case)
    for fragment in fragments:
        assert fragment in str(info.value)
    assert info.value.source and info.value.source.startswith(str(ANALYZER / "tests" / case))
    assert info.value.location and info.value.location.startswith("line ")


def test_rows_are_sorted_and_self_pairs_omitted(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b}\n"
        "spec: {template: {metadata: {labels: {app: b}}}, replicas: 3}\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n"
        "spec: {template: {metadata: {labels: {app: a}}}}\n"
    )
    lines = _connlist(tmp_path).splitlines()
    assert lines == sorted(lines)
    assert all(not line.startswith("default/b[Deployment] => default/b") for line in lines)
    assert "default/a[Deployment] => default/b[Deployment] : All Connections" in lines


def test_csv_quotes_multi_protocol_connections() -> None:
    data = [("x/a[Pod]", "x/b[Pod]", "TCP 53,UDP 53")]
    assert connlist.render_rows(data, "csv") == 'src,dst,conn\nx/a[Pod],x/b[Pod],"TCP 53,UDP 53"\n'
    with pytest.raises(ValueError, match="unknown connlist format"):
        connlist.render_rows(data, "yaml")
