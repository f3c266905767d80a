"""ClientIntents parsing (both Otterize shapes) and the NetworkPolicies generated from them."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from packetwalk.errors import InputError
from packetwalk.intents import (
    ApiServerAddressesUnknown,
    ClientIntents,
    PolicyOptions,
    Target,
    Workloads,
    default_deny,
    load_client_intents,
    parse_client_intents,
    policies_from_intents,
)
from packetwalk.lab import versions
from packetwalk.lab.config import REPO_ROOT
from packetwalk.lab.votingapp import voting_app_objects

DATA = Path(__file__).parent / "data" / "intents"
LAB_FILE = REPO_ROOT / "stacks" / "intents" / "voting-app.yaml"


def peers() -> list[dict[str, Any]]:
    """The Traefik and CoreDNS workloads, as the lab's stand-ins declare them."""
    from packetwalk.lab.config import LabConfig
    from packetwalk.lab.objects import lab_peer_objects

    return lab_peer_objects(LabConfig(stack="t"))


def registry(namespace: str = "vote") -> Workloads:
    return Workloads.from_objects([*voting_app_objects(namespace), *peers()])


OPTIONS = PolicyOptions(namespaces=frozenset({"vote"}), generated_from="x.yaml")


def generate(
    intents: list[ClientIntents], options: PolicyOptions = OPTIONS
) -> list[dict[str, Any]]:
    return policies_from_intents(intents, registry(), options)


def parse(text: str, default_namespace: str | None = "vote") -> list[ClientIntents]:
    return parse_client_intents(
        textwrap.dedent(text), source="in.yaml", default_namespace=default_namespace
    )


def parse_error(text: str) -> InputError:
    with pytest.raises(InputError) as info:
        parse(text)
    return info.value


def by_name(policies: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in policies}


# --- parsing -------------------------------------------------------------------------------------


def test_lab_file_parses() -> None:
    intents = load_client_intents(LAB_FILE, default_namespace="vote")
    summary = {(i.namespace, i.workload): [t.describe() for t in i.targets] for i in intents}
    assert summary == {
        ("vote", "vote"): ["service redis"],
        ("vote", "worker"): ["service redis", "service db"],
        ("vote", "result"): ["service db"],
        ("traefik", "traefik"): ["service vote.vote", "service result.vote"],
    }
    assert {i.api_version for i in intents} == {"k8s.otterize.com/v2beta1"}
    assert all(i.workload_kind == "Deployment" for i in intents)


def test_v1_shape() -> None:
    intents = load_client_intents(DATA / "voting-app-v1alpha3.yaml", default_namespace="vote")
    worker = next(i for i in intents if i.workload == "worker")
    assert worker.targets == (
        Target(kind="service", name="redis", where=worker.targets[0].where),
        Target(kind="service", name="db", where=worker.targets[1].where),
    )
    assert worker.api_version == "k8s.otterize.com/v1beta1"
    traefik = next(i for i in intents if i.workload == "traefik")
    assert [(t.name, t.namespace) for t in traefik.targets] == [
        ("vote", "vote"),
        ("result", "vote"),
    ]


@pytest.mark.parametrize("fixture", ["voting-app-v1alpha3.yaml", "voting-app-v2alpha1.yaml"])
def test_every_shape_gives_the_same_policies(fixture: str) -> None:
    lab = generate(load_client_intents(LAB_FILE, default_namespace="vote"))
    other = generate(load_client_intents(DATA / fixture, default_namespace="vote"))
    assert other == lab


def test_missing_namespace_without_default() -> None:
    with pytest.raises(InputError, match=r"missing metadata\.namespace"):
        parse(
            """
            apiVersion: k8s.otterize.com/v2beta1
            kind: ClientIntents
            metadata: {name: a}
            spec: {workload: {name: a}}
        """,
            default_namespace=None,
        )


def test_missing_file() -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_client_intents(DATA / "nope.yaml")


HEAD = """\
apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata: {name: vote}
"""


@pytest.mark.parametrize(
    ("spec", "message", "line"),
    [
        (
            "spec:\n  workload: {name: vote}\n  targets:\n    - kafka: {name: k}\n",
            "a 'kafka' target is about topics",
            7,
        ),
        (
            "spec:\n  workload: {name: vote}\n  targets:\n    - sql: {name: db}\n",
            "a 'sql' target grants database privileges",
            7,
        ),
        (
            "spec:\n  workload: {name: vote}\n  targets:\n    - aws: {arn: x}\n",
            "cloud IAM permissions",
            7,
        ),
        (
            "spec:\n  workload: {name: vote}\n  targets:\n    - service: {name: db, http: []}\n",
            "service mesh",
            7,
        ),
        (
            "spec:\n  workload: {name: vote}\n  targets:\n    - internet: {domains: [a.com]}\n",
            "domain names need DNS resolution",
            7,
        ),
        (
            "spec:\n  workload: {name: vote}\n  targets:\n    - internet: {ports: [443]}\n",
            "at least one entry in `ips`",
            7,
        ),
        (
            "spec:\n  workload: {name: vote}\n  targets:\n    - internet: {ips: [10.0.0.1/8]}\n",
            "is not an IP address or CIDR",
            7,
        ),
        (
            "spec:\n  workload: {name: vote}\n  targets:\n"
            "    - internet: {ips: [1.1.1.1], ports: [0]}\n",
            "expected a port number",
            7,
        ),
        (
            "spec:\n  workload: {name: vote}\n  targets:\n    - service: {name: db}\n"
            "      kubernetes: {name: db}\n",
            "exactly one of",
            7,
        ),
        (
            "spec:\n  workload: {name: vote}\n  targets:\n    - servce: {name: db}\n",
            "did you mean 'service'",
            7,
        ),
        (
            "spec:\n  workload: {name: vote}\n  target:\n    - service: {name: db}\n",
            "did you mean 'targets'",
            6,
        ),
        ("spec:\n  workload: {nam: vote}\n", "unknown field 'nam'", 5),
        ("spec:\n  targets: []\n", "missing field 'workload'", 4),
        (
            "spec:\n  workload: {name: vote}\n  targets: {service: {name: db}}\n",
            "expected a list",
            6,
        ),
    ],
)
def test_v2_errors_name_document_line_and_field(spec: str, message: str, line: int) -> None:
    err = parse_error(HEAD + spec)
    assert message in str(err)
    assert str(err).startswith(f"in.yaml:document 1, line {line}")


def test_errors_count_documents() -> None:
    good = HEAD + "spec: {workload: {name: vote}}\n"
    err = parse_error(good + "---\n" + good.replace("v2beta1", "v3"))
    assert "document 2, line 6, apiVersion" in str(err)
    assert "unsupported apiVersion 'k8s.otterize.com/v3'" in str(err)
    assert "k8s.otterize.com/v2beta1" in err.choices


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nspec: {}\n",
            "expected kind ClientIntents",
        ),
        (HEAD + "spec: {workload: {name: vote}}\nstatus: {}\nextra: 1\n", "unknown field 'extra'"),
        (
            "apiVersion: k8s.otterize.com/v1alpha3\nkind: ClientIntents\nmetadata: {name: a}\n"
            "spec:\n  service: {name: vote}\n  calls:\n    - name: k\n      type: kafka\n",
            "a 'kafka' call is about topics",
        ),
        (
            "apiVersion: k8s.otterize.com/v1alpha3\nkind: ClientIntents\nmetadata: {name: a}\n"
            "spec:\n  service: {name: vote}\n  calls:\n    - name: db\n      type: database\n",
            "grants database privileges",
        ),
        (
            "apiVersion: k8s.otterize.com/v1alpha3\nkind: ClientIntents\nmetadata: {name: a}\n"
            "spec:\n  service: {name: vote}\n  calls:\n    - name: x\n      type: grpc\n",
            "unknown call type 'grpc'",
        ),
        (
            "apiVersion: k8s.otterize.com/v1alpha3\nkind: ClientIntents\nmetadata: {name: a}\n"
            "spec:\n  service: {name: vote}\n  calls:\n    - name: x\n"
            "      HTTPResources: [{path: /, methods: [GET]}]\n",
            "service mesh",
        ),
        (
            "apiVersion: k8s.otterize.com/v1alpha3\nkind: ClientIntents\nmetadata: {name: a}\n"
            "spec:\n  service: {name: vote}\n  calls:\n    - type: internet\n",
            "needs `internet:",
        ),
        (
            "apiVersion: k8s.otterize.com/v1alpha3\nkind: ClientIntents\nmetadata: {name: a}\n"
            "spec:\n  workload: {name: vote}\n",
            "unknown field 'workload'",
        ),
        ("a: [1\n", "not valid YAML"),
        (HEAD + "spec: {workload: {name: vote}}\nspec: {}\n", "duplicate key"),
    ],
)
def test_other_errors(text: str, message: str) -> None:
    assert message in str(parse_error(text))


def test_duplicate_intents_are_an_error() -> None:
    good = HEAD + "spec: {workload: {name: vote}}\n"
    err = parse_error(good + "---\n" + good)
    assert "a second ClientIntents vote/vote (the first is at in.yaml:document 1, line 1)" in str(
        err
    )
    assert str(err).startswith("in.yaml:document 2, line 8, metadata.name: ")


# --- Otterize's admission rules (otterize/intents-operator v3.0.19, src/operator/webhooks/) ---

WORKER_TWICE = """\
apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata: {name: worker}
spec:
  workload: {name: worker, kind: Deployment}
  targets:
    - service: {name: redis}
---
apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata: {name: worker-db}
spec:
  workload: {name: worker, kind: Deployment}
  targets:
    - service: {name: db}
"""


def test_a_second_intents_for_the_same_client_is_refused_naming_both_places() -> None:
    # Today's merge would have given worker egress to redis and db without a word.
    err = parse_error(WORKER_TWICE)
    assert str(err).startswith(
        "in.yaml:document 2, line 13, spec.workload.name: ClientIntents "
        "vote/worker-db is a second ClientIntents for client worker "
        "(kind Deployment) in namespace vote; the first is vote/worker "
        "at in.yaml:document 1, line 5, spec.workload.name."
    )
    assert ("Intents for client worker already exist in resource worker") in str(err)


def test_the_same_client_in_both_shapes_is_refused() -> None:
    v1 = (
        "apiVersion: k8s.otterize.com/v1alpha3\nkind: ClientIntents\n"
        "metadata: {name: worker-v1}\n"
        "spec:\n  service: {name: worker, kind: Deployment}\n"
        "  calls:\n    - name: svc:db\n"
    )
    err = parse_error(WORKER_TWICE.split("---\n")[0] + "---\n" + v1)
    assert str(err).startswith("in.yaml:document 2, line 13, spec.service.name: ")
    assert "the first is vote/worker at in.yaml:document 1, line 5, spec.workload.name" in str(err)


def test_a_second_intents_in_another_file_is_refused_when_policies_are_built() -> None:
    first, second = WORKER_TWICE.split("---\n")
    intents = [
        *parse_client_intents(first, source="a.yaml", default_namespace="vote"),
        *parse_client_intents(second, source="b.yaml", default_namespace="vote"),
    ]
    with pytest.raises(InputError) as info:
        generate(intents)
    assert str(info.value).startswith("b.yaml:document 1, line 5, spec.workload.name: ")
    assert "at a.yaml:document 1, line 5, spec.workload.name" in str(info.value)


@pytest.mark.parametrize(
    ("second_workload", "second_namespace"),
    [
        ("{name: worker, kind: StatefulSet}", "vote"),  # another kind: another client
        ("{name: worker}", "vote"),  # no kind is Otterize's OttrLegacy kind: another client too
        ("{name: worker, kind: Deployment}", "traefik"),  # another namespace
    ],
)
def test_otterize_accepts_other_kinds_and_namespaces(
    second_workload: str, second_namespace: str
) -> None:
    first, second = WORKER_TWICE.split("---\n")
    second = second.replace(
        "metadata: {name: worker-db}",
        f"metadata: {{name: worker-db, namespace: {second_namespace}}}",
    )
    second = second.replace(
        "workload: {name: worker, kind: Deployment}", f"workload: {second_workload}"
    )
    intents = parse(first + "---\n" + second)
    assert len(intents) == 2 and intents[1].namespace == second_namespace
    if second_workload == "{name: worker}":
        # Both name the one Deployment worker: its rules add up, as Otterize's two policies would.
        egress = by_name(generate(intents))["worker-access"]["spec"]["egress"]
        assert len(egress) == 3  # DNS, redis, db


def test_a_dotted_workload_name_is_refused_with_otterizes_rule() -> None:
    err = parse_error(HEAD + "spec:\n  workload: {name: worker.vote}\n")
    assert str(err).startswith(
        "in.yaml:document 1, line 5, spec.workload.name: workload name 'worker.vote' contains '.'"
    )
    assert "Workload name should not contain '.' character" in str(err)
    assert "unknown workload" not in str(err)


def test_v1_webhooks_do_not_check_the_client_name() -> None:
    # clientintents_webhook_v1alpha3.go's validateSpec never looks at spec.service.name.
    (intent,) = parse(
        "apiVersion: k8s.otterize.com/v1alpha3\nkind: ClientIntents\n"
        "metadata: {name: a}\nspec:\n  service: {name: my.app}\n"
    )
    assert intent.workload == "my.app"


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        (
            HEAD + "spec:\n  workload: {name: vote}\n  targets:\n"
            "    - service: {name: redis.vote.svc}\n",
            "spec.targets[0].service.name",
            7,
        ),
        (
            HEAD + "spec:\n  workload: {name: vote}\n  targets:\n"
            "    - kubernetes: {name: redis.vote.cluster.local, kind: Deployment}\n",
            "spec.targets[0].kubernetes.name",
            7,
        ),
        (
            "apiVersion: k8s.otterize.com/v1alpha3\nkind: ClientIntents\nmetadata: {name: a}\n"
            "spec:\n  service: {name: vote}\n  calls:\n    - name: svc:redis.vote.svc\n",
            "spec.calls[0].name",
            7,
        ),
    ],
)
def test_a_target_name_with_two_dots_is_refused_with_otterizes_rule(
    text: str, field: str, line: int
) -> None:
    err = parse_error(text)
    assert str(err).startswith(f"in.yaml:document 1, line {line}, {field}: target name ")
    assert "Target server name should not contain more than one '.' character" in str(err)


def test_one_dot_still_names_the_namespace() -> None:
    (intent,) = parse(
        HEAD + "spec:\n  workload: {name: vote}\n  targets:\n    - service: {name: redis.vote}\n"
    )
    assert (intent.targets[0].name, intent.targets[0].namespace) == ("redis", "vote")


def test_v1_internet_call() -> None:
    (intent,) = parse("""
        apiVersion: k8s.otterize.com/v1alpha3
        kind: ClientIntents
        metadata: {name: w}
        spec:
          service: {name: worker}
          calls:
            - type: internet
              internet: {ips: [203.0.113.7], ports: [443]}
    """)
    assert intent.targets[0].kind == "internet"
    assert intent.targets[0].ips == ("203.0.113.7/32",) and intent.targets[0].ports == (443,)


# --- generation ----------------------------------------------------------------------------------


def test_lab_policies_are_valid_kubernetes() -> None:
    policies = generate(load_client_intents(LAB_FILE, default_namespace="vote"))
    for policy in policies:
        kubernetes_validate.validate(policy, versions.KUBERNETES_VERSION, strict=True)
    assert sorted(by_name(policies)) == [
        "db-access",
        "default-deny",
        "redis-access",
        "result-access",
        "vote-access",
        "worker-access",
    ]
    assert {p["metadata"]["namespace"] for p in policies} == {"vote"}
    for policy in policies:
        meta = policy["metadata"]
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "packetwalk"
        assert meta["labels"]["packetwalk.dev/generated-from"] == "x.yaml"
        assert meta["annotations"]["packetwalk.dev/intents-file"] == "x.yaml"


def test_vote_policy_in_full() -> None:
    policies = by_name(generate(load_client_intents(LAB_FILE, default_namespace="vote")))

    def peer(ns: str, labels: dict[str, str]) -> dict[str, Any]:
        return {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            "podSelector": {"matchLabels": labels},
        }

    assert policies["vote-access"]["spec"] == {
        "podSelector": {"matchLabels": {"app": "vote"}},
        # Service port 8080 is DNATed to pod port 80 before any policy sees the packet
        "ingress": [
            {
                "from": [peer("traefik", {"app.kubernetes.io/name": "traefik"})],
                "ports": [{"protocol": "TCP", "port": 80}],
            }
        ],
        "egress": [
            {
                "to": [peer("kube-system", {"k8s-app": "kube-dns"})],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            },
            {"to": [peer("vote", {"app": "redis"})], "ports": [{"protocol": "TCP", "port": 6379}]},
        ],
        "policyTypes": ["Ingress", "Egress"],
    }
    assert policies["redis-access"]["spec"]["policyTypes"] == ["Ingress"]  # redis calls nobody
    assert policies["worker-access"]["spec"]["policyTypes"] == ["Egress"]  # nobody calls worker
    assert policies["default-deny"]["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
    }


def test_no_policy_outside_managed_namespaces() -> None:
    policies = generate(load_client_intents(LAB_FILE, default_namespace="vote"))
    assert "traefik-access" not in by_name(policies)
    everything = PolicyOptions(namespaces=frozenset({"vote", "traefik"}))
    with_traefik = by_name(
        generate(load_client_intents(LAB_FILE, default_namespace="vote"), everything)
    )
    traefik = with_traefik["traefik-access"]
    assert traefik["metadata"]["namespace"] == "traefik"
    assert traefik["spec"]["policyTypes"] == ["Egress"]
    assert len(traefik["spec"]["egress"]) == 3  # DNS, vote:80, result:80


def test_generation_is_deterministic_and_order_free() -> None:
    intents = load_client_intents(LAB_FILE, default_namespace="vote")
    assert generate(intents) == generate(list(reversed(intents)))


def test_workload_targets_allow_all_ports_and_internet_gives_ip_blocks() -> None:
    intents = load_client_intents(DATA / "network-mapper-export.yaml")
    policies = by_name(
        generate(intents, PolicyOptions(namespaces=frozenset({"vote"}), default_deny=False))
    )
    assert sorted(policies) == ["db-access", "redis-access", "worker-access"]
    db_rule = policies["db-access"]["spec"]["ingress"][0]
    assert "ports" not in db_rule and db_rule["from"][0]["podSelector"] == {
        "matchLabels": {"app": "worker"}
    }
    egress = policies["worker-access"]["spec"]["egress"]
    internet = [r for r in egress if "ipBlock" in r["to"][0]]
    assert internet == [
        {
            "to": [
                {"ipBlock": {"cidr": "203.0.113.7/32"}},
                {"ipBlock": {"cidr": "198.51.100.0/24"}},
            ],
            "ports": [{"protocol": "TCP", "port": 443}],
        }
    ]
    assert sum(1 for r in egress if "ports" not in r) == 2  # db and redis, all ports
    for policy in policies.values():
        kubernetes_validate.validate(policy, versions.KUBERNETES_VERSION, strict=True)


def test_options_turn_off_dns_and_default_deny() -> None:
    intents = load_client_intents(LAB_FILE, default_namespace="vote")
    policies = by_name(
        generate(
            intents,
            PolicyOptions(namespaces=frozenset({"vote"}), allow_dns=False, default_deny=False),
        )
    )
    assert "default-deny" not in policies
    assert len(policies["vote-access"]["spec"]["egress"]) == 1


def test_a_client_with_no_rules_gets_no_empty_policy() -> None:
    intents = parse(HEAD + "spec: {workload: {name: vote}}\n")
    policies = generate(
        intents, PolicyOptions(namespaces=frozenset({"vote"}), allow_dns=False, default_deny=False)
    )
    assert policies == []  # an empty policy would still isolate vote's ingress


def test_unknown_workload_lists_known_ones() -> None:
    intents = parse(HEAD + "spec: {workload: {name: voter}}\n")
    with pytest.raises(InputError) as info:
        generate(intents)
    assert "unknown workload voter.vote" in str(info.value)
    assert "vote.vote (Deployment)" in info.value.choices
    assert "traefik.traefik (Deployment)" in info.value.choices
    assert str(info.value).startswith("in.yaml:document 1, line 1")


def test_unknown_service_lists_known_ones() -> None:
    intents = parse(
        HEAD + "spec:\n  workload: {name: vote}\n  targets:\n    - service: {name: worker}\n"
    )
    with pytest.raises(InputError) as info:
        generate(intents)
    assert "unknown Service worker.vote" in str(info.value)
    assert "redis.vote" in info.value.choices and "kube-dns.kube-system" in info.value.choices
    assert "line 7" in str(info.value)


def test_unknown_target_workload() -> None:
    intents = parse(
        HEAD + "spec:\n  workload: {name: vote}\n  targets:\n"
        "    - kubernetes: {name: db, kind: StatefulSet}\n"
    )
    with pytest.raises(InputError, match=r"unknown workload db\.vote"):
        generate(intents)


def test_ambiguous_workload_needs_a_kind() -> None:
    objects = [*voting_app_objects(), *peers()]
    db = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "db")
    objects.append({**db, "kind": "StatefulSet"})
    intents = parse(
        HEAD + "spec:\n  workload: {name: vote}\n  targets:\n    - kubernetes: {name: db}\n"
    )
    with pytest.raises(InputError, match="ambiguous: set its kind") as info:
        policies_from_intents(intents, Workloads.from_objects(objects), OPTIONS)
    assert info.value.choices == ("Deployment", "StatefulSet")
    intents = parse(
        HEAD + "spec:\n  workload: {name: vote}\n  targets:\n"
        "    - kubernetes: {name: db, kind: StatefulSet}\n"
    )
    policies = by_name(policies_from_intents(intents, Workloads.from_objects(objects), OPTIONS))
    assert "ports" not in policies["db-access"]["spec"]["ingress"][0]
    both = parse(
        HEAD + "spec:\n  workload: {name: vote}\n  targets:\n"
        "    - kubernetes: {name: db, kind: StatefulSet}\n"
        "    - kubernetes: {name: db, kind: Deployment}\n"
    )
    names = sorted(by_name(policies_from_intents(both, Workloads.from_objects(objects), OPTIONS)))
    assert names == ["db-deployment-access", "db-statefulset-access", "default-deny", "vote-access"]


def test_named_target_ports_resolve_to_numbers() -> None:
    objects = [*voting_app_objects(), *peers()]
    db_service = next(
        o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "db"
    )
    db_service["spec"]["ports"][0]["targetPort"] = "postgres"
    intents = parse(
        HEAD + "spec:\n  workload: {name: vote}\n  targets:\n    - service: {name: db}\n"
    )
    policies = by_name(policies_from_intents(intents, Workloads.from_objects(objects), OPTIONS))
    assert policies["db-access"]["spec"]["ingress"][0]["ports"] == [
        {"protocol": "TCP", "port": 5432}
    ]
    db_service["spec"]["ports"][0]["targetPort"] = "pg"
    with pytest.raises(InputError, match="named port 'pg'"):
        policies_from_intents(intents, Workloads.from_objects(objects), OPTIONS)


def test_service_without_ports_is_an_error() -> None:
    objects = [*voting_app_objects(), *peers()]
    for obj in objects:
        if obj["kind"] == "Service" and obj["metadata"]["name"] == "db":
            obj["spec"]["ports"] = []
    intents = parse(
        HEAD + "spec:\n  workload: {name: vote}\n  targets:\n    - service: {name: db}\n"
    )
    with pytest.raises(InputError, match="has no ports"):
        policies_from_intents(intents, Workloads.from_objects(objects), OPTIONS)


def test_service_without_pods_is_an_error() -> None:
    objects = [*voting_app_objects(), *peers()]
    for obj in objects:
        if obj["kind"] == "Service" and obj["metadata"]["name"] == "db":
            obj["spec"]["selector"] = {"app": "database"}
    intents = parse(
        HEAD + "spec:\n  workload: {name: vote}\n  targets:\n    - service: {name: db}\n"
    )
    with pytest.raises(InputError, match="selects no known workload"):
        policies_from_intents(intents, Workloads.from_objects(objects), OPTIONS)


def test_workload_registry() -> None:
    workloads = registry()
    vote = workloads.workload("vote", "vote")
    assert vote is not None and vote.selector == {"app": "vote"} and vote.kind == "Deployment"
    assert [(p.port, p.protocol, p.name) for p in vote.ports] == [(80, "TCP", "vote")]
    traefik = workloads.workload("traefik", "traefik")
    assert traefik is not None and traefik.selector == {"app.kubernetes.io/name": "traefik"}
    assert workloads.workload("vote", "vote", "StatefulSet") is None
    redis = workloads.service("vote", "redis")
    assert redis is not None
    assert [w.name for w in workloads.backing(redis)] == ["redis"]
    dns = workloads.workload("kube-system", "coredns")
    assert dns is not None and {(p.port, p.protocol) for p in dns.ports} == {
        (53, "UDP"),
        (53, "TCP"),
    }


def test_default_deny_object() -> None:
    policy = default_deny("shop")
    kubernetes_validate.validate(policy, versions.KUBERNETES_VERSION, strict=True)
    assert policy["metadata"]["name"] == "default-deny"
    assert policy["metadata"]["namespace"] == "shop"


# --- robustness: any document parses and generates, or fails with an InputError -----------------

_NAMES = st.sampled_from(
    [
        "vote",
        "redis",
        "db",
        "worker",
        "result",
        "nope",
        "redis.vote",
        "vote.vote",
        "traefik",
        "coredns.kube-system",
        "kube-dns.kube-system",
        "svc:redis",
        "svc:db.vote",
        "svc:x",
        "",
        "kubernetes.default",
        "svc:kubernetes.default",
        "redis.vote.svc",
    ]
)
_ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1, 70000),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
)
_KINDS = st.sampled_from(["Deployment", "Service", "StatefulSet", "Pod"])
_INTERNET = st.fixed_dictionaries(
    {},
    optional={
        "ips": st.lists(
            st.sampled_from(["10.0.0.1", "1.2.3.0/24", "1.2.3.4/8", "::1", "x"]), max_size=3
        ),
        "ports": st.lists(st.one_of(st.integers(-1, 70000), st.text(max_size=2)), max_size=2),
        "domains": st.lists(st.just("a.com"), max_size=1),
    },
)
_TARGET_BODY = st.fixed_dictionaries(
    {"name": _NAMES}, optional={"kind": _KINDS, "http": st.just([])}
)
_V2_TARGET = st.one_of(
    st.builds(
        lambda k, b: {k: b},
        st.sampled_from(["service", "kubernetes", "sql", "kafka"]),
        _TARGET_BODY,
    ),
    st.builds(lambda b: {"internet": b}, _INTERNET),
    st.dictionaries(st.sampled_from(["service", "kubernetes", "internet"]), _ODD, max_size=2),
)
_V2_SPEC = st.fixed_dictionaries(
    {"workload": st.fixed_dictionaries({"name": _NAMES}, optional={"kind": _KINDS})},
    optional={"targets": st.lists(_V2_TARGET, max_size=4)},
)
_V1_CALL = st.fixed_dictionaries(
    {},
    optional={
        "name": _NAMES,
        "kind": _KINDS,
        "type": st.sampled_from(["http", "internet", "kafka", "database", "grpc"]),
        "internet": _INTERNET,
        "HTTPResources": st.just([]),
    },
)
_V1_SPEC = st.fixed_dictionaries(
    {"service": st.fixed_dictionaries({"name": _NAMES}, optional={"kind": _KINDS})},
    optional={"calls": st.lists(_V1_CALL, max_size=4)},
)
_SPECS = st.one_of(
    st.tuples(st.sampled_from(["k8s.otterize.com/v2beta1", "k8s.otterize.com/v2alpha1"]), _V2_SPEC),
    st.tuples(st.sampled_from(["k8s.otterize.com/v1alpha3", "k8s.otterize.com/v1beta1"]), _V1_SPEC),
    st.tuples(
        st.sampled_from(["k8s.otterize.com/v2beta1", "k8s.otterize.com/v1alpha3"]),
        st.one_of(_ODD, _V1_SPEC, _V2_SPEC),
    ),
)


@settings(max_examples=200, deadline=None)
@given(doc=_SPECS, namespace=st.sampled_from(["vote", "traefik", "elsewhere"]))
def test_any_document_parses_or_fails_cleanly(doc: tuple[str, object], namespace: str) -> None:
    api, spec = doc
    text = yaml.safe_dump(
        {
            "apiVersion": api,
            "kind": "ClientIntents",
            "metadata": {"name": "n", "namespace": namespace},
            "spec": spec,
        }
    )
    try:
        intents = parse_client_intents(text, source="h.yaml", default_namespace="vote")
        policies = policies_from_intents(intents, registry(), OPTIONS)
    except InputError as err:
        assert str(err).startswith("h.yaml:")
        return
    for policy in policies:
        kubernetes_validate.validate(policy, versions.KUBERNETES_VERSION, strict=True)


# --- the API server: `service: {name: kubernetes.default}` ---------------------------------------

API_OBJECTS = DATA / "api-server-objects.yaml"
WORKER_CALLS_API = (
    HEAD.replace("{name: vote}", "{name: worker}")
    + "spec:\n  workload: {name: worker}\n  targets:\n"
    "    - service: {name: kubernetes.default}\n"
)
API_RULE = {
    "to": [{"ipBlock": {"cidr": "10.96.0.1/32"}}, {"ipBlock": {"cidr": "172.18.0.3/32"}}],
    "ports": [{"protocol": "TCP", "port": 6443}],
}


def api_objects(*kinds: str) -> list[dict[str, Any]]:
    """The API server's Service, EndpointSlice and Endpoints of a kind cluster, by kind."""
    return [o for o in yaml.safe_load_all(API_OBJECTS.read_text()) if o["kind"] in kinds]


def with_api(*kinds: str) -> Workloads:
    return Workloads.from_objects([*voting_app_objects(), *peers(), *api_objects(*kinds)])


@pytest.mark.parametrize(
    "targets",
    [
        "  targets:\n    - service: {name: kubernetes.default}\n",
        "  targets:\n    - kubernetes: {name: kubernetes.default, kind: Service}\n",
    ],
)
@pytest.mark.parametrize(
    "kinds",
    [
        ("Service", "EndpointSlice"),
        ("Service", "Endpoints"),
        ("Service", "EndpointSlice", "Endpoints"),
    ],
)
def test_api_server_becomes_egress_to_its_cluster_ip_and_endpoints(
    targets: str, kinds: tuple[str, ...]
) -> None:
    intents = parse(
        HEAD.replace("{name: vote}", "{name: worker}")
        + "spec:\n  workload: {name: worker}\n"
        + targets
    )
    policies = by_name(policies_from_intents(intents, with_api(*kinds), OPTIONS))
    worker = policies["worker-access"]
    assert API_RULE in worker["spec"]["egress"]
    assert worker["spec"]["policyTypes"] == ["Egress"]  # the API server gets no ingress half
    assert sorted(policies) == ["default-deny", "worker-access"]
    kubernetes_validate.validate(worker, versions.KUBERNETES_VERSION, strict=True)


def test_api_server_in_the_v1_shape() -> None:
    (intent,) = parse(
        "apiVersion: k8s.otterize.com/v1alpha3\nkind: ClientIntents\n"
        "metadata: {name: worker}\nspec:\n  service: {name: worker}\n"
        "  calls:\n    - name: svc:kubernetes.default\n"
    )
    policies = by_name(
        policies_from_intents([intent], with_api("Service", "EndpointSlice"), OPTIONS)
    )
    assert API_RULE in policies["worker-access"]["spec"]["egress"]


def test_api_server_addresses_ipv6_and_not_ready() -> None:
    service, endpoint_slice = api_objects("Service", "EndpointSlice")
    service["spec"]["clusterIPs"] = ["10.96.0.1", "fd00:10:96::1"]
    endpoint_slice["endpoints"].append(
        {"addresses": ["172.18.0.9"], "conditions": {"ready": False}}
    )
    v6 = {
        **endpoint_slice,
        "metadata": {**endpoint_slice["metadata"], "name": "kubernetes-v6"},
        "addressType": "IPv6",
        "endpoints": [{"addresses": ["fc00:f853:ccd:e793::3"]}],
    }
    workloads = Workloads.from_objects(
        [*voting_app_objects(), *peers(), service, endpoint_slice, v6]
    )
    policies = by_name(policies_from_intents(parse(WORKER_CALLS_API), workloads, OPTIONS))
    (rule,) = [r for r in policies["worker-access"]["spec"]["egress"] if "ipBlock" in r["to"][0]]
    assert [p["ipBlock"]["cidr"] for p in rule["to"]] == [
        "10.96.0.1/32",
        "fd00:10:96::1/128",
        "172.18.0.3/32",
        "fc00:f853:ccd:e793::3/128",
    ]


@pytest.mark.parametrize(
    ("kinds", "missing", "not_missing"),
    [
        ((), "the Service kubernetes in namespace default", None),
        (
            (),
            "an EndpointSlice labelled kubernetes.io/service-name=kubernetes or the Endpoints",
            None,
        ),
        (("Service",), "its endpoints: an EndpointSlice", "the Service kubernetes in"),
        (("EndpointSlice",), "the Service kubernetes in namespace default", "its endpoints"),
    ],
)
def test_api_server_without_its_objects_says_what_is_missing(
    kinds: tuple[str, ...], missing: str, not_missing: str | None
) -> None:
    with pytest.raises(ApiServerAddressesUnknown) as info:
        policies_from_intents(parse(WORKER_CALLS_API), with_api(*kinds), OPTIONS)
    text = str(info.value)
    assert text.startswith(
        "in.yaml:document 1, line 7, spec.targets[0]: ClientIntents "
        "vote/worker calls the API server (Service kubernetes.default)"
    )
    assert missing in text
    assert "does not guess" in text and "unknown Service" not in text
    if not_missing is not None:
        assert not_missing not in text


def test_api_server_endpoints_must_list_a_ready_address_and_the_cluster_ip_must_be_known() -> None:
    service, endpoint_slice = api_objects("Service", "EndpointSlice")
    endpoint_slice["endpoints"][0]["conditions"]["ready"] = False
    del service["spec"]["clusterIP"], service["spec"]["clusterIPs"]
    workloads = Workloads.from_objects([*voting_app_objects(), *peers(), service, endpoint_slice])
    with pytest.raises(ApiServerAddressesUnknown) as info:
        policies_from_intents(parse(WORKER_CALLS_API), workloads, OPTIONS)
    assert "the object given has no spec.clusterIP" in str(info.value)
    assert "a ready endpoint address (EndpointSlice/kubernetes list none)" in str(info.value)


def test_a_kubernetes_service_with_a_selector_is_an_ordinary_service() -> None:
    # Upstream takes the ipBlock path only for a `kubernetes.default` Service without selector.
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "spec": {"selector": {"app": "nothing"}, "ports": [{"port": 443}]},
    }
    workloads = Workloads.from_objects([*voting_app_objects(), *peers(), service])
    with pytest.raises(InputError, match="selects no known workload"):
        policies_from_intents(parse(WORKER_CALLS_API), workloads, OPTIONS)


def test_api_server_as_a_workload_target_hints_at_the_service_target() -> None:
    intents = parse(
        HEAD + "spec:\n  workload: {name: vote}\n  targets:\n"
        "    - kubernetes: {name: kubernetes.default}\n"
    )
    with pytest.raises(
        InputError,
        match=r"unknown workload kubernetes\.default; the API server "
        r"is a Service target",
    ):
        generate(intents)


def test_the_lab_says_what_a_stack_knows_of_the_api_server(tmp_path: Path) -> None:
    from packetwalk.lab.config import parse_lab_config
    from packetwalk.lab.objects import lab_objects

    (tmp_path / "api.yaml").write_text(WORKER_CALLS_API)
    cfg = parse_lab_config(
        "k",
        {
            "packetwalk:intents": str(tmp_path / "api.yaml"),
            "packetwalk:serviceSubnet": "10.100.0.0/16",
        },
        source="Pulumi.k.yaml",
    )
    with pytest.raises(ApiServerAddressesUnknown) as info:
        lab_objects(cfg)
    text = str(info.value)
    assert "document 1, line 7, spec.targets[0]: ClientIntents vote/worker calls the API" in text
    assert "`invoke up` reads the control-plane node's address from the cluster" in text
    assert "evaluate the running lab with `invoke matrix --cluster` instead" in text


def test_the_lab_writes_the_api_server_rule_given_the_control_plane_address(
    tmp_path: Path,
) -> None:
    """What `invoke up` does on kind: the ClusterIP from packetwalk:serviceSubnet (the first
    address), the endpoint from the cluster stack's apiServerAddress, port 6443."""
    from packetwalk.lab.config import parse_lab_config
    from packetwalk.lab.objects import lab_objects

    (tmp_path / "api.yaml").write_text(WORKER_CALLS_API)
    cfg = parse_lab_config(
        "k",
        {
            "packetwalk:intents": str(tmp_path / "api.yaml"),
            "packetwalk:serviceSubnet": "10.100.0.0/16",
        },
        source="Pulumi.k.yaml",
    )
    objects = lab_objects(cfg, api_server_address="172.18.0.9")
    [policy] = [
        o
        for o in objects
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "worker-access"
    ]
    api_rules = [
        rule
        for rule in policy["spec"]["egress"]
        if any("ipBlock" in peer for peer in rule.get("to", []))
    ]
    assert api_rules == [
        {
            "to": [{"ipBlock": {"cidr": "10.100.0.1/32"}}, {"ipBlock": {"cidr": "172.18.0.9/32"}}],
            "ports": [{"protocol": "TCP", "port": 6443}],
        }
    ]
    # the stand-ins the rule was built from are not deployed
    assert not [o for o in objects if o["metadata"]["name"] == "kubernetes"]


# --- names: packetwalk's own, not Otterize's -----------------------------------------------------


def test_policy_names_are_packetwalks_and_documented_as_such() -> None:
    import packetwalk.intents
    import packetwalk.intents.policies

    intents = load_client_intents(LAB_FILE, default_namespace="vote")
    assert all(i.workload_kind == "Deployment" for i in intents)
    # Otterize would write vote-deployment-access (client, kind Deployment) and
    # redis-service-access (server of a Service target).
    assert "vote-access" in by_name(generate(intents))
    docs = " ".join((packetwalk.intents.__doc__ or "").split())
    assert "``<name>-<kind>-access`` (lower-case kind) whenever the identity has a kind" in docs
    assert "vote-deployment-access" in docs
    lab = (REPO_ROOT / "labs" / "08-zero-trust-intents.yaml").read_text()
    source = Path(packetwalk.intents.policies.__file__).read_text()
    for text in (docs, lab, source):
        flat = " ".join(text.split())
        assert "Otterize's naming" not in flat and "Like Otterize, the kind" not in flat
    assert "vote-deployment-access" in " ".join(lab.split())
