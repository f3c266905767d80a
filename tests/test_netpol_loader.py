"""Reading manifests: every input shape, every pod-owning kind, and errors that name the file,
the object and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from packetwalk.cluster.model import NAME_LABEL
from packetwalk.errors import InputError
from packetwalk.netpol.loader import cluster_from_objects, load_cluster

TEMPLATE = (
    "template: {metadata: {labels: {app: %s}}, "
    "spec: {containers: [{name: c, ports: [{containerPort: 80, name: http}]}]}}"
)


def workload(kind: str, name: str, api: str = "apps/v1") -> str:
    spec = f"spec: {{{TEMPLATE % name}}}"
    if kind == "CronJob":
        spec = f"spec: {{schedule: '* * * * *', jobTemplate: {{spec: {{{TEMPLATE % name}}}}}}}"
    meta = f"metadata: {{name: {name}, namespace: w}}"
    return f"---\napiVersion: {api}\nkind: {kind}\n{meta}\n{spec}\n"


def test_every_pod_owning_kind_becomes_a_workload(tmp_path: Path) -> None:
    text = "".join(
        [
            workload("Deployment", "d"),
            workload("ReplicaSet", "rs"),
            workload("StatefulSet", "ss"),
            workload("DaemonSet", "ds"),
            workload("Job", "j", "batch/v1"),
            workload("CronJob", "cj", "batch/v1"),
            workload("ReplicationController", "rc", "v1"),
            "---\napiVersion: v1\nkind: Pod\n"
            "metadata: {name: bare, namespace: w, labels: {app: bare}}\n",
            "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
        ]
    )
    (tmp_path / "all.yaml").write_text(text)
    cluster = load_cluster([tmp_path])
    got = sorted((p.owner.kind, p.name, p.labels["app"]) for p in cluster.pods)
    assert got == sorted(
        [
            ("Deployment", "d", "d"),
            ("ReplicaSet", "rs", "rs"),
            ("StatefulSet", "ss", "ss"),
            ("DaemonSet", "ds", "ds"),
            ("Job", "j", "j"),
            ("CronJob", "cj", "cj"),
            ("ReplicationController", "rc", "rc"),
            ("Pod", "bare", "bare"),
        ]
    )
    assert all(p.ports[0].name == "http" for p in cluster.pods if p.owner.kind != "Pod")
    assert cluster.skipped_kinds == {"Service": 1}
    assert cluster.namespaces["w"].labels == {NAME_LABEL: "w"}  # synthesised


def test_json_lists_and_live_pods_grouped_by_controller(tmp_path: Path) -> None:
    pods = {
        "kind": "PodList",
        "apiVersion": "v1",
        "items": [
            {
                "metadata": {
                    "name": f"web-5d-{i}",
                    "namespace": "shop",
                    "labels": {"app": "web"},
                    "ownerReferences": [
                        {"kind": "ReplicaSet", "name": "web-5d", "controller": True}
                    ],
                },
                "spec": {"containers": [{"name": "c"}]},
                "status": {"podIP": f"10.0.0.{i}"},
            }
            for i in range(3)
        ]
        + [
            {
                "metadata": {
                    "name": "static",
                    "namespace": "shop",
                    "ownerReferences": [{"kind": "Node", "name": "n1", "controller": True}],
                }
            }
        ],
    }
    namespaces = {
        "kind": "NamespaceList",
        "apiVersion": "v1",
        "items": [{"metadata": {"name": "shop", "labels": {"team": "a"}}}],
    }
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pods.json").write_text(json.dumps(pods))
    (tmp_path / "ns.json").write_text(json.dumps(namespaces))
    (tmp_path / "notes.txt").write_text("not a manifest")
    cluster = load_cluster([tmp_path])
    owners = {(p.owner.kind, p.owner.name) for p in cluster.pods}
    assert owners == {("ReplicaSet", "web-5d"), ("Pod", "static")}
    assert cluster.namespaces["shop"].labels == {"team": "a", NAME_LABEL: "shop"}
    assert {p.ip for p in cluster.pods} == {"10.0.0.0", "10.0.0.1", "10.0.0.2", None}


def test_v1_list_multi_document_and_non_kubernetes_json_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: a},"
        " spec: {podSelector: {}}}\n"
        "- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: b},"
        " spec: {podSelector: {}}}\n---\n---\n"
    )
    (tmp_path / "output.json").write_text('[{"src": "x", "dst": "y", "conn": "All"}]')
    cluster = load_cluster([tmp_path])
    assert [p.name for p in cluster.policies] == ["a", "b"]
    assert any("not a Kubernetes object" in w for w in cluster.warnings)


def test_policy_defaults(tmp_path: Path) -> None:
    cluster = cluster_from_objects(
        [
            {
                "kind": "NetworkPolicy",
                "metadata": {"name": "e"},
                "spec": {
                    "podSelector": {},
                    "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}],
                },
            },
            {
                "kind": "NetworkPolicy",
                "metadata": {"name": "i"},
                "spec": {"podSelector": {}, "ingress": [{"from": [], "ports": [{"port": 53}]}]},
            },
        ],
        source="mem",
    )
    e, i = cluster.policies
    assert (e.isolates_ingress, e.isolates_egress) == (True, True)
    assert (i.isolates_ingress, i.isolates_egress) == (True, False)
    assert i.ingress[0].peers is None and i.ingress[0].ports is not None
    assert i.ingress[0].ports[0].protocol == "TCP"


BAD = [
    (
        "spec: {podSelector: {}, ingress: [{ports: [{port: http, endPort: 90}]}]}",
        "spec.ingress[0].ports[0].endPort",
        "named (string) port",
    ),
    (
        "spec: {podSelector: {}, ingress: [{ports: [{port: 90, endPort: 80}]}]}",
        "spec.ingress[0].ports[0].endPort",
        "port range 90-80",
    ),
    (
        "spec: {podSelector: {}, ingress: [{ports: [{port: 0}]}]}",
        "spec.ingress[0].ports[0].port",
        "out of range",
    ),
    (
        "spec: {podSelector: {}, ingress: [{ports: [{port: 80, protocol: ICMP}]}]}",
        "spec.ingress[0].ports[0].protocol",
        "valid: TCP, UDP, SCTP",
    ),
    ("spec: {podSelector: {}, egress: [{to: [{}]}]}", "spec.egress[0].to[0]", "empty peer"),
    (
        "spec: {podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}",
        "spec.egress[0].to[0]",
        "cannot be combined",
    ),
    (
        "spec: {podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, "
        "except: [11.0.0.0/16]}}]}]}",
        "spec.egress[0].to[0].ipBlock",
        "not inside cidr",
    ),
    (
        "spec: {podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.300/8}}]}]}",
        "spec.egress[0].to[0].ipBlock",
        "invalid CIDR",
    ),
    (
        "spec: {podSelector: {matchExpressions: [{key: a, operator: Has}]}}",
        "spec.podSelector",
        "valid: In, NotIn, Exists, DoesNotExist",
    ),
    (
        "spec: {podSelector: {matchExpressions: [{key: a, operator: In}]}}",
        "spec.podSelector",
        "must not be empty",
    ),
    (
        "spec: {podSelector: {}, policyTypes: [ingress]}",
        "spec.policyTypes[0]",
        "valid: Ingress, Egress",
    ),
    ("spec: {podSelector: {}, ingress: [{form: []}]}", "spec.ingress[0].form", "unknown field"),
    (
        "spec: {podSelector: {}, ingress: [{ports: [{port: '80'}]}]}",
        "spec.ingress[0].ports[0].port",
        "not a valid port name",
    ),
]


@pytest.mark.parametrize(("spec", "field", "words"), BAD, ids=[b[2] for b in BAD])
def test_invalid_policies_name_file_line_object_and_field(
    tmp_path: Path, spec: str, field: str, words: str
) -> None:
    file = tmp_path / "np.yaml"
    file.write_text(
        "# a comment\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        f"metadata: {{name: broken, namespace: prod}}\n{spec}\n"
    )
    with pytest.raises(InputError) as info:
        load_cluster([file])
    err = info.value
    assert err.source == str(file) and err.location == "line 3"
    assert "NetworkPolicy prod/broken" in str(err) and field in str(err) and words in str(err)


def test_duplicates_are_errors(tmp_path: Path) -> None:
    np = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: same}\nspec: {}\n"
    (tmp_path / "a.yaml").write_text(np)
    (tmp_path / "b.yaml").write_text(np)
    with pytest.raises(
        InputError,
        match=r"b\.yaml:line 1: .*two NetworkPolicies named "
        r"default/same .*first in .*a\.yaml:line 1",
    ):
        load_cluster([tmp_path])
    (tmp_path / "b.yaml").write_text(
        "kind: Namespace\nmetadata: {name: x}\n---\nkind: Namespace\nmetadata: {name: x}\n"
    )
    (tmp_path / "a.yaml").unlink()
    with pytest.raises(InputError, match="a second Namespace named 'x'"):
        load_cluster([tmp_path])


def test_syntax_and_shape_errors(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("kind: Pod\nmetadata:\n  name: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML") as info:
        load_cluster([bad_yaml])
    assert info.value.location is not None and info.value.location.startswith("line ")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"kind": "Pod",\n "metadata": }')
    with pytest.raises(InputError, match="not valid JSON") as info:
        load_cluster([bad_json])
    assert info.value.location == "line 2"
    with pytest.raises(InputError, match="no such file"):
        load_cluster([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no manifest files"):
        load_cluster([tmp_path / "empty"])
    label = tmp_path / "label.yaml"
    label.write_text("kind: Pod\nmetadata: {name: p, labels: {enabled: true}}\n")
    with pytest.raises(InputError, match=r"metadata.labels.enabled.*quote it"):
        load_cluster([label])


def test_container_port_without_number_is_skipped_with_a_warning() -> None:
    cluster = cluster_from_objects(
        [
            {
                "kind": "Pod",
                "metadata": {"name": "p"},
                "spec": {
                    "containers": [{"name": "c", "ports": [{"name": "x", "containerport": 1}]}]
                },
            }
        ],
        source="mem",
    )
    assert cluster.pods[0].ports == ()
    assert "no containerPort (fields: containerport, name)" in cluster.warnings[0]


FINISHED = [
    {"kind": "Pod", "metadata": {"name": "job-x"}, "status": {"phase": "Succeeded"}},
    {
        "kind": "Pod",
        "metadata": {"name": "job-y", "namespace": "batch"},
        "status": {"phase": "Failed", "podIP": "10.0.0.7"},
    },
    {"kind": "Pod", "metadata": {"name": "web"}, "status": {"phase": "Running"}},
]


def test_finished_pods_are_skipped_and_named() -> None:
    cluster = cluster_from_objects(FINISHED, source="mem")
    assert [p.name for p in cluster.pods] == ["web"]
    assert cluster.skipped_kinds == {"Pod (finished)": 2}
    assert cluster.finished_pods == ["default/job-x", "batch/job-y"]
    assert "batch" not in cluster.namespaces  # only a left-out pod was there


def test_finished_pods_are_included_on_request(tmp_path: Path) -> None:
    cluster = cluster_from_objects(FINISHED, source="mem", include_finished=True)
    assert [(p.namespace, p.name, p.ip) for p in cluster.pods] == [
        ("default", "job-x", None),
        ("batch", "job-y", "10.0.0.7"),
        ("default", "web", None),
    ]
    assert cluster.skipped_kinds == {} and cluster.finished_pods == []
    assert "batch" in cluster.namespaces
    (tmp_path / "pods.json").write_text(json.dumps({"kind": "PodList", "items": FINISHED}))
    assert len(load_cluster([tmp_path]).pods) == 1
    assert len(load_cluster([tmp_path], include_finished=True).pods) == 3


def test_a_left_out_pod_is_not_validated_but_an_included_one_is() -> None:
    broken = {
        "kind": "Pod",
        "metadata": {"name": 7, "namespace": ["x"]},
        "status": {"phase": "Failed"},
    }
    assert cluster_from_objects([broken], source="mem").finished_pods == ["?/?"]
    with pytest.raises(InputError, match=r"Pod.*metadata\.name"):
        cluster_from_objects([broken], source="mem", include_finished=True)


def _replica(
    name: str,
    *,
    port: object = 8080,
    labels: dict[str, object] | None = None,
    extra: dict[str, object] | None = None,
) -> dict[str, object]:
    return {
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": labels if labels is not None else {"app": "web"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "web-5d", "controller": True}],
        },
        "spec": {
            "containers": [
                {"name": "c", "ports": [{"containerPort": port, "name": "http", **(extra or {})}]}
            ]
        },
        "status": {"podIP": f"10.0.0.{len(name)}"},
    }


def test_replicas_share_one_validated_shape() -> None:
    cluster = cluster_from_objects(
        [
            _replica("web-1"),
            _replica("web-2"),
            _replica("web-3", extra={"hostPort": 80}),
            _replica("web-4", labels={"app": "api"}),
        ],
        source="mem",
    )
    shapes = [p.shape for p in cluster.pods]
    assert shapes[0] is shapes[1] is shapes[2]  # hostPort does not count: same shape
    assert shapes[3] is not shapes[0] and cluster.pods[3].labels == {"app": "api"}
    assert [p.name for p in cluster.pods] == ["web-1", "web-2", "web-3", "web-4"]
    assert cluster.pods[0].ports[0].port == 8080 and cluster.pods[0].owner.name == "web-5d"


@pytest.mark.parametrize(("first", "second"), [(8080, 8080.0), (1, True)])
def test_a_port_equal_to_a_validated_one_but_not_an_int_is_still_refused(
    first: int, second: object
) -> None:
    with pytest.raises(
        InputError,
        match=r"Pod shop/web-2: spec\.containers\[0\]\.ports\[0\]"
        r"\.containerPort: must be a port number",
    ) as info:
        cluster_from_objects(
            [_replica("web-1", port=first), _replica("web-2", port=second)], source="mem.yaml"
        )
    assert info.value.source == "mem.yaml"


def test_the_bad_replica_is_named_even_after_good_ones() -> None:
    objects = [_replica(f"web-{i}") for i in range(5)]
    objects.append(_replica("web-5", labels={"app": "web", "tier": 3}))
    with pytest.raises(InputError, match=r"Pod shop/web-5: metadata\.labels\.tier"):
        cluster_from_objects(objects, source="mem")


def test_every_replica_gets_its_own_warning() -> None:
    objects = [_replica(f"web-{i}") for i in range(2)]
    for pod in objects:
        pod["spec"] = {"containers": [{"name": "c", "ports": [{"name": "x"}]}]}
    cluster = cluster_from_objects(objects, source="mem")
    assert [w.split(": ")[1] for w in cluster.warnings] == ["Pod shop/web-0", "Pod shop/web-1"]
    assert cluster.pods[0].ports == cluster.pods[1].ports == ()


def test_unhashable_port_fields_take_the_full_path() -> None:
    # a list as a port name is no name (the API would refuse it; the evaluator ignores it)
    cluster = cluster_from_objects(
        [_replica("web-1", extra={"name": ["x"]}), _replica("web-2", extra={"name": ["x"]})],
        source="mem",
    )
    assert [p.ports[0].name for p in cluster.pods] == [None, None]


def test_a_pod_status_that_is_not_a_mapping_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "pods.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\n"
        "spec: {containers: [{name: c, image: x}]}\nstatus: running\n"
    )
    with pytest.raises(InputError, match=r"pods\.yaml.*Pod p.*status.*mapping"):
        load_cluster([bad])
