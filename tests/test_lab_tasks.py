"""The invoke tasks labs, lab, lab-validate and lab-replay, against the fake cluster."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
from invoke.context import MockContext
from invoke.exceptions import Exit
from rich.console import Console
from test_playbook_runner import tour_cluster

from packetwalk.cli import lab_tasks, lab_views
from packetwalk.kube.access import NodeInfo, PodInfo
from packetwalk.kube.fake import Call, FakeCluster
from packetwalk.lab.config import STACKS_DIR
from packetwalk.playbook.progress import ProgressStore

DATA = Path(__file__).parent / "data" / "playbooks"


@pytest.fixture
def screen(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr(lab_views, "console", Console(file=out, width=200, color_system=None))
    return out


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeCluster:
    cluster = tour_cluster()
    monkeypatch.setattr(lab_tasks.DEPS, "repo", tmp_path)
    monkeypatch.setattr(lab_tasks.DEPS, "labs_dir", DATA)
    monkeypatch.setattr(lab_tasks.DEPS, "stacks_dir", STACKS_DIR)
    monkeypatch.setattr(lab_tasks.DEPS, "cluster", lambda cfg, context: cluster)

    def no_terminal(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr(lab_tasks.DEPS, "ask", no_terminal)
    return cluster


def test_labs_lists_modules_with_progress(
    fake: FakeCluster, screen: io.StringIO, tmp_path: Path
) -> None:
    lab_tasks.labs(MockContext())
    assert screen.getvalue().splitlines() == [
        "01-tour  Tour: Every task kind once, against the fake cluster.  (not started)"
    ]
    store = ProgressStore(tmp_path, "kind")
    progress = store.load("01-tour")
    progress.complete(0, 4)
    store.save(progress)
    screen.truncate(0)
    screen.seek(0)
    lab_tasks.labs(MockContext())
    assert "(1/4 steps, next: step 2)" in screen.getvalue()
    screen.truncate(0)
    screen.seek(0)
    lab_tasks.labs(MockContext(), stack="kind-cilium")
    assert "(not for stack kind-cilium: needs cni kindnet or calico, the stack has cilium)" in (
        screen.getvalue()
    )


def test_lab_yes_runs_and_writes_a_run_folder(
    fake: FakeCluster, screen: io.StringIO, tmp_path: Path
) -> None:
    lab_tasks.lab(MockContext(), "1", yes=True)
    text = screen.getvalue()
    assert "$ kubectl get pods -n vote -o json" in text
    assert "✔ check passed (2/2)" in text
    assert "module 01-tour done" in text
    [run] = (tmp_path / "runs").iterdir()
    assert run.name.endswith("-01-tour")
    assert (run / "events.jsonl").is_file() and (run / "captures" / "vote.pcap").is_file()
    screen.truncate(0)
    screen.seek(0)
    lab_tasks.lab_replay(MockContext(), str(run))
    assert screen.getvalue() == text


def test_lab_failing_check_exits_non_zero_with_hint(fake: FakeCluster, screen: io.StringIO) -> None:
    fake.on_exec(r"nc -z", "pw-probe-rc=0\n")
    with pytest.raises(Exit) as caught:
        lab_tasks.lab(MockContext(), "01-tour", yes=True)
    assert caught.value.code == 1
    text = screen.getvalue()
    assert "✘ vote/vote-7d -> redis.vote:6379: connected, expected deny" in text
    assert "Apply the file labs/manifests/deny.yaml in vote." in text
    assert "step 3 did not pass" in text


def test_lab_refuses_a_stack_the_module_does_not_support(fake: FakeCluster) -> None:
    with pytest.raises(Exit) as caught:
        lab_tasks.lab(MockContext(), "1", stack="kind-cilium")
    assert "not for stack kind-cilium: it needs cni kindnet or calico" in str(caught.value.message)
    assert fake.calls == []


def test_lab_dry_run_touches_no_cluster(
    fake: FakeCluster, screen: io.StringIO, tmp_path: Path
) -> None:
    lab_tasks.lab(MockContext(), "1", dry_run=True)
    assert "$ docker exec packetwalk-worker ip route" in screen.getvalue()
    assert fake.calls == [] and not (tmp_path / "runs").exists()


def test_lab_check_and_unknown_module(fake: FakeCluster, screen: io.StringIO) -> None:
    with pytest.raises(Exit) as caught:
        lab_tasks.lab(MockContext(), "01-tour", check=True, step=2)
    assert caught.value.code == 1  # cap was never registered: the check cannot pass
    with pytest.raises(Exit) as missing:
        lab_tasks.lab(MockContext(), "02-nope")
    assert "no lab module '02-nope'" in str(missing.value.message)
    assert "(valid: 01-tour)" in str(missing.value.message)


def test_lab_validate_paths_and_exit_codes(screen: io.StringIO) -> None:
    lab_tasks.lab_validate(MockContext(), paths=str(DATA / "01-tour.yaml"))
    assert screen.getvalue() == (
        f"ok {DATA / '01-tour.yaml'} (stacks: kind, kind-calico, kind-ipvs, kind-nftables)\n"
    )
    with pytest.raises(Exit) as caught:
        both = f"{DATA / 'bad-keys.yaml'},{DATA / 'bad-templates.yaml'}"
        lab_tasks.lab_validate(MockContext(), paths=both)
    assert caught.value.code == 1
    assert "7 problem(s) in 2 module file(s)" in str(caught.value.message)
    assert f"{DATA / 'bad-keys.yaml'}:6:9: unknown key 'kubctl'" in screen.getvalue()


def test_lab_validate_defaults_to_the_project_modules(screen: io.StringIO) -> None:
    lab_tasks.lab_validate(MockContext())
    lines = screen.getvalue().splitlines()
    assert lines and all(line.startswith("ok ") for line in lines)


def test_lab_says_when_the_cluster_does_not_answer(
    fake: FakeCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def refuse(cfg: object, context: str | None) -> FakeCluster:
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    monkeypatch.setattr(lab_tasks.DEPS, "cluster", refuse)
    with pytest.raises(Exit) as caught:
        lab_tasks.lab(MockContext(), "1")
    message = str(caught.value.message)
    assert message.startswith(
        "cannot reach the cluster of stack kind (kind-packetwalk): ConnectionRefusedError"
    )
    assert "invoke status --stack kind" in message
    assert not (tmp_path / "runs").exists()


def test_labs_lists_good_modules_and_names_broken_ones(
    fake: FakeCluster, screen: io.StringIO, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    labs_dir = tmp_path / "labs"
    labs_dir.mkdir()
    (labs_dir / "01-tour.yaml").write_text((DATA / "01-tour.yaml").read_text())
    (labs_dir / "02-typo.yaml").write_text((DATA / "bad-keys.yaml").read_text())
    monkeypatch.setattr(lab_tasks.DEPS, "labs_dir", labs_dir)
    with pytest.raises(Exit) as caught:
        lab_tasks.labs(MockContext())
    lines = screen.getvalue().splitlines()
    assert lines[0].startswith("01-tour  Tour:")
    assert lines[1].startswith(f"02-typo  does not load: {labs_dir / '02-typo.yaml'}:6:9: unknown")
    assert "1 module file(s) do not load" in str(caught.value.message)


def test_a_refused_step_leaves_no_run_folder(fake: FakeCluster, tmp_path: Path) -> None:
    with pytest.raises(Exit) as caught:
        lab_tasks.lab(MockContext(), "1", step=9)
    assert "has steps 1 to 4, not 9" in str(caught.value.message)
    assert not any((tmp_path / "runs").iterdir())


# -- workshop participants ------------------------------------------------------------------------

WORKSHOP = Path(__file__).parent / "data" / "workshop"


def workshop_cluster(*, deny: bool = True) -> FakeCluster:
    """Twelve participants' vote and redis pods on one cluster, answering like a lab would."""
    pods = [
        PodInfo(f"vote-p{n:02d}", f"{app}-{n}", f"10.244.{n}.{i}", "gke-n1", {"app": app}, (app,))
        for n in range(1, 13)
        for i, app in enumerate(("vote", "redis"), start=2)
    ]
    fake = FakeCluster(pods=pods, nodes=[NodeInfo("gke-n1", "10.0.0.2")])

    def namespace_of(call: Call) -> str:
        args = list(call.command)
        return call.namespace or args[args.index("-n") + 1]

    fake.on_kubectl(r"get pods -n", lambda c: f"vote-{namespace_of(c)}-1   Running\n")
    fake.on_kubectl(r"^kubectl apply -n \S+ -f deny.yaml$", "networkpolicy/default-deny created\n")
    fake.on_kubectl(r"^kubectl apply -n \S+ -f -$", "configmap/packetwalk-progress configured\n")
    fake.on_kubectl(
        r"get ingress",
        lambda c: f"vote  traefik  vote-{namespace_of(c).removeprefix('vote-')}.lab.example.org\n",
    )
    fake.on_exec(r"cat /etc/resolv.conf", lambda c: f"search {c.namespace}.svc.cluster.local\n")
    fake.on_exec(r"nc -z", f"pw-probe-rc={1 if deny else 0}\n")
    return fake


@pytest.fixture
def workshop(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeCluster:
    cluster = workshop_cluster()
    monkeypatch.setattr(lab_tasks.DEPS, "repo", tmp_path)
    monkeypatch.setattr(lab_tasks.DEPS, "labs_dir", WORKSHOP / "labs")
    monkeypatch.setattr(lab_tasks.DEPS, "stacks_dir", WORKSHOP)
    monkeypatch.setattr(lab_tasks.DEPS, "cluster", lambda cfg, context: cluster)
    return cluster


def _namespaces_touched(fake: FakeCluster) -> set[str]:
    """Every vote-pNN namespace a call named: as its namespace, in its command or its stdin."""
    found: set[str] = set()
    for call in fake.calls:
        text = " ".join([call.namespace or "", call.line, str(call.detail.get("stdin") or "")])
        found.update(re.findall(r"vote-p\d\d", text))
    return found


@pytest.mark.parametrize("number", [1, 3, 12])
def test_lab_runs_in_the_participants_namespace_only(
    workshop: FakeCluster, screen: io.StringIO, tmp_path: Path, number: int
) -> None:
    lab_tasks.lab(MockContext(), "1", stack="gke-workshop", participant=number, yes=True)
    mine = f"vote-p{number:02d}"
    text = screen.getvalue()
    assert f"$ kubectl get pods -n {mine} -o wide" in text
    assert "module 01-participant done" in text
    assert _namespaces_touched(workshop) == {mine}
    assert any(call.namespace == mine for call in workshop.calls_of("add_ephemeral_container"))
    applied = [
        json.loads(str(c.detail["stdin"]))
        for c in workshop.calls_of("kubectl")
        if c.command[-2:] == ("-f", "-")
    ]
    assert applied and {m["metadata"]["namespace"] for m in applied} == {mine}
    assert applied[-1]["data"]["participant"] == f"p{number:02d}"
    assert applied[-1]["data"]["finished"] == "true"
    stored = tmp_path / ".packetwalk" / "progress" / f"gke-workshop-p{number:02d}.json"
    assert stored.is_file()


def test_participant_3_never_touches_participant_4(
    workshop: FakeCluster, screen: io.StringIO
) -> None:
    lab_tasks.lab(MockContext(), "1", stack="gke-workshop", participant=3, yes=True)
    lab_tasks.lab(MockContext(), "1", stack="gke-workshop", participant=3, check=True, step=2)
    lab_tasks.labs(MockContext(), stack="gke-workshop", participant=3)
    touched = _namespaces_touched(workshop)
    assert "vote-p04" not in touched and touched == {"vote-p03"}
    # the check is able to see another namespace: participant 4's run names only vote-p04
    lab_tasks.lab(MockContext(), "1", stack="gke-workshop", participant=4, yes=True)
    assert _namespaces_touched(workshop) == {"vote-p03", "vote-p04"}


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (13, "--participant: stack gke-workshop has no participant 13 (valid: 1 to 12)"),
        (0, "--participant: stack gke-workshop has 12 participants: say which one you are"),
    ],
)
def test_a_wrong_participant_is_a_clear_error(
    workshop: FakeCluster, tmp_path: Path, number: int, message: str
) -> None:
    with pytest.raises(Exit) as caught:
        lab_tasks.lab(MockContext(), "1", stack="gke-workshop", participant=number)
    assert str(caught.value.message).startswith(message)
    with pytest.raises(Exit) as listed:
        lab_tasks.labs(MockContext(), stack="gke-workshop", participant=number)
    assert str(listed.value.message).startswith(message)
    assert workshop.calls == [] and not (tmp_path / "runs").exists()


def test_labs_shows_the_participants_progress(workshop: FakeCluster, screen: io.StringIO) -> None:
    lab_tasks.lab(MockContext(), "1", stack="gke-workshop", participant=5, yes=True)
    screen.truncate(0)
    screen.seek(0)
    lab_tasks.labs(MockContext(), stack="gke-workshop", participant=5)
    lines = screen.getvalue().splitlines()
    assert lines[0] == "participant 5 (p05), namespace vote-p05"
    assert lines[1].endswith("(done)")
    screen.truncate(0)
    screen.seek(0)
    lab_tasks.labs(MockContext(), stack="gke-workshop", participant=6)
    assert screen.getvalue().splitlines()[1].endswith("(not started)")


def test_lab_dry_run_shows_the_participants_commands(
    workshop: FakeCluster, screen: io.StringIO
) -> None:
    lab_tasks.lab(MockContext(), "1", stack="gke-workshop", participant=7, dry_run=True)
    text = screen.getvalue()
    assert "$ kubectl get pods -n vote-p07 -o wide" in text
    assert "vote-p07.lab.example.org" in text
    assert workshop.calls == []


def test_a_participant_with_a_cluster_of_their_own_is_sent_to_it(
    monkeypatch: pytest.MonkeyPatch, screen: io.StringIO, tmp_path: Path
) -> None:
    """With ``participantClusters`` participant 2's lab talks to the context gcloud writes for
    cluster ``<name>-p02``, never to the current context."""
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    shared = (WORKSHOP / "Pulumi.gke-workshop.yaml").read_text()
    (stacks / "Pulumi.gke-own.yaml").write_text(
        shared.replace("participants: 12", "participants: 3").replace(
            "  packetwalk:domain: lab.example.org\n", "  packetwalk:participantClusters: true\n"
        )
    )
    contexts: list[str | None] = []
    cluster = workshop_cluster()

    def connect(cfg: object, context: str | None) -> FakeCluster:
        contexts.append(context)
        return cluster

    monkeypatch.setattr(lab_tasks.DEPS, "repo", tmp_path)
    monkeypatch.setattr(lab_tasks.DEPS, "labs_dir", WORKSHOP / "labs")
    monkeypatch.setattr(lab_tasks.DEPS, "stacks_dir", stacks)
    monkeypatch.setattr(lab_tasks.DEPS, "cluster", connect)
    cluster.add_pod(PodInfo("vote", "vote-1", "10.0.0.5", "n", {"app": "vote"}, ("vote",)))
    with contextlib.suppress(Exit):
        lab_tasks.lab(MockContext(), "1", stack="gke-own", participant=2, yes=True)
    assert contexts == ["gke_packetwalk-tests_europe-west1-b_packetwalk-workshop-p02"]
