"""Expected (the evaluator) against observed (the probes): mismatches and their likely cause.

An allowed probe must connect on a declared port; on an undeclared port it must at least reach
the pod (refused counts: nothing listens there). A denied probe must not connect; refused
counts as blocked too (some CNIs reject instead of dropping). A probe that could not run at all
(``error``) is reported apart: it says nothing about the policies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from packetwalk.verify.plan import Probe
from packetwalk.verify.script import Outcome

Status = Literal["ok", "unexpected-allow", "unexpected-deny", "error"]


@dataclass(frozen=True)
class Result:
    probe: Probe
    observed: Outcome
    status: Status
    reason: str = ""
    """For a mismatch: the ``--explain`` text of the expected verdict."""

    @property
    def mismatch(self) -> bool:
        return self.status in ("unexpected-allow", "unexpected-deny")

    @property
    def observed_allowed(self) -> bool:
        return self.observed == "open" or (self.observed == "closed" and not self.probe.declared)

    def describe(self) -> str:
        words = {
            "open": "connected",
            "closed": "was refused",
            "filtered": "timed out",
            "error": "could not be probed",
        }
        expected = "allow" if self.probe.expected else "deny"
        return f"{self.probe.text}: expected {expected}, {words[self.observed]}"


def judge(probe: Probe, observed: Outcome) -> Status:
    if observed == "error":
        return "error"
    if probe.expected:
        reached = observed == "open" or (observed == "closed" and not probe.declared)
        return "ok" if reached else "unexpected-deny"
    return "unexpected-allow" if observed == "open" else "ok"


def compare(probes: Sequence[Probe], observed: Mapping[int, Outcome]) -> list[Result]:
    return [
        Result(p, observed.get(p.id, "error"), judge(p, observed.get(p.id, "error")))
        for p in probes
    ]


def diagnose(results: Sequence[Result]) -> list[str]:
    """The likely causes the observed pattern points at: a CNI that does not enforce (every
    denied connection connected), DNS egress (only DNS fails), Traefik's namespace selector
    (nothing from Traefik connects while others do). The last two may hold without a mismatch:
    the policies may be wrong the same way the cluster is."""
    judged = [r for r in results if r.status != "error"]
    causes: list[str] = []
    denied = [r for r in judged if not r.probe.expected and r.probe.target_kind == "pod"]
    if (
        denied
        and any(r.mismatch for r in denied)
        and all(r.observed in ("open", "closed") for r in denied)
    ):
        causes.append(
            "every connection the policies deny reached its pod: the CNI does not enforce "
            "NetworkPolicy (Flannel does not; use kindnet, Calico or Cilium)"
        )
    dns_failed = sorted(
        {
            r.probe.source.endpoint.label
            for r in judged
            if r.probe.target_kind == "dns" and r.observed != "open"
        }
    )
    others = [r for r in judged if r.probe.target_kind != "dns"]
    connected = [r for r in others if r.observed == "open"]
    if dns_failed and connected and not any(r.status == "unexpected-deny" for r in others):
        expected = any(
            r.probe.expected
            for r in judged
            if r.probe.target_kind == "dns" and r.observed != "open"
        )
        agree = "although the policies allow it" if expected else "the policies deny it too"
        causes.append(
            f"only DNS fails ({agree}) from {', '.join(dns_failed)}: DNS egress, UDP and TCP 53 "
            "to namespace kube-system, k8s-app=kube-dns"
        )
    traefik = [
        r
        for r in judged
        if r.probe.source.kind == "pod"
        and r.probe.target_kind == "pod"
        and r.probe.declared
        and "traefik" in r.probe.source.endpoint.namespace + r.probe.source.endpoint.name
    ]
    others = [r for r in connected if r not in traefik]
    if traefik and others and not any(r.observed == "open" for r in traefik):
        causes.append(
            "nothing from Traefik gets through: check the ingress rules' namespaceSelector "
            "(kubernetes.io/metadata.name: traefik) and that Traefik's namespace carries it"
        )
    return causes
