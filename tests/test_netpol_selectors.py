"""Label selectors: matching, text, validation."""

from __future__ import annotations

import pytest

from packetwalk.netpol.selectors import SelectorError, labels_text, parse_selector


def test_match_labels_and_expressions_are_anded() -> None:
    sel = parse_selector(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "NotIn", "values": ["db"]},
                {"key": "env", "operator": "Exists"},
            ],
        }
    )
    assert sel.matches({"app": "web", "env": "x"})
    assert sel.matches({"app": "web", "env": "x", "tier": "fe"})
    assert not sel.matches({"app": "web", "env": "x", "tier": "db"})
    assert not sel.matches({"app": "web"})
    assert [r.text() for r in sel.failing({"app": "api"})] == ["app=web", "env"]
    assert sel.text() == "app=web,tier!=db,env"


def test_empty_selector_matches_everything_and_none_is_empty() -> None:
    assert parse_selector({}).matches({}) and parse_selector(None).is_empty
    assert parse_selector({}).text() == "{}"
    assert (
        parse_selector(
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["x", "y"]}]}
        ).text()
        == "a in (x,y)"
    )
    assert labels_text({}) == "(no labels)" and labels_text({"b": "2", "a": "1"}) == "a=1,b=2"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"matchLabel": {}}, "unknown field 'matchLabel'"),
        ({"matchLabels": {"a": 1}}, "must be a string"),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "must be empty",
        ),
        ({"matchExpressions": [{"operator": "Exists"}]}, "key must be"),
        ([], "must be a mapping"),
    ],
)
def test_invalid_selectors(raw: object, words: str) -> None:
    with pytest.raises(SelectorError, match=words):
        parse_selector(raw)
