"""Kubernetes label selectors (``matchLabels`` + ``matchExpressions``), parsed once, matched often.

All requirements of one selector are ANDed; the empty selector ``{}`` matches everything. A
selector that is *absent* is not a selector at all: callers keep ``None`` for that, because
absent and empty mean different things in a NetworkPolicy peer (docs/design/netpol-semantics.md
rule 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class SelectorError(ValueError):
    """A selector the API server would reject; the message names the part."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return labels.get(self.key) not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels

    def text(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        values = ",".join(sorted(self.values))
        if self.operator == "In" and len(self.values) == 1:
            return f"{self.key}={values}"
        if self.operator == "NotIn" and len(self.values) == 1:
            return f"{self.key}!={values}"
        return f"{self.key} {self.operator.lower()} ({values})"


@dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(req.matches(labels) for req in self.requirements)

    def failing(self, labels: Mapping[str, str]) -> list[Requirement]:
        """The requirements the labels do not meet (for ``--explain``)."""
        return [req for req in self.requirements if not req.matches(labels)]

    def text(self) -> str:
        """kubectl's ``-l`` syntax; ``{}`` (all) for the empty selector."""
        if not self.requirements:
            return "{}"
        return ",".join(req.text() for req in self.requirements)


EVERYTHING = Selector()


def parse_selector(raw: object) -> Selector:
    """Build a selector from its manifest form; ``SelectorError`` names the bad part."""
    if raw is None:
        return EVERYTHING
    if not isinstance(raw, Mapping):
        raise SelectorError("must be a mapping with matchLabels and/or matchExpressions")
    unknown = set(raw) - {"matchLabels", "matchExpressions"}
    if unknown:
        raise SelectorError(
            f"unknown field {sorted(unknown)[0]!r} (valid: matchLabels, matchExpressions)"
        )
    reqs: list[Requirement] = []
    match_labels = raw.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError("matchLabels must be a mapping of label keys to values")
    for key, value in match_labels.items():
        if not isinstance(key, str) or not key:
            raise SelectorError(f"matchLabels: invalid label key {key!r}")
        if not isinstance(value, str):
            raise SelectorError(f"matchLabels.{key}: value must be a string, got {value!r}")
        reqs.append(Requirement(key, "In", frozenset([value])))
    expressions = raw.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise SelectorError("matchExpressions must be a list")
    for index, expr in enumerate(expressions):
        where = f"matchExpressions[{index}]"
        if not isinstance(expr, Mapping):
            raise SelectorError(f"{where} must be a mapping with key, operator, values")
        key = expr.get("key")
        operator = expr.get("operator")
        values = expr.get("values") or []
        if not isinstance(key, str) or not key:
            raise SelectorError(f"{where}.key must be a non-empty string")
        if operator not in OPERATORS:
            raise SelectorError(
                f"{where}.operator {operator!r} is not valid (valid: {', '.join(OPERATORS)})"
            )
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SelectorError(f"{where}.values must be a list of strings")
        if operator in ("In", "NotIn") and not values:
            raise SelectorError(f"{where}.values must not be empty for operator {operator}")
        if operator in ("Exists", "DoesNotExist") and values:
            raise SelectorError(f"{where}.values must be empty for operator {operator}")
        reqs.append(Requirement(key, str(operator), frozenset(values)))
    return Selector(tuple(reqs))


def labels_text(labels: Mapping[str, str]) -> str:
    if not labels:
        return "(no labels)"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
