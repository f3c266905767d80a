"""Reading a lab module file: YAML 1.2 scalars, positions for every value, errors as FILE:LINE:COL.

PyYAML follows YAML 1.1 (``yes``/``on`` become booleans) and forgets where values came from.
This loader composes the node graph, builds Python values with the YAML 1.2 core schema (only
``true``/``false`` are booleans), rejects duplicate keys (a later key would silently win) and keeps
the line and column of each key and value, so a pydantic error path such as
``steps/0/tasks/2/kubctl`` points at the line a participant or instructor has to fix.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from packetwalk.errors import InputError
from packetwalk.playbook.model import Module, check_problems

Loc = tuple[str | int, ...]

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_INT = re.compile(r"^[-+]?[0-9]+$")
_INT_OCT = re.compile(r"^0o[0-7]+$")
_INT_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}


@dataclass(frozen=True)
class Problem:
    """One error in a file, at a 1-based line and column."""

    source: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.message}"


class PlaybookError(InputError):
    """One or more problems in lab module files; ``str()`` lists them, one per line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0]
        rest = "".join(f"\n{problem}" for problem in self.problems[1:])
        super().__init__(
            first.message + rest, source=first.source, location=f"{first.line}:{first.column}"
        )


@dataclass
class Positions:
    """Where each value (and each mapping key) of a document starts, by path."""

    source: str
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def at(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """The position of ``loc`` (its key with ``key=True``), else of its nearest parent."""
        probe = tuple(loc)
        if key and probe in self.keys:
            return self.keys[probe]
        while probe:
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))

    def problem(self, loc: Loc, message: str, *, key: bool = False) -> Problem:
        line, column = self.at(loc, key=key)
        return Problem(self.source, line, column, message)


@dataclass(frozen=True)
class LoadedModule:
    """A parsed, schema-valid module with the positions of its values."""

    id: str
    path: Path
    module: Module
    data: dict[str, Any]
    positions: Positions

    @property
    def source(self) -> str:
        return str(self.path)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _scalar(node: yaml.ScalarNode) -> object:
    text = node.value
    if node.style is not None or node.tag == "tag:yaml.org,2002:str":
        return text
    if node.tag == "tag:yaml.org,2002:binary":
        return text
    if _NULL.match(text):
        return None
    if _TRUE.match(text):
        return True
    if _FALSE.match(text):
        return False
    if _INT.match(text):
        return int(text)
    if _INT_OCT.match(text):
        return int(text[2:], 8)
    if _INT_HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    return text


class _Builder:
    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, loc: Loc) -> object:
        self.positions.values[loc] = _mark(node)
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            result: dict[object, object] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    line, col = _mark(key_node)
                    self.problems.append(
                        Problem(
                            self.positions.source,
                            line,
                            col,
                            "YAML merge keys (<<) are not supported",
                        )
                    )
                    continue
                key = self.build(key_node, (*loc, "<key>"))
                self.positions.values.pop((*loc, "<key>"), None)
                if not isinstance(key, str | int | float | bool) and key is not None:
                    line, col = _mark(key_node)
                    self.problems.append(
                        Problem(
                            self.positions.source, line, col, "mapping keys must be plain scalars"
                        )
                    )
                    continue
                name = key if isinstance(key, str) else str(key)
                if name in result:
                    line, col = _mark(key_node)
                    self.problems.append(
                        Problem(self.positions.source, line, col, f"duplicate key {name!r}")
                    )
                    continue
                self.positions.keys[(*loc, name)] = _mark(key_node)
                result[name] = self.build(value_node, (*loc, name))
            return result
        raise AssertionError(f"unexpected YAML node {node!r}")


def parse_yaml(text: str, source: str) -> tuple[object, Positions]:
    """One YAML document as Python values plus positions; problems raise :class:`PlaybookError`."""
    positions = Positions(source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise PlaybookError(
            [Problem(source, line, col, f"YAML syntax error: {error.problem or error}")]
        ) from error
    except yaml.composer.ComposerError as error:  # pragma: no cover - MarkedYAMLError subclass
        raise PlaybookError([Problem(source, 1, 1, str(error))]) from error
    if node is None:
        raise PlaybookError([Problem(source, 1, 1, "the file is empty")])
    builder = _Builder(positions)
    data = builder.build(node, ())
    if builder.problems:
        raise PlaybookError(builder.problems)
    return data, positions


def module_id(path: Path) -> str:
    return path.name.removesuffix(".yaml").removesuffix(".yml")


def load_module(path: Path, *, text: str | None = None) -> LoadedModule:
    """Read and validate one module; every problem found raises together in a PlaybookError."""
    source = str(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise PlaybookError(
                [Problem(source, 1, 1, f"cannot read: {error.strerror}")]
            ) from error
    data, positions = parse_yaml(text, source)
    if not isinstance(data, dict):
        raise PlaybookError(
            [positions.problem((), "a lab module is a mapping (title, summary, steps, ...)")]
        )
    try:
        module = Module.model_validate(data)
    except pydantic.ValidationError as error:
        raise PlaybookError(validation_problems(error, positions)) from error
    problems = [
        positions.problem(("steps", s, "check", t), message)
        for s, step in enumerate(module.steps)
        for t, task in enumerate(step.check)
        for message in check_problems(task)
    ]
    if problems:
        raise PlaybookError(problems)
    return LoadedModule(module_id(path), path, module, data, positions)


# -- pydantic errors to positions ---------------------------------------------------------------


def validation_problems(error: pydantic.ValidationError, positions: Positions) -> list[Problem]:
    """Readable problems at file positions, one per location (union alternatives merged)."""
    grouped: dict[Loc, list[str]] = {}
    order: list[Loc] = []
    anchors: dict[Loc, tuple[Loc, bool]] = {}
    for item in error.errors(include_url=False):
        loc = _locate(tuple(item["loc"]), positions)
        key = item["type"] == "extra_forbidden"  # point at the unknown key, else at the value
        message = _message(item, loc)
        if loc not in grouped:
            grouped[loc] = []
            order.append(loc)
            anchors[loc] = (loc, key)
        if message not in grouped[loc]:
            grouped[loc].append(message)
    problems = []
    for loc in order:
        messages = grouped[loc]
        text = messages[0] if len(messages) == 1 else "; or ".join(messages)
        anchor, key = anchors[loc]
        problems.append(positions.problem(anchor, text, key=key))
    problems.sort(key=lambda p: (p.line, p.column))
    return problems


def _locate(raw: Loc, positions: Positions) -> Loc:
    """The YAML path of a pydantic error location, without pydantic's union-member labels."""
    loc: list[str | int] = []
    for part in raw:
        candidate = (*loc, part)
        if candidate in positions.values or candidate in positions.keys:
            loc.append(part)
        elif isinstance(part, str) and (
            part.startswith(("list[", "dict[", "union[", "function-", "constrained-"))
            or part in {"str", "int", "float", "bool"}
        ):
            continue
        else:
            loc.append(part)
    return tuple(loc)


def _message(item: Any, loc: Loc) -> str:
    kind = item["type"]
    key = loc[-1] if loc else ""
    given = item.get("input")
    if kind == "extra_forbidden":
        valid = _valid_keys(loc[:-1])
        hint = difflib.get_close_matches(str(key), valid, n=1)
        text = f"unknown key {key!r}"
        if hint:
            text += f", did you mean {hint[0]!r}?"
        if valid:
            text += f" (valid: {', '.join(valid)})"
        return text
    if kind == "missing":
        return f"missing required key {key!r}"
    if kind in ("bool_type", "bool_parsing"):
        if isinstance(given, str) and given.lower() in _YAML11_BOOLS:
            return f"{key}: {given!r} is not a boolean here: write true or false"
        return f"{key}: expected true or false, got {given!r}"
    message = str(item["msg"]).removeprefix("Value error, ")
    if not isinstance(key, str) or not key:
        return message
    where = key
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{where}: expected a mapping, got {_show(given)}"
    if kind == "list_type":
        return f"{where}: expected a list, got {_show(given)}"
    if kind == "string_type":
        return f"{where}: expected a string, got {_show(given)}"
    if kind == "string_pattern_mismatch":
        return f"{where}: {given!r} is not valid ({message})"
    return f"{where}: {message}"


def _show(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _valid_keys(loc: Loc) -> list[str]:
    """The keys a mapping at ``loc`` may hold, found by walking the model types."""
    candidates: list[type[pydantic.BaseModel]] = [Module]
    for part in loc:
        if isinstance(part, int):
            continue
        following: list[type[pydantic.BaseModel]] = []
        for model in candidates:
            for name, info in model.model_fields.items():
                if (info.alias or name) == part:
                    following.extend(_models_in(info.annotation))
        if not following:
            return []
        candidates = following
    keys: list[str] = []
    for model in candidates:
        for name, info in model.model_fields.items():
            alias = info.alias or name
            if alias not in keys:
                keys.append(alias)
    return keys


def _models_in(annotation: object) -> Iterable[type[pydantic.BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin is dict:
        return
    if origin in (list, typing.Union, types.UnionType, typing.Annotated) or origin is not None:
        for arg in typing.get_args(annotation):
            yield from _models_in(arg)
