"""Exceptions raised at ftcot's boundaries; the CLI prints them without a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class FtcotError(Exception):
    """Base class: a message a user can act on."""


class SourceError(FtcotError):
    """A pinned public file could not be fetched or failed its checksum."""


class DataError(FtcotError):
    """Bad input data: the message names the file, line and field."""

    def __init__(
        self, message: str, *, path: object = None, line: int | None = None, field: str | None = None
    ):
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path, self.line, self.field = path, line, field


class ConfigError(FtcotError):
    """A bad setting or option value."""


class Incomplete(FtcotError):
    """A stage ended without all of its outputs (samples gave up, a cost limit); a rerun resumes it."""

    def __init__(self, message: str, *, status: str | None = None):
        super().__init__(message)
        self.status = status

    @property
    def exit_code(self) -> int:
        return 3 if self.status == "budget" else 1  # the codes of `ftcot teach`


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the work; what finished is kept. Exits as the shell does: 128 + signal."""

    def __init__(self, signum: int = 2):
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


# --- messages for bad settings (task cards, recipes, config models) ------------------------------


def did_you_mean(key: str, allowed: Iterable[str]) -> str:
    """` Did you mean 'temperature'?` when a valid key is close to a typo; '' otherwise."""
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_key(key: str, allowed: Iterable[str], where: str) -> ConfigError:
    allowed = list(allowed)
    return ConfigError(
        f"{where} has unknown key {key!r}; allowed: {', '.join(allowed)}.{did_you_mean(key, allowed)}"
    )


def explain_invalid(error, where: str = "") -> str:
    """A pydantic ValidationError as one line a user can act on, e.g.
    `r.toml: [[students]][0].epochs: Input should be a valid number (got 'lots')`."""
    parts = []
    for e in error.errors():
        key = ".".join(str(p) for p in e["loc"])
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            parts.append(f"{where or 'settings'}: missing required key {key!r}")
        elif not key:  # a check across several settings
            parts.append(f"{where}: {message}" if where else message)
        else:
            name = f"{where}.{key}" if where.endswith("]") else f"{where}: {key}" if where else key
            parts.append(f"{name}: {message} (got {_short(repr(e['input']))})")
    return "; ".join(parts)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
