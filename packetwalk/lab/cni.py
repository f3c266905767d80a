"""What each CNI a stack can run implies, in one table.

The stack config validates ``packetwalk:cni`` against it, the kind config decides from it whether
kind's own CNI stays, the chart specs pick the chart, the packet walk explains the datapath from
it, the lab modules get their facts from it, and live detection recognises a CNI by its node
agent's pod name. Facts are from docs/design/kind-and-cnis.md and docs/design/gke.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

Platform = Literal["kind", "gke"]
CniName = Literal["kindnet", "flannel", "calico", "cilium", "dataplane-v2"]
KubeProxyMode = Literal["iptables", "ipvs", "nftables", "none"]

PLATFORMS: tuple[Platform, ...] = get_args(Platform)
KUBE_PROXY_MODES: tuple[KubeProxyMode, ...] = get_args(KubeProxyMode)


@dataclass(frozen=True)
class CniProfile:
    name: CniName
    platforms: tuple[Platform, ...]
    enforces_policy: bool
    """Whether NetworkPolicies take effect (Flannel ignores them; kindnet enforces since kind
    v0.24.0 through kube-network-policies)."""
    overlay: bool
    """Node-to-node pod traffic is encapsulated (VXLAN, Geneve, IP-in-IP) rather than routed."""
    datapath: str
    """How pod traffic crosses nodes and what a capture sees, for the packet walk's notes."""
    agent_pod_prefix: str
    """The name prefix of its node agent's pods, which is how a live cluster is recognised."""
    replaces_kube_proxy: bool = False
    """Can run the cluster's Services without kube-proxy (eBPF)."""
    kind_builtin: bool = False
    """kind installs it itself (``networking.disableDefaultCNI: false``)."""
    chart: str | None = None
    """The Helm chart packetwalk installs it from on kind; None where kind or GKE brings it."""
    needs_cni_plugins: bool = False
    """The kind node image lacks a reference plugin it delegates to (Flannel: ``bridge``), so the
    reference plugins are mounted over ``/opt/cni/bin``."""
    gke_kube_proxy: KubeProxyMode | None = None
    """On GKE the dataplane decides kube-proxy: eBPF replaces it, the legacy datapath runs it."""


PROFILES: dict[CniName, CniProfile] = {
    profile.name: profile
    for profile in (
        CniProfile(
            name="kindnet",
            platforms=("kind",),
            enforces_policy=True,
            overlay=False,
            datapath="kindnet routes pod CIDRs between nodes without encapsulation, so node eth0 "
            "shows the pod addresses themselves",
            agent_pod_prefix="kindnet",
            kind_builtin=True,
        ),
        CniProfile(
            name="flannel",
            platforms=("kind",),
            enforces_policy=False,
            overlay=True,
            datapath="Flannel encapsulates node-to-node traffic in VXLAN (UDP 8472 on eth0); the "
            "capture filter keeps the decapsulated packets on flannel.1 and the pod veths",
            agent_pod_prefix="kube-flannel",
            chart="flannel",
            needs_cni_plugins=True,
        ),
        CniProfile(
            name="dataplane-v2",
            platforms=("gke",),
            enforces_policy=True,
            overlay=False,
            datapath="GKE Dataplane V2 (Cilium-based eBPF) routes pod ranges natively in the VPC; "
            "Services are translated in eBPF, so there are no KUBE-* chains",
            agent_pod_prefix="anetd",
            replaces_kube_proxy=True,
            gke_kube_proxy="none",
        ),
        CniProfile(
            name="calico",
            platforms=("kind", "gke"),
            enforces_policy=True,
            overlay=True,
            datapath="Calico may encapsulate node-to-node traffic (IP-in-IP or VXLAN UDP 4789); "
            "the capture filter keeps the inner packets on the tunnel and pod interfaces",
            agent_pod_prefix="calico-node",
            chart="tigera-operator",
            gke_kube_proxy="iptables",
        ),
        CniProfile(
            name="cilium",
            platforms=("kind",),
            enforces_policy=True,
            overlay=True,
            datapath="Cilium tunnels node-to-node traffic (VXLAN or Geneve) unless native routing "
            "is on; the filter keeps the inner packets on the pod interfaces",
            agent_pod_prefix="cilium",
            replaces_kube_proxy=True,
            chart="cilium",
        ),
    )
}


def cnis_for(platform: Platform) -> tuple[CniName, ...]:
    """The CNIs a platform can run, in the table's order (the first is the platform's default)."""
    return tuple(name for name, profile in PROFILES.items() if platform in profile.platforms)


def detect_cni(pod_names: Iterable[str]) -> CniName | None:
    """The CNI whose node agent runs among ``pod_names``; None when no agent is recognised."""
    names = list(pod_names)
    for profile in PROFILES.values():
        if any(name.startswith(profile.agent_pod_prefix) for name in names):
            return profile.name
    return None
