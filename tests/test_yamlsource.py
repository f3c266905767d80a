"""Line-aware YAML reading with YAML 1.2 scalars."""

from __future__ import annotations

import pytest

from packetwalk.errors import InputError
from packetwalk.yamlsource import load_document, load_documents


def test_scalars_follow_yaml_1_2() -> None:
    doc = load_document(
        "a: yes\nb: on\nc: true\nd: False\ne: 010\nf: 0x1F\ng: 1.5\nh: ~\ni: '3'\nj: !!str 4\n"
        "k: 0o17\nl: .5\nm: 1e3\nn: .\n",
        source="s",
    )
    assert doc.data == {
        "a": "yes",
        "b": "on",
        "c": True,
        "d": False,
        "e": 10,
        "f": 31,
        "g": 1.5,
        "h": None,
        "i": "3",
        "j": "4",
        "k": 15,
        "l": 0.5,
        "m": 1000.0,
        "n": ".",
    }


def test_lines_by_path() -> None:
    doc = load_document("# c\nconfig:\n  a: 1\n  list:\n    - x: 2\n    - y\n", source="s")
    assert doc.lines[("config",)] == 2
    assert doc.lines[("config", "a")] == 3
    assert doc.lines[("config", "list", 0, "x")] == 5
    assert doc.line(("config", "list", 1)) == 6
    assert doc.line(("config", "missing", "deeper")) == 2


def test_documents_keep_their_index_and_skip_empty_ones() -> None:
    docs = list(load_documents("---\n---\na: 1\n---\n# only a comment\n---\nb: 2\n", source="s"))
    assert [(d.index, d.data, d.start_line) for d in docs] == [(1, {"a": 1}, 3), (3, {"b": 2}, 7)]


def test_errors() -> None:
    with pytest.raises(InputError, match="duplicate key 'a'") as info:
        load_document("a: 1\na: 2\n", source="f.yaml")
    assert str(info.value).startswith("f.yaml:line 2:")
    with pytest.raises(InputError, match="not valid YAML") as info:
        load_document("a: [1\n", source="f.yaml")
    assert info.value.location is not None
    with pytest.raises(InputError, match="one YAML document"):
        load_document("a: 1\n---\nb: 2\n", source="f.yaml")
    assert load_document("", source="f").data == {}
