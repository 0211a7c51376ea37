"""Exceptions raised by emobench.

Every error that comes from user input names the file, row or field at fault,
so that a user can fix the input without reading the code.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from typing import Any, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    ModelT = TypeVar("ModelT", bound=BaseModel)


class EmobenchError(Exception):
    """Base class of every error emobench raises on purpose."""


class ConfigError(EmobenchError):
    """A config (YAML or keyword arguments) has a bad key or value."""


def format_validation_error(source: str, what: str, exc: "ValidationError") -> str:
    """A pydantic error as ``source: invalid <what>`` and one ``- key.path: message`` line per problem."""
    lines = [f"{source}: invalid {what}"]
    for err in exc.errors():
        where = ".".join(str(x) for x in err["loc"]) or "(top level)"
        lines.append(f"  - {where}: {err['msg']}")
    return "\n".join(lines)


def validate_config(model: "type[ModelT]", data: Any, source: str, what: str) -> "ModelT":
    """``data`` validated as ``model``; anything else is a :class:`ConfigError` naming ``source`` and the bad keys."""
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a {what} must be a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, what, exc)) from None


class ManifestError(EmobenchError):
    """A manifest, or the corpus it was read from, has bad entries.

    ``problems`` lists one human-readable line per offending entry.
    """

    def __init__(self, source: str, problems: list[str], max_listed: int = 20):
        self.source = source
        self.problems = list(problems)
        self.max_listed = max_listed
        shown = self.problems[:max_listed]
        more = len(self.problems) - len(shown)
        lines = [f"{source}: {len(self.problems)} problem(s):"] + [f"  - {p}" for p in shown]
        if more:
            lines.append(f"  ... and {more} more")
        super().__init__("\n".join(lines))

    def __reduce__(self):   # picklable across processes (a worker's error reaches the driver whole)
        return type(self), (self.source, self.problems, self.max_listed)


class AudioError(EmobenchError):
    """An audio file is missing, unreadable, empty or silent."""

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self):   # picklable: raised in a feature-extraction process, re-raised in the driver
        return type(self), (self.path, self.reason)
