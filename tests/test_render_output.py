"""packetwalk.render.output: one YAML file per component, written whole or not at all, and never
over a file that differs unless forced (nothing a user made is lost or silently overwritten)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from packetwalk.errors import InputError
from packetwalk.lab.charts import ChartSpec
from packetwalk.render.desired import ComponentState
from packetwalk.render.output import component_files, write_files

SPEC = ChartSpec(
    release="metallb",
    chart="metallb",
    repo="https://metallb.github.io/metallb",
    version="0.16.1",
    namespace="metallb-system",
    values={},
)
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "metallb-system"}}
POOL = {
    "apiVersion": "metallb.io/v1beta1",
    "kind": "IPAddressPool",
    "metadata": {"name": "lab", "namespace": "metallb-system"},
    "spec": {"addresses": ["172.18.255.200-172.18.255.250"]},
}
HOOK = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "cleanup", "namespace": "metallb-system"},
}
APP = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "vote", "namespace": "vote"},
    "spec": {"ports": [{"port": 80, "targetPort": 80}]},
}


def components() -> list[ComponentState]:
    return [
        ComponentState("metallb", [NAMESPACE, POOL], chart=SPEC, hooks=[HOOK]),
        ComponentState("app", [APP]),
    ]


def files() -> dict[str, str]:
    return component_files("kind", components(), ["MetalLB range assumed"])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# --- component_files -------------------------------------------------------------------------


def test_one_file_per_component_numbered_in_apply_order() -> None:
    made = files()
    assert list(made) == ["01-metallb.yaml", "02-app.yaml"]
    assert made["01-metallb.yaml"].splitlines()[:4] == [
        "# packetwalk render: stack 'kind', component 'metallb', 2 objects in apply order",
        "# chart metallb 0.16.1 (https://metallb.github.io/metallb) as release 'metallb' in "
        "namespace 'metallb-system'",
        "# hook dropped (helm.v4.Chart runs no hooks): Job metallb-system/cleanup",
        "# note: MetalLB range assumed",
    ]
    # The objects read back as they were, in order, key order kept.
    assert list(yaml.safe_load_all(made["01-metallb.yaml"])) == [NAMESPACE, POOL]
    assert list(yaml.safe_load_all(made["02-app.yaml"])) == [APP]
    assert made["01-metallb.yaml"].index("kind: IPAddressPool") < made["01-metallb.yaml"].index(
        "spec:"
    )


# --- write_files -----------------------------------------------------------------------------


def test_a_new_folder_gets_every_file_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "rendered" / "kind"
    write_files(out, files(), force=False)
    assert snapshot(out) == {name: text.encode() for name, text in files().items()}
    assert os.listdir(tmp_path / "rendered") == ["kind"]  # no staging folder left behind
    # Made like any folder (umask applies), not with a temporary folder's 0700.
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask


def test_an_identical_rerun_is_fine(tmp_path: Path) -> None:
    write_files(tmp_path / "out", files(), force=False)
    before = snapshot(tmp_path / "out")
    write_files(tmp_path / "out", files(), force=False)
    assert snapshot(tmp_path / "out") == before


def test_a_differing_file_is_not_overwritten_without_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_files(out, files(), force=False)
    (out / "01-metallb.yaml").write_text("# my edits\n")
    (out / "02-app.yaml").unlink()  # a file to add: must not be written either
    with pytest.raises(InputError) as info:
        write_files(out, files(), force=False)
    assert str(info.value) == (
        f"{out}: holds other content (01-metallb.yaml); not overwriting "
        "it (use --force, or another --out)"
    )
    assert snapshot(out) == {"01-metallb.yaml": b"# my edits\n"}


def test_other_files_refuse_the_folder_and_force_keeps_them(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_bytes(b"\xff\xfe not utf-8")
    (out / "drafts").mkdir()
    with pytest.raises(InputError, match=r"holds other content \(drafts, notes\.txt\)"):
        write_files(out, files(), force=False)
    assert sorted(os.listdir(out)) == ["drafts", "notes.txt"]

    write_files(out, files(), force=True)
    assert sorted(os.listdir(out)) == ["01-metallb.yaml", "02-app.yaml", "drafts", "notes.txt"]
    assert (out / "notes.txt").read_bytes() == b"\xff\xfe not utf-8"


def test_what_sits_under_a_rendered_name_is_compared_without_crashing(tmp_path: Path) -> None:
    # A folder, or a file that is not UTF-8, where a rendered file would go: other content.
    out = tmp_path / "out"
    (out / "01-metallb.yaml").mkdir(parents=True)
    (out / "02-app.yaml").write_bytes(b"\xff\xfe")
    with pytest.raises(InputError, match=r"holds other content \(01-metallb\.yaml, 02-app"):
        write_files(out, files(), force=False)
    assert (out / "02-app.yaml").read_bytes() == b"\xff\xfe"


def test_force_replaces_a_differing_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_files(out, files(), force=False)
    (out / "02-app.yaml").write_text("# stale\n")
    write_files(out, files(), force=True)
    assert (out / "02-app.yaml").read_text() == files()["02-app.yaml"]


def test_many_differing_files_are_counted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for number in range(7):
        (out / f"mine-{number}.txt").write_text("x")
    with pytest.raises(InputError, match=r"mine-4\.txt and 2 more\)"):
        write_files(out, files(), force=False)


def test_an_out_that_is_a_file_is_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("mine")
    for force in (False, True):
        with pytest.raises(InputError, match="exists and is not a folder; not touching it"):
            write_files(out, files(), force=force)
    assert out.read_text() == "mine"


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    broken = {**files(), "missing-folder/03-x.yaml": "x: 1\n"}  # cannot be written
    with pytest.raises(FileNotFoundError):
        write_files(tmp_path / "new", broken, force=False)
    assert os.listdir(tmp_path) == []

    out = tmp_path / "old"
    write_files(out, {"01-metallb.yaml": "# earlier\n"}, force=False)
    with pytest.raises(FileNotFoundError):
        write_files(out, broken, force=True)
    assert snapshot(out) == {"01-metallb.yaml": b"# earlier\n"}
    assert sorted(os.listdir(tmp_path)) == ["old"]
