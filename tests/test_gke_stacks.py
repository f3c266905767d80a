"""The GKE stacks under Pulumi mocks: both programs, their resource graph, and every object.

Runs the real programs (stacks/cluster and stacks/lab) for ``gke`` (Dataplane V2, Gateway API)
and ``gke-calico`` (legacy datapath + Calico, GKE Ingress), plus workshop variants with several
participants on one cluster or one cluster each.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from typing import Any

import crd_validation
import kubernetes_validate
import pulumi
import pytest
import yaml
from pulumi_mocks import (
    CLUSTER_PROGRAM,
    GKE_ADDRESS_PREFIX,
    GKE_CA,
    GKE_ENDPOINT,
    LAB_PROGRAM,
    ProgramRun,
    Registration,
    engine_config,
    is_secret,
    reveal,
    run_program,
)

from components.gke_stack import pick_cluster
from packetwalk.lab import versions
from packetwalk.lab.config import load_stack_config, parse_lab_config
from packetwalk.lab.gke import HEALTH_CHECK_RANGES
from packetwalk.lab.objects import lab_objects

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
NETWORK = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"
ADDRESS = "gcp:compute/globalAddress:GlobalAddress"
PROVIDER = "pulumi:providers:kubernetes"
CHART = "kubernetes:helm.sh/v4:Chart"
GKE_STACKS = ["gke", "gke-calico"]
INTERFACE_OUTPUTS = {
    "kubeconfig",
    "kubeContext",
    "clusterName",
    "platform",
    "cni",
    "kubeProxyMode",
    "nodes",
    "lbAddressRange",
}


def _config(stack: str, **extra: str) -> dict[str, str]:
    return engine_config(stack) | {f"packetwalk:{key}": value for key, value in extra.items()}


def _cluster(stack: str, config: dict[str, str] | None = None, **kwargs: Any) -> ProgramRun:
    return run_program(
        CLUSTER_PROGRAM,
        project="packetwalk-cluster",
        stack=stack,
        config=config or engine_config(stack),
        **kwargs,
    )


def _lab(
    stack: str, cluster: ProgramRun, config: dict[str, str] | None = None, **kwargs: Any
) -> ProgramRun:
    return run_program(
        LAB_PROGRAM,
        project="packetwalk-lab",
        stack=stack,
        config=config or engine_config(stack),
        stack_outputs=cluster.outputs,
        **kwargs,
    )


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[ProgramRun, ProgramRun]]:
    result = {}
    for stack in GKE_STACKS:
        cluster = _cluster(stack)
        result[stack] = (cluster, _lab(stack, cluster))
    return result


def _text(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True)


def _one(run: ProgramRun, typ: str) -> Registration:
    (found,) = run.of_type(typ)
    return found


# --- cluster program ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_cluster_program_makes_network_cluster_pool_firewall_and_address(
    runs: Any, stack: str
) -> None:
    cluster, _ = runs[stack]
    types = Counter(reg.type for reg in cluster.registrations if reg.custom)
    assert types == {NETWORK: 1, SUBNET: 1, FIREWALL: 1, ADDRESS: 1, CLUSTER: 1, NODE_POOL: 1}
    cfg = load_stack_config(stack)
    assert cfg.gke is not None
    network = _one(cluster, NETWORK).inputs
    assert network["autoCreateSubnetworks"] is False
    subnet = _one(cluster, SUBNET).inputs
    assert subnet["network"] == f"{network['name']}-id"  # the mock's id of our VPC
    assert subnet["region"] == "europe-west1"
    ranges = {r["rangeName"]: r["ipCidrRange"] for r in subnet["secondaryIpRanges"]}
    assert ranges == {
        f"{cfg.cluster_name}-pods": cfg.pod_subnet,
        f"{cfg.cluster_name}-services": cfg.service_subnet,
    }
    gke = _one(cluster, CLUSTER).inputs
    assert gke["networkingMode"] == "VPC_NATIVE"
    assert gke["ipAllocationPolicy"] == {
        "clusterSecondaryRangeName": f"{cfg.cluster_name}-pods",
        "servicesSecondaryRangeName": f"{cfg.cluster_name}-services",
    }
    assert gke["subnetwork"] == f"{subnet['name']}-id"
    assert gke["releaseChannel"] == {"channel": "REGULAR"}
    assert gke["workloadIdentityConfig"] == {"workloadPool": "your-gcp-project.svc.id.goog"}
    assert gke["gatewayApiConfig"] == {"channel": "CHANNEL_STANDARD"}
    assert gke["addonsConfig"]["httpLoadBalancing"] == {"disabled": False}
    assert gke["removeDefaultNodePool"] is True and gke["initialNodeCount"] == 1
    assert gke["deletionProtection"] is False
    assert gke["location"] == "europe-west1-b" and gke["project"] == "your-gcp-project"


def test_dataplane_v2_stack_has_no_calico(runs: Any) -> None:
    gke = _one(runs["gke"][0], CLUSTER).inputs
    assert gke["datapathProvider"] == "ADVANCED_DATAPATH"
    assert "networkPolicy" not in gke
    assert gke["addonsConfig"]["networkPolicyConfig"] == {"disabled": True}


def test_calico_stack_has_legacy_datapath_and_both_calico_switches(runs: Any) -> None:
    gke = _one(runs["gke-calico"][0], CLUSTER).inputs
    assert gke["datapathProvider"] == "LEGACY_DATAPATH"
    assert gke["networkPolicy"] == {"enabled": True, "provider": "CALICO"}
    assert gke["addonsConfig"]["networkPolicyConfig"] == {"disabled": False}


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_exactly_one_policy_engine(runs: Any, stack: str) -> None:
    gke = _one(runs[stack][0], CLUSTER).inputs
    calico = gke.get("networkPolicy", {}).get("enabled") is True
    dataplane_v2 = gke["datapathProvider"] == "ADVANCED_DATAPATH"
    assert calico != dataplane_v2


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_node_pool(runs: Any, stack: str) -> None:
    cluster, _ = runs[stack]
    cfg = load_stack_config(stack)
    pool = _one(cluster, NODE_POOL)
    assert pool.inputs["cluster"] == cfg.cluster_name
    assert pool.inputs["name"] == "lab-pool"  # GKE allows 40 characters; cluster names may use all
    assert pool.inputs["nodeCount"] == 2 and pool.inputs["location"] == "europe-west1-b"
    node = pool.inputs["nodeConfig"]
    assert node["machineType"] == "e2-standard-4"
    assert node["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert node["tags"] == [f"{cfg.cluster_name}-node"]
    assert node["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]
    assert _one(cluster, CLUSTER).urn in pool.dependencies


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_health_check_firewall_targets_the_nodes(runs: Any, stack: str) -> None:
    cluster, _ = runs[stack]
    rule = _one(cluster, FIREWALL).inputs
    assert rule["direction"] == "INGRESS"
    assert rule["sourceRanges"] == list(HEALTH_CHECK_RANGES) == ["130.211.0.0/22", "35.191.0.0/16"]
    assert rule["allows"] == [{"protocol": "tcp", "ports": ["8000", "8080"]}]
    assert rule["targetTags"] == _one(cluster, NODE_POOL).inputs["nodeConfig"]["tags"]
    assert rule["network"] == _one(cluster, NETWORK).inputs["name"]


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_kubeconfig_uses_the_auth_plugin_and_is_secret(runs: Any, stack: str) -> None:
    cluster, _ = runs[stack]
    assert set(cluster.outputs) >= INTERFACE_OUTPUTS
    assert {"kubeconfig", "kubeconfigs"} <= cluster.secret_outputs
    config = yaml.safe_load(cluster.outputs["kubeconfig"])
    context = cluster.outputs["kubeContext"]
    assert context == f"gke_your-gcp-project_europe-west1-b_{cluster.outputs['clusterName']}"
    assert config["current-context"] == context
    (entry,) = config["clusters"]
    assert entry["cluster"] == {
        "server": f"https://{GKE_ENDPOINT}",
        "certificate-authority-data": GKE_CA,
    }
    (user,) = config["users"]
    assert set(user["user"]) == {"exec"}  # no token, password, client key or auth-provider
    assert user["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert user["user"]["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert cluster.outputs["kubeconfigs"] == {
        cluster.outputs["clusterName"]: cluster.outputs["kubeconfig"]
    }
    assert cluster.outputs["ingressAddress"] == f"{GKE_ADDRESS_PREFIX}1"
    assert (
        cluster.outputs["platform"],
        cluster.outputs["cni"],
        cluster.outputs["kubeProxyMode"],
    ) == ("gke", *{"gke": ("dataplane-v2", "none"), "gke-calico": ("calico", "iptables")}[stack])


# --- lab program -------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_lab_reaches_the_cluster_with_the_secret_kubeconfig(runs: Any, stack: str) -> None:
    cluster, lab = runs[stack]
    (ref,) = lab.of_type("pulumi:pulumi:StackReference")
    assert ref.inputs["name"] == f"organization/packetwalk-cluster/{stack}"
    provider = _one(lab, PROVIDER)
    assert is_secret(provider.inputs["kubeconfig"])
    assert reveal(provider.inputs["kubeconfig"]) == cluster.outputs["kubeconfig"]
    assert provider.inputs["deleteUnreachable"] == "true"
    for reg in lab.registrations:
        if reg.custom and reg.type.startswith("kubernetes:"):
            assert reg.provider.startswith(provider.urn), reg.urn


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_no_kind_machinery_on_gke(runs: Any, stack: str) -> None:
    _, lab = runs[stack]
    assert lab.of_type("command:local:Command") == []  # no CNI install, no kind network
    assert [reg.inputs["chart"] for reg in lab.of_type(CHART)] == ["traefik"]


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_traefik_is_a_cluster_ip_behind_the_load_balancer(runs: Any, stack: str) -> None:
    _, lab = runs[stack]
    chart = _one(lab, CHART).inputs
    assert (chart["version"], chart["namespace"]) == (versions.TRAEFIK_CHART_VERSION, "traefik")
    values = chart["values"]
    assert values["service"]["spec"]["type"] == "ClusterIP"
    assert values["ports"]["traefik"]["expose"] == {"default": True}  # /ping on 8080
    annotations = values["service"].get("annotations", {})
    if stack == "gke-calico":  # Ingress mode: NEGs by annotation, BackendConfig attached
        assert annotations == {
            "cloud.google.com/neg": '{"ingress": true}',
            "cloud.google.com/backend-config": '{"default": "traefik"}',
        }
    else:  # the Gateway controller makes its own NEGs
        assert annotations == {}


def test_gateway_front(runs: Any) -> None:
    cluster, lab = runs["gke"]
    gateway = lab.named("gateway-traefik-traefik").manifest
    assert gateway["spec"]["gatewayClassName"] == "gke-l7-global-external-managed"
    assert gateway["spec"]["addresses"] == [
        {"type": "NamedAddress", "value": cluster.outputs["ingressAddressName"]}
    ]
    assert _one(cluster, ADDRESS).inputs["name"] == cluster.outputs["ingressAddressName"]
    route = lab.named("httproute-traefik-traefik").manifest
    assert route["metadata"]["namespace"] == "traefik"
    assert route["spec"]["parentRefs"] == [{"kind": "Gateway", "name": "traefik"}]
    assert route["spec"]["rules"] == [{"backendRefs": [{"name": "traefik", "port": 80}]}]
    policy = lab.named("healthcheckpolicy-traefik-traefik").manifest
    assert policy["metadata"]["namespace"] == "traefik"  # the Service's namespace
    assert policy["spec"]["targetRef"] == {"group": "", "kind": "Service", "name": "traefik"}
    assert policy["spec"]["default"]["config"] == {
        "type": "HTTP",
        "httpHealthCheck": {
            "portSpecification": "USE_FIXED_PORT",
            "port": 8080,
            "requestPath": "/ping",
        },
    }
    assert lab.of_type("kubernetes:cloud.google.com/v1:BackendConfig") == []
    chart = _one(lab, CHART)
    for reg in (lab.named("gateway-traefik-traefik"), lab.named("httproute-traefik-traefik")):
        assert chart.urn in reg.dependencies


def test_ingress_front(runs: Any) -> None:
    cluster, lab = runs["gke-calico"]
    ingress = lab.named("ingress-traefik-traefik").manifest
    assert ingress["metadata"]["annotations"] == {
        "kubernetes.io/ingress.class": "gce",
        "kubernetes.io/ingress.global-static-ip-name": cluster.outputs["ingressAddressName"],
    }
    assert "ingressClassName" not in ingress["spec"]  # GKE ignores it; the annotation selects
    assert ingress["spec"]["defaultBackend"] == {
        "service": {"name": "traefik", "port": {"number": 80}}
    }
    backend = lab.named("backendconfig-traefik-traefik").manifest
    assert backend["spec"]["healthCheck"]["requestPath"] == "/ping"
    assert backend["spec"]["healthCheck"]["port"] == 8080
    assert backend["spec"]["healthCheck"]["type"] == "HTTP"
    assert lab.of_type("kubernetes:gateway.networking.k8s.io/v1:Gateway") == []


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_the_app_and_policies_are_the_kind_lab_on_nip_io_hosts(runs: Any, stack: str) -> None:
    cluster, lab = runs[stack]
    address = cluster.outputs["ingressAddress"]
    expected = lab_objects(
        load_stack_config(stack), host=lambda prefix: f"{prefix}.{address}.nip.io"
    )
    app = [
        reg.manifest
        for reg in lab.kubernetes_objects()
        if reg.parent.endswith("packetwalk:gke:LabObjects::app")
    ]
    assert sorted(map(_text, app)) == sorted(map(_text, expected))
    kinds = Counter(obj["kind"] for obj in app)
    assert kinds["NetworkPolicy"] == 6 and kinds["Deployment"] == 5 and kinds["Ingress"] == 2
    assert lab.outputs["voteUrl"] == f"http://vote.{address}.nip.io"
    assert lab.outputs["resultUrl"] == f"http://result.{address}.nip.io"
    assert lab.outputs["appNamespace"] == "vote"
    assert lab.outputs["participants"] == [
        {
            "name": "lab",
            "namespace": "vote",
            "cluster": cluster.outputs["clusterName"],
            "voteUrl": f"http://vote.{address}.nip.io",
            "resultUrl": f"http://result.{address}.nip.io",
            "ingressAddress": address,
        }
    ]


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_pods_start_only_after_their_policies(runs: Any, stack: str) -> None:
    _, lab = runs[stack]
    policies = [reg for reg in lab.kubernetes_objects() if reg.type.endswith("NetworkPolicy")]
    for deployment in lab.of_type("kubernetes:apps/v1:Deployment"):
        for policy in policies:
            assert policy.urn in deployment.dependencies


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_every_kubernetes_object_validates_strictly(runs: Any, stack: str) -> None:
    _, lab = runs[stack]
    custom = []
    for reg in lab.kubernetes_objects():
        manifest = reg.manifest
        if "." in manifest["apiVersion"].split("/")[0] and not manifest["apiVersion"].startswith(
            ("networking.k8s.io/", "apps/")
        ):
            custom.append(manifest["kind"])
            if crd_validation.known(manifest["apiVersion"], manifest["kind"]):
                crd_validation.validate(manifest)
            continue
        kubernetes_validate.validate(manifest, versions.KUBERNETES_VERSION, strict=True)
    expected = {
        "gke": ["Gateway", "HTTPRoute", "HealthCheckPolicy"],
        "gke-calico": ["BackendConfig"],
    }[stack]
    assert sorted(custom) == expected


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_names_are_unique(runs: Any, stack: str) -> None:
    for run in runs[stack]:
        urns = Counter(reg.urn for reg in run.registrations)
        assert [urn for urn, count in urns.items() if count > 1] == []


# --- workshops ---------------------------------------------------------------------------------


def test_participants_on_one_cluster() -> None:
    config = _config("gke", participants="3")
    cluster = _cluster("gke", config)
    assert Counter(reg.type for reg in cluster.registrations if reg.custom)[CLUSTER] == 1
    lab = _lab("gke", cluster, config)
    address = cluster.outputs["ingressAddress"]
    namespaces = sorted(
        reg.manifest["metadata"]["name"] for reg in lab.of_type("kubernetes:core/v1:Namespace")
    )
    assert namespaces == ["traefik", "vote-p01", "vote-p02", "vote-p03"]
    hosts = sorted(
        reg.manifest["spec"]["rules"][0]["host"]
        for reg in lab.of_type("kubernetes:networking.k8s.io/v1:Ingress")
    )
    assert hosts == sorted(
        f"{app}-p0{i}.{address}.nip.io" for app in ("vote", "result") for i in (1, 2, 3)
    )
    assert [(p["name"], p["namespace"], p["voteUrl"]) for p in lab.outputs["participants"]] == [
        (f"p0{i}", f"vote-p0{i}", f"http://vote-p0{i}.{address}.nip.io") for i in (1, 2, 3)
    ]
    assert len(lab.of_type(PROVIDER)) == 1 and len(lab.of_type(CHART)) == 1


def test_one_cluster_per_participant() -> None:
    config = _config("gke", participants="3", participantClusters="true")
    cluster = _cluster("gke", config)
    names = [f"packetwalk-gke-p0{i}" for i in (1, 2, 3)]
    assert sorted(reg.inputs["name"] for reg in cluster.of_type(CLUSTER)) == names
    assert len(cluster.of_type(NETWORK)) == 1  # one VPC, a subnet per cluster
    ranges = []
    for subnet in cluster.of_type(SUBNET):
        ranges.append(subnet.inputs["ipCidrRange"])
        ranges.extend(r["ipCidrRange"] for r in subnet.inputs["secondaryIpRanges"])
    networks = [ipaddress.ip_network(r) for r in ranges]
    assert len(networks) == 9
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])
    assert sorted(cluster.outputs["kubeconfigs"]) == names
    assert sorted(cluster.outputs["ingressAddresses"].values()) == [
        f"{GKE_ADDRESS_PREFIX}{i}" for i in (1, 2, 3)
    ]

    lab = _lab("gke", cluster, config)
    providers = lab.of_type(PROVIDER)
    assert len(providers) == 3
    assert sorted(reveal(p.inputs["kubeconfig"]) for p in providers) == sorted(
        cluster.outputs["kubeconfigs"].values()
    )
    # Each cluster's objects go through that cluster's provider.
    for provider in providers:
        suffix = provider.name.removeprefix("k8s")
        mine = [reg for reg in lab.kubernetes_objects() if reg.provider.startswith(provider.urn)]
        assert mine and all(reg.name.endswith(suffix) for reg in mine)
    urns = Counter(reg.urn for reg in lab.registrations)
    assert [urn for urn, count in urns.items() if count > 1] == []
    urls = {p["cluster"]: p["voteUrl"] for p in lab.outputs["participants"]}
    addresses = cluster.outputs["ingressAddresses"]
    assert urls == {name: f"http://vote.{addresses[name]}.nip.io" for name in names}


def test_lab_names_a_cluster_the_cluster_stack_lacks() -> None:
    # The stack's participants settings changed after the cluster stack's last up.
    assert pick_cluster({"packetwalk-gke": "k"}, "packetwalk-gke") == "k"
    with pytest.raises(
        pulumi.RunError,
        match=r"no cluster 'packetwalk-gke-p01' \(it has: "
        r"packetwalk-gke\); .* run `invoke up` again",
    ):
        pick_cluster({"packetwalk-gke": "k"}, "packetwalk-gke-p01")


def test_previews_before_the_cluster_exists() -> None:
    cluster = _cluster("gke", preview=True)
    assert cluster.outputs["kubeconfig"] is None and cluster.outputs["ingressAddress"] is None
    assert cluster.outputs["clusterName"] == "packetwalk-gke"
    assert len(cluster.of_type(CLUSTER)) == 1


def test_bad_gke_config_fails_before_any_resource() -> None:
    config = _config("gke", cni="cilium")
    registrations: list[Registration] = []
    with pytest.raises(pulumi.RunError) as err:
        _cluster("gke", config, registrations=registrations)
    assert "stacks/Pulumi.gke.yaml" in str(err.value) and "dataplane-v2" in str(err.value)
    assert registrations == []


def test_project_and_location_are_required() -> None:
    values = {"packetwalk:platform": "gke", "gcp:region": "europe-west1"}
    with pytest.raises(Exception, match="gcp:project is required"):
        parse_lab_config("g", values, source="g")


def test_own_domain_instead_of_nip_io() -> None:
    config = _config("gke", participants="2", domain="lab.example.org")
    cluster = _cluster("gke", config)
    lab = _lab("gke", cluster, config)
    hosts = sorted(
        reg.manifest["spec"]["rules"][0]["host"]
        for reg in lab.of_type("kubernetes:networking.k8s.io/v1:Ingress")
    )
    assert hosts == [
        "result-p01.lab.example.org",
        "result-p02.lab.example.org",
        "vote-p01.lab.example.org",
        "vote-p02.lab.example.org",
    ]
    assert lab.outputs["voteUrl"] == "http://vote-p01.lab.example.org"
    assert lab.outputs["participants"][1]["resultUrl"] == "http://result-p02.lab.example.org"
