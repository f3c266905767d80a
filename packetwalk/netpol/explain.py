"""Why a connection is allowed or denied: the policies, rules and selectors behind one verdict.

This walks the policies directly (no masks, no classes), so besides answering ``--explain`` it is
an independent second implementation the tests compare the fast evaluator against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packetwalk.cluster.model import Pod
from packetwalk.errors import InputError
from packetwalk.netpol.evaluator import Analysis, External, Node, Workload
from packetwalk.netpol.model import Peer, Policy, Rule
from packetwalk.netpol.ports import ALL, NONE, ConnSet, single
from packetwalk.netpol.ruleports import resolve_ports
from packetwalk.netpol.selectors import Selector, labels_text

PROTOCOL_CHOICES = ("TCP", "UDP", "SCTP")


@dataclass
class RuleReport:
    policy: Policy
    direction: str
    rule: Rule
    matched: bool
    reason: str
    conns: ConnSet = NONE

    @property
    def where(self) -> str:
        return f"{self.policy.ref} spec.{self.direction}[{self.rule.index}]"


@dataclass
class SideReport:
    direction: str  # "egress" of the source, "ingress" of the destination
    subject: str
    isolated: bool
    selecting: list[Policy] = field(default_factory=list)
    rules: list[RuleReport] = field(default_factory=list)
    allowed: ConnSet = ALL
    not_selecting: list[tuple[Policy, str]] = field(default_factory=list)


@dataclass
class Explanation:
    src: str
    dst: str
    egress: SideReport | None
    ingress: SideReport | None
    allowed: ConnSet
    query: tuple[str, int] | None = None
    note: str = ""

    @property
    def verdict(self) -> bool:
        if self.query is None:
            return not self.allowed.is_empty
        return self.allowed.allows(*self.query)


def parse_port_query(text: str) -> tuple[str, int]:
    """``80/TCP``, ``53/udp`` or ``5432`` (TCP) -> (protocol, port)."""
    number, _, proto = text.partition("/")
    protocol = (proto or "TCP").upper()
    if protocol not in PROTOCOL_CHOICES:
        raise InputError(
            f"unknown protocol in {text!r}", location="PORT/PROTO", choices=PROTOCOL_CHOICES
        )
    try:
        port = int(number)
    except ValueError:
        raise InputError(
            f"{text!r} is not PORT[/PROTO], e.g. 80/TCP", location="PORT/PROTO"
        ) from None
    if not 1 <= port <= 65535:
        raise InputError(f"port {port} is out of range 1-65535", location="PORT/PROTO")
    return protocol, port


def resolve_peer(analysis: Analysis, text: str, *, as_source: bool) -> Node:
    workload = analysis.find_workload(text)
    if workload is not None:
        return workload
    atom = analysis.external_for_ip(text.split("[")[0].split("-")[0], as_source=as_source)
    if atom is not None:
        return atom
    choices = [w.label for w in analysis.workloads][:30]
    raise InputError(
        f"no workload, pod or IPv4 address {text!r}",
        location="SRC" if as_source else "DST",
        choices=choices,
    )


def _selector_reason(selector: Selector, labels: dict[str, str] | object, what: str) -> str:
    assert isinstance(labels, dict)
    failing = selector.failing(labels)
    return (
        f"{what} [{selector.text()}] does not match {labels_text(labels)} "
        f"(fails {', '.join(r.text() for r in failing)})"
    )


def peer_matches(
    analysis: Analysis, peer: Peer, policy: Policy, other: Node, pod: Pod | None
) -> tuple[bool, str]:
    """Whether one from/to element matches the other end, and the reason in words."""
    if isinstance(other, External):
        if peer.ip_block is None:
            return False, "selectors match pods only, never an External address"
        if peer.ip_block.covers(other.lo, other.hi):
            return True, f"ipBlock {peer.ip_block.text()} contains {other.label}"
        return False, f"ipBlock {peer.ip_block.text()} does not contain {other.label}"
    assert pod is not None
    if peer.ip_block is not None:
        if not analysis.options.ipblock_matches_pods:
            return False, (
                "an ipBlock never matches a pod in this mode (use the "
                "ipBlock-matches-pods switch for Calico-like CNIs)"
            )
        if pod.ip and peer.ip_block.contains_ip(pod.ip):
            return True, f"pod IP {pod.ip} is in ipBlock {peer.ip_block.text()}"
        return False, f"pod IP {pod.ip or '(unknown)'} is not in ipBlock {peer.ip_block.text()}"
    ns_labels = dict(analysis.cluster.namespace_labels(pod.namespace))
    if peer.namespace_selector is None:
        if pod.namespace != policy.namespace:
            return False, (
                f"a podSelector without namespaceSelector only matches pods in "
                f"namespace {policy.namespace}; this pod is in {pod.namespace}"
            )
    elif not peer.namespace_selector.matches(ns_labels):
        return False, _selector_reason(
            peer.namespace_selector, ns_labels, f"namespaceSelector (namespace {pod.namespace})"
        )
    if peer.pod_selector is not None and not peer.pod_selector.matches(pod.labels):
        return False, _selector_reason(peer.pod_selector, dict(pod.labels), "podSelector")
    return True, f"matches {peer.text(policy.namespace)}"


def _side(analysis: Analysis, subject: Workload, other: Node, direction: str) -> SideReport:
    pod = analysis.classes[subject.classes[0]].pods[0]
    other_pod = analysis.classes[other.classes[0]].pods[0] if isinstance(other, Workload) else None
    dst_ports = pod.ports if direction == "ingress" else (other_pod.ports if other_pod else ())
    report = SideReport(direction, subject.label, isolated=False)
    allowed = NONE
    for policy in analysis.cluster.policies:
        isolates = policy.isolates_ingress if direction == "ingress" else policy.isolates_egress
        if not isolates:
            continue
        if policy.namespace != pod.namespace:
            continue
        if not policy.pod_selector.matches(pod.labels):
            report.not_selecting.append(
                (policy, _selector_reason(policy.pod_selector, dict(pod.labels), "podSelector"))
            )
            continue
        report.isolated = True
        report.selecting.append(policy)
        for rule in policy.ingress if direction == "ingress" else policy.egress:
            conns = resolve_ports(rule.ports, dst_ports)
            if rule.peers is None:
                matched, reason = True, "no from/to: every peer"
            else:
                matched, reason = False, ""
                reasons = []
                for index, peer in enumerate(rule.peers):
                    ok, why = peer_matches(analysis, peer, policy, other, other_pod)
                    reasons.append(f"peer {index}: {why}")
                    if ok:
                        matched, reason = True, f"peer {index}: {why}"
                        break
                if not matched:
                    reason = "; ".join(reasons)
            if matched and conns.is_empty:
                reason += " - but its ports match nothing on the destination (named port "
                reason += "missing or with another protocol)"
            report.rules.append(
                RuleReport(policy, direction, rule, matched, reason, conns if matched else NONE)
            )
            if matched:
                allowed = allowed | conns
    report.allowed = allowed if report.isolated else ALL
    return report


def explain(
    analysis: Analysis, src_text: str, dst_text: str, port: str | None = None
) -> Explanation:
    src = resolve_peer(analysis, src_text, as_source=True)
    dst = resolve_peer(analysis, dst_text, as_source=False)
    query = parse_port_query(port) if port else None
    if isinstance(src, External) and isinstance(dst, External):
        raise InputError(
            "both ends are outside the cluster; NetworkPolicy does not apply", location="SRC DST"
        )
    egress = _side(analysis, src, dst, "egress") if isinstance(src, Workload) else None
    ingress = _side(analysis, dst, src, "ingress") if isinstance(dst, Workload) else None
    allowed = (egress.allowed if egress else ALL) & (ingress.allowed if ingress else ALL)
    note = ""
    if src is dst and analysis.options.self_always_allowed:
        allowed, note = ALL, "a pod may always talk to itself (netpol-analyzer convention)"
    return Explanation(src.label, dst.label, egress, ingress, allowed, query, note)


def render_text(exp: Explanation) -> str:
    lines = []
    target = f" on {exp.query[1]}/{exp.query[0]}" if exp.query else ""
    word = "ALLOWED" if exp.verdict else "DENIED"
    lines.append(f"{exp.src} -> {exp.dst}{target}: {word}")
    lines.append(f"  allowed connections: {exp.allowed}")
    if exp.note:
        lines.append(f"  note: {exp.note}")
    for side, title in (
        (exp.egress, "egress of the source"),
        (exp.ingress, "ingress of the destination"),
    ):
        if side is None:
            lines.append(f"{title}: outside the cluster, no policy applies (all allowed)")
            continue
        if not side.isolated:
            lines.append(
                f"{title} ({side.subject}): not isolated, no policy selects it for "
                f"{side.direction} -> all allowed"
            )
        else:
            names = ", ".join(p.ref for p in side.selecting)
            lines.append(f"{title} ({side.subject}): isolated by {names}; allows {side.allowed}")
            if not side.rules:
                lines.append("  no rules: this direction is denied (default deny)")
            for rule in side.rules:
                mark = "+" if rule.matched else "-"
                extra = f" -> {rule.conns}" if rule.matched else ""
                lines.append(f"  {mark} {rule.where}: {rule.reason}{extra}")
        for policy, reason in side.not_selecting:
            lines.append(f"  (not selected by {policy.ref}: {reason})")
    if exp.query is not None and not exp.verdict:
        wanted = single(*exp.query)
        blockers = []
        if exp.egress is not None and not wanted <= exp.egress.allowed:
            blockers.append(f"the source's egress side ({exp.src})")
        if exp.ingress is not None and not wanted <= exp.ingress.allowed:
            blockers.append(f"the destination's ingress side ({exp.dst})")
        lines.append(f"=> denied by {' and by '.join(blockers)}")
    return "\n".join(lines) + "\n"
