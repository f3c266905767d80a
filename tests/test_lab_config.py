"""Stack config validation: defaults, every rule, errors naming file, line, key and choices."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from packetwalk.errors import InputError
from packetwalk.lab.config import (
    DEFAULT_INTENTS_FILE,
    KNOWN_KEYS,
    STACKS_DIR,
    GkeSettings,
    LabConfig,
    load_stack_config,
    parse_lab_config,
    stack_names,
)


def write_stack(tmp_path: Path, body: str, stack: str = "lab") -> Path:
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return path


def load_error(tmp_path: Path, body: str) -> InputError:
    write_stack(tmp_path, body)
    with pytest.raises(InputError) as info:
        load_stack_config("lab", tmp_path)
    return info.value


def test_defaults() -> None:
    cfg = parse_lab_config("kind", {}, source="Pulumi.kind.yaml")
    assert cfg == LabConfig(stack="kind", source="Pulumi.kind.yaml")
    assert (cfg.platform, cfg.cluster_name, cfg.cni, cfg.kube_proxy_mode, cfg.workers) == (
        "kind",
        "packetwalk",
        "kindnet",
        "iptables",
        2,
    )
    assert (cfg.pod_subnet, cfg.service_subnet, cfg.app_namespace) == (
        "10.244.0.0/16",
        "10.96.0.0/16",
        "vote",
    )
    assert cfg.intents_file == DEFAULT_INTENTS_FILE
    assert cfg.gke is None and cfg.kubeconfig is None
    assert cfg.node_count == 3 and cfg.enforces_network_policy and cfg.has_kube_proxy


def test_full_kind_file(tmp_path: Path) -> None:
    write_stack(
        tmp_path,
        """
        config:
          packetwalk:clusterName: lab-1
          packetwalk:cni: cilium
          packetwalk:kubeProxyMode: none
          packetwalk:workers: "3"          # pulumi config set writes strings
          packetwalk:podSubnet: 10.100.0.0/16
          packetwalk:serviceSubnet: 10.200.0.0/20
          packetwalk:appNamespace: shop
          packetwalk:intents: labs/intents/shop.yaml
          packetwalk:kubeconfig: ~/.kube/ci
          packetwalk:kubeContext: kind-ci
          kubernetes:deleteUnreachable: "true"
          pulumi:tags: {lab: yes}
          gcp:project: ignored-on-kind
        encryptionsalt: v1:abc
    """,
    )
    cfg = load_stack_config("lab", tmp_path)
    assert cfg.cluster_name == "lab-1" and cfg.cni == "cilium"
    assert cfg.kube_proxy_mode == "none" and not cfg.has_kube_proxy
    assert cfg.workers == 3 and cfg.node_count == 4
    assert cfg.pod_subnet == "10.100.0.0/16" and cfg.service_subnet == "10.200.0.0/20"
    assert cfg.app_namespace == "shop" and cfg.intents_file == "labs/intents/shop.yaml"
    assert cfg.kubeconfig == "~/.kube/ci" and cfg.kube_context == "kind-ci"
    assert cfg.uses_existing_cluster
    assert cfg.source.endswith("Pulumi.lab.yaml")
    assert cfg.intents_path(Path("/repo")) == Path("/repo/labs/intents/shop.yaml")


def test_empty_file_and_empty_config_give_defaults(tmp_path: Path) -> None:
    write_stack(tmp_path, "")
    assert load_stack_config("lab", tmp_path).cni == "kindnet"
    write_stack(tmp_path, "config:\n")
    assert load_stack_config("lab", tmp_path).workers == 2


def test_unknown_cni_names_file_line_key_and_choices(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        config:
          packetwalk:workers: 1
          packetwalk:cni: weave
    """,
    )
    text = str(err)
    assert "Pulumi.lab.yaml:line 3" in text
    assert "packetwalk:cni" in text and "'weave'" in text
    assert err.choices == ("kindnet", "flannel", "calico", "cilium")
    assert err.location == "line 3"


def test_close_cni_gets_a_suggestion(tmp_path: Path) -> None:
    err = load_error(tmp_path, "config:\n  packetwalk:cni: calcio\n")
    assert "did you mean 'calico'" in str(err)


def test_kube_proxy_none_needs_cilium(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        config:
          packetwalk:cni: calico
          packetwalk:kubeProxyMode: none
    """,
    )
    assert "line 3" in str(err) and "packetwalk:kubeProxyMode" in str(err)
    assert "cilium" in str(err)
    assert err.choices == ("iptables", "ipvs", "nftables")


@pytest.mark.parametrize("mode", ["iptables", "ipvs", "nftables"])
@pytest.mark.parametrize("cni", ["kindnet", "flannel", "calico", "cilium"])
def test_every_cni_works_with_every_kube_proxy(cni: str, mode: str) -> None:
    cfg = parse_lab_config(
        "s", {"packetwalk:cni": cni, "packetwalk:kubeProxyMode": mode}, source="s"
    )
    assert (cfg.cni, cfg.kube_proxy_mode) == (cni, mode)
    assert cfg.enforces_network_policy == (cni != "flannel")


def test_unknown_mode(tmp_path: Path) -> None:
    err = load_error(tmp_path, "config:\n  packetwalk:kubeProxyMode: ebpf\n")
    assert "line 2" in str(err) and err.choices == ("iptables", "ipvs", "nftables", "none")


def test_typo_key_suggests_the_right_one(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        config:
          packetwalk:cni: kindnet
          packetwalk:kubeproxyMode: ipvs
    """,
    )
    assert "line 3" in str(err)
    assert "unknown setting" in str(err)
    assert "did you mean 'packetwalk:kubeProxyMode'" in str(err)


def test_case_slip_key_suggests_the_right_one() -> None:
    with pytest.raises(InputError, match="did you mean 'packetwalk:podSubnet'"):
        parse_lab_config("s", {"packetwalk:PODSUBNET": "10.1.0.0/16"}, source="s")


def test_key_without_namespace(tmp_path: Path) -> None:
    err = load_error(tmp_path, "config:\n  cni: calico\n")
    assert "did you mean 'packetwalk:cni'" in str(err) and "line 2" in str(err)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("packetwalk:workers: two", "expected a whole number, got string 'two'"),
        ("packetwalk:workers: 2.5", "expected a whole number, got number 2.5"),
        ("packetwalk:workers: true", "expected a whole number, got boolean True"),
        ("packetwalk:workers: [1]", "expected a whole number, got list"),
        ("packetwalk:cni: 3", "expected a string, got number 3"),
        ("packetwalk:clusterName: {a: b}", "expected a string, got mapping"),
        ("packetwalk:workers: 11", "11 is out of range (valid: 0..10)"),
        ("packetwalk:workers: -1", "-1 is out of range"),
        ("packetwalk:cni: ''", "must not be empty"),
        ("packetwalk:cni:", "expected a string, got no value"),
    ],
)
def test_wrong_types_and_ranges(tmp_path: Path, line: str, message: str) -> None:
    err = load_error(tmp_path, f"config:\n  {line}\n")
    assert message in str(err)
    assert "line 2" in str(err)


def test_yaml11_words_are_not_booleans(tmp_path: Path) -> None:
    # `yes` would be True under YAML 1.1 (PyYAML's default); Pulumi reads it as a string.
    err = load_error(
        tmp_path,
        """
        config:
          gcp:project: p
          gcp:zone: europe-west1-b
          packetwalk:platform: gke
          packetwalk:participantClusters: yes
    """,
    )
    assert "expected true or false, got string 'yes'" in str(err) and "line 5" in str(err)


def test_booleans_as_yaml_or_pulumi_strings() -> None:
    base = {"packetwalk:platform": "gke", "gcp:project": "p", "gcp:region": "europe-west1"}
    for raw, expected in ((True, True), ("false", False), ("True", True)):
        cfg = parse_lab_config("g", {**base, "packetwalk:participantClusters": raw}, source="s")
        assert cfg.gke is not None and cfg.gke.participant_clusters is expected


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    err = load_error(tmp_path, "config:\n  packetwalk:cni: calico\n  packetwalk:cni: cilium\n")
    assert "duplicate key" in str(err) and "line 3" in str(err)


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    err = load_error(tmp_path, "config:\n  packetwalk:cni: [calico\n")
    assert "not valid YAML" in str(err) and "Pulumi.lab.yaml" in str(err)


@pytest.mark.parametrize(
    ("pods", "services", "message"),
    [
        ("10.96.0.0/12", "10.96.0.0/16", "overlaps podSubnet"),
        ("10.0.0.0/8", "10.96.0.0/16", "overlaps podSubnet"),
        ("10.244.1.0/16", "10.96.0.0/16", "not a CIDR block"),
        ("10.244.0.0/33", "10.96.0.0/16", "not a CIDR block"),
        ("fd00::/56", "10.96.0.0/16", "IPv6"),
        ("10.244.0.0/24", "10.96.0.0/16", "too small"),
        ("10.244.0.0/16", "10.0.0.0/8", "too large"),
    ],
)
def test_subnets(tmp_path: Path, pods: str, services: str, message: str) -> None:
    err = load_error(
        tmp_path,
        f"""
        config:
          packetwalk:podSubnet: {pods}
          packetwalk:serviceSubnet: {services}
    """,
    )
    assert message in str(err)
    assert "line 2" in str(err) or "line 3" in str(err)


def test_pod_subnet_must_fit_every_node() -> None:
    ok = parse_lab_config(
        "s", {"packetwalk:podSubnet": "10.1.0.0/22", "packetwalk:workers": 3}, source="s"
    )
    assert ok.pod_subnet == "10.1.0.0/22"
    with pytest.raises(InputError, match="5 node"):
        parse_lab_config(
            "s", {"packetwalk:podSubnet": "10.1.0.0/22", "packetwalk:workers": 4}, source="s"
        )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("clusterName", "Lab", "not a valid cluster name"),
        ("clusterName", "1lab", "not a valid cluster name"),
        ("clusterName", "a" * 41, "at most 40"),
        ("appNamespace", "kube-system", "belongs to the cluster"),
        ("appNamespace", "traefik", "belongs to the cluster"),
        ("appNamespace", "Vote", "not a valid namespace"),
        ("kubeContext", "kind-x", "needs packetwalk:kubeconfig"),
    ],
)
def test_names(key: str, value: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_lab_config("s", {f"packetwalk:{key}": value}, source="s")


@pytest.mark.parametrize(
    "key",
    [
        "machineType",
        "nodeCount",
        "releaseChannel",
        "ingressMode",
        "participants",
        "participantClusters",
    ],
)
def test_gke_keys_on_kind_are_errors(tmp_path: Path, key: str) -> None:
    err = load_error(tmp_path, f"config:\n  packetwalk:cni: kindnet\n  packetwalk:{key}: x\n")
    assert "is a GKE setting" in str(err) and "line 3" in str(err)


def test_gke_defaults() -> None:
    cfg = parse_lab_config(
        "gke",
        {"packetwalk:platform": "gke", "gcp:project": "p1", "gcp:zone": "europe-west1-b"},
        source="s",
    )
    assert cfg.platform == "gke" and cfg.cni == "dataplane-v2" and cfg.kube_proxy_mode == "none"
    assert cfg.gke == GkeSettings(project="p1", region=None, zone="europe-west1-b")
    assert cfg.gke.location == "europe-west1-b"
    assert (cfg.gke.machine_type, cfg.gke.node_count, cfg.gke.release_channel) == (
        "e2-standard-4",
        2,
        "REGULAR",
    )
    assert (cfg.gke.ingress_mode, cfg.gke.participants, cfg.gke.participant_clusters) == (
        "gateway",
        1,
        False,
    )
    assert cfg.node_count == 2 and cfg.workers == 0


def test_gke_calico_runs_iptables_kube_proxy() -> None:
    cfg = parse_lab_config(
        "gke",
        {
            "packetwalk:platform": "gke",
            "packetwalk:cni": "calico",
            "gcp:project": "p",
            "gcp:region": "us-central1",
            "packetwalk:kubeProxyMode": "iptables",
            "packetwalk:releaseChannel": "RAPID",
            "packetwalk:ingressMode": "ingress",
            "packetwalk:participants": "12",
            "packetwalk:nodeCount": 3,
        },
        source="s",
    )
    assert cfg.kube_proxy_mode == "iptables" and cfg.gke is not None
    assert cfg.gke.location == "us-central1" and cfg.gke.participants == 12
    assert cfg.node_count == 3


def test_gke_rules(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        """
        config:
          gcp:project: p
          gcp:zone: europe-west1-b
          packetwalk:platform: gke
          packetwalk:kubeProxyMode: iptables
    """,
    )
    assert "conflicts with cni 'dataplane-v2'" in str(err) and "line 5" in str(err)
    err = load_error(tmp_path, "config:\n  packetwalk:platform: gke\n  gcp:zone: z\n")
    assert "gcp:project is required" in str(err) and "line 2" in str(err)
    err = load_error(tmp_path, "config:\n  packetwalk:platform: gke\n  gcp:project: p\n")
    assert "gcp:region or gcp:zone" in str(err)
    err = load_error(
        tmp_path,
        """
        config:
          gcp:project: p
          gcp:zone: z
          packetwalk:platform: gke
          packetwalk:cni: kindnet
    """,
    )
    assert err.choices == ("dataplane-v2", "calico")
    err = load_error(
        tmp_path,
        """
        config:
          gcp:project: p
          gcp:zone: z
          packetwalk:platform: gke
          packetwalk:workers: 3
    """,
    )
    assert "packetwalk:nodeCount" in str(err)
    err = load_error(
        tmp_path,
        """
        config:
          gcp:project: p
          gcp:zone: z
          packetwalk:platform: gke
          packetwalk:participants: 0
    """,
    )
    assert "out of range" in str(err) and "line 5" in str(err)


def test_unknown_platform_choices(tmp_path: Path) -> None:
    err = load_error(tmp_path, "config:\n  packetwalk:platform: eks\n")
    assert err.choices == ("kind", "gke")


def test_misspelt_config_section_is_not_silently_ignored(tmp_path: Path) -> None:
    err = load_error(tmp_path, "encryptionsalt: v1:x\nconfg:\n  packetwalk:cni: calico\n")
    assert "unknown top-level key 'confg'" in str(err) and "did you mean 'config'" in str(err)
    assert "line 2" in str(err)


def test_config_must_be_a_mapping(tmp_path: Path) -> None:
    err = load_error(tmp_path, "config:\n  - packetwalk:cni\n")
    assert "must be a mapping" in str(err) and "line 1" in str(err)


def test_stack_names_and_missing_stack(tmp_path: Path) -> None:
    write_stack(tmp_path, "config: {}\n", "kind")
    write_stack(tmp_path, "config: {}\n", "kind-calico")
    (tmp_path / "Pulumi.yaml").write_text("name: x\n")
    assert stack_names(tmp_path) == ["kind", "kind-calico"]
    with pytest.raises(InputError) as info:
        load_stack_config("kind-calcio", tmp_path)
    assert "did you mean 'kind-calico'" in str(info.value)
    assert info.value.choices == ("kind", "kind-calico")


@pytest.mark.parametrize("stack", stack_names(STACKS_DIR))
def test_the_repository_stacks_load(stack: str) -> None:
    cfg = load_stack_config(stack, STACKS_DIR)
    assert cfg.stack == stack
    assert cfg.intents_path().is_file(), f"{stack}: intents file {cfg.intents_file} is missing"


# --- robustness: any input gives a LabConfig or an InputError, never a crash ----------------------

_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 300),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "kindnet",
            "flannel",
            "calico",
            "cilium",
            "dataplane-v2",
            "none",
            "ipvs",
            "iptables",
            "nftables",
            "gke",
            "kind",
            "10.244.0.0/16",
            "10.96.0.0/12",
            "192.168.0.0/16",
            "3",
            "true",
            "yes",
            "",
            "REGULAR",
            "gateway",
            "p",
        ]
    ),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_KEYS = st.one_of(
    st.sampled_from([*KNOWN_KEYS, "gcp:project", "gcp:zone", "gcp:region"]), st.text(max_size=20)
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=8))
def test_any_config_parses_or_fails_cleanly(values: dict[str, object]) -> None:
    try:
        cfg = parse_lab_config("h", values, source="h.yaml")
    except InputError as err:
        assert str(err).startswith("h.yaml:")
        return
    assert cfg.platform in ("kind", "gke")
    assert (cfg.gke is None) == (cfg.platform == "kind")
    if cfg.kube_proxy_mode == "none":
        assert cfg.cni in ("cilium", "dataplane-v2")


@pytest.mark.parametrize(
    "value",
    ["[dataplane-v2, calico]", "dataplane-v2+calico", "'calico, dataplane-v2'", "[calico, cilium]"],
)
def test_gke_refuses_dataplane_v2_and_calico_together(tmp_path: Path, value: str) -> None:
    err = load_error(
        tmp_path,
        "config:\n  gcp:project: p\n  gcp:zone: z\n"
        f"  packetwalk:platform: gke\n  packetwalk:cni: {value}\n",
    )
    assert "Dataplane V2 and Calico network policy exclude each other" in str(err)
    assert "line 5" in str(err) and err.choices == ("dataplane-v2", "calico")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("packetwalk:participants: 61", "out of range (valid: 1..60)"),
        ("packetwalk:participants: 3\n  packetwalk:participantClusters: yes", "true or false"),
        ("packetwalk:kubeconfig: /tmp/k", "a GKE lab runs on the clusters its cluster stack makes"),
        (
            "packetwalk:participants: 3\n  packetwalk:participantClusters: true\n"
            "  packetwalk:clusterName: a-very-long-cluster-name-for-a-workshop",
            "too long for one cluster per participant",
        ),
        (
            "packetwalk:participants: 3\n  packetwalk:appNamespace: " + "n" * 61,
            "too long for 3 participants",
        ),
    ],
)
def test_gke_workshop_settings(tmp_path: Path, extra: str, message: str) -> None:
    err = load_error(
        tmp_path,
        f"config:\n  gcp:project: p\n  gcp:zone: z\n  packetwalk:platform: gke\n  {extra}\n",
    )
    assert message in str(err)


def test_gke_datapath_and_calico_flags() -> None:
    base = {"packetwalk:platform": "gke", "gcp:project": "p", "gcp:zone": "z"}
    dpv2 = parse_lab_config("g", base, source="s")
    calico = parse_lab_config("g", base | {"packetwalk:cni": "calico"}, source="s")
    assert (dpv2.gke_datapath_provider, dpv2.gke_calico_policy) == ("ADVANCED_DATAPATH", False)
    assert (calico.gke_datapath_provider, calico.gke_calico_policy) == ("LEGACY_DATAPATH", True)
    assert not LabConfig(stack="kind", cni="calico").gke_calico_policy  # kind's Calico is a CNI


def test_gke_domain(tmp_path: Path) -> None:
    base = "config:\n  gcp:project: p\n  gcp:zone: z\n  packetwalk:platform: gke\n"
    cfg_path = tmp_path / "Pulumi.s.yaml"
    cfg_path.write_text(base + "  packetwalk:domain: lab.example.org\n")
    cfg = load_stack_config("s", tmp_path)
    assert cfg.gke is not None and cfg.gke.domain == "lab.example.org"
    err = load_error(tmp_path, base + "  packetwalk:domain: Lab_Example\n")
    assert "not a DNS name" in str(err) and "line 5" in str(err)
    err = load_error(
        tmp_path,
        base + "  packetwalk:participants: 2\n"
        "  packetwalk:participantClusters: true\n  packetwalk:domain: a.example.org\n",
    )
    assert "one wildcard record can point at only one address" in str(err)
    err = load_error(tmp_path, "config:\n  packetwalk:domain: a.example.org\n")
    assert "is a GKE setting" in str(err)
