"""Expectations: exit codes, regexes, JSON paths; every miss reported."""

from __future__ import annotations

import json

from packetwalk.playbook.expect import MISSING, failures, json_path, parse_json
from packetwalk.playbook.model import Expect

PODS = {
    "items": [
        {"metadata": {"name": "vote-1"}, "status": {"podIP": "10.244.1.5"}},
        {"metadata": {"name": "vote-2"}, "status": {"podIP": "10.244.2.6"}},
    ]
}


def expect(**values: object) -> Expect:
    return Expect.model_validate(values)


def test_default_is_exit_zero() -> None:
    assert failures(None, 0, "", "") == []
    assert failures(None, 2, "", "") == ["exit code 2, expected 0"]
    assert failures(expect(stdout="x"), 1, "x", "") == ["exit code 1, expected 0"]
    assert failures(expect(rc=1), 1, "", "") == []
    assert failures(expect(failed=True), 7, "", "") == []
    assert failures(expect(failed=True), 0, "", "") == [
        "exit code 0, expected a failure (non-zero)"
    ]


def test_all_misses_are_reported() -> None:
    result = failures(
        expect(rc=0, stdout="^default via", stderr="warn", stdout_not="error"),
        1,
        "error: no route\n",
        "",
    )
    assert result == [
        "exit code 1, expected 0",
        "stdout does not match /^default via/",
        "stdout contains 'error' (/error/)",
        "stderr does not match /warn/",
    ]
    assert failures(expect(stdout="a\\d"), 0, "x\na1", "") == []  # multiline search
    assert "invalid regex /(/" in failures(expect(stdout="("), 0, "", "")[0]


def test_json_paths() -> None:
    assert json_path(PODS, "items[0].status.podIP") == "10.244.1.5"
    assert json_path(PODS, "items[-1].metadata.name") == "vote-2"
    assert json_path(PODS, "items[*].metadata.name") == ["vote-1", "vote-2"]
    assert json_path(PODS, "items[5].status") is MISSING
    assert json_path(PODS, "nope.x") is MISSING


def test_json_expectations() -> None:
    out = json.dumps(PODS)
    ok = expect(json={"path": "items[*].status.podIP", "matches": r"^10\.244\."})
    assert failures(ok, 0, out, "") == []
    bad = expect(json={"path": "items[*].status.podIP", "matches": r"\.1\.\d+$"})
    assert failures(bad, 0, out, "") == [
        "items[*].status.podIP does not match /\\.1\\.\\d+$/ (value 10.244.2.6)"
    ]
    assert failures(
        expect(json={"path": "items[0].metadata.name", "equals": "vote-2"}), 0, out, ""
    ) == ["items[0].metadata.name is vote-1, expected vote-2"]
    assert failures(expect(json={"path": "items[0].spec", "exists": False}), 0, out, "") == []
    assert failures(expect(json={"path": "items[0].spec"}), 0, out, "") == [
        "items[0].spec is not in the JSON output"
    ]
    assert "stdout is not JSON" in failures(expect(json={"path": "a"}), 0, "NAME  READY", "")[0]


def test_parse_json_only_for_json() -> None:
    assert parse_json('{"a": 1}\n') == {"a": 1}
    assert parse_json("10.244.1.5") is None
    assert parse_json("{not json") is None
