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
    result, start = 0, pos
    for shift in range(0, 70, 7):  # a 64-bit varint takes at most 10 bytes
        if pos >= len(data):
            raise ProtobufError(f"truncated varint at byte {start}")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
    raise ProtobufError(f"varint at byte {start} is longer than 10 bytes")


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited fields."""
    pos = 0
    while pos < len(data):
        start = pos
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError(f"field number 0 at byte {start}")
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire in (1, 2, 5):
            if wire == 2:
                length, pos = _varint(data, pos)
            else:  # fixed64, fixed32: skipped, no field the stand-in reads has them
                length = 8 if wire == 1 else 4
            if pos + length > len(data):
                raise ProtobufError(
                    f"field {number} at byte {start} is truncated: "
                    f"{length} bytes announced, {len(data) - pos} left"
                )
            if wire == 2:
                yield number, data[pos : pos + length]
            pos += length
        else:
            raise ProtobufError(f"unsupported wire type {wire} (field {number} at byte {start})")


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a string field, found a varint")
    return _utf8(value)


def _utf8(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError as err:
        raise ProtobufError(f"a string field is not UTF-8: {err}") from err


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
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = _utf8(item)
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(value))
    return meta


def _base64(item: bytes) -> str:
    return base64.b64encode(item).decode()


def _secret(data: bytes) -> dict[str, Any]:
    # Secret: metadata 1, data 2 (map<string, bytes>), type 3, stringData 4, immutable 5.
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret"}
    string_data: dict[str, str] = {}
    for number, value in fields(data):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = object_meta(value)
        elif number == 2:
            key, item = _entry(value)
            obj.setdefault("data", {})[key] = _base64(item)  # JSON carries bytes as base64
        elif number == 3:
            obj["type"] = _text(value)
        elif number == 4:
            key, item = _entry(value)
            string_data[key] = _base64(item)
        elif number == 5:
            obj["immutable"] = _flag(value)
    if string_data:  # the API server merges stringData into data, stringData winning
        obj["data"] = {**obj.get("data", {}), **string_data}
    return obj


def _config_map(data: bytes) -> dict[str, Any]:
    # ConfigMap: metadata 1, data 2 (map<string, string>), binaryData 3, immutable 4.
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap"}
    for number, value in fields(data):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = object_meta(value)
        elif number == 2:
            key, item = _entry(value)
            obj.setdefault("data", {})[key] = _utf8(item)
        elif number == 3:
            key, item = _entry(value)
            obj.setdefault("binaryData", {})[key] = _base64(item)
        elif number == 4:
            obj["immutable"] = _flag(value)
    return obj


def _flag(value: int | bytes) -> bool:
    if not isinstance(value, int):
        raise ProtobufError("expected a bool field, found a length-delimited one")
    return bool(value)


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded Secret or ConfigMap (what Helm's storage sends)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("no k8s protobuf magic")
    kind, raw = "", b""
    for number, value in fields(body[len(MAGIC) :]):
        if number == 1 and isinstance(value, bytes):
            kind = next((_text(v) for n, v in fields(value) if n == 2), "")
        elif number == 2 and isinstance(value, bytes):
            raw = value
    if kind not in ("Secret", "ConfigMap"):
        raise ProtobufError(
            f"the stand-in reads protobuf Secrets and ConfigMaps only, "
            f"not {kind or 'an untyped body'}"
        )
    return _secret(raw) if kind == "Secret" else _config_map(raw)
