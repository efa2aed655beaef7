"""The exception hierarchy. The compiled core raises these classes (it imports them from here)."""

from __future__ import annotations


class MboError(Exception):
    """Base class of every error mbo-fast raises on purpose."""


class DecodeError(MboError, ValueError):
    """The input is not a readable DBN MBO stream: corrupt, truncated, or another schema.

    `offset` is the byte offset in the (decompressed) DBN stream where decoding failed,
    when it is known.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


class SchemaError(DecodeError):
    """A valid DBN stream whose schema is not MBO."""


class SourceError(MboError, OSError):
    """The source could not be opened or read (missing file, permission, I/O error)."""


class OutOfMemoryError(MboError, MemoryError):
    """An allocation failed: the output asked for (or a buffer the input claims to need) is
    larger than the memory the process can get. Raised instead of aborting the process; the
    partial output is dropped and the interpreter keeps running.

    `requested` is the size in bytes of the allocation that failed.
    """

    def __init__(self, message: str, requested: int | None = None) -> None:
        super().__init__(message)
        self.requested = requested


class StoreError(MboError):
    """The database holding stored blocks failed: unreachable, locked, closed or corrupt."""
