"""The runner end to end against the in-memory cluster: passing and failing checks, resume,
--check, --yes with solutions, dry runs, requires refusal, probes, captures, retries."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from packetwalk.errors import InputError, PacketwalkError
from packetwalk.kube.access import CommandResult, NodeInfo, PodInfo
from packetwalk.kube.fake import Call, FakeCluster
from packetwalk.lab.config import LabConfig
from packetwalk.lab.versions import NETSHOOT_IMAGE
from packetwalk.playbook.events import Emitter, Event, EventLog, read_events
from packetwalk.playbook.facts import cluster_facts, offline_facts
from packetwalk.playbook.loader import load_module
from packetwalk.playbook.progress import ProgressStore, read_progress_configmap
from packetwalk.playbook.runner import LabRunner, RunOptions

DATA = Path(__file__).parent / "data" / "playbooks"
KIND = LabConfig(stack="kind")


def pcap(packets: int) -> bytes:
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    record = struct.pack("<IIII", 0, 0, 60, 60) + b"\x00" * 60
    return header + record * packets


def tour_cluster(*, deny: bool = True, packets: int = 3) -> FakeCluster:
    vote = PodInfo("vote", "vote-7d", "10.244.1.5", "packetwalk-worker", {"app": "vote"}, ("vote",))
    redis = PodInfo(
        "vote", "redis-5c", "10.244.2.7", "packetwalk-worker2", {"app": "redis"}, ("redis",)
    )
    fake = FakeCluster(
        pods=[vote, redis],
        nodes=[
            NodeInfo(
                "packetwalk-control-plane",
                "172.18.0.2",
                {"node-role.kubernetes.io/control-plane": ""},
            ),
            NodeInfo("packetwalk-worker", "172.18.0.3"),
            NodeInfo("packetwalk-worker2", "172.18.0.4"),
        ],
        objects={
            "pods": [
                {
                    "metadata": {"name": "vote-7d", "namespace": "vote"},
                    "status": {"podIP": "10.244.1.5"},
                }
            ],
            "services": [
                {
                    "metadata": {"name": "redis", "namespace": "vote"},
                    "spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 6379}]},
                }
            ],
        },
    )
    fake.on_shell(r"ip route", "default via 172.18.0.1 dev eth0\n")
    fake.on_exec(r"cat /etc/resolv.conf", "search vote.svc.cluster.local svc.cluster.local\n")
    fake.on_kubectl(r"^kubectl wait ", "pod/vote-7d condition met\n")
    fake.on_exec(r"^ip -o link$", "1: lo: <LOOPBACK>\n2: eth0@if9: <BROADCAST>\n")
    fake.stream_payloads[("vote", "vote-7d", "pw-cap-vote")] = pcap(packets)
    fake.on_exec(r"^curl ", "<html>vote</html>")

    def test_packets(call: Call) -> CommandResult:
        count = int(call.command[-1].split()[1])
        return CommandResult((), 0 if count > 0 else 1)

    fake.on_shell(lambda call: call.command[-1].startswith("test "), test_packets)
    fake.on_kubectl(r"^kubectl apply ", "networkpolicy/default-deny created\n")
    fake.on_exec(r"nc -z -w 3 redis.vote 6379", f"pw-probe-rc={1 if deny else 0}\n")
    fake.on_kubectl(r"get networkpolicy", "default-deny   <none>   1s\n")
    return fake


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.kind == kind]


def runner(
    tmp_path: Path,
    fake: FakeCluster,
    *,
    answers: list[str] | None = None,
    cfg: LabConfig = KIND,
    module: str = "01-tour.yaml",
) -> tuple[LabRunner, Recorder, list[str]]:
    recorder = Recorder()
    prompts: list[str] = []
    replies = list(answers or [])

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        if not replies:
            raise EOFError
        return replies.pop(0)

    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True, exist_ok=True)
    log = EventLog(run_dir / "events.jsonl")
    lab = LabRunner(
        load_module(DATA / module),
        cluster_facts(cfg, fake),
        emit=Emitter(log, recorder),
        access=fake,
        store=ProgressStore(tmp_path, cfg.stack),
        run_dir=run_dir,
        ask=ask,
        sleep=lambda _: None,
    )
    return lab, recorder, prompts


def test_yes_runs_every_step_and_checks_pass(tmp_path: Path) -> None:
    fake = tour_cluster()
    lab, rec, prompts = runner(tmp_path, fake)
    result = lab.run(RunOptions(yes=True))
    assert result.status == "completed", rec.kinds("task_result")
    assert prompts == []
    commands = [e["line"] for e in rec.kinds("command")]
    assert commands[0] == "kubectl get pods -n vote -o json"
    assert "docker exec packetwalk-worker ip route" in commands
    assert "kubectl exec -n vote vote-7d -c vote -- cat /etc/resolv.conf" in commands
    assert "kubectl apply -n vote -f deny.yaml" in commands  # the pause step's solution
    assert any(c.startswith("kubectl debug -n vote vote-7d -c pw-probe") for c in commands)
    assert [e["name"] for e in rec.kinds("task_skipped")] == ["Only on calico"]
    assert [e["name"] for e in rec.kinds("step_skipped")] == ["Only on cilium"]
    assert all(r["passed"] for r in rec.kinds("check_result"))
    # the capture: ephemeral container, pcap and interface names in the run folder
    [saved] = rec.kinds("capture_saved")
    assert saved["packets"] == 3
    captures = tmp_path / "runs" / "r1" / "captures"
    assert (captures / "vote.pcap").read_bytes() == pcap(3)
    assert "eth0@if9" in (captures / "vote.links.txt").read_text()
    [stream] = fake.calls_of("stream")
    assert stream.container == "pw-cap-vote"
    assert stream.command[:4] == ("timeout", "-s", "INT", "2")
    assert stream.command[-1] == "tcp port 80"
    assert fake.ephemeral_specs[("vote", "vote-7d", "pw-cap-vote")].target_container == "vote"
    # the explanation is rendered with the stack's facts
    assert "The app runs in **vote** on packetwalk." in rec.kinds("step_start")[0]["explain"]
    progress = ProgressStore(tmp_path, "kind").load("01-tour")
    assert progress.finished and progress.completed == [0, 1, 2, 3]
    assert progress.registered["vote_pods"]["json"]["items"][0]["status"]["podIP"] == "10.244.1.5"
    assert progress.registered["cap"]["packets"] == 3
    # events.jsonl holds the whole run
    saved_events = list(read_events(tmp_path / "runs" / "r1" / "events.jsonl"))
    assert [e.kind for e in saved_events] == [e.kind for e in rec.events]
    assert saved_events[-1].data["status"] == "completed"


def test_failing_check_shows_hint_and_keeps_the_step(tmp_path: Path) -> None:
    lab, rec, _ = runner(tmp_path, tour_cluster(deny=False))
    result = lab.run(RunOptions(yes=True))
    assert (result.status, result.step) == ("failed", 2)
    failures = [r for r in rec.kinds("task_result") if not r["passed"]]
    assert failures[0]["problems"] == ["vote/vote-7d -> redis.vote:6379: connected, expected deny"]
    assert rec.kinds("check_result")[-1] == {"passed": False, "failed": 1, "total": 2}
    assert rec.kinds("hint")[0]["text"] == "Apply the file labs/manifests/deny.yaml in vote."
    progress = ProgressStore(tmp_path, "kind").load("01-tour")
    assert progress.current == 2 and progress.completed == [0, 1] and not progress.finished


def test_resume_starts_at_the_saved_step_with_registered_values(tmp_path: Path) -> None:
    lab, _, _ = runner(tmp_path, tour_cluster(deny=False))
    assert lab.run(RunOptions(yes=True)).status == "failed"
    fake = tour_cluster(deny=True)
    again, rec, _ = runner(tmp_path, fake)
    assert again.run(RunOptions(yes=True)).status == "completed"
    assert [e["index"] for e in rec.kinds("step_start")] == [2]
    assert rec.kinds("run_start")[0]["step"] == 2
    assert not fake.calls_of("stream")  # the capture step did not run again


def test_check_only_verifies_the_current_step(tmp_path: Path) -> None:
    lab, _, _ = runner(tmp_path, tour_cluster(deny=False))
    lab.run(RunOptions(yes=True))
    still, rec, _ = runner(tmp_path, tour_cluster(deny=False))
    assert still.run(RunOptions(check=True)).status == "check_failed"
    assert rec.kinds("hint")
    fake = tour_cluster(deny=True)
    fixed, rec, _ = runner(tmp_path, fake)
    result = fixed.run(RunOptions(check=True))
    assert result.status == "checked"
    assert {c.kind for c in fake.calls} >= {"exec", "kubectl"}
    assert not [c for c in fake.calls_of("kubectl") if "apply" in c.command]  # no solution
    progress = ProgressStore(tmp_path, "kind").load("01-tour")
    assert 2 in progress.completed and progress.current == 3


def test_interactive_pause_waits_then_checks_and_q_stops(tmp_path: Path) -> None:
    # Enter through steps 1-2, then at step 3: run it, then answer the pause, the check fails
    # (the participant has not applied the policy), then q.
    answers = ["", "", "", "", "", "", "q"]
    lab, rec, prompts = runner(tmp_path, tour_cluster(deny=False), answers=answers)
    result = lab.run(RunOptions())
    assert result.status == "stopped"
    assert prompts[4] == "Enter: run this step · q: stop here"
    assert prompts[5] == "Enter when done · q: stop here"
    assert (
        rec.kinds("pause")[0]["prompt"] == "Apply the default-deny policy to vote, then continue."
    )
    assert prompts[6] == "Enter: check again · q: stop here"
    assert rec.kinds("pause")[0]["auto"] is False
    assert not rec.kinds("solution")
    assert ProgressStore(tmp_path, "kind").load("01-tour").current == 2


def test_eof_on_the_prompt_stops_cleanly(tmp_path: Path) -> None:
    lab, rec, _ = runner(tmp_path, tour_cluster(), answers=[])
    assert lab.run(RunOptions()).status == "stopped"
    assert "resumes at step 1" in rec.kinds("run_end")[0]["message"]


def test_step_option_and_its_range(tmp_path: Path) -> None:
    fake = tour_cluster()
    lab, rec, _ = runner(tmp_path, fake)
    assert lab.run(RunOptions(step=2, yes=True)).status == "failed"  # needs step 1's register
    problem = rec.kinds("task_result")[-1]["problems"][0]
    assert "'vote_pods' is undefined" in problem
    assert problem.endswith("step 1 registers it; run `invoke lab 01-tour --step 1` first")
    with pytest.raises(InputError, match="has steps 1 to 4, not 9"):
        lab.run(RunOptions(step=9))


def test_requires_refusal(tmp_path: Path) -> None:
    cilium = LabConfig(stack="kind-cilium", cni="cilium", kube_proxy_mode="none")
    lab, _, _ = runner(tmp_path, tour_cluster(), cfg=cilium)
    with pytest.raises(PacketwalkError, match="not for stack kind-cilium: it needs cni kindnet"):
        lab.run(RunOptions(yes=True))


def test_dry_run_prints_commands_from_the_stack_config(tmp_path: Path) -> None:
    recorder = Recorder()
    lab = LabRunner(load_module(DATA / "01-tour.yaml"), offline_facts(KIND), emit=Emitter(recorder))
    assert lab.run(RunOptions(dry_run=True)).status == "dry_run"
    lines = [e["line"] for e in recorder.kinds("command")]

    def debug(pod: str, name: str) -> str:  # the tool container comes first, as root
        return (
            f"kubectl debug -n vote {pod} -c {name} --image={NETSHOOT_IMAGE}"
            " --profile=netadmin --custom=labs/manifests/capture-as-root.json"
            " -- tail -f /dev/null   # once per pod"
        )

    assert lines == [
        "kubectl get pods -n vote -o json",
        "docker exec packetwalk-worker ip route",
        "kubectl exec -n vote <pod app=vote> -c vote -- cat /etc/resolv.conf",
        "kubectl wait --for=condition=Ready -n vote pod -l app=vote --timeout=30s",
        debug("<pod app=vote>", "pw-cap-vote"),
        "kubectl exec -n vote <pod app=vote> -c pw-cap-vote -- timeout -s INT 2 tcpdump"
        " --immediate-mode -U -n -s 0 -Z root -i eth0 -w - 'tcp port 80' > captures/vote.pcap",
        debug("{{ vote_pods.json['items'][0].metadata.name }}", "pw-probe"),
        "kubectl exec -n vote {{ vote_pods.json['items'][0].metadata.name }} -c pw-probe -- curl"
        " -s http://localhost",
        "test {{ cap.packets }} -gt 0",
        "(pause) Apply the default-deny policy to vote, then continue.",
        "kubectl apply -n vote -f deny.yaml",
        debug("<pod app=vote>", "pw-probe"),
        "kubectl exec -n vote <pod app=vote> -c pw-probe -- sh -c 'nc -z -w 3 redis.vote 6379;"
        " echo pw-probe-rc=$?'   # expect deny",
        "kubectl get networkpolicy -n vote default-deny",
    ]
    assert [e["name"] for e in recorder.kinds("step_skipped")] == ["Only on cilium"]
    assert recorder.kinds("hint")[0]["dry"] is True


def test_until_retries_until_true(tmp_path: Path) -> None:
    module = tmp_path / "m.yaml"
    module.write_text(
        "title: t\nsummary: s\nsteps:\n  - name: s\n    tasks:\n"
        "      - kubectl: [get, endpoints, redis]\n        register: ep\n"
        "        until: \"'10.244' in ep.stdout\"\n        retries: 4\n        delay: 1\n"
        "      - kubectl: [get, pods]\n        retries: 1\n"
    )
    fake = tour_cluster()
    answers = iter(["<none>", "<none>", "10.244.2.7:6379"])
    fake.on_kubectl("get endpoints", lambda call: next(answers))
    fake.on_kubectl("get pods$", CommandResult((), 1, "", "boom"))
    recorder = Recorder()
    lab = LabRunner(
        load_module(module),
        cluster_facts(KIND, fake),
        emit=Emitter(recorder),
        access=fake,
        store=ProgressStore(tmp_path, "kind"),
        sleep=lambda _: None,
    )
    assert lab.run(RunOptions(yes=True)).status == "failed"
    results = recorder.kinds("task_result")
    assert (results[0]["passed"], results[0]["attempts"]) == (True, 3)
    assert (results[1]["passed"], results[1]["attempts"]) == (False, 2)
    assert results[1]["problems"] == ["exit code 1, expected 0"]
    assert len(recorder.kinds("retry")) == 3


def test_probe_that_cannot_run_is_not_a_deny(tmp_path: Path) -> None:
    fake = tour_cluster()
    fake.on_exec(r"nc -z", CommandResult((), 1, "", "container not running"))
    lab, rec, _ = runner(tmp_path, fake)
    assert lab.run(RunOptions(step=3, yes=True)).status == "failed"
    problems = [p for r in rec.kinds("task_result") for p in r["problems"]]
    assert "the probe did not run (exit 1): container not running" in problems


def test_empty_capture_fails_the_step(tmp_path: Path) -> None:
    fake = tour_cluster()
    fake.stream_payloads[("vote", "vote-7d", "pw-cap-vote")] = b""
    lab, rec, _ = runner(tmp_path, fake)
    lab.registered = {}
    result = lab.run(RunOptions(yes=True))
    assert (result.status, result.step) == ("failed", 1)
    assert "no pcap data" in rec.kinds("capture_saved")[0]["problems"][0]


def test_no_running_pod_is_reported(tmp_path: Path) -> None:
    fake = tour_cluster()
    fake.add_pod(
        PodInfo("vote", "vote-7d", None, None, {"app": "vote"}, ("vote",), phase="Pending")
    )
    lab, rec, _ = runner(tmp_path, fake)
    assert lab.run(RunOptions(yes=True)).status == "failed"
    problem = next(p for r in rec.kinds("task_result") for p in r["problems"])
    assert problem.startswith("1 pod(s), none Running with app=vote in namespace vote")


def test_events_file_is_json_lines(tmp_path: Path) -> None:
    lab, _, _ = runner(tmp_path, tour_cluster())
    lab.run(RunOptions(yes=True))
    lines = (tmp_path / "runs" / "r1" / "events.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert first["kind"] == "run_start" and first["module"] == "01-tour" and first["at"]


def test_broken_when_at_run_time_fails_the_run_and_keeps_progress(tmp_path: Path) -> None:
    module = tmp_path / "m.yaml"
    module.write_text(
        "title: t\nsummary: s\nsteps:\n"
        "  - name: a {{ nope }}\n    tasks: [{shell: 'true'}]\n"
        "  - name: b\n    when: 'missing.rc == 0'\n    tasks: [{shell: 'true'}]\n"
    )
    fake = tour_cluster()
    fake.on_shell(r"^sh -c true$", "")
    recorder = Recorder()
    store = ProgressStore(tmp_path, "kind")
    lab = LabRunner(
        load_module(module),
        cluster_facts(KIND, fake),
        emit=Emitter(recorder),
        access=fake,
        store=store,
        sleep=lambda _: None,
    )
    result = lab.run(RunOptions(yes=True))
    assert (result.status, result.step) == ("failed", 1)
    assert recorder.kinds("step_start")[0]["name"] == "a {{ nope }}"  # shown as written
    assert "'missing' is undefined" in recorder.kinds("run_end")[0]["message"]
    assert store.load("m").completed == [0]


def _inline_module(tmp_path: Path, fake: FakeCluster, tasks: str) -> tuple[LabRunner, Recorder]:
    module = tmp_path / "m.yaml"
    module.write_text(f"title: t\nsummary: s\nsteps:\n  - name: a\n    tasks: {tasks}\n")
    recorder = Recorder()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lab = LabRunner(
        load_module(module),
        cluster_facts(KIND, fake),
        emit=Emitter(recorder),
        access=fake,
        store=ProgressStore(tmp_path, "kind"),
        run_dir=run_dir,
        sleep=lambda _: None,
    )
    return lab, recorder


def test_capture_on_an_unknown_node_fails_the_task_with_the_node_named(tmp_path: Path) -> None:
    fake = tour_cluster()
    lab, rec = _inline_module(
        tmp_path, fake, "[{capture: {name: n, node: ghost, interface: any, duration: 1}}]"
    )
    result = lab.run(RunOptions(yes=True))
    assert (result.status, result.step) == ("failed", 0)
    (task,) = rec.kinds("task_result")
    assert task["passed"] is False
    assert task["problems"] == [
        'cannot run a debug pod on node ghost: nodes "ghost" not found (nodes: '
        "packetwalk-control-plane, packetwalk-worker, packetwalk-worker2)"
    ]
    assert not fake.calls_of("stream")


def test_probe_refused_by_the_api_fails_the_task_with_its_message(tmp_path: Path) -> None:
    fake = tour_cluster()
    fake.refusals[("vote", "vote-7d")] = 'violates PodSecurity "restricted:latest"'
    lab, rec = _inline_module(
        tmp_path,
        fake,
        "[{probe: {from: {namespace: vote, selector: app=vote},"
        " to: {host: redis.vote, port: 6379}, expect: deny}}]",
    )
    assert lab.run(RunOptions(yes=True)).status == "failed"
    (task,) = rec.kinds("task_result")
    assert task["problems"] == [
        "the API server refused ephemeral container pw-probe in pod vote/vote-7d: "
        'violates PodSecurity "restricted:latest"'
    ]
    # the probe container runs as root, which a non-root pod needs for NET_RAW
    assert fake.calls_of("add_ephemeral_container")[0].detail["run_as_root"] is True


FORWARD_MODULE = """\
title: t
summary: s
steps:
  - name: forward
    tasks:
      - port_forward: {namespace: vote, selector: app=vote, port: 80}
        register: pf
      - shell: "curl -s http://127.0.0.1:{{ pf.local_port }}/"
        expect: {stdout: "served by {{ pf.pod }}"}
    check:
      - shell: "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:{{ pf.local_port }}/"
        expect: {stdout: "^200$"}
  - name: after
    tasks:
      - shell: "curl -s http://127.0.0.1:{{ pf.local_port }}/"
        expect: {stdout: "served by"}
"""


def forward_cluster(*, pod_answers: bool = True) -> tuple[FakeCluster, list[tuple[int, bool]]]:
    """tour_cluster whose ``curl 127.0.0.1:PORT`` answers as the pod an open forward leads to."""
    fake = tour_cluster()
    seen: list[tuple[int, bool]] = []

    def curl(call: Call) -> CommandResult:
        port = int(call.line.split("127.0.0.1:")[1].split("/")[0])
        forward = fake.forwarded(port)
        seen.append((port, forward is not None))
        if forward is None:
            return CommandResult((), 7, "", f"curl: (7) Failed to connect to 127.0.0.1 port {port}")
        if not pod_answers:
            return CommandResult((), 52, "000", "curl: (52) Empty reply from server")
        answer = "200" if "http_code" in call.line else f"served by {forward.pod}"
        return CommandResult((), 0, answer)

    fake.on_shell(r"curl ", curl)
    return fake, seen


def forward_runner(tmp_path: Path, fake: FakeCluster) -> tuple[LabRunner, Recorder]:
    module = tmp_path / "pf.yaml"
    module.write_text(FORWARD_MODULE)
    recorder = Recorder()
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    lab = LabRunner(
        load_module(module),
        cluster_facts(KIND, fake),
        emit=Emitter(recorder),
        access=fake,
        store=ProgressStore(tmp_path, "kind"),
        run_dir=run_dir,
        sleep=lambda _: None,
    )
    return lab, recorder


def test_port_forward_is_open_for_its_step_and_closed_at_its_end(tmp_path: Path) -> None:
    fake, seen = forward_cluster()
    lab, rec = forward_runner(tmp_path, fake)
    result = lab.run(RunOptions(yes=True))
    # the step's task and its check reach the pod; the next step finds the forward closed
    assert seen == [(40000, True), (40000, True), (40000, False)]
    assert (result.status, result.step) == ("failed", 1)
    lines = [e["line"] for e in rec.kinds("command")]
    assert "kubectl port-forward -n vote pod/vote-7d :80" in lines
    assert "# port-forward from 127.0.0.1:40000 closed" in lines
    assert lab.registered["pf"]["local_port"] == 40000
    registered = lab.registered["pf"]
    assert (registered["pod"], registered["pod_ip"]) == ("vote-7d", "10.244.1.5")
    assert lab.registered["pf"]["stdout"] == "Forwarding from 127.0.0.1:40000 -> 80\n"
    assert fake.port_forwards == {}


def test_port_forward_is_closed_when_its_step_fails(tmp_path: Path) -> None:
    fake, seen = forward_cluster(pod_answers=False)
    lab, _ = forward_runner(tmp_path, fake)
    result = lab.run(RunOptions(yes=True))
    assert (result.status, result.step) == ("failed", 0)
    assert seen == [(40000, True)] and fake.port_forwards == {}


def test_check_only_opens_the_steps_forwards_again(tmp_path: Path) -> None:
    fake, seen = forward_cluster()
    lab, _ = forward_runner(tmp_path, fake)
    assert lab.run(RunOptions(check=True, step=1)).status == "checked"
    assert seen == [(40000, True)] and fake.port_forwards == {}
    broken, _ = forward_cluster(pod_answers=False)
    lab, _ = forward_runner(tmp_path, broken)
    assert lab.run(RunOptions(check=True, step=1)).status == "check_failed"
    assert broken.port_forwards == {}


def test_port_forward_to_no_running_pod_fails_the_task(tmp_path: Path) -> None:
    fake, seen = forward_cluster()
    fake.delete_pod("vote", "vote-7d")
    lab, rec = forward_runner(tmp_path, fake)
    assert lab.run(RunOptions(yes=True)).status == "failed"
    assert "no pod with app=vote in namespace vote" in rec.kinds("task_result")[0]["problems"][0]
    assert seen == [] and not fake.calls_of("port_forward")


def test_dry_run_shows_the_port_forward_line(tmp_path: Path) -> None:
    fake, _ = forward_cluster()
    lab, rec = forward_runner(tmp_path, fake)
    assert lab.run(RunOptions(dry_run=True)).status == "dry_run"
    lines = [e["line"] for e in rec.kinds("command")]
    assert lines[0] == "kubectl port-forward -n vote pod/<pod app=vote> :80"
    assert lines[1] == "curl -s http://127.0.0.1:{{ pf.local_port }}/"
    assert not fake.calls_of("port_forward")


# -- progress for the instructor ------------------------------------------------------------------


def _published(fake: FakeCluster) -> list[dict[str, Any]]:
    """Every progress ConfigMap the run applied, in order."""
    found: list[dict[str, Any]] = []
    for call in fake.calls_of("kubectl"):
        if call.command[1:] == ("apply", "-n", "vote", "-f", "-"):
            found.append(json.loads(str(call.detail["stdin"])))
    return found


def test_publish_applies_the_progress_configmap_after_each_saved_step(tmp_path: Path) -> None:
    fake = tour_cluster()
    fake.on_kubectl(r"^kubectl apply -n vote -f -$", "configmap/x configured\n")
    lab, rec, _ = runner(tmp_path, fake)
    lab.publish = True
    assert lab.run(RunOptions(yes=True)).status == "completed"
    maps = _published(fake)
    steps = len(lab.module.steps)
    assert len(maps) == steps
    last = read_progress_configmap(maps[-1])
    assert last is not None
    assert (last.namespace, last.participant, last.module) == ("vote", "lab", "01-tour")
    assert (last.finished, last.status, last.failed_checks) == (True, "completed", ())
    assert last.completed == tuple(range(1, steps + 1))
    assert [m["data"]["step"] for m in maps] == [str(min(i + 2, steps)) for i in range(steps)]
    assert rec.kinds("warning") == []


def test_publish_records_the_failed_checks(tmp_path: Path) -> None:
    fake = tour_cluster(deny=False)
    fake.on_kubectl(r"^kubectl apply -n vote -f -$", "configmap/x configured\n")
    lab, _, _ = runner(tmp_path, fake)
    lab.publish = True
    result = lab.run(RunOptions(yes=True))
    assert result.status == "failed"
    last = read_progress_configmap(_published(fake)[-1])
    assert last is not None and last.status == "failed"
    assert last.step == (result.step or 0) + 1
    assert last.failed_checks and all(isinstance(name, str) for name in last.failed_checks)


def test_without_publish_nothing_is_applied(tmp_path: Path) -> None:
    fake = tour_cluster()
    lab, _, _ = runner(tmp_path, fake)
    assert lab.run(RunOptions(yes=True)).status == "completed"
    assert _published(fake) == []


def test_a_refused_progress_configmap_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    fake = tour_cluster()
    fake.on_kubectl(
        r"^kubectl apply -n vote -f -$",
        CommandResult((), 1, "", 'configmaps is forbidden: User "p03" cannot create'),
    )
    lab, rec, _ = runner(tmp_path, fake)
    lab.publish = True
    assert lab.run(RunOptions(yes=True)).status == "completed"
    warnings = rec.kinds("warning")
    assert warnings and "configmaps is forbidden" in warnings[0]["message"]
    assert "could not record your progress for the instructor in vote" in warnings[0]["message"]


# -- template tasks and a node's own commands -----------------------------------------------------


def _template_run(tmp_path: Path, *, dry: bool = False) -> tuple[FakeCluster, Recorder]:
    fake = FakeCluster(nodes=[NodeInfo("packetwalk-worker", "172.18.0.3")])
    fake.on_kubectl(r"^kubectl apply ", "pod/client created\n")
    fake.on_exec(r"ip route", "default via 172.18.0.1 dev eth0\n")
    fake.on_exec(r"^ipvsadm", "IP Virtual Server version 1.2.1\n")
    recorder = Recorder()
    facts = offline_facts(KIND) if dry else cluster_facts(KIND, fake)
    lab = LabRunner(
        load_module(DATA / "templates.yaml"),
        facts,
        emit=Emitter(recorder),
        access=None if dry else fake,
        store=ProgressStore(tmp_path, "kind"),
        run_dir=tmp_path / "run",
        sleep=lambda _: None,
        workdir=tmp_path,
    )
    result = lab.run(RunOptions(yes=True, dry_run=dry))
    assert result.status == ("dry_run" if dry else "completed"), recorder.kinds("task_result")
    return fake, recorder


def test_a_template_is_rendered_into_the_lab_folder_and_applied(tmp_path: Path) -> None:
    fake, recorder = _template_run(tmp_path)
    copy = tmp_path / ".packetwalk" / "lab" / "kind" / "client.yaml"
    text = copy.read_text()
    assert 'namespace: "packetwalk-lab"' in text and "redis.vote:6379" in text
    assert "# For lab: apply with kubectl apply -f .packetwalk/lab/kind/client.yaml" in text
    lines = [e["line"] for e in recorder.kinds("command")]
    assert (
        "# template tests/data/playbooks/files/client.yaml -> .packetwalk/lab/kind/client.yaml"
        in lines
    )
    assert "kubectl apply -f .packetwalk/lab/kind/client.yaml" in lines
    [applied] = fake.calls_of("kubectl")
    assert applied.command[-1] == ".packetwalk/lab/kind/client.yaml"


def test_node_commands_run_in_the_nodes_own_namespaces_unless_netshoot_is_asked(
    tmp_path: Path,
) -> None:
    fake, _ = _template_run(tmp_path)
    own, netshoot = [c.command for c in fake.calls_of("exec")]
    assert own == (
        "nsenter", "--target", "1", "--mount", "--uts", "--ipc", "--net", "--pid", "--",
        "sh", "-c", "ip route | grep default",
    )  # fmt: skip
    assert netshoot == ("ipvsadm", "-Ln")
    assert {c.pod for c in fake.calls_of("exec")} == {"pw-node-packetwalk-worker"}


def test_a_dry_run_shows_the_template_and_writes_nothing(tmp_path: Path) -> None:
    _, recorder = _template_run(tmp_path, dry=True)
    lines = [e["line"] for e in recorder.kinds("command")]
    assert lines[0].endswith("client.yaml -> .packetwalk/lab/kind/client.yaml")
    assert "nsenter --target 1" in lines[2]
    assert not (tmp_path / ".packetwalk" / "lab").exists()
