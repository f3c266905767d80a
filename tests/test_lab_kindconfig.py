"""The kind cluster config generated from a stack's settings."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from packetwalk.errors import InputError
from packetwalk.lab import versions
from packetwalk.lab.config import LabConfig, parse_lab_config
from packetwalk.lab.kindconfig import (
    INGRESS_HTTP_NODE_PORT,
    INGRESS_HTTPS_NODE_PORT,
    kind_cluster_config,
    kind_context,
    node_names,
    render_kind_config,
)

# The fields of kind's v1alpha4 types (sigs.k8s.io/kind/pkg/apis/config/v1alpha4/types.go). kind
# decodes its config strictly, so a field outside these sets would fail `kind create cluster`.
CLUSTER_FIELDS = {
    "kind",
    "apiVersion",
    "name",
    "nodes",
    "networking",
    "featureGates",
    "runtimeConfig",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
    "containerdConfigPatches",
    "containerdConfigPatchesJSON6902",
}
NODE_FIELDS = {
    "role",
    "image",
    "labels",
    "extraMounts",
    "extraPortMappings",
    "gpus",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
}
NETWORKING_FIELDS = {
    "ipFamily",
    "apiServerPort",
    "apiServerAddress",
    "podSubnet",
    "serviceSubnet",
    "disableDefaultCNI",
    "kubeProxyMode",
    "dnsSearch",
}
MOUNT_FIELDS = {"containerPath", "hostPath", "readOnly", "selinuxRelabel", "propagation"}
PORT_FIELDS = {"containerPort", "hostPort", "listenAddress", "protocol"}


def cfg(**values: Any) -> LabConfig:
    return parse_lab_config("t", {f"packetwalk:{k}": v for k, v in values.items()}, source="t")


def assert_known_fields(config: dict[str, Any]) -> None:
    assert set(config) <= CLUSTER_FIELDS
    assert set(config["networking"]) <= NETWORKING_FIELDS
    for node in config["nodes"]:
        assert set(node) <= NODE_FIELDS
        for mount in node.get("extraMounts", []):
            assert set(mount) <= MOUNT_FIELDS
        for mapping in node.get("extraPortMappings", []):
            assert set(mapping) <= PORT_FIELDS


def test_default_kindnet_cluster() -> None:
    config = kind_cluster_config(cfg())
    assert_known_fields(config)
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4" and config["kind"] == "Cluster"
    assert config["name"] == "packetwalk"
    assert config["networking"] == {
        "ipFamily": "ipv4",
        "disableDefaultCNI": False,
        "kubeProxyMode": "iptables",
        "podSubnet": "10.244.0.0/16",
        "serviceSubnet": "10.96.0.0/16",
    }
    nodes = config["nodes"]
    assert [n["role"] for n in nodes] == ["control-plane", "worker", "worker"]
    assert all(n["image"] == versions.KIND_NODE_IMAGE for n in nodes)
    control = nodes[0]
    assert control["labels"] == {"ingress-ready": "true"}
    assert control["extraPortMappings"] == [
        {"containerPort": 30080, "hostPort": 80, "listenAddress": "127.0.0.1", "protocol": "TCP"},
        {"containerPort": 30443, "hostPort": 443, "listenAddress": "127.0.0.1", "protocol": "TCP"},
    ]
    assert (INGRESS_HTTP_NODE_PORT, INGRESS_HTTPS_NODE_PORT) == (30080, 30443)
    assert all("extraPortMappings" not in n and "labels" not in n for n in nodes[1:])
    assert "kubeadmConfigPatches" not in config
    assert not any("extraMounts" in n for n in nodes)


@pytest.mark.parametrize("cni", ["calico", "cilium", "flannel"])
def test_other_cnis_disable_kindnet(cni: str) -> None:
    config = kind_cluster_config(cfg(cni=cni), cni_plugins_dir="/opt/lab/cni")
    assert config["networking"]["disableDefaultCNI"] is True


def test_workers_and_subnets() -> None:
    config = kind_cluster_config(
        cfg(workers=0, podSubnet="192.168.0.0/16", serviceSubnet="10.96.0.0/12", clusterName="w")
    )
    assert [n["role"] for n in config["nodes"]] == ["control-plane"]
    assert config["networking"]["podSubnet"] == "192.168.0.0/16"
    assert config["networking"]["serviceSubnet"] == "10.96.0.0/12"
    assert config["name"] == "w"


def test_flannel_mounts_the_plugins_on_every_node() -> None:
    config = kind_cluster_config(cfg(cni="flannel", workers=3), cni_plugins_dir="/tmp/cni/bin")
    assert_known_fields(config)
    assert len(config["nodes"]) == 4
    for node in config["nodes"]:
        assert node["extraMounts"] == [
            {"hostPath": "/tmp/cni/bin", "containerPath": "/opt/cni/bin"}
        ]
        # not read-only: Flannel's init container installs its `flannel` binary there
        assert not node["extraMounts"][0].get("readOnly", False)
    # each node has its own list (a shared one would alias when a caller edits one node)
    assert config["nodes"][0]["extraMounts"] is not config["nodes"][1]["extraMounts"]


def test_flannel_needs_an_absolute_plugins_dir() -> None:
    with pytest.raises(InputError, match="bridge"):
        kind_cluster_config(cfg(cni="flannel"))
    with pytest.raises(InputError, match="absolute"):
        kind_cluster_config(cfg(cni="flannel"), cni_plugins_dir="cni/bin")


def test_plugins_dir_is_ignored_without_flannel() -> None:
    config = kind_cluster_config(cfg(cni="calico"), cni_plugins_dir="/tmp/cni")
    assert not any("extraMounts" in n for n in config["nodes"])


def test_ipvs_sets_strict_arp_for_metallb() -> None:
    config = kind_cluster_config(cfg(kubeProxyMode="ipvs"))
    assert config["networking"]["kubeProxyMode"] == "ipvs"
    (patch,) = config["kubeadmConfigPatches"]
    assert yaml.safe_load(patch) == {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "ipvs": {"strictARP": True},
    }


@pytest.mark.parametrize("mode", ["nftables", "iptables"])
def test_other_modes_need_no_patch(mode: str) -> None:
    config = kind_cluster_config(cfg(kubeProxyMode=mode))
    assert config["networking"]["kubeProxyMode"] == mode
    assert "kubeadmConfigPatches" not in config


def test_cilium_without_kube_proxy() -> None:
    config = kind_cluster_config(cfg(cni="cilium", kubeProxyMode="none"))
    assert config["networking"]["kubeProxyMode"] == "none"
    assert config["networking"]["disableDefaultCNI"] is True


def test_render_round_trips() -> None:
    lab = cfg(kubeProxyMode="ipvs", cni="flannel")
    text = render_kind_config(lab, cni_plugins_dir="/x/cni")
    assert text.startswith("# kind cluster for packetwalk stack 't'")
    assert yaml.safe_load(text) == kind_cluster_config(lab, cni_plugins_dir="/x/cni")
    assert "strictARP: true" in text and "|" in text  # the patch is a readable block


def test_names() -> None:
    lab = cfg(clusterName="demo", workers=3)
    assert kind_context(lab) == "kind-demo"
    assert node_names(lab) == ["demo-control-plane", "demo-worker", "demo-worker2", "demo-worker3"]


def test_gke_is_not_kind() -> None:
    gke = parse_lab_config(
        "g", {"packetwalk:platform": "gke", "gcp:project": "p", "gcp:zone": "z"}, source="g"
    )
    with pytest.raises(ValueError, match="not kind"):
        kind_cluster_config(gke)
