"""The GKE halves of the two programs: ``packetwalk-cluster`` and ``packetwalk-lab`` on GKE.

Cluster program (:func:`run_cluster`): the VPC, then per cluster a subnet with pod and Service
ranges, the health-check firewall rule, a global static IP, the cluster and its node pool. It
exports the interface outputs of the first cluster, plus per-cluster maps (``kubeconfigs``
secret, ``ingressAddresses``, ``ingressAddressNames``) for stacks with one cluster per
participant.

Lab program (:func:`run_lab`): per cluster a Kubernetes provider on that cluster's kubeconfig,
Traefik with the load balancer in front (components/gclb.py), and the participants' labs (the
same voting app and intents policies as on kind; hosts on ``nip.io`` of the static IP).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.gclb import GkeTraefik
from components.gke_cluster import GkeClusterResources
from components.gke_network import GkeNetwork
from components.manifests import register_objects
from packetwalk.errors import PacketwalkError
from packetwalk.lab.config import LabConfig
from packetwalk.lab.gke import GkeCluster, clusters, ingress_host
from packetwalk.lab.objects import lab_objects
from packetwalk.lab.participants import Participant


def _suffix(cfg: LabConfig, cluster: GkeCluster) -> str:
    """Resource-name suffix: none for a one-cluster stack, ``-<cluster>`` otherwise.

    Pulumi URNs hold the parent's type, not its name, so two clusters' ``namespace-vote``
    would collide without it.
    """
    return "" if len(clusters(cfg)) == 1 else f"-{cluster.name}"


# --- cluster program -------------------------------------------------------------------------


def run_cluster(cfg: LabConfig) -> None:
    plans = clusters(cfg)
    network = GkeNetwork("network", cfg)
    made = [GkeClusterResources(plan.name, cfg, plan, network) for plan in plans]
    first = made[0]
    pulumi.export("kubeconfig", first.kubeconfig)
    pulumi.export("kubeContext", first.kube_context)
    pulumi.export("clusterName", plans[0].name)
    pulumi.export("platform", cfg.platform)
    pulumi.export("cni", cfg.cni)
    pulumi.export("kubeProxyMode", cfg.kube_proxy_mode)
    pulumi.export("nodes", [])  # GKE names its nodes; `invoke status` asks the cluster
    pulumi.export("lbAddressRange", "")  # no MetalLB: the Google load balancer fronts Traefik
    pulumi.export("ingressAddress", first.address)
    pulumi.export("ingressAddressName", plans[0].address_name)
    pulumi.export("network", network.network.name)
    pulumi.export("clusters", [plan.name for plan in plans])
    pulumi.export(
        "kubeconfigs",
        pulumi.Output.secret(
            pulumi.Output.all(*[c.kubeconfig for c in made]).apply(
                lambda configs: dict(zip([p.name for p in plans], configs, strict=True))
            )
        ),
    )
    pulumi.export(
        "kubeContexts", {plan.name: c.kube_context for plan, c in zip(plans, made, strict=True)}
    )
    pulumi.export(
        "ingressAddresses",
        pulumi.Output.all(*[c.address for c in made]).apply(
            lambda addresses: dict(zip([p.name for p in plans], addresses, strict=True))
        ),
    )
    pulumi.export("ingressAddressNames", {plan.name: plan.address_name for plan in plans})


# --- lab program -------------------------------------------------------------------------------


class ClusterLabObjects(pulumi.ComponentResource):
    """The participants' objects of one cluster, namespaces and policies before any pod."""

    def __init__(
        self,
        name: str,
        objects: Sequence[dict[str, Any]],
        *,
        suffix: str,
        provider: k8s.Provider,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("packetwalk:gke:LabObjects", name, None, opts)
        register_objects(self, objects, provider=provider, depends_on=depends_on, suffix=suffix)
        self.register_outputs({})


def _participant_summary(
    participant: Participant, host: Callable[[str], pulumi.Input[str]], address: pulumi.Output[Any]
) -> pulumi.Output[Any]:
    """What ``invoke status`` lists per participant: namespace, cluster, URLs."""
    prefixes = participant.host_prefixes()

    def entry(parts: list[Any]) -> dict[str, Any]:
        return {
            "name": participant.name,
            "namespace": participant.namespace,
            "cluster": participant.cluster,
            "voteUrl": f"http://{parts[0]}",
            "resultUrl": f"http://{parts[1]}",
            "ingressAddress": parts[2],
        }

    return pulumi.Output.all(host(prefixes["vote"]), host(prefixes["result"]), address).apply(entry)


def pick_cluster(values: dict[str, Any], key: str) -> Any:
    """One cluster's entry of a cluster-stack map output, or an error saying what to do."""
    if key not in values:
        raise pulumi.RunError(
            f"the cluster stack has no cluster {key!r} (it has: {', '.join(values)}); "
            "the participants settings changed since its last up: run `invoke up` again"
        )
    return values[key]


def _pick(mapping: pulumi.Output[Any], key: str) -> pulumi.Output[Any]:
    return mapping.apply(lambda values: pick_cluster(values, key))


def run_lab(cfg: LabConfig, cluster_stack: str) -> None:
    """The in-cluster stack on GKE; ``cluster_stack`` is the cluster stack's full name."""
    plans = clusters(cfg)
    try:  # intents parsed and policies built for every cluster before any resource
        for plan in plans:
            lab_objects(cfg, cluster=plan.name)
    except PacketwalkError as err:
        raise pulumi.RunError(str(err)) from err
    ref = pulumi.StackReference(cluster_stack)
    kubeconfigs = ref.require_output("kubeconfigs")
    addresses = ref.require_output("ingressAddresses")
    summary: list[pulumi.Output[Any]] = []
    assert cfg.gke is not None
    domain = cfg.gke.domain
    for plan in plans:
        suffix = _suffix(cfg, plan)
        address = _pick(addresses, plan.name)

        def host(prefix: str, address: pulumi.Output[Any] = address) -> pulumi.Input[str]:
            return pulumi.Output.from_input(address).apply(
                lambda value: ingress_host(prefix, str(value), domain)
            )

        provider = k8s.Provider(
            f"k8s{suffix}",
            kubeconfig=pulumi.Output.secret(_pick(kubeconfigs, plan.name)),
            delete_unreachable=True,
            # Our own cluster: objects left by an interrupted up are adopted, not refused.
            upsert_existing_objects=True,
        )
        traefik = GkeTraefik(
            f"traefik{suffix}",
            cfg,
            address_name=plan.address_name,
            provider=provider,
            suffix=suffix,
        )
        objects = lab_objects(cfg, cluster=plan.name, host=host)
        ClusterLabObjects(
            f"app{suffix}", objects, suffix=suffix, provider=provider, depends_on=[traefik]
        )
        for participant in plan.participants:
            summary.append(_participant_summary(participant, host, address))
    everyone = pulumi.Output.all(*summary)
    pulumi.export("voteUrl", everyone.apply(lambda ps: ps[0]["voteUrl"]))
    pulumi.export("resultUrl", everyone.apply(lambda ps: ps[0]["resultUrl"]))
    pulumi.export("ingressAddress", _pick(addresses, plans[0].name))
    pulumi.export("appNamespace", plans[0].participants[0].namespace)
    pulumi.export("participants", everyone)
