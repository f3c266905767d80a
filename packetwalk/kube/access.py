"""The one small interface through which packetwalk touches a cluster.

Everything that talks to Kubernetes (the lab runner, the packet-walk capture, ``matrix --cluster``)
depends on :class:`ClusterAccess` only. Commands a participant would type go through ``kubectl``
so the runner can show them verbatim; exec, ephemeral containers and binary streams go through the
official client in the real implementation. Tests use the in-memory fake.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

# The cluster model's records of a pod and a node, which the operations below return.
from packetwalk.cluster.model import NodeInfo as NodeInfo
from packetwalk.cluster.model import PodInfo as PodInfo
from packetwalk.errors import PacketwalkError


class ClusterRefused(PacketwalkError):
    """The API server refused a request: PodSecurity admission, RBAC, validation, a missing pod.

    Callers tell it from other failures because some have a fallback for exactly this case (the
    walk captures a refused Traefik pod's packets on its node instead).
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


BASE_ACCESS_ERRORS: tuple[type[BaseException], ...] = (PacketwalkError, LookupError, OSError)
"""What any cluster call may raise when the cluster, not the code, is the problem."""


def access_errors(access: object = None) -> tuple[type[BaseException], ...]:
    """:data:`BASE_ACCESS_ERRORS` plus the exceptions ``access``'s client raises for a refusal
    or an unreachable cluster (its ``client_errors``), so callers stay free of the client."""
    return (*BASE_ACCESS_ERRORS, *getattr(access, "client_errors", ()))


def is_forbidden(error: BaseException) -> bool:
    """Whether the API server refused a request for lack of rights (HTTP 403, RBAC), as opposed
    to an unreachable cluster: the client's ``status``, or kubectl's ``(Forbidden)`` line."""
    return getattr(error, "status", None) == 403 or "forbidden" in str(error).lower()


def api_message(error: BaseException) -> str | None:
    """The ``message`` of a Kubernetes API error's Status body: the part that names the
    PodSecurity level, RBAC rule or missing object a person has to deal with."""
    body = getattr(error, "body", None)
    if not isinstance(body, str | bytes) or not body:
        return None
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        return None
    return str(message) if message else None


@dataclass(frozen=True)
class CommandResult:
    """What a command printed and how it ended; ``command`` is what a participant would type."""

    command: tuple[str, ...]
    exit_code: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class EphemeralContainer:
    """An ephemeral container to add to a pod (``kubectl debug`` with the netadmin profile).

    Ephemeral containers can never be removed or changed, so callers name them and reuse one
    that already exists under the same name.

    ``run_as_root`` sets ``runAsUser: 0`` and ``runAsNonRoot: false`` on the container itself.
    Without it the container inherits the pod's security context: in a pod that says
    ``runAsNonRoot: true`` (Traefik) the kubelet refuses to start the root netshoot image, and
    with the pod's ``runAsUser`` (65532) the added capabilities never become effective, so
    tcpdump cannot open a socket. Container-level fields override the pod-level ones; a
    namespace at PodSecurity level ``privileged`` admits them (``restricted`` does not).
    """

    name: str
    image: str
    command: tuple[str, ...]
    target_container: str | None = None
    capabilities: tuple[str, ...] = ("NET_ADMIN", "NET_RAW")
    run_as_root: bool = True


class StreamHandle(Protocol):
    """A running command whose stdout is being copied, byte for byte, into a sink."""

    def stop(self, timeout: float = 10.0) -> int:
        """Wait up to ``timeout`` seconds for the command to end by itself, then stop it; flush the
        sink and return its exit code. ``timeout=0`` stops it at once."""
        ...

    def poll(self) -> int | None:
        """The exit code once the command has ended by itself, else None."""
        ...


class PortForward(Protocol):
    """A local TCP port on 127.0.0.1 relayed into a pod's port (``kubectl port-forward``).

    It stays open until :meth:`close`, which also ends relayed connections and frees the port;
    use it as a context manager so a failure cannot leak it.
    """

    @property
    def local_port(self) -> int:
        """The port on 127.0.0.1 that reaches the pod (the one bound when 0 was asked for)."""
        ...

    def close(self) -> None:
        """Stop listening, end the relayed connections; calling it again does nothing."""
        ...

    def __enter__(self) -> PortForward: ...

    def __exit__(self, *exc_info: object) -> None: ...


class ClusterAccess(Protocol):
    """The operations packetwalk needs from a cluster, and nothing more."""

    def kubectl(
        self, args: Sequence[str], *, stdin: str | None = None, timeout: float = 60.0
    ) -> CommandResult:
        """Run ``kubectl <args>`` against the lab's context."""
        ...

    def shell(self, command: str, *, timeout: float = 60.0) -> CommandResult:
        """Run a shell command on the participant's machine (``docker exec`` into a kind node)."""
        ...

    def exec(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        *,
        container: str | None = None,
        timeout: float = 60.0,
    ) -> CommandResult:
        """Run a command in a pod's container and collect its output."""
        ...

    def pods(self, namespace: str | None = None, *, selector: str | None = None) -> list[PodInfo]:
        """List pods (all namespaces when ``namespace`` is None), optionally by label selector."""
        ...

    def nodes(self) -> list[NodeInfo]:
        """List the cluster's nodes."""
        ...

    def get_objects(
        self, resource: str, *, namespace: str | None = None
    ) -> list[dict[str, object]]:
        """Return the objects of one resource type (``kubectl get <resource> -o json`` items).

        ``namespace`` None means all namespaces for namespaced resources.
        """
        ...

    def add_ephemeral_container(self, namespace: str, pod: str, spec: EphemeralContainer) -> bool:
        """Add ``spec`` to the pod; return False when a container of that name already exists.

        Raises :class:`ClusterRefused` when the API server refuses it (PodSecurity, RBAC).
        """
        ...

    def wait_container_running(
        self, namespace: str, pod: str, container: str, *, timeout: float = 60.0
    ) -> bool:
        """Wait until the (ephemeral) container runs; False if it ended or did not start in time.

        Ephemeral containers are never restarted: one that has terminated cannot be reused.
        """
        ...

    def node_debug_pod(self, node: str, *, name: str, image: str) -> PodInfo:
        """Return a running host-network debug pod on ``node`` (created once, then reused).

        The pod is privileged, pinned to the node, tolerates every taint and has a container
        named ``debug`` that idles, so captures and ``ip``/``iptables`` run in it with exec.
        Raises :class:`ClusterRefused` when the API server refuses it or the node does not exist.
        """
        ...

    def stream(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        sink: BinaryIO,
        *,
        container: str | None = None,
    ) -> StreamHandle:
        """Start ``command`` in the pod and copy its binary stdout into ``sink`` until stopped."""
        ...

    def port_forward(
        self, namespace: str, pod: str, remote_port: int, *, local_port: int = 0
    ) -> PortForward:
        """Listen on ``127.0.0.1:local_port`` (0: any free port) and relay each connection to
        ``remote_port`` inside the pod's network namespace, through the API server and kubelet.

        Raises :class:`ClusterRefused` when the pod does not exist or RBAC forbids it, and
        :class:`~packetwalk.errors.PacketwalkError` when the pod is not running or the local
        port is taken.
        """
        ...


DEBUG_NAMESPACE = "default"
"""Where node debug pods live: kind and GKE leave ``default`` at the ``privileged`` PSA level."""

DEBUG_CONTAINER = "debug"
"""The container of a node debug pod that commands are exec'd in."""

IDLE_COMMAND: tuple[str, ...] = ("tail", "-f", "/dev/null")
"""Keeps a debug or probe container alive until the pod goes; works in busybox and coreutils."""
