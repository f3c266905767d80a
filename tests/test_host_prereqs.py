"""Prerequisite rules: versions from each tool's own output, verdicts and the fix text per OS."""

from __future__ import annotations

import json

import pytest

from packetwalk.host import prereqs
from packetwalk.host.prereqs import Probe, Status, check, check_all, found_version, requirements_for
from packetwalk.lab import versions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v3.272.0", (3, 272, 0)),
        ("3.272.0\n", (3, 272, 0)),
        ("27.3.1", (27, 3, 1)),
        ("Kubernetes v1.30.0+abc", (1, 30, 0)),
        ("1.36", (1, 36)),
        ("no digits here", None),
    ],
)
def test_parse_version(text: str, expected: tuple[int, ...] | None) -> None:
    assert prereqs.parse_version(text) == expected


def test_kind_version_ignores_the_go_version() -> None:
    probe = Probe("kind", True, True, "kind v0.32.0 go1.24.4 linux/amd64")
    assert found_version(probe) == (0, 32, 0)
    # Older kinds print the Go version first in some builds: still the kind version wins.
    probe = Probe("kind", True, True, "kind go1.22.1 v0.24.0 linux/arm64")
    assert found_version(probe) == (0, 24, 0)


def test_kubectl_and_gcloud_json_outputs() -> None:
    kubectl = json.dumps({"clientVersion": {"gitVersion": "v1.36.1", "major": "1"}})
    assert found_version(Probe("kubectl", True, True, kubectl)) == (1, 36, 1)
    gcloud = json.dumps({"Google Cloud SDK": "502.0.0", "core": "2024.12.06"})
    assert found_version(Probe("gcloud", True, True, gcloud)) == (502, 0, 0)


def test_platform_requirements() -> None:
    assert [r.name for r in requirements_for("kind")] == ["docker", "kind", "kubectl", "pulumi"]
    assert [r.name for r in requirements_for("gke")] == [
        "gcloud",
        "gke-gcloud-auth-plugin",
        "application-default-credentials",
        "kubectl",
        "pulumi",
    ]
    with pytest.raises(ValueError, match="valid: kind, gke"):
        requirements_for("minikube")


def test_minimums_come_from_the_pinned_versions() -> None:
    by_name = {r.name: r for r in requirements_for("kind")}
    assert by_name["kind"].minimum == prereqs.parse_version(versions.KIND_VERSION)
    assert by_name["pulumi"].minimum == prereqs.parse_version(versions.PULUMI_VERSION)
    major, minor = prereqs.parse_version(versions.KUBERNETES_VERSION) or (0, 0)
    assert by_name["kubectl"].minimum == (major, minor - 1, 0)


def test_missing_tool_says_invoke_tools_and_an_alternative() -> None:
    result = check(prereqs.KIND, Probe("kind", found=False), "linux")
    assert result.status is Status.MISSING
    assert "`invoke tools`" in result.fix
    assert f"go install sigs.k8s.io/kind@{versions.KIND_VERSION}" in result.fix
    mac = check(prereqs.KIND, Probe("kind", found=False), "darwin")
    assert "brew install kind" in mac.fix


def test_docker_cli_without_daemon_is_not_running_not_missing() -> None:
    probe = Probe("docker", True, False, "", "Cannot connect to the Docker daemon")
    result = check(prereqs.DOCKER, probe, "linux")
    assert result.status is Status.NOT_RUNNING
    assert "systemctl start docker" in result.fix
    assert "Cannot connect" in result.detail
    assert "Docker Desktop" in check(prereqs.DOCKER, probe, "darwin").fix


def test_docker_not_installed_points_to_the_install_docs() -> None:
    result = check(prereqs.DOCKER, Probe("docker", found=False), "linux")
    assert result.status is Status.MISSING
    assert "docs.docker.com/engine/install" in result.fix
    assert "invoke tools" not in result.fix  # invoke tools cannot install Docker


def test_too_old_and_ok_and_unreadable() -> None:
    old = check(prereqs.PULUMI, Probe("pulumi", True, True, "v3.100.0"), "linux")
    assert old.status is Status.TOO_OLD and old.found_version == "3.100.0"
    assert old.required == f">= {versions.PULUMI_VERSION}"
    ok = check(prereqs.PULUMI, Probe("pulumi", True, True, f"v{versions.PULUMI_VERSION}"), "linux")
    assert ok.ok and ok.fix == ""
    odd = check(prereqs.PULUMI, Probe("pulumi", True, True, "dev build"), "linux")
    assert odd.status is Status.UNKNOWN_VERSION


def test_tools_without_minimum_only_need_to_work() -> None:
    plugin = check(
        prereqs.GKE_AUTH_PLUGIN, Probe("gke-gcloud-auth-plugin", True, True, "x"), "linux"
    )
    assert plugin.ok and plugin.required == "any"
    adc = check(prereqs.ADC, Probe(prereqs.ADC.name, True, True, "/home/u/1.2/adc.json"), "linux")
    assert adc.ok and adc.found_version == "present"
    missing = check(prereqs.ADC, Probe(prereqs.ADC.name, found=False), "linux")
    assert "gcloud auth application-default login" in missing.fix


def test_windows_is_told_to_use_wsl2() -> None:
    result = check(prereqs.KIND, Probe("kind", found=False), "win32")
    assert "WSL2" in result.fix


def test_check_all_treats_an_unprobed_requirement_as_missing() -> None:
    results = check_all(requirements_for("kind"), {}, "linux")
    assert [r.status for r in results] == [Status.MISSING] * 4


def test_missing_message_names_every_failure_with_its_fix() -> None:
    probes = {
        "docker": Probe("docker", True, False, error="permission denied"),
        "kind": Probe("kind", found=False),
        "kubectl": Probe("kubectl", True, True, '{"clientVersion": {"gitVersion": "v1.30.2"}}'),
        "pulumi": Probe("pulumi", True, True, f"v{versions.PULUMI_VERSION}"),
    }
    results = check_all(requirements_for("kind"), probes, "linux")
    message = prereqs.missing_message(results)
    lines = message.splitlines()
    assert lines[0] == "3 prerequisite(s) missing; nothing was changed:"
    assert lines[1].startswith("  - docker: not running: start the daemon")
    assert lines[2].startswith("  - kind: missing: `invoke tools`")
    assert "kubectl: too old (found 1.30.2, need >= 1.35.0)" in lines[3]
    assert "pulumi" not in "".join(lines[1:4])
    assert "invoke doctor" in lines[-1]
    assert prereqs.TOOLS_NOTE in message
