"""Learned intents written out: ClientIntents ``k8s.otterize.com/v2beta1`` as
``otterize network-mapper export`` writes them (multi-document YAML, one per client workload,
``metadata.name`` = the workload, in the client's namespace, ``spec.workload.kind`` = its root
owner's kind, ``name.namespace`` across namespaces), with an evidence comment above each target;
JSON (a list of the same objects, as ``export --format json``); or a plain table.

What is not an intent (attempted, unattributed and dropped connections) is written as comments
at the end of the YAML, under separate keys in JSON, and below the table.
"""

from __future__ import annotations

import json
import re
from typing import Any

from packetwalk.intents.model import GROUP
from packetwalk.mapper.learn import LearnedIntents, LearnedTarget, MapResult

API_VERSION = f"{GROUP}/v2beta1"
_PLAIN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.\-/]*[A-Za-z0-9])?$")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}


def target_object(target: LearnedTarget, client_namespace: str) -> dict[str, Any]:
    if target.kind == "internet":
        return {"internet": {"ips": [target.cidr], "ports": sorted(target.ports)}}
    body: dict[str, Any] = {"name": target.name_for(client_namespace)}
    if target.kind == "kubernetes" and target.workload_kind:
        body["kind"] = target.workload_kind
    return {target.kind: body}


def intents_object(intents: LearnedIntents) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ClientIntents",
        "metadata": {"name": intents.workload, "namespace": intents.namespace},
        "spec": {
            "workload": {"name": intents.workload, "kind": intents.workload_kind},
            "targets": [target_object(t, intents.namespace) for t in intents.sorted_targets()],
        },
    }


def _number(text: str) -> bool:
    try:
        float(text.replace("_", ""))
    except ValueError:
        return text.count(".") == 2 and text.replace(".", "").isdigit()  # 1.2.3: a version
    return True


def _scalar(value: object) -> str:
    if (
        isinstance(value, str)
        and _PLAIN.match(value)
        and value.lower() not in _RESERVED
        and not _number(value)
    ):
        return value
    return json.dumps(value)


def _flow(body: dict[str, Any]) -> str:
    parts = []
    for key, value in body.items():
        if isinstance(value, list):
            text = "[" + ", ".join(_scalar(v) for v in value) + "]"
        else:
            text = _scalar(value)
        parts.append(f"{key}: {text}")
    return "{" + ", ".join(parts) + "}"


def _notes(result: MapResult) -> list[str]:
    lines: list[str] = []
    for title, entries in (
        ("attempted (no reply seen: not intents)", result.attempted),
        ("unattributed (never guessed)", result.unattributed),
        ("dropped", [f"{why}: {n}" for why, n in sorted(result.dropped.items())]),
    ):
        if entries:
            lines.append(f"# {title}:")
            lines.extend(f"#   {entry}" for entry in entries)
    return lines


def render_yaml(result: MapResult, *, header: str = "") -> str:
    """Multi-document YAML with evidence comments; reads back with the ClientIntents parser."""
    docs: list[str] = []
    for intents in result.intents:
        obj = intents_object(intents)
        lines = [
            f"apiVersion: {API_VERSION}",
            "kind: ClientIntents",
            "metadata:",
            f"  name: {_scalar(intents.workload)}",
            f"  namespace: {_scalar(intents.namespace)}",
            "spec:",
            "  workload:",
            f"    name: {_scalar(intents.workload)}",
            f"    kind: {_scalar(intents.workload_kind)}",
            "  targets:",
        ]
        for target, entry in zip(intents.sorted_targets(), obj["spec"]["targets"], strict=True):
            ((key, body),) = entry.items()
            lines.append(f"    # {target.evidence.comment()}")
            lines.append(f"    - {key}: {_flow(body)}")
        docs.append("\n".join(lines) + "\n")
    head = [f"# {line}" for line in header.splitlines()] if header else []
    if not docs:
        head.append("# no intents learned")
    text = ("\n".join(head) + "\n" if head else "") + "---\n".join(docs)
    notes = _notes(result)
    if notes:
        text += "\n".join(notes) + "\n"
    return text


def render_json(result: MapResult) -> str:
    data = {
        "intents": [intents_object(i) for i in result.intents],
        "evidence": {
            f"{i.namespace}/{i.workload}": {
                t.describe(i.namespace): t.evidence.comment() for t in i.sorted_targets()
            }
            for i in result.intents
        },
        "attempted": result.attempted,
        "unattributed": result.unattributed,
        "dropped": dict(sorted(result.dropped.items())),
    }
    return json.dumps(data, indent=2) + "\n"


def table_rows(result: MapResult) -> list[tuple[str, str, str]]:
    return [
        (
            f"{i.namespace}/{i.workload} ({i.workload_kind})",
            t.describe(i.namespace),
            t.evidence.comment(),
        )
        for i in result.intents
        for t in i.sorted_targets()
    ]


def render_table(result: MapResult) -> str:
    rows = [("CLIENT", "TARGET", "EVIDENCE"), *table_rows(result)]
    widths = [max(len(r[c]) for r in rows) for c in range(2)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}".rstrip() for r in rows]
    lines.extend(line.lstrip("# ") for line in _notes(result))
    return "\n".join(lines) + "\n"
