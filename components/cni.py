"""The stack's CNI inside the cluster (kindnet needs nothing: kind runs it itself)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.charts import cni_chart
from components.helm import install_chart
from packetwalk.config import LabConfig


class Cni(pulumi.ComponentResource):
    """Flannel, Calico (tigera-operator) or Cilium from their charts; empty for kindnet.

    Everything that needs pod networking depends on this component, so nothing schedules pods
    before the CNI's agents are ready.
    """

    def __init__(self, name: str, cfg: LabConfig, *, provider: k8s.Provider,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("packetwalk:lab:Cni", name, None, opts)
        self.cni = cfg.cni
        spec = cni_chart(cfg)
        self.chart = None if spec is None else install_chart(spec, parent=self,
                                                             provider=provider)
        self.register_outputs({"cni": cfg.cni})
