"""The real cluster access, driven by recorded fakes of its subprocess runner and client objects."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from types import SimpleNamespace as NS
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from packetwalk.errors import PacketwalkError
from packetwalk.kube import specs
from packetwalk.kube.access import ClusterRefused, EphemeralContainer
from packetwalk.kube.kubectl import (
    KubectlCluster,
    PortForwardRelay,
    container_state,
    node_info,
    pod_info,
)


class Runner:
    def __init__(self, answer: tuple[int, str, str] = (0, "out", "")) -> None:
        self.calls: list[tuple[list[str], str | None, float]] = []
        self.answer = answer

    def __call__(
        self, argv: Sequence[str], *, stdin: str | None, timeout: float
    ) -> tuple[int, str, str]:
        self.calls.append((list(argv), stdin, timeout))
        return self.answer


def v1pod(
    name: str = "vote-1",
    *,
    ephemeral: Sequence[str] = (),
    state: str = "running",
    node: str = "lab-worker",
) -> Any:
    def status_of(cname: str) -> Any:
        st = NS(running=None, terminated=None, waiting=None)
        setattr(st, state, NS())
        return NS(name=cname, state=st)

    return NS(
        metadata=NS(name=name, namespace="vote", labels={"app": "vote"}),
        spec=NS(
            node_name=node,
            host_network=False,
            containers=[NS(name="vote")],
            ephemeral_containers=[NS(name=e) for e in ephemeral],
        ),
        status=NS(
            pod_ip="10.244.1.5",
            phase="Running",
            container_statuses=[status_of("vote"), status_of("debug")],
            ephemeral_container_statuses=[status_of(e) for e in ephemeral],
        ),
    )


class CoreApi:
    def __init__(
        self,
        pod: Any | None = None,
        *,
        nodes: Sequence[str] = ("lab-worker", "lab-worker2"),
        refuse: ApiException | None = None,
    ) -> None:
        self.pod = pod
        self.nodes = set(nodes)
        self.refuse = refuse
        """Raised by patches and creates, as the API server refuses them (PodSecurity, RBAC)."""
        self.patches: list[tuple[str, str, dict[str, Any]]] = []
        self.created: list[dict[str, Any]] = []

    def read_node(self, name: str) -> Any:
        if name not in self.nodes:
            raise ApiException(status=404, reason="Not Found")
        return NS(metadata=NS(name=name))

    def read_namespaced_pod(self, name: str, namespace: str) -> Any:
        if self.pod is None:
            raise ApiException(status=404, reason="Not Found")
        return self.pod

    def patch_namespaced_pod_ephemeralcontainers(self, name: str, ns: str, body: Any) -> Any:
        if self.refuse is not None:
            raise self.refuse
        self.patches.append((name, ns, body))
        return self.pod

    def create_namespaced_pod(self, namespace: str, body: dict[str, Any]) -> Any:
        if self.refuse is not None:
            raise self.refuse
        self.created.append(body)
        self.pod = v1pod(body["metadata"]["name"], node=body["spec"]["nodeName"])
        return self.pod

    def list_namespaced_pod(self, namespace: str, **kwargs: Any) -> Any:
        self.listed = (namespace, kwargs)
        return NS(items=[self.pod])

    def list_node(self) -> Any:
        return NS(
            items=[
                NS(
                    metadata=NS(name="lab-worker", labels={"kubernetes.io/os": "linux"}),
                    spec=NS(pod_cidrs=["10.244.1.0/24"], pod_cidr="10.244.1.0/24"),
                    status=NS(
                        addresses=[
                            NS(type="Hostname", address="lab-worker"),
                            NS(type="InternalIP", address="172.18.0.3"),
                        ]
                    ),
                )
            ]
        )

    def connect_get_namespaced_pod_exec(self) -> None:  # only passed through, never called
        raise AssertionError


class WsClient:
    """Mimics kubernetes.stream.ws_client.WSClient: frames arrive per update()."""

    def __init__(self, frames: list[tuple[str, str]], returncode: int, never_ends: bool = False):
        self.frames = frames
        self._rc = returncode
        self.never_ends = never_ends
        self.buf: dict[str, str] = {}
        self.closed = False

    def is_open(self) -> bool:
        return not self.closed and (self.never_ends or bool(self.frames))

    def update(self, timeout: float = 0) -> None:
        if self.frames:
            channel, data = self.frames.pop(0)
            self.buf[channel] = self.buf.get(channel, "") + data

    def peek_stdout(self, timeout: float = 0) -> str:
        return self.buf.get("out", "")

    def peek_stderr(self, timeout: float = 0) -> str:
        return self.buf.get("err", "")

    def read_stdout(self, timeout: float | None = None) -> str:
        return self.buf.pop("out", "")

    def read_stderr(self, timeout: float | None = None) -> str:
        return self.buf.pop("err", "")

    @property
    def returncode(self) -> int | None:
        return None if self.is_open() else self._rc

    def close(self) -> None:
        self.closed = True


def test_kubectl_makes_context_explicit_and_reports_what_ran() -> None:
    run = Runner((1, "", "forbidden"))
    access = KubectlCluster(context="kind-lab", kubeconfig="/k", run=run)
    result = access.kubectl(["get", "pods"], stdin="x", timeout=5)
    assert run.calls == [
        (["kubectl", "--kubeconfig", "/k", "--context", "kind-lab", "get", "pods"], "x", 5)
    ]
    assert result.command[-2:] == ("get", "pods") and result.exit_code == 1
    assert result.stderr == "forbidden"


def test_shell_runs_through_sh() -> None:
    run = Runner()
    KubectlCluster(run=run).shell("docker exec lab-worker ip route", timeout=3)
    assert run.calls == [(["sh", "-c", "docker exec lab-worker ip route"], None, 3)]


def test_default_runner_reports_timeouts_and_missing_binaries() -> None:
    from packetwalk.host.process import run_process

    assert run_process([sys.executable, "-c", "print('hi')"], stdin=None, timeout=10) == (
        0,
        "hi\n",
        "",
    )
    code, _, err = run_process(
        [sys.executable, "-c", "import time; time.sleep(5)"], stdin=None, timeout=0.2
    )
    assert code == 124 and "timed out" in err
    assert run_process(["/nonexistent/kubectl"], stdin=None, timeout=1)[0] == 127


def test_exec_collects_output_and_exit_code() -> None:
    seen: dict[str, Any] = {}

    def ws_stream(fn: Any, pod: str, ns: str, **kwargs: Any) -> WsClient:
        seen.update(pod=pod, ns=ns, **kwargs)
        return WsClient(
            [("out", "search vote.svc"), ("err", "warn"), ("out", ".cluster.local\n")], returncode=2
        )

    access = KubectlCluster(core_api=CoreApi(), ws_stream=ws_stream)
    result = access.exec("vote", "vote-1", ["cat", "/etc/resolv.conf"], container="vote")
    assert result.stdout == "search vote.svc.cluster.local\n" and result.stderr == "warn"
    assert result.exit_code == 2
    assert result.command == (
        "kubectl",
        "exec",
        "-n",
        "vote",
        "vote-1",
        "-c",
        "vote",
        "--",
        "cat",
        "/etc/resolv.conf",
    )
    assert seen["tty"] is False and seen["stdin"] is False and seen["container"] == "vote"
    assert seen["_preload_content"] is False


def test_exec_times_out_and_reports_api_errors() -> None:
    access = KubectlCluster(
        core_api=CoreApi(), ws_stream=lambda *a, **k: WsClient([], 0, never_ends=True)
    )
    result = access.exec("vote", "vote-1", ["sleep", "60"], timeout=0.05)
    assert result.exit_code == 124 and "timed out" in result.stderr

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ApiException(status=403, reason="Forbidden")

    denied = KubectlCluster(core_api=CoreApi(), ws_stream=refuse).exec("vote", "p", ["true"])
    assert denied.exit_code == 1 and "403 Forbidden" in denied.stderr


def test_ephemeral_container_is_patched_once_by_name() -> None:
    core = CoreApi(v1pod(ephemeral=["pw-probe"]))
    access = KubectlCluster(core_api=core)
    probe = EphemeralContainer("pw-probe", "netshoot", ("tail", "-f", "/dev/null"))
    assert access.add_ephemeral_container("vote", "vote-1", probe) is False
    cap = EphemeralContainer("pw-cap-a", "netshoot", ("tail", "-f", "/dev/null"), "vote")
    assert access.add_ephemeral_container("vote", "vote-1", cap) is True
    assert core.patches == [("vote-1", "vote", specs.ephemeral_patch(cap))]
    body = core.patches[0][2]["spec"]["ephemeralContainers"][0]
    assert body["targetContainerName"] == "vote"
    assert body["securityContext"] == {
        "runAsUser": 0,
        "runAsNonRoot": False,
        "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]},
    }
    assert body["tty"] is False


def forbidden(message: str) -> ApiException:
    error = ApiException(status=403, reason="Forbidden")
    error.body = json.dumps({"kind": "Status", "message": message, "reason": "Forbidden"})
    return error


PSA_MESSAGE = (
    'pods "traefik-1" is forbidden: violates PodSecurity "baseline:latest": non-default '
    'capabilities (container "pw-cap-a" must not include "NET_ADMIN", "NET_RAW" in '
    "securityContext.capabilities.add)"
)


def test_refused_ephemeral_container_is_a_cluster_refusal_with_the_api_message() -> None:
    core = CoreApi(v1pod("traefik-1"), refuse=forbidden(PSA_MESSAGE))
    cap = EphemeralContainer("pw-cap-a", "netshoot", ("tail", "-f", "/dev/null"))
    with pytest.raises(ClusterRefused) as caught:
        KubectlCluster(core_api=core).add_ephemeral_container("traefik", "traefik-1", cap)
    assert caught.value.status == 403
    assert str(caught.value) == (
        "the API server refused ephemeral container pw-cap-a in pod traefik/traefik-1: "
        + PSA_MESSAGE
    )
    with pytest.raises(ClusterRefused, match="cannot read pod vote/gone: 404 Not Found"):
        KubectlCluster(core_api=CoreApi(None)).add_ephemeral_container("vote", "gone", cap)


def test_wait_container_running_gives_up_on_terminated() -> None:
    sleeps: list[float] = []
    running = KubectlCluster(core_api=CoreApi(v1pod(ephemeral=["c"])), sleep=sleeps.append)
    assert running.wait_container_running("vote", "vote-1", "c")
    ended = KubectlCluster(core_api=CoreApi(v1pod(ephemeral=["c"], state="terminated")))
    assert not ended.wait_container_running("vote", "vote-1", "c")
    waiting = KubectlCluster(
        core_api=CoreApi(v1pod(ephemeral=["c"], state="waiting")), sleep=sleeps.append
    )
    assert not waiting.wait_container_running("vote", "vote-1", "c", timeout=0)
    assert container_state(v1pod(), "absent") is None


def test_node_debug_pod_created_pinned_privileged_then_reused() -> None:
    core = CoreApi(None)
    access = KubectlCluster(core_api=core)
    info = access.node_debug_pod("lab-worker", name="pw-node-lab-worker", image="netshoot")
    assert info.node == "lab-worker"
    manifest = core.created[0]
    assert manifest == specs.node_debug_pod_manifest(
        "lab-worker", name="pw-node-lab-worker", image="netshoot", namespace="default"
    )
    assert manifest["spec"]["hostNetwork"] is True
    assert manifest["spec"]["containers"][0]["securityContext"] == {"privileged": True}
    access.node_debug_pod("lab-worker", name="pw-node-lab-worker", image="netshoot")
    assert len(core.created) == 1
    with pytest.raises(PacketwalkError, match="already runs on node lab-worker"):
        access.node_debug_pod("lab-worker2", name="pw-node-lab-worker", image="netshoot")


def test_node_debug_pod_for_a_missing_node_or_refused_is_a_cluster_refusal() -> None:
    core = CoreApi(None)
    with pytest.raises(ClusterRefused, match="cannot run a debug pod on node ghost: 404") as caught:
        KubectlCluster(core_api=core).node_debug_pod("ghost", name="pw-node-ghost", image="x")
    assert caught.value.status == 404 and core.created == []
    refused = CoreApi(None, refuse=forbidden('pods "pw-node-lab-worker" is forbidden: RBAC'))
    with pytest.raises(ClusterRefused, match="refused debug pod default/pw-node-lab-worker on"):
        KubectlCluster(core_api=refused).node_debug_pod(
            "lab-worker", name="pw-node-lab-worker", image="x"
        )


def test_pods_nodes_and_objects() -> None:
    core = CoreApi(v1pod(ephemeral=["pw-probe"]))
    run = Runner((0, '{"items": [{"metadata": {"name": "redis"}}]}', ""))
    access = KubectlCluster(core_api=core, run=run)
    [pod] = access.pods("vote", selector="app=vote")
    assert core.listed == ("vote", {"label_selector": "app=vote"})
    assert pod == pod_info(core.pod)
    assert pod.ephemeral_containers == ("pw-probe",) and pod.ip == "10.244.1.5"
    [node] = access.nodes()
    assert node == node_info(core.list_node().items[0])
    assert node.internal_ip == "172.18.0.3" and node.pod_cidrs == ("10.244.1.0/24",)
    assert access.get_objects("services", namespace="vote") == [{"metadata": {"name": "redis"}}]
    assert run.calls[0][0] == ["kubectl", "get", "services", "-n", "vote", "-o", "json"]
    run.answer = (1, "", "the server doesn't have a resource type")
    with pytest.raises(PacketwalkError, match="resource type"):
        access.get_objects("nope")


def test_stream_is_binary_safe_and_stops() -> None:
    payload = bytes(range(256)) * 64 + b"\r\n\x00"
    argvs: list[list[str]] = []

    def popen(argv: Sequence[str]) -> subprocess.Popen[bytes]:
        argvs.append(list(argv))
        code = f"import sys; sys.stdout.buffer.write({payload!r}); sys.stdout.flush()"
        return subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    sink = io.BytesIO()
    handle = KubectlCluster(context="kind-lab", popen=popen).stream(
        "vote", "vote-1", ["tcpdump", "-U", "-w", "-"], sink, container="pw-cap-a"
    )
    assert handle.stop(timeout=10) == 0
    assert sink.getvalue() == payload
    assert argvs[0] == [
        "kubectl",
        "--context",
        "kind-lab",
        "exec",
        "-n",
        "vote",
        "vote-1",
        "-c",
        "pw-cap-a",
        "--",
        "tcpdump",
        "-U",
        "-w",
        "-",
    ]
    assert "-t" not in argvs[0] and "-it" not in argvs[0]


def test_stream_stop_terminates_a_command_that_does_not_end() -> None:
    def popen(argv: Sequence[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(30)"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    handle = KubectlCluster(popen=popen).stream("vote", "p", ["tcpdump"], io.BytesIO())
    assert handle.poll() is None
    assert handle.stop(timeout=0.1) != 0


def test_default_runner_runs_in_the_given_folder(tmp_path: Any) -> None:
    from packetwalk.host.process import run_process

    code, out, _ = run_process(["pwd"], stdin=None, timeout=5, cwd=str(tmp_path))
    assert (code, out.strip()) == (0, str(tmp_path))


# -- port-forward: the relay against our seam, the client's PortForward object -------------------


class EchoForward:
    """Stands in for ``kubernetes.stream.ws_client.PortForward``: ``.socket(port)`` is one end of
    a socketpair whose other end a thread serves as the pod would (it answers in upper case)."""

    def __init__(self, port: int, *, refused: str | None = None) -> None:
        self.port = port
        self.refused = refused
        self.closed = False
        self._ours, theirs = socket.socketpair()
        threading.Thread(target=self._pod, args=(theirs,), daemon=True).start()

    @staticmethod
    def _pod(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data.upper())

    def socket(self, port: int) -> socket.socket:
        assert port == self.port
        return self._ours

    def error(self, port: int) -> str | None:
        return self.refused

    def close(self) -> None:
        self.closed = True
        self._ours.close()


class Streams:
    """The injected ``portforward`` function: records its calls, one EchoForward per call."""

    def __init__(self, *, refused: str | None = None, fail: Exception | None = None) -> None:
        self.calls: list[tuple[Any, str, str, str]] = []
        self.opened: list[EchoForward] = []
        self.refused = refused
        self.fail = fail

    def __call__(self, method: Any, name: str, namespace: str, *, ports: str) -> EchoForward:
        self.calls.append((method, name, namespace, ports))
        if self.fail is not None:
            raise self.fail
        forward = EchoForward(int(ports), refused=self.refused)
        self.opened.append(forward)
        return forward


def forwarding_cluster(streams: Streams, pod: Any = None) -> tuple[KubectlCluster, CoreApi]:
    core = CoreApi(pod if pod is not None else v1pod())
    core.connect_get_namespaced_pod_portforward = "connect-method"  # type: ignore[attr-defined]
    return KubectlCluster(core_api=core, portforward=streams), core


def exchange(port: int, payload: bytes) -> bytes:
    """Send ``payload`` (from a thread, so a large one cannot dead-lock), then EOF; read it all."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:

        def send() -> None:
            try:
                conn.sendall(payload)
                conn.shutdown(socket.SHUT_WR)
            except OSError:  # the relay closed first (a failed stream): the reads tell
                pass

        sender = threading.Thread(target=send)
        sender.start()
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
        sender.join(5)
        return b"".join(chunks)


def relay_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("port-forward ")]


def test_port_forward_relays_bytes_both_ways_one_stream_per_connection() -> None:
    streams = Streams()
    cluster, _ = forwarding_cluster(streams)
    big = bytes(range(97, 123)) * 40_000  # ~1 MB: more than any socket buffer holds
    with cluster.port_forward("vote", "vote-1", 80) as forward:
        port = forward.local_port
        assert port > 0
        assert exchange(port, b"get / http/1.1\r\n") == b"GET / HTTP/1.1\r\n"
        assert exchange(port, big) == big.upper()
    assert streams.calls == [("connect-method", "vote-1", "vote", "80")] * 2
    assert all(stream.closed for stream in streams.opened)
    assert not relay_threads()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    socket.create_server(("127.0.0.1", port)).close()  # the port is free again


def test_port_forward_close_ends_open_connections_and_is_idempotent() -> None:
    streams = Streams()
    cluster, _ = forwarding_cluster(streams)
    forward = cluster.port_forward("vote", "vote-1", 8080)
    conn = socket.create_connection(("127.0.0.1", forward.local_port), timeout=5)
    conn.sendall(b"ping")
    assert conn.recv(4) == b"PING"
    forward.close()
    forward.close()
    assert conn.recv(10) == b""  # the relay closed its end
    conn.close()
    assert streams.opened[0].closed and not relay_threads()


def test_port_forward_on_a_chosen_local_port_and_when_it_is_taken() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = taken.getsockname()[1]
        cluster, _ = forwarding_cluster(Streams())
        with pytest.raises(PacketwalkError, match=f"cannot listen on 127.0.0.1:{busy}"):
            cluster.port_forward("vote", "vote-1", 80, local_port=busy)
    with cluster.port_forward("vote", "vote-1", 80, local_port=busy) as forward:
        assert forward.local_port == busy
        assert exchange(busy, b"x") == b"X"


def test_port_forward_refuses_missing_and_not_running_pods() -> None:
    streams = Streams()
    cluster, core = forwarding_cluster(streams)
    core.pod = None
    with pytest.raises(ClusterRefused, match="cannot forward to pod vote/vote-1"):
        cluster.port_forward("vote", "vote-1", 80)
    pending = v1pod()
    pending.status.phase = "Pending"
    core.pod = pending
    with pytest.raises(PacketwalkError, match="it is Pending"):
        cluster.port_forward("vote", "vote-1", 80)
    with pytest.raises(PacketwalkError, match="1-65535"):
        cluster.port_forward("vote", "vote-1", 0)
    assert streams.calls == []


def test_port_forward_stream_failures_close_the_connection_and_are_kept() -> None:
    refused = "an error occurred forwarding 40000 -> 81: connection refused"
    cluster, _ = forwarding_cluster(Streams(refused=refused))
    with cluster.port_forward("vote", "vote-1", 81) as forward:
        exchange(forward.local_port, b"hi")
    assert forward.errors == [refused]
    failing = Streams(fail=ApiException(status=403, reason="Forbidden"))
    cluster, _ = forwarding_cluster(failing)
    with cluster.port_forward("vote", "vote-1", 80) as forward:
        assert exchange(forward.local_port, b"") == b""  # closed, nothing relayed
    assert forward.errors == ["cannot open a stream to pod vote/vote-1 port 80: 403 Forbidden"]


def test_port_forward_relays_a_bounded_number_of_connections() -> None:
    streams = Streams()
    relay = PortForwardRelay(lambda: streams(None, "p", "ns", ports="80"), 80, max_connections=1)
    with relay, socket.create_connection(("127.0.0.1", relay.local_port), timeout=5) as first:
        first.sendall(b"a")
        assert first.recv(1) == b"A"
        with socket.create_connection(("127.0.0.1", relay.local_port), timeout=5) as second:
            assert second.recv(1) == b""  # closed at once, not queued
        first.sendall(b"b")  # returns None (raises on failure)
        assert first.recv(1) == b"B"
    assert relay.connections == 1 and "more than the allowed" in relay.errors[0]
