"""Reads the one protobuf request body a Helm install sends: its release Secret.

client-go's typed clients (Helm's Secret storage driver is one) send built-in objects as
``application/vnd.kubernetes.protobuf``; everything else Helm writes goes through the dynamic
client as JSON. The wire format (k8s.io/apimachinery/pkg/runtime/serializer/protobuf): the magic
``k8s\\x00``, then a ``runtime.Unknown`` (typeMeta = 1, raw = 2) whose ``raw`` is the object.
Field numbers are those of the generated.proto files of k8s.io/api core/v1 (Secret, ConfigMap)
and k8s.io/apimachinery meta/v1 (ObjectMeta, TypeMeta) at v0.36.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    """A body that is not the protobuf the stand-in can read."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited fields."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated length-delimited field")
            yield number, data[pos:pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a string field")
    return value.decode()


def _entry(value: int | bytes) -> tuple[str, bytes]:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a map entry")
    key, item = "", b""
    for number, part in fields(value):
        if number == 1:
            key = _text(part)
        elif number == 2 and isinstance(part, bytes):
            item = part
    return key, item


_META_STRINGS = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}


def object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for number, value in fields(data):
        if number in _META_STRINGS:
            meta[_META_STRINGS[number]] = _text(value)
        elif number in (11, 12):
            key, item = _entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = item.decode()
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(value))
    return meta


def _secret_or_config_map(kind: str, data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": kind}
    for number, value in fields(data):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = object_meta(value)
        elif number == 2:
            key, item = _entry(value)
            # JSON carries a Secret's bytes as base64 and a ConfigMap's data as text.
            obj.setdefault("data", {})[key] = (base64.b64encode(item).decode()
                                               if kind == "Secret" else item.decode())
        elif number == 3 and kind == "Secret":
            obj["type"] = _text(value)
        elif number == 5 and kind == "Secret":
            obj["immutable"] = bool(value)
    return obj


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded Secret or ConfigMap (what Helm's storage sends)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("no k8s protobuf magic")
    kind, raw = "", b""
    for number, value in fields(body[len(MAGIC):]):
        if number == 1 and isinstance(value, bytes):
            kind = next((_text(v) for n, v in fields(value) if n == 2), "")
        elif number == 2 and isinstance(value, bytes):
            raw = value
    if kind not in ("Secret", "ConfigMap"):
        raise ProtobufError(f"the stand-in reads protobuf Secrets and ConfigMaps only, "
                            f"not {kind or 'an untyped body'}")
    return _secret_or_config_map(kind, raw)
