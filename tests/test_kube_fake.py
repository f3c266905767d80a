"""The in-memory cluster behaves like the real one where packetwalk relies on it."""

from __future__ import annotations

import io
import json
import re
import threading
import time

import pytest
from verify_lab import lab_fake

from packetwalk.cluster.model import NodeInfo, PodInfo
from packetwalk.errors import PacketwalkError
from packetwalk.kube.access import ClusterRefused, CommandResult, EphemeralContainer
from packetwalk.kube.captures import PROBE_CONTAINER, tool_container
from packetwalk.kube.fake import FakeCluster


def cluster() -> FakeCluster:
    return FakeCluster(
        pods=[
            PodInfo("vote", "vote-1", "10.244.1.5", "lab-worker", {"app": "vote"}, ("vote",)),
            PodInfo("vote", "redis-1", "10.244.2.7", "lab-worker2", {"app": "redis"}, ("redis",)),
        ],
        nodes=[NodeInfo("lab-worker", "172.18.0.3"), NodeInfo("lab-worker2", "172.18.0.4")],
        objects={"services": [{"metadata": {"name": "redis", "namespace": "vote"}}]},
    )


def test_scripted_answers_match_by_regex_and_newest_wins() -> None:
    fake = cluster()
    fake.on_kubectl(r"^kubectl get pods", "general")
    fake.on_kubectl(r"get pods -n vote", CommandResult((), 0, "specific", ""))
    assert fake.kubectl(["get", "pods", "-n", "vote"]).stdout == "specific"
    assert fake.kubectl(["get", "pods", "-A"]).stdout == "general"
    assert [c.line for c in fake.calls_of("kubectl")] == [
        "kubectl get pods -n vote",
        "kubectl get pods -A",
    ]


def test_callable_matchers_and_answers_and_times() -> None:
    fake = cluster()
    fake.on_shell(lambda call: "ip route" in call.command[-1], lambda call: call.command[-1])
    fake.on_shell(re.compile("flaky"), CommandResult((), 1, "", "boom"), times=1)
    fake.on_shell(re.compile("flaky"), "ok now")
    assert fake.shell("docker exec lab-worker ip route").stdout == "docker exec lab-worker ip route"
    # newest script first: "ok now" is newer than the one-shot failure
    assert fake.shell("flaky").stdout == "ok now"


def test_unscripted_commands_fail_loudly() -> None:
    result = cluster().kubectl(["get", "nodes"])
    assert result.exit_code == 127
    assert "no scripted kubectl answer for: kubectl get nodes" in result.stderr


def test_exec_checks_pod_and_container_exist() -> None:
    fake = cluster()
    fake.on_exec(r"cat /etc/resolv.conf", "search vote.svc.cluster.local\n")
    ok = fake.exec("vote", "vote-1", ["cat", "/etc/resolv.conf"], container="vote")
    assert ok.ok and ok.stdout.startswith("search")
    assert not fake.exec("vote", "nope", ["true"]).ok
    missing = fake.exec("vote", "vote-1", ["true"], container="pw-probe")
    assert "container pw-probe not found" in missing.stderr


def test_builtin_get_json_from_objects() -> None:
    fake = cluster()
    result = fake.kubectl(["get", "services", "-n", "vote", "-o", "json"])
    assert json.loads(result.stdout)["items"][0]["metadata"]["name"] == "redis"
    assert (
        json.loads(fake.kubectl(["get", "services", "-n", "x", "-o", "json"]).stdout)["items"] == []
    )
    assert [c.kind for c in fake.calls] == ["kubectl", "kubectl"]


def test_selectors() -> None:
    fake = cluster()
    assert [p.name for p in fake.pods("vote", selector="app=vote")] == ["vote-1"]
    assert [p.name for p in fake.pods(selector="app!=vote")] == ["redis-1"]
    assert [p.name for p in fake.pods(selector="app")] == ["redis-1", "vote-1"]
    assert fake.pods("other") == []


def test_ephemeral_containers_are_added_once_and_then_run() -> None:
    fake = cluster()
    spec = EphemeralContainer("pw-probe", "netshoot", ("tail", "-f", "/dev/null"), "vote")
    assert not fake.wait_container_running("vote", "vote-1", "pw-probe")
    assert fake.add_ephemeral_container("vote", "vote-1", spec) is True
    assert fake.add_ephemeral_container("vote", "vote-1", spec) is False
    assert fake.pods("vote", selector="app=vote")[0].ephemeral_containers == ("pw-probe",)
    assert fake.wait_container_running("vote", "vote-1", "pw-probe")
    fake.unstartable_containers.add(("vote", "vote-1", "pw-probe"))
    assert not fake.wait_container_running("vote", "vote-1", "pw-probe")
    with pytest.raises(ClusterRefused, match='pods "ghost" not found'):
        fake.add_ephemeral_container("vote", "ghost", spec)


def test_non_root_pods_start_only_ephemeral_containers_that_run_as_root() -> None:
    fake = cluster()
    fake.non_root_pods.add(("vote", "vote-1"))
    root = EphemeralContainer("pw-cap-a", "netshoot", ("tail", "-f", "/dev/null"))
    plain = EphemeralContainer("pw-cap-b", "netshoot", ("tail",), run_as_root=False)
    assert root.run_as_root
    assert fake.add_ephemeral_container("vote", "vote-1", root)
    assert fake.add_ephemeral_container("vote", "vote-1", plain)
    assert fake.wait_container_running("vote", "vote-1", "pw-cap-a")
    assert not fake.wait_container_running("vote", "vote-1", "pw-cap-b")
    assert fake.calls_of("add_ephemeral_container")[1].detail["run_as_root"] is False


def test_scripted_refusal_raises_and_adds_nothing() -> None:
    fake = cluster()
    fake.refusals[("vote", "vote-1")] = 'violates PodSecurity "baseline:latest"'
    spec = EphemeralContainer("pw-cap-a", "netshoot", ("tail",))
    with pytest.raises(ClusterRefused, match="baseline:latest") as caught:
        fake.add_ephemeral_container("vote", "vote-1", spec)
    assert caught.value.status == 403
    assert fake.pods("vote", selector="app=vote")[0].ephemeral_containers == ()


def test_node_debug_pod_is_reused_and_pinned() -> None:
    fake = cluster()
    pod = fake.node_debug_pod("lab-worker", name="pw-node-lab-worker", image="netshoot")
    assert pod.host_network and pod.node == "lab-worker" and pod.ip == "172.18.0.3"
    again = fake.node_debug_pod("lab-worker", name="pw-node-lab-worker", image="netshoot")
    assert again == pod
    with pytest.raises(PacketwalkError):
        fake.node_debug_pod("lab-worker2", name="pw-node-lab-worker", image="netshoot")
    with pytest.raises(ClusterRefused, match='nodes "ghost" not found') as caught:
        fake.node_debug_pod("ghost", name="x", image="netshoot")
    assert caught.value.status == 404


def test_kubectl_delete_pod_removes_it_unless_scripted() -> None:
    fake = cluster()
    fake.add_ephemeral_container("vote", "vote-1", EphemeralContainer("c", "img", ("tail",)))
    deleted = fake.kubectl(["delete", "pod", "-n", "vote", "vote-1", "--wait=false"])
    assert deleted.ok and deleted.stdout == 'pod "vote-1" deleted\n'
    assert [p.name for p in fake.pods("vote")] == ["redis-1"]
    assert ("vote", "vote-1", "c") not in fake.ephemeral_specs
    again = fake.kubectl(["delete", "pod", "-n", "vote", "vote-1"])
    assert again.exit_code == 1
    assert again.stderr == 'Error from server (NotFound): pods "vote-1" not found\n'
    assert fake.kubectl(["delete", "pod", "vote-1", "-n", "vote", "--ignore-not-found"]).ok
    fake.on_kubectl(r"delete pod -n vote redis-1", CommandResult((), 1, "", "forbidden"))
    assert fake.kubectl(["delete", "pod", "-n", "vote", "redis-1"]).stderr == "forbidden"
    assert fake.delete_pod("vote", "redis-1") and fake.pods("vote") == []
    assert not fake.delete_pod("vote", "redis-1")


def test_stream_writes_canned_payload() -> None:
    fake = cluster()
    fake.stream_payloads[("vote", "vote-1", "pw-cap-x")] = b"\xd4\xc3\xb2\xa1binary\r\n"
    fake.stream_exit_codes[("vote", "vote-1", "pw-cap-x")] = 0
    sink = io.BytesIO()
    handle = fake.stream("vote", "vote-1", ["tcpdump", "-w", "-"], sink, container="pw-cap-x")
    assert handle.stop() == 0
    assert sink.getvalue() == b"\xd4\xc3\xb2\xa1binary\r\n"
    assert fake.calls_of("stream")[0].container == "pw-cap-x"


def test_port_forwards_are_book_kept_while_open() -> None:
    fake = cluster()
    with fake.port_forward("vote", "vote-1", 80) as first:
        second = fake.port_forward("vote", "redis-1", 6379, local_port=16379)
        assert (first.local_port, second.local_port) == (40000, 16379)
        found = fake.forwarded(40000)
        assert found is not None and (found.pod, found.remote_port) == ("vote-1", 80)
        with pytest.raises(PacketwalkError, match=r"127\.0\.0\.1:16379: address in use"):
            fake.port_forward("vote", "vote-1", 80, local_port=16379)
        second.close()
        assert fake.forwarded(16379) is None
    assert fake.forwarded(40000) is None and first.closed
    assert [c.detail["remote_port"] for c in fake.calls_of("port_forward")] == [80, 6379, 80]


def test_port_forward_to_a_missing_or_pending_pod_fails() -> None:
    fake = cluster()
    with pytest.raises(ClusterRefused, match='pods "nope" not found'):
        fake.port_forward("vote", "nope", 80)
    fake.add_pod(PodInfo("vote", "new-1", None, None, {}, ("c",), phase="Pending"))
    with pytest.raises(PacketwalkError, match="it is Pending"):
        fake.port_forward("vote", "new-1", 80)
    assert fake.port_forwards == {}


# -- enforcement model (invoke verify) -------------------------------------------------------------

PROBES = (
    "p 0 10.244.2.11 6379 &\np 1 10.244.1.12 5432 &\np 2 10.244.2.11 81 &\n"
    "d 3 10.244.2.30 &\nwait\n"
)
"""vote-0 -> redis:6379 (allowed), db:5432 (denied), redis:81 (denied, nothing listens), DNS."""


def probe_answers(fake: FakeCluster, pod: str = "vote-0") -> list[str]:
    fake.add_ephemeral_container("vote", pod, tool_container(PROBE_CONTAINER, "netshoot"))
    result = fake.exec("vote", pod, ["bash", "-c", PROBES], container=PROBE_CONTAINER)
    assert result.ok
    return result.stdout.splitlines()


def test_an_enforcing_fake_answers_probes_from_the_policies() -> None:
    assert probe_answers(lab_fake()) == ["PW 0 0", "PW 1 124", "PW 2 124", "PW 3 0"]


def test_a_non_enforcing_fake_lets_everything_reach_the_pod() -> None:
    assert probe_answers(lab_fake(enforcing=False)) == ["PW 0 0", "PW 1 0", "PW 2 1", "PW 3 0"]


def test_an_ignored_policy_is_not_enforced() -> None:
    answers = probe_answers(lab_fake(ignored_policies=("vote/allow-dns",)))
    assert answers == ["PW 0 0", "PW 1 124", "PW 2 124", "PW 3 9"]


def test_scripts_win_over_the_model_and_other_commands_stay_unscripted() -> None:
    fake = lab_fake()
    assert fake.exec("vote", "vote-0", ["ls"]).exit_code == 127
    fake.on_exec("wait", "PW 0 1\n")
    assert fake.exec("vote", "vote-0", ["bash", "-c", PROBES]).stdout == "PW 0 1\n"


def test_exec_latency_and_peak_concurrency() -> None:
    fake = lab_fake()
    fake.exec_latency = 0.1
    start = time.monotonic()
    threads = [
        threading.Thread(target=fake.exec, args=("vote", pod, ["bash", "-c", PROBES]))
        for pod in ("vote-0", "redis-0", "db-0")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - start >= 0.1
    assert fake.peak_execs == 3
