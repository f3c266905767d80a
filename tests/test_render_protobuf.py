"""packetwalk.render.protobuf: the k8s protobuf envelope and Secret/ConfigMap bodies, by hand.

The bytes are built here from the protobuf wire format (varint keys ``number << 3 | wire``,
length-delimited fields) and the field numbers of k8s.io/api's generated.proto, so the decoder is
checked against the format, not against itself.
"""

from __future__ import annotations

import base64
import re

import pytest

from packetwalk.render import protobuf

# --- a hand encoder, following https://protobuf.dev/programming-guides/encoding/ -------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def number_field(number: int, value: int) -> bytes:
    return varint(number << 3 | 0) + varint(value)


def bytes_field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def text_field(number: int, text: str) -> bytes:
    return bytes_field(number, text.encode())


def map_entry(number: int, key: str, value: bytes) -> bytes:
    """A map<string, T> entry: a nested message with key = 1, value = 2."""
    return bytes_field(number, text_field(1, key) + bytes_field(2, value))


def envelope(kind: str, raw: bytes, api_version: str = "v1") -> bytes:
    """``k8s\\x00`` + runtime.Unknown{typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2}."""
    type_meta = text_field(1, api_version) + text_field(2, kind)
    return b"k8s\x00" + bytes_field(1, type_meta) + bytes_field(2, raw)


def object_meta(
    name: str, namespace: str, labels: dict[str, str], annotations: dict[str, str] | None = None
) -> bytes:
    """ObjectMeta: name 1, namespace 3, uid 5, resourceVersion 6, labels 11, annotations 12."""
    data = text_field(1, name) + text_field(3, namespace)
    for key, value in labels.items():
        data += map_entry(11, key, value.encode())
    for key, value in (annotations or {}).items():
        data += map_entry(12, key, value.encode())
    return data


# --- the wire format itself ------------------------------------------------------------------


def test_fields_reads_the_documented_example() -> None:
    # The protobuf docs' example: field 1 = 150 is 08 96 01; "testing" in field 2 is 12 07 ...
    data = bytes.fromhex("089601") + bytes.fromhex("120774657374696e67")
    assert list(protobuf.fields(data)) == [(1, 150), (2, b"testing")]


def test_fields_skips_fixed_width_fields() -> None:
    data = varint(3 << 3 | 1) + bytes(8) + varint(4 << 3 | 5) + bytes(4) + number_field(5, 1)
    assert list(protobuf.fields(data)) == [(5, 1)]


def test_multi_byte_lengths_and_large_varints() -> None:
    payload = bytes(range(256)) * 2  # 512 bytes: a two-byte length
    assert varint(len(payload)) == b"\x80\x04"
    assert list(protobuf.fields(bytes_field(7, payload) + number_field(8, 2**63))) == [
        (7, payload),
        (8, 2**63),
    ]


# --- Secrets and ConfigMaps in the envelope --------------------------------------------------


def test_helm_release_secret_decodes_to_its_json_form() -> None:
    release = b"\x1f\x8b\x08\x00 not utf-8 \xff"  # Secret data is bytes, JSON carries base64
    raw = (
        bytes_field(
            1,
            object_meta(
                "sh.helm.release.v1.web.v1",
                "apps",
                {"owner": "helm", "name": "web"},
                {"note": "kept"},
            ),
        )
        + map_entry(2, "release", release)
        + text_field(3, "helm.sh/release.v1")
        + number_field(5, 1)
        + number_field(99, 7)
    )  # a field the decoder does not know is skipped
    assert protobuf.decode_object(envelope("Secret", raw)) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "sh.helm.release.v1.web.v1",
            "namespace": "apps",
            "labels": {"owner": "helm", "name": "web"},
            "annotations": {"note": "kept"},
        },
        "data": {"release": base64.b64encode(release).decode()},
        "type": "helm.sh/release.v1",
        "immutable": True,
    }


def test_object_meta_uid_resource_version_and_finalizers() -> None:
    data = (
        text_field(1, "n")
        + text_field(2, "n-")
        + text_field(5, "uid-1")
        + text_field(6, "42")
        + number_field(7, 3)
        + text_field(14, "a")
        + text_field(14, "b")
    )
    assert protobuf.object_meta(data) == {
        "name": "n",
        "generateName": "n-",
        "uid": "uid-1",
        "resourceVersion": "42",
        "finalizers": ["a", "b"],
    }


def test_secret_string_data_joins_data_as_the_api_server_does() -> None:
    raw = (
        bytes_field(1, object_meta("s", "default", {}))
        + map_entry(2, "a", b"old")
        + map_entry(2, "b", b"kept")
        + map_entry(4, "a", b"new")
    )
    decoded = protobuf.decode_object(envelope("Secret", raw))
    assert decoded["data"] == {
        "a": base64.b64encode(b"new").decode(),
        "b": base64.b64encode(b"kept").decode(),
    }
    assert "stringData" not in decoded


def test_config_map_data_is_text_binary_data_base64() -> None:
    raw = (
        bytes_field(1, object_meta("sh.helm.release.v1.web.v1", "apps", {"owner": "helm"}))
        + map_entry(2, "release", b"H4sIAAAA")
        + map_entry(3, "blob", b"\x00\x01")
        + number_field(4, 1)
    )
    assert protobuf.decode_object(envelope("ConfigMap", raw)) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "sh.helm.release.v1.web.v1",
            "namespace": "apps",
            "labels": {"owner": "helm"},
        },
        "data": {"release": "H4sIAAAA"},
        "binaryData": {"blob": "AAE="},
        "immutable": True,
    }


# --- malformed input: a ProtobufError that says what is wrong --------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"kind": "Secret"}', "no k8s protobuf magic"),
        (b"k8s\x00" + b"\x0a\x80", "truncated varint at byte 1"),
        (b"k8s\x00" + b"\x0a\x05ab", "field 1 at byte 0 is truncated: 5 bytes announced, 2 left"),
        (b"k8s\x00" + b"\x0b", "unsupported wire type 3 (field 1 at byte 0)"),
        (b"k8s\x00" + b"\x08" + b"\xff" * 11, "longer than 10 bytes"),
        (b"k8s\x00" + varint(1 << 3 | 1) + bytes(3), "field 1 at byte 0 is truncated"),
        (b"k8s\x00" + b"\x00\x01", "field number 0"),
        (envelope("Pod", b""), "Secrets and ConfigMaps only, not Pod"),
        (b"k8s\x00" + bytes_field(2, b""), "not an untyped body"),
        (envelope("Secret", bytes_field(1, bytes_field(1, b"\xff\xfe"))), "not UTF-8"),
        (envelope("Secret", number_field(3, 1)), "expected a string field, found a varint"),
        (envelope("ConfigMap", bytes_field(4, b"x")), "expected a bool field"),
    ],
)
def test_malformed_bodies_raise_a_clear_protobuf_error(body: bytes, message: str) -> None:
    with pytest.raises(protobuf.ProtobufError, match=re.escape(message)):
        protobuf.decode_object(body)
