"""The Docker example voting app as Kubernetes objects (upstream ``k8s-specifications/``).

Names, labels, ports and container names follow upstream exactly (see
``docs/design/voting-app.md`` section 1): the apps hard-code the Service names ``redis`` and
``db``, and the lab's policies and packet walks are written against these labels and ports. The
deliberate differences from upstream:

- images come from :mod:`packetwalk.lab.versions` (the three app images float: see its
  docstring), pulled only if not present so that images preloaded into kind are used;
- readiness probes (upstream has none, so nothing told a participant the app was ready);
- ``vote`` and ``result`` Services are ClusterIP, not NodePort 31000/31001: the lab reaches them
  through Traefik, which dials pod IPs straight from the EndpointSlices, so a NodePort would only
  open a second, policy-relevant path into the namespace that the walks do not describe.
"""

from __future__ import annotations

from typing import Any, Final

from packetwalk.lab import versions

APP_LABEL: Final = "app"
WEB_PORT: Final = 80
"""The container port of vote and result; Service ports 8080/8081 DNAT to it."""
REDIS_PORT: Final = 6379
POSTGRES_PORT: Final = 5432
VOTE_SERVICE_PORT: Final = 8080
RESULT_SERVICE_PORT: Final = 8081

FRONTENDS: Final = ("vote", "result")
"""The two web apps the ingress routes to."""


def _meta(name: str, namespace: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": {APP_LABEL: name}}


def _deployment(
    name: str,
    namespace: str,
    container: dict[str, Any],
    volumes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    # `:latest` tags default to pullPolicy Always, which would ignore images preloaded with
    # `kind load docker-image` and stall a workshop on the venue's network.
    container = {**container, "imagePullPolicy": "IfNotPresent"}
    pod_spec: dict[str, Any] = {"containers": [container]}
    if volumes:
        pod_spec["volumes"] = volumes
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, namespace),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {APP_LABEL: name}},
            "template": {"metadata": {"labels": {APP_LABEL: name}}, "spec": pod_spec},
        },
    }


def _service(name: str, namespace: str, port: int, target: int, port_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, namespace),
        "spec": {
            "type": "ClusterIP",
            "selector": {APP_LABEL: name},
            "ports": [{"name": port_name, "port": port, "targetPort": target, "protocol": "TCP"}],
        },
    }


def _http_probe() -> dict[str, Any]:
    return {
        "httpGet": {"path": "/", "port": WEB_PORT},
        "initialDelaySeconds": 2,
        "periodSeconds": 5,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }


def _exec_probe(*command: str) -> dict[str, Any]:
    return {
        "exec": {"command": list(command)},
        "initialDelaySeconds": 2,
        "periodSeconds": 5,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }


def voting_app_objects(namespace: str = "vote") -> list[dict[str, Any]]:
    """Deployments vote, result, worker, redis, db and Services vote, result, redis, db."""
    vote = _deployment(
        namespace=namespace,
        name="vote",
        container={
            "name": "vote",
            "image": versions.VOTE_IMAGE,
            "ports": [{"name": "vote", "containerPort": WEB_PORT, "protocol": "TCP"}],
            "readinessProbe": _http_probe(),
        },
    )
    result = _deployment(
        namespace=namespace,
        name="result",
        container={
            "name": "result",
            "image": versions.RESULT_IMAGE,
            "ports": [{"name": "result", "containerPort": WEB_PORT, "protocol": "TCP"}],
            "readinessProbe": _http_probe(),
        },
    )
    # The worker listens on nothing: no ports, no probe (its "Waiting for db" log is its signal).
    worker = _deployment(
        namespace=namespace,
        name="worker",
        container={
            "name": "worker",
            "image": versions.WORKER_IMAGE,
        },
    )
    redis = _deployment(
        namespace=namespace,
        name="redis",
        container={
            "name": "redis",
            "image": versions.REDIS_IMAGE,
            "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
            "volumeMounts": [{"name": "redis-data", "mountPath": "/data"}],
            "readinessProbe": _exec_probe("redis-cli", "ping"),
        },
        volumes=[{"name": "redis-data", "emptyDir": {}}],
    )
    db = _deployment(
        namespace=namespace,
        name="db",
        container={
            "name": "postgres",
            "image": versions.POSTGRES_IMAGE,
            # Upstream's lab credentials; the app images hard-code them too.
            "env": [
                {"name": "POSTGRES_USER", "value": "postgres"},
                {"name": "POSTGRES_PASSWORD", "value": "postgres"},
            ],
            "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT, "protocol": "TCP"}],
            "volumeMounts": [{"name": "db-data", "mountPath": "/var/lib/postgresql/data"}],
            "readinessProbe": _exec_probe("pg_isready", "-U", "postgres"),
        },
        volumes=[{"name": "db-data", "emptyDir": {}}],
    )
    services = [
        _service("vote", namespace, VOTE_SERVICE_PORT, WEB_PORT, "vote-service"),
        _service("result", namespace, RESULT_SERVICE_PORT, WEB_PORT, "result-service"),
        _service("redis", namespace, REDIS_PORT, REDIS_PORT, "redis-service"),
        _service("db", namespace, POSTGRES_PORT, POSTGRES_PORT, "db-service"),
    ]
    return [vote, result, worker, redis, db, *services]


def voting_app_images() -> list[str]:
    """Every image the app runs, for ``kind load docker-image`` before a workshop."""
    return [
        versions.VOTE_IMAGE,
        versions.RESULT_IMAGE,
        versions.WORKER_IMAGE,
        versions.REDIS_IMAGE,
        versions.POSTGRES_IMAGE,
    ]
