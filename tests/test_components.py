"""The component building blocks: manifest -> resource mapping, chart specs, and the shell the
kind commands run (executed here against fake ``kind``, ``docker`` and ``curl`` executables)."""

from __future__ import annotations

from pathlib import Path

import pulumi_kubernetes as k8s
import pytest
from conftest import run_sh, write_executable

from components import kube
from components.gates import nodes_ready_script
from components.kind_cluster import (
    create_cluster_script,
    delete_cluster_script,
    network_inspect_script,
)
from packetwalk.lab import versions
from packetwalk.lab.charts import (
    PRIVILEGED_PSA,
    calico_operator_resources,
    cni_chart,
    metallb_chart,
    namespace_object,
    traefik_chart,
)
from packetwalk.lab.config import LabConfig
from packetwalk.lab.kindconfig import INGRESS_HTTP_NODE_PORT, INGRESS_HTTPS_NODE_PORT

# --- manifests -> pulumi_kubernetes classes ------------------------------------------------------


@pytest.mark.parametrize(
    ("api_version", "kind", "expected"),
    [
        ("v1", "Namespace", k8s.core.v1.Namespace),
        ("v1", "Service", k8s.core.v1.Service),
        ("apps/v1", "Deployment", k8s.apps.v1.Deployment),
        ("networking.k8s.io/v1", "NetworkPolicy", k8s.networking.v1.NetworkPolicy),
        ("networking.k8s.io/v1", "Ingress", k8s.networking.v1.Ingress),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", k8s.rbac.v1.ClusterRole),
        ("batch/v1", "Job", k8s.batch.v1.Job),
        ("metallb.io/v1beta1", "IPAddressPool", None),
        ("gateway.networking.k8s.io/v1", "HTTPRoute", None),
        ("k8s.otterize.com/v2beta1", "ClientIntents", None),
        ("apps/v1", "NoSuchKind", None),
        ("apps/v99", "Deployment", None),
    ],
)
def test_typed_class(api_version: str, kind: str, expected: type | None) -> None:
    assert kube.typed_class(api_version, kind) is expected


def test_resource_names_are_kind_namespace_name() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "redis", "namespace": "vote"},
    }
    assert kube.resource_name(deployment) == "deployment-vote-redis"
    assert kube.resource_name(namespace_object("vote")) == "namespace-vote"


def test_unknown_top_level_field_is_refused_not_dropped() -> None:
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "specc": {}}
    with pytest.raises(ValueError, match="specc"):
        kube.register(bad, opts=None)  # type: ignore[arg-type]  # fails before using opts
    custom = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "x"},
        "spec": {},
        "data": {},
    }
    with pytest.raises(ValueError, match="only metadata and spec"):
        kube.register(custom, opts=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="apiVersion/kind"):
        kube.register({"metadata": {"name": "x"}}, opts=None)  # type: ignore[arg-type]


# --- chart specs ---------------------------------------------------------------------------------


def test_kindnet_needs_no_chart() -> None:
    assert cni_chart(LabConfig(stack="t", cni="kindnet")) is None


def test_cni_pools_follow_a_custom_pod_subnet() -> None:
    flannel = cni_chart(LabConfig(stack="t", cni="flannel", pod_subnet="10.200.0.0/16"))
    calico = cni_chart(LabConfig(stack="t", cni="calico", pod_subnet="10.200.0.0/16"))
    assert flannel is not None and calico is not None
    assert flannel.values["podCidr"] == "10.200.0.0/16"
    assert flannel.values["netpol"] == {"enabled": False}  # the non-enforcing lab
    [installation, *_] = calico_operator_resources(
        LabConfig(stack="t", cni="calico", pod_subnet="10.200.0.0/16")
    )
    assert installation["kind"] == "Installation"
    assert installation["spec"]["calicoNetwork"]["ipPools"][0]["cidr"] == "10.200.0.0/16"
    assert calico.values["installation"] == {"enabled": False}  # ours, deleted before the chart
    assert calico.namespace_labels == PRIVILEGED_PSA and calico.create_namespace
    # The flannel chart has no Namespace template: kube-flannel is ours, and privileged.
    assert flannel.create_namespace and flannel.namespace_labels == PRIVILEGED_PSA


def test_cilium_replaces_kube_proxy_only_without_one() -> None:
    kpr = cni_chart(LabConfig(stack="t", cluster_name="lab", cni="cilium", kube_proxy_mode="none"))
    plain = cni_chart(LabConfig(stack="t", cni="cilium", kube_proxy_mode="iptables"))
    assert kpr is not None and plain is not None
    assert kpr.values["kubeProxyReplacement"] is True
    assert (kpr.values["k8sServiceHost"], kpr.values["k8sServicePort"]) == (
        "lab-control-plane",
        6443,
    )
    assert plain.values["kubeProxyReplacement"] is False
    assert "k8sServiceHost" not in plain.values
    assert not kpr.create_namespace and kpr.namespace == "kube-system"


def test_every_chart_version_comes_from_versions_module() -> None:
    specs = [metallb_chart(), traefik_chart()]
    specs += [
        spec
        for cni in ("flannel", "calico", "cilium")
        if (spec := cni_chart(LabConfig(stack="t", cni=cni))) is not None
    ]
    pinned = {value for name, value in vars(versions).items() if name.isupper()}
    for spec in specs:
        assert spec.version in pinned and spec.repo in pinned, spec.release


def test_traefik_node_ports_are_the_kind_port_mappings() -> None:
    values = traefik_chart("172.18.255.200").values
    assert values["ports"]["web"]["nodePort"] == INGRESS_HTTP_NODE_PORT
    assert values["ports"]["websecure"]["nodePort"] == INGRESS_HTTPS_NODE_PORT
    assert values["service"]["annotations"] == {"metallb.io/loadBalancerIPs": "172.18.255.200"}
    assert values["service"]["spec"] == {"type": "LoadBalancer"}
    assert "annotations" not in traefik_chart(None).values["service"]


def test_traefik_namespace_admits_root_capture_containers() -> None:
    labels = traefik_chart().namespace_labels
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"


# --- the shell the kind commands run ------------------------------------------------------------

NODES = ["packetwalk-control-plane", "packetwalk-worker", "packetwalk-worker2"]


def test_create_runs_kind_with_the_config_on_stdin(bin_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "kind.log"
    write_executable(
        bin_dir,
        "kind",
        f"""echo "$@" >> {log}
case "$1" in
  get) echo other-lab ;;
  create) cat > {tmp_path}/stdin.yaml ;;
esac
""",
    )
    result = run_sh(create_cluster_script("packetwalk", NODES), bin_dir, stdin="kind: Cluster\n")
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "get clusters",
        "create cluster --name packetwalk --config - --wait 120s",
    ]
    assert (tmp_path / "stdin.yaml").read_text() == "kind: Cluster\n"


def _fake_kind_with(bin_dir: Path, log: Path, nodes: list[str]) -> None:
    listing = "\\n".join(nodes)
    write_executable(
        bin_dir,
        "kind",
        f"""echo "$@" >> {log}
[ "$1 $2" = "get clusters" ] && printf 'packetwalk-calico\\npacketwalk\\n'
[ "$1 $2" = "get nodes" ] && printf '{listing}\\n'
exit 0
""",
    )


def test_create_adopts_a_cluster_left_by_an_interrupted_up(bin_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "kind.log"
    _fake_kind_with(bin_dir, log, list(reversed(NODES)))  # kind lists nodes in any order
    result = run_sh(create_cluster_script("packetwalk", NODES), bin_dir, stdin="kind: Cluster\n")
    assert result.returncode == 0, result.stderr
    assert "already exists with the expected nodes" in result.stdout
    assert log.read_text().splitlines() == ["get clusters", "get nodes --name packetwalk"]


def test_create_refuses_a_same_named_cluster_with_other_nodes(
    bin_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "kind.log"
    _fake_kind_with(bin_dir, log, ["packetwalk-control-plane"])
    result = run_sh(create_cluster_script("packetwalk", NODES), bin_dir, stdin="kind: Cluster\n")
    assert result.returncode == 1
    assert "already exists with other nodes" in result.stderr
    assert "kind delete cluster --name packetwalk" in result.stderr
    assert "create" not in log.read_text()


def test_create_does_not_mistake_a_prefix_for_the_cluster(bin_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "kind.log"
    write_executable(
        bin_dir,
        "kind",
        f"""echo "$@" >> {log}
[ "$1" = get ] && echo packetwalk-calico
exit 0
""",
    )
    assert run_sh(create_cluster_script("packetwalk", NODES), bin_dir).returncode == 0
    assert "create cluster --name packetwalk --config - --wait 120s" in log.read_text()


def test_delete_and_network_commands(bin_dir: Path) -> None:
    write_executable(bin_dir, "kind", 'echo "kind $*"\n')
    write_executable(bin_dir, "docker", 'echo "docker $*"\n')
    deleted = run_sh(delete_cluster_script("lab"), bin_dir)
    assert deleted.stdout == "kind delete cluster --name lab\n"
    assert run_sh(network_inspect_script(), bin_dir).stdout == "docker network inspect kind\n"
    other = run_sh(
        network_inspect_script(), bin_dir, env={"KIND_EXPERIMENTAL_DOCKER_NETWORK": "lab"}
    )
    assert other.stdout == "docker network inspect lab\n"


def test_nodes_ready_gate_writes_kubeconfig_content_to_a_private_file(
    bin_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "kubectl.log"
    write_executable(
        bin_dir,
        "kubectl",
        f"""echo "$@" >> {log}
cp "$2" {tmp_path}/seen-kubeconfig
""",
    )
    result = run_sh(
        nodes_ready_script(),
        bin_dir,
        env={
            "PACKETWALK_KUBECONFIG": "apiVersion: v1\nkind: Config\n",
            "PACKETWALK_KUBE_CONTEXT": "kind-lab",
        },
    )
    assert result.returncode == 0, result.stderr
    [line] = log.read_text().splitlines()
    args = line.split()
    assert args[0] == "--kubeconfig" and args[2:4] == ["--context", "kind-lab"]
    assert args[4:] == ["wait", "--for=condition=Ready", "nodes", "--all", "--timeout=300s"]
    assert (tmp_path / "seen-kubeconfig").read_text() == "apiVersion: v1\nkind: Config\n"
    assert not Path(args[1]).exists()  # removed afterwards


def test_nodes_ready_gate_uses_a_kubeconfig_file_as_is(bin_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "kubectl.log"
    write_executable(bin_dir, "kubectl", f'echo "$@" >> {log}\n')
    result = run_sh(
        nodes_ready_script(), bin_dir, env={"PACKETWALK_KUBECONFIG_FILE": "/ci/kubeconfig"}
    )
    assert result.returncode == 0, result.stderr
    assert log.read_text().split() == [
        "--kubeconfig",
        "/ci/kubeconfig",
        "wait",
        "--for=condition=Ready",
        "nodes",
        "--all",
        "--timeout=300s",
    ]


def test_nodes_ready_gate_fails_when_nodes_stay_not_ready(bin_dir: Path) -> None:
    write_executable(bin_dir, "kubectl", 'echo "timed out waiting for the condition" >&2; exit 1\n')
    result = run_sh(nodes_ready_script(), bin_dir, env={"PACKETWALK_KUBECONFIG": "x"})
    assert result.returncode == 1 and "timed out" in result.stderr
