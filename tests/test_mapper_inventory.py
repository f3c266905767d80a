"""Root owners (ReplicaSet -> Deployment, Job -> CronJob), creation times, finished pods."""

from __future__ import annotations

from typing import Any

from packetwalk.mapper.inventory import MapInventory


def pod(name: str, ip: str, owner: tuple[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", **extra}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {"kind": "Pod", "metadata": meta, "status": {"phase": "Running", "podIP": ip}}


def owner_of(objects: list[dict[str, Any]], ip: str) -> tuple[str, str]:
    (found,) = MapInventory.from_objects(objects).pods_at(ip)
    return found.owner_kind, found.owner_name


def test_replicaset_object_leads_to_its_deployment() -> None:
    rs = {
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-abc",
            "namespace": "ns",
            "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}],
        },
    }
    assert owner_of([rs, pod("web-abc-1", "10.0.0.1", ("ReplicaSet", "web-abc"))], "10.0.0.1") == (
        "Deployment",
        "web",
    )


def test_missing_replicaset_is_named_from_pod_template_hash_only_when_it_matches() -> None:
    hashed = pod(
        "w-1", "10.0.0.1", ("ReplicaSet", "web-7f9c"), labels={"pod-template-hash": "7f9c"}
    )
    other = pod("w-2", "10.0.0.2", ("ReplicaSet", "web-7f9c"), labels={"pod-template-hash": "zz"})
    assert owner_of([hashed], "10.0.0.1") == ("Deployment", "web")
    assert owner_of([other], "10.0.0.2") == ("ReplicaSet", "web-7f9c")


def test_job_leads_to_its_cronjob_and_a_bare_or_static_pod_stands_alone() -> None:
    job = {
        "kind": "Job",
        "metadata": {
            "name": "backup-123",
            "namespace": "ns",
            "ownerReferences": [{"kind": "CronJob", "name": "backup", "controller": True}],
        },
    }
    assert owner_of([job, pod("b", "10.0.0.3", ("Job", "backup-123"))], "10.0.0.3") == (
        "CronJob",
        "backup",
    )
    assert owner_of([pod("solo", "10.0.0.4")], "10.0.0.4") == ("Pod", "solo")
    assert owner_of([pod("etcd-n", "10.0.0.5", ("Node", "n"))], "10.0.0.5") == ("Pod", "etcd-n")


def test_finished_pods_hold_no_address_and_creation_time_is_read() -> None:
    done = pod("done", "10.0.0.6")
    done["status"]["phase"] = "Succeeded"
    live = pod("live", "10.0.0.7", creationTimestamp="2026-01-02T03:04:05Z")
    inv = MapInventory.from_objects([{"kind": "List", "items": [done, live]}])
    assert inv.pods_at("10.0.0.6") == []
    assert inv.pods_at("10.0.0.7")[0].created == 1767323045.0
