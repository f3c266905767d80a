"""Learned intents against declared ones: which calls were observed but not declared, which were
declared but never seen, and how the policies generated from each differ (the evaluator's
connlist diff, :func:`packetwalk.netpol.diff.connectivity_diff`, ``ref1`` = declared, ``ref2`` =
learned).

Both sides are ClientIntents as packetwalk's parser reads them (the learned ones are read back
from the YAML the mapper writes), so a target named ``svc`` or ``svc.ns``, with or without a
kind, compares as the same call. Policies are generated for the namespaces of every client on
either side, from the inventory's workloads, Services and endpoints, and evaluated over its
live pods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packetwalk.intents.model import ClientIntents
from packetwalk.intents.policies import PolicyOptions, policies_from_intents
from packetwalk.intents.workloads import Workloads
from packetwalk.mapper.inventory import workload_objects
from packetwalk.netpol.diff import DiffLine, connectivity_diff
from packetwalk.netpol.evaluator import Analysis, analyze
from packetwalk.netpol.loader import cluster_from_objects

Call = tuple[str, str, str, str, str]
"""(client namespace, client workload, target kind, target name or address, target namespace)"""

_NETPOL_KINDS = ("Pod", "Namespace")


def calls(intents: Iterable[ClientIntents]) -> set[Call]:
    result: set[Call] = set()
    for intent in intents:
        for target in intent.targets:
            if target.kind == "internet":
                for ip in target.ips:
                    result.add((intent.namespace, intent.workload, "internet", ip, ""))
                continue
            namespace = target.namespace or intent.namespace
            result.add((intent.namespace, intent.workload, target.kind, target.name, namespace))
    return result


def describe(call: Call) -> str:
    ns, client, kind, name, target_ns = call
    where = f".{target_ns}" if target_ns and target_ns != ns else ""
    return f"{ns}/{client} -> {kind} {name}{where}"


@dataclass(frozen=True)
class IntentsDiff:
    observed_not_declared: tuple[str, ...]
    declared_never_seen: tuple[str, ...]
    connlist: tuple[DiffLine, ...]

    def text(self) -> str:
        lines = ["observed but not declared:"]
        lines += [f"  {c}" for c in self.observed_not_declared] or ["  (none)"]
        lines.append("declared but never seen:")
        lines += [f"  {c}" for c in self.declared_never_seen] or ["  (none)"]
        lines.append("connlist diff (ref1: declared, ref2: learned):")
        lines += [f"  {d.text()}" for d in self.connlist] or ["  (none)"]
        return "\n".join(lines) + "\n"


def _analysis(
    intents: Sequence[ClientIntents],
    workloads: Workloads,
    objects: Sequence[Mapping[str, Any]],
    namespaces: frozenset[str],
) -> Analysis:
    policies = policies_from_intents(intents, workloads, PolicyOptions(namespaces=namespaces))
    live = [o for o in objects if o.get("kind") in _NETPOL_KINDS]
    return analyze(cluster_from_objects([*live, *policies], source="inventory"))


def compare_intents(
    learned: Sequence[ClientIntents],
    declared: Sequence[ClientIntents],
    objects: Sequence[Mapping[str, Any]],
) -> IntentsDiff:
    seen, wanted = calls(learned), calls(declared)
    workloads = Workloads.from_objects(workload_objects(objects), source="inventory")
    namespaces = frozenset(i.namespace for i in (*learned, *declared))
    lines = connectivity_diff(
        _analysis(declared, workloads, objects, namespaces),
        _analysis(learned, workloads, objects, namespaces),
    )
    return IntentsDiff(
        observed_not_declared=tuple(describe(c) for c in sorted(seen - wanted)),
        declared_never_seen=tuple(describe(c) for c in sorted(wanted - seen)),
        connlist=tuple(lines),
    )
