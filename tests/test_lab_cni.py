"""The CNI profile table (packetwalk.lab.cni) and what is derived from it."""

from __future__ import annotations

import pytest

from packetwalk.lab.charts import cni_chart
from packetwalk.lab.cni import PROFILES, cnis_for, detect_cni
from packetwalk.lab.config import LabConfig
from packetwalk.lab.kindconfig import kind_cluster_config


def test_platform_defaults_come_first() -> None:
    assert cnis_for("kind") == ("kindnet", "flannel", "calico", "cilium")
    assert cnis_for("gke") == ("dataplane-v2", "calico")


@pytest.mark.parametrize(
    ("pods", "expected"),
    [
        (["kindnet-abcde", "coredns-1"], "kindnet"),
        (["kube-flannel-ds-x"], "flannel"),
        (["calico-node-x", "calico-kube-controllers-y"], "calico"),
        (["cilium-operator-1", "cilium-x"], "cilium"),
        (["anetd-x", "kube-dns-1"], "dataplane-v2"),  # the name the stack config uses
        (["coredns-1"], None),
    ],
)
def test_detect_cni_by_agent_pod(pods: list[str], expected: str | None) -> None:
    assert detect_cni(pods) == expected


def test_every_detected_name_is_a_config_name() -> None:
    for profile in PROFILES.values():
        assert detect_cni([f"{profile.agent_pod_prefix}-x"]) == profile.name


@pytest.mark.parametrize("cni", cnis_for("kind"))
def test_kind_config_and_chart_follow_the_profile(cni: str) -> None:
    profile = PROFILES[cni]  # type: ignore[index]
    cfg = LabConfig(
        stack="t",
        cni=profile.name,
        kube_proxy_mode="none" if profile.replaces_kube_proxy else "iptables",
    )
    plugins = "/opt/plugins" if profile.needs_cni_plugins else None
    config = kind_cluster_config(cfg, cni_plugins_dir=plugins)
    networking = config["networking"]
    assert isinstance(networking, dict)
    assert networking["disableDefaultCNI"] is not profile.kind_builtin
    spec = cni_chart(cfg)
    assert (spec.chart if spec else None) == profile.chart
    assert cfg.enforces_network_policy is profile.enforces_policy
