"""Domain errors. Every error the user can cause is a KBError with a clear message."""

from __future__ import annotations


class KBError(Exception):
    """Base class of every error policy-kb raises on purpose."""

    http_status = 500

    def __str__(self) -> str:
        return self.args[0] if self.args else self.__class__.__name__


class ConfigError(KBError):
    """A setting has an invalid value or a required resource is missing."""

    http_status = 500


class ParseError(KBError):
    """A source file could not be parsed; names the file and, where known, line and field."""

    http_status = 400

    def __init__(
        self,
        path: str,
        reason: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        self.field = field
        super().__init__(self.location + ": " + reason)

    def __reduce__(self):
        # Rebuilt from its fields (a parser in a child process sends these back).
        return _parse_error, (self.path, self.reason, self.line, self.field)

    @property
    def location(self) -> str:
        """`file[:line][ (field)]`, the place the error points at."""
        loc = self.path
        if self.line is not None:
            loc += f":{self.line}"
        if self.field:
            loc += f" (field {self.field!r})"
        return loc


class IndexNotBuiltError(KBError):
    """No index generation exists in the data directory yet."""

    http_status = 503


class IndexMismatchError(KBError):
    """The index on disk was built with settings incompatible with the current ones."""

    http_status = 500


class IngestLockedError(KBError):
    """Another ingest holds the data directory's lock."""

    http_status = 409


class StorageError(KBError):
    """A folder policy-kb must write to is read-only or full; the message names it and the fix."""

    http_status = 503


class NotFoundError(KBError):
    """A document, version, passage or ruling does not exist (or is not visible)."""

    http_status = 404


class QueryError(KBError):
    """A search request is invalid (unknown filter, bad date, k out of range...)."""

    http_status = 400


class AuthError(KBError):
    """Not signed in, or the credentials are wrong."""

    http_status = 401


class ForbiddenError(KBError):
    """Signed in, but the role does not allow this action."""

    http_status = 403


class ConflictError(KBError):
    """The thing to create already exists."""

    http_status = 409


def _parse_error(path: str, reason: str, line: int | None, field: str | None) -> ParseError:
    return ParseError(path, reason, line=line, field=field)
