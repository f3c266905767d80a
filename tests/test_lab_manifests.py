"""The extra manifests the lab modules apply (labs/manifests/) must be valid Kubernetes objects.

A participant who types `kubectl apply -f labs/manifests/...` in the middle of a workshop must not
meet a schema error, so every object is validated strictly (unknown fields are errors) against the
Kubernetes version the lab pins, and every manifest a module names must exist.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from packetwalk import versions

REPO = Path(__file__).resolve().parent.parent
LABS = REPO / "labs"
MANIFESTS = LABS / "manifests"
MANIFEST_FILES = sorted(MANIFESTS.rglob("*.yaml"))
PATCH_FILES = sorted(MANIFESTS.rglob("*.patch"))
MODULE_FILES = sorted(LABS.glob("[0-9][0-9]-*.yaml"))
LAB_NAMESPACE = "packetwalk-lab"


def _documents(path: Path) -> list[dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert docs, f"{path} holds no object"
    return docs


def _all_objects() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, obj) for path in MANIFEST_FILES for obj in _documents(path)]


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = (
        obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    )
    return containers


def test_there_are_manifests() -> None:
    assert len(MANIFEST_FILES) >= 5


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: str(p.relative_to(MANIFESTS)))
def test_manifest_is_valid_kubernetes(path: Path) -> None:
    for obj in _documents(path):
        kubernetes_validate.validate(obj, versions.KUBERNETES_VERSION, strict=True)


def test_strict_validation_rejects_a_typo() -> None:
    """Guards the guard: if strict mode let unknown fields pass, the test above proves nothing."""
    policy = _documents(MANIFESTS / "netpol" / "default-deny.yaml")[0]
    policy["spec"]["podSelectr"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(policy, versions.KUBERNETES_VERSION, strict=True)


def test_objects_are_namespaced_explicitly() -> None:
    """`kubectl apply -f` must not drop objects into the namespace of the participant's context."""
    for path, obj in _all_objects():
        if obj["kind"] == "Namespace":
            continue
        assert obj["metadata"].get("namespace"), f"{path}: {obj['kind']} {obj['metadata']['name']}"


def test_lab_namespace_allows_capture_containers() -> None:
    """netadmin ephemeral containers (NET_ADMIN) are rejected under PSA baseline/restricted."""
    (namespace,) = [obj for _, obj in _all_objects() if obj["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == LAB_NAMESPACE
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_images_are_pinned() -> None:
    for path, obj in _all_objects():
        for container in _containers(obj):
            image = container["image"]
            assert ":" in image and not image.endswith(":latest"), f"{path}: {image}"


def test_netshoot_image_matches_the_pinned_one() -> None:
    images = {
        container["image"]
        for _, obj in _all_objects()
        for container in _containers(obj)
        if "netshoot" in container["image"]
    }
    assert images == {versions.NETSHOOT_IMAGE}


def _policy_spec(path: Path) -> dict[str, Any]:
    (policy,) = _documents(path)
    assert policy["kind"] == "NetworkPolicy"
    spec: dict[str, Any] = policy["spec"]
    return spec


def test_exercise_policy_differs_from_its_solution_only_in_the_namespace_label() -> None:
    """The broken policy of module 06 must be broken in exactly the way its hint describes."""
    broken = _policy_spec(MANIFESTS / "netpol" / "debug-to-redis.yaml")
    fixed = _policy_spec(MANIFESTS / "solutions" / "debug-to-redis.yaml")
    broken_peer = broken["ingress"][0]["from"][0]
    fixed_peer = fixed["ingress"][0]["from"][0]
    assert broken_peer["namespaceSelector"] == {"matchLabels": {"name": LAB_NAMESPACE}}
    assert fixed_peer["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": LAB_NAMESPACE}
    }
    broken_peer.pop("namespaceSelector")
    fixed_peer.pop("namespaceSelector")
    assert broken == fixed


def test_selectors_match_the_lab_workloads() -> None:
    """Policies and Services here select pods that labs/manifests (or the voting app) creates."""
    pod_labels = {"app": {"netshoot", "whoami"}}
    app_labels = {"vote", "result", "worker", "redis", "db"}
    for path, obj in _all_objects():
        if obj["kind"] == "Service":
            assert obj["spec"]["selector"]["app"] in pod_labels["app"], path
        if obj["kind"] == "NetworkPolicy":
            selector = obj["spec"]["podSelector"].get("matchLabels", {})
            in_lab = obj["metadata"]["namespace"] == LAB_NAMESPACE
            allowed = pod_labels["app"] if in_lab else app_labels
            if selector:
                assert selector["app"] in allowed, path


def _referenced_manifests() -> set[str]:
    pattern = re.compile(r"labs/manifests/[\w./-]+\.(?:yaml|patch)")
    found: set[str] = set()
    for module in MODULE_FILES:
        found.update(pattern.findall(module.read_text()))
    return found


def test_every_manifest_a_module_names_exists() -> None:
    referenced = _referenced_manifests()
    assert referenced, "no module applies a manifest from labs/manifests/"
    missing = sorted(ref for ref in referenced if not (REPO / ref).is_file())
    assert not missing


def test_every_manifest_is_used_by_a_module() -> None:
    referenced = _referenced_manifests()
    unused = sorted(
        str(path.relative_to(REPO)) for path in MANIFEST_FILES
        if str(path.relative_to(REPO)) not in referenced
    )
    assert not unused


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_module_08_patch_applies_to_the_intents_file(tmp_path: Path) -> None:
    """Module 08's solution is `git apply`: it must fit the current intents file, both ways."""
    patch = MANIFESTS / "solutions" / "result-reads-redis.patch"
    target = tmp_path / "stacks" / "intents" / "voting-app.yaml"
    target.parent.mkdir(parents=True)
    original = (REPO / "stacks" / "intents" / "voting-app.yaml").read_text()
    target.write_text(original)

    def apply(*flags: str) -> None:
        done = subprocess.run(["git", "apply", *flags, str(patch)], cwd=tmp_path,
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr

    apply()
    changed = yaml.safe_load_all(target.read_text())
    result = next(doc for doc in changed if doc["metadata"]["name"] == "result")
    assert {t["service"]["name"] for t in result["spec"]["targets"]} == {"db", "redis"}
    apply("-R")
    assert target.read_text() == original
