"""The idle netshoot tool container (probes, captures) attached to a pod, once, through
:class:`~packetwalk.kube.access.ClusterAccess`; labs and ``invoke verify`` share it."""

from __future__ import annotations

from collections.abc import Callable

from packetwalk.kube.access import ClusterAccess, EphemeralContainer, PodInfo
from packetwalk.kube.captures import tool_container


def attach_tool_container(
    access: ClusterAccess,
    pod: PodInfo,
    name: str,
    image: str,
    *,
    target: str | None = None,
    announce: Callable[[EphemeralContainer], None] | None = None,
    timeout: float = 120,
) -> bool:
    """Add ``name`` to ``pod`` unless it is there already (ephemeral containers can never be
    removed, so one is reused), sharing ``target``'s process namespace (default: the pod's first
    container); ``announce`` sees the spec before it is added. True once it runs."""
    if name not in pod.ephemeral_containers:
        target = target or (pod.containers[0] if pod.containers else None)
        spec = tool_container(name, image, target)
        if announce is not None:
            announce(spec)
        access.add_ephemeral_container(pod.namespace, pod.name, spec)
    return access.wait_container_running(pod.namespace, pod.name, name, timeout=timeout)
