"""labs/schema.json is generated from the model and accepts the project's modules."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from packetwalk.playbook.catalog import LABS_DIR, module_paths
from packetwalk.playbook.loader import parse_yaml
from packetwalk.playbook.schema import schema_text

SCHEMA = LABS_DIR / "schema.json"
DATA = Path(__file__).parent / "data" / "playbooks"


def test_schema_file_is_up_to_date() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == schema_text(), (
        "labs/schema.json is stale: .venv/bin/python -m packetwalk.playbook.schema"
        " > labs/schema.json"
    )


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_modules_satisfy_the_schema() -> None:
    check = validator()
    for path in [*module_paths(), DATA / "01-tour.yaml"]:
        data, _ = parse_yaml(path.read_text(encoding="utf-8"), str(path))
        assert [e.message for e in check.iter_errors(data)] == [], path


def test_schema_rejects_typos_and_yaml11_booleans() -> None:
    check = validator()
    bad = {
        "title": "t",
        "summary": "s",
        "steps": [
            {"name": "n", "tasks": [{"kubctl": ["get"]}, {"shell": "x", "ignore_errors": "yes"}]}
        ],
    }
    messages = sorted(e.message for e in check.iter_errors(bad))
    assert any("'kubctl' was unexpected" in m for m in messages), messages
    assert any("'yes' is not of type 'boolean'" in m for m in messages), messages
