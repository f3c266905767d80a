"""Both Pulumi programs of every stack, run under mocks: the resource graph, names, manifests.

Nothing here runs the Pulumi CLI; :mod:`pulumi_mocks` records what each program registers the way
the engine would receive it. Every Kubernetes object is validated offline: built-in kinds with
kubernetes-validate (strict) at the pinned Kubernetes version, MetalLB's custom resources against
the vendored CRD schemas.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import crd_validation
import kubernetes_validate
import pulumi
import pytest
import yaml
from pulumi_mocks import (
    CLUSTER_PROGRAM,
    KIND_LB_RANGE,
    KIND_NETWORK_INSPECT,
    LAB_PROGRAM,
    ProgramRun,
    Registration,
    engine_config,
    is_secret,
    normalise,
    reveal,
    run_program,
)

from packetwalk.host.toolchain import cni_plugins_dir
from packetwalk.lab import versions
from packetwalk.lab.config import REPO_ROOT, LabConfig, load_stack_config, stack_names
from packetwalk.lab.kindconfig import (
    INGRESS_HTTP_NODE_PORT,
    INGRESS_HTTPS_NODE_PORT,
    node_names,
    render_kind_config,
)
from packetwalk.lab.objects import lab_objects
from packetwalk.lab.urns import kind_recreate_urns

EXPECTED_STACKS = {
    # stack: (cni, kubeProxyMode)
    "kind": ("kindnet", "iptables"),
    "kind-flannel": ("flannel", "iptables"),
    "kind-calico": ("calico", "iptables"),
    "kind-cilium": ("cilium", "none"),
    "kind-ipvs": ("kindnet", "ipvs"),
    "kind-nftables": ("kindnet", "nftables"),
}
KIND_STACKS = sorted(EXPECTED_STACKS)
CLUSTER_OUTPUTS = {
    "kubeconfig",
    "kubeContext",
    "clusterName",
    "platform",
    "cni",
    "kubeProxyMode",
    "nodes",
    "lbAddressRange",
    "apiServerAddress",
}
LAB_OUTPUTS = {"voteUrl", "resultUrl", "ingressAddress", "appNamespace"}
CHART = "kubernetes:helm.sh/v4:Chart"
COMMAND = "command:local:Command"
PROVIDER = "pulumi:providers:kubernetes"


def _cluster(stack: str, **kwargs: Any) -> ProgramRun:
    return run_program(
        CLUSTER_PROGRAM,
        project="packetwalk-cluster",
        stack=stack,
        config=kwargs.pop("config", None) or engine_config(stack),
        **kwargs,
    )


def _lab(stack: str, cluster: ProgramRun | None = None, **kwargs: Any) -> ProgramRun:
    outputs = cluster.outputs if cluster is not None else None
    return run_program(
        LAB_PROGRAM,
        project="packetwalk-lab",
        stack=stack,
        config=kwargs.pop("config", None) or engine_config(stack),
        stack_outputs=outputs,
        **kwargs,
    )


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[LabConfig, ProgramRun, ProgramRun]]:
    """Each stack's config and its cluster and lab program runs (done once: they take ~0.2 s)."""
    result = {}
    for stack in KIND_STACKS:
        cfg = load_stack_config(stack)
        cluster = _cluster(stack)
        result[stack] = (cfg, cluster, _lab(stack, cluster))
    return result


def test_every_expected_stack_has_a_config_file() -> None:
    assert set(EXPECTED_STACKS) <= set(stack_names())
    for stack, (cni, mode) in EXPECTED_STACKS.items():
        cfg = load_stack_config(stack)
        assert (cfg.platform, cfg.cni, cfg.kube_proxy_mode) == ("kind", cni, mode)


def test_each_stack_has_its_own_kind_cluster() -> None:
    # Stacks sharing a cluster name would adopt each other's cluster (create is idempotent).
    names = [load_stack_config(stack).cluster_name for stack in EXPECTED_STACKS]
    assert len(set(names)) == len(names)


# --- the cluster program ----------------------------------------------------------------------


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_cluster_program_creates_kind_through_commands(runs: Any, stack: str) -> None:
    cfg, cluster, _ = runs[stack]
    [component] = cluster.of_type("packetwalk:cluster:KindCluster")
    assert component.name == cfg.cluster_name
    create = cluster.named("kind-cluster", COMMAND)
    assert create.parent == component.urn
    plugins = cni_plugins_dir(REPO_ROOT) if cfg.cni == "flannel" else None
    expected_config = render_kind_config(cfg, cni_plugins_dir=str(plugins) if plugins else None)
    assert create.inputs["stdin"] == expected_config
    assert create.inputs["triggers"] == [expected_config]
    assert (
        f"kind create cluster --name {cfg.cluster_name} --config - --wait"
        in create.inputs["create"]
    )
    assert f"kind get clusters 2>/dev/null | grep -qx {cfg.cluster_name}" in create.inputs["create"]
    assert create.inputs["delete"] == f"kind delete cluster --name {cfg.cluster_name}"
    assert create.delete_before_replace
    assert "triggers[*]" in create.replace_on_changes
    assert create.custom_timeouts["create"] == "10m"

    kind_config = yaml.safe_load(expected_config)
    assert kind_config["networking"]["disableDefaultCNI"] is (cfg.cni != "kindnet")
    assert kind_config["networking"]["kubeProxyMode"] == cfg.kube_proxy_mode
    assert kind_config["networking"]["podSubnet"] == cfg.pod_subnet

    kubeconfig = cluster.named("kubeconfig", COMMAND)
    assert kubeconfig.inputs["create"] == f"kind get kubeconfig --name {cfg.cluster_name}"
    assert kubeconfig.additional_secret_outputs == ["stdout"]
    assert create.urn in kubeconfig.dependencies
    network = cluster.named("kind-network", COMMAND)
    assert "docker network inspect" in network.inputs["create"]
    assert create.urn in network.dependencies


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_flannel_gets_verified_cni_plugins_before_the_cluster(runs: Any, stack: str) -> None:
    cfg, cluster, _ = runs[stack]
    plugins = [reg for reg in cluster.registrations if reg.name == "cni-plugins"]
    nodes = yaml.safe_load(cluster.named("kind-cluster", COMMAND).inputs["stdin"])["nodes"]
    if cfg.cni != "flannel":
        assert plugins == []
        assert all("extraMounts" not in node for node in nodes)
        return
    [command] = plugins
    script = command.inputs["create"]
    target = str(cni_plugins_dir(REPO_ROOT))
    assert target in script and versions.CNI_PLUGINS_VERSION in script
    assert "sha256sum -c" in script and ".sha256" in script
    assert command.urn in cluster.named("kind-cluster", COMMAND).dependencies
    for node in nodes:
        assert {"hostPath": target, "containerPath": "/opt/cni/bin"}.items() <= node["extraMounts"][
            0
        ].items()
        # Flannel's install-cni-plugin init container copies its binary into this directory.
        assert node["extraMounts"][0].get("readOnly") is not True


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_cluster_outputs_follow_the_interface(runs: Any, stack: str) -> None:
    cfg, cluster, _ = runs[stack]
    out = cluster.outputs
    assert set(out) == CLUSTER_OUTPUTS
    assert cluster.secret_outputs == {"kubeconfig"}
    assert yaml.safe_load(out["kubeconfig"])["current-context"] == f"kind-{cfg.cluster_name}"
    assert out["kubeContext"] == f"kind-{cfg.cluster_name}"
    assert out["clusterName"] == cfg.cluster_name
    assert (out["platform"], out["cni"], out["kubeProxyMode"]) == (
        "kind",
        cfg.cni,
        cfg.kube_proxy_mode,
    )
    assert out["nodes"] == node_names(cfg)
    assert len(out["nodes"]) == 1 + cfg.workers
    assert out["lbAddressRange"] == KIND_LB_RANGE
    inspect = json.loads(KIND_NETWORK_INSPECT)[0]["Containers"]
    [control_plane] = [
        c for c in inspect.values() if c["Name"] == f"{cfg.cluster_name}-control-plane"
    ]
    assert out["apiServerAddress"] == control_plane["IPv4Address"].partition("/")[0]


def test_an_intent_to_the_api_server_gets_the_control_plane_address(
    runs: Any, tmp_path: Path
) -> None:
    """`kubernetes.default` becomes egress to the ClusterIP and to the address the cluster stack
    read from Docker's network (the policy is registered once that output is known)."""
    _, cluster, _ = runs["kind"]
    intents = (REPO_ROOT / "stacks" / "intents" / "voting-app.yaml").read_text()
    intents += (
        "---\napiVersion: k8s.otterize.com/v2beta1\nkind: ClientIntents\n"
        "metadata: {name: db}\nspec:\n  workload: {name: db, kind: Deployment}\n"
        "  targets:\n    - service: {name: kubernetes.default}\n"
    )
    (tmp_path / "api.yaml").write_text(intents)
    config = {**engine_config("kind"), "packetwalk:intents": str(tmp_path / "api.yaml")}
    lab = _lab("kind", cluster, config=config)
    policy = lab.named("networkpolicy-vote-db-access").manifest
    cidrs = [
        peer["ipBlock"]["cidr"]
        for rule in policy["spec"]["egress"]
        for peer in rule.get("to", [])
        if "ipBlock" in peer
    ]
    assert cidrs == ["10.96.0.1/32", f"{cluster.outputs['apiServerAddress']}/32"]


# --- the lab program --------------------------------------------------------------------------


def _provider(run: ProgramRun) -> Registration:
    [provider] = run.of_type(PROVIDER)
    return provider


def _charts(run: ProgramRun) -> dict[str, Registration]:
    return {reg.name: reg for reg in run.of_type(CHART)}


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_lab_reaches_the_cluster_through_the_cluster_stack(runs: Any, stack: str) -> None:
    cfg, cluster, lab = runs[stack]
    [reference] = lab.of_type("pulumi:pulumi:StackReference")
    assert reference.inputs["name"] == f"organization/packetwalk-cluster/{stack}"
    provider = _provider(lab)
    assert is_secret(provider.inputs["kubeconfig"])
    assert reveal(provider.inputs["kubeconfig"]) == cluster.outputs["kubeconfig"]
    assert provider.inputs["context"] == f"kind-{cfg.cluster_name}"
    assert provider.inputs["deleteUnreachable"] == "true"
    assert provider.inputs["upsertExistingObjects"] == "true"


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_every_kubernetes_resource_uses_the_lab_provider(runs: Any, stack: str) -> None:
    # The default provider would deploy to whatever $KUBECONFIG points at.
    _, _, lab = runs[stack]
    provider = _provider(lab)
    kube = [reg for reg in lab.registrations if reg.type.startswith("kubernetes:")]
    assert kube
    for reg in kube:
        assert reg.provider.startswith(provider.urn + "::"), reg.urn


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_cni_chart_matches_the_stack(runs: Any, stack: str) -> None:
    cfg, _, lab = runs[stack]
    [cni] = lab.of_type("packetwalk:lab:Cni")
    charts = [reg for reg in lab.of_type(CHART) if reg.parent == cni.urn]
    if cfg.cni == "kindnet":
        assert charts == []  # kind runs kindnet itself
        assert [reg.name for reg in lab.registrations if reg.parent == cni.urn] == ["nodes-ready"]
        return
    [chart] = charts
    inputs = normalise(chart.inputs)
    assert (
        inputs["version"]
        == {
            "flannel": versions.FLANNEL_CHART_VERSION,
            "calico": versions.CALICO_VERSION,
            "cilium": versions.CILIUM_VERSION,
        }[cfg.cni]
    )
    values = inputs["values"]
    if cfg.cni == "flannel":
        assert (inputs["chart"], inputs["namespace"]) == ("flannel", "kube-flannel")
        assert inputs["repositoryOpts"]["repo"] == versions.FLANNEL_CHART_REPO
        assert values["podCidr"] == cfg.pod_subnet
    elif cfg.cni == "calico":
        assert (inputs["chart"], inputs["namespace"]) == ("tigera-operator", "tigera-operator")
        assert values["installation"] == {"enabled": False}  # the Installation is ours
        installation = lab.named("installation-default")
        assert installation.parent == cni.urn and chart.urn in installation.dependencies
        [pool] = installation.manifest["spec"]["calicoNetwork"]["ipPools"]
        assert pool["cidr"] == cfg.pod_subnet
        assert pool["encapsulation"] == "VXLANCrossSubnet"
    else:
        assert (inputs["chart"], inputs["namespace"]) == ("cilium", "kube-system")
        assert values["kubeProxyReplacement"] is True
        assert values["k8sServiceHost"] == f"{cfg.cluster_name}-control-plane"
        assert values["k8sServicePort"] == 6443
        assert values["ipam"] == {"mode": "kubernetes"}
    if inputs["namespace"] != "kube-system":  # no chart of ours creates its namespace
        namespace = lab.named(f"namespace-{inputs['namespace']}")
        assert (
            namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
            == "privileged"
        )
        assert namespace.urn in chart.dependencies


def test_calico_teardown_deletes_the_operator_resources_before_the_operator(runs: Any) -> None:
    """The chart's pre-delete hook is dropped by helm.v4.Chart: the order must do its job."""
    _, _, lab = runs["kind-calico"]
    order = lab.deletion_order()
    chart = _charts(lab)["calico"]
    operator_kinds = [
        "installation-default",
        "apiserver-default",
        "goldmane-default",
        "whisker-default",
    ]
    for name in operator_kinds:
        resource = lab.named(name)
        assert order.index(resource.urn) < order.index(chart.urn), name
        # pulumi-kubernetes waits for the object to be gone (the operator's finalizer)
        assert resource.custom_timeouts["delete"] == "10m", name
    # the others need the Installation: they go before it, it goes before the operator
    installation = order.index(lab.named("installation-default").urn)
    for name in operator_kinds[1:]:
        assert order.index(lab.named(name).urn) < installation, name


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_metallb_webhook_gate_dry_runs_the_very_pool(runs: Any, stack: str) -> None:
    _, cluster, lab = runs[stack]
    gate = lab.named("webhook-ready", COMMAND)
    assert "apply --dry-run=server" in gate.inputs["create"]
    environment = reveal(gate.inputs["environment"])
    assert is_secret(gate.inputs["environment"])
    assert environment["PACKETWALK_KUBECONFIG"] == cluster.outputs["kubeconfig"]
    listed = json.loads(environment["PACKETWALK_MANIFEST"])["items"]
    registered = [
        lab.named("ipaddresspool-metallb-system-lab-pool").manifest,
        lab.named("l2advertisement-metallb-system-lab-l2").manifest,
    ]
    assert [(o["kind"], o["spec"]) for o in listed] == [(o["kind"], o["spec"]) for o in registered]


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_everything_waits_for_ready_nodes_after_the_cni(runs: Any, stack: str) -> None:
    cfg, cluster, lab = runs[stack]
    [cni] = lab.of_type("packetwalk:lab:Cni")
    gate = lab.named("nodes-ready", COMMAND)
    assert gate.parent == cni.urn
    assert "wait --for=condition=Ready nodes --all" in gate.inputs["create"]
    environment = gate.inputs["environment"]
    assert is_secret(environment)  # the kubeconfig must not land in the state in clear text
    assert reveal(environment)["PACKETWALK_KUBECONFIG"] == cluster.outputs["kubeconfig"]
    assert reveal(environment)["PACKETWALK_KUBE_CONTEXT"] == f"kind-{cfg.cluster_name}"
    for chart in lab.of_type(CHART):
        if chart.parent == cni.urn:
            assert chart.urn in gate.dependencies
        else:
            assert lab.depends_transitively(chart, gate), chart.name


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_metallb_is_l2_only_with_the_cluster_pool(runs: Any, stack: str) -> None:
    _, _, lab = runs[stack]
    chart = _charts(lab)["metallb"]
    inputs = normalise(chart.inputs)
    assert (inputs["chart"], inputs["version"], inputs["namespace"]) == (
        "metallb",
        versions.METALLB_VERSION,
        "metallb-system",
    )
    assert inputs["values"]["speaker"]["frr"]["enabled"] is False
    assert inputs["values"]["speaker"]["ignoreExcludeLB"] is True
    assert inputs["values"]["frrk8s"]["enabled"] is False
    namespace = lab.named("namespace-metallb-system")
    assert (
        namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    )
    pool = lab.named("ipaddresspool-metallb-system-lab-pool")
    advertisement = lab.named("l2advertisement-metallb-system-lab-l2")
    assert pool.type == "kubernetes:metallb.io/v1beta1:IPAddressPool"
    assert pool.inputs["spec"]["addresses"] == [KIND_LB_RANGE]
    assert advertisement.inputs["spec"]["ipAddressPools"] == ["lab-pool"]
    for custom in (pool, advertisement):
        # the pool waits for the webhook gate, which waits for the chart
        gate = lab.named("webhook-ready", COMMAND)
        assert gate.urn in custom.dependencies and chart.urn not in custom.dependencies
        assert chart.urn in gate.dependencies


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_traefik_chart_values(runs: Any, stack: str) -> None:
    _, _, lab = runs[stack]
    inputs = normalise(_charts(lab)["traefik"].inputs)
    assert (inputs["chart"], inputs["version"], inputs["namespace"], inputs["name"]) == (
        "traefik",
        versions.TRAEFIK_CHART_VERSION,
        "traefik",
        "traefik",
    )
    assert inputs["repositoryOpts"]["repo"] == versions.TRAEFIK_CHART_REPO
    values = inputs["values"]
    assert values["service"]["spec"]["type"] == "LoadBalancer"
    assert values["service"]["annotations"] == {"metallb.io/loadBalancerIPs": "172.18.255.200"}
    assert values["ports"]["web"]["nodePort"] == INGRESS_HTTP_NODE_PORT
    assert values["ports"]["websecure"]["nodePort"] == INGRESS_HTTPS_NODE_PORT
    assert values["providers"]["kubernetesIngress"]["enabled"] is True
    assert values["providers"]["kubernetesCRD"]["enabled"] is True
    assert values["ingressClass"] == {"enabled": True, "isDefaultClass": True, "name": "traefik"}
    assert values["ingressRoute"]["healthcheck"]["enabled"] is True


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_lab_registers_exactly_the_lab_objects(runs: Any, stack: str) -> None:
    """One source of truth: what the evaluator reads (lab_objects) is what the stack deploys."""
    cfg, _, lab = runs[stack]
    [component] = lab.of_type("packetwalk:lab:LabObjects")
    registered = [reg.manifest for reg in lab.registrations if reg.parent == component.urn]
    expected = lab_objects(cfg)
    assert sorted(registered, key=_identity) == sorted(expected, key=_identity)
    kinds = Counter(obj["kind"] for obj in registered)
    assert kinds["Deployment"] == 5 and kinds["Ingress"] == 2
    assert kinds["NetworkPolicy"] >= 2  # default-deny plus the intents-generated allows


def _identity(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_install_order_cni_metallb_traefik_app(runs: Any, stack: str) -> None:
    cfg, _, lab = runs[stack]
    charts = _charts(lab)
    metallb, traefik = charts["metallb"], charts["traefik"]
    pool = lab.named("ipaddresspool-metallb-system-lab-pool")
    if cfg.cni != "kindnet":
        cni = charts[{"flannel": "flannel", "calico": "calico", "cilium": "cilium"}[cfg.cni]]
        assert lab.depends_transitively(metallb, cni)
        assert lab.depends_transitively(traefik, cni)
    assert lab.depends_transitively(traefik, metallb)
    assert lab.depends_transitively(traefik, pool)
    [component] = lab.of_type("packetwalk:lab:LabObjects")
    app = [reg for reg in lab.registrations if reg.parent == component.urn]
    for reg in app:
        assert lab.depends_transitively(reg, traefik), reg.name
    policies = [reg for reg in app if reg.type.endswith(":NetworkPolicy")]
    for deployment in (reg for reg in app if reg.type.endswith(":Deployment")):
        for policy in policies:  # no pod runs before its namespace's policies exist
            assert policy.urn in deployment.dependencies


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_lab_outputs(runs: Any, stack: str) -> None:
    cfg, _, lab = runs[stack]
    assert lab.outputs == {
        "voteUrl": "http://vote.localhost",
        "resultUrl": "http://result.localhost",
        "ingressAddress": "172.18.255.200",
        "appNamespace": cfg.app_namespace,
    }
    assert set(lab.outputs) == LAB_OUTPUTS


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_names_are_unique(runs: Any, stack: str) -> None:
    # The mock monitor keeps one entry per URN; a duplicate would silently replace another.
    _, cluster, lab = runs[stack]
    for run in (cluster, lab):
        urns = Counter(reg.urn for reg in run.registrations)
        assert [urn for urn, count in urns.items() if count > 1] == []
    objects = Counter(_identity(reg.manifest) for reg in lab.kubernetes_objects())
    assert [key for key, count in objects.items() if count > 1] == []


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_every_kubernetes_object_validates_strictly(runs: Any, stack: str) -> None:
    _, cluster, lab = runs[stack]
    assert cluster.kubernetes_objects() == []  # the cluster stack only runs commands
    custom = 0
    unvalidated: list[str] = []
    for reg in lab.kubernetes_objects():
        manifest = reg.manifest
        if crd_validation.known(manifest["apiVersion"], manifest["kind"]):
            crd_validation.validate(manifest)
            custom += 1
            continue
        try:
            kubernetes_validate.validate(manifest, versions.KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            if crd_validation.chart_crds_available():
                raise
            unvalidated.append(f"{manifest['apiVersion']} {manifest['kind']}")
    if unvalidated:  # their CRDs come only from the charts in ../shared/charts
        pytest.skip(
            f"no CRD here for {', '.join(sorted(set(unvalidated)))}: needs ../shared/charts"
        )
    # IPAddressPool and L2Advertisement; on Calico also the operator's four resources
    assert custom == (6 if runs[stack][0].cni == "calico" else 2)


def test_strict_validation_catches_a_misspelt_field(runs: Any) -> None:
    _, _, lab = runs["kind"]
    manifest = lab.named("networkpolicy-vote-default-deny").manifest
    manifest["spec"]["ingres"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, versions.KUBERNETES_VERSION, strict=True)


# --- other modes --------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["kind", "kind-cilium"])
def test_programs_preview_with_unknown_outputs(stack: str) -> None:
    # First preview of a lab: the cluster commands have not run, so their stdout is unknown.
    cluster = _cluster(stack, preview=True)
    assert cluster.named("kind-cluster", COMMAND).custom
    assert cluster.outputs["kubeconfig"] is None and cluster.outputs["lbAddressRange"] is None
    assert cluster.outputs["nodes"] == node_names(load_stack_config(stack))
    # The lab stack previews once the cluster stack is up (it reads that stack's outputs).
    lab = _lab(stack, cluster=_cluster(stack), preview=True)
    assert _charts(lab).keys() >= {"metallb", "traefik"}


def test_lab_on_a_cluster_made_elsewhere() -> None:
    config = engine_config("kind") | {
        "packetwalk:kubeconfig": "/tmp/ci/kubeconfig",
        "packetwalk:kubeContext": "kind-chart-testing",
    }
    lab = _lab("kind", config=config)
    assert lab.of_type("pulumi:pulumi:StackReference") == []
    provider = _provider(lab)
    assert provider.inputs["kubeconfig"] == "/tmp/ci/kubeconfig"
    assert provider.inputs["context"] == "kind-chart-testing"
    assert provider.inputs["upsertExistingObjects"] == "false"  # never adopt someone's objects
    network = lab.named("kind-network", COMMAND)
    assert "docker network inspect" in network.inputs["create"]
    gate_env = reveal(lab.named("nodes-ready", COMMAND).inputs["environment"])
    assert gate_env == {
        "PACKETWALK_KUBECONFIG_FILE": "/tmp/ci/kubeconfig",
        "PACKETWALK_KUBE_CONTEXT": "kind-chart-testing",
    }
    assert lab.named("ipaddresspool-metallb-system-lab-pool").inputs["spec"]["addresses"] == [
        KIND_LB_RANGE
    ]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("packetwalk:cni", "weave", "not a CNI"),
        ("packetwalk:kubeProxyMode", "none", "needs a CNI that replaces it"),
        ("packetwalk:workers", "many", "whole number"),
        ("packetwalk:cnii", "calico", "unknown setting"),
    ],
)
@pytest.mark.parametrize("program", ["cluster", "lab"])
def test_bad_config_fails_before_any_resource(
    program: str, key: str, value: str, message: str
) -> None:
    config = engine_config("kind") | {key: value}
    runner = _cluster if program == "cluster" else _lab
    registrations: list[Registration] = []
    with pytest.raises(pulumi.RunError) as err:
        runner("kind", config=config, registrations=registrations)
    assert message in str(err.value)
    assert "stacks/Pulumi.kind.yaml" in str(err.value)
    assert key in str(err.value)
    assert registrations == []


def test_missing_intents_file_fails_before_any_resource() -> None:
    config = engine_config("kind") | {"packetwalk:intents": "stacks/intents/missing.yaml"}
    registrations: list[Registration] = []
    with pytest.raises(pulumi.RunError, match=r"missing\.yaml"):
        _lab("kind", config=config, registrations=registrations)
    assert registrations == []


def test_every_platform_has_a_cluster_program() -> None:
    from components.cluster_stack import PLATFORMS, PROGRAMS
    from packetwalk.lab.cni import PLATFORMS as CONFIG_PLATFORMS

    assert set(PLATFORMS) | set(PROGRAMS) == set(CONFIG_PLATFORMS)
    # A GKE stack without a file of its own (regional: gcp:region instead of a zone).
    config = {"packetwalk:platform": "gke", "gcp:project": "demo", "gcp:region": "europe-west1"}
    run = _cluster("gke-demo", config=config)
    (cluster,) = run.of_type("gcp:container/cluster:Cluster")
    assert cluster.inputs["location"] == "europe-west1"
    assert run.outputs["kubeContext"] == "gke_demo_europe-west1_packetwalk"


def test_kind_network_without_ipv4_stops_the_run_with_the_reason() -> None:
    ipv6_only = '[{"Name": "kind", "IPAM": {"Config": [{"Subnet": "fc00:f853:ccd:e793::/64"}]}}]'
    with pytest.raises(pulumi.RunError, match="no IPv4 subnet"):
        _cluster("kind", network_inspect=ipv6_only)


@pytest.mark.parametrize(
    ("folder", "project"), [("cluster", "packetwalk-cluster"), ("lab", "packetwalk-lab")]
)
def test_project_files_share_one_config_folder(folder: str, project: str) -> None:
    project_dir = REPO_ROOT / "stacks" / folder
    settings = yaml.safe_load((project_dir / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert settings["name"] == project
    assert settings["runtime"]["name"] == "python"
    assert (
        project_dir / settings["runtime"]["options"]["virtualenv"]
    ).resolve() == REPO_ROOT / ".venv"
    # Pulumi resolves Pulumi.<stack>.yaml as <project dir>/<stackConfigDir>/Pulumi.<stack>.yaml.
    config_dir = (project_dir / settings["stackConfigDir"]).resolve()
    assert config_dir == REPO_ROOT / "stacks"
    for stack in EXPECTED_STACKS:
        assert (config_dir / f"Pulumi.{stack}.yaml").is_file()
    assert (project_dir / "__main__.py").is_file()


def test_cluster_reference_follows_the_organization_of_the_backend() -> None:
    # DIY backends (file://, gs://) have the organization "organization"; Pulumi Cloud the user's.
    lab = _lab("kind", _cluster("kind"), organization="acme")
    [reference] = lab.of_type("pulumi:pulumi:StackReference")
    assert reference.inputs["name"] == "acme/packetwalk-cluster/kind"


@pytest.mark.parametrize("stack", KIND_STACKS)
def test_recreate_urns_name_the_cluster_commands(runs: Any, stack: str) -> None:
    _, cluster, _ = runs[stack]
    urns = {reg.urn for reg in cluster.of_type(COMMAND)}
    wanted = kind_recreate_urns(stack)
    assert set(wanted) <= urns
    assert [cluster.by_urn(urn).name for urn in wanted] == [
        "kind-cluster",
        "kubeconfig",
        "kind-network",
    ]
