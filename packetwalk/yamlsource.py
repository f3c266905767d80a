"""YAML documents with the line of every key, read with YAML 1.2 scalars.

People edit the lab's YAML by hand, so errors must point at a line. ``yaml.safe_load`` loses the
lines and follows YAML 1.1, where ``yes``, ``on`` and ``no`` silently become booleans (Pulumi's
own Go YAML reader does not). This module composes the node graph and builds the Python values
itself: plain scalars resolve with the YAML 1.2 core schema, duplicate keys are rejected (a later
key would otherwise silently win) and each key's 1-based line is kept by path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from packetwalk.errors import InputError

Path = tuple[str | int, ...]

_STR_TAG = "tag:yaml.org,2002:str"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_BOOL_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_INT = re.compile(r"^[-+]?[0-9]+$")
_INT_OCT = re.compile(r"^0o[0-7]+$")
_INT_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")


@dataclass(frozen=True)
class Document:
    """One YAML document: its value, its index in the stream and the line of every key."""

    data: object
    index: int
    lines: dict[Path, int] = field(default_factory=dict)
    start_line: int = 1

    def line(self, path: Path) -> int:
        """The line of ``path``, else of its nearest enclosing key, else the document start."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.start_line


_PLAIN_TAG = "tag:packetwalk.dev,2026:plain"


class _Loader(yaml.SafeLoader):
    """Composes only; plain scalars keep a marker tag so that YAML 1.2 rules resolve them."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN_TAG
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


def _scalar(node: yaml.ScalarNode) -> object:
    text = node.value
    if node.tag == _STR_TAG:  # quoted, block or explicitly tagged !!str
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
    if _FLOAT.match(text) and any(ch.isdigit() for ch in text):
        return float(text)
    return text


def _build(node: yaml.Node, path: Path, lines: dict[Path, int], source: str) -> object:
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node)
    if isinstance(node, yaml.SequenceNode):
        items: list[object] = []
        for index, child in enumerate(node.value):
            lines[(*path, index)] = child.start_mark.line + 1
            items.append(_build(child, (*path, index), lines, source))
        return items
    if isinstance(node, yaml.MappingNode):
        mapping: dict[object, object] = {}
        for key_node, value_node in node.value:
            key = _build(key_node, path, {}, source)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | bool | float) and key is not None:
                raise InputError("mapping keys must be plain values", source=source,
                                 location=f"line {line}")
            if key in mapping:
                raise InputError(
                    f"duplicate key {key!r} (the earlier value would be silently dropped)",
                    source=source, location=f"line {line}",
                )
            str_key = key if isinstance(key, str) else str(key)
            lines[(*path, str_key)] = line
            mapping[key] = _build(value_node, (*path, str_key), lines, source)
        return mapping
    raise InputError(f"unsupported YAML node {type(node).__name__}", source=source)


def load_documents(text: str, *, source: str) -> Iterator[Document]:
    """Yield every document of ``text``; empty documents are skipped, syntax errors raise."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise InputError(f"not valid YAML: {problem}", source=source, location=where) from err
    for index, node in enumerate(nodes):
        if node is None:
            continue
        lines: dict[Path, int] = {}
        data = _build(node, (), lines, source)
        if data is None:
            continue
        yield Document(data=data, index=index, lines=lines, start_line=node.start_mark.line + 1)


def load_document(text: str, *, source: str) -> Document:
    """The single document of ``text`` (an empty text gives an empty mapping)."""
    docs = list(load_documents(text, source=source))
    if not docs:
        return Document(data={}, index=0)
    if len(docs) > 1:
        raise InputError(
            f"expected one YAML document, found {len(docs)}", source=source,
            location=f"line {docs[1].start_line}",
        )
    return docs[0]
