"""``template`` tasks: the participant's copy is written, refreshed, and never taken from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from packetwalk.playbook.files import LabFileError, default_dest, write_lab_file
from packetwalk.playbook.templating import TemplateError, render_file_text


def _render(text: str, source: str) -> str:
    return render_file_text(text, {"ns": "vote-p03"}, source)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "labs").mkdir(parents=True)
    (root / "labs" / "p.yaml").write_text("namespace: {{ ns }}\n")
    return root


def _write(project: Path, work: Path, dest: str = "lab/p.yaml") -> str:
    return write_lab_file("labs/p.yaml", dest, project=project, workdir=work, render=_render).status


def test_the_copy_is_created_then_left_alone_while_unchanged(project: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert _write(project, work) == "created"
    assert (work / "lab" / "p.yaml").read_text() == "namespace: vote-p03\n"
    assert _write(project, work) == "unchanged"
    assert not list((work / "lab").glob(".*.partial"))


def test_a_new_template_replaces_a_copy_nobody_touched(project: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    _write(project, work)
    (project / "labs" / "p.yaml").write_text("namespace: {{ ns }}\nkind: Pod\n")
    assert _write(project, work) == "updated"
    assert (work / "lab" / "p.yaml").read_text().endswith("kind: Pod\n")


def test_a_copy_the_participant_edited_is_kept(project: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    _write(project, work)
    mine = work / "lab" / "p.yaml"
    mine.write_text("namespace: vote-p03  # fixed by me\n")
    (project / "labs" / "p.yaml").write_text("namespace: {{ ns }}\nkind: Pod\n")
    written = write_lab_file(
        "labs/p.yaml", "lab/p.yaml", project=project, workdir=work, render=_render
    )
    assert written.status == "kept"
    assert "you changed it" in written.message and "delete it" in written.message
    assert mine.read_text() == "namespace: vote-p03  # fixed by me\n"


def test_a_file_that_was_there_before_packetwalk_is_kept(project: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "lab").mkdir(parents=True)
    (work / "lab" / "p.yaml").write_text("mine\n")
    assert _write(project, work) == "kept"
    assert (work / "lab" / "p.yaml").read_text() == "mine\n"


def test_a_missing_template_and_a_bad_one_name_the_file(project: Path, tmp_path: Path) -> None:
    with pytest.raises(LabFileError, match=r"template labs/nope.yaml: no such file"):
        write_lab_file("labs/nope.yaml", "x", project=project, workdir=tmp_path, render=_render)
    (project / "labs" / "p.yaml").write_text("a: 1\nb: {{ missing }}\n")
    with pytest.raises(TemplateError, match=r"^labs/p.yaml:2: 'missing' is undefined"):
        _write(project, tmp_path / "work")
    assert not (tmp_path / "work").exists()  # nothing half-done


def test_the_default_destination_is_the_lab_folder() -> None:
    assert default_dest(".packetwalk/lab/kind/", "labs/manifests/netpol/x.yaml") == (
        ".packetwalk/lab/kind/x.yaml"
    )
