"""Reading a lab module file: YAML 1.2 scalars, positions for every value, errors as FILE:LINE:COL.

The shared reader :mod:`packetwalk.yamlsource` builds the values (YAML 1.2 core schema, no
duplicate or merge keys) and keeps the line and column of each key and value. On top of it this
loader collects every problem of a file at once and maps pydantic error paths such as
``steps/0/tasks/2/kubctl`` to the line and column a participant or instructor has to fix.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from packetwalk.errors import InputError, did_you_mean
from packetwalk.playbook.model import Module, check_problems
from packetwalk.yamlsource import Loc, Positions, Problem, YAMLSyntaxError, build, compose

__all__ = [
    "LoadedModule",
    "Loc",
    "PlaybookError",
    "Positions",
    "Problem",
    "load_module",
    "module_id",
    "parse_yaml",
    "validation_problems",
]

_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}


class PlaybookError(InputError):
    """One or more problems in lab module files; ``str()`` lists them, one per line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0]
        rest = "".join(f"\n{problem}" for problem in self.problems[1:])
        super().__init__(
            first.message + rest, source=first.source, location=f"{first.line}:{first.column}"
        )


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


def parse_yaml(text: str, source: str) -> tuple[object, Positions]:
    """One YAML document as Python values plus positions; problems raise :class:`PlaybookError`."""
    try:
        (node,) = compose(text, source=source, single=True)
    except YAMLSyntaxError as error:
        where = error.problem
        raise PlaybookError(
            [Problem(source, where.line, where.column, f"YAML syntax error: {where.message}")]
        ) from error
    if node is None:
        raise PlaybookError([Problem(source, 1, 1, "the file is empty")])
    data, positions, problems = build(node, source=source)
    if problems:
        raise PlaybookError(problems)
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
        text = f"unknown key {key!r}" + did_you_mean(str(key), valid, sep=", ")
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
