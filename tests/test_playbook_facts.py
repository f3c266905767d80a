"""Stack facts: from the stack config alone, and completed from the cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from packetwalk.cluster.model import NodeInfo, PodInfo
from packetwalk.cluster.state import ClusterState
from packetwalk.errors import InputError
from packetwalk.kube.fake import FakeCluster
from packetwalk.lab.config import GkeSettings, LabConfig, load_stack_config
from packetwalk.lab.gke import ingress_host
from packetwalk.lab.kindconfig import kind_node_names
from packetwalk.lab.objects import lab_objects
from packetwalk.playbook.facts import (
    cluster_facts,
    lab_facts,
    offline_facts,
    participant_namespace,
    select_participant,
    static_facts,
)
from packetwalk.playbook.templating import TemplateError, Unknown, render_string


def test_kind_facts_from_the_stack_config() -> None:
    facts = static_facts(LabConfig(stack="kind-calico", cluster_name="pw", cni="calico", workers=3))
    assert facts["nodes"] == ["pw-control-plane", "pw-worker", "pw-worker2", "pw-worker3"]
    assert facts["control_plane"] == "pw-control-plane"
    assert facts["workers"] == ["pw-worker", "pw-worker2", "pw-worker3"]
    assert (facts["cni"], facts["kube_proxy_mode"], facts["kube_context"]) == (
        "calico",
        "iptables",
        "kind-pw",
    )
    assert facts["enforces_network_policy"] is True and facts["has_kube_proxy"] is True
    flannel = static_facts(LabConfig(stack="kind-flannel", cni="flannel"))
    assert flannel["enforces_network_policy"] is False
    assert kind_node_names("x", 1) == ["x-control-plane", "x-worker"]


def test_offline_facts_mark_cluster_values_unknown() -> None:
    facts = offline_facts(LabConfig(stack="kind"))
    assert isinstance(facts["node_ips"], Unknown)
    assert render_string("{{ services.vote.redis.cluster_ip }}", facts).__str__() == (
        "{{ services.vote.redis.cluster_ip }}"
    )


def test_cluster_facts() -> None:
    fake = FakeCluster(
        nodes=[
            NodeInfo("lab-worker", "172.18.0.3"),
            NodeInfo(
                "lab-control-plane", "172.18.0.2", {"node-role.kubernetes.io/control-plane": ""}
            ),
        ],
        pods=[
            PodInfo("vote", "vote-1", "10.244.1.5", "lab-worker", {"app": "vote"}),
            PodInfo("vote", "vote-2", "10.244.1.6", "lab-worker", {"app": "vote"}),
            PodInfo(
                "kube-system",
                "coredns-1",
                "10.244.0.3",
                "lab-control-plane",
                {"k8s-app": "kube-dns"},
            ),
        ],
        objects={
            "services": [
                {
                    "metadata": {"name": "vote", "namespace": "vote"},
                    "spec": {
                        "type": "LoadBalancer",
                        "clusterIP": "10.96.1.1",
                        "ports": [{"port": 8080, "nodePort": 31000}],
                    },
                    "status": {"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}]}},
                },
                {
                    "metadata": {"name": "kube-dns", "namespace": "kube-system"},
                    "spec": {"clusterIP": "10.96.0.10"},
                },
            ]
        },
    )
    facts = cluster_facts(LabConfig(stack="kind", cluster_name="lab"), fake)
    assert facts["nodes"] == ["lab-control-plane", "lab-worker"]
    assert facts["workers"] == ["lab-worker"] and facts["control_plane"] == "lab-control-plane"
    assert facts["node_ips"] == {"lab-worker": "172.18.0.3", "lab-control-plane": "172.18.0.2"}
    assert facts["app_pods"]["vote"]["name"] == "vote-1"
    assert "kube-dns" not in facts["app_pods"] and len(facts["pods"]) == 3
    assert facts["services"]["vote"]["vote"] == {
        "cluster_ip": "10.96.1.1",
        "type": "LoadBalancer",
        "ports": [{"protocol": "TCP", "port": 8080, "targetPort": 8080, "nodePort": 31000}],
        "external_ip": "172.18.255.200",
    }
    assert facts["services"]["kube-system"]["kube-dns"]["type"] == "ClusterIP"


def test_a_malformed_service_is_an_error_naming_the_field() -> None:
    fake = FakeCluster(
        objects={"services": [{"metadata": {"name": "x"}, "spec": {"ports": [{"port": "http"}]}}]}
    )
    with pytest.raises(
        InputError,
        match=r"^cluster: Service default/x: spec.ports\[0\].port: "
        "must be a port number",
    ):
        cluster_facts(LabConfig(stack="kind"), fake)


def test_facts_from_a_snapshot_equal_the_live_ones() -> None:
    service = {
        "kind": "Service",
        "metadata": {"name": "vote", "namespace": "vote"},
        "spec": {"clusterIP": "None", "ports": [{"name": "web", "port": 80, "targetPort": "http"}]},
    }
    pod = {
        "kind": "Pod",
        "metadata": {"name": "vote-1", "namespace": "vote", "labels": {"app": "vote"}},
        "spec": {"nodeName": "lab-worker", "containers": [{"name": "vote"}]},
        "status": {"podIP": "10.244.1.5", "phase": "Running"},
    }
    node = {
        "kind": "Node",
        "metadata": {"name": "lab-worker"},
        "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.3"}]},
    }
    cfg = LabConfig(stack="kind", cluster_name="lab")
    saved = lab_facts(cfg, ClusterState.from_objects([service, pod, node]))
    live = cluster_facts(
        cfg,
        FakeCluster(
            pods=[
                PodInfo("vote", "vote-1", "10.244.1.5", "lab-worker", {"app": "vote"}, ("vote",))
            ],
            nodes=[NodeInfo("lab-worker", "172.18.0.3")],
            objects={"services": [service]},
        ),
    )
    assert saved == live
    assert saved["services"]["vote"]["vote"] == {
        "cluster_ip": None,
        "type": "ClusterIP",
        "external_ip": None,
        "ports": [{"name": "web", "protocol": "TCP", "port": 80, "targetPort": "http"}],
    }


# -- workshop participants ------------------------------------------------------------------------

WORKSHOP = Path(__file__).parent / "data" / "workshop"


def _workshop() -> LabConfig:
    return load_stack_config("gke-workshop", WORKSHOP)


def test_facts_are_the_participants() -> None:
    cfg = _workshop()
    twelfth = static_facts(cfg, select_participant(cfg, 12))
    assert twelfth["app_namespace"] == "vote-p12"
    assert twelfth["app_hosts"] == {
        "vote": "vote-p12.lab.example.org",
        "result": "result-p12.lab.example.org",
    }
    assert twelfth["participant"] == {
        "number": 12,
        "name": "p12",
        "namespace": "vote-p12",
        "count": 12,
        "shares_cluster": True,
        "option": " --participant 12",
    }
    first = offline_facts(cfg, select_participant(cfg, 1))
    assert first["app_namespace"] == "vote-p01"
    assert render_string("{{ app_namespace }}/{{ participant.name }}", first) == "vote-p01/p01"


def test_a_single_participant_keeps_the_plain_names() -> None:
    cfg = LabConfig(stack="kind")
    facts = static_facts(cfg, select_participant(cfg, 0))
    assert facts["app_namespace"] == "vote"
    assert facts["app_hosts"] == {"vote": "vote.localhost", "result": "result.localhost"}
    assert facts["participant"]["name"] == "lab" and facts["participant"]["count"] == 1
    assert facts["participant"]["option"] == ""
    assert select_participant(cfg, 1) == select_participant(cfg, 0)


def test_gke_hosts_without_a_domain_are_unknown_offline() -> None:
    cfg = LabConfig(
        stack="g",
        platform="gke",
        cni="dataplane-v2",
        kube_proxy_mode="none",
        gke=GkeSettings(project="p", region=None, zone="z", participants=3),
    )
    assert isinstance(static_facts(cfg, select_participant(cfg, 2))["app_hosts"], Unknown)


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (13, "--participant: stack gke-workshop has no participant 13 (valid: 1 to 12)"),
        (-1, "--participant: stack gke-workshop has no participant -1 (valid: 1 to 12)"),
        (0, "--participant: stack gke-workshop has 12 participants: say which one you are"),
    ],
)
def test_a_wrong_participant_names_the_option_and_the_range(number: int, message: str) -> None:
    with pytest.raises(InputError) as caught:
        select_participant(_workshop(), number)
    assert str(caught.value).startswith(message)
    assert caught.value.location == "--participant"


def test_a_single_participant_stack_has_only_participant_1() -> None:
    with pytest.raises(InputError, match=r"no participant 2 \(valid: 1 "):
        select_participant(LabConfig(stack="kind"), 2)


def test_the_namespace_a_command_works_in() -> None:
    """``--participant`` gives the participant's namespace, ``--namespace`` alone is taken as
    given, and never another participant's with ``--participant``."""
    cfg = _workshop()
    assert participant_namespace(cfg, 3) == "vote-p03"
    assert participant_namespace(cfg, 3, "vote-p03") == "vote-p03"
    assert participant_namespace(cfg, 3, "traefik") == "traefik"
    assert participant_namespace(cfg, 0, "vote-p04") == "vote-p04"
    assert participant_namespace(LabConfig(stack="kind")) == "vote"
    with pytest.raises(InputError) as caught:
        participant_namespace(cfg, 3, "vote-p04")
    assert caught.value.location == "--namespace"
    assert "participant 3's is vote-p03" in str(caught.value)
    with pytest.raises(InputError, match="say which one you are"):
        participant_namespace(cfg)


def test_app_pods_are_the_participants() -> None:
    cfg = _workshop()
    fake = FakeCluster(
        pods=[
            PodInfo(f"vote-p{n:02d}", f"vote-{n}", f"10.0.0.{n}", "n", {"app": "vote"}, ("v",))
            for n in (3, 4)
        ]
    )
    facts = cluster_facts(cfg, fake, select_participant(cfg, 4))
    assert facts["app_pods"]["vote"]["namespace"] == "vote-p04"
    facts = cluster_facts(cfg, fake, select_participant(cfg, 3))
    assert facts["app_pods"]["vote"]["name"] == "vote-3"


def test_lab_facts_name_the_participants_lab_namespace_folder_and_hosts() -> None:
    cfg = _workshop()
    third = static_facts(cfg, select_participant(cfg, 3))
    assert third["lab_namespace"] == "packetwalk-lab-p03"
    assert third["lab_dir"] == ".packetwalk/lab/gke-workshop-p03"
    assert third["lab_hosts"] == {"whoami": "whoami-p03.lab.example.org"}
    alone = static_facts(LabConfig(stack="kind"))
    assert (alone["lab_namespace"], alone["lab_dir"]) == ("packetwalk-lab", ".packetwalk/lab/kind")
    assert alone["lab_hosts"] == {"whoami": "whoami.localhost"}


def test_a_participant_with_a_namespace_role_reads_only_their_namespaces() -> None:
    """On a shared cluster the facts list pods and Services per own namespace (a Role there
    allows it); nodes are cluster-scoped, so they are refused, and any template using them
    fails with the API's reason instead of rendering a placeholder into a command."""
    cfg = _workshop()
    fake = FakeCluster(
        pods=[
            PodInfo(ns, f"{app}-1", "10.0.0.9", "n", {"app": app}, ("c",))
            for ns, app in (("vote-p03", "vote"), ("packetwalk-lab-p03", "netshoot"))
        ],
        nodes=[NodeInfo("gke-a", "10.0.0.2")],
        objects={"services": []},
    )
    fake.role_namespaces = frozenset({"vote-p03", "packetwalk-lab-p03"})
    facts = cluster_facts(cfg, fake, select_participant(cfg, 3))
    assert {p["namespace"] for p in facts["pods"]} == {"vote-p03", "packetwalk-lab-p03"}
    listed = {c.namespace for c in fake.calls if c.kind in ("pods", "get_objects")}
    assert listed == {"vote-p03", "packetwalk-lab-p03"}
    with pytest.raises(TemplateError, match=r"workers cannot be read from the cluster.*forbidden"):
        render_string("ip route on {{ workers[0] }}", facts)
    fake.role_namespaces = None
    facts = cluster_facts(cfg, fake, select_participant(cfg, 3))
    assert facts["workers"] == ["gke-a"] and facts["control_plane"] is None


def _gke_without_domain() -> LabConfig:
    return LabConfig(
        stack="g",
        platform="gke",
        cni="dataplane-v2",
        kube_proxy_mode="none",
        gke=GkeSettings(project="p", region=None, zone="z", participants=3),
    )


def test_gke_hosts_without_a_domain_come_from_the_lab_stacks_ingress_rules() -> None:
    """The lab stack wrote the load balancer's nip.io names into the app's Ingress rules
    (lab_objects with lab.gke.ingress_host): the facts read them back from there."""
    cfg = _gke_without_domain()
    who = select_participant(cfg, 2)
    objects = [
        obj
        for obj in lab_objects(cfg, host=lambda prefix: ingress_host(prefix, "34.1.2.3", None))
        if obj["kind"] == "Ingress"
    ]
    fake = FakeCluster(objects={"ingresses": objects, "services": []})
    facts = cluster_facts(cfg, fake, who)
    assert facts["app_hosts"] == {
        "vote": "vote-p02.34.1.2.3.nip.io",
        "result": "result-p02.34.1.2.3.nip.io",
    }
    assert facts["lab_hosts"] == {"whoami": "whoami-p02.34.1.2.3.nip.io"}
    bare = cluster_facts(cfg, FakeCluster(objects={"services": []}), who)
    assert isinstance(bare["app_hosts"], Unknown)  # no Ingress yet: still unknown, not guessed
