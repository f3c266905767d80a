"""``verify`` against the in-memory cluster: enforcing, non-enforcing, broken, and fast."""

from __future__ import annotations

import time

from verify_lab import lab_fake

from packetwalk.kube.captures import PROBE_CONTAINER
from packetwalk.verify.plan import PortChoice
from packetwalk.verify.run import VerifyOptions, verify

OPTIONS = VerifyOptions("vote", external=("1.1.1.1", 443))


def test_an_enforcing_cni_matches_the_policies() -> None:
    fake = lab_fake()
    seen: list[tuple[int, int]] = []
    report = verify(fake, OPTIONS, progress=lambda done, total: seen.append((done, total)))
    assert report.mismatches == [] and report.problems == [] and report.causes == []
    assert len(report.results) > 50
    assert seen[0][0] == 0 and seen[-1] == (len(report.results), len(report.results))
    # one exec per source: 4 app pods, Traefik, the outside client
    assert len(fake.calls_of("exec")) == 6
    attached = {(c.namespace, c.pod) for c in fake.calls_of("add_ephemeral_container")}
    assert ("vote", "vote-0") in attached and ("traefik", "traefik-0") in attached
    assert {c.container for c in fake.calls_of("add_ephemeral_container")} == {PROBE_CONTAINER}


def test_a_non_enforcing_cni_is_caught_and_named() -> None:
    report = verify(lab_fake(enforcing=False), OPTIONS)
    texts = [r.describe() for r in report.mismatches]
    assert "vote/vote-0 -> vote/db-0:5432/TCP: expected deny, connected" in texts
    assert any("does not enforce" in c for c in report.causes)
    mismatch = next(
        r for r in report.mismatches if r.probe.text == "vote/vote-0 -> vote/db-0:5432/TCP"
    )
    assert "DENIED" in mismatch.reason and "vote/default-deny" in mismatch.reason


def test_a_broken_policy_shows_as_a_mismatch() -> None:
    report = verify(lab_fake(ignored_policies=("vote/redis-from-app",)), OPTIONS)
    texts = {r.describe() for r in report.mismatches}
    assert texts == {
        "vote/vote-0 -> vote/redis-0:6379/TCP: expected allow, timed out",
        "vote/worker-0 -> vote/redis-0:6379/TCP: expected allow, timed out",
    }
    assert not any("does not enforce" in c for c in report.causes)


def test_missing_dns_egress_is_named() -> None:
    report = verify(lab_fake(ignored_policies=("vote/allow-dns",)), OPTIONS)
    assert {r.probe.target_kind for r in report.mismatches} == {"dns"}
    assert any(c.startswith("only DNS fails") for c in report.causes)


def test_a_source_that_cannot_be_probed_is_a_problem_not_a_verdict() -> None:
    fake = lab_fake()
    fake.unstartable_containers.add(("vote", "db-0", PROBE_CONTAINER))
    report = verify(fake, OPTIONS)
    assert any(p.startswith("vote/db-0: probe container") for p in report.problems)
    db = [r for r in report.results if r.probe.source.endpoint.label == "vote/db-0"]
    assert db and all(r.status == "error" for r in db)
    assert report.mismatches == []


def test_100_pairs_under_exec_latency_run_in_parallel() -> None:
    fake = lab_fake(extra_vote_pods=7)  # 11 pods in vote: 110 ordered pairs
    fake.exec_latency = 0.2
    options = VerifyOptions("vote", ports=PortChoice("declared"))
    start = time.monotonic()
    report = verify(fake, options)
    elapsed = time.monotonic() - start
    pairs = {(r.probe.source.endpoint.label, r.probe.target.label) for r in report.results}
    assert len([p for p in pairs if p[0].startswith("vote/") and p[1].startswith("vote/")]) >= 100
    assert report.mismatches == []
    assert elapsed < 5.0
    assert fake.peak_execs >= 4  # sequential execs would take 13 x 0.2 s and never overlap


def test_credentials_for_the_namespace_alone_verify_the_namespace_itself() -> None:
    """A participant's Role covers their namespace only: the cluster-wide reads are refused
    (403), so verify reads that namespace, probes its pods among themselves, says what it left
    out, and still catches a dataplane that lets denied flows through."""
    fake = lab_fake()
    fake.role_namespaces = frozenset({"vote"})
    report = verify(fake, OPTIONS)
    assert report.limited is not None and "forbidden" in report.limited
    assert report.problems == [report.limited]
    assert report.mismatches == [] and report.results
    assert {r.probe.source.endpoint.namespace for r in report.results} == {"vote"}
    targets = {
        r.probe.target.namespace for r in report.results if r.probe.target_kind != "external"
    }
    assert targets == {"vote"}
    assert fake.calls_of("node_debug_pod") == []
    assert {c.namespace for c in fake.calls_of("exec")} == {"vote"}
    leaky = lab_fake(enforcing=False)
    leaky.role_namespaces = frozenset({"vote"})
    texts = [r.describe() for r in verify(leaky, OPTIONS).mismatches]
    assert "vote/vote-0 -> vote/db-0:5432/TCP: expected deny, connected" in texts
