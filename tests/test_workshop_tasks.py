"""``invoke workshop``: participants x modules from the progress ConfigMaps, on a fake cluster."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from invoke.context import MockContext
from invoke.exceptions import Exit
from rich.console import Console

from packetwalk.cli import workshop_tasks
from packetwalk.errors import PacketwalkError
from packetwalk.kube.fake import FakeCluster
from packetwalk.playbook.catalog import LABS_DIR
from packetwalk.playbook.progress import ModuleRecord, progress_configmap

WORKSHOP = Path(__file__).parent / "data" / "workshop"


def _map(number: int, module: str, **changes: Any) -> dict[str, object]:
    values: dict[str, Any] = {
        "namespace": f"vote-p{number:02d}",
        "participant": f"p{number:02d}",
        "module": module,
        "step": 2,
        "steps": 5,
        "completed": (1,),
    }
    values.update(changes)
    return progress_configmap(ModuleRecord(**values), stack="gke-workshop")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    cluster = FakeCluster(
        objects={
            "configmaps": [
                _map(1, "01-pod-networking", finished=True, step=5),
                _map(3, "06-network-policies", failed_checks=("vote -> redis is allowed",)),
                {"metadata": {"name": "kube-root-ca.crt", "namespace": "vote-p03"}, "data": {}},
            ]
        }
    )
    monkeypatch.setattr(workshop_tasks.DEPS, "stacks_dir", WORKSHOP)
    monkeypatch.setattr(workshop_tasks.DEPS, "labs_dir", LABS_DIR)
    monkeypatch.setattr(workshop_tasks.DEPS, "cluster", lambda cfg, name: cluster)
    return cluster


@pytest.fixture
def screen(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    out = io.StringIO()
    console = Console(file=out, width=400, color_system=None)
    monkeypatch.setattr(workshop_tasks.DEPS, "console", console)
    return out


def test_json_has_every_participant_and_module(
    fake: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    workshop_tasks.workshop(MockContext(), stack="gke-workshop", format="json")
    data = json.loads(capsys.readouterr().out)
    assert [row["namespace"] for row in data] == [f"vote-p{i:02d}" for i in range(1, 13)]
    assert len(data[0]["modules"]) == 8
    assert data[0]["modules"]["01-pod-networking"]["finished"] is True
    assert data[2]["modules"]["06-network-policies"]["failed_checks"] == [
        "vote -> redis is allowed"
    ]
    assert data[3]["modules"]["06-network-policies"] is None
    # one read per participant namespace, nothing cluster-wide
    reads = [c.namespace for c in fake.calls_of("get_objects")]
    assert reads == [f"vote-p{i:02d}" for i in range(1, 13)]


def test_table_and_markdown(
    fake: FakeCluster, screen: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    workshop_tasks.workshop(MockContext(), stack="gke-workshop")
    text = screen.getvalue()
    assert "workshop on stack gke-workshop" in text
    assert "3 vote-p03" in text and "step 2/5 ✘ vote -> redis is allowed" in text
    assert "done" in text
    workshop_tasks.workshop(MockContext(), stack="gke-workshop", format="md")
    lines = capsys.readouterr().out.splitlines()
    assert lines[4].startswith("| 3 (vote-p03) | - | - | - | - | - | step 2/5 ✘ vote -> redis")


def test_watch_redraws_with_fresh_reads(
    fake: FakeCluster, screen: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        fake.objects["configmaps"].append(_map(12, "02-services", step=4))

    monkeypatch.setattr(workshop_tasks.DEPS, "sleep", sleep)
    monkeypatch.setattr(workshop_tasks.DEPS, "rounds", 2)
    workshop_tasks.workshop(MockContext(), stack="gke-workshop", watch=True, interval=3)
    assert sleeps == [3, 3]
    assert len(fake.calls_of("get_objects")) == 12 * 3
    assert "step 4/5" in screen.getvalue()


def test_an_unreadable_namespace_is_shown_not_fatal(
    fake: FakeCluster, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = fake.get_objects

    def get_objects(resource: str, *, namespace: str | None = None) -> list[dict[str, object]]:
        if namespace == "vote-p05":
            raise PacketwalkError("configmaps is forbidden")
        return original(resource, namespace=namespace)

    monkeypatch.setattr(fake, "get_objects", get_objects)
    workshop_tasks.workshop(MockContext(), stack="gke-workshop", format="json")
    data = json.loads(capsys.readouterr().out)
    assert "configmaps is forbidden" in data[4]["error"]
    assert data[3]["error"] is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"format": "csv"}, "--format: unknown format 'csv'"),
        ({"watch": True, "format": "json"}, "--watch: --watch redraws the table"),
        ({"interval": 0, "watch": True}, "--interval: must be more than 0 seconds"),
    ],
)
def test_bad_options(fake: FakeCluster, options: dict[str, Any], message: str) -> None:
    with pytest.raises(Exit) as caught:
        workshop_tasks.workshop(MockContext(), stack="gke-workshop", **options)
    assert str(caught.value.message).startswith(message)
    assert fake.calls == []
