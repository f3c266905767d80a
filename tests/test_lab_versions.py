"""packetwalk.lab.versions is the one place that names a version."""

from __future__ import annotations

import re
from pathlib import Path

from packetwalk.lab import versions

REPO = Path(__file__).resolve().parents[1]
IMAGE_WITH_TAG = re.compile(
    r"[\"'][a-z0-9._-]+(?:/[a-z0-9._-]+)+:(?:v?[0-9]+\.[0-9]+[a-z0-9._-]*|latest)[\"']"
)


def test_the_bootstrap_script_installs_the_pinned_helm_sdkpy() -> None:
    found = re.findall(r"helm-sdkpy==([0-9.]+)", (REPO / "invoke").read_text())
    assert found == [versions.HELM_SDKPY_VERSION]


def test_no_module_but_versions_names_an_image_tag() -> None:
    offenders = [
        f"{path.relative_to(REPO)}: {match}"
        for folder in ("packetwalk", "components")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path.name != "versions.py"
        for match in IMAGE_WITH_TAG.findall(path.read_text())
    ]
    assert offenders == []


def test_the_image_pattern_sees_a_tag() -> None:
    assert IMAGE_WITH_TAG.search('image = "registry.k8s.io/coredns/coredns:v1.12.1"')
    assert IMAGE_WITH_TAG.search("'dockersamples/examplevotingapp_vote:latest'")
