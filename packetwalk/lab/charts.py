"""What each Helm chart of the lab is installed with: chart, repo, version, namespace, values.

Pure data (no Pulumi here), so the components install, ``invoke render`` renders and the
conformance tests check the very same specs. Every version comes from
:mod:`packetwalk.lab.versions`.
Each value key was read in the chart's own ``values.yaml`` and templates at the pinned tag (named
where a key is used); ``tests/test_render_conformance.py`` refuses any key a chart does not have,
because a chart silently ignores a key it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from packetwalk.lab import versions
from packetwalk.lab.cni import PROFILES
from packetwalk.lab.config import LabConfig
from packetwalk.lab.gke import traefik_front_values
from packetwalk.lab.kindconfig import (
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
    free_form: tuple[str, ...] = ()
    """Dotted value paths the chart passes through to an object as they are (for example
    tigera-operator's ``installation``, which becomes the Installation spec): their keys are
    checked against that object's schema instead of the chart's ``values.yaml``."""


def cni_chart(cfg: LabConfig) -> ChartSpec | None:
    """The chart that installs the stack's CNI; None for kindnet, which kind itself runs."""
    if PROFILES[cfg.cni].chart is None:
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
            # flannel-io/flannel v0.28.9 chart/kube-flannel/templates holds config, daemonset,
            # rbac and serviceaccount only, and its README says to create kube-flannel by hand
            # with enforce=privileged (flanneld runs privileged on the host network).
            namespace_labels=dict(PRIVILEGED_PSA),
        )
    if cfg.cni == "calico":
        return ChartSpec(
            release="calico",
            chart="tigera-operator",
            repo=versions.CALICO_CHART_REPO,
            version=versions.CALICO_VERSION,
            namespace="tigera-operator",
            # The operator's custom resources are ours, not the chart's (calico_operator_resources):
            # registered after the chart, Pulumi deletes them first and waits until the operator
            # has cleaned up, which the chart's pre-delete hook Job (dropped by helm.v4.Chart) did.
            values={name: {"enabled": False} for name in CALICO_OPERATOR_RESOURCES},
            namespace_labels=dict(PRIVILEGED_PSA),
        )
    if cfg.cni == "cilium":
        kpr = not cfg.has_kube_proxy
        values: dict[str, Any] = {
            "kubeProxyReplacement": kpr,
            "ipam": {"mode": "kubernetes"},
            "image": {"pullPolicy": "IfNotPresent"},
            "operator": {"replicas": 1},
            # The default method ("helm") makes a new CA and Hubble server certificate at every
            # render (templates/_helpers.tpl cilium.ca.setup at 1.19.3: genCA unless `lookup`
            # finds the Secret, and helm.v4.Chart renders without lookups), so every `up` would
            # rewrite cilium-ca and hubble-server-certs. "cronJob" has a certgen Job (a plain Job,
            # not a hook, named by its spec's checksum) make them once in the cluster.
            "hubble": {"tls": {"auto": {"method": "cronJob"}}},
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
    )


def _traefik(front: dict[str, Any]) -> ChartSpec:
    """Traefik with what every stack shares, plus the platform's ``service`` and ``ports``."""
    return ChartSpec(
        release="traefik",
        chart="traefik",
        repo=versions.TRAEFIK_CHART_REPO,
        version=versions.TRAEFIK_CHART_VERSION,
        namespace=TRAEFIK_NAMESPACE,
        values={
            "ingressClass": {
                "enabled": True,
                "isDefaultClass": True,
                "name": TRAEFIK_INGRESS_CLASS,
            },
            "providers": {
                "kubernetesIngress": {"enabled": True},
                "kubernetesCRD": {"enabled": True},
            },
            # /ping always runs on the unexposed `traefik` entrypoint (the chart's probes use
            # it); this route also answers it on `web`, so `curl http://localhost/ping` checks
            # the whole host -> node port -> Traefik path (and GKE's health check has a route).
            "ingressRoute": {"healthcheck": {"enabled": True, "entryPoints": ["web"]}},
            **front,
        },
        # The walk captures inside Traefik's pods with a root ephemeral container (Traefik runs as
        # 65532); a stricter cluster-wide default level would refuse it without this label.
        namespace_labels=dict(PRIVILEGED_PSA),
    )


def traefik_chart(load_balancer_ip: Any = None) -> ChartSpec:
    """Traefik: LoadBalancer Service (MetalLB) whose node ports kind maps to host 80/443.

    ``load_balancer_ip`` (a string or a Pulumi Output) pins the MetalLB address; None lets MetalLB
    pick one.
    """
    # Chart 40.0.0 moved the type to service.spec (templates/_service.tpl copies service.spec
    # into the Service); a top-level service.type is ignored without a word.
    service: dict[str, Any] = {"spec": {"type": "LoadBalancer"}}
    if load_balancer_ip is not None:
        service["annotations"] = {METALLB_LB_IPS_ANNOTATION: load_balancer_ip}
    ports = {
        "web": {"nodePort": INGRESS_HTTP_NODE_PORT},
        "websecure": {"nodePort": INGRESS_HTTPS_NODE_PORT},
    }
    return _traefik({"ports": ports, "service": service})


def gke_traefik_chart(cfg: LabConfig) -> ChartSpec:
    """Traefik on GKE: a ClusterIP Service behind the Google load balancer
    (:func:`packetwalk.lab.gke.traefik_front_values`)."""
    return _traefik(traefik_front_values(cfg))


CALICO_OPERATOR_RESOURCES = {
    "installation": "Installation",
    "apiServer": "APIServer",
    "goldmane": "Goldmane",
    "whisker": "Whisker",
}
"""tigera-operator v3.31.5 templates/crs/custom-resources.yaml: each value block with
``enabled: true`` becomes that ``operator.tigera.io/v1`` object named ``default``."""


def calico_operator_resources(cfg: LabConfig) -> list[dict[str, Any]]:
    """The operator's custom resources, as the chart's custom-resources.yaml renders them with
    its default values plus the lab's pool (the Installation first: the others need it).

    The spec is the values block minus ``enabled``, and the Installation also gets
    ``imagePullSecrets`` from the chart's top-level map (empty here).
    """
    installation = {
        # values.yaml defaults of the installation block
        "kubernetesProvider": "",
        "imagePullSecrets": [],
        "kubeletVolumePluginPath": "None",
        "calicoNetwork": {
            # The stock pool is 192.168.0.0/16; it must lie inside kind's podSubnet.
            "ipPools": [
                {
                    "cidr": cfg.pod_subnet,
                    "blockSize": 26,
                    "encapsulation": "VXLANCrossSubnet",
                    "natOutgoing": "Enabled",
                    "nodeSelector": "all()",
                }
            ],
        },
    }
    specs: dict[str, dict[str, Any]] = {
        "installation": installation,
        "apiServer": {},
        "goldmane": {},
        "whisker": {},
    }
    return [
        {
            "apiVersion": "operator.tigera.io/v1",
            "kind": kind,
            "metadata": {"name": "default"},
            "spec": specs[key],
        }
        for key, kind in CALICO_OPERATOR_RESOURCES.items()
    ]


def namespace_object(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A Namespace manifest (charts installed by helm.v4.Chart do not create theirs)."""
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
