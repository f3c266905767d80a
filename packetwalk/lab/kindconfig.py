"""The kind cluster config (``kind.x-k8s.io/v1alpha4``) a stack hands ``kind create cluster``.

The ingress path on kind is NodePort + ``extraPortMappings``: Traefik's Service exposes the node
ports below, and the control-plane node container publishes them on the host's 127.0.0.1:80/443.
It works on every OS (LoadBalancer IPs are reachable from the host only on Linux) and binds to
loopback only, so a workshop laptop does not serve the lab to the café's Wi-Fi.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Final

import yaml

from packetwalk.errors import InputError
from packetwalk.lab import versions
from packetwalk.lab.cni import PROFILES
from packetwalk.lab.config import LabConfig

KIND_API_VERSION: Final = "kind.x-k8s.io/v1alpha4"

INGRESS_HTTP_NODE_PORT: Final = 30080
"""Traefik's ``web`` nodePort; the pulumi components must set ``ports.web.nodePort`` to it."""
INGRESS_HTTPS_NODE_PORT: Final = 30443
"""Traefik's ``websecure`` nodePort (``ports.websecure.nodePort``)."""
INGRESS_HTTP_HOST_PORT: Final = 80
INGRESS_HTTPS_HOST_PORT: Final = 443
INGRESS_LISTEN_ADDRESS: Final = "127.0.0.1"
INGRESS_NODE_LABEL: Final = ("ingress-ready", "true")

CNI_BIN_DIR: Final = "/opt/cni/bin"

_IPVS_STRICT_ARP_PATCH: Final = """\
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
ipvs:
  strictARP: true
"""
"""MetalLB's L2 mode needs strict ARP under IPVS, or every node answers ARP for every LB IP."""


def kind_context(cfg: LabConfig) -> str:
    """The kubeconfig context kind writes for the cluster."""
    return f"kind-{cfg.cluster_name}"


def control_plane_node(cfg: LabConfig) -> str:
    """The control-plane node (and Docker container) name kind gives the cluster."""
    return f"{cfg.cluster_name}-control-plane"


def kind_node_names(cluster_name: str, workers: int) -> list[str]:
    """kind's node container names, control plane first: ``<name>-control-plane``,
    ``<name>-worker``, ``<name>-worker2``..."""
    names = [f"{cluster_name}-control-plane"]
    names += [
        f"{cluster_name}-worker{'' if index == 1 else index}" for index in range(1, workers + 1)
    ]
    return names


def node_names(cfg: LabConfig) -> list[str]:
    """Every node kind will create for the stack, control plane first."""
    return kind_node_names(cfg.cluster_name, cfg.workers)


def kind_cluster_config(cfg: LabConfig, *, cni_plugins_dir: str | None = None) -> dict[str, Any]:
    """The kind ``Cluster`` config for ``cfg``.

    ``cni_plugins_dir`` is a host directory holding the full reference CNI plugin set
    (``versions.CNI_PLUGINS_VERSION``); Flannel needs it mounted over ``/opt/cni/bin`` on every node
    because the kind node image lacks the ``bridge`` plugin Flannel delegates to.
    """
    if not cfg.is_kind:
        raise ValueError(f"stack {cfg.stack!r} is platform {cfg.platform!r}, not kind")
    mounts: list[dict[str, object]] = []
    if PROFILES[cfg.cni].needs_cni_plugins:
        if cni_plugins_dir is None:
            raise InputError(
                "cni flannel needs the CNI plugins directory (the kind node image has no "
                f"`bridge` plugin); download cni-plugins {versions.CNI_PLUGINS_VERSION} first",
                source=cfg.source,
                location="key packetwalk:cni",
            )
        if not PurePosixPath(cni_plugins_dir).is_absolute():
            raise InputError(
                f"the CNI plugins directory must be an absolute path, got {cni_plugins_dir!r}",
                source=cfg.source,
                location="key packetwalk:cni",
            )
        # Writable on purpose: Flannel's install-cni-plugin init container copies its own
        # `flannel` binary into /opt/cni/bin, i.e. into this host directory.
        mounts.append({"hostPath": cni_plugins_dir, "containerPath": CNI_BIN_DIR})

    control_plane: dict[str, object] = {
        "role": "control-plane",
        "image": versions.KIND_NODE_IMAGE,
        "labels": {INGRESS_NODE_LABEL[0]: INGRESS_NODE_LABEL[1]},
        "extraPortMappings": [
            {
                "containerPort": INGRESS_HTTP_NODE_PORT,
                "hostPort": INGRESS_HTTP_HOST_PORT,
                "listenAddress": INGRESS_LISTEN_ADDRESS,
                "protocol": "TCP",
            },
            {
                "containerPort": INGRESS_HTTPS_NODE_PORT,
                "hostPort": INGRESS_HTTPS_HOST_PORT,
                "listenAddress": INGRESS_LISTEN_ADDRESS,
                "protocol": "TCP",
            },
        ],
    }
    nodes: list[dict[str, object]] = [control_plane]
    nodes.extend({"role": "worker", "image": versions.KIND_NODE_IMAGE} for _ in range(cfg.workers))
    if mounts:
        for node in nodes:
            node["extraMounts"] = [dict(mount) for mount in mounts]

    networking: dict[str, object] = {
        "ipFamily": "ipv4",
        "disableDefaultCNI": not PROFILES[cfg.cni].kind_builtin,
        "kubeProxyMode": cfg.kube_proxy_mode,
        "podSubnet": cfg.pod_subnet,
        "serviceSubnet": cfg.service_subnet,
    }
    config: dict[str, object] = {
        "kind": "Cluster",
        "apiVersion": KIND_API_VERSION,
        "name": cfg.cluster_name,
        "networking": networking,
        "nodes": nodes,
    }
    if cfg.kube_proxy_mode == "ipvs":
        config["kubeadmConfigPatches"] = [_IPVS_STRICT_ARP_PATCH]
    return config


class _BlockStrDumper(yaml.SafeDumper):
    """Writes multi-line strings (the kubeadm patches) as readable ``|`` blocks."""


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> Any:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_BlockStrDumper.add_representer(str, _str_presenter)


def render_kind_config(cfg: LabConfig, *, cni_plugins_dir: str | None = None) -> str:
    """The kind config as YAML text, for ``kind create cluster --config -``."""
    header = (
        f"# kind cluster for packetwalk stack {cfg.stack!r} (generated from {cfg.source}; "
        "edit the stack config, not this)\n"
    )
    body = yaml.dump(
        kind_cluster_config(cfg, cni_plugins_dir=cni_plugins_dir),
        Dumper=_BlockStrDumper,
        sort_keys=False,
        default_flow_style=False,
    )
    return header + body
