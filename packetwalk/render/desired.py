"""Every object a stack's lab program creates, in apply order, charts rendered with real Helm.

The same builders the Pulumi components call (:mod:`packetwalk.lab.charts`,
:func:`packetwalk.lab.addresspool.metallb_objects`, :func:`packetwalk.lab.objects.lab_objects`,
:mod:`packetwalk.lab.gkefront`) give the specs and packetwalk's own objects, so what is rendered
here
is what ``invoke up`` registers; each chart is rendered by :func:`render_chart`.

Apply order is the components' order (kind: cni, metallb, traefik, app; GKE: per cluster traefik
with its load balancer front, then app), and inside a component: its namespace, the chart's CRDs,
the chart's objects in Helm's install order, then the component's own objects (the app's in
:func:`packetwalk.lab.objects.sort_objects` order, as the components register them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from packetwalk.lab.addresspool import first_address, metallb_objects
from packetwalk.lab.charts import (
    ChartSpec,
    calico_operator_resources,
    cni_chart,
    gke_traefik_chart,
    metallb_chart,
    namespace_object,
    traefik_chart,
)
from packetwalk.lab.config import LabConfig
from packetwalk.lab.gke import clusters, ingress_host
from packetwalk.lab.gkefront import front_objects
from packetwalk.lab.objects import lab_objects
from packetwalk.render.helmrender import RenderedChart, render_chart

ChartLocator = Callable[[ChartSpec], Path]
"""Where the package of a chart spec is (see :mod:`packetwalk.render.chartcache`)."""


class ChartRenderer(Protocol):
    def __call__(
        self, package: Path, *, release: str, namespace: str, values: Mapping[str, Any]
    ) -> RenderedChart: ...


@dataclass(frozen=True)
class ComponentState:
    """One component's objects in apply order, and the chart hooks helm.v4.Chart drops."""

    name: str
    objects: list[dict[str, Any]]
    chart: ChartSpec | None = None
    hooks: list[dict[str, Any]] = field(default_factory=list)
    rendered: RenderedChart | None = None


@dataclass(frozen=True)
class ClusterAddresses:
    """What only exists once the cluster does; ``invoke render`` says where each came from."""

    lb_address_range: str = "172.18.255.200-172.18.255.250"
    """kind: the MetalLB range carved from Docker's ``kind`` network (172.18.0.0/16 is the
    network Docker gives it on a machine with no other networks)."""
    ingress_address: str = "203.0.113.10"
    """GKE: the reserved global address (RFC 5737 documentation address until it exists)."""


def _component(
    name: str,
    spec: ChartSpec | None,
    locate: ChartLocator,
    render: ChartRenderer,
    own: list[dict[str, Any]],
) -> ComponentState:
    if spec is None:
        return ComponentState(name, list(own))
    rendered = render(
        locate(spec), release=spec.release, namespace=spec.namespace, values=spec.values
    )
    namespace = (
        [namespace_object(spec.namespace, spec.namespace_labels)] if spec.create_namespace else []
    )
    return ComponentState(
        name,
        [*namespace, *rendered.registered, *own],
        chart=spec,
        hooks=list(rendered.hooks),
        rendered=rendered,
    )


def desired_state(
    cfg: LabConfig,
    locate: ChartLocator,
    facts: ClusterAddresses = ClusterAddresses(),
    render: ChartRenderer = render_chart,
) -> list[ComponentState]:
    """The stack's components with every object they create, in apply order."""
    if cfg.platform == "gke":
        return _gke_state(cfg, locate, render, facts)
    cni_objects = calico_operator_resources(cfg) if cfg.cni == "calico" else []
    return [
        _component("cni", cni_chart(cfg), locate, render, cni_objects),
        _component(
            "metallb", metallb_chart(), locate, render, metallb_objects(facts.lb_address_range)
        ),
        _component(
            "traefik", traefik_chart(first_address(facts.lb_address_range)), locate, render, []
        ),
        ComponentState("app", lab_objects(cfg)),
    ]


def _gke_state(
    cfg: LabConfig, locate: ChartLocator, render: ChartRenderer, facts: ClusterAddresses
) -> list[ComponentState]:
    assert cfg.gke is not None
    domain = cfg.gke.domain
    plans = clusters(cfg)
    components: list[ComponentState] = []
    for plan in plans:
        suffix = "" if len(plans) == 1 else f"-{plan.name}"

        def host(prefix: str) -> str:
            return ingress_host(prefix, facts.ingress_address, domain)

        components.append(
            _component(
                f"traefik{suffix}",
                gke_traefik_chart(cfg),
                locate,
                render,
                front_objects(cfg, plan.address_name),
            )
        )
        components.append(
            ComponentState(f"app{suffix}", lab_objects(cfg, cluster=plan.name, host=host))
        )
    return components
