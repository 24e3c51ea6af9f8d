"""Exceptions raised at ftcot's boundaries; the CLI prints them without a traceback."""


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
