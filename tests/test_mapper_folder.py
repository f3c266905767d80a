"""The map folder: what is missing or malformed is named, conntrack listings get their times."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from packetwalk.errors import InputError
from packetwalk.mapper.folder import INVENTORY_FILE, MAP_FILE, load_map_folder

GOLDEN = Path(__file__).parent / "data" / "mapper" / "lab"


def copy(tmp_path: Path) -> Path:
    folder = tmp_path / "lab"
    shutil.copytree(GOLDEN, folder)
    return folder


def test_conntrack_listings_are_timed_by_map_yaml() -> None:
    data = load_map_folder(GOLDEN)
    times = {when for _, when in data.conntrack}
    assert len(times) == 2 and None not in times
    assert len(data.captures) == 1 and data.captures[0].name == "node-a.pcap"


def test_without_an_inventory_the_error_says_what_to_list(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    (folder / INVENTORY_FILE).unlink()
    with pytest.raises(InputError, match=r"no inventory\.yaml in the capture folder"):
        load_map_folder(folder)


def test_a_bad_time_in_map_yaml_is_named(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    (folder / MAP_FILE).write_text("started: soon\n")
    with pytest.raises(InputError, match="started must be epoch seconds"):
        load_map_folder(folder)


def test_without_map_yaml_conntrack_entries_have_no_time(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    (folder / MAP_FILE).unlink()
    assert {when for _, when in load_map_folder(folder).conntrack} == {None}


def test_a_folder_without_walk_yaml_is_refused(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    (folder / "walk.yaml").unlink()
    with pytest.raises(InputError, match=r"no walk\.yaml"):
        load_map_folder(folder)
