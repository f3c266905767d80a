"""YAML documents with the position of every key and value, read with YAML 1.2 scalars.

People edit the lab's YAML by hand (stack configs, intents, lab modules), so errors must point at a
line and column. ``yaml.safe_load`` loses positions and follows YAML 1.1, where ``yes``, ``on`` and
``no`` silently become booleans (Pulumi's own Go YAML reader does not). This module composes the
node graph and builds the Python values itself, once for every reader: plain scalars resolve with
the YAML 1.2 core schema (quoted and block scalars stay strings), duplicate keys and merge keys
(``<<``) are problems (a later key would otherwise silently win, a merge would silently copy) and
every value and mapping key keeps its 1-based line and column by path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from packetwalk.errors import InputError

Path = tuple[str | int, ...]
Loc = Path

_STR_TAG = "tag:yaml.org,2002:str"
_BINARY_TAG = "tag:yaml.org,2002:binary"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_TAG = "tag:packetwalk.dev,2026:plain"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_BOOL_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_INT = re.compile(r"^[-+]?[0-9]+$")
_INT_OCT = re.compile(r"^0o[0-7]+$")
_INT_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")  # has a digit


@dataclass(frozen=True)
class Problem:
    """One error in a file, at a 1-based line and column."""

    source: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.message}"


@dataclass
class Positions:
    """Where each value (and each mapping key) of a document starts, by path: (line, column)."""

    source: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def at(self, loc: Path, *, key: bool = False) -> tuple[int, int]:
        """The position of ``loc`` (its key with ``key=True``), else of its nearest parent value."""
        probe = tuple(loc)
        if key and probe in self.keys:
            return self.keys[probe]
        while probe:
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))

    def line(self, path: Path) -> int:
        """The line of ``path``'s key (a list item: the item), else of its nearest enclosing one."""
        probe = tuple(path)
        while probe:
            found = self.keys.get(probe) or self.values.get(probe)
            if found is not None:
                return found[0]
            probe = probe[:-1]
        return self.values.get((), (1, 1))[0]

    def problem(self, loc: Path, message: str, *, key: bool = False) -> Problem:
        line, column = self.at(loc, key=key)
        return Problem(self.source, line, column, message)


@dataclass(frozen=True)
class Document:
    """One YAML document: its value, its index in the stream and the position of every key."""

    data: object
    index: int
    positions: Positions

    @property
    def start_line(self) -> int:
        return self.positions.values.get((), (1, 1))[0]

    @property
    def lines(self) -> dict[Path, int]:
        """The line of every mapping key and list item by path, in document order."""
        return {
            loc: (self.positions.keys.get(loc) or position)[0]
            for loc, position in self.positions.values.items()
            if loc
        }

    def line(self, path: Path) -> int:
        """The line of ``path``, else of its nearest enclosing key, else the document start."""
        return self.positions.line(path)


class YAMLSyntaxError(InputError):
    """Text that is not YAML; ``problem`` holds where the parser gave up and why."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(
            f"not valid YAML: {problem.message}",
            source=problem.source,
            location=f"line {problem.line}",
        )


class _Loader(yaml.SafeLoader):
    """Composes only; plain scalars keep a marker tag so that YAML 1.2 rules resolve them."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN_TAG
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


def compose(text: str, *, source: str, single: bool = False) -> list[yaml.Node | None]:
    """The node graph of every document (``single``: of the only one; more is a syntax error)."""
    try:
        if single:
            return [yaml.compose(text, Loader=_Loader)]
        return list(yaml.compose_all(text, Loader=_Loader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        reason = getattr(err, "problem", None) or str(err)
        raise YAMLSyntaxError(Problem(source, line, column, reason)) from err


def scalar(node: yaml.ScalarNode) -> object:
    """A scalar's value: quoted, block and ``!!str``/``!!binary`` stay text, plain ones YAML 1.2."""
    text = node.value
    if node.style is not None or node.tag in (_STR_TAG, _BINARY_TAG):
        return text
    if _NULL.match(text):
        return None
    if _BOOL_TRUE.match(text):
        return True
    if _BOOL_FALSE.match(text):
        return False
    if _INT.match(text):
        return int(text, 10)
    if _INT_OCT.match(text):
        return int(text[2:], 8)
    if _INT_HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    return text


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _is_merge(node: yaml.Node) -> bool:
    return node.tag == _MERGE_TAG or (node.tag == _PLAIN_TAG and node.value == "<<")


class _Builder:
    """Python values from a node graph; positions recorded, problems collected, not raised."""

    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self.problems: list[Problem] = []

    def fail(self, node: yaml.Node, message: str) -> None:
        line, column = _mark(node)
        self.problems.append(Problem(self.positions.source, line, column, message))

    def build(self, node: yaml.Node, loc: Path) -> object:
        self.positions.values[loc] = _mark(node)
        if isinstance(node, yaml.ScalarNode):
            return scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            result: dict[str, object] = {}
            for key_node, value_node in node.value:
                if _is_merge(key_node):
                    self.fail(key_node, "YAML merge keys (<<) are not supported")
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    self.fail(key_node, "mapping keys must be plain scalars")
                    continue
                key = scalar(key_node)
                name = key if isinstance(key, str) else str(key)
                if name in result:
                    self.fail(
                        key_node,
                        f"duplicate key {name!r} (the earlier value would be silently dropped)",
                    )
                    continue
                self.positions.keys[(*loc, name)] = _mark(key_node)
                result[name] = self.build(value_node, (*loc, name))
            return result
        raise AssertionError(f"unexpected YAML node {node!r}")


def build(node: yaml.Node, *, source: str) -> tuple[object, Positions, list[Problem]]:
    """The value of one composed document, the positions of its parts and every problem found."""
    builder = _Builder(Positions(source))
    data = builder.build(node, ())
    return data, builder.positions, builder.problems


def build_or_fail(node: yaml.Node, *, source: str) -> tuple[object, Positions]:
    """:func:`build` for readers that stop at the first problem: it raises as an InputError."""
    data, positions, problems = build(node, source=source)
    if problems:
        first = problems[0]
        raise InputError(first.message, source=source, location=f"line {first.line}")
    return data, positions


def _document(node: yaml.Node, index: int, source: str) -> Document:
    data, positions = build_or_fail(node, source=source)
    return Document(data=data, index=index, positions=positions)


def load_documents(text: str, *, source: str) -> Iterator[Document]:
    """Yield every document of ``text``; empty documents are skipped, syntax errors raise."""
    for index, node in enumerate(compose(text, source=source)):
        if node is None:
            continue
        document = _document(node, index, source)
        if document.data is not None:
            yield document


def load_document(text: str, *, source: str) -> Document:
    """The single document of ``text`` (an empty text gives an empty mapping)."""
    docs = list(load_documents(text, source=source))
    if not docs:
        return Document(data={}, index=0, positions=Positions(source))
    if len(docs) > 1:
        raise InputError(
            f"expected one YAML document, found {len(docs)}",
            source=source,
            location=f"line {docs[1].start_line}",
        )
    return docs[0]
