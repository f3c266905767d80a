"""Install one :class:`packetwalk.lab.charts.ChartSpec` as a ``helm.v4.Chart`` (plus its namespace).

``helm.v4.Chart`` renders with Helm as a library inside the provider (no ``helm`` binary) and
registers each object as a Pulumi resource, so ``pulumi preview`` lists them and the provider's
await logic waits for Deployments and DaemonSets to become ready before dependents start. It
previews fine here because the lab stack's kubeconfig comes from another stack (pulumi-kubernetes
#3027 only bites when the cluster is made in the same program). It does not create namespaces,
so each chart's namespace is a resource of its own, with the Pod Security labels the chart needs.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.helm import v4 as helm

from components import kube
from packetwalk.lab.charts import ChartSpec, namespace_object


def install_chart(
    spec: ChartSpec,
    *,
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource] = (),
    suffix: str = "",
) -> helm.Chart:
    """Namespace (unless the chart uses an existing one), then the chart; returns the chart.

    ``suffix`` goes on both resource names (one stack, several clusters).
    """
    after = list(depends_on)
    if spec.create_namespace:
        manifest = namespace_object(spec.namespace, spec.namespace_labels)
        namespace = kube.register(
            manifest,
            pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=after),
            name=kube.resource_name(manifest) + suffix,
        )
        after = [*after, namespace]
    return helm.Chart(
        spec.release + suffix,
        chart=spec.chart,
        version=spec.version,
        repository_opts=helm.RepositoryOptsArgs(repo=spec.repo),
        namespace=spec.namespace,
        name=spec.release,
        values=spec.values,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=after),
    )
