"""The GitHub workflow: parses, runs the README's test command, previews every kind stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from packetwalk.lab import versions
from packetwalk.lab.config import stack_names

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"


def load() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def step(job: dict[str, Any], uses_prefix: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = job["steps"]
    (found,) = [s for s in steps if str(s.get("uses", "")).startswith(uses_prefix)]
    return found


def test_it_triggers_on_push_and_pull_request() -> None:
    data = load()
    triggers = data["on"] if "on" in data else data[True]  # YAML 1.1 reads bare `on` as True
    assert {"push", "pull_request"} <= set(triggers)


def test_test_job_runs_the_readme_command_on_python_311() -> None:
    job = load()["jobs"]["test"]
    assert job["runs-on"] == "ubuntu-latest"
    assert step(job, "actions/setup-python")["with"]["python-version"] == "3.11"
    # .ci/run runs the README's command; the workflow runs .ci/run as root so that the
    # real-packet tests run instead of skipping
    assert "./invoke test" in (REPO / ".ci" / "run").read_text()
    (run,) = [s["run"] for s in job["steps"] if ".ci/run" in str(s.get("run", ""))]
    assert run.startswith("sudo ") and run.endswith("bash .ci/run")
    assert 'env "PATH=$PATH"' in run  # sudo's secure_path would hide setup-python's Python
    assert not any(s.get("run") == "./invoke test" for s in job["steps"])


def test_preview_matrix_covers_every_kind_stack() -> None:
    job = load()["jobs"]["preview"]
    kind_stacks = [name for name in stack_names(REPO / "stacks") if name.startswith("kind")]
    assert sorted(job["strategy"]["matrix"]["stack"]) == kind_stacks


def test_preview_job_wires_kind_config_kind_action_and_pulumi() -> None:
    job = load()["jobs"]["preview"]
    runs = "\n".join(str(s.get("run", "")) for s in job["steps"])
    assert './invoke kind-config --stack "${{ matrix.stack }}" --out kind.yaml' in runs
    kind = step(job, "helm/kind-action@v1")["with"]
    assert kind["config"] == "kind.yaml"
    assert kind["version"] == versions.KIND_VERSION
    assert kind["kubectl_version"] == versions.KUBECTL_VERSION
    pulumi = step(job, "pulumi/actions@v7")["with"]
    assert pulumi["command"] == "preview"
    assert pulumi["work-dir"] == "stacks/lab"
    assert pulumi["cloud-url"].startswith("file://")
    assert pulumi["pulumi-version"] == versions.PULUMI_VERSION
    assert pulumi["upsert"] is True
    config = yaml.safe_load(pulumi["config-map"])
    assert config["packetwalk:kubeconfig"]["value"] == kind["kubeconfig"]
    assert config["packetwalk:kubeContext"]["value"] == "kind-" + kind["cluster_name"]
    assert "PULUMI_CONFIG_PASSPHRASE" in job["env"]
    # Python deps are installed before pulumi runs the program (the action installs none).
    names = [s.get("uses", s.get("run", "")) for s in job["steps"]]
    assert names.index("./invoke --list") < names.index("pulumi/actions@v7")


def test_gke_preview_runs_only_with_gcp_secrets() -> None:
    job = load()["jobs"]["preview-gke"]
    gke_stacks = [name for name in stack_names(REPO / "stacks") if name.startswith("gke")]
    assert sorted(job["strategy"]["matrix"]["stack"]) == gke_stacks == ["gke", "gke-calico"]
    # A job-level `if` cannot read `secrets`: the decision is an env value checked per step.
    assert "if" not in job
    assert "secrets.GCP_CREDENTIALS" in job["env"]["HAS_GCP"]
    for s in job["steps"]:
        assert s["if"] in ("env.HAS_GCP == 'true'", "env.HAS_GCP != 'true'"), s
    (skip,) = [s for s in job["steps"] if s["if"] == "env.HAS_GCP != 'true'"]
    assert "skipped" in skip["run"]


def test_gke_preview_wires_credentials_plugin_and_pulumi() -> None:
    job = load()["jobs"]["preview-gke"]
    auth = step(job, "google-github-actions/auth@")["with"]
    assert auth["credentials_json"] == "${{ secrets.GCP_CREDENTIALS }}"
    gcloud = step(job, "google-github-actions/setup-gcloud@")["with"]
    assert gcloud["install_components"] == "gke-gcloud-auth-plugin"
    pulumi = step(job, "pulumi/actions@v7")["with"]
    assert (pulumi["command"], pulumi["work-dir"]) == ("preview", "stacks/cluster")
    assert pulumi["pulumi-version"] == versions.PULUMI_VERSION
    config = yaml.safe_load(pulumi["config-map"])
    assert config["gcp:project"]["value"] == "${{ secrets.GCP_PROJECT }}"
    names = [s.get("uses", s.get("run", "")) for s in job["steps"]]
    assert names.index("./invoke --list") < names.index("pulumi/actions@v7")
    assert any("gke-gcloud-auth-plugin --version" in n for n in names)
