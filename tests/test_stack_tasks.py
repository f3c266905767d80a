"""The lifecycle tasks end to end with fakes: prerequisites, bad config, idempotent up, down."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import yaml
from conftest import write_executable
from fake_pulumi import FakeWorld
from invoke.context import MockContext
from invoke.exceptions import Exit
from invoke.runners import Result
from pulumi.automation import OutputValue
from rich.console import Console
from test_host_toolchain import FixtureFetcher

from packetwalk.cli import stack_tasks
from packetwalk.cli.stack_tasks import Deps
from packetwalk.host.probes import RunResult
from packetwalk.host.stacks import CLUSTER_PROJECT, LAB_PROJECT
from packetwalk.kube.fake import FakeCluster
from packetwalk.lab import versions

REPO = Path(__file__).resolve().parents[1]

GOOD_ANSWERS = {
    ("docker", "info", "--format", "{{.ServerVersion}}"): RunResult(0, "27.3.1\n"),
    ("kind", "version"): RunResult(0, f"kind {versions.KIND_VERSION} go1.24.4 linux/amd64\n"),
    ("kubectl", "version", "--client", "-o", "json"): RunResult(
        0, '{"clientVersion": {"gitVersion": "v1.36.1"}}'
    ),
    ("pulumi", "version"): RunResult(0, f"v{versions.PULUMI_VERSION}\n"),
}


class Runner:
    def __init__(self, answers: dict[tuple[str, ...], RunResult]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str]) -> RunResult:
        key = (Path(argv[0]).name, *argv[1:])
        self.calls.append(key)
        return self.answers[key]


def fake_tools(folder: Path, names: Sequence[str]) -> None:
    for name in names:
        write_executable(folder, name)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A project folder with the real stack configs (copied: the tasks must not touch ours)."""
    (tmp_path / "stacks").mkdir()
    for path in (REPO / "stacks").glob("Pulumi.*.yaml"):
        (tmp_path / "stacks" / path.name).write_text(path.read_text())
    return tmp_path


class Env:
    def __init__(self, repo: Path, tools: Sequence[str] = ("docker", "kind", "kubectl", "pulumi")):
        self.repo = repo
        self.world = FakeWorld()
        self.runner = Runner(dict(GOOD_ANSWERS))
        self.out = io.StringIO()
        self.tool_dir = repo / "fake-path"
        fake_tools(self.tool_dir, tools)
        self.environ: dict[str, str] = {"PATH": str(self.tool_dir)}
        self.cluster = FakeCluster(
            objects={
                "nodes": [
                    {
                        "metadata": {
                            "name": "packetwalk-control-plane",
                            "labels": {"node-role.kubernetes.io/control-plane": ""},
                        },
                        "status": {
                            "conditions": [{"type": "Ready", "status": "True"}],
                            "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}],
                            "nodeInfo": {"kubeletVersion": "v1.36.1"},
                        },
                    }
                ]
            }
        )
        self.cluster_args: list[tuple[str | None, str | None, bool]] = []
        self.deps = Deps(
            repo=repo,
            environ=self.environ,
            factory=self.world.factory,
            runner=self.runner,
            os_name="linux",
            console=Console(file=self.out, width=200, color_system=None),
            fetcher=FixtureFetcher(),
            host=lambda: ("linux", "amd64"),
            cluster=self._cluster,
        )

    def _cluster(self, context: str | None, kubeconfig: str | None) -> FakeCluster:
        exists = kubeconfig is not None and Path(kubeconfig).is_file()
        self.cluster_args.append((context, kubeconfig, exists))
        return self.cluster

    @property
    def text(self) -> str:
        return self.out.getvalue()


@pytest.fixture
def env(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    made = Env(repo)
    monkeypatch.setattr(stack_tasks, "DEPS", made.deps)
    yield made


def test_up_builds_the_lab_and_prints_the_urls(env: Env) -> None:
    stack_tasks.up(MockContext())
    assert [op for _p, _s, op in env.world.log if op == "up"] == ["up", "up"]
    assert "Lab is up." in env.text
    assert "http://vote.localhost" in env.text and "http://result.localhost" in env.text
    assert "+ create" in env.text and "kubernetes:apps/v1:Deployment" in env.text
    # the tasks find tools installed by `invoke tools` first
    assert env.environ["PATH"].split(os.pathsep)[0] == str(env.repo / ".packetwalk" / "bin")


def test_second_up_shows_no_changes(env: Env) -> None:
    stack_tasks.up(MockContext())
    env.out.truncate(0)
    env.out.seek(0)
    stack_tasks.up(MockContext())
    assert "Lab is up to date: no changes." in env.text
    assert "no changes (4 unchanged)" in env.text
    assert "+ create" not in env.text


def test_missing_prerequisites_stop_before_anything_is_touched(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = Env(repo, tools=("kubectl",))
    made.runner.answers[("kubectl", "version", "--client", "-o", "json")] = RunResult(
        0, '{"clientVersion": {"gitVersion": "v1.30.0"}}'
    )
    monkeypatch.setattr(stack_tasks, "DEPS", made.deps)
    with pytest.raises(Exit) as info:
        stack_tasks.up(MockContext())
    assert info.value.code == 1
    message = str(info.value.message)
    assert "4 prerequisite(s) missing; nothing was changed" in message
    assert "docker: missing: install Docker Engine" in message
    assert "kind: missing: `invoke tools`" in message
    assert "kubectl: too old (found 1.30.0, need >= 1.35.0)" in message
    assert "pulumi: missing: `invoke tools`" in message
    assert made.world.requests == []
    assert not (repo / ".packetwalk").exists()
    assert "missing prerequisites" in made.text  # the table of failures


def test_bad_config_names_file_and_line_before_any_probe(env: Env) -> None:
    path = env.repo / "stacks" / "Pulumi.kind.yaml"
    path.write_text(path.read_text().replace("packetwalk:cni: kindnet", "packetwalk:cni: weave"))
    with pytest.raises(Exit) as info:
        stack_tasks.up(MockContext())
    message = str(info.value.message)
    assert "Pulumi.kind.yaml:line " in message and "weave" in message
    assert "kindnet" in message and "cilium" in message  # the valid choices
    assert env.runner.calls == [] and env.world.requests == []


def test_unknown_stack_lists_the_valid_ones(env: Env) -> None:
    with pytest.raises(Exit) as info:
        stack_tasks.up(MockContext(), stack="kind-weave")
    message = str(info.value.message)
    assert "unknown stack 'kind-weave'" in message
    assert (
        "valid: gke, gke-calico, kind, kind-calico, kind-cilium, kind-flannel, kind-ipvs, "
        "kind-nftables" in message
    )


def test_every_task_defaults_to_the_kind_stack(env: Env) -> None:
    stack_tasks.up(MockContext())
    stack_tasks.preview(MockContext())
    stack_tasks.status(MockContext())
    stack_tasks.down(MockContext())
    assert {request.stack for request in env.world.requests} == {"kind"}


def test_down_after_the_cluster_vanished(env: Env) -> None:
    stack_tasks.up(MockContext())
    env.world.cluster_vanished = True
    stack_tasks.down(MockContext())
    destroyed = [(p, op) for p, _s, op in env.world.log if op == "destroy"]
    assert destroyed == [(LAB_PROJECT, "destroy"), (CLUSTER_PROJECT, "destroy")]
    assert "Stack 'kind' is down." in env.text


def test_status_shows_outputs_nodes_and_urls(env: Env) -> None:
    stack_tasks.up(MockContext())
    env.out.truncate(0)
    env.out.seek(0)
    stack_tasks.status(MockContext())
    text = env.text
    for expected in (
        "kindnet",
        "iptables",
        "kind-packetwalk",
        "172.18.255.200-172.18.255.250",
        "http://vote.localhost",
        "packetwalk-control-plane",
        "172.18.0.2",
        "Ready",
    ):
        assert expected in text, expected
    assert "apiVersion: v1" not in text  # the kubeconfig stays secret
    ((context, kubeconfig, existed),) = env.cluster_args
    assert context == "kind-packetwalk" and existed
    assert kubeconfig is not None and not Path(kubeconfig).exists()  # temp file removed


def test_status_of_a_lab_that_is_not_up(env: Env) -> None:
    stack_tasks.status(MockContext(), stack="kind-cilium")
    assert "Stack 'kind-cilium' is not up" in env.text
    assert env.world.existing == set()  # status never creates stacks


def test_status_without_kubectl_falls_back_to_outputs(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = Env(repo, tools=("docker", "kind", "pulumi"))
    monkeypatch.setattr(stack_tasks, "DEPS", made.deps)
    made.world.deployed[(CLUSTER_PROJECT, "kind")] = True
    made.world.existing.add((CLUSTER_PROJECT, "kind"))
    stack_tasks.status(MockContext())
    assert "nodes (from the stack outputs): packetwalk-control-plane" in made.text
    assert "kubectl not available" in made.text


def test_preview_changes_nothing(env: Env) -> None:
    stack_tasks.preview(MockContext())
    assert [op for _p, _s, op in env.world.log if op in ("up", "destroy")] == []
    assert "would create" in env.text
    assert "not previewed, the cluster does not exist yet" in env.text


def test_doctor_on_a_machine_without_docker_kind_pulumi(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = Env(repo, tools=("docker", "kubectl"))
    made.runner.answers[("docker", "info", "--format", "{{.ServerVersion}}")] = RunResult(
        1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n"
    )
    monkeypatch.setattr(stack_tasks, "DEPS", made.deps)
    with pytest.raises(Exit) as info:
        stack_tasks.doctor(MockContext())
    assert info.value.code == 1
    rows = {
        line.split("│")[1].strip(): line for line in made.text.splitlines() if line.count("│") > 4
    }
    assert "not running" in rows["docker"] and "systemctl start docker" in rows["docker"]
    assert "missing" in rows["kind"] and "`invoke tools`" in rows["kind"]
    assert "1.36.1" in rows["kubectl"] and "ok" in rows["kubectl"]
    assert "missing" in rows["pulumi"]
    assert "docker: Cannot connect to the Docker daemon" in made.text
    assert "3 check(s) failed: docker, kind, pulumi." in made.text


def test_doctor_passes_when_everything_is_there(env: Env) -> None:
    stack_tasks.doctor(MockContext())
    assert "All prerequisites are met." in env.text
    assert f"state backend: file://{env.repo}/.packetwalk/state" in env.text


def test_doctor_for_gke_checks_gcloud_and_credentials(env: Env) -> None:
    (env.repo / "stacks" / "Pulumi.gke.yaml").write_text(
        "config:\n  packetwalk:platform: gke\n  gcp:project: lab-123\n  gcp:region: europe-west1\n"
    )
    env.environ["CLOUDSDK_CONFIG"] = str(env.repo / "gcloud-config")  # not the developer's
    with pytest.raises(Exit):
        stack_tasks.doctor(MockContext(), stack="gke")
    for name in ("gcloud", "gke-gcloud-auth-plugin", "application-default-credentials"):
        assert name in env.text
    assert "gcloud auth application-default login" in env.text


def test_kind_config_prints_and_writes(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    stack_tasks.kind_config(MockContext(), stack="kind-ipvs")
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["networking"]["kubeProxyMode"] == "ipvs"
    out = env.repo / "kind.yaml"
    stack_tasks.kind_config(MockContext(), stack="kind-cilium", out=str(out))
    written = yaml.safe_load(out.read_text())
    assert written["networking"]["disableDefaultCNI"] is True
    assert written["nodes"][0]["image"] == versions.KIND_NODE_IMAGE
    # The same content again is fine; something else is not overwritten without --force.
    stack_tasks.kind_config(MockContext(), stack="kind-cilium", out=str(out))
    out.write_text("# my notes\n")
    with pytest.raises(Exit, match="not overwriting"):
        stack_tasks.kind_config(MockContext(), stack="kind-cilium", out=str(out))
    assert out.read_text() == "# my notes\n"
    stack_tasks.kind_config(MockContext(), stack="kind-cilium", out=str(out), force=True)
    assert yaml.safe_load(out.read_text())["name"] == written["name"]


def test_kind_config_for_flannel_needs_the_cni_plugins(env: Env) -> None:
    with pytest.raises(Exit, match="reference CNI plugins"):
        stack_tasks.kind_config(MockContext(), stack="kind-flannel")
    plugins = env.repo / "plugins"
    fake_tools(plugins, ["bridge", "host-local", "portmap"])
    out = env.repo / "kind.yaml"
    stack_tasks.kind_config(
        MockContext(), stack="kind-flannel", out=str(out), cni_plugins_dir=str(plugins)
    )
    mounts = yaml.safe_load(out.read_text())["nodes"][0]["extraMounts"]
    assert mounts[0]["hostPath"] == str(plugins) and mounts[0]["containerPath"] == "/opt/cni/bin"


def test_kind_config_fetch_runs_the_verified_download(env: Env) -> None:
    target = env.repo / ".packetwalk" / "cni-plugins" / versions.CNI_PLUGINS_VERSION

    class Ctx(MockContext):
        def run(self, command: str, **kwargs: object) -> Result:
            assert "sha256sum -c" in command and str(target) in command
            fake_tools(target, ["bridge", "host-local", "portmap"])
            return Result(stdout="ok", exited=0)

    out = env.repo / "kind.yaml"
    stack_tasks.kind_config(Ctx(), stack="kind-flannel", out=str(out), fetch_cni_plugins=True)
    assert str(target) in out.read_text()


def test_tools_installs_into_the_project_bin(env: Env) -> None:
    stack_tasks.tools(MockContext())
    bin_dir = env.repo / ".packetwalk" / "bin"
    assert {p.name for p in bin_dir.iterdir()} >= {"kind", "kubectl", "pulumi", ".tools.json"}
    assert "installed" in env.text
    with pytest.raises(Exit, match="unknown tool"):
        stack_tasks.tools(MockContext(), only="helm")


def test_ctrl_c_says_how_to_carry_on(env: Env) -> None:
    def interrupted(request: object) -> None:
        raise KeyboardInterrupt

    env.deps.factory = interrupted
    with pytest.raises(Exit) as info:
        stack_tasks.up(MockContext())
    assert info.value.code == 130
    assert "Run `invoke up` again" in str(info.value.message)


def test_kind_config_refuses_a_gke_stack(env: Env) -> None:
    (env.repo / "stacks" / "Pulumi.gke.yaml").write_text(
        "config:\n  packetwalk:platform: gke\n  gcp:project: lab-123\n  gcp:zone: europe-west1-b\n"
    )
    with pytest.raises(Exit) as info:
        stack_tasks.kind_config(MockContext(), stack="gke")
    message = str(info.value.message)
    assert "platform 'gke'" in message and "key packetwalk:platform" in message
    assert "valid: kind, kind-calico" in message


# --- GKE ------------------------------------------------------------------------------------

GKE_ANSWERS = {
    ("gcloud", "version", "--format=json"): RunResult(0, '{"Google Cloud SDK": "502.0.0"}'),
    ("gke-gcloud-auth-plugin", "--version"): RunResult(0, "Kubernetes v1.30.0+abc\n"),
}


def _set_project(env: Env, stack: str = "gke") -> None:
    path = env.repo / "stacks" / f"Pulumi.{stack}.yaml"
    path.write_text(
        path.read_text().replace("gcp:project: your-gcp-project", "gcp:project: lab-123")
    )


def test_gke_up_refuses_the_placeholder_project(env: Env) -> None:
    for task in (stack_tasks.up, stack_tasks.preview):
        with pytest.raises(Exit) as info:
            task(MockContext(), stack="gke")
        message = str(info.value.message)
        assert "gcp:project is still the placeholder 'your-gcp-project'" in message
        assert "Pulumi.gke.yaml:key gcp:project" in message
    assert env.world.requests == [] and env.runner.calls == []


def test_gke_up_checks_gcloud_plugin_and_credentials_first(env: Env) -> None:
    # The repository's own gke stack; no gcloud, no plugin, no ADC file (an empty gcloud
    # config folder, so a developer's own credentials do not count).
    _set_project(env)
    env.environ["CLOUDSDK_CONFIG"] = str(env.repo / "gcloud-config")
    with pytest.raises(Exit) as info:
        stack_tasks.up(MockContext(), stack="gke")
    message = str(info.value.message)
    assert "3 prerequisite(s) missing; nothing was changed" in message
    assert "gcloud: missing: install the Google Cloud CLI" in message
    assert "gke-gcloud-auth-plugin: missing: `gcloud components install " in message
    assert (
        "application-default-credentials: missing: run `gcloud auth application-default "
        "login`" in message
    )
    assert env.world.requests == []  # Pulumi was never asked for anything
    assert not any(call[0] in ("docker", "kind") for call in env.runner.calls)


def _gke_ready(env: Env) -> None:
    _set_project(env)
    fake_tools(env.tool_dir, ["gcloud", "gke-gcloud-auth-plugin"])
    env.runner.answers.update(GKE_ANSWERS)
    adc = env.repo / "adc.json"
    adc.write_text("{}")
    env.environ["GOOGLE_APPLICATION_CREDENTIALS"] = str(adc)
    people = [
        {
            "name": f"p0{i}",
            "namespace": f"vote-p0{i}",
            "cluster": "packetwalk-gke",
            "voteUrl": f"http://vote-p0{i}.198.51.100.1.nip.io",
            "resultUrl": f"http://result-p0{i}.198.51.100.1.nip.io",
            "ingressAddress": "198.51.100.1",
        }
        for i in (1, 2)
    ]
    env.world.outputs_when_up[CLUSTER_PROJECT].update(
        platform=OutputValue("gke", secret=False),
        clusterName=OutputValue("packetwalk-gke", secret=False),
        nodes=OutputValue([], secret=False),
        lbAddressRange=OutputValue("", secret=False),
    )
    env.world.outputs_when_up[LAB_PROJECT].update(
        voteUrl=OutputValue(people[0]["voteUrl"], secret=False),
        resultUrl=OutputValue(people[0]["resultUrl"], secret=False),
        participants=OutputValue(people, secret=False),
    )


def test_gke_up_and_down(env: Env) -> None:
    _gke_ready(env)
    stack_tasks.up(MockContext(), stack="gke")
    assert [(p, op) for p, s, op in env.world.log if op == "up" and s == "gke"] == [
        (CLUSTER_PROJECT, "up"),
        (LAB_PROJECT, "up"),
    ]
    assert "http://vote-p02.198.51.100.1.nip.io" in env.text and "vote-p01" in env.text
    stack_tasks.down(MockContext(), stack="gke")
    assert [(p, op) for p, s, op in env.world.log if op == "destroy" and s == "gke"] == [
        (LAB_PROJECT, "destroy"),
        (CLUSTER_PROJECT, "destroy"),
    ]
    assert "Stack 'gke' is down." in env.text
