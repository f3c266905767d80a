"""MetalLB in L2 mode with the lab's address pool."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.gates import KubectlAccess, kubectl_gate, webhook_ready_script
from components.helm import install_chart
from packetwalk.lab.addresspool import metallb_objects
from packetwalk.lab.charts import metallb_chart


class MetalLb(pulumi.ComponentResource):
    """The MetalLB chart, a gate until its webhook serves, then an IPAddressPool over
    ``address_range`` and its L2Advertisement.

    The controller reports Ready on a plain ping, but its validating webhook (failurePolicy
    Fail) serves only after the controller has rotated its certificate, so a pool created right
    after the chart can meet "failed calling webhook ipaddresspoolvalidationwebhook.metallb.io".
    The gate retries a server-side dry run of the very pool and advertisement (admission runs,
    nothing is stored) with a bounded back-off, and the real objects wait for it.
    """

    def __init__(
        self,
        name: str,
        address_range: pulumi.Input[str],
        *,
        provider: k8s.Provider,
        access: KubectlAccess,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("packetwalk:lab:MetalLb", name, None, opts)
        spec = metallb_chart()
        self.chart = install_chart(spec, parent=self, provider=provider, depends_on=depends_on)
        manifests = pulumi.Output.from_input(address_range).apply(
            lambda text: json.dumps(
                {"apiVersion": "v1", "kind": "List", "items": metallb_objects(text)}
            )
        )
        self.webhook_ready = kubectl_gate(
            "webhook-ready",
            webhook_ready_script(),
            access,
            parent=self,
            triggers=[spec.version, address_range],
            timeout="5m",
            depends_on=[self.chart],
            environment={"PACKETWALK_MANIFEST": manifests},
        )
        self.objects = [
            kube.register(
                obj,
                pulumi.ResourceOptions(
                    parent=self, provider=provider, depends_on=[self.webhook_ready]
                ),
            )
            for obj in metallb_objects(address_range)
        ]
        self.address_range = pulumi.Output.from_input(address_range)
        self.register_outputs({"addressRange": self.address_range})
