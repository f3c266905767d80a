"""The errors packetwalk reports to people: each names where the bad input is and what would work.

Tasks catch :class:`PacketwalkError`, print its message and exit non-zero, so every module raises
these (or a subclass) for problems a user can fix, and lets programming errors propagate.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(value: str, choices: Iterable[str], *, sep: str = "; ") -> str:
    """``; did you mean 'x'?`` naming the closest choice (difflib's ratio), or "" when none is."""
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f"{sep}did you mean {close[0]!r}?" if close else ""


class PacketwalkError(Exception):
    """A problem the user can act on; ``str(error)`` is the whole message."""


class InputError(PacketwalkError):
    """Bad input: a config, playbook, manifest or capture that cannot be used as it is.

    ``source`` is the file (or other origin) and ``location`` the line, key or field inside it.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        location: str | None = None,
        choices: Iterable[str] | None = None,
    ) -> None:
        self.source = source
        self.location = location
        self.choices = tuple(choices) if choices is not None else ()
        self.detail = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = ":".join(part for part in (self.source, self.location) if part)
        text = f"{where}: {self.detail}" if where else self.detail
        if self.choices:
            text += f" (valid: {', '.join(self.choices)})"
        return text
