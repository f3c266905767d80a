"""The GKE plan (packetwalk/lab/gke.py): clusters, address ranges, kubeconfig, Traefik values."""

from __future__ import annotations

import ipaddress
import itertools
import re
from typing import Any

import pytest
import yaml

from packetwalk.lab.charts import gke_traefik_chart
from packetwalk.lab.config import MAX_PARTICIPANTS, STACKS_DIR, LabConfig, parse_lab_config
from packetwalk.lab.gke import (
    AUTH_PLUGIN,
    clusters,
    context_name,
    firewall_name,
    kubeconfig,
    network_name,
    nip_domain,
)


def gke(stack: str = "gke", **extra: object) -> LabConfig:
    values = yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
    values.update({f"packetwalk:{key}": value for key, value in extra.items()})
    return parse_lab_config(stack, values, source=f"stacks/Pulumi.{stack}.yaml")


def test_one_cluster_uses_the_configured_ranges() -> None:
    cfg = gke()
    (only,) = clusters(cfg)
    assert only.name == "packetwalk-gke" and only.index == 0
    assert (only.node_range, only.pods_range, only.services_range) == (
        "10.0.0.0/24",
        cfg.pod_subnet,
        cfg.service_subnet,
    )
    assert (only.pods_range_name, only.services_range_name) == (
        "packetwalk-gke-pods",
        "packetwalk-gke-services",
    )
    assert only.address_name == "packetwalk-gke-ingress"
    assert only.node_tag == "packetwalk-gke-node"
    assert firewall_name(only) == "packetwalk-gke-allow-health-checks"
    assert network_name(cfg) == "packetwalk-gke-vpc"
    assert [p.namespace for p in only.participants] == ["vote"]


def test_the_largest_workshop_gets_disjoint_ranges() -> None:
    cfg = gke(participants=MAX_PARTICIPANTS, participantClusters=True)
    plans = clusters(cfg)
    assert len(plans) == MAX_PARTICIPANTS
    ranges = [
        ipaddress.ip_network(r)
        for plan in plans
        for r in (plan.node_range, plan.pods_range, plan.services_range)
    ]
    ranges.sort(key=lambda n: (int(n.network_address), n.prefixlen))
    for left, right in itertools.pairwise(ranges):
        assert not left.overlaps(right), (left, right)
    # Each pod range holds a /24 per node for the largest node pool (nodeCount <= 100).
    assert all(ipaddress.ip_network(p.pods_range).prefixlen <= 17 for p in plans)
    names = [p.name for p in plans]
    assert len(set(names)) == len(names) and all(len(n) <= 40 for n in names)
    assert {len(p.participants) for p in plans} == {1}


def test_shared_cluster_holds_every_participant() -> None:
    (only,) = clusters(gke(participants=30))
    assert [p.namespace for p in only.participants][:2] == ["vote-p01", "vote-p02"]
    assert len(only.participants) == 30


def test_kind_stacks_have_no_gke_plan() -> None:
    with pytest.raises(ValueError, match="not a GKE stack"):
        clusters(LabConfig(stack="kind"))


def test_kubeconfig_has_only_the_exec_plugin() -> None:
    context = context_name("proj", "europe-west1-b", "lab")
    assert context == "gke_proj_europe-west1-b_lab"
    config: dict[str, Any] = yaml.safe_load(
        kubeconfig(context=context, endpoint="203.0.113.10", ca_certificate="Q0E=")
    )
    assert config["current-context"] == context
    assert config["clusters"][0]["cluster"] == {
        "server": "https://203.0.113.10",
        "certificate-authority-data": "Q0E=",
    }
    exec_ = config["users"][0]["user"]["exec"]
    assert config["users"][0]["user"] == {"exec": exec_}
    assert exec_["command"] == AUTH_PLUGIN
    assert exec_["provideClusterInfo"] is True
    assert "gcloud components install gke-gcloud-auth-plugin" in exec_["installHint"]
    assert config["contexts"][0]["context"] == {"cluster": context, "user": context}


def test_nip_domain() -> None:
    assert nip_domain("34.120.1.2") == "34.120.1.2.nip.io"
    with pytest.raises(ValueError):
        nip_domain("not-an-ip")


def test_traefik_values_per_front() -> None:
    gateway = gke_traefik_chart(gke("gke")).values
    assert gateway["service"] == {"spec": {"type": "ClusterIP"}}
    assert gateway["ports"]["traefik"]["expose"] == {"default": True}
    ingress = gke_traefik_chart(gke("gke-calico")).values
    assert ingress["service"]["annotations"] == {
        "cloud.google.com/neg": '{"ingress": true}',
        "cloud.google.com/backend-config": '{"default": "traefik"}',
    }
    for values in (gateway, ingress):
        assert values["ingressClass"]["name"] == "traefik"
        assert values["ingressRoute"]["healthcheck"]["entryPoints"] == ["web"]


@pytest.mark.parametrize(
    "extra",
    [
        {"clusterName": "a" * 40},
        {"clusterName": "b" * 36, "participants": 60, "participantClusters": True},
    ],
)
def test_every_google_cloud_name_is_valid_at_the_longest(extra: dict[str, object]) -> None:
    cfg = gke("gke", **extra)
    rfc1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
    names = [network_name(cfg)]
    for plan in clusters(cfg):
        assert len(plan.name) <= 40  # GKE's cluster name limit
        names += [
            plan.subnet,
            plan.pods_range_name,
            plan.services_range_name,
            plan.address_name,
            plan.node_tag,
            firewall_name(plan),
        ]
    bad = [name for name in names if not rfc1035.match(name)]
    assert bad == []
