"""The GKE lab's network: a VPC, a subnet per cluster, the health-check firewall rule, static IPs.

Our own VPC (no auto subnets) keeps the lab away from the project's ``default`` network and
makes ``invoke down`` delete all of it. Each cluster's subnet carries the secondary ranges for
pods and Services (VPC-native clusters; needed for NEGs and the Gateway API).
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from packetwalk.lab.config import LabConfig
from packetwalk.lab.gke import (
    HEALTH_CHECK_RANGES,
    TRAEFIK_PING_PORT,
    TRAEFIK_WEB_PORT,
    GkeCluster,
    firewall_name,
    network_name,
)


def region_of(location: str) -> str:
    """``europe-west1-b`` -> ``europe-west1``; a region stays itself."""
    parts = location.split("-")
    return "-".join(parts[:2]) if len(parts) == 3 else location


class GkeNetwork(pulumi.ComponentResource):
    """The VPC shared by every cluster of the stack."""

    def __init__(
        self, name: str, cfg: LabConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("packetwalk:gke:Network", name, None, opts)
        assert cfg.gke is not None
        self.network = gcp.compute.Network(
            network_name(cfg),
            name=network_name(cfg),
            project=cfg.gke.project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            description=f"packetwalk lab network (stack {cfg.stack})",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"network": self.network.name})


class GkeClusterNetwork(pulumi.ComponentResource):
    """One cluster's subnet (with pod and Service ranges), firewall rule and global IP."""

    def __init__(
        self,
        name: str,
        cfg: LabConfig,
        cluster: GkeCluster,
        network: GkeNetwork,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("packetwalk:gke:ClusterNetwork", name, None, opts)
        assert cfg.gke is not None
        project = cfg.gke.project
        child = pulumi.ResourceOptions(parent=self)
        self.subnet = gcp.compute.Subnetwork(
            cluster.subnet,
            name=cluster.subnet,
            project=project,
            region=region_of(cfg.gke.location),
            network=network.network.id,
            ip_cidr_range=cluster.node_range,
            private_ip_google_access=True,
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=cluster.pods_range_name, ip_cidr_range=cluster.pods_range
                ),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=cluster.services_range_name, ip_cidr_range=cluster.services_range
                ),
            ],
            opts=child,
        )
        # With NEGs the load balancer connects to Traefik's pod IPs (alias IPs of the nodes, so
        # the nodes' tag matches). GKE opens the serving port for its own load balancers; the
        # health check goes to /ping on 8080, which only this rule opens (ory/k8s#113).
        self.firewall = gcp.compute.Firewall(
            firewall_name(cluster),
            name=firewall_name(cluster),
            project=project,
            network=network.network.name,
            direction="INGRESS",
            priority=1000,
            source_ranges=list(HEALTH_CHECK_RANGES),
            allows=[
                gcp.compute.FirewallAllowArgs(
                    protocol="tcp", ports=[str(TRAEFIK_WEB_PORT), str(TRAEFIK_PING_PORT)]
                )
            ],
            target_tags=[cluster.node_tag],
            description="Google Cloud load balancer health checks and proxies to Traefik",
            opts=child,
        )
        # Global: the external Application Load Balancer (Gateway or GKE Ingress) takes a
        # global address, referenced by name; a regional one would only do for a Service LB.
        self.address = gcp.compute.GlobalAddress(
            cluster.address_name,
            name=cluster.address_name,
            project=project,
            address_type="EXTERNAL",
            ip_version="IPV4",
            description=f"packetwalk ingress address of cluster {cluster.name}",
            opts=child,
        )
        self.register_outputs({"subnet": self.subnet.name, "address": self.address.address})
