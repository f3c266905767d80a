"""The MetalLB pool carved from `docker network inspect kind`, and the pool objects built on it."""

from __future__ import annotations

import ipaddress
import json

import crd_validation
import jsonschema
import pytest
from pulumi_mocks import KIND_LB_RANGE, KIND_NETWORK_INSPECT

from packetwalk.errors import InputError
from packetwalk.lab.addresspool import (
    L2_ADVERTISEMENT_NAME,
    POOL_NAME,
    address_range,
    container_address,
    first_address,
    ipv4_subnet,
    lb_address_range,
    metallb_objects,
)


def _inspect(*subnets: str) -> str:
    return json.dumps([{"Name": "kind", "IPAM": {"Config": [{"Subnet": s} for s in subnets]}}])


def test_typical_kind_network_gives_the_top_of_the_slash_16() -> None:
    assert lb_address_range(KIND_NETWORK_INSPECT) == KIND_LB_RANGE


@pytest.mark.parametrize(
    ("subnet", "expected"),
    [
        ("172.18.0.0/16", "172.18.255.200-172.18.255.250"),
        ("10.0.0.0/8", "10.255.255.200-10.255.255.250"),
        ("172.19.0.0/20", "172.19.15.200-172.19.15.250"),
        ("192.168.49.0/24", "192.168.49.200-192.168.49.250"),
        ("192.168.49.0/25", "192.168.49.64-192.168.49.126"),
        ("192.168.49.16/28", "192.168.49.24-192.168.49.30"),
    ],
)
def test_range_sits_inside_the_subnet_at_its_top(subnet: str, expected: str) -> None:
    network = ipaddress.IPv4Network(subnet)
    text = address_range(network)
    assert text == expected
    first, last = (ipaddress.IPv4Address(part) for part in text.split("-"))
    assert first in network and last in network
    assert first <= last < network.broadcast_address
    # Docker hands out the gateway and containers from the bottom: keep well clear of them.
    assert int(first) - int(network.network_address) >= network.num_addresses // 2


def test_ipv4_is_found_after_an_ipv6_subnet() -> None:
    assert str(ipv4_subnet(_inspect("fc00:f853:ccd:e793::/64", "172.20.0.0/16"))) == "172.20.0.0/16"


def test_accepts_a_single_network_object() -> None:
    text = json.dumps({"Name": "kind", "IPAM": {"Config": [{"Subnet": "172.18.0.0/16"}]}})
    assert lb_address_range(text) == KIND_LB_RANGE


def test_ipv6_only_network_is_a_clear_error() -> None:
    with pytest.raises(InputError) as err:
        lb_address_range(_inspect("fc00:f853:ccd:e793::/64"))
    message = str(err.value)
    assert "no IPv4 subnet" in message
    assert "fc00:f853:ccd:e793::/64" in message
    assert "docker network inspect kind" in message


def test_network_without_ipam_config_is_a_clear_error() -> None:
    with pytest.raises(InputError, match=r"no IPv4 subnet.*none"):
        lb_address_range(json.dumps([{"Name": "kind", "IPAM": {"Config": None}}]))


def test_subnet_too_small_for_a_pool() -> None:
    with pytest.raises(InputError, match="too small"):
        lb_address_range(_inspect("192.168.49.0/29"))


@pytest.mark.parametrize("text", ["", "not json", "[]", "[1]"])
def test_garbage_output_is_an_input_error(text: str) -> None:
    with pytest.raises(InputError):
        lb_address_range(text)


def test_first_address() -> None:
    assert first_address(KIND_LB_RANGE) == "172.18.255.200"
    with pytest.raises(InputError, match="bad address range"):
        first_address("nonsense")


def test_pool_objects_pass_the_metallb_crd_schemas() -> None:
    pool, advertisement = metallb_objects(KIND_LB_RANGE)
    assert pool["kind"] == "IPAddressPool" and advertisement["kind"] == "L2Advertisement"
    assert pool["spec"]["addresses"] == [KIND_LB_RANGE]
    assert advertisement["spec"]["ipAddressPools"] == [POOL_NAME]
    assert advertisement["metadata"]["name"] == L2_ADVERTISEMENT_NAME
    for obj in (pool, advertisement):
        crd_validation.validate(obj)


def test_crd_validation_is_strict_about_unknown_fields() -> None:
    pool, _ = metallb_objects(KIND_LB_RANGE)
    pool["spec"]["adresses"] = pool["spec"].pop("addresses")
    with pytest.raises(jsonschema.ValidationError):
        crd_validation.validate(pool)


def test_container_address_is_the_nodes_ipv4_on_the_network() -> None:
    inspect = json.dumps(
        [
            {
                "Name": "kind",
                "Containers": {
                    "a1": {"Name": "lab-worker", "IPv4Address": "172.18.0.2/16"},
                    "b2": {"Name": "lab-control-plane", "IPv4Address": "172.18.0.3/16"},
                },
            }
        ]
    )
    assert container_address(inspect, "lab-control-plane") == "172.18.0.3"
    with pytest.raises(
        InputError,
        match=r"'other-control-plane' is not attached .*"
        r"\(attached: lab-control-plane, lab-worker\)",
    ):
        container_address(inspect, "other-control-plane")
    broken = inspect.replace("172.18.0.3/16", "not-an-ip")
    with pytest.raises(InputError, match="bad IPv4Address"):
        container_address(broken, "lab-control-plane")
