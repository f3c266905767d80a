"""The ``packetwalk-cluster`` program: make the cluster a lab stack runs in, export how to reach it.

Only the cluster lives here (kind, or GKE through components/gke_stack.py): the in-cluster
stack reads this stack's ``kubeconfig`` through a StackReference, which keeps ``helm.v4.Chart``
previews working (pulumi-kubernetes #3027: a chart cannot preview against a cluster made in the
same program).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import pulumi

from components.gke_stack import run_cluster as run_gke_cluster
from components.kind_cluster import KindCluster
from components.stackconfig import lab_config
from packetwalk.lab.config import REPO_ROOT, LabConfig
from packetwalk.lab.urns import kind_recreate_urns as kind_recreate_urns  # moved; re-exported


class Cluster(Protocol):
    """What every platform's cluster component offers the stack outputs."""

    kubeconfig: pulumi.Output[str]
    kube_context: str
    cluster_name: str
    nodes: list[str]
    lb_address_range: pulumi.Output[str]
    api_server_address: pulumi.Output[str]


def _kind(cfg: LabConfig) -> Cluster:
    return KindCluster(cfg.cluster_name, cfg, repo_root=REPO_ROOT)


PLATFORMS: dict[str, Callable[[LabConfig], Cluster]] = {"kind": _kind}
"""Platforms whose cluster is one component with the interface outputs."""

PROGRAMS: dict[str, Callable[[LabConfig], None]] = {"gke": run_gke_cluster}
"""Platforms with a program of their own (GKE: network, several clusters, more outputs)."""


def run() -> None:
    cfg = lab_config()
    program = PROGRAMS.get(cfg.platform)
    if program is not None:
        program(cfg)
        return
    make = PLATFORMS.get(cfg.platform)
    if make is None:
        raise pulumi.RunError(
            f"{cfg.source}: key packetwalk:platform: platform {cfg.platform!r} has no cluster "
            f"component in this version (valid: {', '.join([*PLATFORMS, *PROGRAMS])})"
        )
    cluster = make(cfg)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("kubeContext", cluster.kube_context)
    pulumi.export("clusterName", cluster.cluster_name)
    pulumi.export("platform", cfg.platform)
    pulumi.export("cni", cfg.cni)
    pulumi.export("kubeProxyMode", cfg.kube_proxy_mode)
    pulumi.export("nodes", cluster.nodes)
    pulumi.export("lbAddressRange", cluster.lb_address_range)
    pulumi.export("apiServerAddress", cluster.api_server_address)
