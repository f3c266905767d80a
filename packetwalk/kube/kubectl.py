"""Real cluster access: kubectl for what a participant would type, the official client for the rest.

``kubectl()`` and ``shell()`` run subprocesses so the runner can show the exact command line a
participant can copy. Exec, ephemeral containers and node debug pods go through the official
``kubernetes`` client (websocket exec, the ``ephemeralcontainers`` subresource with a
strategic-merge patch). Binary streams (pcap on stdout) use ``kubectl exec`` without a TTY, whose
stdout is copied byte for byte into the sink by a thread.

Everything that touches the outside world is injected (``run``, ``popen``, ``core_api``,
``ws_stream``, ``sleep``), so tests drive this class with recorded fakes and no cluster.
"""

from __future__ import annotations

import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, BinaryIO, Protocol

from packetwalk.errors import PacketwalkError
from packetwalk.kube import specs
from packetwalk.kube.access import (
    DEBUG_CONTAINER,
    DEBUG_NAMESPACE,
    ClusterRefused,
    CommandResult,
    EphemeralContainer,
    NodeInfo,
    PodInfo,
    api_message,
)
from packetwalk.process import TIMEOUT_EXIT_CODE, run_process


class ProcessRunner(Protocol):
    """Runs a command to completion: returns ``(exit_code, stdout, stderr)``.

    The default is :func:`packetwalk.process.run_process`.
    """

    def __call__(
        self, argv: Sequence[str], *, stdin: str | None, timeout: float
    ) -> tuple[int, str, str]: ...


class PopenFactory(Protocol):
    def __call__(self, argv: Sequence[str]) -> subprocess.Popen[bytes]: ...


def popen_binary(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    """The default :class:`PopenFactory`: stdout as a binary pipe, no stdin, no TTY."""
    return subprocess.Popen(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


class ProcessStream:
    """A subprocess whose stdout a thread copies into a sink; stderr is kept for error messages."""

    def __init__(self, process: subprocess.Popen[bytes], sink: BinaryIO) -> None:
        self._process = process
        self._sink = sink
        self.stderr = b""
        self._copier = threading.Thread(target=self._copy, daemon=True)
        self._copier.start()

    def _copy(self) -> None:
        out: IO[bytes] | None = self._process.stdout
        if out is None:
            return
        read = getattr(out, "read1", out.read)  # read1: hand over what arrived, do not wait for 64k
        while chunk := read(65536):
            self._sink.write(chunk)

    def poll(self) -> int | None:
        return self._process.poll()

    def stop(self, timeout: float = 10.0) -> int:
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._copier.join(timeout=5)
        if self._process.stderr is not None:
            self.stderr = self._process.stderr.read() or b""
        self._sink.flush()
        return self._process.returncode


class KubectlCluster:
    """:class:`~packetwalk.kube.access.ClusterAccess` for a real cluster.

    ``context``/``kubeconfig`` select the lab's cluster for both kubectl and the client; None
    uses the current context, as a participant's own kubectl would.
    """

    def __init__(
        self,
        *,
        context: str | None = None,
        kubeconfig: str | None = None,
        kubectl_binary: str = "kubectl",
        run: ProcessRunner = run_process,
        popen: PopenFactory = popen_binary,
        core_api: Any = None,
        ws_stream: Callable[..., Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        debug_namespace: str = DEBUG_NAMESPACE,
    ) -> None:
        self._context = context
        self._kubeconfig = kubeconfig
        self._kubectl = kubectl_binary
        self._run = run
        self._popen = popen
        self._core_api = core_api
        self._ws_stream = ws_stream
        self._sleep = sleep
        self.debug_namespace = debug_namespace

    # -- subprocesses ---------------------------------------------------------------------------

    def kubectl_argv(self, args: Sequence[str]) -> list[str]:
        """The full kubectl command line, with the lab's kubeconfig/context made explicit."""
        argv = [self._kubectl]
        if self._kubeconfig:
            argv += ["--kubeconfig", self._kubeconfig]
        if self._context:
            argv += ["--context", self._context]
        return argv + list(args)

    def kubectl(
        self, args: Sequence[str], *, stdin: str | None = None, timeout: float = 60.0
    ) -> CommandResult:
        argv = self.kubectl_argv(args)
        code, out, err = self._run(argv, stdin=stdin, timeout=timeout)
        return CommandResult(tuple(argv), code, out, err)

    def shell(self, command: str, *, timeout: float = 60.0) -> CommandResult:
        argv = ["sh", "-c", command]
        code, out, err = self._run(argv, stdin=None, timeout=timeout)
        return CommandResult(tuple(argv), code, out, err)

    # -- the client -----------------------------------------------------------------------------

    @property
    def core(self) -> Any:
        """A ``CoreV1Api`` for the lab's kubeconfig/context, built on first use."""
        if self._core_api is None:
            from kubernetes import client, config

            api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=self._kubeconfig, context=self._context
            )
            self._core_api = client.CoreV1Api(api_client=api_client)
        return self._core_api

    def _stream_fn(self) -> Callable[..., Any]:
        if self._ws_stream is None:
            from kubernetes.stream import stream

            self._ws_stream = stream
        return self._ws_stream

    def exec(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        *,
        container: str | None = None,
        timeout: float = 60.0,
    ) -> CommandResult:
        shown = ["kubectl", "exec", "-n", namespace, pod]
        if container:
            shown += ["-c", container]
        shown += ["--", *command]
        kwargs: dict[str, Any] = {
            "command": list(command),
            "stdin": False,
            "stdout": True,
            "stderr": True,
            "tty": False,
            "_preload_content": False,
        }
        if container:
            kwargs["container"] = container
        try:
            ws = self._stream_fn()(
                self.core.connect_get_namespaced_pod_exec, pod, namespace, **kwargs
            )
        except Exception as error:  # ApiException, websocket errors: report like kubectl does
            return CommandResult(tuple(shown), 1, "", f"exec failed: {_api_reason(error)}")
        out: list[str] = []
        err: list[str] = []
        deadline = time.monotonic() + timeout
        while ws.is_open() and time.monotonic() < deadline:
            ws.update(timeout=min(1.0, max(deadline - time.monotonic(), 0.0)))
            if ws.peek_stdout():
                out.append(ws.read_stdout())
            if ws.peek_stderr():
                err.append(ws.read_stderr())
        timed_out = ws.is_open()
        if timed_out:
            ws.close()
            return CommandResult(
                tuple(shown),
                TIMEOUT_EXIT_CODE,
                "".join(out),
                "".join(err) + f"timed out after {timeout:g}s",
            )
        out.append(ws.read_stdout(timeout=0) or "")
        err.append(ws.read_stderr(timeout=0) or "")
        try:
            code = ws.returncode
        except (TypeError, KeyError, ValueError, IndexError):  # no status on the error channel
            code = None
        return CommandResult(
            tuple(shown), int(code) if code is not None else 1, "".join(out), "".join(err)
        )

    def pods(self, namespace: str | None = None, *, selector: str | None = None) -> list[PodInfo]:
        kwargs: dict[str, Any] = {"label_selector": selector} if selector else {}
        if namespace is None:
            listing = self.core.list_pod_for_all_namespaces(**kwargs)
        else:
            listing = self.core.list_namespaced_pod(namespace, **kwargs)
        return [pod_info(item) for item in listing.items]

    def nodes(self) -> list[NodeInfo]:
        return [node_info(item) for item in self.core.list_node().items]

    def get_objects(
        self, resource: str, *, namespace: str | None = None
    ) -> list[dict[str, object]]:
        import json

        scope = ["-n", namespace] if namespace else ["--all-namespaces"]
        result = self.kubectl(["get", resource, *scope, "-o", "json"])
        if not result.ok:
            raise PacketwalkError(
                f"{shlex.join(result.command)} failed: {result.stderr.strip() or result.exit_code}"
            )
        body = json.loads(result.stdout)
        items = body.get("items", [])
        return [item for item in items if isinstance(item, dict)]

    def add_ephemeral_container(self, namespace: str, pod: str, spec: EphemeralContainer) -> bool:
        from kubernetes.client.exceptions import ApiException

        try:
            current = self.core.read_namespaced_pod(pod, namespace)
        except ApiException as error:
            raise refusal(f"cannot read pod {namespace}/{pod}", error) from error
        existing = [c.name for c in (current.spec.ephemeral_containers or [])]
        if spec.name in existing:
            return False
        try:
            # A dict body makes the client send a strategic-merge patch, which merges by name.
            self.core.patch_namespaced_pod_ephemeralcontainers(
                pod, namespace, specs.ephemeral_patch(spec)
            )
        except ApiException as error:
            raise refusal(
                f"the API server refused ephemeral container {spec.name} in pod {namespace}/{pod}",
                error,
            ) from error
        return True

    def wait_container_running(
        self, namespace: str, pod: str, container: str, *, timeout: float = 60.0
    ) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            state = container_state(self.core.read_namespaced_pod(pod, namespace), container)
            if state == "running":
                return True
            if state == "terminated" or time.monotonic() >= deadline:
                return False
            self._sleep(1.0)

    def node_debug_pod(self, node: str, *, name: str, image: str) -> PodInfo:
        from kubernetes.client.exceptions import ApiException

        namespace = self.debug_namespace
        try:
            current = self.core.read_namespaced_pod(name, namespace)
        except ApiException as error:
            if error.status != 404:
                raise refusal(f"cannot read pod {namespace}/{name}", error) from error
            try:
                self.core.read_node(node)
            except ApiException as node_error:
                # nodeName bypasses the scheduler, so a pod for a missing node would wait forever.
                raise refusal(f"cannot run a debug pod on node {node}", node_error) from node_error
            manifest = specs.node_debug_pod_manifest(
                node, name=name, image=image, namespace=namespace
            )
            try:
                current = self.core.create_namespaced_pod(namespace, manifest)
            except ApiException as create_error:
                raise refusal(
                    f"the API server refused debug pod {namespace}/{name} on node {node}",
                    create_error,
                ) from create_error
        if current.spec.node_name not in (None, node):
            raise PacketwalkError(
                f"pod {namespace}/{name} already runs on node {current.spec.node_name}, not {node}:"
                f" delete it (kubectl delete pod -n {namespace} {name}) and try again"
            )
        if not self.wait_container_running(namespace, name, DEBUG_CONTAINER, timeout=120):
            raise PacketwalkError(
                f"node debug pod {namespace}/{name} on {node} did not start; see"
                f" kubectl describe pod -n {namespace} {name}"
            )
        return pod_info(self.core.read_namespaced_pod(name, namespace))

    def stream(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        sink: BinaryIO,
        *,
        container: str | None = None,
    ) -> ProcessStream:
        # No -t: a TTY would rewrite bytes (CR/LF) and corrupt a pcap.
        args = ["exec", "-n", namespace, pod]
        if container:
            args += ["-c", container]
        args += ["--", *command]
        return ProcessStream(self._popen(self.kubectl_argv(args)), sink)


def refusal(what: str, error: Exception) -> ClusterRefused:
    """A :class:`ClusterRefused` carrying the API's own message (``Status.message`` of the body),
    which names the PodSecurity level or RBAC rule a person has to change."""
    status = getattr(error, "status", None)
    code = status if isinstance(status, int) else None
    return ClusterRefused(f"{what}: {api_message(error) or _api_reason(error)}", status=code)


def _api_reason(error: Exception) -> str:
    reason = getattr(error, "reason", None)
    status = getattr(error, "status", None)
    if reason or status:
        return f"{status} {reason}".strip()
    return str(error) or type(error).__name__


def container_state(pod: Any, container: str) -> str | None:
    """``waiting``, ``running`` or ``terminated`` for a (maybe ephemeral) container, else None."""
    status = pod.status
    statuses = [*(status.container_statuses or []), *(status.ephemeral_container_statuses or [])]
    for item in statuses:
        if item.name != container:
            continue
        state = item.state
        if state is None:
            return "waiting"
        if state.running is not None:
            return "running"
        if state.terminated is not None:
            return "terminated"
        return "waiting"
    return None


def pod_info(pod: Any) -> PodInfo:
    """A :class:`PodInfo` from a ``V1Pod``."""
    meta, spec, status = pod.metadata, pod.spec, pod.status
    labels: Mapping[str, str] = dict(meta.labels or {})
    return PodInfo(
        namespace=meta.namespace,
        name=meta.name,
        ip=status.pod_ip if status else None,
        node=spec.node_name,
        labels=labels,
        containers=tuple(c.name for c in spec.containers or []),
        ephemeral_containers=tuple(c.name for c in spec.ephemeral_containers or []),
        phase=(status.phase if status and status.phase else "Unknown"),
        host_network=bool(spec.host_network),
    )


def node_info(node: Any) -> NodeInfo:
    """A :class:`NodeInfo` from a ``V1Node``."""
    addresses = (node.status.addresses or []) if node.status else []
    internal = next((a.address for a in addresses if a.type == "InternalIP"), None)
    cidrs = tuple(node.spec.pod_cidrs or ([node.spec.pod_cidr] if node.spec.pod_cidr else []))
    return NodeInfo(
        name=node.metadata.name,
        internal_ip=internal,
        labels=dict(node.metadata.labels or {}),
        pod_cidrs=cidrs,
    )
