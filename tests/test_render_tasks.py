"""``invoke render``: the task end to end, charts from ../shared/charts, rendered by real Helm."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any

import pytest
import rendering
import yaml
from invoke.context import MockContext
from invoke.exceptions import Exit

from packetwalk.cli import render_tasks, stack_tasks
from packetwalk.cli.stack_tasks import Deps
from packetwalk.render.desired import desired_state

pytestmark = rendering.needs_charts

CHARTS = str(rendering.CHARTS)


@pytest.fixture(autouse=True)
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the real stack configs (a copy: the task must not touch ours),
    and charts rendered once per session (real Helm, memoised in tests/rendering.py)."""
    folder = tmp_path / "repo"
    (folder / "stacks").mkdir(parents=True)
    for path in rendering.STACKS_DIR.glob("Pulumi.*.yaml"):
        shutil.copy(path, folder / "stacks" / path.name)
    # Both the shared DEPS and a fresh one: whichever the task reads, it never writes into
    # this checkout's rendered/.
    monkeypatch.setattr(stack_tasks.DEPS, "repo", folder)
    monkeypatch.setattr(stack_tasks, "DEPS", Deps(repo=folder))
    monkeypatch.setattr(
        render_tasks,
        "desired_state",
        functools.partial(desired_state, render=rendering.render_chart),
    )
    return folder


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def test_render_writes_one_file_per_component(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    render_tasks.render(MockContext(), stack="kind", out=str(out), charts=CHARTS)
    names = ["01-cni.yaml", "02-metallb.yaml", "03-traefik.yaml", "04-app.yaml"]
    assert sorted(p.name for p in out.iterdir()) == names

    counts = {name: len(documents(out / name)) for name in names}
    assert counts["01-cni.yaml"] == 0  # kindnet: kind runs it, no chart
    metallb = documents(out / "02-metallb.yaml")
    assert (metallb[0]["kind"], metallb[0]["metadata"]["name"]) == ("Namespace", "metallb-system")
    pools = [o for o in metallb if o["kind"] == "IPAddressPool"]
    assert [p["spec"]["addresses"] for p in pools] == [["172.18.255.200-172.18.255.250"]]
    traefik = documents(out / "03-traefik.yaml")
    assert "CustomResourceDefinition" in {o["kind"] for o in traefik}
    assert {o["kind"] for o in documents(out / "04-app.yaml")} >= {"Namespace", "NetworkPolicy"}

    printed = capsys.readouterr()
    assert printed.out.splitlines() == [
        *(f"{out / name}: {counts[name]} objects" for name in names),
        f"{sum(counts.values())} objects for stack 'kind' in {out}",
    ]
    assert "note: MetalLB range 172.18.255.200-172.18.255.250 assumed" in printed.err


def test_lb_range_is_used_and_not_noted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    render_tasks.render(
        MockContext(),
        stack="kind",
        out=str(out),
        charts=CHARTS,
        lb_range="172.19.255.200-172.19.255.250",
    )
    pools = [o for o in documents(out / "02-metallb.yaml") if o["kind"] == "IPAddressPool"]
    assert [p["spec"]["addresses"] for p in pools] == [["172.19.255.200-172.19.255.250"]]
    assert "note:" not in capsys.readouterr().err
    assert "# note:" not in (out / "02-metallb.yaml").read_text()


def test_default_out_is_rendered_stack_in_the_repo(repo: Path) -> None:
    render_tasks.render(MockContext(), stack="kind", charts=CHARTS)
    assert (repo / "rendered" / "kind" / "04-app.yaml").is_file()


def test_an_unknown_stack_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(Exit) as info:
        render_tasks.render(
            MockContext(), stack="kind-weave", out=str(tmp_path / "out"), charts=CHARTS
        )
    assert info.value.code == 1
    message = str(info.value)
    assert "unknown stack 'kind-weave'" in message
    assert f"(valid: {', '.join(rendering.ALL_STACKS)})" in message
    assert not (tmp_path / "out").exists()


def test_a_differing_file_is_refused_and_untouched_without_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    render_tasks.render(MockContext(), stack="kind", out=str(out), charts=CHARTS)
    mine = out / "03-traefik.yaml"
    mine.write_text("# my edits\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(Exit) as info:
        render_tasks.render(MockContext(), stack="kind", out=str(out), charts=CHARTS)
    assert info.value.code == 1
    assert str(info.value) == (
        f"error: {out}: holds other content (03-traefik.yaml); not "
        "overwriting it (use --force, or another --out)"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    render_tasks.render(MockContext(), stack="kind", out=str(out), charts=CHARTS, force=True)
    assert mine.read_text().startswith("# packetwalk render: stack 'kind', component 'traefik'")


def test_an_identical_rerun_needs_no_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    render_tasks.render(MockContext(), stack="kind", out=str(out), charts=CHARTS)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    render_tasks.render(MockContext(), stack="kind", out=str(out), charts=CHARTS)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_charts_folder_without_the_packages_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "charts"
    empty.mkdir()
    with pytest.raises(Exit) as info:
        render_tasks.render(
            MockContext(), stack="kind", out=str(tmp_path / "out"), charts=str(empty)
        )
    assert info.value.code == 1
    assert (
        f"{empty}: no metallb-0.16.1.tgz (the pinned metallb chart); it has: no chart "
        "packages" in str(info.value)
    )
    assert not (tmp_path / "out").exists()


def test_an_unwritable_out_names_it(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    with pytest.raises(Exit) as info:
        render_tasks.render(MockContext(), stack="kind", out=str(blocker / "out"), charts=CHARTS)
    assert info.value.code == 1
    assert str(info.value).startswith(f"error: cannot write {blocker / 'out'}: ")
    assert blocker.read_text() == "mine"


def test_problems_in_the_desired_state_exit_1_after_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A chart value the chart does not know and a namespace that would refuse the walk's
    capture containers: both named, the files still written for review."""

    def broken(cfg: Any, locate: Any, facts: Any) -> Any:
        components = desired_state(cfg, locate, facts, render=rendering.render_chart)
        traefik = next(c for c in components if c.name == "traefik")
        assert traefik.chart is not None
        traefik.chart.values["service"]["type"] = "ClusterIP"  # Traefik 40 dropped this key
        app = next(c for c in components if c.name == "app")
        namespace = next(o for o in app.objects if o["kind"] == "Namespace")
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "restricted"
        return components

    monkeypatch.setattr(render_tasks, "desired_state", broken)
    out = tmp_path / "out"
    with pytest.raises(Exit) as info:
        render_tasks.render(MockContext(), stack="kind", out=str(out), charts=CHARTS)
    assert info.value.code == 1
    problems = [
        line for line in capsys.readouterr().err.splitlines() if line.startswith("problem: ")
    ]
    assert f"({len(problems)} problem(s) above;" in str(info.value.message)
    assert (
        "problem: traefik: chart traefik 41.3.0 has no value service.type (Helm ignores it)"
        in problems
    )
    refused = [p for p in problems if "namespace 'vote' enforces restricted" in p]
    # the app's own pods and the capture container the walk adds to them
    assert any("app: Deployment vote/vote" in p for p in refused)
    assert any(p.startswith("problem: run-time pod in vote") and "NET_ADMIN" in p for p in refused)
    assert (out / "04-app.yaml").is_file()
