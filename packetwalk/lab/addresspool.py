"""The MetalLB address pool of a kind lab, carved from the Docker network kind puts its nodes on.

MetalLB in L2 mode answers ARP for the addresses it hands out, so they must sit on the node
network (Docker's ``kind`` bridge) and must not collide with container addresses. Docker IPAM
hands addresses out from the bottom of the subnet, so the pool comes from the top: for the usual
``/16`` that is ``x.y.255.200-x.y.255.250`` (the range of MetalLB's and pulumi-kubernetes' own
kind recipes). This module is pure: the cluster stack feeds it the text of
``docker network inspect kind``.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from packetwalk.errors import InputError

POOL_NAME = "lab-pool"
L2_ADVERTISEMENT_NAME = "lab-l2"
METALLB_NAMESPACE = "metallb-system"
METALLB_API_VERSION = "metallb.io/v1beta1"

_SMALLEST_PREFIX_SUPPORTED = 28
"""A /28 leaves 8 addresses for the pool; anything smaller cannot hold nodes and a pool."""


def _network(inspect_output: str, source: str) -> dict[str, Any]:
    """The network object of ``docker network inspect`` output (a JSON list or one object)."""
    try:
        document = json.loads(inspect_output)
    except json.JSONDecodeError as err:
        raise InputError(f"not JSON ({err.msg} at line {err.lineno})", source=source) from err
    networks = document if isinstance(document, list) else [document]
    if not networks or not all(isinstance(network, dict) for network in networks):
        raise InputError("expected a JSON list with one Docker network object", source=source)
    network: dict[str, Any] = networks[0]
    return network


def container_address(
    inspect_output: str, container: str, *, source: str = "docker network inspect kind"
) -> str:
    """The IPv4 address ``container`` has on the network (``Containers.*.IPv4Address``).

    On kind the control-plane node's address is the API server's endpoint, the address the
    ``kubernetes`` Service's EndpointSlice lists (port 6443).
    """
    attached = _network(inspect_output, source).get("Containers") or {}
    names = []
    for entry in attached.values() if isinstance(attached, dict) else []:
        if not isinstance(entry, dict):
            continue
        names.append(str(entry.get("Name")))
        if entry.get("Name") == container and isinstance(entry.get("IPv4Address"), str):
            address = entry["IPv4Address"].partition("/")[0]
            try:
                return str(ipaddress.IPv4Address(address))
            except ValueError as err:
                raise InputError(
                    f"container {container!r} has a bad IPv4Address: {err}",
                    source=source,
                    location="Containers",
                ) from err
    raise InputError(
        f"container {container!r} is not attached to the network with an IPv4 address "
        f"(attached: {', '.join(sorted(names)) or 'none'})",
        source=source,
        location="Containers",
    )


def ipv4_subnet(
    inspect_output: str, *, source: str = "docker network inspect kind"
) -> ipaddress.IPv4Network:
    """The first IPv4 subnet in ``docker network inspect`` output (a JSON list or one object)."""
    network = _network(inspect_output, source)
    ipam = network.get("IPAM") or {}
    configs = (ipam.get("Config") or []) if isinstance(ipam, dict) else []
    subnets: list[str] = []
    for entry in configs:
        if isinstance(entry, dict) and isinstance(entry.get("Subnet"), str):
            subnets.append(entry["Subnet"])
    for text in subnets:
        try:
            subnet = ipaddress.ip_network(text, strict=False)
        except ValueError as err:
            raise InputError(
                f"bad subnet {text!r}: {err}", source=source, location="IPAM.Config"
            ) from err
        if isinstance(subnet, ipaddress.IPv4Network):
            return subnet
    name = network.get("Name", "kind")
    found = ", ".join(subnets) if subnets else "none"
    raise InputError(
        f"Docker network {name!r} has no IPv4 subnet (subnets: {found}); MetalLB L2 needs one. "
        "Recreate the network with IPv4 (docker network rm kind, then re-run) or use a kind "
        "config with ipFamily ipv4 or dual",
        source=source,
        location="IPAM.Config",
    )


def address_range(subnet: ipaddress.IPv4Network) -> str:
    """The ``first-last`` range MetalLB may hand out inside ``subnet``.

    Subnets of /24 or larger use .200-.250 of their last /24; smaller ones (down to /28) use the
    upper half without the broadcast address.
    """
    if subnet.prefixlen > _SMALLEST_PREFIX_SUPPORTED:
        raise InputError(
            f"subnet {subnet} is too small for nodes plus a MetalLB pool "
            f"(need /{_SMALLEST_PREFIX_SUPPORTED} or larger)",
            source="docker network inspect kind",
            location="IPAM.Config",
        )
    last = int(subnet.broadcast_address)
    if subnet.prefixlen <= 24:
        block = last - 255  # the .0 of the subnet's last /24
        first, end = block + 200, block + 250
    else:
        first, end = int(subnet.network_address) + subnet.num_addresses // 2, last - 1
    return f"{ipaddress.IPv4Address(first)}-{ipaddress.IPv4Address(end)}"


def lb_address_range(inspect_output: str, *, source: str = "docker network inspect kind") -> str:
    """``docker network inspect kind`` output in, MetalLB range (``a.b.c.d-a.b.c.e``) out."""
    return address_range(ipv4_subnet(inspect_output, source=source))


def first_address(range_text: str) -> str:
    """The first address of a ``first-last`` range (the one the lab pins Traefik's Service to)."""
    first, _, _ = range_text.partition("-")
    try:
        return str(ipaddress.IPv4Address(first.strip()))
    except ValueError as err:
        raise InputError(
            f"bad address range {range_text!r}: {err}", location="lbAddressRange"
        ) from err


def metallb_objects(address_range: object) -> list[dict[str, Any]]:
    """The IPAddressPool and L2Advertisement that make MetalLB answer ARP for ``address_range``.

    ``address_range`` is the text :func:`lb_address_range` returned, or (inside a Pulumi program)
    an Output of it, which is why it is placed as given rather than parsed here.
    """
    pool = {
        "apiVersion": METALLB_API_VERSION,
        "kind": "IPAddressPool",
        "metadata": {"name": POOL_NAME, "namespace": METALLB_NAMESPACE},
        "spec": {"addresses": [address_range]},
    }
    advertisement = {
        "apiVersion": METALLB_API_VERSION,
        "kind": "L2Advertisement",
        "metadata": {"name": L2_ADVERTISEMENT_NAME, "namespace": METALLB_NAMESPACE},
        # Naming the pool (rather than advertising every pool) keeps a participant's extra
        # pool, e.g. for a BGP module, out of the L2 announcements.
        "spec": {"ipAddressPools": [POOL_NAME]},
    }
    return [pool, advertisement]
