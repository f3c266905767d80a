"""``invoke walk``: options, dry-run, a full run against the in-memory cluster, errors."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke.context import Context
from invoke.exceptions import Exit
from rich.console import Console
from test_walk_orchestrate import LAB, FakeHostCapture, lab_cluster, lab_pcaps

from packetwalk.cli import walk_tasks
from packetwalk.kube.fake import FakeCluster

MUTATING = ("add_ephemeral_container", "node_debug_pod", "stream", "exec", "shell")


@pytest.fixture
def deps(monkeypatch: pytest.MonkeyPatch) -> Iterator[walk_tasks.Deps]:
    deps = walk_tasks.Deps(
        console=Console(file=io.StringIO(), width=200),
        out=io.StringIO(),
        host_capture=FakeHostCapture(lab_pcaps()["host"]),
        settle=0,
        ready_timeout=2,
    )
    monkeypatch.setattr(walk_tasks, "DEPS", deps)
    yield deps


def use_cluster(deps: walk_tasks.Deps, fake: FakeCluster) -> list[tuple[str, str | None]]:
    asked: list[tuple[str, str | None]] = []

    def factory(cfg: object, context: str | None) -> FakeCluster:
        asked.append((getattr(cfg, "stack", ""), context))
        return fake

    deps.cluster = factory
    return asked


def console_text(deps: walk_tasks.Deps) -> str:
    assert isinstance(deps.console.file, io.StringIO)
    return deps.console.file.getvalue()


def out_text(deps: walk_tasks.Deps) -> str:
    assert isinstance(deps.out, io.StringIO)
    return deps.out.getvalue()


def test_options_are_the_documented_ones() -> None:
    # invoke hands out each help text once (it pops them), so ask for the arguments once
    arguments = walk_tasks.walk.get_arguments()
    names = {name for arg in arguments for name in arg.names}
    assert {
        "to",
        "from",
        "via",
        "stack",
        "out-dir",
        "format",
        "dry-run",
        "keep",
        "entry-node",
        "snapshot",
        "context",
    } <= names
    helps = {arg.names[0]: arg.help for arg in arguments}
    assert helps["from"] and "ingress|nodeport|loadbalancer|clusterip" in helps["via"]


def test_dry_run_from_a_snapshot_prints_points_filters_and_commands(deps: walk_tasks.Deps) -> None:
    walk_tasks.walk(Context(), dry_run=True, snapshot=str(LAB))
    text = console_text(deps)
    for expected in (
        "packet walk to vote/vote from user via ingress",
        "node packetwalk-worker",
        "traefik-5f9c6d8b47-k8s2d",
        "(host 172.18.255.200 and tcp port 80)",
        "kubectl debug -n vote vote-6d8c7b9f5d-x2k4q",
        "MetalLB L2 leader",
        "-H 'Host: vote.localhost' http://172.18.255.200:80/",
    ):
        assert expected in text, expected


def test_dry_run_json_is_the_plan_as_data(deps: walk_tasks.Deps) -> None:
    walk_tasks.walk(Context(), dry_run=True, snapshot=str(LAB), format="json", via="nodeport")
    plan = json.loads(out_text(deps))
    assert plan["via"] == "nodeport"
    assert [p["name"] for p in plan["points"]] == [
        "host",
        "packetwalk-worker2",
        "packetwalk-worker",
        "vote-6d8c7b9f5d-x2k4q",
    ]
    assert plan["request"]["command"].endswith("http://172.18.0.4:31000/")


def test_dry_run_against_the_cluster_only_reads_it(deps: walk_tasks.Deps, tmp_path: Path) -> None:
    fake = lab_cluster()
    asked = use_cluster(deps, fake)
    walk_tasks.walk(Context(), dry_run=True, out_dir=str(tmp_path))
    assert asked == [("kind", "kind-packetwalk")]
    assert not [c for c in fake.calls if c.kind in MUTATING and "docker network" not in c.line]
    assert not list(tmp_path.iterdir())
    assert "packet walk to vote/vote" in console_text(deps)


def test_walk_runs_writes_the_folder_and_prints_the_analysis(
    deps: walk_tasks.Deps, tmp_path: Path
) -> None:
    fake = lab_cluster()
    use_cluster(deps, fake)
    walk_tasks.walk(Context(), out_dir=str(tmp_path), context="kind-other")
    (folder,) = list(tmp_path.iterdir())
    assert {p.name for p in folder.iterdir()} >= {
        "walk.yaml",
        "plan.yaml",
        "host.pcap",
        "traefik-5f9c6d8b47-k8s2d.pcap",
        "vote-6d8c7b9f5d-x2k4q.pcap",
        "packetwalk-worker.pcap",
        "packetwalk-worker.links.txt",
    }
    assert "172.18.255.200:80" in out_text(deps)  # the analysis text
    assert "stopped" in console_text(deps)
    assert len(fake.calls_of("stream")) == 4


def test_walk_json_format_prints_the_analysis_json(deps: walk_tasks.Deps, tmp_path: Path) -> None:
    use_cluster(deps, lab_cluster())
    walk_tasks.walk(Context(), out_dir=str(tmp_path), format="json")
    body = json.loads(out_text(deps))
    assert body["flows"] and {"client", "server", "hops", "translations"} <= set(body["flows"][0])


def test_walk_with_a_failed_point_exits_non_zero_but_keeps_the_rest(
    deps: walk_tasks.Deps, tmp_path: Path
) -> None:
    fake = lab_cluster()
    key = ("vote", "vote-6d8c7b9f5d-x2k4q", "pw-cap-vote-6d8c7b9f5d-x2k4q")
    fake.stream_payloads[key] = b""
    fake.stream_exit_codes[key] = 1
    use_cluster(deps, fake)
    with pytest.raises(Exit) as exit_:
        walk_tasks.walk(Context(), out_dir=str(tmp_path))
    assert exit_.value.code == 1
    assert "1 problem" in str(exit_.value.message)
    assert "vote-6d8c7b9f5d-x2k4q: tcpdump ended before capturing" in console_text(deps)
    (folder,) = list(tmp_path.iterdir())
    assert (folder / "walk.yaml").is_file() and (folder / "traefik-5f9c6d8b47-k8s2d.pcap").is_file()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "png"}, "--format: unknown format 'png' (valid: text, json, mermaid, svg)"),
        (
            {"via": "tunnel"},
            "--via: unknown path 'tunnel' (valid: ingress, nodeport, loadbalancer, clusterip)",
        ),
        ({"snapshot": str(LAB)}, "--snapshot: a snapshot can only be planned, not captured"),
        ({"stack": "nope", "dry_run": True}, "nope"),
        ({"to": "votes", "dry_run": True, "snapshot": str(LAB)}, "--to: no Service named 'votes'"),
        ({"dry_run": True, "snapshot": "/does/not/exist.yaml"}, "cannot read the snapshot"),
    ],
)
def test_bad_input_exits_with_the_choices(
    deps: walk_tasks.Deps, tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    fake = lab_cluster()
    use_cluster(deps, fake)
    with pytest.raises(Exit) as exit_:
        walk_tasks.walk(Context(), out_dir=str(tmp_path), **kwargs)
    assert exit_.value.code == 1
    assert message in str(exit_.value.message)
    assert not list(tmp_path.iterdir())
    assert not [c for c in fake.calls if c.kind in ("add_ephemeral_container", "stream")]


def test_svg_format_is_also_saved_in_the_run_folder(deps: walk_tasks.Deps, tmp_path: Path) -> None:
    use_cluster(deps, lab_cluster())
    walk_tasks.walk(Context(), out_dir=str(tmp_path), format="svg")
    (folder,) = list(tmp_path.iterdir())
    svg = (folder / "walk.svg").read_text()
    assert svg.lstrip().startswith(("<svg", "<?xml")) and svg in out_text(deps)


def test_unreachable_cluster_is_a_clear_error(deps: walk_tasks.Deps) -> None:
    from kubernetes.config.config_exception import ConfigException

    class Unreachable(FakeCluster):
        def pods(self, namespace: str | None = None, *, selector: str | None = None) -> Any:
            raise ConfigException("Invalid kube-config file. Expected key current-context")

    deps.cluster = lambda cfg, context: Unreachable()
    with pytest.raises(Exit) as exit_:
        walk_tasks.walk(Context(), dry_run=True)
    message = str(exit_.value.message)
    assert message.startswith("cannot read the cluster of stack 'kind': Invalid kube-config file")
    assert "invoke status" in message


def test_the_walk_reaches_the_cluster_the_stack_config_names() -> None:
    from packetwalk.cli.clusters import kubectl_cluster as _kubectl_cluster
    from packetwalk.lab.config import LabConfig

    made_elsewhere = LabConfig(stack="ci", kubeconfig="/tmp/ci.kubeconfig", kube_context="kind-ci")
    access: Any = _kubectl_cluster(made_elsewhere, None)
    assert (access._context, access._kubeconfig) == ("kind-ci", "/tmp/ci.kubeconfig")
    access = _kubectl_cluster(LabConfig(stack="kind", cluster_name="pw"), None)
    assert (access._context, access._kubeconfig) == ("kind-pw", None)
    access = _kubectl_cluster(LabConfig(stack="kind", cluster_name="pw"), "other")
    assert access._context == "other"


def test_a_cluster_that_contradicts_the_stack_config_is_named(deps: walk_tasks.Deps) -> None:
    """The snapshot runs kindnet with iptables kube-proxy: the default stack agrees, a Cilium
    stack does not, and the walk says so instead of silently preferring either."""
    walk_tasks.walk(Context(), dry_run=True, snapshot=str(LAB))
    assert "warning" not in console_text(deps)
    walk_tasks.walk(Context(), dry_run=True, snapshot=str(LAB), stack="kind-cilium")
    text = console_text(deps)
    assert "the cluster runs CNI 'kindnet' but stacks/Pulumi.kind-cilium.yaml says 'cilium'" in text
    assert "kube-proxy mode 'iptables'" in text


# -- workshop participants ------------------------------------------------------------------------

WORKSHOP = Path(__file__).parent / "data" / "workshop"


def _workshop_snapshot(folder: Path) -> Path:
    """The kind lab's snapshot with the app in vote-p03 and vote-p04 instead of vote."""
    document = yaml.safe_load(LAB.read_text())
    items: list[dict[str, Any]] = []
    for item in document["items"]:
        if item["metadata"].get("namespace") != "vote":
            items.append(item)
            continue
        for tag in ("p03", "p04"):
            copy = json.loads(json.dumps(item))
            copy["metadata"]["namespace"] = f"vote-{tag}"
            if copy["kind"] == "Pod":
                copy["metadata"]["name"] += f"-{tag}"
            for rule in copy.get("spec", {}).get("rules", []):
                rule["host"] = rule["host"].replace(".localhost", f"-{tag}.localhost")
            items.append(copy)
    path = folder / "workshop-lab.yaml"
    path.write_text(yaml.safe_dump({**document, "items": items}))
    return path


def test_participant_walks_to_their_own_namespace(
    deps: walk_tasks.Deps, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps.console = Console(file=io.StringIO(), width=400)
    monkeypatch.setattr(deps, "stacks_dir", WORKSHOP)
    snapshot = str(_workshop_snapshot(tmp_path))
    walk_tasks.walk(Context(), dry_run=True, snapshot=snapshot, stack="gke-workshop", participant=4)
    text = console_text(deps)
    assert "packet walk to vote-p04/vote" in text
    assert "vote-p03" not in text and "-p03" not in text
    assert "vote-6d8c7b9f5d-x2k4q-p04" in text and "Host: vote-p04.localhost" in text


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (13, "--participant: stack gke-workshop has no participant 13 (valid: 1 to 12)"),
        (0, "--participant: stack gke-workshop has 12 participants: say which one you are"),
    ],
)
def test_a_wrong_participant_is_named(
    deps: walk_tasks.Deps, monkeypatch: pytest.MonkeyPatch, number: int, message: str
) -> None:
    monkeypatch.setattr(deps, "stacks_dir", WORKSHOP)
    with pytest.raises(Exit) as caught:
        walk_tasks.walk(
            Context(), dry_run=True, snapshot=str(LAB), stack="gke-workshop", participant=number
        )
    assert str(caught.value.message).startswith(message)
