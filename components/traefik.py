"""Traefik, the lab's ingress controller."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.helm import install_chart
from packetwalk.lab.charts import traefik_chart


class Traefik(pulumi.ComponentResource):
    """Traefik's chart with a LoadBalancer Service pinned to ``load_balancer_ip`` (from MetalLB).

    On kind the same Service's node ports 30080/30443 are what the host's 127.0.0.1:80/443 map
    to, so ``http://vote.localhost`` works on every OS, and the LB address on Linux hosts.
    """

    def __init__(
        self,
        name: str,
        *,
        load_balancer_ip: pulumi.Input[str] | None,
        provider: k8s.Provider,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("packetwalk:lab:Traefik", name, None, opts)
        self.chart = install_chart(
            traefik_chart(load_balancer_ip), parent=self, provider=provider, depends_on=depends_on
        )
        self.register_outputs({})
