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

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.helm import install_chart
from packetwalk.lab.charts import gke_traefik_chart
from packetwalk.lab.config import LabConfig
from packetwalk.lab.gkefront import front_objects


class GkeTraefik(pulumi.ComponentResource):
    """Traefik (ClusterIP, NEG-ready, /ping exposed) and the load balancer in front of it."""

    def __init__(
        self,
        name: str,
        cfg: LabConfig,
        *,
        address_name: str,
        provider: k8s.Provider,
        suffix: str = "",
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("packetwalk:gke:Traefik", name, None, opts)

        self.chart = install_chart(
            gke_traefik_chart(cfg),
            parent=self,
            provider=provider,
            depends_on=depends_on,
            suffix=suffix,
        )
        self.front: list[pulumi.CustomResource] = []
        for obj in front_objects(cfg, address_name):
            self.front.append(
                kube.register(
                    obj,
                    pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[self.chart]),
                    name=kube.resource_name(obj) + suffix,
                )
            )
        self.register_outputs({})
