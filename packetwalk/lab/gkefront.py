"""The objects that put Google's load balancer in front of Traefik on GKE (pure manifests).

``gateway`` mode: a Gateway of class ``gke-l7-global-external-managed`` on the reserved address,
an HTTPRoute to Traefik and a HealthCheckPolicy on Traefik's ``/ping``. ``ingress`` mode: a GKE
Ingress selected by the ``kubernetes.io/ingress.class: gce`` annotation and a BackendConfig with
the same health check. ``components/gclb.py`` registers them; ``invoke render`` prints them.
"""

from __future__ import annotations

from typing import Any

from packetwalk.lab.charts import TRAEFIK_NAMESPACE
from packetwalk.lab.config import LabConfig
from packetwalk.lab.gke import (
    GATEWAY_CLASS,
    INGRESS_CLASS_ANNOTATION,
    PING_PATH,
    STATIC_IP_ANNOTATION,
    TRAEFIK_PING_PORT,
    TRAEFIK_SERVICE_PORT,
)

TRAEFIK_SERVICE = "traefik"
"""The chart's Service name for release ``traefik`` in namespace ``traefik``."""

HEALTH_CHECK_TIMING = {
    "checkIntervalSec": 5,
    "timeoutSec": 5,
    "healthyThreshold": 1,
    "unhealthyThreshold": 3,
}


def _meta(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": TRAEFIK_NAMESPACE,
        "labels": {"app.kubernetes.io/managed-by": "packetwalk"},
    }


def gateway_objects(address_name: str) -> list[dict[str, Any]]:
    """Gateway + HTTPRoute + HealthCheckPolicy for Traefik (Gateway API front)."""
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": _meta("traefik"),
        "spec": {
            "gatewayClassName": GATEWAY_CLASS,
            "addresses": [{"type": "NamedAddress", "value": address_name}],
            "listeners": [
                {
                    "name": "http",
                    "protocol": "HTTP",
                    "port": 80,
                    "allowedRoutes": {"namespaces": {"from": "Same"}},
                }
            ],
        },
    }
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": _meta("traefik"),
        "spec": {
            "parentRefs": [{"kind": "Gateway", "name": "traefik"}],
            "rules": [{"backendRefs": [{"name": TRAEFIK_SERVICE, "port": TRAEFIK_SERVICE_PORT}]}],
        },
    }
    policy = {
        "apiVersion": "networking.gke.io/v1",
        "kind": "HealthCheckPolicy",
        "metadata": _meta("traefik"),
        "spec": {
            "default": {
                **HEALTH_CHECK_TIMING,
                "config": {
                    "type": "HTTP",
                    "httpHealthCheck": {
                        "portSpecification": "USE_FIXED_PORT",
                        "port": TRAEFIK_PING_PORT,
                        "requestPath": PING_PATH,
                    },
                },
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
        "metadata": {
            **_meta("traefik"),
            "annotations": {
                INGRESS_CLASS_ANNOTATION: "gce",
                STATIC_IP_ANNOTATION: address_name,
            },
        },
        "spec": {
            "defaultBackend": {
                "service": {"name": TRAEFIK_SERVICE, "port": {"number": TRAEFIK_SERVICE_PORT}}
            }
        },
    }
    backend_config = {
        "apiVersion": "cloud.google.com/v1",
        "kind": "BackendConfig",
        "metadata": _meta("traefik"),
        "spec": {
            "healthCheck": {
                **HEALTH_CHECK_TIMING,
                "type": "HTTP",
                "requestPath": PING_PATH,
                "port": TRAEFIK_PING_PORT,
            }
        },
    }
    return [ingress, backend_config]


def front_objects(cfg: LabConfig, address_name: str) -> list[dict[str, Any]]:
    assert cfg.gke is not None
    if cfg.gke.ingress_mode == "gateway":
        return gateway_objects(address_name)
    return ingress_objects(address_name)
