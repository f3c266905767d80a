"""Each cluster of a stack is reached by the context its maker wrote, never the current one."""

from __future__ import annotations

import pytest

from packetwalk.cli.clusters import participant_context
from packetwalk.errors import InputError
from packetwalk.lab.config import GkeSettings, LabConfig
from packetwalk.lab.contexts import credentials_hint, kube_context
from packetwalk.lab.participants import participants


def _gke(*, participants: int = 1, own_clusters: bool = False, region: bool = False) -> LabConfig:
    return LabConfig(
        stack="ws",
        platform="gke",
        cni="dataplane-v2",
        kube_proxy_mode="none",
        cluster_name="ws",
        gke=GkeSettings(
            project="proj",
            region="europe-west1" if region else None,
            zone=None if region else "europe-west1-b",
            participants=participants,
            participant_clusters=own_clusters,
        ),
    )


def test_kind_uses_kinds_context_and_an_explicit_one_wins() -> None:
    assert kube_context(LabConfig(stack="kind", cluster_name="pw")) == "kind-pw"
    explicit = LabConfig(stack="ci", kubeconfig="/k", kube_context="kind-ci")
    assert kube_context(explicit) == "kind-ci"
    assert kube_context(LabConfig(stack="ci", kubeconfig="/k")) is None  # that file's current


def test_gke_uses_the_context_gcloud_get_credentials_writes() -> None:
    # gcloud: ClusterConfig.KUBECONTEXT_FORMAT = 'gke_{project}_{zone}_{cluster}'
    assert kube_context(_gke()) == "gke_proj_europe-west1-b_ws"
    assert kube_context(_gke(region=True)) == "gke_proj_europe-west1_ws"


def test_each_participant_cluster_has_its_own_context() -> None:
    cfg = _gke(participants=3, own_clusters=True)
    contexts = [kube_context(cfg, p.cluster) for p in participants(cfg)]
    assert contexts == [f"gke_proj_europe-west1-b_ws-p0{i}" for i in (1, 2, 3)]
    assert participant_context(cfg, 2) == "gke_proj_europe-west1-b_ws-p02"
    assert participant_context(cfg, 2, "mine") == "mine"
    with pytest.raises(InputError, match="3 participants"):
        participant_context(cfg, 0)  # no one cluster to choose


def test_a_shared_cluster_is_everyones_context() -> None:
    cfg = _gke(participants=12)
    assert (
        participant_context(cfg, 0) == participant_context(cfg, 7) == "gke_proj_europe-west1-b_ws"
    )


def test_the_hint_says_how_to_get_a_missing_gke_context() -> None:
    cfg = _gke(participants=2, own_clusters=True)
    hint = credentials_hint(cfg, "ws-p02")
    assert "gcloud container clusters get-credentials ws-p02 --location europe-west1-b" in hint
    assert "--project proj" in hint
    assert "get-credentials" not in credentials_hint(LabConfig(stack="kind"))
