"""Real cluster access: kubectl for what a participant would type, the official client for the rest.

``kubectl()`` and ``shell()`` run subprocesses so the runner can show the exact command line a
participant can copy. Exec, ephemeral containers and node debug pods go through the official
``kubernetes`` client (websocket exec, the ``ephemeralcontainers`` subresource with a
strategic-merge patch). Binary streams (pcap on stdout) use ``kubectl exec`` without a TTY, whose
stdout is copied byte for byte into the sink by a thread.

Everything that touches the outside world is injected (``run``, ``popen``, ``core_api``,
``ws_stream``, ``portforward``, ``sleep``), so tests drive this class with recorded fakes and no
cluster. Port-forwards use the client's websocket ``portforward``; :class:`PortForwardRelay` serves
the local listener ``kubectl port-forward`` would, one stream per accepted connection.
"""

from __future__ import annotations

import select
import shlex
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO, Protocol

from packetwalk.errors import PacketwalkError
from packetwalk.host.process import (
    TIMEOUT_EXIT_CODE,
    PopenFactory,
    ProcessStream,
    popen_binary,
    run_process,
)
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


class ProcessRunner(Protocol):
    """Runs a command to completion: returns ``(exit_code, stdout, stderr)``.

    The default is :func:`packetwalk.host.process.run_process`.
    """

    def __call__(
        self, argv: Sequence[str], *, stdin: str | None, timeout: float
    ) -> tuple[int, str, str]: ...


def _client_errors() -> tuple[type[BaseException], ...]:
    """The official client's exceptions for an API refusal (PodSecurity, RBAC, a pod gone), a
    missing kubeconfig context and a failed connection."""
    try:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.config.config_exception import ConfigException
        from urllib3.exceptions import HTTPError
    except ImportError:  # pragma: no cover - the client is a dependency; tests may stub it out
        return ()
    return (ApiException, ConfigException, HTTPError)


CLIENT_ERRORS = _client_errors()


class KubectlCluster:
    """:class:`~packetwalk.kube.access.ClusterAccess` for a real cluster.

    ``context``/``kubeconfig`` select the lab's cluster for both kubectl and the client; None
    uses the current context, as a participant's own kubectl would.
    """

    client_errors = CLIENT_ERRORS
    """What this adapter's client raises when the cluster is the problem (see ``access_errors``)."""

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
        portforward: Callable[..., Any] | None = None,
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
        self._portforward = portforward
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

    def port_forward(
        self, namespace: str, pod: str, remote_port: int, *, local_port: int = 0
    ) -> PortForwardRelay:
        from kubernetes.client.exceptions import ApiException

        where = f"pod {namespace}/{pod}"
        if not 0 < remote_port < 65536 or not 0 <= local_port < 65536:
            raise PacketwalkError(f"cannot forward {local_port}:{remote_port}: ports are 1-65535")
        try:
            current = self.core.read_namespaced_pod(pod, namespace)
        except ApiException as error:
            raise refusal(f"cannot forward to {where}", error) from error
        phase = current.status.phase if current.status else None
        if phase != "Running":  # what kubectl port-forward refuses too
            raise PacketwalkError(
                f"cannot forward to {where}: it is {phase or 'not running'}"
                f" (kubectl describe pod -n {namespace} {pod})"
            )
        if self._portforward is None:
            from kubernetes.stream import portforward

            self._portforward = portforward
        forward, method = self._portforward, self.core.connect_get_namespaced_pod_portforward

        def connect() -> Any:
            return forward(method, pod, namespace, ports=str(remote_port))

        return PortForwardRelay(
            connect, remote_port, local_port=local_port, describe=f"{where} port {remote_port}"
        )


_POLL = 0.2
"""Seconds a relay thread waits on its sockets before looking whether it was closed."""


class PortForwardRelay:
    """``kubectl port-forward``'s local side: a listener on 127.0.0.1 whose every accepted
    connection is relayed through a new port-forward stream into the pod.

    One stream per connection, as kubectl opens one SPDY stream per connection: the client's
    ``PortForward`` ends its websocket once its socket closes, so a stream cannot be reused.
    ``connect()`` opens one and returns the client's ``PortForward`` (``.socket(port)``,
    ``.error(port)``, ``.close()``). At most ``max_connections`` are relayed at once (a browser
    opens six); more are closed at once rather than queued behind a stuck one.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        remote_port: int,
        *,
        local_port: int = 0,
        max_connections: int = 32,
        describe: str = "the pod",
    ) -> None:
        try:
            self._listener = socket.create_server(("127.0.0.1", local_port))
        except OSError as error:
            raise PacketwalkError(
                f"cannot listen on 127.0.0.1:{local_port} to forward to {describe}:"
                f" {error.strerror or error} (choose another local_port, or 0 for any)"
            ) from error
        self._listener.settimeout(_POLL)
        self._local_port: int = self._listener.getsockname()[1]
        self._connect = connect
        self._remote_port = remote_port
        self._describe = describe
        self._slots = threading.BoundedSemaphore(max_connections)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: set[threading.Thread] = set()
        self.connections = 0
        """Connections accepted so far."""
        self.errors: list[str] = []
        """What went wrong on streams (the pod refused the port, the API refused the stream)."""
        self._acceptor = threading.Thread(
            target=self._accept, name=f"port-forward 127.0.0.1:{self._local_port}", daemon=True
        )
        self._acceptor.start()

    @property
    def local_port(self) -> int:
        return self._local_port

    def __enter__(self) -> PortForwardRelay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._acceptor.join(timeout=5)  # it notices the stop within one poll
        self._listener.close()
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout=5)

    def _note(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                self._note(f"more than the allowed connections at once to {self._describe}")
                conn.close()
                continue
            worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._workers.add(worker)
                self.connections += 1
            worker.start()

    def _serve(self, conn: socket.socket) -> None:
        stream: Any = None
        try:
            try:
                stream = self._connect()
                remote = stream.socket(self._remote_port)
            except Exception as error:  # ApiException, websocket errors: the client's own report
                self._note(f"cannot open a stream to {self._describe}: {_api_reason(error)}")
                return
            conn.setblocking(True)
            remote.setblocking(True)
            _relay(conn, remote, self._stop)
            refused = stream.error(self._remote_port)
            if refused:  # e.g. "... connection refused": nothing listens on that port in the pod
                self._note(str(refused).strip())
        finally:
            conn.close()
            if stream is not None:
                stream.close()
            self._slots.release()
            with self._lock:
                self._workers.discard(threading.current_thread())


def _relay(local: socket.socket, remote: Any, stop: threading.Event) -> None:
    """Copy bytes both ways until the pod's side ends (or the relay is closed).

    The local client's end of input is passed on as a half-close, so the pod still answers a
    request that was followed by EOF; the pod's end ends the connection.
    """
    peers: dict[Any, Any] = {local: remote, remote: local}
    while not stop.is_set():
        ready, _, _ = select.select(list(peers), [], [], _POLL)
        for source in ready:
            try:
                data = source.recv(65536)
                if data:
                    peers[source].sendall(data)
                    continue
                if source is remote:
                    return
                del peers[local]
                remote.shutdown(socket.SHUT_WR)
            except OSError:
                return


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
