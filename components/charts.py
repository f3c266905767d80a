"""What each Helm chart of the lab is installed with: chart, repo, version, namespace, values.

Pure data (no Pulumi here), so tests and docs read exactly what the components install. Every
version comes from :mod:`packetwalk.versions`; the values follow each project's own kind recipe
(see ``shared/reference/kind-and-cnis.md`` and ``ingress-and-gclb.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from packetwalk import versions
from packetwalk.config import LabConfig
from packetwalk.kindconfig import (
    INGRESS_HTTP_NODE_PORT,
    INGRESS_HTTPS_NODE_PORT,
    control_plane_node,
)

PRIVILEGED_PSA = {
    f"pod-security.kubernetes.io/{mode}": "privileged" for mode in ("enforce", "audit", "warn")
}
"""CNI and MetalLB pods need host networking and NET_ADMIN/NET_RAW, and the packet walk adds
root netshoot capture containers to Traefik's pods: Pod Security must allow all of it."""

TRAEFIK_NAMESPACE = "traefik"
TRAEFIK_INGRESS_CLASS = "traefik"
METALLB_NAMESPACE = "metallb-system"
METALLB_LB_IPS_ANNOTATION = "metallb.io/loadBalancerIPs"
"""Pins a Service's LoadBalancer address, so the lab's ingress address is known before ``up``."""


@dataclass(frozen=True)
class ChartSpec:
    """One ``helm.v4.Chart``: what to fetch, where to install it, with which values."""

    release: str
    chart: str
    repo: str
    version: str
    namespace: str
    values: dict[str, Any]
    create_namespace: bool = True
    namespace_labels: dict[str, str] = field(default_factory=dict)
    teaches: str = ""


def cni_chart(cfg: LabConfig) -> ChartSpec | None:
    """The chart that installs the stack's CNI; None for kindnet, which kind itself runs."""
    if cfg.cni == "kindnet":
        return None
    if cfg.cni == "flannel":
        return ChartSpec(
            release="flannel",
            chart="flannel",
            repo=versions.FLANNEL_CHART_REPO,
            version=versions.FLANNEL_CHART_VERSION,
            namespace="kube-flannel",
            # podCidr must equal kind's podSubnet: flanneld carves node subnets out of it.
            # netpol stays off on purpose: the flannel lab is the one where policies are NOT
            # enforced.
            values={"podCidr": cfg.pod_subnet, "netpol": {"enabled": False}},
            # The chart ships its own kube-flannel Namespace (PSA privileged); a second Pulumi
            # resource for the same object would fight over it.
            create_namespace=False,
            teaches="VXLAN overlay (UDP 8472) without NetworkPolicy enforcement",
        )
    if cfg.cni == "calico":
        return ChartSpec(
            release="calico",
            chart="tigera-operator",
            repo=versions.CALICO_CHART_REPO,
            version=versions.CALICO_VERSION,
            namespace="tigera-operator",
            values={
                "installation": {
                    "calicoNetwork": {
                        # The stock pool is 192.168.0.0/16; it must lie inside kind's podSubnet.
                        "ipPools": [{
                            "cidr": cfg.pod_subnet,
                            "blockSize": 26,
                            "encapsulation": "VXLANCrossSubnet",
                            "natOutgoing": "Enabled",
                            "nodeSelector": "all()",
                        }],
                    },
                },
            },
            namespace_labels=dict(PRIVILEGED_PSA),
            teaches="operator-managed Calico, VXLAN (UDP 4789), NetworkPolicy enforced by Felix",
        )
    if cfg.cni == "cilium":
        kpr = not cfg.has_kube_proxy
        values: dict[str, Any] = {
            "kubeProxyReplacement": kpr,
            "ipam": {"mode": "kubernetes"},
            "image": {"pullPolicy": "IfNotPresent"},
            "operator": {"replicas": 1},
        }
        if kpr:
            # Without kube-proxy nothing answers the `kubernetes` Service VIP, so Cilium must be
            # told where the API server is: the control-plane container on the kind network.
            values["k8sServiceHost"] = control_plane_node(cfg)
            values["k8sServicePort"] = 6443
        return ChartSpec(
            release="cilium",
            chart="cilium",
            repo=versions.CILIUM_CHART_REPO,
            version=versions.CILIUM_VERSION,
            namespace="kube-system",
            values=values,
            create_namespace=False,
            teaches="eBPF datapath" + (" with kube-proxy replacement" if kpr else ""),
        )
    raise ValueError(f"no chart for CNI {cfg.cni!r}")  # config validation rules this out


def metallb_chart() -> ChartSpec:
    """MetalLB in plain L2 mode (the v0.16 chart defaults to FRR-K8s, which kind labs need not)."""
    return ChartSpec(
        release="metallb",
        chart="metallb",
        repo=versions.METALLB_CHART_REPO,
        version=versions.METALLB_VERSION,
        namespace=METALLB_NAMESPACE,
        values={
            "speaker": {
                "frr": {"enabled": False},
                # Multi-node kind keeps node.kubernetes.io/exclude-from-external-load-balancers
                # on the control plane; without this the speaker there never announces.
                "ignoreExcludeLB": True,
            },
            "frrk8s": {"enabled": False},
        },
        namespace_labels=dict(PRIVILEGED_PSA),
        teaches="LoadBalancer IPs answered by ARP from one leader node",
    )


def traefik_chart(load_balancer_ip: Any = None) -> ChartSpec:
    """Traefik: LoadBalancer Service (MetalLB) whose node ports kind maps to host 80/443.

    ``load_balancer_ip`` (a string or a Pulumi Output) pins the MetalLB address; None lets MetalLB
    pick one.
    """
    service: dict[str, Any] = {"type": "LoadBalancer"}
    if load_balancer_ip is not None:
        service["annotations"] = {METALLB_LB_IPS_ANNOTATION: load_balancer_ip}
    return ChartSpec(
        release="traefik",
        chart="traefik",
        repo=versions.TRAEFIK_CHART_REPO,
        version=versions.TRAEFIK_CHART_VERSION,
        namespace=TRAEFIK_NAMESPACE,
        values={
            "ingressClass": {"enabled": True, "isDefaultClass": True,
                             "name": TRAEFIK_INGRESS_CLASS},
            "providers": {
                "kubernetesIngress": {"enabled": True},
                "kubernetesCRD": {"enabled": True},
            },
            "ports": {
                "web": {"nodePort": INGRESS_HTTP_NODE_PORT},
                "websecure": {"nodePort": INGRESS_HTTPS_NODE_PORT},
            },
            "service": service,
            # /ping always runs on the unexposed `traefik` entrypoint (the chart's probes use
            # it); this route also answers it on `web`, so `curl http://localhost/ping` checks
            # the whole host -> node port -> Traefik path.
            "ingressRoute": {"healthcheck": {"enabled": True, "entryPoints": ["web"]}},
        },
        # The walk captures inside Traefik's pods with a root ephemeral container (Traefik runs as
        # 65532); a stricter cluster-wide default level would refuse it without this label.
        namespace_labels=dict(PRIVILEGED_PSA),
        teaches="ingress: host 127.0.0.1:80 -> node port 30080 -> Traefik -> pod IPs",
    )


def namespace_object(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A Namespace manifest (charts installed by helm.v4.Chart do not create theirs)."""
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
