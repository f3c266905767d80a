"""A rule's ``ports`` turned into connections towards one destination.

Named ports live on the destination pod (docs/design/netpol-semantics.md rule 4: name and
protocol must both match), so a rule with a named port resolves once per distinct set of
destination container ports; a rule without one resolves once, full stop.
"""

from __future__ import annotations

from packetwalk.cluster.model import ContainerPort
from packetwalk.netpol.model import PortSpec
from packetwalk.netpol.ports import ALL, ALL_PORTS, NONE, ConnSet


class RulePorts:
    """A rule's ``ports``, resolved per destination (named ports live on the destination pod)."""

    __slots__ = ("_cache", "fixed", "named", "specs")

    def __init__(self, specs: tuple[PortSpec, ...] | None) -> None:
        self.specs = specs
        self.named = specs is not None and any(isinstance(s.port, str) for s in specs)
        self.fixed = resolve_ports(specs, ()) if not self.named else NONE
        self._cache: dict[tuple[ContainerPort, ...], ConnSet] = {}

    def on(self, dst_ports: tuple[ContainerPort, ...]) -> ConnSet:
        if not self.named:
            return self.fixed
        hit = self._cache.get(dst_ports)
        if hit is None:
            hit = self._cache[dst_ports] = resolve_ports(self.specs, dst_ports)
        return hit


def resolve_ports(
    specs: tuple[PortSpec, ...] | None, dst_ports: tuple[ContainerPort, ...]
) -> ConnSet:
    """The connections a rule's ``ports`` open towards a pod with these container ports."""
    if specs is None:
        return ALL
    out = NONE
    for spec in specs:
        if spec.port is None:
            out = out | ConnSet.of(spec.protocol, ALL_PORTS)
        elif isinstance(spec.port, str):
            for cport in dst_ports:
                if cport.name == spec.port and cport.protocol == spec.protocol:
                    out = out | ConnSet.of(spec.protocol, ((cport.port, cport.port),))
                    break
        else:
            end = spec.end_port if spec.end_port is not None else spec.port
            out = out | ConnSet.of(spec.protocol, ((spec.port, end),))
    return out
