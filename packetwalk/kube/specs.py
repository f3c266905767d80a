"""Request bodies for the cluster, built as plain data so tests can compare them without a cluster.

The real access layer only sends what these functions return (lightkube's sans-I/O lesson). What
goes into them for captures and probes (container names, the idle netshoot spec, the debug pod's
name) is decided once, in the capture toolkit :mod:`packetwalk.kube.captures`; these functions
only put it in the API's shape.
"""

from __future__ import annotations

from typing import Any

from packetwalk.kube.access import DEBUG_CONTAINER, IDLE_COMMAND, EphemeralContainer


def ephemeral_container_body(spec: EphemeralContainer) -> dict[str, Any]:
    """One ``spec.ephemeralContainers`` entry, as ``kubectl debug --profile=netadmin`` adds it,
    plus, by default, the container-level root user that a non-root pod (Traefik) needs."""
    security: dict[str, Any] = {"capabilities": {"add": list(spec.capabilities)}}
    if spec.run_as_root:
        # Overrides the pod's runAsNonRoot/runAsUser: capabilities only take effect for root.
        security = {"runAsUser": 0, "runAsNonRoot": False, **security}
    body: dict[str, Any] = {
        "name": spec.name,
        "image": spec.image,
        "command": list(spec.command),
        "stdin": False,
        "tty": False,
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
        "securityContext": security,
    }
    if spec.target_container:
        body["targetContainerName"] = spec.target_container
    return body


def ephemeral_patch(spec: EphemeralContainer) -> dict[str, Any]:
    """The strategic-merge patch for the ``ephemeralcontainers`` subresource.

    Strategic merge merges ``ephemeralContainers`` by name, so this appends one container and
    leaves the existing ones alone.
    """
    return {"spec": {"ephemeralContainers": [ephemeral_container_body(spec)]}}


def node_debug_pod_manifest(node: str, *, name: str, image: str, namespace: str) -> dict[str, Any]:
    """A privileged host-network pod pinned to ``node`` (``kubectl debug node/...`` made durable).

    ``nodeName`` bypasses the scheduler, and tolerating everything lets it land on a tainted
    control-plane node, where the interesting kube-proxy and CNI state lives too.
    """
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "packetwalk",
                "app.kubernetes.io/component": "node-debug",
            },
        },
        "spec": {
            "nodeName": node,
            "hostNetwork": True,
            "hostPID": True,
            "dnsPolicy": "ClusterFirstWithHostNet",
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": DEBUG_CONTAINER,
                    "image": image,
                    "command": list(IDLE_COMMAND),
                    "imagePullPolicy": "IfNotPresent",
                    "securityContext": {"privileged": True},
                }
            ],
        },
    }
