"""packetwalk.host.stacks (the Automation API adapter) against a fake workspace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from fake_pulumi import (
    KIND_RESOURCES,
    UNREACHABLE,
    FakeWorld,
    command_error,
    step_events,
    urn,
    write_lock,
)
from invoke.context import MockContext
from invoke.exceptions import Exit
from pulumi import automation as auto
from test_stack_tasks import Env, repo

from packetwalk.cli import stack_tasks
from packetwalk.host import stacks
from packetwalk.host.probes import RunResult
from packetwalk.host.stacks import (
    CLUSTER_PROJECT,
    LAB_PROJECT,
    ClusterCheck,
    DiagnosticLine,
    EventTranslator,
    LabStacks,
    ProgressEvent,
    ResourceEvent,
    StackError,
    StepStarted,
    urn_name,
)
from packetwalk.lab.config import load_stack_config
from packetwalk.lab.urns import kind_recreate_urns

__all__ = ["repo"]  # the fixture, shared with test_stack_tasks

REPO_STACKS = Path(__file__).resolve().parents[1] / "stacks"


def make(
    tmp_path: Path, world: FakeWorld, **kwargs: object
) -> tuple[LabStacks, list[ProgressEvent]]:
    seen: list[ProgressEvent] = []
    environ = kwargs.pop("environ", {"PATH": "/usr/bin"})
    lab = LabStacks(
        "kind",
        repo=tmp_path,
        factory=world.factory,
        environ=environ,  # type: ignore[arg-type]
        sink=seen.append,
        **kwargs,  # type: ignore[arg-type]
    )
    return lab, seen


def ops(world: FakeWorld, *names: str) -> list[tuple[str, str]]:
    return [(project, op) for project, _stack, op in world.log if op in names]


def test_up_runs_cluster_then_lab_with_a_local_file_backend(tmp_path: Path) -> None:
    world = FakeWorld()
    lab, seen = make(tmp_path, world)
    summary = lab.up()
    assert ops(world, "up") == [(CLUSTER_PROJECT, "up"), (LAB_PROJECT, "up")]
    assert summary.changed
    assert [r.changes for r in summary.results] == [{"create": 4}, {"create": 5}]
    request = world.requests[0]
    assert request.create and request.stack == "kind"
    assert request.project.work_dir == tmp_path / "stacks" / "cluster"
    assert request.env["PULUMI_BACKEND_URL"] == f"file://{tmp_path}/.packetwalk/state"
    assert request.env["PULUMI_CONFIG_PASSPHRASE"] == ""
    assert (tmp_path / ".packetwalk" / "state").is_dir()
    created = [e for e in seen if isinstance(e, ResourceEvent)]
    assert ("create", "kubernetes:apps/v1:Deployment", "vote") in {
        (e.op, e.type, e.name) for e in created
    }
    assert all(e.seconds is not None for e in created)


def test_user_backend_and_passphrase_win(tmp_path: Path) -> None:
    world = FakeWorld()
    environ = {"PULUMI_BACKEND_URL": "gs://lab-state", "PULUMI_CONFIG_PASSPHRASE_FILE": "/p"}
    lab, _ = make(tmp_path, world, environ=environ)
    lab.up()
    env = world.requests[0].env
    assert "PULUMI_BACKEND_URL" not in env and "PULUMI_CONFIG_PASSPHRASE" not in env
    assert not (tmp_path / ".packetwalk").exists()


def test_rerunning_up_on_an_unchanged_lab_changes_nothing(tmp_path: Path) -> None:
    world = FakeWorld()
    lab, seen = make(tmp_path, world)
    lab.up()
    seen.clear()
    again = lab.up()
    assert not again.changed
    assert [r.changes for r in again.results] == [{"same": 4}, {"same": 5}]
    assert [e for e in seen if isinstance(e, ResourceEvent)] == []  # "same" steps are not lines
    # nothing but up/outputs/export ran the second time: no refresh, no cancel, no destroy
    second = world.log[len(world.log) // 2 :]
    assert {op for _p, _s, op in second} <= {"up", "outputs", "export"}


def test_pending_operations_are_cleared_before_up(tmp_path: Path) -> None:
    world = FakeWorld()
    world.existing.add((LAB_PROJECT, "kind"))
    world.pending[(LAB_PROJECT, "kind")] = [
        {"type": "creating", "resource": {"urn": "urn:pulumi:kind::packetwalk-lab::x::y"}}
    ]
    lab, _ = make(tmp_path, world)
    summary = lab.up()
    lab_ops = [op for project, _s, op in world.log if project == LAB_PROJECT]
    assert lab_ops.index("refresh(clear_pending_creates=True)") < lab_ops.index("up")
    assert any("interrupted with 1 operation" in note for note in summary.notes)


def test_a_stale_lock_of_a_dead_process_is_removed(tmp_path: Path) -> None:
    world = FakeWorld()
    world.locked.add((CLUSTER_PROJECT, "kind"))
    write_lock(tmp_path / ".packetwalk" / "state", CLUSTER_PROJECT, "kind", pid=424242)
    lab, _ = make(tmp_path, world, alive=lambda pid: False)
    summary = lab.up()
    assert (CLUSTER_PROJECT, "cancel") in ops(world, "cancel")
    assert any("removed the lock" in note for note in summary.notes)


def test_a_live_lock_is_reported_not_broken(tmp_path: Path) -> None:
    world = FakeWorld()
    world.locked.add((CLUSTER_PROJECT, "kind"))
    write_lock(tmp_path / ".packetwalk" / "state", CLUSTER_PROJECT, "kind", pid=os.getpid())
    lab, _ = make(tmp_path, world)
    with pytest.raises(StackError, match="invoke up --unlock"):
        lab.up()
    assert ops(world, "cancel") == []
    # --unlock is the explicit override
    lab.up(unlock=True)
    assert ops(world, "cancel") == [(CLUSTER_PROJECT, "cancel")]


def test_a_lock_from_another_host_is_never_called_stale(tmp_path: Path) -> None:
    lock = stacks.LockInfo(Path("x"), pid=1, hostname="other-laptop", username="u", timestamp="")
    assert not stacks.is_stale(lock, "this-laptop", alive=lambda pid: False)
    mine = stacks.LockInfo(Path("x"), pid=1, hostname="this-laptop", username="u", timestamp="")
    assert stacks.is_stale(mine, "this-laptop", alive=lambda pid: False)
    assert not stacks.is_stale(mine, "this-laptop", alive=lambda pid: True)


def test_dead_pid_detection_uses_a_real_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not stacks._pid_alive(child.pid)
    assert stacks._pid_alive(os.getpid())


def test_down_destroys_lab_then_cluster(tmp_path: Path) -> None:
    world = FakeWorld()
    lab, _ = make(tmp_path, world)
    lab.up()
    summary = lab.down()
    assert ops(world, "destroy") == [(LAB_PROJECT, "destroy"), (CLUSTER_PROJECT, "destroy")]
    assert [r.changes for r in summary.results] == [{"delete": 5}, {"delete": 4}]
    assert all(r.env["PULUMI_K8S_DELETE_UNREACHABLE"] == "true" for r in world.requests[-2:])
    assert not any(r.create for r in world.requests[-2:])


def test_down_succeeds_when_the_cluster_was_deleted_by_hand(tmp_path: Path) -> None:
    world = FakeWorld()
    lab, _ = make(tmp_path, world)
    lab.up()
    world.cluster_vanished = True
    summary = lab.down()
    assert [r.project for r in summary.results] == [LAB_PROJECT, CLUSTER_PROJECT]
    # The fake really enforces it: without the setting the same destroy fails.
    world.deployed[(LAB_PROJECT, "kind")] = True
    request = world.requests[-1]
    plain = world.factory(
        stacks.StackRequest(
            "kind", lab.lab, {k: v for k, v in request.env.items() if "K8S" not in k}, False
        )
    )
    assert plain is not None
    with pytest.raises(auto.CommandError, match="unreachable"):
        plain.destroy()


def test_down_of_a_lab_that_never_existed_touches_nothing(tmp_path: Path) -> None:
    world = FakeWorld()
    lab, _ = make(tmp_path, world)
    summary = lab.down()
    assert summary.results == ()
    assert len(summary.skipped) == 2 and "nothing to destroy" in summary.skipped[0]
    assert world.existing == set()


def test_failures_name_the_stack_and_keep_pulumis_message(tmp_path: Path) -> None:
    world = FakeWorld()
    world.fail[(LAB_PROJECT, "up")] = command_error("error: helm chart traefik: timed out")
    lab, _ = make(tmp_path, world)
    with pytest.raises(StackError) as info:
        lab.up()
    assert "up packetwalk-lab/kind failed" in str(info.value)
    assert "timed out" in str(info.value)
    assert UNREACHABLE not in str(info.value)


def test_preview_skips_the_lab_until_the_cluster_exists(tmp_path: Path) -> None:
    world = FakeWorld()
    lab, seen = make(tmp_path, world)
    first = lab.preview()
    assert [r.project for r in first.results] == [CLUSTER_PROJECT]
    assert "does not exist yet" in first.skipped[0]
    assert all(e.planning for e in seen if isinstance(e, ResourceEvent))
    assert ops(world, "up", "destroy") == []
    lab.up()
    second = lab.preview()
    assert [r.changes for r in second.results] == [{"same": 4}, {"same": 5}]


def test_outputs_hide_secrets_but_keep_the_kubeconfig_for_kubectl(tmp_path: Path) -> None:
    world = FakeWorld()
    lab, _ = make(tmp_path, world)
    assert not lab.outputs().exists
    lab.up()
    outputs = lab.outputs()
    assert outputs.get("voteUrl") == "http://vote.localhost"
    assert outputs.get("cni") == "kindnet"
    assert "kubeconfig" not in outputs.cluster and "kubeconfig" in outputs.secret_names
    assert outputs.kubeconfig is not None and outputs.kubeconfig.startswith("apiVersion: v1")


def test_translator_lines_durations_and_diagnostics() -> None:
    clock = iter([10.0, 12.5]).__next__
    seen: list[ProgressEvent] = []
    translate = EventTranslator("packetwalk-lab", seen.append, clock=clock)
    deploy = urn("kind", "packetwalk-lab", "kubernetes:apps/v1:Deployment", "vote")
    for event in step_events(deploy, "kubernetes:apps/v1:Deployment", "update"):
        translate(event)
    translate(
        auto.EngineEvent.from_json(
            {
                "sequence": 3,
                "timestamp": 0,
                "diagnosticEvent": {
                    "message": "Helm release is slow\n",
                    "severity": "warning",
                    "urn": deploy,
                    "color": "never",
                },
            }
        )
    )
    translate(
        auto.EngineEvent.from_json(
            {
                "sequence": 4,
                "timestamp": 0,
                "diagnosticEvent": {"message": "chatter", "severity": "info", "color": "never"},
            }
        )
    )
    failed = {
        "op": "create",
        "urn": deploy,
        "type": "kubernetes:apps/v1:Deployment",
        "provider": "",
    }
    translate(
        auto.EngineEvent.from_json(
            {
                "sequence": 5,
                "timestamp": 0,
                "resOpFailedEvent": {"metadata": failed, "status": 1, "steps": 1},
            }
        )
    )
    assert seen == [
        StepStarted("packetwalk-lab", "update", "kubernetes:apps/v1:Deployment", "vote"),
        ResourceEvent("packetwalk-lab", "update", "kubernetes:apps/v1:Deployment", "vote", 2.5),
        DiagnosticLine("packetwalk-lab", "warning", "Helm release is slow", "vote"),
        ResourceEvent(
            "packetwalk-lab", "create", "kubernetes:apps/v1:Deployment", "vote", None, failed=True
        ),
    ]


def test_backend_dir_parsing() -> None:
    assert stacks.backend_dir({"PULUMI_BACKEND_URL": "file:///srv/state"}, {}) == Path("/srv/state")
    assert stacks.backend_dir({}, {"PULUMI_BACKEND_URL": "gs://bucket"}) is None
    assert stacks.backend_dir({}, {"PULUMI_BACKEND_URL": "file://~"}) == Path.home()
    assert stacks.backend_dir({}, {}) is None


def test_the_real_factory_reports_a_missing_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No pulumi on this PATH: LocalWorkspace runs `pulumi version` in its constructor.
    monkeypatch.setenv("PATH", str(tmp_path))
    request = stacks.StackRequest("kind", stacks.Project(CLUSTER_PROJECT, tmp_path), {}, True)
    with pytest.raises(StackError, match="pulumi CLI was not found"):
        stacks.local_stack(request)


FAKE_CLI = Path(__file__).parent / "data" / "automation" / "fake-pulumi.py"


def cli_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the recording stand-in `pulumi` first on PATH; return the file it logs calls to."""
    import json

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cli = bin_dir / "pulumi"
    cli.write_text(f"#!{sys.executable}\n" + FAKE_CLI.read_text())
    cli.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    outputs = {
        CLUSTER_PROJECT: {"kubeconfig": "apiVersion: v1\n", "cni": "kindnet"},
        LAB_PROJECT: {"voteUrl": "http://vote.localhost"},
    }
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(log))
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(tmp_path / "state.json"))
    monkeypatch.setenv("FAKE_PULUMI_OUTPUTS", json.dumps(outputs))
    for name in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        monkeypatch.delenv(name, raising=False)
    return log


def test_the_real_factory_drives_the_cli_without_touching_pulumi_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's real LocalWorkspace over a stand-in `pulumi` that records every call."""
    import json

    repo = tmp_path / "repo"
    for project in ("cluster", "lab"):
        folder = repo / "stacks" / project
        folder.mkdir(parents=True)
        original = REPO_STACKS / project / "Pulumi.yaml"
        (folder / "Pulumi.yaml").write_text(original.read_text())
    log = cli_on_path(tmp_path, monkeypatch)

    lab = LabStacks("kind", repo=repo, environ=dict(os.environ))
    up = lab.up()
    assert [r.changes for r in up.results] == [{"create": 2}, {"create": 2}]
    assert lab.up().changed is False
    got = lab.outputs()
    assert got.get("voteUrl") == "http://vote.localhost" and got.kubeconfig == "apiVersion: v1\n"
    assert got.secret_names == {"kubeconfig"}
    down = lab.down()
    assert [r.project for r in down.results] == [LAB_PROJECT, CLUSTER_PROJECT]

    calls = [json.loads(line) for line in log.read_text().splitlines()]
    commands = [c for c in calls if c["argv"][:1] != ["version"]]
    inits = [c for c in commands if c["argv"][:2] == ["stack", "init"]]
    assert [Path(c["cwd"]).name for c in inits] == ["cluster", "lab"]
    assert all(c["argv"][2:5] == ["kind", "--secrets-provider", "passphrase"] for c in inits)
    for call in commands:
        assert call["env"]["PULUMI_BACKEND_URL"] == f"file://{repo}/.packetwalk/state"
        assert call["env"]["PULUMI_CONFIG_PASSPHRASE"] == ""
    destroys = [c for c in commands if c["argv"][:1] == ["destroy"]]
    assert [Path(c["cwd"]).name for c in destroys] == ["lab", "cluster"]
    assert all(c["env"]["PULUMI_K8S_DELETE_UNREACHABLE"] == "true" for c in destroys)
    ups = [c for c in commands if c["argv"][:1] == ["up"]]
    assert all("PULUMI_K8S_DELETE_UNREACHABLE" not in c["env"] for c in ups)
    for project in ("cluster", "lab"):
        written = (repo / "stacks" / project / "Pulumi.yaml").read_text()
        assert written == (REPO_STACKS / project / "Pulumi.yaml").read_text()


# -- a kind cluster deleted by hand (`kind delete cluster`) before `invoke up` ----------------


def kind_world() -> FakeWorld:
    world = FakeWorld()
    world.resources[CLUSTER_PROJECT] = list(KIND_RESOURCES)
    return world


def with_kind(world: FakeWorld) -> dict[str, object]:
    """LabStacks arguments that answer `kind get clusters` from the fake world."""
    return {"runner": world.kind_runner, "which": lambda name: f"/usr/local/bin/{name}"}


def up_args(world: FakeWorld) -> list[tuple[str, dict[str, object]]]:
    return [(project, dict(args)) for project, args in world.up_args]


def test_up_with_the_cluster_still_there_is_a_plain_up(tmp_path: Path) -> None:
    world = kind_world()
    lab, seen = make(tmp_path, world, **with_kind(world))
    first = lab.up()
    assert world.kind_calls == []  # a fresh stack has no cluster in its state: nothing to check
    assert world.kind_clusters == {"packetwalk"}
    assert first.notes == ()
    world.up_args.clear()
    again = lab.up()
    assert world.kind_calls == [("/usr/local/bin/kind", "get", "clusters")]
    assert up_args(world) == [
        (CLUSTER_PROJECT, {"replace": None, "refresh": None}),
        (LAB_PROJECT, {"replace": None, "refresh": None}),
    ]
    assert not again.changed and again.notes == ()
    assert not [e for e in seen if isinstance(e, DiagnosticLine)]


def test_a_cluster_deleted_by_hand_is_recreated_and_the_lab_brought_up_in_it(
    tmp_path: Path,
) -> None:
    world = kind_world()
    lab, seen = make(tmp_path, world, **with_kind(world))
    lab.up()
    world.kind_clusters.discard("packetwalk")  # `kind delete cluster --name packetwalk`
    world.up_args.clear()
    requests_before = len(world.requests)
    summary = lab.up()

    wanted = kind_recreate_urns("kind")
    assert [urn_name(u) for u in wanted] == ["kind-cluster", "kubeconfig", "kind-network"]
    assert up_args(world) == [
        (CLUSTER_PROJECT, {"replace": wanted, "refresh": None}),
        (LAB_PROJECT, {"replace": None, "refresh": True}),
    ]
    lab_request = world.requests[requests_before:][-1]
    assert lab_request.project.name == LAB_PROJECT
    assert lab_request.env["PULUMI_K8S_DELETE_UNREACHABLE"] == "true"
    assert world.kind_clusters == {"packetwalk"}
    assert [r.changes for r in summary.results] == [{"same": 2, "replace": 3}, {"create": 5}]
    (note,) = summary.notes
    assert "'packetwalk' is in the state but `kind get clusters` does not list it" in note
    assert "recreating it" in note
    # said at once (creating a cluster takes a minute), not only in the final summary
    warnings = [e for e in seen if isinstance(e, DiagnosticLine)]
    assert [(w.project, w.message) for w in warnings] == [(CLUSTER_PROJECT, note)]
    # and the run after that is a plain, unchanged up again
    world.up_args.clear()
    third = lab.up()
    assert not third.changed and third.notes == ()
    assert all(args == {"replace": None, "refresh": None} for _p, args in up_args(world))


def test_without_the_recreation_the_lab_could_not_reach_the_cluster(tmp_path: Path) -> None:
    """The fake models the bug: a plain up after `kind delete cluster` fails in the lab stack."""
    world = kind_world()
    lab, _ = make(tmp_path, world)  # kind cannot be asked: no runner answers for it
    lab.which = lambda name: None
    lab.up()
    world.kind_clusters.clear()
    with pytest.raises(StackError, match="up packetwalk-lab/kind failed") as info:
        lab.up()
    assert "unreachable" in str(info.value)
    assert all(args["replace"] is None for _p, args in up_args(world))


def test_kind_not_installed_means_no_check_and_a_note(tmp_path: Path) -> None:
    world = kind_world()
    lab, _ = make(tmp_path, world, runner=world.kind_runner, which=lambda name: None)
    lab.up()
    summary = lab.up()
    assert world.kind_calls == []
    assert not summary.changed
    assert summary.notes == (
        "packetwalk-cluster: could not ask kind whether cluster 'packetwalk' still exists "
        "(kind is not on PATH); if you deleted it by hand, run `invoke down` and `invoke up`",
    )


def test_kind_failing_to_answer_means_no_recreation(tmp_path: Path) -> None:
    world = kind_world()
    answers: list[tuple[str, ...]] = []

    def broken(argv: Sequence[str]) -> RunResult:
        answers.append(tuple(argv))
        return RunResult(1, "", 'ERROR: failed to list clusters: command "docker ps" failed\n')

    lab, _ = make(tmp_path, world, runner=broken, which=lambda name: f"/bin/{name}")
    lab.up()
    summary = lab.up()
    assert answers == [("/bin/kind", "get", "clusters")]
    assert all(args["replace"] is None for _p, args in up_args(world))
    assert "ERROR: failed to list clusters" in summary.notes[0]


def test_the_cluster_name_comes_from_the_config_when_the_state_has_no_outputs(
    tmp_path: Path,
) -> None:
    """An up cut off after `kind create` but before the outputs were recorded: the name comes
    from the settings the task parsed (the config file is not read again here)."""
    (tmp_path / "stacks").mkdir()
    config = (REPO_STACKS / "Pulumi.kind.yaml").read_text()
    config = config.replace("clusterName: packetwalk", "clusterName: workshop")
    (tmp_path / "stacks" / "Pulumi.kind.yaml").write_text(config)
    settings = load_stack_config("kind", tmp_path / "stacks")
    world = kind_world()
    world.outputs_when_up[CLUSTER_PROJECT] = {}
    world.deployed[(CLUSTER_PROJECT, "kind")] = True
    world.existing.add((CLUSTER_PROJECT, "kind"))
    world.kind_clusters = {"packetwalk"}  # another lab's cluster; "workshop" is gone
    lab, _ = make(tmp_path, world, config=settings, **with_kind(world))
    lab.up()
    assert up_args(world)[0] == (
        CLUSTER_PROJECT,
        {"replace": kind_recreate_urns("kind"), "refresh": None},
    )


def test_a_gke_stack_is_never_checked_with_kind(tmp_path: Path) -> None:
    world = kind_world()
    lab, _ = make(tmp_path, world, **with_kind(world))
    commands = [{"urn": u, "type": "command:local:Command"} for u in kind_recreate_urns("kind")]

    def state(platform: str) -> dict[str, object]:
        root = {
            "urn": urn("kind", CLUSTER_PROJECT, "pulumi:pulumi:Stack", "packetwalk-cluster-kind"),
            "type": "pulumi:pulumi:Stack",
            "outputs": {"clusterName": "packetwalk", "platform": platform},
        }
        return {"resources": [root, *commands]}

    assert lab.check_kind_cluster(state("gke")) == ClusterCheck()
    assert world.kind_calls == []
    # the same state on a kind stack is checked (and the cluster found missing)
    assert lab.check_kind_cluster(state("kind")).recreate
    assert len(world.kind_calls) == 1


def test_without_parsed_settings_the_state_decides(tmp_path: Path) -> None:
    """The task hands over the config it parsed; the adapter never parses it again (a config
    file on disk is not read), and without settings it goes by the state's outputs."""
    (tmp_path / "stacks").mkdir()
    config = (REPO_STACKS / "Pulumi.kind.yaml").read_text()
    (tmp_path / "stacks" / "Pulumi.kind.yaml").write_text(
        config.replace("clusterName: packetwalk", "clusterName: on-disk")
    )
    world = kind_world()
    lab, _ = make(tmp_path, world, **with_kind(world))
    assert lab.config is None
    cluster_only = kind_recreate_urns("kind")[:1]
    check = lab.check_kind_cluster(
        {"resources": [{"urn": u, "type": "command:local:Command"} for u in cluster_only]}
    )
    assert check.replace == () and check.note is not None and "not its name" in check.note


def test_recreate_urns_are_only_those_in_the_state(tmp_path: Path) -> None:
    world = kind_world()
    lab, _ = make(tmp_path, world, **with_kind(world))
    cluster_only = kind_recreate_urns("kind")[:1]
    root = {
        "urn": urn("kind", CLUSTER_PROJECT, "pulumi:pulumi:Stack", "packetwalk-cluster-kind"),
        "type": "pulumi:pulumi:Stack",
        "outputs": {"clusterName": "packetwalk", "platform": "kind"},
    }
    check = lab.check_kind_cluster(
        {"resources": [root, *({"urn": u, "type": "command:local:Command"} for u in cluster_only)]}
    )
    assert check.replace == tuple(cluster_only)
    # without a name (no outputs, no config file) nothing is guessed
    unnamed = lab.check_kind_cluster(
        {"resources": [{"urn": u, "type": "command:local:Command"} for u in cluster_only]}
    )
    assert not unnamed.recreate and "not its name" in unnamed.note


def test_invoke_up_without_kind_stops_at_the_prerequisites(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = Env(repo, tools=("docker", "kubectl", "pulumi"))
    made.world.resources[CLUSTER_PROJECT] = list(KIND_RESOURCES)
    made.world.existing.add((CLUSTER_PROJECT, "kind"))
    made.world.deployed[(CLUSTER_PROJECT, "kind")] = True
    monkeypatch.setattr(stack_tasks, "DEPS", made.deps)
    with pytest.raises(Exit) as info:
        stack_tasks.up(MockContext())
    assert info.value.code == 1
    assert "kind: missing: `invoke tools`" in str(info.value.message)
    assert made.world.requests == [] and made.world.up_args == []


def test_invoke_up_after_kind_delete_cluster_recreates_it(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task end to end, with a `kind` executable on PATH run by the real subprocess runner."""
    made = Env(repo)
    made.world.resources[CLUSTER_PROJECT] = list(KIND_RESOURCES)
    listed = repo / "kind-clusters.txt"
    kind = made.tool_dir / "kind"
    cat = shutil.which("cat")  # the task's PATH holds only the fake tools
    kind.write_text(f'#!/bin/sh\n[ "$1 $2" = "get clusters" ] && exec {cat} {listed}\nexit 3\n')
    monkeypatch.setattr(stack_tasks, "DEPS", made.deps)
    stack_tasks.up(MockContext())
    listed.write_text("")  # kind delete cluster --name packetwalk
    made.world.kind_clusters.clear()
    stack_tasks.up(MockContext())
    assert "kind cluster 'packetwalk' is in the state but `kind get clusters` does not" in " ".join(
        made.text.split()
    )
    assert made.world.kind_clusters == {"packetwalk"}
    assert made.world.up_args[-2] == (
        CLUSTER_PROJECT,
        {"replace": kind_recreate_urns("kind"), "refresh": None},
    )
    assert "Lab is up." in made.text
    listed.write_text("packetwalk\n")
    made.world.up_args.clear()
    stack_tasks.up(MockContext())
    assert [args["replace"] for _p, args in made.world.up_args] == [None, None]


def test_the_sdk_turns_replace_and_refresh_into_cli_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keyword names the adapter relies on are the SDK's (`pulumi up --replace --refresh`)."""
    import json

    log = cli_on_path(tmp_path, monkeypatch)
    (tmp_path / "Pulumi.yaml").write_text((REPO_STACKS / "cluster" / "Pulumi.yaml").read_text())
    request = stacks.StackRequest(
        "kind",
        stacks.Project(CLUSTER_PROJECT, tmp_path),
        {"PULUMI_BACKEND_URL": f"file://{tmp_path}/state", "PULUMI_CONFIG_PASSPHRASE": ""},
        True,
    )
    stack = stacks.local_stack(request)
    assert stack is not None
    wanted = kind_recreate_urns("kind")
    stack.up(replace=wanted, refresh=True)
    calls = [json.loads(line)["argv"] for line in log.read_text().splitlines()]
    (up,) = [argv for argv in calls if argv[:1] == ["up"]]
    flags = [up[i + 1] for i, arg in enumerate(up) if arg == "--replace"]
    assert flags == wanted and "--refresh" in up
