"""The voting app: upstream's names, labels and ports, pinned images, probes, valid schema."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from packetwalk.lab import versions
from packetwalk.lab.votingapp import voting_app_images, voting_app_objects


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


OBJECTS = voting_app_objects()
DEPLOYMENTS = by_kind(OBJECTS, "Deployment")
SERVICES = by_kind(OBJECTS, "Service")


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_valid_kubernetes_strict(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, versions.KUBERNETES_VERSION, strict=True)


def test_strict_validation_catches_a_typo() -> None:
    broken = voting_app_objects()[0]
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, versions.KUBERNETES_VERSION, strict=True)


def test_objects_and_namespace() -> None:
    assert sorted(DEPLOYMENTS) == ["db", "redis", "result", "vote", "worker"]
    assert sorted(SERVICES) == ["db", "redis", "result", "vote"]  # worker has no Service
    assert len(OBJECTS) == 9
    assert {o["metadata"]["namespace"] for o in OBJECTS} == {"vote"}
    assert {o["metadata"]["namespace"] for o in voting_app_objects("shop")} == {"shop"}


@pytest.mark.parametrize("name", ["vote", "result", "worker", "redis", "db"])
def test_labels_and_selectors(name: str) -> None:
    deployment = DEPLOYMENTS[name]
    assert deployment["metadata"]["labels"] == {"app": name}
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": name}}
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": name}
    if name in SERVICES:
        assert SERVICES[name]["spec"]["selector"] == {"app": name}
        assert SERVICES[name]["metadata"]["labels"] == {"app": name}


@pytest.mark.parametrize(
    ("name", "container", "image", "port", "port_name"),
    [
        ("vote", "vote", versions.VOTE_IMAGE, 80, "vote"),
        ("result", "result", versions.RESULT_IMAGE, 80, "result"),
        ("worker", "worker", versions.WORKER_IMAGE, None, None),
        ("redis", "redis", versions.REDIS_IMAGE, 6379, "redis"),
        ("db", "postgres", versions.POSTGRES_IMAGE, 5432, "postgres"),
    ],
)
def test_containers(
    name: str, container: str, image: str, port: int | None, port_name: str | None
) -> None:
    (spec,) = DEPLOYMENTS[name]["spec"]["template"]["spec"]["containers"]
    assert spec["name"] == container and spec["image"] == image
    assert spec["imagePullPolicy"] == "IfNotPresent"  # preloaded images are used
    if port is None:
        assert "ports" not in spec
    else:
        assert spec["ports"] == [{"name": port_name, "containerPort": port, "protocol": "TCP"}]


@pytest.mark.parametrize(
    ("name", "port", "target", "port_name"),
    [
        ("vote", 8080, 80, "vote-service"),
        ("result", 8081, 80, "result-service"),
        ("redis", 6379, 6379, "redis-service"),
        ("db", 5432, 5432, "db-service"),
    ],
)
def test_services(name: str, port: int, target: int, port_name: str) -> None:
    spec = SERVICES[name]["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["ports"] == [
        {"name": port_name, "port": port, "targetPort": target, "protocol": "TCP"}
    ]


def test_probes() -> None:
    def probe(name: str) -> dict[str, Any] | None:
        container = DEPLOYMENTS[name]["spec"]["template"]["spec"]["containers"][0]
        value: dict[str, Any] | None = container.get("readinessProbe")
        return value

    for web in ("vote", "result"):
        assert probe(web)["httpGet"] == {"path": "/", "port": 80}  # type: ignore[index]
    assert probe("redis")["exec"]["command"] == ["redis-cli", "ping"]  # type: ignore[index]
    assert probe("db")["exec"]["command"] == ["pg_isready", "-U", "postgres"]  # type: ignore[index]
    assert probe("worker") is None


def test_data_stores() -> None:
    db = DEPLOYMENTS["db"]["spec"]["template"]["spec"]
    assert db["containers"][0]["env"] == [
        {"name": "POSTGRES_USER", "value": "postgres"},
        {"name": "POSTGRES_PASSWORD", "value": "postgres"},
    ]
    assert db["volumes"] == [{"name": "db-data", "emptyDir": {}}]
    assert db["containers"][0]["volumeMounts"] == [
        {"name": "db-data", "mountPath": "/var/lib/postgresql/data"}
    ]
    redis = DEPLOYMENTS["redis"]["spec"]["template"]["spec"]
    assert redis["volumes"] == [{"name": "redis-data", "emptyDir": {}}]


def test_images_are_pinned_from_versions() -> None:
    images = voting_app_images()
    assert len(images) == 5
    used = {
        c["image"]
        for d in DEPLOYMENTS.values()
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert used == set(images)


def test_each_call_builds_fresh_objects() -> None:
    first = voting_app_objects()
    first[0]["metadata"]["labels"]["x"] = "y"
    assert voting_app_objects() == OBJECTS
