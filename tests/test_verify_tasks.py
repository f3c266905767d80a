"""``invoke verify``: the task against the in-memory cluster, each format, exit codes."""

from __future__ import annotations

import io
import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit
from rich.console import Console
from verify_lab import NODES, lab_fake, lab_objects, namespace

from packetwalk.cli import verify_tasks
from packetwalk.kube.fake import FakeCluster
from packetwalk.lab.config import REPO_ROOT, load_stack_config
from packetwalk.playbook import templating
from packetwalk.playbook.expect import failures
from packetwalk.playbook.facts import offline_facts
from packetwalk.playbook.loader import load_module


@pytest.fixture
def deps(monkeypatch: pytest.MonkeyPatch) -> Iterator[verify_tasks.Deps]:
    deps = verify_tasks.Deps(console=Console(file=io.StringIO(), width=200), out=io.StringIO())
    monkeypatch.setattr(verify_tasks, "DEPS", deps)
    yield deps


def use(deps: verify_tasks.Deps, fake: FakeCluster) -> list[tuple[str, str | None]]:
    asked: list[tuple[str, str | None]] = []

    def factory(cfg: object, context: str | None) -> FakeCluster:
        asked.append((getattr(cfg, "stack", ""), context))
        return fake

    deps.cluster = factory
    return asked


def text(stream: object) -> str:
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


def test_options_are_the_documented_ones() -> None:
    names = {name for arg in verify_tasks.verify.get_arguments() for name in arg.names}
    for option in ("stack", "namespace", "ports", "format", "out", "external", "timeout"):
        assert option in names


def test_an_enforcing_cluster_passes_with_a_table(deps: verify_tasks.Deps) -> None:
    asked = use(deps, lab_fake())
    verify_tasks.verify(Context())
    assert asked == [("kind", "kind-packetwalk")]
    out = text(deps.out)
    assert "expected vs observed, namespace vote" in out
    assert "vote/redis-0" in out and "no mismatches" in out


def test_a_non_enforcing_cluster_exits_1_naming_each_mismatch(deps: verify_tasks.Deps) -> None:
    use(deps, lab_fake(enforcing=False))
    with pytest.raises(Exit) as raised:
        verify_tasks.verify(Context(), stack="kind-flannel")
    assert raised.value.code == 1
    out = text(deps.out)
    assert "mismatch: vote/vote-0 -> vote/db-0:5432/TCP: expected deny, connected" in out
    assert "isolated by vote/default-deny, vote/db-from-worker" in out  # --explain reason
    assert "likely cause: every connection the policies deny reached its pod" in out


def test_json_md_and_svg(deps: verify_tasks.Deps, tmp_path: Path) -> None:
    use(deps, lab_fake(ignored_policies=("vote/redis-from-app",)))
    with pytest.raises(Exit):
        verify_tasks.verify(Context(), format="json", ports="declared", external="none")
    body = json.loads(text(deps.out))
    assert body["mismatches"] == 2
    leak = [p for p in body["probes"] if p["status"] != "ok"]
    assert {p["source"] for p in leak} == {"vote/vote-0", "vote/worker-0"}
    assert all(p["expected"] == "allow" and p["observed"] == "filtered" for p in leak)
    assert not any(p["target"] == "1.1.1.1" for p in body["probes"])

    md = tmp_path / "verify.md"
    with pytest.raises(Exit):
        verify_tasks.verify(Context(), out=str(md))
    assert "**2 mismatches**" in md.read_text()
    svg = tmp_path / "verify.svg"
    with pytest.raises(Exit):
        verify_tasks.verify(Context(), out=str(svg))
    picture = svg.read_text()
    assert picture.startswith("<svg") and 'data-cell="unexpected-deny"' in picture
    assert 'data-cell="unexpected-allow"' not in picture
    with pytest.raises(Exit, match="--force"):
        verify_tasks.verify(Context(), out=str(svg))


def test_bad_options_are_refused_before_probing(deps: verify_tasks.Deps) -> None:
    fake = lab_fake()
    use(deps, fake)
    with pytest.raises(Exit, match="--ports"):
        verify_tasks.verify(Context(), ports="web")
    with pytest.raises(Exit, match="--format"):
        verify_tasks.verify(Context(), format="png")
    with pytest.raises(Exit, match="nothing to verify"):
        verify_tasks.verify(Context(), namespace="nope")
    assert fake.calls_of("exec") == []


def _lab_check_failures(deps: verify_tasks.Deps, fake: FakeCluster, enforcing: bool) -> list[str]:
    """Module 06's verify step: run its check's command here and judge it by its expectation."""
    module = load_module(REPO_ROOT / "labs" / "06-network-policies.yaml").module
    step = module.steps[-1]
    assert "invoke verify" in step.name
    wanted = "enforces_network_policy" if enforcing else "not enforces_network_policy"
    check = next(t for t in step.check if t.when == wanted)
    assert check.shell is not None and "./invoke verify" in check.shell
    use(deps, fake)
    deps.out = io.StringIO()
    rc = 0
    facts = offline_facts(load_stack_config("kind" if enforcing else "kind-flannel"))
    args = shlex.split(str(templating.render_string(check.shell, facts)))
    assert args[:2] == ["./invoke", "verify"]
    options = {k.removeprefix("--"): v for k, v in zip(args[2::2], args[3::2], strict=True)}
    options["timeout"] = int(options["timeout"])  # type: ignore[assignment]
    try:
        verify_tasks.verify(Context(), **options)
    except Exit as raised:
        rc = raised.code
    return failures(check.expect, rc, text(deps.out), "")


def test_the_lab_step_check_passes_and_can_fail(deps: verify_tasks.Deps) -> None:
    assert _lab_check_failures(deps, lab_fake(), enforcing=True) == []
    broken = lab_fake(ignored_policies=("vote/redis-from-app",))
    assert _lab_check_failures(deps, broken, enforcing=True) != []
    flannel = lab_fake(enforcing=False)
    assert _lab_check_failures(deps, flannel, enforcing=False) == []
    assert _lab_check_failures(deps, lab_fake(), enforcing=False) != []


def test_an_unreachable_cluster_is_an_error_not_a_traceback(deps: verify_tasks.Deps) -> None:
    fake = lab_fake()

    def unreachable(resource: str, *, namespace: str | None = None) -> list[dict[str, object]]:
        raise OSError("connection refused: 127.0.0.1:6443")

    fake.get_objects = unreachable  # type: ignore[method-assign]
    use(deps, fake)
    with pytest.raises(Exit, match="cannot verify namespace vote: connection refused"):
        verify_tasks.verify(Context())


# -- workshop participants ------------------------------------------------------------------------

WORKSHOP = Path(__file__).parent / "data" / "workshop"


def _workshop_fake(traefik: bool = True) -> FakeCluster:
    """The small lab twice, as participants 3 and 4 of the 12-participant stack (vote-p03 keeps
    the lab's pod IPs, vote-p04 gets its own), sharing Traefik (unless left out) and CoreDNS."""
    objects: list[dict[str, object]] = []
    for item in lab_objects():
        meta = item["metadata"]
        if not traefik and "traefik" in (meta.get("namespace"), meta["name"]):
            continue
        if item["kind"] == "Namespace" and meta["name"] == "vote":
            objects += [namespace("vote-p03"), namespace("vote-p04")]
        elif meta.get("namespace") != "vote":
            objects.append(item)
        else:
            for tag, prefix in (("p03", "10.244."), ("p04", "10.44.")):
                copy = json.loads(json.dumps(item))
                copy["metadata"]["namespace"] = f"vote-{tag}"
                if copy["kind"] == "Pod":
                    copy["status"]["podIP"] = copy["status"]["podIP"].replace("10.244.", prefix)
                objects.append(copy)
    fake = FakeCluster.from_objects(objects, nodes=NODES)
    fake.model_enforcement()
    return fake


def _touched(fake: FakeCluster) -> str:
    """Every namespace and command line the fake recorded."""
    return " ".join(f"{c.namespace} {c.line} {c.pod}" for c in fake.calls)


@pytest.mark.parametrize(("mine", "theirs"), [(3, 4), (4, 3)])
def test_a_participant_verifies_their_own_namespace_only(
    deps: verify_tasks.Deps, monkeypatch: pytest.MonkeyPatch, mine: int, theirs: int
) -> None:
    monkeypatch.setattr(deps, "stacks_dir", WORKSHOP)
    fake = _workshop_fake()
    use(deps, fake)
    verify_tasks.verify(Context(), stack="gke-workshop", participant=mine, external="none")
    out = text(deps.out)
    assert f"expected vs observed, namespace vote-p0{mine}" in out and "no mismatches" in out
    assert f"vote-p0{mine}/redis-0" in out and f"vote-p0{theirs}" not in out
    assert f"vote-p0{mine}" in {c.namespace for c in fake.calls_of("exec")}
    touched = _touched(fake)
    assert f"vote-p0{theirs}" not in touched
    their_ips = "10.44." if theirs == 4 else "10.244.1.1"  # vote-p03's vote-0 and db-0
    assert their_ips not in touched


def test_without_traefik_the_other_namespace_is_never_another_participants(
    deps: verify_tasks.Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe "from another namespace" picks a pod outside the lab; on a workshop stack it
    must not be the next participant's (probing it would attach a container to their pod)."""
    monkeypatch.setattr(deps, "stacks_dir", WORKSHOP)
    fake = _workshop_fake(traefik=False)
    use(deps, fake)
    verify_tasks.verify(Context(), stack="gke-workshop", participant=3, external="none")
    assert "vote-p04" not in _touched(fake)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"participant": 13},
            "--participant: stack gke-workshop has no participant 13 (valid: 1 to 12)",
        ),
        ({}, "--participant: stack gke-workshop has 12 participants: say which one you are"),
        (
            {"participant": 3, "namespace": "vote-p04"},
            "--namespace: vote-p04 is another participant's namespace; participant 3's is vote-p03",
        ),
    ],
)
def test_a_wrong_participant_is_named_before_probing(
    deps: verify_tasks.Deps,
    monkeypatch: pytest.MonkeyPatch,
    options: dict[str, object],
    message: str,
) -> None:
    monkeypatch.setattr(deps, "stacks_dir", WORKSHOP)
    fake = _workshop_fake()
    asked = use(deps, fake)
    with pytest.raises(Exit) as caught:
        verify_tasks.verify(Context(), stack="gke-workshop", **options)
    assert str(caught.value.message).startswith(message)
    assert asked == [] and fake.calls == []


def test_an_explicit_namespace_needs_no_participant(
    deps: verify_tasks.Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As module 06's check says it: ``--namespace {{ app_namespace }}`` names the namespace."""
    monkeypatch.setattr(deps, "stacks_dir", WORKSHOP)
    fake = _workshop_fake()
    use(deps, fake)
    verify_tasks.verify(Context(), stack="gke-workshop", namespace="vote-p04", external="none")
    assert "namespace vote-p04" in text(deps.out)
    assert "vote-p03" not in _touched(fake)
