"""Sandboxed, strict Jinja2 for playbooks; Unknown placeholders for cluster-only values."""

from __future__ import annotations

import pytest

from packetwalk.playbook import templating
from packetwalk.playbook.templating import TemplateError, Unknown, UnknownValueError


def test_strict_undefined_names_fail() -> None:
    with pytest.raises(TemplateError, match="'dst' is undefined"):
        templating.render_string("ping {{ dst }}", {})
    with pytest.raises(TemplateError, match="'dst' is undefined"):
        templating.render_string("{{ dst }}", {})
    with pytest.raises(TemplateError, match="no element 3"):
        templating.render_string("{{ workers[3] }}", {"workers": ["a"]})


def test_sandbox_blocks_python_internals() -> None:
    for text in ("{{ ''.__class__ }}", "{{ x.__class__.__mro__ }}", "a {{ x.__init__ }} b"):
        with pytest.raises(TemplateError, match="unsafe"):
            templating.render_string(text, {"x": object()})
    with pytest.raises(TemplateError, match="unsafe"):
        templating.evaluate("x.__class__", {"x": 1})


def test_whole_expressions_keep_their_type_and_text_stays_text() -> None:
    context = {"ports": [80, 443], "n": 3, "name": "vote"}
    assert templating.render_string("{{ ports }}", context) == [80, 443]
    assert templating.render_string(" {{ n + 1 }} ", context) == 4
    assert templating.render_string("{{ name }}", context) == "vote"
    assert templating.render_string("port {{ ports[0] }}", context) == "port 80"
    assert templating.render_string("no template", context) == "no template"


def test_render_walks_structures_and_skips_expressions() -> None:
    data = {"kubectl": ["get", "{{ r }}"], "when": "{{ r }}", "n": 1}
    assert templating.render(data, {"r": "pods"}, skip=frozenset({"when"})) == {
        "kubectl": ["get", "pods"],
        "when": "{{ r }}",
        "n": 1,
    }


def test_expressions() -> None:
    assert templating.truth("cni != 'cilium'", {"cni": "kindnet"})
    assert not templating.truth("x.rc == 0", {"x": {"rc": 1}})
    with pytest.raises(TemplateError, match="undefined"):
        templating.truth("cnii == 'x'", {"cni": "a"})
    with pytest.raises(TemplateError, match="not a valid expression"):
        templating.expression_names("cni = 'x'")
    assert templating.expression_names("a.b == c and d is defined") == {"a", "c", "d"}
    assert templating.template_names("{{ a }} {% if b %}{{ c.d }}{% endif %}") == {"a", "b", "c"}


def test_unknown_prints_as_its_template_and_refuses_decisions() -> None:
    pods = Unknown("pods")
    assert str(pods.json["items"][0].metadata.name) == "{{ pods.json['items'][0].metadata.name }}"
    assert templating.render_string("ip {{ x.stdout | trim }}", {"x": Unknown("x")}) == (
        "ip {{ x.stdout }}"
    )
    with pytest.raises(UnknownValueError):
        templating.truth("x.rc == 0", {"x": Unknown("x")})
    with pytest.raises(UnknownValueError):
        templating.render_string("{{ x | int + 1 }}", {"x": Unknown("x")})
