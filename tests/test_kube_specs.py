"""Request bodies for the cluster: checked against the API schema of the lab's Kubernetes version.

An ephemeral container cannot be validated on its own (the subresource takes a Pod), so each body
is placed in a Pod, as the API server sees the pod after the strategic-merge patch.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from kubernetes.client import V1EphemeralContainer, V1SecurityContext

from packetwalk.kube import specs
from packetwalk.kube.access import IDLE_COMMAND, EphemeralContainer
from packetwalk.lab import versions

CAPTURE = EphemeralContainer(
    "pw-cap-traefik", "nicolaka/netshoot:v0.16", IDLE_COMMAND, target_container="traefik"
)


def traefik_pod_with(ephemeral: dict[str, Any]) -> dict[str, Any]:
    """Traefik's pod as the chart makes it (non-root 65532) after the ephemeral patch."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "traefik-1", "namespace": "traefik"},
        "spec": {
            "securityContext": {"runAsUser": 65532, "runAsGroup": 65532, "runAsNonRoot": True},
            "containers": [
                {
                    "name": "traefik",
                    "image": "docker.io/traefik:v3.7.11",
                    "securityContext": {
                        "readOnlyRootFilesystem": True,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
            "ephemeralContainers": [ephemeral],
        },
    }


def test_capture_container_runs_as_root_with_net_admin_and_net_raw() -> None:
    body = specs.ephemeral_container_body(CAPTURE)
    assert body["securityContext"] == {
        "runAsUser": 0,
        "runAsNonRoot": False,
        "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]},
    }
    assert body["targetContainerName"] == "traefik"
    assert specs.ephemeral_patch(CAPTURE) == {"spec": {"ephemeralContainers": [body]}}


def test_run_as_root_can_be_turned_off() -> None:
    body = specs.ephemeral_container_body(
        EphemeralContainer("pw-probe", "img", IDLE_COMMAND, run_as_root=False)
    )
    assert body["securityContext"] == {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}}
    assert "targetContainerName" not in body


def test_body_field_names_are_the_clients() -> None:
    """Every key is a wire name of V1EphemeralContainer / V1SecurityContext (a typo would be
    dropped silently by a strategic-merge patch, leaving the pod's runAsNonRoot in force)."""
    body = specs.ephemeral_container_body(CAPTURE)
    assert set(body) <= set(V1EphemeralContainer.attribute_map.values())
    assert set(body["securityContext"]) <= set(V1SecurityContext.attribute_map.values())


@pytest.mark.parametrize("run_as_root", [True, False])
def test_patched_pod_is_valid_for_the_lab_kubernetes_version(run_as_root: bool) -> None:
    spec = EphemeralContainer(
        CAPTURE.name,
        CAPTURE.image,
        CAPTURE.command,
        CAPTURE.target_container,
        run_as_root=run_as_root,
    )
    pod = traefik_pod_with(specs.ephemeral_container_body(spec))
    kubernetes_validate.validate(pod, versions.KUBERNETES_VERSION, strict=True)


def test_a_misspelt_security_field_is_caught_by_the_validation() -> None:
    body = specs.ephemeral_container_body(CAPTURE)
    body["securityContext"]["runAsNonroot"] = False
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            traefik_pod_with(body), versions.KUBERNETES_VERSION, strict=True
        )


def test_node_debug_pod_manifest_is_valid() -> None:
    manifest = specs.node_debug_pod_manifest(
        "lab-worker", name="pw-node-lab-worker", image="img", namespace="default"
    )
    kubernetes_validate.validate(manifest, versions.KUBERNETES_VERSION, strict=True)
