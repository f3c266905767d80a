"""The read model of one cluster, from a live cluster (the fake) or from a snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from packetwalk.cluster.model import ContainerPort, Origin
from packetwalk.cluster.state import RESOURCE_KINDS, ClusterState, Snapshot
from packetwalk.errors import PacketwalkError
from packetwalk.kube.fake import FakeCluster
from packetwalk.walk.snapshot import load_objects

LAB = Path(__file__).parent / "data" / "walk" / "kind-lab.yaml"


def live_cluster(objects: list[dict[str, Any]]) -> FakeCluster:
    """The objects as a live cluster lists them: pods and nodes typed, the rest as objects."""
    snapshot = Snapshot(objects)
    by_resource: dict[str, list[dict[str, Any]]] = {}
    kinds = {kind: resource for resource, kind in RESOURCE_KINDS.items()}
    for obj in objects:
        by_resource.setdefault(kinds.get(str(obj["kind"]), str(obj["kind"])), []).append(obj)
    return FakeCluster(pods=snapshot.pods(), nodes=snapshot.nodes(), objects=by_resource)


def test_a_live_cluster_and_its_snapshot_read_the_same() -> None:
    objects = [dict(o) for o in load_objects(LAB)]
    live, saved = ClusterState(live_cluster(objects)), ClusterState.from_objects(objects)

    def by_name(pods: Any) -> list[Any]:
        return sorted(pods, key=lambda p: (p.namespace, p.name))

    assert by_name(live.pods) == by_name(saved.pods) and live.pods
    assert sorted(live.nodes, key=lambda n: n.name) == sorted(saved.nodes, key=lambda n: n.name)
    assert live.services == saved.services and live.services
    assert live.container_ports == saved.container_ports
    traefik = next(k for k in saved.container_ports if k.startswith("traefik/"))
    assert ContainerPort(8000, "TCP", "web") in saved.container_ports[traefik]


def test_parts_are_read_once_and_only_when_used() -> None:
    fake = FakeCluster(objects={"services": [{"metadata": {"name": "a"}}]})
    state = ClusterState(fake)
    assert fake.calls == []
    assert [s.key for s in state.services] == ["default/a"]
    assert state.services is state.services
    assert [c.kind for c in fake.calls] == ["get_objects"]


def test_optional_resources_may_be_missing() -> None:
    class Refusing(FakeCluster):
        def get_objects(
            self, resource: str, *, namespace: str | None = None
        ) -> list[dict[str, object]]:
            raise PacketwalkError(f"the server doesn't have a resource type {resource!r}")

    state = ClusterState(Refusing())
    assert state.optional_objects("ingressroutes.traefik.io") == []
    assert state.container_ports == {}


def test_a_snapshot_answers_by_resource_and_namespace() -> None:
    snapshot = Snapshot(
        [
            {"kind": "ConfigMap", "metadata": {"name": "kube-proxy", "namespace": "kube-system"}},
            {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "vote"}},
        ],
        source="lab.yaml",
    )
    assert [o["metadata"] for o in snapshot.get_objects("configmaps", namespace="kube-system")] == [
        {"name": "kube-proxy", "namespace": "kube-system"}
    ]
    assert len(snapshot.get_objects("configmaps")) == 2
    assert snapshot.get_objects("ingresses") == [] and snapshot.get_objects("unheard-of") == []
    assert ClusterState.from_objects([], source="lab.yaml").origin == Origin("lab.yaml")
