"""Progress per stack: resume points, registered values, atomic writes, unreadable files kept."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from packetwalk.errors import InputError
from packetwalk.playbook.progress import (
    PROGRESS_LABEL,
    ModuleProgress,
    ModuleRecord,
    ProgressStore,
    cell_text,
    module_record,
    progress_configmap,
    read_progress_configmap,
    workshop_json,
    workshop_markdown,
    workshop_rows,
)


def test_round_trip_per_stack(tmp_path: Path) -> None:
    store = ProgressStore(tmp_path, "kind")
    progress = store.load("01-pod-networking")
    assert not progress.started
    progress.complete(0, 3)
    progress.registered = {"client": {"stdout": "netshoot-abc"}}
    store.save(progress)
    again = ProgressStore(tmp_path, "kind").load("01-pod-networking")
    assert (again.completed, again.current, again.finished) == ([0], 1, False)
    assert again.registered == {"client": {"stdout": "netshoot-abc"}}
    assert again.updated
    assert not ProgressStore(tmp_path, "kind-cilium").load("01-pod-networking").started
    assert (tmp_path / ".packetwalk" / "progress" / "kind.json").is_file()
    assert not list((tmp_path / ".packetwalk" / "progress").glob(".progress-*"))


def test_complete_and_finish() -> None:
    progress = ModuleProgress("m")
    for step in (0, 1, 2):
        progress.complete(step, 3)
    assert progress.finished and progress.current == 2
    partial = ModuleProgress("m")
    partial.complete(2, 3)
    assert not partial.finished


def test_reset(tmp_path: Path) -> None:
    store = ProgressStore(tmp_path, "kind")
    progress = store.load("m")
    progress.complete(0, 2)
    store.save(progress)
    store.reset("m")
    assert not store.load("m").started


def test_unreadable_file_is_reported_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / ".packetwalk" / "progress" / "kind.json"
    path.parent.mkdir(parents=True)
    path.write_text("{broken")
    store = ProgressStore(tmp_path, "kind")
    with pytest.raises(InputError, match=r"kind\.json: cannot read the progress file"):
        store.load("m")
    with pytest.raises(InputError):
        store.save(ModuleProgress("m"))
    assert path.read_text() == "{broken"


# -- the instructor's copy ------------------------------------------------------------------------


def _record(**changes: object) -> ModuleRecord:
    base = ModuleRecord(
        namespace="vote-p03",
        participant="p03",
        module="06-network-policies",
        step=4,
        steps=7,
        completed=(1, 2, 3),
        status="check_failed",
        failed_checks=("vote -> redis:6379 is allowed",),
        updated="2026-12-06T10:00:00+00:00",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_progress_configmap_round_trip() -> None:
    record = _record()
    manifest = progress_configmap(record, stack="gke-workshop")
    assert manifest["kind"] == "ConfigMap"
    assert manifest["metadata"]["name"] == "packetwalk-progress-06-network-policies"
    assert manifest["metadata"]["namespace"] == "vote-p03"
    assert manifest["metadata"]["labels"][PROGRESS_LABEL] == "06-network-policies"
    assert all(isinstance(value, str) for value in manifest["data"].values())
    assert read_progress_configmap(json.loads(json.dumps(manifest))) == record


def test_module_record_numbers_steps_from_1() -> None:
    progress = ModuleProgress("01-pod-networking")
    progress.complete(0, 3)
    record = module_record(progress, namespace="vote-p01", participant="p01", steps=3)
    assert (record.step, record.completed, record.finished) == (2, (1,), False)


@pytest.mark.parametrize(
    "obj",
    [
        {"metadata": {"name": "kube-root-ca.crt", "namespace": "vote-p03"}, "data": {}},
        {"metadata": {"name": "packetwalk-progress-01"}, "data": {"step": "two"}},
        {"metadata": {"name": "packetwalk-progress-01"}},
        {},
    ],
)
def test_other_or_damaged_configmaps_are_no_records(obj: dict[str, object]) -> None:
    assert read_progress_configmap(obj) is None


def test_workshop_rows_match_records_by_namespace() -> None:
    modules = ["01-pod-networking", "06-network-policies"]
    wrong_place = _record(namespace="vote-p04", participant="p03", module="01-pod-networking")
    rows = workshop_rows(
        [(3, "p03", "vote-p03"), (4, "p04", "vote-p04"), (5, "p05", "vote-p05")],
        modules,
        [_record(), wrong_place],
        {"vote-p05": "Forbidden"},
    )
    assert rows[0].modules == {"01-pod-networking": None, "06-network-policies": _record()}
    assert rows[1].modules["01-pod-networking"] == wrong_place  # found in p04's namespace
    assert rows[2].unreadable == "Forbidden"
    assert cell_text(_record()) == "step 4/7 ✘ vote -> redis:6379 is allowed"
    assert cell_text(_record(finished=True, failed_checks=())) == "done"
    assert cell_text(None) == "-"
    markdown = workshop_markdown(rows, modules).splitlines()
    assert markdown[0] == "| participant | 01-pod-networking | 06-network-policies |"
    assert markdown[2] == "| 3 (vote-p03) | - | step 4/7 ✘ vote -> redis:6379 is allowed |"
    assert markdown[4].startswith("| 5 (vote-p05) | unreadable: Forbidden |")
    data = workshop_json(rows)
    assert data[0]["modules"]["06-network-policies"]["failed_checks"] == [
        "vote -> redis:6379 is allowed"
    ]
    assert data[0]["modules"]["01-pod-networking"] is None and data[2]["error"] == "Forbidden"
