"""Jinja2 for playbooks, the Ansible way: strings templated after parsing, sandboxed, strict.

Participants edit modules, so templates run in a :class:`~jinja2.sandbox.SandboxedEnvironment`
(no ``__class__`` walks to Python internals) and undefined names fail (``'dst' is undefined``)
instead of rendering as empty strings. A value that is one whole ``{{ expr }}`` keeps its Python
type (a list stays a list, an int an int) through a sandboxed native environment, as in Ansible.

:class:`Unknown` stands for a value only a live cluster knows (a registered result, a pod IP):
``--dry-run`` and ``lab-validate`` render with it, and it prints as the template it came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.nativetypes import NativeEnvironment
from jinja2.sandbox import SandboxedEnvironment

from packetwalk.errors import PacketwalkError

_MARK = re.compile(r"\{\{|\{%|\{#")
_WHOLE = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.DOTALL)


class TemplateError(PacketwalkError):
    """A template or expression that does not parse or does not render."""


class UnknownValueError(PacketwalkError):
    """A decision needed a value only the cluster knows (raised by :class:`Unknown`)."""


class _SandboxedNativeEnvironment(SandboxedEnvironment, NativeEnvironment):
    """Sandboxed attribute/call checks with native (type-keeping) rendering."""


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


_ENV = _environment()
_NATIVE = _SandboxedNativeEnvironment(undefined=jinja2.StrictUndefined)


def has_template(text: str) -> bool:
    return _MARK.search(text) is not None


def _whole_expression(text: str) -> bool:
    match = _WHOLE.match(text)
    return match is not None and not _MARK.search(match.group("expr"))


def render_string(text: str, context: Mapping[str, Any]) -> Any:
    """Render one string: native for a whole ``{{ expr }}``, else text."""
    if not has_template(text):
        return text
    try:
        if _whole_expression(text):
            value = _NATIVE.from_string(text.strip()).render(context)
            if isinstance(value, jinja2.Undefined):
                str(value)  # raises the UndefinedError with its name
            return value
        return _ENV.from_string(text).render(context)
    except UnknownValueError:
        raise
    except jinja2.TemplateError as error:
        raise TemplateError(_describe(error, text)) from error
    except (TypeError, ValueError, ArithmeticError, LookupError) as error:
        raise TemplateError(f"{text!r}: {error}") from error


def render(value: Any, context: Mapping[str, Any], *, skip: frozenset[str] = frozenset()) -> Any:
    """Render every string inside ``value`` (dicts, lists); keys in ``skip`` stay as they are."""
    if isinstance(value, str):
        return render_string(value, context)
    if isinstance(value, Mapping):
        return {
            key: item if key in skip else render(item, context, skip=skip)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [render(item, context, skip=skip) for item in value]
    return value


def render_file_text(text: str, context: Mapping[str, Any], source: str) -> str:
    """A whole file rendered as text (a manifest): errors name ``source`` and the line."""
    try:
        return _ENV.from_string(text).render(context)
    except UnknownValueError:
        raise
    except jinja2.TemplateError as error:
        line = getattr(error, "lineno", None) or _template_line(error)
        where = f"{source}:{line}" if line else source
        raise TemplateError(f"{where}: {error.message or type(error).__name__}") from error
    except (TypeError, ValueError, ArithmeticError, LookupError) as error:
        raise TemplateError(f"{source}: {error}") from error


def _template_line(error: BaseException) -> int | None:
    """The template line a render error happened on: Jinja rewrites the traceback so that the
    template's frames carry its file name (``<template>``) and line numbers."""
    line = None
    trace = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def file_template_names(text: str, source: str) -> set[str]:
    """Names a file template reads; a syntax error names ``source`` and the line."""
    try:
        return set(meta.find_undeclared_variables(_ENV.parse(text)))
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(f"{source}:{error.lineno}: {error.message}") from error


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """The value of a Jinja expression (``cni != 'cilium'``, ``pods.rc == 0``)."""
    try:
        compiled = _ENV.compile_expression(expression, undefined_to_none=False)
        value = compiled(**context)
        if isinstance(value, jinja2.Undefined):
            str(value)
        return value
    except UnknownValueError:
        raise
    except jinja2.TemplateError as error:
        raise TemplateError(_describe(error, expression)) from error
    except (TypeError, ValueError, ArithmeticError, LookupError) as error:
        raise TemplateError(f"{expression!r}: {error}") from error


def truth(expression: str, context: Mapping[str, Any]) -> bool:
    return bool(evaluate(expression, context))


def template_names(text: str) -> set[str]:
    """Names a template reads from its context (syntax errors raise :class:`TemplateError`)."""
    if not has_template(text):
        return set()
    try:
        return set(meta.find_undeclared_variables(_ENV.parse(text)))
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(_describe(error, text)) from error


def expression_names(expression: str) -> set[str]:
    """Names an expression reads; raises :class:`TemplateError` when it does not parse."""
    try:
        parsed = _ENV.parse("{{ (" + expression + "\n) }}")
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(f"{expression!r} is not a valid expression: {error.message}") from error
    _reject_statements(parsed, expression)
    return set(meta.find_undeclared_variables(parsed))


def _reject_statements(parsed: nodes.Template, expression: str) -> None:
    if len(parsed.body) != 1 or not isinstance(parsed.body[0], nodes.Output):
        raise TemplateError(f"{expression!r} is not a single expression")


def _describe(error: jinja2.TemplateError, text: str) -> str:
    message = error.message or type(error).__name__
    if isinstance(error, jinja2.UndefinedError):
        return f"{message} in {text!r}"
    if isinstance(error, jinja2.exceptions.SecurityError):
        return f"not allowed in a lab template: {message} in {text!r}"
    if isinstance(error, jinja2.TemplateSyntaxError):
        return f"template syntax error: {message} in {text!r}"
    return f"{message} in {text!r}"


class Unknown:
    """A value known only at run time; attribute and item access build up its name.

    Printing it gives back the template (``{{ pods.stdout }}``); any decision on it (truth,
    comparison in an ``if``, iteration, arithmetic) raises :class:`UnknownValueError`.
    """

    __slots__ = ("_path",)
    _path: str

    def __init__(self, path: str) -> None:
        object.__setattr__(self, "_path", path)

    def __getattr__(self, name: str) -> Unknown:
        if name.startswith("__"):
            raise AttributeError(name)
        return Unknown(f"{self._path}.{name}")

    def __getitem__(self, key: object) -> Unknown:
        return Unknown(f"{self._path}[{key!r}]")

    def __str__(self) -> str:
        return "{{ " + self._path + " }}"

    def __repr__(self) -> str:
        return str(self)

    def __html__(self) -> str:
        return str(self)

    def _decide(self, *_: object) -> Any:
        raise UnknownValueError(f"{self._path} is only known on a running cluster")

    __bool__ = _decide
    __iter__ = _decide
    __len__ = _decide
    __int__ = _decide
    __float__ = _decide
    __contains__ = _decide
    __lt__ = __le__ = __gt__ = __ge__ = _decide
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _decide
    __mod__ = __truediv__ = __floordiv__ = _decide

    def __eq__(self, other: object) -> Any:
        return self._decide()

    def __ne__(self, other: object) -> Any:
        return self._decide()

    __hash__ = None  # type: ignore[assignment]


class Unreadable:
    """A cluster value the participant's credentials cannot read (cluster-scoped nodes with a
    namespace-only role): any use in a template fails the task with ``reason``, never renders
    as text a command would then run with."""

    __slots__ = ("_path", "_reason")
    _path: str
    _reason: str

    def __init__(self, path: str, reason: str) -> None:
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_reason", reason)

    def _refuse(self, *_: object) -> Any:
        raise TemplateError(f"{self._path} cannot be read from the cluster: {self._reason}")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._refuse()

    __getitem__ = __str__ = __iter__ = __len__ = __bool__ = __html__ = _refuse

    def __repr__(self) -> str:
        return f"Unreadable({self._path!r})"


def render_lenient(value: Any, context: Mapping[str, Any], *, skip: frozenset[str]) -> Any:
    """Like :func:`render`, but a string that needs a cluster-only value stays as written."""
    if isinstance(value, str):
        try:
            return render_string(value, context)
        except UnknownValueError:
            return value
    if isinstance(value, Mapping):
        return {
            key: item if key in skip else render_lenient(item, context, skip=skip)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [render_lenient(item, context, skip=skip) for item in value]
    return value


def plain(value: Any) -> Any:
    """Unknown placeholders replaced by their template text (so a dry-run task validates)."""
    if isinstance(value, Unknown):
        return str(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value
