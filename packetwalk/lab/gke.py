"""The GKE lab's plan as plain data: names, address ranges, ports and the kubeconfig.

The Pulumi components (``components/gke_*.py``, ``components/gclb.py``) turn this into
resources; keeping it pure lets the tests and ``invoke status`` read the same names without
Pulumi. Facts behind the choices are in ``docs/design/gke.md`` and
``docs/design/ingress-and-gclb.md``.

Address plan (one VPC per stack, one subnet per cluster; VPC-native ranges must not overlap
anywhere in the VPC, so every cluster of a per-participant stack gets ranges of its own):

| range | one cluster | cluster i of a per-participant stack |
|---|---|---|
| nodes (subnet primary) | ``10.0.0.0/24`` | ``10.0.<i-1>.0/24`` |
| pods (secondary) | ``packetwalk:podSubnet`` | ``10.64.0.0/10`` split into /17s, the i-th |
| services (secondary) | ``packetwalk:serviceSubnet`` | ``10.32.0.0/14`` split into /22s, the i-th |

A /17 holds 128 node /24s (GKE gives each node a /24 at its default of 110 pods per node).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Final

import yaml

from packetwalk.lab.config import LabConfig
from packetwalk.lab.participants import Participant, cluster_names, participants_in

HEALTH_CHECK_RANGES: Final = ("130.211.0.0/22", "35.191.0.0/16")
"""Where Google's health checks and GFE proxies connect from (docs/design/ingress-and-gclb.md
section 2)."""

TRAEFIK_WEB_PORT: Final = 8000
"""Traefik's ``web`` entrypoint: the port the load balancer sends requests to (NEG endpoints)."""
TRAEFIK_PING_PORT: Final = 8080
"""Traefik's ``traefik`` entrypoint, where ``/ping`` lives; the health checks go here."""
TRAEFIK_SERVICE_PORT: Final = 80
PING_PATH: Final = "/ping"

GATEWAY_CLASS: Final = "gke-l7-global-external-managed"
NEG_ANNOTATION: Final = "cloud.google.com/neg"
BACKEND_CONFIG_ANNOTATION: Final = "cloud.google.com/backend-config"
INGRESS_CLASS_ANNOTATION: Final = "kubernetes.io/ingress.class"
STATIC_IP_ANNOTATION: Final = "kubernetes.io/ingress.global-static-ip-name"

AUTH_PLUGIN: Final = "gke-gcloud-auth-plugin"
AUTH_PLUGIN_HINT: Final = (
    "gke-gcloud-auth-plugin is needed to reach GKE clusters: "
    "gcloud components install gke-gcloud-auth-plugin "
    "(or apt-get install google-cloud-cli-gke-gcloud-auth-plugin)"
)
NODE_NETWORK: Final = ipaddress.ip_network("10.0.0.0/16")
SHARED_POD_BLOCK: Final = ipaddress.ip_network("10.64.0.0/10")
SHARED_SERVICE_BLOCK: Final = ipaddress.ip_network("10.32.0.0/14")
NIP_IO: Final = "nip.io"


@dataclass(frozen=True)
class GkeCluster:
    """One GKE cluster of the stack and everything named after it."""

    name: str
    index: int
    """0-based position in the stack."""
    subnet: str
    node_range: str
    pods_range_name: str
    pods_range: str
    services_range_name: str
    services_range: str
    address_name: str
    """The reserved global IP the load balancer uses (referenced by name)."""
    node_tag: str
    """Network tag on the nodes; the health-check firewall rule targets it."""
    participants: tuple[Participant, ...]


def network_name(cfg: LabConfig) -> str:
    return f"{cfg.cluster_name}-vpc"


def firewall_name(cluster: GkeCluster) -> str:
    return f"{cluster.name}-allow-health-checks"


def clusters(cfg: LabConfig) -> list[GkeCluster]:
    """Every cluster of a GKE stack with its subnet, ranges, address and participants."""
    if cfg.gke is None:
        raise ValueError(f"stack {cfg.stack!r} is not a GKE stack")
    names = cluster_names(cfg)
    single = len(names) == 1
    pod_ranges = list(SHARED_POD_BLOCK.subnets(new_prefix=17))
    service_ranges = list(SHARED_SERVICE_BLOCK.subnets(new_prefix=22))
    node_ranges = list(NODE_NETWORK.subnets(new_prefix=24))
    result = []
    for index, name in enumerate(names):
        result.append(
            GkeCluster(
                name=name,
                index=index,
                subnet=f"{name}-nodes",
                node_range=str(node_ranges[index]),
                pods_range_name=f"{name}-pods",
                pods_range=cfg.pod_subnet if single else str(pod_ranges[index]),
                services_range_name=f"{name}-services",
                services_range=cfg.service_subnet if single else str(service_ranges[index]),
                address_name=f"{name}-ingress",
                node_tag=f"{name}-node",
                participants=tuple(participants_in(cfg, name)),
            )
        )
    return result


def context_name(project: str, location: str, cluster: str) -> str:
    """The kubeconfig context ``gcloud container clusters get-credentials`` would write."""
    return f"gke_{project}_{location}_{cluster}"


def kubeconfig(*, context: str, endpoint: str, ca_certificate: str) -> str:
    """A kubeconfig that authenticates through ``gke-gcloud-auth-plugin``.

    No token or key is written: the plugin asks gcloud / Application Default Credentials for a
    short-lived token each time, so the Pulumi state holds nothing that grants access.
    (The old ``auth-provider: gcp`` stanza was removed from kubectl.)
    """
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {
                    "server": f"https://{endpoint}",
                    "certificate-authority-data": ca_certificate,
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
        "preferences": {},
        "users": [
            {
                "name": context,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": AUTH_PLUGIN,
                        "installHint": AUTH_PLUGIN_HINT,
                        "provideClusterInfo": True,
                        "interactiveMode": "IfAvailable",
                    }
                },
            }
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


def nip_domain(address: str) -> str:
    """``34.1.2.3`` -> ``34.1.2.3.nip.io``: a public DNS name for every host under it."""
    ipaddress.ip_address(address)  # a ValueError for anything else
    return f"{address}.{NIP_IO}"


def ingress_host(prefix: str, address: str, domain: str | None) -> str:
    """A web app's host: under the user's domain (a wildcard record points at the ingress
    address), else under the address's nip.io name."""
    return f"{prefix}.{domain}" if domain is not None else f"{prefix}.{nip_domain(address)}"


def traefik_front_values(cfg: LabConfig) -> dict[str, Any]:
    """Traefik's ``service`` and ``ports`` values on GKE: a ClusterIP Service behind the Google
    load balancer (the values every stack shares are in :func:`packetwalk.lab.charts`).

    - ``ClusterIP``: the load balancer reaches Traefik's pods directly through NEGs
      (container-native load balancing); no NodePort, no kube-proxy hop on the way in.
    - The ``traefik`` entrypoint (8080, ``/ping``) is exposed in the Service, so the health check
      of the load balancer has a declared port to go to; GKE would otherwise infer ``GET /`` on
      8000, get Traefik's 404 and keep the backend UNHEALTHY (traefik-helm-chart #339).
    - Ingress mode also annotates the Service for NEGs and its BackendConfig; the Gateway
      controller makes its NEGs without an annotation.
    """
    assert cfg.gke is not None
    annotations: dict[str, str] = {}
    if cfg.gke.ingress_mode == "ingress":
        annotations[NEG_ANNOTATION] = '{"ingress": true}'
        annotations[BACKEND_CONFIG_ANNOTATION] = '{"default": "traefik"}'
    # service.spec, not service.type: see charts.traefik_chart (Traefik chart 40.0.0 and later).
    service: dict[str, Any] = {"spec": {"type": "ClusterIP"}}
    if annotations:
        service["annotations"] = annotations
    return {"ports": {"traefik": {"expose": {"default": True}}}, "service": service}
