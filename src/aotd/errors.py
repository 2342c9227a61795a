"""User-facing errors.

Anything a user can fix (a missing file, a malformed row, a bad flag) raises an
``AotdError`` whose message is one line naming what is wrong and how to fix it. The CLI
prints it and exits with status 2; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class AotdError(Exception):
    """An error caused by the user's input, reported without a traceback."""


class DataError(AotdError):
    """Malformed or missing dataset input: names the file, the record and the field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        record: str | int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.path, self.record, self.field, self.fix = path, record, field, fix
        where = []
        if path is not None:
            where.append(str(path))
        if record is not None:
            where.append(f"record {record}")
        if field is not None:
            where.append(f"field '{field}'")
        text = (": ".join([", ".join(where), message]) if where else message)
        if fix:
            text += f" ({fix})"
        super().__init__(text)


class VideoError(AotdError):
    """A video that is missing, empty or cannot be decoded."""
