"""One GKE cluster: VPC-native, release channel, workload identity, Gateway API, own node pool.

The network-policy flavour comes from the stack's CNI (``docs/design/gke.md`` section 1):

- ``dataplane-v2``: ``datapath_provider=ADVANCED_DATAPATH``. Cilium-based, enforces
  NetworkPolicy, no kube-proxy and no iptables Service chains. GKE's Calico add-on must stay off.
- ``calico``: the legacy datapath (iptables kube-proxy) plus the Calico network-policy add-on,
  which needs BOTH ``network_policy`` (enabled, provider CALICO) and the addon's
  ``network_policy_config.disabled=False``.

The default node pool is removed for a pool of our own (machine type, count, tags for the
firewall rule, GKE metadata server for workload identity). ``deletion_protection`` is off,
since the provider defaults it to on and ``invoke down`` would then fail.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from components.gke_network import GkeClusterNetwork, GkeNetwork
from packetwalk.lab.config import LabConfig
from packetwalk.lab.gke import GkeCluster, context_name, kubeconfig

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
NODE_POOL_NAME = "lab-pool"


def cluster_args(
    cfg: LabConfig,
    cluster: GkeCluster,
    *,
    network: pulumi.Input[str],
    subnetwork: pulumi.Input[str],
) -> gcp.container.ClusterArgs:
    """The ``gcp.container.Cluster`` arguments for one cluster of the stack."""
    assert cfg.gke is not None
    calico = cfg.gke_calico_policy
    return gcp.container.ClusterArgs(
        name=cluster.name,
        project=cfg.gke.project,
        location=cfg.gke.location,
        network=network,
        subnetwork=subnetwork,
        networking_mode="VPC_NATIVE",
        ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
            cluster_secondary_range_name=cluster.pods_range_name,
            services_secondary_range_name=cluster.services_range_name,
        ),
        release_channel=gcp.container.ClusterReleaseChannelArgs(channel=cfg.gke.release_channel),
        workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
            workload_pool=f"{cfg.gke.project}.svc.id.goog"
        ),
        gateway_api_config=gcp.container.ClusterGatewayApiConfigArgs(channel="CHANNEL_STANDARD"),
        addons_config=gcp.container.ClusterAddonsConfigArgs(
            http_load_balancing=gcp.container.ClusterAddonsConfigHttpLoadBalancingArgs(
                disabled=False
            ),
            network_policy_config=gcp.container.ClusterAddonsConfigNetworkPolicyConfigArgs(
                disabled=not calico
            ),
        ),
        datapath_provider=cfg.gke_datapath_provider,
        # Exclusive with Dataplane V2: the API refuses network_policy with ADVANCED_DATAPATH.
        network_policy=(
            gcp.container.ClusterNetworkPolicyArgs(enabled=True, provider="CALICO")
            if calico
            else None
        ),
        remove_default_node_pool=True,
        initial_node_count=1,
        deletion_protection=False,
        resource_labels={"packetwalk-stack": cfg.stack, "packetwalk-cni": cfg.cni},
    )


class GkeClusterResources(pulumi.ComponentResource):
    """Subnet, firewall, static IP, cluster, node pool and kubeconfig of one GKE cluster."""

    kubeconfig: pulumi.Output[str]
    kube_context: str
    address: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        cfg: LabConfig,
        cluster: GkeCluster,
        network: GkeNetwork,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("packetwalk:gke:Cluster", name, None, opts)
        assert cfg.gke is not None
        gke = cfg.gke
        child = pulumi.ResourceOptions(parent=self)
        self.network = GkeClusterNetwork(f"{cluster.name}-net", cfg, cluster, network, opts=child)
        self.cluster = gcp.container.Cluster(
            cluster.name,
            cluster_args(
                cfg, cluster, network=network.network.id, subnetwork=self.network.subnet.id
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m", delete="30m"),
            ),
        )
        self.node_pool = gcp.container.NodePool(
            f"{cluster.name}-pool",
            # Node pool names are per cluster and at most 40 characters (the cluster's may be 40).
            name=NODE_POOL_NAME,
            project=gke.project,
            location=gke.location,
            cluster=self.cluster.name,
            node_count=gke.node_count,  # per zone: a regional cluster gets it in each zone
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=gke.machine_type,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                tags=[cluster.node_tag],
                labels={"packetwalk-cluster": cluster.name},
                workload_metadata_config=(
                    gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA")
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m", delete="30m"),
            ),
        )
        self.kube_context = context_name(gke.project, gke.location, cluster.name)
        context = self.kube_context
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                self.cluster.endpoint,
                self.cluster.master_auth,
            ).apply(
                lambda parts: kubeconfig(
                    context=context,
                    endpoint=parts[0],
                    ca_certificate=parts[1]["cluster_ca_certificate"],
                )
            )
        )
        self.address = self.network.address.address
        self.register_outputs({"endpoint": self.cluster.endpoint})
