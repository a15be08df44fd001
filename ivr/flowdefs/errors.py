"""Errors of the flow-definition loader.

    Exception
    └── DefinitionErrors        the dialplan directory does not validate; carries every
                                DefinitionError found (file, line, message), not just the first

``DefinitionError`` itself is a value, not an exception: one finding, printed as
``file:line: message`` with ``file`` relative to the dialplan directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class DefinitionError:
    file: str  # relative to the dialplan directory, e.g. "flows/demo.toml" or "linja.conf"
    line: int  # 1-based
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class DefinitionErrors(Exception):
    """The definitions do not validate; nothing was loaded."""

    def __init__(self, errors: Iterable[DefinitionError]) -> None:
        self.errors: tuple[DefinitionError, ...] = tuple(errors)
        super().__init__("\n".join(str(e) for e in self.errors))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)
