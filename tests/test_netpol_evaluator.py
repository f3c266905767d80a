"""NetworkPolicy semantics (docs/design/netpol-semantics.md sections 1-2), property tests, and a
cross-check of the class-based evaluator against the direct rule walk in ``explain``."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packetwalk.errors import InputError
from packetwalk.netpol.evaluator import (
    Analysis,
    EvalOptions,
    External,
    Node,
    Workload,
    analyze,
)
from packetwalk.netpol.explain import explain
from packetwalk.netpol.loader import cluster_from_objects
from packetwalk.netpol.ports import ALL, NONE, ConnSet, parse_conn_text


def mk(text: str, **options: Any) -> Analysis:
    objects = [o for o in yaml.safe_load_all(text) if o]
    return analyze(cluster_from_objects(objects, source="test"), EvalOptions(**options))


def pod(
    name: str, ns: str = "default", ip: str | None = None, ports: str = "", **labels: str
) -> str:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"containers": [{"name": "c", "ports": yaml.safe_load(ports or "[]")}]},
    }
    if ip:
        body["status"] = {"podIP": ip}
    return "---\n" + yaml.safe_dump(body)


def ns(name: str, **labels: str) -> str:
    return "---\n" + yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    )


def policy(name: str, spec: str, namespace: str = "default") -> str:
    return (
        f"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec: {spec}\n"
    )


def conn(a: Analysis, src: str, dst: str) -> ConnSet:
    s = a.find_workload(src) if "/" in src else a.external_for_ip(src, as_source=True)
    d = a.find_workload(dst) if "/" in dst else a.external_for_ip(dst, as_source=False)
    assert s is not None and d is not None, (src, dst)
    return a.conn(s, d)


PAIR = pod("a", app="a") + pod("b", app="b")


# ----------------------------------------------------------------------------- section 1


def test_unisolated_pods_allow_everything() -> None:
    a = mk(PAIR)
    assert conn(a, "default/a", "default/b") is ALL
    assert conn(a, "8.8.8.8", "default/a") is ALL


def test_egress_and_ingress_are_both_required() -> None:
    server_allows = policy("in", "{podSelector: {matchLabels: {app: b}}, ingress: [{}]}")
    client_denies = policy("out", "{podSelector: {matchLabels: {app: a}}, policyTypes: [Egress]}")
    a = mk(PAIR + server_allows + client_denies)
    assert conn(a, "default/a", "default/b").is_empty
    assert conn(a, "default/b", "default/a") is ALL


def test_rules_of_all_selecting_policies_are_united() -> None:
    p1 = policy("p1", "{podSelector: {matchLabels: {app: b}}, ingress: [{ports: [{port: 80}]}]}")
    p2 = policy("p2", "{podSelector: {}, ingress: [{ports: [{port: 53, protocol: UDP}]}]}")
    assert str(conn(mk(PAIR + p1 + p2), "default/a", "default/b")) == "TCP 80,UDP 53"


# ----------------------------------------------------------------------------- section 2 rules


def test_and_versus_or_peers() -> None:
    objs = (
        ns("prod", team="x")
        + ns("dev", team="y")
        + pod("api", "prod", app="api")
        + pod("web", "prod", app="web")
        + pod("web", "dev", app="web")
        + pod("other", "dev", app="other")
    )
    and_peer = policy(
        "p",
        "{podSelector: {matchLabels: {app: api}}, ingress: [{from: "
        "[{namespaceSelector: {matchLabels: {team: y}}, podSelector: "
        "{matchLabels: {app: web}}}]}]}",
        "prod",
    )
    or_peers = policy(
        "p",
        "{podSelector: {matchLabels: {app: api}}, ingress: [{from: "
        "[{namespaceSelector: {matchLabels: {team: y}}}, {podSelector: "
        "{matchLabels: {app: web}}}]}]}",
        "prod",
    )
    a = mk(objs + and_peer)
    assert conn(a, "dev/web", "prod/api") is ALL
    assert conn(a, "dev/other", "prod/api").is_empty
    assert conn(a, "prod/web", "prod/api").is_empty
    b = mk(objs + or_peers)
    assert conn(b, "dev/other", "prod/api") is ALL  # any pod of team y
    assert conn(b, "prod/web", "prod/api") is ALL  # app=web in the policy's namespace
    assert conn(b, "dev/web", "prod/api") is ALL


def test_pod_selector_alone_means_the_policy_namespace() -> None:
    objs = pod("db", app="db") + pod("web", "other", app="web") + pod("web", app="web")
    p = policy(
        "p",
        "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: "
        "{matchLabels: {app: web}}}]}]}",
    )
    a = mk(objs + p)
    assert conn(a, "default/web", "default/db") is ALL
    assert conn(a, "other/web", "default/db").is_empty


def test_empty_namespace_selector_means_all_namespaces() -> None:
    objs = pod("db", app="db") + pod("x", "far", app="x")
    p = policy("p", "{podSelector: {}, ingress: [{from: [{namespaceSelector: {}}]}]}")
    a = mk(objs + p)
    assert conn(a, "far/x", "default/db") is ALL
    assert conn(a, "8.8.8.8", "default/db").is_empty


def test_policy_types_default_includes_ingress_even_with_only_egress_rules() -> None:
    p = policy("p", "{podSelector: {matchLabels: {app: a}}, egress: [{}]}")
    a = mk(PAIR + p)
    assert conn(a, "default/b", "default/a").is_empty  # ingress isolated (k/k #51351)
    assert conn(a, "default/a", "default/b") is ALL


def test_ingress_empty_list_denies_and_list_with_empty_rule_allows_all() -> None:
    deny = policy("p", "{podSelector: {}, policyTypes: [Ingress], ingress: []}")
    allow = policy("p", "{podSelector: {}, policyTypes: [Ingress], ingress: [{}]}")
    a, b = mk(PAIR + deny), mk(PAIR + allow)
    assert conn(a, "default/a", "default/b").is_empty
    assert conn(a, "8.8.8.8", "default/b").is_empty
    assert conn(b, "default/a", "default/b") is ALL
    assert conn(b, "8.8.8.8", "default/b") is ALL


def test_empty_from_and_ports_mean_all() -> None:
    p = policy("p", "{podSelector: {}, ingress: [{from: [], ports: []}]}")
    assert conn(mk(PAIR + p), "8.8.8.8", "default/a") is ALL


def test_named_ports_resolve_on_the_destination_with_protocol() -> None:
    objs = pod(
        "dns",
        ports="[{name: dns, containerPort: 53, protocol: UDP}, {name: dns-tcp, containerPort: 53}]",
        app="dns",
    ) + pod("c", ports="[{name: dns, containerPort: 5353}]", app="c")
    p = policy(
        "p", "{podSelector: {}, ingress: [{ports: [{port: dns, protocol: UDP}, {port: dns-tcp}]}]}"
    )
    a = mk(objs + p)
    assert str(conn(a, "default/c", "default/dns")) == "TCP 53,UDP 53"
    assert conn(a, "default/dns", "default/c").is_empty  # c's "dns" is TCP, the rule wants UDP


def test_named_port_in_egress_without_to_resolves_on_each_destination() -> None:
    objs = pod("a", ports="[{name: web, containerPort: 8080}]", app="a") + pod(
        "b", ports="[{name: web, containerPort: 9090}]", app="b"
    )
    p = policy("p", "{podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: web}]}]}")
    a = mk(objs + p)
    assert str(conn(a, "default/a", "default/b")) == "TCP 9090"
    assert str(conn(a, "default/b", "default/a")) == "TCP 8080"
    assert conn(a, "default/a", "8.8.8.8").is_empty  # an address has no named ports


def test_end_port_range_and_protocols() -> None:
    p = policy(
        "p",
        "{podSelector: {matchLabels: {app: b}}, ingress: [{ports: ["
        "{port: 8000, endPort: 8010}, {port: 7070, protocol: SCTP}]}]}",
    )
    c = conn(mk(PAIR + p), "default/a", "default/b")
    assert str(c) == "SCTP 7070,TCP 8000-8010"
    assert not c.allows("UDP", 8000) and not c.allows("TCP", 7070)


def test_ipblock_except_and_external_ranges() -> None:
    p = policy(
        "p",
        "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, "
        "except: [10.1.0.0/16]}}]}]}",
    )
    a = mk(PAIR + p)
    assert [s.label for s in a.sources] == [
        "0.0.0.0-9.255.255.255[External]",
        "10.0.0.0-10.0.255.255[External]",
        "10.1.0.0-10.1.255.255[External]",
        "10.2.0.0-10.255.255.255[External]",
        "11.0.0.0-255.255.255.255[External]",
    ]
    assert [d.label for d in a.destinations] == ["0.0.0.0-255.255.255.255[External]"]
    assert conn(a, "10.0.0.5", "default/a") is ALL
    assert conn(a, "10.1.2.3", "default/a").is_empty
    assert conn(a, "192.168.0.1", "default/a").is_empty


def test_ip_excluded_by_one_policy_can_be_allowed_by_another() -> None:
    p1 = policy(
        "p1",
        "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, "
        "except: [10.1.0.0/16]}}]}]}",
    )
    p2 = policy(
        "p2",
        "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.1.0.0/24}}], "
        "ports: [{port: 443}]}]}",
    )
    a = mk(PAIR + p1 + p2)
    assert str(conn(a, "10.1.0.9", "default/a")) == "TCP 443"
    assert conn(a, "10.1.1.9", "default/a").is_empty


def test_ipblock_matches_pod_ips_only_with_the_switch() -> None:
    objs = pod("a", ip="10.244.1.5", app="a") + pod("b", ip="10.244.2.7", app="b")
    p = policy(
        "p",
        "{podSelector: {matchLabels: {app: b}}, ingress: [{from: [{ipBlock: "
        "{cidr: 10.244.0.0/16, except: [10.244.2.0/24]}}]}]}",
    )
    assert conn(mk(objs + p), "default/a", "default/b").is_empty
    on = mk(objs + p, ipblock_matches_pods=True)
    assert conn(on, "default/a", "default/b") is ALL
    assert conn(on, "default/b", "default/b").is_empty  # b's IP is in the except range
    with pytest.raises(InputError, match="connlist mode"):
        EvalOptions(mode="connlist", ipblock_matches_pods=True)


def test_namespace_by_name_uses_the_automatic_label() -> None:
    objs = ns("kube-system") + pod("dns", "kube-system", **{"k8s-app": "kube-dns"}) + pod("a")
    good = policy(
        "p",
        "{podSelector: {}, policyTypes: [Egress], egress: [{to: [{namespaceSelector:"
        " {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]}]}",
    )
    classic_mistake = policy(
        "p",
        "{podSelector: {}, policyTypes: [Egress], egress: [{to: "
        "[{namespaceSelector: {matchLabels: {name: kube-system}}}]}]}",
    )
    assert conn(mk(objs + good), "default/a", "kube-system/dns") is ALL
    assert conn(mk(objs + classic_mistake), "default/a", "kube-system/dns").is_empty


def test_match_expressions() -> None:
    objs = pod("a", tier="web") + pod("b", tier="db") + pod("c") + pod("t", app="t")
    p = policy(
        "p",
        "{podSelector: {matchLabels: {app: t}}, ingress: [{from: [{podSelector: "
        "{matchExpressions: [{key: tier, operator: NotIn, values: [db]}]}}]}]}",
    )
    q = policy(
        "p",
        "{podSelector: {matchLabels: {app: t}}, ingress: [{from: [{podSelector: "
        "{matchExpressions: [{key: tier, operator: DoesNotExist}]}}]}]}",
    )
    a, b = mk(objs + p), mk(objs + q)
    allowed_a = [not conn(a, f"default/{x}", "default/t").is_empty for x in "abc"]
    allowed_b = [not conn(b, f"default/{x}", "default/t").is_empty for x in "abc"]
    assert allowed_a == [True, False, True]
    assert allowed_b == [False, False, True]


def test_self_pairs_connlist_always_spec_evaluated() -> None:
    deny = policy("p", "{podSelector: {}, policyTypes: [Ingress, Egress]}")
    spec = mk(pod("a") + deny)
    ((workload, self_conn),) = spec.self_pairs()
    assert workload.label == "default/a[Pod]" and self_conn.is_empty
    connlist = mk(pod("a") + deny, mode="connlist")
    only = connlist.cluster.pods[0]
    assert connlist.pod_conn(only, only) is ALL


def test_pods_of_one_owner_grouped_and_label_gap_errors() -> None:
    def owned(name: str, **labels: str) -> str:
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "labels": labels,
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7f9", "controller": True}],
            },
        }
        return "---\n" + yaml.safe_dump(body)

    objs = owned("web-7f9-x", app="web", hash="1") + owned("web-7f9-y", app="web", hash="2")
    fine = mk(objs + policy("p", "{podSelector: {matchLabels: {app: web}}, ingress: []}"))
    assert [w.label for w in fine.workloads] == ["default/web-7f9[ReplicaSet]"]
    assert len(fine.workloads[0].classes) == 2
    with pytest.raises(InputError, match=r"spec.podSelector: selects only some pods"):
        mk(objs + policy("p", "{podSelector: {matchLabels: {hash: '1'}}, ingress: []}"))


def test_deployment_counts_once_whatever_the_replicas() -> None:
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
        "spec: {replicas: 5, template: {metadata: {labels: {app: web}}}}\n"
    )
    a = mk(text)
    assert [w.label for w in a.workloads] == ["default/web[Deployment]"]


# ----------------------------------------------------------------------------- properties

LABEL_VALUES = ("a", "b", "c")
NAMESPACES = ("n1", "n2")


@st.composite
def selectors(draw: st.DrawFn, keys: tuple[str, ...] = ("app", "tier")) -> dict[str, Any]:
    kind = draw(st.sampled_from(["empty", "labels", "expr"]))
    if kind == "empty":
        return {}
    key = draw(st.sampled_from(keys))
    if kind == "labels":
        return {"matchLabels": {key: draw(st.sampled_from(LABEL_VALUES))}}
    op = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
    expr: dict[str, Any] = {"key": key, "operator": op}
    if op in ("In", "NotIn"):
        expr["values"] = draw(st.lists(st.sampled_from(LABEL_VALUES), min_size=1, max_size=2))
    return {"matchExpressions": [expr]}


@st.composite
def peers(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["pod", "ns", "both", "ip"]))
    if kind == "ip":
        return {
            "ipBlock": draw(
                st.sampled_from(
                    [
                        {"cidr": "10.0.0.0/8"},
                        {"cidr": "10.0.0.0/16", "except": ["10.0.1.0/24"]},
                        {"cidr": "0.0.0.0/0"},
                    ]
                )
            )
        }
    out: dict[str, Any] = {}
    if kind in ("pod", "both"):
        out["podSelector"] = draw(selectors())
    if kind in ("ns", "both"):
        out["namespaceSelector"] = draw(selectors(("team",)))
    return out


@st.composite
def rules(draw: st.DrawFn, key: str) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if draw(st.booleans()):
        rule[key] = draw(st.lists(peers(), min_size=1, max_size=2))
    if draw(st.booleans()):
        rule["ports"] = draw(
            st.lists(
                st.sampled_from(
                    [
                        {"port": 80},
                        {"port": 53, "protocol": "UDP"},
                        {"port": "http"},
                        {"port": 8000, "endPort": 8100},
                        {"protocol": "SCTP"},
                        {"port": "dns", "protocol": "UDP"},
                    ]
                ),
                min_size=1,
                max_size=2,
            )
        )
    return rule


@st.composite
def policies(draw: st.DrawFn, index: int = 0) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": draw(selectors())}
    types = draw(st.sampled_from([None, ["Ingress"], ["Egress"], ["Ingress", "Egress"]]))
    if types is not None:
        spec["policyTypes"] = types
    if draw(st.booleans()):
        spec["ingress"] = draw(st.lists(rules("from"), max_size=2))
    if draw(st.booleans()):
        spec["egress"] = draw(st.lists(rules("to"), max_size=2))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": f"p{index}-{draw(st.integers(0, 10**6))}",
            "namespace": draw(st.sampled_from(NAMESPACES)),
        },
        "spec": spec,
    }


@st.composite
def clusters(draw: st.DrawFn) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": n, "labels": {"team": draw(st.sampled_from(LABEL_VALUES))}},
        }
        for n in NAMESPACES
    ]
    for i in range(draw(st.integers(2, 5))):
        labels = {
            k: draw(st.sampled_from(LABEL_VALUES)) for k in ("app", "tier") if draw(st.booleans())
        }
        ports = draw(
            st.sampled_from(
                [
                    [],
                    [{"name": "http", "containerPort": 8080}],
                    [{"name": "dns", "containerPort": 53, "protocol": "UDP"}],
                ]
            )
        )
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"pod{i}",
                    "namespace": draw(st.sampled_from(NAMESPACES)),
                    "labels": labels,
                },
                "spec": {"containers": [{"name": "c", "ports": ports}]},
                "status": {"podIP": f"10.0.{draw(st.integers(0, 2))}.{i + 1}"},
            }
        )
    for i in range(draw(st.integers(0, 3))):
        objs.append(draw(policies(i)))
    return objs


def matrix(objects: list[dict[str, Any]], **options: Any) -> dict[tuple[str, str], ConnSet]:
    a = analyze(cluster_from_objects(objects, source="hypothesis"), EvalOptions(**options))
    out = {}
    for src in a.workloads:
        for dst in a.workloads:
            out[(src.label, dst.label)] = a.conn(src, dst)
        for atom in a.destinations:
            out[(src.label, atom.label)] = a.conn(src, atom)
    for atom in a.sources:
        for dst in a.workloads:
            out[(atom.label, dst.label)] = a.conn(atom, dst)
    return out


def _default_deny(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "zz-default-deny", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(clusters(), policies(99))
def test_adding_an_allow_policy_never_removes_a_connection(
    objs: list[dict[str, Any]], extra: dict[str, Any]
) -> None:
    base = objs + [_default_deny(n) for n in NAMESPACES]  # every pod isolated both ways
    before = matrix(base)
    after = matrix([*base, extra])
    for key, conn_before in before.items():
        if key in after:
            assert conn_before <= after[key], key


@SETTINGS
@given(clusters(), st.sampled_from(NAMESPACES))
def test_default_deny_removes_all_but_what_allow_policies_restore(
    objs: list[dict[str, Any]], namespace: str
) -> None:
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "zz-deny-ingress", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    before_analysis = analyze(cluster_from_objects(objs, source="h"))
    after_analysis = analyze(cluster_from_objects([*objs, deny], source="h"))
    for dst in after_analysis.workloads:
        cls = dst.classes[0]
        was_isolated = before_analysis.isolation(cls)[0]
        srcs: list[Node] = [*after_analysis.workloads, *after_analysis.sources]
        for src in srcs:
            now = after_analysis.conn(src, dst)
            old_src = (
                before_analysis.find_workload(src.label)
                if isinstance(src, Workload)
                else before_analysis.sources[0]
                if len(before_analysis.sources) == 1
                else None
            )
            if dst.namespace != namespace:
                if isinstance(src, Workload):
                    old_dst = before_analysis.find_workload(dst.label)
                    assert old_src is not None and old_dst is not None
                    assert now == before_analysis.conn(old_src, old_dst)
            elif not was_isolated:
                assert now.is_empty  # nothing restores it: no allow policy selects dst
            elif isinstance(src, Workload):
                old_dst = before_analysis.find_workload(dst.label)
                assert old_src is not None and old_dst is not None
                # already isolated: the allow policies alone decide, as before
                assert now == before_analysis.conn(old_src, old_dst)


@SETTINGS
@given(clusters(), selectors(("team",)), selectors(), st.sampled_from(["from", "to"]))
def test_and_peer_allows_a_subset_of_or_peers(
    objs: list[dict[str, Any]], ns_sel: dict[str, Any], pod_sel: dict[str, Any], key: str
) -> None:
    direction = "ingress" if key == "from" else "egress"

    def with_peers(peer_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
        p = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "zz-peers", "namespace": "n1"},
            "spec": {
                "podSelector": {},
                "policyTypes": [direction.capitalize()],
                direction: [{key: peer_list}],
            },
        }
        return [*objs, p]

    both = matrix(with_peers([{"namespaceSelector": ns_sel, "podSelector": pod_sel}]))
    either = matrix(with_peers([{"namespaceSelector": ns_sel}, {"podSelector": pod_sel}]))
    for pair, allowed in both.items():
        assert allowed <= either[pair], pair


@SETTINGS
@given(clusters(), st.booleans())
def test_fast_evaluator_agrees_with_the_direct_rule_walk(
    objs: list[dict[str, Any]], ip_mode: bool
) -> None:
    a = analyze(cluster_from_objects(objs, source="h"), EvalOptions(ipblock_matches_pods=ip_mode))
    for src in a.workloads:
        for dst in a.workloads:
            assert a.conn(src, dst) == explain(a, src.label, dst.label).allowed
        for atom in a.destinations:
            ip = atom.label.split("-")[0]
            assert a.conn(src, atom) == explain(a, src.label, ip).allowed
    for atom in a.sources:
        for dst in a.workloads:
            assert a.conn(atom, dst) == explain(a, atom.label.split("-")[0], dst.label).allowed


def test_conn_text_round_trip() -> None:
    for text in [
        "All Connections",
        "No Connections",
        "TCP 80",
        "SCTP 7070,TCP 8080-8081,UDP 9090",
        "TCP 1-52,54-65535",
    ]:
        assert str(parse_conn_text(text)) == text
    assert parse_conn_text("No Connections") is NONE
    assert isinstance(External(0, 1, 0).label, str)


def test_cost_follows_label_sets_not_pods() -> None:
    """More replicas of the same label sets add pods, not classes, rules or pairs to evaluate."""

    def replicas(n: int) -> str:
        return "".join(
            "---\n"
            + yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{app}-{i}",
                        "labels": {"app": app},
                        "ownerReferences": [
                            {"kind": "ReplicaSet", "name": f"{app}-rs", "controller": True}
                        ],
                    },
                }
            )
            for app in ("web", "db")
            for i in range(n)
        )

    deny = policy(
        "p",
        "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: "
        "{matchLabels: {app: web}}}], ports: [{port: 5432}]}]}",
    )
    small, big = mk(replicas(2) + deny), mk(replicas(200) + deny)
    assert len(small.classes) == len(big.classes) == 2
    assert len(big.cluster.pods) == 400
    assert [(s.label, d.label, str(c)) for s, d, c in small.edges()] == [
        (s.label, d.label, str(c)) for s, d, c in big.edges()
    ]


def _owned(name: str, owner: str, ip: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": labels,
            "ownerReferences": [{"kind": "ReplicaSet", "name": owner, "controller": True}],
        },
        "status": {"podIP": ip},
    }


def test_classes_group_shapes_by_content_and_keep_pod_order() -> None:
    """Label order and owners make different shapes but one class; pods keep their order."""
    objects = [
        _owned("w-1", "w", "10.0.0.1", {"app": "x", "tier": "t"}),
        _owned("v-1", "v", "10.0.0.2", {"tier": "t", "app": "x"}),
        _owned("w-2", "w", "10.0.0.3", {"app": "x", "tier": "t"}),
        _owned("v-2", "v", "10.0.0.4", {"tier": "t", "app": "x"}),
    ]
    a = analyze(cluster_from_objects(objects, source="t"))
    assert len(a.classes) == 1
    assert a.classes[0].pods[0].name == "w-1"  # explain shows the first pod of a class
    assert sorted(p.name for p in a.classes[0].pods) == ["v-1", "v-2", "w-1", "w-2"]
    assert {w.label: [p.name for p in w.pods] for w in a.workloads} == {
        "default/v[ReplicaSet]": ["v-1", "v-2"],
        "default/w[ReplicaSet]": ["w-1", "w-2"],
    }
    pods = {p.name: p for p in a.cluster.pods}
    assert a.pod_conn(pods["w-1"], pods["v-2"]) is ALL
    per_pod = analyze(a.cluster, EvalOptions(per_pod=True))
    assert [w.label for w in per_pod.workloads] == [
        "default/v-1[Pod]",
        "default/v-2[Pod]",
        "default/w-1[Pod]",
        "default/w-2[Pod]",
    ]
    assert all(w.classes == [0] for w in per_pod.workloads)


def test_pod_ips_split_one_shape_when_ipblocks_match_pods() -> None:
    objects = [
        _owned(f"w-{i}", "w", ip, {"app": "w"})
        for i, ip in enumerate(["10.0.0.1", "10.9.0.1", "10.0.0.2"])
    ]
    objects.append(
        yaml.safe_load(
            policy(
                "p",
                "{podSelector: {matchLabels: {app: w}}, ingress: "
                "[{from: [{ipBlock: {cidr: 10.0.0.0/16}}]}]}",
            )
        )
    )
    cluster = cluster_from_objects(objects, source="t")
    assert len({id(p.shape) for p in cluster.pods}) == 1
    a = analyze(cluster, EvalOptions(ipblock_matches_pods=True))
    assert [[p.name for p in c.pods] for c in a.classes] == [["w-0", "w-2"], ["w-1"]]
    pods = {p.name: p for p in cluster.pods}
    assert a.pod_conn(pods["w-0"], pods["w-2"]) is ALL
    assert a.pod_conn(pods["w-1"], pods["w-2"]).is_empty  # 10.9.0.1 is outside the block
