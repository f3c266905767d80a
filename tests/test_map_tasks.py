"""``invoke map``: from a capture folder, live against the in-memory cluster, --out, --diff."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from invoke.context import Context
from invoke.exceptions import Exit
from rich.console import Console

from packetwalk.cli import map_tasks
from packetwalk.cluster.model import NodeInfo
from packetwalk.intents import parse_client_intents
from packetwalk.kube.access import DEBUG_CONTAINER, DEBUG_NAMESPACE, ClusterRefused
from packetwalk.kube.fake import Call, FakeCluster
from packetwalk.mapper.folder import INVENTORY_FILE
from packetwalk.walk import mapcapture

GOLDEN = Path(__file__).parent / "data" / "mapper" / "lab"


@pytest.fixture
def deps(monkeypatch: pytest.MonkeyPatch) -> Iterator[map_tasks.Deps]:
    deps = map_tasks.Deps(
        console=Console(file=io.StringIO(), width=200), out=io.StringIO(), sleep=lambda s: None
    )
    monkeypatch.setattr(map_tasks, "DEPS", deps)
    yield deps


def out_text(deps: map_tasks.Deps) -> str:
    assert isinstance(deps.out, io.StringIO)
    return deps.out.getvalue()


def console_text(deps: map_tasks.Deps) -> str:
    assert isinstance(deps.console.file, io.StringIO)
    return deps.console.file.getvalue()


def test_from_a_folder_writes_intents_that_read_back(deps: map_tasks.Deps) -> None:
    map_tasks.map(Context(), from_=str(GOLDEN))
    intents = parse_client_intents(out_text(deps), source="out")
    assert [(i.namespace, i.workload) for i in intents] == [("tools", "report"), ("vote", "client")]
    assert "2 client workload(s), 1 attempted, 1 unattributed, 3 dropped" in console_text(deps)


def test_namespace_and_formats(deps: map_tasks.Deps) -> None:
    map_tasks.map(Context(), from_=str(GOLDEN), namespace="tools", format="json")
    data = json.loads(out_text(deps))
    assert [d["metadata"]["namespace"] for d in data["intents"]] == ["tools"]


def test_out_is_never_overwritten_without_force(deps: map_tasks.Deps, tmp_path: Path) -> None:
    target = tmp_path / "learned.yaml"
    target.write_text("mine\n")
    with pytest.raises(Exit) as caught:
        map_tasks.map(Context(), from_=str(GOLDEN), out=str(target))
    assert "already exists; add --force" in str(caught.value.message)
    assert target.read_text() == "mine\n"
    map_tasks.map(Context(), from_=str(GOLDEN), out=str(target), force=True, format="table")
    assert target.read_text().startswith("CLIENT")
    nested = tmp_path / ".packetwalk" / "lab" / "kind" / "learned-intents.yaml"
    map_tasks.map(Context(), from_=str(GOLDEN), out=str(nested))  # a lab folder not made yet
    assert "kind: ClientIntents" in nested.read_text()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("format", "xml", "unknown format 'xml'"), ("duration", "soon", "'soon' is not a duration")],
)
def test_bad_options_are_named(deps: map_tasks.Deps, option: str, value: str, message: str) -> None:
    with pytest.raises(Exit) as caught:
        map_tasks.map(Context(), from_=str(GOLDEN), **{option: value})
    assert message in str(caught.value.message)


def test_diff_lists_both_ways_and_the_connlist_diff(deps: map_tasks.Deps, tmp_path: Path) -> None:
    declared = tmp_path / "declared.yaml"
    declared.write_text(
        "apiVersion: k8s.otterize.com/v2beta1\nkind: ClientIntents\n"
        "metadata: {name: client, namespace: vote}\n"
        "spec:\n  workload: {name: client, kind: Deployment}\n"
        "  targets:\n    - service: {name: api}\n    - kubernetes: {name: report.tools}\n"
    )
    map_tasks.map(Context(), from_=str(GOLDEN), diff=str(declared), format="table")
    text = out_text(deps)
    assert "observed but not declared:\n  tools/report -> service api-metrics.vote" in text
    assert "declared but never seen:\n  vote/client -> kubernetes report.tools" in text
    assert "diff-type: removed, source: vote/client-5d8f7[ReplicaSet]" in text


def live_cluster(*, conntrack: bool = True) -> FakeCluster:
    objects = [o for o in yaml.safe_load_all((GOLDEN / INVENTORY_FILE).read_text()) if o]
    by_resource: dict[str, list[dict[str, object]]] = {}
    for resource, kind in mapcapture.INVENTORY_RESOURCES.items():
        by_resource[resource] = [o for o in objects if o["kind"] == kind]
    fake = FakeCluster(
        nodes=[NodeInfo("node-a", "172.18.0.2")],
        objects=by_resource,
    )
    pod = ("default", "pw-node-node-a", DEBUG_CONTAINER)
    fake.stream_payloads[pod] = (GOLDEN / "node-a.pcap").read_bytes()
    after = (GOLDEN / "node-a.conntrack-after.txt").read_text()
    before = (GOLDEN / "node-a.conntrack-before.txt").read_text()

    def is_conntrack(call: Call) -> bool:
        return tuple(call.command) == ("conntrack", "-L")

    if conntrack:
        fake.on_exec(is_conntrack, after)
        fake.on_exec(is_conntrack, before, times=1)  # newest first: the first listing
    return fake


def test_live_captures_on_every_node_then_maps_and_cleans_up(
    deps: map_tasks.Deps, tmp_path: Path
) -> None:
    fake = live_cluster()
    times = yaml.safe_load((GOLDEN / "map.yaml").read_text())
    clock = iter([times["started"], times["ended"]])
    deps.clock = lambda: next(clock)
    deps.cluster = lambda cfg, context: fake
    map_tasks.map(Context(), duration="2s", out_dir=str(tmp_path))
    (folder,) = tmp_path.iterdir()
    assert folder.name.endswith("-map")
    streams = fake.calls_of("stream")
    assert len(streams) == 1 and streams[0].pod == "pw-node-node-a"
    assert "tcp[tcpflags] & tcp-syn != 0" in " ".join(streams[0].command)
    assert (folder / "node-a.conntrack-before.txt").read_text().startswith("tcp")
    intents = parse_client_intents(out_text(deps), source="out")
    assert [(i.namespace, i.workload) for i in intents] == [("tools", "report"), ("vote", "client")]
    deleted = [c.line for c in fake.calls_of("kubectl") if "delete" in c.line]
    assert deleted == [f"kubectl delete pod -n {DEBUG_NAMESPACE} pw-node-node-a --wait=false"]


def test_live_without_conntrack_warns_and_still_maps_the_syns(
    deps: map_tasks.Deps, tmp_path: Path
) -> None:
    fake = live_cluster(conntrack=False)
    times = yaml.safe_load((GOLDEN / "map.yaml").read_text())
    clock = iter([times["started"], times["ended"]])
    deps.clock = lambda: next(clock)
    deps.cluster = lambda cfg, context: fake
    map_tasks.map(Context(), duration="1s", out_dir=str(tmp_path), keep=True)
    assert "conntrack -L (before) failed" in console_text(deps)
    intents = parse_client_intents(out_text(deps), source="out")
    client = next(i for i in intents if i.workload == "client")
    # no conntrack: the connection older than the capture and the UDP one are not seen
    assert [t.name for t in client.targets] == ["api", ""]
    assert not [c for c in fake.calls_of("kubectl") if "delete" in c.line]


def test_a_failed_capture_still_removes_the_debug_pods_it_created(
    deps: map_tasks.Deps, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = live_cluster()

    def refuse(*args: object, **kwargs: object) -> None:
        raise ClusterRefused("exec streams are forbidden", status=403)

    monkeypatch.setattr(fake, "stream", refuse)
    deps.cluster = lambda cfg, context: fake
    with pytest.raises(Exit) as caught:
        map_tasks.map(Context(), duration="1s", out_dir=str(tmp_path))
    assert "exec streams are forbidden" in str(caught.value.message)
    deleted = [c.line for c in fake.calls_of("kubectl") if "delete" in c.line]
    assert deleted == [f"kubectl delete pod -n {DEBUG_NAMESPACE} pw-node-node-a --wait=false"]


def test_credentials_that_cannot_list_nodes_say_what_map_needs(
    deps: map_tasks.Deps, tmp_path: Path
) -> None:
    fake = live_cluster()
    fake.role_namespaces = frozenset({"vote"})
    deps.cluster = lambda cfg, context: fake
    with pytest.raises(Exit) as caught:
        map_tasks.map(Context(), duration="1s", out_dir=str(tmp_path))
    message = str(caught.value.message)
    assert "invoke map watches every node" in message and "forbidden" in message
    assert "--from FOLDER" in message
    assert fake.calls_of("node_debug_pod") == []


def test_diff_against_the_labs_own_intents_file(deps: map_tasks.Deps) -> None:
    """The lab's file leaves out metadata.namespace: those objects are the app namespace's."""
    declared = Path(__file__).parent.parent / "stacks" / "intents" / "voting-app.yaml"
    with pytest.raises(Exit) as caught:  # its workloads are not in this capture's inventory
        map_tasks.map(Context(), from_=str(GOLDEN), diff=str(declared))
    assert "missing metadata.namespace" not in str(caught.value.message)
    assert "is for unknown workload vote.vote of kind Deployment" in str(caught.value.message)
    assert "client-5d8f7" not in str(caught.value.message)  # owned: its Deployment stands in


# -- workshop participants ------------------------------------------------------------------------

WORKSHOP = Path(__file__).parent / "data" / "workshop"
AS_PARTICIPANTS = {"vote": "vote-p03", "tools": "vote-p04"}


def workshop_cluster() -> FakeCluster:
    """The live cluster with its two client namespaces as participants 3 (vote's client) and
    4 (tools' report) of the 12-participant stack."""
    fake = live_cluster()
    for items in fake.objects.values():
        for item in items:
            meta = item["metadata"]
            assert isinstance(meta, dict)
            if item["kind"] == "Namespace" and meta["name"] in AS_PARTICIPANTS:
                meta["name"] = AS_PARTICIPANTS[meta["name"]]
                meta["labels"] = {"kubernetes.io/metadata.name": meta["name"]}
            elif meta.get("namespace") in AS_PARTICIPANTS:
                meta["namespace"] = AS_PARTICIPANTS[meta["namespace"]]
    return fake


@pytest.mark.parametrize(
    ("participant", "learned", "theirs"),
    [(3, [("vote-p03", "client")], "vote-p04"), (4, [("vote-p04", "report")], "vote-p03")],
)
def test_a_participant_maps_their_own_namespace_only(
    deps: map_tasks.Deps,
    tmp_path: Path,
    participant: int,
    learned: list[tuple[str, str]],
    theirs: str,
) -> None:
    fake = workshop_cluster()
    times = yaml.safe_load((GOLDEN / "map.yaml").read_text())
    clock = iter([times["started"], times["ended"]])
    deps.clock = lambda: next(clock)
    deps.stacks_dir = WORKSHOP
    deps.cluster = lambda cfg, context: fake
    map_tasks.map(
        Context(),
        stack="gke-workshop",
        participant=participant,
        duration="1s",
        out_dir=str(tmp_path),
    )
    intents = parse_client_intents(out_text(deps), source="out")
    assert [(i.namespace, i.workload) for i in intents] == learned
    assert f"#   {theirs}/" not in out_text(deps)  # nor their attempts
    touched = " ".join(f"{c.namespace} {c.pod} {c.line}" for c in fake.calls)
    assert theirs not in touched
    assert {c.namespace for c in fake.calls if c.namespace} == {DEBUG_NAMESPACE}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"participant": 13},
            "--participant: stack gke-workshop has no participant 13 (valid: 1 to 12)",
        ),
        ({}, "--participant: stack gke-workshop has 12 participants: say which one you are"),
        (
            {"participant": 3, "namespace": "vote-p04"},
            "--namespace: vote-p04 is another participant's namespace; participant 3's is vote-p03",
        ),
    ],
)
def test_a_wrong_participant_is_named_before_capturing(
    deps: map_tasks.Deps, tmp_path: Path, options: dict[str, object], message: str
) -> None:
    fake = workshop_cluster()
    deps.stacks_dir = WORKSHOP
    deps.cluster = lambda cfg, context: fake
    with pytest.raises(Exit) as caught:
        map_tasks.map(
            Context(),
            stack="gke-workshop",
            duration="1s",
            out_dir=str(tmp_path),
            **options,
        )
    assert str(caught.value.message).startswith(message)
    assert fake.calls == [] and list(tmp_path.iterdir()) == []


def test_a_folder_maps_for_a_participant_or_a_named_namespace(deps: map_tasks.Deps) -> None:
    assert isinstance(deps.out, io.StringIO)
    found = []
    for stacks_dir, options in (
        (None, {"participant": 1}),  # kind: the only participant's namespace, vote
        (None, {}),  # kind: every namespace
        (WORKSHOP, {"stack": "gke-workshop", "namespace": "tools"}),  # named: no participant
    ):
        deps.out.truncate(0)
        deps.out.seek(0)
        if stacks_dir is not None:
            deps.stacks_dir = stacks_dir
        map_tasks.map(Context(), from_=str(GOLDEN), format="json", **options)
        data = json.loads(out_text(deps))
        found.append([d["metadata"]["namespace"] for d in data["intents"]])
    assert found == [["vote"], ["tools", "vote"], ["tools"]]
