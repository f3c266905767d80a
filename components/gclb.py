"""Traefik behind a global external Application Load Balancer on GKE.

Two fronts (``packetwalk:ingressMode``), both with container-native load balancing (NEGs: the
Google Front End connects straight to Traefik's pod IPs) and a health check on Traefik's
``/ping`` (port 8080, the ``traefik`` entrypoint):

- ``gateway`` (default): Gateway API, class ``gke-l7-global-external-managed``, an HTTP
  listener on the reserved global address (``NamedAddress``), an HTTPRoute sending everything
  to Traefik, and a HealthCheckPolicy on Traefik's Service (BackendConfig does not apply to
  Gateways; the policy must sit in the Service's namespace).
- ``ingress``: a GKE Ingress, selected by the ``kubernetes.io/ingress.class: gce`` ANNOTATION
  (``ingressClassName`` cannot select it, and Traefik's default IngressClass would otherwise
  claim it), with the static IP by name and a BackendConfig holding the health check.

Traefik itself then routes by Host to each participant's vote and result Services.

Teardown: the load balancer's forwarding rule, backend service and NEGs belong to GKE's
controllers, not to Pulumi. ``invoke down`` destroys the lab stack first; deleting the Gateway
or Ingress waits for the controller's finalizer (it removes the load balancer), and only then
does the cluster stack delete the cluster, the firewall rule and the static IP, which GCP
refuses to release while a forwarding rule still uses it (ordering unverified on a live project).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.helm import v4 as helm

from components import kube
from components.charts import PRIVILEGED_PSA, TRAEFIK_NAMESPACE, namespace_object
from packetwalk import versions
from packetwalk.config import LabConfig
from packetwalk.gke import (
    GATEWAY_CLASS,
    INGRESS_CLASS_ANNOTATION,
    PING_PATH,
    STATIC_IP_ANNOTATION,
    TRAEFIK_PING_PORT,
    TRAEFIK_SERVICE_PORT,
    traefik_values,
)

TRAEFIK_SERVICE = "traefik"
"""The chart's Service name for release ``traefik`` in namespace ``traefik``."""

HEALTH_CHECK_TIMING = {"checkIntervalSec": 5, "timeoutSec": 5, "healthyThreshold": 1,
                       "unhealthyThreshold": 3}


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": TRAEFIK_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "packetwalk"}}


def gateway_objects(address_name: str) -> list[dict[str, Any]]:
    """Gateway + HTTPRoute + HealthCheckPolicy for Traefik (Gateway API front)."""
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": _meta("traefik"),
        "spec": {
            "gatewayClassName": GATEWAY_CLASS,
            "addresses": [{"type": "NamedAddress", "value": address_name}],
            "listeners": [{"name": "http", "protocol": "HTTP", "port": 80,
                           "allowedRoutes": {"namespaces": {"from": "Same"}}}],
        },
    }
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": _meta("traefik"),
        "spec": {
            "parentRefs": [{"kind": "Gateway", "name": "traefik"}],
            "rules": [{"backendRefs": [{"name": TRAEFIK_SERVICE,
                                        "port": TRAEFIK_SERVICE_PORT}]}],
        },
    }
    policy = {
        "apiVersion": "networking.gke.io/v1",
        "kind": "HealthCheckPolicy",
        "metadata": _meta("traefik"),
        "spec": {
            "default": {
                **HEALTH_CHECK_TIMING,
                "config": {"type": "HTTP", "httpHealthCheck": {
                    "portSpecification": "USE_FIXED_PORT",
                    "port": TRAEFIK_PING_PORT,
                    "requestPath": PING_PATH,
                }},
            },
            "targetRef": {"group": "", "kind": "Service", "name": TRAEFIK_SERVICE},
        },
    }
    return [gateway, route, policy]


def ingress_objects(address_name: str) -> list[dict[str, Any]]:
    """GKE Ingress + BackendConfig for Traefik (Ingress front)."""
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {**_meta("traefik"), "annotations": {
            INGRESS_CLASS_ANNOTATION: "gce",
            STATIC_IP_ANNOTATION: address_name,
        }},
        "spec": {"defaultBackend": {"service": {
            "name": TRAEFIK_SERVICE, "port": {"number": TRAEFIK_SERVICE_PORT}}}},
    }
    backend_config = {
        "apiVersion": "cloud.google.com/v1",
        "kind": "BackendConfig",
        "metadata": _meta("traefik"),
        "spec": {"healthCheck": {
            **HEALTH_CHECK_TIMING,
            "type": "HTTP",
            "requestPath": PING_PATH,
            "port": TRAEFIK_PING_PORT,
        }},
    }
    return [ingress, backend_config]


def front_objects(cfg: LabConfig, address_name: str) -> list[dict[str, Any]]:
    assert cfg.gke is not None
    if cfg.gke.ingress_mode == "gateway":
        return gateway_objects(address_name)
    return ingress_objects(address_name)


class GkeTraefik(pulumi.ComponentResource):
    """Traefik (ClusterIP, NEG-ready, /ping exposed) and the load balancer in front of it."""

    def __init__(self, name: str, cfg: LabConfig, *, address_name: str,
                 provider: k8s.Provider, suffix: str = "",
                 depends_on: Sequence[pulumi.Resource] = (),
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("packetwalk:gke:Traefik", name, None, opts)

        def named(obj: dict[str, Any]) -> str:
            return kube.resource_name(obj) + suffix

        # Root capture containers for the packet walk (see charts.PRIVILEGED_PSA).
        namespace_manifest = namespace_object(TRAEFIK_NAMESPACE, PRIVILEGED_PSA)
        namespace = kube.register(namespace_manifest, pulumi.ResourceOptions(
            parent=self, provider=provider, depends_on=list(depends_on)),
            name=named(namespace_manifest))
        self.chart = helm.Chart(
            f"traefik{suffix}",
            chart="traefik",
            version=versions.TRAEFIK_CHART_VERSION,
            repository_opts=helm.RepositoryOptsArgs(repo=versions.TRAEFIK_CHART_REPO),
            namespace=TRAEFIK_NAMESPACE,
            name="traefik",
            values=traefik_values(cfg),
            opts=pulumi.ResourceOptions(parent=self, provider=provider,
                                        depends_on=[*depends_on, namespace]),
        )
        self.front: list[pulumi.CustomResource] = []
        for obj in front_objects(cfg, address_name):
            self.front.append(kube.register(obj, pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=[self.chart]), name=named(obj)))
        self.register_outputs({})
