"""``invoke matrix``: sources (lab, manifests, cluster), formats, --out, --diff, --explain."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from invoke.context import MockContext
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
    monkeypatch.setattr(
        matrix_tasks.DEPS, "console", Console(file=buffer, width=220, color_system=None)
    )
    return buffer


@pytest.fixture
def err(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """Standard error (warnings, notes), narrow: each message must stay on one line anyway."""
    buffer = io.StringIO()
    monkeypatch.setattr(
        matrix_tasks.DEPS, "err_console", Console(file=buffer, width=60, color_system=None)
    )
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
    expected = (
        EXTRA
        / "test_outputs"
        / "connlist"
        / "semanticDiff-same-topologies-old2_connlist_output.txt"
    ).read_text()
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
def test_pictures_through_graphviz(
    out: io.StringIO, tmp_path: Path, fmt: str, magic: bytes
) -> None:
    target = tmp_path / f"lab.{fmt}"
    run(format=fmt, out=str(target))
    assert target.read_bytes().startswith(magic)
    with pytest.raises(Exit, match="binary: give --out"):
        run(format=fmt)


def test_missing_graphviz_is_a_clear_error() -> None:
    with pytest.raises(matrix_views.GraphvizMissing, match="apt-get install graphviz"):
        matrix_views.render_dot("digraph {}", "svg", binary="no-such-dot-binary")


def test_cluster_source_reads_through_cluster_access(
    out: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeCluster(
        objects={
            "namespaces": [{"metadata": {"name": "shop"}}],
            "pods": [
                {
                    "metadata": {
                        "name": "web-1",
                        "namespace": "shop",
                        "labels": {"app": "web"},
                        "ownerReferences": [
                            {"kind": "ReplicaSet", "name": "web-5d", "controller": True}
                        ],
                    }
                },
                {
                    "metadata": {
                        "name": "db-0",
                        "namespace": "shop",
                        "labels": {"app": "db"},
                        "ownerReferences": [
                            {"kind": "StatefulSet", "name": "db", "controller": True}
                        ],
                    }
                },
            ],
            "networkpolicies": [
                {
                    "metadata": {"name": "db", "namespace": "shop"},
                    "spec": {
                        "podSelector": {"matchLabels": {"app": "db"}},
                        "ingress": [
                            {
                                "from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                                "ports": [{"port": 5432}],
                            }
                        ],
                    },
                }
            ],
        }
    )
    monkeypatch.setattr(matrix_tasks.DEPS, "cluster", lambda: fake)
    run(cluster=True, format="connlist")
    assert "shop/web-5d[ReplicaSet] => shop/db[StatefulSet] : TCP 5432\n" in out.getvalue()
    assert {c.detail["resource"] for c in fake.calls} == {"namespaces", "pods", "networkpolicies"}


def test_diff_between_manifest_sets(out: io.StringIO) -> None:
    run(manifests=[str(OLD2)], diff=str(NEW1A), format="connlist")
    text = out.getvalue()
    assert text.startswith("Connectivity diff:\n")
    assert (
        "diff-type: changed, source: demo/cog-agents-account-query[DaemonSet], destination: "
        "demo/cog-agents-bank-ui[DaemonSet], ref1: All Connections, ref2: UDP 8080"
    ) in text
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


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"format": "yaml"}, "valid: table, json, csv, md, connlist, dot, svg, png, mermaid"),
        ({"manifests": ["x"], "cluster": True}, "either --manifests or --cluster"),
        ({"format": "connlist", "ipblock_matches_pods": True}, "ipBlock never matches a pod"),
        ({"manifests": ["/no/such/path"]}, "no such file or folder"),
        ({"stack": "nope"}, "nope"),
    ],
)
def test_errors_exit_non_zero_with_a_message(
    out: io.StringIO, kwargs: dict[str, Any], words: str
) -> None:
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
        "{cidr: 10.1.0.0/16}}]}]}\n"
    )
    run(manifests=[str(tmp_path)], format="json")
    assert '"src": "default/a[Pod]",\n    "dst": "default/b[Pod]"' not in out.getvalue()
    out.truncate(0)
    out.seek(0)
    run(manifests=[str(tmp_path)], format="json", ipblock_matches_pods=True)
    assert '"src": "default/a[Pod]",\n    "dst": "default/b[Pod]"' in out.getvalue()


def test_command_line_options() -> None:
    names = {arg.names[0] for arg in matrix_tasks.matrix.get_arguments()}
    assert {
        "manifests",
        "cluster",
        "stack",
        "format",
        "out",
        "force",
        "diff",
        "explain",
        "ipblock-matches-pods",
        "include-finished",
    } <= names
    assert matrix_tasks.matrix.__doc__ and all(matrix_tasks.matrix.help.values())


# --------------------------------------------------------------------------- stdout is the result

IGNORED_FIELD = (  # the port entry has no containerPort: the loader ignores it with a warning
    "apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {app: a}}\n"
    "spec: {containers: [{name: c, ports: [{name: http, containerport: 80}]}]}\n---\n"
    "apiVersion: v1\nkind: Pod\nmetadata: {name: b, labels: {app: b}}\n---\n"
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
    "spec: {podSelector: {matchLabels: {app: b}}, ingress: [{from: [{podSelector: "
    "{matchLabels: {app: a}}}], ports: [{port: 5432}]}]}\n"
)
WARNING = "no containerPort (fields: containerport, name); entry ignored"
ALLOWED = ("default/a[Pod]", "default/b[Pod]")


def _parse(fmt: str, text: str) -> set[tuple[str, str]]:
    """The (src, dst) pairs of a machine-readable result; fails on anything else in it."""
    if fmt == "json":
        return {(row["src"], row["dst"]) for row in json.loads(text)}
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["src", "dst", "conn"] and all(len(r) == 3 for r in rows)
        return {(r[0], r[1]) for r in rows[1:]}
    if fmt == "md":
        lines = text.splitlines()
        assert lines and all(line.startswith("|") and line.endswith("|") for line in lines)
        return {(c[1].strip(), c[2].strip()) for c in (line.split("|") for line in lines[2:])}
    assert fmt == "connlist"
    found = [re.fullmatch(r"(\S+) => (\S+) : .+", line) for line in text.splitlines()]
    assert all(found), text
    return {(m[1], m[2]) for m in found if m}


@pytest.mark.parametrize("fmt", ["connlist", "json", "csv", "md"])
def test_machine_formats_keep_warnings_off_standard_output(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)  # the real consoles, as a shell sees them
    monkeypatch.setattr(matrix_tasks.DEPS, "console", None)
    monkeypatch.setattr(matrix_tasks.DEPS, "err_console", None)
    (tmp_path / "m.yaml").write_text(IGNORED_FIELD)
    run(manifests=[str(tmp_path)], format=fmt)
    captured = capsys.readouterr()
    assert ALLOWED in _parse(fmt, captured.out)
    assert "warning" not in captured.out and "containerPort" not in captured.out
    assert f"warning: {tmp_path / 'm.yaml'}:line 1: Pod default/a: " in captured.err
    assert WARNING in captured.err


@pytest.mark.parametrize(
    ("fmt", "start"),
    [("dot", "digraph connectivity {"), ("mermaid", "flowchart LR"), ("table", "")],
)
def test_every_format_sends_warnings_to_standard_error(
    fmt: str, start: str, tmp_path: Path, out: io.StringIO, err: io.StringIO
) -> None:
    (tmp_path / "m.yaml").write_text(IGNORED_FIELD)
    run(manifests=[str(tmp_path)], format=fmt)
    assert out.getvalue().lstrip().startswith(start) and "warning" not in out.getvalue()
    assert WARNING in err.getvalue()
    assert len(err.getvalue().splitlines()) == 1  # one line, though longer than the console


def test_diff_and_out_keep_standard_output_clean(
    tmp_path: Path, out: io.StringIO, err: io.StringIO
) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "m.yaml").write_text(IGNORED_FIELD.replace("5432", "5433"))
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "m.yaml").write_text(IGNORED_FIELD)
    run(manifests=[str(tmp_path / "old")], diff=str(tmp_path / "new"), format="json")
    assert [d["diff-type"] for d in json.loads(out.getvalue())] == ["changed"]
    assert err.getvalue().count(WARNING) == 2  # both sides' warnings, each naming its file
    assert str(tmp_path / "new" / "m.yaml") in err.getvalue()
    out.truncate(0)
    out.seek(0)
    run(manifests=[str(tmp_path / "new")], format="csv", out=str(tmp_path / "m.csv"))
    assert out.getvalue() == "" and f"wrote {tmp_path / 'm.csv'}" in err.getvalue()


def test_warning_text_is_not_read_as_markup(
    out: io.StringIO, err: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        matrix_tasks.DEPS,
        "lab_objects",
        lambda stack: [
            {
                "kind": "Pod",
                "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "ports": [{"[bold]x[/bold]": 1}]}]},
            }
        ],
    )
    run(format="connlist")
    assert "(fields: [bold]x[/bold]); entry ignored" in err.getvalue()


# --------------------------------------------------------------------------- finished pods


def _pod(name: str, phase: str, namespace: str = "jobs") -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]},
        "status": {"phase": phase, "podIP": "10.0.0.9"},
    }


def _yaml(*objects: dict[str, Any]) -> str:
    return "---\n".join(json.dumps(o) + "\n" for o in objects)


def test_finished_pods_are_left_out_with_a_note_or_included_on_request(
    tmp_path: Path, out: io.StringIO, err: io.StringIO
) -> None:
    (tmp_path / "m.yaml").write_text(
        _yaml(_pod("web", "Running"), _pod("done", "Succeeded"), _pod("broke", "Failed"))
    )
    run(manifests=[str(tmp_path)], format="json")
    assert {(r["src"], r["dst"]) for r in json.loads(out.getvalue())} == {
        ("jobs/web[Pod]", "0.0.0.0-255.255.255.255[External]"),
        ("0.0.0.0-255.255.255.255[External]", "jobs/web[Pod]"),
    }
    assert err.getvalue() == (
        f"note: left out 2 pods in phase Succeeded or Failed (no network endpoint) from "
        f"{tmp_path}: jobs/done, jobs/broke; --include-finished evaluates them as "
        "netpol-analyzer does\n"
    )
    out.truncate(0)
    out.seek(0)
    err.truncate(0)
    err.seek(0)
    run(manifests=[str(tmp_path)], format="json", include_finished=True)
    pairs = {(r["src"], r["dst"]) for r in json.loads(out.getvalue())}
    assert ("jobs/done[Pod]", "jobs/broke[Pod]") in pairs and (
        "jobs/web[Pod]",
        "jobs/done[Pod]",
    ) in pairs
    assert err.getvalue() == ""


def test_many_finished_pods_are_counted_and_a_few_named(
    out: io.StringIO, err: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    pods = [_pod(f"job-{i}", "Succeeded") for i in range(8)]
    monkeypatch.setattr(matrix_tasks.DEPS, "lab_objects", lambda stack: pods)
    run(format="connlist")
    note = err.getvalue()
    assert note.startswith("note: left out 8 pods in phase Succeeded or Failed")
    assert (
        "the lab's own objects (stack kind): jobs/job-0, jobs/job-1, jobs/job-2, "
        "jobs/job-3, jobs/job-4 and 3 more;"
        in note
        and "job-5" not in note
    )
    assert out.getvalue() == ""  # nothing left to connect
    run(format="connlist", include_finished=True)
    assert "jobs/job-0[Pod] => jobs/job-7[Pod] : All Connections\n" in out.getvalue()


def test_finished_pods_of_a_live_cluster(
    out: io.StringIO, err: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _pod("backup-28", "Succeeded", "shop")
    done["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "backup-28", "controller": True}]
    fake = FakeCluster(
        objects={
            "namespaces": [{"metadata": {"name": "shop"}}],
            "pods": [_pod("web", "Running", "shop"), done],
            "networkpolicies": [],
        }
    )
    monkeypatch.setattr(matrix_tasks.DEPS, "cluster", lambda: fake)
    run(cluster=True, format="connlist")
    assert "backup" not in out.getvalue()
    assert (
        "1 pod in phase Succeeded or Failed (no network endpoint) from the current kube "
        "context: shop/backup-28;" in err.getvalue()
    )
    run(cluster=True, format="connlist", include_finished=True)
    assert "shop/web[Pod] => shop/backup-28[Job] : All Connections\n" in out.getvalue()


def test_finished_pods_on_the_diff_side(tmp_path: Path, out: io.StringIO, err: io.StringIO) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "m.yaml").write_text(_yaml(_pod("web", "Running")))
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "m.yaml").write_text(_yaml(_pod("web", "Running"), _pod("done", "Failed")))
    run(manifests=[str(tmp_path / "old")], diff=str(tmp_path / "new"), format="connlist")
    assert out.getvalue() == ""  # no differences: the finished pod is left out on both sides
    assert f"from --diff {tmp_path / 'new'}: jobs/done;" in err.getvalue()
    out.truncate(0)
    out.seek(0)
    run(
        manifests=[str(tmp_path / "old")],
        diff=str(tmp_path / "new"),
        format="connlist",
        include_finished=True,
    )
    assert "diff-type: added, source: jobs/web[Pod], destination: jobs/done[Pod]" in out.getvalue()


# -- workshop participants ------------------------------------------------------------------------

WORKSHOP = HERE / "data" / "workshop"


@pytest.fixture
def workshop(monkeypatch: pytest.MonkeyPatch) -> None:
    from packetwalk.lab.config import load_stack_config
    from packetwalk.lab.objects import lab_objects, lab_peer_objects

    def objects(stack: str) -> list[dict[str, Any]]:
        cfg = load_stack_config(stack, WORKSHOP)
        return lab_objects(cfg) + lab_peer_objects(cfg)

    monkeypatch.setattr(matrix_tasks.DEPS, "stacks_dir", WORKSHOP)
    monkeypatch.setattr(matrix_tasks.DEPS, "lab_objects", objects)


def test_participant_sees_their_own_namespace_only(workshop: None, out: io.StringIO) -> None:
    run(stack="gke-workshop", participant=3, format="connlist")
    text = out.getvalue()
    assert "vote-p03/vote[Deployment] => vote-p03/redis[Deployment] : TCP 6379" in text
    assert "traefik/traefik[Deployment] => vote-p03/vote[Deployment]" in text
    assert not re.search(r"vote-p(0[1-24-9]|1\d)", text)
    out.truncate(0)
    out.seek(0)
    run(stack="gke-workshop", format="connlist")  # the instructor: every participant
    assert "vote-p04/vote[Deployment]" in out.getvalue()


def test_participant_with_cluster_reads_only_their_namespace(
    workshop: None, out: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod = {
        "kind": "Pod",
        "metadata": {"name": "vote-1", "namespace": "vote-p03", "labels": {"app": "vote"}},
        "spec": {"containers": [{"name": "vote"}]},
        "status": {"podIP": "10.244.1.5", "phase": "Running"},
    }
    fake = FakeCluster(objects={"pods": [pod], "networkpolicies": []})
    monkeypatch.setattr(matrix_tasks.DEPS, "cluster", lambda: fake)
    run(stack="gke-workshop", participant=3, cluster=True, format="json")
    assert [c.namespace for c in fake.calls_of("get_objects")] == ["vote-p03", "vote-p03"]
    assert [c.detail["resource"] for c in fake.calls_of("get_objects")] == [
        "pods",
        "networkpolicies",
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"participant": 13}, "--participant: stack gke-workshop has no participant 13"),
        ({"participant": 2, "manifests": [str(OLD2)]}, "--participant: selects the lab's own"),
    ],
)
def test_participant_errors(workshop: None, options: dict[str, Any], message: str) -> None:
    with pytest.raises(Exit) as caught:
        run(stack="gke-workshop", **options)
    assert str(caught.value.message).startswith(message)
