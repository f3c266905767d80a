"""Pod Security Standards levels over pod specs (packetwalk.render.podsecurity)."""

from __future__ import annotations

from typing import Any

import pytest

from packetwalk.render.podsecurity import ENFORCE_LABEL, namespace_level, violations

RESTRICTED_CONTAINER: dict[str, Any] = {
    "name": "app",
    "image": "app",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
        "capabilities": {"drop": ["ALL"]},
    },
}


def test_namespace_level_defaults_to_privileged_and_refuses_nonsense_as_restricted() -> None:
    assert namespace_level(None) == "privileged"
    assert namespace_level({ENFORCE_LABEL: "baseline"}) == "baseline"
    assert namespace_level({ENFORCE_LABEL: "Baseline"}) == "restricted"


def test_privileged_admits_everything() -> None:
    spec = {
        "hostNetwork": True,
        "containers": [{"name": "c", "securityContext": {"privileged": True}}],
    }
    assert violations("privileged", spec) == []


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"hostNetwork": True, "containers": []}, "hostNetwork"),
        ({"hostPID": True, "containers": []}, "hostPID"),
        ({"containers": [{"name": "c", "securityContext": {"privileged": True}}]}, "privileged"),
        (
            {
                "containers": [
                    {"name": "c", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}
                ]
            },
            "NET_ADMIN",
        ),
        (
            {
                "ephemeralContainers": [
                    {"name": "e", "securityContext": {"capabilities": {"add": ["NET_RAW"]}}}
                ]
            },
            "ephemeralContainers[e]",
        ),
        (
            {"volumes": [{"name": "run", "hostPath": {"path": "/run"}}], "containers": []},
            "hostPath",
        ),
        (
            {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]},
            "hostPort",
        ),
        (
            {
                "securityContext": {"sysctls": [{"name": "net.ipv4.ip_forward", "value": "1"}]},
                "containers": [],
            },
            "net.ipv4.ip_forward",
        ),
        (
            {"securityContext": {"seccompProfile": {"type": "Unconfined"}}, "containers": []},
            "Unconfined",
        ),
    ],
)
def test_baseline_refuses(spec: dict[str, Any], reason: str) -> None:
    found = violations("baseline", spec)
    assert any(reason in problem for problem in found), found
    assert violations("privileged", spec) == []


def test_baseline_admits_default_capabilities_and_safe_sysctls() -> None:
    spec = {
        "securityContext": {
            "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
        },
        "containers": [
            {
                "name": "c",
                "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE", "CHOWN"]}},
            }
        ],
    }
    assert violations("baseline", spec) == []


def test_restricted_admits_a_hardened_pod_and_names_each_missing_setting() -> None:
    assert violations("restricted", {"containers": [RESTRICTED_CONTAINER]}) == []
    bare = violations("restricted", {"containers": [{"name": "app", "image": "app"}]})
    assert [p.split(": ", 1)[1].split(" ")[0] for p in bare] == [
        "allowPrivilegeEscalation",
        "runAsNonRoot",
        "seccompProfile",
        "capabilities",
    ]


def test_restricted_takes_pod_level_settings_and_refuses_root() -> None:
    container = {
        "name": "app",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    pod_level = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert violations("restricted", {"securityContext": pod_level, "containers": [container]}) == []
    root = {"securityContext": {**pod_level, "runAsUser": 0}, "containers": [container]}
    assert any("runAsUser: 0" in p for p in violations("restricted", root))
    volume = {
        "securityContext": pod_level,
        "containers": [container],
        "volumes": [{"name": "n", "nfs": {"server": "x", "path": "/"}}],
    }
    assert violations("restricted", volume) == ["volume n: nfs is not allowed"]
