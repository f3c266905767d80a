"""The stack's CNI inside the cluster (kindnet needs nothing: kind runs it itself)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.gates import KubectlAccess, kubectl_gate, nodes_ready_script
from components.helm import install_chart
from packetwalk.lab.charts import calico_operator_resources, cni_chart
from packetwalk.lab.config import LabConfig

OPERATOR_CLEANUP_TIMEOUT = "10m"
"""How long deleting the Installation may take: the operator removes calico-node and the rest
before it drops the finalizer."""


class Cni(pulumi.ComponentResource):
    """Flannel, Calico (tigera-operator) or Cilium from their charts; empty for kindnet; then a
    gate that waits for every node to be Ready.

    Everything that needs pod networking depends on this component. The charts alone are not
    enough: the tigera operator, for one, creates calico-node only after its own Deployment is
    ready, so the chart is "done" long before pods can get addresses.

    Calico's operator resources (the Installation first) depend on the chart, so ``invoke down``
    deletes them before the operator and waits until each is gone: the operator tears Calico
    down while it still runs. The chart's own pre-delete hook did that for ``helm uninstall``;
    helm.v4.Chart drops hooks.
    """

    def __init__(
        self,
        name: str,
        cfg: LabConfig,
        *,
        provider: k8s.Provider,
        access: KubectlAccess,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("packetwalk:lab:Cni", name, None, opts)
        self.cni = cfg.cni
        spec = cni_chart(cfg)
        self.chart = None if spec is None else install_chart(spec, parent=self, provider=provider)
        self.operator_resources: list[pulumi.CustomResource] = []
        if cfg.cni == "calico":
            # The Installation first; the others need it, so they are deleted before it.
            after: list[pulumi.Resource] = [self.chart] if self.chart else []
            for obj in calico_operator_resources(cfg):
                resource = kube.register(
                    obj,
                    pulumi.ResourceOptions(
                        parent=self,
                        provider=provider,
                        depends_on=after,
                        custom_timeouts=pulumi.CustomTimeouts(delete=OPERATOR_CLEANUP_TIMEOUT),
                    ),
                )
                if not self.operator_resources:
                    after = [*after, resource]
                self.operator_resources.append(resource)
        before: list[pulumi.Resource] = [
            *([self.chart] if self.chart else []),
            *self.operator_resources,
        ]
        self.nodes_ready = kubectl_gate(
            "nodes-ready",
            nodes_ready_script(),
            access,
            parent=self,
            triggers=[cfg.cni, spec.version if spec else "kind"],
            timeout="6m",
            depends_on=before,
        )
        self.register_outputs({"cni": cfg.cni})
