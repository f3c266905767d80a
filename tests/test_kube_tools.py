"""Attaching the idle tool container (packetwalk.kube.tools)."""

from __future__ import annotations

from typing import Any

from packetwalk.kube.access import EphemeralContainer, PodInfo
from packetwalk.kube.tools import attach_tool_container


class Access:
    """The two ClusterAccess calls the helper makes, recorded."""

    def __init__(self, running: bool = True) -> None:
        self.added: list[tuple[str, str, EphemeralContainer]] = []
        self.running = running

    def add_ephemeral_container(self, namespace: str, pod: str, spec: EphemeralContainer) -> bool:
        self.added.append((namespace, pod, spec))
        return True

    def wait_container_running(self, namespace: str, pod: str, name: str, timeout: float) -> bool:
        return self.running


def pod(ephemeral: tuple[str, ...] = ()) -> PodInfo:
    return PodInfo(
        namespace="vote",
        name="vote-0",
        ip="10.244.1.5",
        node="w",
        labels={},
        containers=("vote", "sidecar"),
        ephemeral_containers=ephemeral,
    )


def test_attaches_once_targeting_the_first_container_and_announces_it() -> None:
    access: Any = Access()
    seen: list[EphemeralContainer] = []
    assert attach_tool_container(access, pod(), "pw-probe", "img", announce=seen.append)
    [(namespace, name, spec)] = access.added
    assert (namespace, name, spec.name, spec.image) == ("vote", "vote-0", "pw-probe", "img")
    assert spec.target_container == "vote" and spec.run_as_root and seen == [spec]
    # already there: never added again (ephemeral containers cannot be removed)
    assert attach_tool_container(access, pod(("pw-probe",)), "pw-probe", "img")
    assert len(access.added) == 1


def test_a_container_that_never_runs_is_reported() -> None:
    access: Any = Access(running=False)
    assert not attach_tool_container(access, pod(), "pw-probe", "img", target="sidecar")
    assert access.added[0][2].target_container == "sidecar"
