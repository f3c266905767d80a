"""The stack's CNI inside the cluster (kindnet needs nothing: kind runs it itself)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
from pulumi_command import local

from components.charts import cni_chart
from components.helm import install_chart
from packetwalk.config import LabConfig

NODES_READY_TIMEOUT = "300s"


def nodes_ready_script() -> str:
    """Wait until every node is Ready, which a node only becomes once its CNI works.

    The kubeconfig arrives in the environment, as a file path (a cluster made elsewhere) or as
    content (from the cluster stack), which is written to a private temporary file.
    """
    return f"""set -eu
if [ -n "${{PACKETWALK_KUBECONFIG_FILE:-}}" ]; then
  kubeconfig="$PACKETWALK_KUBECONFIG_FILE"
else
  kubeconfig=$(mktemp)
  trap 'rm -f "$kubeconfig"' EXIT
  printf '%s' "$PACKETWALK_KUBECONFIG" > "$kubeconfig"
fi
kubectl --kubeconfig "$kubeconfig" \\
  ${{PACKETWALK_KUBE_CONTEXT:+--context "$PACKETWALK_KUBE_CONTEXT"}} \\
  wait --for=condition=Ready nodes --all --timeout={NODES_READY_TIMEOUT}
"""


class Cni(pulumi.ComponentResource):
    """Flannel, Calico (tigera-operator) or Cilium from their charts; empty for kindnet; then a
    gate that waits for every node to be Ready.

    Everything that needs pod networking depends on this component. The charts alone are not
    enough: the tigera operator, for one, creates calico-node only after its own Deployment is
    ready, so the chart is "done" long before pods can get addresses.
    """

    def __init__(self, name: str, cfg: LabConfig, *, provider: k8s.Provider,
                 kubeconfig: pulumi.Input[str], kubeconfig_is_path: bool,
                 context: pulumi.Input[str] | None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("packetwalk:lab:Cni", name, None, opts)
        self.cni = cfg.cni
        spec = cni_chart(cfg)
        self.chart = None if spec is None else install_chart(spec, parent=self,
                                                             provider=provider)
        environment: dict[str, pulumi.Input[str]] = {
            "PACKETWALK_KUBECONFIG_FILE" if kubeconfig_is_path else "PACKETWALK_KUBECONFIG":
                kubeconfig,
        }
        if context is not None:
            environment["PACKETWALK_KUBE_CONTEXT"] = context
        self.nodes_ready = local.Command(
            "nodes-ready",
            create=nodes_ready_script(),
            environment=environment,
            triggers=[cfg.cni, spec.version if spec else "kind"],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.chart] if self.chart is not None else [],
                additional_secret_outputs=["environment"],
                custom_timeouts=pulumi.CustomTimeouts(create="6m"),
            ),
        )
        self.register_outputs({"cni": cfg.cni})
