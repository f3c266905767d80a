"""MetalLB in L2 mode with the lab's address pool."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.charts import metallb_chart
from components.helm import install_chart
from packetwalk.addresspool import metallb_objects


class MetalLb(pulumi.ComponentResource):
    """The MetalLB chart, then an IPAddressPool over ``address_range`` and its L2Advertisement.

    The pool waits for the chart: MetalLB's validating webhook rejects (connection refused) pools
    created before its controller is ready.
    """

    def __init__(self, name: str, address_range: pulumi.Input[str], *,
                 provider: k8s.Provider, depends_on: Sequence[pulumi.Resource] = (),
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("packetwalk:lab:MetalLb", name, None, opts)
        self.chart = install_chart(metallb_chart(), parent=self, provider=provider,
                                   depends_on=depends_on)
        self.objects = [
            kube.register(obj, pulumi.ResourceOptions(parent=self, provider=provider,
                                                      depends_on=[self.chart]))
            for obj in metallb_objects(address_range)
        ]
        self.address_range = pulumi.Output.from_input(address_range)
        self.register_outputs({"addressRange": self.address_range})
