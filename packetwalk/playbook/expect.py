"""Whether a command's result is what the module expects: exit code, output regexes, JSON values.

All expectations run and every failure is reported (Killercoda's convention: a participant sees
everything that is off at once, not one problem per attempt).
"""

from __future__ import annotations

import json
import re
from typing import Any

from packetwalk.playbook.model import Expect

_SEGMENT = re.compile(r"^(?P<key>[^\[\]]*)(?P<index>(\[(-?\d+|\*)\])*)$")
_INDEX = re.compile(r"\[(-?\d+|\*)\]")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def json_path(document: Any, path: str) -> Any:
    """``items[0].status.podIP`` or ``items[*].metadata.name`` (a list); MISSING when absent."""
    values: list[Any] = [document]
    spread = False
    for segment in (s for s in path.split(".") if s):
        match = _SEGMENT.match(segment)
        if match is None:
            raise ValueError(f"bad JSON path segment {segment!r} in {path!r}")
        steps: list[str | int | None] = []
        if match.group("key"):
            steps.append(match.group("key"))
        for index in _INDEX.findall(match.group("index")):
            steps.append(None if index == "*" else int(index))
        for step in steps:
            following: list[Any] = []
            for value in values:
                if step is None:
                    spread = True
                    if isinstance(value, list):
                        following.extend(value)
                elif isinstance(step, int):
                    if isinstance(value, list) and -len(value) <= step < len(value):
                        following.append(value[step])
                elif isinstance(value, dict) and step in value:
                    following.append(value[step])
            values = following
    if spread:
        return values
    return values[0] if values else MISSING


def _search(pattern: str, text: str, what: str) -> str | None:
    try:
        found = re.search(pattern, text, re.MULTILINE)
    except re.error as error:
        return f"invalid regex /{pattern}/ for {what}: {error}"
    return None if found else f"{what} does not match /{pattern}/"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def failures(expect: Expect | None, rc: int, stdout: str, stderr: str) -> list[str]:
    """Every way the result misses the expectation (empty when it passes).

    Without ``expect``, or without ``rc``/``failed`` in it, the command must exit 0.
    """
    problems: list[str] = []
    if expect is not None and expect.failed:
        if rc == 0:
            problems.append("exit code 0, expected a failure (non-zero)")
    else:
        wanted = expect.rc if expect is not None and expect.rc is not None else 0
        if rc != wanted:
            problems.append(f"exit code {rc}, expected {wanted}")
    if expect is None:
        return problems
    if expect.stdout is not None and (problem := _search(expect.stdout, stdout, "stdout")):
        problems.append(problem)
    if expect.stdout_not is not None:
        try:
            hit = re.search(expect.stdout_not, stdout, re.MULTILINE)
        except re.error as error:
            problems.append(f"invalid regex /{expect.stdout_not}/ for stdout_not: {error}")
        else:
            if hit:
                problems.append(f"stdout contains {hit.group(0)!r} (/{expect.stdout_not}/)")
    if expect.stderr is not None and (problem := _search(expect.stderr, stderr, "stderr")):
        problems.append(problem)
    if expect.json_ is not None:
        problems.extend(_json_failures(expect, stdout))
    return problems


def _json_failures(expect: Expect, stdout: str) -> list[str]:
    assert expect.json_ is not None
    spec = expect.json_
    try:
        document = json.loads(stdout)
    except ValueError:
        return [f"stdout is not JSON, so {spec.path} cannot be read (add -o json?)"]
    try:
        value = json_path(document, spec.path)
    except ValueError as error:
        return [str(error)]
    if spec.exists is False:
        present = value is not MISSING and value != []
        return [f"{spec.path} exists ({_text(value)}), expected it not to"] if present else []
    if value is MISSING or (value == [] and "[*]" in spec.path):
        return [f"{spec.path} is not in the JSON output"]
    problems = []
    if spec.equals is not None and value != spec.equals:
        problems.append(f"{spec.path} is {_text(value)}, expected {_text(spec.equals)}")
    if spec.matches is not None:
        for item in value if isinstance(value, list) and "[*]" in spec.path else [value]:
            if problem := _search(spec.matches, _text(item), spec.path):
                problems.append(f"{problem} (value {_text(item)})")
    return problems


def parse_json(stdout: str) -> Any:
    """The command's stdout as JSON when it is JSON, else None (for ``register``)."""
    text = stdout.strip()
    if not text or text[0] not in "[{":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
