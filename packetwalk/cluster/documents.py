"""Kubernetes objects from files and from memory, each with its :class:`Origin`.

Accepts what ``kubectl get -o yaml|json`` and hand-written manifests contain: multi-document YAML,
JSON, single objects, ``v1`` ``List`` / ``PodList`` / ``NamespaceList`` (any ``*List`` with
``items``, whose items get the kind the list names), bare JSON arrays, folders read recursively.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from packetwalk.cluster.model import Origin
from packetwalk.errors import InputError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

Document = tuple[dict[str, Any], Origin]


def manifest_files(path: Path) -> list[Path]:
    """The manifest files under ``path`` (itself if it is a file), in a stable order."""
    if not path.exists():
        raise InputError("no such file or folder", source=str(path))
    if path.is_file():
        return [path]
    files = sorted(
        p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES
    )
    if not files:
        raise InputError(
            "no manifest files here (looked for *.yaml, *.yml, *.json, recursively)",
            source=str(path),
        )
    return files


def read_documents(path: Path) -> list[Document]:
    docs: list[Document] = []
    for file in manifest_files(path):
        docs.extend(_file_documents(file))
    return docs


def _file_documents(file: Path) -> Iterator[Document]:
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read: {err}", source=source) from err
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(text) if text.strip() else None
        except json.JSONDecodeError as err:
            raise InputError(
                f"not valid JSON: {err.msg}", source=source, location=f"line {err.lineno}"
            ) from err
        if data is not None:
            yield from expand(data, Origin(source, 1))
        return
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            if data is not None:
                yield from expand(data, Origin(source, node.start_mark.line + 1))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise InputError(f"not valid YAML: {problem}", source=source, location=where) from err
    finally:
        loader.dispose()


def expand(data: object, origin: Origin) -> Iterator[Document]:
    """Unwrap ``*List`` objects (and bare JSON arrays) into their items."""
    if isinstance(data, list):
        for item in data:
            yield from expand(item, origin)
        return
    if not isinstance(data, dict):
        raise InputError(
            "expected a Kubernetes object (a mapping with kind and metadata)",
            source=origin.source,
            location=origin.location,
        )
    kind = data.get("kind")
    items = data.get("items")
    if isinstance(items, list) and (kind is None or str(kind).endswith("List")):
        item_kind = str(kind)[: -len("List")] if kind and kind != "List" else None
        for item in items:
            if isinstance(item, dict) and item_kind and "kind" not in item:
                item = {**item, "kind": item_kind}
            yield from expand(item, origin)
        return
    yield data, origin


def with_origin(objects: Iterable[Mapping[str, Any]], origin: Origin) -> Iterator[Document]:
    """In-memory objects (the lab's own, ``kubectl get`` items) as documents from ``origin``."""
    for obj in objects:
        if type(obj) is dict and "items" not in obj:
            yield obj, origin  # what expand would yield, without a copy per pod
        else:
            yield from expand(dict(obj), origin)
