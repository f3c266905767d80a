"""Expected against observed, and the likely cause named from the pattern."""

from __future__ import annotations

from packetwalk.verify.compare import compare, diagnose, judge
from packetwalk.verify.plan import Endpoint, Probe, SourceSpec, TargetKind
from packetwalk.verify.script import Outcome


def probe(
    pid: int,
    expected: bool,
    *,
    declared: bool = True,
    kind: TargetKind = "pod",
    source: str = "vote/vote-0",
) -> Probe:
    ns, _, name = source.partition("/")
    src = SourceSpec("pod", Endpoint(source, "10.0.0.1", ns, name))
    target = Endpoint("vote/redis-0", "10.0.0.2", "vote", "redis-0")
    port, protocol = (53, "UDP") if kind == "dns" else (6379, "TCP")
    return Probe(pid, src, target, kind, port, protocol, declared, expected)


def test_judge_declared_and_undeclared_ports() -> None:
    assert judge(probe(0, True), "open") == "ok"
    assert judge(probe(0, True), "closed") == "unexpected-deny"
    assert judge(probe(0, True), "filtered") == "unexpected-deny"
    assert judge(probe(0, True, declared=False), "closed") == "ok"  # reached; nothing listens
    assert judge(probe(0, True, declared=False), "filtered") == "unexpected-deny"
    assert judge(probe(0, False), "open") == "unexpected-allow"
    assert judge(probe(0, False), "filtered") == "ok"
    assert judge(probe(0, False), "closed") == "ok"  # some CNIs reject instead of dropping
    assert judge(probe(0, False), "error") == "error"


def test_mismatches_are_named() -> None:
    results = compare([probe(0, False), probe(1, True)], {0: "open", 1: "filtered"})
    assert [r.describe() for r in results] == [
        "vote/vote-0 -> vote/redis-0:6379/TCP: expected deny, connected",
        "vote/vote-0 -> vote/redis-0:6379/TCP: expected allow, timed out",
    ]
    assert all(r.mismatch for r in results)


def test_a_non_enforcing_cni_is_named() -> None:
    probes = [probe(0, False), probe(1, False, declared=False), probe(2, True)]
    flannel: dict[int, Outcome] = {0: "open", 1: "closed", 2: "open"}
    assert any("does not enforce" in c for c in diagnose(compare(probes, flannel)))
    enforcing: dict[int, Outcome] = {0: "filtered", 1: "filtered", 2: "open"}
    assert diagnose(compare(probes, enforcing)) == []
    one_broken: dict[int, Outcome] = {0: "open", 1: "filtered", 2: "open"}
    assert not any("does not enforce" in c for c in diagnose(compare(probes, one_broken)))


def test_only_dns_failing_is_named() -> None:
    probes = [probe(0, True), probe(1, True, kind="dns")]
    causes = diagnose(compare(probes, {0: "open", 1: "filtered"}))
    assert len(causes) == 1 and "only DNS fails" in causes[0] and "vote/vote-0" in causes[0]
    assert diagnose(compare(probes, {0: "open", 1: "open"})) == []
    # everything failing is not "only DNS"
    assert not any("DNS" in c for c in diagnose(compare(probes, {0: "filtered", 1: "filtered"})))


def test_nothing_from_traefik_is_named() -> None:
    probes = [probe(0, True, source="traefik/traefik-0"), probe(1, True)]
    causes = diagnose(compare(probes, {0: "filtered", 1: "open"}))
    assert any("Traefik" in c and "namespaceSelector" in c for c in causes)
    assert not any("Traefik" in c for c in diagnose(compare(probes, {0: "open", 1: "open"})))
